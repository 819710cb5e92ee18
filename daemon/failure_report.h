#ifndef DISTD_FAILURE_REPORT_H
#define DISTD_FAILURE_REPORT_H

#include <stdint.h>

#include "queue.h"

#include "conf.h"

/*
 * The failure report: when an issue ends with failed recipients, one
 * plain, bilingual e-mail to sender.admin lists them with the server's
 * replies. It is queued like any issue (kind "report", see adminmail.h),
 * so it is retried and logged the same way, and the issue is marked
 * reported in the same transaction. "Report" means this and only this;
 * what else the admin is told is a notice (notice.h). Returns 0, or -1
 * with err.
 */
int failure_report_enqueue(const struct conf *c, struct queue *q, int64_t issue,
    int64_t now, char *err, size_t errsz);

#endif
