/* presence_probe.c - reads room presence through the public module API:
 * a text message "ENDPOINT ROOM" is answered with wsg_room_members() of
 * that room as decimal text.  For the backplane's tests (never installed). */
#include <stdio.h>
#include <string.h>

#include "wsgate/module.h"

static void
probe_message(struct wsg_conn *c, const struct wsg_message *m, void *state)
{
    char buf[512], out[32];
    const char *space;
    (void)state;
    if (m->type != WSG_MESSAGE_TEXT || m->len >= sizeof(buf))
        return;
    memcpy(buf, m->data, m->len);
    buf[m->len] = '\0';
    if ((space = strchr(buf, ' ')) == NULL)
        return;
    buf[space - buf] = '\0';
    const char *room = space + 1;
    int n = snprintf(out, sizeof(out), "%ld", wsg_room_members(buf, room, strlen(room)));
    wsg_conn_send(c, WSG_MESSAGE_TEXT, out, (size_t)n);
}

const struct wsg_module wsg_module = {
    .abi = WSG_MODULE_ABI,
    .name = "presence_probe",
    .on_message = probe_message,
};
