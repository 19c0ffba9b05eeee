/*
 * db_greet.h - the shared memory of the greeting pause in SQL
 * (postern.greet_passed, postern.greet_pass / greet_purge).
 *
 * Used by the control thread only (never by the event loop or a worker):
 * its own connection (role "greet", statement_timeout 5 s) with prepared
 * statements.  Failures are logged and retried at the next sync; the
 * in-memory set (greet.h) keeps working meanwhile.
 */
#ifndef POSTERN_DB_GREET_H
#define POSTERN_DB_GREET_H

#include <stdint.h>

struct db;

struct db *db_greet_open(void);
/* Writes the passes queued in greet.h, then merges into it the passes of
 * the last lookback_s seconds (every node's) that are still within ttl_s.
 * Returns 0, or -1 when the database could not be used. */
int db_greet_sync(struct db *d, int lookback_s, int ttl_s);
/* Deletes expired rows (postern.greet_purge). */
void db_greet_purge(struct db *d);

#endif
