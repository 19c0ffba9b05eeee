"""Limits that protect everyone else (issue 12): commit batches bounded by
bytes, one bad message failing alone, AUTH throttle failing closed, the
current account data deciding AUTH and relaying."""
import subprocess
import threading
import time

from harness import (ALICE, DBNAME, PASSWORD, PGHOST, PGPORT, PORT_SMTP, PORT_SMTPS, Client,
                     check, plain_token, q, queue_id_of, send_message, sql, sql_value, unique)

MIB = 1024 * 1024


def set_setting(env, assignment):
    off = env.daemon.log_size()
    sql("UPDATE postern.settings SET " + assignment)
    env.daemon.wait_reload(off)


def peak_rss_kib(env):
    with open("/proc/%d/status" % env.daemon.proc.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def big_body(size):
    line = "Large message line of seventy-seven characters for the batch limit test.\r\n"
    n = size // len(line)
    return "Subject: large\r\n\r\n" + line * n


def test_forty_concurrent_25mib_messages(env):
    set_setting(env, "max_message_size = %d" % (30 * MIB))
    body = big_body(25 * MIB)
    tag = unique("large")
    results = [None] * 40
    before = peak_rss_kib(env)

    def one(i):
        try:
            with Client(PORT_SMTP, timeout=240) as c:
                results[i] = send_message(c, "%s-%d@client.test" % (tag, i), [ALICE], body)
                c.expect("QUIT", 221)
        except Exception as e:  # reported below
            results[i] = (0, repr(e))

    try:
        t0 = time.monotonic()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        dt = time.monotonic() - t0
        peak = peak_rss_kib(env)
        print("40 x 25 MiB: %.1f s, posternd peak RSS %d MiB (before %d MiB)" %
              (dt, peak // 1024, before // 1024))
        for i, r in enumerate(results):
            check(r is not None and r[0] == 250, "message %d: %r" % (i, r))
            queue_id_of(r[1])
        check(sql_value("SELECT count(*) FROM postern.messages WHERE sender LIKE %s" %
                        q(tag + "-%")) == "40", "not all 40 stored")
        # Batches are bounded by bytes: at most db_connections messages of
        # 25 MiB are in memory at once (twice each while sent), never the 40.
        check(peak < 900 * 1024, "peak RSS %d MiB: large messages were batched together" %
              (peak // 1024))
    finally:
        sql("DELETE FROM postern.messages WHERE sender LIKE %s" % q(tag + "-%"))
        set_setting(env, "max_message_size = 26214400")
    env.healthy_session()


def hold_messages_table(seconds):
    """Blocks INSERTs into postern.messages for a while (a psql in the
    background), so store jobs pile up and are committed as one batch."""
    return subprocess.Popen(
        ["psql", "-X", "-q", "-h", PGHOST, "-p", PGPORT, "-U", "postern", "-d", DBNAME,
         "-c", "BEGIN; LOCK TABLE postern.messages IN SHARE ROW EXCLUSIVE MODE; "
               "SELECT pg_sleep(%s); COMMIT;" % seconds],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_bad_message_does_not_fail_its_batch(env):
    tag = unique("batch")
    sql("ALTER TABLE postern.messages ADD CONSTRAINT \"test: no poison sender\" "
        "CHECK (sender NOT LIKE 'poison%') NOT VALID")
    results = {}

    def one(sender):
        try:
            with Client(PORT_SMTP, timeout=30) as c:
                results[sender] = send_message(c, sender, [ALICE], "Subject: batch\r\n\r\nhello\r\n")
        except Exception as e:
            results[sender] = (0, repr(e))

    off = env.daemon.log_size()
    try:
        lock = hold_messages_table(3)
        time.sleep(0.5)
        # First wave: occupies every committer (blocked on the lock).
        first = ["%s-a%d@client.test" % (tag, i) for i in range(6)]
        threads = [threading.Thread(target=one, args=(s,)) for s in first]
        for t in threads:
            t.start()
        time.sleep(1.0)
        # Second wave, one bad message among good ones: one batch.
        second = ["%s-b%d@client.test" % (tag, i) for i in range(8)]
        poison = "poison-%s@client.test" % tag
        batch2 = second[:4] + [poison] + second[4:]
        threads2 = [threading.Thread(target=one, args=(s,)) for s in batch2]
        for t in threads2:
            t.start()
        for t in threads + threads2:
            t.join(60)
        lock.wait(30)
        for s in first + second:
            check(results.get(s, (0,))[0] == 250, "good message %s: %r" % (s, results.get(s)))
        code, text = results.get(poison, (0, ""))
        check(code == 451 and text.startswith("451 4.3.0"), "bad message: %r" % (results.get(poison),))
        check("one by one" in env.daemon.log_since(off),
              "the bad message was never in a batch with others (no retry logged)")
        check(sql_value("SELECT count(*) FROM postern.messages WHERE sender LIKE %s" %
                        q(tag + "-%")) == str(len(first) + len(second)), "good messages not all stored")
    finally:
        sql("ALTER TABLE postern.messages DROP CONSTRAINT IF EXISTS \"test: no poison sender\"")
    env.healthy_session()


def auth(c, user, password):
    return c.cmd("AUTH PLAIN " + plain_token(user, password))


def test_auth_throttle_fails_closed(env):
    sql("REVOKE EXECUTE ON FUNCTION postern.auth_penalty(text) FROM PUBLIC, postern")
    try:
        with Client(PORT_SMTPS, tls=True) as c:
            c.expect("EHLO client.test", 250)
            code, text = auth(c, ALICE, PASSWORD)
            check(code == 454 and text.startswith("454 4.7.0"),
                  "AUTH with an unreadable throttle: %r" % text)
            # The session goes on and the daemon serves.
            c.expect("NOOP", 250)
    finally:
        sql("GRANT EXECUTE ON FUNCTION postern.auth_penalty(text) TO PUBLIC, postern")
    with Client(PORT_SMTPS, tls=True) as c:
        c.expect("EHLO client.test", 250)
        code, text = auth(c, ALICE, PASSWORD)
        check(code == 235, "AUTH once the throttle is readable again: %r" % text)
    env.healthy_session()


def relay_allowed(c):
    """The reply to RCPT TO a remote address, or to MAIL when refused (on
    the submission listener an unauthenticated MAIL gets 530)."""
    code, text = c.cmd("MAIL FROM:<%s>" % ALICE)
    if code == 250:
        code, text = c.cmd("RCPT TO:<someone@other.test>")
    c.expect("RSET", 250)
    return code, text


def test_disabled_account_loses_relay_at_next_mail(env):
    with Client(PORT_SMTPS, tls=True) as c:
        c.expect("EHLO client.test", 250)
        code, text = auth(c, ALICE, PASSWORD)
        check(code == 235, "AUTH: %r" % text)
        code, text = relay_allowed(c)
        check(code == 250, "relay while authenticated: %r" % text)
        off = env.daemon.log_size()
        sql("UPDATE postern.accounts SET enabled = false WHERE address = %s" % q(ALICE))
        try:
            env.daemon.wait_reload(off)
            code, text = relay_allowed(c)
            check(text == "530 5.7.0 Authentication required",
                  "relay after the account was disabled: %r" % text)
            check("smtp auth revoked" in env.daemon.log_since(off), "revocation not logged")
            with Client(PORT_SMTPS, tls=True) as c2:
                c2.expect("EHLO client.test", 250)
                code, text = auth(c2, ALICE, PASSWORD)
                check(code == 535, "AUTH as a disabled account: %r" % text)
        finally:
            off = env.daemon.log_size()
            sql("UPDATE postern.accounts SET enabled = true WHERE address = %s" % q(ALICE))
            env.daemon.wait_reload(off)
            sql("SELECT postern.auth_forgive('127.0.0.1')")


def test_changed_password_loses_relay_at_next_mail(env):
    with Client(PORT_SMTPS, tls=True) as c:
        c.expect("EHLO client.test", 250)
        code, text = auth(c, ALICE, PASSWORD)
        check(code == 235, "AUTH: %r" % text)
        off = env.daemon.log_size()
        sql("SELECT postern.set_password(%s, 'another-secret-99')" % q(ALICE))
        try:
            env.daemon.wait_reload(off)
            code, text = relay_allowed(c)
            check(text == "530 5.7.0 Authentication required",
                  "relay after the password changed: %r" % text)
            # Authenticating again with the new password restores it.
            code, text = auth(c, ALICE, "another-secret-99")
            check(code == 235, "AUTH with the new password: %r" % text)
            code, text = relay_allowed(c)
            check(code == 250, "relay after AUTH with the new password: %r" % text)
        finally:
            off = env.daemon.log_size()
            sql("SELECT postern.set_password(%s, %s)" % (q(ALICE), q(PASSWORD)))
            env.daemon.wait_reload(off)
