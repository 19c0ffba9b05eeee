/*
 * scr_aliases.c - the Aliases screen: every alias of postern.alias_list
 * (address or catch-all @domain) with its targets, remote targets marked;
 * add, edit (replace the targets) and delete through postern.add_alias /
 * remove_alias; the admin address and the recipient delimiter from the
 * settings on the bottom line.  A thin view over q_aliases.c; the targets
 * typed in the form become array text with model_targets_array().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/app.h"
#include "console/form.h"
#include "console/model.h"
#include "console/q_aliases.h"

enum { AL_ADD, AL_EDIT, AL_DELETE, AL_UP, AL_DOWN, AL_HOME, AL_END };

static const struct scr_key aliases_keys[] = {
	{ CRT_KEY_F(2), 'a', 0, "F2 a", "F2", "Add",
	    "add an alias or targets to one (form)", AL_ADD },
	{ CRT_KEY_F(4), 'e', CRT_KEY_ENTER, "F4 e Enter", "F4", "Edit",
	    "replace the alias's targets (form)", AL_EDIT },
	{ CRT_KEY_F(9), 'd', CRT_KEY_DELETE, "F9 d Delete", "F9", "Delete",
	    "delete the alias (asks first)", AL_DELETE },
	{ CRT_KEY_UP, 'k', 0, "Up k", NULL, NULL, "previous alias", AL_UP },
	{ CRT_KEY_DOWN, 'j', 0, "Down j", NULL, NULL, "next alias", AL_DOWN },
	{ CRT_KEY_HOME, 'g', 0, "Home g", NULL, NULL, "first", AL_HOME },
	{ CRT_KEY_END, 'G', 0, "End G", NULL, NULL, "last", AL_END },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

struct aliases_state {
	struct q_aliases al;
	struct model_cursor cur;
};

static int
aliases_load(struct screen *s, struct app *a)
{
	struct aliases_state *st = s->state;

	if (q_aliases_load(app_db(a), &st->al) == -1) {
		app_error(a, "reading aliases");
		return -1;
	}
	st->cur.n = st->al.n;
	model_cursor_fix(&st->cur);
	return 0;
}

static void
aliases_draw(struct screen *s, struct app *a, int y, int h, int w)
{
	struct aliases_state *st = s->state;
	char line[1024];
	int i;

	(void)a;
	st->cur.rows = h - 2 > 1 ? h - 2 : 1;
	model_cursor_fix(&st->cur);
	snprintf(line, sizeof(line), "%-30s %-9s %s", "Alias", "Kind",
	    "Targets (* = remote, relayed)");
	crt_line(y, 0, w, CRT_HEADER, line);
	for (i = 0; i < st->cur.rows && st->cur.top + i < st->al.n; i++) {
		const struct q_alias *al = &st->al.a[st->cur.top + i];
		int k = st->cur.top + i;

		snprintf(line, sizeof(line), "%-30.30s %-9s %s%s", al->source,
		    al->kind, al->has_remote ? "* " : "", al->targets);
		crt_line(y + 1 + i, 0, w, k == st->cur.sel ? CRT_SELECTED :
		    CRT_NORMAL, line);
	}
	if (st->al.n == 0)
		crt_text(y + 1, 1, w - 1, CRT_DIM, "no aliases (F2 adds one)");
	snprintf(line, sizeof(line), "postmaster@, abuse@ -> %s; delimiter "
	    "\"%s\"%s", st->al.admin[0] ? st->al.admin :
	    "(settings.admin_address not set)", st->al.delimiter,
	    st->al.more ? "; first 1000 aliases shown" : "");
	crt_line(y + h - 1, 0, w, CRT_DIM, line);
}

struct alias_form {
	struct app *a;
	int replace;
	char source[257];
};

static int
alias_submit(void *arg, struct form_field *f, int n, char *err,
    size_t errlen)
{
	struct alias_form *af = arg;
	char targets[FORM_VALUE_MAX + 2];
	int r;

	(void)n;
	if (!af->replace && form_copy(af->source, sizeof(af->source),
	    f[0].value, f[0].label, err, errlen) == -1)
		return -1;
	if (af->source[0] == '\0') {
		snprintf(err, errlen, "Alias: local@domain or @domain");
		return -1;
	}
	if (model_targets_array(f[1].value, targets, sizeof(targets), err,
	    errlen) == -1)
		return -1;
	r = af->replace ? q_aliases_replace(app_db(af->a), af->source,
	    targets) : q_aliases_add(app_db(af->a), af->source, targets);
	if (r == -1) {
		snprintf(err, errlen, "%s", app_db(af->a)->err);
		return -1;
	}
	return 0;
}

static int
alias_form(struct app *a, const struct q_alias *al)
{
	struct form_field f[2];
	struct alias_form af;

	memset(f, 0, sizeof(f));
	memset(&af, 0, sizeof(af));
	af.a = a;
	af.replace = al != NULL;
	f[0].label = "Alias (local@domain, @domain)";
	f[1].label = "Targets (comma separated)";
	if (al != NULL) {
		f[0].type = FORM_LABEL;
		snprintf(af.source, sizeof(af.source), "%s", al->source);
		snprintf(f[0].value, FORM_VALUE_MAX, "%s", al->source);
		snprintf(f[1].value, FORM_VALUE_MAX, "%s", al->targets_edit);
	}
	if (form_run(a, al != NULL ? "Edit alias" : "Add alias", f, 2,
	    alias_submit, &af))
		app_msg(a, CRT_INFO, "alias %s saved", af.source);
	else
		app_msg(a, CRT_NORMAL, "cancelled, nothing changed");
	return SCR_HANDLED | SCR_RELOAD;
}

static int
aliases_event(struct screen *s, struct app *a, int key)
{
	struct aliases_state *st = s->state;
	const struct q_alias *al = st->al.n > 0 ? &st->al.a[st->cur.sel] :
	    NULL;
	char q[400];

	switch (scr_key_action(aliases_keys, key)) {
	case AL_UP:
		model_cursor_move(&st->cur, -1);
		return SCR_HANDLED | SCR_REDRAW;
	case AL_DOWN:
		model_cursor_move(&st->cur, 1);
		return SCR_HANDLED | SCR_REDRAW;
	case AL_HOME:
		model_cursor_move(&st->cur, -st->cur.n);
		return SCR_HANDLED | SCR_REDRAW;
	case AL_END:
		model_cursor_move(&st->cur, st->cur.n);
		return SCR_HANDLED | SCR_REDRAW;
	case AL_ADD:
		return alias_form(a, NULL);
	case AL_EDIT:
		if (al == NULL)
			return SCR_HANDLED;
		if (al->targets_edit[0] == '\0') {
			app_msg(a, CRT_WARN, "too many targets for the form; "
			    "use postern.add_alias / remove_alias");
			return SCR_HANDLED | SCR_REDRAW;
		}
		return alias_form(a, al);
	case AL_DELETE:
		if (al == NULL)
			return SCR_HANDLED;
		snprintf(q, sizeof(q), "Delete alias %s with all its targets?",
		    al->source);
		if (!form_confirm(a, "Delete alias", q)) {
			app_msg(a, CRT_NORMAL, "not deleted");
			return SCR_HANDLED | SCR_REDRAW;
		}
		if (q_aliases_remove(app_db(a), al->source) == -1)
			app_error(a, "remove_alias");
		else
			app_msg(a, CRT_INFO, "alias %s deleted", al->source);
		return SCR_HANDLED | SCR_RELOAD;
	default:
		return SCR_IGNORED;
	}
}

struct screen *
scr_aliases_new(void)
{
	struct screen *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->state = calloc(1, sizeof(struct aliases_state)))
	    == NULL) {
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	s->name = "Aliases";
	s->keys = aliases_keys;
	s->live_config = 1;
	s->load = aliases_load;
	s->draw = aliases_draw;
	s->event = aliases_event;
	return s;
}
