/*
 * scr_help.c - the Help screen: every key of every screen, generated from
 * the same key tables that drive dispatch and the key bar (screen.h), so
 * the list cannot drift from what the keys do.
 */
#include <stdio.h>
#include <stdlib.h>

#include "console/app.h"
#include "console/model.h"

enum { H_UP, H_DOWN, H_PGUP, H_PGDN, H_HOME, H_END };

static const struct scr_key help_keys[] = {
	{ CRT_KEY_UP, 'k', 0, "Up k", NULL, NULL, "scroll up", H_UP },
	{ CRT_KEY_DOWN, 'j', 0, "Down j", NULL, NULL, "scroll down", H_DOWN },
	{ CRT_KEY_PGUP, 0, 0, "PgUp", NULL, NULL, "page up", H_PGUP },
	{ CRT_KEY_PGDN, ' ', 0, "PgDn Space", NULL, NULL, "page down",
	    H_PGDN },
	{ CRT_KEY_HOME, 'g', 0, "Home g", NULL, NULL, "top", H_HOME },
	{ CRT_KEY_END, 'G', 0, "End G", NULL, NULL, "bottom", H_END },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

struct help_state {
	struct model_lines lines;
	int top, page;
};

static void
add_table(struct model_lines *l, const struct scr_key *k)
{
	for (; k->help != NULL; k++)
		model_lines_addf(l, "  %-18s %s", k->keyname, k->help);
}

static int
help_load(struct screen *s, struct app *a)
{
	struct help_state *st = s->state;
	struct screen *const *scr;
	int n, i;

	model_lines_clear(&st->lines);
	model_lines_add(&st->lines, "postern-console: the admin console of "
	    "postern, a pure SQL client (see docs/console.md).");
	model_lines_add(&st->lines, "Every change is a documented postern.* "
	    "SQL function; errors show on the message line.");
	model_lines_add(&st->lines, "");
	model_lines_add(&st->lines, "Everywhere");
	add_table(&st->lines, app_global_keys());
	scr = app_screens(a, &n);
	for (i = 0; i < n; i++) {
		if (scr[i] == s)
			continue;
		model_lines_add(&st->lines, "");
		model_lines_addf(&st->lines, "%d %s", i + 1, scr[i]->name);
		add_table(&st->lines, scr[i]->keys);
	}
	model_lines_add(&st->lines, "");
	model_lines_add(&st->lines, "In forms");
	model_lines_add(&st->lines, "  Enter              save (the database "
	    "checks the values; errors stay in the form)");
	model_lines_add(&st->lines, "  Tab Down / S-Tab Up  next / previous "
	    "field");
	model_lines_add(&st->lines, "  Left Right Home End  move in a field;"
	    " Space Left Right change a choice");
	model_lines_add(&st->lines, "  Backspace Delete Ctrl-U  delete; Ctrl-U"
	    " clears the field");
	model_lines_add(&st->lines, "  Esc F10            cancel");
	model_lines_add(&st->lines, "");
	model_lines_add(&st->lines, "Rule condition lines: [NOT] kind op value"
	    ", e.g. conn_remote_addr in_cidr 10.0.0.0/8");
	model_lines_add(&st->lines, "  sender_domain in_domain partner.org "
	    "(the domain and its subdomains; never contains)");
	model_lines_add(&st->lines, "Rule action lines: auth_plain off | "
	    "auth_tls PLAIN,LOGIN | reply reject 550 5.7.1 \"text\" |");
	model_lines_add(&st->lines, "  relay_host host:port | relay_tls "
	    "required verify | relay_tls_versions TLSv1.2,TLSv1.3 |");
	model_lines_add(&st->lines, "  add_header Name: value | stop | "
	    "relay_allow | sender_allow");
	return 0;
}

static void
help_draw(struct screen *s, struct app *a, int y, int h, int w)
{
	struct help_state *st = s->state;
	int i;

	(void)a;
	st->page = h;
	if (st->top > (int)st->lines.n - h)
		st->top = (int)st->lines.n - h;
	if (st->top < 0)
		st->top = 0;
	for (i = 0; i < h && st->top + i < (int)st->lines.n; i++) {
		const char *t = st->lines.line[st->top + i];

		crt_line(y + i, 0, w, t[0] != ' ' && t[0] != '\0' && i + st->top
		    > 2 ? CRT_HEADER : CRT_NORMAL, t);
	}
}

static int
help_event(struct screen *s, struct app *a, int key)
{
	struct help_state *st = s->state;

	(void)a;
	switch (scr_key_action(help_keys, key)) {
	case H_UP:
		st->top--;
		break;
	case H_DOWN:
		st->top++;
		break;
	case H_PGUP:
		st->top -= st->page;
		break;
	case H_PGDN:
		st->top += st->page;
		break;
	case H_HOME:
		st->top = 0;
		break;
	case H_END:
		st->top = (int)st->lines.n;
		break;
	default:
		return SCR_IGNORED;
	}
	return SCR_HANDLED | SCR_REDRAW;
}

struct screen *
scr_help_new(void)
{
	struct screen *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->state = calloc(1, sizeof(struct help_state)))
	    == NULL) {
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	s->name = "Help";
	s->keys = help_keys;
	s->load = help_load;
	s->draw = help_draw;
	s->event = help_event;
	return s;
}
