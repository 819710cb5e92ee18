/*
 * The read views of distctl status, show and log: the queue's only reads
 * for display, so that the schema has one owner and the renderers no SQL.
 */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

#include "queue_private.h"
#include "queue_sqlite.h"
#include "xalloc.h"

static int
read_failed(struct queue *q, char *err, size_t errsz)
{
	snprintf(err, errsz, "reading the queue: %s", sqlite3_errmsg(q->db));
	return -1;
}

static sqlite3_stmt *
prepare(struct queue *q, const char *sql, char *err, size_t errsz)
{
	sqlite3_stmt *st = queue_prepare(q, sql);

	if (st == NULL)
		read_failed(q, err, errsz);
	return st;
}

/* The end of a loop over sqlite3_step: rc is its last result. */
static int
finished(struct queue *q, sqlite3_stmt *st, int rc, char *err, size_t errsz)
{
	int ok = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : read_failed(q, err, errsz);

	sqlite3_finalize(st);
	return ok;
}

/* The end of a loop at a stored word no enum knows (queue_bad_word). */
static int
bad_word(sqlite3_stmt *st, int i, const char *column, char *err, size_t errsz)
{
	queue_bad_word(st, i, column, err, errsz);
	sqlite3_finalize(st);
	return -1;
}

/* A column that may be NULL: -1 then (issue numbers, reply codes). */
static long
col_long(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(st, i);
}

/* A time or an id that may be NULL: 0 then. */
static int64_t
col_int64(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, i);
}

/* Grows an array of rows by one zeroed row; returns it. */
static void *
grow(void *rows, size_t *n, size_t size)
{
	char *r = xreallocarray(rows, *n + 1, size);

	memset(r + *n * size, 0, size);
	(*n)++;
	return r;
}

/* ---- status ---------------------------------------------------------------- */

static int
read_counts(struct queue *q, struct queue_state_counts *c, char *err, size_t errsz)
{
	long counts[QUEUE_STATES];

	if (queue_counts(q, counts) < 0)
		return read_failed(q, err, errsz);
	/* by name from here on: queue_state_names's order stays inside the queue */
	*c = (struct queue_state_counts){
		.queued = counts[0], .sending = counts[1], .deferred = counts[2],
		.delivered = counts[3], .failed = counts[4], .held = counts[5],
		.cancelled = counts[6],
	};
	return 0;
}

static int
read_oldest_deferred(struct queue *q, struct queue_view_status *v, char *err, size_t errsz)
{
	sqlite3_stmt *st = prepare(q, "SELECT r.address, r.issue, r.attempts, r.next_attempt,"
	    " r.last_reply, i.received FROM recipients r JOIN issues i ON i.id = r.issue"
	    " WHERE r.state = 'deferred' ORDER BY i.received, r.id LIMIT 1", err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_view_deferred *d = &v->oldest_deferred;
		v->has_oldest_deferred = true;
		d->address = queue_col_text(st, 0);
		d->issue = sqlite3_column_int64(st, 1);
		d->attempts = (long)sqlite3_column_int64(st, 2);
		d->next_attempt = col_int64(st, 3);
		d->last_reply = queue_col_text(st, 4);
		d->received = col_int64(st, 5);
	}
	return finished(q, st, rc, err, errsz);
}

static int
read_alerts(struct queue *q, struct queue_view_status *v, char *err, size_t errsz)
{
	sqlite3_stmt *st = prepare(q, "SELECT kind, text, since FROM alerts ORDER BY since",
	    err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v->alerts = grow(v->alerts, &v->n_alerts, sizeof(*v->alerts));
		struct queue_view_alert *a = &v->alerts[v->n_alerts - 1];
		if (queue_alert_kind_parse((const char *)sqlite3_column_text(st, 0), &a->kind) < 0)
			return bad_word(st, 0, "alerts.kind", err, errsz);
		a->text = queue_col_text(st, 1);
		a->since = col_int64(st, 2);
	}
	return finished(q, st, rc, err, errsz);
}

