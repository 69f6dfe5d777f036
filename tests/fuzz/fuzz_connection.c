/*
 * fuzz_connection.c - libFuzzer target for a whole connection (conn.c)
 * after a valid handshake: the fuzz input is what the client sends.
 *
 * The connection runs on one end of a bufferevent_pair in its own
 * event_base, with an endpoint built by hand around the echo-like module
 * below (no dlopen).  The client end writes the input in chunks, the loop
 * runs until nothing moves, and everything the server wrote is checked
 * against a model of what it must write: the same input fed to a
 * reference wsg_reader (server role, the endpoint's limits) gives the
 * messages and the first protocol error, and from those follow the echoes,
 * pongs and the one close frame with its code.  So the target checks, at
 * once, that conn.c answers as RFC 6455 says, that it parses input split
 * at any byte the same as in one piece, that the slow-reader policy
 * decides by the bytes really queued, and that its output is a valid
 * sequence of unmasked server frames (a wsg_reader in client role) ending
 * at most with one close.  Then the connection is torn down (by the
 * peer's EOF, by its timers or by wsg_conn_abort) and the end callback
 * must have run exactly once, on_close exactly once if on_open accepted,
 * the endpoint reference and the connection's timer must be gone.
 *
 * With permessage-deflate negotiated, the client's compressed messages are
 * inflated by a reference codec for the model and the server's by a client
 * codec before they are compared, so the model speaks of what the module
 * sees either way; a compressed server message must also be smaller than
 * the message and at least min_size long.
 *
 * Input layout:
 *   byte 0  bits 0-2  chunk size: whole, 1, 2, 3, 7, 16, 61, 1000 bytes
 *           bit 3     the first chunk is already in the server's input at
 *                     wsg_conn_start (sent with the handshake)
 *           bit 4     the client does not read until the end (slow reader)
 *           bit 5     slow_consumer = drop (else close)
 *           bit 6     end with the client's EOF (else abort, or timers)
 *           bit 7     the transport has a shutdown_write callback
 *   byte 1  bits 0-1  on_open: accept, refuse (1008), close at once with
 *                     4001, send a greeting
 *           bits 2-3  output_high_watermark: 64, 512, 4096 bytes, 1M
 *           bits 4-6  7: keepalive pings every 2 ms (5: an idle timeout of
 *                     3 ms instead), and wait for the timers to end the
 *                     connection (slow: few inputs); 6: the server shuts
 *                     down (1001) at the end
 *           bit 7     a paused connection is resumed only at the end (else
 *                     as soon as the loop is idle)
 *   byte 2  bit 0     permessage-deflate negotiated, with
 *           bits 1-2  server_max_window_bits 15, 8, 9, 12
 *           bits 3-4  client_max_window_bits 15, 8, 9, 11
 *           bit 5     server_no_context_takeover
 *           bit 6     client_no_context_takeover
 *           bit 7     min_size 32 (else 0: every message compressed)
 *   the rest: client bytes.  A data message starting "!c" makes the module
 *   close with 4000, "!x" close with an invalid code (sent as 1011), "!2"
 *   echo twice, "!s" echo through a shared message, "!p" pause reading and
 *   echo; anything else is echoed once.  Pausing changes when input is
 *   read, never what is answered, so the model ignores it.
 *
 * A pair's bufferevent has no socket: bufferevent_getfd() is -1, so
 * conn.c's shutdown(SHUT_WR) on it fails with EBADF and changes nothing
 * (checked below); the lingering then ends on the peer's EOF or the timer.
 */
/* fuzz-build: -Isrc/daemon src/daemon/conn.c src/daemon/log.c src/daemon/ratelimit.c src/proto/deflate.c -levent -lz */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "close.h"
#include "conn.h"
#include "deflate.h"
#include "handshake.h"
#include "log.h"
#include "message.h"
#include "metrics.h"

#define MAX_FRAME 2048
#define MAX_MESSAGE 8192
#define LEVEL 1
#define MEM_LEVEL 8
#define PEER "127.0.0.1:40000"
#define TARGET "/fuzz?x=1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the run's state ---------------------------------------------------- */

enum open_mode { OPEN_ACCEPT, OPEN_REFUSE, OPEN_CLOSE, OPEN_GREET };

