/*
 * server.c - the HTTP front end: listeners, plain routes (/healthz, 404),
 * dispatch of endpoint paths to upgrade.c, and graceful stop.
 *
 * Each listener has an evhttp of its own: evhttp makes a connection's
 * bufferevent through one callback per evhttp, and a wss:// listener's
 * must wrap the socket in TLS with that listener's context.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "conn.h"
#include "deadline.h"
#include "log.h"
#include "tls.h"
#include "upgrade.h"

/* A listening socket.  When accept() fails for want of descriptors or
 * memory, the listener pauses instead of spinning on a socket that stays
 * readable, logs once per episode, and retries shortly. */
struct wsg_listener {
    struct wsg_server *srv;
    struct evhttp *http;
    struct wsg_tls tls;                 /* ctx NULL: plain ws:// */
    struct evconnlistener *lev;         /* owned by evhttp once bound */
    struct evhttp_bound_socket *bound;  /* NULL once no longer accepting */
    struct event *retry;
    time_t last_warning;                /* accept errors: one line per 10 s */
    unsigned pauses;                    /* since that line */
    char name[80];
    struct wsg_listener *next;          /* in listeners_by_lev */
};

/* evhttp_bind_listener() makes evhttp's argument the listener's, and the
 * error callback gets that argument, not ours: find our listener from the
 * evconnlistener instead.  A handful of entries, touched only on errors. */
static _Thread_local struct wsg_listener *listeners_by_lev;   /* this worker's */

static struct wsg_listener *
listener_of(const struct evconnlistener *lev)
{
    for (struct wsg_listener *l = listeners_by_lev; l != NULL; l = l->next)
        if (l->lev == lev)
            return l;
    return NULL;
}

static void
listener_forget(struct wsg_listener *wl)
{
    for (struct wsg_listener **p = &listeners_by_lev; *p != NULL; p = &(*p)->next) {
        if (*p == wl) {
            *p = wl->next;
            return;
        }
    }
}

#define ACCEPT_RETRY_MS 200

static void server_set_timeouts(struct wsg_server *srv);

static void
listener_retry(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_listener *l = arg;
    (void)fd, (void)what;
    evconnlistener_enable(l->lev);
}

static void
listener_error(struct evconnlistener *lev, void *arg)
{
    struct wsg_listener *l = listener_of(lev);
    int err = EVUTIL_SOCKET_ERROR();
    (void)arg; /* evhttp's */
    if (l == NULL) {
        evconnlistener_disable(lev);
        return;
    }
    time_t now = time(NULL);
    l->pauses++;
    if (now - l->last_warning >= 10) {
        log_warn("%s: accept: %s; pausing new connections for %d ms "
                 "(%u WebSocket connections open, %u pauses since the last warning)",
                 l->name, strerror(err), ACCEPT_RETRY_MS, l->srv->nsessions, l->pauses);
        l->last_warning = now;
        l->pauses = 0;
    }
    evconnlistener_disable(lev);
    struct timeval tv = {.tv_sec = 0, .tv_usec = ACCEPT_RETRY_MS * 1000};
    evtimer_add(l->retry, &tv);
}

void
wsg_http_reply(struct evhttp_request *req, int status, const char *reason,
               const char *body)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL && body != NULL)
        evbuffer_add_printf(buf, "%s\n", body);
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Content-Type", "text/plain; charset=utf-8");
    evhttp_send_reply(req, status, reason, buf);
    if (buf != NULL)
        evbuffer_free(buf);
}

static struct wsg_endpoint *
find_endpoint(struct wsg_server *srv, const char *path)
{
    const struct wsg_endpoint_cfg *ecfg = wsg_cfg_find_endpoint(srv->cfg, path, strlen(path));
    if (ecfg == NULL)
        return NULL;
    return srv->eps[ecfg - srv->cfg->endpoints];
}

/* A plain HTTP answer, with its access log line. */
static void
server_reply(struct wsg_server *srv, struct evhttp_request *req, int status,
             const char *reason, const char *body)
{
    if (srv->access != NULL) {
        char addr[64];
        struct wsg_logline ln;
        wsg_request_client(srv, req, addr, sizeof(addr));
        wsg_logline_start(&ln, "http");
        wsg_logline_str(&ln, "client", addr);
        wsg_logline_uint(&ln, "status", (uint64_t)status);
        wsg_logline_str(&ln, "method", wsg_request_method(req));
        wsg_logline_str(&ln, "target", evhttp_request_get_uri(req));
        wsg_accesslog_write(srv->access, &ln);
    }
    wsg_http_reply(req, status, reason, body);
}

