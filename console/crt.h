/*
 * crt.h - the terminal: the only module of the console that calls curses
 * (docs/style.md rule 23, after htop's CRT.c).
 *
 * crt_init() sets up ncursesw (locale, cbreak, no echo, keypad, hidden
 * cursor), picks the colour scheme and installs the signal handlers that
 * restore the terminal: SIGINT, SIGTERM, SIGHUP and SIGQUIT end curses and
 * re-raise the signal with its default action (so the exit status says
 * what happened); SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT do the same
 * after a one-line message on stderr.  crt_done() is idempotent and is
 * also registered with atexit(), so every exit path leaves a sane
 * terminal.
 *
 * Colours are semantic (enum crt_color).  With has_colors() false, or
 * NO_COLOR set to a non-empty value (https://no-color.org), every colour
 * maps to a monochrome attribute (bold, reverse, underline), so the
 * console stays usable on any terminal.
 *
 * Keys come back as ints: printable characters as their Unicode code
 * point, everything else as a CRT_KEY_* constant (outside the Unicode
 * range), so no other module needs curses' KEY_* values.
 *
 * Drawing functions clip to the screen and to the given width, count
 * display columns (not bytes) and show control characters as spaces.
 * Nothing is shown until crt_flush().  Single-threaded.
 */
#ifndef POSTERN_CONSOLE_CRT_H
#define POSTERN_CONSOLE_CRT_H

enum crt_color {
	CRT_NORMAL,
	CRT_TITLE,		/* top line */
	CRT_TAB,
	CRT_TAB_ACTIVE,
	CRT_HEADER,		/* column headings */
	CRT_SELECTED,		/* the selected row */
	CRT_FKEY,		/* "F2" in the key bar */
	CRT_FKEY_LABEL,		/* "Add" in the key bar */
	CRT_ERROR,
	CRT_INFO,
	CRT_ON,			/* enabled / true */
	CRT_OFF,		/* disabled / false */
	CRT_WARN,
	CRT_MARK,		/* a marked queue row */
	CRT_DIM,
	CRT_BOX,		/* dialog frame and background */
	CRT_FIELD,		/* a form field */
	CRT_FIELD_ACTIVE,	/* the form field being edited */
	CRT_COLOR_COUNT
};

#define CRT_KEY_BASE 0x200000
#define CRT_KEY_NONE (CRT_KEY_BASE + 0)	/* timeout */
#define CRT_KEY_FD (CRT_KEY_BASE + 1)	/* the watched fd is readable */
#define CRT_KEY_UP (CRT_KEY_BASE + 2)
#define CRT_KEY_DOWN (CRT_KEY_BASE + 3)
#define CRT_KEY_LEFT (CRT_KEY_BASE + 4)
#define CRT_KEY_RIGHT (CRT_KEY_BASE + 5)
#define CRT_KEY_PGUP (CRT_KEY_BASE + 6)
#define CRT_KEY_PGDN (CRT_KEY_BASE + 7)
#define CRT_KEY_HOME (CRT_KEY_BASE + 8)
#define CRT_KEY_END (CRT_KEY_BASE + 9)
#define CRT_KEY_ENTER (CRT_KEY_BASE + 10)
#define CRT_KEY_ESC (CRT_KEY_BASE + 11)
#define CRT_KEY_BACKSPACE (CRT_KEY_BASE + 12)
#define CRT_KEY_DELETE (CRT_KEY_BASE + 13)
#define CRT_KEY_TAB (CRT_KEY_BASE + 14)
#define CRT_KEY_BTAB (CRT_KEY_BASE + 15)
#define CRT_KEY_RESIZE (CRT_KEY_BASE + 16)
#define CRT_KEY_SUP (CRT_KEY_BASE + 17)	/* shift-up */
#define CRT_KEY_SDOWN (CRT_KEY_BASE + 18)	/* shift-down */
#define CRT_KEY_OTHER (CRT_KEY_BASE + 19)	/* a key we do not use */
#define CRT_KEY_F(n) (CRT_KEY_BASE + 100 + (n))	/* F1 .. F12 */
#define CRT_CTRL(c) ((c) & 0x1f)

/* Sets up the terminal.  Returns 0, or -1 when there is none (message on
 * stderr). */
int crt_init(void);
/* Restores the terminal; safe to call more than once and from the signal
 * handlers. */
void crt_done(void);
/* 1 when drawing in monochrome. */
int crt_mono(void);
void crt_size(int *rows, int *cols);

void crt_clear(void);
/* Fills w columns at (y, x) with spaces in colour c. */
void crt_fill(int y, int x, int w, enum crt_color c);
/* Draws s at (y, x), at most w display columns.  Returns the number of
 * columns drawn. */
int crt_text(int y, int x, int w, enum crt_color c, const char *s);
/* crt_text() then pads with spaces to w columns. */
void crt_line(int y, int x, int w, enum crt_color c, const char *s);
/* A frame with a title, its inside filled with CRT_BOX. */
void crt_box(int y, int x, int h, int w, const char *title);
/* Shows the cursor at (y, x), or hides it with y < 0. */
void crt_cursor(int y, int x);
void crt_flush(void);
/* Forces a full repaint at the next crt_flush() (Ctrl-L). */
void crt_repaint(void);

/* Waits up to timeout_ms (-1 = forever) for a key or for fd (-1 = none)
 * to become readable.  Returns a key, CRT_KEY_FD or CRT_KEY_NONE. */
int crt_getkey(int fd, int timeout_ms);
/* Display columns of the UTF-8 string s (invalid bytes count as 1). */
int crt_width(const char *s);

#endif
