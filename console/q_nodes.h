/*
 * q_nodes.h - SQL for the Nodes screen: the view postern.nodes_status
 * (every running daemon keeps its row up to date with a heartbeat; the
 * view says up, down or stopped, and how many recipients it leases).
 * Read only.
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
	char status[16];	/* up, down, stopped */
	long long leased;	/* recipients leased now */
};

struct q_nodes {
	int n;
	struct q_node node[Q_NODES_MAX];
};

int q_nodes_load(struct db *db, struct q_nodes *out);

#endif
