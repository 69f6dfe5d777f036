/*
 * config.c - wsgated's configuration loader: reads a libconfig file (or a
 * string), checks every key and fills struct wsg_config.
 *
 * The schema is data, after nginx's command tables: one table per group of
 * the file (top level, listen, listen.tls, limits, log, endpoints), one row
 * per key with its name, the setter that checks and stores the value, where
 * in the struct it goes and in which groups it is allowed.  parse_group()
 * treats every group the same way:
 *   1. every key present must be a row allowed in this group, so a misspelt
 *      key is an error that lists the valid ones, never silently ignored;
 *   2. the rows are then applied in table order, not file order, so a row
 *      can rely on the ones above it: the top-level table has limits before
 *      endpoints, and each endpoint's limits start as a copy of the global
 *      ones wherever the operator put the two in the file;
 *   3. a per-group check runs for rules that span keys (max_frame is not
 *      larger than max_message, ...).
 *
 * Defaults are stored before parsing and a setter overwrites only what the
 * file says.  The first error stops the load; its message is
 * "FILE:LINE: what is wrong".  Everything allocated is attached to the
 * struct wsg_config as soon as it exists, so wsg_cfg_free() is the one
 * clean-up path, on errors too.
 *
 * libconfig 1.5 caveat: an integer literal beyond 32 bits without an "L"
 * suffix is silently truncated by the parser, before we see it.  Sizes
 * therefore also take strings ("4G"), which is what the sample uses.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <syslog.h>
#include <sys/stat.h>

#include "config.h"

#define WSG_MIB (UINT64_C(1) << 20)

/* Times are kept in uint32_t milliseconds; whole seconds keep the
 * message readable ("at most 4294967 seconds"). */
#define WSG_MAX_MS 4294967000LL

static const struct wsg_limits wsg_default_limits = {
    .max_frame = 1 * WSG_MIB,
    .max_message = 16 * WSG_MIB,
    .max_connections = 10000,
    .max_connections_per_ip = 0,
    .handshake_timeout_ms = 10000,
    .idle_timeout_ms = 0,
    .ping_interval_ms = 30000,
    .close_timeout_ms = 5000,
    .output_high_watermark = 4 * WSG_MIB,
    .slow_policy = WSG_SLOW_CLOSE,
    .connections_per_second_per_ip = 0,
    .connections_burst_per_ip = 0,
    .max_tracked_addresses = 65536,
    .messages_per_second = 0,
    .messages_burst = 0,
    .rate_policy = WSG_RATE_CLOSE,
};

/* permessage-deflate: off; when on, zlib's defaults and the largest
 * windows, messages under 64 bytes left alone. */
static const struct wsg_deflate_cfg wsg_default_compression = {
    .enabled = false,
    .level = 6,
    .mem_level = 8,
    .server_max_window_bits = 15,
    .client_max_window_bits = 15,
    .server_no_context_takeover = false,
    .client_no_context_takeover = false,
    .min_size = 64,
};

#define WSG_DEFAULT_ADDRESS "127.0.0.1"
#define WSG_DEFAULT_BACKLOG 511

/* ---- the schema ------------------------------------------------------- */

struct wsg_cfg_parser;
struct wsg_cfg_key;

/* Checks the setting and stores it at base + key->offset; -1 on error
 * (the message is already written). */
typedef int (*wsg_cfg_set_fn)(struct wsg_cfg_parser *p, const config_setting_t *s,
                              const struct wsg_cfg_key *key, void *base);

/* Returns why a string value is unacceptable, or NULL if it is fine. */
typedef const char *(*wsg_cfg_check_fn)(const char *value);

/* The groups of the file, as bits so a row can say where it is allowed. */
enum {
    WSG_IN_TOP = 1u << 0,
    WSG_IN_LISTEN = 1u << 1,
    WSG_IN_TLS = 1u << 2,
    WSG_IN_LIMITS = 1u << 3,            /* the global limits */
    WSG_IN_LOG = 1u << 4,
    WSG_IN_ENDPOINT = 1u << 5,
    WSG_IN_ENDPOINT_LIMITS = 1u << 6,   /* an endpoint's overrides */
    WSG_IN_SNI = 1u << 7,               /* listen.tls.sni entries */
    WSG_IN_COMPRESSION = 1u << 8,       /* compression, global or an endpoint's */
    WSG_IN_METRICS = 1u << 9,
};

enum {
    WSG_REQUIRED = 1u << 0,
};

struct wsg_cfg_key {
    const char *name;
    wsg_cfg_set_fn set;
    size_t offset;              /* where the value goes in the group's struct */
    size_t size;                /* its size: integers and enums are stored by width */
    unsigned where;             /* WSG_IN_* groups the key is allowed in */
    unsigned flags;             /* WSG_REQUIRED */
    long long min, max;         /* integers; times in milliseconds */
    const void *aux;            /* enum names or nested group */
    wsg_cfg_check_fn check;     /* strings and string lists: what is acceptable */
    size_t count_offset;        /* string lists: where the count goes */
};

#define WSG_FIELD(type, member) \
    .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)

struct wsg_cfg_group {
    const char *in;             /* for messages: "in limits", "at top level" */
    unsigned where;             /* this group's WSG_IN_* bit */
    const struct wsg_cfg_key *keys;
    int (*check)(struct wsg_cfg_parser *p, const config_setting_t *group, void *base);
};

struct wsg_cfg_name {
    const char *name;
    int value;
};

struct wsg_cfg_parser {
    const char *name;           /* for settings without a file (string configs) */
    char *err;
    size_t errlen;
};

/* ---- error messages --------------------------------------------------- */

static const char *
setting_file(const struct wsg_cfg_parser *p, const config_setting_t *s)
{
    const char *f = s != NULL ? config_setting_source_file(s) : NULL;
    return f != NULL ? f : p->name;
}

/* The root group has line 0; an error about the file as a whole (a
 * missing top-level key) is reported at line 1. */
static unsigned
setting_line(const config_setting_t *s)
{
    unsigned line = s != NULL ? config_setting_source_line(s) : 0;
    return line > 0 ? line : 1;
}

