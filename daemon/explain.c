/*
 * explain.c - `posternd --explain` (see explain.h).
 *
 *   posternd -c boot.conf --explain [--client ADDR] [--tls] [--listener NAME]
 *       [--port N] [--auth-user USER] [--helo NAME] [--from ADDR]
 *       [--to ADDR]... [--size BYTES]
 *
 * For each stage (connect, ehlo, mail, each rcpt, data) it prints the rules
 * considered with "match"/"no match", then the decisions: AUTH offered on
 * this connection, the SMTP reply, the route chosen for each recipient, the
 * headers added, and the permissions: which rule (or AUTH) lets a
 * recipient be relayed, which rule lets an authenticated user use the
 * sender.  The listener's role (mx or submission) comes from the
 * snapshot's listener of that name (mx when there is none).  Every stage
 * goes through policy_decide(), the function a live session's policy hook
 * calls, so built-in policy (submission needs AUTH, sender ownership,
 * unknown local user, relay access) is included and the output is what a
 * real session would get.
 */
#include "daemon/explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "daemon/addr.h"
#include "daemon/config.h"
#include "daemon/db.h"
#include "daemon/db_config.h"
#include "daemon/policy.h"
#include "daemon/rules.h"
#include "daemon/util.h"

#define EXPLAIN_MAX_RCPTS 64

static void
trace(void *arg, const struct rule *r, int matched)
{
	(void)arg;
	printf("    rule %d %-32s %s\n", r->position, r->name,
	    matched ? "MATCH" : "no match");
}

static void
print_reply(const struct rules_result *res, const char *dflt)
{
	if (res->reply == REPLY_REJECT || res->reply == REPLY_TEMPFAIL)
		printf("  => %d %s %s   (rule %s)\n", res->code, res->ecode,
		    res->text, res->reply_rule);
	else if (res->reply == REPLY_ACCEPT)
		printf("  => accept   (rule %s)\n", res->reply_rule);
	else
		printf("  => %s\n", dflt);
}

static const char *
mechs_text(unsigned m)
{
	if ((m & AUTH_MECH_PLAIN) && (m & AUTH_MECH_LOGIN))
		return "PLAIN LOGIN";
	if (m & AUTH_MECH_PLAIN)
		return "PLAIN";
	if (m & AUTH_MECH_LOGIN)
		return "LOGIN";
	return "not offered";
}

/* The facts a session would have, from the command line. */
static void
facts_from(const struct config *c, const struct rules_ctx *x,
    const struct addr *from, struct smtp_facts *f)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->tls = x->tls;
	f->client_addr = x->client_addr;
	f->listener = x->listener;
	f->listener_port = x->listener_port;
	for (i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, x->listener) == 0)
			f->submission = c->listeners[i].role ==
			    LISTENER_SUBMISSION;
	f->auth_user = x->auth_user != NULL ? x->auth_user : "";
	f->helo = x->helo;
	f->sender = from;
}

/* One stage through policy_decide(), the function live sessions use. */
static enum smtp_result
stage(const struct config *c, enum smtp_stage st, const struct smtp_facts *f,
    const char *dflt, struct policy_decision *d)
{
	size_t i;

	policy_decide(c, st, f, d, trace, NULL);
	if (d->by == POLICY_BY_BUILTIN)
		printf("  => %d %s %s   (built-in policy)\n", d->reply.code,
		    d->reply.ecode, d->reply.text);
	else
		print_reply(&d->rules, dflt);
	for (i = 0; i < d->ntargets; i++)
		if (d->ntargets > 1 ||
		    strcmp(d->targets[i].addr.addr, f->rcpt->addr) != 0)
			printf("  => stored as <%s> (alias expansion)\n",
			    d->targets[i].addr.addr);
	policy_decision_free(d);
	return d->result;
}

static void
print_route(const struct route *rt)
{
	char vers[64];

	if (rt->host[0] == '\0' && rt->tls == RELAY_TLS_UNSET &&
	    rt->versions == 0) {
		printf("  => route: default (MX lookup, opportunistic "
		    "TLS per settings.use_starttls_out)\n");
		return;
	}
	tls_versions_text(rt->versions, vers, sizeof(vers));
	printf("  => route: relay_host=%s relay_port=%d relay_tls=%s "
	    "relay_tls_versions=%s verify=%s\n", rt->host[0] ? rt->host :
	    "(MX)", rt->port, relay_tls_name(rt->tls), vers[0] ? vers : "(any)",
	    rt->verify == RELAY_VERIFY_YES ? "yes" :
	    rt->verify == RELAY_VERIFY_NO ? "no" : "default");
}

