/*
 * backplane.h - the broadcast module's Redis pub/sub backplane: the rooms
 * of one endpoint on several wsgated nodes act as one.
 *
 * A node subscribes to a room's channel, "<prefix><endpoint>:<room>", while
 * it has local members in the room, and publishes each message of a local
 * sender once, in an envelope that names the sending node; every node
 * hands what it receives from other nodes to its own members.  A node
 * never re-delivers its own messages: they went out locally already.
 *
 * Redis unreachable (at start or later): local delivery goes on, messages
 * to other nodes are dropped (never queued, so never duplicated), and the
 * node reconnects with backoff and subscribes again.
 *
 * Presence: each node keeps its member count of each room in the Redis
 * hash "<prefix>presence:<endpoint>:<room>" (field = node id) and a
 * heartbeat key "<prefix>node:<id>" that expires when the node is gone;
 * counts of nodes without a heartbeat are not counted (and are removed).
 *
 * Not thread-safe: one backplane belongs to one event loop.
 */
#ifndef WSG_MODULES_BACKPLANE_H
#define WSG_MODULES_BACKPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsgate/conn.h"

struct event_base;
struct backplane;

#define BACKPLANE_URL_MAX 256
#define BACKPLANE_PREFIX_MAX 64

/* Where Redis is, from "redis://host[:port][/db]" or "unix:/path". */
struct backplane_addr {
    char host[BACKPLANE_URL_MAX];   /* or the socket's path */
    int port;                       /* 0 for a Unix socket */
    int db;
};

/* 0, or -1 with a message in err. */
int backplane_parse_url(struct backplane_addr *a, const char *url, char *err,
                        size_t errlen);

/* A message from another node for the local members of a room. */
typedef void backplane_deliver_fn(void *arg, const char *room, size_t len,
                                  enum wsg_message_type type, const void *data,
                                  size_t dlen);

struct backplane_cfg {
    const char *url;                /* checked by backplane_parse_url */
    const char *password;           /* NULL: no AUTH */
    const char *prefix;             /* of channel and key names */
    const char *endpoint;           /* the endpoint's path */
};

/* Connects from the event loop (not at once, so that an instance that
 * only checks its options never touches Redis).  NULL when out of
 * memory or with a bad URL, with a message in err. */
struct backplane *backplane_new(struct event_base *base, const struct backplane_cfg *cfg,
                                backplane_deliver_fn *deliver, void *arg, char *err,
                                size_t errlen);

/* Disconnects and frees; NULL is a no-op. */
void backplane_free(struct backplane *bp);

/* The room now has local_members members on this node: subscribes to its
 * channel when that becomes non-zero, unsubscribes when it becomes zero,
 * and updates the node's presence count. */
void backplane_room(struct backplane *bp, const char *room, size_t len,
                    size_t local_members);

/* Sends a local member's message to the room's members on other nodes
 * (dropped while Redis is unreachable or too far behind). */
void backplane_publish(struct backplane *bp, const char *room, size_t len,
                       enum wsg_message_type type, const void *data, size_t dlen);

/* The room's members on every node, as of the last presence refresh (at
 * most about a second old), or -1 when unknown: the room has no local
 * members, or Redis is unreachable. */
long backplane_members(const struct backplane *bp, const char *room, size_t len);

/* What /metrics shows of a backplane (counters since it was made). */
enum backplane_figure {
    BACKPLANE_UP,           /* 1 while connected to Redis, else 0 */
    BACKPLANE_CONNECTS,     /* times it (re)connected */
    BACKPLANE_PUBLISHED,    /* messages sent to other nodes */
    BACKPLANE_DROPPED,      /* not sent: Redis unreachable or too far behind */
    BACKPLANE_RECEIVED,     /* messages from other nodes */
    BACKPLANE_MALFORMED,    /* messages on our channels that were not ours */
    BACKPLANE_FIGURES
};
uint64_t backplane_figure(const struct backplane *bp, enum backplane_figure f);

#endif
