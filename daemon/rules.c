/*
 * rules.c - the rules engine.  See rules.h for the semantics.
 *
 * Building validates again what the database already validated (a snapshot
 * built from a newer schema or by hand must not crash the daemon): unknown
 * kinds or operators, bad CIDRs, regexes POSIX cannot compile, a reject
 * without text, a relay host without port all fail with a message naming
 * the rule and the field.  Evaluation allocates nothing.
 */
#include "daemon/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/log.h"
#include "daemon/util.h"

static const char *const cond_names[] = {
	"conn_tls", "conn_remote_addr", "conn_listener", "conn_authenticated",
	"conn_auth_user", "conn_helo", "sender_address", "sender_domain",
	"sender_local", "rcpt_address", "rcpt_domain", "rcpt_local",
	"delivery_relaying", "message_size", NULL,
};
static const char *const op_names[] = {
	"is", "is_not", "contains", "matches", "in_cidr", "ge", "le",
	"in_domain", NULL,
};
static const char *const action_names[] = {
	"auth_plain", "auth_tls", "reply", "relay_host", "relay_tls",
	"relay_tls_versions", "add_header", "stop", "relay_allow",
	"sender_allow", NULL,
};
static const char *const stage_names[] = {
	"connect", "ehlo", "mail", "rcpt", "data",
};

static int
lookup(const char *const *names, const char *s)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *
rules_stage_name(enum rules_stage s)
{
	switch (s) {
	case RULES_CONNECT:
	case RULES_EHLO:
	case RULES_MAIL:
	case RULES_RCPT:
	case RULES_DATA:
		return stage_names[s];
	}
	fatalx("rules: bad stage %d", (int)s);
}

static void
free_domains(struct rule_cond *c)
{
	size_t i;

	for (i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	c->domains = NULL;
	c->ndomains = 0;
}

void
rules_init(struct ruleset *rs)
{
	memset(rs, 0, sizeof(*rs));
}

void
rules_free(struct ruleset *rs)
{
	size_t i, j;

	for (i = 0; i < rs->n; i++) {
		struct rule *r = &rs->rules[i];

		for (j = 0; j < r->nconds; j++) {
			free(r->conds[j].value);
			free(r->conds[j].cidrs);
			free_domains(&r->conds[j]);
			if (r->conds[j].has_re)
				regfree(&r->conds[j].re);
		}
		for (j = 0; j < r->nactions; j++) {
			free(r->actions[j].text);
			free(r->actions[j].host);
			free(r->actions[j].hname);
			free(r->actions[j].hvalue);
		}
		free(r->conds);
		free(r->actions);
		free(r->name);
	}
	free(rs->rules);
	rules_init(rs);
}

struct rule *
rules_add_rule(struct ruleset *rs, const char *name, int position,
    int match_any)
{
	struct rule *r;

	rs->rules = xrealloc(rs->rules, (rs->n + 1) * sizeof(*rs->rules));
	r = &rs->rules[rs->n++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->position = position;
	r->match_any = match_any;
	r->stage = RULES_CONNECT;
	return r;
}

int
rules_cidr_parse(const char *s, struct rule_cidr *out)
{
	char buf[80], *slash;
	char *end = NULL;
	long p;

	memset(out, 0, sizeof(*out));
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = 4;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = 6;
		out->prefix = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		p = strtol(slash + 1, &end, 10);
		if (!isdigit((unsigned char)slash[1]) || *end != '\0' || p < 0 ||
		    p > out->prefix)
			return -1;
		out->prefix = (int)p;
	}
	return 0;
}

int
rules_cidr_match(const struct rule_cidr *c, const char *addr)
{
	uint8_t a[16];
	int fam, full, rem;

	if (addr == NULL)
		return 0;
	if (inet_pton(AF_INET, addr, a) == 1) {
		fam = 4;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    0xff, 0xff };

		fam = 6;
		if (memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			fam = 4;
		}
	} else {
		return 0;
	}
	if (fam != c->family)
		return 0;
	full = c->prefix / 8;
	rem = c->prefix % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	if (rem != 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));

		if ((a[full] & mask) != (c->addr[full] & mask))
			return 0;
	}
	return 1;
}

