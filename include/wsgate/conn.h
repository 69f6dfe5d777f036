/*
 * wsgate/conn.h - what a handler module may do with a WebSocket connection.
 *
 * A struct wsg_conn is owned by wsgated; a module holds a pointer to it
 * from on_open until on_close returns, never after.
 */
#ifndef WSGATE_CONN_H
#define WSGATE_CONN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wsg_conn;

enum wsg_message_type {
    WSG_MESSAGE_TEXT = 1,    /* the RFC 6455 opcodes */
    WSG_MESSAGE_BINARY = 2,
};

struct wsg_message {
    enum wsg_message_type type;
    const void *data;
    size_t len;
};

enum wsg_send_result {
    WSG_SEND_OK = 0,
    WSG_SEND_FULL = 1,       /* queued, but the output is over the high-watermark */
    WSG_SEND_DROPPED = -1,   /* not sent: slow reader and the policy drops */
    WSG_SEND_CLOSED = -2,    /* not sent: the connection is closing */
    WSG_SEND_ERROR = -3,     /* not sent: bad argument or out of memory */
};

/* Queue a message.  Text must be valid UTF-8 (it is not checked). */
enum wsg_send_result wsg_conn_send(struct wsg_conn *c, enum wsg_message_type type,
                                   const void *data, size_t len);

/* A message framed once and shared by many receivers (broadcast): each
 * wsg_conn_send_shared() queues the same bytes, holding a reference until
 * they are written, instead of copying the message per receiver.  The
 * creator holds one reference and drops it with wsg_shared_msg_unref(). */
struct wsg_shared_msg;

struct wsg_shared_msg *wsg_shared_msg_new(enum wsg_message_type type,
                                          const void *data, size_t len);
void wsg_shared_msg_ref(struct wsg_shared_msg *m);
void wsg_shared_msg_unref(struct wsg_shared_msg *m);

/* Like wsg_conn_send(), with the same watermark policy. */
enum wsg_send_result wsg_conn_send_shared(struct wsg_conn *c, struct wsg_shared_msg *m);

/* Start the close handshake with code (1000, 1001, 1008, 3000-4999...) and
 * a reason of at most 123 bytes of UTF-8 (longer is truncated). */
void wsg_conn_close(struct wsg_conn *c, uint16_t code, const char *reason);

/* Flow control from the module's side: stop taking messages from this
 * peer (its data waits in the kernel's buffers, so TCP slows the peer
 * down) until resumed, e.g. while a backend cannot keep up.  Control
 * frames already read are still answered; timeouts keep running. */
void wsg_conn_pause(struct wsg_conn *c);
void wsg_conn_resume(struct wsg_conn *c);

/* Bytes queued for the peer and not yet written. */
size_t wsg_conn_pending(const struct wsg_conn *c);

/* The module's own per-connection pointer. */
void wsg_conn_set_data(struct wsg_conn *c, void *data);
void *wsg_conn_get_data(const struct wsg_conn *c);

/* The peer as "address:port" ("[v6]:port" for IPv6). */
const char *wsg_conn_peer(const struct wsg_conn *c);

/* The request target the client asked for: path and query. */
const char *wsg_conn_target(const struct wsg_conn *c);

/* The negotiated subprotocol, or NULL. */
const char *wsg_conn_subprotocol(const struct wsg_conn *c);

/* The client's request headers, during on_open only (they are dropped
 * after it to save memory: copy what you need).  wsg_conn_header: the
 * value of the first header named name (case-insensitive), or NULL.
 * wsg_conn_header_at: the name of the i-th header (0-based, in request
 * order) with its value in *value, or NULL past the last.  Both return
 * NULL outside on_open. */
const char *wsg_conn_header(const struct wsg_conn *c, const char *name);
const char *wsg_conn_header_at(const struct wsg_conn *c, size_t i, const char **value);

/* 1 if the client reached us over TLS (or, from a trusted proxy, says so
 * with X-Forwarded-Proto: https), else 0. */
int wsg_conn_secure(const struct wsg_conn *c);

/* syslog(3) levels: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG... */
void wsg_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif
