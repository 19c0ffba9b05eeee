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
 * The state machine (daemon/smtp_client_fsm.c) is driven from reply byte
 * strings without sockets: EHLO keywords, HELO fallback, the STARTTLS
 * policy (offered, not offered, refused, injection after the 220),
 * pipelined and lock-step MAIL/RCPT/DATA, partial recipient failure, 4xx
 * and 5xx at each step, 421, lost connection at each phase, SIZE and
 * BODY=8BITMIME, replies split across reads, overlong, too long and
 * malformed replies.  Real sockets and TLS are exercised by the
 * integration tests.
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
#include "daemon/smtp_client_fsm.h"

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

/* ------------------------------------------------------ state machine */

#define PEER "mx.test[192.0.2.1]:25"

/* The output so far as a string (static), and empties it. */
static const char *
take(struct smtpc *c)
{
	static char s[4096];
	struct buf *out = smtpc_output(c);
	size_t n = buf_unread(out);

	assert_true(n < sizeof(s));
	if (n > 0)
		memcpy(s, buf_data(out), n);
	s[n] = '\0';
	buf_reset(out);
	return s;
}

static void
feed_str(struct smtpc *c, const char *s)
{
	smtpc_feed(c, s, strlen(s));
}

/* A session through greeting and EHLO with the given keyword lines. */
static struct smtpc *
open_with(enum relay_tls mode, const char *ehlo_reply)
{
	struct smtpc *c = smtpc_new("client.test", PEER, mode, 0);

	assert_int_equal(smtpc_req(c), SMTPC_REQ_READ);
	feed_str(c, "220 mx.test ESMTP\r\n");
	assert_string_equal(take(c), "EHLO client.test\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_EHLO);
	feed_str(c, ehlo_reply);
	return c;
}

static struct smtpc *
ready(const char *ehlo_reply)
{
	struct smtpc *c = open_with(RELAY_TLS_NONE, ehlo_reply);

	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_int_equal(smtpc_req(c), SMTPC_REQ_NONE);
	assert_string_equal(take(c), "");
	return c;
}

#define EHLO_PIPE "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n" \
    "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define EHLO_PLAIN "250-mx.test\r\n250 SIZE\r\n"

static void
test_fsm_open_ehlo(void **state)
{
	struct smtpc *c;

	(void)state;
	c = ready(EHLO_PIPE);
	assert_int_equal(smtpc_ext(c), SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE |
	    SMTPC_EXT_8BITMIME | SMTPC_EXT_ENHANCED);
	assert_int_equal(smtpc_size_max(c), 1000);
	assert_int_equal(smtpc_nreplies(c), 2);
	smtpc_quit(c);
	assert_string_equal(take(c), "QUIT\r\n");
	feed_str(c, "221 bye\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_DONE);
	smtpc_free(c);
}

/* Every reply split across reads, one byte at a time. */
static void
test_fsm_split_reads(void **state)
{
	static const char in[] = "220 mx.test ESMTP\r\n";
	static const char ehlo[] = "250-mx.test\r\n250-PIPE"
	    "LINING\r\n250 STARTTLS\r\n";
	struct smtpc *c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	size_t i;

	(void)state;
	for (i = 0; i + 1 < sizeof(in); i++) {
		assert_int_equal(smtpc_state(c), SMTPC_GREETING);
		smtpc_feed(c, in + i, 1);
	}
	assert_string_equal(take(c), "EHLO client.test\r\n");
	for (i = 0; i + 1 < sizeof(ehlo); i++) {
		assert_int_equal(smtpc_state(c), SMTPC_EHLO);
		smtpc_feed(c, ehlo + i, 1);
	}
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_int_equal(smtpc_ext(c), SMTPC_EXT_PIPELINING |
	    SMTPC_EXT_STARTTLS);
	smtpc_free(c);
}

static void
test_fsm_helo_fallback(void **state)
{
	struct smtpc *c;

	(void)state;
	c = open_with(RELAY_TLS_OPPORTUNISTIC, "502 5.5.1 no EHLO here\r\n");
	assert_string_equal(take(c), "HELO client.test\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_HELO);
	feed_str(c, "250 hello\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_int_equal(smtpc_ext(c), 0);
	smtpc_free(c);

	/* HELO refused too: the open fails with the server's reply. */
	c = open_with(RELAY_TLS_NONE, "500 what\r\n");
	(void)take(c);
	feed_str(c, "550 5.7.1 go away\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 550);
	assert_string_equal(smtpc_fail(c)->text, PEER " refused HELO: 550 "
	    "go away");
	smtpc_free(c);

	/* EHLO 4xx: no HELO. */
	c = open_with(RELAY_TLS_NONE, "451 4.3.0 busy\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 451);
	assert_string_equal(smtpc_fail(c)->text, PEER " refused EHLO: 451 "
	    "busy");
	assert_false(smtpc_broken(c));
	smtpc_quit(c);
	assert_string_equal(take(c), "QUIT\r\n");
	smtpc_free(c);
}

static void
test_fsm_greeting(void **state)
{
	struct smtpc *c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);

	(void)state;
	feed_str(c, "554 5.7.1 no mail from you\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 554);
	assert_string_equal(smtpc_fail(c)->ecode, "5.7.1");
	assert_string_equal(smtpc_fail(c)->text, PEER " greeted us with 554 "
	    "no mail from you");
	/* RFC 5321 3.1: a 554 greeting still wants our QUIT. */
	smtpc_quit(c);
	assert_string_equal(take(c), "QUIT\r\n");
	smtpc_free(c);

	/* 421: the server is closing; no QUIT. */
	c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	feed_str(c, "421 4.3.2 shutting down\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 421);
	assert_true(smtpc_broken(c));
	smtpc_quit(c);
	assert_string_equal(take(c), "");
	assert_int_equal(smtpc_state(c), SMTPC_DONE);
	smtpc_free(c);

	/* Connection lost before the greeting. */
	c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	smtpc_io_failed(c, "connection closed by peer", 0);
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 451);
	assert_string_equal(smtpc_fail(c)->text, "lost connection with " PEER
	    " while waiting for the greeting: connection closed by peer");
	smtpc_free(c);
}

static void
test_fsm_starttls(void **state)
{
	struct smtp_client_reply fail;
	struct smtpc *c;

	(void)state;
	/* Offered: STARTTLS, handshake, EHLO again, no second STARTTLS. */
	c = open_with(RELAY_TLS_OPPORTUNISTIC, "250-mx.test\r\n"
	    "250 STARTTLS\r\n");
	assert_string_equal(take(c), "STARTTLS\r\n");
	feed_str(c, "220 2.0.0 go ahead\r\n");
	assert_int_equal(smtpc_req(c), SMTPC_REQ_TLS);
	smtpc_tls_done(c, NULL);
	assert_string_equal(take(c), "EHLO client.test\r\n");
	feed_str(c, "250-mx.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_string_equal(take(c), "");
	smtpc_free(c);

	/* Required but not offered: deferred before any envelope. */
	c = open_with(RELAY_TLS_REQUIRED, EHLO_PLAIN);
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 451);
	assert_string_equal(smtpc_fail(c)->ecode, "4.7.4");
	assert_string_equal(smtpc_fail(c)->text, "TLS required but " PEER
	    " does not offer STARTTLS");
	assert_string_equal(take(c), "");
	smtpc_free(c);

	/* Opportunistic, not offered: plain. */
	c = open_with(RELAY_TLS_OPPORTUNISTIC, EHLO_PLAIN);
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	smtpc_free(c);

	/* Required, refused with 4xx and with 5xx: deferred. */
	c = open_with(RELAY_TLS_REQUIRED, "250-mx.test\r\n250 STARTTLS\r\n");
	assert_string_equal(take(c), "STARTTLS\r\n");
	feed_str(c, "454 4.7.0 TLS not available\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 451);
	assert_string_equal(smtpc_fail(c)->text, "TLS required but " PEER
	    " refused STARTTLS: 454 TLS not available");
	smtpc_free(c);
	c = open_with(RELAY_TLS_REQUIRED, "250-mx.test\r\n250 STARTTLS\r\n");
	(void)take(c);
	feed_str(c, "502 5.5.1 no\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code / 100, 4);
	smtpc_free(c);

	/* Opportunistic, refused: continue in clear. */
	c = open_with(RELAY_TLS_OPPORTUNISTIC, "250-mx.test\r\n250 STARTTLS\r\n");
	(void)take(c);
	feed_str(c, "454 4.7.0 TLS not available\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	smtpc_free(c);

	/* Bytes after the 220 (injection): session closed. */
	c = open_with(RELAY_TLS_OPPORTUNISTIC, "250-mx.test\r\n250 STARTTLS\r\n");
	(void)take(c);
	feed_str(c, "220 go ahead\r\n250 injected\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_string_equal(smtpc_fail(c)->ecode, "4.7.5");
	assert_true(smtpc_broken(c));
	smtpc_free(c);

	/* Handshake failed: the driver's reply, broken, no QUIT. */
	c = open_with(RELAY_TLS_REQUIRED, "250-mx.test\r\n250 STARTTLS\r\n");
	(void)take(c);
	feed_str(c, "220 go ahead\r\n");
	memset(&fail, 0, sizeof(fail));
	fail.code = 454;
	strcpy(fail.text, "handshake failed");
	smtpc_tls_done(c, &fail);
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_fail(c)->code, 454);
	smtpc_quit(c);
	assert_string_equal(take(c), "");
	smtpc_free(c);

	/* NONE never uses it, even when offered. */
	c = open_with(RELAY_TLS_NONE, "250-mx.test\r\n250 STARTTLS\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_string_equal(take(c), "");
	smtpc_free(c);
}

static void
test_fsm_bad_replies(void **state)
{
	char big[SMTP_REPLY_LINE_MAX + 100];
	struct smtpc *c;
	int i;

	(void)state;
	/* Overlong line (no LF yet). */
	c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	memset(big, 'a', sizeof(big));
	memcpy(big, "220 ", 4);
	smtpc_feed(c, big, sizeof(big));
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_non_null(strstr(smtpc_fail(c)->text, "reply line longer "
	    "than 8192 bytes"));
	assert_true(smtpc_broken(c));
	smtpc_free(c);

	/* Too many lines. */
	c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	feed_str(c, "220 hi\r\n");
	(void)take(c);
	for (i = 0; i < 100 && smtpc_state(c) == SMTPC_EHLO; i++)
		feed_str(c, "250-KEYWORD\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_string_equal(smtpc_fail(c)->text, "lost connection with " PEER
	    " after EHLO: reply longer than 100 lines");
	smtpc_free(c);

	/* Malformed code. */
	c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	feed_str(c, "2x0 hello\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_string_equal(smtpc_fail(c)->text, "lost connection with " PEER
	    " while waiting for the greeting: malformed reply line "
	    "\"2x0 hello\"");
	smtpc_free(c);

	/* Code changing between lines. */
	c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	feed_str(c, "220-hello\r\n250 there\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	smtpc_free(c);

	/* A bare LF ends a line too. */
	c = smtpc_new("client.test", PEER, RELAY_TLS_NONE, 0);
	feed_str(c, "220 hello\n");
	assert_int_equal(smtpc_state(c), SMTPC_EHLO);
	smtpc_free(c);
}

static const uint8_t body[] = "Subject: x\r\n\r\n.dot\r\nend\r\n";

static void
test_fsm_pipelined(void **state)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test",
	    "c@x.test" };
	struct smtp_client_reply res[3];
	struct smtpc *c = ready(EHLO_PIPE);

	(void)state;
	smtpc_begin(c, "s@y.test", rcpts, 3, body, sizeof(body) - 1, res);
	/* MAIL, every RCPT and DATA in one write. */
	assert_string_equal(take(c), "MAIL FROM:<s@y.test> SIZE=25\r\n"
	    "RCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
	    "RCPT TO:<c@x.test>\r\nDATA\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_MAIL);
	feed_str(c, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such "
	    "user\r\n25");
	assert_int_equal(smtpc_state(c), SMTPC_RCPT);
	feed_str(c, "0 2.1.5 ok\r\n354 go\r\n");
	assert_int_equal(smtpc_req(c), SMTPC_REQ_BODY);
	smtpc_body_sent(c);
	assert_int_equal(smtpc_state(c), SMTPC_DOT);
	feed_str(c, "250 2.0.0 queued as X\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_int_equal(smtpc_tx_result(c), 0);
	assert_int_equal(res[0].code, 250);
	assert_string_equal(res[0].text, "queued as X");
	assert_int_equal(res[1].code, 550);
	assert_string_equal(res[1].ecode, "5.1.1");
	assert_string_equal(res[1].text, "no such user");
	assert_int_equal(res[2].code, 250);
	assert_string_equal(take(c), "");

	/* The session serves another transaction. */
	smtpc_begin(c, "", rcpts, 1, body, sizeof(body) - 1, res);
	assert_string_equal(take(c), "MAIL FROM:<> SIZE=25\r\n"
	    "RCPT TO:<a@x.test>\r\nDATA\r\n");
	smtpc_free(c);
}

static void
test_fsm_lockstep(void **state)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct smtp_client_reply res[2];
	struct smtpc *c = ready(EHLO_PLAIN);

	(void)state;
	smtpc_begin(c, "s@y.test", rcpts, 2, body, sizeof(body) - 1, res);
	assert_string_equal(take(c), "MAIL FROM:<s@y.test> SIZE=25\r\n");
	feed_str(c, "250 ok\r\n");
	assert_string_equal(take(c), "RCPT TO:<a@x.test>\r\n");
	feed_str(c, "451 4.2.0 try later\r\n");
	assert_string_equal(take(c), "RCPT TO:<b@x.test>\r\n");
	feed_str(c, "250 ok\r\n");
	assert_string_equal(take(c), "DATA\r\n");
	feed_str(c, "354 go\r\n");
	assert_int_equal(smtpc_req(c), SMTPC_REQ_BODY);
	smtpc_body_sent(c);
	feed_str(c, "250 done\r\n");
	assert_int_equal(smtpc_tx_result(c), 0);
	assert_int_equal(res[0].code, 451);
	assert_int_equal(res[1].code, 250);
	smtpc_free(c);
}

/* 4xx/5xx to MAIL: every recipient gets it; no RCPT, no RSET. */
static void
test_fsm_mail_refused(void **state)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct smtp_client_reply res[2];
	struct smtpc *c = ready(EHLO_PLAIN);

	(void)state;
	smtpc_begin(c, "s@y.test", rcpts, 2, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "452 4.3.1 out of space\r\n");
	assert_string_equal(take(c), "");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_int_equal(res[0].code, 452);
	assert_int_equal(res[1].code, 452);
	smtpc_free(c);

	/* Pipelined: the replies to RCPT and DATA are read, the MAIL
	 * refusal decides every recipient. */
	c = ready(EHLO_PIPE);
	smtpc_begin(c, "s@y.test", rcpts, 2, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "550 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n"
	    "503 5.5.1 no MAIL\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_DATA);
	feed_str(c, "503 5.5.1 no valid recipients\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_string_equal(take(c), "");
	assert_int_equal(res[0].code, 550);
	assert_string_equal(res[1].text, "sender refused");
	smtpc_free(c);
}

/* Every RCPT refused: no DATA (lock-step), RSET; pipelined with a 354
 * anyway: an empty message ends it, then RSET. */
static void
test_fsm_all_rcpts_refused(void **state)
{
	static const char *const rcpts[] = { "a@x.test" };
	struct smtp_client_reply res[1];
	struct smtpc *c = ready(EHLO_PLAIN);

	(void)state;
	smtpc_begin(c, "s@y.test", rcpts, 1, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "250 ok\r\n");
	(void)take(c);
	feed_str(c, "550 5.1.1 unknown\r\n");
	assert_string_equal(take(c), "RSET\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_RSET);
	feed_str(c, "250 reset\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_int_equal(smtpc_tx_result(c), 0);
	assert_int_equal(res[0].code, 550);
	smtpc_free(c);

	c = ready(EHLO_PIPE);
	smtpc_begin(c, "s@y.test", rcpts, 1, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n");
	assert_string_equal(take(c), ".\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_DOT);
	feed_str(c, "554 no message\r\n");
	assert_string_equal(take(c), "RSET\r\n");
	feed_str(c, "500 what\r\n");
	/* RSET refused: the session is not trusted any more. */
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_tx_result(c), -1);
	assert_int_equal(res[0].code, 550);
	smtpc_free(c);
}

/* DATA refused and final reply refused: the accepted recipients get
 * the reply; an unexpected code becomes 451. */
static void
test_fsm_data_and_dot_refused(void **state)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct smtp_client_reply res[2];
	struct smtpc *c = ready(EHLO_PIPE);

	(void)state;
	smtpc_begin(c, "s@y.test", rcpts, 2, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "250 ok\r\n250 ok\r\n550 no\r\n451 4.3.0 DATA later\r\n");
	assert_string_equal(take(c), "RSET\r\n");
	feed_str(c, "250 ok\r\n");
	assert_int_equal(res[0].code, 451);
	assert_string_equal(res[0].text, "DATA later");
	assert_int_equal(res[1].code, 550);

	smtpc_begin(c, "s@y.test", rcpts, 2, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	smtpc_body_sent(c);
	feed_str(c, "552 5.3.4 too big\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_READY);
	assert_int_equal(res[0].code, 552);
	assert_int_equal(res[1].code, 552);
	assert_string_equal(take(c), "");

	smtpc_begin(c, "s@y.test", rcpts, 1, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "250 ok\r\n250 ok\r\n354 go\r\n");
	smtpc_body_sent(c);
	feed_str(c, "354 again?\r\n");
	assert_int_equal(res[0].code, 451);
	assert_string_equal(res[0].ecode, "4.5.0");
	assert_string_equal(res[0].text, PEER " gave an unexpected reply to "
	    "end of data: 354 again?");
	smtpc_free(c);
}

/* 421 in the middle: undecided recipients get it, the session is
 * broken, no RSET and no QUIT. */
static void
test_fsm_421(void **state)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct smtp_client_reply res[2];
	struct smtpc *c = ready(EHLO_PLAIN);

	(void)state;
	smtpc_begin(c, "s@y.test", rcpts, 2, body, sizeof(body) - 1, res);
	(void)take(c);
	feed_str(c, "250 ok\r\n");
	(void)take(c);
	feed_str(c, "550 5.1.1 unknown\r\n");
	(void)take(c);
	feed_str(c, "421 4.4.2 timeout\r\n");
	assert_int_equal(smtpc_state(c), SMTPC_FAILED);
	assert_int_equal(smtpc_tx_result(c), -1);
	assert_int_equal(res[0].code, 550);
	assert_int_equal(res[1].code, 421);
	smtpc_quit(c);
	assert_string_equal(take(c), "");
	/* And a broken session refuses the next transaction. */
	smtpc_begin(c, "s@y.test", rcpts, 1, body, sizeof(body) - 1, res);
	assert_int_equal(smtpc_tx_result(c), -1);
	assert_string_equal(res[0].text, PEER ": session not usable");
	smtpc_free(c);
}

/* Connection lost at each phase of the transaction. */
static void
test_fsm_lost(void **state)
{
	static const char *const rcpts[] = { "a@x.test" };
	static const struct {
		const char *replies;	/* before the failure */
		int body_sent;
		int writing;
		const char *text;
	} cases[] = {
		{ "", 0, 1, "lost connection with " PEER " while sending MAIL "
		    "FROM: boom" },
		{ "250 ok\r\n", 0, 0, "lost connection with " PEER " while "
		    "sending RCPT TO: boom" },
		{ "250 ok\r\n250 ok\r\n", 0, 0, "lost connection with " PEER
		    " while sending DATA: boom" },
		{ "250 ok\r\n250 ok\r\n354 go\r\n", 0, 1, "lost connection "
		    "with " PEER " while sending message body: boom" },
		{ "250 ok\r\n250 ok\r\n354 go\r\n", 1, 0, "lost connection "
		    "with " PEER " while sending end of data: boom (the "
		    "message may be delivered more than once)" },
	};
	struct smtp_client_reply res[1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc *c = ready(EHLO_PIPE);

		smtpc_begin(c, "s@y.test", rcpts, 1, body, sizeof(body) - 1,
		    res);
		feed_str(c, cases[i].replies);
		if (cases[i].body_sent)
			smtpc_body_sent(c);
		smtpc_io_failed(c, "boom", cases[i].writing);
		if (strcmp(res[0].text, cases[i].text) != 0)
			print_error("case %zu: got \"%s\"\n", i, res[0].text);
		assert_string_equal(res[0].text, cases[i].text);
		assert_int_equal(res[0].code, 451);
		assert_int_equal(smtpc_state(c), SMTPC_FAILED);
		assert_int_equal(smtpc_tx_result(c), -1);
		smtpc_free(c);
	}
}

/* SIZE refusal before MAIL; BODY=8BITMIME; bad paths never sent. */
static void
test_fsm_size_8bit_paths(void **state)
{
	static const uint8_t eight[] = "Subject: caf\xc3\xa9\r\n\r\nx\r\n";
	static const char *const rcpts[] = { "a@x.test", "bad>@x.test" };
	uint8_t large[1001];
	struct smtp_client_reply res[2];
	struct smtpc *c = ready(EHLO_PIPE);

	(void)state;
	memset(large, 'a', sizeof(large));
	smtpc_begin(c, "s@y.test", rcpts, 1, large, sizeof(large), res);
	assert_string_equal(take(c), "");
	assert_int_equal(res[0].code, 552);
	assert_string_equal(res[0].ecode, "5.3.4");
	assert_string_equal(res[0].text, "message size 1001 exceeds the size "
	    "limit 1000 of " PEER);
	assert_int_equal(smtpc_state(c), SMTPC_READY);

	smtpc_begin(c, "s@y.test", rcpts, 2, eight, sizeof(eight) - 1, res);
	assert_string_equal(take(c), "MAIL FROM:<s@y.test> SIZE=21 "
	    "BODY=8BITMIME\r\nRCPT TO:<a@x.test>\r\nDATA\r\n");
	assert_int_equal(res[1].code, 553);
	assert_string_equal(res[1].ecode, "5.1.3");
	feed_str(c, "250 ok\r\n250 ok\r\n354 go\r\n");
	smtpc_body_sent(c);
	feed_str(c, "250 ok\r\n");
	assert_int_equal(res[0].code, 250);
	assert_int_equal(res[1].code, 553);

	smtpc_begin(c, "s\r\n@y.test", rcpts, 1, body, sizeof(body) - 1, res);
	assert_string_equal(take(c), "");
	assert_int_equal(res[0].code, 553);
	assert_string_equal(res[0].ecode, "5.1.7");
	smtpc_free(c);
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
		cmocka_unit_test(test_fsm_open_ehlo),
		cmocka_unit_test(test_fsm_split_reads),
		cmocka_unit_test(test_fsm_helo_fallback),
		cmocka_unit_test(test_fsm_greeting),
		cmocka_unit_test(test_fsm_starttls),
		cmocka_unit_test(test_fsm_bad_replies),
		cmocka_unit_test(test_fsm_pipelined),
		cmocka_unit_test(test_fsm_lockstep),
		cmocka_unit_test(test_fsm_mail_refused),
		cmocka_unit_test(test_fsm_all_rcpts_refused),
		cmocka_unit_test(test_fsm_data_and_dot_refused),
		cmocka_unit_test(test_fsm_421),
		cmocka_unit_test(test_fsm_lost),
		cmocka_unit_test(test_fsm_size_8bit_paths),
	};

	return cmocka_run_group_tests_name("smtp_client", tests, NULL, NULL);
}
