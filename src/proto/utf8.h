/*
 * utf8.h - incremental UTF-8 validation (RFC 3629, as RFC 6455 8.1 needs).
 *
 * The validator is fed a message's bytes in any number of pieces and fails
 * as soon as the bytes seen so far cannot be the start of valid UTF-8
 * (fail-fast: e.g. 0xED 0xA0 fails at the second byte, a surrogate), not
 * only at the end.  Overlong forms, surrogates and code points above
 * U+10FFFF are invalid.  ASCII runs are skipped a word at a time.
 */
#ifndef WSG_PROTO_UTF8_H
#define WSG_PROTO_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsg_utf8 {
    uint8_t need;  /* continuation bytes still expected in this sequence */
    uint8_t lo;    /* allowed range of the next continuation byte */
    uint8_t hi;
};

/* Start (or restart) validation of a new string. */
void wsg_utf8_init(struct wsg_utf8 *v);

/* Validate the next piece.  Returns false as soon as the input is invalid;
 * the validator is then in an undefined state until re-initialised. */
bool wsg_utf8_feed(struct wsg_utf8 *v, const uint8_t *buf, size_t len);

/* True when the bytes fed so far end on a sequence boundary. */
bool wsg_utf8_complete(const struct wsg_utf8 *v);

/* Whole-buffer convenience: init + feed + complete. */
bool wsg_utf8_valid(const uint8_t *buf, size_t len);

#endif
