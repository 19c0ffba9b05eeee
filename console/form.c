/*
 * form.c - modal forms, confirmations and the pager.  See form.h.
 *
 * Text editing works on UTF-8 bytes with the cursor always on a character
 * boundary; the visible part of the active field scrolls so the cursor
 * stays inside it.  Drawing goes through crt only.
 */
#include "console/form.h"

#include <stdio.h>
#include <string.h>

#include "console/app.h"
#include "console/crt.h"

#define FORM_ERR_MAX 1024

struct form_state {
	int cur;		/* active field */
	size_t pos, off;	/* cursor and scroll, bytes into value */
	char err[FORM_ERR_MAX];
};

static size_t
utf8_prev(const char *s, size_t pos)
{
	if (pos == 0)
		return 0;
	pos--;
	while (pos > 0 && ((unsigned char)s[pos] & 0xc0) == 0x80)
		pos--;
	return pos;
}

static size_t
utf8_next(const char *s, size_t pos)
{
	if (s[pos] == '\0')
		return pos;
	pos++;
	while (s[pos] != '\0' && ((unsigned char)s[pos] & 0xc0) == 0x80)
		pos++;
	return pos;
}

/* Encodes code point c; returns the number of bytes (0 if invalid). */
static size_t
utf8_encode(int c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c >= 0xd800 && c <= 0xdfff)
		return 0;
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	if (c < 0x110000) {
		out[0] = (char)(0xf0 | (c >> 18));
		out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[3] = (char)(0x80 | (c & 0x3f));
		return 4;
	}
	return 0;
}

/* Display columns of s[from..to). */
static int
span_width(const char *s, size_t from, size_t to)
{
	char tmp[FORM_VALUE_MAX];
	size_t len = to > from ? to - from : 0;

	if (len >= sizeof(tmp))
		len = sizeof(tmp) - 1;
	memcpy(tmp, s + from, len);
	tmp[len] = '\0';
	return crt_width(tmp);
}

/* Draws text wrapped over at most nlines lines of w columns. */
static void
draw_wrapped(int y, int x, int w, int nlines, enum crt_color c,
    const char *s)
{
	size_t len = strlen(s), start = 0;
	int i;

	for (i = 0; i < nlines && start < len; i++) {
		size_t end = start;
		char part[FORM_ERR_MAX];

		size_t brk = 0;

		while (end < len && span_width(s, start, utf8_next(s, end))
		    <= w) {
			end = utf8_next(s, end);
			if (s[end] == ' ')
				brk = end;
		}
		if (end == start)
			break;
		/* Break after a word when the line is full. */
		if (end < len && brk > start)
			end = brk + 1;
		memcpy(part, s + start, end - start);
		part[end - start] = '\0';
		crt_line(y + i, x, w, c, part);
		start = end;
	}
}

static int
label_width(const struct form_field *f, int n)
{
	int i, lw = 0;

	for (i = 0; i < n; i++) {
		int l = (int)strlen(f[i].label);

		if (l > lw)
			lw = l;
	}
	return lw > 24 ? 24 : lw;
}

static void
form_draw(struct app *a, const char *title, struct form_field *f, int n,
    struct form_state *st)
{
	int rows, cols, W, H, y0, x0, lw, fx, fw, i, cy = -1, cx = 0;

	app_draw(a);
	crt_size(&rows, &cols);
	W = cols - 4 > 100 ? 100 : cols - 4;
	H = n + 7;		/* frame 2, message 3, blank 1, keys 1 */
	if (H > rows)
		H = rows;
	y0 = (rows - H) / 2;
	x0 = (cols - W) / 2;
	crt_box(y0, x0, H, W, title);
	lw = label_width(f, n);
	fx = x0 + 2 + lw + 2;
	fw = W - (lw + 6);
	for (i = 0; i < n && i < H - 7; i++) {
		int y = y0 + 1 + i;
		char shown[FORM_VALUE_MAX + 8];

		crt_text(y, x0 + 2, lw, CRT_BOX, f[i].label);
		if (f[i].type == FORM_LABEL) {
			crt_line(y, fx, fw, CRT_BOX, f[i].value);
			continue;
		}
		if (f[i].type == FORM_CHOICE) {
			snprintf(shown, sizeof(shown), "< %s >", f[i].value);
			crt_line(y, fx, fw, i == st->cur ? CRT_FIELD_ACTIVE :
			    CRT_FIELD, shown);
			continue;
		}
		if (i == st->cur) {
			crt_line(y, fx, fw, CRT_FIELD_ACTIVE,
			    f[i].value + st->off);
			cy = y;
			cx = fx + span_width(f[i].value, st->off, st->pos);
		} else
			crt_line(y, fx, fw, CRT_FIELD, f[i].value);
	}
	if (st->err[0] != '\0')
		draw_wrapped(y0 + H - 5, x0 + 2, W - 4, 3, CRT_ERROR, st->err);
	crt_text(y0 + H - 2, x0 + 2, W - 4, CRT_BOX, "Enter save  Tab/Up/Down "
	    "field  Space/Left/Right choose  Esc cancel");
	crt_cursor(cy, cx);
}

