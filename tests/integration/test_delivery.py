"""Delivery (schema version 3): the delivery engine against real peers on
loopback - aiosmtpd recorders (peers.py), unbound serving MX records
(dnsfix.py) and other posternd instances.

Every test changes settings and rules only inside try/finally (the
settings() context manager puts the old values back and waits for the
reload), stops its peers, unbound and extra daemons, and bounds every wait.
The harness DNS refuses every name, so mail of other tests never reaches
these peers; stale deferred mail of other tests is not due during the run
(retry_initial 300 s) and queue_retry is only ever called with a queue id.
"""
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter

import dnsfix
import harness
from harness import (ALICE, BOB, DBNAME, PASSWORD, PGHOST, PGPORT, PORT_OFFSET, PORT_SMTP,
                     PORT_SUBMISSION, Client, check, plain_token, q, queue_id_of, sql,
                     sql_value, unique, wait_until)
from peers import SmtpPeer, peer_python_ok

# Ports (all shifted by $POSTERN_IT_PORT_OFFSET like the harness's own).
PORT_FAR = 3625 + PORT_OFFSET            # the second posternd ("far")
PEER_BASE = 3640 + PORT_OFFSET           # aiosmtpd peers: 3640-3649
PORT_IT2 = 3660 + PORT_OFFSET            # listener of the second node on postern_it
DB2 = DBNAME + "2"                       # the far daemon's database (postern_it2)
SEND_TIMEOUT = 30.0                      # a delivery that should happen at once


def peer_port(n):
    return PEER_BASE + n


def need_peers():
    ok, why = peer_python_ok()
    check(ok, why)


# ---- settings, DNS, rules ----

def _lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return q(v)


def _wait_reloads(offsets):
    for d, off in offsets:
        if d.alive():
            d.wait_reload(off)


@contextlib.contextmanager
def settings(env, daemons=(), **kv):
    """Sets settings columns, waits until every daemon reloaded, and puts
    the old values back (and waits again) on the way out."""
    cols = sorted(kv)
    old = sql("SELECT %s FROM postern.settings" % ", ".join("quote_nullable(%s)" % c for c in cols))[0]
    every = [env.daemon] + list(daemons)
    offs = [(d, d.log_size()) for d in every]
    sql("UPDATE postern.settings SET %s" % ", ".join("%s = %s" % (c, _lit(kv[c])) for c in cols))
    _wait_reloads(offs)
    try:
        yield
    finally:
        offs = [(d, d.log_size()) for d in every]
        sql("UPDATE postern.settings SET %s" % ", ".join("%s = %s" % (c, o) for c, o in zip(cols, old)))
        _wait_reloads(offs)


def mx_zone(domain, host=None):
    host = host or "mx." + domain
    return {domain: ["%s. IN MX 10 %s." % (domain, host), "%s. IN A 127.0.0.1" % host]}


@contextlib.contextmanager
def mx_route(env, zones, port, daemons=(), **more):
    """unbound serving zones; settings.dns_servers pointing at it and
    smtp_port_out = port (plus any other settings in more)."""
    dns_port, dns_stop = dnsfix.start(zones)
    try:
        with settings(env, daemons, dns_servers="127.0.0.1:%d" % dns_port, smtp_port_out=port, **more):
            yield dns_port
    finally:
        dns_stop()


def change_rules(env, query):
    off = env.daemon.log_size()
    sql("BEGIN;\n%s\nCOMMIT;" % query)
    env.daemon.wait_reload(off)


# ---- submitting and inspecting ----

def dot_stuff(body):
    check(body.endswith(b"\r\n") and b"\n" not in body.replace(b"\r\n", b""), "test body must be CRLF lines")
    lines = body[:-2].split(b"\r\n")
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)


