/*
 * server.h - the HTTP front end: listeners, plain HTTP routes, the
 * WebSocket sessions it handed off, and graceful stop.
 */
#ifndef WSG_DAEMON_SERVER_H
#define WSG_DAEMON_SERVER_H

#include <stdbool.h>
#include <sys/queue.h>

#include "accesslog.h"
#include "config.h"
#include "deadline.h"
#include "admission.h"
#include "metrics.h"
#include "module.h"

struct event_base;
struct evhttp;
struct event;
struct wsg_listener;
struct wsg_session;

TAILQ_HEAD(wsg_session_list, wsg_session);

struct wsg_server {
    struct event_base *base;
    struct wsg_listener *listeners;     /* one per listen entry, each its own evhttp */
    size_t nlisteners;
    struct wsg_config *cfg;
    struct wsg_endpoint **eps;          /* one per cfg->endpoints[i] */
    struct wsg_session_list sessions;   /* upgraded connections */
    unsigned nsessions;
    struct wsg_admission *admission;    /* the limits, shared by every worker */
    unsigned worker, workers;           /* this front end is worker `worker` of `workers` */
    struct wsg_metrics *metrics;
    struct wsg_accesslog *access;       /* NULL: no access log */
    struct wsg_deadlines *deadlines;    /* connections still in the HTTP stage */
    int null_fd;                        /* /dev/null: see upgrade.c, leaving evhttp */
    struct wsg_flusher *flusher;        /* writes of connections on plain sockets */
    bool stopping;
    struct event *stop_timer;
};

/* What a worker's front end shares with the other workers' (workers = N):
 * each listens on every listen entry (SO_REUSEPORT when N > 1); worker 0
 * also serves /metrics for all. */
struct wsg_server_shared {
    struct wsg_admission *admission;
    unsigned worker, workers;
};

/* Bind every listener and start serving; NULL with a message in err. */
struct wsg_server *wsg_server_new(struct event_base *base, struct wsg_config *cfg,
                                  struct wsg_endpoint **eps,
                                  const struct wsg_server_shared *sh,
                                  char *err, size_t errlen);

/* A reload: new connections get the new configuration and endpoints (the
 * caller keeps them alive); listeners stay as they are, the metrics
 * listener and the access log follow the new configuration.  -1 (with a
 * message in err) when out of memory: nothing changed. */
int wsg_server_reconfigure(struct wsg_server *srv, struct wsg_config *cfg,
                           struct wsg_endpoint **eps, char *err, size_t errlen);

/* SIGUSR1: reopen the access log (after logrotate renamed it). */
void wsg_server_reopen_logs(struct wsg_server *srv);

/* Stop accepting, close every WebSocket with 1001 and break the event
 * loop once they are gone or the close timeout has passed. */
void wsg_server_stop(struct wsg_server *srv);

/* Free the front end; sessions still open are torn down. */
void wsg_server_free(struct wsg_server *srv);

/* Called by upgrade.c when a session ends. */
void wsg_server_session_ended(struct wsg_server *srv);

#endif
