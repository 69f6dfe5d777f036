/*
 * workerbus.c - the in-memory bus between workers (see workerbus.h).
 *
 * Groups live in one process-wide list (the one thing here that is not a
 * worker's own: it is how the workers' instances meet), under groups_lock.
 * A group's member list changes under the group's lock, which publishers
 * hold while they copy into the inboxes, so a member cannot go away in the
 * middle.  An inbox is a FIFO under its own lock; its owner is woken
 * through an eventfd when it goes from empty to not, and then takes the
 * whole queue at once: one wake-up per loop turn, however many messages.
 */
#define _GNU_SOURCE
#include "workerbus.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "wsgate/module.h"

struct item {
    struct item *next;
    enum wsg_message_type type;
    size_t room_len, data_len;
    char bytes[];                       /* the room's name, then the payload */
};

struct group;

struct workerbus {
    struct workerbus *next;             /* in the group */
    struct group *group;
    backplane_deliver_fn *deliver;
    void *arg;
    int efd;                            /* eventfd: the inbox has items */
    struct event *ev;
    pthread_mutex_t lock;               /* the inbox: */
    struct item *head, **tail;
    size_t pending;                     /* bytes queued */
    bool woken;                         /* efd written since the last take */
    uint64_t dropped;                   /* over WORKERBUS_INBOX_MAX */
};

struct group {
    struct group *next;
    pthread_mutex_t lock;
    struct workerbus *members;
    unsigned long generation;
    char endpoint[];
};

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static struct group *groups;

static void
free_items(struct item *it)
{
    while (it != NULL) {
        struct item *next = it->next;
        free(it);
        it = next;
    }
}

/* The inbox's owner: hand everything queued to the local members. */
static void
inbox_ready(evutil_socket_t fd, short what, void *arg)
{
    struct workerbus *b = arg;
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        wsg_log(LOG_WARNING, "worker bus: eventfd: %s", strerror(errno));
    pthread_mutex_lock(&b->lock);
    struct item *it = b->head;
    b->head = NULL;
    b->tail = &b->head;
    b->pending = 0;
    b->woken = false;
    pthread_mutex_unlock(&b->lock);
    for (struct item *i = it; i != NULL; i = i->next)
        b->deliver(b->arg, i->bytes, i->room_len, i->type, i->bytes + i->room_len,
                   i->data_len);
    free_items(it);
}

/* The group of (endpoint, generation), made if needed; groups_lock held. */
static struct group *
group_of(const char *endpoint, unsigned long generation)
{
    struct group *g;
    for (g = groups; g != NULL; g = g->next)
        if (g->generation == generation && strcmp(g->endpoint, endpoint) == 0)
            return g;
    size_t len = strlen(endpoint) + 1;
    if ((g = calloc(1, sizeof(*g) + len)) == NULL)
        return NULL;
    memcpy(g->endpoint, endpoint, len);
    g->generation = generation;
    pthread_mutex_init(&g->lock, NULL);
    g->next = groups;
    groups = g;
    return g;
}

struct workerbus *
workerbus_join(struct event_base *base, const char *endpoint, unsigned long generation,
               backplane_deliver_fn *deliver, void *arg, char *err, size_t errlen)
{
    struct workerbus *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->deliver = deliver;
    b->arg = arg;
    b->tail = &b->head;
    pthread_mutex_init(&b->lock, NULL);
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0) {
        snprintf(err, errlen, "worker bus: eventfd: %s", strerror(errno));
        pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
    }
    b->ev = event_new(base, b->efd, EV_READ | EV_PERSIST, inbox_ready, b);
    if (b->ev == NULL || event_add(b->ev, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        workerbus_leave(b);
        return NULL;
    }
    pthread_mutex_lock(&groups_lock);
    struct group *g = group_of(endpoint, generation);
    if (g != NULL) {
        pthread_mutex_lock(&g->lock);
        b->next = g->members;
        g->members = b;
        b->group = g;
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_unlock(&groups_lock);
    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        workerbus_leave(b);
        return NULL;
    }
    return b;
}

/* Takes b out of its group, and the group out of the list once empty. */
static void
group_leave(struct workerbus *b)
{
    struct group *g = b->group;
    pthread_mutex_lock(&groups_lock);
    pthread_mutex_lock(&g->lock);
    for (struct workerbus **p = &g->members; *p != NULL; p = &(*p)->next) {
        if (*p == b) {
            *p = b->next;
            break;
        }
    }
    bool empty = g->members == NULL;
    pthread_mutex_unlock(&g->lock);
    if (empty) {
        for (struct group **p = &groups; *p != NULL; p = &(*p)->next) {
            if (*p == g) {
                *p = g->next;
                break;
            }
        }
        pthread_mutex_destroy(&g->lock);
        free(g);
    }
    pthread_mutex_unlock(&groups_lock);
}

void
workerbus_leave(struct workerbus *b)
{
    if (b == NULL)
        return;
    if (b->group != NULL)
        group_leave(b);
    if (b->ev != NULL)
        event_free(b->ev);
    close(b->efd);
    free_items(b->head);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* Queue a copy for one member; the caller holds the group's lock. */
static void
inbox_put(struct workerbus *to, const char *room, size_t len, enum wsg_message_type type,
          const void *data, size_t dlen)
{
    size_t size = len + dlen;
    pthread_mutex_lock(&to->lock);
    bool full = to->pending + size > WORKERBUS_INBOX_MAX;
    uint64_t dropped = full ? ++to->dropped : 0;
    pthread_mutex_unlock(&to->lock);
    if (full) {
        if (dropped == 1 || dropped % 1000 == 0)
            wsg_log(LOG_WARNING, "worker bus: a worker is %u MiB behind on %s: "
                    "%llu messages dropped for it so far", WORKERBUS_INBOX_MAX >> 20,
                    to->group->endpoint, (unsigned long long)dropped);
        return;
    }
    struct item *it = malloc(sizeof(*it) + size);
    if (it == NULL) {
        wsg_log(LOG_WARNING, "worker bus: out of memory, a message of %zu bytes "
                "is lost for one worker", dlen);
        return;
    }
    it->next = NULL;
    it->type = type;
    it->room_len = len;
    it->data_len = dlen;
    memcpy(it->bytes, room, len);
    if (dlen > 0)
        memcpy(it->bytes + len, data, dlen);

    pthread_mutex_lock(&to->lock);
    *to->tail = it;
    to->tail = &it->next;
    to->pending += size;
    bool wake = !to->woken;
    to->woken = true;
    pthread_mutex_unlock(&to->lock);
    if (wake) {
        uint64_t one = 1;
        if (write(to->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            wsg_log(LOG_WARNING, "worker bus: eventfd: %s", strerror(errno));
    }
}

void
workerbus_publish(struct workerbus *b, const char *room, size_t len,
                  enum wsg_message_type type, const void *data, size_t dlen)
{
    struct group *g = b->group;
    pthread_mutex_lock(&g->lock);
    for (struct workerbus *to = g->members; to != NULL; to = to->next)
        if (to != b)
            inbox_put(to, room, len, type, data, dlen);
    pthread_mutex_unlock(&g->lock);
}
