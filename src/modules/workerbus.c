/*
 * workerbus.c - the in-memory bus between workers (see workerbus.h).
 *
 * Groups live in one process-wide list (the one thing here that is not a
 * worker's own: it is how the workers' instances meet), under groups_lock.
 * A group's member list changes under the group's lock, which publishers
 * hold while they copy into the inboxes, so a member cannot go away in the
 * middle.  An inbox is a FIFO under its own lock; its owner is woken
 * through an eventfd when it goes from empty to not, and then takes the
 * whole queue at once.
 *
 * Publishing batches per loop turn, like the daemon's writes: a message is
 * copied into the publisher's outbox, and at the end of the turn the whole
 * outbox goes to each other member under one lock and one wake-up.  The
 * receiver then delivers a turn's messages together, so each of its
 * members gets them in one write, as the publisher's own members do (one
 * message per wake-up cost a fifth more CPU per delivery).
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

#include "rooms.h"

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
    /* The outbox, this worker's only: published this loop turn. */
    struct item *out, **out_tail;
    size_t out_bytes;
    size_t out_count;
    struct event *flush_ev;             /* active while the outbox is not empty */
};

/* A room's members on every worker, for max_members and room_members. */
struct room_count {
    struct room_count *next;
    uint64_t hash;
    size_t members;
    size_t len;
    char name[];
};

struct group {
    struct group *next;
    pthread_mutex_t lock;
    struct workerbus *members;
    unsigned long generation;
    pthread_mutex_t rooms_lock;         /* the counts: */
    struct room_count **rooms;          /* a chained hash, nbuckets a power of 2 */
    size_t nbuckets, nrooms;
    uint64_t key[2];                    /* its hash's (rooms_hash) */
    char endpoint[];
};

