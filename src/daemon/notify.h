/*
 * notify.h - tell systemd (Type=notify) where the daemon is: READY=1 once
 * listening, RELOADING=1 ... READY=1 around a reload, STOPPING=1.  A no-op
 * outside systemd or when built without libsystemd.
 */
#ifndef WSG_DAEMON_NOTIFY_H
#define WSG_DAEMON_NOTIFY_H

void wsg_notify(const char *state);

#endif
