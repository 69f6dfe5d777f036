/*
 * test_message.c - unit tests for src/proto/message.c: the reader (frames
 * to messages, RFC 6455 5.4-5.6, 8.1) and the message encoder.
 *
 * Every reader input goes through run(): fed whole, one byte per call and
 * in many random splits, all of which must give the same messages and the
 * same final error; the byte-at-a-time run also tells at which byte the
 * error appeared, which pins fail-fast behaviour.  Frames are built by a
 * small encoder local to this file, independent of frame.c and message.c,
 * so an encoder bug cannot hide a matching decoder bug.
 */
#include <stdlib.h>
#include <string.h>

#include "close.h"
#include "message.h"
#include "suites.h"

/* ------------------------------------------------------------------ */
/* byte streams and a test-side frame builder                          */
/* ------------------------------------------------------------------ */

struct stream {
    uint8_t *buf;
    size_t len, cap;
    uint32_t key_seed;  /* successive mask keys differ */
};

static void
stream_put(struct stream *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->len + n)
            cap *= 2;
        s->buf = realloc(s->buf, cap);
        ck_assert_ptr_nonnull(s->buf);
        s->cap = cap;
    }
    if (n > 0)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void
stream_free(struct stream *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Append one frame; mask with a fresh key when mask is true.  b0 is
 * FIN | RSV | opcode as on the wire, so tests can build any bad frame. */
static void
put_frame_b0(struct stream *s, uint8_t b0, bool mask, const void *payload,
             size_t len)
{
    uint8_t h[14];
    size_t hl = 2;
    const uint8_t *p = payload;

    h[0] = b0;
    h[1] = mask ? 0x80 : 0;
    if (len < 126) {
        h[1] |= (uint8_t)len;
    } else if (len <= 0xFFFF) {
        h[1] |= 126;
        h[hl++] = (uint8_t)(len >> 8);
        h[hl++] = (uint8_t)len;
    } else {
        h[1] |= 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            h[hl++] = (uint8_t)((uint64_t)len >> shift);
    }
    if (!mask) {
        stream_put(s, h, hl);
        stream_put(s, payload, len);
        return;
    }
    s->key_seed = s->key_seed * 1103515245u + 12345u;
    uint8_t key[4] = {(uint8_t)(s->key_seed >> 24), (uint8_t)(s->key_seed >> 16),
                      (uint8_t)(s->key_seed >> 8), (uint8_t)s->key_seed | 1};
    memcpy(h + hl, key, 4);
    hl += 4;
    stream_put(s, h, hl);
    for (size_t i = 0; i < len; i++) {
        uint8_t b = p[i] ^ key[i % 4];
        stream_put(s, &b, 1);
    }
}

#define FIN 0x80
#define RSV1_BIT 0x40

static void
put_frame(struct stream *s, bool fin, uint8_t opcode, bool mask,
          const void *payload, size_t len)
{
    put_frame_b0(s, (uint8_t)((fin ? FIN : 0) | opcode), mask, payload, len);
}

/* A frame whose header announces len bytes, with only the header put. */
static void
put_header_only(struct stream *s, uint8_t b0, bool mask, uint64_t len)
{
    uint8_t h[14];
    size_t hl = 2;

    h[0] = b0;
    h[1] = mask ? 0x80 : 0;
    if (len < 126) {
        h[1] |= (uint8_t)len;
    } else if (len <= 0xFFFF) {
        h[1] |= 126;
        h[hl++] = (uint8_t)(len >> 8);
        h[hl++] = (uint8_t)len;
    } else {
        h[1] |= 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            h[hl++] = (uint8_t)(len >> shift);
    }
    if (mask) {
        memcpy(h + hl, "\x11\x22\x33\x44", 4);
        hl += 4;
    }
    stream_put(s, h, hl);
}

/* ------------------------------------------------------------------ */
/* running the reader over a stream, split every which way              */
/* ------------------------------------------------------------------ */

#define MAX_EVENTS 16

struct event {
    uint8_t opcode;
    bool compressed;
    uint16_t close_code;
    size_t len;
    uint8_t *data;
};

struct result {
    struct event ev[MAX_EVENTS];
    size_t nev;
    enum wsg_err end;       /* WSG_ERR_INCOMPLETE: all input used, no error */
    size_t error_at;        /* byte-at-a-time run: index of the byte whose
                               feed returned the error; else stream length */
};

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

static uint32_t
next_rand(uint32_t *state)
{
    /* xorshift32: reproducible splits from a seed. */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void
result_free(struct result *res)
{
    for (size_t i = 0; i < res->nev; i++)
        free(res->ev[i].data);
    res->nev = 0;
}

static void
record(struct result *res, const struct wsg_msg *m)
{
    struct event *e;

    ck_assert_uint_lt(res->nev, MAX_EVENTS);
    ck_assert_ptr_nonnull(m->data);
    e = &res->ev[res->nev++];
    e->opcode = m->opcode;
    e->compressed = m->compressed;
    e->close_code = m->close_code;
    e->len = m->len;
    e->data = malloc(m->len + 1);
    ck_assert_ptr_nonnull(e->data);
    memcpy(e->data, m->data, m->len);
}

/* Feed s to a fresh reader in pieces chosen by how.  Random pieces are
 * mostly small (they are where bugs hide) with the odd large one. */
static void
run_one(const struct wsg_reader_limits *lim, const struct stream *s,
        enum split how, uint32_t seed, struct result *res)
{
    struct wsg_reader r;
    size_t pos = 0;
    size_t piece_end = 0;
    uint32_t rng = seed;

    memset(res, 0, sizeof *res);
    res->end = WSG_ERR_INCOMPLETE;
    res->error_at = s->len;
    wsg_reader_init(&r, lim);

    while (pos < s->len) {
        struct wsg_msg m;
        size_t consumed = 12345;
        size_t avail;
        enum wsg_err err;

        /* Pick the next piece boundary once the previous one is used. */
        if (pos >= piece_end) {
            size_t n;
            switch (how) {
            case SPLIT_WHOLE:
                n = s->len;
                break;
            case SPLIT_BYTES:
                n = 1;
                break;
            default:
                n = next_rand(&rng) % 8 == 0 ? next_rand(&rng) % 300
                                             : next_rand(&rng) % 6;
                n += 1;
                break;
            }
            piece_end = pos + n < s->len ? pos + n : s->len;
        }
        avail = piece_end - pos;
        err = wsg_reader_feed(&r, s->buf + pos, avail, &consumed, &m);
        ck_assert_uint_le(consumed, avail);
        if (err == WSG_OK) {
            ck_assert_uint_gt(consumed, 0);
            record(res, &m);
            pos += consumed;
            continue;
        }
        if (err == WSG_ERR_INCOMPLETE) {
            ck_assert_uint_eq(consumed, avail);
            pos += consumed;
            continue;
        }
        res->end = err;
        if (how == SPLIT_BYTES)
            res->error_at = pos;
        /* Sticky: the same error again, nothing consumed. */
        ck_assert_int_eq(wsg_reader_feed(&r, s->buf, s->len, &consumed, &m),
                         err);
        ck_assert_uint_eq(consumed, 0);
        break;
    }
    if (res->end == WSG_ERR_INCOMPLETE) {
        /* An empty feed changes nothing. */
        struct wsg_msg m;
        size_t consumed = 1;
        ck_assert_int_eq(wsg_reader_feed(&r, NULL, 0, &consumed, &m),
                         WSG_ERR_INCOMPLETE);
        ck_assert_uint_eq(consumed, 0);
    }
    wsg_reader_free(&r);
}

static void
assert_same_result(const struct result *a, const struct result *b,
                   const char *what)
{
    ck_assert_msg(a->end == b->end, "%s: end %d vs %d", what, a->end, b->end);
    ck_assert_msg(a->nev == b->nev, "%s: %zu vs %zu messages", what, a->nev,
                  b->nev);
    for (size_t i = 0; i < a->nev; i++) {
        const struct event *x = &a->ev[i], *y = &b->ev[i];
        ck_assert_msg(x->opcode == y->opcode && x->compressed == y->compressed
                      && x->close_code == y->close_code && x->len == y->len
                      && memcmp(x->data, y->data, x->len) == 0,
                      "%s: message %zu differs", what, i);
    }
}

#define RANDOM_RUNS 24

/* The canonical result is the byte-at-a-time run (it knows error_at);
 * whole and random splits must agree with it. */
static void
run(const struct wsg_reader_limits *lim, const struct stream *s,
    struct result *res)
{
    struct result other;

    run_one(lim, s, SPLIT_BYTES, 0, res);
    run_one(lim, s, SPLIT_WHOLE, 0, &other);
    assert_same_result(res, &other, "whole");
    result_free(&other);
    for (uint32_t seed = 1; seed <= RANDOM_RUNS; seed++) {
        run_one(lim, s, SPLIT_RANDOM, seed * 2654435761u, &other);
        assert_same_result(res, &other, "random");
        result_free(&other);
    }
}

static const struct wsg_reader_limits server_lim = {WSG_ROLE_SERVER, 0, 0, 0};
static const struct wsg_reader_limits client_lim = {WSG_ROLE_CLIENT, 0, 0, 0};
static const struct wsg_reader_limits deflate_lim = {WSG_ROLE_SERVER,
                                                     WSG_RSV1, 0, 0};

static void
assert_event(const struct result *res, size_t i, uint8_t opcode,
             const void *data, size_t len)
{
    ck_assert_uint_lt(i, res->nev);
    ck_assert_uint_eq(res->ev[i].opcode, opcode);
    ck_assert_uint_eq(res->ev[i].len, len);
    if (len > 0)
        ck_assert_mem_eq(res->ev[i].data, data, len);
}

/* Run s and expect exactly one error, after the given messages. */
static void
expect_error(const struct wsg_reader_limits *lim, const struct stream *s,
             enum wsg_err want, size_t nev, struct result *res)
{
    run(lim, s, res);
    ck_assert_msg(res->end == want, "got %s, want %s", wsg_strerror(res->end),
                  wsg_strerror(want));
    ck_assert_uint_eq(res->nev, nev);
}

/* ------------------------------------------------------------------ */
/* RFC 6455 section 5.7 examples                                      */
/* ------------------------------------------------------------------ */

/* 5.7: "A single-frame unmasked text message", as a client receives it. */
START_TEST(test_rfc_single_unmasked_text_to_client)
{
    static const uint8_t wire[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    struct stream s = {0};
    struct result res;

    stream_put(&s, wire, sizeof wire);
    run(&client_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_TEXT, "Hello", 5);
    ck_assert(!res.ev[0].compressed);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.7: "A single-frame masked text message", as a server receives it. */
START_TEST(test_rfc_single_masked_text_to_server)
{
    static const uint8_t wire[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                   0x9f, 0x4d, 0x51, 0x58};
    struct stream s = {0};
    struct result res;

    stream_put(&s, wire, sizeof wire);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_TEXT, "Hello", 5);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.7: "A fragmented unmasked text message": "Hel" then "lo". */
START_TEST(test_rfc_fragmented_unmasked_text_to_client)
{
    static const uint8_t wire[] = {0x01, 0x03, 0x48, 0x65, 0x6c,
                                   0x80, 0x02, 0x6c, 0x6f};
    struct stream s = {0};
    struct result res;

    stream_put(&s, wire, sizeof wire);
    run(&client_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_TEXT, "Hello", 5);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.7 fragmented example, masked per frame as a client must send it. */
START_TEST(test_rfc_fragmented_masked_text_to_server)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, false, WSG_OP_TEXT, true, "Hel", 3);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "lo", 2);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_TEXT, "Hello", 5);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.7: "Unmasked Ping request and masked Ping response" (the response is
 * a pong with the same body). */
START_TEST(test_rfc_unmasked_ping_and_masked_pong)
{
    static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                   0x9f, 0x4d, 0x51, 0x58};
    struct stream s = {0};
    struct result res;

    stream_put(&s, ping, sizeof ping);
    run(&client_lim, &s, &res);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_PING, "Hello", 5);
    result_free(&res);
    stream_free(&s);

    stream_put(&s, pong, sizeof pong);
    run(&server_lim, &s, &res);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_PONG, "Hello", 5);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.7: "256 bytes binary message in a single unmasked frame" uses the
 * 16-bit length: 0x82 0x7E 0x0100. */
