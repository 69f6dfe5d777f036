/*
 * client.c - a WebSocket client connection on a libevent bufferevent.
 *
 * States, in order (a client only moves forward):
 *   NEW        created, wsg_client_connect not called yet.
 *   STARTING   connect accepted the URL; the first event-loop turn resolves
 *              the name and starts TCP (so no callback runs inside connect).
 *   CONNECTING non-blocking connect() on our own socket, one address after
 *              the other, under the connect timeout.
 *   HANDSHAKE  TCP up: the bufferevent (plain, or OpenSSL doing the TLS
 *              handshake first) carries our request; we wait for the
 *              response head, under the handshake timeout.
 *   OPEN       messages both ways; keepalive pings.
 *   CLOSING    we sent a close frame and wait (close timeout) for the
 *              server's; its data messages are still delivered.
 *   FLUSHING   both closes exchanged (or we failed the connection): our
 *              output drains, then...
 *   LINGER     ...close_notify for TLS, and we wait (close timeout) for the
 *              server to close TCP first (RFC 6455 7.1.1).
 *   DONE       on_error/on_close delivered, transport released.
 *
 * The struct is freed only by wsg_client_free; when that is called from a
 * callback, the free waits until our event callback unwinds (busy).
 */
#include "opts.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "close.h"
#include "deflate.h"
#include "frame.h"
#include "handshake.h"
#include "message.h"
#include "utf8.h"

enum client_state {
    CL_NEW,
    CL_STARTING,
    CL_CONNECTING,
    CL_HANDSHAKE,
    CL_OPEN,
    CL_CLOSING,
    CL_FLUSHING,
    CL_LINGER,
    CL_DONE,
};

#define MASK_KEY_POOL 256          /* 64 keys per RAND_bytes call */
#define ERRMSG_MAX 512

/* permessage-deflate, as wsg_client_opts_set_compression offers it:
 * zlib's defaults, the largest windows, context takeover both ways, and
 * messages under 64 bytes sent as they are (as wsgated does). */
static const struct wsg_deflate_cfg client_deflate_cfg = {
    .enabled = true,
    .level = 6,
    .mem_level = 8,
    .server_max_window_bits = WSG_DEFLATE_MAX_WBITS,
    .client_max_window_bits = WSG_DEFLATE_MAX_WBITS,
    .min_size = 64,
};

struct wsg_client {
    struct event_base *base;
    struct wsg_client_opts *opts;
    struct wsg_client_callbacks cb;
    void *arg;

    enum client_state state;
    struct wsg_client_url url;
    struct addrinfo *addrs;        /* from getaddrinfo */
    struct addrinfo *next_addr;    /* the next one to try */
    int fd;                        /* ours while connecting, then the bev's */
    int last_errno;                /* of the last failed connect attempt */
    struct event *connect_ev;
    struct event *timer;           /* the current state's deadline */
    struct bufferevent *bev;
    SSL_CTX *ssl_ctx;
    SSL *ssl;                      /* owned by bev */
    bool tls_done;
    bool abandoned;                /* closed before on_open */
    bool peer_eof;                 /* EOF seen while our close was flushing */

    char key[WSG_HS_KEY_LEN + 1];
    char *request_head;
    char *response_head;
    char *subprotocol;
    char peer[INET6_ADDRSTRLEN + 8];
    char ext_offer[WSG_DEFLATE_HEADER_MAX]; /* "" unless compression is on */
    struct wsg_deflate *pmd;       /* NULL unless permessage-deflate agreed */

    struct wsg_reader reader;
    bool reader_ready;
    bool close_sent;
    bool close_received;
    uint16_t close_code;
    char close_reason[WSG_CONTROL_MAX_PAYLOAD];
    size_t close_reason_len;

    enum wsg_client_err err;       /* the first failure, reported at the end */
    char errmsg[ERRMSG_MAX];

    uint64_t last_rx_ms;
    uint64_t ping_sent_ms;
    bool ping_outstanding;

    uint8_t mask_keys[MASK_KEY_POOL];
    size_t mask_pos;
    bool rand_failed;

    unsigned busy;                 /* depth of our event callbacks */
    bool freed;                    /* wsg_client_free called while busy */
};

static void client_read(struct bufferevent *bev, void *arg);
static void client_write(struct bufferevent *bev, void *arg);
static void client_event(struct bufferevent *bev, short what, void *arg);
static void client_try_connect(struct wsg_client *c);

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- lifetime ----------------------------------------------------------- */

static bool
client_gone(const struct wsg_client *c)
{
    return c->freed || c->state == CL_DONE;
}

static void
client_arm(struct wsg_client *c, uint64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(c->timer, &tv);
}