static struct run {
    enum open_mode open_mode;
    struct wsg_conn *conn;
    struct bufferevent *server;     /* freed by the end callback */
    bool opened;                    /* on_open accepted */
    bool paused;                    /* the module paused reading */
    bool full;                      /* a send said WSG_SEND_FULL: on_drain owed */
    unsigned open_calls, close_calls, end_calls, message_calls, drain_calls;
    unsigned shutdown_calls;        /* shutdown_write */
    unsigned progress;              /* bumped by every callback */
} run;

static struct wsg_endpoint endpoint;
static struct wsg_ep_stats stats;    /* conn.c counts into it */

/* ---- the module -------------------------------------------------------- */

static int
mod_on_open(struct wsg_conn *c, void *state)
{
    if (state != &run || run.open_calls++ != 0 || run.conn != NULL)
        abort();
    run.conn = c; /* wsg_conn_start has not returned it yet */
    run.progress++;
    if (strcmp(wsg_conn_peer(c), PEER) != 0 || strcmp(wsg_conn_target(c), TARGET) != 0
        || wsg_conn_subprotocol(c) == NULL || strcmp(wsg_conn_subprotocol(c), "chat") != 0)
        abort();
    const char *v = NULL;
    if (wsg_conn_header(c, "x-fuzz") == NULL || strcmp(wsg_conn_header(c, "X-FUZZ"), "yes") != 0
        || wsg_conn_header(c, "missing") != NULL
        || wsg_conn_header_at(c, 1, &v) == NULL || strcmp(v, "yes") != 0
        || wsg_conn_header_at(c, 2, &v) != NULL || wsg_conn_secure(c) != 1)
        abort();
    wsg_conn_set_data(c, &run);
    switch (run.open_mode) {
    case OPEN_REFUSE:
        return WSG_CLOSE_POLICY_VIOLATION;
    case OPEN_CLOSE:
        wsg_conn_close(c, 4001, "not now");
        break;
    case OPEN_GREET: {
        enum wsg_send_result r = wsg_conn_send(c, WSG_MESSAGE_TEXT, "hello", 5);
        if (r < 0)
            abort();
        run.full |= r == WSG_SEND_FULL;
        break;
    }
    case OPEN_ACCEPT:
        break;
    }
    run.opened = true;
    return 0;
}

static void
mod_on_message(struct wsg_conn *c, const struct wsg_message *m, void *state)
{
    if (state != &run || !run.opened || run.close_calls != 0 || c != run.conn
        || wsg_conn_get_data(c) != &run)
        abort();
    if (m->type != WSG_MESSAGE_TEXT && m->type != WSG_MESSAGE_BINARY)
        abort();
    if (m->len > MAX_MESSAGE || (m->type == WSG_MESSAGE_TEXT && !wsg_utf8_valid(m->data, m->len)))
        abort();
    run.message_calls++;
    run.progress++;
    if (wsg_conn_header(c, "x-fuzz") != NULL)
        abort(); /* headers are for on_open only */
    const char *p = m->data;
    if (m->len >= 2 && p[0] == '!' && p[1] == 'c') {
        wsg_conn_close(c, 4000, "bye");
        return;
    }
    if (m->len >= 2 && p[0] == '!' && p[1] == 'x') {
        wsg_conn_close(c, WSG_CLOSE_NO_STATUS, "never on the wire");
        return;
    }
    if (m->len >= 2 && p[0] == '!' && p[1] == 's') {
        struct wsg_shared_msg *sm = wsg_shared_msg_new(m->type, m->data, m->len);
        if (sm == NULL)
            abort();
        enum wsg_send_result r = wsg_conn_send_shared(c, sm);
        if (r == WSG_SEND_ERROR)
            abort();
        run.full |= r == WSG_SEND_FULL;
        wsg_shared_msg_unref(sm);
        return;
    }
    if (m->len >= 2 && p[0] == '!' && p[1] == 'p') {
        wsg_conn_pause(c);
        run.paused = true;
    }
    int times = m->len >= 2 && p[0] == '!' && p[1] == '2' ? 2 : 1;
    for (int i = 0; i < times; i++) {
        enum wsg_send_result r = wsg_conn_send(c, m->type, m->data, m->len);
        if (r == WSG_SEND_ERROR)
            abort();
        run.full |= r == WSG_SEND_FULL;
    }
}

