/*
 * delivery_claim.c - the claim piece of delivery: due recipients with a
 * lease (daemon/db_queue.c), each given its domain and route key and
 * sorted by message, route and number so that recipients of one message
 * with one route are adjacent (one SMTP transaction); then, per message,
 * the load that renews the leases and drops recipients this node no
 * longer holds.  See delivery_internal.h.
 */
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
	int i, n;

	n = db_queue_claim(t->db, t->node, max, c->lease_seconds, q);
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
	char mine[8192];
	size_t i, k = 0;

	if (db_queue_load(t->db, t->node, d[0].q.message_id, c->lease_seconds,
	    m, mine, sizeof(mine)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (!held(mine, d[i].q.rcpt_no)) {
			log_info("%s to=<%s> lease lost (expired and taken over,"
			    " or changed); not delivered by this node", m->qid,
			    d[i].q.address);
			continue;
		}
		if (k != i)
			d[k] = d[i];
		k++;
	}
	return (int)k;
}
