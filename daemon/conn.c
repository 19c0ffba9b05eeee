/*
 * conn.c - drives one connection's I/O around its SMTP session.
 *
 * conn_handle() runs on the worker that owns the conn (see conn.h).  It
 * loops: finish a TLS handshake, flush pending replies, serve the session's
 * request (STARTTLS, AUTH, STORE, CLOSE), read and feed input - until the
 * socket would block (then it re-arms epoll for the direction needed and
 * returns) or the session parks on a request handled elsewhere.  Each pass
 * is bounded (CONN_ROUNDS); a very busy client is re-queued so it cannot
 * starve others (server_requeue: buffered input raises no epoll event).
 * Plaintext read while TLS is active comes from wolfSSL, which may hold
 * decrypted bytes no socket event will announce, so reads continue until
 * wolfSSL wants more from the socket before re-arming.
 *
 * AUTH: the conn parks while the authenticator (authenticator.h: its own
 * threads, the throttle, the current account data, the password check)
 * decides; its completion unparks it.  A delay it asks for (1 s per
 * failure so far, at most 5 s, or the cluster-wide penalty) parks the conn
 * again before the answer, which slows guessing without holding a
 * thread.  A full authenticator queue answers 454 4.7.0 at once.  At each
 * MAIL of an authenticated session the account's current tag (enabled,
 * same password hash) must still be the one the AUTH saw, else the
 * session loses its authentication (smtp_hooks.auth_current).
 * STORE: the conn parks while the committer writes the message; its
 * completion unparks it, and only then is the 250 written.
 *
 * Greeting: on a listener with greet_pause, a client address not known to
 * have passed (greet.h) gets its 220 only after settings.greet_pause_ms;
 * the conn waits ARMED with the pause's end as its deadline, holding no
 * thread.  Input during the pause, or waiting when any plaintext 220 is
 * about to be written, is talking early: 554 5.5.1 and close.  A client
 * that waited is recorded as passed.  Deadlines (conn_deadline) follow
 * deadline.h: the whole command line, the DATA rate, the lifetime.
 */
#include "daemon/conn.h"

#include <errno.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/greet.h"
#include "daemon/log.h"
#include "daemon/passwd.h"
#include "daemon/policy.h"
#include "daemon/queue_id.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

#define CONN_ROUNDS 64
#define CONN_READ 16384

enum step { STEP_CONTINUE, STEP_RETURN };

static uint64_t
hook_new_id(void *arg)
{
	(void)arg;
	return queue_id_new();
}

static int
hook_auth_current(void *arg, const char *user)
{
	struct conn *c = arg;

	return c->auth_tag != 0 && auth_account_tag(user) == c->auth_tag;
}

/* Input waiting on the socket without reading it: 1 some, 0 none, -1 the
 * client closed (or the socket failed). */
static int
peek_input(struct conn *c)
{
	char b;
	ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (r > 0)
		return 1;
	if (r == 0)
		return -1;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ?
	    0 : -1;
}

/* The client spoke before the 220: 554 5.5.1 and close.  What it sent is
 * read and dropped first (bounded), or closing with unread input would
 * reset the connection before the client sees the reply. */
static void
early_talker(struct conn *c)
{
	uint8_t junk[CONN_READ];
	int i;

	for (i = 0; i < 4; i++) {
		ssize_t r = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (r <= 0)
			break;
		c->bytes_in += (uint64_t)r;
	}
	log_info("%016" PRIx64 " smtp early talker client=%s listener=%s",
	    smtp_session_id(c->s), c->peer, c->lcfg->name);
	smtp_session_early_talker(c->s);
}

/* The plaintext 220, unless input is already waiting (which always counts
 * as talking early). */
static void
greet(struct conn *c)
{
	if (peek_input(c) > 0)
		early_talker(c);
	else
		smtp_session_start(c->s, NULL);
}

/* The greeting pause is over without input: the client passed; every node
 * learns it (greet.h, through the control thread). */
static void
greet_pause_end(struct conn *c)
{
	c->greet_at = 0;
	if (peek_input(c) > 0) {
		early_talker(c);
		return;
	}
	greet_pass(c->peer, now_ms(), 1000 * (int64_t)c->cfg->greet_pass_ttl);
	log_info("%016" PRIx64 " smtp greet passed client=%s",
	    smtp_session_id(c->s), c->peer);
	smtp_session_start(c->s, NULL);
}

/* An event during the greeting pause.  STEP_RETURN when re-armed or
 * closed. */
