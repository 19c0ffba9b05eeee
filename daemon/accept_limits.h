/*
 * accept_limits.h - the accept policy: how many connections the daemon,
 * one listener and one client address may hold (settings.max_connections,
 * listeners.max_connections, settings.max_connections_per_ip).
 *
 * Pure bookkeeping, no I/O: the loop asks accept_limits_admit() for each
 * accepted socket and, when admitted, the connection's close calls
 * accept_limits_release() once with the same listener counter and address.
 * Admission is checked on the loop thread; release may run on any thread
 * (the counters are atomic, the per-address table has its own leaf lock).
 *
 * Promises:
 *   - A refused connection leaves every count as it was.
 *   - The checks run in this order and the first that fails names the
 *     verdict: daemon total, listener, client address.
 *   - The per-address table holds one entry per address with a live
 *     connection (so it is bounded by the connection limit) and frees the
 *     entry when its count drops to 0.
 */
#ifndef POSTERN_ACCEPT_LIMITS_H
#define POSTERN_ACCEPT_LIMITS_H

#include <stdatomic.h>

enum accept_verdict {
	ACCEPT_OK,
	ACCEPT_FULL,		/* settings.max_connections */
	ACCEPT_LISTENER_FULL,	/* listeners.max_connections */
	ACCEPT_IP_FULL		/* settings.max_connections_per_ip */
};

struct accept_max {
	int total;
	int listener;
	int per_ip;
};

struct accept_limits;

/* Never NULL (allocation failure is fatal, like every xcalloc). */
struct accept_limits *accept_limits_new(void);
void accept_limits_free(struct accept_limits *al);

/* Counts the connection from ip on the listener whose counter is
 * listener_n and returns ACCEPT_OK, or counts nothing and says which limit
 * it would pass. */
enum accept_verdict accept_limits_admit(struct accept_limits *al,
    atomic_int *listener_n, const char *ip, const struct accept_max *max);
void accept_limits_release(struct accept_limits *al, atomic_int *listener_n,
    const char *ip);

/* How many connections a descriptor limit (RLIMIT_NOFILE, nofile) leaves
 * room for once reserve descriptors are kept for everything else
 * (listeners, database connections, delivery, epoll): each connection
 * may hold two (its socket and its spooled body).  At least 1. */
int accept_limits_fd_budget(long nofile, int reserve);

/* Connections held now (daemon-wide; from one address). */
int accept_limits_total(struct accept_limits *al);
int accept_limits_from(struct accept_limits *al, const char *ip);

/* The reason shown to the client and in the log. */
const char *accept_verdict_text(enum accept_verdict v);

#endif
