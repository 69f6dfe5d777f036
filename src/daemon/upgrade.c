/*
 * upgrade.c - the server handshake on an endpoint path, and the hand-off
 * of the socket from evhttp to a WebSocket connection (conn.c).
 *
 * libevent 2.1's evhttp cannot detach a connection, so a wss:// session
 * keeps the evhttp_connection and lets it own the bufferevent and the
 * socket; the connection object only borrows the bufferevent.  The
 * sequence matters and is explained in DESIGN.md ("Things that bite"):
 * reply_start before taking the callbacks, no evhttp timeouts afterwards,
 * buffered early frames processed at once, and evhttp_connection_free() as
 * the only teardown.  A ws:// session leaves evhttp instead (see "leaving
 * evhttp" below).  All of that lives in this file and nowhere else.
 */
#include "upgrade.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* HTTP version of the request */
#include <event2/keyvalq_struct.h>

#include "conn.h"
#include "deflate.h"
#include "forwarded.h"
#include "handshake.h"
#include "log.h"
#include "ratelimit.h"
#include "tls.h"

static const char *
status_reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* A handshake in progress: who asks, for what. */
struct handshake {
    struct wsg_server *srv;
    struct wsg_endpoint *ep;
    struct evhttp_request *req;
    char addr[64];                    /* the client (behind a trusted proxy: its) */
    char peer[80];                    /* addr:port, for the log */
};

static enum wsg_reject
reject_of(enum wsg_err err)
{
    switch (err) {
    case WSG_ERR_HS_VERSION: return WSG_REJECT_VERSION;
    case WSG_ERR_HS_METHOD: return WSG_REJECT_METHOD;
    case WSG_ERR_HS_TOO_LARGE: return WSG_REJECT_TOO_LARGE;
    case WSG_ERR_HS_ORIGIN: return WSG_REJECT_ORIGIN;
    case WSG_ERR_HS_SUBPROTOCOL_REQUIRED: return WSG_REJECT_SUBPROTOCOL;
    case WSG_ERR_TOO_MANY_CONNECTIONS: return WSG_REJECT_LIMIT;
    case WSG_ERR_NOMEM: return WSG_REJECT_INTERNAL;
    default: return WSG_REJECT_BAD_REQUEST;
    }
}

const char *
wsg_request_method(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    default: return "OTHER";
    }
}

/* The one way a handshake is refused: answered, counted, logged. */
static void
refuse(const struct handshake *h, int status, enum wsg_reject reason, const char *why,
       uint64_t retry_ms)
{
    struct evhttp_request *req = h->req;
    const char *target = evhttp_request_get_uri(req);
    log_info("%s: refused handshake for %s: %d %s", h->peer, target, status, why);
    WSG_STAT_ADD(h->ep->stats->rejected[reason], 1);
    if (h->srv->access != NULL) {
        struct wsg_logline ln;
        wsg_logline_start(&ln, "rejected");
        wsg_logline_str(&ln, "client", h->addr);
        wsg_logline_str(&ln, "endpoint", h->ep->cfg->path);
        wsg_logline_uint(&ln, "status", (uint64_t)status);
        wsg_logline_str(&ln, "reason", wsg_reject_name(reason));
        wsg_logline_str(&ln, "method", wsg_request_method(req));
        wsg_logline_str(&ln, "target", target);
        wsg_accesslog_write(h->srv->access, &ln);
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (status == 405)
        evhttp_add_header(out, "Allow", "GET");
    if (status == 426) {
        evhttp_add_header(out, "Upgrade", "websocket");
        evhttp_add_header(out, "Sec-WebSocket-Version", "13");
    }
    if (status == 429) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((retry_ms + 999) / 1000));
        evhttp_add_header(out, "Retry-After", secs);
    }
    evhttp_add_header(out, "Connection", "close");
    wsg_http_reply(req, status, status_reason(status), why);
}

static size_t
collect_headers(struct evhttp_request *req, struct wsg_header *hdrs, size_t max,
                bool *too_many)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    size_t n = 0;
    *too_many = false;
    TAILQ_FOREACH(kv, in, next) {
        if (n == max) {
            *too_many = true;
            break;
        }
        hdrs[n++] = (struct wsg_header){
            .name = kv->key, .name_len = strlen(kv->key),
            .value = kv->value, .value_len = strlen(kv->value),
        };
    }
    return n;
}

