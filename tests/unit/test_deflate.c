/*
 * test_deflate.c - unit tests for src/proto/deflate.c: permessage-deflate
 * negotiation (RFC 7692 5, 7.1: every parameter, invalid and repeated
 * ones, several offers, the agreed response; the client's side too) and
 * the codec (7.2: the RFC's own examples, round trips, the tail, context
 * takeover on and off, window bits, bombs, corrupt streams, lazy state).
 */
#include <stdlib.h>
#include <string.h>


#include "deflate.h"
#include "prng.h"
#include "suites.h"

#define MIB (1u << 20)

static struct wsg_deflate_cfg
cfg_default(void)
{
    return (struct wsg_deflate_cfg){
        .enabled = true, .level = 6, .mem_level = 8,
        .server_max_window_bits = 15, .client_max_window_bits = 15,
        .min_size = 64,
    };
}

static struct wsg_header
ext_header(const char *value)
{
    return (struct wsg_header){
        .name = "Sec-WebSocket-Extensions", .name_len = 24,
        .value = value, .value_len = strlen(value),
    };
}

static char resp[WSG_DEFLATE_HEADER_MAX];
static struct wsg_deflate_params agreed;

/* Negotiate one header value; returns whether an offer was accepted. */
static bool
negotiate1(const char *value, const struct wsg_deflate_cfg *cfg)
{
    struct wsg_header h = ext_header(value);
    memset(&agreed, 0xee, sizeof(agreed));
    resp[0] = '\0';
    return wsg_deflate_negotiate(&h, 1, cfg, &agreed, resp, sizeof(resp));
}

static void
expect_response(const char *offer, const struct wsg_deflate_cfg *cfg, const char *want)
{
    ck_assert_msg(negotiate1(offer, cfg), "offer \"%s\" declined", offer);
    ck_assert_str_eq(resp, want);
}

static void
expect_declined(const char *offer)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    ck_assert_msg(!negotiate1(offer, &cfg), "offer \"%s\" accepted: %s", offer, resp);
}

/* ---- negotiation: the server ------------------------------------------ */

START_TEST(test_plain_offer_is_accepted_with_defaults)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate", &cfg, "permessage-deflate");
    ck_assert(!agreed.server_no_context_takeover);
    ck_assert(!agreed.client_no_context_takeover);
    ck_assert_uint_eq(agreed.server_max_window_bits, 15);
    ck_assert_uint_eq(agreed.client_max_window_bits, 15);
}
END_TEST

START_TEST(test_nothing_is_agreed_without_an_offer_or_when_disabled)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    ck_assert(!wsg_deflate_negotiate(NULL, 0, &cfg, &agreed, resp, sizeof(resp)));
    struct wsg_header other = { "Sec-WebSocket-Protocol", 22, "permessage-deflate", 18 };
    ck_assert(!wsg_deflate_negotiate(&other, 1, &cfg, &agreed, resp, sizeof(resp)));
    ck_assert(!negotiate1("x-webkit-deflate-frame", &cfg));
    cfg.enabled = false;
    ck_assert(!negotiate1("permessage-deflate", &cfg));
}
END_TEST

/* 7.1.1.1: a server accepting server_no_context_takeover says so. */
START_TEST(test_server_no_context_takeover_offered_is_agreed)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate; server_no_context_takeover", &cfg,
                    "permessage-deflate; server_no_context_takeover");
    ck_assert(agreed.server_no_context_takeover);
    ck_assert(!agreed.client_no_context_takeover);
}
END_TEST

START_TEST(test_server_no_context_takeover_from_config_is_added)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    cfg.server_no_context_takeover = true;
    expect_response("permessage-deflate", &cfg,
                    "permessage-deflate; server_no_context_takeover");
    ck_assert(agreed.server_no_context_takeover);
}
END_TEST

/* 7.1.1.2: the server may always include client_no_context_takeover. */
START_TEST(test_client_no_context_takeover_offered_or_configured_is_agreed)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate;client_no_context_takeover", &cfg,
                    "permessage-deflate; client_no_context_takeover");
    ck_assert(agreed.client_no_context_takeover);
    cfg.client_no_context_takeover = true;
    expect_response("permessage-deflate", &cfg,
                    "permessage-deflate; client_no_context_takeover");
    ck_assert(agreed.client_no_context_takeover);
}
END_TEST

/* 7.1.2.1: answered with the same or a smaller value. */
START_TEST(test_server_max_window_bits_is_answered_with_at_most_the_offer)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate; server_max_window_bits=10", &cfg,
                    "permessage-deflate; server_max_window_bits=10");
    ck_assert_uint_eq(agreed.server_max_window_bits, 10);
    cfg.server_max_window_bits = 12;
    expect_response("permessage-deflate; server_max_window_bits=14", &cfg,
                    "permessage-deflate; server_max_window_bits=12");
    ck_assert_uint_eq(agreed.server_max_window_bits, 12);
    expect_response("permessage-deflate; server_max_window_bits=8", &cfg,
                    "permessage-deflate; server_max_window_bits=8");
    ck_assert_uint_eq(agreed.server_max_window_bits, 8);
}
END_TEST

