/*
 * tls_internal.h - what tls_ctx.c and tls_conn.c share and nobody else sees.
 *
 * The only shared thing is the layout of struct tls_ctx: tls_conn.c needs
 * the WOLFSSL_CTX to create sessions from, and whether the context is a
 * server or client one and whether peers are verified.  Nothing outside
 * tls/ includes this file; the public interface is tls.h.
 *
 * Invariants: after tls_ctx_new_server()/tls_ctx_new_client() return, every
 * field except refs is immutable; refs is only touched with C11 atomics.
 * The WOLFSSL_CTX is owned by the tls_ctx and freed when refs drops to 0.
 *
 * wolfssl/options.h must come before any other wolfSSL header (it carries
 * the build's feature macros; without it struct layouts disagree with the
 * library), so it is included here first and this file is included before
 * any other wolfSSL header by both .c files.
 */
#ifndef POSTERN_TLS_INTERNAL_H
#define POSTERN_TLS_INTERNAL_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include <stdatomic.h>

#include "tls/tls.h"

struct tls_ctx {
	WOLFSSL_CTX *wctx;
	atomic_int refs;
	int is_server;
	int verify;		/* client: verify peer chain (and host) */
};

#endif
