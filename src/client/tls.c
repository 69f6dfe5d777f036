/*
 * tls.c - OpenSSL for wss://: context, per-connection SSL, failure text.
 *
 * Verification is on unless the caller says insecure: the chain against the
 * system store (SSL_CTX_set_default_verify_paths) or only the CA file
 * given, then the name: SSL_set1_host for a DNS name, the IP address
 * parameter for an IP literal (a certificate must list the address itself,
 * RFC 6125 does not match IPs against DNS names).
 *
 * No read-ahead: libevent's OpenSSL bufferevent only looks at SSL_pending,
 * so records read ahead would sit unnoticed.
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* What the server may pick with ALPN: only HTTP/1.1 carries the upgrade. */
static const unsigned char alpn_http11[] = "\x08http/1.1";

static const char *
openssl_reason(unsigned long e)
{
    const char *r = ERR_reason_error_string(e);
    return r != NULL ? r : "unknown OpenSSL error";
}

static bool
load_ca_file(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "cannot read CA file %s: %s",
                        path, strerror(errno));
        return false;
    }
    fclose(f);
    if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
        wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "cannot load CA file %s: %s",
                        path, openssl_reason(ERR_peek_last_error()));
        ERR_clear_error();
        return false;
    }
    return true;
}

SSL_CTX *
wsg_client_tls_ctx(const struct wsg_client_opts *o, enum wsg_client_err *e,
                   char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    *e = WSG_CLIENT_ERR_NOMEM;
    if (ctx == NULL) {
        wsg_client_errf(*e, err, errlen, "cannot create a TLS context: %s",
                        openssl_reason(ERR_peek_last_error()));
        ERR_clear_error();
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* A TCP close without close_notify is an EOF like any other: the
     * WebSocket close handshake, not TLS, tells clean from truncated. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof(alpn_http11) - 1);

    if (o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->ca_file != NULL) {
        if (!load_ca_file(ctx, o->ca_file, err, errlen)) {
            *e = WSG_CLIENT_ERR_OPTION;
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        /* No system store: every verification will fail and say why. */
        ERR_clear_error();
    }
    return ctx;
}

const char *
wsg_client_tls_peer_name(const struct wsg_client_opts *o, const struct wsg_client_url *u)
{
    return o->sni != NULL ? o->sni : u->host;
}

SSL *
wsg_client_tls_new(SSL_CTX *ctx, const struct wsg_client_opts *o,
                   const struct wsg_client_url *u, char *err, size_t errlen)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "cannot create a TLS session: %s",
                        openssl_reason(ERR_peek_last_error()));
        ERR_clear_error();
        return NULL;
    }
    /* RFC 6066 3: no SNI for an IP literal. */
    bool ip = o->sni == NULL && u->host_is_ip;
    const char *name = wsg_client_tls_peer_name(o, u);
    bool ok = ip || SSL_set_tlsext_host_name(ssl, name) == 1;
    if (ok && !o->insecure && o->verify_host) {
        if (ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, name) == 1;
        }
    }
    if (!ok) {
        wsg_client_errf(WSG_CLIENT_ERR_TLS, err, errlen, "cannot set the TLS peer name %s: %s",
                        name, openssl_reason(ERR_peek_last_error()));
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void
wsg_client_tls_failure(SSL *ssl, struct bufferevent *bev, const struct wsg_client_opts *o,
                       const struct wsg_client_url *u, int sock_err, char *out, size_t n)
{
    long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = bev != NULL ? bufferevent_get_openssl_error(bev) : 0;
    if (e == 0)
        e = ERR_peek_last_error();

    if (!o->insecure && vr != X509_V_OK) {
        int k = snprintf(out, n, "certificate verify failed: %s",
                         X509_verify_cert_error_string(vr));
        if ((vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) &&
            k > 0 && (size_t)k < n)
            snprintf(out + k, n - (size_t)k, " (the certificate is not for %s)",
                     wsg_client_tls_peer_name(o, u));
    } else if (e != 0) {
        snprintf(out, n, "TLS handshake failed: %s", openssl_reason(e));
    } else if (sock_err != 0) {
        snprintf(out, n, "TLS handshake failed: %s", strerror(sock_err));
    } else {
        snprintf(out, n, "TLS handshake failed: the server closed the connection");
    }
    while (bev != NULL && bufferevent_get_openssl_error(bev) != 0)
        ;
    ERR_clear_error();
}
