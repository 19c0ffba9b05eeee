#!/usr/bin/env bash
# postern bench - everything, run by `make bench` (after `make setup`).
#
#   bench/run.sh
#
# 1. starts a private Postfix instance (bench/postfix.sh, 127.0.0.1:4025) and
#    posternd on a fresh database postern_bench (bench/posternd.sh,
#    127.0.0.1:4525);
# 2. idle connections against the freshly started posternd (bench/idle.sh),
#    first, so that its memory figures are not those of a warmed-up heap;
# 3. accept throughput, Postfix vs posternd (bench/accept.sh);
# 4. stops both servers, then relay throughput end to end, smtp-source ->
#    server -> smtp-sink (bench/relay.sh: restarts both in relay mode and
#    stops them again);
# 5. stops both servers (also on error or Ctrl-C) and prints every table.
# Results: var/bench/ (accept-*.md/tsv, relay-*.md/tsv, idle-*.md/json,
# bench-*.md); logs var/bench/posternd.log and the Postfix instance's maillog
# (deleted on stop).
# Environment knobs: BENCH_CONC, BENCH_RUNS, BENCH_N_<c>, BENCH_IDLE,
# BENCH_RELAY_CONC, BENCH_RELAY_N_<c> (see accept.sh / idle.sh / relay.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$BENCH_ROOT"

[ "$(id -u)" = 0 ] || die "bench/run.sh must run as root (a private Postfix master needs it)"
[ -x build/posternd ] || die "build/posternd missing: run make (make bench does)"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    bench/posternd.sh stop || true
    bench/postfix.sh stop || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$BENCH_STATE/bench-$STAMP.md"
{
    echo "# postern benchmarks $(date '+%Y-%m-%d %H:%M:%S')"
    echo
    echo "- host: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
    echo "- postern: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'); build/posternd $(date -r build/posternd '+%Y-%m-%d %H:%M')"
    echo "- Postfix $(postconf -dh mail_version 2>/dev/null) (private instance, hold queue, default durability and process limits)"
    echo "- PostgreSQL $(psql --version | awk '{print $3}') (private cluster, fsync = on, synchronous_commit = on)"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews the numbers)"
    echo "- disk: $(df -h "$BENCH_ROOT/var" | awk 'NR==2 {print $1}') (same filesystem for the Postfix queue and the PostgreSQL data)"
    echo
} >"$OUT"

scripts/pg.sh start >/dev/null
bench/postfix.sh start
bench/posternd.sh start

say "run: idle connections"
idle_rc=0
bench/idle.sh >"$BENCH_STATE/idle.last" || idle_rc=$?
say "run: accept throughput"
accept_rc=0
bench/accept.sh >"$BENCH_STATE/accept.last" || accept_rc=$?
bench/posternd.sh stop
bench/postfix.sh stop
say "run: relay throughput end to end"
relay_rc=0
bench/relay.sh >"$BENCH_STATE/relay.last" || relay_rc=$?

{
    cat "$BENCH_STATE/accept.last"
    [ "$accept_rc" = 0 ] || echo "**bench/accept.sh failed (exit $accept_rc)**"
    echo
    cat "$BENCH_STATE/relay.last"
    [ "$relay_rc" = 0 ] || echo "**bench/relay.sh failed (exit $relay_rc)**"
    echo
    cat "$BENCH_STATE/idle.last"
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    [ "$idle_rc" = 0 ] || echo "**bench/idle.sh failed (exit $idle_rc)**"
} >>"$OUT"
rm -f "$BENCH_STATE/accept.last" "$BENCH_STATE/relay.last" "$BENCH_STATE/idle.last"

echo
cat "$OUT"
say "run: saved $OUT"
[ "$accept_rc" = 0 ] && [ "$relay_rc" = 0 ] && [ "$idle_rc" = 0 ]
