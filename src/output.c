/* output.c: formats, file names (made and read back) and writing (see
 * output.h). */
#include "output.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "profile.h"
#include "split.h"
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

char *output_endpoint_path(const char *path, const char *id, const char *slug)
{
	const struct writer *w = writer_find(id);
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	size_t blen = strlen(base), elen = w ? strlen(w->ext) : 0;

	if (!w)
		return NULL;
	if (!output_prefix(w) && elen && blen > elen && strcmp(base + blen - elen, w->ext) == 0)
		return xasprintf("%.*s.%s%s", (int)(strlen(path) - elen), path, slug, w->ext);
	return xasprintf("%s.%s%s", path, slug, output_prefix(w) ? "" : w->ext);
}

char *output_temp_name(const char *path, uint64_t r)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	char suffix[OUTPUT_TEMP_RANDOM + 1];

	for (int i = 0; i < OUTPUT_TEMP_RANDOM; i++, r /= 36)
		suffix[i] = alnum[r % 36];
	suffix[OUTPUT_TEMP_RANDOM] = '\0';
	/* Part of the base name is enough to tell whose file it is, and keeps
	 * the name under NAME_MAX. */
	return xasprintf("%.*s.%.200s.%s", dirlen, path, path + dirlen, suffix);
}

/* Whether s is all digits, at least min of them. */
static bool all_digits(const char *s, size_t n, size_t min)
{
	if (n < min)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Whether s is lower-case letters and digits only, exactly n of them: the
 * random part of a temporary name. */
static bool temp_suffix(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s))
			return false;
	return true;
}

/* The length of name without the extension of one of the formats, or 0
 * if it has none; the longest extension wins (.icicle.svg over .svg).
 * callgrind files have none: they carry a prefix instead. */
static size_t strip_ext(const char *name, size_t len)
{
	size_t best = 0;
	bool found = false;
	const struct writer *w;

	for (size_t i = 0; (w = writer_at(i)) != NULL; i++) {
		size_t elen = strlen(w->ext);

		if (elen == 0 || elen >= len || strcmp(name + len - elen, w->ext) != 0)
			continue;
		if (!found || elen > best)
			best = elen;
		found = true;
	}
	return found ? len - best : 0;
}

bool output_parse_name(const char *name, uint32_t *pid, uint64_t *time, bool *temp)
{
	char buf[256], *dot, *tdot;
	size_t len;

	*temp = name[0] == '.';
	if (strlen(name) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", name + (*temp ? 1 : 0));
	/* A temporary file is ".NAME.RANDOM" (output_temp_name). */
	if (*temp) {
		dot = strrchr(buf, '.');
		if (!dot || !temp_suffix(dot + 1, OUTPUT_TEMP_RANDOM))
			return false;
		*dot = '\0';
	}
	/* NAME is COMM.PID.TIME plus a format's extension, or a format's
	 * prefix plus COMM.PID.TIME; nothing else is sprofd's. */
	len = strlen(buf);
	if ((len = strip_ext(buf, len)) > 0) {
		buf[len] = '\0';
	} else {
		const char *prefix = NULL;

		for (size_t i = 0; !prefix && i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
			if (strncmp(buf, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0)
				prefix = prefixes[i].prefix;
		if (!prefix)
			return false;
		memmove(buf, buf + strlen(prefix), strlen(buf) - strlen(prefix) + 1);
	}
	/* COMM (not empty, may hold dots) . PID (1-10 digits) . TIME (9-12),
	 * then for an endpoint's file (--split) . ENDPOINT. The first such
	 * PID.TIME from the left: a command name is at most 15 bytes, an
	 * endpoint's name may hold anything. */
	for (dot = strchr(buf + 1, '.'); dot; dot = strchr(dot + 1, '.')) {
		size_t plen, tlen;

		tdot = strchr(dot + 1, '.');
		if (!tdot)
			break;
		plen = (size_t)(tdot - dot - 1);
		tlen = strcspn(tdot + 1, ".");
		if (!all_digits(dot + 1, plen, 1) || plen > 10 || !all_digits(tdot + 1, tlen, 9) ||
		    tlen > 12 || (tdot[1 + tlen] == '.' && !tdot[2 + tlen]))
			continue;
		*pid = (uint32_t)strtoul(dot + 1, NULL, 10);
		*time = strtoull(tdot + 1, NULL, 10);
		return true;
	}
	return false;
}

/* Whether a write failed for a reason that every other file written to
 * the same directory would meet too: no space, a read-only file system,
 * no permission. */
static bool output_dir_error(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES || err == EPERM;
}

/* Writes the profile of each endpoint of a split profile beside path, the
 * file of all samples in format w. Returns 0, or -1 with errno set. */
static int output_endpoints(const struct profile *p, const struct writer *w, const char *path)
{
	const struct psplit *s = p->split;
	struct stat st;
	int rc = 0, err = 0;

	if (!s)
		return 0;
	/* -o /dev/null or a pipe: nothing to put beside it. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return 0;
	for (size_t i = 1; i < s->n; i++) {
		char *epath;

		if (!s->eps[i].prof)
			continue;
		epath = output_endpoint_path(path, w->id, s->eps[i].slug);
		if (writer_write_file(w, s->eps[i].prof, epath) == 0) {
			log_info("wrote %s (%llu samples)", epath,
				 (unsigned long long)s->eps[i].prof->total);
		} else {
			rc = -1;
			err = errno;
		}
		free(epath);
	}
	errno = err;
	return rc;
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
			if (output_endpoints(p, w, path) < 0) {
				rc = -1;
				if (output_dir_error(errno))
					dir_err = errno;
			}
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
