/*
 * policy.c - acceptance decisions.  See policy.h.
 */
#include "daemon/policy.h"

#include <stdio.h>
#include <string.h>

#include "daemon/util.h"

static void
set_reply(struct smtp_reply *r, int code, const char *ecode, const char *addr,
    const char *text)
{
	r->code = code;
	str_copy(r->ecode, ecode, sizeof(r->ecode));
	snprintf(r->text, sizeof(r->text), "<%.200s>: %s", addr, text);
}

enum smtp_result
policy_rcpt_check(void *arg, const struct smtp_session *s,
    const struct addr *rcpt, struct smtp_reply *r)
{
	const struct config *c = arg;
	const struct config_account *a;
	char lower[ADDR_MAX + 1];

	if (rcpt->domain[0] == '\0')
		return SMTP_OK;		/* <postmaster> */
	if (config_domain_is_local(c, rcpt->domain)) {
		str_copy(lower, rcpt->addr, sizeof(lower));
		str_lower(lower);
		a = config_account(c, lower);
		if (a == NULL || !a->enabled) {
			set_reply(r, 550, "5.1.1", rcpt->addr, "Recipient address "
			    "rejected: User unknown in local recipient table");
			return SMTP_PERMFAIL;
		}
		return SMTP_OK;
	}
	if (s->auth_user[0] != '\0')
		return SMTP_OK;
	set_reply(r, 554, "5.7.1", rcpt->addr, "Relay access denied");
	return SMTP_PERMFAIL;
}

void
policy_session_params(const struct config *c, const struct config_listener *l,
    struct smtp_params *p)
{
	memset(p, 0, sizeof(*p));
	str_copy(p->hostname, c->hostname, sizeof(p->hostname));
	str_copy(p->listener, l->name, sizeof(p->listener));
	p->implicit_tls = l->mode == LISTENER_IMPLICIT;
	p->starttls_offer = l->mode == LISTENER_STARTTLS && c->allow_starttls &&
	    l->tls != NULL;
	p->auth_plain = c->auth_plain;
	p->auth_tls = c->auth_tls;
	p->max_size = c->max_message_size;
	p->max_rcpts = c->max_recipients;
	p->max_errors = c->max_errors;
	p->max_auth_failures = c->max_auth_failures;
}
