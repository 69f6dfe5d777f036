/*
 * deflate.c - permessage-deflate (RFC 7692): negotiation and the
 * per-connection codec.
 *
 * Negotiation: Sec-WebSocket-Extensions is a comma list of extensions,
 * each a token followed by ";"-separated parameters, a parameter being a
 * token with an optional "=" token or quoted-string value (RFC 6455 9.1).
 * The scanner below walks that grammar over every header of that name, in
 * order; an element it cannot parse is skipped up to the next comma outside
 * a quoted string, so a malformed offer costs that offer only.
 *
 * Codec invariants:
 *   - zi / zd are NULL until a message needs them; without context
 *     takeover in their direction they are reset before every message (and
 *     freed by wsg_deflate_shrink), so no message refers to an earlier one.
 *   - ibuf never grows past max_inflated: when it is full and zlib still
 *     has output, one more byte is asked for into a scratch byte, and if it
 *     comes the message is too big.  The bomb's memory is never allocated.
 *   - Every zlib allocation goes through wsg_zalloc, which counts it, so
 *     wsg_deflate_memory() is exact.
 */
#include "deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

/* Buffers up to this size are kept between messages. */
#define WSG_DEFLATE_KEEP 4096

static const uint8_t wsg_deflate_tail[4] = { 0x00, 0x00, 0xff, 0xff };

/* ---- parsing Sec-WebSocket-Extensions ---------------------------------- */

#define WSG_EXT_MAX_PARAMS 8
#define WSG_EXT_MAX_VALUE 8     /* longer values are never valid for us */

struct ext_param {
    const char *name;
    size_t name_len;
    bool has_value;
    char value[WSG_EXT_MAX_VALUE]; /* unquoted, unescaped */
    size_t value_len;           /* may exceed WSG_EXT_MAX_VALUE: then invalid */
};

struct ext_elem {
    const char *name;
    size_t name_len;
    struct ext_param params[WSG_EXT_MAX_PARAMS];
    size_t nparams;
    bool too_many;              /* more than WSG_EXT_MAX_PARAMS parameters */
};

static bool
is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *
skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *
scan_token(const char *p, const char *end)
{
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* After a syntax error: on to the next comma outside a quoted string. */
static const char *
skip_element(const char *p, const char *end)
{
    bool quoted = false;
    for (; p < end; p++) {
        if (quoted && *p == '\\' && p + 1 < end)
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (*p == ',' && !quoted)
            return p;
    }
    return end;
}

static void
value_put(struct ext_param *pa, char c)
{
    if (pa->value_len < WSG_EXT_MAX_VALUE)
        pa->value[pa->value_len] = c;
    pa->value_len++;
}

/* A quoted-string (RFC 7230 3.2.6) starting at the quote; NULL if bad. */
static const char *
scan_quoted(const char *p, const char *end, struct ext_param *pa)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (++p == end)
                return NULL;
            c = (unsigned char)*p;
        }
        if (c < 0x20 && c != '\t')
            return NULL;
        value_put(pa, (char)c);
    }
    return NULL;
}

/* One parameter after its ';': name [= value]. */
static const char *
scan_param(const char *p, const char *end, struct ext_param *pa)
{
    memset(pa, 0, sizeof(*pa));
    p = skip_ows(p, end);
    pa->name = p;
    p = scan_token(p, end);
    pa->name_len = (size_t)(p - pa->name);
    if (pa->name_len == 0)
        return NULL;
    const char *q = skip_ows(p, end);
    if (q == end || *q != '=')
        return p;
    pa->has_value = true;
    q = skip_ows(q + 1, end);
    if (q < end && *q == '"')
        return scan_quoted(q, end, pa);
    const char *v = q;
    q = scan_token(q, end);
    if (q == v)
        return NULL;
    for (; v < q; v++)
        value_put(pa, *v);
    return q;
}

enum scan_result { SCAN_ELEM, SCAN_BAD, SCAN_END };

