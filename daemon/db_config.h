/*
 * db_config.h - reads the configuration snapshot from PostgreSQL (the
 * statement module of the snapshot; config.h builds and holds it).
 *
 * One load is one REPEATABLE READ READ ONLY transaction: schema version,
 * settings, this node's enabled listeners, domains, accounts, aliases and the
 * enabled rules with their conditions and actions, so the snapshot is
 * consistent.  Blocking; runs on the control thread (and in --explain).
 */
#ifndef POSTERN_DB_CONFIG_H
#define POSTERN_DB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct db;

/* A connection role for a process that only reads the snapshot
 * (posternd --explain). */
extern const struct db_role db_config_role;

/* Loads a snapshot for node over d.  Returns it with refcount 1, or NULL
 * with a readable reason in err (the database unreachable, a query
 * failed, or the snapshot did not validate). */
struct config *db_config_load(struct db *d, const char *node,
    uint64_t generation, char *err, size_t errlen);

#endif