def submit(msgs, sender=ALICE, auth=True, port=None):
    """Sends each (rcpts, body) of msgs in one session - authenticated as
    alice over STARTTLS on the submission port, or plain on 25 - and
    returns the queue ids."""
    port = port or (PORT_SUBMISSION if auth else PORT_SMTP)
    qids = []
    with Client(port) as c:
        c.expect("EHLO client.test", 250)
        if auth:
            c.starttls()
            c.expect("EHLO client.test", 250)
            c.expect("AUTH PLAIN " + plain_token(ALICE, PASSWORD), 235)
        for rcpts, body in msgs:
            eight = any(b > 127 for b in body)
            c.expect("MAIL FROM:<%s>%s" % (sender, " BODY=8BITMIME" if eight else ""), 250)
            for r in rcpts:
                c.expect("RCPT TO:<%s>" % r, 250)
            c.expect("DATA", 354)
            c.send(dot_stuff(body) + b".\r\n")
            code, text = c.reply()
            qids.append(queue_id_of(text))
        c.expect("QUIT", 221)
    return qids


def stored_body(qid):
    h = sql_value("SELECT encode(b.data, 'hex') FROM postern.bodies b JOIN postern.messages m "
                  "ON m.id = b.message_id WHERE m.queue_id = %s" % q(qid))
    check(h is not None, "no stored body for %s" % qid)
    return bytes.fromhex(h)


def rcpt(qid, address):
    """state, attempts, last_reply, next_attempt_at > now() + 3000 s,
    lease_owner of one recipient."""
    rows = sql("SELECT state, attempts, coalesce(last_reply, ''), "
               "next_attempt_at > now() + interval '3000 seconds', coalesce(lease_owner, '') "
               "FROM postern.queue_recipients WHERE queue_id = %s AND address = %s" % (q(qid), q(address)))
    check(len(rows) == 1, "recipient %s of %s: %r" % (address, qid, rows))
    st, att, reply, later, owner = rows[0]
    return {"state": st, "attempts": int(att), "reply": reply, "later": later == "t", "owner": owner}


def wait_state(qid, address, states, timeout=SEND_TIMEOUT):
    last = {}

    def done():
        last.update(rcpt(qid, address))
        return last["state"] in states and last["owner"] == ""
    try:
        wait_until(done, timeout, interval=0.1, what="%s of %s to become %s" % (address, qid, "/".join(states)))
    except harness.TestFailure as e:
        raise harness.TestFailure("%s (last: %r)" % (e, last))
    return dict(last)


def log_lines(text, qid, address):
    return [l for l in text.splitlines() if (" %s to=<%s> " % (qid, address)) in l]


def maildir_files(root, domain, local, timeout, n=1):
    d = os.path.join(root, domain, local, "new")

    def files():
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return None
        return names if len(names) >= n else None
    names = wait_until(files, timeout, interval=0.1, what="%d file(s) in %s" % (n, d))
    out = []
    for name in names:
        with open(os.path.join(d, name), "rb") as f:
            out.append(f.read())
    return out


def tricky_body(marker):
    """A body whose bytes a careless relay would change: leading dots, a
    lone dot, trailing blanks, a tab, 8-bit UTF-8, a 998-octet line, empty
    lines at the end."""
    return (b"From: Alice <alice@example.test>\r\n"
            b"To: <user@remote.test>\r\n"
            b"Subject: intact " + marker.encode() + b"\r\n"
            b"Message-ID: <" + marker.encode() + b"@example.test>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n"
            b"first line\r\n"
            b".leading dot\r\n"
            b"..two leading dots\r\n"
            b".\r\n"
            b"trailing blanks   \r\n"
            b"\ttab first\r\n"
            b"utf-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xae\r\n"
            + b"x" * 998 + b"\r\n"
            b"\r\n"
            b"\r\n"
            b"last line " + marker.encode() + b"\r\n")


RECEIVED_RX = re.compile(rb"Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")


def check_one_received_then(data, sent):
    """data is exactly one Received: field (folded or not) followed by
    sent, byte for byte."""
    check(data.endswith(sent), "the body received is not the body sent:\n got %r\nsent %r"
          % (data[-300:], sent[-300:]))
    prefix = data[:len(data) - len(sent)]
    check(RECEIVED_RX.fullmatch(prefix) is not None,
          "before the body sent there must be exactly one Received: header, got %r" % prefix)


# ---- 1. MX delivery over STARTTLS, byte for byte ----

