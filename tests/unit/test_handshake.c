/*
 * test_handshake.c - unit tests for src/proto/handshake.c, the RFC 6455
 * section 4 opening handshake.
 *
 * Requests and responses are written out as text and go through the real
 * parser, so every check_* test also exercises parsing.  The RFC 6455 1.2
 * sample request and response are the reference messages; each error test
 * changes one thing about them.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "handshake.h"
#include "suites.h"

/* RFC 6455 1.2 */
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#define REQ_LINE "GET /chat HTTP/1.1\r\n"
#define H_HOST "Host: server.example.com\r\n"
#define H_UPGRADE "Upgrade: websocket\r\n"
#define H_CONNECTION "Connection: Upgrade\r\n"
#define H_KEY "Sec-WebSocket-Key: " RFC_KEY "\r\n"
#define H_ORIGIN "Origin: http://example.com\r\n"
#define H_PROTOCOL "Sec-WebSocket-Protocol: chat, superchat\r\n"
#define H_VERSION "Sec-WebSocket-Version: 13\r\n"
#define END "\r\n"

/* The minimum a server must accept, headers in any one order. */
#define MINIMAL_REQ REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION END

static const char rfc_request[] =
    REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_ORIGIN H_PROTOCOL H_VERSION END;

#define STATUS_101 "HTTP/1.1 101 Switching Protocols\r\n"
#define H_ACCEPT "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"

static const char rfc_response[] =
    STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT "Sec-WebSocket-Protocol: chat\r\n" END;

static const char *const offered[] = { "chat", "superchat" };

/* ---- helpers ----------------------------------------------------------- */

static enum wsg_err
parse_text(const char *text, struct wsg_hs_request *req)
{
    size_t consumed = 0;
    return wsg_hs_parse_request(text, strlen(text), req, &consumed);
}

static enum wsg_err
parse_response_text(const char *text, struct wsg_hs_response *resp)
{
    size_t consumed = 0;
    return wsg_hs_parse_response(text, strlen(text), resp, &consumed);
}

/* Parses text (which must parse) and returns what check_request says. */
static enum wsg_err
check_text_info(const char *text, struct wsg_hs_info *info)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text(text, &req), WSG_OK);
    return wsg_hs_check_request(req.method, req.method_len, req.http_major,
                                req.http_minor, req.headers, req.nheaders, info);
}

static enum wsg_err
check_text(const char *text)
{
    struct wsg_hs_info info;
    return check_text_info(text, &info);
}

/* The minimal request with the given Sec-WebSocket-Key line(s). */
static enum wsg_err
check_with_key_lines(const char *key_lines)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s%s%s%s%s%s%s", REQ_LINE, H_HOST,
                     H_UPGRADE, H_CONNECTION, key_lines, H_VERSION, END);
    ck_assert(n > 0 && (size_t)n < sizeof buf);
    return check_text(buf);
}

static enum wsg_err
check_with_key(const char *key)
{
    char line[256];
    snprintf(line, sizeof line, "Sec-WebSocket-Key: %s\r\n", key);
    return check_with_key_lines(line);
}

static struct wsg_hs_client_opts
rfc_opts(void)
{
    struct wsg_hs_client_opts o;
    memset(&o, 0, sizeof o);
    o.host = "server.example.com";
    o.target = "/chat";
    o.key = RFC_KEY;
    o.protocols = offered;
    o.nprotocols = 2;
    o.origin = "http://example.com";
    return o;
}

/* Parses a response (which must parse) and checks it against rfc_opts. */
static enum wsg_err
check_response_text(const char *text, bool extensions_offered, int *selected)
{
    struct wsg_hs_response resp;
    struct wsg_hs_client_opts o = rfc_opts();
    ck_assert_int_eq(parse_response_text(text, &resp), WSG_OK);
    return wsg_hs_check_response(&resp, &o, extensions_offered, selected);
}

static bool
span_is(const char *s, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* ---- keys (RFC 6455 1.3, 4.1, 4.2.2) ----------------------------------- */

/* RFC 6455 1.3 */
START_TEST(test_accept_key_matches_rfc_example)
{
    char accept[WSG_HS_ACCEPT_LEN + 1];
    wsg_hs_accept_key(RFC_KEY, strlen(RFC_KEY), accept);
    ck_assert_str_eq(accept, RFC_ACCEPT);
}
END_TEST

/* RFC 6455 4.1: a random 16-byte value, base64-encoded. */
START_TEST(test_generated_key_is_24_chars_decoding_to_16_bytes)
{
    char key[WSG_HS_KEY_LEN + 1];
    unsigned char raw[32];
    ck_assert_int_eq(wsg_hs_generate_key(key), WSG_OK);
    ck_assert_uint_eq(strlen(key), WSG_HS_KEY_LEN);
    ck_assert(key[22] == '=' && key[23] == '=');
    /* 18 = 16 bytes plus the two zero bytes EVP_DecodeBlock makes of "==". */
    ck_assert_int_eq(EVP_DecodeBlock(raw, (const unsigned char *)key, WSG_HS_KEY_LEN), 18);
    ck_assert_int_eq(check_with_key(key), WSG_OK);
}
END_TEST

START_TEST(test_generated_keys_differ_between_calls)
{
    char a[WSG_HS_KEY_LEN + 1], b[WSG_HS_KEY_LEN + 1];
    ck_assert_int_eq(wsg_hs_generate_key(a), WSG_OK);
    ck_assert_int_eq(wsg_hs_generate_key(b), WSG_OK);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(test_generate_key_rejects_null)
{
    ck_assert_int_eq(wsg_hs_generate_key(NULL), WSG_ERR_INVALID_ARGUMENT);
}
END_TEST

/* RFC 6455 4.2.1 item 5 */
START_TEST(test_valid_key_is_accepted)
{
    ck_assert_int_eq(check_with_key(RFC_KEY), WSG_OK);
    ck_assert_int_eq(check_with_key("AAAAAAAAAAAAAAAAAAAAAA=="), WSG_OK);
    ck_assert_int_eq(check_with_key("/+/+/+/+/+/+/+/+/+/+/w=="), WSG_OK);
}
END_TEST

START_TEST(test_missing_key_is_rejected)
{
    ck_assert_int_eq(check_with_key_lines(""), WSG_ERR_HS_KEY);
}
END_TEST

START_TEST(test_duplicate_key_is_rejected)
{
    ck_assert_int_eq(check_with_key_lines(H_KEY H_KEY), WSG_ERR_HS_KEY);
}
END_TEST

START_TEST(test_empty_key_is_rejected)
{
    ck_assert_int_eq(check_with_key_lines("Sec-WebSocket-Key:\r\n"), WSG_ERR_HS_KEY);
}
END_TEST

START_TEST(test_key_of_15_bytes_is_rejected)
{
    ck_assert_int_eq(check_with_key("AAAAAAAAAAAAAAAAAAAA"), WSG_ERR_HS_KEY);
}
END_TEST

/* 24 characters like a good key, but one '=': 17 bytes. */
START_TEST(test_key_of_17_bytes_is_rejected)
{
    ck_assert_int_eq(check_with_key("AAAAAAAAAAAAAAAAAAAAAAA="), WSG_ERR_HS_KEY);
}
END_TEST

START_TEST(test_key_of_18_bytes_is_rejected)
{
    ck_assert_int_eq(check_with_key("AAAAAAAAAAAAAAAAAAAAAAAA"), WSG_ERR_HS_KEY);
}
END_TEST

START_TEST(test_key_with_non_base64_char_is_rejected)
{
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZ!=="), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZ-=="), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZ_=="), WSG_ERR_HS_KEY);
}
END_TEST

/* EVP_DecodeBlock reads '=' anywhere as zero bits; we must not. */
START_TEST(test_key_with_padding_in_the_middle_is_rejected)
{
    ck_assert_int_eq(check_with_key("dGhl=HNhbXBsZSBub25jZQ=="), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZ==="), WSG_ERR_HS_KEY);
}
END_TEST

START_TEST(test_key_without_padding_is_rejected)
{
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZQ"), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZQ="), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZQAA"), WSG_ERR_HS_KEY);
}
END_TEST

/* RFC 4648 3.5: "ZR==" has padding bits set; only "ZQ==" spells the key. */
START_TEST(test_key_with_nonzero_padding_bits_is_rejected)
{
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZR=="), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_with_key("AAAAAAAAAAAAAAAAAAAAAB=="), WSG_ERR_HS_KEY);
}
END_TEST

/* EVP_DecodeBlock skips whitespace around its input; inside a key it is
 * not base64. */
START_TEST(test_key_with_inner_whitespace_is_rejected)
{
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBs ZSBub25jZQ=="), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_with_key("dGhlIHNhbXBsZSBub25jZQ==\t="), WSG_ERR_HS_KEY);
}
END_TEST

START_TEST(test_key_surrounded_by_whitespace_is_accepted)
{
    ck_assert_int_eq(check_with_key_lines("Sec-WebSocket-Key: \t" RFC_KEY " \t\r\n"),
                     WSG_OK);
}
END_TEST

/* ---- parsing requests (RFC 7230 3) ------------------------------------- */

/* RFC 6455 1.2 */
START_TEST(test_rfc_sample_request_parses)
{
    struct wsg_hs_request req;
    size_t consumed = 0;
    ck_assert_int_eq(wsg_hs_parse_request(rfc_request, strlen(rfc_request), &req,
                                          &consumed), WSG_OK);
    ck_assert_uint_eq(consumed, strlen(rfc_request));
    ck_assert(span_is(req.method, req.method_len, "GET"));
    ck_assert(span_is(req.target, req.target_len, "/chat"));
    ck_assert_int_eq(req.http_major, 1);
    ck_assert_int_eq(req.http_minor, 1);
    ck_assert_uint_eq(req.nheaders, 7);
    ck_assert(span_is(req.headers[0].name, req.headers[0].name_len, "Host"));
    ck_assert(span_is(req.headers[0].value, req.headers[0].value_len,
                      "server.example.com"));
    ck_assert(span_is(req.headers[5].name, req.headers[5].name_len,
                      "Sec-WebSocket-Protocol"));
    ck_assert(span_is(req.headers[5].value, req.headers[5].value_len,
                      "chat, superchat"));
    ck_assert(span_is(req.headers[6].value, req.headers[6].value_len, "13"));
}
END_TEST

/* RFC 6455 1.2, 4.2.1 */
START_TEST(test_rfc_sample_request_passes_check)
{
    struct wsg_hs_info info;
    ck_assert_int_eq(check_text_info(rfc_request, &info), WSG_OK);
    ck_assert(info.key != NULL && memcmp(info.key, RFC_KEY, WSG_HS_KEY_LEN) == 0);
    ck_assert(span_is(info.host, info.host_len, "server.example.com"));
    ck_assert(span_is(info.origin, info.origin_len, "http://example.com"));
}
END_TEST

/* The parser is re-run on a growing buffer: every prefix must ask for more,
 * never fail, and the whole must parse. */
START_TEST(test_every_prefix_of_request_is_incomplete)
{
    struct wsg_hs_request req;
    size_t len = strlen(rfc_request), consumed = 0;
    for (size_t i = 0; i < len; i++) {
        ck_assert_msg(wsg_hs_parse_request(rfc_request, i, &req, &consumed) ==
                      WSG_ERR_INCOMPLETE, "prefix of %zu bytes", i);
    }
    ck_assert_int_eq(wsg_hs_parse_request(rfc_request, len, &req, &consumed), WSG_OK);
    ck_assert_uint_eq(consumed, len);
}
END_TEST

/* RFC 6455 4.1: the client may send frames right after its handshake. */
START_TEST(test_bytes_after_request_head_are_not_consumed)
{
    char buf[1024];
    struct wsg_hs_request req;
    size_t head = strlen(rfc_request), consumed = 0;
    memcpy(buf, rfc_request, head);
    memcpy(buf + head, "\x81\x85\x00\x00\x00\x00hello", 11);
    ck_assert_int_eq(wsg_hs_parse_request(buf, head + 11, &req, &consumed), WSG_OK);
    ck_assert_uint_eq(consumed, head);
}
END_TEST

START_TEST(test_empty_buffer_is_incomplete)
{
    struct wsg_hs_request req;
    size_t consumed = 0;
    ck_assert_int_eq(wsg_hs_parse_request("", 0, &req, &consumed), WSG_ERR_INCOMPLETE);
    ck_assert_int_eq(wsg_hs_parse_request(NULL, 0, &req, &consumed), WSG_ERR_INCOMPLETE);
}
END_TEST

START_TEST(test_parse_request_rejects_null_arguments)
{
    struct wsg_hs_request req;
    size_t consumed;
    ck_assert_int_eq(wsg_hs_parse_request(NULL, 5, &req, &consumed),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(wsg_hs_parse_request(rfc_request, 5, NULL, &consumed),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(wsg_hs_parse_request(rfc_request, 5, &req, NULL),
                     WSG_ERR_INVALID_ARGUMENT);
}
END_TEST

/* RFC 7230 3.2.4: OWS around the value is not part of it. */
START_TEST(test_header_values_are_trimmed)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: \t x y \t \r\nB:z\r\n\r\n", &req),
                     WSG_OK);
    ck_assert_uint_eq(req.nheaders, 2);
    ck_assert(span_is(req.headers[0].value, req.headers[0].value_len, "x y"));
    ck_assert(span_is(req.headers[1].value, req.headers[1].value_len, "z"));
}
END_TEST

START_TEST(test_empty_header_value_is_accepted)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA:\r\nB:   \r\n\r\n", &req), WSG_OK);
    ck_assert_uint_eq(req.nheaders, 2);
    ck_assert_uint_eq(req.headers[0].value_len, 0);
    ck_assert_uint_eq(req.headers[1].value_len, 0);
}
END_TEST

