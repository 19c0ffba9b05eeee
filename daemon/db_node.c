/*
 * db_node.c - node registry, name lock and AUTH throttle SQL.  See
 * db_node.h.
 *
 * The control connection's role registers its statements and channels;
 * its on_connect hook takes the name lock, so a reconnect after an outage
 * holds the lock again before anything else runs on it, then registers
 * the node (postern.node_register: its number and incarnation, kept from
 * the first connect).  The AUTH pool is
 * a fixed array of struct db handles handed out under a mutex (a leaf
 * lock); a handle is used by one thread at a time (libpq's rule).
 */
#include "daemon/db_node.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "daemon/db.h"
#include "daemon/log.h"
#include "daemon/util.h"

#define AUTH_POOL_MAX 16
#define AUTH_WAIT_MS 1000

static const struct db_stmt control_stmts[] = {
	{ "node_lock", "SELECT pg_try_advisory_lock("
	    "hashtext('postern node ' || $1))", 1 },
	{ "node_register", "SELECT node_no, incarnation FROM "
	    "postern.node_register($1)", 1 },
	{ "node_holder", "SELECT host, pid, heartbeat_at FROM postern.nodes "
	    "WHERE name = $1", 1 },
	{ "node_heartbeat", "INSERT INTO postern.nodes (name, host, pid, "
	    "version, started_at, heartbeat_at) VALUES ($1, $2, $3::int, "
	    "'postern 0.1', now(), now()) ON CONFLICT (name) DO UPDATE SET "
	    "host = $2, pid = $3::int, heartbeat_at = now(), started_at = "
	    "CASE WHEN $4::boolean THEN now() ELSE postern.nodes.started_at END",
	    4 },
	{ "node_stopped", "UPDATE postern.nodes SET stopped_at = now(), "
	    "heartbeat_at = now() WHERE name = $1", 1 },
};

static const char *const control_listen[] = {
	"postern_config", "postern_queue"
};

/* What the control connection's on_connect hook needs. */
struct control_arg {
	char node[128];
	int taken;	/* the last attempt found the name held */
	int registered;	/* node_no and incarnation are set */
	int node_no;	/* postern.nodes.node_no, 0..127 */
	int64_t incarnation;
};

static int control_on_connect(PGconn *conn, void *arg);
static struct control_arg control_ca;

static const struct db_role control_role = {
	.name = "control",
	.backoff_min_ms = 500,
	.backoff_max_ms = 5000,
	.stmts = control_stmts,
	.nstmts = sizeof(control_stmts) / sizeof(control_stmts[0]),
	.listen = control_listen,
	.nlisten = sizeof(control_listen) / sizeof(control_listen[0]),
	.on_connect = control_on_connect,
};

static const struct db_stmt auth_stmts[] = {
	{ "auth_penalty", "SELECT postern.auth_penalty($1)", 1 },
	{ "auth_failed", "SELECT postern.auth_failed($1, $2, $3)", 3 },
};

static const struct db_role auth_role = {
	.name = "auth",
	.statement_timeout_ms = 5000,
	.backoff_min_ms = 1000,
	.backoff_max_ms = 5000,
	.stmts = auth_stmts,
	.nstmts = sizeof(auth_stmts) / sizeof(auth_stmts[0]),
};

/* One process per node name: 1 held, 0 held by another live process
 * (logged with its host and pid), -1 on error (logged). */
static int
node_lock(PGconn *conn, const char *node)
{
	const char *params[1] = { node };
	PGresult *r = PQexecPrepared(conn, "node_lock", 1, params, NULL, NULL,
	    0);
	int v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = PQgetvalue(r, 0, 0)[0] == 't';
	else
		log_warnx("node %s: name lock failed: %s", node,
		    PQresultErrorMessage(r));
	PQclear(r);
	if (v != 0)
		return v;
	r = PQexecPrepared(conn, "node_holder", 1, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		log_warnx("node name \"%s\" is already in use by a running "
		    "posternd (host %s, pid %s, last heartbeat %s); give this "
		    "node another name (node = ... in its bootstrap file)",
		    node, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2));
	else
		log_warnx("node name \"%s\" is already in use by a running "
		    "posternd; give this node another name", node);
	PQclear(r);
	return 0;
}

/*
 * The node's number and incarnation (postern.node_register), kept from the
 * first connect for the life of the process: queue ids and lease tokens
 * made with them stay valid across reconnects.  0, or -1 (logged).
 */
