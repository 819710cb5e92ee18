/*
 * The PostgreSQL backend: the read views of distctl status, show and log,
 * with the results, order and messages of queue_sqlite_views.c. Each view
 * is a fixed number of statements whatever the size of the queue (status:
 * five, show: one, log: one): the per-issue tier totals that SQLite reads
 * issue by issue are joined here in one statement, since every statement
 * is a round trip to the server.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "queue_pg.h"
#include "queue_private.h"
#include "xalloc.h"

/* libpq's type oids of the parameters: typed, so that a NULL one is too */
#define INT8OID 20
#define TEXTOID 25
#define BOOLOID 16

static int
read_failed(struct queue *q, PGresult *res, char *err, size_t errsz)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";

	if (msg == NULL || msg[0] == '\0')
		msg = q->pg ? PQerrorMessage(q->pg) : "not connected";
	snprintf(err, errsz, "reading the queue: %s: %.*s",
	    q->pg_name ? q->pg_name : "PostgreSQL queue", (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return -1;
}

/*
 * Runs one statement with n text parameters (NULL: SQL NULL) of the given
 * types, results in text. NULL with err on failure.
 */
static PGresult *
run(struct queue *q, const char *sql, int n, const Oid *types, const char *const *v,
    char *err, size_t errsz)
{
	PGresult *res = PQexecParams(q->pg, sql, n, types, v, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		read_failed(q, res, err, errsz);
		return NULL;
	}
	return res;
}

int
queue_pg_bad_word(const struct pg_result *res, int row, int col, const char *column,
    char *err, size_t errsz)
{
	if (PQgetisnull(res, row, col))
		snprintf(err, errsz, "reading the queue: %s is NULL", column);
	else
		snprintf(err, errsz, "reading the queue: %s has an unknown value '%s'", column,
		    PQgetvalue(res, row, col));
	return -1;
}

/* The end of a read at a stored word no enum knows: frees res. */
static int
bad_word(PGresult *res, int row, int col, const char *column, char *err, size_t errsz)
{
	queue_pg_bad_word(res, row, col, column, err, errsz);
	PQclear(res);
	return -1;
}

/* A stored word (NULL: no word, which no parser takes). */
static const char *
col_word(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* A number that may be NULL: -1 then (issue numbers, reply codes). */
static long
col_long(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? -1 : strtol(PQgetvalue(res, row, col), NULL, 10);
}

/* A time or an id that may be NULL: 0 then. */
static int64_t
col_int64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *
col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
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

/* x as a parameter in buf; a negative limit is none (NULL), as SQLite's LIMIT -1 */
static const char *
limit_param(char *buf, size_t bufsz, int64_t x)
{
	if (x < 0)
		return NULL;
	snprintf(buf, bufsz, "%lld", (long long)x);
	return buf;
}

/* ---- status ---------------------------------------------------------------- */

static int
read_counts(struct queue *q, struct queue_state_counts *c, char *err, size_t errsz)
{
	long counts[QUEUE_STATES];

	/* through the front: the backend's counts op is the one way to count */
	if (queue_counts(q, counts) < 0)
		return read_failed(q, NULL, err, errsz);
	/* by name from here on: queue_state_names's order stays inside the queue */
	*c = (struct queue_state_counts){
		.queued = counts[0], .sending = counts[1], .deferred = counts[2],
		.delivered = counts[3], .failed = counts[4], .held = counts[5],
		.cancelled = counts[6],
	};
	return 0;
}

/*
 * The recent failures (see recent_failed; a corrected recipient needs no
 * look any more), the bounced recipients (see bounced, recent_bounced)
 * and the deferred recipient of the issue received first, in one row. The failures are found by state (recipients_due) and their
 * issue looked up by id, SQLite's plan: a join lets the planner scan every
 * issue ever received instead (issues.received has no index), which
 * costs more than the few failed rows do. The bounces are read through
 * recipients_bounced, the partial index of bounced rows (its predicate is
 * the query's): the bounces ever received, never the history; an issue
 * is looked up by id only for a recent bounce.
 */
static int
read_summary(struct queue *q, int64_t failed_since, struct queue_view_status *v,
    char *err, size_t errsz)
{
	static const char sql[] =
	    "SELECT (SELECT COUNT(*) FROM recipients r"
	    "  WHERE r.state = 'failed' AND r.replaced_by IS NULL"
	    "  AND (SELECT i.state <> 'cancelled' AND i.received >= $1 FROM issues i"
	    "   WHERE i.id = r.issue)),"
	    " b.total, b.recent,"
	    " d.address, d.issue, d.attempts, d.next_attempt, d.last_reply, d.received"
	    " FROM (SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE r.bounced >= $1"
	    "  AND (SELECT i.state <> 'cancelled' FROM issues i WHERE i.id = r.issue))"
	    "  AS recent FROM recipients r WHERE r.bounced IS NOT NULL"
	    "  AND r.replaced_by IS NULL AND r.state = 'delivered') b"
	    " LEFT JOIN (SELECT r.address, r.issue, r.attempts,"
	    "  r.next_attempt, r.last_reply, i.received FROM recipients r"
	    "  JOIN issues i ON i.id = r.issue WHERE r.state = 'deferred'"
	    "  ORDER BY i.received, r.id LIMIT 1) d ON true";
	static const Oid types[] = { INT8OID };
	char since[24];
	const char *p[] = { since };

	snprintf(since, sizeof(since), "%lld", (long long)failed_since);
	PGresult *res = run(q, sql, 1, types, p, err, errsz);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		v->recent_failed = col_long(res, 0, 0);
		v->bounced = col_long(res, 0, 1);
		v->recent_bounced = col_long(res, 0, 2);
		if (!PQgetisnull(res, 0, 3)) {
			struct queue_view_deferred *d = &v->oldest_deferred;
			v->has_oldest_deferred = true;
			d->address = col_text(res, 0, 3);
			d->issue = col_int64(res, 0, 4);
			d->attempts = col_long(res, 0, 5);
			d->next_attempt = col_int64(res, 0, 6);
			d->last_reply = col_text(res, 0, 7);
			d->received = col_int64(res, 0, 8);
		}
	}
	PQclear(res);
	return 0;
}

static int
read_alerts(struct queue *q, struct queue_view_status *v, char *err, size_t errsz)
{
	PGresult *res = run(q, "SELECT kind, text, since FROM alerts ORDER BY since", 0, NULL,
	    NULL, err, errsz);

	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		v->alerts = grow(v->alerts, &v->n_alerts, sizeof(*v->alerts));
		struct queue_view_alert *a = &v->alerts[v->n_alerts - 1];
		if (queue_alert_kind_parse(col_word(res, i, 0), &a->kind) < 0)
			return bad_word(res, i, 0, "alerts.kind", err, errsz);
		a->text = col_text(res, i, 1);
		a->since = col_int64(res, i, 2);
	}
	PQclear(res);
	return 0;
}

