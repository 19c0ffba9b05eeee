/*
 * delivery_internal.h - what the pieces of delivery share (not for other
 * modules; delivery.h is the interface).
 *
 * A delivery round is: claim (delivery_claim.c: claimed recipients with
 * their route key, grouped by message and route; the message load with
 * lease renewal), route (delivery_route.c: where a group goes: MX or
 * relay hosts, their addresses, the SMTP client parameters), deliver
 * (delivery_deliver.c: Maildir, or the SMTP client with the per-thread
 * cached session), outcome (delivery_outcome.c: expiry, DSN, the write of
 * every outcome of a message, and the log line per recipient).
 * delivery.c runs the threads.  SQL is in daemon/db_queue.c.
 */
#ifndef POSTERN_DELIVERY_INTERNAL_H
#define POSTERN_DELIVERY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/addr.h"
#include "daemon/config.h"
#include "daemon/db_queue.h"
#include "daemon/dns.h"
#include "daemon/smtp_client.h"

#define DLV_MAX_BATCH 1000
#define DLV_DNS_TIMEOUT 10000	/* ms */
#define DLV_KEY_MAX 400
/* Seconds a step of delivery may take between two lease checks outside
 * the SMTP client's waits (a DNS look-up, a Maildir write). */
#define DLV_GROUP_WAIT (DLV_DNS_TIMEOUT / 1000)

enum dlv_outcome { OUT_NONE, OUT_DELIVERED, OUT_DEFER, OUT_BOUNCE };

struct dlv_rcpt {
	struct db_queue_rcpt q;		/* as claimed */
	char domain[ADDR_DOMAIN_MAX + 1];
	char key[DLV_KEY_MAX];		/* route key for grouping */
	/* outcome */
	enum dlv_outcome out;
	char status[16];	/* enhanced code "2.0.0" */
	char reply[600];
	char relay[400];	/* host[addr]:port or "local" */
	char tls[160];
};

struct dlv_thread {
	int no;
	const char *node;
	int64_t incarnation;	/* of this run of the node (db_node.h) */
	/* The current claim: its lease token ("" between batches), lease
	 * length, how many claims this thread made, and until when (now_ms
	 * clock, conservative) its leases surely run. */
	char token[200];
	int lease_s;
	uint64_t claims;
	int64_t lease_until;
	/* One SMTP session kept open after a transaction, reused when the
	 * next group has the same route (and the configuration is the
	 * same); closed when the thread goes idle. */
	struct smtp_client *cached;
	char cached_key[DLV_KEY_MAX];
	char cached_relay[400];
	char cached_tls[160];
	uint64_t cached_gen;
	int64_t cached_used;	/* now_ms() of the last transaction */
	struct db *db;
	struct dns *dns;
	char dns_servers[512];
};

/* delivery_claim.c */
int dlv_claim(struct dlv_thread *t, const struct config *c,
    struct dlv_rcpt *out, int max);
int dlv_load(struct dlv_thread *t, const struct config *c,
    struct db_queue_msg *m, struct dlv_rcpt *d, size_t n);
void dlv_renew(struct dlv_thread *t, int seconds);
void dlv_before_wait(void *arg, int seconds);

/* delivery_route.c */
struct dlv_route {
	struct dns_mx mx[DNS_MAX_MX];	/* hosts in the order to try */
	size_t nmx;
	int port;
};
void dlv_route_key(const struct config *c, struct dlv_rcpt *d);
int dlv_route(struct dlv_thread *t, const struct config *c,
    struct dlv_rcpt *d, size_t n, struct dlv_route *r);
enum dns_status dlv_route_addrs(struct dlv_thread *t, const char *host,
    char (*addrs)[64], size_t *n);
void dlv_route_params(const struct config *c, const struct dlv_rcpt *d,
    const char *host, const char *addr, int port,
    struct smtp_client_params *p);

/* delivery_deliver.c */
void dlv_deliver_local(const struct config *c, const struct db_queue_msg *m,
    struct dlv_rcpt *d, size_t n);
void dlv_deliver_remote(struct dlv_thread *t, const struct config *c,
    const struct db_queue_msg *m, struct dlv_rcpt *d, size_t n);
void dlv_cache_close(struct dlv_thread *t);

/* delivery_outcome.c */
void dlv_set_outcome(struct dlv_rcpt *d, int code, const char *ecode,
    const char *text, const char *relay, const char *tls);
void dlv_finish(struct dlv_thread *t, const struct config *c,
    const struct db_queue_msg *m, struct dlv_rcpt *d, size_t n);

#endif
