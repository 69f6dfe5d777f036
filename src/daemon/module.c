/*
 * module.c - the module loader (dlopen by name, ABI check) and endpoint
 * instances.
 *
 * Loaded modules live in one small list keyed by name; each is dlclose()d
 * when its last endpoint goes.  dlopen() is process-wide state anyway, so
 * the list is too, under a lock (workers load and unload from their own
 * threads); everything else here belongs to one worker.
 */
#include "module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

struct wsg_loaded_module {
    char *name;
    char *path;
    void *dl;
    const struct wsg_module *mod;
    unsigned refs;
    struct wsg_loaded_module *next;
};

static struct wsg_loaded_module *loaded;
/* Workers create and end instances on their own threads. */
static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;

/* The endpoints in force on this thread's worker, for wsg_room_members():
 * the last set it created, until released. */
static _Thread_local struct wsg_endpoint **live_eps;
static _Thread_local size_t live_n;

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
module_load_locked(const char *dir, const char *name, char *err, size_t errlen)
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

static struct wsg_loaded_module *
module_load(const char *dir, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&loaded_lock);
    struct wsg_loaded_module *lm = module_load_locked(dir, name, err, errlen);
    pthread_mutex_unlock(&loaded_lock);
    return lm;
}

static void
module_unref(struct wsg_loaded_module *lm)
{
    pthread_mutex_lock(&loaded_lock);
    if (--lm->refs > 0) {
        pthread_mutex_unlock(&loaded_lock);
        return;
    }
    for (struct wsg_loaded_module **p = &loaded; *p != NULL; p = &(*p)->next) {
        if (*p == lm) {
            *p = lm->next;
            break;
        }
    }
    log_debug("unloading module %s", lm->name);
    dlclose(lm->dl);
    pthread_mutex_unlock(&loaded_lock);
    free(lm->name);
    free(lm->path);
    free(lm);
}

struct wsg_instance {
    struct wsg_loaded_module *lm;        /* a reference */
    void *state;
    unsigned refs;
};

static void
instance_unref(struct wsg_instance *inst)
{
    if (--inst->refs > 0)
        return;
    wsg_metrics_drop_owner(inst);
    if (inst->lm->mod->fini != NULL)
        inst->lm->mod->fini(inst->state);
    module_unref(inst->lm);
    free(inst);
}

