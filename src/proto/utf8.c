/*
 * utf8.c - incremental, fail-fast UTF-8 validation (RFC 3629 section 4).
 *
 * The state between pieces is three bytes: how many continuation bytes the
 * current sequence still needs, and the range the very next one must fall
 * in.  Only the second byte of a sequence has a range narrower than
 * 80..BF; narrowing it there is what rejects overlongs (E0, F0),
 * surrogates (ED) and code points above U+10FFFF (F4) at the earliest byte
 * that proves them, so the validator never needs to decode code points.
 *
 * Invariants:
 *   - need == 0 means "on a sequence boundary"; lo/hi are then meaningless.
 *   - need > 0 implies 0x80 <= lo <= hi <= 0xBF.
 *   - A false return happens at the first byte that no continuation of the
 *     input could make valid; nothing after it is looked at.
 */
#include "utf8.h"

#include <string.h>

/* High bit of every byte of a 64-bit word: a word ANDed with this is zero
 * exactly when all eight bytes are ASCII. */
#define WSG_UTF8_HIGH_BITS UINT64_C(0x8080808080808080)

void
wsg_utf8_init(struct wsg_utf8 *v)
{
    v->need = 0;
    v->lo = 0x80;
    v->hi = 0xBF;
}

/* Decide what a lead byte starts.  Returns false for bytes that can never
 * begin a sequence: stray continuations 80..BF, the overlong-only leads
 * C0/C1, and F5..FF (beyond U+10FFFF, or not UTF-8 at all). */
static bool
utf8_lead(struct wsg_utf8 *v, uint8_t b)
{
    v->lo = 0x80;
    v->hi = 0xBF;
    if (b < 0xC2) {
        return false;
    } else if (b < 0xE0) {
        v->need = 1;
    } else if (b < 0xF0) {
        v->need = 2;
        if (b == 0xE0)
            v->lo = 0xA0;       /* below: overlong 3-byte form */
        else if (b == 0xED)
            v->hi = 0x9F;       /* above: UTF-16 surrogates D800..DFFF */
    } else if (b < 0xF5) {
        v->need = 3;
        if (b == 0xF0)
            v->lo = 0x90;       /* below: overlong 4-byte form */
        else if (b == 0xF4)
            v->hi = 0x8F;       /* above: beyond U+10FFFF */
    } else {
        return false;
    }
    return true;
}

bool
wsg_utf8_feed(struct wsg_utf8 *v, const uint8_t *buf, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (v->need == 0) {
            /* Text is mostly ASCII: skip it a word at a time.  memcpy
             * keeps the load legal at any alignment; compilers turn it
             * into a single load. */
            while (len - i >= sizeof(uint64_t)) {
                uint64_t w;
                memcpy(&w, buf + i, sizeof w);
                if (w & WSG_UTF8_HIGH_BITS)
                    break;
                i += sizeof w;
            }
            if (i == len)
                break;
            uint8_t b = buf[i++];
            if (b < 0x80)
                continue;
            if (!utf8_lead(v, b))
                return false;
        } else {
            uint8_t b = buf[i++];
            if (b < v->lo || b > v->hi)
                return false;
            v->need--;
            /* Only the first continuation is narrowed. */
            v->lo = 0x80;
            v->hi = 0xBF;
        }
    }
    return true;
}

bool
wsg_utf8_complete(const struct wsg_utf8 *v)
{
    return v->need == 0;
}

bool
wsg_utf8_valid(const uint8_t *buf, size_t len)
{
    struct wsg_utf8 v;

    wsg_utf8_init(&v);
    return wsg_utf8_feed(&v, buf, len) && wsg_utf8_complete(&v);
}
