/*
 * wsgate/client.h - the WebSocket client library (RFC 6455), ws:// and wss://.
 *
 * Three layers, each usable on its own:
 *
 *   URLs      wsg_client_url_parse(): ws:// and wss:// URLs into host, port,
 *             request target and Host header; anything else is a clear error.
 *   Options   struct wsg_client_opts, built with setters before connecting:
 *             subprotocols, extra headers, Origin, timeouts, size limit,
 *             keepalive, TLS trust and name checks.
 *   Clients   struct wsg_client, event-driven on a libevent event_base the
 *             caller runs (callbacks for open, message, drain, error,
 *             close), and struct wsg_client_sync, a blocking wrapper with
 *             its own private event_base for scripts and tests.
 *
 * The message types (enum wsg_message_type, struct wsg_message, enum
 * wsg_send_result) are the server side's, from wsgate/conn.h, so that code
 * handling messages works the same on both ends.
 *
 * TLS (wss://) verifies the server by default: the chain against the system
 * CA store (or a CA file), and the URL's host name or IP address (or the SNI
 * name when one is set) against the certificate.  TLS 1.2 is the minimum.
 *
 * Functions that can fail for a reason worth reading take a buffer (err,
 * errlen; err may be NULL) for a one-line message and return an enum
 * wsg_client_err.  Nothing here prints.
 *
 * Writing to a socket whose peer has gone raises SIGPIPE: programs using
 * this library should ignore it (signal(SIGPIPE, SIG_IGN)), as wsgate and
 * wsgated do.  Host names are resolved with getaddrinfo(3), which blocks;
 * IP literals never do.  A client is used from one thread at a time.
 */
#ifndef WSGATE_CLIENT_H
#define WSGATE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsgate/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct ssl_st;

/* What went wrong, by what a caller would do about it. */
enum wsg_client_err {
    WSG_CLIENT_OK = 0,
    WSG_CLIENT_ERR_URL,             /* not a usable ws:// or wss:// URL */
    WSG_CLIENT_ERR_OPTION,          /* a bad option, or a CA file that does not load */
    WSG_CLIENT_ERR_NOMEM,
    WSG_CLIENT_ERR_CONNECT,         /* name not resolved, refused, unreachable, timed out */
    WSG_CLIENT_ERR_TLS,             /* TLS handshake or certificate verification failed */
    WSG_CLIENT_ERR_HANDSHAKE,       /* the server refused or botched the HTTP upgrade */
    WSG_CLIENT_ERR_PROTOCOL,        /* the server broke RFC 6455 after the upgrade */
    WSG_CLIENT_ERR_TIMEOUT,         /* no pong, no close reply; sync calls: wait expired */
    WSG_CLIENT_ERR_CONNECTION_LOST, /* closed or reset without a close handshake */
    WSG_CLIENT_ERR_CLOSED,          /* sync calls: the connection has ended */
    WSG_CLIENT_ERR_STATE,           /* the call does not fit the connection's state */
};

/* A static description of the category; never NULL. */
const char *wsg_client_strerror(enum wsg_client_err err);

/* ---- URLs --------------------------------------------------------------- */

#define WSG_CLIENT_URL_MAX 8192     /* longest URL accepted */

struct wsg_client_url {
    bool tls;                /* wss:// */
    char *host;              /* no brackets: "example.com", "127.0.0.1", "::1" */
    bool host_is_ip;         /* an IPv4 or IPv6 literal: no SNI, IP check */
    uint16_t port;           /* default 80 (ws) or 443 (wss) */
    char *target;            /* path and query: "/" at least, "/chat?room=1" */
    char *host_header;       /* Host header: host, [v6], ":port" unless default */
};

