#!/bin/sh
# postern - local set-up, run by `make setup` after deps and build.
# Idempotent: every step checks whether it is already done.
#
#   1. start the private PostgreSQL cluster (scripts/pg.sh start)
#   2. scripts/db-load.sh postern: load sql/schema.sql (the current schema)
#      if schema "postern" does not exist yet, else apply pending
#      sql/migrations/; on that first load only, move the default listeners to
#      127.0.0.1:2525/2587/2465
#   3. if settings.tls_cert_file is NULL, make a self-signed certificate in
#      var/tls/ and point settings at it
#   4. local delivery into var/mail
#   5. if settings.admin_address is NULL: the admin's local account
#      ($POSTERN_ADMIN_ADDRESS, default admin@localhost; its domain becomes
#      local) and postern.set_admin_address(), which aliases postmaster@ and
#      abuse@ of every local domain to it (later domains get theirs when
#      added); set its password with `make passwd ADDRESS=...`
#   6. write the bootstrap file var/postern.conf if missing
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PG="$ROOT/scripts/pg.sh"
PORT=${POSTERN_PGPORT:-5499}

"$PG" start
eval "$("$PG" env)"

# psql as the postern role (owner of everything in the schema).
psql_postern() {
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -v ON_ERROR_STOP=1 -U postern -d postern "$@"
}

has_schema=$(psql_postern -tAc "SELECT 1 FROM pg_namespace WHERE nspname = 'postern'")
# Schema (first time) or pending migrations (a no-op when the database is
# up to date).
"$ROOT/scripts/db-load.sh" postern
if [ "$has_schema" != 1 ]; then
    # First load only: the local instance listens on unprivileged loopback
    # ports, so later operator changes to listeners are never overwritten.
    psql_postern <<'SQL'
UPDATE postern.listeners SET address = '127.0.0.1', port = 2525 WHERE name = 'smtp';
UPDATE postern.listeners SET address = '127.0.0.1', port = 2587 WHERE name = 'submission';
UPDATE postern.listeners SET address = '127.0.0.1', port = 2465 WHERE name = 'smtps';
SQL
fi

cert_set=$(psql_postern -tAc "SELECT tls_cert_file IS NOT NULL FROM postern.settings")
if [ "$cert_set" != t ]; then
    TLS="$ROOT/var/tls"
    mkdir -p "$TLS"
    if [ ! -s "$TLS/cert.pem" ] || [ ! -s "$TLS/key.pem" ]; then
        cn=$(hostname -f 2>/dev/null || hostname)
        ( umask 077
          openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$cn" \
              -keyout "$TLS/key.pem" -out "$TLS/cert.pem" >/dev/null 2>&1 ) ||
            { echo "setup.sh: openssl could not create $TLS/cert.pem" >&2; exit 1; }
        chmod 600 "$TLS/key.pem"
        chmod 644 "$TLS/cert.pem"
    fi
    psql_postern -v cert="$TLS/cert.pem" -v key="$TLS/key.pem" <<'SQL'
UPDATE postern.settings SET tls_cert_file = :'cert', tls_key_file = :'key';
SQL
fi

# Local delivery for this instance goes to var/mail (settings.maildir_root).
mail_set=$(psql_postern -tAc "SELECT maildir_root IS NOT NULL FROM postern.settings")
if [ "$mail_set" != t ]; then
    mkdir -p "$ROOT/var/mail"
    psql_postern -v root="$ROOT/var/mail" <<'SQL'
UPDATE postern.settings SET maildir_root = :'root';
SQL
fi

# The admin's mailbox: postmaster@ and abuse@ of every local domain.
admin_set=$(psql_postern -tAc "SELECT admin_address IS NOT NULL FROM postern.settings")
if [ "$admin_set" != t ]; then
    admin=${POSTERN_ADMIN_ADDRESS:-admin@localhost}
    psql_postern -v admin="$admin" >/dev/null <<'SQL'
SELECT postern.add_domain(split_part(:'admin', '@', 2));
SELECT postern.add_account(:'admin')
 WHERE NOT EXISTS (SELECT 1 FROM postern.accounts WHERE address = lower(btrim(:'admin')));
SELECT postern.set_admin_address(:'admin');
SQL
    echo "postern: postmaster@ and abuse@ of every local domain go to $admin" \
         "(set its password with: make passwd ADDRESS=$admin)"
fi

CONF="$ROOT/var/postern.conf"
if [ ! -e "$CONF" ]; then
    {
        echo "conninfo = $("$PG" conninfo)"
        echo "node = $(hostname -s 2>/dev/null || hostname)"
    } >"$CONF"
fi

echo "postern: database ready at var/pg (port $PORT)"