START_TEST(test_htab_and_obs_text_in_value_are_accepted)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: x\ty\xc3\xa9\xff\r\n\r\n", &req),
                     WSG_OK);
    ck_assert(span_is(req.headers[0].value, req.headers[0].value_len,
                      "x\ty\xc3\xa9\xff"));
}
END_TEST

START_TEST(test_repeated_headers_are_all_kept_in_order)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nX: 1\r\nx: 2\r\nX: 3\r\n\r\n", &req),
                     WSG_OK);
    ck_assert_uint_eq(req.nheaders, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(req.headers[i].value[0], (char)('1' + i));
}
END_TEST

START_TEST(test_request_without_headers_parses)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\n\r\n", &req), WSG_OK);
    ck_assert_uint_eq(req.nheaders, 0);
}
END_TEST

/* RFC 7230 3.5: we accept CRLF only. */
START_TEST(test_bare_lf_is_malformed)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\n\r\n", &req), WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\r\n\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\nc\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

START_TEST(test_cr_not_followed_by_lf_is_malformed)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\rX\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\r\n\r\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

/* RFC 7230 3.2.4: obs-fold may be refused with 400. */
START_TEST(test_obs_fold_is_malformed)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\n A: b\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

/* RFC 7230 3.2.4: whitespace between name and colon must be refused. */
START_TEST(test_space_before_colon_is_malformed)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

START_TEST(test_header_name_must_be_a_token)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\n: a\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA(b): a\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA\xc3\xa9: a\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nNoColon\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

START_TEST(test_nul_in_header_value_is_malformed)
{
    static const char text[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
    struct wsg_hs_request req;
    size_t consumed;
    ck_assert_int_eq(wsg_hs_parse_request(text, sizeof text - 1, &req, &consumed),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

START_TEST(test_control_char_in_header_value_is_malformed)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: \x1b[0m\r\n\r\n", &req),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

/* RFC 7230 3.1.1: method SP request-target SP HTTP-version CRLF. */
START_TEST(test_malformed_request_lines_are_rejected)
{
    static const char *const bad[] = {
        "GET  / HTTP/1.1\r\n\r\n",          /* two spaces */
        "GET / HTTP/1.1 \r\n\r\n",          /* trailing space */
        "GET\t/ HTTP/1.1\r\n\r\n",          /* tab for space */
        "GET /\x01 HTTP/1.1\r\n\r\n",       /* control in target */
        "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",   /* non-ASCII target */
        " GET / HTTP/1.1\r\n\r\n",          /* leading space */
        "\r\nGET / HTTP/1.1\r\n\r\n",       /* leading blank line */
        "G(T / HTTP/1.1\r\n\r\n",           /* method not a token */
        "GET / http/1.1\r\n\r\n",           /* version is case-sensitive */
        "GET / HTTP/11\r\n\r\n",
        "GET / HTTP/1.10\r\n\r\n",          /* one digit each */
        "GET / HTTP/a.1\r\n\r\n",
        "GET / HTTP/1.1x\r\n\r\n",
        "GET /\r\n\r\n",                    /* HTTP/0.9 */
        "GET HTTP/1.1\r\n\r\n",
    };
    struct wsg_hs_request req;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse_text(bad[i], &req) == WSG_ERR_HS_MALFORMED, "case %zu", i);
}
END_TEST

/* A broken start does not wait for the blank line to be reported. */
START_TEST(test_malformed_prefix_fails_before_the_blank_line)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("G\x01", &req), WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTX", &req), WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nHost a", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nA: b\n", &req),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\n A", &req), WSG_ERR_HS_MALFORMED);
}
END_TEST

/* Builds a request head of exactly len bytes (>= 64), padded with one
 * header; with_end false leaves the blank line off. */
static void
make_head_of_size(char *buf, size_t len, bool with_end)
{
    static const char start[] = "GET / HTTP/1.1\r\nX-Pad: ";
    size_t tail = with_end ? 4 : 2;
    memcpy(buf, start, sizeof start - 1);
    memset(buf + sizeof start - 1, 'a', len - (sizeof start - 1) - tail);
    memcpy(buf + len - tail, "\r\n\r\n", tail);
}

