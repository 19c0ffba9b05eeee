/*
 * control.h - the control thread: this node's link to the shared
 * configuration and the node registry.
 *
 * On its own database connection (db_node.h: the name lock is taken on
 * every (re)connect) it LISTENs on postern_config and postern_queue.  A
 * config notification (debounced 50 ms) loads a new snapshot
 * (db_config.h) and hands it to the loop with runtime_publish(); a queue
 * notification wakes the delivery threads.  It refreshes this node's
 * heartbeat every 10 s (or a third of settings.node_timeout), and after a
 * reconnect reloads the snapshot, since notifications were lost meanwhile.
 * While settings.greet_pause_ms is on, every 2 s it syncs the greeting
 * pause's passes (greet.h) with postern.greet_passed on a second
 * connection (db_greet.h; statement_timeout 5 s), and purges expired ones
 * hourly.
 *
 * Promises: control_init() returns within the database connect timeout;
 * control_stop() returns within about a second (one poll) plus the
 * clean-stop statement.
 */
#ifndef POSTERN_CONTROL_H
#define POSTERN_CONTROL_H

/* On the calling thread: connects (taking the name lock), writes the first
 * heartbeat and installs the first snapshot (runtime_install).  Returns 0,
 * EX_TEMPFAIL (database unreachable, or the name held by another process)
 * or EX_CONFIG (the snapshot cannot be loaded). */
int control_init(const char *node);
/* Starts the thread.  0, or -1 when it cannot be created (logged). */
int control_start(void);
/* Stops and joins the thread, marks the clean stop in postern.nodes and
 * closes the connection (releasing the name). */
void control_stop(void);

#endif
