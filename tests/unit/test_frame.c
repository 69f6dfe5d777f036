/*
 * test_frame.c - unit tests for src/proto/frame.c (RFC 6455 section 5.2).
 *
 * Three things are pinned here: the RFC's own example frames (5.7) parse
 * and encode byte for byte; every violation is reported, and from the
 * earliest byte that proves it (a reader that gets one byte at a time must
 * not wait for a whole header to drop a bad peer); and every prefix of a
 * good header asks for exactly the bytes still missing, so a caller can
 * wait for them without parsing again on every byte.
 */
#include <stdint.h>
#include <string.h>

#include "suites.h"
#include "frame.h"
#include "mask.h"
#include "prng.h"

static const struct wsg_frame_limits server_lim = {
    .role = WSG_ROLE_SERVER, .rsv_allowed = 0, .max_frame = 0,
};
static const struct wsg_frame_limits client_lim = {
    .role = WSG_ROLE_CLIENT, .rsv_allowed = 0, .max_frame = 0,
};

/* ---- RFC 6455 5.7 example frames -------------------------------------- */

static const uint8_t rfc_hello_unmasked[] = {
    0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t rfc_hello_masked[] = {
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
};
static const uint8_t rfc_hel_first_fragment[] = {
    0x01, 0x03, 0x48, 0x65, 0x6c,
};
static const uint8_t rfc_lo_last_fragment[] = {
    0x80, 0x02, 0x6c, 0x6f,
};
static const uint8_t rfc_ping_unmasked[] = {
    0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t rfc_pong_masked[] = {
    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
};
/* Headers only: the payloads (256 and 65536 bytes) are arbitrary. */
static const uint8_t rfc_binary_256_header[] = {
    0x82, 0x7E, 0x01, 0x00,
};
static const uint8_t rfc_binary_64k_header[] = {
    0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
};

static const uint8_t rfc_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ---- helpers ---------------------------------------------------------- */

static struct wsg_frame_limits
limits(enum wsg_role role, uint8_t rsv_allowed, uint64_t max_frame)
{
    struct wsg_frame_limits lim = {
        .role = role, .rsv_allowed = rsv_allowed, .max_frame = max_frame,
    };
    return lim;
}

static struct wsg_frame_header
parse_ok(const uint8_t *buf, size_t len, const struct wsg_frame_limits *lim)
{
    struct wsg_frame_header h;
    size_t need = 12345;

    memset(&h, 0xAA, sizeof h);
    enum wsg_err err = wsg_frame_parse_header(buf, len, lim, &h, &need);
    ck_assert_int_eq(err, WSG_OK);
    return h;
}

/* What the parser should ask for after seeing `have` bytes of a header of
 * header_len bytes: two bytes before it knows the size, then the rest. */
static size_t
expected_need(size_t have, size_t header_len)
{
    return have < 2 ? 2 - have : header_len - have;
}

/* Every proper prefix of a good header is INCOMPLETE with the exact need;
 * the whole header parses. */
static void
assert_every_prefix_incomplete(const uint8_t *buf, size_t header_len,
                               const struct wsg_frame_limits *lim)
{
    for (size_t have = 0; have < header_len; have++) {
        struct wsg_frame_header h;
        size_t need = 0;
        enum wsg_err err = wsg_frame_parse_header(buf, have, lim, &h, &need);
        ck_assert_msg(err == WSG_ERR_INCOMPLETE,
                      "prefix %zu of %zu: got %d", have, header_len, err);
        ck_assert_uint_eq(need, expected_need(have, header_len));
        /* need may be NULL */
        ck_assert_int_eq(wsg_frame_parse_header(buf, have, lim, &h, NULL),
                         WSG_ERR_INCOMPLETE);
    }
    struct wsg_frame_header h = parse_ok(buf, header_len, lim);
    ck_assert_uint_eq(h.header_len, header_len);
}

/* The header in buf (len bytes) is bad: prefixes shorter than `first` are
 * INCOMPLETE, every prefix from `first` bytes on reports `expected`. */
static void
assert_error_from_byte(const uint8_t *buf, size_t len,
                       const struct wsg_frame_limits *lim,
                       enum wsg_err expected, size_t first)
{
    for (size_t have = 0; have <= len; have++) {
        struct wsg_frame_header h;
        size_t need = 0;
        enum wsg_err err = wsg_frame_parse_header(buf, have, lim, &h, &need);
        if (have < first) {
            ck_assert_msg(err == WSG_ERR_INCOMPLETE,
                          "%zu bytes: expected INCOMPLETE, got %d", have, err);
            ck_assert_uint_ge(need, 1);
        } else {
            ck_assert_msg(err == expected, "%zu bytes: expected %d, got %d",
                          have, expected, err);
        }
    }
}

static size_t
build_header(uint8_t *out, bool fin, uint8_t opcode, uint64_t plen,
             bool masked)
{
    struct wsg_frame_header h = {
        .fin = fin, .opcode = opcode, .masked = masked,
        .mask_key = { 1, 2, 3, 4 }, .payload_len = plen,
    };
    size_t n = wsg_frame_write_header(out, WSG_FRAME_MAX_HEADER, &h);
    ck_assert_uint_gt(n, 0);
    return n;
}

/* ---- 5.7: the RFC examples parse ------------------------------------- */

/* 5.7: "A single-frame unmasked text message" */
START_TEST(test_rfc_unmasked_hello_parses)
{
    struct wsg_frame_header h =
        parse_ok(rfc_hello_unmasked, sizeof rfc_hello_unmasked, &client_lim);
    ck_assert(h.fin);
    ck_assert_uint_eq(h.rsv, 0);
    ck_assert_uint_eq(h.opcode, WSG_OP_TEXT);
    ck_assert(!h.masked);
    ck_assert_uint_eq(h.payload_len, 5);
    ck_assert_uint_eq(h.header_len, 2);
    ck_assert_mem_eq(rfc_hello_unmasked + h.header_len, "Hello", 5);
}
END_TEST

/* 5.7: "A single-frame masked text message" */
START_TEST(test_rfc_masked_hello_parses_and_unmasks)
{
    struct wsg_frame_header h =
        parse_ok(rfc_hello_masked, sizeof rfc_hello_masked, &server_lim);
    uint8_t payload[5];

    ck_assert(h.fin);
    ck_assert_uint_eq(h.opcode, WSG_OP_TEXT);
    ck_assert(h.masked);
    ck_assert_mem_eq(h.mask_key, rfc_key, 4);
    ck_assert_uint_eq(h.payload_len, 5);
    ck_assert_uint_eq(h.header_len, 6);
    wsg_mask_copy(payload, rfc_hello_masked + h.header_len, 5, h.mask_key, 0);
    ck_assert_mem_eq(payload, "Hello", 5);
}
END_TEST

/* 5.7: "A fragmented unmasked text message" */
START_TEST(test_rfc_fragmented_hello_parses)
{
    struct wsg_frame_header h = parse_ok(rfc_hel_first_fragment,
                                         sizeof rfc_hel_first_fragment,
                                         &client_lim);
    ck_assert(!h.fin);
    ck_assert_uint_eq(h.opcode, WSG_OP_TEXT);
    ck_assert_uint_eq(h.payload_len, 3);
    ck_assert_mem_eq(rfc_hel_first_fragment + h.header_len, "Hel", 3);

    h = parse_ok(rfc_lo_last_fragment, sizeof rfc_lo_last_fragment,
                 &client_lim);
    ck_assert(h.fin);
    ck_assert_uint_eq(h.opcode, WSG_OP_CONTINUATION);
    ck_assert_uint_eq(h.payload_len, 2);
    ck_assert_mem_eq(rfc_lo_last_fragment + h.header_len, "lo", 2);
}
END_TEST

/* 5.7: "Unmasked Ping request and masked Ping response" */
START_TEST(test_rfc_ping_and_masked_pong_parse)
{
    struct wsg_frame_header h =
        parse_ok(rfc_ping_unmasked, sizeof rfc_ping_unmasked, &client_lim);
    ck_assert(h.fin);
    ck_assert_uint_eq(h.opcode, WSG_OP_PING);
    ck_assert_uint_eq(h.payload_len, 5);

    h = parse_ok(rfc_pong_masked, sizeof rfc_pong_masked, &server_lim);
    ck_assert(h.fin);
    ck_assert_uint_eq(h.opcode, WSG_OP_PONG);
    ck_assert(h.masked);
    ck_assert_mem_eq(h.mask_key, rfc_key, 4);
    ck_assert_uint_eq(h.payload_len, 5);
}
END_TEST

/* 5.7: "256 bytes binary message in a single unmasked frame" */
START_TEST(test_rfc_binary_256_uses_16bit_length)
{
    struct wsg_frame_header h = parse_ok(rfc_binary_256_header,
                                         sizeof rfc_binary_256_header,
                                         &client_lim);
    ck_assert_uint_eq(h.opcode, WSG_OP_BINARY);
    ck_assert_uint_eq(h.payload_len, 256);
    ck_assert_uint_eq(h.header_len, 4);
}
END_TEST

/* 5.7: "64KiB binary message in a single unmasked frame" */
START_TEST(test_rfc_binary_64k_uses_64bit_length)
{
    struct wsg_frame_header h = parse_ok(rfc_binary_64k_header,
                                         sizeof rfc_binary_64k_header,
                                         &client_lim);
    ck_assert_uint_eq(h.opcode, WSG_OP_BINARY);
    ck_assert_uint_eq(h.payload_len, 65536);
    ck_assert_uint_eq(h.header_len, 10);
}
END_TEST

/* The parser reads the header only: payload after it changes nothing. */
START_TEST(test_bytes_after_header_are_ignored)
{
    uint8_t buf[64];

    memcpy(buf, rfc_binary_256_header, sizeof rfc_binary_256_header);
    memset(buf + 4, 0xFF, sizeof buf - 4);
    struct wsg_frame_header h = parse_ok(buf, sizeof buf, &client_lim);
    ck_assert_uint_eq(h.payload_len, 256);
    ck_assert_uint_eq(h.header_len, 4);
}
END_TEST

/* ---- split input: every prefix of every example ---------------------- */

START_TEST(test_rfc_example_prefixes_ask_for_exact_need)
{
    assert_every_prefix_incomplete(rfc_hello_unmasked, 2, &client_lim);
    assert_every_prefix_incomplete(rfc_hello_masked, 6, &server_lim);
    assert_every_prefix_incomplete(rfc_hel_first_fragment, 2, &client_lim);
    assert_every_prefix_incomplete(rfc_lo_last_fragment, 2, &client_lim);
    assert_every_prefix_incomplete(rfc_ping_unmasked, 2, &client_lim);
    assert_every_prefix_incomplete(rfc_pong_masked, 6, &server_lim);
    assert_every_prefix_incomplete(rfc_binary_256_header, 4, &client_lim);
    assert_every_prefix_incomplete(rfc_binary_64k_header, 10, &client_lim);
}
END_TEST

/* The largest header: 64-bit length and a mask key, 2 + 8 + 4 bytes. */
START_TEST(test_masked_64bit_header_prefixes_ask_for_exact_need)
{
    uint8_t buf[WSG_FRAME_MAX_HEADER];
    size_t n = build_header(buf, true, WSG_OP_BINARY, 65536, true);
    size_t need = 0;
    struct wsg_frame_header h;

    ck_assert_uint_eq(n, WSG_FRAME_MAX_HEADER);
    assert_every_prefix_incomplete(buf, n, &server_lim);
    /* The example from the header comment: two bytes in, marker 127 and
     * the mask bit seen, so 8 length bytes and 4 key bytes are missing. */
    ck_assert_int_eq(wsg_frame_parse_header(buf, 2, &server_lim, &h, &need),
                     WSG_ERR_INCOMPLETE);
    ck_assert_uint_eq(need, 12);
}
END_TEST

START_TEST(test_masked_16bit_header_prefixes_ask_for_exact_need)
{
    uint8_t buf[WSG_FRAME_MAX_HEADER];
    size_t n = build_header(buf, true, WSG_OP_TEXT, 300, true);

    ck_assert_uint_eq(n, 8);
    assert_every_prefix_incomplete(buf, n, &server_lim);
}
END_TEST

/* ---- 5.2: RSV bits ---------------------------------------------------- */

/* 5.2: "MUST be 0 unless an extension is negotiated that defines
 * meanings for non-zero values" - known from the first byte. */
START_TEST(test_rsv_bits_without_extension_are_rejected)
{
    static const uint8_t rsv_bits[] = { 0x40, 0x20, 0x10, 0x70 };

    for (size_t i = 0; i < sizeof rsv_bits; i++) {
        uint8_t buf[] = { (uint8_t)(0x81 | rsv_bits[i]), 0x85, 1, 2, 3, 4 };
        assert_error_from_byte(buf, sizeof buf, &server_lim,
                               WSG_ERR_RSV_BITS, 1);
    }
}
END_TEST

START_TEST(test_rsv1_is_accepted_when_negotiated)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, WSG_RSV1, 0);
    uint8_t buf[] = { 0xC1, 0x85, 1, 2, 3, 4 };
    struct wsg_frame_header h = parse_ok(buf, sizeof buf, &lim);

    ck_assert_uint_eq(h.rsv, WSG_RSV1);
    ck_assert_uint_eq(h.opcode, WSG_OP_TEXT);
}
END_TEST

