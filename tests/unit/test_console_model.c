/*
 * test_console_model.c - unit tests for console/model.c, the console's
 * pure model layer (no curses, no database).
 *
 * The Makefile links unit tests against libpostern.a only, so the model is
 * compiled in here by including its source; it has no dependencies beyond
 * libc.  Cases are tables with got/want messages.  The SQL builders are
 * checked for two properties: the statement text is what the query
 * modules expect, and user-supplied values appear only among the
 * parameters, never in the text (a value with quotes and semicolons is
 * used to make sure).
 *
 * Failure: a test fails via cmocka with got/want messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "console/model.c"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define expect_str(what, got, want) do {				\
	const char *g_ = (got), *w_ = (want);				\
	if ((g_ == NULL) != (w_ == NULL) ||				\
	    (g_ != NULL && strcmp(g_, w_) != 0))			\
		fail_msg("%s: got \"%s\" want \"%s\"", (what),		\
		    g_ ? g_ : "(null)", w_ ? w_ : "(null)");		\
} while (0)

#define expect_int(what, got, want) do {				\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	if (g_ != w_)							\
		fail_msg("%s: got %lld want %lld", (what), g_, w_);	\
} while (0)

static void
test_fmt_age(void **state)
{
	static const struct { long long s; const char *want; } c[] = {
		{ 0, "0s" }, { 45, "45s" }, { 60, "1m00s" }, { 192, "3m12s" },
		{ 3599, "59m59s" }, { 3600, "1h00m" }, { 11520, "3h12m" },
		{ 86399, "23h59m" }, { 86400, "1d00h" }, { 190800, "2d05h" },
		{ -30, "-30s" }, { -3720, "-1h02m" },
	};
	char buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(c); i++)
		expect_str("age", model_fmt_age(buf, sizeof(buf), c[i].s),
		    c[i].want);
	/* Bounded: a tiny buffer is cut, never overrun. */
	expect_str("age in 3 bytes", model_fmt_age(buf, 3, 11520), "3h");
}

static void
test_fmt_size(void **state)
{
	static const struct { long long b; const char *want; } c[] = {
		{ 0, "0" }, { 512, "512" }, { 1023, "1023" }, { 1024, "1.0K" },
		{ 1536, "1.5K" }, { 20971520, "20.0M" },
		{ 1288490189LL, "1.2G" }, { -5, "0" },
	};
	char buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(c); i++)
		expect_str("size", model_fmt_size(buf, sizeof(buf), c[i].b),
		    c[i].want);
}

static void
test_copy_clean_and_summary(void **state)
{
	char buf[64];

	(void)state;
	expect_int("len", model_copy_clean(buf, "a\tb\nc\rd\x7f", sizeof(buf)),
	    8);
	expect_str("clean", buf, "a b c d ");
	model_copy_clean(buf, "abcdef", 4);
	expect_str("cut", buf, "abc");
	expect_str("summary", model_rule_summary(buf, sizeof(buf),
	    "rcpt_domain is x", "stop"), "rcpt_domain is x -> stop");
	expect_str("always", model_rule_summary(buf, sizeof(buf), "", ""),
	    "always -> (no actions)");
	expect_str("cut summary", model_rule_summary(buf, 12,
	    "conn_tls is true", "stop"), "conn_tls is");
}

static void
test_cond_format(void **state)
{
	char buf[128];

	(void)state;
	expect_str("plain", model_cond_format(buf, sizeof(buf), 0, "conn_tls",
	    "is", "true"), "conn_tls is true");
	expect_str("negate", model_cond_format(buf, sizeof(buf), 1,
	    "rcpt_domain", "is", "mydomain.com"),
	    "NOT rcpt_domain is mydomain.com");
	expect_str("empty", model_cond_format(buf, sizeof(buf), 0,
	    "sender_address", "is", ""), "sender_address is \"\"");
	expect_str("space+quote", model_cond_format(buf, sizeof(buf), 0,
	    "conn_helo", "contains", "a \"b\""),
	    "conn_helo contains \"a \\\"b\\\"\"");
}

