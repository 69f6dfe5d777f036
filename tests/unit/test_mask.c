/*
 * test_mask.c - unit tests for src/proto/mask.c (RFC 6455 section 5.3).
 *
 * The word-at-a-time code is checked against the RFC's byte-by-byte
 * definition, "octet i of the transformed data is the XOR of octet i of
 * the original data with octet at index i modulo 4 of the masking key",
 * on pseudo-random inputs chosen to hit every path: lengths either side
 * of the 8- and 32-byte strides, every offset phase, and buffers starting
 * at every alignment.  Guard bytes around each buffer catch writes out of
 * bounds.  The PRNG has a fixed seed, so a failure reproduces.
 */
#include <stdint.h>
#include <string.h>

#include "suites.h"
#include "mask.h"
#include "prng.h"

#define MAX_LEN 300
#define MAX_MISALIGN 16
#define GUARD 16
#define GUARD_BYTE 0xA5
#define ROUNDS 5000

static void
prng_fill(uint64_t *state, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(prng_next(state) >> 56);
}

/* The definition from RFC 6455 5.3, with the payload starting at offset
 * within the frame. */
static void
reference_mask(uint8_t *dst, const uint8_t *src, size_t len,
               const uint8_t key[4], uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = src[i] ^ key[(offset + i) % 4];
}

/* An offset from every phase, sometimes huge: only offset % 4 matters,
 * and a uint64_t offset must not overflow into the wrong phase. */
static uint64_t
random_offset(uint64_t *state)
{
    uint64_t r = prng_next(state);

    switch (r & 3) {
    case 0:
        return (r >> 2) & 7;
    case 1:
        return r >> 8;
    case 2:
        return UINT64_MAX - ((r >> 2) & 7);
    default:
        return (r >> 2) & 0xFFFF;
    }
}

/* Check asserts cost a syscall each even when they pass: scan first,
 * assert once. */
static void
assert_guards_intact(const uint8_t *area, size_t start, size_t len,
                     size_t area_len)
{
    size_t bad = area_len;

    for (size_t i = 0; i < area_len && bad == area_len; i++) {
        if ((i < start || i >= start + len) && area[i] != GUARD_BYTE)
            bad = i;
    }
    ck_assert_msg(bad == area_len, "write outside buffer [%zu, %zu) at %zu",
                  start, start + len, bad);
}

/* 5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58. */
START_TEST(test_mask_reproduces_rfc_example)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    static const uint8_t masked[5] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    uint8_t buf[5];
    uint8_t out[5];

    memcpy(buf, "Hello", 5);
    wsg_mask(buf, 5, key, 0);
    ck_assert_mem_eq(buf, masked, 5);
    wsg_mask_copy(out, masked, 5, key, 0);
    ck_assert_mem_eq(out, "Hello", 5);
}
END_TEST

/* 5.3: in place, any length, alignment and offset. */
START_TEST(test_mask_matches_bytewise_definition_on_random_input)
{
    uint64_t seed = UINT64_C(0x9E3779B97F4A7C15);
    uint8_t area[GUARD + MAX_MISALIGN + MAX_LEN + GUARD];
    uint8_t src[MAX_LEN], want[MAX_LEN];

    for (int round = 0; round < ROUNDS; round++) {
        size_t len = prng_next(&seed) % (MAX_LEN + 1);
        size_t start = GUARD + prng_next(&seed) % MAX_MISALIGN;
        uint64_t offset = random_offset(&seed);
        uint8_t key[4];

        prng_fill(&seed, key, 4);
        prng_fill(&seed, src, len);
        reference_mask(want, src, len, key, offset);

        memset(area, GUARD_BYTE, sizeof area);
        memcpy(area + start, src, len);
        wsg_mask(area + start, len, key, offset);
        ck_assert_msg(memcmp(area + start, want, len) == 0,
                      "len %zu start %zu offset %llu", len, start,
                      (unsigned long long)offset);
        assert_guards_intact(area, start, len, sizeof area);
    }
}
END_TEST

