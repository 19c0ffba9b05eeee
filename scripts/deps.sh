#!/bin/sh
# postern - make sure the Debian packages needed to build, run and test are
# installed.  Silent and fast when everything is present; otherwise installs
# the missing ones with apt-get (root only).
#
# It never configures a system MTA (postfix is preseeded "No configuration"
# and stopped) and never starts or touches the system PostgreSQL cluster:
# if Debian's postgresql package auto-started "15 main", it is left alone;
# postern only uses its private cluster (scripts/pg.sh).
set -eu

PKGS="build-essential libwolfssl-dev libpq-dev postgresql postgresql-contrib
libncurses-dev libcmocka-dev libc-ares-dev libcrypt-dev openssl swaks python3
postfix tmux unbound python3-aiosmtpd"

# One dpkg-query for all; unknown packages print nothing (stderr dropped).
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PKGS 2>/dev/null |
            awk '$2 ~ /^ii/ { print $1 }' || true)
missing=""
for p in $PKGS; do
    case "
$installed
" in
    *"
$p
"*) ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: run as root (sudo make deps) or: sudo apt-get install$missing" >&2
    exit 1
fi

echo "postern: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
case " $missing " in
*" postfix "*)
    # No system MTA: postfix is only used as a private benchmark peer.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections ;;
esac
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $missing >/dev/null
postfix stop 2>/dev/null || true