static int
parse_bool(const char *v, int *out)
{
	if (strcasecmp(v, "true") == 0 || strcasecmp(v, "t") == 0 ||
	    strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0 ||
	    strcasecmp(v, "on") == 0)
		*out = 1;
	else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "f") == 0 ||
	    strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0 ||
	    strcasecmp(v, "off") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static enum rules_stage
cond_stage(enum rule_cond_kind k)
{
	switch (k) {
	case COND_CONN_HELO:
		return RULES_EHLO;
	case COND_SENDER_ADDRESS:
	case COND_SENDER_DOMAIN:
	case COND_SENDER_LOCAL:
		return RULES_MAIL;
	case COND_RCPT_ADDRESS:
	case COND_RCPT_DOMAIN:
	case COND_RCPT_LOCAL:
	case COND_DELIVERY_RELAYING:
		return RULES_RCPT;
	case COND_MESSAGE_SIZE:
		return RULES_DATA;
	case COND_CONN_TLS:
	case COND_CONN_REMOTE_ADDR:
	case COND_CONN_LISTENER:
	case COND_CONN_AUTHENTICATED:
	case COND_CONN_AUTH_USER:
		return RULES_CONNECT;
	}
	fatalx("rules: condition kind %d has no stage", (int)k);
}

static int
is_bool_kind(enum rule_cond_kind k)
{
	return k == COND_CONN_TLS || k == COND_CONN_AUTHENTICATED ||
	    k == COND_SENDER_LOCAL || k == COND_RCPT_LOCAL ||
	    k == COND_DELIVERY_RELAYING;
}

static int
is_rcpt_kind(enum rule_cond_kind k)
{
	return k == COND_RCPT_ADDRESS || k == COND_RCPT_DOMAIN ||
	    k == COND_RCPT_LOCAL || k == COND_DELIVERY_RELAYING;
}

static int
is_domain_kind(enum rule_cond_kind k)
{
	return k == COND_SENDER_DOMAIN || k == COND_RCPT_DOMAIN ||
	    k == COND_CONN_HELO;
}

/* Facts the client cannot choose: a relay_allow rule may test only these. */
static int
is_relay_fact(enum rule_cond_kind k)
{
	return k == COND_CONN_REMOTE_ADDR || k == COND_CONN_LISTENER ||
	    k == COND_CONN_TLS || k == COND_CONN_AUTHENTICATED ||
	    k == COND_CONN_AUTH_USER;
}

/* A sender_allow rule: those, and the sender it allows. */
static int
is_sender_allow_fact(enum rule_cond_kind k)
{
	return is_relay_fact(k) || k == COND_SENDER_ADDRESS ||
	    k == COND_SENDER_DOMAIN || k == COND_SENDER_LOCAL;
}

static int
has_action(const struct rule *r, enum rule_action_kind k)
{
	size_t i;

	for (i = 0; i < r->nactions; i++)
		if (r->actions[i].kind == k)
			return 1;
	return 0;
}

/* A condition kind a permission action of r does not admit, or -1. */
static int
permission_forbids(const struct rule *r, enum rule_cond_kind k,
    const char **action)
{
	if (has_action(r, ACT_RELAY_ALLOW) && !is_relay_fact(k)) {
		*action = "relay_allow";
		return (int)k;
	}
	if (has_action(r, ACT_SENDER_ALLOW) && !is_sender_allow_fact(k)) {
		*action = "sender_allow";
		return (int)k;
	}
	return -1;
}

static int
permission_error(const struct rule *r, const char *action, int k, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "rule \"%s\": %s can only depend on facts the "
	    "client cannot choose (found condition kind %s)", r->name, action,
	    cond_names[k]);
	return -1;
}