static bool
origin_allowed(const struct wsg_endpoint_cfg *ecfg, const struct wsg_hs_info *info)
{
    if (ecfg->norigins == 0)
        return true;
    for (size_t i = 0; i < ecfg->norigins; i++) {
        const char *allowed = ecfg->allowed_origins[i];
        if (strcmp(allowed, "*") == 0)
            return true;
        if (info->origin != NULL && strlen(allowed) == info->origin_len
            && strncasecmp(allowed, info->origin, info->origin_len) == 0)
            return true;
    }
    return false;
}

/* ---- session life ------------------------------------------------------- */

/* TLS: close_notify once, before the socket goes (evhttp never sends it,
 * and strict clients report an unexpected EOF without it). */
static void
session_close_notify(struct wsg_session *s)
{
    if (s->evcon == NULL || s->notified)
        return;
    s->notified = true;
    SSL *ssl = bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(s->evcon));
    if (ssl != NULL)
        wsg_tls_close_notify(ssl);
}

static void
session_shutdown_write(void *arg)
{
    struct wsg_session *s = arg;
    session_close_notify(s);
    if (s->evcon != NULL)
        shutdown(bufferevent_getfd(evhttp_connection_get_bufferevent(s->evcon)), SHUT_WR);
}

static void
session_release(struct wsg_session *s)
{
    struct wsg_server *srv = s->srv;
    TAILQ_REMOVE(&srv->sessions, s, link);
    srv->nsessions--;
    WSG_STAT_SUB(s->ep->stats->open, 1);
    wsg_admission_leave(srv->admission, &srv->cfg->limits, s->ep->cfg->path, s->addr);
    wsg_endpoint_unref(s->ep);
    if (s->evcon != NULL) {
        session_close_notify(s);
        evhttp_connection_set_closecb(s->evcon, NULL, NULL);
        evhttp_connection_free(s->evcon); /* frees the request, bufferevent, socket */
    }
    free(s);
    wsg_server_session_ended(srv);
}

/* The session's access log line: who, where, how long, how much, how it
 * ended. */
static void
session_log(const struct wsg_session *s, const struct wsg_conn *c,
            const struct wsg_conn_report *r)
{
    struct wsg_logline ln;
    uint64_t now = wsg_unix_us();
    wsg_logline_start(&ln, "session");
    wsg_logline_str(&ln, "client", s->addr);
    wsg_logline_str(&ln, "endpoint", s->ep->cfg->path);
    wsg_logline_str(&ln, "subprotocol", wsg_conn_subprotocol(c));
    wsg_logline_time(&ln, "start", s->start_us);
    wsg_logline_secs(&ln, "duration", now > s->start_us ? now - s->start_us : 0);
    wsg_logline_uint(&ln, "msgs_in", r->msgs_in);
    wsg_logline_uint(&ln, "msgs_out", r->msgs_out);
    wsg_logline_uint(&ln, "bytes_in", r->bytes_in);
    wsg_logline_uint(&ln, "bytes_out", r->bytes_out);
    wsg_logline_uint(&ln, "close_code", r->code);
    wsg_logline_str(&ln, "closed_by", r->by_server ? "server" : "client");
    wsg_logline_uint(&ln, "tls", wsg_conn_secure(c) != 0);
    wsg_logline_str(&ln, "target", wsg_conn_target(c));
    wsg_accesslog_write(s->srv->access, &ln);
}

static void
session_conn_ended(struct wsg_conn *c, void *arg)
{
    struct wsg_session *s = arg;
    const struct wsg_conn_report *r = wsg_conn_report(c);
    wsg_stats_closed(s->ep->stats, r->code,
                     r->by_server ? WSG_CLOSED_BY_SERVER : WSG_CLOSED_BY_CLIENT);
    if (s->srv->access != NULL)
        session_log(s, c, r);
    s->conn = NULL;
    session_release(s);
}

/* evhttp frees the connection under us (evhttp_free at a forced stop). */
static void
session_evcon_closed(struct evhttp_connection *evcon, void *arg)
{
    struct wsg_session *s = arg;
    (void)evcon;
    session_close_notify(s);  /* the bufferevent is still alive here */
    s->evcon = NULL;
    if (s->conn != NULL)
        wsg_conn_abort(s->conn); /* ends in session_conn_ended */
}

