/* writer.c: the table of output formats, the atomic file write that every
 * format shares, and the helpers of stack-shaped formats (see writer.h). */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "output.h"
#include "profile.h"
#include "util.h"

static const struct writer *const writers[] = {
	&writer_prof, &writer_pprof, &writer_collapsed, &writer_callgrind, &writer_svg,
	&writer_icicle,
};

#define NWRITERS (sizeof(writers) / sizeof(writers[0]))

const struct writer *writer_find(const char *id)
{
	for (size_t i = 0; i < NWRITERS; i++)
		if (strcmp(writers[i]->id, id) == 0)
			return writers[i];
	return NULL;
}

const struct writer *writer_at(size_t n)
{
	return n < NWRITERS ? writers[n] : NULL;
}

/* Creates a fresh hidden file next to path (same directory, so the rename
 * cannot cross file systems), named as output.c names temporary files,
 * and returns its descriptor, setting *tmp to its name; -1 with errno set
 * on failure. */
static int writer_open_temp(const char *path, char **tmp)
{
	static unsigned counter;

	for (int tries = 0; tries < 100; tries++) {
		uint64_t r = hash_u64(mono_ns() ^ ((uint64_t)getpid() << 32) ^ ++counter);
		int fd, err;

		*tmp = output_temp_name(path, r);
		fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd != -1)
			return fd;
		err = errno;
		free(*tmp);
		*tmp = NULL;
		if (err != EEXIST) {
			errno = err;
			return -1;
		}
	}
	errno = EEXIST;
	return -1;
}

/* Makes the rename itself durable; a failure here loses nothing already
 * written, so it is not reported. */
static void writer_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xasprintf("%.*s", (int)(slash - path + 1), path) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* What to do about a failure to write into path's directory, as a clause
 * for the message ("" when errno says nothing about the directory). */
static const char *writer_advice(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return "; free some space on that file system, or write elsewhere";
	case EROFS:
		return "; the file system is mounted read-only: remount it read-write, or write "
		       "elsewhere";
	case EACCES:
	case EPERM:
		return "; writing there needs write and search permission on its directory";
	default:
		return "";
	}
}

/* Whether path names a device or a pipe (-o /dev/null, -o /dev/stdout):
 * written in place, since renaming a file over it would replace the
 * device node itself, and a stream has nothing to make atomic. */
static bool writer_is_stream(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode));
}

/* Adapts a writer to writer_write_with. */
static int writer_call(void *ctx, FILE *f)
{
	const struct writer *w = ((const void *const *)ctx)[0];
	const struct profile *p = ((const void *const *)ctx)[1];

	return w->write(p, f);
}

int writer_write_file(const struct writer *w, const struct profile *p, const char *path)
{
	const void *ctx[2] = { w, p };

	if (p->total == 0) {
		log_err("not writing %s: no samples were taken", path);
		errno = ENODATA;
		return -1;
	}
	return writer_write_with(path, writer_call, (void *)ctx);
}

int writer_write_with(const char *path, int (*write)(void *ctx, FILE *f), void *ctx)
{
	char *tmp = NULL;
	FILE *f = NULL;
	bool stream;
	int fd, err;

	stream = writer_is_stream(path);
	fd = stream ? open(path, O_WRONLY | O_CLOEXEC) : writer_open_temp(path, &tmp);
	if (fd == -1)
		goto fail;
	if ((f = fdopen(fd, "w")) == NULL) {
		err = errno;
		close(fd);
		errno = err;
		goto fail;
	}
	errno = 0;
	if (write(ctx, f) == -1)
		goto fail;
	if (fflush(f) == EOF || ferror(f)) {
		if (errno == 0)
			errno = EIO;
		goto fail;
	}
	if (!stream && fsync(fileno(f)) == -1)
		goto fail;
	err = fclose(f);
	f = NULL;
	if (err == EOF || (!stream && rename(tmp, path) == -1))
		goto fail;
	if (!stream)
		writer_sync_dir(path);
	free(tmp);
	return 0;

fail:
	/* A writer that failed without saying why still failed. */
	err = errno ? errno : EIO;
	if (f)
		fclose(f);
	if (tmp)
		unlink(tmp);
	free(tmp);
	{
		/* A relative name is relative to a directory the reader of a
		 * daemon's log cannot know: name it in full. */
		char *cwd = path[0] != '/' ? getcwd(NULL, 0) : NULL;

		log_err("cannot write %s%s%s: %s%s", cwd ? cwd : "",
			cwd && strcmp(cwd, "/") != 0 ? "/" : "", path, strerror(err),
			writer_advice(err));
		free(cwd);
	}
	errno = err;
	return -1;
}

/* ---- helpers for writers ---- */

size_t writer_max_frames(const struct profile *p)
{
	size_t most = 0;

	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *s = &p->stacks[i];
		size_t n = 0;

		for (uint32_t j = 0; j < s->n; j++)
			n += p->locs[p->stack_locs[s->loc + j]].nframes;
		if (n > most)
			most = n;
	}
	return most;
}

