/*
 * test_rules.c - unit tests for daemon/rules.c (the rules engine).
 *
 * Most tests are tables.  A single-condition case names the condition's
 * SQL spelling (kind, op, value, negate), the fact the context carries for
 * that kind and whether the rule must match; run_cond_cases() evaluates it
 * at the condition's own stage and again at DATA (where a recipient fact
 * comes from ctx->rcpts).  Whether a rule matched is read through the trace
 * callback, which also checks that it was considered exactly once.
 * Decision tests compare a text rendering of the result (describe()).
 *
 * Failure: a test fails via cmocka with got/want messages.  Every ruleset
 * is freed, so the ASan build reports any leak in rules.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/rules.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define expect_int(what, got, want) do {				\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	if (g_ != w_)							\
		fail_msg("%s: got %lld want %lld", (what), g_, w_);	\
} while (0)

#define expect_str(what, got, want) do {				\
	const char *g_ = (got), *w_ = (want);				\
	if (g_ == NULL || strcmp(g_, w_) != 0)				\
		fail_msg("%s: got \"%s\" want \"%s\"", (what),		\
		    g_ ? g_ : "(null)", w_);				\
} while (0)

#define expect_contains(what, hay, needle) do {				\
	const char *h_ = (hay), *n_ = (needle);				\
	if (strstr(h_, n_) == NULL)					\
		fail_msg("%s: got \"%s\" want it to contain \"%s\"",	\
		    (what), h_, n_);					\
} while (0)

/* ---- helpers ---- */

#define TRACE_MAX 32

struct trace {
	size_t n;
	const char *name[TRACE_MAX];
	int matched[TRACE_MAX];
};

static void
trace_fn(void *arg, const struct rule *r, int matched)
{
	struct trace *t = arg;

	if (t->n >= TRACE_MAX)
		fail_msg("trace: more than %d calls", TRACE_MAX);
	t->name[t->n] = r->name;
	t->matched[t->n] = matched;
	t->n++;
}

/* Evaluates rs and returns the trace. */
static void
eval(const struct ruleset *rs, enum rules_stage st, const struct rules_ctx *x,
    struct rules_result *res, struct trace *t)
{
	memset(t, 0, sizeof(*t));
	rules_eval(rs, st, x, res, trace_fn, t);
}

/* A context where nothing special holds. */
static struct rules_ctx
base_ctx(void)
{
	struct rules_ctx x;

	memset(&x, 0, sizeof(x));
	x.client_addr = "192.0.2.10";
	x.listener = "smtp";
	x.listener_port = 25;
	x.auth_user = "";
	x.helo = "client.example.org";
	x.sender = "alice@example.org";
	x.sender_domain = "example.org";
	x.rcpt.addr = "bob@example.net";
	x.rcpt.domain = "example.net";
	x.rcpt.local = 1;
	x.size = 1000;
	return x;
}

static void
add_cond_ok(struct rule *r, const char *kind, const char *op,
    const char *value, int negate)
{
	char err[256] = "";

	if (rules_add_cond(r, kind, op, value, negate, err, sizeof(err)) != 0)
		fail_msg("rules_add_cond(%s %s \"%s\"): got -1 (%s) want 0",
		    kind, op, value, err);
}

static void
add_action_ok(struct rule *r, const struct rules_action_spec *a)
{
	char err[256] = "";

	if (rules_add_action(r, a, err, sizeof(err)) != 0)
		fail_msg("rules_add_action(%s): got -1 (%s) want 0", a->kind,
		    err);
}

static const struct rules_action_spec act_stop = { .kind = "stop" };

static struct rules_action_spec
act_reply(const char *reply, int code, const char *ecode, const char *text)
{
	struct rules_action_spec a = { .kind = "reply", .reply = reply,
	    .code = code, .ecode = ecode, .text = text };

	return a;
}

static struct rules_action_spec
act_header(const char *name, const char *value)
{
	struct rules_action_spec a = { .kind = "add_header", .hname = name,
	    .hvalue = value };

	return a;
}

/* The stage rules.h assigns to a condition kind. */
static enum rules_stage
kind_stage(const char *kind)
{
	if (strcmp(kind, "conn_helo") == 0)
		return RULES_EHLO;
	if (strncmp(kind, "sender_", 7) == 0)
		return RULES_MAIL;
	if (strncmp(kind, "rcpt_", 5) == 0 ||
	    strcmp(kind, "delivery_relaying") == 0)
		return RULES_RCPT;
	if (strcmp(kind, "message_size") == 0)
		return RULES_DATA;
	return RULES_CONNECT;
}

/* One condition and the context fact it looks at.  `in` is the text fact
 * (address, name, domain, user; NULL allowed), `num` the numeric one:
 * conn_tls, sender_local, rcpt_local: the flag; delivery_relaying: 1 =
 * the recipient is not local; conn_listener: the port; message_size: the
 * size. */
struct cond_case {
	const char *kind, *op, *value;
	int negate;
	const char *in;
	unsigned long long num;
	int want;
};

static void
set_fact(const struct cond_case *c, struct rules_ctx *x, struct rules_rcpt *rc)
{
	const char *k = c->kind;

	if (strcmp(k, "conn_tls") == 0)
		x->tls = (int)c->num;
	else if (strcmp(k, "conn_remote_addr") == 0)
		x->client_addr = c->in;
	else if (strcmp(k, "conn_listener") == 0) {
		x->listener = c->in;
		x->listener_port = (int)c->num;
	} else if (strcmp(k, "conn_authenticated") == 0 ||
	    strcmp(k, "conn_auth_user") == 0)
		x->auth_user = c->in;
	else if (strcmp(k, "conn_helo") == 0)
		x->helo = c->in;
	else if (strcmp(k, "sender_address") == 0)
		x->sender = c->in;
	else if (strcmp(k, "sender_domain") == 0)
		x->sender_domain = c->in;
	else if (strcmp(k, "sender_local") == 0)
		x->sender_local = (int)c->num;
	else if (strcmp(k, "rcpt_address") == 0)
		rc->addr = c->in;
	else if (strcmp(k, "rcpt_domain") == 0)
		rc->domain = c->in;
	else if (strcmp(k, "rcpt_local") == 0)
		rc->local = (int)c->num;
	else if (strcmp(k, "delivery_relaying") == 0)
		rc->local = !c->num;
	else if (strcmp(k, "message_size") == 0)
		x->size = c->num;
	else
		fail_msg("set_fact: test table names unknown kind %s", k);
}

/* Evaluates the one-rule ruleset at st; returns whether it matched. */
static int
one_rule_matched(const struct ruleset *rs, enum rules_stage st,
    const struct rules_ctx *x, const char *desc)
{
	struct rules_result res;
	struct trace t;

	eval(rs, st, x, &res, &t);
	if (t.n != 1)
		fail_msg("%s at %s: trace calls got %zu want 1", desc,
		    rules_stage_name(st), t.n);
	return t.matched[0];
}

static void
run_cond_cases(const struct cond_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct ruleset rs;
		struct rule *r;
		struct rules_ctx x = base_ctx();
		struct rules_rcpt rc = x.rcpt;
		enum rules_stage st = kind_stage(c[i].kind);
		char desc[256];
		int got;

		snprintf(desc, sizeof(desc), "case %zu: %s%s %s \"%s\" on "
		    "\"%s\"/%llu", i, c[i].negate ? "NOT " : "", c[i].kind,
		    c[i].op, c[i].value, c[i].in ? c[i].in : "(null)",
		    c[i].num);
		rules_init(&rs);
		r = rules_add_rule(&rs, "r", 1, 0);
		add_cond_ok(r, c[i].kind, c[i].op, c[i].value, c[i].negate);
		expect_int(desc, r->stage, st);
		set_fact(&c[i], &x, &rc);
		x.rcpt = rc;
		got = one_rule_matched(&rs, st, &x, desc);
		if (got != c[i].want)
			fail_msg("%s at %s: matched got %d want %d", desc,
			    rules_stage_name(st), got, c[i].want);
		/* At DATA the recipient fact comes from ctx->rcpts. */
		x.rcpt = base_ctx().rcpt;
		x.rcpts = &rc;
		x.nrcpts = 1;
		got = one_rule_matched(&rs, RULES_DATA, &x, desc);
		if (got != c[i].want)
			fail_msg("%s at data: matched got %d want %d", desc, got,
			    c[i].want);
		rules_free(&rs);
	}
}

/* Adds a condition that holds (want 1) or not in base_ctx(): conn_tls is
 * false holds, conn_tls is true does not. */
static void
add_truth(struct rule *r, int holds)
{
	add_cond_ok(r, "conn_tls", "is", holds ? "false" : "true", 0);
}

/* ---- match mode ---- */

/* ALL needs every condition, ANY needs one. */
static void
test_match_all_vs_any(void **state)
{
	static const struct {
		int any;
		size_t n;
		int holds[3];
		int want;
	} cases[] = {
		{ 0, 1, { 1 }, 1 },
		{ 0, 1, { 0 }, 0 },
		{ 0, 2, { 1, 1 }, 1 },
		{ 0, 2, { 1, 0 }, 0 },
		{ 0, 2, { 0, 1 }, 0 },
		{ 0, 3, { 1, 1, 0 }, 0 },
		{ 0, 3, { 1, 1, 1 }, 1 },
		{ 1, 1, { 1 }, 1 },
		{ 1, 1, { 0 }, 0 },
		{ 1, 2, { 1, 0 }, 1 },
		{ 1, 2, { 0, 1 }, 1 },
		{ 1, 2, { 0, 0 }, 0 },
		{ 1, 3, { 0, 0, 1 }, 1 },
		{ 1, 3, { 0, 0, 0 }, 0 },
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset rs;
		struct rule *r;
		struct rules_ctx x = base_ctx();
		char desc[64];
		int got;

		rules_init(&rs);
		r = rules_add_rule(&rs, "r", 1, cases[i].any);
		for (j = 0; j < cases[i].n; j++)
			add_truth(r, cases[i].holds[j]);
		snprintf(desc, sizeof(desc), "case %zu (%s)", i,
		    cases[i].any ? "ANY" : "ALL");
		got = one_rule_matched(&rs, RULES_CONNECT, &x, desc);
		if (got != cases[i].want)
			fail_msg("%s: matched got %d want %d", desc, got,
			    cases[i].want);
		rules_free(&rs);
	}
}

/* A rule without conditions matches in both modes, at every stage, and
 * its stage is CONNECT. */
static void
test_zero_conditions_always_match(void **state)
{
	int any, st;

	(void)state;
	for (any = 0; any <= 1; any++) {
		struct ruleset rs;
		struct rule *r;

		rules_init(&rs);
		r = rules_add_rule(&rs, "empty", 1, any);
		expect_int("stage of a rule without conditions", r->stage,
		    RULES_CONNECT);
		for (st = RULES_CONNECT; st <= RULES_DATA; st++) {
			struct rules_ctx x = base_ctx();
			char desc[64];
			int got;

			snprintf(desc, sizeof(desc), "%s, no conditions",
			    any ? "ANY" : "ALL");
			got = one_rule_matched(&rs, (enum rules_stage)st, &x,
			    desc);
			if (got != 1)
				fail_msg("%s at %s: matched got %d want 1", desc,
				    rules_stage_name((enum rules_stage)st), got);
		}
		rules_free(&rs);
	}
}

/* ---- conditions and operators ---- */

