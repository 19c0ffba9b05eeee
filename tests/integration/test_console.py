"""postern-console end to end: the real console in tmux against postern_it
and the harness's running posternd.

Each test starts the console in its own tmux server (a private -L socket,
80x24, the terminal type tmux gives it; no forced TERM), drives it with
send-keys, reads the screen with capture-pane, and checks the result in SQL
and, for the security toggles, on the live daemon's EHLO.  Every wait is
bounded (harness.TIMEOUT), and every test puts back what it changed (rule
order, STARTTLS, AUTH, the queued message) in a finally block, so the tests
after it see the harness's configuration.

The console binary sits next to the daemon's ($POSTERN_BIN, so the
sanitizer build is tested under make check), or $POSTERN_CONSOLE_BIN.
"""
import os
import subprocess
import time

from harness import (ALICE, PORT_SMTP, PORT_SUBMISSION, TIMEOUT, Client, TestFailure,
                     check, q, queue_id_of, send_message, sql, sql_value, unique,
                     wait_until)


def console_bin(env):
    b = os.environ.get("POSTERN_CONSOLE_BIN")
    if b is None:
        b = os.path.join(os.path.dirname(env.daemon.bin), "postern-console")
    return b


class Console:
    """The console running in a private tmux server."""

    def __init__(self, env, width=80, height=24):
        self.sock = "postern-console-it-%d" % os.getpid()
        binary = console_bin(env)
        check(os.access(binary, os.X_OK), "no console binary at %s (make)" % binary)
        self.tmux("kill-server", check_rc=False)
        # The shell keeps the pane open after the console exits, so its
        # last words stay readable.
        cmd = "%s -c %s; echo \"console exited $?\"; sleep 600" % (binary, env.daemon.bootstrap)
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), "sh", "-c", cmd)
        self.wait("1 Rules", what="the console to start")

    def tmux(self, *args, check_rc=True):
        p = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null"] + list(args),
                           capture_output=True, text=True, timeout=TIMEOUT)
        if check_rc and p.returncode != 0:
            raise TestFailure("tmux %s: %s" % (" ".join(args), p.stderr.strip()))
        return p.stdout

    def screen(self):
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys):
        for k in keys:
            self.tmux("send-keys", k)
            time.sleep(0.05)

    def type(self, text):
        self.tmux("send-keys", "-l", text)

    def wait(self, text, what=None, timeout=TIMEOUT):
        try:
            return wait_until(lambda: text in self.screen(), timeout,
                              what=what or "%r on the screen" % text)
        except TestFailure as e:
            raise TestFailure("%s; screen:\n%s" % (e, self.screen()))

    def quit(self):
        self.keys("F10")
        self.wait("console exited 0", what="the console to quit")

    def close(self):
        self.tmux("kill-server", check_rc=False)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def ehlo(port, tls=False):
    """EHLO capabilities of the live daemon (after STARTTLS when tls)."""
    with Client(port) as c:
        text = c.expect("EHLO client.test", 250)
        if tls:
            c.starttls()
            text = c.expect("EHLO client.test", 250)
        c.cmd("QUIT")
    return [line[4:].upper() for line in text.splitlines()]


def wait_ehlo(pred, port, tls=False, what="EHLO"):
    last = []

    def ok():
        caps = ehlo(port, tls)
        last[:] = caps
        return pred(caps)
    try:
        wait_until(ok, TIMEOUT, interval=0.2, what=what)
    except TestFailure as e:
        raise TestFailure("%s; last EHLO: %r" % (e, last))


def rule_names():
    return [r[0] for r in sql("SELECT name FROM postern.rules ORDER BY position")]


def test_console_rule_move(env):
    names = rule_names()
    check(len(names) >= 2, "need two rules, have %r" % names)
    last = names[-1]
    with Console(env) as c:
        try:
            c.wait(last)
            c.keys("End", "F7")
            wait_until(lambda: rule_names()[-2:] == [last, names[-2]], TIMEOUT,
                       what="rule %s moved up in SQL" % last)
            c.wait("rule %s moved up" % last)
            # The list shows the new order: the moved rule above its neighbour.
            scr = c.screen()
            check(scr.index(last) < scr.index(names[-2]), "screen order:\n" + scr)
            c.keys("]")
            wait_until(lambda: rule_names() == names, TIMEOUT, what="rule moved back down")
            c.wait("rule %s moved down" % last)
            c.quit()
        finally:
            if rule_names() != names:
                sql("SELECT postern.rule_move(%s, %d)" % (q(last), len(names)))


