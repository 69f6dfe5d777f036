/*
 * accesslog.c - the access log (see accesslog.h).
 *
 * Format: logfmt.  A value is written bare when it is non-empty printable
 * ASCII without space, '"', '=' or '\'; otherwise in double quotes with
 * \" \\ \n \r \t and \xNN (other control bytes and bytes >= 0x80), so a
 * line is always one line of ASCII whatever a client put in its request.
 * A line longer than the buffer is cut (the request target comes last).
 */
#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct wsg_accesslog {
    int fd;                             /* -1: syslog */
    char target[];
};

static int
open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

struct wsg_accesslog *
wsg_accesslog_open(const char *target, char *err, size_t errlen)
{
    size_t len = strlen(target) + 1;
    struct wsg_accesslog *l = malloc(sizeof(*l) + len);
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(l->target, target, len);
    l->fd = -1;
    if (strcmp(target, "syslog") != 0 && (l->fd = open_file(target)) < 0) {
        snprintf(err, errlen, "access log %s: %s", target, strerror(errno));
        free(l);
        return NULL;
    }
    return l;
}

void
wsg_accesslog_free(struct wsg_accesslog *l)
{
    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l);
}

const char *
wsg_accesslog_target(const struct wsg_accesslog *l)
{
    return l->target;
}

void
wsg_accesslog_reopen(struct wsg_accesslog *l)
{
    if (l == NULL || l->fd < 0)
        return;
    int fd = open_file(l->target);
    if (fd < 0) {
        log_err("cannot reopen the access log %s, still writing to the old file: %s",
                l->target, strerror(errno));
        return;
    }
    /* dup2 replaces the old file in one step: no moment without a log. */
    if (dup2(fd, l->fd) < 0)
        log_err("cannot reopen the access log %s: %s", l->target, strerror(errno));
    close(fd);
    log_info("reopened the access log %s", l->target);
}

/* ---- building lines ------------------------------------------------------ */

static void
put(struct wsg_logline *ln, const char *s, size_t n)
{
    size_t room = sizeof(ln->buf) - 1 - ln->len;   /* keep one byte for '\n' */
    if (n > room)
        n = room;
    memcpy(ln->buf + ln->len, s, n);
    ln->len += n;
}

static bool
needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++) {
        if (*c <= 0x20 || *c >= 0x7f || *c == '"' || *c == '=' || *c == '\\')
            return true;
    }
    return false;
}

static void
put_key(struct wsg_logline *ln, const char *key)
{
    if (ln->len > 0)
        put(ln, " ", 1);
    put(ln, key, strlen(key));
    put(ln, "=", 1);
}

void
wsg_logline_str(struct wsg_logline *ln, const char *key, const char *value)
{
    put_key(ln, key);
    if (value == NULL) {
        put(ln, "-", 1);
        return;
    }
    if (!needs_quotes(value)) {
        put(ln, value, strlen(value));
        return;
    }
    put(ln, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++) {
        char esc[5];
        switch (*c) {
        case '"': put(ln, "\\\"", 2); break;
        case '\\': put(ln, "\\\\", 2); break;
        case '\n': put(ln, "\\n", 2); break;
        case '\r': put(ln, "\\r", 2); break;
        case '\t': put(ln, "\\t", 2); break;
        default:
            if (*c < 0x20 || *c >= 0x7f) {
                snprintf(esc, sizeof(esc), "\\x%02x", *c);
                put(ln, esc, 4);
            } else {
                put(ln, (const char *)c, 1);
            }
        }
    }
    put(ln, "\"", 1);
}

void
wsg_logline_uint(struct wsg_logline *ln, const char *key, uint64_t value)
{
    char v[24];
    int n = snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
    put_key(ln, key);
    put(ln, v, (size_t)n);
}

void
wsg_logline_time(struct wsg_logline *ln, const char *key, uint64_t unix_us)
{
    time_t secs = (time_t)(unix_us / 1000000);
    struct tm tm;
    char v[40];
    gmtime_r(&secs, &tm);
    size_t n = strftime(v, sizeof(v), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(v + n, sizeof(v) - n, ".%03uZ",
                          (unsigned)(unix_us % 1000000 / 1000));
    put_key(ln, key);
    put(ln, v, n);
}

void
wsg_logline_secs(struct wsg_logline *ln, const char *key, uint64_t us)
{
    char v[32];
    int n = snprintf(v, sizeof(v), "%llu.%03u", (unsigned long long)(us / 1000000),
                     (unsigned)(us % 1000000 / 1000));
    put_key(ln, key);
    put(ln, v, (size_t)n);
}

uint64_t
wsg_unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
wsg_logline_start(struct wsg_logline *ln, const char *event)
{
    ln->len = 0;
    wsg_logline_time(ln, "time", wsg_unix_us());
    wsg_logline_str(ln, "event", event);
}

void
wsg_accesslog_write(struct wsg_accesslog *l, struct wsg_logline *ln)
{
    if (l == NULL)
        return;
    if (l->fd < 0) {
        syslog(LOG_DAEMON | LOG_INFO, "%.*s", (int)ln->len, ln->buf);
        return;
    }
    ln->buf[ln->len++] = '\n';
    ssize_t n;
    do
        n = write(l->fd, ln->buf, ln->len);
    while (n < 0 && errno == EINTR);
    ln->len--;
}
