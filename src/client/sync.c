/*
 * sync.c - the blocking client: a struct wsg_client on a private
 * event_base that only runs inside these calls.
 *
 * Each call runs the loop one turn at a time until what it waits for has
 * happened (open, written, a message, the end) or its own deadline timer
 * fires.  Messages that arrive while waiting for something else are copied
 * into a queue, so none is lost between calls.
 */
#include "opts.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "close.h"
#include "frame.h"

struct queued_msg {
    struct queued_msg *next;
    enum wsg_message_type type;
    size_t len;
    uint8_t data[];
};

struct wsg_client_sync {
    struct event_base *base;
    struct wsg_client *c;
    struct event *deadline;
    bool timed_out;
    bool opened;
    bool ended;
    bool nomem;                    /* a message could not be queued */
    struct queued_msg *head, *tail;
    struct queued_msg *current;    /* handed out by the last recv */
    enum wsg_client_err err;
    char errmsg[512];
    uint16_t close_code;
    char close_reason[WSG_CONTROL_MAX_PAYLOAD + 1];
};

/* ---- callbacks ---------------------------------------------------------- */

static void
sync_on_open(struct wsg_client *c, void *arg)
{
    struct wsg_client_sync *s = arg;
    (void)c;
    s->opened = true;
}

static void
sync_on_message(struct wsg_client *c, const struct wsg_message *m, void *arg)
{
    struct wsg_client_sync *s = arg;
    (void)c;
    struct queued_msg *q = malloc(sizeof(*q) + m->len);
    if (q == NULL) {
        s->nomem = true;
        return;
    }
    q->next = NULL;
    q->type = m->type;
    q->len = m->len;
    if (m->len > 0)
        memcpy(q->data, m->data, m->len);
    if (s->tail != NULL)
        s->tail->next = q;
    else
        s->head = q;
    s->tail = q;
}

static void
sync_on_error(struct wsg_client *c, enum wsg_client_err err, const char *msg, void *arg)
{
    struct wsg_client_sync *s = arg;
    (void)c;
    s->err = err;
    wsg_client_errf(err, s->errmsg, sizeof(s->errmsg), "%s", msg);
}

static void
sync_on_close(struct wsg_client *c, uint16_t code, const char *reason, size_t reason_len,
              void *arg)
{
    struct wsg_client_sync *s = arg;
    (void)c;
    s->ended = true;
    s->close_code = code;
    memcpy(s->close_reason, reason, reason_len);
    s->close_reason[reason_len] = '\0';
}

static void
sync_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_client_sync *s = arg;
    (void)fd, (void)what;
    s->timed_out = true;
}

/* ---- waiting ------------------------------------------------------------ */

enum wait_for { WAIT_OPEN, WAIT_WRITTEN, WAIT_MESSAGE, WAIT_END };

static bool
sync_done(const struct wsg_client_sync *s, enum wait_for what)
{
    if (s->ended)
        return true;
    switch (what) {
    case WAIT_OPEN: return s->opened;
    case WAIT_WRITTEN: return wsg_client_pending(s->c) == 0;
    case WAIT_MESSAGE: return s->head != NULL;
    case WAIT_END: return false;
    }
    return true;
}

/* Run the loop until what happened or the connection ended (true), or
 * timeout_ms passed (false). */
static bool
sync_wait(struct wsg_client_sync *s, enum wait_for what, int timeout_ms)
{
    s->timed_out = false;
    if (timeout_ms >= 0) {
        struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
        evtimer_add(s->deadline, &tv);
    }
    while (!sync_done(s, what) && !s->timed_out)
        if (event_base_loop(s->base, EVLOOP_ONCE) != 0)
            break;                 /* nothing left to wait for */
    evtimer_del(s->deadline);
    return sync_done(s, what);
}

/* The result of a call that found the connection ended. */
static enum wsg_client_err
sync_ended(const struct wsg_client_sync *s)
{
    return s->err != WSG_CLIENT_OK ? s->err : WSG_CLIENT_ERR_CLOSED;
}

/* ---- public API ----------------------------------------------------------- */

void
wsg_client_sync_free(struct wsg_client_sync *s)
{
    if (s == NULL)
        return;
    wsg_client_free(s->c);
    free(s->current);
    for (struct queued_msg *q = s->head, *next; q != NULL; q = next) {
        next = q->next;
        free(q);
    }
    if (s->deadline != NULL)
        event_free(s->deadline);
    if (s->base != NULL)
        event_base_free(s->base);
    free(s);
}

