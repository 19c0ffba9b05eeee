/*
 * smtp_client.c - the SMTP client used by delivery (RFC 5321; RFC 2920
 * PIPELINING; RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 3207 STARTTLS; RFC
 * 2034/3463 enhanced status codes).  See smtp_client.h.
 *
 * Shape: one struct smtp_client per TCP connection, used by one delivery
 * thread at a time.  The socket is non-blocking; every read, write and
 * handshake step goes through io_read()/io_write()/tls_step(), which
 * poll() against an absolute deadline (monotonic ms) and retry TLS
 * WANT_READ/WANT_WRITE in the direction asked for (a TLS read may need a
 * write and vice versa), and read what wolfSSL already holds
 * (tls_conn_pending) before polling.  So no call blocks longer than its
 * timeout: connect_timeout for connect(), command_timeout for each reply
 * and for each write or handshake step, data_timeout for the reply to the
 * final "." (RFC 5321 4.5.3.2).  Timeouts <= 0 mean the RFC defaults.
 *
 * Replies are read through a bounded line buffer (REPLY_LINE_MAX per line,
 * REPLY_LINES_MAX lines per reply) and smtp_client_parse_line(); texts are
 * made printable and bounded there, so every text handed back is safe to
 * log and to put into a DSN.
 *
 * TLS policy (enum relay_tls): IMPLICIT shakes hands before the greeting;
 * REQUIRED needs STARTTLS offered and accepted; OPPORTUNISTIC (and UNSET)
 * uses it when offered and continues in clear only when it is not offered
 * or the server refuses the STARTTLS command itself (no handshake began);
 * a failed handshake always ends the session with a 4xx and is never
 * retried in clear within the call: the caller may retry later (as Postfix
 * does, a later attempt may choose plaintext by its own policy).  NONE
 * never uses TLS.  Under any mode, a negotiated version outside
 * params.versions, or verify=1 with an unverified peer, ends the session
 * before MAIL.  Client contexts are cached per (min, max, verify) in a
 * mutex-protected static table for the life of the process (loading the
 * CA store per connection would cost milliseconds), so a changed CA store
 * needs a restart.  SIGPIPE: plain writes use MSG_NOSIGNAL; wolfSSL's
 * writes rely on the daemon ignoring SIGPIPE (server.c does).
 *
 * Results: the header's per-recipient rules; a failure without a server
 * reply (connection lost, timeout, TLS policy) is reported as a 4xx with an
 * enhanced code and a text naming host[addr]:port and what happened.
 */
#include "daemon/smtp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include "daemon/util.h"
#include "tls/tls.h"

#define REPLY_LINE_MAX 8192	/* RFC 5321 4.5.3.1.5 says 512; be lenient */
#define REPLY_LINES_MAX 100	/* an EHLO reply has a dozen */
#define READ_CHUNK 4096
#define OUT_MAX 65536		/* one pipelined group or one body chunk */
#define PIPE_GROUP 100		/* RFC 2920 3.1: bound the unread replies */
#define PATH_MAX_LEN 256	/* RFC 5321 4.5.3.1.3 */
#define QUIT_TIMEOUT 5		/* seconds; QUIT is a courtesy */
#define DEF_CONNECT 30
#define DEF_COMMAND 300		/* RFC 5321 4.5.3.2.2-4 */
#define DEF_DATA 600		/* RFC 5321 4.5.3.2.6 */

#define EXT_PIPELINING	0x01u
#define EXT_SIZE	0x02u
#define EXT_8BITMIME	0x04u
#define EXT_STARTTLS	0x08u
#define EXT_ENHANCED	0x10u

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

	int fd;
	struct tls_conn *tls;
	int greeted;		/* a greeting was read: QUIT makes sense */
	int broken;		/* I/O failed or 421: no more commands */
	unsigned ext;		/* EXT_* of the last EHLO */
	uint64_t size_max;	/* RFC 1870 SIZE value, 0 = none given */

	struct buf in;		/* received bytes not yet parsed */
	struct buf out;		/* one pipelined group / body chunk */
	size_t line_used;	/* bytes of in taken by the last line */
	char err[256];		/* last I/O failure, for texts */

	char tls_version[16];
	char tls_cipher[64];
	int tls_verified;
};

