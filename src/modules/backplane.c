/*
 * backplane.c - the broadcast module's Redis pub/sub backplane (see
 * backplane.h), on hiredis's asynchronous API and its libevent adapter.
 *
 * Two connections to Redis: one subscribed (a subscribed connection can
 * only (un)subscribe) and one for PUBLISH and the presence commands.  The
 * backplane is up when both answered their first commands; whenever either
 * fails, both are dropped and made again after a backoff (100 ms doubling
 * to 5 s), then every room with local members is subscribed again.
 *
 * Envelope of a published message, BP_HEADER bytes then the payload:
 *   "WSGB" | version 1 | type (1 text, 2 binary) | 0 0 | node id (64-bit
 *   big-endian) | the node's sequence number (64-bit big-endian)
 *
 * hiredis 0.14 keeps one callback per subscribed channel and drops it on
 * the "unsubscribe" reply, so a SUBSCRIBE sent while an UNSUBSCRIBE of the
 * same channel is in flight would lose its callback: per channel, at most
 * one of them is in flight (struct bp_channel).  It also leaves subscribed
 * mode when the server's count reaches zero, which would break a SUBSCRIBE
 * in flight at that moment: the node's own channel stays subscribed for
 * the connection's lifetime, so the count never does.
 */
#include "backplane.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "rooms.h"

#define BP_MAGIC "WSGB"
#define BP_VERSION 1
#define BP_HEADER 24
#define BP_BACKOFF_MIN_MS 100
#define BP_BACKOFF_MAX_MS 5000
#define BP_CONNECT_TIMEOUT_MS 3000
#define BP_HEARTBEAT_MS 1000
#define BP_NODE_TTL_MS 5000
/* PUBLISHed bytes Redis has not acknowledged yet; beyond, drop. */
#define BP_PENDING_MAX ((size_t)64 << 20)

enum bp_state { BP_DOWN, BP_CONNECTING, BP_UP };

/* A room's channel: exists while the room has local members or a
 * (un)subscribe of its channel is in flight. */
struct bp_channel {
    struct rooms_member m;          /* first: keyed by room name in bp->channels */
    struct bp_channel *prev, *next; /* bp->all */
    size_t local;                   /* local members */
    long cluster;                   /* members on every node, -1 unknown */
    bool want;                      /* local > 0 */
    bool subscribed;                /* confirmed by Redis */
    bool pending;                   /* a (UN)SUBSCRIBE is in flight */
};

struct backplane {
    struct event_base *base;
    struct backplane_addr addr;
    char *url;                      /* for the log */
    char *password;
    char *prefix;
    char *endpoint;
    char *chan_prefix;              /* "<prefix><endpoint>:" */
    size_t chan_prefix_len;
    char *node_key;                 /* "<prefix>node:<id>", also our own channel */
    char node_hex[17];
    uint64_t node_id;
    uint64_t seq;
    backplane_deliver_fn *deliver;
    void *arg;

    redisAsyncContext *pub, *sub;
    bool pub_ready, sub_ready;
    enum bp_state state;
    bool outage_logged;             /* this outage has been reported */
    bool behind_logged;
    unsigned hb_unanswered;         /* heartbeats sent since Redis last answered */
    unsigned backoff_ms;
    struct event *retry;            /* (re)connect, connect timeout */
    struct event *heartbeat;
    size_t pending_bytes;
    unsigned long malformed;
    uint64_t connects, published, dropped, received;

    struct rooms *channels;
    struct bp_channel *all;
};

/* Sets our count of a room, then sums the counts of live nodes, dropping
 * those of nodes whose heartbeat key has expired.  KEYS[1] the presence
 * hash; ARGV: our node id, our count, the heartbeat key prefix, TTL ms. */
static const char bp_presence_lua[] =
    "local k, me, n, np = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]\n"
    "if n > 0 then redis.call('HSET', k, me, n) else redis.call('HDEL', k, me) end\n"
    "local total, f = 0, redis.call('HGETALL', k)\n"
    "for i = 1, #f, 2 do\n"
    "  if redis.call('EXISTS', np .. f[i]) == 1 then total = total + tonumber(f[i + 1])\n"
    "  else redis.call('HDEL', k, f[i]) end\n"
    "end\n"
    "if total > 0 then redis.call('PEXPIRE', k, ARGV[4]) end\n"
    "return total\n";

static void bp_fail(struct backplane *bp, const char *why);

/* ---- names and the envelope -------------------------------------------- */

