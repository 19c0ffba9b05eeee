/*
 * server.c - event loop, listeners, worker pool, limits and live reload.
 *
 * Threads:
 *   loop     epoll_wait; accept; move ARMED conns to BUSY and queue them;
 *            every 200 ms scan deadlines (idle timeouts, AUTH delays);
 *            apply snapshots handed over by the config thread.
 *   workers  take queued conns and run conn_handle() (conn.c).
 *   config   LISTEN postern_config on its own PGconn; on a notification
 *            (debounced) load a new snapshot and hand it to the loop via an
 *            eventfd; refresh this node's heartbeat row.
 *   committer threads (committer.c), delivery threads (delivery.c); the
 *            config thread also LISTENs on postern_queue and wakes the
 *            delivery threads when mail arrives or an admin asks a retry.
 *
 * Limits: settings.max_connections (whole daemon), listeners.max_connections
 * and settings.max_connections_per_ip are checked at accept; a refused
 * plaintext client gets "421 4.7.0 ... too many connections" before close.
 * Listen backlog 1024 (PERFORMANCE.md point 7).
 *
 * Lock order: conns_lock, then a conn's lock.  The work queue lock and the
 * per-IP table lock are leaves.
 */
#include "daemon/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "daemon/committer.h"
#include "daemon/config.h"
#include "daemon/conn.h"
#include "daemon/dbpool.h"
#include "daemon/delivery.h"
#include "daemon/log.h"
#include "daemon/util.h"

#define KIND_CONN 1
#define KIND_LSOCK 2
#define KIND_WAKE 3

#define IP_BUCKETS 4096

struct lsock {
	int kind;
	int fd;
	char address[64];
	int port;
	atomic_int nconns;
	atomic_int refs;
	int closed;
	struct lsock *next;
};

struct ipcount {
	struct ipcount *next;
	char ip[64];
	int n;
};

static int ep = -1;
static int wake_fd = -1;
static int wake_kind = KIND_WAKE;
static volatile sig_atomic_t stop_requested;

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;
static atomic_int nconns;

static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER;
static struct conn *work_head, *work_tail;
static int work_stop;

static pthread_mutex_t ip_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipcount *ip_table[IP_BUCKETS];

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *cfg_current;	/* loop's snapshot */
static struct config *cfg_pending;	/* handed over by the config thread */

static struct lsock *lsocks;
static const char *srv_node;
static const char *srv_conninfo;
static atomic_uint_fast64_t id_counter;
static uint64_t node_bits;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Queue ids: milliseconds since 2024-01-01 (41 bits), 7 bits of node, 15
 * bits of counter - unique across nodes of one database for practical
 * rates (32768 messages per millisecond per node). */
uint64_t
server_new_queue_id(void)
{
	uint64_t ms = (uint64_t)(wall_ms() - 1704067200000LL);
	uint64_t n = atomic_fetch_add(&id_counter, 1);

	return (ms << 22) | (node_bits << 15) | (n & 0x7fff);
}

const char *
server_node(void)
{
	return srv_node;
}

struct config *
server_config(void)
{
	struct config *c;

	pthread_mutex_lock(&cfg_lock);
	c = cfg_current;
	if (c != NULL)
		config_ref(c);
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

/* ---- per-IP connection counts ---- */

static unsigned
ip_hash(const char *ip)
{
	unsigned h = 5381;

	while (*ip != '\0')
		h = h * 33 + (unsigned char)*ip++;
	return h % IP_BUCKETS;
}

/* Returns the new count for ip after adding delta (never below 0). */
static int
ip_count(const char *ip, int delta)
{
	struct ipcount **pp, *e;
	int n = 0;

	pthread_mutex_lock(&ip_lock);
	for (pp = &ip_table[ip_hash(ip)]; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->ip, ip) == 0)
			break;
	if (e == NULL && delta > 0) {
		e = xcalloc(1, sizeof(*e));
		str_copy(e->ip, ip, sizeof(e->ip));
		e->next = NULL;
		*pp = e;
	}
	if (e != NULL) {
		e->n += delta;
		n = e->n;
		if (e->n <= 0) {
			*pp = e->next;
			free(e);
			n = 0;
		}
	}
	pthread_mutex_unlock(&ip_lock);
	return n;
}

/* ---- worker pool ---- */