START_TEST(test_rsv2_and_rsv3_are_rejected_when_only_rsv1_negotiated)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, WSG_RSV1, 0);
    uint8_t rsv2[] = { 0xA1, 0x85, 1, 2, 3, 4 };
    uint8_t rsv3[] = { 0x91, 0x85, 1, 2, 3, 4 };

    assert_error_from_byte(rsv2, sizeof rsv2, &lim, WSG_ERR_RSV_BITS, 1);
    assert_error_from_byte(rsv3, sizeof rsv3, &lim, WSG_ERR_RSV_BITS, 1);
}
END_TEST

START_TEST(test_all_rsv_bits_are_reported_in_header)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, 0x7, 0);
    uint8_t buf[] = { 0xF2, 0x80, 1, 2, 3, 4 };
    struct wsg_frame_header h = parse_ok(buf, sizeof buf, &lim);

    ck_assert_uint_eq(h.rsv, WSG_RSV1 | WSG_RSV2 | WSG_RSV3);
    ck_assert_uint_eq(h.opcode, WSG_OP_BINARY);
}
END_TEST

/* ---- 5.2: opcodes ----------------------------------------------------- */

/* 5.2: %x3-7 are reserved for further non-control frames. */
START_TEST(test_reserved_data_opcodes_are_rejected)
{
    for (uint8_t op = 0x3; op <= 0x7; op++) {
        uint8_t buf[] = { (uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4 };
        assert_error_from_byte(buf, sizeof buf, &server_lim,
                               WSG_ERR_BAD_OPCODE, 1);
    }
}
END_TEST

/* 5.2: %xB-F are reserved for further control frames. */
START_TEST(test_reserved_control_opcodes_are_rejected)
{
    for (uint8_t op = 0xB; op <= 0xF; op++) {
        uint8_t buf[] = { (uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4 };
        assert_error_from_byte(buf, sizeof buf, &server_lim,
                               WSG_ERR_BAD_OPCODE, 1);
    }
}
END_TEST

START_TEST(test_every_defined_opcode_is_accepted)
{
    static const uint8_t ops[] = {
        WSG_OP_CONTINUATION, WSG_OP_TEXT, WSG_OP_BINARY,
        WSG_OP_CLOSE, WSG_OP_PING, WSG_OP_PONG,
    };

    for (size_t i = 0; i < sizeof ops; i++) {
        uint8_t buf[] = { (uint8_t)(0x80 | ops[i]), 0x80, 1, 2, 3, 4 };
        struct wsg_frame_header h = parse_ok(buf, sizeof buf, &server_lim);
        ck_assert_uint_eq(h.opcode, ops[i]);
    }
}
END_TEST

/* Order within byte 0: RSV, then opcode, then control FIN. */
START_TEST(test_rsv_is_reported_before_bad_opcode)
{
    uint8_t buf[] = { 0xC3, 0x80 };

    assert_error_from_byte(buf, sizeof buf, &server_lim, WSG_ERR_RSV_BITS, 1);
}
END_TEST

START_TEST(test_bad_opcode_is_reported_before_control_fragmented)
{
    /* 0xB is a reserved control opcode, and FIN is clear. */
    uint8_t buf[] = { 0x0B, 0x80 };

    assert_error_from_byte(buf, sizeof buf, &server_lim,
                           WSG_ERR_BAD_OPCODE, 1);
}
END_TEST

/* ---- 5.5: control frames ---------------------------------------------- */

/* 5.5: "Control frames themselves MUST NOT be fragmented." */
START_TEST(test_control_frame_without_fin_is_rejected)
{
    static const uint8_t ops[] = { WSG_OP_CLOSE, WSG_OP_PING, WSG_OP_PONG };

    for (size_t i = 0; i < sizeof ops; i++) {
        uint8_t buf[] = { ops[i], 0x80, 1, 2, 3, 4 };
        assert_error_from_byte(buf, sizeof buf, &server_lim,
                               WSG_ERR_CONTROL_FRAGMENTED, 1);
    }
}
END_TEST

START_TEST(test_data_frame_without_fin_is_accepted)
{
    uint8_t buf[] = { 0x02, 0x80, 1, 2, 3, 4 };
    struct wsg_frame_header h = parse_ok(buf, sizeof buf, &server_lim);

    ck_assert(!h.fin);
}
END_TEST

/* 5.5: "All control frames MUST have a payload length of 125 bytes or
 * less" - so the 16- and 64-bit markers are wrong on sight. */
START_TEST(test_control_frame_over_125_is_rejected)
{
    static const uint8_t ops[] = { WSG_OP_CLOSE, WSG_OP_PING, WSG_OP_PONG };
    static const uint8_t markers[] = { 126, 127 };

    for (size_t i = 0; i < sizeof ops; i++) {
        for (size_t j = 0; j < sizeof markers; j++) {
            uint8_t buf[WSG_FRAME_MAX_HEADER] = {
                (uint8_t)(0x80 | ops[i]), (uint8_t)(0x80 | markers[j]),
            };
            /* A well-formed extended length does not make it right. */
            buf[2 + (markers[j] == 126 ? 0 : 6)] = 0x01;
            assert_error_from_byte(buf, sizeof buf, &server_lim,
                                   WSG_ERR_CONTROL_TOO_LONG, 2);
        }
    }
}
END_TEST

START_TEST(test_control_frame_of_125_is_accepted)
{
    uint8_t buf[] = { 0x89, 0x80 | 125, 1, 2, 3, 4 };
    struct wsg_frame_header h = parse_ok(buf, sizeof buf, &server_lim);

    ck_assert_uint_eq(h.payload_len, 125);
}
END_TEST

/* ---- 5.1, 5.3: masking and role --------------------------------------- */

/* 5.1: "a client MUST mask all frames that it sends to the server" */
START_TEST(test_unmasked_frame_to_server_is_rejected)
{
    uint8_t buf[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };

    assert_error_from_byte(buf, sizeof buf, &server_lim,
                           WSG_ERR_UNMASKED_FRAME, 2);
}
END_TEST

/* 5.1: "A server MUST NOT mask any frames that it sends to the client" */
START_TEST(test_masked_frame_to_client_is_rejected)
{
    assert_error_from_byte(rfc_hello_masked, sizeof rfc_hello_masked,
                           &client_lim, WSG_ERR_MASKED_FRAME, 2);
}
END_TEST

/* Order within byte 1: the mask bit, then the control length. */
START_TEST(test_mask_error_is_reported_before_control_too_long)
{
    uint8_t unmasked[] = { 0x89, 0x7E, 0x01, 0x00 };
    uint8_t masked[] = { 0x89, 0xFE, 0x01, 0x00, 1, 2, 3, 4 };

    assert_error_from_byte(unmasked, sizeof unmasked, &server_lim,
                           WSG_ERR_UNMASKED_FRAME, 2);
    assert_error_from_byte(masked, sizeof masked, &client_lim,
                           WSG_ERR_MASKED_FRAME, 2);
}
END_TEST

/* Byte 0 errors win over byte 1 errors: they are seen first. */
START_TEST(test_byte0_error_is_reported_before_mask_error)
{
    uint8_t buf[] = { 0x83, 0x05 };

    assert_error_from_byte(buf, sizeof buf, &server_lim,
                           WSG_ERR_BAD_OPCODE, 1);
}
END_TEST

/* ---- 5.2: payload length encodings ------------------------------------ */

/* 5.2: "the most significant bit MUST be 0" - visible in the first
 * length byte, long before the mask key. */
START_TEST(test_64bit_length_with_msb_set_is_rejected)
{
    uint8_t buf[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };

    assert_error_from_byte(buf, sizeof buf, &server_lim,
                           WSG_ERR_BAD_LENGTH, 3);
    buf[2] = 0xFF;
    memset(buf + 3, 0xFF, 7);
    assert_error_from_byte(buf, sizeof buf, &server_lim,
                           WSG_ERR_BAD_LENGTH, 3);
}
END_TEST

START_TEST(test_bad_length_is_reported_before_frame_too_big)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, 0, 1000);
    uint8_t buf[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };

    assert_error_from_byte(buf, sizeof buf, &lim, WSG_ERR_BAD_LENGTH, 3);
}
END_TEST