static void
form_scroll(struct form_field *fld, struct form_state *st, int fw)
{
	if (st->pos < st->off)
		st->off = st->pos;
	while (st->off < st->pos &&
	    span_width(fld->value, st->off, st->pos) >= fw)
		st->off = utf8_next(fld->value, st->off);
}

static void
form_goto(struct form_field *f, int n, struct form_state *st, int dir)
{
	int i = st->cur;

	do
		i = (i + dir + n) % n;
	while (f[i].type == FORM_LABEL && i != st->cur);
	st->cur = i;
	st->pos = strlen(f[i].value);
	st->off = 0;
}

static void
choice_step(struct form_field *fld, int dir)
{
	int i, cnt = 0, at = 0;

	for (i = 0; fld->choices[i] != NULL; i++) {
		if (strcmp(fld->choices[i], fld->value) == 0)
			at = i;
		cnt++;
	}
	if (cnt == 0)
		return;
	at = (at + dir + cnt) % cnt;
	snprintf(fld->value, sizeof(fld->value), "%s", fld->choices[at]);
}

/* Edits the active text field with key; returns 1 if it used the key. */
static int
text_key(struct form_field *fld, struct form_state *st, int key)
{
	char *v = fld->value;
	size_t len = strlen(v), p;
	char enc[4];
	size_t k;

	switch (key) {
	case CRT_KEY_LEFT:
		st->pos = utf8_prev(v, st->pos);
		return 1;
	case CRT_KEY_RIGHT:
		st->pos = utf8_next(v, st->pos);
		return 1;
	case CRT_KEY_HOME:
	case CRT_CTRL('a'):
		st->pos = 0;
		return 1;
	case CRT_KEY_END:
	case CRT_CTRL('e'):
		st->pos = len;
		return 1;
	case CRT_KEY_BACKSPACE:
		if (st->pos == 0)
			return 1;
		p = utf8_prev(v, st->pos);
		memmove(v + p, v + st->pos, len - st->pos + 1);
		st->pos = p;
		return 1;
	case CRT_KEY_DELETE:
	case CRT_CTRL('d'):
		p = utf8_next(v, st->pos);
		memmove(v + st->pos, v + p, len - p + 1);
		return 1;
	case CRT_CTRL('u'):
		v[0] = '\0';
		st->pos = st->off = 0;
		return 1;
	default:
		break;
	}
	if (key < 0x20 || key == 0x7f || key >= CRT_KEY_BASE)
		return 0;
	k = utf8_encode(key, enc);
	if (k == 0 || len + k >= sizeof(fld->value))
		return 1;	/* Safety: never beyond the field's bound. */
	memmove(v + st->pos + k, v + st->pos, len - st->pos + 1);
	memcpy(v + st->pos, enc, k);
	st->pos += k;
	return 1;
}

