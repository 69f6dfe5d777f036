/*
 * handshake.h - RFC 6455 section 4 opening handshake, both roles.
 *
 * Parsing is zero-copy in the picohttpparser manner: parsed requests and
 * responses point into the caller's buffer, which must outlive them.
 * Validation works on a plain array of headers, so the daemon can feed it
 * headers that evhttp already parsed and the client headers it parsed
 * itself.  Header names compare case-insensitively; token lists
 * ("Connection: keep-alive, Upgrade") are split on commas and trimmed;
 * repeated headers count as one comma-joined list (RFC 7230 3.2.2).
 */
#ifndef WSG_PROTO_HANDSHAKE_H
#define WSG_PROTO_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define WSG_HS_KEY_LEN 24        /* base64 of 16 bytes */
#define WSG_HS_ACCEPT_LEN 28     /* base64 of a SHA-1 */
#define WSG_HS_MAX_HEADERS 64
#define WSG_HS_MAX_HEAD 8192     /* longest request/response head we parse */

struct wsg_header {
    const char *name;
    size_t name_len;
    const char *value;       /* leading/trailing whitespace removed */
    size_t value_len;
};

struct wsg_hs_request {
    const char *method;
    size_t method_len;
    const char *target;      /* request-target: path and query */
    size_t target_len;
    int http_major, http_minor;
    struct wsg_header headers[WSG_HS_MAX_HEADERS];
    size_t nheaders;
};

struct wsg_hs_response {
    int http_major, http_minor;
    int status;
    const char *reason;
    size_t reason_len;
    struct wsg_header headers[WSG_HS_MAX_HEADERS];
    size_t nheaders;
};

/* What a valid client request told us; pointers into the headers. */
struct wsg_hs_info {
    const char *key;         /* Sec-WebSocket-Key, WSG_HS_KEY_LEN chars */
    const char *host;
    size_t host_len;
    const char *origin;      /* NULL if absent */
    size_t origin_len;
};

/* Parse a request head ("GET / HTTP/1.1\r\n...\r\n\r\n").
 * WSG_OK: *consumed is the head's length (bytes after it are WebSocket
 *   data the client sent early).  WSG_ERR_INCOMPLETE: no blank line yet.
 * WSG_ERR_HS_TOO_LARGE: no end within WSG_HS_MAX_HEAD bytes or more than
 *   WSG_HS_MAX_HEADERS headers.  WSG_ERR_HS_MALFORMED otherwise. */
enum wsg_err wsg_hs_parse_request(const char *buf, size_t len,
                                  struct wsg_hs_request *req,
                                  size_t *consumed);

/* Same for a response head ("HTTP/1.1 101 Switching Protocols\r\n..."). */
enum wsg_err wsg_hs_parse_response(const char *buf, size_t len,
                                   struct wsg_hs_response *resp,
                                   size_t *consumed);

/* Find a header (first occurrence) by name; NULL if absent. */
const struct wsg_header *wsg_hs_find_header(const struct wsg_header *hdrs,
                                            size_t n, const char *name);

/* Does any header called name list token (case-insensitive)? */
bool wsg_hs_header_has_token(const struct wsg_header *hdrs, size_t n,
                             const char *name, const char *token);

/* Server side, RFC 6455 4.2.1: method GET, HTTP/1.1 or later, Host,
 * Upgrade lists "websocket", Connection lists "Upgrade", a key that decodes
 * to 16 bytes, Sec-WebSocket-Version 13, no Content-Length (other than 0)
 * or Transfer-Encoding.  method may be NULL when the HTTP layer has checked
 * it already; http_minor as parsed. */
enum wsg_err wsg_hs_check_request(const char *method, size_t method_len,
                                  int http_major, int http_minor,
                                  const struct wsg_header *hdrs, size_t n,
                                  struct wsg_hs_info *info);

/* Choose a subprotocol: the first of the server's list (its preference
 * order) that the client offered in any Sec-WebSocket-Protocol header.
 * Returns its index in server_protos, or -1 when there is none in common
 * (or the client offered none). */
int wsg_hs_select_subprotocol(const struct wsg_header *hdrs, size_t n,
                              const char *const *server_protos,
                              size_t nserver);

/* accept = base64(SHA-1(key + GUID)), NUL-terminated. */
void wsg_hs_accept_key(const char *key, size_t key_len,
                       char accept[WSG_HS_ACCEPT_LEN + 1]);

/* 16 bytes from OpenSSL's RNG, base64, NUL-terminated. */
enum wsg_err wsg_hs_generate_key(char key[WSG_HS_KEY_LEN + 1]);

/* Write the 101 response head (ends with the blank line).  protocol and
 * extensions may be NULL.  Returns its length, or 0 if cap is too small. */
size_t wsg_hs_build_response(char *out, size_t cap, const char *key,
                             const char *protocol, const char *extensions);

/* Client request options. */
struct wsg_hs_client_opts {
    const char *host;          /* Host header value, with ":port" if not default */
    const char *target;        /* path and query, e.g. "/chat?room=1" */
    const char *key;           /* from wsg_hs_generate_key */
    const char *const *protocols; /* offered subprotocols, or NULL */
    size_t nprotocols;
    const char *origin;        /* NULL: no Origin header */
    const char *extensions;    /* NULL: no Sec-WebSocket-Extensions */
    const struct wsg_header *extra; /* extra headers, or NULL */
    size_t nextra;
};

/* Write the client's request head.  Returns its length, or 0 if cap is
 * too small or an option would break the request (CR/LF in a value). */
size_t wsg_hs_build_request(char *out, size_t cap,
                            const struct wsg_hs_client_opts *o);

/* Client side, RFC 6455 4.1: status 101, Upgrade websocket, Connection
 * Upgrade, the right Sec-WebSocket-Accept, a subprotocol only if one was
 * offered and it is one of them, no extension we did not offer
 * (extensions_offered false: any Sec-WebSocket-Extensions fails).
 * *selected is the chosen index into o->protocols or -1. */
enum wsg_err wsg_hs_check_response(const struct wsg_hs_response *resp,
                                   const struct wsg_hs_client_opts *o,
                                   bool extensions_offered, int *selected);

#endif