static void
mod_on_drain(struct wsg_conn *c, void *state)
{
    if (state != &run || c != run.conn || !run.opened || run.close_calls != 0 || !run.full)
        abort(); /* only after a send said WSG_SEND_FULL */
    if (wsg_conn_pending(c) > endpoint.cfg->limits.output_high_watermark / 2)
        abort(); /* and once the output is back under half the watermark */
    run.full = false;
    run.drain_calls++;
    run.progress++;
}

static void
mod_on_close(struct wsg_conn *c, uint16_t code, void *state)
{
    if (state != &run || c != run.conn || !run.opened || run.close_calls++ != 0)
        abort();
    run.progress++;
    if (code == 0)
        abort();
    /* Everything is refused from here on, and harmlessly. */
    if (wsg_conn_send(c, WSG_MESSAGE_TEXT, "late", 4) != WSG_SEND_CLOSED)
        abort();
    wsg_conn_close(c, WSG_CLOSE_NORMAL, "late");
}

static const struct wsg_module fuzz_module = {
    .abi = WSG_MODULE_ABI,
    .name = "fuzz-echo",
    .on_open = mod_on_open,
    .on_message = mod_on_message,
    .on_drain = mod_on_drain,
    .on_close = mod_on_close,
};

/* module.c's reference counting, without its loader: the target holds one
 * reference for the whole run, so the count never reaches 0. */
void
wsg_endpoint_ref(struct wsg_endpoint *ep)
{
    ep->refs++;
}

void
wsg_endpoint_unref(struct wsg_endpoint *ep)
{
    if (ep == NULL || ep->refs < 2)
        abort();
    ep->refs--;
}

/* The transport's half-close, once the close frame is out. */
static void
on_shutdown_write(void *arg)
{
    if (arg != &run || run.shutdown_calls++ != 0 || run.end_calls != 0)
        abort();
    if (evbuffer_get_length(bufferevent_get_output(run.server)) != 0)
        abort(); /* only after everything, the close frame last, is written */
    run.progress++;
}

static void
on_end(struct wsg_conn *c, void *arg)
{
    if (arg != &run || c != run.conn || run.end_calls++ != 0)
        abort();
    run.progress++;
    bufferevent_free(run.server);
    run.server = NULL;
}

/* ---- the model: what the server must send -------------------------------- */

struct frame {
    uint8_t opcode;
    uint16_t code;                 /* CLOSE */
    const uint8_t *data;           /* data frames (inflated) and pongs */
    size_t len;
    size_t wire;                   /* bytes on the wire (actual frames) */
};

struct frames {
    struct frame *v;
    size_t n, cap;
    uint8_t *store;                /* the raw output */
};

static void
frames_add(struct frames *fs, uint8_t opcode, uint16_t code, const uint8_t *data,
           size_t len, size_t wire)
{
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? fs->cap * 2 : 16;
        fs->v = realloc(fs->v, fs->cap * sizeof(*fs->v));
        if (fs->v == NULL)
            abort();
    }
    fs->v[fs->n++] = (struct frame){ opcode, code, data, len, wire };
}

/* The actual output: parse what the client received, as a client, and
 * inflate what came compressed (pmd NULL: not negotiated). */
