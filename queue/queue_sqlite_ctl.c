/* The SQLite backend: steering the queue from distctl (hold, release, cancel, retry, resend, re-route), the record and retention. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "xalloc.h"

#include "queue.h"
#include "queue_private.h"
#include "queue_sqlite.h"

static int
issue_state(struct queue *q, int64_t issue, enum queue_issue_state *state, char *err,
    size_t errsz)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT state FROM issues WHERE id = ?");
	int rc = -1;

	sqlite3_bind_int64(st, 1, issue);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		rc = queue_issue_state_parse(text, state);
		if (rc < 0)
			snprintf(err, errsz, "issue %lld has an unknown state '%s'",
			    (long long)issue, text ? text : "");
	} else {
		snprintf(err, errsz, "no issue %lld in the queue", (long long)issue);
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * An issue with no recipient in tier is an error that names the tiers it
 * has, so that a typo (送 for 发) never passes for "nothing to do".
 */
static int
check_tier(struct queue *q, int64_t issue, const char *tier, char *err, size_t errsz)
{
	struct sbuf have = SBUF_INIT;
	sqlite3_stmt *st;
	bool found = false;

	if (tier == NULL)
		return 0;
	st = queue_prepare(q, "SELECT tier_keyword FROM recipients WHERE issue = ?"
	    " GROUP BY tier, tier_keyword ORDER BY tier");
	if (st == NULL)
		return queue_fail(q, err, errsz, "tiers");
	sqlite3_bind_int64(st, 1, issue);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t && strcmp(t, tier) == 0)
			found = true;
		sbuf_printf(&have, "%s%s", have.len ? ", " : "", t ? t : "");
	}
	sqlite3_finalize(st);
	if (!found)
		snprintf(err, errsz, "issue %lld has no recipients in tier %s (its tiers: %s)",
		    (long long)issue, tier, have.len ? sbuf_str(&have) : "none");
	sbuf_free(&have);
	return found ? 0 : -1;
}

/*
 * Runs UPDATE statements with ?1 = issue, ?2 = now, ?3 = text, ?4 = tier
 * (NULL: every tier) in one transaction; returns the changes of the first.
 * A statement need not use every parameter (an absent index only makes
 * sqlite3_bind_* return SQLITE_RANGE).
 */
static int
update(struct queue *q, int64_t issue, int64_t now, const char *text, const char *tier,
    const char *const *sqls, char *err, size_t errsz)
{
	int changed = 0;

	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	for (size_t i = 0; sqls[i]; i++) {
		sqlite3_stmt *st = queue_prepare(q, sqls[i]);
		if (st == NULL) {
			queue_fail(q, err, errsz, "update");
			queue_rollback(q);
			return -1;
		}
		sqlite3_bind_int64(st, 1, issue);
		sqlite3_bind_int64(st, 2, now);
		queue_bind_text(st, 3, text);
		queue_bind_text(st, 4, tier);
		if (sqlite3_step(st) != SQLITE_DONE) {
			queue_fail(q, err, errsz, "update");
			sqlite3_finalize(st);
			queue_rollback(q);
			return -1;
		}
		if (i == 0)
			changed = sqlite3_changes(q->db);
		sqlite3_finalize(st);
	}
	if (queue_exec(q, "COMMIT", err, errsz) < 0) {
		queue_rollback(q);
		return -1;
	}
	return changed;
}

#define IN_TIER " AND (?4 IS NULL OR tier_keyword = ?4)"

