/*
 * conn.c - a WebSocket connection: frames in, messages to the module,
 * messages out, keepalive, timeouts and the close handshake.
 *
 * States, in order (a connection only moves forward):
 *   OPEN      messages flow both ways.
 *   CLOSING   we sent a close frame and wait (close_timeout) for the
 *             peer's; its data frames are ignored.
 *   FLUSHING  no more frames will be parsed; once our output (ending with
 *             a close frame) is written we shut our side down...
 *   LINGER    ...and discard input until the peer's EOF or close_timeout,
 *             so that closing never turns into a reset that could destroy
 *             the close frame we just sent.
 *   DONE      on_close is running; sends and closes are refused.
 * The connection ends (module on_close, free, transport released) from an
 * event callback only: from the bufferevent's event callback, or from the
 * timer.  Module calls (wsg_conn_send, wsg_conn_close) never free, so a
 * module may act on any connection from inside any callback.
 *
 * Writing, on a plain socket: the bufferevent's write event stays off.
 * A connection with output queued joins the flusher's list, and at the end
 * of the loop turn (after every callback that epoll woke) one writev per
 * connection sends all of it: the echo of a whole read, the frames of a
 * broadcast.  Only when the socket does not take everything does the
 * bufferevent's write event go on, until the output is empty again.  That
 * saves, per written connection and turn, the epoll_ctl that adds the
 * write event, the loop turn that reports it and the epoll_ctl that
 * removes it (a fifth of the server's CPU in a broadcast profile).
 *
 * Sleeping, on a plain socket: a connection with nothing queued either
 * way and its reader between messages gives back its bufferevent (with
 * both evbuffers) and its reader, two thirds of its memory, once the 101
 * is out if the peer has not spoken yet, else after SLEEP_AFTER_MS of
 * quiet.  Asleep, its timer also watches the socket for reading: the
 * first byte from the peer wakes it with fresh ones, as do a send or a
 * close from the module, and a ping that falls due.  Broadcasts do not:
 * their frames go out uncopied at the turn's end, with or without a
 * bufferevent, and only a write the socket does not take whole wakes the
 * connection.  A busy connection never sleeps, so the message path does
 * not pay for it.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "close.h"
#include "deflate.h"
#include "frame.h"
#include "handshake.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "ratelimit.h"
#include "utf8.h"

enum conn_state {
    CONN_OPEN,
    CONN_CLOSING,
    CONN_FLUSHING,
    CONN_LINGER,
    CONN_DONE,     /* ending: module calls are refused from here on */
};

struct wsg_conn {
    struct bufferevent *bev;   /* NULL while asleep, as are out and reader */
    /* The bufferevent's output and socket, kept here: asking libevent for
     * them (and for the output's length) on every delivery touched two
     * more structures per receiver, 7% of a broadcast's CPU. */
    struct evbuffer *out;
    evutil_socket_t fd;
    struct wsg_endpoint *ep;
    const struct wsg_limits *lim;
    struct event *timer;       /* asleep: also the socket's read event */
    struct wsg_reader *reader;
    struct wsg_deflate *pmd;   /* permessage-deflate; NULL unless negotiated */

    enum conn_state state;
    bool opened;               /* on_open accepted it: on_close is owed */
    bool close_sent;
    bool over_low_mark;        /* told the module WSG_SEND_FULL */
    bool ping_outstanding;
    bool paused;               /* the module asked us to stop reading */
    bool peer_closed_first;    /* its close frame came before ours */
    uint16_t close_code;       /* for on_close */

    struct wsg_ep_stats *stats;       /* the endpoint's counters */
    struct wsg_conn_report report;    /* this connection's, for the access log */
    struct wsg_bucket msg_bucket;     /* messages_per_second */
    double msg_burst;

    uint64_t last_rx_ms;       /* any bytes from the peer */
    uint64_t last_data_ms;     /* a data message either way */
    uint64_t ping_sent_ms;
    uint64_t close_deadline_ms;

    char *peer;                /* one block: target and subprotocol are in it */
    char *target;
    char *subprotocol;
    const struct wsg_header *headers;   /* during on_open only */
    size_t nheaders;
    bool secure;
    void *user;

    wsg_conn_end_fn on_end;
    void *end_arg;
    void (*shutdown_write)(void *arg);

    struct wsg_flusher *flusher;   /* NULL: the bufferevent writes */
    struct zc_batch *zc;           /* shared frames to write this turn, uncopied */
    struct wsg_conn *next_dirty;   /* in the flusher's list */
    bool dirty;                    /* output queued this turn */
    bool write_on;                 /* the bufferevent's write event is on */
    bool out_empty;                /* out is known to be empty; false: ask it.
                                    * Cleared by every add, set by our writes */
    bool asleep;                   /* no bufferevent, no reader (see above) */
    bool fresh;                    /* the peer has not spoken since the 101 */
};

/* Quiet for this long, a plain connection sleeps.  At 1 s, 10,000
 * connections each echoing a compressed message every 0.6 s lost 12% of
 * their throughput to the sleep checks and to waking the few whose turn
 * came late. */
#define SLEEP_AFTER_MS 5000

/* Shared frames (a broadcast's) queued to a connection with nothing else
 * pending: written at the turn's end straight from the shared messages
 * with one writev, no copy and no evbuffer chain; only what the socket
 * does not take moves into the evbuffer.  At most ZC_MAX per turn. */
#define ZC_MAX 16
#define ZC_POOL_MAX 4096           /* batches kept for the next turns: 1.6 MiB */

struct zc_batch {
    struct zc_batch *next_free;
    unsigned n;
    size_t bytes;
    struct {
        const uint8_t *frame;
        size_t len;
        struct wsg_shared_msg *m;  /* a reference */
    } f[ZC_MAX];
};

/* A broadcast leaves its receivers with the same frames in the same
 * order.  From the second receiver of a batch on, those frames go out
 * copied side by side into one buffer, one segment instead of n: the
 * kernel's copy from a 16-segment iovec cost more than the payload. */
#define ZC_JOIN_MAX (16 * 1024)    /* bytes a joined batch may have */

struct wsg_flusher {
    struct event *ev;
    struct zc_batch *free_batches;
    unsigned nfree;
    struct zc_batch *last;         /* the last batch written whole, referenced */
    uint8_t *joined;               /* its frames side by side (ZC_JOIN_MAX) */
    bool joined_ok;                /* joined holds last's frames */
    struct wsg_conn *dirty;        /* connections to write at the turn's end, */
    struct wsg_conn **tail;        /* in the order they were queued to */
};