int
backplane_parse_url(struct backplane_addr *a, const char *url, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    if (strncmp(url, "unix:", 5) == 0) {
        const char *path = url + 5;
        if (path[0] != '/' || strlen(path) >= sizeof(a->host)) {
            snprintf(err, errlen, "backplane \"%s\": want unix:/absolute/path", url);
            return -1;
        }
        strcpy(a->host, path);
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "backplane \"%s\": want redis://host[:port][/db] "
                 "or unix:/path", url);
        return -1;
    }
    const char *h = url + 8, *end = h + strcspn(h, ":/");
    if (strchr(h, '@') != NULL) {
        snprintf(err, errlen, "backplane \"%s\": give the password as "
                 "backplane_password, not in the URL", url);
        return -1;
    }
    if (end == h || (size_t)(end - h) >= sizeof(a->host)) {
        snprintf(err, errlen, "backplane \"%s\": no host", url);
        return -1;
    }
    memcpy(a->host, h, (size_t)(end - h));
    a->port = 6379;
    if (*end == ':') {
        char *e;
        long p = strtol(end + 1, &e, 10);
        if (e == end + 1 || p < 1 || p > 65535 || (*e != '\0' && *e != '/')) {
            snprintf(err, errlen, "backplane \"%s\": bad port", url);
            return -1;
        }
        a->port = (int)p;
        end = e;
    }
    if (*end == '/' && end[1] != '\0') {
        char *e;
        long db = strtol(end + 1, &e, 10);
        if (e == end + 1 || *e != '\0' || db < 0 || db > 65535) {
            snprintf(err, errlen, "backplane \"%s\": bad database number", url);
            return -1;
        }
        a->db = (int)db;
    }
    return 0;
}

/* a, b and c, then len bytes of tail, NUL-terminated (the tail may hold
 * NULs: *outlen); NULL when out of memory. */
static char *
bp_name(const char *a, const char *b, const char *c, const char *tail, size_t len,
        size_t *outlen)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc);
    if (len > 0)
        memcpy(s + la + lb + lc, tail, len);
    s[la + lb + lc + len] = '\0';
    if (outlen != NULL)
        *outlen = la + lb + lc + len;
    return s;
}

static void
store_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t
load_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint64_t
bp_random_id(void)
{
    uint64_t id;
    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) == sizeof(id) && id != 0)
        return id;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)ts.tv_sec
           ^ (uint64_t)getpid() << 32;
}

/* ---- channels ------------------------------------------------------------ */

static struct bp_channel *
bp_channel_find(const struct backplane *bp, const char *room, size_t len)
{
    struct room *r = rooms_find(bp->channels, room, len);
    return r != NULL ? (struct bp_channel *)room_first(r) : NULL;
}

static struct bp_channel *
bp_channel_new(struct backplane *bp, const char *room, size_t len)
{
    struct bp_channel *ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return NULL;
    if (rooms_join(bp->channels, &ch->m, room, len, 0) != ROOMS_JOINED) {
        free(ch);
        return NULL;
    }
    ch->cluster = -1;
    ch->next = bp->all;
    if (bp->all != NULL)
        bp->all->prev = ch;
    bp->all = ch;
    return ch;
}

static void
bp_channel_free(struct backplane *bp, struct bp_channel *ch)
{
    rooms_leave(bp->channels, &ch->m);
    if (ch->prev != NULL)
        ch->prev->next = ch->next;
    else
        bp->all = ch->next;
    if (ch->next != NULL)
        ch->next->prev = ch->prev;
    free(ch);
}

static const char *
bp_channel_room(const struct bp_channel *ch, size_t *len)
{
    return room_name(ch->m.room, len);
}

static void bp_sub_reply(redisAsyncContext *ac, void *reply, void *priv);

/* Brings the channel's subscription to what its room wants, one command
 * in flight at a time; frees it once it is neither wanted nor subscribed. */
static void
bp_channel_sync(struct backplane *bp, struct bp_channel *ch)
{
    if (ch->pending)
        return;
    if (ch->want == ch->subscribed) {
        if (!ch->want)
            bp_channel_free(bp, ch);
        return;
    }
    if (bp->state != BP_UP)
        return;             /* subscribed again once up; nothing to undo while down */
    size_t rlen, clen;
    const char *room = bp_channel_room(ch, &rlen);
    char *chan = bp_name(bp->chan_prefix, "", "", room, rlen, &clen);
    if (chan == NULL)
        return;
    const char *argv[2] = { ch->want ? "SUBSCRIBE" : "UNSUBSCRIBE", chan };
    size_t lens[2] = { strlen(argv[0]), clen };
    if (redisAsyncCommandArgv(bp->sub, ch->want ? bp_sub_reply : NULL, NULL, 2, argv,
                              lens) == REDIS_OK)
        ch->pending = true;
    free(chan);
}

