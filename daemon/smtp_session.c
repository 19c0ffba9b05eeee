/*
 * smtp_session.c - session life cycle, input framing, replies, requests.
 *
 * Input framing: lines end at LF.  A command (or AUTH response) line must
 * end in CRLF and hold no other CR: a bare LF or bare CR is answered
 * "500 5.5.2 Bare LF/CR in command" and the line is not executed (the SMTP
 * smuggling defence, as Postfix since 2023; an AUTH exchange in progress
 * ends).  A command line longer than its limit is skipped up to the next LF
 * and answered "500 5.5.2 Line too long" so the dialogue stays in sync
 * (docs/style.md rule 9).  In DATA every line, with its exact line ending, goes
 * to smtp_data_line(), which does its own checks.
 *
 * Replies: smtp_reply() writes one (possibly multi-line) reply, counts
 * 4xx/5xx as errors and, at max_errors, ends the session with
 * "421 4.7.0 Too many errors".  Each 4xx/5xx is logged once with the
 * session id.  The output buffer is capped at SMTP_OUT_MAX; a session that
 * would pass it is closed (it cannot happen while the I/O layer honours
 * smtp_session_wants_input).
 */
#include "daemon/smtp_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/log.h"
#include "daemon/queue_id.h"
#include "daemon/util.h"

static const char *const state_names[] = {
	"greeting", "cmd", "auth-plain", "auth-login-user", "auth-login-pass",
	"data", "wait", "closed",
};

struct smtp_session *
smtp_session_new(const struct smtp_params *p, const struct smtp_hooks *h,
    uint64_t id, const char *client_addr, int implicit_tls_done)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	s->p = *p;
	if (h != NULL)
		s->h = *h;
	s->id = id;
	str_copy(s->client_addr, client_addr, sizeof(s->client_addr));
	s->tls = implicit_tls_done;
	buf_init(&s->in, SMTP_IN_MAX);
	buf_init(&s->out, SMTP_OUT_MAX);
	s->state = SMTP_S_GREETING;
	return s;
}

void
smtp_tx_free(struct smtp_session *s)
{
	if (s->tx == NULL)
		return;
	spool_free(&s->tx->body);
	free(s->tx->rcpts);
	free(s->tx);
	s->tx = NULL;
}

void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	smtp_tx_free(s);
	store_request_free(s->store);
	wipe(s->req_pass, sizeof(s->req_pass));
	if (s->in.data != NULL)
		wipe(s->in.data, s->in.cap);
	buf_free(&s->in);
	buf_free(&s->out);
	free(s);
}

void
smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	log_debug("%016" PRIx64 " smtp state %s -> %s", s->id,
	    state_names[s->state], state_names[st]);
	s->state = st;
}

void
smtp_request(struct smtp_session *s, enum smtp_req req)
{
	s->req = req;
	smtp_enter_state(s, req == SMTP_REQ_CLOSE ? SMTP_S_CLOSED : SMTP_S_WAIT);
}

void
smtp_close(struct smtp_session *s, const char *reason)
{
	if (s->close_reason[0] == '\0')
		str_copy(s->close_reason, reason, sizeof(s->close_reason));
	buf_reset(&s->in);
	smtp_request(s, SMTP_REQ_CLOSE);
}

static void
smtp_reply_v(struct smtp_session *s, int code, const char *ecode,
    const char *fmt, va_list ap)
{
	char text[512], esc[300];
	int n;

	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		text[0] = '\0';
	if (buf_printf(&s->out, "%d %s%s%s\r\n", code, ecode ? ecode : "",
	    ecode ? " " : "", text) == -1) {
		/* Output limit reached: the client is not reading. */
		smtp_close(s, "output overflow");
		return;
	}
	if (code >= 400) {
		log_info("%016" PRIx64 " smtp reply client=%s code=%d text=\"%s %s\"",
		    s->id, s->client_addr, code, ecode ? ecode : "",
		    log_escape(esc, sizeof(esc), text, strlen(text)));
		if (code != 421 && ++s->errors >= s->p.max_errors &&
		    s->req != SMTP_REQ_CLOSE) {
			buf_printf(&s->out, "421 4.7.0 %s Too many errors, "
			    "closing connection\r\n", s->p.hostname);
			smtp_close(s, "too many errors");
		}
	}
}

void
smtp_reply(struct smtp_session *s, int code, const char *ecode,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_reply_v(s, code, ecode, fmt, ap);
	va_end(ap);
}

