/*
 * scr_queue.c - the Queue screen: one row per recipient (state, age, size,
 * attempts, next attempt, sender, recipient, last reply) in queue order,
 * a filter (state, recipient domain, sender), marks, the per-message
 * actions retry / hold / release / delete / bounce, a detail view with the
 * message's headers, and the per-domain summary (queue_shape).  A thin
 * view over q_queue.c.
 *
 * Invariants: the screen holds exactly one page (at most the rows that
 * fit), fetched by keyset from the row it starts at, so moving through
 * 100,000 recipients never loads more than a page; the selection is kept
 * on the same recipient across reloads when it is still there.  Marks are
 * per message (queue id), since the queue functions act on messages; a
 * marked message shows '*' on each of its recipient rows.
 *
 * Live: reloaded on NOTIFY postern_queue (throttled by app.c) and every
 * QUEUE_REFRESH_MS.  Delete and bounce ask first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/app.h"
#include "console/form.h"
#include "console/q_queue.h"

#define QUEUE_REFRESH_MS 5000

enum { Q_A_VIEW, Q_A_FILTER, Q_A_RETRY, Q_A_SHAPE, Q_A_HOLD, Q_A_RELEASE,
	Q_A_DELETE, Q_A_BOUNCE, Q_A_MARK, Q_A_UNMARK, Q_A_UP, Q_A_DOWN,
	Q_A_PGUP, Q_A_PGDN, Q_A_HOME, Q_A_END };

static const struct scr_key queue_keys[] = {
	{ CRT_KEY_F(3), CRT_KEY_ENTER, 0, "F3 Enter", "F3", "View",
	    "message details: envelope, recipients, headers", Q_A_VIEW },
	{ CRT_KEY_F(4), '/', 'f', "F4 / f", "F4", "Filter",
	    "filter by state, recipient domain, sender", Q_A_FILTER },
	{ CRT_KEY_F(5), 'r', 0, "F5 r", "F5", "Retry",
	    "retry now (queue_retry) the marked messages or this one",
	    Q_A_RETRY },
	{ CRT_KEY_F(6), 's', 0, "F6 s", "F6", "Shape",
	    "per-domain summary by age (queue_shape) / back", Q_A_SHAPE },
	{ CRT_KEY_F(7), 'h', 0, "F7 h", "F7", "Hold",
	    "hold (queue_hold) the marked messages or this one", Q_A_HOLD },
	{ CRT_KEY_F(8), 'l', 0, "F8 l", "F8", "Releas",
	    "release (queue_release) the marked messages or this one",
	    Q_A_RELEASE },
	{ CRT_KEY_F(9), 'd', CRT_KEY_DELETE, "F9 d Delete", "F9", "Delete",
	    "delete (queue_delete, no bounce; asks first)", Q_A_DELETE },
	{ 'b', 0, 0, "b", NULL, NULL,
	    "bounce to the sender (queue_bounce; asks first)", Q_A_BOUNCE },
	{ ' ', 'm', 0, "Space m", NULL, NULL,
	    "mark / unmark this row's message", Q_A_MARK },
	{ 'u', 0, 0, "u", NULL, NULL, "unmark all", Q_A_UNMARK },
	{ CRT_KEY_UP, 'k', 0, "Up k", NULL, NULL, "previous row", Q_A_UP },
	{ CRT_KEY_DOWN, 'j', 0, "Down j", NULL, NULL, "next row", Q_A_DOWN },
	{ CRT_KEY_PGUP, 0, 0, "PgUp", NULL, NULL, "previous page", Q_A_PGUP },
	{ CRT_KEY_PGDN, 0, 0, "PgDn", NULL, NULL, "next page", Q_A_PGDN },
	{ CRT_KEY_HOME, 'g', 0, "Home g", NULL, NULL, "oldest", Q_A_HOME },
	{ CRT_KEY_END, 'G', 0, "End G", NULL, NULL, "newest", Q_A_END },
	{ 0, 0, 0, NULL, NULL, NULL, NULL, 0 }
};

static const char *const state_choices[] = { "pending", "queued",
	"deferred", "held", "delivered", "bounced", "all", NULL };

struct queue_state {
	struct model_queue_filter filter;
	struct q_queue_page page, tmp;
	struct model_marks marks;
	struct q_shape shape;
	int sel;
	int shape_mode, shape_top;
	long long count;
};

static struct queue_state *
st_of(struct screen *s)
{
	return s->state;
}

static int
page_rows(const struct screen *s)
{
	int r = s->body_rows - 3;

	if (r < 1)
		r = 1;
	if (r > Q_QUEUE_PAGE_MAX)
		r = Q_QUEUE_PAGE_MAX;
	return r;
}

/* Fetches into st->tmp; -1 after reporting. */
static int
fetch(struct screen *s, struct app *a, int dir, const struct model_qkey *key,
    int limit)
{
	struct queue_state *st = st_of(s);

	if (q_queue_page(app_db(a), &st->filter, dir, key, limit,
	    &st->tmp) == -1) {
		app_error(a, "reading the queue");
		return -1;
	}
	return 0;
}