START_TEST(test_head_of_exactly_max_size_is_accepted)
{
    static char buf[WSG_HS_MAX_HEAD + 16];
    struct wsg_hs_request req;
    size_t consumed = 0;
    make_head_of_size(buf, WSG_HS_MAX_HEAD, true);
    memcpy(buf + WSG_HS_MAX_HEAD, "frames", 6);
    ck_assert_int_eq(wsg_hs_parse_request(buf, WSG_HS_MAX_HEAD + 6, &req, &consumed),
                     WSG_OK);
    ck_assert_uint_eq(consumed, WSG_HS_MAX_HEAD);
}
END_TEST

START_TEST(test_head_over_max_size_is_too_large)
{
    static char buf[WSG_HS_MAX_HEAD + 16];
    struct wsg_hs_request req;
    size_t consumed = 0;
    make_head_of_size(buf, WSG_HS_MAX_HEAD + 1, true);
    ck_assert_int_eq(wsg_hs_parse_request(buf, WSG_HS_MAX_HEAD + 1, &req, &consumed),
                     WSG_ERR_HS_TOO_LARGE);
}
END_TEST

/* Once the buffer holds WSG_HS_MAX_HEAD bytes without an end, no more
 * input can help: a caller with a buffer of that size must not hang. */
START_TEST(test_unterminated_head_is_too_large_at_max_size)
{
    static char buf[WSG_HS_MAX_HEAD + 16];
    struct wsg_hs_request req;
    size_t consumed = 0;
    make_head_of_size(buf, WSG_HS_MAX_HEAD + 16, false);
    ck_assert_int_eq(wsg_hs_parse_request(buf, WSG_HS_MAX_HEAD - 1, &req, &consumed),
                     WSG_ERR_INCOMPLETE);
    ck_assert_int_eq(wsg_hs_parse_request(buf, WSG_HS_MAX_HEAD, &req, &consumed),
                     WSG_ERR_HS_TOO_LARGE);
    ck_assert_int_eq(wsg_hs_parse_request(buf, WSG_HS_MAX_HEAD + 16, &req, &consumed),
                     WSG_ERR_HS_TOO_LARGE);
}
END_TEST

/* Writes a request with n headers "H: v" (and the blank line if with_end). */
static size_t
make_head_with_headers(char *buf, size_t cap, size_t n, bool with_end)
{
    size_t len = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "H%zu: v\r\n", i);
    if (with_end)
        len += (size_t)snprintf(buf + len, cap - len, "\r\n");
    return len;
}

START_TEST(test_max_headers_are_accepted)
{
    char buf[2048];
    struct wsg_hs_request req;
    size_t consumed = 0;
    size_t len = make_head_with_headers(buf, sizeof buf, WSG_HS_MAX_HEADERS, true);
    ck_assert_int_eq(wsg_hs_parse_request(buf, len, &req, &consumed), WSG_OK);
    ck_assert_uint_eq(req.nheaders, WSG_HS_MAX_HEADERS);
}
END_TEST

START_TEST(test_too_many_headers_is_too_large)
{
    char buf[2048];
    struct wsg_hs_request req;
    size_t consumed = 0;
    size_t len = make_head_with_headers(buf, sizeof buf, WSG_HS_MAX_HEADERS + 1, true);
    ck_assert_int_eq(wsg_hs_parse_request(buf, len, &req, &consumed),
                     WSG_ERR_HS_TOO_LARGE);
    /* Known as soon as the extra header starts. */
    len = make_head_with_headers(buf, sizeof buf, WSG_HS_MAX_HEADERS, false);
    buf[len++] = 'H';
    ck_assert_int_eq(wsg_hs_parse_request(buf, len, &req, &consumed),
                     WSG_ERR_HS_TOO_LARGE);
}
END_TEST

/* ---- parsing responses (RFC 7230 3.1.2) -------------------------------- */

START_TEST(test_rfc_sample_response_parses)
{
    struct wsg_hs_response resp;
    size_t consumed = 0;
    ck_assert_int_eq(wsg_hs_parse_response(rfc_response, strlen(rfc_response), &resp,
                                           &consumed), WSG_OK);
    ck_assert_uint_eq(consumed, strlen(rfc_response));
    ck_assert_int_eq(resp.http_major, 1);
    ck_assert_int_eq(resp.http_minor, 1);
    ck_assert_int_eq(resp.status, 101);
    ck_assert(span_is(resp.reason, resp.reason_len, "Switching Protocols"));
    ck_assert_uint_eq(resp.nheaders, 4);
    ck_assert(span_is(resp.headers[2].value, resp.headers[2].value_len, RFC_ACCEPT));
}
END_TEST

START_TEST(test_every_prefix_of_response_is_incomplete)
{
    struct wsg_hs_response resp;
    size_t len = strlen(rfc_response), consumed = 0;
    for (size_t i = 0; i < len; i++) {
        ck_assert_msg(wsg_hs_parse_response(rfc_response, i, &resp, &consumed) ==
                      WSG_ERR_INCOMPLETE, "prefix of %zu bytes", i);
    }
    ck_assert_int_eq(wsg_hs_parse_response(rfc_response, len, &resp, &consumed),
                     WSG_OK);
    ck_assert_uint_eq(consumed, len);
}
END_TEST

/* RFC 6455 4.1: the server may send frames right after its 101. */
START_TEST(test_bytes_after_response_head_are_not_consumed)
{
    char buf[1024];
    struct wsg_hs_response resp;
    size_t head = strlen(rfc_response), consumed = 0;
    memcpy(buf, rfc_response, head);
    memcpy(buf + head, "\x81\x02hi", 4);
    ck_assert_int_eq(wsg_hs_parse_response(buf, head + 4, &resp, &consumed), WSG_OK);
    ck_assert_uint_eq(consumed, head);
}
END_TEST

START_TEST(test_empty_reason_phrase_is_accepted)
{
    struct wsg_hs_response resp;
    ck_assert_int_eq(parse_response_text("HTTP/1.1 101 \r\n\r\n", &resp), WSG_OK);
    ck_assert_int_eq(resp.status, 101);
    ck_assert_uint_eq(resp.reason_len, 0);
}
END_TEST

START_TEST(test_malformed_status_lines_are_rejected)
{
    static const char *const bad[] = {
        "HTTP/1.1 101\r\n\r\n",             /* SP before the reason is required */
        "HTTP/1.1 10 OK\r\n\r\n",
        "HTTP/1.1 1011 OK\r\n\r\n",
        "HTTP/1.1 1a1 OK\r\n\r\n",
        "HTTP/1.1  101 OK\r\n\r\n",
        "HTTP/1.1 101 O\x01K\r\n\r\n",
        "HTTP/1.1 101 OK\n\r\n",
        "HTTP/1.1\t101 OK\r\n\r\n",
        "http/1.1 101 OK\r\n\r\n",
        "HTTP/1 101 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 101 OK\r\n\r\n",
    };
    struct wsg_hs_response resp;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse_response_text(bad[i], &resp) == WSG_ERR_HS_MALFORMED,
                      "case %zu", i);
    }
}
END_TEST

START_TEST(test_malformed_response_header_is_rejected)
{
    struct wsg_hs_response resp;
    ck_assert_int_eq(parse_response_text(STATUS_101 "A : b\r\n\r\n", &resp),
                     WSG_ERR_HS_MALFORMED);
    ck_assert_int_eq(parse_response_text(STATUS_101 "A: b\r\n c\r\n\r\n", &resp),
                     WSG_ERR_HS_MALFORMED);
}
END_TEST

START_TEST(test_response_over_max_size_is_too_large)
{
    static char buf[WSG_HS_MAX_HEAD + 64];
    struct wsg_hs_response resp;
    size_t consumed = 0;
    size_t len = (size_t)snprintf(buf, sizeof buf, STATUS_101 "X: ");
    memset(buf + len, 'a', sizeof buf - len);
    ck_assert_int_eq(wsg_hs_parse_response(buf, WSG_HS_MAX_HEAD - 1, &resp, &consumed),
                     WSG_ERR_INCOMPLETE);
    ck_assert_int_eq(wsg_hs_parse_response(buf, sizeof buf, &resp, &consumed),
                     WSG_ERR_HS_TOO_LARGE);
}
END_TEST

