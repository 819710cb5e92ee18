#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *
timefmt_rfc3339(int64_t t, char *buf, size_t bufsz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (bufsz == 0)
		return buf;
	localtime_r(&tt, &tm);
	/* tm_gmtoff, not strftime's %z: that gives +0800, RFC 3339 wants +08:00 */
	long off = tm.tm_gmtoff;
	char sign = off < 0 ? '-' : '+';
	off = labs(off) / 60;
	snprintf(buf, bufsz, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, sign, off / 60, off % 60);
	return buf;
}
