/*
 * test_close.c - unit tests for src/proto/close.c: which status codes may
 * be on the wire (RFC 6455 7.4, IANA registry), close payload parsing
 * (5.5.1) and building (truncation at a UTF-8 boundary).
 */
#include <string.h>

#include "close.h"
#include "suites.h"

static void
assert_codes(const uint16_t *codes, size_t n, bool valid)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(wsg_close_code_is_valid(codes[i]) == valid,
                      "code %u should be %s", codes[i],
                      valid ? "valid" : "invalid");
}

#define NCODES(a) (sizeof(a) / sizeof((a)[0]))

/* 7.4.1: 1000-1003 are defined and may be sent. */
START_TEST(test_codes_1000_to_1003_are_valid)
{
    static const uint16_t codes[] = {1000, 1001, 1002, 1003};
    assert_codes(codes, NCODES(codes), true);
}
END_TEST

/* 7.4.1 and the IANA registry: 1007-1014 may be sent. */
START_TEST(test_codes_1007_to_1014_are_valid)
{
    static const uint16_t codes[] = {1007, 1008, 1009, 1010, 1011, 1012,
                                     1013, 1014};
    assert_codes(codes, NCODES(codes), true);
}
END_TEST

/* 7.4.2: 3000-3999 registered, 4000-4999 private use. */
START_TEST(test_codes_3000_to_4999_are_valid)
{
    static const uint16_t codes[] = {3000, 3001, 3999, 4000, 4001, 4999};
    assert_codes(codes, NCODES(codes), true);
}
END_TEST

/* 7.4.2: 0-999 are not used. */
START_TEST(test_codes_below_1000_are_invalid)
{
    static const uint16_t codes[] = {0, 1, 999};
    assert_codes(codes, NCODES(codes), false);
}
END_TEST

/* 7.4.1: 1004 reserved; 1005, 1006 and 1015 must never be sent. */
START_TEST(test_reserved_and_local_codes_are_invalid)
{
    static const uint16_t codes[] = {1004, 1005, 1006, 1015};
    assert_codes(codes, NCODES(codes), false);
}
END_TEST

/* 7.4.2: 1016-2999 are for future RFCs, not for peers to use now. */
START_TEST(test_unassigned_protocol_codes_are_invalid)
{
    static const uint16_t codes[] = {1016, 1100, 2000, 2999};
    assert_codes(codes, NCODES(codes), false);
}
END_TEST

/* 7.4.2: nothing is defined from 5000 up. */
START_TEST(test_codes_from_5000_are_invalid)
{
    static const uint16_t codes[] = {5000, 5001, 65535};
    assert_codes(codes, NCODES(codes), false);
}
END_TEST

/* The whole range, class by class: nothing outside the classes slips in. */
START_TEST(test_every_code_outside_the_classes_is_invalid)
{
    unsigned valid = 0;

    for (uint32_t c = 0; c <= 0xFFFF; c++)
        valid += wsg_close_code_is_valid((uint16_t)c);
    ck_assert_uint_eq(valid, 4 + 8 + 2000);
}
END_TEST

/* 7.1.5: a close frame without payload reports 1005. */
START_TEST(test_empty_close_payload_reports_1005)
{
    uint8_t payload[1] = {0};
    uint16_t code = 0;
    const uint8_t *reason = NULL;
    size_t rlen = 99;

    ck_assert_int_eq(wsg_close_parse(payload, 0, &code, &reason, &rlen),
                     WSG_OK);
    ck_assert_uint_eq(code, WSG_CLOSE_NO_STATUS);
    ck_assert_uint_eq(rlen, 0);
}
END_TEST

/* 5.5.1: a body must start with a 2-byte code; one byte is malformed. */
START_TEST(test_close_payload_of_one_byte_is_rejected)
{
    uint8_t payload[1] = {0x03};
    uint16_t code;
    const uint8_t *reason;
    size_t rlen;

    ck_assert_int_eq(wsg_close_parse(payload, 1, &code, &reason, &rlen),
                     WSG_ERR_BAD_CLOSE_PAYLOAD);
}
END_TEST

START_TEST(test_close_code_without_reason_is_parsed)
{
    uint8_t payload[] = {0x03, 0xE8};
    uint16_t code = 0;
    const uint8_t *reason = NULL;
    size_t rlen = 99;

    ck_assert_int_eq(wsg_close_parse(payload, 2, &code, &reason, &rlen),
                     WSG_OK);
    ck_assert_uint_eq(code, 1000);
    ck_assert_uint_eq(rlen, 0);
}
END_TEST

