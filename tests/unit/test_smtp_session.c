/*
 * test_smtp_session.c - whole SMTP dialogues through the session state
 * machine (daemon/smtp_session.c, smtp_cmd.c, smtp_auth.c, smtp_data.c).
 *
 * Every test builds a session with the same parameters (hostname
 * "mx.test", listener "smtp", STARTTLS offered, no AUTH on plaintext,
 * PLAIN and LOGIN under TLS, max_size 10000, max_rcpts 3, max_errors 5,
 * max_auth_failures 3) and fake hooks: rcpt_check accepts alice and bob
 * at local.test, answers 550 5.1.1 for other local.test users and 554
 * 5.7.1 for other domains unless the session is authenticated; new_id
 * returns a counter.  Bytes go in through smtp_session_feed(); after each
 * step the test compares the exact reply text in s->out, consumes it with
 * buf_consume, and checks s->req and the state where it matters.  Requests
 * (STARTTLS, AUTH, STORE) are answered by calling the resume functions the
 * I/O layer would call.  No sockets, no threads, no database.
 *
 * Failure: a test fails via cmocka asserts; reply mismatches print the
 * got/want text with CR and LF made visible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "daemon/smtp_internal.h"

#define CLIENT "192.0.2.1"
#define ID0 0x18C2F3A4B5C60001ULL
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define R_GREETING "220 mx.test ESMTP postern\r\n"
#define R_EHLO_PLAIN "250-mx.test Hello [" CLIENT "]\r\n" \
	"250-PIPELINING\r\n250-SIZE 10000\r\n250-STARTTLS\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
#define R_EHLO_TLS "250-mx.test Hello [" CLIENT "]\r\n" \
	"250-PIPELINING\r\n250-SIZE 10000\r\n250-AUTH PLAIN LOGIN\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
#define R_OK "250 2.0.0 Ok\r\n"
#define R_MAIL "250 2.1.0 Ok\r\n"
#define R_RCPT "250 2.1.5 Ok\r\n"
#define R_DATA "354 End data with <CR><LF>.<CR><LF>\r\n"
#define R_NEED_HELO "503 5.5.1 Error: send HELO/EHLO first\r\n"
#define R_TOO_LONG "500 5.5.2 Line too long\r\n"
#define R_BARE_LF "550 5.6.0 Message contains bare LF " \
	"(lines must end with CRLF, RFC 5321 2.3.8)\r\n"
#define R_AUTH_OK "235 2.7.0 Authentication successful\r\n"
#define R_AUTH_BAD "535 5.7.8 Authentication credentials invalid\r\n"

#define MAIL_RCPT "MAIL FROM:<sender@remote.test>\r\n" \
	"RCPT TO:<alice@local.test>\r\n"

struct fake {
	uint64_t next_id;
	unsigned rcpt_calls;
	unsigned stage_calls[SMTP_STAGE_DATA + 1];
	int refuse_stage;	/* stage + 1 whose check refuses; 0 = none */
	int open_relay;		/* accept every recipient */
	size_t data_nrcpts;	/* recipients the DATA check saw */
	const char *data_header;	/* added by the DATA check */
	unsigned max_rcpts;	/* session_new_ex: 0 = 3 */
	size_t team_size;	/* targets of team@local.test (at most 4) */
};

static struct fake fake;

static enum smtp_result
fake_check(void *arg, enum smtp_stage stage, const struct smtp_facts *facts,
    struct smtp_verdict *v)
{
	struct fake *f = arg;
	struct smtp_reply *r = &v->reply;
	const struct addr *rcpt;
	const char *at;
	size_t llen;

	f->stage_calls[stage]++;
	if (stage == SMTP_STAGE_DATA) {
		f->data_nrcpts = facts->nrcpts;
		if (f->data_header != NULL && v->headers != NULL)
			buf_printf(v->headers, "%s\r\n", f->data_header);
	}
	if (stage == SMTP_STAGE_RCPT && f->open_relay) {
		/* A route for every recipient, as rules would set it. */
		snprintf(v->route.host, sizeof(v->route.host), "relay.test");
		v->route.port = 2525;
		v->route.tls = RELAY_TLS_REQUIRED;
		v->route.versions = TLS_VERSIONS_13;
	}
	if (stage != SMTP_STAGE_RCPT)
		return f->refuse_stage == (int)stage + 1 ? SMTP_PERMFAIL : SMTP_OK;
	rcpt = facts->rcpt;
	at = strchr(rcpt->addr, '@');
	llen = at ? (size_t)(at - rcpt->addr) : strlen(rcpt->addr);

	f->rcpt_calls++;
	if (strcasecmp(rcpt->addr, "team@local.test") == 0) {
		/* An alias: the recipients to store, as policy expands them. */
		static const char *const t[] = { "alice@local.test",
		    "bob@local.test", "x@far.test", "y@far.test" };
		size_t i;

		v->ntargets = f->team_size;
		v->targets = calloc(v->ntargets, sizeof(*v->targets));
		assert_non_null(v->targets);
		for (i = 0; i < v->ntargets; i++)
			assert_int_equal(addr_parse_mailbox(t[i], strlen(t[i]),
			    &v->targets[i].addr), 0);
		return SMTP_OK;
	}
	if (strcmp(rcpt->domain, "local.test") == 0) {
		if ((llen == 5 && strncasecmp(rcpt->addr, "alice", 5) == 0) ||
		    (llen == 3 && strncasecmp(rcpt->addr, "bob", 3) == 0))
			return SMTP_OK;
		r->code = 550;
		snprintf(r->ecode, sizeof(r->ecode), "5.1.1");
		snprintf(r->text, sizeof(r->text), "<%s>: Recipient address "
		    "rejected: User unknown", rcpt->addr);
		return SMTP_PERMFAIL;
	}
	if (facts->auth_user[0] != '\0' || f->open_relay)
		return SMTP_OK;
	r->code = 554;
	snprintf(r->ecode, sizeof(r->ecode), "5.7.1");
	snprintf(r->text, sizeof(r->text), "<%s>: Relay access denied",
	    rcpt->addr);
	return SMTP_PERMFAIL;
}

static unsigned
fake_auth_mechs(void *arg, const struct smtp_facts *f, int tls)
{
	(void)arg;
	(void)f;
	return tls ? AUTH_MECH_PLAIN | AUTH_MECH_LOGIN : 0;
}

static uint64_t
fake_new_id(void *arg)
{
	struct fake *f = arg;

	return f->next_id++;
}

static struct smtp_session *
session_new_ex(int implicit)
{
	struct smtp_params p;
	struct smtp_hooks h;
	struct smtp_session *s;

	memset(&p, 0, sizeof(p));
	snprintf(p.hostname, sizeof(p.hostname), "mx.test");
	snprintf(p.listener, sizeof(p.listener), "smtp");
	p.implicit_tls = implicit;
	p.starttls_offer = 1;
	p.max_size = 10000;
	p.max_rcpts = fake.max_rcpts != 0 ? fake.max_rcpts : 3;
	p.max_errors = 5;
	p.max_auth_failures = 3;
	memset(&h, 0, sizeof(h));
	memset(&fake, 0, sizeof(fake));
	fake.next_id = ID0;
	h.arg = &fake;
	h.check = fake_check;
	h.auth_mechs = fake_auth_mechs;
	h.new_id = fake_new_id;
	s = smtp_session_new(&p, &h, 0x42, CLIENT, implicit);
	assert_non_null(s);
	smtp_session_start(s, NULL);
	return s;
}

