#ifndef DISTD_LOG_H
#define DISTD_LOG_H

#include <stdbool.h>
#include <stddef.h>

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
 * The delivery log: one key=value line per attempt, appended to a file
 * and also written to the journal. Reopened on SIGHUP/SIGUSR1 so that
 * logrotate can move it away.
 */
int delivery_log_open(const char *path);
void delivery_log_reopen(void);
void delivery_log_close(void);
void delivery_log_write(const char *line);
/* Several lines, each ending in '\n', in one write (and one to the journal). */
void delivery_log_write_lines(const char *lines, size_t len);

#endif