/* "partner.org, .example.com" -> {"partner.org", "example.com"}. */
static int
parse_domain_list(struct rule_cond *c, char *err, size_t errlen,
    const char *rname)
{
	char *copy = xstrdup(c->value), *tok, *save = NULL;
	size_t i;
	int rc = 0;

	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		while (*tok == '.')
			tok++;
		for (i = 0; tok[i] != '\0'; i++)
			if (!isalnum((unsigned char)tok[i]) && tok[i] != '-' &&
			    tok[i] != '.')
				break;
		if (tok[0] == '\0' || tok[i] != '\0' || strstr(tok, "..") !=
		    NULL || tok[i - 1] == '.') {
			snprintf(err, errlen, "rule \"%s\": rule_conditions.value:"
			    " \"%.100s\" is not a domain", rname, tok);
			rc = -1;
			break;
		}
		str_lower(tok);
		c->domains = xrealloc(c->domains, (c->ndomains + 1) *
		    sizeof(*c->domains));
		c->domains[c->ndomains++] = xstrdup(tok);
	}
	if (rc == 0 && c->ndomains == 0) {
		snprintf(err, errlen, "rule \"%s\": rule_conditions.value: empty "
		    "domain list", rname);
		rc = -1;
	}
	free(copy);
	return rc;
}

static int
parse_cidr_list(struct rule_cond *c, char *err, size_t errlen,
    const char *rname)
{
	char *copy = xstrdup(c->value), *tok, *save = NULL;
	int rc = 0;

	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		c->cidrs = xrealloc(c->cidrs, (c->ncidrs + 1) * sizeof(*c->cidrs));
		if (rules_cidr_parse(tok, &c->cidrs[c->ncidrs]) == -1) {
			snprintf(err, errlen, "rule \"%s\": rule_conditions.value: "
			    "\"%s\" is not a valid CIDR", rname, tok);
			rc = -1;
			break;
		}
		c->ncidrs++;
	}
	if (rc == 0 && c->ncidrs == 0) {
		snprintf(err, errlen, "rule \"%s\": rule_conditions.value: empty "
		    "CIDR list", rname);
		rc = -1;
	}
	free(copy);
	return rc;
}

/*
 * glibc's regcomp() builds its automaton eagerly: stacked quantifiers
 * ("a+++++") or large counted repetitions ("(a{200}){200}") make it take
 * gigabytes (found by tests/fuzz/fuzz_rules.c).  Patterns for addresses
 * and domains need none of that, so the compiler refuses them, with the
 * reason, before regcomp() sees them.  Returns NULL when acceptable.
 */
static const char *
regex_too_costly(const char *re)
{
	size_t i, n = strlen(re), nquant = 0;
	int in_bracket = 0, prev_quant = 0;

	if (n > 256)
		return "longer than 256 characters";
	for (i = 0; i < n; i++) {
		char ch = re[i];
		int quant = 0;

		if (in_bracket) {
			/* [:class:], [.coll.] and [=equiv=] inside a bracket
			 * end at their own ":]" (".]", "=]"). */
			if (ch == '[' && i + 1 < n && (re[i + 1] == ':' ||
			    re[i + 1] == '.' || re[i + 1] == '=')) {
				char close[3] = { re[i + 1], ']', '\0' };
				const char *end = strstr(re + i + 2, close);

				if (end == NULL)
					return "an unterminated bracket expression";
				i = (size_t)(end - re) + 1;
			} else if (ch == ']')
				in_bracket = 0;
			prev_quant = 0;
			continue;
		}
		if (ch == '\\' && i + 1 < n) {
			i++;
			prev_quant = 0;
			continue;
		}
		if (ch == '[') {
			in_bracket = 1;
			if (i + 1 < n && re[i + 1] == '^')
				i++;
			if (i + 1 < n && re[i + 1] == ']')
				i++;
			prev_quant = 0;
			continue;
		}
		if (ch == '*' || ch == '+' || ch == '?')
			quant = 1;
		else if (ch == '{') {
			unsigned long lo, hi;
			char *end;

			lo = strtoul(re + i + 1, &end, 10);
			hi = lo;
			if (*end == ',')
				hi = end[1] == '}' ? 0 : strtoul(end + 1, &end, 10);
			if (lo > 64 || hi > 64)
				return "a counted repetition above 64";
			quant = 1;
			end = strchr(re + i, '}');
			if (end != NULL)
				i = (size_t)(end - re);
		}
		if (quant && prev_quant)
			return "a quantifier applied to a quantifier";
		if (quant && ++nquant > 32)
			return "more than 32 quantifiers";
		prev_quant = quant;
	}
	return NULL;
}

