/*
 * crt.c - the terminal over ncursesw.  See crt.h.
 *
 * This is the only file that includes curses.  Input is read with
 * wget_wch() in non-blocking mode; when nothing is buffered, poll(2) waits
 * on the terminal and on the caller's fd (the libpq socket, so NOTIFYs
 * wake the loop) with the caller's timeout.  SIGWINCH interrupts poll and
 * ncurses then returns KEY_RESIZE, which comes back as CRT_KEY_RESIZE.
 *
 * Signal safety: endwin() is not async-signal-safe; like htop's
 * CRT_handleSIGSEGV we still call it from the handlers, because leaving
 * the terminal in raw mode is worse than the small risk, and the process
 * ends right after.
 */
#define NCURSES_WIDECHAR 1
#include "console/crt.h"

#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <ncursesw/curses.h>

static int crt_active;
static int crt_is_mono;
static attr_t crt_attr[CRT_COLOR_COUNT];

/* Colour scheme: foreground, background, extra attribute. */
static const struct {
	short fg, bg;
	attr_t extra;
	attr_t mono;
} crt_scheme[CRT_COLOR_COUNT] = {
	[CRT_NORMAL] = { -1, -1, 0, A_NORMAL },
	[CRT_TITLE] = { COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
	[CRT_TAB] = { COLOR_WHITE, COLOR_BLUE, 0, A_NORMAL },
	[CRT_TAB_ACTIVE] = { COLOR_BLACK, COLOR_GREEN, A_BOLD,
	    A_REVERSE | A_BOLD },
	[CRT_HEADER] = { COLOR_BLACK, COLOR_GREEN, 0, A_UNDERLINE | A_BOLD },
	[CRT_SELECTED] = { COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
	[CRT_FKEY] = { COLOR_WHITE, COLOR_BLACK, A_BOLD, A_BOLD },
	[CRT_FKEY_LABEL] = { COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
	[CRT_ERROR] = { COLOR_WHITE, COLOR_RED, A_BOLD, A_BOLD | A_REVERSE },
	[CRT_INFO] = { COLOR_GREEN, -1, A_BOLD, A_BOLD },
	[CRT_ON] = { COLOR_GREEN, -1, A_BOLD, A_BOLD },
	[CRT_OFF] = { COLOR_RED, -1, 0, A_DIM },
	[CRT_WARN] = { COLOR_YELLOW, -1, A_BOLD, A_BOLD | A_UNDERLINE },
	[CRT_MARK] = { COLOR_YELLOW, -1, A_BOLD, A_BOLD },
	[CRT_DIM] = { COLOR_BLUE, -1, A_BOLD, A_DIM },
	[CRT_BOX] = { COLOR_WHITE, COLOR_BLUE, 0, A_NORMAL },
	[CRT_FIELD] = { COLOR_BLACK, COLOR_WHITE, 0, A_UNDERLINE },
	[CRT_FIELD_ACTIVE] = { COLOR_BLACK, COLOR_YELLOW, 0, A_REVERSE },
};

void
crt_done(void)
{
	if (!crt_active)
		return;
	crt_active = 0;
	curs_set(1);
	endwin();
}

static void
crt_fatal_signal(int sig)
{
	static const char msg[] = "postern-console: crashed; terminal "
	    "restored\n";

	crt_done();
	if (sig != SIGINT && sig != SIGTERM && sig != SIGHUP &&
	    sig != SIGQUIT)
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
crt_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
	    SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crt_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
crt_colors(void)
{
	const char *nc = getenv("NO_COLOR");
	int i;

	crt_is_mono = !has_colors() || (nc != NULL && nc[0] != '\0');
	if (!crt_is_mono && start_color() == ERR)
		crt_is_mono = 1;
	if (!crt_is_mono) {
		use_default_colors();
		for (i = 1; i < CRT_COLOR_COUNT && i < COLOR_PAIRS; i++) {
			init_pair((short)i, crt_scheme[i].fg, crt_scheme[i].bg);
			crt_attr[i] = COLOR_PAIR(i) | crt_scheme[i].extra;
		}
		crt_attr[CRT_NORMAL] = A_NORMAL;
		return;
	}
	for (i = 0; i < CRT_COLOR_COUNT; i++)
		crt_attr[i] = crt_scheme[i].mono;
}

int
crt_init(void)
{
	setlocale(LC_ALL, "");
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "postern-console: needs a terminal\n");
		return -1;
	}
	if (getenv("ESCDELAY") == NULL)
		set_escdelay(25);
	if (initscr() == NULL) {
		fprintf(stderr, "postern-console: cannot initialise the "
		    "terminal (TERM=%s)\n", getenv("TERM") ? getenv("TERM") :
		    "");
		return -1;
	}
	crt_active = 1;
	crt_signals();
	atexit(crt_done);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	crt_colors();
	return 0;
}

int
crt_mono(void)
{
	return crt_is_mono;
}

void
crt_size(int *rows, int *cols)
{
	getmaxyx(stdscr, *rows, *cols);
}

void
crt_clear(void)
{
	erase();
}

void
crt_fill(int y, int x, int w, enum crt_color c)
{
	int rows, cols, i;

	getmaxyx(stdscr, rows, cols);
	if (y < 0 || y >= rows || x >= cols)
		return;
	if (x + w > cols)
		w = cols - x;
	attrset(crt_attr[c]);
	for (i = 0; i < w; i++)
		mvaddch(y, x + i, ' ');
	attrset(A_NORMAL);
}

/* Sanitised bytes of s that fit in w columns; returns the columns used. */
static int
crt_fit(const char *s, int w, char *out, size_t outlen, size_t *outused)
{
	mbstate_t st;
	size_t o = 0;
	int used = 0;

	memset(&st, 0, sizeof(st));
	while (*s != '\0' && used < w) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		int cw;

		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			memset(&st, 0, sizeof(st));
			if (o + 1 >= outlen)
				break;
			out[o++] = '?';
			used++;
			s++;
			continue;
		}
		cw = wcwidth(wc);
		if (cw < 0 || wc < 0x20) {
			if (o + 1 >= outlen)
				break;
			out[o++] = ' ';
			used++;
			s += k;
			continue;
		}
		if (used + cw > w || o + k >= outlen)
			break;
		memcpy(out + o, s, k);
		o += k;
		used += cw;
		s += k;
	}
	out[o] = '\0';
	*outused = o;
	return used;
}

