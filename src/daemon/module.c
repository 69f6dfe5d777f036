/*
 * module.c - the module loader (dlopen by name, ABI check) and endpoint
 * instances.
 *
 * Loaded modules live in one small list keyed by name; each is dlclose()d
 * when its last endpoint goes.  dlopen() is process-wide state anyway, so
 * the list is too.
 */
#include "module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct wsg_loaded_module {
    char *name;
    char *path;
    void *dl;
    const struct wsg_module *mod;
    unsigned refs;
    struct wsg_loaded_module *next;
};

static struct wsg_loaded_module *loaded;

static bool
running_from_build_tree(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    return strcmp(exe, WSG_BUILD_DIR) == 0;
}

const char *
wsg_module_dir(const struct wsg_config *cfg)
{
    if (cfg->module_dir != NULL)
        return cfg->module_dir;
    return running_from_build_tree() ? WSG_BUILD_MODULE_DIR : WSG_MODULE_DIR;
}

static struct wsg_loaded_module *
module_load(const char *dir, const char *name, char *err, size_t errlen)
{
    for (struct wsg_loaded_module *lm = loaded; lm != NULL; lm = lm->next) {
        if (strcmp(lm->name, name) == 0) {
            lm->refs++;
            return lm;
        }
    }

    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s.so", dir, name) >= sizeof(path)) {
        snprintf(err, errlen, "module path too long for \"%s\"", name);
        return NULL;
    }
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "module \"%s\" not found: %s: %s", name, path,
                 strerror(errno));
        return NULL;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        snprintf(err, errlen, "module \"%s\": %s", name, dlerror());
        return NULL;
    }
    const struct wsg_module *mod = dlsym(dl, WSG_MODULE_SYMBOL);
    if (mod == NULL) {
        snprintf(err, errlen, "module \"%s\" (%s) does not export \"%s\"",
                 name, path, WSG_MODULE_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    if (mod->abi != WSG_MODULE_ABI) {
        snprintf(err, errlen, "module \"%s\" (%s) was built for module ABI %u, "
                 "this wsgated has ABI %u: rebuild it", name, path,
                 (unsigned)mod->abi, (unsigned)WSG_MODULE_ABI);
        dlclose(dl);
        return NULL;
    }
    if (mod->on_message == NULL) {
        snprintf(err, errlen, "module \"%s\" (%s) has no on_message handler", name, path);
        dlclose(dl);
        return NULL;
    }

    struct wsg_loaded_module *lm = calloc(1, sizeof(*lm));
    if (lm == NULL || (lm->name = strdup(name)) == NULL
        || (lm->path = strdup(path)) == NULL) {
        if (lm != NULL)
            free(lm->name);
        free(lm);
        dlclose(dl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lm->dl = dl;
    lm->mod = mod;
    lm->refs = 1;
    lm->next = loaded;
    loaded = lm;
    log_debug("loaded module %s from %s", name, path);
    return lm;
}

static void
module_unref(struct wsg_loaded_module *lm)
{
    if (--lm->refs > 0)
        return;
    for (struct wsg_loaded_module **p = &loaded; *p != NULL; p = &(*p)->next) {
        if (*p == lm) {
            *p = lm->next;
            break;
        }
    }
    log_debug("unloading module %s", lm->name);
    dlclose(lm->dl);
    free(lm->name);
    free(lm->path);
    free(lm);
}

static struct wsg_endpoint *
endpoint_create(struct wsg_config *cfg, const struct wsg_endpoint_cfg *ecfg,
                struct event_base *base, char *err, size_t errlen)
{
    char why[512];
    struct wsg_loaded_module *lm = module_load(wsg_module_dir(cfg), ecfg->module,
                                               why, sizeof(why));
    if (lm == NULL) {
        snprintf(err, errlen, "%s:%d: %s", cfg->file, ecfg->module_line, why);
        return NULL;
    }
    struct wsg_endpoint *ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        module_unref(lm);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ep->cfg = ecfg;
    ep->lm = lm;
    ep->mod = lm->mod;
    ep->refs = 1;
    if (ep->mod->init != NULL) {
        struct wsg_module_ctx ctx = {
            .endpoint = ecfg->path, .base = base, .config_file = cfg->file,
        };
        why[0] = '\0';
        if (ep->mod->init(&ctx, ecfg->options, &ep->state, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s:%d: module \"%s\" refused its options: %s",
                     cfg->file, ecfg->options != NULL
                     ? (int)config_setting_source_line(ecfg->options) : ecfg->line,
                     ecfg->module, why[0] != '\0' ? why : "no reason given");
            module_unref(lm);
            free(ep);
            return NULL;
        }
    }
    return ep;
}

struct wsg_endpoint **
wsg_endpoints_create(struct wsg_config *cfg, struct event_base *base,
                     char *err, size_t errlen)
{
    struct wsg_endpoint **eps = calloc(cfg->nendpoints + 1, sizeof(*eps));
    if (eps == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        eps[i] = endpoint_create(cfg, &cfg->endpoints[i], base, err, errlen);
        if (eps[i] == NULL) {
            wsg_endpoints_release(eps, i);
            return NULL;
        }
    }
    return eps;
}

void
wsg_endpoints_release(struct wsg_endpoint **eps, size_t n)
{
    if (eps == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        wsg_endpoint_unref(eps[i]);
    free(eps);
}

void
wsg_endpoint_ref(struct wsg_endpoint *ep)
{
    ep->refs++;
}

void
wsg_endpoint_unref(struct wsg_endpoint *ep)
{
    if (ep == NULL || --ep->refs > 0)
        return;
    if (ep->mod->fini != NULL)
        ep->mod->fini(ep->state);
    module_unref(ep->lm);
    free(ep);
}
