/*
 * scr_rules.c - the Rules screen: the ordered rule list with a one-line
 * summary per rule, moving, enabling, viewing, adding, editing and
 * deleting rules.  A thin view over q_rules.c.
 *
 * The selection follows the rule, not the row: after a move or a reload
 * the rule with the same name is selected again.  Every change is one
 * documented SQL function call (or, for add/edit, one transaction of
 * them); a refused change leaves the list as the database has it and the
 * server's message on the message line (or inside the form).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/app.h"
#include "console/form.h"
#include "console/q_rules.h"

enum { R_ADD, R_VIEW, R_EDIT, R_TOGGLE, R_UP, R_DOWN, R_DELETE, R_NAV_UP,
	R_NAV_DOWN, R_PGUP, R_PGDN, R_HOME, R_END };

static const struct scr_key rules_keys[] = {
	{ CRT_KEY_F(2), 'a', 0, "F2 a", "F2", "Add", "add a rule (form)",
	    R_ADD },
	{ CRT_KEY_F(3), CRT_KEY_ENTER, 0, "F3 Enter", "F3", "View",
	    "view the rule's conditions and actions in full", R_VIEW },
	{ CRT_KEY_F(4), 'e', 0, "F4 e", "F4", "Edit", "edit the rule (form)",
	    R_EDIT },
	{ CRT_KEY_F(5), ' ', 0, "F5 Space", "F5", "On/Off",
	    "enable or disable the rule", R_TOGGLE },
	{ CRT_KEY_F(7), '[', CRT_KEY_SUP, "F7 [ Shift-Up", "F7", "MoveUp",
	    "move the rule up (evaluated earlier)", R_UP },
	{ CRT_KEY_F(8), ']', CRT_KEY_SDOWN, "F8 ] Shift-Down", "F8", "MoveDn",
	    "move the rule down (evaluated later)", R_DOWN },
	{ CRT_KEY_F(9), 'd', CRT_KEY_DELETE, "F9 d Delete", "F9", "Delete",
	    "delete the rule (asks first)", R_DELETE },
	{ CRT_KEY_UP, 'k', 0, "Up k", NULL, NULL, "select the previous rule",
	    R_NAV_UP },
	{ CRT_KEY_DOWN, 'j', 0, "Down j", NULL, NULL, "select the next rule",
	    R_NAV_DOWN },
	{ CRT_KEY_PGUP, 0, 0, "PgUp", NULL, NULL, "page up", R_PGUP },
	{ CRT_KEY_PGDN, 0, 0, "PgDn", NULL, NULL, "page down", R_PGDN },
	{ CRT_KEY_HOME, 'g', 0, "Home g", NULL, NULL, "first rule", R_HOME },
	{ CRT_KEY_END, 'G', 0, "End G", NULL, NULL, "last rule", R_END },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

static const char *const match_choices[] = { "all", "any", NULL };

struct rules_state {
	struct q_rules rules;
	struct model_cursor cur;
	char keep[65];		/* name to select after the next load */
};

static struct rules_state *
st_of(struct screen *s)
{
	return s->state;
}

static const struct q_rule *
selected(struct rules_state *st)
{
	if (st->rules.n == 0)
		return NULL;
	return &st->rules.rule[st->cur.sel];
}

static int
rules_load(struct screen *s, struct app *a)
{
	struct rules_state *st = st_of(s);
	const struct q_rule *r = selected(st);
	int i;

	if (st->keep[0] == '\0' && r != NULL)
		snprintf(st->keep, sizeof(st->keep), "%s", r->name);
	if (q_rules_load(app_db(a), &st->rules) == -1) {
		app_error(a, "loading rules");
		return -1;
	}
	st->cur.n = st->rules.n;
	for (i = 0; i < st->rules.n; i++)
		if (strcmp(st->rules.rule[i].name, st->keep) == 0)
			st->cur.sel = i;
	st->keep[0] = '\0';
	st->cur.rows = s->body_rows - 3;
	model_cursor_fix(&st->cur);
	return 0;
}

