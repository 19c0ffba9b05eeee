/*
 * q_aliases.h - SQL for the Aliases screen.
 *
 * Reads the view postern.alias_list (one row per alias with its targets)
 * and settings.admin_address / recipient_delimiter; changes aliases only
 * with postern.add_alias and postern.remove_alias (migration 010), whose
 * values the table's constraints check.  Running daemons pick changes up
 * through NOTIFY postern_config.
 *
 * Every function returns 0 or -1 with db->err set.
 */
#ifndef POSTERN_CONSOLE_Q_ALIASES_H
#define POSTERN_CONSOLE_Q_ALIASES_H

#include "console/db.h"

#define Q_ALIASES_MAX 1000

struct q_alias {
	char source[257];
	char kind[16];		/* address, catch-all */
	char targets[512];	/* "a@x, b@y" (cut when long) */
	char targets_edit[512];	/* the same, for the form; "" when cut */
	int has_remote;
};

struct q_aliases {
	int n;
	int more;		/* there were more than Q_ALIASES_MAX */
	char admin[257];	/* settings.admin_address, "" = not set */
	char delimiter[16];	/* settings.recipient_delimiter */
	struct q_alias a[Q_ALIASES_MAX];
};

int q_aliases_load(struct db *db, struct q_aliases *out);
/* Adds targets (array text {a,b}, see model_targets_array) to source. */
int q_aliases_add(struct db *db, const char *source, const char *targets);
/* Replaces every target of source with targets, in one transaction. */
int q_aliases_replace(struct db *db, const char *source, const char *targets);
int q_aliases_remove(struct db *db, const char *source);

#endif
