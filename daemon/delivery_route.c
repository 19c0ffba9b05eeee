/*
 * delivery_route.c - the route piece of delivery: where a group of
 * recipients (one message, one route key) goes.
 *
 * A local domain -> Maildir (key "local"); a rule-chosen relay host ->
 * that host and port (default 25) with the rule's TLS mode, versions and
 * verification; otherwise the MX hosts of the recipient domain in
 * preference order (no MX records -> the domain's own addresses, RFC 5321
 * 5.1), port settings.smtp_port_out, opportunistic STARTTLS when
 * settings.use_starttls_out.  NXDOMAIN and null MX (RFC 7505) bounce,
 * other DNS failures defer.  A host may be an address literal
 * ("[192.0.2.1]", "[IPv6:2001:db8::1]").  See delivery_internal.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "daemon/delivery_internal.h"
#include "daemon/util.h"

/* The key that groups recipients going the same way. */
void
dlv_route_key(const struct config *c, struct dlv_rcpt *d)
{
	if (d->domain[0] == '\0' || config_domain_is_local(c, d->domain))
		snprintf(d->key, sizeof(d->key), "local");
	else if (d->q.relay_host[0] != '\0')
		snprintf(d->key, sizeof(d->key), "relay:%s:%d:%d:%u:%d",
		    d->q.relay_host, d->q.relay_port, (int)d->q.relay_tls, d->q.versions,
		    d->q.verify);
	else
		snprintf(d->key, sizeof(d->key), "mx:%s:%d:%u:%d", d->domain,
		    (int)d->q.relay_tls, d->q.versions, d->q.verify);
}

static int
is_ip(const char *s)
{
	uint8_t b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* Addresses for a host name or [literal]. */
enum dns_status
dlv_route_addrs(struct dlv_thread *t, const char *host, char (*addrs)[64],
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
	dlv_renew(t, DLV_DNS_TIMEOUT / 1000);
	return dns_addrs(t->dns, host, addrs, DNS_MAX_ADDRS, n, DLV_DNS_TIMEOUT);
}

/*
 * The hosts for d[0..n) (one route): 0 with r filled, or -1 when the
 * outcome is already decided (NXDOMAIN, null MX, temporary DNS failure),
 * set on every recipient.
 */
int
dlv_route(struct dlv_thread *t, const struct config *c, struct dlv_rcpt *d,
    size_t n, struct dlv_route *r)
{
	enum dns_status st;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (d[0].q.relay_host[0] != '\0') {
		str_copy(r->mx[0].host, d[0].q.relay_host, sizeof(r->mx[0].host));
		r->mx[0].pref = 0;
		r->nmx = 1;
		r->port = d[0].q.relay_port > 0 ? d[0].q.relay_port : 25;
		return 0;
	}
	r->port = c->smtp_port_out;
	dlv_renew(t, DLV_DNS_TIMEOUT / 1000);
	st = dns_mx(t->dns, d[0].domain, r->mx, DNS_MAX_MX, &r->nmx,
	    DLV_DNS_TIMEOUT);
	if (st == DNS_OK)
		return 0;
	if (st == DNS_NODATA) {
		/* RFC 5321 5.1: no MX -> the domain is the host. */
		str_copy(r->mx[0].host, d[0].domain, sizeof(r->mx[0].host));
		r->nmx = 1;
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (st == DNS_NULLMX)
			dlv_set_outcome(&d[i], 556, "5.1.10", "recipient domain "
			    "accepts no mail (null MX, RFC 7505)", d[0].domain,
			    NULL);
		else if (st == DNS_NXDOMAIN)
			dlv_set_outcome(&d[i], 550, "5.1.2", "recipient domain "
			    "not found in DNS", d[0].domain, NULL);
		else
			dlv_set_outcome(&d[i], 451, "4.4.3", "temporary DNS "
			    "failure looking up MX", d[0].domain, NULL);
	}
	return -1;
}

/* SMTP client parameters for one host and address of d's route. */
void
dlv_route_params(const struct config *c, const struct dlv_rcpt *d,
    const char *host, const char *addr, int port, struct smtp_client_params *p)
{
	memset(p, 0, sizeof(*p));
	p->helo_name = c->hostname;
	p->host = host;
	p->addr = addr;
	p->port = port;
	p->tls = d->q.relay_tls != RELAY_TLS_UNSET ? d->q.relay_tls :
	    c->use_starttls_out ? RELAY_TLS_OPPORTUNISTIC : RELAY_TLS_NONE;
	p->versions = d->q.versions;
	p->verify = d->q.verify >= 0 ? d->q.verify : c->tls_verify_out;
	p->connect_timeout = c->smtp_connect_timeout;
	p->command_timeout = c->smtp_command_timeout;
	p->data_timeout = c->smtp_data_timeout;
}
