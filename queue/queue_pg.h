#ifndef DISTD_QUEUE_PG_H
#define DISTD_QUEUE_PG_H

/*
 * The PostgreSQL backend's operations that live in queue_pg_ctl.c (the
 * steering SQL, the record, retention), for queue_pg.c's ops table.
 * Contracts: the queue.h functions of the same names.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

int queue_pg_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
    char *err, size_t errsz);
int queue_pg_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int queue_pg_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int queue_pg_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int queue_pg_resend(struct queue *q, int64_t issue, const char *tier,
    const char *address, int64_t now, char *err, size_t errsz);
int queue_pg_resend_all(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int queue_pg_resend_to(struct queue *q, int64_t issue, const char *tier,
    const char *address, const char *old, int64_t now, char *err, size_t errsz);
bool queue_pg_has_recipient(struct queue *q, int64_t issue, const char *tier,
    const char *address);
int queue_pg_load_source(struct queue *q, int64_t issue, struct queue_source *src,
    char *err, size_t errsz);
int queue_pg_reroute(struct queue *q, int64_t issue, const struct queue_recipient_in *r,
    size_t n, const char *message, size_t len, int64_t now, char *err, size_t errsz);
int queue_pg_record_read(struct queue *q, int64_t id, struct queue_record **out,
    char *err, size_t errsz);
int queue_pg_purge_list(struct queue *q, int64_t before, size_t max,
    struct queue_purge_cursor *cur, struct queue_purge_family **out, size_t *n,
    char *err, size_t errsz);
int queue_pg_purge_delete(struct queue *q, const struct queue_purge_family *f, size_t n,
    int64_t before, size_t *deleted, char *err, size_t errsz);

int queue_pg_feedback_apply(struct queue *q, const struct queue_feedback_in *in,
    struct queue_feedback_out *out, char *err, size_t errsz);
int queue_pg_feedback_cursor(struct queue *q, const char *cursor, uint32_t *uidvalidity,
    uint32_t *uid, char *err, size_t errsz);
int queue_pg_feedback_cursor_set(struct queue *q, const char *cursor, uint32_t uidvalidity,
    uint32_t uid, char *err, size_t errsz);

/* ---- views: queue_pg_views.c (distctl status, show, log) ---- */

int queue_pg_view_status(struct queue *q, int64_t failed_since, size_t max_recent,
    struct queue_view_status *out, char *err, size_t errsz);
int queue_pg_view_issue(struct queue *q, int64_t id, const struct queue_view_filter *f,
    struct queue_view_issue *out, char *err, size_t errsz);
int queue_pg_view_attempts(struct queue *q, int64_t after, long max, int64_t issue,
    struct queue_view_attempt **out, size_t *n, char *err, size_t errsz);
/*
 * A stored word (row, col of res) that no enum of the queue knows: a row
 * written by a newer distd or by hand; queue_bad_word's PostgreSQL twin.
 * Sets err to "reading the queue: COLUMN has an unknown value 'WORD'" (or
 * "… is NULL") and returns -1. res stays the caller's.
 */
struct pg_result;	/* libpq's PGresult */
int queue_pg_bad_word(const struct pg_result *res, int row, int col, const char *column,
    char *err, size_t errsz);

#endif
