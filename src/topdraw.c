/* topdraw.c: sprofd top's screen through ncurses (see topdraw.h). */
#include "topdraw.h"

#include <curses.h>
#include <term.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

static SCREEN *screen;
static bool invalid;

int topdraw_open(void)
{
	const char *term = getenv("TERM");
	int err;

	if (screen)
		return 0;
	if (!term || !*term) {
		log_err("top: TERM is not set, so the terminal cannot be drawn on; "
			"set it, or redirect the output for the text view");
		return -1;
	}
	/* Asked first, since newterm leaks its half-made screen when it
	 * fails; setupterm frees what it made. */
	if (setupterm(NULL, STDOUT_FILENO, &err) != OK) {
		log_err("top: terminal type '%s' is unknown to terminfo; set TERM (e.g. xterm), "
			"or redirect the output for the text view", term);
		return -1;
	}
	del_curterm(cur_term);
	screen = newterm(NULL, stdout, stdin);
	if (!screen) {
		log_err("top: terminal type '%s' is unknown to terminfo; set TERM (e.g. xterm), "
			"or redirect the output for the text view", term);
		return -1;
	}
	cbreak();       /* Ctrl-C still raises SIGINT, which detaches */
	noecho();
	nonl();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	curs_set(0);    /* ERR on terminals without it: fine */
	return 0;
}

void topdraw_resize(void)
{
	struct winsize ws;

	if (!screen)
		return;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	invalid = true;
}

void topdraw_invalidate(void)
{
	invalid = true;
}

/* Draws text on row y, cut to the screen's width; whole rows take attr. */
static void line_at(int y, const char *text, attr_t attr)
{
	if (y >= LINES)
		return;
	move(y, 0);
	clrtoeol();
	if (attr)
		attron(attr);
	addnstr(text, -1);
	if (attr) {
		attroff(attr);
		mvchgat(y, 0, -1, attr, 0, NULL);
	}
}

void topdraw_frame(const struct top_info *in, const struct top_state *st,
		   const char *thread_name, const char *proc_name, const struct top_rows *rows,
		   const char *msg)
{
	/* Rows are cut one column short of the screen: a character in the
	 * last column of the last line would scroll some terminals. */
	int width = COLS > 1 ? COLS - 1 : 1;
	size_t len = (size_t)width * 4 + 1;   /* UTF-8: up to 4 bytes a column */
	char *buf;
	int y = 0;

	if (!screen)
		return;
	buf = malloc(len);
	if (!buf)
		return;
	if (invalid) {
		clearok(curscr, TRUE);
		invalid = false;
	}
	erase();
	if (msg) {
		line_at(y++, msg, A_BOLD);
	} else {
		top_format_header(buf, len, width, in);
		line_at(y++, buf, A_BOLD);
	}
	top_format_status(buf, len, width, st, thread_name, proc_name);
	line_at(y++, buf, 0);
	top_format_columns(buf, len, width);
	line_at(y++, buf, A_REVERSE);
	for (size_t i = 0; rows && i < rows->n && y < LINES; i++) {
		top_format_row(buf, len, width, &rows->v[i], rows->samples, rows->csamples);
		line_at(y++, buf, 0);
	}
	refresh();
	free(buf);
}

int topdraw_key(void)
{
	int ch;

	if (!screen)
		return -1;
	ch = getch();
	return ch == ERR ? -1 : ch;
}

void topdraw_close(void)
{
	if (!screen)
		return;
	endwin();
	delscreen(screen);
	screen = NULL;
}
