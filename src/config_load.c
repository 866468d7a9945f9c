/* config_load.c: config_load (see config.h): reads sprofd.conf from disk
 * and decides whether to trust it, and then the places it names. Whoever
 * can write the file, or any directory on the way to it or to the output
 * directories, control socket and pidfile it names, decides what root
 * profiles and where it writes and deletes files. The text itself is
 * config.c's. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define MAX_CONFIG_BYTES (1 << 20)

/* Whether a directory can be trusted with what sprofd keeps in it: it
 * belongs to root or to us, and no one else may write in it, unless the
 * sticky bit keeps them from removing or renaming what is not theirs (as
 * in /tmp); a group may write only if it is root's. Says why not in why. */
static bool dir_trusted(const char *dir, const struct stat *st, char *why, size_t len)
{
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (st->st_uid != 0 && st->st_uid != geteuid())
		snprintf(why, len, "the directory %s belongs to uid %u, not to root", dir,
			 (unsigned)st->st_uid);
	else if (st->st_mode & S_ISVTX)
		return true;
	else if (st->st_mode & S_IWOTH)
		snprintf(why, len, "the directory %s is writable by others (mode %04o) and not "
			 "sticky; run: chmod o-w %s", dir, mode, dir);
	else if ((st->st_mode & S_IWGRP) && st->st_gid != 0)
		snprintf(why, len, "the directory %s is writable by group %u (mode %04o); run: "
			 "chmod g-w %s", dir, (unsigned)st->st_gid, mode, dir);
	else
		return true;
	return false;
}

/* Checks each existing directory on the way to path (path itself too when
 * self is set): "/", "/a", "/a/b"... as written, and again as resolved,
 * since a symbolic link leads through other directories. Whoever can
 * change one of them can change what sprofd finds below it. Returns 0, or
 * -1 with a reason in why. */
static int path_trusted(const char *path, bool self, char *why, size_t len)
{
	char *abs, *real = NULL;
	bool real_self = self;
	int rc = 0;

	if (path[0] == '/') {
		abs = xstrdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);
		abs = xasprintf("%s/%s", cwd ? cwd : ".", path);
		free(cwd);
	}
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		char *p = pass == 0 ? abs : real;
		size_t end = strlen(p);
		struct stat st;

		while (end > 1 && p[end - 1] == '/')
			end--;
		if (!(pass == 0 ? self : real_self)) {
			/* Up to the last '/': the directory holding it. */
			while (end > 0 && p[end - 1] != '/')
				end--;
			if (end > 1)
				end--;
		}
		if (stat("/", &st) == 0 && !dir_trusted("/", &st, why, len))
			rc = -1;
		/* Each prefix that ends before a '/' (or at end). */
		for (size_t i = 1; i <= end && rc == 0; i++) {
			char c;

			if ((i < end && p[i] != '/') || p[i - 1] == '/')
				continue;
			c = p[i];
			p[i] = '\0';
			if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && !dir_trusted(p, &st, why, len))
				rc = -1;
			p[i] = c;
		}
		if (pass == 0) {
			/* The deepest part that exists, resolved. */
			char *t = xstrdup(abs);
			while (!(real = realpath(t, NULL)) && strrchr(t, '/') && strrchr(t, '/') != t) {
				*strrchr(t, '/') = '\0';
				real_self = true;   /* a directory on the way */
			}
			free(t);
			if (!real)
				break;
		}
	}
	free(real);
	free(abs);
	return rc;
}

/* Checks the directories of the files and directories a configuration
 * names: a configuration is only as safe as the places it points to.
 * Logs each problem as FILE: reason; returns how many. */
static int config_check_paths(const struct config *c)
{
	char why[512];
	int errors = 0;

	for (size_t i = 0; i < c->ntargets; i++) {
		if (path_trusted(c->targets[i].output_dir, false, why, sizeof(why)) < 0) {
			log_err("%s:%d: target '%s': OutputDir %s: %s", c->path, c->targets[i].line,
				c->targets[i].name, c->targets[i].output_dir, why);
			errors++;
		}
	}
	if (c->control_socket && path_trusted(c->control_socket, false, why, sizeof(why)) < 0) {
		log_err("%s: ControlSocket %s: %s", c->path, c->control_socket, why);
		errors++;
	}
	if (path_trusted(c->pidfile, false, why, sizeof(why)) < 0) {
		log_err("%s: PidFile %s: %s", c->path, c->pidfile, why);
		errors++;
	}
	return errors;
}

struct config *config_load(const char *path)
{
	struct config *c = NULL;
	struct stat st;
	char *text = NULL, why[512];
	size_t len = 0;
	ssize_t n;
	int fd;

	/* Non-blocking, so that a FIFO named by mistake cannot hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		log_err("%s: cannot open the configuration: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("%s: not a regular file", path);
		goto out;
	}
	/* Whoever can write the file, or replace it, decides what root
	 * profiles and where it writes and deletes files. */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_err("%s: owned by uid %u; it must belong to root (or to the user running "
			"sprofd)", path, (unsigned)st.st_uid);
		goto out;
	}
	if (st.st_mode & S_IWOTH) {
		log_err("%s: writable by group or others (mode %04o); run: chmod go-w %s", path,
			(unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	/* Root's group is root's to trust. */
	if ((st.st_mode & S_IWGRP) && st.st_gid != 0) {
		log_err("%s: writable by group or others (mode %04o, group %u); run: chmod g-w %s",
			path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_gid, path);
		goto out;
	}
	if (path_trusted(path, false, why, sizeof(why)) < 0) {
		log_err("%s: %s", path, why);
		goto out;
	}
	if (st.st_size > MAX_CONFIG_BYTES) {
		log_err("%s: larger than %d bytes", path, MAX_CONFIG_BYTES);
		goto out;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size &&
	       (n = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	c = config_parse(path, text, len);
	if (c && config_check_paths(c) > 0) {
		config_free(c);
		c = NULL;
	}
out:
	free(text);
	close(fd);
	return c;
}