static enum step
greet_pause_event(struct conn *c)
{
	int in = peek_input(c);

	if (in > 0) {
		early_talker(c);
		return STEP_CONTINUE;
	}
	if (in < 0) {
		server_close(c, "client closed");
		return STEP_RETURN;
	}
	if (now_ms() >= c->greet_at) {
		greet_pause_end(c);
		return STEP_CONTINUE;
	}
	server_arm(c, 0);	/* spurious: wait for the rest of the pause */
	return STEP_RETURN;
}

int64_t
conn_deadline(struct conn *c)
{
	const struct config *cfg = c->cfg;
	struct deadline_in in;
	int64_t d;

	memset(&in, 0, sizeof(in));
	in.now = now_ms();
	in.started = c->started;
	in.lifetime_ms = 1000 * (int64_t)cfg->session_max_lifetime;
	if (c->greet_at != 0)
		in.phase = DEADLINE_GREET_PAUSE;
	else if (c->s != NULL && smtp_session_closing(c->s))
		in.phase = DEADLINE_CLOSING;
	else if (c->s != NULL && smtp_session_in_data(c->s))
		in.phase = DEADLINE_DATA;
	else
		in.phase = DEADLINE_COMMAND;
	in.prev = in.phase == c->dl_phase ? c->dl_prev : 0;
	in.line_pending = c->handshaking ||
	    (c->s != NULL && smtp_session_line_pending(c->s));
	in.timeout_ms = 1000 * (int64_t)(in.phase == DEADLINE_DATA ?
	    cfg->data_timeout : cfg->command_timeout);
	in.new_bytes = c->bytes_in - c->dl_bytes;
	in.min_rate = cfg->data_min_rate;
	in.greet_at = c->greet_at;
	d = deadline_next(&in);
	c->dl_phase = in.phase;
	c->dl_prev = d;
	c->dl_bytes = c->bytes_in;
	return d;
}

/* STEP_RETURN when the conn was closed. */
static enum step
conn_start(struct conn *c)
{
	struct smtp_params p;
	struct smtp_hooks h;

	policy_session_params(c->cfg, c->lcfg, &p);
	memset(&h, 0, sizeof(h));
	h.arg = c->cfg;
	h.check = policy_check;
	h.auth_mechs = policy_auth_mechs;
	h.new_id = hook_new_id;
	h.auth_current = hook_auth_current;
	h.auth_arg = c;
	c->s = smtp_session_new(&p, &h, queue_id_new(), c->peer, 0);
	log_info("%016" PRIx64 " smtp connect client=%s:%d listener=%s",
	    smtp_session_id(c->s), c->peer, c->peer_port, c->lcfg->name);
	if (c->lcfg->mode == LISTENER_IMPLICIT) {
		c->tls = tls_conn_new_server(c->lcfg->tls, c->fd);
		if (c->tls == NULL) {
			/* No TLS, so no way to answer the client. */
			server_close(c, "tls setup failed");
			return STEP_RETURN;
		}
		c->handshaking = 1;
		return STEP_CONTINUE;	/* greeting after the handshake */
	}
	if (c->lcfg->greet_pause && c->cfg->greet_pause_ms > 0 &&
	    !greet_known(c->peer, now_ms())) {
		/* postscreen's pregreet test: no thread waits, the loop's
		 * deadline scan brings the conn back when the pause ends. */
		c->greet_at = now_ms() + c->cfg->greet_pause_ms;
		log_info("%016" PRIx64 " smtp greet pause client=%s ms=%d",
		    smtp_session_id(c->s), c->peer, c->cfg->greet_pause_ms);
		server_arm(c, 0);
		return STEP_RETURN;
	}
	greet(c);
	return STEP_CONTINUE;
}

static void
store_done(struct committer_job *job, enum smtp_result r)
{
	struct conn *c = job->arg;

	c->resume_kind = CONN_RESUME_STORE;
	c->resume_result = r;
	server_unpark(c);
}

static void
auth_done(struct auth_job *job)
{
	struct conn *c = job->arg;

	c->resume_kind = CONN_RESUME_AUTH;
	server_unpark(c);
}

