#!/usr/bin/env bash
# postern bench - relay throughput end to end, Postfix vs posternd.
#
#   bench/relay.sh             (as root; starts and stops its own servers)
#
#   smtp-source -> server under test -> smtp-sink
#
# Both servers relay every message to one smtp-sink on 127.0.0.1:$SINK_PORT:
#   - Postfix: the private instance of bench/postfix.sh in relay mode
#     (BENCH_POSTFIX_RELAYHOST=[127.0.0.1]:$SINK_PORT: relayhost, no hold
#     queue, smtp client, plain SMTP, default process and concurrency limits);
#   - posternd: bench/posternd.sh on a fresh postern_bench, plus two rules:
#     bench_trusted (clients in 127.0.0.0/8 may relay: relay_allow) and
#     bench_to_sink (rcpt_domain relay.test -> relay host 127.0.0.1:$SINK_PORT,
#     relay_tls none); delivery settings stay at the schema defaults (4
#     delivery threads, batches of 50, SMTP sessions reused per route).
# Any bench server already running is stopped first (the accept benchmark
# needs them in another mode); both are stopped again at the end.
#
# For each concurrency c in $BENCH_RELAY_CONC (default "10 50") and each
# server, $BENCH_RUNS (default 3) runs, servers alternating: a fresh
#     smtp-sink -c 127.0.0.1:$SINK_PORT 256   (counts every message it gets)
# then
#     smtp-source -s c -l 10240 -m N -f from@bench.test -t to@relay.test 127.0.0.1:PORT
# End to end time: from the start of smtp-source until the sink's counter
# shows N messages (polled every 20 ms).  The acceptance time (until
# smtp-source exits) is recorded too.  A run is valid only when
# smtp-source exited 0 without warnings, the sink got N messages within
# $BENCH_RUN_TIMEOUT s, and afterwards the server has nothing left (posternd:
# all N recipients delivered; Postfix: empty queue) and the sink no more than
# N.  Queues are emptied between runs.  The table shows medians.
#
# Output: markdown on stdout, also var/bench/relay-<date>.md (raw per-run
# data in var/bench/relay-<date>.tsv).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$BENCH_ROOT"

CONC=${BENCH_RELAY_CONC:-"10 50"}
RUNS=${BENCH_RUNS:-3}
SIZE=${BENCH_SIZE:-10240}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
SETTLE_TIMEOUT=30	# seconds for the server to record its last outcomes
n_for() {
    local v="BENCH_RELAY_N_$1"
    if [ -n "${!v:-}" ]; then echo "${!v}"; return; fi
    case $1 in
        10) echo 1000 ;; *) echo 2000 ;;
    esac
}

[ "$(id -u)" = 0 ] || die "bench/relay.sh must run as root (a private Postfix master needs it)"
SRC=$(smtp_source_bin) || die "smtp-source not found (postfix package)"
SINK=$(smtp_sink_bin) || die "smtp-sink not found (postfix package)"

SINK_PID=""
SINK_OUT="$BENCH_STATE/relay-sink.out"
stop_sink() {
    if [ -n "$SINK_PID" ]; then
        kill "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
        SINK_PID=""
    fi
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_sink
    bench/posternd.sh stop || true
    bench/postfix.sh stop || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- servers in relay mode ----

bench/posternd.sh stop
bench/postfix.sh stop
port_listening "$SINK_PORT" && die "127.0.0.1:$SINK_PORT is already in use"
scripts/pg.sh start >/dev/null
BENCH_POSTFIX_RELAYHOST="[127.0.0.1]:$SINK_PORT" bench/postfix.sh start
BENCH_POSTERN_PAUSED=false bench/posternd.sh start
reloads() { grep -c "config: reloaded" "$BENCH_STATE/posternd.log" || true; }
r0=$(reloads)
bench_psql -o /dev/null <<SQL
BEGIN;
SELECT postern.rule_add('bench_trusted', 'all', NULL, 'bench/relay.sh: loopback clients may relay');
SELECT postern.rule_add_condition('bench_trusted', 'conn_remote_addr', 'in_cidr', '127.0.0.0/8');
SELECT postern.rule_add_relay_allow('bench_trusted');
SELECT postern.rule_add('bench_to_sink', 'all', NULL, 'bench/relay.sh: relay.test goes to smtp-sink');
SELECT postern.rule_add_condition('bench_to_sink', 'rcpt_domain', 'is', 'relay.test');
SELECT postern.rule_add_relay('bench_to_sink', '127.0.0.1', $SINK_PORT, 'none');
COMMIT;
SQL
wait_for 10 bash -c "[ \$(grep -c 'config: reloaded' '$BENCH_STATE/posternd.log') -gt $r0 ]" ||
    die "posternd did not reload the relay rules within 10 s"

# ---- one run ----

sink_count() {	# messages the running sink has counted so far
    [ -s "$SINK_OUT" ] || { echo 0; return; }
    tr '\r' '\n' <"$SINK_OUT" | grep -o 'mesg=[0-9]*' | tail -n 1 | cut -d= -f2 | grep . || echo 0
}
start_sink() {
    : >"$SINK_OUT"
    local user=()
    [ "$(id -u)" = 0 ] && user=(-u nobody)
    "$SINK" "${user[@]}" -c "127.0.0.1:$SINK_PORT" 256 >"$SINK_OUT" 2>&1 </dev/null &
    SINK_PID=$!
    wait_for 10 port_listening "$SINK_PORT" || die "smtp-sink did not listen on 127.0.0.1:$SINK_PORT"
}
port_of() { case $1 in postfix) echo "$POSTFIX_PORT" ;; posternd) echo "$POSTERN_PORT" ;; esac; }
flush() {
    case $1 in
        postfix) bench/postfix.sh flush ;;
        posternd) bench/posternd.sh flush >/dev/null ;;
    esac
}
leftover() {	# server -> messages it has not handed on yet
    case $1 in
        postfix) bench/postfix.sh queued ;;
        posternd) bench_psql -tAc "SELECT count(*) FROM postern.recipients WHERE state <> 'delivered'" ;;
    esac
}
stored() {	# server -> messages it accepted in this run (postfix: unknown)
    case $1 in
        postfix) echo "-" ;;
        posternd) bench_psql -tAc "SELECT count(*) FROM postern.messages" ;;
    esac
}
now_ns() { date +%s%N; }

