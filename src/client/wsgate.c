/*
 * wsgate.c - the command-line WebSocket client.
 *
 *   wsgate [options] ws://host:port/path
 *
 * Interactive mode (the default) runs one event loop over the connection
 * and stdin: each stdin line goes out as a text message (or each chunk
 * read as a binary message with --binary), each message received is
 * printed on stdout, and the end of stdin starts the close handshake.
 * --once uses the blocking API instead: all of stdin as one message, one
 * reply printed, close.
 *
 * The exit status tells scripts what happened (see usage()).
 */
#include "wsg_autoconf.h" /* PACKAGE_VERSION */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "wsgate/client.h"

#include "close.h"
#include "utf8.h"

enum exit_status {
    ST_OK = 0,          /* closed normally */
    ST_LOCAL = 1,       /* our side: stdin, stdout, memory, no reply */
    ST_USAGE = 2,       /* bad option or URL */
    ST_PEER_CLOSE = 3,  /* the server closed with an error code */
    ST_CONNECT = 4,     /* resolve, refused, unreachable, connect timeout */
    ST_TLS = 5,         /* TLS handshake or certificate verification */
    ST_HANDSHAKE = 6,   /* upgrade refused or invalid */
    ST_PROTOCOL = 7,    /* the server broke RFC 6455 */
    ST_LOST = 8,        /* no close handshake: reset, timeouts */
};

#define STDIN_CHUNK 65536
#define STDIN_PAUSE_BYTES (1u << 20)   /* stop reading stdin above this backlog */

struct cli {
    /* options */
    const char *url;
    struct wsg_client_opts *opts;
    bool binary;
    bool raw;
    bool once;
    bool verbose;
    uint16_t close_code;
    int timeout_ms;                /* --timeout, -1: none */
    unsigned wait_ms;              /* --wait */

    /* run time */
    struct event_base *base;
    struct wsg_client *c;
    struct event *stdin_ev;
    struct event *wait_ev;         /* --wait after the end of stdin */
    struct event *sig_ev[2];
    struct evbuffer *line;         /* a partial stdin line */
    unsigned long lineno;
    bool stdin_done;
    bool stdin_paused;
    bool we_closed;                /* the close was ours (stdin ended, signal) */
    bool input_skipped;            /* a line was not UTF-8 */
    bool failed;                   /* on_error ran: status is set */
    int status;
};