/* 5.2: "the minimal number of bytes MUST be used to encode the length" */
START_TEST(test_16bit_length_below_126_is_rejected)
{
    static const uint16_t lens[] = { 0, 1, 5, 125 };

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t buf[] = { 0x82, 0xFE, (uint8_t)(lens[i] >> 8),
                          (uint8_t)lens[i], 1, 2, 3, 4 };
        /* The high byte alone proves nothing: 126..255 are valid. */
        assert_error_from_byte(buf, sizeof buf, &server_lim,
                               WSG_ERR_NON_MINIMAL_LENGTH, 4);
    }
}
END_TEST

START_TEST(test_64bit_length_below_65536_is_rejected)
{
    static const uint64_t lens[] = { 0, 5, 125, 126, 256, 65535 };

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t buf[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 0,
                          (uint8_t)(lens[i] >> 8), (uint8_t)lens[i],
                          1, 2, 3, 4 };
        /* Six zero high bytes already put it below 65536. */
        assert_error_from_byte(buf, sizeof buf, &server_lim,
                               WSG_ERR_NON_MINIMAL_LENGTH, 8);
    }
}
END_TEST

START_TEST(test_non_minimal_is_reported_before_frame_too_big)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, 0, 10);
    uint8_t len16[] = { 0x82, 0xFE, 0x00, 0x7D, 1, 2, 3, 4 };
    uint8_t len64[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF,
                        1, 2, 3, 4 };

    assert_error_from_byte(len16, sizeof len16, &lim,
                           WSG_ERR_NON_MINIMAL_LENGTH, 4);
    assert_error_from_byte(len64, sizeof len64, &lim,
                           WSG_ERR_NON_MINIMAL_LENGTH, 8);
}
END_TEST

