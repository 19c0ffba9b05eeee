"""Protocol hardening (issue 12): smuggling, early talkers, slowloris, FQDN.

Each test sets small values in SQL and restores the harness defaults after
(the harness runs with settings.greet_pause_ms = 0 so the other suites do
not wait for greetings).  The greeting tests connect from their own
loopback source addresses (127.x.y.z), since a pass is remembered per
client address for settings.greet_pass_ttl.
"""
import os
import random
import select
import socket
import time

from harness import (ALICE, HOST, PORT_SMTP, PORT_SUBMISSION, TIMEOUT, Client, check, q,
                     queue_id_of, send_message, sql, unique, wait_until)


def set_setting(env, assignment):
    off = env.daemon.log_size()
    sql("UPDATE postern.settings SET " + assignment)
    env.daemon.wait_reload(off)


_NET = "127.%d.%d." % (random.randint(1, 250), os.getpid() % 250 + 1)
_next_src = [10]


def new_source():
    """A loopback address no earlier test of this run used."""
    _next_src[0] += 1
    return _NET + str(_next_src[0])


class SrcClient(Client):
    """Client connecting from a chosen source address."""

    def __init__(self, src, port=PORT_SMTP, timeout=TIMEOUT, greet=True):
        self.sock = socket.create_connection((HOST, port), timeout=timeout,
                                             source_address=(src, 0))
        self.sock.settimeout(timeout)
        self.buf = b""
        self.greeting = self.reply() if greet else None


def timed_greeting(c):
    t0 = time.monotonic()
    code, text = c.reply()
    return code, text, time.monotonic() - t0


def passed_row(addr):
    return sql("SELECT count(*) FROM postern.greet_passed WHERE client_addr = %s::inet"
               % q(addr))[0][0] == "1"


# ---- SMTP smuggling in commands ----

def test_hardening_bare_lf_and_cr_in_commands_refused(env):
    sender = unique("smuggle") + "@client.test"
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.send("MAIL FROM:<%s>\n" % sender)
        code, text = c.reply()
        check(code == 500 and text.startswith("500 5.5.2"), "bare LF command: %r" % text)
        c.send("NOOP\rMAIL FROM:<%s>\r\n" % sender)
        code, text = c.reply()
        check(code == 500 and text.startswith("500 5.5.2"), "bare CR command: %r" % text)
        # Nothing was executed: RCPT still needs MAIL.
        code, text = c.cmd("RCPT TO:<%s>" % ALICE)
        check(code == 503, "RCPT after refused MAIL: %r" % text)
        code, text = send_message(c, sender, [ALICE], "Subject: after\n\nok\n")
        queue_id_of(text)
        c.expect("QUIT", 221)


# ---- early talkers and the greeting pause ----

def test_hardening_greeting_pause_early_talker_and_pass(env):
    set_setting(env, "greet_pause_ms = 1500")
    try:
        # Talks before the 220: 554 5.5.1 and closed, not remembered.
        early = new_source()
        with SrcClient(early, greet=False) as c:
            c.send("EHLO early.test\r\n")
            code, text, dt = timed_greeting(c)
            check(code == 554 and text.startswith("554 5.5.1"), "early talker: %r" % text)
            check(c.closed(5), "early talker not closed")
        # Waits: greeted after the pause, then remembered (memory and the
        # shared table) and greeted at once the next time.
        patient = new_source()
        with SrcClient(patient, greet=False) as c:
            code, text, dt = timed_greeting(c)
            check(code == 220, "patient client: %r" % text)
            check(dt >= 1.3, "greeting after %.2f s, want the 1.5 s pause" % dt)
            c.expect("EHLO patient.test", 250)
            c.expect("QUIT", 221)
        wait_until(lambda: passed_row(patient), what="greet_passed row for the client")
        check(not passed_row(early), "the early talker was recorded as passed")
        with SrcClient(patient, greet=False) as c:
            code, text, dt = timed_greeting(c)
            check(code == 220 and dt < 0.8, "known client greeted after %.2f s" % dt)
        # A pass recorded by another node (the shared table) is honoured
        # after the next sync (every 2 s).
        other = new_source()
        sql("SELECT postern.greet_pass(%s::inet)" % q(other))
        time.sleep(4.5)
        with SrcClient(other, greet=False) as c:
            code, text, dt = timed_greeting(c)
            check(code == 220 and dt < 0.8,
                  "client passed on another node greeted after %.2f s" % dt)
        # Submission never pauses.
        with SrcClient(new_source(), port=PORT_SUBMISSION, greet=False) as c:
            code, text, dt = timed_greeting(c)
            check(code == 220 and dt < 0.8, "submission greeted after %.2f s" % dt)
    finally:
        set_setting(env, "greet_pause_ms = 0")
    check(env.daemon.alive(), "posternd stopped")


