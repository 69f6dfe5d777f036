/*
 * metrics.c - the Prometheus exposition (text format 0.0.4) of wsgated's
 * counters, on its own evhttp listener.
 *
 * Three sources, rendered in this order on each scrape:
 *   1. per-endpoint counters (struct wsg_ep_stats, one per path);
 *   2. metrics registered through the module API (wsg_metric_register):
 *      modules' own figures and the daemon's (the address table's size),
 *      read through their callbacks;
 *   3. process figures, read from /proc at scrape time.
 * Nothing here runs per message: the hot path only adds to the structs.
 *
 * With workers = N each worker counts in its own struct wsg_metrics; a
 * scrape (served by worker 0) sums every worker's counters.  It reads them
 * while their workers run, without a lock on the hot path: aligned 64-bit
 * loads do not tear, and a scrape a few increments behind is still true.
 * What does change shape (the lists of endpoints and of registered
 * metrics) changes under metrics_lock, which a scrape holds.
 */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "wsgate/module.h"

struct wsg_metrics {
    struct wsg_metrics *next;           /* in all_metrics */
    struct event_base *base;
    struct wsg_ep_stats *eps;
    struct evhttp *http;                /* NULL: not serving */
    char *address;
    unsigned port;
    double start_time;                  /* Unix time, seconds */
    uint64_t reloads_ok, reloads_failed;
};

/* ---- registered metrics (module API) ----------------------------------- */

struct wsg_metric {
    struct wsg_metric *next;
    enum wsg_metric_type type;
    double (*read)(void *arg);
    void *arg;
    const void *owner;                  /* the module instance that registered it */
    char *name, *help, *endpoint;       /* endpoint NULL: no label */
};

/* Every worker's counters, and the registered metrics: process-wide like
 * the loaded modules (module.c), since a module registers from init() with
 * no handle on the daemon. */
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wsg_metrics *all_metrics;
static struct wsg_metric *registered;
static _Thread_local const void *current_owner;

static void metric_unlink(struct wsg_metric *m);

void
wsg_metrics_owner(const void *owner)
{
    current_owner = owner;
}

void
wsg_metrics_drop_owner(const void *owner)
{
    pthread_mutex_lock(&metrics_lock);
    struct wsg_metric *m = registered;
    while (m != NULL) {
        struct wsg_metric *next = m->next;
        if (m->owner == owner)
            metric_unlink(m);
        m = next;
    }
    pthread_mutex_unlock(&metrics_lock);
}

static bool
valid_metric_name(const char *s)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
            return false;
    }
    return true;
}

static void
metric_free(struct wsg_metric *m)
{
    free(m->name);
    free(m->help);
    free(m->endpoint);
    free(m);
}

struct wsg_metric *
wsg_metric_register(const char *name, const char *help, enum wsg_metric_type type,
                    const char *endpoint, double (*read)(void *arg), void *arg)
{
    if (!valid_metric_name(name) || read == NULL
        || (type != WSG_METRIC_COUNTER && type != WSG_METRIC_GAUGE)) {
        log_warn("metric \"%s\" not registered: bad name, type or callback",
                 name != NULL ? name : "(null)");
        return NULL;
    }
    struct wsg_metric *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->name = strdup(name);
    m->help = strdup(help != NULL ? help : name);
    m->endpoint = endpoint != NULL ? strdup(endpoint) : NULL;
    if (m->name == NULL || m->help == NULL || (endpoint != NULL && m->endpoint == NULL)) {
        metric_free(m);
        return NULL;
    }
    m->type = type;
    m->read = read;
    m->arg = arg;
    m->owner = current_owner;
    pthread_mutex_lock(&metrics_lock);
    m->next = registered;
    registered = m;
    pthread_mutex_unlock(&metrics_lock);
    return m;
}

static void
metric_unlink(struct wsg_metric *m)
{
    for (struct wsg_metric **p = &registered; *p != NULL; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    metric_free(m);
}

void
wsg_metric_unregister(struct wsg_metric *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&metrics_lock);
    metric_unlink(m);
    pthread_mutex_unlock(&metrics_lock);
}

/* ---- counting ---------------------------------------------------------- */

static const char *const reject_names[WSG_REJECT_N] = {
    [WSG_REJECT_BAD_REQUEST] = "bad_request",
    [WSG_REJECT_VERSION] = "version",
    [WSG_REJECT_NOT_WEBSOCKET] = "not_websocket",
    [WSG_REJECT_METHOD] = "method",
    [WSG_REJECT_TOO_LARGE] = "too_large",
    [WSG_REJECT_ORIGIN] = "origin",
    [WSG_REJECT_SUBPROTOCOL] = "subprotocol",
    [WSG_REJECT_LIMIT] = "limit",
    [WSG_REJECT_RATE] = "rate",
    [WSG_REJECT_INTERNAL] = "internal",
};

