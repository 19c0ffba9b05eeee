/*
 * spool.h - the body of one message being received, bounded in memory.
 *
 * The first SPOOL_MEM_MAX bytes stay in memory; beyond that the whole body
 * moves to an anonymous temporary file (O_TMPFILE, unlinked from birth) in
 * the spool directory, so large messages from many concurrent clients do not
 * sit whole in memory.  The spool is only a staging area: the durable copy
 * is the PostgreSQL row written at end of DATA, and a crash before COMMIT
 * loses only mail that was never acknowledged.
 *
 * A spool is owned by one transaction (one thread at a time).  Errors
 * (disk full, no spool directory) are sticky: spool_append() returns -1 and
 * spool_failed() stays true, so the session answers 451 at end of DATA.
 */
#ifndef POSTERN_SPOOL_H
#define POSTERN_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_MEM_MAX (128 * 1024)

struct spool {
	uint8_t *mem;
	size_t len;	/* total bytes appended */
	size_t cap;
	int fd;		/* -1 while in memory */
	int failed;
};

/* Directory for temporary files (default "/var/tmp"); set once at start. */
void spool_set_dir(const char *dir);
void spool_init(struct spool *sp);
void spool_free(struct spool *sp);
int spool_append(struct spool *sp, const void *p, size_t n);
static inline size_t spool_size(const struct spool *sp) { return sp->len; }
static inline int spool_failed(const struct spool *sp) { return sp->failed; }
/* Copies the whole body into dst (spool_size bytes).  Returns 0 or -1. */
int spool_read_all(struct spool *sp, uint8_t *dst);

#endif