/* 5.3 as a copy: source and destination misaligned independently. */
START_TEST(test_mask_copy_matches_bytewise_definition_on_random_input)
{
    uint64_t seed = UINT64_C(0xD1B54A32D192ED03);
    uint8_t src_area[MAX_MISALIGN + MAX_LEN];
    uint8_t dst_area[GUARD + MAX_MISALIGN + MAX_LEN + GUARD];
    uint8_t before[MAX_MISALIGN + MAX_LEN], want[MAX_LEN];

    for (int round = 0; round < ROUNDS; round++) {
        size_t len = prng_next(&seed) % (MAX_LEN + 1);
        size_t src_start = prng_next(&seed) % MAX_MISALIGN;
        size_t dst_start = GUARD + prng_next(&seed) % MAX_MISALIGN;
        uint64_t offset = random_offset(&seed);
        uint8_t key[4];

        prng_fill(&seed, key, 4);
        prng_fill(&seed, src_area, sizeof src_area);
        memcpy(before, src_area, sizeof src_area);
        reference_mask(want, src_area + src_start, len, key, offset);

        memset(dst_area, GUARD_BYTE, sizeof dst_area);
        wsg_mask_copy(dst_area + dst_start, src_area + src_start, len, key,
                      offset);
        ck_assert_msg(memcmp(dst_area + dst_start, want, len) == 0,
                      "len %zu src %zu dst %zu offset %llu", len, src_start,
                      dst_start, (unsigned long long)offset);
        assert_guards_intact(dst_area, dst_start, len, sizeof dst_area);
        ck_assert_msg(memcmp(src_area, before, sizeof src_area) == 0,
                      "source modified");
    }
}
END_TEST

/* mask.h allows dst == src: the receive path unmasks where it reads. */
START_TEST(test_mask_copy_in_place_matches_bytewise_definition)
{
    uint64_t seed = UINT64_C(0x8CB92BA72F3D8DD7);
    uint8_t area[GUARD + MAX_MISALIGN + MAX_LEN + GUARD];
    uint8_t src[MAX_LEN], want[MAX_LEN];

    for (int round = 0; round < ROUNDS; round++) {
        size_t len = prng_next(&seed) % (MAX_LEN + 1);
        size_t start = GUARD + prng_next(&seed) % MAX_MISALIGN;
        uint64_t offset = random_offset(&seed);
        uint8_t key[4];

        prng_fill(&seed, key, 4);
        prng_fill(&seed, src, len);
        reference_mask(want, src, len, key, offset);

        memset(area, GUARD_BYTE, sizeof area);
        memcpy(area + start, src, len);
        wsg_mask_copy(area + start, area + start, len, key, offset);
        ck_assert_msg(memcmp(area + start, want, len) == 0,
                      "len %zu start %zu offset %llu", len, start,
                      (unsigned long long)offset);
        assert_guards_intact(area, start, len, sizeof area);
    }
}
END_TEST

/* The point of the offset argument: a payload arriving in pieces, each
 * unmasked at its position, ends up as if unmasked whole. */
START_TEST(test_mask_in_pieces_equals_mask_whole)
{
    uint64_t seed = UINT64_C(0x123456789ABCDEF1);
    uint8_t src[MAX_LEN], whole[MAX_LEN], pieces[MAX_LEN];

    for (int round = 0; round < ROUNDS / 10; round++) {
        size_t len = prng_next(&seed) % (MAX_LEN + 1);
        uint8_t key[4];

        prng_fill(&seed, key, 4);
        prng_fill(&seed, src, len);
        memcpy(whole, src, len);
        wsg_mask(whole, len, key, 0);

        for (size_t pos = 0; pos < len;) {
            size_t piece = 1 + prng_next(&seed) % 40;
            if (piece > len - pos)
                piece = len - pos;
            wsg_mask_copy(pieces + pos, src + pos, piece, key, pos);
            pos += piece;
        }
        ck_assert_msg(memcmp(whole, pieces, len) == 0, "len %zu", len);
    }
}
END_TEST

