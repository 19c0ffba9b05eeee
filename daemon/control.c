/*
 * control.c - the control thread.  See control.h.
 *
 * Every wait is bounded: poll() on the connection's socket for at most
 * 1 s, 100 ms naps while the database layer is in its reconnect backoff,
 * so the stop flag is seen within about a second.
 */
#include "daemon/control.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/db.h"
#include "daemon/db_config.h"
#include "daemon/db_greet.h"
#include "daemon/db_node.h"
#include "daemon/delivery.h"
#include "daemon/greet.h"
#include "daemon/log.h"
#include "daemon/runtime.h"
#include "daemon/util.h"
#include "tls/tls.h"

#define CONTROL_POLL_MS 1000
#define CONTROL_NAP_MS 100
#define CONTROL_DEBOUNCE_MS 50
#define HEARTBEAT_MS 10000
#define GREET_PURGE_MS (3600 * 1000)

static struct db *ctl_db;
static pthread_t ctl_thread;
static int ctl_running;
static atomic_int ctl_stop;
static uint64_t ctl_gen;
static struct db *greet_db;	/* postern.greet_passed, opened lazily */
static int64_t greet_last_ok;	/* last successful sync; 0 = never */
static int64_t greet_last_purge;

int
control_init(const char *node)
{
	struct config *c;
	char err[512];

	ctl_db = db_node_open_control(node);
	if (db_get(ctl_db) == NULL) {
		if (!db_node_name_taken(ctl_db))
			log_warnx("cannot connect to the database");
		db_close(ctl_db);
		ctl_db = NULL;
		return EX_TEMPFAIL;
	}
	db_node_heartbeat(ctl_db, node, 1);
	ctl_gen = 1;
	c = db_config_load(ctl_db, node, ctl_gen, err, sizeof(err));
	if (c == NULL) {
		log_warnx("config: cannot load configuration: %s", err);
		db_close(ctl_db);
		ctl_db = NULL;
		return EX_CONFIG;
	}
	log_info("config: loaded node=%s hostname=%s listeners=%zu domains=%zu "
	    "accounts=%zu workers=%d db_connections=%d", node, c->hostname,
	    c->nlisteners, c->ndomains, c->naccounts, c->worker_threads,
	    c->db_connections);
	runtime_install(c);
	return 0;
}

/* Milliseconds between heartbeats: 10 s, or a third of
 * settings.node_timeout when that is shorter, so that a live node is never
 * shown as down between two beats. */
static int64_t
heartbeat_interval(void)
{
	struct config *c = runtime_config();
	int64_t ms = HEARTBEAT_MS;

	if (c != NULL) {
		if (c->node_timeout > 0 && (int64_t)c->node_timeout * 1000 / 3 < ms)
			ms = (int64_t)c->node_timeout * 1000 / 3;
		config_unref(c);
	}
	return ms;
}

/* The greeting pause's shared memory: this node's new passes go to
 * postern.greet_passed, every node's recent ones come back into memory
 * (greet.h).  After an outage it looks back over the time missed (at most
 * the TTL).  Nothing to do while the pause is off. */
static void
greet_sync(void)
{
	struct config *c = runtime_config();
	int64_t now = now_ms(), lookback;
	int ttl, on;

	if (c == NULL)
		return;
	ttl = c->greet_pass_ttl;
	on = c->greet_pause_ms > 0;
	config_unref(c);
	if (!on)
		return;
	if (greet_db == NULL)
		greet_db = db_greet_open();
	lookback = greet_last_ok == 0 ? ttl :
	    (now - greet_last_ok) / 1000 + 30;
	if (lookback > ttl)
		lookback = ttl;
	if (db_greet_sync(greet_db, (int)lookback, ttl) == 0)
		greet_last_ok = now;
	if (now - greet_last_purge >= GREET_PURGE_MS) {
		db_greet_purge(greet_db);
		greet_last_purge = now;
	}
}

/* New mail wakes the delivery threads; anything else is a configuration
 * change. */
static void
on_notify(void *arg, const char *channel)
{
	int *dirty = arg;

	if (strcmp(channel, "postern_queue") == 0)
		delivery_wake();
	else
		*dirty = 1;
}

static void
reload(void)
{
	struct config *c;
	char err[512];

	ctl_gen++;
	c = db_config_load(ctl_db, runtime_node(), ctl_gen, err, sizeof(err));
	if (c == NULL) {
		log_warnx("config: reload refused, keeping the running "
		    "configuration: %s", err);
		return;
	}
	log_info("config: reloaded generation=%" PRIu64 " listeners=%zu "
	    "domains=%zu accounts=%zu", ctl_gen, c->nlisteners, c->ndomains,
	    c->naccounts);
	runtime_publish(c);
}

/* Waits for notifications (at most CONTROL_POLL_MS); sets *dirty for a
 * configuration change.  -1 when the connection broke. */
static int
wait_notifications(int *dirty)
{
	struct pollfd pfd;

	memset(&pfd, 0, sizeof(pfd));
	pfd.fd = db_socket(ctl_db);
	pfd.events = POLLIN;
	if (pfd.fd == -1 || poll(&pfd, 1, CONTROL_POLL_MS) <= 0)
		return 0;
	if (db_notifications(ctl_db, on_notify, dirty) == -1)
		return -1;
	if (*dirty) {
		/* Debounce: let a burst of changes land. */
		usleep(CONTROL_DEBOUNCE_MS * 1000);
		if (db_notifications(ctl_db, on_notify, dirty) == -1)
			return -1;
	}
	return 0;
}

static void *
control_main(void *arg)
{
	int64_t last_beat = 0, last_greet = 0;
	int dirty = 0;

	(void)arg;
	while (!atomic_load(&ctl_stop)) {
		int was = db_connected(ctl_db);
		int64_t now;

		if (db_get(ctl_db) == NULL) {
			usleep(CONTROL_NAP_MS * 1000);
			continue;
		}
		if (!was)
			dirty = 1;	/* notifications were lost meanwhile */
		now = now_ms();
		if (now - last_beat >= heartbeat_interval()) {
			db_node_heartbeat(ctl_db, runtime_node(), 0);
			last_beat = now;
		}
		if (dirty) {
			dirty = 0;
			reload();
		}
		if (now - last_greet >= GREET_SYNC_MS) {
			greet_sync();
			last_greet = now;
		}
		/* Notifications that arrived while a query ran (the reload or
		 * the heartbeat) are already inside libpq: no socket event
		 * will announce them, so look before waiting. */
		if (db_notifications(ctl_db, on_notify, &dirty) == -1 || dirty)
			continue;
		(void)wait_notifications(&dirty);
	}
	tls_thread_cleanup();	/* snapshots build TLS contexts here */
	return NULL;
}

int
control_start(void)
{
	if (pthread_create(&ctl_thread, NULL, control_main, NULL) != 0) {
		log_warn("pthread_create");
		return -1;
	}
	ctl_running = 1;
	return 0;
}

void
control_stop(void)
{
	atomic_store(&ctl_stop, 1);
	if (ctl_running)
		pthread_join(ctl_thread, NULL);
	ctl_running = 0;
	if (greet_db != NULL) {
		db_close(greet_db);
		greet_db = NULL;
	}
	if (ctl_db != NULL) {
		db_node_stopped(ctl_db, runtime_node());
		db_close(ctl_db);
		ctl_db = NULL;
	}
}
