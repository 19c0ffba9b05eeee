/*
 * dns.c - MX and address look-ups with c-ares.  See dns.h.
 *
 * One ares_channel per struct dns; a channel is used by one thread at a
 * time (c-ares 1.18 channels are not thread-safe).  Queries are driven
 * synchronously: ares_query() starts them, then a loop of ares_getsock(),
 * poll(2) and ares_process_fd() runs until every callback has fired or the
 * caller's deadline passes, at which point ares_cancel() ends what is left
 * and the answer is DNS_TEMPFAIL.  poll(2) rather than ares_fds()/select(2),
 * which breaks on descriptors >= FD_SETSIZE in a daemon with many sockets.
 * Every poll is bounded by min(time left, ares_timeout()), so c-ares still
 * gets to retransmit and to move to the next server.  The per-try timeout
 * is short (DNS_TRY_MS, doubled by c-ares on each round of tries) and the
 * caller's timeout_ms bounds the whole look-up.
 *
 * Queries go through ares_query(), never ares_search() or
 * ares_getaddrinfo(): no search list, no ndots, no /etc/hosts, so exactly
 * the name asked for is looked up on the configured servers.  A, then
 * AAAA, under one deadline; IPv4 addresses are reported first.
 *
 * Status mapping (c-ares status in ares_query's callback): NXDOMAIN
 * (ARES_ENOTFOUND), an empty name and a name c-ares cannot encode
 * (ARES_EBADNAME) are DNS_NXDOMAIN; NOERROR without a record of the type
 * (ARES_ENODATA) is DNS_NODATA; all else - SERVFAIL, REFUSED, FORMERR,
 * timeout, connection refused, a malformed answer - is DNS_TEMPFAIL.  MX
 * answers whose only hosts are the root (RFC 7505 null MX, "0 .") are
 * DNS_NULLMX; null MX records mixed with real ones are dropped.
 *
 * For the caller (delivery): RFC 5321 5.1 says that when a domain has no
 * MX records but exists, its own A/AAAA records are the implicit MX with
 * preference 0.  So DNS_NODATA from dns_mx() means "call dns_addrs() on
 * the domain itself"; DNS_NXDOMAIN and DNS_NULLMX mean a permanent failure
 * and DNS_TEMPFAIL means try later.  This file does not do that fallback.
 */
#include "daemon/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#include <ares.h>
#include <ares_nameser.h>

#include "daemon/util.h"

/* c-ares per-try timeout and number of tries (per server).  c-ares 1.18
 * doubles the timeout after each full round over the servers. */
#define DNS_TRY_MS 1000
#define DNS_TRIES 3
/* Most records taken from one answer before sorting. */
#define DNS_PARSE_MAX 64

struct dns {
	ares_channel channel;
	int pending;		/* queries whose callback has not fired */
	uint64_t rnd;		/* xorshift state for MX tie shuffling */
};

/* One outstanding query: the callback copies the answer here, since the
 * buffer c-ares passes is only valid during the callback. */
struct dns_query {
	struct dns *d;
	int status;		/* ARES_* */
	unsigned char *abuf;
	int alen;
};

static pthread_once_t dns_once = PTHREAD_ONCE_INIT;
static int dns_lib_status = ARES_ENOTINITIALIZED;

static void
dns_lib_init(void)
{
	dns_lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* c-ares 1.18 does not set close-on-exec on its sockets. */
static int
dns_sock_cb(ares_socket_t fd, int type, void *data)
{
	int fl;

	(void)type;
	(void)data;
	fl = fcntl(fd, F_GETFD);
	if (fl != -1)
		(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	return 0;
}

/* 1 if p[0..n) is a port number 1-65535. */
static int
dns_port_ok(const char *p, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/*
 * The server list without blanks around its entries, or NULL when an
 * entry is empty or has a port outside 1-65535: c-ares 1.18 itself
 * rejects blanks, accepts empty entries and takes "127.0.0.1:99999" or
 * ":0" without complaint.  Addresses are left for c-ares to check.
 */
static char *
dns_servers_clean(const char *servers)
{
	char *out = xmalloc(strlen(servers) + 1), *o = out;
	const char *p = servers, *e, *c;
	size_t n;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			goto bad;
		/* "[v6]:port", "v4:port"; bare v6 has several colons. */
		c = memchr(p, ':', n);
		if (p[0] == '[') {
			c = memchr(p, ']', n);
			if (c == NULL || c + 1 >= p + n || c[1] != ':' ||
			    !dns_port_ok(c + 2, (size_t)(p + n - c - 2)))
				goto bad;
		} else if (c != NULL && memchr(c + 1, ':',
		    (size_t)(p + n - c - 1)) == NULL) {
			if (!dns_port_ok(c + 1, (size_t)(p + n - c - 1)))
				goto bad;
		}
		if (o != out)
			*o++ = ',';
		memcpy(o, p, n);
		o += n;
		if (e == NULL)
			break;
		p = e + 1;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

struct dns *
dns_new(const char *servers, char *err, size_t errlen)
{
	struct ares_options opt;
	struct dns *d;
	int rc;

	pthread_once(&dns_once, dns_lib_init);
	if (dns_lib_status != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: ares_library_init: %s",
		    ares_strerror(dns_lib_status));
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	memset(&opt, 0, sizeof(opt));
	opt.timeout = DNS_TRY_MS;
	opt.tries = DNS_TRIES;
	opt.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	rc = ares_init_options(&d->channel, &opt,
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: ares_init_options: %s",
		    ares_strerror(rc));
		free(d);
		return NULL;
	}
	ares_set_socket_callback(d->channel, dns_sock_cb, NULL);
	if (servers != NULL && servers[0] != '\0') {
		char *csv = dns_servers_clean(servers);

		rc = csv == NULL ? ARES_EBADSTR :
		    ares_set_servers_ports_csv(d->channel, csv);
		free(csv);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "settings.dns_servers: bad "
			    "server list \"%s\" (want \"ip[:port],"
			    "[ipv6]:port,...\"): %s", servers,
			    ares_strerror(rc));
			ares_destroy(d->channel);
			free(d);
			return NULL;
		}
	}
	if (getrandom(&d->rnd, sizeof(d->rnd), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(d->rnd))
		d->rnd = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)d;
	if (d->rnd == 0)
		d->rnd = 0x9e3779b97f4a7c15ULL;
	return d;
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	ares_destroy(d->channel);
	free(d);
}

static uint64_t
dns_random(struct dns *d)
{
	uint64_t x = d->rnd;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	d->rnd = x;
	return x;
}

static void
dns_query_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct dns_query *q = arg;

	(void)timeouts;
	q->status = status;
	if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
		q->abuf = xmalloc((size_t)alen);
		memcpy(q->abuf, abuf, (size_t)alen);
		q->alen = alen;
	}
	q->d->pending--;
}