static void
usage(FILE *f)
{
    fprintf(f,
"NAME\n"
"    wsgate - WebSocket client for the command line\n"
"\n"
"SYNOPSIS\n"
"    wsgate [OPTIONS] ws://HOST[:PORT][/PATH][?QUERY]\n"
"    wsgate [OPTIONS] wss://HOST[:PORT][/PATH][?QUERY]\n"
"\n"
"DESCRIPTION\n"
"    Connects to a WebSocket server (RFC 6455), sends each line read from\n"
"    stdin as a text message (without its newline; a CR before it is\n"
"    dropped too) and prints every message received on stdout, one per\n"
"    line: text as it is, binary as hexadecimal.  When stdin ends, wsgate\n"
"    sends a close (1000 unless --close-code; after --wait SECS if given),\n"
"    prints what still arrives and exits once the server has closed.\n"
"    Lines that are not UTF-8 are not sent (a warning names them; the\n"
"    exit status is then 1).\n"
"    IPv6 literals go in brackets: ws://[::1]:8080/.\n"
"\n"
"OPTIONS\n"
"    -b, --binary          send stdin as binary messages, one per chunk read\n"
"                          (with --once: all of stdin as one binary message)\n"
"    -r, --raw             print received messages as raw bytes, with\n"
"                          nothing added between them\n"
"    -1, --once            send all of stdin as one message, wait for one\n"
"                          reply, print it and close (for scripts)\n"
"    -p, --protocol NAME   offer a subprotocol; repeat for several, in order\n"
"                          of preference\n"
"    -H, --header 'NAME: VALUE'\n"
"                          add a header to the upgrade request (repeatable)\n"
"    -o, --origin ORIGIN   send an Origin header\n"
"        --compress        offer permessage-deflate (RFC 7692): if the server\n"
"                          agrees, messages of 64 bytes or more go compressed\n"
"        --close-code N    the close code sent when stdin ends (default 1000;\n"
"                          1000-1003, 1007-1014 or 3000-4999)\n"
"        --ping-interval SECS\n"
"                          ping after SECS of silence from the server, and\n"
"                          give up if another SECS pass without an answer\n"
"        --connect-timeout SECS\n"
"                          give up connecting after SECS (default 10); the\n"
"                          TLS and HTTP handshake get another 10\n"
"    -t, --timeout SECS    with --once: wait at most SECS for the reply\n"
"    -w, --wait SECS       when stdin ends, keep printing what arrives for\n"
"                          SECS before closing (many servers drop replies\n"
"                          still owed once our close arrives)\n"
"        --cacert FILE     trust only the CA certificates in FILE (PEM)\n"
"                          instead of the system store\n"
"        --sni NAME        the TLS server name to send, and to expect in the\n"
"                          certificate (default: the URL's host)\n"
"    -k, --insecure        do not verify the server's certificate at all\n"
"    -v, --verbose         show the connection, TLS and handshake on stderr\n"
"    -V, --version         print the version and exit\n"
"    -h, --help            print this help and exit\n"
"\n"
"EXIT STATUS\n"
"    0   the connection closed normally (1000, 1001 or no code), or after\n"
"        our close whatever code the server echoed\n"
"    1   a local problem: stdin or stdout failed, a line was not UTF-8,\n"
"        with --once the server closed without replying\n"
"    2   bad usage: an unknown or invalid option, an invalid URL\n"
"    3   the server closed the connection with an error code (the code and\n"
"        reason are printed)\n"
"    4   no connection: the name did not resolve, the connection was\n"
"        refused, the host unreachable, or the connect timed out\n"
"    5   TLS failed: handshake error or certificate verification failure\n"
"    6   the server rejected the upgrade (its HTTP status line is printed)\n"
"        or answered it wrongly (Sec-WebSocket-Accept, subprotocol)\n"
"    7   the server broke the WebSocket protocol (bad frame, invalid UTF-8,\n"
"        message over 16 MiB)\n"
"    8   the connection was lost without a close handshake, a ping went\n"
"        unanswered, or --timeout expired\n"
"    130, 143  interrupted by SIGINT or SIGTERM (a close with 1001 is sent;\n"
"        a second signal ends wsgate at once)\n"
"\n"
"EXAMPLES\n"
"    echo hello | wsgate ws://127.0.0.1:8080/echo\n"
"    wsgate -p chat.v2 -p chat.v1 -H 'Authorization: Bearer T' wss://host/chat\n"
"    wsgate --binary --raw ws://127.0.0.1:8080/echo < in.bin > out.bin\n"
"    printf '{\"op\":\"ping\"}' | wsgate --once --timeout 5 wss://host/api\n");
}

static int
status_for(enum wsg_client_err e)
{
    switch (e) {
    case WSG_CLIENT_OK: return ST_OK;
    case WSG_CLIENT_ERR_URL:
    case WSG_CLIENT_ERR_OPTION: return ST_USAGE;
    case WSG_CLIENT_ERR_CONNECT: return ST_CONNECT;
    case WSG_CLIENT_ERR_TLS: return ST_TLS;
    case WSG_CLIENT_ERR_HANDSHAKE: return ST_HANDSHAKE;
    case WSG_CLIENT_ERR_PROTOCOL: return ST_PROTOCOL;
    case WSG_CLIENT_ERR_TIMEOUT:
    case WSG_CLIENT_ERR_CONNECTION_LOST:
    case WSG_CLIENT_ERR_CLOSED: return ST_LOST;
    case WSG_CLIENT_ERR_NOMEM:
    case WSG_CLIENT_ERR_STATE: return ST_LOCAL;
    }
    return ST_LOCAL;
}

static bool
close_is_normal(uint16_t code)
{
    return code == WSG_CLOSE_NORMAL || code == WSG_CLOSE_GOING_AWAY ||
           code == WSG_CLOSE_NO_STATUS;
}

/* ---- output ------------------------------------------------------------- */

