/*
 * db_node.h - this node in the shared database: the node registry
 * (postern.nodes heartbeat and clean-stop marker), the name lock, and the
 * cluster-wide AUTH throttle (postern.auth_penalty / auth_failed).
 *
 * The name lock is a session-level advisory lock on the control
 * connection (hashtext('postern node ' || name)): PostgreSQL releases it
 * when the process dies, and it is taken again on every reconnect of that
 * connection (before the connection is used), so two live processes never
 * run under one name.  Holding it, the hook registers the node
 * (postern.node_register): a node number unique among the nodes, which
 * goes into every queue id (daemon/queue_id.h), and an incarnation, which
 * goes into every lease token (daemon/delivery.c).
 *
 * AUTH throttle statements run from worker threads over a small pool of
 * connections (statement_timeout 5 s, so a slow database costs a worker at
 * most that); the authenticator's threads (authenticator.h) run them and
 * wait at most 1 s for a free one.  A throttle that cannot be read fails
 * closed: AUTH is refused (454 4.7.0) until it can be read again.
 */
#ifndef POSTERN_DB_NODE_H
#define POSTERN_DB_NODE_H

#include <stdint.h>

struct db;

/* The control connection for node: LISTEN postern_config and
 * postern_queue, the node statements, and the name lock taken on every
 * (re)connect.  db_get() on it returns NULL while another live process
 * holds the name (logged, naming that process). */
struct db *db_node_open_control(const char *node);
/* 1 when the last connect attempt was refused because the name is held by
 * another process. */
int db_node_name_taken(const struct db *control);
/* This node's number (postern.nodes.node_no, 0..127, unique among the
 * nodes of the database) and incarnation (counts the starts under this
 * name), from postern.node_register on the first connect of the control
 * connection; fatalx() before that. */
int db_node_number(void);
int64_t db_node_incarnation(void);

/* Upserts this node's row in postern.nodes; first marks a (re)start.
 * Failures are logged. */
void db_node_heartbeat(struct db *control, const char *node, int first);
/* Marks a clean stop (stopped_at) in postern.nodes. */
void db_node_stopped(struct db *control, const char *node);

/* AUTH throttle pool of size connections (opened lazily). */
void db_node_auth_init(int size);
/* peer is the client's throttle key (client_key.h).  0 = go on, n > 0 =
 * answer after n seconds, -1 = refuse (too many recent failures from
 * peer), -2 = the counter cannot be read (no connection, an error, a
 * timeout; logged with the session id sid): the caller refuses too. */
int db_node_auth_penalty(const char *peer, uint64_t sid);
/* Records one failed AUTH from peer for user on node (postern.auth_failed). */
void db_node_auth_failed(const char *peer, const char *user, const char *node,
    uint64_t sid);
void db_node_auth_close(void);

#endif
