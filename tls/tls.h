/*
 * tls.h - wolfSSL wrapper for posternd (server side now, client side for
 * delivery later).
 *
 * Two nouns live here:
 *   tls_ctx  - an immutable, refcounted server (or client) context built from
 *              one listener's TLS settings: certificate and key files, a
 *              minimum and maximum protocol version, a cipher list and an
 *              optional DH parameter file.  Built once per configuration
 *              snapshot and shared read-only by every session of that
 *              listener.  SSLv2/SSLv3 can never be enabled.
 *   tls_conn - one TLS connection over a non-blocking socket.  wolfSSL owns
 *              the fd for reads and writes (as lighttpd and Postfix do,
 *              rather than custom I/O callbacks; we chose it because the
 *              session already buffers plaintext above it, see
 *              docs/architecture.md).  Every call returns at once: when the
 *              socket is not ready the call reports which direction it waits
 *              for, and the caller re-arms epoll and calls again.
 *
 * Threads: a tls_ctx may be used by any number of threads at once (wolfSSL
 * CTXs are read-only after setup).  A tls_conn belongs to the one worker that
 * currently owns its session; it may move between threads but is never used
 * by two at once.
 *
 * Failure: every function that can fail fills a caller-supplied error string
 * an admin can read ("listener submission: cannot read key file /x: ...").
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stddef.h>
#include <sys/types.h>

/* Protocol versions, ordered.  Names as admins write them in SQL. */
enum tls_version {
	TLS_V1_0 = 10,
	TLS_V1_1 = 11,
	TLS_V1_2 = 12,
	TLS_V1_3 = 13,
};

struct tls_ctx_params {
	const char *cert_file;	/* PEM chain; required for servers */
	const char *key_file;	/* PEM key; required for servers */
	enum tls_version min_version;
	enum tls_version max_version;
	const char *ciphers;	/* OpenSSL-style list; NULL or "" = default */
	const char *dh_file;	/* PEM DH parameters; NULL = none */
};

/* Default cipher list: forward-secret AEAD suites only, TLS 1.3 included. */
extern const char tls_default_ciphers[];

struct tls_ctx;
struct tls_conn;

/* Initialise the library once per process.  Returns 0 or -1. */
int tls_global_init(void);
void tls_global_cleanup(void);
/* Frees what wolfSSL keeps per thread (Debian's build has FP_ECC with
 * thread-local fixed-point caches, about 3 KiB per cached point): call
 * at the end of every thread that did TLS. */
void tls_thread_cleanup(void);

/* Parse "TLSv1.2" / "TLSv1.3" / "TLSv1.1" / "TLSv1" (case-insensitive).
 * Returns 0 and sets *out, or -1 for an unknown name (SSLv2/SSLv3 are
 * unknown on purpose). */
int tls_version_parse(const char *name, enum tls_version *out);
const char *tls_version_name(enum tls_version v);

/* Build a server context.  Returns a context with refcount 1, or NULL with
 * a readable message in err (errlen bytes).  A min_version below what the
 * library supports, min > max, an unreadable file, a key that does not
 * match the certificate, or a cipher list wolfSSL rejects all fail. */
struct tls_ctx *tls_ctx_new_server(const struct tls_ctx_params *p,
    char *err, size_t errlen);
/* Build a client context (for delivery).  cert/key may be NULL.  verify=1
 * loads the system CA store (/etc/ssl/certs) and verifies peers. */
struct tls_ctx *tls_ctx_new_client(const struct tls_ctx_params *p, int verify,
    char *err, size_t errlen);
void tls_ctx_ref(struct tls_ctx *c);
void tls_ctx_unref(struct tls_ctx *c);	/* frees at zero; NULL is fine */

/* Results of tls_conn operations. */
enum tls_io {
	TLS_IO_OK = 0,		/* done / n bytes moved (see *n) */
	TLS_IO_WANT_READ,	/* wait for EPOLLIN, then call again */
	TLS_IO_WANT_WRITE,	/* wait for EPOLLOUT, then call again */
	TLS_IO_EOF,		/* peer closed (close_notify or TCP EOF) */
	TLS_IO_ERROR,		/* fatal; see tls_conn_error() */
};

/* Wrap an already-accepted non-blocking socket (server side) or an
 * already-connected one (client side; sni may be NULL, verify_host may be
 * NULL).  Takes a reference on ctx.  Returns NULL on allocation failure. */
struct tls_conn *tls_conn_new_server(struct tls_ctx *ctx, int fd);
struct tls_conn *tls_conn_new_client(struct tls_ctx *ctx, int fd,
    const char *sni, const char *verify_host);
/* Frees the connection (does not close fd).  Sends no close_notify. */
void tls_conn_free(struct tls_conn *c);

/* Drive the handshake.  TLS_IO_OK once complete. */
enum tls_io tls_conn_handshake(struct tls_conn *c);
/* Read up to len plaintext bytes; *n set on TLS_IO_OK (n > 0). */
enum tls_io tls_conn_read(struct tls_conn *c, void *buf, size_t len, size_t *n);
/* Write; on TLS_IO_OK *n bytes were accepted (may be < len).  After
 * WANT_READ/WANT_WRITE the caller must retry with the same buf and len
 * (the plaintext stays pinned). */
enum tls_io tls_conn_write(struct tls_conn *c, const void *buf, size_t len,
    size_t *n);
/* Decrypted bytes wolfSSL holds that no socket event will announce. */
size_t tls_conn_pending(struct tls_conn *c);
/* Best-effort close_notify (non-blocking, result ignored). */
void tls_conn_shutdown(struct tls_conn *c);

/* After the handshake: negotiated protocol ("TLSv1.3") and cipher name
 * ("TLS_AES_256_GCM_SHA384").  Never NULL ("unknown" if not known). */
const char *tls_conn_version(struct tls_conn *c);
const char *tls_conn_cipher(struct tls_conn *c);
/* The last error as readable text (never NULL). */
const char *tls_conn_error(struct tls_conn *c);
/* Client side: did the peer certificate verify (chain and host)?  1/0. */
int tls_conn_verified(struct tls_conn *c);

#endif
