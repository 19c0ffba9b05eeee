/*
 * buf.h - the one byte buffer type (docs/style.md rule 15).
 *
 * A struct buf holds data[off .. len) as unread bytes with a hard maximum
 * size max.  Invariants: off <= len <= cap <= max (cap may be 0 with data
 * NULL); data[len] is always a NUL once data is allocated (safety
 * terminator, not counted in len).  Appending past max fails and leaves the
 * buffer unchanged; size arithmetic is checked before growing.  Consuming
 * advances off; buf_compact() moves the unread bytes to the front once per
 * batch, and releases the memory when the buffer is empty and large, so an
 * idle session holds no buffer memory.
 *
 * Pointers returned by buf_data() are valid until the next call that may
 * grow or compact the buffer.  A buf is owned by one thread at a time.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off;	/* first unread byte */
	size_t len;	/* end of data */
	size_t cap;	/* allocated bytes, excluding the NUL terminator */
	size_t max;	/* hard limit on len */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Appends n bytes.  Returns 0, or -1 if len would pass max (unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);
/* Appends a formatted string.  Returns 0 or -1 (too long; unchanged). */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Unread bytes. */
static inline size_t buf_unread(const struct buf *b) { return b->len - b->off; }
static inline const uint8_t *buf_data(const struct buf *b) { return b->data + b->off; }
/* Marks n unread bytes consumed (n <= buf_unread). */
void buf_consume(struct buf *b, size_t n);
/* Drops all content; releases memory above 4 KiB. */
void buf_reset(struct buf *b);
/* Moves unread bytes to the front; releases memory when empty. */
void buf_compact(struct buf *b);

#endif
