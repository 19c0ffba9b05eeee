/*
 * tls_conn.c - one TLS connection over a non-blocking socket.
 *
 * wolfSSL owns the fd for reads and writes (wolfSSL_set_fd); we never touch
 * the socket ourselves except to make sure O_NONBLOCK is set.  Every call
 * returns at once: WOLFSSL_ERROR_WANT_READ/WANT_WRITE become
 * TLS_IO_WANT_READ/TLS_IO_WANT_WRITE and the caller re-arms epoll and calls
 * again.  A close_notify (WOLFSSL_ERROR_ZERO_RETURN) and a plain TCP EOF
 * (SOCKET_PEER_CLOSED_E, which the OpenSSL-compat layer of this build reports
 * as WOLFSSL_ERROR_SYSCALL) both become TLS_IO_EOF.  Everything else is
 * TLS_IO_ERROR with a readable message kept in the connection
 * (tls_conn_error(), built with wolfSSL_ERR_error_string_n()).
 *
 * Writes: wolfSSL_write() is called without partial-write mode, so it
 * returns only once all of len is encrypted and sent; when the socket
 * fills up it keeps the already encrypted record and reports WANT_WRITE,
 * and the caller must call again with the same buf and len (the plaintext
 * stays pinned) so wolfSSL can resume where it stopped.
 *
 * Client verification: with a verifying context the session runs in
 * WOLFSSL_VERIFY_PEER with a callback that records the first failure
 * (chain or, via wolfSSL_check_domain_name(), host name: DOMAIN_NAME_MISMATCH
 * only shows up in the callback, never in wolfSSL_get_verify_result) and
 * then returns 1 so the handshake continues.  The caller reads
 * tls_conn_verified() afterwards and decides by its own policy (opportunistic
 * SMTP TLS delivers to unverified peers; DANE/MTA-STS policy does not).
 * This relies on WOLFSSL_ALWAYS_VERIFY_CB (the callback also runs on
 * success), which Debian's build defines; otherwise "verified" stays 0.
 *
 * Renegotiation: not compiled into this wolfSSL (see tls_ctx.c), so a
 * client-initiated renegotiation is a fatal handshake error.
 *
 * Ownership: a tls_conn holds one reference on its tls_ctx and owns its
 * WOLFSSL; it never owns or closes the fd.  Threads: one thread at a time.
 */
#include "tls/tls_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WOLFSSL_ALWAYS_VERIFY_CB
#warning "tls_conn_verified() needs WOLFSSL_ALWAYS_VERIFY_CB; will report 0"
#endif

struct tls_conn {
	struct tls_ctx *ctx;
	WOLFSSL *ssl;
	int is_server;
	int handshake_done;
	int verify;		/* client: peer verification requested */
	int verify_seen;	/* callback ran at least once */
	int verify_failed;	/* callback saw a failure */
	char err[256];
};

static void
conn_seterr(struct tls_conn *c, const char *what, int code)
{
	char why[160];

	why[0] = '\0';
	wolfSSL_ERR_error_string_n((unsigned long)(code < 0 ? -code : code),
	    why, sizeof(why));
	if (why[0] == '\0')
		snprintf(why, sizeof(why), "wolfSSL error %d", code);
	if (code == SOCKET_ERROR_E && errno != 0)
		snprintf(c->err, sizeof(c->err), "%s: %s (%s)", what, why,
		    strerror(errno));
	else
		snprintf(c->err, sizeof(c->err), "%s: %s (%d)", what, why,
		    code);
	wolfSSL_ERR_clear_error();
}

