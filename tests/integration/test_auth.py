"""SMTP AUTH: only under TLS, PLAIN and LOGIN, failures slowed, live changes."""
import smtplib
import subprocess
import time

from harness import (ALICE, HOST, PASSWORD, PORT_SMTP, PORT_SMTPS, PORT_SUBMISSION, Client,
                     b64, check, client_ctx, plain_token)


def test_auth_refused_on_plaintext(env):
    for port in (PORT_SMTP, PORT_SUBMISSION):
        with Client(port) as c:
            caps = c.expect("EHLO client.test", 250)
            check("AUTH" not in caps, "AUTH offered in clear on %d: %r" % (port, caps))
            code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
            check(code == 530 and text == "530 5.7.0 Must issue a STARTTLS command first",
                  "AUTH PLAIN in clear on %d: %r" % (port, text))
            code, text = c.cmd("AUTH LOGIN")
            check(code == 530, "AUTH LOGIN in clear on %d: %r" % (port, text))
            # Still not authenticated: relaying is refused on 25, and the
            # submission listener wants AUTH before MAIL.
            if port == PORT_SUBMISSION:
                code, text = c.cmd("MAIL FROM:<%s>" % ALICE)
                check(text == "530 5.7.0 Authentication required", "MAIL after refused AUTH: %r" % text)
            else:
                c.expect("MAIL FROM:<%s>" % ALICE, 250)
                code, text = c.cmd("RCPT TO:<someone@other.test>")
                check(code == 554, "relay after refused AUTH: %r" % text)
            c.expect("QUIT", 221)


def auth_plain(c):
    code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
    check(code == 235 and text.startswith("235 2.7.0"), "AUTH PLAIN: %r" % text)


def auth_plain_continuation(c):
    c.expect("AUTH PLAIN", 334)
    code, text = c.cmd(plain_token(ALICE, PASSWORD))
    check(code == 235 and text.startswith("235 2.7.0"), "AUTH PLAIN (334 exchange): %r" % text)


def auth_login(c):
    code, text = c.cmd("AUTH LOGIN")
    check(code == 334 and text == "334 VXNlcm5hbWU6", "AUTH LOGIN: %r" % text)
    code, text = c.cmd(b64(ALICE))
    check(code == 334 and text == "334 UGFzc3dvcmQ6", "AUTH LOGIN user: %r" % text)
    code, text = c.cmd(b64(PASSWORD))
    check(code == 235 and text.startswith("235 2.7.0"), "AUTH LOGIN password: %r" % text)


def test_auth_plain_and_login_after_starttls(env):
    for port in (PORT_SMTP, PORT_SUBMISSION):
        for mech in (auth_plain, auth_plain_continuation, auth_login):
            with Client(port) as c:
                c.expect("EHLO client.test", 250)
                c.starttls()
                c.expect("EHLO client.test", 250)
                mech(c)
                c.expect("QUIT", 221)
    # smtplib's own AUTH implementation, too.
    with smtplib.SMTP(HOST, PORT_SUBMISSION, local_hostname="client.test", timeout=10) as s:
        s.starttls(context=client_ctx())
        code, text = s.login(ALICE, PASSWORD)
        check(code == 235 and text.startswith(b"2.7.0"), "smtplib login: %d %r" % (code, text))


def test_auth_plain_and_login_on_465(env):
    for mech in (auth_plain, auth_login):
        with Client(PORT_SMTPS, tls=True) as c:
            c.expect("EHLO client.test", 250)
            mech(c)
            c.expect("QUIT", 221)
    with smtplib.SMTP_SSL(HOST, PORT_SMTPS, local_hostname="client.test", timeout=10,
                          context=client_ctx()) as s:
        s.ehlo("client.test")
        # "AUTH LOGIN <user>" with an initial response (Python 3.11's
        # smtplib cannot do LOGIN without one, bpo-27820).
        s.user, s.password = ALICE, PASSWORD
        code, _ = s.auth("LOGIN", s.auth_login)
        check(code == 235, "smtplib AUTH LOGIN on 465: %d" % code)


