/*
 * model.c - the console's pure model layer.  See model.h.
 *
 * No curses, no libpq, no globals: only libc string handling over
 * caller-owned fixed-size buffers.  The unit tests include this file
 * directly (tests/unit/test_console_model.c), so it must stay free of
 * symbols that clash with libpostern.a (every symbol is model_* or static).
 *
 * Parsing is deliberately lenient about spacing and strict about shape:
 * what the console can tell locally (a missing port, an unknown action
 * kind) is reported here; everything about values (CIDRs, regular
 * expressions, reply codes) is left to the database, whose constraint
 * messages name the field, so there is one source of truth.
 */
#include "console/model.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ---- */

static size_t
bcopy_str(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);

	if (n == 0)
		return len;
	if (len >= n) {
		memcpy(dst, src, n - 1);
		dst[n - 1] = '\0';
	} else
		memcpy(dst, src, len + 1);
	return len;
}

/* Appends src to the NUL-terminated dst of size n; -1 when truncated. */
static int
bappend(char *dst, size_t n, const char *src)
{
	size_t used = strlen(dst), len = strlen(src);

	if (used + len >= n) {
		bcopy_str(dst + used, src, n - used);
		return -1;
	}
	memcpy(dst + used, src, len + 1);
	return 0;
}

static const char *
skip_space(const char *s)
{
	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	return s;
}

/* Copies the next white-space separated word of *s into dst (bounded) and
 * advances *s.  Returns the word length (0 at the end). */
static size_t
next_word(const char **s, char *dst, size_t n)
{
	const char *p = skip_space(*s), *start = p;
	size_t len;

	while (*p != '\0' && !isspace((unsigned char)*p))
		p++;
	len = (size_t)(p - start);
	if (n > 0) {
		size_t c = len < n - 1 ? len : n - 1;

		memcpy(dst, start, c);
		dst[c] = '\0';
	}
	*s = p;
	return len;
}

/* Copies s without leading and trailing white space. */
static void
copy_trim(char *dst, size_t n, const char *s)
{
	const char *e;
	size_t len;

	s = skip_space(s);
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	len = (size_t)(e - s);
	if (len >= n)
		len = n - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

static int
is_ident(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    *s != '_')
			return 0;
	return 1;
}

static void
errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * A value: either "quoted" (\" and \\ escapes; nothing but space may
 * follow the closing quote) or the rest of the text, trimmed.  Returns 0
 * or -1 with err.
 */
static int
parse_value(const char *s, char *dst, size_t n, char *err, size_t errlen)
{
	size_t o = 0;

	s = skip_space(s);
	if (*s != '"') {
		copy_trim(dst, n, s);
		if (strlen(s) >= n) {
			errf(err, errlen, "value longer than %zu bytes", n - 1);
			return -1;
		}
		return 0;
	}
	for (s++; *s != '\0' && *s != '"'; s++) {
		if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
			s++;
		if (o + 1 >= n) {
			errf(err, errlen, "value longer than %zu bytes", n - 1);
			return -1;
		}
		dst[o++] = *s;
	}
	dst[o] = '\0';
	if (*s != '"') {
		errf(err, errlen, "missing closing quote");
		return -1;
	}
	if (*skip_space(s + 1) != '\0') {
		errf(err, errlen, "unexpected text after the closing quote");
		return -1;
	}
	return 0;
}

