/*
 * proxy.c - the proxy module: every WebSocket connection gets its own
 * connection to a backend (TCP or Unix socket), and messages flow both
 * ways through a framing the backend can parse.
 *
 * Options (the endpoint's `options` group; anything else is refused):
 *   backend = "tcp:127.0.0.1:9000"   or "tcp:[::1]:9000", "tcp:host:port"
 *             (resolved when the configuration loads), "unix:/run/app.sock";
 *             or a list of them, tried in order until one accepts
 *   balance = "failover"    the list in order, from the first (default);
 *             "round-robin" each connection starts at the next backend
 *   connect_timeout = 5     seconds per backend tried
 *   framing = "lines"       "lines", "length-prefixed" or "raw" (relay.h):
 *       lines            one message per "\n"-terminated line each way; to
 *                        the client text if the line is UTF-8, else binary;
 *                        a client message with newlines in it reaches the
 *                        backend as that many lines
 *       length-prefixed  4-byte big-endian payload length, 1 type byte
 *                        (1 text, 2 binary), payload: binary-safe
 *       raw              a byte stream: each read is one binary message,
 *                        client messages are written as they are
 *   max_line = "64K"        lines: a longer backend line closes 1009
 *   max_message = "16M"     length-prefixed: a larger backend message closes 1009
 *   backend_buffer = "1M"   bytes queued toward the backend before the
 *                           client is paused (read again at half of it)
 *   preamble = false        true: the backend first gets one line of JSON:
 *       {"remote_addr":"192.0.2.7","remote_port":51000,"secure":false,
 *        "path":"/app","query":"a=1","subprotocol":null,
 *        "headers":{"cookie":"..."}}\n
 *     (path and query raw as requested; subprotocol a string or null;
 *     headers: those named in preamble_headers that the request has, the
 *     names lower-cased); the framing starts after its newline.
 *   preamble_headers = [ "Cookie", "Authorization" ]
 *
 * Closing: backend EOF → close 1000 once everything it sent is delivered;
 * a backend error → 1011; no backend accepting → 1014 (Bad Gateway), or
 * 1013 (try again later) when every one timed out or was too busy.  The
 * client going away → the backend gets what was queued for it, then a
 * shutdown(SHUT_WR); we read and discard until its EOF (at most
 * LINGER_MS) and close.
 *
 * Flow control (relay.c): the backend is not read while the client's
 * output is over half its high-watermark, and the client is not read while
 * more than backend_buffer bytes wait for the backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "wsgate/module.h"

#include "relay.h"

#define LINGER_MS 5000
#define PREAMBLE_MAX_HEADER 8192   /* a longer header value is left out */

struct px_backend {
    char *name;                    /* as configured, for messages */
    struct sockaddr_storage sa;
    socklen_t salen;
};

struct px_options {
    struct px_backend *backends;
    size_t nbackends;
    bool round_robin;
    uint32_t connect_timeout_ms;
    struct relay_limits lim;
    size_t max_line, max_message;
    bool preamble;
    char **preamble_headers;       /* NULL-terminated */
    size_t npreamble_headers;
};

struct px_conn;
LIST_HEAD(px_conn_list, px_conn);

struct px_state {
    struct px_options opt;
    struct event_base *base;
    unsigned next;                 /* round-robin */
    struct px_conn_list conns;     /* every px_conn, lingering ones too */
};

enum px_phase { PX_CONNECTING, PX_OPEN, PX_CLOSED, PX_DRAINING, PX_LINGER };

struct px_conn {
    LIST_ENTRY(px_conn) link;
    struct px_state *st;
    struct wsg_conn *c;            /* NULL once the client has gone */
    struct bufferevent *bev;       /* the backend; its fd is set once connected */
    struct relay relay;
    enum px_phase phase;
    /* connecting */
    int fd;
    struct event *connect_ev;
    size_t first, tried;
    bool hard_error;               /* some backend refused: 1014 rather than 1013 */
    int last_errno;
    struct event *linger_timer;
};

