/*
 * admission.h - the connection limits every worker enforces together:
 * max_connections (the daemon's and each endpoint path's),
 * max_connections_per_ip and connections_per_second_per_ip.
 *
 * One table for the process, under a lock: with workers = N the kernel
 * spreads one client's connections over the workers, and a limit an
 * operator sets for the daemon must hold for the daemon, not per worker.
 * It is taken once per handshake and once per closed connection only.
 */
#ifndef WSG_DAEMON_ADMISSION_H
#define WSG_DAEMON_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "ipcount.h"

struct wsg_admission;
struct wsg_limits;

/* The address table sized for about max_tracked addresses; registers
 * wsgate_tracked_addresses.  NULL when out of memory. */
struct wsg_admission *wsg_admission_new(size_t max_tracked);
void wsg_admission_free(struct wsg_admission *a);

/* Count one more connection to the endpoint at path (path_max: its own
 * max_connections, 0 for none) from addr if lim (the daemon's limits)
 * allows it now.  WSG_ADMIT_RATE sets *retry_ms. */
enum wsg_admit wsg_admission_enter(struct wsg_admission *a, const struct wsg_limits *lim,
                                   const char *path, unsigned path_max, const char *addr,
                                   uint64_t now_ms, uint64_t *retry_ms);

/* A connection admitted with the same path and addr has ended. */
void wsg_admission_leave(struct wsg_admission *a, const struct wsg_limits *lim,
                         const char *path, const char *addr);

#endif