/* Shows CR and LF in failure messages. */
static const char *
visible(const char *p, size_t n, char *dst, size_t dstlen)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < dstlen; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			dst[o++] = '\\';
			dst[o++] = 'r';
		} else if (c == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else if (c < 0x20 || c > 0x7e) {
			o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return dst;
}

/* Asserts that the unread output is exactly want, then consumes it. */
#define expect_out(s, want) expect_out_at((s), (want), __LINE__)
static void
expect_out_at(struct smtp_session *s, const char *want, int line)
{
	size_t n = buf_unread(&s->out), wn = strlen(want);
	const char *got = (const char *)buf_data(&s->out);

	if (n != wn || (n > 0 && memcmp(got, want, n) != 0)) {
		static char g[8192], w[8192];

		fail_msg("line %d: reply\n got: \"%s\"\nwant: \"%s\"", line,
		    visible(got ? got : "", n, g, sizeof(g)),
		    visible(want, wn, w, sizeof(w)));
	}
	buf_consume(&s->out, n);
}

static void
feed(struct smtp_session *s, const char *str)
{
	assert_int_equal(smtp_session_feed(s, str, strlen(str)), 0);
}

static void
feedn(struct smtp_session *s, const void *p, size_t n)
{
	assert_int_equal(smtp_session_feed(s, p, n), 0);
}

/* Plaintext session after greeting and EHLO, output consumed. */
static struct smtp_session *
session_ehlo(void)
{
	struct smtp_session *s = session_new_ex(0);

	expect_out(s, R_GREETING);
	feed(s, "EHLO client.example\r\n");
	expect_out(s, R_EHLO_PLAIN);
	return s;
}

/* Session after STARTTLS, TLS and a second EHLO. */
static struct smtp_session *
session_tls(void)
{
	struct smtp_session *s = session_ehlo();

	feed(s, "STARTTLS\r\n");
	expect_out(s, "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(s->req, SMTP_REQ_STARTTLS);
	smtp_session_tls_started(s, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	feed(s, "EHLO client.example\r\n");
	expect_out(s, R_EHLO_TLS);
	return s;
}

/* Session in DATA (after 354) with one recipient. */
static struct smtp_session *
session_data(void)
{
	struct smtp_session *s = session_ehlo();

	feed(s, MAIL_RCPT "DATA\r\n");
	expect_out(s, R_MAIL R_RCPT R_DATA);
	assert_int_equal(s->state, SMTP_S_DATA);
	return s;
}

/* The message of the store request the session built at the end of DATA
 * (not yet taken): its headers are exactly our Received: line (one folded
 * header: its end is the last CRLF, no CRLF followed by a non-tab before);
 * the body is the spool.  Returns a malloc'd NUL-terminated copy of the
 * body and its length. */
static char *
spool_body(struct smtp_session *s, size_t *len)
{
	struct store_request *r = s->store;
	const char *h;
	size_t n, hl, i;
	char *body;

	assert_non_null(r);
	h = (const char *)buf_data(&r->headers);
	hl = buf_unread(&r->headers);
	assert_true(strncmp(h, "Received: from client.example ([" CLIENT "])",
	    42) == 0);
	for (i = 0; i + 2 < hl; i++)
		if (h[i] == '\r' && h[i + 1] == '\n' && h[i + 2] != '\t')
			break;
	assert_int_equal(i + 2, hl);
	assert_int_equal(r->size, hl + spool_size(&r->body));
	n = spool_size(&r->body);
	body = malloc(n + 1);
	assert_non_null(body);
	assert_int_equal(spool_read_all(&r->body,
	    (uint8_t *)body), 0);
	body[n] = '\0';
	*len = n;
	return body;
}

/* ------------------------------------------------------------------ */

/* The greeting is 220 with the hostname; a refused start is 421 + CLOSE. */
static void
test_greeting(void **state)
{
	struct smtp_session *s = session_new_ex(0);

	(void)state;
	expect_out(s, R_GREETING);
	assert_int_equal(s->state, SMTP_S_CMD);
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_true(smtp_session_wants_input(s));
	smtp_session_free(s);
}

/* EHLO on plaintext lists PIPELINING, SIZE, STARTTLS, ENHANCEDSTATUSCODES,
 * 8BITMIME and no AUTH; HELO gives a one-line 250. */
static void
test_ehlo_plaintext_capabilities(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	assert_string_equal(s->helo, "client.example");
	assert_int_equal(s->esmtp, 1);
	feed(s, "HELO other.example\r\n");
	expect_out(s, "250 mx.test\r\n");
	assert_int_equal(s->esmtp, 0);
	feed(s, "EHLO\r\n");
	expect_out(s, "501 5.5.4 Syntax: EHLO hostname\r\n");
	smtp_session_free(s);
}

/* AUTH on plaintext: 530 5.7.0 Must issue a STARTTLS command first. */
static void
test_auth_plaintext_requires_starttls(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
	expect_out(s, "530 5.7.0 Must issue a STARTTLS command first\r\n");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_int_equal(s->state, SMTP_S_CMD);
	assert_string_equal(s->req_user, "");
	smtp_session_free(s);
}

/* MAIL, RCPT and DATA before HELO/EHLO: 503 5.5.1. */
static void
test_mail_before_ehlo_503(void **state)
{
	struct smtp_session *s = session_new_ex(0);

	(void)state;
	expect_out(s, R_GREETING);
	feed(s, "MAIL FROM:<a@remote.test>\r\n");
	expect_out(s, R_NEED_HELO);
	feed(s, "RCPT TO:<alice@local.test>\r\nDATA\r\n");
	expect_out(s, R_NEED_HELO R_NEED_HELO);
	assert_null(s->tx);
	smtp_session_free(s);
}

/* MAIL, RCPT, RCPT, DATA in one feed: four replies in order. */
static void
test_pipelined_mail_rcpt_rcpt_data_in_order(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "MAIL FROM:<sender@remote.test>\r\n"
	    "RCPT TO:<alice@local.test>\r\n"
	    "RCPT TO:<nobody@local.test>\r\n"
	    "DATA\r\n");
	expect_out(s, R_MAIL R_RCPT
	    "550 5.1.1 <nobody@local.test>: Recipient address rejected: "
	    "User unknown\r\n" R_DATA);
	assert_int_equal(s->state, SMTP_S_DATA);
	assert_int_equal(s->tx->nrcpts, 1);
	assert_string_equal(s->tx->rcpts[0].addr.addr, "alice@local.test");
	assert_string_equal(s->tx->sender.addr, "sender@remote.test");
	smtp_session_free(s);
}

/* STARTTLS with "EHLO evil" pipelined behind it: 220, the EHLO is
 * discarded unanswered; after TLS the session forgets HELO, advertises
 * AUTH and no STARTTLS, and refuses a second STARTTLS. */
static void
test_starttls_discards_pipelined_plaintext(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "MAIL FROM:<sender@remote.test>\r\n");
	expect_out(s, R_MAIL);
	feed(s, "STARTTLS\r\nEHLO evil\r\n");
	expect_out(s, "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(s->req, SMTP_REQ_STARTTLS);
	assert_int_equal(s->state, SMTP_S_WAIT);
	assert_int_equal(s->discarded, strlen("EHLO evil\r\n"));
	assert_int_equal(buf_unread(&s->in), 0);
	assert_null(s->tx);
	assert_false(smtp_session_wants_input(s));

	smtp_session_tls_started(s, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_int_equal(s->state, SMTP_S_CMD);
	assert_int_equal(s->tls, 1);
	assert_string_equal(s->helo, "");
	expect_out(s, "");		/* nothing for the discarded EHLO */

	feed(s, "MAIL FROM:<sender@remote.test>\r\n");
	expect_out(s, R_NEED_HELO);
	feed(s, "EHLO client.example\r\n");
	expect_out(s, R_EHLO_TLS);
	feed(s, "STARTTLS\r\n");
	expect_out(s, "503 5.5.1 Error: TLS already active\r\n");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	smtp_session_free(s);
}

/* Implicit TLS (SMTPS): no STARTTLS offered or accepted, AUTH offered. */
static void
test_implicit_tls_refuses_starttls(void **state)
{
	struct smtp_session *s = session_new_ex(1);

	(void)state;
	assert_int_equal(s->tls, 1);
	expect_out(s, R_GREETING);
	feed(s, "EHLO client.example\r\n");
	expect_out(s, R_EHLO_TLS);
	feed(s, "STARTTLS\r\n");
	expect_out(s, "503 5.5.1 Error: TLS already active\r\n");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_int_equal(s->state, SMTP_S_CMD);
	smtp_session_free(s);
}

/* AUTH PLAIN with initial response: REQ_AUTH with user and password
 * (authzid ignored); OK gives 235 and auth_user, then relaying works. */
static void
test_auth_plain_initial_response(void **state)
{
	struct smtp_session *s = session_tls();

	(void)state;
	/* "admin\0alice\0s3cret" */
	feed(s, "AUTH PLAIN YWRtaW4AYWxpY2UAczNjcmV0\r\n");
	expect_out(s, "");
	assert_int_equal(s->req, SMTP_REQ_AUTH);
	assert_int_equal(s->state, SMTP_S_WAIT);
	assert_string_equal(s->req_user, "alice");
	assert_string_equal(s->req_pass, "s3cret");
	assert_false(smtp_session_wants_input(s));
	smtp_session_resume_auth(s, SMTP_OK);
	expect_out(s, R_AUTH_OK);
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_string_equal(s->auth_user, "alice");
	assert_string_equal(s->req_pass, "");
	feed(s, "MAIL FROM:<alice@local.test>\r\n"
	    "RCPT TO:<carol@remote.test>\r\n");
	expect_out(s, R_MAIL R_RCPT);
	assert_int_equal(s->tx->nrcpts, 1);
	smtp_session_free(s);
}

/* AUTH PLAIN without initial response: "334 " then the response line. */
static void
test_auth_plain_without_initial_response(void **state)
{
	struct smtp_session *s = session_tls();

	(void)state;
	feed(s, "AUTH PLAIN\r\n");
	expect_out(s, "334 \r\n");
	assert_int_equal(s->state, SMTP_S_AUTH_PLAIN);
	feed(s, "AGJvYgBwdw==\r\n");	/* "\0bob\0pw" */
	expect_out(s, "");
	assert_int_equal(s->req, SMTP_REQ_AUTH);
	assert_string_equal(s->req_user, "bob");
	assert_string_equal(s->req_pass, "pw");
	smtp_session_resume_auth(s, SMTP_OK);
	expect_out(s, R_AUTH_OK);
	assert_string_equal(s->auth_user, "bob");
	smtp_session_free(s);
}

/* AUTH LOGIN: 334 VXNlcm5hbWU6, 334 UGFzc3dvcmQ6, then REQ_AUTH. */
static void
test_auth_login_exchange(void **state)
{
	struct smtp_session *s = session_tls();

	(void)state;
	feed(s, "AUTH LOGIN\r\n");
	expect_out(s, "334 VXNlcm5hbWU6\r\n");
	assert_int_equal(s->state, SMTP_S_AUTH_LOGIN_USER);
	feed(s, "YWxpY2U=\r\n");
	expect_out(s, "334 UGFzc3dvcmQ6\r\n");
	assert_int_equal(s->state, SMTP_S_AUTH_LOGIN_PASS);
	feed(s, "czNjcmV0\r\n");
	expect_out(s, "");
	assert_int_equal(s->req, SMTP_REQ_AUTH);
	assert_string_equal(s->req_user, "alice");
	assert_string_equal(s->req_pass, "s3cret");
	smtp_session_resume_auth(s, SMTP_OK);
	expect_out(s, R_AUTH_OK);
	assert_string_equal(s->auth_user, "alice");
	/* LOGIN with the user name as initial response. */
	smtp_session_free(s);
	s = session_tls();
	feed(s, "AUTH LOGIN YWxpY2U=\r\n");
	expect_out(s, "334 UGFzc3dvcmQ6\r\n");
	feed(s, "czNjcmV0\r\n");
	assert_int_equal(s->req, SMTP_REQ_AUTH);
	assert_string_equal(s->req_user, "alice");
	smtp_session_free(s);
}

/* "*" cancels an exchange in each state: 501 5.7.0, back to commands. */
static void
test_auth_star_cancels(void **state)
{
	static const char *const starts[] = {
		"AUTH PLAIN\r\n", "AUTH LOGIN\r\n", "AUTH LOGIN YWxpY2U=\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		struct smtp_session *s = session_tls();

		feed(s, starts[i]);
		buf_consume(&s->out, buf_unread(&s->out));
		feed(s, "*\r\n");
		expect_out(s, "501 5.7.0 Authentication cancelled\r\n");
		assert_int_equal(s->state, SMTP_S_CMD);
		assert_int_equal(s->req, SMTP_REQ_NONE);
		assert_string_equal(s->req_user, "");
		feed(s, "NOOP\r\n");
		expect_out(s, R_OK);
		smtp_session_free(s);
	}
}

/* Undecodable base64 anywhere in AUTH: 501 5.5.2. */
static void
test_auth_bad_base64_501(void **state)
{
	static const struct {
		const char *first, *line;
	} cases[] = {
		{ NULL, "AUTH PLAIN AGFsaWNlAHMzY3JldA=\r\n" },
		{ NULL, "AUTH PLAIN !!!!\r\n" },
		{ "AUTH PLAIN\r\n", "AGFsaW=NlAHMzY3JldA\r\n" },
		{ "AUTH LOGIN\r\n", "YWxpY2U\r\n" },
		{ "AUTH LOGIN\r\n", "YWxpY2U=\r\nczNjc$mV0\r\n" },
		{ NULL, "AUTH LOGIN YW xp\r\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_session *s = session_tls();
		const char *got;

		if (cases[i].first != NULL)
			feed(s, cases[i].first);
		feed(s, cases[i].line);
		/* The last reply line must be the 501. */
		got = (const char *)buf_data(&s->out);
		if (buf_unread(&s->out) < 33 || strcmp(got + buf_unread(&s->out) -
		    strlen("501 5.5.2 Cannot decode AUTH response\r\n"),
		    "501 5.5.2 Cannot decode AUTH response\r\n") != 0)
			fail_msg("case %zu: got \"%s\" want a trailing 501 5.5.2",
			    i, got);
		assert_int_equal(s->req, SMTP_REQ_NONE);
		assert_int_equal(s->state, SMTP_S_CMD);
		smtp_session_free(s);
	}
}

/* Wrong password: 535 5.7.8; the third failure adds 421 4.7.0 + CLOSE.
 * A temporary failure is 454 and is not counted. */
static void
test_auth_failures_close_after_three(void **state)
{
	struct smtp_session *s = session_tls();
	int i;

	(void)state;
	feed(s, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
	assert_int_equal(s->req, SMTP_REQ_AUTH);
	smtp_session_resume_auth(s, SMTP_TEMPFAIL);
	expect_out(s, "454 4.7.0 Temporary authentication failure\r\n");
	assert_int_equal(s->auth_failures, 0);
	for (i = 1; i <= 3; i++) {
		feed(s, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
		assert_int_equal(s->req, SMTP_REQ_AUTH);
		assert_string_equal(s->req_pass, "wrong");
		smtp_session_resume_auth(s, SMTP_PERMFAIL);
		assert_string_equal(s->auth_user, "");
		assert_string_equal(s->req_pass, "");
		if (i < 3) {
			expect_out(s, R_AUTH_BAD);
			assert_int_equal(s->req, SMTP_REQ_NONE);
		} else {
			expect_out(s, R_AUTH_BAD "421 4.7.0 mx.test Too many "
			    "failed authentication attempts\r\n");
			assert_int_equal(s->req, SMTP_REQ_CLOSE);
			assert_int_equal(s->state, SMTP_S_CLOSED);
		}
	}
	feed(s, "NOOP\r\n");
	expect_out(s, "");
	smtp_session_free(s);
}

/* AUTH after a successful AUTH: 503. */
static void
test_auth_twice_503(void **state)
{
	struct smtp_session *s = session_tls();

	(void)state;
	feed(s, "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
	smtp_session_resume_auth(s, SMTP_OK);
	expect_out(s, R_AUTH_OK);
	feed(s, "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
	expect_out(s, "503 5.5.1 Error: already authenticated\r\n");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	smtp_session_free(s);
}

/* AUTH with an unknown mechanism: 504 5.5.4. */
static void
test_auth_unknown_mechanism_504(void **state)
{
	struct smtp_session *s = session_tls();

	(void)state;
	feed(s, "AUTH CRAM-MD5\r\n");
	expect_out(s, "504 5.5.4 Unrecognized authentication type\r\n");
	feed(s, "AUTH GSSAPI dGVzdA==\r\n");
	expect_out(s, "504 5.5.4 Unrecognized authentication type\r\n");
	assert_int_equal(s->state, SMTP_S_CMD);
	smtp_session_free(s);
}

/* DATA: dot-unstuffing, end only at CRLF.CRLF even when split across
 * feeds; the spool holds Received: then the unstuffed body. */
static void
test_data_dot_unstuffing_and_end(void **state)
{
	static const char want[] = "Subject: t\r\n\r\n.x\r\n..\r\n"
	    "a.b\r\n.\r\n\r\nend\r\n";
	struct smtp_session *s = session_data();
	char *body;
	size_t len;

	(void)state;
	feed(s, "Subject: t\r\n\r\n..x\r\n...\r\na.b\r\n..\r\n");
	feed(s, "\r\nend\r\n.");
	expect_out(s, "");
	assert_int_equal(s->state, SMTP_S_DATA);
	feed(s, "\r");
	expect_out(s, "");
	assert_int_equal(s->state, SMTP_S_DATA);
	feed(s, "\n");
	expect_out(s, "");
	assert_int_equal(s->req, SMTP_REQ_STORE);
	assert_int_equal(s->state, SMTP_S_WAIT);
	assert_int_equal(s->tx->id, ID0);
	body = spool_body(s, &len);
	if (len != strlen(want) || memcmp(body, want, len) != 0) {
		char g[512], w[512];

		fail_msg("spool body\n got: \"%s\"\nwant: \"%s\"",
		    visible(body, len, g, sizeof(g)),
		    visible(want, strlen(want), w, sizeof(w)));
	}
	free(body);
	smtp_session_resume_store(s, SMTP_OK, NULL);
	expect_out(s, "250 2.0.0 Ok: queued as 18C2F3A4B5C60001\r\n");
	smtp_session_free(s);
}

/* Sequences that are not CRLF.CRLF do not end DATA ("\n.\n", ".\n",
 * "\n.\r\n", "\r.\r\n"); the message then ends at a real CRLF.CRLF with
 * 550 5.6.0 and no STORE request. */
static void
test_data_lf_dot_lf_does_not_end(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "x\n.\n", R_BARE_LF },
		{ ".\n", R_BARE_LF },
		{ "x\n.\r\n", R_BARE_LF },
		{ "\n.\n", R_BARE_LF },
		{ "x\r.\r\n", "550 5.6.0 Message contains bare CR "
		    "(RFC 5321 2.3.8)\r\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_session *s = session_data();

		feed(s, "a\r\n");
		feed(s, cases[i].in);
		feed(s, "MAIL FROM:<smuggled@remote.test>\r\n");
		if (s->state != SMTP_S_DATA || buf_unread(&s->out) != 0)
			fail_msg("case %zu: DATA ended early (state %d)", i,
			    (int)s->state);
		feed(s, "\r\n.\r\n");
		expect_out(s, cases[i].want);
		assert_int_equal(s->req, SMTP_REQ_NONE);
		assert_int_equal(s->state, SMTP_S_CMD);
		assert_null(s->tx);
		smtp_session_free(s);
	}
}

/* Defects in DATA are reported after the real CRLF.CRLF with 550 5.6.0,
 * no STORE request; the session takes the next command. */
static void
test_data_defects_550(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "bare LF", "Subject: x\r\nbad\nline\r\n.\r\n", 25, R_BARE_LF },
		{ "bare CR", "Subject: x\r\nbad\rline\r\n.\r\n", 25,
		    "550 5.6.0 Message contains bare CR (RFC 5321 2.3.8)\r\n" },
		{ "bare CR at end", "Subject: x\r\nbad\r\r\n.\r\n", 21,
		    "550 5.6.0 Message contains bare CR (RFC 5321 2.3.8)\r\n" },
		{ "NUL", "Subject: x\r\nbad\0line\r\n.\r\n", 25,
		    "550 5.6.0 Message contains NUL octets\r\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_session *s = session_data();
		char g[256], w[256];

		feedn(s, cases[i].in, cases[i].len);
		if (buf_unread(&s->out) != strlen(cases[i].want) ||
		    memcmp(buf_data(&s->out), cases[i].want,
		    strlen(cases[i].want)) != 0)
			fail_msg("%s: got \"%s\" want \"%s\"", cases[i].name,
			    visible((const char *)buf_data(&s->out),
			    buf_unread(&s->out), g, sizeof(g)),
			    visible(cases[i].want, strlen(cases[i].want), w,
			    sizeof(w)));
		buf_consume(&s->out, buf_unread(&s->out));
		if (s->req != SMTP_REQ_NONE)
			fail_msg("%s: req got %d want NONE", cases[i].name,
			    (int)s->req);
		assert_null(s->tx);
		feed(s, "NOOP\r\n");
		expect_out(s, R_OK);
		smtp_session_free(s);
	}
}

/* A 1000-octet line is accepted; 1001 octets gives 550 5.6.0 after the
 * end of data and the dialogue stays in sync. */
static void
test_data_long_line_550_keeps_sync(void **state)
{
	char line[1100];
	struct smtp_session *s;

	(void)state;
	/* 998 + CRLF = 1000: fine. */
	s = session_data();
	memset(line, 'x', 998);
	memcpy(line + 998, "\r\n", 2);
	feedn(s, line, 1000);
	feed(s, ".\r\n");
	expect_out(s, "");
	assert_int_equal(s->req, SMTP_REQ_STORE);
	smtp_session_free(s);

	/* 999 + CRLF = 1001: refused, fed in pieces too. */
	s = session_data();
	memset(line, 'y', 999);
	memcpy(line + 999, "\r\n", 2);
	feedn(s, line, 500);
	feedn(s, line + 500, 501);
	feed(s, "after\r\n.\r\n");
	expect_out(s, "550 5.6.0 Message contains a line longer than 1000 "
	    "octets (RFC 5321 4.5.3.1.6)\r\n");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	feed(s, "NOOP\r\n");
	expect_out(s, R_OK);
	smtp_session_free(s);

	/* 5000 octets in one feed, then the end. */
	s = session_data();
	{
		char big[5002];

		memset(big, 'z', 5000);
		memcpy(big + 5000, "\r\n", 2);
		feedn(s, big, sizeof(big));
	}
	feed(s, ".\r\nNOOP\r\n");
	expect_out(s, "550 5.6.0 Message contains a line longer than 1000 "
	    "octets (RFC 5321 4.5.3.1.6)\r\n" R_OK);
	smtp_session_free(s);

	/* 1500 octets, CR at the end of one feed and LF in the next: the
	 * line still ends in CRLF, so ".\r\n" ends the data. */
	s = session_data();
	{
		char big[1501];

		memset(big, 'w', 1500);
		big[1500] = '\r';
		feedn(s, big, sizeof(big));
	}
	feed(s, "\n.\r\n");
	expect_out(s, "550 5.6.0 Message contains a line longer than 1000 "
	    "octets (RFC 5321 4.5.3.1.6)\r\n");
	assert_int_equal(s->state, SMTP_S_CMD);
	smtp_session_free(s);
}

/* An overlong line ending in a bare LF followed by ".\r\n" is not
 * CRLF.CRLF: the data goes on until a real end (smuggling guard), both
 * when the line arrives whole and when it arrives in pieces. */
static void
test_data_long_line_bare_lf_dot_does_not_end(void **state)
{
	static const size_t pieces[] = { 1200, 500 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		struct smtp_session *s = session_data();
		char big[1201];
		size_t off;

		memset(big, 'v', 1200);
		big[1200] = '\n';
		for (off = 0; off < sizeof(big); off += pieces[i])
			feedn(s, big + off, sizeof(big) - off < pieces[i] ?
			    sizeof(big) - off : pieces[i]);
		feed(s, ".\r\nMAIL FROM:<smuggled@remote.test>\r\n");
		if (s->state != SMTP_S_DATA || buf_unread(&s->out) != 0)
			fail_msg("pieces of %zu: DATA ended early", pieces[i]);
		feed(s, ".\r\n");
		expect_out(s, "550 5.6.0 Message contains a line longer than "
		    "1000 octets (RFC 5321 4.5.3.1.6)\r\n");
		assert_int_equal(s->state, SMTP_S_CMD);
		smtp_session_free(s);
	}
}

/* A message over max_size: 552 5.3.4 after the end of data. */
static void
test_data_too_big_552(void **state)
{
	struct smtp_session *s = session_data();
	char line[101];
	int i;

	(void)state;
	memset(line, 'm', 98);
	memcpy(line + 98, "\r\n", 3);
	for (i = 0; i < 101; i++)
		feed(s, line);
	expect_out(s, "");
	feed(s, ".\r\n");
	expect_out(s, "552 5.3.4 Message size exceeds fixed maximum message "
	    "size (10000 bytes)\r\n");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_null(s->tx);
	smtp_session_free(s);
}

/* MAIL with SIZE above max_size: 552 5.3.4, no transaction. */
static void
test_mail_size_too_big_552(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "MAIL FROM:<a@remote.test> SIZE=20000\r\n");
	expect_out(s, "552 5.3.4 Message size exceeds fixed maximum message "
	    "size (10000 bytes)\r\n");
	assert_null(s->tx);
	feed(s, "MAIL FROM:<a@remote.test> SIZE=10000 BODY=8BITMIME\r\n");
	expect_out(s, R_MAIL);
	assert_int_equal(s->tx->declared_size, 10000);
	smtp_session_free(s);
}

/* The fourth recipient with max_rcpts 3: 452 4.5.3. */
static void
test_too_many_recipients_452(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	fake.open_relay = 1;
	feed(s, "MAIL FROM:<a@remote.test>\r\n"
	    "RCPT TO:<alice@local.test>\r\n"
	    "RCPT TO:<bob@local.test>\r\n"
	    "RCPT TO:<c@far.test>\r\n"
	    "RCPT TO:<d@far.test>\r\n");
	expect_out(s, R_MAIL R_RCPT R_RCPT R_RCPT
	    "452 4.5.3 Error: too many recipients\r\n");
	assert_int_equal(s->tx->nrcpts, 3);
	assert_int_equal(fake.rcpt_calls, 3);
	smtp_session_free(s);
}

/* A recipient given twice (in any case) is stored once. */
static void
test_duplicate_recipient_stored_once(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "MAIL FROM:<a@remote.test>\r\n"
	    "RCPT TO:<alice@local.test>\r\n"
	    "RCPT TO:<ALICE@local.test>\r\n"
	    "RCPT TO:<bob@local.test>\r\n");
	expect_out(s, R_MAIL R_RCPT R_RCPT R_RCPT);
	assert_int_equal(s->tx->nrcpts, 2);
	smtp_session_free(s);
}

/* Policy's expansion is stored instead of the alias; targets already
 * stored are not stored again; the total stays within max_rcpts, else
 * 452 and nothing of that RCPT is stored. */
static void
test_rcpt_expansion(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	fake.team_size = 3;
	feed(s, "MAIL FROM:<a@remote.test>\r\n"
	    "RCPT TO:<bob@local.test>\r\n"
	    "RCPT TO:<team@local.test>\r\n");
	expect_out(s, R_MAIL R_RCPT R_RCPT);
	assert_int_equal(s->tx->nrcpts, 3);
	assert_string_equal(s->tx->rcpts[0].addr.addr, "bob@local.test");
	assert_string_equal(s->tx->rcpts[1].addr.addr, "alice@local.test");
	assert_string_equal(s->tx->rcpts[2].addr.addr, "x@far.test");
	feed(s, "RSET\r\nMAIL FROM:<a@remote.test>\r\n"
	    "RCPT TO:<alice@local.test>\r\n");
	expect_out(s, R_OK R_MAIL R_RCPT);
	fake.team_size = 4;
	feed(s, "RCPT TO:<team@local.test>\r\n");
	expect_out(s, "452 4.5.3 Error: too many recipients\r\n");
	assert_int_equal(s->tx->nrcpts, 1);
	smtp_session_free(s);
}

/* Unknown local user: 550 5.1.1 from the hook, not added. */
static void
test_unknown_local_user_550(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "MAIL FROM:<a@remote.test>\r\nRCPT TO:<mallory@local.test>\r\n");
	expect_out(s, R_MAIL "550 5.1.1 <mallory@local.test>: Recipient "
	    "address rejected: User unknown\r\n");
	assert_int_equal(s->tx->nrcpts, 0);
	feed(s, "DATA\r\n");
	expect_out(s, "554 5.5.1 Error: no valid recipients\r\n");
	smtp_session_free(s);
}

/* Relaying without authentication: 554 5.7.1. */
static void
test_relay_unauthenticated_554(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "MAIL FROM:<a@remote.test>\r\nRCPT TO:<carol@remote.test>\r\n");
	expect_out(s, R_MAIL "554 5.7.1 <carol@remote.test>: Relay access "
	    "denied\r\n");
	assert_int_equal(s->tx->nrcpts, 0);
	smtp_session_free(s);
}

/* resume_store: OK is "250 2.0.0 Ok: queued as <16 hex>", TEMPFAIL 451. */
static void
test_resume_store_results(void **state)
{
	static const struct {
		enum smtp_result r;
		const char *detail;
		const char *want;
		uint64_t msgs;
	} cases[] = {
		{ SMTP_OK, NULL, "250 2.0.0 Ok: queued as 18C2F3A4B5C60001\r\n",
		    1 },
		{ SMTP_TEMPFAIL, NULL, "451 4.3.0 Error: queue file write "
		    "error\r\n", 0 },
		{ SMTP_TEMPFAIL, "database down", "451 4.3.0 Error: queue file "
		    "write error: database down\r\n", 0 },
		{ SMTP_PERMFAIL, NULL, "554 5.3.0 Error: message refused\r\n",
		    0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_session *s = session_data();

		feed(s, "Subject: hi\r\n\r\nbody\r\n.\r\n");
		assert_int_equal(s->req, SMTP_REQ_STORE);
		smtp_session_resume_store(s, cases[i].r, cases[i].detail);
		expect_out(s, cases[i].want);
		assert_int_equal(s->req, SMTP_REQ_NONE);
		assert_int_equal(s->state, SMTP_S_CMD);
		assert_null(s->tx);
		if (s->msgs != cases[i].msgs)
			fail_msg("case %zu: msgs got %lu want %lu", i,
			    (unsigned long)s->msgs,
			    (unsigned long)cases[i].msgs);
		/* A second message gets the next id. */
		feed(s, MAIL_RCPT "DATA\r\n");
		expect_out(s, R_MAIL R_RCPT R_DATA);
		feed(s, ".\r\n");
		smtp_session_resume_store(s, SMTP_OK, NULL);
		expect_out(s, "250 2.0.0 Ok: queued as 18C2F3A4B5C60002\r\n");
		smtp_session_free(s);
	}
}

/* Command line length: 512 octets with CRLF accepted, 513 and 600 give
 * 500 5.5.2; the next command still works. */
static void
test_overlong_command_500_keeps_sync(void **state)
{
	static const struct {
		size_t len;	/* including CRLF */
		const char *want;
	} cases[] = {
		{ 511, R_OK }, { 512, R_OK }, { 513, R_TOO_LONG },
		{ 600, R_TOO_LONG }, { 12000, R_TOO_LONG },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_session *s = session_ehlo();
		char *line = malloc(cases[i].len);

		assert_non_null(line);
		memset(line, 'a', cases[i].len);
		memcpy(line, "NOOP ", 5);
		memcpy(line + cases[i].len - 2, "\r\n", 2);
		feedn(s, line, cases[i].len);
		expect_out(s, cases[i].want);
		feed(s, "NOOP\r\n");
		expect_out(s, R_OK);
		free(line);
		smtp_session_free(s);
	}
}

/* 100 KB without LF fed 1000 bytes at a time, then LF: one 500 only. */
static void
test_100k_command_in_pieces_single_500(void **state)
{
	struct smtp_session *s = session_ehlo();
	char piece[1000];
	int i;

	(void)state;
	memset(piece, 'b', sizeof(piece));
	for (i = 0; i < 100; i++) {
		assert_true(smtp_session_wants_input(s));
		feedn(s, piece, sizeof(piece));
		if (buf_unread(&s->out) != 0)
			fail_msg("piece %d: unexpected reply", i);
		assert_true(buf_unread(&s->in) <= SMTP_AUTH_LINE_MAX);
	}
	feed(s, "\r\n");
	expect_out(s, R_TOO_LONG);
	feed(s, "NOOP\r\n");
	expect_out(s, R_OK);
	assert_int_equal(s->errors, 1);
	smtp_session_free(s);
}

/* A NUL in a command line: 500 5.5.2. */
static void
test_nul_in_command_500(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feedn(s, "NOOP\0x\r\n", 8);
	expect_out(s, "500 5.5.2 NUL character not allowed in command\r\n");
	feedn(s, "\0\r\n", 3);
	expect_out(s, "500 5.5.2 NUL character not allowed in command\r\n");
	feed(s, "NOOP\r\n");
	expect_out(s, R_OK);
	smtp_session_free(s);
}

#define R_BARE_LF_CMD "500 5.5.2 Bare LF in command (lines must end " \
	"with CRLF, RFC 5321 2.3.8)\r\n"
#define R_BARE_CR_CMD "500 5.5.2 Bare CR in command (lines must end " \
	"with CRLF, RFC 5321 2.3.8)\r\n"

/* SMTP smuggling: a command ending in a bare LF, or holding a bare CR, is
 * refused with 500 5.5.2 and not executed; the session goes on. */
static void
test_bare_lf_cr_in_command_500(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "MAIL FROM:<a@remote.test>\n");
	expect_out(s, R_BARE_LF_CMD);
	assert_null(s->tx);
	feed(s, "RSET\rMAIL FROM:<a@remote.test>\r\n");
	expect_out(s, R_BARE_CR_CMD);
	assert_null(s->tx);
	feed(s, "\n");
	expect_out(s, R_BARE_LF_CMD);
	feed(s, "QUIT\r\r\n");
	expect_out(s, R_BARE_CR_CMD);
	assert_int_equal(s->req, SMTP_REQ_NONE);
	/* Split across feeds, CR and LF apart: still one good line. */
	feed(s, "NOOP\r");
	expect_out(s, "");
	feed(s, "\n");
	expect_out(s, R_OK);
	feed(s, "MAIL FROM:<a@remote.test>\r\n");
	expect_out(s, R_MAIL);
	assert_non_null(s->tx);
	assert_int_equal(s->state, SMTP_S_CMD);
	smtp_session_free(s);
}

/* A bare LF in an AUTH response ends the exchange without a check. */
static void
test_bare_lf_in_auth_response_500(void **state)
{
	struct smtp_session *s = session_tls();

	(void)state;
	feed(s, "AUTH PLAIN\r\n");
	expect_out(s, "334 \r\n");
	feed(s, "AGJvYgBwdw==\n");
	expect_out(s, R_BARE_LF_CMD);
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_int_equal(s->state, SMTP_S_CMD);
	feed(s, "NOOP\r\n");
	expect_out(s, R_OK);
	smtp_session_free(s);
}

/* Five unknown commands: the fifth 500 is followed by 421 4.7.0 and
 * CLOSE; pipelined input after it is not answered. */
static void
test_error_limit_421_close(void **state)
{
	struct smtp_session *s = session_ehlo();
	int i;

	(void)state;
	for (i = 1; i <= 4; i++) {
		feed(s, "FOO\r\n");
		expect_out(s, "500 5.5.2 Error: command not recognized\r\n");
		assert_int_equal(s->req, SMTP_REQ_NONE);
	}
	feed(s, "FOO\r\nNOOP\r\n");
	expect_out(s, "500 5.5.2 Error: command not recognized\r\n"
	    "421 4.7.0 mx.test Too many errors, closing connection\r\n");
	assert_int_equal(s->req, SMTP_REQ_CLOSE);
	assert_int_equal(s->state, SMTP_S_CLOSED);
	assert_false(smtp_session_wants_input(s));
	feed(s, "NOOP\r\n");
	expect_out(s, "");
	smtp_session_free(s);
}

/* An HTTP request line: 421 and CLOSE. */
static void
test_http_get_421_close(void **state)
{
	struct smtp_session *s = session_new_ex(0);

	(void)state;
	expect_out(s, R_GREETING);
	feed(s, "GET / HTTP/1.0\r\nHost: mx.test\r\n\r\n");
	expect_out(s, "421 4.7.0 mx.test Not an SMTP client, closing\r\n");
	assert_int_equal(s->req, SMTP_REQ_CLOSE);
	assert_int_equal(s->state, SMTP_S_CLOSED);
	assert_string_equal(s->close_reason, "http command");
	smtp_session_free(s);
}

/* Message text pipelined right after DATA: 554 5.5.0 and CLOSE. */
static void
test_data_improper_pipelining_554_close(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, MAIL_RCPT);
	expect_out(s, R_MAIL R_RCPT);
	feed(s, "DATA\r\nSubject: x\r\n");
	expect_out(s, "554 5.5.0 Error: improper command pipelining after "
	    "DATA\r\n");
	assert_int_equal(s->req, SMTP_REQ_CLOSE);
	assert_int_equal(s->state, SMTP_S_CLOSED);
	smtp_session_free(s);

	/* The same with everything in one feed. */
	s = session_ehlo();
	feed(s, MAIL_RCPT "DATA\r\n.\r\n");
	expect_out(s, R_MAIL R_RCPT "554 5.5.0 Error: improper command "
	    "pipelining after DATA\r\n");
	assert_int_equal(s->req, SMTP_REQ_CLOSE);
	smtp_session_free(s);
}

/* VRFY answers 252 and discloses nothing. */
static void
test_vrfy_252(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "VRFY alice\r\nVRFY nobody@local.test\r\n");
	expect_out(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery\r\n"
	    "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery\r\n");
	assert_int_equal(fake.rcpt_calls, 0);
	smtp_session_free(s);
}