static void
take(struct queue_state *st)
{
	memcpy(&st->page, &st->tmp, sizeof(st->page));
	if (st->sel >= st->page.n)
		st->sel = st->page.n > 0 ? st->page.n - 1 : 0;
	if (st->sel < 0)
		st->sel = 0;
}

static int
same_key(const struct model_qkey *x, const struct model_qkey *y)
{
	return strcmp(x->message_id, y->message_id) == 0 &&
	    strcmp(x->rcpt_no, y->rcpt_no) == 0;
}

static int
queue_load(struct screen *s, struct app *a)
{
	struct queue_state *st = st_of(s);
	struct model_qkey top, selk;
	int rows = page_rows(s), had = st->page.n > 0, i;

	if (st->shape_mode) {
		if (q_queue_shape(app_db(a), &st->shape) == -1) {
			app_error(a, "reading queue_shape");
			return -1;
		}
		return 0;
	}
	if (had) {
		top = st->page.row[0].key;
		selk = st->page.row[st->sel].key;
		if (fetch(s, a, MODEL_PAGE_FROM, &top, rows) == -1)
			return -1;
		if (st->tmp.n < rows && fetch(s, a, MODEL_PAGE_LAST, NULL,
		    rows) == -1)
			return -1;
		take(st);
		for (i = 0; i < st->page.n; i++)
			if (same_key(&st->page.row[i].key, &selk))
				st->sel = i;
	} else {
		if (fetch(s, a, MODEL_PAGE_FIRST, NULL, rows) == -1)
			return -1;
		st->sel = 0;
		take(st);
	}
	if (q_queue_count(app_db(a), &st->filter, &st->count) == -1) {
		app_error(a, "counting the queue");
		return -1;
	}
	return 0;
}

static const char *
state_text(const struct q_qrow *r)
{
	if (r->leased)
		return "active";
	if (r->bounce_requested && strcmp(r->state, "deferred") == 0)
		return "bounce";
	return r->state;
}

static void
draw_shape(struct queue_state *st, int y, int h, int w)
{
	/* Lower bounds of the queue_shape buckets 0-5m ... 640m+. */
	static const char *const b[Q_SHAPE_BUCKETS] = { "<5m", "5m+",
		"10m+", "20m+", "40m+", "80m+", "160m+", "320m+", "640m+" };
	char line[512], cell[16];
	int i, j, dw = w - 7 - 6 * Q_SHAPE_BUCKETS - 1;

	if (dw < 10)
		dw = 10;
	snprintf(line, sizeof(line), "%-*.*s %6s", dw, dw, "Domain", "Total");
	for (j = 0; j < Q_SHAPE_BUCKETS; j++) {
		snprintf(cell, sizeof(cell), "%6.6s", b[j]);
		strncat(line, cell, sizeof(line) - strlen(line) - 1);
	}
	crt_line(y, 0, w, CRT_HEADER, line);
	if (st->shape_top > st->shape.n - 1)
		st->shape_top = st->shape.n > 0 ? st->shape.n - 1 : 0;
	for (i = 0; i < h - 2 && st->shape_top + i < st->shape.n; i++) {
		int k = st->shape_top + i;

		snprintf(line, sizeof(line), "%-*.*s %6lld", dw, dw,
		    st->shape.row[k].domain, st->shape.row[k].total);
		for (j = 0; j < Q_SHAPE_BUCKETS; j++) {
			snprintf(cell, sizeof(cell), "%6lld",
			    st->shape.row[k].bucket[j]);
			strncat(line, cell, sizeof(line) - strlen(line) - 1);
		}
		crt_line(y + 1 + i, 0, w, k == 0 ? CRT_INFO : CRT_NORMAL,
		    line);
	}
	crt_line(y + h - 1, 0, w, CRT_DIM, "queue_shape: undelivered recipients"
	    " per domain by message age (5m+ = 5-10m ...).  F6 back");
}

