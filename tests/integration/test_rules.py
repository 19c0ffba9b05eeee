"""Acceptance and routing rules (schema version 2): AUTH policy, ordering,
the reference scenarios, live and atomic changes, posternd --explain.

Every rule is configured by SQL only (the postern.rule_* functions, or plain
SQL on the rule tables); every test puts the two default rules back
(disableAUTH_on_non_SSL, enableAUTH_on_SSL) and drops mydomain.test in its
finally block, and waits for the daemon to reload that.
"""
import os
import smtplib
import subprocess
import time

from harness import (ALICE, BOB, DBNAME, HOST, PASSWORD, PGHOST, PGPORT, PORT_SMTP, PORT_SMTPS,
                     PORT_SUBMISSION, Client, b64, check, client_ctx, plain_token, q, queue_id_of,
                     send_message, sql, sql_try, sql_value, unique, wait_until)

MYDOMAIN = "mydomain.test"
MYUSER = "user@mydomain.test"
TLS_ONLY_TEXT = "Accepting only secure delivery (STARTTLS) for mydomain.test"
TLS_ONLY_REPLY = "550 5.7.1 " + TLS_ONLY_TEXT

DEFAULT_RULES = [
    ["1", "disableAUTH_on_non_SSL", "t", "all", "always", "auth_plain off"],
    ["2", "enableAUTH_on_SSL", "t", "all", "always", "auth_tls PLAIN,LOGIN"],
]

RESTORE_SQL = """
BEGIN;
DELETE FROM postern.domains WHERE name = 'mydomain.test';
DELETE FROM postern.rules;
SELECT postern.rule_add('disableAUTH_on_non_SSL', 'all', NULL,
    'No AUTH on connections without TLS (passwords would travel in clear).');
SELECT postern.rule_add_auth('disableAUTH_on_non_SSL', 'plain', '{}');
SELECT postern.rule_add('enableAUTH_on_SSL', 'all', NULL,
    'AUTH PLAIN and LOGIN on TLS connections.');
SELECT postern.rule_add_auth('enableAUTH_on_SSL', 'tls', '{PLAIN,LOGIN}');
COMMIT;
"""


# ---- helpers ----

def rules_now():
    return sql("SELECT position, name, enabled, match, conditions, actions "
               "FROM postern.rules_overview ORDER BY position")


def change(env, query):
    """Runs query (one transaction) and waits until the daemon reloaded."""
    off = env.daemon.log_size()
    sql("BEGIN;\n%s\nCOMMIT;" % query)
    env.daemon.wait_reload(off)


def restore_defaults(env):
    """Puts the default rule set back (and drops mydomain.test)."""
    dirty = (rules_now() != DEFAULT_RULES
             or sql_value("SELECT count(*) FROM postern.domains WHERE name = %s" % q(MYDOMAIN)) != "0")
    if dirty:
        off = env.daemon.log_size()
        sql(RESTORE_SQL)
        env.daemon.wait_reload(off)
    now = rules_now()
    check(now == DEFAULT_RULES, "default rules not restored: %r" % now)


def start_defaults(env):
    """Each test starts from the default rules (earlier failures included)."""
    restore_defaults(env)
    return env.daemon.proc.pid


def add_mydomain_sql():
    return ("SELECT postern.add_domain(%s);\nSELECT postern.add_account(%s, 'user-secret-42');"
            % (q(MYDOMAIN), q(MYUSER)))


TLS_ONLY_RULE_SQL = """
SELECT postern.rule_add('allow_only_tls_for_mydomain', 'all');
SELECT postern.rule_add_condition('allow_only_tls_for_mydomain', 'conn_tls', 'is', 'false');
SELECT postern.rule_add_condition('allow_only_tls_for_mydomain', 'rcpt_domain', 'is', 'mydomain.test');
SELECT postern.rule_add_reply('allow_only_tls_for_mydomain', 'reject', 550, '5.7.1',
    'Accepting only secure delivery (STARTTLS) for mydomain.test');
"""


def session(port, tls):
    """Client after EHLO; tls is 'plain', 'starttls' or 'implicit'.
    Returns (client, EHLO reply lines)."""
    c = Client(port, tls=tls == "implicit")
    check(c.greeting[0] == 220, "greeting on %d: %r" % (port, c.greeting))
    caps = c.expect("EHLO client.test", 250)
    if tls == "starttls":
        c.starttls()
        caps = c.expect("EHLO client.test", 250)
    return c, caps.splitlines()


def auth_lines(caps):
    return [l[4:] for l in caps if l[4:].upper().startswith("AUTH")]


