/*
 * policy.h - acceptance decisions over a configuration snapshot (pure).
 *
 * Before the rules engine: a recipient in a local domain is accepted when an
 * enabled account exists for it (otherwise 550 5.1.1 user unknown); any
 * other recipient only when the session authenticated (otherwise 554 5.7.1
 * relay access denied).  "<postmaster>" without a domain is always accepted
 * (RFC 5321 4.5.1).  So the default configuration is not an open relay.
 * Also builds session parameters from a snapshot and a listener.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include "daemon/config.h"
#include "daemon/smtp_session.h"

/* rcpt_check hook; arg is the struct config *. */
enum smtp_result policy_rcpt_check(void *arg, const struct smtp_session *s,
    const struct addr *rcpt, struct smtp_reply *r);
void policy_session_params(const struct config *c,
    const struct config_listener *l, struct smtp_params *p);

#endif
