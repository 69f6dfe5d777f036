/*
 * relay.c - a WebSocket connection relayed to a byte stream: framing and
 * flow control both ways (see relay.h), and the option helpers the proxy
 * and exec modules share.
 */
#include "relay.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

void
relay_init(struct relay *r, struct wsg_conn *c, struct bufferevent *rd,
           struct bufferevent *wr, const struct relay_limits *lim)
{
    memset(r, 0, sizeof(*r));
    r->conn = c;
    r->rd = rd;
    r->wr = wr;
    r->lim = lim;
}

/* ---- client → backend -------------------------------------------------- */

int
relay_from_client(struct relay *r, const struct wsg_message *m)
{
    if (r->wr == NULL)
        return 0;
    struct evbuffer *out = bufferevent_get_output(r->wr);
    int rc = 0;
    switch (r->lim->framing) {
    case RELAY_LINES:
        rc = evbuffer_add(out, m->data, m->len) | evbuffer_add(out, "\n", 1);
        break;
    case RELAY_LENGTH_PREFIXED: {
        uint8_t h[RELAY_LP_HEADER];
        uint32_t n = htonl((uint32_t)m->len);
        memcpy(h, &n, 4);
        h[4] = m->type == WSG_MESSAGE_TEXT ? RELAY_LP_TEXT : RELAY_LP_BINARY;
        rc = evbuffer_add(out, h, sizeof(h)) | evbuffer_add(out, m->data, m->len);
        break;
    }
    case RELAY_RAW:
        rc = evbuffer_add(out, m->data, m->len);
        break;
    }
    if (r->conn != NULL && !r->client_paused
        && evbuffer_get_length(out) > r->lim->high_watermark) {
        r->client_paused = true;
        wsg_conn_pause(r->conn);
    }
    return rc == 0 ? 0 : -1;
}

void
relay_backend_drained(struct relay *r)
{
    if (!r->client_paused || r->conn == NULL)
        return;
    if (r->wr != NULL
        && evbuffer_get_length(bufferevent_get_output(r->wr)) > r->lim->high_watermark / 2)
        return;
    r->client_paused = false;
    wsg_conn_resume(r->conn);
}

void
relay_discard_client(struct relay *r)
{
    r->wr = NULL;
    relay_backend_drained(r);
}

/* ---- backend → client -------------------------------------------------- */

static void
relay_fail(struct relay *r, uint16_t code, const char *reason)
{
    r->failed = true;
    if (r->rd != NULL)
        bufferevent_disable(r->rd, EV_READ);
    if (r->conn != NULL) {
        wsg_log(LOG_INFO, "%s: backend: %s, closing with %u", wsg_conn_peer(r->conn),
                reason, code);
        wsg_conn_close(r->conn, code, reason);
    }
}

/* Send one message; false when the caller must stop (paused or closed). */
static bool
relay_send(struct relay *r, enum wsg_message_type type, const void *data, size_t len)
{
    switch (wsg_conn_send(r->conn, type, data, len)) {
    case WSG_SEND_OK:
    case WSG_SEND_DROPPED:   /* the endpoint's slow_consumer = "drop" */
        return true;
    case WSG_SEND_FULL:
        r->rd_paused = true;
        bufferevent_disable(r->rd, EV_READ);
        return false;
    case WSG_SEND_CLOSED:
        bufferevent_disable(r->rd, EV_READ);
        return false;
    case WSG_SEND_ERROR:
    default:
        relay_fail(r, RELAY_CLOSE_INTERNAL, "out of memory");
        return false;
    }
}

/* One line, if a whole one is buffered.  1: sent, 0: need more, -1: stop. */
static int
relay_next_line(struct relay *r, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    struct evbuffer_ptr p;
    evbuffer_ptr_set(in, &p, r->scanned, EVBUFFER_PTR_SET);
    p = evbuffer_search(in, "\n", 1, &p);
    if (p.pos < 0) {
        r->scanned = len;
        if (len > r->lim->max_message) {
            relay_fail(r, RELAY_CLOSE_TOO_BIG, "backend line longer than max_line");
            return -1;
        }
        return 0;
    }
    size_t n = (size_t)p.pos;
    if (n > r->lim->max_message) {
        relay_fail(r, RELAY_CLOSE_TOO_BIG, "backend line longer than max_line");
        return -1;
    }
    const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)n + 1);
    if (data == NULL) {
        relay_fail(r, RELAY_CLOSE_INTERNAL, "out of memory");
        return -1;
    }
    enum wsg_message_type type = relay_utf8_valid(data, n) ? WSG_MESSAGE_TEXT
                                                           : WSG_MESSAGE_BINARY;
    bool go_on = relay_send(r, type, data, n);
    evbuffer_drain(in, n + 1);
    r->scanned = 0;
    return go_on ? 1 : -1;
}