/* The next element of one header value, from *pos.  Empty elements
 * (", ,") are skipped as RFC 7230 7 asks. */
static enum scan_result
scan_element(const char **pos, const char *end, struct ext_elem *e)
{
    const char *p = *pos;
    for (;;) {
        p = skip_ows(p, end);
        if (p == end) {
            *pos = p;
            return SCAN_END;
        }
        if (*p != ',')
            break;
        p++;
    }
    memset(e, 0, sizeof(*e));
    e->name = p;
    p = scan_token(p, end);
    e->name_len = (size_t)(p - e->name);
    if (e->name_len == 0)
        goto bad;
    for (;;) {
        p = skip_ows(p, end);
        if (p == end || *p == ',')
            break;
        if (*p != ';')
            goto bad;
        struct ext_param scratch, *pa = e->nparams < WSG_EXT_MAX_PARAMS
                                        ? &e->params[e->nparams] : &scratch;
        p = scan_param(p + 1, end, pa);
        if (p == NULL) {
            p = *pos;
            goto bad;
        }
        if (e->nparams < WSG_EXT_MAX_PARAMS)
            e->nparams++;
        else
            e->too_many = true;
    }
    *pos = p < end ? p + 1 : p;
    return SCAN_ELEM;

bad:
    p = skip_element(p, end);
    *pos = p < end ? p + 1 : p;
    return SCAN_BAD;
}

static bool
header_is_extensions(const struct wsg_header *h)
{
    static const char name[] = "Sec-WebSocket-Extensions";
    return h->name_len == sizeof(name) - 1 && strncasecmp(h->name, name, h->name_len) == 0;
}

static bool
token_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* ---- permessage-deflate parameters ------------------------------------- */

/* What one element says, parameter by parameter. */
struct pmd_elem {
    bool snct, cnct;            /* *_no_context_takeover present */
    int smwb;                   /* server_max_window_bits: -1 absent, 8..15 */
    int cmwb;                   /* client_max_window_bits: -1 absent, 0 no value, 8..15 */
};

/* "8".."15" without leading zeros; -1 if not. */
static int
parse_wbits(const struct ext_param *pa)
{
    if (pa->value_len == 1 && pa->value[0] >= '8' && pa->value[0] <= '9')
        return pa->value[0] - '0';
    if (pa->value_len == 2 && pa->value[0] == '1' && pa->value[1] >= '0'
        && pa->value[1] <= '5')
        return 10 + (pa->value[1] - '0');
    return -1;
}

/* Every parameter known, none twice, every value valid (RFC 7692 7.1).
 * client_max_window_bits may lack a value in an offer only. */