static void
rules_draw(struct screen *s, struct app *a, int y, int h, int w)
{
	struct rules_state *st = st_of(s);
	char line[MODEL_TEXT_MAX * 2 + 128], sum[MODEL_TEXT_MAX * 2];
	const struct q_rule *sel;
	int i, nw = 24;

	(void)a;
	if (w < 80)
		nw = 16;
	st->cur.rows = h - 3 > 1 ? h - 3 : 1;
	model_cursor_fix(&st->cur);
	snprintf(line, sizeof(line), "%3s %-3s %-5s %-*s %s", "Pos", "On",
	    "Match", nw, "Name", "Conditions -> Actions");
	crt_line(y, 0, w, CRT_HEADER, line);
	for (i = 0; i < st->cur.rows; i++) {
		int k = st->cur.top + i;
		const struct q_rule *r;
		enum crt_color c;

		if (k >= st->rules.n) {
			if (k == 0)
				crt_text(y + 1, 1, w - 1, CRT_DIM, "no rules: "
				    "F2 adds one");
			break;
		}
		r = &st->rules.rule[k];
		model_rule_summary(sum, sizeof(sum), r->conditions,
		    r->actions);
		snprintf(line, sizeof(line), "%3d %-3s %-5s %-*.*s %s",
		    r->position, r->enabled ? "yes" : "no", r->match, nw, nw,
		    r->name, sum);
		c = k == st->cur.sel ? CRT_SELECTED : r->enabled ? CRT_NORMAL :
		    CRT_DIM;
		crt_line(y + 1 + i, 0, w, c, line);
	}
	sel = selected(st);
	if (sel != NULL) {
		snprintf(line, sizeof(line), "%d of %d  %s: %s", st->cur.sel + 1,
		    st->rules.n, sel->name, sel->description[0] ?
		    sel->description : "(no description)");
		crt_line(y + h - 1, 0, w, CRT_DIM, line);
	}
}

struct rule_form {
	struct app *a;
	const char *old_name;	/* NULL = add */
	int has_position;
	char saved_name[65];
};

static int
rule_submit(void *arg, struct form_field *f, int n, char *err, size_t errlen)
{
	struct rule_form *rf = arg;
	struct q_rule_edit *e = calloc(1, sizeof(*e));
	int i, k = 0, rc;

	(void)n;
	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = form_copy(e->name, sizeof(e->name), f[k].value, f[k].label, err,
	    errlen);
	k++;
	rc |= form_copy(e->match, sizeof(e->match), f[k].value, f[k].label,
	    err, errlen);
	k++;
	if (rf->has_position) {
		rc |= form_copy(e->position, sizeof(e->position), f[k].value,
		    f[k].label, err, errlen);
		k++;
	}
	rc |= form_copy(e->description, sizeof(e->description), f[k].value,
	    f[k].label, err, errlen);
	k++;
	for (i = 0; i < Q_RULE_LINES; i++, k++)
		rc |= form_copy(e->cond[i], sizeof(e->cond[i]), f[k].value,
		    f[k].label, err, errlen);
	for (i = 0; i < Q_RULE_LINES; i++, k++)
		rc |= form_copy(e->action[i], sizeof(e->action[i]),
		    f[k].value, f[k].label, err, errlen);
	if (rc != 0) {
		free(e);
		return -1;
	}
	rc = q_rules_save(app_db(rf->a), rf->old_name, e, err, errlen);
	if (rc == 0)
		snprintf(rf->saved_name, sizeof(rf->saved_name), "%s",
		    e->name);
	free(e);
	return rc;
}

static const char *const cond_labels[Q_RULE_LINES] = {
	"Condition 1", "Condition 2", "Condition 3", "Condition 4",
	"Condition 5", "Condition 6"
};
static const char *const action_labels[Q_RULE_LINES] = {
	"Action 1", "Action 2", "Action 3", "Action 4", "Action 5", "Action 6"
};

/* Add (r == NULL) or edit r.  Returns reaction bits. */
static int
rule_form(struct screen *s, struct app *a, const struct q_rule *r)
{
	struct rules_state *st = st_of(s);
	struct form_field *f = calloc(FORM_FIELDS_MAX, sizeof(*f));
	struct q_rule_edit *e = calloc(1, sizeof(*e));
	struct rule_form rf;
	char title[128];
	int n = 0, i, rc;

	if (f == NULL || e == NULL) {
		app_msg(a, CRT_ERROR, "out of memory");
		goto out;
	}
	memset(&rf, 0, sizeof(rf));
	rf.a = a;
	if (r != NULL) {
		rc = q_rules_get(app_db(a), r->name, e);
		if (rc == -2) {
			app_msg(a, CRT_ERROR, "rule %s has more than %d "
			    "conditions or actions: edit it with psql "
			    "(docs/sql-reference.md)", r->name, Q_RULE_LINES);
			goto out;
		}
		if (rc == -1) {
			app_error(a, "reading the rule");
			goto out;
		}
		rf.old_name = r->name;
	} else {
		snprintf(e->match, sizeof(e->match), "all");
		rf.has_position = 1;
	}
	f[n].label = "Name";
	snprintf(f[n++].value, FORM_VALUE_MAX, "%s", e->name);
	f[n].label = "Match";
	f[n].type = FORM_CHOICE;
	f[n].choices = match_choices;
	snprintf(f[n++].value, FORM_VALUE_MAX, "%s", e->match);
	if (rf.has_position) {
		f[n].label = "Position";
		snprintf(f[n++].value, FORM_VALUE_MAX, "%s",
		    st->rules.n > 0 ? "" : "1");
	}
	f[n].label = "Description";
	snprintf(f[n++].value, FORM_VALUE_MAX, "%s", e->description);
	for (i = 0; i < Q_RULE_LINES; i++) {
		f[n].label = cond_labels[i];
		snprintf(f[n++].value, FORM_VALUE_MAX, "%s", e->cond[i]);
	}
	for (i = 0; i < Q_RULE_LINES; i++) {
		f[n].label = action_labels[i];
		snprintf(f[n++].value, FORM_VALUE_MAX, "%s", e->action[i]);
	}
	snprintf(title, sizeof(title), r ? "Edit rule %s" : "Add rule",
	    r ? r->name : "");
	if (form_run(a, title, f, n, rule_submit, &rf)) {
		snprintf(st->keep, sizeof(st->keep), "%s", rf.saved_name);
		app_msg(a, CRT_INFO, "rule %s %s", rf.saved_name,
		    r ? "saved" : "added");
	} else
		app_msg(a, CRT_NORMAL, "cancelled, nothing changed");
out:
	free(f);
	free(e);
	return SCR_HANDLED | SCR_RELOAD;
}