int
rules_add_cond(struct rule *r, const char *kind, const char *op,
    const char *value, int negate, char *err, size_t errlen)
{
	struct rule_cond *c;
	int k = lookup(cond_names, kind), o = lookup(op_names, op), ok;

	if (k < 0) {
		snprintf(err, errlen, "rule \"%s\": rule_conditions.kind: unknown "
		    "condition \"%s\"", r->name, kind);
		return -1;
	}
	if (o < 0) {
		snprintf(err, errlen, "rule \"%s\": rule_conditions.op: unknown "
		    "operator \"%s\"", r->name, op);
		return -1;
	}
	{
		const char *act;
		int bad = permission_forbids(r, (enum rule_cond_kind)k, &act);

		if (bad >= 0)
			return permission_error(r, act, bad, err, errlen);
	}
	r->conds = xrealloc(r->conds, (r->nconds + 1) * sizeof(*r->conds));
	c = &r->conds[r->nconds];
	memset(c, 0, sizeof(*c));
	c->kind = (enum rule_cond_kind)k;
	c->op = (enum rule_cond_op)o;
	c->negate = negate;
	c->value = xstrdup(value);
	if (is_bool_kind(c->kind))
		ok = (c->op == OP_IS || c->op == OP_IS_NOT) &&
		    parse_bool(value, &c->bval) == 0;
	else if (c->kind == COND_CONN_REMOTE_ADDR)
		ok = c->op == OP_IS || c->op == OP_IS_NOT || c->op == OP_IN_CIDR;
	else if (c->kind == COND_CONN_LISTENER)
		ok = c->op == OP_IS || c->op == OP_IS_NOT;
	else if (c->kind == COND_MESSAGE_SIZE) {
		char *end = NULL;

		c->num = strtoull(value, &end, 10);
		ok = (c->op == OP_GE || c->op == OP_LE) &&
		    isdigit((unsigned char)value[0]) && *end == '\0';
	} else
		ok = c->op == OP_IS || c->op == OP_IS_NOT ||
		    c->op == OP_CONTAINS || c->op == OP_MATCHES ||
		    (c->op == OP_IN_DOMAIN && is_domain_kind(c->kind));
	if (!ok) {
		snprintf(err, errlen, "rule \"%s\": rule_conditions: operator %s "
		    "with value \"%.100s\" does not fit condition %s", r->name,
		    op, value, kind);
		free(c->value);
		return -1;
	}
	if (c->kind == COND_CONN_LISTENER) {
		char *end = NULL;
		unsigned long p = strtoul(value, &end, 10);

		if (value[0] != '\0' && *end == '\0' && p > 0 && p < 65536)
			c->num = p;
	}
	if (c->op == OP_IN_DOMAIN &&
	    parse_domain_list(c, err, errlen, r->name) == -1) {
		free(c->value);
		free_domains(c);
		return -1;
	}
	if (c->kind == COND_CONN_REMOTE_ADDR) {
		if (parse_cidr_list(c, err, errlen, r->name) == -1) {
			free(c->value);
			free(c->cidrs);
			return -1;
		}
	}
	if (c->op == OP_MATCHES) {
		const char *why = regex_too_costly(value);
		int e;

		if (why != NULL) {
			snprintf(err, errlen, "rule \"%s\": rule_conditions.value: "
			    "regular expression \"%.100s\" refused: %s", r->name,
			    value, why);
			free(c->value);
			return -1;
		}
		e = regcomp(&c->re, value, REG_EXTENDED | REG_ICASE | REG_NOSUB);

		if (e != 0) {
			char msg[128];

			regerror(e, &c->re, msg, sizeof(msg));
			snprintf(err, errlen, "rule \"%s\": rule_conditions.value: "
			    "bad regular expression \"%.100s\": %s", r->name,
			    value, msg);
			free(c->value);
			return -1;
		}
		c->has_re = 1;
	}
	if (cond_stage(c->kind) > r->stage)
		r->stage = cond_stage(c->kind);
	if (is_rcpt_kind(c->kind))
		r->has_rcpt_conds = 1;
	r->nconds++;
	return 0;
}

