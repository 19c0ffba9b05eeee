/*
 * test_policy.c - unit tests for daemon/policy.c: the built-in policy
 * around the rules, the hooks a session calls, and DATA-stage rules over
 * every accepted recipient (no fixed cap).
 *
 * A configuration snapshot is built by hand (one local domain, two
 * accounts, the rules of each test); policy_decide() is what both the
 * live session (through policy_check) and `posternd --explain` call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/policy.h"

static char dom_local[] = "local.test";
static char *domains[] = { dom_local };
static char acct_alice[] = "alice@local.test", acct_off[] =
    "off@local.test";
static struct config_account accounts[] = {
	{ acct_alice, NULL, 1 },
	{ acct_off, NULL, 0 },
};

static void
config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->hostname, sizeof(c->hostname), "mx.test");
	c->domains = domains;
	c->ndomains = 1;
	c->accounts = accounts;
	c->naccounts = 2;
	c->max_recipients = 5000;
	rules_init(&c->rules);
}

static void
facts_init(struct smtp_facts *f, const struct addr *sender)
{
	memset(f, 0, sizeof(*f));
	f->client_addr = "203.0.113.9";
	f->listener = "smtp";
	f->listener_port = 25;
	f->auth_user = "";
	f->helo = "client.test";
	f->sender = sender;
}

static void
mkaddr(struct addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (strcmp(s, "postmaster") == 0) {
		snprintf(a->addr, sizeof(a->addr), "postmaster");
		return;
	}
	assert_int_equal(addr_parse_mailbox(s, strlen(s), a), 0);
}

static void
add_rule(struct config *c, const char *name, const char *kind,
    const char *op, const char *value, const struct rules_action_spec *act)
{
	char err[256];
	struct rule *r = rules_add_rule(&c->rules, name, (int)c->rules.n + 1, 0);

	if (kind != NULL)
		assert_int_equal(rules_add_cond(r, kind, op, value, 0, err,
		    sizeof(err)), 0);
	assert_int_equal(rules_add_action(r, act, err, sizeof(err)), 0);
}

static enum smtp_result
rcpt(const struct config *c, struct smtp_facts *f, const char *to,
    struct policy_decision *d)
{
	struct addr a;

	mkaddr(&a, to);
	f->rcpt = &a;
	policy_decide(c, SMTP_STAGE_RCPT, f, d, NULL, NULL);
	policy_decision_free(d);
	f->rcpt = NULL;
	return d->result;
}

/* RCPT: postmaster always; local needs an enabled account; relaying needs
 * AUTH or a relay_allow rule (never a reply accept); a rule's reject wins
 * over all of it. */
static void
test_rcpt_builtin(void **state)
{
	struct rules_action_spec accept = { .kind = "reply", .reply =
	    "accept" }, reject = { .kind = "reply", .reply = "reject",
	    .code = 550, .ecode = "5.7.1", .text = "not this one" },
	    relay = { .kind = "relay_allow" };
	struct policy_decision d;
	struct smtp_facts f;
	struct config c;
	struct addr from;

	(void)state;
	config_init(&c);
	mkaddr(&from, "s@remote.test");
	facts_init(&f, &from);
	assert_int_equal(rcpt(&c, &f, "postmaster", &d), SMTP_OK);
	assert_int_equal(rcpt(&c, &f, "Alice@local.test", &d), SMTP_OK);
	assert_int_equal(rcpt(&c, &f, "nobody@local.test", &d), SMTP_PERMFAIL);
	assert_int_equal(d.by, POLICY_BY_BUILTIN);
	assert_int_equal(d.reply.code, 550);
	assert_string_equal(d.reply.ecode, "5.1.1");
	assert_string_equal(d.reply.text, "<nobody@local.test>: Recipient "
	    "address rejected: User unknown in local recipient table");
	assert_int_equal(rcpt(&c, &f, "off@local.test", &d), SMTP_PERMFAIL);
	assert_int_equal(rcpt(&c, &f, "bob@far.test", &d), SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 554);
	assert_string_equal(d.reply.text, "<bob@far.test>: Relay access "
	    "denied");
	f.auth_user = "alice@local.test";
	assert_int_equal(rcpt(&c, &f, "bob@far.test", &d), SMTP_OK);
	assert_int_equal(rcpt(&c, &f, "nobody@local.test", &d), SMTP_PERMFAIL);
	f.auth_user = "";
	/* A reply accept never grants relaying, whatever its conditions. */
	add_rule(&c, "accept_net", "conn_remote_addr", "in_cidr",
	    "203.0.113.0/24", &accept);
	add_rule(&c, "accept_sender", "sender_address", "is", "s@remote.test",
	    &accept);
	assert_int_equal(rcpt(&c, &f, "bob@far.test", &d), SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 554);
	assert_string_equal(d.reply.ecode, "5.7.1");
	/* A relay_allow rule allows relaying, never an unknown local user. */
	add_rule(&c, "trusted", "conn_remote_addr", "in_cidr",
	    "203.0.113.0/24", &relay);
	assert_int_equal(rcpt(&c, &f, "bob@far.test", &d), SMTP_OK);
	assert_int_equal(rcpt(&c, &f, "nobody@local.test", &d), SMTP_PERMFAIL);
	/* A rule's reject wins, even for postmaster. */
	add_rule(&c, "no", "rcpt_local", "is", "true", &reject);
	assert_int_equal(rcpt(&c, &f, "postmaster", &d), SMTP_PERMFAIL);
	assert_int_equal(d.by, POLICY_BY_RULE);
	assert_string_equal(d.reply.text, "not this one");
	assert_string_equal(d.rules.reply_rule, "no");
	rules_free(&c.rules);
}

