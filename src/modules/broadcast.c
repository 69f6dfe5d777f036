/*
 * broadcast.c - the broadcast module: every message a client sends goes to
 * every other client in the same room of the endpoint.
 *
 * Options (the endpoint's `options` group; anything else is refused):
 *   room = "none"          one room per endpoint (default)
 *          "query"         the room is the query parameter room_param
 *                          (default "room"): /chat?room=lobby
 *          "path"          the room is the path below the endpoint's:
 *                          /chat/lobby with path = "/chat"; match = "prefix"
 *   room_param = "room"    with room = "query" only
 *   echo_to_sender = false also send each message back to its sender
 *   max_members = 0        per room, 0 = unlimited; one more is closed 1013
 *   accept = "any"         "text" or "binary": the other type closes 1003
 *   backplane = ""         "redis://host[:port][/db]" or "unix:/path": the
 *                          rooms span every node on the same Redis
 *   backplane_password     AUTH with it
 *   backplane_prefix = "wsgate:"  of the Redis channels and keys
 * Room names are the raw bytes of the request target (no percent-decoding),
 * at most BC_ROOM_MAX of them; a missing or empty one is the room "".
 *
 * Each connection owns one member node, allocated in on_open and freed in
 * on_close; rooms.c links it into its room.  A message is framed once and
 * queued by reference for every receiver (rooms_publish); a slow receiver
 * meets its connection's own output policy and never stalls the others.
 * A reload (SIGHUP) keeps the rooms and applies the new options (reload).
 *
 * With a backplane (backplane.c), a local sender's message is also
 * published once to Redis, and messages other nodes publish are delivered
 * here through rooms_deliver(), framed once for every local member.
 * Without one but with workers = N, the workers' instances pass messages
 * to each other the same way, through the in-memory workerbus.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "wsgate/module.h"

#include "backplane.h"
#include "rooms.h"
#include "workerbus.h"

#define BC_ROOM_MAX 128         /* bytes of a room name */
#define BC_PARAM_MAX 64         /* bytes of room_param */
#define BC_SECRET_MAX 256       /* bytes of backplane_password */

/* Close codes (RFC 6455 7.4.1). */
#define BC_CLOSE_UNSUPPORTED 1003
#define BC_CLOSE_POLICY 1008
#define BC_CLOSE_INTERNAL 1011
#define BC_CLOSE_TRY_AGAIN 1013

enum bc_room_mode { BC_ROOM_NONE, BC_ROOM_QUERY, BC_ROOM_PATH };
enum bc_accept { BC_ACCEPT_ANY, BC_ACCEPT_TEXT, BC_ACCEPT_BINARY };

struct bc_options {
    enum bc_room_mode room_mode;
    char room_param[BC_PARAM_MAX + 1];
    bool room_param_set;
    bool echo_to_sender;
    size_t max_members;
    enum bc_accept accept;
    char backplane[BACKPLANE_URL_MAX];          /* "" for none */
    char backplane_password[BC_SECRET_MAX + 1]; /* "" for none */
    char backplane_prefix[BACKPLANE_PREFIX_MAX + 1];
};

struct bc_state;

/* What a backplane metric's callback gets: the instance and the figure
 * (the backplane itself may change on a reload). */
struct bc_figure_arg {
    struct bc_state *st;
    enum backplane_figure figure;
};

struct bc_state {
    struct bc_options opt;
    char *endpoint;             /* the endpoint's path */
    struct rooms *rooms;
    struct backplane *bp;       /* NULL without one */
    struct workerbus *bus;      /* the other workers' instances; NULL with one worker */
    unsigned worker;            /* which worker this instance serves */
    struct bc_figure_arg figures[BACKPLANE_FIGURES];
};

/* ---- options ------------------------------------------------------------ */

struct bc_name {
    const char *name;
    int value;
};

static const struct bc_name bc_room_modes[] = {
    { "none", BC_ROOM_NONE }, { "query", BC_ROOM_QUERY }, { "path", BC_ROOM_PATH },
    { NULL, 0 },
};

static const struct bc_name bc_accepts[] = {
    { "any", BC_ACCEPT_ANY }, { "text", BC_ACCEPT_TEXT }, { "binary", BC_ACCEPT_BINARY },
    { NULL, 0 },
};

