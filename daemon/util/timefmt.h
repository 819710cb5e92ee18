#ifndef DISTD_TIMEFMT_H
#define DISTD_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The one way distd prints a point in time for machines and admins:
 * RFC 3339 in the local time zone with the offset as +08:00, e.g.
 * "2026-11-23T08:00:00+08:00" (the delivery log, distctl's JSON).
 */

/* Room for any RFC 3339 stamp timefmt_rfc3339 writes, NUL included. */
#define TIMEFMT_RFC3339_SIZE 40

/*
 * Writes t (seconds since the epoch) as local RFC 3339 into buf and
 * returns buf. A buffer shorter than TIMEFMT_RFC3339_SIZE may cut the
 * stamp (always NUL-terminated when bufsz > 0). Never fails otherwise.
 */
char *timefmt_rfc3339(int64_t t, char *buf, size_t bufsz);

#endif
