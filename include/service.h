/* service.h: what any Unix service does to start, apart from what the
 * sprofd daemon does once started: going into the background so that the
 * starting command's exit status says whether the service came up, the
 * locked pidfile, and the state reports systemd asks for (Type=notify).
 * Owns no state: the caller keeps the descriptors these hand out. */
#ifndef SPROFD_SERVICE_H
#define SPROFD_SERVICE_H

/* Tells systemd the service's state ("READY=1", "STOPPING=1", ...) if it
 * asked ($NOTIFY_SOCKET); else does nothing. */
void service_notify(const char *state);
/* Forks into the background (a new session, a grandchild): the calling
 * process exits only once the service writes a byte to the descriptor
 * returned here (exit 0), or closes it without one (exit EXIT_INTERNAL).
 * Returns that descriptor, in the service, or -1 (logged). */
int service_detach(void);
/* Writes our PID into path, locked, so that a second service with the
 * same pidfile refuses to start. Returns its descriptor (keep it open), or
 * -1 (logged). */
int service_pidfile(const char *path);

#endif
