/* output.c: formats, file names and writing (see output.h). */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "profile.h"
#include "util.h"
#include "writer.h"

int output_check_formats(const char *formats, char *err, size_t errlen)
{
	char *list = xstrdup(formats ? formats : "prof"), *save = NULL, *tok;
	int rc = 0;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!writer_find(tok)) {
			snprintf(err, errlen, "unknown format '%s'; known formats: prof", tok);
			rc = -1;
			break;
		}
	}
	free(list);
	return rc;
}

/* COMM.PID.TIME.prof, with the command name made safe for a file name. */
static char *default_path(const struct output_opts *o, const char *ext)
{
	char safe[64];
	size_t i;

	for (i = 0; o->comm[i] && i < sizeof(safe) - 1; i++) {
		char c = o->comm[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		safe[i] = ok ? c : '_';
	}
	safe[i] = '\0';
	if (!safe[0] || safe[0] == '.')
		safe[0] = '_';
	return xasprintf("%s.%d.%llu%s", safe, (int)o->pid, (unsigned long long)o->start_time, ext);
}

int output_write_all(const struct profile *p, const struct output_opts *o)
{
	const struct writer *w = writer_find("prof");
	char *path = o->path ? xstrdup(o->path) : default_path(o, w->ext);
	int rc = writer_write_file(w, p, path);

	if (rc == 0)
		log_info("wrote %s (%llu samples)", path, (unsigned long long)p->total);
	free(path);
	return rc;
}
