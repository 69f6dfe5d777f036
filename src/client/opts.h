/*
 * opts.h - the client options inside the library: the struct behind the
 * opaque struct wsg_client_opts, copied into each client at creation so
 * that the caller may change or free its own afterwards.
 */
#ifndef WSG_CLIENT_OPTS_H
#define WSG_CLIENT_OPTS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsgate/client.h"

#include "handshake.h"

struct wsg_client_opts {
    char **protocols;
    size_t nprotocols;
    struct wsg_header *headers;  /* name and value strings owned, NUL-terminated */
    size_t nheaders;
    char *origin;
    char *ca_file;
    char *sni;
    unsigned connect_timeout_ms;
    unsigned handshake_timeout_ms;
    unsigned close_timeout_ms;
    unsigned ping_interval_ms;
    uint64_t max_message;
    bool verify_host;
    bool insecure;
    bool compress;               /* offer permessage-deflate */
};

/* A deep copy, or NULL when out of memory. */
struct wsg_client_opts *wsg_client_opts_copy(const struct wsg_client_opts *o);

/* snprintf into a caller's error buffer (err may be NULL); returns e. */
enum wsg_client_err wsg_client_errf(enum wsg_client_err e, char *err, size_t errlen,
                                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
