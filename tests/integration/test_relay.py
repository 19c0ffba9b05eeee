"""Relaying is a permission; the in_domain operator; listeners by role and
sender ownership (issue 12, schema version 8).

An attacker chooses HELO, sender and recipients.  These tests try what the
issue found: an exception rule (sender_address is ceo@partner.org ->
accept) after a reject rule used to lift the relay denial, and so did the
two "contains" traps; the submission ports took unauthenticated mail; an
authenticated user could send as anybody.  Each test restores the default
rules and listener roles in its finally block (and waits for the reload).
"""
import os
import subprocess

from harness import (ALICE, BOB, BOB_PASSWORD, DBNAME, PASSWORD, PGHOST, PGPORT, PORT_SMTP, PORT_SMTPS,
                     PORT_SUBMISSION, ROOT, Client, check, plain_token, q, queue_id_of,
                     send_message, sql, sql_try, sql_value)

import test_rules

VICTIM = "victim@example.net"
LISTENERS = (("smtp", PORT_SMTP), ("submission", PORT_SUBMISSION), ("smtps", PORT_SMTPS))

# The docs/rules.md example before issue 12, plus the two contains traps.
EXPLOIT_RULES_SQL = """
SELECT postern.rule_add('no_partner');
SELECT postern.rule_add_condition('no_partner', 'sender_domain', 'is', 'partner.org');
SELECT postern.rule_add_reply('no_partner', 'reject', 550, '5.7.1', 'not from partner.org');
SELECT postern.rule_add('ceo_exception');
SELECT postern.rule_add_condition('ceo_exception', 'sender_address', 'is', 'ceo@partner.org');
SELECT postern.rule_add_reply('ceo_exception', 'accept');
SELECT postern.rule_add('partner_address_contains');
SELECT postern.rule_add_condition('partner_address_contains', 'sender_address', 'contains', '@partner.org');
SELECT postern.rule_add_reply('partner_address_contains', 'accept');
SELECT postern.rule_add('partner_domain_contains');
SELECT postern.rule_add_condition('partner_domain_contains', 'sender_domain', 'contains', 'partner.org');
SELECT postern.rule_add_reply('partner_domain_contains', 'accept');
"""

ATTACKS = ("ceo@partner.org", '"@partner.org"@evil.example', "x@partner.org.evil.example")


def restore(env):
    test_rules.restore_defaults(env)
    roles = sql("SELECT name, role FROM postern.listeners ORDER BY name")
    if roles != [["smtp", "mx"], ["smtps", "submission"], ["submission", "submission"]]:
        test_rules.change(env, "SELECT postern.listener_set_role('smtp', 'mx');"
                          "SELECT postern.listener_set_role('submission', 'submission');"
                          "SELECT postern.listener_set_role('smtps', 'submission');")


def open_session(port):
    c = Client(port, tls=(port == PORT_SMTPS))
    c.expect("EHLO attacker.example", 250)
    return c


def login(c, user=ALICE, password=PASSWORD):
    if c.sock.__class__.__name__ != "SSLSocket":
        c.starttls()
        c.expect("EHLO client.test", 250)
    code, text = c.cmd("AUTH PLAIN " + plain_token(user, password))
    check(code == 235, "AUTH as %s: %r" % (user, text))


