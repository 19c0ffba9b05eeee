/*
 * model.h - the console's pure model layer: formatting, parsing and SQL
 * building that needs neither curses nor a database connection.
 *
 * Everything here is a pure function over caller-owned, fixed-size
 * structures, so tests/unit/test_console_model.c can drive it with tables
 * of got/want cases.  The screens (scr_*.c) and query modules (q_*.c) call
 * it to turn rows into display text and user input into parameterised SQL.
 *
 * Invariants:
 *   - every output buffer is bounded by its size argument and always
 *     NUL-terminated; truncation is reported by the return value where it
 *     matters and is otherwise harmless (display text);
 *   - SQL is only ever built from constant fragments with $n placeholders:
 *     user-supplied values travel in model_sql.param[], never in the text
 *     (Safety: no string-pasted values, no quoting to get wrong);
 *   - a model_call / model_sql owns the storage its param[] pointers point
 *     into; copying the struct by value is not allowed (the pointers would
 *     point into the old copy): pass it by pointer.
 *
 * Rule conditions and actions are edited as one line each, in the syntax
 * of the view postern.rules_overview ("NOT conn_tls is true",
 * "reply reject 550 5.7.1 \"text\""), and each line becomes exactly one
 * call of a documented postern.rule_add_* function.
 *
 * Thread rules: none needed (no globals).  Failure: parse functions return
 * -1 with a one-line reason in err; nothing is half-written on failure
 * except the output struct, which the caller discards.
 */
#ifndef POSTERN_CONSOLE_MODEL_H
#define POSTERN_CONSOLE_MODEL_H

#include <stddef.h>

#define MODEL_TEXT_MAX 512	/* one value / one display cell */
#define MODEL_SQL_MAX 2048	/* one statement */
#define MODEL_PARAMS_MAX 8
#define MODEL_QUEUE_ID_LEN 16
#define MODEL_MARKS_MAX 1000
#define MODEL_LINES_MAX 1000
#define MODEL_LINE_MAX 256

/* A parameterised statement.  param[i] is NULL for SQL NULL or points into
 * buf[i]. */
struct model_sql {
	char text[MODEL_SQL_MAX];
	int nparams;
	const char *param[MODEL_PARAMS_MAX];
	char buf[MODEL_PARAMS_MAX][MODEL_TEXT_MAX];
};

void model_sql_init(struct model_sql *q);
/* Appends constant SQL text.  Returns 0, or -1 when it does not fit. */
int model_sql_add(struct model_sql *q, const char *text);
/* Adds a parameter (NULL = SQL NULL) and returns its number ($n), or -1
 * when there are too many or the value is longer than MODEL_TEXT_MAX - 1. */
int model_sql_param(struct model_sql *q, const char *value);

/* ---- display formatting ---- */

/* "45s", "3m12s", "3h12m", "2d05h"; negative seconds format as "-" plus
 * the same.  Returns dst. */
char *model_fmt_age(char *dst, size_t n, long long seconds);
/* "512", "1.5K", "20.0M", "1.2G" (1024-based).  Returns dst. */
char *model_fmt_size(char *dst, size_t n, long long bytes);
/* Bounded copy replacing control characters (tab, CR, LF, ...) with a
 * space.  Returns the number of bytes written (excluding NUL). */
size_t model_copy_clean(char *dst, const char *src, size_t n);
/* One-line summary of a rule for the list: "COND -> ACTIONS", "always ->
 * ACTIONS", "... -> (no actions)".  Returns dst. */
char *model_rule_summary(char *dst, size_t n, const char *conditions,
    const char *actions);

/* ---- rule conditions and actions as lines ---- */

/* Formats a condition the way rules_overview does: "[NOT ]kind op value",
 * value in double quotes when empty or holding white space or quotes. */
char *model_cond_format(char *dst, size_t n, int negate, const char *kind,
    const char *op, const char *value);

/* The columns of one postern.rule_actions row (NULL for SQL NULL). */
struct model_action {
	const char *kind;
	const char *auth_mechs;		/* array text, e.g. {PLAIN,LOGIN} */
	const char *reply, *reply_code, *reply_ecode, *reply_text;
	const char *relay_host, *relay_port;
	const char *relay_tls, *relay_tls_verify;	/* verify: "t"/"f" */
	const char *relay_tls_versions;	/* array text */
	const char *header_name, *header_value;
};
/* Formats an action in the line syntax model_action_parse() reads. */
char *model_action_format(char *dst, size_t n, const struct model_action *a);

/* Parses a condition line into SELECT postern.rule_add_condition(...) for
 * rule.  Returns 0, or -1 with err set. */
int model_cond_parse(const char *line, const char *rule, struct model_sql *q,
    char *err, size_t errlen);
/* Parses an action line into the matching SELECT postern.rule_add_*(...).
 * Returns 0, or -1 with err set. */
int model_action_parse(const char *line, const char *rule,
    struct model_sql *q, char *err, size_t errlen);