def ehlo_auth(port, tls):
    c, caps = session(port, tls)
    with c:
        c.expect("QUIT", 221)
    return auth_lines(caps)


def check_auth(port, tls, want, what):
    got = ehlo_auth(port, tls)
    check(got == want, "%s: EHLO on %d (%s) advertises %r, want %r" % (what, port, tls, got, want))


def auth_policy():
    return sql("SELECT connection, mechs::text, coalesce(rule, '-') FROM postern.auth_policy")


def recipients_of(qid):
    """Recipient rows of a message: address, "queued" (the row is in the
    queue, not bounced or held: a delivery agent may already have tried or
    delivered it), then the route columns ('NULL' for NULL)."""
    return sql("SELECT r.address, CASE WHEN r.state IN ('queued', 'deferred', 'delivered') "
               "THEN 'queued' ELSE r.state::text END, coalesce(r.relay_host, 'NULL'), "
               "coalesce(r.relay_port::text, 'NULL'), coalesce(r.relay_tls::text, 'NULL'), "
               "coalesce(r.relay_tls_versions::text, 'NULL') FROM postern.recipients r "
               "JOIN postern.messages m ON m.id = r.message_id WHERE m.queue_id = %s "
               "ORDER BY r.rcpt_no" % q(qid))


def body_of(qid):
    h = sql_value("SELECT encode(b.data, 'hex') FROM postern.bodies b JOIN postern.messages m "
                  "ON m.id = b.message_id WHERE m.queue_id = %s" % q(qid))
    check(h is not None, "no stored body for %s" % qid)
    return bytes.fromhex(h).decode("utf-8", "replace")


def bodies_containing(marker):
    return int(sql_value("SELECT count(*) FROM postern.bodies WHERE position(convert_to(%s, 'UTF8') "
                         "IN data) > 0" % q(marker)))


# ---- 1. AUTH policy by rules ----

def test_rules_auth_plain_vs_tls_and_live_mechanism_change(env):
    pid = start_defaults(env)
    try:
        # Plain connections: AUTH neither advertised nor accepted.
        for port in (PORT_SMTP, PORT_SUBMISSION):
            c, caps = session(port, "plain")
            with c:
                check(auth_lines(caps) == [], "AUTH offered in clear on %d: %r" % (port, caps))
                check("250-STARTTLS" in caps, "STARTTLS not offered on %d: %r" % (port, caps))
                code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
                check(text == "530 5.7.0 Must issue a STARTTLS command first",
                      "AUTH PLAIN in clear on %d: %r" % (port, text))
                c.expect("QUIT", 221)
        # TLS: PLAIN and LOGIN, after STARTTLS and on implicit TLS.
        for port, mode in ((PORT_SMTP, "starttls"), (PORT_SUBMISSION, "starttls"),
                           (PORT_SMTPS, "implicit")):
            check_auth(port, mode, ["AUTH PLAIN LOGIN"], "default rules")
        check(auth_policy() == [["plain", "{}", "disableAUTH_on_non_SSL"],
                                ["tls", "{PLAIN,LOGIN}", "enableAUTH_on_SSL"]],
              "auth_policy: %r" % auth_policy())

        # The rule's mechanisms, changed by plain SQL on rule_actions.
        change(env, "UPDATE postern.rule_actions a SET auth_mechs = '{LOGIN}' FROM postern.rules r "
                    "WHERE a.rule_id = r.id AND r.name = 'enableAUTH_on_SSL' AND a.kind = 'auth_tls';")
        for port, mode in ((PORT_SUBMISSION, "starttls"), (PORT_SMTPS, "implicit")):
            c, caps = session(port, mode)
            with c:
                check(auth_lines(caps) == ["AUTH LOGIN"], "after UPDATE to {LOGIN} on %d: %r" % (port, caps))
                code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
                check(code == 504, "AUTH PLAIN once only LOGIN is offered, on %d: %r" % (port, text))
                c.expect("AUTH LOGIN", 334)
                c.expect(b64(ALICE), 334)
                c.expect(b64(PASSWORD), 235)
                c.expect("QUIT", 221)
        check_auth(PORT_SMTP, "plain", [], "plain after the TLS change")

        # The same through postern.set_auth.
        change(env, "SELECT postern.set_auth('tls', '{PLAIN}');")
        for port, mode in ((PORT_SMTP, "starttls"), (PORT_SMTPS, "implicit")):
            check_auth(port, mode, ["AUTH PLAIN"], "set_auth('tls', '{PLAIN}')")

        # AUTH on plain connections, through the rule disableAUTH_on_non_SSL.
        change(env, "UPDATE postern.rule_actions a SET auth_mechs = '{PLAIN}' FROM postern.rules r "
                    "WHERE a.rule_id = r.id AND r.name = 'disableAUTH_on_non_SSL' AND a.kind = 'auth_plain';")
        for port in (PORT_SMTP, PORT_SUBMISSION):
            c, caps = session(port, "plain")
            with c:
                check(auth_lines(caps) == ["AUTH PLAIN"], "plain EHLO on %d with auth_plain {PLAIN}: %r"
                      % (port, caps))
                code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
                check(code == 235 and text.startswith("235 2.7.0"), "AUTH PLAIN in clear: %r" % text)
                c.expect("QUIT", 221)
        check(env.daemon.alive() and env.daemon.proc.pid == pid, "posternd was restarted or died")
    finally:
        restore_defaults(env)
    check_auth(PORT_SMTP, "plain", [], "after restore (plain)")
    check_auth(PORT_SMTPS, "implicit", ["AUTH PLAIN LOGIN"], "after restore (tls)")