/* Quotes v as postern.quote_value does (plus \ escapes for quotes). */
static void
quote_value(char *dst, size_t n, const char *v)
{
	const char *p;
	size_t o = 0;
	int need = *v == '\0';

	for (p = v; *p != '\0' && !need; p++)
		if (isspace((unsigned char)*p) || *p == '"')
			need = 1;
	if (!need) {
		bcopy_str(dst, v, n);
		return;
	}
	if (n < 3) {
		dst[0] = '\0';
		return;
	}
	dst[o++] = '"';
	for (p = v; *p != '\0' && o + 3 < n; p++) {
		if (*p == '"' || *p == '\\')
			dst[o++] = '\\';
		dst[o++] = *p;
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

/* Array text {A,B} -> "A,B" (no element contains , { } " here). */
static void
array_list(char *dst, size_t n, const char *array)
{
	size_t len;

	if (array == NULL) {
		bcopy_str(dst, "", n);
		return;
	}
	if (*array == '{')
		array++;
	bcopy_str(dst, array, n);
	len = strlen(dst);
	if (len > 0 && dst[len - 1] == '}')
		dst[len - 1] = '\0';
}

/* "PLAIN, login" / "{PLAIN,LOGIN}" / "off" -> "{PLAIN,LOGIN}" with each
 * element checked against allowed characters (upper-cased when upper). */
static int
list_to_array(const char *s, char *dst, size_t n, int upper, const char *extra,
    char *err, size_t errlen)
{
	char tmp[MODEL_TEXT_MAX], *p, *tok, *save = NULL;
	int count = 0;

	copy_trim(tmp, sizeof(tmp), s);
	p = tmp;
	if (*p == '{') {
		p++;
		if (*p != '\0' && p[strlen(p) - 1] == '}')
			p[strlen(p) - 1] = '\0';
	}
	bcopy_str(dst, "{", n);
	if (strcasecmp(p, "off") == 0 || strcasecmp(p, "none") == 0)
		p[0] = '\0';
	for (tok = strtok_r(p, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		char *c;

		for (c = tok; *c != '\0'; c++) {
			if (!isalnum((unsigned char)*c) && *c != '_' &&
			    *c != '-' && strchr(extra, *c) == NULL) {
				errf(err, errlen, "\"%s\" is not a valid list "
				    "element", tok);
				return -1;
			}
			if (upper)
				*c = (char)toupper((unsigned char)*c);
		}
		if ((count++ > 0 && bappend(dst, n, ",") == -1) ||
		    bappend(dst, n, tok) == -1) {
			errf(err, errlen, "list too long");
			return -1;
		}
	}
	if (bappend(dst, n, "}") == -1) {
		errf(err, errlen, "list too long");
		return -1;
	}
	return 0;
}

/* ---- model_sql ---- */

void
model_sql_init(struct model_sql *q)
{
	memset(q, 0, sizeof(*q));
}

int
model_sql_add(struct model_sql *q, const char *text)
{
	return bappend(q->text, sizeof(q->text), text);
}

int
model_sql_param(struct model_sql *q, const char *value)
{
	int i = q->nparams;

	if (i >= MODEL_PARAMS_MAX)
		return -1;
	if (value == NULL) {
		q->param[i] = NULL;
	} else {
		if (strlen(value) >= MODEL_TEXT_MAX)
			return -1;
		bcopy_str(q->buf[i], value, sizeof(q->buf[i]));
		q->param[i] = q->buf[i];
	}
	q->nparams++;
	return i + 1;
}

/* Appends "$n" for a new parameter plus the suffix (a cast). */
static int
add_param(struct model_sql *q, const char *value, const char *cast)
{
	char ph[16];
	int k = model_sql_param(q, value);

	if (k < 0)
		return -1;
	snprintf(ph, sizeof(ph), "$%d", k);
	if (model_sql_add(q, ph) == -1 || model_sql_add(q, cast) == -1)
		return -1;
	return k;
}

/* ---- display formatting ---- */

char *
model_fmt_age(char *dst, size_t n, long long s)
{
	const char *sign = "";

	if (s < 0) {
		sign = "-";
		s = -s;
	}
	if (s < 60)
		snprintf(dst, n, "%s%llds", sign, s);
	else if (s < 3600)
		snprintf(dst, n, "%s%lldm%02llds", sign, s / 60, s % 60);
	else if (s < 86400)
		snprintf(dst, n, "%s%lldh%02lldm", sign, s / 3600,
		    (s % 3600) / 60);
	else
		snprintf(dst, n, "%s%lldd%02lldh", sign, s / 86400,
		    (s % 86400) / 3600);
	return dst;
}

char *
model_fmt_size(char *dst, size_t n, long long b)
{
	static const char units[] = "KMGT";
	double v = (double)b / 1024.0;
	int u = 0;

	if (b < 1024) {
		snprintf(dst, n, "%lld", b < 0 ? 0 : b);
		return dst;
	}
	while (v >= 1024.0 && u < 3) {
		v /= 1024.0;
		u++;
	}
	snprintf(dst, n, "%.1f%c", v, units[u]);
	return dst;
}

size_t
model_copy_clean(char *dst, const char *src, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; src[i] != '\0' && i + 1 < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[i] = '\0';
	return i;
}

char *
model_rule_summary(char *dst, size_t n, const char *conditions,
    const char *actions)
{
	char tmp[MODEL_TEXT_MAX * 2];

	snprintf(tmp, sizeof(tmp), "%s -> %s",
	    conditions && *conditions ? conditions : "always",
	    actions && *actions ? actions : "(no actions)");
	model_copy_clean(dst, tmp, n);
	return dst;
}

/* ---- conditions and actions ---- */

char *
model_cond_format(char *dst, size_t n, int negate, const char *kind,
    const char *op, const char *value)
{
	char q[MODEL_TEXT_MAX + 8];

	quote_value(q, sizeof(q), value ? value : "");
	snprintf(dst, n, "%s%s %s %s", negate ? "NOT " : "", kind, op, q);
	return dst;
}

char *
model_action_format(char *dst, size_t n, const struct model_action *a)
{
	char list[MODEL_TEXT_MAX], q[MODEL_TEXT_MAX + 8];
	const char *k = a->kind ? a->kind : "";

	if (strcmp(k, "auth_plain") == 0 || strcmp(k, "auth_tls") == 0) {
		array_list(list, sizeof(list), a->auth_mechs);
		snprintf(dst, n, "%s %s", k, list[0] ? list : "off");
	} else if (strcmp(k, "reply") == 0) {
		snprintf(dst, n, "reply %s", a->reply ? a->reply : "");
		if (a->reply_code) {
			bappend(dst, n, " ");
			bappend(dst, n, a->reply_code);
		}
		if (a->reply_ecode) {
			bappend(dst, n, " ");
			bappend(dst, n, a->reply_ecode);
		}
		if (a->reply_text) {
			/* Always quoted, so a text starting with digits
			 * cannot be read back as a code. */
			char *p = q;
			const char *s;

			*p++ = '"';
			for (s = a->reply_text; *s && p < q + sizeof(q) - 3;
			    s++) {
				if (*s == '"' || *s == '\\')
					*p++ = '\\';
				*p++ = *s;
			}
			*p++ = '"';
			*p = '\0';
			bappend(dst, n, " ");
			bappend(dst, n, q);
		}
	} else if (strcmp(k, "relay_host") == 0) {
		snprintf(dst, n, "relay_host %s:%s",
		    a->relay_host ? a->relay_host : "",
		    a->relay_port ? a->relay_port : "");
	} else if (strcmp(k, "relay_tls") == 0) {
		snprintf(dst, n, "relay_tls %s%s", a->relay_tls ? a->relay_tls
		    : "", a->relay_tls_verify == NULL ? "" :
		    model_pg_bool(a->relay_tls_verify) ? " verify" :
		    " noverify");
	} else if (strcmp(k, "relay_tls_versions") == 0) {
		array_list(list, sizeof(list), a->relay_tls_versions);
		snprintf(dst, n, "relay_tls_versions %s", list);
	} else if (strcmp(k, "add_header") == 0) {
		snprintf(dst, n, "add_header %s: %s",
		    a->header_name ? a->header_name : "",
		    a->header_value ? a->header_value : "");
	} else {
		snprintf(dst, n, "%s", k);
	}
	return dst;
}

int
model_cond_parse(const char *line, const char *rule, struct model_sql *q,
    char *err, size_t errlen)
{
	char word[64], kind[64], op[64], value[MODEL_TEXT_MAX];
	const char *s = line, *save;
	int negate = 0;

	model_sql_init(q);
	save = s;
	next_word(&s, word, sizeof(word));
	if (strcasecmp(word, "NOT") == 0 || strcmp(word, "!") == 0)
		negate = 1;
	else
		s = save;
	if (next_word(&s, kind, sizeof(kind)) == 0 ||
	    next_word(&s, op, sizeof(op)) == 0) {
		errf(err, errlen, "a condition is [NOT] kind op value, e.g. "
		    "conn_remote_addr in_cidr 10.0.0.0/8");
		return -1;
	}
	if (!is_ident(kind) || !is_ident(op)) {
		errf(err, errlen, "condition kind and op are lower-case words "
		    "(got \"%s %s\")", kind, op);
		return -1;
	}
	if (parse_value(s, value, sizeof(value), err, errlen) == -1)
		return -1;
	if (model_sql_add(q, "SELECT postern.rule_add_condition(") == -1 ||
	    add_param(q, rule, ", ") < 0 ||
	    add_param(q, kind, "::postern.condition_kind, ") < 0 ||
	    add_param(q, op, "::postern.condition_op, ") < 0 ||
	    add_param(q, value, ", ") < 0 ||
	    add_param(q, negate ? "true" : "false", "::boolean)") < 0) {
		errf(err, errlen, "condition too long");
		return -1;
	}
	return 0;
}

static int
is_code(const char *w)
{
	return strlen(w) == 3 && isdigit((unsigned char)w[0]) &&
	    isdigit((unsigned char)w[1]) && isdigit((unsigned char)w[2]);
}

static int
is_ecode(const char *w)
{
	int dots = 0;

	if (!isdigit((unsigned char)*w))
		return 0;
	for (; *w != '\0'; w++) {
		if (*w == '.')
			dots++;
		else if (!isdigit((unsigned char)*w))
			return 0;
	}
	return dots == 2;
}

static int
parse_reply(const char *s, const char *rule, struct model_sql *q, char *err,
    size_t errlen)
{
	char kind[32], w[64], code[8] = "", ecode[32] = "",
	    text[MODEL_TEXT_MAX] = "";
	const char *save;
	int have_text;

	if (next_word(&s, kind, sizeof(kind)) == 0) {
		errf(err, errlen, "reply needs accept, reject or tempfail");
		return -1;
	}
	save = s;
	if (next_word(&s, w, sizeof(w)) > 0 && is_code(w)) {
		bcopy_str(code, w, sizeof(code));
		save = s;
		if (next_word(&s, w, sizeof(w)) > 0 && is_ecode(w))
			bcopy_str(ecode, w, sizeof(ecode));
		else
			s = save;
	} else if (is_ecode(w)) {
		bcopy_str(ecode, w, sizeof(ecode));
	} else {
		s = save;
	}
	have_text = *skip_space(s) != '\0';
	if (have_text && parse_value(s, text, sizeof(text), err, errlen) == -1)
		return -1;
	if (model_sql_add(q, "SELECT postern.rule_add_reply(") == -1 ||
	    add_param(q, rule, ", ") < 0 ||
	    add_param(q, kind, "::postern.reply_kind, ") < 0 ||
	    add_param(q, code[0] ? code : NULL, "::integer, ") < 0 ||
	    add_param(q, ecode[0] ? ecode : NULL, ", ") < 0 ||
	    add_param(q, have_text ? text : NULL, ")") < 0) {
		errf(err, errlen, "reply too long");
		return -1;
	}
	return 0;
}

static int
parse_relay_host(const char *s, const char *rule, struct model_sql *q,
    char *err, size_t errlen)
{
	char hp[MODEL_TEXT_MAX], *colon;
	const char *p;

	copy_trim(hp, sizeof(hp), s);
	colon = strrchr(hp, ':');
	if (colon == NULL || colon[1] == '\0' || colon == hp ||
	    (hp[0] == '[' && colon[-1] != ']')) {
		errf(err, errlen, "relay_host needs host:port, e.g. "
		    "smarthost.example.net:587 or [192.0.2.1]:25");
		return -1;
	}
	*colon = '\0';
	for (p = colon + 1; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p)) {
			errf(err, errlen, "relay_host port \"%s\" is not a "
			    "number", colon + 1);
			return -1;
		}
	if (model_sql_add(q, "SELECT postern.rule_add_relay(") == -1 ||
	    add_param(q, rule, ", ") < 0 || add_param(q, hp, ", ") < 0 ||
	    add_param(q, colon + 1, "::integer)") < 0) {
		errf(err, errlen, "relay_host too long");
		return -1;
	}
	return 0;
}

static int
parse_relay_tls(const char *s, const char *rule, struct model_sql *q,
    char *err, size_t errlen)
{
	char mode[32], v[32];
	const char *verify = NULL;

	if (next_word(&s, mode, sizeof(mode)) == 0) {
		errf(err, errlen, "relay_tls needs a mode: none, "
		    "opportunistic, required or implicit");
		return -1;
	}
	if (next_word(&s, v, sizeof(v)) > 0) {
		if (strcasecmp(v, "verify") == 0)
			verify = "true";
		else if (strcasecmp(v, "noverify") == 0)
			verify = "false";
		else {
			errf(err, errlen, "relay_tls: expected verify or "
			    "noverify after the mode, got \"%s\"", v);
			return -1;
		}
	}
	if (*skip_space(s) != '\0') {
		errf(err, errlen, "relay_tls: unexpected text \"%s\"",
		    skip_space(s));
		return -1;
	}
	if (model_sql_add(q, "SELECT postern.rule_add_relay_tls(") == -1 ||
	    add_param(q, rule, ", ") < 0 ||
	    add_param(q, mode, "::postern.relay_tls_mode, ") < 0 ||
	    add_param(q, verify, "::boolean)") < 0)
		return -1;
	return 0;
}

int
model_action_parse(const char *line, const char *rule, struct model_sql *q,
    char *err, size_t errlen)
{
	char kind[32], arr[MODEL_TEXT_MAX], hv[MODEL_TEXT_MAX], *colon;
	const char *s = line;

	model_sql_init(q);
	if (next_word(&s, kind, sizeof(kind)) == 0) {
		errf(err, errlen, "empty action");
		return -1;
	}
	if (strcmp(kind, "auth_plain") == 0 || strcmp(kind, "auth_tls") == 0) {
		if (list_to_array(s, arr, sizeof(arr), 1, "", err,
		    errlen) == -1)
			return -1;
		if (model_sql_add(q, "SELECT postern.rule_add_auth(") == -1 ||
		    add_param(q, rule, ", ") < 0 ||
		    add_param(q, kind[5] == 'p' ? "plain" : "tls", ", ") < 0 ||
		    add_param(q, arr, "::text[])") < 0)
			goto toolong;
		return 0;
	}
	if (strcmp(kind, "reply") == 0)
		return parse_reply(s, rule, q, err, errlen);
	if (strcmp(kind, "relay_host") == 0)
		return parse_relay_host(s, rule, q, err, errlen);
	if (strcmp(kind, "relay_tls") == 0)
		return parse_relay_tls(s, rule, q, err, errlen);
	if (strcmp(kind, "relay_tls_versions") == 0) {
		if (list_to_array(s, arr, sizeof(arr), 0, ".", err,
		    errlen) == -1)
			return -1;
		if (model_sql_add(q, "SELECT postern.rule_add_relay_versions(")
		    == -1 || add_param(q, rule, ", ") < 0 ||
		    add_param(q, arr, "::postern.tls_version[])") < 0)
			goto toolong;
		return 0;
	}
	if (strcmp(kind, "add_header") == 0) {
		copy_trim(hv, sizeof(hv), s);
		colon = strchr(hv, ':');
		if (colon == NULL) {
			errf(err, errlen, "add_header needs Name: value");
			return -1;
		}
		*colon = '\0';
		if (model_sql_add(q, "SELECT postern.rule_add_header(") == -1 ||
		    add_param(q, rule, ", ") < 0 || add_param(q, hv, ", ") < 0 ||
		    add_param(q, skip_space(colon + 1), ")") < 0)
			goto toolong;
		return 0;
	}
	if (strcmp(kind, "stop") == 0 || strcmp(kind, "relay_allow") == 0 ||
	    strcmp(kind, "sender_allow") == 0) {
		if (*skip_space(s) != '\0') {
			errf(err, errlen, "%s takes no value", kind);
			return -1;
		}
		if (model_sql_add(q, strcmp(kind, "stop") == 0 ?
		    "SELECT postern.rule_add_stop(" :
		    strcmp(kind, "relay_allow") == 0 ?
		    "SELECT postern.rule_add_relay_allow(" :
		    "SELECT postern.rule_add_sender_allow(") == -1 ||
		    add_param(q, rule, ")") < 0)
			goto toolong;
		return 0;
	}
	errf(err, errlen, "unknown action \"%s\" (auth_plain, auth_tls, reply, "
	    "relay_host, relay_tls, relay_tls_versions, add_header, stop, "
	    "relay_allow, sender_allow)", kind);
	return -1;
toolong:
	errf(err, errlen, "action too long");
	return -1;
}

/* ---- AUTH mechanism sets ---- */

int
model_mechs_has(const char *array, const char *mech)
{
	char list[MODEL_TEXT_MAX], *tok, *save = NULL;

	array_list(list, sizeof(list), array);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save))
		if (strcasecmp(tok, mech) == 0)
			return 1;
	return 0;
}

