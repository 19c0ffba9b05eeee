/*
 * q_rules.c - SQL for the Rules screen.  See q_rules.h.
 *
 * All values go to the server as parameters.  The statements are the
 * documented functions of migrations 002 and 004 (see
 * docs/sql-reference.md), so what the console does can be repeated line
 * for line in psql.
 */
#include "console/q_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
cpy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

int
q_rules_load(struct db *db, struct q_rules *out)
{
	PGresult *r = db_query(db, "SELECT position, name, enabled, match, "
	    "conditions, actions, description, id FROM postern.rules_overview "
	    "ORDER BY position LIMIT 1000", 0, NULL);
	int i;

	out->n = 0;
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && i < Q_RULES_MAX; i++) {
		struct q_rule *q = &out->rule[i];

		q->position = atoi(db_val(r, i, 0));
		cpy(q->name, sizeof(q->name), db_val(r, i, 1));
		q->enabled = model_pg_bool(db_val(r, i, 2));
		cpy(q->match, sizeof(q->match), db_val(r, i, 3));
		cpy(q->conditions, sizeof(q->conditions), db_val(r, i, 4));
		cpy(q->actions, sizeof(q->actions), db_val(r, i, 5));
		cpy(q->description, sizeof(q->description), db_val(r, i, 6));
		q->id = atoi(db_val(r, i, 7));
	}
	out->n = i;
	PQclear(r);
	return 0;
}

static int
call1(struct db *db, const char *sql, const char *a, const char *b)
{
	const char *p[2] = { a, b };

	return db_exec(db, sql, b ? 2 : 1, p);
}

int
q_rules_up(struct db *db, const char *name)
{
	return call1(db, "SELECT postern.rule_up($1)", name, NULL);
}

int
q_rules_down(struct db *db, const char *name)
{
	return call1(db, "SELECT postern.rule_down($1)", name, NULL);
}

int
q_rules_enable(struct db *db, const char *name, int on)
{
	return call1(db, "SELECT postern.rule_enable($1, $2::boolean)", name,
	    on ? "true" : "false");
}

int
q_rules_delete(struct db *db, const char *name)
{
	return call1(db, "SELECT postern.rule_delete($1)", name, NULL);
}

static PGresult *
rule_rows(struct db *db, const char *sql, const char *name)
{
	const char *p[1] = { name };

	return db_query(db, sql, 1, p);
}

static const char *const q_cond_sql =
    "SELECT negate, kind, op, value FROM postern.rule_conditions "
    "WHERE rule_id = postern.rule_lookup($1) ORDER BY id";
static const char *const q_action_sql =
    "SELECT kind, auth_mechs, reply, reply_code, reply_ecode, reply_text, "
    "relay_host, relay_port, relay_tls, relay_tls_verify, "
    "relay_tls_versions, header_name, header_value "
    "FROM postern.rule_actions WHERE rule_id = postern.rule_lookup($1) "
    "ORDER BY seq, id";

static void
action_of(PGresult *r, int i, struct model_action *a)
{
	a->kind = db_valn(r, i, 0);
	a->auth_mechs = db_valn(r, i, 1);
	a->reply = db_valn(r, i, 2);
	a->reply_code = db_valn(r, i, 3);
	a->reply_ecode = db_valn(r, i, 4);
	a->reply_text = db_valn(r, i, 5);
	a->relay_host = db_valn(r, i, 6);
	a->relay_port = db_valn(r, i, 7);
	a->relay_tls = db_valn(r, i, 8);
	a->relay_tls_verify = db_valn(r, i, 9);
	a->relay_tls_versions = db_valn(r, i, 10);
	a->header_name = db_valn(r, i, 11);
	a->header_value = db_valn(r, i, 12);
}

