/* Steering the queue from distctl: hold, release, cancel, retry, resend, re-route. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "queue_private.h"
#include "sbuf.h"

static int
issue_state(struct queue *q, int64_t issue, char *state, size_t n, char *err, size_t errsz)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT state FROM issues WHERE id = ?");
	int rc = -1;

	sqlite3_bind_int64(st, 1, issue);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(state, n, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = 0;
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
queue_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
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
	char state[16];

	if (issue_state(q, issue, state, sizeof(state), err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (strcmp(state, "active") != 0) {
		snprintf(err, errsz, "issue %lld is %s, not active", (long long)issue, state);
		return -1;
	}
	return update(q, issue, 0, reason, tier, tier ? part : whole, err, errsz);
}

int
queue_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
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
	char state[16];
	sqlite3_stmt *st;
	int held = 0;

	if (issue_state(q, issue, state, sizeof(state), err, errsz) < 0 ||
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
	if (strcmp(state, "held") != 0 && held == 0) {
		if (tier)
			snprintf(err, errsz, "issue %lld has no held recipients in tier %s",
			    (long long)issue, tier);
		else if (strcmp(state, "cancelled") == 0)
			snprintf(err, errsz, "issue %lld is cancelled, not held; to send it "
			    "again on purpose: distctl resend %lld --all", (long long)issue,
			    (long long)issue);
		else
			snprintf(err, errsz, "issue %lld is %s, not held", (long long)issue, state);
		return -1;
	}
	return update(q, issue, now, NULL, tier, sqls, err, errsz);
}

int
queue_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
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
	char state[16];

	if (issue_state(q, issue, state, sizeof(state), err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (strcmp(state, "cancelled") == 0) {
		snprintf(err, errsz, "issue %lld is already cancelled", (long long)issue);
		return -1;
	}
	return update(q, issue, now, NULL, tier, tier ? part : whole, err, errsz);
}

int
queue_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	static const char *const one[] = {
		"UPDATE recipients SET next_attempt = ?2 WHERE issue = ?1"
		" AND state IN ('queued','deferred')" IN_TIER, NULL };
	static const char *const all[] = {
		"UPDATE recipients SET next_attempt = ?2 WHERE state IN ('queued','deferred')"
		" AND issue IN (SELECT id FROM issues WHERE state = 'active')"
		IN_TIER, NULL };
	char state[16];

	if (issue != 0 && (issue_state(q, issue, state, sizeof(state), err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0))
		return -1;
	return update(q, issue, now, NULL, tier, issue ? one : all, err, errsz);
}

static int
resend(struct queue *q, int64_t issue, const char *tier, const char *address, bool all,
    int64_t now, char *err, size_t errsz)
{
	char state[16], sql[600];
	struct sbuf where = SBUF_INIT;
	int changed;

	if (issue_state(q, issue, state, sizeof(state), err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (strcmp(state, "held") == 0) {
		snprintf(err, errsz, "issue %lld is held; release it first", (long long)issue);
		return -1;
	}
	/* a cancel is meant for good: sending again is a decision of its own */
	if (strcmp(state, "cancelled") == 0 && !all) {
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
	snprintf(sql, sizeof(sql), "UPDATE recipients SET state = 'queued', next_attempt = ?2,"
	    " delivered = NULL WHERE %s", sbuf_str(&where));
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
queue_resend(struct queue *q, int64_t issue, const char *tier, const char *address,
    int64_t now, char *err, size_t errsz)
{
	return resend(q, issue, tier, address, false, now, err, errsz);
}

int
queue_resend_all(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	return resend(q, issue, tier, NULL, true, now, err, errsz);
}

bool
queue_has_recipient(struct queue *q, int64_t issue, const char *tier, const char *address)
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
queue_resend_to(struct queue *q, int64_t issue, const char *tier, const char *address,
    const char *old, int64_t now, char *err, size_t errsz)
{
	char state[16], note[400];
	sqlite3_stmt *st = NULL;
	int64_t from = 0, added;
	int n = 0;

	if (issue_state(q, issue, state, sizeof(state), err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	if (strcmp(state, "cancelled") == 0 || strcmp(state, "held") == 0) {
		snprintf(err, errsz, "issue %lld is %s; release it first", (long long)issue, state);
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
	if (queue_has_recipient(q, issue, NULL, address)) {
		snprintf(err, errsz, "<%s> is already a recipient of issue %lld: "
		    "distctl resend %lld --to %s sends it again", address, (long long)issue,
		    (long long)issue, address);
		goto refused;
	}
	if (queue_run1(q, old ?
	    "INSERT INTO recipients (issue, tier, tier_keyword, header, unit, via, name,"
	    " display, address, state, next_attempt) SELECT issue, tier, tier_keyword, header,"
	    " unit, via, name, display, ?3, 'queued', ?2 FROM recipients WHERE id = ?1" :
	    /* an address of its own: named by itself, in the tier's header */
	    "INSERT INTO recipients (issue, tier, tier_keyword, header, unit, via, name,"
	    " display, address, state, next_attempt) SELECT issue, tier, tier_keyword, header,"
	    " '(added with distctl)', 'distctl', ?3, ?3, ?3, 'queued', ?2 FROM recipients"
	    " WHERE id = ?1", from, now, address) < 0)
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
queue_load_source(struct queue *q, int64_t issue, struct queue_source *src,
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
	src->state = queue_col_text(st, 2);
	src->received = sqlite3_column_int64(st, 3);
	src->tried = sqlite3_column_int(st, 4);
	sqlite3_finalize(st);
	st = queue_prepare(q, "SELECT name, data FROM attachments WHERE issue = ? ORDER BY rowid");
	sqlite3_bind_int64(st, 1, issue);
	while (sqlite3_step(st) == SQLITE_ROW) {
		src->attachments = xreallocarray(src->attachments, src->n_attachments + 1,
		    sizeof(*src->attachments));
		struct queue_attachment *a = &src->attachments[src->n_attachments++];
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

void
queue_source_free(struct queue_source *src)
{
	free(src->text);
	free(src->message_id);
	free(src->state);
	for (size_t i = 0; i < src->n_attachments; i++) {
		free((char *)src->attachments[i].name);
		free((char *)src->attachments[i].data);
	}
	free(src->attachments);
	memset(src, 0, sizeof(*src));
}

int
queue_reroute(struct queue *q, int64_t issue, const struct queue_recipient_in *r,
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
	    " unit, via, name, display, address, state, next_attempt)"
	    " SELECT ?,?,?,?,?,?,?,?,?,'queued',? WHERE NOT EXISTS (SELECT 1 FROM"
	    " recipients WHERE issue = ?1 AND address = ?9)");
	for (size_t i = 0; st && i < n; i++) {
		sqlite3_reset(st);
		queue_bind_recipient(st, issue, &r[i]);
		sqlite3_bind_int64(st, 10, now);
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
