/*
 * delivery.c - the delivery engine.  See delivery.h.
 *
 * Outcomes (RFC 5321 4.2.1, 4.5.4.1):
 *   2xx                      -> delivered
 *   4xx, no answer, DNS temp -> deferred; next attempt after
 *                               min(retry_initial * 2^(attempts-1), retry_max)
 *   5xx, NXDOMAIN, null MX   -> bounced (RFC 7505: 556 5.1.10)
 *   deferred past queue_lifetime -> bounced, status 4.4.7
 * Routes: a local domain -> Maildir; a rule-chosen relay host -> that host
 * and port with the rule's TLS mode, versions and verification; otherwise
 * the MX hosts of the recipient domain in preference order (no MX records
 * -> the domain's own addresses, RFC 5321 5.1), port settings.smtp_port_out,
 * opportunistic STARTTLS when settings.use_starttls_out.
 * Recipients of one message with the same route go in one SMTP
 * transaction, and a delivery thread keeps its last SMTP session open for
 * the next group with the same route (connection reuse; closed after
 * about 2 s idle, or when the configuration changes).  Every outcome is logged as one line per recipient:
 *   QUEUEID to=<rcpt> relay=host[addr]:port tls=... delay=S dsn=X.Y.Z
 *   status=sent|deferred|bounced (reply)
 */
#include "daemon/delivery.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "daemon/config.h"
#include "daemon/dns.h"
#include "daemon/dsn.h"
#include "daemon/log.h"
#include "daemon/maildir.h"
#include "daemon/pgarr.h"
#include "daemon/server.h"
#include "daemon/smtp_client.h"
#include "daemon/smtp_session.h"
#include "daemon/util.h"

#define DLV_MAX_BATCH 1000
#define DLV_DNS_TIMEOUT 10000

enum outcome { OUT_NONE, OUT_DELIVERED, OUT_DEFER, OUT_BOUNCE };

struct dlv_rcpt {
	int64_t message_id;
	int rcpt_no;
	char address[ADDR_MAX + 1];
	char domain[ADDR_DOMAIN_MAX + 1];
	int attempts;
	char relay_host[256];
	int relay_port;
	enum relay_tls relay_tls;
	unsigned versions;
	int verify;		/* -1 = unset */
	int bounce_requested;
	char key[400];		/* route key for grouping */
	/* outcome */
	enum outcome out;
	char status[16];	/* enhanced code "2.0.0" */
	char reply[600];
	char relay[400];	/* host[addr]:port or "local" */
	char tls[160];
};

struct dlv_msg {
	int64_t id;
	char qid[17];
	char sender[ADDR_MAX + 1];
	time_t received;
	uint8_t *body;
	size_t len;
};

struct dlv_thread {
	int no;
	/* One SMTP session kept open after a transaction, reused when the
	 * next group has the same route (and the configuration is the
	 * same); closed when the thread goes idle. */
	struct smtp_client *cached;
	char cached_key[400];
	char cached_relay[400];
	char cached_tls[160];
	uint64_t cached_gen;
	int64_t cached_used;	/* now_ms() of the last transaction */
	PGconn *db;
	struct dns *dns;
	char dns_servers[512];
	int64_t retry_at;
	int64_t backoff;
};

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static unsigned wake_seq;
static int dlv_stop;
static pthread_t *threads;
static int nthreads;
static char *d_conninfo;
static char *d_node;