def swaks(args):
    p = subprocess.run(["swaks", "--server", HOST, "--helo", "client.test",
                        "--from", ALICE, "--to", ALICE, "--auth-user", ALICE,
                        "--auth-password", PASSWORD, "--quit-after", "AUTH"] + args,
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_auth_with_swaks(env):
    rc, out = swaks(["--port", str(PORT_SUBMISSION), "--tls", "--auth", "PLAIN"])
    check(rc == 0 and "<~  235 2.7.0" in out, "swaks STARTTLS AUTH PLAIN (rc %d):\n%s" % (rc, out[-1500:]))
    rc, out = swaks(["--port", str(PORT_SMTPS), "--tlsc", "--auth", "LOGIN"])
    check(rc == 0 and "<~  235 2.7.0" in out, "swaks SMTPS AUTH LOGIN (rc %d):\n%s" % (rc, out[-1500:]))


def test_wrong_password_slowed_and_daemon_serves(env):
    with Client(PORT_SMTPS, tls=True) as c:
        c.expect("EHLO client.test", 250)
        t0 = time.monotonic()
        code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, "wrong-password"))
        dt = time.monotonic() - t0
        check(code == 535 and text.startswith("535 5.7.8"), "wrong password: %r" % text)
        check(dt >= 0.9, "535 came after %.2f s, expected a delay of about 1 s" % dt)
        # Unknown user: same answer, also slowed (no account probing).
        t0 = time.monotonic()
        code, text = c.cmd("AUTH PLAIN " + plain_token("nobody@example.test", "x"))
        dt = time.monotonic() - t0
        check(code == 535 and text.startswith("535 5.7.8"), "unknown user: %r" % text)
        check(dt >= 0.9, "535 for an unknown user after %.2f s" % dt)
        # The same session still works: a right password now succeeds.
        auth_plain(c)
        c.expect("QUIT", 221)
    # Other clients are served meanwhile and afterwards.
    with Client(PORT_SMTPS, tls=True) as c:
        c.expect("EHLO client.test", 250)
        t0 = time.monotonic()
        c.send("AUTH PLAIN " + plain_token(ALICE, "bad") + "\r\n")
        with Client(PORT_SMTP) as other:
            check(other.greeting[0] == 220, "other client during the AUTH delay: %r" % (other.greeting,))
            other.expect("NOOP", 250)
            check(time.monotonic() - t0 < 0.9, "another client waited for the AUTH delay")
        code, text = c.reply()
        check(code == 535, "delayed 535: %r" % text)
    env.healthy_session()


def test_auth_failures_limit_closes(env):
    limit = int(env_sql_value("SELECT max_auth_failures FROM postern.settings"))
    with Client(PORT_SMTPS, tls=True, timeout=20) as c:
        c.expect("EHLO client.test", 250)
        for i in range(limit):
            code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, "bad%d" % i))
            check(code == 535, "failure %d: %r" % (i + 1, text))
        code, text = c.reply()
        check(code == 421 and "4.7.0" in text, "after %d failures: %r" % (limit, text))
        check(c.closed(5), "connection not closed after too many AUTH failures")


def env_sql_value(query):
    from harness import sql_value
    return sql_value(query)


def test_live_auth_mechanism_change(env):
    from harness import sql
    try:
        off = env.daemon.log_size()
        sql("SELECT postern.set_auth('tls', '{PLAIN}')")
        env.daemon.wait_reload(off)
        for port in (PORT_SUBMISSION, PORT_SMTPS):
            with Client(port, tls=port == PORT_SMTPS) as c:
                if port != PORT_SMTPS:
                    c.expect("EHLO client.test", 250)
                    c.starttls()
                caps = c.expect("EHLO client.test", 250).splitlines()
                auth = [l for l in caps if l[4:].startswith("AUTH")]
                check(auth == ["250-AUTH PLAIN"], "AUTH line on %d after change: %r" % (port, caps))
                code, text = c.cmd("AUTH LOGIN")
                check(code == 504, "AUTH LOGIN after it was disabled: %r" % text)
                auth_plain(c)
                c.expect("QUIT", 221)
    finally:
        off = env.daemon.log_size()
        sql("SELECT postern.set_auth('tls', '{PLAIN,LOGIN}')")
        env.daemon.wait_reload(off)
    with Client(PORT_SMTPS, tls=True) as c:
        caps = c.expect("EHLO client.test", 250)
        check("250-AUTH PLAIN LOGIN" in caps, "AUTH not restored: %r" % caps)
