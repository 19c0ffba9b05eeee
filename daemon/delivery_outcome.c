/*
 * delivery_outcome.c - the outcome piece of delivery: what a reply means
 * for a recipient, and the write of every outcome of one message.
 *
 * Outcomes (RFC 5321 4.2.1, 4.5.4.1):
 *   2xx                      -> delivered
 *   4xx, no answer, DNS temp -> deferred; next attempt after
 *                               min(retry_initial * 2^(attempts-1), retry_max)
 *   5xx, NXDOMAIN, null MX   -> bounced (RFC 7505: 556 5.1.10)
 *   deferred past queue_lifetime -> bounced, status 4.4.7
 * Bounces of one message make one DSN (daemon/dsn.c, not for a null
 * sender), written in the same transaction as the outcomes
 * (daemon/db_queue.c), only where this claim still holds the lease (the
 * DSN only when every one of them matched).  Every outcome is logged as
 * one line per recipient, after the write, its fields escaped:
 *   QUEUEID to=<rcpt> relay=host[addr]:port tls=... delay=S dsn=X.Y.Z
 *   status=sent|deferred|bounced (reply)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/buf.h"
#include "daemon/delivery_internal.h"
#include "daemon/dsn.h"
#include "daemon/log.h"
#include "daemon/queue_id.h"
#include "daemon/smtp_session.h"
#include "daemon/util.h"

void
dlv_set_outcome(struct dlv_rcpt *d, int code, const char *ecode, const char *text,
    const char *relay, const char *tls)
{
	d->out = code >= 200 && code < 300 ? OUT_DELIVERED :
	    code >= 500 && code < 600 ? OUT_BOUNCE : OUT_DEFER;
	if (ecode != NULL && ecode[0] != '\0')
		str_copy(d->status, ecode, sizeof(d->status));
	else
		snprintf(d->status, sizeof(d->status), "%d.0.0",
		    code >= 200 && code < 600 ? code / 100 : 4);
	if (code > 0)
		snprintf(d->reply, sizeof(d->reply), "%d %s%s%s", code,
		    ecode && ecode[0] ? ecode : "", ecode && ecode[0] ? " " : "",
		    text);
	else
		str_copy(d->reply, text, sizeof(d->reply));
	str_copy(d->relay, relay, sizeof(d->relay));
	str_copy(d->tls, tls ? tls : "", sizeof(d->tls));
}

static int64_t
retry_delay(const struct config *c, int attempts)
{
	int64_t d = c->retry_initial;
	int i;

	for (i = 1; i < attempts && d < c->retry_max; i++)
		d *= 2;
	return d > c->retry_max ? c->retry_max : d;
}

/* Every field a client or a remote party chose (the address, the relay
 * host from DNS or the rules, the TLS text, the reply) goes through
 * log_escape(), as in the session's logs. */
static void
log_outcome(const struct db_queue_msg *m, const struct dlv_rcpt *d)
{
	char esc[700], to[ADDR_MAX * 4 + 8], relay[sizeof(d->relay) * 4],
	    tls[sizeof(d->tls) * 4];
	double delay = difftime(time(NULL), m->received);

	log_escape(to, sizeof(to), d->q.address, strlen(d->q.address));
	log_escape(relay, sizeof(relay), d->relay, strlen(d->relay));
	log_escape(tls, sizeof(tls), d->tls, strlen(d->tls));
	log_info("%s to=<%s> relay=%s%s%s delay=%.0f dsn=%s status=%s (%s)",
	    m->qid, to, relay[0] ? relay : "none", tls[0] ? " tls=" : "", tls,
	    delay, d->status, d->out == OUT_DELIVERED ? "sent" :
	    d->out == OUT_BOUNCE ? "bounced" : "deferred",
	    log_escape(esc, sizeof(esc), d->reply, strlen(d->reply)));
}

/* An outcome not written: the claim no longer held the lease. */
static void
log_lost(const struct db_queue_msg *m, const struct dlv_rcpt *d)
{
	char to[ADDR_MAX * 4 + 8];

	log_warnx("%s to=<%s> lease lost before the outcome was recorded "
	    "(taken over by another claim, or changed by an administrator); "
	    "outcome not recorded: %s", m->qid, log_escape(to, sizeof(to),
	    d->q.address, strlen(d->q.address)), d->out == OUT_DELIVERED ?
	    "sent" : d->out == OUT_BOUNCE ? "bounced" : "deferred");
}

/* Deferred past queue_lifetime -> bounced (4.4.7). */
static void
expire(const struct config *c, const struct db_queue_msg *m,
    struct dlv_rcpt *d, time_t now)
{
	char last[600];