/* ---- presence ------------------------------------------------------------ */

struct bp_presence_req {
    struct backplane *bp;
    size_t len;
    char room[];
};

static void
bp_presence_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct bp_presence_req *req = priv;
    redisReply *r = reply;
    (void)ac;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
        struct bp_channel *ch = bp_channel_find(req->bp, req->room, req->len);
        if (ch != NULL && ch->want)
            ch->cluster = (long)r->integer;
    } else if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        wsg_log(LOG_WARNING, "backplane %s: presence update failed: %s", req->bp->url,
                r->str);
    }
    free(req);
}

static void
bp_presence(struct backplane *bp, struct bp_channel *ch)
{
    if (bp->state != BP_UP)
        return;
    size_t rlen, klen;
    const char *room = bp_channel_room(ch, &rlen);
    struct bp_presence_req *req = malloc(sizeof(*req) + rlen);
    char *key = bp_name(bp->prefix, "presence:", bp->endpoint, "", 0, NULL);
    char *full = key != NULL ? bp_name(key, ":", "", room, rlen, &klen) : NULL;
    char *np = bp_name(bp->prefix, "node:", "", "", 0, NULL);
    free(key);
    key = full;
    if (req == NULL || key == NULL || np == NULL) {
        free(req);
        free(key);
        free(np);
        return;
    }
    req->bp = bp;
    req->len = rlen;
    memcpy(req->room, room, rlen);
    char count[24], ttl[24];
    snprintf(count, sizeof(count), "%zu", ch->local);
    snprintf(ttl, sizeof(ttl), "%d", BP_NODE_TTL_MS);
    const char *argv[8] = { "EVAL", bp_presence_lua, "1", key, bp->node_hex, count, np, ttl };
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = i == 3 ? klen : strlen(argv[i]);
    if (redisAsyncCommandArgv(bp->pub, bp_presence_reply, req, 8, argv, lens) != REDIS_OK)
        free(req);
    free(key);
    free(np);
}

/* ---- the connection state machine -------------------------------------- */

static void
bp_schedule(struct backplane *bp, unsigned ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(bp->retry, &tv);
}

/* Forgets ac if it is one of ours (hiredis is freeing it); true if it was. */
static bool
bp_forget(struct backplane *bp, const redisAsyncContext *ac)
{
    if (bp->pub == ac) {
        bp->pub = NULL;
        return true;
    }
    if (bp->sub == ac) {
        bp->sub = NULL;
        return true;
    }
    return false;
}

/* Frees both connections; their callbacks run and find them forgotten.
 * hiredis defers a free asked for from the context's own callback. */
static void
bp_drop(struct backplane *bp)
{
    redisAsyncContext *pub = bp->pub, *sub = bp->sub;
    bp->pub = bp->sub = NULL;
    bp->pub_ready = bp->sub_ready = false;
    if (pub != NULL)
        redisAsyncFree(pub);
    if (sub != NULL)
        redisAsyncFree(sub);
}

static void
bp_fail(struct backplane *bp, const char *why)
{
    if (bp->state == BP_DOWN)
        return;
    bool was_up = bp->state == BP_UP;
    bp->state = BP_DOWN;
    bp_drop(bp);
    for (struct bp_channel *ch = bp->all, *next; ch != NULL; ch = next) {
        next = ch->next;
        ch->subscribed = ch->pending = false;
        ch->cluster = -1;
        bp_channel_sync(bp, ch);
    }
    if (was_up)
        wsg_log(LOG_WARNING, "backplane %s for %s: lost (%s): local delivery only, "
                "messages to other nodes are dropped until it is back; reconnecting",
                bp->url, bp->endpoint, why);
    else if (!bp->outage_logged)
        wsg_log(LOG_WARNING, "backplane %s for %s: cannot connect (%s): local delivery "
                "only; retrying", bp->url, bp->endpoint, why);
    bp->outage_logged = true;
    bp_schedule(bp, bp->backoff_ms);
    bp->backoff_ms = bp->backoff_ms * 2 > BP_BACKOFF_MAX_MS ? BP_BACKOFF_MAX_MS
                                                           : bp->backoff_ms * 2;
}

