/* suites.h - one Check suite per protocol-core file; check_main.c runs them all. */
#ifndef WSG_TESTS_SUITES_H
#define WSG_TESTS_SUITES_H

#include <check.h>

Suite *error_suite(void);
Suite *frame_suite(void);
Suite *mask_suite(void);
Suite *utf8_suite(void);
Suite *close_suite(void);
Suite *message_suite(void);
Suite *handshake_suite(void);
Suite *deflate_suite(void);

#endif