/* Our own smaller window needs no word to the client: it only makes the
 * response say what was agreed. */
START_TEST(test_server_window_from_config_is_used_silently_when_not_offered)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    cfg.server_max_window_bits = 10;
    expect_response("permessage-deflate", &cfg, "permessage-deflate");
    ck_assert_uint_eq(agreed.server_max_window_bits, 10);
}
END_TEST

START_TEST(test_client_max_window_bits_without_value_lets_config_limit_it)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate; client_max_window_bits", &cfg,
                    "permessage-deflate");
    ck_assert_uint_eq(agreed.client_max_window_bits, 15);
    cfg.client_max_window_bits = 10;
    expect_response("permessage-deflate; client_max_window_bits", &cfg,
                    "permessage-deflate; client_max_window_bits=10");
    ck_assert_uint_eq(agreed.client_max_window_bits, 10);
}
END_TEST

START_TEST(test_client_max_window_bits_with_value_is_the_smaller_of_both)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate; client_max_window_bits=9", &cfg,
                    "permessage-deflate; client_max_window_bits=9");
    ck_assert_uint_eq(agreed.client_max_window_bits, 9);
    cfg.client_max_window_bits = 11;
    expect_response("permessage-deflate; client_max_window_bits=13", &cfg,
                    "permessage-deflate; client_max_window_bits=11");
    ck_assert_uint_eq(agreed.client_max_window_bits, 11);
    expect_response("permessage-deflate; client_max_window_bits=8", &cfg,
                    "permessage-deflate; client_max_window_bits=8");
    ck_assert_uint_eq(agreed.client_max_window_bits, 8);
}
END_TEST

/* Without client_max_window_bits the client's window cannot be limited:
 * an operator's limit then declines the offer. */
START_TEST(test_client_that_cannot_be_limited_is_declined_when_config_limits)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    cfg.client_max_window_bits = 12;
    ck_assert(!negotiate1("permessage-deflate", &cfg));
    expect_response("permessage-deflate, permessage-deflate; client_max_window_bits", &cfg,
                    "permessage-deflate; client_max_window_bits=12");
}
END_TEST

START_TEST(test_every_parameter_together)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate; server_no_context_takeover; "
                    "client_no_context_takeover; server_max_window_bits=11; "
                    "client_max_window_bits=9", &cfg,
                    "permessage-deflate; server_no_context_takeover; "
                    "client_no_context_takeover; server_max_window_bits=11; "
                    "client_max_window_bits=9");
    ck_assert(agreed.server_no_context_takeover);
    ck_assert(agreed.client_no_context_takeover);
    ck_assert_uint_eq(agreed.server_max_window_bits, 11);
    ck_assert_uint_eq(agreed.client_max_window_bits, 9);
    ck_assert_uint_lt(strlen(resp), WSG_DEFLATE_HEADER_MAX);
}
END_TEST

/* 7.1: an unknown parameter, a parameter twice, or a bad value declines
 * the offer. */
START_TEST(test_invalid_or_repeated_parameters_decline_the_offer)
{
    expect_declined("permessage-deflate; foo");
    expect_declined("permessage-deflate; foo=1");
    expect_declined("permessage-deflate; server_no_context_takeover; server_no_context_takeover");
    expect_declined("permessage-deflate; client_no_context_takeover; client_no_context_takeover");
    expect_declined("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10");
    expect_declined("permessage-deflate; client_max_window_bits; client_max_window_bits=10");
    expect_declined("permessage-deflate; server_no_context_takeover=1");
    expect_declined("permessage-deflate; client_no_context_takeover=true");
    expect_declined("permessage-deflate; server_max_window_bits");
    expect_declined("permessage-deflate; server_max_window_bits=7");
    expect_declined("permessage-deflate; server_max_window_bits=16");
    expect_declined("permessage-deflate; server_max_window_bits=010");
    expect_declined("permessage-deflate; server_max_window_bits=+9");
    expect_declined("permessage-deflate; server_max_window_bits=1O");
    expect_declined("permessage-deflate; client_max_window_bits=0");
    expect_declined("permessage-deflate; client_max_window_bits=123456789012");
    expect_declined("permessage-deflate; client_max_window_bits=\"\"");
}
END_TEST

START_TEST(test_too_many_parameters_decline_the_offer)
{
    expect_declined("permessage-deflate; server_no_context_takeover; "
                    "client_no_context_takeover; server_max_window_bits=10; "
                    "client_max_window_bits; a; b; c; d; e");
}
END_TEST

START_TEST(test_malformed_offers_are_declined_not_fatal)
{
    expect_declined("permessage-deflate;");
    expect_declined("permessage-deflate; ;");
    expect_declined("permessage-deflate server_no_context_takeover");
    expect_declined("permessage-deflate; server_max_window_bits=");
    expect_declined("permessage-deflate; server_max_window_bits=\"10");
    expect_declined("; permessage-deflate");
    expect_declined("\"permessage-deflate\"");
}
END_TEST