static int cfg_error(struct wsg_cfg_parser *p, const config_setting_t *s,
                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes "FILE:LINE: message" for the setting s; always returns -1 so
 * setters can "return cfg_error(...)". */
static int
cfg_error(struct wsg_cfg_parser *p, const config_setting_t *s, const char *fmt, ...)
{
    if (p->errlen == 0)
        return -1;
    int n = snprintf(p->err, p->errlen, "%s:%u: ", setting_file(p, s), setting_line(s));
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* "line 14", or "other.conf:14" when the earlier setting came from
 * another file through @include. */
static void
describe_place(const struct wsg_cfg_parser *p, const config_setting_t *earlier,
               const config_setting_t *now, char *buf, size_t len)
{
    const char *f1 = setting_file(p, earlier), *f2 = setting_file(p, now);
    if (strcmp(f1, f2) == 0)
        snprintf(buf, len, "line %u", setting_line(earlier));
    else
        snprintf(buf, len, "%s:%u", f1, setting_line(earlier));
}

/* ---- storing values --------------------------------------------------- */

/* Integer and enum members have different widths (port is uint16_t,
 * backlog int, ...); every range in the schema is non-negative, so the
 * value's bits are the same whatever the member's signedness. */
static void
store_uint(void *dst, size_t size, uint64_t v)
{
    switch (size) {
    case sizeof(uint8_t): { uint8_t x = (uint8_t)v; memcpy(dst, &x, sizeof x); break; }
    case sizeof(uint16_t): { uint16_t x = (uint16_t)v; memcpy(dst, &x, sizeof x); break; }
    case sizeof(uint32_t): { uint32_t x = (uint32_t)v; memcpy(dst, &x, sizeof x); break; }
    default: { uint64_t x = v; memcpy(dst, &x, sizeof x); break; }
    }
}

static void *
field(void *base, const struct wsg_cfg_key *key)
{
    return (char *)base + key->offset;
}

static bool
is_integer(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* ---- setters ---------------------------------------------------------- */

/* Replaces the string at base + offset (a default, say) with a copy. */
static int
set_string(struct wsg_cfg_parser *p, const config_setting_t *s,
           const struct wsg_cfg_key *key, void *base)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cfg_error(p, s, "%s must be a string", key->name);
    const char *v = config_setting_get_string(s);
    if (v[0] == '\0')
        return cfg_error(p, s, "%s must not be empty", key->name);
    const char *why = key->check != NULL ? key->check(v) : NULL;
    if (why != NULL)
        return cfg_error(p, s, "%s \"%s\" %s", key->name, v, why);
    char *copy = strdup(v);
    if (copy == NULL)
        return cfg_error(p, s, "out of memory");
    char **dst = field(base, key);
    free(*dst);
    *dst = copy;
    return 0;
}

static int
set_int(struct wsg_cfg_parser *p, const config_setting_t *s,
        const struct wsg_cfg_key *key, void *base)
{
    if (!is_integer(s))
        return cfg_error(p, s, "%s must be an integer", key->name);
    long long v = config_setting_get_int64(s);
    if (v < key->min || v > key->max)
        return cfg_error(p, s, "%s must be between %lld and %lld, not %lld",
                         key->name, key->min, key->max, v);
    store_uint(field(base, key), key->size, (uint64_t)v);
    return 0;
}

/* workers: a count, or "auto" for one per online CPU (at most
 * WSG_MAX_WORKERS), as nginx's worker_processes. */
static int
set_workers(struct wsg_cfg_parser *p, const config_setting_t *s,
            const struct wsg_cfg_key *key, void *base)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING
        && strcmp(config_setting_get_string(s), "auto") == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        store_uint(field(base, key), key->size,
                   n < 1 ? 1 : n > WSG_MAX_WORKERS ? WSG_MAX_WORKERS : (uint64_t)n);
        return 0;
    }
    if (!is_integer(s))
        return cfg_error(p, s, "%s must be an integer or \"auto\"", key->name);
    return set_int(p, s, key, base);
}

static int
set_bool(struct wsg_cfg_parser *p, const config_setting_t *s,
         const struct wsg_cfg_key *key, void *base)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfg_error(p, s, "%s must be true or false", key->name);
    bool *dst = field(base, key);
    *dst = config_setting_get_bool(s) != 0;
    return 0;
}

enum wsg_size_parse { WSG_SIZE_OK, WSG_SIZE_BAD, WSG_SIZE_TOO_BIG };

/* "123", "64K", "16m", "1G": digits and an optional binary-unit suffix. */
static enum wsg_size_parse
parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *c = s;
    if (!isdigit((unsigned char)*c))
        return WSG_SIZE_BAD;
    for (; isdigit((unsigned char)*c); c++) {
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return WSG_SIZE_TOO_BIG;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (*c) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case '\0': break;
    default: return WSG_SIZE_BAD;
    }
    if (shift != 0 && *++c != '\0')
        return WSG_SIZE_BAD;
    if (v > (UINT64_MAX >> shift))
        return WSG_SIZE_TOO_BIG;
    *out = v << shift;
    return WSG_SIZE_OK;
}

/* A uint64_t number of bytes > 0: an integer, or a string with a unit. */
static int
set_size(struct wsg_cfg_parser *p, const config_setting_t *s,
         const struct wsg_cfg_key *key, void *base)
{
    uint64_t v;
    if (is_integer(s)) {
        long long n = config_setting_get_int64(s);
        if (n <= 0)
            return cfg_error(p, s, "%s must be greater than 0, not %lld", key->name, n);
        v = (uint64_t)n;
    } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        const char *str = config_setting_get_string(s);
        switch (parse_size(str, &v)) {
        case WSG_SIZE_OK:
            break;
        case WSG_SIZE_TOO_BIG:
            return cfg_error(p, s, "%s \"%s\" is too large", key->name, str);
        default:
            return cfg_error(p, s, "%s \"%s\" is not a size: use bytes or a "
                             "whole number with K, M or G", key->name, str);
        }
        if (v == 0)
            return cfg_error(p, s, "%s must be greater than 0", key->name);
    } else {
        return cfg_error(p, s, "%s must be a size: a number of bytes or a string "
                         "such as \"64K\", \"16M\", \"1G\"", key->name);
    }
    store_uint(field(base, key), key->size, v);
    return 0;
}

/* Seconds in the file (fractions allowed), milliseconds in the struct;
 * key->min is 1 for times where 0 would mean "expire at once". */
static int
set_msec(struct wsg_cfg_parser *p, const config_setting_t *s,
         const struct wsg_cfg_key *key, void *base)
{
    long long ms;
    if (is_integer(s)) {
        long long secs = config_setting_get_int64(s);
        if (secs < 0)
            return cfg_error(p, s, "%s must not be negative", key->name);
        if (secs > key->max / 1000)
            goto too_big;
        ms = secs * 1000;
    } else if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
        double secs = config_setting_get_float(s);
        if (secs < 0)
            return cfg_error(p, s, "%s must not be negative", key->name);
        if (!(secs * 1000.0 <= (double)key->max))
            goto too_big;
        ms = (long long)(secs * 1000.0 + 0.5);
    } else {
        return cfg_error(p, s, "%s must be a number of seconds", key->name);
    }
    if (ms < key->min)
        return cfg_error(p, s, "%s must be greater than 0 seconds", key->name);
    store_uint(field(base, key), key->size, (uint64_t)ms);
    return 0;

