"""Aliases (issue 12, RFC duties): postmaster@ every local domain in any
case, aliases with catch-all and the recipient delimiter expanded at RCPT
into the stored recipients, remote targets relayed because the alias grants
them (never because the client asks), loops and depth refused with 451
4.4.6, duplicates stored once, max_recipients counted after expansion, the
admin address and its postmaster@/abuse@ aliases, and the SQL functions and
views."""
from harness import (ALICE, BOB, DOMAIN, PORT_SMTP, Client, check, q, queue_id_of,
                     send_message, sql, sql_try, sql_value)


def change(env, statements):
    """Runs SQL that changes the configuration and waits for the reload."""
    off = env.daemon.log_size()
    sql(statements)
    env.daemon.wait_reload(off)


def stored(qid):
    return [r[0] for r in sql("SELECT r.address FROM postern.recipients r JOIN postern.messages m "
                              "ON m.id = r.message_id WHERE m.queue_id = %s ORDER BY r.rcpt_no" % q(qid))]


def deliver(rcpts, sender="someone@client.test"):
    """One unauthenticated transaction; returns the stored recipients."""
    with Client(PORT_SMTP) as c:
        code, text = send_message(c, sender, rcpts, "Subject: alias\n\nhello\n")
        c.expect("QUIT", 221)
    return stored(queue_id_of(text))


def rcpt_reply(rcpt):
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<someone@client.test>", 250)
        code, text = c.cmd("RCPT TO:<%s>" % rcpt)
        c.expect("NOOP", 250)  # the daemon keeps serving
        c.expect("QUIT", 221)
    return code, text


def test_alias_postmaster_every_local_domain(env):
    change(env, "SELECT postern.add_domain('other.test')")
    try:
        for r in ("postmaster", "POSTMASTER", "postmaster@" + DOMAIN, "PostMaster@EXAMPLE.TEST",
                  "postmaster@other.test"):
            code, text = rcpt_reply(r)
            check(code == 250, "RCPT <%s>: %r" % (r, text))
        # Not a local domain: still a relay attempt.
        code, text = rcpt_reply("postmaster@far.test")
        check(code == 554 and "5.7.1" in text, "postmaster@far.test: %r" % text)
    finally:
        change(env, "DELETE FROM postern.domains WHERE name = 'other.test'")


def test_alias_admin_address_roles(env):
    change(env, "SELECT postern.set_admin_address(%s)" % q(ALICE))
    try:
        check(sql_value("SELECT count(*) FROM postern.aliases WHERE target = %s AND source IN (%s, %s)"
                        % (q(ALICE), q("postmaster@" + DOMAIN), q("abuse@" + DOMAIN))) == "2",
              "set_admin_address did not alias postmaster@ and abuse@")
        change(env, "SELECT postern.add_domain('new.test')")
        check(sql_value("SELECT count(*) FROM postern.aliases WHERE domain = 'new.test'") == "2",
              "a new domain did not get postmaster@ and abuse@ aliases")
        check(deliver(["Abuse@new.test"]) == [ALICE], "abuse@new.test not stored as alice")
        # Bare <postmaster> goes to the admin address, stored once.
        check(deliver(["postmaster", "postmaster@" + DOMAIN]) == [ALICE],
              "postmaster not stored once as alice")
    finally:
        change(env, "UPDATE postern.settings SET admin_address = NULL;"
                    "DELETE FROM postern.domains WHERE name = 'new.test';"
                    "DELETE FROM postern.aliases WHERE target = %s" % q(ALICE))


def test_alias_catch_all_delimiter_and_order(env):
    change(env, "SELECT postern.add_domain('catch.test');"
                "SELECT postern.add_account('carol@catch.test');"
                "SELECT postern.add_alias('@catch.test', %s);"
                "SELECT postern.add_alias('sales@catch.test', %s);" % (q(BOB), q(ALICE)))
    try:
        check(deliver(["anything@catch.test"]) == [BOB], "catch-all")
        check(deliver(["Sales@catch.test"]) == [ALICE], "an exact alias must win over the catch-all")
        check(deliver(["carol@catch.test"]) == ["carol@catch.test"],
              "an account must win over the catch-all")
        check(deliver(["bob+lists@" + DOMAIN]) == [BOB], "user+tag must reach user")
        check(deliver(["sales+x@catch.test"]) == [ALICE], "alias+tag must reach the alias")
        code, text = rcpt_reply("nobody+x@" + DOMAIN)
        check(code == 550 and "5.1.1" in text, "unknown user+tag: %r" % text)
        change(env, "UPDATE postern.settings SET recipient_delimiter = ''")
        code, text = rcpt_reply("bob+lists@" + DOMAIN)
        check(code == 550, "with no delimiter, bob+lists must be unknown: %r" % text)
    finally:
        change(env, "UPDATE postern.settings SET recipient_delimiter = '+';"
                    "DELETE FROM postern.domains WHERE name = 'catch.test'")