/* RFC 6455 9.1: a value may be a quoted-string; it is unquoted first. */
START_TEST(test_quoted_values_are_unquoted)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate; server_max_window_bits=\"10\"", &cfg,
                    "permessage-deflate; server_max_window_bits=10");
    expect_response("permessage-deflate; client_max_window_bits=\"1\\2\"", &cfg,
                    "permessage-deflate; client_max_window_bits=12");
}
END_TEST

/* The first acceptable offer wins (the client's order of preference). */
START_TEST(test_first_acceptable_of_several_offers_is_taken)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("permessage-deflate; server_max_window_bits=10; client_max_window_bits,"
                    " permessage-deflate; client_max_window_bits, permessage-deflate",
                    &cfg, "permessage-deflate; server_max_window_bits=10");
    expect_response("permessage-deflate; bogus, permessage-deflate; "
                    "server_no_context_takeover", &cfg,
                    "permessage-deflate; server_no_context_takeover");
    expect_response("x-foo; a=\"b, c\"; d, permessage-deflate; server_max_window_bits=9",
                    &cfg, "permessage-deflate; server_max_window_bits=9");
    expect_response("permessage-deflate;;, ,permessage-deflate", &cfg, "permessage-deflate");
}
END_TEST

START_TEST(test_offers_across_several_headers_keep_their_order)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    struct wsg_header h[3] = {
        ext_header("x-webkit-deflate-frame"),
        { "Sec-WebSocket-Protocol", 22, "chat", 4 },
        ext_header("permessage-deflate; server_max_window_bits=99, "
                   "permessage-deflate; client_no_context_takeover"),
    };
    ck_assert(wsg_deflate_negotiate(h, 3, &cfg, &agreed, resp, sizeof(resp)));
    ck_assert_str_eq(resp, "permessage-deflate; client_no_context_takeover");
    /* Header names compare case-insensitively. */
    struct wsg_header lower = { "sec-websocket-extensions", 24, "permessage-deflate", 18 };
    ck_assert(wsg_deflate_negotiate(&lower, 1, &cfg, &agreed, resp, sizeof(resp)));
}
END_TEST

START_TEST(test_whitespace_around_separators_is_allowed)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    expect_response("  permessage-deflate ;\tserver_max_window_bits = 11 ; "
                    "client_max_window_bits  ", &cfg,
                    "permessage-deflate; server_max_window_bits=11");
}
END_TEST

START_TEST(test_too_small_response_buffer_declines)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    struct wsg_header h = ext_header("permessage-deflate");
    char small[8];
    ck_assert(!wsg_deflate_negotiate(&h, 1, &cfg, &agreed, small, sizeof(small)));
}
END_TEST

/* ---- negotiation: the client ------------------------------------------ */

START_TEST(test_client_offer_says_what_the_config_asks)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    char out[WSG_DEFLATE_HEADER_MAX];
    ck_assert_uint_gt(wsg_deflate_offer(&cfg, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "permessage-deflate; client_max_window_bits");
    cfg.server_no_context_takeover = cfg.client_no_context_takeover = true;
    cfg.server_max_window_bits = 10;
    cfg.client_max_window_bits = 9;
    ck_assert_uint_gt(wsg_deflate_offer(&cfg, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "permessage-deflate; server_no_context_takeover; "
                     "client_no_context_takeover; server_max_window_bits=10; "
                     "client_max_window_bits=9");
    /* Our own server accepts our own offer. */
    struct wsg_deflate_cfg server = cfg_default();
    ck_assert(negotiate1(out, &server));
    ck_assert_uint_eq(wsg_deflate_offer(&cfg, out, 10), 0);
}
END_TEST

static enum wsg_err
check_response(const char *value, const struct wsg_deflate_cfg *cfg, bool *accepted)
{
    struct wsg_header h = ext_header(value);
    return wsg_deflate_check_response(&h, value[0] != '\0' ? 1 : 0, cfg, accepted, &agreed);
}

START_TEST(test_client_accepts_an_agreeing_response)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    bool accepted = true;
    ck_assert_int_eq(check_response("", &cfg, &accepted), WSG_OK);
    ck_assert(!accepted);
    ck_assert_int_eq(check_response("permessage-deflate", &cfg, &accepted), WSG_OK);
    ck_assert(accepted);
    ck_assert_uint_eq(agreed.server_max_window_bits, 15);
    ck_assert_uint_eq(agreed.client_max_window_bits, 15);
    ck_assert_int_eq(check_response("permessage-deflate; server_no_context_takeover; "
                                    "client_no_context_takeover; server_max_window_bits=9; "
                                    "client_max_window_bits=8", &cfg, &accepted), WSG_OK);
    ck_assert(accepted);
    ck_assert(agreed.server_no_context_takeover);
    ck_assert(agreed.client_no_context_takeover);
    ck_assert_uint_eq(agreed.server_max_window_bits, 9);
    ck_assert_uint_eq(agreed.client_max_window_bits, 8);
}
END_TEST