# ---- 2. order: the last matching rule that sets a decision wins ----

def test_rules_order_last_match_wins_and_stop(env):
    start_defaults(env)
    try:
        # The two reference rules set different decisions: order is irrelevant.
        change(env, "SELECT postern.rule_up('enableAUTH_on_SSL');")
        order = [r[1] for r in rules_now()]
        check(order == ["enableAUTH_on_SSL", "disableAUTH_on_non_SSL"], "after rule_up: %r" % order)
        check_auth(PORT_SMTP, "plain", [], "swapped (rule_up), plain")
        check_auth(PORT_SUBMISSION, "starttls", ["AUTH PLAIN LOGIN"], "swapped (rule_up), STARTTLS")
        check_auth(PORT_SMTPS, "implicit", ["AUTH PLAIN LOGIN"], "swapped (rule_up), implicit TLS")
        change(env, "SELECT postern.rule_move('enableAUTH_on_SSL', 2);")
        order = [r[1] for r in rules_now()]
        check(order == ["disableAUTH_on_non_SSL", "enableAUTH_on_SSL"], "after rule_move back: %r" % order)
        check_auth(PORT_SMTP, "plain", [], "swapped back (rule_move), plain")
        check_auth(PORT_SMTPS, "implicit", ["AUTH PLAIN LOGIN"], "swapped back (rule_move), TLS")

        # A conflicting rule first: disableAUTH_on_non_SSL comes later and wins.
        change(env, "SELECT postern.rule_add('allowAUTH_plain_everywhere', 'all', 1);\n"
                    "SELECT postern.rule_add_auth('allowAUTH_plain_everywhere', 'plain', '{PLAIN}');")
        order = [r[1] for r in rules_now()]
        check(order == ["allowAUTH_plain_everywhere", "disableAUTH_on_non_SSL", "enableAUTH_on_SSL"],
              "order: %r" % order)
        c, caps = session(PORT_SMTP, "plain")
        with c:
            check(auth_lines(caps) == [], "allowAUTH_plain_everywhere at 1 must lose: %r" % caps)
            code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
            check(code == 530, "AUTH PLAIN in clear with the conflicting rule first: %r" % text)
        # Moved to the end (a position past the end = last): it wins.
        change(env, "SELECT postern.rule_move('allowAUTH_plain_everywhere', 99);")
        check(sql_value("SELECT position FROM postern.rules WHERE name = 'allowAUTH_plain_everywhere'") == "3",
              "rule_move past the end: %r" % rules_now())
        c, caps = session(PORT_SMTP, "plain")
        with c:
            check(auth_lines(caps) == ["AUTH PLAIN"], "allowAUTH_plain_everywhere last must win: %r" % caps)
            code, text = c.cmd("AUTH LOGIN")
            check(code == 504, "AUTH LOGIN in clear (only PLAIN decided): %r" % text)
            code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
            check(code == 235, "AUTH PLAIN in clear once allowed: %r" % text)
        check_auth(PORT_SMTPS, "implicit", ["AUTH PLAIN LOGIN"], "TLS unaffected by an auth_plain rule")
        check(auth_policy()[0] == ["plain", "{PLAIN}", "allowAUTH_plain_everywhere"],
              "auth_policy plain: %r" % auth_policy())

        # A stop rule first ends the evaluation: the later rules do not count.
        change(env, "SELECT postern.rule_add('tls_login_only_stop', 'all', 1);\n"
                    "SELECT postern.rule_add_auth('tls_login_only_stop', 'tls', '{LOGIN}');\n"
                    "SELECT postern.rule_add_stop('tls_login_only_stop');")
        for port, mode in ((PORT_SUBMISSION, "starttls"), (PORT_SMTPS, "implicit")):
            c, caps = session(port, mode)
            with c:
                check(auth_lines(caps) == ["AUTH LOGIN"], "stop rule first, TLS on %d: %r" % (port, caps))
                code, text = c.cmd("AUTH PLAIN " + plain_token(ALICE, PASSWORD))
                check(code == 504, "AUTH PLAIN after the stop rule: %r" % text)
        check_auth(PORT_SMTP, "plain", [], "stop rule first: allowAUTH_plain_everywhere is never reached")
        check(auth_policy() == [["plain", "{}", "-"], ["tls", "{LOGIN}", "tls_login_only_stop"]],
              "auth_policy with the stop rule: %r" % auth_policy())
    finally:
        restore_defaults(env)


