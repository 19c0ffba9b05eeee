/*
 * server.h - the event loop, listeners, worker pool and live reload.
 *
 * One thread runs an epoll loop: it accepts connections on every listener
 * of the current configuration snapshot, hands connections that became
 * readable/writable (EPOLLONESHOT) or whose deadline passed to a pool of
 * worker threads, and applies new snapshots published by the config thread
 * (listeners opened or closed, TLS contexts swapped) without a restart.
 * Blocking work - SQL, password hashing - never runs on the loop.
 *
 * server_run() blocks until SIGINT/SIGTERM, then stops accepting, lets the
 * committer answer every message it holds, and returns 0.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

struct server_opts {
	const char *conninfo;
	const char *node;
};

/* Returns 0 after a clean stop, or an EX_* code when start-up failed. */
int server_run(const struct server_opts *o);

#include <stdint.h>

/* A new 64-bit queue id, unique across the nodes of one database. */
uint64_t server_new_queue_id(void);

/* This node's name (from the bootstrap file). */
const char *server_node(void);

struct config;
/* The current configuration snapshot, with a reference the caller drops
 * with config_unref().  Any thread. */
struct config *server_config(void);

#endif
