/* output.h: everything a finished profile turns into on disk: which formats
 * (-f), what each file is called, and writing them all.
 *
 * Names: without -o, format F goes to COMM.PID.TIME + F's extension in the
 * current directory (callgrind: callgrind.out.COMM.PID.TIME, the name
 * KCachegrind looks for). With -o PATH, the first format of the list goes
 * to PATH exactly; each other format to PATH with the first format's
 * extension (or callgrind.out. prefix) replaced by its own, except
 * callgrind, which goes to callgrind.out.COMM.PID.TIME beside PATH. */
#ifndef SPROFD_OUTPUT_H
#define SPROFD_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

struct profile;

struct output_opts {
	const char *formats;   /* comma-separated ids; NULL = "prof" */
	const char *path;      /* -o: the path of the first format, or NULL */
	const char *comm;      /* for default names */
	pid_t pid;
	uint64_t start_time;   /* unix seconds, for default names */
};

/* Checks a -f list. Returns 0, or -1 and a one-line reason in err. */
int output_check_formats(const char *formats, char *err, size_t errlen);
/* The path that format id is written to (see above); malloc'd. */
char *output_path(const struct output_opts *o, const char *id);
/* Writes every requested format (each once, in the order given). Logs
 * "wrote PATH (N samples)" lines (info level) and one line per failure,
 * and goes on with the next format after one fails. Returns 0 if all were
 * written, else -1. */
int output_write_all(const struct profile *p, const struct output_opts *o);

#endif
