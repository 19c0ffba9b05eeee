/*
 * committer.c - group commit to PostgreSQL.  See committer.h.
 *
 * Each thread: wait for jobs; take all waiting (bounded); build 14 binary
 * array parameters; PQexecPrepared the batch statement; call completions.
 * A broken connection is reset with a bounded backoff (0.1 s doubling to
 * 5 s); jobs that arrive meanwhile fail at once with TEMPFAIL instead of
 * waiting, so clients are never held beyond a command timeout.
 */
#include "daemon/committer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "daemon/log.h"
#include "daemon/pgarr.h"
#include "daemon/vocab.h"
#include "daemon/util.h"

static const char store_sql[] =
    "WITH m AS (INSERT INTO postern.messages (id, node, sender, size,"
    " client_addr, client_helo, listener, tls_version, tls_cipher, auth_user)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])),"
    " b AS (INSERT INTO postern.bodies (message_id, data)"
    " SELECT * FROM unnest($1::bigint[], $11::bytea[]))"
    " INSERT INTO postern.recipients (message_id, rcpt_no, address,"
    " relay_host, relay_port, relay_tls, relay_tls_versions,"
    " relay_tls_verify)"
    " SELECT m, n, a, h, p, t::postern.relay_tls_mode,"
    " v::postern.tls_version[], w::boolean FROM unnest($12::bigint[],"
    " $13::int[], $14::text[], $15::text[], $16::int[], $17::text[],"
    " $18::text[], $19::text[]) AS u(m, n, a, h, p, t, v, w)";

#define NPARAMS 19

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct committer_job *q_head, *q_tail;
static int q_stop;
static pthread_t *threads;
static int nthreads;
static char *c_conninfo;
static char *c_node;

struct committer {
	int no;
	PGconn *db;
	int64_t retry_at;
	int64_t backoff;
};

