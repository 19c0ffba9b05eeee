/*
 * dsn.c - delivery status notifications.  See dsn.h.
 *
 * The human-readable part says what happened in plain words; the
 * machine-readable part follows RFC 3464 (Reporting-MTA, Arrival-Date, then
 * per recipient Final-Recipient, Action: failed, Status, Remote-MTA,
 * Diagnostic-Code).  Header lines copied from the original are passed
 * through unchanged up to the blank line that ends the header section.
 */
#include "daemon/dsn.h"

#include <stdio.h>
#include <string.h>

#define DSN_MAX_HEADERS (64 * 1024)

static void
rfc5322_date(time_t t, char *out, size_t n)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Length of the original header section including its final blank line. */
static size_t
header_len(const uint8_t *m, size_t len)
{
	size_t i;

	for (i = 0; i + 3 < len; i++)
		if (m[i] == '\r' && m[i + 1] == '\n' && m[i + 2] == '\r' &&
		    m[i + 3] == '\n')
			return i + 2;
	return len;
}

int
dsn_build(const struct dsn_params *p, struct buf *out)
{
	char date[64], arr[64], boundary[80];
	size_t i, hl;
	int r = 0;

	if (p->sender == NULL || p->sender[0] == '\0')
		return -1;
	rfc5322_date(p->now, date, sizeof(date));
	rfc5322_date(p->arrival, arr, sizeof(arr));
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", p->queue_id,
	    (long long)p->now, p->reporting_mta);
	r |= buf_printf(out, "From: Mail Delivery System <%s@%s>\r\n",
	    p->from_name, p->reporting_mta);
	r |= buf_printf(out, "To: <%s>\r\n", p->sender);
	r |= buf_printf(out, "Subject: Undelivered Mail Returned to Sender\r\n");
	r |= buf_printf(out, "Date: %s\r\n", date);
	r |= buf_printf(out, "Message-ID: <%s.%lld.dsn@%s>\r\n", p->queue_id,
	    (long long)p->now, p->reporting_mta);
	r |= buf_printf(out, "Auto-Submitted: auto-replied\r\n");
	r |= buf_printf(out, "MIME-Version: 1.0\r\n");
	r |= buf_printf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary);
	r |= buf_printf(out, "This is a MIME-encapsulated message.\r\n\r\n");
	r |= buf_printf(out, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	r |= buf_printf(out, "This is the mail system at host %s.\r\n\r\n"
	    "I'm sorry to have to inform you that your message could not\r\n"
	    "be delivered to one or more recipients.\r\n\r\n",
	    p->reporting_mta);
	for (i = 0; i < p->nrcpts; i++)
		r |= buf_printf(out, "<%s>: %s\r\n", p->rcpts[i].address,
		    p->rcpts[i].diagnostic);
	r |= buf_printf(out, "\r\n--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary);
	r |= buf_printf(out, "Reporting-MTA: dns; %s\r\nX-Postern-Queue-ID: %s\r\n"
	    "Arrival-Date: %s\r\n", p->reporting_mta, p->queue_id, arr);
	for (i = 0; i < p->nrcpts; i++) {
		const struct dsn_rcpt *d = &p->rcpts[i];

		r |= buf_printf(out, "\r\nFinal-Recipient: rfc822; %s\r\n"
		    "Action: failed\r\nStatus: %s\r\n", d->address, d->status);
		if (d->remote_mta != NULL && d->remote_mta[0] != '\0')
			r |= buf_printf(out, "Remote-MTA: dns; %s\r\n",
			    d->remote_mta);
		r |= buf_printf(out, "Diagnostic-Code: smtp; %s\r\n",
		    d->diagnostic);
	}
	r |= buf_printf(out, "\r\n--%s\r\nContent-Description: Undelivered "
	    "Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n",
	    boundary);
	hl = header_len(p->original, p->original_len);
	if (hl > DSN_MAX_HEADERS)
		hl = DSN_MAX_HEADERS;
	r |= buf_append(out, p->original, hl);
	if (hl < 2 || p->original[hl - 1] != '\n')
		r |= buf_append(out, "\r\n", 2);
	r |= buf_printf(out, "\r\n--%s--\r\n", boundary);
	return r == 0 ? 0 : -1;
}
