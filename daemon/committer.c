/*
 * committer.c - group commit to PostgreSQL.  See committer.h.
 *
 * Each thread: wait for jobs; take all waiting (bounded by
 * COMMITTER_BATCH jobs and COMMITTER_BATCH_BYTES of message text, a
 * larger message alone); store their requests with db_store_batch() (one
 * statement, db_store.c); when the database refuses the data of a batch
 * of several (a constraint or data error), store them again one by one so
 * one bad message fails alone; log each stored message; free the
 * requests; call the completions.  A batch's text is held in memory twice
 * while it is sent (the parameter arrays and libpq's output buffer), so
 * the committers together hold at most about db_connections * 2 *
 * max(COMMITTER_BATCH_BYTES, the largest message).  The connection, its statement_timeout and its
 * reconnect backoff belong to the database layer (db.c): while it is down
 * or backing off, jobs fail at once with TEMPFAIL instead of waiting, so
 * clients are never held beyond a command timeout.
 */
#include "daemon/committer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/db_store.h"
#include "daemon/log.h"
#include "daemon/queue_id.h"
#include "daemon/util.h"

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct committer_job *q_head, *q_tail;
static int q_stop;
static pthread_t *threads;
static int nthreads;
static char *c_node;

struct committer {
	char name[32];		/* "committer3", for logs */
	struct db *db;
};

static void
log_stored(const struct store_request *q)
{
	char qid[17], esc[300];

	queue_id_format(q->id, qid);
	log_info("%s queued from=<%s> size=%" PRIu64 " nrcpt=%u session=%016"
	    PRIx64 " client=%s%s%s", qid, log_escape(esc, sizeof(esc),
	    q->sender.addr, strlen(q->sender.addr)), q->size, q->nrcpts,
	    q->session_id, q->client_addr, q->tls_version[0] ? " tls=" : "",
	    q->tls_version);
}

/* Takes waiting jobs in arrival order, up to COMMITTER_BATCH jobs and
 * COMMITTER_BATCH_BYTES of message text (the first job always, however
 * large).  Returns the count (0 only when stopping with an empty
 * queue). */
static size_t
take_batch(struct committer_job **batch)
{
	struct committer_job *tail = NULL, *j;
	uint64_t bytes = 0, len;
	size_t n = 0;

	*batch = NULL;
	pthread_mutex_lock(&q_lock);
	while (q_head == NULL && !q_stop)
		pthread_cond_wait(&q_cond, &q_lock);
	while (q_head != NULL && n < COMMITTER_BATCH) {
		j = q_head;
		len = store_request_length(j->req);
		if (n > 0 && bytes + len > COMMITTER_BATCH_BYTES)
			break;
		bytes += len;
		q_head = j->next;
		j->next = NULL;
		if (tail == NULL)
			*batch = j;
		else
			tail->next = j;
		tail = j;
		n++;
	}
	if (q_head == NULL)
		q_tail = NULL;
	pthread_mutex_unlock(&q_lock);
	return n;
}

/* Stores reqs[0..n): SMTP_OK for each when the batch committed.  When
 * the database refused the data of a batch of several, each request is
 * stored alone so only the one at fault fails.  res[i] is each result. */
static void
store(struct committer *c, struct store_request **reqs, size_t n,
    enum smtp_result *res)
{
	size_t i;
	int rc;

	rc = db_store_batch(c->db, c_node, reqs, n, c->name);
	if (rc == DB_STORE_REFUSED && n > 1) {
		log_warnx("%s: storing the %zu messages one by one", c->name,
		    n);
		for (i = 0; i < n; i++)
			res[i] = db_store_batch(c->db, c_node, &reqs[i], 1,
			    c->name) == DB_STORE_OK ? SMTP_OK : SMTP_TEMPFAIL;
		return;
	}
	for (i = 0; i < n; i++)
		res[i] = rc == DB_STORE_OK ? SMTP_OK : SMTP_TEMPFAIL;
}

static void *
committer_main(void *arg)
{
	struct committer *c = arg;

	/* Connect before the first message needs it. */
	db_store_warm(c->db);
	for (;;) {
		struct store_request *reqs[COMMITTER_BATCH];
		enum smtp_result res[COMMITTER_BATCH];
		struct committer_job *batch, *j, *next;
		size_t n, i = 0;

		n = take_batch(&batch);
		if (n == 0)
			break;
		for (j = batch; j != NULL; j = j->next)
			reqs[i++] = j->req;
		store(c, reqs, n, res);
		for (i = 0, j = batch; j != NULL; j = next, i++) {
			next = j->next;
			if (res[i] == SMTP_OK)
				log_stored(j->req);
			store_request_free(j->req);
			j->req = NULL;
			/* Last touch: the job lives in the conn it wakes. */
			j->done(j, res[i]);
		}
	}
	db_store_close(c->db);
	free(c);
	return NULL;
}

int
committer_start(const char *node, int n)
{
	int i;

	c_node = xstrdup(node);
	threads = xcalloc((size_t)n, sizeof(*threads));
	for (i = 0; i < n; i++) {
		struct committer *c = xcalloc(1, sizeof(*c));

		snprintf(c->name, sizeof(c->name), "committer%d", i);
		c->db = db_store_open();
		if (pthread_create(&threads[i], NULL, committer_main, c) != 0) {
			log_warn("committer: pthread_create");
			db_store_close(c->db);
			free(c);
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
	free(c_node);
	c_node = NULL;
}
