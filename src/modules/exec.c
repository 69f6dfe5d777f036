/*
 * exec.c - the exec module: a process per WebSocket connection, its stdin
 * and stdout wired to the connection (what websocketd does).
 *
 * Options (the endpoint's `options` group; anything else is refused):
 *   command = [ "/usr/bin/app", "--flag" ]   argv; a name without "/" is
 *             looked up in PATH when the configuration loads (required)
 *   mode = "lines"          a message per stdout line (text if UTF-8, else
 *                           binary), a client message is written with "\n";
 *          "binary"         each read of stdout is a binary message; client
 *                           messages are written as they are
 *   working_directory = "/srv/app"
 *   user = "nobody"         run as this user (and its groups); only while
 *                           wsgated runs as root, else the process is refused
 *   max_processes = 0       processes alive at once (0: no limit); one more
 *                           connection is closed 1013 at once; with
 *                           workers = N, each worker's own count
 *   stderr = "log"          "log": each line to wsgated's log; "null"
 *   kill_grace = 5          seconds between SIGTERM and SIGKILL
 *   max_line = "64K"        lines: a longer stdout line closes 1009
 *   backend_buffer = "1M"   bytes waiting for the process's stdin before
 *                           the client is paused
 *   env = [ "NAME=value" ]  added to the environment
 *
 * Environment (CGI-like): PATH (wsgated's, or a default), REMOTE_ADDR,
 * REMOTE_PORT, REQUEST_METHOD=GET, REQUEST_URI, SCRIPT_NAME (the
 * endpoint's path), PATH_INFO (the request path below it, raw),
 * QUERY_STRING, SERVER_PROTOCOL=HTTP/1.1, SERVER_SOFTWARE=wsgate, HTTPS=on
 * over TLS, WEBSOCKET_PROTOCOL (the subprotocol, if any), HTTP_* for every
 * request header (HTTP_USER_AGENT; repeated headers joined with ", ").
 *
 * Life: the child gets its own process group, default signal handlers, an
 * empty signal mask, only fds 0-2 (everything of ours is O_CLOEXEC, and the
 * child closes the rest anyway).  Its exit is seen through a pidfd on the
 * event loop (SIGCHLD through an evsignal where pidfds do not exist) and it
 * is reaped with waitpid() at once, so no zombies.  Exit with everything it
 * wrote delivered → close 1000, or 1011 for a non-zero status or a signal.
 * The client going away → stdin closed, SIGTERM to the process group, and
 * SIGKILL kill_grace seconds later if it is still there.
 */
#define _GNU_SOURCE            /* pipe2, O_CLOEXEC everywhere */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "wsgate/module.h"

#include "relay.h"

#define EX_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define EX_STDERR_LINE 1024        /* longer stderr lines are logged in pieces */

struct ex_options {
    char **command;                /* NULL-terminated; [0] made absolute */
    size_t ncommand;
    char *working_directory;
    char *user;
    uid_t uid;
    gid_t gid;
    unsigned max_processes;
    bool stderr_log;
    uint32_t kill_grace_ms;
    size_t max_line;
    struct relay_limits lim;
    char **env;
    size_t nenv;
};

struct ex_proc;
LIST_HEAD(ex_proc_list, ex_proc);

struct ex_state {
    struct ex_options opt;
    struct event_base *base;
    char *endpoint;
    unsigned nprocs;               /* alive, including those being killed */
    struct ex_proc_list procs;
    struct event *sigchld;         /* without pidfds only */
};

struct ex_proc {
    LIST_ENTRY(ex_proc) link;
    struct ex_state *st;
    struct wsg_conn *c;            /* NULL once the client has gone */
    pid_t pid;
    int pidfd;                     /* -1: reaped through SIGCHLD */
    struct event *exit_ev;
    struct event *kill_timer;
    struct bufferevent *out;       /* its stdout: read */
    struct bufferevent *in;        /* its stdin: written */
    struct bufferevent *err;       /* its stderr: logged; NULL with stderr = "null" */
    struct relay relay;
    bool exited;
    int status;
    bool closing;                  /* we asked the client to close */
};

