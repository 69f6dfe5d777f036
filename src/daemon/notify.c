/*
 * notify.c - sd_notify(3) through libsystemd, when configure found it.
 */
#include "wsg_autoconf.h"

#include "notify.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

void
wsg_notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
    char msg[128];
    if (strcmp(state, "RELOADING=1") == 0) {
        /* systemd >= 253 wants the monotonic time with RELOADING. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
                 (unsigned long long)ts.tv_sec * 1000000ULL
                 + (unsigned long long)ts.tv_nsec / 1000);
        state = msg;
    }
    int rc = sd_notify(0, state);
    if (rc < 0)
        log_warn("sd_notify(%s): %s", state, strerror(-rc));
#else
    (void)state;
#endif
}
