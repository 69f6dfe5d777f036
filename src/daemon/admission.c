/*
 * admission.c - the process-wide connection limits (see admission.h).
 */
#include "admission.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "wsgate/module.h"

/* Open connections of one endpoint path.  Paths come from configurations
 * and are few; an entry stays once made, so that a reload that removes a
 * path and adds it back finds its count. */
struct path_count {
    struct path_count *next;
    unsigned open;
    char path[];
};

struct wsg_admission {
    pthread_mutex_t lock;
    struct wsg_ipcount *per_ip;
    struct path_count *paths;
    unsigned open;                      /* every connection, every worker */
    struct wsg_metric *tracked;         /* the table's size on /metrics */
};

static double
tracked_addresses(void *arg)
{
    struct wsg_admission *a = arg;
    pthread_mutex_lock(&a->lock);
    size_t n = wsg_ipcount_size(a->per_ip);
    pthread_mutex_unlock(&a->lock);
    return (double)n;
}

struct wsg_admission *
wsg_admission_new(size_t max_tracked)
{
    struct wsg_admission *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    if ((a->per_ip = wsg_ipcount_new(max_tracked)) == NULL) {
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    a->tracked = wsg_metric_register(
        "wsgate_tracked_addresses", "Client addresses in the per-address table "
        "(connection counts and rate limits), bounded by max_tracked_addresses "
        "plus the addresses with connections open", WSG_METRIC_GAUGE, NULL,
        tracked_addresses, a);
    return a;
}

void
wsg_admission_free(struct wsg_admission *a)
{
    if (a == NULL)
        return;
    wsg_metric_unregister(a->tracked);
    while (a->paths != NULL) {
        struct path_count *p = a->paths;
        a->paths = p->next;
        free(p);
    }
    wsg_ipcount_free(a->per_ip);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* path's entry, made on first use; NULL when out of memory. */
static struct path_count *
path_count(struct wsg_admission *a, const char *path)
{
    struct path_count *p;
    for (p = a->paths; p != NULL; p = p->next)
        if (strcmp(p->path, path) == 0)
            return p;
    size_t len = strlen(path) + 1;
    if ((p = calloc(1, sizeof(*p) + len)) == NULL)
        return NULL;
    memcpy(p->path, path, len);
    p->next = a->paths;
    a->paths = p;
    return p;
}

enum wsg_admit
wsg_admission_enter(struct wsg_admission *a, const struct wsg_limits *lim,
                    const char *path, unsigned path_max, const char *addr,
                    uint64_t now_ms, uint64_t *retry_ms)
{
    pthread_mutex_lock(&a->lock);
    enum wsg_admit r;
    struct path_count *p = path_count(a, path);
    if (p == NULL)
        r = WSG_ADMIT_NOMEM;
    else if ((lim->max_connections > 0 && a->open >= lim->max_connections)
             || (path_max > 0 && p->open >= path_max))
        r = WSG_ADMIT_LIMIT;
    else
        r = wsg_ipcount_admit(a->per_ip, addr, lim, now_ms, retry_ms);
    if (r == WSG_ADMIT_OK) {
        a->open++;
        p->open++;
    }
    pthread_mutex_unlock(&a->lock);
    return r;
}

void
wsg_admission_leave(struct wsg_admission *a, const struct wsg_limits *lim,
                    const char *path, const char *addr)
{
    pthread_mutex_lock(&a->lock);
    struct path_count *p = path_count(a, path);
    if (p != NULL && p->open > 0)
        p->open--;
    if (a->open > 0)
        a->open--;
    wsg_ipcount_remove(a->per_ip, addr, lim);
    pthread_mutex_unlock(&a->lock);
}
