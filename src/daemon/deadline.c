/*
 * deadline.c - whole-handshake deadlines (see deadline.h).
 *
 * The watched connections are the ones still in the HTTP stage: few in
 * normal operation, and the list is what a slowloris attack grows, so
 * both the sweep and the hand-off walk it, never the upgraded ones.
 */
#include "deadline.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"

#define SWEEP_MS 250

struct watch {
    struct watch *next;
    struct bufferevent *bev;            /* a reference */
    uint64_t deadline_ms;
    uint64_t started_us;                /* CLOCK_MONOTONIC, for the latency metric */
    bool cut;
};

struct wsg_deadlines {
    struct event *sweep;
    struct watch *head;
};

static uint64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* evhttp frees a connection with bufferevent_free(), which clears the
 * callbacks; while it owns one, the event callback is always set. */
static bool
freed_by_evhttp(struct bufferevent *bev)
{
    bufferevent_event_cb eventcb;
    bufferevent_getcb(bev, NULL, NULL, &eventcb, NULL);
    return eventcb == NULL;
}

static void
sweep(evutil_socket_t fd, short what, void *arg)
{
    struct wsg_deadlines *d = arg;
    uint64_t now = now_ms();
    (void)fd, (void)what;
    for (struct watch **p = &d->head; *p != NULL;) {
        struct watch *w = *p;
        if (freed_by_evhttp(w->bev)) {
            *p = w->next;
            bufferevent_decref(w->bev);
            free(w);
            continue;
        }
        if (!w->cut && now >= w->deadline_ms) {
            w->cut = true;
            log_info("handshake not complete within handshake_timeout, closing");
            shutdown(bufferevent_getfd(w->bev), SHUT_RDWR);
        }
        p = &w->next;
    }
    if (d->head == NULL)
        evtimer_del(d->sweep);
}

struct wsg_deadlines *
wsg_deadlines_new(struct event_base *base)
{
    struct wsg_deadlines *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->sweep = event_new(base, -1, EV_PERSIST, sweep, d);
    if (d->sweep == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void
wsg_deadlines_free(struct wsg_deadlines *d)
{
    if (d == NULL)
        return;
    while (d->head != NULL) {
        struct watch *w = d->head;
        d->head = w->next;
        bufferevent_decref(w->bev);
        free(w);
    }
    event_free(d->sweep);
    free(d);
}

void
wsg_deadline_watch(struct wsg_deadlines *d, struct bufferevent *bev, uint32_t timeout_ms)
{
    struct watch *w = malloc(sizeof(*w));
    if (w == NULL)
        return; /* evhttp's idle timeout still applies */
    bufferevent_incref(bev);
    w->bev = bev;
    w->deadline_ms = now_ms() + timeout_ms;
    w->started_us = now_us();
    w->cut = false;
    w->next = d->head;
    d->head = w;
    if (!evtimer_pending(d->sweep, NULL)) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = SWEEP_MS * 1000};
        evtimer_add(d->sweep, &tv);
    }
}

uint64_t
wsg_deadline_done(struct wsg_deadlines *d, struct bufferevent *bev)
{
    for (struct watch **p = &d->head; *p != NULL; p = &(*p)->next) {
        struct watch *w = *p;
        if (w->bev == bev) {
            uint64_t us = now_us() - w->started_us;
            *p = w->next;
            bufferevent_decref(bev);
            free(w);
            return us;
        }
    }
    return 0;
}
