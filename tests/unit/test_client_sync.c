/* test_client_sync.c - the client on loopback against a scripted server
 * thread that speaks RFC 6455 by hand: what the client sends (masked
 * frames, fresh keys, close echoes, pongs) and how it takes what a server
 * sends (data right behind the 101, pings, closes, protocol violations,
 * bad handshakes), through the blocking API; and the callback contract of
 * the event-driven API underneath it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "client_suites.h"
#include "handshake.h"
#include "wsgate/client.h"

/* ---- the scripted server -------------------------------------------------- */

struct fake;
typedef void (*script_fn)(struct fake *f, int fd);

struct fake {
    int lfd;
    uint16_t port;
    pthread_t thread;
    script_fn script;
    char failure[256];           /* first server-side check that failed */
    char key[WSG_HS_KEY_LEN + 1];
    uint8_t mask_keys[8][4];     /* keys of the client frames read */
    int nkeys;
};

static void
fake_fail(struct fake *f, const char *fmt, ...)
{
    if (f->failure[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->failure, sizeof(f->failure), fmt, ap);
    va_end(ap);
}

static void *
fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0) {
        fake_fail(f, "accept: %s", strerror(errno));
        return NULL;
    }
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    f->script(f, fd);
    close(fd);
    return NULL;
}

static int
listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void
fake_start(struct fake *f, script_fn script)
{
    memset(f, 0, sizeof(*f));
    f->lfd = listen_loopback(&f->port);
    f->script = script;
    ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void
fake_join(struct fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
    ck_assert_msg(f->failure[0] == '\0', "server side: %s", f->failure);
}

static void
url_of(const struct fake *f, char *url, size_t n, const char *path)
{
    snprintf(url, n, "ws://127.0.0.1:%u%s", (unsigned)f->port, path);
}

static bool
read_exact(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static void
write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Read the request head; remember its key. */
static bool
read_request(struct fake *f, int fd)
{
    char head[4096];
    size_t n = 0;
    while (n + 1 < sizeof(head)) {
        if (recv(fd, head + n, 1, 0) != 1) {
            fake_fail(f, "EOF or timeout inside the request head");
            return false;
        }
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    if (k == NULL) {
        fake_fail(f, "no key in %s", head);
        return false;
    }
    memcpy(f->key, k + 19, WSG_HS_KEY_LEN);
    f->key[WSG_HS_KEY_LEN] = '\0';
    return true;
}

/* A 101 with the right accept (or the given one), extra headers and bytes
 * written in the same send. */
static void
send_101(struct fake *f, int fd, const char *accept, const char *extra,
         const void *after, size_t after_len)
{
    char acc[WSG_HS_ACCEPT_LEN + 1], buf[1024];
    wsg_hs_accept_key(f->key, strlen(f->key), acc);
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                     accept != NULL ? accept : acc, extra != NULL ? extra : "");
    if (after_len > 0)
        memcpy(buf + n, after, after_len);
    write_all(fd, buf, (size_t)n + after_len);
}

static size_t
frame(uint8_t *out, uint8_t b0, const void *payload, size_t len, bool masked)
{
    size_t k = 0;
    out[k++] = b0;
    out[k++] = (uint8_t)((masked ? 0x80 : 0) | len);   /* len < 126 here */
    uint8_t key[4] = { 1, 2, 3, 4 };
    if (masked) {
        memcpy(out + k, key, 4);
        k += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[k + i] = ((const uint8_t *)payload)[i] ^ (masked ? key[i % 4] : 0);
    return k + len;
}

static void
send_frame(int fd, uint8_t b0, const void *payload, size_t len)
{
    uint8_t buf[256];
    write_all(fd, buf, frame(buf, b0, payload, len, false));
}

/* Read one client frame: must be masked (RFC 6455 5.1).  Returns the
 * opcode, or -1 on EOF. */
static int
read_frame(struct fake *f, int fd, uint8_t *payload, size_t *len)
{
    uint8_t h[2], key[4];
    if (!read_exact(fd, h, 2))
        return -1;
    if (!(h[1] & 0x80))
        fake_fail(f, "client frame not masked");
    uint64_t n = h[1] & 0x7f;
    if (n >= 126) {
        uint8_t ext[8];
        size_t el = n == 126 ? 2 : 8;
        if (!read_exact(fd, ext, el))
            return -1;
        n = 0;
        for (size_t i = 0; i < el; i++)
            n = n << 8 | ext[i];
    }
    if (n > 4096 || !read_exact(fd, key, 4) || !read_exact(fd, payload, (size_t)n))
        return -1;
    for (uint64_t i = 0; i < n; i++)
        payload[i] ^= key[i % 4];
    if (f->nkeys < 8)
        memcpy(f->mask_keys[f->nkeys++], key, 4);
    *len = (size_t)n;
    if (!(h[0] & 0x80))
        fake_fail(f, "client fragmented a frame");
    return h[0] & 0x0f;
}

static void
expect_frame(struct fake *f, int fd, int opcode, const void *payload, size_t len)
{
    uint8_t buf[4096];
    size_t n = 0;
    int op = read_frame(f, fd, buf, &n);
    if (op != opcode)
        fake_fail(f, "got opcode %d, want %d", op, opcode);
    else if (n != len || memcmp(buf, payload, len) != 0)
        fake_fail(f, "opcode %d: payload of %zu bytes differs (want %zu)", op, n, len);
}

/* After the close exchange the client leaves closing TCP to the server
 * (RFC 6455 7.1.1): no FIN from it for a while. */
static void
expect_client_waits(struct fake *f, int fd)
{
    struct timeval tv = { 0, 300000 };
    uint8_t b;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t r = recv(fd, &b, 1, 0);
    if (r == 0)
        fake_fail(f, "the client closed TCP before the server");
    else if (r > 0)
        fake_fail(f, "bytes after the close exchange");
}

/* ---- scripts -------------------------------------------------------------- */

static void
script_echo(struct fake *f, int fd)
{
    uint8_t hi[16];
    size_t n = frame(hi, 0x81, "hi", 2, false);
    if (!read_request(f, fd))
        return;
    send_101(f, fd, NULL, NULL, hi, n);      /* a frame in the same write */
    uint8_t buf[4096];
    size_t len;
    for (int i = 0; i < 3; i++) {
        int op = read_frame(f, fd, buf, &len);
        if (op != 0x1 && op != 0x2) {
            fake_fail(f, "message %d: opcode %d", i, op);
            return;
        }
        send_frame(fd, (uint8_t)(0x80 | op), buf, len);
    }
    expect_frame(f, fd, 0x8, "\x03\xe8" "done", 6);
    send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_client_waits(f, fd);
    shutdown(fd, SHUT_RDWR);
}

START_TEST(test_sync_echo_masked_with_fresh_keys_and_clean_close)
{
    struct fake f;
    struct wsg_client_sync *s;
    struct wsg_message m;
    char url[64], err[256];
    fake_start(&f, script_echo);
    url_of(&f, url, sizeof(url), "/echo");

    ck_assert_int_eq(wsg_client_sync_open(&s, url, NULL, 5000, err, sizeof(err)), 0);
    /* Bytes behind the 101 in the same segment are the first message. */
    ck_assert_int_eq(wsg_client_sync_recv(s, &m, 2000), 0);
    ck_assert_int_eq(m.type, WSG_MESSAGE_TEXT);
    ck_assert_uint_eq(m.len, 2);
    ck_assert(memcmp(m.data, "hi", 2) == 0);
    for (int i = 0; i < 3; i++) {
        char payload[32];
        int n = snprintf(payload, sizeof(payload), "message %d", i);
        enum wsg_message_type t = i == 1 ? WSG_MESSAGE_BINARY : WSG_MESSAGE_TEXT;
        ck_assert_int_eq(wsg_client_sync_send(s, t, payload, (size_t)n, 2000), 0);
        ck_assert_int_eq(wsg_client_sync_recv(s, &m, 2000), 0);
        ck_assert_int_eq(m.type, t);
        ck_assert_uint_eq(m.len, (size_t)n);
        ck_assert(memcmp(m.data, payload, (size_t)n) == 0);
    }
    ck_assert_int_eq(wsg_client_sync_close(s, 1000, "done", 5000), 0);
    ck_assert_uint_eq(wsg_client_sync_close_code(s), 1000);
    ck_assert_int_eq(wsg_client_sync_recv(s, &m, 100), WSG_CLIENT_ERR_CLOSED);
    wsg_client_sync_free(s);
    fake_join(&f);
    /* RFC 6455 5.3: a new key for every frame. */
    ck_assert_int_eq(f.nkeys, 4);
    ck_assert(memcmp(f.mask_keys[0], f.mask_keys[1], 4) != 0 ||
              memcmp(f.mask_keys[1], f.mask_keys[2], 4) != 0);
}
END_TEST

static void
script_ping_then_close_4001(struct fake *f, int fd)
{
    if (!read_request(f, fd))
        return;
    send_101(f, fd, NULL, NULL, NULL, 0);
    send_frame(fd, 0x89, "are you there", 13);
    expect_frame(f, fd, 0xA, "are you there", 13);     /* RFC 6455 5.5.3 */
    send_frame(fd, 0x88, "\x0f\xa1" "bye now", 9);     /* 4001 */
    expect_frame(f, fd, 0x8, "\x0f\xa1", 2);           /* the code echoed */
    shutdown(fd, SHUT_RDWR);
}

START_TEST(test_sync_pong_is_automatic_and_server_close_code_is_echoed)
{
    struct fake f;
    struct wsg_client_sync *s;
    struct wsg_message m;
    char url[64], err[256];
    fake_start(&f, script_ping_then_close_4001);
    url_of(&f, url, sizeof(url), "/");
    ck_assert_int_eq(wsg_client_sync_open(&s, url, NULL, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_sync_recv(s, &m, 5000), WSG_CLIENT_ERR_CLOSED);
    ck_assert_uint_eq(wsg_client_sync_close_code(s), 4001);
    ck_assert_str_eq(wsg_client_sync_close_reason(s), "bye now");
    ck_assert_str_eq(wsg_client_sync_error(s), "");
    wsg_client_sync_free(s);
    fake_join(&f);
}
END_TEST

static void
script_masked_frame(struct fake *f, int fd)
{
    uint8_t buf[64];
    if (!read_request(f, fd))
        return;
    send_101(f, fd, NULL, NULL, NULL, 0);
    write_all(fd, buf, frame(buf, 0x81, "masked", 6, true));
    /* The client fails the connection with 1002 (RFC 6455 5.1). */
    uint8_t p[256];
    size_t n;
    if (read_frame(f, fd, p, &n) != 0x8 || n < 2 || p[0] != 0x03 || p[1] != 0xea)
        fake_fail(f, "no close 1002 for a masked server frame");
    send_frame(fd, 0x88, "\x03\xea", 2);
    shutdown(fd, SHUT_RDWR);
}

START_TEST(test_sync_masked_server_frame_is_a_protocol_error)
{
    struct fake f;
    struct wsg_client_sync *s;
    struct wsg_message m;
    char url[64], err[256];
    fake_start(&f, script_masked_frame);
    url_of(&f, url, sizeof(url), "/");
    ck_assert_int_eq(wsg_client_sync_open(&s, url, NULL, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_sync_recv(s, &m, 5000), WSG_CLIENT_ERR_PROTOCOL);
    ck_assert_msg(strstr(wsg_client_sync_error(s), "server frame is masked") != NULL, "%s",
                  wsg_client_sync_error(s));
    wsg_client_sync_free(s);
    fake_join(&f);
}
END_TEST

static void
script_server_vanishes(struct fake *f, int fd)
{
    if (read_request(f, fd))
        send_101(f, fd, NULL, NULL, NULL, 0);
}

START_TEST(test_sync_eof_without_close_frame_is_connection_lost)
{
    struct fake f;
    struct wsg_client_sync *s;
    struct wsg_message m;
    char url[64], err[256];
    fake_start(&f, script_server_vanishes);
    url_of(&f, url, sizeof(url), "/");
    ck_assert_int_eq(wsg_client_sync_open(&s, url, NULL, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_sync_recv(s, &m, 5000), WSG_CLIENT_ERR_CONNECTION_LOST);
    ck_assert_uint_eq(wsg_client_sync_close_code(s), 1006);
    wsg_client_sync_free(s);
    fake_join(&f);
}
END_TEST

static void
script_403(struct fake *f, int fd)
{
    static const char resp[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    if (read_request(f, fd))
        write_all(fd, resp, sizeof(resp) - 1);
}

static void
script_bad_accept(struct fake *f, int fd)
{
    if (read_request(f, fd))
        send_101(f, fd, "dGhlIHNhbXBsZSBub25jZQ==AAAA", NULL, NULL, 0);
}

static void
script_unoffered_protocol(struct fake *f, int fd)
{
    if (read_request(f, fd))
        send_101(f, fd, NULL, "Sec-WebSocket-Protocol: evil\r\n", NULL, 0);
}

static void
script_extension(struct fake *f, int fd)
{
    if (read_request(f, fd))
        send_101(f, fd, NULL, "Sec-WebSocket-Extensions: permessage-deflate\r\n", NULL, 0);
}

static void
script_silent(struct fake *f, int fd)
{
    uint8_t b[4096];
    (void)f;
    while (recv(fd, b, sizeof(b), 0) > 0)
        ;
}

static void
handshake_fails(script_fn script, unsigned hs_timeout_ms, enum wsg_client_err want,
                const char *needle)
{
    struct fake f;
    struct wsg_client_sync *s = NULL;
    struct wsg_client_opts *o = wsg_client_opts_new();
    char url[64], err[256] = "";
    wsg_client_opts_add_protocol(o, "good", NULL, 0);
    wsg_client_opts_set_handshake_timeout(o, hs_timeout_ms);
    fake_start(&f, script);
    url_of(&f, url, sizeof(url), "/");
    enum wsg_client_err e = wsg_client_sync_open(&s, url, o, 5000, err, sizeof(err));
    ck_assert_msg(e == want, "got %d (%s), want %d", (int)e, err, (int)want);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, needle) != NULL, "\"%s\" lacks \"%s\"", err, needle);
    wsg_client_opts_free(o);
    fake_join(&f);
}

START_TEST(test_sync_refused_upgrade_names_the_status_line)
{
    handshake_fails(script_403, 5000, WSG_CLIENT_ERR_HANDSHAKE,
                    "server refused the upgrade: HTTP/1.1 403 Forbidden");
}
END_TEST

START_TEST(test_sync_wrong_accept_is_a_handshake_error)
{
    handshake_fails(script_bad_accept, 5000, WSG_CLIENT_ERR_HANDSHAKE,
                    "Sec-WebSocket-Accept missing or wrong");
}
END_TEST

START_TEST(test_sync_unoffered_subprotocol_is_a_handshake_error)
{
    handshake_fails(script_unoffered_protocol, 5000, WSG_CLIENT_ERR_HANDSHAKE,
                    "subprotocol that was not offered (\"evil\")");
}
END_TEST

START_TEST(test_sync_unoffered_extension_is_a_handshake_error)
{
    handshake_fails(script_extension, 5000, WSG_CLIENT_ERR_HANDSHAKE,
                    "extension that was not offered");
}
END_TEST

START_TEST(test_sync_silent_server_times_the_handshake_out)
{
    handshake_fails(script_silent, 200, WSG_CLIENT_ERR_HANDSHAKE,
                    "no upgrade response from the server within 200 ms");
}
END_TEST

START_TEST(test_sync_refused_port_is_a_connect_error)
{
    uint16_t port;
    int fd = listen_loopback(&port);
    close(fd);                    /* nothing listens there now */
    struct wsg_client_sync *s = NULL;
    char url[64], err[256];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", (unsigned)port);
    ck_assert_int_eq(wsg_client_sync_open(&s, url, NULL, 5000, err, sizeof(err)),
                     WSG_CLIENT_ERR_CONNECT);
    ck_assert_msg(strstr(err, "Connection refused") != NULL, "%s", err);
    ck_assert_msg(strstr(err, url + 5) != NULL || strstr(err, "127.0.0.1") != NULL, "%s", err);
}
END_TEST

START_TEST(test_sync_recv_times_out_and_connection_stays_usable)
{
    struct fake f;
    struct wsg_client_sync *s;
    struct wsg_message m;
    char url[64], err[256];
    fake_start(&f, script_echo);
    url_of(&f, url, sizeof(url), "/");
    ck_assert_int_eq(wsg_client_sync_open(&s, url, NULL, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_sync_recv(s, &m, 2000), 0);            /* "hi" */
    ck_assert_int_eq(wsg_client_sync_recv(s, &m, 50), WSG_CLIENT_ERR_TIMEOUT);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(wsg_client_sync_send(s, WSG_MESSAGE_TEXT, "x", 1, 2000), 0);
        ck_assert_int_eq(wsg_client_sync_recv(s, &m, 2000), 0);
    }
    ck_assert_int_eq(wsg_client_sync_close(s, 1000, "done", 5000), 0);
    wsg_client_sync_free(s);
    fake_join(&f);
}
END_TEST

/* ---- the event-driven API ------------------------------------------------ */

struct trace {
    char log[256];               /* callbacks in order: "o" open, "m" message,
                                    "e<err>" error, "c<code>" close */
    bool free_in_message;
    bool in_connect;
};

static void
trace_add(struct trace *t, const char *what)
{
    if (t->in_connect)
        strncat(t->log, "!", sizeof(t->log) - strlen(t->log) - 1);
    strncat(t->log, what, sizeof(t->log) - strlen(t->log) - 1);
}

static void
ev_open(struct wsg_client *c, void *arg)
{
    (void)c;
    trace_add(arg, "o");
}

static void
ev_message(struct wsg_client *c, const struct wsg_message *m, void *arg)
{
    struct trace *t = arg;
    (void)m;
    trace_add(t, "m");
    if (t->free_in_message)
        wsg_client_free(c);      /* no callback may follow, nothing may leak */
}

static void
ev_error(struct wsg_client *c, enum wsg_client_err e, const char *msg, void *arg)
{
    char buf[16];
    (void)c, (void)msg;
    snprintf(buf, sizeof(buf), "e%d", (int)e);
    trace_add(arg, buf);
}

static void
ev_close(struct wsg_client *c, uint16_t code, const char *r, size_t n, void *arg)
{
    char buf[16];
    (void)c, (void)r, (void)n;
    snprintf(buf, sizeof(buf), "c%u", (unsigned)code);
    trace_add(arg, buf);
}

static const struct wsg_client_callbacks tracing = {
    .on_open = ev_open, .on_message = ev_message, .on_error = ev_error, .on_close = ev_close,
};

static void
run_loop(struct event_base *base)
{
    for (int i = 0; i < 10000 && event_base_loop(base, EVLOOP_ONCE) == 0; i++)
        ;
}

START_TEST(test_events_refused_gives_error_then_close_never_inside_connect)
{
    uint16_t port;
    int fd = listen_loopback(&port);
    close(fd);
    struct event_base *base = event_base_new();
    struct trace t = { .in_connect = true };
    struct wsg_client *c = wsg_client_new(base, NULL, &tracing, &t);
    char url[64], err[128];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", (unsigned)port);
    ck_assert_int_eq(wsg_client_connect(c, url, err, sizeof(err)), 0);
    t.in_connect = false;
    run_loop(base);
    char want[32];
    snprintf(want, sizeof(want), "e%dc1006", (int)WSG_CLIENT_ERR_CONNECT);
    ck_assert_str_eq(t.log, want);
    wsg_client_free(c);
    event_base_free(base);
}
END_TEST

static void
script_hi_then_wait(struct fake *f, int fd)
{
    uint8_t hi[16];
    size_t n = frame(hi, 0x81, "hi", 2, false);
    if (!read_request(f, fd))
        return;
    send_101(f, fd, NULL, NULL, hi, n);
    send_frame(fd, 0x81, "second", 6);
    while (recv(fd, hi, sizeof(hi), 0) > 0)
        ;
}

START_TEST(test_events_free_inside_a_callback_ends_everything)
{
    struct fake f;
    struct event_base *base = event_base_new();
    struct trace t = { .free_in_message = true };
    char url[64], err[128];
    fake_start(&f, script_hi_then_wait);
    url_of(&f, url, sizeof(url), "/");
    struct wsg_client *c = wsg_client_new(base, NULL, &tracing, &t);
    ck_assert_int_eq(wsg_client_connect(c, url, err, sizeof(err)), 0);
    run_loop(base);
    /* The second message was behind the first: never delivered. */
    ck_assert_str_eq(t.log, "om");
    event_base_free(base);
    fake_join(&f);
}
END_TEST

START_TEST(test_events_close_before_open_abandons_with_1006)
{
    struct fake f;
    struct event_base *base = event_base_new();
    struct trace t = { 0 };
    char url[64], err[128];
    fake_start(&f, script_hi_then_wait);
    url_of(&f, url, sizeof(url), "/");
    struct wsg_client *c = wsg_client_new(base, NULL, &tracing, &t);
    ck_assert_int_eq(wsg_client_connect(c, url, err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_close(c, 1000, NULL), WSG_SEND_OK);
    ck_assert_int_eq(wsg_client_close(c, 1000, NULL), WSG_SEND_CLOSED);
    run_loop(base);
    ck_assert_str_eq(t.log, "c1006");
    wsg_client_free(c);
    event_base_free(base);
    /* The server may or may not have seen a connection: either is fine. */
    shutdown(f.lfd, SHUT_RDWR);
    pthread_join(f.thread, NULL);
    close(f.lfd);
}
END_TEST

static void
script_slow_101(struct fake *f, int fd)
{
    uint8_t b[64];
    if (!read_request(f, fd))
        return;
    usleep(300000);
    send_101(f, fd, NULL, NULL, NULL, 0);
    while (recv(fd, b, sizeof(b), 0) > 0)
        ;
}

/* Close while the upgrade is under way: the end comes at once (not at the
 * handshake timeout), and a 101 arriving afterwards opens nothing. */
static void
abandon_during_handshake(script_fn script)
{
    struct fake f;
    struct event_base *base = event_base_new();
    struct trace t = { 0 };
    char url[64], err[128];
    fake_start(&f, script);
    url_of(&f, url, sizeof(url), "/");
    struct wsg_client *c = wsg_client_new(base, NULL, &tracing, &t);
    ck_assert_int_eq(wsg_client_connect(c, url, err, sizeof(err)), 0);
    while (wsg_client_peer(c) == NULL && t.log[0] == '\0')
        event_base_loop(base, EVLOOP_ONCE);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    ck_assert_int_eq(wsg_client_close(c, 1000, NULL), WSG_SEND_OK);
    run_loop(base);
    gettimeofday(&t1, NULL);
    ck_assert_str_eq(t.log, "c1006");
    ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000, 2000);
    wsg_client_free(c);
    event_base_free(base);
    fake_join(&f);
}

START_TEST(test_events_close_during_handshake_ends_at_once)
{
    abandon_during_handshake(script_silent);
}
END_TEST

START_TEST(test_events_101_after_close_opens_nothing)
{
    abandon_during_handshake(script_slow_101);
}
END_TEST

Suite *
client_sync_suite(void)
{
    Suite *s = suite_create("client_sync");
    TCase *tc = tcase_create("loopback");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_sync_echo_masked_with_fresh_keys_and_clean_close);
    tcase_add_test(tc, test_sync_pong_is_automatic_and_server_close_code_is_echoed);
    tcase_add_test(tc, test_sync_masked_server_frame_is_a_protocol_error);
    tcase_add_test(tc, test_sync_eof_without_close_frame_is_connection_lost);
    tcase_add_test(tc, test_sync_refused_upgrade_names_the_status_line);
    tcase_add_test(tc, test_sync_wrong_accept_is_a_handshake_error);
    tcase_add_test(tc, test_sync_unoffered_subprotocol_is_a_handshake_error);
    tcase_add_test(tc, test_sync_unoffered_extension_is_a_handshake_error);
    tcase_add_test(tc, test_sync_silent_server_times_the_handshake_out);
    tcase_add_test(tc, test_sync_refused_port_is_a_connect_error);
    tcase_add_test(tc, test_sync_recv_times_out_and_connection_stays_usable);
    suite_add_tcase(s, tc);

    TCase *te = tcase_create("event_api");
    tcase_set_timeout(te, 20);
    tcase_add_test(te, test_events_refused_gives_error_then_close_never_inside_connect);
    tcase_add_test(te, test_events_free_inside_a_callback_ends_everything);
    tcase_add_test(te, test_events_close_before_open_abandons_with_1006);
    tcase_add_test(te, test_events_close_during_handshake_ends_at_once);
    tcase_add_test(te, test_events_101_after_close_opens_nothing);
    suite_add_tcase(s, te);
    return s;
}