int
model_mechs_toggle(const char *array, const char *mech, char *dst, size_t n)
{
	static const char *const order[] = { "PLAIN", "LOGIN" };
	char list[MODEL_TEXT_MAX], *tok, *save = NULL;
	int has = model_mechs_has(array, mech), count = 0, rc = 0;
	size_t i;

	bcopy_str(dst, "{", n);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int on = strcasecmp(order[i], mech) == 0 ? !has :
		    model_mechs_has(array, order[i]);

		if (!on)
			continue;
		if (count++ > 0)
			rc |= bappend(dst, n, ",");
		rc |= bappend(dst, n, order[i]);
	}
	/* Others (unknown to us) are kept; the database judges them. */
	array_list(list, sizeof(list), array);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(tok, "PLAIN") == 0 ||
		    strcasecmp(tok, "LOGIN") == 0)
			continue;
		if (strcasecmp(tok, mech) == 0)
			continue;
		if (count++ > 0)
			rc |= bappend(dst, n, ",");
		rc |= bappend(dst, n, tok);
	}
	if (!has && strcasecmp(mech, "PLAIN") != 0 &&
	    strcasecmp(mech, "LOGIN") != 0) {
		if (count++ > 0)
			rc |= bappend(dst, n, ",");
		rc |= bappend(dst, n, mech);
	}
	rc |= bappend(dst, n, "}");
	return rc ? -1 : 0;
}

