/*
 * vocab.c - parsing and printing of the shared vocabulary.  See vocab.h.
 */
#include "daemon/vocab.h"

#include <stdio.h>
#include <string.h>

#include "daemon/log.h"

static const char *const relay_tls_names[] = {
	"unset", "none", "opportunistic", "required", "implicit",
};

enum relay_tls
relay_tls_parse(const char *s)
{
	size_t i;

	if (s == NULL)
		return RELAY_TLS_UNSET;
	/* "unset" is not an SQL value: start at NONE. */
	for (i = RELAY_TLS_NONE; i <= RELAY_TLS_IMPLICIT; i++)
		if (strcmp(relay_tls_names[i], s) == 0)
			return (enum relay_tls)i;
	return RELAY_TLS_UNSET;
}

const char *
relay_tls_name(enum relay_tls t)
{
	switch (t) {
	case RELAY_TLS_UNSET:
	case RELAY_TLS_NONE:
	case RELAY_TLS_OPPORTUNISTIC:
	case RELAY_TLS_REQUIRED:
	case RELAY_TLS_IMPLICIT:
		return relay_tls_names[t];
	}
	fatalx("relay_tls_name: bad mode %d", (int)t);
}

static const struct {
	const char *name;
	unsigned bit;
} tls_version_names[] = {
	{ "TLSv1", TLS_VERSIONS_10 },
	{ "TLSv1.0", TLS_VERSIONS_10 },
	{ "TLSv1.1", TLS_VERSIONS_11 },
	{ "TLSv1.2", TLS_VERSIONS_12 },
	{ "TLSv1.3", TLS_VERSIONS_13 },
};

unsigned
tls_versions_parse(const char *s)
{
	unsigned v = 0;
	size_t i, len;

	if (s == NULL)
		return 0;
	/* Bounded: every round consumes at least one byte or ends. */
	while (*s != '\0') {
		s += strspn(s, "{}, \t\"");
		len = strcspn(s, "{}, \t\"");
		if (len == 0)
			break;
		for (i = 0; i < sizeof(tls_version_names) /
		    sizeof(tls_version_names[0]); i++)
			if (strlen(tls_version_names[i].name) == len &&
			    strncmp(tls_version_names[i].name, s, len) == 0)
				v |= tls_version_names[i].bit;
		s += len;
	}
	return v;
}

void
tls_versions_text(unsigned v, char *out, size_t n)
{
	if (n == 0)
		return;
	snprintf(out, n, "%s%s%s%s", (v & TLS_VERSIONS_10) ? "TLSv1," : "",
	    (v & TLS_VERSIONS_11) ? "TLSv1.1," : "",
	    (v & TLS_VERSIONS_12) ? "TLSv1.2," : "",
	    (v & TLS_VERSIONS_13) ? "TLSv1.3," : "");
	if (out[0] != '\0' && out[strlen(out) - 1] == ',')
		out[strlen(out) - 1] = '\0';
}
