/*
 * forwarded.c - who the client is behind a reverse proxy.
 *
 * A proxy appends the address it got a request from to X-Forwarded-For
 * (nginx: $proxy_add_x_forwarded_for) or adds a for= element to Forwarded
 * (RFC 7239), so the list reads client, proxy1, proxy2... and only its
 * right end was written by someone we trust.  We therefore walk it from
 * the right, skipping hops that are trusted proxies themselves, and take
 * the first that is not: what a client wrote further left is never
 * believed.  A hop that is not an address ("unknown", an obfuscated
 * "_node") ends the walk.  Nothing here is consulted unless the socket's
 * peer is in trusted_proxies.
 */
#include "forwarded.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handshake.h"

#define FWD_MAX_HOPS 32

struct fwd_hop {
    uint8_t bin[16];
    char text[INET6_ADDRSTRLEN];
    unsigned port;
    bool valid;                 /* an address, not "unknown" or "_hidden" */
};

struct fwd_hops {
    struct fwd_hop hop[FWD_MAX_HOPS];
    size_t n;
};

static bool
is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]:80", maybe in
 * double quotes (Forwarded).  False if it is not an address. */
static bool
parse_hop(const char *s, size_t len, struct fwd_hop *h)
{
    while (len > 0 && is_space(*s))
        s++, len--;
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
        s++, len -= 2;
    char buf[INET6_ADDRSTRLEN + 16];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';

    char *addr = buf, *port = NULL;
    if (buf[0] == '[') {
        char *end = strchr(buf, ']');
        if (end == NULL)
            return false;
        *end = '\0';
        addr = buf + 1;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            return false;
    } else {
        char *colon = strchr(buf, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) { /* v4:port */
            *colon = '\0';
            port = colon + 1;
        }
    }
    h->port = 0;
    if (port != NULL) {
        char *end;
        unsigned long p = strtoul(port, &end, 10);
        if (*port != '\0' && *end == '\0' && p <= 65535) /* else "_obf": no port */
            h->port = (unsigned)p;
    }
    if (!wsg_addr_parse(addr, h->bin))
        return false;
    if (strchr(addr, ':') != NULL) {
        struct in6_addr a6;
        memcpy(&a6, h->bin, sizeof(a6));
        inet_ntop(AF_INET6, &a6, h->text, sizeof(h->text));
    } else {
        snprintf(h->text, sizeof(h->text), "%s", addr);
    }
    return true;
}

static void
add_hop(struct fwd_hops *hops, const char *s, size_t len)
{
    struct fwd_hop h;
    h.valid = parse_hop(s, len, &h);
    if (hops->n == FWD_MAX_HOPS) { /* keep the right end: that is what we trust */
        memmove(&hops->hop[0], &hops->hop[1], sizeof(hops->hop[0]) * (FWD_MAX_HOPS - 1));
        hops->n--;
    }
    hops->hop[hops->n++] = h;
}

/* Every X-Forwarded-For line, in order, as one list. */
static void
collect_xff(const struct wsg_header *hdrs, size_t n, struct fwd_hops *hops)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, "X-Forwarded-For") != 0)
            continue;
        const char *v = hdrs[i].value;
        for (;;) {
            const char *comma = strchr(v, ',');
            size_t len = comma != NULL ? (size_t)(comma - v) : strlen(v);
            add_hop(hops, v, len);
            if (comma == NULL)
                break;
            v = comma + 1;
        }
    }
}

/* The end of the element or pair starting at s: the next sep outside a
 * quoted string. */
static const char *
next_sep(const char *s, const char *end, char sep)
{
    bool quoted = false;
    for (; s < end; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (*s == '\\' && quoted && s + 1 < end)
            s++;
        else if (*s == sep && !quoted)
            return s;
    }
    return end;
}