static void
queue_draw(struct screen *s, struct app *a, int y, int h, int w)
{
	struct queue_state *st = st_of(s);
	char line[1024], age[16], size[16], next[16], cnt[32];
	int i, rest, sw, rw, pw, rows = h - 3;

	(void)a;
	if (st->shape_mode) {
		draw_shape(st, y, h, w);
		return;
	}
	rest = w - 38;
	if (rest < 12)
		rest = 12;
	if (w >= 110) {
		sw = rest * 3 / 10;
		rw = rest * 3 / 10;
		pw = rest - sw - rw - 2;
	} else {
		sw = rest * 4 / 10;
		rw = rest - sw - 1;
		pw = 0;
	}
	snprintf(line, sizeof(line), "  %-8s %6s %6s %3s %6s %-*.*s %-*.*s "
	    "%.*s", "State", "Age", "Size", "Att", "Next", sw, sw, "Sender",
	    rw, rw, "Recipient", pw, "Last reply");
	crt_line(y, 0, w, CRT_HEADER, line);
	for (i = 0; i < rows && i < st->page.n; i++) {
		const struct q_qrow *r = &st->page.row[i];
		int marked = model_marks_has(&st->marks, r->queue_id);
		enum crt_color c = i == st->sel ? CRT_SELECTED : marked ?
		    CRT_MARK : strcmp(r->state, "held") == 0 ? CRT_WARN :
		    CRT_NORMAL;

		if (strcmp(r->state, "queued") == 0 ||
		    strcmp(r->state, "deferred") == 0) {
			if (r->next_in <= 0)
				snprintf(next, sizeof(next), "now");
			else
				model_fmt_age(next, sizeof(next), r->next_in);
		} else
			snprintf(next, sizeof(next), "-");
		snprintf(line, sizeof(line), "%c %-8s %6s %6s %3d %6s %-*.*s "
		    "%-*.*s %.*s", marked ? '*' : ' ', state_text(r),
		    model_fmt_age(age, sizeof(age), r->age),
		    model_fmt_size(size, sizeof(size), r->size), r->attempts,
		    next, sw, sw, r->sender[0] ? r->sender : "<>", rw, rw,
		    r->rcpt, pw, r->reply);
		crt_line(y + 1 + i, 0, w, c, line);
	}
	if (st->page.n == 0)
		crt_text(y + 1, 2, w - 2, CRT_DIM, "no recipients match the "
		    "filter");
	if (st->page.n > 0) {
		const struct q_qrow *r = &st->page.row[st->sel];

		snprintf(line, sizeof(line), "%s  %s -> %s  %s",
		    r->queue_id, r->sender[0] ? r->sender : "<>", r->rcpt,
		    r->reply[0] ? r->reply : "(no reply yet)");
		crt_line(y + h - 2, 0, w, CRT_DIM, line);
	} else
		crt_fill(y + h - 2, 0, w, CRT_NORMAL);
	if (st->count > Q_QUEUE_COUNT_CAP)
		snprintf(cnt, sizeof(cnt), "%d+", Q_QUEUE_COUNT_CAP);
	else
		snprintf(cnt, sizeof(cnt), "%lld", st->count);
	snprintf(line, sizeof(line), "%s %s recipients%s%s%s%s | %zu marked | "
	    "Space mark  u unmark  b bounce", cnt,
	    model_state_name(st->filter.state),
	    st->filter.domain[0] ? " domain=" : "", st->filter.domain,
	    st->filter.sender[0] ? " sender~" : "", st->filter.sender,
	    st->marks.n);
	crt_line(y + h - 1, 0, w, CRT_INFO, line);
}

static int
filter_submit(void *arg, struct form_field *f, int n, char *err,
    size_t errlen)
{
	struct queue_state *st = arg;
	int state = model_state_parse(f[0].value);

	(void)n;
	if (state < 0) {
		snprintf(err, errlen, "unknown state \"%s\"", f[0].value);
		return -1;
	}
	if (strlen(f[1].value) >= sizeof(st->filter.domain) ||
	    strlen(f[2].value) >= sizeof(st->filter.sender)) {
		snprintf(err, errlen, "at most %zu characters",
		    sizeof(st->filter.domain) - 1);
		return -1;
	}
	st->filter.state = state;
	memcpy(st->filter.domain, f[1].value, strlen(f[1].value) + 1);
	memcpy(st->filter.sender, f[2].value, strlen(f[2].value) + 1);
	return 0;
}