/* Masking is an involution: the same call unmasks. */
START_TEST(test_mask_twice_restores_original)
{
    uint64_t seed = UINT64_C(0x0F0F0F0F12345678);
    uint8_t src[MAX_LEN], buf[MAX_LEN];
    static const uint8_t key[4] = { 0x01, 0x80, 0xFF, 0x5A };

    prng_fill(&seed, src, sizeof src);
    memcpy(buf, src, sizeof buf);
    wsg_mask(buf, sizeof buf, key, 3);
    ck_assert(memcmp(buf, src, sizeof buf) != 0);
    wsg_mask(buf, sizeof buf, key, 3);
    ck_assert_mem_eq(buf, src, sizeof buf);
}
END_TEST

/* Only offset % 4 matters, even at the top of the uint64_t range. */
START_TEST(test_mask_offset_is_taken_modulo_4)
{
    static const uint8_t key[4] = { 0x10, 0x20, 0x30, 0x40 };
    uint8_t a[64] = { 0 }, b[64] = { 0 }, want[64];

    for (size_t i = 0; i < sizeof want; i++)
        want[i] = key[(i + 3) % 4];
    wsg_mask(a, sizeof a, key, UINT64_MAX);       /* UINT64_MAX % 4 == 3 */
    wsg_mask(b, sizeof b, key, 3);
    ck_assert_mem_eq(a, want, sizeof want);
    ck_assert_mem_eq(b, want, sizeof want);
}
END_TEST

START_TEST(test_mask_of_zero_length_touches_nothing)
{
    static const uint8_t key[4] = { 1, 2, 3, 4 };
    uint8_t buf[4] = { 9, 9, 9, 9 };

    wsg_mask(buf, 0, key, 1);
    wsg_mask_copy(buf, buf + 2, 0, key, 1);
    wsg_mask(NULL, 0, key, 0);
    wsg_mask_copy(NULL, NULL, 0, key, 0);
    static const uint8_t same[4] = { 9, 9, 9, 9 };
    ck_assert_mem_eq(buf, same, 4);
}
END_TEST

/* A large buffer goes through the unrolled loop many times. */
START_TEST(test_mask_of_64k_matches_bytewise_definition)
{
    static uint8_t src[65536 + 8], got[65536 + 8], want[65536 + 8];
    static const uint8_t key[4] = { 0xA1, 0xB2, 0xC3, 0xD4 };
    uint64_t seed = 42;

    prng_fill(&seed, src, sizeof src);
    reference_mask(want, src + 1, 65536 + 5, key, 2);
    wsg_mask_copy(got + 3, src + 1, 65536 + 5, key, 2);
    ck_assert_mem_eq(got + 3, want, 65536 + 5);
}
END_TEST

Suite *
mask_suite(void)
{
    Suite *s = suite_create("mask");
    TCase *tc = tcase_create("mask");

    tcase_add_test(tc, test_mask_reproduces_rfc_example);
    tcase_add_test(tc, test_mask_matches_bytewise_definition_on_random_input);
    tcase_add_test(tc,
                   test_mask_copy_matches_bytewise_definition_on_random_input);
    tcase_add_test(tc, test_mask_copy_in_place_matches_bytewise_definition);
    tcase_add_test(tc, test_mask_in_pieces_equals_mask_whole);
    tcase_add_test(tc, test_mask_twice_restores_original);
    tcase_add_test(tc, test_mask_offset_is_taken_modulo_4);
    tcase_add_test(tc, test_mask_of_zero_length_touches_nothing);
    tcase_add_test(tc, test_mask_of_64k_matches_bytewise_definition);
    suite_add_tcase(s, tc);
    return s;
}
