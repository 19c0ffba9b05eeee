/*
 * runtime.h - what the code below the event loop may ask of the running
 * daemon, and nothing more (docs/architecture.md, "Threads and data
 * flow").  conn.c, delivery.c and the control thread include this header,
 * never server.h, so no module calls back up into the loop except through
 * these functions:
 *
 *   the current configuration snapshot   runtime_config()  (a reference)
 *   this node's name                     runtime_node()
 *   a new snapshot for the loop          runtime_publish() (control thread)
 *   the loop's services to the worker    server_arm() ... server_close()
 *     that owns a conn (conn.h states)   (implemented by server.c)
 *
 * The snapshot pointer and the node name live in runtime.c, not in the
 * loop: the control thread hands a snapshot over with runtime_publish(),
 * which wakes the loop through the function the loop registered; the loop
 * installs it with runtime_take_pending() + runtime_install() and
 * reconciles its listeners.
 *
 * Promises: every function here is safe from any thread; none blocks
 * except on a leaf mutex.
 */
#ifndef POSTERN_RUNTIME_H
#define POSTERN_RUNTIME_H

#include <stdint.h>

struct config;
struct conn;

/* Once, before any other thread starts.  node is copied. */
void runtime_init(const char *node);
const char *runtime_node(void);

/* The current snapshot with a reference the caller drops with
 * config_unref(), or NULL before the first one is installed. */
struct config *runtime_config(void);

/* Control thread: hand a new snapshot (its reference moves) to the loop.
 * A snapshot published earlier and not yet taken is dropped. */
void runtime_publish(struct config *c);
/* The loop: how runtime_publish() wakes it (async-signal-safe not
 * required; called from the control thread). */
void runtime_set_waker(void (*wake)(void));
/* The loop: the published snapshot (its reference moves), or NULL. */
struct config *runtime_take_pending(void);
/* The loop: make c (its reference moves) current; the previous one is
 * dropped.  At shutdown runtime_install(NULL) drops the last one. */
void runtime_install(struct config *c);

/*
 * The loop's services to the worker that owns conn c (conn.h explains the
 * states).  Implemented by server.c.
 */
/* BUSY -> ARMED: wait in epoll for input (or output when want_write),
 * with the session's idle deadline. */
void server_arm(struct conn *c, int want_write);
/* BUSY -> PARKED until server_unpark() or, when until != 0, until that
 * monotonic millisecond. */
void server_park(struct conn *c, int64_t until);
/* PARKED -> BUSY, queued for a worker (CONN_EV_RESUME). */
void server_unpark(struct conn *c);
/* Still BUSY: back on the worker queue behind the others. */
void server_requeue(struct conn *c);
/* Logs the disconnect, releases the limits and frees c. */
void server_close(struct conn *c, const char *reason);

#endif