static int
read_held(struct queue *q, struct queue_view_status *v, char *err, size_t errsz)
{
	PGresult *res = run(q, "SELECT id, title, hold_reason FROM issues"
	    " WHERE state = 'held' ORDER BY id", 0, NULL, NULL, err, errsz);

	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		v->held = grow(v->held, &v->n_held, sizeof(*v->held));
		struct queue_view_held *h = &v->held[v->n_held - 1];
		h->issue = col_int64(res, i, 0);
		h->title = col_text(res, i, 1);
		h->reason = col_text(res, i, 2);
	}
	PQclear(res);
	return 0;
}

/*
 * The max newest issues with their tiers, one row per issue and tier (an
 * issue without recipients: one row, tier NULL). A finished issue's
 * totals are the ones kept when it finished (issue_tiers); an issue still
 * going, or a finished one with none kept, is counted, as SQLite does.
 * Keywords of one tier index sort bytewise (COLLATE "C"), as SQLite's.
 */
static int
read_recent(struct queue *q, size_t max, struct queue_view_status *v, char *err,
    size_t errsz)
{
	static const char sql[] =
	    "WITH recent AS (SELECT id, title, issue_no, state, received, kind FROM issues"
	    "  WHERE duplicate_of IS NULL ORDER BY id DESC LIMIT $1),"
	    " kept AS (SELECT t.issue, t.tier, t.tier_keyword, t.total, t.delivered,"
	    "  t.deferred, t.failed, t.bounced, t.confirmed, t.receipt FROM issue_tiers t"
	    "  JOIN recent i ON i.id = t.issue AND i.state = 'done'),"
	    /* delivered: and not bounced since (issue 17) */
	    " counted AS (SELECT r.issue, r.tier, r.tier_keyword, COUNT(*),"
	    "  COUNT(*) FILTER (WHERE r.state = 'delivered' AND r.bounced IS NULL),"
	    "  COUNT(*) FILTER (WHERE r.state = 'deferred'),"
	    "  COUNT(*) FILTER (WHERE r.state = 'failed'),"
	    "  COUNT(*) FILTER (WHERE r.bounced IS NOT NULL),"
	    "  COUNT(*) FILTER (WHERE r.confirmed IS NOT NULL),"
	    "  COUNT(*) FILTER (WHERE r.receipt = 1)"
	    "  FROM recipients r JOIN recent i ON i.id = r.issue"
	    "  WHERE r.replaced_by IS NULL AND NOT EXISTS"
	    "   (SELECT 1 FROM kept k WHERE k.issue = i.id)"
	    "  GROUP BY r.issue, r.tier, r.tier_keyword)"
	    " SELECT i.id, i.title, i.issue_no, i.state, i.received, i.kind,"
	    "  t.tier_keyword, t.total, t.delivered, t.deferred, t.failed, t.bounced,"
	    "  t.confirmed, t.receipt"
	    " FROM recent i LEFT JOIN (SELECT * FROM kept UNION ALL SELECT * FROM counted) t"
	    "  ON t.issue = i.id"
	    " ORDER BY i.id DESC, t.tier, t.tier_keyword COLLATE \"C\"";
	static const Oid types[] = { INT8OID };
	char buf[24];
	const char *p[] = { limit_param(buf, sizeof(buf), (int64_t)max) };
	struct queue_view_recent *r = NULL;

	PGresult *res = run(q, sql, 1, types, p, err, errsz);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t id = col_int64(res, i, 0);
		if (r == NULL || r->id != id) {
			v->recent = grow(v->recent, &v->n_recent, sizeof(*v->recent));
			r = &v->recent[v->n_recent - 1];
			r->id = id;
			r->title = col_text(res, i, 1);
			r->issue_no = col_long(res, i, 2);
			if (queue_issue_state_parse(col_word(res, i, 3), &r->state) < 0)
				return bad_word(res, i, 3, "issues.state", err, errsz);
			r->received = col_int64(res, i, 4);
			if (queue_kind_parse(col_word(res, i, 5), &r->kind) < 0)
				return bad_word(res, i, 5, "issues.kind", err, errsz);
		}
		if (PQgetisnull(res, i, 6))
			continue;
		r->tiers = grow(r->tiers, &r->n_tiers, sizeof(*r->tiers));
		struct queue_view_tier *t = &r->tiers[r->n_tiers - 1];
		t->tier = col_text(res, i, 6);
		t->total = col_long(res, i, 7);
		t->delivered = col_long(res, i, 8);
		t->deferred = col_long(res, i, 9);
		t->failed = col_long(res, i, 10);
		t->bounced = col_long(res, i, 11);
		t->confirmed = col_long(res, i, 12);
		t->receipt = col_long(res, i, 13);
	}
	PQclear(res);
	return 0;
}