int
sqlite_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
    char *err, size_t errsz)
{
	static const char *const whole[] = {
		"UPDATE recipients SET state = 'held' WHERE issue = ?1"
		" AND state IN ('queued','deferred')",
		"UPDATE issues SET state = 'held', hold_reason = ?3 WHERE id = ?1",
		NULL };
	/* one tier waits, the others go on: the issue stays active */
	static const char *const part[] = {
		"UPDATE recipients SET state = 'held' WHERE issue = ?1"
		" AND state IN ('queued','deferred')" IN_TIER, NULL };
	enum queue_issue_state state;

	if (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (state != QUEUE_ISSUE_ACTIVE) {
		snprintf(err, errsz, "issue %lld is %s, not active", (long long)issue,
		    queue_issue_state_name(state));
		return -1;
	}
	return update(q, issue, 0, reason, tier, tier ? part : whole, err, errsz);
}

int
sqlite_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	static const char *const sqls[] = {
		"UPDATE recipients SET state = 'queued', next_attempt = ?2"
		" WHERE issue = ?1 AND state = 'held'" IN_TIER,
		/*
		 * Recipients carry their own held state, so the issue goes active
		 * as soon as any of them may go out (only active issues are taken);
		 * the rest stay held one by one.
		 */
		"UPDATE issues SET state = 'active', hold_reason = NULL WHERE id = ?1"
		" AND state = 'held'", NULL };
	enum queue_issue_state state;
	sqlite3_stmt *st;
	int held = 0;

	if (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	st = queue_prepare(q, "SELECT COUNT(*) FROM recipients WHERE issue = ?1"
	    " AND state = 'held' AND (?2 IS NULL OR tier_keyword = ?2)");
	if (st == NULL)
		return queue_fail(q, err, errsz, "release");
	sqlite3_bind_int64(st, 1, issue);
	queue_bind_text(st, 2, tier);
	if (sqlite3_step(st) == SQLITE_ROW)
		held = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	/* a held issue with nothing held (all delivered before the hold) still reopens */
	if (state != QUEUE_ISSUE_HELD && held == 0) {
		if (tier)
			snprintf(err, errsz, "issue %lld has no held recipients in tier %s",
			    (long long)issue, tier);
		else if (state == QUEUE_ISSUE_CANCELLED)
			snprintf(err, errsz, "issue %lld is cancelled, not held; to send it "
			    "again on purpose: distctl resend %lld --all", (long long)issue,
			    (long long)issue);
		else
			snprintf(err, errsz, "issue %lld is %s, not held", (long long)issue,
			    queue_issue_state_name(state));
		return -1;
	}
	return update(q, issue, now, NULL, tier, sqls, err, errsz);
}

int
sqlite_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	/*
	 * `sending` too: queue_record keeps what the transaction really did
	 * (delivered, failed) and leaves a temporary failure cancelled, so no
	 * row of a cancelled issue waits for ever.
	 */
	static const char *const whole[] = {
		"UPDATE recipients SET state = 'cancelled' WHERE issue = ?1"
		" AND state IN ('queued','deferred','held','sending')",
		"UPDATE issues SET state = 'cancelled', finished = ?2 WHERE id = ?1",
		NULL };
	/* the issue finishes (queue_finish) when its other tiers do */
	static const char *const part[] = {
		"UPDATE recipients SET state = 'cancelled' WHERE issue = ?1"
		" AND state IN ('queued','deferred','held','sending')" IN_TIER, NULL };
	enum queue_issue_state state;

	if (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (state == QUEUE_ISSUE_CANCELLED) {
		snprintf(err, errsz, "issue %lld is already cancelled", (long long)issue);
		return -1;
	}
	return update(q, issue, now, NULL, tier, tier ? part : whole, err, errsz);
}

int
sqlite_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	static const char *const one[] = {
		"UPDATE recipients SET next_attempt = ?2 WHERE issue = ?1"
		" AND state IN ('queued','deferred')" IN_TIER, NULL };
	static const char *const all[] = {
		"UPDATE recipients SET next_attempt = ?2 WHERE state IN ('queued','deferred')"
		" AND issue IN (SELECT id FROM issues WHERE state = 'active')"
		IN_TIER, NULL };
	enum queue_issue_state state;

	if (issue != 0 && (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0))
		return -1;
	return update(q, issue, now, NULL, tier, issue ? one : all, err, errsz);
}

