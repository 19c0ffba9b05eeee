/*
 * dns.h - MX and address look-ups for delivery, with c-ares.
 *
 * One resolver per delivery thread (c-ares 1.18 channels are not
 * thread-safe).  The servers come from settings.dns_servers
 * ("127.0.0.1:5353,[::1]:53"; empty = the system's /etc/resolv.conf), so
 * tests point it at an unbound on loopback.  Every look-up is bounded by
 * its timeout.  Blocking: runs on delivery threads only.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>

enum dns_status {
	DNS_OK,		/* answers found */
	DNS_NXDOMAIN,	/* the name does not exist (permanent) */
	DNS_NODATA,	/* the name exists, no record of that type */
	DNS_NULLMX,	/* RFC 7505 null MX: the domain accepts no mail */
	DNS_TEMPFAIL,	/* timeout, SERVFAIL, refused, no servers ... */
};

#define DNS_MAX_MX 16
#define DNS_MAX_ADDRS 16

struct dns_mx {
	char host[256];
	int pref;
};

struct dns;

/* servers: NULL or "" for the system resolver.  Returns NULL with a
 * message in err on failure (bad server list). */
struct dns *dns_new(const char *servers, char *err, size_t errlen);
void dns_free(struct dns *d);

/* MX records of domain sorted by preference (ties in random order, RFC
 * 5321 5.1).  On DNS_OK, *n >= 1. */
enum dns_status dns_mx(struct dns *d, const char *domain, struct dns_mx *out,
    size_t max, size_t *n, int timeout_ms);
/* A and AAAA addresses of host as text (IPv4 first, then IPv6). */
enum dns_status dns_addrs(struct dns *d, const char *host, char (*out)[64],
    size_t max, size_t *n, int timeout_ms);
const char *dns_status_name(enum dns_status s);

#endif
