/*
 * smtp_client.c - the SMTP client's driver: sockets, wolfSSL (tls/),
 * deadlines.  The protocol is daemon/smtp_client_fsm.c (pure); this file
 * connects, writes what the state machine puts out, feeds it what the
 * peer sends, and does the TLS handshake and the body when it asks.  See
 * smtp_client.h.
 *
 * Shape: one struct smtp_client per TCP connection, used by one delivery
 * thread at a time.  The socket is non-blocking; every read, write and
 * handshake step goes through io_read()/io_write()/tls_start(), which
 * poll() against an absolute deadline (monotonic ms) and retry TLS
 * WANT_READ/WANT_WRITE in the direction asked for (a TLS read may need a
 * write and vice versa), and read what wolfSSL already holds
 * (tls_conn_pending) before polling.  So no call blocks longer than its
 * timeout: connect_timeout for connect(), command_timeout for each reply
 * and for each write or handshake step, data_timeout for the reply to the
 * final "." (RFC 5321 4.5.3.2).  Timeouts <= 0 mean the RFC defaults.
 * Before every poll the caller's before_wait hook (if any) is told how
 * long the wait may last (delivery renews its leases there).
 *
 * TLS: IMPLICIT shakes hands before the greeting; STARTTLS when the state
 * machine asks (it decides the policy).  A failed handshake always ends
 * the session with a 4xx and is never retried in clear within the call:
 * the caller may retry later.  Under any mode, a negotiated version
 * outside params.versions, or verify=1 with an unverified peer, ends the
 * session before MAIL.  Client contexts are cached per (min, max, verify)
 * in a mutex-protected static table for the life of the process (loading
 * the CA store per connection would cost milliseconds), so a changed CA
 * store needs a restart.  SIGPIPE: plain writes use MSG_NOSIGNAL;
 * wolfSSL's writes rely on the daemon ignoring SIGPIPE (server.c does).
 *
 * Results: the header's per-recipient rules; a failure without a server
 * reply (connection lost, timeout, TLS policy) is reported as a 4xx with an
 * enhanced code and a text naming host[addr]:port and what happened.
 */
#include "daemon/smtp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/buf.h"
#include "daemon/log.h"
#include "daemon/smtp_client_fsm.h"
#include "daemon/util.h"
#include "tls/tls.h"

#define READ_CHUNK 4096
#define QUIT_TIMEOUT 5		/* seconds; QUIT is a courtesy */
#define DEF_CONNECT 30
#define DEF_COMMAND 300		/* RFC 5321 4.5.3.2.2-4 */
#define DEF_DATA 600		/* RFC 5321 4.5.3.2.6 */

struct smtp_client {
	char host[256];
	char addr[64];
	char helo[256];
	char peer[340];		/* "host[addr]:port" for texts */
	int port;
	enum relay_tls mode;
	unsigned versions;	/* allowed RULES_TLS* bits, never 0 */
	int verify;
	int connect_timeout, command_timeout, data_timeout;
	void (*before_wait)(void *, int);
	void *wait_arg;

	int fd;
	struct tls_conn *tls;
	int tls_failed;		/* half a handshake: no shutdown, no QUIT */
	struct smtpc *fsm;	/* the protocol */
	const uint8_t *body;	/* the message of the transaction */
	size_t len;
	char err[256];		/* last I/O failure, for texts */

	char tls_version[16];
	char tls_cipher[64];
	int tls_verified;
};

