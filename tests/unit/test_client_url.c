/* test_client_url.c - ws:// and wss:// URL parsing (RFC 6455 3). */
#include <stdlib.h>
#include <string.h>

#include "client_suites.h"
#include "wsgate/client.h"

static struct wsg_client_url u;
static char err[256];

static void
parse_ok(const char *url)
{
    err[0] = '\0';
    enum wsg_client_err e = wsg_client_url_parse(url, &u, err, sizeof(err));
    ck_assert_msg(e == WSG_CLIENT_OK, "%s refused: %s", url, err);
}

/* The URL is refused and the message names the problem. */
static void
parse_fails(const char *url, const char *needle)
{
    err[0] = '\0';
    enum wsg_client_err e = wsg_client_url_parse(url, &u, err, sizeof(err));
    ck_assert_msg(e == WSG_CLIENT_ERR_URL, "%s accepted (%d)", url, (int)e);
    ck_assert_msg(strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", url, err,
                  needle);
    ck_assert_ptr_null(u.host);
    ck_assert_ptr_null(u.target);
    ck_assert_ptr_null(u.host_header);
}

static void
teardown(void)
{
    wsg_client_url_clear(&u);
}

START_TEST(test_url_ws_defaults_port_80_and_path_slash)
{
    parse_ok("ws://example.com");
    ck_assert(!u.tls);
    ck_assert_str_eq(u.host, "example.com");
    ck_assert_uint_eq(u.port, 80);
    ck_assert_str_eq(u.target, "/");
    ck_assert_str_eq(u.host_header, "example.com");
    ck_assert(!u.host_is_ip);
}
END_TEST

START_TEST(test_url_wss_defaults_port_443)
{
    parse_ok("wss://example.com/");
    ck_assert(u.tls);
    ck_assert_uint_eq(u.port, 443);
    ck_assert_str_eq(u.target, "/");
    ck_assert_str_eq(u.host_header, "example.com");
}
END_TEST

START_TEST(test_url_scheme_is_case_insensitive_host_kept_as_written)
{
    parse_ok("WSS://Example.COM:8443/Chat");
    ck_assert(u.tls);
    ck_assert_str_eq(u.host, "Example.COM");
    ck_assert_uint_eq(u.port, 8443);
    ck_assert_str_eq(u.target, "/Chat");
    ck_assert_str_eq(u.host_header, "Example.COM:8443");
}
END_TEST

START_TEST(test_url_path_and_query_form_the_target)
{
    parse_ok("ws://h:8080/chat/room?id=1&x=%20y");
    ck_assert_str_eq(u.target, "/chat/room?id=1&x=%20y");
    ck_assert_str_eq(u.host_header, "h:8080");
}
END_TEST

START_TEST(test_url_query_without_path_gets_slash)
{
    /* RFC 6455 3: the resource name is "/" when the path is empty. */
    parse_ok("ws://h?x=1");
    ck_assert_str_eq(u.target, "/?x=1");
}
END_TEST

START_TEST(test_url_default_port_written_out_is_left_out_of_host_header)
{
    parse_ok("ws://h:80/");
    ck_assert_uint_eq(u.port, 80);
    ck_assert_str_eq(u.host_header, "h");
    wsg_client_url_clear(&u);
    parse_ok("wss://h:80/");
    ck_assert_str_eq(u.host_header, "h:80");
    wsg_client_url_clear(&u);
    parse_ok("wss://h:443/");
    ck_assert_str_eq(u.host_header, "h");
}
END_TEST

START_TEST(test_url_ipv4_literal_is_an_ip)
{
    parse_ok("ws://127.0.0.1:9000/echo");
    ck_assert(u.host_is_ip);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_uint_eq(u.port, 9000);
    ck_assert_str_eq(u.host_header, "127.0.0.1:9000");
}
END_TEST

START_TEST(test_url_not_quite_ipv4_is_a_name)
{
    parse_ok("ws://1.2.3.4.5/");
    ck_assert(!u.host_is_ip);
}
END_TEST