/* ---- options ------------------------------------------------------------ */

static const struct relay_name ex_modes[] = {
    { "lines", RELAY_LINES }, { "binary", RELAY_RAW }, { NULL, 0 },
};

static const struct relay_name ex_stderrs[] = {
    { "log", 1 }, { "null", 0 }, { NULL, 0 },
};

static const char *const ex_option_names[] = {
    "command", "mode", "working_directory", "user", "max_processes", "stderr",
    "kill_grace", "max_line", "backend_buffer", "env", NULL,
};

/* A command without "/" is found in PATH now, not per connection. */
static int
ex_resolve_command(struct ex_options *o, char *err, size_t errlen)
{
    char *cmd = o->command[0];
    if (strchr(cmd, '/') != NULL) {
        if (access(cmd, X_OK) != 0) {
            snprintf(err, errlen, "command \"%s\" is not executable: %s", cmd,
                     strerror(errno));
            return -1;
        }
        return 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = EX_DEFAULT_PATH;
    while (*path != '\0') {
        size_t len = strcspn(path, ":");
        char full[4096];
        snprintf(full, sizeof(full), "%.*s/%s", (int)len, len ? path : ".", cmd);
        struct stat sb;
        if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode) && access(full, X_OK) == 0) {
            char *copy = strdup(full);
            if (copy == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            free(o->command[0]);
            o->command[0] = copy;
            return 0;
        }
        path += len + (path[len] == ':');
    }
    snprintf(err, errlen, "command \"%s\" not found in PATH", cmd);
    return -1;
}

