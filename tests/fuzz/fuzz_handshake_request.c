/*
 * fuzz_handshake_request.c - libFuzzer target for the server side of the
 * opening handshake: whatever a client may send before its first frame.
 *
 * Runs parse_request, check_request and select_subprotocol as the daemon
 * does, and on success builds the 101.  It also checks the properties the
 * daemon relies on, and aborts when one does not hold, so a broken
 * property is reported like a crash:
 * - consumed lies within the input.  Parsing just the head gives the same
 *   result, and any shorter prefix of it is INCOMPLETE.
 * - INCOMPLETE happens only below WSG_HS_MAX_HEAD bytes.
 * - Header names and values point into the head.  Names are non-empty.
 *   Values have no OWS at either end and no CR or LF.
 * - A request that passes gets a 101 that our own client side parses and
 *   accepts, with the subprotocol the server picked.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/proto \
 *   src/proto/handshake.c src/proto/error.c \
 *   tests/fuzz/fuzz_handshake_request.c -lcrypto
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

static const char *const server_protos[] = { "chat", "superchat", "v2.json" };
#define NSERVER (sizeof server_protos / sizeof server_protos[0])

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

/* Our 101 must satisfy our own client. */
static void
require_response_accepted(const struct wsg_hs_info *info, int selected)
{
    char out[1024], key[WSG_HS_KEY_LEN + 1];
    const char *proto = selected >= 0 ? server_protos[selected] : NULL;
    size_t len = wsg_hs_build_response(out, sizeof out, info->key, proto, NULL);
    REQUIRE(len > 0 && len < sizeof out);

    struct wsg_hs_response resp;
    size_t consumed = 0;
    REQUIRE(wsg_hs_parse_response(out, len, &resp, &consumed) == WSG_OK);
    REQUIRE(consumed == len);

    memcpy(key, info->key, WSG_HS_KEY_LEN);
    key[WSG_HS_KEY_LEN] = '\0';
    struct wsg_hs_client_opts o = {
        .host = "h", .target = "/", .key = key,
        .protocols = server_protos, .nprotocols = NSERVER,
    };
    int got = -2;
    REQUIRE(wsg_hs_check_response(&resp, &o, false, &got) == WSG_OK);
    REQUIRE(got == selected);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct wsg_hs_request req;
    size_t consumed = 0;
    enum wsg_err rc = wsg_hs_parse_request(buf, size, &req, &consumed);

    if (rc == WSG_ERR_INCOMPLETE) {
        REQUIRE(size < WSG_HS_MAX_HEAD);
        REQUIRE(wsg_hs_parse_request(buf, size / 2, &req, &consumed) ==
                WSG_ERR_INCOMPLETE);
        return 0;
    }
    if (rc != WSG_OK) {
        REQUIRE(rc == WSG_ERR_HS_MALFORMED || rc == WSG_ERR_HS_TOO_LARGE);
        return 0;
    }
    REQUIRE(consumed > 0 && consumed <= size && consumed <= WSG_HS_MAX_HEAD);
    require_sane_headers(req.headers, req.nheaders, buf, consumed);
    REQUIRE(within(req.method, req.method_len, buf, consumed));
    REQUIRE(within(req.target, req.target_len, buf, consumed));

    /* Parsing must not depend on what follows the head, nor succeed early. */
    size_t again = 0;
    struct wsg_hs_request req2;
    REQUIRE(wsg_hs_parse_request(buf, consumed, &req2, &again) == WSG_OK);
    REQUIRE(again == consumed && req2.nheaders == req.nheaders);
    REQUIRE(wsg_hs_parse_request(buf, consumed - 1, &req2, &again) ==
            WSG_ERR_INCOMPLETE);
    REQUIRE(wsg_hs_parse_request(buf, consumed / 2, &req2, &again) ==
            WSG_ERR_INCOMPLETE);

    struct wsg_hs_info info;
    rc = wsg_hs_check_request(req.method, req.method_len, req.http_major,
                              req.http_minor, req.headers, req.nheaders, &info);
    int selected = wsg_hs_select_subprotocol(req.headers, req.nheaders,
                                             server_protos, NSERVER);
    REQUIRE(selected >= -1 && selected < (int)NSERVER);
    if (rc != WSG_OK)
        return 0;

    REQUIRE(within(info.key, WSG_HS_KEY_LEN, buf, consumed));
    REQUIRE(info.host_len > 0 && within(info.host, info.host_len, buf, consumed));
    REQUIRE(info.origin == NULL || within(info.origin, info.origin_len, buf, consumed));
    require_response_accepted(&info, selected);
    return 0;
}