static bool
pmd_parse(const struct ext_elem *e, bool offer, struct pmd_elem *o)
{
    *o = (struct pmd_elem){ .smwb = -1, .cmwb = -1 };
    if (e->too_many)
        return false;
    for (size_t i = 0; i < e->nparams; i++) {
        const struct ext_param *pa = &e->params[i];
        if (token_eq(pa->name, pa->name_len, "server_no_context_takeover")) {
            if (o->snct || pa->has_value)
                return false;
            o->snct = true;
        } else if (token_eq(pa->name, pa->name_len, "client_no_context_takeover")) {
            if (o->cnct || pa->has_value)
                return false;
            o->cnct = true;
        } else if (token_eq(pa->name, pa->name_len, "server_max_window_bits")) {
            if (o->smwb != -1 || !pa->has_value || (o->smwb = parse_wbits(pa)) < 0)
                return false;
        } else if (token_eq(pa->name, pa->name_len, "client_max_window_bits")) {
            if (o->cmwb != -1)
                return false;
            if (!pa->has_value) {
                if (!offer)
                    return false;
                o->cmwb = 0;
            } else if ((o->cmwb = parse_wbits(pa)) < 0) {
                return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

static int
min_int(int a, int b)
{
    return a < b ? a : b;
}

/* The server's answer to one valid offer, or false to decline it. */
static bool
pmd_accept(const struct pmd_elem *o, const struct wsg_deflate_cfg *cfg,
           struct wsg_deflate_params *a)
{
    int cfg_c = cfg->client_max_window_bits, cfg_s = cfg->server_max_window_bits;
    /* The client's window bounds our inflater's memory: if it cannot be
     * limited and the operator limits it, this offer will not do. */
    if (o->cmwb == -1 && cfg_c < WSG_DEFLATE_MAX_WBITS)
        return false;
    a->server_no_context_takeover = o->snct || cfg->server_no_context_takeover;
    a->client_no_context_takeover = o->cnct || cfg->client_no_context_takeover;
    a->server_max_window_bits = (uint8_t)min_int(o->smwb > 0 ? o->smwb : 15, cfg_s);
    a->client_max_window_bits = (uint8_t)(o->cmwb == -1 ? 15
                                          : min_int(o->cmwb > 0 ? o->cmwb : 15, cfg_c));
    return true;
}

/* Appends to out[*len..cap); false once it does not fit. */
static bool
append(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > cap)
        return false;
    memcpy(out + *len, s, n + 1);
    *len += n;
    return true;
}

static bool
append_wbits(char *out, size_t cap, size_t *len, const char *name, int bits)
{
    char buf[64];
    if (bits > 0)
        snprintf(buf, sizeof(buf), "; %s=%d", name, bits);
    else
        snprintf(buf, sizeof(buf), "; %s", name);
    return append(out, cap, len, buf);
}

/* Only what was agreed: a window parameter when the client offered it and
 * it says something (a server_max_window_bits offer must be answered). */
static size_t
pmd_response(const struct pmd_elem *o, const struct wsg_deflate_params *a,
             char *out, size_t cap)
{
    size_t len = 0;
    bool ok = append(out, cap, &len, WSG_DEFLATE_TOKEN);
    if (a->server_no_context_takeover)
        ok = ok && append(out, cap, &len, "; server_no_context_takeover");
    if (a->client_no_context_takeover)
        ok = ok && append(out, cap, &len, "; client_no_context_takeover");
    if (o->smwb != -1)
        ok = ok && append_wbits(out, cap, &len, "server_max_window_bits",
                                a->server_max_window_bits);
    if (o->cmwb != -1 && a->client_max_window_bits < WSG_DEFLATE_MAX_WBITS)
        ok = ok && append_wbits(out, cap, &len, "client_max_window_bits",
                                a->client_max_window_bits);
    return ok ? len : 0;
}

bool
wsg_deflate_negotiate(const struct wsg_header *hdrs, size_t n,
                      const struct wsg_deflate_cfg *cfg,
                      struct wsg_deflate_params *agreed, char *out, size_t cap)
{
    if (hdrs == NULL || cfg == NULL || !cfg->enabled || agreed == NULL || out == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!header_is_extensions(&hdrs[i]))
            continue;
        const char *p = hdrs[i].value, *end = p + hdrs[i].value_len;
        struct ext_elem e;
        enum scan_result r;
        while ((r = scan_element(&p, end, &e)) != SCAN_END) {
            struct pmd_elem o;
            struct wsg_deflate_params a;
            if (r != SCAN_ELEM || !token_eq(e.name, e.name_len, WSG_DEFLATE_TOKEN)
                || !pmd_parse(&e, true, &o) || !pmd_accept(&o, cfg, &a))
                continue;
            if (pmd_response(&o, &a, out, cap) == 0)
                return false;
            *agreed = a;
            return true;
        }
    }
    return false;
}

size_t
wsg_deflate_offer(const struct wsg_deflate_cfg *cfg, char *out, size_t cap)
{
    if (cfg == NULL || out == NULL)
        return 0;
    size_t len = 0;
    bool ok = append(out, cap, &len, WSG_DEFLATE_TOKEN);
    if (cfg->server_no_context_takeover)
        ok = ok && append(out, cap, &len, "; server_no_context_takeover");
    if (cfg->client_no_context_takeover)
        ok = ok && append(out, cap, &len, "; client_no_context_takeover");
    if (cfg->server_max_window_bits < WSG_DEFLATE_MAX_WBITS)
        ok = ok && append_wbits(out, cap, &len, "server_max_window_bits",
                                cfg->server_max_window_bits);
    /* Always: lets the server limit our window (browsers do the same). */
    ok = ok && append_wbits(out, cap, &len, "client_max_window_bits",
                            cfg->client_max_window_bits < WSG_DEFLATE_MAX_WBITS
                            ? cfg->client_max_window_bits : 0);
    return ok ? len : 0;
}

enum wsg_err
wsg_deflate_check_response(const struct wsg_header *hdrs, size_t n,
                           const struct wsg_deflate_cfg *cfg, bool *accepted,
                           struct wsg_deflate_params *agreed)
{
    if (hdrs == NULL || cfg == NULL || accepted == NULL || agreed == NULL)
        return WSG_ERR_INVALID_ARGUMENT;
    *accepted = false;
    struct pmd_elem o = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (!header_is_extensions(&hdrs[i]))
            continue;
        const char *p = hdrs[i].value, *end = p + hdrs[i].value_len;
        struct ext_elem e;
        enum scan_result r;
        while ((r = scan_element(&p, end, &e)) != SCAN_END) {
            if (r != SCAN_ELEM || *accepted
                || !token_eq(e.name, e.name_len, WSG_DEFLATE_TOKEN)
                || !pmd_parse(&e, false, &o))
                return WSG_ERR_HS_EXTENSION;
            *accepted = true;
        }
    }
    if (!*accepted)
        return WSG_OK;
    int cfg_s = cfg->server_max_window_bits, cfg_c = cfg->client_max_window_bits;
    /* What we asked of the server must be in the answer, within bounds. */
    if (cfg->server_no_context_takeover && !o.snct)
        return WSG_ERR_HS_EXTENSION;
    if (cfg_s < WSG_DEFLATE_MAX_WBITS && (o.smwb == -1 || o.smwb > cfg_s))
        return WSG_ERR_HS_EXTENSION;
    agreed->server_no_context_takeover = o.snct;
    agreed->client_no_context_takeover = o.cnct || cfg->client_no_context_takeover;
    agreed->server_max_window_bits = (uint8_t)(o.smwb > 0 ? o.smwb : 15);
    agreed->client_max_window_bits = (uint8_t)min_int(o.cmwb > 0 ? o.cmwb : 15, cfg_c);
    return WSG_OK;
}

/* ---- the codec --------------------------------------------------------- */

struct wsg_deflate {
    int level, mem_level;
    int send_wbits, recv_wbits;     /* zlib's: send is 9..15, recv 8..15 */
    bool send_takeover, recv_takeover;
    bool send_reset;                /* start the next message afresh */
    uint64_t max_inflated;          /* 0: no limit */
    z_stream *zi, *zd;              /* NULL until needed */
    size_t zmem;                    /* bytes zlib holds through wsg_zalloc */
    uint8_t *ibuf, *obuf;           /* inflated / compressed message */
    size_t icap, ocap;
};

/* zlib's allocations, counted; a size prefix lets the free count too. */
#define WSG_ZHDR 16

static voidpf
wsg_zalloc(voidpf opaque, uInt items, uInt size)
{
    struct wsg_deflate *d = opaque;
    size_t n = (size_t)items * size;
    if (size != 0 && n / size != items)
        return Z_NULL;
    unsigned char *p = malloc(n + WSG_ZHDR);
    if (p == NULL)
        return Z_NULL;
    memcpy(p, &n, sizeof(n));
    d->zmem += n;
    return p + WSG_ZHDR;
}

static void
wsg_zfree(voidpf opaque, voidpf ptr)
{
    struct wsg_deflate *d = opaque;
    if (ptr == Z_NULL)
        return;
    unsigned char *p = (unsigned char *)ptr - WSG_ZHDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    d->zmem -= n;
    free(p);
}

/* zlib cannot compress raw deflate with 8 bits; 9 never reaches further
 * than 250 bytes back, within the 256 the peer asked for. */
static int
send_wbits_for(int agreed)
{
    return agreed < 9 ? 9 : agreed;
}

struct wsg_deflate *
wsg_deflate_new(enum wsg_role role, const struct wsg_deflate_params *p, int level,
                int mem_level, uint64_t max_inflated)
{
    if (p == NULL || level < 0 || level > 9 || mem_level < 1 || mem_level > 9
        || p->server_max_window_bits < WSG_DEFLATE_MIN_WBITS
        || p->server_max_window_bits > WSG_DEFLATE_MAX_WBITS
        || p->client_max_window_bits < WSG_DEFLATE_MIN_WBITS
        || p->client_max_window_bits > WSG_DEFLATE_MAX_WBITS)
        return NULL;
    struct wsg_deflate *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    bool server = role == WSG_ROLE_SERVER;
    d->level = level;
    d->mem_level = mem_level;
    d->send_wbits = send_wbits_for(server ? p->server_max_window_bits
                                          : p->client_max_window_bits);
    d->recv_wbits = server ? p->client_max_window_bits : p->server_max_window_bits;
    d->send_takeover = !(server ? p->server_no_context_takeover
                                : p->client_no_context_takeover);
    d->recv_takeover = !(server ? p->client_no_context_takeover
                                : p->server_no_context_takeover);
    d->max_inflated = max_inflated;
    return d;
}

static void
drop_inflater(struct wsg_deflate *d)
{
    if (d->zi == NULL)
        return;
    inflateEnd(d->zi);
    free(d->zi);
    d->zi = NULL;
}

static void
drop_deflater(struct wsg_deflate *d)
{
    if (d->zd == NULL)
        return;
    deflateEnd(d->zd);
    free(d->zd);
    d->zd = NULL;
    d->send_reset = false;
}

void
wsg_deflate_free(struct wsg_deflate *d)
{
    if (d == NULL)
        return;
    drop_inflater(d);
    drop_deflater(d);
    free(d->ibuf);
    free(d->obuf);
    free(d);
}

static z_stream *
new_stream(struct wsg_deflate *d)
{
    z_stream *z = calloc(1, sizeof(*z));
    if (z != NULL) {
        z->zalloc = wsg_zalloc;
        z->zfree = wsg_zfree;
        z->opaque = d;
    }
    return z;
}

static enum wsg_err
ensure_inflater(struct wsg_deflate *d)
{
    if (d->zi != NULL) {
        if (!d->recv_takeover && inflateReset(d->zi) != Z_OK)
            return WSG_ERR_INTERNAL;
        return WSG_OK;
    }
    if ((d->zi = new_stream(d)) == NULL)
        return WSG_ERR_NOMEM;
    int rc = inflateInit2(d->zi, -d->recv_wbits);
    if (rc != Z_OK) {
        free(d->zi);
        d->zi = NULL;
        return rc == Z_MEM_ERROR ? WSG_ERR_NOMEM : WSG_ERR_INTERNAL;
    }
    return WSG_OK;
}

/* Room for more inflated bytes: grow ibuf (doubling, never past the
 * limit).  false when ibuf is at the limit already. */
static enum wsg_err
inflate_room(struct wsg_deflate *d, size_t used, size_t hint, bool *at_limit)
{
    size_t limit = d->max_inflated > 0 && d->max_inflated < SIZE_MAX
                   ? (size_t)d->max_inflated : SIZE_MAX;
    *at_limit = false;
    if (used < d->icap)
        return WSG_OK;
    if (d->icap >= limit) {
        *at_limit = true;
        return WSG_OK;
    }
    size_t cap = d->icap > 0 ? d->icap : (hint < 256 ? 256 : hint);
    while (cap <= used && cap < limit)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > limit)
        cap = limit;
    uint8_t *nb = realloc(d->ibuf, cap);
    if (nb == NULL)
        return WSG_ERR_NOMEM;
    d->ibuf = nb;
    d->icap = cap;
    return WSG_OK;
}

