/*
 * smtp_session.h - the SMTP server session as a pure state machine.
 *
 * The session is fed bytes (smtp_session_feed) and produces reply bytes in
 * its output buffer plus at most one outstanding request for the I/O layer:
 *   SMTP_REQ_STARTTLS  flush output, start the TLS handshake, then call
 *                      smtp_session_tls_started();
 *   SMTP_REQ_AUTH      verify req_user/req_pass, then
 *                      smtp_session_resume_auth();
 *   SMTP_REQ_STORE     commit the transaction (s->tx) durably, then
 *                      smtp_session_resume_store();
 *   SMTP_REQ_CLOSE     flush output and close the connection.
 * It never calls read, write, wolfSSL or libpq, so cmocka drives whole
 * dialogues from byte strings and real clients drive the same code.
 *
 * Protocol: RFC 5321 (ESMTP), RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 2034/3463 ENHANCEDSTATUSCODES, RFC 3207 STARTTLS, RFC 4954
 * AUTH with PLAIN (RFC 4616) and LOGIN.  VRFY answers 252 and discloses
 * nothing.
 *
 * Invariants: a transaction (s->tx) exists iff MAIL was accepted and not
 * yet ended by RSET, EHLO/HELO, STARTTLS or end of DATA.  While a request
 * is outstanding no input is processed.  Output is bounded: input
 * processing pauses while the output buffer holds more than
 * SMTP_OUT_HIGH bytes (a client that pipelines without reading replies is
 * throttled, not buffered without limit).  Input is bounded by the I/O
 * layer calling smtp_session_wants_input() before reading.
 *
 * Ownership: the session owns its buffers, its transaction and the spool;
 * the I/O layer owns the socket, the TLS object and the session pointer.
 * One thread at a time.
 */
#ifndef POSTERN_SMTP_SESSION_H
#define POSTERN_SMTP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/addr.h"
#include "daemon/buf.h"
#include "daemon/spool.h"

/* RFC 5321 4.5.3.1.4: command line 512 octets incl. CRLF; RFC 4954 4:
 * AUTH lines up to 12288 octets. */
#define SMTP_CMD_MAX 512
#define SMTP_AUTH_LINE_MAX 12288
/* RFC 5321 4.5.3.1.6: text line 1000 octets incl. CRLF. */
#define SMTP_DATA_LINE_MAX 1000
#define SMTP_IN_MAX (64 * 1024)
#define SMTP_OUT_HIGH (32 * 1024)
#define SMTP_OUT_MAX (256 * 1024)

#define SMTP_AUTH_PLAIN 0x1u
#define SMTP_AUTH_LOGIN 0x2u

enum smtp_state {
	SMTP_S_GREETING,	/* before smtp_session_start */
	SMTP_S_CMD,		/* reading commands */
	SMTP_S_AUTH_PLAIN,	/* waiting for the PLAIN response line */
	SMTP_S_AUTH_LOGIN_USER,
	SMTP_S_AUTH_LOGIN_PASS,
	SMTP_S_DATA,		/* reading message lines */
	SMTP_S_WAIT,		/* a request is outstanding */
	SMTP_S_CLOSED,		/* closing: no more input */
};

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

/* The route chosen for a recipient at RCPT (stored with it in the queue).
 * tls: 0 = unset, else enum relay_tls of rules.h; versions: RULES_TLS*. */
struct smtp_route {
	char host[256];		/* "" = MX lookup */
	int port;
	int tls;
	int verify;		/* 0 unset, 1 no, 2 yes */
	unsigned versions;
};

struct smtp_rcpt {
	struct addr addr;
	struct smtp_route route;
};

/* Hooks into policy (pure functions over the config snapshot in the
 * daemon; fakes in unit tests).  All may be NULL: then everything
 * syntactically valid is accepted and AUTH is not offered. */
struct smtp_hooks {
	void *arg;
	/* Policy at a stage.  At RCPT, rcpt is the candidate and the hook may
	 * fill rcpt->route; at DATA it may append header lines (CRLF-ended)
	 * to s->tx->headers.  Returns SMTP_OK to go on (at RCPT a non-zero
	 * r->code replaces the default 250), or SMTP_PERMFAIL/SMTP_TEMPFAIL
	 * with the reply in *r (code 0: a default reply). */
	enum smtp_result (*check)(void *arg, struct smtp_session *s,
	    enum smtp_stage stage, struct smtp_rcpt *rcpt, struct smtp_reply *r);
	/* SMTP_AUTH_* mechanisms offered to this session if it were (tls=1)
	 * or were not (tls=0) under TLS. */
	unsigned (*auth_mechs)(void *arg, const struct smtp_session *s, int tls);
	/* A new queue id (64 bits, unique cluster-wide). */
	uint64_t (*new_id)(void *arg);
};

struct smtp_tx {
	uint64_t id;
	struct addr sender;
	uint64_t declared_size;
	struct smtp_rcpt *rcpts;
	unsigned nrcpts;
	unsigned cap_rcpts;
	struct spool body;
	struct buf headers;	/* added by policy at DATA, before Received */
	/* DATA parser state */
	int at_bol;		/* the previous line ended in CRLF */
	int bad;		/* first defect seen: SMTP_DATA_* */
	uint64_t raw_size;
};

struct smtp_session {
	enum smtp_state state;
	enum smtp_req req;
	struct smtp_params p;
	struct smtp_hooks h;
	uint64_t id;		/* session id for logs */
	char client_addr[64];
	char helo[256];		/* "" until HELO/EHLO */
	int esmtp;
	int tls;		/* TLS active (implicit or after STARTTLS) */
	char tls_version[32];
	char tls_cipher[96];
	char auth_user[ADDR_MAX + 1];	/* "" = not authenticated */
	unsigned errors;
	unsigned auth_failures;
	unsigned auth_mech;	/* during AUTH */
	char req_user[ADDR_MAX + 1];	/* SMTP_REQ_AUTH arguments */
	char req_pass[512];
	struct smtp_tx *tx;
	struct buf in;
	struct buf out;
	int skipping;		/* discarding an overlong line */
	size_t discarded;	/* plaintext dropped at STARTTLS */
	char close_reason[64];
	uint64_t msgs;		/* messages accepted in this session */
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

/* Queue id as shown to users: 16 upper-case hex digits. */
void smtp_queue_id(uint64_t id, char out[17]);
/* The Received: header for the current tx (CRLF-terminated), for the
 * store path; written into dst (size n).  Returns length or -1. */
int smtp_session_received(const struct smtp_session *s, const char *rcpt_hint,
    char *dst, size_t n);

#endif
