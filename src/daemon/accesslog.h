/*
 * accesslog.h - one line per WebSocket session, rejected handshake and
 * plain HTTP request, in logfmt (key=value pairs, values quoted when they
 * need it), to a file or to syslog.
 *
 * The file is opened O_APPEND and each line goes out in one write(2), so
 * lines never interleave or tear; SIGUSR1 reopens it by name (logrotate's
 * postrotate), and lines written between the rename and the reopen land
 * in the renamed file: none is lost.
 */
#ifndef WSG_DAEMON_ACCESSLOG_H
#define WSG_DAEMON_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

struct wsg_accesslog;

/* target: an absolute path, or "syslog".  NULL with a message in err. */
struct wsg_accesslog *wsg_accesslog_open(const char *target, char *err, size_t errlen);
void wsg_accesslog_free(struct wsg_accesslog *l);

/* The target it was opened with. */
const char *wsg_accesslog_target(const struct wsg_accesslog *l);

/* Reopen the file by name; on failure the old descriptor stays (logged). */
void wsg_accesslog_reopen(struct wsg_accesslog *l);

/* A line being built: fields in call order, values escaped as needed. */
struct wsg_logline {
    char buf[4096];
    size_t len;
};

/* "time=<now, RFC 3339 UTC, ms> event=<event>" */
void wsg_logline_start(struct wsg_logline *ln, const char *event);
/* value NULL is written "-" */
void wsg_logline_str(struct wsg_logline *ln, const char *key, const char *value);
void wsg_logline_uint(struct wsg_logline *ln, const char *key, uint64_t value);
/* Unix time in microseconds, as RFC 3339 UTC with milliseconds. */
void wsg_logline_time(struct wsg_logline *ln, const char *key, uint64_t unix_us);
/* microseconds as seconds with 3 decimals */
void wsg_logline_secs(struct wsg_logline *ln, const char *key, uint64_t us);

void wsg_accesslog_write(struct wsg_accesslog *l, struct wsg_logline *ln);

/* CLOCK_REALTIME in microseconds. */
uint64_t wsg_unix_us(void);

#endif