def test_trust_relay_exploit_refused_on_every_listener(env):
    restore(env)
    try:
        test_rules.change(env, EXPLOIT_RULES_SQL)
        # Default roles: the mx listener refuses to relay at RCPT, the
        # submission listeners want AUTH at MAIL.
        for sender in ATTACKS:
            with open_session(PORT_SMTP) as c:
                c.expect("MAIL FROM:<%s>" % sender, 250)
                code, text = c.cmd("RCPT TO:<%s>" % VICTIM)
                check(code == 554 and text == "554 5.7.1 <%s>: Relay access denied" % VICTIM,
                      "relay with sender %s on port 25: %r" % (sender, text))
                c.expect("QUIT", 221)
            for port in (PORT_SUBMISSION, PORT_SMTPS):
                with open_session(port) as c:
                    code, text = c.cmd("MAIL FROM:<%s>" % sender)
                    check(text == "530 5.7.0 Authentication required",
                          "MAIL FROM:<%s> without AUTH on %d: %r" % (sender, port, text))
                    code, text = c.cmd("RCPT TO:<%s>" % VICTIM)
                    check(code == 503, "RCPT after refused MAIL on %d: %r" % (port, text))
                    c.expect("QUIT", 221)
        # Every listener as mx: the rules alone must not open the relay.
        test_rules.change(env, "SELECT postern.listener_set_role('submission', 'mx');"
                          "SELECT postern.listener_set_role('smtps', 'mx');")
        for name, port in LISTENERS:
            for sender in ATTACKS:
                with open_session(port) as c:
                    c.expect("MAIL FROM:<%s>" % sender, 250)
                    code, text = c.cmd("RCPT TO:<%s>" % VICTIM)
                    check(code == 554 and text.startswith("554 5.7.1 "),
                          "relay with sender %s on %s: %r" % (sender, name, text))
                    # The session goes on: local mail is still accepted.
                    c.expect("RSET", 250)
                    c.expect("MAIL FROM:<%s>" % sender, 250)
                    c.expect("RCPT TO:<%s>" % ALICE, 250)
                    c.expect("QUIT", 221)
        # AUTH does not let a user send as the partner's CEO either.
        with open_session(PORT_SUBMISSION) as c:
            login(c)
            code, text = c.cmd("MAIL FROM:<ceo@partner.org>")
            check(text == "553 5.7.1 <ceo@partner.org>: Sender address rejected: not owned by user",
                  "MAIL as someone else: %r" % text)
            c.expect("QUIT", 221)
        env.healthy_session()
    finally:
        restore(env)


def test_trust_relay_allow_is_the_permission(env):
    restore(env)
    try:
        # A reply accept on the client's network no longer relays ...
        test_rules.change(env, "SELECT postern.rule_add('loopback_accept');"
                          "SELECT postern.rule_add_condition('loopback_accept', 'conn_remote_addr',"
                          " 'in_cidr', '127.0.0.0/8');"
                          "SELECT postern.rule_add_reply('loopback_accept', 'accept');")
        with open_session(PORT_SMTP) as c:
            c.expect("MAIL FROM:<someone@client.test>", 250)
            code, text = c.cmd("RCPT TO:<%s>" % VICTIM)
            check(code == 554, "accept rule relayed: %r" % text)
        # ... relay_allow does.
        test_rules.change(env, "SELECT postern.rule_add_relay_allow('loopback_accept');")
        check(sql_value("SELECT actions FROM postern.rules_overview WHERE name = 'loopback_accept'")
              == "reply accept; relay_allow", "rules_overview shows relay_allow")
        with open_session(PORT_SMTP) as c:
            code, text = send_message(c, "someone@client.test", [VICTIM], "Subject: t\n\nrelayed\n")
            queue_id_of(text)
    finally:
        restore(env)


def commit_error(query):
    ok, rows, err = sql_try("BEGIN;\n%s\nCOMMIT;" % query)
    check(not ok, "committed: %s" % query)
    return err


