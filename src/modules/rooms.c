/*
 * rooms.c - room membership and delivery for the broadcast module (see
 * rooms.h).
 *
 * The table is separate chaining over a power-of-two bucket array, grown
 * when there are more rooms than buckets and shrunk when under an eighth,
 * so chains stay short and an empty endpoint gives its memory back.  Room
 * names come from clients, so the hash is keyed SipHash-1-3 with a random
 * key per table: nobody can choose names that all land in one chain.
 *
 * Invariants: a room in the table has at least one member; every member
 * with a non-NULL room is in that room's list, and nmembers is the list's
 * length.
 */
#include "rooms.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ROOMS_MIN_BUCKETS 8

struct room {
    struct room *chain;         /* next in the bucket */
    uint64_t hash;
    struct rooms_member *head;
    size_t nmembers;
    size_t len;
    char name[];                /* len bytes and a NUL */
};

/* The two totals are read by a scrape on another worker's thread (the
 * metrics callbacks): stored with relaxed atomics, which cost nothing
 * over a plain add here. */
#define COUNT_ADD(x, n) __atomic_store_n(&(x), (x) + (size_t)(n), __ATOMIC_RELAXED)

struct rooms {
    struct room **buckets;
    size_t nbuckets;            /* a power of two */
    size_t nrooms;
    size_t nmembers;            /* in all rooms, for the members gauge */
    uint64_t key[2];            /* SipHash key */
};

/* ---- hashing: SipHash-1-3 --------------------------------------------- */

static uint64_t
rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t
load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#define SIPROUND(v0, v1, v2, v3)                                              \
    do {                                                                      \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);         \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                              \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                              \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);         \
    } while (0)

uint64_t
rooms_hash(const uint64_t key[2], const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t v0 = key[0] ^ UINT64_C(0x736f6d6570736575);
    uint64_t v1 = key[1] ^ UINT64_C(0x646f72616e646f6d);
    uint64_t v2 = key[0] ^ UINT64_C(0x6c7967656e657261);
    uint64_t v3 = key[1] ^ UINT64_C(0x7465646279746573);
    size_t whole = len - len % 8;

    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = whole; i < len; i++)
        last |= (uint64_t)p[i] << (8 * (i - whole));
    v3 ^= last;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

void
rooms_hash_seed(uint64_t key[2])
{
    if (getrandom(key, 2 * sizeof(key[0]), GRND_NONBLOCK) == 2 * sizeof(key[0]))
        return;
    /* No entropy yet (early boot): still differs per table and per run. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    key[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uintptr_t)key;
    key[1] = (uint64_t)ts.tv_sec * UINT64_C(0xbf58476d1ce4e5b9) ^ (uint64_t)time(NULL);
}

/* ---- the table --------------------------------------------------------- */

struct rooms *
rooms_new(void)
{
    struct rooms *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->buckets = calloc(ROOMS_MIN_BUCKETS, sizeof(*r->buckets));
    if (r->buckets == NULL) {
        free(r);
        return NULL;
    }
    r->nbuckets = ROOMS_MIN_BUCKETS;
    rooms_hash_seed(r->key);
    return r;
}

static void
room_free(struct room *room)
{
    for (struct rooms_member *m = room->head, *next; m != NULL; m = next) {
        next = m->next;
        m->prev = m->next = NULL;
        m->room = NULL;
    }
    free(room);
}

void
rooms_free(struct rooms *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nbuckets; i++) {
        for (struct room *room = r->buckets[i], *next; room != NULL; room = next) {
            next = room->chain;
            room_free(room);
        }
    }
    free(r->buckets);
    free(r);
}

/* Rehash into n buckets; on allocation failure keep the old ones (longer
 * chains, still correct). */