static int
ex_set_option(struct ex_options *o, const config_setting_t *s, char *err, size_t errlen)
{
    const char *name = config_setting_name(s);
    int v;
    if (name == NULL)
        name = "?";
    if (strcmp(name, "command") == 0)
        return relay_opt_strings(s, &o->command, &o->ncommand, err, errlen);
    if (strcmp(name, "mode") == 0) {
        if (relay_opt_enum(s, ex_modes, &v, err, errlen) != 0)
            return -1;
        o->lim.framing = (enum relay_framing)v;
        return 0;
    }
    if (strcmp(name, "working_directory") == 0) {
        if (relay_opt_string(s, &o->working_directory, err, errlen) != 0)
            return -1;
        struct stat sb;
        if (stat(o->working_directory, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            snprintf(err, errlen, "working_directory \"%s\" is not a directory",
                     o->working_directory);
            return -1;
        }
        return 0;
    }
    if (strcmp(name, "user") == 0) {
        if (relay_opt_string(s, &o->user, err, errlen) != 0)
            return -1;
        struct passwd *pw = getpwnam(o->user);
        if (pw == NULL) {
            snprintf(err, errlen, "user \"%s\" does not exist", o->user);
            return -1;
        }
        o->uid = pw->pw_uid;
        o->gid = pw->pw_gid;
        return 0;
    }
    if (strcmp(name, "max_processes") == 0)
        return relay_opt_uint(s, &o->max_processes, err, errlen);
    if (strcmp(name, "stderr") == 0) {
        if (relay_opt_enum(s, ex_stderrs, &v, err, errlen) != 0)
            return -1;
        o->stderr_log = v != 0;
        return 0;
    }
    if (strcmp(name, "kill_grace") == 0)
        return relay_opt_seconds(s, &o->kill_grace_ms, err, errlen);
    if (strcmp(name, "max_line") == 0)
        return relay_opt_size(s, &o->max_line, err, errlen);
    if (strcmp(name, "backend_buffer") == 0)
        return relay_opt_size(s, &o->lim.high_watermark, err, errlen);
    if (strcmp(name, "env") == 0) {
        if (relay_opt_strings(s, &o->env, &o->nenv, err, errlen) != 0)
            return -1;
        for (size_t i = 0; i < o->nenv; i++) {
            const char *eq = strchr(o->env[i], '=');
            if (eq == NULL || eq == o->env[i]) {
                snprintf(err, errlen, "env entry \"%s\" must be NAME=value", o->env[i]);
                return -1;
            }
        }
        return 0;
    }
    relay_unknown_option(name, ex_option_names, err, errlen);
    return -1;
}

static void
ex_options_free(struct ex_options *o)
{
    relay_free_strings(o->command);
    relay_free_strings(o->env);
    free(o->working_directory);
    free(o->user);
}

static int
ex_parse_options(struct ex_options *o, const config_setting_t *opts, char *err,
                 size_t errlen)
{
    o->lim.framing = RELAY_LINES;
    o->lim.high_watermark = 1 << 20;
    o->max_line = 64 << 10;
    o->stderr_log = true;
    o->kill_grace_ms = 5000;
    for (int i = 0; opts != NULL && i < config_setting_length(opts); i++) {
        if (ex_set_option(o, config_setting_get_elem(opts, (unsigned)i), err, errlen) != 0)
            return -1;
    }
    if (o->ncommand == 0) {
        snprintf(err, errlen, "command is required: command = [ \"/usr/bin/app\", \"arg\" ];");
        return -1;
    }
    o->lim.max_message = o->lim.framing == RELAY_LINES ? o->max_line : (size_t)1 << 20;
    return ex_resolve_command(o, err, errlen);
}

/* ---- reaping ------------------------------------------------------------ */

static void ex_proc_free(struct ex_proc *p);
static void ex_finish(struct ex_proc *p);

static int
ex_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);   /* Linux 5.3+; O_CLOEXEC always */
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* The process has ended (or may have): reap it if so. */
static void
ex_reap(struct ex_proc *p)
{
    if (p->exited)
        return;
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == 0)
        return;
    p->exited = true;
    p->status = r == p->pid ? status : 0;   /* ECHILD: someone set SIGCHLD to SIG_IGN */
    p->st->nprocs--;
    if (p->exit_ev != NULL) {
        event_free(p->exit_ev);
        p->exit_ev = NULL;
    }
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    if (p->kill_timer != NULL) {
        event_free(p->kill_timer);
        p->kill_timer = NULL;
    }
    if (p->c == NULL) {
        ex_proc_free(p);
        return;
    }
    ex_finish(p);
}

static void
ex_pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    ex_reap(arg);
}

static void
ex_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct ex_state *st = arg;
    (void)sig, (void)what;
    struct ex_proc *p = LIST_FIRST(&st->procs), *next;
    for (; p != NULL; p = next) {
        next = LIST_NEXT(p, link);
        ex_reap(p);          /* may free p */
    }
}

/* ---- module life -------------------------------------------------------- */

static int
ex_init(const struct wsg_module_ctx *ctx, const config_setting_t *opts, void **state,
        char *err, size_t errlen)
{
    struct ex_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ex_parse_options(&st->opt, opts, err, errlen) != 0
        || (st->endpoint = strdup(ctx->endpoint)) == NULL) {
        if (err[0] == '\0')
            snprintf(err, errlen, "out of memory");
        ex_options_free(&st->opt);
        free(st);
        return -1;
    }
    st->base = ctx->base;
    LIST_INIT(&st->procs);
    *state = st;
    return 0;
}

/* Unloading (stop, or a reload made this instance unused): nothing may
 * outlive it, so what is still running is killed and reaped now. */
static void
ex_fini(void *state)
{
    struct ex_state *st = state;
    while (!LIST_EMPTY(&st->procs)) {
        struct ex_proc *p = LIST_FIRST(&st->procs);
        if (!p->exited) {
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            p->exited = true;
            st->nprocs--;
        }
        ex_proc_free(p);
    }
    if (st->sigchld != NULL)
        event_free(st->sigchld);
    ex_options_free(&st->opt);
    free(st->endpoint);
    free(st);
}

