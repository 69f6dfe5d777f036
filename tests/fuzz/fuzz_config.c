/*
 * fuzz_config.c - libFuzzer target for the configuration loader:
 * wsg_cfg_load_string() (libconfig's parser, then our schema) on arbitrary
 * text.
 *
 * Invariants checked: no crash, no leak (LeakSanitizer), and
 *   - a refused text gets "NAME:LINE: message" with the name passed in, a
 *     line number >= 1 and a non-empty message;
 *   - a small error buffer is never overrun, always NUL-terminated and
 *     holds the start of the same message;
 *   - an accepted text gives a configuration that keeps the schema's
 *     promises: at least one listener and endpoint, ports in range,
 *     addresses that parse, endpoint paths that start with "/" and are
 *     unique and found again by wsg_cfg_find_endpoint(), and limits with
 *     max_frame <= max_message.
 * Texts with @include are skipped: they would read files from wherever the
 * fuzzer runs, and an included file's errors are (rightly) reported under
 * that file's name.
 */
/* fuzz-build: -Isrc/daemon src/daemon/config.c -lconfig */
/* libconfig leaks on some syntax errors (lsan.supp), which makes libFuzzer
 * run a leak check on those inputs: a small quarantine keeps that fast. */
/* fuzz-env: ASAN_OPTIONS=quarantine_size_mb=8 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define NAME "fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const char *err)
{
    size_t n = strlen(NAME);
    if (strncmp(err, NAME, n) != 0 || err[n] != ':')
        abort();
    const char *p = err + n + 1;
    unsigned long line = 0;
    if (*p < '0' || *p > '9')
        abort();
    while (*p >= '0' && *p <= '9')
        line = line * 10 + (unsigned long)(*p++ - '0');
    if (line == 0 || p[0] != ':' || p[1] != ' ' || p[2] == '\0')
        abort();
}

static void
check_limits(const struct wsg_limits *l)
{
    if (l->max_frame == 0 || l->max_message == 0 || l->max_frame > l->max_message)
        abort();
    if (l->output_high_watermark == 0 || l->close_timeout_ms == 0
        || l->handshake_timeout_ms == 0)
        abort();
    if (l->slow_policy != WSG_SLOW_CLOSE && l->slow_policy != WSG_SLOW_DROP)
        abort();
}

static void
check_config(const struct wsg_config *cfg)
{
    if (cfg->nlisten == 0 || cfg->nendpoints == 0 || strcmp(cfg->file, NAME) != 0)
        abort();
    check_limits(&cfg->limits);
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const struct wsg_listen_cfg *l = &cfg->listen[i];
        unsigned char buf[sizeof(struct in6_addr)];
        if (l->port == 0 || l->backlog < 1 || l->line < 1)
            abort();
        if (inet_pton(AF_INET, l->address, buf) != 1
            && inet_pton(AF_INET6, l->address, buf) != 1)
            abort();
        if (l->tls != NULL && (l->tls->certificate == NULL || l->tls->private_key == NULL
                               || (l->tls->verify_client && l->tls->ca_file == NULL)))
            abort();
    }
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const struct wsg_endpoint_cfg *ep = &cfg->endpoints[i];
        if (ep->path == NULL || ep->path[0] != '/' || ep->module == NULL
            || ep->module[0] == '\0' || ep->line < 1 || ep->module_line < 1)
            abort();
        if (ep->subprotocol_required && ep->nsubprotocols == 0)
            abort();
        for (size_t j = 0; j < ep->nsubprotocols; j++)
            if (ep->subprotocols[j] == NULL || ep->subprotocols[j][0] == '\0')
                abort();
        for (size_t j = 0; j < ep->norigins; j++)
            if (ep->allowed_origins[j] == NULL || ep->allowed_origins[j][0] == '\0')
                abort();
        check_limits(&ep->limits);
        if (wsg_cfg_find_endpoint(cfg, ep->path, strlen(ep->path)) != ep)
            abort(); /* paths are unique and an exact match wins */
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (strstr(text, "@include") != NULL) {
        free(text);
        return -1; /* not worth keeping in the corpus */
    }

    char err[1024];
    err[0] = '\0';
    struct wsg_config *cfg = wsg_cfg_load_string(text, NAME, err, sizeof(err));
    if (cfg != NULL) {
        check_config(cfg);
        wsg_cfg_free(cfg);
    } else {
        check_error(err);
    }

    /* Again with a small buffer: same verdict, a prefix of the same
     * message, and not a byte written past errlen. */
    char small[24];
    size_t errlen = size % 17;
    memset(small, 'Z', sizeof(small));
    struct wsg_config *again = wsg_cfg_load_string(text, NAME, small, errlen);
    if ((again == NULL) != (cfg == NULL))
        abort();
    for (size_t i = errlen; i < sizeof(small); i++)
        if (small[i] != 'Z')
            abort();
    if (again == NULL && errlen > 0) {
        if (memchr(small, '\0', errlen) == NULL)
            abort();
        if (strncmp(small, err, strlen(small)) != 0)
            abort();
    }
    wsg_cfg_free(again);
    free(text);
    return 0;
}