int
crt_width(const char *s)
{
	char tmp[4096];
	size_t u;

	return crt_fit(s, 1 << 20, tmp, sizeof(tmp), &u);
}

int
crt_text(int y, int x, int w, enum crt_color c, const char *s)
{
	char buf[4096];
	size_t used;
	int rows, cols, n;

	getmaxyx(stdscr, rows, cols);
	if (y < 0 || y >= rows || x < 0 || x >= cols || w <= 0 || s == NULL)
		return 0;
	if (x + w > cols)
		w = cols - x;
	n = crt_fit(s, w, buf, sizeof(buf), &used);
	attrset(crt_attr[c]);
	mvaddnstr(y, x, buf, (int)used);
	attrset(A_NORMAL);
	return n;
}

void
crt_line(int y, int x, int w, enum crt_color c, const char *s)
{
	int n = crt_text(y, x, w, c, s);

	if (n < w)
		crt_fill(y, x + n, w - n, c);
}

void
crt_box(int y, int x, int h, int w, const char *title)
{
	int i;

	for (i = 0; i < h; i++)
		crt_fill(y + i, x, w, CRT_BOX);
	attrset(crt_attr[CRT_BOX]);
	mvhline(y, x + 1, ACS_HLINE, w - 2);
	mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
	mvvline(y + 1, x, ACS_VLINE, h - 2);
	mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
	mvaddch(y, x, ACS_ULCORNER);
	mvaddch(y, x + w - 1, ACS_URCORNER);
	mvaddch(y + h - 1, x, ACS_LLCORNER);
	mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
	attrset(A_NORMAL);
	if (title != NULL && *title != '\0') {
		char t[256];

		snprintf(t, sizeof(t), " %s ", title);
		crt_text(y, x + 2, w - 4, CRT_BOX, t);
	}
}

void
crt_cursor(int y, int x)
{
	if (y < 0) {
		curs_set(0);
		return;
	}
	move(y, x);
	curs_set(1);
}

void
crt_flush(void)
{
	refresh();
}

void
crt_repaint(void)
{
	clearok(curscr, TRUE);
}

static int
crt_map(int rc, wint_t ch)
{
	if (rc == KEY_CODE_YES) {
		switch (ch) {
		case KEY_UP: return CRT_KEY_UP;
		case KEY_DOWN: return CRT_KEY_DOWN;
		case KEY_LEFT: return CRT_KEY_LEFT;
		case KEY_RIGHT: return CRT_KEY_RIGHT;
		case KEY_PPAGE: return CRT_KEY_PGUP;
		case KEY_NPAGE: return CRT_KEY_PGDN;
		case KEY_HOME: return CRT_KEY_HOME;
		case KEY_END: return CRT_KEY_END;
		case KEY_ENTER: return CRT_KEY_ENTER;
		case KEY_BACKSPACE: return CRT_KEY_BACKSPACE;
		case KEY_DC: return CRT_KEY_DELETE;
		case KEY_BTAB: return CRT_KEY_BTAB;
		case KEY_RESIZE: return CRT_KEY_RESIZE;
		case KEY_SR: return CRT_KEY_SUP;
		case KEY_SF: return CRT_KEY_SDOWN;
		default:
			if (ch >= KEY_F(1) && ch <= KEY_F(12))
				return CRT_KEY_F((int)(ch - KEY_F0));
			return CRT_KEY_OTHER;
		}
	}
	switch (ch) {
	case '\r':
	case '\n':
		return CRT_KEY_ENTER;
	case 27:
		return CRT_KEY_ESC;
	case 127:
	case 8:
		return CRT_KEY_BACKSPACE;
	case '\t':
		return CRT_KEY_TAB;
	default:
		return (int)ch;
	}
}

int
crt_getkey(int fd, int timeout_ms)
{
	struct pollfd p[2];
	wint_t ch;
	int rc, n;

	rc = get_wch(&ch);
	if (rc != ERR)
		return crt_map(rc, ch);
	p[0].fd = STDIN_FILENO;
	p[0].events = POLLIN;
	p[1].fd = fd;
	p[1].events = POLLIN;
	n = poll(p, fd >= 0 ? 2 : 1, timeout_ms);
	if (n < 0 && errno == EINTR) {
		/* SIGWINCH: ncurses has queued KEY_RESIZE. */
		rc = get_wch(&ch);
		return rc == ERR ? CRT_KEY_NONE : crt_map(rc, ch);
	}
	if (n <= 0)
		return CRT_KEY_NONE;
	if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
		rc = get_wch(&ch);
		if (rc != ERR)
			return crt_map(rc, ch);
		if (p[0].revents & (POLLHUP | POLLERR)) {
			/* The terminal went away: behave like SIGHUP. */
			crt_done();
			exit(1);
		}
	}
	if (fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
		return CRT_KEY_FD;
	return CRT_KEY_NONE;
}
