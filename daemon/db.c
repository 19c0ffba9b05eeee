/*
 * db.c - the database layer: owns every PGconn of posternd.  See db.h.
 *
 * Connection parameters are given to PQconnectdbParams() as defaults
 * followed by the admin's conninfo (expand_dbname), so anything the admin
 * wrote in the bootstrap file wins over our defaults:
 *   connect_timeout=5, keepalives=1 (idle 30 s, interval 10 s, count 3),
 *   application_name=posternd/<role>.
 * The keepalives turn a database host that vanished (no RST) into a
 * failed connection within about a minute instead of a thread stuck in
 * recv() forever; statement_timeout (per role) bounds a stuck statement.
 */
#include "daemon/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"

struct db {
	const struct db_role *role;
	void *arg;
	PGconn *conn;
	int64_t retry_at;	/* no connect attempt before this (ms) */
	int backoff;		/* the next delay after a failure (ms) */
	int down;		/* an outage was logged and not yet cleared */
};

static char *db_ci;

void
db_set_conninfo(const char *conninfo)
{
	free(db_ci);
	db_ci = xstrdup(conninfo != NULL ? conninfo : "");
}

const char *
db_conninfo(void)
{
	return db_ci != NULL ? db_ci : "";
}

struct db *
db_open(const struct db_role *role, void *arg)
{
	struct db *d = xcalloc(1, sizeof(*d));

	d->role = role;
	d->arg = arg;
	d->backoff = role->backoff_min_ms > 0 ? role->backoff_min_ms : 100;
	return d;
}

static void
schedule_retry(struct db *d)
{
	int max = d->role->backoff_max_ms > 0 ? d->role->backoff_max_ms : 5000;

	d->retry_at = now_ms() + d->backoff;
	d->backoff = d->backoff * 2 > max ? max : d->backoff * 2;
}

static void
fail(struct db *d, const char *what, const char *msg)
{
	char line[300];
	size_t n;

	/* libpq messages end with a newline and may span lines. */
	snprintf(line, sizeof(line), "%s", msg != NULL ? msg : "");
	for (n = 0; line[n] != '\0'; n++)
		if (line[n] == '\n' || line[n] == '\r' || line[n] == '\t')
			line[n] = ' ';
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	if (!d->down)
		log_warnx("db: %s: %s: %s", d->role->name, what, line);
	d->down = 1;
	if (d->conn != NULL)
		PQfinish(d->conn);
	d->conn = NULL;
	schedule_retry(d);
}

static int
run(struct db *d, const char *sql)
{
	PGresult *r = PQexec(d->conn, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fail(d, sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static int
setup(struct db *d)
{
	const struct db_role *ro = d->role;
	char sql[160];
	size_t i;

	if (ro->statement_timeout_ms > 0) {
		snprintf(sql, sizeof(sql), "SET statement_timeout = %d",
		    ro->statement_timeout_ms);
		if (run(d, sql) == -1)
			return -1;
	}
	for (i = 0; i < ro->nstmts; i++) {
		PGresult *r = PQprepare(d->conn, ro->stmts[i].name,
		    ro->stmts[i].sql, ro->stmts[i].nparams, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

		if (!ok) {
			snprintf(sql, sizeof(sql), "prepare %s",
			    ro->stmts[i].name);
			fail(d, sql, PQresultErrorMessage(r));
		}
		PQclear(r);
		if (!ok)
			return -1;
	}
	for (i = 0; i < ro->nlisten; i++) {
		char *id = PQescapeIdentifier(d->conn, ro->listen[i],
		    strlen(ro->listen[i]));

		if (id == NULL) {
			fail(d, "LISTEN", PQerrorMessage(d->conn));
			return -1;
		}
		snprintf(sql, sizeof(sql), "LISTEN %s", id);
		PQfreemem(id);
		if (run(d, sql) == -1)
			return -1;
	}
	if (ro->on_connect != NULL && ro->on_connect(d->conn, d->arg) == -1) {
		/* The hook logged why; no outage message of our own. */
		PQfinish(d->conn);
		d->conn = NULL;
		schedule_retry(d);
		return -1;
	}
	return 0;
}

static int
connect_now(struct db *d)
{
	char app[64];
	const char *kw[] = { "connect_timeout", "keepalives",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "application_name", "dbname", NULL };
	const char *val[] = { "5", "1", "30", "10", "3", app, db_conninfo(),
	    NULL };

	snprintf(app, sizeof(app), "posternd/%s", d->role->name);
	d->conn = PQconnectdbParams(kw, val, 1);
	if (d->conn == NULL) {
		fail(d, "connect", "out of memory");
		return -1;
	}
	if (PQstatus(d->conn) != CONNECTION_OK) {
		fail(d, "connect", PQerrorMessage(d->conn));
		return -1;
	}
	if (setup(d) == -1)
		return -1;
	if (d->down)
		log_info("db: %s: connected again", d->role->name);
	d->down = 0;
	d->backoff = d->role->backoff_min_ms > 0 ? d->role->backoff_min_ms : 100;
	return 0;
}

PGconn *
db_get(struct db *d)
{
	if (d->conn != NULL && PQstatus(d->conn) == CONNECTION_OK)
		return d->conn;
	if (d->conn != NULL) {
		fail(d, "connection lost", PQerrorMessage(d->conn));
		d->retry_at = 0;	/* a lost connection retries at once */
	}
	if (now_ms() < d->retry_at)
		return NULL;
	if (connect_now(d) == -1)
		return NULL;
	return d->conn;
}

void
db_failed(struct db *d)
{
	if (d->conn == NULL)
		return;
	fail(d, "connection failed", PQerrorMessage(d->conn));
}

int
db_connected(const struct db *d)
{
	return d->conn != NULL && PQstatus(d->conn) == CONNECTION_OK;
}

int
db_socket(const struct db *d)
{
	return d->conn != NULL ? PQsocket(d->conn) : -1;
}

int
db_notifications(struct db *d, void (*fn)(void *arg, const char *channel),
    void *arg)
{
	PGnotify *n;
	int count = 0;

	if (d->conn == NULL)
		return -1;
	if (PQconsumeInput(d->conn) == 0) {
		db_failed(d);
		return -1;
	}
	/* Bounded by what libpq has buffered. */
	while ((n = PQnotifies(d->conn)) != NULL) {
		fn(arg, n->relname);
		PQfreemem(n);
		count++;
	}
	return count;
}

void
db_close(struct db *d)
{
	if (d == NULL)
		return;
	if (d->conn != NULL)
		PQfinish(d->conn);
	free(d);
}

PGresult *
db_exec_prepared(struct db *d, const char *stmt, int nparams,
    const char *const *values)
{
	PGresult *r;

	if (db_get(d) == NULL)
		return NULL;
	r = PQexecPrepared(d->conn, stmt, nparams, values, NULL, NULL, 0);
	if (r == NULL || PQstatus(d->conn) != CONNECTION_OK) {
		PQclear(r);
		db_failed(d);
		return NULL;
	}
	return r;
}
