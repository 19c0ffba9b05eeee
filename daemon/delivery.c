/*
 * delivery.c - the delivery engine's threads.  See delivery.h.
 *
 * Each thread loops: claim a batch (delivery_claim.c), then per message:
 * load it and renew its leases, deliver each group of recipients with
 * one route (delivery_route.c, delivery_deliver.c), and write the
 * outcomes (delivery_outcome.c); then wait for delivery_wake() or 2 s.
 * A thread owns a database handle (daemon/db_queue.c on daemon/db.h,
 * which reconnects with backoff), a c-ares channel (daemon/dns.c,
 * remade when settings.dns_servers changes) and at most one cached SMTP
 * session.  A stop ends a batch after the current message; then every
 * lease of this node is released.
 */
#include "daemon/delivery.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/delivery_internal.h"
#include "daemon/log.h"
#include "daemon/runtime.h"
#include "daemon/util.h"
#include "tls/tls.h"

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static unsigned wake_seq;
static int dlv_stop;
static pthread_t *threads;
static int nthreads;
static char *d_node;
static int64_t d_incarnation;

/* True once delivery_stop() was called. */
static int
stopping(void)
{
	int v;

	pthread_mutex_lock(&wake_lock);
	v = dlv_stop;
	pthread_mutex_unlock(&wake_lock);
	return v;
}

void
delivery_wake(void)
{
	pthread_mutex_lock(&wake_lock);
	wake_seq++;
	pthread_cond_broadcast(&wake_cond);
	pthread_mutex_unlock(&wake_lock);
}

/* Delivers the claimed recipients d[0..n), sorted by message and route. */
static void
process_batch(struct dlv_thread *t, const struct config *c,
    struct dlv_rcpt *d, size_t n)
{
	size_t i = 0;

	/* A stop ends the batch after the current message; delivery_stop()
	 * then releases the leases of the rest. */
	while (i < n && !stopping()) {
		struct db_queue_msg m;
		size_t j = i, g, e, end;
		int kept;

		while (j < n && d[j].q.message_id == d[i].q.message_id)
			j++;
		kept = dlv_load(t, c, &m, &d[i], j - i);
		if (kept <= 0) {
			free(m.body);	/* NULL when the load failed */
			i = j;
			continue;
		}
		end = i + (size_t)kept;
		for (g = i; g < end; g = e) {
			for (e = g; e < end && strcmp(d[e].key, d[g].key) == 0;
			    e++)
				if (d[e].q.bounce_requested)
					dlv_set_outcome(&d[e], 550, "5.0.0",
					    "bounced by the administrator "
					    "(postern.queue_bounce)", "none",
					    NULL);
			if (d[g].out != OUT_NONE)
				continue;
			dlv_renew(t, DLV_GROUP_WAIT);
			if (strcmp(d[g].key, "local") == 0)
				dlv_deliver_local(c, &m, &d[g], e - g);
			else
				dlv_deliver_remote(t, c, &m, &d[g], e - g);
		}
		dlv_finish(t, c, &m, &d[i], end - i);
		free(m.body);
		i = j;
	}
}

/* A resolver for the configured servers (remade when they change). */
static void
dns_update(struct dlv_thread *t, const struct config *c)
{
	char err[256];

	if (t->dns != NULL && strcmp(t->dns_servers, c->dns_servers) == 0)
		return;
	dns_free(t->dns);
	t->dns = dns_new(c->dns_servers, err, sizeof(err));
	if (t->dns == NULL)
		log_warnx("delivery%d: %s", t->no, err);
	str_copy(t->dns_servers, c->dns_servers, sizeof(t->dns_servers));
}

/* Waits for delivery_wake() or the poll interval, unless woken since
 * seen.  Like Postfix's connection cache, an idle SMTP session is kept
 * for about 2 s for the next burst, then closed. */
static void
idle(struct dlv_thread *t, unsigned seen)
{
	struct timespec ts;

	if (t->cached != NULL && now_ms() - t->cached_used > 2000)
		dlv_cache_close(t);
	pthread_mutex_lock(&wake_lock);
	if (!dlv_stop && wake_seq == seen) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += t->cached != NULL ? 1 : 2;
		pthread_cond_timedwait(&wake_cond, &wake_lock, &ts);
	}
	pthread_mutex_unlock(&wake_lock);
}

static void *
delivery_main(void *arg)
{
	struct dlv_thread *t = arg;
	struct dlv_rcpt *batch = xcalloc(DLV_MAX_BATCH, sizeof(*batch));
	unsigned seen = 0;

	for (;;) {
		struct config *c;
		int n = 0;

		pthread_mutex_lock(&wake_lock);
		if (dlv_stop) {
			pthread_mutex_unlock(&wake_lock);
			break;
		}
		seen = wake_seq;
		pthread_mutex_unlock(&wake_lock);
		c = runtime_config();
		if (c != NULL) {
			dns_update(t, c);
			if (t->dns != NULL && !c->delivery_paused)
				n = dlv_claim(t, c, batch, c->delivery_batch <
				    DLV_MAX_BATCH ? c->delivery_batch :
				    DLV_MAX_BATCH);
			if (n > 0)
				process_batch(t, c, batch, (size_t)n);
			t->token[0] = '\0';	/* the claim is over */
			config_unref(c);
		}
		if (n <= 0)
			idle(t, seen);	/* else more may be due */
	}
	free(batch);
	dlv_cache_close(t);
	dns_free(t->dns);
	db_close(t->db);
	free(t);
	tls_thread_cleanup();	/* the SMTP client's TLS */
	return NULL;
}

int
delivery_start(const char *node, int64_t incarnation, int n)
{
	int i;

	d_node = xstrdup(node);
	d_incarnation = incarnation;
	threads = xcalloc((size_t)n, sizeof(*threads));
	for (i = 0; i < n; i++) {
		struct dlv_thread *t = xcalloc(1, sizeof(*t));

		t->no = i;
		t->node = d_node;
		t->incarnation = d_incarnation;
		t->db = db_queue_open();
		if (pthread_create(&threads[i], NULL, delivery_main, t) != 0) {
			log_warn("delivery: pthread_create");
			db_close(t->db);
			free(t);
			return -1;
		}
		nthreads++;
	}
	return 0;
}

void
delivery_stop(void)
{
	int i, n;

	pthread_mutex_lock(&wake_lock);
	dlv_stop = 1;
	pthread_cond_broadcast(&wake_cond);
	pthread_mutex_unlock(&wake_lock);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	nthreads = 0;
	free(threads);
	threads = NULL;
	if (d_node == NULL)
		return;
	/* A clean stop hands this node's leases back at once. */
	n = db_queue_release(d_node);
	if (n > 0)
		log_info("delivery: released %d lease(s) of node %s", n, d_node);
	free(d_node);
	d_node = NULL;
}
