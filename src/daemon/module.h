/*
 * module.h - loading handler modules and instantiating them per endpoint.
 *
 * A module (the .so) is loaded once and shared by every endpoint naming
 * it; an endpoint is one init()ed instance of a module with the
 * endpoint's options.  Both are reference-counted: a connection holds its
 * endpoint, an endpoint its module, so that a reload can drop the old
 * configuration while old connections finish on what they started with.
 */
#ifndef WSG_DAEMON_MODULE_H
#define WSG_DAEMON_MODULE_H

#include <stddef.h>

#include "config.h"
#include "wsgate/module.h"

struct wsg_loaded_module;

struct wsg_endpoint {
    const struct wsg_endpoint_cfg *cfg;
    struct wsg_loaded_module *lm;
    const struct wsg_module *mod;
    void *state;                         /* from mod->init */
    unsigned refs;
    unsigned connections;                /* open connections, for max_connections */
};

/* Where to look for modules: the configured module_dir, else the
 * installed one, else (wsgated run from its build tree) the build's. */
const char *wsg_module_dir(const struct wsg_config *cfg);

/* Load (or share) every endpoint's module and init an instance for each.
 * Returns an array of cfg->nendpoints endpoints, each holding one
 * reference, or NULL with "file:line: message" in err. */
struct wsg_endpoint **wsg_endpoints_create(struct wsg_config *cfg,
                                           struct event_base *base,
                                           char *err, size_t errlen);

/* Drop the creator's references and free the array. */
void wsg_endpoints_release(struct wsg_endpoint **eps, size_t n);

void wsg_endpoint_ref(struct wsg_endpoint *ep);
void wsg_endpoint_unref(struct wsg_endpoint *ep);

#endif