/* Arm the timer for a timeout option; 0 means none. */
static void
client_arm_timeout(struct wsg_client *c, unsigned ms)
{
    if (ms > 0)
        client_arm(c, ms);
    else
        evtimer_del(c->timer);
}

static void
client_release_transport(struct wsg_client *c)
{
    if (c->connect_ev != NULL) {
        event_free(c->connect_ev);
        c->connect_ev = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);   /* closes the socket, frees the SSL */
        c->bev = NULL;
        c->ssl = NULL;
    }
    if (c->timer != NULL)
        evtimer_del(c->timer);
    if (c->reader_ready) {
        wsg_reader_free(&c->reader);
        c->reader_ready = false;
    }
}

static void
client_destroy(struct wsg_client *c)
{
    client_release_transport(c);
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->addrs != NULL)
        freeaddrinfo(c->addrs);
    SSL_CTX_free(c->ssl_ctx);
    wsg_client_url_clear(&c->url);
    wsg_client_opts_free(c->opts);
    free(c->request_head);
    free(c->response_head);
    free(c->subprotocol);
    wsg_deflate_free(c->pmd);
    free(c);
}

static void
client_enter(struct wsg_client *c)
{
    c->busy++;
}

static void
client_leave(struct wsg_client *c)
{
    if (--c->busy == 0 && c->freed)
        client_destroy(c);
}