too_big:
    return cfg_error(p, s, "%s must be at most %lld seconds", key->name, key->max / 1000);
}

/* A rate per second: a number (fractions allowed) from 0 (off) to
 * key->max, stored as a double. */
static int
set_rate(struct wsg_cfg_parser *p, const config_setting_t *s,
         const struct wsg_cfg_key *key, void *base)
{
    double v;
    if (is_integer(s))
        v = (double)config_setting_get_int64(s);
    else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
        v = config_setting_get_float(s);
    else
        return cfg_error(p, s, "%s must be a number per second", key->name);
    if (!(v >= 0 && v <= (double)key->max))
        return cfg_error(p, s, "%s must be between 0 and %lld per second", key->name,
                         key->max);
    memcpy(field(base, key), &v, sizeof(v));
    return 0;
}

/* A string among key->aux's names, stored as its value. */
static int
set_enum(struct wsg_cfg_parser *p, const config_setting_t *s,
         const struct wsg_cfg_key *key, void *base)
{
    const struct wsg_cfg_name *names = key->aux;
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
                    ? config_setting_get_string(s) : NULL;
    for (const struct wsg_cfg_name *n = names; v != NULL && n->name != NULL; n++) {
        if (strcmp(n->name, v) == 0) {
            store_uint(field(base, key), key->size, (uint64_t)n->value);
            return 0;
        }
    }
    char valid[256] = "";
    for (const struct wsg_cfg_name *n = names; n->name != NULL; n++) {
        size_t used = strlen(valid);
        snprintf(valid + used, sizeof(valid) - used, "%s\"%s\"",
                 n == names ? "" : ", ", n->name);
    }
    if (v == NULL)
        return cfg_error(p, s, "%s must be one of %s", key->name, valid);
    return cfg_error(p, s, "%s must be one of %s, not \"%s\"", key->name, valid, v);
}

/* An array or list of distinct non-empty strings, stored as a char **
 * at key->offset and its length at key->count_offset. */
static int
set_string_list(struct wsg_cfg_parser *p, const config_setting_t *s,
                const struct wsg_cfg_key *key, void *base)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return cfg_error(p, s, "%s must be an array of strings: [ \"a\", \"b\" ]",
                         key->name);
    char ***dst = field(base, key);
    size_t *count = (size_t *)(void *)((char *)base + key->count_offset);
    int n = config_setting_length(s);
    if (n == 0)
        return 0;
    *dst = calloc((size_t)n, sizeof(char *));
    if (*dst == NULL)
        return cfg_error(p, s, "out of memory");

    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return cfg_error(p, e, "%s entries must be strings", key->name);
        const char *v = config_setting_get_string(e);
        if (v[0] == '\0')
            return cfg_error(p, e, "%s entries must not be empty", key->name);
        const char *why = key->check != NULL ? key->check(v) : NULL;
        if (why != NULL)
            return cfg_error(p, e, "%s entry \"%s\" %s", key->name, v, why);
        for (int j = 0; j < i; j++) {
            if (strcmp((*dst)[j], v) == 0) {
                char place[300];
                describe_place(p, config_setting_get_elem(s, (unsigned)j), e,
                               place, sizeof(place));
                return cfg_error(p, e, "%s lists \"%s\" twice (also at %s)",
                                 key->name, v, place);
            }
        }
        if (((*dst)[i] = strdup(v)) == NULL)
            return cfg_error(p, e, "out of memory");
        *count = (size_t)i + 1;
    }
    return 0;
}

static int parse_group(struct wsg_cfg_parser *p, const config_setting_t *group,
                       const struct wsg_cfg_group *schema, void *base);

/* A nested group (limits, log) parsed in place with key->aux's schema. */
static int
set_group(struct wsg_cfg_parser *p, const config_setting_t *s,
          const struct wsg_cfg_key *key, void *base)
{
    if (!config_setting_is_group(s))
        return cfg_error(p, s, "%s must be a group: %s = { ... };", key->name, key->name);
    return parse_group(p, s, key->aux, field(base, key));
}

/* An endpoint's options belong to its module: kept unchecked, by pointer
 * into the config_t that lives as long as the wsg_config. */
static int
set_options(struct wsg_cfg_parser *p, const config_setting_t *s,
            const struct wsg_cfg_key *key, void *base)
{
    if (!config_setting_is_group(s))
        return cfg_error(p, s, "%s must be a group: %s = { ... };", key->name, key->name);
    const config_setting_t **dst = field(base, key);
    *dst = s;
    return 0;
}

static int
set_tls(struct wsg_cfg_parser *p, const config_setting_t *s,
        const struct wsg_cfg_key *key, void *base)
{
    if (!config_setting_is_group(s))
        return cfg_error(p, s, "%s must be a group: %s = { ... };", key->name, key->name);
    struct wsg_tls_cfg **dst = field(base, key);
    if ((*dst = calloc(1, sizeof(**dst))) == NULL)
        return cfg_error(p, s, "out of memory");
    (*dst)->line = (int)config_setting_source_line(s);
    return parse_group(p, s, key->aux, *dst);
}

/* ---- string checks ---------------------------------------------------- */

static const char *
check_address(const char *v)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
        return NULL;
    return "is not an IPv4 or IPv6 address";
}

/* The path is compared with the request's path, so anything a request
 * path cannot hold would make an endpoint nobody can reach. */
static const char *
check_path(const char *v)
{
    if (v[0] != '/')
        return "must start with \"/\"";
    for (const char *c = v; *c != '\0'; c++) {
        if (*c == '?' || *c == '#')
            return "must not contain \"?\" or \"#\": the query is not part of the path";
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return "must not contain spaces or control characters";
    }
    return NULL;
}

/* The module name becomes a file name in module_dir: no '/', no "..". */
static const char *
check_module_name(const char *v)
{
    for (const char *c = v; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return "may only contain a-z, 0-9, \"_\" and \"-\"";
    }
    return NULL;
}

/* RFC 6455 4.1 and RFC 7230 3.2.6: a subprotocol is a token. */
static const char *
check_token(const char *v)
{
    for (const char *c = v; *c != '\0'; c++) {
        if (!isalnum((unsigned char)*c) && strchr("!#$%&'*+-.^_`|~", *c) == NULL)
            return "is not a token (letters, digits and !#$%&'*+-.^_`|~ only)";
    }
    return NULL;
}

/* Browsers send "scheme://host[:port]" or "null" (RFC 6454 6.1): an entry
 * with a path or without a scheme would never match, so say so now. */