/* Each boundary of the three encodings (5.2) parses to its length, with
 * the header size header_size predicts, in both roles. */
START_TEST(test_length_encoding_boundaries_parse)
{
    static const struct {
        uint64_t len;
        size_t ext;          /* extended length bytes */
    } cases[] = {
        { 0, 0 }, { 1, 0 }, { 125, 0 },
        { 126, 2 }, { 127, 2 }, { 255, 2 }, { 256, 2 }, { 65535, 2 },
        { 65536, 8 }, { 65537, 8 }, { UINT64_C(0xFFFFFFFF), 8 },
        { UINT64_C(0x100000000), 8 }, { UINT64_C(0x7FFFFFFFFFFFFFFF), 8 },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int masked = 0; masked <= 1; masked++) {
            uint8_t buf[WSG_FRAME_MAX_HEADER];
            size_t n = build_header(buf, true, WSG_OP_BINARY, cases[i].len,
                                    masked);
            size_t want = 2 + cases[i].ext + (masked ? 4 : 0);
            const struct wsg_frame_limits *lim =
                masked ? &server_lim : &client_lim;

            ck_assert_uint_eq(n, want);
            ck_assert_uint_eq(wsg_frame_header_size(cases[i].len, masked),
                              want);
            struct wsg_frame_header h = parse_ok(buf, n, lim);
            ck_assert_uint_eq(h.payload_len, cases[i].len);
            ck_assert_uint_eq(h.header_len, want);
            assert_every_prefix_incomplete(buf, n, lim);
        }
    }
}
END_TEST

START_TEST(test_length_markers_are_written_as_rfc_specifies)
{
    uint8_t buf[WSG_FRAME_MAX_HEADER];

    build_header(buf, true, WSG_OP_BINARY, 125, false);
    ck_assert_uint_eq(buf[1], 125);
    build_header(buf, true, WSG_OP_BINARY, 126, false);
    ck_assert_uint_eq(buf[1], 126);
    ck_assert_uint_eq(buf[2], 0x00);
    ck_assert_uint_eq(buf[3], 0x7E);
    build_header(buf, true, WSG_OP_BINARY, 65535, false);
    ck_assert_uint_eq(buf[1], 126);
    ck_assert_uint_eq(buf[2], 0xFF);
    ck_assert_uint_eq(buf[3], 0xFF);
    build_header(buf, true, WSG_OP_BINARY, UINT64_C(0x0102030405060708),
                 false);
    static const uint8_t be[] = { 127, 1, 2, 3, 4, 5, 6, 7, 8 };
    ck_assert_mem_eq(buf + 1, be, sizeof be);
}
END_TEST

/* ---- max_frame ------------------------------------------------------- */

START_TEST(test_frame_over_max_frame_is_rejected)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, 0, 100);
    uint8_t len7[] = { 0x82, 0x80 | 101, 1, 2, 3, 4 };
    uint8_t len16[] = { 0x82, 0xFE, 0x00, 0xFF, 1, 2, 3, 4 };

    /* The 7-bit length is complete after byte 2. */
    assert_error_from_byte(len7, sizeof len7, &lim,
                           WSG_ERR_FRAME_TOO_BIG, 2);
    /* High byte 0 could still be 126..255 or not: need both bytes. */
    assert_error_from_byte(len16, sizeof len16, &lim,
                           WSG_ERR_FRAME_TOO_BIG, 4);
}
END_TEST