static int
queue_filter(struct screen *s, struct app *a)
{
	struct queue_state *st = st_of(s);
	struct form_field f[3];

	memset(f, 0, sizeof(f));
	f[0].label = "State";
	f[0].type = FORM_CHOICE;
	f[0].choices = state_choices;
	snprintf(f[0].value, sizeof(f[0].value), "%s",
	    model_state_name(st->filter.state));
	f[1].label = "Recipient domain";
	snprintf(f[1].value, sizeof(f[1].value), "%s", st->filter.domain);
	f[2].label = "Sender contains";
	snprintf(f[2].value, sizeof(f[2].value), "%s", st->filter.sender);
	if (form_run(a, "Queue filter (empty = any)", f, 3, filter_submit,
	    st)) {
		st->page.n = 0;
		st->sel = 0;
		app_msg(a, CRT_INFO, "filter applied");
	}
	return SCR_HANDLED | SCR_RELOAD;
}

static int
queue_op(struct screen *s, struct app *a, enum q_queue_op op)
{
	struct queue_state *st = st_of(s);
	const char *one = st->page.n > 0 ? st->page.row[st->sel].queue_id :
	    NULL;
	char *arr = malloc(MODEL_MARKS_MAX * (MODEL_QUEUE_ID_LEN + 1) + 3);
	char q[256];
	long long changed = 0;
	int n;

	if (arr == NULL)
		return SCR_HANDLED;
	n = model_marks_array(&st->marks, one, arr,
	    MODEL_MARKS_MAX * (MODEL_QUEUE_ID_LEN + 1) + 3);
	if (n <= 0) {
		app_msg(a, CRT_WARN, "nothing selected");
		goto out;
	}
	if (op == Q_DELETE || op == Q_BOUNCE) {
		if (n == 1)
			snprintf(q, sizeof(q), "%s message %s%s?", op ==
			    Q_DELETE ? "Delete" : "Bounce", st->marks.n ?
			    st->marks.id[0] : one, op == Q_DELETE ?
			    " with all its recipients (no bounce)" :
			    " back to its sender");
		else
			snprintf(q, sizeof(q), "%s the %d marked messages%s?",
			    op == Q_DELETE ? "Delete" : "Bounce", n,
			    op == Q_DELETE ? " with all their recipients (no "
			    "bounce)" : " back to their senders");
		if (!form_confirm(a, op == Q_DELETE ? "Delete" : "Bounce", q)) {
			app_msg(a, CRT_NORMAL, "nothing changed");
			goto out;
		}
	}
	if (q_queue_op(app_db(a), op, arr, &changed) == -1) {
		app_error(a, q_queue_op_name(op));
		goto out;
	}
	app_msg(a, CRT_INFO, "%s: %d message%s, %lld recipient%s changed",
	    q_queue_op_name(op), n, n == 1 ? "" : "s", changed,
	    changed == 1 ? "" : "s");
	if (st->marks.n > 0)
		model_marks_clear(&st->marks);
out:
	free(arr);
	return SCR_HANDLED | SCR_RELOAD;
}

static int
queue_move(struct screen *s, struct app *a, int act)
{
	struct queue_state *st = st_of(s);
	int rows = page_rows(s), n = st->page.n;
	struct model_qkey k;

	switch (act) {
	case Q_A_DOWN:
		if (st->sel < n - 1) {
			st->sel++;
			break;
		}
		if (n == 0)
			break;
		k = st->page.row[0].key;
		if (fetch(s, a, MODEL_PAGE_AFTER, &k, rows) == 0 &&
		    st->tmp.n >= n) {
			take(st);
			st->sel = st->page.n - 1;
		}
		break;
	case Q_A_UP:
		if (st->sel > 0) {
			st->sel--;
			break;
		}
		if (n == 0)
			break;
		k = st->page.row[0].key;
		if (fetch(s, a, MODEL_PAGE_BEFORE, &k, 1) == 0 &&
		    st->tmp.n == 1) {
			k = st->tmp.row[0].key;
			if (fetch(s, a, MODEL_PAGE_FROM, &k, rows) == 0) {
				take(st);
				st->sel = 0;
			}
		}
		break;
	case Q_A_PGDN:
		if (n == 0)
			break;
		k = st->page.row[n - 1].key;
		if (fetch(s, a, MODEL_PAGE_AFTER, &k, rows) == -1)
			break;
		if (st->tmp.n == 0) {
			st->sel = n - 1;
		} else if (st->tmp.n < rows) {
			if (fetch(s, a, MODEL_PAGE_LAST, NULL, rows) == 0) {
				take(st);
				st->sel = st->page.n - 1;
			}
		} else
			take(st);
		break;
	case Q_A_PGUP:
		if (n == 0)
			break;
		k = st->page.row[0].key;
		if (fetch(s, a, MODEL_PAGE_BEFORE, &k, rows) == -1)
			break;
		if (st->tmp.n == 0) {
			st->sel = 0;
		} else if (st->tmp.n < rows) {
			if (fetch(s, a, MODEL_PAGE_FIRST, NULL, rows) == 0) {
				take(st);
				st->sel = 0;
			}
		} else
			take(st);
		break;
	case Q_A_HOME:
		if (fetch(s, a, MODEL_PAGE_FIRST, NULL, rows) == 0) {
			take(st);
			st->sel = 0;
		}
		break;
	case Q_A_END:
		if (fetch(s, a, MODEL_PAGE_LAST, NULL, rows) == 0) {
			take(st);
			st->sel = st->page.n > 0 ? st->page.n - 1 : 0;
		}
		break;
	default:
		break;
	}
	return SCR_HANDLED | SCR_REDRAW;
}

