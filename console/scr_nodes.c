/*
 * scr_nodes.c - the Nodes screen: every daemon in postern.nodes_status
 * with its status (up, down: no heartbeat within settings.node_timeout,
 * stopped: clean stop), host, pid, start time, leases and heartbeat age;
 * nodes not up are drawn dimmed.  Read only; refreshed every
 * NODES_REFRESH_MS.  A thin view over q_nodes.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/app.h"
#include "console/model.h"
#include "console/q_nodes.h"

#define NODES_REFRESH_MS 5000

enum { N_UP, N_DOWN };

static const struct scr_key nodes_keys[] = {
	{ CRT_KEY_UP, 'k', 0, "Up k", NULL, NULL, "previous node", N_UP },
	{ CRT_KEY_DOWN, 'j', 0, "Down j", NULL, NULL, "next node", N_DOWN },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

struct nodes_state {
	struct q_nodes nodes;
	struct model_cursor cur;
};

static int
nodes_load(struct screen *s, struct app *a)
{
	struct nodes_state *st = s->state;

	if (q_nodes_load(app_db(a), &st->nodes) == -1) {
		app_error(a, "reading nodes");
		return -1;
	}
	st->cur.n = st->nodes.n;
	model_cursor_fix(&st->cur);
	return 0;
}

static void
nodes_draw(struct screen *s, struct app *a, int y, int h, int w)
{
	struct nodes_state *st = s->state;
	char line[768], hb[24], up[24];
	int i;

	(void)a;
	st->cur.rows = h - 2 > 1 ? h - 2 : 1;
	model_cursor_fix(&st->cur);
	snprintf(line, sizeof(line), "%-12s %-7s %-14s %7s %-11s %6s %6s %s",
	    "Node", "Status", "Host", "PID", "Started UTC", "Leases", "Uptime",
	    "Heartbeat");
	crt_line(y, 0, w, CRT_HEADER, line);
	for (i = 0; i < st->cur.rows && st->cur.top + i < st->nodes.n; i++) {
		int k = st->cur.top + i;
		const struct q_node *n = &st->nodes.node[k];
		int stale = strcmp(n->status, "up") != 0;

		if (n->heartbeat_age < 0)
			snprintf(hb, sizeof(hb), "never");
		else
			model_fmt_age(hb, sizeof(hb), n->heartbeat_age);
		if (n->uptime < 0)
			snprintf(up, sizeof(up), "-");
		else
			model_fmt_age(up, sizeof(up), n->uptime);
		snprintf(line, sizeof(line), "%-12.12s %-7.7s %-14.14s %7s "
		    "%-11s %6lld %6s %s ago", n->name, n->status, n->host,
		    n->pid, n->started, n->leased, up, hb);
		crt_line(y + 1 + i, 0, w, k == st->cur.sel ? CRT_SELECTED :
		    stale ? CRT_OFF : CRT_ON, line);
	}
	if (st->nodes.n == 0)
		crt_text(y + 1, 1, w - 1, CRT_DIM, "no daemon has registered "
		    "in postern.nodes yet");
	crt_text(y + h - 1, 0, w, CRT_DIM, "Daemons refresh their row "
	    "(heartbeat); refreshed every 5 s.");
}

static int
nodes_event(struct screen *s, struct app *a, int key)
{
	struct nodes_state *st = s->state;

	(void)a;
	switch (scr_key_action(nodes_keys, key)) {
	case N_UP:
		model_cursor_move(&st->cur, -1);
		return SCR_HANDLED | SCR_REDRAW;
	case N_DOWN:
		model_cursor_move(&st->cur, 1);
		return SCR_HANDLED | SCR_REDRAW;
	default:
		return SCR_IGNORED;
	}
}

struct screen *
scr_nodes_new(void)
{
	struct screen *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->state = calloc(1, sizeof(struct nodes_state)))
	    == NULL) {
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	s->name = "Nodes";
	s->keys = nodes_keys;
	s->refresh_ms = NODES_REFRESH_MS;
	s->load = nodes_load;
	s->draw = nodes_draw;
	s->event = nodes_event;
	return s;
}
