/*
 * handshake.c - RFC 6455 section 4 opening handshake: parse and check the
 * client's request and the server's response, and build both.
 *
 * Invariants:
 * - No I/O.  The only allocation is libcrypto's digest context.
 * - The parsers are stateless, like picohttpparser: every call parses the
 *   buffer from its start, so after WSG_ERR_INCOMPLETE the caller just calls
 *   again with more bytes.  A head is at most WSG_HS_MAX_HEAD bytes, which
 *   bounds the cost of re-parsing.  Parsed structs point into the caller's
 *   buffer; nothing is copied.
 * - A prefix of a valid head is always WSG_ERR_INCOMPLETE.  A prefix that no
 *   continuation could make valid is WSG_ERR_HS_MALFORMED at once, so a
 *   peer cannot make us wait for bytes that would not help.
 * - The parsers are strict: CRLF line endings only, no obs-fold, no
 *   whitespace before the colon, no control characters except HTAB in
 *   values.  Anything a lenient parser would have to guess at is refused,
 *   because a proxy in front of us might have guessed differently (request
 *   smuggling).
 * - The builders only write what the parsers accept.  They return 0 instead
 *   of writing an option that would break the message (CR, LF, NUL).
 */
#include "handshake.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define WSG_HS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  /* RFC 6455 1.3 */
#define WSG_HS_KEY_RAW 16                                   /* RFC 6455 4.1 */
#define WSG_SHA1_LEN 20

/* ---- character classes (RFC 7230 3.2, 3.2.6) --------------------------- */

static bool
is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

/* Visible ASCII: what a request-target may contain. */
static bool
is_vchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* field-value and reason-phrase bytes: VCHAR, obs-text, SP, HTAB. */
static bool
is_value_char(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static bool
is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static bool
is_base64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static unsigned char
ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Locale-independent: strncasecmp would follow the C locale's idea of case. */
static bool
ascii_case_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return false;
    }
    return true;
}

