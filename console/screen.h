/*
 * screen.h - what a console screen is (htop's Panel, docs/style.md rule 23).
 *
 * A screen is a thin view over one query module (q_*.c): load() fetches
 * what it shows through SQL, draw() paints it into the body area the
 * application gives it, and event() handles one key, returning a reaction
 * bitmask: SCR_HANDLED (the key was used), SCR_REDRAW (paint again),
 * SCR_RELOAD (fetch again, then paint), SCR_BREAK (leave the loop: quit).
 * A key the screen does not handle goes to the global key table (app.c).
 *
 * Each screen lists its keys in a const table (struct scr_key): the table
 * drives the function-key bar at the bottom, the Help screen and the
 * screen's own dispatch (scr_key_action), so what is shown is what works.
 *
 * Live data: a screen sets live_queue / live_config to be reloaded when a
 * NOTIFY on postern_queue / postern_config arrives (throttled by the
 * application), and refresh_ms for a periodic reload (0 = none).
 *
 * Ownership: a screen owns its state (allocated by its *_new function,
 * freed by free()); everything it draws comes from that state, so draw()
 * never runs SQL.  Single-threaded.
 */
#ifndef POSTERN_CONSOLE_SCREEN_H
#define POSTERN_CONSOLE_SCREEN_H

struct app;

enum scr_reaction {
	SCR_IGNORED = 0,
	SCR_HANDLED = 1,
	SCR_REDRAW = 2,
	SCR_RELOAD = 4,
	SCR_BREAK = 8,
};

/* One key binding.  key and alt are CRT key values (0 = none); fkey and
 * label are shown in the key bar when fkey is not NULL ("F2" "Add");
 * help is the line on the Help screen. */
struct scr_key {
	int key, alt, alt2;
	const char *keyname;	/* as shown on the Help screen */
	const char *fkey;	/* key bar: key, or NULL = not in the bar */
	const char *label;	/* key bar: what it does */
	const char *help;
	int action;
};

struct screen {
	const char *name;		/* tab label */
	const struct scr_key *keys;	/* ends with an entry whose help is NULL */
	int live_queue, live_config, refresh_ms;
	/* Fetches the data.  Returns 0, or -1 after reporting the error with
	 * app_error(). */
	int (*load)(struct screen *s, struct app *a);
	/* Paints rows y .. y+h-1, w columns. */
	void (*draw)(struct screen *s, struct app *a, int y, int h, int w);
	/* Handles key; returns enum scr_reaction bits. */
	int (*event)(struct screen *s, struct app *a, int key);
	void (*destroy)(struct screen *s);
	void *state;
	int body_rows;			/* h of the last draw (page size) */
};

/* The action of key in table, or -1. */
int scr_key_action(const struct scr_key *table, int key);

struct screen *scr_rules_new(void);
struct screen *scr_queue_new(void);
struct screen *scr_security_new(void);
struct screen *scr_listeners_new(void);
struct screen *scr_nodes_new(void);
struct screen *scr_aliases_new(void);
struct screen *scr_help_new(void);

#endif
