/* bad_options.c - a module whose init() refuses any option but "ok":
 * wsgated must report the refusal with the options' file:line. */
#include <stdio.h>
#include <string.h>

#include "wsgate/module.h"

static int
bad_options_init(const struct wsg_module_ctx *ctx, const config_setting_t *opts,
                 void **state, char *err, size_t errlen)
{
    (void)ctx, (void)state;
    for (int i = 0; opts != NULL && i < config_setting_length(opts); i++) {
        const char *name = config_setting_name(config_setting_get_elem(opts, i));
        if (strcmp(name, "ok") != 0) {
            snprintf(err, errlen, "unknown option \"%s\"", name);
            return -1;
        }
    }
    return 0;
}

static void
bad_options_message(struct wsg_conn *c, const struct wsg_message *m, void *state)
{
    (void)state;
    wsg_conn_send(c, m->type, m->data, m->len);
}

const struct wsg_module wsg_module = {
    .abi = WSG_MODULE_ABI,
    .name = "bad_options",
    .init = bad_options_init,
    .on_message = bad_options_message,
};
