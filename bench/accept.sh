#!/usr/bin/env bash
# postern bench - accept throughput, Postfix vs posternd, side by side.
#
#   bench/accept.sh            (both servers must be running: bench/run.sh
#                               starts them, or bench/postfix.sh start and
#                               bench/posternd.sh start)
#
# For each concurrency c in $BENCH_CONC (default "1 10 50 200") and each
# server, $BENCH_RUNS (default 3) runs of
#     smtp-source -A -s c -l 10240 -m N -f from@bench.test -t to@bench.test 127.0.0.1:PORT
# (one message per connection, 10 KiB body, N messages in total spread over c
# parallel sessions; -A: keep going on a rejection so that errors are counted
# instead of aborting).  Servers alternate run by run so that drift in the
# machine's state affects both alike.  Wall time is measured around
# smtp-source; msgs/s = N / wall time; the table shows the median of the runs.
#
# A run counts as valid only when smtp-source exited 0, printed no warning or
# error, and the server really queued N more messages (posternd: SELECT
# count(*) FROM postern.messages before/after; Postfix: files in its hold
# queue before/after).  An invalid run is shown as ERROR in the table and
# explained below it; it is never folded into the median silently.
# Between runs both queues are emptied (TRUNCATE / postsuper -d ALL).
#
# Output: markdown table on stdout, also saved to var/bench/accept-<date>.md
# (raw per-run data in var/bench/accept-<date>.tsv).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONC=${BENCH_CONC:-"1 10 50 200"}
RUNS=${BENCH_RUNS:-3}
SIZE=${BENCH_SIZE:-10240}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}	# seconds; bounds every smtp-source run
# Messages per run, by concurrency (same N for both servers).  Chosen so a
# run takes a few seconds on a small 2-CPU VM and the whole benchmark stays
# well under 10 minutes; override with BENCH_N_<c>=...
n_for() {
    local v="BENCH_N_$1"
    if [ -n "${!v:-}" ]; then echo "${!v}"; return; fi
    case $1 in
        1) echo 1000 ;; 10) echo 3000 ;; 50) echo 4000 ;; *) echo 4000 ;;
    esac
}

SRC=$(smtp_source_bin) || die "smtp-source not found (postfix package)"
"$BENCH_ROOT/bench/postfix.sh" status >/dev/null || die "Postfix bench instance not running (bench/postfix.sh start)"
"$BENCH_ROOT/bench/posternd.sh" status >/dev/null || die "posternd not running (bench/posternd.sh start)"

STAMP=$(date +%Y%m%d-%H%M%S)
TSV="$BENCH_STATE/accept-$STAMP.tsv"
MD="$BENCH_STATE/accept-$STAMP.md"
ERRDIR="$BENCH_STATE/accept-$STAMP.errors"
mkdir -p "$ERRDIR"
printf 'server\tconc\tn\trun\tseconds\tmsgs_per_s\trc\tstderr_lines\tqueued_delta\tload1\tlisten_overflows\tstatus\n' >"$TSV"

queued() {	# server -> messages currently queued by it
    case $1 in
        postfix) "$BENCH_ROOT/bench/postfix.sh" queued ;;
        posternd) "$BENCH_ROOT/bench/posternd.sh" count ;;
    esac
}
flush() {
    case $1 in
        postfix) "$BENCH_ROOT/bench/postfix.sh" flush ;;
        posternd) "$BENCH_ROOT/bench/posternd.sh" flush >/dev/null ;;
    esac
}
# System-wide count of connections dropped because a listen queue was full
# (the client retransmits its SYN after 1 s, 3 s, ...); 0 when unknown.
listen_overflows() {
    awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) k[i] = $i; h = 1 }
                      else for (i = 1; i <= NF; i++) if (k[i] == "ListenOverflows") print $i }' \
        /proc/net/netstat 2>/dev/null | grep . || echo 0
}
port_of() { case $1 in postfix) echo "$POSTFIX_PORT" ;; posternd) echo "$POSTERN_PORT" ;; esac; }

one_run() {	# server conc n run
    local srv=$1 c=$2 n=$3 r=$4 port before after t0 t1 rc=0 err secs rate lines status load ov0 ov1
    port=$(port_of "$srv")
    flush "$srv"
    before=$(queued "$srv")
    err="$ERRDIR/$srv-c$c-run$r.stderr"
    sync	# start every run with no dirty page cache from the previous one
    load=$(cut -d' ' -f1 /proc/loadavg)	# other work on the machine skews results
    ov0=$(listen_overflows)
    t0=$(date +%s%N)
    timeout -k 5 "$RUN_TIMEOUT" "$SRC" -A -s "$c" -l "$SIZE" -m "$n" \
        -f from@bench.test -t to@bench.test "127.0.0.1:$port" >/dev/null 2>"$err" || rc=$?
    t1=$(date +%s%N)
    ov1=$(listen_overflows)
    after=$(queued "$srv")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
    lines=$(grep -c . "$err" || true)
    local problems=()
    if [ "$rc" = 124 ]; then problems+=("timed out after ${RUN_TIMEOUT}s")
    elif [ "$rc" != 0 ]; then problems+=("smtp-source exit $rc"); fi
    [ "$lines" = 0 ] || problems+=("$lines warning/error lines from smtp-source")
    [ $((after - before)) = "$n" ] || problems+=("server queued $((after - before)) of $n")
    if [ ${#problems[@]} = 0 ]; then status=ok
    else status=$(IFS=';'; echo "${problems[*]}" | sed 's/;/; /g'); fi
    [ -s "$err" ] || rm -f "$err"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$c" "$n" "$r" "$secs" "$rate" \
        "$rc" "$lines" "$((after - before))" "$load" "$((ov1 - ov0))" "$status" >>"$TSV"
    say "accept: $srv c=$c n=$n run $r: ${secs}s ${rate} msgs/s load $load listen-overflows $((ov1 - ov0)) [$status]"
}

say "accept: concurrency [$CONC], $RUNS runs each, ${SIZE}-byte bodies; raw data $TSV"
for c in $CONC; do
    n=$(n_for "$c")
    for r in $(seq 1 "$RUNS"); do
        one_run postfix "$c" "$n" "$r"
        one_run posternd "$c" "$n" "$r"
    done
done
flush postfix; flush posternd
rmdir "$ERRDIR" 2>/dev/null || true

python3 "$BENCH_ROOT/bench/report.py" accept "$TSV" >"$MD"
cat "$MD"
say "accept: saved $MD"
