/*
 * tls_ctx.c - library set-up, protocol version names and the refcounted
 * tls_ctx (one WOLFSSL_CTX built from one listener's TLS settings).
 *
 * What a context enforces, whatever the caller asks:
 *   - SSLv2 and SSLv3 are impossible: tls_version_parse() does not know
 *     them, the enum has no value for them, and the context starts from
 *     wolfSSLv23_*_method() with the minimum version always set explicitly
 *     (Debian's wolfSSL would otherwise accept TLS 1.1 by default).
 *     TLS 1.0 exists in the enum but this wolfSSL build refuses it unless
 *     compiled with WOLFSSL_ALLOW_TLSV10, so asking for it fails.
 *   - An explicit cipher list is always installed (without one, Debian's
 *     wolfSSL negotiates anonymous ADH suites).  Caller lists are strict:
 *     each ':'/','/' '-separated token must be a suite name this wolfSSL
 *     knows (its own spelling, see wolfSSL_get_ciphers()); anonymous,
 *     NULL-encryption, RC4 and PSK suites are refused; a list that leaves
 *     the allowed version range without any usable suite is refused (a
 *     list with no TLS13-* suite breaks TLS 1.3 handshakes outright).
 *   - The maximum version is set with wolfSSL_CTX_set_max_proto_version()
 *     (OpenSSL compat); wolfSSL_SetVersion() would pin one version and
 *     break TLS 1.3 peers.
 *   - Renegotiation: this build defines HAVE_SERVER_RENEGOTIATION_INFO
 *     (it sends the empty renegotiation_info extension, RFC 5746) but not
 *     HAVE_SECURE_RENEGOTIATION, so wolfSSL cannot renegotiate at all: a
 *     second ClientHello on an established TLS 1.2 connection is a fatal
 *     error (duplicate message) and TLS 1.3 has no renegotiation.  Client-
 *     initiated renegotiation is therefore always refused; should a later
 *     build enable it, tls_ctx_new_server() refuses to build (#error below).
 *
 * Ownership: tls_ctx_new_*() return refcount 1; tls_ctx_ref()/unref() use
 * C11 atomics; the WOLFSSL_CTX is freed when the count reaches zero.  Every
 * tls_conn holds one reference.
 *
 * Threads: after construction the context is read-only and may be used by
 * any number of threads.  tls_global_init()/cleanup() run once per process,
 * before/after any other call, from one thread.
 *
 * Failure: constructors return NULL and write a sentence an admin can act
 * on into err, naming the file involved for file errors.
 */
#include "tls/tls_internal.h"

#include <wolfssl/wolfcrypt/ecc.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef HAVE_SECURE_RENEGOTIATION
#error "wolfSSL built with renegotiation: add explicit refusal in tls_ctx.c"
#endif

/* Forward-secret AEAD only, strongest first; wolfSSL spelling. */
const char tls_default_ciphers[] =
    "TLS13-AES256-GCM-SHA384:"
    "TLS13-AES128-GCM-SHA256:"
    "TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES128-GCM-SHA256:"
    "DHE-RSA-AES256-GCM-SHA384:"
    "DHE-RSA-AES128-GCM-SHA256";

#define CIPHER_LIST_MAX 4096

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Text for a wolfSSL failure: a specific negative return code wins, else
 * the newest entry of this thread's error queue.  Clears the queue.
 */
static void
wolf_reason(int ret, char *buf, size_t len)
{
	unsigned long e;

	if (ret < 0 && ret != WOLFSSL_FATAL_ERROR)
		e = (unsigned long)-ret;
	else
		e = wolfSSL_ERR_peek_last_error();
	buf[0] = '\0';
	if (e != 0)
		wolfSSL_ERR_error_string_n(e, buf, (unsigned long)len);
	if (buf[0] == '\0')
		snprintf(buf, len, "wolfSSL error %d", ret);
	wolfSSL_ERR_clear_error();
}

int
tls_global_init(void)
{
	return wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : -1;
}

void
tls_global_cleanup(void)
{
	tls_thread_cleanup();
	wolfSSL_Cleanup();
}

void
tls_thread_cleanup(void)
{
#ifdef FP_ECC
	wc_ecc_fp_free();
#endif
}

static const struct {
	const char *name;
	enum tls_version v;
} version_names[] = {
	{ "TLSv1", TLS_V1_0 },
	{ "TLSv1.0", TLS_V1_0 },
	{ "TLSv1.1", TLS_V1_1 },
	{ "TLSv1.2", TLS_V1_2 },
	{ "TLSv1.3", TLS_V1_3 },
};