void
smtp_reply_r(struct smtp_session *s, const struct smtp_reply *r)
{
	smtp_reply(s, r->code, r->ecode[0] ? r->ecode : NULL, "%s", r->text);
}

/* The policy view (smtp_session.h) of what the session knows now. */
static void
facts_init(const struct smtp_session *s, struct smtp_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->tls = s->tls;
	f->client_addr = s->client_addr;
	f->listener = s->p.listener;
	f->listener_port = s->p.listener_port;
	f->submission = s->p.submission;
	f->auth_user = s->auth_user;
	f->helo = s->helo;
	if (s->tx != NULL) {
		f->sender = &s->tx->sender;
		f->rcpts = s->tx->rcpts;
		f->nrcpts = s->tx->nrcpts;
		f->size = s->tx->received_len + spool_size(&s->tx->body);
	}
}

enum smtp_result
smtp_policy(struct smtp_session *s, enum smtp_stage stage,
    const struct addr *rcpt, struct buf *headers, struct smtp_verdict *v)
{
	struct smtp_facts f;

	memset(v, 0, sizeof(*v));
	v->headers = headers;
	if (s->h.check == NULL)
		return SMTP_OK;
	facts_init(s, &f);
	f.rcpt = rcpt;
	return s->h.check(s->h.arg, stage, &f, v);
}

unsigned
smtp_auth_mechs(const struct smtp_session *s, int tls)
{
	struct smtp_facts f;

	if (s->h.auth_mechs == NULL)
		return 0;
	facts_init(s, &f);
	f.tls = tls;
	return s->h.auth_mechs(s->h.arg, &f, tls);
}

void
smtp_session_start(struct smtp_session *s, const char *refuse_text)
{
	struct smtp_verdict v;

	if (refuse_text != NULL) {
		smtp_reply(s, 421, "4.3.2", "%s %s", s->p.hostname, refuse_text);
		smtp_close(s, "refused");
		return;
	}
	if (smtp_policy(s, SMTP_STAGE_CONNECT, NULL, NULL, &v) != SMTP_OK) {
		/* RFC 5321 3.1: a 554 greeting, then only QUIT; we close. */
		if (v.reply.code == 0)
			smtp_reply(s, 554, "5.7.1", "%s Access denied",
			    s->p.hostname);
		else
			smtp_reply_r(s, &v.reply);
		smtp_close(s, "refused by policy");
		return;
	}
	smtp_reply(s, 220, NULL, "%s ESMTP postern", s->p.hostname);
	smtp_enter_state(s, SMTP_S_CMD);
}

int
smtp_session_wants_input(const struct smtp_session *s)
{
	return (s->state == SMTP_S_CMD || s->state == SMTP_S_DATA ||
	    s->state == SMTP_S_AUTH_PLAIN || s->state == SMTP_S_AUTH_LOGIN_USER ||
	    s->state == SMTP_S_AUTH_LOGIN_PASS) &&
	    buf_unread(&s->out) < SMTP_OUT_HIGH &&
	    buf_unread(&s->in) < SMTP_IN_MAX / 2;
}

static size_t
line_limit(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_S_DATA:
		return SMTP_DATA_LINE_MAX;
	case SMTP_S_AUTH_PLAIN:
	case SMTP_S_AUTH_LOGIN_USER:
	case SMTP_S_AUTH_LOGIN_PASS:
		return SMTP_AUTH_LINE_MAX;
	case SMTP_S_CMD:
		/* AUTH with an initial response may be long (RFC 4954 4);
		 * other commands are held to SMTP_CMD_MAX in smtp_line(). */
		return SMTP_AUTH_LINE_MAX;
	case SMTP_S_GREETING:
	case SMTP_S_WAIT:
	case SMTP_S_CLOSED:
		break;
	}
	fatalx("smtp: reading a line in state %s", state_names[s->state]);
}

