/*
 * main.c - wsgated: command line, configuration, event loop, signals.
 */
#include <errno.h>
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
#include "log.h"
#include "module.h"
#include "server.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: wsgated [-t] [-d] [-c FILE]\n"
            "  -c FILE  configuration file (default %s;\n"
            "           without it, the embedded default: ws://127.0.0.1:8080/echo)\n"
            "  -t       check the configuration and its modules, then exit\n"
            "  -d       log at debug level\n"
            "  -v       print the version and exit\n",
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

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_notice("received %s", strsignal((int)sig));
    wsg_server_stop(arg);
}

static int
run(struct wsg_config *cfg, struct event_base *base, struct wsg_endpoint **eps)
{
    raise_fd_limit(cfg);
    char err[1024];
    struct wsg_server *srv = wsg_server_new(base, cfg, eps, err, sizeof(err));
    if (srv == NULL) {
        log_err("%s", err);
        return 1;
    }
    struct event *sigterm = evsignal_new(base, SIGTERM, on_stop_signal, srv);
    struct event *sigint = evsignal_new(base, SIGINT, on_stop_signal, srv);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) != 0
        || evsignal_add(sigint, NULL) != 0)
        fatal("cannot install signal handlers");

    log_notice("wsgated %s started, configuration %s", PACKAGE_VERSION, cfg->file);
    event_base_dispatch(base);

    wsg_server_free(srv);
    event_free(sigterm);
    event_free(sigint);
    log_notice("stopped");
    return 0;
}

int
main(int argc, char **argv)
{
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

    char err[1024];
    struct wsg_config *cfg = load_config(path, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "wsgated: %s\n", err);
        return 1;
    }
    log_init(debug ? LOG_DEBUG : cfg->log_level,
             !test_only && cfg->log_target == WSG_LOG_SYSLOG);

    struct event_base *base = event_base_new();
    if (base == NULL)
        fatal("cannot create the event loop");
    struct wsg_endpoint **eps = wsg_endpoints_create(cfg, base, err, sizeof(err));
    int status;
    if (eps == NULL) {
        fprintf(stderr, "wsgated: %s\n", err);
        status = 1;
    } else if (test_only) {
        printf("wsgated: the configuration file %s syntax is ok\n"
               "wsgated: configuration file %s test is successful\n", cfg->file, cfg->file);
        status = 0;
    } else {
        status = run(cfg, base, eps);
    }
    wsg_endpoints_release(eps, cfg->nendpoints);
    wsg_cfg_free(cfg);
    event_base_free(base);
    libevent_global_shutdown();
    return status;
}
