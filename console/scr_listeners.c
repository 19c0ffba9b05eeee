/*
 * scr_listeners.c - the Listeners screen: address, port, TLS mode and
 * versions, ciphers, DH file, certificate, connection limit and enabled
 * flag of every listener; edit (form) and enable/disable.  A thin view
 * over q_listeners.c.
 *
 * The edit form sends every field with one listener_update call; the
 * database checks them (address trigger, port range, TLS version order,
 * absolute paths, cert and key together) and a refusal is shown in the
 * form, which stays open.  File contents are checked by the daemons when
 * they reload: a certificate they cannot read shows in their log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/app.h"
#include "console/form.h"
#include "console/model.h"
#include "console/q_listeners.h"

enum { L_EDIT, L_TOGGLE, L_UP, L_DOWN, L_HOME, L_END };

static const struct scr_key listeners_keys[] = {
	{ CRT_KEY_F(4), 'e', CRT_KEY_ENTER, "F4 e Enter", "F4", "Edit",
	    "edit the listener (form)", L_EDIT },
	{ CRT_KEY_F(5), ' ', 0, "F5 Space", "F5", "On/Off",
	    "open or close the listener", L_TOGGLE },
	{ CRT_KEY_UP, 'k', 0, "Up k", NULL, NULL, "previous listener", L_UP },
	{ CRT_KEY_DOWN, 'j', 0, "Down j", NULL, NULL, "next listener",
	    L_DOWN },
	{ CRT_KEY_HOME, 'g', 0, "Home g", NULL, NULL, "first", L_HOME },
	{ CRT_KEY_END, 'G', 0, "End G", NULL, NULL, "last", L_END },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

static const char *const mode_choices[] = { "starttls", "implicit", "none",
	NULL };
static const char *const version_choices[] = { "TLSv1", "TLSv1.1",
	"TLSv1.2", "TLSv1.3", NULL };

struct listeners_state {
	struct q_listeners ls;
	struct model_cursor cur;
};

static int
listeners_load(struct screen *s, struct app *a)
{
	struct listeners_state *st = s->state;

	if (q_listeners_load(app_db(a), &st->ls) == -1) {
		app_error(a, "reading listeners");
		return -1;
	}
	st->cur.n = st->ls.n;
	model_cursor_fix(&st->cur);
	return 0;
}

static void
listeners_draw(struct screen *s, struct app *a, int y, int h, int w)
{
	struct listeners_state *st = s->state;
	char line[512], tls[40];
	int i;

	(void)a;
	st->cur.rows = h - 6 > 1 ? h - 6 : 1;
	model_cursor_fix(&st->cur);
	snprintf(line, sizeof(line), "%-12s %-16s %5s %-8s %-15s %7s %-3s %s",
	    "Name", "Address", "Port", "Mode", "TLS versions", "MaxConn", "On",
	    "Node");
	crt_line(y, 0, w, CRT_HEADER, line);
	for (i = 0; i < st->cur.rows && st->cur.top + i < st->ls.n; i++) {
		const struct q_listener *l = &st->ls.l[st->cur.top + i];
		int k = st->cur.top + i;

		if (strcmp(l->mode, "none") == 0)
			snprintf(tls, sizeof(tls), "-");
		else
			snprintf(tls, sizeof(tls), "%s-%s", l->tls_min,
			    l->tls_max);
		snprintf(line, sizeof(line), "%-12.12s %-16.16s %5s %-8s "
		    "%-15s %7s %-3s %s", l->name, l->address, l->port, l->mode,
		    tls, l->max_conn, l->enabled ? "yes" : "no",
		    l->node[0] ? l->node : "(all)");
		crt_line(y + 1 + i, 0, w, k == st->cur.sel ? CRT_SELECTED :
		    l->enabled ? CRT_NORMAL : CRT_DIM, line);
	}
	if (st->ls.n > 0) {
		const struct q_listener *l = &st->ls.l[st->cur.sel];

		snprintf(line, sizeof(line), "%s: ciphers %s", l->name,
		    l->ciphers[0] ? l->ciphers : "(built-in default: "
		    "forward-secret AEAD)");
		crt_line(y + h - 4, 0, w, CRT_DIM, line);
		snprintf(line, sizeof(line), "  DH parameters %s",
		    l->dh_file[0] ? l->dh_file : "(built-in default)");
		crt_line(y + h - 3, 0, w, CRT_DIM, line);
		snprintf(line, sizeof(line), "  certificate %s",
		    l->cert_file[0] ? l->cert_file :
		    "(settings.tls_cert_file)");
		crt_line(y + h - 2, 0, w, CRT_DIM, line);
		snprintf(line, sizeof(line), "  key %s", l->key_file[0] ?
		    l->key_file : "(settings.tls_key_file)");
		crt_line(y + h - 1, 0, w, CRT_DIM, line);
	}
}

struct listener_form {
	struct app *a;
	char name[65];
};

static int
listener_submit(void *arg, struct form_field *f, int n, char *err,
    size_t errlen)
{
	struct listener_form *lf = arg;
	struct q_listener l;

	(void)n;
	memset(&l, 0, sizeof(l));
	if (form_copy(l.name, sizeof(l.name), lf->name, "name", err, errlen) ||
	    form_copy(l.address, sizeof(l.address), f[1].value, f[1].label, err,
	    errlen) ||
	    form_copy(l.port, sizeof(l.port), f[2].value, f[2].label, err, errlen) ||
	    form_copy(l.mode, sizeof(l.mode), f[3].value, f[3].label, err, errlen) ||
	    form_copy(l.tls_min, sizeof(l.tls_min), f[4].value, f[4].label, err,
	    errlen) ||
	    form_copy(l.tls_max, sizeof(l.tls_max), f[5].value, f[5].label, err,
	    errlen) ||
	    form_copy(l.ciphers, sizeof(l.ciphers), f[6].value, f[6].label, err,
	    errlen) ||
	    form_copy(l.dh_file, sizeof(l.dh_file), f[7].value, f[7].label, err,
	    errlen) ||
	    form_copy(l.cert_file, sizeof(l.cert_file), f[8].value, f[8].label, err,
	    errlen) ||
	    form_copy(l.key_file, sizeof(l.key_file), f[9].value, f[9].label, err,
	    errlen) ||
	    form_copy(l.max_conn, sizeof(l.max_conn), f[10].value, f[10].label, err,
	    errlen))
		return -1;
	if (q_listeners_update(app_db(lf->a), &l) == -1) {
		snprintf(err, errlen, "%s", app_db(lf->a)->err);
		return -1;
	}
	return 0;
}

static int
listener_edit(struct app *a, const struct q_listener *l)
{
	struct form_field f[11];
	struct listener_form lf;
	char title[96];
	int i;

	memset(f, 0, sizeof(f));
	memset(&lf, 0, sizeof(lf));
	lf.a = a;
	snprintf(lf.name, sizeof(lf.name), "%s", l->name);
	f[0].label = "Name";
	f[0].type = FORM_LABEL;
	f[1].label = "Address";
	f[2].label = "Port";
	f[3].label = "TLS mode";
	f[3].type = FORM_CHOICE;
	f[3].choices = mode_choices;
	f[4].label = "TLS min version";
	f[4].type = FORM_CHOICE;
	f[4].choices = version_choices;
	f[5].label = "TLS max version";
	f[5].type = FORM_CHOICE;
	f[5].choices = version_choices;
	f[6].label = "Ciphers (empty=default)";
	f[7].label = "DH file (empty=default)";
	f[8].label = "Certificate file";
	f[9].label = "Key file";
	f[10].label = "Max connections";
	snprintf(f[0].value, FORM_VALUE_MAX, "%s", l->name);
	snprintf(f[1].value, FORM_VALUE_MAX, "%s", l->address);
	snprintf(f[2].value, FORM_VALUE_MAX, "%s", l->port);
	snprintf(f[3].value, FORM_VALUE_MAX, "%s", l->mode);
	snprintf(f[4].value, FORM_VALUE_MAX, "%s", l->tls_min);
	snprintf(f[5].value, FORM_VALUE_MAX, "%s", l->tls_max);
	snprintf(f[6].value, FORM_VALUE_MAX, "%s", l->ciphers);
	snprintf(f[7].value, FORM_VALUE_MAX, "%s", l->dh_file);
	snprintf(f[8].value, FORM_VALUE_MAX, "%s", l->cert_file);
	snprintf(f[9].value, FORM_VALUE_MAX, "%s", l->key_file);
	snprintf(f[10].value, FORM_VALUE_MAX, "%s", l->max_conn);
	for (i = 0; i < 11; i++)
		if (f[i].label == NULL)
			f[i].label = "";
	snprintf(title, sizeof(title), "Listener %s", l->name);
	if (form_run(a, title, f, 11, listener_submit, &lf))
		app_msg(a, CRT_INFO, "listener %s saved", lf.name);
	else
		app_msg(a, CRT_NORMAL, "cancelled, nothing changed");
	return SCR_HANDLED | SCR_RELOAD;
}

static int
listeners_event(struct screen *s, struct app *a, int key)
{
	struct listeners_state *st = s->state;
	const struct q_listener *l = st->ls.n > 0 ? &st->ls.l[st->cur.sel] :
	    NULL;

	switch (scr_key_action(listeners_keys, key)) {
	case L_UP:
		model_cursor_move(&st->cur, -1);
		return SCR_HANDLED | SCR_REDRAW;
	case L_DOWN:
		model_cursor_move(&st->cur, 1);
		return SCR_HANDLED | SCR_REDRAW;
	case L_HOME:
		model_cursor_move(&st->cur, -st->cur.n);
		return SCR_HANDLED | SCR_REDRAW;
	case L_END:
		model_cursor_move(&st->cur, st->cur.n);
		return SCR_HANDLED | SCR_REDRAW;
	case L_EDIT:
		if (l == NULL)
			return SCR_HANDLED;
		return listener_edit(a, l);
	case L_TOGGLE:
		if (l == NULL)
			return SCR_HANDLED;
		if (q_listeners_set_enabled(app_db(a), l->name,
		    !l->enabled) == -1)
			app_error(a, "listener_set_enabled");
		else
			app_msg(a, CRT_INFO, "listener %s %s", l->name,
			    l->enabled ? "closed" : "opened");
		return SCR_HANDLED | SCR_RELOAD;
	default:
		return SCR_IGNORED;
	}
}

struct screen *
scr_listeners_new(void)
{
	struct screen *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->state = calloc(1,
	    sizeof(struct listeners_state))) == NULL) {
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	s->name = "Listeners";
	s->keys = listeners_keys;
	s->live_config = 1;
	s->load = listeners_load;
	s->draw = listeners_draw;
	s->event = listeners_event;
	return s;
}
