/*
 * smtp_data.c - the DATA phase (RFC 5321 4.1.4, 4.5.2, 4.5.3.1.6).
 *
 * At the 354 the session makes its Received: line (kept aside, it goes on
 * top of the stored message), then writes every message line dot-unstuffed
 * into the transaction's spool.  The message ends only at
 * CRLF "." CRLF.  Defects do not end the data early (that would desync the
 * dialogue); the first one is remembered and reported at the end instead of
 * queueing the message:
 *   bare LF or bare CR anywhere (RFC 5321 2.3.8; SMTP smuggling)
 *       -> 550 5.6.0
 *   a line over 1000 octets incl. CRLF -> 550 5.6.0
 *   a NUL octet -> 550 5.6.0
 *   more than max_size octets -> 552 5.3.4 (the rest is read and dropped)
 *   spool I/O failure -> 451 4.3.0
 * Without defects the check hook is consulted (rules at DATA: size
 * conditions, added headers); then the session builds the store request
 * (store_request.h: envelope, origin, the rules' headers then Received:,
 * the spool) and asks for SMTP_REQ_STORE; the 250 is sent by
 * smtp_session_resume_store() only once the I/O layer reports the COMMIT.
 */
#include "daemon/smtp_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/queue_id.h"
#include "daemon/util.h"

static void
data_defect(struct smtp_tx *tx, int what)
{
	if (tx->bad == SMTP_DATA_OK)
		tx->bad = what;
}

void
smtp_data_begin(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	int n;

	if (s->h.new_id != NULL)
		tx->id = s->h.new_id(s->h.arg);
	n = smtp_received(s, tx->nrcpts == 1 ? tx->rcpts[0].addr.addr : NULL,
	    tx->received, sizeof(tx->received));
	tx->received_len = n > 0 ? (size_t)n : 0;
	tx->at_bol = 1;
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	smtp_enter_state(s, SMTP_S_DATA);
}

/* The store request for the transaction, with the rules' header lines
 * rh: everything moves out of the transaction except its id (for the
 * reply). */
static struct store_request *
store_request_make(struct smtp_session *s, const struct buf *rh)
{
	struct store_request *r = xcalloc(1, sizeof(*r));
	struct smtp_tx *tx = s->tx;

	buf_init(&r->headers, SMTP_HEADERS_MAX + SMTP_RECEIVED_MAX);
	/* Both fit: rh is bounded by SMTP_HEADERS_MAX, Received: by
	 * SMTP_RECEIVED_MAX. */
	if ((buf_unread(rh) > 0 && buf_append(&r->headers, buf_data(rh),
	    buf_unread(rh)) == -1) ||
	    buf_append(&r->headers, tx->received, tx->received_len) == -1)
		fatalx("smtp: store request headers overflow");
	r->id = tx->id;
	r->session_id = s->id;
	r->sender = tx->sender;
	r->declared_size = tx->declared_size;
	r->rcpts = tx->rcpts;
	r->nrcpts = tx->nrcpts;
	tx->rcpts = NULL;
	tx->nrcpts = tx->cap_rcpts = 0;
	str_copy(r->client_addr, s->client_addr, sizeof(r->client_addr));
	str_copy(r->helo, s->helo, sizeof(r->helo));
	str_copy(r->listener, s->p.listener, sizeof(r->listener));
	if (s->tls) {
		str_copy(r->tls_version, s->tls_version, sizeof(r->tls_version));
		str_copy(r->tls_cipher, s->tls_cipher, sizeof(r->tls_cipher));
	}
	str_copy(r->auth_user, s->auth_user, sizeof(r->auth_user));
	r->size = tx->received_len + spool_size(&tx->body);
	r->body = tx->body;
	spool_init(&tx->body);
	return r;
}

/* No defect: policy at DATA, then the store request. */
static void
data_accept(struct smtp_session *s)
{
	struct smtp_verdict v;
	struct buf rh;

	buf_init(&rh, SMTP_HEADERS_MAX);
	if (smtp_policy(s, SMTP_STAGE_DATA, NULL, &rh, &v) != SMTP_OK) {
		buf_free(&rh);
		if (v.reply.code == 0)
			smtp_reply(s, 550, "5.7.1", "Message refused by policy");
		else
			smtp_reply_r(s, &v.reply);
		smtp_tx_free(s);
		return;
	}
	s->store = store_request_make(s, &rh);
	buf_free(&rh);
	smtp_request(s, SMTP_REQ_STORE);
}