START_TEST(test_client_rejects_a_response_that_does_not_agree)
{
    struct wsg_deflate_cfg cfg = cfg_default();
    bool accepted;
    ck_assert_int_eq(check_response("x-other", &cfg, &accepted), WSG_ERR_HS_EXTENSION);
    ck_assert_int_eq(check_response("permessage-deflate, permessage-deflate", &cfg, &accepted),
                     WSG_ERR_HS_EXTENSION);
    ck_assert_int_eq(check_response("permessage-deflate; client_max_window_bits", &cfg,
                                    &accepted), WSG_ERR_HS_EXTENSION);
    ck_assert_int_eq(check_response("permessage-deflate; foo", &cfg, &accepted),
                     WSG_ERR_HS_EXTENSION);
    ck_assert_int_eq(check_response("permessage-deflate; server_max_window_bits=16", &cfg,
                                    &accepted), WSG_ERR_HS_EXTENSION);
    cfg.server_no_context_takeover = true;
    ck_assert_int_eq(check_response("permessage-deflate", &cfg, &accepted),
                     WSG_ERR_HS_EXTENSION);
    cfg = cfg_default();
    cfg.server_max_window_bits = 10;
    ck_assert_int_eq(check_response("permessage-deflate", &cfg, &accepted),
                     WSG_ERR_HS_EXTENSION);
    ck_assert_int_eq(check_response("permessage-deflate; server_max_window_bits=11", &cfg,
                                    &accepted), WSG_ERR_HS_EXTENSION);
    ck_assert_int_eq(check_response("permessage-deflate; server_max_window_bits=10", &cfg,
                                    &accepted), WSG_OK);
}
END_TEST

/* ---- the codec --------------------------------------------------------- */

static const struct wsg_deflate_params takeover = {
    .server_max_window_bits = 15, .client_max_window_bits = 15,
};
static const struct wsg_deflate_params no_takeover = {
    .server_no_context_takeover = true, .client_no_context_takeover = true,
    .server_max_window_bits = 15, .client_max_window_bits = 15,
};

static struct wsg_deflate *
codec(enum wsg_role role, const struct wsg_deflate_params *p, uint64_t max)
{
    struct wsg_deflate *d = wsg_deflate_new(role, p, 6, 8, max);
    ck_assert_ptr_nonnull(d);
    return d;
}

static void
expect_inflate(struct wsg_deflate *d, const uint8_t *in, size_t len, const char *want)
{
    const uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(wsg_deflate_inflate(d, in, len, &out, &outlen), WSG_OK);
    ck_assert_uint_eq(outlen, strlen(want));
    ck_assert(memcmp(out, want, outlen) == 0);
}

/* RFC 7692 7.2.3.1: "Hello" in one compressed message. */
START_TEST(test_rfc_example_hello_compresses_and_inflates)
{
    static const uint8_t hello[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &no_takeover, 0);
    const uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(wsg_deflate_compress(d, (const uint8_t *)"Hello", 5, &out, &outlen),
                     WSG_OK);
    ck_assert_uint_eq(outlen, sizeof(hello));
    ck_assert(memcmp(out, hello, sizeof(hello)) == 0);
    expect_inflate(d, hello, sizeof(hello), "Hello");
    wsg_deflate_free(d);
}
END_TEST

/* 7.2.3.2: the second "Hello" refers back into the first message. */
START_TEST(test_rfc_example_context_takeover_inflates)
{
    static const uint8_t first[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
    static const uint8_t second[] = { 0xf2, 0x00, 0x11, 0x00, 0x00 };
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &takeover, 0);
    expect_inflate(d, first, sizeof(first), "Hello");
    expect_inflate(d, second, sizeof(second), "Hello");
    wsg_deflate_free(d);
    /* Without takeover the back reference has nothing to point at. */
    d = codec(WSG_ROLE_SERVER, &no_takeover, 0);
    expect_inflate(d, first, sizeof(first), "Hello");
    const uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(wsg_deflate_inflate(d, second, sizeof(second), &out, &outlen),
                     WSG_ERR_BAD_DEFLATE);
    wsg_deflate_free(d);
}
END_TEST

/* 7.2.3.3 and 7.2.3.4: a stored block, and a final (BFINAL) block; after
 * a final block the context is still there for the next message. */
START_TEST(test_rfc_examples_stored_and_final_blocks_inflate)
{
    static const uint8_t stored[] = { 0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e', 'l', 'l', 'o',
                                      0x00 };
    static const uint8_t final[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00 };
    static const uint8_t again[] = { 0xf2, 0x00, 0x11, 0x00, 0x00 };
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &takeover, 0);
    expect_inflate(d, stored, sizeof(stored), "Hello");
    expect_inflate(d, final, sizeof(final), "Hello");
    expect_inflate(d, again, sizeof(again), "Hello");
    wsg_deflate_free(d);
}
END_TEST

