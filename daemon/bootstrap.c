/*
 * bootstrap.c - reads the bootstrap file.  See bootstrap.h.
 */
#include "daemon/bootstrap.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
bootstrap_read(const char *path, struct bootstrap *b, char *err,
    size_t errlen)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = -1;

	memset(b, 0, sizeof(*b));
	if (f == NULL) {
		snprintf(err, errlen, "cannot open bootstrap file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k, *v, *eq, *dst;
		size_t dlen;

		lineno++;
		k = trim(line);
		if (*k == '#' || *k == '\0')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%d: expected \"key = value\"",
			    path, lineno);
			goto out;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (strcmp(k, "conninfo") == 0) {
			dst = b->conninfo;
			dlen = sizeof(b->conninfo);
		} else if (strcmp(k, "node") == 0) {
			dst = b->node;
			dlen = sizeof(b->node);
		} else if (strcmp(k, "spool_dir") == 0) {
			dst = b->spool_dir;
			dlen = sizeof(b->spool_dir);
		} else {
			snprintf(err, errlen, "%s:%d: unknown key \"%.64s\" (known:"
			    " conninfo, node, spool_dir)", path, lineno, k);
			goto out;
		}
		if (strlen(v) >= dlen) {
			snprintf(err, errlen, "%s:%d: %s is longer than %zu bytes",
			    path, lineno, k, dlen - 1);
			goto out;
		}
		memcpy(dst, v, strlen(v) + 1);
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}
