/*
 * smtp_internal.h - declarations shared by the smtp_*.c files that make up
 * the session state machine (smtp_session.c: buffers, replies and states;
 * smtp_cmd.c: the command table; smtp_auth.c: AUTH; smtp_data.c: DATA),
 * among them struct smtp_session itself.  Not for use outside those files
 * (and their unit test, which drives the state machine from byte strings
 * and looks inside).
 */
#ifndef POSTERN_SMTP_INTERNAL_H
#define POSTERN_SMTP_INTERNAL_H

#include <stddef.h>

#include "daemon/smtp_session.h"

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

/* The Received: line is at most this long (with its CRLFs). */
#define SMTP_RECEIVED_MAX 1024
/* Room for the rules' add_header lines at DATA. */
#define SMTP_HEADERS_MAX 8192

struct smtp_tx {
	uint64_t id;
	struct addr sender;
	uint64_t declared_size;
	struct store_rcpt *rcpts;
	unsigned nrcpts;
	unsigned cap_rcpts;
	struct spool body;	/* the message as received, dot-unstuffed */
	char received[SMTP_RECEIVED_MAX];	/* our Received: line */
	size_t received_len;
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
	struct store_request *store;	/* SMTP_REQ_STORE: not taken yet */
	struct buf in;
	struct buf out;
	int skipping;		/* discarding an overlong line */
	size_t discarded;	/* plaintext dropped at STARTTLS */
	char close_reason[64];
	uint64_t msgs;		/* messages accepted in this session */
};

/* DATA defects, first one wins (reported at end of DATA). */
enum {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE_LF,
	SMTP_DATA_BARE_CR,
	SMTP_DATA_LONG_LINE,
	SMTP_DATA_NUL,
	SMTP_DATA_TOO_BIG,
	SMTP_DATA_IOERR,
};

void smtp_reply(struct smtp_session *s, int code, const char *ecode,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void smtp_reply_r(struct smtp_session *s, const struct smtp_reply *r);
void smtp_enter_state(struct smtp_session *s, enum smtp_state st);
void smtp_request(struct smtp_session *s, enum smtp_req req);
void smtp_close(struct smtp_session *s, const char *reason);
void smtp_tx_free(struct smtp_session *s);
/* Consults the check hook at a stage (SMTP_OK without one).  rcpt: the
 * candidate at RCPT; headers: where rule headers go at DATA.  *v is
 * cleared first, so v->reply.code 0 means "no reply from policy". */
enum smtp_result smtp_policy(struct smtp_session *s, enum smtp_stage stage,
    const struct addr *rcpt, struct buf *headers, struct smtp_verdict *v);
/* The AUTH_MECH_* set offered if the session were (tls 1) or were not
 * (tls 0) under TLS; 0 without an auth_mechs hook. */
unsigned smtp_auth_mechs(const struct smtp_session *s, int tls);
/* The Received: line for the current transaction (CRLF-terminated) into
 * dst (size n).  Returns its length or -1. */
int smtp_received(const struct smtp_session *s, const char *rcpt_hint,
    char *dst, size_t n);

/* smtp_cmd.c: one command line (no CRLF, NUL-terminated, len bytes). */
void smtp_cmd_line(struct smtp_session *s, char *line, size_t len);
/* smtp_auth.c */
void smtp_auth_cmd(struct smtp_session *s, char *arg);
void smtp_auth_line(struct smtp_session *s, char *line, size_t len);
unsigned smtp_auth_offered(const struct smtp_session *s);
int smtp_base64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outmax, size_t *outlen);
/* smtp_data.c: begin DATA (after the checks) and feed one raw line
 * including its line ending (len >= 1). */
void smtp_data_begin(struct smtp_session *s);
void smtp_data_line(struct smtp_session *s, const char *line, size_t len,
    int overlong);

#endif