/* Hands the AUTH request to the authenticator; the conn is parked. */
static void
auth_submit(struct conn *c)
{
	struct auth_job *j = &c->auth;

	memset(j, 0, sizeof(*j));
	str_copy(j->user, smtp_session_auth_user(c->s), sizeof(j->user));
	str_copy(j->pass, smtp_session_auth_pass(c->s), sizeof(j->pass));
	str_copy(j->peer, c->peer, sizeof(j->peer));
	j->sid = smtp_session_id(c->s);
	j->failures = smtp_session_auth_failures(c->s);
	j->done = auth_done;
	j->arg = c;
	server_park(c, 0);
	if (authenticator_submit(j) == 0)
		return;
	wipe(j->pass, sizeof(j->pass));
	log_info("%016" PRIx64 " smtp auth refused client=%s reason=busy",
	    j->sid, c->peer);
	j->result = SMTP_TEMPFAIL;
	auth_done(j);
}

/* The authenticator answered (or its delay passed).  STEP_RETURN when the
 * conn was parked again for the delay. */
static enum step
auth_resume(struct conn *c)
{
	struct auth_job *j = &c->auth;

	if (j->delay_ms > 0) {
		int64_t until = now_ms() + j->delay_ms;

		j->delay_ms = 0;
		server_park(c, until);
		return STEP_RETURN;
	}
	if (j->throttled) {
		smtp_session_resume_auth_throttled(c->s);
		return STEP_CONTINUE;
	}
	if (j->result == SMTP_OK)
		c->auth_tag = j->account_tag;
	smtp_session_resume_auth(c->s, j->result);
	return STEP_CONTINUE;
}

/* Serve the session's outstanding request.  STEP_RETURN when the conn was
 * parked or closed. */
static enum step
serve_request(struct conn *c)
{
	struct smtp_session *s = c->s;
	enum smtp_req req = smtp_session_request(s);

	switch (req) {
	case SMTP_REQ_NONE:
		return STEP_CONTINUE;
	case SMTP_REQ_CLOSE:
		server_close(c, smtp_session_close_reason(s));
		return STEP_RETURN;
	case SMTP_REQ_STARTTLS:
		if (c->lcfg->tls == NULL) {
			server_close(c, "starttls without tls context");
			return STEP_RETURN;
		}
		/* The handshake runs first; the session leaves WAIT when
		 * smtp_session_tls_started() reports it. */
		c->tls = tls_conn_new_server(c->lcfg->tls, c->fd);
		if (c->tls == NULL) {
			/* The 220 is out: the client expects TLS now. */
			server_close(c, "tls setup failed");
			return STEP_RETURN;
		}
		c->handshaking = 1;
		return STEP_CONTINUE;
	case SMTP_REQ_AUTH:
		auth_submit(c);
		return STEP_RETURN;
	case SMTP_REQ_STORE:
		memset(&c->job, 0, sizeof(c->job));
		c->job.req = smtp_session_take_store(s);
		if (c->job.req == NULL)
			fatalx("conn: STORE request without a message");
		c->job.done = store_done;
		c->job.arg = c;
		server_park(c, 0);
		committer_submit(&c->job);
		return STEP_RETURN;
	}
	fatalx("conn: unknown session request %d", (int)req);
}

/* Write pending output.  STEP_RETURN when re-armed or closed. */
static enum step
flush_out(struct conn *c)
{
	struct smtp_session *s = c->s;
	const void *out;
	size_t len;

	/* Bounded: each round writes at least one byte or returns. */
	for (;;) {
		size_t n = 0;

		out = smtp_session_output(s, &len);
		if (len == 0)
			break;
		if (c->tls != NULL) {
			enum tls_io r = tls_conn_write(c->tls, out, len, &n);

			if (r == TLS_IO_WANT_WRITE || r == TLS_IO_WANT_READ) {
				server_arm(c, r == TLS_IO_WANT_WRITE);
				return STEP_RETURN;
			}
			if (r != TLS_IO_OK) {
				server_close(c, "tls write error");
				return STEP_RETURN;
			}
		} else {
			ssize_t w = write(c->fd, out, len);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					server_arm(c, 1);
					return STEP_RETURN;
				}
				server_close(c, "write error");
				return STEP_RETURN;
			}
			n = (size_t)w;
		}
		c->bytes_out += n;
		smtp_session_output_done(s, n);
	}
	return STEP_CONTINUE;
}

