/*
 * dbpool.c - shared connections for worker queries.  See dbpool.h.
 */
#include "daemon/dbpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "daemon/log.h"
#include "daemon/util.h"

#define DBPOOL_MAX 16

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static PGconn *idle[DBPOOL_MAX];
static int nidle;
static int nout;
static int pool_size;
static char *pool_conninfo;
static int64_t next_try;

void
dbpool_init(const char *conninfo, int size)
{
	pool_conninfo = xstrdup(conninfo);
	pool_size = size < 1 ? 1 : size > DBPOOL_MAX ? DBPOOL_MAX : size;
}

static PGconn *
connect_one(void)
{
	PGconn *db;

	if (now_ms() < next_try)
		return NULL;
	db = PQconnectdb(pool_conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		log_warnx("dbpool: database connection failed: %s",
		    PQerrorMessage(db));
		PQfinish(db);
		next_try = now_ms() + 1000;
		return NULL;
	}
	PQclear(PQexec(db, "SET statement_timeout = '5s'"));
	return db;
}

PGconn *
dbpool_get(int wait_ms)
{
	PGconn *db = NULL;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool_lock);
	while (nidle == 0 && nout >= pool_size)
		if (pthread_cond_timedwait(&pool_cond, &pool_lock, &ts) != 0)
			break;
	if (nidle > 0) {
		db = idle[--nidle];
		nout++;
	} else if (nout < pool_size) {
		nout++;
		pthread_mutex_unlock(&pool_lock);
		db = connect_one();
		pthread_mutex_lock(&pool_lock);
		if (db == NULL) {
			nout--;
			pthread_cond_signal(&pool_cond);
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return db;
}

void
dbpool_put(PGconn *db)
{
	if (db == NULL)
		return;
	if (PQstatus(db) != CONNECTION_OK) {
		PQfinish(db);
		db = NULL;
	}
	pthread_mutex_lock(&pool_lock);
	nout--;
	if (db != NULL && nidle < DBPOOL_MAX)
		idle[nidle++] = db;
	else if (db != NULL)
		PQfinish(db);
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}

void
dbpool_close(void)
{
	pthread_mutex_lock(&pool_lock);
	while (nidle > 0)
		PQfinish(idle[--nidle]);
	pthread_mutex_unlock(&pool_lock);
}
