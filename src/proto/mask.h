/*
 * mask.h - RFC 6455 section 5.3 payload masking.
 *
 * Byte i of a payload is XORed with key[(offset + i) % 4], where offset is
 * the position of the first byte within the frame's payload: so a payload
 * can be (un)masked in pieces as it arrives.  Works a machine word at a
 * time; any alignment, any length, any offset.
 */
#ifndef WSG_PROTO_MASK_H
#define WSG_PROTO_MASK_H

#include <stddef.h>
#include <stdint.h>

/* Mask (or unmask: the same operation) buf in place. */
void wsg_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t offset);

/* dst = src masked; dst and src may be equal but must not otherwise overlap.
 * Copies and (un)masks in one pass. */
void wsg_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                   const uint8_t key[4], uint64_t offset);

#endif