/* Each kind negated: a holding condition fails, a failing one holds. */
static void
test_negation_every_kind(void **state)
{
	static const struct cond_case cases[] = {
		{ "conn_tls", "is", "true", 1, NULL, 1, 0 },
		{ "conn_tls", "is", "true", 1, NULL, 0, 1 },
		{ "conn_remote_addr", "in_cidr", "10.0.0.0/8", 1, "10.1.2.3",
		    0, 0 },
		{ "conn_remote_addr", "in_cidr", "10.0.0.0/8", 1, "11.1.2.3",
		    0, 1 },
		{ "conn_remote_addr", "is_not", "10.1.2.3", 1, "10.1.2.3", 0,
		    1 },
		{ "conn_listener", "is", "submission", 1, "submission", 587,
		    0 },
		{ "conn_listener", "is", "submission", 1, "smtp", 25, 1 },
		{ "conn_authenticated", "is", "true", 1, "alice", 0, 0 },
		{ "conn_authenticated", "is", "true", 1, "", 0, 1 },
		{ "conn_auth_user", "is", "alice", 1, "alice", 0, 0 },
		{ "conn_auth_user", "is", "alice", 1, "bob", 0, 1 },
		{ "conn_helo", "contains", "example", 1, "mx.example.com", 0,
		    0 },
		{ "conn_helo", "contains", "example", 1, "localhost", 0, 1 },
		{ "sender_address", "matches", "^alice@", 1,
		    "alice@example.org", 0, 0 },
		{ "sender_address", "matches", "^alice@", 1,
		    "malice@example.org", 0, 1 },
		{ "sender_domain", "is_not", "example.org", 1, "example.org",
		    0, 1 },
		{ "sender_domain", "is_not", "example.org", 1, "other.org", 0,
		    0 },
		{ "sender_local", "is", "true", 1, NULL, 1, 0 },
		{ "sender_local", "is", "true", 1, NULL, 0, 1 },
		{ "rcpt_address", "is", "bob@example.net", 1,
		    "bob@example.net", 0, 0 },
		{ "rcpt_address", "is", "bob@example.net", 1,
		    "eve@example.net", 0, 1 },
		{ "rcpt_domain", "is", "mydomain.com", 1, "mydomain.com", 0,
		    0 },
		{ "rcpt_domain", "is", "mydomain.com", 1, "other.com", 0, 1 },
		{ "rcpt_local", "is", "true", 1, NULL, 1, 0 },
		{ "rcpt_local", "is", "true", 1, NULL, 0, 1 },
		{ "delivery_relaying", "is", "true", 1, NULL, 1, 0 },
		{ "delivery_relaying", "is", "true", 1, NULL, 0, 1 },
		{ "message_size", "ge", "1000", 1, NULL, 1000, 0 },
		{ "message_size", "ge", "1000", 1, NULL, 999, 1 },
	};

	(void)state;
	run_cond_cases(cases, NELEM(cases));
}

/* is, is_not, contains, matches on the string kinds; is/contains ignore
 * ASCII case. */
static void
test_string_operators(void **state)
{
	static const struct cond_case cases[] = {
		{ "conn_helo", "is", "mx.example.com", 0, "mx.example.com", 0,
		    1 },
		{ "conn_helo", "is", "mx.example.com", 0, "MX.Example.COM", 0,
		    1 },
		{ "conn_helo", "is", "MX.EXAMPLE.COM", 0, "mx.example.com", 0,
		    1 },
		{ "conn_helo", "is", "mx.example.com", 0, "mx.example.com.", 0,
		    0 },
		{ "conn_helo", "is", "mx.example.com", 0, "mx.example.co", 0,
		    0 },
		{ "conn_helo", "is_not", "mx.example.com", 0, "other", 0, 1 },
		{ "conn_helo", "is_not", "mx.example.com", 0, "MX.EXAMPLE.COM",
		    0, 0 },
		{ "conn_helo", "contains", "EXAMPLE", 0, "mx.example.com", 0,
		    1 },
		{ "conn_helo", "contains", "example", 0, "MX.EXAMPLE.COM", 0,
		    1 },
		{ "conn_helo", "contains", "mx.", 0, "mx.example.com", 0, 1 },
		{ "conn_helo", "contains", ".com", 0, "mx.example.com", 0, 1 },
		{ "conn_helo", "contains", "example.org", 0, "mx.example.com",
		    0, 0 },
		{ "conn_helo", "contains", "x", 0, NULL, 0, 0 },
		{ "conn_auth_user", "is", "alice", 0, "Alice", 0, 1 },
		{ "conn_auth_user", "is", "alice", 0, "alice2", 0, 0 },
		{ "conn_auth_user", "is_not", "alice", 0, NULL, 0, 1 },
		{ "conn_auth_user", "contains", "li", 0, "ALICE", 0, 1 },
		{ "conn_auth_user", "matches", "^a.*e$", 0, "alice", 0, 1 },
		{ "sender_address", "is", "alice@example.org", 0,
		    "ALICE@Example.org", 0, 1 },
		{ "sender_address", "is", "alice@example.org", 0, "", 0, 0 },
		{ "sender_address", "is", "", 0, "", 0, 1 },
		{ "sender_address", "contains", "@example.", 0,
		    "alice@example.org", 0, 1 },
		{ "sender_address", "matches", "^$", 0, "", 0, 1 },
		{ "sender_domain", "is", "example.org", 0, "EXAMPLE.ORG", 0,
		    1 },
		{ "sender_domain", "is_not", "example.org", 0, "example.net",
		    0, 1 },
		{ "sender_domain", "contains", "ample", 0, "example.org", 0,
		    1 },
		{ "sender_domain", "matches", "\\.org$", 0, "example.org", 0,
		    1 },
		{ "rcpt_address", "is", "bob@example.net", 0,
		    "Bob@Example.NET", 0, 1 },
		{ "rcpt_address", "is_not", "bob@example.net", 0,
		    "bob@example.net", 0, 0 },
		{ "rcpt_address", "contains", "BOB@", 0, "bob@example.net", 0,
		    1 },
		{ "rcpt_address", "matches", "^bob\\+[a-z]+@", 0,
		    "bob+lists@example.net", 0, 1 },
		{ "rcpt_domain", "is", "mydomain.com", 0, "MyDomain.Com", 0,
		    1 },
		{ "rcpt_domain", "is", "mydomain.com", 0, "sub.mydomain.com",
		    0, 0 },
		{ "rcpt_domain", "contains", "domain", 0, "mydomain.com", 0,
		    1 },
		{ "rcpt_domain", "matches", "(^|\\.)mydomain\\.com$", 0,
		    "sub.mydomain.com", 0, 1 },
		{ "rcpt_domain", "matches", "(^|\\.)mydomain\\.com$", 0,
		    "notmydomain.com", 0, 0 },
	};

	(void)state;
	run_cond_cases(cases, NELEM(cases));
}

/* is/is_not on the boolean kinds, conn_listener, conn_remote_addr; ge/le
 * on message_size at the boundaries. */
static void
test_bool_listener_addr_size_operators(void **state)
{
	static const struct cond_case cases[] = {
		{ "conn_tls", "is", "true", 0, NULL, 1, 1 },
		{ "conn_tls", "is", "true", 0, NULL, 0, 0 },
		{ "conn_tls", "is", "false", 0, NULL, 0, 1 },
		{ "conn_tls", "is_not", "true", 0, NULL, 0, 1 },
		{ "conn_tls", "is_not", "true", 0, NULL, 1, 0 },
		{ "conn_authenticated", "is", "true", 0, "alice", 0, 1 },
		{ "conn_authenticated", "is", "true", 0, "", 0, 0 },
		{ "conn_authenticated", "is", "true", 0, NULL, 0, 0 },
		{ "conn_authenticated", "is_not", "true", 0, NULL, 0, 1 },
		{ "sender_local", "is", "true", 0, NULL, 1, 1 },
		{ "sender_local", "is_not", "false", 0, NULL, 1, 1 },
		{ "sender_local", "is", "false", 0, NULL, 1, 0 },
		{ "rcpt_local", "is", "true", 0, NULL, 1, 1 },
		{ "rcpt_local", "is", "false", 0, NULL, 1, 0 },
		{ "rcpt_local", "is_not", "true", 0, NULL, 0, 1 },
		{ "delivery_relaying", "is", "true", 0, NULL, 1, 1 },
		{ "delivery_relaying", "is", "true", 0, NULL, 0, 0 },
		{ "delivery_relaying", "is", "false", 0, NULL, 0, 1 },
		{ "delivery_relaying", "is_not", "true", 0, NULL, 0, 1 },
		{ "conn_listener", "is", "submission", 0, "submission", 587,
		    1 },
		{ "conn_listener", "is", "submission", 0, "Submission", 587,
		    1 },
		{ "conn_listener", "is", "submission", 0, "smtp", 25, 0 },
		{ "conn_listener", "is", "587", 0, "submission", 587, 1 },
		{ "conn_listener", "is", "587", 0, "smtp", 25, 0 },
		{ "conn_listener", "is_not", "587", 0, "smtp", 25, 1 },
		{ "conn_listener", "is_not", "smtp", 0, "smtp", 25, 0 },
		{ "conn_remote_addr", "is", "192.0.2.1", 0, "192.0.2.1", 0,
		    1 },
		{ "conn_remote_addr", "is", "192.0.2.1", 0, "192.0.2.2", 0,
		    0 },
		{ "conn_remote_addr", "is", "2001:db8::1", 0, "2001:DB8:0::1",
		    0, 1 },
		{ "conn_remote_addr", "is_not", "192.0.2.1", 0, "192.0.2.2", 0,
		    1 },
		{ "conn_remote_addr", "is_not", "192.0.2.1", 0, "192.0.2.1", 0,
		    0 },
		{ "conn_remote_addr", "in_cidr", "192.0.2.0/24", 0,
		    "192.0.2.200", 0, 1 },
		{ "conn_remote_addr", "in_cidr", "192.0.2.0/24", 0,
		    "192.0.3.1", 0, 0 },
		{ "conn_remote_addr", "in_cidr", "192.0.2.0/24", 0, NULL, 0,
		    0 },
		{ "conn_remote_addr", "in_cidr", "192.0.2.0/24", 0,
		    "not-an-address", 0, 0 },
		{ "message_size", "ge", "1000", 0, NULL, 999, 0 },
		{ "message_size", "ge", "1000", 0, NULL, 1000, 1 },
		{ "message_size", "ge", "1000", 0, NULL, 1001, 1 },
		{ "message_size", "le", "1000", 0, NULL, 999, 1 },
		{ "message_size", "le", "1000", 0, NULL, 1000, 1 },
		{ "message_size", "le", "1000", 0, NULL, 1001, 0 },
		{ "message_size", "ge", "0", 0, NULL, 0, 1 },
		{ "message_size", "le", "0", 0, NULL, 0, 1 },
		{ "message_size", "le", "0", 0, NULL, 1, 0 },
		{ "message_size", "ge", "18446744073709551615", 0, NULL,
		    18446744073709551615ULL, 1 },
		{ "message_size", "ge", "18446744073709551615", 0, NULL,
		    18446744073709551614ULL, 0 },
	};

	(void)state;
	run_cond_cases(cases, NELEM(cases));
}