static const char *
check_origin(const char *v)
{
    if (strcmp(v, "null") == 0)
        return NULL;
    const char *host = strstr(v, "://");
    if (host == NULL || host == v || host[3] == '\0')
        return "must be \"null\" or scheme://host[:port]";
    for (const char *c = host + 3; *c != '\0'; c++) {
        if (*c == '/' || *c == '?' || *c == '#' || (unsigned char)*c <= 0x20)
            return "must be scheme://host[:port], with no path";
    }
    return NULL;
}

/* The daemon's working directory is "/" under systemd: a relative path
 * would not be where the operator looks. */
static const char *
check_access_log(const char *v)
{
    if (strcmp(v, "syslog") == 0 || v[0] == '/')
        return NULL;
    return "must be \"syslog\" or an absolute path";
}

/* ---- addresses and ranges (trusted_proxies) ---------------------------- */

bool
wsg_addr_parse(const char *s, uint8_t out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        memcpy(out, mapped, sizeof(mapped));
        memcpy(out + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, s, out) == 1;
}

bool
wsg_cidr_parse(const char *s, struct wsg_cidr *out)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (len == 0 || len >= sizeof(addr))
        return false;
    memcpy(addr, s, len);
    addr[len] = '\0';
    if (!wsg_addr_parse(addr, out->addr))
        return false;
    bool v4 = strchr(addr, ':') == NULL;
    unsigned max = v4 ? 32 : 128;
    unsigned prefix = max;
    if (slash != NULL) {
        const char *d = slash + 1;
        if (!isdigit((unsigned char)*d) || strlen(d) > 3)
            return false;
        prefix = 0;
        for (; isdigit((unsigned char)*d); d++)
            prefix = prefix * 10 + (unsigned)(*d - '0');
        if (*d != '\0' || prefix > max)
            return false;
    }
    out->prefix = v4 ? prefix + 96 : prefix;
    /* Host bits set ("10.1.2.3/8") would make a range that reads one way
     * and matches another: clear them. */
    for (unsigned bit = out->prefix; bit < 128; bit++)
        out->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    return true;
}

bool
wsg_cidr_list_match(const struct wsg_cidr *list, size_t n, const uint8_t addr[16])
{
    for (size_t i = 0; i < n; i++) {
        unsigned bytes = list[i].prefix / 8, bits = list[i].prefix % 8;
        if (memcmp(list[i].addr, addr, bytes) != 0)
            continue;
        if (bits == 0 || ((list[i].addr[bytes] ^ addr[bytes]) & (0xff00u >> bits)) == 0)
            return true;
    }
    return false;
}

/* An array of CIDR ranges: [ "10.0.0.0/8", "::1" ]. */
static int
set_cidr_list(struct wsg_cfg_parser *p, const config_setting_t *s,
              const struct wsg_cfg_key *key, void *base)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return cfg_error(p, s, "%s must be an array of addresses or CIDR ranges: "
                         "[ \"127.0.0.1\", \"10.0.0.0/8\", \"::1\" ]", key->name);
    struct wsg_cidr **dst = field(base, key);
    size_t *count = (size_t *)(void *)((char *)base + key->count_offset);
    int n = config_setting_length(s);
    if (n == 0)
        return 0;
    if ((*dst = calloc((size_t)n, sizeof(**dst))) == NULL)
        return cfg_error(p, s, "out of memory");
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return cfg_error(p, e, "%s entries must be strings", key->name);
        const char *v = config_setting_get_string(e);
        if (!wsg_cidr_parse(v, &(*dst)[i]))
            return cfg_error(p, e, "%s entry \"%s\" is not an IPv4 or IPv6 address "
                             "or CIDR range (\"10.0.0.0/8\", \"fd00::/8\")", key->name, v);
        *count = (size_t)i + 1;
    }
    return 0;
}

/* ---- tables ----------------------------------------------------------- */

static const struct wsg_cfg_name wsg_slow_policies[] = {
    { "close", WSG_SLOW_CLOSE },
    { "drop", WSG_SLOW_DROP },
    { NULL, 0 },
};

static const struct wsg_cfg_name wsg_rate_policies[] = {
    { "close", WSG_RATE_CLOSE },
    { "drop", WSG_RATE_DROP },
    { NULL, 0 },
};

static const struct wsg_cfg_name wsg_path_matches[] = {
    { "exact", WSG_MATCH_EXACT },
    { "prefix", WSG_MATCH_PREFIX },
    { NULL, 0 },
};

static const struct wsg_cfg_name wsg_log_levels[] = {
    { "error", LOG_ERR },
    { "warning", LOG_WARNING },
    { "notice", LOG_NOTICE },
    { "info", LOG_INFO },
    { "debug", LOG_DEBUG },
    { NULL, 0 },
};

static const struct wsg_cfg_name wsg_log_targets[] = {
    { "stderr", WSG_LOG_STDERR },
    { "syslog", WSG_LOG_SYSLOG },
    { NULL, 0 },
};

#define WSG_IN_ANY_LIMITS (WSG_IN_LIMITS | WSG_IN_ENDPOINT_LIMITS)

static const struct wsg_cfg_key wsg_limits_keys[] = {
    { .name = "max_frame", .set = set_size, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, max_frame) },
    { .name = "max_message", .set = set_size, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, max_message) },
    { .name = "max_connections", .set = set_int, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, max_connections), .min = 0, .max = UINT32_MAX },
    { .name = "max_connections_per_ip", .set = set_int, .where = WSG_IN_LIMITS,
      WSG_FIELD(struct wsg_limits, max_connections_per_ip), .min = 0, .max = UINT32_MAX },
    { .name = "handshake_timeout", .set = set_msec, .where = WSG_IN_LIMITS,
      WSG_FIELD(struct wsg_limits, handshake_timeout_ms), .min = 1, .max = WSG_MAX_MS },
    { .name = "idle_timeout", .set = set_msec, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, idle_timeout_ms), .min = 0, .max = WSG_MAX_MS },
    { .name = "ping_interval", .set = set_msec, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, ping_interval_ms), .min = 0, .max = WSG_MAX_MS },
    { .name = "close_timeout", .set = set_msec, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, close_timeout_ms), .min = 1, .max = WSG_MAX_MS },
    { .name = "output_high_watermark", .set = set_size, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, output_high_watermark) },
    { .name = "slow_consumer", .set = set_enum, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, slow_policy), .aux = wsg_slow_policies },
    { .name = "connections_per_second_per_ip", .set = set_rate, .where = WSG_IN_LIMITS,
      WSG_FIELD(struct wsg_limits, connections_per_second_per_ip), .max = 1000000 },
    { .name = "connections_burst_per_ip", .set = set_int, .where = WSG_IN_LIMITS,
      WSG_FIELD(struct wsg_limits, connections_burst_per_ip), .min = 0, .max = 1000000 },
    { .name = "max_tracked_addresses", .set = set_int, .where = WSG_IN_LIMITS,
      WSG_FIELD(struct wsg_limits, max_tracked_addresses), .min = 16, .max = 16777216 },
    { .name = "messages_per_second", .set = set_rate, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, messages_per_second), .max = 1000000 },
    { .name = "messages_burst", .set = set_int, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, messages_burst), .min = 0, .max = 1000000 },
    { .name = "rate_policy", .set = set_enum, .where = WSG_IN_ANY_LIMITS,
      WSG_FIELD(struct wsg_limits, rate_policy), .aux = wsg_rate_policies },
    { .name = NULL },
};

