/*
 * smtp_reply.h - SMTP replies as the client reads them (RFC 5321 4.2,
 * RFC 2034/3463 enhanced status codes): the line parser and a bounded
 * reader that cuts a byte stream into complete replies.
 *
 * Pure: no I/O.  Promises: every text in a struct smtp_client_reply is
 * printable ASCII and NUL-terminated (safe to log and to put into a DSN);
 * the reader never holds more than SMTP_REPLY_IN_MAX bytes, refuses a line
 * longer than SMTP_REPLY_LINE_MAX and a reply of more than
 * SMTP_REPLY_LINES_MAX lines, and a line whose code is malformed, each as
 * a protocol error with a text saying which.
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/buf.h"

#define SMTP_REPLY_LINE_MAX 8192	/* RFC 5321 4.5.3.1.5 says 512 */
#define SMTP_REPLY_LINES_MAX 100	/* an EHLO reply has a dozen */
#define SMTP_REPLY_IN_MAX (SMTP_REPLY_LINE_MAX + 4096)

struct smtp_client_reply {
	int code;		/* never 0 once filled: a failure with no
				 * server reply (connection lost, timeout,
				 * TLS policy) is a synthesized 4xx whose
				 * text says what happened */
	char ecode[16];		/* "" when the server gave none */
	char text[512];		/* the reply text, lines joined by " / " */
};

/* Feeds one line (without CRLF).  Returns 1 when the reply is complete
 * (last line "ddd "), 0 when more lines follow ("ddd-"), -1 on a
 * malformed line.  r accumulates (start from a zeroed r). */
int smtp_client_parse_line(const char *line, size_t len,
    struct smtp_client_reply *r);

/* Fills r with a synthesized reply; the text is made printable. */
void smtp_reply_set(struct smtp_client_reply *r, int code, const char *ecode,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Replaces every byte outside printable ASCII with '?'. */
void smtp_text_printable(char *s);

/* Cuts received bytes into replies. */
struct smtp_reply_reader {
	struct buf in;			/* received, not yet parsed */
	struct smtp_client_reply r;	/* the reply being assembled */
	int nlines;			/* lines of r so far */
};

void smtp_reply_reader_init(struct smtp_reply_reader *rd);
void smtp_reply_reader_free(struct smtp_reply_reader *rd);
/* Room for more input right now. */
size_t smtp_reply_reader_room(const struct smtp_reply_reader *rd);
/* Appends bytes.  0, or -1 when they do not fit (nothing appended). */
int smtp_reply_reader_add(struct smtp_reply_reader *rd, const void *p,
    size_t n);
/* Bytes received and not yet parsed. */
size_t smtp_reply_reader_pending(const struct smtp_reply_reader *rd);

/*
 * The next complete reply.  Returns 1 with *out filled, 0 when more bytes
 * are needed, -1 on a protocol error (err filled: malformed line, line too
 * long, too many lines).  line_fn, when not NULL, sees every line after
 * the first of the reply (EHLO keywords), text after "ddd-".
 */
int smtp_reply_reader_next(struct smtp_reply_reader *rd,
    struct smtp_client_reply *out,
    void (*line_fn)(void *arg, const char *s, size_t n), void *arg,
    char *err, size_t errlen);

#endif