static void
data_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	smtp_enter_state(s, SMTP_S_CMD);
	switch (tx->bad) {
	case SMTP_DATA_OK:
		data_accept(s);
		return;
	case SMTP_DATA_BARE_LF:
		smtp_reply(s, 550, "5.6.0", "Message contains bare LF "
		    "(lines must end with CRLF, RFC 5321 2.3.8)");
		break;
	case SMTP_DATA_BARE_CR:
		smtp_reply(s, 550, "5.6.0", "Message contains bare CR "
		    "(RFC 5321 2.3.8)");
		break;
	case SMTP_DATA_LONG_LINE:
		smtp_reply(s, 550, "5.6.0", "Message contains a line longer "
		    "than 1000 octets (RFC 5321 4.5.3.1.6)");
		break;
	case SMTP_DATA_NUL:
		smtp_reply(s, 550, "5.6.0", "Message contains NUL octets");
		break;
	case SMTP_DATA_TOO_BIG:
		smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed maximum "
		    "message size (%" PRIu64 " bytes)", s->p.max_size);
		break;
	case SMTP_DATA_IOERR:
		smtp_reply(s, 451, "4.3.0", "Local error writing message, "
		    "try again later");
		break;
	default:
		fatalx("smtp: unknown DATA defect %d", tx->bad);
	}
	smtp_tx_free(s);
}

void
smtp_data_line(struct smtp_session *s, const char *line, size_t len,
    int overlong)
{
	struct smtp_tx *tx = s->tx;
	size_t body = len;
	int crlf = 0;

	if (overlong) {
		/* line is only the overlong line's ending, "\r\n" or "\n". */
		data_defect(tx, SMTP_DATA_LONG_LINE);
		tx->at_bol = len >= 2 && line[len - 2] == '\r';
		return;
	}
	/* len >= 1 and line[len-1] == '\n'. */
	if (len >= 2 && line[len - 2] == '\r') {
		crlf = 1;
		body = len - 2;
	} else {
		body = len - 1;
	}
	/* The end is CRLF "." CRLF: the line before must have ended in CRLF
	 * too, so "\n.\r\n" does not end the data (SMTP smuggling). */
	if (crlf && body == 1 && line[0] == '.' && tx->at_bol) {
		data_end(s);
		return;
	}
	tx->at_bol = crlf;
	if (!crlf)
		data_defect(tx, SMTP_DATA_BARE_LF);
	if (memchr(line, '\r', body) != NULL)
		data_defect(tx, SMTP_DATA_BARE_CR);
	if (memchr(line, '\0', body) != NULL)
		data_defect(tx, SMTP_DATA_NUL);
	/* RFC 5321 4.5.2: remove one leading dot. */
	if (body > 0 && line[0] == '.') {
		line++;
		len--;
	}
	tx->raw_size += len;
	if (tx->raw_size > s->p.max_size) {
		data_defect(tx, SMTP_DATA_TOO_BIG);
		return;
	}
	if (tx->bad != SMTP_DATA_OK)
		return;	/* no point storing a message we will refuse */
	if (crlf) {
		if (spool_append(&tx->body, line, len) == -1)
			data_defect(tx, SMTP_DATA_IOERR);
	}
}

void
smtp_session_resume_store(struct smtp_session *s, enum smtp_result r,
    const char *detail)
{
	char qid[17];

	s->req = SMTP_REQ_NONE;
	smtp_enter_state(s, SMTP_S_CMD);
	/* Normally taken by the I/O layer; never kept past the reply. */
	store_request_free(s->store);
	s->store = NULL;
	if (s->tx == NULL)
		return;
	queue_id_format(s->tx->id, qid);
	switch (r) {
	case SMTP_OK:
		s->msgs++;
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", qid);
		break;
	case SMTP_TEMPFAIL:
		smtp_reply(s, 451, "4.3.0", "Error: queue file write error%s%s",
		    detail ? ": " : "", detail ? detail : "");
		break;
	case SMTP_PERMFAIL:
		smtp_reply(s, 554, "5.3.0", "Error: message refused%s%s",
		    detail ? ": " : "", detail ? detail : "");
		break;
	}
	smtp_tx_free(s);
	smtp_session_process(s);
}
