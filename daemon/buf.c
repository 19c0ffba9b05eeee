/*
 * buf.c - bounded byte buffer.  See buf.h for the invariants.
 *
 * Growth doubles capacity (at least 256 bytes) but never beyond max; the
 * overflow check comes before any arithmetic that could wrap (Postfix
 * vstring_extend).  Safety: data[len] = 0 after every change, so a buffer
 * holding text can be read as a C string by code that already checked len.
 */
#include "daemon/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"

#define BUF_KEEP 4096

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

static int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;

	/* The limit is on unread bytes: consumed ones are reclaimed first. */
	if (extra > b->max || buf_unread(b) > b->max - extra)
		return -1;
	if (b->off > 0 && b->len + extra > b->cap)
		buf_compact(b);
	need = b->len + extra;
	if (need <= b->cap && b->data != NULL)
		return 0;
	ncap = b->cap < 256 ? 256 : b->cap;
	while (ncap < need)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	b->data = xrealloc(b->data, ncap + 1);
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	return buf_append(b, tmp, (size_t)n);
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > buf_unread(b))
		n = buf_unread(b);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
	if (b->cap > BUF_KEEP)
		buf_free(b);
	else if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_compact(struct buf *b)
{
	size_t n = buf_unread(b);

	if (n == 0) {
		buf_reset(b);
		if (b->data != NULL && b->cap > 0) {
			/* Idle sessions hold no buffer memory. */
			buf_free(b);
		}
		return;
	}
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, n);
		b->off = 0;
		b->len = n;
		b->data[n] = '\0';
	}
}