START_TEST(test_parse_response_rejects_null_arguments)
{
    struct wsg_hs_response resp;
    size_t consumed;
    ck_assert_int_eq(wsg_hs_parse_response(NULL, 1, &resp, &consumed),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(wsg_hs_parse_response(rfc_response, 1, NULL, &consumed),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(wsg_hs_parse_response(rfc_response, 1, &resp, NULL),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(wsg_hs_parse_response(NULL, 0, &resp, &consumed),
                     WSG_ERR_INCOMPLETE);
}
END_TEST

/* ---- header lookup and token lists (RFC 7230 3.2, 3.2.2, 7) ------------ */

START_TEST(test_find_header_is_case_insensitive_and_returns_first)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nx-a: 1\r\nX-A: 2\r\n\r\n", &req),
                     WSG_OK);
    const struct wsg_header *h = wsg_hs_find_header(req.headers, req.nheaders, "X-a");
    ck_assert_ptr_eq(h, &req.headers[0]);
}
END_TEST

START_TEST(test_find_header_returns_null_when_absent)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", &req), WSG_OK);
    ck_assert_ptr_null(wsg_hs_find_header(req.headers, req.nheaders, "X-B"));
    ck_assert_ptr_null(wsg_hs_find_header(req.headers, req.nheaders, "X-"));
    ck_assert_ptr_null(wsg_hs_find_header(req.headers, req.nheaders, "X-AA"));
    ck_assert_ptr_null(wsg_hs_find_header(NULL, 0, "X-A"));
}
END_TEST

START_TEST(test_token_is_found_in_a_comma_list)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\n"
                                "Connection: keep-alive, Upgrade\r\n\r\n", &req), WSG_OK);
    ck_assert(wsg_hs_header_has_token(req.headers, req.nheaders, "connection",
                                      "upgrade"));
    ck_assert(wsg_hs_header_has_token(req.headers, req.nheaders, "Connection",
                                      "KEEP-ALIVE"));
    ck_assert(!wsg_hs_header_has_token(req.headers, req.nheaders, "Connection",
                                       "close"));
}
END_TEST

/* RFC 7230 7: empty list elements and OWS around them do not count. */
START_TEST(test_token_list_tolerates_empty_elements_and_whitespace)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\n"
                                "Connection: ,, \t,upgrade\t , ,\r\n\r\n", &req), WSG_OK);
    ck_assert(wsg_hs_header_has_token(req.headers, req.nheaders, "Connection",
                                      "Upgrade"));
}
END_TEST

START_TEST(test_token_must_match_a_whole_element)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\n"
                                "Connection: upgrades, keep-upgrade, up grade\r\n\r\n",
                                &req), WSG_OK);
    ck_assert(!wsg_hs_header_has_token(req.headers, req.nheaders, "Connection",
                                       "upgrade"));
    ck_assert(!wsg_hs_header_has_token(req.headers, req.nheaders, "Connection", "up"));
}
END_TEST

/* RFC 7230 3.2.2: repeated headers are one comma-joined list. */
START_TEST(test_token_is_found_in_a_repeated_header)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
                                "X: upgrade\r\nconnection: Upgrade\r\n\r\n", &req),
                     WSG_OK);
    ck_assert(wsg_hs_header_has_token(req.headers, req.nheaders, "Connection",
                                      "upgrade"));
    ck_assert(!wsg_hs_header_has_token(req.headers, req.nheaders, "Upgrade",
                                       "upgrade"));
}
END_TEST

/* Headers from an HTTP layer may come with a NULL value when empty. */
START_TEST(test_token_search_accepts_null_values)
{
    struct wsg_header h[2] = {
        { "Connection", 10, NULL, 0 },
        { "Connection", 10, "Upgrade", 7 },
    };
    ck_assert(wsg_hs_header_has_token(h, 2, "Connection", "upgrade"));
    ck_assert(!wsg_hs_header_has_token(h, 1, "Connection", "upgrade"));
    ck_assert(!wsg_hs_header_has_token(NULL, 0, "Connection", "upgrade"));
}
END_TEST

/* ---- server checks, RFC 6455 4.2.1, in the order they are made --------- */

START_TEST(test_minimal_request_passes_check)
{
    struct wsg_hs_info info;
    ck_assert_int_eq(check_text_info(MINIMAL_REQ, &info), WSG_OK);
    ck_assert_ptr_null(info.origin);
    ck_assert_uint_eq(info.origin_len, 0);
}
END_TEST

START_TEST(test_check_request_accepts_null_info)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text(rfc_request, &req), WSG_OK);
    ck_assert_int_eq(wsg_hs_check_request(req.method, req.method_len, 1, 1,
                                          req.headers, req.nheaders, NULL), WSG_OK);
}
END_TEST

/* RFC 6455 4.2.1 item 1 */
START_TEST(test_non_get_method_is_rejected)
{
    ck_assert_int_eq(check_text("POST /chat HTTP/1.1\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END), WSG_ERR_HS_METHOD);
    ck_assert_int_eq(check_text("GETS /chat HTTP/1.1\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END), WSG_ERR_HS_METHOD);
}
END_TEST

/* RFC 7231 4.1: methods are case-sensitive. */
START_TEST(test_lowercase_get_is_rejected)
{
    ck_assert_int_eq(check_text("get /chat HTTP/1.1\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END), WSG_ERR_HS_METHOD);
}
END_TEST

START_TEST(test_null_method_skips_the_method_check)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text("POST /chat HTTP/1.1\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END, &req), WSG_OK);
    ck_assert_int_eq(wsg_hs_check_request(NULL, 0, 1, 1, req.headers, req.nheaders,
                                          NULL), WSG_OK);
}
END_TEST

/* RFC 6455 4.2.1 item 1: HTTP/1.1 or higher. */
START_TEST(test_http_1_0_is_rejected)
{
    ck_assert_int_eq(check_text("GET /chat HTTP/1.0\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END), WSG_ERR_HS_HTTP_VERSION);
    ck_assert_int_eq(check_text("GET /chat HTTP/0.9\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END), WSG_ERR_HS_HTTP_VERSION);
}
END_TEST

START_TEST(test_http_versions_above_1_1_are_accepted)
{
    ck_assert_int_eq(check_text("GET /chat HTTP/1.2\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END), WSG_OK);
    ck_assert_int_eq(check_text("GET /chat HTTP/2.0\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_KEY H_VERSION END), WSG_OK);
}
END_TEST

/* RFC 6455 4.2.1 item 2 */
START_TEST(test_missing_host_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_UPGRADE H_CONNECTION H_KEY H_VERSION END),
                     WSG_ERR_HS_NO_HOST);
}
END_TEST

START_TEST(test_empty_host_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE "Host: \r\n" H_UPGRADE H_CONNECTION H_KEY
                                H_VERSION END), WSG_ERR_HS_NO_HOST);
}
END_TEST

/* RFC 7230 5.4: more than one Host is a 400. */
START_TEST(test_duplicate_host_is_malformed)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST "host: evil.example\r\n" H_UPGRADE
                                H_CONNECTION H_KEY H_VERSION END), WSG_ERR_HS_MALFORMED);
}
END_TEST

/* RFC 6455 4.2.1 item 3 */
START_TEST(test_missing_upgrade_header_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_CONNECTION H_KEY H_VERSION END),
                     WSG_ERR_HS_UPGRADE);
}
END_TEST

START_TEST(test_upgrade_without_websocket_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST "Upgrade: h2c\r\n" H_CONNECTION H_KEY
                                H_VERSION END), WSG_ERR_HS_UPGRADE);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST "Upgrade: websocket2\r\n" H_CONNECTION
                                H_KEY H_VERSION END), WSG_ERR_HS_UPGRADE);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST "Upgrade:\r\n" H_CONNECTION H_KEY
                                H_VERSION END), WSG_ERR_HS_UPGRADE);
}
END_TEST

START_TEST(test_upgrade_token_is_case_insensitive_and_may_be_in_a_list)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST "Upgrade: WebSocket\r\n" H_CONNECTION
                                H_KEY H_VERSION END), WSG_OK);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST "uPgRaDe: h2c, WEBSOCKET\r\n"
                                H_CONNECTION H_KEY H_VERSION END), WSG_OK);
}
END_TEST

/* RFC 6455 4.2.1 item 4 */
START_TEST(test_missing_connection_header_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_KEY H_VERSION END),
                     WSG_ERR_HS_CONNECTION);
}
END_TEST

START_TEST(test_connection_without_upgrade_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE "Connection: keep-alive\r\n"
                                H_KEY H_VERSION END), WSG_ERR_HS_CONNECTION);
}
END_TEST

/* Firefox sends "Connection: keep-alive, Upgrade". */
START_TEST(test_connection_list_with_upgrade_is_accepted)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE
                                "Connection: keep-alive, Upgrade\r\n" H_KEY H_VERSION
                                END), WSG_OK);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE "Connection: keep-alive\r\n"
                                "CONNECTION: UPGRADE\r\n" H_KEY H_VERSION END), WSG_OK);
}
END_TEST

/* RFC 6455 4.2.1 item 6, 4.4: missing or not 13 is a 426. */
START_TEST(test_missing_version_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY END),
                     WSG_ERR_HS_VERSION);
}
END_TEST

START_TEST(test_version_other_than_13_is_rejected)
{
    static const char *const bad[] = {
        "Sec-WebSocket-Version: 8\r\n",
        "Sec-WebSocket-Version: 14\r\n",
        "Sec-WebSocket-Version: 013\r\n",
        "Sec-WebSocket-Version: 13, 8\r\n",
        "Sec-WebSocket-Version:\r\n",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n",
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s%s%s%s%s%s", REQ_LINE, H_HOST, H_UPGRADE,
                 H_CONNECTION, H_KEY, bad[i], END);
        ck_assert_msg(check_text(buf) == WSG_ERR_HS_VERSION, "case %zu", i);
    }
}
END_TEST

