/*
 * test_addr.c - unit tests for daemon/addr.c (MAIL/RCPT path and ESMTP
 * parameter parsing) and smtp_base64_decode() from daemon/smtp_auth.c.
 *
 * addr_parse_cmd cases are one table: argument, kind, expected result and,
 * on success, the expected address, domain, null flag and parameter text.
 * Length boundaries (64/65-octet local part, 255/256-octet domain) are
 * built at run time.  Base64 cases are a second table.
 *
 * Failure: a test fails via cmocka asserts with got/want messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/addr.h"
#include "daemon/smtp_internal.h"

struct parse_case {
	const char *arg;
	enum addr_kind kind;
	int want;
	const char *addr;	/* expected on success */
	const char *domain;
	int is_null;
	const char *params;
};

static void
run_parse_cases(const struct parse_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct addr a;
		const char *params = NULL;
		int got = addr_parse_cmd(c[i].arg, c[i].kind, &a, &params);

		if (got != c[i].want)
			fail_msg("%s \"%s\": got %d want %d",
			    c[i].kind == ADDR_SENDER ? "MAIL" : "RCPT",
			    c[i].arg, got, c[i].want);
		if (got != 0)
			continue;
		if (strcmp(a.addr, c[i].addr) != 0)
			fail_msg("\"%s\": addr got \"%s\" want \"%s\"", c[i].arg,
			    a.addr, c[i].addr);
		if (strcmp(a.domain, c[i].domain) != 0)
			fail_msg("\"%s\": domain got \"%s\" want \"%s\"",
			    c[i].arg, a.domain, c[i].domain);
		if (a.is_null != c[i].is_null)
			fail_msg("\"%s\": is_null got %d want %d", c[i].arg,
			    a.is_null, c[i].is_null);
		if (strcmp(params, c[i].params) != 0)
			fail_msg("\"%s\": params got \"%s\" want \"%s\"",
			    c[i].arg, params, c[i].params);
	}
}

/* Valid senders and recipients, null path, postmaster, source route,
 * space after the colon, case handling, quoted local part, literals. */