int
form_copy(char *dst, size_t n, const char *src, const char *label, char *err,
    size_t errlen)
{
	size_t len = strlen(src);

	if (len >= n) {
		snprintf(err, errlen, "%s: at most %zu characters", label,
		    n - 1);
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int
form_run(struct app *a, const char *title, struct form_field *f, int n,
    form_submit_fn submit, void *arg)
{
	struct form_state st;
	int rows, cols, key, fw, lw, rc = 0;

	memset(&st, 0, sizeof(st));
	st.cur = n - 1;
	form_goto(f, n, &st, 1);
	for (;;) {
		crt_size(&rows, &cols);
		lw = label_width(f, n);
		fw = (cols - 4 > 100 ? 100 : cols - 4) - (lw + 6);
		if (fw < 1)
			fw = 1;
		if (f[st.cur].type == FORM_TEXT)
			form_scroll(&f[st.cur], &st, fw);
		form_draw(a, title, f, n, &st);
		crt_flush();
		key = crt_getkey(-1, -1);
		if (key == CRT_KEY_NONE || key == CRT_KEY_RESIZE)
			continue;
		if (key == CRT_KEY_ESC || key == CRT_KEY_F(10))
			break;
		if (key == CRT_KEY_ENTER) {
			st.err[0] = '\0';
			if (submit(arg, f, n, st.err, sizeof(st.err)) == 0) {
				rc = 1;
				break;
			}
			continue;
		}
		if (key == CRT_KEY_TAB || key == CRT_KEY_DOWN) {
			form_goto(f, n, &st, 1);
			continue;
		}
		if (key == CRT_KEY_BTAB || key == CRT_KEY_UP) {
			form_goto(f, n, &st, -1);
			continue;
		}
		if (f[st.cur].type == FORM_CHOICE) {
			if (key == ' ' || key == CRT_KEY_RIGHT)
				choice_step(&f[st.cur], 1);
			else if (key == CRT_KEY_LEFT)
				choice_step(&f[st.cur], -1);
			continue;
		}
		if (f[st.cur].type == FORM_TEXT)
			text_key(&f[st.cur], &st, key);
	}
	crt_cursor(-1, 0);
	return rc;
}

int
form_confirm(struct app *a, const char *title, const char *question)
{
	int rows, cols, W, H = 7, y0, x0, key;

	for (;;) {
		app_draw(a);
		crt_size(&rows, &cols);
		W = cols - 4 > 70 ? 70 : cols - 4;
		y0 = (rows - H) / 2;
		x0 = (cols - W) / 2;
		crt_box(y0, x0, H, W, title);
		draw_wrapped(y0 + 1, x0 + 2, W - 4, 3, CRT_BOX, question);
		crt_text(y0 + H - 2, x0 + 2, W - 4, CRT_WARN,
		    "y = yes, any other key = no");
		crt_flush();
		key = crt_getkey(-1, -1);
		if (key == CRT_KEY_NONE || key == CRT_KEY_RESIZE)
			continue;
		return key == 'y' || key == 'Y';
	}
}

void
form_pager(struct app *a, const char *title, const struct model_lines *l)
{
	int rows, cols, H, W, y0, x0, key, top = 0, page, i, maxtop;
	char foot[96];

	for (;;) {
		app_draw(a);
		crt_size(&rows, &cols);
		H = rows - 2;
		W = cols - 2;
		if (H < 4 || W < 10)
			return;
		y0 = 1;
		x0 = 1;
		page = H - 3;
		maxtop = (int)l->n - page;
		if (maxtop < 0)
			maxtop = 0;
		if (top > maxtop)
			top = maxtop;
		if (top < 0)
			top = 0;
		crt_box(y0, x0, H, W, title);
		for (i = 0; i < page && top + i < (int)l->n; i++)
			crt_text(y0 + 1 + i, x0 + 2, W - 4, CRT_BOX,
			    l->line[top + i]);
		snprintf(foot, sizeof(foot), "lines %d-%d of %zu   Up/Down/"
		    "PgUp/PgDn scroll   Esc/q close", l->n ? top + 1 : 0,
		    top + i, l->n);
		crt_text(y0 + H - 2, x0 + 2, W - 4, CRT_DIM, foot);
		crt_flush();
		key = crt_getkey(-1, -1);
		switch (key) {
		case CRT_KEY_UP:
			top--;
			break;
		case CRT_KEY_DOWN:
			top++;
			break;
		case CRT_KEY_PGUP:
			top -= page;
			break;
		case CRT_KEY_PGDN:
		case ' ':
			top += page;
			break;
		case CRT_KEY_HOME:
			top = 0;
			break;
		case CRT_KEY_END:
			top = maxtop;
			break;
		case CRT_KEY_ESC:
		case CRT_KEY_ENTER:
		case CRT_KEY_F(10):
		case CRT_KEY_F(3):
		case 'q':
			return;
		default:
			break;
		}
	}
}
