/*
 * upgrade.h - server handshake and hand-off to a WebSocket connection.
 */
#ifndef WSG_DAEMON_UPGRADE_H
#define WSG_DAEMON_UPGRADE_H

#include <stdbool.h>
#include <stdint.h>

#include "server.h"

struct evhttp_request;
struct evhttp_connection;

/* An upgraded connection as the front end sees it: the evhttp connection
 * that owns the socket and the WebSocket connection that uses it. */
struct wsg_session {
    TAILQ_ENTRY(wsg_session) link;
    struct wsg_server *srv;
    struct evhttp_connection *evcon;  /* NULL once evhttp let go of it */
    struct wsg_conn *conn;            /* NULL once the connection ended */
    struct wsg_endpoint *ep;          /* a reference */
    char addr[64];                    /* client address, for per-IP counts and the log */
    uint64_t start_us;                /* Unix time of the 101, for the access log */
    bool notified;                    /* TLS close_notify sent */
};

/* Answer a request for an endpoint's path: refuse it with the right HTTP
 * status, or switch protocols and start a connection (a session). */
void wsg_upgrade(struct wsg_server *srv, struct evhttp_request *req,
                 struct wsg_endpoint *ep);

/* Graceful: close 1001.  Abort: tear down now. */
void wsg_session_shutdown(struct wsg_session *s);
void wsg_session_abort(struct wsg_session *s);

/* The client's address (from a trusted proxy's headers, else the TCP
 * peer's), for requests that are not upgraded. */
void wsg_request_client(struct wsg_server *srv, struct evhttp_request *req, char *addr,
                        size_t addrlen);

/* "GET", "HEAD", ... for the log. */
const char *wsg_request_method(struct evhttp_request *req);

/* A plain-text reply (server.c). */
void wsg_http_reply(struct evhttp_request *req, int status, const char *reason,
                    const char *body);

#endif