/* QUIT: 221 and CLOSE. */
static void
test_quit_221_close(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, "QUIT\r\n");
	expect_out(s, "221 2.0.0 Bye\r\n");
	assert_int_equal(s->req, SMTP_REQ_CLOSE);
	assert_int_equal(s->state, SMTP_S_CLOSED);
	assert_string_equal(s->close_reason, "quit");
	smtp_session_free(s);
}

/* RSET ends the transaction: RCPT needs MAIL again, MAIL is not nested. */
static void
test_rset_clears_transaction(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	feed(s, MAIL_RCPT);
	expect_out(s, R_MAIL R_RCPT);
	assert_non_null(s->tx);
	feed(s, "MAIL FROM:<b@remote.test>\r\n");
	expect_out(s, "503 5.5.1 Error: nested MAIL command\r\n");
	feed(s, "RSET\r\n");
	expect_out(s, R_OK);
	assert_null(s->tx);
	feed(s, "RCPT TO:<alice@local.test>\r\n");
	expect_out(s, "503 5.5.1 Error: need MAIL command\r\n");
	feed(s, "MAIL FROM:<b@remote.test>\r\n");
	expect_out(s, R_MAIL);
	assert_string_equal(s->tx->sender.addr, "b@remote.test");
	assert_int_equal(s->tx->nrcpts, 0);
	smtp_session_free(s);
}

