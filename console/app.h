/*
 * app.h - the console application: the screens, the one screen loop, the
 * global key table, the message line and the function-key bar.
 *
 * Layout (any size down to 80x24): line 0 title, line 1 tab bar, lines 2
 * to rows-3 the current screen, rows-2 the message line, rows-1 the key
 * bar.  The loop waits for a key or for the database socket (NOTIFY) with
 * a timeout, reloads screens that asked for live data (throttled to one
 * reload per second) or periodic refreshes, and repaints after every
 * reaction that asks for it and on KEY_RESIZE.
 *
 * The message line keeps the last message until the next key: database
 * errors are shown there exactly as the server wrote them, never fatal.
 *
 * Ownership: the app owns the screens and borrows the db.  Single-threaded.
 */
#ifndef POSTERN_CONSOLE_APP_H
#define POSTERN_CONSOLE_APP_H

#include "console/crt.h"
#include "console/db.h"
#include "console/screen.h"

struct app;

/* Creates the application over an open connection; label names the
 * database in the title.  Never returns NULL (exits on out of memory). */
struct app *app_new(struct db *db, const char *label);
void app_free(struct app *a);
/* Runs the screen loop until the user quits.  Returns 0. */
int app_run(struct app *a);

struct db *app_db(struct app *a);
/* Shows a message on the message line (until the next key). */
void app_msg(struct app *a, enum crt_color c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Shows "what: <db->err>" as an error. */
void app_error(struct app *a, const char *what);
/* Shows db->notice (a WARNING from the last statement) if there is one;
 * returns 1 if it did. */
int app_notice(struct app *a);
/* Paints everything (title, tabs, screen, message, keys) without flushing;
 * dialogs call it to restore their background. */
void app_draw(struct app *a);
/* The screens, for the Help screen. */
struct screen *const *app_screens(struct app *a, int *n);
/* The global key table, for the Help screen. */
const struct scr_key *app_global_keys(void);

#endif