/* Parses line and checks the text and the parameters. */
static void
check_parse(int action, const char *line, const char *want_text,
    const char *const *want, int nwant)
{
	struct model_sql q;
	char err[256] = "", what[600];
	int rc, i;

	rc = action ? model_action_parse(line, "r1", &q, err, sizeof(err)) :
	    model_cond_parse(line, "r1", &q, err, sizeof(err));
	snprintf(what, sizeof(what), "parse \"%s\" (%s)", line, err);
	expect_int(what, rc, 0);
	expect_str(what, q.text, want_text);
	expect_int(what, q.nparams, nwant);
	for (i = 0; i < nwant; i++)
		expect_str(what, q.param[i], want[i]);
}

static void
test_cond_parse(void **state)
{
	static const char *const p1[] = { "r1", "conn_remote_addr", "in_cidr",
		"10.0.0.0/8, 192.168.0.0/16", "false" };
	static const char *const p2[] = { "r1", "conn_tls", "is", "true",
		"true" };
	static const char *const p3[] = { "r1", "sender_address", "is", "",
		"false" };
	static const char *const p4[] = { "r1", "conn_helo", "matches",
		"a \"b\" c", "false" };
	static const char *const bad[] = { "", "conn_tls", "NOT conn_tls",
		"Conn_TLS is true", "conn_helo is \"open", "conn_helo is \"a\" b" };
	const char *want = "SELECT postern.rule_add_condition($1, "
	    "$2::postern.condition_kind, $3::postern.condition_op, $4, "
	    "$5::boolean)";
	struct model_sql q;
	char err[256];
	size_t i;

	(void)state;
	check_parse(0, "conn_remote_addr in_cidr 10.0.0.0/8, 192.168.0.0/16",
	    want, p1, 5);
	check_parse(0, "  NOT conn_tls  is   true ", want, p2, 5);
	check_parse(0, "sender_address is \"\"", want, p3, 5);
	check_parse(0, "conn_helo matches \"a \\\"b\\\" c\"", want, p4, 5);
	for (i = 0; i < NELEM(bad); i++) {
		err[0] = '\0';
		if (model_cond_parse(bad[i], "r1", &q, err, sizeof(err)) != -1)
			fail_msg("\"%s\": accepted, want an error", bad[i]);
		if (err[0] == '\0')
			fail_msg("\"%s\": no error message", bad[i]);
	}
}