const char *
wsg_reject_name(enum wsg_reject r)
{
    return r < WSG_REJECT_N ? reject_names[r] : "unknown";
}

/* Upper bounds in microseconds; the exposition says seconds. */
static const uint64_t hs_bounds_us[WSG_METRICS_HS_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};

void
wsg_stats_handshake(struct wsg_ep_stats *st, uint64_t us)
{
    size_t i = 0;
    while (i < WSG_METRICS_HS_BUCKETS && us > hs_bounds_us[i])
        i++;
    if (i < WSG_METRICS_HS_BUCKETS)
        WSG_STAT_ADD(st->hs_buckets[i], 1);
    WSG_STAT_ADD(st->hs_count, 1);
    WSG_STAT_ADD(st->hs_sum_us, us);
}

void
wsg_stats_closed(struct wsg_ep_stats *st, uint16_t code, enum wsg_closer by)
{
    size_t i = code >= 1000 && code <= 1015 ? (size_t)(code - 1000)
                                            : WSG_METRICS_CLOSE_CODES - 1;
    WSG_STAT_ADD(st->closes[by][i], 1);
}

struct wsg_ep_stats *
wsg_metrics_endpoint(struct wsg_metrics *m, const char *path)
{
    for (struct wsg_ep_stats *st = m->eps; st != NULL; st = st->next) {
        if (strcmp(st->path, path) == 0)
            return st;
    }
    size_t len = strlen(path) + 1;
    struct wsg_ep_stats *st = calloc(1, sizeof(*st) + len);
    if (st == NULL)
        return NULL;
    memcpy(st->path, path, len);
    /* Appended: the exposition lists endpoints in configuration order. */
    pthread_mutex_lock(&metrics_lock);
    struct wsg_ep_stats **tail = &m->eps;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = st;
    pthread_mutex_unlock(&metrics_lock);
    return st;
}

void
wsg_metrics_reloaded(struct wsg_metrics *m, bool ok)
{
    if (ok)
        m->reloads_ok++;
    else
        m->reloads_failed++;
}

/* ---- rendering --------------------------------------------------------- */

static void
family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s ", name);
    for (const char *c = help; *c != '\0'; c++) {
        if (*c == '\\')
            evbuffer_add(b, "\\\\", 2);
        else if (*c == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, c, 1);
    }
    evbuffer_add_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{endpoint="path" (more labels)} : the caller closes the brace. */
static void
sample_start(struct evbuffer *b, const char *name, const char *endpoint)
{
    evbuffer_add_printf(b, "%s{endpoint=\"", name);
    for (const char *c = endpoint; *c != '\0'; c++) {
        if (*c == '\\' || *c == '"')
            evbuffer_add(b, "\\", 1);
        if (*c == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, c, 1);
    }
    evbuffer_add(b, "\"", 1);
}

struct ep_family {
    const char *name, *type, *help;
    size_t offset;
};

#define EP_FIELD(member) offsetof(struct wsg_ep_stats, member)

static const struct ep_family ep_families[] = {
    { "wsgate_connections_open", "gauge", "WebSocket connections open now",
      EP_FIELD(open) },
    { "wsgate_connections_asleep", "gauge",
      "Open connections quiet enough to hold no buffers (woken by their next byte)",
      EP_FIELD(asleep) },
    { "wsgate_connections_total", "counter", "WebSocket connections accepted (101 sent)",
      EP_FIELD(total) },
    { "wsgate_messages_received_total", "counter", "Data messages received from clients",
      EP_FIELD(msgs_in) },
    { "wsgate_messages_sent_total", "counter", "Data messages queued for clients",
      EP_FIELD(msgs_out) },
    { "wsgate_bytes_received_total", "counter",
      "Payload bytes of data messages received (after inflating)", EP_FIELD(bytes_in) },
    { "wsgate_bytes_sent_total", "counter",
      "Payload bytes of data messages sent (before compressing)", EP_FIELD(bytes_out) },
};

static uint64_t
ep_value(const struct wsg_ep_stats *st, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)st + offset, sizeof(v));
    return v;
}

/* A counter with action="close" and action="drop" per endpoint. */
static void
render_actions(struct wsg_metrics *m, struct evbuffer *b, const char *name,
               const char *help, size_t closed, size_t dropped)
{
    family(b, name, "counter", help);
    for (struct wsg_ep_stats *st = m->eps; st != NULL; st = st->next) {
        sample_start(b, name, st->path);
        evbuffer_add_printf(b, ",action=\"close\"} %llu\n",
                            (unsigned long long)ep_value(st, closed));
        sample_start(b, name, st->path);
        evbuffer_add_printf(b, ",action=\"drop\"} %llu\n",
                            (unsigned long long)ep_value(st, dropped));
    }
}