/* ---- the environment ------------------------------------------------------ */

struct ex_env {
    char **v;
    size_t n, cap;
};

static int
env_add(struct ex_env *e, const char *name, const char *value)
{
    if (e->n + 2 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 32;
        char **v = realloc(e->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        e->v = v;
        e->cap = cap;
    }
    size_t len = strlen(name) + strlen(value) + 2;
    char *s = malloc(len);
    if (s == NULL)
        return -1;
    snprintf(s, len, "%s=%s", name, value);
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

/* A repeated header joins the first's value: "a, b". */
static int
env_add_header(struct ex_env *e, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], name, nlen) == 0 && e->v[i][nlen] == '=') {
            size_t len = strlen(e->v[i]) + strlen(value) + 3;
            char *s = malloc(len);
            if (s == NULL)
                return -1;
            snprintf(s, len, "%s, %s", e->v[i], value);
            free(e->v[i]);
            e->v[i] = s;
            return 0;
        }
    }
    return env_add(e, name, value);
}

static void
env_free(struct ex_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
}

static int
ex_build_env(const struct ex_state *st, struct wsg_conn *c, struct ex_env *e)
{
    const char *path = getenv("PATH");
    char addr[64], port[16];
    relay_split_peer(wsg_conn_peer(c), addr, sizeof(addr), port, sizeof(port));
    const char *target = wsg_conn_target(c);
    const char *q = strchr(target, '?');
    size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
    size_t elen = strlen(st->endpoint);
    char *info = NULL;
    if (plen >= elen && strncmp(target, st->endpoint, elen) == 0)
        info = strndup(target + elen, plen - elen);
    else
        info = strdup("");
    int rc = info == NULL
        || env_add(e, "PATH", path != NULL ? path : EX_DEFAULT_PATH)
        || env_add(e, "REMOTE_ADDR", addr) || env_add(e, "REMOTE_PORT", port)
        || env_add(e, "REQUEST_METHOD", "GET") || env_add(e, "REQUEST_URI", target)
        || env_add(e, "SCRIPT_NAME", st->endpoint) || env_add(e, "PATH_INFO", info)
        || env_add(e, "QUERY_STRING", q != NULL ? q + 1 : "")
        || env_add(e, "SERVER_PROTOCOL", "HTTP/1.1")
        || env_add(e, "SERVER_SOFTWARE", "wsgate")
        || (wsg_conn_secure(c) && env_add(e, "HTTPS", "on"))
        || (wsg_conn_subprotocol(c) != NULL
            && env_add(e, "WEBSOCKET_PROTOCOL", wsg_conn_subprotocol(c)));
    free(info);
    if (rc != 0)
        return -1;
    const char *value, *name;
    for (size_t i = 0; (name = wsg_conn_header_at(c, i, &value)) != NULL; i++) {
        char var[128] = "HTTP_";
        size_t k = 5;
        for (const char *s = name; *s != '\0' && k < sizeof(var) - 1; s++) {
            char ch = *s;
            var[k++] = ch >= 'a' && ch <= 'z' ? (char)(ch - 32)
                       : (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ? ch : '_';
        }
        var[k] = '\0';
        if (env_add_header(e, var, value) != 0)
            return -1;
    }
    for (size_t i = 0; i < st->opt.nenv; i++) {
        char *eq = strchr(st->opt.env[i], '=');
        char var[256];
        snprintf(var, sizeof(var), "%.*s", (int)(eq - st->opt.env[i]), st->opt.env[i]);
        if (env_add(e, var, eq + 1) != 0)
            return -1;
    }
    return 0;
}

/* ---- spawning --------------------------------------------------------------- */

static void
ex_close_fds_from(int lowest)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0) == 0)
        return;
#endif
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        for (int fd = lowest; fd < 65536; fd++)
            close(fd);
        return;
    }
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);
        if (fd >= lowest && fd != dfd)
            close(fd);
    }
    closedir(d);
}