START_TEST(test_rfc_256_byte_binary_with_16_bit_length)
{
    uint8_t payload[256];
    struct stream s = {0};
    struct result res;

    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    stream_put(&s, "\x82\x7e\x01\x00", 4);
    stream_put(&s, payload, sizeof payload);
    run(&client_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_BINARY, payload, sizeof payload);
    result_free(&res);
    stream_free(&s);

    put_frame(&s, true, WSG_OP_BINARY, true, payload, sizeof payload);
    run(&server_lim, &s, &res);
    assert_event(&res, 0, WSG_OP_BINARY, payload, sizeof payload);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.7: "64KiB binary message in a single unmasked frame" uses the 64-bit
 * length: 0x82 0x7F 0x0000000000010000. */
START_TEST(test_rfc_64k_binary_with_64_bit_length)
{
    size_t n = 65536;
    uint8_t *payload = malloc(n);
    struct stream s = {0};
    struct result res;

    ck_assert_ptr_nonnull(payload);
    for (size_t i = 0; i < n; i++)
        payload[i] = (uint8_t)(i ^ (i >> 8));
    stream_put(&s, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    stream_put(&s, payload, n);
    run(&client_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_BINARY, payload, n);
    result_free(&res);
    stream_free(&s);

    put_frame(&s, true, WSG_OP_BINARY, true, payload, n);
    run(&server_lim, &s, &res);
    assert_event(&res, 0, WSG_OP_BINARY, payload, n);
    result_free(&res);
    stream_free(&s);
    free(payload);
}
END_TEST

/* ------------------------------------------------------------------ */
/* fragmentation and control frames (5.4, 5.5)                        */
/* ------------------------------------------------------------------ */

/* 5.4: "Control frames MAY be injected in the middle of a fragmented
 * message"; the ping is delivered at once, the text stays whole. */
START_TEST(test_ping_between_fragments_is_delivered_first)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, false, WSG_OP_TEXT, true, "frag", 4);
    put_frame(&s, true, WSG_OP_PING, true, "p1", 2);
    put_frame(&s, false, WSG_OP_CONTINUATION, true, "ment", 4);
    put_frame(&s, true, WSG_OP_PONG, true, "", 0);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "ed \xce\xba", 5);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 3);
    assert_event(&res, 0, WSG_OP_PING, "p1", 2);
    assert_event(&res, 1, WSG_OP_PONG, "", 0);
    assert_event(&res, 2, WSG_OP_TEXT, "fragmented \xce\xba", 13);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.5.1: a close may also come between fragments. */
START_TEST(test_close_between_fragments_is_delivered)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, false, WSG_OP_BINARY, true, "ab", 2);
    put_frame(&s, true, WSG_OP_CLOSE, true, "\x03\xe8", 2);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    ck_assert_uint_eq(res.ev[0].opcode, WSG_OP_CLOSE);
    ck_assert_uint_eq(res.ev[0].close_code, 1000);
    result_free(&res);
    stream_free(&s);
}
END_TEST

START_TEST(test_many_messages_in_one_buffer_are_delivered_in_order)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_TEXT, true, "one", 3);
    put_frame(&s, true, WSG_OP_BINARY, true, "two", 3);
    put_frame(&s, false, WSG_OP_TEXT, true, "thr", 3);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "ee", 2);
    put_frame(&s, true, WSG_OP_TEXT, true, "four", 4);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 4);
    assert_event(&res, 0, WSG_OP_TEXT, "one", 3);
    assert_event(&res, 1, WSG_OP_BINARY, "two", 3);
    assert_event(&res, 2, WSG_OP_TEXT, "three", 5);
    assert_event(&res, 3, WSG_OP_TEXT, "four", 4);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* One feed returns one message and says how much it used. */
