/*
 * frame.h - RFC 6455 section 5.2 base framing: header parsing and encoding.
 *
 * No I/O and no allocation.  The header parser is stateless and works on
 * whatever prefix of a frame the caller has: it either returns the parsed
 * header, or WSG_ERR_INCOMPLETE with the number of further bytes it needs,
 * or the first protocol violation it can prove from the bytes it has (an
 * error is reported as early as possible, e.g. a reserved opcode after one
 * byte).  Limits are checked before the caller allocates anything.
 *
 * The stateful, any-split decoder that also handles payload lives in
 * message.h (struct wsg_reader), built on this parser.
 */
#ifndef WSG_PROTO_FRAME_H
#define WSG_PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum wsg_opcode {
    WSG_OP_CONTINUATION = 0x0,
    WSG_OP_TEXT = 0x1,
    WSG_OP_BINARY = 0x2,
    WSG_OP_CLOSE = 0x8,
    WSG_OP_PING = 0x9,
    WSG_OP_PONG = 0xA,
};

/* Which end of the connection we are: decides whether incoming frames must
 * be masked (we are the server) or must not be (we are the client). */
enum wsg_role {
    WSG_ROLE_SERVER,
    WSG_ROLE_CLIENT,
};

#define WSG_RSV1 0x4 /* bit values as used in wsg_frame_header.rsv */
#define WSG_RSV2 0x2
#define WSG_RSV3 0x1

#define WSG_FRAME_MAX_HEADER 14      /* 2 + 8 (length) + 4 (mask key) */
#define WSG_CONTROL_MAX_PAYLOAD 125

struct wsg_frame_header {
    bool fin;
    uint8_t rsv;             /* RSV1..3 as WSG_RSV* bits */
    uint8_t opcode;          /* enum wsg_opcode */
    bool masked;
    uint8_t mask_key[4];
    uint64_t payload_len;
    uint8_t header_len;      /* bytes the header occupied (parse) or needs (encode) */
};

/* What the parser enforces for incoming frames. */
struct wsg_frame_limits {
    enum wsg_role role;      /* our role: SERVER requires masked frames */
    uint8_t rsv_allowed;     /* RSV bits a negotiated extension permits */
    uint64_t max_frame;      /* 0 = no limit; else payload_len must be <= */
};

static inline bool
wsg_opcode_is_control(uint8_t opcode)
{
    return (opcode & 0x8) != 0;
}

/* Parse a frame header from the first len bytes of buf.
 * WSG_OK: *h is filled, h->header_len bytes are the header.
 * WSG_ERR_INCOMPLETE: *need (if not NULL) is how many more bytes are
 *   needed before the header can be parsed (at least 1).
 * Anything else: the frame violates the RFC or a limit. */
enum wsg_err wsg_frame_parse_header(const uint8_t *buf, size_t len,
                                    const struct wsg_frame_limits *lim,
                                    struct wsg_frame_header *h, size_t *need);

/* Bytes the header for a payload of this length takes on the wire. */
size_t wsg_frame_header_size(uint64_t payload_len, bool masked);

/* Write the header h into out (cap bytes); h->payload_len, fin, rsv,
 * opcode, masked and mask_key are used; h->header_len is ignored.
 * Returns the header size written, or 0 if cap is too small. */
size_t wsg_frame_write_header(uint8_t *out, size_t cap,
                              const struct wsg_frame_header *h);

/* Write a whole frame: header then payload, masked with h->mask_key when
 * h->masked.  h->payload_len must equal len.  *written is the total. */
enum wsg_err wsg_frame_encode(uint8_t *out, size_t cap,
                              const struct wsg_frame_header *h,
                              const uint8_t *payload, size_t len,
                              size_t *written);

#endif