def test_trust_permission_rules_refused_by_database(env):
    restore(env)
    try:
        cases = [
            ("sender_domain", "is", "partner.org",
             'rule "p": relay_allow can only depend on facts the client cannot choose '
             '(found condition kind sender_domain)'),
            ("conn_helo", "is", "trusted.example",
             'relay_allow can only depend on facts the client cannot choose (found condition kind conn_helo)'),
            ("rcpt_domain", "in_domain", "example.net",
             'relay_allow can only depend on facts the client cannot choose (found condition kind rcpt_domain)'),
            (None, None, None, 'rule "p": relay_allow needs at least one condition'),
        ]
        for kind, op, value, want in cases:
            query = "SELECT postern.rule_add('p');"
            if kind:
                query += "SELECT postern.rule_add_condition('p', %s, %s, %s);" % (q(kind), q(op), q(value))
            query += "SELECT postern.rule_add_relay_allow('p');"
            err = commit_error(query)
            check(want in err, "relay_allow on %s: %r" % (kind, err))
        # Removing the last condition of a relay_allow rule is refused too.
        test_rules.change(env, "SELECT postern.rule_add('net');"
                          "SELECT postern.rule_add_condition('net', 'conn_remote_addr', 'in_cidr', '192.0.2.0/24');"
                          "SELECT postern.rule_add_relay_allow('net');")
        err = commit_error("DELETE FROM postern.rule_conditions WHERE rule_id = postern.rule_lookup('net');")
        check("needs at least one condition" in err, "condition deleted: %r" % err)
        err = commit_error("SELECT postern.rule_add('s');"
                           "SELECT postern.rule_add_condition('s', 'rcpt_domain', 'is', 'example.net');"
                           "SELECT postern.rule_add_sender_allow('s');")
        check('rule "s": sender_allow can only depend on facts the client cannot choose and the sender '
              '(found condition kind rcpt_domain)' in err, "sender_allow on rcpt_domain: %r" % err)
        for value, want in (("partner..org", 'is not a domain name'),
                            ("", 'in_domain needs at least one domain'),
                            ("a@partner.org", 'is not a domain name')):
            err = commit_error("SELECT postern.rule_add('d');"
                               "SELECT postern.rule_add_condition('d', 'sender_domain', 'in_domain', %s);"
                               % q(value))
            check(want in err, "in_domain %r: %r" % (value, err))
        err = commit_error("SELECT postern.rule_add('d');"
                           "SELECT postern.rule_add_condition('d', 'sender_address', 'in_domain', 'x.org');")
        check("op in_domain cannot be used with kind sender_address" in err, "in_domain on address: %r" % err)
        test_rules.change(env, "SELECT postern.rule_add('d');"
                          "SELECT postern.rule_add_condition('d', 'sender_domain', 'in_domain', ' .Partner.ORG, b.test');"
                          "SELECT postern.rule_add_reply('d', 'reject', 550, '5.7.1', 'no partners');")
        check(sql_value("SELECT conditions FROM postern.rules_overview WHERE name = 'd'")
              == "sender_domain in_domain partner.org,b.test", "in_domain normalised")
        # in_domain in the daemon: the domain and its subdomains, not the traps.
        for sender, code in (("a@partner.org", 550), ("a@mail.partner.org", 550),
                             ("a@partner.org.evil.example", 250), ('"@partner.org"@evil.example', 250),
                             ("a@xpartner.org", 250)):
            with open_session(PORT_SMTP) as c:
                got, text = c.cmd("MAIL FROM:<%s>" % sender)
                check(got == code, "in_domain partner.org, MAIL FROM:<%s>: %r" % (sender, text))
    finally:
        restore(env)


def test_trust_submission_needs_auth_and_owned_sender(env):
    restore(env)
    try:
        for port in (PORT_SUBMISSION, PORT_SMTPS):
            with open_session(port) as c:
                code, text = c.cmd("MAIL FROM:<%s>" % ALICE)
                check(text == "530 5.7.0 Authentication required", "MAIL without AUTH on %d: %r" % (port, text))
                code, text = c.cmd("MAIL FROM:<>")
                check(code == 530, "null sender without AUTH on %d: %r" % (port, text))
                login(c)
                for sender in (ALICE, ALICE.upper(), ""):
                    c.expect("MAIL FROM:<%s>" % sender, 250)
                    c.expect("RSET", 250)
                for sender in (BOB, "alice@other.test"):
                    code, text = c.cmd("MAIL FROM:<%s>" % sender)
                    check(text == "553 5.7.1 <%s>: Sender address rejected: not owned by user" % sender,
                          "MAIL as %s on %d: %r" % (sender, port, text))
                code, text = send_message(c, ALICE, [BOB, VICTIM], "Subject: own\n\nfine\n", ehlo="client.test")
                queue_id_of(text)
                c.expect("QUIT", 221)
        # Port 25 (mx) still takes unauthenticated mail for local users.
        env.healthy_session(PORT_SMTP)
        # A sender_allow rule lets alice use the partner's addresses.
        test_rules.change(env, "SELECT postern.rule_add('alice_as_partner');"
                          "SELECT postern.rule_add_condition('alice_as_partner', 'conn_auth_user', 'is', %s);"
                          "SELECT postern.rule_add_condition('alice_as_partner', 'sender_domain', 'in_domain',"
                          " 'partner.org');"
                          "SELECT postern.rule_add_sender_allow('alice_as_partner');" % q(ALICE))
        with open_session(PORT_SUBMISSION) as c:
            login(c)
            c.expect("MAIL FROM:<ceo@partner.org>", 250)
            c.expect("RSET", 250)
            code, text = c.cmd("MAIL FROM:<x@partner.org.evil.example>")
            check(code == 553, "sender_allow trap: %r" % text)
        # The rule names alice: bob still may not.
        with open_session(PORT_SUBMISSION) as c:
            login(c, BOB, BOB_PASSWORD)
            code, text = c.cmd("MAIL FROM:<ceo@partner.org>")
            check(code == 553, "sender_allow for another user: %r" % text)
    finally:
        restore(env)


