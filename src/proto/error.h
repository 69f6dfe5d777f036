/*
 * error.h - the one error type of the protocol core and the daemon.
 *
 * Every fallible function of the core returns an enum wsg_err: WSG_OK (0)
 * on success, WSG_ERR_INCOMPLETE when more input is needed, or a specific
 * failure.  The caller decides what to do with it: the daemon maps it to a
 * close code (wsg_err_close_code) or an HTTP status (wsg_err_http_status)
 * and logs wsg_strerror().
 */
#ifndef WSG_PROTO_ERROR_H
#define WSG_PROTO_ERROR_H

#include <stdint.h>

enum wsg_err {
    WSG_OK = 0,
    WSG_ERR_INCOMPLETE,         /* not an error: more input needed */
    WSG_ERR_NOMEM,
    WSG_ERR_BUFFER_TOO_SMALL,   /* caller's output buffer cannot hold it */
    WSG_ERR_INVALID_ARGUMENT,

    /* framing (RFC 6455 5.2) */
    WSG_ERR_BAD_OPCODE,         /* reserved opcode 3-7 or 0xB-0xF */
    WSG_ERR_RSV_BITS,           /* RSV bit set without a negotiated extension */
    WSG_ERR_UNMASKED_FRAME,     /* client-to-server frame without mask */
    WSG_ERR_MASKED_FRAME,       /* server-to-client frame with mask */
    WSG_ERR_CONTROL_TOO_LONG,   /* control frame payload > 125 bytes */
    WSG_ERR_CONTROL_FRAGMENTED, /* control frame without FIN */
    WSG_ERR_BAD_LENGTH,         /* 64-bit length with the MSB set */
    WSG_ERR_NON_MINIMAL_LENGTH, /* length not in its shortest encoding */
    WSG_ERR_FRAME_TOO_BIG,      /* frame payload over the configured limit */

    /* messages (RFC 6455 5.4, 5.5.1, 8.1) */
    WSG_ERR_MESSAGE_TOO_BIG,
    WSG_ERR_UNEXPECTED_CONTINUATION, /* continuation with no message started */
    WSG_ERR_EXPECTED_CONTINUATION,   /* new data frame inside a fragmented message */
    WSG_ERR_BAD_UTF8,
    WSG_ERR_BAD_CLOSE_PAYLOAD,  /* close payload of length 1 */
    WSG_ERR_BAD_CLOSE_CODE,     /* code that may not appear on the wire */
    WSG_ERR_BAD_CLOSE_REASON,   /* close reason not valid UTF-8 */
    WSG_ERR_BAD_DEFLATE,        /* compressed message is not valid deflate (RFC 7692) */

    /* handshake (RFC 6455 4.1, 4.2) */
    WSG_ERR_HS_MALFORMED,       /* not parseable as an HTTP/1.1 message */
    WSG_ERR_HS_TOO_LARGE,       /* request/response head over the limit */
    WSG_ERR_HS_METHOD,          /* method is not GET */
    WSG_ERR_HS_HTTP_VERSION,    /* not HTTP/1.1 or later */
    WSG_ERR_HS_NO_HOST,
    WSG_ERR_HS_UPGRADE,         /* Upgrade does not list "websocket" */
    WSG_ERR_HS_CONNECTION,      /* Connection does not list "Upgrade" */
    WSG_ERR_HS_KEY,             /* Sec-WebSocket-Key missing or not 16 bytes */
    WSG_ERR_HS_VERSION,         /* Sec-WebSocket-Version missing or not 13 */
    WSG_ERR_HS_BODY,            /* request carries a body */
    WSG_ERR_HS_STATUS,          /* response status is not 101 */
    WSG_ERR_HS_ACCEPT,          /* Sec-WebSocket-Accept missing or wrong */
    WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED, /* server picked one we did not offer */
    WSG_ERR_HS_SUBPROTOCOL_REQUIRED,    /* no common subprotocol, one required */
    WSG_ERR_HS_EXTENSION,       /* response names an extension not offered */
    WSG_ERR_HS_ORIGIN,          /* Origin not allowed */

    /* connection life (daemon and client) */
    WSG_ERR_TIMEOUT,
    WSG_ERR_SLOW_CONSUMER,
    WSG_ERR_TOO_MANY_CONNECTIONS,
    WSG_ERR_GOING_AWAY,
    WSG_ERR_INTERNAL,

    WSG_ERR__COUNT
};

/* A static, human-readable message; never NULL, even for unknown values. */
const char *wsg_strerror(enum wsg_err err);

/* The RFC 6455 close code to fail a connection with, or 0 when the error
 * is not a reason to close (WSG_OK, WSG_ERR_INCOMPLETE) or is a handshake
 * error (no WebSocket connection exists yet). */
uint16_t wsg_err_close_code(enum wsg_err err);

/* The HTTP status to refuse a handshake with (400, 403, 426, 503, ...),
 * or 0 for errors that do not belong to the server handshake. */
int wsg_err_http_status(enum wsg_err err);

#endif