static void
test_action_parse(void **state)
{
	static const struct {
		const char *line, *text;
		int n;
		const char *p[6];
	} c[] = {
		{ "auth_plain off", "SELECT postern.rule_add_auth($1, $2, "
		    "$3::text[])", 3, { "r1", "plain", "{}" } },
		{ "auth_tls plain, login", "SELECT postern.rule_add_auth($1, "
		    "$2, $3::text[])", 3, { "r1", "tls", "{PLAIN,LOGIN}" } },
		{ "reply reject 550 5.7.1 \"Go away\"",
		    "SELECT postern.rule_add_reply($1, $2::postern.reply_kind, "
		    "$3::integer, $4, $5)", 5,
		    { "r1", "reject", "550", "5.7.1", "Go away" } },
		{ "reply tempfail try later", "SELECT postern.rule_add_reply("
		    "$1, $2::postern.reply_kind, $3::integer, $4, $5)", 5,
		    { "r1", "tempfail", NULL, NULL, "try later" } },
		{ "reply accept", "SELECT postern.rule_add_reply($1, "
		    "$2::postern.reply_kind, $3::integer, $4, $5)", 5,
		    { "r1", "accept", NULL, NULL, NULL } },
		{ "relay_host smart.example.net:587", "SELECT "
		    "postern.rule_add_relay($1, $2, $3::integer)", 3,
		    { "r1", "smart.example.net", "587" } },
		{ "relay_host [IPv6:2001:db8::1]:25", "SELECT "
		    "postern.rule_add_relay($1, $2, $3::integer)", 3,
		    { "r1", "[IPv6:2001:db8::1]", "25" } },
		{ "relay_tls required verify", "SELECT "
		    "postern.rule_add_relay_tls($1, $2::postern.relay_tls_mode, "
		    "$3::boolean)", 3, { "r1", "required", "true" } },
		{ "relay_tls implicit", "SELECT postern.rule_add_relay_tls($1, "
		    "$2::postern.relay_tls_mode, $3::boolean)", 3,
		    { "r1", "implicit", NULL } },
		{ "relay_tls_versions TLSv1.2,TLSv1.3", "SELECT "
		    "postern.rule_add_relay_versions($1, "
		    "$2::postern.tls_version[])", 2,
		    { "r1", "{TLSv1.2,TLSv1.3}" } },
		{ "add_header X-Tag:  yes: really", "SELECT "
		    "postern.rule_add_header($1, $2, $3)", 3,
		    { "r1", "X-Tag", "yes: really" } },
		{ "stop", "SELECT postern.rule_add_stop($1)", 1, { "r1" } },
		{ "relay_allow", "SELECT postern.rule_add_relay_allow($1)", 1,
		    { "r1" } },
		{ "sender_allow", "SELECT postern.rule_add_sender_allow($1)",
		    1, { "r1" } },
	};
	static const char *const bad[] = { "", "frobnicate", "relay_host x",
		"relay_host x:25a", "relay_tls", "relay_tls required maybe",
		"add_header novalue", "stop now", "relay_allow all",
		"sender_allow any", "auth_plain PLAIN}",
		"auth_tls PLAIN,\"LOGIN", "reply" };
	struct model_sql q;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(c); i++)
		check_parse(1, c[i].line, c[i].text, c[i].p, c[i].n);
	for (i = 0; i < NELEM(bad); i++) {
		err[0] = '\0';
		if (model_action_parse(bad[i], "r1", &q, err, sizeof(err)) != -1)
			fail_msg("\"%s\": accepted, want an error", bad[i]);
		if (err[0] == '\0')
			fail_msg("\"%s\": no error message", bad[i]);
	}
}

/* What the console shows for an action row must parse back into the
 * same action. */
static void
test_action_roundtrip(void **state)
{
	struct model_action a[] = {
		{ .kind = "auth_plain", .auth_mechs = "{}" },
		{ .kind = "auth_tls", .auth_mechs = "{PLAIN,LOGIN}" },
		{ .kind = "reply", .reply = "reject", .reply_code = "550",
		    .reply_ecode = "5.7.1", .reply_text = "say \"no\"" },
		{ .kind = "reply", .reply = "tempfail", .reply_code = "451",
		    .reply_ecode = "4.7.1", .reply_text = "123 later" },
		{ .kind = "relay_host", .relay_host = "mx.example", .relay_port =
		    "25" },
		{ .kind = "relay_tls", .relay_tls = "required",
		    .relay_tls_verify = "f" },
		{ .kind = "relay_tls_versions", .relay_tls_versions =
		    "{TLSv1.1,TLSv1.2}" },
		{ .kind = "add_header", .header_name = "X-A", .header_value =
		    "b c" },
		{ .kind = "stop" },
		{ .kind = "relay_allow" },
		{ .kind = "sender_allow" },
	};
	static const char *const want[] = {
		"auth_plain off", "auth_tls PLAIN,LOGIN",
		"reply reject 550 5.7.1 \"say \\\"no\\\"\"",
		"reply tempfail 451 4.7.1 \"123 later\"",
		"relay_host mx.example:25", "relay_tls required noverify",
		"relay_tls_versions TLSv1.1,TLSv1.2", "add_header X-A: b c",
		"stop", "relay_allow", "sender_allow",
	};
	char line[MODEL_TEXT_MAX], err[256];
	struct model_sql q;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(a); i++) {
		model_action_format(line, sizeof(line), &a[i]);
		expect_str("format", line, want[i]);
		if (model_action_parse(line, "r", &q, err, sizeof(err)) != 0)
			fail_msg("\"%s\" does not parse back: %s", line, err);
	}
	/* The reply text survives quoting. */
	model_action_format(line, sizeof(line), &a[2]);
	model_action_parse(line, "r", &q, err, sizeof(err));
	expect_str("reply text", q.param[4], "say \"no\"");
	model_action_format(line, sizeof(line), &a[3]);
	model_action_parse(line, "r", &q, err, sizeof(err));
	expect_str("digits in text", q.param[4], "123 later");
	expect_str("code", q.param[2], "451");
}

