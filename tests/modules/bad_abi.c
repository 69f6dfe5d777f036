/* bad_abi.c - a module built against another module ABI: wsgated must
 * refuse to load it with a message naming both ABI numbers. */
#include "wsgate/module.h"

static void
bad_message(struct wsg_conn *c, const struct wsg_message *m, void *state)
{
    (void)c, (void)m, (void)state;
}

const struct wsg_module wsg_module = {
    .abi = WSG_MODULE_ABI + 1000,
    .name = "bad_abi",
    .on_message = bad_message,
};
