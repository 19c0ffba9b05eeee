#!/usr/bin/env bash
# scripts/check.sh - `make check`: build (normal and ASan+UBSan), prepare the
# private database, run every suite, and end with one line
#   N passed, N failed
# summing them all.  Exits non-zero on any failure.
#
# Suites:
#   unit         cmocka binaries, built with -fsanitize=address,undefined
#   fuzz         every libFuzzer target over its corpus, then briefly
#   integration  tests/integration/run.py against the sanitizer build of
#                posternd, a real PostgreSQL and real SMTP/TLS clients
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CMOCKA_MESSAGE_OUTPUT=STDOUT
total_pass=0
total_fail=0
LOG=var/check
mkdir -p "$LOG"

add() { total_pass=$((total_pass + $1)); total_fail=$((total_fail + $2)); }

echo "== build"
if ! make -s -j2 all || ! make -s -j2 SANITIZER=address,undefined all; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
if ! scripts/setup.sh; then
	echo "database setup failed"
	echo "0 passed, 1 failed"
	exit 1
fi

echo "== unit (cmocka, ASan+UBSan)"
export ASAN_OPTIONS=abort_on_error=0:halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in build-san/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	out="$LOG/$name.log"
	"$t" >"$out" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	p=${p:-0}; f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed or sanitizer abort: count it as a failure
		f=1
		tail -20 "$out"
	fi
	[ "$f" -gt 0 ] && grep -E '^\[  FAILED  \]|ERROR|runtime error' "$out" | head -20
	echo "$name: $p passed, $f failed"
	add "$p" "$f"
done

echo "== fuzz (libFuzzer, each target over its committed corpus, then ${CHECK_FUZZ_SECONDS:-10} s)"
if make -s -j2 fuzz-build >"$LOG/fuzz-build.log" 2>&1; then
	for f in tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c); t=${t#fuzz_}
		mkdir -p "$LOG/fuzz-$t"
		if build-fuzz/fuzz_"$t" -max_total_time="${CHECK_FUZZ_SECONDS:-10}" \
		    -max_len=4096 -artifact_prefix="$LOG/fuzz-$t/" "$LOG/fuzz-$t" \
		    tests/fuzz/corpus/"$t" >"$LOG/fuzz-$t.log" 2>&1; then
			echo "fuzz $t: 1 passed, 0 failed"; add 1 0
		else
			echo "fuzz $t: 0 passed, 1 failed (see $LOG/fuzz-$t.log)"
			grep -E 'ERROR|SUMMARY' "$LOG/fuzz-$t.log" | head -5
			add 0 1
		fi
	done
else
	tail -20 "$LOG/fuzz-build.log"
	echo "fuzz: build failed"; add 0 1
fi

echo "== integration (real PostgreSQL, TLS, SMTP clients; sanitizer daemon)"
export ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1
out="$LOG/integration.log"
POSTERN_BIN=build-san/posternd python3 tests/integration/run.py 2>&1 | tee "$out"
line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
if [ -z "$line" ]; then
	echo "integration: runner did not finish"
	add 0 1
else
	p=$(echo "$line" | sed 's/^integration: \([0-9]*\) passed.*/\1/')
	f=$(echo "$line" | sed 's/.* \([0-9]*\) failed.*/\1/')
	add "$p" "$f"
fi

echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