START_TEST(test_frame_at_max_frame_is_accepted)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, 0, 1000);
    uint8_t buf[WSG_FRAME_MAX_HEADER];
    size_t n = build_header(buf, true, WSG_OP_BINARY, 1000, true);
    struct wsg_frame_header h = parse_ok(buf, n, &lim);

    ck_assert_uint_eq(h.payload_len, 1000);
    n = build_header(buf, true, WSG_OP_BINARY, 1001, true);
    assert_error_from_byte(buf, n, &lim, WSG_ERR_FRAME_TOO_BIG, 4);
}
END_TEST

/* A length whose leading bytes already exceed the limit is refused from
 * the byte that proves it, not after all eight. */
START_TEST(test_frame_too_big_is_reported_from_first_proving_byte)
{
    struct wsg_frame_limits lim16 = limits(WSG_ROLE_SERVER, 0, 1000);
    uint8_t len16[] = { 0x82, 0xFE, 0x04, 0x00, 1, 2, 3, 4 };   /* 1024 */
    struct wsg_frame_limits lim64 = limits(WSG_ROLE_SERVER, 0, 1 << 20);
    uint8_t len64[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 0x20, 0, 0,
                        1, 2, 3, 4 };                            /* 2 MiB */
    uint8_t huge[] = { 0x82, 0xFF, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };

    assert_error_from_byte(len16, sizeof len16, &lim16,
                           WSG_ERR_FRAME_TOO_BIG, 3);
    assert_error_from_byte(len64, sizeof len64, &lim64,
                           WSG_ERR_FRAME_TOO_BIG, 8);
    assert_error_from_byte(huge, sizeof huge, &lim64,
                           WSG_ERR_FRAME_TOO_BIG, 3);
}
END_TEST

START_TEST(test_max_frame_zero_means_no_limit)
{
    uint8_t buf[WSG_FRAME_MAX_HEADER];
    size_t n = build_header(buf, true, WSG_OP_BINARY,
                            UINT64_C(0x7FFFFFFFFFFFFFFF), true);
    struct wsg_frame_header h = parse_ok(buf, n, &server_lim);

    ck_assert_uint_eq(h.payload_len, UINT64_C(0x7FFFFFFFFFFFFFFF));
}
END_TEST

/* The limit applies to control frames too. */
START_TEST(test_control_frame_over_max_frame_is_rejected)
{
    struct wsg_frame_limits lim = limits(WSG_ROLE_SERVER, 0, 10);
    uint8_t buf[] = { 0x89, 0x80 | 11, 1, 2, 3, 4 };

    assert_error_from_byte(buf, sizeof buf, &lim, WSG_ERR_FRAME_TOO_BIG, 2);
}
END_TEST

/* ---- encoding --------------------------------------------------------- */

START_TEST(test_encode_reproduces_rfc_examples)
{
    uint8_t out[32];
    size_t written = 0;
    struct wsg_frame_header h = {
        .fin = true, .opcode = WSG_OP_TEXT, .payload_len = 5,
    };

    ck_assert_int_eq(wsg_frame_encode(out, sizeof out, &h,
                                      (const uint8_t *)"Hello", 5, &written),
                     WSG_OK);
    ck_assert_uint_eq(written, sizeof rfc_hello_unmasked);
    ck_assert_mem_eq(out, rfc_hello_unmasked, written);

    h.masked = true;
    memcpy(h.mask_key, rfc_key, 4);
    ck_assert_int_eq(wsg_frame_encode(out, sizeof out, &h,
                                      (const uint8_t *)"Hello", 5, &written),
                     WSG_OK);
    ck_assert_uint_eq(written, sizeof rfc_hello_masked);
    ck_assert_mem_eq(out, rfc_hello_masked, written);

    h.opcode = WSG_OP_PONG;
    ck_assert_int_eq(wsg_frame_encode(out, sizeof out, &h,
                                      (const uint8_t *)"Hello", 5, &written),
                     WSG_OK);
    ck_assert_mem_eq(out, rfc_pong_masked, written);

    struct wsg_frame_header first = {
        .fin = false, .opcode = WSG_OP_TEXT, .payload_len = 3,
    };
    ck_assert_int_eq(wsg_frame_encode(out, sizeof out, &first,
                                      (const uint8_t *)"Hel", 3, &written),
                     WSG_OK);
    ck_assert_mem_eq(out, rfc_hel_first_fragment, written);

    struct wsg_frame_header last = {
        .fin = true, .opcode = WSG_OP_CONTINUATION, .payload_len = 2,
    };
    ck_assert_int_eq(wsg_frame_encode(out, sizeof out, &last,
                                      (const uint8_t *)"lo", 2, &written),
                     WSG_OK);
    ck_assert_mem_eq(out, rfc_lo_last_fragment, written);
}
END_TEST

START_TEST(test_write_header_reproduces_rfc_binary_examples)
{
    uint8_t out[WSG_FRAME_MAX_HEADER];
    struct wsg_frame_header h = {
        .fin = true, .opcode = WSG_OP_BINARY, .payload_len = 256,
    };

    ck_assert_uint_eq(wsg_frame_write_header(out, sizeof out, &h), 4);
    ck_assert_mem_eq(out, rfc_binary_256_header, 4);
    h.payload_len = 65536;
    ck_assert_uint_eq(wsg_frame_write_header(out, sizeof out, &h), 10);
    ck_assert_mem_eq(out, rfc_binary_64k_header, 10);
}
END_TEST

/* Every field survives write then parse: FIN, each RSV bit, each opcode,
 * mask and key, and each length form. */