/* smtp_session_timeout: 421 4.4.2 and CLOSE. */
static void
test_timeout_421(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	smtp_session_timeout(s);
	expect_out(s, "421 4.4.2 mx.test Error: timeout exceeded\r\n");
	assert_int_equal(s->req, SMTP_REQ_CLOSE);
	assert_int_equal(s->state, SMTP_S_CLOSED);
	assert_string_equal(s->close_reason, "timeout");
	smtp_session_free(s);
}

/* 5000 NOOPs in one feed: processing pauses at SMTP_OUT_HIGH with input
 * left; draining the output and calling process continues; 5000 replies
 * in total. */
static void
test_output_throttling(void **state)
{
	static const char noop[] = "NOOP\r\n";
	const size_t rlen = strlen(R_OK);
	struct smtp_session *s = session_ehlo();
	size_t total = 0, n, i;
	char *in;
	int rounds = 0;

	(void)state;
	in = malloc(5000 * 6);
	assert_non_null(in);
	for (i = 0; i < 5000; i++)
		memcpy(in + i * 6, noop, 6);
	feedn(s, in, 5000 * 6);
	assert_true(buf_unread(&s->out) >= SMTP_OUT_HIGH);
	assert_true(buf_unread(&s->in) > 0);
	assert_false(smtp_session_wants_input(s));
	assert_int_equal(s->state, SMTP_S_CMD);
	while (buf_unread(&s->out) > 0) {
		const char *o = (const char *)buf_data(&s->out);

		n = buf_unread(&s->out);
		assert_int_equal(n % rlen, 0);
		for (i = 0; i < n; i += rlen)
			assert_memory_equal(o + i, R_OK, rlen);
		total += n / rlen;
		buf_consume(&s->out, n);
		smtp_session_process(s);
		assert_true(++rounds < 100);
	}
	assert_true(rounds >= 2);
	assert_int_equal(total, 5000);
	assert_int_equal(buf_unread(&s->in), 0);
	assert_true(smtp_session_wants_input(s));
	free(in);
	smtp_session_free(s);
}