static int
resend(struct queue *q, int64_t issue, const char *tier, const char *address, bool all,
    int64_t now, char *err, size_t errsz)
{
	enum queue_issue_state state;
	char sql[800];
	struct sbuf where = SBUF_INIT;
	int changed;

	if (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (state == QUEUE_ISSUE_HELD) {
		snprintf(err, errsz, "issue %lld is held; release it first", (long long)issue);
		return -1;
	}
	/* a cancel is meant for good: sending again is a decision of its own */
	if (state == QUEUE_ISSUE_CANCELLED && !all) {
		snprintf(err, errsz, "issue %lld is cancelled; to send it again on purpose, "
		    "to every recipient, use: distctl resend %lld --all", (long long)issue,
		    (long long)issue);
		return -1;
	}
	/* a replaced address stays replaced: its correction is the one to resend */
	sbuf_puts(&where, all ? "issue = ?1 AND state IN ('delivered','failed','cancelled')"
	    " AND replaced_by IS NULL" : "issue = ?1 AND state IN ('delivered','failed')"
	    " AND replaced_by IS NULL");
	if (tier)
		sbuf_puts(&where, " AND tier_keyword = ?3");
	if (address)
		sbuf_printf(&where, " AND address = ?%d", tier ? 4 : 3);
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0) {
		sbuf_free(&where);
		return -1;
	}
	/* the history says why these go out again */
	snprintf(sql, sizeof(sql), "INSERT INTO attempts (recipient, issue, time, status,"
	    " reply, attempt) SELECT id, issue, ?2, 'resend', 'resend requested with distctl%s',"
	    " attempts FROM recipients WHERE %s", all ? " (--all)" : "", sbuf_str(&where));
	sqlite3_stmt *st = queue_prepare(q, sql);
	/* a bounce is about the delivery sent before: the new one has none yet
	 * (a confirmation of receipt stays: the recipient did get it) */
	snprintf(sql, sizeof(sql), "UPDATE recipients SET state = 'queued', next_attempt = ?2,"
	    " delivered = NULL, bounced = NULL, bounce_status = NULL, bounce_reply = NULL,"
	    " bounce_attempt = NULL"
	    " WHERE %s", sbuf_str(&where));
	sqlite3_stmt *up = queue_prepare(q, sql);
	sqlite3_stmt *is = queue_prepare(q, "UPDATE issues SET state = 'active', finished = NULL,"
	    " reported = 0, hold_reason = NULL WHERE id = ?1");
	sbuf_free(&where);
	if (st == NULL || up == NULL || is == NULL)
		goto fail;
	sqlite3_stmt *both[2] = { st, up };
	for (int i = 0; i < 2; i++) {
		sqlite3_bind_int64(both[i], 1, issue);
		sqlite3_bind_int64(both[i], 2, now);
		if (tier)
			queue_bind_text(both[i], 3, tier);
		if (address)
			queue_bind_text(both[i], tier ? 4 : 3, address);
		if (sqlite3_step(both[i]) != SQLITE_DONE)
			goto fail;
	}
	changed = sqlite3_changes(q->db);
	if (changed > 0) {
		sqlite3_bind_int64(is, 1, issue);
		if (sqlite3_step(is) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	sqlite3_finalize(is);
	if (queue_exec(q, "COMMIT", err, errsz) < 0) {
		queue_rollback(q);
		return -1;
	}
	return changed;
fail:
	queue_fail(q, err, errsz, "resend");
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	sqlite3_finalize(is);
	queue_rollback(q);
	return -1;
}

int
sqlite_resend(struct queue *q, int64_t issue, const char *tier, const char *address,
    int64_t now, char *err, size_t errsz)
{
	return resend(q, issue, tier, address, false, now, err, errsz);
}

int
sqlite_resend_all(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	return resend(q, issue, tier, NULL, true, now, err, errsz);
}

bool
sqlite_has_recipient(struct queue *q, int64_t issue, const char *tier, const char *address)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT 1 FROM recipients WHERE issue = ?1"
	    " AND address = ?2 AND replaced_by IS NULL AND (?3 IS NULL OR tier_keyword = ?3)");
	bool found;

	if (st == NULL)
		return false;
	sqlite3_bind_int64(st, 1, issue);
	queue_bind_text(st, 2, address);
	queue_bind_text(st, 3, tier);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

int
sqlite_resend_to(struct queue *q, int64_t issue, const char *tier, const char *address,
    const char *old, int64_t now, char *err, size_t errsz)
{
	enum queue_issue_state state;
	char note[400];
	sqlite3_stmt *st = NULL;
	int64_t from = 0, added;
	int n = 0;

	if (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (state == QUEUE_ISSUE_CANCELLED || state == QUEUE_ISSUE_HELD) {
		snprintf(err, errsz, "issue %lld is %s; release it first", (long long)issue,
		    queue_issue_state_name(state));
		return -1;
	}
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	/* the row whose tier, unit and name the new address takes over */
	st = queue_prepare(q, old ?
	    "SELECT id, tier_keyword FROM recipients WHERE issue = ?1 AND address = ?2"
	    " AND replaced_by IS NULL AND (?3 IS NULL OR tier_keyword = ?3) ORDER BY tier, id" :
	    "SELECT id, tier_keyword FROM recipients WHERE issue = ?1 AND ?2 = ?2"
	    " AND (?3 IS NULL OR tier_keyword = ?3) GROUP BY tier ORDER BY tier, id");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, issue);
	queue_bind_text(st, 2, old ? old : "");
	queue_bind_text(st, 3, tier);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n++ == 0)
			from = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (n == 0) {
		snprintf(err, errsz, "issue %lld has no recipient%s%s%s%s", (long long)issue,
		    old ? " <" : "s", old ? old : "", old ? ">" : "", tier ? " in that tier" : "");
		goto refused;
	}
	if (n > 1) {
		if (old)
			snprintf(err, errsz, "<%s> is a recipient in more than one tier of issue"
			    " %lld: say which with --tier", old, (long long)issue);
		else
			snprintf(err, errsz, "issue %lld has more than one tier: say which one"
			    " gets <%s> with --tier", (long long)issue, address);
		goto refused;
	}
	/* in any tier: the same address twice in one issue would get it twice */
	if (sqlite_has_recipient(q, issue, NULL, address)) {
		snprintf(err, errsz, "<%s> is already a recipient of issue %lld: "
		    "distctl resend %lld --to %s sends it again", address, (long long)issue,
		    (long long)issue, address);
		goto refused;
	}
	if (queue_run1(q, old ?
	    "INSERT INTO recipients (issue, tier, tier_keyword, header, unit, via, name,"
	    " display, address, state, next_attempt, receipt) SELECT issue, tier,"
	    " tier_keyword, header, unit, via, name, display, ?3, 'queued', ?2, receipt"
	    " FROM recipients WHERE id = ?1" :
	    /* an address of its own: named by itself, in the tier's header, asked
	     * to confirm receipt as the tier's row it is added beside */
	    "INSERT INTO recipients (issue, tier, tier_keyword, header, unit, via, name,"
	    " display, address, state, next_attempt, receipt) SELECT issue, tier,"
	    " tier_keyword, header, '(added with distctl)', 'distctl', ?3, ?3, ?3, 'queued',"
	    " ?2, receipt FROM recipients WHERE id = ?1", from, now, address) < 0)
		goto fail;
	added = sqlite3_last_insert_rowid(q->db);
	/* the history of both rows says what happened */
	snprintf(note, sizeof(note), "replaced by <%s> with distctl resend --replace", address);
	if (old && (queue_run1(q, "UPDATE recipients SET replaced_by = ?2, state = CASE WHEN state"
	    " IN ('queued','deferred','held') THEN 'cancelled' ELSE state END WHERE id = ?1",
	    from, added, NULL) < 0 ||
	    queue_run1(q, "INSERT INTO attempts (recipient, issue, time, status, reply, attempt)"
	    " SELECT id, issue, ?2, 'replaced', ?3, attempts FROM recipients WHERE id = ?1",
	    from, now, note) < 0))
		goto fail;
	if (old)
		snprintf(note, sizeof(note), "replaces <%s>: resend requested with distctl", old);
	else
		snprintf(note, sizeof(note), "added with distctl resend --to");
	if (queue_run1(q, "INSERT INTO attempts (recipient, issue, time, status, reply, attempt)"
	    " SELECT id, issue, ?2, 'resend', ?3, 0 FROM recipients WHERE id = ?1",
	    added, now, note) < 0 ||
	    queue_run1(q, "UPDATE issues SET state = 'active', finished = NULL, reported = 0"
	    " WHERE id = ?1", issue, 0, NULL) < 0)
		goto fail;
	if (queue_exec(q, "COMMIT", err, errsz) < 0) {
		queue_rollback(q);
		return -1;
	}
	return 1;
fail:
	queue_fail(q, err, errsz, "resend --to");
refused:
	sqlite3_finalize(st);
	queue_rollback(q);
	return -1;
}

