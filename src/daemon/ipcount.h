/*
 * ipcount.h - the per-client-address table: open connections (for
 * max_connections_per_ip) and the connection-rate token bucket (for
 * connections_per_second_per_ip), keyed by the address text (the real
 * client's, behind a trusted proxy).
 *
 * Bounded: an address with open connections is always kept (their number
 * is bounded by max_connections); one with none is kept only while its
 * bucket still remembers something (it is not full again), on an LRU list
 * whose oldest entries go first when the table holds max_tracked_addresses.
 * Every operation is O(1) on average.
 */
#ifndef WSG_DAEMON_IPCOUNT_H
#define WSG_DAEMON_IPCOUNT_H

#include <stddef.h>
#include <stdint.h>

struct wsg_ipcount;
struct wsg_limits;

enum wsg_admit {
    WSG_ADMIT_OK = 0,
    WSG_ADMIT_LIMIT,            /* max_connections_per_ip */
    WSG_ADMIT_RATE,             /* connections_per_second_per_ip */
    WSG_ADMIT_NOMEM,
};

/* A table sized for about max_tracked addresses. */
struct wsg_ipcount *wsg_ipcount_new(size_t max_tracked);
void wsg_ipcount_free(struct wsg_ipcount *t);

/* Count one more connection from addr if lim allows it now (now_ms from
 * wsg_now_ms).  WSG_ADMIT_RATE sets *retry_ms to when a token is back. */
enum wsg_admit wsg_ipcount_admit(struct wsg_ipcount *t, const char *addr,
                                 const struct wsg_limits *lim, uint64_t now_ms,
                                 uint64_t *retry_ms);

/* One connection admitted from addr has ended.  With no rate limit in lim
 * an address left with no connection is forgotten at once. */
void wsg_ipcount_remove(struct wsg_ipcount *t, const char *addr,
                        const struct wsg_limits *lim);

/* Addresses in the table now. */
size_t wsg_ipcount_size(const struct wsg_ipcount *t);

#endif
