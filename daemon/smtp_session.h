/*
 * smtp_session.h - the SMTP server session as a pure state machine.
 *
 * The session is fed bytes (smtp_session_feed) and produces reply bytes in
 * its output buffer plus at most one outstanding request for the I/O layer:
 *   SMTP_REQ_STARTTLS  flush output, start the TLS handshake, then call
 *                      smtp_session_tls_started();
 *   SMTP_REQ_AUTH      verify smtp_session_auth_user/_pass, then
 *                      smtp_session_resume_auth();
 *   SMTP_REQ_STORE     take the store request (smtp_session_take_store),
 *                      commit it durably, then smtp_session_resume_store();
 *   SMTP_REQ_CLOSE     flush output and close the connection.
 * It never calls read, write, wolfSSL or libpq, so cmocka drives whole
 * dialogues from byte strings and real clients drive the same code.
 *
 * Protocol: RFC 5321 (ESMTP), RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 2034/3463 ENHANCEDSTATUSCODES, RFC 3207 STARTTLS, RFC 4954
 * AUTH with PLAIN (RFC 4616) and LOGIN.  VRFY answers 252 and discloses
 * nothing.
 *
 * The session is opaque (struct smtp_session is private to smtp_*.c, see
 * smtp_internal.h); everything outside talks to it through the functions
 * below.  At end of DATA it builds a store request (store_request.h): a
 * value holding everything the store needs, which changes hands, so the
 * committer never reads a session another thread owns.
 *
 * Invariants: a transaction exists iff MAIL was accepted and not yet ended
 * by RSET, EHLO/HELO, STARTTLS or the reply to DATA.  While a request
 * is outstanding no input is processed.  Output is bounded: input
 * processing pauses while the output buffer holds more than
 * SMTP_OUT_HIGH bytes (a client that pipelines without reading replies is
 * throttled, not buffered without limit).  Input is bounded by the I/O
 * layer calling smtp_session_wants_input() before reading.
 *
 * Ownership: the session owns its buffers, its transaction and the spool
 * until the store request is taken; the I/O layer owns the socket, the TLS
 * object and the session pointer.
 * One thread at a time.
 */
#ifndef POSTERN_SMTP_SESSION_H
#define POSTERN_SMTP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/addr.h"
#include "daemon/buf.h"
#include "daemon/store_request.h"
#include "daemon/vocab.h"

/* RFC 5321 4.5.3.1.4: command line 512 octets incl. CRLF; RFC 4954 4:
 * AUTH lines up to 12288 octets. */
#define SMTP_CMD_MAX 512
#define SMTP_AUTH_LINE_MAX 12288
/* RFC 5321 4.5.3.1.6: text line 1000 octets incl. CRLF. */
#define SMTP_DATA_LINE_MAX 1000
#define SMTP_IN_MAX (64 * 1024)
#define SMTP_OUT_HIGH (32 * 1024)
#define SMTP_OUT_MAX (256 * 1024)

enum smtp_req {
	SMTP_REQ_NONE,
	SMTP_REQ_STARTTLS,
	SMTP_REQ_AUTH,
	SMTP_REQ_STORE,
	SMTP_REQ_CLOSE,
};

/* Three-valued outcome for anything that consults the world (rule 11). */
enum smtp_result { SMTP_OK, SMTP_PERMFAIL, SMTP_TEMPFAIL };

struct smtp_reply {
	int code;		/* 250, 550 ... */
	char ecode[16];		/* "2.1.5" */
	char text[512];
};

/* Session parameters: plain data copied from the configuration snapshot
 * and the listener at connect time. */
struct smtp_params {
	char hostname[256];
	char listener[65];
	int listener_port;
	int implicit_tls;	/* listener is SMTPS */
	int starttls_offer;	/* plain listener may offer STARTTLS */
	int submission;		/* listener role submission: MAIL needs AUTH */
	uint64_t max_size;
	unsigned max_rcpts;
	unsigned max_errors;
	unsigned max_auth_failures;
};

struct smtp_session;

/* SMTP stages at which policy is consulted. */
enum smtp_stage {
	SMTP_STAGE_CONNECT, SMTP_STAGE_EHLO, SMTP_STAGE_MAIL, SMTP_STAGE_RCPT,
	SMTP_STAGE_DATA,
};

/* What policy may know about a session at a stage: a read-only view the
 * session builds for each hook call (valid during that call only).  The
 * same view is built by `posternd --explain` from its command line, so
 * both go through the same policy. */
struct smtp_facts {
	int tls;		/* TLS active (or, for auth_mechs, assumed) */
	const char *client_addr;	/* "192.0.2.1", "2001:db8::1" */
	const char *listener;
	int listener_port;
	int submission;		/* the listener's role is submission */
	const char *auth_user;	/* "" = not authenticated */
	const char *helo;	/* "" before HELO/EHLO */
	const struct addr *sender;	/* MAIL and later; NULL before */
	const struct addr *rcpt;	/* RCPT: the candidate recipient */
	const struct store_rcpt *rcpts;	/* DATA: every accepted recipient */
	size_t nrcpts;
	uint64_t size;		/* DATA: the message with our Received: */
};

