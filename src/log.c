/* log.c: one-line diagnostics on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level cur_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > cur_level)
		return;
	va_start(ap, fmt);
	flockfile(stderr);
	fputs(lvl == LOG_LVL_WARN ? "sprofd: warning: " : "sprofd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
	va_end(ap);
}