/* Record the first failure; the end reports it. */
static void
client_verror(struct wsg_client *c, enum wsg_client_err err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
client_verror(struct wsg_client *c, enum wsg_client_err err, const char *fmt, va_list ap)
{
    if (c->err != WSG_CLIENT_OK)
        return;
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    c->err = err;
}

static void
client_set_error(struct wsg_client *c, enum wsg_client_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
client_set_error(struct wsg_client *c, enum wsg_client_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    client_verror(c, err, fmt, ap);
    va_end(ap);
}

/* The end: release everything, then on_error (if it failed) and on_close,
 * the last callback.  Only ever called from our event callbacks. */
static void
client_end(struct wsg_client *c)
{
    if (c->state == CL_DONE)
        return;
    c->state = CL_DONE;
    client_release_transport(c);
    if (c->err != WSG_CLIENT_OK && c->cb.on_error != NULL)
        c->cb.on_error(c, c->err, c->errmsg, c->arg);
    if (c->freed)
        return;
    uint16_t code = c->close_received ? c->close_code : WSG_CLOSE_ABNORMAL;
    if (c->cb.on_close != NULL)
        c->cb.on_close(c, code, c->close_reason, c->close_received ? c->close_reason_len : 0,
                       c->arg);
}

static void
client_fail(struct wsg_client *c, enum wsg_client_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
client_fail(struct wsg_client *c, enum wsg_client_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    client_verror(c, err, fmt, ap);
    va_end(ap);
    client_end(c);
}

/* ---- output ------------------------------------------------------------- */

/* RFC 6455 5.3: a fresh, unpredictable key per frame.  RAND_bytes is called
 * once per 64 keys rather than once per frame. */
static void
client_mask_key(uint8_t key[4], void *arg)
{
    struct wsg_client *c = arg;
    if (c->mask_pos + 4 > sizeof(c->mask_keys)) {
        if (RAND_bytes(c->mask_keys, sizeof(c->mask_keys)) != 1)
            c->rand_failed = true;
        c->mask_pos = 0;
    }
    memcpy(key, c->mask_keys + c->mask_pos, 4);
    c->mask_pos += 4;
}

/* Frame, mask and queue in one pass, straight into the output buffer;
 * rsv1: the payload is compressed (permessage-deflate). */
static int
client_write_frame_rsv1(struct wsg_client *c, uint8_t opcode, const void *data, size_t len,
                        bool rsv1)
{
    struct wsg_encode_opts eo = { .mask = true, .rsv1 = rsv1, .mask_key = client_mask_key,
                                  .mask_key_arg = c };
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t need = wsg_msg_encoded_size(len, &eo);
    struct evbuffer_iovec v;
    size_t written = 0;

    if (need < len || evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) != 1)
        return -1;
    if (wsg_msg_encode(v.iov_base, v.iov_len, opcode, data, len, &eo, &written) != WSG_OK ||
        c->rand_failed) {
        ERR_clear_error();
        return -1;
    }
    v.iov_len = written;
    return evbuffer_commit_space(out, &v, 1);
}

static int
client_write_frame(struct wsg_client *c, uint8_t opcode, const void *data, size_t len)
{
    return client_write_frame_rsv1(c, opcode, data, len, false);
}

/* A data message: compressed (RSV1) when permessage-deflate was agreed,
 * it is big enough, and compressing makes it smaller. */
static int
client_write_message(struct wsg_client *c, uint8_t opcode, const void *data, size_t len)
{
    if (c->pmd == NULL || len < client_deflate_cfg.min_size)
        return client_write_frame(c, opcode, data, len);
    const uint8_t *z;
    size_t zlen;
    if (wsg_deflate_compress(c->pmd, data, len, &z, &zlen) != WSG_OK)
        return -1;
    int rc;
    if (zlen < len) {
        rc = client_write_frame_rsv1(c, opcode, z, zlen, true);
    } else {
        wsg_deflate_send_reset(c->pmd); /* the server will not see what we compressed */
        rc = client_write_frame(c, opcode, data, len);
    }
    wsg_deflate_compress_done(c->pmd);
    return rc;
}

static void
client_send_close_frame(struct wsg_client *c, uint16_t code, const char *reason)
{
    uint8_t payload[WSG_CONTROL_MAX_PAYLOAD];
    size_t len = wsg_close_build(payload, code, reason, reason != NULL ? strlen(reason) : 0);
    c->close_sent = true;
    client_write_frame(c, WSG_OP_CLOSE, payload, len);
}

/* ---- closing ------------------------------------------------------------ */

static void
client_start_linger(struct wsg_client *c)
{
    c->state = CL_LINGER;
    if (c->ssl != NULL && c->tls_done) {
        /* close_notify, written straight to the socket: the output is
         * empty, so it goes after our close frame. */
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    if (c->peer_eof)
        client_end(c);
    else
        client_arm_timeout(c, c->opts->close_timeout_ms);
}

static void
client_flush_then_linger(struct wsg_client *c)
{
    c->state = CL_FLUSHING;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        client_start_linger(c);
        return;
    }
    client_arm_timeout(c, c->opts->close_timeout_ms);
}

/* _Fail the WebSocket Connection_ (RFC 6455 7.1.7): the input can no longer
 * be trusted; send our close and stop parsing. */
static void
client_fail_protocol(struct wsg_client *c, enum wsg_err err)
{
    uint16_t code = wsg_err_close_code(err);
    client_set_error(c, WSG_CLIENT_ERR_PROTOCOL, "%s (closing with %u)", wsg_strerror(err),
                     (unsigned)code);
    if (!c->close_sent)
        client_send_close_frame(c, code, wsg_strerror(err));
    client_flush_then_linger(c);
}

static void
client_on_close_frame(struct wsg_client *c, const struct wsg_msg *m)
{
    c->close_received = true;
    c->close_code = m->close_code;
    c->close_reason_len = m->len < sizeof(c->close_reason) ? m->len : sizeof(c->close_reason);
    if (c->close_reason_len > 0)
        memcpy(c->close_reason, m->data, c->close_reason_len);
    if (!c->close_sent) {
        /* Echo the code (RFC 6455 5.5.1); an empty close gets an empty one. */
        uint16_t code = m->close_code == WSG_CLOSE_NO_STATUS ? 0 : m->close_code;
        client_send_close_frame(c, code, NULL);
    }
    client_flush_then_linger(c);
}

/* ---- input -------------------------------------------------------------- */

static void
client_on_frame(struct wsg_client *c, const struct wsg_msg *m)
{
    switch (m->opcode) {
    case WSG_OP_TEXT:
    case WSG_OP_BINARY: {
        struct wsg_message msg = {
            .type = (enum wsg_message_type)m->opcode, .data = m->data, .len = m->len,
        };
        if (m->compressed) {
            /* The reader leaves UTF-8 of compressed text to us. */
            const uint8_t *out;
            size_t outlen;
            enum wsg_err err = wsg_deflate_inflate(c->pmd, m->data, m->len, &out, &outlen);
            if (err == WSG_OK && m->opcode == WSG_OP_TEXT && !wsg_utf8_valid(out, outlen))
                err = WSG_ERR_BAD_UTF8;
            if (err != WSG_OK) {
                client_fail_protocol(c, err);
                return;
            }
            msg.data = out;
            msg.len = outlen;
        }
        if (c->cb.on_message != NULL)
            c->cb.on_message(c, &msg, c->arg);
        if (m->compressed)
            wsg_deflate_inflate_done(c->pmd);   /* freed only by client_destroy */
        break;
    }
    case WSG_OP_PING:
        if (c->state == CL_OPEN && client_write_frame(c, WSG_OP_PONG, m->data, m->len) != 0)
            client_fail_protocol(c, WSG_ERR_NOMEM);
        break;
    case WSG_OP_PONG:
        c->ping_outstanding = false;   /* unsolicited pongs are fine too */
        break;
    case WSG_OP_CLOSE:
        client_on_close_frame(c, m);
        break;
    }
}

static bool
client_parsing(const struct wsg_client *c)
{
    return !client_gone(c) && (c->state == CL_OPEN || c->state == CL_CLOSING);
}

/* Feed the input to the reader without copying it out of the evbuffer. */
static void
client_process_input(struct wsg_client *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (client_parsing(c) && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(in, -1, NULL, v, 8);
        if (n > 8)
            n = 8;
        size_t used_total = 0;
        for (int i = 0; i < n && client_parsing(c); i++) {
            const uint8_t *p = v[i].iov_base;
            size_t left = v[i].iov_len;
            while (left > 0 && client_parsing(c)) {
                struct wsg_msg m;
                size_t used = 0;
                enum wsg_err err = wsg_reader_feed(&c->reader, p, left, &used, &m);
                p += used;
                left -= used;
                used_total += used;
                if (err == WSG_OK)
                    client_on_frame(c, &m);
                else if (err != WSG_ERR_INCOMPLETE)
                    client_fail_protocol(c, err);
            }
        }
        if (client_gone(c))
            return;
        evbuffer_drain(in, used_total);
    }
    if (!client_gone(c) && (c->state == CL_FLUSHING || c->state == CL_LINGER))
        evbuffer_drain(in, evbuffer_get_length(in));
}

/* ---- handshake ---------------------------------------------------------- */

static struct wsg_hs_client_opts
client_hs_opts(const struct wsg_client *c)
{
    return (struct wsg_hs_client_opts){
        .host = c->url.host_header,
        .target = c->url.target,
        .key = c->key,
        .protocols = (const char *const *)c->opts->protocols,
        .nprotocols = c->opts->nprotocols,
        .origin = c->opts->origin,
        .extensions = c->ext_offer[0] != '\0' ? c->ext_offer : NULL,
        .extra = c->opts->headers,
        .nextra = c->opts->nheaders,
    };
}

static enum wsg_client_err
client_build_request(struct wsg_client *c, char *err, size_t errlen)
{
    const struct wsg_client_opts *o = c->opts;
    size_t cap = 256 + strlen(c->url.host_header) + strlen(c->url.target);
    if (o->origin != NULL)
        cap += strlen(o->origin) + 16;
    for (size_t i = 0; i < o->nprotocols; i++)
        cap += strlen(o->protocols[i]) + 2;
    for (size_t i = 0; i < o->nheaders; i++)
        cap += o->headers[i].name_len + o->headers[i].value_len + 4;

    if (o->compress) {
        if (wsg_deflate_offer(&client_deflate_cfg, c->ext_offer, sizeof(c->ext_offer)) == 0)
            return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                                   "cannot build the permessage-deflate offer");
        cap += strlen(c->ext_offer) + 32;
    }

    if (wsg_hs_generate_key(c->key) != WSG_OK)
        return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen,
                               "cannot draw a random key from OpenSSL");
    c->request_head = malloc(cap + 1);
    if (c->request_head == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    struct wsg_hs_client_opts ho = client_hs_opts(c);
    size_t n = wsg_hs_build_request(c->request_head, cap, &ho);
    if (n == 0)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                               "cannot build the upgrade request from these options");
    c->request_head[n] = '\0';
    return WSG_CLIENT_OK;
}