static enum step
handshake(struct conn *c)
{
	enum tls_io r = tls_conn_handshake(c->tls);

	switch (r) {
	case TLS_IO_OK:
		c->handshaking = 0;
		log_info("%016" PRIx64 " smtp tls established client=%s "
		    "version=%s cipher=%s", smtp_session_id(c->s), c->peer,
		    tls_conn_version(c->tls), tls_conn_cipher(c->tls));
		smtp_session_tls_started(c->s, tls_conn_version(c->tls),
		    tls_conn_cipher(c->tls));
		return STEP_CONTINUE;
	case TLS_IO_WANT_READ:
	case TLS_IO_WANT_WRITE:
		server_arm(c, r == TLS_IO_WANT_WRITE);
		return STEP_RETURN;
	default: {
		char why[200];

		snprintf(why, sizeof(why), "tls handshake failed: %s",
		    tls_conn_error(c->tls));
		server_close(c, why);
		return STEP_RETURN;
	}
	}
}

static enum step
read_in(struct conn *c)
{
	uint8_t data[CONN_READ];
	size_t n = 0;

	if (c->tls != NULL) {
		enum tls_io r = tls_conn_read(c->tls, data, sizeof(data), &n);

		if (r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE) {
			server_arm(c, r == TLS_IO_WANT_WRITE);
			return STEP_RETURN;
		}
		if (r == TLS_IO_EOF) {
			server_close(c, "client closed");
			return STEP_RETURN;
		}
		if (r != TLS_IO_OK) {
			char why[200];

			snprintf(why, sizeof(why), "tls read error: %s",
			    tls_conn_error(c->tls));
			server_close(c, why);
			return STEP_RETURN;
		}
	} else {
		ssize_t r = read(c->fd, data, sizeof(data));

		if (r < 0) {
			if (errno == EINTR)
				return STEP_CONTINUE;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				server_arm(c, 0);
				return STEP_RETURN;
			}
			server_close(c, "read error");
			return STEP_RETURN;
		}
		if (r == 0) {
			server_close(c, "client closed");
			return STEP_RETURN;
		}
		n = (size_t)r;
	}
	c->bytes_in += n;
	smtp_session_feed(c->s, data, n);
	wipe(data, n);
	return STEP_CONTINUE;
}

void
conn_handle(struct conn *c)
{
	int round;

	switch (c->ev) {
	case CONN_EV_START:
		if (conn_start(c) == STEP_RETURN)
			return;
		break;
	case CONN_EV_TIMEOUT:
		if (c->greet_at != 0) {
			greet_pause_end(c);
			break;
		}
		if (c->handshaking || smtp_session_closing(c->s)) {
			server_close(c, "timeout");
			return;
		}
		if (deadline_lifetime_over(now_ms(), c->started,
		    1000 * (int64_t)c->cfg->session_max_lifetime))
			smtp_session_lifetime_over(c->s);
		else
			smtp_session_timeout(c->s);
		break;
	case CONN_EV_RESUME:
		if (c->resume_kind == CONN_RESUME_AUTH) {
			if (auth_resume(c) == STEP_RETURN)
				return;
		} else
			smtp_session_resume_store(c->s, c->resume_result, NULL);
		break;
	case CONN_EV_IO:
		if (c->greet_at != 0) {
			if (greet_pause_event(c) == STEP_RETURN)
				return;
			break;
		}
		/* A client that never lets its conn go idle meets no
		 * deadline scan: its lifetime is checked here. */
		if (!c->handshaking && !smtp_session_closing(c->s) &&
		    deadline_lifetime_over(now_ms(), c->started,
		    1000 * (int64_t)c->cfg->session_max_lifetime))
			smtp_session_lifetime_over(c->s);
		break;
	}
	for (round = 0; round < CONN_ROUNDS; round++) {
		if (c->handshaking) {
			if (handshake(c) == STEP_RETURN)
				return;
			continue;
		}
		if (flush_out(c) == STEP_RETURN)
			return;
		if (smtp_session_request(c->s) != SMTP_REQ_NONE) {
			if (serve_request(c) == STEP_RETURN)
				return;
			continue;
		}
		if (smtp_session_wants_input(c->s)) {
			size_t held = smtp_session_input_held(c->s);

			/* Complete lines held back while the output was over
			 * its high-water mark come first: no socket event
			 * will announce them once the client has sent all. */
			if (held > 0) {
				smtp_session_process(c->s);
				if (smtp_session_input_held(c->s) != held)
					continue;
			}
			if (read_in(c) == STEP_RETURN)
				return;
			continue;
		}
		smtp_session_process(c->s);
	}
	/* Busy client: yield the worker.  It must come back without a new
	 * epoll event: input already read (in the session or inside wolfSSL)
	 * and replies not yet written raise none, and arming for input here
	 * stalled a client that had sent everything until the timeout. */
	server_requeue(c);
}
