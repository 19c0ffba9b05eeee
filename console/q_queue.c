/*
 * q_queue.c - SQL for the Queue screen.  See q_queue.h.
 *
 * Body text: the first Q_BODY_BYTES of postern.bodies.data arrive as
 * bytea hex text (\x...), are decoded here and shown as they are (the
 * pager replaces control characters; invalid UTF-8 shows as '?').
 */
#include "console/q_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Q_BODY_BYTES 8192
#define Q_BODY_LINES 15
#define Q_DETAIL_RCPTS 200

static const char *const q_select =
    "queue_id, received_at, message_id, rcpt_no, state, "
    "floor(extract(epoch FROM now() - received_at))::bigint, size, attempts, "
    "floor(extract(epoch FROM next_attempt_at - now()))::bigint, sender, "
    "address, coalesce(last_reply, ''), bounce_requested, "
    "(lease_owner IS NOT NULL AND lease_expires > now())";

static void
cpy(char *dst, size_t n, const char *src)
{
	model_copy_clean(dst, src ? src : "", n);
}

static void
row_of(PGresult *r, int i, struct q_qrow *q)
{
	cpy(q->queue_id, sizeof(q->queue_id), db_val(r, i, 0));
	cpy(q->key.received_at, sizeof(q->key.received_at), db_val(r, i, 1));
	cpy(q->key.message_id, sizeof(q->key.message_id), db_val(r, i, 2));
	cpy(q->key.rcpt_no, sizeof(q->key.rcpt_no), db_val(r, i, 3));
	cpy(q->state, sizeof(q->state), db_val(r, i, 4));
	q->age = atoll(db_val(r, i, 5));
	q->size = atoll(db_val(r, i, 6));
	q->attempts = atoi(db_val(r, i, 7));
	q->next_in = atoll(db_val(r, i, 8));
	cpy(q->sender, sizeof(q->sender), db_val(r, i, 9));
	cpy(q->rcpt, sizeof(q->rcpt), db_val(r, i, 10));
	cpy(q->reply, sizeof(q->reply), db_val(r, i, 11));
	q->bounce_requested = model_pg_bool(db_val(r, i, 12));
	q->leased = model_pg_bool(db_val(r, i, 13));
}

int
q_queue_page(struct db *db, const struct model_queue_filter *f, int dir,
    const struct model_qkey *key, int limit, struct q_queue_page *out)
{
	struct model_sql *q = malloc(sizeof(*q));
	PGresult *r = NULL;
	int i, n, rc = -1, desc = dir == MODEL_PAGE_BEFORE ||
	    dir == MODEL_PAGE_LAST;

	if (q == NULL) {
		snprintf(db->err, sizeof(db->err), "out of memory");
		return -1;
	}
	if (limit > Q_QUEUE_PAGE_MAX)
		limit = Q_QUEUE_PAGE_MAX;
	if (model_queue_page_sql(f, q_select, dir, key, limit, q) == -1) {
		snprintf(db->err, sizeof(db->err), "filter too long");
		goto out;
	}
	if ((r = db_query(db, q->text, q->nparams, q->param)) == NULL)
		goto out;
	n = PQntuples(r);
	if (n > Q_QUEUE_PAGE_MAX)
		n = Q_QUEUE_PAGE_MAX;
	for (i = 0; i < n; i++)
		row_of(r, i, &out->row[desc ? n - 1 - i : i]);
	out->n = n;
	rc = 0;
out:
	PQclear(r);
	free(q);
	return rc;
}