/* A permission action added after the rule's conditions. */
static int
permission_check(const struct rule *r, enum rule_action_kind kind, char *err,
    size_t errlen)
{
	size_t i;

	if (kind == ACT_RELAY_ALLOW && r->nconds == 0) {
		snprintf(err, errlen, "rule \"%s\": relay_allow needs at least "
		    "one condition (without one it is an open relay)", r->name);
		return -1;
	}
	for (i = 0; i < r->nconds; i++) {
		enum rule_cond_kind k = r->conds[i].kind;

		if (kind == ACT_RELAY_ALLOW && !is_relay_fact(k))
			return permission_error(r, "relay_allow", (int)k, err,
			    errlen);
		if (kind == ACT_SENDER_ALLOW && !is_sender_allow_fact(k))
			return permission_error(r, "sender_allow", (int)k, err,
			    errlen);
	}
	return 0;
}

static unsigned
parse_mechs(const char *s)
{
	unsigned m = 0;

	if (s == NULL)
		return 0;
	if (strstr(s, "PLAIN") != NULL)
		m |= AUTH_MECH_PLAIN;
	if (strstr(s, "LOGIN") != NULL)
		m |= AUTH_MECH_LOGIN;
	return m;
}

int
rules_add_action(struct rule *r, const struct rules_action_spec *s, char *err,
    size_t errlen)
{
	struct rule_action a;
	int k = lookup(action_names, s->kind);

	memset(&a, 0, sizeof(a));
	if (k < 0) {
		snprintf(err, errlen, "rule \"%s\": rule_actions.kind: unknown "
		    "action \"%s\"", r->name, s->kind);
		return -1;
	}
	a.kind = (enum rule_action_kind)k;
	switch (a.kind) {
	case ACT_AUTH_PLAIN:
	case ACT_AUTH_TLS:
		a.mechs = parse_mechs(s->mechs);
		break;
	case ACT_REPLY:
		if (s->reply == NULL) {
			snprintf(err, errlen, "rule \"%s\": rule_actions.reply is "
			    "missing", r->name);
			return -1;
		}
		if (strcmp(s->reply, "accept") == 0) {
			a.reply = REPLY_ACCEPT;
		} else if (strcmp(s->reply, "reject") != 0 &&
		    strcmp(s->reply, "tempfail") != 0) {
			snprintf(err, errlen, "rule \"%s\": rule_actions.reply: "
			    "unknown reply \"%s\"", r->name, s->reply);
			return -1;
		} else {
			a.reply = strcmp(s->reply, "reject") == 0 ? REPLY_REJECT :
			    REPLY_TEMPFAIL;
			if (s->text == NULL || s->text[0] == '\0' ||
			    s->ecode == NULL || s->code < 400 || s->code > 599) {
				snprintf(err, errlen, "rule \"%s\": rule_actions."
				    "reply_text/reply_code/reply_ecode are "
				    "required for %s", r->name, s->reply);
				return -1;
			}
			a.text = xstrdup(s->text);
			str_copy(a.ecode, s->ecode, sizeof(a.ecode));
		}
		a.code = s->code;
		break;
	case ACT_RELAY_HOST:
		if (s->host == NULL || s->host[0] == '\0' || s->port <= 0 ||
		    s->port > 65535) {
			snprintf(err, errlen, "rule \"%s\": rule_actions.relay_host"
			    " and relay_port are required", r->name);
			return -1;
		}
		a.host = xstrdup(s->host);
		a.port = s->port;
		break;
	case ACT_RELAY_TLS:
		if (s->tls == NULL) {
			snprintf(err, errlen, "rule \"%s\": rule_actions.relay_tls "
			    "is required", r->name);
			return -1;
		}
		a.tls = relay_tls_parse(s->tls);
		if (s->verify != NULL)
			a.verify = s->verify[0] == 't' ? RELAY_VERIFY_YES :
			    RELAY_VERIFY_NO;
		if (a.tls == RELAY_TLS_UNSET) {
			snprintf(err, errlen, "rule \"%s\": rule_actions.relay_tls:"
			    " unknown mode \"%s\"", r->name, s->tls);
			return -1;
		}
		break;
	case ACT_RELAY_TLS_VERSIONS:
		a.versions = tls_versions_parse(s->versions);
		if (a.versions == 0) {
			snprintf(err, errlen, "rule \"%s\": rule_actions."
			    "relay_tls_versions is empty", r->name);
			return -1;
		}
		break;
	case ACT_ADD_HEADER:
		if (s->hname == NULL || s->hvalue == NULL ||
		    strpbrk(s->hvalue, "\r\n") != NULL) {
			snprintf(err, errlen, "rule \"%s\": rule_actions."
			    "header_name/header_value invalid", r->name);
			return -1;
		}
		a.hname = xstrdup(s->hname);
		a.hvalue = xstrdup(s->hvalue);
		break;
	case ACT_STOP:
		break;
	case ACT_RELAY_ALLOW:
	case ACT_SENDER_ALLOW:
		if (permission_check(r, a.kind, err, errlen) == -1)
			return -1;
		break;
	}
	r->actions = xrealloc(r->actions, (r->nactions + 1) * sizeof(a));
	r->actions[r->nactions++] = a;
	return 0;
}

