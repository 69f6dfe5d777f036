/*
 * fuzz_handshake_response.c - libFuzzer target for the client side of the
 * opening handshake: whatever a server may answer to our request.
 *
 * Runs parse_response and then check_response against fixed options: the
 * RFC 6455 1.2 key, so the seeds can carry a correct Sec-WebSocket-Accept,
 * and the offers "chat" and "superchat".  It also checks these properties
 * and aborts when one does not hold:
 * - consumed lies within the input.  Parsing just the head gives the same
 *   result, and any shorter prefix of it is INCOMPLETE.
 * - Header names and values point into the head, values without OWS at
 *   either end and without CR or LF.
 * - check_response reports only handshake errors.  It selects an offered
 *   index or -1.  Offering extensions can only turn a failure into a
 *   success, never the reverse.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/proto \
 *   src/proto/handshake.c src/proto/error.c \
 *   tests/fuzz/fuzz_handshake_response.c -lcrypto
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond))                                                          \
            abort();                                                          \
    } while (0)

static const char *const offered[] = { "chat", "superchat" };

static const struct wsg_hs_client_opts opts = {
    .host = "server.example.com",
    .target = "/chat",
    .key = "dGhlIHNhbXBsZSBub25jZQ==",   /* RFC 6455 1.2 */
    .protocols = offered,
    .nprotocols = 2,
};

static bool
within(const char *p, size_t len, const char *head, size_t head_len)
{
    return p >= head && len <= head_len && (size_t)(p - head) <= head_len - len;
}

static void
require_sane_headers(const struct wsg_header *h, size_t n, const char *head,
                     size_t head_len)
{
    REQUIRE(n <= WSG_HS_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(h[i].name_len > 0);
        REQUIRE(within(h[i].name, h[i].name_len, head, head_len));
        REQUIRE(within(h[i].value, h[i].value_len, head, head_len));
        if (h[i].value_len > 0) {
            char first = h[i].value[0], last = h[i].value[h[i].value_len - 1];
            REQUIRE(first != ' ' && first != '\t' && last != ' ' && last != '\t');
            REQUIRE(memchr(h[i].value, '\r', h[i].value_len) == NULL);
            REQUIRE(memchr(h[i].value, '\n', h[i].value_len) == NULL);
        }
    }
}

static bool
is_client_check_error(enum wsg_err rc)
{
    switch (rc) {
    case WSG_ERR_HS_STATUS:
    case WSG_ERR_HS_UPGRADE:
    case WSG_ERR_HS_CONNECTION:
    case WSG_ERR_HS_ACCEPT:
    case WSG_ERR_HS_SUBPROTOCOL_NOT_OFFERED:
    case WSG_ERR_HS_EXTENSION:
        return true;
    default:
        return false;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct wsg_hs_response resp;
    size_t consumed = 0;
    enum wsg_err rc = wsg_hs_parse_response(buf, size, &resp, &consumed);

    if (rc == WSG_ERR_INCOMPLETE) {
        REQUIRE(size < WSG_HS_MAX_HEAD);
        REQUIRE(wsg_hs_parse_response(buf, size / 2, &resp, &consumed) ==
                WSG_ERR_INCOMPLETE);
        return 0;
    }
    if (rc != WSG_OK) {
        REQUIRE(rc == WSG_ERR_HS_MALFORMED || rc == WSG_ERR_HS_TOO_LARGE);
        return 0;
    }
    REQUIRE(consumed > 0 && consumed <= size && consumed <= WSG_HS_MAX_HEAD);
    REQUIRE(resp.status >= 0 && resp.status <= 999);
    REQUIRE(within(resp.reason, resp.reason_len, buf, consumed));
    require_sane_headers(resp.headers, resp.nheaders, buf, consumed);

    size_t again = 0;
    struct wsg_hs_response resp2;
    REQUIRE(wsg_hs_parse_response(buf, consumed, &resp2, &again) == WSG_OK);
    REQUIRE(again == consumed && resp2.nheaders == resp.nheaders);
    REQUIRE(wsg_hs_parse_response(buf, consumed - 1, &resp2, &again) ==
            WSG_ERR_INCOMPLETE);

    int plain = -2, with_ext = -2;
    enum wsg_err rc_plain = wsg_hs_check_response(&resp, &opts, false, &plain);
    enum wsg_err rc_ext = wsg_hs_check_response(&resp, &opts, true, &with_ext);
    REQUIRE(rc_plain == WSG_OK || is_client_check_error(rc_plain));
    REQUIRE(rc_ext == WSG_OK || is_client_check_error(rc_ext));
    REQUIRE(rc_ext != WSG_ERR_HS_EXTENSION);
    REQUIRE(plain >= -1 && plain < 2 && with_ext >= -1 && with_ext < 2);
    if (rc_plain == WSG_OK) {
        REQUIRE(rc_ext == WSG_OK && plain == with_ext);
        REQUIRE(resp.status == 101);
    } else {
        REQUIRE(plain == -1);
    }
    return 0;
}