START_TEST(test_version_header_name_is_case_insensitive)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY
                                "sec-websocket-version:13\r\n" END), WSG_OK);
}
END_TEST

/* RFC 6455 4.4: the daemon answers a version failure with 426 and
 * Sec-WebSocket-Version: 13, so it must stay its own error. */
START_TEST(test_version_failure_maps_to_http_426)
{
    enum wsg_err rc = check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY
                                 "Sec-WebSocket-Version: 8\r\n" END);
    ck_assert_int_eq(rc, WSG_ERR_HS_VERSION);
    ck_assert_int_eq(wsg_err_http_status(rc), 426);
}
END_TEST

/* A version-8 client with a bad key hears about the version (426), which
 * tells it what to retry with. */
START_TEST(test_version_is_checked_before_key)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION
                                "Sec-WebSocket-Version: 8\r\n" END), WSG_ERR_HS_VERSION);
}
END_TEST

/* RFC 7230 3.3: the bytes after the head are frames, not a body. */
START_TEST(test_transfer_encoding_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "Transfer-Encoding: chunked\r\n" END), WSG_ERR_HS_BODY);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "transfer-encoding: identity\r\n" END), WSG_ERR_HS_BODY);
}
END_TEST

START_TEST(test_nonzero_content_length_is_rejected)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "Content-Length: 5\r\n" END), WSG_ERR_HS_BODY);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "Content-Length:\r\n" END), WSG_ERR_HS_BODY);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "Content-Length: 0, 0\r\n" END), WSG_ERR_HS_BODY);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "Content-Length: 0\r\nContent-Length: 1\r\n" END),
                     WSG_ERR_HS_BODY);
}
END_TEST

START_TEST(test_zero_content_length_is_accepted)
{
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "Content-Length: 0\r\n" END), WSG_OK);
    ck_assert_int_eq(check_text(REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                                "Content-Length: 00\r\n" END), WSG_OK);
}
END_TEST

/* One failure at a time is removed; each time the next check speaks. */
START_TEST(test_check_request_reports_failures_in_order)
{
    ck_assert_int_eq(check_text("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n"),
                     WSG_ERR_HS_METHOD);
    ck_assert_int_eq(check_text("GET / HTTP/1.0\r\nContent-Length: 3\r\n\r\n"),
                     WSG_ERR_HS_HTTP_VERSION);
    ck_assert_int_eq(check_text("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"),
                     WSG_ERR_HS_NO_HOST);
    ck_assert_int_eq(check_text("GET / HTTP/1.1\r\n" H_HOST "Content-Length: 3\r\n\r\n"),
                     WSG_ERR_HS_UPGRADE);
    ck_assert_int_eq(check_text("GET / HTTP/1.1\r\n" H_HOST H_UPGRADE
                                "Content-Length: 3\r\n\r\n"), WSG_ERR_HS_CONNECTION);
    ck_assert_int_eq(check_text("GET / HTTP/1.1\r\n" H_HOST H_UPGRADE H_CONNECTION
                                "Content-Length: 3\r\n\r\n"), WSG_ERR_HS_VERSION);
    ck_assert_int_eq(check_text("GET / HTTP/1.1\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_VERSION "Content-Length: 3\r\n\r\n"), WSG_ERR_HS_KEY);
    ck_assert_int_eq(check_text("GET / HTTP/1.1\r\n" H_HOST H_UPGRADE H_CONNECTION
                                H_VERSION H_KEY "Content-Length: 3\r\n\r\n"),
                     WSG_ERR_HS_BODY);
}
END_TEST

START_TEST(test_check_request_rejects_null_headers_with_count)
{
    ck_assert_int_eq(wsg_hs_check_request("GET", 3, 1, 1, NULL, 3, NULL),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(wsg_hs_check_request("GET", 3, 1, 1, NULL, 0, NULL),
                     WSG_ERR_HS_NO_HOST);
}
END_TEST

/* Works on headers from another HTTP parser, not only ours. */
START_TEST(test_check_request_works_on_a_plain_header_array)
{
    const struct wsg_header h[] = {
        { "host", 4, "a", 1 },
        { "UPGRADE", 7, "websocket", 9 },
        { "connection", 10, "upgrade", 7 },
        { "sec-websocket-key", 17, RFC_KEY, WSG_HS_KEY_LEN },
        { "sec-websocket-version", 21, "13", 2 },
    };
    struct wsg_hs_info info;
    ck_assert_int_eq(wsg_hs_check_request("GET", 3, 1, 1, h, 5, &info), WSG_OK);
    ck_assert_ptr_eq(info.key, h[3].value);
}
END_TEST

/* ---- subprotocol selection (RFC 6455 4.2.2 item 5.4, 11.3.4) ----------- */

static int
select_from(const char *text, const char *const *server, size_t nserver)
{
    struct wsg_hs_request req;
    ck_assert_int_eq(parse_text(text, &req), WSG_OK);
    return wsg_hs_select_subprotocol(req.headers, req.nheaders, server, nserver);
}

START_TEST(test_subprotocol_follows_server_preference)
{
    static const char *const server[] = { "superchat", "chat" };
    ck_assert_int_eq(select_from(rfc_request, server, 2), 0);
    ck_assert_int_eq(select_from(rfc_request, server + 1, 1), 0);
    ck_assert_int_eq(select_from(rfc_request, offered, 2), 0);
}
END_TEST

START_TEST(test_subprotocol_offers_span_repeated_headers)
{
    static const char *const server[] = { "v3", "v2", "v1" };
    ck_assert_int_eq(select_from("GET / HTTP/1.1\r\nSec-WebSocket-Protocol: v1\r\n"
                                 "X: v3\r\nsec-websocket-protocol:  ,v0 ,\tv2\r\n\r\n",
                                 server, 3), 1);
}
END_TEST

START_TEST(test_subprotocol_match_is_case_sensitive)
{
    static const char *const server[] = { "chat" };
    ck_assert_int_eq(select_from("GET / HTTP/1.1\r\nSec-WebSocket-Protocol: Chat\r\n\r\n",
                                 server, 1), -1);
}
END_TEST

START_TEST(test_subprotocol_must_match_a_whole_element)
{
    static const char *const server[] = { "chat", "super" };
    ck_assert_int_eq(select_from("GET / HTTP/1.1\r\n"
                                 "Sec-WebSocket-Protocol: superchat, chatty\r\n\r\n",
                                 server, 2), -1);
}
END_TEST

START_TEST(test_no_common_subprotocol_selects_none)
{
    static const char *const server[] = { "mqtt" };
    ck_assert_int_eq(select_from(rfc_request, server, 1), -1);
    ck_assert_int_eq(select_from(MINIMAL_REQ, offered, 2), -1);
    ck_assert_int_eq(select_from(rfc_request, offered, 0), -1);
    ck_assert_int_eq(select_from(rfc_request, NULL, 0), -1);
}
END_TEST

START_TEST(test_null_server_subprotocol_is_skipped)
{
    static const char *const server[] = { NULL, "chat" };
    ck_assert_int_eq(select_from(rfc_request, server, 2), 1);
}
END_TEST

/* ---- building the response (RFC 6455 4.2.2 item 5) --------------------- */

START_TEST(test_build_response_writes_the_rfc_example)
{
    char out[512];
    static const char want[] = STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                               "Sec-WebSocket-Protocol: chat\r\n" END;
    size_t len = wsg_hs_build_response(out, sizeof out, RFC_KEY, "chat", NULL);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_build_response_without_protocol_or_extensions)
{
    char out[512];
    static const char want[] = STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT END;
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, RFC_KEY, NULL, NULL),
                      strlen(want));
    ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_build_response_with_extensions)
{
    char out[512];
    static const char want[] = STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        END;
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, RFC_KEY, NULL,
                          "permessage-deflate; server_no_context_takeover"),
                      strlen(want));
    ck_assert_str_eq(out, want);
}
END_TEST

/* The key comes straight from wsg_hs_info, pointing into the request. */
START_TEST(test_build_response_reads_only_the_key_length)
{
    char out[512], expected[512];
    static const char key_in_request[] = RFC_KEY "\r\nOrigin: x\r\n";
    size_t len = wsg_hs_build_response(out, sizeof out, key_in_request, NULL, NULL);
    ck_assert_uint_eq(wsg_hs_build_response(expected, sizeof expected, RFC_KEY, NULL,
                                            NULL), len);
    ck_assert_str_eq(out, expected);
}
END_TEST