def test_console_starttls_toggle(env):
    sql("SELECT postern.set_starttls_in(true)")
    with Console(env) as c:
        try:
            c.keys("3")
            c.wait("[on ] Allow STARTTLS inbound")
            c.keys("Home", "Space")
            c.wait("[off] Allow STARTTLS inbound")
            check(sql_value("SELECT allow_starttls FROM postern.settings") == "f",
                  "settings.allow_starttls still on")
            wait_ehlo(lambda caps: "STARTTLS" not in caps, PORT_SMTP,
                      what="EHLO without STARTTLS")
            c.keys("Space")
            c.wait("[on ] Allow STARTTLS inbound")
            check(sql_value("SELECT allow_starttls FROM postern.settings") == "t",
                  "settings.allow_starttls still off")
            wait_ehlo(lambda caps: "STARTTLS" in caps, PORT_SMTP, what="EHLO with STARTTLS")
            c.quit()
        finally:
            sql("SELECT postern.set_starttls_in(true)")


def auth_mechs(conn):
    return sql_value("SELECT mechs FROM postern.auth_policy WHERE connection = %s" % q(conn))


def test_console_auth_toggle(env):
    # Start from the harness's policy (no AUTH in clear, PLAIN and LOGIN
    # over TLS) whatever an earlier test left, and put the old one back.
    plain0, tls0 = auth_mechs("plain"), auth_mechs("tls")
    sql("SELECT postern.set_auth('tls', '{PLAIN,LOGIN}'); SELECT postern.set_auth('plain', '{}')")
    with Console(env) as c:
        try:
            c.keys("3")
            c.wait("AUTH on TLS connections: PLAIN,LOGIN")
            # Items: 0 STARTTLS in, 1 out, 2/3 plain PLAIN/LOGIN, 4/5 TLS PLAIN/LOGIN.
            c.keys("Home", "Down", "Down", "Down", "Down", "Down", "Space")
            c.wait("AUTH on TLS connections: PLAIN ")
            check(auth_mechs("tls") == "{PLAIN}", "tls mechs %s" % auth_mechs("tls"))
            wait_ehlo(lambda caps: "AUTH PLAIN" in caps and not any("LOGIN" in x for x in caps),
                      PORT_SUBMISSION, tls=True, what="EHLO after STARTTLS with AUTH PLAIN only")
            c.keys("Space")
            c.wait("AUTH on TLS connections: PLAIN,LOGIN")
            wait_ehlo(lambda caps: "AUTH PLAIN LOGIN" in caps, PORT_SUBMISSION, tls=True,
                      what="EHLO after STARTTLS with AUTH PLAIN LOGIN")
            # AUTH PLAIN on plain connections: offered before STARTTLS, then off.
            c.keys("Up", "Up", "Up", "Space")
            c.wait("AUTH on plain connections (no TLS): PLAIN ")
            c.wait("Warning: AUTH without TLS")
            wait_ehlo(lambda caps: "AUTH PLAIN" in caps, PORT_SUBMISSION,
                      what="EHLO without TLS offering AUTH PLAIN")
            c.keys("Space")
            c.wait("AUTH on plain connections (no TLS): off")
            wait_ehlo(lambda caps: not any(x.startswith("AUTH") for x in caps), PORT_SUBMISSION,
                      what="EHLO without TLS and without AUTH")
            c.quit()
        finally:
            sql("SELECT postern.set_auth('tls', %s); SELECT postern.set_auth('plain', %s)"
                % (q(tls0), q(plain0)))