int
q_rules_get(struct db *db, const char *name, struct q_rule_edit *e)
{
	PGresult *r = NULL;
	struct model_action a;
	int i, rc = -1;

	memset(e, 0, sizeof(*e));
	r = rule_rows(db, "SELECT name, match, description FROM postern.rules "
	    "WHERE id = postern.rule_lookup($1)", name);
	if (r == NULL)
		goto out;
	cpy(e->name, sizeof(e->name), db_val(r, 0, 0));
	cpy(e->match, sizeof(e->match), db_val(r, 0, 1));
	cpy(e->description, sizeof(e->description), db_val(r, 0, 2));
	PQclear(r);
	if ((r = rule_rows(db, q_cond_sql, name)) == NULL)
		goto out;
	if (PQntuples(r) > Q_RULE_LINES) {
		rc = -2;
		goto out;
	}
	for (i = 0; i < PQntuples(r); i++)
		model_cond_format(e->cond[i], sizeof(e->cond[i]),
		    model_pg_bool(db_val(r, i, 0)), db_val(r, i, 1),
		    db_val(r, i, 2), db_val(r, i, 3));
	PQclear(r);
	if ((r = rule_rows(db, q_action_sql, name)) == NULL)
		goto out;
	if (PQntuples(r) > Q_RULE_LINES) {
		rc = -2;
		goto out;
	}
	for (i = 0; i < PQntuples(r); i++) {
		action_of(r, i, &a);
		model_action_format(e->action[i], sizeof(e->action[i]), &a);
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

static int
blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t')
			return 0;
	return 1;
}

int
q_rules_save(struct db *db, const char *old_name, const struct q_rule_edit *e,
    char *err, size_t errlen)
{
	struct model_sql *calls = NULL;
	char what[64], perr[256];
	const char *p[4];
	int ncalls = 0, i, rc = -1;

	calls = calloc(2 * Q_RULE_LINES, sizeof(*calls));
	if (calls == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Local checks first: nothing is sent for a malformed line. */
	for (i = 0; i < Q_RULE_LINES; i++) {
		if (blank(e->cond[i]))
			continue;
		if (model_cond_parse(e->cond[i], e->name, &calls[ncalls],
		    perr, sizeof(perr)) == -1) {
			snprintf(err, errlen, "condition %d: %s", i + 1, perr);
			goto out;
		}
		ncalls++;
	}
	for (i = 0; i < Q_RULE_LINES; i++) {
		if (blank(e->action[i]))
			continue;
		if (model_action_parse(e->action[i], e->name, &calls[ncalls],
		    perr, sizeof(perr)) == -1) {
			snprintf(err, errlen, "action %d: %s", i + 1, perr);
			goto out;
		}
		ncalls++;
	}
	if (db_begin(db) == -1) {
		snprintf(err, errlen, "%s", db->err);
		goto out;
	}
	snprintf(what, sizeof(what), "rule");
	if (old_name == NULL) {
		p[0] = e->name;
		p[1] = e->match[0] ? e->match : "all";
		p[2] = e->position[0] ? e->position : NULL;
		p[3] = e->description;
		if (db_exec(db, "SELECT postern.rule_add($1, "
		    "$2::postern.rule_match, $3::integer, $4)", 4, p) == -1)
			goto fail;
	} else {
		p[0] = old_name;
		p[1] = e->name;
		p[2] = e->match[0] ? e->match : NULL;
		p[3] = e->description;
		if (db_exec(db, "SELECT postern.rule_update($1, $2, "
		    "$3::postern.rule_match, $4)", 4, p) == -1)
			goto fail;
	}
	p[0] = e->name;
	if (db_exec(db, "SELECT postern.rule_clear($1)", 1, p) == -1)
		goto fail;
	for (i = 0; i < ncalls; i++) {
		snprintf(what, sizeof(what), "%s",
		    strstr(calls[i].text, "rule_add_condition") ? "condition" :
		    "action");
		if (db_exec(db, calls[i].text, calls[i].nparams,
		    calls[i].param) == -1)
			goto fail;
	}
	snprintf(what, sizeof(what), "commit");
	if (db_commit(db) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "%s: %s", what, db->err);
	db_rollback(db);
out:
	free(calls);
	return rc;
}

int
q_rules_detail(struct db *db, const char *name, struct model_lines *l)
{
	PGresult *r = NULL;
	struct model_action a;
	char line[MODEL_TEXT_MAX + 64];
	int i, rc = -1;

	model_lines_clear(l);
	r = rule_rows(db, "SELECT name, position, enabled, match, description, "
	    "to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS TZ') FROM postern.rules "
	    "WHERE id = postern.rule_lookup($1)", name);
	if (r == NULL)
		goto out;
	model_lines_addf(l, "Rule         %s", db_val(r, 0, 0));
	model_lines_addf(l, "Position     %s", db_val(r, 0, 1));
	model_lines_addf(l, "Enabled      %s",
	    model_pg_bool(db_val(r, 0, 2)) ? "yes" : "no (ignored)");
	model_lines_addf(l, "Match        %s (%s)", db_val(r, 0, 3),
	    strcmp(db_val(r, 0, 3), "any") == 0 ? "any condition, OR" :
	    "every condition, AND");
	model_lines_addf(l, "Description  %s", db_val(r, 0, 4));
	model_lines_addf(l, "Changed      %s", db_val(r, 0, 5));
	model_lines_add(l, "");
	PQclear(r);
	if ((r = rule_rows(db, q_cond_sql, name)) == NULL)
		goto out;
	model_lines_addf(l, "Conditions (%d)%s", PQntuples(r),
	    PQntuples(r) == 0 ? ": none, the rule always matches" : "");
	for (i = 0; i < PQntuples(r); i++) {
		model_cond_format(line, sizeof(line),
		    model_pg_bool(db_val(r, i, 0)), db_val(r, i, 1),
		    db_val(r, i, 2), db_val(r, i, 3));
		model_lines_addf(l, "  %d. %s", i + 1, line);
	}
	model_lines_add(l, "");
	PQclear(r);
	if ((r = rule_rows(db, q_action_sql, name)) == NULL)
		goto out;
	model_lines_addf(l, "Actions (%d)%s", PQntuples(r),
	    PQntuples(r) == 0 ? ": none" : "");
	for (i = 0; i < PQntuples(r); i++) {
		action_of(r, i, &a);
		model_action_format(line, sizeof(line), &a);
		model_lines_addf(l, "  %d. %s", i + 1, line);
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}
