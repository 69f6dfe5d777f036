/*
 * test_utf8.c - unit tests for src/proto/utf8.c.
 *
 * The cases follow the categories of Markus Kuhn's UTF-8 decoder stress
 * test (boundary code points, unexpected continuations, truncated
 * sequences, impossible bytes, overlongs, surrogates, > U+10FFFF).  Every
 * string is fed whole, byte by byte and split in two at every position;
 * each invalid string also pins the byte at which validation must fail
 * (RFC 6455 8.1 wants the connection failed as soon as text is known to
 * be invalid, not at the end of the message).
 */
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "utf8.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* What feeding a string must give: valid; a valid prefix that ends inside
 * a character; or invalid, failing exactly at byte fail_at. */
enum outcome { VALID, TRUNCATED, INVALID };

struct utf8_case {
    const char *name;
    const uint8_t *s;
    size_t len;
    enum outcome want;
    size_t fail_at;     /* INVALID only */
};

/* Index of the byte at which a byte-at-a-time feed fails, or len. */
static size_t
bytewise_fail_index(const uint8_t *s, size_t len, bool *complete)
{
    struct wsg_utf8 v;

    wsg_utf8_init(&v);
    for (size_t i = 0; i < len; i++) {
        if (!wsg_utf8_feed(&v, s + i, 1))
            return i;
    }
    *complete = wsg_utf8_complete(&v);
    return len;
}

/* Feed s as two pieces split at cut; true if both pieces were accepted
 * and the whole ends on a character boundary. */
static bool
split_valid(const uint8_t *s, size_t len, size_t cut)
{
    struct wsg_utf8 v;

    wsg_utf8_init(&v);
    if (!wsg_utf8_feed(&v, s, cut))
        return false;
    if (!wsg_utf8_feed(&v, s + cut, len - cut))
        return false;
    return wsg_utf8_complete(&v);
}

static void
check_case(const struct utf8_case *c)
{
    bool complete = false;
    size_t at = bytewise_fail_index(c->s, c->len, &complete);
    struct wsg_utf8 v;

    switch (c->want) {
    case VALID:
        ck_assert_msg(at == c->len && complete, "%s: bytewise", c->name);
        ck_assert_msg(wsg_utf8_valid(c->s, c->len), "%s: whole", c->name);
        break;
    case TRUNCATED:
        ck_assert_msg(at == c->len && !complete, "%s: bytewise", c->name);
        wsg_utf8_init(&v);
        ck_assert_msg(wsg_utf8_feed(&v, c->s, c->len), "%s: feed", c->name);
        ck_assert_msg(!wsg_utf8_complete(&v), "%s: complete", c->name);
        ck_assert_msg(!wsg_utf8_valid(c->s, c->len), "%s: whole", c->name);
        break;
    case INVALID:
        ck_assert_msg(at == c->fail_at, "%s: failed at %zu, want %zu",
                      c->name, at, c->fail_at);
        /* Fail-fast in one piece too: the prefix before the bad byte is
         * accepted, the prefix through it is not. */
        wsg_utf8_init(&v);
        ck_assert_msg(wsg_utf8_feed(&v, c->s, c->fail_at),
                      "%s: prefix", c->name);
        wsg_utf8_init(&v);
        ck_assert_msg(!wsg_utf8_feed(&v, c->s, c->fail_at + 1),
                      "%s: through bad byte", c->name);
        ck_assert_msg(!wsg_utf8_valid(c->s, c->len), "%s: whole", c->name);
        break;
    }
    for (size_t cut = 0; cut <= c->len; cut++)
        ck_assert_msg(split_valid(c->s, c->len, cut) == (c->want == VALID),
                      "%s: split at %zu", c->name, cut);
}

static void
check_cases(const struct utf8_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_case(&cases[i]);
}

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* RFC 3629 section 7 / Kuhn 1: the classic example, "kosme" in Greek. */
START_TEST(test_kosme_is_valid)
{
    static const struct utf8_case c = {
        "kosme", S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), VALID, 0
    };
    check_case(&c);
}
END_TEST

