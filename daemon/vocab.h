/*
 * vocab.h - the words the accept path and delivery share: a route, the
 * relay TLS mode, a set of TLS versions, the AUTH mechanisms (a leaf:
 * includes nothing of postern's).
 *
 * The rules decide a route at RCPT, the session carries it with the
 * recipient, the store writes it into postern.recipients, delivery reads
 * it back and the SMTP client obeys it.  All of them spell it with these
 * types, so none needs the others' headers.
 *
 * Promises: relay_tls_parse() and tls_versions_parse() accept exactly the
 * SQL spellings (enum postern.relay_tls_mode, postern.tls_version[]);
 * relay_tls_name() and tls_versions_text() write them back, so a route
 * survives a round trip through the database unchanged.
 */
#ifndef POSTERN_VOCAB_H
#define POSTERN_VOCAB_H

#include <stddef.h>

/* SASL mechanisms for SMTP AUTH (a set: OR of the bits). */
#define AUTH_MECH_PLAIN 0x1u
#define AUTH_MECH_LOGIN 0x2u

/* Outbound TLS mode of a route (postern.relay_tls_mode).  UNSET: the
 * global settings decide. */
enum relay_tls {
	RELAY_TLS_UNSET,
	RELAY_TLS_NONE,
	RELAY_TLS_OPPORTUNISTIC,
	RELAY_TLS_REQUIRED,
	RELAY_TLS_IMPLICIT,
};

/* Certificate verification of a route (relay_tls_verify). */
enum relay_verify {
	RELAY_VERIFY_UNSET,	/* the global settings decide */
	RELAY_VERIFY_NO,
	RELAY_VERIFY_YES,
};

/* A set of TLS versions: an OR of these bits; 0 = not restricted. */
#define TLS_VERSIONS_10 0x1u
#define TLS_VERSIONS_11 0x2u
#define TLS_VERSIONS_12 0x4u
#define TLS_VERSIONS_13 0x8u
#define TLS_VERSIONS_ALL 0xfu

/* Where and how mail for one recipient leaves (decided at RCPT, stored
 * with the recipient). */
struct route {
	char host[256];		/* "" = MX lookup */
	int port;		/* with host; 0 = default */
	enum relay_tls tls;
	enum relay_verify verify;
	unsigned versions;	/* TLS_VERSIONS_* set; 0 = not restricted */
};

/* "required" -> RELAY_TLS_REQUIRED; NULL or unknown -> RELAY_TLS_UNSET. */
enum relay_tls relay_tls_parse(const char *s);
/* "unset", "none", "opportunistic", "required", "implicit". */
const char *relay_tls_name(enum relay_tls t);
/* "{TLSv1.1,TLSv1.2}" (SQL array text; braces optional, also "TLSv1.0")
 * -> TLS_VERSIONS_11|TLS_VERSIONS_12.  NULL -> 0; unknown elements are
 * ignored. */
unsigned tls_versions_parse(const char *s);
/* "TLSv1.1,TLSv1.2" ("" for 0); always NUL-terminated within n. */
void tls_versions_text(unsigned v, char *out, size_t n);

#endif
