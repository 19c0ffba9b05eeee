/*
 * q_aliases.c - SQL for the Aliases screen.  See q_aliases.h.
 */
#include "console/q_aliases.h"

#include <stdio.h>
#include <string.h>

#include "console/model.h"

int
q_aliases_load(struct db *db, struct q_aliases *out)
{
	PGresult *r;
	int i;

	out->n = 0;
	out->more = 0;
	r = db_query(db, "SELECT coalesce(admin_address, ''), "
	    "recipient_delimiter FROM postern.settings", 0, NULL);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		model_copy_clean(out->admin, db_val(r, 0, 0), sizeof(out->admin));
		model_copy_clean(out->delimiter, db_val(r, 0, 1),
		    sizeof(out->delimiter));
	}
	PQclear(r);
	r = db_query(db, "SELECT source, kind, array_to_string(targets, ', '),"
	    " has_remote FROM postern.alias_list LIMIT 1001", 0, NULL);
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && i < Q_ALIASES_MAX; i++) {
		struct q_alias *a = &out->a[i];
		const char *t = db_val(r, i, 2);

		model_copy_clean(a->source, db_val(r, i, 0), sizeof(a->source));
		model_copy_clean(a->kind, db_val(r, i, 1), sizeof(a->kind));
		model_copy_clean(a->targets, t, sizeof(a->targets));
		if (strlen(t) < sizeof(a->targets_edit))
			model_copy_clean(a->targets_edit, t,
			    sizeof(a->targets_edit));
		else
			a->targets_edit[0] = '\0';
		a->has_remote = model_pg_bool(db_val(r, i, 3));
	}
	out->n = i;
	out->more = PQntuples(r) > Q_ALIASES_MAX;
	PQclear(r);
	return 0;
}

int
q_aliases_add(struct db *db, const char *source, const char *targets)
{
	const char *p[2] = { source, targets };

	return db_exec(db, "SELECT postern.add_alias($1, VARIADIC $2::text[])",
	    2, p);
}

int
q_aliases_replace(struct db *db, const char *source, const char *targets)
{
	const char *p[2] = { source, targets };

	if (db_begin(db) == -1)
		return -1;
	if (db_exec(db, "SELECT postern.remove_alias($1)", 1, p) == -1 ||
	    db_exec(db, "SELECT postern.add_alias($1, VARIADIC $2::text[])",
	    2, p) == -1) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db);
}

int
q_aliases_remove(struct db *db, const char *source)
{
	const char *p[1] = { source };

	return db_exec(db, "SELECT postern.remove_alias($1)", 1, p);
}
