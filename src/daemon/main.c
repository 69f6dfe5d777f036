/*
 * main.c - wsgated: command line, configuration, event loop, signals.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "wsg_autoconf.h" /* PACKAGE_VERSION */
#include "config.h"
#include "handshake.h"
#include "log.h"
#include "module.h"
#include "notify.h"
#include "privileges.h"
#include "server.h"
#include "worker.h"

static void
usage(FILE *f)
{
    fprintf(f,
        "NAME\n"
        "    wsgated - the wsgate WebSocket server\n"
        "\n"
        "SYNOPSIS\n"
        "    wsgated [-d] [-c FILE]\n"
        "    wsgated -t [-c FILE]\n"
        "\n"
        "DESCRIPTION\n"
        "    Serves WebSocket endpoints (RFC 6455) on the ws:// and wss://\n"
        "    listeners of its configuration, handing each endpoint's messages to\n"
        "    a handler module (echo, broadcast, proxy, exec, ...).  It runs in the\n"
        "    foreground and logs to stderr or syslog; under systemd it reports\n"
        "    its state with sd_notify (Type=notify).\n"
        "\n"
        "OPTIONS\n"
        "    -c FILE  the configuration file (libconfig syntax).  Without -c:\n"
        "             %s if it exists, else the embedded\n"
        "             default: 127.0.0.1:8080 with /echo and /broadcast.\n"
        "    -t       check the configuration and load and initialise its\n"
        "             modules, print the verdict, exit 0 if it is usable\n"
        "    -d       log at debug level, whatever the configuration says\n"
        "    -v       print the version and exit\n"
        "    -h       print this help and exit\n"
        "\n"
        "SIGNALS\n"
        "    SIGHUP   reload the configuration (and TLS certificates) for new\n"
        "             connections; open ones keep theirs; a broken file changes\n"
        "             nothing\n"
        "    SIGUSR1  reopen the access log (after logrotate renamed it)\n"
        "    SIGTERM, SIGINT\n"
        "             stop accepting, close every connection with 1001, exit 0\n"
        "             once they have answered or close_timeout has passed\n"
        "\n"
        "EXIT STATUS\n"
        "    0 on a normal stop or a good -t; 1 when the configuration, a module,\n"
        "    a listener or a certificate cannot be used (the error names\n"
        "    file:line); 2 for bad usage.\n",
        WSG_DEFAULT_CONFIG_PATH);
}

static struct wsg_config *
load_config(const char *path, char *err, size_t errlen)
{
    if (path != NULL)
        return wsg_cfg_load_file(path, err, errlen);
    if (access(WSG_DEFAULT_CONFIG_PATH, F_OK) == 0)
        return wsg_cfg_load_file(WSG_DEFAULT_CONFIG_PATH, err, errlen);
    return wsg_cfg_load_string(wsg_cfg_default_text(), "(embedded default)", err, errlen);
}

/* Every connection is a descriptor: take the hard limit on open files
 * (systemd's LimitNOFILE, or the shell's) and say so if max_connections
 * cannot fit in it. */
static void
raise_fd_limit(const struct wsg_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t want = (uint64_t)cfg->limits.max_connections + 64;
    if (cfg->limits.max_connections > 0 && rl.rlim_cur != RLIM_INFINITY
        && rl.rlim_cur < want)
        log_warn("open files limit is %llu, below max_connections (%u) + 64: "
                 "raise LimitNOFILE or ulimit -n", (unsigned long long)rl.rlim_cur,
                 cfg->limits.max_connections);
}

/* What a running daemon has: the source of its configuration and its
 * workers (each with the configuration and endpoints in force on it). */
struct daemon {
    const char *path;                 /* -c, or NULL */
    bool debug;
    struct wsg_worker *workers;       /* [0] runs on this thread */
    unsigned nworkers;
};

static void
apply_log_settings(const struct daemon *d)
{
    log_set_level(d->debug ? LOG_DEBUG : d->workers[0].cfg->log_level);
}

static bool
same_listeners(const struct wsg_config *a, const struct wsg_config *b)
{
    if (a->nlisten != b->nlisten)
        return false;
    for (size_t i = 0; i < a->nlisten; i++) {
        const struct wsg_listen_cfg *x = &a->listen[i], *y = &b->listen[i];
        if (strcmp(x->address, y->address) != 0 || x->port != y->port
            || x->backlog != y->backlog || (x->tls == NULL) != (y->tls == NULL))
            return false;
    }
    return true;
}