static void
test_parse_cmd_valid(void **state)
{
	static const struct parse_case cases[] = {
		{ "FROM:<alice@example.org>", ADDR_SENDER, 0,
		    "alice@example.org", "example.org", 0, "" },
		{ "TO:<bob@example.org>", ADDR_RECIPIENT, 0,
		    "bob@example.org", "example.org", 0, "" },
		{ "from:<a@b.c>", ADDR_SENDER, 0, "a@b.c", "b.c", 0, "" },
		{ "FROM:<>", ADDR_SENDER, 0, "", "", 1, "" },
		{ "FROM:<> SIZE=10", ADDR_SENDER, 0, "", "", 1, "SIZE=10" },
		{ "TO:<postmaster>", ADDR_RECIPIENT, 0, "postmaster", "", 0, "" },
		{ "TO:<PostMaster>", ADDR_RECIPIENT, 0, "postmaster", "", 0, "" },
		{ "TO:<@relay.example,@r2.example:joe@example.org>",
		    ADDR_RECIPIENT, 0, "joe@example.org", "example.org", 0, "" },
		{ "FROM:<@relay.example:joe@example.org>", ADDR_SENDER, 0,
		    "joe@example.org", "example.org", 0, "" },
		{ "FROM: <a@example.org>", ADDR_SENDER, 0, "a@example.org",
		    "example.org", 0, "" },
		{ "TO: <a@example.org>", ADDR_RECIPIENT, 0, "a@example.org",
		    "example.org", 0, "" },
		{ "FROM:<John.Doe@Example.ORG>", ADDR_SENDER, 0,
		    "John.Doe@example.org", "example.org", 0, "" },
		{ "TO:<\"john doe\"@example.org>", ADDR_RECIPIENT, 0,
		    "\"john doe\"@example.org", "example.org", 0, "" },
		{ "TO:<\"a\\\"b\"@example.org>", ADDR_RECIPIENT, 0,
		    "\"a\\\"b\"@example.org", "example.org", 0, "" },
		{ "TO:<user@[192.0.2.1]>", ADDR_RECIPIENT, 0,
		    "user@[192.0.2.1]", "[192.0.2.1]", 0, "" },
		{ "TO:<user@[IPv6:2001:db8::1]>", ADDR_RECIPIENT, 0,
		    "user@[ipv6:2001:db8::1]", "[ipv6:2001:db8::1]", 0, "" },
		{ "FROM:<a@example.org>  SIZE=123 BODY=8BITMIME", ADDR_SENDER,
		    0, "a@example.org", "example.org", 0,
		    "SIZE=123 BODY=8BITMIME" },
		{ "FROM:<x+tag@a-b.example>", ADDR_SENDER, 0,
		    "x+tag@a-b.example", "a-b.example", 0, "" },
	};

	(void)state;
	run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Syntax errors: null path for RCPT, postmaster for MAIL, brackets,
 * garbage, 8-bit bytes, bad labels, bad local parts. */
static void
test_parse_cmd_invalid(void **state)
{
	static const struct parse_case cases[] = {
		{ "TO:<>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "FROM:<postmaster>", ADDR_SENDER, -1, NULL, NULL, 0, NULL },
		{ "FROM:a@example.org", ADDR_SENDER, -1, NULL, NULL, 0, NULL },
		{ "FROM:<a@example.org", ADDR_SENDER, -1, NULL, NULL, 0, NULL },
		{ "TO:a@example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "FROM:<a@example.org>x", ADDR_SENDER, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@example.org>>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "FROM:  <a@example.org>", ADDR_SENDER, -1, NULL, NULL, 0, NULL },
		{ "FROM <a@example.org>", ADDR_SENDER, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@example.org>", ADDR_SENDER, -1, NULL, NULL, 0, NULL },
		{ "FROM:<a@example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<j\xc3\xb6rg@example.org>", ADDR_RECIPIENT, -1, NULL, NULL,
		    0, NULL },
		{ "TO:<joe@b\xc3\xbc" "cher.example>", ADDR_RECIPIENT, -1, NULL,
		    NULL, 0, NULL },
		{ "TO:<\"j\xc3\xb6rg\"@example.org>", ADDR_RECIPIENT, -1, NULL,
		    NULL, 0, NULL },
		{ "TO:<a@-example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@example-.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@example..org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@.example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@example.org.>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@exa_mple.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<@example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<.a@example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a.@example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a..b@example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a b@example.org>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<\"unterminated@example.org>", ADDR_RECIPIENT, -1, NULL,
		    NULL, 0, NULL },
		{ "TO:<a@[]>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@[1.2.3.4>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<a@[1.2.3.4/8]>", ADDR_RECIPIENT, -1, NULL, NULL, 0, NULL },
		{ "TO:<@relay.example joe@example.org>", ADDR_RECIPIENT, -1,
		    NULL, NULL, 0, NULL },
	};

	(void)state;
	run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Local part: 64 octets accepted, 65 refused (dot-string and quoted). */
static void
test_parse_cmd_local_part_64_65(void **state)
{
	static const struct {
		size_t len;
		int quoted;
		int want;
	} cases[] = {
		{ 64, 0, 0 }, { 65, 0, -1 },
		/* quoted lengths include the two quotes */
		{ 64, 1, 0 }, { 65, 1, -1 }, { 66, 1, -1 }, { 67, 1, -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char arg[512], local[128];
		struct addr a;
		const char *params;
		int got;

		memset(local, 'l', cases[i].len);
		if (cases[i].quoted) {
			local[0] = '"';
			local[cases[i].len - 1] = '"';
		}
		local[cases[i].len] = '\0';
		snprintf(arg, sizeof(arg), "TO:<%s@example.org>", local);
		got = addr_parse_cmd(arg, ADDR_RECIPIENT, &a, &params);
		if (got != cases[i].want)
			fail_msg("%s local part of %zu octets: got %d want %d",
			    cases[i].quoted ? "quoted" : "dot-string",
			    cases[i].len, got, cases[i].want);
		if (got == 0)
			assert_int_equal(strlen(a.addr), cases[i].len + 12);
	}
}

/* Domain length boundary.  RFC 5321 4.5.3.1.2 allows 255 octets, but a
 * stored mailbox is at most ADDR_MAX (256) octets, so with the shortest
 * local part ("a@") the longest domain in a path is 254: 254 is accepted,
 * 255 and 256 are refused.  Labels are at most 63 octets. */
static void
test_parse_cmd_domain_255_256(void **state)
{
	static const struct {
		size_t len;
		int want;
	} cases[] = { { 63, 0 }, { 253, 0 }, { 254, 0 }, { 255, -1 },
	    { 256, -1 } };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dom[300], arg[400];
		struct addr a;
		const char *params;
		size_t k;
		int got;

		/* "ddd...d.ddd" with a dot every 60 characters */
		for (k = 0; k < cases[i].len; k++)
			dom[k] = (k % 61 == 60) ? '.' : 'D';
		dom[cases[i].len] = '\0';
		snprintf(arg, sizeof(arg), "FROM:<a@%s>", dom);
		got = addr_parse_cmd(arg, ADDR_SENDER, &a, &params);
		if (got != cases[i].want)
			fail_msg("domain of %zu octets: got %d want %d",
			    cases[i].len, got, cases[i].want);
		if (got == 0) {
			assert_int_equal(strlen(a.domain), cases[i].len);
			assert_int_equal(a.domain[0], 'd');
		}
	}
	/* A 64-octet label is refused. */
	{
		char arg[200], lab[65];
		struct addr a;
		const char *params;

		memset(lab, 'x', 64);
		lab[64] = '\0';
		snprintf(arg, sizeof(arg), "FROM:<a@%s.org>", lab);
		assert_int_equal(addr_parse_cmd(arg, ADDR_SENDER, &a, &params),
		    -1);
	}
}

/* addr_param_next: SIZE=123 BODY=8BITMIME, then end. */
static void
test_param_next_size_body(void **state)
{
	const char *p = "SIZE=123 BODY=8BITMIME";
	char key[32], val[64];

	(void)state;
	assert_int_equal(addr_param_next(&p, key, sizeof(key), val,
	    sizeof(val)), 1);
	assert_string_equal(key, "SIZE");
	assert_string_equal(val, "123");
	assert_int_equal(addr_param_next(&p, key, sizeof(key), val,
	    sizeof(val)), 1);
	assert_string_equal(key, "BODY");
	assert_string_equal(val, "8BITMIME");
	assert_int_equal(addr_param_next(&p, key, sizeof(key), val,
	    sizeof(val)), 0);
	/* A key without value gives "". */
	p = "SMTPUTF8";
	assert_int_equal(addr_param_next(&p, key, sizeof(key), val,
	    sizeof(val)), 1);
	assert_string_equal(key, "SMTPUTF8");
	assert_string_equal(val, "");
	assert_int_equal(addr_param_next(&p, key, sizeof(key), val,
	    sizeof(val)), 0);
}

/* Syntax errors: empty value, overlong key or value, bad characters. */
static void
test_param_next_invalid(void **state)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
		{ "SIZE=", -1 },
		{ "SIZE= BODY=7BIT", -1 },
		{ "=123", -1 },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG=1", -1 },	/* 33 > 31 */
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDE=1", 1 },	/* 31 fits */
		{ "SI_ZE=1", -1 },
		{ "SIZE=1=2", -1 },
		{ "", 0 },
		{ "   ", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = cases[i].in;
		char key[32], val[64];
		int got = addr_param_next(&p, key, sizeof(key), val,
		    sizeof(val));

		if (got != cases[i].want)
			fail_msg("\"%s\": got %d want %d", cases[i].in, got,
			    cases[i].want);
	}
	{
		char longval[200], key[32], val[64];
		const char *p = longval;

		memset(longval, 'v', sizeof(longval));
		memcpy(longval, "ENVID=", 6);
		longval[6 + 64] = '\0';	/* 64 characters: no room for NUL */
		assert_int_equal(addr_param_next(&p, key, sizeof(key), val,
		    sizeof(val)), -1);
		longval[6 + 63] = '\0';
		p = longval;
		assert_int_equal(addr_param_next(&p, key, sizeof(key), val,
		    sizeof(val)), 1);
		assert_int_equal(strlen(val), 63);
	}
}

/* smtp_base64_decode: valid input with and without padding; bad length,
 * bad characters, padding in the middle; output bound. */
static void
test_base64_decode(void **state)
{
	static const struct {
		const char *in;
		int want;
		const char *out;
		size_t outlen;
	} cases[] = {
		{ "", 0, "", 0 },
		{ "YWJj", 0, "abc", 3 },		/* no padding needed */
		{ "YWI=", 0, "ab", 2 },
		{ "YQ==", 0, "a", 1 },
		{ "AGFsaWNlAHNlY3JldA==", 0, "\0alice\0secret", 13 },
		{ "VXNlcm5hbWU6", 0, "Username:", 9 },
		{ "YWJjZA==", 0, "abcd", 4 },
		{ "YWI", -1, NULL, 0 },			/* bad length */
		{ "YQ", -1, NULL, 0 },
		{ "YWJjZ", -1, NULL, 0 },
		{ "YW!j", -1, NULL, 0 },		/* bad characters */
		{ "YW j", -1, NULL, 0 },
		{ "YWJj\r\n==", -1, NULL, 0 },
		{ "YW-_", -1, NULL, 0 },		/* base64url refused */
		{ "YQ==YWJj", -1, NULL, 0 },		/* padding in the middle */
		{ "YW=j", -1, NULL, 0 },
		{ "Y===", -1, NULL, 0 },
		{ "====", -1, NULL, 0 },
		{ "YWI=YWI=", -1, NULL, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char out[64];
		size_t outlen = 999;
		int got = smtp_base64_decode(cases[i].in, strlen(cases[i].in),
		    out, sizeof(out), &outlen);

		if (got != cases[i].want)
			fail_msg("\"%s\": got %d want %d", cases[i].in, got,
			    cases[i].want);
		if (got != 0)
			continue;
		if (outlen != cases[i].outlen)
			fail_msg("\"%s\": length got %zu want %zu", cases[i].in,
			    outlen, cases[i].outlen);
		assert_memory_equal(out, cases[i].out, outlen);
	}
	/* Output bound: "abc" needs 3 bytes. */
	{
		unsigned char out[3];
		size_t outlen = 0;

		assert_int_equal(smtp_base64_decode("YWJj", 4, out, 3, &outlen),
		    0);
		assert_int_equal(outlen, 3);
		assert_int_equal(smtp_base64_decode("YWJj", 4, out, 2, &outlen),
		    -1);
		assert_int_equal(smtp_base64_decode("YWI=", 4, out, 2, &outlen),
		    0);
		assert_int_equal(outlen, 2);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cmd_valid),
		cmocka_unit_test(test_parse_cmd_invalid),
		cmocka_unit_test(test_parse_cmd_local_part_64_65),
		cmocka_unit_test(test_parse_cmd_domain_255_256),
		cmocka_unit_test(test_param_next_size_body),
		cmocka_unit_test(test_param_next_invalid),
		cmocka_unit_test(test_base64_decode),
	};

	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
