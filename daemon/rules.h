/*
 * rules.h - the acceptance and routing rules engine (pure logic).
 *
 * A ruleset is an ordered list of rules, each with a match mode (ALL/ANY),
 * zero or more conditions (each optionally negated) and an ordered list of
 * actions.  It is built once per configuration snapshot (rules_add_*) and
 * then only read, by any number of threads at once.
 *
 * Evaluation (docs/rules.md has the full text):
 *   - Every condition kind becomes known at a stage: connection facts at
 *     CONNECT, the HELO name at EHLO, the sender at MAIL, the recipient and
 *     "relaying" at RCPT, the message size at DATA.  A rule's stage is the
 *     latest stage of its conditions (CONNECT when it has none).
 *   - rules_eval(stage S) walks the enabled rules in position order and
 *     considers every rule whose stage is <= S.  At DATA, recipient
 *     conditions hold if they hold for at least one accepted recipient.
 *   - A rule matches when ALL (or ANY) of its conditions hold; a rule with
 *     no conditions always matches.
 *   - A matching rule's actions run in order.  Each decision (AUTH on plain
 *     connections, AUTH on TLS connections, SMTP reply, relay host, relay
 *     TLS mode, relay TLS versions) is overwritten by later matching rules:
 *     the last one wins.  Headers accumulate.  A "stop" action ends the
 *     evaluation after the rest of that rule's actions.
 *   - Permissions are decisions of their own, never a side effect of a
 *     reply: "relay_allow" lets the session relay (read at RCPT), and
 *     "sender_allow" lets an authenticated user use the sender address of
 *     the transaction (read at MAIL).  They are refused when building a
 *     rule whose conditions the client could choose: relay_allow needs at
 *     least one condition and only conn_remote_addr, conn_listener,
 *     conn_tls, conn_authenticated, conn_auth_user; sender_allow only
 *     connection facts (not conn_helo) and sender conditions.
 * The caller reads the decisions that matter at its stage: AUTH policy at
 * EHLO and AUTH, the reply at CONNECT/EHLO/MAIL/RCPT/DATA, the route at
 * RCPT, headers at DATA.
 *
 * Regular expressions are POSIX extended, case-insensitive (regcomp with
 * REG_EXTENDED|REG_ICASE|REG_NOSUB); "is" and "contains" compare ASCII
 * case-insensitively; "in_domain" (sender_domain, rcpt_domain, conn_helo)
 * holds when the value is one of a list of domains or a subdomain of one,
 * label by label ("a.partner.org" is in partner.org,
 * "partner.org.evil.example" and "xpartner.org" are not); CIDR lists match IPv4 and IPv6 (an IPv4-mapped IPv6
 * client address is matched as IPv4).
 */
#ifndef POSTERN_RULES_H
#define POSTERN_RULES_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/vocab.h"

enum rules_stage {
	RULES_CONNECT, RULES_EHLO, RULES_MAIL, RULES_RCPT, RULES_DATA,
};

enum rule_cond_kind {
	COND_CONN_TLS, COND_CONN_REMOTE_ADDR, COND_CONN_LISTENER,
	COND_CONN_AUTHENTICATED, COND_CONN_AUTH_USER, COND_CONN_HELO,
	COND_SENDER_ADDRESS, COND_SENDER_DOMAIN, COND_SENDER_LOCAL,
	COND_RCPT_ADDRESS, COND_RCPT_DOMAIN, COND_RCPT_LOCAL,
	COND_DELIVERY_RELAYING, COND_MESSAGE_SIZE,
};

enum rule_cond_op {
	OP_IS, OP_IS_NOT, OP_CONTAINS, OP_MATCHES, OP_IN_CIDR, OP_GE, OP_LE,
	OP_IN_DOMAIN,
};

enum rule_action_kind {
	ACT_AUTH_PLAIN, ACT_AUTH_TLS, ACT_REPLY, ACT_RELAY_HOST, ACT_RELAY_TLS,
	ACT_RELAY_TLS_VERSIONS, ACT_ADD_HEADER, ACT_STOP, ACT_RELAY_ALLOW,
	ACT_SENDER_ALLOW,
};

enum rule_reply { REPLY_NONE, REPLY_ACCEPT, REPLY_REJECT, REPLY_TEMPFAIL };

struct rule_cidr {
	int family;		/* 4 or 6 */
	uint8_t addr[16];
	int prefix;
};