static void
test_mechs(void **state)
{
	char buf[64];

	(void)state;
	expect_int("has", model_mechs_has("{PLAIN,LOGIN}", "login"), 1);
	expect_int("has not", model_mechs_has("{PLAIN}", "LOGIN"), 0);
	expect_int("empty", model_mechs_has("{}", "PLAIN"), 0);
	expect_int("toggle", model_mechs_toggle("{}", "LOGIN", buf,
	    sizeof(buf)), 0);
	expect_str("on", buf, "{LOGIN}");
	model_mechs_toggle("{LOGIN}", "PLAIN", buf, sizeof(buf));
	expect_str("order", buf, "{PLAIN,LOGIN}");
	model_mechs_toggle("{PLAIN,LOGIN}", "PLAIN", buf, sizeof(buf));
	expect_str("off", buf, "{LOGIN}");
	model_mechs_toggle("{LOGIN}", "LOGIN", buf, sizeof(buf));
	expect_str("none", buf, "{}");
	expect_int("too small", model_mechs_toggle("{PLAIN}", "LOGIN", buf,
	    6), -1);
	expect_str("display off", model_mechs_display(buf, sizeof(buf), "{}"),
	    "off");
	expect_str("display", model_mechs_display(buf, sizeof(buf),
	    "{PLAIN,LOGIN}"), "PLAIN,LOGIN");
}

static void
test_state_names(void **state)
{
	(void)state;
	expect_int("default", model_state_parse(""), MODEL_STATE_PENDING);
	expect_int("held", model_state_parse(" Held "), MODEL_STATE_HELD);
	expect_int("prefix", model_state_parse("def"), MODEL_STATE_DEFERRED);
	expect_int("unknown", model_state_parse("frozen"), -1);
	expect_str("name", model_state_name(MODEL_STATE_ALL), "all");
	expect_str("bad", model_state_name(99), "?");
}

static void
test_queue_where(void **state)
{
	struct model_queue_filter f;
	struct model_sql q;
	const char *evil = "x'; DROP TABLE postern.messages; --";

	(void)state;
	memset(&f, 0, sizeof(f));
	model_sql_init(&q);
	expect_int("rc", model_queue_where(&f, &q), 0);
	expect_str("pending", q.text,
	    " WHERE state IN ('queued', 'deferred', 'held')");
	expect_int("no params", q.nparams, 0);

	f.state = MODEL_STATE_HELD;
	snprintf(f.domain, sizeof(f.domain), " @Example.COM ");
	snprintf(f.sender, sizeof(f.sender), "%s", evil);
	model_sql_init(&q);
	expect_int("rc", model_queue_where(&f, &q), 0);
	expect_str("text", q.text, " WHERE state = 'held' AND domain = "
	    "lower($1) AND strpos(lower(sender), lower($2)) > 0");
	expect_int("params", q.nparams, 2);
	expect_str("domain", q.param[0], "Example.COM");
	expect_str("sender", q.param[1], evil);
	if (strstr(q.text, "DROP") != NULL)
		fail_msg("a value reached the SQL text: %s", q.text);
}

