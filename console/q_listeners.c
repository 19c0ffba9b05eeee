/*
 * q_listeners.c - SQL for the Listeners screen.  See q_listeners.h.
 */
#include "console/q_listeners.h"

#include <stdio.h>
#include <string.h>

#include "console/model.h"

static void
cpy(char *dst, size_t n, const char *src)
{
	model_copy_clean(dst, src, n);
}

int
q_listeners_load(struct db *db, struct q_listeners *out)
{
	PGresult *r = db_query(db, "SELECT name, coalesce(node, ''), address, "
	    "port, tls_mode, tls_min_version, tls_max_version, "
	    "coalesce(ciphers, ''), coalesce(dh_file, ''), "
	    "coalesce(cert_file, ''), coalesce(key_file, ''), max_connections, "
	    "enabled FROM postern.listeners ORDER BY port, name LIMIT 128",
	    0, NULL);
	int i;

	out->n = 0;
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && i < Q_LISTENERS_MAX; i++) {
		struct q_listener *l = &out->l[i];

		cpy(l->name, sizeof(l->name), db_val(r, i, 0));
		cpy(l->node, sizeof(l->node), db_val(r, i, 1));
		cpy(l->address, sizeof(l->address), db_val(r, i, 2));
		cpy(l->port, sizeof(l->port), db_val(r, i, 3));
		cpy(l->mode, sizeof(l->mode), db_val(r, i, 4));
		cpy(l->tls_min, sizeof(l->tls_min), db_val(r, i, 5));
		cpy(l->tls_max, sizeof(l->tls_max), db_val(r, i, 6));
		cpy(l->ciphers, sizeof(l->ciphers), db_val(r, i, 7));
		cpy(l->dh_file, sizeof(l->dh_file), db_val(r, i, 8));
		cpy(l->cert_file, sizeof(l->cert_file), db_val(r, i, 9));
		cpy(l->key_file, sizeof(l->key_file), db_val(r, i, 10));
		cpy(l->max_conn, sizeof(l->max_conn), db_val(r, i, 11));
		l->enabled = model_pg_bool(db_val(r, i, 12));
	}
	out->n = i;
	PQclear(r);
	return 0;
}

int
q_listeners_set_enabled(struct db *db, const char *name, int on)
{
	const char *p[2] = { name, on ? "true" : "false" };

	return db_exec(db, "SELECT postern.listener_set_enabled($1, "
	    "$2::boolean)", 2, p);
}

int
q_listeners_update(struct db *db, const struct q_listener *l)
{
	const char *p[11] = { l->name, l->address, l->port, l->mode,
		l->tls_min, l->tls_max, l->ciphers, l->dh_file, l->cert_file,
		l->key_file, l->max_conn };

	return db_exec(db, "SELECT postern.listener_update($1, $2, "
	    "$3::integer, $4::postern.tls_mode, $5::postern.tls_version, "
	    "$6::postern.tls_version, $7, $8, $9, $10, $11::integer)", 11, p);
}