/* 5.5.1: the reason follows the code and points into the payload. */
START_TEST(test_close_code_and_reason_are_parsed)
{
    static const uint8_t payload[] = "\x0f\xa0" "bye \xce\xba";  /* 4000 */
    uint16_t code = 0;
    const uint8_t *reason = NULL;
    size_t rlen = 0;

    ck_assert_int_eq(wsg_close_parse(payload, sizeof payload - 1, &code,
                                     &reason, &rlen), WSG_OK);
    ck_assert_uint_eq(code, 4000);
    ck_assert_ptr_eq(reason, payload + 2);
    ck_assert_uint_eq(rlen, 6);
    ck_assert_mem_eq(reason, "bye \xce\xba", 6);
}
END_TEST

/* 7.4: every code class through the parser, with and without a reason. */
START_TEST(test_parse_accepts_exactly_the_valid_codes)
{
    static const uint16_t codes[] = {
        0, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1010, 1014,
        1015, 1016, 2999, 3000, 3500, 4999, 5000, 65535,
    };

    for (size_t i = 0; i < NCODES(codes); i++) {
        uint8_t payload[4] = {(uint8_t)(codes[i] >> 8), (uint8_t)codes[i],
                              'o', 'k'};
        enum wsg_err want = wsg_close_code_is_valid(codes[i])
                                ? WSG_OK : WSG_ERR_BAD_CLOSE_CODE;
        uint16_t code = 0;
        const uint8_t *reason;
        size_t rlen;

        for (size_t len = 2; len <= 4; len += 2) {
            ck_assert_msg(wsg_close_parse(payload, len, &code, &reason,
                                          &rlen) == want,
                          "code %u len %zu", codes[i], len);
            if (want == WSG_OK)
                ck_assert_uint_eq(code, codes[i]);
        }
    }
}
END_TEST

/* 7.4.1: 1005 "MUST NOT be set as a status code in a Close control frame". */
START_TEST(test_close_code_1005_on_the_wire_is_rejected)
{
    uint8_t payload[] = {0x03, 0xED};
    uint16_t code;
    const uint8_t *reason;
    size_t rlen;

    ck_assert_int_eq(wsg_close_parse(payload, 2, &code, &reason, &rlen),
                     WSG_ERR_BAD_CLOSE_CODE);
}
END_TEST

/* 5.5.1 / 8.1: the reason is UTF-8; anything else fails (1007). */
START_TEST(test_close_reason_with_invalid_utf8_is_rejected)
{
    static const char *bad[] = {"\xff", "ok\xed\xa0\x80", "\xc0\xaf",
                                "trunc\xe2\x82"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t payload[32] = {0x03, 0xE8};
        size_t n = strlen(bad[i]);
        uint16_t code;
        const uint8_t *reason;
        size_t rlen;

        memcpy(payload + 2, bad[i], n);
        ck_assert_int_eq(wsg_close_parse(payload, 2 + n, &code, &reason,
                                         &rlen), WSG_ERR_BAD_CLOSE_REASON);
    }
}
END_TEST

/* A bad code is reported as such even when the reason is bad too. */
START_TEST(test_bad_code_is_reported_before_bad_reason)
{
    uint8_t payload[] = {0x03, 0xEC, 0xff};     /* 1004 + invalid byte */
    uint16_t code;
    const uint8_t *reason;
    size_t rlen;

    ck_assert_int_eq(wsg_close_parse(payload, 3, &code, &reason, &rlen),
                     WSG_ERR_BAD_CLOSE_CODE);
}
END_TEST

START_TEST(test_build_code_zero_gives_empty_payload)
{
    uint8_t out[125];

    ck_assert_uint_eq(wsg_close_build(out, 0, "ignored", 7), 0);
}
END_TEST

/* 7.4.1: codes that may not be on the wire are sent as "no status". */
START_TEST(test_build_non_wire_code_gives_empty_payload)
{
    uint8_t out[125];

    ck_assert_uint_eq(wsg_close_build(out, WSG_CLOSE_NO_STATUS, NULL, 0), 0);
    ck_assert_uint_eq(wsg_close_build(out, WSG_CLOSE_ABNORMAL, "x", 1), 0);
    ck_assert_uint_eq(wsg_close_build(out, WSG_CLOSE_TLS_HANDSHAKE, NULL, 0),
                      0);
}
END_TEST

START_TEST(test_build_code_and_reason)
{
    uint8_t out[125];
    size_t n = wsg_close_build(out, WSG_CLOSE_GOING_AWAY, "bye", 3);

    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(out, "\x03\xe9" "bye", 5);
    ck_assert_uint_eq(wsg_close_build(out, 4000, NULL, 0), 2);
    ck_assert_mem_eq(out, "\x0f\xa0", 2);
}
END_TEST

/* 5.5: control payloads are at most 125 bytes, so at most 123 of reason. */
START_TEST(test_build_truncates_ascii_reason_to_123_bytes)
{
    char reason[200];
    uint8_t out[125];

    memset(reason, 'r', sizeof reason);
    ck_assert_uint_eq(wsg_close_build(out, 1000, reason, 123), 125);
    ck_assert_uint_eq(wsg_close_build(out, 1000, reason, 124), 125);
    ck_assert_uint_eq(wsg_close_build(out, 1000, reason, sizeof reason), 125);
    ck_assert_mem_eq(out + 2, reason, 123);
}
END_TEST

