/*
 * worker.c - the worker threads of workers = N (see worker.h).
 */
#define _GNU_SOURCE /* pipe2 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

enum worker_cmd { CMD_RELOAD, CMD_REOPEN, CMD_STOP };

/* Written to the worker's pipe in one write: PIPE_BUF makes it atomic. */
struct worker_msg {
    enum worker_cmd cmd;
    struct wsg_config *cfg;         /* CMD_RELOAD: a reference for the worker */
};

int
wsg_worker_serve(struct wsg_worker *w, char *err, size_t errlen)
{
    struct wsg_server_shared sh = {
        .admission = w->admission, .worker = w->id.index, .workers = w->id.count,
    };
    w->srv = wsg_server_new(w->id.base, w->cfg, w->eps, &sh, err, errlen);
    return w->srv != NULL ? 0 : -1;
}

int
wsg_worker_reconfigure(struct wsg_worker *w, struct wsg_config *cfg, char *err,
                       size_t errlen)
{
    struct wsg_endpoint **eps = wsg_endpoints_create(cfg, &w->id, w->eps,
                                                     w->cfg->nendpoints, err, errlen);
    if (eps == NULL)
        return -1;
    if (wsg_server_reconfigure(w->srv, cfg, eps, err, errlen) != 0) {
        wsg_endpoints_release(eps, cfg->nendpoints);
        return -1;
    }
    wsg_cfg_ref(cfg);
    wsg_endpoints_release(w->eps, w->cfg->nendpoints);
    wsg_cfg_free(w->cfg);
    w->cfg = cfg;
    w->eps = eps;
    return 0;
}

static void
worker_command(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_worker *w = arg;
    struct worker_msg msg;
    (void)what;
    while (read(fd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
        char err[1024];
        switch (msg.cmd) {
        case CMD_RELOAD:
            if (wsg_worker_reconfigure(w, msg.cfg, err, sizeof(err)) != 0)
                log_err("worker %u: reload failed, it keeps the running "
                        "configuration: %s", w->id.index, err);
            else
                log_debug("worker %u: configuration reloaded", w->id.index);
            pthread_mutex_lock(&w->lock);
            w->reloaded = msg.cfg->generation;
            pthread_cond_signal(&w->cond);
            pthread_mutex_unlock(&w->lock);
            wsg_cfg_free(msg.cfg);
            break;
        case CMD_REOPEN:
            wsg_server_reopen_logs(w->srv);
            break;
        case CMD_STOP:
            wsg_server_stop(w->srv);
            break;
        }
    }
}

static void
worker_started(struct wsg_worker *w, int verdict)
{
    pthread_mutex_lock(&w->lock);
    w->started = verdict;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *
worker_main(void *arg)
{
    struct wsg_worker *w = arg;
    char *err = w->err;
    size_t errlen = sizeof(w->err);
    if ((w->id.base = event_base_new()) == NULL)
        snprintf(err, errlen, "worker %u: cannot create its event loop", w->id.index);
    else if ((w->eps = wsg_endpoints_create(w->cfg, &w->id, NULL, 0, err, errlen)) != NULL
             && wsg_worker_serve(w, err, errlen) == 0) {
        w->cmd_ev = event_new(w->id.base, w->cmd[0], EV_READ | EV_PERSIST,
                              worker_command, w);
        if (w->cmd_ev == NULL || event_add(w->cmd_ev, NULL) != 0)
            snprintf(err, errlen, "worker %u: out of memory", w->id.index);
        else
            err[0] = '\0';
    }
    if (err[0] != '\0') {
        wsg_worker_release(w);
        worker_started(w, -1);
        return NULL;
    }
    worker_started(w, 1);
    event_base_dispatch(w->id.base);
    pthread_mutex_lock(&w->lock);
    w->ended = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    wsg_worker_release(w);
    return NULL;
}

int
wsg_worker_start(struct wsg_worker *w, char *err, size_t errlen)
{
    w->err[0] = '\0';
    if (pipe2(w->cmd, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "worker %u: pipe: %s", w->id.index, strerror(errno));
        return -1;
    }
    /* The read end only: the main thread must not lose a command to a
     * full pipe, and a handful of commands never fill one. */
    fcntl(w->cmd[1], F_SETFL, fcntl(w->cmd[1], F_GETFL) & ~O_NONBLOCK);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    wsg_cfg_ref(w->cfg);

    /* Signals are the main thread's (its event loop takes them). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "worker %u: cannot start its thread: %s", w->id.index,
                 strerror(rc));
        wsg_cfg_free(w->cfg);
        w->cfg = NULL;
        return -1;
    }
    w->running = true;
    pthread_mutex_lock(&w->lock);
    while (w->started == 0)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    if (w->started < 0) {
        snprintf(err, errlen, "%s", w->err);
        wsg_worker_join(w);
        return -1;
    }
    return 0;
}

static bool
worker_post(struct wsg_worker *w, struct worker_msg msg)
{
    if (!w->running)
        return false;
    ssize_t n;
    do
        n = write(w->cmd[1], &msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(msg)) {
        log_err("worker %u: cannot pass a command on: %s", w->id.index,
                n < 0 ? strerror(errno) : "short write");
        if (msg.cmd == CMD_RELOAD)
            wsg_cfg_free(msg.cfg);
        return false;
    }
    return true;
}

void
wsg_worker_post_reload(struct wsg_worker *w, struct wsg_config *cfg)
{
    wsg_cfg_ref(cfg);
    if (!worker_post(w, (struct worker_msg){.cmd = CMD_RELOAD, .cfg = cfg})) {
        pthread_mutex_lock(&w->lock);   /* nothing to wait for */
        w->reloaded = cfg->generation;
        pthread_mutex_unlock(&w->lock);
    }
}

void
wsg_worker_wait_reload(struct wsg_worker *w, const struct wsg_config *cfg)
{
    if (!w->running)
        return;
    pthread_mutex_lock(&w->lock);
    while (w->reloaded < cfg->generation && !w->ended)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void
wsg_worker_post_reopen(struct wsg_worker *w)
{
    worker_post(w, (struct worker_msg){.cmd = CMD_REOPEN});
}

void
wsg_worker_post_stop(struct wsg_worker *w)
{
    worker_post(w, (struct worker_msg){.cmd = CMD_STOP});
}

void
wsg_worker_join(struct wsg_worker *w)
{
    if (!w->running)
        return;
    pthread_join(w->thread, NULL);
    w->running = false;
    close(w->cmd[0]);
    close(w->cmd[1]);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

void
wsg_worker_release(struct wsg_worker *w)
{
    wsg_server_free(w->srv);
    w->srv = NULL;
    if (w->cmd_ev != NULL)
        event_free(w->cmd_ev);
    w->cmd_ev = NULL;
    if (w->cfg != NULL)
        wsg_endpoints_release(w->eps, w->cfg->nendpoints);
    w->eps = NULL;
    wsg_cfg_free(w->cfg);
    w->cfg = NULL;
    if (w->id.index != 0 && w->id.base != NULL) {
        event_base_free(w->id.base);
        w->id.base = NULL;
    }
}
