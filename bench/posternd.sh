#!/usr/bin/env bash
# postern bench - posternd on a throw-away database in the private cluster.
#
#   bench/posternd.sh start    (re)create database postern_bench, start posternd
#   bench/posternd.sh stop     stop posternd (the database is kept for inspection)
#   bench/posternd.sh status   exit 0 when running; prints the pid
#   bench/posternd.sh count    number of rows in postern.messages
#   bench/posternd.sh flush    TRUNCATE the queue tables
#
# The database postern_bench (owner postern) is dropped and created from
# sql/schema.sql plus sql/migrations (scripts/db-load.sh --fresh, when the
# project has it), then configured for the benchmark:
#   - the schema's default listeners (25/587/465) are deleted; the only
#     listener is 127.0.0.1:4525, tls_mode 'none' (plain SMTP, like the
#     Postfix port-25 test), max_connections 5000 (default 1000, which is
#     below the 1,000 idle connections + 1 of bench/idle.sh);
#   - settings.max_connections_per_ip = 5000 (default 50: every benchmark
#     client comes from 127.0.0.1);
#   - settings.delivery_paused = true unless BENCH_POSTERN_PAUSED=false
#     (accept mode: mail is queued and not delivered, as Postfix's
#     hold queue does for its side of the accept benchmark);
#   - domain bench.test with the account to@bench.test (no password; the
#     recipient every benchmark uses).  Everything else stays at the schema
#     defaults (worker_threads, db_connections, fsync/synchronous_commit on).
# posternd runs in the background with a bootstrap file in a temp dir; its
# log (stderr) is var/bench/posternd.log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PIDFILE="$BENCH_STATE/posternd.pid"
DIRFILE="$BENCH_STATE/posternd.dir"
LOG="$BENCH_STATE/posternd.log"
BIN="$BENCH_ROOT/build/posternd"

pid() { [ -s "$PIDFILE" ] && cat "$PIDFILE"; }
# Our posternd is recognised by its command line (the unique temp bootstrap
# path), not by /proc/PID/exe: a concurrent `make` may replace build/posternd
# while the benchmark runs, and the exe link then reads "... (deleted)".
running() {
    local p; p=$(pid) || return 1
    kill -0 "$p" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "-c ${TMPDIR:-/tmp}/postern-bench-posternd\."
}

create_db() {
    "$BENCH_ROOT/scripts/pg.sh" start >/dev/null
    if [ -x "$BENCH_ROOT/scripts/db-load.sh" ]; then
        # The project's loader: fresh database, sql/schema.sql, then every
        # sql/migrations/NNN_*.sql (posternd refuses an outdated schema).
        "$BENCH_ROOT/scripts/db-load.sh" "$BENCH_DB" --fresh >/dev/null
    else
        bench_psql_super -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)"
        bench_psql_super -c "CREATE DATABASE $BENCH_DB OWNER postern ENCODING 'UTF8' TEMPLATE template0"
        eval "$("$BENCH_ROOT/scripts/pg.sh" env)"
        psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "$BENCH_DB" \
            -c "CREATE EXTENSION IF NOT EXISTS pgcrypto"
        bench_psql -f "$BENCH_ROOT/sql/schema.sql" >/dev/null
    fi
    bench_psql -o /dev/null <<SQL
DELETE FROM postern.listeners;
INSERT INTO postern.listeners (name, address, port, tls_mode, max_connections)
    VALUES ('bench', '127.0.0.1', $POSTERN_PORT, 'none', 5000);
UPDATE postern.settings SET max_connections_per_ip = 5000,
    delivery_paused = ${BENCH_POSTERN_PAUSED:-true};
SELECT postern.add_domain('bench.test');
SELECT postern.add_account('to@bench.test');
SQL
}

start() {
    [ -x "$BIN" ] || die "$BIN not built (run make)"
    if running; then say "posternd: already running (pid $(pid))"; return 0; fi
    port_listening "$POSTERN_PORT" && die "127.0.0.1:$POSTERN_PORT is already in use"
    create_db
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/postern-bench-posternd.XXXXXX")
    echo "$d" >"$DIRFILE"
    {
        echo "conninfo = $("$BENCH_ROOT/scripts/pg.sh" conninfo | sed "s/dbname=[^ ]*/dbname=$BENCH_DB/")"
        echo "node = bench"
    } >"$d/bootstrap.conf"
    # 1,000+ connections need file descriptors.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    : >"$LOG"
    setsid "$BIN" -c "$d/bootstrap.conf" >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    if ! wait_for 20 grep -q "posternd ready" "$LOG"; then
        tail -n 20 "$LOG" >&2
        stop
        die "posternd did not print 'posternd ready' within 20 s"
    fi
    wait_for 5 port_listening "$POSTERN_PORT" || die "posternd is not listening on 127.0.0.1:$POSTERN_PORT"
    say "posternd: running, pid $(pid), 127.0.0.1:$POSTERN_PORT, database $BENCH_DB, log $LOG"
}

stop() {
    local p d
    if running; then
        p=$(pid)
        kill -TERM "$p" 2>/dev/null || true
        wait_for 15 bash -c "! kill -0 $p 2>/dev/null" || {
            say "posternd: pid $p ignored SIGTERM for 15 s; SIGKILL"
            kill -KILL "$p" 2>/dev/null || true; }
        say "posternd: stopped"
    fi
    rm -f "$PIDFILE"
    if [ -s "$DIRFILE" ]; then
        d=$(cat "$DIRFILE")
        case "$d" in */postern-bench-posternd.*) rm -rf "$d" ;; esac
        rm -f "$DIRFILE"
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) if running; then pid; else echo "posternd: not running" >&2; exit 3; fi ;;
count) bench_psql -tAc "SELECT count(*) FROM postern.messages" ;;
flush) bench_psql -c "TRUNCATE postern.recipients, postern.bodies, postern.messages" ;;
*) echo "usage: bench/posternd.sh start|stop|status|count|flush" >&2; exit 2 ;;
esac