static bool
print_message(const struct cli *cli, const struct wsg_message *m)
{
    const uint8_t *p = m->data;
    bool ok;
    if (cli->raw) {
        ok = m->len == 0 || fwrite(p, 1, m->len, stdout) == m->len;
    } else if (m->type == WSG_MESSAGE_TEXT) {
        ok = (m->len == 0 || fwrite(p, 1, m->len, stdout) == m->len) && putchar('\n') != EOF;
    } else {
        static const char hex[] = "0123456789abcdef";
        char buf[512];
        size_t k = 0;
        ok = true;
        for (size_t i = 0; i < m->len && ok; i++) {
            buf[k++] = hex[p[i] >> 4];
            buf[k++] = hex[p[i] & 15];
            if (k == sizeof(buf)) {
                ok = fwrite(buf, 1, k, stdout) == k;
                k = 0;
            }
        }
        ok = ok && fwrite(buf, 1, k, stdout) == k && putchar('\n') != EOF;
    }
    return fflush(stdout) == 0 && ok;
}

/* A head's lines up to the blank line, each with a prefix. */
static void
print_head(const char *prefix, const char *head)
{
    for (const char *p = head; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, "\r\n");
        if (n == 0)
            break;
        fprintf(stderr, "%s%.*s\n", prefix, (int)n, p);
        p += n;
        p += p[0] == '\r' && p[1] == '\n' ? 2 : p[0] != '\0';
    }
}

static void
print_tls(struct wsg_client *c)
{
    SSL *ssl = wsg_client_ssl(c);
    if (ssl == NULL)
        return;
    fprintf(stderr, "* TLS %s, cipher %s\n", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert != NULL) {
        char subject[256], issuer[256];
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
        X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
        fprintf(stderr, "* certificate subject %s, issuer %s\n", subject, issuer);
        X509_free(cert);
    }
    long vr = SSL_get_verify_result(ssl);
    fprintf(stderr, "* certificate verification: %s\n",
            SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE ? "skipped (--insecure)"
            : X509_verify_cert_error_string(vr));
}

static void
print_handshake(struct wsg_client *c)
{
    const char *peer = wsg_client_peer(c);
    if (peer != NULL)
        fprintf(stderr, "* connected to %s\n", peer);
    print_tls(c);
    print_head("> ", wsg_client_request_head(c));
    print_head("< ", wsg_client_response_head(c));
}

/* ---- interactive mode --------------------------------------------------- */

static void
cli_stop_stdin(struct cli *cli)
{
    if (cli->stdin_ev != NULL)
        event_del(cli->stdin_ev);
    cli->stdin_done = true;
}

static void
cli_close(struct cli *cli, uint16_t code)
{
    cli_stop_stdin(cli);
    if (wsg_client_close(cli->c, code, NULL) == WSG_SEND_OK)
        cli->we_closed = true;
}

static void
cli_local_error(struct cli *cli, const char *what)
{
    fprintf(stderr, "wsgate: %s\n", what);
    if (cli->status == ST_OK)
        cli->status = ST_LOCAL;
    cli_close(cli, WSG_CLOSE_GOING_AWAY);
}

static void
cli_send(struct cli *cli, enum wsg_message_type type, const void *data, size_t len)
{
    if (type == WSG_MESSAGE_TEXT && !wsg_utf8_valid(data, len)) {
        fprintf(stderr, "wsgate: stdin line %lu is not valid UTF-8, not sent "
                "(--binary sends bytes)\n", cli->lineno);
        cli->input_skipped = true;
        return;
    }
    enum wsg_send_result r = wsg_client_send(cli->c, type, data, len);
    if (r == WSG_SEND_ERROR)
        cli_local_error(cli, "cannot queue a message: out of memory");
    else if (r == WSG_SEND_CLOSED)
        cli_stop_stdin(cli);   /* closing already: the end is on its way */
}

static void
cli_send_lines(struct cli *cli, bool eof)
{
    char *line;
    size_t n;
    while (!cli->stdin_done &&
           (line = evbuffer_readln(cli->line, &n, EVBUFFER_EOL_LF)) != NULL) {
        cli->lineno++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        cli_send(cli, WSG_MESSAGE_TEXT, line, n);
        free(line);
    }
    size_t rest = evbuffer_get_length(cli->line);
    if (eof && rest > 0 && !cli->stdin_done) {
        /* The last line without a newline is a line too. */
        cli->lineno++;
        cli_send(cli, WSG_MESSAGE_TEXT, evbuffer_pullup(cli->line, -1), rest);
        evbuffer_drain(cli->line, rest);
    }
}

