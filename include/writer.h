/* writer.h: output formats. Each format is one module with one descriptor;
 * a writer reads a finished profile and never reaches back into sampling.
 * Files are written atomically: a temporary file in the target directory,
 * fsync, then rename, so no reader ever sees half a file. */
#ifndef SPROFD_WRITER_H
#define SPROFD_WRITER_H

#include <stdio.h>

struct profile;

struct writer {
	const char *id;    /* "prof" */
	const char *ext;   /* ".prof" */
	/* Writes the profile to f. Returns 0, or -1 with errno set. */
	int (*write)(const struct profile *p, FILE *f);
};

const struct writer *writer_find(const char *id);

/* Writes p to path through w atomically. Returns 0, or -1 after logging a
 * message that names the path and the cause. */
int writer_write_file(const struct writer *w, const struct profile *p, const char *path);

extern const struct writer writer_prof;

#endif