/* SIGHUP: new endpoints, limits and module options for new connections;
 * running connections keep what they have.  A configuration that does not
 * load, or whose modules refuse it, changes nothing.  Worker 0 tries it
 * first; the others follow only if it took it. */
static void
reload(struct daemon *d)
{
    wsg_notify("RELOADING=1");
    struct wsg_worker *w0 = &d->workers[0];
    char err[1024];
    struct wsg_config *cfg = load_config(d->path, err, sizeof(err));
    bool listeners_kept = cfg == NULL || same_listeners(w0->cfg, cfg);
    if (cfg == NULL || wsg_worker_reconfigure(w0, cfg, err, sizeof(err)) != 0) {
        log_err("reload failed, keeping the running configuration: %s", err);
        wsg_metrics_reloaded(w0->srv->metrics, false);
        wsg_cfg_free(cfg);
        wsg_notify("READY=1");
        return;
    }
    for (unsigned i = 1; i < d->nworkers; i++)
        wsg_worker_post_reload(&d->workers[i], cfg);
    for (unsigned i = 1; i < d->nworkers; i++)
        wsg_worker_wait_reload(&d->workers[i], cfg);
    wsg_metrics_reloaded(w0->srv->metrics, true);
    if (!listeners_kept)
        log_warn("reload: changes to listen take effect at the next restart");
    if (cfg->workers != d->nworkers)
        log_warn("reload: workers = %u takes effect at the next restart (%u running)",
                 cfg->workers, d->nworkers);
    wsg_cfg_free(cfg);                /* the workers hold it now */
    apply_log_settings(d);
    log_notice("reloaded configuration %s", w0->cfg->file);
    wsg_notify("READY=1");
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)what;
    log_notice("received %s", strsignal((int)sig));
    if (sig == SIGHUP) {
        reload(d);
        return;
    }
    if (sig == SIGUSR1) {
        wsg_server_reopen_logs(d->workers[0].srv);
        for (unsigned i = 1; i < d->nworkers; i++)
            wsg_worker_post_reopen(&d->workers[i]);
        return;
    }
    wsg_notify("STOPPING=1");
    wsg_server_stop(d->workers[0].srv);
    for (unsigned i = 1; i < d->nworkers; i++)
        wsg_worker_post_stop(&d->workers[i]);
}

/* Stop and wait for the workers that were started. */
static void
stop_workers(struct daemon *d)
{
    for (unsigned i = 1; i < d->nworkers; i++)
        wsg_worker_post_stop(&d->workers[i]);
    for (unsigned i = 1; i < d->nworkers; i++)
        wsg_worker_join(&d->workers[i]);
}

/* Worker 0's front end here, then the other workers' threads, each
 * serving before the next starts (worker 0 binds first: see server.c). */
static int
start_workers(struct daemon *d, char *err, size_t errlen)
{
    struct wsg_worker *w0 = &d->workers[0];
    if (wsg_worker_serve(w0, err, errlen) != 0)
        return -1;
    for (unsigned i = 1; i < d->nworkers; i++) {
        struct wsg_worker *w = &d->workers[i];
        *w = (struct wsg_worker){
            .id = {.index = i, .count = d->nworkers},
            .admission = w0->admission, .cfg = w0->cfg,
        };
        if (wsg_worker_start(w, err, errlen) != 0) {
            stop_workers(d);
            return -1;
        }
    }
    return 0;
}

/* The handshake's SHA-1 (RFC 6455 4.2.2), on the RFC's own example: an
 * OpenSSL configured without it stops the daemon here, not every client
 * at its handshake.  It also loads OpenSSL's provider before the first
 * client instead of during its handshake. */
static bool
handshake_hash_works(void)
{
    char accept[WSG_HS_ACCEPT_LEN + 1];
    wsg_hs_accept_key("dGhlIHNhbXBsZSBub25jZQ==", WSG_HS_KEY_LEN, accept);
    return strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0;
}