enum wsg_client_err
wsg_client_sync_open(struct wsg_client_sync **out, const char *url,
                     const struct wsg_client_opts *opts, int timeout_ms,
                     char *err, size_t errlen)
{
    static const struct wsg_client_callbacks cbs = {
        .on_open = sync_on_open,
        .on_message = sync_on_message,
        .on_error = sync_on_error,
        .on_close = sync_on_close,
    };
    enum wsg_client_err e;

    if (out == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_STATE, err, errlen, "no result pointer");
    *out = NULL;
    struct wsg_client_sync *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    s->base = event_base_new();
    if (s->base != NULL)
        s->deadline = evtimer_new(s->base, sync_deadline, s);
    if (s->deadline != NULL)
        s->c = wsg_client_new(s->base, opts, &cbs, s);
    if (s->c == NULL) {
        wsg_client_sync_free(s);
        return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    }
    e = wsg_client_connect(s->c, url, err, errlen);
    if (e != WSG_CLIENT_OK) {
        wsg_client_sync_free(s);
        return e;
    }
    if (!sync_wait(s, WAIT_OPEN, timeout_ms)) {
        wsg_client_sync_free(s);
        return wsg_client_errf(WSG_CLIENT_ERR_TIMEOUT, err, errlen,
                               "not connected within %d ms", timeout_ms);
    }
    if (!s->opened) {
        e = s->err != WSG_CLIENT_OK ? s->err : WSG_CLIENT_ERR_CONNECTION_LOST;
        wsg_client_errf(e, err, errlen, "%s",
                        s->errmsg[0] != '\0' ? s->errmsg : "connection closed");
        wsg_client_sync_free(s);
        return e;
    }
    *out = s;
    return WSG_CLIENT_OK;
}

enum wsg_client_err
wsg_client_sync_send(struct wsg_client_sync *s, enum wsg_message_type type,
                     const void *data, size_t len, int timeout_ms)
{
    if (type != WSG_MESSAGE_TEXT && type != WSG_MESSAGE_BINARY)
        return wsg_client_errf(WSG_CLIENT_ERR_STATE, s->errmsg, sizeof(s->errmsg),
                               "not a text or binary message");
    if (s->ended)
        return sync_ended(s);
    switch (wsg_client_send(s->c, type, data, len)) {
    case WSG_SEND_OK:
    case WSG_SEND_FULL:
        break;
    case WSG_SEND_CLOSED:
    case WSG_SEND_DROPPED:
        return wsg_client_errf(WSG_CLIENT_ERR_CLOSED, s->errmsg, sizeof(s->errmsg),
                               "the connection is closing");
    case WSG_SEND_ERROR:
        return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, s->errmsg, sizeof(s->errmsg),
                               "cannot queue the message: out of memory");
    }
    if (!sync_wait(s, WAIT_WRITTEN, timeout_ms))
        return wsg_client_errf(WSG_CLIENT_ERR_TIMEOUT, s->errmsg, sizeof(s->errmsg),
                               "message not written within %d ms", timeout_ms);
    return s->ended ? sync_ended(s) : WSG_CLIENT_OK;
}

enum wsg_client_err
wsg_client_sync_recv(struct wsg_client_sync *s, struct wsg_message *m, int timeout_ms)
{
    free(s->current);
    s->current = NULL;
    if (s->head == NULL) {
        if (s->ended)
            return sync_ended(s);
        if (!sync_wait(s, WAIT_MESSAGE, timeout_ms))
            return WSG_CLIENT_ERR_TIMEOUT;
        if (s->nomem)
            return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, s->errmsg, sizeof(s->errmsg),
                                   "a message was lost: out of memory");
        if (s->head == NULL)
            return sync_ended(s);
    }
    struct queued_msg *q = s->head;
    s->head = q->next;
    if (s->head == NULL)
        s->tail = NULL;
    s->current = q;
    m->type = q->type;
    m->data = q->data;
    m->len = q->len;
    return WSG_CLIENT_OK;
}

enum wsg_client_err
wsg_client_sync_close(struct wsg_client_sync *s, uint16_t code, const char *reason,
                      int timeout_ms)
{
    if (!s->ended) {
        if (wsg_client_close(s->c, code, reason) == WSG_SEND_ERROR)
            return wsg_client_errf(WSG_CLIENT_ERR_STATE, s->errmsg, sizeof(s->errmsg),
                                   "invalid close code %u", (unsigned)code);
        if (!sync_wait(s, WAIT_END, timeout_ms))
            return wsg_client_errf(WSG_CLIENT_ERR_TIMEOUT, s->errmsg, sizeof(s->errmsg),
                                   "close not complete within %d ms", timeout_ms);
    }
    return s->err;
}

uint16_t
wsg_client_sync_close_code(const struct wsg_client_sync *s)
{
    return s->ended ? s->close_code : 0;
}

const char *
wsg_client_sync_close_reason(const struct wsg_client_sync *s)
{
    return s->ended ? s->close_reason : "";
}

const char *
wsg_client_sync_error(const struct wsg_client_sync *s)
{
    return s->errmsg;
}

struct wsg_client *
wsg_client_sync_client(const struct wsg_client_sync *s)
{
    return s->c;
}