/* true/false/yes/no/1/0 (any case) are booleans; others are refused. */
static void
test_bool_value_parsing(void **state)
{
	static const struct {
		const char *value;
		int want;	/* 1 true, 0 false, -1 refused */
	} cases[] = {
		{ "true", 1 }, { "yes", 1 }, { "1", 1 }, { "TRUE", 1 },
		{ "Yes", 1 },
		{ "false", 0 }, { "no", 0 }, { "0", 0 }, { "FALSE", 0 },
		{ "No", 0 },
		{ "", -1 }, { "maybe", -1 }, { "2", -1 }, { "truex", -1 },
		{ "yes ", -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset rs;
		struct rule *r;
		struct rules_ctx x = base_ctx();
		char err[256] = "", desc[64];
		int rc, got;

		snprintf(desc, sizeof(desc), "conn_tls is \"%s\"",
		    cases[i].value);
		rules_init(&rs);
		r = rules_add_rule(&rs, "b", 1, 0);
		rc = rules_add_cond(r, "conn_tls", "is", cases[i].value, 0,
		    err, sizeof(err));
		if (cases[i].want == -1) {
			if (rc != -1)
				fail_msg("%s: rules_add_cond got %d want -1",
				    desc, rc);
			expect_int(desc, r->nconds, 0);
			expect_contains(desc, err, "rule_conditions");
			rules_free(&rs);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: rules_add_cond got %d (%s) want 0", desc,
			    rc, err);
		/* A TLS connection matches "is true", not "is false". */
		x.tls = 1;
		got = one_rule_matched(&rs, RULES_CONNECT, &x, desc);
		if (got != cases[i].want)
			fail_msg("%s on TLS: matched got %d want %d", desc, got,
			    cases[i].want);
		x.tls = 0;
		got = one_rule_matched(&rs, RULES_CONNECT, &x, desc);
		if (got != !cases[i].want)
			fail_msg("%s on plain: matched got %d want %d", desc,
			    got, !cases[i].want);
		rules_free(&rs);
	}
}

/* POSIX ERE, case-insensitive, anchors honoured, unanchored = search. */
static void
test_regex_matches(void **state)
{
	static const struct cond_case cases[] = {
		{ "conn_helo", "matches", "^mail\\.", 0, "mail.example.com", 0,
		    1 },
		{ "conn_helo", "matches", "^mail\\.", 0, "xmail.example.com",
		    0, 0 },
		{ "conn_helo", "matches", "^mail\\.", 0, "mailx.example.com",
		    0, 0 },
		{ "conn_helo", "matches", "\\.com$", 0, "mail.example.com", 0,
		    1 },
		{ "conn_helo", "matches", "\\.com$", 0, "mail.example.com.au",
		    0, 0 },
		{ "conn_helo", "matches", "^a.c$", 0, "abc", 0, 1 },
		{ "conn_helo", "matches", "^a.c$", 0, "abcd", 0, 0 },
		{ "conn_helo", "matches", "^a.c$", 0, "xabc", 0, 0 },
		{ "conn_helo", "matches", "exam", 0, "mail.example.com", 0, 1 },
		{ "conn_helo", "matches", "^MAIL\\.EXAMPLE", 0,
		    "mail.example.com", 0, 1 },
		{ "conn_helo", "matches", "^mail\\.example", 0,
		    "MAIL.EXAMPLE.COM", 0, 1 },
		{ "conn_helo", "matches", "^[a-z]+$", 0, "LOCALHOST", 0, 1 },
		{ "conn_helo", "matches", "^(foo|bar)\\.org$", 0, "bar.org", 0,
		    1 },
		{ "conn_helo", "matches", "^(foo|bar)\\.org$", 0, "baz.org", 0,
		    0 },
		{ "conn_helo", "matches", "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$", 0,
		    "192.0.2.1", 0, 1 },
		{ "conn_helo", "matches", "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$", 0,
		    "192.0.2", 0, 0 },
		{ "conn_helo", "matches", "^a+b?$", 0, "aaa", 0, 1 },
		{ "conn_helo", "matches", "^$", 0, NULL, 0, 1 },
		{ "sender_address", "matches", "@example\\.(org|net)$", 0,
		    "Alice@EXAMPLE.NET", 0, 1 },
	};

	(void)state;
	run_cond_cases(cases, NELEM(cases));
}

/* A regex POSIX cannot compile is refused, naming rule_conditions.value,
 * and leaves the rule unchanged. */
static void
test_regex_bad_refused(void **state)
{
	static const char *const bad[] = { "(", "(abc", "[abc", "a{2,1}",
	    "\\", "[[:nosuchclass:]]" };
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		struct ruleset rs;
		struct rule *r;
		char err[256] = "";
		int rc;

		rules_init(&rs);
		r = rules_add_rule(&rs, "re", 1, 0);
		add_cond_ok(r, "conn_tls", "is", "true", 0);
		rc = rules_add_cond(r, "conn_helo", "matches", bad[i], 0, err,
		    sizeof(err));
		if (rc != -1)
			fail_msg("regex \"%s\": rules_add_cond got %d want -1",
			    bad[i], rc);
		expect_contains(bad[i], err, "rule_conditions.value");
		expect_contains(bad[i], err, "\"re\"");
		expect_int(bad[i], r->nconds, 1);
		expect_int(bad[i], r->stage, RULES_CONNECT);
		rules_free(&rs);
	}
}

/* ---- CIDR ---- */

struct cidr_case {
	const char *cidr;
	const char *addr;
	int want;
};

static void
run_cidr_cases(const struct cidr_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct rule_cidr p;
		struct ruleset rs;
		struct rule *r;
		struct rules_ctx x = base_ctx();
		char desc[160];
		int got;

		snprintf(desc, sizeof(desc), "%s in %s", c[i].addr ?
		    c[i].addr : "(null)", c[i].cidr);
		if (rules_cidr_parse(c[i].cidr, &p) != 0)
			fail_msg("%s: rules_cidr_parse got -1 want 0", desc);
		got = rules_cidr_match(&p, c[i].addr);
		if (got != c[i].want)
			fail_msg("%s: rules_cidr_match got %d want %d", desc, got,
			    c[i].want);
		/* The same through a conn_remote_addr condition. */
		rules_init(&rs);
		r = rules_add_rule(&rs, "cidr", 1, 0);
		add_cond_ok(r, "conn_remote_addr", "in_cidr", c[i].cidr, 0);
		x.client_addr = c[i].addr;
		got = one_rule_matched(&rs, RULES_CONNECT, &x, desc);
		if (got != c[i].want)
			fail_msg("%s: condition matched got %d want %d", desc,
			    got, c[i].want);
		rules_free(&rs);
	}
}

static void
test_cidr_ipv4_edges(void **state)
{
	static const struct cidr_case cases[] = {
		{ "0.0.0.0/0", "0.0.0.0", 1 },
		{ "0.0.0.0/0", "203.0.113.7", 1 },
		{ "0.0.0.0/0", "255.255.255.255", 1 },
		{ "10.0.0.0/8", "10.0.0.0", 1 },
		{ "10.0.0.0/8", "10.1.2.3", 1 },
		{ "10.0.0.0/8", "10.255.255.255", 1 },
		{ "10.0.0.0/8", "11.0.0.0", 0 },
		{ "10.0.0.0/8", "9.255.255.255", 0 },
		{ "172.16.0.0/12", "172.16.0.0", 1 },
		{ "172.16.0.0/12", "172.31.255.255", 1 },
		{ "172.16.0.0/12", "172.32.0.0", 0 },
		{ "172.16.0.0/12", "172.15.255.255", 0 },
		{ "192.0.2.0/31", "192.0.2.0", 1 },
		{ "192.0.2.0/31", "192.0.2.1", 1 },
		{ "192.0.2.0/31", "192.0.2.2", 0 },
		{ "192.0.2.0/31", "192.0.1.255", 0 },
		{ "192.0.2.7/32", "192.0.2.7", 1 },
		{ "192.0.2.7/32", "192.0.2.6", 0 },
		{ "192.0.2.7/32", "192.0.2.8", 0 },
		{ "192.0.2.7", "192.0.2.7", 1 },
		{ "192.0.2.7", "192.0.2.6", 0 },
		{ "10.0.0.0/8", "", 0 },
		{ "10.0.0.0/8", "10.1.2", 0 },
		{ "10.0.0.0/8", NULL, 0 },
	};

	(void)state;
	run_cidr_cases(cases, NELEM(cases));
}

static void
test_cidr_ipv6_edges(void **state)
{
	static const struct cidr_case cases[] = {
		{ "::/0", "::", 1 },
		{ "::/0", "2001:db8::1", 1 },
		{ "::/0", "::1", 1 },
		{ "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
		{ "2001:db8:1:2::/64", "2001:db8:1:2::", 1 },
		{ "2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff", 1 },
		{ "2001:db8:1:2::/64", "2001:db8:1:3::", 0 },
		{ "2001:db8:1:2::/64", "2001:db8:1:1:ffff:ffff:ffff:ffff", 0 },
		{ "2001:db8::/33", "2001:db8:7fff:ffff::1", 1 },
		{ "2001:db8::/33", "2001:db8:8000::", 0 },
		{ "2001:db8::/127", "2001:db8::", 1 },
		{ "2001:db8::/127", "2001:db8::1", 1 },
		{ "2001:db8::/127", "2001:db8::2", 0 },
		{ "2001:db8::4/127", "2001:db8::3", 0 },
		{ "2001:db8::5/128", "2001:db8::5", 1 },
		{ "2001:db8::5/128", "2001:db8::4", 0 },
		{ "2001:db8::5/128", "2001:db8::6", 0 },
		{ "::1", "::1", 1 },
		{ "::1/128", "::1", 1 },
		{ "::1", "::2", 0 },
		{ "::1", "::", 0 },
		{ "2001:DB8::/32", "2001:db8:ABCD::1", 1 },
	};

	(void)state;
	run_cidr_cases(cases, NELEM(cases));
}

/* An IPv4-mapped IPv6 client is matched as IPv4; an IPv4 client never
 * matches an IPv6 prefix (nor an IPv6 client an IPv4 prefix). */
static void
test_cidr_mapped_and_family(void **state)
{
	static const struct cidr_case cases[] = {
		{ "10.0.0.0/8", "::ffff:10.1.2.3", 1 },
		{ "10.1.2.3/32", "::ffff:10.1.2.3", 1 },
		{ "10.1.2.3", "::FFFF:10.1.2.3", 1 },
		{ "10.0.0.0/8", "::ffff:11.0.0.0", 0 },
		{ "10.0.0.0/8", "::ffff:a01:203", 1 },
		{ "0.0.0.0/0", "::ffff:192.0.2.1", 1 },
		{ "::/0", "10.1.2.3", 0 },
		{ "::/0", "127.0.0.1", 0 },
		{ "::ffff:0:0/96", "10.1.2.3", 0 },
		{ "::ffff:10.0.0.0/104", "10.1.2.3", 0 },
		{ "0.0.0.0/0", "2001:db8::1", 0 },
		{ "0.0.0.0/0", "::1", 0 },
		{ "10.0.0.0/8", "::10.1.2.3", 0 },
	};

	(void)state;
	run_cidr_cases(cases, NELEM(cases));
}

/* Bad prefixes and addresses are refused by rules_cidr_parse and by
 * rules_add_cond (naming rule_conditions.value); so is an empty list. */
static void
test_cidr_invalid_refused(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "foo", "",
		"10.0.0.0/-1", "10.0.0.0/8x", "/8", "10.0.0/8", "10.0.0.256",
		"2001:db8:::/64", "10.0.0.0/8/8",
	};
	static const char *const bad_lists[] = {
		"", " ", ",", " , ,\t", "10.0.0.0/8, foo", "foo 10.0.0.0/8",
		"10.0.0.0/8,10.0.0.0/33", "10.0.0.0/ 8",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		struct rule_cidr p;

		if (rules_cidr_parse(bad[i], &p) != -1)
			fail_msg("rules_cidr_parse(\"%s\"): got 0 want -1",
			    bad[i]);
	}
	for (i = 0; i < NELEM(bad) + NELEM(bad_lists); i++) {
		const char *v = i < NELEM(bad) ? bad[i] :
		    bad_lists[i - NELEM(bad)];
		struct ruleset rs;
		struct rule *r;
		char err[256] = "", desc[80];
		int rc;

		snprintf(desc, sizeof(desc), "in_cidr \"%s\"", v);
		rules_init(&rs);
		r = rules_add_rule(&rs, "c", 1, 0);
		rc = rules_add_cond(r, "conn_remote_addr", "in_cidr", v, 0, err,
		    sizeof(err));
		if (rc != -1)
			fail_msg("%s: rules_add_cond got %d want -1", desc, rc);
		expect_contains(desc, err, "rule_conditions.value");
		expect_int(desc, r->nconds, 0);
		rules_free(&rs);
	}
	/* The bad element is named; an empty list says so. */
	{
		struct ruleset rs;
		struct rule *r;
		char err[256] = "";

		rules_init(&rs);
		r = rules_add_rule(&rs, "c", 1, 0);
		assert_int_equal(rules_add_cond(r, "conn_remote_addr", "in_cidr",
		    "10.0.0.0/8, 2001:db8::/129", 0, err, sizeof(err)), -1);
		expect_contains("bad element", err, "2001:db8::/129");
		assert_int_equal(rules_add_cond(r, "conn_remote_addr", "in_cidr",
		    "", 0, err, sizeof(err)), -1);
		expect_contains("empty list", err, "empty");
		rules_free(&rs);
	}
}

