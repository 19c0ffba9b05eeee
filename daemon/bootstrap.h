/*
 * bootstrap.h - the tiny bootstrap file shared by posternd and
 * postern-console: how to reach the database and this node's name.
 *
 *   # comment
 *   conninfo = host=/run/postgresql dbname=postern user=postern
 *   node = mx1
 *   spool_dir = /var/spool/postern
 *
 * Keys are fixed (conninfo, node, spool_dir); an unknown key, a line
 * without "=", a value too long for its field or an unreadable file is an
 * error whose message names the file and the line.  Lines are at most
 * 1023 bytes.  Pure file reading, no global state: thread-safe.
 */
#ifndef POSTERN_BOOTSTRAP_H
#define POSTERN_BOOTSTRAP_H

#include <stddef.h>

struct bootstrap {
	char conninfo[1024];	/* "" when the file has none */
	char node[128];
	char spool_dir[512];
};

/* Fills *b (fields the file does not set stay ""). Returns 0, or -1 with
 * a readable message in err. */
int bootstrap_read(const char *path, struct bootstrap *b, char *err,
    size_t errlen);

#endif