/* In the child: never returns. */
static void
ex_child(const struct ex_options *o, int in, int out, int err, char **envp)
{
    /* Signals are blocked (ex_spawn): libevent's handlers, inherited,
     * would write a SIGTERM meant for us into the daemon's signal pipe. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);          /* SIGPIPE above all: wsgated ignores it */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(126);
    ex_close_fds_from(3);
    setpgid(0, 0);
    if (o->working_directory != NULL && chdir(o->working_directory) != 0) {
        dprintf(2, "cannot enter %s: %s\n", o->working_directory, strerror(errno));
        _exit(126);
    }
    if (o->user != NULL) {
        if (geteuid() != 0 && geteuid() != o->uid) {
            dprintf(2, "cannot run as %s: wsgated is not running as root\n", o->user);
            _exit(126);
        }
        if (geteuid() == 0 && (initgroups(o->user, o->gid) != 0 || setgid(o->gid) != 0
                               || setuid(o->uid) != 0)) {
            dprintf(2, "cannot run as %s: %s\n", o->user, strerror(errno));
            _exit(126);
        }
    }
    execve(o->command[0], o->command, envp);
    dprintf(2, "cannot execute %s: %s\n", o->command[0], strerror(errno));
    _exit(127);
}

static int
ex_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

static void
ex_close_pair(int fds[2])
{
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
}

/* ---- the process's pipes ------------------------------------------------- */

static void
ex_out_read(struct bufferevent *bev, void *arg)
{
    struct ex_proc *p = arg;
    (void)bev;
    relay_from_backend(&p->relay);
}

static void
ex_stdout_eof(struct ex_proc *p)
{
    if (relay_backend_eof(&p->relay) && p->exited)
        ex_finish(p);
}

static void
ex_out_event(struct bufferevent *bev, short what, void *arg)
{
    struct ex_proc *p = arg;
    (void)what;
    bufferevent_disable(bev, EV_READ);
    ex_stdout_eof(p);
}

static void
ex_in_written(struct bufferevent *bev, void *arg)
{
    struct ex_proc *p = arg;
    (void)bev;
    relay_backend_drained(&p->relay);
}

/* Its stdin is closed (it exited, or does not read): drop client data. */
static void
ex_in_event(struct bufferevent *bev, short what, void *arg)
{
    struct ex_proc *p = arg;
    (void)what;
    relay_discard_client(&p->relay);
    bufferevent_free(bev);
    p->in = NULL;
}

static void
ex_err_read(struct bufferevent *bev, void *arg)
{
    struct ex_proc *p = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
        wsg_log(LOG_INFO, "%s: %s[%ld]: %s", p->st->endpoint, p->st->opt.command[0],
                (long)p->pid, line);
        free(line);
    }
    if (evbuffer_get_length(in) > EX_STDERR_LINE) {
        char buf[EX_STDERR_LINE + 1];
        size_t n = evbuffer_remove(in, buf, EX_STDERR_LINE);
        buf[n] = '\0';
        wsg_log(LOG_INFO, "%s: %s[%ld]: %s", p->st->endpoint, p->st->opt.command[0],
                (long)p->pid, buf);
    }
}

static void
ex_err_event(struct bufferevent *bev, short what, void *arg)
{
    struct ex_proc *p = arg;
    (void)what;
    bufferevent_free(bev);
    p->err = NULL;
}

