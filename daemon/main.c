/*
 * main.c - posternd: command line, bootstrap, start-up.
 *
 *   posternd [-c bootstrap.conf] [-n node] [-d]
 *   posternd [-c bootstrap.conf] [-n node] --explain [options]
 *       (evaluate the live rules for a described transaction: explain.c)
 *
 * The bootstrap says only how to reach the database and this node's name:
 *   conninfo = host=/path/to/socket port=5432 dbname=postern user=postern
 *   node = mx1
 * Without -c, libpq's environment (PGHOST, PGDATABASE, ...) is used and the
 * node name comes from -n, $POSTERN_NODE or the host name.  Everything else
 * is in SQL.  Exit codes are sysexits(3).
 *
 * At start the soft descriptor limit (RLIMIT_NOFILE) is raised to the hard
 * limit; server.c keeps settings.max_connections below what it allows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon/bootstrap.h"
#include "daemon/db.h"
#include "daemon/explain.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "daemon/spool.h"
#include "daemon/util.h"
#include "tls/tls.h"

/* Soft RLIMIT_NOFILE up to the hard limit (logged either way). */
static void
raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)rl.rlim_max);
			return;
		}
	}
	log_info("descriptor limit %llu (was %llu, hard limit %llu)",
	    (unsigned long long)rl.rlim_cur, (unsigned long long)was,
	    (unsigned long long)rl.rlim_max);
}

static void
usage(void)
{
	fprintf(stderr, "usage: posternd [-d] [-c bootstrap.conf] [-n node]\n"
	    "       posternd [-c bootstrap.conf] [-n node] --explain [--client ADDR]"
	    " [--tls]\n            [--listener NAME] [--port N] [--auth-user USER]"
	    " [--helo NAME]\n            [--from ADDR] [--to ADDR]... [--size BYTES]\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	char conninfo[1024] = "", node[128] = "";
	const char *bootstrap = NULL, *env;
	struct server_opts o;
	int ch, debug = 0, rc, explain_at = 0, i;

	/* Everything after --explain belongs to the explain subcommand. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--explain") == 0) {
			explain_at = i;
			break;
		}
	if (explain_at > 0)
		argc = explain_at;
	while ((ch = getopt(argc, argv, "c:n:dh")) != -1) {
		switch (ch) {
		case 'c':
			bootstrap = optarg;
			break;
		case 'n':
			str_copy(node, optarg, sizeof(node));
			break;
		case 'd':
			debug = 1;
			break;
		default:
			usage();
		}
	}
	log_init("posternd", debug);
	if (bootstrap != NULL) {
		struct bootstrap b;
		char err[512];

		if (bootstrap_read(bootstrap, &b, err, sizeof(err)) == -1) {
			log_warnx("%s", err);
			return EX_CONFIG;
		}
		str_copy(conninfo, b.conninfo, sizeof(conninfo));
		if (b.node[0] != '\0')
			str_copy(node, b.node, sizeof(node));
		if (b.spool_dir[0] != '\0')
			spool_set_dir(b.spool_dir);
	}
	if (node[0] == '\0' && (env = getenv("POSTERN_NODE")) != NULL)
		str_copy(node, env, sizeof(node));
	if (node[0] == '\0' && gethostname(node, sizeof(node) - 1) == -1)
		str_copy(node, "node1", sizeof(node));
	db_set_conninfo(conninfo);
	if (explain_at > 0) {
		char **eargv = argv + explain_at + 1;
		int eargc = 0;

		while (eargv[eargc] != NULL)
			eargc++;
		if (tls_global_init() == -1)
			log_fatal(EX_SOFTWARE, "cannot initialise wolfSSL");
		rc = explain_main(conninfo, node, eargc, eargv);
		tls_global_cleanup();
		return rc;
	}
	if (tls_global_init() == -1)
		log_fatal(EX_SOFTWARE, "cannot initialise wolfSSL");
	raise_nofile();
	memset(&o, 0, sizeof(o));
	o.conninfo = conninfo;
	o.node = node;
	rc = server_run(&o);
	tls_global_cleanup();
	return rc;
}