/* The value of a string option among names, or -1 with a message. */
static int
bc_enum(const config_setting_t *s, const struct bc_name *names, char *err, size_t errlen)
{
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
                    ? config_setting_get_string(s) : NULL;
    char valid[128] = "";
    for (const struct bc_name *n = names; n->name != NULL; n++) {
        if (v != NULL && strcmp(v, n->name) == 0)
            return n->value;
        size_t used = strlen(valid);
        snprintf(valid + used, sizeof(valid) - used, "%s\"%s\"",
                 n == names ? "" : ", ", n->name);
    }
    if (v == NULL)
        snprintf(err, errlen, "%s must be one of %s", config_setting_name(s), valid);
    else
        snprintf(err, errlen, "%s must be one of %s, not \"%s\"",
                 config_setting_name(s), valid, v);
    return -1;
}

static int
bc_set_room(struct bc_options *o, const config_setting_t *s, char *err, size_t errlen)
{
    int v = bc_enum(s, bc_room_modes, err, errlen);
    if (v < 0)
        return -1;
    o->room_mode = (enum bc_room_mode)v;
    return 0;
}

static int
bc_set_accept(struct bc_options *o, const config_setting_t *s, char *err, size_t errlen)
{
    int v = bc_enum(s, bc_accepts, err, errlen);
    if (v < 0)
        return -1;
    o->accept = (enum bc_accept)v;
    return 0;
}

/* A query parameter's name: what may stand before "=" in "a=1&b=2". */
static int
bc_set_room_param(struct bc_options *o, const config_setting_t *s, char *err, size_t errlen)
{
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
                    ? config_setting_get_string(s) : NULL;
    if (v == NULL) {
        snprintf(err, errlen, "room_param must be a string");
        return -1;
    }
    size_t len = strlen(v);
    if (len == 0 || len > BC_PARAM_MAX) {
        snprintf(err, errlen, "room_param must be 1 to %d bytes long", BC_PARAM_MAX);
        return -1;
    }
    for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++) {
        if (*c <= 0x20 || *c >= 0x7f || strchr("&=#?%+", *c) != NULL) {
            snprintf(err, errlen, "room_param \"%s\" is not a query parameter name "
                     "(printable ASCII without spaces or &=#?%%+)", v);
            return -1;
        }
    }
    memcpy(o->room_param, v, len + 1);
    o->room_param_set = true;
    return 0;
}

static int
bc_set_echo_to_sender(struct bc_options *o, const config_setting_t *s, char *err,
                      size_t errlen)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        snprintf(err, errlen, "echo_to_sender must be true or false");
        return -1;
    }
    o->echo_to_sender = config_setting_get_bool(s);
    return 0;
}

static int
bc_set_max_members(struct bc_options *o, const config_setting_t *s, char *err,
                   size_t errlen)
{
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
        snprintf(err, errlen, "max_members must be an integer (0 = unlimited)");
        return -1;
    }
    long long n = config_setting_get_int64(s);
    if (n < 0 || n > UINT32_MAX) {
        snprintf(err, errlen, "max_members must be between 0 and %lu (0 = unlimited), "
                 "not %lld", (unsigned long)UINT32_MAX, n);
        return -1;
    }
    o->max_members = (size_t)n;
    return 0;
}

/* A string option of at most max bytes into buf. */
static int
bc_set_string(char *buf, size_t max, const config_setting_t *s, char *err, size_t errlen)
{
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
                    ? config_setting_get_string(s) : NULL;
    if (v == NULL || strlen(v) > max) {
        snprintf(err, errlen, "%s must be a string of at most %zu bytes",
                 config_setting_name(s), max);
        return -1;
    }
    strcpy(buf, v);
    return 0;
}

static int
bc_set_backplane(struct bc_options *o, const config_setting_t *s, char *err,
                 size_t errlen)
{
    struct backplane_addr a;
    if (bc_set_string(o->backplane, sizeof(o->backplane) - 1, s, err, errlen) != 0)
        return -1;
    return o->backplane[0] == '\0' ? 0 : backplane_parse_url(&a, o->backplane, err, errlen);
}

static int
bc_set_backplane_password(struct bc_options *o, const config_setting_t *s, char *err,
                          size_t errlen)
{
    return bc_set_string(o->backplane_password, BC_SECRET_MAX, s, err, errlen);
}