START_TEST(test_feed_stops_after_one_message)
{
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;

    put_frame(&s, true, WSG_OP_TEXT, false, "ab", 2);
    put_frame(&s, true, WSG_OP_TEXT, false, "cd", 2);
    wsg_reader_init(&r, &client_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m), WSG_OK);
    ck_assert_uint_eq(consumed, 4);
    ck_assert_mem_eq(m.data, "ab", 2);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf + 4, 4, &consumed, &m), WSG_OK);
    ck_assert_uint_eq(consumed, 4);
    ck_assert_mem_eq(m.data, "cd", 2);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* A connection may drop its reader between messages only: idle holds
 * after a whole message or control frame, never inside a frame's header
 * or payload, nor between the fragments of a message. */
START_TEST(test_reader_is_idle_only_between_messages)
{
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;

    put_frame(&s, true, WSG_OP_TEXT, true, "one", 3);        /* 9 bytes */
    put_frame(&s, false, WSG_OP_TEXT, true, "tw", 2);        /* 8 */
    put_frame(&s, true, WSG_OP_PING, true, "", 0);           /* 6 */
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "o", 1);  /* 7 */
    put_frame(&s, true, WSG_OP_PONG, true, "p", 1);          /* 7 */
    /* Idle after the byte at these offsets (one past each message end). */
    const size_t idle_after[] = {9, 30, 37};
    size_t k = 0;
    wsg_reader_init(&r, &server_lim);
    ck_assert(wsg_reader_idle(&r));
    for (size_t i = 0; i < s.len; i++) {
        enum wsg_err err = wsg_reader_feed(&r, s.buf + i, 1, &consumed, &m);
        ck_assert(err == WSG_OK || err == WSG_ERR_INCOMPLETE);
        ck_assert_uint_eq(consumed, 1);
        bool expect = k < 3 && i + 1 == idle_after[k];
        if (expect)
            k++;
        ck_assert_msg(wsg_reader_idle(&r) == expect, "byte %zu: idle %d", i,
                      wsg_reader_idle(&r));
    }
    ck_assert_uint_eq(k, 3);
    /* An error is not idle: the connection is being failed. */
    static const uint8_t unmasked[] = {0x81, 0x00};
    ck_assert_int_eq(wsg_reader_feed(&r, unmasked, 2, &consumed, &m),
                     WSG_ERR_UNMASKED_FRAME);
    ck_assert(!wsg_reader_idle(&r));
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* 5.6: empty frames are legal, as are empty messages of any type. */
START_TEST(test_zero_length_frames_and_messages)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_TEXT, true, "", 0);
    put_frame(&s, true, WSG_OP_BINARY, true, "", 0);
    put_frame(&s, true, WSG_OP_PING, true, "", 0);
    put_frame(&s, false, WSG_OP_TEXT, true, "", 0);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "", 0);
    put_frame(&s, false, WSG_OP_BINARY, true, "a", 1);
    put_frame(&s, false, WSG_OP_CONTINUATION, true, "", 0);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "b", 1);
    put_frame(&s, true, WSG_OP_CLOSE, true, "", 0);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 6);
    assert_event(&res, 0, WSG_OP_TEXT, "", 0);
    assert_event(&res, 1, WSG_OP_BINARY, "", 0);
    assert_event(&res, 2, WSG_OP_PING, "", 0);
    assert_event(&res, 3, WSG_OP_TEXT, "", 0);
    assert_event(&res, 4, WSG_OP_BINARY, "ab", 2);
    assert_event(&res, 5, WSG_OP_CLOSE, "", 0);
    ck_assert_uint_eq(res.ev[5].close_code, WSG_CLOSE_NO_STATUS);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* A zero-length message is delivered by the call that completes its
 * header, with a usable data pointer. */
START_TEST(test_empty_message_is_delivered_with_its_header)
{
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;

    wsg_reader_init(&r, &client_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, (const uint8_t *)"\x82", 1,
                                     &consumed, &m), WSG_ERR_INCOMPLETE);
    ck_assert_int_eq(wsg_reader_feed(&r, (const uint8_t *)"\x00", 1,
                                     &consumed, &m), WSG_OK);
    ck_assert_uint_eq(consumed, 1);
    ck_assert_uint_eq(m.opcode, WSG_OP_BINARY);
    ck_assert_uint_eq(m.len, 0);
    ck_assert_ptr_nonnull(m.data);
    wsg_reader_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* close frames (5.5.1, 7.4)                                          */
/* ------------------------------------------------------------------ */

START_TEST(test_close_frame_gives_code_and_reason)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_CLOSE, true, "\x03\xe9" "going", 7);
    run(&server_lim, &s, &res);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_CLOSE, "going", 5);
    ck_assert_uint_eq(res.ev[0].close_code, 1001);
    result_free(&res);
    stream_free(&s);
}
END_TEST

START_TEST(test_empty_close_frame_reports_1005)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_CLOSE, false, "", 0);
    run(&client_lim, &s, &res);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, WSG_OP_CLOSE, "", 0);
    ck_assert_uint_eq(res.ev[0].close_code, WSG_CLOSE_NO_STATUS);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.5.1: a close body, if present, starts with a 2-byte code. */