static void seterr(struct smtp_client *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
seterr(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ I/O */

static int
wait_fd(struct smtp_client *c, short events, int64_t deadline,
    int timeout_s)
{
	struct pollfd pfd;
	int64_t left;
	int r;

	for (;;) {
		if (c->before_wait != NULL)
			c->before_wait(c->wait_arg,
			    (int)((deadline - now_ms() + 999) / 1000));
		left = deadline - now_ms();
		if (left <= 0) {
			seterr(c, "timeout after %d s", timeout_s);
			return -1;
		}
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;	/* errors surface in the next call */
		if (r == 0) {
			seterr(c, "timeout after %d s", timeout_s);
			return -1;
		}
		if (errno != EINTR) {
			seterr(c, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/* Reads some bytes and feeds them to the state machine.  0, or -1 with
 * c->err set. */
static int
io_read(struct smtp_client *c, int64_t deadline, int timeout_s)
{
	uint8_t tmp[READ_CHUNK];
	size_t want = sizeof(tmp);
	size_t got;
	ssize_t n;
	int drained = 0;

	for (;;) {
		if (c->tls != NULL) {
			switch (tls_conn_read(c->tls, tmp, want, &got)) {
			case TLS_IO_OK:
				smtpc_feed(c->fsm, tmp, got);
				return 0;
			case TLS_IO_WANT_READ:
				/* Decrypted bytes no poll() will announce;
				 * retried once so a confused count cannot
				 * spin past the deadline. */
				if (!drained && tls_conn_pending(c->tls) > 0) {
					drained = 1;
					continue;
				}
				if (wait_fd(c, POLLIN, deadline,
				    timeout_s) == -1)
					return -1;
				continue;
			case TLS_IO_WANT_WRITE:
				if (wait_fd(c, POLLOUT, deadline,
				    timeout_s) == -1)
					return -1;
				continue;
			case TLS_IO_EOF:
				seterr(c, "connection closed by peer");
				return -1;
			case TLS_IO_ERROR:
				seterr(c, "%s", tls_conn_error(c->tls));
				return -1;
			}
			seterr(c, "unexpected TLS result");
			return -1;
		}
		n = recv(c->fd, tmp, want, 0);
		if (n > 0)
			{
			smtpc_feed(c->fsm, tmp, (size_t)n);
			return 0;
		}
		if (n == 0) {
			seterr(c, "connection closed by peer");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			seterr(c, "read: %s", strerror(errno));
			return -1;
		}
		if (wait_fd(c, POLLIN, deadline, timeout_s) == -1)
			return -1;
	}
}

/* Writes all of p.  The deadline is renewed after each bit of progress
 * (RFC 5321 4.5.3.2.5 bounds each send, not the whole body). */
static int
io_write(struct smtp_client *c, const void *p, size_t len, int timeout_s)
{
	const uint8_t *b = p;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	size_t got;
	ssize_t n;

	while (len > 0) {
		if (c->tls != NULL) {
			/* Same b and len after WANT_*: tls.h pins them. */
			switch (tls_conn_write(c->tls, b, len, &got)) {
			case TLS_IO_OK:
				b += got;
				len -= got;
				deadline = now_ms() + (int64_t)timeout_s * 1000;
				continue;
			case TLS_IO_WANT_READ:
				if (wait_fd(c, POLLIN, deadline,
				    timeout_s) == -1)
					return -1;
				continue;
			case TLS_IO_WANT_WRITE:
				if (wait_fd(c, POLLOUT, deadline,
				    timeout_s) == -1)
					return -1;
				continue;
			case TLS_IO_EOF:
				seterr(c, "connection closed by peer");
				return -1;
			case TLS_IO_ERROR:
				seterr(c, "%s", tls_conn_error(c->tls));
				return -1;
			}
			seterr(c, "unexpected TLS result");
			return -1;
		}
		n = send(c->fd, b, len, MSG_NOSIGNAL);
		if (n >= 0) {
			b += n;
			len -= (size_t)n;
			deadline = now_ms() + (int64_t)timeout_s * 1000;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			seterr(c, "write: %s", strerror(errno));
			return -1;
		}
		if (wait_fd(c, POLLOUT, deadline, timeout_s) == -1)
			return -1;
	}
	return 0;
}

/* Writes the state machine's output and empties it. */
static int
flush_out(struct smtp_client *c, int timeout_s)
{
	int r = 0;

	struct buf *out = smtpc_output(c->fsm);

	if (buf_unread(out) > 0)
		r = io_write(c, buf_data(out), buf_unread(out), timeout_s);
	buf_reset(out);
	return r;
}

/*
 * Next line from the peer, without CRLF (a bare LF is accepted too).
 * *line is valid until consume_line().  0, or -1 with c->err set.
 */
/* ---------------------------------------------------------------- TLS */

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_ctx *ctx_cache[4][4][2];	/* [min-1.0][max-1.0][verify] */

/* A client context with one reference for the caller, or NULL + err. */
static struct tls_ctx *
client_ctx(enum tls_version min, enum tls_version max, int verify,
    char *err, size_t errlen)
{
	struct tls_ctx_params tp;
	struct tls_ctx **slot;
	struct tls_ctx *x = NULL;

	slot = &ctx_cache[min - TLS_V1_0][max - TLS_V1_0][verify ? 1 : 0];
	pthread_mutex_lock(&ctx_lock);
	if (*slot == NULL) {
		memset(&tp, 0, sizeof(tp));
		tp.min_version = min;
		tp.max_version = max;
		*slot = tls_ctx_new_client(&tp, verify, err, errlen);
	}
	x = *slot;
	if (x != NULL)
		tls_ctx_ref(x);
	pthread_mutex_unlock(&ctx_lock);
	return x;
}

static int
is_ip(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

/*
 * Handshake over the connected socket and apply the version and
 * verification policy.  Returns 0, or -1 with fail filled (the session is
 * then unusable: half a handshake cannot go back to plaintext).
 */
static int
tls_start(struct smtp_client *c, struct smtp_client_reply *fail)
{
	char err[256], allowed[64];
	struct tls_ctx *x = NULL;
	enum tls_version min, max, got;
	int64_t deadline;
	int ret = -1, bit;

	min = (enum tls_version)(TLS_V1_0 + __builtin_ctz(c->versions));
	max = (enum tls_version)(TLS_V1_0 + 31 - __builtin_clz(c->versions));
	tls_versions_text(c->versions, allowed, sizeof(allowed));
	err[0] = '\0';
	x = client_ctx(min, max, c->verify, err, sizeof(err));
	if (x == NULL) {
		smtp_reply_set(fail, 451, "4.3.5", "cannot use TLS %s with %s: %s",
		    allowed, c->peer, err);
		goto out;
	}
	c->tls = tls_conn_new_client(x, c->fd,
	    is_ip(c->host) ? NULL : c->host, c->verify ? c->host : NULL);
	if (c->tls == NULL) {
		smtp_reply_set(fail, 451, "4.3.0", "cannot set up TLS with %s",
		    c->peer);
		goto out;
	}
	deadline = now_ms() + (int64_t)c->command_timeout * 1000;
	for (;;) {
		enum tls_io r = tls_conn_handshake(c->tls);

		if (r == TLS_IO_OK)
			break;
		if ((r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE) &&
		    wait_fd(c, r == TLS_IO_WANT_READ ? POLLIN : POLLOUT,
		    deadline, c->command_timeout) == 0)
			continue;
		if (r == TLS_IO_EOF || r == TLS_IO_ERROR) {
			const char *e = tls_conn_error(c->tls);

			if (str_iprefix(e, "TLS handshake failed: "))
				e += strlen("TLS handshake failed: ");
			seterr(c, "%s", e);
		}
		smtp_reply_set(fail, 454, "4.7.5", "TLS handshake with %s failed: "
		    "%s (not retried in clear in this session)", c->peer,
		    c->err);
		goto out;
	}
	str_copy(c->tls_version, tls_conn_version(c->tls),
	    sizeof(c->tls_version));
	str_copy(c->tls_cipher, tls_conn_cipher(c->tls), sizeof(c->tls_cipher));
	c->tls_verified = tls_conn_verified(c->tls);
	bit = tls_version_parse(c->tls_version, &got) == 0 ?
	    1 << (got - TLS_V1_0) : 0;
	if (((unsigned)bit & c->versions) == 0) {
		smtp_reply_set(fail, 454, "4.7.5", "TLS with %s negotiated %s, "
		    "which is not in the allowed set %s", c->peer,
		    c->tls_version, allowed);
		goto out;
	}
	if (c->verify && !c->tls_verified) {
		smtp_reply_set(fail, 454, "4.7.5", "TLS with %s: certificate "
		    "verification failed: %s", c->peer, tls_conn_error(c->tls));
		goto out;
	}
	log_debug("smtp client %s tls version=%s cipher=%s verified=%d",
	    c->peer, c->tls_version, c->tls_cipher, c->tls_verified);
	ret = 0;
out:
	if (ret == -1)
		c->tls_failed = 1;
	tls_ctx_unref(x);
	return ret;
}

/* ------------------------------------------------------------ session */

static int
timeout_or(int v, int def)
{
	return v > 0 ? v : def;
}

/* Copies and checks the parameters.  NULL with fail filled on error. */
static struct smtp_client *
client_new(const struct smtp_client_params *p, struct smtp_client_reply *fail)
{
	struct smtp_client *c = NULL;
	const char *host;
	unsigned v;

	if (p == NULL || p->addr == NULL || p->helo_name == NULL ||
	    p->helo_name[0] == '\0' || p->port <= 0 || p->port > 65535) {
		smtp_reply_set(fail, 451, "4.3.5", "smtp client: missing address, "
		    "port or HELO name");
		return NULL;
	}
	host = p->host != NULL && p->host[0] != '\0' ? p->host : p->addr;
	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	if (str_copy(c->host, host, sizeof(c->host)) >= sizeof(c->host) ||
	    str_copy(c->addr, p->addr, sizeof(c->addr)) >= sizeof(c->addr) ||
	    str_copy(c->helo, p->helo_name, sizeof(c->helo)) >=
	    sizeof(c->helo)) {
		smtp_reply_set(fail, 451, "4.3.5", "smtp client: host, address or "
		    "HELO name too long");
		free(c);
		return NULL;
	}
	/* Safety: these end up in commands and texts. */
	smtp_text_printable(c->host);
	smtp_text_printable(c->helo);
	if (strchr(c->helo, ' ') != NULL) {
		smtp_reply_set(fail, 451, "4.3.5", "smtp client: bad HELO name");
		free(c);
		return NULL;
	}
	c->port = p->port;
	snprintf(c->peer, sizeof(c->peer), "%s[%s]:%d", c->host, c->addr,
	    c->port);
	smtp_text_printable(c->peer);
	c->mode = p->tls == RELAY_TLS_UNSET ? RELAY_TLS_OPPORTUNISTIC : p->tls;
	v = p->versions & (TLS_VERSIONS_10 | TLS_VERSIONS_11 | TLS_VERSIONS_12 |
	    TLS_VERSIONS_13);
	c->versions = v != 0 ? v : TLS_VERSIONS_12 | TLS_VERSIONS_13;
	c->verify = p->verify ? 1 : 0;
	c->connect_timeout = timeout_or(p->connect_timeout, DEF_CONNECT);
	c->command_timeout = timeout_or(p->command_timeout, DEF_COMMAND);
	c->data_timeout = timeout_or(p->data_timeout, DEF_DATA);
	c->before_wait = p->before_wait;
	c->wait_arg = p->wait_arg;
	c->fsm = smtpc_new(c->helo, c->peer, c->mode,
	    c->mode == RELAY_TLS_IMPLICIT);
	return c;
}

static int
tcp_connect(struct smtp_client *c, struct smtp_client_reply *fail)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char a[64];
	socklen_t sl, el = sizeof(int);
	size_t n;
	int one = 1, soerr = 0;

	/* Accept "[2001:db8::1]" as well as the bare literal. */
	str_copy(a, c->addr, sizeof(a));
	n = strlen(a);
	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		memmove(a, a + 1, n - 2);
		a[n - 2] = '\0';
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)c->port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)c->port);
		sl = sizeof(*s6);
	} else {
		smtp_reply_set(fail, 451, "4.4.0", "cannot connect to %s: not an "
		    "IP address", c->peer);
		return -1;
	}
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		smtp_reply_set(fail, 451, "4.3.0", "cannot connect to %s: socket: "
		    "%s", c->peer, strerror(errno));
		return -1;
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&ss, sl) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR) {
		smtp_reply_set(fail, 451, "4.4.1", "cannot connect to %s: %s",
		    c->peer, strerror(errno));
		return -1;
	}
	if (wait_fd(c, POLLOUT, now_ms() + (int64_t)c->connect_timeout *
	    1000, c->connect_timeout) == -1) {
		smtp_reply_set(fail, 451, "4.4.1", "cannot connect to %s: %s",
		    c->peer, c->err);
		return -1;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &el) == -1)
		soerr = errno;
	if (soerr != 0) {
		smtp_reply_set(fail, 451, "4.4.1", "cannot connect to %s: %s",
		    c->peer, strerror(soerr));
		return -1;
	}
	return 0;
}