static const struct {
	const char *name;
	const char *sql;
	int nparams;
} stmts[] = {
	{ "claim",
	    "WITH c AS (SELECT message_id, rcpt_no FROM postern.recipients"
	    " WHERE state IN ('queued', 'deferred') AND next_attempt_at <= now()"
	    " AND (lease_expires IS NULL OR lease_expires < now())"
	    " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
	    " UPDATE postern.recipients r SET lease_owner = $1,"
	    " lease_expires = now() + make_interval(secs => $3::int)"
	    " FROM c WHERE r.message_id = c.message_id AND r.rcpt_no = c.rcpt_no"
	    " RETURNING r.message_id, r.rcpt_no, r.address, r.attempts,"
	    " r.relay_host, r.relay_port, r.relay_tls::text,"
	    " r.relay_tls_versions::text, r.relay_tls_verify, r.bounce_requested",
	    3 },
	/* The message, and (same round trip) the lease renewal of its
	 * recipients this node still holds, listed in the last column. */
	{ "message",
	    "WITH l AS (UPDATE postern.recipients SET lease_expires = now() +"
	    " make_interval(secs => $3::int) WHERE message_id = $1::bigint"
	    " AND lease_owner = $2 AND state IN ('queued', 'deferred')"
	    " RETURNING rcpt_no)"
	    " SELECT m.sender, floor(extract(epoch FROM m.received_at))"
	    "::bigint::text, m.queue_id, b.data, (SELECT coalesce(string_agg("
	    "rcpt_no::text, ','), '') FROM l) FROM postern.messages m"
	    " JOIN postern.bodies b ON b.message_id = m.id"
	    " WHERE m.id = $1::bigint", 3 },
	/* Every outcome of one message in one statement (binary arrays):
	 * one round trip, or three with a DSN (BEGIN, DSN + this, COMMIT). */
	{ "outcomes",
	    "UPDATE postern.recipients r SET state = CASE u.o"
	    " WHEN 'delivered' THEN 'delivered'::postern.recipient_state"
	    " WHEN 'bounced' THEN 'bounced'::postern.recipient_state"
	    " ELSE CASE WHEN r.state = 'held' THEN r.state"
	    " ELSE 'deferred'::postern.recipient_state END END,"
	    " delivered_at = CASE WHEN u.o = 'delivered' THEN now()"
	    " ELSE r.delivered_at END, attempts = r.attempts + 1,"
	    " next_attempt_at = CASE WHEN u.o = 'deferred' THEN now() +"
	    " make_interval(secs => u.delay) ELSE r.next_attempt_at END,"
	    " last_reply = u.reply, lease_owner = NULL, lease_expires = NULL,"
	    " bounce_requested = CASE WHEN u.o = 'bounced' THEN false"
	    " ELSE r.bounce_requested END, dsn_message_id = CASE WHEN"
	    " u.o = 'bounced' THEN $3::bigint ELSE r.dsn_message_id END,"
	    " updated_at = now() FROM unnest($4::int[], $5::text[],"
	    " $6::text[], $7::int[]) AS u(rcpt_no, o, reply, delay)"
	    " WHERE r.message_id = $1::bigint AND r.rcpt_no = u.rcpt_no"
	    " AND r.lease_owner = $2", 7 },
	{ "begin_tx", "BEGIN", 0 },
	{ "commit_tx", "COMMIT", 0 },
	{ "dsn_message",
	    "WITH m AS (INSERT INTO postern.messages (id, node, sender, size,"
	    " client_addr, client_helo, listener) VALUES ($1::bigint, $2, '',"
	    " $3::bigint, '127.0.0.1', '', 'dsn')), b AS (INSERT INTO"
	    " postern.bodies (message_id, data) VALUES ($1::bigint, $4::bytea))"
	    " INSERT INTO postern.recipients (message_id, rcpt_no, address)"
	    " VALUES ($1::bigint, 0, $5)", 5 },
};

/* True once delivery_stop() was called. */
static int
stopping(void)
{
	int v;

	pthread_mutex_lock(&wake_lock);
	v = dlv_stop;
	pthread_mutex_unlock(&wake_lock);
	return v;
}

void
delivery_wake(void)
{
	pthread_mutex_lock(&wake_lock);
	wake_seq++;
	pthread_cond_broadcast(&wake_cond);
	pthread_mutex_unlock(&wake_lock);
}

static int
db_connect(struct dlv_thread *t)
{
	size_t i;

	if (t->db != NULL)
		PQfinish(t->db);
	t->db = PQconnectdb(d_conninfo);
	if (PQstatus(t->db) != CONNECTION_OK) {
		log_warnx("delivery%d: database connection failed: %s", t->no,
		    PQerrorMessage(t->db));
		goto fail;
	}
	PQclear(PQexec(t->db, "SET statement_timeout = '60s'"));
	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		PGresult *r = PQprepare(t->db, stmts[i].name, stmts[i].sql,
		    stmts[i].nparams, NULL);

		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			log_warnx("delivery%d: prepare %s: %s", t->no,
			    stmts[i].name, PQresultErrorMessage(r));
			PQclear(r);
			goto fail;
		}
		PQclear(r);
	}
	t->backoff = 500;
	return 0;
fail:
	PQfinish(t->db);
	t->db = NULL;
	t->retry_at = now_ms() + t->backoff;
	t->backoff = t->backoff * 2 > 10000 ? 10000 : t->backoff * 2;
	return -1;
}

static void
db_check(struct dlv_thread *t)
{
	if (t->db != NULL && PQstatus(t->db) != CONNECTION_OK) {
		PQfinish(t->db);
		t->db = NULL;
		t->retry_at = now_ms() + t->backoff;
	}
}