static void
cli_stdin_readable(evutil_socket_t fd, short what, void *arg)
{
    struct cli *cli = arg;
    char buf[STDIN_CHUNK];
    (void)what;

    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        char msg[128];
        snprintf(msg, sizeof(msg), "cannot read stdin: %s", strerror(errno));
        cli_local_error(cli, msg);
        return;
    }
    if (cli->binary) {
        if (n > 0)
            cli_send(cli, WSG_MESSAGE_BINARY, buf, (size_t)n);
    } else {
        if (n > 0 && evbuffer_add(cli->line, buf, (size_t)n) != 0) {
            cli_local_error(cli, "out of memory");
            return;
        }
        cli_send_lines(cli, n == 0);
    }
    if (n == 0) {
        if (cli->stdin_done)
            return;
        if (cli->wait_ms > 0) {
            struct timeval tv = { cli->wait_ms / 1000, (cli->wait_ms % 1000) * 1000 };
            cli_stop_stdin(cli);
            evtimer_add(cli->wait_ev, &tv);
        } else {
            cli_close(cli, cli->close_code);
        }
        return;
    }
    /* Flow control: a slow server must not make us buffer all of stdin. */
    if (!cli->stdin_done && wsg_client_pending(cli->c) > STDIN_PAUSE_BYTES) {
        event_del(cli->stdin_ev);
        cli->stdin_paused = true;
    }
}

static void
cli_wait_over(evutil_socket_t fd, short what, void *arg)
{
    struct cli *cli = arg;
    (void)fd, (void)what;
    cli_close(cli, cli->close_code);
}

static void
cli_on_open(struct wsg_client *c, void *arg)
{
    struct cli *cli = arg;
    if (cli->verbose) {
        print_handshake(c);
        const char *proto = wsg_client_subprotocol(c);
        fprintf(stderr, "* subprotocol: %s\n", proto != NULL ? proto : "(none)");
    }
    if (event_add(cli->stdin_ev, NULL) != 0)
        cli_local_error(cli, "cannot watch stdin");
}

static void
cli_on_message(struct wsg_client *c, const struct wsg_message *m, void *arg)
{
    struct cli *cli = arg;
    (void)c;
    if (!print_message(cli, m)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "cannot write to stdout: %s", strerror(errno));
        cli_local_error(cli, msg);
    }
}

static void
cli_on_drain(struct wsg_client *c, void *arg)
{
    struct cli *cli = arg;
    (void)c;
    if (cli->stdin_paused && !cli->stdin_done) {
        cli->stdin_paused = false;
        event_add(cli->stdin_ev, NULL);
    }
}

static void
cli_on_error(struct wsg_client *c, enum wsg_client_err err, const char *msg, void *arg)
{
    struct cli *cli = arg;
    if (cli->verbose && err == WSG_CLIENT_ERR_HANDSHAKE) {
        print_head("> ", wsg_client_request_head(c));
        print_head("< ", wsg_client_response_head(c));
    }
    fprintf(stderr, "wsgate: %s\n", msg);
    cli->failed = true;
    cli->status = status_for(err);
}

static void
cli_on_close(struct wsg_client *c, uint16_t code, const char *reason, size_t reason_len,
             void *arg)
{
    struct cli *cli = arg;
    (void)c;
    if (cli->verbose)
        fprintf(stderr, "* closed with %u%s%.*s\n", (unsigned)code,
                reason_len > 0 ? ": " : "", (int)reason_len, reason);
    if (!cli->failed && !cli->we_closed && !close_is_normal(code)) {
        fprintf(stderr, "wsgate: the server closed the connection with %u%s%.*s\n",
                (unsigned)code, reason_len > 0 ? ": " : "", (int)reason_len, reason);
        cli->status = ST_PEER_CLOSE;
    }
    if (cli->status == ST_OK && cli->input_skipped)
        cli->status = ST_LOCAL;
    cli_stop_stdin(cli);
    if (cli->wait_ev != NULL)
        evtimer_del(cli->wait_ev);
    event_base_loopexit(cli->base, NULL);
}