int
sqlite_load_source(struct queue *q, int64_t issue, struct queue_source *src,
    char *err, size_t errsz)
{
	sqlite3_stmt *st;

	memset(src, 0, sizeof(*src));
	st = queue_prepare(q, "SELECT text, message_id, state, received, (SELECT COUNT(*)"
	    " FROM recipients WHERE issue = issues.id AND attempts > 0) FROM issues WHERE id = ?");
	sqlite3_bind_int64(st, 1, issue);
	if (sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errsz, "no issue %lld in the queue", (long long)issue);
		sqlite3_finalize(st);
		return -1;
	}
	src->text = queue_col_text(st, 0);
	src->message_id = queue_col_text(st, 1);
	if (queue_issue_state_parse((const char *)sqlite3_column_text(st, 2), &src->state) < 0)
		src->state = QUEUE_ISSUE_DONE;	/* unknown: never re-routed */
	src->received = sqlite3_column_int64(st, 3);
	src->tried = sqlite3_column_int(st, 4);
	sqlite3_finalize(st);
	st = queue_prepare(q, "SELECT name, data FROM attachments WHERE issue = ? ORDER BY rowid");
	sqlite3_bind_int64(st, 1, issue);
	while (sqlite3_step(st) == SQLITE_ROW) {
		src->attachments = xreallocarray(src->attachments, src->n_attachments + 1,
		    sizeof(*src->attachments));
		struct attachment *a = &src->attachments[src->n_attachments++];
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		char *data = xmalloc(len + 1);
		if (len)
			memcpy(data, sqlite3_column_blob(st, 1), len);
		a->name = queue_col_text(st, 0);
		a->data = data;
		a->len = len;
	}
	sqlite3_finalize(st);
	return 0;
}

