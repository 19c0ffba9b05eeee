/*
 * greet.h - the greeting pause's memory: client addresses that waited for
 * the 220 without talking early (postscreen's "pregreet" test), in memory
 * with an expiry, plus the passes not yet written to the database.
 *
 * The table postern.greet_passed is the shared truth (every node): the
 * control thread writes this node's new passes there and merges the
 * other nodes' recent ones here every GREET_SYNC_MS (daemon/db_greet.c),
 * so a worker consults memory only and a connection costs no query.
 *
 * Bounded: GREET_SLOTS addresses (open addressing, GREET_PROBE slots per
 * look-up; a full window drops the entry that expires first, which at
 * worst makes that client wait once more) and GREET_PENDING passes
 * waiting to be written (more are dropped from the shared table only).
 * Thread-safe (one leaf mutex).
 */
#ifndef POSTERN_GREET_H
#define POSTERN_GREET_H

#include <stddef.h>
#include <stdint.h>

#define GREET_SLOTS 16384
#define GREET_PROBE 16
#define GREET_PENDING 1024
#define GREET_ADDR_MAX 64
#define GREET_SYNC_MS 2000

/* 1 when addr passed and its pass has not expired at now (ms). */
int greet_known(const char *addr, int64_t now);
/* addr passed now: remembered until now + ttl_ms and queued for the
 * database. */
void greet_pass(const char *addr, int64_t now, int64_t ttl_ms);
/* Remembers a pass learnt from the database (expires at the given ms). */
void greet_learn(const char *addr, int64_t expires);
/* Moves up to max queued passes into out; returns how many. */
size_t greet_take_pending(char (*out)[GREET_ADDR_MAX], size_t max);
/* Forgets everything (tests). */
void greet_reset(void);

#endif
