/* output.c: formats, file names and writing (see output.h). */
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "profile.h"
#include "util.h"
#include "writer.h"

/* Formats that tools find by a name prefix rather than an extension. */
static const struct {
	const char *id, *prefix;
} prefixes[] = {
	{ "callgrind", "callgrind.out." },   /* KCachegrind's file dialog */
};

/* The prefix of w's file names, or NULL if it names them by extension. */
static const char *output_prefix(const struct writer *w)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strcmp(prefixes[i].id, w->id) == 0)
			return prefixes[i].prefix;
	return NULL;
}

/* The known format ids, "a, b or c", for messages. */
static char *output_known(void)
{
	char *s = xstrdup(""), *t;
	const struct writer *w;

	for (size_t i = 0; (w = writer_at(i)) != NULL; i++) {
		const char *sep = i == 0 ? "" : writer_at(i + 1) ? ", " : " or ";
		t = xasprintf("%s%s%s", s, sep, w->id);
		free(s);
		s = t;
	}
	return s;
}

int output_check_formats(const char *formats, char *err, size_t errlen)
{
	char *list = xstrdup(formats ? formats : "prof"), *save = NULL, *tok, *known;
	int rc = 0, n = 0;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
		if (!writer_find(tok)) {
			known = output_known();
			snprintf(err, errlen, "unknown format '%s'; the formats are %s", tok, known);
			free(known);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && n == 0) {
		known = output_known();
		snprintf(err, errlen, "no format given; the formats are %s", known);
		free(known);
		rc = -1;
	}
	free(list);
	return rc;
}

/* COMM.PID.TIME, with the command name made safe for a file name. */
static char *default_stem(const struct output_opts *o)
{
	char safe[64];
	size_t i;

	for (i = 0; o->comm && o->comm[i] && i < sizeof(safe) - 1; i++) {
		char c = o->comm[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		safe[i] = ok ? c : '_';
	}
	safe[i] = '\0';
	if (!safe[0] || safe[0] == '.')
		safe[0] = '_';
	return xasprintf("%s.%d.%llu", safe, (int)o->pid, (unsigned long long)o->start_time);
}

/* The first id of the format list. */
static char *first_format(const struct output_opts *o)
{
	const char *l = o->formats ? o->formats : "prof";
	size_t n = strcspn(l, ",");

	return n ? xasprintf("%.*s", (int)n, l) : xstrdup("prof");
}

char *output_path(const struct output_opts *o, const char *id)
{
	const struct writer *w = writer_find(id), *first;
	const char *slash, *base, *prefix, *fprefix;
	char *stem, *firstid, *path;
	size_t dirlen, blen, elen;

	if (!w)
		return NULL;
	prefix = output_prefix(w);
	if (!o->path) {
		stem = default_stem(o);
		path = prefix ? xasprintf("%s%s", prefix, stem) : xasprintf("%s%s", stem, w->ext);
		free(stem);
		return path;
	}
	firstid = first_format(o);
	first = writer_find(firstid);
	free(firstid);
	if (!first || first == w)
		return xstrdup(o->path);

	slash = strrchr(o->path, '/');
	dirlen = slash ? (size_t)(slash - o->path + 1) : 0;
	if (prefix) {
		stem = default_stem(o);
		path = xasprintf("%.*s%s%s", (int)dirlen, o->path, prefix, stem);
		free(stem);
		return path;
	}
	/* PATH less the first format's extension or prefix, plus ours. */
	base = o->path + dirlen;
	blen = strlen(base);
	elen = strlen(first->ext);
	fprefix = output_prefix(first);
	if (fprefix && strncmp(base, fprefix, strlen(fprefix)) == 0 && blen > strlen(fprefix))
		return xasprintf("%.*s%s%s", (int)dirlen, o->path, base + strlen(fprefix), w->ext);
	if (elen && blen > elen && strcmp(base + blen - elen, first->ext) == 0)
		return xasprintf("%.*s%s", (int)(dirlen + blen - elen), o->path, w->ext);
	return xasprintf("%s%s", o->path, w->ext);
}

/* Whether a write failed for a reason that every other file written to
 * the same directory would meet too: no space, a read-only file system,
 * no permission. */
static bool output_dir_error(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES || err == EPERM;
}

int output_write_all(const struct profile *p, const struct output_opts *o)
{
	char *list = xstrdup(o->formats ? o->formats : "prof"), *save = NULL, *tok;
	const struct writer *done[16];
	char *skipped = NULL;
	size_t ndone = 0;
	int rc = 0, dir_err = 0;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct writer *w = writer_find(tok);
		bool again = false;
		char *path;

		if (!w) {
			log_err("unknown format '%s'", tok);
			rc = -1;
			continue;
		}
		for (size_t i = 0; i < ndone; i++)
			again = again || done[i] == w;
		if (again || ndone == sizeof(done) / sizeof(done[0]))
			continue;
		done[ndone++] = w;
		path = output_path(o, w->id);
		if (dir_err) {
			/* One message says it all; the rest would repeat it. */
			char *t = xasprintf("%s%s%s", skipped ? skipped : "", skipped ? ", " : "",
					    path);
			free(skipped);
			skipped = t;
		} else if (writer_write_file(w, p, path) == 0) {
			log_info("wrote %s (%llu samples)", path, (unsigned long long)p->total);
		} else {
			rc = -1;
			if (output_dir_error(errno))
				dir_err = errno;
		}
		free(path);
	}
	if (skipped)
		log_info("not written either, for the same reason: %s", skipped);
	free(skipped);
	free(list);
	if (dir_err)
		errno = dir_err;
	return rc;
}