/* The response's first line, made printable, for error messages. */
static void
first_line(const char *head, size_t len, char *out, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < len && head[i] != '\r' && head[i] != '\n' && k + 1 < n; i++)
        out[k++] = head[i] >= 0x20 && head[i] < 0x7f ? head[i] : '?';
    out[k] = '\0';
}

static void
client_opened(struct wsg_client *c)
{
    if (c->abandoned) {            /* wsg_client_close came first */
        client_end(c);
        return;
    }
    struct wsg_reader_limits lim = {
        .role = WSG_ROLE_CLIENT,
        .max_frame = c->opts->max_message,
        .max_message = c->opts->max_message,
        .rsv_allowed = c->pmd != NULL ? WSG_RSV1 : 0,   /* RFC 7692 6 */
    };
    wsg_reader_init(&c->reader, &lim);
    c->reader_ready = true;
    c->state = CL_OPEN;
    c->last_rx_ms = now_ms();
    client_arm_timeout(c, c->opts->ping_interval_ms);
    if (c->cb.on_open != NULL)
        c->cb.on_open(c, c->arg);
}

/* Parse and check the response head; bytes after it are WebSocket data. */
static void
client_read_response(struct wsg_client *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    size_t n = len < WSG_HS_MAX_HEAD ? len : WSG_HS_MAX_HEAD;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    struct wsg_hs_response resp;
    size_t consumed = 0;
    char line[160];

    enum wsg_err e = wsg_hs_parse_response(p, n, &resp, &consumed);
    if (e == WSG_ERR_INCOMPLETE && n < WSG_HS_MAX_HEAD)
        return;
    free(c->response_head);
    c->response_head = strndup(p, e == WSG_OK ? consumed : n);
    first_line(p, n, line, sizeof(line));
    if (e == WSG_ERR_INCOMPLETE || e == WSG_ERR_HS_TOO_LARGE) {
        client_fail(c, WSG_CLIENT_ERR_HANDSHAKE,
                    "invalid handshake response: head over %d bytes (\"%s\")",
                    WSG_HS_MAX_HEAD, line);
        return;
    }
    if (e != WSG_OK) {
        client_fail(c, WSG_CLIENT_ERR_HANDSHAKE,
                    "invalid handshake response: %s (\"%s\")", wsg_strerror(e), line);
        return;
    }

    struct wsg_hs_client_opts ho = client_hs_opts(c);
    int selected = -1;
    e = wsg_hs_check_response(&resp, &ho, ho.extensions != NULL, &selected);
    if (e == WSG_ERR_HS_STATUS) {
        client_fail(c, WSG_CLIENT_ERR_HANDSHAKE, "server refused the upgrade: %s", line);
        return;
    }
    if (e == WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED) {
        const struct wsg_header *h =
            wsg_hs_find_header(resp.headers, resp.nheaders, "Sec-WebSocket-Protocol");
        client_fail(c, WSG_CLIENT_ERR_HANDSHAKE, "invalid handshake response: %s (\"%.*s\")",
                    wsg_strerror(e), h != NULL ? (int)(h->value_len > 64 ? 64 : h->value_len)
                                               : 0, h != NULL ? h->value : "");
        return;
    }
    if (e != WSG_OK) {
        client_fail(c, WSG_CLIENT_ERR_HANDSHAKE, "invalid handshake response: %s",
                    wsg_strerror(e));
        return;
    }
    if (selected >= 0 && (c->subprotocol = strdup(c->opts->protocols[selected])) == NULL) {
        client_fail(c, WSG_CLIENT_ERR_NOMEM, "out of memory");
        return;
    }
    if (ho.extensions != NULL) {
        bool accepted = false;
        struct wsg_deflate_params agreed;
        e = wsg_deflate_check_response(resp.headers, resp.nheaders, &client_deflate_cfg,
                                       &accepted, &agreed);
        if (e != WSG_OK) {
            const struct wsg_header *h =
                wsg_hs_find_header(resp.headers, resp.nheaders, "Sec-WebSocket-Extensions");
            client_fail(c, WSG_CLIENT_ERR_HANDSHAKE,
                        "invalid handshake response: %s (\"%.*s\")", wsg_strerror(e),
                        h != NULL ? (int)(h->value_len > 64 ? 64 : h->value_len) : 0,
                        h != NULL ? h->value : "");
            return;
        }
        if (accepted) {
            c->pmd = wsg_deflate_new(WSG_ROLE_CLIENT, &agreed, client_deflate_cfg.level,
                                     client_deflate_cfg.mem_level, c->opts->max_message);
            if (c->pmd == NULL) {
                client_fail(c, WSG_CLIENT_ERR_NOMEM, "out of memory");
                return;
            }
        }
    }
    evbuffer_drain(in, consumed);
    client_opened(c);
}

