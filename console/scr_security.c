/*
 * scr_security.c - the Security screen: toggles for STARTTLS inbound and
 * outbound and for each AUTH mechanism on plain and on TLS connections,
 * each showing its current value as the database has it.  A thin view
 * over q_security.c.
 *
 * A toggle is one SQL call (set_starttls_in / set_starttls_out /
 * set_auth), then the screen reloads, so what is shown is what the
 * database says after the change, not what the console assumed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/app.h"
#include "console/model.h"
#include "console/q_security.h"

enum { S_TOGGLE, S_UP, S_DOWN, S_HOME, S_END };

static const struct scr_key security_keys[] = {
	{ CRT_KEY_F(5), ' ', CRT_KEY_ENTER, "F5 Space Enter", "F5", "Toggle",
	    "switch the selected setting on or off (takes effect live)",
	    S_TOGGLE },
	{ CRT_KEY_UP, 'k', 0, "Up k", NULL, NULL, "previous setting", S_UP },
	{ CRT_KEY_DOWN, 'j', 0, "Down j", NULL, NULL, "next setting",
	    S_DOWN },
	{ CRT_KEY_HOME, 'g', 0, "Home g", NULL, NULL, "first setting",
	    S_HOME },
	{ CRT_KEY_END, 'G', 0, "End G", NULL, NULL, "last setting", S_END },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

#define SEC_ITEMS 6

struct security_state {
	struct q_security sec;
	int sel;
	int loaded;
};

static int
security_load(struct screen *s, struct app *a)
{
	struct security_state *st = s->state;

	if (q_security_load(app_db(a), &st->sec) == -1) {
		app_error(a, "reading settings");
		st->loaded = 0;
		return -1;
	}
	st->loaded = 1;
	return 0;
}

/* Value of item i. */
static int
item_on(const struct q_security *q, int i)
{
	switch (i) {
	case 0: return q->allow_starttls;
	case 1: return q->use_starttls_out;
	case 2: return model_mechs_has(q->mechs_plain, "PLAIN");
	case 3: return model_mechs_has(q->mechs_plain, "LOGIN");
	case 4: return model_mechs_has(q->mechs_tls, "PLAIN");
	default: return model_mechs_has(q->mechs_tls, "LOGIN");
	}
}

static const char *const item_label[SEC_ITEMS] = {
	"Allow STARTTLS inbound (offered in EHLO on starttls listeners)",
	"Use STARTTLS outbound (opportunistic, for deliveries)",
	"PLAIN",
	"LOGIN",
	"PLAIN",
	"LOGIN",
};

static void
item(struct security_state *st, int i, int y, int w)
{
	char line[256];
	int on = item_on(&st->sec, i);

	snprintf(line, sizeof(line), "    [%s] %s", on ? "on " : "off",
	    item_label[i]);
	crt_line(y, 0, w, i == st->sel ? CRT_SELECTED : on ? CRT_ON : CRT_OFF,
	    line);
}

