/*
 * app.c - the screen loop, global keys, message line and key bar.  See
 * app.h.
 *
 * Reload policy: a screen is loaded when it becomes current, after every
 * reaction with SCR_RELOAD, when a NOTIFY it listens to arrived (at most
 * once per APP_LIVE_MS) and every refresh_ms.  Loads are short paged
 * queries, so doing them in the loop keeps the console responsive.
 */
#include "console/app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define APP_SCREENS 7
#define APP_TICK_MS 500
#define APP_LIVE_MS 1000
#define APP_MSG_MAX 1024

enum app_action {
	APP_NEXT, APP_PREV, APP_GOTO, APP_HELP, APP_QUIT, APP_REPAINT,
	APP_RELOAD
};

static const struct scr_key app_keys[] = {
	{ CRT_KEY_TAB, 0, 0, "Tab", NULL, NULL, "next screen", APP_NEXT },
	{ CRT_KEY_BTAB, 0, 0, "Shift-Tab", NULL, NULL, "previous screen",
	    APP_PREV },
	{ '1', '7', 0, "1 .. 7", NULL, NULL, "go to screen 1 Rules, 2 Queue, "
	    "3 Security, 4 Listeners, 5 Nodes, 6 Aliases, 7 Help", APP_GOTO },
	{ CRT_KEY_F(1), '?', 0, "F1 ?", "F1", "Help", "this help", APP_HELP },
	{ CRT_CTRL('l'), 0, 0, "Ctrl-L", NULL, NULL, "repaint the screen",
	    APP_REPAINT },
	{ CRT_CTRL('r'), 0, 0, "Ctrl-R", NULL, NULL, "reload from the "
	    "database", APP_RELOAD },
	{ CRT_KEY_F(10), 'q', 0, "F10 q", "F10", "Quit", "quit", APP_QUIT },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

struct app {
	struct db *db;
	char label[256];
	struct screen *screens[APP_SCREENS];
	int nscreens;
	int cur;
	char msg[APP_MSG_MAX];
	enum crt_color msg_color;
	long long last_load_ms;
	unsigned long seen_queue, seen_config;
	int pending_live;
};

static long long
app_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct app *
app_new(struct db *db, const char *label)
{
	struct app *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		crt_done();
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	a->db = db;
	snprintf(a->label, sizeof(a->label), "%s", label);
	a->screens[a->nscreens++] = scr_rules_new();
	a->screens[a->nscreens++] = scr_queue_new();
	a->screens[a->nscreens++] = scr_security_new();
	a->screens[a->nscreens++] = scr_listeners_new();
	a->screens[a->nscreens++] = scr_nodes_new();
	a->screens[a->nscreens++] = scr_aliases_new();
	a->screens[a->nscreens++] = scr_help_new();
	a->msg_color = CRT_NORMAL;
	return a;
}

void
app_free(struct app *a)
{
	int i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nscreens; i++) {
		struct screen *s = a->screens[i];

		if (s->destroy)
			s->destroy(s);
		free(s->state);
		free(s);
	}
	free(a);
}

struct db *
app_db(struct app *a)
{
	return a->db;
}

struct screen *const *
app_screens(struct app *a, int *n)
{
	*n = a->nscreens;
	return a->screens;
}

const struct scr_key *
app_global_keys(void)
{
	return app_keys;
}

void
app_msg(struct app *a, enum crt_color c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
	a->msg_color = c;
}

void
app_error(struct app *a, const char *what)
{
	app_msg(a, CRT_ERROR, "%s: %s", what, a->db->err);
}

int
app_notice(struct app *a)
{
	if (a->db->notice[0] == '\0')
		return 0;
	app_msg(a, CRT_WARN, "%s", a->db->notice);
	return 1;
}

static void
app_draw_title(struct app *a, int cols)
{
	char left[512], clock[32];
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	snprintf(left, sizeof(left), " postern-console  %s", a->label);
	crt_line(0, 0, cols, CRT_TITLE, left);
	if (cols > (int)strlen(clock) + 2)
		crt_text(0, cols - (int)strlen(clock) - 1, (int)strlen(clock),
		    CRT_TITLE, clock);
}

static void
app_draw_tabs(struct app *a, int cols)
{
	int i, x = 0;
	char t[64];

	crt_fill(1, 0, cols, CRT_TAB);
	for (i = 0; i < a->nscreens && x < cols; i++) {
		snprintf(t, sizeof(t), " %d %s ", i + 1, a->screens[i]->name);
		x += crt_text(1, x, cols - x, i == a->cur ? CRT_TAB_ACTIVE :
		    CRT_TAB, t);
		x += crt_text(1, x, cols - x, CRT_TAB, " ");
	}
}

