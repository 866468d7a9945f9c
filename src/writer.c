/* writer.c: the table of output formats and the atomic file write that
 * every format shares (see writer.h). */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "profile.h"
#include "util.h"

static const struct writer *const writers[] = {
	&writer_prof,
};

const struct writer *writer_find(const char *id)
{
	for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++)
		if (strcmp(writers[i]->id, id) == 0)
			return writers[i];
	return NULL;
}

/* Creates a fresh hidden file next to path (same directory, so the rename
 * cannot cross file systems) and returns its descriptor, setting *tmp to
 * its name; -1 with errno set on failure. */
static int writer_open_temp(const char *path, char **tmp)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	static unsigned counter;
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	const char *base = path + dirlen;

	for (int tries = 0; tries < 100; tries++) {
		uint64_t r = hash_u64(mono_ns() ^ ((uint64_t)getpid() << 32) ^ ++counter);
		char suffix[9];
		int fd, err;

		for (int i = 0; i < 8; i++, r /= 36)
			suffix[i] = alnum[r % 36];
		suffix[8] = '\0';
		/* Part of the base name is enough to tell whose file it is,
		 * and keeps the name under NAME_MAX. */
		*tmp = xasprintf("%.*s.%.200s.%s", dirlen, path, base, suffix);
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

int writer_write_file(const struct writer *w, const struct profile *p, const char *path)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd, err;

	if (p->total == 0) {
		log_err("not writing %s: no samples were taken", path);
		errno = ENODATA;
		return -1;
	}
	if ((fd = writer_open_temp(path, &tmp)) == -1)
		goto fail;
	if ((f = fdopen(fd, "w")) == NULL) {
		err = errno;
		close(fd);
		errno = err;
		goto fail;
	}
	errno = 0;
	if (w->write(p, f) == -1)
		goto fail;
	if (fflush(f) == EOF || ferror(f)) {
		if (errno == 0)
			errno = EIO;
		goto fail;
	}
	if (fsync(fileno(f)) == -1)
		goto fail;
	err = fclose(f);
	f = NULL;
	if (err == EOF || rename(tmp, path) == -1)
		goto fail;
	writer_sync_dir(path);
	free(tmp);
	return 0;

fail:
	err = errno;
	if (f)
		fclose(f);
	if (tmp)
		unlink(tmp);
	free(tmp);
	log_err("cannot write %s: %s", path, strerror(err));
	errno = err;
	return -1;
}