static void
work_push(struct conn *c, enum conn_event ev)
{
	c->ev = ev;
	c->qnext = NULL;
	pthread_mutex_lock(&work_lock);
	if (work_tail == NULL)
		work_head = c;
	else
		work_tail->qnext = c;
	work_tail = c;
	pthread_cond_signal(&work_cond);
	pthread_mutex_unlock(&work_lock);
}

static void *
worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct conn *c;

		pthread_mutex_lock(&work_lock);
		while (work_head == NULL && !work_stop)
			pthread_cond_wait(&work_cond, &work_lock);
		if (work_head == NULL) {
			pthread_mutex_unlock(&work_lock);
			break;
		}
		c = work_head;
		work_head = c->qnext;
		if (work_head == NULL)
			work_tail = NULL;
		pthread_mutex_unlock(&work_lock);
		conn_handle(c);
	}
	return NULL;
}

/* ---- conn ownership transitions (called by the owning worker) ---- */

void
server_arm(struct conn *c, int want_write)
{
	struct epoll_event e;
	const struct config *cfg = c->cfg;
	int timeout = c->s != NULL && c->s->state == SMTP_S_DATA ?
	    cfg->data_timeout : cfg->command_timeout;

	memset(&e, 0, sizeof(e));
	e.events = (want_write ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT | EPOLLRDHUP;
	e.data.ptr = c;
	pthread_mutex_lock(&c->lock);
	c->state = CONN_ARMED;
	c->deadline = now_ms() + (int64_t)timeout * 1000;
	if (epoll_ctl(ep, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
	    &e) == -1) {
		log_warn("%016" PRIx64 " epoll_ctl", c->s ? c->s->id : 0);
		/* Let the deadline scan reclaim it. */
		c->deadline = 0;
	} else {
		c->registered = 1;
	}
	pthread_mutex_unlock(&c->lock);
}

void
server_park(struct conn *c, int64_t until)
{
	pthread_mutex_lock(&c->lock);
	c->state = CONN_PARKED;
	c->deadline = until;	/* 0 = until an explicit unpark */
	pthread_mutex_unlock(&c->lock);
}

void
server_unpark(struct conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->state = CONN_BUSY;
	c->deadline = 0;
	pthread_mutex_unlock(&c->lock);
	work_push(c, CONN_EV_RESUME);
}

/* The owning worker yields a busy conn: back on the work queue (still
 * BUSY), behind the others, without waiting for an epoll event. */
void
server_requeue(struct conn *c)
{
	work_push(c, CONN_EV_IO);
}

static void
lsock_unref(struct lsock *ls)
{
	if (atomic_fetch_sub(&ls->refs, 1) == 1)
		free(ls);
}

void
server_close(struct conn *c, const char *reason)
{
	int64_t dur = now_ms() - c->started;

	log_info("%016" PRIx64 " smtp disconnect client=%s:%d listener=%s "
	    "reason=%s messages=%" PRIu64 " duration_ms=%" PRId64,
	    c->s ? c->s->id : 0, c->peer, c->peer_port,
	    c->lcfg ? c->lcfg->name : "?", reason,
	    c->s ? c->s->msgs : 0, dur);
	if (c->registered)
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->tls != NULL)
		tls_conn_free(c->tls);
	close(c->fd);
	smtp_session_free(c->s);
	pthread_mutex_lock(&conns_lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&conns_lock);
	atomic_fetch_sub(&nconns, 1);
	atomic_fetch_sub(&c->ls->nconns, 1);
	lsock_unref(c->ls);
	ip_count(c->peer, -1);
	config_unref(c->cfg);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- listeners ---- */

static int
lsock_open(struct lsock *ls)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, fd;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ls->address, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)ls->port);
		if (inet_pton(AF_INET6, ls->address, &s6->sin6_addr) != 1)
			return -1;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)ls->port);
		if (inet_pton(AF_INET, ls->address, &s4->sin_addr) != 1)
			return -1;
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, 1024) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	ls->fd = fd;
	return 0;
}