static void seterr(struct smtp_client *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void reply_set(struct smtp_client_reply *, int, const char *,
    const char *, ...) __attribute__((format(printf, 4, 5)));

/* ---------------------------------------------------------------- texts */

static void
seterr(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/* Safety: every text we hand back is printable ASCII. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void
reply_set(struct smtp_client_reply *r, int code, const char *ecode,
    const char *fmt, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->code = code;
	str_copy(r->ecode, ecode != NULL ? ecode : "", sizeof(r->ecode));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	printable(r->text);
}

/* ---------------------------------------------------------- reply parser */

/*
 * Appends n bytes of s to r->text, made printable.  When the text is full
 * it ends in "..."; further appends change nothing.
 */
static void
text_add(struct smtp_client_reply *r, const char *s, size_t n)
{
	size_t cap = sizeof(r->text) - 1;
	size_t pos = strnlen(r->text, cap);
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (pos == cap) {
			memcpy(r->text + cap - 3, "...", 3);
			break;
		}
		r->text[pos++] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
	}
	r->text[pos] = '\0';
}

/*
 * RFC 3463 code at the start of s (n bytes): class "." 1*3digit "."
 * 1*3digit, then end or SP, class equal to the reply's first digit.
 * Returns its length, or 0.
 */
static size_t
ecode_len(const char *s, size_t n, int code)
{
	size_t i = 0, k;
	int part;

	if (n < 5 || code / 100 == 3 || s[0] - '0' != code / 100 ||
	    s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (k = 0; k < 3 && i < n && s[i] >= '0' && s[i] <= '9'; k++)
			i++;
		if (k == 0)
			return 0;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && s[i] != ' ')
		return 0;
	return i;
}

int
smtp_client_parse_line(const char *line, size_t len,
    struct smtp_client_reply *r)
{
	const char *text;
	size_t tlen, el;
	int code, last;

	/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39. */
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || line[2] < '0' || line[2] > '9')
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3)
		last = 1;	/* "250" alone ends a reply (4.2) */
	else if (line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else
		return -1;
	if (r->code != 0 && r->code != code)
		return -1;	/* 4.2.1: every line carries the same code */
	text = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	el = ecode_len(text, tlen, code);
	if (r->code == 0) {
		r->code = code;
		r->ecode[0] = '\0';
		r->text[0] = '\0';
		if (el > 0 && el < sizeof(r->ecode)) {
			memcpy(r->ecode, text, el);
			r->ecode[el] = '\0';
		}
	}
	/* RFC 2034: each line repeats the code; show it once. */
	if (el > 0 && strlen(r->ecode) == el &&
	    memcmp(r->ecode, text, el) == 0) {
		text += el;
		tlen -= el;
		if (tlen > 0 && *text == ' ') {
			text++;
			tlen--;
		}
	}
	if (tlen > 0) {
		if (r->text[0] != '\0')
			text_add(r, " / ", 3);
		text_add(r, text, tlen);
	}
	return last;
}

/* ------------------------------------------------------------------ I/O */