static int
bc_set_backplane_prefix(struct bc_options *o, const config_setting_t *s, char *err,
                        size_t errlen)
{
    return bc_set_string(o->backplane_prefix, BACKPLANE_PREFIX_MAX, s, err, errlen);
}

static const struct bc_option {
    const char *name;
    int (*set)(struct bc_options *o, const config_setting_t *s, char *err, size_t errlen);
} bc_option_table[] = {
    { "room", bc_set_room },
    { "room_param", bc_set_room_param },
    { "echo_to_sender", bc_set_echo_to_sender },
    { "max_members", bc_set_max_members },
    { "accept", bc_set_accept },
    { "backplane", bc_set_backplane },
    { "backplane_password", bc_set_backplane_password },
    { "backplane_prefix", bc_set_backplane_prefix },
    { NULL, NULL },
};

static int
bc_set_option(struct bc_options *o, const config_setting_t *s, char *err, size_t errlen)
{
    const char *name = config_setting_name(s);
    char valid[256] = "";
    for (const struct bc_option *opt = bc_option_table; opt->name != NULL; opt++) {
        if (name != NULL && strcmp(name, opt->name) == 0)
            return opt->set(o, s, err, errlen);
        size_t used = strlen(valid);
        snprintf(valid + used, sizeof(valid) - used, "%s%s",
                 opt == bc_option_table ? "" : ", ", opt->name);
    }
    snprintf(err, errlen, "unknown option \"%s\" (valid: %s)",
             name != NULL ? name : "?", valid);
    return -1;
}

static int
bc_parse_options(struct bc_options *o, const config_setting_t *opts, char *err,
                 size_t errlen)
{
    o->room_mode = BC_ROOM_NONE;
    strcpy(o->room_param, "room");
    o->accept = BC_ACCEPT_ANY;
    strcpy(o->backplane_prefix, "wsgate:");
    for (int i = 0; opts != NULL && i < config_setting_length(opts); i++) {
        if (bc_set_option(o, config_setting_get_elem(opts, i), err, errlen) != 0)
            return -1;
    }
    if (o->room_param_set && o->room_mode != BC_ROOM_QUERY) {
        snprintf(err, errlen, "room_param is only used with room = \"query\"");
        return -1;
    }
    if (o->backplane[0] == '\0' && o->backplane_password[0] != '\0') {
        snprintf(err, errlen, "backplane_password is only used with a backplane");
        return -1;
    }
    return 0;
}

/* ---- the room a request asks for --------------------------------------- */

/* The path of a request target: origin-form as is, absolute-form without
 * its scheme://authority. */
static const char *
bc_target_path(const char *target)
{
    if (target[0] != '/') {
        const char *p = strstr(target, "://");
        if (p != NULL)
            return p + 3 + strcspn(p + 3, "/?#");
    }
    return target;
}

/* room = "path": what follows the endpoint's path and one "/". */
static void
bc_room_from_path(const struct bc_state *st, const char *path, const char **name,
                  size_t *len)
{
    size_t plen = strcspn(path, "?#");
    size_t elen = strlen(st->endpoint);
    *name = "";
    *len = 0;
    if (plen < elen || memcmp(path, st->endpoint, elen) != 0)
        return;
    const char *rest = path + elen;
    size_t rlen = plen - elen;
    if (rlen > 0 && rest[0] == '/')
        rest++, rlen--;
    *name = rest;
    *len = rlen;
}

/* room = "query": the first room_param=VALUE of the query. */
static void
bc_room_from_query(const struct bc_state *st, const char *path, const char **name,
                   size_t *len)
{
    size_t plen = strlen(st->opt.room_param);
    const char *q = strchr(path, '?');
    *name = "";
    *len = 0;
    if (q == NULL)
        return;
    q++;
    size_t qlen = strcspn(q, "#");
    while (qlen > 0) {
        size_t n = strcspn(q, "&#");
        if (n >= plen && memcmp(q, st->opt.room_param, plen) == 0
            && (n == plen || q[plen] == '=')) {
            *name = n > plen ? q + plen + 1 : q + plen;
            *len = n > plen ? n - plen - 1 : 0;
            return;
        }
        q += n;
        qlen -= n;
        if (qlen > 0)
            q++, qlen--; /* the "&" */
    }
}