int
sqlite_reroute(struct queue *q, int64_t issue, const struct queue_recipient_in *r,
    size_t n, const char *message, size_t len, int64_t now, char *err, size_t errsz)
{
	sqlite3_stmt *st = NULL;

	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	st = queue_prepare(q, "DELETE FROM recipients WHERE issue = ? AND attempts = 0"
	    " AND state IN ('held','queued')");
	sqlite3_bind_int64(st, 1, issue);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = queue_prepare(q, "INSERT INTO recipients (issue, tier, tier_keyword, header,"
	    " unit, via, name, display, address, state, next_attempt, receipt)"
	    " SELECT ?,?,?,?,?,?,?,?,?,'queued',?,? WHERE NOT EXISTS (SELECT 1 FROM"
	    " recipients WHERE issue = ?1 AND address = ?9)");
	for (size_t i = 0; st && i < n; i++) {
		sqlite3_reset(st);
		queue_bind_recipient(st, issue, &r[i]);
		sqlite3_bind_int64(st, 10, now);
		sqlite3_bind_int(st, 11, r[i].receipt ? 1 : 0);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);
	st = queue_prepare(q, "UPDATE issues SET message = ?, state = 'active',"
	    " hold_reason = NULL WHERE id = ?");
	if (st == NULL)
		goto fail;
	sqlite3_bind_blob(st, 1, message, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, issue);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	/* recipients held by hand before (none when never tried) come back too */
	st = queue_prepare(q, "UPDATE recipients SET state = 'queued', next_attempt = ?"
	    " WHERE issue = ? AND state = 'held'");
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, issue);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	if (queue_exec(q, "COMMIT", err, errsz) < 0) {
		queue_rollback(q);
		return -1;
	}
	return (int)n;
fail:
	queue_fail(q, err, errsz, "reroute");
	sqlite3_finalize(st);
	queue_rollback(q);
	return -1;
}

/* ---- distribution record ---------------------------------------------------- */

static int64_t
col_id(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, i);
}

static long
col_long_or(sqlite3_stmt *st, int i, long none)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? none :
	    (long)sqlite3_column_int64(st, i);
}