# ---- 3. reference scenario: allow only TLS for mydomain ----

def test_rules_allow_only_tls_for_mydomain(env):
    start_defaults(env)
    try:
        change(env, add_mydomain_sql())
        # Without the rule, plaintext delivery to mydomain.test is fine.
        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<sender@client.test>", 250)
            c.expect("RCPT TO:<%s>" % MYUSER, 250)
        change(env, TLS_ONLY_RULE_SQL)
        check(sql("SELECT conditions, actions FROM postern.rules_overview "
                  "WHERE name = 'allow_only_tls_for_mydomain'")
              == [["conn_tls is false AND rcpt_domain is mydomain.test",
                   'reply reject 550 5.7.1 "%s"' % TLS_ONLY_TEXT]], "rules_overview: %r" % rules_now())

        # Plaintext: exactly the rule's reply; other recipients unaffected.
        marker = unique("plain-mydomain")
        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<sender@client.test>", 250)
            code, text = c.cmd("RCPT TO:<%s>" % MYUSER)
            check(text == TLS_ONLY_REPLY, "plaintext RCPT to %s: %r" % (MYUSER, text))
            code, text = c.cmd("RCPT TO:<User@MyDomain.TEST>")
            check(text == TLS_ONLY_REPLY, "plaintext RCPT, domain in other case: %r" % text)
            code, text = c.cmd("RCPT TO:<%s>" % ALICE)
            check(code == 250, "plaintext RCPT to %s: %r" % (ALICE, text))
            c.expect("DATA", 354)
            c.send("Subject: %s\r\n\r\nplain\r\n.\r\n" % marker)
            code, text = c.reply()
            qid_plain = queue_id_of(text)
            c.expect("QUIT", 221)
        rows = recipients_of(qid_plain)
        check([r[:2] for r in rows] == [[ALICE, "queued"]], "plaintext message recipients: %r" % rows)

        # 3587 in clear: a submission listener wants AUTH before MAIL
        # (and AUTH needs TLS), so the rule is never reached.
        with Client(PORT_SUBMISSION) as c:
            c.expect("EHLO client.test", 250)
            code, text = c.cmd("MAIL FROM:<sender@client.test>")
            check(text == "530 5.7.0 Authentication required", "plaintext MAIL on 3587: %r" % text)

        # STARTTLS: accepted and queued (on the submission port after AUTH,
        # from the user's own address).
        for port in (PORT_SMTP, PORT_SUBMISSION):
            c, _ = session(port, "starttls")
            with c:
                sender = "sender@client.test"
                if port == PORT_SUBMISSION:
                    c.expect("AUTH PLAIN " + plain_token(ALICE, PASSWORD), 235)
                    sender = ALICE
                code, text = send_message(c, sender, [MYUSER],
                                          "Subject: secure %s\n\nover TLS\n" % unique("tls"))
                qid = queue_id_of(text)
                c.expect("QUIT", 221)
            rows = recipients_of(qid)
            check([r[:2] for r in rows] == [[MYUSER, "queued"]], "STARTTLS message on %d: %r" % (port, rows))
            tlsv = sql_value("SELECT coalesce(tls_version, '') FROM postern.messages WHERE queue_id = %s"
                             % q(qid))
            check(tlsv.startswith("TLS"), "message over STARTTLS stored with tls_version %r" % tlsv)

        # A real client (smtplib) in clear gets the 550 as well.
        with smtplib.SMTP(HOST, PORT_SMTP, local_hostname="client.test", timeout=10) as s:
            s.ehlo()
            s.mail("sender@client.test")
            code, text = s.rcpt(MYUSER)
            check(code == 550 and text.decode() == "5.7.1 " + TLS_ONLY_TEXT, "smtplib RCPT: %d %r" % (code, text))
    finally:
        restore_defaults(env)


# ---- 4. reference scenario: TLS 1.1/1.2 only when relaying to example.com ----

