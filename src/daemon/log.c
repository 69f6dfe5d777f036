/*
 * log.c - the daemon's log sink.  Module messages come through wsg_log()
 * too, so every line of the daemon has the same shape and destination.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int log_level = LOG_INFO;
static bool log_syslog;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
    [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void
log_init(int level, bool use_syslog)
{
    if (log_syslog && !use_syslog)
        closelog();
    if (use_syslog && !log_syslog)
        openlog("wsgated", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = use_syslog;
    log_level = level;
}

/* Set by the main thread on a reload, read by every worker. */
void
log_set_level(int level)
{
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

bool
log_enabled(int level)
{
    return level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

static void __attribute__((format(printf, 2, 0)))
log_vwrite(int level, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    if (log_syslog) {
        vsyslog(level, fmt, ap);
        return;
    }
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "wsgated: %s: %s\n", level_names[level & 7], line);
}

void
wsg_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void
fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(LOG_ERR, fmt, ap);
    va_end(ap);
    exit(1);
}
