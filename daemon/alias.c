/*
 * alias.c - alias expansion over the snapshot.  See alias.h.
 *
 * A depth-first walk: resolve() decides one address (the order in
 * alias.h), expand() walks an alias's targets with the alias on the path.
 * The path (at most ALIAS_DEPTH_MAX names) finds loops; the visit counter
 * bounds the work whatever the fan-out; targets grow by doubling up to max.
 * The first failure ends the walk and is kept in the result.
 */
#include "daemon/alias.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/util.h"

struct walk {
	const struct config *c;
	struct alias_result *r;
	size_t max;
	size_t cap;
	size_t visits;
	size_t depth;
	char path[ALIAS_DEPTH_MAX][ADDR_MAX + 1];
};

static int resolve(struct walk *, const char *, int);

static int
fail(struct walk *w, enum alias_status st, const char *where)
{
	if (w->r->status == ALIAS_OK) {
		w->r->status = st;
		str_copy(w->r->where, where, sizeof(w->r->where));
	}
	return -1;
}

/* A final address: stored once. */
static int
add_final(struct walk *w, const char *addr)
{
	struct alias_result *r = w->r;
	struct addr a;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcasecmp(r->targets[i].addr, addr) == 0)
			return 0;
	if (r->n >= w->max)
		return fail(w, ALIAS_TOO_MANY, addr);
	memset(&a, 0, sizeof(a));
	if (strchr(addr, '@') == NULL)
		str_copy(a.addr, addr, sizeof(a.addr));	/* <postmaster> */
	else if (addr_parse_mailbox(addr, strlen(addr), &a) == -1)
		return fail(w, ALIAS_BAD_TARGET, addr);
	if (r->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 4;
		r->targets = xrealloc(r->targets, w->cap * sizeof(*r->targets));
	}
	r->targets[r->n++] = a;
	return 0;
}

/* Walks the targets of name: rows (n of them), or the one target one. */
static int
expand(struct walk *w, const char *name, const struct config_alias *rows,
    size_t n, const char *one)
{
	const char *t;
	size_t i;
	int rc = 0;

	for (i = 0; i < w->depth; i++)
		if (strcmp(w->path[i], name) == 0)
			return fail(w, ALIAS_LOOP, name);
	if (w->depth >= ALIAS_DEPTH_MAX)
		return fail(w, ALIAS_TOO_DEEP, name);
	w->r->expanded = 1;
	str_copy(w->path[w->depth++], name, sizeof(w->path[0]));
	for (i = 0; i < (rows != NULL ? n : 1) && rc == 0; i++) {
		t = rows != NULL ? rows[i].target : one;
		/* alice -> alice means alice's own mailbox. */
		rc = resolve(w, t, strcasecmp(t, name) == 0);
	}
	w->depth--;
	return rc;
}

/* An account decides: enabled, it is final; disabled, it is unknown. */
static int
account(struct walk *w, const struct config_account *a, const char *addr)
{
	if (!a->enabled)
		return fail(w, ALIAS_UNKNOWN, addr);
	return add_final(w, addr);
}

/* Decides one address (as typed, or a stored target).  self: the target
 * of an alias to itself, which is only its account. */
static int
resolve(struct walk *w, const char *addr, int self)
{
	const struct config *c = w->c;
	const struct config_alias *rows;
	const struct config_account *a;
	char lower[ADDR_MAX + 1], base[ADDR_MAX + 1];
	const char *at;
	size_t n, p;

	if (++w->visits > ALIAS_VISITS_MAX)
		return fail(w, ALIAS_TOO_MANY, addr);
	str_copy(lower, addr, sizeof(lower));
	str_lower(lower);
	at = strrchr(lower, '@');
	if (at == NULL) {	/* bare <postmaster> */
		if (c->admin_address[0] != '\0' && !self)
			return expand(w, lower, NULL, 0, c->admin_address);
		return add_final(w, addr);
	}
	if (!config_domain_is_local(c, at + 1))
		return add_final(w, addr);	/* remote: relayed */
	if (!self && (rows = config_aliases(c, lower, &n)) != NULL)
		return expand(w, lower, rows, n, NULL);
	if ((a = config_account(c, lower)) != NULL)
		return account(w, a, addr);
	if (self)
		return fail(w, ALIAS_UNKNOWN, addr);
	/* user+tag@domain: user@domain. */
	for (p = 1; lower + p < at; p++)
		if (strchr(c->recipient_delimiter, lower[p]) != NULL)
			break;
	if (c->recipient_delimiter[0] != '\0' && lower + p < at) {
		memcpy(base, lower, p);
		str_copy(base + p, at, sizeof(base) - p);
		if ((rows = config_aliases(c, base, &n)) != NULL)
			return expand(w, base, rows, n, NULL);
		if ((a = config_account(c, base)) != NULL) {
			w->r->expanded = 1;
			return account(w, a, base);
		}
	}
	if ((rows = config_aliases(c, at, &n)) != NULL)	/* "@domain" */
		return expand(w, lower, rows, n, NULL);
	if ((size_t)(at - lower) == strlen("postmaster") &&
	    strncmp(lower, "postmaster", strlen("postmaster")) == 0) {
		if (c->admin_address[0] != '\0')
			return expand(w, lower, NULL, 0, c->admin_address);
		return add_final(w, addr);
	}
	return fail(w, ALIAS_UNKNOWN, addr);
}

enum alias_status
alias_expand(const struct config *c, const struct addr *rcpt, size_t max,
    struct alias_result *r)
{
	struct walk w;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	w.c = c;
	w.r = r;
	w.max = max;
	(void)resolve(&w, rcpt->addr, 0);
	return r->status;
}

int
alias_reaches(const struct config *c, const char *address,
    const char *account)
{
	struct alias_result r;
	struct addr a;
	size_t i;
	int found = 0;

	if (strcasecmp(address, account) == 0)
		return 1;
	memset(&a, 0, sizeof(a));
	if (addr_parse_mailbox(address, strlen(address), &a) == -1)
		return 0;
	if (alias_expand(c, &a, ALIAS_VISITS_MAX, &r) == ALIAS_OK)
		for (i = 0; i < r.n && !found; i++)
			found = strcasecmp(r.targets[i].addr, account) == 0;
	free(r.targets);
	return found;
}
