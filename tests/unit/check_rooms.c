/* check_rooms.c - runs the broadcast module's rooms suite; Check prints the
 * summary. */
#include <check.h>
#include <stdlib.h>

Suite *rooms_suite(void);

int
main(void)
{
    SRunner *sr = srunner_create(rooms_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
