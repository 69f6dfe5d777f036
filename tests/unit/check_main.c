/* check_main.c - runs every unit suite; Check prints the summary line. */
#include <stdlib.h>

#include "suites.h"

int
main(void)
{
    SRunner *sr = srunner_create(error_suite());
    srunner_add_suite(sr, frame_suite());
    srunner_add_suite(sr, mask_suite());
    srunner_add_suite(sr, utf8_suite());
    srunner_add_suite(sr, close_suite());
    srunner_add_suite(sr, message_suite());
    srunner_add_suite(sr, handshake_suite());
    srunner_add_suite(sr, deflate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
