/*
 * alias.h - alias expansion of a local recipient over the configuration
 * snapshot (pure: no I/O, no locks; config.h holds the aliases).
 *
 * alias_expand() turns the recipient a client gave at RCPT into the
 * addresses to store.  For an address in a local domain, the first of
 * these that exists decides:
 *   1. an alias of the exact address (postern.aliases);
 *   2. an account of the exact address;
 *   3. with settings.recipient_delimiter, "user+tag@domain" tried as
 *      "user@domain": its alias, then its account;
 *   4. the domain's catch-all alias "@domain";
 *   5. postmaster@domain (any case, RFC 5321 4.5.1): settings.admin_address
 *      when set, else the address itself.
 * Bare "postmaster" goes to settings.admin_address when set, else is kept.
 * An alias's targets are expanded the same way; a target in another
 * domain is final (relayed: the admin's alias grants it).  A target equal
 * to the alias itself means that address's own mailbox (alice -> alice,
 * bob keeps a copy), so that is not a loop.
 *
 * Guarantees: at most ALIAS_DEPTH_MAX alias levels; an address met again
 * on its own expansion path is a loop; at most ALIAS_VISITS_MAX addresses
 * are looked at; the targets are unique (case-insensitively) and at most
 * max of them.  A disabled or missing account is unknown.
 */
#ifndef POSTERN_ALIAS_H
#define POSTERN_ALIAS_H

#include <stddef.h>

#include "daemon/addr.h"
#include "daemon/config.h"

#define ALIAS_DEPTH_MAX 8
#define ALIAS_VISITS_MAX 1024

enum alias_status {
	ALIAS_OK,
	ALIAS_UNKNOWN,		/* no account, alias or catch-all */
	ALIAS_LOOP,		/* an alias reaches itself */
	ALIAS_TOO_DEEP,		/* more than ALIAS_DEPTH_MAX levels */
	ALIAS_TOO_MANY,		/* more than max targets (or visits) */
	ALIAS_BAD_TARGET,	/* a stored target that is not an address */
};

struct alias_result {
	enum alias_status status;
	struct addr *targets;	/* n unique addresses (xcalloc; free()) */
	size_t n;
	int expanded;		/* 1 if an alias or the delimiter was used */
	char where[ADDR_MAX + 1];	/* !OK: the address it happened at */
};

/* Expands rcpt (as parsed from RCPT: domain lower-case, local part as
 * typed) into r, at most max targets.  Returns r->status; r->targets is
 * allocated (and holds r->n addresses) whatever the status, so the caller
 * always frees it. */
enum alias_status alias_expand(const struct config *c, const struct addr *rcpt,
    size_t max, struct alias_result *r);

/* 1 if mail to address (lower-case, local domain) reaches account
 * (lower-case) through aliases: for sender checks ("which aliases may
 * account X use").  An account always reaches itself. */
int alias_reaches(const struct config *c, const char *address,
    const char *account);

#endif
