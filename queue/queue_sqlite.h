#ifndef DISTD_QUEUE_SQLITE_H
#define DISTD_QUEUE_SQLITE_H

/*
 * The SQLite backend's operations that live in queue_sqlite_ctl.c (the
 * steering, record and retention SQL) and queue_sqlite_views.c (distctl's
 * reads), for queue_sqlite.c's ops table.
 * Contracts: the queue.h functions of the same names.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/*
 * The per-tier sums after COUNT(*) of distctl status (schema 9), in the
 * order delivered, deferred, failed, bounced, confirmed, receipt: the one
 * definition for the totals kept when an issue finishes (issue_tiers) and
 * those counted while it goes, so that the two agree. A bounced recipient
 * is not counted delivered.
 */
#define QUEUE_TIER_SUMS ", SUM(state = 'delivered' AND bounced IS NULL)," \
	" SUM(state = 'deferred'), SUM(state = 'failed'), SUM(bounced IS NOT NULL)," \
	" SUM(confirmed IS NOT NULL), SUM(receipt = 1)"

/* The bounced notices' look-up (queue_sqlite.c), for the plan test. */
extern const char queue_bounced_due_sql[];
/* status's bounced counts (queue_sqlite_views.c), for the plan test. */
extern const char queue_bounced_count_sql[];

int sqlite_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
    char *err, size_t errsz);
int sqlite_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int sqlite_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int sqlite_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int sqlite_resend(struct queue *q, int64_t issue, const char *tier, const char *address,
    int64_t now, char *err, size_t errsz);
int sqlite_resend_all(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int sqlite_resend_to(struct queue *q, int64_t issue, const char *tier,
    const char *address, const char *old, int64_t now, char *err, size_t errsz);
bool sqlite_has_recipient(struct queue *q, int64_t issue, const char *tier,
    const char *address);
int sqlite_load_source(struct queue *q, int64_t issue, struct queue_source *src,
    char *err, size_t errsz);
int sqlite_reroute(struct queue *q, int64_t issue, const struct queue_recipient_in *r,
    size_t n, const char *message, size_t len, int64_t now, char *err, size_t errsz);
int sqlite_record_read(struct queue *q, int64_t id, struct queue_record **out,
    char *err, size_t errsz);
int sqlite_purge_list(struct queue *q, int64_t before, size_t max,
    struct queue_purge_cursor *cur, struct queue_purge_family **out, size_t *n,
    char *err, size_t errsz);
int sqlite_purge_delete(struct queue *q, const struct queue_purge_family *f, size_t n,
    int64_t before, size_t *deleted, char *err, size_t errsz);

/* The read views of distctl status, show and log (queue_sqlite_views.c). */
int sqlite_view_status(struct queue *q, int64_t failed_since, size_t max_recent,
    struct queue_view_status *out, char *err, size_t errsz);
int sqlite_view_issue(struct queue *q, int64_t id, const struct queue_view_filter *f,
    struct queue_view_issue *out, char *err, size_t errsz);
int sqlite_view_attempts(struct queue *q, int64_t after, long max, int64_t issue,
    struct queue_view_attempt **out, size_t *n, char *err, size_t errsz);

#endif
