/*
 * smtp_reply.c - SMTP reply parsing for the client.  See smtp_reply.h.
 *
 * Lines end at LF (a CR before it is dropped; a bare LF is accepted).
 * Bounds: SMTP_REPLY_LINE_MAX per line, SMTP_REPLY_LINES_MAX per reply,
 * SMTP_REPLY_IN_MAX buffered; texts are truncated to the struct with a
 * "..." marker and made printable as they are copied.
 */
#include "daemon/smtp_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"

/* ---------------------------------------------------------------- texts */

/* Safety: every text we hand back is printable ASCII. */
void
smtp_text_printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

void
smtp_reply_set(struct smtp_client_reply *r, int code, const char *ecode,
    const char *fmt, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->code = code;
	str_copy(r->ecode, ecode != NULL ? ecode : "", sizeof(r->ecode));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	smtp_text_printable(r->text);
}

/* ---------------------------------------------------------- reply parser */

/*
 * Appends n bytes of s to r->text, made printable.  When the text is full
 * it ends in "..."; further appends change nothing.
 */
static void
text_add(struct smtp_client_reply *r, const char *s, size_t n)
{
	size_t cap = sizeof(r->text) - 1;
	size_t pos = strnlen(r->text, cap);
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (pos == cap) {
			memcpy(r->text + cap - 3, "...", 3);
			break;
		}
		r->text[pos++] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
	}
	r->text[pos] = '\0';
}

/*
 * RFC 3463 code at the start of s (n bytes): class "." 1*3digit "."
 * 1*3digit, then end or SP, class equal to the reply's first digit.
 * Returns its length, or 0.
 */
static size_t
ecode_len(const char *s, size_t n, int code)
{
	size_t i = 0, k;
	int part;

	if (n < 5 || code / 100 == 3 || s[0] - '0' != code / 100 ||
	    s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (k = 0; k < 3 && i < n && s[i] >= '0' && s[i] <= '9'; k++)
			i++;
		if (k == 0)
			return 0;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && s[i] != ' ')
		return 0;
	return i;
}

int
smtp_client_parse_line(const char *line, size_t len,
    struct smtp_client_reply *r)
{
	const char *text;
	size_t tlen, el;
	int code, last;

	/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39. */
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || line[2] < '0' || line[2] > '9')
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3)
		last = 1;	/* "250" alone ends a reply (4.2) */
	else if (line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else
		return -1;
	if (r->code != 0 && r->code != code)
		return -1;	/* 4.2.1: every line carries the same code */
	text = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	el = ecode_len(text, tlen, code);
	if (r->code == 0) {
		r->code = code;
		r->ecode[0] = '\0';
		r->text[0] = '\0';
		if (el > 0 && el < sizeof(r->ecode)) {
			memcpy(r->ecode, text, el);
			r->ecode[el] = '\0';
		}
	}
	/* RFC 2034: each line repeats the code; show it once. */
	if (el > 0 && strlen(r->ecode) == el &&
	    memcmp(r->ecode, text, el) == 0) {
		text += el;
		tlen -= el;
		if (tlen > 0 && *text == ' ') {
			text++;
			tlen--;
		}
	}
	if (tlen > 0) {
		if (r->text[0] != '\0')
			text_add(r, " / ", 3);
		text_add(r, text, tlen);
	}
	return last;
}

/* --------------------------------------------------------------- reader */

void
smtp_reply_reader_init(struct smtp_reply_reader *rd)
{
	memset(rd, 0, sizeof(*rd));
	buf_init(&rd->in, SMTP_REPLY_IN_MAX);
}

void
smtp_reply_reader_free(struct smtp_reply_reader *rd)
{
	buf_free(&rd->in);
}

size_t
smtp_reply_reader_room(const struct smtp_reply_reader *rd)
{
	return SMTP_REPLY_IN_MAX - buf_unread(&rd->in);
}

int
smtp_reply_reader_add(struct smtp_reply_reader *rd, const void *p, size_t n)
{
	buf_compact(&rd->in);
	return buf_append(&rd->in, p, n);
}

size_t
smtp_reply_reader_pending(const struct smtp_reply_reader *rd)
{
	return buf_unread(&rd->in);
}

int
smtp_reply_reader_next(struct smtp_reply_reader *rd,
    struct smtp_client_reply *out,
    void (*line_fn)(void *arg, const char *s, size_t n), void *arg,
    char *err, size_t errlen)
{
	char esc[80];
	const uint8_t *d, *nl;
	const char *line;
	size_t n, len, used;
	int pr;

	for (;;) {
		n = buf_unread(&rd->in);
		d = buf_data(&rd->in);
		nl = n > 0 ? memchr(d, '\n', n) : NULL;
		if (nl == NULL) {
			if (n < SMTP_REPLY_LINE_MAX)
				return 0;
			len = n;
		} else
			len = (size_t)(nl - d);
		if (len >= SMTP_REPLY_LINE_MAX) {
			snprintf(err, errlen, "reply line longer than %d bytes",
			    SMTP_REPLY_LINE_MAX);
			return -1;
		}
		line = (const char *)d;
		used = len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		pr = smtp_client_parse_line(line, len, &rd->r);
		if (pr == -1) {
			snprintf(err, errlen, "malformed reply line \"%s\"",
			    log_escape(esc, sizeof(esc), line, len));
			buf_consume(&rd->in, used);
			return -1;
		}
		if (line_fn != NULL && rd->nlines > 0 && len > 4)
			line_fn(arg, line + 4, len - 4);
		/* Only now: consuming the last byte rewrites data[0]. */
		buf_consume(&rd->in, used);
		rd->nlines++;
		if (pr == 1) {
			*out = rd->r;
			memset(&rd->r, 0, sizeof(rd->r));
			rd->nlines = 0;
			return 1;
		}
		if (rd->nlines >= SMTP_REPLY_LINES_MAX) {
			snprintf(err, errlen, "reply longer than %d lines",
			    SMTP_REPLY_LINES_MAX);
			return -1;
		}
	}
}