int
q_queue_count(struct db *db, const struct model_queue_filter *f,
    long long *count)
{
	struct model_sql *q = malloc(sizeof(*q));
	PGresult *r = NULL;
	char cap[32];
	int rc = -1;

	if (q == NULL) {
		snprintf(db->err, sizeof(db->err), "out of memory");
		return -1;
	}
	model_sql_init(q);
	snprintf(cap, sizeof(cap), "%d", Q_QUEUE_COUNT_CAP + 1);
	if (model_sql_add(q, "SELECT count(*) FROM (SELECT 1 FROM "
	    "postern.queue_recipients") == -1 ||
	    model_queue_where(f, q) == -1 ||
	    model_sql_add(q, " LIMIT ") == -1)
		goto toolong;
	{
		char ph[32];
		int k = model_sql_param(q, cap);

		if (k < 0)
			goto toolong;
		snprintf(ph, sizeof(ph), "$%d::integer) s", k);
		if (model_sql_add(q, ph) == -1)
			goto toolong;
	}
	if ((r = db_query(db, q->text, q->nparams, q->param)) == NULL)
		goto out;
	*count = atoll(db_val(r, 0, 0));
	rc = 0;
	goto out;
toolong:
	snprintf(db->err, sizeof(db->err), "filter too long");
out:
	PQclear(r);
	free(q);
	return rc;
}

const char *
q_queue_op_name(enum q_queue_op op)
{
	switch (op) {
	case Q_RETRY: return "queue_retry";
	case Q_HOLD: return "queue_hold";
	case Q_RELEASE: return "queue_release";
	case Q_DELETE: return "queue_delete";
	case Q_BOUNCE: return "queue_bounce";
	}
	return "?";
}

int
q_queue_op(struct db *db, enum q_queue_op op, const char *array,
    long long *changed)
{
	static const char *const sql[] = {
		[Q_RETRY] = "SELECT coalesce(sum(postern.queue_retry(q)), 0) "
		    "FROM unnest($1::text[]) AS q",
		[Q_HOLD] = "SELECT coalesce(sum(postern.queue_hold(q)), 0) "
		    "FROM unnest($1::text[]) AS q",
		[Q_RELEASE] = "SELECT coalesce(sum(postern.queue_release(q)), "
		    "0) FROM unnest($1::text[]) AS q",
		[Q_DELETE] = "SELECT coalesce(sum(postern.queue_delete(q)), 0) "
		    "FROM unnest($1::text[]) AS q",
		[Q_BOUNCE] = "SELECT coalesce(sum(postern.queue_bounce(q)), 0) "
		    "FROM unnest($1::text[]) AS q",
	};
	const char *p[1] = { array };
	PGresult *r = db_query(db, sql[op], 1, p);

	if (r == NULL)
		return -1;
	*changed = atoll(db_val(r, 0, 0));
	PQclear(r);
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Adds the first lines of a bytea value (hex text) to l: the headers,
 * then up to Q_BODY_LINES body lines. */
static void
body_lines(struct model_lines *l, const char *hex)
{
	char *text = malloc(Q_BODY_BYTES + 1), *p, *e;
	size_t n = 0;
	int in_body = 0, body = 0;

	if (text == NULL)
		return;
	if (hex[0] == '\\' && hex[1] == 'x')
		hex += 2;
	while (hex[0] != '\0' && hex[1] != '\0' && n < Q_BODY_BYTES) {
		int h = hexval(hex[0]), lo = hexval(hex[1]);

		if (h < 0 || lo < 0)
			break;
		text[n++] = (char)(h * 16 + lo);
		hex += 2;
	}
	text[n] = '\0';
	for (p = text; *p != '\0' && body < Q_BODY_LINES; p = e + 1) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if (e > p && e[-1] == '\r')
			e[-1] = '\0';
		if (*e == '\n')
			*e = '\0';
		else
			e[0] = '\0', e--;	/* last piece */
		if (in_body)
			body++;
		if (p[0] == '\0' && !in_body)
			in_body = 1;
		if (model_lines_add(l, p) == -1)
			break;
	}
	if (n == Q_BODY_BYTES || body >= Q_BODY_LINES)
		model_lines_add(l, "[...]");
	free(text);
}

