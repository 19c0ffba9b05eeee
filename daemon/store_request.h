/*
 * store_request.h - one accepted message on its way to the queue: the value
 * the SMTP session builds at the end of DATA and the committer writes.
 *
 * It holds everything the store needs and nothing that points back into the
 * session: the envelope (sender, MAIL parameters, recipients with the route
 * chosen for each at RCPT), where the message came from (client, HELO,
 * listener, TLS, AUTH user), the header lines to put on top of the message
 * (the rules' add_header lines, then our Received:) and the body as the
 * client sent it (dot-unstuffed, in a spool).
 *
 * Ownership: one owner at a time.  The session creates it, the I/O layer
 * takes it (smtp_session_take_store) and hands it to the committer
 * (committer_submit), which frees it with store_request_free() before it
 * reports the outcome.
 */
#ifndef POSTERN_STORE_REQUEST_H
#define POSTERN_STORE_REQUEST_H

#include <stdint.h>

#include "daemon/addr.h"
#include "daemon/buf.h"
#include "daemon/spool.h"
#include "daemon/vocab.h"

/* An accepted recipient and its route. */
struct store_rcpt {
	struct addr addr;
	struct route route;
};

struct store_request {
	uint64_t id;			/* queue id */
	uint64_t session_id;		/* for logs */
	/* Envelope. */
	struct addr sender;		/* addr "" = null sender */
	uint64_t declared_size;		/* MAIL SIZE=, 0 when absent */
	struct store_rcpt *rcpts;	/* nrcpts >= 1 */
	unsigned nrcpts;
	/* Origin. */
	char client_addr[64];
	char helo[256];
	char listener[65];
	char tls_version[32];		/* "" = no TLS */
	char tls_cipher[96];
	char auth_user[ADDR_MAX + 1];	/* "" = not authenticated */
	/* Content: headers, then body. */
	struct buf headers;		/* rule headers, then Received: */
	struct spool body;		/* the message as received */
	uint64_t size;			/* Received: + body (message_size) */
};

/* The stored message's length: headers + body. */
static inline uint64_t
store_request_length(const struct store_request *r)
{
	return (uint64_t)buf_unread(&r->headers) + spool_size(&r->body);
}

/* Frees everything it owns; NULL is a no-op. */
void store_request_free(struct store_request *r);

#endif