static void
bp_maybe_up(struct backplane *bp)
{
    if (bp->state != BP_CONNECTING || !bp->pub_ready || !bp->sub_ready)
        return;
    bp->state = BP_UP;
    bp->connects++;
    bp->hb_unanswered = 0;
    bp->backoff_ms = BP_BACKOFF_MIN_MS;
    bp->outage_logged = false;
    evtimer_del(bp->retry);
    wsg_log(LOG_NOTICE, "backplane %s for %s: connected (node %s)", bp->url,
            bp->endpoint, bp->node_hex);
    for (struct bp_channel *ch = bp->all, *next; ch != NULL; ch = next) {
        next = ch->next;
        bp_presence(bp, ch);
        bp_channel_sync(bp, ch);
    }
}

static void
bp_on_connect(const redisAsyncContext *ac, int status)
{
    struct backplane *bp = ac->data;
    if (status == REDIS_OK)
        return;             /* up once the first replies come */
    /* hiredis frees ac when this returns. */
    if (bp_forget(bp, ac))
        bp_fail(bp, ac->errstr[0] != '\0' ? ac->errstr : "connect failed");
}

static void
bp_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct backplane *bp = ac->data;
    if (bp_forget(bp, ac))
        bp_fail(bp, status == REDIS_OK || ac->errstr[0] == '\0' ? "connection closed"
                                                                : ac->errstr);
}

/* An error reply on either connection: drop both and start again. */
static bool
bp_error_reply(struct backplane *bp, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR)
        return false;
    char why[256];
    snprintf(why, sizeof(why), "Redis said: %s", r->str);
    bp_fail(bp, why);
    return true;
}

/* Replies to AUTH, SELECT and SET of the heartbeat key: an error drops
 * the connections; the first SET answered (priv non-NULL) means the
 * publishing connection is ready. */
static void
bp_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct backplane *bp = ac->data;
    redisReply *r = reply;
    if (r == NULL || (ac != bp->pub && ac != bp->sub))
        return;
    if (bp_error_reply(bp, r))
        return;
    if (ac == bp->pub)
        bp->hb_unanswered = 0;
    if (priv != NULL) {
        bp->pub_ready = true;
        bp_maybe_up(bp);
    }
}

static void
bp_receive(struct backplane *bp, const redisReply *chan, const redisReply *msg)
{
    if (chan->type != REDIS_REPLY_STRING || msg->type != REDIS_REPLY_STRING
        || chan->len < bp->chan_prefix_len
        || memcmp(chan->str, bp->chan_prefix, bp->chan_prefix_len) != 0)
        return;
    const unsigned char *p = (const unsigned char *)msg->str;
    size_t n = msg->len;
    if (n < BP_HEADER || memcmp(p, BP_MAGIC, 4) != 0 || p[4] != BP_VERSION
        || (p[5] != WSG_MESSAGE_TEXT && p[5] != WSG_MESSAGE_BINARY)) {
        /* The first, then every thousandth: a stray publisher must not
         * flood the log. */
        if (bp->malformed++ % 1000 == 0)
            wsg_log(LOG_WARNING, "backplane %s for %s: dropped a malformed message of "
                    "%zu bytes (%lu so far)", bp->url, bp->endpoint, n, bp->malformed);
        return;
    }
    if (load_be64(p + 8) == bp->node_id)
        return;             /* ours: delivered locally already */
    bp->received++;
    bp->deliver(bp->arg, chan->str + bp->chan_prefix_len, chan->len - bp->chan_prefix_len,
                (enum wsg_message_type)p[5], p + BP_HEADER, n - BP_HEADER);
}

/* Every reply of the subscribed connection: confirmations and messages. */
static void
bp_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct backplane *bp = ac->data;
    redisReply *r = reply;
    (void)priv;
    if (r == NULL || ac != bp->sub)
        return;
    if (bp_error_reply(bp, r))
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    const redisReply *chan = r->element[1];
    if (strcmp(kind, "message") == 0) {
        bp_receive(bp, chan, r->element[2]);
        return;
    }
    bool sub = strcmp(kind, "subscribe") == 0;
    if (!sub && strcmp(kind, "unsubscribe") != 0)
        return;
    if (strcmp(chan->str, bp->node_key) == 0) {
        bp->sub_ready = true;
        bp_maybe_up(bp);
        return;
    }
    if (chan->len < bp->chan_prefix_len)
        return;
    struct bp_channel *ch = bp_channel_find(bp, chan->str + bp->chan_prefix_len,
                                            chan->len - bp->chan_prefix_len);
    if (ch == NULL)
        return;
    ch->pending = false;
    ch->subscribed = sub;
    bp_channel_sync(bp, ch);
}

