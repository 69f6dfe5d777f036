/*
 * tls.h - the client's OpenSSL setup: one SSL_CTX per client (TLS 1.2 or
 * later, system or given CAs, released buffers) and one SSL per connection
 * with SNI and the name or address the certificate must match.
 */
#ifndef WSG_CLIENT_TLS_H
#define WSG_CLIENT_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "opts.h"

struct bufferevent;

/* A context for o, or NULL with a message (WSG_CLIENT_ERR_OPTION for a CA
 * file that does not load, else NOMEM) in *e and err. */
SSL_CTX *wsg_client_tls_ctx(const struct wsg_client_opts *o, enum wsg_client_err *e,
                            char *err, size_t errlen);

/* An SSL for one connection to u, or NULL with a message. */
SSL *wsg_client_tls_new(SSL_CTX *ctx, const struct wsg_client_opts *o,
                        const struct wsg_client_url *u, char *err, size_t errlen);

/* The name (or address) the certificate is checked against: the SNI
 * option, else the URL's host. */
const char *wsg_client_tls_peer_name(const struct wsg_client_opts *o,
                                     const struct wsg_client_url *u);

/* Why the TLS handshake on bev failed, as one line ("certificate verify
 * failed: ...", "TLS handshake failed: ..."); empties the error queues. */
void wsg_client_tls_failure(SSL *ssl, struct bufferevent *bev,
                            const struct wsg_client_opts *o,
                            const struct wsg_client_url *u, int sock_err,
                            char *out, size_t n);

#endif