def test_delivery_mx_starttls_intact(env):
    need_peers()
    port = peer_port(0)
    peer = SmtpPeer(port, starttls=(env.cert, env.key))
    try:
        peer.start()
        with mx_route(env, mx_zone("remote.test"), port):
            marker = unique("mx")
            sent = tricky_body(marker)
            off = env.daemon.log_size()
            qid, = submit([(["user@remote.test"], sent)])
            msgs = peer.wait_messages(1, SEND_TIMEOUT)
            r = wait_state(qid, "user@remote.test", ("delivered",))
        check(r["attempts"] == 1 and r["reply"].startswith("250"), "recipient after delivery: %r" % r)
        check(len(msgs) == 1, "peer received %d messages" % len(msgs))
        m = msgs[0]
        check(m["tls"] in ("TLSv1.2", "TLSv1.3"), "peer did not receive the message over TLS: %r" % m["tls"])
        cmds = peer.commands()
        verbs = [c["verb"] for c in cmds]
        check(verbs == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA"], "peer saw %r" % verbs)
        check(all(c["tls"] for c in cmds[1:]), "commands after STARTTLS in clear: %r" % cmds)
        check(m["mail_from"] == ALICE and m["rcpt_tos"] == ["user@remote.test"], "envelope %r" % m)
        check("BODY=8BITMIME" in [o.upper() for o in m["mail_options"]],
              "8-bit body sent without BODY=8BITMIME: %r" % m["mail_options"])
        check(m["helo"] == "mx.example.test", "EHLO name %r" % m["helo"])
        check_one_received_then(m["data"], sent)
        check(m["data"] == stored_body(qid), "the peer's copy differs from the queued body")
        check(m["data"].startswith(b"Received: from client.test ([127.0.0.1])"), "Received %r" % m["data"][:120])
        lines = log_lines(env.daemon.log_since(off), qid, "user@remote.test")
        check(len(lines) == 1, "log lines for the recipient: %r" % lines)
        rx = (r"to=<user@remote\.test> relay=mx\.remote\.test\[127\.0\.0\.1\]:%d tls=(TLSv1\.[23])/\S+ "
              r"delay=\d+ dsn=2\.\d+\.\d+ status=sent \(250 " % port)
        mo = re.search(rx, lines[0])
        check(mo is not None, "log line %r does not match /%s/" % (lines[0], rx))
        check(mo.group(1) == m["tls"], "log says %s, the peer saw %s" % (mo.group(1), m["tls"]))
    finally:
        peer.close()


# ---- 2. reference rule: TLS 1.1 and 1.2 only when relaying to example.com ----

RULE = "use_only_tls11_and_12_when_relaying"


def relay_rule_sql(port):
    return """
DELETE FROM postern.rules WHERE name = '{r}';
SELECT postern.rule_add('{r}', 'all');
SELECT postern.rule_add_condition('{r}', 'delivery_relaying', 'is', 'true');
SELECT postern.rule_add_condition('{r}', 'rcpt_domain', 'is', 'example.com');
SELECT postern.rule_add_relay('{r}', '127.0.0.1', {p}, 'required', '{{TLSv1.1,TLSv1.2}}');
""".format(r=RULE, p=port)


def test_delivery_rule_tls11_tls12_only(env):
    need_peers()
    pa, pb, pc = peer_port(1), peer_port(2), peer_port(3)
    peers = {
        "a": SmtpPeer(pa, starttls=(env.cert, env.key), tls_max="1.2"),
        "b": SmtpPeer(pb, starttls=(env.cert, env.key), tls_min="1.3"),
        "c": SmtpPeer(pc),
    }
    qids = []
    try:
        for p in peers.values():
            p.start()
        marker = unique("tlsv")
        sent = {}
        qid = {}
        for case, port in (("a", pa), ("b", pb), ("c", pc)):
            change_rules(env, relay_rule_sql(port))
            sent[case] = (b"Subject: case %s %s\r\n\r\nrelayed with TLS 1.1/1.2 only\r\n"
                          % (case.encode(), marker.encode()))
            off = env.daemon.log_size()
            qid[case], = submit([(["bob@example.com"], sent[case])])
            qids.append(qid[case])
            rows = sql("SELECT relay_host, relay_port, relay_tls, relay_tls_versions FROM "
                       "postern.queue_recipients WHERE queue_id = %s" % q(qid[case]))
            check(rows == [["127.0.0.1", str(port), "required", "{TLSv1.1,TLSv1.2}"]],
                  "case %s: route stored %r" % (case, rows))
            if case == "a":
                off_a = off

        # (a) TLS up to 1.2 offered: delivered over TLS 1.2.
        msgs = peers["a"].wait_messages(1, SEND_TIMEOUT)
        r = wait_state(qid["a"], "bob@example.com", ("delivered",))
        check(r["attempts"] == 1, "case a: %r" % r)
        check(msgs[0]["tls"] == "TLSv1.2", "case a: peer saw %r" % msgs[0]["tls"])
        check_one_received_then(msgs[0]["data"], sent["a"])
        lines = log_lines(env.daemon.log_since(off_a), qid["a"], "bob@example.com")
        check(len(lines) == 1 and re.search(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d tls=TLSv1\.2/\S+ .*"
                                            r"status=sent" % pa, lines[0]),
              "case a: log %r" % lines)

        # (b) only TLS 1.3 offered and (c) no STARTTLS: deferred, no
        # envelope ever sent.
        for case in ("b", "c"):
            r = wait_state(qid[case], "bob@example.com", ("deferred",))
            check(r["attempts"] == 1 and r["reply"].startswith("4") and "TLS" in r["reply"],
                  "case %s: %r" % (case, r))
            verbs = peers[case].verbs()
            check("EHLO" in verbs, "case %s: the peer was never contacted: %r" % (case, verbs))
            check("MAIL" not in verbs and "RCPT" not in verbs and "DATA" not in verbs,
                  "case %s: the peer saw %r" % (case, verbs))
            check(peers[case].count() == 0, "case %s: the peer received a message" % case)
        check("STARTTLS" not in peers["b"].verbs(), "case b: a handshake was reported done")
        lines = log_lines(env.daemon.log(), qid["b"], "bob@example.com")
        check(len(lines) == 1 and "status=deferred" in lines[0] and "relay=127.0.0.1[127.0.0.1]:%d" % pb
              in lines[0], "case b: log %r" % lines)
    finally:
        for p in peers.values():
            p.close()
        change_rules(env, "DELETE FROM postern.rules WHERE name = '%s';" % RULE)
        for x in qids:
            sql("SELECT postern.queue_delete(%s) FROM postern.messages WHERE queue_id = %s" % (q(x), q(x)))


# ---- 3. 4xx: deferred with backoff, then delivered by queue_retry ----

def test_delivery_4xx_deferred_then_queue_retry(env):
    need_peers()
    port = peer_port(4)
    peer = SmtpPeer(port, fail_at="data", fail_reply="451 4.3.0 Try again later")
    try:
        peer.start()
        with mx_route(env, mx_zone("retry.test"), port, retry_initial=3600):
            off = env.daemon.log_size()
            sent = b"Subject: retry %s\r\n\r\nfirst refused, then accepted\r\n" % unique("retry").encode()
            qid, = submit([(["user@retry.test"], sent)])
            r = wait_state(qid, "user@retry.test", ("deferred",))
            check(r["attempts"] == 1 and r["later"], "after the 451: %r (want attempts 1, next attempt "
                  "in about an hour)" % r)
            check(r["reply"].startswith("451 4.3.0") and "Try again later" in r["reply"],
                  "last_reply %r" % r["reply"])
            check(peer.verbs().count("DATA") == 1 and peer.count() == 0, "peer: %r" % peer.verbs())
            # Nothing retries it by itself (the workers poll every 2 s).
            time.sleep(2.5)
            r = rcpt(qid, "user@retry.test")
            check(r["state"] == "deferred" and r["attempts"] == 1, "retried by itself: %r" % r)
            lines = log_lines(env.daemon.log_since(off), qid, "user@retry.test")
            check(len(lines) == 1 and "status=deferred" in lines[0] and "dsn=4.3.0" in lines[0],
                  "log %r" % lines)

            peer.restart(fail_at=None)
            check(sql_value("SELECT postern.queue_retry(%s)" % q(qid)) == "1", "queue_retry did not count 1")
            msgs = peer.wait_messages(1, SEND_TIMEOUT)
            r = wait_state(qid, "user@retry.test", ("delivered",))
        check(r["attempts"] == 2, "after queue_retry: %r" % r)
        check_one_received_then(msgs[0]["data"], sent)
        lines = log_lines(env.daemon.log_since(off), qid, "user@retry.test")
        check(len(lines) == 2 and "status=sent" in lines[1], "log %r" % lines)
    finally:
        peer.close()


# ---- 4. 5xx: bounced, DSN in the sender's Maildir ----

def test_delivery_5xx_bounce_dsn_to_local_sender(env):
    need_peers()
    port = peer_port(5)
    root = tempfile.mkdtemp(prefix="postern-maildir-")
    peer = SmtpPeer(port, fail_at="rcpt", fail_reply="550 5.1.1 <user@bounce.test>: no such user here")
    try:
        peer.start()
        with mx_route(env, mx_zone("bounce.test"), port, maildir_root=root):
            marker = unique("bounce")
            sent = (b"From: <alice@example.test>\r\nSubject: will bounce %s\r\n\r\nbody %s\r\n"
                    % (marker.encode(), marker.encode()))
            qid, = submit([(["user@bounce.test"], sent)])
            r = wait_state(qid, "user@bounce.test", ("bounced",))
            check(r["reply"].startswith("550 5.1.1"), "last_reply %r" % r["reply"])
            files = maildir_files(root, "example.test", "alice", SEND_TIMEOUT)
        check(len(files) == 1, "%d files in alice's Maildir" % len(files))
        dsn = files[0].decode("utf-8", "replace")
        check(dsn.startswith("Return-Path: <>\nDelivered-To: alice@example.test\n"),
              "DSN file starts %r" % dsn[:120])
        check("\r" not in dsn, "CR in the Maildir file")
        for want in ("multipart/report", "report-type=delivery-status", "message/delivery-status",
                     "Final-Recipient: rfc822; user@bounce.test", "Action: failed", "Status: 5.1.1",
                     "To: <alice@example.test>", "Subject: will bounce " + marker, qid):
            check(want.lower() in dsn.lower(), "DSN lacks %r:\n%s" % (want, dsn[:3000]))
        check(re.search(r"(?im)^Status: 5\.\d+\.\d+$", dsn) is not None, "DSN status line:\n%s" % dsn[:3000])
        dsn_id = sql_value("SELECT dsn_message_id FROM postern.queue_recipients WHERE queue_id = %s" % q(qid))
        check(dsn_id not in (None, ""), "dsn_message_id not set")
        check(sql("SELECT sender, address, state FROM postern.queue_recipients WHERE message_id = %s"
                  % dsn_id) == [["", ALICE, "delivered"]], "DSN queue row")
        check(peer.count() == 0 and "DATA" not in peer.verbs(), "peer: %r" % peer.verbs())
    finally:
        peer.close()
        shutil.rmtree(root, ignore_errors=True)


# ---- 5. local delivery into Maildir ----

def test_delivery_local_maildir(env):
    root = tempfile.mkdtemp(prefix="postern-maildir-")
    try:
        with settings(env, maildir_root=root):
            # An unknown local user is refused at RCPT.
            with Client(PORT_SMTP) as c:
                c.expect("EHLO client.test", 250)
                c.expect("MAIL FROM:<carol@client.test>", 250)
                code, text = c.cmd("RCPT TO:<nobody@example.test>")
                check(code == 550 and text.startswith("550 5.1.1"), "unknown local user: %r" % text)
                c.expect("QUIT", 221)
            marker = unique("local")
            sent = (b"From: <carol@client.test>\r\nTo: <bob@example.test>\r\nSubject: local %s\r\n\r\n"
                    b"line one\r\n.dot line\r\n\r\nutf-8 \xc3\xa9\r\nlast %s\r\n" % (marker.encode(), marker.encode()))
            off = env.daemon.log_size()
            qid, = submit([([BOB], sent)], sender="carol@client.test", auth=False)
            files = maildir_files(root, "example.test", "bob", SEND_TIMEOUT)
            r = wait_state(qid, BOB, ("delivered",))
        check(len(files) == 1, "%d files in bob's Maildir" % len(files))
        data = files[0]
        head = b"Return-Path: <carol@client.test>\nDelivered-To: bob@example.test\n"
        check(data.startswith(head), "Maildir file starts %r" % data[:120])
        check(data == head + stored_body(qid).replace(b"\r\n", b"\n"),
              "Maildir file is not the queued message with LF line ends: %r" % data[-300:])
        check(data.endswith(sent.replace(b"\r\n", b"\n")), "body not intact: %r" % data[-200:])
        check(b"\r" not in data, "CR left in the Maildir file")
        check(r["attempts"] == 1, "recipient %r" % r)
        lines = log_lines(env.daemon.log_since(off), qid, BOB)
        check(len(lines) == 1 and "relay=local" in lines[0] and "status=sent" in lines[0], "log %r" % lines)
        for sub in ("cur", "tmp"):
            check(os.path.isdir(os.path.join(root, "example.test", "bob", sub)), "no %s/ in the Maildir" % sub)
        check(os.listdir(os.path.join(root, "example.test", "bob", "tmp")) == [], "file left in tmp/")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- helpers for extra daemons ----

def extra_daemon(tmpdir, dbname, node):
    d = harness.Daemon(tmpdir)
    with open(d.bootstrap, "w") as f:
        f.write("conninfo = host=%s port=%s dbname=%s user=postern\n" % (PGHOST, PGPORT, dbname))
        f.write("node = %s\n" % node)
    return d


def sent_lines(text, qids):
    """Log lines with status=sent for any of qids, by queue id."""
    got = Counter()
    for l in text.splitlines():
        m = re.search(r" ([0-9A-F]{16}) to=<[^>]*> .* status=sent ", l)
        if m and m.group(1) in qids:
            got[m.group(1)] += 1
    return got


# ---- 6. a second posternd as the remote MTA ----

def test_delivery_to_second_posternd(env):
    tmp = tempfile.mkdtemp(prefix="postern-far-")
    os.chmod(tmp, 0o755)
    root = os.path.join(tmp, "maildir")
    far = None
    try:
        p = subprocess.run([os.path.join(harness.ROOT, "scripts", "db-load.sh"), DB2, "--fresh"],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "db-load.sh %s: %s%s" % (DB2, p.stdout, p.stderr))
        sql("DELETE FROM postern.listeners;"
            "INSERT INTO postern.listeners (name, address, port, tls_mode) "
            "VALUES ('smtp', '127.0.0.1', %d, 'starttls');"
            "UPDATE postern.settings SET hostname = 'mx.far.test', tls_cert_file = %s, tls_key_file = %s, "
            "maildir_root = %s, dns_servers = %s, greet_pause_ms = 0;"
            "SELECT postern.add_domain('far.test');"
            "SELECT postern.add_account('user@far.test', 'far-secret-42');"
            % (PORT_FAR, q(env.cert), q(env.key), q(root), q(env.dns_servers)), db=DB2)
        far = extra_daemon(tmp, DB2, "far")
        far.start(ports=(PORT_FAR,))
        with mx_route(env, mx_zone("far.test"), PORT_FAR):
            marker = unique("far")
            sent = (b"From: <alice@example.test>\r\nTo: <user@far.test>\r\nSubject: far %s\r\n\r\n"
                    b"from one posternd to another\r\n.dot\r\n%s\r\n" % (marker.encode(), marker.encode()))
            off = env.daemon.log_size()
            qid, = submit([(["user@far.test"], sent)])
            files = maildir_files(root, "far.test", "user", SEND_TIMEOUT)
            wait_state(qid, "user@far.test", ("delivered",))
        data = files[0]
        check(data.startswith(b"Return-Path: <alice@example.test>\nDelivered-To: user@far.test\n"),
              "far Maildir file starts %r" % data[:120])
        check(data.endswith(sent.replace(b"\r\n", b"\n")), "body not intact at far: %r" % data[-200:])
        # far's Received (ESMTPS: it came over STARTTLS), then ours.
        hdr = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
        received = re.findall(r"(?m)^Received: .*(?:\n[ \t].*)*", hdr)
        check(len(received) == 2, "Received headers at far: %r" % received)
        check("from mx.example.test" in received[0] and "with ESMTPS" in received[0],
              "far's Received header: %r" % received[0])
        rows = sql("SELECT sender, client_helo, tls_version, listener FROM postern.messages "
                   "WHERE sender = 'alice@example.test'", db=DB2)
        check(len(rows) == 1 and rows[0][0] == ALICE and rows[0][1] == "mx.example.test"
              and rows[0][2] in ("TLSv1.2", "TLSv1.3") and rows[0][3] == "smtp",
              "far's messages row: %r" % rows)
        lines = log_lines(env.daemon.log_since(off), qid, "user@far.test")
        check(len(lines) == 1 and re.search(r"relay=mx\.far\.test\[127\.0\.0\.1\]:%d tls=%s/\S+ .*status=sent"
                                            % (PORT_FAR, re.escape(rows[0][2])), lines[0]),
              "log %r" % lines)
        check("status=sent" in far.log() and "relay=local" in far.log(), "far's log: no local delivery")
    finally:
        if far is not None:
            far.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB2, user="postgres", db="postgres")