static void conn_arm_timer(struct wsg_conn *c);
static bool conn_awake(struct wsg_conn *c);
static bool conn_can_sleep(const struct wsg_conn *c);
static void conn_drop_reader(struct wsg_conn *c);
static void conn_sleep(struct wsg_conn *c);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_flush_then_linger(struct wsg_conn *c);
static void conn_mark_dirty(struct wsg_conn *c);
static void conn_zc_spill(struct wsg_conn *c, size_t written);
static void conn_zc_drop(struct wsg_conn *c);
static bool conn_zc_add(struct wsg_conn *c, const uint8_t *frame, size_t len,
                        struct wsg_shared_msg *m);

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- output ----------------------------------------------------------- */

#define SMALL_FRAME_MAX 512

/* The output evbuffer, about to be added to: a sleeping connection wakes
 * for it (NULL when out of memory), uncopied frames queued before go into
 * it first (the order is kept), and it is no longer known to be empty. */
static struct evbuffer *
conn_output(struct wsg_conn *c)
{
    if (!conn_awake(c))
        return NULL;
    if (c->zc != NULL)
        conn_zc_spill(c, 0);
    c->out_empty = false;
    return c->out;
}

static int
conn_write_frame_rsv(struct wsg_conn *c, uint8_t opcode, uint8_t rsv, const void *data,
                     size_t len)
{
    struct evbuffer *out = conn_output(c);
    if (out == NULL)
        return -1;
    struct wsg_frame_header h = {.fin = true, .rsv = rsv, .opcode = opcode,
                                 .payload_len = len};
    /* Small frames in one evbuffer_add: each add runs the output's
     * callbacks, which cost more than copying a few hundred bytes. */
    uint8_t frame[WSG_FRAME_MAX_HEADER + SMALL_FRAME_MAX];
    size_t n = wsg_frame_write_header(frame, WSG_FRAME_MAX_HEADER, &h);
    if (len <= SMALL_FRAME_MAX) {
        if (len > 0)
            memcpy(frame + n, data, len);
        if (evbuffer_add(out, frame, n + len) != 0)
            return -1;
    } else if (evbuffer_add(out, frame, n) != 0 || evbuffer_add(out, data, len) != 0) {
        return -1;
    }
    conn_mark_dirty(c);
    return 0;
}

static int
conn_write_frame(struct wsg_conn *c, uint8_t opcode, const void *data, size_t len)
{
    return conn_write_frame_rsv(c, opcode, 0, data, len);
}

/* Below this a copy costs less than what a reference takes: a chain, and
 * a new buffer for the reader. */
#define TAKE_MIN (4 * 1024)

static void
taken_written(const void *data, size_t len, void *arg)
{
    (void)len, (void)arg;
    free((void *)(uintptr_t)data);
}

/* A message echoed from the reader's buffer (the one just read, as the
 * echo module sends it) goes out from that buffer, which the output takes
 * over: the payload was copied twice, unmasked into the buffer and then
 * into the output.  1: not that message (copy it); 0: queued; -1: out of
 * memory. */
static int
conn_write_taken(struct wsg_conn *c, uint8_t opcode, const void *data, size_t len)
{
    if (len < TAKE_MIN || !wsg_reader_owns(c->reader, data))
        return 1;
    uint8_t frame[WSG_FRAME_MAX_HEADER];
    struct wsg_frame_header h = {.fin = true, .opcode = opcode, .payload_len = len};
    size_t n = wsg_frame_write_header(frame, sizeof(frame), &h);
    struct evbuffer *out = conn_output(c);
    if (out == NULL || evbuffer_add(out, frame, n) != 0)
        return -1;
    if (evbuffer_add_reference(out, data, len, taken_written, NULL) == 0)
        wsg_reader_take(c->reader, data);   /* the output frees it now */
    else if (evbuffer_add(out, data, len) != 0)
        return -1;
    conn_mark_dirty(c);
    return 0;
}

/* permessage-deflate: data messages of min_size bytes and more go out
 * compressed (RSV1), unless compressing does not make them smaller. */
static bool
conn_compresses(const struct wsg_conn *c, size_t len)
{
    return c->pmd != NULL && len >= c->ep->cfg->compression.min_size;
}

static int
conn_write_message(struct wsg_conn *c, uint8_t opcode, const void *data, size_t len)
{
    if (!conn_compresses(c, len)) {
        int taken = conn_write_taken(c, opcode, data, len);
        return taken <= 0 ? taken : conn_write_frame(c, opcode, data, len);
    }
    const uint8_t *z;
    size_t zlen;
    enum wsg_err err = wsg_deflate_compress(c->pmd, data, len, &z, &zlen);
    if (err != WSG_OK) {
        log_warn("%s: cannot compress a message: %s", c->peer, wsg_strerror(err));
        return -1;
    }
    int rc;
    if (zlen < len) {
        rc = conn_write_frame_rsv(c, opcode, WSG_RSV1, z, zlen);
    } else {
        wsg_deflate_send_reset(c->pmd); /* the peer will not see what we compressed */
        rc = conn_write_frame(c, opcode, data, len);
    }
    wsg_deflate_compress_done(c->pmd);
    return rc;
}

static void
conn_send_close_frame(struct wsg_conn *c, uint16_t code, const char *reason)
{
    uint8_t payload[WSG_CONTROL_MAX_PAYLOAD];
    size_t len = wsg_close_build(payload, code, reason,
                                 reason != NULL ? strlen(reason) : 0);
    c->close_sent = true;
    if (conn_write_frame(c, WSG_OP_CLOSE, payload, len) != 0)
        log_warn("%s: cannot queue close frame: out of memory", c->peer);
}

/* ---- shared messages --------------------------------------------------- */

/* A shared message compressed once for every receiver whose compressor
 * has the same window bits, level and memLevel (permessage-deflate). */
struct shared_deflated {
    struct shared_deflated *next;
    int wbits, level, mem_level;
    bool plain;                /* compressing did not pay: send the frame as is */
    uint8_t *buf;              /* malloc'd; the frame starts inside it */
    const uint8_t *frame;
    size_t len;
};

struct wsg_shared_msg {
    unsigned refs;
    struct shared_deflated *deflated;  /* compressed variants, made on demand */
    size_t payload_len;
    size_t len;                /* header + payload */
    uint8_t bytes[];           /* the whole frame, as it goes on the wire */
};

