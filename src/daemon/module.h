/*
 * module.h - loading handler modules and instantiating them per endpoint.
 *
 * A module (the .so) is loaded once and shared by every endpoint naming
 * it.  An instance is one init()ed state of a module; an endpoint binds a
 * configured path to an instance.  All are reference-counted: a
 * connection holds its endpoint, an endpoint its configuration and its
 * instance, an instance its module.  A reload makes new endpoints; an
 * unchanged endpoint whose module can reload() keeps its instance, and
 * everything else of the old configuration goes away with the last
 * connection that uses it.
 */
#ifndef WSG_DAEMON_MODULE_H
#define WSG_DAEMON_MODULE_H

#include <stddef.h>

#include "config.h"
#include "wsgate/module.h"

struct wsg_ep_stats;

/* Which worker (workers = N) endpoints are made for, on whose loop. */
struct wsg_worker_id {
    struct event_base *base;
    unsigned index;                      /* 0 .. count - 1 */
    unsigned count;
};
struct wsg_loaded_module;
struct wsg_instance;

struct wsg_endpoint {
    const struct wsg_endpoint_cfg *cfg;
    struct wsg_config *config;           /* a reference: cfg lives in it */
    struct wsg_instance *inst;           /* a reference */
    const struct wsg_module *mod;        /* the instance's, for short calls */
    void *state;                         /* the instance's, from mod->init */
    unsigned refs;
    struct wsg_ep_stats *stats;          /* the path's counters (metrics.h); set by server.c */
};

/* Where to look for modules: the configured module_dir, else the
 * installed one, else (wsgated run from its build tree) the build's. */
const char *wsg_module_dir(const struct wsg_config *cfg);

/* Load (or share) every endpoint's module and init an instance for each.
 * With old endpoints (a reload), an endpoint of the same path and module
 * whose module has reload() keeps the old instance.  Nothing of the old
 * set changes unless every new endpoint is valid.  Returns an array of
 * cfg->nendpoints endpoints, each holding one reference, or NULL with
 * "file:line: message" in err. */
struct wsg_endpoint **wsg_endpoints_create(struct wsg_config *cfg,
                                           const struct wsg_worker_id *w,
                                           struct wsg_endpoint **old, size_t nold,
                                           char *err, size_t errlen);

/* Drop the creator's references and free the array. */
void wsg_endpoints_release(struct wsg_endpoint **eps, size_t n);

void wsg_endpoint_ref(struct wsg_endpoint *ep);
void wsg_endpoint_unref(struct wsg_endpoint *ep);

#endif