int
queue_pg_view_status(struct queue *q, int64_t failed_since, size_t max_recent,
    struct queue_view_status *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	/* SQLite's order of reads, so that the first unknown word named is the same */
	if (read_counts(q, &out->counts, err, errsz) < 0 ||
	    read_summary(q, failed_since, out, err, errsz) < 0 ||
	    read_alerts(q, out, err, errsz) < 0 ||
	    read_held(q, out, err, errsz) < 0 ||
	    read_recent(q, max_recent, out, err, errsz) < 0) {
		queue_view_status_free(out);
		return -1;
	}
	return 0;
}

/* ---- show ------------------------------------------------------------------ */

/*
 * The issue and its recipients that pass the filter in one statement:
 * one row per recipient with the issue's columns, or one row with the
 * recipient's NULL when none passes; no row for an unknown id.
 * pending: who has not got it — anything but delivered (and not bounced
 * since), cancelled or replaced; unconfirmed: who was asked to confirm
 * and has not, not cancelled, not replaced.
 */
int
queue_pg_view_issue(struct queue *q, int64_t id, const struct queue_view_filter *f,
    struct queue_view_issue *out, char *err, size_t errsz)
{
	static const char sql[] =
	    "SELECT i.id, i.title, i.issue_no, i.total_issue_no, i.issuer, i.date,"
	    " i.urgency, i.subject, i.message_id, i.state, i.hold_reason, i.source,"
	    " i.received, i.finished, i.kind, i.duplicate_of,"
	    " r.id, r.tier_keyword, r.unit, r.name, r.address, r.state, r.attempts,"
	    " r.next_attempt, r.last_code, r.last_reply, r.via, n.address,"
	    " r.bounced, r.bounce_status, r.bounce_reply, r.receipt, r.confirmed,"
	    " r.confirmed_by, r.reminders"
	    " FROM issues i LEFT JOIN (recipients r"
	    "  LEFT JOIN recipients n ON n.id = r.replaced_by)"
	    " ON r.issue = i.id AND ($2 IS NULL OR r.state = $2)"
	    "  AND ($3 IS NULL OR r.tier_keyword = $3)"
	    "  AND (NOT $4 OR ((r.state NOT IN ('delivered','cancelled')"
	    "   OR (r.state = 'delivered' AND r.bounced IS NOT NULL))"
	    "  AND r.replaced_by IS NULL))"
	    "  AND (NOT $5 OR (r.receipt = 1 AND r.confirmed IS NULL"
	    "  AND r.state <> 'cancelled' AND r.replaced_by IS NULL))"
	    " WHERE i.id = $1 ORDER BY r.tier, r.id";
	static const Oid types[] = { INT8OID, TEXTOID, TEXTOID, BOOLOID, BOOLOID };
	char idbuf[24];
	const char *p[] = { idbuf, f && f->by_state ? queue_state_name(f->state) : NULL,
		f ? f->tier : NULL, f && f->pending ? "t" : "f",
		f && f->unconfirmed ? "t" : "f" };
	struct queue_view_issue *v = out;

