/*
 * fuzz_reader.c - libFuzzer target for the receive path: frame decoder,
 * unmasking and message assembler (struct wsg_reader).
 *
 * The first input byte picks the role, the RSV bits allowed and how the
 * rest is split into feeds, so one input exercises both roles and many
 * splits.  Invariants checked: the reader never consumes more than it is
 * given, always makes progress, delivers only well-formed messages (text is
 * valid UTF-8 unless compressed, control payloads <= 125 bytes, sizes within
 * the limits) and keeps returning its first error.
 */
#include <stdint.h>
#include <stdlib.h>

#include "close.h"
#include "message.h"
#include "utf8.h"

#define MAX_FRAME 4096
#define MAX_MESSAGE 16384

static void
check_message(const struct wsg_msg *m)
{
    if (m->len > MAX_MESSAGE)
        abort();
    switch (m->opcode) {
    case WSG_OP_TEXT:
        if (!m->compressed && !wsg_utf8_valid(m->data, m->len))
            abort();
        break;
    case WSG_OP_BINARY:
        break;
    case WSG_OP_CLOSE:
        if (m->len > WSG_CONTROL_MAX_PAYLOAD - 2 || !wsg_utf8_valid(m->data, m->len))
            abort();
        if (m->close_code != WSG_CLOSE_NO_STATUS && !wsg_close_code_is_valid(m->close_code))
            abort();
        break;
    case WSG_OP_PING:
    case WSG_OP_PONG:
        if (m->len > WSG_CONTROL_MAX_PAYLOAD)
            abort();
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    data++, size--;

    struct wsg_reader_limits lim = {
        .role = (ctl & 1) ? WSG_ROLE_CLIENT : WSG_ROLE_SERVER,
        .rsv_allowed = (ctl & 2) ? WSG_RSV1 : 0,
        .max_frame = MAX_FRAME,
        .max_message = MAX_MESSAGE,
    };
    size_t chunk = (ctl >> 2) == 0 ? size : (size_t)(ctl >> 2);
    struct wsg_reader r;
    wsg_reader_init(&r, &lim);

    enum wsg_err first_err = WSG_OK;
    size_t pos = 0;
    while (pos < size) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        while (n > 0) {
            size_t used = 0;
            struct wsg_msg m;
            enum wsg_err err = wsg_reader_feed(&r, data + pos, n, &used, &m);
            if (used > n)
                abort();
            pos += used, n -= used;
            if (err == WSG_OK) {
                check_message(&m);
                if (used == 0)
                    abort(); /* every message ends with a consumed byte */
                continue;
            }
            if (err == WSG_ERR_INCOMPLETE) {
                if (n != 0)
                    abort(); /* incomplete means all input was used */
                break;
            }
            if (first_err == WSG_OK)
                first_err = err;
            else if (err != first_err)
                abort(); /* errors are sticky */
            goto out;
        }
    }
out:
    if (first_err != WSG_OK) {
        size_t used;
        struct wsg_msg m;
        if (wsg_reader_feed(&r, (const uint8_t *)"\x81", 1, &used, &m) != first_err)
            abort();
    }
    wsg_reader_free(&r);
    return 0;
}
