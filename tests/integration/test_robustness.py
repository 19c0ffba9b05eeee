"""Bad input never stops the daemon from serving others."""
import os
import socket

from harness import ALICE, PORT_SMTP, PORT_SMTPS, Client, check, q, sql, unique


def begin_data(c, sender):
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<%s>" % sender, 250)
    c.expect("RCPT TO:<%s>" % ALICE, 250)
    c.expect("DATA", 354)


def stored(sender):
    return int(sql("SELECT count(*) FROM postern.messages WHERE sender = %s" % q(sender))[0][0])


def test_bare_lf_in_data_refused(env):
    sender = unique("barelf") + "@client.test"
    with Client(PORT_SMTP) as c:
        begin_data(c, sender)
        c.send("Subject: bare lf\r\n\r\nline one\nline two\r\n.\r\n")
        code, text = c.reply()
        check(code == 550 and text.startswith("550 5.6.0"), "bare LF: %r" % text)
        # SMTP smuggling: "\n.\r\n" must not end the data.
        c.expect("MAIL FROM:<%s>" % sender, 250)
        c.expect("RCPT TO:<%s>" % ALICE, 250)
        c.expect("DATA", 354)
        c.send("Subject: smuggle\r\n\r\nx\n.\r\nMAIL FROM:<evil@client.test>\r\n.\r\n")
        code, text = c.reply()
        check(code == 550 and text.startswith("550 5.6.0"), "smuggling attempt: %r" % text)
        c.expect("NOOP", 250)
        c.expect("QUIT", 221)
    check(stored(sender) == 0, "a refused message was stored")
    env.healthy_session()


def test_nul_bare_cr_and_long_line_in_data_refused(env):
    sender = unique("baddata") + "@client.test"
    for bad in ("nul \0 here\r\n", "bare \r cr\r\n", "z" * 1200 + "\r\n"):
        with Client(PORT_SMTP) as c:
            begin_data(c, sender)
            c.send("Subject: bad\r\n\r\n" + bad + ".\r\n")
            code, text = c.reply()
            check(code == 550 and text.startswith("550 5.6.0"), "%r in DATA: %r" % (bad[:12], text))
            c.expect("NOOP", 250)
    check(stored(sender) == 0, "a refused message was stored")
    env.healthy_session()


def test_overlong_command_line(env):
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        code, text = c.cmd("NOOP " + "x" * 600)
        check(code == 500 and text.startswith("500 5.5.2"), "600-byte line: %r" % text)
        code, text = c.cmd("NOOP " + "y" * 100000)
        check(code == 500 and text.startswith("500 5.5.2"), "100 kB line: %r" % text)
        c.expect("NOOP", 250)
        c.expect("QUIT", 221)
    env.healthy_session()


def test_nul_in_command(env):
    with Client(PORT_SMTP) as c:
        code, text = c.cmd("EHLO cli\0ent.test")
        check(code == 500 and text.startswith("500 5.5.2"), "NUL in command: %r" % text)
        c.expect("EHLO client.test", 250)
        c.expect("QUIT", 221)
    env.healthy_session()


def test_garbage_binary_bytes(env):
    for seed in range(3):
        with Client(PORT_SMTP, timeout=5) as c:
            try:
                c.send(os.urandom(20000) + b"\r\n" + bytes(range(256)) * 20 + b"\r\n")
                c.send("QUIT\r\n")
                c.closed(5)
            except (ConnectionResetError, BrokenPipeError):
                pass
    with Client(PORT_SMTPS, greet=False, timeout=5) as c:
        try:
            c.send(os.urandom(5000))
        except (ConnectionResetError, BrokenPipeError):
            pass
        check(c.closed(5), "SMTPS connection fed garbage stays open")
    env.healthy_session()


def test_http_request_closed_with_421(env):
    with Client(PORT_SMTP) as c:
        c.send("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl\r\n\r\n")
        code, text = c.reply()
        check(code == 421, "GET: %r" % text)
        check(c.closed(5), "connection stays open after an HTTP request")
    with Client(PORT_SMTP) as c:
        c.send("POST /x HTTP/1.0\r\n\r\n")
        check(c.reply()[0] == 421, "POST")
    env.healthy_session()


def test_pipelined_data_before_354(env):
    sender = unique("early") + "@client.test"
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<%s>" % sender, 250)
        c.expect("RCPT TO:<%s>" % ALICE, 250)
        c.send("DATA\r\nSubject: too early\r\n\r\nbody\r\n.\r\n")
        code, text = c.reply()
        check(code == 554 and text.startswith("554 5.5.0"), "text before 354: %r" % text)
        check(c.closed(5), "session not ended after improper pipelining")
    check(stored(sender) == 0, "message sent before 354 was stored")
    env.healthy_session()


def test_everything_at_once_then_normal_session(env):
    """Abuse on many connections at the same time; then a normal session."""
    socks = []
    try:
        for i in range(10):
            s = socket.create_connection(("127.0.0.1", PORT_SMTP if i % 2 else PORT_SMTPS), timeout=5)
            socks.append(s)
        for s in socks:
            try:
                s.sendall(os.urandom(3000) + b"\r\nGET / HTTP/1.1\r\n" + b"\0" * 100)
            except OSError:
                pass
    finally:
        for s in socks:
            s.close()
    env.healthy_session()
    env.healthy_session(PORT_SMTP)
    check(env.daemon.alive(), "posternd died")
