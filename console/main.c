/*
 * main.c - postern-console: command line, bootstrap, start-up.
 *
 *   postern-console [-c bootstrap.conf]
 *
 * The bootstrap file is posternd's: "conninfo = ..." says how to reach the
 * database ("node" and "spool_dir" lines are accepted and ignored).
 * Without -c, libpq's environment (PGHOST, PGDATABASE, ...) is used.  The
 * console needs schema version 4 (sql/migrations/004_console.sql) and
 * says so instead of failing later.
 *
 * Exit codes are sysexits(3): 0 on quit, EX_USAGE, EX_CONFIG (bootstrap),
 * EX_UNAVAILABLE (database), EX_OSERR (no terminal).  The terminal is
 * restored on every path (crt.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "console/app.h"
#include "console/crt.h"
#include "console/db.h"

#define CONSOLE_SCHEMA_VERSION 4

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

/* Reads conninfo from a posternd bootstrap file.  Returns 0 or -1 with a
 * message on stderr. */
static int
read_bootstrap(const char *path, char *conninfo, size_t clen)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = -1;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k, *v, *eq;

		lineno++;
		k = trim(line);
		if (*k == '#' || *k == '\0')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			fprintf(stderr, "%s:%d: expected \"key = value\"\n",
			    path, lineno);
			goto out;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (strcmp(k, "conninfo") == 0) {
			if (strlen(v) >= clen) {
				fprintf(stderr, "%s:%d: conninfo too long\n",
				    path, lineno);
				goto out;
			}
			snprintf(conninfo, clen, "%s", v);
		} else if (strcmp(k, "node") != 0 &&
		    strcmp(k, "spool_dir") != 0) {
			fprintf(stderr, "%s:%d: unknown key \"%s\" (known: "
			    "conninfo, node, spool_dir)\n", path, lineno, k);
			goto out;
		}
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: postern-console [-c bootstrap.conf]\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	char conninfo[1024] = "", label[512];
	const char *bootstrap = NULL;
	struct db db;
	struct app *a;
	PGresult *r;
	int ch, version;

	while ((ch = getopt(argc, argv, "c:h")) != -1) {
		switch (ch) {
		case 'c':
			bootstrap = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (bootstrap != NULL && read_bootstrap(bootstrap, conninfo,
	    sizeof(conninfo)) == -1)
		return EX_CONFIG;
	if (db_open(&db, conninfo) == -1) {
		fprintf(stderr, "postern-console: cannot connect: %s\n",
		    db.err);
		db_close(&db);
		return EX_UNAVAILABLE;
	}
	r = db_query(&db, "SELECT version FROM postern.schema_version", 0,
	    NULL);
	if (r == NULL) {
		fprintf(stderr, "postern-console: %s\n", db.err);
		db_close(&db);
		return EX_UNAVAILABLE;
	}
	version = atoi(db_val(r, 0, 0));
	PQclear(r);
	if (version < CONSOLE_SCHEMA_VERSION) {
		fprintf(stderr, "postern-console: the database is at schema "
		    "version %d, the console needs %d: apply "
		    "sql/migrations/004_console.sql (scripts/db-load.sh)\n",
		    version, CONSOLE_SCHEMA_VERSION);
		db_close(&db);
		return EX_UNAVAILABLE;
	}
	snprintf(label, sizeof(label), "%s@%s  schema v%d", PQdb(db.conn),
	    PQhost(db.conn) ? PQhost(db.conn) : "local", version);
	if (crt_init() == -1) {
		db_close(&db);
		return EX_OSERR;
	}
	a = app_new(&db, label);
	app_run(a);
	crt_done();
	app_free(a);
	db_close(&db);
	return 0;
}