/* A final block (BFINAL) ended the stream.  With context takeover the
 * peer may still refer to its bytes, later in this message or in the next
 * ones: keep them as the dictionary. */
static enum wsg_err
inflate_restart(struct wsg_deflate *d, bool keep)
{
    if (!keep)
        return inflateReset(d->zi) == Z_OK ? WSG_OK : WSG_ERR_INTERNAL;
    uInt len = 0;
    uint8_t *dict = malloc((size_t)1 << d->recv_wbits);
    if (dict == NULL)
        return WSG_ERR_NOMEM;
    enum wsg_err err = WSG_ERR_INTERNAL;
    if (inflateGetDictionary(d->zi, dict, &len) == Z_OK && inflateReset(d->zi) == Z_OK
        && (len == 0 || inflateSetDictionary(d->zi, dict, len) == Z_OK))
        err = WSG_OK;
    free(dict);
    return err;
}

/* Run inflate over in (the payload, then the tail) into ibuf from *used. */
static enum wsg_err
inflate_feed(struct wsg_deflate *d, const uint8_t *in, size_t len, bool is_tail,
             size_t *used, bool *ended)
{
    z_stream *z = d->zi;
    while (!*ended) {
        /* zlib counts in uInt: feed large payloads in pieces. */
        size_t chunk = len > UINT_MAX ? UINT_MAX : len;
        z->next_in = (Bytef *)(uintptr_t)in;
        z->avail_in = (uInt)chunk;
        bool at_limit;
        enum wsg_err err = inflate_room(d, *used, len < SIZE_MAX / 4 ? len * 4 : len,
                                        &at_limit);
        if (err != WSG_OK)
            return err;
        uint8_t probe;
        size_t room = at_limit ? 1 : d->icap - *used;
        if (room > UINT_MAX)
            room = UINT_MAX;
        z->next_out = at_limit ? &probe : d->ibuf + *used;
        z->avail_out = (uInt)room;
        int rc = inflate(z, Z_SYNC_FLUSH);
        size_t produced = room - z->avail_out;
        size_t consumed = chunk - z->avail_in;
        in += consumed;
        len -= consumed;
        if (at_limit && produced > 0)
            return WSG_ERR_MESSAGE_TOO_BIG;  /* a byte past the limit */
        *used += produced;
        switch (rc) {
        case Z_STREAM_END:
            /* A final block (RFC 7692 7.2.3.4).  What follows it in the
             * payload is a new stream with the same window; if nothing
             * does, the message is over and our tail is not needed. */
            if (len == 0 || is_tail) {
                *ended = true;
                return inflate_restart(d, d->recv_takeover);
            }
            err = inflate_restart(d, true);
            if (err != WSG_OK)
                return err;
            break;
        case Z_OK:
        case Z_BUF_ERROR:
            /* Done when all input is in and zlib had room to spare. */
            if (len == 0 && z->avail_out > 0)
                return WSG_OK;
            if (rc == Z_BUF_ERROR && produced == 0 && consumed == 0 && z->avail_out > 0)
                return WSG_OK;
            break;
        case Z_MEM_ERROR:
            return WSG_ERR_NOMEM;
        default:                    /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            return WSG_ERR_BAD_DEFLATE;
        }
    }
    return WSG_OK;
}

