/*
 * message.h - frames to messages and back (RFC 6455 5.4-5.6, 8.1).
 *
 * struct wsg_reader is the whole receive side of a connection: it is fed
 * raw bytes split any way at all (down to one byte at a time), parses frame
 * headers with wsg_frame_parse_header, unmasks payload while copying it
 * into the message being assembled, reassembles fragments, lets control
 * frames arrive between fragments, validates text incrementally (fail-fast,
 * even mid-fragment) and close payloads, and enforces the frame and message
 * size limits before allocating.  One error is enough: after the first
 * error every further feed returns the same error.
 *
 * Messages flagged compressed (RSV1 on the first frame, permitted only when
 * rsv_allowed has WSG_RSV1) are not UTF-8-checked here: the caller checks
 * the inflated bytes.
 */
#ifndef WSG_PROTO_MESSAGE_H
#define WSG_PROTO_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "frame.h"
#include "utf8.h"

struct wsg_msg {
    uint8_t opcode;          /* WSG_OP_TEXT, _BINARY, _CLOSE, _PING, _PONG */
    bool compressed;         /* RSV1 was set on the first frame */
    const uint8_t *data;     /* payload; for CLOSE the reason only */
    size_t len;
    uint16_t close_code;     /* CLOSE only; WSG_CLOSE_NO_STATUS if empty */
};

struct wsg_reader_limits {
    enum wsg_role role;      /* SERVER: incoming frames must be masked */
    uint8_t rsv_allowed;     /* RSV bits permitted by negotiated extensions */
    uint64_t max_frame;      /* 0 = no limit */
    uint64_t max_message;    /* 0 = no limit; total of all fragments */
};

struct wsg_reader {
    struct wsg_frame_limits flim;
    uint64_t max_message;

    /* current frame */
    uint8_t hbuf[WSG_FRAME_MAX_HEADER];
    uint8_t hlen;            /* header bytes buffered in hbuf */
    bool in_payload;         /* header parsed, reading payload */
    struct wsg_frame_header fh;
    uint64_t payload_pos;    /* payload bytes of fh consumed so far */

    /* data message being assembled */
    bool in_message;
    uint8_t msg_opcode;
    bool msg_compressed;
    uint8_t *buf;
    size_t len, cap;
    size_t cap_hint;         /* a new buffer's first size (after a take) */
    struct wsg_utf8 utf8;

    /* control frame payload (never fragmented, <= 125 bytes) */
    uint8_t ctrl[WSG_CONTROL_MAX_PAYLOAD];

    bool delivered;          /* a data message was handed out last feed */
    enum wsg_err error;      /* sticky */
};

void wsg_reader_init(struct wsg_reader *r, const struct wsg_reader_limits *lim);

/* Free the message buffer; the reader may be initialised again. */
void wsg_reader_free(struct wsg_reader *r);

/* Consume input until one message is complete or the input is exhausted.
 * WSG_OK: *msg is a complete message; its data stays valid until the next
 *   call on this reader.  *consumed bytes were used (possibly < len: feed
 *   the rest again).
 * WSG_ERR_INCOMPLETE: all len bytes consumed, no message complete yet.
 * Otherwise: a protocol error; wsg_err_close_code() gives the close code. */
enum wsg_err wsg_reader_feed(struct wsg_reader *r, const uint8_t *in,
                             size_t len, size_t *consumed,
                             struct wsg_msg *msg);

/* Minimum bytes needed before the reader can make progress (for callers
 * that want to wait for a whole header); always >= 1. */
size_t wsg_reader_need(const struct wsg_reader *r);

/* Give back buffer memory held between messages (idle connections). */
void wsg_reader_shrink(struct wsg_reader *r);

/* Between messages: no frame begun, no message being assembled, no error.
 * Such a reader holds nothing a fresh wsg_reader_init() would not. */
bool wsg_reader_idle(const struct wsg_reader *r);

/* Is data the start of the buffer of the data message just handed out? */
bool wsg_reader_owns(const struct wsg_reader *r, const uint8_t *data);

/* Take over that buffer, if data is its start: the caller owns it then
 * (free() it) and the message stays valid as long as the caller keeps it;
 * the reader starts a buffer of the same size (up to the size it keeps)
 * for the next message.  NULL if wsg_reader_owns() is false. */
uint8_t *wsg_reader_take(struct wsg_reader *r, const uint8_t *data);

/* Sending side. */
struct wsg_encode_opts {
    size_t fragment_size;    /* 0: one frame; else max payload per frame */
    bool mask;               /* client role: mask every frame */
    bool rsv1;               /* set RSV1 on the first frame (compressed) */
    /* Fresh key per frame; NULL uses OpenSSL's RAND_bytes. */
    void (*mask_key)(uint8_t key[4], void *arg);
    void *mask_key_arg;
};

/* Bytes wsg_msg_encode will write for a payload of len bytes. */
size_t wsg_msg_encoded_size(size_t len, const struct wsg_encode_opts *opts);

/* Encode one message (opts NULL: one unmasked frame, as a server sends).
 * Control opcodes are never fragmented and must be <= 125 bytes. */
enum wsg_err wsg_msg_encode(uint8_t *out, size_t cap, uint8_t opcode,
                            const uint8_t *data, size_t len,
                            const struct wsg_encode_opts *opts,
                            size_t *written);

#endif