/* Below this a copy into the output's current chain is cheaper than the
 * chain a reference needs. */
#define SHARED_COPY_MAX 256

struct wsg_shared_msg *
wsg_shared_msg_new(enum wsg_message_type type, const void *data, size_t len)
{
    if (type != WSG_MESSAGE_TEXT && type != WSG_MESSAGE_BINARY)
        return NULL;
    size_t hlen = wsg_frame_header_size(len, false);
    if (len > SIZE_MAX - sizeof(struct wsg_shared_msg) - hlen)
        return NULL;
    struct wsg_shared_msg *m = malloc(sizeof(*m) + hlen + len);
    if (m == NULL)
        return NULL;
    struct wsg_frame_header h = {.fin = true, .opcode = (uint8_t)type, .payload_len = len};
    wsg_frame_write_header(m->bytes, hlen, &h);
    if (len > 0)
        memcpy(m->bytes + hlen, data, len);
    m->refs = 1;
    m->deflated = NULL;
    m->payload_len = len;
    m->len = hlen + len;
    return m;
}

void
wsg_shared_msg_ref(struct wsg_shared_msg *m)
{
    m->refs++;
}

void
wsg_shared_msg_unref(struct wsg_shared_msg *m)
{
    if (m == NULL || --m->refs > 0)
        return;
    while (m->deflated != NULL) {
        struct shared_deflated *v = m->deflated;
        m->deflated = v->next;
        free(v->buf);
        free(v);
    }
    free(m);
}

/* The message compressed for d's parameters: made once, with a fresh
 * context, then shared by every receiver with the same parameters.  NULL
 * when out of memory (the caller sends it uncompressed). */
static const struct shared_deflated *
shared_msg_deflated(struct wsg_shared_msg *m, const struct wsg_deflate *d)
{
    int wbits, level, mem_level;
    wsg_deflate_send_key(d, &wbits, &level, &mem_level);
    for (struct shared_deflated *v = m->deflated; v != NULL; v = v->next) {
        if (v->wbits == wbits && v->level == level && v->mem_level == mem_level)
            return v;
    }
    struct shared_deflated *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    size_t hlen = m->len - m->payload_len, zlen;
    if (wsg_deflate_compress_once(wbits, level, mem_level, m->bytes + hlen, m->payload_len,
                                  WSG_FRAME_MAX_HEADER, &v->buf, &zlen) != WSG_OK) {
        free(v);
        return NULL;
    }
    *v = (struct shared_deflated){ .next = m->deflated, .wbits = wbits, .level = level,
                                   .mem_level = mem_level, .buf = v->buf };
    if (zlen >= m->payload_len) {
        v->plain = true;
    } else {
        /* The header goes right before the payload, in the headroom. */
        struct wsg_frame_header h = {.fin = true, .rsv = WSG_RSV1,
                                     .opcode = m->bytes[0] & 0x0f, .payload_len = zlen};
        size_t zh = wsg_frame_header_size(zlen, false);
        uint8_t *frame = v->buf + WSG_FRAME_MAX_HEADER - zh;
        wsg_frame_write_header(frame, zh, &h);
        v->frame = frame;
        v->len = zh + zlen;
    }
    m->deflated = v;
    return v;
}

static void
shared_msg_written(const void *data, size_t len, void *arg)
{
    (void)data, (void)len;
    wsg_shared_msg_unref(arg);
}

/* Append len bytes at p, inside m, to out; the caller's reference to m
 * passes to out (given back at once when the bytes are copied). */
static int
output_add_shared(struct evbuffer *out, const uint8_t *p, size_t len,
                  struct wsg_shared_msg *m)
{
    int rc;
    if (len <= SHARED_COPY_MAX) {
        rc = evbuffer_add(out, p, len);
        wsg_shared_msg_unref(m);
    } else if ((rc = evbuffer_add_reference(out, p, len, shared_msg_written, m)) != 0) {
        wsg_shared_msg_unref(m);
    }
    return rc;
}

/* Bytes in the output evbuffer.  Uncopied frames are only queued while
 * it is empty, and every add to it spills them first, so with a batch
 * there is nothing to ask libevent. */
static size_t
conn_out_length(const struct wsg_conn *c)
{
    if (c->zc != NULL || c->out_empty)
        return 0;
    return evbuffer_get_length(c->out);
}

size_t
wsg_conn_pending(const struct wsg_conn *c)
{
    return conn_out_length(c) + (c->zc != NULL ? c->zc->bytes : 0);
}

/* May len more bytes be queued?  The watermark bounds what is queued
 * before a message, so that one message up to max_message always goes to
 * a reader that keeps up.  Applies the slow-consumer policy when not. */
static enum wsg_send_result
conn_send_admit(struct wsg_conn *c, size_t len)
{
    if (c->state != CONN_OPEN)
        return WSG_SEND_CLOSED;
    size_t pending = wsg_conn_pending(c);
    if (pending > 0 && pending + len > c->lim->output_high_watermark) {
        if (c->lim->slow_policy == WSG_SLOW_DROP) {
            WSG_STAT_ADD(c->stats->slow_dropped, 1);
            return WSG_SEND_DROPPED;
        }
        WSG_STAT_ADD(c->stats->slow_closed, 1);
        log_info("%s: output over %llu bytes, closing slow reader", c->peer,
                 (unsigned long long)c->lim->output_high_watermark);
        wsg_conn_close(c, WSG_CLOSE_POLICY_VIOLATION, "too slow");
        return WSG_SEND_CLOSED;
    }
    return WSG_SEND_OK;
}

/* After queueing: tell the module when it should hold back (on_drain
 * follows once the output falls under half the watermark). */
static enum wsg_send_result
conn_send_queued(struct wsg_conn *c, size_t len)
{
    c->last_data_ms = now_ms();
    c->report.msgs_out++;
    c->report.bytes_out += len;
    WSG_STAT_ADD(c->stats->msgs_out, 1);
    WSG_STAT_ADD(c->stats->bytes_out, len);
    if (wsg_conn_pending(c) > c->lim->output_high_watermark / 2) {
        c->over_low_mark = true;
        return WSG_SEND_FULL;
    }
    return WSG_SEND_OK;
}