STAMP=$(date +%Y%m%d-%H%M%S)
TSV="$BENCH_STATE/relay-$STAMP.tsv"
MD="$BENCH_STATE/relay-$STAMP.md"
ERRDIR="$BENCH_STATE/relay-$STAMP.errors"
mkdir -p "$ERRDIR"
printf 'server\tconc\tn\trun\tseconds\tmsgs_per_s\taccept_seconds\tsink_count\tleft\tload1\tstatus\n' >"$TSV"

one_run() {	# server conc n run
    local srv=$1 c=$2 n=$3 r=$4 port t0 t1 t2 rc=0 err lines got left load secs rate acc deadline status
    port=$(port_of "$srv")
    flush "$srv"
    start_sink
    err="$ERRDIR/$srv-c$c-run$r.stderr"
    sync
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(now_ns)
    timeout -k 5 "$RUN_TIMEOUT" "$SRC" -s "$c" -l "$SIZE" -m "$n" \
        -f from@bench.test -t to@relay.test "127.0.0.1:$port" >/dev/null 2>"$err" || rc=$?
    t1=$(now_ns)
    deadline=$(( t0 + RUN_TIMEOUT * 1000000000 ))
    got=$(sink_count)
    while [ "$got" -lt "$n" ] && [ "$(now_ns)" -lt "$deadline" ]; do
        sleep 0.02
        got=$(sink_count)
    done
    t2=$(now_ns)
    # Let the server record its last outcomes, then look for leftovers.
    left=$(leftover "$srv")
    local settle=$(( SETTLE_TIMEOUT * 10 ))
    while [ "$left" != 0 ] && [ "$settle" -gt 0 ]; do
        sleep 0.1; settle=$((settle - 1)); left=$(leftover "$srv")
    done
    got=$(sink_count)
    stop_sink
    secs=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    acc=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
    lines=$(grep -c . "$err" || true)
    local problems=()
    if [ "$rc" = 124 ]; then problems+=("smtp-source timed out after ${RUN_TIMEOUT}s")
    elif [ "$rc" != 0 ]; then problems+=("smtp-source exit $rc"); fi
    [ "$lines" = 0 ] || problems+=("$lines warning/error lines from smtp-source")
    [ "$got" -ge "$n" ] || problems+=("sink received $got of $n")
    [ "$got" -le "$n" ] || problems+=("sink received $got for $n sent (duplicates)")
    [ "$left" = 0 ] || problems+=("$left message(s) left in the server after ${SETTLE_TIMEOUT}s")
    if [ "$srv" = posternd ]; then
        local s; s=$(stored "$srv")
        [ "$s" = "$n" ] || problems+=("posternd stored $s of $n")
    fi
    if [ ${#problems[@]} = 0 ]; then status=ok
    else status=$(IFS=';'; echo "${problems[*]}" | sed 's/;/; /g'); fi
    [ -s "$err" ] || rm -f "$err"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$c" "$n" "$r" "$secs" "$rate" \
        "$acc" "$got" "$left" "$load" "$status" >>"$TSV"
    say "relay: $srv c=$c n=$n run $r: end to end ${secs}s (${rate} msgs/s), accepted in ${acc}s, load $load [$status]"
}

say "relay: concurrency [$CONC], $RUNS runs each, ${SIZE}-byte bodies; raw data $TSV"
for c in $CONC; do
    n=$(n_for "$c")
    for r in $(seq 1 "$RUNS"); do
        one_run postfix "$c" "$n" "$r"
        one_run posternd "$c" "$n" "$r"
    done
done
flush postfix; flush posternd
rmdir "$ERRDIR" 2>/dev/null || true
rm -f "$SINK_OUT"

python3 bench/report.py relay "$TSV" >"$MD"
cat "$MD"
say "relay: saved $MD"
