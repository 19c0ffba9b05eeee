"""Limits from settings, applied live; invalid settings refused by SQL."""
import time

from harness import (ALICE, BOB, PORT_SMTP, PORT_SMTPS, Client, check, q, queue_id_of,
                     send_message, sql, sql_try, sql_value, unique)


def set_setting(env, assignment):
    off = env.daemon.log_size()
    sql("UPDATE postern.settings SET " + assignment)
    env.daemon.wait_reload(off)


def test_per_ip_connection_limit(env):
    set_setting(env, "max_connections_per_ip = 3")
    try:
        for attempt in range(3):
            clients = []
            try:
                refused_at = None
                for i in range(4):
                    c = Client(PORT_SMTP)
                    clients.append(c)
                    if c.greeting[0] != 220:
                        refused_at = i
                        break
                if refused_at == 3:
                    code, text = c.greeting
                    check(code == 421 and text.startswith("421 4.7.0"), "4th connection: %r" % text)
                    check(c.closed(5), "refused connection stays open")
                    # The three others still work.
                    for other in clients[:3]:
                        other.expect("NOOP", 250)
                    break
                # An earlier test's connection was still being torn down.
                check(refused_at is not None, "4 connections accepted with max_connections_per_ip = 3")
            finally:
                for c in clients:
                    c.close()
            time.sleep(0.5)
        else:
            check(False, "connection %s refused instead of the 4th" % refused_at)
        # Once they are closed, connections are accepted again.
        time.sleep(0.3)
        with Client(PORT_SMTP) as c:
            check(c.greeting[0] == 220, "after closing: %r" % (c.greeting,))
    finally:
        set_setting(env, "max_connections_per_ip = 50")
    env.healthy_session()


def test_size_limit(env):
    with Client(PORT_SMTP) as c:
        caps = c.expect("EHLO client.test", 250)
        check("250-SIZE 26214400" in caps, "SIZE not advertised: %r" % caps)
        code, text = c.cmd("MAIL FROM:<a@client.test> SIZE=26214401")
        check(code == 552 and text.startswith("552 5.3.4"), "declared SIZE over limit: %r" % text)
        c.expect("MAIL FROM:<a@client.test> SIZE=1000", 250)
        c.expect("QUIT", 221)
    sender = unique("big") + "@client.test"
    set_setting(env, "max_message_size = 4096")
    try:
        with Client(PORT_SMTP) as c:
            caps = c.expect("EHLO client.test", 250)
            check("250-SIZE 4096" in caps, "new SIZE not advertised: %r" % caps)
            code, text = send_message(c, sender, [ALICE], "Subject: big\n\n" + ("x" * 70 + "\n") * 100)
            check(code == 552 and text.startswith("552 5.3.4"), "body over the limit: %r" % text)
            c.expect("NOOP", 250)
        check(sql_value("SELECT count(*) FROM postern.messages WHERE sender = %s" % q(sender)) == "0",
              "oversized message stored")
    finally:
        set_setting(env, "max_message_size = 26214400")


def test_too_many_recipients(env):
    set_setting(env, "max_recipients = 2")
    try:
        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<many@client.test>", 250)
            c.expect("RCPT TO:<%s>" % ALICE, 250)
            c.expect("RCPT TO:<%s>" % BOB, 250)
            code, text = c.cmd("RCPT TO:<postmaster>")
            check(code == 452 and text.startswith("452 4.5.3"), "3rd recipient: %r" % text)
            c.expect("DATA", 354)
            c.send("Subject: two\r\n\r\nok\r\n.\r\n")
            qid = queue_id_of(c.reply()[1])
            c.expect("QUIT", 221)
        n = sql_value("SELECT count(*) FROM postern.recipients r JOIN postern.messages m "
                      "ON m.id = r.message_id WHERE m.queue_id = %s" % q(qid))
        check(n == "2", "stored recipients %s" % n)
    finally:
        set_setting(env, "max_recipients = 100")


def test_error_counter_ends_session(env):
    limit = int(sql_value("SELECT max_errors FROM postern.settings"))
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        for i in range(limit - 1):
            code, text = c.cmd("BOGUS%d" % i)
            check(code == 500, "error %d: %r" % (i + 1, text))
        c.send("BOGUS-last\r\n")
        code, text = c.reply()
        check(code == 500, "last error: %r" % text)
        code, text = c.reply()
        check(code == 421 and text.startswith("421 4.7.0"), "after %d errors: %r" % (limit, text))
        check(c.closed(5), "session not closed after max_errors")
    env.healthy_session()


def test_invalid_config_refused_by_database(env):
    pid = env.daemon.proc.pid
    ok, _, err = sql_try("UPDATE postern.settings SET max_recipients = 0")
    check(not ok and "max_recipients" in err, "max_recipients = 0: ok=%s err=%r" % (ok, err))
    ok, _, err = sql_try("UPDATE postern.listeners SET port = 70000 WHERE name = 'smtp'")
    check(not ok and "listeners.port" in err, "port 70000: ok=%s err=%r" % (ok, err))
    ok, _, err = sql_try("UPDATE postern.listeners SET address = 'localhost' WHERE name = 'smtp'")
    check(not ok and "listeners.address" in err, "address localhost: ok=%s err=%r" % (ok, err))
    check(sql_value("SELECT max_recipients FROM postern.settings") == "100", "value changed")
    time.sleep(0.3)
    check(env.daemon.alive() and env.daemon.proc.pid == pid, "posternd stopped")
    env.healthy_session()


def test_unloadable_config_keeps_running_config(env):
    # Valid for the database, but the daemon cannot read the files: the
    # reload is refused and the running configuration stays in force.
    cert, key = env.cert, env.key
    off = env.daemon.log_size()
    try:
        sql("UPDATE postern.settings SET tls_cert_file = '/nonexistent/cert.pem', "
            "tls_key_file = '/nonexistent/key.pem'")
        env.daemon.wait_log(r"config: reload refused", off)
        with Client(PORT_SMTPS, tls=True) as c:
            check(c.greeting[0] == 220, "smtps after a refused reload: %r" % (c.greeting,))
        env.healthy_session()
    finally:
        off = env.daemon.log_size()
        sql("UPDATE postern.settings SET tls_cert_file = %s, tls_key_file = %s" % (q(cert), q(key)))
        env.daemon.wait_reload(off)
    check(env.daemon.alive(), "posternd stopped")


def test_idle_timeout_421(env):
    set_setting(env, "command_timeout = 5")
    try:
        with Client(PORT_SMTP, timeout=15) as c:
            c.expect("EHLO client.test", 250)
            t0 = time.monotonic()
            code, text = c.reply()
            dt = time.monotonic() - t0
            check(code == 421 and text.startswith("421 4.4.2"), "idle client: %r" % text)
            check(4.5 <= dt <= 7.5, "timeout after %.1f s, want about 5" % dt)
            check(c.closed(5), "not closed after the timeout")
    finally:
        set_setting(env, "command_timeout = 300")
    env.healthy_session()
