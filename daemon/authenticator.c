/*
 * authenticator.c - the AUTH check pool.  See authenticator.h.
 *
 * One mutex and condition variable guard a FIFO of jobs (a leaf lock);
 * threads take one job at a time.  The account is looked up in the
 * current snapshot under its reference, dropped before the completion.
 */
#include "daemon/authenticator.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/db_node.h"
#include "daemon/log.h"
#include "daemon/passwd.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

static pthread_mutex_t a_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t a_cond = PTHREAD_COND_INITIALIZER;
static struct auth_job *a_head, *a_tail;
static int a_queued, a_stop, a_started;
static pthread_t a_threads[AUTHENTICATOR_THREADS];

/* FNV-1a, never 0. */
static uint64_t
tag_of(const char *hash)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *hash != '\0'; hash++) {
		h ^= (unsigned char)*hash;
		h *= 1099511628211ULL;
	}
	return h == 0 ? 1 : h;
}

/* The account's hash when it may log in, else NULL; in cfg. */
static const char *
login_hash(const struct config *cfg, const char *user)
{
	const struct config_account *a;
	char lower[ADDR_MAX + 1];

	if (cfg == NULL)
		return NULL;
	str_copy(lower, user, sizeof(lower));
	str_lower(lower);
	a = config_account(cfg, lower);
	if (a == NULL || !a->enabled || a->hash == NULL)
		return NULL;
	return a->hash;
}

uint64_t
auth_account_tag(const char *user)
{
	struct config *cfg = runtime_config();
	const char *h = login_hash(cfg, user);
	uint64_t tag = h != NULL ? tag_of(h) : 0;

	if (cfg != NULL)
		config_unref(cfg);
	return tag;
}

static void
check(struct auth_job *j)
{
	char key[CLIENT_KEY_MAX];
	struct config *cfg;
	const char *h;
	int penalty, ok;
	int64_t local;

	client_key(j->peer, key, sizeof(key));
	penalty = db_node_auth_penalty(key, j->sid);
	if (penalty < 0) {
		/* -1 refused; -2 the counter cannot be read: fail closed. */
		log_info("%016" PRIx64 " smtp auth refused client=%s key=%s "
		    "reason=%s", j->sid, j->peer, key, penalty == -1 ?
		    "throttled" : "throttle-unavailable");
		if (penalty == -1)
			j->throttled = 1;
		else
			j->result = SMTP_TEMPFAIL;
		return;
	}
	cfg = runtime_config();
	h = login_hash(cfg, j->user);
	ok = passwd_verify(h, j->pass);
	j->result = ok ? SMTP_OK : SMTP_PERMFAIL;
	j->account_tag = ok ? tag_of(h) : 0;
	if (cfg != NULL)
		config_unref(cfg);
	j->delay_ms = 1000 * (int64_t)penalty;
	if (!ok) {
		db_node_auth_failed(key, j->user, runtime_node(), j->sid);
		local = 1000 * (int64_t)(j->failures + 1);
		if (local > j->delay_ms)
			j->delay_ms = local;
	}
	if (j->delay_ms > 5000)
		j->delay_ms = 5000;
}

static void
finish(struct auth_job *j)
{
	wipe(j->pass, sizeof(j->pass));
	/* Last touch: the job lives in the conn it wakes. */
	j->done(j);
}

static void *
authenticator_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct auth_job *j;
		int stopping;

		pthread_mutex_lock(&a_lock);
		while (a_head == NULL && !a_stop)
			pthread_cond_wait(&a_cond, &a_lock);
		j = a_head;
		if (j != NULL) {
			a_head = j->next;
			if (a_head == NULL)
				a_tail = NULL;
			a_queued--;
		}
		stopping = a_stop;
		pthread_mutex_unlock(&a_lock);
		if (j == NULL)
			break;
		if (stopping)
			j->result = SMTP_TEMPFAIL;	/* at once: 454 */
		else
			check(j);
		finish(j);
	}
	return NULL;
}

int
authenticator_start(void)
{
	int i;

	for (i = 0; i < AUTHENTICATOR_THREADS; i++) {
		if (pthread_create(&a_threads[i], NULL, authenticator_main,
		    NULL) != 0) {
			log_warn("authenticator: pthread_create");
			return -1;
		}
		a_started++;
	}
	return 0;
}

int
authenticator_submit(struct auth_job *job)
{
	int rc = -1;

	job->next = NULL;
	job->throttled = 0;
	job->result = SMTP_PERMFAIL;
	job->delay_ms = 0;
	job->account_tag = 0;
	pthread_mutex_lock(&a_lock);
	if (!a_stop && a_started > 0 && a_queued < AUTHENTICATOR_QUEUE) {
		if (a_tail == NULL)
			a_head = job;
		else
			a_tail->next = job;
		a_tail = job;
		a_queued++;
		pthread_cond_signal(&a_cond);
		rc = 0;
	}
	pthread_mutex_unlock(&a_lock);
	return rc;
}

void
authenticator_stop(void)
{
	int i;

	pthread_mutex_lock(&a_lock);
	a_stop = 1;
	pthread_cond_broadcast(&a_cond);
	pthread_mutex_unlock(&a_lock);
	for (i = 0; i < a_started; i++)
		pthread_join(a_threads[i], NULL);
	a_started = 0;
}
