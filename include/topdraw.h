/* topdraw.h: sprofd top's full-screen view, through ncurses: owns the
 * curses screen from topdraw_open to topdraw_close, draws the lines that
 * topview formats, and reads keys. Plain text attributes only (bold,
 * reverse), no colours or line drawing, so that it works over ssh and in
 * tmux with any TERM that terminfo knows. Main thread only. */
#ifndef SPROFD_TOPDRAW_H
#define SPROFD_TOPDRAW_H

#include "topview.h"

/* Takes over the terminal on standard input and output: no echo, keys one
 * at a time without waiting. Returns 0, or -1 (logged) if the terminal
 * cannot be used (TERM unset or unknown). */
int topdraw_open(void);
/* Reads the terminal's size again (after SIGWINCH) and redraws all of the
 * screen at the next topdraw_frame. */
void topdraw_resize(void);
/* The next frame will rewrite every cell (something else wrote to the
 * terminal). */
void topdraw_invalidate(void);
/* Draws one frame: the header (or, before the first samples, msg), the
 * status or help line (see top_format_status), the column headings and as many rows as fit. rows
 * may be NULL. */
void topdraw_frame(const struct top_info *in, const struct top_state *st,
		   const char *thread_name, const char *proc_name, const struct top_rows *rows,
		   const char *msg);
/* The next key typed, or -1 if none is waiting. */
int topdraw_key(void);
/* Gives the terminal back as it was (may be called again, or unopened). */
void topdraw_close(void);

#endif