static void
cli_signal(evutil_socket_t sig, short what, void *arg)
{
    struct cli *cli = arg;
    (void)what;
    if (cli->we_closed || wsg_client_close(cli->c, WSG_CLOSE_GOING_AWAY, NULL) != WSG_SEND_OK) {
        /* A second signal, or nothing to close politely: leave now. */
        cli->status = 128 + (int)sig;
        event_base_loopexit(cli->base, NULL);
        return;
    }
    cli->we_closed = true;
    cli_stop_stdin(cli);
    cli->status = 128 + (int)sig;      /* as a shell reports an interrupt */
}

static int
run_interactive(struct cli *cli)
{
    static const struct wsg_client_callbacks cbs = {
        .on_open = cli_on_open,
        .on_message = cli_on_message,
        .on_drain = cli_on_drain,
        .on_error = cli_on_error,
        .on_close = cli_on_close,
    };
    char err[512];

    /* poll, not epoll: stdin may be a regular file or /dev/null, which
     * epoll refuses. */
    struct event_config *ecfg = event_config_new();
    if (ecfg != NULL) {
        event_config_avoid_method(ecfg, "epoll");
        cli->base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (cli->base == NULL) {
        fprintf(stderr, "wsgate: cannot create the event loop\n");
        return ST_LOCAL;
    }
    cli->line = evbuffer_new();
    cli->stdin_ev = event_new(cli->base, STDIN_FILENO, EV_READ | EV_PERSIST,
                              cli_stdin_readable, cli);
    cli->wait_ev = evtimer_new(cli->base, cli_wait_over, cli);
    cli->sig_ev[0] = evsignal_new(cli->base, SIGINT, cli_signal, cli);
    cli->sig_ev[1] = evsignal_new(cli->base, SIGTERM, cli_signal, cli);
    cli->c = wsg_client_new(cli->base, cli->opts, &cbs, cli);
    int status = ST_LOCAL;
    if (cli->line == NULL || cli->stdin_ev == NULL || cli->wait_ev == NULL ||
        cli->sig_ev[0] == NULL ||
        cli->sig_ev[1] == NULL || cli->c == NULL) {
        fprintf(stderr, "wsgate: out of memory\n");
    } else {
        event_add(cli->sig_ev[0], NULL);
        event_add(cli->sig_ev[1], NULL);
        if (cli->verbose)
            fprintf(stderr, "* connecting to %s\n", cli->url);
        enum wsg_client_err e = wsg_client_connect(cli->c, cli->url, err, sizeof(err));
        if (e != WSG_CLIENT_OK) {
            fprintf(stderr, "wsgate: %s\n", err);
            status = status_for(e);
        } else {
            event_base_dispatch(cli->base);
            status = cli->status;
        }
    }
    wsg_client_free(cli->c);
    for (int i = 0; i < 2; i++)
        if (cli->sig_ev[i] != NULL)
            event_free(cli->sig_ev[i]);
    if (cli->stdin_ev != NULL)
        event_free(cli->stdin_ev);
    if (cli->wait_ev != NULL)
        event_free(cli->wait_ev);
    if (cli->line != NULL)
        evbuffer_free(cli->line);
    event_base_free(cli->base);
    return status;
}

/* ---- --once ------------------------------------------------------------- */

static bool
read_all(int fd, uint8_t **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r == 0) {
            *out = buf;
            *len = n;
            return true;
        }
        n += (size_t)r;
    }
    free(buf);
    return false;
}

static int
once_closed(struct wsg_client_sync *s, enum wsg_client_err e)
{
    uint16_t code = wsg_client_sync_close_code(s);
    const char *reason = wsg_client_sync_close_reason(s);
    if (e != WSG_CLIENT_ERR_CLOSED) {
        fprintf(stderr, "wsgate: %s\n", wsg_client_sync_error(s));
        return status_for(e);
    }
    if (!close_is_normal(code)) {
        fprintf(stderr, "wsgate: the server closed the connection with %u%s%s\n",
                (unsigned)code, reason[0] != '\0' ? ": " : "", reason);
        return ST_PEER_CLOSE;
    }
    fprintf(stderr, "wsgate: the server closed the connection (%u) without replying\n",
            (unsigned)code);
    return ST_LOCAL;
}