/* 7.2.3.6: an empty message is one 0x00 byte; an empty payload is taken
 * as an empty message too. */
START_TEST(test_empty_message_is_one_zero_byte)
{
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &takeover, 0);
    const uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(wsg_deflate_compress(d, NULL, 0, &out, &outlen), WSG_OK);
    ck_assert_uint_eq(outlen, 1);
    ck_assert_uint_eq(out[0], 0x00);
    expect_inflate(d, out, outlen, "");
    expect_inflate(d, (const uint8_t *)"", 0, "");
    ck_assert_uint_eq(wsg_deflate_memory(d) > 1000, true); /* inflater exists */
    wsg_deflate_free(d);
}
END_TEST

static uint8_t *
make_payload(size_t n, uint64_t seed, bool compressible)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint64_t st = seed;
    static const char words[][8] = { "alpha ", "beta ", "gamma ", "{\"id\":", "42, ", "\n" };
    for (size_t i = 0; i < n;) {
        uint64_t r = prng_next(&st);
        if (!compressible) {
            p[i++] = (uint8_t)r;
            continue;
        }
        const char *w = words[r % 6];
        for (size_t k = 0; w[k] != '\0' && i < n; k++)
            p[i++] = (uint8_t)w[k];
    }
    return p;
}

/* Server compresses, a client codec inflates, and back. */
static void
round_trip(const struct wsg_deflate_params *p, size_t n, bool compressible, int rounds)
{
    struct wsg_deflate *srv = codec(WSG_ROLE_SERVER, p, 0);
    struct wsg_deflate *cli = codec(WSG_ROLE_CLIENT, p, 0);
    for (int r = 0; r < rounds; r++) {
        uint8_t *msg = make_payload(n, 7 + (uint64_t)r, compressible);
        struct wsg_deflate *from = r % 2 ? cli : srv, *to = r % 2 ? srv : cli;
        const uint8_t *z, *out;
        size_t zlen, outlen;
        ck_assert_int_eq(wsg_deflate_compress(from, msg, n, &z, &zlen), WSG_OK);
        /* The tail is never sent: the payload never ends in 00 00 ff ff. */
        ck_assert(zlen < 4 || memcmp(z + zlen - 4, "\x00\x00\xff\xff", 4) != 0);
        if (compressible && n > 1000)
            ck_assert_uint_lt(zlen, n / 2);
        uint8_t *copy = malloc(zlen);
        memcpy(copy, z, zlen);
        ck_assert_int_eq(wsg_deflate_inflate(to, copy, zlen, &out, &outlen), WSG_OK);
        ck_assert_uint_eq(outlen, n);
        ck_assert(n == 0 || memcmp(out, msg, n) == 0);
        wsg_deflate_shrink(from);
        wsg_deflate_shrink(to);
        free(copy);
        free(msg);
    }
    wsg_deflate_free(srv);
    wsg_deflate_free(cli);
}

START_TEST(test_round_trips_at_every_size)
{
    static const size_t sizes[] = { 0, 1, 2, 63, 125, 126, 4096, 65535, 65536, 300000, MIB };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        round_trip(&takeover, sizes[i], true, 4);
        round_trip(&no_takeover, sizes[i], true, 3);
        round_trip(&takeover, sizes[i], false, 2);
    }
}
END_TEST

START_TEST(test_round_trips_at_every_window_size)
{
    for (uint8_t bits = 8; bits <= 15; bits++) {
        struct wsg_deflate_params p = {
            .server_max_window_bits = bits, .client_max_window_bits = bits,
        };
        round_trip(&p, 100000, true, 4);
        p.server_no_context_takeover = p.client_no_context_takeover = true;
        round_trip(&p, 5000, true, 3);
    }
}
END_TEST

/* With takeover a repeated message costs a few bytes the second time;
 * without, the same as the first. */
START_TEST(test_context_takeover_on_and_off)
{
    uint8_t *msg = make_payload(2000, 99, false);
    for (int on = 0; on <= 1; on++) {
        struct wsg_deflate *d = codec(WSG_ROLE_SERVER, on ? &takeover : &no_takeover, 0);
        const uint8_t *z;
        size_t first, second;
        ck_assert_int_eq(wsg_deflate_compress(d, msg, 2000, &z, &first), WSG_OK);
        wsg_deflate_shrink(d);
        ck_assert_int_eq(wsg_deflate_compress(d, msg, 2000, &z, &second), WSG_OK);
        if (on)
            ck_assert_uint_lt(second, 50);
        else
            ck_assert_uint_eq(second, first);
        /* A reset makes the next message stand alone again. */
        wsg_deflate_send_reset(d);
        ck_assert_int_eq(wsg_deflate_compress(d, msg, 2000, &z, &second), WSG_OK);
        ck_assert_uint_eq(second, first);
        wsg_deflate_free(d);
    }
    free(msg);
}
END_TEST