static void
app_draw_keys(struct app *a, int y, int cols)
{
	const struct scr_key *tables[2] = { a->screens[a->cur]->keys, app_keys };
	const struct scr_key *k;
	int i, x = 0;
	char lab[32];

	crt_fill(y, 0, cols, CRT_FKEY_LABEL);
	for (i = 0; i < 2; i++)
		for (k = tables[i]; k->help != NULL && x < cols; k++) {
			if (k->fkey == NULL)
				continue;
			x += crt_text(y, x, cols - x, CRT_FKEY, k->fkey);
			snprintf(lab, sizeof(lab), "%s ", k->label);
			x += crt_text(y, x, cols - x, CRT_FKEY_LABEL, lab);
		}
}

void
app_draw(struct app *a)
{
	struct screen *s = a->screens[a->cur];
	int rows, cols, h;

	crt_size(&rows, &cols);
	crt_clear();
	if (rows < 6 || cols < 20) {
		crt_text(0, 0, cols, CRT_ERROR, "terminal too small");
		return;
	}
	app_draw_title(a, cols);
	app_draw_tabs(a, cols);
	h = rows - 4;
	s->body_rows = h;
	s->draw(s, a, 2, h, cols);
	crt_line(rows - 2, 0, cols, a->msg[0] ? a->msg_color : CRT_NORMAL,
	    a->msg);
	app_draw_keys(a, rows - 1, cols);
}

static void
app_load(struct app *a)
{
	struct screen *s = a->screens[a->cur];
	int rows, cols;

	/* The page size must be known before the first load. */
	crt_size(&rows, &cols);
	s->body_rows = rows - 4 > 1 ? rows - 4 : 1;
	s->load(s, a);
	a->last_load_ms = app_now_ms();
	a->pending_live = 0;
}

static void
app_switch(struct app *a, int to)
{
	if (to < 0)
		to = a->nscreens - 1;
	if (to >= a->nscreens)
		to = 0;
	a->cur = to;
	app_load(a);
}

/* Handles a global key; returns reaction bits. */
static int
app_global(struct app *a, int key)
{
	switch (scr_key_action(app_keys, key)) {
	case APP_NEXT:
		app_switch(a, a->cur + 1);
		return SCR_HANDLED | SCR_REDRAW;
	case APP_PREV:
		app_switch(a, a->cur - 1);
		return SCR_HANDLED | SCR_REDRAW;
	case APP_HELP:
		app_switch(a, a->nscreens - 1);
		return SCR_HANDLED | SCR_REDRAW;
	case APP_QUIT:
		return SCR_HANDLED | SCR_BREAK;
	case APP_REPAINT:
		crt_repaint();
		return SCR_HANDLED | SCR_REDRAW;
	case APP_RELOAD:
		return SCR_HANDLED | SCR_RELOAD;
	default:
		break;
	}
	if (key >= '1' && key < '1' + a->nscreens) {
		app_switch(a, key - '1');
		return SCR_HANDLED | SCR_REDRAW;
	}
	return SCR_IGNORED;
}

/* NOTIFYs and timers: reload the current screen when due. */
static int
app_live(struct app *a)
{
	struct screen *s = a->screens[a->cur];
	long long now = app_now_ms();

	if (a->db->queue_events != a->seen_queue) {
		a->seen_queue = a->db->queue_events;
		if (s->live_queue)
			a->pending_live = 1;
	}
	if (a->db->config_events != a->seen_config) {
		a->seen_config = a->db->config_events;
		if (s->live_config)
			a->pending_live = 1;
	}
	if ((a->pending_live && now - a->last_load_ms >= APP_LIVE_MS) ||
	    (s->refresh_ms > 0 && now - a->last_load_ms >= s->refresh_ms)) {
		app_load(a);
		return 1;
	}
	return 0;
}

int
app_run(struct app *a)
{
	int redraw = 1, key, r, broken = 0;
	long long last_clock = 0;

	app_load(a);
	for (;;) {
		if (redraw) {
			app_draw(a);
			crt_flush();
			redraw = 0;
		}
		key = crt_getkey(broken ? -1 : db_fd(a->db), APP_TICK_MS);
		if (key == CRT_KEY_FD) {
			if (db_poll(a->db) == -1) {
				broken = 1;
				app_error(a, "database");
				redraw = 1;
			}
			if (app_live(a))
				redraw = 1;
			continue;
		}
		if (key == CRT_KEY_NONE) {
			if (app_live(a))
				redraw = 1;
			if (app_now_ms() - last_clock >= 1000) {
				last_clock = app_now_ms();
				redraw = 1;
			}
			if (broken && db_fd(a->db) >= 0)
				broken = 0;
			continue;
		}
		if (key == CRT_KEY_RESIZE) {
			/* The page size changed: fetch a page that fits. */
			app_load(a);
			redraw = 1;
			continue;
		}
		a->msg[0] = '\0';
		r = a->screens[a->cur]->event(a->screens[a->cur], a, key);
		if (!(r & SCR_HANDLED))
			r = app_global(a, key);
		if (r & SCR_BREAK)
			break;
		if (r & SCR_RELOAD) {
			app_load(a);
			/* A reconnect by the reload clears the broken state. */
			if (db_fd(a->db) >= 0)
				broken = 0;
		}
		redraw = 1;
	}
	return 0;
}