/* Whether the limits are global or an endpoint's, a frame larger than the
 * largest message could never be delivered. */
static int
check_limits(struct wsg_cfg_parser *p, const config_setting_t *group, void *base)
{
    const struct wsg_limits *l = base;
    if (l->max_frame <= l->max_message)
        return 0;
    const config_setting_t *at = config_setting_get_member(group, "max_frame");
    if (at == NULL)
        at = config_setting_get_member(group, "max_message");
    return cfg_error(p, at != NULL ? at : group,
                     "max_frame (%llu) is larger than max_message (%llu)",
                     (unsigned long long)l->max_frame, (unsigned long long)l->max_message);
}

static const struct wsg_cfg_group wsg_limits_group = {
    "in limits", WSG_IN_LIMITS, wsg_limits_keys, check_limits,
};

static const struct wsg_cfg_group wsg_endpoint_limits_group = {
    "in endpoint limits", WSG_IN_ENDPOINT_LIMITS, wsg_limits_keys, check_limits,
};

/* The same keys globally and per endpoint: an endpoint's group starts as
 * a copy of the global one and overrides key by key. */
static const struct wsg_cfg_key wsg_compression_keys[] = {
    { .name = "enabled", .set = set_bool, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, enabled) },
    { .name = "level", .set = set_int, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, level), .min = 0, .max = 9 },
    { .name = "mem_level", .set = set_int, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, mem_level), .min = 1, .max = 9 },
    { .name = "server_max_window_bits", .set = set_int, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, server_max_window_bits),
      .min = WSG_DEFLATE_MIN_WBITS, .max = WSG_DEFLATE_MAX_WBITS },
    { .name = "client_max_window_bits", .set = set_int, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, client_max_window_bits),
      .min = WSG_DEFLATE_MIN_WBITS, .max = WSG_DEFLATE_MAX_WBITS },
    { .name = "server_no_context_takeover", .set = set_bool, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, server_no_context_takeover) },
    { .name = "client_no_context_takeover", .set = set_bool, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, client_no_context_takeover) },
    { .name = "min_size", .set = set_int, .where = WSG_IN_COMPRESSION,
      WSG_FIELD(struct wsg_deflate_cfg, min_size), .min = 0, .max = UINT32_MAX },
    { .name = NULL },
};

static const struct wsg_cfg_group wsg_compression_group = {
    "in compression", WSG_IN_COMPRESSION, wsg_compression_keys, NULL,
};

/* log's keys live directly in struct wsg_config: the group's base is the
 * config itself (its row in the top-level table has offset 0). */
static const struct wsg_cfg_key wsg_log_keys[] = {
    { .name = "level", .set = set_enum, .where = WSG_IN_LOG,
      WSG_FIELD(struct wsg_config, log_level), .aux = wsg_log_levels },
    { .name = "target", .set = set_enum, .where = WSG_IN_LOG,
      WSG_FIELD(struct wsg_config, log_target), .aux = wsg_log_targets },
    { .name = "access_log", .set = set_string, .where = WSG_IN_LOG,
      WSG_FIELD(struct wsg_config, access_log), .check = check_access_log },
    { .name = NULL },
};

static const struct wsg_cfg_group wsg_log_group = {
    "in log", WSG_IN_LOG, wsg_log_keys, NULL,
};

static const struct wsg_cfg_key wsg_sni_keys[] = {
    { .name = "certificate", .set = set_string, .where = WSG_IN_SNI, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_tls_cert, certificate) },
    { .name = "private_key", .set = set_string, .where = WSG_IN_SNI, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_tls_cert, private_key) },
    { .name = NULL },
};

static const struct wsg_cfg_group wsg_sni_group = {
    "in listen.tls.sni", WSG_IN_SNI, wsg_sni_keys, NULL,
};

static int set_sni(struct wsg_cfg_parser *p, const config_setting_t *s,
                   const struct wsg_cfg_key *key, void *base);

static const struct wsg_cfg_key wsg_tls_keys[] = {
    { .name = "certificate", .set = set_string, .where = WSG_IN_TLS, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_tls_cfg, certificate) },
    { .name = "private_key", .set = set_string, .where = WSG_IN_TLS, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_tls_cfg, private_key) },
    { .name = "ca_file", .set = set_string, .where = WSG_IN_TLS,
      WSG_FIELD(struct wsg_tls_cfg, ca_file) },
    { .name = "verify_client", .set = set_bool, .where = WSG_IN_TLS,
      WSG_FIELD(struct wsg_tls_cfg, verify_client) },
    { .name = "sni", .set = set_sni, .where = WSG_IN_TLS },
    { .name = NULL },
};

/* Client certificates are verified against ca_file: without one, every
 * client would be refused. */
static int
check_tls(struct wsg_cfg_parser *p, const config_setting_t *group, void *base)
{
    const struct wsg_tls_cfg *tls = base;
    if (tls->verify_client && tls->ca_file == NULL)
        return cfg_error(p, config_setting_get_member(group, "verify_client"),
                         "verify_client needs ca_file, the CA that signs client certificates");
    return 0;
}

static const struct wsg_cfg_group wsg_tls_group = {
    "in listen.tls", WSG_IN_TLS, wsg_tls_keys, check_tls,
};

static const struct wsg_cfg_key wsg_listen_keys[] = {
    { .name = "address", .set = set_string, .where = WSG_IN_LISTEN,
      WSG_FIELD(struct wsg_listen_cfg, address), .check = check_address },
    { .name = "port", .set = set_int, .where = WSG_IN_LISTEN, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_listen_cfg, port), .min = 1, .max = 65535 },
    { .name = "backlog", .set = set_int, .where = WSG_IN_LISTEN,
      WSG_FIELD(struct wsg_listen_cfg, backlog), .min = 1, .max = INT32_MAX },
    { .name = "tls", .set = set_tls, .where = WSG_IN_LISTEN,
      WSG_FIELD(struct wsg_listen_cfg, tls), .aux = &wsg_tls_group },
    { .name = NULL },
};