int
sqlite_record_read(struct queue *q, int64_t id, struct queue_record **out, char *err,
    size_t errsz)
{
	struct queue_record *r;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	st = queue_prepare(q, "SELECT kind, title, issuer, date, source, subject, message_id,"
	    " state, sha256, issue_no, total_issue_no, received, finished, duplicate_of,"
	    " report_for, notice_for FROM issues WHERE id = ?");
	if (st == NULL)
		return queue_fail(q, err, errsz, "record");
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return queue_fail(q, err, errsz, "record");
		snprintf(err, errsz, "no issue %lld in the queue", (long long)id);
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = id;
	/* the column of a stored word no enum knows, else -1 */
	int bad = queue_kind_parse((const char *)sqlite3_column_text(st, 0), &r->kind) < 0 ?
	    0 : queue_issue_state_parse((const char *)sqlite3_column_text(st, 7),
	    &r->state) < 0 ? 7 : -1;
	if (bad >= 0) {
		queue_bad_word(st, bad, bad == 0 ? "issues.kind" : "issues.state", err, errsz);
		sqlite3_finalize(st);
		queue_record_free(r);
		return -1;
	}
	r->title = queue_col_text(st, 1);
	r->issuer = queue_col_text(st, 2);
	r->date = queue_col_text(st, 3);
	r->source = queue_col_text(st, 4);
	r->subject = queue_col_text(st, 5);
	r->message_id = queue_col_text(st, 6);
	r->sha256 = queue_col_text(st, 8);
	r->issue_no = col_long_or(st, 9, -1);
	r->total_issue_no = col_long_or(st, 10, -1);
	r->received = sqlite3_column_int64(st, 11);
	r->finished = col_id(st, 12);
	r->duplicate_of = col_id(st, 13);
	r->report_for = col_id(st, 14);
	r->notice_for = col_id(st, 15);
	sqlite3_finalize(st);

	/* resends are attempts rows of status 'resend'; a correction is a pair
	 * of rows linked by replaced_by */
	st = queue_prepare(q, "SELECT r.id, r.tier_keyword, r.unit, r.name, r.address, r.state,"
	    " r.attempts, r.delivered, r.last_code, r.last_dsn, r.last_reply,"
	    " r.possible_duplicate, n.address, (SELECT o.address FROM recipients o"
	    " WHERE o.replaced_by = r.id LIMIT 1), (SELECT COUNT(*) FROM attempts a"
	    " WHERE a.recipient = r.id AND a.status = 'resend'), (SELECT MAX(a.time)"
	    " FROM attempts a WHERE a.recipient = r.id AND a.status = 'resend'), r.via,"
	    " r.bounced, r.bounce_status, r.bounce_reply, r.receipt, r.confirmed,"
	    " r.confirmed_by, r.reminders, r.last_reminded"
	    " FROM recipients r LEFT JOIN recipients n ON n.id = r.replaced_by"
	    " WHERE r.issue = ? ORDER BY r.tier, r.id");
	if (st == NULL) {
		queue_record_free(r);
		return queue_fail(q, err, errsz, "record");
	}
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r->recipients = xreallocarray(r->recipients, r->n_recipients + 1,
		    sizeof(*r->recipients));
		struct queue_record_recipient *x = &r->recipients[r->n_recipients++];
		memset(x, 0, sizeof(*x));
		x->id = sqlite3_column_int64(st, 0);
		x->tier = queue_col_text(st, 1);
		x->unit = queue_col_text(st, 2);
		x->name = queue_col_text(st, 3);
		x->address = queue_col_text(st, 4);
		if (queue_state_parse((const char *)sqlite3_column_text(st, 5), &x->state) < 0) {
			queue_bad_word(st, 5, "recipients.state", err, errsz);
			sqlite3_finalize(st);
			queue_record_free(r);
			return -1;
		}
		x->attempts = sqlite3_column_int(st, 6);
		/* delivered keeps the time of the last acceptance; a resend clears it */
		x->accepted = x->state == QUEUE_DELIVERED ? col_id(st, 7) : 0;
		x->code = (int)col_long_or(st, 8, 0);
		x->dsn = queue_col_text(st, 9);
		x->reply = queue_col_text(st, 10);
		x->possible_duplicate = sqlite3_column_int(st, 11) != 0;
		x->replaced_by = queue_col_text(st, 12);
		x->replaces = queue_col_text(st, 13);
		x->resends = sqlite3_column_int(st, 14);
		x->last_resend = col_id(st, 15);
		/* a correction's row and an added address start with a 'resend'
		 * row of their own (queue_resend_to): that one is their first send */
		const char *via = (const char *)sqlite3_column_text(st, 16);
		x->added = via && strcmp(via, "distctl") == 0;
		if ((x->replaces || x->added) && x->resends > 0 && --x->resends == 0)
			x->last_resend = 0;
		/* what came back (schema 9) */
		x->bounced = col_id(st, 17);
		x->bounce_status = queue_col_text(st, 18);
		x->bounce_reply = queue_col_text(st, 19);
		x->receipt = sqlite3_column_int(st, 20) != 0;
		x->confirmed = col_id(st, 21);
		x->confirmed_by = queue_col_text(st, 22);
		x->reminders = sqlite3_column_int(st, 23);
		x->last_reminded = col_id(st, 24);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		queue_record_free(r);
		return queue_fail(q, err, errsz, "record");
	}
	*out = r;
	return 0;
}

