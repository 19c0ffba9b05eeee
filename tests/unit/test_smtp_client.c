/*
 * test_smtp_client.c - unit tests for the reply parser of the SMTP client
 * (daemon/smtp_client.c, smtp_client_parse_line).
 *
 * What is asserted: single-line and multi-line replies (RFC 5321 4.2)
 * give the right code, completion status and " / "-joined text; RFC 2034
 * enhanced codes are taken from the first line, stripped from every line
 * that repeats them, and only accepted when well formed and of the reply's
 * class; malformed lines (too short, non-digit or out-of-range codes, a
 * separator other than SP or "-", a code that changes between lines) are
 * refused with -1; text is made printable ('?' for control and 8-bit
 * bytes, including NUL) and truncated to the struct with a "..." marker,
 * however long the input and however many lines follow.
 *
 * The network side (connect, TLS, pipelining) is exercised against real
 * servers by the integration tests, not here.
 *
 * Failure: a test fails via cmocka asserts; table cases print got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/smtp_client.h"

/* Feeds a NULL-terminated array of lines; returns the
 * result of the last call. */
static int
feed(struct smtp_client_reply *r, const char *const *lines)
{
	int got = -2;

	memset(r, 0, sizeof(*r));
	for (; *lines != NULL; lines++) {
		got = smtp_client_parse_line(*lines, strlen(*lines), r);
		if (got != 0)
			break;
	}
	return got;
}