static void
dns_query_start(struct dns *d, struct dns_query *q, const char *name,
    int type)
{
	memset(q, 0, sizeof(*q));
	q->d = d;
	q->status = ARES_ETIMEOUT;
	d->pending++;
	/* May call the callback before returning (bad name, no memory). */
	ares_query(d->channel, name, C_IN, type, dns_query_cb, q);
}

static void
dns_query_free(struct dns_query *q)
{
	free(q->abuf);
	q->abuf = NULL;
}

/*
 * Runs the channel until no query is pending or deadline (now_ms() clock)
 * passes; then cancels what is left (their callbacks fire with
 * ARES_ECANCELLED).  On return d->pending == 0.
 */
static void
dns_run(struct dns *d, int64_t deadline)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	struct timeval maxtv, tvbuf, *tv;
	int64_t now, left;
	unsigned bits;
	int i, nfds, ms, rc;

	while (d->pending > 0) {
		now = now_ms();
		if (now >= deadline)
			break;
		left = deadline - now;
		bits = (unsigned)ares_getsock(d->channel, socks,
		    ARES_GETSOCK_MAXNUM);
		nfds = 0;
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;

			/* Not ARES_GETSOCK_WRITABLE(): its 1 << 31 on an int
			 * is undefined (UBSan says so) for slot 15. */
			if (bits & (1u << i))
				ev |= POLLIN;
			if (bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (ev == 0)
				continue;
			pfd[nfds].fd = socks[i];
			pfd[nfds].events = ev;
			pfd[nfds].revents = 0;
			nfds++;
		}
		maxtv.tv_sec = (time_t)(left / 1000);
		maxtv.tv_usec = (suseconds_t)(left % 1000) * 1000;
		tv = ares_timeout(d->channel, &maxtv, &tvbuf);
		if (tv == NULL)
			tv = &maxtv;
		ms = (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
		if (ms > left)
			ms = (int)left;
		rc = poll(pfd, (nfds_t)nfds, ms);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (rc == 0) {
			/* Only timeouts to handle: retransmit, next server. */
			ares_process_fd(d->channel, ARES_SOCKET_BAD,
			    ARES_SOCKET_BAD);
			continue;
		}
		for (i = 0; i < nfds; i++) {
			ares_socket_t r = ARES_SOCKET_BAD, w = ARES_SOCKET_BAD;

			if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
				r = pfd[i].fd;
			if (pfd[i].revents & POLLOUT)
				w = pfd[i].fd;
			if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD)
				ares_process_fd(d->channel, r, w);
		}
	}
	if (d->pending > 0)
		ares_cancel(d->channel);
}

static enum dns_status
dns_map(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
		return DNS_NXDOMAIN;
	case ARES_ENODATA:
		return DNS_NODATA;
	default:
		return DNS_TEMPFAIL;
	}
}

static int64_t
dns_deadline(int timeout_ms)
{
	return now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
}

/* Copies name without a trailing dot; -1 if it does not fit. */
static int
dns_host_copy(char *dst, size_t n, const char *name)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len >= n)
		return -1;
	memcpy(dst, name, len);
	dst[len] = '\0';
	return 0;
}

struct dns_mx_sort {
	struct dns_mx mx;
	uint64_t key;
};

static int
dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx_sort *x = a, *y = b;

	if (x->mx.pref != y->mx.pref)
		return x->mx.pref < y->mx.pref ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return 0;
}