START_TEST(test_compress_once_equals_a_fresh_context)
{
    uint8_t *msg = make_payload(5000, 3, true);
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &no_takeover, 0);
    int wbits, level, mem;
    wsg_deflate_send_key(d, &wbits, &level, &mem);
    ck_assert_int_eq(wbits, 15);
    ck_assert_int_eq(level, 6);
    ck_assert_int_eq(mem, 8);
    const uint8_t *z;
    size_t zlen, olen;
    uint8_t *once;
    ck_assert_int_eq(wsg_deflate_compress(d, msg, 5000, &z, &zlen), WSG_OK);
    ck_assert_int_eq(wsg_deflate_compress_once(wbits, level, mem, msg, 5000, 14, &once, &olen),
                     WSG_OK);
    ck_assert_uint_eq(olen, zlen);
    ck_assert(memcmp(once + 14, z, zlen) == 0);
    free(once);
    ck_assert_int_eq(wsg_deflate_compress_once(8, 1, 1, NULL, 0, 2, &once, &olen), WSG_OK);
    ck_assert_uint_eq(olen, 1);
    ck_assert_uint_eq(once[2], 0);
    free(once);
    wsg_deflate_free(d);
    free(msg);
}
END_TEST

/* Window bits 8: zlib compresses with 9, which never reaches back more
 * than 250 bytes, so an 8-bit inflater reads it. */
START_TEST(test_window_bits_8_compresses_within_256_bytes)
{
    struct wsg_deflate_params p = { .server_max_window_bits = 8, .client_max_window_bits = 8 };
    struct wsg_deflate *srv = codec(WSG_ROLE_SERVER, &p, 0);
    int wbits, level, mem;
    wsg_deflate_send_key(srv, &wbits, &level, &mem);
    ck_assert_int_eq(wbits, 9);
    wsg_deflate_free(srv);
    round_trip(&p, 50000, true, 6);
    round_trip(&p, 50000, false, 2);
}
END_TEST

/* A peer using a larger window than agreed refers further back than our
 * inflater keeps (2^bits of earlier messages): a corrupt stream, not a
 * read out of bounds.  (Within one message zlib resolves references from
 * the output itself, so there the window costs no memory either.) */
START_TEST(test_reference_beyond_the_agreed_window_is_corrupt)
{
    uint8_t *msg = make_payload(4000, 5, false);
    struct wsg_deflate *big = codec(WSG_ROLE_CLIENT, &takeover, 0);
    struct wsg_deflate_params p = { .server_max_window_bits = 15, .client_max_window_bits = 9 };
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &p, 0);
    const uint8_t *z, *out;
    size_t zlen, outlen;
    uint8_t copy[8192];
    ck_assert_int_eq(wsg_deflate_compress(big, msg, 4000, &z, &zlen), WSG_OK);
    memcpy(copy, z, zlen);
    ck_assert_int_eq(wsg_deflate_inflate(d, copy, zlen, &out, &outlen), WSG_OK);
    ck_assert_int_eq(wsg_deflate_compress(big, msg, 1000, &z, &zlen), WSG_OK);
    ck_assert_uint_lt(zlen, 20); /* one match 4000 bytes back */
    memcpy(copy, z, zlen);
    ck_assert_int_eq(wsg_deflate_inflate(d, copy, zlen, &out, &outlen), WSG_ERR_BAD_DEFLATE);
    wsg_deflate_free(d);
    wsg_deflate_free(big);
    free(msg);
}
END_TEST

/* A bomb: 64 MiB of zeros in about 64 KiB, against a 1 MiB limit.  The
 * codec stops at the limit and never holds more than it. */
START_TEST(test_bomb_stops_at_the_limit_before_the_memory_is_spent)
{
    size_t n = 64 * MIB;
    uint8_t *zeros = calloc(1, n);
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(wsg_deflate_compress_once(15, 9, 9, zeros, n, 0, &z, &zlen), WSG_OK);
    free(zeros);
    ck_assert_uint_lt(zlen, 100 * 1024);
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &takeover, MIB);
    const uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(wsg_deflate_inflate(d, z, zlen, &out, &outlen), WSG_ERR_MESSAGE_TOO_BIG);
    ck_assert_uint_le(wsg_deflate_memory(d), MIB + 64 * 1024);
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_MESSAGE_TOO_BIG), 1009);
    wsg_deflate_free(d);
    free(z);
}
END_TEST

START_TEST(test_limit_is_exact)
{
    uint8_t *msg = make_payload(10000, 1, true);
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(wsg_deflate_compress_once(15, 6, 8, msg, 10000, 0, &z, &zlen), WSG_OK);
    const uint8_t *out;
    size_t outlen;
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &no_takeover, 10000);
    ck_assert_int_eq(wsg_deflate_inflate(d, z, zlen, &out, &outlen), WSG_OK);
    ck_assert_uint_eq(outlen, 10000);
    wsg_deflate_free(d);
    d = codec(WSG_ROLE_SERVER, &no_takeover, 9999);
    ck_assert_int_eq(wsg_deflate_inflate(d, z, zlen, &out, &outlen), WSG_ERR_MESSAGE_TOO_BIG);
    wsg_deflate_free(d);
    free(z);
    free(msg);
}
END_TEST

