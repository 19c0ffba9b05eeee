#!/usr/bin/env bash
# postern bench - mail latency while 50 connections loop on wrong AUTH
# passwords (issue 12: password checks run on their own bounded pool, so
# they cannot stall other sessions).  Runs against a running posternd with
# an implicit-TLS listener (AUTH needs TLS) and a plain one, e.g. the
# integration test daemon (ports 3465/3525 plus POSTERN_IT_PORT_OFFSET).
#
#   bench/authflood.sh [AUTH_PORT] [MAIL_PORT] [FLOODERS] [SECONDS]
#
# Raise settings.auth_throttle_max and max_auth_failures first, or the
# cluster throttle answers 454 at once and no password is ever checked.
set -euo pipefail
off=${POSTERN_IT_PORT_OFFSET:-0}
exec python3 "$(dirname "$0")/authflood.py" --auth-port "${1:-$((3465 + off))}" \
    --mail-port "${2:-$((3525 + off))}" --flooders "${3:-50}" --seconds "${4:-30}"