	if (d->out != OUT_DEFER || now - m->received < c->queue_lifetime)
		return;
	str_copy(last, d->reply, sizeof(last));
	snprintf(d->reply, sizeof(d->reply), "message expired after %d s in "
	    "the queue; last reply: %.500s", c->queue_lifetime, last);
	str_copy(d->status, "4.4.7", sizeof(d->status));
	d->out = OUT_BOUNCE;
}

/* The DSN for the bounced recipients of m into dsn.  0 when one was
 * made (the sender is not null and the build worked), -1 otherwise. */
static int
make_dsn(const struct config *c, const struct db_queue_msg *m,
    const struct dlv_rcpt *d, size_t n, time_t now, struct buf *dsn)
{
	struct dsn_rcpt drc[DLV_MAX_BATCH];
	struct dsn_params p;
	size_t i, nb = 0;

	for (i = 0; i < n && nb < DLV_MAX_BATCH; i++) {
		if (d[i].out != OUT_BOUNCE)
			continue;
		drc[nb].address = d[i].q.address;
		drc[nb].status = d[i].status;
		drc[nb].diagnostic = d[i].reply;
		drc[nb].remote_mta = strcmp(d[i].relay, "local") == 0 ? NULL :
		    d[i].relay;
		nb++;
	}
	if (nb == 0 || m->sender[0] == '\0')
		return -1;
	memset(&p, 0, sizeof(p));
	p.reporting_mta = c->hostname;
	p.from_name = c->bounce_sender_name;
	p.queue_id = m->qid;
	p.sender = m->sender;
	p.arrival = m->received;
	p.now = now;
	p.original = m->body;
	p.original_len = m->len;
	p.rcpts = drc;
	p.nrcpts = nb;
	if (dsn_build(&p, dsn) == 0)
		return 0;
	log_warnx("%s: cannot build the DSN", m->qid);
	return -1;
}

/*
 * Writes the outcomes of one message's recipients (and its DSN) in one
 * transaction, then logs them.  Only outcomes whose lease the claim still
 * holds are written; when a DSN was made and some bounced recipient's
 * lease is gone, nothing is written, those recipients are dropped and the
 * DSN is made again for the rest (each round drops at least one, so at
 * most n + 1 rounds).
 */
void
dlv_finish(struct dlv_thread *t, const struct config *c,
    const struct db_queue_msg *m, struct dlv_rcpt *d, size_t n)
{
	static const char *const oname[] = { "deferred", "delivered",
	    "deferred", "bounced" };
	struct db_queue_outcome *o = xcalloc(n ? n : 1, sizeof(*o));
	int *matched = xcalloc(n ? n : 1, sizeof(*matched));
	struct db_queue_dsn dsn;
	time_t now = time(NULL);
	struct buf b;
	size_t i, k;
	int made, rc;

	buf_init(&b, (size_t)c->max_message_size + 65536);
	for (i = 0; i < n; i++)
		expire(c, m, &d[i], now);
	for (;;) {
		buf_reset(&b);
		made = make_dsn(c, m, d, n, now, &b) == 0;
		if (made) {
			dsn.id = queue_id_new();
			dsn.data = buf_data(&b);
			dsn.len = buf_unread(&b);
			dsn.rcpt = m->sender;
		}
		for (i = 0; i < n; i++) {
			o[i].rcpt_no = d[i].q.rcpt_no;
			o[i].state = oname[d[i].out];
			o[i].reply = d[i].reply;
			o[i].delay = (int32_t)retry_delay(c, d[i].q.attempts + 1);
		}
		rc = db_queue_outcomes(t->db, t->node, t->token, m->id, o, n,
		    made ? &dsn : NULL, matched);
		if (rc != -2)
			break;
		for (i = k = 0; i < n; i++) {
			if (!matched[i]) {
				log_lost(m, &d[i]);
				continue;
			}
			if (k != i)
				d[k] = d[i];
			k++;
		}
		if (k == n)
			fatalx("dlv_finish: outcomes refused with every lease held");
		n = k;
	}
	if (rc == -1) {
		log_warnx("%s: recording delivery outcomes failed; the "
		    "recipients will be retried after their lease expires",
		    m->qid);
	} else {
		for (i = 0; i < n; i++) {
			if (matched[i])
				log_outcome(m, &d[i]);
			else
				log_lost(m, &d[i]);
		}
		if (made) {
			char q[17];

			queue_id_format(dsn.id, q);
			log_info("%s: sender non-delivery notification: %s",
			    m->qid, q);
		}
	}
	free(matched);
	free(o);
	buf_free(&b);
}