static int
rules_event(struct screen *s, struct app *a, int key)
{
	struct rules_state *st = st_of(s);
	const struct q_rule *r = selected(st);
	struct model_lines *l;
	char q[256], title[128];
	int act = scr_key_action(rules_keys, key), page = st->cur.rows;

	switch (act) {
	case R_NAV_UP:
		model_cursor_move(&st->cur, -1);
		return SCR_HANDLED | SCR_REDRAW;
	case R_NAV_DOWN:
		model_cursor_move(&st->cur, 1);
		return SCR_HANDLED | SCR_REDRAW;
	case R_PGUP:
		model_cursor_move(&st->cur, -page);
		return SCR_HANDLED | SCR_REDRAW;
	case R_PGDN:
		model_cursor_move(&st->cur, page);
		return SCR_HANDLED | SCR_REDRAW;
	case R_HOME:
		model_cursor_move(&st->cur, -st->cur.n);
		return SCR_HANDLED | SCR_REDRAW;
	case R_END:
		model_cursor_move(&st->cur, st->cur.n);
		return SCR_HANDLED | SCR_REDRAW;
	case R_ADD:
		return rule_form(s, a, NULL);
	default:
		break;
	}
	if (act < 0)
		return SCR_IGNORED;
	if (r == NULL) {
		app_msg(a, CRT_WARN, "no rule selected");
		return SCR_HANDLED | SCR_REDRAW;
	}
	snprintf(st->keep, sizeof(st->keep), "%s", r->name);
	switch (act) {
	case R_VIEW:
		l = malloc(sizeof(*l));
		if (l == NULL)
			return SCR_HANDLED;
		if (q_rules_detail(app_db(a), r->name, l) == -1)
			app_error(a, "reading the rule");
		else {
			snprintf(title, sizeof(title), "Rule %s", r->name);
			form_pager(a, title, l);
		}
		free(l);
		return SCR_HANDLED | SCR_RELOAD;
	case R_EDIT:
		return rule_form(s, a, r);
	case R_TOGGLE:
		if (q_rules_enable(app_db(a), r->name, !r->enabled) == -1)
			app_error(a, "enable/disable");
		else
			app_msg(a, CRT_INFO, "rule %s %s", r->name,
			    r->enabled ? "disabled" : "enabled");
		return SCR_HANDLED | SCR_RELOAD;
	case R_UP:
	case R_DOWN:
		if ((act == R_UP ? q_rules_up : q_rules_down)(app_db(a),
		    r->name) == -1)
			app_error(a, "move");
		else
			app_msg(a, CRT_INFO, "rule %s moved %s", r->name,
			    act == R_UP ? "up" : "down");
		return SCR_HANDLED | SCR_RELOAD;
	case R_DELETE:
		snprintf(q, sizeof(q), "Delete rule %s with its conditions and "
		    "actions?", r->name);
		if (!form_confirm(a, "Delete rule", q)) {
			app_msg(a, CRT_NORMAL, "not deleted");
			return SCR_HANDLED | SCR_REDRAW;
		}
		if (q_rules_delete(app_db(a), r->name) == -1)
			app_error(a, "delete");
		else
			app_msg(a, CRT_INFO, "rule %s deleted", r->name);
		st->keep[0] = '\0';
		return SCR_HANDLED | SCR_RELOAD;
	default:
		return SCR_IGNORED;
	}
}

struct screen *
scr_rules_new(void)
{
	struct screen *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->state = calloc(1, sizeof(struct rules_state)))
	    == NULL) {
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	s->name = "Rules";
	s->keys = rules_keys;
	s->live_config = 1;
	s->refresh_ms = 0;
	s->load = rules_load;
	s->draw = rules_draw;
	s->event = rules_event;
	return s;
}