/* Policy refusals at each stage come from the check hook. */
static void
test_policy_refuses_connect(void **state)
{
	struct smtp_params p;
	struct smtp_hooks h;
	struct smtp_session *s;

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.hostname, sizeof(p.hostname), "mx.test");
	p.max_errors = 5;
	memset(&h, 0, sizeof(h));
	memset(&fake, 0, sizeof(fake));
	fake.refuse_stage = SMTP_STAGE_CONNECT + 1;
	h.arg = &fake;
	h.check = fake_check;
	s = smtp_session_new(&p, &h, 0x42, CLIENT, 0);
	smtp_session_start(s, NULL);
	expect_out(s, "554 5.7.1 mx.test Access denied\r\n");
	assert_int_equal(s->req, SMTP_REQ_CLOSE);
	smtp_session_free(s);
}

static void
test_policy_refuses_ehlo_mail_data(void **state)
{
	struct smtp_session *s = session_new_ex(0);

	(void)state;
	expect_out(s, R_GREETING);
	fake.refuse_stage = SMTP_STAGE_EHLO + 1;
	feed(s, "EHLO client.test\r\nMAIL FROM:<a@remote.test>\r\n");
	expect_out(s, "550 5.7.1 Access denied\r\n"
	    "503 5.5.1 Error: send HELO/EHLO first\r\n");
	fake.refuse_stage = SMTP_STAGE_MAIL + 1;
	feed(s, "HELO client.test\r\nMAIL FROM:<a@remote.test>\r\n");
	expect_out(s, "250 mx.test\r\n550 5.7.1 Sender rejected\r\n");
	assert_null(s->tx);
	fake.refuse_stage = SMTP_STAGE_DATA + 1;
	feed(s, MAIL_RCPT "DATA\r\n");
	expect_out(s, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
	feed(s, "Subject: x\r\n\r\nbody\r\n.\r\n");
	expect_out(s, "550 5.7.1 Message refused by policy\r\n");
	assert_int_equal(s->req, SMTP_REQ_NONE);
	assert_null(s->tx);
	assert_int_equal(fake.stage_calls[SMTP_STAGE_DATA], 1);
	smtp_session_free(s);
}

/* The dispatcher applies the command table's flags (smtp_cmd.c):
 * CMD_CLOSE_NOW for every HTTP verb, in any case, before HELO too;
 * CMD_NEEDS_HELO only for MAIL, RCPT, DATA and AUTH. */
static void
test_cmd_flags_close_now_and_needs_helo(void **state)
{
	static const char *const http[] = { "GET /", "post /x HTTP/1.1",
	    "HEAD /", "PUT /", "CONNECT mx.test:25" };
	static const char *const needs[] = { "MAIL FROM:<a@b.test>",
	    "RCPT TO:<a@b.test>", "DATA", "AUTH PLAIN" };
	struct smtp_session *s;
	char line[64];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(http); i++) {
		s = session_new_ex(0);
		expect_out(s, R_GREETING);
		snprintf(line, sizeof(line), "%s\r\nNOOP\r\n", http[i]);
		feed(s, line);
		expect_out(s, "421 4.7.0 mx.test Not an SMTP client, "
		    "closing\r\n");
		assert_int_equal(smtp_session_request(s), SMTP_REQ_CLOSE);
		assert_true(smtp_session_closing(s));
		assert_string_equal(smtp_session_close_reason(s),
		    "http command");
		smtp_session_free(s);
	}
	s = session_new_ex(0);
	expect_out(s, R_GREETING);
	for (i = 0; i < NELEM(needs); i++) {
		snprintf(line, sizeof(line), "%s\r\n", needs[i]);
		feed(s, line);
		expect_out(s, R_NEED_HELO);
	}
	feed(s, "NOOP\r\nRSET\r\nVRFY x\r\n");
	expect_out(s, R_OK R_OK "252 2.5.2 Cannot VRFY user, but will accept "
	    "message and attempt delivery\r\n");
	assert_int_equal(smtp_session_request(s), SMTP_REQ_NONE);
	smtp_session_free(s);
}

