/*
 * forwarded.h - the client's address behind a reverse proxy: from
 * X-Forwarded-For (or RFC 7239 Forwarded) and X-Forwarded-Proto, believed
 * only when the TCP peer is one of trusted_proxies.
 */
#ifndef WSG_DAEMON_FORWARDED_H
#define WSG_DAEMON_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct wsg_header;

struct wsg_forwarded {
    char addr[64];          /* the client's address, IPv6 without brackets */
    unsigned port;          /* 0 when the proxy does not say */
    int secure;             /* 1 https, 0 http, -1 not said */
};

/* tcp_addr is the socket's peer as text.  If it is in trusted (n ranges),
 * fill out from the headers (NUL-terminated values) and return true: the
 * client is the nearest hop of X-Forwarded-For that is not itself a
 * trusted proxy (the leftmost if all are), X-Forwarded-For winning over
 * Forwarded when both are present; out->addr is "" when they name none
 * (absent, or a hop that is no address on the way).  Returns false, out
 * untouched, when the peer is not trusted: its headers mean nothing. */
bool wsg_forwarded_client(const struct wsg_cidr *trusted, size_t n, const char *tcp_addr,
                          const struct wsg_header *hdrs, size_t nhdrs,
                          struct wsg_forwarded *out);

#endif