struct rule_cond {
	enum rule_cond_kind kind;
	enum rule_cond_op op;
	int negate;
	char *value;
	int bval;		/* boolean kinds */
	uint64_t num;		/* message_size; listener port (0 = name) */
	regex_t re;
	int has_re;
	struct rule_cidr *cidrs;
	size_t ncidrs;
	char **domains;		/* in_domain: lower-case, no leading dot */
	size_t ndomains;
};

struct rule_action {
	enum rule_action_kind kind;
	unsigned mechs;		/* AUTH_MECH_* bits */
	enum rule_reply reply;
	int code;
	char ecode[16];
	char *text;
	char *host;
	int port;
	enum relay_tls tls;
	enum relay_verify verify;	/* with relay_tls */
	unsigned versions;	/* TLS_VERSIONS_* */
	char *hname;
	char *hvalue;
};

struct rule {
	char *name;
	int position;
	int match_any;
	enum rules_stage stage;
	int has_rcpt_conds;
	struct rule_cond *conds;
	size_t nconds;
	struct rule_action *actions;
	size_t nactions;
};

struct ruleset {
	struct rule *rules;
	size_t n;
};

#define RULES_MAX_HEADERS 16

struct rules_rcpt {
	const char *addr;	/* lower-case domain part */
	const char *domain;
	int local;
};

/* What is known about the transaction so far.  Fields of later stages are
 * ignored at earlier stages. */
struct rules_ctx {
	int tls;
	const char *client_addr;	/* text, "192.0.2.1" or "2001:db8::1" */
	const char *listener;
	int listener_port;
	const char *auth_user;	/* "" or NULL = not authenticated */
	const char *helo;
	const char *sender;	/* "" = null sender */
	const char *sender_domain;
	int sender_local;
	struct rules_rcpt rcpt;	/* the recipient at RCPT */
	const struct rules_rcpt *rcpts;	/* accepted recipients, at DATA */
	size_t nrcpts;
	uint64_t size;
};

struct rules_result {
	int auth_plain_set, auth_tls_set;
	unsigned auth_plain, auth_tls;
	enum rule_reply reply;
	int code;
	char ecode[16];
	char text[256];
	const char *reply_rule;
	struct route route;	/* relay_host/_tls/_tls_versions decisions */
	size_t nheaders;
	const struct rule_action *headers[RULES_MAX_HEADERS];
	int relay_allow;	/* a relay_allow rule matched */
	const char *relay_rule;
	int sender_allow;	/* a sender_allow rule matched */
	const char *sender_rule;
	int stopped;
};

/* Called once per considered rule by rules_eval when non-NULL. */
typedef void (*rules_trace_fn)(void *arg, const struct rule *r, int matched);

void rules_init(struct ruleset *rs);
void rules_free(struct ruleset *rs);
/* Appends a rule; returns it (owned by rs). */
struct rule *rules_add_rule(struct ruleset *rs, const char *name, int position,
    int match_any);
/* Adds a condition from its SQL spelling ("rcpt_domain", "is", "x.org").
 * Returns 0 or -1 with a message naming the field in err. */
int rules_add_cond(struct rule *r, const char *kind, const char *op,
    const char *value, int negate, char *err, size_t errlen);
/* Adds an action.  Fields not used by kind may be NULL/0.  Add a rule's
 * conditions before its actions: relay_allow and sender_allow check the
 * conditions already there (and later ones are checked against them).  mechs and
 * versions are in SQL array text form ("{PLAIN,LOGIN}", "{TLSv1.2}"). */
struct rules_action_spec {
	const char *kind;
	const char *mechs;
	const char *reply;
	int code;
	const char *ecode;
	const char *text;
	const char *host;
	int port;
	const char *tls;
	const char *verify;	/* relay_tls_verify: "t", "f" or NULL */
	const char *versions;
	const char *hname;
	const char *hvalue;
};
int rules_add_action(struct rule *r, const struct rules_action_spec *a,
    char *err, size_t errlen);

void rules_eval(const struct ruleset *rs, enum rules_stage stage,
    const struct rules_ctx *ctx, struct rules_result *res,
    rules_trace_fn trace, void *targ);

/* Parses "10.0.0.0/8" (or a bare address = /32 or /128).  0 or -1. */
int rules_cidr_parse(const char *s, struct rule_cidr *out);
/* 1 if the text address is inside the prefix. */
int rules_cidr_match(const struct rule_cidr *c, const char *addr);
const char *rules_stage_name(enum rules_stage s);

#endif
