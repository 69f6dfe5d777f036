/*
 * wsgate/module.h - the interface between wsgated and a handler module.
 *
 * A module is a shared object that exports one descriptor:
 *
 *     const struct wsg_module wsg_module = {
 *         .abi = WSG_MODULE_ABI, .name = "echo", .on_message = echo_message,
 *     };
 *
 * wsgated loads it with dlopen() from module_dir when an endpoint names it,
 * refuses it if abi differs from the daemon's WSG_MODULE_ABI, and calls
 * init() once per endpoint with that endpoint's `options` group.  All
 * callbacks run on the event loop thread; none may block.  Modules never
 * touch sockets: they use the wsg_conn_* calls of wsgate/conn.h.
 *
 * Compile a module with `pkg-config --cflags wsgate` and link it with
 * `-shared -fPIC`; the wsg_* functions it calls are resolved from wsgated.
 */
#ifndef WSGATE_MODULE_H
#define WSGATE_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "wsgate/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of this header or wsgate/conn.h. */
#define WSG_MODULE_ABI 3

/* The exported symbol wsgated looks up. */
#define WSG_MODULE_SYMBOL "wsg_module"

struct event_base;

/* What a module instance learns about its endpoint at init time. */
struct wsg_module_ctx {
    const char *endpoint;        /* the endpoint's path, e.g. "/echo" */
    struct event_base *base;     /* the event loop, for modules with their own I/O */
    const char *config_file;     /* for error messages */
    /* With workers = N the daemon runs N event loops, one per thread, and
     * each has its own instance of every endpoint, init()ed on that
     * worker's thread with that worker's base.  Instances share nothing
     * unless the module arranges it; state that spans workers (a room
     * whose members are on several) is the module's to pass along. */
    unsigned worker;             /* 0 .. workers - 1 */
    unsigned workers;
    /* The same for every worker's instance made from one configuration
     * load, different for the next load (a reload): instances that should
     * find each other across workers match on endpoint and generation. */
    unsigned long generation;
};

struct wsg_module {
    uint32_t abi;                /* WSG_MODULE_ABI */
    const char *name;

    /* Once per endpoint using the module.  opts is the endpoint's
     * `options` group or NULL.  Return 0, or -1 with a message in err
     * (the daemon adds file:line).  *state is passed to every callback. */
    int (*init)(const struct wsg_module_ctx *ctx, const config_setting_t *opts,
                void **state, char *err, size_t errlen);
    void (*fini)(void *state);

    /* Optional.  On a configuration reload (SIGHUP), for an endpoint whose
     * path and module are unchanged: apply the new options to the running
     * state, so that what lives in it (a broadcast module's rooms) carries
     * on across the reload.  The options have already passed init() on a
     * scratch instance.  Return 0, or -1 with a message in err: the
     * endpoint then gets a fresh instance from init() for new connections
     * while existing ones keep the old.  NULL: always a fresh instance. */
    int (*reload)(void *state, const config_setting_t *opts, char *err, size_t errlen);

    /* A client completed the handshake.  Return 0 to accept it, or a
     * close code (e.g. 1008) to close it at once; to give a reason, call
     * wsg_conn_close(c, code, reason) first and return the same code. */
    int (*on_open)(struct wsg_conn *c, void *state);

    /* A complete text or binary message (fragments already joined, text
     * already checked to be UTF-8).  m->data is valid during the call. */
    void (*on_message)(struct wsg_conn *c, const struct wsg_message *m, void *state);

    /* The output queue fell back below the endpoint's high-watermark
     * after wsg_conn_send() reported WSG_SEND_FULL (flow control). */
    void (*on_drain)(struct wsg_conn *c, void *state);

    /* The connection is going away; code is the close code sent or
     * received (1006 when the peer vanished).  Do not send from here. */
    void (*on_close)(struct wsg_conn *c, uint16_t code, void *state);

    /* Optional (ABI 2).  For modules that keep rooms (broadcast): how many
     * members the room called room (len bytes) has, or -1 if unknown.
     * Answers wsg_room_members(). */
    long (*room_members)(void *state, const void *room, size_t len);
};

/* How many members the room called room (len bytes, any bytes) has on the
 * endpoint whose configured path is endpoint, e.g. ("/chat", "lobby", 5),
 * as the calling worker's instance knows it (the broadcast module counts
 * every worker of the daemon).
 * With a broadcast backplane this counts every node (as of at most about
 * a second ago) for rooms that have members on this node, and is -1 for
 * others (unknown here); without one, or while Redis is unreachable, it
 * counts this node.  -1 also when there is no such endpoint or its module
 * keeps no rooms. */
long wsg_room_members(const char *endpoint, const void *room, size_t len);

/* Metrics a module exposes on wsgated's Prometheus listener (metrics = {
 * address; port; } in the configuration).  read(arg) is called at every
 * scrape, on worker 0's event loop, and must be cheap: with workers = N it
 * reads another worker's instance while that worker runs, so it may only
 * load a field or two that the instance updates in place (a count), never
 * follow pointers the instance may be changing.  The series of every
 * worker's instance (same name and endpoint) are summed.  name follows Prometheus
 * rules ([a-zA-Z_:][a-zA-Z0-9_:]*; end a counter's name in _total); endpoint
 * becomes the label endpoint="..." (pass ctx->endpoint from init; NULL for
 * none); name, help and endpoint are copied.  Register from init(): the
 * daemon unregisters what an instance registered there just before it
 * calls that instance's fini(), so read() never sees freed state.  A metric
 * registered elsewhere is the module's to unregister.  Returns NULL (and
 * logs why) when the name is invalid or out of memory;
 * wsg_metric_unregister(NULL) is a no-op.  Since ABI 2. */
enum wsg_metric_type {
    WSG_METRIC_COUNTER = 0,      /* only ever goes up */
    WSG_METRIC_GAUGE = 1,        /* goes up and down */
};

struct wsg_metric;

struct wsg_metric *wsg_metric_register(const char *name, const char *help,
                                       enum wsg_metric_type type, const char *endpoint,
                                       double (*read)(void *arg), void *arg);
void wsg_metric_unregister(struct wsg_metric *m);

#ifdef __cplusplus
}
#endif

#endif