START_TEST(test_corrupt_streams_are_bad_deflate)
{
    static const uint8_t bad_type[] = { 0xff, 0xff, 0xff };        /* BTYPE 11 */
    static const uint8_t bad_stored[] = { 0x00, 0x05, 0x00, 0x00, 0x00, 'H' }; /* NLEN */
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &takeover, 0);
    const uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(wsg_deflate_inflate(d, bad_type, sizeof(bad_type), &out, &outlen),
                     WSG_ERR_BAD_DEFLATE);
    ck_assert_int_eq(wsg_deflate_inflate(d, bad_stored, sizeof(bad_stored), &out, &outlen),
                     WSG_ERR_BAD_DEFLATE);
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_BAD_DEFLATE), 1007);
    wsg_deflate_free(d);
}
END_TEST

/* A message cut short (the rest of a block missing) is corrupt; after a
 * final block a new stream may follow in the same message (7.2.3.4). */
START_TEST(test_truncated_message_is_corrupt_and_streams_may_follow_a_final_block)
{
    uint8_t *msg = make_payload(3000, 11, false);
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(wsg_deflate_compress_once(15, 6, 8, msg, 3000, 0, &z, &zlen), WSG_OK);
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &no_takeover, 0);
    const uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(wsg_deflate_inflate(d, z, zlen / 2, &out, &outlen), WSG_ERR_BAD_DEFLATE);
    /* "Hello" in a final block, then "Hello" again referring back to it. */
    static const uint8_t final_then_more[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
                                               0xf2, 0x00, 0x11, 0x00, 0x00 };
    expect_inflate(d, final_then_more, sizeof(final_then_more), "HelloHello");
    /* A final block that ends the payload needs no tail. */
    expect_inflate(d, final_then_more, 7, "Hello");
    /* The codec is usable again after an error (a fresh stream). */
    ck_assert_int_eq(wsg_deflate_inflate(d, z, zlen, &out, &outlen), WSG_OK);
    ck_assert_uint_eq(outlen, 3000);
    wsg_deflate_free(d);
    free(z);
    free(msg);
}
END_TEST

/* No zlib state until a message needs it; without takeover none is kept
 * between messages; idle drops the compressor even with takeover. */
START_TEST(test_state_is_allocated_lazily_and_dropped)
{
    uint8_t *msg = make_payload(1000, 2, true);
    struct wsg_deflate *d = codec(WSG_ROLE_SERVER, &no_takeover, 0);
    size_t bare = wsg_deflate_memory(d);
    ck_assert_uint_lt(bare, 200);
    const uint8_t *z, *out;
    size_t zlen, outlen;
    ck_assert_int_eq(wsg_deflate_compress(d, msg, 1000, &z, &zlen), WSG_OK);
    ck_assert_uint_gt(wsg_deflate_memory(d), 200 * 1024);  /* 15 bits, memLevel 8 */
    uint8_t copy[1000];
    memcpy(copy, z, zlen);
    ck_assert_int_eq(wsg_deflate_inflate(d, copy, zlen, &out, &outlen), WSG_OK);
    wsg_deflate_shrink(d);
    ck_assert_uint_le(wsg_deflate_memory(d), bare + 2 * 4096);
    wsg_deflate_idle(d);
    ck_assert_uint_eq(wsg_deflate_memory(d), bare);
    wsg_deflate_free(d);

    d = codec(WSG_ROLE_SERVER, &takeover, 0);
    ck_assert_int_eq(wsg_deflate_compress(d, msg, 1000, &z, &zlen), WSG_OK);
    memcpy(copy, z, zlen);
    ck_assert_int_eq(wsg_deflate_inflate(d, copy, zlen, &out, &outlen), WSG_OK);
    wsg_deflate_shrink(d);
    size_t kept = wsg_deflate_memory(d);
    ck_assert_uint_gt(kept, 200 * 1024);
    wsg_deflate_idle(d);                    /* the inflater stays: the peer may refer back */
    ck_assert_uint_lt(wsg_deflate_memory(d), kept - 200 * 1024);
    ck_assert_uint_gt(wsg_deflate_memory(d), 32 * 1024);
    wsg_deflate_free(d);
    free(msg);
}
END_TEST

/* memLevel and window bits set the compressor's memory, as zlib documents:
 * 2^(w+2) + 2^(m+9) bytes and a few KiB. */
START_TEST(test_window_and_mem_level_bound_the_memory)
{
    struct wsg_deflate_params p = no_takeover;
    p.server_max_window_bits = 10;
    struct wsg_deflate *d = wsg_deflate_new(WSG_ROLE_SERVER, &p, 6, 1, 0);
    const uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(wsg_deflate_compress(d, (const uint8_t *)"hello hello", 11, &z, &zlen),
                     WSG_OK);
    size_t m = wsg_deflate_memory(d);
    ck_assert_uint_lt(m, (1u << 12) + (1u << 10) + 16 * 1024);
    wsg_deflate_free(d);
}
END_TEST

