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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "console/app.h"
#include "daemon/bootstrap.h"
#include "console/crt.h"
#include "console/db.h"

#include "daemon/schema_version.h"
#define CONSOLE_SCHEMA_VERSION POSTERN_SCHEMA_VERSION

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
	if (bootstrap != NULL) {
		struct bootstrap b;
		char err[512];

		if (bootstrap_read(bootstrap, &b, err, sizeof(err)) == -1) {
			fprintf(stderr, "postern-console: %s\n", err);
			return EX_CONFIG;
		}
		snprintf(conninfo, sizeof(conninfo), "%s", b.conninfo);
	}
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