static int
relay_next_prefixed(struct relay *r, struct evbuffer *in)
{
    uint8_t h[RELAY_LP_HEADER];
    if (evbuffer_copyout(in, h, sizeof(h)) < (ev_ssize_t)sizeof(h))
        return 0;
    uint32_t n32;
    memcpy(&n32, h, 4);
    size_t n = ntohl(n32);
    if (h[4] != RELAY_LP_TEXT && h[4] != RELAY_LP_BINARY) {
        relay_fail(r, RELAY_CLOSE_INTERNAL, "backend sent an unknown message type");
        return -1;
    }
    if (n > r->lim->max_message) {
        relay_fail(r, RELAY_CLOSE_TOO_BIG, "backend message larger than max_message");
        return -1;
    }
    if (evbuffer_get_length(in) < sizeof(h) + n)
        return 0;
    const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)(sizeof(h) + n));
    if (data == NULL) {
        relay_fail(r, RELAY_CLOSE_INTERNAL, "out of memory");
        return -1;
    }
    if (h[4] == RELAY_LP_TEXT && !relay_utf8_valid(data + sizeof(h), n)) {
        relay_fail(r, RELAY_CLOSE_INTERNAL, "backend sent text that is not UTF-8");
        return -1;
    }
    enum wsg_message_type type = h[4] == RELAY_LP_TEXT ? WSG_MESSAGE_TEXT
                                                       : WSG_MESSAGE_BINARY;
    bool go_on = relay_send(r, type, data + sizeof(h), n);
    evbuffer_drain(in, sizeof(h) + n);
    return go_on ? 1 : -1;
}

static int
relay_next_raw(struct relay *r, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return 0;
    if (n > r->lim->max_message)
        n = r->lim->max_message;
    const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)n);
    if (data == NULL) {
        relay_fail(r, RELAY_CLOSE_INTERNAL, "out of memory");
        return -1;
    }
    bool go_on = relay_send(r, WSG_MESSAGE_BINARY, data, n);
    evbuffer_drain(in, n);
    return go_on ? 1 : -1;
}

void
relay_from_backend(struct relay *r)
{
    if (r->rd == NULL)
        return;
    struct evbuffer *in = bufferevent_get_input(r->rd);
    if (r->conn == NULL || r->failed) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    int more = 1;
    while (more > 0 && !r->rd_paused) {
        switch (r->lim->framing) {
        case RELAY_LINES: more = relay_next_line(r, in); break;
        case RELAY_LENGTH_PREFIXED: more = relay_next_prefixed(r, in); break;
        case RELAY_RAW: more = relay_next_raw(r, in); break;
        }
    }
}

void
relay_client_drained(struct relay *r)
{
    if (!r->rd_paused || r->rd == NULL || r->failed)
        return;
    r->rd_paused = false;
    if (!r->eof)
        bufferevent_enable(r->rd, EV_READ);
    relay_from_backend(r);   /* whole messages may be waiting already */
}

bool
relay_backend_eof(struct relay *r)
{
    r->eof = true;
    relay_from_backend(r);
    if (r->conn == NULL || r->failed || r->rd_paused)
        return false;
    struct evbuffer *in = bufferevent_get_input(r->rd);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return true;
    if (r->lim->framing == RELAY_LENGTH_PREFIXED) {
        relay_fail(r, RELAY_CLOSE_INTERNAL, "backend closed in the middle of a message");
        return false;
    }
    const uint8_t *data = evbuffer_pullup(in, -1);
    enum wsg_message_type type = r->lim->framing == RELAY_LINES && relay_utf8_valid(data, n)
                                 ? WSG_MESSAGE_TEXT : WSG_MESSAGE_BINARY;
    wsg_conn_send(r->conn, type, data, n);
    evbuffer_drain(in, n);
    return true;
}

/* ---- UTF-8 (RFC 3629), for text toward the client ---------------------- */

bool
relay_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, cp = c & 0x07;
        else
            return false;
        if (len - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* ---- options ------------------------------------------------------------ */

static const char *
opt_name(const config_setting_t *s)
{
    const char *n = config_setting_name(s);
    return n != NULL ? n : "?";
}

int
relay_opt_enum(const config_setting_t *s, const struct relay_name *names, int *out,
               char *err, size_t errlen)
{
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
                    ? config_setting_get_string(s) : NULL;
    char valid[160] = "";
    for (const struct relay_name *n = names; n->name != NULL; n++) {
        if (v != NULL && strcmp(v, n->name) == 0) {
            *out = n->value;
            return 0;
        }
        size_t used = strlen(valid);
        snprintf(valid + used, sizeof(valid) - used, "%s\"%s\"",
                 n == names ? "" : ", ", n->name);
    }
    if (v == NULL)
        snprintf(err, errlen, "%s must be one of %s", opt_name(s), valid);
    else
        snprintf(err, errlen, "%s must be one of %s, not \"%s\"", opt_name(s), valid, v);
    return -1;
}

int
relay_opt_bool(const config_setting_t *s, bool *out, char *err, size_t errlen)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        snprintf(err, errlen, "%s must be true or false", opt_name(s));
        return -1;
    }
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