static int
read_held(struct queue *q, struct queue_view_status *v, char *err, size_t errsz)
{
	sqlite3_stmt *st = prepare(q, "SELECT id, title, hold_reason FROM issues"
	    " WHERE state = 'held' ORDER BY id", err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v->held = grow(v->held, &v->n_held, sizeof(*v->held));
		struct queue_view_held *h = &v->held[v->n_held - 1];
		h->issue = sqlite3_column_int64(st, 0);
		h->title = queue_col_text(st, 1);
		h->reason = queue_col_text(st, 2);
	}
	return finished(q, st, rc, err, errsz);
}

static int
read_recent_failed(struct queue *q, int64_t since, long *count, char *err, size_t errsz)
{
	/* a corrected recipient (replaced) needs no look any more */
	sqlite3_stmt *st = prepare(q, "SELECT COUNT(*) FROM recipients r"
	    " JOIN issues i ON i.id = r.issue WHERE r.state = 'failed'"
	    " AND r.replaced_by IS NULL AND i.state != 'cancelled' AND i.received >= ?",
	    err, errsz);
	int rc;

	*count = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*count = (long)sqlite3_column_int64(st, 0);
	return finished(q, st, rc, err, errsz);
}

/*
 * The bounced recipients, and those that bounced since ?1 of issues not
 * cancelled, for status. recipients_bounced holds only the bounced rows:
 * the count walks the bounces ever received, never the history, and
 * looks an issue up by id only for a recent bounce (test_status_bounced_plan
 * in test_queue.c checks the plan). A bounce is set only on a delivered
 * row; state is asked all the same, so that status may take the bounced
 * out of the delivered count.
 */
const char queue_bounced_count_sql[] =
    "SELECT COUNT(*), COALESCE(SUM(r.bounced >= ?1 AND (SELECT i.state != 'cancelled'"
    "  FROM issues i WHERE i.id = r.issue)), 0)"
    " FROM recipients r INDEXED BY recipients_bounced"
    " WHERE r.bounced IS NOT NULL AND r.replaced_by IS NULL AND r.state = 'delivered'";

static int
read_bounced(struct queue *q, int64_t since, struct queue_view_status *v, char *err,
    size_t errsz)
{
	sqlite3_stmt *st = prepare(q, queue_bounced_count_sql, err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v->bounced = (long)sqlite3_column_int64(st, 0);
		v->recent_bounced = (long)sqlite3_column_int64(st, 1);
	}
	return finished(q, st, rc, err, errsz);
}

static void
read_tiers(struct queue *q, struct queue_view_recent *r)
{
	/*
	 * A finished issue's totals were written when it finished (table
	 * issue_tiers); only the issues still going are counted here. A
	 * statement that does not prepare (a queue from before schema 8 read
	 * without migrating) falls through to counting.
	 */
	static const char *const sql[] = {
		"SELECT t.tier_keyword, t.total, t.delivered, t.deferred, t.failed,"
		" t.bounced, t.confirmed, t.receipt"
		" FROM issue_tiers t JOIN issues i ON i.id = t.issue AND i.state = 'done'"
		" WHERE t.issue = ? ORDER BY t.tier",
		"SELECT tier_keyword, COUNT(*)" QUEUE_TIER_SUMS
		" FROM recipients WHERE issue = ? AND replaced_by IS NULL"
		" GROUP BY tier, tier_keyword ORDER BY tier",
	};

	for (size_t k = 0; k < 2 && r->n_tiers == 0; k++) {
		sqlite3_stmt *st = queue_prepare(q, sql[k]);
		if (st == NULL)
			continue;
		sqlite3_bind_int64(st, 1, r->id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			r->tiers = grow(r->tiers, &r->n_tiers, sizeof(*r->tiers));
			struct queue_view_tier *t = &r->tiers[r->n_tiers - 1];
			t->tier = queue_col_text(st, 0);
			t->total = (long)sqlite3_column_int64(st, 1);
			t->delivered = (long)sqlite3_column_int64(st, 2);
			t->deferred = (long)sqlite3_column_int64(st, 3);
			t->failed = (long)sqlite3_column_int64(st, 4);
			t->bounced = (long)sqlite3_column_int64(st, 5);
			t->confirmed = (long)sqlite3_column_int64(st, 6);
			t->receipt = (long)sqlite3_column_int64(st, 7);
		}
		sqlite3_finalize(st);
	}
}

