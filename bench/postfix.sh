#!/usr/bin/env bash
# postern bench - a PRIVATE Postfix instance to compare against.
#
#   bench/postfix.sh start    create a temp instance and start it (127.0.0.1:4025)
#   bench/postfix.sh stop     stop it and delete its temp dir
#   bench/postfix.sh status   exit 0 when running; prints the instance dir
#   bench/postfix.sh queued   number of queue files in its hold queue
#   bench/postfix.sh flush    delete every queued message (postsuper -d ALL)
#
# It never reads or writes /etc/postfix/main.cf or master.cf and never listens
# on port 25: every postfix command gets "-c $DIR" (our own config directory,
# created with mktemp under $TMPDIR).  It does read the package's read-only
# meta files (/etc/postfix/postfix-files, dynamicmaps.cf) via meta_directory,
# which is how the package's own instance finds them.
#
# What is configured (main.cf below), and why:
#   - queue_directory, data_directory, config_directory: under the temp dir.
#   - inet_interfaces = 127.0.0.1, inet_protocols = ipv4; master.cf has one
#     inet service, 127.0.0.1:4025 smtpd.  Nothing else listens on the network.
#   - myhostname/mydomain fixed (no DNS), mydestination = bench.test, mynetworks
#     = 127.0.0.0/8.
#   - local_recipient_maps = (empty): accept any local part of bench.test
#     (postern is given the account to@bench.test; Postfix gets no passwd
#     lookup).  alias_maps empty (no /etc/aliases).
#   - What is measured is ACCEPT + QUEUE: every message is placed in the hold
#     queue by "smtpd_end_of_data_restrictions = check_client_access
#     static:HOLD".  cleanup still writes the queue file and fsyncs it before
#     smtpd answers 250 (Postfix's normal durability; nothing is relaxed), but
#     qmgr has nothing to deliver afterwards, just as postern only queues in
#     PostgreSQL here.  local_transport/default_transport = discard as a
#     safety net should anything leave the hold queue.
#   - Relay mode (bench/relay.sh): with BENCH_POSTFIX_RELAYHOST=[addr]:port
#     in the environment of "start", there is no hold queue and no discard:
#     every message goes by the smtp client to that relayhost (relayhost =
#     $BENCH_POSTFIX_RELAYHOST, default_transport = smtp, plain SMTP), with
#     the smtp and relay services in master.cf; everything else as above.
#   - Logging: maillog_file under the temp dir via postlogd (no syslog).
#   - master.cf: the package's services minus the ones not needed, chroot off
#     (the temp dir is not a chroot jail), process limits left at the default
#     (default_process_limit = 100, so at 200 parallel sessions the extra
#     clients wait in the listen queue: that is stock Postfix behaviour).
#   - Runs as mail_owner postfix / setgid_group postdrop (package users).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STATE="$BENCH_STATE/postfix.dir"

pfdir() { [ -s "$STATE" ] && cat "$STATE"; }

# The postfix command prints its errors only when stderr is a terminal
# (otherwise only to the mail log, which may not exist yet), so give it a pty.
pf() {
    local d=$1; shift
    script -qec "postfix -c '$d/etc' $*" /dev/null
}

running() {
    local d; d=$(pfdir) || return 1
    [ -d "$d" ] && postfix -c "$d/etc" status >/dev/null 2>&1
}

start() {
    [ "$(id -u)" = 0 ] || die "postfix.sh must run as root (postfix master needs it)"
    id postfix >/dev/null 2>&1 || die "no 'postfix' user (install the postfix package)"
    getent group postdrop >/dev/null || die "no 'postdrop' group"
    if running; then say "postfix: already running in $(pfdir)"; return 0; fi
    port_listening "$POSTFIX_PORT" && die "127.0.0.1:$POSTFIX_PORT is already in use"

    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/postern-bench-postfix.XXXXXX")
    chmod 755 "$d"
    mkdir -p "$d/etc" "$d/queue" "$d/data"
    chown postfix:postfix "$d/data"
    echo "$d" >"$STATE"

    local relayhost="${BENCH_POSTFIX_RELAYHOST:-}" hold transport services=""
    if [ -n "$relayhost" ]; then
        hold=""
        transport="smtp"
        services="smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp"
    else
        hold="smtpd_end_of_data_restrictions = check_client_access static:HOLD"
        transport="discard:bench"
    fi

    cat >"$d/etc/main.cf" <<CF
# Private benchmark instance written by bench/postfix.sh - see its header.
compatibility_level = 3.6
config_directory = $d/etc
queue_directory = $d/queue
data_directory = $d/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $d/maillog
maillog_file_prefixes = $d
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination = bench.test
mynetworks = 127.0.0.0/8
relayhost = $relayhost
local_recipient_maps =
alias_maps =
alias_database =
smtpd_banner = \$myhostname ESMTP
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
$hold
local_transport = discard:bench
default_transport = $transport
relay_transport = $transport
CF

    # service type private unpriv chroot wakeup maxproc command
    cat >"$d/etc/master.cf" <<CF
127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
$services
CF

    # "postfix check" creates the queue directories with the right owners.
    pf "$d" check >"$d/check.log" 2>&1 ||
        { cat "$d/check.log" >&2; die "postfix check failed"; }
    pf "$d" start >"$d/start.log" 2>&1 ||
        { cat "$d/start.log" >&2; tail -n 20 "$d/maillog" >&2 2>/dev/null || true
          die "postfix start failed"; }
    wait_for 15 port_listening "$POSTFIX_PORT" ||
        { tail -n 20 "$d/maillog" >&2 2>/dev/null || true
          die "postfix did not listen on 127.0.0.1:$POSTFIX_PORT within 15 s"; }
    say "postfix: running in $d (127.0.0.1:$POSTFIX_PORT, log $d/maillog${relayhost:+, relayhost $relayhost})"
}

stop() {
    local d; d=$(pfdir) || { say "postfix: not started"; return 0; }
    if [ -d "$d" ]; then
        postfix -c "$d/etc" stop >/dev/null 2>&1 || true
        # master exits asynchronously; wait (bounded) before deleting its dir.
        wait_for 15 bash -c "! postfix -c '$d/etc' status >/dev/null 2>&1" ||
            say "postfix: master still running after 15 s"
        wait_for 10 bash -c "! ss -Hltn 'sport = :$POSTFIX_PORT' | grep -q ."  || true
        case "$d" in */postern-bench-postfix.*) rm -rf "$d" ;; esac
    fi
    rm -f "$STATE"
    say "postfix: stopped"
}

queued() {
    local d; d=$(pfdir) || die "postfix not started"
    find "$d/queue/hold" "$d/queue/incoming" "$d/queue/active" "$d/queue/deferred" \
        -type f 2>/dev/null | wc -l
}

flush() {
    local d; d=$(pfdir) || die "postfix not started"
    postsuper -c "$d/etc" -d ALL >/dev/null 2>&1 || true
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) if running; then pfdir; else echo "postfix: not running" >&2; exit 3; fi ;;
queued) queued ;;
flush) flush ;;
*) echo "usage: bench/postfix.sh start|stop|status|queued|flush" >&2; exit 2 ;;
esac
