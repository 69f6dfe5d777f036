/*
 * log.h - wsgated's logging: one format, stderr or syslog, a level filter.
 *
 * Levels are syslog(3)'s.  On stderr each line is "LEVEL: message"; under
 * systemd the journal adds the time.  fatal() logs and exits 1.
 */
#ifndef WSG_DAEMON_LOG_H
#define WSG_DAEMON_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "wsgate/conn.h" /* wsg_log() is part of the module API */

void log_init(int level, bool use_syslog);
void log_set_level(int level);
bool log_enabled(int level);

#define log_err(...) wsg_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) wsg_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) wsg_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) wsg_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
    do { if (log_enabled(LOG_DEBUG)) wsg_log(LOG_DEBUG, __VA_ARGS__); } while (0)

void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