START_TEST(test_url_ipv6_literal_in_brackets)
{
    parse_ok("ws://[::1]:8080/p");
    ck_assert(u.host_is_ip);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_uint_eq(u.port, 8080);
    ck_assert_str_eq(u.target, "/p");
    ck_assert_str_eq(u.host_header, "[::1]:8080");
}
END_TEST

START_TEST(test_url_ipv6_literal_default_port)
{
    parse_ok("wss://[2001:db8::1]");
    ck_assert_uint_eq(u.port, 443);
    ck_assert_str_eq(u.host, "2001:db8::1");
    ck_assert_str_eq(u.host_header, "[2001:db8::1]");
    ck_assert_str_eq(u.target, "/");
}
END_TEST

START_TEST(test_url_port_bounds)
{
    parse_ok("ws://h:1/");
    ck_assert_uint_eq(u.port, 1);
    wsg_client_url_clear(&u);
    parse_ok("ws://h:65535/");
    ck_assert_uint_eq(u.port, 65535);
    wsg_client_url_clear(&u);
    parse_ok("ws://h:0080/");
    ck_assert_uint_eq(u.port, 80);
}
END_TEST

START_TEST(test_url_bad_ports_are_refused)
{
    parse_fails("ws://h:0/", "out of range");
    parse_fails("ws://h:65536/", "out of range");
    parse_fails("ws://h:99999999999999999999/", "out of range");
    parse_fails("ws://h:/", "empty port");
    parse_fails("ws://h:http/", "not a number");
    parse_fails("ws://h:-1/", "not a number");
    parse_fails("ws://h:+80/", "not a number");
    parse_fails("ws://h:80:81/", "not a number");
    parse_fails("ws://[::1]:/", "empty port");
    parse_fails("ws://[::1]:x/", "not a number");
}
END_TEST

START_TEST(test_url_other_schemes_are_refused)
{
    parse_fails("http://h/", "unsupported scheme \"http\"");
    parse_fails("https://h/", "unsupported scheme \"https\"");
    parse_fails("wsx://h/", "unsupported scheme");
    parse_fails("ftp://h/", "use ws:// or wss://");
}
END_TEST

START_TEST(test_url_without_scheme_is_refused)
{
    parse_fails("example.com:80/path", "not a ws:// or wss:// URL");
    parse_fails("ws:example.com", "not a ws:// or wss:// URL");
    parse_fails("", "empty URL");
}
END_TEST

START_TEST(test_url_userinfo_is_refused)
{
    parse_fails("ws://user@h/", "user information");
    parse_fails("wss://user:secret@h:8443/", "user information");
}
END_TEST

START_TEST(test_url_fragment_is_refused)
{
    /* RFC 6455 3: "Fragment identifiers are meaningless ... MUST NOT be used". */
    parse_fails("ws://h/#top", "fragment");
    parse_fails("ws://h/path?q=1#x", "fragment");
    parse_fails("ws://h#x", "fragment");
}
END_TEST

START_TEST(test_url_missing_host_is_refused)
{
    parse_fails("ws://", "no host");
    parse_fails("ws:///path", "no host");
    parse_fails("ws://:8080/", "no host");
}
END_TEST

START_TEST(test_url_bad_ipv6_is_refused)
{
    parse_fails("ws://[::1/", "closing ']'");
    parse_fails("ws://[nope]/", "invalid IPv6 address");
    parse_fails("ws://[]/", "invalid IPv6 address");
    parse_fails("ws://[fe80::1%25eth0]/", "invalid IPv6 address");
    parse_fails("ws://[::1]x/", "unexpected");
    parse_fails("ws://::1/", "no host");
}
END_TEST

START_TEST(test_url_bad_characters_are_refused)
{
    parse_fails("ws://ex ample.com/", "invalid character");
    parse_fails("ws://exa%6dple.com/", "invalid character '%'");
    parse_fails("ws://h/a b", "percent-encode");
    parse_fails("ws://h/\x01", "0x01");
    parse_fails("ws://h/caf\xc3\xa9", "0xc3");
    parse_fails("ws://h/?q=\"x\x7f\"", "0x7f");
}
END_TEST

