/*
 * close.h - RFC 6455 section 7.4 close codes and close-frame payloads.
 */
#ifndef WSG_PROTO_CLOSE_H
#define WSG_PROTO_CLOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum wsg_close_code {
    WSG_CLOSE_NORMAL = 1000,
    WSG_CLOSE_GOING_AWAY = 1001,
    WSG_CLOSE_PROTOCOL_ERROR = 1002,
    WSG_CLOSE_UNSUPPORTED_DATA = 1003,
    WSG_CLOSE_NO_STATUS = 1005,      /* never on the wire */
    WSG_CLOSE_ABNORMAL = 1006,       /* never on the wire */
    WSG_CLOSE_INVALID_PAYLOAD = 1007,
    WSG_CLOSE_POLICY_VIOLATION = 1008,
    WSG_CLOSE_MESSAGE_TOO_BIG = 1009,
    WSG_CLOSE_MANDATORY_EXTENSION = 1010,
    WSG_CLOSE_INTERNAL_ERROR = 1011,
    WSG_CLOSE_SERVICE_RESTART = 1012,
    WSG_CLOSE_TRY_AGAIN_LATER = 1013,
    WSG_CLOSE_BAD_GATEWAY = 1014,
    WSG_CLOSE_TLS_HANDSHAKE = 1015,  /* never on the wire */
};

/* May this code appear in a close frame on the wire?  1000-1003, 1007-1014
 * (IANA registry) and 3000-4999; not 1004-1006, 1015, 1016-2999, <1000 or
 * >= 5000. */
bool wsg_close_code_is_valid(uint16_t code);

/* Parse a received close payload: empty (code 1005, no reason), or a valid
 * code followed by a UTF-8 reason.  Length 1, a bad code or a bad reason
 * are errors.  *reason points into payload. */
enum wsg_err wsg_close_parse(const uint8_t *payload, size_t len,
                             uint16_t *code, const uint8_t **reason,
                             size_t *reason_len);

/* Build a close payload into out (at least 125 bytes): code 0 gives an
 * empty payload; the reason is truncated to fit 123 bytes at a UTF-8
 * boundary.  Returns the payload length. */
size_t wsg_close_build(uint8_t out[125], uint16_t code,
                       const char *reason, size_t reason_len);

#endif
