# postern bench - shared helpers, sourced by the bench/*.sh scripts.
# shellcheck shell=bash

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BENCH_STATE="$BENCH_ROOT/var/bench"	# pid files, logs, results (var/ is gitignored)
mkdir -p "$BENCH_STATE"

# Ports: only these, loopback only.
POSTFIX_PORT=4025
POSTERN_PORT=4525
SINK_PORT=4099		# smtp-sink that both servers relay to (bench/relay.sh)
BENCH_DB=postern_bench

say()  { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die()  { say "ERROR: $*"; exit 1; }

# port_listening PORT: something listens on 127.0.0.1:PORT.
port_listening() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1"
}

# wait_for TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds, at most TIMEOUT_S.
wait_for() {
    local t=$(( $1 * 10 )) i=0; shift
    while [ $i -lt $t ]; do
        "$@" && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# psql on the bench database (as role postern) / as superuser.
bench_psql() {
    eval "$("$BENCH_ROOT/scripts/pg.sh" env)"
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -v ON_ERROR_STOP=1 -U postern -d "$BENCH_DB" "$@"
}
bench_psql_super() {
    eval "$("$BENCH_ROOT/scripts/pg.sh" env)"
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres "$@"
}

# Locate smtp-sink, like smtp-source below.
smtp_sink_bin() {
    local b
    for b in "$(command -v smtp-sink 2>/dev/null)" /usr/sbin/smtp-sink \
             /usr/lib/postfix/sbin/smtp-sink /usr/libexec/postfix/smtp-sink; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
    done
    return 1
}

# Locate smtp-source (Debian: /usr/sbin; some builds: /usr/lib/postfix/sbin).
smtp_source_bin() {
    local b
    for b in "$(command -v smtp-source 2>/dev/null)" /usr/sbin/smtp-source \
             /usr/lib/postfix/sbin/smtp-source /usr/libexec/postfix/smtp-source; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
    done
    return 1
}
