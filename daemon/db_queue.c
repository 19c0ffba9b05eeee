/*
 * db_queue.c - delivery's statements on the queue.  See db_queue.h.
 *
 * The message load and the outcomes use binary parameters and results
 * (bodies are bytea; the outcomes are binary arrays, daemon/pgarr.c), so
 * they call PQexecPrepared on the PGconn of db_get() rather than
 * db_exec_prepared(), which is text only.  Outcomes are one statement, or
 * four round trips with a DSN (BEGIN, outcomes, DSN, COMMIT; the DSN only
 * when every outcome matched its lease, else ROLLBACK).
 */
#include "daemon/db_queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/pgarr.h"
#include "daemon/util.h"

static const struct db_stmt stmts[] = {
	{ "claim",
	    "WITH c AS (SELECT message_id, rcpt_no FROM postern.recipients"
	    " WHERE state IN ('queued', 'deferred') AND next_attempt_at <= now()"
	    " AND (lease_expires IS NULL OR lease_expires < now())"
	    " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
	    " UPDATE postern.recipients r SET lease_owner = $1,"
	    " lease_token = $4,"
	    " lease_expires = now() + make_interval(secs => $3::int)"
	    " FROM c WHERE r.message_id = c.message_id AND r.rcpt_no = c.rcpt_no"
	    " RETURNING r.message_id, r.rcpt_no, r.address, r.attempts,"
	    " r.relay_host, r.relay_port, r.relay_tls::text,"
	    " r.relay_tls_versions::text, r.relay_tls_verify, r.bounce_requested",
	    4 },
	/* The message, and (same round trip) the lease renewal of its
	 * recipients this claim still holds, listed in the last column. */
	{ "message",
	    "WITH l AS (UPDATE postern.recipients SET lease_expires = now() +"
	    " make_interval(secs => $3::int) WHERE message_id = $1::bigint"
	    " AND lease_token = $2 AND state IN ('queued', 'deferred')"
	    " RETURNING rcpt_no)"
	    " SELECT m.sender, floor(extract(epoch FROM m.received_at))"
	    "::bigint::text, m.queue_id, b.data, (SELECT coalesce(string_agg("
	    "rcpt_no::text, ','), '') FROM l) FROM postern.messages m"
	    " JOIN postern.bodies b ON b.message_id = m.id"
	    " WHERE m.id = $1::bigint", 3 },
	/* Every lease of one claim, renewed. */
	{ "renew",
	    "UPDATE postern.recipients SET lease_expires = now() +"
	    " make_interval(secs => $2::int) WHERE lease_token = $1", 2 },
	/* Every outcome of one message in one statement (binary arrays),
	 * only where the claim still holds the lease; the numbers of the
	 * rows written come back. */
	{ "outcomes",
	    "UPDATE postern.recipients r SET state = CASE u.o"
	    " WHEN 'delivered' THEN 'delivered'::postern.recipient_state"
	    " WHEN 'bounced' THEN 'bounced'::postern.recipient_state"
	    " ELSE CASE WHEN r.state = 'held' THEN r.state"
	    " ELSE 'deferred'::postern.recipient_state END END,"
	    " delivered_at = CASE WHEN u.o = 'delivered' THEN now()"
	    " ELSE r.delivered_at END, attempts = r.attempts + 1,"
	    " next_attempt_at = CASE WHEN u.o = 'deferred' THEN now() +"
	    " make_interval(secs => u.delay) ELSE r.next_attempt_at END,"
	    " last_reply = u.reply, lease_owner = NULL, lease_expires = NULL,"
	    " lease_token = NULL,"
	    " bounce_requested = CASE WHEN u.o = 'bounced' THEN false"
	    " ELSE r.bounce_requested END, dsn_message_id = CASE WHEN"
	    " u.o = 'bounced' THEN $3::bigint ELSE r.dsn_message_id END,"
	    " updated_at = now() FROM unnest($4::int[], $5::text[],"
	    " $6::text[], $7::int[]) AS u(rcpt_no, o, reply, delay)"
	    " WHERE r.message_id = $1::bigint AND r.rcpt_no = u.rcpt_no"
	    " AND r.lease_token = $2 RETURNING r.rcpt_no", 7 },
	{ "begin_tx", "BEGIN", 0 },
	{ "commit_tx", "COMMIT", 0 },
	{ "dsn_message",
	    "WITH m AS (INSERT INTO postern.messages (id, node, sender, size,"
	    " client_addr, client_helo, listener) VALUES ($1::bigint, $2, '',"
	    " $3::bigint, '127.0.0.1', '', 'dsn')), b AS (INSERT INTO"
	    " postern.bodies (message_id, data) VALUES ($1::bigint, $4::bytea))"
	    " INSERT INTO postern.recipients (message_id, rcpt_no, address)"
	    " VALUES ($1::bigint, 0, $5)", 5 },
	{ "rollback_tx", "ROLLBACK", 0 },
	/* A clean stop hands this node's leases back at once. */
	{ "release",
	    "UPDATE postern.recipients SET lease_owner = NULL,"
	    " lease_expires = NULL, lease_token = NULL WHERE lease_owner = $1"
	    " AND state IN ('queued', 'deferred')", 1 },
	/* Wake the other nodes now, not at their next poll. */
	{ "notify_queue", "SELECT pg_notify('postern_queue', '')", 0 },
};