/* One complete line (with its LF) at buf_data(&s->in), len bytes. */
static void
smtp_line(struct smtp_session *s, char *line, size_t len, int overlong)
{
	size_t n = len;

	if (s->state == SMTP_S_DATA) {
		smtp_data_line(s, line, len, overlong);
		return;
	}
	if (overlong) {
		smtp_reply(s, 500, "5.5.2", "Line too long");
		return;
	}
	/* SMTP smuggling (2023): a command line must end in CRLF and hold no
	 * other CR, or a peer that frames lines differently could be made to
	 * see commands we did not (and the reverse). */
	if (n < 2 || line[n - 2] != '\r' ||
	    memchr(line, '\r', n - 2) != NULL) {
		int lf = n < 2 || line[n - 2] != '\r';

		smtp_reply(s, 500, "5.5.2", "Bare %s in command (lines must "
		    "end with CRLF, RFC 5321 2.3.8)", lf ? "LF" : "CR");
		if (s->state != SMTP_S_CMD)
			smtp_enter_state(s, SMTP_S_CMD);	/* AUTH ends */
		return;
	}
	n -= 2;
	line[n] = '\0';
	if (memchr(line, '\0', n) != NULL) {
		smtp_reply(s, 500, "5.5.2", "NUL character not allowed in command");
		return;
	}
	switch (s->state) {
	case SMTP_S_CMD:
		if (n + 2 > SMTP_CMD_MAX && !str_iprefix(line, "AUTH ")) {
			smtp_reply(s, 500, "5.5.2", "Line too long");
			return;
		}
		smtp_cmd_line(s, line, n);
		break;
	case SMTP_S_AUTH_PLAIN:
	case SMTP_S_AUTH_LOGIN_USER:
	case SMTP_S_AUTH_LOGIN_PASS:
		smtp_auth_line(s, line, n);
		wipe(line, n);
		break;
	case SMTP_S_DATA:
	case SMTP_S_GREETING:
	case SMTP_S_WAIT:
	case SMTP_S_CLOSED:
		/* DATA returned above; the others read no input. */
		fatalx("smtp: command line in state %s", state_names[s->state]);
	}
}

void
smtp_session_process(struct smtp_session *s)
{
	/* Bounded: every iteration consumes at least one byte or stops. */
	while (buf_unread(&s->in) > 0) {
		const uint8_t *d = buf_data(&s->in);
		size_t avail = buf_unread(&s->in), limit, len;
		const uint8_t *lf;
		int crlf;
		char nl[3] = "\r\n";

		if (!(s->state == SMTP_S_CMD || s->state == SMTP_S_DATA ||
		    s->state == SMTP_S_AUTH_PLAIN ||
		    s->state == SMTP_S_AUTH_LOGIN_USER ||
		    s->state == SMTP_S_AUTH_LOGIN_PASS))
			break;
		if (buf_unread(&s->out) >= SMTP_OUT_HIGH)
			break;
		limit = line_limit(s);
		lf = memchr(d, '\n', avail);
		if (s->skipping) {
			if (lf == NULL) {
				/* 2: the last dropped byte was a CR. */
				s->skipping = d[avail - 1] == '\r' ? 2 : 1;
				buf_consume(&s->in, avail);
				break;
			}
			len = (size_t)(lf - d) + 1;
			crlf = lf > d ? lf[-1] == '\r' : s->skipping == 2;
			buf_consume(&s->in, len);
			s->skipping = 0;
			/* Report the overlong line once, at its end, with its
			 * line ending (DATA needs it to find CRLF.CRLF). */
			smtp_line(s, crlf ? nl : nl + 1, crlf ? 2 : 1, 1);
			continue;
		}
		if (lf == NULL) {
			if (avail > limit) {
				/* Overlong and unterminated: drop what we
				 * have, keep skipping until LF.  In DATA the
				 * dropped text is counted as a defect. */
				s->skipping = d[avail - 1] == '\r' ? 2 : 1;
				buf_consume(&s->in, avail);
				continue;
			}
			break;
		}
		len = (size_t)(lf - d) + 1;
		if (len > limit) {
			crlf = d[len - 2] == '\r';
			buf_consume(&s->in, len);
			smtp_line(s, crlf ? nl : nl + 1, crlf ? 2 : 1, 1);
			continue;
		}
		{
			char line[SMTP_AUTH_LINE_MAX + 2];

			memcpy(line, d, len);
			line[len] = '\0';
			buf_consume(&s->in, len);
			smtp_line(s, line, len, 0);
			if (s->state != SMTP_S_DATA)
				wipe(line, len);
		}
	}
	buf_compact(&s->in);
}

int
smtp_session_feed(struct smtp_session *s, const void *p, size_t n)
{
	if (s->state == SMTP_S_CLOSED)
		return 0;
	if (buf_append(&s->in, p, n) == -1)
		return -1;
	smtp_session_process(s);
	return 0;
}

