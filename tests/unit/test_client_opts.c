/* test_client_opts.c - client options: defaults, validation, copies, and
 * the errors wsg_client_connect reports before any I/O. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "client_suites.h"
#include "opts.h"
#include "wsgate/client.h"

static struct wsg_client_opts *o;
static char err[256];

static void
setup(void)
{
    o = wsg_client_opts_new();
    ck_assert_ptr_nonnull(o);
    err[0] = '\0';
}

static void
teardown(void)
{
    wsg_client_opts_free(o);
    o = NULL;
}

/* e is an option error whose message contains needle. */
static void
refused(enum wsg_client_err e, const char *needle)
{
    ck_assert_msg(e == WSG_CLIENT_ERR_OPTION, "accepted (%d), want a refusal with \"%s\"",
                  (int)e, needle);
    ck_assert_msg(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err, needle);
    err[0] = '\0';
}

START_TEST(test_opts_defaults)
{
    ck_assert_uint_eq(o->connect_timeout_ms, WSG_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS);
    ck_assert_uint_eq(o->handshake_timeout_ms, WSG_CLIENT_DEFAULT_HANDSHAKE_TIMEOUT_MS);
    ck_assert_uint_eq(o->close_timeout_ms, WSG_CLIENT_DEFAULT_CLOSE_TIMEOUT_MS);
    ck_assert_uint_eq(o->max_message, WSG_CLIENT_DEFAULT_MAX_MESSAGE);
    ck_assert_uint_eq(o->ping_interval_ms, 0);
    ck_assert(o->verify_host);
    ck_assert(!o->insecure);
    ck_assert_ptr_null(o->ca_file);
    ck_assert_ptr_null(o->sni);
    ck_assert_ptr_null(o->origin);
    ck_assert_uint_eq(o->nprotocols, 0);
    ck_assert_uint_eq(o->nheaders, 0);
}
END_TEST

START_TEST(test_opts_setters_store_values)
{
    wsg_client_opts_set_connect_timeout(o, 1);
    wsg_client_opts_set_handshake_timeout(o, 2);
    wsg_client_opts_set_close_timeout(o, 3);
    wsg_client_opts_set_ping_interval(o, 4);
    wsg_client_opts_set_max_message(o, 5);
    wsg_client_opts_set_verify_host(o, false);
    wsg_client_opts_set_insecure(o, true);
    ck_assert_uint_eq(o->connect_timeout_ms, 1);
    ck_assert_uint_eq(o->handshake_timeout_ms, 2);
    ck_assert_uint_eq(o->close_timeout_ms, 3);
    ck_assert_uint_eq(o->ping_interval_ms, 4);
    ck_assert_uint_eq(o->max_message, 5);
    ck_assert(!o->verify_host);
    ck_assert(o->insecure);
}
END_TEST