char *
model_mechs_display(char *dst, size_t n, const char *array)
{
	array_list(dst, n, array);
	if (dst[0] == '\0')
		bcopy_str(dst, "off", n);
	return dst;
}

/* ---- the queue ---- */

static const char *const state_names[MODEL_STATE_COUNT] = {
	"pending", "queued", "deferred", "held", "delivered", "bounced", "all"
};

static const char *const state_sql[MODEL_STATE_COUNT] = {
	"state IN ('queued', 'deferred', 'held')",
	"state = 'queued'",
	"state = 'deferred'",
	"state = 'held'",
	"state = 'delivered'",
	"state = 'bounced'",
	"true",
};

const char *
model_state_name(int f)
{
	if (f < 0 || f >= MODEL_STATE_COUNT)
		return "?";
	return state_names[f];
}

int
model_state_parse(const char *s)
{
	char t[32];
	int i;

	copy_trim(t, sizeof(t), s);
	if (t[0] == '\0')
		return MODEL_STATE_PENDING;
	for (i = 0; i < MODEL_STATE_COUNT; i++)
		if (strncasecmp(state_names[i], t, strlen(t)) == 0)
			return i;
	return -1;
}

int
model_queue_where(const struct model_queue_filter *f, struct model_sql *q)
{
	int st = f->state >= 0 && f->state < MODEL_STATE_COUNT ? f->state :
	    MODEL_STATE_PENDING;
	char v[256];

	if (model_sql_add(q, " WHERE ") == -1 ||
	    model_sql_add(q, state_sql[st]) == -1)
		return -1;
	copy_trim(v, sizeof(v), f->domain);
	if (v[0] != '\0') {
		const char *d = v[0] == '@' ? v + 1 : v;

		if (model_sql_add(q, " AND domain = lower(") == -1 ||
		    add_param(q, d, ")") < 0)
			return -1;
	}
	copy_trim(v, sizeof(v), f->sender);
	if (v[0] != '\0') {
		if (model_sql_add(q, " AND strpos(lower(sender), lower(") == -1
		    || add_param(q, v, ")) > 0") < 0)
			return -1;
	}
	return 0;
}