/* fail for an I/O failure (c->err) at phase, or for a 421 reply. */

/* ------------------------------------------------------------ session */

/* Appends the body, dot-stuffed (RFC 5321 4.5.2), and ".\r\n" to the
 * wire, in SMTPC_SMTPC_OUT_MAX chunks (the state machine's output buffer, empty
 * while it asks for the body). */
static int
send_body(struct smtp_client *c, const uint8_t *body, size_t len)
{
	const uint8_t *p = body, *end = body + len, *nl, *seg;
	size_t n, room;
	int bol = 1;
	struct buf *out = smtpc_output(c->fsm);

	buf_reset(out);
	while (p < end) {
		if (bol && *p == '.' && buf_append(out, ".", 1) == -1) {
			if (flush_out(c, c->command_timeout) == -1)
				return -1;
			(void)buf_append(out, ".", 1);
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = nl != NULL ? nl + 1 : end;
		while (p < seg) {
			room = SMTPC_OUT_MAX - buf_unread(out);
			if (room == 0) {
				if (flush_out(c, c->command_timeout) == -1)
					return -1;
				continue;
			}
			n = (size_t)(seg - p) < room ? (size_t)(seg - p) : room;
			(void)buf_append(out, p, n);
			p += n;
		}
		bol = nl != NULL;
	}
	if (SMTPC_OUT_MAX - buf_unread(out) < 5 &&
	    flush_out(c, c->command_timeout) == -1)
		return -1;
	/* The body should end in CRLF; the terminator needs one. */
	if (len > 0 && body[len - 1] == '\r')
		(void)buf_append(out, "\n", 1);
	else if (len > 0 && body[len - 1] != '\n')
		(void)buf_append(out, "\r\n", 2);
	(void)buf_append(out, ".\r\n", 3);
	return flush_out(c, c->command_timeout);
}

/* The command for index k: 0 MAIL, 1..n RCPT, n+1 DATA. */

/* Seconds to wait for the next reply in the current state. */
static int
reply_timeout(const struct smtp_client *c)
{
	switch (smtpc_state(c->fsm)) {
	case SMTPC_DOT:
		return c->data_timeout;	/* RFC 5321 4.5.3.2.6 */
	case SMTPC_QUIT:
		return QUIT_TIMEOUT;
	default:
		return c->command_timeout;
	}
}

/*
 * Does what the state machine asks until it asks for nothing (READY,
 * FAILED or DONE).  Each reply gets its own deadline, started when the
 * previous reply was parsed or the last write finished.
 */
static void
run(struct smtp_client *c)
{
	struct smtp_client_reply fail;
	int64_t deadline = 0;
	unsigned seen = 0;
	int fresh = 1, tmo;

	for (;;) {
		tmo = smtpc_state(c->fsm) == SMTPC_QUIT ? QUIT_TIMEOUT :
		    c->command_timeout;
		if (buf_unread(smtpc_output(c->fsm)) > 0) {
			if (flush_out(c, tmo) == -1) {
				smtpc_io_failed(c->fsm, c->err, 1);
				continue;
			}
			fresh = 1;
		}
		switch (smtpc_req(c->fsm)) {
		case SMTPC_REQ_NONE:
			return;
		case SMTPC_REQ_READ:
			tmo = reply_timeout(c);
			if (fresh || smtpc_nreplies(c->fsm) != seen) {
				seen = smtpc_nreplies(c->fsm);
				deadline = now_ms() + (int64_t)tmo * 1000;
				fresh = 0;
			}
			if (io_read(c, deadline, tmo) == -1)
				smtpc_io_failed(c->fsm, c->err, 0);
			break;
		case SMTPC_REQ_TLS:
			smtpc_tls_done(c->fsm, tls_start(c, &fail) == 0 ? NULL :
			    &fail);
			fresh = 1;
			break;
		case SMTPC_REQ_BODY:
			if (send_body(c, c->body, c->len) == -1)
				smtpc_io_failed(c->fsm, c->err, 1);
			else
				smtpc_body_sent(c->fsm);
			fresh = 1;
			break;
		}
	}
}

/* QUIT (when the session is sound), close, free.  NULL is fine. */
static void
client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1 && !c->tls_failed) {
		smtpc_quit(c->fsm);
		run(c);
	}
	if (c->tls != NULL) {
		if (!c->tls_failed && !smtpc_broken(c->fsm))
			tls_conn_shutdown(c->tls);
		tls_conn_free(c->tls);
	}
	if (c->fd != -1)
		close(c->fd);
	smtpc_free(c->fsm);
	free(c);
}

