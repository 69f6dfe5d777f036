/* check_client.c - runs the client library's unit suites. */
#include <signal.h>
#include <stdlib.h>

#include "client_suites.h"

int
main(void)
{
    /* As any program using the library must (see wsgate/client.h). */
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(client_url_suite());
    srunner_add_suite(sr, client_opts_suite());
    srunner_add_suite(sr, client_sync_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