/* CMD_LAST_CLOSE and CMD_LAST_DISCARD apply only to a command that passed
 * its checks: a refused DATA or STARTTLS leaves the pipelined input alone.
 * Input behind EHLO is tolerated (the flag is not set there). */
static void
test_cmd_flags_last_after_checks(void **state)
{
	struct smtp_session *s = session_ehlo();

	(void)state;
	/* DATA without MAIL: 503, then the NOOP behind it is answered. */
	feed(s, "DATA\r\nNOOP\r\n");
	expect_out(s, "503 5.5.1 Error: need MAIL command\r\n" R_OK);
	assert_int_equal(smtp_session_request(s), SMTP_REQ_NONE);
	/* DATA with a bad argument: 501, no close. */
	feed(s, MAIL_RCPT "DATA x\r\nRSET\r\n");
	expect_out(s, R_MAIL R_RCPT "501 5.5.4 Syntax: DATA\r\n" R_OK);
	assert_int_equal(smtp_session_request(s), SMTP_REQ_NONE);
	/* A refused STARTTLS discards nothing. */
	feed(s, "STARTTLS x\r\nNOOP\r\n");
	expect_out(s, "501 5.5.4 Syntax: STARTTLS\r\n" R_OK);
	assert_int_equal(s->discarded, 0);
	/* EHLO with MAIL behind it: both answered. */
	feed(s, "EHLO client.example\r\nMAIL FROM:<a@remote.test>\r\n");
	expect_out(s, R_EHLO_PLAIN R_MAIL);
	/* QUIT closes; what follows is not answered. */
	feed(s, "QUIT\r\nNOOP\r\n");
	expect_out(s, "221 2.0.0 Bye\r\n");
	assert_int_equal(smtp_session_request(s), SMTP_REQ_CLOSE);
	smtp_session_free(s);
}

