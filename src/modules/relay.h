/*
 * relay.h - one WebSocket connection relayed to a byte stream (a backend
 * socket, or a process's stdin/stdout), with the framing both ways and
 * flow control both ways.  Shared by the proxy and exec modules.
 *
 * The module owns the bufferevents and their callbacks and calls in here:
 *   relay_from_client()      from on_message: encode into wr's output; over
 *                            high_watermark bytes queued, pause the client
 *   relay_backend_drained()  from wr's write callback (its low watermark
 *                            is high_watermark / 2): resume the client
 *   relay_from_backend()     from rd's read callback: cut rd's input into
 *                            messages and send them; when the client's
 *                            output is full (WSG_SEND_FULL) stop reading rd
 *   relay_client_drained()   from on_drain: read rd again
 * So neither direction buffers more than its watermark plus one message.
 *
 * Framings (both directions):
 *   lines            a message is the bytes before a "\n" (no "\r"
 *                    stripping); to the client text if valid UTF-8, else
 *                    binary.  A client message is written followed by "\n",
 *                    as is: one with newlines in it arrives as several lines.
 *                    A backend line longer than max_message closes 1009.
 *   length-prefixed  4-byte big-endian payload length, 1 type byte (1 text,
 *                    2 binary), the payload.  Other types, text that is not
 *                    UTF-8: close 1011; a length over max_message: 1009.
 *   raw              every read becomes one binary message; client
 *                    messages are written as they are.
 */
#ifndef WSG_MODULES_RELAY_H
#define WSG_MODULES_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "wsgate/conn.h"

struct bufferevent;

enum relay_framing { RELAY_LINES, RELAY_LENGTH_PREFIXED, RELAY_RAW };

#define RELAY_LP_HEADER 5          /* length-prefixed: 4 length bytes + type */
#define RELAY_LP_TEXT 1
#define RELAY_LP_BINARY 2

/* Close codes (RFC 6455 7.4.1 and the IANA registry). */
#define RELAY_CLOSE_NORMAL 1000
#define RELAY_CLOSE_TOO_BIG 1009
#define RELAY_CLOSE_INTERNAL 1011
#define RELAY_CLOSE_TRY_AGAIN 1013
#define RELAY_CLOSE_BAD_GATEWAY 1014

struct relay_limits {
    enum relay_framing framing;
    size_t max_message;            /* backend → client: longest line or message */
    size_t high_watermark;         /* client → backend: queued bytes before pausing */
};

struct relay {
    struct wsg_conn *conn;         /* NULL once the client has gone */
    struct bufferevent *rd;        /* backend → client; NULL once closed */
    struct bufferevent *wr;        /* client → backend (may be rd); NULL: discard */
    const struct relay_limits *lim;
    size_t scanned;                /* lines: bytes of rd's input known to hold no "\n" */
    bool rd_paused;                /* the client's output is full */
    bool client_paused;            /* the backend's input is full */
    bool failed;                   /* closed for a framing error */
    bool eof;                      /* rd reached its end */
};

void relay_init(struct relay *r, struct wsg_conn *c, struct bufferevent *rd,
                struct bufferevent *wr, const struct relay_limits *lim);

/* 0, or -1 if the message could not be queued (out of memory). */
int relay_from_client(struct relay *r, const struct wsg_message *m);
void relay_backend_drained(struct relay *r);
void relay_from_backend(struct relay *r);
void relay_client_drained(struct relay *r);

/* rd reached EOF: pass on what is buffered; what is left then is an
 * unterminated last line (sent as a message) or a truncated
 * length-prefixed message (closes 1011).  Returns true when all of it has
 * been passed on and the client is still there: the module closes it now.
 * False: closed already, or the client's output is full (r->rd_paused):
 * call again after relay_client_drained() has unpaused it. */
bool relay_backend_eof(struct relay *r);

/* The wr side is gone (the process closed its stdin): drop client data
 * from now on, and never leave the client paused for it. */
void relay_discard_client(struct relay *r);

/* ---- options, shared by the modules ------------------------------------ */

struct relay_name {
    const char *name;
    int value;
};

/* Each returns 0, or -1 with "NAME must be ..." in err. */
int relay_opt_enum(const config_setting_t *s, const struct relay_name *names, int *out,
                   char *err, size_t errlen);
int relay_opt_bool(const config_setting_t *s, bool *out, char *err, size_t errlen);
int relay_opt_seconds(const config_setting_t *s, uint32_t *ms, char *err, size_t errlen);
int relay_opt_size(const config_setting_t *s, size_t *out, char *err, size_t errlen);
int relay_opt_uint(const config_setting_t *s, unsigned *out, char *err, size_t errlen);
int relay_opt_string(const config_setting_t *s, char **out, char *err, size_t errlen);
/* A string or an array/list of non-empty strings; *out NULL-terminated. */
int relay_opt_strings(const config_setting_t *s, char ***out, size_t *n, char *err,
                      size_t errlen);
void relay_free_strings(char **v);

/* "unknown option \"x\" (valid: a, b)" for the NULL-terminated names. */
void relay_unknown_option(const char *name, const char *const *valid, char *err,
                          size_t errlen);

/* Split wsg_conn_peer()'s "addr:port" / "[v6]:port". */
void relay_split_peer(const char *peer, char *addr, size_t addrlen, char *port,
                      size_t portlen);

bool relay_utf8_valid(const uint8_t *s, size_t len);

#endif