static void px_free(struct px_conn *pc);

/* ---- options ------------------------------------------------------------ */

static int
px_parse_backend(const char *spec, struct px_backend *b, char *err, size_t errlen)
{
    memset(&b->sa, 0, sizeof(b->sa));
    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&b->sa;
        const char *path = spec + 5;
        if (path[0] == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
            snprintf(err, errlen, "backend \"%s\": the socket path must be 1 to %zu bytes",
                     spec, sizeof(sun->sun_path) - 1);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, strlen(path) + 1);
        b->salen = (socklen_t)sizeof(*sun);
        return 0;
    }
    if (strncmp(spec, "tcp:", 4) != 0) {
        snprintf(err, errlen, "backend \"%s\" must be \"tcp:HOST:PORT\" or \"unix:PATH\"",
                 spec);
        return -1;
    }
    char host[256];
    const char *h = spec + 4, *port;
    if (h[0] == '[') {
        const char *end = strchr(h, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - h - 1) >= sizeof(host))
            goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(end - h - 1), h + 1);
        port = end + 2;
    } else {
        const char *colon = strrchr(h, ':');
        if (colon == NULL || (size_t)(colon - h) >= sizeof(host) || colon == h)
            goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - h), h);
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
        goto bad;
    /* Resolved once, here: the event loop must never block on DNS. */
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "backend \"%s\": cannot resolve \"%s\": %s", spec, host,
                 gai_strerror(rc));
        return -1;
    }
    memcpy(&b->sa, ai->ai_addr, ai->ai_addrlen);
    b->salen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
bad:
    snprintf(err, errlen, "backend \"%s\" must be \"tcp:HOST:PORT\" (\"tcp:[::1]:PORT\" "
             "for IPv6) with a port from 1 to 65535", spec);
    return -1;
}