enum wsg_err
wsg_deflate_inflate(struct wsg_deflate *d, const uint8_t *in, size_t len,
                    const uint8_t **out, size_t *outlen)
{
    if (d == NULL || (in == NULL && len > 0) || out == NULL || outlen == NULL)
        return WSG_ERR_INVALID_ARGUMENT;
    static const uint8_t empty[1];
    if (len == 0) {
        /* Not a deflate stream at all, but plainly an empty message: taken
         * as one, leaving the context as it was. */
        *out = empty;
        *outlen = 0;
        return WSG_OK;
    }
    enum wsg_err err = ensure_inflater(d);
    if (err != WSG_OK)
        return err;
    size_t used = 0;
    bool ended = false;
    err = inflate_feed(d, in, len, false, &used, &ended);
    if (err == WSG_OK && !ended)
        err = inflate_feed(d, wsg_deflate_tail, sizeof(wsg_deflate_tail), true,
                           &used, &ended);
    /* The tail is an empty stored block: after it zlib must be between
     * blocks, or the message stopped in the middle of one. */
    if (err == WSG_OK && !ended && (d->zi->data_type & 128) == 0)
        err = WSG_ERR_BAD_DEFLATE;
    if (err != WSG_OK) {
        drop_inflater(d);           /* the stream is unusable now */
        return err;
    }
    *out = used > 0 ? d->ibuf : empty;
    *outlen = used;
    return WSG_OK;
}