START_TEST(test_write_then_parse_round_trips)
{
    static const uint8_t ops[] = {
        WSG_OP_CONTINUATION, WSG_OP_TEXT, WSG_OP_BINARY,
        WSG_OP_CLOSE, WSG_OP_PING, WSG_OP_PONG,
    };
    static const uint64_t lens[] = {
        0, 7, 125, 126, 65535, 65536, UINT64_C(1) << 40,
    };

    for (size_t o = 0; o < sizeof ops; o++)
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
    for (uint8_t rsv = 0; rsv <= 7; rsv++)
    for (int fin = 0; fin <= 1; fin++)
    for (int masked = 0; masked <= 1; masked++) {
        bool control = wsg_opcode_is_control(ops[o]);
        if (control && (!fin || lens[l] > WSG_CONTROL_MAX_PAYLOAD))
            continue;
        struct wsg_frame_header in = {
            .fin = fin, .rsv = rsv, .opcode = ops[o], .masked = masked,
            .mask_key = { 0xDE, 0xAD, (uint8_t)o, (uint8_t)l },
            .payload_len = lens[l],
        };
        struct wsg_frame_limits lim = limits(
            masked ? WSG_ROLE_SERVER : WSG_ROLE_CLIENT, 0x7, 0);
        uint8_t buf[WSG_FRAME_MAX_HEADER];
        size_t n = wsg_frame_write_header(buf, sizeof buf, &in);

        ck_assert_uint_eq(n, wsg_frame_header_size(lens[l], masked));
        struct wsg_frame_header out = parse_ok(buf, n, &lim);
        ck_assert_int_eq(out.fin, in.fin);
        ck_assert_uint_eq(out.rsv, in.rsv);
        ck_assert_uint_eq(out.opcode, in.opcode);
        ck_assert_int_eq(out.masked, in.masked);
        if (masked)
            ck_assert_mem_eq(out.mask_key, in.mask_key, 4);
        ck_assert_uint_eq(out.payload_len, in.payload_len);
        ck_assert_uint_eq(out.header_len, n);
    }
}
END_TEST

START_TEST(test_encode_then_parse_and_unmask_round_trips)
{
    static const size_t lens[] = { 0, 1, 3, 125, 126, 1000, 65535, 65536 };
    static uint8_t payload[65536], frame[65536 + WSG_FRAME_MAX_HEADER];
    static uint8_t back[65536];

    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        struct wsg_frame_header in = {
            .fin = true, .opcode = WSG_OP_BINARY, .masked = true,
            .mask_key = { 0x11, 0x22, 0x33, (uint8_t)i },
            .payload_len = lens[i],
        };
        size_t written = 0;

        ck_assert_int_eq(wsg_frame_encode(frame, sizeof frame, &in, payload,
                                          lens[i], &written), WSG_OK);
        ck_assert_uint_eq(written,
                          wsg_frame_header_size(lens[i], true) + lens[i]);
        struct wsg_frame_header h = parse_ok(frame, written, &server_lim);
        ck_assert_uint_eq(h.payload_len, lens[i]);
        ck_assert_uint_eq(h.header_len + lens[i], written);
        wsg_mask_copy(back, frame + h.header_len, lens[i], h.mask_key, 0);
        if (lens[i] > 0)
            ck_assert_mem_eq(back, payload, lens[i]);
    }
}
END_TEST

START_TEST(test_header_size_matches_each_length_form)
{
    ck_assert_uint_eq(wsg_frame_header_size(0, false), 2);
    ck_assert_uint_eq(wsg_frame_header_size(125, false), 2);
    ck_assert_uint_eq(wsg_frame_header_size(126, false), 4);
    ck_assert_uint_eq(wsg_frame_header_size(65535, false), 4);
    ck_assert_uint_eq(wsg_frame_header_size(65536, false), 10);
    ck_assert_uint_eq(wsg_frame_header_size(UINT64_MAX >> 1, false), 10);
    ck_assert_uint_eq(wsg_frame_header_size(0, true), 6);
    ck_assert_uint_eq(wsg_frame_header_size(125, true), 6);
    ck_assert_uint_eq(wsg_frame_header_size(126, true), 8);
    ck_assert_uint_eq(wsg_frame_header_size(65535, true), 8);
    ck_assert_uint_eq(wsg_frame_header_size(65536, true), 14);
}
END_TEST

/* A short buffer is refused whole: nothing is written past cap, and
 * nothing at all is written (a half header would be worse than none). */
START_TEST(test_write_header_with_too_small_cap_returns_zero)
{
    static const uint64_t lens[] = { 0, 125, 126, 65535, 65536 };

    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        for (int masked = 0; masked <= 1; masked++) {
            struct wsg_frame_header h = {
                .fin = true, .opcode = WSG_OP_BINARY, .masked = masked,
                .mask_key = { 1, 2, 3, 4 }, .payload_len = lens[l],
            };
            size_t size = wsg_frame_header_size(lens[l], masked);
            uint8_t out[WSG_FRAME_MAX_HEADER + 1];

            for (size_t cap = 0; cap < size; cap++) {
                memset(out, 0xEE, sizeof out);
                ck_assert_uint_eq(wsg_frame_write_header(out, cap, &h), 0);
                for (size_t k = 0; k < sizeof out; k++)
                    ck_assert_uint_eq(out[k], 0xEE);
            }
            ck_assert_uint_eq(wsg_frame_write_header(out, size, &h), size);
        }
    }
}
END_TEST

START_TEST(test_write_header_refuses_unencodable_fields)
{
    uint8_t out[WSG_FRAME_MAX_HEADER];
    struct wsg_frame_header h = {
        .fin = true, .opcode = WSG_OP_BINARY,
        .payload_len = UINT64_C(1) << 63,
    };

    ck_assert_uint_eq(wsg_frame_write_header(out, sizeof out, &h), 0);
    h.payload_len = 0;
    h.opcode = 0x10;
    ck_assert_uint_eq(wsg_frame_write_header(out, sizeof out, &h), 0);
    h.opcode = WSG_OP_BINARY;
    h.rsv = 0x8;
    ck_assert_uint_eq(wsg_frame_write_header(out, sizeof out, &h), 0);
}
END_TEST

