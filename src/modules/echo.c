/*
 * echo.c - the echo module: every text or binary message goes straight
 * back to its sender, byte for byte.  Loaded like any third-party module.
 */
#include "wsgate/module.h"

static void
echo_message(struct wsg_conn *c, const struct wsg_message *m, void *state)
{
    (void)state;
    wsg_conn_send(c, m->type, m->data, m->len);
}

const struct wsg_module wsg_module = {
    .abi = WSG_MODULE_ABI,
    .name = "echo",
    .on_message = echo_message,
};