static const char *
nz(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static void
route_key(const struct config *c, struct dlv_rcpt *d)
{
	if (d->domain[0] == '\0' || config_domain_is_local(c, d->domain))
		snprintf(d->key, sizeof(d->key), "local");
	else if (d->relay_host[0] != '\0')
		snprintf(d->key, sizeof(d->key), "relay:%s:%d:%d:%u:%d",
		    d->relay_host, d->relay_port, (int)d->relay_tls, d->versions,
		    d->verify);
	else
		snprintf(d->key, sizeof(d->key), "mx:%s:%d:%u:%d", d->domain,
		    (int)d->relay_tls, d->versions, d->verify);
}

/* Claims due recipients.  Returns the number claimed, or -1. */
static int
claim(struct dlv_thread *t, const struct config *c, struct dlv_rcpt *out,
    int max)
{
	char batch[16], lease[16];
	const char *params[3];
	PGresult *r;
	int i, n;

	snprintf(batch, sizeof(batch), "%d", max);
	snprintf(lease, sizeof(lease), "%d", c->lease_seconds);
	params[0] = d_node;
	params[1] = batch;
	params[2] = lease;
	r = PQexecPrepared(t->db, "claim", 3, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("delivery%d: claiming recipients failed: %s", t->no,
		    PQresultErrorMessage(r));
		PQclear(r);
		db_check(t);
		return -1;
	}
	n = PQntuples(r);
	for (i = 0; i < n && i < max; i++) {
		struct dlv_rcpt *d = &out[i];
		const char *at;

		memset(d, 0, sizeof(*d));
		d->message_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		d->rcpt_no = atoi(PQgetvalue(r, i, 1));
		str_copy(d->address, PQgetvalue(r, i, 2), sizeof(d->address));
		at = strrchr(d->address, '@');
		str_copy(d->domain, at ? at + 1 : "", sizeof(d->domain));
		str_lower(d->domain);
		d->attempts = atoi(PQgetvalue(r, i, 3));
		str_copy(d->relay_host, nz(r, i, 4) ? nz(r, i, 4) : "",
		    sizeof(d->relay_host));
		d->relay_port = nz(r, i, 5) ? atoi(nz(r, i, 5)) : 0;
		d->relay_tls = relay_tls_parse(nz(r, i, 6));
		d->versions = rules_versions_parse(nz(r, i, 7));
		d->verify = nz(r, i, 8) ? nz(r, i, 8)[0] == 't' : -1;
		d->bounce_requested = PQgetvalue(r, i, 9)[0] == 't';
		route_key(c, d);
	}
	PQclear(r);
	return n;
}

static int
cmp_rcpt(const void *a, const void *b)
{
	const struct dlv_rcpt *x = a, *y = b;
	int k;

	if (x->message_id != y->message_id)
		return x->message_id < y->message_id ? -1 : 1;
	k = strcmp(x->key, y->key);
	if (k != 0)
		return k;
	return x->rcpt_no - y->rcpt_no;
}

/* Loads message id and renews the leases of its recipients that this
 * node still holds; their numbers go to mine ("0,2,3"). */
static int
load_message(struct dlv_thread *t, const struct config *c, int64_t id,
    struct dlv_msg *m, char *mine, size_t minelen)
{
	char idtxt[32], lease[16];
	const char *params[3] = { idtxt, d_node, lease };
	PGresult *r;
	size_t l;

	memset(m, 0, sizeof(*m));
	mine[0] = '\0';
	snprintf(idtxt, sizeof(idtxt), "%" PRId64, id);
	snprintf(lease, sizeof(lease), "%d", c->lease_seconds);
	r = PQexecPrepared(t->db, "message", 3, params, NULL, NULL, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			log_warnx("delivery%d: loading message %" PRId64
			    " failed: %s", t->no, id, PQresultErrorMessage(r));
		PQclear(r);
		db_check(t);
		return -1;
	}
	m->id = id;
	/* Binary results: text columns are raw bytes, not NUL-terminated. */
	str_copy(m->sender, "", sizeof(m->sender));
	memcpy(m->sender, PQgetvalue(r, 0, 0),
	    (size_t)PQgetlength(r, 0, 0) < sizeof(m->sender) - 1 ?
	    (size_t)PQgetlength(r, 0, 0) : sizeof(m->sender) - 1);
	{
		char ep[32] = "";
		size_t l = (size_t)PQgetlength(r, 0, 1);

		memcpy(ep, PQgetvalue(r, 0, 1), l < sizeof(ep) - 1 ? l :
		    sizeof(ep) - 1);
		m->received = (time_t)strtoll(ep, NULL, 10);
	}
	memcpy(m->qid, PQgetvalue(r, 0, 2), PQgetlength(r, 0, 2) < 16 ?
	    (size_t)PQgetlength(r, 0, 2) : 16);
	m->len = (size_t)PQgetlength(r, 0, 3);
	m->body = xmalloc(m->len + 1);
	memcpy(m->body, PQgetvalue(r, 0, 3), m->len);
	l = (size_t)PQgetlength(r, 0, 4);
	if (l >= minelen)
		l = minelen - 1;
	memcpy(mine, PQgetvalue(r, 0, 4), l);
	mine[l] = '\0';
	PQclear(r);
	return 0;
}

/* Keeps in d[0..n) the recipients whose lease load_message() renewed
 * (their numbers in mine), so that a batch taking longer than
 * lease_seconds is not taken over by another node while this one still
 * works on it.  A recipient whose lease this node no longer holds (it
 * expired and another node claimed it, or an administrator changed the
 * row) is dropped.  Returns how many remain at the front of d. */
static int
keep_leased(const struct dlv_msg *m, const char *mine, struct dlv_rcpt *d,
    size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		const char *p = mine;
		int held = 0;

		while (*p != '\0' && !held) {
			char *end = NULL;
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			held = v == d[i].rcpt_no;
			p = *end == ',' ? end + 1 : end;
		}
		if (!held) {
			log_info("%s to=<%s> lease lost (expired and taken over,"
			    " or changed); not delivered by this node", m->qid,
			    d[i].address);
			continue;
		}
		if (k != i)
			d[k] = d[i];
		k++;
	}
	return (int)k;
}