START_TEST(test_close_frame_of_one_byte_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_CLOSE, true, "\x03", 1);
    expect_error(&server_lim, &s, WSG_ERR_BAD_CLOSE_PAYLOAD, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 7.4.1: 1005 must never be on the wire (nor 1006, 1015, ...). */
START_TEST(test_close_frame_with_invalid_code_is_rejected)
{
    static const char *codes[] = {"\x03\xed", "\x03\xee", "\x03\xf7",
                                  "\x00\x00", "\x13\x88"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        struct stream s = {0};
        struct result res;

        put_frame(&s, true, WSG_OP_CLOSE, true, codes[i], 2);
        expect_error(&server_lim, &s, WSG_ERR_BAD_CLOSE_CODE, 0, &res);
        result_free(&res);
        stream_free(&s);
    }
}
END_TEST

/* 5.5.1 / 8.1: the close reason is UTF-8 text. */
START_TEST(test_close_frame_with_invalid_utf8_reason_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_CLOSE, true, "\x03\xe8" "ok\xed\xa0\x80", 7);
    expect_error(&server_lim, &s, WSG_ERR_BAD_CLOSE_REASON, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* message-level errors (5.4, RFC 7692 6.1)                            */
/* ------------------------------------------------------------------ */

/* 5.4: a continuation needs a message to continue. */
START_TEST(test_continuation_without_start_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_CONTINUATION, true, "x", 1);
    expect_error(&server_lim, &s, WSG_ERR_UNEXPECTED_CONTINUATION, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.4: once FIN ends a message, a continuation has nothing to continue. */
START_TEST(test_continuation_after_final_frame_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_TEXT, true, "done", 4);
    put_frame(&s, false, WSG_OP_CONTINUATION, true, "more", 4);
    expect_error(&server_lim, &s, WSG_ERR_UNEXPECTED_CONTINUATION, 1, &res);
    assert_event(&res, 0, WSG_OP_TEXT, "done", 4);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.4: fragments of one message may not be interleaved with another. */
START_TEST(test_new_data_frame_inside_fragmented_message_is_rejected)
{
    static const uint8_t opcodes[] = {WSG_OP_TEXT, WSG_OP_BINARY};

    for (size_t i = 0; i < 2; i++) {
        struct stream s = {0};
        struct result res;

        put_frame(&s, false, WSG_OP_BINARY, true, "a", 1);
        put_frame(&s, true, WSG_OP_PING, true, "", 0);
        put_frame(&s, true, opcodes[i], true, "b", 1);
        expect_error(&server_lim, &s, WSG_ERR_EXPECTED_CONTINUATION, 1, &res);
        result_free(&res);
        stream_free(&s);
    }
}
END_TEST

/* RFC 7692 6.1: RSV1 marks a message, so it belongs on the first frame. */
START_TEST(test_rsv1_on_continuation_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame_b0(&s, RSV1_BIT | WSG_OP_TEXT, true, "a", 1);
    put_frame_b0(&s, FIN | RSV1_BIT | WSG_OP_CONTINUATION, true, "b", 1);
    expect_error(&deflate_lim, &s, WSG_ERR_RSV_BITS, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* RFC 7692 6.1: control frames are never compressed. */
START_TEST(test_rsv1_on_control_frame_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame_b0(&s, FIN | RSV1_BIT | WSG_OP_PING, true, "a", 1);
    expect_error(&deflate_lim, &s, WSG_ERR_RSV_BITS, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.2: RSV1 without the extension that defines it. */
START_TEST(test_rsv1_without_extension_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame_b0(&s, FIN | RSV1_BIT | WSG_OP_TEXT, true, "a", 1);
    expect_error(&server_lim, &s, WSG_ERR_RSV_BITS, 0, &res);
    ck_assert_uint_eq(res.error_at, 0);         /* known from byte 0 */
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* RFC 7692: a compressed message is delivered flagged and its (deflated)
 * bytes are not UTF-8-checked here: the caller checks after inflating. */
START_TEST(test_compressed_text_is_not_utf8_checked)
{
    struct stream s = {0};
    struct result res;

    put_frame_b0(&s, RSV1_BIT | WSG_OP_TEXT, true, "\xff\xfe", 2);
    put_frame_b0(&s, FIN | WSG_OP_CONTINUATION, true, "\xed\xa0", 2);
    put_frame(&s, true, WSG_OP_TEXT, true, "plain", 5);
    run(&deflate_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 2);
    assert_event(&res, 0, WSG_OP_TEXT, "\xff\xfe\xed\xa0", 4);
    ck_assert(res.ev[0].compressed);
    assert_event(&res, 1, WSG_OP_TEXT, "plain", 5);
    ck_assert(!res.ev[1].compressed);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* Errors are sticky: nothing after the first error is delivered. */
START_TEST(test_errors_are_sticky)
{
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;

    put_frame(&s, true, WSG_OP_CONTINUATION, true, "x", 1);
    wsg_reader_init(&r, &server_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m),
                     WSG_ERR_UNEXPECTED_CONTINUATION);
    stream_free(&s);
    put_frame(&s, true, WSG_OP_TEXT, true, "fine", 4);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m),
                         WSG_ERR_UNEXPECTED_CONTINUATION);
        ck_assert_uint_eq(consumed, 0);
    }
    ck_assert_uint_eq(wsg_reader_need(&r), 1);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* frame-level errors surface through the reader (5.1, 5.2, 5.5)       */
/* ------------------------------------------------------------------ */

/* 5.1: a server must fail an unmasked client frame (1002). */
START_TEST(test_unmasked_frame_to_server_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_TEXT, false, "hi", 2);
    expect_error(&server_lim, &s, WSG_ERR_UNMASKED_FRAME, 0, &res);
    ck_assert_uint_eq(res.error_at, 1);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.1: a client must fail a masked server frame. */
START_TEST(test_masked_frame_to_client_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_TEXT, true, "hi", 2);
    expect_error(&client_lim, &s, WSG_ERR_MASKED_FRAME, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 5.2: opcodes 3-7 and 0xB-0xF are reserved. */
START_TEST(test_reserved_opcode_is_rejected)
{
    static const uint8_t ops[] = {0x3, 0x7, 0xB, 0xF};

    for (size_t i = 0; i < sizeof ops; i++) {
        struct stream s = {0};
        struct result res;

        put_frame(&s, true, ops[i], true, "", 0);
        expect_error(&server_lim, &s, WSG_ERR_BAD_OPCODE, 0, &res);
        result_free(&res);
        stream_free(&s);
    }
}
END_TEST

/* 5.5: control frames carry at most 125 bytes and are never fragmented. */
START_TEST(test_bad_control_frames_are_rejected)
{
    uint8_t big[126] = {0};
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_PING, true, big, sizeof big);
    expect_error(&server_lim, &s, WSG_ERR_CONTROL_TOO_LONG, 0, &res);
    result_free(&res);
    stream_free(&s);

    put_frame(&s, false, WSG_OP_PING, true, "", 0);
    expect_error(&server_lim, &s, WSG_ERR_CONTROL_FRAGMENTED, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* A control frame of exactly 125 bytes is fine. */
START_TEST(test_control_frame_of_125_bytes_is_accepted)
{
    uint8_t body[125];
    struct stream s = {0};
    struct result res;

    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)i;
    put_frame(&s, true, WSG_OP_PONG, true, body, sizeof body);
    run(&server_lim, &s, &res);
    assert_event(&res, 0, WSG_OP_PONG, body, sizeof body);
    result_free(&res);
    stream_free(&s);
}
END_TEST

START_TEST(test_frame_over_max_frame_is_rejected)
{
    struct wsg_reader_limits lim = {WSG_ROLE_SERVER, 0, 100, 0};
    uint8_t body[101] = {0};
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_BINARY, true, body, 100);
    run(&lim, &s, &res);
    ck_assert_uint_eq(res.nev, 1);
    result_free(&res);
    stream_free(&s);

    put_frame(&s, true, WSG_OP_BINARY, true, body, 101);
    expect_error(&lim, &s, WSG_ERR_FRAME_TOO_BIG, 0, &res);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* UTF-8 in text messages (8.1)                                       */
/* ------------------------------------------------------------------ */

/* 8.1: fail as soon as the text is known to be invalid, here the 0xA0 of
 * a surrogate in the middle of a frame that has more bytes to come. */
START_TEST(test_invalid_utf8_fails_mid_fragment)
{
    static const char text[] =
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited";
    struct stream s = {0};
    struct result res;
    size_t hdr = 6;     /* 2 + mask key */

    put_frame(&s, true, WSG_OP_TEXT, true, text, sizeof text - 1);
    expect_error(&server_lim, &s, WSG_ERR_BAD_UTF8, 0, &res);
    ck_assert_uint_eq(res.error_at, hdr + 12);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 8.1: the check runs across fragment boundaries: ED ends the first
 * fragment (fine so far), A0 starts the second and fails there. */
START_TEST(test_invalid_utf8_split_across_fragments_fails_in_second)
{
    struct stream s = {0};
    struct result res;
    size_t second;

    put_frame(&s, false, WSG_OP_TEXT, true, "ab\xed", 3);
    put_frame(&s, true, WSG_OP_PING, true, "", 0);
    second = s.len;
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "\xa0\x80" "cd", 4);
    expect_error(&server_lim, &s, WSG_ERR_BAD_UTF8, 1, &res);
    assert_event(&res, 0, WSG_OP_PING, "", 0);
    ck_assert_uint_eq(res.error_at, second + 6);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* A character split across fragments is valid. */
START_TEST(test_utf8_character_split_across_fragments_is_accepted)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, false, WSG_OP_TEXT, true, "\xf0", 1);
    put_frame(&s, false, WSG_OP_CONTINUATION, true, "\x9f\x98", 2);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "\x80", 1);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    assert_event(&res, 0, WSG_OP_TEXT, "\xf0\x9f\x98\x80", 4);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* 8.1: a message that ends inside a character is invalid, detected at
 * the final fragment's last byte. */
START_TEST(test_text_ending_inside_a_character_is_rejected)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, false, WSG_OP_TEXT, true, "price \xe2", 7);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, "\x82", 1);
    expect_error(&server_lim, &s, WSG_ERR_BAD_UTF8, 0, &res);
    ck_assert_uint_eq(res.error_at, s.len - 1);
    result_free(&res);
    stream_free(&s);

    /* Same with a non-final fragment ending mid-character: no error yet. */
    put_frame(&s, false, WSG_OP_TEXT, true, "price \xe2", 7);
    run(&server_lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 0);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* Binary messages are not text: any bytes go. */
START_TEST(test_binary_message_is_not_utf8_checked)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_BINARY, true, "\xff\xed\xa0\x80\xc0", 5);
    run(&server_lim, &s, &res);
    assert_event(&res, 0, WSG_OP_BINARY, "\xff\xed\xa0\x80\xc0", 5);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* Ping payloads are binary application data, delivered as is. */
START_TEST(test_ping_payload_is_delivered_as_is)
{
    struct stream s = {0};
    struct result res;

    put_frame(&s, true, WSG_OP_PING, true, "\xff\x00\xfe", 3);
    run(&server_lim, &s, &res);
    assert_event(&res, 0, WSG_OP_PING, "\xff\x00\xfe", 3);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* size limits and memory (10.4)                                      */
/* ------------------------------------------------------------------ */

/* 10.4: a frame announcing more than max_message is refused on its
 * header, before one byte of it is allocated. */
START_TEST(test_message_too_big_is_rejected_before_allocating)
{
    struct wsg_reader_limits lim = {WSG_ROLE_SERVER, 0, 0, 1000};
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;

    put_header_only(&s, FIN | WSG_OP_BINARY, true, (uint64_t)1 << 40);
    wsg_reader_init(&r, &lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m),
                     WSG_ERR_MESSAGE_TOO_BIG);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(r.cap, 0);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* max_message counts all fragments: the second fragment's header already
 * proves the total is too big, so the buffer does not grow for it. */
START_TEST(test_max_message_counts_all_fragments)
{
    struct wsg_reader_limits lim = {WSG_ROLE_SERVER, 0, 0, 1000};
    uint8_t body[600];
    struct stream s = {0};
    struct result res;
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed, cap, first;

    memset(body, 'x', sizeof body);
    put_frame(&s, false, WSG_OP_TEXT, true, body, 600);
    first = s.len;
    put_header_only(&s, FIN | WSG_OP_CONTINUATION, true, 401);
    expect_error(&lim, &s, WSG_ERR_MESSAGE_TOO_BIG, 0, &res);
    ck_assert_uint_eq(res.error_at, s.len - 1);     /* on the header */
    result_free(&res);

    wsg_reader_init(&r, &lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, first, &consumed, &m),
                     WSG_ERR_INCOMPLETE);
    cap = r.cap;
    ck_assert_uint_ge(cap, 600);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf + first, s.len - first,
                                     &consumed, &m), WSG_ERR_MESSAGE_TOO_BIG);
    ck_assert_uint_eq(r.cap, cap);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

START_TEST(test_message_of_exactly_max_message_is_accepted)
{
    struct wsg_reader_limits lim = {WSG_ROLE_SERVER, 0, 0, 1000};
    uint8_t body[1000];
    struct stream s = {0};
    struct result res;

    memset(body, 'y', sizeof body);
    put_frame(&s, false, WSG_OP_TEXT, true, body, 400);
    put_frame(&s, true, WSG_OP_PING, true, "", 0);
    put_frame(&s, true, WSG_OP_CONTINUATION, true, body + 400, 600);
    /* the limit is per message: the next one starts from zero */
    put_frame(&s, true, WSG_OP_BINARY, true, body, 1000);
    run(&lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 3);
    assert_event(&res, 1, WSG_OP_TEXT, body, 1000);
    assert_event(&res, 2, WSG_OP_BINARY, body, 1000);
    result_free(&res);
    stream_free(&s);
}
END_TEST

/* A peer that announces a huge frame and trickles it in gets a buffer that
 * follows what it has sent, not what it claimed. */
START_TEST(test_trickled_big_frame_grows_buffer_with_arrived_bytes)
{
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;
    uint8_t b = 0;

    put_header_only(&s, FIN | WSG_OP_BINARY, false, (uint64_t)1 << 30);
    wsg_reader_init(&r, &client_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m),
                     WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(r.cap, 0);
    for (size_t i = 1; i <= 5000; i++) {
        ck_assert_int_eq(wsg_reader_feed(&r, &b, 1, &consumed, &m),
                         WSG_ERR_INCOMPLETE);
        ck_assert_uint_le(r.cap, 2 * i + 256);
    }
    ck_assert_uint_eq(r.len, 5000);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* The buffer of a small message is reused for the next one. */
START_TEST(test_small_buffer_is_reused_between_messages)
{
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;
    const uint8_t *first;

    put_frame(&s, true, WSG_OP_TEXT, false, "first", 5);
    put_frame(&s, true, WSG_OP_TEXT, false, "again", 5);
    wsg_reader_init(&r, &client_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m), WSG_OK);
    first = m.data;
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf + consumed, s.len - consumed,
                                     &consumed, &m), WSG_OK);
    ck_assert_ptr_eq(m.data, first);
    ck_assert_mem_eq(m.data, "again", 5);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* A buffer over 64 KiB is given back when the next message starts, so an
 * idle connection does not keep the memory of its biggest message. */
START_TEST(test_large_buffer_is_freed_at_next_message)
{
    size_t n = 100 * 1024;
    uint8_t *body = calloc(1, n);
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed, pos;

    ck_assert_ptr_nonnull(body);
    put_frame(&s, true, WSG_OP_BINARY, false, body, n);
    pos = s.len;
    put_frame(&s, true, WSG_OP_PING, false, "", 0);
    put_frame(&s, true, WSG_OP_BINARY, false, "small", 5);
    wsg_reader_init(&r, &client_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m), WSG_OK);
    ck_assert_uint_eq(m.len, n);
    ck_assert_uint_ge(r.cap, n);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf + pos, 2, &consumed, &m),
                     WSG_OK);
    ck_assert_uint_eq(m.opcode, WSG_OP_PING);
    ck_assert_ptr_null(r.buf);
    pos += 2;
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf + pos, s.len - pos, &consumed,
                                     &m), WSG_OK);
    ck_assert_mem_eq(m.data, "small", 5);
    ck_assert_uint_le(r.cap, 64 * 1024);
    wsg_reader_free(&r);
    stream_free(&s);
    free(body);
}
END_TEST