/* ---- bufferevent callbacks ---------------------------------------------- */

static void
client_read(struct bufferevent *bev, void *arg)
{
    struct wsg_client *c = arg;
    (void)bev;
    client_enter(c);
    c->last_rx_ms = now_ms();
    if (c->state == CL_HANDSHAKE)
        client_read_response(c);
    if (!client_gone(c))
        client_process_input(c);
    client_leave(c);
}

static void
client_write(struct bufferevent *bev, void *arg)
{
    struct wsg_client *c = arg;
    client_enter(c);
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        if (c->state == CL_FLUSHING)
            client_start_linger(c);
        else if ((c->state == CL_OPEN || c->state == CL_CLOSING) && c->cb.on_drain != NULL)
            c->cb.on_drain(c, c->arg);
    }
    client_leave(c);
}

static void
client_event_handshake(struct wsg_client *c, short what, int sock_err)
{
    if (c->ssl != NULL && !c->tls_done) {
        char msg[ERRMSG_MAX];
        wsg_client_tls_failure(c->ssl, c->bev, c->opts, &c->url,
                               (what & BEV_EVENT_ERROR) ? sock_err : 0, msg, sizeof(msg));
        client_fail(c, WSG_CLIENT_ERR_TLS, "%s", msg);
    } else if (what & BEV_EVENT_EOF) {
        client_fail(c, WSG_CLIENT_ERR_HANDSHAKE,
                    "the server closed the connection before answering the upgrade");
    } else {
        client_fail(c, WSG_CLIENT_ERR_HANDSHAKE, "connection error during the handshake: %s",
                    sock_err != 0 ? strerror(sock_err) : "unknown error");
    }
}