int
model_queue_page_sql(const struct model_queue_filter *f,
    const char *select_list, int dir, const struct model_qkey *key,
    int limit, struct model_sql *q)
{
	char lim[16];
	const char *cmp = NULL, *range = NULL;
	int a, b, c, desc = dir == MODEL_PAGE_BEFORE || dir == MODEL_PAGE_LAST;
	char ph[160];

	model_sql_init(q);
	if (model_sql_add(q, "SELECT ") == -1 ||
	    model_sql_add(q, select_list) == -1 ||
	    model_sql_add(q, " FROM postern.queue_recipients") == -1 ||
	    model_queue_where(f, q) == -1)
		return -1;
	switch (dir) {
	case MODEL_PAGE_AFTER:
		cmp = ">";
		range = ">=";
		break;
	case MODEL_PAGE_FROM:
		cmp = ">=";
		range = ">=";
		break;
	case MODEL_PAGE_BEFORE:
		cmp = "<";
		range = "<=";
		break;
	default:
		break;
	}
	if (cmp != NULL && key != NULL) {
		/* The leading bound repeated alone lets the planner use
		 * messages_received_at as a range (sql-reference.md). */
		if ((a = model_sql_param(q, key->received_at)) < 0 ||
		    (b = model_sql_param(q, key->message_id)) < 0 ||
		    (c = model_sql_param(q, key->rcpt_no)) < 0)
			return -1;
		snprintf(ph, sizeof(ph), " AND received_at %s $%d::timestamptz"
		    " AND (received_at, message_id, rcpt_no) %s "
		    "($%d::timestamptz, $%d::bigint, $%d::integer)",
		    range, a, cmp, a, b, c);
		if (model_sql_add(q, ph) == -1)
			return -1;
	}
	if (model_sql_add(q, desc ? " ORDER BY received_at DESC, message_id "
	    "DESC, rcpt_no DESC" : " ORDER BY received_at, message_id, "
	    "rcpt_no") == -1)
		return -1;
	snprintf(lim, sizeof(lim), "%d", limit < 1 ? 1 : limit);
	if (model_sql_add(q, " LIMIT ") == -1 ||
	    add_param(q, lim, "::integer") < 0)
		return -1;
	return 0;
}