static int
read_recent(struct queue *q, size_t max, struct queue_view_status *v, char *err,
    size_t errsz)
{
	sqlite3_stmt *st = prepare(q, "SELECT id, title, issue_no, state, received, kind"
	    " FROM issues WHERE duplicate_of IS NULL ORDER BY id DESC LIMIT ?", err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v->recent = grow(v->recent, &v->n_recent, sizeof(*v->recent));
		struct queue_view_recent *r = &v->recent[v->n_recent - 1];
		r->id = sqlite3_column_int64(st, 0);
		r->title = queue_col_text(st, 1);
		r->issue_no = col_long(st, 2);
		if (queue_issue_state_parse((const char *)sqlite3_column_text(st, 3),
		    &r->state) < 0)
			return bad_word(st, 3, "issues.state", err, errsz);
		r->received = col_int64(st, 4);
		if (queue_kind_parse((const char *)sqlite3_column_text(st, 5), &r->kind) < 0)
			return bad_word(st, 5, "issues.kind", err, errsz);
		read_tiers(q, r);
	}
	return finished(q, st, rc, err, errsz);
}

int
sqlite_view_status(struct queue *q, int64_t failed_since, size_t max_recent,
    struct queue_view_status *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	if (read_counts(q, &out->counts, err, errsz) < 0 ||
	    read_oldest_deferred(q, out, err, errsz) < 0 ||
	    read_alerts(q, out, err, errsz) < 0 ||
	    read_held(q, out, err, errsz) < 0 ||
	    read_recent_failed(q, failed_since, &out->recent_failed, err, errsz) < 0 ||
	    read_bounced(q, failed_since, out, err, errsz) < 0 ||
	    read_recent(q, max_recent, out, err, errsz) < 0) {
		queue_view_status_free(out);
		return -1;
	}
	return 0;
}

void
queue_view_status_free(struct queue_view_status *v)
{
	if (v == NULL)
		return;
	free(v->oldest_deferred.address);
	free(v->oldest_deferred.last_reply);
	for (size_t i = 0; i < v->n_alerts; i++)
		free(v->alerts[i].text);
	free(v->alerts);
	for (size_t i = 0; i < v->n_held; i++) {
		free(v->held[i].title);
		free(v->held[i].reason);
	}
	free(v->held);
	for (size_t i = 0; i < v->n_recent; i++) {
		struct queue_view_recent *r = &v->recent[i];
		for (size_t k = 0; k < r->n_tiers; k++)
			free(r->tiers[k].tier);
		free(r->tiers);
		free(r->title);
	}
	free(v->recent);
	memset(v, 0, sizeof(*v));
}

/* ---- show ------------------------------------------------------------------ */