static void
server_request(struct evhttp_request *req, void *arg)
{
    struct wsg_server *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || *path == '\0')
        path = "/";

    if (strcmp(path, "/healthz") == 0) {
        if (srv->stopping)
            server_reply(srv, req, 503, "Service Unavailable", "stopping");
        else
            server_reply(srv, req, 200, "OK", "ok");
        return;
    }
    struct wsg_endpoint *ep = find_endpoint(srv, path);
    if (ep == NULL) {
        server_reply(srv, req, 404, "Not Found", "no such endpoint");
        return;
    }
    if (srv->stopping) {
        server_reply(srv, req, 503, "Service Unavailable", "stopping");
        return;
    }
    wsg_upgrade(srv, req, ep);
}

static void
listener_watch(struct wsg_listener *wl, struct bufferevent *bev)
{
    wsg_deadline_watch(wl->srv->deadlines, bev, wl->srv->cfg->limits.handshake_timeout_ms);
}

/* evhttp's bufferevent factory for a ws:// listener: ours only so that the
 * handshake deadline can watch each new connection. */
static struct bufferevent *
listener_plain_bev(struct event_base *base, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev != NULL)
        listener_watch(arg, bev);
    return bev;
}

/* evhttp's bufferevent factory for a wss:// listener: the context is read
 * at each accept, so a reload's new certificate applies from then on. */
