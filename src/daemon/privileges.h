/*
 * privileges.h - run unprivileged once the listeners are bound.
 */
#ifndef WSG_DAEMON_PRIVILEGES_H
#define WSG_DAEMON_PRIVILEGES_H

#include <stddef.h>

#include "config.h"

/* Switch to the configured user and group (setgroups, setgid, setuid, in
 * that order, and check that root cannot be regained).  No user or group
 * configured: nothing to do.  Returns 0, or -1 with a message in err. */
int wsg_drop_privileges(const struct wsg_config *cfg, char *err, size_t errlen);

#endif