int
q_queue_detail(struct db *db, const char *queue_id, struct model_lines *l)
{
	const char *p[1] = { queue_id };
	const char *mp[1];
	char id[32], age[32];
	PGresult *r = NULL;
	int i, rc = -1;

	model_lines_clear(l);
	r = db_query(db, "SELECT m.queue_id, to_char(m.received_at, "
	    "'YYYY-MM-DD HH24:MI:SS TZ'), CASE WHEN m.sender = '' THEN '<>' "
	    "ELSE m.sender END, m.size, m.client_addr, m.client_helo, "
	    "m.listener, m.node, coalesce(m.tls_version || ' ' || "
	    "coalesce(m.tls_cipher, ''), 'no TLS'), coalesce(m.auth_user, "
	    "'-'), m.id, floor(extract(epoch FROM now() - m.received_at))"
	    "::bigint FROM postern.messages m "
	    "WHERE m.id = postern.queue_lookup($1)", 1, p);
	if (r == NULL)
		goto out;
	snprintf(id, sizeof(id), "%s", db_val(r, 0, 10));
	model_lines_addf(l, "Queue id    %s", db_val(r, 0, 0));
	model_lines_addf(l, "Received    %s (%s ago) by node %s on %s",
	    db_val(r, 0, 1), model_fmt_age(age, sizeof(age),
	    atoll(db_val(r, 0, 11))), db_val(r, 0, 7), db_val(r, 0, 6));
	model_lines_addf(l, "Sender      %s", db_val(r, 0, 2));
	model_lines_addf(l, "Size        %s bytes", db_val(r, 0, 3));
	model_lines_addf(l, "Client      %s (EHLO %s), %s, AUTH %s",
	    db_val(r, 0, 4), db_val(r, 0, 5), db_val(r, 0, 8),
	    db_val(r, 0, 9));
	model_lines_add(l, "");
	PQclear(r);
	mp[0] = id;
	r = db_query(db, "SELECT address, state, attempts, CASE WHEN state IN "
	    "('queued', 'deferred') THEN to_char(next_attempt_at, "
	    "'YYYY-MM-DD HH24:MI:SS') ELSE '-' END, coalesce(last_reply, ''), "
	    "postern.route_text(relay_host, relay_port, relay_tls, "
	    "relay_tls_verify), bounce_requested FROM postern.recipients "
	    "WHERE message_id = $1::bigint ORDER BY rcpt_no LIMIT 200", 1, mp);
	if (r == NULL)
		goto out;
	model_lines_addf(l, "Recipients (%d%s)", PQntuples(r),
	    PQntuples(r) == Q_DETAIL_RCPTS ? " shown" : "");
	for (i = 0; i < PQntuples(r); i++) {
		model_lines_addf(l, "  %s  %s%s, %s attempts, next %s, via %s",
		    db_val(r, i, 0), db_val(r, i, 1),
		    model_pg_bool(db_val(r, i, 6)) ? " (bounce requested)" : "",
		    db_val(r, i, 2), db_val(r, i, 3), db_val(r, i, 5));
		if (db_val(r, i, 4)[0] != '\0')
			model_lines_addf(l, "      %s", db_val(r, i, 4));
	}
	model_lines_add(l, "");
	PQclear(r);
	r = db_query(db, "SELECT substring(data FROM 1 FOR 8192) FROM "
	    "postern.bodies WHERE message_id = $1::bigint", 1, mp);
	if (r == NULL)
		goto out;
	if (PQntuples(r) == 0)
		model_lines_add(l, "(no body stored)");
	else {
		model_lines_add(l, "Message (headers and first lines)");
		model_lines_add(l, "---------------------------------");
		body_lines(l, db_val(r, 0, 0));
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int
q_queue_shape(struct db *db, struct q_shape *out)
{
	PGresult *r = db_query(db, "SELECT domain, total, \"0-5m\", "
	    "\"5-10m\", \"10-20m\", \"20-40m\", \"40-80m\", \"80-160m\", "
	    "\"160-320m\", \"320-640m\", \"640m+\" FROM postern.queue_shape "
	    "LIMIT 200", 0, NULL);
	int i, j;

	out->n = 0;
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && i < Q_SHAPE_MAX; i++) {
		cpy(out->row[i].domain, sizeof(out->row[i].domain),
		    db_val(r, i, 0));
		out->row[i].total = atoll(db_val(r, i, 1));
		for (j = 0; j < Q_SHAPE_BUCKETS; j++)
			out->row[i].bucket[j] = atoll(db_val(r, i, 2 + j));
	}
	out->n = i;
	PQclear(r);
	return 0;
}
