/*
 * smtp_client.h - the SMTP client used by delivery (RFC 5321, RFC 2920
 * PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3207 STARTTLS).
 *
 * Blocking with deadlines: it runs on a delivery thread, never on the
 * event loop, and every wait is bounded by the RFC 5321 4.5.3.2 timeouts
 * given in the parameters.  TLS policy is enforced here: with REQUIRED or
 * IMPLICIT, a server without STARTTLS, a failed handshake, or a negotiated
 * version outside the allowed set ends the session before any envelope is
 * sent, and the result is a temporary failure (the mail is deferred, never
 * sent in clear).  OPPORTUNISTIC uses STARTTLS when offered and falls back
 * to plaintext only when the server does not offer it (or refuses the
 * STARTTLS command itself, before any handshake); a failed handshake ends
 * the session with a 4xx and is not retried in clear within the call.
 *
 * Results are per recipient: the SMTP code, enhanced code and text of the
 * reply that decided it (RCPT refusal, or the final reply to DATA).
 *
 * The protocol itself is the pure state machine of smtp_client_fsm.h and
 * the reply reader of smtp_reply.h; this API is their driver.
 */
#ifndef POSTERN_SMTP_CLIENT_H
#define POSTERN_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/vocab.h"
#include "daemon/smtp_reply.h"	/* struct smtp_client_reply */

struct smtp_client_params {
	const char *helo_name;	/* our host name for EHLO */
	const char *host;	/* peer host name: logs, SNI, verification */
	const char *addr;	/* IP address to connect to (text) */
	int port;
	enum relay_tls tls;	/* NONE, OPPORTUNISTIC, REQUIRED, IMPLICIT
				 * (UNSET is treated as OPPORTUNISTIC) */
	unsigned versions;	/* TLS_VERSIONS_* allowed; 0 = TLS 1.2 and 1.3 */
	int verify;		/* verify the certificate chain and host name */
	int connect_timeout;	/* seconds */
	int command_timeout;	/* seconds, per reply (RFC 5321: 5 min) */
	int data_timeout;	/* seconds, final reply to DATA (10 min) */
	/* Called before every wait (connect, reply, write, handshake step)
	 * with the longest it may last in seconds; NULL = none.  Delivery
	 * renews its leases there. */
	void (*before_wait)(void *arg, int seconds);
	void *wait_arg;
};


struct smtp_client;

/* Connects, reads the greeting, EHLO (HELO fallback), STARTTLS per policy
 * and EHLO again.  Returns the client, or NULL with *fail filled: code 4xx
 * (connection refused, timeout, TLS policy not met, 4xx greeting) or 5xx
 * (5xx greeting), text readable by an admin and naming host[addr]:port. */
struct smtp_client *smtp_client_open(const struct smtp_client_params *p,
    struct smtp_client_reply *fail);

/* One transaction: MAIL FROM:<sender> (SIZE= when offered, BODY=8BITMIME
 * when the body has 8-bit bytes and the server offers it), RCPT TO for
 * each recipient (pipelined when offered), DATA with dot-stuffing, final
 * reply.  body is the message as stored (CRLF lines).  For each recipient
 * results[i] is filled.  Returns 0 when the session is still usable for
 * another transaction (after RSET if needed), -1 when it is not (the
 * caller must close it).  A message larger than the server's SIZE is
 * refused for all recipients with 552 5.3.4 before MAIL. */
int smtp_client_send(struct smtp_client *c, const char *sender,
    const char *const *rcpts, size_t nrcpts, const uint8_t *body,
    size_t len, struct smtp_client_reply *results);

/* 1 when the last smtp_client_send() sent the final "." and lost the
 * connection before the reply: the outcome is unknown (the server may
 * have accepted the message), so it must not be sent again at once. */
int smtp_client_outcome_unknown(const struct smtp_client *c);

/* QUIT (best effort) and free.  NULL is fine. */
void smtp_client_close(struct smtp_client *c);

/* TLS facts of the session for logs: "" when not under TLS. */
const char *smtp_client_tls_version(const struct smtp_client *c);
const char *smtp_client_tls_cipher(const struct smtp_client *c);
int smtp_client_tls_verified(const struct smtp_client *c);

#endif
