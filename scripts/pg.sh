#!/bin/sh
# postern - private PostgreSQL cluster for development and tests.
#
#   scripts/pg.sh start      initialise (first time) and start; idempotent
#   scripts/pg.sh stop       stop (no-op when not running)
#   scripts/pg.sh status     exit 0 when running
#   scripts/pg.sh psql ...   psql on the local database (ON_ERROR_STOP when stdin is not a tty)
#   scripts/pg.sh env        export lines for eval: PGHOST PGPORT PGDATABASE PGUSER
#   scripts/pg.sh conninfo   libpq conninfo string for var/postern.conf
#   scripts/pg.sh reset      stop and delete the cluster
#
# The cluster lives in var/pg (data, run = Unix socket directory, log), listens
# on the Unix socket only (listen_addresses = '') on port $POSTERN_PGPORT
# (default 5499).  It never touches a system cluster: every pg_ctl call names
# our own data directory explicitly.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PORT=${POSTERN_PGPORT:-5499}
PGDIR="$ROOT/var/pg"

# var/pg may be a symlink (see prepare_dirs); the server tools get the
# resolved path, which the postgres user can reach.
set_paths() {
    real=$(readlink -f "$PGDIR" 2>/dev/null || echo "$PGDIR")
    DATA="$real/data"
    RUN="$real/run"
    LOGDIR="$real/log"
    LOG="$LOGDIR/postgresql.log"
}
set_paths

die() { echo "pg.sh: $*" >&2; exit 1; }

bindir() {
    b=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$b" ] && [ -x "$b/initdb" ]; then echo "$b"; return; fi
    # shellcheck disable=SC2012
    for b in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$b/initdb" ]; then echo "$b"; return; fi
    done
    die "PostgreSQL server binaries (initdb) not found; run scripts/deps.sh"
}
BIN=$(bindir)

# initdb refuses to run as root: as root, run server tools as the postgres user.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
    AS="runuser -u postgres --"
else
    AS=""
fi

# Run a server tool, as postgres when we are root, from / so that it does
# not complain about a working directory it cannot enter.
as_pg() {
    ( cd / && $AS "$@" )
}

# As root, the postgres user must be able to reach var/pg.  When it cannot
# traverse the repository (for example a checkout under /root), the cluster
# lives under /var/tmp/postern-pg-<hash of repo path>/ and var/pg is a symlink.
prepare_dirs() {
    mkdir -p "$ROOT/var"
    if [ -n "$AS" ] && [ ! -e "$PGDIR" ] && ! as_pg test -x "$ROOT/var"; then
        hash=$(printf '%s' "$ROOT" | md5sum | cut -c1-12)
        alt="/var/tmp/postern-pg-$hash"
        mkdir -p "$alt"
        ln -sfn "$alt" "$PGDIR"
    fi
    set_paths
    mkdir -p "$DATA" "$RUN" "$LOGDIR"
    if [ -n "$AS" ]; then
        chown postgres:postgres "$(dirname "$DATA")" "$DATA" "$RUN" "$LOGDIR"
    fi
    chmod 700 "$DATA"
    chmod 755 "$RUN" "$LOGDIR"
}

running() {
    [ -f "$DATA/PG_VERSION" ] || return 1
    as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

wait_ready() {
    i=0
    while [ $i -lt 60 ]; do
        if "$BIN/pg_isready" -q -h "$RUN" -p "$PORT" -d postgres -U postgres; then return 0; fi
        sleep 0.5
        i=$((i + 1))
    done
    die "server did not become ready within 30 s; see $LOG"
}

init_cluster() {
    [ -f "$DATA/PG_VERSION" ] && return 0
    prepare_dirs
    as_pg "$BIN/initdb" -D "$DATA" --auth=trust -U postgres --encoding=UTF8 \
        --locale=C >"$LOGDIR/initdb.log" 2>&1 || {
        cat "$LOGDIR/initdb.log" >&2; die "initdb failed"; }
    # Test-box tuning.  fsync and synchronous_commit stay on: durability of
    # accepted mail is a product promise, and benchmarks must measure it.
    as_pg sh -c "cat >> '$DATA/postgresql.conf'" <<EOF

# --- postern private cluster (scripts/pg.sh) ---
listen_addresses = ''
port = $PORT
unix_socket_directories = '$RUN'
unix_socket_permissions = 0777
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
# Server log: pg_ctl -l var/pg/log/postgresql.log (no logging collector).
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

psql_super() {
    "$BIN/psql" -X -q -h "$RUN" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

start() {
    init_cluster
    prepare_dirs
    if ! running; then
        # -o -p/-k also override the config in case POSTERN_PGPORT changed.
        as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 30 \
            -o "-p $PORT -k $RUN" start >/dev/null ||
            { tail -n 20 "$LOG" >&2 2>/dev/null || true; die "pg_ctl start failed"; }
    fi
    wait_ready
    if [ "$(psql_super -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'postern'")" != 1 ]; then
        psql_super -c "CREATE ROLE postern LOGIN"
    fi
    if [ "$(psql_super -tAc "SELECT 1 FROM pg_database WHERE datname = 'postern'")" != 1 ]; then
        psql_super -c "CREATE DATABASE postern OWNER postern ENCODING 'UTF8' TEMPLATE template0"
    fi
}

stop() {
    running || return 0
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start) start ;;
stop) stop ;;
status)
    if running; then echo "postern pg: running ($PGDIR, port $PORT)"; exit 0
    else echo "postern pg: not running ($PGDIR)"; exit 3; fi ;;
psql)
    if [ -t 0 ]; then
        exec "$BIN/psql" -h "$RUN" -p "$PORT" -U postern -d postern "$@"
    else
        exec "$BIN/psql" -X -h "$RUN" -p "$PORT" -U postern -d postern -v ON_ERROR_STOP=1 "$@"
    fi ;;
env)
    echo "export PGHOST=$RUN"
    echo "export PGPORT=$PORT"
    echo "export PGDATABASE=postern"
    echo "export PGUSER=postern" ;;
conninfo)
    echo "host=$RUN port=$PORT dbname=postern user=postern" ;;
reset)
    stop
    if [ -L "$PGDIR" ]; then
        target=$(readlink -f "$PGDIR")
        case "$target" in /var/tmp/postern-pg-*) rm -rf "$target" ;; esac
        rm -f "$PGDIR"
    else
        rm -rf "$PGDIR"
    fi ;;
*)
    echo "usage: scripts/pg.sh start|stop|status|psql [args]|env|conninfo|reset" >&2
    exit 2 ;;
esac