START_TEST(test_encode_into_too_small_buffer_is_refused)
{
    uint8_t out[16];
    size_t written = 99;
    struct wsg_frame_header h = {
        .fin = true, .opcode = WSG_OP_TEXT, .masked = true,
        .mask_key = { 1, 2, 3, 4 }, .payload_len = 5,
    };

    /* Room for the header but not the whole payload. */
    ck_assert_int_eq(wsg_frame_encode(out, 10, &h, (const uint8_t *)"Hello",
                                      5, &written), WSG_ERR_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(written, 0);
    ck_assert_int_eq(wsg_frame_encode(out, 5, &h, (const uint8_t *)"Hello",
                                      5, &written), WSG_ERR_BUFFER_TOO_SMALL);
    ck_assert_int_eq(wsg_frame_encode(out, 11, &h, (const uint8_t *)"Hello",
                                      5, &written), WSG_OK);
    ck_assert_uint_eq(written, 11);
}
END_TEST

START_TEST(test_encode_with_mismatched_payload_len_is_refused)
{
    uint8_t out[32];
    size_t written = 99;
    struct wsg_frame_header h = {
        .fin = true, .opcode = WSG_OP_TEXT, .payload_len = 4,
    };

    ck_assert_int_eq(wsg_frame_encode(out, sizeof out, &h,
                                      (const uint8_t *)"Hello", 5, &written),
                     WSG_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(written, 0);
}
END_TEST

START_TEST(test_encode_empty_payload_writes_header_only)
{
    uint8_t out[WSG_FRAME_MAX_HEADER];
    size_t written = 0;
    struct wsg_frame_header h = {
        .fin = true, .opcode = WSG_OP_CLOSE, .masked = true,
        .mask_key = { 1, 2, 3, 4 },
    };

    ck_assert_int_eq(wsg_frame_encode(out, 6, &h, NULL, 0, &written), WSG_OK);
    ck_assert_uint_eq(written, 6);
    static const uint8_t want[] = { 0x88, 0x80, 1, 2, 3, 4 };
    ck_assert_mem_eq(out, want, sizeof want);
}
END_TEST

/* ---- properties over random headers ----------------------------------- */

/* Mostly plausible headers, so that every check and every length form is
 * reached, with random bytes mixed in. */
static void
random_header(uint64_t *seed, uint8_t buf[WSG_FRAME_MAX_HEADER])
{
    static const uint8_t len7[] = { 0, 5, 125, 126, 127, 127, 127 };
    uint64_t r = prng_next(seed);

    for (size_t i = 0; i < WSG_FRAME_MAX_HEADER; i++)
        buf[i] = (uint8_t)(prng_next(seed) >> 56);
    if (r & 1)
        buf[0] &= 0x8F;                         /* no RSV bits */
    buf[1] = (uint8_t)((buf[1] & 0x80) | len7[(r >> 8) % sizeof len7]);
    if (r & 2)                                  /* small 64-bit length */
        memset(buf + 2, 0, 2 + (r >> 16) % 5);
}

static struct wsg_frame_limits
random_limits(uint64_t *seed)
{
    static const uint64_t max[] = {
        0, 0, 100, 1000, 70000, UINT64_C(1) << 40,
    };
    uint64_t r = prng_next(seed);

    return limits(r & 1 ? WSG_ROLE_SERVER : WSG_ROLE_CLIENT,
                  (uint8_t)((r >> 4) & 7), max[(r >> 8) % 6]);
}

/* The verdict on a whole 14-byte buffer, written as plainly as the RFC
 * states it, with no regard for earliness: the parser must agree. */
static enum wsg_err
reference_verdict(const uint8_t *buf, const struct wsg_frame_limits *lim,
                  uint64_t *payload_len, size_t *header_len)
{
    bool fin = buf[0] & 0x80, masked = buf[1] & 0x80;
    uint8_t rsv = (buf[0] >> 4) & 7, opcode = buf[0] & 0xF;
    uint8_t len7 = buf[1] & 0x7F;
    bool control = opcode >= 8;
    uint64_t len = len7;
    size_t ext = 0;

    if (rsv & ~lim->rsv_allowed)
        return WSG_ERR_RSV_BITS;
    if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10)))
        return WSG_ERR_BAD_OPCODE;
    if (control && !fin)
        return WSG_ERR_CONTROL_FRAGMENTED;
    if (lim->role == WSG_ROLE_SERVER && !masked)
        return WSG_ERR_UNMASKED_FRAME;
    if (lim->role == WSG_ROLE_CLIENT && masked)
        return WSG_ERR_MASKED_FRAME;
    if (control && len7 > 125)
        return WSG_ERR_CONTROL_TOO_LONG;
    if (len7 == 126) {
        ext = 2;
        len = (uint64_t)buf[2] << 8 | buf[3];
        if (len < 126)
            return WSG_ERR_NON_MINIMAL_LENGTH;
    } else if (len7 == 127) {
        ext = 8;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        if (len >> 63)
            return WSG_ERR_BAD_LENGTH;
        if (len < 65536)
            return WSG_ERR_NON_MINIMAL_LENGTH;
    }
    if (lim->max_frame != 0 && len > lim->max_frame)
        return WSG_ERR_FRAME_TOO_BIG;
    *payload_len = len;
    *header_len = 2 + ext + (masked ? 4 : 0);
    return WSG_OK;
}

/* Parse every prefix of a 14-byte buffer and return which property the
 * results break, or NULL.  Whatever the bytes: the whole buffer gets the
 * reference verdict; an error or a header, once reported, stays the same
 * as bytes are added; from two bytes on, INCOMPLETE's need is exact (that
 * many more bytes settle it, and a header is exactly that long); before
 * two bytes it is a lower bound; 14 bytes always settle it.  (A function
 * rather than asserts: Check asserts cost a syscall each, even passing.) */
static const char *
prefix_property_broken(const uint8_t *buf, const struct wsg_frame_limits *lim)
{
    enum { N = WSG_FRAME_MAX_HEADER };
    struct wsg_frame_header hs[N + 1];
    enum wsg_err res[N + 1];
    size_t needs[N + 1];
    uint64_t want_len = 0;
    size_t want_hlen = 0;
    enum wsg_err want = reference_verdict(buf, lim, &want_len, &want_hlen);

    for (size_t p = 0; p <= N; p++) {
        needs[p] = 0;
        res[p] = wsg_frame_parse_header(buf, p, lim, &hs[p], &needs[p]);
    }
    if (res[N] != want)
        return "whole header: verdict differs from reference";
    if (want == WSG_OK && (hs[N].payload_len != want_len
                           || hs[N].header_len != want_hlen))
        return "whole header: length differs from reference";

    for (size_t p = 0; p <= N; p++) {
        if (res[p] == WSG_ERR_INCOMPLETE) {
            size_t done = p + needs[p];

            if (needs[p] < 1 || done > N)
                return "need out of range";
            for (size_t q = p + 1; q < done; q++)
                if (res[q] == WSG_OK)
                    return "header complete before need was met";
            if (p >= 2 && res[done] == WSG_ERR_INCOMPLETE)
                return "need met but still incomplete";
            if (p >= 2 && res[done] == WSG_OK && hs[done].header_len != done)
                return "need does not match header_len";
            continue;
        }
        for (size_t q = p + 1; q <= N; q++) {
            if (res[q] != res[p])
                return "result changed as bytes were added";
            if (res[p] == WSG_OK
                && (hs[q].header_len != hs[p].header_len
                    || hs[q].payload_len != hs[p].payload_len))
                return "header changed as bytes were added";
        }
        return NULL;
    }
    return "14 bytes left it incomplete";
}