/* Cutting in the middle of a character would make the peer fail the
 * connection with 1007: cut before the character instead. */
START_TEST(test_build_truncates_at_utf8_boundary)
{
    /* char width -> expected reason bytes kept out of 200 */
    static const struct {
        const char *ch;
        size_t width, kept;
    } cases[] = {
        {"\xc3\xa9", 2, 122},           /* 61 x 2 */
        {"\xe2\x82\xac", 3, 123},       /* 41 x 3 */
        {"\xf0\x9f\x98\x80", 4, 120},   /* 30 x 4 */
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char reason[200];
        uint8_t out[125];
        size_t n, len = 0;
        uint16_t code;
        const uint8_t *r;
        size_t rlen;

        while (len + cases[i].width <= sizeof reason) {
            memcpy(reason + len, cases[i].ch, cases[i].width);
            len += cases[i].width;
        }
        n = wsg_close_build(out, 1001, reason, len);
        ck_assert_uint_eq(n, 2 + cases[i].kept);
        ck_assert_int_eq(wsg_close_parse(out, n, &code, &r, &rlen), WSG_OK);
        ck_assert_uint_eq(code, 1001);
        ck_assert_mem_eq(r, reason, rlen);
    }
}
END_TEST

/* A reason that is not valid UTF-8 is cut to its valid prefix, so what we
 * send always parses. */
START_TEST(test_build_drops_invalid_utf8_tail)
{
    uint8_t out[125];
    size_t n = wsg_close_build(out, 1000, "ok\xff" "more", 7);
    uint16_t code;
    const uint8_t *r;
    size_t rlen;

    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(out + 2, "ok", 2);
    n = wsg_close_build(out, 1000, "ab\xe2\x82", 4);  /* truncated char */
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(wsg_close_parse(out, n, &code, &r, &rlen), WSG_OK);
}
END_TEST

START_TEST(test_build_then_parse_round_trips)
{
    uint8_t out[125];
    size_t n = wsg_close_build(out, WSG_CLOSE_MESSAGE_TOO_BIG, "too big", 7);
    uint16_t code = 0;
    const uint8_t *r = NULL;
    size_t rlen = 0;

    ck_assert_int_eq(wsg_close_parse(out, n, &code, &r, &rlen), WSG_OK);
    ck_assert_uint_eq(code, 1009);
    ck_assert_uint_eq(rlen, 7);
    ck_assert_mem_eq(r, "too big", 7);
}
END_TEST

Suite *
close_suite(void)
{
    Suite *s = suite_create("close");
    TCase *codes = tcase_create("codes");
    TCase *parse = tcase_create("parse");
    TCase *build = tcase_create("build");

    tcase_add_test(codes, test_codes_1000_to_1003_are_valid);
    tcase_add_test(codes, test_codes_1007_to_1014_are_valid);
    tcase_add_test(codes, test_codes_3000_to_4999_are_valid);
    tcase_add_test(codes, test_codes_below_1000_are_invalid);
    tcase_add_test(codes, test_reserved_and_local_codes_are_invalid);
    tcase_add_test(codes, test_unassigned_protocol_codes_are_invalid);
    tcase_add_test(codes, test_codes_from_5000_are_invalid);
    tcase_add_test(codes, test_every_code_outside_the_classes_is_invalid);
    suite_add_tcase(s, codes);

    tcase_add_test(parse, test_empty_close_payload_reports_1005);
    tcase_add_test(parse, test_close_payload_of_one_byte_is_rejected);
    tcase_add_test(parse, test_close_code_without_reason_is_parsed);
    tcase_add_test(parse, test_close_code_and_reason_are_parsed);
    tcase_add_test(parse, test_parse_accepts_exactly_the_valid_codes);
    tcase_add_test(parse, test_close_code_1005_on_the_wire_is_rejected);
    tcase_add_test(parse, test_close_reason_with_invalid_utf8_is_rejected);
    tcase_add_test(parse, test_bad_code_is_reported_before_bad_reason);
    suite_add_tcase(s, parse);

    tcase_add_test(build, test_build_code_zero_gives_empty_payload);
    tcase_add_test(build, test_build_non_wire_code_gives_empty_payload);
    tcase_add_test(build, test_build_code_and_reason);
    tcase_add_test(build, test_build_truncates_ascii_reason_to_123_bytes);
    tcase_add_test(build, test_build_truncates_at_utf8_boundary);
    tcase_add_test(build, test_build_drops_invalid_utf8_tail);
    tcase_add_test(build, test_build_then_parse_round_trips);
    suite_add_tcase(s, build);
    return s;
}