/* ---- evaluation ---- */

static int
str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

/* s is one of c's domains or a subdomain of one (label boundary). */
static int
domain_in(const struct rule_cond *c, const char *s)
{
	size_t i, sl = strlen(s), dl;

	for (i = 0; i < c->ndomains; i++) {
		dl = strlen(c->domains[i]);
		if (sl == dl && strcasecmp(s, c->domains[i]) == 0)
			return 1;
		if (sl > dl + 1 && s[sl - dl - 1] == '.' &&
		    strcasecmp(s + sl - dl, c->domains[i]) == 0)
			return 1;
	}
	return 0;
}

static int
str_match(const struct rule_cond *c, const char *s)
{
	if (s == NULL)
		s = "";
	switch (c->op) {
	case OP_IS:
		return str_eq(s, c->value);
	case OP_IS_NOT:
		return !str_eq(s, c->value);
	case OP_CONTAINS:
		return strcasestr(s, c->value) != NULL;
	case OP_MATCHES:
		return regexec(&c->re, s, 0, NULL, 0) == 0;
	case OP_IN_DOMAIN:
		return domain_in(c, s);
	case OP_IN_CIDR:
	case OP_GE:
	case OP_LE:
		break;
	}
	/* rules_add_cond() only admits these five for text kinds. */
	fatalx("rules: operator %d on a text condition", (int)c->op);
}

static int
bool_match(const struct rule_cond *c, int v)
{
	int eq = (v != 0) == (c->bval != 0);

	return c->op == OP_IS ? eq : !eq;
}

static int
cond_holds(const struct rule_cond *c, const struct rules_ctx *x,
    const struct rules_rcpt *rc)
{
	int v = 0;
	size_t i;

	switch (c->kind) {
	case COND_CONN_TLS:
		v = bool_match(c, x->tls);
		break;
	case COND_CONN_REMOTE_ADDR:
		for (i = 0; i < c->ncidrs && !v; i++)
			v = rules_cidr_match(&c->cidrs[i], x->client_addr);
		if (c->op == OP_IS_NOT)
			v = !v;
		break;
	case COND_CONN_LISTENER:
		v = c->num != 0 ? (int)c->num == x->listener_port :
		    str_eq(c->value, x->listener);
		if (c->op == OP_IS_NOT)
			v = !v;
		break;
	case COND_CONN_AUTHENTICATED:
		v = bool_match(c, x->auth_user != NULL && x->auth_user[0] != '\0');
		break;
	case COND_CONN_AUTH_USER:
		v = str_match(c, x->auth_user);
		break;
	case COND_CONN_HELO:
		v = str_match(c, x->helo);
		break;
	case COND_SENDER_ADDRESS:
		v = str_match(c, x->sender);
		break;
	case COND_SENDER_DOMAIN:
		v = str_match(c, x->sender_domain);
		break;
	case COND_SENDER_LOCAL:
		v = bool_match(c, x->sender_local);
		break;
	case COND_RCPT_ADDRESS:
		v = rc != NULL && str_match(c, rc->addr);
		break;
	case COND_RCPT_DOMAIN:
		v = rc != NULL && str_match(c, rc->domain);
		break;
	case COND_RCPT_LOCAL:
		v = rc != NULL && bool_match(c, rc->local);
		break;
	case COND_DELIVERY_RELAYING:
		v = rc != NULL && bool_match(c, !rc->local);
		break;
	case COND_MESSAGE_SIZE:
		v = c->op == OP_GE ? x->size >= c->num : x->size <= c->num;
		break;
	}
	return c->negate ? !v : v;
}

