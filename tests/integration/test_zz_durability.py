"""Durability: a 250 means committed; a failed commit means 451 and nothing stored.
(Named zz so that it runs last: it kills and restarts the daemon.)"""
import time

from harness import (ALICE, BOB, PORT_SMTP, Client, check, q, queue_id_of, send_message, sql,
                     sql_value, unique)


def test_kill9_after_250_keeps_message(env):
    sender = unique("crash") + "@client.test"
    c = Client(PORT_SMTP)
    try:
        code, text = send_message(c, sender, [ALICE, BOB, "postmaster"], "Subject: crash\n\nbefore the crash\n")
        qid = queue_id_of(text)
        env.daemon.kill9()
        check(c.closed(5), "connection survived SIGKILL")
    finally:
        c.close()
    env.daemon.start()
    # queued, or deferred when the delivery engine tried it before the kill
    # (maildir_root is NULL here): in the queue either way.
    rows = sql("SELECT m.sender, r.rcpt_no, r.address, CASE WHEN r.state = 'deferred' THEN 'queued' "
               "ELSE r.state::text END FROM postern.messages m "
               "JOIN postern.recipients r ON r.message_id = m.id WHERE m.queue_id = %s "
               "ORDER BY r.rcpt_no" % q(qid))
    check(rows == [[sender, "0", ALICE, "queued"], [sender, "1", BOB, "queued"],
                   [sender, "2", "postmaster", "queued"]], "after kill -9: %r" % rows)
    check(sql_value("SELECT count(*) FROM postern.bodies b JOIN postern.messages m ON m.id = b.message_id "
                    "WHERE m.queue_id = %s" % q(qid)) == "1", "body missing after kill -9")
    env.healthy_session()


def test_restart_sigterm_clean(env):
    off = env.daemon.log_size()
    env.daemon.stop()
    log = env.daemon.log_since(off)
    check("posternd stopped" in log, "no clean stop logged: %r" % log[-500:])
    env.daemon.start()
    env.healthy_session()


def test_commit_failure_answers_451_and_stores_nothing(env):
    sender = unique("dbfail") + "@client.test"
    off = env.daemon.log_size()
    sql("SELECT postern.add_account('block@example.test')")
    try:
        env.daemon.wait_reload(off)
        sql("ALTER TABLE postern.recipients ADD CONSTRAINT tmp_block "
            "CHECK (address <> 'block@example.test')")
        with Client(PORT_SMTP) as c:
            code, text = send_message(c, sender, [ALICE, "block@example.test"],
                                      "Subject: cannot commit\n\nx\n")
            check(code == 451 and text.startswith("451 4.3.0"), "failed commit: %r" % text)
            # The session goes on and the next message is accepted.
            c.expect("RSET", 250)
            code, text = send_message(c, sender, [ALICE], "Subject: fine\n\ny\n", ehlo="client.test")
            qid = queue_id_of(text)
            c.expect("QUIT", 221)
        rows = sql("SELECT m.queue_id, r.address FROM postern.messages m LEFT JOIN postern.recipients r "
                   "ON r.message_id = m.id WHERE m.sender = %s" % q(sender))
        check(rows == [[qid, ALICE]], "rows for the sender: %r (only the second message expected)" % rows)
        check(sql_value("SELECT count(*) FROM postern.bodies b WHERE NOT EXISTS (SELECT 1 FROM "
                        "postern.recipients r WHERE r.message_id = b.message_id)") == "0",
              "a body without recipients was stored")
    finally:
        sql("ALTER TABLE postern.recipients DROP CONSTRAINT IF EXISTS tmp_block")
        off = env.daemon.log_size()
        sql("DELETE FROM postern.accounts WHERE address = 'block@example.test'")
        env.daemon.wait_reload(off)
    env.healthy_session()