static const struct db_role role = {
	.name = "delivery",
	.statement_timeout_ms = 60000,
	.backoff_min_ms = 500,
	.backoff_max_ms = 10000,
	.stmts = stmts,
	.nstmts = sizeof(stmts) / sizeof(stmts[0]),
};

struct db *
db_queue_open(void)
{
	return db_open(&role, NULL);
}

/*
 * Runs a prepared statement.  Returns its result when the status is want;
 * otherwise logs what failed (unless quiet), reports a broken connection
 * and returns NULL.  NULL also while the database is unreachable.
 */
static PGresult *
exec(struct db *d, const char *name, int n, const char *const *params,
    const int *lengths, const int *formats, int binary,
    ExecStatusType want, const char *what)
{
	PGconn *conn = db_get(d);
	PGresult *r;

	if (conn == NULL)
		return NULL;
	r = PQexecPrepared(conn, name, n, params, lengths, formats, binary);
	if (PQresultStatus(r) == want)
		return r;
	if (what != NULL)
		log_warnx("delivery: %s failed: %s", what,
		    PQresultErrorMessage(r));
	PQclear(r);
	if (PQstatus(conn) != CONNECTION_OK)
		db_failed(d);
	return NULL;
}

static const char *
nz(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int
db_queue_claim(struct db *d, const char *node, const char *token, int max,
    int lease_s, struct db_queue_rcpt *out)
{
	char batch[16], lease[16];
	const char *params[4] = { node, batch, lease, token };
	PGresult *r;
	int i, n;

	if (db_get(d) == NULL)
		return 0;
	snprintf(batch, sizeof(batch), "%d", max);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	r = exec(d, "claim", 4, params, NULL, NULL, 0, PGRES_TUPLES_OK,
	    "claiming recipients");
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	if (n > max)
		n = max;
	for (i = 0; i < n; i++) {
		struct db_queue_rcpt *q = &out[i];

		memset(q, 0, sizeof(*q));
		q->message_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		q->rcpt_no = atoi(PQgetvalue(r, i, 1));
		str_copy(q->address, PQgetvalue(r, i, 2), sizeof(q->address));
		q->attempts = atoi(PQgetvalue(r, i, 3));
		str_copy(q->relay_host, nz(r, i, 4) ? nz(r, i, 4) : "",
		    sizeof(q->relay_host));
		q->relay_port = nz(r, i, 5) ? atoi(nz(r, i, 5)) : 0;
		q->relay_tls = relay_tls_parse(nz(r, i, 6));
		q->versions = tls_versions_parse(nz(r, i, 7));
		q->verify = nz(r, i, 8) ? nz(r, i, 8)[0] == 't' : -1;
		q->bounce_requested = PQgetvalue(r, i, 9)[0] == 't';
	}
	PQclear(r);
	return n;
}

/* Binary column col of row 0 as a NUL-terminated string in out. */
static void
column(PGresult *r, int col, char *out, size_t outlen)
{
	size_t l = (size_t)PQgetlength(r, 0, col);

	if (l >= outlen)
		l = outlen - 1;
	memcpy(out, PQgetvalue(r, 0, col), l);
	out[l] = '\0';
}

int
db_queue_load(struct db *d, const char *token, int64_t id, int lease_s,
    struct db_queue_msg *m, char *mine, size_t minelen)
{
	char idtxt[32], lease[16], ep[32];
	const char *params[3] = { idtxt, token, lease };
	PGresult *r;
	char what[64];

	memset(m, 0, sizeof(*m));
	mine[0] = '\0';
	snprintf(idtxt, sizeof(idtxt), "%" PRId64, id);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	snprintf(what, sizeof(what), "loading message %" PRId64, id);
	r = exec(d, "message", 3, params, NULL, NULL, 1, PGRES_TUPLES_OK,
	    what);
	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return -1;
	}
	m->id = id;
	/* Binary results: text columns are raw bytes, not NUL-terminated. */
	column(r, 0, m->sender, sizeof(m->sender));
	column(r, 1, ep, sizeof(ep));
	m->received = (time_t)strtoll(ep, NULL, 10);
	column(r, 2, m->qid, sizeof(m->qid));
	m->len = (size_t)PQgetlength(r, 0, 3);
	m->body = xmalloc(m->len + 1);
	memcpy(m->body, PQgetvalue(r, 0, 3), m->len);
	column(r, 4, mine, minelen);
	PQclear(r);
	return 0;
}

