/*
 * db.h - the console's one PostgreSQL connection.
 *
 * The console is a pure SQL client: it reads views and tables and changes
 * things only by calling documented postern.* functions.  This module owns
 * the PGconn; the query modules (q_*.c) run their statements through it,
 * always with parameters (PQexecParams), never with values pasted into
 * SQL text.
 *
 * On connect it sets application_name, DateStyle ISO (the queue keyset
 * round-trips timestamps as text), a statement_timeout and lock_timeout
 * (so a blocked query cannot freeze the screen for long), and LISTENs on
 * postern_queue and postern_config.  db_poll() consumes input and counts
 * notifications per channel; the caller waits on db_fd() between keys.
 *
 * Failure semantics: every function that talks to the server returns -1
 * (or NULL) with a one-line message in db->err: the server's primary
 * message, then its DETAIL and HINT, exactly as the database wrote them.
 * WARNINGs and NOTICEs raised by a statement are kept in db->notice.
 * A lost connection is reset once on the next statement (and LISTEN
 * re-issued); if that fails the statement fails with the reason.
 *
 * Thread rules: single-threaded, like the rest of the console.
 */
#ifndef POSTERN_CONSOLE_DB_H
#define POSTERN_CONSOLE_DB_H

#include <stddef.h>

#include <libpq-fe.h>

#define DB_ERR_MAX 1024

struct db {
	PGconn *conn;
	char err[DB_ERR_MAX];		/* last error, one line */
	char notice[DB_ERR_MAX];	/* last WARNING/NOTICE, one line */
	unsigned long queue_events;	/* NOTIFY postern_queue seen */
	unsigned long config_events;	/* NOTIFY postern_config seen */
};

/* Connects with conninfo ("" = libpq environment).  Returns 0, or -1 with
 * db->err set (db->conn may then be non-NULL: call db_close). */
int db_open(struct db *db, const char *conninfo);
void db_close(struct db *db);
/* Socket to wait on for notifications, or -1 when not connected. */
int db_fd(const struct db *db);
/* Reads pending input and counts notifications.  Returns 0, or -1 when
 * the connection is broken (db->err set). */
int db_poll(struct db *db);

/* Runs sql with n text parameters (NULL = SQL NULL).  Returns the result
 * (PGRES_TUPLES_OK or PGRES_COMMAND_OK; PQclear it), or NULL with db->err
 * set.  Clears db->notice first. */
PGresult *db_query(struct db *db, const char *sql, int n,
    const char *const *params);
/* db_query for statements whose result is not needed.  Returns 0 or -1. */
int db_exec(struct db *db, const char *sql, int n, const char *const *params);
int db_begin(struct db *db);
/* COMMIT; returns -1 (db->err) when a deferred constraint refused it. */
int db_commit(struct db *db);
/* ROLLBACK, keeping db->err from the failure that caused it. */
void db_rollback(struct db *db);

/* Value of row, column col; "" for NULL.  Never NULL. */
const char *db_val(const PGresult *r, int row, int col);
/* Value or NULL for SQL NULL. */
const char *db_valn(const PGresult *r, int row, int col);

#endif
