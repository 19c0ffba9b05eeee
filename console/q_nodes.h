/*
 * q_nodes.h - SQL for the Nodes screen: the rows of postern.nodes, which
 * every running daemon keeps up to date with a heartbeat.  Read only.
 *
 * Returns 0 or -1 with db->err set.
 */
#ifndef POSTERN_CONSOLE_Q_NODES_H
#define POSTERN_CONSOLE_Q_NODES_H

#include "console/db.h"

#define Q_NODES_MAX 128

struct q_node {
	char name[129], host[256], pid[16], version[64], started[32];
	long long heartbeat_age;	/* seconds; -1 = never */
	long long uptime;		/* seconds; -1 = unknown */
};

struct q_nodes {
	int n;
	struct q_node node[Q_NODES_MAX];
};

int q_nodes_load(struct db *db, struct q_nodes *out);

#endif