static void
render_labelled(struct wsg_metrics *m, struct evbuffer *b)
{
    struct wsg_ep_stats *st;
    family(b, "wsgate_handshakes_rejected_total", "counter",
           "WebSocket handshakes refused, by reason");
    for (st = m->eps; st != NULL; st = st->next) {
        for (size_t r = 0; r < WSG_REJECT_N; r++) {
            sample_start(b, "wsgate_handshakes_rejected_total", st->path);
            evbuffer_add_printf(b, ",reason=\"%s\"} %llu\n", reject_names[r],
                                (unsigned long long)st->rejected[r]);
        }
    }
    family(b, "wsgate_close_codes_total", "counter",
           "Connections ended, by close code and by who closed first "
           "(1006: the peer vanished; other: codes outside 1000-1015)");
    static const char *const by[2] = { "client", "server" };
    for (st = m->eps; st != NULL; st = st->next) {
        for (size_t w = 0; w < 2; w++) {
            for (size_t i = 0; i < WSG_METRICS_CLOSE_CODES; i++) {
                if (st->closes[w][i] == 0)
                    continue;
                sample_start(b, "wsgate_close_codes_total", st->path);
                if (i + 1 == WSG_METRICS_CLOSE_CODES)
                    evbuffer_add_printf(b, ",code=\"other\"");
                else
                    evbuffer_add_printf(b, ",code=\"%zu\"", 1000 + i);
                evbuffer_add_printf(b, ",by=\"%s\"} %llu\n", by[w],
                                    (unsigned long long)st->closes[w][i]);
            }
        }
    }
    render_actions(m, b, "wsgate_slow_consumers_dropped_total",
                   "Slow readers over output_high_watermark: closed (1008), or a message "
                   "dropped for them (slow_consumer = \"drop\")",
                   EP_FIELD(slow_closed), EP_FIELD(slow_dropped));
    render_actions(m, b, "wsgate_messages_rate_limited_total",
                   "Client messages over messages_per_second: connection closed (1008), "
                   "or the message dropped", EP_FIELD(rate_closed), EP_FIELD(rate_dropped));
}

static void
render_histogram(struct wsg_metrics *m, struct evbuffer *b)
{
    const char *name = "wsgate_handshake_duration_seconds";
    family(b, name, "histogram",
           "Time from accepting the TCP connection to sending the 101 (TLS included)");
    for (struct wsg_ep_stats *st = m->eps; st != NULL; st = st->next) {
        uint64_t cum = 0;
        for (size_t i = 0; i < WSG_METRICS_HS_BUCKETS; i++) {
            cum += st->hs_buckets[i];
            sample_start(b, "wsgate_handshake_duration_seconds_bucket", st->path);
            evbuffer_add_printf(b, ",le=\"%g\"} %llu\n", (double)hs_bounds_us[i] / 1e6,
                                (unsigned long long)cum);
        }
        sample_start(b, "wsgate_handshake_duration_seconds_bucket", st->path);
        evbuffer_add_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)st->hs_count);
        sample_start(b, "wsgate_handshake_duration_seconds_sum", st->path);
        evbuffer_add_printf(b, "} %.6f\n", (double)st->hs_sum_us / 1e6);
        sample_start(b, "wsgate_handshake_duration_seconds_count", st->path);
        evbuffer_add_printf(b, "} %llu\n", (unsigned long long)st->hs_count);
    }
}

/* Registered metrics, grouped by name (one HELP/TYPE each); two
 * registrations of the same name and endpoint (an endpoint's old and new
 * instance after a reload) are one series, summed. */
