/*
 * addr.c - RFC 5321 path and parameter parser.  See addr.h.
 *
 * Safety: every index is checked against the input length and the output
 * limits before it is used; nothing here allocates.
 */
#include "daemon/addr.h"

#include <ctype.h>
#include <string.h>

#include "daemon/util.h"

/* RFC 5321 4.1.2 atext (RFC 5322 3.2.3). */
static int
is_atext(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
parse_local(const char *s, size_t n, size_t *used)
{
	size_t i = 0;

	if (n == 0)
		return -1;
	if (s[0] == '"') {
		for (i = 1; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '\\') {
				if (++i >= n || (unsigned char)s[i] < 0x20 ||
				    (unsigned char)s[i] > 0x7e)
					return -1;
			} else if (c == '"') {
				/* The 64-octet limit includes the quotes. */
				*used = i + 1;
				return *used <= ADDR_LOCAL_MAX ? 0 : -1;
			} else if (c < 0x20 || c > 0x7e) {
				return -1;
			}
		}
		return -1;
	}
	/* Dot-string: atoms separated by single dots. */
	for (;;) {
		size_t start = i;

		while (i < n && is_atext((unsigned char)s[i]))
			i++;
		if (i == start)
			return -1;
		if (i < n && s[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	if (i > ADDR_LOCAL_MAX)
		return -1;
	*used = i;
	return 0;
}

static int
parse_domain(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return -1;
	if (s[0] == '[') {
		/* Address literal: [1.2.3.4] or [IPv6:...]; content checked
		 * for charset only, the literal is never routed on. */
		if (s[n - 1] != ']' || n < 3)
			return -1;
		for (i = 1; i < n - 1; i++) {
			unsigned char c = (unsigned char)s[i];

			if (!isalnum(c) && c != '.' && c != ':')
				return -1;
		}
		return 0;
	}
	while (i < n) {
		size_t start = i;

		while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-'))
			i++;
		if (i == start || i - start > 63 || s[start] == '-' ||
		    s[i - 1] == '-')
			return -1;
		if (i == n)
			break;
		if (s[i] != '.' || i + 1 == n)
			return -1;
		i++;
	}
	return 0;
}

int
addr_parse_mailbox(const char *s, size_t n, struct addr *out)
{
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	if (n > ADDR_MAX || parse_local(s, n, &used) == -1)
		return -1;
	if (used >= n || s[used] != '@')
		return -1;
	if (parse_domain(s + used + 1, n - used - 1) == -1)
		return -1;
	memcpy(out->addr, s, n);
	out->addr[n] = '\0';
	memcpy(out->domain, s + used + 1, n - used - 1);
	out->domain[n - used - 1] = '\0';
	str_lower(out->domain);
	/* Keep the stored address's domain lower-case too. */
	memcpy(out->addr + used + 1, out->domain, n - used - 1);
	return 0;
}

int
addr_parse_cmd(const char *arg, enum addr_kind kind, struct addr *out,
    const char **params)
{
	const char *kw = kind == ADDR_SENDER ? "FROM:" : "TO:";
	const char *p, *end;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!str_iprefix(arg, kw))
		return -1;
	p = arg + strlen(kw);
	if (*p == ' ')
		p++;
	if (*p != '<')
		return -1;
	p++;
	end = strchr(p, '>');
	if (end == NULL)
		return -1;
	n = (size_t)(end - p);
	if (n > ADDR_MAX)
		return -1;
	if (n == 0) {
		if (kind != ADDR_SENDER)
			return -1;
		out->is_null = 1;
	} else if (kind == ADDR_RECIPIENT && n == 10 &&
	    strncasecmp(p, "postmaster", 10) == 0) {
		strcpy(out->addr, "postmaster");
	} else {
		const char *mb = p;

		/* A-d-l: "@a,@b:" is parsed and dropped (RFC 5321 C). */
		if (*mb == '@') {
			const char *colon = memchr(mb, ':', n);

			if (colon == NULL)
				return -1;
			n -= (size_t)(colon + 1 - mb);
			mb = colon + 1;
		}
		if (addr_parse_mailbox(mb, n, out) == -1)
			return -1;
	}
	p = end + 1;
	if (*p != '\0' && *p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	*params = p;
	return 0;
}

int
addr_param_next(const char **pp, char *key, size_t keylen, char *val,
    size_t vallen)
{
	const char *p = *pp;
	size_t k = 0, v = 0;

	while (*p == ' ')
		p++;
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	while (*p != '\0' && *p != ' ' && *p != '=') {
		if (k + 1 >= keylen || !(isalnum((unsigned char)*p) || *p == '-'))
			return -1;
		key[k++] = *p++;
	}
	key[k] = '\0';
	if (k == 0)
		return -1;
	if (*p == '=') {
		p++;
		while (*p != '\0' && *p != ' ') {
			unsigned char c = (unsigned char)*p;

			if (v + 1 >= vallen || c < 0x21 || c > 0x7e || c == '=')
				return -1;
			val[v++] = *p++;
		}
		if (v == 0)
			return -1;
	}
	val[v] = '\0';
	*pp = p;
	return 1;
}
