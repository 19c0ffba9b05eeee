/*
 * form.h - modal forms and dialogs drawn with crt: a form of labelled
 * fields, a yes/no confirmation, and a scrolling text viewer (pager).
 *
 * A form edits caller-owned fields in place.  Text fields take UTF-8
 * input with a cursor (Left/Right/Home/End, Backspace/Delete, Ctrl-U
 * clears); choice fields cycle through fixed values with Space or
 * Left/Right.  Up/Down/Tab/Shift-Tab move between fields, Enter saves,
 * Esc or F10 cancels.  On Enter the submit callback runs (in the caller:
 * typically one SQL transaction); if it fails, its message (the
 * database's error) is shown inside the form and editing goes on, so a
 * rejected value can be fixed instead of typed again.
 *
 * Every field value is bounded by FORM_VALUE_MAX; input beyond it is
 * refused.  Modal: these functions run their own key loop and repaint the
 * application behind them on KEY_RESIZE.
 */
#ifndef POSTERN_CONSOLE_FORM_H
#define POSTERN_CONSOLE_FORM_H

#include <stddef.h>

#include "console/model.h"

struct app;

#define FORM_VALUE_MAX MODEL_TEXT_MAX
#define FORM_FIELDS_MAX 24

enum form_type { FORM_TEXT, FORM_CHOICE, FORM_LABEL };

struct form_field {
	const char *label;
	enum form_type type;
	const char *const *choices;	/* FORM_CHOICE: NULL-terminated */
	char value[FORM_VALUE_MAX];
};

/* Called on Enter with the fields; returns 0 (the form closes) or -1 with
 * a message in err (the form stays open and shows it). */
typedef int (*form_submit_fn)(void *arg, struct form_field *f, int n,
    char *err, size_t errlen);

/* Copies a field value into a fixed-size destination, refusing (not
 * cutting) a value that does not fit: returns 0, or -1 with "label: at
 * most N characters" in err. */
int form_copy(char *dst, size_t n, const char *src, const char *label,
    char *err, size_t errlen);
/* Runs the form.  Returns 1 when submit succeeded, 0 when cancelled. */
int form_run(struct app *a, const char *title, struct form_field *f, int n,
    form_submit_fn submit, void *arg);
/* Asks question; returns 1 for y / Y, 0 for anything else. */
int form_confirm(struct app *a, const char *title, const char *question);
/* Shows lines in a scrolling box until Esc, q, Enter or F10. */
void form_pager(struct app *a, const char *title,
    const struct model_lines *l);

#endif
