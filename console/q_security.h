/*
 * q_security.h - SQL for the Security screen: STARTTLS in and out, and the
 * unconditional AUTH policy.
 *
 * Reads postern.settings (allow_starttls, use_starttls_out) and the view
 * postern.auth_policy; changes them with postern.set_starttls_in,
 * set_starttls_out (migration 004) and postern.set_auth (002).  Running
 * daemons pick every change up through NOTIFY postern_config, so the
 * effect is live.  set_auth may raise a WARNING (an earlier unconditional
 * stop rule keeps the change from taking effect): it is left in
 * db->notice for the screen to show.
 *
 * Every function returns 0 or -1 with db->err set.
 */
#ifndef POSTERN_CONSOLE_Q_SECURITY_H
#define POSTERN_CONSOLE_Q_SECURITY_H

#include "console/db.h"

struct q_security {
	int allow_starttls, use_starttls_out;
	char mechs_plain[128], rule_plain[65];	/* array text; rule or "" */
	char mechs_tls[128], rule_tls[65];
	int tls_listeners;	/* enabled starttls/implicit listeners */
};

int q_security_load(struct db *db, struct q_security *out);
/* which: 0 = inbound (allow_starttls), 1 = outbound (use_starttls_out). */
int q_security_set_starttls(struct db *db, int which, int on);
/* connection "plain" or "tls"; mechs array text, e.g. {PLAIN} or {}. */
int q_security_set_auth(struct db *db, const char *connection,
    const char *mechs);

#endif
