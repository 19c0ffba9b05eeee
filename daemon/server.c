/*
 * server.c - the event loop, the listener sockets and the worker pool.
 *
 * Threads:
 *   loop     epoll_wait; accept (admission by accept_limits.c); move ARMED
 *            conns to BUSY and queue them; every 200 ms scan deadlines
 *            (conn.c sets them from deadline.h: greeting pauses, command,
 *            DATA rate, lifetime; AUTH delays); install snapshots the control
 *            thread published (runtime.h) and reconcile the listeners.
 *   workers  take queued conns and run conn_handle() (conn.c).
 * The control thread (control.c), the committer threads (committer.c) and
 * the delivery threads (delivery.c) are started and stopped from here.
 * Code below the loop reaches it only through runtime.h.
 *
 * A refused plaintext client gets "421 4.7.0 ... too many connections"
 * before close.  Listen backlog 1024 (a burst of connects must not overflow the queue).
 *
 * A listener closed by a reload is unlinked at once but freed only after
 * the epoll batch that closed it: a later event of the same batch may
 * still point at it.
 *
 * Stop: no new connections, the committer answers what it holds, the
 * workers get up to 1 s to write those replies, then they are stopped and
 * joined; the control thread marks the clean stop last.
 *
 * Lock order: conns_lock, then a conn's lock.  The work queue lock is a
 * leaf (as are accept_limits' and runtime's).
 */
#include "daemon/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon/accept_limits.h"
#include "daemon/authenticator.h"
#include "daemon/committer.h"
#include "daemon/config.h"
#include "daemon/conn.h"
#include "daemon/control.h"
#include "daemon/db_node.h"
#include "daemon/delivery.h"
#include "daemon/log.h"
#include "daemon/queue_id.h"
#include "daemon/runtime.h"
#include "daemon/util.h"
#include "tls/tls.h"

#define KIND_CONN 1
#define KIND_LSOCK 2
#define KIND_WAKE 3

#define LOOP_EVENTS 256
#define LOOP_TICK_MS 200
#define ACCEPT_BURST 64
#define AUTH_POOL_SIZE AUTHENTICATOR_THREADS	/* one connection each */

struct lsock {
	int kind;
	int fd;
	char address[64];
	int port;
	atomic_int nconns;	/* the listener's count for accept_limits */
	atomic_int refs;	/* the loop's list + one per conn */
	int closed;		/* unlinked; freed after the batch */
	struct lsock *next;
};

static int ep = -1;
static int wake_fd = -1;
static int wake_kind = KIND_WAKE;
static volatile sig_atomic_t stop_requested;

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;

static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER;
static struct conn *work_head, *work_tail;
static int work_stop;
static pthread_t *workers;
static int nworkers;

static struct accept_limits *limits;
static struct config *loop_cfg;	/* the installed snapshot (runtime.c
				 * holds the reference) */
static struct lsock *lsocks;

/* Connections the descriptor limit leaves room for (fd_budget_init). */
static int fd_budget = 1000000;
/* Accepting paused (out of descriptors) until this monotonic ms; 0 = not
 * paused.  The pause doubles from ACCEPT_PAUSE_MIN_MS to ..._MAX_MS while
 * accept keeps failing. */
static int64_t accept_paused_until;
static int64_t accept_pause_ms;
#define ACCEPT_PAUSE_MIN_MS 100
#define ACCEPT_PAUSE_MAX_MS 1600
static struct lsock *lsocks_closed;	/* freed after the epoll batch */

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Compatibility for callers not yet on queue_id.h / runtime.h
 * (delivery.c); removed when they switch. */
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

/* Runs queued conns until work_stop; what is still queued then is left
 * for process exit (the replies that mattered were given the grace
 * period in server_run). */
static void *
worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct conn *c;

		pthread_mutex_lock(&work_lock);
		while (work_head == NULL && !work_stop)
			pthread_cond_wait(&work_cond, &work_lock);
		if (work_stop) {
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
	tls_thread_cleanup();
	return NULL;
}

