/*
 * db_store.h - the accept path's statements (a statement module over
 * db.h): writing accepted messages into the queue.
 *
 * db_store_batch() writes a batch of store requests - messages, bodies,
 * recipients with their routes - with ONE prepared statement whose
 * parameters are binary arrays (pgarr.h), in autocommit: one transaction,
 * one round trip, whatever the batch size.
 *
 * Promises: it returns 0 only when the statement returned
 * PGRES_COMMAND_OK, i.e. the transaction committed and every message of
 * the batch is durable; otherwise a negative value and nothing of the
 * batch is stored
 * (a lost connection after COMMIT was sent is the one exception: the
 * batch may be stored although -1 came back; the clients retry, so a
 * message can be duplicated, never lost).  A broken connection is reported
 * to the database layer (db_failed), which reconnects with its backoff.
 */
#ifndef POSTERN_DB_STORE_H
#define POSTERN_DB_STORE_H

#include <stddef.h>

#include "daemon/store_request.h"

struct db;

/* A committer connection (db.h role "committer": the store statement,
 * statement_timeout 30 s so a hung database turns into 451s, not sessions
 * parked forever; reconnect backoff 0.1 s doubling to 5 s).  It connects
 * on first use, with the database layer's conninfo (db_set_conninfo). */
struct db *db_store_open(void);
/* Connects now if not connected (so the first message does not wait). */
void db_store_warm(struct db *d);
void db_store_close(struct db *d);

/* Stores reqs[0..n) for node.  who names the caller in logs.  Returns
 * DB_STORE_OK when committed; DB_STORE_REFUSED when the database refused
 * the data (SQLSTATE class 22 data exception or 23 integrity constraint
 * violation: one message of the batch may be the cause, so the caller
 * may store them one by one); DB_STORE_FAILED otherwise (no connection,
 * timeout, spool unreadable).  Failures are logged. */
#define DB_STORE_OK		0
#define DB_STORE_FAILED		(-1)
#define DB_STORE_REFUSED	(-2)
int db_store_batch(struct db *d, const char *node,
    struct store_request *const *reqs, size_t n, const char *who);

#endif
