/*
 * dsn.h - builds delivery status notifications (RFC 3464 inside an RFC
 * 6522 multipart/report), pure: no I/O.
 *
 * One DSN reports every failed recipient of one message, so a message
 * with several failed recipients produces one bounce.  The third part is
 * text/rfc822-headers: the original message's header section (up to 64
 * KiB), not the body.  Callers must never bounce a message with a null
 * sender (RFC 5321 6.1; that is how bounce loops are avoided) - dsn_build
 * refuses it.
 */
#ifndef POSTERN_DSN_H
#define POSTERN_DSN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "daemon/buf.h"

struct dsn_rcpt {
	const char *address;
	const char *status;		/* "5.1.1" */
	const char *diagnostic;		/* remote reply or our reason */
	const char *remote_mta;		/* host name or NULL */
};

struct dsn_params {
	const char *reporting_mta;	/* our host name */
	const char *from_name;		/* "MAILER-DAEMON" */
	const char *queue_id;
	const char *sender;		/* original envelope sender (not "") */
	time_t arrival;
	time_t now;
	const uint8_t *original;	/* the stored original message */
	size_t original_len;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
};

/* Appends the whole DSN message (CRLF lines) to out (whose max bounds
 * it).  Returns 0, or -1 when the sender is null or out is too small. */
int dsn_build(const struct dsn_params *p, struct buf *out);

#endif