START_TEST(test_bad_arguments_are_refused)
{
    struct wsg_deflate_params p = takeover;
    ck_assert_ptr_null(wsg_deflate_new(WSG_ROLE_SERVER, NULL, 6, 8, 0));
    ck_assert_ptr_null(wsg_deflate_new(WSG_ROLE_SERVER, &p, 10, 8, 0));
    ck_assert_ptr_null(wsg_deflate_new(WSG_ROLE_SERVER, &p, 6, 0, 0));
    p.server_max_window_bits = 7;
    ck_assert_ptr_null(wsg_deflate_new(WSG_ROLE_SERVER, &p, 6, 8, 0));
    p.server_max_window_bits = 15;
    p.client_max_window_bits = 16;
    ck_assert_ptr_null(wsg_deflate_new(WSG_ROLE_SERVER, &p, 6, 8, 0));
    wsg_deflate_free(NULL);
    wsg_deflate_shrink(NULL);
    wsg_deflate_idle(NULL);
    ck_assert_uint_eq(wsg_deflate_memory(NULL), 0);
}
END_TEST

Suite *
deflate_suite(void)
{
    Suite *s = suite_create("deflate");
    TCase *neg = tcase_create("negotiation");
    tcase_add_test(neg, test_plain_offer_is_accepted_with_defaults);
    tcase_add_test(neg, test_nothing_is_agreed_without_an_offer_or_when_disabled);
    tcase_add_test(neg, test_server_no_context_takeover_offered_is_agreed);
    tcase_add_test(neg, test_server_no_context_takeover_from_config_is_added);
    tcase_add_test(neg, test_client_no_context_takeover_offered_or_configured_is_agreed);
    tcase_add_test(neg, test_server_max_window_bits_is_answered_with_at_most_the_offer);
    tcase_add_test(neg, test_server_window_from_config_is_used_silently_when_not_offered);
    tcase_add_test(neg, test_client_max_window_bits_without_value_lets_config_limit_it);
    tcase_add_test(neg, test_client_max_window_bits_with_value_is_the_smaller_of_both);
    tcase_add_test(neg, test_client_that_cannot_be_limited_is_declined_when_config_limits);
    tcase_add_test(neg, test_every_parameter_together);
    tcase_add_test(neg, test_invalid_or_repeated_parameters_decline_the_offer);
    tcase_add_test(neg, test_too_many_parameters_decline_the_offer);
    tcase_add_test(neg, test_malformed_offers_are_declined_not_fatal);
    tcase_add_test(neg, test_quoted_values_are_unquoted);
    tcase_add_test(neg, test_first_acceptable_of_several_offers_is_taken);
    tcase_add_test(neg, test_offers_across_several_headers_keep_their_order);
    tcase_add_test(neg, test_whitespace_around_separators_is_allowed);
    tcase_add_test(neg, test_too_small_response_buffer_declines);
    tcase_add_test(neg, test_client_offer_says_what_the_config_asks);
    tcase_add_test(neg, test_client_accepts_an_agreeing_response);
    tcase_add_test(neg, test_client_rejects_a_response_that_does_not_agree);
    suite_add_tcase(s, neg);

    TCase *codec_tc = tcase_create("codec");
    tcase_set_timeout(codec_tc, 60);
    tcase_add_test(codec_tc, test_rfc_example_hello_compresses_and_inflates);
    tcase_add_test(codec_tc, test_rfc_example_context_takeover_inflates);
    tcase_add_test(codec_tc, test_rfc_examples_stored_and_final_blocks_inflate);
    tcase_add_test(codec_tc, test_empty_message_is_one_zero_byte);
    tcase_add_test(codec_tc, test_round_trips_at_every_size);
    tcase_add_test(codec_tc, test_round_trips_at_every_window_size);
    tcase_add_test(codec_tc, test_context_takeover_on_and_off);
    tcase_add_test(codec_tc, test_compress_once_equals_a_fresh_context);
    tcase_add_test(codec_tc, test_window_bits_8_compresses_within_256_bytes);
    tcase_add_test(codec_tc, test_reference_beyond_the_agreed_window_is_corrupt);
    tcase_add_test(codec_tc, test_bomb_stops_at_the_limit_before_the_memory_is_spent);
    tcase_add_test(codec_tc, test_limit_is_exact);
    tcase_add_test(codec_tc, test_corrupt_streams_are_bad_deflate);
    tcase_add_test(codec_tc, test_truncated_message_is_corrupt_and_streams_may_follow_a_final_block);
    tcase_add_test(codec_tc, test_state_is_allocated_lazily_and_dropped);
    tcase_add_test(codec_tc, test_window_and_mem_level_bound_the_memory);
    tcase_add_test(codec_tc, test_bad_arguments_are_refused);
    suite_add_tcase(s, codec_tc);
    return s;
}
