/*
 * q_security.c - SQL for the Security screen.  See q_security.h.
 */
#include "console/q_security.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/model.h"

int
q_security_load(struct db *db, struct q_security *out)
{
	PGresult *r;
	int i;

	memset(out, 0, sizeof(*out));
	r = db_query(db, "SELECT allow_starttls, use_starttls_out, (SELECT "
	    "count(*) FROM postern.listeners WHERE enabled AND tls_mode <> "
	    "'none') FROM postern.settings", 0, NULL);
	if (r == NULL)
		return -1;
	out->allow_starttls = model_pg_bool(db_val(r, 0, 0));
	out->use_starttls_out = model_pg_bool(db_val(r, 0, 1));
	out->tls_listeners = atoi(db_val(r, 0, 2));
	PQclear(r);
	r = db_query(db, "SELECT connection, mechs, rule FROM "
	    "postern.auth_policy", 0, NULL);
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		int tls = strcmp(db_val(r, i, 0), "tls") == 0;

		snprintf(tls ? out->mechs_tls : out->mechs_plain,
		    sizeof(out->mechs_tls), "%s", db_val(r, i, 1));
		snprintf(tls ? out->rule_tls : out->rule_plain,
		    sizeof(out->rule_tls), "%s", db_val(r, i, 2));
	}
	PQclear(r);
	return 0;
}

int
q_security_set_starttls(struct db *db, int which, int on)
{
	const char *p[1] = { on ? "true" : "false" };

	return db_exec(db, which == 0 ?
	    "SELECT postern.set_starttls_in($1::boolean)" :
	    "SELECT postern.set_starttls_out($1::boolean)", 1, p);
}

int
q_security_set_auth(struct db *db, const char *connection, const char *mechs)
{
	const char *p[2] = { connection, mechs };

	return db_exec(db, "SELECT postern.set_auth($1, $2::text[])", 2, p);
}
