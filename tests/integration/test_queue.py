"""Acceptance policy and queueing into PostgreSQL."""
import binascii

from harness import (ALICE, BOB, PASSWORD, PORT_SMTP, PORT_SUBMISSION, Client, check,
                     plain_token, q, queue_id_of, send_message, sql, unique)


def test_relay_denied_unauthenticated(env):
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<someone@client.test>", 250)
        code, text = c.cmd("RCPT TO:<friend@other.test>")
        check(code == 554 and text.startswith("554 5.7.1") and "Relay access denied" in text,
              "unauthenticated relay: %r" % text)
        code, text = c.cmd("DATA")
        check(code == 554, "DATA without valid recipients: %r" % text)
        c.expect("QUIT", 221)
    # Also after STARTTLS (TLS alone is not authorisation).
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.starttls()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<someone@client.test>", 250)
        code, text = c.cmd("RCPT TO:<friend@other.test>")
        check(code == 554 and text.startswith("554 5.7.1"), "relay under TLS: %r" % text)
    # The submission listener wants AUTH before MAIL, TLS or not.
    with Client(PORT_SUBMISSION) as c:
        c.expect("EHLO client.test", 250)
        c.starttls()
        c.expect("EHLO client.test", 250)
        code, text = c.cmd("MAIL FROM:<someone@client.test>")
        check(text == "530 5.7.0 Authentication required", "MAIL without AUTH on submission: %r" % text)


def test_relay_allowed_authenticated(env):
    sender = ALICE      # an authenticated user sends as itself
    with Client(PORT_SUBMISSION) as c:
        c.expect("EHLO client.test", 250)
        c.starttls()
        c.expect("EHLO client.test", 250)
        c.expect("AUTH PLAIN " + plain_token(ALICE, PASSWORD), 235)
        code, text = send_message(c, sender, ["friend@other.test"], "Subject: relay\n\nhello\n")
        qid = queue_id_of(text)
        c.expect("QUIT", 221)
    # queued, or deferred once the delivery engine tried it (the test DNS
    # refuses every name): in the queue either way.
    rows = sql("SELECT m.auth_user, r.address, CASE WHEN r.state = 'deferred' THEN 'queued' "
               "ELSE r.state::text END FROM postern.messages m JOIN "
               "postern.recipients r ON r.message_id = m.id WHERE m.queue_id = %s" % q(qid))
    check(rows == [[ALICE, "friend@other.test", "queued"]], "relayed message rows %r" % rows)


def test_unknown_local_user(env):
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<someone@client.test>", 250)
        code, text = c.cmd("RCPT TO:<nobody@example.test>")
        check(code == 550 and text.startswith("550 5.1.1"), "unknown user: %r" % text)
        # Case-insensitive domain and local part for a known account.
        c.expect("RCPT TO:<Alice@EXAMPLE.test>", 250)
        c.expect("QUIT", 221)


def test_local_delivery_queued(env):
    sender = unique("sender") + "@client.test"
    marker = unique("body-marker")
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.starttls()
        version = c.sock.version()
        body = ("From: <%s>\nTo: <%s>\nSubject: three recipients\n\n%s\n"
                ".leading dot line\nend\n" % (sender, ALICE, marker))
        code, text = send_message(c, sender, [ALICE, BOB, "postmaster"], body)
        check(code == 250, "end of DATA: %r" % text)
        qid = queue_id_of(text)
        c.expect("QUIT", 221)
    rows = sql("SELECT sender, size, tls_version, tls_cipher, listener, client_addr, client_helo, "
               "coalesce(auth_user, '-'), node, id FROM postern.messages WHERE queue_id = %s" % q(qid))
    check(len(rows) == 1, "messages rows for %s: %r" % (qid, rows))
    (m_sender, size, tls_version, tls_cipher, listener, caddr, helo, auth, node, mid) = rows[0]
    check(m_sender == sender, "sender %r" % m_sender)
    check(tls_version == version, "tls_version %r, client saw %r" % (tls_version, version))
    check(tls_cipher != "", "tls_cipher empty")
    check(listener == "smtp" and caddr == "127.0.0.1" and helo == "client.test" and auth == "-"
          and node == "it", "connection facts %r" % rows[0])
    check("%016X" % int(mid) == qid, "queue_id %s is not id %s in hex" % (qid, mid))
    # deferred = tried by the delivery engine (maildir_root is NULL here).
    rcpts = sql("SELECT rcpt_no, address, CASE WHEN state = 'deferred' THEN 'queued' "
                "ELSE state::text END FROM postern.recipients r JOIN postern.messages m "
                "ON m.id = r.message_id WHERE m.queue_id = %s ORDER BY rcpt_no" % q(qid))
    check(rcpts == [["0", ALICE, "queued"], ["1", BOB, "queued"], ["2", "postmaster", "queued"]],
          "recipients %r" % rcpts)
    data = sql("SELECT encode(b.data, 'hex'), octet_length(b.data) FROM postern.bodies b "
               "JOIN postern.messages m ON m.id = b.message_id WHERE m.queue_id = %s" % q(qid))
    check(len(data) == 1, "bodies rows %r" % data)
    raw = binascii.unhexlify(data[0][0]).decode("utf-8", "replace")
    check(int(data[0][1]) == int(size), "messages.size %s != body length %s" % (size, data[0][1]))
    check(raw.startswith("Received: from client.test ([127.0.0.1])"), "body starts %r" % raw[:200])
    hdr = raw.split("\r\n\r\n", 1)[0]
    check("(using %s with cipher %s)" % (version, tls_cipher) in hdr,
          "Received header lacks '(using %s with cipher %s)': %r" % (version, tls_cipher, hdr))
    check("with ESMTPS id %s" % qid in hdr, "Received header lacks 'with ESMTPS id %s': %r" % (qid, hdr))
    check(marker in raw, "body text missing")
    check("\r\n.leading dot line\r\n" in raw and "\r\n..leading" not in raw, "dot-stuffing not undone")
    check(raw.endswith("\r\nend\r\n"), "body end %r" % raw[-40:])
    check("\n" not in raw.replace("\r\n", ""), "bare LF in stored body")
    mq = sql("SELECT queue_id, sender FROM postern.mailq WHERE queue_id = %s" % q(qid))
    check(mq == [[qid, sender]], "mailq %r" % mq)


def test_pipelined_transactions(env):
    # RFC 2920: a whole transaction pipelined up to DATA, then the text.
    sender = unique("pipe") + "@client.test"
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<%s>\r\nDATA\r\n"
               % (sender, ALICE, BOB))
        codes = [c.reply()[0] for _ in range(5)]
        check(codes == [250, 250, 550, 250, 354], "pipelined replies %r" % codes)
        c.send("Subject: pipelined\r\n\r\nx\r\n.\r\nQUIT\r\n")
        qid = queue_id_of(c.reply()[1])
        check(c.reply()[0] == 221, "QUIT")
    n = sql("SELECT count(*) FROM postern.recipients r JOIN postern.messages m ON m.id = r.message_id "
            "WHERE m.queue_id = %s" % q(qid))
    check(n == [["2"]], "recipients %r" % n)
