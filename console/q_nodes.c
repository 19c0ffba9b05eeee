/*
 * q_nodes.c - SQL for the Nodes screen.  See q_nodes.h.
 */
#include "console/q_nodes.h"

#include <stdlib.h>

#include "console/model.h"

int
q_nodes_load(struct db *db, struct q_nodes *out)
{
	PGresult *r = db_query(db, "SELECT name, coalesce(host, ''), "
	    "coalesce(pid::text, ''), coalesce(version, ''), "
	    "coalesce(to_char(started_at, 'MM-DD HH24:MI'), ''), "
	    "coalesce(floor(extract(epoch FROM now() - heartbeat_at))::bigint, "
	    "-1), coalesce(floor(extract(epoch FROM now() - started_at))"
	    "::bigint, -1), status, leased FROM postern.nodes_status"
	    " ORDER BY name LIMIT 128",
	    0, NULL);
	int i;

	out->n = 0;
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && i < Q_NODES_MAX; i++) {
		struct q_node *n = &out->node[i];

		model_copy_clean(n->name, db_val(r, i, 0), sizeof(n->name));
		model_copy_clean(n->host, db_val(r, i, 1), sizeof(n->host));
		model_copy_clean(n->pid, db_val(r, i, 2), sizeof(n->pid));
		model_copy_clean(n->version, db_val(r, i, 3),
		    sizeof(n->version));
		model_copy_clean(n->started, db_val(r, i, 4),
		    sizeof(n->started));
		n->heartbeat_age = atoll(db_val(r, i, 5));
		n->uptime = atoll(db_val(r, i, 6));
		model_copy_clean(n->status, db_val(r, i, 7), sizeof(n->status));
		n->leased = atoll(db_val(r, i, 8));
	}
	out->n = i;
	PQclear(r);
	return 0;
}
