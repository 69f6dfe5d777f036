/*
 * tls.c - SSL_CTX set-up for wss:// listeners (see tls.h).
 *
 * Choices: TLS 1.2 minimum; for 1.2 only ECDHE/DHE with AEAD ciphers, the
 * server's order; no renegotiation, no compression; ALPN answers
 * http/1.1 (WebSocket over HTTP/2 would be "h2" and is not served here);
 * SSL_MODE_RELEASE_BUFFERS halves what an idle connection holds.  Never
 * read-ahead: bufferevent_openssl only looks at SSL_pending and would
 * stall on records already read (DESIGN.md).
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"

#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"

static const char *
last_ssl_error(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : "unknown error";
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
            const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel;
    (void)ssl, (void)arg;
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static void
peer_of(const SSL *ssl, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[64] = "?";
    int fd = SSL_get_fd(ssl);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(buf, len, "?");
        return;
    }
    unsigned port = 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    }
}

/* A failed handshake is the client's problem, not the daemon's: one info
 * line per connection (plain HTTP on the port, a bad client certificate,
 * a truncated ClientHello) and nothing else. */
static void
tls_info(const SSL *ssl, int where, int ret)
{
    /* ret < 0 is also "would block"; only a queued error makes it final. */
    if (!(where & SSL_CB_EXIT) || ret > 0 || SSL_is_init_finished(ssl)
        || (ret < 0 && ERR_peek_error() == 0))
        return;
    if (!log_enabled(LOG_INFO))
        return;
    char peer[80];
    peer_of(ssl, peer, sizeof(peer));
    unsigned long e = ERR_peek_last_error();
    log_info("%s: TLS handshake failed: %s", peer,
             e != 0 ? ERR_reason_error_string(e) : "connection closed during the handshake");
}

static int
load_file_error(char *err, size_t errlen, const char *config_file, int line,
                const char *what, const char *path)
{
    if (access(path, R_OK) != 0)
        snprintf(err, errlen, "%s:%d: %s %s: %s", config_file, line, what, path,
                 strerror(errno));
    else
        snprintf(err, errlen, "%s:%d: %s %s: %s", config_file, line, what, path,
                 last_ssl_error());
    ERR_clear_error();
    return -1;
}

/* The certificates chosen by SNI live as long as the default context:
 * they hang off it as ex_data, freed with it. */
struct sni_certs {
    size_t n;
    SSL_CTX *ctx[];
};

static int sni_index = -1;
static pthread_once_t sni_index_once = PTHREAD_ONCE_INIT;   /* workers load at once */

static void sni_certs_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                           long argl, void *argp);

static void
sni_index_init(void)
{
    sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_certs_free);
}

static void
sni_certs_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct sni_certs *certs = ptr;
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (certs == NULL)
        return;
    for (size_t i = 0; i < certs->n; i++)
        SSL_CTX_free(certs->ctx[i]);
    free(certs);
}

/* Serve the first extra certificate that covers the requested name;
 * otherwise the default one. */
static int
sni_select(SSL *ssl, int *alert, void *arg)
{
    const struct sni_certs *certs = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    (void)alert;
    if (name == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < certs->n; i++) {
        X509 *cert = SSL_CTX_get0_certificate(certs->ctx[i]);
        if (cert != NULL && X509_check_host(cert, name, 0, 0, NULL) == 1) {
            SSL_set_SSL_CTX(ssl, certs->ctx[i]);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

/* A context with our protocol settings and one certificate and key. */
static SSL_CTX *
context_with_certificate(const char *config_file, int line, const char *certificate,
                         const char *private_key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "%s:%d: cannot create a TLS context: %s", config_file,
                 line, last_ssl_error());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE
                        | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_info_callback(ctx, tls_info);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"wsgated", 7);

    if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1) {
        load_file_error(err, errlen, config_file, line, "certificate", certificate);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, private_key, SSL_FILETYPE_PEM) != 1
        && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        load_file_error(err, errlen, config_file, line, "private key", private_key);
        goto fail;
    }
    if (ERR_peek_last_error() != 0 || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "%s:%d: private key %s does not match certificate %s",
                 config_file, line, private_key, certificate);
        ERR_clear_error();
        goto fail;
    }
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static int
add_sni_certificates(SSL_CTX *ctx, const char *config_file, const struct wsg_tls_cfg *cfg,
                     char *err, size_t errlen)
{
    if (cfg->nsni == 0)
        return 0;
    pthread_once(&sni_index_once, sni_index_init);
    struct sni_certs *certs = calloc(1, sizeof(*certs) + cfg->nsni * sizeof(SSL_CTX *));
    if (sni_index < 0 || certs == NULL) {
        free(certs);
        snprintf(err, errlen, "%s:%d: out of memory", config_file, cfg->line);
        return -1;
    }
    SSL_CTX_set_ex_data(ctx, sni_index, certs); /* freed with ctx from here on */
    for (size_t i = 0; i < cfg->nsni; i++) {
        const struct wsg_tls_cert *c = &cfg->sni[i];
        certs->ctx[i] = context_with_certificate(config_file, c->line, c->certificate,
                                                 c->private_key, err, errlen);
        if (certs->ctx[i] == NULL)
            return -1;
        certs->n = i + 1;
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
    SSL_CTX_set_tlsext_servername_arg(ctx, certs);
    return 0;
}

SSL_CTX *
wsg_tls_context_new(const char *config_file, const struct wsg_tls_cfg *cfg,
                    char *err, size_t errlen)
{
    SSL_CTX *ctx = context_with_certificate(config_file, cfg->line, cfg->certificate,
                                            cfg->private_key, err, errlen);
    if (ctx == NULL)
        return NULL;
    if (add_sni_certificates(ctx, config_file, cfg, err, errlen) != 0)
        goto fail;
    if (cfg->ca_file != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
            if (names != NULL)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            load_file_error(err, errlen, config_file, cfg->line, "CA file", cfg->ca_file);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    if (cfg->verify_client)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void
wsg_tls_swap(struct wsg_tls *tls, SSL_CTX *ctx)
{
    SSL_CTX_free(tls->ctx);
    tls->ctx = ctx;
}

void
wsg_tls_close_notify(SSL *ssl)
{
    SSL_shutdown(ssl);
    ERR_clear_error();
}