static const struct wsg_cfg_group wsg_listen_group = {
    "in listen", WSG_IN_LISTEN, wsg_listen_keys, NULL,
};

static const struct wsg_cfg_key wsg_metrics_keys[] = {
    { .name = "address", .set = set_string, .where = WSG_IN_METRICS,
      WSG_FIELD(struct wsg_metrics_cfg, address), .check = check_address },
    { .name = "port", .set = set_int, .where = WSG_IN_METRICS, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_metrics_cfg, port), .min = 1, .max = 65535 },
    { .name = NULL },
};

static const struct wsg_cfg_group wsg_metrics_group = {
    "in metrics", WSG_IN_METRICS, wsg_metrics_keys, NULL,
};

/* Off unless the group is there, so that metrics are never served by
 * accident; on, they default to loopback. */
static int
set_metrics(struct wsg_cfg_parser *p, const config_setting_t *s,
            const struct wsg_cfg_key *key, void *base)
{
    if (!config_setting_is_group(s))
        return cfg_error(p, s, "%s must be a group: %s = { port = 9100; };", key->name,
                         key->name);
    struct wsg_config *cfg = base;
    if ((cfg->metrics = calloc(1, sizeof(*cfg->metrics))) == NULL
        || (cfg->metrics->address = strdup(WSG_DEFAULT_ADDRESS)) == NULL)
        return cfg_error(p, s, "out of memory");
    cfg->metrics->line = (int)config_setting_source_line(s);
    if (parse_group(p, s, &wsg_metrics_group, cfg->metrics) != 0)
        return -1;
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const struct wsg_listen_cfg *l = &cfg->listen[i];
        if (l->port == cfg->metrics->port
            && (strcmp(l->address, cfg->metrics->address) == 0
                || strcmp(l->address, "0.0.0.0") == 0 || strcmp(l->address, "::") == 0))
            return cfg_error(p, config_setting_get_member(s, "port"),
                             "metrics port %u is a listen port (line %d): metrics need "
                             "a listener of their own", cfg->metrics->port, l->line);
    }
    return 0;
}

static const struct wsg_cfg_key wsg_endpoint_keys[] = {
    { .name = "path", .set = set_string, .where = WSG_IN_ENDPOINT, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_endpoint_cfg, path), .check = check_path },
    { .name = "match", .set = set_enum, .where = WSG_IN_ENDPOINT,
      WSG_FIELD(struct wsg_endpoint_cfg, match), .aux = wsg_path_matches },
    { .name = "module", .set = set_string, .where = WSG_IN_ENDPOINT, .flags = WSG_REQUIRED,
      WSG_FIELD(struct wsg_endpoint_cfg, module), .check = check_module_name },
    { .name = "options", .set = set_options, .where = WSG_IN_ENDPOINT,
      WSG_FIELD(struct wsg_endpoint_cfg, options) },
    { .name = "subprotocols", .set = set_string_list, .where = WSG_IN_ENDPOINT,
      WSG_FIELD(struct wsg_endpoint_cfg, subprotocols), .check = check_token,
      .count_offset = offsetof(struct wsg_endpoint_cfg, nsubprotocols) },
    { .name = "subprotocol_required", .set = set_bool, .where = WSG_IN_ENDPOINT,
      WSG_FIELD(struct wsg_endpoint_cfg, subprotocol_required) },
    { .name = "allowed_origins", .set = set_string_list, .where = WSG_IN_ENDPOINT,
      WSG_FIELD(struct wsg_endpoint_cfg, allowed_origins), .check = check_origin,
      .count_offset = offsetof(struct wsg_endpoint_cfg, norigins) },
    { .name = "limits", .set = set_group, .where = WSG_IN_ENDPOINT,
      WSG_FIELD(struct wsg_endpoint_cfg, limits), .aux = &wsg_endpoint_limits_group },
    { .name = "compression", .set = set_group, .where = WSG_IN_ENDPOINT,
      WSG_FIELD(struct wsg_endpoint_cfg, compression), .aux = &wsg_compression_group },
    { .name = NULL },
};

static int
check_endpoint(struct wsg_cfg_parser *p, const config_setting_t *group, void *base)
{
    const struct wsg_endpoint_cfg *ep = base;
    if (ep->subprotocol_required && ep->nsubprotocols == 0)
        return cfg_error(p, config_setting_get_member(group, "subprotocol_required"),
                         "subprotocol_required is true but subprotocols is empty: "
                         "every client would be refused");
    return 0;
}

static const struct wsg_cfg_group wsg_endpoint_group = {
    "in endpoints", WSG_IN_ENDPOINT, wsg_endpoint_keys, check_endpoint,
};

static int set_listen(struct wsg_cfg_parser *p, const config_setting_t *s,
                      const struct wsg_cfg_key *key, void *base);
static int set_endpoints(struct wsg_cfg_parser *p, const config_setting_t *s,
                         const struct wsg_cfg_key *key, void *base);

/* Order matters: endpoints must come after limits and compression, which
 * they inherit. */
static const struct wsg_cfg_key wsg_top_keys[] = {
    { .name = "listen", .set = set_listen, .where = WSG_IN_TOP, .flags = WSG_REQUIRED },
    { .name = "module_dir", .set = set_string, .where = WSG_IN_TOP,
      WSG_FIELD(struct wsg_config, module_dir) },
    { .name = "workers", .set = set_workers, .where = WSG_IN_TOP,
      WSG_FIELD(struct wsg_config, workers), .min = 1, .max = WSG_MAX_WORKERS },
    { .name = "user", .set = set_string, .where = WSG_IN_TOP,
      WSG_FIELD(struct wsg_config, user) },
    { .name = "group", .set = set_string, .where = WSG_IN_TOP,
      WSG_FIELD(struct wsg_config, group) },
    { .name = "trusted_proxies", .set = set_cidr_list, .where = WSG_IN_TOP,
      WSG_FIELD(struct wsg_config, trusted_proxies),
      .count_offset = offsetof(struct wsg_config, ntrusted_proxies) },
    { .name = "log", .set = set_group, .where = WSG_IN_TOP, .offset = 0,
      .aux = &wsg_log_group },
    { .name = "limits", .set = set_group, .where = WSG_IN_TOP,
      WSG_FIELD(struct wsg_config, limits), .aux = &wsg_limits_group },
    { .name = "compression", .set = set_group, .where = WSG_IN_TOP,
      WSG_FIELD(struct wsg_config, compression), .aux = &wsg_compression_group },
    { .name = "endpoints", .set = set_endpoints, .where = WSG_IN_TOP, .flags = WSG_REQUIRED },
    { .name = "metrics", .set = set_metrics, .where = WSG_IN_TOP },
    { .name = NULL },
};