/* Parse ws://host[:port][/path][?query] or wss://...  The scheme is
 * case-insensitive; IPv6 literals go in brackets.  Refused, with a message
 * naming the problem: other schemes, user information (user@host), a
 * fragment (#...; RFC 6455 3), an empty host, a port that is empty, not a
 * number or out of 1-65535, spaces, control or non-ASCII characters (use
 * %XX), and URLs over WSG_CLIENT_URL_MAX bytes.  On success *u owns its
 * strings: release them with wsg_client_url_clear(). */
enum wsg_client_err wsg_client_url_parse(const char *url, struct wsg_client_url *u,
                                         char *err, size_t errlen);

/* Free the strings of a parsed URL and zero it; a zeroed URL is fine. */
void wsg_client_url_clear(struct wsg_client_url *u);

/* ---- options ------------------------------------------------------------ */

/* Defaults (milliseconds and bytes). */
#define WSG_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define WSG_CLIENT_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define WSG_CLIENT_DEFAULT_CLOSE_TIMEOUT_MS 5000
#define WSG_CLIENT_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024)

struct wsg_client_opts;

/* New options with the defaults above, TLS verification on, no
 * subprotocol, no Origin, keepalive off.  NULL when out of memory. */
struct wsg_client_opts *wsg_client_opts_new(void);
void wsg_client_opts_free(struct wsg_client_opts *o);

/* Offer a subprotocol (Sec-WebSocket-Protocol); call once per protocol,
 * in order of preference.  Must be an HTTP token, offered once. */
enum wsg_client_err wsg_client_opts_add_protocol(struct wsg_client_opts *o,
                                                 const char *protocol,
                                                 char *err, size_t errlen);

/* Add a header to the upgrade request.  The name must be an HTTP token,
 * and not one the library writes itself (Host, Upgrade, Connection,
 * Sec-WebSocket-*, Origin: use the options for those); the value may not
 * hold CR, LF or other control characters. */
enum wsg_client_err wsg_client_opts_add_header(struct wsg_client_opts *o,
                                               const char *name, const char *value,
                                               char *err, size_t errlen);

/* Same, from one "Name: value" string (as curl -H takes it). */
enum wsg_client_err wsg_client_opts_add_header_line(struct wsg_client_opts *o,
                                                    const char *line,
                                                    char *err, size_t errlen);

/* The Origin header (none by default); NULL removes it. */
enum wsg_client_err wsg_client_opts_set_origin(struct wsg_client_opts *o,
                                               const char *origin,
                                               char *err, size_t errlen);

/* Timeouts in milliseconds, 0 for none.  connect: TCP connect (all the
 * addresses a name resolves to); handshake: from TCP connected to the 101
 * response, TLS included; close: for the server's close reply, and then
 * for it to close TCP (RFC 6455 7.1.1: the server closes first). */
void wsg_client_opts_set_connect_timeout(struct wsg_client_opts *o, unsigned ms);
void wsg_client_opts_set_handshake_timeout(struct wsg_client_opts *o, unsigned ms);
void wsg_client_opts_set_close_timeout(struct wsg_client_opts *o, unsigned ms);

/* Largest message accepted from the server (all fragments); a bigger one
 * fails the connection with 1009.  0: no limit. */
void wsg_client_opts_set_max_message(struct wsg_client_opts *o, uint64_t bytes);

/* Send a ping after ms of silence from the server; no answer within another
 * ms closes the connection (1001, WSG_CLIENT_ERR_TIMEOUT).  0: off. */
void wsg_client_opts_set_ping_interval(struct wsg_client_opts *o, unsigned ms);

/* Trust only the CAs in this PEM file instead of the system store; NULL
 * goes back to the system store.  The file is loaded at connect time. */
enum wsg_client_err wsg_client_opts_set_ca_file(struct wsg_client_opts *o,
                                                const char *path,
                                                char *err, size_t errlen);

/* The TLS server name (SNI) to send, and then the name the certificate
 * must match.  Default: the URL's host, or no SNI when that is an IP
 * literal (whose address the certificate must then list).  NULL: default. */
enum wsg_client_err wsg_client_opts_set_sni(struct wsg_client_opts *o,
                                            const char *name,
                                            char *err, size_t errlen);