/* DATA-stage policy sees every accepted recipient, far beyond 1000, and
 * the store request carries them all with their routes. */
static void
test_data_policy_sees_every_recipient(void **state)
{
	enum { N = 1500 };
	struct smtp_session *s;
	struct store_request *r;
	char line[64];
	unsigned i;

	(void)state;
	fake.max_rcpts = N;
	s = session_ehlo();
	fake.open_relay = 1;
	feed(s, "MAIL FROM:<sender@remote.test>\r\n");
	expect_out(s, R_MAIL);
	for (i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<r%u@far.test>\r\n", i);
		feed(s, line);
		expect_out(s, R_RCPT);
	}
	feed(s, "RCPT TO:<one.too.many@far.test>\r\n");
	expect_out(s, "452 4.5.3 Error: too many recipients\r\n");
	feed(s, "DATA\r\n");
	expect_out(s, R_DATA);
	feed(s, "Subject: many\r\n\r\nbody\r\n.\r\n");
	assert_int_equal(smtp_session_request(s), SMTP_REQ_STORE);
	assert_int_equal(fake.data_nrcpts, N);
	r = smtp_session_take_store(s);
	assert_non_null(r);
	assert_int_equal(r->nrcpts, N);
	assert_string_equal(r->rcpts[0].addr.addr, "r0@far.test");
	assert_string_equal(r->rcpts[N - 1].addr.addr, "r1499@far.test");
	assert_string_equal(r->rcpts[N - 1].route.host, "relay.test");
	assert_int_equal(r->rcpts[N - 1].route.port, 2525);
	assert_int_equal(r->rcpts[N - 1].route.tls, RELAY_TLS_REQUIRED);
	assert_int_equal(r->rcpts[N - 1].route.versions, TLS_VERSIONS_13);
	store_request_free(r);
	smtp_session_resume_store(s, SMTP_OK, NULL);
	expect_out(s, "250 2.0.0 Ok: queued as 18C2F3A4B5C60001\r\n");
	smtp_session_free(s);
}