/* Waits until fd is ready for events or the deadline passes. 0 or -1. */
static int
wait_fd(struct smtp_client *c, short events, int64_t deadline,
    int timeout_s)
{
	struct pollfd pfd;
	int64_t left;
	int r;

	for (;;) {
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

/* Reads some bytes into c->in.  0, or -1 with c->err set. */
static int
io_read(struct smtp_client *c, int64_t deadline, int timeout_s)
{
	uint8_t tmp[READ_CHUNK];
	size_t room = c->in.max - buf_unread(&c->in);
	size_t want = room < sizeof(tmp) ? room : sizeof(tmp);
	size_t got;
	ssize_t n;
	int drained = 0;

	if (want == 0) {
		seterr(c, "input buffer full");
		return -1;
	}
	for (;;) {
		if (c->tls != NULL) {
			switch (tls_conn_read(c->tls, tmp, want, &got)) {
			case TLS_IO_OK:
				return buf_append(&c->in, tmp, got);
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
			return buf_append(&c->in, tmp, (size_t)n);
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

/* Writes c->out and empties it. */
static int
flush_out(struct smtp_client *c, int timeout_s)
{
	int r = 0;

	if (buf_unread(&c->out) > 0)
		r = io_write(c, buf_data(&c->out), buf_unread(&c->out),
		    timeout_s);
	buf_reset(&c->out);
	return r;
}

/*
 * Next line from the peer, without CRLF (a bare LF is accepted too).
 * *line is valid until consume_line().  0, or -1 with c->err set.
 */
static int
read_line(struct smtp_client *c, int64_t deadline, int timeout_s,
    const char **line, size_t *len)
{
	const uint8_t *d, *nl;
	size_t n, l;

	for (;;) {
		n = buf_unread(&c->in);
		d = buf_data(&c->in);
		nl = n > 0 ? memchr(d, '\n', n) : NULL;
		if (nl != NULL) {
			l = (size_t)(nl - d);
			c->line_used = l + 1;
			if (l > 0 && d[l - 1] == '\r')
				l--;
			*line = (const char *)d;
			*len = l;
			return 0;
		}
		if (n >= REPLY_LINE_MAX) {
			seterr(c, "reply line longer than %d bytes",
			    REPLY_LINE_MAX);
			return -1;
		}
		if (io_read(c, deadline, timeout_s) == -1)
			return -1;
	}
}

static void
consume_line(struct smtp_client *c)
{
	buf_consume(&c->in, c->line_used);
	c->line_used = 0;
}

/* One EHLO keyword line ("SIZE 10240000"); case-insensitive. */
static void
ehlo_keyword(struct smtp_client *c, const char *s, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} kw[] = {
		{ "PIPELINING", EXT_PIPELINING },
		{ "SIZE", EXT_SIZE },
		{ "8BITMIME", EXT_8BITMIME },
		{ "STARTTLS", EXT_STARTTLS },
		{ "ENHANCEDSTATUSCODES", EXT_ENHANCED },
	};
	char tmp[128];
	size_t i, k;

	if (n >= sizeof(tmp))
		return;		/* no keyword we know is that long */
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		k = strlen(kw[i].name);
		if (!str_iprefix(tmp, kw[i].name) ||
		    (tmp[k] != '\0' && tmp[k] != ' '))
			continue;
		c->ext |= kw[i].bit;
		if (kw[i].bit == EXT_SIZE && tmp[k] == ' ') {
			char *end = NULL;
			unsigned long long v;

			errno = 0;
			v = strtoull(tmp + k + 1, &end, 10);
			if (errno == 0 && end != tmp + k + 1 &&
			    tmp[k + 1] >= '0' && tmp[k + 1] <= '9')
				c->size_max = v;	/* 0 = no limit */
		}
	}
}

/*
 * Reads one complete reply into r, within timeout_s.  With ehlo set, the
 * lines after the first are parsed as extension keywords.  Returns 0, or
 * -1 (I/O failure, timeout, malformed or overlong reply) with c->err set
 * and the session marked broken.
 */
static int
read_reply(struct smtp_client *c, struct smtp_client_reply *r,
    int timeout_s, int ehlo)
{
	char esc[80];
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	const char *line = NULL;
	size_t len = 0;
	int nlines, pr;

	memset(r, 0, sizeof(*r));
	for (nlines = 0; nlines < REPLY_LINES_MAX; nlines++) {
		if (read_line(c, deadline, timeout_s, &line, &len) == -1)
			goto fail;
		pr = smtp_client_parse_line(line, len, r);
		if (pr == -1) {
			seterr(c, "malformed reply line \"%s\"",
			    log_escape(esc, sizeof(esc), line, len));
			consume_line(c);
			goto fail;
		}
		if (ehlo && nlines > 0 && len > 4)
			ehlo_keyword(c, line + 4, len - 4);
		consume_line(c);
		if (pr == 1) {
			if (r->code == 421)
				c->broken = 1;	/* 3.8: server is closing */
			return 0;
		}
	}
	seterr(c, "reply longer than %d lines", REPLY_LINES_MAX);
fail:
	c->broken = 1;
	return -1;
}

/* Sends one command line (without CRLF) and reads its reply. */
static int
command(struct smtp_client *c, const char *cmd, struct smtp_client_reply *r,
    int timeout_s, int ehlo)
{
	memset(r, 0, sizeof(*r));
	buf_reset(&c->out);
	if (buf_printf(&c->out, "%s\r\n", cmd) == -1) {
		seterr(c, "command too long");
		return -1;
	}
	if (flush_out(c, c->command_timeout) == -1) {
		c->broken = 1;
		return -1;
	}
	return read_reply(c, r, timeout_s, ehlo);
}

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
	rules_versions_text(c->versions, allowed, sizeof(allowed));
	err[0] = '\0';
	x = client_ctx(min, max, c->verify, err, sizeof(err));
	if (x == NULL) {
		reply_set(fail, 451, "4.3.5", "cannot use TLS %s with %s: %s",
		    allowed, c->peer, err);
		goto out;
	}
	c->tls = tls_conn_new_client(x, c->fd,
	    is_ip(c->host) ? NULL : c->host, c->verify ? c->host : NULL);
	if (c->tls == NULL) {
		reply_set(fail, 451, "4.3.0", "cannot set up TLS with %s",
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
		reply_set(fail, 454, "4.7.5", "TLS handshake with %s failed: "
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
		reply_set(fail, 454, "4.7.5", "TLS with %s negotiated %s, "
		    "which is not in the allowed set %s", c->peer,
		    c->tls_version, allowed);
		goto out;
	}
	if (c->verify && !c->tls_verified) {
		reply_set(fail, 454, "4.7.5", "TLS with %s: certificate "
		    "verification failed: %s", c->peer, tls_conn_error(c->tls));
		goto out;
	}
	log_debug("smtp client %s tls version=%s cipher=%s verified=%d",
	    c->peer, c->tls_version, c->tls_cipher, c->tls_verified);
	ret = 0;
out:
	if (ret == -1)
		c->broken = 1;
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
		reply_set(fail, 451, "4.3.5", "smtp client: missing address, "
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
		reply_set(fail, 451, "4.3.5", "smtp client: host, address or "
		    "HELO name too long");
		free(c);
		return NULL;
	}
	/* Safety: these end up in commands and texts. */
	printable(c->host);
	printable(c->helo);
	if (strchr(c->helo, ' ') != NULL) {
		reply_set(fail, 451, "4.3.5", "smtp client: bad HELO name");
		free(c);
		return NULL;
	}
	c->port = p->port;
	snprintf(c->peer, sizeof(c->peer), "%s[%s]:%d", c->host, c->addr,
	    c->port);
	printable(c->peer);
	c->mode = p->tls == RELAY_TLS_UNSET ? RELAY_TLS_OPPORTUNISTIC : p->tls;
	v = p->versions & (RULES_TLS10 | RULES_TLS11 | RULES_TLS12 |
	    RULES_TLS13);
	c->versions = v != 0 ? v : RULES_TLS12 | RULES_TLS13;
	c->verify = p->verify ? 1 : 0;
	c->connect_timeout = timeout_or(p->connect_timeout, DEF_CONNECT);
	c->command_timeout = timeout_or(p->command_timeout, DEF_COMMAND);
	c->data_timeout = timeout_or(p->data_timeout, DEF_DATA);
	buf_init(&c->in, REPLY_LINE_MAX + READ_CHUNK);
	buf_init(&c->out, OUT_MAX);
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
		reply_set(fail, 451, "4.4.0", "cannot connect to %s: not an "
		    "IP address", c->peer);
		return -1;
	}
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		reply_set(fail, 451, "4.3.0", "cannot connect to %s: socket: "
		    "%s", c->peer, strerror(errno));
		return -1;
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&ss, sl) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR) {
		reply_set(fail, 451, "4.4.1", "cannot connect to %s: %s",
		    c->peer, strerror(errno));
		return -1;
	}
	if (wait_fd(c, POLLOUT, now_ms() + (int64_t)c->connect_timeout *
	    1000, c->connect_timeout) == -1) {
		reply_set(fail, 451, "4.4.1", "cannot connect to %s: %s",
		    c->peer, c->err);
		return -1;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &el) == -1)
		soerr = errno;
	if (soerr != 0) {
		reply_set(fail, 451, "4.4.1", "cannot connect to %s: %s",
		    c->peer, strerror(soerr));
		return -1;
	}
	return 0;
}

/* fail for an I/O failure (c->err) at phase, or for a 421 reply. */
static void
io_fail(struct smtp_client *c, struct smtp_client_reply *fail,
    const struct smtp_client_reply *r, const char *phase)
{
	if (r != NULL && r->code == 421)
		reply_set(fail, 421, r->ecode, "%s closed the session %s: %s",
		    c->peer, phase, r->text);
	else
		reply_set(fail, 451, "4.4.2", "lost connection with %s %s: %s",
		    c->peer, phase, c->err);
}

/* EHLO, or HELO when EHLO gets a 5xx.  0, or -1 with fail filled. */
static int
hello(struct smtp_client *c, struct smtp_client_reply *fail)
{
	struct smtp_client_reply r;
	const char *verb = "EHLO";
	char cmd[300];

	c->ext = 0;
	c->size_max = 0;
	snprintf(cmd, sizeof(cmd), "EHLO %s", c->helo);
	if (command(c, cmd, &r, c->command_timeout, 1) == -1 ||
	    r.code == 421) {
		io_fail(c, fail, &r, "after EHLO");
		return -1;
	}
	if (r.code / 100 == 2)
		return 0;
	c->ext = 0;
	c->size_max = 0;
	if (r.code / 100 == 5) {
		verb = "HELO";
		snprintf(cmd, sizeof(cmd), "HELO %s", c->helo);
		if (command(c, cmd, &r, c->command_timeout, 0) == -1 ||
		    r.code == 421) {
			io_fail(c, fail, &r, "after HELO");
			return -1;
		}
		if (r.code / 100 == 2)
			return 0;
	}
	reply_set(fail, r.code / 100 == 4 || r.code / 100 == 5 ? r.code :
	    451, r.ecode, "%s refused %s: %d %s", c->peer, verb, r.code,
	    r.text);
	return -1;
}

/* STARTTLS per policy, then EHLO again (RFC 3207 4.2). */
static int
starttls(struct smtp_client *c, struct smtp_client_reply *fail)
{
	struct smtp_client_reply r;

	if (c->mode == RELAY_TLS_NONE || c->mode == RELAY_TLS_IMPLICIT)
		return 0;
	if ((c->ext & EXT_STARTTLS) == 0) {
		if (c->mode != RELAY_TLS_REQUIRED)
			return 0;
		reply_set(fail, 451, "4.7.4", "TLS required but %s does not "
		    "offer STARTTLS", c->peer);
		return -1;
	}
	if (command(c, "STARTTLS", &r, c->command_timeout, 0) == -1 ||
	    r.code == 421) {
		io_fail(c, fail, &r, "after STARTTLS");
		return -1;
	}
	if (r.code != 220) {
		if (c->mode != RELAY_TLS_REQUIRED) {
			/* Refused before any handshake: still clean plain
			 * SMTP, as if STARTTLS were not offered. */
			log_debug("smtp client %s STARTTLS refused: %d %s; "
			    "continuing in clear", c->peer, r.code, r.text);
			return 0;
		}
		reply_set(fail, 451, "4.7.4", "TLS required but %s refused "
		    "STARTTLS: %d %s", c->peer, r.code, r.text);
		return -1;
	}
	/* Safety: bytes after the 220 were sent in clear and could be
	 * injected replies (CVE-2011-0411 from the client side). */
	if (buf_unread(&c->in) > 0) {
		reply_set(fail, 451, "4.7.5", "%s sent data after its 220 to "
		    "STARTTLS (possible injection); session closed", c->peer);
		c->broken = 1;
		return -1;
	}
	if (tls_start(c, fail) == -1)
		return -1;
	return hello(c, fail);
}

/* QUIT (when the session is sound), close, free.  NULL is fine. */
static void
client_free(struct smtp_client *c)
{
	struct smtp_client_reply r;

	if (c == NULL)
		return;
	if (c->fd != -1 && c->greeted && !c->broken) {
		c->command_timeout = QUIT_TIMEOUT;
		(void)command(c, "QUIT", &r, QUIT_TIMEOUT, 0);
	}
	if (c->tls != NULL) {
		if (!c->broken)
			tls_conn_shutdown(c->tls);
		tls_conn_free(c->tls);
	}
	if (c->fd != -1)
		close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

struct smtp_client *
smtp_client_open(const struct smtp_client_params *p,
    struct smtp_client_reply *fail)
{
	struct smtp_client_reply r;
	struct smtp_client *c = NULL, *ret = NULL;

	memset(fail, 0, sizeof(*fail));
	c = client_new(p, fail);
	if (c == NULL)
		goto out;
	if (tcp_connect(c, fail) == -1)
		goto out;
	if (c->mode == RELAY_TLS_IMPLICIT && tls_start(c, fail) == -1)
		goto out;
	/* RFC 5321 4.5.3.2.1: 5 minutes for the greeting. */
	if (read_reply(c, &r, c->command_timeout, 0) == -1) {
		io_fail(c, fail, NULL, "while waiting for the greeting");
		goto out;
	}
	c->greeted = 1;
	if (r.code != 220) {
		/* 3.1: a 554 greeting still wants our QUIT. */
		reply_set(fail, r.code / 100 == 4 || r.code / 100 == 5 ?
		    r.code : 451, r.ecode, "%s greeted us with %d %s",
		    c->peer, r.code, r.text);
		goto out;
	}
	if (hello(c, fail) == -1 || starttls(c, fail) == -1)
		goto out;
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

/* -------------------------------------------------------- transaction */

enum rcpt_state { RS_PENDING, RS_INVALID, RS_ACCEPTED, RS_DONE };

/* Safety: a path goes into a command line; no CR/LF/<>/8-bit. */
static int
path_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (ch <= 0x20 || ch >= 0x7f || ch == '<' || ch == '>' ||
		    n >= PATH_MAX_LEN)
			return 0;
	}
	return 1;
}

/* Which recipients a reply decides. */
enum settle_which {
	SET_ACCEPTED,		/* accepted at RCPT: the final reply */
	SET_UNDECIDED,		/* pending or accepted: 421, lost connection */
	SET_VALID,		/* all that were sent: MAIL refusal */
};

static void
settle(const enum rcpt_state *st, size_t n, struct smtp_client_reply *res,
    const struct smtp_client_reply *r, enum settle_which which)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (st[i] == RS_ACCEPTED ||
		    (which != SET_ACCEPTED && st[i] == RS_PENDING) ||
		    (which == SET_VALID && st[i] == RS_DONE))
			res[i] = *r;
	}
}