enum dns_status
dns_mx(struct dns *d, const char *domain, struct dns_mx *out, size_t max,
    size_t *n, int timeout_ms)
{
	struct dns_mx_sort *v;
	struct ares_mx_reply *head = NULL, *p;
	struct dns_query q;
	enum dns_status st;
	size_t nv = 0, nnull = 0, i;
	int rc;

	*n = 0;
	if (domain == NULL || domain[0] == '\0')
		return DNS_NXDOMAIN;
	dns_query_start(d, &q, domain, T_MX);
	dns_run(d, dns_deadline(timeout_ms));
	st = dns_map(q.status);
	if (st != DNS_OK) {
		dns_query_free(&q);
		return st;
	}
	rc = ares_parse_mx_reply(q.abuf, q.alen, &head);
	dns_query_free(&q);
	if (rc != ARES_SUCCESS) {
		/* ENODATA: answers present (a CNAME, say) but no MX. */
		return rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMPFAIL;
	}
	v = xcalloc(DNS_PARSE_MAX, sizeof(*v));
	for (p = head; p != NULL && nv < DNS_PARSE_MAX; p = p->next) {
		if (p->host == NULL || p->host[0] == '\0' ||
		    strcmp(p->host, ".") == 0) {
			nnull++;
			continue;
		}
		if (dns_host_copy(v[nv].mx.host, sizeof(v[nv].mx.host),
		    p->host) == -1)
			continue;
		v[nv].mx.pref = p->priority;
		v[nv].key = dns_random(d);
		nv++;
	}
	ares_free_data(head);
	if (nv == 0) {
		free(v);
		return nnull > 0 ? DNS_NULLMX : DNS_NODATA;
	}
	qsort(v, nv, sizeof(*v), dns_mx_cmp);
	for (i = 0; i < nv && i < max; i++)
		out[i] = v[i].mx;
	*n = i;
	free(v);
	return i > 0 ? DNS_OK : DNS_TEMPFAIL;
}

/* Status of an A or AAAA answer after parsing: ENODATA means the answer
 * held only other types (a CNAME chain ending nowhere). */
static enum dns_status
dns_parsed(int rc, int *count)
{
	if (rc == ARES_SUCCESS && *count > 0)
		return DNS_OK;
	*count = 0;
	return rc == ARES_SUCCESS || rc == ARES_ENODATA ? DNS_NODATA :
	    DNS_TEMPFAIL;
}

enum dns_status
dns_addrs(struct dns *d, const char *host, char (*out)[64], size_t max,
    size_t *n, int timeout_ms)
{
	struct ares_addrttl a4[DNS_PARSE_MAX];
	struct ares_addr6ttl a6[DNS_PARSE_MAX];
	struct dns_query q4, q6;
	enum dns_status s4, s6;
	int64_t deadline;
	int n4 = 0, n6 = 0, i;
	size_t k = 0;

	*n = 0;
	if (host == NULL || host[0] == '\0')
		return DNS_NXDOMAIN;
	/*
	 * One after the other, not in parallel: with two queries on one UDP
	 * socket, c-ares 1.18 lets the second send(2) consume the ICMP error
	 * of a closed port and then waits a full try for an answer that will
	 * not come.  NXDOMAIN covers every type, so no AAAA query after it.
	 */
	deadline = dns_deadline(timeout_ms);
	dns_query_start(d, &q4, host, T_A);
	dns_run(d, deadline);
	s4 = dns_map(q4.status);
	if (s4 == DNS_NXDOMAIN) {
		dns_query_free(&q4);
		return DNS_NXDOMAIN;
	}
	dns_query_start(d, &q6, host, T_AAAA);
	dns_run(d, deadline);
	s6 = dns_map(q6.status);
	if (s4 == DNS_OK) {
		n4 = DNS_PARSE_MAX;
		s4 = dns_parsed(ares_parse_a_reply(q4.abuf, q4.alen, NULL, a4,
		    &n4), &n4);
	}
	if (s6 == DNS_OK) {
		n6 = DNS_PARSE_MAX;
		s6 = dns_parsed(ares_parse_aaaa_reply(q6.abuf, q6.alen, NULL,
		    a6, &n6), &n6);
	}
	dns_query_free(&q4);
	dns_query_free(&q6);
	for (i = 0; i < n4 && k < max; i++)
		if (inet_ntop(AF_INET, &a4[i].ipaddr, out[k], 64) != NULL)
			k++;
	for (i = 0; i < n6 && k < max; i++)
		if (inet_ntop(AF_INET6, &a6[i].ip6addr, out[k], 64) != NULL)
			k++;
	*n = k;
	if (k > 0)
		return DNS_OK;
	if (s4 == DNS_TEMPFAIL || s6 == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	if (s4 == DNS_NXDOMAIN || s6 == DNS_NXDOMAIN)
		return DNS_NXDOMAIN;
	return DNS_NODATA;
}

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_NULLMX:
		return "nullmx";
	case DNS_TEMPFAIL:
		return "tempfail";
	}
	return "unknown";
}
