/*
 * deadline.h - handshake_timeout as a bound on the whole HTTP handshake.
 *
 * evhttp's timeout restarts on every read, so a client sending its request
 * one byte at a time (slowloris) would never be cut.  Every accepted
 * bufferevent is watched from creation: a connection still in evhttp's
 * hands when its deadline passes is shut down (evhttp then sees EOF and
 * frees it); the upgrade hand-off stops watching it.  Watching holds a
 * bufferevent reference; a sweep four times a second gives back those
 * whose connection evhttp has already freed.
 */
#ifndef WSG_DAEMON_DEADLINE_H
#define WSG_DAEMON_DEADLINE_H

#include <stdint.h>

struct bufferevent;
struct event_base;
struct wsg_deadlines;

struct wsg_deadlines *wsg_deadlines_new(struct event_base *base);

/* Drop every watch (after evhttp_free). */
void wsg_deadlines_free(struct wsg_deadlines *d);

/* Watch a bufferevent evhttp is about to use for a new connection. */
void wsg_deadline_watch(struct wsg_deadlines *d, struct bufferevent *bev,
                        uint32_t timeout_ms);

/* The handshake completed: stop watching it.  Returns the microseconds
 * since it was accepted (0 if it was not watched). */
uint64_t wsg_deadline_done(struct wsg_deadlines *d, struct bufferevent *bev);

#endif
