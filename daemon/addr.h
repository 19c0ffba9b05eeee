/*
 * addr.h - RFC 5321 path and ESMTP parameter parser (pure, no I/O).
 *
 * Parses the argument of MAIL FROM: and RCPT TO: into an address and a
 * parameter list.  Accepts Path = "<" [A-d-l ":"] Mailbox ">" (source routes
 * are parsed and dropped, RFC 5321 4.1.2 / C), the null path "<>" where
 * allowed, "<postmaster>" for RCPT (RFC 5321 4.5.1), one optional space
 * after the colon (many clients send it).  Limits from RFC 5321 4.5.3.1:
 * local part 64 octets, domain 255, path 256.  Local parts are dot-strings
 * or quoted strings of printable ASCII; domains are LDH labels or address
 * literals [IPv4] / [IPv6:...].  8-bit bytes are refused (SMTPUTF8 is not
 * offered).  The domain is lower-cased on output; the local part keeps its
 * case.
 */
#ifndef POSTERN_ADDR_H
#define POSTERN_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_MAX 256

struct addr {
	char addr[ADDR_MAX + 1];	/* "local@domain", "" for <>, "postmaster" */
	char domain[ADDR_DOMAIN_MAX + 1];	/* lower-case, "" if none */
	int is_null;	/* the null reverse path <> */
};

enum addr_kind { ADDR_SENDER, ADDR_RECIPIENT };

/* Parses "FROM:<a@b> SIZE=10" (kind SENDER) or "TO:<a@b>" (RECIPIENT).
 * arg is the text after the command verb and one space.  On success
 * returns 0, fills *out and sets *params to the text after the path (no
 * leading spaces; "" when none).  Returns -1 on a syntax error. */
int addr_parse_cmd(const char *arg, enum addr_kind kind, struct addr *out,
    const char **params);

/* Parses a bare mailbox "local@domain" (no brackets), e.g. an AUTH user or
 * an address from SQL.  Returns 0 or -1. */
int addr_parse_mailbox(const char *s, size_t n, struct addr *out);

/* Iterates ESMTP parameters "KEY[=VALUE] ..." in place.  *p is advanced.
 * Returns 1 with key/value (value "" when absent; both NUL-terminated in the
 * caller's copy buffers of size keylen/vallen), 0 at end, -1 on syntax
 * error or overlong key/value. */
int addr_param_next(const char **p, char *key, size_t keylen, char *val,
    size_t vallen);

#endif
