/*
 * policy.c - decisions for a session over a snapshot.  See policy.h.
 *
 * policy_decide() builds the rules' view of the transaction (struct
 * rules_ctx) from the session's facts, evaluates the rules at the stage and
 * adds the built-in policy.  At RCPT a local recipient is expanded through
 * the aliases (alias.h) into the recipients to store, each with the route
 * the rules decide for it.  At DATA the rules see every accepted
 * recipient: the array is allocated for the message (bounded by
 * max_recipients), not cut at a fixed size.
 */
#include "daemon/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/alias.h"
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
 * Alias ownership: 1 when mail to the sender address reaches the
 * authenticated user through the aliases, walked exactly as RCPT walks
 * them (alias_reaches): an alias pointing to the user, user+tag, and a
 * catch-all whose targets include the user (for the domain's addresses
 * that have no account or alias of their own).  Only local domains have
 * aliases.
 */
int
policy_sender_alias_owned(const struct config *c, const char *user,
    const char *sender)
{
	char ls[ADDR_MAX + 1], lu[ADDR_MAX + 1];
	const char *at;

	str_copy(ls, sender, sizeof(ls));
	str_lower(ls);
	at = strrchr(ls, '@');
	if (at == NULL || !config_domain_is_local(c, at + 1))
		return 0;
	str_copy(lu, user, sizeof(lu));
	str_lower(lu);
	return alias_reaches(c, ls, lu);
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

/* The route the rules decide for an alias target (their refusals are not
 * asked: the admin's alias chose the target, not the client). */
static void
target_route(const struct config *c, const struct smtp_facts *f,
    const struct addr *t, struct route *out)
{
	struct rules_result res;
	struct rules_ctx x;

	base_ctx(c, f, &x);
	rcpt_fill(c, t, &x.rcpt);
	rules_eval(&c->rules, RULES_RCPT, &x, &res, NULL, NULL);
	*out = res.route;
}

/* The refusal for a failed expansion.  The reply names only the address
 * the client gave; the log names where in the aliases it failed. */
static void
expansion_refused(struct policy_decision *d, const struct addr *rcpt,
    const struct alias_result *ar)
{
	const char *a = rcpt->addr;

	switch (ar->status) {
	case ALIAS_UNKNOWN:
		builtin_reply(d, 550, "5.1.1", a, "Recipient address rejected: "
		    "User unknown in local recipient table");
		if (strcasecmp(ar->where, a) != 0)
			log_warnx("alias: <%s> reaches <%s>, which is neither "
			    "an enabled account nor an alias", a, ar->where);
		return;
	case ALIAS_LOOP:
	case ALIAS_TOO_DEEP:
		builtin_reply(d, 451, "4.4.6", a, "Alias loop or more than 8 "
		    "alias levels (configuration error), try again later");
		log_warnx("alias: <%s>: %s at <%s>", a, ar->status ==
		    ALIAS_LOOP ? "loop" : "more than 8 levels", ar->where);
		break;
	case ALIAS_TOO_MANY:
		builtin_reply(d, 452, "4.5.3", a, "Too many recipients after "
		    "alias expansion");
		break;
	case ALIAS_BAD_TARGET:
	case ALIAS_OK:
		builtin_reply(d, 451, "4.3.0", a, "Alias configuration error, "
		    "try again later");
		log_warnx("alias: <%s>: target <%s> is not an address", a,
		    ar->where);
		break;
	}
	d->result = SMTP_TEMPFAIL;
}

/* The built-in policy at RCPT, after the rules did not refuse: a local
 * recipient is expanded (alias.h) into d->targets; any other needs an
 * authenticated session or an "accept" rule to be relayed. */
static void
builtin_rcpt(const struct config *c, const struct smtp_facts *f,
    const struct rules_rcpt *rr, struct policy_decision *d)
{
	struct alias_result ar;
	size_t i;

	if (!rr->local) {
		if (!authenticated(f) && !d->rules.relay_allow) {
			builtin_reply(d, 554, "5.7.1", f->rcpt->addr,
			    "Relay access denied");
			return;
		}
		d->targets = xcalloc(1, sizeof(*d->targets));
		d->targets[0].addr = *f->rcpt;
		d->targets[0].route = d->rules.route;
		d->ntargets = 1;
		return;
	}
	if (alias_expand(c, f->rcpt, c->max_recipients > 0 ?
	    c->max_recipients : 1, &ar) != ALIAS_OK) {
		expansion_refused(d, f->rcpt, &ar);
		free(ar.targets);
		return;
	}
	d->targets = xcalloc(ar.n, sizeof(*d->targets));
	d->ntargets = ar.n;
	for (i = 0; i < ar.n; i++) {
		d->targets[i].addr = ar.targets[i];
		if (strcmp(ar.targets[i].addr, f->rcpt->addr) == 0)
			d->targets[i].route = d->rules.route;
		else
			target_route(c, f, &ar.targets[i],
			    &d->targets[i].route);
	}
	free(ar.targets);
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

void
policy_decision_free(struct policy_decision *d)
{
	free(d->targets);
	d->targets = NULL;
	d->ntargets = 0;
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
		policy_decision_free(&d);
		v->reply = d.reply;
		return d.result;
	}
	if (stage == SMTP_STAGE_RCPT) {
		v->route = d.rules.route;
		v->targets = d.targets;	/* the session's now */
		v->ntargets = d.ntargets;
	}
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