static struct bufferevent *
ex_bev(struct ex_proc *p, int fd, bufferevent_data_cb rd, bufferevent_data_cb wr,
       bufferevent_event_cb ev)
{
    evutil_make_socket_nonblocking(fd);
    struct bufferevent *b = bufferevent_socket_new(p->st->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (b == NULL) {
        close(fd);
        return NULL;
    }
    bufferevent_setcb(b, rd, wr, ev, p);
    return b;
}

/* ---- processes ---------------------------------------------------------- */

static void
ex_proc_free(struct ex_proc *p)
{
    LIST_REMOVE(p, link);
    if (p->exit_ev != NULL)
        event_free(p->exit_ev);
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->kill_timer != NULL)
        event_free(p->kill_timer);
    if (p->out != NULL)
        bufferevent_free(p->out);
    if (p->in != NULL)
        bufferevent_free(p->in);
    if (p->err != NULL)
        bufferevent_free(p->err);
    free(p);
}

/* Exited and stdout fully delivered: close the WebSocket. */
static void
ex_finish(struct ex_proc *p)
{
    if (p->closing || p->c == NULL || !p->relay.eof || p->relay.rd_paused)
        return;
    p->closing = true;
    char reason[100];
    uint16_t code = RELAY_CLOSE_NORMAL;
    if (WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0) {
        snprintf(reason, sizeof(reason), "process exited");
    } else {
        code = RELAY_CLOSE_INTERNAL;
        if (WIFSIGNALED(p->status))
            snprintf(reason, sizeof(reason), "process killed by signal %d",
                     WTERMSIG(p->status));
        else
            snprintf(reason, sizeof(reason), "process exited with status %d",
                     WEXITSTATUS(p->status));
        wsg_log(LOG_INFO, "%s: %s[%ld]: %s", wsg_conn_peer(p->c), p->st->opt.command[0],
                (long)p->pid, reason);
    }
    wsg_conn_close(p->c, code, reason);
}

static int
ex_watch_exit(struct ex_proc *p)
{
    p->pidfd = ex_pidfd_open(p->pid);
    if (p->pidfd >= 0) {
        p->exit_ev = event_new(p->st->base, p->pidfd, EV_READ, ex_pidfd_cb, p);
        return p->exit_ev != NULL && event_add(p->exit_ev, NULL) == 0 ? 0 : -1;
    }
    struct ex_state *st = p->st;
    if (st->sigchld == NULL) {
        st->sigchld = evsignal_new(st->base, SIGCHLD, ex_sigchld_cb, st);
        if (st->sigchld == NULL || evsignal_add(st->sigchld, NULL) != 0)
            return -1;
    }
    ex_reap(p);   /* it may have gone before the signal was watched */
    return 0;
}

static int
ex_spawn(struct ex_proc *p)
{
    const struct ex_options *o = &p->st->opt;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    struct ex_env env = { 0 };
    if (ex_build_env(p->st, p->c, &env) != 0 || ex_pipe(in) != 0 || ex_pipe(out) != 0)
        goto fail;
    if (o->stderr_log) {
        if (ex_pipe(err) != 0)
            goto fail;
    } else if ((err[1] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
        goto fail;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        ex_child(o, in[0], out[1], err[1], env.v);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        goto fail;
    setpgid(pid, pid);     /* both sides, whichever runs first */
    p->pid = pid;
    p->st->nprocs++;
    env_free(&env);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in = ex_bev(p, in[1], NULL, ex_in_written, ex_in_event);
    p->out = ex_bev(p, out[0], ex_out_read, NULL, ex_out_event);
    if (err[0] >= 0)
        p->err = ex_bev(p, err[0], ex_err_read, NULL, ex_err_event);
    if (p->in == NULL || p->out == NULL || (err[0] >= 0 && p->err == NULL)
        || ex_watch_exit(p) != 0)
        return -1;         /* the caller kills it */
    bufferevent_setwatermark(p->in, EV_WRITE, o->lim.high_watermark / 2, 0);
    bufferevent_enable(p->in, EV_WRITE);
    bufferevent_enable(p->out, EV_READ);
    if (p->err != NULL)
        bufferevent_enable(p->err, EV_READ);
    relay_init(&p->relay, p->c, p->out, p->in, &o->lim);
    return 0;
fail:
    wsg_log(LOG_ERR, "%s: cannot start %s: %s", wsg_conn_peer(p->c), o->command[0],
            strerror(errno));
    env_free(&env);
    ex_close_pair(in);
    ex_close_pair(out);
    ex_close_pair(err);
    return -1;
}

static void
ex_kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ex_proc *p = arg;
    (void)fd, (void)what;
    wsg_log(LOG_INFO, "%s: %s[%ld] still running %u ms after SIGTERM: SIGKILL",
            p->st->endpoint, p->st->opt.command[0], (long)p->pid, p->st->opt.kill_grace_ms);
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);
}