static void
security_draw(struct screen *s, struct app *a, int y, int h, int w)
{
	struct security_state *st = s->state;
	char line[256], m[128];
	int row = y + 1;

	(void)a;
	(void)h;
	if (!st->loaded) {
		crt_text(y + 1, 2, w - 2, CRT_DIM, "(not loaded: Ctrl-R "
		    "retries)");
		return;
	}
	crt_line(row++, 0, w, CRT_HEADER, " STARTTLS");
	item(st, 0, row++, w);
	item(st, 1, row++, w);
	row++;
	snprintf(line, sizeof(line), " AUTH on plain connections (no TLS): "
	    "%s   (rule %s)", model_mechs_display(m, sizeof(m),
	    st->sec.mechs_plain), st->sec.rule_plain[0] ? st->sec.rule_plain :
	    "none");
	crt_line(row++, 0, w, CRT_HEADER, line);
	item(st, 2, row++, w);
	item(st, 3, row++, w);
	row++;
	snprintf(line, sizeof(line), " AUTH on TLS connections: %s   (rule %s)",
	    model_mechs_display(m, sizeof(m), st->sec.mechs_tls),
	    st->sec.rule_tls[0] ? st->sec.rule_tls : "none");
	crt_line(row++, 0, w, CRT_HEADER, line);
	item(st, 4, row++, w);
	item(st, 5, row++, w);
	row++;
	if (strcmp(st->sec.mechs_plain, "{}") != 0)
		crt_text(row++, 1, w - 1, CRT_WARN, "Warning: AUTH without TLS "
		    "sends passwords in clear.");
	if (!st->sec.allow_starttls)
		crt_text(row++, 1, w - 1, CRT_WARN, "Warning: without STARTTLS "
		    "plain listeners offer no encryption (and no AUTH over "
		    "TLS).");
	crt_text(row++, 1, w - 1, CRT_DIM, "Changes take effect at once: "
	    "daemons reload on NOTIFY postern_config.");
	crt_text(row++, 1, w - 1, CRT_DIM, "Rules with conditions may still "
	    "change AUTH for some clients (Rules screen).");
}

static int
security_toggle(struct security_state *st, struct app *a)
{
	const struct q_security *q = &st->sec;
	int on = item_on(q, st->sel);
	char arr[160];
	const char *conn;

	if (st->sel < 2) {
		if (q_security_set_starttls(app_db(a), st->sel, !on) == -1) {
			app_error(a, st->sel == 0 ? "set_starttls_in" :
			    "set_starttls_out");
			return SCR_HANDLED | SCR_RELOAD;
		}
		app_msg(a, CRT_INFO, "STARTTLS %s %s", st->sel == 0 ?
		    "inbound" : "outbound", on ? "off" : "on");
		return SCR_HANDLED | SCR_RELOAD;
	}
	conn = st->sel < 4 ? "plain" : "tls";
	if (model_mechs_toggle(st->sel < 4 ? q->mechs_plain : q->mechs_tls,
	    st->sel % 2 == 0 ? "PLAIN" : "LOGIN", arr, sizeof(arr)) == -1) {
		app_msg(a, CRT_ERROR, "mechanism list too long");
		return SCR_HANDLED | SCR_REDRAW;
	}
	if (q_security_set_auth(app_db(a), conn, arr) == -1) {
		app_error(a, "set_auth");
		return SCR_HANDLED | SCR_RELOAD;
	}
	if (!app_notice(a))
		app_msg(a, CRT_INFO, "AUTH on %s connections: %s", conn, arr);
	return SCR_HANDLED | SCR_RELOAD;
}

static int
security_event(struct screen *s, struct app *a, int key)
{
	struct security_state *st = s->state;

	switch (scr_key_action(security_keys, key)) {
	case S_UP:
		if (st->sel > 0)
			st->sel--;
		return SCR_HANDLED | SCR_REDRAW;
	case S_DOWN:
		if (st->sel < SEC_ITEMS - 1)
			st->sel++;
		return SCR_HANDLED | SCR_REDRAW;
	case S_HOME:
		st->sel = 0;
		return SCR_HANDLED | SCR_REDRAW;
	case S_END:
		st->sel = SEC_ITEMS - 1;
		return SCR_HANDLED | SCR_REDRAW;
	case S_TOGGLE:
		if (!st->loaded)
			return SCR_HANDLED | SCR_RELOAD;
		return security_toggle(st, a);
	default:
		return SCR_IGNORED;
	}
}

struct screen *
scr_security_new(void)
{
	struct screen *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->state = calloc(1,
	    sizeof(struct security_state))) == NULL) {
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	s->name = "Security";
	s->keys = security_keys;
	s->live_config = 1;
	s->load = security_load;
	s->draw = security_draw;
	s->event = security_event;
	return s;
}
