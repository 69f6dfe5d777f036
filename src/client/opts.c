/*
 * opts.c - client options: defaults, validating setters, deep copy.
 *
 * Every string is checked here, when the caller sets it, so that a bad
 * header or subprotocol is reported against the option that holds it
 * instead of surfacing later as a request the core refuses to build.
 */
#include "opts.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wsg_client_opts *
wsg_client_opts_new(void)
{
    struct wsg_client_opts *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->connect_timeout_ms = WSG_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
    o->handshake_timeout_ms = WSG_CLIENT_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    o->close_timeout_ms = WSG_CLIENT_DEFAULT_CLOSE_TIMEOUT_MS;
    o->max_message = WSG_CLIENT_DEFAULT_MAX_MESSAGE;
    o->verify_host = true;
    return o;
}

void
wsg_client_opts_free(struct wsg_client_opts *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->nprotocols; i++)
        free(o->protocols[i]);
    free(o->protocols);
    for (size_t i = 0; i < o->nheaders; i++) {
        free((char *)o->headers[i].name);
        free((char *)o->headers[i].value);
    }
    free(o->headers);
    free(o->origin);
    free(o->ca_file);
    free(o->sni);
    free(o);
}

/* RFC 7230 3.2.6 tchar. */
static bool
is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool
is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* A field value: visible characters, spaces and tabs, and obs-text
 * (bytes >= 0x80) which HTTP allows; no CR, LF, NUL or other controls. */
static bool
is_field_value(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

static char *
dup_trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

enum wsg_client_err
wsg_client_opts_add_protocol(struct wsg_client_opts *o, const char *protocol,
                             char *err, size_t errlen)
{
    if (o == NULL || protocol == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "no subprotocol given");
    if (!is_token(protocol, strlen(protocol)))
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                               "subprotocol \"%.64s\" is not an HTTP token "
                               "(no spaces, commas or separators)", protocol);
    for (size_t i = 0; i < o->nprotocols; i++)
        if (strcmp(o->protocols[i], protocol) == 0)
            return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                                   "subprotocol \"%.64s\" offered twice", protocol);
    char **p = realloc(o->protocols, (o->nprotocols + 1) * sizeof(*p));
    if (p == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    o->protocols = p;
    if ((p[o->nprotocols] = strdup(protocol)) == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    o->nprotocols++;
    return WSG_CLIENT_OK;
}

/* Headers the library writes itself: a second copy would make the
 * handshake ambiguous (RFC 6455 4.1 requires exactly one of each). */
static bool
is_reserved_header(const char *name)
{
    static const char *const reserved[] = {
        "Host", "Upgrade", "Connection", "Origin", "Content-Length",
        "Transfer-Encoding",
    };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    return strncasecmp(name, "Sec-WebSocket-", 14) == 0;
}

static enum wsg_client_err
add_header(struct wsg_client_opts *o, char *name, char *value, char *err, size_t errlen)
{
    enum wsg_client_err e = WSG_CLIENT_OK;
    if (name == NULL || value == NULL) {
        e = wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    } else if (!is_token(name, strlen(name))) {
        e = wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                            "header name \"%.64s\" is not an HTTP token", name);
    } else if (is_reserved_header(name)) {
        e = wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                            "header %.64s is set by the client itself "
                            "(use the subprotocol or origin option)", name);
    } else if (!is_field_value(value)) {
        e = wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                            "value of header %.64s holds a control character "
                            "(CR, LF, ...)", name);
    }
    if (e == WSG_CLIENT_OK) {
        struct wsg_header *h = realloc(o->headers, (o->nheaders + 1) * sizeof(*h));
        if (h == NULL) {
            e = wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
        } else {
            o->headers = h;
            h[o->nheaders++] = (struct wsg_header){
                .name = name, .name_len = strlen(name),
                .value = value, .value_len = strlen(value),
            };
            return WSG_CLIENT_OK;
        }
    }
    free(name);
    free(value);
    return e;
}

enum wsg_client_err
wsg_client_opts_add_header(struct wsg_client_opts *o, const char *name,
                           const char *value, char *err, size_t errlen)
{
    if (o == NULL || name == NULL || value == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "no header given");
    if (!is_field_value(value)) /* before trimming hides a trailing CR/LF */
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                               "value of header %.64s holds a control character "
                               "(CR, LF, ...)", name);
    return add_header(o, strdup(name), dup_trimmed(value, strlen(value)), err, errlen);
}

enum wsg_client_err
wsg_client_opts_add_header_line(struct wsg_client_opts *o, const char *line,
                                char *err, size_t errlen)
{
    if (o == NULL || line == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "no header given");
    const char *colon = strchr(line, ':');
    if (colon == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                               "header \"%.64s\" is not \"Name: value\"", line);
    if (!is_field_value(colon + 1))
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                               "value of header %.*s holds a control character "
                               "(CR, LF, ...)", (int)((colon - line) > 64 ? 64 : colon - line),
                               line);
    /* No trimming of the name: "Name : v" is invalid HTTP (RFC 7230 3.2.4). */
    return add_header(o, strndup(line, (size_t)(colon - line)),
                      dup_trimmed(colon + 1, strlen(colon + 1)), err, errlen);
}

