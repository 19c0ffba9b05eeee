/*
 * passwd.h - password verification with libxcrypt (crypt_r).
 *
 * Verifies a clear-text password against a crypt(3) hash: yescrypt ($y$),
 * bcrypt ($2a$/$2b$/$2y$, as pgcrypto and libxcrypt make them) and
 * SHA-512-crypt ($6$).  Comparison is constant-time.  For an unknown user
 * (or disabled) account the caller passes hash NULL and a dummy hash with
 * set_password's algorithm and cost ($2a$, 12) is computed anyway, so the
 * reply time does not tell which accounts exist.  CPU-bound (milliseconds):
 * call on a worker thread, never on the event loop.  Thread-safe.
 */
#ifndef POSTERN_PASSWD_H
#define POSTERN_PASSWD_H

/* Returns 1 if password matches hash, 0 if not (or hash NULL/invalid). */
int passwd_verify(const char *hash, const char *password);
/* The hash spent on a NULL hash (bcrypt $2a$, cost 12, like
 * postern.set_password). */
const char *passwd_dummy_hash(void);
/* Makes a yescrypt hash into out (size n).  Returns 0 or -1. */
int passwd_hash(const char *password, char *out, size_t n);

#endif
