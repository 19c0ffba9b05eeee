#!/usr/bin/env bash
# postern bench - 1,000 idle connections to posternd (must be running:
# bench/posternd.sh start, which also raises max_connections_per_ip to 5000
# and the listener's max_connections to 5000; the defaults, 50 per IP and
# 1000 per listener, would refuse this test's clients).
#
#   bench/idle.sh [COUNT]      default COUNT 1000 ($BENCH_IDLE)
#
# bench/idle.py opens COUNT connections, reads each 220 greeting and leaves
# them idle; posternd's VmRSS/VmHWM/Threads (/proc/PID/status) are read
# before, while they are open and after they are closed, and a new client
# must send a message (smtplib, 250, stored in postern.messages) while they
# are open.  Output: markdown on stdout, saved to var/bench/idle-<date>.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

COUNT=${1:-${BENCH_IDLE:-1000}}
PID=$("$BENCH_ROOT/bench/posternd.sh" status) || die "posternd not running (bench/posternd.sh start)"
STAMP=$(date +%Y%m%d-%H%M%S)
JSON="$BENCH_STATE/idle-$STAMP.json"
MD="$BENCH_STATE/idle-$STAMP.md"

rc=0
timeout -k 5 300 python3 "$BENCH_ROOT/bench/idle.py" --pid "$PID" --port "$POSTERN_PORT" \
    --count "$COUNT" --hold 5 --out "$JSON" \
    --count-cmd "'$BENCH_ROOT/bench/posternd.sh' count" || rc=$?
[ -s "$JSON" ] || die "idle.py wrote no result (exit $rc)"
python3 "$BENCH_ROOT/bench/report.py" idle "$JSON" >"$MD"
if [ "$rc" != 0 ]; then
    printf '\n**idle test FAILED** (idle.py exit %s): see the table above.\n' "$rc" >>"$MD"
fi
kill -0 "$PID" 2>/dev/null || printf '\n**posternd (pid %s) is no longer running!**\n' "$PID" >>"$MD"
cat "$MD"
say "idle: saved $MD"
exit "$rc"
