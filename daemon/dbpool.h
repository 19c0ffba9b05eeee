/*
 * dbpool.h - a few shared PostgreSQL connections for short, synchronous
 * queries from worker threads (AUTH throttling today).
 *
 * dbpool_get() hands out an idle connection, connecting lazily, or waits
 * at most wait_ms for one; dbpool_put() returns it, closing it when it is
 * broken so the next user reconnects.  A connection is used by one thread
 * at a time (libpq's rule).  Statements carry statement_timeout = 5 s so a
 * slow database costs a worker at most that.
 */
#ifndef POSTERN_DBPOOL_H
#define POSTERN_DBPOOL_H

#include <libpq-fe.h>

void dbpool_init(const char *conninfo, int size);
/* NULL when the database cannot be reached or none is free in time. */
PGconn *dbpool_get(int wait_ms);
void dbpool_put(PGconn *db);
void dbpool_close(void);

#endif
