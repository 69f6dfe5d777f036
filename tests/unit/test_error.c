/* test_error.c - unit tests for src/proto/error.c: every error has a
 * message, and the close-code and HTTP-status mappings the daemon relies
 * on (RFC 6455 7.4.1, 4.2.2). */
#include <string.h>

#include "error.h"
#include "suites.h"

START_TEST(test_every_error_has_a_message)
{
    for (int e = 0; e < WSG_ERR__COUNT; e++) {
        const char *m = wsg_strerror((enum wsg_err)e);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strlen(m) > 0, "error %d has an empty message", e);
        ck_assert_str_ne(m, "unknown error");
    }
}
END_TEST

START_TEST(test_unknown_error_is_described_not_crashed_on)
{
    ck_assert_str_eq(wsg_strerror((enum wsg_err)WSG_ERR__COUNT), "unknown error");
    ck_assert_str_eq(wsg_strerror((enum wsg_err)-1), "unknown error");
    ck_assert_uint_eq(wsg_err_close_code((enum wsg_err)9999), 1011);
}
END_TEST

START_TEST(test_success_and_incomplete_are_not_close_reasons)
{
    ck_assert_uint_eq(wsg_err_close_code(WSG_OK), 0);
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_INCOMPLETE), 0);
}
END_TEST

/* RFC 6455 7.4.1: 1002 protocol error, 1007 inconsistent data, 1009 too big. */
START_TEST(test_protocol_errors_map_to_1002)
{
    enum wsg_err errs[] = {
        WSG_ERR_BAD_OPCODE, WSG_ERR_RSV_BITS, WSG_ERR_UNMASKED_FRAME,
        WSG_ERR_MASKED_FRAME, WSG_ERR_CONTROL_TOO_LONG,
        WSG_ERR_CONTROL_FRAGMENTED, WSG_ERR_BAD_LENGTH,
        WSG_ERR_NON_MINIMAL_LENGTH, WSG_ERR_UNEXPECTED_CONTINUATION,
        WSG_ERR_EXPECTED_CONTINUATION, WSG_ERR_BAD_CLOSE_PAYLOAD,
        WSG_ERR_BAD_CLOSE_CODE,
    };
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
        ck_assert_uint_eq(wsg_err_close_code(errs[i]), 1002);
}
END_TEST

START_TEST(test_bad_utf8_maps_to_1007)
{
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_BAD_UTF8), 1007);
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_BAD_CLOSE_REASON), 1007);
}
END_TEST

START_TEST(test_size_limits_map_to_1009)
{
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_FRAME_TOO_BIG), 1009);
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_MESSAGE_TOO_BIG), 1009);
}
END_TEST

/* RFC 6455 4.2.2: an unsupported version is answered 426 with the
 * versions we support; a bad request 400; a refused origin 403. */
START_TEST(test_handshake_errors_map_to_http_statuses)
{
    ck_assert_int_eq(wsg_err_http_status(WSG_ERR_HS_VERSION), 426);
    ck_assert_int_eq(wsg_err_http_status(WSG_ERR_HS_KEY), 400);
    ck_assert_int_eq(wsg_err_http_status(WSG_ERR_HS_UPGRADE), 400);
    ck_assert_int_eq(wsg_err_http_status(WSG_ERR_HS_ORIGIN), 403);
    ck_assert_int_eq(wsg_err_http_status(WSG_ERR_HS_METHOD), 405);
    ck_assert_int_eq(wsg_err_http_status(WSG_ERR_BAD_UTF8), 0);
    ck_assert_uint_eq(wsg_err_close_code(WSG_ERR_HS_KEY), 0);
}
END_TEST

Suite *
error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("mapping");
    tcase_add_test(tc, test_every_error_has_a_message);
    tcase_add_test(tc, test_unknown_error_is_described_not_crashed_on);
    tcase_add_test(tc, test_success_and_incomplete_are_not_close_reasons);
    tcase_add_test(tc, test_protocol_errors_map_to_1002);
    tcase_add_test(tc, test_bad_utf8_maps_to_1007);
    tcase_add_test(tc, test_size_limits_map_to_1009);
    tcase_add_test(tc, test_handshake_errors_map_to_http_statuses);
    suite_add_tcase(s, tc);
    return s;
}