void
wsg_session_abort(struct wsg_session *s)
{
    wsg_conn_abort(s->conn);
}

void
wsg_session_shutdown(struct wsg_session *s)
{
    wsg_conn_shutdown(s->conn);
}

/* ---- leaving evhttp ----------------------------------------------------- */

/*
 * Upgraded, a ws:// connection leaves evhttp: its evhttp_connection and
 * request (1.3 KiB with their buffers and headers, 40% of an idle
 * connection) would otherwise live as long as the WebSocket.  libevent 2.1
 * cannot detach a socket from an evhttp_connection, and
 * evhttp_connection_free() shuts its descriptor down for writing, which
 * would send the peer a FIN.  So the socket moves to a duplicate
 * descriptor in a bufferevent of ours, with what evhttp had buffered
 * either way (the 101, early frames), and once the connection object has
 * taken over, the original descriptor is pointed at /dev/null (dup2) and
 * evhttp frees its connection: its shutdown and close then touch nothing.
 * (libevent itself frees connections inside this callback, on errors.)
 * wss:// stays with evhttp: the TLS state lives in its bufferevent.  Out of
 * descriptors, a connection stays with evhttp too.
 *
 * The new bufferevent does not close its socket when freed: the
 * connection takes both, and frees the bufferevent whenever it falls
 * asleep (conn.c).
 */
/* Early frames move into the new input buffer, whose end only its
 * bufferevent adds to (libevent keeps it frozen otherwise). */
static int
move_input(struct bufferevent *to, struct bufferevent *from)
{
    struct evbuffer *in = bufferevent_get_input(to);
    evbuffer_unfreeze(in, 0);
    int rc = evbuffer_add_buffer(in, bufferevent_get_input(from));
    evbuffer_freeze(in, 0);
    return rc;
}

static void
own_bev_free(struct bufferevent *bev)
{
    evutil_socket_t fd = bufferevent_getfd(bev);
    bufferevent_free(bev);
    close(fd);
}

static struct bufferevent *
leave_evhttp_begin(struct wsg_server *srv, struct bufferevent *old)
{
    if (srv->null_fd < 0 || bufferevent_openssl_get_ssl(old) != NULL)
        return NULL;
    int fd = fcntl(bufferevent_getfd(old), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct bufferevent *bev = bufferevent_socket_new(srv->base, fd, 0);
    if (bev == NULL) {
        close(fd);
        return NULL;
    }
    if (move_input(bev, old) != 0) {
        own_bev_free(bev);
        return NULL;
    }
    /* The old output's start is frozen after a response was written (an
     * upgrade on a kept-alive connection); the old bufferevent freezes it
     * again itself should it write once more. */
    evbuffer_unfreeze(bufferevent_get_output(old), 1);
    if (evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_output(old)) != 0) {
        move_input(old, bev);
        own_bev_free(bev);
        return NULL;
    }
    bufferevent_disable(old, EV_READ | EV_WRITE);
    return bev;
}

static void
leave_evhttp_finish(struct wsg_session *s, struct bufferevent *old)
{
    if (dup2(s->srv->null_fd, bufferevent_getfd(old)) < 0)
        return;     /* evhttp keeps its connection until the session ends */
    evhttp_connection_set_closecb(s->evcon, NULL, NULL);
    evhttp_connection_free(s->evcon);
    s->evcon = NULL;
}

/* ---- the handshake ------------------------------------------------------ */

static void
peer_of(struct evhttp_connection *evcon, char *addr, size_t addrlen,
        char *peer, size_t peerlen)
{
    char *host = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &host, &port);
    snprintf(addr, addrlen, "%s", host != NULL ? host : "?");
    if (strchr(addr, ':') != NULL)
        snprintf(peer, peerlen, "[%s]:%u", addr, port);
    else
        snprintf(peer, peerlen, "%s:%u", addr, port);
}

/* Behind a reverse proxy in trusted_proxies: the client's address and
 * scheme as the proxy reports them (forwarded.c); from anyone else those
 * headers are ignored, since a client can write them itself. */