enum wsg_send_result
wsg_conn_send(struct wsg_conn *c, enum wsg_message_type type, const void *data,
              size_t len)
{
    if (type != WSG_MESSAGE_TEXT && type != WSG_MESSAGE_BINARY)
        return WSG_SEND_ERROR;
    enum wsg_send_result r = conn_send_admit(c, len);
    if (r != WSG_SEND_OK)
        return r;
    /* Awake first: an echo looks at the reader, and a message the
     * compressor has seen must then be queued. */
    if (!conn_awake(c) || conn_write_message(c, (uint8_t)type, data, len) != 0)
        return WSG_SEND_ERROR;
    return conn_send_queued(c, len);
}

enum wsg_send_result
wsg_conn_send_shared(struct wsg_conn *c, struct wsg_shared_msg *m)
{
    enum wsg_send_result r = conn_send_admit(c, m->payload_len);
    if (r != WSG_SEND_OK)
        return r;
    const uint8_t *frame = m->bytes;
    size_t len = m->len;
    if (conn_compresses(c, m->payload_len)) {
        const struct shared_deflated *v = shared_msg_deflated(m, c->pmd);
        if (v != NULL && !v->plain) {
            frame = v->frame;
            len = v->len;
        }
        wsg_deflate_send_reset(c->pmd); /* our own context did not see it */
    }
    /* Asleep, a connection stays so when the socket takes it all. */
    if (conn_zc_add(c, frame, len, m))
        return conn_send_queued(c, m->payload_len);
    struct evbuffer *out = conn_output(c);
    if (out == NULL)
        return WSG_SEND_ERROR;
    wsg_shared_msg_ref(m);
    if (output_add_shared(out, frame, len, m) != 0)
        return WSG_SEND_ERROR;
    conn_mark_dirty(c);
    return conn_send_queued(c, m->payload_len);
}

void
wsg_conn_close(struct wsg_conn *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_OPEN)
        return;
    if (!wsg_close_code_is_valid(code))
        code = WSG_CLOSE_INTERNAL_ERROR;
    conn_send_close_frame(c, code, reason);
    c->close_code = code;
    c->state = CONN_CLOSING;
    wsg_conn_resume(c);                   /* the peer's close must be read */
    c->close_deadline_ms = now_ms() + c->lim->close_timeout_ms;
    conn_arm_timer(c);
}

/* _Fail the WebSocket Connection_ (RFC 6455 7.1.7): the input can no
 * longer be trusted, so send the close and stop parsing at once. */
static void
conn_fail(struct wsg_conn *c, enum wsg_err err)
{
    uint16_t code = wsg_err_close_code(err);
    log_info("%s: %s, closing with %u", c->peer, wsg_strerror(err), code);
    if (!c->close_sent) {
        conn_send_close_frame(c, code, wsg_strerror(err));
        c->close_code = code;
    }
    conn_flush_then_linger(c);
}

/* ---- accessors of the module API -------------------------------------- */

void
wsg_conn_pause(struct wsg_conn *c)
{
    if (c->state != CONN_OPEN || c->paused || !conn_awake(c))
        return;
    c->paused = true;
    bufferevent_disable(c->bev, EV_READ);
}

