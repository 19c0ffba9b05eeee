/*
 * util.h - allocation wrappers, clocks and small string helpers.
 *
 * Generic code: knows nothing about mail.  The x* allocators never return
 * NULL: running out of memory is fatal (docs/style.md rule 12); memory exhaustion
 * is prevented by per-session limits, not handled case by case.
 * wipe() clears secrets in a way the compiler may not elide.
 * All functions are thread-safe.
 */
#ifndef POSTERN_UTIL_H
#define POSTERN_UTIL_H

#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Writes all n bytes to fd, retrying short writes and EINTR.  Returns 0,
 * or -1 with errno set. */
int write_all(int fd, const void *p, size_t n);
/* Zero n bytes at p; not optimised away. */
void wipe(void *p, size_t n);
/* Monotonic milliseconds. */
int64_t now_ms(void);
/* Wall-clock milliseconds since the epoch. */
int64_t wall_ms(void);
/* ASCII case-insensitive prefix test; returns 1 if s starts with prefix. */
int str_iprefix(const char *s, const char *prefix);
/* Lower-case an ASCII string in place. */
void str_lower(char *s);
/* Bounded copy that always NUL-terminates (dst size n > 0).  Returns the
 * length of src; truncation happened when the result is >= n. */
size_t str_copy(char *dst, const char *src, size_t n);

#endif