static void
apply_forwarded(const struct wsg_config *cfg, const struct wsg_header *hdrs, size_t nhdrs,
                char *addr, size_t addrlen, char *peer, size_t peerlen, bool *secure)
{
    struct wsg_forwarded fwd;
    if (!wsg_forwarded_client(cfg->trusted_proxies, cfg->ntrusted_proxies, addr,
                              hdrs, nhdrs, &fwd))
        return;
    if (fwd.secure >= 0)
        *secure = fwd.secure != 0;
    if (fwd.addr[0] == '\0')
        return;
    log_debug("%s: client %s%s%s:%u according to the trusted proxy", peer,
              strchr(fwd.addr, ':') != NULL ? "[" : "", fwd.addr,
              strchr(fwd.addr, ':') != NULL ? "]" : "", fwd.port);
    snprintf(addr, addrlen, "%s", fwd.addr);
    if (strchr(addr, ':') != NULL)
        snprintf(peer, peerlen, "[%s]:%u", addr, fwd.port);
    else
        snprintf(peer, peerlen, "%s:%u", addr, fwd.port);
}

void
wsg_request_client(struct wsg_server *srv, struct evhttp_request *req, char *addr,
                   size_t addrlen)
{
    char peer[80];
    struct wsg_header hdrs[WSG_HS_MAX_HEADERS];
    bool too_many, secure = false;
    peer_of(evhttp_request_get_connection(req), addr, addrlen, peer, sizeof(peer));
    size_t n = collect_headers(req, hdrs, WSG_HS_MAX_HEADERS, &too_many);
    apply_forwarded(srv->cfg, hdrs, n, addr, addrlen, peer, sizeof(peer), &secure);
}

static enum wsg_err
check_request(struct evhttp_request *req, struct wsg_hs_info *info,
              struct wsg_header *hdrs, size_t *nhdrs)
{
    bool too_many;
    *nhdrs = collect_headers(req, hdrs, WSG_HS_MAX_HEADERS, &too_many);
    if (too_many)
        return WSG_ERR_HS_TOO_LARGE;
    const char *method = wsg_request_method(req);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        method = "OTHER";
    return wsg_hs_check_request(method, strlen(method), req->major, req->minor,
                                hdrs, *nhdrs, info);
}