def test_rules_use_only_tls11_and_12_when_relaying(env):
    start_defaults(env)
    try:
        change(env, """
SELECT postern.rule_add('use_only_tls11_and_12_when_relaying', 'all');
SELECT postern.rule_add_condition('use_only_tls11_and_12_when_relaying', 'delivery_relaying', 'is', 'true');
SELECT postern.rule_add_condition('use_only_tls11_and_12_when_relaying', 'rcpt_domain', 'is', 'example.com');
SELECT postern.rule_add_relay('use_only_tls11_and_12_when_relaying', 'smarthost.example.net', 465,
                              'implicit', '{TLSv1.1,TLSv1.2}');""")
        check(sql("SELECT actions FROM postern.rules_overview WHERE name = 'use_only_tls11_and_12_when_relaying'")
              == [["relay_host smarthost.example.net:465; relay_tls implicit; relay_tls_versions TLSv1.1,TLSv1.2"]],
              "rules_overview: %r" % rules_now())

        # A route is not a permission: unauthenticated relaying stays denied.
        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<someone@client.test>", 250)
            code, text = c.cmd("RCPT TO:<bob@example.com>")
            check(code == 554 and text.startswith("554 5.7.1"), "unauthenticated relay to example.com: %r" % text)

        # Authenticated (AUTH over STARTTLS as alice), with smtplib.
        with smtplib.SMTP(HOST, PORT_SUBMISSION, local_hostname="client.test", timeout=10) as s:
            s.starttls(context=client_ctx())
            s.login(ALICE, PASSWORD)
            code, _ = s.mail(ALICE)
            check(code == 250, "MAIL: %d" % code)
            for r in ("bob@example.com", "carol@other.test", "dave@Example.COM"):
                code, text = s.rcpt(r)
                check(code == 250, "RCPT %s: %d %r" % (r, code, text))
            code, text = s.data("Subject: relay %s\r\n\r\nrouted\r\n" % unique("route"))
            qid = queue_id_of("%d %s" % (code, text.decode()))
        rows = recipients_of(qid)
        want = [
            ["bob@example.com", "queued", "smarthost.example.net", "465", "implicit", "{TLSv1.1,TLSv1.2}"],
            ["carol@other.test", "queued", "NULL", "NULL", "NULL", "NULL"],
            ["dave@example.com", "queued", "smarthost.example.net", "465", "implicit", "{TLSv1.1,TLSv1.2}"],
        ]
        check(rows == want, "recipient routes:\n got %r\nwant %r" % (rows, want))
        check(sql_value("SELECT auth_user FROM postern.messages WHERE queue_id = %s" % q(qid)) == ALICE,
              "auth_user not recorded")
    finally:
        restore_defaults(env)


# ---- 5. MAIL-stage reject, DATA-stage size rule, add_header ----

def test_rules_mail_reject_data_size_and_add_header(env):
    start_defaults(env)
    try:
        change(env, """
SELECT postern.rule_add('no_spam');
SELECT postern.rule_add_condition('no_spam', 'sender_domain', 'is', 'spam.test');
SELECT postern.rule_add_reply('no_spam', 'reject', 550, '5.7.1', 'no spam');
SELECT postern.rule_add('too_big_for_this_rule');
SELECT postern.rule_add_condition('too_big_for_this_rule', 'message_size', 'ge', '5000');
SELECT postern.rule_add_reply('too_big_for_this_rule', 'reject', 552, '5.3.4', 'too big for this rule');
SELECT postern.rule_add('tag_everything');
SELECT postern.rule_add_header('tag_everything', 'X-Postern-Rule', 'tagged by tag_everything');
SELECT postern.rule_add('tag_for_bob');
SELECT postern.rule_add_condition('tag_for_bob', 'rcpt_address', 'is', 'bob@example.test');
SELECT postern.rule_add_header('tag_for_bob', 'X-For-Bob', 'yes');""")

        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            # MAIL stage.
            code, text = c.cmd("MAIL FROM:<bad@spam.test>")
            check(text == "550 5.7.1 no spam", "MAIL from spam.test: %r" % text)
            code, text = c.cmd("MAIL FROM:<Bad@SPAM.Test>")
            check(text == "550 5.7.1 no spam", "MAIL from SPAM.Test: %r" % text)
            code, text = c.cmd("RCPT TO:<%s>" % ALICE)
            check(code == 503, "RCPT after a refused MAIL: %r" % text)
            # DATA stage: too big for the rule (well under max_message_size).
            big = unique("big")
            c.expect("MAIL FROM:<ok@client.test>", 250)
            c.expect("RCPT TO:<%s>" % ALICE, 250)
            c.expect("DATA", 354)
            c.send("Subject: %s\r\n\r\n" % big + ("x" * 70 + "\r\n") * 80 + ".\r\n")
            code, text = c.reply()
            check(text == "552 5.3.4 too big for this rule", "6 KB message: %r" % text)
            # The session goes on: a small message passes, tagged.
            small = unique("small")
            c.expect("MAIL FROM:<ok@client.test>", 250)
            c.expect("RCPT TO:<%s>" % ALICE, 250)
            c.expect("DATA", 354)
            c.send("Subject: %s\r\n\r\nsmall\r\n.\r\n" % small)
            code, text = c.reply()
            qid_alice = queue_id_of(text)
            code, text = send_message(c, "ok@client.test", [ALICE, BOB], "Subject: %s\n\nfor bob too\n" % small,
                                      ehlo="client.test")
            qid_both = queue_id_of(text)
            c.expect("QUIT", 221)
        check(bodies_containing(big) == 0, "the message refused at DATA was stored")
        for qid, bob in ((qid_alice, False), (qid_both, True)):
            body = body_of(qid)
            head = body.split("\r\n\r\n", 1)[0].split("\r\n")
            check("X-Postern-Rule: tagged by tag_everything" in head,
                  "add_header missing from the header of %s: %r" % (qid, head))
            check(("X-For-Bob: yes" in head) == bob,
                  "X-For-Bob (rcpt condition at DATA) for %s, bob=%s: %r" % (qid, bob, head))
            check(head.count("X-Postern-Rule: tagged by tag_everything") == 1, "header added twice: %r" % head)
    finally:
        restore_defaults(env)