static void
bc_room_of(const struct bc_state *st, const char *target, const char **name, size_t *len)
{
    const char *path = bc_target_path(target != NULL ? target : "");
    switch (st->opt.room_mode) {
    case BC_ROOM_PATH:
        bc_room_from_path(st, path, name, len);
        break;
    case BC_ROOM_QUERY:
        bc_room_from_query(st, path, name, len);
        break;
    case BC_ROOM_NONE:
    default:
        *name = "";
        *len = 0;
        break;
    }
}

/* A room name for the log: bytes outside printable ASCII as \xHH. */
static const char *
bc_printable(const char *name, size_t len, char *buf, size_t buflen)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < buflen; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", ch);
        else
            buf[o++] = (char)ch;
    }
    buf[o] = '\0';
    return buf;
}

static void
bc_log_member(const struct bc_state *st, struct wsg_conn *c, const char *what,
              const char *name, size_t len, size_t members)
{
    char buf[4 * BC_ROOM_MAX + 1];
    wsg_log(LOG_DEBUG, "%s: %s room \"%s\" of %s (%zu member%s)", wsg_conn_peer(c), what,
            bc_printable(name, len, buf, sizeof(buf)), st->endpoint, members,
            members == 1 ? "" : "s");
}

/* ---- the backplane ------------------------------------------------------- */

/* A message from another node or worker: framed once for every local
 * member. */
static void
bc_deliver_remote(void *arg, const char *name, size_t len, enum wsg_message_type type,
                  const void *data, size_t dlen)
{
    struct bc_state *st = arg;
    struct room *room = rooms_find(st->rooms, name, len);
    if (room == NULL)
        return;
    struct wsg_shared_msg *msg = wsg_shared_msg_new(type, data, dlen);
    if (msg == NULL) {
        wsg_log(LOG_WARNING, "cannot deliver a message of %zu bytes from another node: "
                "out of memory", dlen);
        return;
    }
    rooms_deliver(room, NULL, msg, NULL);
    wsg_shared_msg_unref(msg);
}

static int
bc_backplane_start(struct bc_state *st, struct event_base *base, char *err, size_t errlen)
{
    if (st->opt.backplane[0] == '\0' || base == NULL)
        return 0;
    struct backplane_cfg cfg = {
        .url = st->opt.backplane,
        .password = st->opt.backplane_password[0] != '\0'
                    ? st->opt.backplane_password : NULL,
        .prefix = st->opt.backplane_prefix,
        .endpoint = st->endpoint,
    };
    st->bp = backplane_new(base, &cfg, bc_deliver_remote, st, err, errlen);
    return st->bp != NULL ? 0 : -1;
}

/* ---- module callbacks ---------------------------------------------------- */

static void bc_fini(void *state);

/* The daemon sums every worker's series.  A room may have members on
 * several workers, so with the bus worker 0 reports the rooms of them all
 * (the bus counts them) and the others nothing. */
static double
bc_metric_rooms(void *state)
{
    struct bc_state *st = state;
    if (st->bus != NULL)
        return st->worker == 0 ? (double)workerbus_rooms(st->bus) : 0;
    return (double)rooms_count(st->rooms);
}

static double
bc_metric_members(void *state)
{
    return (double)rooms_members(((struct bc_state *)state)->rooms);
}

static double
bc_metric_backplane(void *arg)
{
    const struct bc_figure_arg *a = arg;
    return a->st->bp != NULL ? (double)backplane_figure(a->st->bp, a->figure) : 0;
}

static void
bc_register_backplane_metrics(struct bc_state *st)
{
    static const struct {
        const char *name, *help;
        enum wsg_metric_type type;
    } m[BACKPLANE_FIGURES] = {
        [BACKPLANE_UP] = { "wsgate_backplane_up", "1 while the Redis backplane is connected",
                           WSG_METRIC_GAUGE },
        [BACKPLANE_CONNECTS] = { "wsgate_backplane_connects_total",
                                 "Connections made to the Redis backplane", WSG_METRIC_COUNTER },
        [BACKPLANE_PUBLISHED] = { "wsgate_backplane_published_total",
                                  "Messages published to other nodes", WSG_METRIC_COUNTER },
        [BACKPLANE_DROPPED] = { "wsgate_backplane_dropped_total",
                                "Messages not published: Redis unreachable or too far behind",
                                WSG_METRIC_COUNTER },
        [BACKPLANE_RECEIVED] = { "wsgate_backplane_received_total",
                                 "Messages received from other nodes", WSG_METRIC_COUNTER },
        [BACKPLANE_MALFORMED] = { "wsgate_backplane_malformed_total",
                                  "Messages on our channels that were not wsgated's",
                                  WSG_METRIC_COUNTER },
    };
    for (int i = 0; i < BACKPLANE_FIGURES; i++) {
        st->figures[i] = (struct bc_figure_arg){ .st = st, .figure = (enum backplane_figure)i };
        wsg_metric_register(m[i].name, m[i].help, m[i].type, st->endpoint,
                            bc_metric_backplane, &st->figures[i]);
    }
}

