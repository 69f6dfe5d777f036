/*
 * url.c - ws:// and wss:// URLs (RFC 6455 3, RFC 3986 3) for the client.
 *
 *   ws-URI  = "ws:"  "//" host [ ":" port ] path [ "?" query ]
 *   wss-URI = "wss:" "//" host [ ":" port ] path [ "?" query ]
 *
 * Strict on purpose: what reaches the request line and the Host header is
 * exactly what the user typed, so anything that would need guessing (user
 * information, fragments, raw spaces or non-ASCII, an empty port) is an
 * error that says what is wrong rather than a silent rewrite.
 */
#include "opts.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
wsg_client_strerror(enum wsg_client_err err)
{
    switch (err) {
    case WSG_CLIENT_OK: return "success";
    case WSG_CLIENT_ERR_URL: return "invalid URL";
    case WSG_CLIENT_ERR_OPTION: return "invalid option";
    case WSG_CLIENT_ERR_NOMEM: return "out of memory";
    case WSG_CLIENT_ERR_CONNECT: return "connection failed";
    case WSG_CLIENT_ERR_TLS: return "TLS failure";
    case WSG_CLIENT_ERR_HANDSHAKE: return "handshake failed";
    case WSG_CLIENT_ERR_PROTOCOL: return "protocol error";
    case WSG_CLIENT_ERR_TIMEOUT: return "timed out";
    case WSG_CLIENT_ERR_CONNECTION_LOST: return "connection lost";
    case WSG_CLIENT_ERR_CLOSED: return "connection closed";
    case WSG_CLIENT_ERR_STATE: return "not possible in this state";
    }
    return "unknown error";
}

enum wsg_client_err
wsg_client_errf(enum wsg_client_err e, char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return e;
}

void
wsg_client_url_clear(struct wsg_client_url *u)
{
    if (u == NULL)
        return;
    free(u->host);
    free(u->target);
    free(u->host_header);
    memset(u, 0, sizeof(*u));
}

/* RFC 3986 reg-name, less pct-encoded and sub-delims: what DNS names and
 * IPv4 literals are made of. */
static bool
is_host_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}

/* Characters allowed raw in a request target: visible ASCII. */
static bool
is_target_char(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f;
}

/* The scheme: "ws://" or "wss://", any case.  Returns the length of the
 * prefix, or 0 with a message. */
static size_t
parse_scheme(const char *url, bool *tls, char *err, size_t errlen)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL) {
        wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                        "not a ws:// or wss:// URL: \"%.64s\"", url);
        return 0;
    }
    size_t n = (size_t)(sep - url);
    if (n == 2 && strncasecmp(url, "ws", 2) == 0) {
        *tls = false;
    } else if (n == 3 && strncasecmp(url, "wss", 3) == 0) {
        *tls = true;
    } else {
        wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                        "unsupported scheme \"%.*s\" (use ws:// or wss://)",
                        (int)(n > 32 ? 32 : n), url);
        return 0;
    }
    return n + 3;
}

static enum wsg_client_err
parse_port(const char *s, size_t n, uint16_t *port, char *err, size_t errlen)
{
    if (n == 0)
        return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                               "empty port after ':'");
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "port \"%.*s\" is not a number",
                                   (int)(n > 16 ? 16 : n), s);
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v > 65535)
            break;
    }
    if (v == 0 || v > 65535)
        return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                               "port %.*s is out of range (1-65535)",
                               (int)(n > 16 ? 16 : n), s);
    *port = (uint16_t)v;
    return WSG_CLIENT_OK;
}

