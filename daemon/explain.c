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
 * headers added.  Built-in policy (unknown local user, relay access) is
 * reported too, so the output is what a real session would get.
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
	if ((m & SMTP_AUTH_PLAIN) && (m & SMTP_AUTH_LOGIN))
		return "PLAIN LOGIN";
	if (m & SMTP_AUTH_PLAIN)
		return "PLAIN";
	if (m & SMTP_AUTH_LOGIN)
		return "LOGIN";
	return "not offered";
}

int
explain_main(const char *conninfo, const char *node, int argc, char **argv)
{
	struct rules_ctx x;
	struct rules_result res;
	struct rules_rcpt rcpts[EXPLAIN_MAX_RCPTS];
	struct addr to[EXPLAIN_MAX_RCPTS], from;
	struct config *c;
	struct db *db;
	char err[512], vers[64];
	size_t nto = 0, nok = 0, i;
	int a, rc = EX_OK;

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
	x.sender = from.addr;
	x.sender_domain = from.domain;
	x.sender_local = from.domain[0] && config_domain_is_local(c, from.domain);
	printf("transaction: client=%s listener=%s port=%d tls=%s auth_user=%s "
	    "helo=%s from=<%s> size=%llu\n", x.client_addr, x.listener,
	    x.listener_port, x.tls ? "yes" : "no",
	    x.auth_user ? x.auth_user : "-", x.helo, from.addr,
	    (unsigned long long)x.size);
	printf("%zu enabled rule(s)\n\nstage connect\n", c->rules.n);
	rules_eval(&c->rules, RULES_CONNECT, &x, &res, trace, NULL);
	print_reply(&res, "220 greeting");
	printf("stage ehlo\n");
	rules_eval(&c->rules, RULES_EHLO, &x, &res, trace, NULL);
	print_reply(&res, "250");
	printf("  => AUTH on this connection (%s): %s\n", x.tls ? "TLS" :
	    "plain", mechs_text(x.tls ? res.auth_tls : res.auth_plain));
	printf("stage mail\n");
	rules_eval(&c->rules, RULES_MAIL, &x, &res, trace, NULL);
	print_reply(&res, "250 2.1.0 Ok");
	for (i = 0; i < nto; i++) {
		struct smtp_reply r;
		char lower[ADDR_MAX + 1];
		const struct config_account *acct;

		rcpts[i].addr = to[i].addr;
		rcpts[i].domain = to[i].domain;
		rcpts[i].local = config_domain_is_local(c, to[i].domain);
		x.rcpt = rcpts[i];
		printf("stage rcpt <%s> (%s)\n", to[i].addr, rcpts[i].local ?
		    "local" : "relaying");
		rules_eval(&c->rules, RULES_RCPT, &x, &res, trace, NULL);
		memset(&r, 0, sizeof(r));
		str_copy(lower, to[i].addr, sizeof(lower));
		str_lower(lower);
		acct = config_account(c, lower);
		if (res.reply == REPLY_REJECT || res.reply == REPLY_TEMPFAIL)
			print_reply(&res, "");
		else if (rcpts[i].local && (acct == NULL || !acct->enabled))
			printf("  => 550 5.1.1 user unknown (built-in policy)\n");
		else if (!rcpts[i].local && res.reply != REPLY_ACCEPT &&
		    (x.auth_user == NULL || x.auth_user[0] == '\0'))
			printf("  => 554 5.7.1 relay access denied (built-in "
			    "policy)\n");
		else {
			print_reply(&res, "250 2.1.5 Ok");
			/* Only accepted recipients reach DATA. */
			rcpts[nok++] = rcpts[i];
		}
		if (res.relay_host[0] != '\0' || res.relay_tls != RELAY_TLS_UNSET ||
		    res.relay_versions != 0) {
			rules_versions_text(res.relay_versions, vers, sizeof(vers));
			printf("  => route: relay_host=%s relay_port=%d "
			    "relay_tls=%s relay_tls_versions=%s verify=%s\n",
			    res.relay_host[0] ? res.relay_host : "(MX)",
			    res.relay_port, relay_tls_name(res.relay_tls),
			    vers[0] ? vers : "(any)", res.relay_verify == 2 ?
			    "yes" : res.relay_verify == 1 ? "no" : "default");
		} else {
			printf("  => route: default (MX lookup, opportunistic "
			    "TLS per settings.use_starttls_out)\n");
		}
	}
	x.rcpts = rcpts;
	x.nrcpts = nok;
	printf("stage data\n");
	if (nto > 0 && nok == 0) {
		printf("  => 554 5.5.1 Error: no valid recipients (built-in "
		    "policy)\n");
		config_unref(c);
		return rc;
	}
	rules_eval(&c->rules, RULES_DATA, &x, &res, trace, NULL);
	print_reply(&res, "250 2.0.0 queued");
	for (i = 0; i < res.nheaders; i++)
		printf("  => add header: %s: %s\n", res.headers[i]->hname,
		    res.headers[i]->hvalue);
	config_unref(c);
	return rc;
}
