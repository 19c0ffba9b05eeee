/*
 * test_alias.c - unit tests for daemon/alias.c (alias expansion) and its
 * use by policy_decide() at RCPT: exact alias before account before
 * user+tag before catch-all, postmaster@ any local domain in any case,
 * self-aliases, loops, the depth limit, duplicates stored once, the
 * max_recipients bound, remote targets relayed with their own route, and
 * alias_reaches() for sender checks.
 *
 * The snapshot is built by hand: domains a.test and b.test, a few
 * accounts, aliases sorted as config_finish() would sort them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/alias.h"
#include "daemon/policy.h"

static char d_a[] = "a.test", d_b[] = "b.test";
static char *domains[] = { d_a, d_b };

#define ACCT(s, on) { (char *)(s), NULL, (on) }
static struct config_account accounts[] = {	/* sorted */
	ACCT("alice@a.test", 1),
	ACCT("bob@a.test", 1),
	ACCT("carol@b.test", 1),
	ACCT("off@a.test", 0),
	ACCT("root@a.test", 1),
};

#define AL(s, t) { (char *)(s), (char *)(t) }
static struct config_alias base_aliases[] = {
	AL("@b.test", "carol@b.test"),
	AL("abuse@a.test", "root@a.test"),
	AL("dangling@a.test", "ghost@a.test"),
	AL("deep0@a.test", "deep1@a.test"),
	AL("deep1@a.test", "deep2@a.test"),
	AL("deep2@a.test", "deep3@a.test"),
	AL("deep3@a.test", "deep4@a.test"),
	AL("deep4@a.test", "deep5@a.test"),
	AL("deep5@a.test", "deep6@a.test"),
	AL("deep6@a.test", "deep7@a.test"),
	AL("deep7@a.test", "deep8@a.test"),
	AL("deep8@a.test", "alice@a.test"),
	AL("eight1@a.test", "deep2@a.test"),
	AL("far@a.test", "x@far.test"),
	AL("keep@a.test", "bob@a.test"),
	AL("keep@a.test", "keep@a.test"),
	AL("list@a.test", "alice@a.test"),
	AL("list@a.test", "bob@a.test"),
	AL("list@a.test", "team@a.test"),
	AL("loop1@a.test", "loop2@a.test"),
	AL("loop2@a.test", "loop1@a.test"),
	AL("sales@b.test", "alice@a.test"),
	AL("team@a.test", "alice@a.test"),
	AL("team@a.test", "x@far.test"),
	AL("vip@a.test", "alice@a.test"),
};

static void
config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->hostname, sizeof(c->hostname), "mx.test");
	c->domains = domains;
	c->ndomains = 2;
	c->accounts = accounts;
	c->naccounts = sizeof(accounts) / sizeof(accounts[0]);
	c->aliases = base_aliases;
	c->naliases = sizeof(base_aliases) / sizeof(base_aliases[0]);
	c->max_recipients = 100;
	snprintf(c->recipient_delimiter, sizeof(c->recipient_delimiter), "+");
	rules_init(&c->rules);
}

static void
mkaddr(struct addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (strchr(s, '@') == NULL) {
		snprintf(a->addr, sizeof(a->addr), "%s", s);
		return;
	}
	assert_int_equal(addr_parse_mailbox(s, strlen(s), a), 0);
}

/* Expands to and returns the targets joined by ",", or the status name. */
static const char *
expand(const struct config *c, const char *to, size_t max)
{
	static char out[2048];
	static const char *names[] = { "ok", "unknown", "loop", "too deep",
	    "too many", "bad target" };
	struct alias_result r;
	struct addr a;
	size_t i;

	mkaddr(&a, to);
	out[0] = '\0';
	if (alias_expand(c, &a, max, &r) != ALIAS_OK) {
		snprintf(out, sizeof(out), "%s: %s", names[r.status], r.where);
	} else {
		for (i = 0; i < r.n; i++) {
			if (i > 0)
				strncat(out, ",", sizeof(out) - strlen(out) - 1);
			strncat(out, r.targets[i].addr, sizeof(out) -
			    strlen(out) - 1);
		}
	}
	free(r.targets);
	return out;
}