/* Map the result of a wolfSSL I/O call that did not succeed. */
static enum tls_io
conn_fail(struct tls_conn *c, int ret, const char *what)
{
	int e = wolfSSL_get_error(c->ssl, ret);

	if (e != WOLFSSL_ERROR_WANT_READ && e != WOLFSSL_ERROR_WANT_WRITE)
		wolfSSL_ERR_clear_error();	/* keep the thread queue empty */
	switch (e) {
	case WOLFSSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case WOLFSSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case WOLFSSL_ERROR_ZERO_RETURN:
		snprintf(c->err, sizeof(c->err), "%s: peer sent close_notify",
		    what);
		return TLS_IO_EOF;
	case WOLFSSL_ERROR_SYSCALL:
	case SOCKET_PEER_CLOSED_E:
		snprintf(c->err, sizeof(c->err), "%s: peer closed the "
		    "connection", what);
		return TLS_IO_EOF;
	default:
		conn_seterr(c, what, e);
		return TLS_IO_ERROR;
	}
}

/* wolfSSL lacks text for most OpenSSL X509_V_ERR_* numbers. */
static const char *
x509_reason(int e)
{
	const char *s = wolfSSL_X509_verify_cert_error_string(e);

	if (s != NULL && strncmp(s, "unknown", 7) != 0)
		return s;
	switch (e) {
	case 2: return "unable to get issuer certificate";
	case 9: return "certificate is not yet valid";
	case 10: return "certificate has expired";
	case 18: return "self-signed certificate";
	case 19: return "self-signed certificate in chain";
	case 20: return "unable to get local issuer certificate";
	case 21: return "unable to verify the first certificate";
	case 62: return "host name mismatch";
	}
	return "certificate verification error";
}

static int
verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	WOLFSSL *ssl = wolfSSL_X509_STORE_CTX_get_ex_data(store,
	    wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl != NULL ? wolfSSL_get_app_data(ssl) : NULL;

	if (c != NULL) {
		c->verify_seen = 1;
		if (!preverify && !c->verify_failed) {
			c->verify_failed = 1;
			int e = wolfSSL_X509_STORE_CTX_get_error(store);

			if (e > 0)	/* OpenSSL X509_V_ERR_* numbering */
				snprintf(c->err, sizeof(c->err), "peer "
				    "certificate not verified: %s (%d)",
				    x509_reason(e), e);
			else
				conn_seterr(c, "peer certificate not verified",
				    e);
		}
	}
	return 1;	/* let the handshake go on; caller applies policy */
}

static struct tls_conn *
conn_new(struct tls_ctx *ctx, int fd, int is_server)
{
	struct tls_conn *c;
	int fl;

	if (ctx == NULL || fd < 0)
		return NULL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) == 0 &&
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->ssl = wolfSSL_new(ctx->wctx);
	if (c->ssl == NULL ||
	    wolfSSL_set_fd(c->ssl, fd) != WOLFSSL_SUCCESS ||
	    wolfSSL_set_app_data(c->ssl, c) != WOLFSSL_SUCCESS) {
		if (c->ssl != NULL)
			wolfSSL_free(c->ssl);
		free(c);
		return NULL;
	}
	wolfSSL_set_using_nonblock(c->ssl, 1);
	if (is_server)
		wolfSSL_set_accept_state(c->ssl);
	else
		wolfSSL_set_connect_state(c->ssl);
	c->is_server = is_server;
	snprintf(c->err, sizeof(c->err), "no error");
	tls_ctx_ref(ctx);
	c->ctx = ctx;
	return c;
}

struct tls_conn *
tls_conn_new_server(struct tls_ctx *ctx, int fd)
{
	return conn_new(ctx, fd, 1);
}

struct tls_conn *
tls_conn_new_client(struct tls_ctx *ctx, int fd, const char *sni,
    const char *verify_host)
{
	struct tls_conn *c = conn_new(ctx, fd, 0);

	if (c == NULL)
		return NULL;
	if (sni != NULL && sni[0] != '\0' &&
	    wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, sni,
	    (unsigned short)strlen(sni)) != WOLFSSL_SUCCESS)
		goto fail;
	if (ctx->verify) {
		c->verify = 1;
		wolfSSL_set_verify(c->ssl, WOLFSSL_VERIFY_PEER, verify_cb);
		if (verify_host != NULL && verify_host[0] != '\0' &&
		    wolfSSL_check_domain_name(c->ssl, verify_host) !=
		    WOLFSSL_SUCCESS)
			goto fail;
	} else {
		wolfSSL_set_verify(c->ssl, WOLFSSL_VERIFY_NONE, NULL);
	}
	return c;