/* The store request is a value: envelope, origin, the rules' headers
 * before Received:, the body; it changes hands once. */
static void
test_store_request_contents(void **state)
{
	static const char auth[] = "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n";
	struct smtp_session *s = session_tls();
	struct store_request *r;
	const char *h;
	uint8_t body[64];

	(void)state;
	feed(s, auth);
	assert_int_equal(smtp_session_request(s), SMTP_REQ_AUTH);
	assert_string_equal(smtp_session_auth_user(s), "alice");
	assert_string_equal(smtp_session_auth_pass(s), "s3cret");
	smtp_session_resume_auth(s, SMTP_OK);
	expect_out(s, R_AUTH_OK);
	fake.data_header = "X-Rule: yes";
	feed(s, "MAIL FROM:<alice@local.test> SIZE=50\r\n"
	    "RCPT TO:<bob@local.test>\r\n");
	expect_out(s, R_MAIL R_RCPT);
	feed(s, "DATA\r\n");
	expect_out(s, R_DATA);
	feed(s, "Subject: x\r\n\r\n..dot\r\n.\r\n");
	assert_int_equal(smtp_session_request(s), SMTP_REQ_STORE);
	r = smtp_session_take_store(s);
	assert_non_null(r);
	assert_null(smtp_session_take_store(s));
	assert_int_equal(r->id, ID0);
	assert_int_equal(r->session_id, 0x42);
	assert_string_equal(r->sender.addr, "alice@local.test");
	assert_int_equal(r->declared_size, 50);
	assert_int_equal(r->nrcpts, 1);
	assert_string_equal(r->rcpts[0].addr.addr, "bob@local.test");
	assert_string_equal(r->client_addr, CLIENT);
	assert_string_equal(r->helo, "client.example");
	assert_string_equal(r->listener, "smtp");
	assert_string_equal(r->tls_version, "TLSv1.3");
	assert_string_equal(r->tls_cipher, "TLS_AES_256_GCM_SHA384");
	assert_string_equal(r->auth_user, "alice");
	h = (const char *)buf_data(&r->headers);
	assert_true(strncmp(h, "X-Rule: yes\r\nReceived: from client.example "
	    "([" CLIENT "])", 55) == 0);
	assert_non_null(strstr(h, "with ESMTPSA id 18C2F3A4B5C60001"));
	assert_non_null(strstr(h, "for <bob@local.test>"));
	assert_int_equal(spool_size(&r->body), strlen("Subject: x\r\n\r\n"
	    ".dot\r\n"));
	assert_int_equal(spool_read_all(&r->body, body), 0);
	assert_memory_equal(body, "Subject: x\r\n\r\n.dot\r\n", 20);
	/* size: what DATA rules saw as message_size (Received: + body). */
	assert_int_equal(r->size, buf_unread(&r->headers) - strlen("X-Rule: "
	    "yes\r\n") + 20);
	assert_int_equal(store_request_length(r), buf_unread(&r->headers) + 20);
	store_request_free(r);
	smtp_session_resume_store(s, SMTP_OK, NULL);
	expect_out(s, "250 2.0.0 Ok: queued as 18C2F3A4B5C60001\r\n");
	assert_int_equal(smtp_session_messages(s), 1);
	smtp_session_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_ehlo_plaintext_capabilities),
		cmocka_unit_test(test_auth_plaintext_requires_starttls),
		cmocka_unit_test(test_mail_before_ehlo_503),
		cmocka_unit_test(test_pipelined_mail_rcpt_rcpt_data_in_order),
		cmocka_unit_test(test_starttls_discards_pipelined_plaintext),
		cmocka_unit_test(test_implicit_tls_refuses_starttls),
		cmocka_unit_test(test_auth_plain_initial_response),
		cmocka_unit_test(test_auth_plain_without_initial_response),
		cmocka_unit_test(test_auth_login_exchange),
		cmocka_unit_test(test_auth_star_cancels),
		cmocka_unit_test(test_auth_bad_base64_501),
		cmocka_unit_test(test_auth_failures_close_after_three),
		cmocka_unit_test(test_auth_twice_503),
		cmocka_unit_test(test_auth_unknown_mechanism_504),
		cmocka_unit_test(test_data_dot_unstuffing_and_end),
		cmocka_unit_test(test_data_lf_dot_lf_does_not_end),
		cmocka_unit_test(test_data_defects_550),
		cmocka_unit_test(test_data_long_line_550_keeps_sync),
		cmocka_unit_test(test_data_long_line_bare_lf_dot_does_not_end),
		cmocka_unit_test(test_data_too_big_552),
		cmocka_unit_test(test_mail_size_too_big_552),
		cmocka_unit_test(test_too_many_recipients_452),
		cmocka_unit_test(test_duplicate_recipient_stored_once),
		cmocka_unit_test(test_rcpt_expansion),
		cmocka_unit_test(test_unknown_local_user_550),
		cmocka_unit_test(test_relay_unauthenticated_554),
		cmocka_unit_test(test_resume_store_results),
		cmocka_unit_test(test_overlong_command_500_keeps_sync),
		cmocka_unit_test(test_100k_command_in_pieces_single_500),
		cmocka_unit_test(test_nul_in_command_500),
		cmocka_unit_test(test_bare_lf_cr_in_command_500),
		cmocka_unit_test(test_bare_lf_in_auth_response_500),
		cmocka_unit_test(test_error_limit_421_close),
		cmocka_unit_test(test_http_get_421_close),
		cmocka_unit_test(test_data_improper_pipelining_554_close),
		cmocka_unit_test(test_vrfy_252),
		cmocka_unit_test(test_quit_221_close),
		cmocka_unit_test(test_rset_clears_transaction),
		cmocka_unit_test(test_timeout_421),
		cmocka_unit_test(test_output_throttling),
		cmocka_unit_test(test_policy_refuses_connect),
		cmocka_unit_test(test_policy_refuses_ehlo_mail_data),
		cmocka_unit_test(test_cmd_flags_close_now_and_needs_helo),
		cmocka_unit_test(test_cmd_flags_last_after_checks),
		cmocka_unit_test(test_data_policy_sees_every_recipient),
		cmocka_unit_test(test_store_request_contents),
	};

	return cmocka_run_group_tests_name("smtp_session", tests, NULL, NULL);
}
