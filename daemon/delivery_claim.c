/*
 * delivery_claim.c - the claim piece of delivery: due recipients with a
 * lease (daemon/db_queue.c), each given its domain and route key and
 * sorted by message, route and number so that recipients of one message
 * with one route are adjacent (one SMTP transaction); then, per message,
 * the load that renews the leases and drops recipients this claim no
 * longer holds; and the renewal of every lease of the claim before a wait
 * that could outlast it.  See delivery_internal.h.
 *
 * A claim's token is "node/incarnation/thread.claim": the node name is
 * unique among live processes (the name lock), the incarnation among the
 * runs under that name (postern.node_register), the thread number within
 * the process and the claim number within the thread.  So no two claims
 * ever share a token, and a lease taken over by another claim, even of
 * the same node, is never written by the first.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/delivery_internal.h"
#include "daemon/log.h"
#include "daemon/util.h"

static int
cmp_rcpt(const void *a, const void *b)
{
	const struct dlv_rcpt *x = a, *y = b;
	int k;

	if (x->q.message_id != y->q.message_id)
		return x->q.message_id < y->q.message_id ? -1 : 1;
	k = strcmp(x->key, y->key);
	if (k != 0)
		return k;
	return x->q.rcpt_no - y->q.rcpt_no;
}

/* Claims due recipients.  Returns the number claimed, or -1. */
int
dlv_claim(struct dlv_thread *t, const struct config *c, struct dlv_rcpt *out,
    int max)
{
	struct db_queue_rcpt *q = xcalloc((size_t)max, sizeof(*q));
	int64_t t0 = now_ms();
	int i, n;

	snprintf(t->token, sizeof(t->token), "%s/%" PRId64 "/%d.%" PRIu64,
	    t->node, t->incarnation, t->no, ++t->claims);
	t->lease_s = c->lease_seconds;
	n = db_queue_claim(t->db, t->node, t->token, max, c->lease_seconds, q);
	t->lease_until = t0 + (int64_t)c->lease_seconds * 1000;
	for (i = 0; i < n; i++) {
		struct dlv_rcpt *d = &out[i];
		const char *at;

		memset(d, 0, sizeof(*d));
		d->q = q[i];
		at = strrchr(d->q.address, '@');
		str_copy(d->domain, at ? at + 1 : "", sizeof(d->domain));
		str_lower(d->domain);
		dlv_route_key(c, d);
	}
	free(q);
	if (n > 0)
		qsort(out, (size_t)n, sizeof(*out), cmp_rcpt);
	return n;
}

/* 1 when rcpt_no is in mine ("0,2,3"). */
static int
held(const char *mine, int rcpt_no)
{
	const char *p = mine;

	while (*p != '\0') {
		char *end = NULL;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (v == rcpt_no)
			return 1;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/*
 * Loads the message of d[0..n) (all of one message) and keeps at the
 * front of d the recipients whose lease the load renewed, so that a batch
 * taking longer than lease_seconds is not taken over by another node
 * while this one still works on it.  A recipient whose lease this node no
 * longer holds (it expired and another node claimed it, or an
 * administrator changed the row) is dropped.  Returns how many remain, or
 * -1 when the message could not be loaded (deleted meanwhile, or the
 * database is gone: leases expire and the rows, if any, come back).
 */
int
dlv_load(struct dlv_thread *t, const struct config *c,
    struct db_queue_msg *m, struct dlv_rcpt *d, size_t n)
{
	char mine[8192], esc[ADDR_MAX * 4 + 8];
	size_t i, k = 0;

	if (db_queue_load(t->db, t->token, d[0].q.message_id, c->lease_seconds,
	    m, mine, sizeof(mine)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (!held(mine, d[i].q.rcpt_no)) {
			log_info("%s to=<%s> lease lost (expired and taken over,"
			    " or changed); not delivered by this claim", m->qid,
			    log_escape(esc, sizeof(esc), d[i].q.address,
			    strlen(d[i].q.address)));
			continue;
		}
		if (k != i)
			d[k] = d[i];
		k++;
	}
	return (int)k;
}

/*
 * Renews every lease of the current claim when it could run out within
 * seconds (plus 5 s for the clocks and the round trip); lease_until is
 * counted from before the statement, so it never overstates the lease.
 * Nothing between claims.  A failure is logged by db_queue.c; the next
 * wait tries again.
 */
void
dlv_renew(struct dlv_thread *t, int seconds)
{
	int64_t t0 = now_ms();

	if (t->token[0] == '\0' ||
	    t0 + ((int64_t)seconds + 5) * 1000 <= t->lease_until)
		return;
	if (db_queue_renew(t->db, t->token, t->lease_s) >= 0)
		t->lease_until = t0 + (int64_t)t->lease_s * 1000;
}

/* The SMTP client's before_wait hook (struct smtp_client_params). */
void
dlv_before_wait(void *arg, int seconds)
{
	dlv_renew(arg, seconds);
}