static const struct wsg_cfg_group wsg_top_group = {
    "at top level", WSG_IN_TOP, wsg_top_keys, NULL,
};

/* ---- the group driver ------------------------------------------------- */

static const struct wsg_cfg_key *
find_key(const struct wsg_cfg_key *keys, const char *name)
{
    for (const struct wsg_cfg_key *k = keys; k->name != NULL; k++) {
        if (strcmp(k->name, name) == 0)
            return k;
    }
    return NULL;
}

static int
unknown_key(struct wsg_cfg_parser *p, const config_setting_t *s,
            const struct wsg_cfg_group *schema)
{
    const char *name = config_setting_name(s);
    const struct wsg_cfg_key *k = find_key(schema->keys, name);
    if (k != NULL && schema->where == WSG_IN_ENDPOINT_LIMITS)
        return cfg_error(p, s, "%s is global only: set it in the top-level limits", name);

    char valid[512] = "";
    for (k = schema->keys; k->name != NULL; k++) {
        if (!(k->where & schema->where))
            continue;
        size_t used = strlen(valid);
        snprintf(valid + used, sizeof(valid) - used, "%s%s", used ? ", " : "", k->name);
    }
    return cfg_error(p, s, "unknown key \"%s\" %s (valid: %s)", name, schema->in, valid);
}

static int
parse_group(struct wsg_cfg_parser *p, const config_setting_t *group,
            const struct wsg_cfg_group *schema, void *base)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const struct wsg_cfg_key *k = find_key(schema->keys, config_setting_name(s));
        if (k == NULL || !(k->where & schema->where))
            return unknown_key(p, s, schema);
    }
    for (const struct wsg_cfg_key *k = schema->keys; k->name != NULL; k++) {
        const config_setting_t *s = config_setting_get_member(group, k->name);
        if (s == NULL) {
            if (k->flags & WSG_REQUIRED)
                return cfg_error(p, group, "missing required key \"%s\" %s",
                                 k->name, schema->in);
            continue;
        }
        if (k->set(p, s, k, base) != 0)
            return -1;
    }
    return schema->check != NULL ? schema->check(p, group, base) : 0;
}

/* ---- listen and endpoints: lists of groups ---------------------------- */

static int
check_list_of_groups(struct wsg_cfg_parser *p, const config_setting_t *s, const char *name)
{
    if (!config_setting_is_list(s))
        return cfg_error(p, s, "%s must be a list of groups: %s = ( { ... }, ... );",
                         name, name);
    if (config_setting_length(s) == 0)
        return cfg_error(p, s, "%s must have at least one entry", name);
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (!config_setting_is_group(e))
            return cfg_error(p, e, "%s entries must be groups { ... }", name);
    }
    return 0;
}

/* Same address and port, compared as addresses so "::1" and "0::1" match. */
static bool
same_listener(const struct wsg_listen_cfg *a, const struct wsg_listen_cfg *b)
{
    unsigned char x[sizeof(struct in6_addr)] = { 0 }, y[sizeof(struct in6_addr)] = { 0 };
    if (a->port != b->port)
        return false;
    int fa = inet_pton(AF_INET, a->address, x) == 1 ? AF_INET : AF_INET6;
    int fb = inet_pton(AF_INET, b->address, y) == 1 ? AF_INET : AF_INET6;
    if (fa != fb)
        return false;
    if (fa == AF_INET6) {
        inet_pton(AF_INET6, a->address, x);
        inet_pton(AF_INET6, b->address, y);
    }
    return memcmp(x, y, sizeof(x)) == 0;
}

/* sni = ( { certificate = "..."; private_key = "..."; }, ... ); */
static int
set_sni(struct wsg_cfg_parser *p, const config_setting_t *s,
        const struct wsg_cfg_key *key, void *base)
{
    struct wsg_tls_cfg *tls = base;
    if (check_list_of_groups(p, s, key->name) != 0)
        return -1;
    size_t n = (size_t)config_setting_length(s);
    if ((tls->sni = calloc(n, sizeof(*tls->sni))) == NULL)
        return cfg_error(p, s, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        tls->nsni = i + 1;
        tls->sni[i].line = (int)config_setting_source_line(e);
        if (parse_group(p, e, &wsg_sni_group, &tls->sni[i]) != 0)
            return -1;
    }
    return 0;
}

static int
set_listen(struct wsg_cfg_parser *p, const config_setting_t *s,
           const struct wsg_cfg_key *key, void *base)
{
    struct wsg_config *cfg = base;
    if (check_list_of_groups(p, s, key->name) != 0)
        return -1;
    size_t n = (size_t)config_setting_length(s);
    if ((cfg->listen = calloc(n, sizeof(*cfg->listen))) == NULL)
        return cfg_error(p, s, "out of memory");

    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct wsg_listen_cfg *l = &cfg->listen[i];
        cfg->nlisten = i + 1;
        l->line = (int)config_setting_source_line(e);
        l->backlog = WSG_DEFAULT_BACKLOG;
        if ((l->address = strdup(WSG_DEFAULT_ADDRESS)) == NULL)
            return cfg_error(p, e, "out of memory");
        if (parse_group(p, e, &wsg_listen_group, l) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (!same_listener(&cfg->listen[j], l))
                continue;
            char place[300];
            describe_place(p, config_setting_get_elem(s, (unsigned)j), e,
                           place, sizeof(place));
            bool v6 = strchr(l->address, ':') != NULL;
            return cfg_error(p, e, "listen %s%s%s:%u already used at %s",
                             v6 ? "[" : "", l->address, v6 ? "]" : "",
                             (unsigned)l->port, place);
        }
    }
    return 0;
}

static int
set_endpoints(struct wsg_cfg_parser *p, const config_setting_t *s,
              const struct wsg_cfg_key *key, void *base)
{
    struct wsg_config *cfg = base;
    if (check_list_of_groups(p, s, key->name) != 0)
        return -1;
    size_t n = (size_t)config_setting_length(s);
    if ((cfg->endpoints = calloc(n, sizeof(*cfg->endpoints))) == NULL)
        return cfg_error(p, s, "out of memory");

    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct wsg_endpoint_cfg *ep = &cfg->endpoints[i];
        cfg->nendpoints = i + 1;
        ep->line = (int)config_setting_source_line(e);
        ep->limits = cfg->limits;
        ep->compression = cfg->compression;
        if (parse_group(p, e, &wsg_endpoint_group, ep) != 0)
            return -1;
        const config_setting_t *mod = config_setting_get_member(e, "module");
        ep->module_line = mod != NULL ? (int)config_setting_source_line(mod) : ep->line;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->endpoints[j].path, ep->path) != 0)
                continue;
            const config_setting_t *earlier = config_setting_get_member(
                config_setting_get_elem(s, (unsigned)j), "path");
            const config_setting_t *now = config_setting_get_member(e, "path");
            char place[300];
            describe_place(p, earlier, now, place, sizeof(place));
            return cfg_error(p, now, "endpoint path \"%s\" already used at %s",
                             ep->path, place);
        }
    }
    return 0;
}