# ---- 6. trusted network: accept overrides the relay denial ----

def relay_rcpt(rcpt="friend@other.test"):
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<app@client.test>", 250)
        code, text = c.cmd("RCPT TO:<%s>" % rcpt)
        c.expect("QUIT", 221)
    return code, text


def test_rules_trusted_network_relay_allow(env):
    start_defaults(env)
    try:
        code, text = relay_rcpt()
        check(code == 554, "unauthenticated relay without a rule: %r" % text)
        change(env, "SELECT postern.rule_add('trusted_network');\n"
                    "SELECT postern.rule_add_condition('trusted_network', 'conn_remote_addr', 'in_cidr', "
                    "'127.0.0.0/8');\n"
                    "SELECT postern.rule_add_reply('trusted_network', 'accept');")
        code, text = relay_rcpt()
        check(code == 554, "a reply accept is no relay permission: %r" % text)
        change(env, "SELECT postern.rule_add_relay_allow('trusted_network');")
        code, text = relay_rcpt()
        check(code == 250, "relay from 127.0.0.1 with in_cidr 127.0.0.0/8 + relay_allow: %r" % text)
        with Client(PORT_SMTP) as c:
            code, text = send_message(c, "app@client.test", ["friend@other.test"], "Subject: trusted\n\nx\n")
            qid = queue_id_of(text)
            # relay_allow overrides the relay denial, not unknown local users.
            c.expect("MAIL FROM:<app@client.test>", 250)
            code, text = c.cmd("RCPT TO:<nobody@example.test>")
            check(code == 550 and text.startswith("550 5.1.1"), "unknown local user under accept: %r" % text)
            c.expect("QUIT", 221)
        rows = recipients_of(qid)
        check([r[:2] for r in rows] == [["friend@other.test", "queued"]], "relayed recipients: %r" % rows)
        check(sql_value("SELECT auth_user IS NULL FROM postern.messages WHERE queue_id = %s" % q(qid)) == "t",
              "unauthenticated message has an auth_user")

        change(env, "UPDATE postern.rule_conditions c SET value = '10.0.0.0/8' FROM postern.rules r "
                    "WHERE c.rule_id = r.id AND r.name = 'trusted_network';")
        code, text = relay_rcpt()
        check(code == 554 and text.startswith("554 5.7.1"), "relay with in_cidr 10.0.0.0/8: %r" % text)
    finally:
        restore_defaults(env)


# ---- 7. live and atomic ----

