/*
 * frame.c - RFC 6455 section 5.2 base framing: header parsing and encoding.
 *
 * The parser keeps no state: it looks at whatever prefix of a header the
 * caller has and returns the header, WSG_ERR_INCOMPLETE with the exact
 * number of further bytes that would complete it, or the first violation
 * the bytes already prove.  Checks run in wire order and, within a byte, in
 * a fixed order (RSV, opcode, control FIN; mask, control length; sign bit,
 * minimal encoding, limit), so the error a prefix reports never changes as
 * more bytes arrive: a caller feeding one byte at a time sees the same
 * error, just sooner.
 *
 * "As early as possible" includes the extended length: its big-endian
 * bytes give a lower bound on the length before they are all in, so a sign
 * bit, a 64-bit length below 65536 (six zero bytes) or a length over
 * max_frame is reported from the first byte that proves it.  A peer
 * announcing an absurd frame is cut off before the rest of its header.
 *
 * The encoders write what they are asked to, including RSV bits, reserved
 * opcodes and oversized or unfinished control frames: refusing those is the
 * message layer's job, and tests need to build bad frames.  Only what
 * cannot be put on the wire at all (a length with bit 63 set, fields wider
 * than their bits) is refused.
 */
#include <string.h>

#include "frame.h"
#include "mask.h"

#define LEN16_MARKER 126
#define LEN64_MARKER 127
#define LEN64_SIGN_BIT 0x80

#define FIN_BIT 0x80
#define MASK_BIT 0x80
#define LEN7_BITS 0x7F
#define RSV_SHIFT 4
#define RSV_FIELD 0x7
#define OPCODE_BITS 0x0F

/* Bit n set: opcode n is defined (0-2 data, 8-A control). */
#define DEFINED_OPCODES 0x0707u

/* Byte 0: FIN, RSV1-3, opcode (5.2). */
static enum wsg_err
check_byte0(uint8_t b0, const struct wsg_frame_limits *lim)
{
    uint8_t rsv = (b0 >> RSV_SHIFT) & RSV_FIELD;
    uint8_t opcode = b0 & OPCODE_BITS;

    if (rsv & ~lim->rsv_allowed)
        return WSG_ERR_RSV_BITS;
    if (!((DEFINED_OPCODES >> opcode) & 1))
        return WSG_ERR_BAD_OPCODE;
    /* 5.5: control frames MUST NOT be fragmented. */
    if (wsg_opcode_is_control(opcode) && !(b0 & FIN_BIT))
        return WSG_ERR_CONTROL_FRAGMENTED;
    return WSG_OK;
}

/* Byte 1: MASK and the 7-bit length (5.1, 5.2, 5.5); b0 for the opcode. */
static enum wsg_err
check_byte1(uint8_t b0, uint8_t b1, const struct wsg_frame_limits *lim)
{
    bool masked = (b1 & MASK_BIT) != 0;

    /* 5.1: clients always mask, servers never do. */
    if (lim->role == WSG_ROLE_SERVER && !masked)
        return WSG_ERR_UNMASKED_FRAME;
    if (lim->role == WSG_ROLE_CLIENT && masked)
        return WSG_ERR_MASKED_FRAME;
    /* 5.5: the markers 126 and 127 can only announce more than 125. */
    if (wsg_opcode_is_control(b0 & OPCODE_BITS)
        && (b1 & LEN7_BITS) > WSG_CONTROL_MAX_PAYLOAD)
        return WSG_ERR_CONTROL_TOO_LONG;
    return WSG_OK;
}

static enum wsg_err
check_limit(uint64_t at_least, const struct wsg_frame_limits *lim)
{
    if (lim->max_frame != 0 && at_least > lim->max_frame)
        return WSG_ERR_FRAME_TOO_BIG;
    return WSG_OK;
}

/* The extended length: width bytes big-endian, of which have are in ext.
 * Checks every byte as it comes, with the unseen bytes taken as zero (the
 * smallest the length can still turn out to be).  On WSG_OK with all
 * bytes present, *len is the length. */
static enum wsg_err
check_ext_len(const uint8_t *ext, size_t have, size_t width,
              const struct wsg_frame_limits *lim, uint64_t *len)
{
    /* Below this the 7-bit or the 16-bit form should have been used. */
    uint64_t minimal = width == 2 ? LEN16_MARKER : 0x10000;
    uint64_t value = 0;

    if (have > width)
        have = width;
    /* 5.2: "the most significant bit MUST be 0". */
    if (width == 8 && have > 0 && (ext[0] & LEN64_SIGN_BIT))
        return WSG_ERR_BAD_LENGTH;
    for (size_t i = 0; i < have; i++) {
        size_t unseen = width - 1 - i;
        enum wsg_err err;

        value = (value << 8) | ext[i];
        /* 5.2: "the minimal number of bytes MUST be used".  Six zero top
         * bytes of the 64-bit form already prove it is below 65536; the
         * 16-bit form needs both bytes, as 126..255 are fine there. */
        if (unseen == 0 && value < minimal)
            return WSG_ERR_NON_MINIMAL_LENGTH;
        if (width == 8 && unseen == 2 && value == 0)
            return WSG_ERR_NON_MINIMAL_LENGTH;
        /* value < 2^(8(i+1)), so this shift cannot overflow. */
        if ((err = check_limit(value << (8 * unseen), lim)) != WSG_OK)
            return err;
    }
    *len = value;
    return WSG_OK;
}