/* The head plus its NUL terminator must fit. */
START_TEST(test_build_response_returns_0_when_it_does_not_fit)
{
    char out[512];
    size_t len = wsg_hs_build_response(out, sizeof out, RFC_KEY, "chat", "x");
    ck_assert_uint_gt(len, 0);
    for (size_t cap = 0; cap <= len; cap++) {
        ck_assert_msg(wsg_hs_build_response(out, cap, RFC_KEY, "chat", "x") == 0,
                      "cap %zu", cap);
    }
    ck_assert_uint_eq(wsg_hs_build_response(out, len + 1, RFC_KEY, "chat", "x"), len);
}
END_TEST

START_TEST(test_build_response_refuses_values_that_break_the_head)
{
    char out[512];
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, RFC_KEY, "chat\r\nX: y",
                                            NULL), 0);
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, RFC_KEY, "", NULL), 0);
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, RFC_KEY, "a b", NULL), 0);
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, RFC_KEY, NULL, "x\ny"), 0);
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, RFC_KEY, NULL, ""), 0);
    ck_assert_uint_eq(wsg_hs_build_response(out, sizeof out, NULL, NULL, NULL), 0);
    ck_assert_uint_eq(wsg_hs_build_response(NULL, 512, RFC_KEY, NULL, NULL), 0);
}
END_TEST

/* ---- building the request (RFC 6455 4.1) ------------------------------- */

START_TEST(test_build_request_writes_the_rfc_example)
{
    char out[1024];
    struct wsg_hs_client_opts o = rfc_opts();
    static const char want[] = REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
                               H_PROTOCOL H_ORIGIN END;
    ck_assert_uint_eq(wsg_hs_build_request(out, sizeof out, &o), strlen(want));
    ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_build_request_with_extensions_and_extra_headers)
{
    char out[1024];
    struct wsg_header extra[] = {
        { "Authorization", 13, "Bearer abc", 10 },
        { "X-Empty", 7, NULL, 0 },
    };
    struct wsg_hs_client_opts o = rfc_opts();
    o.protocols = NULL;
    o.nprotocols = 0;
    o.origin = NULL;
    o.extensions = "permessage-deflate";
    o.extra = extra;
    o.nextra = 2;
    static const char want[] = REQ_LINE H_HOST H_UPGRADE H_CONNECTION H_KEY H_VERSION
        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        "Authorization: Bearer abc\r\nX-Empty: \r\n" END;
    ck_assert_uint_eq(wsg_hs_build_request(out, sizeof out, &o), strlen(want));
    ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_build_request_returns_0_when_it_does_not_fit)
{
    char out[1024];
    struct wsg_hs_client_opts o = rfc_opts();
    size_t len = wsg_hs_build_request(out, sizeof out, &o);
    ck_assert_uint_gt(len, 0);
    for (size_t cap = 0; cap <= len; cap++)
        ck_assert_msg(wsg_hs_build_request(out, cap, &o) == 0, "cap %zu", cap);
    ck_assert_uint_eq(wsg_hs_build_request(out, len + 1, &o), len);
}
END_TEST

START_TEST(test_build_request_refuses_crlf_in_options)
{
    char out[1024];
    struct wsg_hs_client_opts o;
    static const char *const bad_protos[] = { "chat", "a\r\nX: y" };
    static const char *const comma_proto[] = { "a,b" };
    static const char *const empty_proto[] = { "" };
    static const char *const null_proto[] = { NULL };

#define REFUSED(field, value)                                                 \
    do {                                                                      \
        o = rfc_opts();                                                       \
        o.field = value;                                                      \
        ck_assert_msg(wsg_hs_build_request(out, sizeof out, &o) == 0,         \
                      #field " = " #value);                                   \
    } while (0)

    REFUSED(host, "a\r\nX: y");
    REFUSED(host, "a\n");
    REFUSED(host, "");
    REFUSED(host, NULL);
    REFUSED(target, "/a b");
    REFUSED(target, "/\r\n");
    REFUSED(target, "");
    REFUSED(target, NULL);
    REFUSED(key, "k\r\n");
    REFUSED(key, "");
    REFUSED(key, NULL);
    REFUSED(origin, "http://a\r\nX: y");
    REFUSED(extensions, "x\ry");
    REFUSED(protocols, bad_protos);
    REFUSED(protocols, comma_proto);
    REFUSED(protocols, empty_proto);
    REFUSED(protocols, null_proto);
    REFUSED(protocols, NULL);
#undef REFUSED
    o = rfc_opts();
    ck_assert_uint_eq(wsg_hs_build_request(NULL, sizeof out, &o), 0);
    ck_assert_uint_eq(wsg_hs_build_request(out, sizeof out, NULL), 0);
}
END_TEST

START_TEST(test_build_request_refuses_bad_extra_headers)
{
    static const struct wsg_header bad[] = {
        { "X-A", 3, "a\r\nX: y", 7 },
        { "X-A", 3, "a\0b", 3 },              /* NUL via explicit length */
        { "X-A", 3, NULL, 2 },
        { "X A", 3, "v", 1 },
        { "X:A", 3, "v", 1 },
        { "X\r\n", 3, "v", 1 },
        { "", 0, "v", 1 },
        { NULL, 0, "v", 1 },
    };
    char out[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct wsg_hs_client_opts o = rfc_opts();
        o.extra = &bad[i];
        o.nextra = 1;
        ck_assert_msg(wsg_hs_build_request(out, sizeof out, &o) == 0, "case %zu", i);
    }
    struct wsg_hs_client_opts o = rfc_opts();
    o.nextra = 1;   /* with extra NULL */
    ck_assert_uint_eq(wsg_hs_build_request(out, sizeof out, &o), 0);
}
END_TEST

/* ---- round trips ------------------------------------------------------- */

START_TEST(test_built_request_parses_and_passes_check)
{
    char out[1024], key[WSG_HS_KEY_LEN + 1];
    static const char *const server[] = { "superchat", "chat" };
    struct wsg_header extra[] = { { "Cookie", 6, "a=b; c=d", 8 } };
    struct wsg_hs_client_opts o = rfc_opts();
    struct wsg_hs_request req;
    struct wsg_hs_info info;
    size_t consumed = 0;

    ck_assert_int_eq(wsg_hs_generate_key(key), WSG_OK);
    o.key = key;
    o.target = "/chat?room=1&x=%20";
    o.extensions = "permessage-deflate";
    o.extra = extra;
    o.nextra = 1;
    size_t len = wsg_hs_build_request(out, sizeof out, &o);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(wsg_hs_parse_request(out, len, &req, &consumed), WSG_OK);
    ck_assert_uint_eq(consumed, len);
    ck_assert(span_is(req.target, req.target_len, o.target));
    ck_assert_int_eq(wsg_hs_check_request(req.method, req.method_len, req.http_major,
                                          req.http_minor, req.headers, req.nheaders,
                                          &info), WSG_OK);
    ck_assert(memcmp(info.key, key, WSG_HS_KEY_LEN) == 0);
    ck_assert(span_is(info.host, info.host_len, o.host));
    ck_assert(span_is(info.origin, info.origin_len, o.origin));
    ck_assert_int_eq(wsg_hs_select_subprotocol(req.headers, req.nheaders, server, 2), 0);
    const struct wsg_header *c = wsg_hs_find_header(req.headers, req.nheaders, "cookie");
    ck_assert_ptr_nonnull(c);
    ck_assert(span_is(c->value, c->value_len, "a=b; c=d"));
}
END_TEST

START_TEST(test_built_response_parses_and_passes_check)
{
    char out[512], key[WSG_HS_KEY_LEN + 1];
    struct wsg_hs_client_opts o = rfc_opts();
    struct wsg_hs_response resp;
    size_t consumed = 0;
    int selected = 99;

    ck_assert_int_eq(wsg_hs_generate_key(key), WSG_OK);
    o.key = key;
    size_t len = wsg_hs_build_response(out, sizeof out, key, "superchat",
                                       "permessage-deflate");
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(wsg_hs_parse_response(out, len, &resp, &consumed), WSG_OK);
    ck_assert_uint_eq(consumed, len);
    ck_assert_int_eq(wsg_hs_check_response(&resp, &o, true, &selected), WSG_OK);
    ck_assert_int_eq(selected, 1);
}
END_TEST

/* ---- client checks, RFC 6455 4.1, in the order they are made ----------- */

/* RFC 6455 1.2 */
START_TEST(test_rfc_sample_response_passes_check)
{
    int selected = 99;
    ck_assert_int_eq(check_response_text(rfc_response, false, &selected), WSG_OK);
    ck_assert_int_eq(selected, 0);
}
END_TEST

/* RFC 6455 4.1 client check 1 */
START_TEST(test_status_other_than_101_is_rejected)
{
    int selected = 99;
    ck_assert_int_eq(check_response_text("HTTP/1.1 200 OK\r\n" H_UPGRADE H_CONNECTION
                                         H_ACCEPT END, false, &selected),
                     WSG_ERR_HS_STATUS);
    ck_assert_int_eq(selected, -1);
    ck_assert_int_eq(check_response_text("HTTP/1.1 426 Upgrade Required\r\n"
                                         "Sec-WebSocket-Version: 13\r\n" END, false,
                                         &selected), WSG_ERR_HS_STATUS);
}
END_TEST

/* RFC 6455 4.1 client check 2 */
START_TEST(test_response_without_websocket_upgrade_is_rejected)
{
    ck_assert_int_eq(check_response_text(STATUS_101 H_CONNECTION H_ACCEPT END, false,
                                         NULL), WSG_ERR_HS_UPGRADE);
    ck_assert_int_eq(check_response_text(STATUS_101 "Upgrade: h2c\r\n" H_CONNECTION
                                         H_ACCEPT END, false, NULL), WSG_ERR_HS_UPGRADE);
    ck_assert_int_eq(check_response_text(STATUS_101 "upgrade: WEBSOCKET\r\n"
                                         H_CONNECTION H_ACCEPT END, false, NULL), WSG_OK);
}
END_TEST

/* RFC 6455 4.1 client check 3 */
START_TEST(test_response_without_connection_upgrade_is_rejected)
{
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_ACCEPT END, false,
                                         NULL), WSG_ERR_HS_CONNECTION);
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE "Connection: close\r\n"
                                         H_ACCEPT END, false, NULL),
                     WSG_ERR_HS_CONNECTION);
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE
                                         "Connection: keep-alive, upgrade\r\n" H_ACCEPT
                                         END, false, NULL), WSG_OK);
}
END_TEST