/* ---- marks ---- */

static int
is_queue_id(const char *id)
{
	size_t i;

	for (i = 0; i < MODEL_QUEUE_ID_LEN; i++)
		if (!isxdigit((unsigned char)id[i]))
			return 0;
	return id[i] == '\0';
}

void
model_marks_clear(struct model_marks *m)
{
	m->n = 0;
}

int
model_marks_has(const struct model_marks *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcasecmp(m->id[i], id) == 0)
			return 1;
	return 0;
}

int
model_marks_toggle(struct model_marks *m, const char *id)
{
	size_t i, j;

	if (!is_queue_id(id))
		return -1;
	for (i = 0; i < m->n; i++)
		if (strcasecmp(m->id[i], id) == 0) {
			m->n--;
			if (i != m->n)
				memcpy(m->id[i], m->id[m->n],
				    sizeof(m->id[i]));
			return 0;
		}
	if (m->n >= MODEL_MARKS_MAX)
		return -1;
	for (j = 0; j <= MODEL_QUEUE_ID_LEN; j++)
		m->id[m->n][j] = (char)toupper((unsigned char)id[j]);
	m->n++;
	return 1;
}

int
model_marks_array(const struct model_marks *m, const char *one, char *dst,
    size_t n)
{
	size_t i;
	int count = 0;

	bcopy_str(dst, "{", n);
	if (m->n == 0) {
		if (one == NULL || !is_queue_id(one))
			return bappend(dst, n, "}") == -1 ? -1 : 0;
		if (bappend(dst, n, one) == -1 || bappend(dst, n, "}") == -1)
			return -1;
		return 1;
	}
	for (i = 0; i < m->n; i++) {
		if ((count++ > 0 && bappend(dst, n, ",") == -1) ||
		    bappend(dst, n, m->id[i]) == -1)
			return -1;
	}
	if (bappend(dst, n, "}") == -1)
		return -1;
	return count;
}