static int
rule_matches_rcpt(const struct rule *r, const struct rules_ctx *x,
    const struct rules_rcpt *rc)
{
	size_t i;

	if (r->nconds == 0)
		return 1;
	for (i = 0; i < r->nconds; i++) {
		int h = cond_holds(&r->conds[i], x, rc);

		if (r->match_any && h)
			return 1;
		if (!r->match_any && !h)
			return 0;
	}
	return !r->match_any;
}

static int
rule_matches(const struct rule *r, enum rules_stage stage,
    const struct rules_ctx *x)
{
	size_t i;

	if (stage == RULES_DATA && r->has_rcpt_conds) {
		for (i = 0; i < x->nrcpts; i++)
			if (rule_matches_rcpt(r, x, &x->rcpts[i]))
				return 1;
		return 0;
	}
	return rule_matches_rcpt(r, x, stage == RULES_RCPT ? &x->rcpt : NULL);
}

static void
apply(const struct rule *r, struct rules_result *res)
{
	size_t i;

	for (i = 0; i < r->nactions; i++) {
		const struct rule_action *a = &r->actions[i];

		switch (a->kind) {
		case ACT_AUTH_PLAIN:
			res->auth_plain_set = 1;
			res->auth_plain = a->mechs;
			break;
		case ACT_AUTH_TLS:
			res->auth_tls_set = 1;
			res->auth_tls = a->mechs;
			break;
		case ACT_REPLY:
			res->reply = a->reply;
			res->code = a->code;
			str_copy(res->ecode, a->ecode, sizeof(res->ecode));
			str_copy(res->text, a->text ? a->text : "",
			    sizeof(res->text));
			res->reply_rule = r->name;
			break;
		case ACT_RELAY_HOST:
			str_copy(res->route.host, a->host,
			    sizeof(res->route.host));
			res->route.port = a->port;
			break;
		case ACT_RELAY_TLS:
			res->route.tls = a->tls;
			res->route.verify = a->verify;
			break;
		case ACT_RELAY_TLS_VERSIONS:
			res->route.versions = a->versions;
			break;
		case ACT_ADD_HEADER:
			if (res->nheaders < RULES_MAX_HEADERS)
				res->headers[res->nheaders++] = a;
			break;
		case ACT_STOP:
			res->stopped = 1;
			break;
		case ACT_RELAY_ALLOW:
			res->relay_allow = 1;
			res->relay_rule = r->name;
			break;
		case ACT_SENDER_ALLOW:
			res->sender_allow = 1;
			res->sender_rule = r->name;
			break;
		}
	}
}

void
rules_eval(const struct ruleset *rs, enum rules_stage stage,
    const struct rules_ctx *ctx, struct rules_result *res,
    rules_trace_fn trace, void *targ)
{
	size_t i;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < rs->n; i++) {
		const struct rule *r = &rs->rules[i];
		int m;

		if (r->stage > stage)
			continue;
		m = rule_matches(r, stage, ctx);
		if (trace != NULL)
			trace(targ, r, m);
		if (!m)
			continue;
		apply(r, res);
		if (res->stopped)
			break;
	}
}