static void
set_outcome(struct dlv_rcpt *d, int code, const char *ecode, const char *text,
    const char *relay, const char *tls)
{
	d->out = code >= 200 && code < 300 ? OUT_DELIVERED :
	    code >= 500 && code < 600 ? OUT_BOUNCE : OUT_DEFER;
	if (ecode != NULL && ecode[0] != '\0')
		str_copy(d->status, ecode, sizeof(d->status));
	else
		snprintf(d->status, sizeof(d->status), "%d.0.0",
		    code >= 200 && code < 600 ? code / 100 : 4);
	if (code > 0)
		snprintf(d->reply, sizeof(d->reply), "%d %s%s%s", code,
		    ecode && ecode[0] ? ecode : "", ecode && ecode[0] ? " " : "",
		    text);
	else
		str_copy(d->reply, text, sizeof(d->reply));
	str_copy(d->relay, relay, sizeof(d->relay));
	str_copy(d->tls, tls ? tls : "", sizeof(d->tls));
}

static void
deliver_local(const struct config *c, const struct dlv_msg *m,
    struct dlv_rcpt *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char err[600], lower[ADDR_MAX + 1];
		const struct config_account *a;
		int permanent = 0;

		if (c->maildir_root[0] == '\0') {
			set_outcome(&d[i], 451, "4.3.5", "local delivery is not "
			    "configured (settings.maildir_root is NULL)", "local",
			    NULL);
			continue;
		}
		str_copy(lower, d[i].address, sizeof(lower));
		str_lower(lower);
		a = config_account(c, lower);
		if (d[i].domain[0] != '\0' && (a == NULL || !a->enabled)) {
			set_outcome(&d[i], 550, "5.1.1", "user unknown (no such "
			    "account)", "local", NULL);
			continue;
		}
		if (maildir_deliver(c->maildir_root, lower, m->sender, m->qid,
		    d[i].rcpt_no, m->body, m->len, err, sizeof(err),
		    &permanent) == -1) {
			set_outcome(&d[i], permanent ? 550 : 451, permanent ?
			    "5.1.3" : "4.3.0", err, "local", NULL);
			continue;
		}
		set_outcome(&d[i], 250, "2.0.0", "delivered to maildir", "local",
		    NULL);
	}
}