def test_trust_explain_shows_permissions(env):
    restore(env)
    try:
        test_rules.change(env, "SELECT postern.rule_add('net');"
                          "SELECT postern.rule_add_condition('net', 'conn_remote_addr', 'in_cidr', '203.0.113.0/24');"
                          "SELECT postern.rule_add_relay_allow('net');")
        out = test_rules.explain(env, "--client", "203.0.113.7", "--from", "a@client.example",
                                 "--to", VICTIM)
        check("relaying allowed by rule net" in out, "explain relay_allow: %s" % out)
        out = test_rules.explain(env, "--client", "198.51.100.7", "--from", "a@client.example",
                                 "--to", VICTIM)
        check("554 5.7.1 <%s>: Relay access denied" % VICTIM in out, "explain relay denied: %s" % out)
        out = test_rules.explain(env, "--listener", "submission", "--port", "587", "--from", "a@client.example",
                                 "--to", VICTIM)
        check("listener=submission (submission)" in out and "530 5.7.0 Authentication required" in out,
              "explain submission: %s" % out)
        out = test_rules.explain(env, "--listener", "submission", "--tls", "--auth-user", ALICE,
                                 "--from", "ceo@partner.org", "--to", VICTIM)
        check("553 5.7.1 <ceo@partner.org>: Sender address rejected: not owned by user" in out,
              "explain sender: %s" % out)
    finally:
        restore(env)


def test_trust_migration_008_converts_accept_rules(env):
    """A version-7 database with accept rules: connection-only ones get
    relay_allow, the others are named in a WARNING."""
    db = DBNAME + "_relay_mig"
    sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db, user="postgres", db="postgres")
    sql("CREATE DATABASE %s OWNER postern ENCODING 'UTF8' TEMPLATE template0" % db,
        user="postgres", db="postgres")
    try:
        sql("CREATE EXTENSION IF NOT EXISTS pgcrypto", user="postgres", db=db)

        def psql_file(path):
            return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PGHOST, "-p", PGPORT,
                                   "-U", "postern", "-d", db, "-f", path],
                                  capture_output=True, text=True, timeout=120)
        mig = os.path.join(ROOT, "sql", "migrations")
        for f in sorted(os.listdir(mig)):
            if f.endswith(".sql") and f[:3] <= "007":
                p = psql_file(os.path.join(mig, f))
                check(p.returncode == 0, "%s: %s" % (f, p.stderr))
        sql("BEGIN;"
            "SELECT postern.rule_add('trusted');"
            "SELECT postern.rule_add_condition('trusted', 'conn_remote_addr', 'in_cidr', '192.0.2.0/24');"
            "SELECT postern.rule_add_reply('trusted', 'accept');"
            "SELECT postern.rule_add('ceo');"
            "SELECT postern.rule_add_condition('ceo', 'sender_address', 'is', 'ceo@partner.org');"
            "SELECT postern.rule_add_reply('ceo', 'accept');"
            "SELECT postern.rule_add('everyone');"
            "SELECT postern.rule_add_reply('everyone', 'accept');"
            "COMMIT;", db=db)
        p = psql_file(os.path.join(mig, "008_relay.sql"))
        check(p.returncode == 0, "008: %s" % p.stderr)
        check('rule "ceo" has a reply accept that no longer allows relaying (it tests sender_address'
              in p.stderr, "warning for ceo: %r" % p.stderr)
        check('rule "everyone" has a reply accept that no longer allows relaying (it has no conditions'
              in p.stderr, "warning for everyone: %r" % p.stderr)
        check('rule "trusted" has' not in p.stderr, "no warning for trusted: %r" % p.stderr)
        rows = sql("SELECT name, actions FROM postern.rules_overview WHERE name IN ('trusted', 'ceo', 'everyone')"
                   " ORDER BY position", db=db)
        check(rows == [["trusted", "reply accept; relay_allow"], ["ceo", "reply accept"],
                       ["everyone", "reply accept"]], "converted rules: %r" % rows)
        check(sql("SELECT name, role FROM postern.listeners ORDER BY port", db=db)
              == [["smtp", "mx"], ["smtps", "submission"], ["submission", "submission"]], "roles")
    finally:
        sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db, user="postgres", db="postgres")
