/*
 * postern - the database schema version this checkout's programs expect.
 *
 * The one place that says it: posternd (daemon/config.h) and postern-console
 * (console/main.c) both require postern.schema_version.version to be at least
 * this.  sql/schema.sql must insert the same number and the highest
 * sql/migrations/NNN_*.sql must be NNN = this;
 * tests/integration/test_schema.py checks that the three agree.  A new schema
 * change: add sql/migrations/NNN_name.sql, change sql/schema.sql to match,
 * raise this number.
 */
#ifndef POSTERN_SCHEMA_VERSION_H
#define POSTERN_SCHEMA_VERSION_H

#define POSTERN_SCHEMA_VERSION 10

#endif