static struct bufferevent *
listener_tls_bev(struct event_base *base, void *arg)
{
    struct wsg_listener *wl = arg;
    SSL *ssl = SSL_new(wl->tls.ctx);
    if (ssl == NULL) {
        log_warn("%s: cannot start a TLS session: out of memory", wl->name);
        return NULL;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    /* A client that drops TCP without close_notify is at EOF, not broken. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    listener_watch(wl, bev);
    return bev;
}

static struct evhttp *
server_http_new(struct wsg_server *srv)
{
    struct evhttp *http = evhttp_new(srv->base);
    if (http == NULL)
        return NULL;
    evhttp_set_max_headers_size(http, 8192);
    evhttp_set_max_body_size(http, 4096);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                               EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                               EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(http, server_request, srv);
    return http;
}

/* 0 if a plain socket can bind ai's address (and so no one listens
 * there), else the errno of the bind. */
static int
port_in_use(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int one = 1, rc = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        rc = errno;
    close(fd);
    return rc;
}

static int
server_listen(struct wsg_server *srv, const struct wsg_listen_cfg *l,
              struct wsg_listener *wl, char *err, size_t errlen)
{
    wl->srv = srv;
    if ((wl->http = server_http_new(srv)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (l->tls != NULL) {
        wl->tls.ctx = wsg_tls_context_new(srv->cfg->file, l->tls, err, errlen);
        if (wl->tls.ctx == NULL)
            return -1;
        evhttp_set_bevcb(wl->http, listener_tls_bev, wl);
    } else {
        evhttp_set_bevcb(wl->http, listener_plain_bev, wl);
    }

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
    };
    struct addrinfo *ai;
    char port[8];
    snprintf(port, sizeof(port), "%u", l->port);
    int rc = getaddrinfo(l->address, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: listen address \"%s\": %s", srv->cfg->file,
                 l->line, l->address, gai_strerror(rc));
        return -1;
    }
    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
    if (ai->ai_family == AF_INET6)
        flags |= LEV_OPT_BIND_IPV6ONLY;
    /* Every worker listens on the port itself and the kernel spreads the
     * connections.  SO_REUSEPORT would let a second wsgated (same user)
     * share the port too, so the first worker binds a plain socket first:
     * a port already in use is an error, as with one worker. */
    int saved = 0;
    if (srv->workers > 1) {
        flags |= LEV_OPT_REUSEABLE_PORT;
        if (srv->worker == 0)
            saved = port_in_use(ai);
    }
    struct evconnlistener *lev = saved != 0 ? NULL
        : evconnlistener_new_bind(srv->base, NULL, NULL, flags, l->backlog,
                                  ai->ai_addr, (int)ai->ai_addrlen);
    if (saved == 0)
        saved = errno;
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (lev == NULL) {
        snprintf(err, errlen, "%s:%d: cannot listen on %s port %u: %s", srv->cfg->file,
                 l->line, l->address, l->port, strerror(saved));
        return -1;
    }
    wl->lev = lev;
    wl->retry = evtimer_new(srv->base, listener_retry, wl);
    wl->bound = wl->retry != NULL ? evhttp_bind_listener(wl->http, lev) : NULL;
    if (wl->bound == NULL) {
        evconnlistener_free(lev);
        snprintf(err, errlen, "%s:%d: cannot serve HTTP on %s port %u", srv->cfg->file,
                 l->line, l->address, l->port);
        return -1;
    }
    wl->next = listeners_by_lev;
    listeners_by_lev = wl;
    evconnlistener_set_error_cb(lev, listener_error);
    snprintf(wl->name, sizeof(wl->name), "%s%s%s:%u", v6 ? "[" : "", l->address,
             v6 ? "]" : "", l->port);
    snprintf(wl->tls.name, sizeof(wl->tls.name), "%s", wl->name);
    if (srv->worker == 0)
        log_notice("listening on %s://%s%s", l->tls != NULL ? "wss" : "ws", wl->name,
                   srv->workers > 1 ? " (every worker)" : "");
    return 0;
}

/* Every endpoint counts into its path's counters, which outlive reloads. */
static int
server_attach_stats(struct wsg_server *srv, const struct wsg_config *cfg,
                    struct wsg_endpoint **eps, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        if ((eps[i]->stats = wsg_metrics_endpoint(srv->metrics, cfg->endpoints[i].path))
            == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Worker 0 serves /metrics for every worker. */
static int
server_metrics_listen(struct wsg_server *srv, const struct wsg_config *cfg, char *err,
                      size_t errlen)
{
    if (srv->worker != 0)
        return 0;
    return wsg_metrics_listen(srv->metrics, cfg->metrics, cfg->file, err, errlen);
}

/* The access log as cfg says, reusing the open one if the target is the
 * same.  -1 with a message when the new one cannot be opened. */
static int
server_open_access_log(struct wsg_server *srv, const struct wsg_config *cfg,
                       char *err, size_t errlen)
{
    if (cfg->access_log != NULL && srv->access != NULL
        && strcmp(wsg_accesslog_target(srv->access), cfg->access_log) == 0)
        return 0;
    struct wsg_accesslog *l = NULL;
    if (cfg->access_log != NULL
        && (l = wsg_accesslog_open(cfg->access_log, err, errlen)) == NULL)
        return -1;
    wsg_accesslog_free(srv->access);
    srv->access = l;
    return 0;
}

struct wsg_server *
wsg_server_new(struct event_base *base, struct wsg_config *cfg,
               struct wsg_endpoint **eps, const struct wsg_server_shared *sh,
               char *err, size_t errlen)
{
    struct wsg_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->base = base;
    srv->cfg = cfg;
    srv->eps = eps;
    TAILQ_INIT(&srv->sessions);
    srv->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (srv->null_fd < 0)
        log_warn("cannot open /dev/null (%s): upgraded connections stay with evhttp",
                 strerror(errno));
    srv->admission = sh->admission;
    srv->worker = sh->worker;
    srv->workers = sh->workers;
    srv->deadlines = wsg_deadlines_new(base);
    srv->flusher = wsg_flusher_new(base);
    srv->metrics = wsg_metrics_new(base);
    srv->listeners = calloc(cfg->nlisten, sizeof(*srv->listeners));
    if (srv->deadlines == NULL || srv->flusher == NULL
        || srv->listeners == NULL || srv->metrics == NULL) {
        snprintf(err, errlen, "out of memory");
        wsg_server_free(srv);
        return NULL;
    }
    if (server_attach_stats(srv, cfg, eps, err, errlen) != 0
        || server_open_access_log(srv, cfg, err, errlen) != 0
        || server_metrics_listen(srv, cfg, err, errlen) != 0) {
        wsg_server_free(srv);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nlisten; i++) {
        srv->nlisteners = i + 1;
        if (server_listen(srv, &cfg->listen[i], &srv->listeners[i], err, errlen) != 0) {
            wsg_server_free(srv);
            return NULL;
        }
    }
    server_set_timeouts(srv);
    return srv;
}

static void
server_set_timeouts(struct wsg_server *srv)
{
    uint32_t ms = srv->cfg->limits.handshake_timeout_ms;
    struct timeval hs = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    for (size_t i = 0; i < srv->nlisteners; i++)
        evhttp_set_timeout_tv(srv->listeners[i].http, &hs);
}

/* New certificates for the wss:// listeners, from the listen entries of
 * the new configuration (same listeners, same order: main.c checks).  One
 * that does not load keeps its old context. */
static void
server_reload_tls(struct wsg_server *srv, const struct wsg_config *cfg)
{
    for (size_t i = 0; i < srv->nlisteners && i < cfg->nlisten; i++) {
        struct wsg_listener *l = &srv->listeners[i];
        const struct wsg_tls_cfg *tcfg = cfg->listen[i].tls;
        if (l->tls.ctx == NULL || tcfg == NULL)
            continue;
        char err[512];
        SSL_CTX *ctx = wsg_tls_context_new(cfg->file, tcfg, err, sizeof(err));
        if (ctx == NULL) {
            log_err("%s: keeping the current certificate: %s", l->name, err);
            continue;
        }
        wsg_tls_swap(&l->tls, ctx);
        log_info("%s: certificate reloaded from %s", l->name, tcfg->certificate);
    }
}

int
wsg_server_reconfigure(struct wsg_server *srv, struct wsg_config *cfg,
                       struct wsg_endpoint **eps, char *err, size_t errlen)
{
    if (server_attach_stats(srv, cfg, eps, err, errlen) != 0)
        return -1;
    srv->cfg = cfg;
    srv->eps = eps;
    server_set_timeouts(srv);
    server_reload_tls(srv, cfg);
    char why[512];
    if (server_open_access_log(srv, cfg, why, sizeof(why)) != 0)
        log_err("reload: keeping the current access log: %s", why);
    if (server_metrics_listen(srv, cfg, why, sizeof(why)) != 0)
        log_err("reload: metrics listener: %s", why);
    return 0;
}

void
wsg_server_reopen_logs(struct wsg_server *srv)
{
    wsg_accesslog_reopen(srv->access);
}

static void
server_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_server *srv = arg;
    (void)fd, (void)what;
    log_notice("%u connections did not finish closing in time, dropping them",
               srv->nsessions);
    event_base_loopexit(srv->base, NULL);
}

/* Stop accepting; HTTP connections in progress go on until the free. */
static void
server_close_listeners(struct wsg_server *srv)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct wsg_listener *l = &srv->listeners[i];
        listener_forget(l);
        if (l->retry != NULL)
            event_free(l->retry);
        l->retry = NULL;
        if (l->bound != NULL)
            evhttp_del_accept_socket(l->http, l->bound); /* frees l->lev */
        l->bound = NULL;
        l->lev = NULL;
    }
}

void
wsg_server_stop(struct wsg_server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    server_close_listeners(srv);
    if (srv->workers > 1)
        log_notice("worker %u stopping: closing %u connections", srv->worker, srv->nsessions);
    else
        log_notice("stopping: closing %u connections", srv->nsessions);
    if (srv->nsessions == 0) {
        event_base_loopexit(srv->base, NULL);
        return;
    }
    struct wsg_session *s;
    TAILQ_FOREACH(s, &srv->sessions, link)
        wsg_session_shutdown(s);
    uint32_t ms = srv->cfg->limits.close_timeout_ms + 1000;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    srv->stop_timer = evtimer_new(srv->base, server_stop_timeout, srv);
    if (srv->stop_timer == NULL || evtimer_add(srv->stop_timer, &tv) != 0)
        event_base_loopexit(srv->base, NULL);
}

void
wsg_server_session_ended(struct wsg_server *srv)
{
    if (srv->stopping && srv->nsessions == 0)
        event_base_loopexit(srv->base, NULL);
}

void
wsg_server_free(struct wsg_server *srv)
{
    if (srv == NULL)
        return;
    while (!TAILQ_EMPTY(&srv->sessions))
        wsg_session_abort(TAILQ_FIRST(&srv->sessions));
    if (srv->listeners != NULL) {
        server_close_listeners(srv);
        for (size_t i = 0; i < srv->nlisteners; i++) {
            if (srv->listeners[i].http != NULL)
                evhttp_free(srv->listeners[i].http);
            SSL_CTX_free(srv->listeners[i].tls.ctx);
        }
    }
    wsg_deadlines_free(srv->deadlines);   /* after evhttp let go of them */
    wsg_flusher_free(srv->flusher);       /* after every connection ended */
    if (srv->stop_timer != NULL)
        event_free(srv->stop_timer);
    free(srv->listeners);
    if (srv->null_fd >= 0)
        close(srv->null_fd);
    wsg_metrics_free(srv->metrics);
    wsg_accesslog_free(srv->access);
    free(srv);
}