static bool
all_chars(const char *s, size_t len, bool (*ok)(unsigned char))
{
    for (size_t i = 0; i < len; i++) {
        if (!ok((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* ---- parsing ------------------------------------------------------------ */

/* The unparsed rest of the head.  end never lies beyond WSG_HS_MAX_HEAD. */
struct cursor {
    const char *p;
    const char *end;
};

#define TRY(expr)                                                           \
    do {                                                                    \
        enum wsg_err try_rc_ = (expr);                                      \
        if (try_rc_ != WSG_OK)                                              \
            return try_rc_;                                                 \
    } while (0)

static enum wsg_err
expect_byte(struct cursor *c, char want)
{
    if (c->p == c->end)
        return WSG_ERR_INCOMPLETE;
    if (*c->p != want)
        return WSG_ERR_HS_MALFORMED;
    c->p++;
    return WSG_OK;
}

/* Byte by byte, so that "HT" is incomplete but "HX" is already malformed. */
static enum wsg_err
expect_str(struct cursor *c, const char *s)
{
    for (; *s != '\0'; s++)
        TRY(expect_byte(c, *s));
    return WSG_OK;
}

static enum wsg_err
expect_crlf(struct cursor *c)
{
    return expect_str(c, "\r\n");
}

static enum wsg_err
parse_digit(struct cursor *c, int *d)
{
    if (c->p == c->end)
        return WSG_ERR_INCOMPLETE;
    if (*c->p < '0' || *c->p > '9')
        return WSG_ERR_HS_MALFORMED;
    *d = *c->p++ - '0';
    return WSG_OK;
}

/* One or more bytes of class ok.  Running out of input is INCOMPLETE even
 * after some bytes, because only the delimiter tells us the span is over. */
static enum wsg_err
parse_span(struct cursor *c, bool (*ok)(unsigned char),
           const char **start, size_t *len)
{
    const char *s = c->p;
    while (c->p < c->end && ok((unsigned char)*c->p))
        c->p++;
    if (c->p == c->end)
        return WSG_ERR_INCOMPLETE;
    if (c->p == s)
        return WSG_ERR_HS_MALFORMED;
    *start = s;
    *len = (size_t)(c->p - s);
    return WSG_OK;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 7230 2.6). */
static enum wsg_err
parse_version(struct cursor *c, int *major, int *minor)
{
    TRY(expect_str(c, "HTTP/"));
    TRY(parse_digit(c, major));
    TRY(expect_byte(c, '.'));
    return parse_digit(c, minor);
}

/* The rest of a line as a field value or reason phrase, possibly empty,
 * without the OWS around it, and the CRLF that ends it.  Any control byte
 * other than HTAB (bare LF, NUL, a CR not before LF) is malformed. */
static enum wsg_err
parse_line_value(struct cursor *c, const char **value, size_t *len)
{
    while (c->p < c->end && is_ows((unsigned char)*c->p))
        c->p++;
    const char *s = c->p;
    while (c->p < c->end && is_value_char((unsigned char)*c->p))
        c->p++;
    const char *e = c->p;
    TRY(expect_crlf(c));
    while (e > s && is_ows((unsigned char)e[-1]))
        e--;
    *value = s;
    *len = (size_t)(e - s);
    return WSG_OK;
}

/* request-line = method SP request-target SP HTTP-version CRLF.  No leading
 * blank lines (RFC 7230 3.5 lets us skip them; no WebSocket client sends
 * them, so they only add ways to disagree with a proxy). */
static enum wsg_err
parse_request_line(struct cursor *c, struct wsg_hs_request *req)
{
    TRY(parse_span(c, is_tchar, &req->method, &req->method_len));
    TRY(expect_byte(c, ' '));
    TRY(parse_span(c, is_vchar, &req->target, &req->target_len));
    TRY(expect_byte(c, ' '));
    TRY(parse_version(c, &req->http_major, &req->http_minor));
    return expect_crlf(c);
}

/* status-line = HTTP-version SP 3DIGIT SP reason-phrase CRLF. */
static enum wsg_err
parse_status_line(struct cursor *c, struct wsg_hs_response *resp)
{
    TRY(parse_version(c, &resp->http_major, &resp->http_minor));
    TRY(expect_byte(c, ' '));
    resp->status = 0;
    for (int i = 0; i < 3; i++) {
        int d;
        TRY(parse_digit(c, &d));
        resp->status = resp->status * 10 + d;
    }
    TRY(expect_byte(c, ' '));
    return parse_line_value(c, &resp->reason, &resp->reason_len);
}

/* header-field lines up to and including the blank line.  A line starting
 * with SP or HTAB (obs-fold, RFC 7230 3.2.4) fails as an empty name, and so
 * does whitespace before the colon. */
static enum wsg_err
parse_headers(struct cursor *c, struct wsg_header *hdrs, size_t *n)
{
    for (;;) {
        if (c->p == c->end)
            return WSG_ERR_INCOMPLETE;
        if (*c->p == '\r')
            return expect_crlf(c);
        if (*n == WSG_HS_MAX_HEADERS)
            return WSG_ERR_HS_TOO_LARGE;
        struct wsg_header *h = &hdrs[*n];
        TRY(parse_span(c, is_tchar, &h->name, &h->name_len));
        TRY(expect_byte(c, ':'));
        TRY(parse_line_value(c, &h->value, &h->value_len));
        (*n)++;
    }
}

/* Only the first WSG_HS_MAX_HEAD bytes are ever looked at, so a head that
 * has not ended there is too large, however much more the caller holds. */
static struct cursor
head_cursor(const char *buf, size_t len)
{
    struct cursor c = { buf, buf + (len < WSG_HS_MAX_HEAD ? len : WSG_HS_MAX_HEAD) };
    return c;
}

static enum wsg_err
head_result(enum wsg_err rc, const char *buf, size_t len,
            const struct cursor *c, size_t *consumed)
{
    if (rc == WSG_OK)
        *consumed = (size_t)(c->p - buf);
    else if (rc == WSG_ERR_INCOMPLETE && len >= WSG_HS_MAX_HEAD)
        rc = WSG_ERR_HS_TOO_LARGE;
    return rc;
}

enum wsg_err
wsg_hs_parse_request(const char *buf, size_t len, struct wsg_hs_request *req,
                     size_t *consumed)
{
    if (req == NULL || consumed == NULL || (buf == NULL && len > 0))
        return WSG_ERR_INVALID_ARGUMENT;
    if (buf == NULL)
        return WSG_ERR_INCOMPLETE;   /* an empty buffer may come as NULL */
    req->nheaders = 0;
    struct cursor c = head_cursor(buf, len);
    enum wsg_err rc = parse_request_line(&c, req);
    if (rc == WSG_OK)
        rc = parse_headers(&c, req->headers, &req->nheaders);
    return head_result(rc, buf, len, &c, consumed);
}

enum wsg_err
wsg_hs_parse_response(const char *buf, size_t len,
                      struct wsg_hs_response *resp, size_t *consumed)
{
    if (resp == NULL || consumed == NULL || (buf == NULL && len > 0))
        return WSG_ERR_INVALID_ARGUMENT;
    if (buf == NULL)
        return WSG_ERR_INCOMPLETE;
    resp->nheaders = 0;
    struct cursor c = head_cursor(buf, len);
    enum wsg_err rc = parse_status_line(&c, resp);
    if (rc == WSG_OK)
        rc = parse_headers(&c, resp->headers, &resp->nheaders);
    return head_result(rc, buf, len, &c, consumed);
}

/* ---- header lookup ------------------------------------------------------ */

static bool
header_is(const struct wsg_header *h, const char *name)
{
    return ascii_case_equal(h->name, h->name_len, name, strlen(name));
}

const struct wsg_header *
wsg_hs_find_header(const struct wsg_header *hdrs, size_t n, const char *name)
{
    if (hdrs == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (header_is(&hdrs[i], name))
            return &hdrs[i];
    }
    return NULL;
}

/* How many headers are called name; *first is the first of them. */
static size_t
count_headers(const struct wsg_header *hdrs, size_t n, const char *name,
              const struct wsg_header **first)
{
    size_t count = 0;
    *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (header_is(&hdrs[i], name)) {
            if (count++ == 0)
                *first = &hdrs[i];
        }
    }
    return count;
}

/* Elements of a comma-separated list (RFC 7230 7), OWS trimmed, empty
 * elements skipped as the RFC asks recipients to. */
struct list_iter {
    const char *p;
    const char *end;
};

static struct list_iter
list_begin(const struct wsg_header *h)
{
    /* Headers from an HTTP layer may carry a NULL value for an empty one. */
    struct list_iter it = { h->value, h->value == NULL ? NULL : h->value + h->value_len };
    return it;
}

static bool
list_next(struct list_iter *it, const char **elem, size_t *len)
{
    while (it->p < it->end) {
        const char *s = it->p;
        const char *comma = memchr(s, ',', (size_t)(it->end - s));
        const char *e = comma != NULL ? comma : it->end;
        it->p = comma != NULL ? comma + 1 : it->end;
        while (s < e && is_ows((unsigned char)*s))
            s++;
        while (e > s && is_ows((unsigned char)e[-1]))
            e--;
        if (s < e) {
            *elem = s;
            *len = (size_t)(e - s);
            return true;
        }
    }
    return false;
}

bool
wsg_hs_header_has_token(const struct wsg_header *hdrs, size_t n,
                        const char *name, const char *token)
{
    if (hdrs == NULL || name == NULL || token == NULL)
        return false;
    size_t token_len = strlen(token);
    for (size_t i = 0; i < n; i++) {
        if (!header_is(&hdrs[i], name))
            continue;
        struct list_iter it = list_begin(&hdrs[i]);
        const char *e;
        size_t e_len;
        while (list_next(&it, &e, &e_len)) {
            if (ascii_case_equal(e, e_len, token, token_len))
                return true;
        }
    }
    return false;
}

/* Subprotocol names are case-sensitive (RFC 6455 4.1 item 10, 11.3.4). */
static bool
offers_protocol(const struct wsg_header *hdrs, size_t n, const char *proto)
{
    size_t proto_len = strlen(proto);
    for (size_t i = 0; i < n; i++) {
        if (!header_is(&hdrs[i], "Sec-WebSocket-Protocol"))
            continue;
        struct list_iter it = list_begin(&hdrs[i]);
        const char *e;
        size_t e_len;
        while (list_next(&it, &e, &e_len)) {
            if (e_len == proto_len && memcmp(e, proto, e_len) == 0)
                return true;
        }
    }
    return false;
}

int
wsg_hs_select_subprotocol(const struct wsg_header *hdrs, size_t n,
                          const char *const *server_protos, size_t nserver)
{
    if (hdrs == NULL || server_protos == NULL)
        return -1;
    for (size_t i = 0; i < nserver && i <= INT_MAX; i++) {
        if (server_protos[i] != NULL && offers_protocol(hdrs, n, server_protos[i]))
            return (int)i;
    }
    return -1;
}

/* ---- keys --------------------------------------------------------------- */

/* RFC 6455 4.2.1 item 5: base64 of exactly 16 bytes, which is 22 alphabet
 * characters and "==".  EVP_DecodeBlock is too lenient to be the check: it
 * skips leading and trailing whitespace, decodes '=' anywhere as zero bits
 * and reports 18 bytes for this input.  So the shape is checked here and it
 * only decodes.  The last character must also leave the padding bits zero
 * (RFC 4648 3.5), so each key has one spelling. */
static bool
key_is_valid(const char *v, size_t len)
{
    if (v == NULL || len != WSG_HS_KEY_LEN)
        return false;
    if (!all_chars(v, WSG_HS_KEY_LEN - 2, is_base64_char) ||
        v[WSG_HS_KEY_LEN - 2] != '=' || v[WSG_HS_KEY_LEN - 1] != '=')
        return false;
    unsigned char raw[WSG_HS_KEY_RAW + 2];
    if (EVP_DecodeBlock(raw, (const unsigned char *)v, WSG_HS_KEY_LEN) !=
        (int)sizeof raw)
        return false;
    return raw[WSG_HS_KEY_RAW] == 0 && raw[WSG_HS_KEY_RAW + 1] == 0;
}

/* On a libcrypto failure accept is the empty string, which no valid
 * Sec-WebSocket-Accept equals; the callers here check for it. */
void
wsg_hs_accept_key(const char *key, size_t key_len,
                  char accept[WSG_HS_ACCEPT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL &&
              EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, key, key_len) == 1 &&
              EVP_DigestUpdate(ctx, WSG_HS_GUID, sizeof WSG_HS_GUID - 1) == 1 &&
              EVP_DigestFinal_ex(ctx, md, &md_len) == 1 &&
              md_len == WSG_SHA1_LEN;
    EVP_MD_CTX_free(ctx);
    accept[0] = '\0';
    if (ok)
        EVP_EncodeBlock((unsigned char *)accept, md, WSG_SHA1_LEN);
}

enum wsg_err
wsg_hs_generate_key(char key[WSG_HS_KEY_LEN + 1])
{
    unsigned char raw[WSG_HS_KEY_RAW];
    if (key == NULL)
        return WSG_ERR_INVALID_ARGUMENT;
    if (RAND_bytes(raw, sizeof raw) != 1)
        return WSG_ERR_INTERNAL;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    return WSG_OK;
}

/* ---- server side -------------------------------------------------------- */

static bool
is_zero_char(unsigned char c)
{
    return c == '0';
}

static bool
is_zero_length(const struct wsg_header *h)
{
    /* Content-Length = 1*DIGIT, so "00" is zero too; "0, 0" is not. */
    return h->value != NULL && h->value_len > 0 &&
           all_chars(h->value, h->value_len, is_zero_char);
}

static enum wsg_err
check_host(const struct wsg_header *hdrs, size_t n, struct wsg_hs_info *info)
{
    const struct wsg_header *host;
    size_t count = count_headers(hdrs, n, "Host", &host);
    if (count == 0 || host->value_len == 0)
        return WSG_ERR_HS_NO_HOST;
    /* RFC 7230 5.4: two Hosts is a bad request, not a missing one. */
    if (count > 1)
        return WSG_ERR_HS_MALFORMED;
    info->host = host->value;
    info->host_len = host->value_len;
    return WSG_OK;
}

/* Sec-WebSocket-Version must be 13 and only 13, once (RFC 6455 4.2.1 item 6,
 * 4.4); anything else gets a 426 naming the version we speak. */
static enum wsg_err
check_version(const struct wsg_header *hdrs, size_t n)
{
    const struct wsg_header *v;
    if (count_headers(hdrs, n, "Sec-WebSocket-Version", &v) != 1 ||
        v->value_len != 2 || memcmp(v->value, "13", 2) != 0)
        return WSG_ERR_HS_VERSION;
    return WSG_OK;
}

static enum wsg_err
check_key(const struct wsg_header *hdrs, size_t n, struct wsg_hs_info *info)
{
    const struct wsg_header *k;
    if (count_headers(hdrs, n, "Sec-WebSocket-Key", &k) != 1 ||
        !key_is_valid(k->value, k->value_len))
        return WSG_ERR_HS_KEY;
    info->key = k->value;
    return WSG_OK;
}

/* An upgrade request has no body (RFC 6455 4.1 "GET"; RFC 7230 3.3.3):
 * bytes after the head are WebSocket frames, so a declared body would be
 * read differently by us and by anything in between. */
static enum wsg_err
check_no_body(const struct wsg_header *hdrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (header_is(&hdrs[i], "Transfer-Encoding"))
            return WSG_ERR_HS_BODY;
        if (header_is(&hdrs[i], "Content-Length") && !is_zero_length(&hdrs[i]))
            return WSG_ERR_HS_BODY;
    }
    return WSG_OK;
}

enum wsg_err
wsg_hs_check_request(const char *method, size_t method_len,
                     int http_major, int http_minor,
                     const struct wsg_header *hdrs, size_t n,
                     struct wsg_hs_info *info)
{
    struct wsg_hs_info local;
    if (hdrs == NULL && n > 0)
        return WSG_ERR_INVALID_ARGUMENT;
    if (info == NULL)
        info = &local;
    memset(info, 0, sizeof *info);

    /* Methods are case-sensitive (RFC 7231 4.1). */
    if (method != NULL && (method_len != 3 || memcmp(method, "GET", 3) != 0))
        return WSG_ERR_HS_METHOD;
    if (http_major < 1 || (http_major == 1 && http_minor < 1))
        return WSG_ERR_HS_HTTP_VERSION;
    TRY(check_host(hdrs, n, info));
    if (!wsg_hs_header_has_token(hdrs, n, "Upgrade", "websocket"))
        return WSG_ERR_HS_UPGRADE;
    if (!wsg_hs_header_has_token(hdrs, n, "Connection", "upgrade"))
        return WSG_ERR_HS_CONNECTION;
    TRY(check_version(hdrs, n));
    TRY(check_key(hdrs, n, info));
    TRY(check_no_body(hdrs, n));

    const struct wsg_header *origin = wsg_hs_find_header(hdrs, n, "Origin");
    if (origin != NULL) {
        info->origin = origin->value;
        info->origin_len = origin->value_len;
    }
    return WSG_OK;
}

/* ---- building ----------------------------------------------------------- */

/* Appends to a fixed buffer; once something does not fit, nothing more is
 * written and the result is 0. */
struct writer {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
};

static void
put(struct writer *w, const char *s, size_t n)
{
    if (w->overflow || n == 0)
        return;
    if (n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void
put_str(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void
put_header(struct writer *w, const char *name, const char *value,
           size_t value_len)
{
    put_str(w, name);
    put(w, ": ", 2);
    put(w, value, value_len);
    put(w, "\r\n", 2);
}

/* Ends the head with a NUL (not counted) so it can be logged with %s; a
 * head without room for it counts as not fitting. */
static size_t
finish(struct writer *w)
{
    put(w, "\r\n", 2);
    if (w->overflow || w->len == w->cap)
        return 0;
    w->buf[w->len] = '\0';
    return w->len;
}

static bool
is_token(const char *s, size_t len)
{
    return len > 0 && all_chars(s, len, is_tchar);
}

/* A value we may put after "Name: ": no CR, LF, NUL or other control. */
static bool
is_value(const char *s, size_t len)
{
    return all_chars(s, len, is_value_char);
}

/* key is WSG_HS_KEY_LEN chars and need not be NUL-terminated: it is meant
 * to be wsg_hs_info.key, which points into the request. */
size_t
wsg_hs_build_response(char *out, size_t cap, const char *key,
                      const char *protocol, const char *extensions)
{
    if (out == NULL || key == NULL)
        return 0;
    if (protocol != NULL && !is_token(protocol, strlen(protocol)))
        return 0;
    if (extensions != NULL &&
        (extensions[0] == '\0' || !is_value(extensions, strlen(extensions))))
        return 0;

    char accept[WSG_HS_ACCEPT_LEN + 1];
    wsg_hs_accept_key(key, strnlen(key, WSG_HS_KEY_LEN), accept);
    if (accept[0] == '\0')
        return 0;

    struct writer w = { out, cap, 0, false };
    put_str(&w, "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n");
    put_header(&w, "Sec-WebSocket-Accept", accept, WSG_HS_ACCEPT_LEN);
    if (protocol != NULL)
        put_header(&w, "Sec-WebSocket-Protocol", protocol, strlen(protocol));
    if (extensions != NULL)
        put_header(&w, "Sec-WebSocket-Extensions", extensions, strlen(extensions));
    return finish(&w);
}

/* ---- client side -------------------------------------------------------- */

/* Only what would break the request is refused: a client used to test
 * servers may well want to send a bad key or a duplicate header. */
static bool
client_opts_are_sound(const struct wsg_hs_client_opts *o)
{
    if (o->host == NULL || o->host[0] == '\0' || !is_value(o->host, strlen(o->host)))
        return false;
    /* The request line is split on SP, so the target has no whitespace. */
    if (o->target == NULL || o->target[0] == '\0' ||
        !all_chars(o->target, strlen(o->target), is_vchar))
        return false;
    if (o->key == NULL || o->key[0] == '\0' || !is_value(o->key, strlen(o->key)))
        return false;
    if (o->nprotocols > 0 && o->protocols == NULL)
        return false;
    /* Tokens, because they are joined with commas and matched exactly. */
    for (size_t i = 0; i < o->nprotocols; i++) {
        const char *p = o->protocols[i];
        if (p == NULL || !is_token(p, strlen(p)))
            return false;
    }
    if (o->origin != NULL && !is_value(o->origin, strlen(o->origin)))
        return false;
    if (o->extensions != NULL && !is_value(o->extensions, strlen(o->extensions)))
        return false;
    if (o->nextra > 0 && o->extra == NULL)
        return false;
    for (size_t i = 0; i < o->nextra; i++) {
        const struct wsg_header *h = &o->extra[i];
        if (h->name == NULL || !is_token(h->name, h->name_len))
            return false;
        if (h->value == NULL ? h->value_len > 0 : !is_value(h->value, h->value_len))
            return false;
    }
    return true;
}

size_t
wsg_hs_build_request(char *out, size_t cap, const struct wsg_hs_client_opts *o)
{
    if (out == NULL || o == NULL || !client_opts_are_sound(o))
        return 0;

    struct writer w = { out, cap, 0, false };
    put_str(&w, "GET ");
    put_str(&w, o->target);
    put_str(&w, " HTTP/1.1\r\n");
    put_header(&w, "Host", o->host, strlen(o->host));
    put_str(&w, "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n");
    put_header(&w, "Sec-WebSocket-Key", o->key, strlen(o->key));
    put_str(&w, "Sec-WebSocket-Version: 13\r\n");
    if (o->nprotocols > 0) {
        put_str(&w, "Sec-WebSocket-Protocol: ");
        for (size_t i = 0; i < o->nprotocols; i++) {
            if (i > 0)
                put(&w, ", ", 2);
            put_str(&w, o->protocols[i]);
        }
        put(&w, "\r\n", 2);
    }
    if (o->origin != NULL)
        put_header(&w, "Origin", o->origin, strlen(o->origin));
    if (o->extensions != NULL)
        put_header(&w, "Sec-WebSocket-Extensions", o->extensions,
                   strlen(o->extensions));
    for (size_t i = 0; i < o->nextra; i++) {
        const struct wsg_header *h = &o->extra[i];
        put(&w, h->name, h->name_len);
        put(&w, ": ", 2);
        put(&w, h->value, h->value_len);
        put(&w, "\r\n", 2);
    }
    return finish(&w);
}

/* RFC 6455 4.1 item 4 of the client's checks: one Sec-WebSocket-Accept,
 * equal to what the key gives. */
static enum wsg_err
check_accept(const struct wsg_header *hdrs, size_t n, const char *key)
{
    char want[WSG_HS_ACCEPT_LEN + 1];
    wsg_hs_accept_key(key, strlen(key), want);
    if (want[0] == '\0')
        return WSG_ERR_INTERNAL;
    const struct wsg_header *a;
    if (count_headers(hdrs, n, "Sec-WebSocket-Accept", &a) != 1 ||
        a->value_len != WSG_HS_ACCEPT_LEN ||
        memcmp(a->value, want, WSG_HS_ACCEPT_LEN) != 0)
        return WSG_ERR_HS_ACCEPT;
    return WSG_OK;
}

/* RFC 6455 4.1 item 6: the server may name one subprotocol, one we offered,
 * or none.  Several headers or a list is not "one". */
static enum wsg_err
check_selected_protocol(const struct wsg_header *hdrs, size_t n,
                        const struct wsg_hs_client_opts *o, int *selected)
{
    const struct wsg_header *p;
    size_t count = count_headers(hdrs, n, "Sec-WebSocket-Protocol", &p);
    *selected = -1;
    if (count == 0)
        return WSG_OK;
    if (count > 1 || p->value_len == 0 || memchr(p->value, ',', p->value_len) ||
        o->protocols == NULL)
        return WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED;
    for (size_t i = 0; i < o->nprotocols && i <= INT_MAX; i++) {
        const char *mine = o->protocols[i];
        if (mine != NULL && strlen(mine) == p->value_len &&
            memcmp(mine, p->value, p->value_len) == 0) {
            *selected = (int)i;
            return WSG_OK;
        }
    }
    return WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED;
}

enum wsg_err
wsg_hs_check_response(const struct wsg_hs_response *resp,
                      const struct wsg_hs_client_opts *o,
                      bool extensions_offered, int *selected)
{
    int chosen = -1;
    if (selected != NULL)
        *selected = -1;
    if (resp == NULL || o == NULL || o->key == NULL ||
        resp->nheaders > WSG_HS_MAX_HEADERS)
        return WSG_ERR_INVALID_ARGUMENT;

    const struct wsg_header *hdrs = resp->headers;
    size_t n = resp->nheaders;
    if (resp->status != 101)
        return WSG_ERR_HS_STATUS;
    if (!wsg_hs_header_has_token(hdrs, n, "Upgrade", "websocket"))
        return WSG_ERR_HS_UPGRADE;
    if (!wsg_hs_header_has_token(hdrs, n, "Connection", "upgrade"))
        return WSG_ERR_HS_CONNECTION;
    TRY(check_accept(hdrs, n, o->key));
    TRY(check_selected_protocol(hdrs, n, o, &chosen));
    /* RFC 6455 4.1 item 5: an extension we did not ask for fails the
     * connection; which ones match an offer is the extension code's job. */
    if (!extensions_offered &&
        wsg_hs_find_header(hdrs, n, "Sec-WebSocket-Extensions") != NULL)
        return WSG_ERR_HS_EXTENSION;
    if (selected != NULL)
        *selected = chosen;
    return WSG_OK;
}