# ---- slowloris ----

def dribble(c, data, every=1.0, limit=15.0):
    """Sends data one byte every `every` seconds until the server answers;
    returns (code, text, seconds)."""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit:
        r, _, _ = select.select([c.sock], [], [], every)
        if r:
            break
        try:
            c.send(data[i % len(data):i % len(data) + 1])
        except OSError:
            break
        i += 1
    code, text = c.reply()
    return code, text, time.monotonic() - t0


def test_hardening_dribbled_command_line_times_out(env):
    set_setting(env, "command_timeout = 5")
    try:
        with Client(PORT_SMTP, timeout=20) as c:
            c.expect("EHLO client.test", 250)
            code, text, dt = dribble(c, b"NOOP " + b"x" * 100)
            check(code == 421 and text.startswith("421 4.4.2"), "dribbler: %r" % text)
            check(4.0 <= dt <= 8.0, "421 after %.1f s, want about 5" % dt)
            check(c.closed(5), "not closed after the 421")
    finally:
        set_setting(env, "command_timeout = 300")
    env.healthy_session()


def test_hardening_data_min_rate(env):
    set_setting(env, "data_timeout = 5, data_min_rate = 1000")
    try:
        # 3000 bytes/s for 7 s: above the rate, so longer than data_timeout
        # is fine.
        sender = unique("rate") + "@client.test"
        with Client(PORT_SMTP, timeout=20) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<%s>" % sender, 250)
            c.expect("RCPT TO:<%s>" % ALICE, 250)
            c.expect("DATA", 354)
            c.send("Subject: steady\r\n\r\n")
            for _ in range(7):
                c.send(("y" * 98 + "\r\n") * 30)
                time.sleep(1)
            c.send(".\r\n")
            code, text = c.reply()
            queue_id_of(text)
        # One byte per second: below the rate, 421 after about data_timeout.
        with Client(PORT_SMTP, timeout=20) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<%s>" % sender, 250)
            c.expect("RCPT TO:<%s>" % ALICE, 250)
            c.expect("DATA", 354)
            code, text, dt = dribble(c, b"slow text\r\n")
            check(code == 421 and text.startswith("421 4.4.2"), "slow DATA: %r" % text)
            check(4.0 <= dt <= 8.0, "421 after %.1f s, want about 5" % dt)
            check(c.closed(5), "not closed after the 421")
    finally:
        set_setting(env, "data_timeout = 300, data_min_rate = 500")
    env.healthy_session()


def test_hardening_session_max_lifetime(env):
    set_setting(env, "session_max_lifetime = 5")
    try:
        with Client(PORT_SMTP, timeout=20) as c:
            t0 = time.monotonic()
            c.expect("EHLO client.test", 250)
            code, text = 250, ""
            while code == 250 and time.monotonic() - t0 < 15:
                time.sleep(0.5)
                code, text = c.cmd("NOOP")
            dt = time.monotonic() - t0
            check(code == 421 and text.startswith("421 4.4.2") and "lifetime" in text,
                  "busy client past the lifetime: %r" % text)
            check(4.0 <= dt <= 8.0, "421 after %.1f s, want about 5" % dt)
            check(c.closed(5), "not closed after the 421")
    finally:
        set_setting(env, "session_max_lifetime = 3600")
    env.healthy_session()


# ---- the greeting names a fully qualified host ----

def test_hardening_greeting_name_is_fqdn_without_setting(env):
    set_setting(env, "hostname = ''")
    try:
        with Client(PORT_SMTP) as c:
            code, text = c.greeting
            name = text.split()[1]
            check(code == 220 and "." in name and not name.endswith("."),
                  "greeting without settings.hostname: %r" % text)
            ehlo = c.expect("EHLO client.test", 250)
            check(ehlo.split("\n")[0].split()[0] == "250-" + name,
                  "EHLO names %r, greeting %r" % (ehlo.split("\n")[0], name))
    finally:
        set_setting(env, "hostname = 'mx.example.test'")
