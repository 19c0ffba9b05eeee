/*
 * db_queue.h - the queue statements of delivery: claim, message load with
 * lease renewal, outcomes (with the DSN in the same transaction), and the
 * release of a node's leases at a clean stop.  The only file of delivery
 * that calls libpq (on top of daemon/db.h).
 *
 * Promises: every statement is prepared (role "delivery", statement
 * timeout 60 s, reconnect backoff 0.5 s doubling to 10 s); a statement
 * that fails because the connection broke reports it with db_failed(), so
 * the next call reconnects; leases belong to one claim (its token, made
 * by the caller unique to that claim), and renewals and outcomes are
 * written only where that token still holds the lease; a DSN and the
 * outcomes are one transaction, committed only when every outcome
 * matched.
 */
#ifndef POSTERN_DB_QUEUE_H
#define POSTERN_DB_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "daemon/addr.h"
#include "daemon/db.h"
#include "daemon/vocab.h"

/* One claimed recipient, as stored. */
struct db_queue_rcpt {
	int64_t message_id;
	int rcpt_no;
	char address[ADDR_MAX + 1];
	int attempts;
	char relay_host[256];	/* "" = MX lookup */
	int relay_port;
	enum relay_tls relay_tls;
	unsigned versions;	/* TLS_VERSIONS_* */
	int verify;		/* -1 = unset */
	int bounce_requested;
};

struct db_queue_msg {
	int64_t id;
	char qid[17];
	char sender[ADDR_MAX + 1];
	time_t received;
	uint8_t *body;		/* malloc'ed; the caller frees it */
	size_t len;
};

/* One recipient's outcome. */
struct db_queue_outcome {
	int rcpt_no;
	const char *state;	/* "delivered", "deferred" or "bounced" */
	const char *reply;
	int32_t delay;		/* seconds to the next attempt (deferred) */
};

/* A DSN to insert with the outcomes (one recipient: the sender). */
struct db_queue_dsn {
	uint64_t id;		/* its queue id */
	const uint8_t *data;
	size_t len;
	const char *rcpt;
};

/* A handle for one delivery thread (connects on first use). */
struct db *db_queue_open(void);

/* Claims up to max due recipients with a lease of lease_s seconds for
 * node under token (lease_owner = node, lease_token = token).  Returns the
 * number claimed (0 also when the database is not reachable right now),
 * or -1 on a failed statement. */
int db_queue_claim(struct db *d, const char *node, const char *token,
    int max, int lease_s, struct db_queue_rcpt *out);

/* Loads message id and renews (now + lease_s) the leases of its
 * recipients token still holds; their numbers go to mine ("0,2,3").
 * 0, or -1 (deleted meanwhile, or the database is gone). */
int db_queue_load(struct db *d, const char *token, int64_t id, int lease_s,
    struct db_queue_msg *m, char *mine, size_t minelen);

/* Renews (now + lease_s) every lease token holds.  Returns how many, or
 * -1 (logged). */
int db_queue_renew(struct db *d, const char *token, int lease_s);

/* Writes the outcomes of one message where token still holds the lease;
 * matched[i] (n of them) says whether o[i] was written.  With dsn (made by
 * node) the outcomes and the DSN are one transaction, committed only when
 * every outcome matched.  Returns how many were written; -2 when dsn was
 * given and some outcome did not match (nothing written: drop those and
 * call again with a DSN for the rest); -1 on failure (logged; nothing
 * written). */
int db_queue_outcomes(struct db *d, const char *node, const char *token,
    int64_t message_id, const struct db_queue_outcome *o, size_t n,
    const struct db_queue_dsn *dsn, int *matched);

/* Hands back every lease of node at once and wakes the other nodes
 * (NOTIFY postern_queue), on a connection of its own.  Returns the number
 * released, or -1 when the database could not be reached. */
int db_queue_release(const char *node);

#endif