/* *h is written only on success, field by field straight from the bytes.
 * Filling a local copy byte by byte and then assigning it whole makes the
 * wide loads of the copy wait for the narrow stores (no store forwarding):
 * that cost twice as much as everything else on a 2-byte header. */
enum wsg_err
wsg_frame_parse_header(const uint8_t *buf, size_t len,
                       const struct wsg_frame_limits *lim,
                       struct wsg_frame_header *h, size_t *need)
{
    enum wsg_err err;
    uint8_t len7;
    bool masked;
    size_t ext_width, header_len;
    uint64_t payload_len = 0;

    if (len < 1) {
        if (need)
            *need = 2;
        return WSG_ERR_INCOMPLETE;
    }
    if ((err = check_byte0(buf[0], lim)) != WSG_OK)
        return err;
    if (len < 2) {
        if (need)
            *need = 1;
        return WSG_ERR_INCOMPLETE;
    }
    if ((err = check_byte1(buf[0], buf[1], lim)) != WSG_OK)
        return err;

    masked = (buf[1] & MASK_BIT) != 0;
    len7 = buf[1] & LEN7_BITS;
    ext_width = len7 == LEN16_MARKER ? 2 : len7 == LEN64_MARKER ? 8 : 0;
    header_len = 2 + ext_width + (masked ? 4 : 0);
    if (ext_width == 0) {
        payload_len = len7;
        err = check_limit(payload_len, lim);
    } else {
        err = check_ext_len(buf + 2, len - 2, ext_width, lim, &payload_len);
    }
    if (err != WSG_OK)
        return err;
    if (len < header_len) {
        if (need)
            *need = header_len - len;
        return WSG_ERR_INCOMPLETE;
    }

    h->fin = (buf[0] & FIN_BIT) != 0;
    h->rsv = (buf[0] >> RSV_SHIFT) & RSV_FIELD;
    h->opcode = buf[0] & OPCODE_BITS;
    h->masked = masked;
    if (masked)
        memcpy(h->mask_key, buf + 2 + ext_width, 4);
    else
        memset(h->mask_key, 0, 4);
    h->payload_len = payload_len;
    h->header_len = (uint8_t)header_len;
    return WSG_OK;
}

size_t
wsg_frame_header_size(uint64_t payload_len, bool masked)
{
    size_t size = 2;

    if (payload_len > 0xFFFF)
        size += 8;
    else if (payload_len > WSG_CONTROL_MAX_PAYLOAD)
        size += 2;
    return size + (masked ? 4 : 0);
}

size_t
wsg_frame_write_header(uint8_t *out, size_t cap,
                       const struct wsg_frame_header *h)
{
    size_t size = wsg_frame_header_size(h->payload_len, h->masked);
    uint64_t plen = h->payload_len;
    size_t pos = 2;

    if (size > cap || h->opcode > OPCODE_BITS || h->rsv > RSV_FIELD
        || (plen >> 63) != 0)
        return 0;

    out[0] = (uint8_t)((h->fin ? FIN_BIT : 0) | (h->rsv << RSV_SHIFT)
                       | h->opcode);
    out[1] = h->masked ? MASK_BIT : 0;
    if (plen <= WSG_CONTROL_MAX_PAYLOAD) {
        out[1] |= (uint8_t)plen;
    } else if (plen <= 0xFFFF) {
        out[1] |= LEN16_MARKER;
        out[pos++] = (uint8_t)(plen >> 8);
        out[pos++] = (uint8_t)plen;
    } else {
        out[1] |= LEN64_MARKER;
        for (int shift = 56; shift >= 0; shift -= 8)
            out[pos++] = (uint8_t)(plen >> shift);
    }
    if (h->masked) {
        memcpy(out + pos, h->mask_key, 4);
        pos += 4;
    }
    return pos;
}

enum wsg_err
wsg_frame_encode(uint8_t *out, size_t cap, const struct wsg_frame_header *h,
                 const uint8_t *payload, size_t len, size_t *written)
{
    size_t hlen;

    if (written)
        *written = 0;
    if (h->payload_len != len || (len > 0 && payload == NULL))
        return WSG_ERR_INVALID_ARGUMENT;
    hlen = wsg_frame_header_size(len, h->masked);
    if (cap < hlen || cap - hlen < len)
        return WSG_ERR_BUFFER_TOO_SMALL;
    if (wsg_frame_write_header(out, cap, h) == 0)
        return WSG_ERR_INVALID_ARGUMENT;

    if (h->masked)
        wsg_mask_copy(out + hlen, payload, len, h->mask_key, 0);
    else if (len > 0)
        memcpy(out + hlen, payload, len);
    if (written)
        *written = hlen + len;
    return WSG_OK;
}