START_TEST(test_empty_string_is_valid)
{
    struct wsg_utf8 v;

    ck_assert(wsg_utf8_valid((const uint8_t *)"", 0));
    wsg_utf8_init(&v);
    ck_assert(wsg_utf8_feed(&v, NULL, 0));
    ck_assert(wsg_utf8_complete(&v));
}
END_TEST

/* Kuhn 2.1-2.3: first and last code points of each sequence length and
 * other boundaries, all valid (noncharacters included: UTF-8 allows them). */
START_TEST(test_boundary_code_points_are_valid)
{
    static const struct utf8_case cases[] = {
        {"U+0000", S("\x00"), VALID, 0},
        {"U+007F", S("\x7f"), VALID, 0},
        {"U+0080", S("\xc2\x80"), VALID, 0},
        {"U+07FF", S("\xdf\xbf"), VALID, 0},
        {"U+0800", S("\xe0\xa0\x80"), VALID, 0},
        {"U+0FFF", S("\xe0\xbf\xbf"), VALID, 0},
        {"U+1000", S("\xe1\x80\x80"), VALID, 0},
        {"U+D7FF", S("\xed\x9f\xbf"), VALID, 0},
        {"U+E000", S("\xee\x80\x80"), VALID, 0},
        {"U+FFFD", S("\xef\xbf\xbd"), VALID, 0},
        {"U+FFFE", S("\xef\xbf\xbe"), VALID, 0},
        {"U+FFFF", S("\xef\xbf\xbf"), VALID, 0},
        {"U+10000", S("\xf0\x90\x80\x80"), VALID, 0},
        {"U+3FFFF", S("\xf0\xbf\xbf\xbf"), VALID, 0},
        {"U+40000", S("\xf1\x80\x80\x80"), VALID, 0},
        {"U+FFFFF", S("\xf3\xbf\xbf\xbf"), VALID, 0},
        {"U+100000", S("\xf4\x80\x80\x80"), VALID, 0},
        {"U+10FFFF", S("\xf4\x8f\xbf\xbf"), VALID, 0},
        {"mixed", S("a\xc2\x80" "b\xe0\xa0\x80" "c\xf4\x8f\xbf\xbf" "d"), VALID, 0},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* Kuhn 3.1: continuation bytes with no lead byte. */
START_TEST(test_unexpected_continuation_bytes_are_invalid)
{
    static const struct utf8_case cases[] = {
        {"80", S("\x80"), INVALID, 0},
        {"bf", S("\xbf"), INVALID, 0},
        {"80 bf", S("\x80\xbf"), INVALID, 0},
        {"a 80", S("a\x80"), INVALID, 1},
        {"2-byte + extra", S("\xc2\x80\x80"), INVALID, 2},
        {"3-byte + extra", S("\xe1\x80\x80\xbf"), INVALID, 3},
        {"4-byte + extra", S("\xf1\x80\x80\x80\x80"), INVALID, 4},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* Kuhn 3.2: lead bytes followed by something other than a continuation. */
START_TEST(test_lonely_start_bytes_are_invalid)
{
    static const struct utf8_case cases[] = {
        {"c2 space", S("\xc2\x20"), INVALID, 1},
        {"df space", S("\xdf\x20"), INVALID, 1},
        {"e1 space", S("\xe1\x20"), INVALID, 1},
        {"e1 80 space", S("\xe1\x80\x20"), INVALID, 2},
        {"f1 space", S("\xf1\x20"), INVALID, 1},
        {"f1 80 80 space", S("\xf1\x80\x80\x20"), INVALID, 3},
        {"two leads", S("\xc2\xc2\x80"), INVALID, 1},
        {"lead then ascii run", S("\xe1" "aaaaaaaaaaaaaaaa"), INVALID, 1},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* Kuhn 3.3/3.4: sequences with their last byte(s) missing.  Alone they
 * are only incomplete (more input could finish them)... */
START_TEST(test_truncated_sequences_are_incomplete)
{
    static const struct utf8_case cases[] = {
        {"c2", S("\xc2"), TRUNCATED, 0},
        {"df", S("\xdf"), TRUNCATED, 0},
        {"e0 a0", S("\xe0\xa0"), TRUNCATED, 0},
        {"ef bf", S("\xef\xbf"), TRUNCATED, 0},
        {"e1", S("\xe1"), TRUNCATED, 0},
        {"f0 90 80", S("\xf0\x90\x80"), TRUNCATED, 0},
        {"f4 8f bf", S("\xf4\x8f\xbf"), TRUNCATED, 0},
        {"f1", S("\xf1"), TRUNCATED, 0},
        {"ascii then e2 82", S("price: \xe2\x82"), TRUNCATED, 0},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* ...but followed by anything else they are invalid at that byte
 * (Kuhn 3.4: concatenated incomplete sequences). */
START_TEST(test_concatenated_truncated_sequences_are_invalid)
{
    static const struct utf8_case cases[] = {
        {"c0..", S("\xc2\xe0\x80"), INVALID, 1},
        {"e0 a0 c2", S("\xe0\xa0\xc2\x80"), INVALID, 2},
        {"f0 90 80 e1", S("\xf0\x90\x80\xe1\x80\x80"), INVALID, 3},
        {"df then ascii", S("\xdf" "a"), INVALID, 1},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* Kuhn 3.5: bytes that never appear in UTF-8. */
START_TEST(test_impossible_bytes_are_invalid)
{
    static const struct utf8_case cases[] = {
        {"fe", S("\xfe"), INVALID, 0},
        {"ff", S("\xff"), INVALID, 0},
        {"fe fe ff ff", S("\xfe\xfe\xff\xff"), INVALID, 0},
        {"ascii fe", S("abcdefghij\xfe"), INVALID, 10},
        {"f5", S("\xf5\x80\x80\x80"), INVALID, 0},
        {"f7", S("\xf7\xbf\xbf\xbf"), INVALID, 0},
        {"f8 (5-byte form)", S("\xf8\x88\x80\x80\x80"), INVALID, 0},
        {"fc (6-byte form)", S("\xfc\x84\x80\x80\x80\x80"), INVALID, 0},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* Kuhn 4: overlong forms, rejected at the first byte that proves them
 * (C0/C1 at once, E0/F0 at the second byte). */
START_TEST(test_overlong_forms_are_invalid)
{
    static const struct utf8_case cases[] = {
        {"/ as c0 af", S("\xc0\xaf"), INVALID, 0},
        {"/ as e0 80 af", S("\xe0\x80\xaf"), INVALID, 1},
        {"/ as f0 80 80 af", S("\xf0\x80\x80\xaf"), INVALID, 1},
        {"/ as f8 ...", S("\xf8\x80\x80\x80\xaf"), INVALID, 0},
        {"/ as fc ...", S("\xfc\x80\x80\x80\x80\xaf"), INVALID, 0},
        {"max c1 bf", S("\xc1\xbf"), INVALID, 0},
        {"max e0 9f bf", S("\xe0\x9f\xbf"), INVALID, 1},
        {"max f0 8f bf bf", S("\xf0\x8f\xbf\xbf"), INVALID, 1},
        {"NUL c0 80", S("\xc0\x80"), INVALID, 0},
        {"NUL e0 80 80", S("\xe0\x80\x80"), INVALID, 1},
        {"NUL f0 80 80 80", S("\xf0\x80\x80\x80"), INVALID, 1},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* Kuhn 5.1/5.2: UTF-16 surrogates, single and paired; ED A0..BF fails at
 * the second byte. */
START_TEST(test_surrogates_are_invalid)
{
    static const struct utf8_case cases[] = {
        {"U+D800", S("\xed\xa0\x80"), INVALID, 1},
        {"U+DB7F", S("\xed\xad\xbf"), INVALID, 1},
        {"U+DB80", S("\xed\xae\x80"), INVALID, 1},
        {"U+DBFF", S("\xed\xaf\xbf"), INVALID, 1},
        {"U+DC00", S("\xed\xb0\x80"), INVALID, 1},
        {"U+DF80", S("\xed\xbe\x80"), INVALID, 1},
        {"U+DFFF", S("\xed\xbf\xbf"), INVALID, 1},
        {"pair D800 DC00", S("\xed\xa0\x80\xed\xb0\x80"), INVALID, 1},
        {"pair DBFF DFFF", S("\xed\xaf\xbf\xed\xbf\xbf"), INVALID, 1},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* RFC 3629 section 3: nothing above U+10FFFF. */
START_TEST(test_code_points_above_10ffff_are_invalid)
{
    static const struct utf8_case cases[] = {
        {"U+110000", S("\xf4\x90\x80\x80"), INVALID, 1},
        {"U+13FFFF", S("\xf4\xbf\xbf\xbf"), INVALID, 1},
        {"U+140000", S("\xf5\x80\x80\x80"), INVALID, 0},
        {"U+1FFFFF", S("\xf7\xbf\xbf\xbf"), INVALID, 0},
    };
    check_cases(cases, NCASES(cases));
}
END_TEST

/* RFC 6455 8.1 fail-fast, the Autobahn-style case: valid Greek text then a
 * surrogate; validation must stop at 0xA0, not wait for the end. */
START_TEST(test_surrogate_after_kosme_fails_at_second_byte)
{
    static const uint8_t s[] =
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80";
    size_t len = sizeof s - 1;
    struct wsg_utf8 v;
    bool complete;

    ck_assert_uint_eq(bytewise_fail_index(s, len, &complete), 12);
    ck_assert_uint_eq(s[12], 0xa0);
    wsg_utf8_init(&v);
    ck_assert(!wsg_utf8_feed(&v, s, len - 1));  /* before the last byte */
    wsg_utf8_init(&v);
    ck_assert(wsg_utf8_feed(&v, s, 12));
    ck_assert(!wsg_utf8_feed(&v, s + 12, 1));
}
END_TEST

/* The ASCII fast path works a word at a time: a multi-byte character or a
 * bad byte at any offset, any alignment, must be seen exactly there. */
START_TEST(test_ascii_fast_path_sees_every_position)
{
    uint8_t store[80];

    for (size_t align = 0; align < 8; align++) {
        uint8_t *buf = store + align;
        size_t len = 64;

        for (size_t at = 0; at + 3 <= len; at++) {
            struct wsg_utf8 v;

            memset(buf, 'x', len);
            memcpy(buf + at, "\xe2\x82\xac", 3);    /* EURO SIGN */
            ck_assert_msg(wsg_utf8_valid(buf, len), "euro at %zu", at);

            buf[at] = 0xff;
            wsg_utf8_init(&v);
            ck_assert(wsg_utf8_feed(&v, buf, at));
            wsg_utf8_init(&v);
            ck_assert_msg(!wsg_utf8_feed(&v, buf, at + 1), "ff at %zu", at);

            buf[at] = 0xe2;
            buf[at + 1] = 'x';                      /* broken sequence */
            wsg_utf8_init(&v);
            ck_assert(wsg_utf8_feed(&v, buf, at + 1));
            ck_assert(!wsg_utf8_complete(&v));
            ck_assert_msg(!wsg_utf8_feed(&v, buf + at + 1, 1), "at %zu", at);
        }
        memset(buf, 'y', len);
        ck_assert(wsg_utf8_valid(buf, len));
    }
}
END_TEST

/* A sequence may be split across feeds at any byte (fragments, TCP). */
START_TEST(test_state_carries_across_pieces)
{
    static const uint8_t s[] = "\xf0\x9f\x98\x80" "ok" "\xe2\x82\xac";
    struct wsg_utf8 v;

    wsg_utf8_init(&v);
    ck_assert(wsg_utf8_feed(&v, s, 1));
    ck_assert(!wsg_utf8_complete(&v));
    ck_assert(wsg_utf8_feed(&v, s + 1, 2));
    ck_assert(!wsg_utf8_complete(&v));
    ck_assert(wsg_utf8_feed(&v, s + 3, 4));
    ck_assert(!wsg_utf8_complete(&v));
    ck_assert(wsg_utf8_feed(&v, s + 7, 2));
    ck_assert(wsg_utf8_complete(&v));

    /* The narrowed range of F0's second byte applies across pieces too. */
    wsg_utf8_init(&v);
    ck_assert(wsg_utf8_feed(&v, (const uint8_t *)"abc\xf0", 4));
    ck_assert(!wsg_utf8_feed(&v, (const uint8_t *)"\x8f", 1));
}
END_TEST

/* An independent, decode-then-check reference: bit patterns, code point
 * value, shortest form, surrogates, range.  Slow and obvious on purpose. */
static bool
reference_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t b = s[i];
        size_t n;
        uint32_t cp, min;

        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 2, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            n = 3, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            n = 4, cp = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* Every string of up to three bytes agrees with the reference. */
START_TEST(test_all_short_strings_match_reference)
{
    uint8_t s[3];

    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        ck_assert(wsg_utf8_valid(s, 1) == reference_valid(s, 1));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            ck_assert(wsg_utf8_valid(s, 2) == reference_valid(s, 2));
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                if (wsg_utf8_valid(s, 3) != reference_valid(s, 3))
                    ck_abort_msg("%02x %02x %02x", a, b, c);
            }
        }
    }
}
END_TEST

/* Four-byte strings: every lead from F0 up, every second byte, and the
 * interesting values for the other two. */
START_TEST(test_four_byte_strings_match_reference)
{
    static const uint8_t edges[] = {
        0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xf4, 0xff,
    };
    uint8_t s[4];

    for (unsigned a = 0xE0; a < 256; a++) {
        s[0] = (uint8_t)a;
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            for (size_t c = 0; c < sizeof edges; c++) {
                s[2] = edges[c];
                for (size_t d = 0; d < sizeof edges; d++) {
                    s[3] = edges[d];
                    if (wsg_utf8_valid(s, 4) != reference_valid(s, 4))
                        ck_abort_msg("%02x %02x %02x %02x",
                                     s[0], s[1], s[2], s[3]);
                }
            }
        }
    }
}
END_TEST

Suite *
utf8_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("kuhn");
    TCase *ref = tcase_create("reference");

    tcase_add_test(tc, test_kosme_is_valid);
    tcase_add_test(tc, test_empty_string_is_valid);
    tcase_add_test(tc, test_boundary_code_points_are_valid);
    tcase_add_test(tc, test_unexpected_continuation_bytes_are_invalid);
    tcase_add_test(tc, test_lonely_start_bytes_are_invalid);
    tcase_add_test(tc, test_truncated_sequences_are_incomplete);
    tcase_add_test(tc, test_concatenated_truncated_sequences_are_invalid);
    tcase_add_test(tc, test_impossible_bytes_are_invalid);
    tcase_add_test(tc, test_overlong_forms_are_invalid);
    tcase_add_test(tc, test_surrogates_are_invalid);
    tcase_add_test(tc, test_code_points_above_10ffff_are_invalid);
    tcase_add_test(tc, test_surrogate_after_kosme_fails_at_second_byte);
    tcase_add_test(tc, test_ascii_fast_path_sees_every_position);
    tcase_add_test(tc, test_state_carries_across_pieces);
    suite_add_tcase(s, tc);

    /* Exhaustive loops: generous timeout for sanitizer builds. */
    tcase_set_timeout(ref, 60);
    tcase_add_test(ref, test_all_short_strings_match_reference);
    tcase_add_test(ref, test_four_byte_strings_match_reference);
    suite_add_tcase(s, ref);
    return s;
}