/* RFC 6455 4.1 client check 4 */
START_TEST(test_missing_accept_is_rejected)
{
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION END, false,
                                         NULL), WSG_ERR_HS_ACCEPT);
}
END_TEST

START_TEST(test_wrong_accept_is_rejected)
{
    static const char *const bad[] = {
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n",
        "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n", /* base64 has case */
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=x\r\n",
        "Sec-WebSocket-Accept: " RFC_KEY "\r\n",
        "Sec-WebSocket-Accept:\r\n",
        H_ACCEPT H_ACCEPT,                  /* must be exactly one */
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s%s%s%s", STATUS_101, H_UPGRADE, H_CONNECTION,
                 bad[i], END);
        ck_assert_msg(check_response_text(buf, false, NULL) == WSG_ERR_HS_ACCEPT,
                      "case %zu", i);
    }
}
END_TEST

START_TEST(test_accept_header_name_is_case_insensitive)
{
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION
                                         "sec-websocket-accept: " RFC_ACCEPT "\r\n" END,
                                         false, NULL), WSG_OK);
}
END_TEST

/* RFC 6455 4.1 client check 6: a server may decline every subprotocol. */
START_TEST(test_absent_subprotocol_selects_none)
{
    int selected = 99;
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT END,
                                         false, &selected), WSG_OK);
    ck_assert_int_eq(selected, -1);
}
END_TEST

START_TEST(test_subprotocol_not_offered_is_rejected)
{
    int selected = 99;
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Protocol: mqtt\r\n" END, false,
                                         &selected), WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
    ck_assert_int_eq(selected, -1);
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Protocol: Chat\r\n" END, false,
                                         NULL), WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Protocol:\r\n" END, false,
                                         NULL), WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
}
END_TEST

START_TEST(test_subprotocol_when_none_offered_is_rejected)
{
    struct wsg_hs_response resp;
    struct wsg_hs_client_opts o = rfc_opts();
    o.protocols = NULL;
    o.nprotocols = 0;
    ck_assert_int_eq(parse_response_text(rfc_response, &resp), WSG_OK);
    ck_assert_int_eq(wsg_hs_check_response(&resp, &o, false, NULL),
                     WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
}
END_TEST

START_TEST(test_more_than_one_subprotocol_is_rejected)
{
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                         END, false, NULL),
                     WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Protocol: chat\r\n"
                                         "Sec-WebSocket-Protocol: chat\r\n" END, false,
                                         NULL), WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Protocol: chat,\r\n" END, false,
                                         NULL), WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
}
END_TEST

START_TEST(test_second_offered_subprotocol_is_selected_by_index)
{
    int selected = 99;
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Protocol:  superchat \r\n" END,
                                         false, &selected), WSG_OK);
    ck_assert_int_eq(selected, 1);
}
END_TEST

/* RFC 6455 4.1 client check 5 */
START_TEST(test_extension_not_offered_is_rejected)
{
    int selected = 99;
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                         END, false, &selected), WSG_ERR_HS_EXTENSION);
    ck_assert_int_eq(selected, -1);
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Extensions:\r\n" END, false,
                                         NULL), WSG_ERR_HS_EXTENSION);
}
END_TEST