/* The client is gone: stdin closed, SIGTERM now, SIGKILL after kill_grace. */
static void
ex_terminate(struct ex_proc *p)
{
    p->c = NULL;
    p->relay.conn = NULL;
    if (p->in != NULL) {
        bufferevent_free(p->in);
        p->in = NULL;
    }
    if (p->out != NULL) {
        bufferevent_free(p->out);
        p->out = NULL;
        p->relay.rd = NULL;
    }
    if (p->exited) {
        ex_proc_free(p);
        return;
    }
    kill(-p->pid, SIGTERM);
    kill(p->pid, SIGTERM);
    struct timeval tv = { .tv_sec = p->st->opt.kill_grace_ms / 1000,
                          .tv_usec = (p->st->opt.kill_grace_ms % 1000) * 1000 };
    p->kill_timer = evtimer_new(p->st->base, ex_kill_cb, p);
    if (p->kill_timer == NULL || evtimer_add(p->kill_timer, &tv) != 0)
        ex_kill_cb(-1, 0, p);
}

static int
ex_open(struct wsg_conn *c, void *state)
{
    struct ex_state *st = state;
    if (st->opt.max_processes > 0 && st->nprocs >= st->opt.max_processes) {
        wsg_log(LOG_INFO, "%s: max_processes (%u) reached", wsg_conn_peer(c),
                st->opt.max_processes);
        wsg_conn_close(c, RELAY_CLOSE_TRY_AGAIN, "too many processes");
        return RELAY_CLOSE_TRY_AGAIN;
    }
    struct ex_proc *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return RELAY_CLOSE_TRY_AGAIN;
    p->st = st;
    p->c = c;
    p->pidfd = -1;
    LIST_INSERT_HEAD(&st->procs, p, link);
    if (ex_spawn(p) != 0) {
        if (p->pid > 0)
            ex_terminate(p);
        else
            ex_proc_free(p);
        wsg_conn_close(c, RELAY_CLOSE_INTERNAL, "cannot start the process");
        return RELAY_CLOSE_INTERNAL;
    }
    wsg_log(LOG_DEBUG, "%s: started %s[%ld]", wsg_conn_peer(c), st->opt.command[0],
            (long)p->pid);
    wsg_conn_set_data(c, p);
    return 0;
}

static void
ex_message(struct wsg_conn *c, const struct wsg_message *m, void *state)
{
    struct ex_proc *p = wsg_conn_get_data(c);
    (void)state;
    if (relay_from_client(&p->relay, m) != 0)
        wsg_conn_close(c, RELAY_CLOSE_INTERNAL, "out of memory");
}

static void
ex_drain(struct wsg_conn *c, void *state)
{
    struct ex_proc *p = wsg_conn_get_data(c);
    (void)state;
    relay_client_drained(&p->relay);
    if (p->relay.eof && !p->relay.rd_paused)
        ex_stdout_eof(p);
}

static void
ex_close(struct wsg_conn *c, uint16_t code, void *state)
{
    struct ex_proc *p = wsg_conn_get_data(c);
    (void)code, (void)state;
    ex_terminate(p);
}

const struct wsg_module wsg_module = {
    .abi = WSG_MODULE_ABI,
    .name = "exec",
    .init = ex_init,
    .fini = ex_fini,
    .on_open = ex_open,
    .on_message = ex_message,
    .on_drain = ex_drain,
    .on_close = ex_close,
};