static redisAsyncContext *
bp_open(struct backplane *bp, char *why, size_t whylen)
{
    redisAsyncContext *ac = bp->addr.port != 0
                            ? redisAsyncConnect(bp->addr.host, bp->addr.port)
                            : redisAsyncConnectUnix(bp->addr.host);
    if (ac == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (ac->err != 0) {
        snprintf(why, whylen, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = bp;
    if (redisLibeventAttach(ac, bp->base) != REDIS_OK) {
        snprintf(why, whylen, "cannot attach to the event loop");
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, bp_on_connect);
    redisAsyncSetDisconnectCallback(ac, bp_on_disconnect);
    if (bp->password != NULL)
        redisAsyncCommand(ac, bp_reply, NULL, "AUTH %s", bp->password);
    return ac;
}

/* The heartbeat key: this node is alive for BP_NODE_TTL_MS more. */
static void
bp_heartbeat_key(struct backplane *bp, void *first)
{
    redisAsyncCommand(bp->pub, bp_reply, first, "SET %s 1 PX %d", bp->node_key,
                      BP_NODE_TTL_MS);
}

static void
bp_connect(struct backplane *bp)
{
    char why[256];
    bp->state = BP_CONNECTING;
    if ((bp->pub = bp_open(bp, why, sizeof(why))) == NULL
        || (bp->sub = bp_open(bp, why, sizeof(why))) == NULL) {
        bp_fail(bp, why);
        return;
    }
    if (bp->addr.db != 0)
        redisAsyncCommand(bp->pub, bp_reply, NULL, "SELECT %d", bp->addr.db);
    bp_heartbeat_key(bp, bp);
    redisAsyncCommand(bp->sub, bp_sub_reply, NULL, "SUBSCRIBE %s", bp->node_key);
    bp_schedule(bp, BP_CONNECT_TIMEOUT_MS);
}

static void
bp_retry(evutil_socket_t fd, short what, void *arg)
{
    struct backplane *bp = arg;
    (void)fd, (void)what;
    if (bp->state == BP_CONNECTING)
        bp_fail(bp, "no answer in time");
    else if (bp->state == BP_DOWN)
        bp_connect(bp);
}

static void
bp_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct backplane *bp = arg;
    (void)fd, (void)what;
    if (bp->state != BP_UP)
        return;
    /* A Redis that stopped answering (hung, or a silent network) would
     * otherwise keep us "up" while everything published is lost. */
    if (++bp->hb_unanswered > BP_NODE_TTL_MS / BP_HEARTBEAT_MS) {
        bp_fail(bp, "no answer for 5 s");
        return;
    }
    bp_heartbeat_key(bp, NULL);
    for (struct bp_channel *ch = bp->all; ch != NULL; ch = ch->next) {
        if (ch->want)
            bp_presence(bp, ch);
    }
}

/* ---- the interface --------------------------------------------------------- */

struct backplane *
backplane_new(struct event_base *base, const struct backplane_cfg *cfg,
              backplane_deliver_fn *deliver, void *arg, char *err, size_t errlen)
{
    struct backplane *bp = calloc(1, sizeof(*bp));
    if (bp == NULL)
        goto nomem;
    if (backplane_parse_url(&bp->addr, cfg->url, err, errlen) != 0) {
        free(bp);
        return NULL;
    }
    bp->base = base;
    bp->deliver = deliver;
    bp->arg = arg;
    bp->node_id = bp_random_id();
    snprintf(bp->node_hex, sizeof(bp->node_hex), "%016" PRIx64, bp->node_id);
    bp->backoff_ms = BP_BACKOFF_MIN_MS;
    bp->url = strdup(cfg->url);
    bp->password = cfg->password != NULL ? strdup(cfg->password) : NULL;
    bp->prefix = strdup(cfg->prefix);
    bp->endpoint = strdup(cfg->endpoint);
    if (bp->prefix != NULL && bp->endpoint != NULL) {
        bp->node_key = bp_name(bp->prefix, "node:", bp->node_hex, "", 0, NULL);
        bp->chan_prefix = bp_name(bp->prefix, bp->endpoint, ":", "", 0,
                                  &bp->chan_prefix_len);
    }
    bp->channels = rooms_new();
    bp->retry = evtimer_new(base, bp_retry, bp);
    bp->heartbeat = event_new(base, -1, EV_PERSIST, bp_heartbeat, bp);
    if (bp->url == NULL || (cfg->password != NULL && bp->password == NULL)
        || bp->prefix == NULL || bp->endpoint == NULL || bp->node_key == NULL
        || bp->chan_prefix == NULL || bp->channels == NULL || bp->retry == NULL
        || bp->heartbeat == NULL) {
        backplane_free(bp);
        goto nomem;
    }
    struct timeval hb = { BP_HEARTBEAT_MS / 1000, (BP_HEARTBEAT_MS % 1000) * 1000 };
    evtimer_add(bp->heartbeat, &hb);
    bp_schedule(bp, 0);
    return bp;

nomem:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void
backplane_free(struct backplane *bp)
{
    if (bp == NULL)
        return;
    bp->state = BP_DOWN;            /* callbacks run by the frees do nothing */
    bp_drop(bp);
    while (bp->all != NULL)
        bp_channel_free(bp, bp->all);
    rooms_free(bp->channels);
    if (bp->retry != NULL)
        event_free(bp->retry);
    if (bp->heartbeat != NULL)
        event_free(bp->heartbeat);
    free(bp->url);
    free(bp->password);
    free(bp->prefix);
    free(bp->endpoint);
    free(bp->node_key);
    free(bp->chan_prefix);
    free(bp);
}

void
backplane_room(struct backplane *bp, const char *room, size_t len, size_t local_members)
{
    struct bp_channel *ch = bp_channel_find(bp, room, len);
    if (ch == NULL) {
        if (local_members == 0 || (ch = bp_channel_new(bp, room, len)) == NULL)
            return;
    }
    ch->local = local_members;
    ch->want = local_members > 0;
    if (!ch->want)
        ch->cluster = -1;
    bp_presence(bp, ch);
    bp_channel_sync(bp, ch);
}

static void
bp_publish_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct backplane *bp = ac->data;
    (void)reply;
    bp->pending_bytes -= (size_t)(uintptr_t)priv;
    if (bp->pending_bytes == 0)
        bp->behind_logged = false;
}

void
backplane_publish(struct backplane *bp, const char *room, size_t len,
                  enum wsg_message_type type, const void *data, size_t dlen)
{
    if (bp->state != BP_UP) {
        bp->dropped++;
        return;
    }
    if (bp->pending_bytes > BP_PENDING_MAX) {
        bp->dropped++;
        if (!bp->behind_logged)
            wsg_log(LOG_WARNING, "backplane %s for %s: Redis is %zu bytes behind: "
                    "dropping messages to other nodes until it catches up", bp->url,
                    bp->endpoint, bp->pending_bytes);
        bp->behind_logged = true;
        return;
    }
    size_t clen;
    char *chan = bp_name(bp->chan_prefix, "", "", room, len, &clen);
    unsigned char *env = malloc(BP_HEADER + dlen);
    if (chan == NULL || env == NULL) {
        free(chan);
        free(env);
        return;
    }
    memcpy(env, BP_MAGIC, 4);
    env[4] = BP_VERSION;
    env[5] = (unsigned char)type;
    env[6] = env[7] = 0;
    store_be64(env + 8, bp->node_id);
    store_be64(env + 16, ++bp->seq);
    if (dlen > 0)
        memcpy(env + BP_HEADER, data, dlen);
    const char *argv[3] = { "PUBLISH", chan, (const char *)env };
    size_t lens[3] = { 7, clen, BP_HEADER + dlen };
    size_t cost = clen + BP_HEADER + dlen;
    if (redisAsyncCommandArgv(bp->pub, bp_publish_reply, (void *)(uintptr_t)cost, 3, argv,
                              lens) == REDIS_OK) {
        bp->pending_bytes += cost;
        bp->published++;
    } else {
        bp->dropped++;
    }
    free(chan);
    free(env);
}

uint64_t
backplane_figure(const struct backplane *bp, enum backplane_figure f)
{
    switch (f) {
    case BACKPLANE_UP: return bp->state == BP_UP;
    case BACKPLANE_CONNECTS: return bp->connects;
    case BACKPLANE_PUBLISHED: return bp->published;
    case BACKPLANE_DROPPED: return bp->dropped;
    case BACKPLANE_RECEIVED: return bp->received;
    case BACKPLANE_MALFORMED: return bp->malformed;
    default: return 0;
    }
}

long
backplane_members(const struct backplane *bp, const char *room, size_t len)
{
    const struct bp_channel *ch = bp_channel_find(bp, room, len);
    return ch != NULL && ch->want && bp->state == BP_UP ? ch->cluster : -1;
}
