/*
 * policy.c - decisions for a session over a snapshot.  See policy.h.
 *
 * policy_decide() builds the rules' view of the transaction (struct
 * rules_ctx) from the session's facts, evaluates the rules at the stage and
 * adds the built-in policy.  At DATA the rules see every accepted
 * recipient: the array is allocated for the message (bounded by
 * max_recipients), not cut at a fixed size.
 */
#include "daemon/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/log.h"
#include "daemon/util.h"

static void
builtin_reply(struct policy_decision *d, int code, const char *ecode,
    const char *addr, const char *text)
{
	d->result = SMTP_PERMFAIL;
	d->by = POLICY_BY_BUILTIN;
	d->reply.code = code;
	str_copy(d->reply.ecode, ecode, sizeof(d->reply.ecode));
	snprintf(d->reply.text, sizeof(d->reply.text), "<%.200s>: %s", addr,
	    text);
}

static int
authenticated(const struct smtp_facts *f)
{
	return f->auth_user != NULL && f->auth_user[0] != '\0';
}

/*
 * Alias ownership: 1 when the sender address is an alias that points to
 * the authenticated user.  The alias table (postern.aliases) is not part
 * of the snapshot yet, so no alias is owned; this is the one place that
 * plugs it in.  Both addresses as given (the caller compares
 * case-insensitively).
 */
int
policy_sender_alias_owned(const struct config *c, const char *user,
    const char *sender)
{
	(void)c;
	(void)user;
	(void)sender;
	return 0;
}

/* MAIL FROM by an authenticated user: the null sender (bounces), the
 * account's own address, an alias of it, or a sender_allow rule. */
static int
sender_owned(const struct config *c, const struct smtp_facts *f,
    const struct rules_result *res)
{
	if (f->sender == NULL || f->sender->is_null || f->sender->addr[0] ==
	    '\0')
		return 1;
	if (strcasecmp(f->sender->addr, f->auth_user) == 0)
		return 1;
	if (policy_sender_alias_owned(c, f->auth_user, f->sender->addr))
		return 1;
	return res->sender_allow;
}

/* The built-in policy at MAIL, after the rules did not refuse. */
static void
builtin_mail(const struct config *c, const struct smtp_facts *f,
    struct policy_decision *d)
{
	if (authenticated(f) && !sender_owned(c, f, &d->rules))
		builtin_reply(d, 553, "5.7.1", f->sender->addr, "Sender "
		    "address rejected: not owned by user");
}

/* A rule's reject or tempfail refuses.  Returns 1 when it did. */
static int
rule_refuses(struct policy_decision *d)
{
	const struct rules_result *res = &d->rules;

	if (res->reply != REPLY_REJECT && res->reply != REPLY_TEMPFAIL)
		return 0;
	d->result = res->reply == REPLY_REJECT ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
	d->by = POLICY_BY_RULE;
	d->reply.code = res->code;
	str_copy(d->reply.ecode, res->ecode, sizeof(d->reply.ecode));
	str_copy(d->reply.text, res->text, sizeof(d->reply.text));
	return 1;
}

static void
base_ctx(const struct config *c, const struct smtp_facts *f,
    struct rules_ctx *x)
{
	memset(x, 0, sizeof(*x));
	x->tls = f->tls;
	x->client_addr = f->client_addr;
	x->listener = f->listener;
	x->listener_port = f->listener_port;
	x->auth_user = f->auth_user;
	x->helo = f->helo;
	if (f->sender != NULL) {
		x->sender = f->sender->addr;
		x->sender_domain = f->sender->domain;
		x->sender_local = f->sender->domain[0] != '\0' &&
		    config_domain_is_local(c, f->sender->domain);
	}
	x->size = f->size;
}

static void
rcpt_fill(const struct config *c, const struct addr *a, struct rules_rcpt *out)
{
	out->addr = a->addr;
	out->domain = a->domain;
	/* <postmaster> without a domain is local. */
	out->local = a->domain[0] == '\0' ||
	    config_domain_is_local(c, a->domain);
}

static enum rules_stage
rules_stage_of(enum smtp_stage stage)
{
	switch (stage) {
	case SMTP_STAGE_CONNECT:
		return RULES_CONNECT;
	case SMTP_STAGE_EHLO:
		return RULES_EHLO;
	case SMTP_STAGE_MAIL:
		return RULES_MAIL;
	case SMTP_STAGE_RCPT:
		return RULES_RCPT;
	case SMTP_STAGE_DATA:
		return RULES_DATA;
	}
	fatalx("policy: bad stage %d", (int)stage);
}