static void
render_registered(struct evbuffer *b)
{
    for (struct wsg_metric *m = registered; m != NULL; m = m->next) {
        bool seen = false;
        for (struct wsg_metric *p = registered; p != m && !seen; p = p->next)
            seen = strcmp(p->name, m->name) == 0;
        if (seen)
            continue;
        family(b, m->name, m->type == WSG_METRIC_COUNTER ? "counter" : "gauge", m->help);
        for (struct wsg_metric *s = m; s != NULL; s = s->next) {
            if (strcmp(s->name, m->name) != 0)
                continue;
            bool done = false;
            for (struct wsg_metric *p = m; p != s && !done; p = p->next)
                done = strcmp(p->name, s->name) == 0
                       && (p->endpoint == NULL) == (s->endpoint == NULL)
                       && (p->endpoint == NULL || strcmp(p->endpoint, s->endpoint) == 0);
            if (done)
                continue;
            double sum = 0;
            for (struct wsg_metric *t = s; t != NULL; t = t->next) {
                if (strcmp(t->name, s->name) == 0
                    && (t->endpoint == NULL) == (s->endpoint == NULL)
                    && (t->endpoint == NULL || strcmp(t->endpoint, s->endpoint) == 0))
                    sum += t->read(t->arg);
            }
            if (s->endpoint != NULL) {
                sample_start(b, s->name, s->endpoint);
                evbuffer_add_printf(b, "} %.17g\n", sum);
            } else {
                evbuffer_add_printf(b, "%s %.17g\n", s->name, sum);
            }
        }
    }
}

static long
count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static long
resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    long size, rss;
    int n = fscanf(f, "%ld %ld", &size, &rss);
    fclose(f);
    return n == 2 ? rss * sysconf(_SC_PAGESIZE) : -1;
}

