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
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon/explain.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "daemon/spool.h"
#include "daemon/util.h"
#include "tls/tls.h"

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

static int
read_bootstrap(const char *path, char *conninfo, size_t clen, char *node,
    size_t nlen)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int lineno = 0;

	if (f == NULL) {
		log_warn("cannot open bootstrap file %s", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k, *v, *eq;

		lineno++;
		k = trim(line);
		if (*k == '#' || *k == '\0')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			log_warnx("%s:%d: expected \"key = value\"", path, lineno);
			fclose(f);
			return -1;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (strcmp(k, "conninfo") == 0) {
			str_copy(conninfo, v, clen);
		} else if (strcmp(k, "node") == 0) {
			str_copy(node, v, nlen);
		} else if (strcmp(k, "spool_dir") == 0) {
			spool_set_dir(v);
		} else {
			log_warnx("%s:%d: unknown key \"%s\" (known: conninfo, "
			    "node, spool_dir)", path, lineno, k);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
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
	if (bootstrap != NULL && read_bootstrap(bootstrap, conninfo,
	    sizeof(conninfo), node, sizeof(node)) == -1)
		return EX_CONFIG;
	if (node[0] == '\0' && (env = getenv("POSTERN_NODE")) != NULL)
		str_copy(node, env, sizeof(node));
	if (node[0] == '\0' && gethostname(node, sizeof(node) - 1) == -1)
		str_copy(node, "node1", sizeof(node));
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
	memset(&o, 0, sizeof(o));
	o.conninfo = conninfo;
	o.node = node;
	rc = server_run(&o);
	tls_global_cleanup();
	return rc;
}
