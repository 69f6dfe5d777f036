/*
 * config.h - wsgated's configuration: the libconfig schema, its defaults
 * and the embedded default configuration.
 *
 * A loaded configuration is immutable and owned by whoever loaded it; a
 * reload (SIGHUP) loads a new one beside the old, and connections keep a
 * reference to the endpoint they were accepted on.  Every key is checked:
 * unknown keys, wrong types, out-of-range values and duplicate endpoint
 * paths are errors reported as "file:line: what is wrong".
 */
#ifndef WSG_DAEMON_CONFIG_H
#define WSG_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "deflate.h"

#define WSG_DEFAULT_CONFIG_PATH SYSCONFDIR "/wsgate/wsgated.conf"
#define WSG_MAX_WORKERS 64                 /* workers = N: threads, each an event loop */

enum wsg_slow_policy {
    WSG_SLOW_CLOSE,          /* close the slow reader with 1008 */
    WSG_SLOW_DROP,           /* drop messages for it until it catches up */
};

enum wsg_rate_policy {
    WSG_RATE_CLOSE,          /* a client over messages_per_second: close 1008 */
    WSG_RATE_DROP,           /* drop its messages over the rate */
};

/* Limits apply globally and can be overridden per endpoint.  Times are in
 * milliseconds (the config file says seconds, fractions allowed); sizes in
 * bytes (the file takes an integer or a string with K, M or G). */
struct wsg_limits {
    uint64_t max_frame;                 /* default 1M */
    uint64_t max_message;               /* default 16M */
    uint32_t max_connections;           /* overall; 0 = unlimited; default 10000 */
    uint32_t max_connections_per_ip;    /* 0 = unlimited; default 0 */
    uint32_t handshake_timeout_ms;      /* default 10 s */
    uint32_t idle_timeout_ms;           /* 0 = never; default 0 */
    uint32_t ping_interval_ms;          /* 0 = no keepalive pings; default 30 s */
    uint32_t close_timeout_ms;          /* default 5 s */
    uint64_t output_high_watermark;     /* default 4M */
    enum wsg_slow_policy slow_policy;   /* default close */
    /* Token buckets: a rate per second (0 = off) and a burst (0 = the
     * rate, at least 1). */
    double connections_per_second_per_ip; /* upgrades; over it: 429 */
    uint32_t connections_burst_per_ip;
    uint32_t max_tracked_addresses;     /* the per-address table; default 65536 */
    double messages_per_second;         /* per connection */
    uint32_t messages_burst;
    enum wsg_rate_policy rate_policy;   /* default close */
};

/* One more certificate for a TLS listener, served to clients whose SNI
 * host name it covers (its subjectAltNames, as X509_check_host sees it). */
struct wsg_tls_cert {
    char *certificate;
    char *private_key;
    int line;
};

struct wsg_tls_cfg {
    char *certificate;                  /* the default: no SNI, or no match */
    char *private_key;
    char *ca_file;                      /* NULL: no client certificates */
    bool verify_client;
    struct wsg_tls_cert *sni;           /* more certificates, chosen by SNI */
    size_t nsni;
    int line;
};

struct wsg_listen_cfg {
    char *address;                      /* "127.0.0.1", "::", "0.0.0.0" */
    uint16_t port;
    int backlog;                        /* default 511 */
    struct wsg_tls_cfg *tls;            /* NULL: plain ws:// */
    int line;
};

/* metrics = { address; port; }: the Prometheus listener. */
struct wsg_metrics_cfg {
    char *address;                      /* default "127.0.0.1" */
    uint16_t port;                      /* required */
    int line;
};

enum wsg_path_match {
    WSG_MATCH_EXACT,                    /* the path itself only */
    WSG_MATCH_PREFIX,                   /* and every path below it */
};