static void
render_process(struct wsg_metrics *m, struct evbuffer *b)
{
    long rss = resident_bytes(), fds = count_open_fds();
    if (rss >= 0) {
        family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes");
        evbuffer_add_printf(b, "process_resident_memory_bytes %ld\n", rss);
    }
    if (fds >= 0) {
        family(b, "process_open_fds", "gauge", "Number of open file descriptors");
        evbuffer_add_printf(b, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors");
        evbuffer_add_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
                     + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        family(b, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds");
        evbuffer_add_printf(b, "process_cpu_seconds_total %.6f\n", cpu);
    }
    family(b, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds");
    evbuffer_add_printf(b, "process_start_time_seconds %.3f\n", m->start_time);
    family(b, "wsgate_config_reloads_total", "counter",
           "Configuration reloads (SIGHUP), by result");
    evbuffer_add_printf(b, "wsgate_config_reloads_total{result=\"ok\"} %llu\n",
                        (unsigned long long)m->reloads_ok);
    evbuffer_add_printf(b, "wsgate_config_reloads_total{result=\"failed\"} %llu\n",
                        (unsigned long long)m->reloads_failed);
}

static void render_all(struct wsg_metrics *m, struct evbuffer *b);

/* The counters, from open to hs_sum_us, are uint64_t one after another. */
#define EP_COUNTERS_FROM EP_FIELD(open)
#define EP_COUNTERS_END EP_FIELD(path)

static void
ep_add(struct wsg_ep_stats *sum, const struct wsg_ep_stats *st)
{
    for (size_t off = EP_COUNTERS_FROM; off + sizeof(uint64_t) <= EP_COUNTERS_END;
         off += sizeof(uint64_t)) {
        uint64_t a, v = __atomic_load_n((const uint64_t *)(const void *)
                                        ((const char *)st + off), __ATOMIC_RELAXED);
        memcpy(&a, (char *)sum + off, sizeof(a));
        a += v;
        memcpy((char *)sum + off, &a, sizeof(a));
    }
}

static void
ep_list_free(struct wsg_ep_stats *st)
{
    while (st != NULL) {
        struct wsg_ep_stats *next = st->next;
        free(st);
        st = next;
    }
}

/* Every worker's counters summed, per path, into total->eps (the caller
 * frees them with ep_list_free), and the reload counts.  -1 when out of
 * memory. */
static int
sum_workers(struct wsg_metrics *total)
{
    struct wsg_ep_stats **tail = &total->eps;
    for (struct wsg_metrics *w = all_metrics; w != NULL; w = w->next) {
        total->reloads_ok += w->reloads_ok;
        total->reloads_failed += w->reloads_failed;
        for (const struct wsg_ep_stats *st = w->eps; st != NULL; st = st->next) {
            struct wsg_ep_stats *sum = total->eps;
            while (sum != NULL && strcmp(sum->path, st->path) != 0)
                sum = sum->next;
            if (sum == NULL) {
                size_t len = strlen(st->path) + 1;
                if ((sum = calloc(1, sizeof(*sum) + len)) == NULL)
                    return -1;
                memcpy(sum->path, st->path, len);
                *tail = sum;
                tail = &sum->next;
            }
            ep_add(sum, st);
        }
    }
    return 0;
}

/* How evenly SO_REUSEPORT spread the connections: each worker's own. */
static void
render_workers(struct evbuffer *b)
{
    family(b, "wsgate_worker_connections_open", "gauge",
           "WebSocket connections open now on each worker (event loop)");
    unsigned i = 0;
    for (const struct wsg_metrics *w = all_metrics; w != NULL; w = w->next, i++) {
        uint64_t open = 0;
        for (const struct wsg_ep_stats *st = w->eps; st != NULL; st = st->next)
            open += __atomic_load_n(&st->open, __ATOMIC_RELAXED);
        evbuffer_add_printf(b, "wsgate_worker_connections_open{worker=\"%u\"} %llu\n", i,
                            (unsigned long long)open);
    }
}

int
wsg_metrics_render(struct wsg_metrics *self, struct evbuffer *b)
{
    struct wsg_metrics total = {.start_time = self->start_time};
    pthread_mutex_lock(&metrics_lock);
    int rc = sum_workers(&total);
    if (rc == 0) {
        render_all(&total, b);
        render_workers(b);
    }
    pthread_mutex_unlock(&metrics_lock);
    ep_list_free(total.eps);
    return rc;
}

static void
render_all(struct wsg_metrics *m, struct evbuffer *b)
{
    for (size_t f = 0; f < sizeof(ep_families) / sizeof(ep_families[0]); f++) {
        const struct ep_family *fam = &ep_families[f];
        family(b, fam->name, fam->type, fam->help);
        for (struct wsg_ep_stats *st = m->eps; st != NULL; st = st->next) {
            sample_start(b, fam->name, st->path);
            evbuffer_add_printf(b, "} %llu\n",
                                (unsigned long long)ep_value(st, fam->offset));
        }
    }
    render_labelled(m, b);
    render_histogram(m, b);
    render_registered(b);
    render_process(m, b);
}

/* ---- the listener ------------------------------------------------------ */

static void
metrics_request(struct evhttp_request *req, void *arg)
{
    struct wsg_metrics *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (path == NULL || strcmp(path, "/metrics") != 0) {
        evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
        evbuffer_add_printf(body, "metrics are at /metrics\n");
        evhttp_send_reply(req, 404, "Not Found", body);
    } else if (wsg_metrics_render(m, body) != 0) {
        evhttp_send_error(req, 503, "out of memory");
    } else {
        evhttp_add_header(out, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        evhttp_send_reply(req, 200, "OK", body);
    }
    evbuffer_free(body);
}

static void
metrics_stop(struct wsg_metrics *m)
{
    if (m->http != NULL)
        evhttp_free(m->http);
    m->http = NULL;
    free(m->address);
    m->address = NULL;
    m->port = 0;
}

int
wsg_metrics_listen(struct wsg_metrics *m, const struct wsg_metrics_cfg *cfg,
                   const char *file, char *err, size_t errlen)
{
    if (cfg == NULL) {
        if (m->http != NULL)
            log_notice("metrics: no longer serving on %s port %u", m->address, m->port);
        metrics_stop(m);
        return 0;
    }
    if (m->http != NULL && m->port == cfg->port && strcmp(m->address, cfg->address) == 0)
        return 0;
    struct evhttp *http = evhttp_new(m->base);
    char *address = strdup(cfg->address);
    if (http == NULL || address == NULL) {
        if (http != NULL)
            evhttp_free(http);
        free(address);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Binding the new address may need the old one's port: free it
     * first when it is the same port, else keep it until the new works. */
    if (m->http != NULL && m->port == cfg->port)
        metrics_stop(m);
    if (evhttp_bind_socket_with_handle(http, cfg->address, cfg->port) == NULL) {
        snprintf(err, errlen, "%s:%d: cannot serve metrics on %s port %u", file,
                 cfg->line, cfg->address, cfg->port);
        evhttp_free(http);
        free(address);
        return -1;
    }
    evhttp_set_timeout(http, 10);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(http, metrics_request, m);
    metrics_stop(m);
    m->http = http;
    m->address = address;
    m->port = cfg->port;
    log_notice("metrics on http://%s%s%s:%u/metrics", strchr(address, ':') ? "[" : "",
               address, strchr(address, ':') ? "]" : "", cfg->port);
    return 0;
}

struct wsg_metrics *
wsg_metrics_new(struct event_base *base)
{
    struct wsg_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->base = base;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    pthread_mutex_lock(&metrics_lock);
    struct wsg_metrics **tail = &all_metrics;   /* worker 0's first */
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = m;
    pthread_mutex_unlock(&metrics_lock);
    return m;
}

void
wsg_metrics_free(struct wsg_metrics *m)
{
    if (m == NULL)
        return;
    metrics_stop(m);
    pthread_mutex_lock(&metrics_lock);
    for (struct wsg_metrics **p = &all_metrics; *p != NULL; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    pthread_mutex_unlock(&metrics_lock);
    ep_list_free(m->eps);
    free(m);
}
