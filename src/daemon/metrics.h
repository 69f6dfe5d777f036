/*
 * metrics.h - what wsgated counts, and the Prometheus exposition of it.
 *
 * Counters are plain integers in per-endpoint structs owned by the event
 * loop (the daemon is single-threaded): the hot path adds to a few of
 * them, nothing more.  An endpoint's counters are found by its path and
 * outlive a reload, so that a counter never goes backwards while the
 * daemon runs.  The exposition is rendered on each scrape, on a listener
 * of its own (metrics = { address; port; }), never on the public ports.
 */
#ifndef WSG_DAEMON_METRICS_H
#define WSG_DAEMON_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct event_base;
struct evbuffer;

/* Why a handshake was refused: the `reason` label. */
enum wsg_reject {
    WSG_REJECT_BAD_REQUEST,     /* malformed, missing key, body, no Host... */
    WSG_REJECT_VERSION,         /* Sec-WebSocket-Version is not 13 */
    WSG_REJECT_NOT_WEBSOCKET,   /* a plain request on a WebSocket path (426) */
    WSG_REJECT_METHOD,          /* not GET */
    WSG_REJECT_TOO_LARGE,       /* request head over the limits */
    WSG_REJECT_ORIGIN,
    WSG_REJECT_SUBPROTOCOL,     /* none in common, one required */
    WSG_REJECT_LIMIT,           /* max_connections, _per_ip */
    WSG_REJECT_RATE,            /* connections_per_second_per_ip */
    WSG_REJECT_INTERNAL,        /* out of memory */
    WSG_REJECT_N
};

const char *wsg_reject_name(enum wsg_reject r);

enum wsg_closer { WSG_CLOSED_BY_CLIENT, WSG_CLOSED_BY_SERVER };

/* 1000..1015 each, then one bucket for every other code (3000-4999 are
 * the application's: counting them one by one would let clients mint
 * series). */
#define WSG_METRICS_CLOSE_CODES 17
#define WSG_METRICS_HS_BUCKETS 12

struct wsg_ep_stats {
    struct wsg_ep_stats *next;
    uint64_t open;                      /* a gauge */
    uint64_t asleep;                    /* a gauge: of those, holding no buffers */
    uint64_t total;
    uint64_t rejected[WSG_REJECT_N];
    uint64_t msgs_in, msgs_out;         /* data messages */
    uint64_t bytes_in, bytes_out;       /* their payloads (uncompressed) */
    uint64_t closes[2][WSG_METRICS_CLOSE_CODES];   /* [enum wsg_closer][code] */
    uint64_t slow_closed, slow_dropped; /* slow_consumer policy: close, drop */
    uint64_t rate_closed, rate_dropped; /* messages_per_second: close, drop */
    uint64_t hs_buckets[WSG_METRICS_HS_BUCKETS];   /* handshake latency */
    uint64_t hs_count;
    uint64_t hs_sum_us;
    char path[];
};

/* Counting: each counter has one writer (the worker that owns it) and is
 * read by a scrape on worker 0's thread.  A relaxed atomic store of the
 * new value compiles to the same add as x += n, and makes that read
 * well-defined.  x is evaluated twice. */
#define WSG_STAT_ADD(x, n) __atomic_store_n(&(x), (x) + (n), __ATOMIC_RELAXED)
#define WSG_STAT_SUB(x, n) __atomic_store_n(&(x), (x) - (n), __ATOMIC_RELAXED)

struct wsg_metrics;

struct wsg_metrics *wsg_metrics_new(struct event_base *base);
void wsg_metrics_free(struct wsg_metrics *m);

/* The counters of the endpoint at path, made on first use.  NULL only
 * when out of memory. */
struct wsg_ep_stats *wsg_metrics_endpoint(struct wsg_metrics *m, const char *path);

/* Serve GET /metrics as cfg says (NULL: stop serving).  A listener whose
 * address and port did not change is kept; a new one that cannot be bound
 * is an error in err, and the old one then stays, unless the new one has
 * the same port (the old one is closed first, or it would be in the way). */
int wsg_metrics_listen(struct wsg_metrics *m, const struct wsg_metrics_cfg *cfg,
                       const char *file, char *err, size_t errlen);

void wsg_metrics_reloaded(struct wsg_metrics *m, bool ok);

/* Handshake accepted after us microseconds (from the TCP accept). */
void wsg_stats_handshake(struct wsg_ep_stats *st, uint64_t us);

void wsg_stats_closed(struct wsg_ep_stats *st, uint16_t code, enum wsg_closer by);

/* module.c: metrics registered while owner (an instance) runs its init()
 * are its own (wsg_metrics_owner(NULL) after), and go with it. */
void wsg_metrics_owner(const void *owner);
void wsg_metrics_drop_owner(const void *owner);

/* The whole exposition (text format 0.0.4), for the listener and tests. */
int wsg_metrics_render(struct wsg_metrics *m, struct evbuffer *out);

#endif