/* A reply where 2xx/4xx/5xx is expected: anything else becomes 451. */
static void
normalise(struct smtp_client *c, struct smtp_client_reply *r,
    const char *cmd)
{
	int k = r->code / 100;

	if (k == 2 || k == 4 || k == 5)
		return;
	reply_set(r, 451, "4.5.0", "%s gave an unexpected reply to %s: "
	    "%d %s", c->peer, cmd, r->code, r->text);
}

/* Appends the body, dot-stuffed (RFC 5321 4.5.2), and ".\r\n" to the
 * wire, in OUT_MAX chunks. */
static int
send_body(struct smtp_client *c, const uint8_t *body, size_t len)
{
	const uint8_t *p = body, *end = body + len, *nl, *seg;
	size_t n, room;
	int bol = 1;

	buf_reset(&c->out);
	while (p < end) {
		if (bol && *p == '.' && buf_append(&c->out, ".", 1) == -1) {
			if (flush_out(c, c->command_timeout) == -1)
				return -1;
			(void)buf_append(&c->out, ".", 1);
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = nl != NULL ? nl + 1 : end;
		while (p < seg) {
			room = OUT_MAX - buf_unread(&c->out);
			if (room == 0) {
				if (flush_out(c, c->command_timeout) == -1)
					return -1;
				continue;
			}
			n = (size_t)(seg - p) < room ? (size_t)(seg - p) : room;
			(void)buf_append(&c->out, p, n);
			p += n;
		}
		bol = nl != NULL;
	}
	if (OUT_MAX - buf_unread(&c->out) < 5 &&
	    flush_out(c, c->command_timeout) == -1)
		return -1;
	/* The body should end in CRLF; the terminator needs one. */
	if (len > 0 && body[len - 1] == '\r')
		(void)buf_append(&c->out, "\n", 1);
	else if (len > 0 && body[len - 1] != '\n')
		(void)buf_append(&c->out, "\r\n", 2);
	(void)buf_append(&c->out, ".\r\n", 3);
	return flush_out(c, c->command_timeout);
}

/* The command for index k: 0 MAIL, 1..n RCPT, n+1 DATA. */
static int
add_command(struct smtp_client *c, size_t k, size_t nrcpts,
    const char *sender, const char *const *rcpts, size_t len, int eight)
{
	if (k == 0) {
		char size[40] = "";

		if (c->ext & EXT_SIZE)
			snprintf(size, sizeof(size), " SIZE=%zu", len);
		return buf_printf(&c->out, "MAIL FROM:<%s>%s%s\r\n", sender,
		    size, eight && (c->ext & EXT_8BITMIME) ?
		    " BODY=8BITMIME" : "");
	}
	if (k <= nrcpts)
		return buf_printf(&c->out, "RCPT TO:<%s>\r\n", rcpts[k - 1]);
	return buf_append(&c->out, "DATA\r\n", 6);
}

int
smtp_client_send(struct smtp_client *c, const char *sender,
    const char *const *rcpts, size_t nrcpts, const uint8_t *body,
    size_t len, struct smtp_client_reply *results)
{
	struct smtp_client_reply r, mail, lost;
	enum rcpt_state *st = NULL;
	const char *phase = "MAIL FROM";
	size_t i, k, first, total = nrcpts + 2, naccepted = 0, ncmd;
	int mail_state = 0;	/* 0 not read, 1 accepted, -1 refused */
	int data_sent = 0, data_354 = 0, eight = 0, dot_sent = 0, ret = -1;
	int group = c != NULL && (c->ext & EXT_PIPELINING) ? PIPE_GROUP : 1;

	memset(&mail, 0, sizeof(mail));
	if (nrcpts == 0)
		return c != NULL && !c->broken ? 0 : -1;
	st = xcalloc(nrcpts, sizeof(*st));
	for (i = 0; i < nrcpts; i++)
		memset(&results[i], 0, sizeof(results[i]));
	if (c == NULL || c->broken) {
		reply_set(&r, 451, "4.4.2", "%s: session not usable",
		    c != NULL ? c->peer : "smtp client");
		settle(st, nrcpts, results, &r, SET_UNDECIDED);
		goto out;
	}
	if (sender == NULL || !path_ok(sender)) {
		reply_set(&r, 553, "5.1.7", "invalid sender address (not "
		    "sent to %s)", c->peer);
		settle(st, nrcpts, results, &r, SET_UNDECIDED);
		ret = 0;
		goto out;
	}
	for (i = 0; i < nrcpts; i++) {
		if (rcpts[i] == NULL || rcpts[i][0] == '\0' ||
		    !path_ok(rcpts[i])) {
			reply_set(&results[i], 553, "5.1.3", "invalid "
			    "recipient address (not sent to %s)", c->peer);
			st[i] = RS_INVALID;
		}
	}
	/* RFC 1870 6.1: do not send what the server already refuses. */
	if ((c->ext & EXT_SIZE) && c->size_max > 0 && len > c->size_max) {
		reply_set(&r, 552, "5.3.4", "message size %zu exceeds the "
		    "size limit %" PRIu64 " of %s", len, c->size_max,
		    c->peer);
		settle(st, nrcpts, results, &r, SET_UNDECIDED);
		ret = 0;
		goto out;
	}
	for (i = 0; i < nrcpts && st[i] == RS_INVALID; i++)
		;
	if (i == nrcpts) {
		ret = 0;	/* nothing to send */
		goto out;
	}
	for (i = 0; i < len && !eight; i++)
		eight = body[i] >= 0x80;

	/*
	 * Commands in groups: with PIPELINING up to PIPE_GROUP at once, DATA
	 * included, replies read in order after each group (RFC 2920 3.1);
	 * without it one at a time.  A command whose fate is already known
	 * is not sent: RCPT after a refused MAIL, DATA when every RCPT reply
	 * has been read and none accepted.
	 */
	k = 0;
	while (k < total) {
		first = k;
		ncmd = 0;
		buf_reset(&c->out);
		while (k < total && ncmd < (size_t)group) {
			if (k > 0 && mail_state == -1)
				break;
			if (k == total - 1 && naccepted == 0 && ncmd == 0)
				break;
			if (k > 0 && k <= nrcpts && st[k - 1] == RS_INVALID) {
				k++;
				continue;
			}
			if (add_command(c, k, nrcpts, sender, rcpts, len,
			    eight) == -1)
				break;	/* group full; next one takes it */
			ncmd++;
			k++;
		}
		if (ncmd == 0)
			break;
		phase = first == 0 ? "MAIL FROM" : first <= nrcpts ?
		    "RCPT TO" : "DATA";
		if (flush_out(c, c->command_timeout) == -1) {
			c->broken = 1;
			goto lost;
		}
		for (i = first; i < k; i++) {
			if (i > 0 && i <= nrcpts && st[i - 1] == RS_INVALID)
				continue;
			phase = i == 0 ? "MAIL FROM" : i <= nrcpts ?
			    "RCPT TO" : "DATA";
			if (read_reply(c, &r, c->command_timeout, 0) == -1)
				goto lost;
			if (r.code == 421)
				goto closing;
			if (i == 0) {
				normalise(c, &r, "MAIL FROM");
				mail = r;
				mail_state = r.code / 100 == 2 ? 1 : -1;
			} else if (i <= nrcpts) {
				normalise(c, &r, "RCPT TO");
				if (r.code / 100 == 2) {
					st[i - 1] = RS_ACCEPTED;
					naccepted++;
				} else {
					results[i - 1] = r;
					st[i - 1] = RS_DONE;
				}
			} else {
				data_sent = 1;
				data_354 = r.code == 354;
				if (!data_354 && r.code / 100 != 4 &&
				    r.code / 100 != 5)
					reply_set(&r, 451, "4.5.0", "%s gave an "
					    "unexpected reply to DATA: %d %s",
					    c->peer, r.code, r.text);
			}
		}
	}

	if (mail_state == -1 || naccepted == 0) {
		if (data_354) {
			/* RFC 2920 3.1 servers refuse DATA here; some do
			 * not.  End the empty message and ignore it. */
			phase = "end of data";
			if (io_write(c, ".\r\n", 3, c->command_timeout) == -1 ||
			    read_reply(c, &r, c->data_timeout, 0) == -1)
				goto lost;
			if (r.code == 421)
				goto closing;
		}
		if (mail_state == -1)
			settle(st, nrcpts, results, &mail, SET_VALID);
		ret = 0;
		goto rset;
	}
	if (!data_354) {
		/* DATA refused (or not sent: cannot happen with naccepted). */
		if (!data_sent)
			reply_set(&r, 451, "4.3.0", "DATA not sent to %s",
			    c->peer);
		settle(st, nrcpts, results, &r, SET_ACCEPTED);
		ret = 0;
		goto rset;
	}
	phase = "message body";
	if (send_body(c, body, len) == -1) {
		c->broken = 1;
		goto lost;
	}
	/* RFC 5321 4.5.3.2.6: 10 minutes for the reply to ".". */
	phase = "end of data";
	dot_sent = 1;
	if (read_reply(c, &r, c->data_timeout, 0) == -1)
		goto lost;
	if (r.code == 421)
		goto closing;
	normalise(c, &r, "end of data");
	settle(st, nrcpts, results, &r, SET_ACCEPTED);
	ret = 0;
	goto out;

rset:
	if (mail_state == 1 || naccepted > 0) {
		if (command(c, "RSET", &r, c->command_timeout, 0) == -1 ||
		    r.code / 100 != 2) {
			c->broken = 1;
			ret = -1;
		}
	}
	goto out;
closing:
	c->broken = 1;
	if (mail_state == -1)
		settle(st, nrcpts, results, &mail, SET_VALID);
	else
		settle(st, nrcpts, results, &r, SET_UNDECIDED);
	ret = -1;
	goto out;
lost:
	c->broken = 1;
	reply_set(&lost, 451, "4.4.2", "lost connection with %s while "
	    "sending %s: %s%s", c->peer, phase, c->err,
	    dot_sent ?
	    " (the message may be delivered more than once)" : "");
	if (mail_state == -1)
		settle(st, nrcpts, results, &mail, SET_VALID);
	else
		settle(st, nrcpts, results, &lost, SET_UNDECIDED);
	ret = -1;
out:
	free(st);
	return ret;
}
