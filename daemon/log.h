/*
 * log.h - one line per event, key=value, starting with the session or
 * queue id (docs/style.md rules 12-13).
 *
 * Lines look like
 *   2026-11-28T22:10:09.123Z posternd[4242]: 18C2F3A4B5C60001 smtp connect client=127.0.0.1:5512 listener=smtp
 * and go to stderr (the terminal under `make run`, the journal under
 * systemd) with one write(2) per line, so lines from several threads never
 * interleave.  log_escape() makes client-supplied text safe to log:
 * printable ASCII only, quotes and backslashes escaped, < and > written
 * as \x3c and \x3e (so to=<...> cannot be closed early), truncated.
 * Severities: log_info (normal events), log_warnx (problem, no errno),
 * log_warn (appends strerror(errno)), log_fatal (environment broken: exits
 * with EX_* code).  Passwords and AUTH payloads are never passed here.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stddef.h>

void log_init(const char *progname, int debug);
void log_set_debug(int on);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* An impossible state (a bug, not the environment): logs "panic: ..." with
 * the source location and aborts, so a core dump or sanitizer report
 * shows where.  Use instead of a silent default: in switches. */
#define fatalx(...) log_panic(__FILE__, __LINE__, __VA_ARGS__)
void log_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* Writes a printable, quoted-safe copy of n bytes of s into out (size
 * outlen > 4), truncated with "..." when longer.  Returns out. */
char *log_escape(char *out, size_t outlen, const char *s, size_t n);

#endif
