/* client_suites.h - the client library's Check suites; check_client.c runs them. */
#ifndef WSG_TESTS_CLIENT_SUITES_H
#define WSG_TESTS_CLIENT_SUITES_H

#include <check.h>

Suite *client_url_suite(void);
Suite *client_opts_suite(void);
Suite *client_sync_suite(void);

#endif