START_TEST(test_opts_subprotocols_kept_in_order)
{
    ck_assert_int_eq(wsg_client_opts_add_protocol(o, "chat.v2", err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_opts_add_protocol(o, "chat.v1", err, sizeof(err)), 0);
    ck_assert_uint_eq(o->nprotocols, 2);
    ck_assert_str_eq(o->protocols[0], "chat.v2");
    ck_assert_str_eq(o->protocols[1], "chat.v1");
}
END_TEST

START_TEST(test_opts_subprotocol_must_be_a_token_offered_once)
{
    /* RFC 6455 4.1: the values are tokens, joined with commas. */
    refused(wsg_client_opts_add_protocol(o, "chat v1", err, sizeof(err)), "not an HTTP token");
    refused(wsg_client_opts_add_protocol(o, "a,b", err, sizeof(err)), "not an HTTP token");
    refused(wsg_client_opts_add_protocol(o, "", err, sizeof(err)), "not an HTTP token");
    refused(wsg_client_opts_add_protocol(o, "x\r\nEvil: 1", err, sizeof(err)), "token");
    refused(wsg_client_opts_add_protocol(o, "caf\xc3\xa9", err, sizeof(err)), "token");
    ck_assert_int_eq(wsg_client_opts_add_protocol(o, "mqtt", err, sizeof(err)), 0);
    refused(wsg_client_opts_add_protocol(o, "mqtt", err, sizeof(err)), "offered twice");
    ck_assert_uint_eq(o->nprotocols, 1);
}
END_TEST

START_TEST(test_opts_header_added_with_trimmed_value)
{
    ck_assert_int_eq(wsg_client_opts_add_header(o, "X-Token", "  abc ", err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_opts_add_header_line(o, "Authorization:Bearer t0k",
                                                     err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_opts_add_header_line(o, "X-Empty:", err, sizeof(err)), 0);
    ck_assert_uint_eq(o->nheaders, 3);
    ck_assert_str_eq(o->headers[0].name, "X-Token");
    ck_assert_str_eq(o->headers[0].value, "abc");
    ck_assert_uint_eq(o->headers[0].value_len, 3);
    ck_assert_str_eq(o->headers[1].name, "Authorization");
    ck_assert_str_eq(o->headers[1].value, "Bearer t0k");
    ck_assert_str_eq(o->headers[2].value, "");
}
END_TEST

START_TEST(test_opts_header_injection_is_refused)
{
    refused(wsg_client_opts_add_header(o, "X-A", "v\r\nX-Evil: 1", err, sizeof(err)),
            "control character");
    refused(wsg_client_opts_add_header(o, "X-A", "v\n", err, sizeof(err)),
            "control character");
    refused(wsg_client_opts_add_header_line(o, "X-A: v\r\n\r\nGET /", err, sizeof(err)),
            "control character");
    refused(wsg_client_opts_add_header(o, "X-A", "nul\x01", err, sizeof(err)),
            "control character");
    ck_assert_uint_eq(o->nheaders, 0);
}
END_TEST

START_TEST(test_opts_header_name_must_be_a_token)
{
    refused(wsg_client_opts_add_header(o, "X A", "v", err, sizeof(err)), "not an HTTP token");
    refused(wsg_client_opts_add_header(o, "", "v", err, sizeof(err)), "not an HTTP token");
    refused(wsg_client_opts_add_header_line(o, ": v", err, sizeof(err)), "not an HTTP token");
    refused(wsg_client_opts_add_header_line(o, "X-A : v", err, sizeof(err)),
            "not an HTTP token");
    refused(wsg_client_opts_add_header_line(o, "no colon", err, sizeof(err)),
            "not \"Name: value\"");
    ck_assert_uint_eq(o->nheaders, 0);
}
END_TEST

START_TEST(test_opts_headers_of_the_handshake_are_reserved)
{
    static const char *const names[] = {
        "Host", "upgrade", "CONNECTION", "Origin", "Sec-WebSocket-Key",
        "sec-websocket-version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
        "Content-Length", "Transfer-Encoding",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        refused(wsg_client_opts_add_header(o, names[i], "x", err, sizeof(err)),
                "set by the client");
    refused(wsg_client_opts_add_header_line(o, "Host: evil", err, sizeof(err)),
            "set by the client");
    ck_assert_uint_eq(o->nheaders, 0);
}
END_TEST

START_TEST(test_opts_origin)
{
    ck_assert_int_eq(wsg_client_opts_set_origin(o, "https://a.example", err, sizeof(err)), 0);
    ck_assert_str_eq(o->origin, "https://a.example");
    refused(wsg_client_opts_set_origin(o, "", err, sizeof(err)), "non-empty");
    refused(wsg_client_opts_set_origin(o, "https://a\r\nX: y", err, sizeof(err)),
            "control characters");
    ck_assert_str_eq(o->origin, "https://a.example");
    ck_assert_int_eq(wsg_client_opts_set_origin(o, NULL, err, sizeof(err)), 0);
    ck_assert_ptr_null(o->origin);
}
END_TEST

START_TEST(test_opts_sni_must_be_a_dns_name)
{
    ck_assert_int_eq(wsg_client_opts_set_sni(o, "wsgate.test", err, sizeof(err)), 0);
    ck_assert_str_eq(o->sni, "wsgate.test");
    refused(wsg_client_opts_set_sni(o, "", err, sizeof(err)), "not a DNS host name");
    refused(wsg_client_opts_set_sni(o, "a b", err, sizeof(err)), "not a DNS host name");
    refused(wsg_client_opts_set_sni(o, "a..b", err, sizeof(err)), "not a DNS host name");
    refused(wsg_client_opts_set_sni(o, ".a", err, sizeof(err)), "not a DNS host name");
    refused(wsg_client_opts_set_sni(o, "[::1]", err, sizeof(err)), "not a DNS host name");
    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ".test");
    refused(wsg_client_opts_set_sni(o, label, err, sizeof(err)), "not a DNS host name");
    strcpy(label + 63, ".test");      /* 63 is the longest label */
    ck_assert_int_eq(wsg_client_opts_set_sni(o, label, err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_opts_set_sni(o, NULL, err, sizeof(err)), 0);
    ck_assert_ptr_null(o->sni);
}
END_TEST

START_TEST(test_opts_ca_file)
{
    refused(wsg_client_opts_set_ca_file(o, "", err, sizeof(err)), "empty CA file");
    ck_assert_int_eq(wsg_client_opts_set_ca_file(o, "/x/ca.pem", err, sizeof(err)), 0);
    ck_assert_str_eq(o->ca_file, "/x/ca.pem");
    ck_assert_int_eq(wsg_client_opts_set_ca_file(o, NULL, err, sizeof(err)), 0);
    ck_assert_ptr_null(o->ca_file);
}
END_TEST

START_TEST(test_opts_copy_is_deep)
{
    wsg_client_opts_add_protocol(o, "p1", NULL, 0);
    wsg_client_opts_add_protocol(o, "p2", NULL, 0);
    wsg_client_opts_add_header(o, "X-A", "1", NULL, 0);
    wsg_client_opts_set_origin(o, "https://o.example", NULL, 0);
    wsg_client_opts_set_sni(o, "s.example", NULL, 0);
    wsg_client_opts_set_ca_file(o, "/ca.pem", NULL, 0);
    wsg_client_opts_set_ping_interval(o, 1234);
    struct wsg_client_opts *c = wsg_client_opts_copy(o);
    ck_assert_ptr_nonnull(c);
    wsg_client_opts_free(o);
    o = NULL;
    ck_assert_uint_eq(c->nprotocols, 2);
    ck_assert_str_eq(c->protocols[1], "p2");
    ck_assert_uint_eq(c->nheaders, 1);
    ck_assert_str_eq(c->headers[0].name, "X-A");
    ck_assert_str_eq(c->headers[0].value, "1");
    ck_assert_str_eq(c->origin, "https://o.example");
    ck_assert_str_eq(c->sni, "s.example");
    ck_assert_str_eq(c->ca_file, "/ca.pem");
    ck_assert_uint_eq(c->ping_interval_ms, 1234);
    wsg_client_opts_free(c);
}
END_TEST

START_TEST(test_opts_free_null_is_a_noop)
{
    wsg_client_opts_free(NULL);
    wsg_client_free(NULL);
    wsg_client_sync_free(NULL);
}
END_TEST

/* ---- what wsg_client_connect refuses before any I/O ---------------------- */

static int callbacks_run;

static void
count_error(struct wsg_client *c, enum wsg_client_err e, const char *msg, void *arg)
{
    (void)c, (void)e, (void)msg, (void)arg;
    callbacks_run++;
}

static void
count_close(struct wsg_client *c, uint16_t code, const char *r, size_t n, void *arg)
{
    (void)c, (void)code, (void)r, (void)n, (void)arg;
    callbacks_run++;
}

static const struct wsg_client_callbacks counting = {
    .on_error = count_error, .on_close = count_close,
};

START_TEST(test_connect_bad_url_fails_at_once_without_callbacks)
{
    struct event_base *base = event_base_new();
    struct wsg_client *c = wsg_client_new(base, o, &counting, NULL);
    callbacks_run = 0;
    ck_assert_int_eq(wsg_client_connect(c, "http://127.0.0.1/", err, sizeof(err)),
                     WSG_CLIENT_ERR_URL);
    ck_assert_ptr_nonnull(strstr(err, "unsupported scheme"));
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(callbacks_run, 0);
    wsg_client_free(c);
    event_base_free(base);
}
END_TEST

START_TEST(test_connect_unreadable_ca_file_is_an_option_error)
{
    struct event_base *base = event_base_new();
    wsg_client_opts_set_ca_file(o, "/nonexistent/ca.pem", NULL, 0);
    struct wsg_client *c = wsg_client_new(base, o, &counting, NULL);
    ck_assert_int_eq(wsg_client_connect(c, "wss://127.0.0.1:1/", err, sizeof(err)),
                     WSG_CLIENT_ERR_OPTION);
    ck_assert_msg(strstr(err, "cannot read CA file /nonexistent/ca.pem") != NULL, "%s", err);
    wsg_client_free(c);
    event_base_free(base);
}
END_TEST

START_TEST(test_connect_ca_file_without_certificates_is_an_option_error)
{
    struct event_base *base = event_base_new();
    wsg_client_opts_set_ca_file(o, "/dev/null", NULL, 0);
    struct wsg_client *c = wsg_client_new(base, o, &counting, NULL);
    ck_assert_int_eq(wsg_client_connect(c, "wss://127.0.0.1:1/", err, sizeof(err)),
                     WSG_CLIENT_ERR_OPTION);
    ck_assert_msg(strstr(err, "cannot load CA file /dev/null") != NULL, "%s", err);
    wsg_client_free(c);
    event_base_free(base);
}
END_TEST

START_TEST(test_connect_only_once)
{
    struct event_base *base = event_base_new();
    struct wsg_client *c = wsg_client_new(base, o, &counting, NULL);
    ck_assert_int_eq(wsg_client_connect(c, "ws://127.0.0.1:1/", err, sizeof(err)), 0);
    ck_assert_int_eq(wsg_client_connect(c, "ws://127.0.0.1:1/", err, sizeof(err)),
                     WSG_CLIENT_ERR_STATE);
    /* Freed before the loop ever ran: nothing leaks, no callback. */
    callbacks_run = 0;
    wsg_client_free(c);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(callbacks_run, 0);
    event_base_free(base);
}
END_TEST

START_TEST(test_send_before_open_is_refused)
{
    struct event_base *base = event_base_new();
    struct wsg_client *c = wsg_client_new(base, o, &counting, NULL);
    ck_assert_int_eq(wsg_client_send(c, WSG_MESSAGE_TEXT, "x", 1), WSG_SEND_CLOSED);
    ck_assert_int_eq(wsg_client_send(c, (enum wsg_message_type)9, "x", 1), WSG_SEND_ERROR);
    ck_assert_int_eq(wsg_client_ping(c, "x", 126), WSG_SEND_ERROR);
    ck_assert_int_eq(wsg_client_close(c, 1005, NULL), WSG_SEND_ERROR);
    ck_assert_int_eq(wsg_client_close(c, 999, NULL), WSG_SEND_ERROR);
    ck_assert_int_eq(wsg_client_close(c, 1000, NULL), WSG_SEND_CLOSED);
    ck_assert_ptr_null(wsg_client_subprotocol(c));
    ck_assert_ptr_null(wsg_client_peer(c));
    ck_assert_ptr_null(wsg_client_ssl(c));
    ck_assert_uint_eq(wsg_client_pending(c), 0);
    wsg_client_free(c);
    event_base_free(base);
}
END_TEST

START_TEST(test_request_head_carries_the_options)
{
    struct event_base *base = event_base_new();
    wsg_client_opts_add_protocol(o, "chat.v2", NULL, 0);
    wsg_client_opts_add_protocol(o, "chat.v1", NULL, 0);
    wsg_client_opts_add_header(o, "X-Token", "abc", NULL, 0);
    wsg_client_opts_set_origin(o, "https://o.example", NULL, 0);
    struct wsg_client *c = wsg_client_new(base, o, &counting, NULL);
    ck_assert_int_eq(wsg_client_connect(c, "ws://[::1]:8080/chat?x=1", err, sizeof(err)), 0);
    const char *req = wsg_client_request_head(c);
    ck_assert_ptr_nonnull(req);
    ck_assert_msg(strncmp(req, "GET /chat?x=1 HTTP/1.1\r\n", 24) == 0, "%s", req);
    ck_assert_ptr_nonnull(strstr(req, "\r\nHost: [::1]:8080\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\nSec-WebSocket-Protocol: chat.v2, chat.v1\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\nOrigin: https://o.example\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\nX-Token: abc\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\nSec-WebSocket-Key: "));
    ck_assert_ptr_null(strstr(req, "Sec-WebSocket-Extensions"));
    ck_assert_str_eq(req + strlen(req) - 4, "\r\n\r\n");
    wsg_client_free(c);
    event_base_free(base);
}
END_TEST

Suite *
client_opts_suite(void)
{
    Suite *s = suite_create("client_opts");
    TCase *tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_opts_defaults);
    tcase_add_test(tc, test_opts_setters_store_values);
    tcase_add_test(tc, test_opts_subprotocols_kept_in_order);
    tcase_add_test(tc, test_opts_subprotocol_must_be_a_token_offered_once);
    tcase_add_test(tc, test_opts_header_added_with_trimmed_value);
    tcase_add_test(tc, test_opts_header_injection_is_refused);
    tcase_add_test(tc, test_opts_header_name_must_be_a_token);
    tcase_add_test(tc, test_opts_headers_of_the_handshake_are_reserved);
    tcase_add_test(tc, test_opts_origin);
    tcase_add_test(tc, test_opts_sni_must_be_a_dns_name);
    tcase_add_test(tc, test_opts_ca_file);
    tcase_add_test(tc, test_opts_copy_is_deep);
    tcase_add_test(tc, test_opts_free_null_is_a_noop);
    suite_add_tcase(s, tc);

    TCase *tc2 = tcase_create("connect_checks");
    tcase_add_checked_fixture(tc2, setup, teardown);
    tcase_add_test(tc2, test_connect_bad_url_fails_at_once_without_callbacks);
    tcase_add_test(tc2, test_connect_unreadable_ca_file_is_an_option_error);
    tcase_add_test(tc2, test_connect_ca_file_without_certificates_is_an_option_error);
    tcase_add_test(tc2, test_connect_only_once);
    tcase_add_test(tc2, test_send_before_open_is_refused);
    tcase_add_test(tc2, test_request_head_carries_the_options);
    suite_add_tcase(s, tc2);
    return s;
}
