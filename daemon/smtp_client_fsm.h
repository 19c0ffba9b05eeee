/*
 * smtp_client_fsm.h - the SMTP client as a pure state machine (RFC 5321,
 * RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3207
 * STARTTLS), the client-side twin of smtp_session.h.
 *
 * It never calls read, write, poll or wolfSSL.  The driver
 * (smtp_client.c) loops: write smtpc_output(), then do what smtpc_req()
 * asks, and report back:
 *   SMTPC_REQ_READ   read reply bytes and smtpc_feed() them;
 *   SMTPC_REQ_TLS    shake hands (STARTTLS got its 220), then
 *                    smtpc_tls_done();
 *   SMTPC_REQ_BODY   send the message body dot-stuffed and ".", then
 *                    smtpc_body_sent();
 *   SMTPC_REQ_NONE   stop: the session is READY for a transaction, or
 *                    FAILED, or DONE.
 * A read or write failure or a timeout is reported with smtpc_io_failed().
 * cmocka drives it from reply byte strings (tests/unit/test_smtp_client.c).
 *
 * Promises: the TLS policy is decided here (REQUIRED without STARTTLS
 * offered, or with STARTTLS refused, fails the open with a 4xx before any
 * envelope; OPPORTUNISTIC continues in clear only when STARTTLS is not
 * offered or refused before any handshake; bytes after the 220 to
 * STARTTLS fail the session); replies are read through smtp_reply.h's
 * bounded reader; after a transaction every recipient has a result (the
 * reply that decided it, or a synthesized 4xx/5xx naming the peer);
 * output is bounded by SMTPC_OUT_MAX (one pipelined group at most
 * SMTPC_PIPE_GROUP commands).
 */
#ifndef POSTERN_SMTP_CLIENT_FSM_H
#define POSTERN_SMTP_CLIENT_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/buf.h"
#include "daemon/vocab.h"
#include "daemon/smtp_reply.h"

#define SMTPC_OUT_MAX 65536	/* one pipelined group or one body chunk */
#define SMTPC_PIPE_GROUP 100	/* RFC 2920 3.1: bound the unread replies */

#define SMTPC_EXT_PIPELINING	0x01u
#define SMTPC_EXT_SIZE		0x02u
#define SMTPC_EXT_8BITMIME	0x04u
#define SMTPC_EXT_STARTTLS	0x08u
#define SMTPC_EXT_ENHANCED	0x10u

enum smtpc_state {
	SMTPC_GREETING,		/* waiting for the 220 */
	SMTPC_EHLO,		/* EHLO sent (again after TLS) */
	SMTPC_HELO,		/* EHLO got a 5xx: HELO sent */
	SMTPC_STARTTLS,		/* STARTTLS sent */
	SMTPC_TLS,		/* 220 to STARTTLS: the driver shakes hands */
	SMTPC_READY,		/* open, no transaction */
	SMTPC_MAIL,		/* waiting for the reply to MAIL */
	SMTPC_RCPT,		/* waiting for the reply to a RCPT */
	SMTPC_DATA,		/* waiting for the reply to DATA */
	SMTPC_BODY,		/* 354: the driver sends the body and "." */
	SMTPC_DOT,		/* waiting for the reply to "." */
	SMTPC_RSET,		/* RSET sent after a transaction that failed */
	SMTPC_QUIT,		/* QUIT sent */
	SMTPC_DONE,		/* closed */
	SMTPC_FAILED,		/* open or transaction failed (see fail /
				 * results); QUIT only when not broken */
};

enum smtpc_req {
	SMTPC_REQ_NONE,
	SMTPC_REQ_READ,
	SMTPC_REQ_TLS,
	SMTPC_REQ_BODY,
};

struct smtpc;

/* A session about to read the greeting.  peer ("host[addr]:port") names
 * the server in texts; tls_up: implicit TLS is already established. */
struct smtpc *smtpc_new(const char *helo, const char *peer,
    enum relay_tls mode, int tls_up);
void smtpc_free(struct smtpc *c);

enum smtpc_state smtpc_state(const struct smtpc *c);
enum smtpc_req smtpc_req(const struct smtpc *c);
/* Bytes to write before doing what smtpc_req() asks; the driver empties
 * it (and uses it for body chunks in SMTPC_REQ_BODY). */
struct buf *smtpc_output(struct smtpc *c);
/* Completed replies so far (the driver renews its deadline per reply). */
unsigned smtpc_nreplies(const struct smtpc *c);
/* Why the open failed (valid in SMTPC_FAILED before READY was reached). */
const struct smtp_client_reply *smtpc_fail(const struct smtpc *c);
/* 1 when no more commands may be sent (I/O failure, 421, TLS failure). */
int smtpc_broken(const struct smtpc *c);
/* EXT_* of the last EHLO, and its SIZE value (0 = none). */
unsigned smtpc_ext(const struct smtpc *c);
uint64_t smtpc_size_max(const struct smtpc *c);

/* Received bytes, in any pieces. */
void smtpc_feed(struct smtpc *c, const void *p, size_t n);
/* A read/write failure or timeout; writing: it happened while writing. */
void smtpc_io_failed(struct smtpc *c, const char *err, int writing);
/* The handshake asked by SMTPC_REQ_TLS: fail NULL on success, else the
 * reply saying why (the session is then broken). */
void smtpc_tls_done(struct smtpc *c, const struct smtp_client_reply *fail);
/* The body and its "." were written. */
void smtpc_body_sent(struct smtpc *c);

/* Starts a transaction (READY only; otherwise every recipient gets a
 * 451 "session not usable").  sender, rcpts, body and results must stay
 * valid until the transaction ends (state READY or FAILED). */
void smtpc_begin(struct smtpc *c, const char *sender,
    const char *const *rcpts, size_t nrcpts, const uint8_t *body,
    size_t len, struct smtp_client_reply *results);
/* After the transaction: 0 when the session is still usable, -1 not. */
int smtpc_tx_result(const struct smtpc *c);
/* After the transaction: 1 when the final "." was sent and the connection
 * was lost before its reply (the server may have accepted the message). */
int smtpc_outcome_unknown(const struct smtpc *c);

/* QUIT when the session was greeted and is not broken; else DONE. */
void smtpc_quit(struct smtpc *c);

const char *smtpc_state_name(enum smtpc_state s);

#endif
