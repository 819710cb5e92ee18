#ifndef DISTD_REMIND_H
#define DISTD_REMIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"
#include "sbuf.h"

#include "conf.h"

/*
 * distctl remind ISSUE [--tier T]: a reminder to confirm receipt (签收)
 * to the recipients of a bulletin that were asked to, got it (delivered,
 * no bounce since) and have not confirmed. The reminder is an issue of
 * its own (kind reminder, notice_for the bulletin), sent like any other;
 * committing it counts the reminder on the bulletin's rows (queue.h).
 *
 * remind_plan decides who, from the bulletin's view (pure); remind_enqueue
 * renders and queues; remind_text and remind_json say what was done.
 */

/* Why nobody is reminded. */
enum remind_result {
	REMIND_OK,		/* plan.n >= 1 */
	REMIND_NOT_BULLETIN,	/* a report, notice or reminder */
	REMIND_CANCELLED,	/* the bulletin was cancelled */
	REMIND_NO_TIER,		/* no recipient in that tier */
	REMIND_NOBODY,		/* nobody asked, or everyone asked confirmed, bounced … */
};

struct remind_plan {
	size_t *pick;		/* indexes into the view's recipients, one per address */
	size_t n;
	/* of the recipients considered (the tier's, not replaced): */
	long asked;		/* asked to confirm receipt */
	long confirmed;		/* of those asked, confirmed */
	long bounced;		/* of those asked and unconfirmed, bounced */
	long waiting;		/* of those asked and unconfirmed, not delivered (yet) */
};

/*
 * Who of v (all its recipients, unfiltered) gets a reminder: tier (a
 * keyword, NULL: every tier) recipients, not replaced, asked, delivered,
 * not bounced, not confirmed; one per address (case-insensitive). Fills
 * p (remind_plan_free) and returns REMIND_OK, or a refusal with why (one
 * sentence naming the issue and the counts).
 */
enum remind_result remind_plan(const struct queue_view_issue *v, const char *tier,
    struct remind_plan *p, char *why, size_t whysz);
void remind_plan_free(struct remind_plan *p);

/*
 * Queues the reminder of p to the bulletin v: From and Reply-To as the
 * bulletin's series says, Disposition-Notification-To conf_receipt_address,
 * threaded to v's Message-ID, the recipients as Bcc. *id is the reminder.
 * 0, or -1 with err.
 */
int remind_enqueue(const struct conf *c, struct queue *q, const struct queue_view_issue *v,
    const struct remind_plan *p, int64_t now, int64_t *id, char *err, size_t errsz);

/*
 * "remind: issue 12: 2 recipients reminded (reminder issue 15)" and the
 * units reminded, TIER UNIT <ADDRESS>, wrapped in 80 columns.
 */
void remind_text(struct sbuf *out, const struct queue_view_issue *v,
    const struct remind_plan *p, int64_t reminder);
/* {"command":"remind","issue":12,"reminder":15,"recipients":2,"reminded":[…]} */
void remind_json(struct sbuf *out, const struct queue_view_issue *v,
    const struct remind_plan *p, int64_t reminder);

#endif