void
wsg_conn_resume(struct wsg_conn *c)
{
    if (!c->paused || c->state == CONN_DONE)
        return;
    c->paused = false;
    bufferevent_enable(c->bev, EV_READ);
    /* Whole frames may be waiting in the input buffer already, and no read
     * event will announce bytes that arrived before. */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

void
wsg_conn_set_data(struct wsg_conn *c, void *data)
{
    c->user = data;
}

void *
wsg_conn_get_data(const struct wsg_conn *c)
{
    return c->user;
}

const char *
wsg_conn_peer(const struct wsg_conn *c)
{
    return c->peer;
}

const char *
wsg_conn_target(const struct wsg_conn *c)
{
    return c->target;
}

const char *
wsg_conn_subprotocol(const struct wsg_conn *c)
{
    return c->subprotocol;
}

const char *
wsg_conn_header(const struct wsg_conn *c, const char *name)
{
    for (size_t i = 0; i < c->nheaders; i++) {
        if (strcasecmp(c->headers[i].name, name) == 0)
            return c->headers[i].value;
    }
    return NULL;
}

const char *
wsg_conn_header_at(const struct wsg_conn *c, size_t i, const char **value)
{
    if (i >= c->nheaders)
        return NULL;
    *value = c->headers[i].value;
    return c->headers[i].name;
}

int
wsg_conn_secure(const struct wsg_conn *c)
{
    return c->secure;
}

/* ---- ending ------------------------------------------------------------ */

const struct wsg_conn_report *
wsg_conn_report(const struct wsg_conn *c)
{
    return &c->report;
}

static void
conn_end(struct wsg_conn *c, uint16_t code)
{
    c->state = CONN_DONE;
    c->report.code = code;
    c->report.by_server = c->close_sent && !c->peer_closed_first;
    if (c->opened && c->ep->mod->on_close != NULL) {
        c->opened = false;
        c->ep->mod->on_close(c, code, c->ep->state);
    }
    if (c->asleep)
        WSG_STAT_SUB(c->stats->asleep, 1);
    if (c->bev != NULL) {
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    }
    conn_zc_drop(c);
    event_free(c->timer);
    conn_drop_reader(c);
    wsg_deflate_free(c->pmd);
    if (c->flusher != NULL) {   /* the bufferevent and the socket are ours */
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        close(c->fd);
    }
    c->on_end(c, c->end_arg);   /* may still read the report, target, subprotocol */
    wsg_endpoint_unref(c->ep);
    free(c->peer);      /* and target and subprotocol: one block */
    if (!c->dirty)
        free(c);        /* else the flusher frees it when it comes to it */
}

static void
conn_start_linger(struct wsg_conn *c)
{
    c->state = CONN_LINGER;
    if (c->shutdown_write != NULL)
        c->shutdown_write(c->end_arg);
    else
        shutdown(c->fd, SHUT_WR);
    c->close_deadline_ms = now_ms() + c->lim->close_timeout_ms;
    conn_arm_timer(c);
}

static void
conn_flush_then_linger(struct wsg_conn *c)
{
    c->state = CONN_FLUSHING;
    if (wsg_conn_pending(c) == 0) {
        conn_start_linger(c);
        return;
    }
    c->close_deadline_ms = now_ms() + c->lim->close_timeout_ms;
    conn_arm_timer(c);
}

/* ---- input ------------------------------------------------------------- */

static void
conn_on_close_frame(struct wsg_conn *c, const struct wsg_msg *m)
{
    if (!c->close_sent) {
        c->peer_closed_first = true;
        /* Echo the peer's code (RFC 6455 5.5.1); an empty close gets an
         * empty close back. */
        uint16_t code = m->close_code == WSG_CLOSE_NO_STATUS ? 0 : m->close_code;
        conn_send_close_frame(c, code, NULL);
        c->close_code = m->close_code;
    }
    conn_flush_then_linger(c);
}

/* A data message to the module, inflated first if it came compressed
 * (the reader leaves UTF-8 of compressed text to us). */
static void
conn_on_data(struct wsg_conn *c, const struct wsg_msg *m)
{
    struct wsg_message msg = {
        .type = (enum wsg_message_type)m->opcode, .data = m->data, .len = m->len,
    };
    if (m->compressed) {
        const uint8_t *out;
        size_t outlen;
        enum wsg_err err = wsg_deflate_inflate(c->pmd, m->data, m->len, &out, &outlen);
        if (err == WSG_OK && m->opcode == WSG_OP_TEXT && !wsg_utf8_valid(out, outlen))
            err = WSG_ERR_BAD_UTF8;
        if (err != WSG_OK) {
            conn_fail(c, err);
            return;
        }
        msg.data = out;
        msg.len = outlen;
    }
    c->report.msgs_in++;
    c->report.bytes_in += msg.len;
    WSG_STAT_ADD(c->stats->msgs_in, 1);
    WSG_STAT_ADD(c->stats->bytes_in, msg.len);
    c->ep->mod->on_message(c, &msg, c->ep->state);
    if (m->compressed)
        wsg_deflate_inflate_done(c->pmd);
}

/* messages_per_second: may this data message go to the module? */
static bool
conn_rate_ok(struct wsg_conn *c, uint64_t now)
{
    if (c->lim->messages_per_second <= 0
        || wsg_bucket_take(&c->msg_bucket, c->lim->messages_per_second, c->msg_burst,
                           now, NULL))
        return true;
    if (c->lim->rate_policy == WSG_RATE_DROP) {
        WSG_STAT_ADD(c->stats->rate_dropped, 1);
        return false;
    }
    WSG_STAT_ADD(c->stats->rate_closed, 1);
    log_info("%s: over %g messages per second, closing", c->peer,
             c->lim->messages_per_second);
    wsg_conn_close(c, WSG_CLOSE_POLICY_VIOLATION, "message rate limit");
    return false;
}

static void
conn_on_message(struct wsg_conn *c, const struct wsg_msg *m)
{
    switch (m->opcode) {
    case WSG_OP_TEXT:
    case WSG_OP_BINARY:
        if (c->state != CONN_OPEN)
            return; /* data after our close is ignored (RFC 6455 5.5.1) */
        c->last_data_ms = now_ms();
        if (conn_rate_ok(c, c->last_data_ms))
            conn_on_data(c, m);
        break;
    case WSG_OP_PING:
        if (c->state == CONN_OPEN
            && conn_write_frame(c, WSG_OP_PONG, m->data, m->len) != 0)
            log_warn("%s: cannot queue pong: out of memory", c->peer);
        break;
    case WSG_OP_PONG:
        c->ping_outstanding = false; /* unsolicited pongs are fine too */
        break;
    case WSG_OP_CLOSE:
        conn_on_close_frame(c, m);
        break;
    }
}

static bool
conn_parsing(const struct wsg_conn *c)
{
    return (c->state == CONN_OPEN && !c->paused) || c->state == CONN_CLOSING;
}

/* Feed the buffered input to the reader, zero-copy: the reader unmasks
 * straight from the evbuffer's chains into the message. */
static void
conn_process_input(struct wsg_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->last_rx_ms = now_ms();
    c->fresh = false;

    while (conn_parsing(c) && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(in, -1, NULL, v, 8);
        if (n > 8)
            n = 8;
        size_t used_total = 0;
        for (int i = 0; i < n && conn_parsing(c); i++) {
            const uint8_t *p = v[i].iov_base;
            size_t left = v[i].iov_len;
            while (left > 0 && conn_parsing(c)) {
                struct wsg_msg m;
                size_t used = 0;
                enum wsg_err err = wsg_reader_feed(c->reader, p, left, &used, &m);
                p += used;
                left -= used;
                used_total += used;
                if (err == WSG_OK)
                    conn_on_message(c, &m);
                else if (err != WSG_ERR_INCOMPLETE)
                    conn_fail(c, err);
            }
        }
        evbuffer_drain(in, used_total);
    }
    if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
        evbuffer_drain(in, evbuffer_get_length(in)); /* no longer parsed */
}

/* ---- bufferevent and timer callbacks ------------------------------------ */

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process_input(arg);
}

/* The output fell to half the watermark (or is empty): move on. */
static void
conn_written(struct wsg_conn *c)
{
    if (c->state == CONN_FLUSHING && wsg_conn_pending(c) == 0) {
        conn_start_linger(c);
        return;
    }
    if (c->over_low_mark && c->state == CONN_OPEN) {
        c->over_low_mark = false;
        if (c->ep->mod->on_drain != NULL)
            c->ep->mod->on_drain(c, c->ep->state);
    }
    if (c->fresh) {             /* the 101 is out, and not a word back yet */
        c->fresh = false;
        if (conn_can_sleep(c))
            conn_sleep(c);
    }
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct wsg_conn *c = arg;
    if (c->flusher != NULL && c->write_on && wsg_conn_pending(c) == 0) {
        c->write_on = false;     /* back to writing at the turn's end */
        c->out_empty = true;
        bufferevent_disable(bev, EV_WRITE);
    }
    conn_written(c);
}

/* ---- writing at the end of the loop turn ------------------------------- */