START_TEST(test_shrink_frees_buffer_between_messages)
{
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;

    put_frame(&s, true, WSG_OP_TEXT, false, "hello", 5);
    wsg_reader_init(&r, &client_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m), WSG_OK);
    ck_assert_ptr_nonnull(r.buf);
    wsg_reader_shrink(&r);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(r.cap, 0);
    /* and the reader goes on working */
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &consumed, &m), WSG_OK);
    ck_assert_mem_eq(m.data, "hello", 5);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* Shrinking mid-message must not lose the fragments received so far. */
START_TEST(test_shrink_keeps_message_in_progress)
{
    struct stream s = {0};
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed, first;

    put_frame(&s, false, WSG_OP_TEXT, false, "hel", 3);
    first = s.len;
    put_frame(&s, true, WSG_OP_CONTINUATION, false, "lo", 2);
    wsg_reader_init(&r, &client_lim);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, first, &consumed, &m),
                     WSG_ERR_INCOMPLETE);
    wsg_reader_shrink(&r);
    ck_assert_ptr_nonnull(r.buf);
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf + first, s.len - first,
                                     &consumed, &m), WSG_OK);
    ck_assert_mem_eq(m.data, "hello", 5);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* wsg_reader_need tells how many bytes finish the header in progress. */
START_TEST(test_need_reports_bytes_to_finish_header)
{
    struct wsg_reader r;
    struct wsg_msg m;
    size_t consumed;

    wsg_reader_init(&r, &server_lim);
    ck_assert_uint_eq(wsg_reader_need(&r), 2);
    wsg_reader_feed(&r, (const uint8_t *)"\x82", 1, &consumed, &m);
    ck_assert_uint_eq(wsg_reader_need(&r), 1);
    /* masked, 64-bit length: 2 + 8 + 4 = 14, 12 still missing */
    wsg_reader_feed(&r, (const uint8_t *)"\xff", 1, &consumed, &m);
    ck_assert_uint_eq(wsg_reader_need(&r), 12);
    wsg_reader_feed(&r, (const uint8_t *)"\x00\x00\x00\x00\x00\x01\x00\x00",
                    8, &consumed, &m);
    ck_assert_uint_eq(wsg_reader_need(&r), 4);
    wsg_reader_feed(&r, (const uint8_t *)"\x01\x02\x03\x04", 4, &consumed, &m);
    ck_assert_uint_eq(wsg_reader_need(&r), 1);      /* in payload */
    wsg_reader_free(&r);

    wsg_reader_init(&r, &server_lim);
    wsg_reader_feed(&r, (const uint8_t *)"\x81\xfe", 2, &consumed, &m);
    ck_assert_uint_eq(wsg_reader_need(&r), 6);      /* 2 length + 4 key */
    wsg_reader_free(&r);
}
END_TEST

START_TEST(test_free_is_safe_on_null_and_twice)
{
    struct wsg_reader r;

    wsg_reader_free(NULL);
    wsg_reader_init(&r, &server_lim);
    wsg_reader_free(&r);
    wsg_reader_free(&r);
}
END_TEST

/* A taken buffer is the caller's: the message stays intact while the
 * reader reads the next one into a new buffer of the same size. */