static int
explain_stages(const struct config *c, const struct rules_ctx *x,
    const struct addr *from, const struct addr *to, size_t nto)
{
	struct store_rcpt ok[EXPLAIN_MAX_RCPTS];
	struct policy_decision d;
	struct smtp_facts f;
	size_t nok = 0, i;

	facts_from(c, x, from, &f);
	printf("transaction: client=%s listener=%s (%s) port=%d tls=%s "
	    "auth_user=%s helo=%s from=<%s> size=%llu\n", f.client_addr,
	    f.listener, f.submission ? "submission" : "mx", f.listener_port,
	    f.tls ? "yes" : "no",
	    f.auth_user[0] ? f.auth_user : "-", f.helo, from->addr,
	    (unsigned long long)x->size);
	printf("%zu enabled rule(s)\n\nstage connect\n", c->rules.n);
	stage(c, SMTP_STAGE_CONNECT, &f, "220 greeting", &d);
	printf("stage ehlo\n");
	stage(c, SMTP_STAGE_EHLO, &f, "250", &d);
	printf("  => AUTH on this connection (%s): %s\n", f.tls ? "TLS" :
	    "plain", mechs_text(policy_auth_offered(c, &f, f.tls, NULL,
	    NULL)));
	printf("stage mail\n");
	stage(c, SMTP_STAGE_MAIL, &f, "250 2.1.0 Ok", &d);
	if (d.result == SMTP_OK && f.auth_user[0] != '\0' && from->addr[0])
		printf("  => sender <%s>: %s%s\n", from->addr,
		    d.rules.sender_allow ? "allowed by rule " : "owned by ",
		    d.rules.sender_allow ? d.rules.sender_rule : f.auth_user);
	for (i = 0; i < nto; i++) {
		f.rcpt = &to[i];
		printf("stage rcpt <%s> (%s)\n", to[i].addr,
		    to[i].domain[0] == '\0' ||
		    config_domain_is_local(c, to[i].domain) ? "local" :
		    "relaying");
		if (stage(c, SMTP_STAGE_RCPT, &f, "250 2.1.5 Ok", &d) ==
		    SMTP_OK) {
			/* Only accepted recipients reach DATA. */
			memset(&ok[nok], 0, sizeof(ok[nok]));
			ok[nok].addr = to[i];
			ok[nok].route = d.rules.route;
			nok++;
			if (to[i].domain[0] != '\0' &&
			    !config_domain_is_local(c, to[i].domain))
				printf("  => relaying allowed by %s%s\n",
				    f.auth_user[0] ? "AUTH as " : "rule ",
				    f.auth_user[0] ? f.auth_user :
				    d.rules.relay_rule);
		}
		print_route(&d.rules.route);
	}
	f.rcpt = NULL;
	f.rcpts = ok;
	f.nrcpts = nok;
	f.size = x->size;
	printf("stage data\n");
	if (nto > 0 && nok == 0) {
		printf("  => 554 5.5.1 Error: no valid recipients (built-in "
		    "policy)\n");
		return EX_OK;
	}
	stage(c, SMTP_STAGE_DATA, &f, "250 2.0.0 queued", &d);
	for (i = 0; i < d.rules.nheaders; i++)
		printf("  => add header: %s: %s\n", d.rules.headers[i]->hname,
		    d.rules.headers[i]->hvalue);
	return EX_OK;
}

int
explain_main(const char *conninfo, const char *node, int argc, char **argv)
{
	struct rules_ctx x;
	struct addr to[EXPLAIN_MAX_RCPTS], from;
	struct config *c;
	struct db *db;
	char err[512];
	size_t nto = 0;
	int a, rc;

	memset(&x, 0, sizeof(x));
	memset(&from, 0, sizeof(from));
	x.client_addr = "192.0.2.1";
	x.listener = "smtp";
	x.listener_port = 25;
	x.helo = "client.example";
	for (a = 0; a < argc; a++) {
		const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(o, "--tls") == 0) {
			x.tls = 1;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "explain: %s needs a value\n", o);
			return EX_USAGE;
		}
		a++;
		if (strcmp(o, "--client") == 0)
			x.client_addr = v;
		else if (strcmp(o, "--listener") == 0)
			x.listener = v;
		else if (strcmp(o, "--port") == 0)
			x.listener_port = atoi(v);
		else if (strcmp(o, "--auth-user") == 0)
			x.auth_user = v;
		else if (strcmp(o, "--helo") == 0)
			x.helo = v;
		else if (strcmp(o, "--size") == 0)
			x.size = strtoull(v, NULL, 10);
		else if (strcmp(o, "--from") == 0) {
			if (v[0] != '\0' && addr_parse_mailbox(v, strlen(v),
			    &from) == -1) {
				fprintf(stderr, "explain: bad --from address\n");
				return EX_USAGE;
			}
		} else if (strcmp(o, "--to") == 0) {
			if (nto == EXPLAIN_MAX_RCPTS || addr_parse_mailbox(v,
			    strlen(v), &to[nto]) == -1) {
				fprintf(stderr, "explain: bad or too many --to\n");
				return EX_USAGE;
			}
			nto++;
		} else {
			fprintf(stderr, "explain: unknown option %s\n", o);
			return EX_USAGE;
		}
	}
	db_set_conninfo(conninfo);
	db = db_open(&db_config_role, NULL);
	if (db_get(db) == NULL) {
		fprintf(stderr, "explain: database: cannot connect (see the "
		    "log above)\n");
		db_close(db);
		return EX_TEMPFAIL;
	}
	c = db_config_load(db, node, 1, err, sizeof(err));
	db_close(db);
	if (c == NULL) {
		fprintf(stderr, "explain: %s\n", err);
		return EX_CONFIG;
	}
	rc = explain_stages(c, &x, &from, to, nto);
	config_unref(c);
	return rc;
}