static void
test_order(void **state)
{
	struct config c;

	(void)state;
	config_init(&c);
	/* An account is itself, as typed. */
	assert_string_equal(expand(&c, "Alice@a.test", 100), "Alice@a.test");
	/* An exact alias; an alias wins over the catch-all. */
	assert_string_equal(expand(&c, "VIP@a.test", 100), "alice@a.test");
	assert_string_equal(expand(&c, "sales@b.test", 100), "alice@a.test");
	/* The catch-all takes what has neither alias nor account; an
	 * account wins over it. */
	assert_string_equal(expand(&c, "anything@b.test", 100),
	    "carol@b.test");
	assert_string_equal(expand(&c, "carol@b.test", 100), "carol@b.test");
	/* No catch-all in a.test: unknown. */
	assert_string_equal(expand(&c, "nobody@a.test", 100),
	    "unknown: nobody@a.test");
	/* A disabled account is unknown, also through an alias. */
	assert_string_equal(expand(&c, "off@a.test", 100),
	    "unknown: off@a.test");
	/* Remote addresses are final. */
	assert_string_equal(expand(&c, "x@far.test", 100), "x@far.test");
	assert_string_equal(expand(&c, "far@a.test", 100), "x@far.test");
	/* A dangling target is unknown where it dangles. */
	assert_string_equal(expand(&c, "dangling@a.test", 100),
	    "unknown: ghost@a.test");
}

static void
test_delimiter(void **state)
{
	struct config c;

	(void)state;
	config_init(&c);
	assert_string_equal(expand(&c, "bob+lists@a.test", 100), "bob@a.test");
	assert_string_equal(expand(&c, "vip+x@a.test", 100), "alice@a.test");
	assert_string_equal(expand(&c, "nobody+x@a.test", 100),
	    "unknown: nobody+x@a.test");
	/* A leading delimiter is part of the name. */
	assert_string_equal(expand(&c, "+bob@a.test", 100),
	    "unknown: +bob@a.test");
	c.recipient_delimiter[0] = '\0';
	assert_string_equal(expand(&c, "bob+lists@a.test", 100),
	    "unknown: bob+lists@a.test");
	snprintf(c.recipient_delimiter, sizeof(c.recipient_delimiter), "-+");
	assert_string_equal(expand(&c, "bob-x@a.test", 100), "bob@a.test");
}

static void
test_postmaster(void **state)
{
	struct config c;

	(void)state;
	config_init(&c);
	/* Without admin_address: accepted as it is. */
	assert_string_equal(expand(&c, "postmaster", 100), "postmaster");
	assert_string_equal(expand(&c, "PostMaster@a.test", 100),
	    "PostMaster@a.test");
	/* b.test's catch-all takes it. */
	assert_string_equal(expand(&c, "postmaster@b.test", 100),
	    "carol@b.test");
	snprintf(c.admin_address, sizeof(c.admin_address), "root@a.test");
	assert_string_equal(expand(&c, "postmaster", 100), "root@a.test");
	assert_string_equal(expand(&c, "POSTMASTER@a.test", 100),
	    "root@a.test");
	/* admin_address may be an alias itself. */
	snprintf(c.admin_address, sizeof(c.admin_address), "list@a.test");
	assert_string_equal(expand(&c, "postmaster", 100),
	    "alice@a.test,bob@a.test,x@far.test");
}

static void
test_loops_and_limits(void **state)
{
	struct config c;

	(void)state;
	config_init(&c);
	assert_string_equal(expand(&c, "loop1@a.test", 100),
	    "loop: loop1@a.test");
	assert_string_equal(expand(&c, "Loop2@a.test", 100),
	    "loop: loop2@a.test");
	/* An alias to itself is its own mailbox, not a loop. */
	assert_string_equal(expand(&c, "keep@a.test", 100),
	    "unknown: keep@a.test");
	/* 8 levels pass, 9 do not. */
	assert_string_equal(expand(&c, "eight1@a.test", 100), "alice@a.test");
	assert_string_equal(expand(&c, "deep0@a.test", 100),
	    "too deep: deep8@a.test");
	/* Duplicates are stored once: list -> alice, bob, team -> alice. */
	assert_string_equal(expand(&c, "list@a.test", 100),
	    "alice@a.test,bob@a.test,x@far.test");
	assert_string_equal(expand(&c, "list@a.test", 3),
	    "alice@a.test,bob@a.test,x@far.test");
	assert_string_equal(expand(&c, "list@a.test", 2),
	    "too many: x@far.test");
}