static void
parse_output(struct bufferevent *client, struct frames *out,
             const struct wsg_deflate_params *pmd, uint32_t min_size)
{
    struct evbuffer *in = bufferevent_get_input(client);
    size_t n = evbuffer_get_length(in);
    out->store = malloc(n + 1);
    if (out->store == NULL)
        abort();
    evbuffer_remove(in, out->store, n);

    struct wsg_reader_limits lim = {
        .role = WSG_ROLE_CLIENT, .rsv_allowed = pmd != NULL ? WSG_RSV1 : 0,
    };
    struct wsg_reader r;
    wsg_reader_init(&r, &lim);
    struct wsg_deflate *z = NULL;
    if (pmd != NULL && (z = wsg_deflate_new(WSG_ROLE_CLIENT, pmd, LEVEL, MEM_LEVEL, 0)) == NULL)
        abort();
    size_t pos = 0;
    bool closed = false;
    while (pos < n) {
        if (closed)
            abort(); /* nothing after the close frame */
        size_t used = 0;
        struct wsg_msg m;
        enum wsg_err err = wsg_reader_feed(&r, out->store + pos, n - pos, &used, &m);
        pos += used;
        if (err == WSG_ERR_INCOMPLETE)
            break;
        if (err != WSG_OK)
            abort(); /* not a valid server frame */
        if (m.opcode == WSG_OP_CLOSE)
            closed = true;
        const uint8_t *data = m.data;
        size_t len = m.len;
        if (m.compressed) {
            if (wsg_deflate_inflate(z, m.data, m.len, &data, &len) != WSG_OK)
                abort(); /* the server's deflate stream is broken */
            if (m.len >= len || len < min_size)
                abort(); /* compressed although it did not pay */
            if (m.opcode == WSG_OP_TEXT && !wsg_utf8_valid(data, len))
                abort();
        }
        /* data points into the reader or the codec: keep a copy. */
        uint8_t *copy = malloc(len + 1);
        if (copy == NULL)
            abort();
        if (len > 0)
            memcpy(copy, data, len);
        frames_add(out, m.opcode, m.close_code, copy, len, used);
        if (m.compressed)
            wsg_deflate_inflate_done(z);
    }
    /* The output ends at a frame boundary: the server writes whole frames. */
    if (r.hlen != 0 || r.in_payload || r.in_message)
        abort();
    wsg_reader_free(&r);
    wsg_deflate_free(z);
}

static void
frames_free(struct frames *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free((void *)fs->v[i].data);
    free(fs->v);
    free(fs->store);
}

/* Walks the model and the actual frames side by side. */
struct model {
    const struct frames *actual;
    size_t next;                   /* actual frames matched so far */
    size_t pending;                /* bytes queued and not read by the client */
    bool reading;                  /* the client reads as the server writes */
    bool drop;
    bool keepalive;                /* pings and a 1001 close may come any time */
    bool may_cut;                  /* timers may end it with output unread */
    uint64_t hwm;
    bool open;                     /* OPEN: messages flow */
    bool close_sent;
    struct wsg_deflate *pmd;       /* reference inflater, if negotiated */
};

/* Is there an actual frame left to compare with (keepalive pings, sent
 * whenever their timer fires, skipped)? */
static bool
model_actual_left(struct model *md)
{
    while (md->keepalive && md->next < md->actual->n
           && md->actual->v[md->next].opcode == WSG_OP_PING) {
        if (md->actual->v[md->next].len != 0)
            abort();
        if (!md->reading)
            md->pending += md->actual->v[md->next].wire;
        md->next++;
    }
    return md->next < md->actual->n;
}

/* The model wants a frame the server did not send.  Only short timers may
 * end a connection early, and then a client that did not read loses what
 * was still queued for it; a reading client has received everything. */
static bool
model_missing(const struct model *md)
{
    if (!md->may_cut)
        abort();
    return false;
}

static const struct frame *
model_take(struct model *md)
{
    const struct frame *f = &md->actual->v[md->next++];
    if (!md->reading)
        md->pending += f->wire;
    return f;
}

static void
model_expect(struct model *md, uint8_t opcode, const uint8_t *data, size_t len)
{
    if (!model_actual_left(md) && !model_missing(md))
        return;
    const struct frame *f = model_take(md);
    if (f->opcode != opcode || f->len != len || (len > 0 && memcmp(f->data, data, len) != 0))
        abort();
}

static void
model_expect_close(struct model *md, uint16_t code)
{
    md->open = false;
    md->close_sent = true;
    if (!model_actual_left(md) && !model_missing(md))
        return;
    const struct frame *f = model_take(md);
    if (f->opcode != WSG_OP_CLOSE || f->code != code)
        abort();
}

/* A keepalive timeout closes with 1001 whenever the timer says so. */
static bool
model_keepalive_closed(struct model *md)
{
    if (!md->keepalive || !md->open || !model_actual_left(md))
        return false;
    const struct frame *f = &md->actual->v[md->next];
    if (f->opcode != WSG_OP_CLOSE || f->code != WSG_CLOSE_GOING_AWAY)
        return false;
    model_expect_close(md, WSG_CLOSE_GOING_AWAY);
    return true;
}

