/*
 * ipcount.c - the per-client-address table (see ipcount.h).
 *
 * A chained hash keyed by the address text.  An entry whose last
 * connection ended is either freed at once (rate limiting off, nothing to
 * remember) or put at the head of the idle list; admissions trim that
 * list from its tail: entries whose bucket has refilled (they hold nothing
 * a new entry would not), and the oldest whenever the table is at
 * max_tracked_addresses.
 */
#include "ipcount.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "config.h"
#include "ratelimit.h"

struct entry {
    struct entry *next;                 /* hash chain */
    TAILQ_ENTRY(entry) idle;            /* while count == 0 */
    unsigned count;                     /* open connections */
    struct wsg_bucket bucket;
    char addr[];
};

TAILQ_HEAD(idle_list, entry);

struct wsg_ipcount {
    struct entry **buckets;
    size_t mask;                        /* buckets - 1, a power of two less one */
    size_t size;                        /* entries */
    struct idle_list idle;              /* most recently used first */
};

static size_t
hash_of(const char *addr)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

struct wsg_ipcount *
wsg_ipcount_new(size_t max_tracked)
{
    struct wsg_ipcount *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    size_t n = 1024;
    while (n < max_tracked && n < ((size_t)1 << 24))
        n <<= 1;
    if ((t->buckets = calloc(n, sizeof(*t->buckets))) == NULL) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    TAILQ_INIT(&t->idle);
    return t;
}

void
wsg_ipcount_free(struct wsg_ipcount *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i <= t->mask; i++) {
        struct entry *e = t->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    free(t);
}

size_t
wsg_ipcount_size(const struct wsg_ipcount *t)
{
    return t->size;
}

static struct entry *
lookup(struct wsg_ipcount *t, const char *addr)
{
    for (struct entry *e = t->buckets[hash_of(addr) & t->mask]; e != NULL; e = e->next) {
        if (strcmp(e->addr, addr) == 0)
            return e;
    }
    return NULL;
}

static void
forget(struct wsg_ipcount *t, struct entry *e)
{
    for (struct entry **p = &t->buckets[hash_of(e->addr) & t->mask]; *p != NULL;
         p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    if (e->count == 0)
        TAILQ_REMOVE(&t->idle, e, idle);
    t->size--;
    free(e);
}

/* At most two idle entries per admission: the oldest if the table is
 * full, and the oldest again if its bucket has refilled anyway. */
static void
trim(struct wsg_ipcount *t, const struct wsg_limits *lim, double burst, uint64_t now_ms)
{
    struct entry *e = TAILQ_LAST(&t->idle, idle_list);
    if (e != NULL && t->size >= lim->max_tracked_addresses) {
        forget(t, e);
        e = TAILQ_LAST(&t->idle, idle_list);
    }
    if (e != NULL && (lim->connections_per_second_per_ip <= 0
                      || wsg_bucket_full(&e->bucket, lim->connections_per_second_per_ip,
                                         burst, now_ms)))
        forget(t, e);
}

enum wsg_admit
wsg_ipcount_admit(struct wsg_ipcount *t, const char *addr, const struct wsg_limits *lim,
                  uint64_t now_ms, uint64_t *retry_ms)
{
    double rate = lim->connections_per_second_per_ip;
    double burst = wsg_bucket_burst(rate, lim->connections_burst_per_ip);
    trim(t, lim, burst, now_ms);
    struct entry *e = lookup(t, addr);
    if (e != NULL && lim->max_connections_per_ip > 0
        && e->count >= lim->max_connections_per_ip)
        return WSG_ADMIT_LIMIT;
    if (e == NULL) {
        size_t len = strlen(addr) + 1;
        if ((e = malloc(sizeof(*e) + len)) == NULL)
            return WSG_ADMIT_NOMEM;
        memcpy(e->addr, addr, len);
        e->count = 0;
        wsg_bucket_init(&e->bucket, burst, now_ms);
        size_t h = hash_of(addr) & t->mask;
        e->next = t->buckets[h];
        t->buckets[h] = e;
        t->size++;
        TAILQ_INSERT_HEAD(&t->idle, e, idle);
    }
    if (rate > 0 && !wsg_bucket_take(&e->bucket, rate, burst, now_ms, retry_ms)) {
        if (e->count == 0) {            /* most recently used */
            TAILQ_REMOVE(&t->idle, e, idle);
            TAILQ_INSERT_HEAD(&t->idle, e, idle);
        }
        return WSG_ADMIT_RATE;
    }
    if (e->count++ == 0)
        TAILQ_REMOVE(&t->idle, e, idle);
    return WSG_ADMIT_OK;
}

void
wsg_ipcount_remove(struct wsg_ipcount *t, const char *addr, const struct wsg_limits *lim)
{
    struct entry *e = lookup(t, addr);
    if (e == NULL || e->count == 0 || --e->count > 0)
        return;
    TAILQ_INSERT_HEAD(&t->idle, e, idle);
    if (lim->connections_per_second_per_ip <= 0)
        forget(t, e);
}