/* Make the open sockets match the snapshot's listeners. */
static void
listeners_reconcile(const struct config *c)
{
	struct lsock **pp, *ls;
	size_t i;

	for (pp = &lsocks; (ls = *pp) != NULL;) {
		if (config_listener_find(c, ls->address, ls->port) == NULL) {
			log_info("listener closed address=%s port=%d",
			    ls->address, ls->port);
			epoll_ctl(ep, EPOLL_CTL_DEL, ls->fd, NULL);
			close(ls->fd);
			*pp = ls->next;
			lsock_unref(ls);
			continue;
		}
		pp = &ls->next;
	}
	for (i = 0; i < c->nlisteners; i++) {
		const struct config_listener *l = &c->listeners[i];
		struct epoll_event e;

		for (ls = lsocks; ls != NULL; ls = ls->next)
			if (ls->port == l->port && strcmp(ls->address, l->address) == 0)
				break;
		if (ls != NULL)
			continue;
		ls = xcalloc(1, sizeof(*ls));
		ls->kind = KIND_LSOCK;
		str_copy(ls->address, l->address, sizeof(ls->address));
		ls->port = l->port;
		atomic_init(&ls->refs, 1);
		atomic_init(&ls->nconns, 0);
		if (lsock_open(ls) == -1) {
			log_warn("listener %s: cannot listen on %s port %d",
			    l->name, l->address, l->port);
			free(ls);
			continue;
		}
		memset(&e, 0, sizeof(e));
		e.events = EPOLLIN;
		e.data.ptr = ls;
		epoll_ctl(ep, EPOLL_CTL_ADD, ls->fd, &e);
		ls->next = lsocks;
		lsocks = ls;
		log_info("listener open name=%s address=%s port=%d tls=%s%s%s",
		    l->name, l->address, l->port,
		    l->mode == LISTENER_IMPLICIT ? "implicit" :
		    l->mode == LISTENER_STARTTLS ? "starttls" : "none",
		    l->tls ? " versions=" : "", l->tls ? l->tls_desc : "");
	}
}

/* ---- accept ---- */

static void
refuse(int fd, const struct config_listener *l, const char *peer,
    const struct config *c, const char *why)
{
	char msg[300];
	int n;

	log_info("connection refused client=%s listener=%s reason=\"%s\"", peer,
	    l ? l->name : "?", why);
	if (l != NULL && l->mode != LISTENER_IMPLICIT) {
		n = snprintf(msg, sizeof(msg), "421 4.7.0 %s Error: %s, try "
		    "again later\r\n", c->hostname, why);
		if (n > 0 && write(fd, msg, (size_t)n) < 0) {
			/* best effort */
		}
	}
	close(fd);
}

static void
accept_one(struct lsock *ls, int fd, const struct sockaddr_storage *ss)
{
	const struct config *c = cfg_current;
	const struct config_listener *l = config_listener_find(c, ls->address,
	    ls->port);
	struct conn *cn;
	char peer[64] = "?";
	int port = 0, one = 1;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, peer, sizeof(peer));
		port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, peer, sizeof(peer));
		port = ntohs(s6->sin6_port);
	}
	if (l == NULL) {
		refuse(fd, NULL, peer, c, "listener closing");
		return;
	}
	if (atomic_load(&nconns) >= c->max_connections) {
		refuse(fd, l, peer, c, "too many connections");
		return;
	}
	if (atomic_load(&ls->nconns) >= l->max_connections) {
		refuse(fd, l, peer, c, "too many connections to this listener");
		return;
	}
	if (ip_count(peer, 1) > c->max_connections_per_ip) {
		ip_count(peer, -1);
		refuse(fd, l, peer, c, "too many connections from your address");
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cn = xcalloc(1, sizeof(*cn));
	cn->kind = KIND_CONN;
	cn->fd = fd;
	pthread_mutex_init(&cn->lock, NULL);
	cn->state = CONN_BUSY;
	config_ref(cfg_current);
	cn->cfg = cfg_current;
	cn->lcfg = l;
	cn->ls = ls;
	atomic_fetch_add(&ls->refs, 1);
	atomic_fetch_add(&ls->nconns, 1);
	atomic_fetch_add(&nconns, 1);
	str_copy(cn->peer, peer, sizeof(cn->peer));
	cn->peer_port = port;
	cn->started = now_ms();
	pthread_mutex_lock(&conns_lock);
	cn->next = conns;
	if (conns != NULL)
		conns->prev = cn;
	conns = cn;
	pthread_mutex_unlock(&conns_lock);
	work_push(cn, CONN_EV_START);
}