# ---- 7. two daemons on one database ----

def test_delivery_two_nodes_one_database_no_duplicates(env):
    need_peers()
    port = peer_port(6)
    tmp = tempfile.mkdtemp(prefix="postern-it2-")
    os.chmod(tmp, 0o755)
    peer = SmtpPeer(port, delay=0.2)
    it2 = None
    listeners_changed = False
    try:
        peer.start()
        # The harness listeners (node NULL = every node) become node it's;
        # the second node gets its own.
        off = env.daemon.log_size()
        sql("BEGIN; UPDATE postern.listeners SET node = 'it' WHERE node IS NULL;"
            "INSERT INTO postern.listeners (name, node, address, port, tls_mode) "
            "VALUES ('it2-smtp', 'it2', '127.0.0.1', %d, 'none'); COMMIT;" % PORT_IT2)
        listeners_changed = True
        env.daemon.wait_reload(off)
        it2 = extra_daemon(tmp, DBNAME, "it2")
        it2.start(ports=(PORT_IT2,))
        with mx_route(env, mx_zone("sink.test"), port, daemons=[it2], delivery_batch=2, lease_seconds=10,
                      smtp_connect_timeout=5, smtp_command_timeout=5, smtp_data_timeout=5):
            # A: 50 messages, both nodes deliver, each exactly once.
            run = unique("two")
            msgs = [(["u%d@sink.test" % i], b"Message-ID: <%s-%d@example.test>\r\nSubject: %d\r\n\r\n"
                     b"two nodes\r\n" % (run.encode(), i, i)) for i in range(50)]
            off1, off2 = env.daemon.log_size(), it2.log_size()
            qids = submit(msgs)
            peer.wait_messages(50, 60)
            for i, x in enumerate(qids):
                wait_state(x, "u%d@sink.test" % i, ("delivered",))
            ids = Counter(re.search(rb"(?im)^Message-ID: <([^>]*)>", m["data"]).group(1).decode()
                          for m in peer.messages())
            want = {"%s-%d@example.test" % (run, i) for i in range(50)}
            check(set(ids) == want, "Message-IDs received: %d of 50 expected, %d others"
                  % (len(want & set(ids)), len(set(ids) - want)))
            dups = {k: n for k, n in ids.items() if n != 1}
            check(not dups, "received more than once: %r" % dups)
            s1 = sent_lines(env.daemon.log_since(off1), set(qids))
            s2 = sent_lines(it2.log_since(off2), set(qids))
            check(sum(s1.values()) >= 1 and sum(s2.values()) >= 1,
                  "both nodes must deliver: it %d, it2 %d" % (sum(s1.values()), sum(s2.values())))
            check(s1 + s2 == Counter({x: 1 for x in qids}), "sent log lines: %r" % (s1 + s2))

            # B: kill -9 it2 while it holds leases; node it delivers the rest
            # once they expire.  Duplicates only among what it2 had leased.
            peer.restart(delay=1.0)
            before = peer.count()
            run = unique("kill")
            n = 16
            msgs = [(["k%d@sink.test" % i], b"Message-ID: <%s-%d@example.test>\r\nSubject: %d\r\n\r\n"
                     b"killed node\r\n" % (run.encode(), i, i)) for i in range(n)]
            qids = submit(msgs)
            idlist = ",".join(q(x) for x in qids)
            leased_q = ("SELECT queue_id, address, lease_expires FROM postern.queue_recipients "
                        "WHERE queue_id IN (%s) AND lease_owner = 'it2' AND state IN ('queued', 'deferred')"
                        % idlist)
            wait_until(lambda: sql(leased_q), 20, interval=0.05, what="node it2 to hold a lease")
            it2.kill9()
            inflight = sql(leased_q)
            check(len(inflight) >= 1, "it2 held no lease when killed")
            for i, x in enumerate(qids):
                wait_state(x, "k%d@sink.test" % i, ("delivered",), timeout=60)
            # The survivor took them over only after the leases expired.
            late = sql("SELECT r.queue_id, r.delivered_at, k.exp FROM postern.queue_recipients r JOIN "
                       "(VALUES %s) k(qid, exp) ON k.qid = r.queue_id WHERE r.delivered_at < k.exp::timestamptz"
                       % ", ".join("(%s, %s)" % (q(a), q(e)) for a, _, e in inflight))
            check(late == [], "delivered before the dead node's lease expired: %r" % late)
            peer_msgs = peer.messages()[before:]
            ids = Counter(re.search(rb"(?im)^Message-ID: <([^>]*)>", m["data"]).group(1).decode()
                          for m in peer_msgs)
            want = {"%s-%d@example.test" % (run, i) for i in range(n)}
            check(set(ids) == want, "after kill -9: %d of %d messages received"
                  % (len(want & set(ids)), n))
            dup = sum(ids.values()) - n
            check(sum(ids.values()) >= n and dup <= len(inflight),
                  "received %d for %d sent: %d duplicates, but only %d recipients were in flight"
                  % (sum(ids.values()), n, dup, len(inflight)))
    finally:
        if it2 is not None:
            it2.kill9()
        peer.close()
        if listeners_changed:
            off = env.daemon.log_size()
            sql("BEGIN; DELETE FROM postern.listeners WHERE node = 'it2';"
                "UPDATE postern.listeners SET node = NULL WHERE node = 'it'; COMMIT;")
            env.daemon.wait_reload(off)
        shutil.rmtree(tmp, ignore_errors=True)


