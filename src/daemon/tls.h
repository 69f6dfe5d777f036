/*
 * tls.h - the server's TLS contexts for wss:// listeners.
 *
 * A listener holds a struct wsg_tls; new connections take whatever
 * SSL_CTX it holds at accept time, so a reload can swap in a context with
 * new certificates while existing connections keep theirs (each SSL object
 * holds a reference to its own context).
 */
#ifndef WSG_DAEMON_TLS_H
#define WSG_DAEMON_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

struct wsg_tls {
    SSL_CTX *ctx;
    char name[80];              /* the listener, for log lines */
};

/* An SSL_CTX for a listener's tls group: TLS 1.2 and 1.3 only, modern
 * ciphers, ALPN http/1.1, optional client certificates.  NULL with
 * "file:line: message" naming the file that failed, in err. */
SSL_CTX *wsg_tls_context_new(const char *config_file, const struct wsg_tls_cfg *cfg,
                             char *err, size_t errlen);

/* Replace the listener's context (a reload); the old one lives on in the
 * connections that use it. */
void wsg_tls_swap(struct wsg_tls *tls, SSL_CTX *ctx);

/* Send close_notify on a connection, ignoring the outcome: the peer may be
 * gone, and this is only ever the last thing we write. */
void wsg_tls_close_notify(SSL *ssl);

#endif