static void
accept_ready(struct lsock *ls)
{
	int i;

	/* Bounded per event; the level-triggered listener fires again. */
	for (i = 0; i < 64; i++) {
		struct sockaddr_storage ss = { 0 };
		socklen_t sl = sizeof(ss);
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on %s port %d", ls->address,
				    ls->port);
			return;
		}
		accept_one(ls, fd, &ss);
	}
}

/* ---- deadlines ---- */

static void
deadline_scan(void)
{
	int64_t now = now_ms();
	struct conn *c;

	pthread_mutex_lock(&conns_lock);
	for (c = conns; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->lock);
		if (c->state == CONN_ARMED && now >= c->deadline) {
			c->state = CONN_BUSY;
			/* DEL, not MOD: a disabled fd still reports HUP/ERR. */
			if (c->registered)
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			c->registered = 0;
			pthread_mutex_unlock(&c->lock);
			work_push(c, CONN_EV_TIMEOUT);
			continue;
		}
		if (c->state == CONN_PARKED && c->deadline != 0 &&
		    now >= c->deadline) {
			c->state = CONN_BUSY;
			c->deadline = 0;
			pthread_mutex_unlock(&c->lock);
			work_push(c, CONN_EV_RESUME);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&conns_lock);
}

/* ---- config thread ---- */