	memset(out, 0, sizeof(*out));
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	PGresult *res = run(q, sql, 5, types, p, err, errsz);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		snprintf(err, errsz, "no issue %lld in the queue", (long long)id);
		PQclear(res);
		return -1;
	}
	v->id = col_int64(res, 0, 0);
	v->title = col_text(res, 0, 1);
	v->issue_no = col_long(res, 0, 2);
	v->total_issue_no = col_long(res, 0, 3);
	v->issuer = col_text(res, 0, 4);
	v->date = col_text(res, 0, 5);
	v->urgency = col_text(res, 0, 6);
	v->subject = col_text(res, 0, 7);
	v->message_id = col_text(res, 0, 8);
	if (queue_issue_state_parse(col_word(res, 0, 9), &v->state) < 0) {
		bad_word(res, 0, 9, "issues.state", err, errsz);
		goto fail;
	}
	v->hold_reason = col_text(res, 0, 10);
	v->source = col_text(res, 0, 11);
	v->received = col_int64(res, 0, 12);
	v->finished = col_int64(res, 0, 13);
	if (queue_kind_parse(col_word(res, 0, 14), &v->kind) < 0) {
		bad_word(res, 0, 14, "issues.kind", err, errsz);
		goto fail;
	}
	v->duplicate_of = col_int64(res, 0, 15);
	for (int i = 0; i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 16))
			continue;	/* the issue's row: no recipient passed */
		v->recipients = grow(v->recipients, &v->n_recipients, sizeof(*v->recipients));
		struct queue_view_recipient *r = &v->recipients[v->n_recipients - 1];
		r->tier = col_text(res, i, 17);
		r->unit = col_text(res, i, 18);
		r->name = col_text(res, i, 19);
		r->address = col_text(res, i, 20);
		if (queue_state_parse(col_word(res, i, 21), &r->state) < 0) {
			bad_word(res, i, 21, "recipients.state", err, errsz);
			goto fail;
		}
		r->attempts = col_long(res, i, 22);
		r->next_attempt = col_int64(res, i, 23);
		r->last_code = col_long(res, i, 24);
		r->last_reply = col_text(res, i, 25);
		r->via = col_text(res, i, 26);
		r->replaced_by = col_text(res, i, 27);
		r->bounced = col_int64(res, i, 28);
		r->bounce_status = col_text(res, i, 29);
		r->bounce_reply = col_text(res, i, 30);
		r->receipt = col_int64(res, i, 31) != 0;
		r->confirmed = col_int64(res, i, 32);
		r->confirmed_by = col_text(res, i, 33);
		r->reminders = col_long(res, i, 34);
	}
	PQclear(res);
	return 0;