static int
read_issue(struct queue *q, int64_t id, struct queue_view_issue *v, char *err, size_t errsz)
{
	sqlite3_stmt *st = prepare(q, "SELECT id, title, issue_no, total_issue_no, issuer,"
	    " date, urgency, subject, message_id, state, hold_reason, source, received,"
	    " finished, kind, duplicate_of FROM issues WHERE id = ?", err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			snprintf(err, errsz, "no issue %lld in the queue", (long long)id);
		else
			read_failed(q, err, errsz);
		sqlite3_finalize(st);
		return -1;
	}
	v->id = sqlite3_column_int64(st, 0);
	v->title = queue_col_text(st, 1);
	v->issue_no = col_long(st, 2);
	v->total_issue_no = col_long(st, 3);
	v->issuer = queue_col_text(st, 4);
	v->date = queue_col_text(st, 5);
	v->urgency = queue_col_text(st, 6);
	v->subject = queue_col_text(st, 7);
	v->message_id = queue_col_text(st, 8);
	if (queue_issue_state_parse((const char *)sqlite3_column_text(st, 9), &v->state) < 0)
		return bad_word(st, 9, "issues.state", err, errsz);
	v->hold_reason = queue_col_text(st, 10);
	v->source = queue_col_text(st, 11);
	v->received = col_int64(st, 12);
	v->finished = col_int64(st, 13);
	if (queue_kind_parse((const char *)sqlite3_column_text(st, 14), &v->kind) < 0)
		return bad_word(st, 14, "issues.kind", err, errsz);
	v->duplicate_of = col_int64(st, 15);
	sqlite3_finalize(st);
	return 0;
}

static int
read_recipients(struct queue *q, const struct queue_view_filter *f,
    struct queue_view_issue *v, char *err, size_t errsz)
{
	/*
	 * pending: who has not got it — anything but delivered (a bounce after
	 * delivery counts as not got), cancelled or replaced; unconfirmed: who
	 * was asked to confirm receipt and has not, and is still meant to get it
	 */
	sqlite3_stmt *st = prepare(q, "SELECT r.tier_keyword, r.unit, r.name, r.address,"
	    " r.state, r.attempts, r.next_attempt, r.last_code, r.last_reply, r.via, n.address,"
	    " r.bounced, r.bounce_status, r.bounce_reply, r.receipt, r.confirmed,"
	    " r.confirmed_by, r.reminders"
	    " FROM recipients r LEFT JOIN recipients n ON n.id = r.replaced_by"
	    " WHERE r.issue = ?1 AND (?2 IS NULL OR r.state = ?2)"
	    " AND (?3 IS NULL OR r.tier_keyword = ?3)"
	    " AND (?4 = 0 OR ((r.state NOT IN ('delivered','cancelled')"
	    "  OR (r.state = 'delivered' AND r.bounced IS NOT NULL))"
	    " AND r.replaced_by IS NULL))"
	    " AND (?5 = 0 OR (r.receipt = 1 AND r.confirmed IS NULL"
	    " AND r.state != 'cancelled' AND r.replaced_by IS NULL))"
	    " ORDER BY r.tier, r.id", err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, v->id);
	queue_bind_text(st, 2, f && f->by_state ? queue_state_name(f->state) : NULL);
	queue_bind_text(st, 3, f ? f->tier : NULL);
	sqlite3_bind_int(st, 4, f && f->pending);
	sqlite3_bind_int(st, 5, f && f->unconfirmed);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v->recipients = grow(v->recipients, &v->n_recipients, sizeof(*v->recipients));
		struct queue_view_recipient *r = &v->recipients[v->n_recipients - 1];
		r->tier = queue_col_text(st, 0);
		r->unit = queue_col_text(st, 1);
		r->name = queue_col_text(st, 2);
		r->address = queue_col_text(st, 3);
		if (queue_state_parse((const char *)sqlite3_column_text(st, 4), &r->state) < 0)
			return bad_word(st, 4, "recipients.state", err, errsz);
		r->attempts = (long)sqlite3_column_int64(st, 5);
		r->next_attempt = col_int64(st, 6);
		r->last_code = col_long(st, 7);
		r->last_reply = queue_col_text(st, 8);
		r->via = queue_col_text(st, 9);
		r->replaced_by = queue_col_text(st, 10);
		r->bounced = col_int64(st, 11);
		r->bounce_status = queue_col_text(st, 12);
		r->bounce_reply = queue_col_text(st, 13);
		r->receipt = sqlite3_column_int64(st, 14) != 0;
		r->confirmed = col_int64(st, 15);
		r->confirmed_by = queue_col_text(st, 16);
		r->reminders = (long)sqlite3_column_int64(st, 17);
	}
	return finished(q, st, rc, err, errsz);
}

