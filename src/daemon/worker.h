/*
 * worker.h - workers = N: N event loops, each on its own thread with its
 * own front end (listeners on the same ports, SO_REUSEPORT), endpoints,
 * connections and counters.  Nothing on the hot path is shared; what is
 * (the connection limits, the metrics registry, the loaded modules) is
 * taken under a lock on handshakes, reloads and scrapes only.
 *
 * Worker 0 runs on the main thread, which also takes the signals (main.c)
 * and passes reloads, log reopens and the stop on to the others through a
 * pipe each.
 */
#ifndef WSG_DAEMON_WORKER_H
#define WSG_DAEMON_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "admission.h"
#include "config.h"
#include "module.h"
#include "server.h"

struct event;

struct wsg_worker {
    struct wsg_worker_id id;        /* index, count and event loop */
    struct wsg_admission *admission;
    struct wsg_config *cfg;         /* in force on this worker (a reference) */
    struct wsg_endpoint **eps;      /* made for this worker from cfg */
    struct wsg_server *srv;
    /* Workers 1..N-1 only: */
    pthread_t thread;
    bool running;                   /* the thread was started */
    int cmd[2];                     /* pipe: commands from the main thread */
    struct event *cmd_ev;
    pthread_mutex_t lock;           /* for what the thread tells the main one: */
    pthread_cond_t cond;
    int started;                    /* 0 pending, 1 serving, -1 failed (err) */
    unsigned long reloaded;         /* generation of the last reload it handled */
    bool ended;                     /* its loop is over */
    char err[1024];
};

/* Worker 0: the caller's loop, configuration and endpoints (made with
 * wsg_worker_id {base, 0, count}); its front end is bound here.  0, or -1
 * with a message in err. */
int wsg_worker_serve(struct wsg_worker *w, char *err, size_t errlen);

/* Workers 1..N-1: start the thread, which makes its loop, endpoints and
 * front end from cfg; returns once it serves (0) or failed (-1, err). */
int wsg_worker_start(struct wsg_worker *w, char *err, size_t errlen);

/* Make endpoints from cfg (a new reference is taken) and switch the
 * worker's front end to them; the old ones go with their connections.
 * 0, or -1 with a message in err and nothing changed. */
int wsg_worker_reconfigure(struct wsg_worker *w, struct wsg_config *cfg, char *err,
                           size_t errlen);

/* From the main thread to a started worker: apply cfg (reload), reopen
 * the access log, or stop (close every connection with 1001, then end
 * the thread). */
void wsg_worker_post_reload(struct wsg_worker *w, struct wsg_config *cfg);

/* After wsg_worker_post_reload: wait until the worker has handled it (or
 * its loop is over), so that a reload is done everywhere when the daemon
 * says it is. */
void wsg_worker_wait_reload(struct wsg_worker *w, const struct wsg_config *cfg);
void wsg_worker_post_reopen(struct wsg_worker *w);
void wsg_worker_post_stop(struct wsg_worker *w);

/* Wait for a started worker's thread to end, after a stop. */
void wsg_worker_join(struct wsg_worker *w);

/* Free what wsg_worker_serve and the caller set up for worker 0 (the
 * front end; endpoints and configuration released). */
void wsg_worker_release(struct wsg_worker *w);

#endif