static int
px_set_backend(struct px_options *o, const config_setting_t *s, char *err, size_t errlen)
{
    char **specs = NULL;
    size_t n = 0;
    if (relay_opt_strings(s, &specs, &n, err, errlen) != 0)
        return -1;
    o->backends = calloc(n, sizeof(*o->backends));
    if (o->backends == NULL) {
        relay_free_strings(specs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        o->backends[i].name = specs[i];
        specs[i] = NULL;
        o->nbackends = i + 1;
        if (px_parse_backend(o->backends[i].name, &o->backends[i], err, errlen) != 0) {
            for (size_t j = i + 1; j < n; j++)
                free(specs[j]);
            free(specs);
            return -1;
        }
    }
    free(specs);
    return 0;
}

static const struct relay_name px_balances[] = {
    { "failover", 0 }, { "round-robin", 1 }, { NULL, 0 },
};

static const struct relay_name px_framings[] = {
    { "lines", RELAY_LINES }, { "length-prefixed", RELAY_LENGTH_PREFIXED },
    { "raw", RELAY_RAW }, { NULL, 0 },
};

static const char *const px_option_names[] = {
    "backend", "balance", "connect_timeout", "framing", "max_line", "max_message",
    "backend_buffer", "preamble", "preamble_headers", NULL,
};

static int
px_set_option(struct px_options *o, const config_setting_t *s, char *err, size_t errlen)
{
    const char *name = config_setting_name(s);
    int v;
    if (name == NULL)
        name = "?";
    if (strcmp(name, "backend") == 0)
        return px_set_backend(o, s, err, errlen);
    if (strcmp(name, "balance") == 0) {
        if (relay_opt_enum(s, px_balances, &v, err, errlen) != 0)
            return -1;
        o->round_robin = v != 0;
        return 0;
    }
    if (strcmp(name, "connect_timeout") == 0)
        return relay_opt_seconds(s, &o->connect_timeout_ms, err, errlen);
    if (strcmp(name, "framing") == 0) {
        if (relay_opt_enum(s, px_framings, &v, err, errlen) != 0)
            return -1;
        o->lim.framing = (enum relay_framing)v;
        return 0;
    }
    if (strcmp(name, "max_line") == 0)
        return relay_opt_size(s, &o->max_line, err, errlen);
    if (strcmp(name, "max_message") == 0)
        return relay_opt_size(s, &o->max_message, err, errlen);
    if (strcmp(name, "backend_buffer") == 0)
        return relay_opt_size(s, &o->lim.high_watermark, err, errlen);
    if (strcmp(name, "preamble") == 0)
        return relay_opt_bool(s, &o->preamble, err, errlen);
    if (strcmp(name, "preamble_headers") == 0)
        return relay_opt_strings(s, &o->preamble_headers, &o->npreamble_headers, err,
                                 errlen);
    relay_unknown_option(name, px_option_names, err, errlen);
    return -1;
}

static void
px_options_free(struct px_options *o)
{
    for (size_t i = 0; i < o->nbackends; i++)
        free(o->backends[i].name);
    free(o->backends);
    relay_free_strings(o->preamble_headers);
}

static int
px_parse_options(struct px_options *o, const config_setting_t *opts, char *err,
                 size_t errlen)
{
    o->connect_timeout_ms = 5000;
    o->lim.framing = RELAY_LINES;
    o->lim.high_watermark = 1 << 20;
    o->max_line = 64 << 10;
    o->max_message = 16 << 20;
    for (int i = 0; opts != NULL && i < config_setting_length(opts); i++) {
        if (px_set_option(o, config_setting_get_elem(opts, (unsigned)i), err, errlen) != 0)
            return -1;
    }
    if (o->nbackends == 0) {
        snprintf(err, errlen, "backend is required: backend = \"tcp:127.0.0.1:9000\";");
        return -1;
    }
    if (o->npreamble_headers > 0 && !o->preamble) {
        snprintf(err, errlen, "preamble_headers is only used with preamble = true");
        return -1;
    }
    o->lim.max_message = o->lim.framing == RELAY_LINES ? o->max_line
                         : o->lim.framing == RELAY_LENGTH_PREFIXED ? o->max_message
                         : (size_t)1 << 20;
    return 0;
}

/* ---- module life -------------------------------------------------------- */

static int
px_init(const struct wsg_module_ctx *ctx, const config_setting_t *opts, void **state,
        char *err, size_t errlen)
{
    struct px_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (px_parse_options(&st->opt, opts, err, errlen) != 0) {
        px_options_free(&st->opt);
        free(st);
        return -1;
    }
    st->base = ctx->base;
    LIST_INIT(&st->conns);
    *state = st;
    return 0;
}

static void
px_fini(void *state)
{
    struct px_state *st = state;
    while (!LIST_EMPTY(&st->conns))
        px_free(LIST_FIRST(&st->conns));
    px_options_free(&st->opt);
    free(st);
}

/* ---- the preamble --------------------------------------------------------- */

static void
json_string(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            evbuffer_add_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            evbuffer_add_printf(b, "\\u%04x", *p);
        else
            evbuffer_add(b, p, 1);
    }
    evbuffer_add(b, "\"", 1);
}

/* Bytes that are not UTF-8 (a Latin-1 header, say) would make the line
 * invalid JSON: such values are left out. */
static bool
json_safe(const char *s)
{
    return relay_utf8_valid((const uint8_t *)s, strlen(s));
}