/* wsg_conn_send: admitted unless bytes are queued and this message would
 * take them over the watermark. */
static void
model_send(struct model *md, uint8_t opcode, const uint8_t *data, size_t len)
{
    if (model_keepalive_closed(md) || !md->open)
        return;
    if (md->pending > 0 && md->pending + len > md->hwm) {
        if (!md->drop)
            model_expect_close(md, WSG_CLOSE_POLICY_VIOLATION);
        return;
    }
    model_expect(md, opcode, data, len);
}

/* A data message as the module sees it; true if it fails the connection
 * (a compressed message that does not inflate, or inflates too big or to
 * bad UTF-8). */
static bool
model_data(struct model *md, const struct wsg_msg *m)
{
    if (!md->open)
        return false; /* ignored after our close, not even inflated */
    const uint8_t *data = m->data;
    size_t len = m->len;
    if (m->compressed) {
        enum wsg_err err = wsg_deflate_inflate(md->pmd, m->data, m->len, &data, &len);
        if (err == WSG_OK && m->opcode == WSG_OP_TEXT && !wsg_utf8_valid(data, len))
            err = WSG_ERR_BAD_UTF8;
        if (err != WSG_OK) {
            model_expect_close(md, wsg_err_close_code(err));
            return true;
        }
    }
    if (len >= 2 && data[0] == '!' && data[1] == 'c') {
        model_expect_close(md, 4000);
    } else if (len >= 2 && data[0] == '!' && data[1] == 'x') {
        model_expect_close(md, WSG_CLOSE_INTERNAL_ERROR);
    } else {
        model_send(md, m->opcode, data, len);
        if (len >= 2 && data[0] == '!' && data[1] == '2')
            model_send(md, m->opcode, data, len);
    }
    if (m->compressed)
        wsg_deflate_inflate_done(md->pmd);
    return false;
}

/* true if the message ends the parsing (the connection failed). */
static bool
model_message(struct model *md, const struct wsg_msg *m)
{
    model_keepalive_closed(md);
    switch (m->opcode) {
    case WSG_OP_TEXT:
    case WSG_OP_BINARY:
        return model_data(md, m);
    case WSG_OP_PING:
        if (md->open)
            model_expect(md, WSG_OP_PONG, m->data, m->len);
        break;
    case WSG_OP_PONG:
        break;
    }
    return false;
}

/* Replays the client's bytes through a reference reader and checks the
 * server's frames against what they imply. */
static void
check_output(const uint8_t *in, size_t len, const struct frames *actual,
             const struct wsg_limits *lim, bool reading, bool timers,
             bool server_shutdown, const struct wsg_deflate_params *pmd)
{
    struct model md = {
        .actual = actual, .reading = reading, .keepalive = timers,
        .may_cut = timers && !reading,
        .drop = lim->slow_policy == WSG_SLOW_DROP, .hwm = lim->output_high_watermark,
        .open = true,
    };
    if (pmd != NULL && (md.pmd = wsg_deflate_new(WSG_ROLE_SERVER, pmd, LEVEL, MEM_LEVEL,
                                                 lim->max_message)) == NULL)
        abort();
    switch (run.open_mode) {
    case OPEN_REFUSE:
        model_expect_close(&md, WSG_CLOSE_POLICY_VIOLATION);
        break;
    case OPEN_CLOSE:
        model_expect_close(&md, 4001);
        break;
    case OPEN_GREET:
        model_send(&md, WSG_OP_TEXT, (const uint8_t *)"hello", 5);
        break;
    case OPEN_ACCEPT:
        break;
    }

    struct wsg_reader_limits rl = {
        .role = WSG_ROLE_SERVER, .rsv_allowed = pmd != NULL ? WSG_RSV1 : 0,
        .max_frame = lim->max_frame, .max_message = lim->max_message,
    };
    struct wsg_reader r;
    wsg_reader_init(&r, &rl);
    size_t pos = 0;
    while (pos < len) {
        size_t used = 0;
        struct wsg_msg m;
        enum wsg_err err = wsg_reader_feed(&r, in + pos, len - pos, &used, &m);
        pos += used;
        if (err == WSG_ERR_INCOMPLETE)
            break;
        if (err != WSG_OK) {
            model_keepalive_closed(&md);
            if (!md.close_sent)
                model_expect_close(&md, wsg_err_close_code(err));
            goto end;
        }
        if (m.opcode == WSG_OP_CLOSE) {
            model_keepalive_closed(&md);
            /* Echo the peer's code; an empty close gets an empty close. */
            if (!md.close_sent)
                model_expect_close(&md, m.close_code);
            goto end;
        }
        if (model_message(&md, &m))
            goto end;
    }
    model_keepalive_closed(&md);
    if (server_shutdown && md.open)
        model_expect_close(&md, WSG_CLOSE_GOING_AWAY);
end:
    /* Whatever the server sent is accounted for, keepalive pings aside. */
    while (md.keepalive && md.next < actual->n && actual->v[md.next].opcode == WSG_OP_PING)
        md.next++;
    if (md.next != actual->n)
        abort();
    wsg_reader_free(&r);
    wsg_deflate_free(md.pmd);
}