enum wsg_client_err
wsg_client_opts_set_origin(struct wsg_client_opts *o, const char *origin,
                           char *err, size_t errlen)
{
    if (o == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "no options");
    char *copy = NULL;
    if (origin != NULL) {
        if (origin[0] == '\0' || !is_field_value(origin))
            return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                                   "Origin must be non-empty, without control characters");
        if ((copy = strdup(origin)) == NULL)
            return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    }
    free(o->origin);
    o->origin = copy;
    return WSG_CLIENT_OK;
}

enum wsg_client_err
wsg_client_opts_set_ca_file(struct wsg_client_opts *o, const char *path,
                            char *err, size_t errlen)
{
    if (o == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "no options");
    char *copy = NULL;
    if (path != NULL) {
        if (path[0] == '\0')
            return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                                   "empty CA file name");
        if ((copy = strdup(path)) == NULL)
            return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    }
    free(o->ca_file);
    o->ca_file = copy;
    return WSG_CLIENT_OK;
}

/* A DNS name as SNI carries it (RFC 6066 3): letters, digits, '-', '_',
 * dots between labels of 1-63 characters, at most 253 in all. */
static bool
is_dns_name(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

enum wsg_client_err
wsg_client_opts_set_sni(struct wsg_client_opts *o, const char *name,
                        char *err, size_t errlen)
{
    if (o == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen, "no options");
    char *copy = NULL;
    if (name != NULL) {
        if (!is_dns_name(name))
            return wsg_client_errf(WSG_CLIENT_ERR_OPTION, err, errlen,
                                   "SNI name \"%.64s\" is not a DNS host name", name);
        if ((copy = strdup(name)) == NULL)
            return wsg_client_errf(WSG_CLIENT_ERR_NOMEM, err, errlen, "out of memory");
    }
    free(o->sni);
    o->sni = copy;
    return WSG_CLIENT_OK;
}

void
wsg_client_opts_set_connect_timeout(struct wsg_client_opts *o, unsigned ms)
{
    o->connect_timeout_ms = ms;
}

void
wsg_client_opts_set_handshake_timeout(struct wsg_client_opts *o, unsigned ms)
{
    o->handshake_timeout_ms = ms;
}

void
wsg_client_opts_set_close_timeout(struct wsg_client_opts *o, unsigned ms)
{
    o->close_timeout_ms = ms;
}

void
wsg_client_opts_set_max_message(struct wsg_client_opts *o, uint64_t bytes)
{
    o->max_message = bytes;
}

void
wsg_client_opts_set_ping_interval(struct wsg_client_opts *o, unsigned ms)
{
    o->ping_interval_ms = ms;
}

void
wsg_client_opts_set_verify_host(struct wsg_client_opts *o, bool on)
{
    o->verify_host = on;
}

void
wsg_client_opts_set_insecure(struct wsg_client_opts *o, bool on)
{
    o->insecure = on;
}

void
wsg_client_opts_set_compression(struct wsg_client_opts *o, bool enabled)
{
    if (o != NULL)
        o->compress = enabled;
}

static char *
dup_or_null(const char *s, bool *failed)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *failed = true;
    return d;
}

struct wsg_client_opts *
wsg_client_opts_copy(const struct wsg_client_opts *src)
{
    struct wsg_client_opts *o = calloc(1, sizeof(*o));
    bool failed = false;
    if (o == NULL)
        return NULL;
    *o = *src;
    o->protocols = NULL;
    o->nprotocols = 0;
    o->headers = NULL;
    o->nheaders = 0;
    o->origin = dup_or_null(src->origin, &failed);
    o->ca_file = dup_or_null(src->ca_file, &failed);
    o->sni = dup_or_null(src->sni, &failed);

    if (src->nprotocols > 0 && !failed) {
        o->protocols = calloc(src->nprotocols, sizeof(*o->protocols));
        failed = o->protocols == NULL;
        for (size_t i = 0; !failed && i < src->nprotocols; i++, o->nprotocols++)
            o->protocols[i] = dup_or_null(src->protocols[i], &failed);
    }
    if (src->nheaders > 0 && !failed) {
        o->headers = calloc(src->nheaders, sizeof(*o->headers));
        failed = o->headers == NULL;
        for (size_t i = 0; !failed && i < src->nheaders; i++, o->nheaders++) {
            o->headers[i] = src->headers[i];
            o->headers[i].name = dup_or_null(src->headers[i].name, &failed);
            o->headers[i].value = dup_or_null(src->headers[i].value, &failed);
        }
    }
    if (failed) {
        wsg_client_opts_free(o);
        return NULL;
    }
    return o;
}
