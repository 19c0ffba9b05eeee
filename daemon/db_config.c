/*
 * db_config.c - the configuration snapshot's SQL.  See db_config.h.
 *
 * Every query is parameterised and runs inside BEGIN ISOLATION LEVEL
 * REPEATABLE READ READ ONLY; the transaction always ends with COMMIT (a
 * read-only transaction has nothing to undo).  A connection-level failure
 * is reported to the database layer (db_failed) so the next use
 * reconnects.
 */
#include "daemon/db_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/db.h"
#include "daemon/rules.h"
#include "daemon/util.h"

const struct db_role db_config_role = {
	.name = "config",
	.backoff_min_ms = 500,
	.backoff_max_ms = 5000,
};

static PGresult *
query(PGconn *db, const char *sql, int nparams, const char *const *params,
    char *err, size_t errlen)
{
	PGresult *r = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "configuration query failed: %s",
		    PQresultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
		PQclear(r);
		return NULL;
	}
	return r;
}

static const char *
val(PGresult *r, int row, const char *col)
{
	int c = PQfnumber(r, col);

	if (c < 0 || PQgetisnull(r, row, c))
		return NULL;
	return PQgetvalue(r, row, c);
}

static int
ival(PGresult *r, int row, const char *col)
{
	const char *v = val(r, row, col);

	return v ? atoi(v) : 0;
}

static int
bval(PGresult *r, int row, const char *col)
{
	const char *v = val(r, row, col);

	return v != NULL && *v == 't';
}

static const char *
nz(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int
load_settings(struct config *c, PGconn *db, char *err, size_t errlen,
    PGresult **keep)
{
	PGresult *r = query(db, "SELECT * FROM postern.settings", 0, NULL,
	    err, errlen);
	const char *v;

	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1) {
		snprintf(err, errlen, "postern.settings must hold exactly one "
		    "row (it holds %d)", PQntuples(r));
		PQclear(r);
		return -1;
	}
	config_set_hostname(c, val(r, 0, "hostname"));
	c->allow_starttls = bval(r, 0, "allow_starttls");
	c->use_starttls_out = bval(r, 0, "use_starttls_out");
	v = val(r, 0, "max_message_size");
	c->max_message_size = v ? strtoull(v, NULL, 10) : 0;
	c->max_recipients = (unsigned)ival(r, 0, "max_recipients");
	c->max_errors = (unsigned)ival(r, 0, "max_errors");
	c->max_auth_failures = (unsigned)ival(r, 0, "max_auth_failures");
	c->command_timeout = ival(r, 0, "command_timeout");
	c->data_timeout = ival(r, 0, "data_timeout");
	c->max_connections = ival(r, 0, "max_connections");
	c->max_connections_per_ip = ival(r, 0, "max_connections_per_ip");
	c->worker_threads = ival(r, 0, "worker_threads");
	c->db_connections = ival(r, 0, "db_connections");
	c->delivery_threads = ival(r, 0, "delivery_threads");
	c->delivery_batch = ival(r, 0, "delivery_batch");
	c->lease_seconds = ival(r, 0, "lease_seconds");
	c->retry_initial = ival(r, 0, "retry_initial");
	c->retry_max = ival(r, 0, "retry_max");
	c->queue_lifetime = ival(r, 0, "queue_lifetime");
	v = val(r, 0, "maildir_root");
	str_copy(c->maildir_root, v ? v : "", sizeof(c->maildir_root));
	v = val(r, 0, "dns_servers");
	str_copy(c->dns_servers, v ? v : "", sizeof(c->dns_servers));
	c->smtp_connect_timeout = ival(r, 0, "smtp_connect_timeout");
	c->smtp_command_timeout = ival(r, 0, "smtp_command_timeout");
	c->smtp_data_timeout = ival(r, 0, "smtp_data_timeout");
	c->tls_verify_out = bval(r, 0, "tls_verify_out");
	c->smtp_port_out = ival(r, 0, "smtp_port_out");
	c->node_timeout = ival(r, 0, "node_timeout");
	c->delivery_paused = bval(r, 0, "delivery_paused");
	c->greet_pause_ms = ival(r, 0, "greet_pause_ms");
	c->greet_pass_ttl = ival(r, 0, "greet_pass_ttl");
	c->data_min_rate = ival(r, 0, "data_min_rate");
	c->session_max_lifetime = ival(r, 0, "session_max_lifetime");
	v = val(r, 0, "recipient_delimiter");
	str_copy(c->recipient_delimiter, v ? v : "",
	    sizeof(c->recipient_delimiter));
	v = val(r, 0, "admin_address");
	str_copy(c->admin_address, v ? v : "", sizeof(c->admin_address));
	v = val(r, 0, "bounce_sender_name");
	str_copy(c->bounce_sender_name, v ? v : "MAILER-DAEMON",
	    sizeof(c->bounce_sender_name));
	*keep = r;	/* the default certificate paths point into it */
	return 0;
}

