/*
 * screen.c - helpers shared by the screens.  See screen.h.
 *
 * The key tables are the single source for dispatch, the key bar and the
 * Help screen; scr_key_action() is the dispatch half.
 */
#include "console/screen.h"

#include <stddef.h>

int
scr_key_action(const struct scr_key *t, int key)
{
	for (; t != NULL && t->help != NULL; t++)
		if (key != 0 && (t->key == key || t->alt == key ||
		    t->alt2 == key))
			return t->action;
	return -1;
}
