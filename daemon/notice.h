#ifndef DISTD_NOTICE_H
#define DISTD_NOTICE_H

#include <stdint.h>

#include "sbuf.h"

#include "queue.h"

#include "conf.h"

/*
 * Admin notices: what needs a human is mailed to sender.admin — an issue
 * distd held on arrival (unresolved units or any other reason; not one an
 * admin held with distctl), units that did not resolve of an issue sent anyway
 * (on_unresolved = "send"), a standing alert (the relay refused our
 * credentials or our TLS). One small, bilingual, auto-generated e-mail
 * each (adminmail.h), never a storm:
 *   - one notice per issue per cause, one per alert until it clears — the
 *     queue keeps a notice row under a unique key, so a restart or a crash
 *     does not send it again;
 *   - at most NOTICE_PER_HOUR in any hour; the rest wait, and what no
 *     longer needs a human by then (released, cleared) is never sent.
 * (The failure report at the end of an issue is failure_report.h, not a notice.)
 */

#define NOTICE_PER_HOUR 10

/*
 * Queues the notices that are due. Cheap when there are none (one query).
 * Returns when to sweep again because the rate limit held some back, or 0.
 */
int64_t notice_sweep(const struct conf *c, struct queue *q, int64_t now);

/* The subject and body of the notice for d (pure; exposed for tests). */
void notice_render(const struct conf *c, const struct queue_notice_due *d,
    struct sbuf *subject, struct sbuf *body);

#endif