static enum wsg_err
deflater_init(z_stream *z, int level, int wbits, int mem_level)
{
    int rc = deflateInit2(z, level, Z_DEFLATED, -wbits, mem_level, Z_DEFAULT_STRATEGY);
    if (rc == Z_OK)
        return WSG_OK;
    return rc == Z_MEM_ERROR ? WSG_ERR_NOMEM : WSG_ERR_INTERNAL;
}

static enum wsg_err
ensure_deflater(struct wsg_deflate *d)
{
    if (d->zd != NULL) {
        if ((!d->send_takeover || d->send_reset) && deflateReset(d->zd) != Z_OK)
            return WSG_ERR_INTERNAL;
        d->send_reset = false;
        return WSG_OK;
    }
    if ((d->zd = new_stream(d)) == NULL)
        return WSG_ERR_NOMEM;
    enum wsg_err err = deflater_init(d->zd, d->level, d->send_wbits, d->mem_level);
    if (err != WSG_OK) {
        free(d->zd);
        d->zd = NULL;
    }
    d->send_reset = false;
    return err;
}

/* Deflate in with a sync flush into *buf (capacity *cap, from offset
 * start, grown as needed) and strip the 00 00 ff ff tail. */
static enum wsg_err
deflate_run(z_stream *z, const uint8_t *in, size_t len, uint8_t **buf, size_t *cap,
            size_t start, size_t *outlen)
{
    size_t need = start + deflateBound(z, len > ULONG_MAX ? ULONG_MAX : len) + 16;
    if (*cap < need) {
        uint8_t *nb = realloc(*buf, need);
        if (nb == NULL)
            return WSG_ERR_NOMEM;
        *buf = nb;
        *cap = need;
    }
    size_t used = start;
    for (;;) {
        size_t chunk = len > UINT_MAX ? UINT_MAX : len;
        size_t room = *cap - used > UINT_MAX ? UINT_MAX : *cap - used;
        z->next_in = (Bytef *)(uintptr_t)in;
        z->avail_in = (uInt)chunk;
        z->next_out = *buf + used;
        z->avail_out = (uInt)room;
        int rc = deflate(z, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return WSG_ERR_INTERNAL;
        in += chunk - z->avail_in;
        len -= chunk - z->avail_in;
        used += room - z->avail_out;
        if (len == 0 && z->avail_out > 0)
            break;
        if (z->avail_out == 0) {
            size_t ncap = *cap * 2;
            uint8_t *nb = realloc(*buf, ncap);
            if (nb == NULL)
                return WSG_ERR_NOMEM;
            *buf = nb;
            *cap = ncap;
        }
    }
    if (used - start < sizeof(wsg_deflate_tail)
        || memcmp(*buf + used - 4, wsg_deflate_tail, sizeof(wsg_deflate_tail)) != 0)
        return WSG_ERR_INTERNAL;
    *outlen = used - start - sizeof(wsg_deflate_tail);
    return WSG_OK;
}

/* RFC 7692 7.2.3.6: an empty message compresses to one 0x00 byte (an
 * empty stored block without its tail), whatever the context holds. */
static const uint8_t wsg_deflate_empty[1] = { 0x00 };

enum wsg_err
wsg_deflate_compress(struct wsg_deflate *d, const uint8_t *in, size_t len,
                     const uint8_t **out, size_t *outlen)
{
    if (d == NULL || (in == NULL && len > 0) || out == NULL || outlen == NULL)
        return WSG_ERR_INVALID_ARGUMENT;
    if (len == 0) {
        *out = wsg_deflate_empty;
        *outlen = 1;
        return WSG_OK;
    }
    enum wsg_err err = ensure_deflater(d);
    if (err == WSG_OK)
        err = deflate_run(d->zd, in, len, &d->obuf, &d->ocap, 0, outlen);
    if (err != WSG_OK) {
        drop_deflater(d);
        return err;
    }
    *out = d->obuf;
    return WSG_OK;
}

void
wsg_deflate_send_reset(struct wsg_deflate *d)
{
    if (d != NULL && d->zd != NULL)
        d->send_reset = true;
}

void
wsg_deflate_send_key(const struct wsg_deflate *d, int *wbits, int *level, int *mem_level)
{
    *wbits = d->send_wbits;
    *level = d->level;
    *mem_level = d->mem_level;
}

enum wsg_err
wsg_deflate_compress_once(int wbits, int level, int mem_level, const uint8_t *in,
                          size_t len, size_t headroom, uint8_t **out, size_t *outlen)
{
    if ((in == NULL && len > 0) || out == NULL || outlen == NULL)
        return WSG_ERR_INVALID_ARGUMENT;
    *out = NULL;
    uint8_t *buf = NULL;
    size_t cap = 0;
    if (len == 0) {
        if ((buf = malloc(headroom + 1)) == NULL)
            return WSG_ERR_NOMEM;
        buf[headroom] = 0x00;
        *out = buf;
        *outlen = 1;
        return WSG_OK;
    }
    z_stream z = { .zalloc = Z_NULL, .zfree = Z_NULL, .opaque = Z_NULL };
    enum wsg_err err = deflater_init(&z, level, send_wbits_for(wbits), mem_level);
    if (err != WSG_OK)
        return err;
    err = deflate_run(&z, in, len, &buf, &cap, headroom, outlen);
    deflateEnd(&z);
    if (err != WSG_OK) {
        free(buf);
        return err;
    }
    *out = buf;
    return WSG_OK;
}

static void
drop_buffer(uint8_t **buf, size_t *cap, size_t keep)
{
    if (*cap > keep) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
    }
}

