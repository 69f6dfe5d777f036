/*
 * error.c - messages, close codes and HTTP statuses for enum wsg_err.
 *
 * One table row per error keeps the three mappings side by side, so adding
 * an error means adding one line.  The table is indexed by the enum value;
 * a static assertion keeps it complete.
 */
#include "error.h"

#include <stddef.h>

struct err_info {
    const char *msg;
    uint16_t close_code;
    int http_status;
};

static const struct err_info err_table[] = {
    [WSG_OK] = {"success", 0, 0},
    [WSG_ERR_INCOMPLETE] = {"incomplete input, more bytes needed", 0, 0},
    [WSG_ERR_NOMEM] = {"out of memory", 1011, 503},
    [WSG_ERR_BUFFER_TOO_SMALL] = {"output buffer too small", 1011, 500},
    [WSG_ERR_INVALID_ARGUMENT] = {"invalid argument", 1011, 500},

    [WSG_ERR_BAD_OPCODE] = {"reserved opcode", 1002, 0},
    [WSG_ERR_RSV_BITS] = {"reserved bits set without a negotiated extension", 1002, 0},
    [WSG_ERR_UNMASKED_FRAME] = {"client frame is not masked", 1002, 0},
    [WSG_ERR_MASKED_FRAME] = {"server frame is masked", 1002, 0},
    [WSG_ERR_CONTROL_TOO_LONG] = {"control frame payload over 125 bytes", 1002, 0},
    [WSG_ERR_CONTROL_FRAGMENTED] = {"fragmented control frame", 1002, 0},
    [WSG_ERR_BAD_LENGTH] = {"64-bit payload length with the high bit set", 1002, 0},
    [WSG_ERR_NON_MINIMAL_LENGTH] = {"payload length not minimally encoded", 1002, 0},
    [WSG_ERR_FRAME_TOO_BIG] = {"frame over the size limit", 1009, 0},

    [WSG_ERR_MESSAGE_TOO_BIG] = {"message over the size limit", 1009, 0},
    [WSG_ERR_UNEXPECTED_CONTINUATION] = {"continuation frame without a message to continue", 1002, 0},
    [WSG_ERR_EXPECTED_CONTINUATION] = {"new data frame inside a fragmented message", 1002, 0},
    [WSG_ERR_BAD_UTF8] = {"text is not valid UTF-8", 1007, 0},
    [WSG_ERR_BAD_CLOSE_PAYLOAD] = {"close frame payload of 1 byte", 1002, 0},
    [WSG_ERR_BAD_CLOSE_CODE] = {"invalid close code", 1002, 0},
    [WSG_ERR_BAD_CLOSE_REASON] = {"close reason is not valid UTF-8", 1007, 0},
    [WSG_ERR_BAD_DEFLATE] = {"compressed message is not a valid deflate stream", 1007, 0},

    [WSG_ERR_HS_MALFORMED] = {"malformed HTTP message", 0, 400},
    [WSG_ERR_HS_TOO_LARGE] = {"HTTP head too large", 0, 431},
    [WSG_ERR_HS_METHOD] = {"handshake method is not GET", 0, 405},
    [WSG_ERR_HS_HTTP_VERSION] = {"handshake needs HTTP/1.1 or later", 0, 400},
    [WSG_ERR_HS_NO_HOST] = {"handshake has no Host header", 0, 400},
    [WSG_ERR_HS_UPGRADE] = {"Upgrade header does not name websocket", 0, 400},
    [WSG_ERR_HS_CONNECTION] = {"Connection header does not list Upgrade", 0, 400},
    [WSG_ERR_HS_KEY] = {"Sec-WebSocket-Key missing or not 16 bytes of base64", 0, 400},
    [WSG_ERR_HS_VERSION] = {"Sec-WebSocket-Version missing or not 13", 0, 426},
    [WSG_ERR_HS_BODY] = {"handshake request carries a body", 0, 400},
    [WSG_ERR_HS_STATUS] = {"server did not answer 101 Switching Protocols", 0, 0},
    [WSG_ERR_HS_ACCEPT] = {"Sec-WebSocket-Accept missing or wrong", 0, 0},
    [WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED] = {"server chose a subprotocol that was not offered", 0, 0},
    [WSG_ERR_HS_SUBPROTOCOL_REQUIRED] = {"no subprotocol in common and one is required", 0, 400},
    [WSG_ERR_HS_EXTENSION] = {"server chose an extension that was not offered", 0, 0},
    [WSG_ERR_HS_ORIGIN] = {"Origin not allowed", 0, 403},

    [WSG_ERR_TIMEOUT] = {"timed out", 1001, 408},
    [WSG_ERR_SLOW_CONSUMER] = {"peer reads too slowly", 1008, 0},
    [WSG_ERR_TOO_MANY_CONNECTIONS] = {"too many connections", 1013, 503},
    [WSG_ERR_GOING_AWAY] = {"going away", 1001, 503},
    [WSG_ERR_INTERNAL] = {"internal error", 1011, 500},
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == WSG_ERR__COUNT,
               "err_table must have one row per enum wsg_err value");

static const struct err_info *
err_lookup(enum wsg_err err)
{
    if ((unsigned)err >= WSG_ERR__COUNT)
        return NULL;
    return &err_table[err];
}

const char *
wsg_strerror(enum wsg_err err)
{
    const struct err_info *e = err_lookup(err);
    return e != NULL ? e->msg : "unknown error";
}

uint16_t
wsg_err_close_code(enum wsg_err err)
{
    const struct err_info *e = err_lookup(err);
    return e != NULL ? e->close_code : 1011;
}

int
wsg_err_http_status(enum wsg_err err)
{
    const struct err_info *e = err_lookup(err);
    return e != NULL ? e->http_status : 0;
}
