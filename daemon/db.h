/*
 * db.h - the database layer: the one module that owns PostgreSQL
 * connections (docs/architecture.md, "Database layer").
 *
 * A struct db is one PGconn used by one thread at a time (libpq's rule).
 * db.c owns everything about that connection: the conninfo (with
 * connect_timeout and TCP keepalives added unless the admin set them),
 * statement_timeout, the reconnect backoff (doubling from the role's
 * minimum to its maximum, reset by a successful connect), registration of
 * the role's prepared statements on every (re)connect, and LISTEN for the
 * role's channels on every (re)connect.
 *
 * Statement modules (db_store.c: accept-path writes; db_queue.c: queue
 * claim, outcome and lease; db_config.c: the configuration snapshot;
 * db_node.c: node registry, heartbeat, name lock, AUTH throttle) sit on
 * top and are the only other files that call libpq.  Nothing else in
 * daemon/ includes <libpq-fe.h>; `make lint` checks that.
 *
 * Promises:
 *   - db_get() never blocks longer than connect_timeout, and returns NULL
 *     at once while the backoff since the last failure has not passed.
 *   - After db_get() returns a connection, every statement of the role is
 *     prepared on it and every channel is LISTENed.
 *   - db_failed() is how a statement module reports a broken connection:
 *     the next db_get() reconnects (after the backoff).
 */
#ifndef POSTERN_DB_H
#define POSTERN_DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* A statement prepared on every (re)connect of a role. */
struct db_stmt {
	const char *name;
	const char *sql;
	int nparams;
};

/* What one kind of connection is for.  Statement modules define these
 * as static const tables. */
struct db_role {
	const char *name;		/* "committer", "delivery", ... (logs) */
	int statement_timeout_ms;	/* 0 = server default */
	int backoff_min_ms;		/* first retry delay after a failure */
	int backoff_max_ms;		/* the delay doubles up to this */
	const struct db_stmt *stmts;	/* prepared on every (re)connect */
	size_t nstmts;
	const char *const *listen;	/* channels LISTENed on every (re)connect */
	size_t nlisten;
	/* Optional, run after the statements are prepared and the channels
	 * LISTENed on every (re)connect (e.g. taking the node's name lock).
	 * Returns 0, or -1 to refuse the connection (closed, backoff). */
	int (*on_connect)(PGconn *conn, void *arg);
};

struct db;

/* Sets the conninfo every connection uses (from the bootstrap file).
 * Call once before any db_open(). */
void db_set_conninfo(const char *conninfo);
const char *db_conninfo(void);

/* A handle for one thread; does not connect yet.  Never NULL.  arg is
 * passed to role->on_connect. */
struct db *db_open(const struct db_role *role, void *arg);
/* The connected PGconn, connecting first when needed; NULL while the
 * database is unreachable (logged once per outage) or during backoff. */
PGconn *db_get(struct db *d);
/* The connection broke (a statement module saw PQstatus != OK or a
 * connection-level error): close it; the next db_get() reconnects. */
void db_failed(struct db *d);
/* 1 when a connection is open right now (no connect attempt). */
int db_connected(const struct db *d);
/* The socket to poll for notifications, or -1 when not connected. */
int db_socket(const struct db *d);
/* Delivers each pending notification's channel name to fn; consumes input
 * first.  Returns the number delivered, -1 when the connection broke
 * (already reported with db_failed()). */
int db_notifications(struct db *d, void (*fn)(void *arg, const char *channel),
    void *arg);
void db_close(struct db *d);

/* Runs a prepared statement of the role: text parameters, text results.
 * NULL on a connection failure (db_failed() already called) or when not
 * connected; otherwise the result, which the caller checks and PQclear()s. */
PGresult *db_exec_prepared(struct db *d, const char *stmt, int nparams,
    const char *const *values);

#endif