/* What broke the transport: OpenSSL's reason if it has one, else errno. */
static const char *
transport_error(struct bufferevent *bev, int sock_err)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    if (r != NULL)
        return r;
    return sock_err != 0 ? strerror(sock_err) : "unknown error";
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
    struct wsg_client *c = arg;
    int sock_err = EVUTIL_SOCKET_ERROR();
    client_enter(c);
    if (what & BEV_EVENT_CONNECTED) {
        c->tls_done = true;            /* the TLS handshake is complete */
        client_leave(c);
        return;
    }
    if (c->state == CL_HANDSHAKE) {
        if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
            client_read_response(c);
        if (!client_gone(c) && c->state == CL_HANDSHAKE)
            client_event_handshake(c, what, sock_err);
    }
    if (!client_gone(c) && (c->state == CL_OPEN || c->state == CL_CLOSING)) {
        /* Whatever arrived before the EOF counts: a close frame, say. */
        client_process_input(c);
        if (!client_gone(c) && (c->state == CL_OPEN || c->state == CL_CLOSING)) {
            if (what & BEV_EVENT_EOF)
                client_set_error(c, WSG_CLIENT_ERR_CONNECTION_LOST,
                                 "the server closed the connection without a close frame");
            else
                client_set_error(c, WSG_CLIENT_ERR_CONNECTION_LOST, "connection error: %s",
                                 transport_error(bev, sock_err));
        }
    }
    /* In FLUSHING or LINGER, the server closing TCP is the end we wait
     * for; a reset after the close exchange changes nothing.  A server
     * that only half-closed still gets our close reply first. */
    if (!client_gone(c) && c->state == CL_FLUSHING && (what & BEV_EVENT_EOF) &&
        !(what & BEV_EVENT_ERROR) && evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        c->peer_eof = true;
    else if (!client_gone(c))
        client_end(c);
    ERR_clear_error();
    client_leave(c);
}

/* ---- connecting ----------------------------------------------------------- */

static void
format_peer(const struct sockaddr *sa, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(out, n, "[%s]:%u", host, (unsigned)ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(out, n, "%s:%u", host, (unsigned)ntohs(s4->sin_port));
    }
}

/* TCP is up on c->fd: hand it to a bufferevent and send the request. */
static void
client_tcp_connected(struct wsg_client *c)
{
    char msg[ERRMSG_MAX];
    int one = 1;

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (c->ssl_ctx != NULL) {
        SSL *ssl = wsg_client_tls_new(c->ssl_ctx, c->opts, &c->url, msg, sizeof(msg));
        if (ssl == NULL) {
            client_fail(c, WSG_CLIENT_ERR_TLS, "%s", msg);
            return;
        }
        c->bev = bufferevent_openssl_socket_new(c->base, c->fd, ssl,
                                                BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            SSL_free(ssl);
        } else {
            c->ssl = ssl;
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        }
    } else {
        c->bev = bufferevent_socket_new(c->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL) {
        client_fail(c, WSG_CLIENT_ERR_NOMEM, "out of memory");
        return;
    }
    c->fd = -1;
    c->state = CL_HANDSHAKE;
    client_arm_timeout(c, c->opts->handshake_timeout_ms);
    bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
    if (bufferevent_write(c->bev, c->request_head, strlen(c->request_head)) != 0 ||
        bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
        client_fail(c, WSG_CLIENT_ERR_NOMEM, "out of memory");
}

static void
client_connect_done(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_client *c = arg;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    (void)what;
    client_enter(c);
    event_free(c->connect_ev);
    c->connect_ev = NULL;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr == 0) {
        client_tcp_connected(c);
    } else {
        c->last_errno = soerr;
        close(c->fd);
        c->fd = -1;
        client_try_connect(c);
    }
    client_leave(c);
}

/* Try the addresses left, in getaddrinfo's order, until one connects or
 * starts connecting. */
static void
client_try_connect(struct wsg_client *c)
{
    while (c->next_addr != NULL) {
        struct addrinfo *ai = c->next_addr;
        c->next_addr = ai->ai_next;
        format_peer(ai->ai_addr, c->peer, sizeof(c->peer));
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            c->last_errno = errno;
            continue;
        }
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            client_tcp_connected(c);
            return;
        }
        if (errno == EINPROGRESS) {
            c->connect_ev = event_new(c->base, c->fd, EV_WRITE, client_connect_done, c);
            if (c->connect_ev == NULL || event_add(c->connect_ev, NULL) != 0)
                client_fail(c, WSG_CLIENT_ERR_NOMEM, "out of memory");
            return;
        }
        c->last_errno = errno;
        close(c->fd);
        c->fd = -1;
    }
    client_fail(c, WSG_CLIENT_ERR_CONNECT, "cannot connect to %s: %s",
                c->addrs != NULL && c->addrs->ai_next == NULL ? c->peer : c->url.host_header,
                strerror(c->last_errno != 0 ? c->last_errno : ECONNREFUSED));
}