/* What policy decided, beyond accept/refuse. */
struct smtp_verdict {
	struct smtp_reply reply;	/* code 0: the session's default */
	struct route route;	/* RCPT: stored with the recipient */
	/* RCPT: when non-NULL, the recipients to store instead of the one the
	 * client gave (alias expansion), each with its route; allocated by
	 * the hook with malloc, freed by the session. */
	struct store_rcpt *targets;
	size_t ntargets;
	struct buf *headers;	/* DATA: header lines (CRLF-ended) to add */
};

/* Hooks into policy (pure functions over the config snapshot in the
 * daemon; fakes in unit tests).  All may be NULL: then everything
 * syntactically valid is accepted and AUTH is not offered. */
struct smtp_hooks {
	void *arg;
	/* Policy at a stage.  Returns SMTP_OK to go on (at RCPT a non-zero
	 * v->reply.code replaces the default 250), or SMTP_PERMFAIL /
	 * SMTP_TEMPFAIL with the reply in v->reply (code 0: a default). */
	enum smtp_result (*check)(void *arg, enum smtp_stage stage,
	    const struct smtp_facts *f, struct smtp_verdict *v);
	/* AUTH_MECH_* mechanisms offered to this session if it were (tls=1)
	 * or were not (tls=0) under TLS. */
	unsigned (*auth_mechs)(void *arg, const struct smtp_facts *f, int tls);
	/* A new queue id (64 bits, unique cluster-wide). */
	uint64_t (*new_id)(void *arg);
	/* At each MAIL of an authenticated session: 1 while user may still
	 * act as authenticated (the account is enabled and its password
	 * unchanged since the AUTH), 0 to drop the authentication (logged;
	 * the transaction goes on unauthenticated, so relaying needs another
	 * AUTH).  Called with auth_arg.  NULL: always 1. */
	int (*auth_current)(void *auth_arg, const char *user);
	void *auth_arg;
};

/* Create a session for a connection from client_addr ("1.2.3.4" or
 * "[::1]"-less text).  Never NULL. */
struct smtp_session *smtp_session_new(const struct smtp_params *p,
    const struct smtp_hooks *h, uint64_t id, const char *client_addr,
    int implicit_tls_done);
void smtp_session_free(struct smtp_session *s);

/* Emit the 220 greeting (or 421 when refuse_text is non-NULL, then close). */
void smtp_session_start(struct smtp_session *s, const char *refuse_text);
/* Append input bytes and process as much as possible.  Returns 0, or -1
 * when the input buffer is full (caller should not read more; never happens
 * if it checks smtp_session_wants_input first). */
int smtp_session_feed(struct smtp_session *s, const void *p, size_t n);
/* Re-run processing of buffered input (after output drained). */
void smtp_session_process(struct smtp_session *s);
/* 1 if the I/O layer may read and feed more input. */
int smtp_session_wants_input(const struct smtp_session *s);

/* Results of requests. */
void smtp_session_tls_started(struct smtp_session *s, const char *version,
    const char *cipher);
void smtp_session_resume_auth(struct smtp_session *s, enum smtp_result r);
/* AUTH refused before any password check (too many recent failures from
 * this address across the cluster): 454 4.7.0. */
void smtp_session_resume_auth_throttled(struct smtp_session *s);
void smtp_session_resume_store(struct smtp_session *s, enum smtp_result r,
    const char *detail);
/* Timeouts and shutdown: emit 421 and request close. */
void smtp_session_timeout(struct smtp_session *s);
void smtp_session_shutdown(struct smtp_session *s);
/* settings.session_max_lifetime reached: 421 4.4.2, then close. */
void smtp_session_lifetime_over(struct smtp_session *s);
/* The client sent before the 220 (or while the greeting was paused):
 * 554 5.5.1, then close.  Called instead of smtp_session_start(). */
void smtp_session_early_talker(struct smtp_session *s);
/* 1 while part of a line is buffered (or an overlong one is being
 * skipped): the command deadline is not extended then. */
int smtp_session_line_pending(const struct smtp_session *s);

/* The outstanding request (SMTP_REQ_NONE when there is none). */
enum smtp_req smtp_session_request(const struct smtp_session *s);
/* SMTP_REQ_STORE: hands over the message (the caller owns it, frees it
 * with store_request_free()).  NULL when there is none (taken already). */
struct store_request *smtp_session_take_store(struct smtp_session *s);
/* SMTP_REQ_AUTH: the credentials to verify (valid until the resume). */
const char *smtp_session_auth_user(const struct smtp_session *s);
const char *smtp_session_auth_pass(const struct smtp_session *s);
/* AUTH failures so far in this session. */
unsigned smtp_session_auth_failures(const struct smtp_session *s);
/* SMTP_REQ_CLOSE: why ("quit", "timeout", ...). */
const char *smtp_session_close_reason(const struct smtp_session *s);

/* Pending reply bytes: a pointer to them and their count; then how many
 * were written.  The pointer is valid until the next session call. */
const void *smtp_session_output(const struct smtp_session *s, size_t *len);
void smtp_session_output_done(struct smtp_session *s, size_t n);
/* Bytes of input buffered and not yet processed. */
size_t smtp_session_input_held(const struct smtp_session *s);

uint64_t smtp_session_id(const struct smtp_session *s);
/* 1 while reading message text (DATA timeout applies). */
int smtp_session_in_data(const struct smtp_session *s);
/* 1 once closing (no more input is processed). */
int smtp_session_closing(const struct smtp_session *s);
/* Messages accepted (250 after DATA) in this session. */
uint64_t smtp_session_messages(const struct smtp_session *s);


#endif