static void
test_reaches(void **state)
{
	struct config c;

	(void)state;
	config_init(&c);
	assert_true(alias_reaches(&c, "alice@a.test", "alice@a.test"));
	assert_true(alias_reaches(&c, "vip@a.test", "alice@a.test"));
	assert_true(alias_reaches(&c, "list@a.test", "alice@a.test"));
	assert_true(alias_reaches(&c, "sales@b.test", "alice@a.test"));
	assert_false(alias_reaches(&c, "vip@a.test", "bob@a.test"));
	assert_false(alias_reaches(&c, "loop1@a.test", "alice@a.test"));
	assert_false(alias_reaches(&c, "not an address", "alice@a.test"));
}

static enum smtp_result
rcpt(const struct config *c, struct smtp_facts *f, const char *to,
    struct policy_decision *d)
{
	struct addr a;

	mkaddr(&a, to);
	f->rcpt = &a;
	policy_decide(c, SMTP_STAGE_RCPT, f, d, NULL, NULL);
	f->rcpt = NULL;
	return d->result;
}

/* Through policy: the replies, relaying granted by the alias, each target
 * with the route the rules decide for it. */
static void
test_policy(void **state)
{
	struct rules_action_spec host = { .kind = "relay_host", .host =
	    "smart.test", .port = 587 };
	struct rules_ctx x;
	struct policy_decision d;
	struct smtp_facts f;
	struct config c;
	struct addr from;
	char err[256];
	struct rule *r;

	(void)state;
	(void)x;
	config_init(&c);
	r = rules_add_rule(&c.rules, "far", 1, 0);
	assert_int_equal(rules_add_cond(r, "rcpt_domain", "is", "far.test", 0,
	    err, sizeof(err)), 0);
	assert_int_equal(rules_add_action(r, &host, err, sizeof(err)), 0);
	mkaddr(&from, "s@remote.test");
	memset(&f, 0, sizeof(f));
	f.client_addr = "203.0.113.9";
	f.listener = "smtp";
	f.listener_port = 25;
	f.auth_user = "";
	f.helo = "client.test";
	f.sender = &from;

	assert_int_equal(rcpt(&c, &f, "PostMaster@A.test", &d), SMTP_OK);
	assert_int_equal(d.ntargets, 1);
	policy_decision_free(&d);
	/* Not authenticated, yet team's remote target is relayed, with the
	 * route the rules give far.test; alice gets the default route. */
	assert_int_equal(rcpt(&c, &f, "team@a.test", &d), SMTP_OK);
	assert_int_equal(d.ntargets, 2);
	assert_string_equal(d.targets[0].addr.addr, "alice@a.test");
	assert_string_equal(d.targets[0].route.host, "");
	assert_string_equal(d.targets[1].addr.addr, "x@far.test");
	assert_string_equal(d.targets[1].route.host, "smart.test");
	assert_int_equal(d.targets[1].route.port, 587);
	policy_decision_free(&d);
	/* The client still cannot choose a remote target itself. */
	assert_int_equal(rcpt(&c, &f, "x@far.test", &d), SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 554);
	assert_null(d.targets);
	assert_int_equal(rcpt(&c, &f, "loop1@a.test", &d), SMTP_TEMPFAIL);
	assert_int_equal(d.reply.code, 451);
	assert_string_equal(d.reply.ecode, "4.4.6");
	assert_null(d.targets);
	assert_int_equal(rcpt(&c, &f, "deep0@a.test", &d), SMTP_TEMPFAIL);
	assert_string_equal(d.reply.ecode, "4.4.6");
	/* The reply never names a target. */
	assert_int_equal(rcpt(&c, &f, "dangling@a.test", &d), SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 550);
	assert_string_equal(d.reply.text, "<dangling@a.test>: Recipient "
	    "address rejected: User unknown in local recipient table");
	c.max_recipients = 2;
	assert_int_equal(rcpt(&c, &f, "list@a.test", &d), SMTP_TEMPFAIL);
	assert_int_equal(d.reply.code, 452);
	assert_string_equal(d.reply.ecode, "4.5.3");
	rules_free(&c.rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_delimiter),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_loops_and_limits),
		cmocka_unit_test(test_reaches),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