fail:
	tls_conn_free(c);
	return NULL;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	wolfSSL_free(c->ssl);
	tls_ctx_unref(c->ctx);
	free(c);
}

enum tls_io
tls_conn_handshake(struct tls_conn *c)
{
	int r;

	if (c->handshake_done)
		return TLS_IO_OK;
	errno = 0;
	r = c->is_server ? wolfSSL_accept(c->ssl) : wolfSSL_connect(c->ssl);
	if (r == WOLFSSL_SUCCESS) {
		c->handshake_done = 1;
		return TLS_IO_OK;
	}
	return conn_fail(c, r, "TLS handshake failed");
}

enum tls_io
tls_conn_read(struct tls_conn *c, void *buf, size_t len, size_t *n)
{
	int r;

	*n = 0;
	if (len == 0)
		return TLS_IO_OK;
	if (len > INT_MAX)
		len = INT_MAX;
	errno = 0;
	r = wolfSSL_read(c->ssl, buf, (int)len);
	if (r > 0) {
		c->handshake_done = 1;
		*n = (size_t)r;
		return TLS_IO_OK;
	}
	return conn_fail(c, r, "TLS read failed");
}

enum tls_io
tls_conn_write(struct tls_conn *c, const void *buf, size_t len, size_t *n)
{
	int r;

	*n = 0;
	if (len == 0)
		return TLS_IO_OK;
	if (len > INT_MAX / 2)	/* keep well inside wolfSSL's int */
		len = INT_MAX / 2;
	errno = 0;
	r = wolfSSL_write(c->ssl, buf, (int)len);
	if (r > 0) {
		c->handshake_done = 1;
		*n = (size_t)r;
		return TLS_IO_OK;
	}
	return conn_fail(c, r, "TLS write failed");
}

size_t
tls_conn_pending(struct tls_conn *c)
{
	int p = wolfSSL_pending(c->ssl);

	return p > 0 ? (size_t)p : 0;
}

void
tls_conn_shutdown(struct tls_conn *c)
{
	if (c != NULL && c->ssl != NULL)
		(void)wolfSSL_shutdown(c->ssl);
}

const char *
tls_conn_version(struct tls_conn *c)
{
	const char *v;

	if (!c->handshake_done)
		return "unknown";
	v = wolfSSL_get_version(c->ssl);
	return v != NULL ? v : "unknown";
}

/*
 * OpenSSL-style names, as Postfix logs them: TLS 1.3 suites by their
 * standard name ("TLS_AES_256_GCM_SHA384"; wolfSSL's own spelling would be
 * "TLS13-AES256-GCM-SHA384"), older ones by the OpenSSL name wolfSSL also
 * uses ("ECDHE-RSA-AES256-GCM-SHA384").
 */
const char *
tls_conn_cipher(struct tls_conn *c)
{
	const char *n;

	if (!c->handshake_done)
		return "unknown";
	n = wolfSSL_get_cipher_name(c->ssl);
	if (n != NULL && strncmp(n, "TLS13-", 6) == 0) {
		int cs = wolfSSL_get_current_cipher_suite(c->ssl);
		const char *iana = wolfSSL_get_cipher_name_iana_from_suite(
		    (unsigned char)((cs >> 8) & 0xff),
		    (unsigned char)(cs & 0xff));

		if (iana != NULL && strncmp(iana, "TLS_", 4) == 0)
			n = iana;
	}
	return n != NULL && n[0] != '\0' ? n : "unknown";
}

const char *
tls_conn_error(struct tls_conn *c)
{
	return c->err;
}

int
tls_conn_verified(struct tls_conn *c)
{
	if (c->is_server || !c->verify || !c->handshake_done)
		return 0;
	if (!c->verify_seen || c->verify_failed)
		return 0;
	return wolfSSL_get_verify_result(c->ssl) == X509_V_OK;
}