struct wsg_endpoint_cfg {
    char *path;                         /* "/echo" */
    enum wsg_path_match match;          /* default exact */
    char *module;                       /* "echo" → module_dir/echo.so */
    const config_setting_t *options;    /* the module's group, or NULL */
    char **subprotocols;                /* server's preference order */
    size_t nsubprotocols;
    bool subprotocol_required;          /* refuse clients with none in common */
    char **allowed_origins;             /* none: every origin (and none) allowed */
    size_t norigins;
    struct wsg_limits limits;           /* global limits + endpoint overrides */
    struct wsg_deflate_cfg compression; /* permessage-deflate: global + overrides */
    int line;                           /* of the endpoint's group */
    int module_line;                    /* of its module key, for loader errors */
};

/* An address range of trusted_proxies.  IPv4 is kept as IPv4-mapped IPv6
 * (::ffff:a.b.c.d, prefix + 96), so one comparison covers both families. */
struct wsg_cidr {
    uint8_t addr[16];
    unsigned prefix;                    /* 0..128 bits */
};

enum wsg_log_target {
    WSG_LOG_STDERR,
    WSG_LOG_SYSLOG,
};

struct wsg_config {
    unsigned refs;                      /* the loader's, then one per endpoint (atomic:
                                         * every worker's endpoints share one) */
    unsigned long generation;           /* 1 for the first loaded, then one more per load */
    unsigned workers;                   /* event loops, each a thread (default 1) */
    config_t lc;                        /* kept alive: endpoints point into it */
    char *file;                         /* path, or "(embedded default)" */
    struct wsg_listen_cfg *listen;
    size_t nlisten;
    char *module_dir;                   /* NULL: not set in the file */
    char *user;                         /* run as, once listening; NULL: stay */
    char *group;
    struct wsg_cidr *trusted_proxies;   /* reverse proxies whose X-Forwarded-* we believe */
    size_t ntrusted_proxies;
    struct wsg_limits limits;
    struct wsg_deflate_cfg compression; /* what endpoints start from */
    int log_level;                      /* LOG_ERR .. LOG_DEBUG (syslog.h) */
    enum wsg_log_target log_target;
    char *access_log;                   /* a file, "syslog", or NULL: none */
    struct wsg_metrics_cfg *metrics;    /* NULL: no metrics listener */
    struct wsg_endpoint_cfg *endpoints;
    size_t nendpoints;
};

/* Load and check a configuration file.  On failure returns NULL and writes
 * "file:line: message" into err ("file: strerror" if it cannot be read).
 * @include is relative to the file's directory. */
struct wsg_config *wsg_cfg_load_file(const char *path, char *err, size_t errlen);

/* Same for a configuration held in memory; name is used in messages. */
struct wsg_config *wsg_cfg_load_string(const char *text, const char *name,
                                       char *err, size_t errlen);

/* The embedded default: 127.0.0.1:8080, /echo (echo), /broadcast once the
 * broadcast module exists. */
const char *wsg_cfg_default_text(void);

/* Endpoint whose path equals path (without query), or NULL. */
const struct wsg_endpoint_cfg *wsg_cfg_find_endpoint(const struct wsg_config *cfg,
                                                     const char *path, size_t len);

/* "192.0.2.0/24", "2001:db8::/32", or an address alone (all its bits).
 * Returns false if s is not one. */
bool wsg_cidr_parse(const char *s, struct wsg_cidr *out);

/* Parse an IPv4 or IPv6 address (IPv4 mapped into IPv6); false if none. */
bool wsg_addr_parse(const char *s, uint8_t out[16]);

/* Is the address (16 bytes, as from wsg_addr_parse) in one of the ranges? */
bool wsg_cidr_list_match(const struct wsg_cidr *list, size_t n, const uint8_t addr[16]);

/* Reference counting: a reload leaves the old configuration alive for as
 * long as connections use its endpoints.  wsg_cfg_free() drops one
 * reference and frees the configuration with the last. */
void wsg_cfg_ref(struct wsg_config *cfg);
void wsg_cfg_free(struct wsg_config *cfg);

#endif