static int
run_once(struct cli *cli)
{
    enum wsg_message_type type = cli->binary ? WSG_MESSAGE_BINARY : WSG_MESSAGE_TEXT;
    struct wsg_client_sync *s = NULL;
    struct wsg_message m;
    uint8_t *data = NULL;
    size_t len = 0;
    char err[512];
    int status;

    if (!read_all(STDIN_FILENO, &data, &len)) {
        fprintf(stderr, "wsgate: cannot read stdin: %s\n", strerror(errno));
        return ST_LOCAL;
    }
    if (type == WSG_MESSAGE_TEXT && !wsg_utf8_valid(data, len)) {
        fprintf(stderr, "wsgate: stdin is not valid UTF-8 (--binary sends bytes)\n");
        free(data);
        return ST_LOCAL;
    }
    if (cli->verbose)
        fprintf(stderr, "* connecting to %s\n", cli->url);
    enum wsg_client_err e = wsg_client_sync_open(&s, cli->url, cli->opts, -1, err, sizeof(err));
    if (e != WSG_CLIENT_OK) {
        fprintf(stderr, "wsgate: %s\n", err);
        free(data);
        return status_for(e);
    }
    if (cli->verbose)
        print_handshake(wsg_client_sync_client(s));

    e = wsg_client_sync_send(s, type, data, len, cli->timeout_ms);
    free(data);
    if (e == WSG_CLIENT_OK)
        e = wsg_client_sync_recv(s, &m, cli->timeout_ms);
    if (e == WSG_CLIENT_OK) {
        status = ST_OK;
        if (!print_message(cli, &m)) {
            fprintf(stderr, "wsgate: cannot write to stdout: %s\n", strerror(errno));
            status = ST_LOCAL;
        }
        e = wsg_client_sync_close(s, cli->close_code, NULL, -1);
        if (e != WSG_CLIENT_OK && status == ST_OK) {
            fprintf(stderr, "wsgate: %s\n", wsg_client_sync_error(s));
            status = status_for(e);
        }
    } else if (e == WSG_CLIENT_ERR_TIMEOUT) {
        fprintf(stderr, "wsgate: no reply within the --timeout\n");
        status = ST_LOST;
        wsg_client_sync_close(s, WSG_CLOSE_GOING_AWAY, NULL, -1);
    } else {
        status = once_closed(s, e);
    }
    if (cli->verbose && wsg_client_sync_close_code(s) != 0)
        fprintf(stderr, "* closed with %u\n", (unsigned)wsg_client_sync_close_code(s));
    wsg_client_sync_free(s);
    return status;
}

/* ---- options ------------------------------------------------------------ */

static bool
parse_seconds(const char *s, unsigned *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > 4e6)
        return false;
    *ms = (unsigned)(v * 1000 + 0.5);
    return true;
}

static int
bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wsgate: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'wsgate --help'.\n");
    va_end(ap);
    return ST_USAGE;
}

enum long_only {
    OPT_CLOSE_CODE = 256,
    OPT_PING_INTERVAL,
    OPT_CONNECT_TIMEOUT,
    OPT_CACERT,
    OPT_SNI,
    OPT_COMPRESS,
};

