/* check_daemon.c - runs the daemon's unit suites; Check prints the summary. */
#include <check.h>
#include <stdlib.h>

Suite *config_suite(void);
Suite *ratelimit_suite(void);
Suite *admission_suite(void);

int
main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_add_suite(sr, ratelimit_suite());
    srunner_add_suite(sr, admission_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