static void
test_queue_page_sql(void **state)
{
	struct model_queue_filter f;
	struct model_qkey k = { "2026-01-02 03:04:05.123456+00", "1001", "2" };
	struct model_sql q;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.state = MODEL_STATE_ALL;
	expect_int("first", model_queue_page_sql(&f, "queue_id",
	    MODEL_PAGE_FIRST, NULL, 20, &q), 0);
	expect_str("first", q.text, "SELECT queue_id FROM "
	    "postern.queue_recipients WHERE true ORDER BY received_at, "
	    "message_id, rcpt_no LIMIT $1::integer");
	expect_str("limit", q.param[0], "20");

	model_queue_page_sql(&f, "queue_id", MODEL_PAGE_AFTER, &k, 20, &q);
	expect_str("after", q.text, "SELECT queue_id FROM "
	    "postern.queue_recipients WHERE true AND received_at >= "
	    "$1::timestamptz AND (received_at, message_id, rcpt_no) > "
	    "($1::timestamptz, $2::bigint, $3::integer) ORDER BY received_at, "
	    "message_id, rcpt_no LIMIT $4::integer");
	expect_str("key", q.param[0], k.received_at);
	expect_str("id", q.param[1], "1001");
	expect_str("rcpt", q.param[2], "2");

	snprintf(f.domain, sizeof(f.domain), "d.example");
	model_queue_page_sql(&f, "queue_id", MODEL_PAGE_BEFORE, &k, 5, &q);
	expect_str("before", q.text, "SELECT queue_id FROM "
	    "postern.queue_recipients WHERE true AND domain = lower($1) AND "
	    "received_at <= $2::timestamptz AND (received_at, message_id, "
	    "rcpt_no) < ($2::timestamptz, $3::bigint, $4::integer) ORDER BY "
	    "received_at DESC, message_id DESC, rcpt_no DESC LIMIT "
	    "$5::integer");
	model_queue_page_sql(&f, "queue_id", MODEL_PAGE_FROM, &k, 5, &q);
	if (strstr(q.text, "rcpt_no) >= ($2") == NULL)
		fail_msg("from: %s", q.text);
	model_queue_page_sql(&f, "queue_id", MODEL_PAGE_LAST, NULL, 0, &q);
	if (strstr(q.text, "DESC LIMIT $2::integer") == NULL)
		fail_msg("last: %s", q.text);
	expect_str("limit at least 1", q.param[1], "1");
}

static void
test_marks(void **state)
{
	struct model_marks *m = calloc(1, sizeof(*m));
	char buf[64], id[17];
	int i;

	(void)state;
	assert_non_null(m);
	expect_int("mark", model_marks_toggle(m, "00000000000003e9"), 1);
	expect_int("has (case)", model_marks_has(m, "00000000000003E9"), 1);
	expect_int("mark 2", model_marks_toggle(m, "00000000000003EA"), 1);
	expect_int("array", model_marks_array(m, NULL, buf, sizeof(buf)), 2);
	expect_str("array", buf, "{00000000000003E9,00000000000003EA}");
	expect_int("too small", model_marks_array(m, NULL, buf, 20), -1);
	expect_int("unmark", model_marks_toggle(m, "00000000000003E9"), 0);
	expect_int("gone", model_marks_has(m, "00000000000003E9"), 0);
	expect_int("left", model_marks_has(m, "00000000000003EA"), 1);
	expect_int("not an id", model_marks_toggle(m, "'; DROP"), -1);
	expect_int("short id", model_marks_toggle(m, "3E9"), -1);
	model_marks_clear(m);
	expect_int("one", model_marks_array(m, "00000000000003EB", buf,
	    sizeof(buf)), 1);
	expect_str("one", buf, "{00000000000003EB}");
	expect_int("none", model_marks_array(m, NULL, buf, sizeof(buf)), 0);
	expect_str("none", buf, "{}");
	for (i = 0; i < MODEL_MARKS_MAX; i++) {
		snprintf(id, sizeof(id), "%016X", i);
		expect_int("fill", model_marks_toggle(m, id), 1);
	}
	expect_int("full", model_marks_toggle(m, "FFFFFFFFFFFFFFFF"), -1);
	free(m);
}

static void
test_cursor(void **state)
{
	struct model_cursor c = { 0, 0, 10, 4 };

	(void)state;
	model_cursor_move(&c, 5);
	expect_int("sel", c.sel, 5);
	expect_int("top follows", c.top, 2);
	model_cursor_move(&c, 100);
	expect_int("clamp end", c.sel, 9);
	expect_int("top end", c.top, 6);
	model_cursor_move(&c, -7);
	expect_int("up", c.sel, 2);
	expect_int("top up", c.top, 2);
	c.n = 0;
	model_cursor_fix(&c);
	expect_int("empty", c.sel, 0);
	expect_int("empty top", c.top, 0);
	c.n = 3;
	c.rows = 10;
	c.sel = 2;
	c.top = 2;
	model_cursor_fix(&c);
	expect_int("fits", c.top, 0);
}