START_TEST(test_url_too_long_is_refused)
{
    size_t n = WSG_CLIENT_URL_MAX + 16;
    char *url = malloc(n + 1);
    memcpy(url, "ws://h/", 7);
    memset(url + 7, 'a', n - 7);
    url[n] = '\0';
    parse_fails(url, "longer than");
    url[WSG_CLIENT_URL_MAX] = '\0';
    parse_ok(url);
    ck_assert_uint_eq(strlen(u.target), WSG_CLIENT_URL_MAX - 6);
    free(url);
}
END_TEST

START_TEST(test_url_long_host_name_is_refused)
{
    char url[320];
    strcpy(url, "ws://");
    memset(url + 5, 'a', 254);
    strcpy(url + 5 + 254, "/");
    parse_fails(url, "longer than 253");
}
END_TEST

START_TEST(test_url_error_buffer_may_be_null_and_clear_is_idempotent)
{
    ck_assert_int_eq(wsg_client_url_parse("http://x/", &u, NULL, 0), WSG_CLIENT_ERR_URL);
    ck_assert_int_eq(wsg_client_url_parse("ws://x/", &u, NULL, 0), WSG_CLIENT_OK);
    wsg_client_url_clear(&u);
    wsg_client_url_clear(&u);
    wsg_client_url_clear(NULL);
    ck_assert_int_eq(wsg_client_url_parse(NULL, &u, err, sizeof(err)), WSG_CLIENT_ERR_URL);
}
END_TEST

START_TEST(test_url_error_message_is_truncated_not_overflowed)
{
    char tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    ck_assert_int_eq(wsg_client_url_parse("http://x/", &u, tiny, sizeof(tiny)),
                     WSG_CLIENT_ERR_URL);
    ck_assert_uint_eq(strlen(tiny), sizeof(tiny) - 1);
}
END_TEST

START_TEST(test_client_strerror_covers_every_category)
{
    for (int e = WSG_CLIENT_OK; e <= WSG_CLIENT_ERR_STATE; e++)
        ck_assert_str_ne(wsg_client_strerror((enum wsg_client_err)e), "unknown error");
    ck_assert_str_eq(wsg_client_strerror((enum wsg_client_err)999), "unknown error");
}
END_TEST

Suite *
client_url_suite(void)
{
    Suite *s = suite_create("client_url");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_url_ws_defaults_port_80_and_path_slash);
    tcase_add_test(tc, test_url_wss_defaults_port_443);
    tcase_add_test(tc, test_url_scheme_is_case_insensitive_host_kept_as_written);
    tcase_add_test(tc, test_url_path_and_query_form_the_target);
    tcase_add_test(tc, test_url_query_without_path_gets_slash);
    tcase_add_test(tc, test_url_default_port_written_out_is_left_out_of_host_header);
    tcase_add_test(tc, test_url_ipv4_literal_is_an_ip);
    tcase_add_test(tc, test_url_not_quite_ipv4_is_a_name);
    tcase_add_test(tc, test_url_ipv6_literal_in_brackets);
    tcase_add_test(tc, test_url_ipv6_literal_default_port);
    tcase_add_test(tc, test_url_port_bounds);
    tcase_add_test(tc, test_url_bad_ports_are_refused);
    tcase_add_test(tc, test_url_other_schemes_are_refused);
    tcase_add_test(tc, test_url_without_scheme_is_refused);
    tcase_add_test(tc, test_url_userinfo_is_refused);
    tcase_add_test(tc, test_url_fragment_is_refused);
    tcase_add_test(tc, test_url_missing_host_is_refused);
    tcase_add_test(tc, test_url_bad_ipv6_is_refused);
    tcase_add_test(tc, test_url_bad_characters_are_refused);
    tcase_add_test(tc, test_url_too_long_is_refused);
    tcase_add_test(tc, test_url_long_host_name_is_refused);
    tcase_add_test(tc, test_url_error_buffer_may_be_null_and_clear_is_idempotent);
    tcase_add_test(tc, test_url_error_message_is_truncated_not_overflowed);
    tcase_add_test(tc, test_client_strerror_covers_every_category);
    suite_add_tcase(s, tc);
    return s;
}