/* Lists separated by commas, spaces, tabs or mixtures: any element
 * matches. */
static void
test_cidr_lists(void **state)
{
	static const struct {
		const char *list;
		const char *addr;
		int want;
	} cases[] = {
		{ "192.0.2.0/24,10.0.0.0/8", "10.9.9.9", 1 },
		{ "192.0.2.0/24,10.0.0.0/8", "192.0.2.9", 1 },
		{ "192.0.2.0/24,10.0.0.0/8", "198.51.100.1", 0 },
		{ "192.0.2.0/24 10.0.0.0/8", "10.9.9.9", 1 },
		{ "192.0.2.0/24, 10.0.0.0/8", "10.9.9.9", 1 },
		{ "192.0.2.0/24 ,  10.0.0.0/8", "10.9.9.9", 1 },
		{ "192.0.2.0/24\t10.0.0.0/8", "10.9.9.9", 1 },
		{ " 192.0.2.0/24, 10.0.0.0/8, ", "10.9.9.9", 1 },
		{ "192.0.2.0/24, 2001:db8::/32", "2001:db8::25", 1 },
		{ "192.0.2.0/24, 2001:db8::/32", "192.0.2.25", 1 },
		{ "192.0.2.0/24, 2001:db8::/32", "::ffff:192.0.2.25", 1 },
		{ "192.0.2.0/24, 2001:db8::/32", "2001:db9::1", 0 },
		{ "192.0.2.1, 192.0.2.3", "192.0.2.2", 0 },
		{ "192.0.2.1, 192.0.2.3", "192.0.2.3", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset rs;
		struct rule *r;
		struct rules_ctx x = base_ctx();
		char desc[128];
		int got;

		snprintf(desc, sizeof(desc), "%s in \"%s\"", cases[i].addr,
		    cases[i].list);
		rules_init(&rs);
		r = rules_add_rule(&rs, "l", 1, 0);
		add_cond_ok(r, "conn_remote_addr", "in_cidr", cases[i].list, 0);
		x.client_addr = cases[i].addr;
		got = one_rule_matched(&rs, RULES_CONNECT, &x, desc);
		if (got != cases[i].want)
			fail_msg("%s: matched got %d want %d", desc, got,
			    cases[i].want);
		rules_free(&rs);
	}
}

/* ---- refused conditions ---- */

static void
test_unknown_kind_or_op_refused(void **state)
{
	static const struct {
		const char *kind, *op, *field;
	} cases[] = {
		{ "conn_bogus", "is", "rule_conditions.kind" },
		{ "", "is", "rule_conditions.kind" },
		{ "RCPT_DOMAIN", "is", "rule_conditions.kind" },
		{ "rcpt_domain", "like", "rule_conditions.op" },
		{ "rcpt_domain", "", "rule_conditions.op" },
		{ "rcpt_domain", "IS", "rule_conditions.op" },
		{ "message_size", "gt", "rule_conditions.op" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset rs;
		struct rule *r;
		char err[256] = "", desc[64];
		int rc;

		snprintf(desc, sizeof(desc), "\"%s\" \"%s\"", cases[i].kind,
		    cases[i].op);
		rules_init(&rs);
		r = rules_add_rule(&rs, "u", 1, 0);
		rc = rules_add_cond(r, cases[i].kind, cases[i].op, "x", 0, err,
		    sizeof(err));
		if (rc != -1)
			fail_msg("%s: rules_add_cond got %d want -1", desc, rc);
		expect_contains(desc, err, cases[i].field);
		expect_int(desc, r->nconds, 0);
		rules_free(&rs);
	}
}

/* An operator (or value) that does not fit the kind is refused. */
static void
test_op_not_fitting_kind_refused(void **state)
{
	static const struct {
		const char *kind, *op, *value;
	} cases[] = {
		{ "message_size", "is", "1000" },
		{ "message_size", "is_not", "1000" },
		{ "message_size", "contains", "1" },
		{ "message_size", "matches", "1" },
		{ "message_size", "in_cidr", "10.0.0.0/8" },
		{ "message_size", "ge", "abc" },
		{ "message_size", "ge", "" },
		{ "message_size", "le", "10k" },
		{ "conn_tls", "contains", "true" },
		{ "conn_tls", "matches", "true" },
		{ "conn_tls", "in_cidr", "10.0.0.0/8" },
		{ "conn_tls", "ge", "1" },
		{ "conn_authenticated", "contains", "true" },
		{ "sender_local", "le", "1" },
		{ "rcpt_local", "matches", "true" },
		{ "delivery_relaying", "contains", "true" },
		{ "conn_remote_addr", "contains", "10." },
		{ "conn_remote_addr", "matches", "^10\\." },
		{ "conn_remote_addr", "ge", "1" },
		{ "conn_listener", "contains", "sub" },
		{ "conn_listener", "in_cidr", "10.0.0.0/8" },
		{ "conn_listener", "ge", "25" },
		{ "rcpt_domain", "in_cidr", "10.0.0.0/8" },
		{ "rcpt_domain", "ge", "1" },
		{ "sender_address", "le", "1" },
		{ "conn_helo", "in_cidr", "10.0.0.0/8" },
		{ "conn_auth_user", "ge", "1" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset rs;
		struct rule *r;
		char err[256] = "", desc[96];
		int rc;

		snprintf(desc, sizeof(desc), "%s %s \"%s\"", cases[i].kind,
		    cases[i].op, cases[i].value);
		rules_init(&rs);
		r = rules_add_rule(&rs, "f", 1, 0);
		rc = rules_add_cond(r, cases[i].kind, cases[i].op,
		    cases[i].value, 0, err, sizeof(err));
		if (rc != -1)
			fail_msg("%s: rules_add_cond got %d want -1", desc, rc);
		expect_contains(desc, err, "rule_conditions");
		expect_contains(desc, err, cases[i].kind);
		expect_int(desc, r->nconds, 0);
		expect_int(desc, r->stage, RULES_CONNECT);
		rules_free(&rs);
	}
}

/* ---- stages ---- */

/* A rcpt_domain rule is not considered before RCPT (not even when its
 * condition, negated, would hold), and is at RCPT. */
static void
test_stage_rcpt_rule_only_from_rcpt(void **state)
{
	static const struct {
		enum rules_stage st;
		size_t calls;
		int reply;
	} cases[] = {
		{ RULES_CONNECT, 0, REPLY_NONE },
		{ RULES_EHLO, 0, REPLY_NONE },
		{ RULES_MAIL, 0, REPLY_NONE },
		{ RULES_RCPT, 1, REPLY_REJECT },
	};
	struct ruleset rs;
	struct rule *r;
	struct rules_action_spec rej = act_reply("reject", 550, "5.7.1", "no");
	size_t i;

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "rcpt", 1, 0);
	add_cond_ok(r, "rcpt_domain", "is", "elsewhere.test", 1);
	add_action_ok(r, &rej);
	expect_int("rule stage", r->stage, RULES_RCPT);
	expect_int("has_rcpt_conds", r->has_rcpt_conds, 1);
	for (i = 0; i < NELEM(cases); i++) {
		struct rules_ctx x = base_ctx();
		struct rules_result res;
		struct trace t;
		char desc[64];

		eval(&rs, cases[i].st, &x, &res, &t);
		snprintf(desc, sizeof(desc), "at %s: trace calls",
		    rules_stage_name(cases[i].st));
		expect_int(desc, t.n, cases[i].calls);
		snprintf(desc, sizeof(desc), "at %s: reply",
		    rules_stage_name(cases[i].st));
		expect_int(desc, res.reply, cases[i].reply);
	}
	rules_free(&rs);
}

/* The latest stage of the conditions is the rule's stage; message_size
 * makes it DATA only. */
static void
test_stage_message_size_only_at_data(void **state)
{
	struct ruleset rs;
	struct rule *r;
	int st;

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "size", 1, 1);	/* ANY: tls would hold */
	add_cond_ok(r, "conn_tls", "is", "false", 0);
	add_cond_ok(r, "message_size", "ge", "1", 0);
	expect_int("rule stage", r->stage, RULES_DATA);
	for (st = RULES_CONNECT; st <= RULES_DATA; st++) {
		struct rules_ctx x = base_ctx();
		struct rules_result res;
		struct trace t;
		char desc[64];

		eval(&rs, (enum rules_stage)st, &x, &res, &t);
		snprintf(desc, sizeof(desc), "at %s: trace calls",
		    rules_stage_name((enum rules_stage)st));
		expect_int(desc, t.n, st == RULES_DATA ? 1 : 0);
	}
	rules_free(&rs);
	/* Stage of other single kinds, as rules.h lists them. */
	{
		static const struct {
			const char *kind, *op, *value;
			enum rules_stage want;
		} k[] = {
			{ "conn_tls", "is", "true", RULES_CONNECT },
			{ "conn_remote_addr", "in_cidr", "::/0", RULES_CONNECT },
			{ "conn_listener", "is", "smtp", RULES_CONNECT },
			{ "conn_authenticated", "is", "yes", RULES_CONNECT },
			{ "conn_auth_user", "is", "a", RULES_CONNECT },
			{ "conn_helo", "is", "h", RULES_EHLO },
			{ "sender_address", "is", "a@b", RULES_MAIL },
			{ "sender_domain", "is", "b", RULES_MAIL },
			{ "sender_local", "is", "no", RULES_MAIL },
			{ "rcpt_address", "is", "a@b", RULES_RCPT },
			{ "rcpt_domain", "is", "b", RULES_RCPT },
			{ "rcpt_local", "is", "no", RULES_RCPT },
			{ "delivery_relaying", "is", "yes", RULES_RCPT },
			{ "message_size", "le", "5", RULES_DATA },
		};
		size_t i;

		for (i = 0; i < NELEM(k); i++) {
			rules_init(&rs);
			r = rules_add_rule(&rs, "k", 1, 0);
			add_cond_ok(r, k[i].kind, k[i].op, k[i].value, 0);
			expect_int(k[i].kind, r->stage, k[i].want);
			rules_free(&rs);
		}
	}
}

/* At DATA a rule with recipient conditions matches if it matches for at
 * least one of ctx->rcpts; ctx->rcpt is not used there. */
static void
test_stage_data_any_rcpt(void **state)
{
	static const struct rules_rcpt two[] = {
		{ "a@mydomain.com", "mydomain.com", 1 },
		{ "b@other.org", "other.org", 0 },
	};
	static const struct {
		const char *domain;
		int negate;
		size_t nrcpts;
		int want;
	} cases[] = {
		{ "mydomain.com", 0, 2, 1 },
		{ "other.org", 0, 2, 1 },
		{ "OTHER.ORG", 0, 2, 1 },
		{ "third.net", 0, 2, 0 },
		{ "example.net", 0, 2, 0 },	/* only ctx->rcpt has it */
		{ "other.org", 0, 1, 0 },
		{ "mydomain.com", 1, 2, 1 },	/* b is not mydomain.com */
		{ "mydomain.com", 1, 1, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset rs;
		struct rule *r;
		struct rules_ctx x = base_ctx();
		char desc[96];
		int got;

		snprintf(desc, sizeof(desc), "case %zu: %srcpt_domain is %s, "
		    "%zu rcpts", i, cases[i].negate ? "NOT " : "",
		    cases[i].domain, cases[i].nrcpts);
		rules_init(&rs);
		r = rules_add_rule(&rs, "d", 1, 0);
		add_cond_ok(r, "rcpt_domain", "is", cases[i].domain,
		    cases[i].negate);
		x.rcpts = two;
		x.nrcpts = cases[i].nrcpts;
		got = one_rule_matched(&rs, RULES_DATA, &x, desc);
		if (got != cases[i].want)
			fail_msg("%s: matched got %d want %d", desc, got,
			    cases[i].want);
		rules_free(&rs);
	}
	/* Relaying at DATA, combined with size. */
	{
		struct ruleset rs;
		struct rule *r;
		struct rules_ctx x = base_ctx();

		rules_init(&rs);
		r = rules_add_rule(&rs, "big_relay", 1, 0);
		add_cond_ok(r, "delivery_relaying", "is", "true", 0);
		add_cond_ok(r, "message_size", "ge", "500", 0);
		x.rcpts = two;
		x.nrcpts = 2;
		x.size = 1000;
		expect_int("relaying rcpt among two, big", one_rule_matched(&rs,
		    RULES_DATA, &x, "big_relay"), 1);
		x.nrcpts = 1;
		expect_int("only local rcpt, big", one_rule_matched(&rs,
		    RULES_DATA, &x, "big_relay"), 0);
		x.nrcpts = 2;
		x.size = 499;
		expect_int("relaying rcpt, small", one_rule_matched(&rs,
		    RULES_DATA, &x, "big_relay"), 0);
		rules_free(&rs);
	}
}

/* delivery_relaying is true exactly for non-local recipients. */
static void
test_delivery_relaying_non_local(void **state)
{
	static const struct cond_case cases[] = {
		{ "delivery_relaying", "is", "true", 0, NULL, 1, 1 },
		{ "delivery_relaying", "is", "true", 0, NULL, 0, 0 },
		{ "delivery_relaying", "is", "yes", 0, NULL, 1, 1 },
		{ "delivery_relaying", "is", "no", 0, NULL, 0, 1 },
		{ "delivery_relaying", "is", "0", 0, NULL, 1, 0 },
	};
	struct ruleset rs;
	struct rule *r;
	struct rules_ctx x = base_ctx();

	(void)state;
	run_cond_cases(cases, NELEM(cases));
	/* Spelled with ctx->rcpt.local directly. */
	rules_init(&rs);
	r = rules_add_rule(&rs, "relay", 1, 0);
	add_cond_ok(r, "delivery_relaying", "is", "true", 0);
	x.rcpt.local = 0;
	expect_int("rcpt.local=0", one_rule_matched(&rs, RULES_RCPT, &x,
	    "relay"), 1);
	x.rcpt.local = 1;
	expect_int("rcpt.local=1", one_rule_matched(&rs, RULES_RCPT, &x,
	    "relay"), 0);
	rules_free(&rs);
}

/* ---- decisions ---- */

enum decision { D_REPLY, D_RELAY_HOST, D_RELAY_TLS, D_VERSIONS,
    D_AUTH_PLAIN, D_AUTH_TLS };

static void
describe(const struct rules_result *r, enum decision d, char *out, size_t n)
{
	char v[64];

	switch (d) {
	case D_REPLY:
		snprintf(out, n, "reply=%d code=%d ecode=%s text=%s rule=%s",
		    (int)r->reply, r->code, r->ecode, r->text,
		    r->reply_rule ? r->reply_rule : "(none)");
		break;
	case D_RELAY_HOST:
		snprintf(out, n, "host=%s port=%d", r->route.host,
		    r->route.port);
		break;
	case D_RELAY_TLS:
		snprintf(out, n, "tls=%s", relay_tls_name(r->route.tls));
		break;
	case D_VERSIONS:
		tls_versions_text(r->route.versions, v, sizeof(v));
		snprintf(out, n, "versions=%s", v);
		break;
	case D_AUTH_PLAIN:
		snprintf(out, n, "auth_plain set=%d mechs=%u",
		    r->auth_plain_set, r->auth_plain);
		break;
	case D_AUTH_TLS:
		snprintf(out, n, "auth_tls set=%d mechs=%u", r->auth_tls_set,
		    r->auth_tls);
		break;
	}
}

struct decision_case {
	const char *name;
	enum decision d;
	struct rules_action_spec a, b;
};

static const struct decision_case decision_cases[] = {
	{ "reply", D_REPLY,
	    { .kind = "reply", .reply = "accept" },
	    { .kind = "reply", .reply = "reject", .code = 550,
		.ecode = "5.7.1", .text = "go away" } },
	{ "reply tempfail", D_REPLY,
	    { .kind = "reply", .reply = "tempfail", .code = 451,
		.ecode = "4.7.1", .text = "later" },
	    { .kind = "reply", .reply = "reject", .code = 554,
		.ecode = "5.7.0", .text = "never" } },
	{ "relay host", D_RELAY_HOST,
	    { .kind = "relay_host", .host = "a.example.net", .port = 25 },
	    { .kind = "relay_host", .host = "b.example.net", .port = 587 } },
	{ "relay tls", D_RELAY_TLS,
	    { .kind = "relay_tls", .tls = "none" },
	    { .kind = "relay_tls", .tls = "required" } },
	{ "relay tls versions", D_VERSIONS,
	    { .kind = "relay_tls_versions", .versions = "{TLSv1.2}" },
	    { .kind = "relay_tls_versions", .versions = "{TLSv1.3}" } },
	{ "auth_plain", D_AUTH_PLAIN,
	    { .kind = "auth_plain", .mechs = "{PLAIN}" },
	    { .kind = "auth_plain", .mechs = "{LOGIN}" } },
	{ "auth_tls", D_AUTH_TLS,
	    { .kind = "auth_tls", .mechs = "{PLAIN,LOGIN}" },
	    { .kind = "auth_tls", .mechs = "{}" } },
};

/* Evaluates rules named "first"/"second" (each one action, no
 * conditions; second optionally not matching) and describes decision d. */
static void
eval_pair(const struct rules_action_spec *first,
    const struct rules_action_spec *second, int second_matches,
    enum decision d, char *out, size_t n)
{
	struct ruleset rs;
	struct rule *r;
	struct rules_ctx x = base_ctx();
	struct rules_result res;
	struct trace t;

	rules_init(&rs);
	if (first != NULL) {
		r = rules_add_rule(&rs, "first", 1, 0);
		add_action_ok(r, first);
	}
	if (second != NULL) {
		r = rules_add_rule(&rs, "second", 2, 0);
		if (!second_matches)
			add_truth(r, 0);
		add_action_ok(r, second);
	}
	eval(&rs, RULES_RCPT, &x, &res, &t);
	describe(&res, d, out, n);
	rules_free(&rs);
}

/* For every decision the later of two matching rules wins, and a later
 * rule that does not match changes nothing. */
static void
test_last_match_wins_each_decision(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(decision_cases); i++) {
		const struct decision_case *c = &decision_cases[i];
		char got[512], want[512], alone[512];

		eval_pair(&c->a, &c->b, 1, c->d, got, sizeof(got));
		eval_pair(NULL, &c->b, 1, c->d, want, sizeof(want));
		/* reply_rule is "second" in both. */
		if (strcmp(got, want) != 0)
			fail_msg("%s: a then b: got \"%s\" want \"%s\"", c->name,
			    got, want);
		eval_pair(&c->a, NULL, 1, c->d, alone, sizeof(alone));
		if (strcmp(alone, want) == 0)
			fail_msg("%s: table error, a and b decide alike: \"%s\"",
			    c->name, alone);
		eval_pair(&c->a, &c->b, 0, c->d, got, sizeof(got));
		if (strcmp(got, alone) != 0)
			fail_msg("%s: a then non-matching b: got \"%s\" want "
			    "\"%s\"", c->name, got, alone);
	}
}

/* The same two conflicting rules in the other order give the other
 * result. */
static void
test_order_reversed_gives_other_result(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(decision_cases); i++) {
		const struct decision_case *c = &decision_cases[i];
		char ab[512], ba[512], a[512], b[512];

		eval_pair(&c->a, &c->b, 1, c->d, ab, sizeof(ab));
		eval_pair(&c->b, &c->a, 1, c->d, ba, sizeof(ba));
		eval_pair(NULL, &c->a, 1, c->d, a, sizeof(a));
		eval_pair(NULL, &c->b, 1, c->d, b, sizeof(b));
		if (strcmp(ab, b) != 0)
			fail_msg("%s: a,b: got \"%s\" want \"%s\"", c->name, ab,
			    b);
		if (strcmp(ba, a) != 0)
			fail_msg("%s: b,a: got \"%s\" want \"%s\"", c->name, ba,
			    a);
	}
}

