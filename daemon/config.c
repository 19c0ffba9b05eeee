/*
 * config.c - load and query the configuration snapshot.  See config.h.
 *
 * The load runs four parameterised queries (settings, listeners for this
 * node, domains, accounts) inside BEGIN ISOLATION LEVEL REPEATABLE READ
 * READ ONLY, then builds one TLS context per TLS listener.  The database
 * already refused invalid values through its constraints; what can only be
 * checked here (files readable, key matches certificate, cipher list known
 * to wolfSSL) fails the whole load with a message naming the listener and
 * the field.
 */
#include "daemon/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/util.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_account(const void *a, const void *b)
{
	return strcmp(((const struct config_account *)a)->address,
	    ((const struct config_account *)b)->address);
}

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

static void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		tls_ctx_unref(c->listeners[i].tls);
	free(c->listeners);
	for (i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	for (i = 0; i < c->naccounts; i++) {
		free(c->accounts[i].address);
		free(c->accounts[i].hash);
	}
	free(c->accounts);
	rules_free(&c->rules);
	free(c);
}

static int
load_settings(struct config *c, PGconn *db, char *err, size_t errlen,
    const char **cert, const char **key, PGresult **keep)
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
	v = val(r, 0, "hostname");
	if (v == NULL || *v == '\0') {
		if (gethostname(c->hostname, sizeof(c->hostname) - 1) == -1)
			str_copy(c->hostname, "localhost", sizeof(c->hostname));
	} else {
		str_copy(c->hostname, v, sizeof(c->hostname));
	}
	v = val(r, 0, "allow_starttls");
	c->allow_starttls = v && *v == 't';
	v = val(r, 0, "use_starttls_out");
	c->use_starttls_out = v && *v == 't';
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
	v = val(r, 0, "tls_verify_out");
	c->tls_verify_out = v && *v == 't';
	c->smtp_port_out = ival(r, 0, "smtp_port_out");
	c->node_timeout = ival(r, 0, "node_timeout");
	v = val(r, 0, "delivery_paused");
	c->delivery_paused = v && *v == 't';
	v = val(r, 0, "bounce_sender_name");
	str_copy(c->bounce_sender_name, v ? v : "MAILER-DAEMON",
	    sizeof(c->bounce_sender_name));
	*cert = val(r, 0, "tls_cert_file");
	*key = val(r, 0, "tls_key_file");
	*keep = r;
	return 0;
}