def test_alias_remote_target_relayed_by_alias_only(env):
    change(env, "SELECT postern.add_alias(%s, 'friend@far.test', %s)" % (q("fwd@" + DOMAIN), q(ALICE)))
    try:
        check(sorted(deliver(["fwd@" + DOMAIN])) == sorted(["friend@far.test", ALICE]),
              "remote target of an alias not stored")
        code, text = rcpt_reply("friend@far.test")
        check(code == 554 and "5.7.1" in text, "the client must not relay by itself: %r" % text)
    finally:
        change(env, "SELECT postern.remove_alias(%s)" % q("fwd@" + DOMAIN))


def test_alias_loop_and_depth(env):
    chain = ";".join("SELECT postern.add_alias('d%d@%s', 'd%d@%s')" % (i, DOMAIN, i + 1, DOMAIN)
                     for i in range(8))
    change(env, "SELECT postern.add_alias('loop1@%s', 'loop2@%s');"
                "SELECT postern.add_alias('loop2@%s', 'loop1@%s');"
                "%s; SELECT postern.add_alias('d8@%s', %s);" % (DOMAIN, DOMAIN, DOMAIN, DOMAIN, chain,
                                                                DOMAIN, q(ALICE)))
    try:
        code, text = rcpt_reply("loop1@" + DOMAIN)
        check(code == 451 and text.startswith("451 4.4.6"), "loop: %r" % text)
        check("loop2" not in text, "the reply names an alias target: %r" % text)
        # d1 .. d8: 8 levels pass; d0: 9 levels are refused.
        check(deliver(["d1@" + DOMAIN]) == [ALICE], "8 alias levels must pass")
        code, text = rcpt_reply("d0@" + DOMAIN)
        check(code == 451 and text.startswith("451 4.4.6"), "9 levels: %r" % text)
        env.healthy_session()
    finally:
        change(env, "DELETE FROM postern.aliases WHERE source ~ '^(loop|d)[0-9]@'")


def test_alias_duplicates_and_max_recipients(env):
    change(env, "SELECT postern.add_alias(%s, %s, %s, 'x@far.test')" % (q("list@" + DOMAIN), q(ALICE), q(BOB)))
    try:
        check(deliver([ALICE, "list@" + DOMAIN, "LIST@" + DOMAIN]) == [ALICE, BOB, "x@far.test"],
              "duplicates after expansion must be stored once")
        change(env, "UPDATE postern.settings SET max_recipients = 2")
        code, text = rcpt_reply("list@" + DOMAIN)
        check(code == 452 and "4.5.3" in text, "3 targets with max_recipients 2: %r" % text)
    finally:
        change(env, "UPDATE postern.settings SET max_recipients = DEFAULT;"
                    "SELECT postern.remove_alias(%s)" % q("list@" + DOMAIN))


def test_alias_sql_functions_and_views(env):
    src = "team@" + DOMAIN
    try:
        check(sql_value("SELECT postern.add_alias(%s, %s, %s)" % (q(" Team@Example.TEST "), q(ALICE), q(BOB))) == "2",
              "add_alias must report 2 new targets")
        check(sql_value("SELECT postern.add_alias(%s, %s)" % (q(src), q(ALICE))) == "0",
              "a target already there is not added again")
        row = sql("SELECT kind, array_to_string(targets, ','), has_remote FROM postern.alias_list "
                  "WHERE source = %s" % q(src))
        check(row == [["address", "%s,%s" % (ALICE, BOB), "f"]], "alias_list: %r" % row)
        sql("SELECT postern.add_alias(%s, %s)" % (q("all@" + DOMAIN), q(src)))
        rows = sql("SELECT alias, depth FROM postern.account_aliases WHERE account = %s ORDER BY alias" % q(ALICE))
        check(rows == [["all@" + DOMAIN, "2"], [src, "1"]], "account_aliases: %r" % rows)
        ok, _, err = sql_try("SELECT postern.add_alias('x@nowhere.test', %s)" % q(ALICE))
        check(not ok and "not a local domain" in err, "non-local source: %r" % err)
        ok, _, err = sql_try("SELECT postern.add_alias(%s, 'no at sign')" % q(src))
        check(not ok and "aliases.target must look like local@domain" in err, "bad target: %r" % err)
        ok, _, err = sql_try("UPDATE postern.settings SET recipient_delimiter = '@'")
        check(not ok and "settings.recipient_delimiter" in err, "bad delimiter: %r" % err)
        check(sql_value("SELECT postern.remove_alias(%s, %s)" % (q(src), q(BOB))) == "1", "remove one target")
        check(sql_value("SELECT postern.remove_alias(%s)" % q(src)) == "1", "remove the rest")
    finally:
        sql("DELETE FROM postern.aliases WHERE source IN (%s, %s)" % (q(src), q("all@" + DOMAIN)))