/* ---- cursor ---- */

void
model_cursor_fix(struct model_cursor *c)
{
	if (c->rows < 1)
		c->rows = 1;
	if (c->n <= 0) {
		c->sel = c->top = 0;
		return;
	}
	if (c->sel >= c->n)
		c->sel = c->n - 1;
	if (c->sel < 0)
		c->sel = 0;
	if (c->top > c->sel)
		c->top = c->sel;
	if (c->sel >= c->top + c->rows)
		c->top = c->sel - c->rows + 1;
	if (c->top > c->n - c->rows)
		c->top = c->n - c->rows;
	if (c->top < 0)
		c->top = 0;
}

void
model_cursor_move(struct model_cursor *c, int delta)
{
	c->sel += delta;
	model_cursor_fix(c);
}

/* ---- lines ---- */

void
model_lines_clear(struct model_lines *l)
{
	l->n = 0;
}

int
model_lines_add(struct model_lines *l, const char *text)
{
	const char *p = text;

	for (;;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p), i, o = 0;
		char *dst;

		if (l->n >= MODEL_LINES_MAX)
			return -1;
		dst = l->line[l->n++];
		for (i = 0; i < len && o + 1 < MODEL_LINE_MAX; i++) {
			unsigned char ch = (unsigned char)p[i];

			if (ch == '\r')
				continue;
			if (ch == '\t') {
				do
					dst[o++] = ' ';
				while (o % 8 != 0 && o + 1 < MODEL_LINE_MAX);
				continue;
			}
			dst[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
		}
		dst[o] = '\0';
		if (e == NULL)
			return 0;
		p = e + 1;
	}
}