def psql_open(appname):
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", PGHOST, "-p", PGPORT,
           "-U", "postern", "-d", DBNAME]
    env = dict(os.environ, PGAPPNAME=appname, PGOPTIONS="-c client_min_messages=warning")
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_rules_live_atomic_and_invalid_refused(env):
    pid = start_defaults(env)
    app = unique("postern-it-atomic")
    p = old = None
    try:
        # A session opened before the change keeps the rules it started with.
        old = Client(PORT_SMTP)
        old.expect("EHLO client.test", 250)
        old.expect("MAIL FROM:<sender@client.test>", 250)

        # Half-built in an open transaction: a reject rule without its
        # condition would refuse everything, yet nobody sees it.
        off = env.daemon.log_size()
        p = psql_open(app)
        p.stdin.write("BEGIN;\nSELECT postern.rule_add('block_alice');\n"
                      "SELECT postern.rule_add_reply('block_alice', 'reject', 550, '5.7.1', 'alice is away');\n")
        p.stdin.flush()
        wait_until(lambda: sql("SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND "
                               "state = 'idle in transaction' AND query LIKE '%%rule_add_reply%%'" % q(app)),
                   what="the open transaction")
        time.sleep(0.3)
        check("config: reloaded" not in env.daemon.log_since(off), "reload before COMMIT")
        with Client(PORT_SMTP) as c:
            check(c.greeting[0] == 220, "greeting during the open transaction: %r" % (c.greeting,))
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<sender@client.test>", 250)
            c.expect("RCPT TO:<%s>" % ALICE, 250)
        out, err = p.communicate("SELECT postern.rule_add_condition('block_alice', 'rcpt_address', 'is', %s);\n"
                                 "COMMIT;\n" % q(ALICE), timeout=30)
        check(p.returncode == 0, "psql transaction failed: %s" % err)
        p = None
        env.daemon.wait_reload(off)

        # New sessions: the whole rule, at once.
        with Client(PORT_SMTP) as c:
            check(c.greeting[0] == 220, "greeting after the commit: %r" % (c.greeting,))
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<sender@client.test>", 250)
            code, text = c.cmd("RCPT TO:<%s>" % ALICE)
            check(text == "550 5.7.1 alice is away", "RCPT alice after the commit: %r" % text)
            c.expect("RCPT TO:<%s>" % BOB, 250)
        code, text = old.cmd("RCPT TO:<%s>" % ALICE)
        check(code == 250, "a session opened before the change must keep its rules: %r" % text)
        old.close()
        old = None

        # Invalid changes are refused by the database, whole transactions
        # with them; the daemon does not reload and keeps its rules.
        off = env.daemon.log_size()
        ok, _, err = sql_try(
            "BEGIN; SELECT postern.rule_delete('block_alice');"
            "INSERT INTO postern.rule_actions (rule_id, kind, reply, reply_code, reply_ecode) "
            "VALUES ((SELECT id FROM postern.rules WHERE name = 'disableAUTH_on_non_SSL'), "
            "'reply', 'reject', 550, '5.7.1'); COMMIT;")
        check(not ok and "rule_actions.reply_text must be set for reject and tempfail" in err,
              "reject without reply_text: ok=%s err=%r" % (ok, err))
        ok, _, err = sql_try(
            "BEGIN; SELECT postern.rule_delete('block_alice');"
            "SELECT postern.rule_add('trusted_typo');"
            "SELECT postern.rule_add_condition('trusted_typo', 'conn_remote_addr', 'in_cidr', '127.0.0.0/33');"
            "SELECT postern.rule_add_reply('trusted_typo', 'accept'); COMMIT;")
        check(not ok and "rule_conditions.value" in err and "127.0.0.0/33" in err and "CIDR" in err,
              "bad CIDR: ok=%s err=%r" % (ok, err))
        ok, _, err = sql_try("SELECT postern.rule_add_relay('block_alice', 'smarthost.example.net', 70000)")
        check(not ok and "rule_actions.relay_port must be between 1 and 65535" in err,
              "relay port 70000: ok=%s err=%r" % (ok, err))
        check([r[1] for r in rules_now()] == ["disableAUTH_on_non_SSL", "enableAUTH_on_SSL", "block_alice"],
              "rules after refused changes: %r" % rules_now())
        time.sleep(0.3)
        check("config: reloaded" not in env.daemon.log_since(off), "reload after refused changes")
        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<sender@client.test>", 250)
            code, text = c.cmd("RCPT TO:<%s>" % ALICE)
            check(text == "550 5.7.1 alice is away", "rules after refused changes: %r" % text)
            c.expect("RCPT TO:<%s>" % BOB, 250)

        # Past the database's checks (triggers bypassed by a superuser):
        # the daemon refuses the snapshot and keeps the running rules.
        off = env.daemon.log_size()
        sql("SET session_replication_role = replica; "
            "INSERT INTO postern.rule_conditions (rule_id, kind, op, value) "
            "SELECT id, 'conn_remote_addr', 'in_cidr', '127.0.0.0/33' FROM postern.rules "
            "WHERE name = 'enableAUTH_on_SSL'; "
            "NOTIFY postern_config, 'rule_conditions';", user="postgres")
        env.daemon.wait_log(r"config: reload refused.*127\.0\.0\.0/33", off)
        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<sender@client.test>", 250)
            code, text = c.cmd("RCPT TO:<%s>" % ALICE)
            check(text == "550 5.7.1 alice is away", "rules after a refused reload: %r" % text)
        check_auth(PORT_SMTPS, "implicit", ["AUTH PLAIN LOGIN"], "after a refused reload")
        check(env.daemon.alive() and env.daemon.proc.pid == pid, "posternd was restarted or died")
    finally:
        if old is not None:
            old.close()
        if p is not None:
            p.kill()
            p.communicate(timeout=10)
        restore_defaults(env)
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<sender@client.test>", 250)
        c.expect("RCPT TO:<%s>" % ALICE, 250)