static int
load_listeners(struct config *c, PGconn *db, const char *node,
    PGresult *settings, char *err, size_t errlen)
{
	const char *params[1] = { node };
	const char *dcert = val(settings, 0, "tls_cert_file");
	const char *dkey = val(settings, 0, "tls_key_file");
	PGresult *r = query(db, "SELECT name, address, port, tls_mode::text,"
	    " tls_min_version::text, tls_max_version::text, ciphers, dh_file,"
	    " cert_file, key_file, max_connections, role::text, greet_pause"
	    " FROM postern.listeners"
	    " WHERE enabled AND (node IS NULL OR node = $1) ORDER BY name",
	    1, params, err, errlen);
	int i, n;

	if (r == NULL)
		return -1;
	n = PQntuples(r);
	c->listeners = xcalloc((size_t)n + 1, sizeof(*c->listeners));
	for (i = 0; i < n; i++) {
		struct config_listener_row row;

		memset(&row, 0, sizeof(row));
		row.name = val(r, i, "name");
		row.address = val(r, i, "address");
		row.port = ival(r, i, "port");
		row.tls_mode = val(r, i, "tls_mode");
		row.tls_min_version = val(r, i, "tls_min_version");
		row.tls_max_version = val(r, i, "tls_max_version");
		row.ciphers = val(r, i, "ciphers");
		row.dh_file = val(r, i, "dh_file");
		row.cert_file = val(r, i, "cert_file");
		row.key_file = val(r, i, "key_file");
		row.max_connections = ival(r, i, "max_connections");
		row.role = val(r, i, "role");
		row.greet_pause = bval(r, i, "greet_pause");
		/* Counted first: a listener that fails is freed with the
		 * snapshot (its tls is NULL). */
		if (config_listener_build(&c->listeners[c->nlisteners++], &row,
		    dcert, dkey, err, errlen) == -1) {
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return 0;
}

static int
load_domains(struct config *c, PGconn *db, char *err, size_t errlen)
{
	PGresult *r = query(db, "SELECT lower(name) FROM postern.domains", 0,
	    NULL, err, errlen);
	int i, n;

	if (r == NULL)
		return -1;
	n = PQntuples(r);
	c->domains = xcalloc((size_t)n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		c->domains[c->ndomains++] = xstrdup(PQgetvalue(r, i, 0));
	PQclear(r);
	return 0;
}

static int
load_accounts(struct config *c, PGconn *db, char *err, size_t errlen)
{
	PGresult *r = query(db, "SELECT lower(address), password_hash, enabled"
	    " FROM postern.accounts", 0, NULL, err, errlen);
	int i, n;

	if (r == NULL)
		return -1;
	n = PQntuples(r);
	c->accounts = xcalloc((size_t)n + 1, sizeof(*c->accounts));
	for (i = 0; i < n; i++) {
		struct config_account *a = &c->accounts[c->naccounts++];

		a->address = xstrdup(PQgetvalue(r, i, 0));
		a->hash = PQgetisnull(r, i, 1) ? NULL :
		    xstrdup(PQgetvalue(r, i, 1));
		a->enabled = PQgetvalue(r, i, 2)[0] == 't';
	}
	PQclear(r);
	return 0;
}

static int
load_aliases(struct config *c, PGconn *db, char *err, size_t errlen)
{
	PGresult *r = query(db, "SELECT lower(source), lower(target)"
	    " FROM postern.aliases", 0, NULL, err, errlen);
	int i, n;

	if (r == NULL)
		return -1;
	n = PQntuples(r);
	c->aliases = xcalloc((size_t)n + 1, sizeof(*c->aliases));
	for (i = 0; i < n; i++) {
		struct config_alias *a = &c->aliases[c->naliases++];

		a->source = xstrdup(PQgetvalue(r, i, 0));
		a->target = xstrdup(PQgetvalue(r, i, 1));
	}
	PQclear(r);
	return 0;
}

static struct rule *
rule_by_id(struct config *c, const int *ids, const char *id)
{
	int want = atoi(id);
	size_t i;

	for (i = 0; i < c->rules.n; i++)
		if (ids[i] == want)
			return &c->rules.rules[i];
	return NULL;
}

/* Enabled rules in position order, with their conditions and actions. */
static int
load_rules(struct config *c, PGconn *db, char *err, size_t errlen)
{
	PGresult *r = NULL, *rc = NULL, *ra = NULL;
	int *ids = NULL, i, n, ok = -1;

	r = query(db, "SELECT id, name, position, match::text FROM postern.rules"
	    " WHERE enabled ORDER BY position", 0, NULL, err, errlen);
	if (r == NULL)
		goto out;
	rc = query(db, "SELECT c.rule_id, c.kind::text, c.op::text, c.value,"
	    " c.negate FROM postern.rule_conditions c JOIN postern.rules r ON"
	    " r.id = c.rule_id WHERE r.enabled ORDER BY c.rule_id, c.id", 0,
	    NULL, err, errlen);
	if (rc == NULL)
		goto out;
	ra = query(db, "SELECT a.rule_id, a.kind::text, a.auth_mechs::text,"
	    " a.reply::text, a.reply_code, a.reply_ecode, a.reply_text,"
	    " a.relay_host, a.relay_port, a.relay_tls::text,"
	    " a.relay_tls_versions::text, a.header_name, a.header_value,"
	    " a.relay_tls_verify::text"
	    " FROM postern.rule_actions a JOIN postern.rules r ON r.id ="
	    " a.rule_id WHERE r.enabled ORDER BY a.rule_id, a.seq, a.id", 0,
	    NULL, err, errlen);
	if (ra == NULL)
		goto out;
	n = PQntuples(r);
	ids = xcalloc((size_t)n + 1, sizeof(int));
	for (i = 0; i < n; i++) {
		ids[i] = atoi(PQgetvalue(r, i, 0));
		rules_add_rule(&c->rules, PQgetvalue(r, i, 1),
		    atoi(PQgetvalue(r, i, 2)),
		    strcmp(PQgetvalue(r, i, 3), "any") == 0);
	}
	for (i = 0; i < PQntuples(rc); i++) {
		struct rule *ru = rule_by_id(c, ids, PQgetvalue(rc, i, 0));

		if (ru != NULL && rules_add_cond(ru, PQgetvalue(rc, i, 1),
		    PQgetvalue(rc, i, 2), PQgetvalue(rc, i, 3),
		    PQgetvalue(rc, i, 4)[0] == 't', err, errlen) == -1)
			goto out;
	}
	for (i = 0; i < PQntuples(ra); i++) {
		struct rule *ru = rule_by_id(c, ids, PQgetvalue(ra, i, 0));
		struct rules_action_spec a;

		if (ru == NULL)
			continue;
		memset(&a, 0, sizeof(a));
		a.kind = PQgetvalue(ra, i, 1);
		a.mechs = nz(ra, i, 2);
		a.reply = nz(ra, i, 3);
		a.code = nz(ra, i, 4) ? atoi(nz(ra, i, 4)) : 0;
		a.ecode = nz(ra, i, 5);
		a.text = nz(ra, i, 6);
		a.host = nz(ra, i, 7);
		a.port = nz(ra, i, 8) ? atoi(nz(ra, i, 8)) : 0;
		a.tls = nz(ra, i, 9);
		a.versions = nz(ra, i, 10);
		a.hname = nz(ra, i, 11);
		a.hvalue = nz(ra, i, 12);
		a.verify = nz(ra, i, 13);
		if (rules_add_action(ru, &a, err, errlen) == -1)
			goto out;
	}
	ok = 0;
out:
	free(ids);
	PQclear(r);
	PQclear(rc);
	PQclear(ra);
	return ok;
}

static int
check_schema(PGconn *db, char *err, size_t errlen)
{
	PGresult *r = query(db, "SELECT version FROM postern.schema_version",
	    0, NULL, err, errlen);
	int v;

	if (r == NULL)
		return -1;
	v = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return config_check_schema(v, err, errlen);
}

struct config *
db_config_load(struct db *d, const char *node, uint64_t generation,
    char *err, size_t errlen)
{
	PGconn *db = db_get(d);
	struct config *c;
	PGresult *settings = NULL, *r;
	int ok = 0;

	if (db == NULL) {
		snprintf(err, errlen, "the database cannot be reached");
		return NULL;
	}
	c = config_new(generation);
	r = query(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
	    NULL, err, errlen);
	if (r == NULL)
		goto out;
	PQclear(r);
	if (check_schema(db, err, errlen) == -1 ||
	    load_settings(c, db, err, errlen, &settings) == -1 ||
	    load_listeners(c, db, node, settings, err, errlen) == -1 ||
	    load_domains(c, db, err, errlen) == -1 ||
	    load_accounts(c, db, err, errlen) == -1 ||
	    load_aliases(c, db, err, errlen) == -1 ||
	    load_rules(c, db, err, errlen) == -1)
		goto out;
	config_finish(c);
	ok = 1;
out:
	PQclear(settings);
	PQclear(PQexec(db, "COMMIT"));
	if (PQstatus(db) != CONNECTION_OK)
		db_failed(d);
	if (!ok) {
		config_unref(c);
		return NULL;
	}
	return c;
}
