/*
 * ipcount.h - open connections per client address, for
 * max_connections_per_ip.  A small chained hash keyed by the address
 * text; entries disappear when their count drops to zero, so memory
 * follows the number of distinct clients connected now.
 */
#ifndef WSG_DAEMON_IPCOUNT_H
#define WSG_DAEMON_IPCOUNT_H

struct wsg_ipcount;

struct wsg_ipcount *wsg_ipcount_new(void);
void wsg_ipcount_free(struct wsg_ipcount *t);

/* Count one more connection from addr unless it already has max (0 = no
 * limit).  Returns 0, or -1 when over the limit or out of memory. */
int wsg_ipcount_add(struct wsg_ipcount *t, const char *addr, unsigned max);

void wsg_ipcount_remove(struct wsg_ipcount *t, const char *addr);

#endif
