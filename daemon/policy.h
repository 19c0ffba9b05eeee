/*
 * policy.h - acceptance, AUTH and routing decisions for a session, over a
 * configuration snapshot (pure: no I/O).
 *
 * The session's check and auth_mechs hooks land here.  At each stage the
 * snapshot's rules are evaluated (rules.h) for what the session knows so
 * far, then the built-in policy applies:
 *   RCPT: a rule's reject/tempfail wins; otherwise a recipient in a local
 *         domain needs an enabled account (550 5.1.1 user unknown); any
 *         other recipient needs an authenticated session or a matching
 *         rule with an "accept" reply (else 554 5.7.1 relay access
 *         denied).  "<postmaster>" is always accepted (RFC 5321 4.5.1).
 *         The route (relay host, port, TLS mode, TLS versions) decided by
 *         the rules is stored with the recipient.
 *   CONNECT, EHLO, MAIL, DATA: a rule's reject/tempfail refuses; rules'
 *         add_header actions add headers at DATA.
 *   AUTH: mechanisms are the rules' auth_plain / auth_tls decisions for
 *         the connection kind; none when no rule decides (secure default).
 * So the default configuration is not an open relay.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include "daemon/config.h"
#include "daemon/smtp_session.h"

/* Hooks; arg is the struct config *. */
enum smtp_result policy_check(void *arg, struct smtp_session *s,
    enum smtp_stage stage, struct smtp_rcpt *rcpt, struct smtp_reply *r);
unsigned policy_auth_mechs(void *arg, const struct smtp_session *s, int tls);
void policy_session_params(const struct config *c,
    const struct config_listener *l, struct smtp_params *p);

#endif