int
tls_version_parse(const char *name, enum tls_version *out)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(version_names) / sizeof(version_names[0]);
	    i++) {
		if (strcasecmp(name, version_names[i].name) == 0) {
			*out = version_names[i].v;
			return 0;
		}
	}
	return -1;
}

const char *
tls_version_name(enum tls_version v)
{
	switch (v) {
	case TLS_V1_0: return "TLSv1";
	case TLS_V1_1: return "TLSv1.1";
	case TLS_V1_2: return "TLSv1.2";
	case TLS_V1_3: return "TLSv1.3";
	}
	return "unknown";
}

/* Is v a version this wolfSSL build can speak? */
static int
version_supported(enum tls_version v)
{
	switch (v) {
	case TLS_V1_0:
#if !defined(NO_OLD_TLS) && defined(WOLFSSL_ALLOW_TLSV10)
		return 1;
#else
		return 0;
#endif
	case TLS_V1_1:
#ifndef NO_OLD_TLS
		return 1;
#else
		return 0;
#endif
	case TLS_V1_2:
		return 1;
	case TLS_V1_3:
#ifdef WOLFSSL_TLS13
		return 1;
#else
		return 0;
#endif
	}
	return 0;
}

static int
wolf_min_version(enum tls_version v)
{
	switch (v) {
	case TLS_V1_0: return WOLFSSL_TLSV1;
	case TLS_V1_1: return WOLFSSL_TLSV1_1;
	case TLS_V1_2: return WOLFSSL_TLSV1_2;
	case TLS_V1_3: return WOLFSSL_TLSV1_3;
	}
	return WOLFSSL_TLSV1_2;
}

static int
proto_version(enum tls_version v)
{
	switch (v) {
	case TLS_V1_0: return TLS1_VERSION;
	case TLS_V1_1: return TLS1_1_VERSION;
	case TLS_V1_2: return TLS1_2_VERSION;
	case TLS_V1_3: return TLS1_3_VERSION;
	}
	return TLS1_2_VERSION;
}

static int
set_versions(WOLFSSL_CTX *w, enum tls_version min, enum tls_version max,
    char *err, size_t errlen)
{
	char why[160];
	int r;

	if (!version_supported(min)) {
		seterr(err, errlen, "minimum TLS version %s is not supported "
		    "by this wolfSSL build", tls_version_name(min));
		return -1;
	}
	if (!version_supported(max)) {
		seterr(err, errlen, "maximum TLS version %s is not supported "
		    "by this wolfSSL build", tls_version_name(max));
		return -1;
	}
	if (min > max) {
		seterr(err, errlen, "minimum TLS version %s is above maximum "
		    "%s", tls_version_name(min), tls_version_name(max));
		return -1;
	}
	/* SSLv2/SSLv3 off whatever happens below. */
	wolfSSL_CTX_set_options(w, WOLFSSL_OP_NO_SSLv2 | WOLFSSL_OP_NO_SSLv3);
	r = wolfSSL_CTX_SetMinVersion(w, wolf_min_version(min));
	if (r == WOLFSSL_SUCCESS)
		r = wolfSSL_CTX_set_min_proto_version(w, proto_version(min));
	if (r == WOLFSSL_SUCCESS)
		r = wolfSSL_CTX_set_max_proto_version(w, proto_version(max));
	if (r != WOLFSSL_SUCCESS) {
		wolf_reason(r, why, sizeof(why));
		seterr(err, errlen, "cannot set TLS versions %s..%s: %s",
		    tls_version_name(min), tls_version_name(max), why);
		return -1;
	}
	return 0;
}

/* Suites we never enable even when named explicitly. */
static int
cipher_forbidden(const char *name)
{
	static const char *const bad[] = {
		"ADH-", "AECDH-", "NULL", "RC4", "PSK", "WDM-", "EXP", "MD5",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strstr(name, bad[i]) != NULL)
			return 1;
	return 0;
}