START_TEST(test_random_headers_match_reference_stably_with_exact_need)
{
    uint64_t seed = UINT64_C(0xC0FFEE0DDF00D);

    for (int round = 0; round < 20000; round++) {
        uint8_t buf[WSG_FRAME_MAX_HEADER];
        struct wsg_frame_limits lim = random_limits(&seed);
        const char *why;

        random_header(&seed, buf);
        why = prefix_property_broken(buf, &lim);
        if (why != NULL)
            ck_abort_msg("round %d, header %02x %02x %02x %02x ...: %s",
                         round, buf[0], buf[1], buf[2], buf[3], why);
    }
}
END_TEST

/* The header is written on success only, so a caller may parse into the
 * header it is using without losing it to a partial or bad one. */
START_TEST(test_header_is_untouched_unless_parse_succeeds)
{
    struct wsg_frame_header h, before;
    uint8_t bad[] = { 0x83, 0x80 };

    memset(&h, 0x5C, sizeof h);
    before = h;
    ck_assert_int_eq(wsg_frame_parse_header(rfc_hello_masked, 3, &server_lim,
                                            &h, NULL), WSG_ERR_INCOMPLETE);
    ck_assert_mem_eq(&h, &before, sizeof h);
    ck_assert_int_eq(wsg_frame_parse_header(bad, sizeof bad, &server_lim,
                                            &h, NULL), WSG_ERR_BAD_OPCODE);
    ck_assert_mem_eq(&h, &before, sizeof h);
}
END_TEST

/* An unmasked header reports an all-zero key, not stale bytes. */
START_TEST(test_unmasked_header_has_zero_mask_key)
{
    struct wsg_frame_header h;
    static const uint8_t zero[4] = { 0 };

    memset(&h, 0x5C, sizeof h);
    ck_assert_int_eq(wsg_frame_parse_header(rfc_hello_unmasked,
                                            sizeof rfc_hello_unmasked,
                                            &client_lim, &h, NULL), WSG_OK);
    ck_assert_mem_eq(h.mask_key, zero, 4);
}
END_TEST

Suite *
frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *rfc = tcase_create("rfc_examples");
    TCase *split = tcase_create("split_input");
    TCase *errors = tcase_create("errors");
    TCase *lengths = tcase_create("lengths");
    TCase *encode = tcase_create("encode");
    TCase *props = tcase_create("properties");

    tcase_add_test(rfc, test_rfc_unmasked_hello_parses);
    tcase_add_test(rfc, test_rfc_masked_hello_parses_and_unmasks);
    tcase_add_test(rfc, test_rfc_fragmented_hello_parses);
    tcase_add_test(rfc, test_rfc_ping_and_masked_pong_parse);
    tcase_add_test(rfc, test_rfc_binary_256_uses_16bit_length);
    tcase_add_test(rfc, test_rfc_binary_64k_uses_64bit_length);
    tcase_add_test(rfc, test_bytes_after_header_are_ignored);
    suite_add_tcase(s, rfc);

    tcase_add_test(split,
                   test_rfc_example_prefixes_ask_for_exact_need);
    tcase_add_test(split,
                   test_masked_64bit_header_prefixes_ask_for_exact_need);
    tcase_add_test(split,
                   test_masked_16bit_header_prefixes_ask_for_exact_need);
    suite_add_tcase(s, split);

    tcase_add_test(errors, test_rsv_bits_without_extension_are_rejected);
    tcase_add_test(errors, test_rsv1_is_accepted_when_negotiated);
    tcase_add_test(errors,
                   test_rsv2_and_rsv3_are_rejected_when_only_rsv1_negotiated);
    tcase_add_test(errors, test_all_rsv_bits_are_reported_in_header);
    tcase_add_test(errors, test_reserved_data_opcodes_are_rejected);
    tcase_add_test(errors, test_reserved_control_opcodes_are_rejected);
    tcase_add_test(errors, test_every_defined_opcode_is_accepted);
    tcase_add_test(errors, test_rsv_is_reported_before_bad_opcode);
    tcase_add_test(errors,
                   test_bad_opcode_is_reported_before_control_fragmented);
    tcase_add_test(errors, test_control_frame_without_fin_is_rejected);
    tcase_add_test(errors, test_data_frame_without_fin_is_accepted);
    tcase_add_test(errors, test_control_frame_over_125_is_rejected);
    tcase_add_test(errors, test_control_frame_of_125_is_accepted);
    tcase_add_test(errors, test_unmasked_frame_to_server_is_rejected);
    tcase_add_test(errors, test_masked_frame_to_client_is_rejected);
    tcase_add_test(errors,
                   test_mask_error_is_reported_before_control_too_long);
    tcase_add_test(errors, test_byte0_error_is_reported_before_mask_error);
    tcase_add_test(errors, test_64bit_length_with_msb_set_is_rejected);
    tcase_add_test(errors, test_bad_length_is_reported_before_frame_too_big);
    tcase_add_test(errors, test_16bit_length_below_126_is_rejected);
    tcase_add_test(errors, test_64bit_length_below_65536_is_rejected);
    tcase_add_test(errors, test_non_minimal_is_reported_before_frame_too_big);
    tcase_add_test(errors, test_frame_over_max_frame_is_rejected);
    tcase_add_test(errors, test_frame_at_max_frame_is_accepted);
    tcase_add_test(errors,
                   test_frame_too_big_is_reported_from_first_proving_byte);
    tcase_add_test(errors, test_max_frame_zero_means_no_limit);
    tcase_add_test(errors, test_control_frame_over_max_frame_is_rejected);
    suite_add_tcase(s, errors);

    tcase_add_test(lengths, test_length_encoding_boundaries_parse);
    tcase_add_test(lengths, test_length_markers_are_written_as_rfc_specifies);
    tcase_add_test(lengths, test_header_size_matches_each_length_form);
    suite_add_tcase(s, lengths);

    tcase_add_test(encode, test_encode_reproduces_rfc_examples);
    tcase_add_test(encode, test_write_header_reproduces_rfc_binary_examples);
    tcase_add_test(encode, test_write_then_parse_round_trips);
    tcase_add_test(encode, test_encode_then_parse_and_unmask_round_trips);
    tcase_add_test(encode, test_write_header_with_too_small_cap_returns_zero);
    tcase_add_test(encode, test_write_header_refuses_unencodable_fields);
    tcase_add_test(encode, test_encode_into_too_small_buffer_is_refused);
    tcase_add_test(encode, test_encode_with_mismatched_payload_len_is_refused);
    tcase_add_test(encode, test_encode_empty_payload_writes_header_only);
    suite_add_tcase(s, encode);

    tcase_add_test(props,
                   test_random_headers_match_reference_stably_with_exact_need);
    tcase_add_test(props, test_header_is_untouched_unless_parse_succeeds);
    tcase_add_test(props, test_unmasked_header_has_zero_mask_key);
    suite_add_tcase(s, props);

    return s;
}