# ---- connection reuse ----

def test_delivery_reuses_connection_for_same_destination(env):
    """Five messages for one destination, made due at once, go through
    fewer SMTP connections than messages (the delivery thread keeps its
    session for the next group with the same route)."""
    need_peers()
    port = peer_port(8)
    peer = SmtpPeer(port)
    try:
        peer.start()
        with mx_route(env, mx_zone("reuse.test"), port, delivery_paused=True):
            msgs = [(["user%d@reuse.test" % i], b"Subject: reuse %d %s\r\n\r\nbody\r\n"
                     % (i, unique("reuse").encode())) for i in range(5)]
            qids = submit(msgs)
            check(peer.count() == 0, "delivered while delivery was paused: %d" % peer.count())
            off = env.daemon.log_size()
            sql("SELECT postern.delivery_pause(false)")
            got = peer.wait_messages(5, SEND_TIMEOUT)
            for i, qid in enumerate(qids):
                wait_state(qid, "user%d@reuse.test" % i, ("delivered",))
            env.daemon.wait_reload(off)
        conns = {m["conn"] for m in got}
        check(len(got) == 5, "peer got %d messages" % len(got))
        check(len(conns) < 5, "5 messages used %d connections: no reuse" % len(conns))
        ehlos = peer.verbs().count("EHLO")
        check(ehlos == len(conns), "EHLO %d times for %d connections" % (ehlos, len(conns)))
    finally:
        peer.close()
