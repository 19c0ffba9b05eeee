/*
 * smtp_internal.h - declarations shared by the smtp_*.c files that make up
 * the session state machine (smtp_session.c: buffers, replies and states;
 * smtp_cmd.c: the command table; smtp_auth.c: AUTH; smtp_data.c: DATA).
 * Not for use outside those files.
 */
#ifndef POSTERN_SMTP_INTERNAL_H
#define POSTERN_SMTP_INTERNAL_H

#include <stddef.h>

#include "daemon/smtp_session.h"

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