static struct wsg_instance *
instance_create(struct wsg_config *cfg, const struct wsg_endpoint_cfg *ecfg,
                const struct wsg_worker_id *w, char *err, size_t errlen)
{
    char why[512];
    struct wsg_loaded_module *lm = module_load(wsg_module_dir(cfg), ecfg->module,
                                               why, sizeof(why));
    if (lm == NULL) {
        snprintf(err, errlen, "%s:%d: %s", cfg->file, ecfg->module_line, why);
        return NULL;
    }
    struct wsg_instance *inst = calloc(1, sizeof(*inst));
    if (inst == NULL) {
        module_unref(lm);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    inst->lm = lm;
    inst->refs = 1;
    if (lm->mod->init != NULL) {
        struct wsg_module_ctx ctx = {
            .endpoint = ecfg->path, .base = w->base, .config_file = cfg->file,
            .worker = w->index, .workers = w->count, .generation = cfg->generation,
        };
        why[0] = '\0';
        wsg_metrics_owner(inst);
        int rc = lm->mod->init(&ctx, ecfg->options, &inst->state, why, sizeof(why));
        wsg_metrics_owner(NULL);
        if (rc != 0) {
            wsg_metrics_drop_owner(inst);
            snprintf(err, errlen, "%s:%d: module \"%s\" refused its options: %s",
                     cfg->file, ecfg->options != NULL
                     ? (int)config_setting_source_line(ecfg->options) : ecfg->line,
                     ecfg->module, why[0] != '\0' ? why : "no reason given");
            module_unref(lm);
            free(inst);
            return NULL;
        }
    }
    return inst;
}

static struct wsg_endpoint *
endpoint_new(struct wsg_config *cfg, const struct wsg_endpoint_cfg *ecfg,
             struct wsg_instance *inst)
{
    struct wsg_endpoint *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return NULL;
    ep->cfg = ecfg;
    ep->config = cfg;
    wsg_cfg_ref(cfg);
    ep->inst = inst;
    ep->mod = inst->lm->mod;
    ep->state = inst->state;
    ep->refs = 1;
    return ep;
}

/* The old endpoint whose instance a new endpoint may keep, or NULL. */
static struct wsg_endpoint *
reusable(const struct wsg_endpoint_cfg *ecfg, struct wsg_endpoint **old, size_t nold)
{
    for (size_t i = 0; i < nold; i++) {
        if (strcmp(old[i]->cfg->path, ecfg->path) == 0
            && strcmp(old[i]->cfg->module, ecfg->module) == 0)
            return old[i]->mod->reload != NULL ? old[i] : NULL;
    }
    return NULL;
}

/* Every new instance was init()ed, so the options are valid: now let the
 * unchanged endpoints keep their running instance instead. */
static void
keep_running_instance(struct wsg_instance **inst, const struct wsg_endpoint_cfg *ecfg,
                      struct wsg_endpoint *prev)
{
    char why[512] = "";
    if (prev->mod->reload(prev->state, ecfg->options, why, sizeof(why)) != 0) {
        log_warn("endpoint %s: module %s could not reload in place (%s): "
                 "new connections get a fresh instance", ecfg->path, ecfg->module,
                 why[0] != '\0' ? why : "no reason given");
        return;
    }
    instance_unref(*inst);
    *inst = prev->inst;
    (*inst)->refs++;
}

struct wsg_endpoint **
wsg_endpoints_create(struct wsg_config *cfg, const struct wsg_worker_id *w,
                     struct wsg_endpoint **old, size_t nold, char *err, size_t errlen)
{
    size_t n = cfg->nendpoints;
    struct wsg_endpoint **eps = calloc(n + 1, sizeof(*eps));
    struct wsg_instance **insts = calloc(n + 1, sizeof(*insts));
    if (eps == NULL || insts == NULL) {
        free(eps);
        free(insts);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t made = 0;
    for (; made < n; made++) {
        insts[made] = instance_create(cfg, &cfg->endpoints[made], w, err, errlen);
        if (insts[made] == NULL)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        struct wsg_endpoint *prev = reusable(&cfg->endpoints[i], old, nold);
        if (prev != NULL)
            keep_running_instance(&insts[i], &cfg->endpoints[i], prev);
        eps[i] = endpoint_new(cfg, &cfg->endpoints[i], insts[i]);
        if (eps[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            wsg_endpoints_release(eps, i);
            for (size_t j = i; j < n; j++)
                instance_unref(insts[j]);
            free(insts);
            return NULL;
        }
    }
    free(insts);
    live_eps = eps;
    live_n = n;
    return eps;

fail:
    for (size_t i = 0; i < made; i++)
        instance_unref(insts[i]);
    free(insts);
    free(eps);
    return NULL;
}

void
wsg_endpoints_release(struct wsg_endpoint **eps, size_t n)
{
    if (eps == NULL)
        return;
    if (eps == live_eps)
        live_eps = NULL;
    for (size_t i = 0; i < n; i++)
        wsg_endpoint_unref(eps[i]);
    free(eps);
}

long
wsg_room_members(const char *endpoint, const void *room, size_t len)
{
    for (size_t i = 0; live_eps != NULL && i < live_n; i++) {
        struct wsg_endpoint *ep = live_eps[i];
        if (strcmp(ep->cfg->path, endpoint) == 0)
            return ep->mod->room_members != NULL
                   ? ep->mod->room_members(ep->state, room, len) : -1;
    }
    return -1;
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
    instance_unref(ep->inst);
    wsg_cfg_free(ep->config);
    free(ep);
}
