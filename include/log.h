/* log.h: diagnostics for the user. One line per message, prefixed
 * "sprofd: " (and the subsystem where it helps), to stderr; or, in the
 * daemon, to syslog. */
#ifndef SPROFD_LOG_H
#define SPROFD_LOG_H

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends messages to syslog (facility daemon, ident "sprofd", with the
 * PID) instead of stderr. Calling it again, as a forked child must after
 * closing inherited descriptors, reconnects lazily. */
void log_use_syslog(void);
/* Also hands every message that passes the level to fn, from whatever
 * thread logs it (NULL: none). The daemon's workers use it to tell a
 * client why its request failed. */
void log_set_hook(void (*fn)(enum log_level lvl, const char *msg));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