static int
run(struct daemon *d)
{
    struct wsg_worker *w0 = &d->workers[0];
    raise_fd_limit(w0->cfg);
    if (!handshake_hash_works()) {
        log_err("OpenSSL cannot compute SHA-1, which every WebSocket handshake needs "
                "(check OPENSSL_CONF and its providers)");
        return 1;
    }
    char err[1024];
    if ((w0->admission = wsg_admission_new(w0->cfg->limits.max_tracked_addresses)) == NULL) {
        log_err("out of memory");
        return 1;
    }
    /* Taken from here on, acted on once the loop runs: a SIGTERM while
     * the workers start stops the daemon gracefully instead of killing it. */
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    struct event *ev[4];
    for (size_t i = 0; i < 4; i++) {
        ev[i] = evsignal_new(w0->id.base, sigs[i], on_signal, d);
        if (ev[i] == NULL || evsignal_add(ev[i], NULL) != 0)
            fatal("cannot install signal handlers");
    }
    int status = 0;
    if (start_workers(d, err, sizeof(err)) != 0) {
        log_err("%s", err);
        status = 1;
    } else if (wsg_drop_privileges(w0->cfg, err, sizeof(err)) != 0) {
        log_err("%s", err);
        stop_workers(d);
        status = 1;
    }
    if (status != 0) {
        for (size_t i = 0; i < 4; i++)
            event_free(ev[i]);
        return status;
    }

    if (d->nworkers > 1)
        log_notice("wsgated %s started, configuration %s, %u workers", PACKAGE_VERSION,
                   w0->cfg->file, d->nworkers);
    else
        log_notice("wsgated %s started, configuration %s", PACKAGE_VERSION, w0->cfg->file);
    wsg_notify("READY=1");
    event_base_dispatch(w0->id.base);

    /* Freeing the signal events restores the default actions: a second
     * SIGTERM now would kill a daemon that is only tidying up.  Block them
     * for the rest of its life instead. */
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < 4; i++)
        sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, NULL);
    stop_workers(d);
    for (size_t i = 0; i < 4; i++)
        event_free(ev[i]);
    log_notice("stopped");
    return 0;
}

/* Every loop turn a broadcast allocates an output chunk per receiver and
 * frees it once written: with glibc's default 128 KiB trim threshold the
 * heap's top went back to the kernel each turn and was faulted in again
 * (a fifth of the CPU per delivery to 1,000 receivers).  Up to 8 MiB of
 * free memory now stays with the process.  Fixing the trim threshold ends
 * glibc's sliding mmap threshold, which had risen past the 128 KiB buffers
 * of 64 KiB messages; without it each of those was an mmap and a munmap
 * (twice the CPU per message), so chunks up to 4 MiB come from the heap.
 * GLIBC_TUNABLES still wins for an operator who sets malloc tunables. */
static void
keep_freed_memory(void)
{
#if defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
    const char *t = getenv("GLIBC_TUNABLES");
    if (t != NULL && strstr(t, "glibc.malloc.") != NULL)
        return;
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

int
main(int argc, char **argv)
{
    struct daemon d = {0};
    const char *path = NULL;
    bool test_only = false, debug = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tdvh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': test_only = true; break;
        case 'd': debug = true; break;
        case 'v': printf("wsgated %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    /* A peer that is already gone must not kill us through a write. */
    signal(SIGPIPE, SIG_IGN);
    keep_freed_memory();

    char err[1024];
    struct wsg_config *cfg = load_config(path, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "wsgated: %s\n", err);
        return 1;
    }
    log_init(debug ? LOG_DEBUG : cfg->log_level,
             !test_only && cfg->log_target == WSG_LOG_SYSLOG);

    struct event_base *base = event_base_new();
    struct wsg_worker *workers = calloc(cfg->workers, sizeof(*workers));
    if (base == NULL || workers == NULL)
        fatal("cannot create the event loop");
    struct wsg_worker *w0 = &workers[0];
    w0->id = (struct wsg_worker_id){.base = base, .index = 0, .count = cfg->workers};
    w0->cfg = cfg;
    w0->eps = wsg_endpoints_create(cfg, &w0->id, NULL, 0, err, sizeof(err));
    int status;
    if (w0->eps == NULL) {
        fprintf(stderr, "wsgated: %s\n", err);
        status = 1;
    } else if (test_only) {
        printf("wsgated: the configuration file %s syntax is ok\n"
               "wsgated: configuration file %s test is successful\n", cfg->file, cfg->file);
        status = 0;
    } else {
        d = (struct daemon){.path = path, .debug = debug, .workers = workers,
                            .nworkers = cfg->workers};
        status = run(&d);
    }
    struct wsg_admission *admission = w0->admission;
    wsg_worker_release(w0);
    wsg_admission_free(admission);    /* after every front end that used it */
    free(workers);
    event_base_free(base);
    libevent_global_shutdown();
    return status;
}