/* DATA: a recipient condition holds when it holds for any accepted
 * recipient, the 1500th as much as the first (no 1000-entry cap). */
static void
test_data_sees_every_recipient(void **state)
{
	enum { N = 1500 };
	struct rules_action_spec reject = { .kind = "reply", .reply =
	    "reject", .code = 550, .ecode = "5.7.1", .text = "late" };
	struct store_rcpt *rcpts = calloc(N, sizeof(*rcpts));
	struct policy_decision d;
	struct smtp_facts f;
	struct config c;
	struct addr from;
	char to[64];
	size_t i;

	(void)state;
	assert_non_null(rcpts);
	config_init(&c);
	add_rule(&c, "last_one", "rcpt_domain", "is", "last.test", &reject);
	for (i = 0; i < N; i++) {
		snprintf(to, sizeof(to), "r%zu@%s", i, i == N - 1 ?
		    "last.test" : "far.test");
		mkaddr(&rcpts[i].addr, to);
	}
	mkaddr(&from, "s@remote.test");
	facts_init(&f, &from);
	f.rcpts = rcpts;
	f.nrcpts = N - 1;
	assert_int_equal(policy_decide(&c, SMTP_STAGE_DATA, &f, &d, NULL,
	    NULL), SMTP_OK);
	f.nrcpts = N;
	assert_int_equal(policy_decide(&c, SMTP_STAGE_DATA, &f, &d, NULL,
	    NULL), SMTP_PERMFAIL);
	assert_int_equal(d.by, POLICY_BY_RULE);
	assert_string_equal(d.reply.text, "late");
	free(rcpts);
	rules_free(&c.rules);
}

/* The hooks: the route goes to the verdict at RCPT, the headers to the
 * buffer at DATA; AUTH mechanisms per connection kind. */
static void
test_hooks(void **state)
{
	struct rules_action_spec host = { .kind = "relay_host", .host =
	    "smart.test", .port = 465 }, tls = { .kind = "relay_tls", .tls =
	    "implicit", .verify = "t" }, ver = { .kind = "relay_tls_versions",
	    .versions = "{TLSv1.2,TLSv1.3}" }, hdr = { .kind = "add_header",
	    .hname = "X-Tag", .hvalue = "v" }, auth = { .kind = "auth_tls",
	    .mechs = "{PLAIN}" };
	struct smtp_verdict v;
	struct smtp_facts f;
	struct store_rcpt one;
	struct config c;
	struct addr from;
	struct buf h;

	(void)state;
	config_init(&c);
	add_rule(&c, "route", NULL, NULL, NULL, &host);
	add_rule(&c, "tls", NULL, NULL, NULL, &tls);
	add_rule(&c, "ver", NULL, NULL, NULL, &ver);
	add_rule(&c, "hdr", NULL, NULL, NULL, &hdr);
	add_rule(&c, "auth", NULL, NULL, NULL, &auth);
	mkaddr(&from, "s@remote.test");
	facts_init(&f, &from);
	mkaddr(&one.addr, "alice@local.test");
	memset(&v, 0, sizeof(v));
	f.rcpt = &one.addr;
	assert_int_equal(policy_check(&c, SMTP_STAGE_RCPT, &f, &v), SMTP_OK);
	assert_int_equal(v.reply.code, 0);
	assert_string_equal(v.route.host, "smart.test");
	assert_int_equal(v.route.port, 465);
	assert_int_equal(v.route.tls, RELAY_TLS_IMPLICIT);
	assert_int_equal(v.route.verify, RELAY_VERIFY_YES);
	assert_int_equal(v.route.versions, TLS_VERSIONS_12 | TLS_VERSIONS_13);
	/* The recipient to store, with the same route. */
	assert_int_equal(v.ntargets, 1);
	assert_string_equal(v.targets[0].addr.addr, "alice@local.test");
	assert_string_equal(v.targets[0].route.host, "smart.test");
	free(v.targets);
	f.rcpt = NULL;
	f.rcpts = &one;
	f.nrcpts = 1;
	buf_init(&h, 1024);
	memset(&v, 0, sizeof(v));
	v.headers = &h;
	assert_int_equal(policy_check(&c, SMTP_STAGE_DATA, &f, &v), SMTP_OK);
	assert_int_equal(buf_unread(&h), strlen("X-Tag: v\r\n"));
	assert_memory_equal(buf_data(&h), "X-Tag: v\r\n", 10);
	buf_free(&h);
	assert_int_equal(policy_auth_mechs(&c, &f, 1), AUTH_MECH_PLAIN);
	assert_int_equal(policy_auth_mechs(&c, &f, 0), 0);
	rules_free(&c.rules);
}