static int
queue_event(struct screen *s, struct app *a, int key)
{
	struct queue_state *st = st_of(s);
	int act = scr_key_action(queue_keys, key);
	struct model_lines *l;
	char title[64];

	if (st->shape_mode) {
		if (act == Q_A_SHAPE || key == CRT_KEY_ESC) {
			st->shape_mode = 0;
			return SCR_HANDLED | SCR_RELOAD;
		}
		if (act == Q_A_UP && st->shape_top > 0)
			st->shape_top--;
		else if (act == Q_A_DOWN)
			st->shape_top++;
		return act >= 0 ? SCR_HANDLED | SCR_REDRAW : SCR_IGNORED;
	}
	switch (act) {
	case Q_A_UP:
	case Q_A_DOWN:
	case Q_A_PGUP:
	case Q_A_PGDN:
	case Q_A_HOME:
	case Q_A_END:
		return queue_move(s, a, act);
	case Q_A_SHAPE:
		st->shape_mode = 1;
		st->shape_top = 0;
		return SCR_HANDLED | SCR_RELOAD;
	case Q_A_FILTER:
		return queue_filter(s, a);
	case Q_A_UNMARK:
		model_marks_clear(&st->marks);
		return SCR_HANDLED | SCR_REDRAW;
	case Q_A_RETRY:
		return queue_op(s, a, Q_RETRY);
	case Q_A_HOLD:
		return queue_op(s, a, Q_HOLD);
	case Q_A_RELEASE:
		return queue_op(s, a, Q_RELEASE);
	case Q_A_DELETE:
		return queue_op(s, a, Q_DELETE);
	case Q_A_BOUNCE:
		return queue_op(s, a, Q_BOUNCE);
	default:
		break;
	}
	if (act < 0)
		return SCR_IGNORED;
	if (st->page.n == 0) {
		app_msg(a, CRT_WARN, "the queue is empty (for this filter)");
		return SCR_HANDLED | SCR_REDRAW;
	}
	if (act == Q_A_MARK) {
		if (model_marks_toggle(&st->marks,
		    st->page.row[st->sel].queue_id) == -1)
			app_msg(a, CRT_WARN, "at most %d marks",
			    MODEL_MARKS_MAX);
		return queue_move(s, a, Q_A_DOWN);
	}
	if (act == Q_A_VIEW) {
		l = malloc(sizeof(*l));
		if (l == NULL)
			return SCR_HANDLED;
		if (q_queue_detail(app_db(a), st->page.row[st->sel].queue_id,
		    l) == -1)
			app_error(a, "reading the message");
		else {
			snprintf(title, sizeof(title), "Message %s",
			    st->page.row[st->sel].queue_id);
			form_pager(a, title, l);
		}
		free(l);
		return SCR_HANDLED | SCR_RELOAD;
	}
	return SCR_IGNORED;
}

struct screen *
scr_queue_new(void)
{
	struct screen *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->state = calloc(1, sizeof(struct queue_state)))
	    == NULL) {
		fprintf(stderr, "postern-console: out of memory\n");
		exit(1);
	}
	s->name = "Queue";
	s->keys = queue_keys;
	s->live_queue = 1;
	s->refresh_ms = QUEUE_REFRESH_MS;
	s->load = queue_load;
	s->draw = queue_draw;
	s->event = queue_event;
	return s;
}