/* Check that the certificate names the host (default true).  false still
 * verifies the chain. */
void wsg_client_opts_set_verify_host(struct wsg_client_opts *o, bool on);

/* Skip every certificate check (chain and name): wss:// still encrypts
 * but no longer knows who it talks to.  Default false. */
void wsg_client_opts_set_insecure(struct wsg_client_opts *o, bool on);

/* Offer permessage-deflate (RFC 7692; default false).  The offer asks
 * for nothing ("permessage-deflate; client_max_window_bits"): the server
 * may limit either window or turn off context takeover, and a server that
 * declines gives an ordinary uncompressed connection.  When agreed,
 * compressed messages are inflated before on_message (max_message then
 * limits the inflated size too), and text and binary messages of 64 bytes
 * or more are sent compressed unless that would not make them smaller. */
void wsg_client_opts_set_compression(struct wsg_client_opts *o, bool enabled);

/* ---- the event-driven client -------------------------------------------- */

struct wsg_client;

/* Callbacks, all optional, all on the event loop.  For each connect, the
 * last one is on_close, exactly once; on_error, when the connection ends
 * because of a failure, comes right before it.  From inside any callback a
 * client may send, close, or even wsg_client_free() itself (no callback
 * follows that). */
struct wsg_client_callbacks {
    /* The server accepted the upgrade: messages may be sent now. */
    void (*on_open)(struct wsg_client *c, void *arg);

    /* A complete text or binary message (fragments joined, text checked
     * to be UTF-8); m->data is valid during the call.  Messages that
     * arrive after we sent a close, before the server's, still come. */
    void (*on_message)(struct wsg_client *c, const struct wsg_message *m, void *arg);

    /* Everything queued has been written to the kernel (flow control). */
    void (*on_drain)(struct wsg_client *c, void *arg);

    /* Why the connection failed: a category and a one-line message such as
     * "connection refused", "certificate verify failed: unable to get
     * local issuer certificate" or "server refused the upgrade: HTTP/1.1
     * 403 Forbidden". */
    void (*on_error)(struct wsg_client *c, enum wsg_client_err err,
                     const char *msg, void *arg);

    /* The end.  code: the close code the server sent (1005 when its close
     * frame had none), or 1006 when no close frame came; reason: its
     * reason (not NUL-terminated, reason_len bytes). */
    void (*on_close)(struct wsg_client *c, uint16_t code, const char *reason,
                     size_t reason_len, void *arg);
};

/* A client on base, with a copy of opts (NULL: defaults); opts may be freed
 * afterwards.  NULL when out of memory. */
struct wsg_client *wsg_client_new(struct event_base *base,
                                  const struct wsg_client_opts *opts,
                                  const struct wsg_client_callbacks *cb, void *arg);

/* Start connecting (once per client).  Errors found before any I/O (a bad
 * URL, a CA file that does not load) are returned here and no callback
 * runs; everything later, name resolution included, is reported through
 * on_error and on_close from the event loop, never from inside this call. */
enum wsg_client_err wsg_client_connect(struct wsg_client *c, const char *url,
                                       char *err, size_t errlen);

/* Queue a text (valid UTF-8, not checked) or binary message, masked with a
 * fresh key.  WSG_SEND_OK, or WSG_SEND_CLOSED when not open (before
 * on_open, or once a close was sent or received), or WSG_SEND_ERROR (bad
 * type, out of memory). */
enum wsg_send_result wsg_client_send(struct wsg_client *c, enum wsg_message_type type,
                                     const void *data, size_t len);

/* Queue a ping with up to 125 bytes of payload (a pong is answered
 * automatically; this is for checking the server by hand). */
enum wsg_send_result wsg_client_ping(struct wsg_client *c, const void *data, size_t len);

