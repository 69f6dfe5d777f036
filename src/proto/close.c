/*
 * close.c - RFC 6455 section 5.5.1 close payloads and section 7.4 codes.
 *
 * A close payload is empty, or a 2-byte big-endian status code followed by
 * a UTF-8 reason; the whole payload is a control-frame payload, so at most
 * 125 bytes and the reason at most 123.
 *
 * Invariants:
 *   - wsg_close_parse accepts exactly what a conforming peer may send:
 *     nothing that fails here can come from a correct endpoint, so the
 *     caller fails the connection (1002, or 1007 for a bad reason).
 *   - wsg_close_build only ever produces payloads wsg_close_parse accepts:
 *     codes that may not be on the wire give an empty payload, and the
 *     reason is cut to its longest valid UTF-8 prefix that fits.
 */
#include "close.h"

#include <string.h>

#include "frame.h"
#include "utf8.h"

/* The status code takes 2 of a control frame's 125 payload bytes. */
#define WSG_CLOSE_MAX_REASON (WSG_CONTROL_MAX_PAYLOAD - 2)

bool
wsg_close_code_is_valid(uint16_t code)
{
    /* 1004 is reserved, 1005/1006/1015 are local-only pseudo codes and
     * 1016-2999 are unassigned (registry or future RFCs), so none of them
     * may be sent.  3000-3999 are registered for libraries and
     * frameworks, 4000-4999 are for private use: both are legal. */
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

enum wsg_err
wsg_close_parse(const uint8_t *payload, size_t len, uint16_t *code,
                const uint8_t **reason, size_t *reason_len)
{
    uint16_t c;

    if (len == 0) {
        /* Section 7.1.5: no status code received is reported as 1005. */
        if (code)
            *code = WSG_CLOSE_NO_STATUS;
        if (reason)
            *reason = payload;
        if (reason_len)
            *reason_len = 0;
        return WSG_OK;
    }
    if (len == 1)
        return WSG_ERR_BAD_CLOSE_PAYLOAD;   /* half a status code */

    c = (uint16_t)((payload[0] << 8) | payload[1]);
    if (!wsg_close_code_is_valid(c))
        return WSG_ERR_BAD_CLOSE_CODE;
    if (!wsg_utf8_valid(payload + 2, len - 2))
        return WSG_ERR_BAD_CLOSE_REASON;

    if (code)
        *code = c;
    if (reason)
        *reason = payload + 2;
    if (reason_len)
        *reason_len = len - 2;
    return WSG_OK;
}

/* Length of the longest prefix of s, at most max bytes, that is complete
 * valid UTF-8.  Cutting at a character boundary alone is not enough when
 * the caller's reason is itself invalid: the peer would reject the close
 * frame (and fail the connection) for a reason we chose to send. */
static size_t
utf8_valid_prefix(const uint8_t *s, size_t len, size_t max)
{
    struct wsg_utf8 v;
    size_t boundary = 0;

    if (len > max)
        len = max;
    wsg_utf8_init(&v);
    for (size_t i = 0; i < len; i++) {
        if (!wsg_utf8_feed(&v, s + i, 1))
            break;
        if (wsg_utf8_complete(&v))
            boundary = i + 1;
    }
    return boundary;
}

size_t
wsg_close_build(uint8_t out[125], uint16_t code, const char *reason,
                size_t reason_len)
{
    size_t n;

    /* 0 means "no status"; 1005, 1006, 1015 and other non-wire codes are
     * also represented on the wire by the absence of a code. */
    if (!wsg_close_code_is_valid(code))
        return 0;

    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)(code & 0xFF);
    if (reason == NULL || reason_len == 0)
        return 2;

    n = utf8_valid_prefix((const uint8_t *)reason, reason_len,
                          WSG_CLOSE_MAX_REASON);
    memcpy(out + 2, reason, n);
    return 2 + n;
}