static int
load_listeners(struct config *c, PGconn *db, const char *node,
    const char *dcert, const char *dkey, char *err, size_t errlen)
{
	const char *params[1] = { node };
	PGresult *r = query(db, "SELECT name, address, port, tls_mode::text,"
	    " tls_min_version::text, tls_max_version::text, ciphers, dh_file,"
	    " cert_file, key_file, max_connections FROM postern.listeners"
	    " WHERE enabled AND (node IS NULL OR node = $1) ORDER BY name",
	    1, params, err, errlen);
	int i, n;

	if (r == NULL)
		return -1;
	n = PQntuples(r);
	c->listeners = xcalloc((size_t)n + 1, sizeof(*c->listeners));
	for (i = 0; i < n; i++) {
		struct config_listener *l = &c->listeners[c->nlisteners++];
		struct tls_ctx_params tp;
		enum tls_version vmin = TLS_V1_2, vmax = TLS_V1_3;
		const char *mode = val(r, i, "tls_mode");
		const char *cert = val(r, i, "cert_file");
		const char *key = val(r, i, "key_file");
		char terr[256];

		str_copy(l->name, val(r, i, "name"), sizeof(l->name));
		str_copy(l->address, val(r, i, "address"), sizeof(l->address));
		l->port = ival(r, i, "port");
		l->max_connections = ival(r, i, "max_connections");
		l->mode = strcmp(mode, "implicit") == 0 ? LISTENER_IMPLICIT :
		    strcmp(mode, "none") == 0 ? LISTENER_NONE : LISTENER_STARTTLS;
		if (l->mode == LISTENER_NONE)
			continue;
		if (cert == NULL) {
			cert = dcert;
			key = dkey;
		}
		if (cert == NULL || key == NULL) {
			snprintf(err, errlen, "listener %s: tls_mode is %s but "
			    "no certificate is configured (set listeners.cert_file"
			    "/key_file or settings.tls_cert_file/tls_key_file)",
			    l->name, mode);
			PQclear(r);
			return -1;
		}
		if (tls_version_parse(val(r, i, "tls_min_version"), &vmin) == -1 ||
		    tls_version_parse(val(r, i, "tls_max_version"), &vmax) == -1) {
			snprintf(err, errlen, "listener %s: unknown TLS version",
			    l->name);
			PQclear(r);
			return -1;
		}
		memset(&tp, 0, sizeof(tp));
		tp.cert_file = cert;
		tp.key_file = key;
		tp.min_version = vmin;
		tp.max_version = vmax;
		tp.ciphers = val(r, i, "ciphers");
		tp.dh_file = val(r, i, "dh_file");
		l->tls = tls_ctx_new_server(&tp, terr, sizeof(terr));
		if (l->tls == NULL) {
			snprintf(err, errlen, "listener %s: %s", l->name, terr);
			PQclear(r);
			return -1;
		}
		snprintf(l->tls_desc, sizeof(l->tls_desc), "%s-%s",
		    tls_version_name(vmin), tls_version_name(vmax));
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
	qsort(c->domains, c->ndomains, sizeof(char *), cmp_str);
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
	qsort(c->accounts, c->naccounts, sizeof(*c->accounts), cmp_account);
	PQclear(r);
	return 0;
}

static const char *
nz(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
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
	if (v < CONFIG_SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %d is older than "
		    "the %d this posternd needs: apply sql/migrations "
		    "(scripts/db-load.sh DBNAME)", v, CONFIG_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

struct config *
config_load(PGconn *db, const char *node, uint64_t generation, char *err,
    size_t errlen)
{
	struct config *c = xcalloc(1, sizeof(*c));
	PGresult *settings = NULL, *r = NULL;
	const char *dcert = NULL, *dkey = NULL;
	int ok = 0;

	atomic_init(&c->refs, 1);
	c->generation = generation;
	r = query(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
	    NULL, err, errlen);
	if (r == NULL)
		goto out;
	PQclear(r);
	if (check_schema(db, err, errlen) == -1 ||
	    load_settings(c, db, err, errlen, &dcert, &dkey, &settings) == -1 ||
	    load_listeners(c, db, node, dcert, dkey, err, errlen) == -1 ||
	    load_domains(c, db, err, errlen) == -1 ||
	    load_accounts(c, db, err, errlen) == -1 ||
	    load_rules(c, db, err, errlen) == -1)
		goto out;
	ok = 1;
out:
	PQclear(settings);
	PQclear(PQexec(db, "COMMIT"));
	if (!ok) {
		config_free(c);
		return NULL;
	}
	return c;
}

void
config_ref(struct config *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void
config_unref(struct config *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		config_free(c);
}

int
config_domain_is_local(const struct config *c, const char *domain)
{
	return bsearch(&domain, c->domains, c->ndomains, sizeof(char *),
	    cmp_str) != NULL;
}

const struct config_account *
config_account(const struct config *c, const char *address)
{
	struct config_account key;

	memset(&key, 0, sizeof(key));
	key.address = (char *)address;
	return bsearch(&key, c->accounts, c->naccounts, sizeof(key),
	    cmp_account);
}

const struct config_listener *
config_listener_find(const struct config *c, const char *address, int port)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].port == port &&
		    strcmp(c->listeners[i].address, address) == 0)
			return &c->listeners[i];
	return NULL;
}