void
wsg_deflate_inflate_done(struct wsg_deflate *d)
{
    if (d == NULL)
        return;
    drop_buffer(&d->ibuf, &d->icap, WSG_DEFLATE_KEEP);
    if (!d->recv_takeover)
        drop_inflater(d);
}

void
wsg_deflate_compress_done(struct wsg_deflate *d)
{
    if (d == NULL)
        return;
    drop_buffer(&d->obuf, &d->ocap, WSG_DEFLATE_KEEP);
    if (!d->send_takeover)
        drop_deflater(d);
}

void
wsg_deflate_shrink(struct wsg_deflate *d)
{
    wsg_deflate_inflate_done(d);
    wsg_deflate_compress_done(d);
}

void
wsg_deflate_idle(struct wsg_deflate *d)
{
    if (d == NULL)
        return;
    drop_buffer(&d->ibuf, &d->icap, 0);
    drop_buffer(&d->obuf, &d->ocap, 0);
    if (!d->recv_takeover)
        drop_inflater(d);
    drop_deflater(d);
}

size_t
wsg_deflate_memory(const struct wsg_deflate *d)
{
    if (d == NULL)
        return 0;
    return sizeof(*d) + d->zmem + d->icap + d->ocap
           + (d->zi != NULL ? sizeof(z_stream) : 0) + (d->zd != NULL ? sizeof(z_stream) : 0);
}