static void
px_write_preamble(struct px_conn *pc, struct evbuffer *out)
{
    const struct px_options *o = &pc->st->opt;
    struct wsg_conn *c = pc->c;
    char addr[64], port[16];
    relay_split_peer(wsg_conn_peer(c), addr, sizeof(addr), port, sizeof(port));
    const char *target = wsg_conn_target(c);
    const char *q = strchr(target, '?');
    size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
    char *path = strndup(target, plen);

    evbuffer_add_printf(out, "{\"remote_addr\":");
    json_string(out, addr);
    evbuffer_add_printf(out, ",\"remote_port\":%ld,\"secure\":%s,\"path\":",
                        strtol(port, NULL, 10), wsg_conn_secure(c) ? "true" : "false");
    json_string(out, path != NULL && json_safe(path) ? path : "");
    evbuffer_add_printf(out, ",\"query\":");
    json_string(out, q != NULL && json_safe(q + 1) ? q + 1 : "");
    evbuffer_add_printf(out, ",\"subprotocol\":");
    if (wsg_conn_subprotocol(c) != NULL)
        json_string(out, wsg_conn_subprotocol(c));
    else
        evbuffer_add_printf(out, "null");
    evbuffer_add_printf(out, ",\"headers\":{");
    bool first = true;
    for (size_t i = 0; i < o->npreamble_headers; i++) {
        const char *v = wsg_conn_header(c, o->preamble_headers[i]);
        if (v == NULL || strlen(v) > PREAMBLE_MAX_HEADER || !json_safe(v))
            continue;
        char lower[128];
        snprintf(lower, sizeof(lower), "%s", o->preamble_headers[i]);
        for (char *p = lower; *p != '\0'; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        if (!first)
            evbuffer_add(out, ",", 1);
        first = false;
        json_string(out, lower);
        evbuffer_add(out, ":", 1);
        json_string(out, v);
    }
    evbuffer_add_printf(out, "}}\n");
    free(path);
}

/* ---- connecting ----------------------------------------------------------- */

static void px_connect_cb(evutil_socket_t fd, short what, void *arg);

static void
px_connected(struct px_conn *pc, int fd)
{
    const struct px_backend *b = &pc->st->opt.backends[(pc->first + pc->tried - 1)
                                                       % pc->st->opt.nbackends];
    if (b->sa.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    pc->fd = -1;
    pc->phase = PX_OPEN;
    bufferevent_setfd(pc->bev, fd);
    bufferevent_enable(pc->bev, EV_WRITE);
    if (!pc->relay.rd_paused)
        bufferevent_enable(pc->bev, EV_READ);
    if (pc->c != NULL)
        wsg_log(LOG_DEBUG, "%s: proxied to backend %s", wsg_conn_peer(pc->c), b->name);
}

/* Try the backends not tried yet, from pc->first on.  0: connected or
 * connecting; -1: none left. */
static int
px_connect_next(struct px_conn *pc)
{
    const struct px_options *o = &pc->st->opt;
    while (pc->tried < o->nbackends) {
        const struct px_backend *b = &o->backends[(pc->first + pc->tried) % o->nbackends];
        pc->tried++;
        int fd = socket(b->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            pc->last_errno = errno;
            pc->hard_error = true;
            continue;
        }
        if (connect(fd, (const struct sockaddr *)&b->sa, b->salen) == 0) {
            px_connected(pc, fd);
            return 0;
        }
        if (errno == EINPROGRESS) {
            struct timeval tv = { .tv_sec = o->connect_timeout_ms / 1000,
                                  .tv_usec = (o->connect_timeout_ms % 1000) * 1000 };
            pc->fd = fd;
            pc->connect_ev = event_new(pc->st->base, fd, EV_WRITE, px_connect_cb, pc);
            if (pc->connect_ev != NULL && event_add(pc->connect_ev, &tv) == 0)
                return 0;
            if (pc->connect_ev != NULL)
                event_free(pc->connect_ev);
            pc->connect_ev = NULL;
            pc->fd = -1;
            errno = ENOMEM;
        }
        pc->last_errno = errno;
        if (errno != EAGAIN)        /* a full Unix listen queue is "busy" */
            pc->hard_error = true;
        wsg_log(LOG_DEBUG, "%s: backend %s: %s", pc->c != NULL ? wsg_conn_peer(pc->c) : "-",
                b->name, strerror(errno));
        close(fd);
    }
    return -1;
}

/* What the client is told when no backend took the connection. */
static uint16_t
px_give_up_code(const struct px_conn *pc, char *reason, size_t len)
{
    if (pc->hard_error) {
        snprintf(reason, len, "no backend reachable: %s", strerror(pc->last_errno));
        return RELAY_CLOSE_BAD_GATEWAY;
    }
    snprintf(reason, len, "backend busy or not answering: %s", strerror(pc->last_errno));
    return RELAY_CLOSE_TRY_AGAIN;
}

static void
px_connect_cb(evutil_socket_t fd, short what, void *arg)
{
    struct px_conn *pc = arg;
    int e = ETIMEDOUT;
    if (what & EV_WRITE) {
        socklen_t elen = sizeof(e);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
            e = errno;
    }
    event_free(pc->connect_ev);
    pc->connect_ev = NULL;
    if (e == 0) {
        px_connected(pc, fd);
        return;
    }
    const struct px_options *o = &pc->st->opt;
    wsg_log(LOG_DEBUG, "%s: backend %s: %s", pc->c != NULL ? wsg_conn_peer(pc->c) : "-",
            o->backends[(pc->first + pc->tried - 1) % o->nbackends].name, strerror(e));
    close(fd);
    pc->fd = -1;
    pc->last_errno = e;
    if (e != ETIMEDOUT)
        pc->hard_error = true;
    if (px_connect_next(pc) == 0)
        return;
    char reason[120];
    uint16_t code = px_give_up_code(pc, reason, sizeof(reason));
    pc->phase = PX_CLOSED;
    if (pc->c != NULL) {
        wsg_log(LOG_WARNING, "%s: %s", wsg_conn_peer(pc->c), reason);
        wsg_conn_close(pc->c, code, reason);
    }
}

/* ---- the backend's events ------------------------------------------------- */

static void
px_linger_done(struct px_conn *pc)
{
    px_free(pc);
}

static void
px_linger_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    px_linger_done(arg);
}

/* The client is gone and the backend has everything: FIN, then wait for
 * the backend's EOF so that closing never resets what it still sends. */
static void
px_start_linger(struct px_conn *pc)
{
    pc->phase = PX_LINGER;
    shutdown(bufferevent_getfd(pc->bev), SHUT_WR);
    bufferevent_disable(pc->bev, EV_WRITE);
    bufferevent_enable(pc->bev, EV_READ);
}

static void
px_read_cb(struct bufferevent *bev, void *arg)
{
    struct px_conn *pc = arg;
    if (pc->phase == PX_OPEN) {
        relay_from_backend(&pc->relay);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void
px_write_cb(struct bufferevent *bev, void *arg)
{
    struct px_conn *pc = arg;
    if (pc->phase == PX_OPEN)
        relay_backend_drained(&pc->relay);
    else if (pc->phase == PX_DRAINING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        px_start_linger(pc);
}

static void
px_backend_eof(struct px_conn *pc)
{
    if (relay_backend_eof(&pc->relay)) {
        pc->phase = PX_CLOSED;
        wsg_conn_close(pc->c, RELAY_CLOSE_NORMAL, "backend closed the connection");
    }
}

static void
px_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct px_conn *pc = arg;
    (void)bev;
    if (pc->phase == PX_DRAINING && !(what & BEV_EVENT_ERROR))
        return;    /* it stopped sending: it may still read what we owe it */
    if (pc->phase == PX_DRAINING || pc->phase == PX_LINGER) {
        px_linger_done(pc);
        return;
    }
    if (pc->phase != PX_OPEN)
        return;
    bufferevent_disable(pc->bev, EV_READ | EV_WRITE);
    if (what & BEV_EVENT_EOF) {
        px_backend_eof(pc);
        return;
    }
    char reason[100];
    snprintf(reason, sizeof(reason), "backend error: %s", strerror(errno));
    wsg_log(LOG_INFO, "%s: %s", wsg_conn_peer(pc->c), reason);
    pc->phase = PX_CLOSED;
    relay_discard_client(&pc->relay);
    wsg_conn_close(pc->c, RELAY_CLOSE_INTERNAL, reason);
}

/* ---- connections ---------------------------------------------------------- */

static void
px_free(struct px_conn *pc)
{
    LIST_REMOVE(pc, link);
    if (pc->connect_ev != NULL)
        event_free(pc->connect_ev);
    if (pc->fd >= 0)
        close(pc->fd);
    if (pc->linger_timer != NULL)
        event_free(pc->linger_timer);
    if (pc->bev != NULL)
        bufferevent_free(pc->bev);   /* closes the backend socket */
    free(pc);
}

static int
px_open(struct wsg_conn *c, void *state)
{
    struct px_state *st = state;
    struct px_conn *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return RELAY_CLOSE_TRY_AGAIN;
    pc->st = st;
    pc->c = c;
    pc->fd = -1;
    LIST_INSERT_HEAD(&st->conns, pc, link);
    pc->bev = bufferevent_socket_new(st->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (pc->bev == NULL) {
        px_free(pc);
        return RELAY_CLOSE_TRY_AGAIN;
    }
    bufferevent_setcb(pc->bev, px_read_cb, px_write_cb, px_event_cb, pc);
    bufferevent_setwatermark(pc->bev, EV_WRITE, st->opt.lim.high_watermark / 2, 0);
    relay_init(&pc->relay, c, pc->bev, pc->bev, &st->opt.lim);
    if (st->opt.preamble)
        px_write_preamble(pc, bufferevent_get_output(pc->bev));
    pc->first = st->opt.round_robin ? st->next++ % st->opt.nbackends : 0;
    pc->phase = PX_CONNECTING;
    if (px_connect_next(pc) != 0) {
        char reason[120];
        uint16_t code = px_give_up_code(pc, reason, sizeof(reason));
        wsg_log(LOG_WARNING, "%s: %s", wsg_conn_peer(c), reason);
        wsg_conn_close(c, code, reason);
        px_free(pc);
        return code;
    }
    wsg_conn_set_data(c, pc);
    return 0;
}

static void
px_message(struct wsg_conn *c, const struct wsg_message *m, void *state)
{
    struct px_conn *pc = wsg_conn_get_data(c);
    (void)state;
    if (pc->phase != PX_OPEN && pc->phase != PX_CONNECTING)
        return;
    if (relay_from_client(&pc->relay, m) != 0)
        wsg_conn_close(c, RELAY_CLOSE_INTERNAL, "out of memory");
}

static void
px_drain(struct wsg_conn *c, void *state)
{
    struct px_conn *pc = wsg_conn_get_data(c);
    (void)state;
    if (pc->phase != PX_OPEN)
        return;
    relay_client_drained(&pc->relay);
    if (pc->relay.eof && !pc->relay.rd_paused)
        px_backend_eof(pc);
}

static void
px_close(struct wsg_conn *c, uint16_t code, void *state)
{
    struct px_conn *pc = wsg_conn_get_data(c);
    (void)code, (void)state;
    pc->c = NULL;
    pc->relay.conn = NULL;
    if (pc->phase != PX_OPEN) {
        px_free(pc);
        return;
    }
    struct timeval tv = { .tv_sec = LINGER_MS / 1000, .tv_usec = 0 };
    pc->linger_timer = evtimer_new(pc->st->base, px_linger_timeout, pc);
    if (pc->linger_timer == NULL || evtimer_add(pc->linger_timer, &tv) != 0) {
        px_free(pc);
        return;
    }
    bufferevent_setwatermark(pc->bev, EV_WRITE, 0, 0);
    if (evbuffer_get_length(bufferevent_get_output(pc->bev)) == 0) {
        px_start_linger(pc);
    } else {
        pc->phase = PX_DRAINING;
        bufferevent_enable(pc->bev, EV_READ | EV_WRITE);
    }
}

const struct wsg_module wsg_module = {
    .abi = WSG_MODULE_ABI,
    .name = "proxy",
    .init = px_init,
    .fini = px_fini,
    .on_open = px_open,
    .on_message = px_message,
    .on_drain = px_drain,
    .on_close = px_close,
};