def test_console_queue_hold(env):
    sender = unique("console") + "@client.test"
    with Client(PORT_SMTP) as cl:
        code, text = send_message(cl, sender, [ALICE], "Subject: console test\n\nhold me\n")
        qid = queue_id_of(text)
        cl.expect("QUIT", 221)
    try:
        # Hold acts on queued and deferred recipients; wait until no delivery
        # attempt holds a lease on it (its result would overwrite the hold).
        wait_until(lambda: sql_value(
            "SELECT count(*) FROM postern.queue_recipients WHERE queue_id = %s "
            "AND state IN ('queued', 'deferred') AND (lease_owner IS NULL OR "
            "lease_expires < now())" % q(qid)) == "1", TIMEOUT, interval=0.2,
            what="message %s queued and not being delivered" % qid)
        with Console(env) as c:
            c.keys("2")
            c.wait("pending recipients")
            # Filter on the unique sender: the message is the only row.
            c.keys("F4")
            c.wait("Queue filter")
            c.keys("Down", "Down")
            c.type(sender)
            c.keys("Enter")
            c.wait("filter applied")
            c.wait(qid)
            c.wait("1 pending recipients")
            check(ALICE in c.screen(), "recipient not shown:\n" + c.screen())
            c.keys("h")
            c.wait("queue_hold: 1 message, 1 recipient changed")
            state = sql_value("SELECT state FROM postern.queue_recipients WHERE queue_id = %s"
                              % q(qid))
            check(state == "held", "state after hold: %s" % state)
            c.wait("held ")
            c.quit()
    finally:
        sql("SELECT postern.queue_delete(%s)" % q(qid))


def test_console_rejected_rule_edit(env):
    names = rule_names()
    last = names[-1]
    before = sql("SELECT conditions, actions FROM postern.rules_overview WHERE name = %s"
                 % q(last))
    with Console(env) as c:
        c.wait(last)
        c.keys("End", "e")
        c.wait("Edit rule %s" % last)
        # Fields: Name, Match, Description, Condition 1 ...
        c.keys("Down", "Down", "Down")
        c.type("conn_remote_addr in_cidr 10.0.0.0/33")
        c.keys("Enter")
        c.wait('"10.0.0.0/33" is not a valid CIDR')
        after = sql("SELECT conditions, actions FROM postern.rules_overview WHERE name = %s"
                    % q(last))
        check(after == before, "rule changed by a rejected edit: %r -> %r" % (before, after))
        c.keys("Escape")
        c.wait("cancelled, nothing changed")
        c.quit()
    check(rule_names() == names, "rules changed: %r" % rule_names())


def test_console_aliases(env):
    src = "zz-console@example.test"
    try:
        with Console(env) as c:
            c.keys("6")
            c.wait("Targets (* = remote")
            c.keys("F2")
            c.wait("Add alias")
            c.type(src)
            c.keys("Down")
            c.type("alice@example.test, friend@far.test")
            c.keys("Enter")
            c.wait("alias %s saved" % src)
            rows = sql("SELECT target FROM postern.aliases WHERE source = %s ORDER BY target" % q(src))
            check(rows == [["alice@example.test"], ["friend@far.test"]], "aliases after add: %r" % rows)
            c.wait("* alice@example.test, friend@far.test")
            # A target that is not an address is refused in the form.
            c.keys("End", "e")
            c.wait("Edit alias")
            c.keys("Down", "C-u")
            c.type("nobody")
            c.keys("Enter")
            c.wait('target "nobody" is not an address')
            c.keys("Escape")
            c.wait("cancelled, nothing changed")
            # Replace the targets.
            c.keys("End", "e")
            c.wait("Edit alias")
            c.keys("Down", "C-u")
            c.type("bob@example.test")
            c.keys("Enter")
            c.wait("alias %s saved" % src)
            rows = sql("SELECT target FROM postern.aliases WHERE source = %s" % q(src))
            check(rows == [["bob@example.test"]], "aliases after edit: %r" % rows)
            c.keys("End", "d")
            c.wait("Delete alias %s" % src)
            c.keys("y")
            c.wait("alias %s deleted" % src)
            check(sql_value("SELECT count(*) FROM postern.aliases WHERE source = %s" % q(src)) == "0",
                  "alias not deleted")
            c.quit()
    finally:
        sql("DELETE FROM postern.aliases WHERE source = %s" % q(src))