static int
parse_args(struct cli *cli, int argc, char **argv, bool *exit_now)
{
    static const struct option longopts[] = {
        { "binary", no_argument, NULL, 'b' },
        { "raw", no_argument, NULL, 'r' },
        { "once", no_argument, NULL, '1' },
        { "protocol", required_argument, NULL, 'p' },
        { "header", required_argument, NULL, 'H' },
        { "origin", required_argument, NULL, 'o' },
        { "compress", no_argument, NULL, OPT_COMPRESS },
        { "close-code", required_argument, NULL, OPT_CLOSE_CODE },
        { "ping-interval", required_argument, NULL, OPT_PING_INTERVAL },
        { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
        { "timeout", required_argument, NULL, 't' },
        { "wait", required_argument, NULL, 'w' },
        { "cacert", required_argument, NULL, OPT_CACERT },
        { "sni", required_argument, NULL, OPT_SNI },
        { "insecure", no_argument, NULL, 'k' },
        { "verbose", no_argument, NULL, 'v' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char err[256];
    unsigned ms;
    int opt;

    *exit_now = false;
    while ((opt = getopt_long(argc, argv, "br1p:H:o:t:w:kvVh", longopts, NULL)) != -1) {
        enum wsg_client_err e = WSG_CLIENT_OK;
        switch (opt) {
        case 'b': cli->binary = true; break;
        case 'r': cli->raw = true; break;
        case '1': cli->once = true; break;
        case 'p': e = wsg_client_opts_add_protocol(cli->opts, optarg, err, sizeof(err)); break;
        case 'H': e = wsg_client_opts_add_header_line(cli->opts, optarg, err, sizeof(err)); break;
        case 'o': e = wsg_client_opts_set_origin(cli->opts, optarg, err, sizeof(err)); break;
        case OPT_CACERT: e = wsg_client_opts_set_ca_file(cli->opts, optarg, err, sizeof(err)); break;
        case OPT_SNI: e = wsg_client_opts_set_sni(cli->opts, optarg, err, sizeof(err)); break;
        case 'k': wsg_client_opts_set_insecure(cli->opts, true); break;
        case OPT_COMPRESS: wsg_client_opts_set_compression(cli->opts, true); break;
        case 'v': cli->verbose = true; break;
        case OPT_CLOSE_CODE: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v < 0 || v > 65535 ||
                !wsg_close_code_is_valid((uint16_t)v))
                return bad_usage("--close-code %s: not a code a close frame may carry "
                                 "(1000-1003, 1007-1014, 3000-4999)", optarg);
            cli->close_code = (uint16_t)v;
            break;
        }
        case OPT_PING_INTERVAL:
            if (!parse_seconds(optarg, &ms))
                return bad_usage("--ping-interval %s: not a number of seconds", optarg);
            wsg_client_opts_set_ping_interval(cli->opts, ms);
            break;
        case OPT_CONNECT_TIMEOUT:
            if (!parse_seconds(optarg, &ms))
                return bad_usage("--connect-timeout %s: not a number of seconds", optarg);
            wsg_client_opts_set_connect_timeout(cli->opts, ms);
            break;
        case 't':
            if (!parse_seconds(optarg, &ms) || ms > INT_MAX)
                return bad_usage("--timeout %s: not a number of seconds", optarg);
            cli->timeout_ms = (int)ms;
            break;
        case 'w':
            if (!parse_seconds(optarg, &cli->wait_ms))
                return bad_usage("--wait %s: not a number of seconds", optarg);
            break;
        case 'V':
            printf("wsgate %s\n", PACKAGE_VERSION);
            *exit_now = true;
            return ST_OK;
        case 'h':
            usage(stdout);
            *exit_now = true;
            return ST_OK;
        default:
            fprintf(stderr, "Try 'wsgate --help'.\n");
            return ST_USAGE;
        }
        if (e != WSG_CLIENT_OK)
            return bad_usage("%s", err);
    }
    if (optind + 1 != argc)
        return bad_usage("%s", optind == argc ? "no URL given"
                                              : "more than one URL given");
    cli->url = argv[optind];
    return ST_OK;
}

int
main(int argc, char **argv)
{
    struct cli cli = { .close_code = WSG_CLOSE_NORMAL, .timeout_ms = -1 };
    bool exit_now;

    cli.opts = wsg_client_opts_new();
    if (cli.opts == NULL) {
        fprintf(stderr, "wsgate: out of memory\n");
        return ST_LOCAL;
    }
    int status = parse_args(&cli, argc, argv, &exit_now);
    if (status == ST_OK && !exit_now) {
        /* A server that is already gone must not kill us through a write;
         * nor a reader of our stdout that went away (EPIPE instead). */
        signal(SIGPIPE, SIG_IGN);
        status = cli.once ? run_once(&cli) : run_interactive(&cli);
    }
    wsg_client_opts_free(cli.opts);
    return status;
}
