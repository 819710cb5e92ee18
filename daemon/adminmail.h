#ifndef DISTD_ADMINMAIL_H
#define DISTD_ADMINMAIL_H

#include <stdint.h>

#include "queue.h"

#include "conf.h"

/*
 * One small, plain, auto-generated message to sender.admin, queued like
 * any issue (so it is retried and logged the same way): no attachments,
 * never a copy of an issue, marked "Auto-Submitted: auto-generated" so
 * that vacation responders and ticket systems do not answer it (every
 * message distd writes itself goes through here, so every one is marked).
 * Used by the failure report (failure_report.c) and the admin notices (notice.c).
 */
struct adminmail {
	enum queue_kind kind;	/* QUEUE_KIND_REPORT or QUEUE_KIND_NOTICE */
	const char *key;	/* queue sha256: the report's or the notice's key */
	const char *source;	/* what distctl shows as the source */
	const char *subject;	/* UTF-8, one line */
	const char *body;	/* UTF-8 plain text */
	int64_t report_for;	/* QUEUE_KIND_REPORT: the issue reported on */
	int64_t notice_for;	/* QUEUE_KIND_NOTICE: the issue it is about, or 0 */
	const char *title;	/* the title of the issue it is about (its series'
				 * admin gets it), or NULL: sender.admin */
};

/* Where mail about an issue titled title goes: the series' admin, else sender.admin. */
const char *adminmail_to(const struct conf *c, const char *title);

/*
 * Queues m. Returns 0 with *id (0 when a notice with that key exists,
 * *existing then set), or -1 with err.
 */
int adminmail_enqueue(const struct conf *c, struct queue *q, const struct adminmail *m,
    int64_t now, int64_t *id, int64_t *existing, char *err, size_t errsz);

#endif
