/* output.h: everything a finished profile turns into on disk: which formats
 * (-f), what each file is called, and writing them all.
 *
 * Names: without -o, format F goes to COMM.PID.TIME + F's extension in the
 * current directory (callgrind: callgrind.out.COMM.PID.TIME, the name
 * KCachegrind looks for). With -o PATH, the first format of the list goes
 * to PATH exactly; each other format to PATH with the first format's
 * extension (or callgrind.out. prefix) replaced by its own, except
 * callgrind, which goes to callgrind.out.COMM.PID.TIME beside PATH.
 *
 * Every file is written under a temporary name first, ".NAME.RANDOM" in
 * the same directory, then renamed (writer.c). This module makes those
 * names and reads them back, with the default names, for the daemon's
 * retention (schedule.c): no other module spells a name.
 *
 * A split profile (--split) also writes each endpoint's profile beside each
 * file (output_endpoint_path); their names carry the same PID and TIME, so
 * retention keeps or removes them with the profile of all samples. */
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
/* The path of an endpoint's file (--split) in format id, beside path, the
 * file of all samples: SLUG goes before the format's extension
 * (shop.prof -> shop.SLUG.prof), or at the end for formats named by a
 * prefix (callgrind.out.COMM.PID.TIME.SLUG); malloc'd. */
char *output_endpoint_path(const char *path, const char *id, const char *slug);
/* The length of the random part of a temporary name. */
#define OUTPUT_TEMP_RANDOM 8
/* The temporary name for path: ".BASE.RANDOM" in path's directory, BASE
 * its base name (cut to 200 bytes), RANDOM OUTPUT_TEMP_RANDOM lower-case
 * letters and digits drawn from r. malloc'd. */
char *output_temp_name(const char *path, uint64_t r);
/* Whether name is one output_path gives by default (COMM.PID.TIME.EXT or
 * PREFIX.COMM.PID.TIME, or an endpoint's: COMM.PID.TIME.SLUG.EXT,
 * PREFIX.COMM.PID.TIME.SLUG), or the temporary name of one (*temp set), and if
 * so which profile: all the files of one profile, one per format, have the
 * same pid and time. */
bool output_parse_name(const char *name, uint32_t *pid, uint64_t *time, bool *temp);
/* Writes every requested format (each once, in the order given). Logs
 * "wrote PATH (N samples)" lines (info level) and one line per failure,
 * and goes on with the next format after one fails. Returns 0 if all were
 * written, else -1. */
int output_write_all(const struct profile *p, const struct output_opts *o);

#endif