static void
test_lines(void **state)
{
	struct model_lines *l = calloc(1, sizeof(*l));
	char big[MODEL_LINE_MAX * 2];
	int i;

	(void)state;
	assert_non_null(l);
	expect_int("add", model_lines_add(l, "a\r\nb\tc\x01\nlast"), 0);
	expect_int("n", l->n, 3);
	expect_str("crlf", l->line[0], "a");
	expect_str("tab", l->line[1], "b       c ");
	expect_str("last", l->line[2], "last");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	model_lines_add(l, big);
	expect_int("cut", strlen(l->line[3]), MODEL_LINE_MAX - 1);
	model_lines_clear(l);
	for (i = 0; i < MODEL_LINES_MAX; i++)
		model_lines_addf(l, "%d", i);
	expect_int("full", model_lines_add(l, "more"), -1);
	expect_int("n full", l->n, MODEL_LINES_MAX);
	free(l);
}

/* The alias form's targets become array text; anything that would need
 * quoting in it, or is not local@domain, is refused. */
static void
test_targets_array(void **state)
{
	static const struct {
		const char *in, *want;	/* want NULL: refused */
		int n;
	} cases[] = {
		{ "a@x.org", "{a@x.org}", 1 },
		{ " a@x.org,b@y.org  c@z.org ,", "{a@x.org,b@y.org,c@z.org}", 3 },
		{ "", NULL, 0 },
		{ " , ", NULL, 0 },
		{ "alice", NULL, 0 },
		{ "@x.org", NULL, 0 },
		{ "a@", NULL, 0 },
		{ "a@x.org b\"@y.org", NULL, 0 },
		{ "a}@x.org", NULL, 0 },
		{ "a{@x.org", NULL, 0 },
		{ "a\\@x.org", NULL, 0 },
		{ "a\t@x.org", NULL, 0 },
		{ "a\xc3\xa9@x.org", NULL, 0 },
	};
	char dst[64], err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = model_targets_array(cases[i].in, dst, sizeof(dst), err,
		    sizeof(err));

		if (cases[i].want == NULL) {
			assert_int_equal(r, -1);
			assert_true(err[0] != '\0');
		} else {
			assert_int_equal(r, cases[i].n);
			assert_string_equal(dst, cases[i].want);
		}
	}
	/* Too long for dst: refused, not cut. */
	assert_int_equal(model_targets_array("aaaaaaaaaa@x.org bbbbbbbbbb@x.org "
	    "cccccccccc@x.org dddddddddd@x.org", dst, 40, err, sizeof(err)), -1);
}

static void
test_sql_bounds(void **state)
{
	struct model_sql q;
	char big[MODEL_TEXT_MAX + 1];
	int i;

	(void)state;
	model_sql_init(&q);
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_int("too long value", model_sql_param(&q, big), -1);
	for (i = 0; i < MODEL_PARAMS_MAX; i++)
		expect_int("param", model_sql_param(&q, "x"), i + 1);
	expect_int("too many", model_sql_param(&q, "x"), -1);
	expect_int("null", q.param[0] != NULL, 1);
	model_sql_init(&q);
	expect_int("null param", model_sql_param(&q, NULL), 1);
	expect_int("is null", q.param[0] == NULL, 1);
	expect_int("pg bool", model_pg_bool("t") + model_pg_bool("true") +
	    model_pg_bool("f") + model_pg_bool(NULL), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_age),
		cmocka_unit_test(test_fmt_size),
		cmocka_unit_test(test_copy_clean_and_summary),
		cmocka_unit_test(test_cond_format),
		cmocka_unit_test(test_cond_parse),
		cmocka_unit_test(test_action_parse),
		cmocka_unit_test(test_action_roundtrip),
		cmocka_unit_test(test_mechs),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_queue_where),
		cmocka_unit_test(test_queue_page_sql),
		cmocka_unit_test(test_marks),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_sql_bounds),
		cmocka_unit_test(test_targets_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