/* The built-in policy at RCPT, after the rules did not refuse. */
static void
builtin_rcpt(const struct config *c, const struct smtp_facts *f,
    const struct rules_rcpt *rr, struct policy_decision *d)
{
	const struct config_account *a;
	char lower[ADDR_MAX + 1];

	if (f->rcpt->domain[0] == '\0')
		return;		/* <postmaster> */
	if (rr->local) {
		str_copy(lower, f->rcpt->addr, sizeof(lower));
		str_lower(lower);
		a = config_account(c, lower);
		if (a == NULL || !a->enabled)
			builtin_reply(d, 550, "5.1.1", f->rcpt->addr, "Recipient "
			    "address rejected: User unknown in local recipient "
			    "table");
	} else if (!authenticated(f) && !d->rules.relay_allow) {
		builtin_reply(d, 554, "5.7.1", f->rcpt->addr,
		    "Relay access denied");
	}
}

enum smtp_result
policy_decide(const struct config *c, enum smtp_stage stage,
    const struct smtp_facts *f, struct policy_decision *d,
    rules_trace_fn trace, void *targ)
{
	struct rules_rcpt *rcpts = NULL;
	struct rules_ctx x;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->result = SMTP_OK;
	base_ctx(c, f, &x);
	if (stage == SMTP_STAGE_RCPT) {
		if (f->rcpt == NULL)
			fatalx("policy: RCPT without a recipient");
		rcpt_fill(c, f->rcpt, &x.rcpt);
	}
	if (stage == SMTP_STAGE_DATA && f->nrcpts > 0) {
		rcpts = xcalloc(f->nrcpts, sizeof(*rcpts));
		for (i = 0; i < f->nrcpts; i++)
			rcpt_fill(c, &f->rcpts[i].addr, &rcpts[i]);
		x.rcpts = rcpts;
		x.nrcpts = f->nrcpts;
	}
	rules_eval(&c->rules, rules_stage_of(stage), &x, &d->rules, trace,
	    targ);
	free(rcpts);
	if (stage == SMTP_STAGE_MAIL && f->submission && !authenticated(f)) {
		/* RFC 6409 4.3: submission needs AUTH, before any rule. */
		d->result = SMTP_PERMFAIL;
		d->by = POLICY_BY_BUILTIN;
		d->reply.code = 530;
		str_copy(d->reply.ecode, "5.7.0", sizeof(d->reply.ecode));
		str_copy(d->reply.text, "Authentication required",
		    sizeof(d->reply.text));
		return d->result;
	}
	if (rule_refuses(d))
		return d->result;
	if (stage == SMTP_STAGE_MAIL)
		builtin_mail(c, f, d);
	else if (stage == SMTP_STAGE_RCPT)
		builtin_rcpt(c, f, &x.rcpt, d);
	return d->result;
}

unsigned
policy_auth_offered(const struct config *c, const struct smtp_facts *f,
    int tls, rules_trace_fn trace, void *targ)
{
	struct rules_ctx x;
	struct rules_result res;

	base_ctx(c, f, &x);
	x.tls = tls;
	rules_eval(&c->rules, RULES_EHLO, &x, &res, trace, targ);
	if (tls)
		return res.auth_tls_set ? res.auth_tls : 0;
	return res.auth_plain_set ? res.auth_plain : 0;
}

enum smtp_result
policy_check(void *arg, enum smtp_stage stage, const struct smtp_facts *f,
    struct smtp_verdict *v)
{
	const struct config *c = arg;
	struct policy_decision d;
	size_t h;

	if (policy_decide(c, stage, f, &d, NULL, NULL) != SMTP_OK) {
		v->reply = d.reply;
		return d.result;
	}
	if (stage == SMTP_STAGE_RCPT)
		v->route = d.rules.route;
	if (stage == SMTP_STAGE_DATA && v->headers != NULL)
		for (h = 0; h < d.rules.nheaders; h++)
			buf_printf(v->headers, "%s: %s\r\n",
			    d.rules.headers[h]->hname,
			    d.rules.headers[h]->hvalue);
	return SMTP_OK;
}

unsigned
policy_auth_mechs(void *arg, const struct smtp_facts *f, int tls)
{
	return policy_auth_offered(arg, f, tls, NULL, NULL);
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
	p->submission = l->role == LISTENER_SUBMISSION;
	p->starttls_offer = l->mode == LISTENER_STARTTLS && c->allow_starttls &&
	    l->tls != NULL;
	p->max_size = c->max_message_size;
	p->max_rcpts = c->max_recipients;
	p->max_errors = c->max_errors;
	p->max_auth_failures = c->max_auth_failures;
}
