/*
 * server.h - the event loop, listeners and worker pool: posternd's top.
 *
 * One thread runs an epoll loop: it accepts connections on every listener
 * of the current configuration snapshot, hands connections that became
 * readable/writable (EPOLLONESHOT) or whose deadline passed to a pool of
 * worker threads, and installs new snapshots published by the control
 * thread (control.h; listeners opened or closed, TLS contexts swapped)
 * without a restart.  Blocking work - SQL, password hashing - never runs on
 * the loop.  Nothing below the loop includes this header: they use
 * runtime.h.
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


#endif