static void
test_single_line(void **state)
{
	static const struct {
		const char *line;
		int want, code;
		const char *ecode, *text;
	} cases[] = {
		{ "250 OK", 1, 250, "", "OK" },
		{ "220 mx.test ESMTP", 1, 220, "", "mx.test ESMTP" },
		{ "250", 1, 250, "", "" },
		{ "250 ", 1, 250, "", "" },
		{ "354 End data with <CR><LF>.<CR><LF>", 1, 354, "",
		    "End data with <CR><LF>.<CR><LF>" },
		{ "550 5.1.1 No such user", 1, 550, "5.1.1", "No such user" },
		{ "451 4.3.0 Try later", 1, 451, "4.3.0", "Try later" },
		{ "250 2.1.5", 1, 250, "2.1.5", "" },
		{ "250 2.123.456 x", 1, 250, "2.123.456", "x" },
		/* class mismatch: not an enhanced code */
		{ "550 4.1.1 odd", 1, 550, "", "4.1.1 odd" },
		/* 3xx replies have no enhanced codes */
		{ "354 3.0.0 go", 1, 354, "", "3.0.0 go" },
		/* malformed enhanced codes stay in the text */
		{ "550 5.1 short", 1, 550, "", "5.1 short" },
		{ "550 5.1234.1 long", 1, 550, "", "5.1234.1 long" },
		{ "550 5.1.1x glued", 1, 550, "", "5.1.1x glued" },
		{ "550 5..1 empty", 1, 550, "", "5..1 empty" },
		{ "250-more follows", 0, 250, "", "more follows" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_client_reply r;
		int got;

		memset(&r, 0, sizeof(r));
		got = smtp_client_parse_line(cases[i].line,
		    strlen(cases[i].line), &r);
		if (got != cases[i].want || r.code != cases[i].code ||
		    strcmp(r.ecode, cases[i].ecode) != 0 ||
		    strcmp(r.text, cases[i].text) != 0)
			fail_msg("\"%s\": got %d %d [%s] [%s], want %d %d "
			    "[%s] [%s]", cases[i].line, got, r.code, r.ecode,
			    r.text, cases[i].want, cases[i].code,
			    cases[i].ecode, cases[i].text);
	}
}

static void
test_multi_line(void **state)
{
	static const char *const ehlo[] = {
		"250-mx.test Hello [192.0.2.1]", "250-PIPELINING",
		"250-SIZE 10240000", "250-ENHANCEDSTATUSCODES",
		"250 8BITMIME", NULL,
	};
	static const char *const enh[] = {
		"550-5.7.1 Policy says no.", "550-5.7.1 See the web page",
		"550 5.7.1 for details", NULL,
	};
	static const char *const mixed[] = {
		"451-4.3.0 first", "451-second without code", "451 4.3.0",
		NULL,
	};
	static const char *const empty[] = {
		"250-", "250-", "250 last", NULL,
	};
	struct smtp_client_reply r;

	(void)state;
	assert_int_equal(feed(&r, ehlo), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.ecode, "");
	assert_string_equal(r.text, "mx.test Hello [192.0.2.1] / PIPELINING "
	    "/ SIZE 10240000 / ENHANCEDSTATUSCODES / 8BITMIME");

	assert_int_equal(feed(&r, enh), 1);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.ecode, "5.7.1");
	assert_string_equal(r.text, "Policy says no. / See the web page / "
	    "for details");

	assert_int_equal(feed(&r, mixed), 1);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.ecode, "4.3.0");
	assert_string_equal(r.text, "first / second without code");

	assert_int_equal(feed(&r, empty), 1);
	assert_string_equal(r.text, "last");

	/* Intermediate results: 0 until the last line. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line("250-a", 5, &r), 0);
	assert_int_equal(smtp_client_parse_line("250-b", 5, &r), 0);
	assert_int_equal(smtp_client_parse_line("250 c", 5, &r), 1);
	assert_string_equal(r.text, "a / b / c");
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"", "2", "25", "25 ok", "2x0 ok", "abc", "-250 x",
		"250_ok", "250\tok", "250:ok", "2500 ok",
		"150 preliminary", "650 out of range", "260 second digit",
		"099 no", " 250 ok",
	};
	struct smtp_client_reply r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got;

		memset(&r, 0, sizeof(r));
		got = smtp_client_parse_line(bad[i], strlen(bad[i]), &r);
		if (got != -1)
			fail_msg("\"%s\": got %d want -1", bad[i], got);
	}
	/* Length is honoured: "250 ok" cut to 2 bytes is malformed. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line("250 ok", 2, &r), -1);
	/* A code that changes between lines (RFC 5321 4.2.1). */
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line("250-first", 9, &r), 0);
	assert_int_equal(smtp_client_parse_line("251 second", 10, &r), -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line("550-5.1.1 a", 11, &r), 0);
	assert_int_equal(smtp_client_parse_line("450 4.1.1 b", 11, &r), -1);
	/* A bad continuation line after good ones. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line("250-first", 9, &r), 0);
	assert_int_equal(smtp_client_parse_line("250", 2, &r), -1);
}

static void
test_printable(void **state)
{
	static const char line[] = "550 5.0.0 a\x01" "b\x7f" "c\xc3\xa9" "d\0e";
	struct smtp_client_reply r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line(line, sizeof(line) - 1, &r),
	    1);
	assert_string_equal(r.ecode, "5.0.0");
	assert_string_equal(r.text, "a?b?c??d?e");
}

static void
test_overlong(void **state)
{
	char line[9000];
	struct smtp_client_reply r;
	size_t i, n;

	(void)state;
	/* One 8 KiB line. */
	memcpy(line, "250 ", 4);
	for (i = 4; i < sizeof(line); i++)
		line[i] = (char)('a' + i % 26);
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line(line, sizeof(line), &r), 1);
	n = strlen(r.text);
	assert_int_equal(n, sizeof(r.text) - 1);
	assert_memory_equal(r.text + n - 3, "...", 3);
	assert_memory_equal(r.text, line + 4, n - 3);

	/* Many lines: the text fills up once, then stays as it is. */
	memset(&r, 0, sizeof(r));
	memcpy(line, "250-", 4);
	for (i = 0; i < 100; i++)
		assert_int_equal(smtp_client_parse_line(line, 60, &r), 0);
	assert_int_equal(strlen(r.text), sizeof(r.text) - 1);
	assert_memory_equal(r.text + sizeof(r.text) - 4, "...", 3);
	line[3] = ' ';
	assert_int_equal(smtp_client_parse_line(line, 60, &r), 1);
	assert_int_equal(strlen(r.text), sizeof(r.text) - 1);
	assert_memory_equal(r.text + sizeof(r.text) - 4, "...", 3);

	/* Exactly full, nothing more: no marker. */
	memset(&r, 0, sizeof(r));
	memcpy(line, "250 ", 4);
	assert_int_equal(smtp_client_parse_line(line, 4 + sizeof(r.text) - 1,
	    &r), 1);
	assert_int_equal(strlen(r.text), sizeof(r.text) - 1);
	assert_memory_equal(r.text, line + 4, sizeof(r.text) - 1);

	/* An overlong would-be enhanced code is not copied into ecode. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_client_parse_line("550 5.1111111111.1 x", 20,
	    &r), 1);
	assert_string_equal(r.ecode, "");
}

/* The TLS accessors and close accept NULL. */
static void
test_null_client(void **state)
{
	(void)state;
	assert_string_equal(smtp_client_tls_version(NULL), "");
	assert_string_equal(smtp_client_tls_cipher(NULL), "");
	assert_int_equal(smtp_client_tls_verified(NULL), 0);
	smtp_client_close(NULL);
}

/* Parameter errors fail before any connection, with a 4xx. */
static void
test_open_bad_params(void **state)
{
	struct smtp_client_params p;
	struct smtp_client_reply fail;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.helo_name = "client.test";
	p.host = "mx.test";
	p.addr = "not-an-ip";
	p.port = 25;
	assert_null(smtp_client_open(&p, &fail));
	assert_int_equal(fail.code / 100, 4);
	assert_non_null(strstr(fail.text, "mx.test[not-an-ip]:25"));

	p.addr = "192.0.2.1";
	p.port = 0;
	assert_null(smtp_client_open(&p, &fail));
	assert_int_equal(fail.code / 100, 4);

	p.port = 25;
	p.helo_name = "bad helo";
	assert_null(smtp_client_open(&p, &fail));
	assert_int_equal(fail.code / 100, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_null_client),
		cmocka_unit_test(test_open_bad_params),
	};

	return cmocka_run_group_tests_name("smtp_client", tests, NULL, NULL);
}
