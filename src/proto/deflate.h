/*
 * deflate.h - permessage-deflate (RFC 7692): negotiation and the
 * per-connection codec.  No I/O.
 *
 * Negotiation works on the same header arrays as handshake.h.  The server
 * picks the first acceptable offer of the client's Sec-WebSocket-Extensions
 * headers (several offers in preference order, possibly over several
 * headers); an offer with an unknown, repeated or invalid parameter is
 * declined, never the handshake.  The response carries only what was
 * agreed.  The client side builds its offer and checks the server's answer.
 *
 * Window bits 8: zlib refuses to compress raw deflate with a 256-byte
 * window, but its compressor never reaches further back than
 * 2^w - 262 bytes, so with w = 9 no distance exceeds 250.  A peer that asks
 * for at most 8 bits (server_max_window_bits=8 offered to a server, or
 * client_max_window_bits=8 answered to a client) is therefore agreed to as
 * asked, and compressed for with zlib's 9.  Inflating with 8 is supported.
 *
 * The codec (struct wsg_deflate) holds no zlib state until the first
 * message that needs it: each direction's stream is allocated on first use
 * and, without context takeover in that direction, freed again after every
 * message.  Inflating stops with WSG_ERR_MESSAGE_TOO_BIG as soon as the
 * output would pass max_inflated bytes, before more memory is taken, and a
 * stream zlib cannot decode is WSG_ERR_BAD_DEFLATE.
 */
#ifndef WSG_PROTO_DEFLATE_H
#define WSG_PROTO_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "frame.h"
#include "handshake.h"

#define WSG_DEFLATE_TOKEN "permessage-deflate"
#define WSG_DEFLATE_MIN_WBITS 8
#define WSG_DEFLATE_MAX_WBITS 15
/* Longest header value wsg_deflate_negotiate/wsg_deflate_offer write. */
#define WSG_DEFLATE_HEADER_MAX 160

/* What an endpoint (or a client) allows and prefers; the config file's
 * compression group.  Window bits 8..15, level 0..9, mem_level 1..9. */
struct wsg_deflate_cfg {
    bool enabled;
    uint8_t level;
    uint8_t mem_level;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint32_t min_size;           /* smaller messages are sent uncompressed */
};

/* What was agreed for one connection. */
struct wsg_deflate_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits;  /* 8..15; 15 when not limited */
    uint8_t client_max_window_bits;
};

/* ---- negotiation ------------------------------------------------------- */

/* Server: pick the first acceptable permessage-deflate offer in the
 * Sec-WebSocket-Extensions headers.  true: *agreed is filled and out holds
 * the response's header value (NUL-terminated, at most
 * WSG_DEFLATE_HEADER_MAX - 1 chars; cap must allow that).  false: no
 * acceptable offer (or cfg->enabled is false); answer without the header.
 * An offer is declined when a parameter is unknown, repeated or has a bad
 * value, or when cfg->client_max_window_bits < 15 and the client cannot
 * be limited (it did not offer client_max_window_bits). */
bool wsg_deflate_negotiate(const struct wsg_header *hdrs, size_t n,
                           const struct wsg_deflate_cfg *cfg,
                           struct wsg_deflate_params *agreed,
                           char *out, size_t cap);

/* Client: the offer for cfg ("permessage-deflate; client_max_window_bits"
 * plus the limits and no-takeover wishes cfg asks for).  Returns the
 * length written, 0 if cap is too small. */
size_t wsg_deflate_offer(const struct wsg_deflate_cfg *cfg, char *out, size_t cap);

/* Client: check the server's Sec-WebSocket-Extensions headers against the
 * offer made from cfg.  WSG_OK with *accepted false: no extension in the
 * response.  WSG_OK with *accepted true: *agreed is what both use.
 * WSG_ERR_HS_EXTENSION: the response names another extension, more than
 * one, a parameter twice, a bad value, a server_max_window_bits over the
 * offered one, or a client_max_window_bits (the offer always allows it). */
enum wsg_err wsg_deflate_check_response(const struct wsg_header *hdrs, size_t n,
                                        const struct wsg_deflate_cfg *cfg,
                                        bool *accepted,
                                        struct wsg_deflate_params *agreed);

/* ---- the codec --------------------------------------------------------- */

struct wsg_deflate;

/* A codec for one connection, as role (our end).  level and mem_level as
 * zlib takes them; max_inflated 0 = no limit.  NULL on allocation failure.
 * Allocates only the small struct: no zlib state yet. */
struct wsg_deflate *wsg_deflate_new(enum wsg_role role,
                                    const struct wsg_deflate_params *p,
                                    int level, int mem_level,
                                    uint64_t max_inflated);

/* NULL is a no-op. */
void wsg_deflate_free(struct wsg_deflate *d);

/* Inflate the payload of one whole compressed message (RSV1 on its first
 * frame); the 00 00 ff ff tail is appended here.  On WSG_OK *out, *outlen
 * are the message, valid until the next call on d.  Errors:
 * WSG_ERR_MESSAGE_TOO_BIG (over max_inflated, close 1009),
 * WSG_ERR_BAD_DEFLATE (close 1007), WSG_ERR_NOMEM. */
enum wsg_err wsg_deflate_inflate(struct wsg_deflate *d, const uint8_t *in, size_t len,
                                 const uint8_t **out, size_t *outlen);

/* Compress one message with this connection's context; the 00 00 ff ff
 * tail is removed.  *out, *outlen valid until the next compress,
 * compress_done, shrink or idle on d.  Send
 * the result with RSV1 on the first frame. */
enum wsg_err wsg_deflate_compress(struct wsg_deflate *d, const uint8_t *in, size_t len,
                                  const uint8_t **out, size_t *outlen);

/* The message was sent some other way (uncompressed, or compressed once
 * for many with wsg_deflate_compress_once): with context takeover, the
 * next message must not refer back to ours, so start it afresh. */
void wsg_deflate_send_reset(struct wsg_deflate *d);

/* The zlib window bits our compressor uses (9..15) and its level and
 * memLevel: connections with equal values can share a message compressed
 * once with wsg_deflate_compress_once(). */
void wsg_deflate_send_key(const struct wsg_deflate *d, int *wbits, int *level,
                          int *mem_level);

/* Compress in with a fresh context and no takeover, tail removed, into a
 * new malloc'd buffer of headroom + *outlen bytes (the payload at offset
 * headroom; free() it).  For a message sent to many. */
enum wsg_err wsg_deflate_compress_once(int wbits, int level, int mem_level,
                                       const uint8_t *in, size_t len, size_t headroom,
                                       uint8_t **out, size_t *outlen);

/* Done with the last inflated message (its bytes are not used any more):
 * give back a buffer over a few KiB, and the inflater when the peer has no
 * context takeover. */
void wsg_deflate_inflate_done(struct wsg_deflate *d);

/* Done with the last compressed message (it was copied out): the same for
 * the compressing side.  Leaves the last inflated message alone, so it
 * may be called while that is still being read (an echo). */
void wsg_deflate_compress_done(struct wsg_deflate *d);

/* Both of the above. */
void wsg_deflate_shrink(struct wsg_deflate *d);

/* The connection is idle: also drop our compressor's state when we may
 * (always: the next message then starts a fresh context).  The inflater's
 * state is kept when the peer may refer back to earlier messages. */
void wsg_deflate_idle(struct wsg_deflate *d);

/* Bytes of zlib state and buffers held now (for tests and metrics). */
size_t wsg_deflate_memory(const struct wsg_deflate *d);

#endif