void
wsg_upgrade(struct wsg_server *srv, struct evhttp_request *req, struct wsg_endpoint *ep)
{
    const struct wsg_endpoint_cfg *ecfg = ep->cfg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct handshake h = {.srv = srv, .ep = ep, .req = req};
    peer_of(evcon, h.addr, sizeof(h.addr), h.peer, sizeof(h.peer));

    struct wsg_header hdrs[WSG_HS_MAX_HEADERS];
    size_t nhdrs;
    struct wsg_hs_info info;
    enum wsg_err err = check_request(req, &info, hdrs, &nhdrs);
    bool secure = bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(evcon)) != NULL;
    apply_forwarded(srv->cfg, hdrs, nhdrs, h.addr, sizeof(h.addr), h.peer, sizeof(h.peer),
                    &secure);
    if (err != WSG_OK && err != WSG_ERR_HS_TOO_LARGE
        && !wsg_hs_header_has_token(hdrs, nhdrs, "Upgrade", "websocket")) {
        /* Not asking for a WebSocket at all: say how to (RFC 6455 4.2.2,
         * 426 with the version we speak). */
        refuse(&h, 426, WSG_REJECT_NOT_WEBSOCKET,
               "this is a WebSocket endpoint: Upgrade: websocket required", 0);
        return;
    }
    if (err != WSG_OK) {
        refuse(&h, wsg_err_http_status(err), reject_of(err), wsg_strerror(err), 0);
        return;
    }
    if (!origin_allowed(ecfg, &info)) {
        refuse(&h, 403, WSG_REJECT_ORIGIN, wsg_strerror(WSG_ERR_HS_ORIGIN), 0);
        return;
    }
    const char *protocol = NULL;
    if (ecfg->nsubprotocols > 0) {
        int i = wsg_hs_select_subprotocol(hdrs, nhdrs,
                                          (const char *const *)ecfg->subprotocols,
                                          ecfg->nsubprotocols);
        if (i >= 0)
            protocol = ecfg->subprotocols[i];
        else if (ecfg->subprotocol_required) {
            refuse(&h, 400, WSG_REJECT_SUBPROTOCOL,
                   wsg_strerror(WSG_ERR_HS_SUBPROTOCOL_REQUIRED), 0);
            return;
        }
    }
    /* permessage-deflate: the first offer we can accept, or none (an
     * offer we cannot accept never fails the handshake). */
    struct wsg_deflate_params deflate;
    char extensions[WSG_DEFLATE_HEADER_MAX];
    bool compress = wsg_deflate_negotiate(hdrs, nhdrs, &ecfg->compression, &deflate,
                                          extensions, sizeof(extensions));
    uint64_t retry_ms = 0;
    switch (wsg_admission_enter(srv->admission, &srv->cfg->limits, ecfg->path,
                                ecfg->limits.max_connections, h.addr, wsg_now_ms(),
                                &retry_ms)) {
    case WSG_ADMIT_OK:
        break;
    case WSG_ADMIT_RATE:
        refuse(&h, 429, WSG_REJECT_RATE, "too many connections per second", retry_ms);
        return;
    case WSG_ADMIT_NOMEM:
        refuse(&h, 503, WSG_REJECT_INTERNAL, wsg_strerror(WSG_ERR_NOMEM), 0);
        return;
    case WSG_ADMIT_LIMIT:
    default:
        refuse(&h, 503, WSG_REJECT_LIMIT, wsg_strerror(WSG_ERR_TOO_MANY_CONNECTIONS), 0);
        return;
    }

    struct wsg_session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        wsg_admission_leave(srv->admission, &srv->cfg->limits, ecfg->path, h.addr);
        refuse(&h, 503, WSG_REJECT_INTERNAL, wsg_strerror(WSG_ERR_NOMEM), 0);
        return;
    }
    s->srv = srv;
    s->evcon = evcon;
    s->ep = ep;
    wsg_endpoint_ref(ep);
    WSG_STAT_ADD(ep->stats->open, 1);
    s->start_us = wsg_unix_us();
    snprintf(s->addr, sizeof(s->addr), "%s", h.addr);
    TAILQ_INSERT_TAIL(&srv->sessions, s, link);
    srv->nsessions++;

    char accept[WSG_HS_ACCEPT_LEN + 1];
    wsg_hs_accept_key(info.key, WSG_HS_KEY_LEN, accept);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Upgrade", "websocket");
    evhttp_add_header(out, "Connection", "Upgrade");
    evhttp_add_header(out, "Sec-WebSocket-Accept", accept);
    if (protocol != NULL)
        evhttp_add_header(out, "Sec-WebSocket-Protocol", protocol);
    if (compress)
        evhttp_add_header(out, "Sec-WebSocket-Extensions", extensions);
    /* Queues the 101 and resets the bufferevent's callbacks to evhttp's:
     * only after it may the connection take them over. */
    evhttp_send_reply_start(req, 101, "Switching Protocols");

    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    uint64_t latency_us = wsg_deadline_done(srv->deadlines, bev);
    if (latency_us > 0)
        wsg_stats_handshake(ep->stats, latency_us);
    evhttp_connection_set_closecb(evcon, session_evcon_closed, s);
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct bufferevent *own = leave_evhttp_begin(srv, bev);

    struct wsg_conn_params p = {
        .base = srv->base,
        .bev = own != NULL ? own : bev,
        .ep = ep,
        .peer = h.peer,
        .target = evhttp_request_get_uri(req),
        .subprotocol = protocol,
        .deflate = compress ? &deflate : NULL,
        .headers = hdrs,
        .nheaders = nhdrs,
        .secure = secure,
        .on_end = session_conn_ended,
        .end_arg = s,
        .shutdown_write = own != NULL ? NULL : session_shutdown_write,
        .flusher = own != NULL ? srv->flusher : NULL,
    };
    log_debug("%s: upgraded %s%s%s", h.peer, p.target,
              protocol != NULL ? " subprotocol " : "", protocol != NULL ? protocol : "");
    s->conn = wsg_conn_start(&p);
    if (s->conn == NULL) {
        log_warn("%s: out of memory for a new connection", h.peer);
        if (own != NULL)
            own_bev_free(own);
        session_release(s);
        return;
    }
    WSG_STAT_ADD(ep->stats->total, 1);
    if (own != NULL) {
        leave_evhttp_finish(s, bev);
        return;
    }
    /* The request's header lists are not needed any more: give the memory
     * back while the connection lives on. */
    evhttp_clear_headers(evhttp_request_get_input_headers(req));
    evhttp_clear_headers(evhttp_request_get_output_headers(req));
}