static int
bc_init(const struct wsg_module_ctx *ctx, const config_setting_t *opts, void **state,
        char *err, size_t errlen)
{
    struct bc_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (bc_parse_options(&st->opt, opts, err, errlen) != 0) {
        free(st);
        return -1;
    }
    st->endpoint = strdup(ctx->endpoint != NULL ? ctx->endpoint : "");
    st->worker = ctx->worker;
    st->rooms = rooms_new();
    if (st->endpoint == NULL || st->rooms == NULL) {
        bc_fini(st);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (bc_backplane_start(st, ctx->base, err, errlen) != 0) {
        bc_fini(st);
        return -1;
    }
    if (st->bp == NULL && ctx->workers > 1 && ctx->base != NULL
        && (st->bus = workerbus_join(ctx->base, st->endpoint, ctx->generation,
                                     bc_deliver_remote, st, err, errlen)) == NULL) {
        bc_fini(st);
        return -1;
    }
    /* On /metrics; wsgated drops them with this instance. */
    wsg_metric_register("wsgate_broadcast_rooms", "Broadcast rooms with members",
                        WSG_METRIC_GAUGE, st->endpoint, bc_metric_rooms, st);
    wsg_metric_register("wsgate_broadcast_members", "Members of all broadcast rooms",
                        WSG_METRIC_GAUGE, st->endpoint, bc_metric_members, st);
    if (st->bp != NULL)
        bc_register_backplane_metrics(st);
    *state = st;
    return 0;
}

static void
bc_fini(void *state)
{
    struct bc_state *st = state;
    if (st == NULL)
        return;
    backplane_free(st->bp);
    workerbus_leave(st->bus);
    rooms_free(st->rooms);
    free(st->endpoint);
    free(st);
}

/* SIGHUP with this endpoint's path and module unchanged: the rooms and
 * their members carry on; the new options apply from the next join or
 * message on (a lower max_members evicts nobody, and members stay in the
 * room they joined even if the room option changed).  A changed backplane
 * cannot apply to rooms already subscribed: new connections then get a
 * fresh instance, on the new backplane. */
static int
bc_reload(void *state, const config_setting_t *opts, char *err, size_t errlen)
{
    struct bc_state *st = state;
    struct bc_options o;
    memset(&o, 0, sizeof(o));
    if (bc_parse_options(&o, opts, err, errlen) != 0)
        return -1;
    if (strcmp(o.backplane, st->opt.backplane) != 0
        || strcmp(o.backplane_password, st->opt.backplane_password) != 0
        || strcmp(o.backplane_prefix, st->opt.backplane_prefix) != 0) {
        snprintf(err, errlen, "the backplane settings changed");
        return -1;
    }
    st->opt = o;
    return 0;
}

/* Refuse a client from on_open with a reason of our own: the close queued
 * here is the one sent (the daemon's own close after a refusal does nothing
 * on a connection already closing). */
static int
bc_refuse(struct wsg_conn *c, uint16_t code, const char *reason)
{
    wsg_conn_close(c, code, reason);
    return code;
}

static int
bc_open(struct wsg_conn *c, void *state)
{
    struct bc_state *st = state;
    const char *name;
    size_t len;
    bc_room_of(st, wsg_conn_target(c), &name, &len);
    if (len > BC_ROOM_MAX)
        return bc_refuse(c, BC_CLOSE_POLICY, "room name too long");

    struct rooms_member *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return bc_refuse(c, BC_CLOSE_INTERNAL, "out of memory");
    m->conn = c;
    /* With workers, the room's size is every worker's: the bus counts it. */
    enum rooms_join_result joined = st->bus != NULL
        ? workerbus_room_join(st->bus, name, len, st->opt.max_members) : ROOMS_JOINED;
    if (joined == ROOMS_JOINED) {
        joined = rooms_join(st->rooms, m, name, len,
                            st->bus != NULL ? 0 : st->opt.max_members);
        if (joined != ROOMS_JOINED && st->bus != NULL)
            workerbus_room_leave(st->bus, name, len);
    }
    switch (joined) {
    case ROOMS_JOINED:
        break;
    case ROOMS_FULL:
        free(m);
        bc_log_member(st, c, "refused by full", name, len, st->opt.max_members);
        return bc_refuse(c, BC_CLOSE_TRY_AGAIN, "room full");
    case ROOMS_NOMEM:
    default:
        free(m);
        return bc_refuse(c, BC_CLOSE_INTERNAL, "out of memory");
    }
    wsg_conn_set_data(c, m);
    bc_log_member(st, c, "joined", name, len, room_members(m->room));
    if (st->bp != NULL)
        backplane_room(st->bp, name, len, room_members(m->room));
    return 0;
}

static bool
bc_accepts_type(const struct bc_state *st, enum wsg_message_type type)
{
    switch (st->opt.accept) {
    case BC_ACCEPT_TEXT: return type == WSG_MESSAGE_TEXT;
    case BC_ACCEPT_BINARY: return type == WSG_MESSAGE_BINARY;
    case BC_ACCEPT_ANY:
    default: return true;
    }
}

static void
bc_message(struct wsg_conn *c, const struct wsg_message *msg, void *state)
{
    struct bc_state *st = state;
    struct rooms_member *m = wsg_conn_get_data(c);
    if (m == NULL)
        return;
    if (!bc_accepts_type(st, msg->type)) {
        wsg_conn_close(c, BC_CLOSE_UNSUPPORTED, st->opt.accept == BC_ACCEPT_TEXT
                       ? "text messages only" : "binary messages only");
        return;
    }
    if (rooms_publish(st->rooms, m, msg->type, msg->data, msg->len,
                      st->opt.echo_to_sender, NULL) < 0)
        wsg_log(LOG_WARNING, "%s: cannot broadcast a message of %zu bytes: out of memory",
                wsg_conn_peer(c), msg->len);
    if (st->bp != NULL && m->room != NULL) {
        size_t len;
        const char *name = room_name(m->room, &len);
        backplane_publish(st->bp, name, len, msg->type, msg->data, msg->len);
    }
    if (st->bus != NULL && m->room != NULL) {
        size_t len;
        const char *name = room_name(m->room, &len);
        workerbus_publish(st->bus, name, len, msg->type, msg->data, msg->len);
    }
}

static void
bc_close(struct wsg_conn *c, uint16_t code, void *state)
{
    struct bc_state *st = state;
    struct rooms_member *m = wsg_conn_get_data(c);
    (void)code;
    if (m == NULL)
        return;
    if (m->room != NULL) {
        size_t len, left = room_members(m->room) - 1;
        char name[BC_ROOM_MAX];
        /* A copy: the room may go with its last member. */
        const char *rn = room_name(m->room, &len);
        memcpy(name, rn, len);
        bc_log_member(st, c, "left", name, len, left);
        rooms_leave(st->rooms, m);
        if (st->bp != NULL)
            backplane_room(st->bp, name, len, left);
        if (st->bus != NULL)
            workerbus_room_leave(st->bus, name, len);
    }
    wsg_conn_set_data(c, NULL);
    free(m);
}

/* Without a backplane, this node's count (every worker's, through the
 * bus).  With one, the count across nodes (each worker is one), known for
 * rooms with local members only; while Redis is unreachable, this
 * worker's count. */
static long
bc_room_members(void *state, const void *name, size_t len)
{
    struct bc_state *st = state;
    if (st->bus != NULL)
        return (long)workerbus_room_members(st->bus, name, len);
    long n = st->bp != NULL ? backplane_members(st->bp, name, len) : -1;
    if (n >= 0)
        return n;
    struct room *room = rooms_find(st->rooms, name, len);
    if (room != NULL)
        return (long)room_members(room);
    return st->bp != NULL ? -1 : 0;
}

const struct wsg_module wsg_module = {
    .abi = WSG_MODULE_ABI,
    .name = "broadcast",
    .init = bc_init,
    .fini = bc_fini,
    .reload = bc_reload,
    .on_open = bc_open,
    .on_message = bc_message,
    .on_close = bc_close,
    .room_members = bc_room_members,
};