fail:
	queue_view_issue_free(out);
	return -1;
}

/* ---- log ------------------------------------------------------------------- */

int
queue_pg_view_attempts(struct queue *q, int64_t after, long max, int64_t issue,
    struct queue_view_attempt **out, size_t *n, char *err, size_t errsz)
{
	/* the last max (or everything after `after`), handed back oldest first */
	static const char sql[] =
	    "SELECT * FROM (SELECT a.id, a.time, a.issue, r.tier_keyword, r.address,"
	    " a.status, a.class, a.code, a.reply, a.attempt, a.relay, a.possible_duplicate"
	    " FROM attempts a JOIN recipients r ON r.id = a.recipient"
	    " WHERE a.id > $1 AND ($2 = 0 OR a.issue = $2) ORDER BY a.id DESC LIMIT $3) last"
	    " ORDER BY id";
	static const Oid types[] = { INT8OID, INT8OID, INT8OID };
	char afterbuf[24], issuebuf[24], maxbuf[24];
	const char *p[] = { afterbuf, issuebuf, limit_param(maxbuf, sizeof(maxbuf), max) };
	struct queue_view_attempt *rows = NULL;
	size_t count = 0;

	*out = NULL;
	*n = 0;
	snprintf(afterbuf, sizeof(afterbuf), "%lld", (long long)after);
	snprintf(issuebuf, sizeof(issuebuf), "%lld", (long long)issue);
	PGresult *res = run(q, sql, 3, types, p, err, errsz);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		rows = grow(rows, &count, sizeof(*rows));
		struct queue_view_attempt *a = &rows[count - 1];
		a->id = col_int64(res, i, 0);
		a->time = col_int64(res, i, 1);
		a->issue = col_int64(res, i, 2);
		a->tier = col_text(res, i, 3);
		a->address = col_text(res, i, 4);
		if (queue_attempt_status_parse(col_word(res, i, 5), &a->status) < 0) {
			bad_word(res, i, 5, "attempts.status", err, errsz);
			queue_view_attempts_free(rows, count);
			return -1;
		}
		/* NULL: a row distctl or the feedback wrote (resend, replaced,
		 * bounced, confirmed, reminded), no transfer's class */
		a->has_class = !PQgetisnull(res, i, 6);
		if (a->has_class && smtp_class_parse(col_word(res, i, 6), &a->class) < 0) {
			bad_word(res, i, 6, "attempts.class", err, errsz);
			queue_view_attempts_free(rows, count);
			return -1;
		}
		a->code = col_long(res, i, 7);
		a->reply = col_text(res, i, 8);
		a->attempt = col_long(res, i, 9);
		a->relay = col_text(res, i, 10);
		a->possible_duplicate = col_long(res, i, 11) > 0;
	}
	PQclear(res);
	*out = rows;
	*n = count;
	return 0;
}
