/*
 * rooms.h - room membership and delivery for the broadcast module.
 *
 * A struct rooms is one endpoint's set of rooms: a hash table from name (any
 * bytes) to room, each room an intrusive doubly-linked list of members.
 * The caller owns the member nodes (one per connection, allocated once);
 * joining and leaving only link and unlink them, so both are O(1) (table
 * resizes amortised).  A room exists while it has members: the first join
 * creates it, the last leave frees it.
 *
 * Delivery goes through rooms_publish() and nothing else walks a member
 * list for the module.  That is the seam for a backplane (Redis pub/sub
 * between nodes, or between worker event loops): it publishes (room name,
 * message) once where rooms_publish() delivers locally, and each node hands
 * what it receives to rooms_deliver() for its own members.
 *
 * Not thread-safe: one struct rooms belongs to one event loop.
 */
#ifndef WSG_MODULES_ROOMS_H
#define WSG_MODULES_ROOMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsgate/conn.h"

struct rooms;
struct room;

/* One connection's place in a room, embedded in or allocated by the
 * caller; every field belongs to rooms.c except conn. */
struct rooms_member {
    struct rooms_member *prev, *next;
    struct room *room;          /* NULL while in no room */
    struct wsg_conn *conn;      /* where rooms_deliver() sends */
};

enum rooms_join_result {
    ROOMS_JOINED = 0,
    ROOMS_FULL = 1,             /* the room already has max_members */
    ROOMS_NOMEM = -1,
};

/* What one delivery did, receiver by receiver (wsg_send_result). */
struct rooms_delivery {
    size_t sent;                /* queued (WSG_SEND_OK or WSG_SEND_FULL) */
    size_t dropped;             /* slow reader, policy "drop" */
    size_t closed;              /* closing, or just closed as too slow */
    size_t failed;              /* WSG_SEND_ERROR */
};

/* The hash room names are looked up by: SipHash-1-3 under a random key
 * (rooms_hash_seed, one per table), since clients choose the names and
 * must not be able to choose ones that all land in one chain.  For any
 * table of room names (the worker bus keeps one too). */
void rooms_hash_seed(uint64_t key[2]);
uint64_t rooms_hash(const uint64_t key[2], const void *name, size_t len);

/* NULL when out of memory. */
struct rooms *rooms_new(void);

/* Frees every room; members still in one are left in none. */
void rooms_free(struct rooms *r);

/* Puts m (in no room yet) into the room called name, creating it.  With
 * max_members > 0 a room that already has that many is not joined. */
enum rooms_join_result rooms_join(struct rooms *r, struct rooms_member *m,
                                  const void *name, size_t len, size_t max_members);

/* Takes m out of its room, freeing the room if it is now empty.  A member
 * in no room is left alone. */
void rooms_leave(struct rooms *r, struct rooms_member *m);

/* The room called name, or NULL if nobody is in it. */
struct room *rooms_find(const struct rooms *r, const void *name, size_t len);

/* How many rooms exist. */
size_t rooms_count(const struct rooms *r);

/* How many members all rooms have together. */
size_t rooms_members(const struct rooms *r);

size_t room_members(const struct room *room);

/* One member of the room (the one that joined last). */
struct rooms_member *room_first(const struct room *room);

/* The room's name, NUL-terminated (names may hold NULs: use *len). */
const char *room_name(const struct room *room, size_t *len);

/* Calls fn for every member; fn may take the member it is given out of the
 * room (rooms_leave), no other. */
void room_foreach(struct room *room, void (*fn)(struct rooms_member *m, void *arg),
                  void *arg);

/* Frames a message once and delivers it to every member of from's room
 * except from itself (unless include_sender).  Returns the number of
 * receivers it was queued for, or -1 if it could not be framed (nobody got
 * it).  out, if not NULL, gets the details. */
long rooms_publish(struct rooms *r, struct rooms_member *from,
                   enum wsg_message_type type, const void *data, size_t len,
                   bool include_sender, struct rooms_delivery *out);

/* Queues msg for every member of room but except (may be NULL), adding to
 * *out if not NULL.  A slow or closing receiver never holds up the others: its own
 * send policy applies (wsg_conn_send_shared). */
void rooms_deliver(struct room *room, const struct rooms_member *except,
                   struct wsg_shared_msg *msg, struct rooms_delivery *out);

#endif