static void
conn_mark_dirty(struct wsg_conn *c)
{
    struct wsg_flusher *f = c->flusher;
    if (f == NULL || c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = NULL;
    if (f->dirty == NULL) {
        event_active(f->ev, EV_WRITE, 0);
        f->tail = &f->dirty;
    }
    *f->tail = c;
    f->tail = &c->next_dirty;
}

static struct zc_batch *
zc_batch_get(struct wsg_flusher *f)
{
    struct zc_batch *b = f->free_batches;
    if (b != NULL) {
        f->free_batches = b->next_free;
        f->nfree--;
    } else if ((b = malloc(sizeof(*b))) == NULL) {
        return NULL;
    }
    b->n = 0;
    b->bytes = 0;
    return b;
}

/* A broadcast to 10,000 takes 10,000 batches in one turn: keep some. */
static void
zc_batch_put(struct wsg_flusher *f, struct zc_batch *b)
{
    if (f->nfree >= ZC_POOL_MAX) {
        free(b);
        return;
    }
    b->next_free = f->free_batches;
    f->free_batches = b;
    f->nfree++;
}

/* Give back a batch and its references. */
static void
zc_batch_release(struct wsg_flusher *f, struct zc_batch *b)
{
    for (unsigned i = 0; i < b->n; i++)
        wsg_shared_msg_unref(b->f[i].m);
    zc_batch_put(f, b);
}

/* Queue a shared frame uncopied, when nothing else is pending. */
static bool
conn_zc_add(struct wsg_conn *c, const uint8_t *frame, size_t len, struct wsg_shared_msg *m)
{
    if (c->flusher == NULL || c->write_on || conn_out_length(c) > 0)
        return false;
    if (c->zc == NULL) {
        if ((c->zc = zc_batch_get(c->flusher)) == NULL)
            return false;
    } else if (c->zc->n == ZC_MAX) {
        return false;
    }
    struct zc_batch *b = c->zc;
    wsg_shared_msg_ref(m);
    b->f[b->n].frame = frame;
    b->f[b->n].len = len;
    b->f[b->n].m = m;
    b->n++;
    b->bytes += len;
    conn_mark_dirty(c);
    return true;
}

/* Move the uncopied frames, but for their first `written` bytes, into the
 * evbuffer (by reference where that beats a copy). */
static void
conn_zc_spill(struct wsg_conn *c, size_t written)
{
    struct zc_batch *b = c->zc;
    c->zc = NULL;
    c->out_empty = false;
    for (unsigned i = 0; i < b->n; i++) {
        const uint8_t *p = b->f[i].frame;
        size_t len = b->f[i].len;
        struct wsg_shared_msg *m = b->f[i].m;
        size_t skip = written < len ? written : len;
        written -= skip;
        p += skip;
        len -= skip;
        if (len == 0)
            wsg_shared_msg_unref(m);
        else if (output_add_shared(c->out, p, len, m) != 0)
            log_warn("%s: out of memory queueing a message", c->peer);
    }
    zc_batch_put(c->flusher, b);
}

static void
conn_zc_drop(struct wsg_conn *c)
{
    struct zc_batch *b = c->zc;
    if (b == NULL)
        return;
    c->zc = NULL;
    zc_batch_release(c->flusher, b);
}

/* The same frames?  Both batches hold references to their messages, so
 * equal addresses are the same live bytes. */
static bool
zc_batch_same(const struct zc_batch *a, const struct zc_batch *b)
{
    if (a == NULL || a->n != b->n || a->bytes != b->bytes)
        return false;
    for (unsigned i = 0; i < b->n; i++) {
        if (a->f[i].frame != b->f[i].frame || a->f[i].len != b->f[i].len)
            return false;
    }
    return true;
}

/* f->last's frames, side by side in f->joined; false if they cannot be. */
static bool
zc_join(struct wsg_flusher *f)
{
    struct zc_batch *b = f->last;
    if (f->joined_ok)
        return true;
    if (b->n < 2 || b->bytes > ZC_JOIN_MAX)
        return false;
    if (f->joined == NULL && (f->joined = malloc(ZC_JOIN_MAX)) == NULL)
        return false;
    size_t at = 0;
    for (unsigned i = 0; i < b->n; i++) {
        memcpy(f->joined + at, b->f[i].frame, b->f[i].len);
        at += b->f[i].len;
    }
    f->joined_ok = true;
    return true;
}

/* One write straight from the shared messages: a writev of them, or one
 * buffer when the receiver before had the same. */
static void
conn_zc_write(struct wsg_conn *c)
{
    struct wsg_flusher *f = c->flusher;
    struct zc_batch *b = c->zc;
    bool same = zc_batch_same(f->last, b);
    ssize_t n;
    if (same && zc_join(f)) {
        n = write(c->fd, f->joined, b->bytes);
    } else {
        struct iovec iov[ZC_MAX];
        for (unsigned i = 0; i < b->n; i++) {
            iov[i].iov_base = (void *)(uintptr_t)b->f[i].frame;
            iov[i].iov_len = b->f[i].len;
        }
        n = writev(c->fd, iov, (int)b->n);
    }
    if (n == (ssize_t)b->bytes) {
        c->out_empty = true;           /* as it was: the batch implies it */
        c->zc = NULL;
        if (same) {
            zc_batch_release(f, b);
        } else {                       /* the next receiver may match it */
            if (f->last != NULL)
                zc_batch_release(f, f->last);
            f->last = b;
            f->joined_ok = false;
        }
        conn_written(c);
        return;
    }
    /* Short, would block, or failed: the rest (and the error, which the
     * bufferevent meets again) is the write event's.  Asleep and out of
     * memory, the stream is cut short: end it (the read event sees EOF). */
    if (!conn_awake(c)) {
        conn_zc_drop(c);
        shutdown(c->fd, SHUT_RDWR);
        return;
    }
    conn_zc_spill(c, n > 0 ? (size_t)n : 0);
    c->write_on = true;
    bufferevent_enable(c->bev, EV_WRITE);
}

/* One writev of everything queued; what the socket does not take, or an
 * error, is left to the bufferevent's write event. */
static void
conn_flush_now(struct wsg_conn *c)
{
    struct evbuffer *out = c->out;
    if (c->write_on)
        return;
    if (c->zc != NULL) {
        conn_zc_write(c);              /* the evbuffer is empty then */
        return;
    }
    if (conn_out_length(c) == 0) {
        c->out_empty = true;
        return;
    }
    /* libevent freezes the start of a bufferevent's output for everyone
     * but the bufferevent: the write is ours now. */
    evbuffer_unfreeze(out, 1);
    int n = evbuffer_write(out, c->fd);
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) > 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        c->write_on = true;
        bufferevent_enable(c->bev, EV_WRITE);
        return;
    }
    c->out_empty = true;
    conn_written(c);
}

static void
flusher_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_flusher *f = arg;
    (void)fd, (void)what;
    /* What the writes make the modules send joins a new list, written in
     * the same turn (the event is activated again). */
    struct wsg_conn *list = f->dirty;
    f->dirty = NULL;
    while (list != NULL) {
        struct wsg_conn *c = list;
        list = c->next_dirty;
        c->dirty = false;
        if (c->state == CONN_DONE)
            free(c);    /* ended with output queued; its socket is gone */
        else
            conn_flush_now(c);
    }
    /* Messages are referenced only while they wait: give the last back. */
    if (f->last != NULL && f->dirty == NULL) {
        zc_batch_release(f, f->last);
        f->last = NULL;
        f->joined_ok = false;
    }
}