# ---- 8. posternd --explain ----

def explain(env, *args):
    p = subprocess.run([env.daemon.bin, "-c", env.daemon.bootstrap, "--explain"] + list(args),
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "posternd --explain %s: rc %d: %s%s" % (" ".join(args), p.returncode,
                                                                   p.stdout, p.stderr))
    return p.stdout


def rule_line(out, name):
    lines = [l.split() for l in out.splitlines() if l.split()[2:3] == [name] and l.split()[:1] == ["rule"]]
    return lines


def test_rules_explain_allow_only_tls_for_mydomain(env):
    start_defaults(env)
    try:
        change(env, add_mydomain_sql() + TLS_ONLY_RULE_SQL)
        out = explain(env, "--client", "127.0.0.1", "--to", MYUSER)
        check("client=127.0.0.1" in out and "tls=no" in out, "transaction line:\n%s" % out)
        rcpt = out.split("stage rcpt <%s>" % MYUSER, 1)
        check(len(rcpt) == 2, "no rcpt stage in:\n%s" % out)
        rcpt = rcpt[1].split("stage data", 1)[0]
        check(rule_line(rcpt, "allow_only_tls_for_mydomain") == [["rule", "3", "allow_only_tls_for_mydomain",
                                                                  "MATCH"]],
              "rcpt stage must show the rule matching:\n%s" % out)
        check("=> %s   (rule allow_only_tls_for_mydomain)" % TLS_ONLY_REPLY in rcpt,
              "rcpt stage must show the 550 reply:\n%s" % out)
        check("=> AUTH on this connection (plain): not offered" in out, "AUTH line:\n%s" % out)
        # Like a real session: the refused recipient never reaches DATA.
        data = out.split("stage data", 1)[1]
        check("=> 554 5.5.1 Error: no valid recipients" in data and "550" not in data,
              "data stage without an accepted recipient:\n%s" % out)

        # With an accepted recipient too, DATA is accepted (as in
        # test_rules_allow_only_tls_for_mydomain's plaintext session).
        out = explain(env, "--client", "127.0.0.1", "--to", MYUSER, "--to", ALICE)
        rcpt = out.split("stage rcpt <%s>" % ALICE, 1)[1].split("stage data", 1)[0]
        check("=> 250 2.1.5 Ok" in rcpt, "rcpt stage for %s:\n%s" % (ALICE, out))
        data = out.split("stage data", 1)[1]
        check(rule_line(data, "allow_only_tls_for_mydomain") == [["rule", "3", "allow_only_tls_for_mydomain",
                                                                  "no", "match"]]
              and "=> 250 2.0.0 queued" in data and "550" not in data,
              "data stage must only see the accepted recipient:\n%s" % out)

        out = explain(env, "--client", "127.0.0.1", "--tls", "--to", MYUSER)
        check("tls=yes" in out, "transaction line (--tls):\n%s" % out)
        rcpt = out.split("stage rcpt <%s>" % MYUSER, 1)[1].split("stage data", 1)[0]
        check(rule_line(rcpt, "allow_only_tls_for_mydomain") == [["rule", "3", "allow_only_tls_for_mydomain",
                                                                  "no", "match"]],
              "with --tls the rule must not match:\n%s" % out)
        check("550" not in out and "=> 250 2.1.5 Ok" in rcpt and "=> 250 2.0.0 queued" in out,
              "with --tls no reject:\n%s" % out)
        check("=> AUTH on this connection (TLS): PLAIN LOGIN" in out, "AUTH line (--tls):\n%s" % out)

        # What a real session gets agrees with --explain.
        with Client(PORT_SMTP) as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<sender@client.test>", 250)
            code, text = c.cmd("RCPT TO:<%s>" % MYUSER)
            check(text == TLS_ONLY_REPLY, "live session disagrees with --explain: %r" % text)
    finally:
        restore_defaults(env)
