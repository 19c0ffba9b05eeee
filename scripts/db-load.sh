#!/bin/sh
# postern - create or upgrade a database in the private cluster.
#
#   scripts/db-load.sh DBNAME [--fresh] [--from-version-1]
#
#   1. start the private cluster if needed (scripts/pg.sh start)
#   2. with --fresh: DROP DATABASE DBNAME (WITH FORCE) and create it again,
#      owned by the role postern; without it, create DBNAME only if missing
#   3. if schema "postern" is missing (a new database): CREATE EXTENSION
#      pgcrypto (superuser) and load sql/schema.sql, the whole current
#      schema, in one transaction as the role postern; it must end at the
#      version of the last migration
#   4. otherwise (an existing database): apply, in order, every
#      sql/migrations/NNN_*.sql whose number NNN is greater than
#      postern.schema_version.version, each with ON_ERROR_STOP (each
#      migration is one transaction and sets the version to NNN); a database
#      newer than the last migration is refused
#
# sql/migrations/001_initial.sql is schema version 1, the base of the upgrade
# path.  --from-version-1 (for tests) loads it instead of sql/schema.sql into
# a new database and then migrates it like any old database, so that
# tests/integration/test_schema.py can compare both ways of getting to the
# current version.
#
# Quiet on success (warnings, if any, still go to stderr).  On failure it
# prints what failed and psql's error, and exits 1.  Idempotent: a second run
# on an up-to-date database does nothing.  Used by scripts/setup.sh for the
# `postern` database and by tests and benchmarks, e.g.
#   scripts/db-load.sh postern_it --fresh
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PG="$ROOT/scripts/pg.sh"

usage() { echo "usage: scripts/db-load.sh DBNAME [--fresh] [--from-version-1]" >&2; exit 2; }
die() { echo "db-load.sh: $*" >&2; exit 1; }

DB=""
FRESH=0
FROM_V1=0
for a in "$@"; do
    case "$a" in
    --fresh) FRESH=1 ;;
    --from-version-1) FROM_V1=1 ;;
    -*) usage ;;
    *) [ -z "$DB" ] || usage; DB=$a ;;
    esac
done
[ -n "$DB" ] || usage
# A plain identifier, so it never needs quoting in SQL or shell.
case "$DB" in
postgres | template0 | template1) die "refusing to use database \"$DB\"" ;;
esac
printf '%s' "$DB" | grep -Eq '^[a-z_][a-z0-9_]{0,62}$' ||
    die "database name \"$DB\" must be 1 to 63 of a-z 0-9 _ (not starting with a digit)"

"$PG" start
eval "$("$PG" env)"
export PGOPTIONS='-c client_min_messages=warning'
unset PGDATABASE PGUSER

# run LABEL psql-args...: run psql, discard its output; on failure print the
# label and psql's messages and exit.
run() {
    label=$1
    shift
    if out=$(psql -X -q -v ON_ERROR_STOP=1 "$@" 2>&1 >/dev/null); then
        [ -z "$out" ] || printf '%s\n' "$out" >&2
    else
        echo "db-load.sh: $label failed (database $DB):" >&2
        printf '%s\n' "$out" >&2
        exit 1
    fi
}
# value USER DB SQL: one value from a query, or exit with psql's error.
value() {
    if ! v=$(psql -X -q -tA -v ON_ERROR_STOP=1 -U "$1" -d "$2" -c "$3" 2>&1); then
        echo "db-load.sh: query failed (database $2): $3" >&2
        printf '%s\n' "$v" >&2
        exit 1
    fi
    printf '%s' "$v"
}

if [ "$FRESH" = 1 ]; then
    run "dropping database $DB" -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
fi
if [ "$(value postgres postgres "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    run "creating database $DB" -U postgres -d postgres \
        -c "CREATE DATABASE $DB OWNER postern ENCODING 'UTF8' TEMPLATE template0"
fi

# The migrations: 001_initial.sql (version 1), then 002, 003, ... without
# gaps or duplicates.  The last number is the current version, which
# sql/schema.sql must also be at.
last=0
for f in "$ROOT"/sql/migrations/[0-9][0-9][0-9]_*.sql; do
    [ -e "$f" ] || continue
    base=$(basename "$f")
    n=$(printf '%s' "$base" | cut -c1-3 | sed 's/^0*//')
    n=${n:-0}
    [ "$n" -eq $((last + 1)) ] ||
        die "sql/migrations/$base: migrations must be numbered 001, 002, ... without gaps or duplicates"
    last=$n
done
[ "$last" -ge 1 ] && [ -e "$ROOT/sql/migrations/001_initial.sql" ] ||
    die "sql/migrations/001_initial.sql (schema version 1) is missing"

if [ "$(value postern "$DB" "SELECT 1 FROM pg_namespace WHERE nspname = 'postern'")" != 1 ]; then
    # pgcrypto is trusted, but create it as superuser so the load never
    # depends on that; everything else runs as the ordinary role postern.
    run "CREATE EXTENSION pgcrypto" -U postgres -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS pgcrypto"
    if [ "$FROM_V1" = 1 ]; then
        run "loading sql/migrations/001_initial.sql" -U postern -d "$DB" \
            -f "$ROOT/sql/migrations/001_initial.sql"
    else
        run "loading sql/schema.sql" -U postern -d "$DB" -f "$ROOT/sql/schema.sql"
        cur=$(value postern "$DB" "SELECT version FROM postern.schema_version")
        [ "$cur" = "$last" ] ||
            die "sql/schema.sql set schema version $cur, but the last migration is $last (database $DB)"
    fi
fi

cur=$(value postern "$DB" "SELECT version FROM postern.schema_version")
case "$cur" in
'' | *[!0-9]*) die "postern.schema_version must hold one version number, found \"$cur\"" ;;
esac
[ "$cur" -le "$last" ] ||
    die "database $DB has schema version $cur, newer than this checkout knows (its last migration is $last): use a newer postern checkout"

for f in "$ROOT"/sql/migrations/[0-9][0-9][0-9]_*.sql; do
    base=$(basename "$f")
    n=$(printf '%s' "$base" | cut -c1-3 | sed 's/^0*//')
    [ "$n" -gt "$cur" ] || continue
    run "migration sql/migrations/$base" -U postern -d "$DB" -f "$f"
    cur=$(value postern "$DB" "SELECT version FROM postern.schema_version")
    [ "$cur" = "$n" ] || die "migration $base left schema version $cur instead of $n"
done
exit 0