static void
rooms_resize(struct rooms *r, size_t n)
{
    struct room **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < r->nbuckets; i++) {
        for (struct room *room = r->buckets[i], *next; room != NULL; room = next) {
            next = room->chain;
            size_t j = room->hash & (n - 1);
            room->chain = b[j];
            b[j] = room;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

static struct room *
rooms_lookup(const struct rooms *r, uint64_t hash, const void *name, size_t len)
{
    for (struct room *room = r->buckets[hash & (r->nbuckets - 1)]; room != NULL;
         room = room->chain) {
        if (room->hash == hash && room->len == len && memcmp(room->name, name, len) == 0)
            return room;
    }
    return NULL;
}

struct room *
rooms_find(const struct rooms *r, const void *name, size_t len)
{
    return rooms_lookup(r, rooms_hash(r->key, name, len), name, len);
}

static struct room *
rooms_create(struct rooms *r, uint64_t hash, const void *name, size_t len)
{
    if (len > SIZE_MAX - sizeof(struct room) - 1)
        return NULL;
    struct room *room = malloc(sizeof(*room) + len + 1);
    if (room == NULL)
        return NULL;
    room->hash = hash;
    room->head = NULL;
    room->nmembers = 0;
    room->len = len;
    if (len > 0)
        memcpy(room->name, name, len);
    room->name[len] = '\0';

    if (r->nrooms >= r->nbuckets && r->nbuckets <= SIZE_MAX / 2 / sizeof(*r->buckets))
        rooms_resize(r, r->nbuckets * 2);
    size_t i = hash & (r->nbuckets - 1);
    room->chain = r->buckets[i];
    r->buckets[i] = room;
    COUNT_ADD(r->nrooms, 1);
    return room;
}

static void
rooms_destroy(struct rooms *r, struct room *room)
{
    struct room **p = &r->buckets[room->hash & (r->nbuckets - 1)];
    while (*p != room)
        p = &(*p)->chain;
    *p = room->chain;
    COUNT_ADD(r->nrooms, -1);
    free(room);
    if (r->nbuckets > ROOMS_MIN_BUCKETS && r->nrooms < r->nbuckets / 8)
        rooms_resize(r, r->nbuckets / 2);
}

size_t
rooms_count(const struct rooms *r)
{
    return __atomic_load_n(&r->nrooms, __ATOMIC_RELAXED);
}

size_t
rooms_members(const struct rooms *r)
{
    return __atomic_load_n(&r->nmembers, __ATOMIC_RELAXED);
}

/* ---- membership -------------------------------------------------------- */

enum rooms_join_result
rooms_join(struct rooms *r, struct rooms_member *m, const void *name, size_t len,
           size_t max_members)
{
    uint64_t hash = rooms_hash(r->key, name, len);
    struct room *room = rooms_lookup(r, hash, name, len);
    if (room != NULL && max_members > 0 && room->nmembers >= max_members)
        return ROOMS_FULL;
    if (room == NULL && (room = rooms_create(r, hash, name, len)) == NULL)
        return ROOMS_NOMEM;
    m->prev = NULL;
    m->next = room->head;
    if (room->head != NULL)
        room->head->prev = m;
    room->head = m;
    m->room = room;
    room->nmembers++;
    COUNT_ADD(r->nmembers, 1);
    return ROOMS_JOINED;
}

void
rooms_leave(struct rooms *r, struct rooms_member *m)
{
    struct room *room = m->room;
    if (room == NULL)
        return;
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        room->head = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    m->prev = m->next = NULL;
    m->room = NULL;
    COUNT_ADD(r->nmembers, -1);
    if (--room->nmembers == 0)
        rooms_destroy(r, room);
}

size_t
room_members(const struct room *room)
{
    return room->nmembers;
}

struct rooms_member *
room_first(const struct room *room)
{
    return room->head;
}

const char *
room_name(const struct room *room, size_t *len)
{
    if (len != NULL)
        *len = room->len;
    return room->name;
}

void
room_foreach(struct room *room, void (*fn)(struct rooms_member *m, void *arg), void *arg)
{
    for (struct rooms_member *m = room->head, *next; m != NULL; m = next) {
        next = m->next;
        fn(m, arg);
    }
}

/* ---- delivery ---------------------------------------------------------- */

void
rooms_deliver(struct room *room, const struct rooms_member *except,
              struct wsg_shared_msg *msg, struct rooms_delivery *out)
{
    struct rooms_delivery d = {0, 0, 0, 0};
    /* Sends never free a connection or call back into the module (a slow
     * reader is only marked closing), so the list cannot change under
     * this loop. */
    for (struct rooms_member *m = room->head; m != NULL; m = m->next) {
        if (m == except)
            continue;
        switch (wsg_conn_send_shared(m->conn, msg)) {
        case WSG_SEND_OK:
        case WSG_SEND_FULL: d.sent++; break;
        case WSG_SEND_DROPPED: d.dropped++; break;
        case WSG_SEND_CLOSED: d.closed++; break;
        case WSG_SEND_ERROR: d.failed++; break;
        }
    }
    if (out != NULL) {
        out->sent += d.sent;
        out->dropped += d.dropped;
        out->closed += d.closed;
        out->failed += d.failed;
    }
}

long
rooms_publish(struct rooms *r, struct rooms_member *from, enum wsg_message_type type,
              const void *data, size_t len, bool include_sender,
              struct rooms_delivery *out)
{
    struct rooms_delivery d = {0, 0, 0, 0};
    struct room *room = from->room;
    (void)r; /* a backplane publishes through the table's own connection */

    if (out != NULL)
        *out = d;
    if (room == NULL || room->nmembers <= (include_sender ? 0u : 1u))
        return 0; /* nobody to send to: do not even frame it */
    struct wsg_shared_msg *msg = wsg_shared_msg_new(type, data, len);
    if (msg == NULL)
        return -1;
    rooms_deliver(room, include_sender ? NULL : from, msg, &d);
    wsg_shared_msg_unref(msg);
    if (out != NULL)
        *out = d;
    return d.sent > LONG_MAX ? LONG_MAX : (long)d.sent;
}