static int
db_connect(struct committer *c)
{
	PGresult *r;

	if (c->db != NULL)
		PQfinish(c->db);
	c->db = PQconnectdb(c_conninfo);
	if (PQstatus(c->db) != CONNECTION_OK) {
		log_warnx("committer%d: database connection failed: %s", c->no,
		    PQerrorMessage(c->db));
		goto fail;
	}
	/* Bound every statement: a hung database must turn into 451s, not
	 * sessions parked forever. */
	r = PQexec(c->db, "SET statement_timeout = '30s'");
	PQclear(r);
	r = PQprepare(c->db, "store", store_sql, NPARAMS, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warnx("committer%d: prepare failed: %s", c->no,
		    PQresultErrorMessage(r));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	c->backoff = 100;
	return 0;
fail:
	PQfinish(c->db);
	c->db = NULL;
	c->retry_at = now_ms() + c->backoff;
	c->backoff = c->backoff * 2 > 5000 ? 5000 : c->backoff * 2;
	return -1;
}

/* The route chosen at RCPT, as recipients.relay_* columns (NULL = unset). */
static void
route_params(const struct route *rt, struct pgarr *host,
    struct pgarr *port, struct pgarr *tls, struct pgarr *vers)
{
	char v[64], arr[80];

	pgarr_add_text(host, rt->host[0] ? rt->host : NULL);
	if (rt->host[0] && rt->port > 0)
		pgarr_add_int4(port, rt->port);
	else
		pgarr_add_null(port);
	pgarr_add_text(tls, rt->tls != RELAY_TLS_UNSET ?
	    relay_tls_name(rt->tls) : NULL);
	if (rt->versions != 0) {
		tls_versions_text(rt->versions, v, sizeof(v));
		snprintf(arr, sizeof(arr), "{%s}", v);
		pgarr_add_text(vers, arr);
	} else {
		pgarr_add_null(vers);
	}
}

static enum smtp_result
store_batch(struct committer *c, struct committer_job *jobs, int *count)
{
	struct pgarr a[NPARAMS];
	static const uint32_t oids[NPARAMS] = {
		PGARR_OID_INT8, PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_INT8,
		PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_TEXT,
		PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_BYTEA, PGARR_OID_INT8,
		PGARR_OID_INT4, PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_INT4,
		PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_TEXT,
	};
	const char *values[NPARAMS];
	int lengths[NPARAMS], formats[NPARAMS];
	enum smtp_result res = SMTP_TEMPFAIL;
	struct committer_job *j;
	PGresult *r = NULL;
	int i, n = 0;

	for (i = 0; i < NPARAMS; i++)
		pgarr_init(&a[i], oids[i]);
	for (j = jobs; j != NULL; j = j->next) {
		struct store_request *q = j->req;
		size_t hl = buf_unread(&q->headers);
		unsigned k;
		uint8_t *body;

		pgarr_add_int8(&a[0], (int64_t)q->id);
		pgarr_add_text(&a[1], c_node);
		pgarr_add_text(&a[2], q->sender.addr);
		pgarr_add_int8(&a[3], (int64_t)store_request_length(q));
		pgarr_add_text(&a[4], q->client_addr);
		pgarr_add_text(&a[5], q->helo);
		pgarr_add_text(&a[6], q->listener);
		pgarr_add_text(&a[7], q->tls_version[0] ? q->tls_version : NULL);
		pgarr_add_text(&a[8], q->tls_version[0] ? q->tls_cipher : NULL);
		pgarr_add_text(&a[9], q->auth_user[0] ? q->auth_user : NULL);
		/* The headers (rules', then Received:) go on top of the
		 * message as spooled. */
		body = pgarr_add_space(&a[10], hl + spool_size(&q->body));
		if (hl > 0)
			memcpy(body, buf_data(&q->headers), hl);
		if (spool_read_all(&q->body, body + hl) == -1) {
			log_warnx("committer%d: cannot read spooled body", c->no);
			goto out;
		}
		for (k = 0; k < q->nrcpts; k++) {
			const struct route *rt = &q->rcpts[k].route;

			pgarr_add_int8(&a[11], (int64_t)q->id);
			pgarr_add_int4(&a[12], (int32_t)k);
			pgarr_add_text(&a[13], q->rcpts[k].addr.addr);
			route_params(rt, &a[14], &a[15], &a[16], &a[17]);
			pgarr_add_text(&a[18], rt->verify == RELAY_VERIFY_UNSET ?
			    NULL : rt->verify == RELAY_VERIFY_YES ? "true" :
			    "false");
		}
		n++;
	}
	for (i = 0; i < NPARAMS; i++) {
		values[i] = (const char *)pgarr_finish(&a[i], &lengths[i]);
		formats[i] = 1;
	}
	r = PQexecPrepared(c->db, "store", NPARAMS, values, lengths, formats, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		res = SMTP_OK;
	} else {
		char msg[300];

		str_copy(msg, PQresultErrorMessage(r), sizeof(msg));
		msg[strcspn(msg, "\n")] = '\0';
		log_warnx("committer%d: storing %d message(s) failed: %s", c->no,
		    n, msg);
		if (PQstatus(c->db) != CONNECTION_OK) {
			PQfinish(c->db);
			c->db = NULL;
			c->retry_at = 0;
		}
	}
out:
	PQclear(r);
	for (i = 0; i < NPARAMS; i++)
		pgarr_free(&a[i]);
	*count = n;
	return res;
}

static void
log_stored(const struct store_request *q)
{
	char qid[17], esc[300];

	smtp_queue_id(q->id, qid);
	log_info("%s queued from=<%s> size=%" PRIu64 " nrcpt=%u session=%016"
	    PRIx64 " client=%s%s%s", qid, log_escape(esc, sizeof(esc),
	    q->sender.addr, strlen(q->sender.addr)), q->size, q->nrcpts,
	    q->session_id, q->client_addr, q->tls_version[0] ? " tls=" : "",
	    q->tls_version);
}

static void *
committer_main(void *arg)
{
	struct committer *c = arg;

	for (;;) {
		struct committer_job *batch = NULL, *tail = NULL, *j, *next;
		enum smtp_result res = SMTP_TEMPFAIL;
		int taken = 0, stored = 0;

		pthread_mutex_lock(&q_lock);
		while (q_head == NULL && !q_stop)
			pthread_cond_wait(&q_cond, &q_lock);
		if (q_head == NULL && q_stop) {
			pthread_mutex_unlock(&q_lock);
			break;
		}
		while (q_head != NULL && taken < COMMITTER_BATCH) {
			j = q_head;
			q_head = j->next;
			j->next = NULL;
			if (tail == NULL)
				batch = j;
			else
				tail->next = j;
			tail = j;
			taken++;
		}
		if (q_head == NULL)
			q_tail = NULL;
		pthread_mutex_unlock(&q_lock);

		if (c->db == NULL && now_ms() >= c->retry_at)
			db_connect(c);
		if (c->db != NULL)
			res = store_batch(c, batch, &stored);
		for (j = batch; j != NULL; j = next) {
			next = j->next;
			if (res == SMTP_OK)
				log_stored(j->req);
			store_request_free(j->req);
			j->req = NULL;
			/* Last touch: the job lives in the conn it wakes. */
			j->done(j, res);
		}
	}
	if (c->db != NULL)
		PQfinish(c->db);
	free(c);
	return NULL;
}

int
committer_start(const char *conninfo, const char *node, int n)
{
	int i;

	c_conninfo = xstrdup(conninfo);
	c_node = xstrdup(node);
	threads = xcalloc((size_t)n, sizeof(*threads));
	for (i = 0; i < n; i++) {
		struct committer *c = xcalloc(1, sizeof(*c));

		c->no = i;
		c->backoff = 100;
		db_connect(c);
		if (pthread_create(&threads[i], NULL, committer_main, c) != 0) {
			log_warn("committer: pthread_create");
			return -1;
		}
		nthreads++;
	}
	return 0;
}

void
committer_submit(struct committer_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&q_lock);
	if (q_tail == NULL)
		q_head = job;
	else
		q_tail->next = job;
	q_tail = job;
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
}

void
committer_stop(void)
{
	int i;

	pthread_mutex_lock(&q_lock);
	q_stop = 1;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_lock);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	threads = NULL;
	nthreads = 0;
	free(c_conninfo);
	free(c_node);
}