/* ---- retention ---------------------------------------------------------------- */

/*
 * Whether the family of root may go now: returns 1 with its members (root
 * first) and last activity, 0 when it must stay, -1 on an SQLite error.
 * Each test reads through an index: the referrers through the partial
 * indexes of version 6, recipients through recipients_issue, attempts
 * through attempts_issue.
 */
static int
family_of(struct queue *q, int64_t root, int64_t before, struct queue_purge_family *f)
{
	sqlite3_stmt *st;
	int rc, ok = 1;

	memset(f, 0, sizeof(*f));
	f->root = root;
	f->ids = xmalloc(sizeof(*f->ids));
	f->ids[f->n++] = root;
	st = queue_prepare(q, "SELECT id FROM issues WHERE report_for = ?1 UNION"
	    " SELECT id FROM issues WHERE notice_for = ?1 UNION"
	    " SELECT id FROM issues WHERE duplicate_of = ?1 ORDER BY 1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, root);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		f->ids = xreallocarray(f->ids, f->n + 1, sizeof(*f->ids));
		f->ids[f->n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	/*
	 * The newest issue stays whatever its age: SQLite numbers a new row
	 * max(id) + 1, so deleting it would hand its id to the next issue, and
	 * an id must name one issue for good (the delivery log, filed records).
	 */
	st = queue_prepare(q, "SELECT MAX(id) FROM issues");
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	int64_t newest = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		if (f->ids[i] == newest)
			return 0;
	/* a failure report not yet sent (reported = 0 on a bulletin with failed
	 * rows: queue_finish_report_sql) keeps its issue until it is */
	st = queue_prepare(q, "SELECT i.state IN ('done','cancelled')"
	    " AND NOT (i.kind = 'bulletin' AND i.state = 'done' AND i.reported = 0"
	    "  AND EXISTS (SELECT 1 FROM recipients r WHERE r.issue = i.id"
	    "  AND r.state = 'failed' AND r.replaced_by IS NULL))"
	    " AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.issue = i.id"
	    "  AND r.state NOT IN ('delivered','failed','cancelled'))"
	    " AND COALESCE(i.finished, i.received) < ?2"
	    " AND COALESCE((SELECT MAX(a.time) FROM attempts a WHERE a.issue = i.id), 0) < ?2,"
	    " MAX(COALESCE(i.finished, i.received),"
	    "  COALESCE((SELECT MAX(a.time) FROM attempts a WHERE a.issue = i.id), 0)),"
	    " i.received FROM issues i WHERE i.id = ?1");
	if (st == NULL)
		return -1;
	for (size_t i = 0; i < f->n && ok; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, f->ids[i]);
		sqlite3_bind_int64(st, 2, before);
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			sqlite3_finalize(st);
			return rc == SQLITE_DONE ? 0 : -1;
		}
		ok = sqlite3_column_int(st, 0);
		if (sqlite3_column_int64(st, 1) > f->last)
			f->last = sqlite3_column_int64(st, 1);
		if (i == 0)
			f->received = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return ok ? 1 : 0;
}

static void
family_clear(struct queue_purge_family *f)
{
	free(f->ids);
	memset(f, 0, sizeof(*f));
}

void
queue_purge_families_free(struct queue_purge_family *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].ids);
	free(f);
}

/* How many finished issues one call looks at, at most: a bound on its time. */
#define PURGE_LOOK 2000