static void outbox_flush(evutil_socket_t fd, short what, void *arg);

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
    pthread_mutex_init(&g->rooms_lock, NULL);
    rooms_hash_seed(g->key);
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
    b->out_tail = &b->out;
    pthread_mutex_init(&b->lock, NULL);
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0) {
        snprintf(err, errlen, "worker bus: eventfd: %s", strerror(errno));
        pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
    }
    b->ev = event_new(base, b->efd, EV_READ | EV_PERSIST, inbox_ready, b);
    b->flush_ev = event_new(base, -1, 0, outbox_flush, b);
    if (b->ev == NULL || b->flush_ev == NULL || event_add(b->ev, NULL) != 0) {
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
        pthread_mutex_destroy(&g->rooms_lock);
        for (size_t i = 0; i < g->nbuckets; i++)
            while (g->rooms[i] != NULL) {   /* none left once every worker is gone */
                struct room_count *rc = g->rooms[i];
                g->rooms[i] = rc->next;
                free(rc);
            }
        free(g->rooms);
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
    if (b->flush_ev != NULL)
        event_free(b->flush_ev);
    close(b->efd);
    free_items(b->head);
    free_items(b->out);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static struct item *
item_new(const char *room, size_t len, enum wsg_message_type type, const void *data,
         size_t dlen)
{
    struct item *it = malloc(sizeof(*it) + len + dlen);
    if (it == NULL)
        return NULL;
    it->next = NULL;
    it->type = type;
    it->room_len = len;
    it->data_len = dlen;
    memcpy(it->bytes, room, len);
    if (dlen > 0)
        memcpy(it->bytes + len, data, dlen);
    return it;
}

/* A copy of the list; NULL when out of memory (nothing is kept). */
static struct item *
items_clone(const struct item *from)
{
    struct item *head = NULL, **tail = &head;
    for (; from != NULL; from = from->next) {
        struct item *it = item_new(from->bytes, from->room_len, from->type,
                                   from->bytes + from->room_len, from->data_len);
        if (it == NULL) {
            free_items(head);
            return NULL;
        }
        *tail = it;
        tail = &it->next;
    }
    return head;
}

/* Hand a turn's messages (count of them, bytes in all) to one member, or
 * drop them if its inbox is full; the caller holds the group's lock. */
static void
inbox_put(struct workerbus *to, struct item *list, size_t count, size_t bytes)
{
    struct item **last = &list;
    while (*last != NULL)
        last = &(*last)->next;
    pthread_mutex_lock(&to->lock);
    bool full = to->pending + bytes > WORKERBUS_INBOX_MAX;
    bool wake = false;
    uint64_t dropped = to->dropped;
    if (full) {
        to->dropped += count;
    } else {
        *to->tail = list;
        to->tail = last;
        to->pending += bytes;
        wake = !to->woken;
        to->woken = true;
    }
    pthread_mutex_unlock(&to->lock);
    if (full) {
        /* The first drop, then one line per thousand. */
        if (dropped == 0 || dropped / 1000 != (dropped + count) / 1000)
            wsg_log(LOG_WARNING, "worker bus: a worker is %u MiB behind on %s: "
                    "%llu messages dropped for it so far", WORKERBUS_INBOX_MAX >> 20,
                    to->group->endpoint, (unsigned long long)(dropped + count));
        free_items(list);
        return;
    }
    if (wake) {
        uint64_t one = 1;
        if (write(to->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            wsg_log(LOG_WARNING, "worker bus: eventfd: %s", strerror(errno));
    }
}

/* The end of the loop turn: the outbox to every other member, the
 * originals to the last one and copies to the rest. */
static void
outbox_flush(evutil_socket_t fd, short what, void *arg)
{
    struct workerbus *b = arg;
    (void)fd, (void)what;
    struct item *list = b->out;
    size_t count = b->out_count, bytes = b->out_bytes;
    b->out = NULL;
    b->out_tail = &b->out;
    b->out_count = b->out_bytes = 0;

    struct group *g = b->group;
    pthread_mutex_lock(&g->lock);
    struct workerbus *last = NULL;
    for (struct workerbus *to = g->members; to != NULL; to = to->next) {
        if (to == b)
            continue;
        if (last != NULL) {
            struct item *copy = items_clone(list);
            if (copy != NULL)
                inbox_put(last, copy, count, bytes);
            else
                wsg_log(LOG_WARNING, "worker bus: out of memory, %zu messages are "
                        "lost for one worker", count);
        }
        last = to;
    }
    if (last != NULL)
        inbox_put(last, list, count, bytes);
    else
        free_items(list);
    pthread_mutex_unlock(&g->lock);
}

void
workerbus_publish(struct workerbus *b, const char *room, size_t len,
                  enum wsg_message_type type, const void *data, size_t dlen)
{
    struct item *it = item_new(room, len, type, data, dlen);
    if (it == NULL) {
        wsg_log(LOG_WARNING, "worker bus: out of memory, a message of %zu bytes "
                "is lost for the other workers", dlen);
        return;
    }
    if (b->out == NULL)
        event_active(b->flush_ev, EV_TIMEOUT, 0);
    *b->out_tail = it;
    b->out_tail = &it->next;
    b->out_count++;
    b->out_bytes += len + dlen;
}

/* ---- room counts across workers ------------------------------------------- */

/* The count of the room with this hash and name, or where it would be
 * linked; rooms_lock held. */
static struct room_count **
room_slot(struct group *g, uint64_t hash, const char *name, size_t len)
{
    struct room_count **p = &g->rooms[hash & (g->nbuckets - 1)];
    while (*p != NULL && ((*p)->hash != hash || (*p)->len != len
                          || memcmp((*p)->name, name, len) != 0))
        p = &(*p)->next;
    return p;
}

/* Twice the buckets once there are as many rooms as buckets. */
static bool
rooms_grow(struct group *g)
{
    size_t n = g->nbuckets == 0 ? 64 : g->nbuckets * 2;
    struct room_count **t = calloc(n, sizeof(*t));
    if (t == NULL)
        return false;
    for (size_t i = 0; i < g->nbuckets; i++)
        while (g->rooms[i] != NULL) {
            struct room_count *rc = g->rooms[i];
            g->rooms[i] = rc->next;
            size_t j = rc->hash & (n - 1);
            rc->next = t[j];
            t[j] = rc;
        }
    free(g->rooms);
    g->rooms = t;
    g->nbuckets = n;
    return true;
}

/* A room that has members: its slot, or NULL.  Under rooms_lock. */
static struct room_count **
room_find(struct group *g, const char *name, size_t len)
{
    if (g->nbuckets == 0)
        return NULL;
    struct room_count **p = room_slot(g, rooms_hash(g->key, name, len), name, len);
    return *p != NULL ? p : NULL;
}

enum rooms_join_result
workerbus_room_join(struct workerbus *b, const char *name, size_t len, size_t max_members)
{
    struct group *g = b->group;
    enum rooms_join_result r = ROOMS_JOINED;
    uint64_t hash = rooms_hash(g->key, name, len);
    pthread_mutex_lock(&g->rooms_lock);
    if (g->nrooms >= g->nbuckets && !rooms_grow(g) && g->nbuckets == 0) {
        pthread_mutex_unlock(&g->rooms_lock);
        return ROOMS_NOMEM;
    }
    struct room_count **p = room_slot(g, hash, name, len);
    if (*p == NULL) {
        struct room_count *rc = calloc(1, sizeof(*rc) + len);
        if (rc == NULL) {
            r = ROOMS_NOMEM;
        } else {
            memcpy(rc->name, name, len);
            rc->hash = hash;
            rc->len = len;
            rc->members = 1;
            *p = rc;
            g->nrooms++;
        }
    } else if (max_members > 0 && (*p)->members >= max_members) {
        r = ROOMS_FULL;
    } else {
        (*p)->members++;
    }
    pthread_mutex_unlock(&g->rooms_lock);
    return r;
}

void
workerbus_room_leave(struct workerbus *b, const char *name, size_t len)
{
    struct group *g = b->group;
    pthread_mutex_lock(&g->rooms_lock);
    struct room_count **p = room_find(g, name, len);
    if (p != NULL && --(*p)->members == 0) {
        struct room_count *rc = *p;
        *p = rc->next;
        free(rc);
        g->nrooms--;
    }
    pthread_mutex_unlock(&g->rooms_lock);
}

size_t
workerbus_room_members(struct workerbus *b, const char *name, size_t len)
{
    struct group *g = b->group;
    pthread_mutex_lock(&g->rooms_lock);
    struct room_count **p = room_find(g, name, len);
    size_t n = p != NULL ? (*p)->members : 0;
    pthread_mutex_unlock(&g->rooms_lock);
    return n;
}

size_t
workerbus_rooms(struct workerbus *b)
{
    struct group *g = b->group;
    pthread_mutex_lock(&g->rooms_lock);
    size_t n = g->nrooms;
    pthread_mutex_unlock(&g->rooms_lock);
    return n;
}