static int
workers_start(int n)
{
	int i;

	workers = xcalloc((size_t)n, sizeof(*workers));
	for (i = 0; i < n; i++) {
		if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0) {
			log_warn("pthread_create");
			return -1;
		}
		nworkers++;
	}
	return 0;
}

/* Gives the workers up to 1 s to empty the queue (the replies of the last
 * commits), then stops and joins them. */
static void
workers_stop(void)
{
	int i;

	for (i = 0; i < 50; i++) {
		int empty;

		pthread_mutex_lock(&work_lock);
		empty = work_head == NULL;
		pthread_mutex_unlock(&work_lock);
		if (empty)
			break;
		usleep(20 * 1000);
	}
	pthread_mutex_lock(&work_lock);
	work_stop = 1;
	pthread_cond_broadcast(&work_cond);
	pthread_mutex_unlock(&work_lock);
	for (i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	workers = NULL;
	nworkers = 0;
}

/* ---- conn ownership transitions (called by the owning worker) ---- */

void
server_arm(struct conn *c, int want_write)
{
	struct epoll_event e;
	int64_t deadline = conn_deadline(c);

	memset(&e, 0, sizeof(e));
	e.events = (want_write ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT | EPOLLRDHUP;
	e.data.ptr = c;
	pthread_mutex_lock(&c->lock);
	c->state = CONN_ARMED;
	c->deadline = deadline;
	if (epoll_ctl(ep, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
	    &e) == -1) {
		log_warn("%016" PRIx64 " epoll_ctl", c->s ? smtp_session_id(c->s) : 0);
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
	    c->s ? smtp_session_id(c->s) : 0, c->peer, c->peer_port,
	    c->lcfg ? c->lcfg->name : "?", reason,
	    c->s ? smtp_session_messages(c->s) : 0, dur);
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
	accept_limits_release(limits, &c->ls->nconns, c->peer);
	lsock_unref(c->ls);
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

/* Make the open sockets match the snapshot's listeners.  A closed
 * listener goes to lsocks_closed until the end of the epoll batch. */
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
			ls->fd = -1;
			ls->closed = 1;
			*pp = ls->next;
			ls->next = lsocks_closed;
			lsocks_closed = ls;
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

/* Drops the loop's reference to the listeners closed in this batch. */
static void
listeners_reap(void)
{
	while (lsocks_closed != NULL) {
		struct lsock *ls = lsocks_closed;

		lsocks_closed = ls->next;
		lsock_unref(ls);
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
peer_name(const struct sockaddr_storage *ss, char *peer, size_t len,
    int *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, peer, (socklen_t)len);
		*port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, peer, (socklen_t)len);
		*port = ntohs(s6->sin6_port);
	}
}

static void
accept_one(struct lsock *ls, int fd, const struct sockaddr_storage *ss)
{
	const struct config *c = loop_cfg;
	const struct config_listener *l = config_listener_find(c, ls->address,
	    ls->port);
	struct accept_max max;
	enum accept_verdict v;
	struct conn *cn;
	char peer[64] = "?";
	int port = 0, one = 1;

	peer_name(ss, peer, sizeof(peer), &port);
	if (l == NULL) {
		refuse(fd, NULL, peer, c, "listener closing");
		return;
	}
	max.total = c->max_connections < fd_budget ? c->max_connections :
	    fd_budget;
	max.listener = l->max_connections;
	max.per_ip = c->max_connections_per_ip;
	v = accept_limits_admit(limits, &ls->nconns, peer, &max);
	if (v != ACCEPT_OK) {
		refuse(fd, l, peer, c, accept_verdict_text(v));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cn = xcalloc(1, sizeof(*cn));
	cn->kind = KIND_CONN;
	cn->fd = fd;
	pthread_mutex_init(&cn->lock, NULL);
	cn->state = CONN_BUSY;
	config_ref(loop_cfg);
	cn->cfg = loop_cfg;
	cn->lcfg = l;
	cn->ls = ls;
	atomic_fetch_add(&ls->refs, 1);
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

/* Every listener in or out of the epoll set (level-triggered EPOLLIN). */
static void
listeners_listen(int on)
{
	struct epoll_event e;
	struct lsock *ls;

	for (ls = lsocks; ls != NULL; ls = ls->next) {
		if (ls->closed || ls->fd == -1)
			continue;
		memset(&e, 0, sizeof(e));
		e.events = on ? EPOLLIN : 0;
		e.data.ptr = ls;
		epoll_ctl(ep, EPOLL_CTL_MOD, ls->fd, &e);
	}
}

/* accept() ran out of descriptors (or memory): the pending connection
 * stays in the backlog and the level-triggered listener would fire again
 * at once, so stop listening for a while instead of spinning.  The pause
 * doubles while accept keeps failing. */
static void
accept_pause(struct lsock *ls)
{
	int e = errno;

	accept_pause_ms = accept_pause_ms == 0 ? ACCEPT_PAUSE_MIN_MS :
	    accept_pause_ms * 2;
	if (accept_pause_ms > ACCEPT_PAUSE_MAX_MS)
		accept_pause_ms = ACCEPT_PAUSE_MAX_MS;
	accept_paused_until = now_ms() + accept_pause_ms;
	log_warnx("accept on %s port %d: %s; not accepting for %lld ms "
	    "(connections=%d)", ls->address, ls->port, strerror(e),
	    (long long)accept_pause_ms, accept_limits_total(limits));
	listeners_listen(0);
}

static void
accept_resume(void)
{
	if (accept_paused_until == 0 || now_ms() < accept_paused_until)
		return;
	accept_paused_until = 0;
	listeners_listen(1);
}

/* The descriptor limit and the connections it leaves room for; warns
 * when the snapshot's max_connections is above them. */
static void
fd_budget_check(const struct config *c)
{
	struct rlimit rl;
	int reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	/* Listeners, committer/delivery/auth/control connections, each
	 * delivery thread's socket, DNS, Maildir files, epoll, logs. */
	reserve = 64 + (int)c->nlisteners + c->db_connections +
	    4 * c->delivery_threads + AUTH_POOL_SIZE;
	fd_budget = accept_limits_fd_budget(rl.rlim_cur == RLIM_INFINITY ?
	    1000000000L : (long)rl.rlim_cur, reserve);
	if (c->max_connections > fd_budget)
		log_warnx("settings.max_connections %d is above what the "
		    "descriptor limit allows (RLIMIT_NOFILE %lld: 2 per "
		    "connection after %d reserved); using %d", c->max_connections,
		    (long long)rl.rlim_cur, reserve, fd_budget);
}

static void
accept_ready(struct lsock *ls)
{
	int i;

	/* Bounded per event; the level-triggered listener fires again. */
	for (i = 0; i < ACCEPT_BURST && !ls->closed; i++) {
		struct sockaddr_storage ss = { 0 };
		socklen_t sl = sizeof(ss);
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				accept_pause(ls);
				return;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on %s port %d", ls->address,
				    ls->port);
			return;
		}
		accept_pause_ms = 0;
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

/* ---- snapshots ---- */

/* runtime_publish() wakes the loop through the eventfd. */
static void
loop_wake(void)
{
	uint64_t one = 1;

	if (write(wake_fd, &one, sizeof(one)) < 0)
		log_warn("loop: eventfd write");
}

static void
apply_pending(void)
{
	struct config *c = runtime_take_pending();

	if (c == NULL)
		return;
	if (loop_cfg == NULL || c->max_connections != loop_cfg->max_connections)
		fd_budget_check(c);
	loop_cfg = c;
	runtime_install(c);
	listeners_reconcile(c);
}

/* ---- main loop ---- */

static void
dispatch(struct epoll_event *ev)
{
	int kind = *(int *)ev->data.ptr;

	if (kind == KIND_WAKE) {
		uint64_t v;

		if (read(wake_fd, &v, sizeof(v)) < 0) {
			/* spurious */
		}
		apply_pending();
	} else if (kind == KIND_LSOCK) {
		struct lsock *ls = ev->data.ptr;

		if (!ls->closed)
			accept_ready(ls);
	} else if (kind == KIND_CONN) {
		struct conn *c = ev->data.ptr;

		pthread_mutex_lock(&c->lock);
		if (c->state == CONN_ARMED) {
			c->state = CONN_BUSY;
			pthread_mutex_unlock(&c->lock);
			work_push(c, CONN_EV_IO);
		} else {
			pthread_mutex_unlock(&c->lock);
		}
	} else {
		fatalx("epoll event of unknown kind %d", kind);
	}
}

static int
loop_init(void)
{
	struct epoll_event we;

	ep = epoll_create1(EPOLL_CLOEXEC);
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ep == -1 || wake_fd == -1) {
		log_warn("epoll/eventfd");
		return -1;
	}
	memset(&we, 0, sizeof(we));
	we.events = EPOLLIN;
	we.data.ptr = &wake_kind;
	epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &we);
	runtime_set_waker(loop_wake);
	return 0;
}

static void
signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Starts everything below the loop; an EX_* code when one cannot. */
static int
threads_start(const struct server_opts *o)
{
	db_node_auth_init(AUTH_POOL_SIZE);
	if (authenticator_start() == -1)
		return EX_OSERR;
	if (committer_start(o->node,
	    loop_cfg->db_connections) == -1)
		return EX_OSERR;
	if (delivery_start(o->node, db_node_incarnation(),
	    loop_cfg->delivery_threads) == -1)
		return EX_OSERR;
	if (workers_start(loop_cfg->worker_threads) == -1)
		return EX_OSERR;
	if (control_start() == -1)
		return EX_OSERR;
	return 0;
}

static int
loop_run(void)
{
	struct epoll_event evs[LOOP_EVENTS];
	int64_t last_scan = 0;

	while (!stop_requested) {
		int n = epoll_wait(ep, evs, LOOP_EVENTS, LOOP_TICK_MS), k;

		if (n == -1 && errno != EINTR) {
			log_warn("epoll_wait");
			return EX_OSERR;
		}
		for (k = 0; k < n; k++)
			dispatch(&evs[k]);
		listeners_reap();
		accept_resume();
		if (now_ms() - last_scan >= LOOP_TICK_MS) {
			deadline_scan();
			last_scan = now_ms();
		}
	}
	return 0;
}

int
server_run(const struct server_opts *o)
{
	int rc;

	runtime_init(o->node);
	limits = accept_limits_new();
	signals_init();
	rc = control_init(o->node);
	if (rc != 0)
		return rc;
	/* The node number comes with the name lock (db_node.h). */
	queue_id_init(db_node_number());
	loop_cfg = runtime_config();
	config_unref(loop_cfg);	/* runtime.c holds it until the next install */
	if (loop_init() == -1)
		return EX_OSERR;
	fd_budget_check(loop_cfg);
	listeners_reconcile(loop_cfg);
	if (lsocks == NULL)
		log_warnx("no listener is open; waiting for configuration "
		    "changes");
	rc = threads_start(o);
	if (rc != 0)
		return rc;
	log_info("posternd ready node=%s", o->node);

	rc = loop_run();

	log_info("posternd stopping: no new connections; finishing commits");
	while (lsocks != NULL) {
		struct lsock *ls = lsocks;

		lsocks = ls->next;
		epoll_ctl(ep, EPOLL_CTL_DEL, ls->fd, NULL);
		close(ls->fd);
		ls->fd = -1;
		ls->closed = 1;
		lsock_unref(ls);	/* open conns keep their own reference */
	}
	authenticator_stop();
	committer_stop();
	delivery_stop();
	workers_stop();
	control_stop();
	db_node_auth_close();
	log_info("posternd stopped connections=%d",
	    accept_limits_total(limits));
	return rc;
}
