#!/usr/bin/env bash
# scripts/run.sh - `make run`: start posternd in the foreground on the local
# database prepared by scripts/setup.sh.  Ctrl-C stops it cleanly (SIGINT:
# no new connections, pending commits answered, then exit).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p var/spool
echo "postern: starting posternd (Ctrl-C stops it); listeners:"
scripts/pg.sh psql -At -c "SELECT '  ' || name || ' ' || address || ':' || port || ' (' || tls_mode || ')' FROM postern.listeners WHERE enabled ORDER BY port" </dev/null
exec build/posternd -c var/postern.conf
