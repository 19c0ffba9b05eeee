/*
 * policy.c - decisions for a session over a snapshot.  See policy.h.
 */
#include "daemon/policy.h"

#include <stdio.h>
#include <string.h>

#include "daemon/rules.h"
#include "daemon/util.h"

#define POLICY_MAX_RCPTS 1000

static void
set_reply(struct smtp_reply *r, int code, const char *ecode, const char *addr,
    const char *text)
{
	r->code = code;
	str_copy(r->ecode, ecode, sizeof(r->ecode));
	snprintf(r->text, sizeof(r->text), "<%.200s>: %s", addr, text);
}

static void
rule_reply(const struct rules_result *res, struct smtp_reply *r)
{
	r->code = res->code;
	str_copy(r->ecode, res->ecode, sizeof(r->ecode));
	str_copy(r->text, res->text, sizeof(r->text));
}

static void
base_ctx(const struct config *c, const struct smtp_session *s,
    struct rules_ctx *x)
{
	memset(x, 0, sizeof(*x));
	x->tls = s->tls;
	x->client_addr = s->client_addr;
	x->listener = s->p.listener;
	x->listener_port = s->p.listener_port;
	x->auth_user = s->auth_user;
	x->helo = s->helo;
	if (s->tx != NULL) {
		x->sender = s->tx->sender.addr;
		x->sender_domain = s->tx->sender.domain;
		x->sender_local = s->tx->sender.domain[0] != '\0' &&
		    config_domain_is_local(c, s->tx->sender.domain);
	}
}

static void
rcpt_fill(const struct config *c, const struct smtp_rcpt *rc,
    struct rules_rcpt *out)
{
	out->addr = rc->addr.addr;
	out->domain = rc->addr.domain;
	/* <postmaster> without a domain is local. */
	out->local = rc->addr.domain[0] == '\0' ||
	    config_domain_is_local(c, rc->addr.domain);
}

static enum smtp_result
check_rcpt(const struct config *c, struct smtp_session *s,
    struct smtp_rcpt *rc, struct smtp_reply *r)
{
	struct rules_ctx x;
	struct rules_result res;
	const struct config_account *a;
	char lower[ADDR_MAX + 1];

	base_ctx(c, s, &x);
	rcpt_fill(c, rc, &x.rcpt);
	rules_eval(&c->rules, RULES_RCPT, &x, &res, NULL, NULL);
	if (res.reply == REPLY_REJECT || res.reply == REPLY_TEMPFAIL) {
		rule_reply(&res, r);
		return res.reply == REPLY_REJECT ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
	}
	if (rc->addr.domain[0] == '\0')
		return SMTP_OK;		/* <postmaster> */
	if (x.rcpt.local) {
		str_copy(lower, rc->addr.addr, sizeof(lower));
		str_lower(lower);
		a = config_account(c, lower);
		if (a == NULL || !a->enabled) {
			set_reply(r, 550, "5.1.1", rc->addr.addr, "Recipient "
			    "address rejected: User unknown in local recipient "
			    "table");
			return SMTP_PERMFAIL;
		}
	} else if (s->auth_user[0] == '\0' && res.reply != REPLY_ACCEPT) {
		set_reply(r, 554, "5.7.1", rc->addr.addr, "Relay access denied");
		return SMTP_PERMFAIL;
	}
	str_copy(rc->route.host, res.relay_host, sizeof(rc->route.host));
	rc->route.port = res.relay_port;
	rc->route.tls = (int)res.relay_tls;
	rc->route.verify = res.relay_verify;
	rc->route.versions = res.relay_versions;
	return SMTP_OK;
}

static enum smtp_result
check_data(const struct config *c, struct smtp_session *s,
    struct smtp_reply *r)
{
	struct rules_rcpt rcpts[POLICY_MAX_RCPTS];
	struct rules_ctx x;
	struct rules_result res;
	unsigned i, n = s->tx->nrcpts;
	size_t h;

	if (n > POLICY_MAX_RCPTS)
		n = POLICY_MAX_RCPTS;
	base_ctx(c, s, &x);
	for (i = 0; i < n; i++)
		rcpt_fill(c, &s->tx->rcpts[i], &rcpts[i]);
	x.rcpts = rcpts;
	x.nrcpts = n;
	x.size = spool_size(&s->tx->body);
	rules_eval(&c->rules, RULES_DATA, &x, &res, NULL, NULL);
	if (res.reply == REPLY_REJECT || res.reply == REPLY_TEMPFAIL) {
		rule_reply(&res, r);
		return res.reply == REPLY_REJECT ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
	}
	for (h = 0; h < res.nheaders; h++)
		buf_printf(&s->tx->headers, "%s: %s\r\n",
		    res.headers[h]->hname, res.headers[h]->hvalue);
	return SMTP_OK;
}

enum smtp_result
policy_check(void *arg, struct smtp_session *s, enum smtp_stage stage,
    struct smtp_rcpt *rcpt, struct smtp_reply *r)
{
	const struct config *c = arg;
	static const enum rules_stage map[] = {
		RULES_CONNECT, RULES_EHLO, RULES_MAIL, RULES_RCPT, RULES_DATA,
	};
	struct rules_ctx x;
	struct rules_result res;

	if (stage == SMTP_STAGE_RCPT)
		return check_rcpt(c, s, rcpt, r);
	if (stage == SMTP_STAGE_DATA)
		return check_data(c, s, r);
	base_ctx(c, s, &x);
	rules_eval(&c->rules, map[stage], &x, &res, NULL, NULL);
	if (res.reply == REPLY_REJECT || res.reply == REPLY_TEMPFAIL) {
		rule_reply(&res, r);
		return res.reply == REPLY_REJECT ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
	}
	return SMTP_OK;
}

unsigned
policy_auth_mechs(void *arg, const struct smtp_session *s, int tls)
{
	const struct config *c = arg;
	struct rules_ctx x;
	struct rules_result res;

	base_ctx(c, s, &x);
	x.tls = tls;
	rules_eval(&c->rules, RULES_EHLO, &x, &res, NULL, NULL);
	if (tls)
		return res.auth_tls_set ? res.auth_tls : 0;
	return res.auth_plain_set ? res.auth_plain : 0;
}

void
policy_session_params(const struct config *c, const struct config_listener *l,
    struct smtp_params *p)
{
	memset(p, 0, sizeof(*p));
	str_copy(p->hostname, c->hostname, sizeof(p->hostname));
	str_copy(p->listener, l->name, sizeof(p->listener));
	p->listener_port = l->port;
	p->implicit_tls = l->mode == LISTENER_IMPLICIT;
	p->starttls_offer = l->mode == LISTENER_STARTTLS && c->allow_starttls &&
	    l->tls != NULL;
	p->max_size = c->max_message_size;
	p->max_rcpts = c->max_recipients;
	p->max_errors = c->max_errors;
	p->max_auth_failures = c->max_auth_failures;
}
