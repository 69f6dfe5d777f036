/*
 * ipcount.c - per-address connection counts (see ipcount.h).
 */
#include "ipcount.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024

struct entry {
    struct entry *next;
    unsigned count;
    char addr[];
};

struct wsg_ipcount {
    struct entry *buckets[NBUCKETS];
};

static size_t
bucket_of(const char *addr)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h % NBUCKETS;
}

struct wsg_ipcount *
wsg_ipcount_new(void)
{
    return calloc(1, sizeof(struct wsg_ipcount));
}

void
wsg_ipcount_free(struct wsg_ipcount *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct entry *e = t->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(t);
}

int
wsg_ipcount_add(struct wsg_ipcount *t, const char *addr, unsigned max)
{
    struct entry **head = &t->buckets[bucket_of(addr)];
    for (struct entry *e = *head; e != NULL; e = e->next) {
        if (strcmp(e->addr, addr) == 0) {
            if (max > 0 && e->count >= max)
                return -1;
            e->count++;
            return 0;
        }
    }
    size_t len = strlen(addr) + 1;
    struct entry *e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return -1;
    memcpy(e->addr, addr, len);
    e->count = 1;
    e->next = *head;
    *head = e;
    return 0;
}

void
wsg_ipcount_remove(struct wsg_ipcount *t, const char *addr)
{
    for (struct entry **p = &t->buckets[bucket_of(addr)]; *p != NULL; p = &(*p)->next) {
        struct entry *e = *p;
        if (strcmp(e->addr, addr) == 0) {
            if (--e->count == 0) {
                *p = e->next;
                free(e);
            }
            return;
        }
    }
}