static void
node_heartbeat(PGconn *db, int first)
{
	char pid[32], host[256] = "";
	const char *params[4];
	PGresult *r;

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	gethostname(host, sizeof(host) - 1);
	params[0] = srv_node;
	params[1] = host;
	params[2] = pid;
	params[3] = first ? "t" : "f";
	r = PQexecParams(db, "INSERT INTO postern.nodes (name, host, pid, "
	    "version, started_at, heartbeat_at) VALUES ($1, $2, $3::int, "
	    "'postern 0.1', now(), now()) ON CONFLICT (name) DO UPDATE SET "
	    "host = $2, pid = $3::int, heartbeat_at = now(), started_at = "
	    "CASE WHEN $4::boolean THEN now() ELSE postern.nodes.started_at END",
	    4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warnx("node %s: heartbeat failed: %s", srv_node,
		    PQresultErrorMessage(r));
	PQclear(r);
}

/* Holds the node name for this process: a session-level advisory lock on
 * the config connection, released by PostgreSQL when the process dies.
 * Returns 1 if held, 0 if another live process holds it, -1 on error. */
static int
node_lock(PGconn *db)
{
	const char *params[1] = { srv_node };
	PGresult *r = PQexecParams(db, "SELECT pg_try_advisory_lock("
	    "hashtext('postern node ' || $1))", 1, NULL, params, NULL, NULL, 0);
	int v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return v;
}

static void
node_in_use(PGconn *db)
{
	const char *params[1] = { srv_node };
	PGresult *r = PQexecParams(db, "SELECT host, pid, heartbeat_at FROM "
	    "postern.nodes WHERE name = $1", 1, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		log_warnx("node name \"%s\" is already in use by a running "
		    "posternd (host %s, pid %s, last heartbeat %s); give this "
		    "node another name (node = ... in its bootstrap file)",
		    srv_node, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2));
	else
		log_warnx("node name \"%s\" is already in use by a running "
		    "posternd; give this node another name", srv_node);
	PQclear(r);
}

/* Milliseconds between heartbeats: 10 s, or a third of
 * settings.node_timeout when that is shorter, so that a live node is never
 * shown as down between two beats. */
static int64_t
heartbeat_interval(void)
{
	struct config *c = server_config();
	int64_t ms = 10000;

	if (c != NULL) {
		if (c->node_timeout > 0 && (int64_t)c->node_timeout * 1000 / 3 < ms)
			ms = (int64_t)c->node_timeout * 1000 / 3;
		config_unref(c);
	}
	return ms;
}

static PGconn *
config_connect(void)
{
	PGconn *db = PQconnectdb(srv_conninfo);
	PGresult *r;

	if (PQstatus(db) != CONNECTION_OK) {
		log_warnx("config: database connection failed: %s",
		    PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	if (node_lock(db) == 0) {
		node_in_use(db);
		PQfinish(db);
		return NULL;
	}
	r = PQexec(db, "LISTEN postern_config");
	PQclear(r);
	r = PQexec(db, "LISTEN postern_queue");
	PQclear(r);
	return db;
}

static void
publish(struct config *c)
{
	uint64_t one = 1;

	pthread_mutex_lock(&cfg_lock);
	if (cfg_pending != NULL)
		config_unref(cfg_pending);
	cfg_pending = c;
	pthread_mutex_unlock(&cfg_lock);
	if (write(wake_fd, &one, sizeof(one)) < 0)
		log_warn("config: eventfd write");
}

/* Handles every notification libpq holds: new mail wakes the delivery
 * threads; anything else is a configuration change.  Returns 1 when the
 * configuration must be reloaded. */
static int
drain_notifies(PGconn *db)
{
	PGnotify *n;
	int dirty = 0;

	while ((n = PQnotifies(db)) != NULL) {
		if (strcmp(n->relname, "postern_queue") == 0)
			delivery_wake();
		else
			dirty = 1;
		PQfreemem(n);
	}
	return dirty;
}

static void *
config_main(void *arg)
{
	PGconn *db = arg;
	uint64_t gen = 1;
	int64_t last_beat = 0, backoff = 500;
	int dirty = 0;

	while (!stop_requested) {
		struct pollfd pfd;
		int64_t now = now_ms();

		if (db == NULL) {
			usleep((useconds_t)backoff * 1000);
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			db = config_connect();
			if (db == NULL)
				continue;
			backoff = 500;
			dirty = 1;	/* notifications were lost meanwhile */
		}
		if (now - last_beat >= heartbeat_interval()) {
			node_heartbeat(db, 0);
			last_beat = now;
		}
		if (dirty) {
			char err[512];
			struct config *c;

			dirty = 0;
			c = config_load(db, srv_node, ++gen, err, sizeof(err));
			if (c == NULL) {
				log_warnx("config: reload refused, keeping the "
				    "running configuration: %s", err);
			} else {
				log_info("config: reloaded generation=%" PRIu64
				    " listeners=%zu domains=%zu accounts=%zu",
				    gen, c->nlisteners, c->ndomains, c->naccounts);
				publish(c);
			}
		}
		/* Notifications that arrived while a query ran (the reload or
		 * the heartbeat) are already inside libpq: no socket event
		 * will announce them, so look before waiting. */
		dirty |= drain_notifies(db);
		if (dirty)
			continue;
		pfd.fd = PQsocket(db);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 1000) > 0) {
			if (!PQconsumeInput(db)) {
				log_warnx("config: database connection lost: %s",
				    PQerrorMessage(db));
				PQfinish(db);
				db = NULL;
				continue;
			}
			dirty |= drain_notifies(db);
			if (dirty) {
				/* Debounce: let a burst of changes land. */
				usleep(50 * 1000);
				PQconsumeInput(db);
				(void)drain_notifies(db);
			}
		} else if (PQstatus(db) != CONNECTION_OK) {
			PQfinish(db);
			db = NULL;
		}
	}
	if (db != NULL)
		PQfinish(db);
	return NULL;
}

static void
node_stopped(const char *conninfo)
{
	PGconn *db = PQconnectdb(conninfo);
	const char *params[1] = { srv_node };

	if (PQstatus(db) == CONNECTION_OK)
		PQclear(PQexecParams(db, "UPDATE postern.nodes SET stopped_at ="
		    " now(), heartbeat_at = now() WHERE name = $1", 1, NULL,
		    params, NULL, NULL, 0));
	PQfinish(db);
}

static void
apply_pending(void)
{
	struct config *c;

	pthread_mutex_lock(&cfg_lock);
	c = cfg_pending;
	cfg_pending = NULL;
	pthread_mutex_unlock(&cfg_lock);
	if (c == NULL)
		return;
	pthread_mutex_lock(&cfg_lock);
	config_unref(cfg_current);
	cfg_current = c;
	pthread_mutex_unlock(&cfg_lock);
	listeners_reconcile(c);
}

/* ---- main loop ---- */

int
server_run(const struct server_opts *o)
{
	struct epoll_event evs[256], we;
	struct sigaction sa;
	pthread_t *workers = NULL, cfg_thread;
	PGconn *db;
	char err[512];
	int64_t last_scan = 0;
	int i, nworkers, rc = 0;
	unsigned h = 0;
	const char *p;

	srv_node = o->node;
	srv_conninfo = o->conninfo;
	for (p = o->node; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	node_bits = h & 0x7f;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	db = PQconnectdb(o->conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		log_warnx("cannot connect to the database: %s",
		    PQerrorMessage(db));
		PQfinish(db);
		return EX_TEMPFAIL;
	}
	if (node_lock(db) != 1) {
		node_in_use(db);
		PQfinish(db);
		return EX_TEMPFAIL;
	}
	PQclear(PQexec(db, "LISTEN postern_config"));
	PQclear(PQexec(db, "LISTEN postern_queue"));
	node_heartbeat(db, 1);
	cfg_current = config_load(db, o->node, 1, err, sizeof(err));
	if (cfg_current == NULL) {
		log_warnx("config: cannot load configuration: %s", err);
		PQfinish(db);
		return EX_CONFIG;
	}
	log_info("config: loaded node=%s hostname=%s listeners=%zu domains=%zu "
	    "accounts=%zu workers=%d db_connections=%d", o->node,
	    cfg_current->hostname, cfg_current->nlisteners,
	    cfg_current->ndomains, cfg_current->naccounts,
	    cfg_current->worker_threads, cfg_current->db_connections);

	ep = epoll_create1(EPOLL_CLOEXEC);
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ep == -1 || wake_fd == -1) {
		log_warn("epoll/eventfd");
		return EX_OSERR;
	}
	memset(&we, 0, sizeof(we));
	we.events = EPOLLIN;
	we.data.ptr = &wake_kind;
	epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &we);
	listeners_reconcile(cfg_current);
	if (lsocks == NULL)
		log_warnx("no listener is open; waiting for configuration "
		    "changes");

	dbpool_init(o->conninfo, 2);
	if (committer_start(o->conninfo, o->node,
	    cfg_current->db_connections) == -1)
		return EX_OSERR;
	if (delivery_start(o->conninfo, o->node,
	    cfg_current->delivery_threads) == -1)
		return EX_OSERR;
	nworkers = cfg_current->worker_threads;
	workers = xcalloc((size_t)nworkers, sizeof(*workers));
	for (i = 0; i < nworkers; i++)
		if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0) {
			log_warn("pthread_create");
			return EX_OSERR;
		}
	if (pthread_create(&cfg_thread, NULL, config_main, db) != 0) {
		log_warn("pthread_create");
		return EX_OSERR;
	}
	log_info("posternd ready node=%s", o->node);

	while (!stop_requested) {
		int n = epoll_wait(ep, evs, 256, 200), k;

		if (n == -1 && errno != EINTR) {
			log_warn("epoll_wait");
			rc = EX_OSERR;
			break;
		}
		for (k = 0; k < n; k++) {
			int kind = *(int *)evs[k].data.ptr;

			if (kind == KIND_WAKE) {
				uint64_t v;

				if (read(wake_fd, &v, sizeof(v)) < 0) {
					/* spurious */
				}
				apply_pending();
			} else if (kind == KIND_LSOCK) {
				accept_ready(evs[k].data.ptr);
			} else {
				struct conn *c = evs[k].data.ptr;

				pthread_mutex_lock(&c->lock);
				if (c->state == CONN_ARMED) {
					c->state = CONN_BUSY;
					pthread_mutex_unlock(&c->lock);
					work_push(c, CONN_EV_IO);
				} else {
					pthread_mutex_unlock(&c->lock);
				}
			}
		}
		if (now_ms() - last_scan >= 200) {
			deadline_scan();
			last_scan = now_ms();
		}
	}

	log_info("posternd stopping: no new connections; finishing commits");
	while (lsocks != NULL) {
		struct lsock *ls = lsocks;

		lsocks = ls->next;
		epoll_ctl(ep, EPOLL_CTL_DEL, ls->fd, NULL);
		close(ls->fd);
	}
	committer_stop();
	delivery_stop();
	/* Let workers write the replies of the last commits (bounded). */
	for (i = 0; i < 50; i++) {
		int empty;

		pthread_mutex_lock(&work_lock);
		empty = work_head == NULL;
		pthread_mutex_unlock(&work_lock);
		if (empty)
			break;
		usleep(20 * 1000);
	}
	pthread_join(cfg_thread, NULL);
	dbpool_close();
	node_stopped(o->conninfo);
	log_info("posternd stopped connections=%d", atomic_load(&nconns));
	return rc;
}