int
sqlite_purge_list(struct queue *q, int64_t before, size_t max,
    struct queue_purge_cursor *cur, struct queue_purge_family **out, size_t *n,
    char *err, size_t errsz)
{
	/* issues_finished covers every column read here: no issue row is read */
	sqlite3_stmt *st = queue_prepare(q, "SELECT id, finished FROM issues"
	    " INDEXED BY issues_finished WHERE state IN ('done','cancelled')"
	    " AND finished < ?1 AND (finished, id) > (?2, ?3) AND duplicate_of IS NULL"
	    " AND report_for IS NULL AND notice_for IS NULL ORDER BY finished, id LIMIT ?4");
	int64_t *roots = NULL;
	size_t n_roots = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (cur->end)
		return 0;
	if (st == NULL)
		return queue_fail(q, err, errsz, "purge");
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, cur->finished);
	sqlite3_bind_int64(st, 3, cur->id);
	sqlite3_bind_int64(st, 4, PURGE_LOOK);
	/* the walk reads first and examines after, so that no statement is
	 * left open while family_of runs its own */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		roots = xreallocarray(roots, n_roots + 1, sizeof(*roots));
		roots[n_roots++] = sqlite3_column_int64(st, 0);
		cur->id = sqlite3_column_int64(st, 0);
		cur->finished = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(roots);
		return queue_fail(q, err, errsz, "purge");
	}
	if (n_roots < PURGE_LOOK)
		cur->end = true;
	for (size_t i = 0; i < n_roots; i++) {
		struct queue_purge_family f;
		int ok = family_of(q, roots[i], before, &f);
		if (ok < 0) {
			family_clear(&f);
			free(roots);
			queue_purge_families_free(*out, *n);
			*out = NULL;
			*n = 0;
			return queue_fail(q, err, errsz, "purge");
		}
		if (ok == 0) {
			family_clear(&f);
			continue;
		}
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = f;
		if (*n == max) {
			/* the next call starts after the last family taken */
			sqlite3_stmt *fin = queue_prepare(q, "SELECT finished FROM issues"
			    " WHERE id = ?");
			if (fin) {
				sqlite3_bind_int64(fin, 1, roots[i]);
				if (sqlite3_step(fin) == SQLITE_ROW)
					cur->finished = sqlite3_column_int64(fin, 0);
				sqlite3_finalize(fin);
			}
			cur->id = roots[i];
			cur->end = false;
			break;
		}
	}
	free(roots);
	return 0;
}

int
sqlite_purge_delete(struct queue *q, const struct queue_purge_family *f, size_t n,
    int64_t before, size_t *deleted, char *err, size_t errsz)
{
	/* referrers first, so that every reference is gone before its target;
	 * the references are cleared too in case a deeper chain points here */
	static const char *const sqls[] = {
		"DELETE FROM attempts WHERE issue = ?1",
		"DELETE FROM recipients WHERE issue = ?1",
		"DELETE FROM attachments WHERE issue = ?1",
		"DELETE FROM sources WHERE issue = ?1",
		"UPDATE issues SET report_for = NULL WHERE report_for = ?1",
		"UPDATE issues SET notice_for = NULL WHERE notice_for = ?1",
		"UPDATE issues SET duplicate_of = NULL WHERE duplicate_of = ?1",
		"DELETE FROM issues WHERE id = ?1",
	};

	*deleted = 0;
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct queue_purge_family now;
		int ok = family_of(q, f[i].root, before, &now);
		bool same = ok == 1 && now.n == f[i].n &&
		    memcmp(now.ids, f[i].ids, now.n * sizeof(*now.ids)) == 0;
		family_clear(&now);
		if (ok < 0)
			goto fail;
		if (!same)
			continue;
		for (size_t m = f[i].n; m-- > 0;) {
			for (size_t s = 0; s < sizeof(sqls) / sizeof(sqls[0]); s++)
				if (queue_run1(q, sqls[s], f[i].ids[m], 0, NULL) < 0)
					goto fail;
			(*deleted)++;
		}
	}
	/*
	 * The freed pages stay in the file for the rows that come next: the
	 * queue was created without auto_vacuum, so incremental_vacuum would
	 * need a one-time full VACUUM (which rewrites the whole file under an
	 * exclusive lock) first, and after the first pass each day's purge
	 * frees about what a day adds, so the file stops growing either way.
	 */
	if (queue_exec(q, "COMMIT", err, errsz) < 0) {
		queue_rollback(q);
		*deleted = 0;
		return -1;
	}
	return 0;
fail:
	queue_fail(q, err, errsz, "purge");
	queue_rollback(q);
	*deleted = 0;
	return -1;
}