int
sqlite_view_issue(struct queue *q, int64_t id, const struct queue_view_filter *f,
    struct queue_view_issue *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	if (read_issue(q, id, out, err, errsz) < 0 ||
	    read_recipients(q, f, out, err, errsz) < 0) {
		queue_view_issue_free(out);
		return -1;
	}
	return 0;
}

void
queue_view_issue_free(struct queue_view_issue *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n_recipients; i++) {
		struct queue_view_recipient *r = &v->recipients[i];
		free(r->tier);
		free(r->unit);
		free(r->name);
		free(r->address);
		free(r->last_reply);
		free(r->via);
		free(r->replaced_by);
		free(r->bounce_status);
		free(r->bounce_reply);
		free(r->confirmed_by);
	}
	free(v->recipients);
	free(v->title);
	free(v->issuer);
	free(v->date);
	free(v->urgency);
	free(v->subject);
	free(v->message_id);
	free(v->hold_reason);
	free(v->source);
	memset(v, 0, sizeof(*v));
}

/* ---- log ------------------------------------------------------------------- */

int
sqlite_view_attempts(struct queue *q, int64_t after, long max, int64_t issue,
    struct queue_view_attempt **out, size_t *n, char *err, size_t errsz)
{
	/* the last max (or everything after `after`), handed back oldest first */
	sqlite3_stmt *st = prepare(q, "SELECT * FROM (SELECT a.id, a.time, a.issue,"
	    " r.tier_keyword, r.address, a.status, a.class, a.code, a.reply, a.attempt,"
	    " a.relay, a.possible_duplicate FROM attempts a"
	    " JOIN recipients r ON r.id = a.recipient"
	    " WHERE a.id > ?1 AND (?2 = 0 OR a.issue = ?2) ORDER BY a.id DESC LIMIT ?3)"
	    " ORDER BY id", err, errsz);
	struct queue_view_attempt *rows = NULL;
	size_t count = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, issue);
	sqlite3_bind_int64(st, 3, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows = grow(rows, &count, sizeof(*rows));
		struct queue_view_attempt *a = &rows[count - 1];
		a->id = sqlite3_column_int64(st, 0);
		a->time = col_int64(st, 1);
		a->issue = sqlite3_column_int64(st, 2);
		a->tier = queue_col_text(st, 3);
		a->address = queue_col_text(st, 4);
		if (queue_attempt_status_parse((const char *)sqlite3_column_text(st, 5),
		    &a->status) < 0) {
			bad_word(st, 5, "attempts.status", err, errsz);
			queue_view_attempts_free(rows, count);
			return -1;
		}
		/* NULL: a row distctl wrote (resend, replaced), no transfer's class */
		a->has_class = sqlite3_column_type(st, 6) != SQLITE_NULL;
		if (a->has_class && smtp_class_parse((const char *)sqlite3_column_text(st, 6),
		    &a->class) < 0) {
			bad_word(st, 6, "attempts.class", err, errsz);
			queue_view_attempts_free(rows, count);
			return -1;
		}
		a->code = col_long(st, 7);
		a->reply = queue_col_text(st, 8);
		a->attempt = (long)sqlite3_column_int64(st, 9);
		a->relay = queue_col_text(st, 10);
		a->possible_duplicate = sqlite3_column_int64(st, 11) > 0;
	}
	if (finished(q, st, rc, err, errsz) < 0) {
		queue_view_attempts_free(rows, count);
		return -1;
	}
	*out = rows;
	*n = count;
	return 0;
}

void
queue_view_attempts_free(struct queue_view_attempt *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].tier);
		free(a[i].address);
		free(a[i].reply);
		free(a[i].relay);
	}
	free(a);
}