struct smtp_client *
smtp_client_open(const struct smtp_client_params *p,
    struct smtp_client_reply *fail)
{
	struct smtp_client *c = NULL, *ret = NULL;

	memset(fail, 0, sizeof(*fail));
	c = client_new(p, fail);
	if (c == NULL)
		goto out;
	if (tcp_connect(c, fail) == -1)
		goto out;
	if (c->mode == RELAY_TLS_IMPLICIT && tls_start(c, fail) == -1)
		goto out;
	run(c);
	if (smtpc_state(c->fsm) != SMTPC_READY) {
		*fail = *smtpc_fail(c->fsm);
		goto out;
	}
	ret = c;
	c = NULL;
out:
	client_free(c);
	return ret;
}

void
smtp_client_close(struct smtp_client *c)
{
	client_free(c);
}

const char *
smtp_client_tls_version(const struct smtp_client *c)
{
	return c != NULL && c->tls != NULL ? c->tls_version : "";
}

const char *
smtp_client_tls_cipher(const struct smtp_client *c)
{
	return c != NULL && c->tls != NULL ? c->tls_cipher : "";
}

int
smtp_client_tls_verified(const struct smtp_client *c)
{
	return c != NULL && c->tls != NULL ? c->tls_verified : 0;
}

int
smtp_client_outcome_unknown(const struct smtp_client *c)
{
	return c != NULL && smtpc_outcome_unknown(c->fsm);
}

int
smtp_client_send(struct smtp_client *c, const char *sender,
    const char *const *rcpts, size_t nrcpts, const uint8_t *body,
    size_t len, struct smtp_client_reply *results)
{
	size_t i;

	if (nrcpts == 0)
		return c != NULL && !smtpc_broken(c->fsm) ? 0 : -1;
	if (c == NULL) {
		for (i = 0; i < nrcpts; i++)
			smtp_reply_set(&results[i], 451, "4.4.2", "smtp client: "
			    "session not usable");
		return -1;
	}
	c->body = body;
	c->len = len;
	smtpc_begin(c->fsm, sender, rcpts, nrcpts, body, len, results);
	run(c);
	c->body = NULL;
	return smtpc_tx_result(c->fsm);
}
