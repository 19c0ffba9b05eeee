/*
 * q_listeners.h - SQL for the Listeners screen.
 *
 * Reads postern.listeners; changes them only with
 * postern.listener_set_enabled and postern.listener_update (migration
 * 004), whose values the table's constraints and address trigger check.
 * Running daemons rebind through NOTIFY postern_config.
 *
 * Every function returns 0 or -1 with db->err set.  NULL columns read as
 * "" (cert_file "" = the default certificate, and so on), and "" is sent
 * back as NULL by listener_update.
 */
#ifndef POSTERN_CONSOLE_Q_LISTENERS_H
#define POSTERN_CONSOLE_Q_LISTENERS_H

#include "console/db.h"

#define Q_LISTENERS_MAX 128

struct q_listener {
	char name[65], node[65], address[64], port[8], mode[16];
	char tls_min[16], tls_max[16], max_conn[16];
	char ciphers[256], dh_file[256], cert_file[256], key_file[256];
	int enabled;
};

struct q_listeners {
	int n;
	struct q_listener l[Q_LISTENERS_MAX];
};

int q_listeners_load(struct db *db, struct q_listeners *out);
int q_listeners_set_enabled(struct db *db, const char *name, int on);
int q_listeners_update(struct db *db, const struct q_listener *l);

#endif