/* Within one rule, a later action of the same kind overrides an earlier
 * one. */
static void
test_last_action_in_rule_wins(void **state)
{
	struct ruleset rs;
	struct rule *r;
	struct rules_ctx x = base_ctx();
	struct rules_result res;
	struct trace t;
	struct rules_action_spec h1 = { .kind = "relay_host", .host = "h1",
	    .port = 25 }, h2 = { .kind = "relay_host", .host = "h2",
	    .port = 26 };

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "one", 1, 0);
	add_action_ok(r, &h1);
	add_action_ok(r, &h2);
	eval(&rs, RULES_RCPT, &x, &res, &t);
	expect_str("relay_host", res.route.host, "h2");
	expect_int("relay_port", res.route.port, 26);
	rules_free(&rs);
}

/* Decisions set by different rules are all kept. */
static void
test_decisions_combine(void **state)
{
	struct ruleset rs;
	struct rule *r;
	struct rules_ctx x = base_ctx();
	struct rules_result res;
	struct trace t;
	struct rules_action_spec rej = act_reply("reject", 550, "5.7.1",
	    "denied"), host = { .kind = "relay_host", .host = "mx.example",
	    .port = 2525 }, tls = { .kind = "relay_tls", .tls = "implicit" },
	    ver = { .kind = "relay_tls_versions", .versions =
	    "{TLSv1,TLSv1.3}" }, ap = { .kind = "auth_plain", .mechs =
	    "{LOGIN}" }, at = { .kind = "auth_tls", .mechs = "{PLAIN}" },
	    h = act_header("X-A", "1");

	(void)state;
	rules_init(&rs);
	add_action_ok(rules_add_rule(&rs, "r1", 1, 0), &rej);
	add_action_ok(rules_add_rule(&rs, "r2", 2, 0), &host);
	r = rules_add_rule(&rs, "r3", 3, 0);
	add_action_ok(r, &tls);
	add_action_ok(r, &ver);
	add_action_ok(rules_add_rule(&rs, "r4", 4, 0), &ap);
	add_action_ok(rules_add_rule(&rs, "r5", 5, 0), &at);
	add_action_ok(rules_add_rule(&rs, "r6", 6, 0), &h);
	eval(&rs, RULES_RCPT, &x, &res, &t);
	expect_int("reply", res.reply, REPLY_REJECT);
	expect_int("code", res.code, 550);
	expect_str("ecode", res.ecode, "5.7.1");
	expect_str("text", res.text, "denied");
	expect_str("reply_rule", res.reply_rule, "r1");
	expect_str("relay_host", res.route.host, "mx.example");
	expect_int("relay_port", res.route.port, 2525);
	expect_int("relay_tls", res.route.tls, RELAY_TLS_IMPLICIT);
	expect_int("relay_versions", res.route.versions,
	    TLS_VERSIONS_10 | TLS_VERSIONS_13);
	expect_int("auth_plain_set", res.auth_plain_set, 1);
	expect_int("auth_plain", res.auth_plain, AUTH_MECH_LOGIN);
	expect_int("auth_tls_set", res.auth_tls_set, 1);
	expect_int("auth_tls", res.auth_tls, AUTH_MECH_PLAIN);
	expect_int("nheaders", res.nheaders, 1);
	expect_int("stopped", res.stopped, 0);
	expect_int("trace calls", t.n, 6);
	rules_free(&rs);
}