/* ---- loading ---------------------------------------------------------- */

/* Configurations loaded so far: a module tells its instances of one load
 * from another's by it (wsg_module_ctx.generation). */
static unsigned long loads;

static struct wsg_config *
cfg_new(const char *file)
{
    struct wsg_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return NULL;
    config_init(&cfg->lc);
    cfg->refs = 1;
    cfg->generation = __atomic_add_fetch(&loads, 1, __ATOMIC_RELAXED);
    cfg->workers = 1;
    cfg->limits = wsg_default_limits;
    cfg->compression = wsg_default_compression;
    cfg->log_level = LOG_INFO;
    cfg->log_target = WSG_LOG_STDERR;
    if ((cfg->file = strdup(file)) == NULL) {
        wsg_cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

static void
write_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
write_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The text is parsed; check it against the schema. */
static struct wsg_config *
cfg_finish(struct wsg_config *cfg, const char *name, char *err, size_t errlen)
{
    struct wsg_cfg_parser p = { .name = name, .err = err, .errlen = errlen };
    if (parse_group(&p, config_root_setting(&cfg->lc), &wsg_top_group, cfg) != 0) {
        wsg_cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

static void
parse_failed(const struct wsg_config *cfg, const char *name, char *err, size_t errlen)
{
    const char *file = config_error_file(&cfg->lc);
    const char *text = config_error_text(&cfg->lc);
    write_error(err, errlen, "%s:%d: %s", file != NULL ? file : name,
                config_error_line(&cfg->lc), text != NULL ? text : "parse error");
}

struct wsg_config *
wsg_cfg_load_file(const char *path, char *err, size_t errlen)
{
    struct wsg_config *cfg = cfg_new(path);
    if (cfg == NULL) {
        write_error(err, errlen, "%s: out of memory", path);
        return NULL;
    }

    /* @include "x.conf" is relative to the including file's directory,
     * not to wherever the daemon was started from. */
    const char *slash = strrchr(path, '/');
    if (slash != NULL) {
        char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
        if (dir == NULL) {
            write_error(err, errlen, "%s: out of memory", path);
            wsg_cfg_free(cfg);
            return NULL;
        }
        config_set_include_dir(&cfg->lc, dir);   /* libconfig keeps a copy */
        free(dir);
    }

    /* fopen() takes a directory and libconfig then fails with no errno. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        write_error(err, errlen, "%s: %s", path, strerror(EISDIR));
        wsg_cfg_free(cfg);
        return NULL;
    }
    errno = 0;
    if (!config_read_file(&cfg->lc, path)) {
        int e = errno;
        if (config_error_type(&cfg->lc) == CONFIG_ERR_FILE_IO)
            write_error(err, errlen, "%s: %s", path,
                        e != 0 ? strerror(e) : "cannot read the file");
        else
            parse_failed(cfg, path, err, errlen);
        wsg_cfg_free(cfg);
        return NULL;
    }
    return cfg_finish(cfg, path, err, errlen);
}

struct wsg_config *
wsg_cfg_load_string(const char *text, const char *name, char *err, size_t errlen)
{
    struct wsg_config *cfg = cfg_new(name);
    if (cfg == NULL) {
        write_error(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    if (!config_read_string(&cfg->lc, text)) {
        parse_failed(cfg, name, err, errlen);
        wsg_cfg_free(cfg);
        return NULL;
    }
    return cfg_finish(cfg, name, err, errlen);
}

const char *
wsg_cfg_default_text(void)
{
    return
        "# wsgated's embedded default: used when no configuration file is given.\n"
        "listen = ( { address = \"127.0.0.1\"; port = 8080; } );\n"
        "endpoints = (\n"
        "    { path = \"/echo\"; module = \"echo\"; },\n"
        "    { path = \"/broadcast\"; match = \"prefix\"; module = \"broadcast\";\n"
        "      options = { room = \"path\"; }; }\n"
        ");\n";
}

static bool
endpoint_matches(const struct wsg_endpoint_cfg *ep, const char *path, size_t len)
{
    size_t n = strlen(ep->path);
    if (len < n || memcmp(ep->path, path, n) != 0)
        return false;
    if (len == n)
        return true;
    /* "/broadcast" as a prefix serves "/broadcast/lobby", not "/broadcasts". */
    return ep->match == WSG_MATCH_PREFIX && (path[n] == '/' || ep->path[n - 1] == '/');
}

/* A linear scan: a handful of endpoints, compared once per handshake.  An
 * exact path wins; among prefixes, the longest. */
const struct wsg_endpoint_cfg *
wsg_cfg_find_endpoint(const struct wsg_config *cfg, const char *path, size_t len)
{
    if (cfg == NULL || path == NULL)
        return NULL;
    const struct wsg_endpoint_cfg *best = NULL;
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const struct wsg_endpoint_cfg *ep = &cfg->endpoints[i];
        if (!endpoint_matches(ep, path, len))
            continue;
        if (strlen(ep->path) == len)
            return ep;
        if (best == NULL || strlen(ep->path) > strlen(best->path))
            best = ep;
    }
    return best;
}

void
wsg_cfg_ref(struct wsg_config *cfg)
{
    __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
}

static void
free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
wsg_cfg_free(struct wsg_config *cfg)
{
    if (cfg == NULL || __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < cfg->nlisten; i++) {
        struct wsg_listen_cfg *l = &cfg->listen[i];
        free(l->address);
        if (l->tls != NULL) {
            for (size_t j = 0; j < l->tls->nsni; j++) {
                free(l->tls->sni[j].certificate);
                free(l->tls->sni[j].private_key);
            }
            free(l->tls->sni);
            free(l->tls->certificate);
            free(l->tls->private_key);
            free(l->tls->ca_file);
            free(l->tls);
        }
    }
    free(cfg->listen);
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        struct wsg_endpoint_cfg *ep = &cfg->endpoints[i];
        free(ep->path);
        free(ep->module);
        free_strings(ep->subprotocols, ep->nsubprotocols);
        free_strings(ep->allowed_origins, ep->norigins);
    }
    free(cfg->endpoints);
    free(cfg->module_dir);
    free(cfg->user);
    free(cfg->group);
    free(cfg->trusted_proxies);
    free(cfg->access_log);
    if (cfg->metrics != NULL)
        free(cfg->metrics->address);
    free(cfg->metrics);
    free(cfg->file);
    config_destroy(&cfg->lc);
    free(cfg);
}
