/*
 * authenticator.h - AUTH password checks on their own bounded pool of
 * threads, so a flood of AUTH attempts (each a bcrypt of some 250 ms)
 * costs those threads and never the workers that serve other sessions.
 *
 * A worker hands an auth job (the credentials, copied; the client
 * address) to authenticator_submit() and parks its conn.  An
 * authenticator thread then, in order:
 *   1. asks the cluster-wide throttle (postern.auth_penalty, db_node.h)
 *      under the client's key (client_key.h: IPv4 address, IPv6 /64); a
 *      refusal ends the job throttled (454 4.7.0 "Too many failed
 *      authentication attempts"), and a counter that cannot be read fails
 *      closed (SMTP_TEMPFAIL: 454 4.7.0 "Temporary authentication
 *      failure"), both without a password check;
 *   2. looks the account up in the CURRENT configuration snapshot
 *      (runtime_config(): reloaded on every change of postern.accounts),
 *      not the one the connection started with, so a disabled account or
 *      a changed password counts at the next AUTH;
 *   3. verifies the password (passwd.h; an unknown, disabled or
 *      password-less account costs the same dummy bcrypt);
 *   4. records a failure (postern.auth_failed) under the same key;
 *   5. fills in the result and the delay before the answer, and calls
 *      the job's completion (which must only hand it back to the conn's
 *      owner, like the committer's).
 *
 * Bounds: AUTHENTICATOR_THREADS threads; at most AUTHENTICATOR_QUEUE jobs
 * wait (then authenticator_submit() refuses and the client gets 454
 * 4.7.0 at once).  A job's password is wiped when it is done.
 */
#ifndef POSTERN_AUTHENTICATOR_H
#define POSTERN_AUTHENTICATOR_H

#include <stdint.h>

#include "daemon/addr.h"
#include "daemon/client_key.h"
#include "daemon/smtp_session.h"

#define AUTHENTICATOR_THREADS	2
#define AUTHENTICATOR_QUEUE	256

struct auth_job {
	struct auth_job *next;
	/* In: */
	char user[ADDR_MAX + 1];
	char pass[512];
	char peer[64];
	uint64_t sid;
	unsigned failures;	/* this session's failures so far */
	/* Out: */
	int throttled;		/* 1: refused before any check (454 4.7.0) */
	enum smtp_result result;	/* SMTP_OK, _PERMFAIL or _TEMPFAIL */
	int64_t delay_ms;	/* wait this long before answering */
	uint64_t account_tag;	/* SMTP_OK: auth_account_tag() of the hash */
	void (*done)(struct auth_job *job);
	void *arg;
};

/* Starts the threads.  Returns 0 or -1. */
int authenticator_start(void);
/* Queues job (owned by the caller, untouched by it until done).  0, or -1
 * when the queue is full or stopping (done is not called). */
int authenticator_submit(struct auth_job *job);
/* Answers what is queued (SMTP_TEMPFAIL, no check) and joins the
 * threads. */
void authenticator_stop(void);

/* A tag of an account's current password hash for user in the current
 * snapshot, 0 when the account cannot log in (unknown, disabled, no
 * password).  A session stays authenticated while its tag is unchanged
 * (conn.c checks it at each MAIL). */
uint64_t auth_account_tag(const char *user);

#endif