static int
node_register(PGconn *conn, struct control_arg *ca)
{
	const char *params[1] = { ca->node };
	PGresult *r = PQexecPrepared(conn, "node_register", 1, params, NULL,
	    NULL, 0);
	int rc = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    !PQgetisnull(r, 0, 0)) {
		if (!ca->registered) {
			ca->node_no = atoi(PQgetvalue(r, 0, 0));
			ca->incarnation = strtoll(PQgetvalue(r, 0, 1), NULL,
			    10);
			ca->registered = 1;
		} else if (atoi(PQgetvalue(r, 0, 0)) != ca->node_no)
			log_warnx("node %s: postern.nodes.node_no changed to %s "
			    "while running; this process keeps number %d until "
			    "it restarts", ca->node, PQgetvalue(r, 0, 0),
			    ca->node_no);
		rc = 0;
	} else
		log_warnx("node %s: registering the node failed: %s", ca->node,
		    PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

static int
control_on_connect(PGconn *conn, void *arg)
{
	struct control_arg *ca = arg;
	int v = node_lock(conn, ca->node);

	ca->taken = v == 0;
	if (v != 1)
		return -1;
	return node_register(conn, ca);
}

struct db *
db_node_open_control(const char *node)
{
	str_copy(control_ca.node, node, sizeof(control_ca.node));
	control_ca.taken = 0;
	control_ca.registered = 0;
	return db_open(&control_role, &control_ca);
}

int
db_node_name_taken(const struct db *control)
{
	(void)control;	/* one control connection per process */
	return control_ca.taken;
}

int
db_node_number(void)
{
	if (!control_ca.registered)
		fatalx("db_node_number before the control connection");
	return control_ca.node_no;
}

int64_t
db_node_incarnation(void)
{
	if (!control_ca.registered)
		fatalx("db_node_incarnation before the control connection");
	return control_ca.incarnation;
}

void
db_node_heartbeat(struct db *control, const char *node, int first)
{
	char pid[32], host[256] = "";
	const char *params[4];
	PGresult *r;

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	gethostname(host, sizeof(host) - 1);
	params[0] = node;
	params[1] = host;
	params[2] = pid;
	params[3] = first ? "t" : "f";
	r = db_exec_prepared(control, "node_heartbeat", 4, params);
	if (r == NULL)
		return;		/* connection failure, logged by db.c */
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warnx("node %s: heartbeat failed: %s", node,
		    PQresultErrorMessage(r));
	PQclear(r);
}

void
db_node_stopped(struct db *control, const char *node)
{
	const char *params[1] = { node };
	PGresult *r = db_exec_prepared(control, "node_stopped", 1, params);

	if (r == NULL)
		return;
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warnx("node %s: marking the clean stop failed: %s", node,
		    PQresultErrorMessage(r));
	PQclear(r);
}

/* ---- AUTH throttle pool ---- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct db *pool[AUTH_POOL_MAX];
static int pool_busy[AUTH_POOL_MAX];
static int pool_size;

void
db_node_auth_init(int size)
{
	int i;

	pthread_mutex_lock(&pool_lock);
	pool_size = size < 1 ? 1 : size > AUTH_POOL_MAX ? AUTH_POOL_MAX : size;
	for (i = 0; i < pool_size; i++) {
		pool[i] = db_open(&auth_role, NULL);
		pool_busy[i] = 0;
	}
	pthread_mutex_unlock(&pool_lock);
}

/* A free handle (index), waiting at most AUTH_WAIT_MS; -1 when none. */
static int
pool_take(void)
{
	struct timespec ts;
	int i, slot = -1;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += AUTH_WAIT_MS / 1000;
	ts.tv_nsec += (long)(AUTH_WAIT_MS % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		for (i = 0; i < pool_size; i++)
			if (!pool_busy[i]) {
				pool_busy[i] = 1;
				slot = i;
				break;
			}
		if (slot != -1 || pool_size == 0 ||
		    pthread_cond_timedwait(&pool_cond, &pool_lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&pool_lock);
	return slot;
}

static void
pool_give(int slot)
{
	pthread_mutex_lock(&pool_lock);
	pool_busy[slot] = 0;
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}

int
db_node_auth_penalty(const char *peer, uint64_t sid)
{
	const char *params[1] = { peer };
	PGresult *r;
	int slot = pool_take(), v = -2;

	if (slot == -1) {
		log_warnx("%016" PRIx64 " auth throttle check failed: no free "
		    "connection", sid);
		return -2;
	}
	r = db_exec_prepared(pool[slot], "auth_penalty", 1, params);
	if (r == NULL) {
		log_warnx("%016" PRIx64 " auth throttle check failed: database "
		    "unreachable", sid);
	} else {
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		    !PQgetisnull(r, 0, 0))
			v = atoi(PQgetvalue(r, 0, 0));
		else
			log_warnx("%016" PRIx64 " auth throttle check failed: %s",
			    sid, PQresultErrorMessage(r));
		PQclear(r);
	}
	pool_give(slot);
	return v;
}

void
db_node_auth_failed(const char *peer, const char *user, const char *node,
    uint64_t sid)
{
	const char *params[3] = { peer, user, node };
	PGresult *r;
	int slot = pool_take();

	if (slot == -1)
		return;
	r = db_exec_prepared(pool[slot], "auth_failed", 3, params);
	if (r != NULL) {
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			log_warnx("%016" PRIx64 " recording the AUTH failure "
			    "failed: %s", sid, PQresultErrorMessage(r));
		PQclear(r);
	}
	pool_give(slot);
}

void
db_node_auth_close(void)
{
	int i;

	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < pool_size; i++) {
		db_close(pool[i]);
		pool[i] = NULL;
	}
	pool_size = 0;
	pthread_mutex_unlock(&pool_lock);
}
