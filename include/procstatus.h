/* procstatus.h: the numeric fields of /proc/PID/status, such as
 * "TracerPid:\t0", "Uid:\t1000\t1000\t1000\t1000" or "NSpid:\t4242\t7":
 * one line per field, its name and a colon at the start of the line, then
 * values separated by blanks. The parser works on the file's text alone,
 * so what a process may put in its status (its name, say) cannot make it
 * read past the text or take one field for another. */
#ifndef SPROFD_PROCSTATUS_H
#define SPROFD_PROCSTATUS_H

#include <stddef.h>
#include <sys/types.h>

/* Reads the values of field key (its name, with or without the colon) from
 * status text of len bytes (need not be NUL-terminated) into vals, at most
 * max of them. Values are whole decimal numbers up to LONG_MAX; the first
 * word that is not one ends the list. Returns how many were read (0 for a
 * field without numbers), or -1 if no line holds the field. */
int proc_status_field(const char *text, size_t len, const char *key, long *vals, size_t max);
/* The same for /proc/PID/status; -1 also if it cannot be read. */
int proc_status_read(pid_t pid, const char *key, long *vals, size_t max);

#endif
