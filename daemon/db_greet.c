/*
 * db_greet.c - postern.greet_passed statements.  See db_greet.h.
 *
 * greet_load returns each recent pass with the milliseconds left before it
 * expires, computed by the database from its own clock, so the node's
 * clock (monotonic, greet.h) never meets the database's.
 */
#include "daemon/db_greet.h"

#include <stdio.h>
#include <stdlib.h>

#include "daemon/db.h"
#include "daemon/greet.h"
#include "daemon/log.h"
#include "daemon/util.h"

#define GREET_LOAD_MAX "100000"

static const struct db_stmt greet_stmts[] = {
	/* One round trip per batch of passes, not one per address. */
	{ "greet_pass", "SELECT postern.greet_pass(a) FROM "
	    "unnest($1::inet[]) AS a", 1 },
	{ "greet_load", "SELECT host(client_addr), (extract(epoch FROM "
	    "passed_at - now()) * 1000)::bigint + $2::bigint * 1000 "
	    "FROM postern.greet_passed WHERE passed_at > now() - "
	    "make_interval(secs => $1::integer) ORDER BY passed_at DESC "
	    "LIMIT " GREET_LOAD_MAX, 2 },
	{ "greet_purge", "SELECT postern.greet_purge()", 0 },
};

static const struct db_role greet_role = {
	.name = "greet",
	.statement_timeout_ms = 5000,
	.backoff_min_ms = 1000,
	.backoff_max_ms = 10000,
	.stmts = greet_stmts,
	.nstmts = sizeof(greet_stmts) / sizeof(greet_stmts[0]),
};

struct db *
db_greet_open(void)
{
	return db_open(&greet_role, NULL);
}

/* 0 when r is a result of the wanted status (then cleared), else -1. */
static int
done(PGresult *r, ExecStatusType want, const char *what)
{
	int ok;

	if (r == NULL)
		return -1;	/* connection failure, logged by db.c */
	ok = PQresultStatus(r) == want;
	if (!ok)
		log_warnx("greet: %s failed: %s", what,
		    PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

int
db_greet_sync(struct db *d, int lookback_s, int ttl_s)
{
	char batch[64][GREET_ADDR_MAX], lb[16], ttl[16];
	char arr[64 * (GREET_ADDR_MAX + 3) + 3];
	const char *params[2];
	PGresult *r;
	size_t n, i, o;
	int64_t now;
	int row;

	if (db_get(d) == NULL)
		return -1;
	/* Bounded: GREET_PENDING / 64 rounds at most.  Addresses are inet
	 * text (digits, hex, '.', ':'), quoted as array elements anyway. */
	while ((n = greet_take_pending(batch, 64)) > 0) {
		o = 0;
		arr[o++] = '{';
		for (i = 0; i < n; i++)
			o += (size_t)snprintf(arr + o, sizeof(arr) - o, "%s\"%s\"",
			    i > 0 ? "," : "", batch[i]);
		arr[o++] = '}';
		arr[o] = '\0';
		params[0] = arr;
		if (done(db_exec_prepared(d, "greet_pass", 1, params),
		    PGRES_TUPLES_OK, "recording passes") == -1)
			return -1;
	}
	snprintf(lb, sizeof(lb), "%d", lookback_s);
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	params[0] = lb;
	params[1] = ttl;
	r = db_exec_prepared(d, "greet_load", 2, params);
	if (r == NULL)
		return -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("greet: loading passes failed: %s",
		    PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	now = now_ms();
	for (row = 0; row < PQntuples(r); row++) {
		long long left = strtoll(PQgetvalue(r, row, 1), NULL, 10);

		if (left > 0)
			greet_learn(PQgetvalue(r, row, 0), now + left);
	}
	PQclear(r);
	return 0;
}

void
db_greet_purge(struct db *d)
{
	if (db_get(d) == NULL)
		return;
	(void)done(db_exec_prepared(d, "greet_purge", 0, NULL),
	    PGRES_TUPLES_OK, "purging expired passes");
}
