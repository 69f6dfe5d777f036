/*
 * conn.h - one WebSocket connection after the handshake (server role).
 *
 * conn.c speaks only to a bufferevent and to the protocol core: whoever
 * did the handshake hands over the bufferevent with wsg_conn_start() and
 * hears through the end callback, called exactly once when the connection
 * is over (never from inside a wsg_conn_* call made by a module), that it
 * may release the transport.  A TLS bufferevent is only borrowed; a plain
 * one is taken with its socket, so that an idle connection can free it and
 * make another later (conn.c, "Sleeping").  That keeps evhttp, TLS and a
 * future HTTP/2 stream out of here.
 */
#ifndef WSG_DAEMON_CONN_H
#define WSG_DAEMON_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "module.h"
#include "wsgate/conn.h"

struct bufferevent;
struct event_base;
struct wsg_header;
struct wsg_deflate_params;

typedef void (*wsg_conn_end_fn)(struct wsg_conn *c, void *arg);

/* Output queued during one turn of the event loop leaves in one writev at
 * its end, for connections on a plain socket (see conn.c).  One per event
 * base; free it after every connection that used it has ended. */
struct wsg_flusher;
struct wsg_flusher *wsg_flusher_new(struct event_base *base);
void wsg_flusher_free(struct wsg_flusher *f);

struct wsg_conn_params {
    struct event_base *base;
    struct bufferevent *bev;      /* input may already hold frames */
    struct wsg_endpoint *ep;      /* the connection takes a reference */
    const char *peer;             /* copied */
    const char *target;           /* copied */
    const char *subprotocol;      /* copied; NULL for none */
    const struct wsg_deflate_params *deflate; /* copied; NULL: not negotiated */
    /* The request's headers, NUL-terminated strings, for the module's
     * on_open only (wsg_conn_header): not copied, not kept. */
    const struct wsg_header *headers;
    size_t nheaders;
    bool secure;                  /* TLS, or https according to a trusted proxy */
    wsg_conn_end_fn on_end;       /* release the transport */
    void *end_arg;
    /* End our direction once the close frame is out (TLS: close_notify,
     * then the socket's write side), called with end_arg.  NULL: the
     * socket's write side only (a plain socket). */
    void (*shutdown_write)(void *arg);
    /* A plain socket: the connection takes the bufferevent (made without
     * BEV_OPT_CLOSE_ON_FREE) and the socket, writes to it itself at the
     * end of each loop turn, frees the bufferevent while idle and closes
     * the socket at the end.  NULL: TLS; the bufferevent is borrowed and
     * writes itself. */
    struct wsg_flusher *flusher;
};

/* Take over the bufferevent, call the module's on_open and process any
 * input already buffered.  NULL on allocation failure (nothing taken). */
struct wsg_conn *wsg_conn_start(const struct wsg_conn_params *p);

/* What the connection did, for the access log and the close-code metric:
 * complete once the end callback runs. */
struct wsg_conn_report {
    uint64_t msgs_in, msgs_out;       /* data messages */
    uint64_t bytes_in, bytes_out;     /* their payloads (uncompressed) */
    uint16_t code;                    /* as on_close got it; 1006: the peer vanished */
    bool by_server;                   /* our close frame came first */
};

const struct wsg_conn_report *wsg_conn_report(const struct wsg_conn *c);

/* Server going away: close with 1001 and wait for the peer's close. */
void wsg_conn_shutdown(struct wsg_conn *c);

/* Tear down now, without a close handshake (the transport is being freed
 * under us).  Calls on_close (1006) and the end callback. */
void wsg_conn_abort(struct wsg_conn *c);

#endif