void
smtp_session_tls_started(struct smtp_session *s, const char *version,
    const char *cipher)
{
	s->tls = 1;
	str_copy(s->tls_version, version, sizeof(s->tls_version));
	str_copy(s->tls_cipher, cipher, sizeof(s->tls_cipher));
	s->req = SMTP_REQ_NONE;
	if (s->state == SMTP_S_GREETING) {
		/* Implicit TLS: the greeting comes after the handshake. */
		smtp_session_start(s, NULL);
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before TLS. */
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->auth_user[0] = '\0';
	smtp_tx_free(s);
	smtp_enter_state(s, SMTP_S_CMD);
}

void
smtp_session_timeout(struct smtp_session *s)
{
	smtp_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->p.hostname);
	smtp_close(s, "timeout");
}

void
smtp_session_lifetime_over(struct smtp_session *s)
{
	smtp_reply(s, 421, "4.4.2", "%s Error: session lifetime exceeded",
	    s->p.hostname);
	smtp_close(s, "lifetime exceeded");
}

void
smtp_session_early_talker(struct smtp_session *s)
{
	/* RFC 5321 4.3.1: the client waits for the greeting. */
	smtp_reply(s, 554, "5.5.1", "%s Error: client sent data before the "
	    "greeting (RFC 5321 4.3.1)", s->p.hostname);
	smtp_close(s, "early talker");
}

int
smtp_session_line_pending(const struct smtp_session *s)
{
	return buf_unread(&s->in) > 0 || s->skipping;
}

void
smtp_session_shutdown(struct smtp_session *s)
{
	smtp_reply(s, 421, "4.3.2", "%s Service shutting down", s->p.hostname);
	smtp_close(s, "shutdown");
}

int
smtp_received(const struct smtp_session *s, const char *rcpt_hint, char *dst,
    size_t n)
{
	char qid[17], date[64], helo[200], tlsinfo[200] = "";
	const char *proto;
	time_t now = time(NULL);
	struct tm tm;
	int r;

	queue_id_format(s->tx != NULL ? s->tx->id : 0, qid);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	log_escape(helo, sizeof(helo), s->helo, strlen(s->helo));
	if (s->tls)
		proto = s->auth_user[0] ? "ESMTPSA" : "ESMTPS";
	else if (s->esmtp)
		proto = s->auth_user[0] ? "ESMTPA" : "ESMTP";
	else
		proto = "SMTP";
	if (s->tls)
		snprintf(tlsinfo, sizeof(tlsinfo),
		    "\r\n\t(using %s with cipher %s)", s->tls_version,
		    s->tls_cipher);
	r = snprintf(dst, n, "Received: from %s ([%s])%s\r\n\tby %s (postern)"
	    " with %s id %s%s%s%s;\r\n\t%s\r\n", helo, s->client_addr, tlsinfo,
	    s->p.hostname, proto, qid, rcpt_hint ? "\r\n\tfor <" : "",
	    rcpt_hint ? rcpt_hint : "", rcpt_hint ? ">" : "", date);
	if (r < 0 || (size_t)r >= n)
		return -1;
	return r;
}

enum smtp_req
smtp_session_request(const struct smtp_session *s)
{
	return s->req;
}

struct store_request *
smtp_session_take_store(struct smtp_session *s)
{
	struct store_request *r = s->store;

	s->store = NULL;
	return r;
}

const char *
smtp_session_auth_user(const struct smtp_session *s)
{
	return s->req_user;
}

const char *
smtp_session_auth_pass(const struct smtp_session *s)
{
	return s->req_pass;
}

unsigned
smtp_session_auth_failures(const struct smtp_session *s)
{
	return s->auth_failures;
}

const char *
smtp_session_close_reason(const struct smtp_session *s)
{
	return s->close_reason[0] != '\0' ? s->close_reason : "closed";
}

const void *
smtp_session_output(const struct smtp_session *s, size_t *len)
{
	*len = buf_unread(&s->out);
	/* An empty buffer may have no memory at all. */
	return *len > 0 ? buf_data(&s->out) : (const void *)"";
}

void
smtp_session_output_done(struct smtp_session *s, size_t n)
{
	buf_consume(&s->out, n);
	if (buf_unread(&s->out) == 0)
		buf_compact(&s->out);
}

size_t
smtp_session_input_held(const struct smtp_session *s)
{
	return buf_unread(&s->in);
}

uint64_t
smtp_session_id(const struct smtp_session *s)
{
	return s->id;
}

int
smtp_session_in_data(const struct smtp_session *s)
{
	return s->state == SMTP_S_DATA;
}

int
smtp_session_closing(const struct smtp_session *s)
{
	return s->state == SMTP_S_CLOSED;
}

uint64_t
smtp_session_messages(const struct smtp_session *s)
{
	return s->msgs;
}