static void
client_start(struct wsg_client *c)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    char port[8];

    if (c->url.host_is_ip)
        hints.ai_flags |= AI_NUMERICHOST;
    snprintf(port, sizeof(port), "%u", (unsigned)c->url.port);
    int r = getaddrinfo(c->url.host, port, &hints, &c->addrs);
    if (r != 0) {
        c->addrs = NULL;
        client_fail(c, WSG_CLIENT_ERR_CONNECT, "cannot resolve %s: %s", c->url.host,
                    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
        return;
    }
    c->next_addr = c->addrs;
    c->state = CL_CONNECTING;
    client_arm_timeout(c, c->opts->connect_timeout_ms);
    client_try_connect(c);
}

/* ---- the timer ------------------------------------------------------------ */

/* Keepalive: a ping after an interval of silence; the connection is dead
 * only when another interval passes with no pong and no bytes at all (a
 * pong may be queued behind a long message). */
static void
client_keepalive(struct wsg_client *c)
{
    uint64_t iv = c->opts->ping_interval_ms;
    uint64_t now = now_ms();
    uint64_t silent = now - c->last_rx_ms;

    if (c->ping_outstanding) {
        uint64_t since_ping = now - c->ping_sent_ms;
        if (since_ping >= iv && silent >= iv) {
            client_set_error(c, WSG_CLIENT_ERR_TIMEOUT, "no pong within %llu ms of a ping",
                             (unsigned long long)iv);
            client_send_close_frame(c, WSG_CLOSE_GOING_AWAY, "ping timeout");
            c->state = CL_CLOSING;
            client_arm_timeout(c, c->opts->close_timeout_ms);
            return;
        }
        uint64_t waited = since_ping < silent ? since_ping : silent;
        client_arm(c, iv - waited);
        return;
    }
    if (silent >= iv) {
        if (client_write_frame(c, WSG_OP_PING, NULL, 0) != 0) {
            client_fail_protocol(c, WSG_ERR_NOMEM);
            return;
        }
        c->ping_outstanding = true;
        c->ping_sent_ms = now;
        client_arm(c, iv);
        return;
    }
    client_arm(c, iv - silent);
}

static void
client_timer(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_client *c = arg;
    (void)fd, (void)what;
    client_enter(c);
    if (c->abandoned && c->state < CL_OPEN) {
        client_end(c);
        client_leave(c);
        return;
    }
    switch (c->state) {
    case CL_STARTING:
        client_start(c);
        break;
    case CL_CONNECTING:
        client_fail(c, WSG_CLIENT_ERR_CONNECT, "cannot connect to %s: timed out after %u ms",
                    c->url.host_header, c->opts->connect_timeout_ms);
        break;
    case CL_HANDSHAKE:
        if (c->ssl != NULL && !c->tls_done)
            client_fail(c, WSG_CLIENT_ERR_TLS, "TLS handshake timed out after %u ms",
                        c->opts->handshake_timeout_ms);
        else
            client_fail(c, WSG_CLIENT_ERR_HANDSHAKE,
                        "no upgrade response from the server within %u ms",
                        c->opts->handshake_timeout_ms);
        break;
    case CL_OPEN:
        if (c->opts->ping_interval_ms > 0)
            client_keepalive(c);
        break;
    case CL_CLOSING:
        client_fail(c, WSG_CLIENT_ERR_TIMEOUT,
                    "no close frame from the server within %u ms",
                    c->opts->close_timeout_ms);
        break;
    default:
        /* FLUSHING or LINGER: we waited long enough for the server. */
        client_end(c);
        break;
    }
    client_leave(c);
}

/* ---- public API ----------------------------------------------------------- */