START_TEST(test_taken_buffer_survives_the_next_message)
{
    uint8_t a[8192], b[8192];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    struct stream s = {0};
    put_frame(&s, true, WSG_OP_BINARY, true, a, sizeof a);
    put_frame(&s, true, WSG_OP_BINARY, true, b, sizeof b);
    struct wsg_reader r;
    wsg_reader_init(&r, &server_lim);
    struct wsg_msg m;
    size_t used;
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf, s.len, &used, &m), WSG_OK);
    ck_assert(!wsg_reader_owns(&r, m.data + 1));
    ck_assert_ptr_null(wsg_reader_take(&r, m.data + 1));
    size_t cap = r.cap;
    uint8_t *taken = wsg_reader_take(&r, m.data);
    ck_assert_ptr_eq(taken, m.data);
    ck_assert_ptr_null(wsg_reader_take(&r, m.data));   /* only once */
    size_t used2;
    ck_assert_int_eq(wsg_reader_feed(&r, s.buf + used, s.len - used, &used2, &m), WSG_OK);
    ck_assert_ptr_ne(m.data, taken);
    ck_assert_uint_eq(r.cap, cap);                     /* no growing from the floor */
    ck_assert_mem_eq(m.data, b, sizeof b);
    ck_assert_mem_eq(taken, a, sizeof a);
    free(taken);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* encoder                                                            */
/* ------------------------------------------------------------------ */

struct key_source {
    unsigned calls;
};

/* Deterministic per-frame keys: 37 fa 21 3d first (the RFC's), then
 * different ones, so tests can tell frames apart. */
static void
test_mask_key(uint8_t key[4], void *arg)
{
    struct key_source *ks = arg;
    static const uint8_t rfc[4] = {0x37, 0xfa, 0x21, 0x3d};

    memcpy(key, rfc, 4);
    key[3] = (uint8_t)(key[3] + ks->calls);
    ks->calls++;
}

/* 5.7: a server's "Hello" is the single-frame unmasked example. */
START_TEST(test_encode_matches_rfc_unmasked_example)
{
    uint8_t out[16];
    size_t written = 0;

    ck_assert_uint_eq(wsg_msg_encoded_size(5, NULL), 7);
    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_TEXT,
                                    (const uint8_t *)"Hello", 5, NULL,
                                    &written), WSG_OK);
    ck_assert_uint_eq(written, 7);
    ck_assert_mem_eq(out, "\x81\x05Hello", 7);
}
END_TEST

/* 5.7: with the RFC's key, a client's "Hello" is the masked example. */
START_TEST(test_encode_matches_rfc_masked_example)
{
    struct key_source ks = {0};
    struct wsg_encode_opts o = {0, true, false, test_mask_key, &ks};
    uint8_t out[16];
    size_t written = 0;

    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_TEXT,
                                    (const uint8_t *)"Hello", 5, &o,
                                    &written), WSG_OK);
    ck_assert_uint_eq(written, 11);
    ck_assert_mem_eq(out, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    ck_assert_uint_eq(ks.calls, 1);
}
END_TEST

/* 5.4: fragments carry the opcode first, then continuations, FIN last;
 * RFC 7692: RSV1 on the first frame only; 5.3: a fresh key per frame. */
START_TEST(test_encode_fragments_message)
{
    struct key_source ks = {0};
    struct wsg_encode_opts o = {4, true, true, test_mask_key, &ks};
    uint8_t out[64];
    size_t written = 0;
    uint8_t key1[4], key2[4];

    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_BINARY,
                                    (const uint8_t *)"0123456789", 10, &o,
                                    &written), WSG_OK);
    ck_assert_uint_eq(written, 3 * 6 + 10);
    ck_assert_uint_eq(written, wsg_msg_encoded_size(10, &o));
    ck_assert_uint_eq(ks.calls, 3);
    ck_assert_uint_eq(out[0], 0x40 | WSG_OP_BINARY);     /* RSV1, !FIN */
    ck_assert_uint_eq(out[1], 0x80 | 4);
    ck_assert_uint_eq(out[10], WSG_OP_CONTINUATION);     /* no RSV1 */
    ck_assert_uint_eq(out[11], 0x80 | 4);
    ck_assert_uint_eq(out[20], 0x80 | WSG_OP_CONTINUATION);
    ck_assert_uint_eq(out[21], 0x80 | 2);
    memcpy(key1, out + 2, 4);
    memcpy(key2, out + 12, 4);
    ck_assert(memcmp(key1, key2, 4) != 0);
}
END_TEST

/* 5.4: a message exactly a multiple of fragment_size has no empty tail. */
START_TEST(test_encode_exact_multiple_has_no_empty_frame)
{
    struct wsg_encode_opts o = {4, false, false, NULL, NULL};
    uint8_t out[64];
    size_t written = 0;

    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_TEXT,
                                    (const uint8_t *)"abcdefgh", 8, &o,
                                    &written), WSG_OK);
    ck_assert_uint_eq(written, 2 * 6);
    ck_assert_uint_eq(out[0], WSG_OP_TEXT);
    ck_assert_uint_eq(out[6], 0x80 | WSG_OP_CONTINUATION);
}
END_TEST

/* 5.6: an empty message is one empty frame, whatever fragment_size says. */
START_TEST(test_encode_empty_message_is_one_frame)
{
    struct key_source ks = {0};
    struct wsg_encode_opts o = {4, true, false, test_mask_key, &ks};
    uint8_t out[16];
    size_t written = 0;

    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_TEXT, NULL, 0,
                                    NULL, &written), WSG_OK);
    ck_assert_uint_eq(written, 2);
    ck_assert_mem_eq(out, "\x81\x00", 2);
    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_BINARY, NULL, 0,
                                    &o, &written), WSG_OK);
    ck_assert_uint_eq(written, 6);
    ck_assert_uint_eq(wsg_msg_encoded_size(0, &o), 6);
    ck_assert_uint_eq(out[0], 0x80 | WSG_OP_BINARY);
    ck_assert_uint_eq(out[1], 0x80);
}
END_TEST

/* 5.5: control frames are never fragmented and carry at most 125 bytes. */
START_TEST(test_encode_control_frames)
{
    struct wsg_encode_opts o = {10, false, false, NULL, NULL};
    uint8_t body[126] = {0};
    uint8_t out[256];
    size_t written = 0;

    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_PING, body, 100,
                                    &o, &written), WSG_OK);
    ck_assert_uint_eq(written, 102);
    ck_assert_uint_eq(out[0], 0x80 | WSG_OP_PING);
    ck_assert_uint_le(written, wsg_msg_encoded_size(100, &o));
    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_CLOSE, body, 126,
                                    NULL, &written),
                     WSG_ERR_CONTROL_TOO_LONG);
    ck_assert_uint_eq(written, 0);
    o.rsv1 = true;
    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_PONG, body, 1, &o,
                                    &written), WSG_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_encode_rejects_continuation_and_reserved_opcodes)
{
    uint8_t out[16];
    size_t written;

    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_CONTINUATION,
                                    (const uint8_t *)"x", 1, NULL, &written),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, 0x3,
                                    (const uint8_t *)"x", 1, NULL, &written),
                     WSG_ERR_INVALID_ARGUMENT);
}
END_TEST

/* Nothing is written unless all of it fits. */
START_TEST(test_encode_buffer_too_small)
{
    struct wsg_encode_opts o = {3, true, false, NULL, NULL};
    uint8_t out[64];
    size_t need = wsg_msg_encoded_size(10, &o);
    size_t written = 99;

    memset(out, 0xAA, sizeof out);
    ck_assert_int_eq(wsg_msg_encode(out, need - 1, WSG_OP_BINARY,
                                    (const uint8_t *)"0123456789", 10, &o,
                                    &written), WSG_ERR_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(written, 0);
    ck_assert_uint_eq(out[0], 0xAA);
    ck_assert_int_eq(wsg_msg_encode(out, need, WSG_OP_BINARY,
                                    (const uint8_t *)"0123456789", 10, &o,
                                    &written), WSG_OK);
    ck_assert_uint_eq(written, need);
}
END_TEST

/* encoded_size is exact for data messages, across length encodings. */
START_TEST(test_encoded_size_matches_bytes_written)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70001};
    static const size_t frags[] = {0, 1, 125, 126, 1000, 65536, 100000};
    size_t max = 70001;
    uint8_t *data = calloc(1, max);
    uint8_t *out = malloc(2 * max + 16 * 70001);

    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (size_t j = 0; j < sizeof frags / sizeof frags[0]; j++) {
            for (int mask = 0; mask < 2; mask++) {
                struct wsg_encode_opts o = {frags[j], mask != 0, false, NULL,
                                            NULL};
                size_t size = wsg_msg_encoded_size(lens[i], &o);
                size_t written = 0;

                ck_assert_int_eq(wsg_msg_encode(out, size, WSG_OP_BINARY,
                                                data, lens[i], &o, &written),
                                 WSG_OK);
                ck_assert_msg(written == size, "len %zu frag %zu mask %d",
                              lens[i], frags[j], mask);
            }
        }
    }
    free(data);
    free(out);
}
END_TEST

