/*
 * delivery_deliver.c - the deliver piece of delivery: one group of
 * recipients (one message, one route) to Maildir (daemon/maildir.c) or
 * through the SMTP client (daemon/smtp_client.c) to the first host of the
 * route that answers, sets every recipient's outcome.
 *
 * Connection reuse: a thread keeps its last SMTP session for the next
 * group with the same route key and configuration generation (closed by
 * delivery.c after about 2 s idle).  A cached session the peer closed
 * meanwhile is retried once on a fresh connection when nothing was
 * accepted and the final "." was not sent; lost after the "." the outcome
 * is unknown (the server may have the message), so the recipients are
 * deferred like any lost session, never sent again at once.  Every wait
 * of the SMTP client first renews the claim's leases when they could run
 * out (dlv_before_wait).  See delivery_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/delivery_internal.h"
#include "daemon/maildir.h"
#include "daemon/util.h"

void
dlv_deliver_local(const struct config *c, const struct db_queue_msg *m,
    struct dlv_rcpt *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char err[600], lower[ADDR_MAX + 1];
		const struct config_account *a;
		int permanent = 0;

		if (c->maildir_root[0] == '\0') {
			dlv_set_outcome(&d[i], 451, "4.3.5", "local delivery is not "
			    "configured (settings.maildir_root is NULL)", "local",
			    NULL);
			continue;
		}
		str_copy(lower, d[i].q.address, sizeof(lower));
		str_lower(lower);
		a = config_account(c, lower);
		if (d[i].domain[0] != '\0' && (a == NULL || !a->enabled)) {
			dlv_set_outcome(&d[i], 550, "5.1.1", "user unknown (no such "
			    "account)", "local", NULL);
			continue;
		}
		if (maildir_deliver(c->maildir_root, lower, m->sender, m->qid,
		    d[i].q.rcpt_no, m->body, m->len, err, sizeof(err),
		    &permanent) == -1) {
			dlv_set_outcome(&d[i], permanent ? 550 : 451, permanent ?
			    "5.1.3" : "4.3.0", err, "local", NULL);
			continue;
		}
		dlv_set_outcome(&d[i], 250, "2.0.0", "delivered to maildir", "local",
		    NULL);
	}
}

void
dlv_cache_close(struct dlv_thread *t)
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
    const struct db_queue_msg *m, struct dlv_rcpt *d, size_t n,
    const char **rcpts, struct smtp_client_reply *res)
{
	size_t i;
	int rc;

	if (t->cached == NULL)
		return 0;
	if (strcmp(t->cached_key, d[0].key) != 0 ||
	    t->cached_gen != c->generation) {
		dlv_cache_close(t);
		return 0;
	}
	rc = smtp_client_send(t->cached, m->sender, rcpts, n, m->body, m->len,
	    res);
	t->cached_used = now_ms();
	if (rc == -1) {
		/* The peer may have closed the idle session: when nothing was
		 * accepted and the "." was not sent, try again on a fresh
		 * connection.  After the "." the server may have the message:
		 * the 451 "lost connection" results stand (deferred). */
		int accepted = 0;

		for (i = 0; i < n; i++)
			accepted |= res[i].code >= 200 && res[i].code < 300;
		accepted |= smtp_client_outcome_unknown(t->cached);
		dlv_cache_close(t);
		if (!accepted)
			return 0;
	}
	for (i = 0; i < n; i++)
		dlv_set_outcome(&d[i], res[i].code, res[i].ecode, res[i].text,
		    t->cached_relay, t->cached_tls);
	return 1;
}

/* "TLSv1.3/cipher/verified", or "" in clear. */
static void
tls_text(const struct smtp_client *cl, char *out, size_t outlen)
{
	out[0] = '\0';
	if (smtp_client_tls_version(cl)[0] != '\0')
		snprintf(out, outlen, "%s/%s%s", smtp_client_tls_version(cl),
		    smtp_client_tls_cipher(cl), smtp_client_tls_verified(cl) ?
		    "/verified" : "");
}

