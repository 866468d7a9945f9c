/* topview.h: what sprofd top shows, apart from any terminal: the rows of
 * functions of two snapshots of one session (self and total samples in the
 * last interval and since the start, for all threads or one), their order,
 * the keys that change the view, and each line formatted into a width.
 * Pure: no I/O, no curses, no clock; cmd_top.c feeds it and topdraw.c and
 * the text mode print what it formats.
 *
 * A row's strings point into the profiles it was built from: free the rows
 * (top_rows_free) before those profiles. */
#ifndef SPROFD_TOPVIEW_H
#define SPROFD_TOPVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct profile;

enum top_sort { TOP_SORT_SELF, TOP_SORT_TOTAL, TOP_SORT_NAME };

/* How the rows are shown: changed by keys (top_key). */
struct top_state {
	enum top_sort sort;
	bool reverse;       /* smallest (or Z..A) first */
	bool cumulative;    /* sort by since-the-start shares, not the interval's */
	bool paused;        /* display frozen; sampling goes on */
	bool help;          /* the help line instead of the status line */
	pid_t tid;          /* show only this thread's samples; 0: all */
	pid_t pid;          /* show only this process's samples; 0: all */
};

/* One function: samples with it as the leaf (self) and anywhere on the
 * stack (total, once per sample), in the interval and since the start. */
struct top_row {
	const char *name, *file;   /* file: declaration's source, module or "" */
	int line;
	uint64_t self, total;      /* interval */
	uint64_t cself, ctotal;    /* since the start */
};

struct top_rows {
	struct top_row *v;
	size_t n;
	uint64_t samples;    /* in the interval (of the thread or process shown) */
	uint64_t csamples;   /* since the start (of the thread or process shown) */
};

/* Fills rows from the stack view of cur, with the interval counted from
 * prev (NULL: the interval is everything so far), for thread tid only (0:
 * every thread) of process pid only (0: every process). Functions are the
 * same across snapshots when their name, file and line are. Unsorted. */
void top_rows_build(struct top_rows *rows, const struct profile *prev,
		    const struct profile *cur, pid_t tid, pid_t pid);
/* Orders rows as st says: by the share chosen, largest first (reverse:
 * smallest first), ties by name; by name A..Z (reverse: Z..A). */
void top_rows_sort(struct top_rows *rows, const struct top_state *st);
void top_rows_free(struct top_rows *rows);

/* What a key does. */
enum top_action {
	TOP_KEY_NONE,     /* not a key of ours */
	TOP_KEY_REDRAW,   /* the view changed: draw again */
	TOP_KEY_QUIT,
};

/* Applies key ch (a character; Ctrl-C arrives as a signal instead) to st:
 * s t n sort by self, total, name; r reverse; c interval or cumulative;
 * p pause; T the next thread of tids[0..ntids) (after the last: all); P
 * the next process of pids[0..npids) (after the last: all), every thread
 * of it; a all threads and processes; h ? help; q Q quit. */
enum top_action top_key(struct top_state *st, int ch, const pid_t *tids, size_t ntids,
			const pid_t *pids, size_t npids);

/* The column headings and one row, cut to width columns (0: never cut;
 * a cut line ends in '>'); control characters in names show as '?'.
 * Shares are percentages of samples and csamples. Writes into buf (len >=
 * width + 1, or any with width 0: cut to len - 1 bytes); returns buf. */
char *top_format_columns(char *buf, size_t len, int width);
char *top_format_row(char *buf, size_t len, int width, const struct top_row *r,
		     uint64_t samples, uint64_t csamples);

/* What the header says about the session. */
struct top_info {
	pid_t pid;
	const char *comm;
	const char *python;   /* version, or "" / NULL */
	unsigned threads;
	unsigned processes;   /* shown when more than one */
	unsigned hz;
	const char *mode;     /* "cpu" or "wall" */
	uint64_t samples;     /* since the start, every thread */
	double interval;      /* seconds the last interval lasted */
	double own_cpu;       /* sprofd's CPU use over it, percent of one CPU */
};

/* The header line, and the status line (sort, process, thread, paused)
 * or with st->help the help line, each cut to width as above. thread_name
 * and proc_name name the thread and process shown (NULL: all; a process
 * is named only when the session has several). */
char *top_format_header(char *buf, size_t len, int width, const struct top_info *in);
char *top_format_status(char *buf, size_t len, int width, const struct top_state *st,
			const char *thread_name, const char *proc_name);

#endif
