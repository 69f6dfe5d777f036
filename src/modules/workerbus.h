/*
 * workerbus.h - the broadcast module's bus between the worker event loops
 * of one wsgated (workers = N): the N instances of an endpoint act as one
 * set of rooms, as nodes on a Redis backplane do (backplane.h), but in
 * memory.
 *
 * A local sender's message is delivered by its own worker (rooms.c) and
 * published once here: every other worker's instance gets a copy in its
 * inbox and hands it to its own members on its own loop, in the order the
 * sender's worker published.  So each member gets each message once.
 *
 * Instances find each other by endpoint path and configuration generation
 * (wsg_module_ctx): after a reload that gives an endpoint fresh instances,
 * old and new connections stay apart, as with one worker.  With a Redis
 * backplane the bus is not used: each worker is a node of its own there.
 *
 * An inbox holds at most WORKERBUS_INBOX_MAX bytes: a worker that far
 * behind misses messages (logged) rather than growing without bound.
 */
#ifndef WSG_MODULES_WORKERBUS_H
#define WSG_MODULES_WORKERBUS_H

#include <stddef.h>

#include "backplane.h"          /* backplane_deliver_fn */
#include "rooms.h"              /* enum rooms_join_result */

struct event_base;
struct workerbus;

#define WORKERBUS_INBOX_MAX (64u << 20)

/* Joins the group of (endpoint, generation); deliver(arg, ...) runs on
 * base's loop for every message another member publishes.  NULL when out
 * of memory, with a message in err. */
struct workerbus *workerbus_join(struct event_base *base, const char *endpoint,
                                 unsigned long generation, backplane_deliver_fn *deliver,
                                 void *arg, char *err, size_t errlen);

/* Leaves the group; messages still in the inbox are dropped.  NULL: a
 * no-op.  On the member's own thread. */
void workerbus_leave(struct workerbus *b);

/* A local member's message, for every other member of the group. */
void workerbus_publish(struct workerbus *b, const char *room, size_t len,
                       enum wsg_message_type type, const void *data, size_t dlen);

/* Room membership across the group's workers, so that max_members and
 * room_members count every worker: a member joins here before its own
 * worker's room, and leaves both.  ROOMS_FULL when the room already has
 * max_members (> 0) members on all workers together. */
enum rooms_join_result workerbus_room_join(struct workerbus *b, const char *name,
                                           size_t len, size_t max_members);
void workerbus_room_leave(struct workerbus *b, const char *name, size_t len);

/* Members of the room on every worker. */
size_t workerbus_room_members(struct workerbus *b, const char *name, size_t len);

/* Rooms with members on any worker. */
size_t workerbus_rooms(struct workerbus *b);

#endif