/* ---- driving the loop ---------------------------------------------------- */

static struct event_base *base;
static struct bufferevent *client;

static size_t
signature(void)
{
    size_t s = run.progress;
    s = s * 131 + evbuffer_get_length(bufferevent_get_input(client));
    s = s * 131 + evbuffer_get_length(bufferevent_get_output(client));
    if (run.server != NULL)
        s = s * 131 + evbuffer_get_length(bufferevent_get_output(run.server));
    return s;
}

/* Let a paused connection read again (as a module would, later), for as
 * long as it keeps pausing. */
static void resume(void);

/* Run the loop without blocking until nothing changes any more. */
static void
settle(void)
{
    for (int i = 0; i < 10000; i++) {
        size_t before = signature();
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (signature() == before
            && event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) == 0)
            return;
    }
    abort(); /* something keeps the loop busy: a spin */
}

static void
resume(void)
{
    while (run.paused && run.end_calls == 0) {
        run.paused = false;
        wsg_conn_resume(run.conn);
        settle();
    }
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const size_t chunk_sizes[8] = { 0, 1, 2, 3, 7, 16, 61, 1000 };
static const uint64_t watermarks[4] = { 64, 512, 4096, 1 << 20 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return -1;
    static bool logging;
    if (!logging) {
        log_init(LOG_WARNING, false);
        logging = true;
    }
    uint8_t c0 = data[0], c1 = data[1], c2 = data[2];
    const uint8_t *in = data + 3;
    size_t len = size - 3;
    size_t chunk = chunk_sizes[c0 & 7] ? chunk_sizes[c0 & 7] : (len ? len : 1);
    bool prebuffer = c0 & 0x08, slow = c0 & 0x10, eof = c0 & 0x40;
    bool wait = (c1 & 0x70) == 0x70 || (c1 & 0x70) == 0x50;
    bool server_shutdown = (c1 & 0x70) == 0x60;
    bool resume_late = c1 & 0x80;
    static const uint8_t server_bits[4] = { 15, 8, 9, 12 }, client_bits[4] = { 15, 8, 9, 11 };
    struct wsg_deflate_params pmd = {
        .server_max_window_bits = server_bits[(c2 >> 1) & 3],
        .client_max_window_bits = client_bits[(c2 >> 3) & 3],
        .server_no_context_takeover = c2 & 0x20,
        .client_no_context_takeover = c2 & 0x40,
    };
    const struct wsg_deflate_params *deflate = (c2 & 1) ? &pmd : NULL;

    struct wsg_endpoint_cfg ecfg = {
        .path = "/fuzz",
        .module = "fuzz-echo",
        .limits = {
            .max_frame = MAX_FRAME,
            .max_message = MAX_MESSAGE,
            .handshake_timeout_ms = 1000,
            .ping_interval_ms = (c1 & 0x70) == 0x70 ? 2 : 0,
            .idle_timeout_ms = (c1 & 0x70) == 0x50 ? 3 : 0,
            /* Short only when waiting for the timers: otherwise no timer
             * fires during a run and the output is exactly predictable. */
            .close_timeout_ms = wait ? 2 : 60000,
            .output_high_watermark = watermarks[(c1 >> 2) & 3],
            .slow_policy = (c0 & 0x20) ? WSG_SLOW_DROP : WSG_SLOW_CLOSE,
        },
        .compression = {
            .enabled = deflate != NULL, .level = LEVEL, .mem_level = MEM_LEVEL,
            .server_max_window_bits = pmd.server_max_window_bits,
            .client_max_window_bits = pmd.client_max_window_bits,
            .server_no_context_takeover = pmd.server_no_context_takeover,
            .client_no_context_takeover = pmd.client_no_context_takeover,
            .min_size = (c2 & 0x80) ? 32 : 0,
        },
    };
    endpoint = (struct wsg_endpoint){
        .cfg = &ecfg, .mod = &fuzz_module, .state = &run, .refs = 1, .stats = &stats,
    };
    memset(&run, 0, sizeof(run));
    run.open_mode = (enum open_mode)(c1 & 3);

    base = event_base_new();
    struct bufferevent *pair[2];
    if (base == NULL || bufferevent_pair_new(base, 0, pair) != 0)
        abort();
    run.server = pair[0];
    client = pair[1];
    if (bufferevent_getfd(run.server) != -1)
        abort(); /* conn.c's shutdown() must see no socket here */
    if (!slow)
        bufferevent_enable(client, EV_READ);

    size_t pos = 0;
    if (prebuffer) {
        /* Sent together with the handshake: already in the server's input
         * when the connection starts, with no read event to announce it. */
        bufferevent_enable(run.server, EV_READ);
        size_t n = len < chunk ? len : chunk;
        bufferevent_write(client, in, n);
        pos = n;
        if (evbuffer_get_length(bufferevent_get_input(run.server)) != n)
            abort();
    }
    static const struct wsg_header headers[] = {
        { "Host", 4, "127.0.0.1", 9 },
        { "X-Fuzz", 6, "yes", 3 },
    };
    struct wsg_conn_params p = {
        .base = base, .bev = run.server, .ep = &endpoint, .peer = PEER,
        .target = TARGET, .subprotocol = "chat", .deflate = deflate,
        .on_end = on_end, .end_arg = &run,
        .shutdown_write = (c0 & 0x80) ? on_shutdown_write : NULL,
        .headers = headers, .nheaders = 2, .secure = true,
    };
    struct wsg_conn *c = wsg_conn_start(&p);
    if (c == NULL || c != run.conn)
        abort();
    settle();
    if (!resume_late)
        resume();

    while (pos < len) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        bufferevent_write(client, in + pos, n);
        pos += n;
        settle();
        if (!resume_late)
            resume();
    }
    resume();
    if (slow) {
        bufferevent_enable(client, EV_READ);
        settle();
    }
    if (server_shutdown && run.end_calls == 0) {
        wsg_conn_shutdown(run.conn);
        settle();
    }
    if (eof && run.end_calls == 0) {
        bufferevent_flush(client, EV_WRITE, BEV_FINISHED);
        settle();
        if (run.end_calls != 1)
            abort(); /* the peer's EOF ends the connection in any state */
    }
    if (wait) {
        /* Keepalive pings go unanswered (or the idle timeout strikes),
         * then the close timeout ends the connection. */
        uint64_t deadline = mono_ms() + 5000;
        while (run.end_calls == 0 && mono_ms() < deadline) {
            if (event_base_loop(base, EVLOOP_ONCE) != 0)
                break;
            settle();
        }
        if (run.end_calls != 1)
            abort(); /* a timer did not fire or did not end it */
    }
    if (run.end_calls == 0)
        wsg_conn_abort(run.conn);
    settle();

    if (run.end_calls != 1 || run.open_calls != 1 || run.close_calls != (run.opened ? 1u : 0u))
        abort();
    if (endpoint.refs != 1)
        abort();
    if (event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) != 0)
        abort(); /* the connection's timer outlived it */

    struct frames actual = { 0 };
    parse_output(client, &actual, deflate, ecfg.compression.min_size);
    check_output(in, len, &actual, &ecfg.limits, !slow, wait, server_shutdown, deflate);
    /* The write side is shut once the close frame is out, and only then. */
    if (run.shutdown_calls != 0
        && (actual.n == 0 || actual.v[actual.n - 1].opcode != WSG_OP_CLOSE) && !slow)
        abort();
    frames_free(&actual);

    bufferevent_free(client);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    base = NULL;
    client = NULL;
    return 0;
}