static int
is_ip(const char *s)
{
	uint8_t b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* Addresses for a host name or [literal]. */
static enum dns_status
host_addrs(struct dlv_thread *t, const char *host, char (*addrs)[64],
    size_t *n)
{
	char lit[64];

	if (host[0] == '[') {
		const char *h = host + 1;
		size_t l = strcspn(h, "]");

		if (str_iprefix(h, "IPv6:")) {
			h += 5;
			l -= 5;
		}
		if (l >= sizeof(lit))
			return DNS_NXDOMAIN;
		memcpy(lit, h, l);
		lit[l] = '\0';
		host = lit;
	}
	if (is_ip(host)) {
		str_copy(addrs[0], host, 64);
		*n = 1;
		return DNS_OK;
	}
	return dns_addrs(t->dns, host, addrs, DNS_MAX_ADDRS, n, DLV_DNS_TIMEOUT);
}

static void
cache_close(struct dlv_thread *t)
{
	smtp_client_close(t->cached);
	t->cached = NULL;
	t->cached_key[0] = '\0';
}

/* Sends on the cached session when it serves this route.  Returns 1 when
 * the group was handled (outcomes set), 0 when the caller must connect
 * (no usable session; recipients untouched). */
static int
deliver_cached(struct dlv_thread *t, const struct config *c,
    const struct dlv_msg *m, struct dlv_rcpt *d, size_t n,
    const char **rcpts, struct smtp_client_reply *res)
{
	size_t i;
	int rc;

	if (t->cached == NULL)
		return 0;
	if (strcmp(t->cached_key, d[0].key) != 0 ||
	    t->cached_gen != c->generation) {
		cache_close(t);
		return 0;
	}
	rc = smtp_client_send(t->cached, m->sender, rcpts, n, m->body, m->len,
	    res);
	t->cached_used = now_ms();
	if (rc == -1) {
		/* The peer may have closed the idle session: when nothing was
		 * accepted, try again on a fresh connection. */
		int accepted = 0;

		for (i = 0; i < n; i++)
			accepted |= res[i].code >= 200 && res[i].code < 300;
		cache_close(t);
		if (!accepted)
			return 0;
	}
	for (i = 0; i < n; i++)
		set_outcome(&d[i], res[i].code, res[i].ecode, res[i].text,
		    t->cached_relay, t->cached_tls);
	return 1;
}

static void
deliver_remote(struct dlv_thread *t, const struct config *c,
    const struct dlv_msg *m, struct dlv_rcpt *d, size_t n)
{
	struct dns_mx mx[DNS_MAX_MX];
	struct smtp_client_reply fail, *res = NULL;
	const char **rcpts = NULL;
	size_t nmx = 0, i, h;
	enum dns_status st;
	int port, connected = 0;
	char relay[400] = "none";

	rcpts = xcalloc(n, sizeof(*rcpts));
	res = xcalloc(n, sizeof(*res));
	for (i = 0; i < n; i++)
		rcpts[i] = d[i].address;
	if (deliver_cached(t, c, m, d, n, rcpts, res))
		goto out;
	memset(&fail, 0, sizeof(fail));
	fail.code = 451;
	str_copy(fail.ecode, "4.4.1", sizeof(fail.ecode));
	str_copy(fail.text, "no host could be reached", sizeof(fail.text));
	if (d[0].relay_host[0] != '\0') {
		str_copy(mx[0].host, d[0].relay_host, sizeof(mx[0].host));
		mx[0].pref = 0;
		nmx = 1;
		port = d[0].relay_port > 0 ? d[0].relay_port : 25;
	} else {
		port = c->smtp_port_out;
		st = dns_mx(t->dns, d[0].domain, mx, DNS_MAX_MX, &nmx,
		    DLV_DNS_TIMEOUT);
		if (st == DNS_NODATA) {
			/* RFC 5321 5.1: no MX -> the domain is the host. */
			str_copy(mx[0].host, d[0].domain, sizeof(mx[0].host));
			nmx = 1;
		} else if (st == DNS_NXDOMAIN || st == DNS_NULLMX) {
			for (i = 0; i < n; i++)
				set_outcome(&d[i], st == DNS_NULLMX ? 556 : 550,
				    st == DNS_NULLMX ? "5.1.10" : "5.1.2",
				    st == DNS_NULLMX ? "recipient domain accepts "
				    "no mail (null MX, RFC 7505)" : "recipient "
				    "domain not found in DNS", d[0].domain, NULL);
			goto out;
		} else if (st != DNS_OK) {
			for (i = 0; i < n; i++)
				set_outcome(&d[i], 451, "4.4.3", "temporary DNS "
				    "failure looking up MX", d[0].domain, NULL);
			goto out;
		}
	}
	for (h = 0; h < nmx && !connected; h++) {
		char addrs[DNS_MAX_ADDRS][64];
		size_t na = 0, k;

		st = host_addrs(t, mx[h].host, addrs, &na);
		if (st != DNS_OK) {
			snprintf(fail.text, sizeof(fail.text), "cannot resolve %.255s"
			    " (%s)", mx[h].host, dns_status_name(st));
			continue;
		}
		for (k = 0; k < na && !connected; k++) {
			struct smtp_client_params p;
			struct smtp_client *cl;
			char tls[160] = "";

			memset(&p, 0, sizeof(p));
			p.helo_name = c->hostname;
			p.host = mx[h].host;
			p.addr = addrs[k];
			p.port = port;
			p.tls = d[0].relay_tls != RELAY_TLS_UNSET ? d[0].relay_tls :
			    c->use_starttls_out ? RELAY_TLS_OPPORTUNISTIC :
			    RELAY_TLS_NONE;
			p.versions = d[0].versions;
			p.verify = d[0].verify >= 0 ? d[0].verify :
			    c->tls_verify_out;
			p.connect_timeout = c->smtp_connect_timeout;
			p.command_timeout = c->smtp_command_timeout;
			p.data_timeout = c->smtp_data_timeout;
			snprintf(relay, sizeof(relay), "%.255s[%.63s]:%d", mx[h].host,
			    addrs[k], port);
			cl = smtp_client_open(&p, &fail);
			if (cl == NULL)
				continue;
			connected = 1;
			if (smtp_client_tls_version(cl)[0] != '\0')
				snprintf(tls, sizeof(tls), "%s/%s%s",
				    smtp_client_tls_version(cl),
				    smtp_client_tls_cipher(cl),
				    smtp_client_tls_verified(cl) ?
				    "/verified" : "");
			if (smtp_client_send(cl, m->sender, rcpts, n, m->body,
			    m->len, res) == 0) {
				/* Keep it for the next group to this route. */
				cache_close(t);
				t->cached = cl;
				str_copy(t->cached_key, d[0].key,
				    sizeof(t->cached_key));
				str_copy(t->cached_relay, relay,
				    sizeof(t->cached_relay));
				str_copy(t->cached_tls, tls, sizeof(t->cached_tls));
				t->cached_gen = c->generation;
				t->cached_used = now_ms();
			} else {
				smtp_client_close(cl);
			}
			for (i = 0; i < n; i++)
				set_outcome(&d[i], res[i].code, res[i].ecode,
				    res[i].text, relay, tls);
		}
	}
	if (!connected)
		for (i = 0; i < n; i++)
			set_outcome(&d[i], fail.code ? fail.code : 451,
			    fail.ecode, fail.text, relay, NULL);
out:
	free(rcpts);
	free(res);
}

static int64_t
retry_delay(const struct config *c, int attempts)
{
	int64_t d = c->retry_initial;
	int i;

	for (i = 1; i < attempts && d < c->retry_max; i++)
		d *= 2;
	return d > c->retry_max ? c->retry_max : d;
}

static void
log_outcome(const struct dlv_msg *m, const struct dlv_rcpt *d)
{
	char esc[700];
	double delay = difftime(time(NULL), m->received);

	log_info("%s to=<%s> relay=%s%s%s delay=%.0f dsn=%s status=%s (%s)",
	    m->qid, d->address, d->relay[0] ? d->relay : "none",
	    d->tls[0] ? " tls=" : "", d->tls, delay, d->status,
	    d->out == OUT_DELIVERED ? "sent" : d->out == OUT_BOUNCE ?
	    "bounced" : "deferred",
	    log_escape(esc, sizeof(esc), d->reply, strlen(d->reply)));
}

static int
exec_ok(PGconn *db, const char *name, int n, const char *const *params,
    const int *lengths, const int *formats, PGresult **keep)
{
	PGresult *r = PQexecPrepared(db, name, n, params, lengths, formats, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		log_warnx("delivery: %s failed: %s", name,
		    PQresultErrorMessage(r));
	if (keep != NULL)
		*keep = r;
	else
		PQclear(r);
	return ok ? 0 : -1;
}

/* Writes outcomes of one message's recipients (and its DSN) in one
 * transaction. */
static void
finish_message(struct dlv_thread *t, const struct config *c,
    const struct dlv_msg *m, struct dlv_rcpt *d, size_t n)
{
	struct dsn_rcpt drc[DLV_MAX_BATCH];
	char mid[32], dsnid[32] = "";
	size_t i, nb = 0;
	time_t now = time(NULL);
	int dsn_made = 0, ok = 1;
	struct buf dsn;

	buf_init(&dsn, (size_t)c->max_message_size + 65536);
	for (i = 0; i < n; i++) {
		if (d[i].out == OUT_DEFER && now - m->received >= c->queue_lifetime) {
			char last[600];

			str_copy(last, d[i].reply, sizeof(last));
			snprintf(d[i].reply, sizeof(d[i].reply), "message expired "
			    "after %d s in the queue; last reply: %.500s",
			    c->queue_lifetime, last);
			str_copy(d[i].status, "4.4.7", sizeof(d[i].status));
			d[i].out = OUT_BOUNCE;
		}
		if (d[i].out == OUT_BOUNCE) {
			drc[nb].address = d[i].address;
			drc[nb].status = d[i].status;
			drc[nb].diagnostic = d[i].reply;
			drc[nb].remote_mta = strcmp(d[i].relay, "local") == 0 ?
			    NULL : d[i].relay;
			nb++;
		}
	}
	if (nb > 0 && m->sender[0] != '\0') {
		struct dsn_params p;

		memset(&p, 0, sizeof(p));
		p.reporting_mta = c->hostname;
		p.from_name = c->bounce_sender_name;
		p.queue_id = m->qid;
		p.sender = m->sender;
		p.arrival = m->received;
		p.now = now;
		p.original = m->body;
		p.original_len = m->len;
		p.rcpts = drc;
		p.nrcpts = nb;
		if (dsn_build(&p, &dsn) == 0) {
			snprintf(dsnid, sizeof(dsnid), "%" PRIu64,
			    server_new_queue_id());
			dsn_made = 1;
		} else {
			log_warnx("%s: cannot build the DSN", m->qid);
		}
	}
	if (dsn_made)
		ok = exec_ok(t->db, "begin_tx", 0, NULL, NULL, NULL, NULL) == 0;
	if (dsn_made && ok) {
		char size[32];
		const char *params[5];
		int lengths[5] = { 0, 0, 0, 0, 0 }, formats[5] = { 0, 0, 0, 1, 0 };

		snprintf(size, sizeof(size), "%zu", buf_unread(&dsn));
		params[0] = dsnid;
		params[1] = d_node;
		params[2] = size;
		params[3] = (const char *)buf_data(&dsn);
		lengths[3] = (int)buf_unread(&dsn);
		params[4] = m->sender;
		if (exec_ok(t->db, "dsn_message", 5, params, lengths, formats,
		    NULL) == -1)
			ok = 0;
	}
	if (ok) {
		struct pgarr rno, outc, reply, delay;
		const char *params[7];
		int lengths[7] = { 0 }, formats[7] = { 0, 0, 0, 1, 1, 1, 1 };
		static const char *const oname[] = { "deferred", "delivered",
		    "deferred", "bounced" };

		pgarr_init(&rno, PGARR_OID_INT4);
		pgarr_init(&outc, PGARR_OID_TEXT);
		pgarr_init(&reply, PGARR_OID_TEXT);
		pgarr_init(&delay, PGARR_OID_INT4);
		for (i = 0; i < n; i++) {
			pgarr_add_int4(&rno, d[i].rcpt_no);
			pgarr_add_text(&outc, oname[d[i].out]);
			pgarr_add_text(&reply, d[i].reply);
			pgarr_add_int4(&delay, (int32_t)retry_delay(c,
			    d[i].attempts + 1));
		}
		snprintf(mid, sizeof(mid), "%" PRId64, m->id);
		params[0] = mid;
		params[1] = d_node;
		params[2] = dsn_made ? dsnid : NULL;
		params[3] = (const char *)pgarr_finish(&rno, &lengths[3]);
		params[4] = (const char *)pgarr_finish(&outc, &lengths[4]);
		params[5] = (const char *)pgarr_finish(&reply, &lengths[5]);
		params[6] = (const char *)pgarr_finish(&delay, &lengths[6]);
		ok = exec_ok(t->db, "outcomes", 7, params, lengths, formats,
		    NULL) == 0;
		pgarr_free(&rno);
		pgarr_free(&outc);
		pgarr_free(&reply);
		pgarr_free(&delay);
	}
	if (dsn_made && ok) {
		ok = exec_ok(t->db, "commit_tx", 0, NULL, NULL, NULL, NULL) == 0;
	} else if (dsn_made) {
		PQclear(PQexec(t->db, "ROLLBACK"));
	}
	if (!ok) {
		log_warnx("%s: recording delivery outcomes failed; the "
		    "recipients will be retried after their lease expires",
		    m->qid);
		db_check(t);
	} else {
		for (i = 0; i < n; i++)
			log_outcome(m, &d[i]);
		if (dsn_made) {
			char q[17];

			smtp_queue_id(strtoull(dsnid, NULL, 10), q);
			log_info("%s: sender non-delivery notification: %s", m->qid,
			    q);
		}
	}
	buf_free(&dsn);
}

static void
process_batch(struct dlv_thread *t, const struct config *c,
    struct dlv_rcpt *d, size_t n)
{
	size_t i = 0;

	qsort(d, n, sizeof(*d), cmp_rcpt);
	/* A stop ends the batch after the current message; delivery_stop()
	 * then releases the leases of the rest. */
	while (i < n && !stopping()) {
		struct dlv_msg m;
		size_t j = i, g, end;
		int kept;
		char mine[8192];

		while (j < n && d[j].message_id == d[i].message_id)
			j++;
		if (load_message(t, c, d[i].message_id, &m, mine,
		    sizeof(mine)) == -1) {
			/* Deleted meanwhile, or the database is gone: leases
			 * expire and the rows (if any) come back. */
			i = j;
			continue;
		}
		kept = keep_leased(&m, mine, &d[i], j - i);
		if (kept <= 0) {
			free(m.body);
			i = j;
			continue;
		}
		end = i + (size_t)kept;
		g = i;
		while (g < end) {
			size_t e = g, k;

			while (e < end && strcmp(d[e].key, d[g].key) == 0)
				e++;
			for (k = g; k < e; k++)
				if (d[k].bounce_requested)
					set_outcome(&d[k], 550, "5.0.0", "bounced "
					    "by the administrator "
					    "(postern.queue_bounce)", "none",
					    NULL);
			if (d[g].out == OUT_NONE) {
				if (strcmp(d[g].key, "local") == 0)
					deliver_local(c, &m, &d[g], e - g);
				else
					deliver_remote(t, c, &m, &d[g], e - g);
			}
			g = e;
		}
		finish_message(t, c, &m, &d[i], end - i);
		free(m.body);
		i = j;
	}
}

static void *
delivery_main(void *arg)
{
	struct dlv_thread *t = arg;
	struct dlv_rcpt *batch = xcalloc(DLV_MAX_BATCH, sizeof(*batch));
	unsigned seen = 0;

	for (;;) {
		struct config *c;
		int n = 0;

		pthread_mutex_lock(&wake_lock);
		if (dlv_stop) {
			pthread_mutex_unlock(&wake_lock);
			break;
		}
		seen = wake_seq;
		pthread_mutex_unlock(&wake_lock);
		c = server_config();
		if (c == NULL)
			goto wait;
		if (t->db == NULL && now_ms() >= t->retry_at)
			db_connect(t);
		if (t->dns == NULL || strcmp(t->dns_servers, c->dns_servers) != 0) {
			char err[256];

			dns_free(t->dns);
			t->dns = dns_new(c->dns_servers, err, sizeof(err));
			if (t->dns == NULL)
				log_warnx("delivery%d: %s", t->no, err);
			str_copy(t->dns_servers, c->dns_servers,
			    sizeof(t->dns_servers));
		}
		if (t->db != NULL && t->dns != NULL && !c->delivery_paused)
			n = claim(t, c, batch, c->delivery_batch < DLV_MAX_BATCH ?
			    c->delivery_batch : DLV_MAX_BATCH);
		if (n > 0)
			process_batch(t, c, batch, (size_t)n);
		config_unref(c);
		if (n > 0)
			continue;	/* more may be due */
wait:
		/* Like Postfix's connection cache: an idle session is kept
		 * for about 2 s for the next burst, then closed. */
		if (t->cached != NULL && now_ms() - t->cached_used > 2000)
			cache_close(t);
		pthread_mutex_lock(&wake_lock);
		if (!dlv_stop && wake_seq == seen) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += t->cached != NULL ? 1 : 2;
			pthread_cond_timedwait(&wake_cond, &wake_lock, &ts);
		}
		pthread_mutex_unlock(&wake_lock);
	}
	free(batch);
	cache_close(t);
	dns_free(t->dns);
	if (t->db != NULL)
		PQfinish(t->db);
	free(t);
	return NULL;
}

int
delivery_start(const char *conninfo, const char *node, int n)
{
	int i;

	d_conninfo = xstrdup(conninfo);
	d_node = xstrdup(node);
	threads = xcalloc((size_t)n, sizeof(*threads));
	for (i = 0; i < n; i++) {
		struct dlv_thread *t = xcalloc(1, sizeof(*t));

		t->no = i;
		t->backoff = 500;
		if (pthread_create(&threads[i], NULL, delivery_main, t) != 0) {
			log_warn("delivery: pthread_create");
			free(t);
			return -1;
		}
		nthreads++;
	}
	return 0;
}

void
delivery_stop(void)
{
	PGconn *db;
	int i;

	pthread_mutex_lock(&wake_lock);
	dlv_stop = 1;
	pthread_cond_broadcast(&wake_cond);
	pthread_mutex_unlock(&wake_lock);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	nthreads = 0;
	free(threads);
	threads = NULL;
	if (d_conninfo == NULL)
		return;
	/* A clean stop hands this node's leases back at once. */
	db = PQconnectdb(d_conninfo);
	if (PQstatus(db) == CONNECTION_OK) {
		const char *params[1] = { d_node };
		PGresult *r = PQexecParams(db, "UPDATE postern.recipients SET "
		    "lease_owner = NULL, lease_expires = NULL WHERE lease_owner"
		    " = $1 AND state IN ('queued', 'deferred')", 1, NULL, params,
		    NULL, NULL, 0);

		if (PQresultStatus(r) == PGRES_COMMAND_OK &&
		    atoi(PQcmdTuples(r)) > 0) {
			log_info("delivery: released %s lease(s) of node %s",
			    PQcmdTuples(r), d_node);
			/* Wake the other nodes now, not at their next poll. */
			PQclear(PQexec(db, "NOTIFY postern_queue"));
		}
		PQclear(r);
	}
	PQfinish(db);
	free(d_conninfo);
	free(d_node);
	d_conninfo = d_node = NULL;
}