START_TEST(test_extension_is_accepted_when_offered)
{
    ck_assert_int_eq(check_response_text(STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT
                                         "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                         END, true, NULL), WSG_OK);
}
END_TEST

START_TEST(test_check_response_reports_failures_in_order)
{
    static const char ext[] = "Sec-WebSocket-Extensions: x\r\n";
    static const char proto[] = "Sec-WebSocket-Protocol: mqtt\r\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\n%s%s\r\n", proto, ext);
    ck_assert_int_eq(check_response_text(buf, false, NULL), WSG_ERR_HS_STATUS);
    snprintf(buf, sizeof buf, STATUS_101 "%s%s\r\n", proto, ext);
    ck_assert_int_eq(check_response_text(buf, false, NULL), WSG_ERR_HS_UPGRADE);
    snprintf(buf, sizeof buf, STATUS_101 H_UPGRADE "%s%s\r\n", proto, ext);
    ck_assert_int_eq(check_response_text(buf, false, NULL), WSG_ERR_HS_CONNECTION);
    snprintf(buf, sizeof buf, STATUS_101 H_UPGRADE H_CONNECTION "%s%s\r\n", proto, ext);
    ck_assert_int_eq(check_response_text(buf, false, NULL), WSG_ERR_HS_ACCEPT);
    snprintf(buf, sizeof buf, STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT "%s%s\r\n",
             proto, ext);
    ck_assert_int_eq(check_response_text(buf, false, NULL),
                     WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED);
    snprintf(buf, sizeof buf, STATUS_101 H_UPGRADE H_CONNECTION H_ACCEPT "%s\r\n", ext);
    ck_assert_int_eq(check_response_text(buf, false, NULL), WSG_ERR_HS_EXTENSION);
}
END_TEST

START_TEST(test_check_response_rejects_null_arguments)
{
    struct wsg_hs_response resp;
    struct wsg_hs_client_opts o = rfc_opts();
    int selected = 99;
    ck_assert_int_eq(parse_response_text(rfc_response, &resp), WSG_OK);
    ck_assert_int_eq(wsg_hs_check_response(NULL, &o, false, &selected),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(selected, -1);
    ck_assert_int_eq(wsg_hs_check_response(&resp, NULL, false, NULL),
                     WSG_ERR_INVALID_ARGUMENT);
    o.key = NULL;
    ck_assert_int_eq(wsg_hs_check_response(&resp, &o, false, NULL),
                     WSG_ERR_INVALID_ARGUMENT);
}
END_TEST

/* ---- suite --------------------------------------------------------------- */

Suite *
handshake_suite(void)
{
    Suite *s = suite_create("handshake");

    TCase *tc_keys = tcase_create("keys");
    tcase_add_test(tc_keys, test_accept_key_matches_rfc_example);
    tcase_add_test(tc_keys, test_generated_key_is_24_chars_decoding_to_16_bytes);
    tcase_add_test(tc_keys, test_generated_keys_differ_between_calls);
    tcase_add_test(tc_keys, test_generate_key_rejects_null);
    tcase_add_test(tc_keys, test_valid_key_is_accepted);
    tcase_add_test(tc_keys, test_missing_key_is_rejected);
    tcase_add_test(tc_keys, test_duplicate_key_is_rejected);
    tcase_add_test(tc_keys, test_empty_key_is_rejected);
    tcase_add_test(tc_keys, test_key_of_15_bytes_is_rejected);
    tcase_add_test(tc_keys, test_key_of_17_bytes_is_rejected);
    tcase_add_test(tc_keys, test_key_of_18_bytes_is_rejected);
    tcase_add_test(tc_keys, test_key_with_non_base64_char_is_rejected);
    tcase_add_test(tc_keys, test_key_with_padding_in_the_middle_is_rejected);
    tcase_add_test(tc_keys, test_key_without_padding_is_rejected);
    tcase_add_test(tc_keys, test_key_with_nonzero_padding_bits_is_rejected);
    tcase_add_test(tc_keys, test_key_with_inner_whitespace_is_rejected);
    tcase_add_test(tc_keys, test_key_surrounded_by_whitespace_is_accepted);
    suite_add_tcase(s, tc_keys);

    TCase *tc_parse_request = tcase_create("parse_request");
    tcase_add_test(tc_parse_request, test_rfc_sample_request_parses);
    tcase_add_test(tc_parse_request, test_rfc_sample_request_passes_check);
    tcase_add_test(tc_parse_request, test_every_prefix_of_request_is_incomplete);
    tcase_add_test(tc_parse_request, test_bytes_after_request_head_are_not_consumed);
    tcase_add_test(tc_parse_request, test_empty_buffer_is_incomplete);
    tcase_add_test(tc_parse_request, test_parse_request_rejects_null_arguments);
    tcase_add_test(tc_parse_request, test_header_values_are_trimmed);
    tcase_add_test(tc_parse_request, test_empty_header_value_is_accepted);
    tcase_add_test(tc_parse_request, test_htab_and_obs_text_in_value_are_accepted);
    tcase_add_test(tc_parse_request, test_repeated_headers_are_all_kept_in_order);
    tcase_add_test(tc_parse_request, test_request_without_headers_parses);
    tcase_add_test(tc_parse_request, test_bare_lf_is_malformed);
    tcase_add_test(tc_parse_request, test_cr_not_followed_by_lf_is_malformed);
    tcase_add_test(tc_parse_request, test_obs_fold_is_malformed);
    tcase_add_test(tc_parse_request, test_space_before_colon_is_malformed);
    tcase_add_test(tc_parse_request, test_header_name_must_be_a_token);
    tcase_add_test(tc_parse_request, test_nul_in_header_value_is_malformed);
    tcase_add_test(tc_parse_request, test_control_char_in_header_value_is_malformed);
    tcase_add_test(tc_parse_request, test_malformed_request_lines_are_rejected);
    tcase_add_test(tc_parse_request, test_malformed_prefix_fails_before_the_blank_line);
    tcase_add_test(tc_parse_request, test_head_of_exactly_max_size_is_accepted);
    tcase_add_test(tc_parse_request, test_head_over_max_size_is_too_large);
    tcase_add_test(tc_parse_request, test_unterminated_head_is_too_large_at_max_size);
    tcase_add_test(tc_parse_request, test_max_headers_are_accepted);
    tcase_add_test(tc_parse_request, test_too_many_headers_is_too_large);
    suite_add_tcase(s, tc_parse_request);

    TCase *tc_parse_response = tcase_create("parse_response");
    tcase_add_test(tc_parse_response, test_rfc_sample_response_parses);
    tcase_add_test(tc_parse_response, test_every_prefix_of_response_is_incomplete);
    tcase_add_test(tc_parse_response, test_bytes_after_response_head_are_not_consumed);
    tcase_add_test(tc_parse_response, test_empty_reason_phrase_is_accepted);
    tcase_add_test(tc_parse_response, test_malformed_status_lines_are_rejected);
    tcase_add_test(tc_parse_response, test_malformed_response_header_is_rejected);
    tcase_add_test(tc_parse_response, test_response_over_max_size_is_too_large);
    tcase_add_test(tc_parse_response, test_parse_response_rejects_null_arguments);
    suite_add_tcase(s, tc_parse_response);

    TCase *tc_headers = tcase_create("headers");
    tcase_add_test(tc_headers, test_find_header_is_case_insensitive_and_returns_first);
    tcase_add_test(tc_headers, test_find_header_returns_null_when_absent);
    tcase_add_test(tc_headers, test_token_is_found_in_a_comma_list);
    tcase_add_test(tc_headers, test_token_list_tolerates_empty_elements_and_whitespace);
    tcase_add_test(tc_headers, test_token_must_match_a_whole_element);
    tcase_add_test(tc_headers, test_token_is_found_in_a_repeated_header);
    tcase_add_test(tc_headers, test_token_search_accepts_null_values);
    suite_add_tcase(s, tc_headers);

    TCase *tc_check_request = tcase_create("check_request");
    tcase_add_test(tc_check_request, test_minimal_request_passes_check);
    tcase_add_test(tc_check_request, test_check_request_accepts_null_info);
    tcase_add_test(tc_check_request, test_non_get_method_is_rejected);
    tcase_add_test(tc_check_request, test_lowercase_get_is_rejected);
    tcase_add_test(tc_check_request, test_null_method_skips_the_method_check);
    tcase_add_test(tc_check_request, test_http_1_0_is_rejected);
    tcase_add_test(tc_check_request, test_http_versions_above_1_1_are_accepted);
    tcase_add_test(tc_check_request, test_missing_host_is_rejected);
    tcase_add_test(tc_check_request, test_empty_host_is_rejected);
    tcase_add_test(tc_check_request, test_duplicate_host_is_malformed);
    tcase_add_test(tc_check_request, test_missing_upgrade_header_is_rejected);
    tcase_add_test(tc_check_request, test_upgrade_without_websocket_is_rejected);
    tcase_add_test(tc_check_request, test_upgrade_token_is_case_insensitive_and_may_be_in_a_list);
    tcase_add_test(tc_check_request, test_missing_connection_header_is_rejected);
    tcase_add_test(tc_check_request, test_connection_without_upgrade_is_rejected);
    tcase_add_test(tc_check_request, test_connection_list_with_upgrade_is_accepted);
    tcase_add_test(tc_check_request, test_missing_version_is_rejected);
    tcase_add_test(tc_check_request, test_version_other_than_13_is_rejected);
    tcase_add_test(tc_check_request, test_version_header_name_is_case_insensitive);
    tcase_add_test(tc_check_request, test_version_failure_maps_to_http_426);
    tcase_add_test(tc_check_request, test_version_is_checked_before_key);
    tcase_add_test(tc_check_request, test_transfer_encoding_is_rejected);
    tcase_add_test(tc_check_request, test_nonzero_content_length_is_rejected);
    tcase_add_test(tc_check_request, test_zero_content_length_is_accepted);
    tcase_add_test(tc_check_request, test_check_request_reports_failures_in_order);
    tcase_add_test(tc_check_request, test_check_request_rejects_null_headers_with_count);
    tcase_add_test(tc_check_request, test_check_request_works_on_a_plain_header_array);
    suite_add_tcase(s, tc_check_request);

    TCase *tc_subprotocol = tcase_create("subprotocol");
    tcase_add_test(tc_subprotocol, test_subprotocol_follows_server_preference);
    tcase_add_test(tc_subprotocol, test_subprotocol_offers_span_repeated_headers);
    tcase_add_test(tc_subprotocol, test_subprotocol_match_is_case_sensitive);
    tcase_add_test(tc_subprotocol, test_subprotocol_must_match_a_whole_element);
    tcase_add_test(tc_subprotocol, test_no_common_subprotocol_selects_none);
    tcase_add_test(tc_subprotocol, test_null_server_subprotocol_is_skipped);
    suite_add_tcase(s, tc_subprotocol);

    TCase *tc_build = tcase_create("build");
    tcase_add_test(tc_build, test_build_response_writes_the_rfc_example);
    tcase_add_test(tc_build, test_build_response_without_protocol_or_extensions);
    tcase_add_test(tc_build, test_build_response_with_extensions);
    tcase_add_test(tc_build, test_build_response_reads_only_the_key_length);
    tcase_add_test(tc_build, test_build_response_returns_0_when_it_does_not_fit);
    tcase_add_test(tc_build, test_build_response_refuses_values_that_break_the_head);
    tcase_add_test(tc_build, test_build_request_writes_the_rfc_example);
    tcase_add_test(tc_build, test_build_request_with_extensions_and_extra_headers);
    tcase_add_test(tc_build, test_build_request_returns_0_when_it_does_not_fit);
    tcase_add_test(tc_build, test_build_request_refuses_crlf_in_options);
    tcase_add_test(tc_build, test_build_request_refuses_bad_extra_headers);
    tcase_add_test(tc_build, test_built_request_parses_and_passes_check);
    tcase_add_test(tc_build, test_built_response_parses_and_passes_check);
    suite_add_tcase(s, tc_build);

    TCase *tc_check_response = tcase_create("check_response");
    tcase_add_test(tc_check_response, test_rfc_sample_response_passes_check);
    tcase_add_test(tc_check_response, test_status_other_than_101_is_rejected);
    tcase_add_test(tc_check_response, test_response_without_websocket_upgrade_is_rejected);
    tcase_add_test(tc_check_response, test_response_without_connection_upgrade_is_rejected);
    tcase_add_test(tc_check_response, test_missing_accept_is_rejected);
    tcase_add_test(tc_check_response, test_wrong_accept_is_rejected);
    tcase_add_test(tc_check_response, test_accept_header_name_is_case_insensitive);
    tcase_add_test(tc_check_response, test_absent_subprotocol_selects_none);
    tcase_add_test(tc_check_response, test_subprotocol_not_offered_is_rejected);
    tcase_add_test(tc_check_response, test_subprotocol_when_none_offered_is_rejected);
    tcase_add_test(tc_check_response, test_more_than_one_subprotocol_is_rejected);
    tcase_add_test(tc_check_response, test_second_offered_subprotocol_is_selected_by_index);
    tcase_add_test(tc_check_response, test_extension_not_offered_is_rejected);
    tcase_add_test(tc_check_response, test_extension_is_accepted_when_offered);
    tcase_add_test(tc_check_response, test_check_response_reports_failures_in_order);
    tcase_add_test(tc_check_response, test_check_response_rejects_null_arguments);
    suite_add_tcase(s, tc_check_response);

    return s;
}