/* stop: the rest of the stopping rule's actions still apply, later rules
 * are neither considered nor applied. */
static void
test_stop_ends_after_rule(void **state)
{
	struct ruleset rs;
	struct rule *r;
	struct rules_ctx x = base_ctx();
	struct rules_result res;
	struct trace t;
	struct rules_action_spec acc = act_reply("accept", 0, NULL, NULL),
	    rej = act_reply("reject", 550, "5.7.1", "stopped here"),
	    hb = act_header("X-B", "b"), hc = act_header("X-C", "c"),
	    hostb = { .kind = "relay_host", .host = "b.example", .port = 25 },
	    hostc = { .kind = "relay_host", .host = "c.example", .port = 25 },
	    tlsc = { .kind = "relay_tls", .tls = "required" };

	(void)state;
	rules_init(&rs);
	add_action_ok(rules_add_rule(&rs, "A", 1, 0), &acc);
	r = rules_add_rule(&rs, "B", 2, 0);
	add_action_ok(r, &rej);
	add_action_ok(r, &act_stop);
	add_action_ok(r, &hb);
	add_action_ok(r, &hostb);
	r = rules_add_rule(&rs, "C", 3, 0);
	add_action_ok(r, &hostc);
	add_action_ok(r, &hc);
	add_action_ok(r, &tlsc);
	eval(&rs, RULES_RCPT, &x, &res, &t);
	expect_int("stopped", res.stopped, 1);
	expect_int("reply", res.reply, REPLY_REJECT);
	expect_str("reply_rule", res.reply_rule, "B");
	expect_str("relay_host (action after stop in B)", res.route.host,
	    "b.example");
	expect_int("relay_tls (only C sets it)", res.route.tls,
	    RELAY_TLS_UNSET);
	expect_int("nheaders", res.nheaders, 1);
	expect_str("header", res.headers[0]->hname, "X-B");
	expect_int("trace calls", t.n, 2);
	expect_str("trace[1]", t.name[1], "B");
	rules_free(&rs);
}

/* A stop in a rule that does not match does not stop. */
static void
test_stop_in_nonmatching_rule_ignored(void **state)
{
	struct ruleset rs;
	struct rule *r;
	struct rules_ctx x = base_ctx();
	struct rules_result res;
	struct trace t;
	struct rules_action_spec rej = act_reply("reject", 550, "5.7.1", "b"),
	    hostc = { .kind = "relay_host", .host = "c.example", .port = 25 };

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "B", 1, 0);
	add_truth(r, 0);
	add_action_ok(r, &rej);
	add_action_ok(r, &act_stop);
	add_action_ok(rules_add_rule(&rs, "C", 2, 0), &hostc);
	eval(&rs, RULES_RCPT, &x, &res, &t);
	expect_int("stopped", res.stopped, 0);
	expect_int("reply", res.reply, REPLY_NONE);
	expect_str("relay_host", res.route.host, "c.example");
	expect_int("trace calls", t.n, 2);
	expect_int("trace B matched", t.matched[0], 0);
	expect_int("trace C matched", t.matched[1], 1);
	rules_free(&rs);
}

/* ---- reference scenarios ---- */

/* disableAUTH_on_non_SSL + enableAUTH_on_SSL. */
static void
test_scenario_auth_only_on_tls(void **state)
{
	struct ruleset rs;
	struct rules_action_spec off = { .kind = "auth_plain", .mechs = "{}" },
	    on = { .kind = "auth_tls", .mechs = "{PLAIN,LOGIN}" };
	int st;

	(void)state;
	rules_init(&rs);
	add_action_ok(rules_add_rule(&rs, "disableAUTH_on_non_SSL", 1, 0),
	    &off);
	add_action_ok(rules_add_rule(&rs, "enableAUTH_on_SSL", 2, 0), &on);
	for (st = RULES_CONNECT; st <= RULES_DATA; st++) {
		struct rules_ctx x = base_ctx();
		struct rules_result res;
		struct trace t;

		eval(&rs, (enum rules_stage)st, &x, &res, &t);
		expect_int("auth_plain_set", res.auth_plain_set, 1);
		expect_int("auth_plain", res.auth_plain, 0);
		expect_int("auth_tls_set", res.auth_tls_set, 1);
		expect_int("auth_tls", res.auth_tls,
		    AUTH_MECH_PLAIN | AUTH_MECH_LOGIN);
		expect_int("reply", res.reply, REPLY_NONE);
		expect_int("trace calls", t.n, 2);
	}
	rules_free(&rs);
}

/* allow_only_tls_for_mydomain_com. */
static void
test_scenario_tls_only_for_mydomain(void **state)
{
	static const struct {
		int tls;
		const char *addr, *domain;
		enum rules_stage st;
		int reject;
	} cases[] = {
		{ 0, "x@mydomain.com", "mydomain.com", RULES_RCPT, 1 },
		{ 0, "X@MyDomain.com", "MyDomain.com", RULES_RCPT, 1 },
		{ 1, "x@mydomain.com", "mydomain.com", RULES_RCPT, 0 },
		{ 0, "x@other.com", "other.com", RULES_RCPT, 0 },
		{ 0, "x@sub.mydomain.com", "sub.mydomain.com", RULES_RCPT, 0 },
		{ 0, "x@mydomain.com", "mydomain.com", RULES_MAIL, 0 },
	};
	static const char text[] =
	    "Accepting only secure delivery (STARTTLS) for mydomain.com";
	struct ruleset rs;
	struct rule *r;
	struct rules_action_spec rej = act_reply("reject", 550, "5.7.1", text);
	size_t i;

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "allow_only_tls_for_mydomain_com", 1, 0);
	add_cond_ok(r, "conn_tls", "is", "false", 0);
	add_cond_ok(r, "rcpt_domain", "is", "mydomain.com", 0);
	add_action_ok(r, &rej);
	for (i = 0; i < NELEM(cases); i++) {
		struct rules_ctx x = base_ctx();
		struct rules_result res;
		struct trace t;
		char desc[128];

		x.tls = cases[i].tls;
		x.rcpt.addr = cases[i].addr;
		x.rcpt.domain = cases[i].domain;
		x.rcpt.local = 1;
		eval(&rs, cases[i].st, &x, &res, &t);
		snprintf(desc, sizeof(desc), "%s %s at %s: reply",
		    cases[i].tls ? "TLS" : "plain", cases[i].addr,
		    rules_stage_name(cases[i].st));
		expect_int(desc, res.reply,
		    cases[i].reject ? REPLY_REJECT : REPLY_NONE);
		if (!cases[i].reject)
			continue;
		expect_int(desc, res.code, 550);
		expect_str(desc, res.ecode, "5.7.1");
		expect_str(desc, res.text, text);
		expect_str(desc, res.reply_rule,
		    "allow_only_tls_for_mydomain_com");
	}
	rules_free(&rs);
}

/* use_only_tls11_and_12_when_relaying. */
static void
test_scenario_relay_tls_versions(void **state)
{
	static const struct {
		const char *addr, *domain;
		int local;
		int routed;
	} cases[] = {
		{ "u@example.com", "example.com", 0, 1 },
		{ "u@example.com", "example.com", 1, 0 },
		{ "u@other.org", "other.org", 0, 0 },
	};
	struct ruleset rs;
	struct rule *r;
	struct rules_action_spec host = { .kind = "relay_host", .host =
	    "smarthost.example.net", .port = 465 }, tls = { .kind =
	    "relay_tls", .tls = "required" }, ver = { .kind =
	    "relay_tls_versions", .versions = "{TLSv1.1,TLSv1.2}" };
	size_t i;

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "use_only_tls11_and_12_when_relaying", 1, 0);
	add_cond_ok(r, "delivery_relaying", "is", "true", 0);
	add_cond_ok(r, "rcpt_domain", "is", "example.com", 0);
	add_action_ok(r, &host);
	add_action_ok(r, &tls);
	add_action_ok(r, &ver);
	for (i = 0; i < NELEM(cases); i++) {
		struct rules_ctx x = base_ctx();
		struct rules_result res;
		struct trace t;
		char desc[96];
		char v[64];

		x.rcpt.addr = cases[i].addr;
		x.rcpt.domain = cases[i].domain;
		x.rcpt.local = cases[i].local;
		eval(&rs, RULES_RCPT, &x, &res, &t);
		snprintf(desc, sizeof(desc), "%s (%s)", cases[i].addr,
		    cases[i].local ? "local" : "relayed");
		if (cases[i].routed) {
			expect_str(desc, res.route.host,
			    "smarthost.example.net");
			expect_int(desc, res.route.port, 465);
			expect_int(desc, res.route.tls, RELAY_TLS_REQUIRED);
			expect_int(desc, res.route.versions,
			    TLS_VERSIONS_11 | TLS_VERSIONS_12);
			tls_versions_text(res.route.versions, v, sizeof(v));
			expect_str(desc, v, "TLSv1.1,TLSv1.2");
		} else {
			expect_str(desc, res.route.host, "");
			expect_int(desc, res.route.port, 0);
			expect_int(desc, res.route.tls, RELAY_TLS_UNSET);
			expect_int(desc, res.route.versions, 0);
		}
		expect_int(desc, res.reply, REPLY_NONE);
	}
	rules_free(&rs);
}

/* ---- actions ---- */

/* Missing or invalid action fields are refused naming the field; the rule
 * keeps its earlier actions. */