/* Round trip: encode (masked as a client sends, or not as a server
 * sends), then read back in every split. */
static void
round_trip(uint8_t opcode, const uint8_t *data, size_t len, size_t frag,
           bool client_sends, bool rsv1)
{
    struct wsg_encode_opts o = {frag, client_sends, rsv1, NULL, NULL};
    struct wsg_reader_limits lim = {
        client_sends ? WSG_ROLE_SERVER : WSG_ROLE_CLIENT,
        rsv1 ? WSG_RSV1 : 0, 0, 0,
    };
    struct stream s = {0};
    struct result res;
    size_t size = wsg_msg_encoded_size(len, &o);
    uint8_t *out = malloc(size);
    size_t written = 0;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(wsg_msg_encode(out, size, opcode, data, len, &o,
                                    &written), WSG_OK);
    stream_put(&s, out, written);
    run(&lim, &s, &res);
    ck_assert_int_eq(res.end, WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(res.nev, 1);
    assert_event(&res, 0, opcode, data, len);
    ck_assert(res.ev[0].compressed == rsv1);
    result_free(&res);
    stream_free(&s);
    free(out);
}

START_TEST(test_encode_then_read_round_trips)
{
    static const size_t lens[] = {0, 1, 5, 125, 126, 300, 1000};
    static const size_t frags[] = {0, 1, 7, 125, 4096};
    uint8_t bin[1000];
    uint8_t text[1000];

    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 31 + 7);
    /* text: a mix of 1-4 byte characters, cut to whole characters */
    for (size_t i = 0; i + 10 <= sizeof text; i += 10)
        memcpy(text + i, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10);

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t tlen = lens[i] - lens[i] % 10;
        for (size_t j = 0; j < sizeof frags / sizeof frags[0]; j++) {
            for (int c = 0; c < 2; c++) {
                round_trip(WSG_OP_BINARY, bin, lens[i], frags[j], c, false);
                round_trip(WSG_OP_TEXT, text, tlen, frags[j], c, false);
                round_trip(WSG_OP_BINARY, bin, lens[i], frags[j], c, true);
            }
        }
    }
    round_trip(WSG_OP_PING, bin, 125, 7, true, false);
    round_trip(WSG_OP_PONG, bin, 0, 0, false, false);
}
END_TEST

/* Text fragmented by the encoder may split characters between frames;
 * the reader must still accept it (8.1 validates the message, not each
 * frame). */
START_TEST(test_fragmenting_inside_a_character_round_trips)
{
    static const uint8_t text[] = "\xf0\x9f\x98\x80\xe2\x82\xac";

    for (size_t frag = 1; frag <= 7; frag++) {
        round_trip(WSG_OP_TEXT, text, sizeof text - 1, frag, true, false);
        round_trip(WSG_OP_TEXT, text, sizeof text - 1, frag, false, false);
    }
}
END_TEST

/* With no callback, keys come from the CSPRNG and differ per frame. */
START_TEST(test_encode_default_mask_keys_are_random)
{
    struct wsg_encode_opts o = {1, true, false, NULL, NULL};
    uint8_t out[16 * 7];    /* 2 header + 4 key + 1 payload each */
    size_t written = 0;
    int same = 0;

    ck_assert_int_eq(wsg_msg_encode(out, sizeof out, WSG_OP_BINARY,
                                    (const uint8_t *)"0123456789abcdef", 16,
                                    &o, &written), WSG_OK);
    ck_assert_uint_eq(written, sizeof out);
    for (size_t i = 1; i < 16; i++)
        same += memcmp(out + 2, out + i * 7 + 2, 4) == 0;
    ck_assert_int_lt(same, 2);  /* 2^-32 per pair by chance */
    round_trip(WSG_OP_BINARY, (const uint8_t *)"0123456789abcdef", 16, 1,
               true, false);
}
END_TEST

/* Property: for any input at all, the split does not matter.  Random
 * frame sequences, mostly well formed (fragments, control frames between
 * them, text pieces that usually form valid UTF-8, sizes around the
 * limits) with an occasional mistake (reserved opcode, stray RSV1, wrong
 * masking, misplaced continuation, a flipped bit), run whole, bytewise and
 * randomly split, must agree: run() asserts it. */
START_TEST(test_random_streams_give_same_result_in_any_split)
{
    static const char *pieces[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "xyz",
                                   "\xf0\x9f\x98\x80", "\xe2\x82", "\xac",
                                   "\xed\xa0", "\xff"};
    static const uint8_t controls[] = {WSG_OP_CLOSE, WSG_OP_PING, WSG_OP_PONG};
    struct wsg_reader_limits lims[] = {
        {WSG_ROLE_SERVER, 0, 0, 300},
        {WSG_ROLE_SERVER, WSG_RSV1, 150, 0},
        {WSG_ROLE_CLIENT, 0, 0, 0},
    };
    uint32_t rng = 0x9e3779b9u;
    unsigned outcomes[WSG_ERR__COUNT] = {0};
    unsigned messages = 0;

#define ONE_IN(n) (next_rand(&rng) % (n) == 0)
    for (int iter = 0; iter < 600; iter++) {
        const struct wsg_reader_limits *lim = &lims[iter % 3];
        bool mask = lim->role == WSG_ROLE_SERVER;
        bool in_message = false;
        struct stream s = {0};
        struct result res;
        int frames = 1 + (int)(next_rand(&rng) % 8);

        for (int f = 0; f < frames; f++) {
            uint8_t payload[200];
            size_t len = 0;
            size_t want = ONE_IN(4) ? next_rand(&rng) % 200
                                    : next_rand(&rng) % 12;
            /* mostly valid UTF-8 pieces, now and then a broken one */
            size_t npieces = ONE_IN(8) ? 9 : 5;
            uint8_t op, b0;

            if (ONE_IN(4))
                op = controls[next_rand(&rng) % 3];
            else if (in_message)
                op = WSG_OP_CONTINUATION;
            else
                op = ONE_IN(2) ? WSG_OP_TEXT : WSG_OP_BINARY;
            if (ONE_IN(24))
                op = (uint8_t)(next_rand(&rng) % 16);   /* anything */

            if (wsg_opcode_is_control(op) && want > 125 && !ONE_IN(8))
                want = 125;
            while (len < want) {
                const char *p = pieces[next_rand(&rng) % npieces];
                size_t n = strlen(p);
                if (len + n > sizeof payload)
                    break;
                memcpy(payload + len, p, n);
                len += n;
            }
            if (op == WSG_OP_CLOSE && len >= 2) {
                payload[0] = 0x03;          /* 1000..1007: mostly valid */
                payload[1] = (uint8_t)(0xE8 + next_rand(&rng) % 8);
            }
            b0 = op;
            if (wsg_opcode_is_control(op) ? !ONE_IN(24) : ONE_IN(2))
                b0 |= FIN;
            if (ONE_IN(40) || ((lim->rsv_allowed & WSG_RSV1) &&
                                (op == WSG_OP_TEXT || op == WSG_OP_BINARY) &&
                                ONE_IN(3)))
                b0 |= RSV1_BIT;
            if (!wsg_opcode_is_control(op))
                in_message = (b0 & FIN) == 0;
            put_frame_b0(&s, b0, ONE_IN(48) ? !mask : mask, payload, len);
        }
        if (ONE_IN(6) && s.len > 0)
            s.buf[next_rand(&rng) % s.len] ^= (uint8_t)(1u << (next_rand(&rng) % 8));
        run(lim, &s, &res);
        outcomes[res.end]++;
        messages += (unsigned)res.nev;
        result_free(&res);
        stream_free(&s);
    }
#undef ONE_IN
    /* The generator must reach deep into streams, not just fail early. */
    ck_assert_uint_gt(outcomes[WSG_ERR_INCOMPLETE], 100);
    ck_assert_uint_gt(messages, 600);
    ck_assert_uint_gt(outcomes[WSG_ERR_BAD_UTF8], 0);
    ck_assert_uint_gt(outcomes[WSG_ERR_RSV_BITS], 0);
}
END_TEST