struct wsg_flusher *
wsg_flusher_new(struct event_base *base)
{
    struct wsg_flusher *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->ev = event_new(base, -1, 0, flusher_cb, f);
    if (f->ev == NULL) {
        free(f);
        return NULL;
    }
    return f;
}

void
wsg_flusher_free(struct wsg_flusher *f)
{
    if (f == NULL)
        return;
    while (f->dirty != NULL) {          /* only ended connections by now */
        struct wsg_conn *c = f->dirty;
        f->dirty = c->next_dirty;
        if (c->state == CONN_DONE)
            free(c);
    }
    if (f->last != NULL)
        zc_batch_release(f, f->last);
    free(f->joined);
    while (f->free_batches != NULL) {
        struct zc_batch *b = f->free_batches;
        f->free_batches = b->next_free;
        free(b);
    }
    event_free(f->ev);
    free(f);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct wsg_conn *c = arg;
    (void)bev;
    if (c->state == CONN_LINGER) {
        conn_end(c, c->close_code);
        return;
    }
    if (what & BEV_EVENT_ERROR)
        log_debug("%s: connection error: %s", c->peer, strerror(errno));
    else
        log_debug("%s: peer closed the connection without a close frame", c->peer);
    conn_end(c, c->close_sent ? c->close_code : WSG_CLOSE_ABNORMAL);
}

/* ---- sleeping ----------------------------------------------------------- */

static uint64_t
conn_quiet_since(const struct wsg_conn *c)
{
    return c->last_rx_ms > c->last_data_ms ? c->last_rx_ms : c->last_data_ms;
}

/* Nothing queued either way, nothing half read: the bufferevent and the
 * reader hold nothing that fresh ones would not. */
static bool
conn_can_sleep(const struct wsg_conn *c)
{
    return c->flusher != NULL && !c->asleep && c->state == CONN_OPEN && !c->paused
           && !c->dirty && !c->write_on && !c->over_low_mark && wsg_conn_pending(c) == 0
           && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0
           && wsg_reader_idle(c->reader);
}

static struct wsg_reader *
conn_reader_new(const struct wsg_conn *c)
{
    struct wsg_reader *r = malloc(sizeof(*r));
    if (r == NULL)
        return NULL;
    struct wsg_reader_limits rl = {
        .role = WSG_ROLE_SERVER,
        .rsv_allowed = c->pmd != NULL ? WSG_RSV1 : 0, /* RFC 7692 6 */
        .max_frame = c->lim->max_frame,
        .max_message = c->lim->max_message,
    };
    wsg_reader_init(r, &rl);
    return r;
}

/* Our callbacks and settings on a bufferevent, new or handed over. */
static void
conn_take_bev(struct wsg_conn *c, struct bufferevent *bev)
{
    c->bev = bev;
    c->out = bufferevent_get_output(bev);
    bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(bev, EV_WRITE, c->lim->output_high_watermark / 2, 0);
    /* libevent writes at most 16 KiB per call by default: a 64 KiB frame
     * took five writev calls. */
    bufferevent_set_max_single_write(bev, 1 << 20);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_set_timeouts(bev, NULL, NULL);
    if (c->flusher != NULL) {
        bufferevent_disable(bev, EV_WRITE);
        bufferevent_enable(bev, EV_READ);
    } else {
        c->write_on = true;
        bufferevent_enable(bev, EV_READ | EV_WRITE);
    }
}

static void
conn_drop_reader(struct wsg_conn *c)
{
    wsg_reader_free(c->reader);
    free(c->reader);
    c->reader = NULL;
}

/* Point the timer event at fd for what (-1, 0: a timer only); the caller
 * arms it again. */
static void
conn_timer_watch(struct wsg_conn *c, evutil_socket_t fd, short what)
{
    struct event_base *base = event_get_base(c->timer);
    event_del(c->timer);
    event_assign(c->timer, base, fd, what, conn_timer_cb, c);
}

static void
conn_sleep(struct wsg_conn *c)
{
    bufferevent_free(c->bev);       /* the socket stays: no BEV_OPT_CLOSE_ON_FREE */
    c->bev = NULL;
    c->out = NULL;
    c->out_empty = true;
    conn_drop_reader(c);
    /* zlib's state stays: a compressor made again per wake (256 KiB to
     * allocate and clear) cut 10,000 connections echoing compressed 1 KiB
     * messages from 18,000 to 5,000 msgs/s.  The timer drops it after
     * ping_interval of silence, as before. */
    c->asleep = true;
    WSG_STAT_ADD(c->stats->asleep, 1);
    conn_timer_watch(c, c->fd, EV_READ);
    conn_arm_timer(c);
}

static bool
conn_wake(struct wsg_conn *c)
{
    struct bufferevent *bev = bufferevent_socket_new(event_get_base(c->timer), c->fd, 0);
    struct wsg_reader *r = conn_reader_new(c);
    if (bev == NULL || r == NULL) {
        if (bev != NULL)
            bufferevent_free(bev);
        free(r);
        log_warn("%s: out of memory waking an idle connection", c->peer);
        return false;
    }
    conn_timer_watch(c, -1, 0);
    c->asleep = false;
    WSG_STAT_SUB(c->stats->asleep, 1);
    c->reader = r;
    conn_take_bev(c, bev);
    conn_arm_timer(c);
    return true;
}

/* Awake, to queue output or stop reading; false when out of memory (the
 * connection then sleeps on, unchanged). */
static bool
conn_awake(struct wsg_conn *c)
{
    return !c->asleep || conn_wake(c);
}

