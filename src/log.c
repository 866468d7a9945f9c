/* log.c: one-line diagnostics on stderr or syslog (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

static enum log_level cur_level = LOG_LVL_INFO;
static bool to_syslog;
static void (*hook)(enum log_level lvl, const char *msg);

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_use_syslog(void)
{
	/* No LOG_NDELAY: the socket is opened at the first message, so a
	 * child that closed its inherited descriptors gets a fresh one. */
	closelog();
	openlog("sprofd", LOG_PID, LOG_DAEMON);
	to_syslog = true;
}

void log_set_hook(void (*fn)(enum log_level lvl, const char *msg))
{
	hook = fn;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char buf[2048];
	va_list ap;

	if (lvl > cur_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (to_syslog) {
		syslog(prio[lvl], "%s", buf);
	} else {
		flockfile(stderr);
		fputs(lvl == LOG_LVL_WARN ? "sprofd: warning: " : "sprofd: ", stderr);
		fputs(buf, stderr);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
	if (hook)
		hook(lvl, buf);
}
