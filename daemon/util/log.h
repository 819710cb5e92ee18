#ifndef DISTD_LOG_H
#define DISTD_LOG_H

#include <stdbool.h>

/*
 * Diagnostics to stderr, one line each with a syslog priority prefix
 * ("<6>") when running under systemd, so the journal keeps the level.
 * log_warn appends strerror(errno); log_warnx does not. fatal() is for
 * start-up and broken invariants only: bad input never ends the daemon.
 */
void log_init(bool debug);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Whether stderr goes to the journal (systemd sets JOURNAL_STREAM for a
 * service whose output it reads), as decided by log_init: then lines
 * carry priority prefixes, and delivery_log.h sends entries with fields.
 */
bool log_to_journal(void);

#endif