static void
test_action_errors(void **state)
{
	static const struct {
		struct rules_action_spec a;
		const char *field;
	} cases[] = {
		{ { .kind = "reply", .reply = "reject", .code = 550,
		    .ecode = "5.7.1", .text = NULL }, "reply_text" },
		{ { .kind = "reply", .reply = "reject", .code = 550,
		    .ecode = "5.7.1", .text = "" }, "reply_text" },
		{ { .kind = "reply", .reply = "tempfail", .code = 451,
		    .ecode = "4.7.1", .text = NULL }, "reply_text" },
		{ { .kind = "reply", .reply = "reject", .code = 0,
		    .ecode = "5.7.1", .text = "x" }, "reply_code" },
		{ { .kind = "reply", .reply = NULL }, "rule_actions.reply" },
		{ { .kind = "relay_host", .host = "mx.example", .port = 0 },
		    "relay_port" },
		{ { .kind = "relay_host", .host = "mx.example", .port = 65536 },
		    "relay_port" },
		{ { .kind = "relay_host", .host = NULL, .port = 25 },
		    "relay_host" },
		{ { .kind = "relay_host", .host = "", .port = 25 },
		    "relay_host" },
		{ { .kind = "relay_tls_versions", .versions = "{}" },
		    "relay_tls_versions" },
		{ { .kind = "relay_tls_versions", .versions = NULL },
		    "relay_tls_versions" },
		{ { .kind = "relay_tls", .tls = NULL }, "relay_tls" },
		{ { .kind = "add_header", .hname = "X-A", .hvalue = "a\r\nB: b" },
		    "header" },
		{ { .kind = "add_header", .hname = NULL, .hvalue = "v" },
		    "header" },
		{ { .kind = "bounce" }, "rule_actions.kind" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset rs;
		struct rule *r;
		char err[256] = "", desc[64];
		int rc;

		snprintf(desc, sizeof(desc), "case %zu (%s)", i,
		    cases[i].a.kind);
		rules_init(&rs);
		r = rules_add_rule(&rs, "act", 1, 0);
		add_action_ok(r, &act_stop);
		rc = rules_add_action(r, &cases[i].a, err, sizeof(err));
		if (rc != -1)
			fail_msg("%s: rules_add_action got %d want -1", desc,
			    rc);
		expect_contains(desc, err, cases[i].field);
		expect_contains(desc, err, "\"act\"");
		expect_int(desc, r->nactions, 1);
		rules_free(&rs);
	}
}

/* Headers accumulate in rule and action order, skipping non-matching
 * rules, up to RULES_MAX_HEADERS. */
static void
test_add_header_accumulates(void **state)
{
	struct ruleset rs;
	struct rule *r;
	struct rules_ctx x = base_ctx();
	struct rules_result res;
	struct trace t;
	struct rules_action_spec a = act_header("X-A", "1"),
	    n = act_header("X-N", "no"), b = act_header("X-B", "2"),
	    c = act_header("X-C", "3");
	static const char *const want[][2] = { { "X-A", "1" }, { "X-B", "2" },
	    { "X-C", "3" } };
	size_t i;

	(void)state;
	rules_init(&rs);
	add_action_ok(rules_add_rule(&rs, "a", 1, 0), &a);
	r = rules_add_rule(&rs, "n", 2, 0);
	add_truth(r, 0);
	add_action_ok(r, &n);
	r = rules_add_rule(&rs, "bc", 3, 0);
	add_action_ok(r, &b);
	add_action_ok(r, &c);
	eval(&rs, RULES_DATA, &x, &res, &t);
	expect_int("nheaders", res.nheaders, NELEM(want));
	for (i = 0; i < NELEM(want) && i < res.nheaders; i++) {
		char desc[32];

		snprintf(desc, sizeof(desc), "header %zu", i);
		expect_str(desc, res.headers[i]->hname, want[i][0]);
		expect_str(desc, res.headers[i]->hvalue, want[i][1]);
	}
	rules_free(&rs);

	/* More than RULES_MAX_HEADERS: the first ones are kept. */
	rules_init(&rs);
	r = rules_add_rule(&rs, "many", 1, 0);
	for (i = 0; i < RULES_MAX_HEADERS + 4; i++) {
		char name[16];
		struct rules_action_spec h;

		snprintf(name, sizeof(name), "X-H%zu", i);
		h = act_header(name, "v");
		add_action_ok(r, &h);
	}
	eval(&rs, RULES_DATA, &x, &res, &t);
	expect_int("nheaders capped", res.nheaders, RULES_MAX_HEADERS);
	expect_str("first header", res.headers[0]->hname, "X-H0");
	expect_str("last kept header", res.headers[RULES_MAX_HEADERS - 1]->hname,
	    "X-H15");
	rules_free(&rs);
}

static void
test_versions_text(void **state)
{
	static const struct {
		unsigned v;
		const char *want;
	} cases[] = {
		{ 0, "" },
		{ TLS_VERSIONS_10, "TLSv1" },
		{ TLS_VERSIONS_11, "TLSv1.1" },
		{ TLS_VERSIONS_12, "TLSv1.2" },
		{ TLS_VERSIONS_13, "TLSv1.3" },
		{ TLS_VERSIONS_11 | TLS_VERSIONS_12, "TLSv1.1,TLSv1.2" },
		{ TLS_VERSIONS_10 | TLS_VERSIONS_13, "TLSv1,TLSv1.3" },
		{ TLS_VERSIONS_10 | TLS_VERSIONS_11 | TLS_VERSIONS_12 | TLS_VERSIONS_13,
		    "TLSv1,TLSv1.1,TLSv1.2,TLSv1.3" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		char out[64], desc[32];

		memset(out, 'x', sizeof(out));
		tls_versions_text(cases[i].v, out, sizeof(out));
		snprintf(desc, sizeof(desc), "versions 0x%x", cases[i].v);
		expect_str(desc, out, cases[i].want);
	}
	/* SQL array text round-trips through relay_tls_versions. */
	{
		static const struct {
			const char *sql;
			unsigned want;
		} p[] = {
			{ "{TLSv1}", TLS_VERSIONS_10 },
			{ "{TLSv1.1,TLSv1.2}", TLS_VERSIONS_11 | TLS_VERSIONS_12 },
			{ "{TLSv1.3}", TLS_VERSIONS_13 },
			{ "{TLSv1,TLSv1.1,TLSv1.2,TLSv1.3}", TLS_VERSIONS_10 |
			    TLS_VERSIONS_11 | TLS_VERSIONS_12 | TLS_VERSIONS_13 },
		};
		struct ruleset rs;
		struct rule *r;

		for (i = 0; i < NELEM(p); i++) {
			struct rules_action_spec a = { .kind =
			    "relay_tls_versions", .versions = p[i].sql };

			rules_init(&rs);
			r = rules_add_rule(&rs, "v", 1, 0);
			add_action_ok(r, &a);
			expect_int(p[i].sql, r->actions[0].versions, p[i].want);
			rules_free(&rs);
		}
	}
}

/* The trace callback is called once per considered rule, in order, with
 * its matched flag; rules of later stages are not reported. */
static void
test_trace_once_per_considered_rule(void **state)
{
	static const struct {
		enum rules_stage st;
		size_t n;
		const char *names[4];
		int matched[4];
	} cases[] = {
		{ RULES_CONNECT, 3, { "conn_yes", "conn_no", "empty" },
		    { 1, 0, 1 } },
		{ RULES_MAIL, 3, { "conn_yes", "conn_no", "empty" },
		    { 1, 0, 1 } },
		{ RULES_RCPT, 4, { "conn_yes", "rcpt", "conn_no", "empty" },
		    { 1, 1, 0, 1 } },
	};
	struct ruleset rs;
	struct rule *r;
	size_t i, j;

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "conn_yes", 1, 0);
	add_truth(r, 1);
	r = rules_add_rule(&rs, "rcpt", 2, 0);
	add_cond_ok(r, "rcpt_domain", "is", "example.net", 0);
	r = rules_add_rule(&rs, "conn_no", 3, 0);
	add_truth(r, 0);
	rules_add_rule(&rs, "empty", 4, 1);
	for (i = 0; i < NELEM(cases); i++) {
		struct rules_ctx x = base_ctx();
		struct rules_result res;
		struct trace t;
		char desc[64];

		eval(&rs, cases[i].st, &x, &res, &t);
		snprintf(desc, sizeof(desc), "at %s: calls",
		    rules_stage_name(cases[i].st));
		expect_int(desc, t.n, cases[i].n);
		for (j = 0; j < cases[i].n && j < t.n; j++) {
			snprintf(desc, sizeof(desc), "at %s: call %zu",
			    rules_stage_name(cases[i].st), j);
			expect_str(desc, t.name[j], cases[i].names[j]);
			expect_int(desc, t.matched[j], cases[i].matched[j]);
		}
		/* A NULL trace is allowed and changes nothing. */
		rules_eval(&rs, cases[i].st, &x, &res, NULL, NULL);
	}
	rules_free(&rs);
}

/* A ruleset using every kind, operator and action (and some refused
 * additions) is evaluated at every stage and freed; rules_free leaves an
 * empty ruleset that can be freed again.  Leaks show under ASan. */
static void
test_rules_free_after_everything(void **state)
{
	static const struct {
		const char *kind, *op, *value;
	} conds[] = {
		{ "conn_tls", "is", "true" },
		{ "conn_remote_addr", "in_cidr", "10.0.0.0/8, 2001:db8::/32" },
		{ "conn_remote_addr", "is", "192.0.2.1" },
		{ "conn_listener", "is", "587" },
		{ "conn_authenticated", "is_not", "yes" },
		{ "conn_auth_user", "matches", "^a" },
		{ "conn_helo", "contains", "x" },
		{ "sender_address", "is", "a@b" },
		{ "sender_domain", "matches", "b$" },
		{ "sender_local", "is", "0" },
		{ "rcpt_address", "is_not", "c@d" },
		{ "rcpt_domain", "matches", "^d$" },
		{ "rcpt_local", "is", "no" },
		{ "delivery_relaying", "is", "1" },
		{ "message_size", "le", "100" },
	};
	static const struct rules_rcpt rcpts[] = {
		{ "c@d", "d", 0 },
	};
	struct rules_action_spec acts[] = {
		{ .kind = "auth_plain", .mechs = "{PLAIN}" },
		{ .kind = "auth_tls", .mechs = "{LOGIN}" },
		act_reply("tempfail", 451, "4.3.0", "later"),
		{ .kind = "relay_host", .host = "h", .port = 25 },
		{ .kind = "relay_tls", .tls = "opportunistic" },
		{ .kind = "relay_tls_versions", .versions = "{TLSv1.2}" },
		act_header("X-Test", "v"),
		{ .kind = "stop" },
	};
	struct ruleset rs;
	size_t i;
	int any, st;

	(void)state;
	rules_init(&rs);
	for (any = 0; any <= 1; any++) {
		struct rule *r = rules_add_rule(&rs, any ? "any" : "all",
		    any + 1, any);
		char err[256];

		for (i = 0; i < NELEM(conds); i++)
			add_cond_ok(r, conds[i].kind, conds[i].op,
			    conds[i].value, (int)(i % 2));
		for (i = 0; i < NELEM(acts); i++)
			add_action_ok(r, &acts[i]);
		/* Refused additions must not leak either. */
		assert_int_equal(rules_add_cond(r, "conn_helo", "matches", "(",
		    0, err, sizeof(err)), -1);
		assert_int_equal(rules_add_cond(r, "conn_remote_addr",
		    "in_cidr", "10.0.0.0/8, bad", 0, err, sizeof(err)), -1);
		assert_int_equal(rules_add_cond(r, "conn_tls", "is", "maybe",
		    0, err, sizeof(err)), -1);
		assert_int_equal(rules_add_action(r, &(struct rules_action_spec)
		    { .kind = "reply", .reply = "reject", .code = 550 }, err,
		    sizeof(err)), -1);
		expect_int("nconds", r->nconds, NELEM(conds));
		expect_int("nactions", r->nactions, NELEM(acts));
	}
	rules_add_rule(&rs, "empty", 3, 0);
	for (st = RULES_CONNECT; st <= RULES_DATA; st++) {
		struct rules_ctx x = base_ctx();
		struct rules_result res;
		struct trace t;

		x.rcpts = rcpts;
		x.nrcpts = NELEM(rcpts);
		eval(&rs, (enum rules_stage)st, &x, &res, &t);
	}
	rules_free(&rs);
	expect_int("n after free", rs.n, 0);
	if (rs.rules != NULL)
		fail_msg("rules after free: got %p want NULL",
		    (void *)rs.rules);
	rules_free(&rs);
}

/* Patterns that would make glibc's regcomp() take gigabytes are refused
 * with the reason; ordinary address patterns compile. */
static void
test_regex_cost_limits(void **state)
{
	static const struct {
		const char *re;
		const char *why;	/* NULL: accepted */
	} cases[] = {
		{ "^ceo@partner\\.org$", NULL },
		{ "^[a-z0-9._+-]+@(example|partner)\\.org$", NULL },
		{ "(a+)?b{2,8}", NULL },
		{ "[+*?]+x", NULL },
		{ "a+++++", "quantifier applied to a quantifier" },
		{ "(^(c.tl++", "quantifier applied to a quantifier" },
		{ "a*{3}", "quantifier applied to a quantifier" },
		{ "(a{200}){200}", "counted repetition above 64" },
		{ "a{1,65}", "counted repetition above 64" },
		{ "[[]a+++", "quantifier applied to a quantifier" },
		{ "[[:alpha:]]+@x", NULL },
		{ "[[:alpha:]]++", "quantifier applied to a quantifier" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ruleset rs;
		struct rule *r;
		char err[256] = "";
		int rc;

		rules_init(&rs);
		r = rules_add_rule(&rs, "re", 1, 0);
		rc = rules_add_cond(r, "sender_address", "matches", cases[i].re,
		    0, err, sizeof(err));
		if (cases[i].why == NULL && rc != 0)
			fail_msg("\"%s\": refused (%s), want accepted",
			    cases[i].re, err);
		if (cases[i].why != NULL) {
			if (rc != -1)
				fail_msg("\"%s\": accepted, want refused",
				    cases[i].re);
			expect_contains(cases[i].re, err, cases[i].why);
			expect_contains(cases[i].re, err,
			    "rule_conditions.value");
		}
		rules_free(&rs);
	}
	{
		char big[300];
		struct ruleset rs;
		struct rule *r;
		char err[256] = "";

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		rules_init(&rs);
		r = rules_add_rule(&rs, "re", 1, 0);
		assert_int_equal(rules_add_cond(r, "sender_address", "matches",
		    big, 0, err, sizeof(err)), -1);
		expect_contains("long", err, "longer than 256");
		rules_free(&rs);
	}
}

/* in_domain: the domain itself or a subdomain, on a label boundary, any
 * case; the "contains" traps do not match. */
static void
test_in_domain(void **state)
{
	static const struct cond_case cases[] = {
		{ "sender_domain", "in_domain", "partner.org", 0, "partner.org",
		    0, 1 },
		{ "sender_domain", "in_domain", "partner.org", 0,
		    "Mail.PARTNER.org", 0, 1 },
		{ "sender_domain", "in_domain", ".partner.org", 0,
		    "a.b.partner.org", 0, 1 },
		{ "sender_domain", "in_domain", "partner.org", 0,
		    "partner.org.evil.example", 0, 0 },
		{ "sender_domain", "in_domain", "partner.org", 0,
		    "xpartner.org", 0, 0 },
		{ "sender_domain", "in_domain", "partner.org", 0,
		    "evil.example", 0, 0 },
		{ "sender_domain", "in_domain", "partner.org", 0, "", 0, 0 },
		{ "sender_domain", "in_domain", "partner.org", 0, "org", 0,
		    0 },
		{ "sender_domain", "in_domain", "a.test, partner.org", 0,
		    "x.partner.org", 0, 1 },
		{ "sender_domain", "in_domain", "partner.org", 1,
		    "partner.org.evil.example", 0, 1 },
		{ "rcpt_domain", "in_domain", "mydomain.com", 0,
		    "sub.mydomain.com", 0, 1 },
		{ "rcpt_domain", "in_domain", "mydomain.com", 0,
		    "notmydomain.com", 0, 0 },
		{ "conn_helo", "in_domain", "example.com", 0, "mx.example.com",
		    0, 1 },
	};
	static const char *const bad[][3] = {
		{ "sender_address", "in_domain", "partner.org" },
		{ "rcpt_address", "in_domain", "partner.org" },
		{ "conn_auth_user", "in_domain", "partner.org" },
		{ "conn_remote_addr", "in_domain", "partner.org" },
		{ "sender_domain", "in_domain", "" },
		{ "sender_domain", "in_domain", "a..b" },
		{ "sender_domain", "in_domain", "part ner@org" },
		{ "sender_domain", "in_domain", "partner.org." },
	};
	size_t i;

	(void)state;
	run_cond_cases(cases, NELEM(cases));
	for (i = 0; i < NELEM(bad); i++) {
		struct ruleset rs;
		struct rule *r;
		char err[256] = "";

		rules_init(&rs);
		r = rules_add_rule(&rs, "r", 1, 0);
		if (rules_add_cond(r, bad[i][0], bad[i][1], bad[i][2], 0, err,
		    sizeof(err)) != -1)
			fail_msg("%s %s \"%s\": got 0 want -1", bad[i][0],
			    bad[i][1], bad[i][2]);
		expect_contains("error", err, "rule \"r\"");
		rules_free(&rs);
	}
}

/* relay_allow and sender_allow are permissions: relay_allow only on
 * connection facts the client cannot choose (and never without a
 * condition), sender_allow on those and the sender; a reply accept sets
 * neither.  Refused in either order of adding. */
static void
test_permissions(void **state)
{
	static const struct rules_action_spec relay = { .kind = "relay_allow" },
	    sender = { .kind = "sender_allow" }, accept = { .kind = "reply",
	    .reply = "accept" };
	static const char *const relay_ok[] = { "conn_remote_addr",
	    "conn_listener", "conn_tls", "conn_authenticated",
	    "conn_auth_user" };
	static const char *const relay_bad[] = { "conn_helo", "sender_address",
	    "sender_domain", "sender_local", "rcpt_address", "rcpt_domain",
	    "rcpt_local", "delivery_relaying", "message_size" };
	static const char *const vals[] = { "192.0.2.10", "smtp", "false",
	    "true", "alice" };
	struct ruleset rs;
	struct rule *r;
	struct rules_result res;
	struct rules_ctx x = base_ctx();
	struct trace t;
	char err[256];
	size_t i;

	(void)state;
	rules_init(&rs);
	r = rules_add_rule(&rs, "open", 1, 0);
	if (rules_add_action(r, &relay, err, sizeof(err)) != -1)
		fail_msg("relay_allow without conditions: got 0 want -1");
	expect_contains("error", err, "open relay");
	for (i = 0; i < NELEM(relay_bad); i++) {
		const char *op = strcmp(relay_bad[i], "message_size") == 0 ?
		    "ge" : "is";
		const char *v = strstr(relay_bad[i], "local") != NULL ||
		    strcmp(relay_bad[i], "delivery_relaying") == 0 ? "true" :
		    strcmp(relay_bad[i], "message_size") == 0 ? "1" : "x.test";

		rules_free(&rs);
		r = rules_add_rule(&rs, "bad", 1, 0);
		add_cond_ok(r, relay_bad[i], op, v, 0);
		if (rules_add_action(r, &relay, err, sizeof(err)) != -1)
			fail_msg("relay_allow on %s: got 0 want -1",
			    relay_bad[i]);
		expect_contains("error", err, relay_bad[i]);
		/* The other order: action first, then the condition. */
		rules_free(&rs);
		r = rules_add_rule(&rs, "bad", 1, 0);
		add_cond_ok(r, "conn_tls", "is", "false", 0);
		expect_int("relay_allow", rules_add_action(r, &relay, err,
		    sizeof(err)), 0);
		if (rules_add_cond(r, relay_bad[i], op, v, 0, err,
		    sizeof(err)) != -1)
			fail_msg("%s after relay_allow: got 0 want -1",
			    relay_bad[i]);
		expect_contains("error", err, "client cannot choose");
		if (strcmp(relay_bad[i], "conn_helo") == 0 ||
		    strncmp(relay_bad[i], "rcpt", 4) == 0 ||
		    strcmp(relay_bad[i], "delivery_relaying") == 0 ||
		    strcmp(relay_bad[i], "message_size") == 0) {
			rules_free(&rs);
			r = rules_add_rule(&rs, "bad", 1, 0);
			add_cond_ok(r, relay_bad[i], op, v, 0);
			if (rules_add_action(r, &sender, err,
			    sizeof(err)) != -1)
				fail_msg("sender_allow on %s: got 0 want -1",
				    relay_bad[i]);
		}
	}
	for (i = 0; i < NELEM(relay_ok); i++) {
		rules_free(&rs);
		r = rules_add_rule(&rs, "ok", 1, 0);
		add_cond_ok(r, relay_ok[i], "is", vals[i], 0);
		expect_int(relay_ok[i], rules_add_action(r, &relay, err,
		    sizeof(err)), 0);
	}
	/* Evaluation: the permission is its own decision. */
	rules_free(&rs);
	r = rules_add_rule(&rs, "acc", 1, 0);
	add_cond_ok(r, "sender_domain", "contains", "example", 0);
	expect_int("accept", rules_add_action(r, &accept, err, sizeof(err)),
	    0);
	eval(&rs, RULES_RCPT, &x, &res, &t);
	expect_int("accept relay_allow", res.relay_allow, 0);
	expect_int("accept reply", res.reply, REPLY_ACCEPT);
	r = rules_add_rule(&rs, "net", 2, 0);
	add_cond_ok(r, "conn_remote_addr", "in_cidr", "192.0.2.0/24", 0);
	expect_int("relay", rules_add_action(r, &relay, err, sizeof(err)), 0);
	r = rules_add_rule(&rs, "snd", 3, 0);
	add_cond_ok(r, "sender_domain", "in_domain", "example.org", 0);
	expect_int("sender", rules_add_action(r, &sender, err, sizeof(err)),
	    0);
	eval(&rs, RULES_RCPT, &x, &res, &t);
	expect_int("relay_allow", res.relay_allow, 1);
	assert_string_equal(res.relay_rule, "net");
	eval(&rs, RULES_MAIL, &x, &res, &t);
	expect_int("sender_allow", res.sender_allow, 1);
	assert_string_equal(res.sender_rule, "snd");
	x.client_addr = "198.51.100.1";
	x.sender_domain = "example.org.evil.test";
	eval(&rs, RULES_RCPT, &x, &res, &t);
	expect_int("relay_allow elsewhere", res.relay_allow, 0);
	expect_int("sender_allow trap", res.sender_allow, 0);
	rules_free(&rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_domain),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_match_all_vs_any),
		cmocka_unit_test(test_zero_conditions_always_match),
		cmocka_unit_test(test_negation_every_kind),
		cmocka_unit_test(test_string_operators),
		cmocka_unit_test(test_bool_listener_addr_size_operators),
		cmocka_unit_test(test_bool_value_parsing),
		cmocka_unit_test(test_regex_matches),
		cmocka_unit_test(test_regex_bad_refused),
		cmocka_unit_test(test_cidr_ipv4_edges),
		cmocka_unit_test(test_cidr_ipv6_edges),
		cmocka_unit_test(test_cidr_mapped_and_family),
		cmocka_unit_test(test_cidr_invalid_refused),
		cmocka_unit_test(test_cidr_lists),
		cmocka_unit_test(test_unknown_kind_or_op_refused),
		cmocka_unit_test(test_op_not_fitting_kind_refused),
		cmocka_unit_test(test_stage_rcpt_rule_only_from_rcpt),
		cmocka_unit_test(test_stage_message_size_only_at_data),
		cmocka_unit_test(test_stage_data_any_rcpt),
		cmocka_unit_test(test_delivery_relaying_non_local),
		cmocka_unit_test(test_last_match_wins_each_decision),
		cmocka_unit_test(test_order_reversed_gives_other_result),
		cmocka_unit_test(test_last_action_in_rule_wins),
		cmocka_unit_test(test_decisions_combine),
		cmocka_unit_test(test_stop_ends_after_rule),
		cmocka_unit_test(test_stop_in_nonmatching_rule_ignored),
		cmocka_unit_test(test_scenario_auth_only_on_tls),
		cmocka_unit_test(test_scenario_tls_only_for_mydomain),
		cmocka_unit_test(test_scenario_relay_tls_versions),
		cmocka_unit_test(test_action_errors),
		cmocka_unit_test(test_add_header_accumulates),
		cmocka_unit_test(test_versions_text),
		cmocka_unit_test(test_trace_once_per_considered_rule),
		cmocka_unit_test(test_rules_free_after_everything),
		cmocka_unit_test(test_regex_cost_limits),
	};

	return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