size_t writer_stack_frames(const struct profile *p, const struct pstack *s,
			   const struct pframe **out)
{
	size_t n = 0;

	/* Locations are leaf first and their frames innermost first: both
	 * backwards. */
	for (uint32_t j = s->n; j-- > 0;) {
		const struct ploc *l = &p->locs[p->stack_locs[s->loc + j]];

		for (uint32_t k = l->nframes; k-- > 0;)
			out[n++] = &p->frames[l->frame + k];
	}
	return n;
}

const char *writer_frame_label(const struct profile *p, const struct pframe *fr, char *buf,
			       size_t len)
{
	const struct pfn *fn = &p->fns[fr->fn];
	const char *base;

	if (!p->opts.lines || fr->line <= 0)
		return fn->name;
	base = strrchr(fn->file, '/');
	base = base ? base + 1 : fn->file;
	snprintf(buf, len, "%s (%s:%d)", fn->name, base, fr->line);
	return buf;
}

void frame_labels_init(struct frame_labels *fl, const struct profile *p)
{
	struct u64map *ids = u64map_new();   /* interned text -> label */
	size_t cap = 0;
	char buf[512];

	memset(fl, 0, sizeof(*fl));
	fl->strs = strtab_new();
	fl->of_frame = xmalloc((p->nframes + 1) * sizeof(*fl->of_frame));
	for (size_t i = 0; i < p->nframes; i++) {
		const char *t = strtab_intern(fl->strs,
					      writer_frame_label(p, &p->frames[i], buf, sizeof(buf)));
		uint64_t id;

		if (!u64map_get(ids, (uint64_t)(uintptr_t)t, &id)) {
			id = fl->n;
			size_t old = cap;

			xgrow((void **)&fl->text, &cap, fl->n + 1, sizeof(*fl->text));
			if (cap != old)
				fl->fn = xrealloc(fl->fn, cap * sizeof(*fl->fn));
			fl->fn[fl->n] = p->frames[i].fn;
			fl->text[fl->n++] = t;
			u64map_put(ids, (uint64_t)(uintptr_t)t, id);
		}
		fl->of_frame[i] = (uint32_t)id;
	}
	u64map_free(ids);
}

void frame_labels_fini(struct frame_labels *fl)
{
	free(fl->of_frame);
	free(fl->text);
	free(fl->fn);
	strtab_free(fl->strs);
}

size_t writer_stack_labels(const struct profile *p, const struct frame_labels *fl,
			   const struct pstack *s, uint32_t *out)
{
	size_t n = 0;

	for (uint32_t j = s->n; j-- > 0;) {
		const struct ploc *l = &p->locs[p->stack_locs[s->loc + j]];

		for (uint32_t k = l->nframes; k-- > 0;)
			out[n++] = fl->of_frame[l->frame + k];
	}
	return n;
}

const char *writer_utf8(struct strtab *t, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n = strlen(str), len, out;
	const char *r;
	char *buf;

	while (i < n && (len = utf8_seq(s + i, NULL)) > 0)
		i += len;
	if (i == n)
		return str;
	buf = xmalloc(3 * n + 1);
	out = utf8_repair(str, n, buf);
	r = strtab_intern_n(t, buf, out);
	free(buf);
	return r;
}

struct strids {
	const char **strs;
	uint64_t *hashes;
	size_t n, cap;
	uint32_t *slots;        /* index + 1; 0 = empty */
	size_t nslots;
};

struct strids *strids_new(void)
{
	struct strids *x = xcalloc(1, sizeof(*x));

	x->nslots = 256;
	x->slots = xcalloc(x->nslots, sizeof(*x->slots));
	return x;
}

/* Doubles the slots, reusing the stored hashes. */
static void strids_grow(struct strids *x)
{
	size_t ns = x->nslots * 2, mask = ns - 1;
	uint32_t *slots = xcalloc(ns, sizeof(*slots));

	for (size_t k = 0; k < x->n; k++) {
		size_t i = x->hashes[k] & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)(k + 1);
	}
	free(x->slots);
	x->slots = slots;
	x->nslots = ns;
}

uint32_t strids_get(struct strids *x, const char *s, bool *added)
{
	uint64_t h = hash_bytes(s, strlen(s), 0);
	size_t mask = x->nslots - 1, i;

	for (i = h & mask; x->slots[i]; i = (i + 1) & mask) {
		uint32_t k = x->slots[i] - 1;
		if (x->hashes[k] == h && (x->strs[k] == s || strcmp(x->strs[k], s) == 0)) {
			if (added)
				*added = false;
			return k;
		}
	}
	if (x->n == x->cap) {
		xgrow((void **)&x->strs, &x->cap, x->n + 1, sizeof(*x->strs));
		x->hashes = xrealloc(x->hashes, x->cap * sizeof(*x->hashes));
	}
	x->strs[x->n] = s;
	x->hashes[x->n] = h;
	x->slots[i] = (uint32_t)(x->n + 1);
	x->n++;
	if (x->n * 2 > x->nslots)
		strids_grow(x);
	if (added)
		*added = true;
	return (uint32_t)(x->n - 1);
}

size_t strids_count(const struct strids *x)
{
	return x->n;
}

const char *strids_at(const struct strids *x, uint32_t i)
{
	return x->strs[i];
}

void strids_free(struct strids *x)
{
	if (!x)
		return;
	free(x->strs);
	free(x->hashes);
	free(x->slots);
	free(x);
}