struct wsg_client *
wsg_client_new(struct event_base *base, const struct wsg_client_opts *opts,
               const struct wsg_client_callbacks *cb, void *arg)
{
    if (base == NULL)
        return NULL;
    struct wsg_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->base = base;
    c->fd = -1;
    c->arg = arg;
    c->mask_pos = sizeof(c->mask_keys);
    if (cb != NULL)
        c->cb = *cb;
    if (opts != NULL)
        c->opts = wsg_client_opts_copy(opts);
    else
        c->opts = wsg_client_opts_new();
    c->timer = evtimer_new(base, client_timer, c);
    if (c->opts == NULL || c->timer == NULL) {
        client_destroy(c);
        return NULL;
    }
    return c;
}

enum wsg_client_err
wsg_client_connect(struct wsg_client *c, const char *url, char *err, size_t errlen)
{
    enum wsg_client_err e;

    if (c == NULL || c->state != CL_NEW)
        return wsg_client_errf(WSG_CLIENT_ERR_STATE, err, errlen,
                               "a client connects only once");
    e = wsg_client_url_parse(url, &c->url, err, errlen);
    if (e != WSG_CLIENT_OK)
        return e;
    if (c->url.tls) {
        c->ssl_ctx = wsg_client_tls_ctx(c->opts, &e, err, errlen);
        if (c->ssl_ctx == NULL)
            return e;
    }
    e = client_build_request(c, err, errlen);
    if (e != WSG_CLIENT_OK)
        return e;
    c->state = CL_STARTING;
    client_arm(c, 0);
    return WSG_CLIENT_OK;
}

enum wsg_send_result
wsg_client_send(struct wsg_client *c, enum wsg_message_type type, const void *data,
                size_t len)
{
    if (c == NULL || (type != WSG_MESSAGE_TEXT && type != WSG_MESSAGE_BINARY) ||
        (len > 0 && data == NULL))
        return WSG_SEND_ERROR;
    if (c->state != CL_OPEN || c->freed)
        return WSG_SEND_CLOSED;
    if (client_write_message(c, (uint8_t)type, data, len) != 0)
        return WSG_SEND_ERROR;
    return WSG_SEND_OK;
}

enum wsg_send_result
wsg_client_ping(struct wsg_client *c, const void *data, size_t len)
{
    if (c == NULL || len > WSG_CONTROL_MAX_PAYLOAD || (len > 0 && data == NULL))
        return WSG_SEND_ERROR;
    if (c->state != CL_OPEN || c->freed)
        return WSG_SEND_CLOSED;
    if (client_write_frame(c, WSG_OP_PING, data, len) != 0)
        return WSG_SEND_ERROR;
    return WSG_SEND_OK;
}

enum wsg_send_result
wsg_client_close(struct wsg_client *c, uint16_t code, const char *reason)
{
    if (c == NULL || (code != 0 && !wsg_close_code_is_valid(code)))
        return WSG_SEND_ERROR;
    if (c->freed)
        return WSG_SEND_CLOSED;
    switch (c->state) {
    case CL_STARTING:
    case CL_CONNECTING:
    case CL_HANDSHAKE:
        if (c->abandoned)
            return WSG_SEND_CLOSED;
        c->abandoned = true;
        client_arm(c, 0);
        return WSG_SEND_OK;
    case CL_OPEN:
        client_send_close_frame(c, code, reason);
        c->state = CL_CLOSING;
        client_arm_timeout(c, c->opts->close_timeout_ms);
        return WSG_SEND_OK;
    default:
        return WSG_SEND_CLOSED;
    }
}

void
wsg_client_free(struct wsg_client *c)
{
    if (c == NULL)
        return;
    if (c->busy > 0) {
        c->freed = true;
        client_release_transport(c);
        return;
    }
    client_destroy(c);
}

size_t
wsg_client_pending(const struct wsg_client *c)
{
    if (c == NULL || c->bev == NULL)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

const char *
wsg_client_subprotocol(const struct wsg_client *c)
{
    return c != NULL ? c->subprotocol : NULL;
}

const char *
wsg_client_peer(const struct wsg_client *c)
{
    return c != NULL && c->state >= CL_HANDSHAKE && c->peer[0] != '\0' ? c->peer : NULL;
}

const char *
wsg_client_request_head(const struct wsg_client *c)
{
    return c != NULL ? c->request_head : NULL;
}

const char *
wsg_client_response_head(const struct wsg_client *c)
{
    return c != NULL ? c->response_head : NULL;
}

struct ssl_st *
wsg_client_ssl(const struct wsg_client *c)
{
    return c != NULL ? c->ssl : NULL;
}
