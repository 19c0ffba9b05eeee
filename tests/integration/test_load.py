"""Larger messages and concurrent clients (smtp-source)."""
import shutil
import subprocess

from harness import (ALICE, PASSWORD, PORT_SMTP, PORT_SMTPS, PORT_SUBMISSION, Client, check,
                     plain_token, q, queue_id_of, send_message, sql_value, unique)


def big_body(n_lines, tag):
    lines = ["Subject: big %s" % tag, ""]
    for i in range(n_lines):
        lines.append("%08d %s" % (i, "abcdefghijklmnopqrstuvwxyz0123456789" * 2))
    return "\n".join(lines) + "\n", sum(len(l) + 2 for l in lines)


def check_stored(qid, min_size):
    size = sql_value("SELECT octet_length(b.data) FROM postern.bodies b JOIN postern.messages m "
                     "ON m.id = b.message_id WHERE m.queue_id = %s" % q(qid))
    check(size is not None and int(size) >= min_size, "stored body of %s: %s bytes, want >= %d"
          % (qid, size, min_size))


def test_large_message_over_tls_and_plain(env):
    # 3 MB: more than the in-memory spool and many TLS records.
    body, nbytes = big_body(35000, "tls")
    for port, tls, starttls in ((PORT_SMTPS, True, False), (PORT_SUBMISSION, False, True),
                                (PORT_SMTP, False, False)):
        with Client(port, tls=tls, timeout=30) as c:
            sender = unique("big") + "@client.test"
            if starttls:
                c.expect("EHLO client.test", 250)
                c.starttls()
            if port != PORT_SMTP:
                # Submission listeners: AUTH first, from the user's address.
                c.expect("EHLO client.test", 250)
                c.expect("AUTH PLAIN " + plain_token(ALICE, PASSWORD), 235)
                sender = ALICE
            code, text = send_message(c, sender, [ALICE], body)
            qid = queue_id_of(text)
            # Pipelined after a big DATA: the next commands are answered.
            c.send("NOOP\r\nQUIT\r\n")
            check(c.reply()[0] == 250 and c.reply()[0] == 221, "commands after a big message")
        check_stored(qid, nbytes)


def test_many_messages_pipelined_in_one_session_over_tls(env):
    sender = ALICE      # submission listener: AUTH, then the user's address
    with Client(PORT_SMTPS, tls=True, timeout=30) as c:
        c.expect("EHLO client.test", 250)
        c.expect("AUTH PLAIN " + plain_token(ALICE, PASSWORD), 235)
        chunk = "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, ALICE)
        qids = []
        for i in range(50):
            c.send(chunk)
            check([c.reply()[0] for _ in range(3)] == [250, 250, 354], "message %d envelope" % i)
            c.send("Subject: %d\r\n\r\nbody %d\r\n.\r\nRSET\r\n" % (i, i))
            qids.append(queue_id_of(c.reply()[1]))
            check(c.reply()[0] == 250, "RSET %d" % i)
        c.expect("QUIT", 221)
    n = sql_value("SELECT count(*) FROM postern.messages WHERE queue_id IN (%s)"
                  % ", ".join(q(x) for x in qids))
    check(n == "50" and len(set(qids)) == 50, "stored %s of 50 (distinct ids %d)" % (n, len(set(qids))))


def test_concurrent_clients_smtp_source(env):
    if shutil.which("smtp-source") is None:
        check(False, "smtp-source (postfix) is not installed")
    sender = unique("src") + "@client.test"
    before = int(sql_value("SELECT count(*) FROM postern.messages"))
    p = subprocess.run(["smtp-source", "-s", "20", "-m", "300", "-l", "2000", "-f", sender,
                        "-t", ALICE, "-M", "client.test", "127.0.0.1:%d" % PORT_SMTP],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "smtp-source rc %d: %s" % (p.returncode, (p.stdout + p.stderr)[-800:]))
    n = int(sql_value("SELECT count(*) FROM postern.messages WHERE sender = %s" % q(sender)))
    check(n == 300, "smtp-source: %d of 300 messages stored" % n)
    r = int(sql_value("SELECT count(*) FROM postern.recipients r JOIN postern.messages m ON "
                      "m.id = r.message_id WHERE m.sender = %s AND r.state IN ('queued', 'deferred')"
                      % q(sender)))
    check(r == 300, "recipients %d" % r)
    check(int(sql_value("SELECT count(*) FROM postern.messages")) == before + 300, "other rows appeared")
    env.healthy_session()


def test_pipelined_flood_all_answered(env):
    """20000 pipelined NOOPs, sent in one go while replies are read: every
    one is answered (lines held back while the output was over its
    high-water mark must be processed without a new socket event)."""
    import threading
    import time
    n = 20000
    for port, tls in ((PORT_SMTP, False), (PORT_SMTPS, True)):
        with Client(port, tls=tls, timeout=10) as c:
            c.expect("EHLO client.test", 250)
            sender = threading.Thread(target=c.sock.sendall, args=(b"NOOP\r\n" * n + b"QUIT\r\n",),
                                      daemon=True)
            t0 = time.monotonic()
            sender.start()
            got = 0
            try:
                while got < n:
                    code, text = c.reply()
                    check(code == 250, "reply %d: %r" % (got + 1, text))
                    got += 1
            except (OSError, EOFError) as e:
                check(False, "port %d: %d of %d NOOPs answered (%s)" % (port, got, n, e))
            check(c.reply()[0] == 221, "QUIT after the flood on %d" % port)
            sender.join(5)
            check(time.monotonic() - t0 < 8, "flood on %d took %.1f s" % (port, time.monotonic() - t0))