/* host [ ":" port ] in auth[0..n): fills u->host, host_is_ip and port. */
static enum wsg_client_err
parse_authority(const char *auth, size_t n, struct wsg_client_url *u,
                char *err, size_t errlen)
{
    const char *host, *rest;
    size_t host_len;

    if (memchr(auth, '@', n) != NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                               "user information (user@host) is not allowed in a "
                               "WebSocket URL");
    if (n > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', n);
        if (close == NULL)
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "IPv6 address without its closing ']'");
        host = auth + 1;
        host_len = (size_t)(close - host);
        rest = close + 1;
        char tmp[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (host_len == 0 || host_len >= sizeof(tmp))
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "invalid IPv6 address \"[%.*s]\"",
                                   (int)(host_len > 64 ? 64 : host_len), host);
        memcpy(tmp, host, host_len);
        tmp[host_len] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "invalid IPv6 address \"[%s]\"", tmp);
        u->host_is_ip = true;
        if (rest < auth + n && *rest != ':')
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "unexpected \"%c\" after the IPv6 address", *rest);
    } else {
        const char *colon = memchr(auth, ':', n);
        host = auth;
        host_len = colon != NULL ? (size_t)(colon - auth) : n;
        rest = auth + host_len;
        if (host_len == 0)
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen, "no host in the URL");
        for (size_t i = 0; i < host_len; i++)
            if (!is_host_char((unsigned char)host[i]))
                return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                       "invalid character '%c' (0x%02x) in the host",
                                       host[i] > 0x20 && host[i] < 0x7f ? host[i] : '?',
                                       (unsigned char)host[i]);
        if (host_len > 253)
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "host name longer than 253 characters");
    }

    u->host = strndup(host, host_len);
    if (u->host == NULL)
        return WSG_CLIENT_ERR_NOMEM;
    if (!u->host_is_ip) {
        struct in_addr a4;
        u->host_is_ip = inet_pton(AF_INET, u->host, &a4) == 1;
    }

    u->port = u->tls ? 443 : 80;
    if (rest < auth + n) /* *rest == ':' */
        return parse_port(rest + 1, (size_t)(auth + n - rest - 1), &u->port, err, errlen);
    return WSG_CLIENT_OK;
}

static enum wsg_client_err
parse_target(const char *p, struct wsg_client_url *u, char *err, size_t errlen)
{
    for (const char *q = p; *q != '\0'; q++) {
        if (*q == '#')
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "fragments (#...) are not allowed in a WebSocket URL");
        if (!is_target_char((unsigned char)*q))
            return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                                   "invalid character 0x%02x in the path or query "
                                   "(percent-encode it as %%XX)", (unsigned char)*q);
    }
    /* "ws://host" and "ws://host?q" have the path "/" (RFC 6455 3). */
    size_t n = strlen(p);
    u->target = malloc(n + 2);
    if (u->target == NULL)
        return WSG_CLIENT_ERR_NOMEM;
    if (p[0] == '/') {
        memcpy(u->target, p, n + 1);
    } else {
        u->target[0] = '/';
        memcpy(u->target + 1, p, n + 1);
    }
    return WSG_CLIENT_OK;
}

static enum wsg_client_err
make_host_header(struct wsg_client_url *u)
{
    bool v6 = strchr(u->host, ':') != NULL;
    bool default_port = u->port == (u->tls ? 443 : 80);
    size_t cap = strlen(u->host) + 3 + 6 + 1;
    u->host_header = malloc(cap);
    if (u->host_header == NULL)
        return WSG_CLIENT_ERR_NOMEM;
    int n = snprintf(u->host_header, cap, v6 ? "[%s]" : "%s", u->host);
    if (!default_port)
        snprintf(u->host_header + n, cap - (size_t)n, ":%u", (unsigned)u->port);
    return WSG_CLIENT_OK;
}

enum wsg_client_err
wsg_client_url_parse(const char *url, struct wsg_client_url *u, char *err, size_t errlen)
{
    enum wsg_client_err e;

    if (u == NULL)
        return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen, "no URL");
    memset(u, 0, sizeof(*u));
    if (url == NULL || url[0] == '\0')
        return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen, "empty URL");
    if (strlen(url) > WSG_CLIENT_URL_MAX)
        return wsg_client_errf(WSG_CLIENT_ERR_URL, err, errlen,
                               "URL longer than %d bytes", WSG_CLIENT_URL_MAX);

    size_t skip = parse_scheme(url, &u->tls, err, errlen);
    if (skip == 0)
        return WSG_CLIENT_ERR_URL;
    const char *auth = url + skip;
    size_t auth_len = strcspn(auth, "/?#");

    e = parse_authority(auth, auth_len, u, err, errlen);
    if (e == WSG_CLIENT_OK)
        e = parse_target(auth + auth_len, u, err, errlen);
    if (e == WSG_CLIENT_OK)
        e = make_host_header(u);
    if (e != WSG_CLIENT_OK) {
        if (e == WSG_CLIENT_ERR_NOMEM)
            wsg_client_errf(e, err, errlen, "out of memory");
        wsg_client_url_clear(u);
    }
    return e;
}