/* The value of param (for, proto) in one Forwarded element, or NULL. */
static const char *
forwarded_param(const char *el, const char *end, const char *param, size_t *len)
{
    size_t plen = strlen(param);
    while (el < end) {
        const char *pair_end = next_sep(el, end, ';');
        const char *p = el;
        while (p < pair_end && is_space(*p))
            p++;
        if ((size_t)(pair_end - p) > plen && strncasecmp(p, param, plen) == 0
            && p[plen] == '=') {
            *len = (size_t)(pair_end - (p + plen + 1));
            return p + plen + 1;
        }
        el = pair_end + 1;
    }
    return NULL;
}

/* Forwarded: the for= of each element, in order; the last proto=. */
static void
collect_forwarded(const struct wsg_header *hdrs, size_t n, struct fwd_hops *hops,
                  int *secure)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, "Forwarded") != 0)
            continue;
        const char *v = hdrs[i].value, *end = v + strlen(v);
        while (v < end) {
            const char *el_end = next_sep(v, end, ',');
            size_t len;
            const char *f = forwarded_param(v, el_end, "for", &len);
            if (f != NULL)
                add_hop(hops, f, len);
            const char *proto = forwarded_param(v, el_end, "proto", &len);
            if (proto != NULL)
                *secure = (len == 5 && strncasecmp(proto, "https", 5) == 0)
                          || (len == 3 && strncasecmp(proto, "wss", 3) == 0);
            v = el_end + 1;
        }
    }
}

/* X-Forwarded-Proto as the nearest proxy set it: its last value. */
static int
forwarded_proto(const struct wsg_header *hdrs, size_t n)
{
    int secure = -1;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, "X-Forwarded-Proto") != 0)
            continue;
        const char *v = strrchr(hdrs[i].value, ',');
        v = v != NULL ? v + 1 : hdrs[i].value;
        while (is_space(*v))
            v++;
        size_t len = strlen(v);
        while (len > 0 && is_space(v[len - 1]))
            len--;
        if ((len == 5 && strncasecmp(v, "https", 5) == 0)
            || (len == 3 && strncasecmp(v, "wss", 3) == 0))
            secure = 1;
        else if ((len == 4 && strncasecmp(v, "http", 4) == 0)
                 || (len == 2 && strncasecmp(v, "ws", 2) == 0))
            secure = 0;
    }
    return secure;
}

static bool
has_header(const struct wsg_header *hdrs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, name) == 0)
            return true;
    }
    return false;
}

bool
wsg_forwarded_client(const struct wsg_cidr *trusted, size_t n, const char *tcp_addr,
                     const struct wsg_header *hdrs, size_t nhdrs,
                     struct wsg_forwarded *out)
{
    uint8_t peer[16];
    if (n == 0 || !wsg_addr_parse(tcp_addr, peer) || !wsg_cidr_list_match(trusted, n, peer))
        return false;

    struct fwd_hops *hops = calloc(1, sizeof(*hops));
    if (hops == NULL)
        return false;
    int secure = -1;
    if (has_header(hdrs, nhdrs, "X-Forwarded-For"))
        collect_xff(hdrs, nhdrs, hops);
    else
        collect_forwarded(hdrs, nhdrs, hops, &secure);
    int xfp = forwarded_proto(hdrs, nhdrs);
    if (xfp >= 0)
        secure = xfp;

    /* From the right: trusted proxies are skipped, the first other hop is
     * the client.  A hop that is not an address names nobody: stop. */
    const struct fwd_hop *client = NULL;
    for (size_t i = hops->n; i-- > 0;) {
        if (!hops->hop[i].valid) {
            client = NULL;
            break;
        }
        client = &hops->hop[i];
        if (!wsg_cidr_list_match(trusted, n, client->bin))
            break;
    }
    out->addr[0] = '\0';
    out->port = 0;
    if (client != NULL) {
        snprintf(out->addr, sizeof(out->addr), "%s", client->text);
        out->port = client->port;
    }
    out->secure = secure;
    free(hops);
    return true;
}