/* Is name one entry of the ':'-separated list known? */
static int
cipher_known(const char *known, const char *name)
{
	size_t n = strlen(name);
	const char *p = known;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == known || p[-1] == ':') &&
		    (p[n] == ':' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * Validate a caller cipher list and rewrite it ':'-separated into out.
 * Returns 0, or -1 with err filled.
 */
static int
cipher_list_check(const char *in, enum tls_version min, enum tls_version max,
    char *out, size_t outlen, char *err, size_t errlen)
{
	char known[8192];
	char *copy, *tok, *save = NULL;
	size_t used = 0;
	int n13 = 0, n12 = 0;

	if (strlen(in) >= outlen) {
		seterr(err, errlen, "cipher list is too long");
		return -1;
	}
	if (wolfSSL_get_ciphers(known, (int)sizeof(known)) != WOLFSSL_SUCCESS) {
		seterr(err, errlen, "cannot list wolfSSL cipher suites");
		return -1;
	}
	copy = strdup(in);
	if (copy == NULL) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	out[0] = '\0';
	for (tok = strtok_r(copy, ":, ", &save); tok != NULL;
	    tok = strtok_r(NULL, ":, ", &save)) {
		if (!cipher_known(known, tok)) {
			seterr(err, errlen, "unknown cipher suite \"%s\" "
			    "(use wolfSSL names, e.g. %s)", tok,
			    "ECDHE-RSA-AES256-GCM-SHA384");
			free(copy);
			return -1;
		}
		if (cipher_forbidden(tok)) {
			seterr(err, errlen, "cipher suite \"%s\" is not allowed "
			    "(anonymous, NULL, RC4 or PSK)", tok);
			free(copy);
			return -1;
		}
		if (strncmp(tok, "TLS13-", 6) == 0)
			n13++;
		else
			n12++;
		used += (size_t)snprintf(out + used, outlen - used, "%s%s",
		    used ? ":" : "", tok);
	}
	free(copy);
	if (n13 + n12 == 0) {
		seterr(err, errlen, "cipher list \"%s\" names no suite", in);
		return -1;
	}
	if (max >= TLS_V1_3 && n13 == 0) {
		seterr(err, errlen, "cipher list has no TLS 1.3 suite "
		    "(TLS13-...) but the maximum version is TLSv1.3");
		return -1;
	}
	if (min <= TLS_V1_2 && n12 == 0 && max <= TLS_V1_2) {
		seterr(err, errlen, "cipher list has only TLS 1.3 suites but "
		    "the maximum version is %s", tls_version_name(max));
		return -1;
	}
	return 0;
}

static int
set_ciphers(WOLFSSL_CTX *w, const struct tls_ctx_params *p, char *err,
    size_t errlen)
{
	char list[CIPHER_LIST_MAX], why[160];
	const char *use = tls_default_ciphers;
	int r;

	if (p->ciphers != NULL && p->ciphers[0] != '\0') {
		if (cipher_list_check(p->ciphers, p->min_version,
		    p->max_version, list, sizeof(list), err, errlen) < 0)
			return -1;
		use = list;
	}
	r = wolfSSL_CTX_set_cipher_list(w, use);
	if (r != WOLFSSL_SUCCESS) {
		wolf_reason(r, why, sizeof(why));
		seterr(err, errlen, "cipher list \"%s\" refused: %s", use, why);
		return -1;
	}
	return 0;
}

/* Can we open path for reading?  Gives errno text naming the file. */
static int
check_readable(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		seterr(err, errlen, "cannot read %s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int
load_cert_key(WOLFSSL_CTX *w, const char *cert, const char *key, char *err,
    size_t errlen)
{
	char why[160];
	int r;

	if (check_readable("certificate file", cert, err, errlen) < 0 ||
	    check_readable("key file", key, err, errlen) < 0)
		return -1;
	r = wolfSSL_CTX_use_certificate_chain_file(w, cert);
	if (r != WOLFSSL_SUCCESS) {
		wolf_reason(r, why, sizeof(why));
		seterr(err, errlen, "cannot load certificate file %s: %s",
		    cert, why);
		return -1;
	}
	r = wolfSSL_CTX_use_PrivateKey_file(w, key, WOLFSSL_FILETYPE_PEM);
	if (r != WOLFSSL_SUCCESS) {
		wolf_reason(r, why, sizeof(why));
		seterr(err, errlen, "cannot load key file %s: %s", key, why);
		return -1;
	}
	r = wolfSSL_CTX_check_private_key(w);
	if (r != WOLFSSL_SUCCESS) {
		/* wolfSSL's reason here is an internal bignum code. */
		wolfSSL_ERR_clear_error();
		seterr(err, errlen, "key file %s does not match certificate "
		    "file %s", key, cert);
		return -1;
	}
	return 0;
}

static int
load_dh(WOLFSSL_CTX *w, const char *dh, char *err, size_t errlen)
{
	char why[160];
	int r;

	if (check_readable("DH parameter file", dh, err, errlen) < 0)
		return -1;
	r = wolfSSL_CTX_SetTmpDH_file(w, dh, WOLFSSL_FILETYPE_PEM);
	if (r != WOLFSSL_SUCCESS) {
		wolf_reason(r, why, sizeof(why));
		seterr(err, errlen, "cannot load DH parameter file %s: %s", dh,
		    why);
		return -1;
	}
	return 0;
}

static struct tls_ctx *
ctx_alloc(WOLFSSL_METHOD *m, int is_server, char *err, size_t errlen)
{
	WOLFSSL_CTX *w;
	struct tls_ctx *c;

	if (m == NULL) {
		seterr(err, errlen, "out of memory (wolfSSL method)");
		return NULL;
	}
	w = wolfSSL_CTX_new(m);		/* takes m, frees it on failure */
	if (w == NULL) {
		seterr(err, errlen, "cannot create wolfSSL context");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		wolfSSL_CTX_free(w);
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	c->wctx = w;
	atomic_init(&c->refs, 1);
	c->is_server = is_server;
	return c;
}

static void
ctx_destroy(struct tls_ctx *c)
{
	wolfSSL_CTX_free(c->wctx);
	free(c);
}

struct tls_ctx *
tls_ctx_new_server(const struct tls_ctx_params *p, char *err, size_t errlen)
{
	struct tls_ctx *c;

	if (p == NULL || p->cert_file == NULL || p->key_file == NULL ||
	    p->cert_file[0] == '\0' || p->key_file[0] == '\0') {
		seterr(err, errlen, "TLS server needs a certificate file and "
		    "a key file");
		return NULL;
	}
	wolfSSL_ERR_clear_error();	/* stale entries would mislead */
	c = ctx_alloc(wolfSSLv23_server_method(), 1, err, errlen);
	if (c == NULL)
		return NULL;
	if (set_versions(c->wctx, p->min_version, p->max_version, err,
	    errlen) < 0 ||
	    set_ciphers(c->wctx, p, err, errlen) < 0 ||
	    load_cert_key(c->wctx, p->cert_file, p->key_file, err,
	    errlen) < 0 ||
	    (p->dh_file != NULL && p->dh_file[0] != '\0' &&
	    load_dh(c->wctx, p->dh_file, err, errlen) < 0)) {
		ctx_destroy(c);
		return NULL;
	}
	/* No client certificates asked for; prefer our suite order. */
	wolfSSL_CTX_set_verify(c->wctx, WOLFSSL_VERIFY_NONE, NULL);
	wolfSSL_CTX_set_options(c->wctx, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
	return c;
}

struct tls_ctx *
tls_ctx_new_client(const struct tls_ctx_params *p, int verify, char *err,
    size_t errlen)
{
	struct tls_ctx *c;
	int have_cert, have_key;

	if (p == NULL) {
		seterr(err, errlen, "no TLS parameters");
		return NULL;
	}
	have_cert = p->cert_file != NULL && p->cert_file[0] != '\0';
	have_key = p->key_file != NULL && p->key_file[0] != '\0';
	if (have_cert != have_key) {
		seterr(err, errlen, "TLS client certificate and key must be "
		    "given together");
		return NULL;
	}
	wolfSSL_ERR_clear_error();
	c = ctx_alloc(wolfSSLv23_client_method(), 0, err, errlen);
	if (c == NULL)
		return NULL;
	c->verify = verify ? 1 : 0;
	if (set_versions(c->wctx, p->min_version, p->max_version, err,
	    errlen) < 0 ||
	    set_ciphers(c->wctx, p, err, errlen) < 0 ||
	    (have_cert && load_cert_key(c->wctx, p->cert_file, p->key_file,
	    err, errlen) < 0)) {
		ctx_destroy(c);
		return NULL;
	}
	if (verify) {
		int r = wolfSSL_CTX_load_system_CA_certs(c->wctx);

		if (r != WOLFSSL_SUCCESS) {
			char why[160];

			wolf_reason(r, why, sizeof(why));
			seterr(err, errlen, "cannot load system CA store "
			    "(/etc/ssl/certs): %s", why);
			ctx_destroy(c);
			return NULL;
		}
	}
	/* wolfSSL clients verify by default; tls_conn sets the real mode. */
	wolfSSL_CTX_set_verify(c->wctx, WOLFSSL_VERIFY_NONE, NULL);
	return c;
}

void
tls_ctx_ref(struct tls_ctx *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void
tls_ctx_unref(struct tls_ctx *c)
{
	if (c == NULL)
		return;
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		ctx_destroy(c);
}