/* ---- AUTH mechanism sets ---- */

/* 1 if the array text ({PLAIN,LOGIN}) contains mech (case-insensitive). */
int model_mechs_has(const char *array, const char *mech);
/* Writes array text with mech toggled, in the order PLAIN, LOGIN, others.
 * Returns 0, or -1 when it does not fit. */
int model_mechs_toggle(const char *array, const char *mech, char *dst,
    size_t n);
/* "PLAIN,LOGIN" or "off" for display.  Returns dst. */
char *model_mechs_display(char *dst, size_t n, const char *array);

/* ---- the queue screen ---- */

enum model_state_filter {
	MODEL_STATE_PENDING,	/* queued, deferred, held (default) */
	MODEL_STATE_QUEUED,
	MODEL_STATE_DEFERRED,
	MODEL_STATE_HELD,
	MODEL_STATE_DELIVERED,
	MODEL_STATE_BOUNCED,
	MODEL_STATE_ALL,
	MODEL_STATE_COUNT
};
/* Display name of a state filter ("pending", "queued", ...). */
const char *model_state_name(int f);
/* Parses a display name (prefix, case-insensitive); -1 when unknown. */
int model_state_parse(const char *s);

struct model_queue_filter {
	int state;			/* enum model_state_filter */
	char domain[256];		/* "" = any; exact, case-insensitive */
	char sender[256];		/* "" = any; substring, case-insensitive */
};

/* Keyset position of one row in queue order (received_at, message_id,
 * rcpt_no), as the server printed them. */
struct model_qkey {
	char received_at[64];
	char message_id[24];
	char rcpt_no[12];
};

enum model_page { MODEL_PAGE_FIRST, MODEL_PAGE_AFTER, MODEL_PAGE_BEFORE,
	MODEL_PAGE_LAST, MODEL_PAGE_FROM };

/* Appends " WHERE ..." (always at least the state test) for the filter to
 * q, with the values as parameters.  Returns 0 or -1 (does not fit). */
int model_queue_where(const struct model_queue_filter *f,
    struct model_sql *q);
/* Builds the page query: select_list FROM postern.queue_recipients, the
 * filter, the keyset bound for dir (AFTER: rows after key; BEFORE: rows
 * before key, in descending order; FROM: key and after; FIRST / LAST: no
 * bound) and LIMIT limit.  BEFORE and LAST return rows in descending
 * order: the caller reverses them.  Returns 0 or -1. */
int model_queue_page_sql(const struct model_queue_filter *f,
    const char *select_list, int dir, const struct model_qkey *key,
    int limit, struct model_sql *q);

/* A set of marked queue ids (16 upper-case hex digits). */
struct model_marks {
	size_t n;
	char id[MODEL_MARKS_MAX][MODEL_QUEUE_ID_LEN + 1];
};
void model_marks_clear(struct model_marks *m);
int model_marks_has(const struct model_marks *m, const char *id);
/* Toggles id.  Returns 1 (now marked), 0 (now unmarked) or -1 (set full
 * or not a queue id). */
int model_marks_toggle(struct model_marks *m, const char *id);
/* Array text {ID,ID,...} of the marked ids, or of one id when the set is
 * empty and one is given.  Returns the number of ids, or -1 (no room). */
int model_marks_array(const struct model_marks *m, const char *one,
    char *dst, size_t n);

/* ---- list cursor ---- */

/* A selection in a list of n items shown in rows lines starting at top. */
struct model_cursor {
	int sel, top, n, rows;
};
/* Moves the selection by delta (clamped) and scrolls so it is visible. */
void model_cursor_move(struct model_cursor *c, int delta);
/* Re-clamps after n or rows changed. */
void model_cursor_fix(struct model_cursor *c);

/* ---- text for the pager ---- */

struct model_lines {
	size_t n;
	char line[MODEL_LINES_MAX][MODEL_LINE_MAX];
};
void model_lines_clear(struct model_lines *l);
/* Appends text, split at newlines; long lines are cut at MODEL_LINE_MAX-1
 * bytes, control characters become spaces, CR is dropped.  Returns 0 or
 * -1 when the line limit was reached (the rest is dropped). */
int model_lines_add(struct model_lines *l, const char *text);
/* printf-style append of one line (or several, split at newlines). */
int model_lines_addf(struct model_lines *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- aliases ---- */

/* Turns the targets typed in the alias form ("a@x.org, b@y.org c@z.org":
 * separated by commas and/or spaces) into PostgreSQL array text
 * "{a@x.org,b@y.org,c@z.org}" for postern.add_alias(source, VARIADIC
 * targets).  Each target must hold an '@' with text on both sides and no
 * control, quote, brace or backslash character.  Returns the number of
 * targets (at least 1), or -1 with err set. */
int model_targets_array(const char *in, char *dst, size_t n, char *err,
    size_t errlen);

/* "t" / "true" -> 1, else 0. */
int model_pg_bool(const char *v);

#endif
