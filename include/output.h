/* output.h: everything a finished profile turns into on disk: which formats
 * (-f), what each file is called, and writing them all. */
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
/* Writes every requested format. Logs "wrote PATH" lines (info level) and
 * one line per failure. Returns 0 if all were written, else -1. */
int output_write_all(const struct profile *p, const struct output_opts *o);

#endif
