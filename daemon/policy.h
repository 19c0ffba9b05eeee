/*
 * policy.h - acceptance, AUTH and routing decisions for a session, over a
 * configuration snapshot (pure: no I/O).
 *
 * policy_decide() is the one decision function: the session's hooks
 * (policy_check, policy_auth_mechs) call it for live sessions and
 * `posternd --explain` calls it for a described transaction, so both get
 * the same answer.  At each stage the snapshot's rules are evaluated
 * (rules.h) for what the session knows so far (struct smtp_facts), then
 * the built-in policy applies:
 *   MAIL: on a submission listener an unauthenticated MAIL gets
 *         530 5.7.0 Authentication required, before any rule.  Then a
 *         rule's reject/tempfail refuses.  An authenticated user may only
 *         use a sender address it owns: the null sender, its own account
 *         address (case-insensitive), an alias pointing to it
 *         (policy_sender_alias_owned) or one a matching sender_allow rule
 *         allows; else 553 5.7.1 not owned by user.
 *   RCPT: a rule's reject/tempfail wins; "<postmaster>" and
 *         postmaster@<local domain> (any case) are always accepted (RFC
 *         5321 4.5.1); otherwise a recipient in a local domain is
 *         expanded through the aliases (alias.h: alias, account,
 *         user+tag, catch-all) into the recipients to store: none found
 *         is 550 5.1.1 user unknown, a loop or more than 8 levels 451
 *         4.4.6, more than max_recipients targets 452 4.5.3.  A remote
 *         alias target is relayed (the alias grants it).  Any other
 *         recipient needs an authenticated session or a matching
 *         relay_allow rule (else 554 5.7.1 relay access denied).  A reply
 *         accept never grants relaying.  Each stored recipient has the
 *         route (relay host, port, TLS mode, TLS versions) the rules
 *         decide for it.
 *   CONNECT, EHLO, DATA: a rule's reject/tempfail refuses; rules'
 *         add_header actions add headers at DATA.  At DATA the rules see
 *         every accepted recipient.
 *   AUTH: mechanisms are the rules' auth_plain / auth_tls decisions for
 *         the connection kind; none when no rule decides (secure default).
 * So the default configuration is not an open relay.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include "daemon/config.h"
#include "daemon/rules.h"
#include "daemon/smtp_session.h"

/* Who decided a refusal. */
enum policy_by { POLICY_BY_NONE, POLICY_BY_RULE, POLICY_BY_BUILTIN };

struct policy_decision {
	enum smtp_result result;
	struct smtp_reply reply;	/* result != OK: the reply */
	enum policy_by by;
	struct rules_result rules;	/* what the rules decided */
	/* RCPT accepted: the recipients to store, each with its route
	 * (xcalloc'd; policy_decision_free). */
	struct store_rcpt *targets;
	size_t ntargets;
};

/* The decision at a stage.  f->rcpt is the candidate at RCPT; f->rcpts
 * the accepted recipients at DATA.  trace (may be NULL) sees every rule
 * considered.  Returns d->result. */
enum smtp_result policy_decide(const struct config *c, enum smtp_stage stage,
    const struct smtp_facts *f, struct policy_decision *d,
    rules_trace_fn trace, void *targ);
/* Frees d->targets. */
void policy_decision_free(struct policy_decision *d);
/* AUTH_MECH_* offered to f if it were (tls 1) or were not (tls 0) under
 * TLS. */
unsigned policy_auth_offered(const struct config *c,
    const struct smtp_facts *f, int tls, rules_trace_fn trace, void *targ);

/* 1 when sender is an alias pointing to user (the hook where the alias
 * table plugs in; today always 0). */
int policy_sender_alias_owned(const struct config *c, const char *user,
    const char *sender);

/* The session's hooks; arg is the struct config *. */
enum smtp_result policy_check(void *arg, enum smtp_stage stage,
    const struct smtp_facts *f, struct smtp_verdict *v);
unsigned policy_auth_mechs(void *arg, const struct smtp_facts *f, int tls);
void policy_session_params(const struct config *c,
    const struct config_listener *l, struct smtp_params *p);

#endif