int
model_lines_addf(struct model_lines *l, const char *fmt, ...)
{
	char buf[MODEL_LINE_MAX * 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return model_lines_add(l, buf);
}

int
model_pg_bool(const char *v)
{
	return v != NULL && (strcmp(v, "t") == 0 || strcmp(v, "true") == 0);
}

int
model_targets_array(const char *in, char *dst, size_t n, char *err,
    size_t errlen)
{
	size_t len = 0, tl;
	const char *p = in, *t, *at;
	int count = 0;

	if (n < 3) {
		snprintf(err, errlen, "targets: no room");
		return -1;
	}
	dst[len++] = '{';
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		t = p;
		while (*p != '\0' && *p != ' ' && *p != ',')
			p++;
		tl = (size_t)(p - t);
		at = memchr(t, '@', tl);
		if (at == NULL || at == t || at == t + tl - 1 ||
		    strcspn(t, "\"{}\\'\t\r\n") < tl) {
			snprintf(err, errlen, "target \"%.*s\" is not an address "
			    "(local@domain)", (int)(tl > 64 ? 64 : tl), t);
			return -1;
		}
		for (at = t; at < p; at++)
			if ((unsigned char)*at < 0x21 || (unsigned char)*at > 0x7e) {
				snprintf(err, errlen, "target \"%.*s\": only "
				    "printable ASCII", (int)(tl > 64 ? 64 : tl),
				    t);
				return -1;
			}
		if (len + tl + 2 >= n) {
			snprintf(err, errlen, "targets: too long");
			return -1;
		}
		if (count > 0)
			dst[len++] = ',';
		memcpy(dst + len, t, tl);
		len += tl;
		count++;
	}
	if (count == 0) {
		snprintf(err, errlen, "targets: give at least one address");
		return -1;
	}
	dst[len++] = '}';
	dst[len] = '\0';
	return count;
}