static enum smtp_result
mail(const struct config *c, struct smtp_facts *f, const char *from,
    struct addr *a, struct policy_decision *d)
{
	if (from[0] == '\0') {
		memset(a, 0, sizeof(*a));
		a->is_null = 1;
	} else
		mkaddr(a, from);
	f->sender = a;
	return policy_decide(c, SMTP_STAGE_MAIL, f, d, NULL, NULL);
}

/* MAIL on a submission listener needs AUTH first (530 5.7.0); an
 * authenticated user may use only the senders it owns (553 5.7.1): the
 * null sender, its account (any case), or what a sender_allow rule
 * allows.  On an mx listener unauthenticated MAIL is not restricted. */
static void
test_mail_submission_and_sender_ownership(void **state)
{
	struct rules_action_spec allow = { .kind = "sender_allow" };
	struct policy_decision d;
	struct smtp_facts f;
	struct config c;
	struct addr a;
	char err[256];
	struct rule *r;

	(void)state;
	config_init(&c);
	facts_init(&f, NULL);
	assert_int_equal(mail(&c, &f, "anyone@far.test", &a, &d), SMTP_OK);
	f.submission = 1;
	assert_int_equal(mail(&c, &f, "anyone@far.test", &a, &d),
	    SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 530);
	assert_string_equal(d.reply.ecode, "5.7.0");
	assert_string_equal(d.reply.text, "Authentication required");
	assert_int_equal(mail(&c, &f, "", &a, &d), SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 530);
	f.auth_user = "alice@local.test";
	assert_int_equal(mail(&c, &f, "Alice@LOCAL.test", &a, &d), SMTP_OK);
	assert_int_equal(mail(&c, &f, "", &a, &d), SMTP_OK);
	assert_int_equal(mail(&c, &f, "off@local.test", &a, &d),
	    SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 553);
	assert_string_equal(d.reply.ecode, "5.7.1");
	assert_string_equal(d.reply.text, "<off@local.test>: Sender address "
	    "rejected: not owned by user");
	/* The same on an mx listener: ownership follows AUTH, not the port. */
	f.submission = 0;
	assert_int_equal(mail(&c, &f, "ceo@partner.test", &a, &d),
	    SMTP_PERMFAIL);
	assert_int_equal(d.reply.code, 553);
	/* A sender_allow rule scoped to the user and a domain. */
	r = rules_add_rule(&c.rules, "alice_partner", 1, 0);
	assert_int_equal(rules_add_cond(r, "conn_auth_user", "is",
	    "alice@local.test", 0, err, sizeof(err)), 0);
	assert_int_equal(rules_add_cond(r, "sender_domain", "in_domain",
	    "partner.test", 0, err, sizeof(err)), 0);
	assert_int_equal(rules_add_action(r, &allow, err, sizeof(err)), 0);
	assert_int_equal(mail(&c, &f, "ceo@partner.test", &a, &d), SMTP_OK);
	assert_int_equal(mail(&c, &f, "x@evil.partner.test.example", &a, &d),
	    SMTP_PERMFAIL);
	f.auth_user = "bob@local.test";
	assert_int_equal(mail(&c, &f, "ceo@partner.test", &a, &d),
	    SMTP_PERMFAIL);
	assert_string_equal(policy_sender_alias_owned(&c, "bob@local.test",
	    "ceo@partner.test") ? "owned" : "not", "not");
	rules_free(&c.rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rcpt_builtin),
		cmocka_unit_test(test_mail_submission_and_sender_ownership),
		cmocka_unit_test(test_data_sees_every_recipient),
		cmocka_unit_test(test_hooks),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