/* Runs a statement whose result is not needed.  0 or -1. */
static int
run(struct db *d, const char *name, int n, const char *const *params,
    const int *lengths, const int *formats)
{
	PGresult *r = exec(d, name, n, params, lengths, formats, 0,
	    PGRES_COMMAND_OK, name);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

static int
insert_dsn(struct db *d, const char *node, const struct db_queue_dsn *dsn)
{
	char id[32], size[32];
	const char *params[5] = { id, node, size, (const char *)dsn->data,
	    dsn->rcpt };
	int lengths[5] = { 0, 0, 0, (int)dsn->len, 0 };
	int formats[5] = { 0, 0, 0, 1, 0 };

	snprintf(id, sizeof(id), "%" PRIu64, dsn->id);
	snprintf(size, sizeof(size), "%zu", dsn->len);
	return run(d, "dsn_message", 5, params, lengths, formats);
}

/* The outcomes update; matched[i] says whether o[i] was written (the
 * claim token still held it).  Returns how many were, or -1. */
static int
update_outcomes(struct db *d, const char *token, int64_t message_id,
    const struct db_queue_outcome *o, size_t n, const struct db_queue_dsn *dsn,
    int *matched)
{
	struct pgarr rno, state, reply, delay;
	char mid[32], dsnid[32];
	const char *params[7];
	int lengths[7] = { 0 }, formats[7] = { 0, 0, 0, 1, 1, 1, 1 };
	PGresult *r;
	size_t i;
	int k, rows, rc = -1;

	pgarr_init(&rno, PGARR_OID_INT4);
	pgarr_init(&state, PGARR_OID_TEXT);
	pgarr_init(&reply, PGARR_OID_TEXT);
	pgarr_init(&delay, PGARR_OID_INT4);
	for (i = 0; i < n; i++) {
		pgarr_add_int4(&rno, o[i].rcpt_no);
		pgarr_add_text(&state, o[i].state);
		pgarr_add_text(&reply, o[i].reply);
		pgarr_add_int4(&delay, o[i].delay);
		matched[i] = 0;
	}
	snprintf(mid, sizeof(mid), "%" PRId64, message_id);
	if (dsn != NULL)
		snprintf(dsnid, sizeof(dsnid), "%" PRIu64, dsn->id);
	params[0] = mid;
	params[1] = token;
	params[2] = dsn != NULL ? dsnid : NULL;
	params[3] = (const char *)pgarr_finish(&rno, &lengths[3]);
	params[4] = (const char *)pgarr_finish(&state, &lengths[4]);
	params[5] = (const char *)pgarr_finish(&reply, &lengths[5]);
	params[6] = (const char *)pgarr_finish(&delay, &lengths[6]);
	r = exec(d, "outcomes", 7, params, lengths, formats, 0,
	    PGRES_TUPLES_OK, "recording outcomes");
	if (r != NULL) {
		rows = PQntuples(r);
		rc = 0;
		for (k = 0; k < rows; k++) {
			int no = atoi(PQgetvalue(r, k, 0));

			for (i = 0; i < n; i++)
				if (o[i].rcpt_no == no && !matched[i]) {
					matched[i] = 1;
					rc++;
					break;
				}
		}
		PQclear(r);
	}
	pgarr_free(&rno);
	pgarr_free(&state);
	pgarr_free(&reply);
	pgarr_free(&delay);
	return rc;
}

int
db_queue_outcomes(struct db *d, const char *node, const char *token,
    int64_t message_id, const struct db_queue_outcome *o, size_t n,
    const struct db_queue_dsn *dsn, int *matched)
{
	int k;

	if (db_get(d) == NULL)
		return -1;
	if (dsn == NULL)
		return update_outcomes(d, token, message_id, o, n, NULL, matched);
	if (run(d, "begin_tx", 0, NULL, NULL, NULL) == -1)
		return -1;
	k = update_outcomes(d, token, message_id, o, n, dsn, matched);
	if (k == (int)n) {
		/* Every outcome matched: the DSN goes with them. */
		if (insert_dsn(d, node, dsn) == 0 &&
		    run(d, "commit_tx", 0, NULL, NULL, NULL) == 0)
			return k;
		k = -1;
	} else if (k >= 0)
		k = -2;		/* a lease was lost: no DSN for it */
	if (db_connected(d))
		(void)run(d, "rollback_tx", 0, NULL, NULL, NULL);
	return k;
}

int
db_queue_renew(struct db *d, const char *token, int lease_s)
{
	char lease[16];
	const char *params[2] = { token, lease };
	PGresult *r;
	int n;

	if (db_get(d) == NULL)
		return -1;
	snprintf(lease, sizeof(lease), "%d", lease_s);
	r = exec(d, "renew", 2, params, NULL, NULL, 0, PGRES_COMMAND_OK,
	    "renewing leases");
	if (r == NULL)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	return n;
}

int
db_queue_release(const char *node)
{
	const char *params[1] = { node };
	struct db *d = db_queue_open();
	PGresult *r;
	int n = -1;

	r = exec(d, "release", 1, params, NULL, NULL, 0, PGRES_COMMAND_OK,
	    "releasing leases");
	if (r != NULL) {
		n = atoi(PQcmdTuples(r));
		PQclear(r);
		if (n > 0) {
			r = exec(d, "notify_queue", 0, NULL, NULL, NULL, 0,
			    PGRES_TUPLES_OK, "notifying postern_queue");
			PQclear(r);
		}
	}
	db_close(d);
	return n;
}