/* ---- the timer ---------------------------------------------------------- */

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_conn *c = arg;
    uint64_t now = now_ms();
    (void)fd;

    if (what & EV_READ) {           /* asleep: the peer sent bytes, or EOF */
        c->last_rx_ms = now;        /* the bufferevent reads them next turn */
        if (!conn_wake(c))
            conn_end(c, WSG_CLOSE_ABNORMAL);
        return;
    }

    if (c->state != CONN_OPEN) {
        if (now < c->close_deadline_ms) {
            conn_arm_timer(c);
            return;
        }
        if (c->state != CONN_LINGER)
            log_info("%s: no close handshake within close_timeout, dropping", c->peer);
        conn_end(c, c->close_code);
        return;
    }

    const struct wsg_limits *lim = c->lim;
    if (lim->idle_timeout_ms > 0 && now - c->last_data_ms >= lim->idle_timeout_ms) {
        log_info("%s: idle for %u ms, closing", c->peer, lim->idle_timeout_ms);
        wsg_conn_close(c, WSG_CLOSE_GOING_AWAY, "idle timeout");
        return;
    }
    if (lim->ping_interval_ms > 0) {
        if (c->ping_outstanding && now - c->ping_sent_ms >= lim->ping_interval_ms) {
            log_info("%s: no pong within %u ms, closing", c->peer, lim->ping_interval_ms);
            wsg_conn_close(c, WSG_CLOSE_GOING_AWAY, "ping timeout");
            return;
        }
        if (!c->ping_outstanding && now - c->last_rx_ms >= lim->ping_interval_ms) {
            wsg_deflate_idle(c->pmd); /* a quiet peer: keep no compressor for it */
            conn_write_frame(c, WSG_OP_PING, NULL, 0);
            c->ping_outstanding = true;
            c->ping_sent_ms = now;
        }
    }
    if (conn_can_sleep(c) && now - conn_quiet_since(c) >= SLEEP_AFTER_MS) {
        conn_sleep(c);              /* arms the timer */
        return;
    }
    conn_arm_timer(c);
}

/* One timer per connection, set for the nearest deadline (or, on a plain
 * connection awake, the next look at whether it may sleep).  Activity
 * only moves timestamps; the timer re-arms itself when it fires early,
 * which keeps event_add() off the per-frame path. */
static void
conn_arm_timer(struct wsg_conn *c)
{
    uint64_t now = now_ms();
    uint64_t next = UINT64_MAX;
    const struct wsg_limits *lim = c->lim;

    if (c->state == CONN_OPEN) {
        if (lim->idle_timeout_ms > 0)
            next = c->last_data_ms + lim->idle_timeout_ms;
        if (lim->ping_interval_ms > 0) {
            uint64_t t = (c->ping_outstanding ? c->ping_sent_ms : c->last_rx_ms)
                         + lim->ping_interval_ms;
            if (t < next)
                next = t;
        }
        if (c->flusher != NULL && !c->asleep) {
            /* Not before SLEEP_AFTER_MS from now: one that cannot sleep yet
             * (output waiting for a slow reader) is looked at again later. */
            uint64_t t = conn_quiet_since(c) + SLEEP_AFTER_MS;
            if (t <= now)
                t = now + SLEEP_AFTER_MS;
            if (t < next)
                next = t;
        }
    } else {
        next = c->close_deadline_ms;
    }
    if (next == UINT64_MAX) {
        /* Asleep, the socket is still watched; else nothing to wait for. */
        if (c->asleep)
            event_add(c->timer, NULL);
        else
            event_del(c->timer);
        return;
    }
    uint64_t delay = next > now ? next - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(delay / 1000),
                         .tv_usec = (suseconds_t)(delay % 1000) * 1000};
    event_add(c->timer, &tv);
}

/* ---- life -------------------------------------------------------------- */

/* peer, target and subprotocol, copied into one block starting at
 * c->peer (NULL when out of memory): one allocation instead of three for
 * the connection's whole life. */
static void
conn_copy_strings(struct wsg_conn *c, const struct wsg_conn_params *p)
{
    size_t np = strlen(p->peer) + 1, nt = strlen(p->target) + 1;
    size_t ns = p->subprotocol != NULL ? strlen(p->subprotocol) + 1 : 0;
    char *b = malloc(np + nt + ns);
    if (b == NULL)
        return;
    c->peer = memcpy(b, p->peer, np);
    c->target = memcpy(b + np, p->target, nt);
    if (ns > 0)
        c->subprotocol = memcpy(b + np + nt, p->subprotocol, ns);
}

struct wsg_conn *
wsg_conn_start(const struct wsg_conn_params *p)
{
    struct wsg_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->timer = evtimer_new(p->base, conn_timer_cb, c);
    conn_copy_strings(c, p);
    if (p->deflate != NULL) {
        /* Only the small struct: zlib state comes with the first message. */
        const struct wsg_deflate_cfg *z = &p->ep->cfg->compression;
        c->pmd = wsg_deflate_new(WSG_ROLE_SERVER, p->deflate, z->level, z->mem_level,
                                 p->ep->cfg->limits.max_message);
    }
    c->lim = &p->ep->cfg->limits;
    c->reader = conn_reader_new(c);   /* after pmd: RSV1 is allowed with it */
    if (c->timer == NULL || c->peer == NULL || c->reader == NULL
        || (p->deflate != NULL && c->pmd == NULL)) {
        wsg_deflate_free(c->pmd);
        if (c->timer != NULL)
            event_free(c->timer);
        free(c->reader);
        free(c->peer);
        free(c);
        return NULL;
    }
    c->fd = bufferevent_getfd(p->bev);
    c->ep = p->ep;
    wsg_endpoint_ref(c->ep);
    c->stats = c->ep->stats;
    c->on_end = p->on_end;
    c->end_arg = p->end_arg;
    c->shutdown_write = p->shutdown_write;
    c->last_rx_ms = c->last_data_ms = now_ms();
    c->msg_burst = wsg_bucket_burst(c->lim->messages_per_second, c->lim->messages_burst);
    wsg_bucket_init(&c->msg_bucket, c->msg_burst, c->last_data_ms);

    c->flusher = p->flusher;
    conn_take_bev(c, p->bev);
    if (c->flusher != NULL) {
        c->fresh = true;
        conn_mark_dirty(c);          /* the 101 may still be queued */
    }

    c->opened = true;
    c->secure = p->secure;
    if (c->ep->mod->on_open != NULL) {
        c->headers = p->headers;
        c->nheaders = p->nheaders;
        int code = c->ep->mod->on_open(c, c->ep->state);
        c->headers = NULL;
        c->nheaders = 0;
        if (code != 0) {
            c->opened = false; /* refused: no on_close for it */
            wsg_conn_close(c, (uint16_t)code, "refused");
        }
    }
    conn_arm_timer(c);
    /* A first frame sent with the handshake is already buffered and no
     * read event will announce it. */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        conn_process_input(c);
    return c;
}

void
wsg_conn_shutdown(struct wsg_conn *c)
{
    wsg_conn_close(c, WSG_CLOSE_GOING_AWAY, "server shutting down");
}

void
wsg_conn_abort(struct wsg_conn *c)
{
    conn_end(c, c->close_sent ? c->close_code : WSG_CLOSE_ABNORMAL);
}