/* Start the close handshake with a code valid on the wire (1000, 1001,
 * 3000-4999...; 0 for a close frame without a code) and a reason of up to
 * 123 bytes of UTF-8 (longer is cut).  The client then waits for the
 * server's close and for it to close TCP, up to the close timeout each.
 * Before on_open, abandons the connection attempt (on_close with 1006).
 * WSG_SEND_ERROR for an invalid code, WSG_SEND_CLOSED when already
 * closing or closed. */
enum wsg_send_result wsg_client_close(struct wsg_client *c, uint16_t code,
                                      const char *reason);

/* Free the client.  An open connection is dropped without a close
 * handshake and without callbacks.  NULL is a no-op. */
void wsg_client_free(struct wsg_client *c);

/* Bytes queued and not yet written to the kernel. */
size_t wsg_client_pending(const struct wsg_client *c);

/* The subprotocol the server chose, or NULL. */
const char *wsg_client_subprotocol(const struct wsg_client *c);

/* The peer's address as "address:port" ("[v6]:port") once TCP is
 * connected, else NULL. */
const char *wsg_client_peer(const struct wsg_client *c);

/* The upgrade request as sent and the server's response head as received
 * (NUL-terminated, CRLFs kept), or NULL when there is none yet: for
 * diagnostics, e.g. after a refused upgrade. */
const char *wsg_client_request_head(const struct wsg_client *c);
const char *wsg_client_response_head(const struct wsg_client *c);

/* The OpenSSL SSL object of a wss:// connection (NULL for ws:// or before
 * TCP is connected), for reading the version, cipher or certificate. */
struct ssl_st *wsg_client_ssl(const struct wsg_client *c);

/* ---- the blocking client ------------------------------------------------ */

/* A client running its own event_base inside its calls: nothing happens on
 * the connection (not even pongs) between calls.  Timeouts are in
 * milliseconds; a negative one waits as long as the connection's own
 * timeouts allow. */
struct wsg_client_sync;

/* Connect and complete the upgrade, or fail with the reason in err. */
enum wsg_client_err wsg_client_sync_open(struct wsg_client_sync **out, const char *url,
                                         const struct wsg_client_opts *opts,
                                         int timeout_ms, char *err, size_t errlen);

/* Send a message and wait until it is written to the kernel. */
enum wsg_client_err wsg_client_sync_send(struct wsg_client_sync *s,
                                         enum wsg_message_type type,
                                         const void *data, size_t len, int timeout_ms);

/* Wait for the next message.  WSG_CLIENT_OK: *m is valid until the next
 * call on s.  WSG_CLIENT_ERR_TIMEOUT: nothing within timeout_ms, the
 * connection is still open.  WSG_CLIENT_ERR_CLOSED: the server closed (see
 * wsg_client_sync_close_code).  Anything else: the connection failed. */
enum wsg_client_err wsg_client_sync_recv(struct wsg_client_sync *s,
                                         struct wsg_message *m, int timeout_ms);

/* Close (code and reason as for wsg_client_close) and wait for the close
 * handshake and the end of the connection.  WSG_CLIENT_OK when it closed
 * cleanly, or closed before the call. */
enum wsg_client_err wsg_client_sync_close(struct wsg_client_sync *s, uint16_t code,
                                          const char *reason, int timeout_ms);

/* After the end: the server's close code (1005: none given, 1006: no close
 * frame) and reason; 0 and "" while open. */
uint16_t wsg_client_sync_close_code(const struct wsg_client_sync *s);
const char *wsg_client_sync_close_reason(const struct wsg_client_sync *s);

/* The message of the last failure, "" if none. */
const char *wsg_client_sync_error(const struct wsg_client_sync *s);

/* The underlying client, for the accessors above (subprotocol, heads). */
struct wsg_client *wsg_client_sync_client(const struct wsg_client_sync *s);

/* Drop the connection if still open and free everything.  NULL: no-op. */
void wsg_client_sync_free(struct wsg_client_sync *s);

#ifdef __cplusplus
}
#endif

#endif
