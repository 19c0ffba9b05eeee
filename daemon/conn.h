/*
 * conn.h - one client connection: the socket, its TLS object and its SMTP
 * session, driven by whichever worker currently owns it.
 *
 * Ownership (docs/style.md rule 17): a conn is in exactly one of these states,
 * changed only under c->lock:
 *   CONN_ARMED   registered in epoll (EPOLLONESHOT), owned by nobody; the
 *                event loop moves it to BUSY when an event or its deadline
 *                arrives and queues it for a worker;
 *   CONN_BUSY    owned by one worker (or queued for one);
 *   CONN_PARKED  waiting for a request outside the worker (a commit in the
 *                committer, an AUTH check in the authenticator, or an
 *                AUTH failure delay until c->deadline);
 *                the completion moves it to BUSY and queues it.
 * Only the owning worker touches the session, the TLS object and the fd,
 * and only it frees the conn.  An idle connection holds no thread and, with
 * empty buffers, a few KiB of memory.
 */
#ifndef POSTERN_CONN_H
#define POSTERN_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "daemon/authenticator.h"
#include "daemon/committer.h"
#include "daemon/config.h"
#include "daemon/deadline.h"
#include "daemon/smtp_session.h"
#include "tls/tls.h"

enum conn_state { CONN_ARMED, CONN_BUSY, CONN_PARKED };
enum conn_event { CONN_EV_START, CONN_EV_IO, CONN_EV_TIMEOUT, CONN_EV_RESUME };
enum conn_resume { CONN_RESUME_AUTH, CONN_RESUME_STORE };

struct lsock;

struct conn {
	int kind;		/* KIND_CONN, first member (see server.c) */
	int fd;
	pthread_mutex_t lock;
	enum conn_state state;
	int registered;		/* in the epoll set */
	int64_t deadline;	/* ARMED: idle timeout; PARKED: resume time */
	enum conn_event ev;	/* what the worker should handle */
	struct conn *prev, *next;	/* all connections */
	struct conn *qnext;	/* worker queue */
	struct config *cfg;	/* snapshot at connect time (a reference) */
	const struct config_listener *lcfg;	/* inside cfg */
	struct lsock *ls;
	struct smtp_session *s;
	struct tls_conn *tls;
	int handshaking;
	enum conn_resume resume_kind;
	enum smtp_result resume_result;
	struct committer_job job;
	struct auth_job auth;	/* the authenticator's while parked */
	uint64_t auth_tag;	/* auth_account_tag() at the AUTH that passed */
	char peer[64];
	int peer_port;
	int64_t started;
	uint64_t bytes_in, bytes_out;
	int64_t greet_at;	/* greeting paused until then; 0 = not */
	enum deadline_phase dl_phase;	/* what dl_prev was set for */
	int64_t dl_prev;	/* the deadline set last */
	uint64_t dl_bytes;	/* bytes_in when dl_prev was set */
};

/* The deadline for the conn about to be armed (deadline.h), from its
 * state; remembers it for the next one.  Called by the owning worker
 * (server_arm). */
int64_t conn_deadline(struct conn *c);

/* Handles one event for a conn owned by the calling worker.  The loop's
 * services it uses (server_arm, server_park, ...) are in runtime.h. */
void conn_handle(struct conn *c);

#endif