int
relay_opt_seconds(const config_setting_t *s, uint32_t *ms, char *err, size_t errlen)
{
    int t = config_setting_type(s);
    double secs;
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
        secs = (double)config_setting_get_int64(s);
    else if (t == CONFIG_TYPE_FLOAT)
        secs = config_setting_get_float(s);
    else {
        snprintf(err, errlen, "%s must be a number of seconds", opt_name(s));
        return -1;
    }
    if (!(secs > 0 && secs <= 86400)) {
        snprintf(err, errlen, "%s must be more than 0 and at most 86400 seconds",
                 opt_name(s));
        return -1;
    }
    *ms = (uint32_t)(secs * 1000.0 + 0.5);
    if (*ms == 0)
        *ms = 1;
    return 0;
}

int
relay_opt_size(const config_setting_t *s, size_t *out, char *err, size_t errlen)
{
    int t = config_setting_type(s);
    unsigned long long v = 0;
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        long long n = config_setting_get_int64(s);
        if (n <= 0)
            goto bad;
        v = (unsigned long long)n;
    } else if (t == CONFIG_TYPE_STRING) {
        const char *str = config_setting_get_string(s);
        char *end;
        if (!isdigit((unsigned char)str[0]))
            goto bad;
        v = strtoull(str, &end, 10);
        unsigned shift = 0;
        switch (*end) {
        case 'k': case 'K': shift = 10; end++; break;
        case 'm': case 'M': shift = 20; end++; break;
        case 'g': case 'G': shift = 30; end++; break;
        default: break;
        }
        if (*end != '\0' || v == 0 || v > (1ULL << 40) >> shift)
            goto bad;
        v <<= shift;
    } else {
        goto bad;
    }
    if (v > (1ULL << 40))
        goto bad;
    *out = (size_t)v;
    return 0;
bad:
    snprintf(err, errlen, "%s must be a size greater than 0: a number of bytes or a "
             "string such as \"64K\", \"1M\"", opt_name(s));
    return -1;
}

int
relay_opt_uint(const config_setting_t *s, unsigned *out, char *err, size_t errlen)
{
    int t = config_setting_type(s);
    long long n = (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
                  ? config_setting_get_int64(s) : -1;
    if (n < 0 || n > 1000000) {
        snprintf(err, errlen, "%s must be an integer from 0 to 1000000", opt_name(s));
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

int
relay_opt_string(const config_setting_t *s, char **out, char *err, size_t errlen)
{
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
                    ? config_setting_get_string(s) : NULL;
    if (v == NULL || v[0] == '\0') {
        snprintf(err, errlen, "%s must be a non-empty string", opt_name(s));
        return -1;
    }
    char *copy = strdup(v);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(*out);
    *out = copy;
    return 0;
}

void
relay_free_strings(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

int
relay_opt_strings(const config_setting_t *s, char ***out, size_t *n, char *err,
                  size_t errlen)
{
    int t = config_setting_type(s);
    bool one = t == CONFIG_TYPE_STRING;
    int count = one ? 1 : (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)
                          ? config_setting_length(s) : -1;
    if (count <= 0) {
        snprintf(err, errlen, "%s must be a string or a non-empty array of strings",
                 opt_name(s));
        return -1;
    }
    char **v = calloc((size_t)count + 1, sizeof(*v));
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        const config_setting_t *e = one ? s : config_setting_get_elem(s, (unsigned)i);
        const char *str = config_setting_type(e) == CONFIG_TYPE_STRING
                          ? config_setting_get_string(e) : NULL;
        if (str == NULL || str[0] == '\0') {
            snprintf(err, errlen, "%s entries must be non-empty strings", opt_name(s));
            relay_free_strings(v);
            return -1;
        }
        if ((v[i] = strdup(str)) == NULL) {
            snprintf(err, errlen, "out of memory");
            relay_free_strings(v);
            return -1;
        }
    }
    relay_free_strings(*out);
    *out = v;
    *n = (size_t)count;
    return 0;
}

void
relay_unknown_option(const char *name, const char *const *valid, char *err, size_t errlen)
{
    char list[256] = "";
    for (size_t i = 0; valid[i] != NULL; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", valid[i]);
    }
    snprintf(err, errlen, "unknown option \"%s\" (valid: %s)", name != NULL ? name : "?",
             list);
}

void
relay_split_peer(const char *peer, char *addr, size_t addrlen, char *port, size_t portlen)
{
    const char *colon = strrchr(peer, ':');
    size_t alen = colon != NULL ? (size_t)(colon - peer) : strlen(peer);
    if (alen >= 2 && peer[0] == '[' && peer[alen - 1] == ']')
        peer++, alen -= 2;
    snprintf(addr, addrlen, "%.*s", (int)alen, peer);
    snprintf(port, portlen, "%s", colon != NULL ? colon + 1 : "0");
}