/*
 * One host address of the route: open, send, keep the session for the
 * next group (or close it), set the outcomes.  Returns 1 when a session
 * was opened (outcomes set), 0 when not (*fail says why).
 */
static int
deliver_to(struct dlv_thread *t, const struct config *c,
    const struct db_queue_msg *m, struct dlv_rcpt *d, size_t n,
    const char **rcpts, struct smtp_client_reply *res,
    const struct smtp_client_params *p, const char *relay,
    struct smtp_client_reply *fail)
{
	struct smtp_client *cl;
	char tls[160];
	size_t i;

	cl = smtp_client_open(p, fail);
	if (cl == NULL)
		return 0;
	tls_text(cl, tls, sizeof(tls));
	if (smtp_client_send(cl, m->sender, rcpts, n, m->body, m->len,
	    res) == 0) {
		/* Keep it for the next group to this route. */
		dlv_cache_close(t);
		t->cached = cl;
		str_copy(t->cached_key, d[0].key, sizeof(t->cached_key));
		str_copy(t->cached_relay, relay, sizeof(t->cached_relay));
		str_copy(t->cached_tls, tls, sizeof(t->cached_tls));
		t->cached_gen = c->generation;
		t->cached_used = now_ms();
	} else {
		smtp_client_close(cl);
	}
	for (i = 0; i < n; i++)
		dlv_set_outcome(&d[i], res[i].code, res[i].ecode, res[i].text,
		    relay, tls);
	return 1;
}

/* Tries the route's hosts and addresses in order until one answers. */
static void
deliver_route(struct dlv_thread *t, const struct config *c,
    const struct db_queue_msg *m, struct dlv_rcpt *d, size_t n,
    const char **rcpts, struct smtp_client_reply *res,
    const struct dlv_route *r)
{
	struct smtp_client_reply fail;
	struct smtp_client_params p;
	char relay[400] = "none";
	size_t h, k, i;

	smtp_reply_set(&fail, 451, "4.4.1", "no host could be reached");
	for (h = 0; h < r->nmx; h++) {
		char addrs[DNS_MAX_ADDRS][64];
		size_t na = 0;
		enum dns_status st;

		st = dlv_route_addrs(t, r->mx[h].host, addrs, &na);
		if (st != DNS_OK) {
			snprintf(fail.text, sizeof(fail.text), "cannot resolve "
			    "%.255s (%s)", r->mx[h].host, dns_status_name(st));
			continue;
		}
		for (k = 0; k < na; k++) {
			dlv_route_params(c, &d[0], r->mx[h].host, addrs[k],
			    r->port, &p);
			p.before_wait = dlv_before_wait;
			p.wait_arg = t;
			snprintf(relay, sizeof(relay), "%.255s[%.63s]:%d",
			    r->mx[h].host, addrs[k], r->port);
			if (deliver_to(t, c, m, d, n, rcpts, res, &p, relay,
			    &fail))
				return;
		}
	}
	for (i = 0; i < n; i++)
		dlv_set_outcome(&d[i], fail.code ? fail.code : 451, fail.ecode,
		    fail.text, relay, NULL);
}

void
dlv_deliver_remote(struct dlv_thread *t, const struct config *c,
    const struct db_queue_msg *m, struct dlv_rcpt *d, size_t n)
{
	struct smtp_client_reply *res;
	struct dlv_route r;
	const char **rcpts;
	size_t i;

	rcpts = xcalloc(n, sizeof(*rcpts));
	res = xcalloc(n, sizeof(*res));
	for (i = 0; i < n; i++)
		rcpts[i] = d[i].q.address;
	if (!deliver_cached(t, c, m, d, n, rcpts, res) &&
	    dlv_route(t, c, d, n, &r) == 0)
		deliver_route(t, c, m, d, n, rcpts, res, &r);
	free(rcpts);
	free(res);
}