/* A message in many small fragments (Autobahn 9.3.1 sends 4 MiB in 64-byte
 * frames) must grow its buffer by doubling: one reallocation per fragment
 * made that case quadratic.  The capacity stays a power-of-two multiple of
 * the floor and under twice the bytes received. */
START_TEST(test_many_small_fragments_grow_the_buffer_by_doubling)
{
    struct stream s = {0};
    uint8_t chunk[64];
    memset(chunk, 'x', sizeof chunk);
    put_frame(&s, false, WSG_OP_BINARY, true, chunk, sizeof chunk);
    for (int i = 1; i < 4096; i++)
        put_frame(&s, i == 4095, WSG_OP_CONTINUATION, true, chunk, sizeof chunk);

    struct wsg_reader r;
    wsg_reader_init(&r, &server_lim);
    size_t pos = 0, grows = 0, last_cap = 0;
    struct wsg_msg m;
    enum wsg_err err = WSG_ERR_INCOMPLETE;
    while (pos < s.len) {
        size_t used;
        size_t n = s.len - pos < 70 ? s.len - pos : 70; /* about a frame a feed */
        err = wsg_reader_feed(&r, s.buf + pos, n, &used, &m);
        pos += used;
        if (r.cap != last_cap) {
            grows++;
            last_cap = r.cap;
        }
        if (err == WSG_OK)
            break;
        ck_assert_int_eq(err, WSG_ERR_INCOMPLETE);
    }
    ck_assert_int_eq(err, WSG_OK);
    ck_assert_uint_eq(m.len, 4096 * 64);
    ck_assert_uint_le(grows, 12); /* 256 B .. 256 KiB: 11 doublings */
    ck_assert_uint_le(r.cap, 2 * m.len);
    wsg_reader_free(&r);
    stream_free(&s);
}
END_TEST

Suite *
message_suite(void)
{
    Suite *s = suite_create("message");
    TCase *rfc = tcase_create("rfc_examples");
    TCase *frag = tcase_create("fragments_and_control");
    TCase *err = tcase_create("errors");
    TCase *utf8 = tcase_create("utf8");
    TCase *mem = tcase_create("limits_and_memory");
    TCase *enc = tcase_create("encode");

    tcase_add_test(rfc, test_rfc_single_unmasked_text_to_client);
    tcase_add_test(rfc, test_rfc_single_masked_text_to_server);
    tcase_add_test(rfc, test_rfc_fragmented_unmasked_text_to_client);
    tcase_add_test(rfc, test_rfc_fragmented_masked_text_to_server);
    tcase_add_test(rfc, test_rfc_unmasked_ping_and_masked_pong);
    tcase_add_test(rfc, test_rfc_256_byte_binary_with_16_bit_length);
    tcase_add_test(rfc, test_rfc_64k_binary_with_64_bit_length);
    tcase_set_timeout(rfc, 60);
    suite_add_tcase(s, rfc);

    tcase_add_test(frag, test_ping_between_fragments_is_delivered_first);
    tcase_add_test(frag, test_close_between_fragments_is_delivered);
    tcase_add_test(frag, test_many_messages_in_one_buffer_are_delivered_in_order);
    tcase_add_test(frag, test_feed_stops_after_one_message);
    tcase_add_test(frag, test_zero_length_frames_and_messages);
    tcase_add_test(frag, test_empty_message_is_delivered_with_its_header);
    tcase_add_test(frag, test_close_frame_gives_code_and_reason);
    tcase_add_test(frag, test_empty_close_frame_reports_1005);
    tcase_add_test(frag, test_ping_payload_is_delivered_as_is);
    tcase_add_test(frag, test_binary_message_is_not_utf8_checked);
    tcase_add_test(frag, test_reader_is_idle_only_between_messages);
    suite_add_tcase(s, frag);

    tcase_add_test(err, test_close_frame_of_one_byte_is_rejected);
    tcase_add_test(err, test_close_frame_with_invalid_code_is_rejected);
    tcase_add_test(err, test_close_frame_with_invalid_utf8_reason_is_rejected);
    tcase_add_test(err, test_continuation_without_start_is_rejected);
    tcase_add_test(err, test_continuation_after_final_frame_is_rejected);
    tcase_add_test(err, test_new_data_frame_inside_fragmented_message_is_rejected);
    tcase_add_test(err, test_rsv1_on_continuation_is_rejected);
    tcase_add_test(err, test_rsv1_on_control_frame_is_rejected);
    tcase_add_test(err, test_rsv1_without_extension_is_rejected);
    tcase_add_test(err, test_compressed_text_is_not_utf8_checked);
    tcase_add_test(err, test_errors_are_sticky);
    tcase_add_test(err, test_unmasked_frame_to_server_is_rejected);
    tcase_add_test(err, test_masked_frame_to_client_is_rejected);
    tcase_add_test(err, test_reserved_opcode_is_rejected);
    tcase_add_test(err, test_bad_control_frames_are_rejected);
    tcase_add_test(err, test_control_frame_of_125_bytes_is_accepted);
    tcase_add_test(err, test_frame_over_max_frame_is_rejected);
    tcase_add_test(err, test_random_streams_give_same_result_in_any_split);
    tcase_set_timeout(err, 60);
    suite_add_tcase(s, err);

    tcase_add_test(utf8, test_invalid_utf8_fails_mid_fragment);
    tcase_add_test(utf8, test_invalid_utf8_split_across_fragments_fails_in_second);
    tcase_add_test(utf8, test_utf8_character_split_across_fragments_is_accepted);
    tcase_add_test(utf8, test_text_ending_inside_a_character_is_rejected);
    suite_add_tcase(s, utf8);

    tcase_add_test(mem, test_message_too_big_is_rejected_before_allocating);
    tcase_add_test(mem, test_many_small_fragments_grow_the_buffer_by_doubling);
    tcase_add_test(mem, test_max_message_counts_all_fragments);
    tcase_add_test(mem, test_message_of_exactly_max_message_is_accepted);
    tcase_add_test(mem, test_trickled_big_frame_grows_buffer_with_arrived_bytes);
    tcase_add_test(mem, test_small_buffer_is_reused_between_messages);
    tcase_add_test(mem, test_large_buffer_is_freed_at_next_message);
    tcase_add_test(mem, test_shrink_frees_buffer_between_messages);
    tcase_add_test(mem, test_shrink_keeps_message_in_progress);
    tcase_add_test(mem, test_need_reports_bytes_to_finish_header);
    tcase_add_test(mem, test_free_is_safe_on_null_and_twice);
    tcase_add_test(mem, test_taken_buffer_survives_the_next_message);
    suite_add_tcase(s, mem);

    tcase_add_test(enc, test_encode_matches_rfc_unmasked_example);
    tcase_add_test(enc, test_encode_matches_rfc_masked_example);
    tcase_add_test(enc, test_encode_fragments_message);
    tcase_add_test(enc, test_encode_exact_multiple_has_no_empty_frame);
    tcase_add_test(enc, test_encode_empty_message_is_one_frame);
    tcase_add_test(enc, test_encode_control_frames);
    tcase_add_test(enc, test_encode_rejects_continuation_and_reserved_opcodes);
    tcase_add_test(enc, test_encode_buffer_too_small);
    tcase_add_test(enc, test_encoded_size_matches_bytes_written);
    tcase_add_test(enc, test_encode_then_read_round_trips);
    tcase_add_test(enc, test_fragmenting_inside_a_character_round_trips);
    tcase_add_test(enc, test_encode_default_mask_keys_are_random);
    tcase_set_timeout(enc, 120);
    suite_add_tcase(s, enc);
    return s;
}
