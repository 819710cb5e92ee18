/*
 * The PostgreSQL backend: steering the queue from distctl (hold, release,
 * cancel, retry, resend, re-route), the distribution record and
 * retention. The statements, checks, refusals and messages of
 * queue_sqlite_ctl.c, with what a server shared by several writers needs:
 * every change is one transaction that locks the issue row (SELECT … FOR
 * UPDATE) before it decides anything, so that two distctl runs (or
 * distctl and a purge) decide one after the other, each on what the
 * other committed (SQLite has one writer at a time: BEGIN IMMEDIATE
 * gives it that for free). FOR NO KEY UPDATE, not FOR UPDATE: a node
 * recording an attempt of the issue checks the attempt's reference with
 * FOR KEY SHARE on the same row, and must not wait for distctl while
 * distctl waits for the recipient row the node holds (a deadlock). Reads of more than one
 * statement (the record, a source, the purge walk) run in one read-only
 * REPEATABLE READ transaction: one snapshot, as SQLite's reader sees.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbuf.h"
#include "xalloc.h"

#include "queue.h"
#include "queue_pg.h"
#include "queue_private.h"

/*
 * The parameters of a statement here, $1 … $7, all passed whatever the
 * statement uses: typed, so that a statement need not use them all.
 * NULL text is SQL NULL.
 */
struct ctl_args {
	int64_t issue;			/* $1 */
	int64_t now;			/* $2 */
	const char *text;		/* $3: a reason, an address, an id array */
	const char *tier;		/* $4: NULL for every tier */
	int64_t row, row2;		/* $5, $6: recipient ids (the purge walk: its cursor) */
	const char *note;		/* $7: the history's reply text */
};
static const Oid ctl_types[7] = { 20, 20, 25, 25, 20, 20, 25 };	/* int8, text */

static int
ctl_fail(struct queue *q, char *err, size_t errsz, const char *what, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";

	if (msg == NULL || msg[0] == '\0')
		msg = PQerrorMessage(q->pg);
	snprintf(err, errsz, "%s: %s: %.*s", q->pg_name ? q->pg_name : "PostgreSQL queue",
	    what, (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return -1;
}

/* Runs sql with a's parameters; NULL with err (naming what) on failure. */
static PGresult *
ctl_exec(struct queue *q, const char *what, const char *sql, const struct ctl_args *a,
    char *err, size_t errsz)
{
	char n[4][24];
	const char *v[7] = { n[0], n[1], a->text, a->tier, n[2], n[3], a->note };

	snprintf(n[0], sizeof(n[0]), "%lld", (long long)a->issue);
	snprintf(n[1], sizeof(n[1]), "%lld", (long long)a->now);
	snprintf(n[2], sizeof(n[2]), "%lld", (long long)a->row);
	snprintf(n[3], sizeof(n[3]), "%lld", (long long)a->row2);
	PGresult *res = PQexecParams(q->pg, sql, 7, ctl_types, v, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(res);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		ctl_fail(q, err, errsz, what, res);
		return NULL;
	}
	return res;
}

/* ctl_exec of a statement whose result is not needed: its row count, or -1. */
static int
ctl_do(struct queue *q, const char *what, const char *sql, const struct ctl_args *a,
    char *err, size_t errsz)
{
	PGresult *res = ctl_exec(q, what, sql, a, err, errsz);

	if (res == NULL)
		return -1;
	int changed = atoi(PQcmdTuples(res));
	PQclear(res);
	return changed;
}

/* sql with $1 issue, $2 now, $3 text, $4 tier (the steering statements) */
static PGresult *
ctl_run(struct queue *q, const char *sql, int64_t issue, int64_t now, const char *text,
    const char *tier, char *err, size_t errsz)
{
	struct ctl_args a = { .issue = issue, .now = now, .text = text, .tier = tier };

	return ctl_exec(q, "update", sql, &a, err, errsz);
}

static int
ctl_plain(struct queue *q, const char *what, const char *sql, char *err, size_t errsz)
{
	PGresult *res = PQexec(q->pg, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ctl_fail(q, err, errsz, what, res);
	PQclear(res);
	return 0;
}

static void
ctl_rollback(struct queue *q)
{
	PQclear(PQexec(q->pg, "ROLLBACK"));
}

/* COMMIT, or -1 with err, rolled back. */
static int
ctl_commit(struct queue *q, const char *what, char *err, size_t errsz)
{
	if (ctl_plain(q, what, "COMMIT", err, errsz) < 0) {
		ctl_rollback(q);
		return -1;
	}
	return 0;
}

/* One snapshot for a read of several statements; ends with ctl_rollback. */
static int
ctl_begin_read(struct queue *q, const char *what, char *err, size_t errsz)
{
	return ctl_plain(q, what, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
	    errsz);
}

/*
 * The issue's state; lock: the row stays locked against other changes
 * (FOR NO KEY UPDATE, see the top) until the transaction ends.
 */
static int
issue_state(struct queue *q, int64_t issue, bool lock, enum queue_issue_state *state,
    char *err, size_t errsz)
{
	PGresult *res = ctl_run(q, lock ? "SELECT state FROM issues WHERE id = $1"
	    " FOR NO KEY UPDATE" :
	    "SELECT state FROM issues WHERE id = $1", issue, 0, NULL, NULL, err, errsz);
	int rc = -1;

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		const char *text = PQgetvalue(res, 0, 0);
		rc = queue_issue_state_parse(text, state);
		if (rc < 0)
			snprintf(err, errsz, "issue %lld has an unknown state '%s'",
			    (long long)issue, text);
	} else {
		snprintf(err, errsz, "no issue %lld in the queue", (long long)issue);
	}
	PQclear(res);
	return rc;
}

/* An unknown tier names the tiers the issue has (see queue_sqlite_ctl.c). */
static int
check_tier(struct queue *q, int64_t issue, const char *tier, char *err, size_t errsz)
{
	struct sbuf have = SBUF_INIT;
	bool found = false;

	if (tier == NULL)
		return 0;
	PGresult *res = ctl_run(q, "SELECT tier_keyword FROM recipients WHERE issue = $1"
	    " GROUP BY tier, tier_keyword ORDER BY tier", issue, 0, NULL, NULL, err, errsz);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *t = PQgetvalue(res, i, 0);
		if (strcmp(t, tier) == 0)
			found = true;
		sbuf_printf(&have, "%s%s", have.len ? ", " : "", t);
	}
	PQclear(res);
	if (!found)
		snprintf(err, errsz, "issue %lld has no recipients in tier %s (its tiers: %s)",
		    (long long)issue, tier, have.len ? sbuf_str(&have) : "none");
	sbuf_free(&have);
	return found ? 0 : -1;
}

/*
 * Opens a change of issue: BEGIN, the issue row locked, its state, the
 * tier checked. Each later statement sees what was committed before the
 * lock was granted (READ COMMITTED takes a snapshot per statement), and
 * no writer that locks the row first (every change here, the purge)
 * changes it meanwhile. On failure -1 with err, rolled back.
 */
static int
begin_issue(struct queue *q, int64_t issue, const char *tier, enum queue_issue_state *state,
    char *err, size_t errsz)
{
	if (ctl_plain(q, "update", "BEGIN", err, errsz) < 0)
		return -1;
	if (issue_state(q, issue, true, state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0) {
		ctl_rollback(q);
		return -1;
	}
	return 0;
}

/*
 * The statements, in the transaction begin_issue opened, then COMMIT;
 * returns the rows the first changed, or -1 with err (rolled back).
 */
static int
update(struct queue *q, int64_t issue, int64_t now, const char *text, const char *tier,
    const char *const *sqls, char *err, size_t errsz)
{
	int changed = 0;

	for (size_t i = 0; sqls[i]; i++) {
		PGresult *res = ctl_run(q, sqls[i], issue, now, text, tier, err, errsz);
		if (res == NULL) {
			ctl_rollback(q);
			return -1;
		}
		if (i == 0)
			changed = atoi(PQcmdTuples(res));
		PQclear(res);
	}
	return ctl_commit(q, "update", err, errsz) < 0 ? -1 : changed;
}

/* A refusal decided under begin_issue: err is set; rolls back, -1. */
static int
refuse(struct queue *q)
{
	ctl_rollback(q);
	return -1;
}

#define IN_TIER " AND ($4 IS NULL OR tier_keyword = $4)"

int
queue_pg_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
    char *err, size_t errsz)
{
	static const char *const whole[] = {
		"UPDATE recipients SET state = 'held' WHERE issue = $1"
		" AND state IN ('queued','deferred')",
		"UPDATE issues SET state = 'held', hold_reason = $3 WHERE id = $1",
		NULL };
	/* one tier waits, the others go on: the issue stays active */
	static const char *const part[] = {
		"UPDATE recipients SET state = 'held' WHERE issue = $1"
		" AND state IN ('queued','deferred')" IN_TIER, NULL };
	enum queue_issue_state state;

	if (begin_issue(q, issue, tier, &state, err, errsz) < 0)
		return -1;
	if (state != QUEUE_ISSUE_ACTIVE) {
		snprintf(err, errsz, "issue %lld is %s, not active", (long long)issue,
		    queue_issue_state_name(state));
		return refuse(q);
	}
	return update(q, issue, 0, reason, tier, tier ? part : whole, err, errsz);
}

int
queue_pg_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	static const char *const sqls[] = {
		"UPDATE recipients SET state = 'queued', next_attempt = $2"
		" WHERE issue = $1 AND state = 'held'" IN_TIER,
		/* the issue goes active as soon as any recipient may go out */
		"UPDATE issues SET state = 'active', hold_reason = NULL WHERE id = $1"
		" AND state = 'held'", NULL };
	enum queue_issue_state state;
	int held = 0;

	if (begin_issue(q, issue, tier, &state, err, errsz) < 0)
		return -1;
	PGresult *res = ctl_run(q, "SELECT COUNT(*) FROM recipients WHERE issue = $1"
	    " AND state = 'held'" IN_TIER, issue, 0, NULL, tier, err, errsz);
	if (res == NULL)
		return refuse(q);
	held = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
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
		return refuse(q);
	}
	return update(q, issue, now, NULL, tier, sqls, err, errsz);
}

int
queue_pg_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	/* `sending` too: queue_record keeps what the transfer really did */
	static const char *const whole[] = {
		"UPDATE recipients SET state = 'cancelled' WHERE issue = $1"
		" AND state IN ('queued','deferred','held','sending')",
		"UPDATE issues SET state = 'cancelled', finished = $2 WHERE id = $1",
		NULL };
	static const char *const part[] = {
		"UPDATE recipients SET state = 'cancelled' WHERE issue = $1"
		" AND state IN ('queued','deferred','held','sending')" IN_TIER, NULL };
	enum queue_issue_state state;

	if (begin_issue(q, issue, tier, &state, err, errsz) < 0)
		return -1;
	if (state == QUEUE_ISSUE_CANCELLED) {
		snprintf(err, errsz, "issue %lld is already cancelled", (long long)issue);
		return refuse(q);
	}
	return update(q, issue, now, NULL, tier, tier ? part : whole, err, errsz);
}

int
queue_pg_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	static const char *const one[] = {
		"UPDATE recipients SET next_attempt = $2 WHERE issue = $1"
		" AND state IN ('queued','deferred')" IN_TIER, NULL };
	static const char *const all[] = {
		"UPDATE recipients SET next_attempt = $2 WHERE state IN ('queued','deferred')"
		" AND issue IN (SELECT id FROM issues WHERE state = 'active')"
		IN_TIER, NULL };
	enum queue_issue_state state;

	/* of every issue: nothing to decide, one statement */
	if (issue == 0) {
		if (ctl_plain(q, "update", "BEGIN", err, errsz) < 0)
			return -1;
	} else if (begin_issue(q, issue, tier, &state, err, errsz) < 0) {
		return -1;
	}
	return update(q, issue, now, NULL, tier, issue ? one : all, err, errsz);
}

/* ---- resend, corrections, re-routing ------------------------------------------ */

static int
resend(struct queue *q, int64_t issue, const char *tier, const char *address, bool all,
    int64_t now, char *err, size_t errsz)
{
	struct ctl_args a = { .issue = issue, .now = now, .text = address, .tier = tier,
		.note = all ? "resend requested with distctl (--all)" :
		"resend requested with distctl" };
	enum queue_issue_state state;
	char which[300], sql[600];
	int changed;

	if (begin_issue(q, issue, tier, &state, err, errsz) < 0)
		return -1;
	if (state == QUEUE_ISSUE_HELD) {
		snprintf(err, errsz, "issue %lld is held; release it first", (long long)issue);
		return refuse(q);
	}
	/* a cancel is meant for good: sending again is a decision of its own */
	if (state == QUEUE_ISSUE_CANCELLED && !all) {
		snprintf(err, errsz, "issue %lld is cancelled; to send it again on purpose, "
		    "to every recipient, use: distctl resend %lld --all", (long long)issue,
		    (long long)issue);
		return refuse(q);
	}
	/* a replaced address stays replaced: its correction is the one to resend */
	snprintf(which, sizeof(which), "issue = $1 AND state IN ('delivered','failed'%s)"
	    " AND replaced_by IS NULL" IN_TIER " AND ($3 IS NULL OR address = $3)",
	    all ? ",'cancelled'" : "");
	/* the history says why these go out again */
	snprintf(sql, sizeof(sql), "INSERT INTO attempts (recipient, issue, time, status,"
	    " reply, attempt) SELECT id, issue, $2, 'resend', $7, attempts FROM recipients"
	    " WHERE %s", which);
	if (ctl_do(q, "resend", sql, &a, err, errsz) < 0)
		return refuse(q);
	/* sent again: a bounce of the last sending is no longer the news (a
	 * confirmation stays: the unit did get it) */
	snprintf(sql, sizeof(sql), "UPDATE recipients SET state = 'queued', next_attempt = $2,"
	    " delivered = NULL, bounced = NULL, bounce_status = NULL, bounce_reply = NULL,"
	    " bounce_attempt = NULL WHERE %s", which);
	if ((changed = ctl_do(q, "resend", sql, &a, err, errsz)) < 0)
		return refuse(q);
	/* reopened: issue_tiers' trigger forgets the totals of its finish */
	if (changed > 0 && ctl_do(q, "resend", "UPDATE issues SET state = 'active',"
	    " finished = NULL, reported = 0, hold_reason = NULL WHERE id = $1", &a,
	    err, errsz) < 0)
		return refuse(q);
	return ctl_commit(q, "resend", err, errsz) < 0 ? -1 : changed;
}

int
queue_pg_resend(struct queue *q, int64_t issue, const char *tier, const char *address,
    int64_t now, char *err, size_t errsz)
{
	return resend(q, issue, tier, address, false, now, err, errsz);
}

int
queue_pg_resend_all(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	return resend(q, issue, tier, NULL, true, now, err, errsz);
}

static const char has_recipient_sql[] = "SELECT 1 FROM recipients WHERE issue = $1"
    " AND address = $3 AND replaced_by IS NULL" IN_TIER;

bool
queue_pg_has_recipient(struct queue *q, int64_t issue, const char *tier,
    const char *address)
{
	struct ctl_args a = { .issue = issue, .text = address, .tier = tier };
	char err[256];
	PGresult *res = ctl_exec(q, "recipient", has_recipient_sql, &a, err, sizeof(err));
	bool found = res != NULL && PQntuples(res) > 0;

	PQclear(res);
	return found;
}

int
queue_pg_resend_to(struct queue *q, int64_t issue, const char *tier, const char *address,
    const char *old, int64_t now, char *err, size_t errsz)
{
	struct ctl_args a = { .issue = issue, .now = now, .text = old, .tier = tier };
	enum queue_issue_state state;
	char note[400];
	PGresult *res;
	int64_t from, added;
	int n;

	if (begin_issue(q, issue, tier, &state, err, errsz) < 0)
		return -1;
	if (state == QUEUE_ISSUE_CANCELLED || state == QUEUE_ISSUE_HELD) {
		snprintf(err, errsz, "issue %lld is %s; release it first", (long long)issue,
		    queue_issue_state_name(state));
		return refuse(q);
	}
	/*
	 * The row whose tier, unit and name the new address takes over. An
	 * added address takes a tier's first row (SQLite's GROUP BY picks
	 * any): only its tier and header are copied, the same in every row.
	 */
	res = ctl_exec(q, "resend --to", old ?
	    "SELECT id FROM recipients WHERE issue = $1 AND address = $3"
	    " AND replaced_by IS NULL" IN_TIER " ORDER BY tier, id" :
	    "SELECT MIN(id) FROM recipients WHERE issue = $1" IN_TIER
	    " GROUP BY tier ORDER BY tier", &a, err, errsz);
	if (res == NULL)
		return refuse(q);
	n = PQntuples(res);
	from = n > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	if (n == 0) {
		snprintf(err, errsz, "issue %lld has no recipient%s%s%s%s", (long long)issue,
		    old ? " <" : "s", old ? old : "", old ? ">" : "", tier ? " in that tier" : "");
		return refuse(q);
	}
	if (n > 1) {
		if (old)
			snprintf(err, errsz, "<%s> is a recipient in more than one tier of issue"
			    " %lld: say which with --tier", old, (long long)issue);
		else
			snprintf(err, errsz, "issue %lld has more than one tier: say which one"
			    " gets <%s> with --tier", (long long)issue, address);
		return refuse(q);
	}
	/* in any tier: the same address twice in one issue would get it twice */
	a.text = address;
	a.tier = NULL;
	res = ctl_exec(q, "resend --to", has_recipient_sql, &a, err, errsz);
	if (res == NULL)
		return refuse(q);
	n = PQntuples(res);
	PQclear(res);
	if (n > 0) {
		snprintf(err, errsz, "<%s> is already a recipient of issue %lld: "
		    "distctl resend %lld --to %s sends it again", address, (long long)issue,
		    (long long)issue, address);
		return refuse(q);
	}
	a.row = from;
	res = ctl_exec(q, "resend --to", old ?
	    "INSERT INTO recipients (issue, tier, tier_keyword, header, unit, via, name,"
	    " display, address, state, next_attempt, receipt) SELECT issue, tier,"
	    " tier_keyword, header, unit, via, name, display, $3, 'queued', $2, receipt"
	    " FROM recipients WHERE id = $5 RETURNING id" :
	    /* an address of its own: named by itself, in the tier's header; asked
	     * to confirm as the tier is (the setting is the tier's or series') */
	    "INSERT INTO recipients (issue, tier, tier_keyword, header, unit, via, name,"
	    " display, address, state, next_attempt, receipt) SELECT issue, tier,"
	    " tier_keyword, header, '(added with distctl)', 'distctl', $3, $3, $3, 'queued',"
	    " $2, receipt FROM recipients WHERE id = $5 RETURNING id", &a, err, errsz);
	if (res == NULL)
		return refuse(q);
	added = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	a.row2 = added;
	/* the history of both rows says what happened */
	snprintf(note, sizeof(note), "replaced by <%s> with distctl resend --replace", address);
	a.note = note;
	if (old && (ctl_do(q, "resend --to", "UPDATE recipients SET replaced_by = $6,"
	    " state = CASE WHEN state IN ('queued','deferred','held') THEN 'cancelled'"
	    " ELSE state END WHERE id = $5", &a, err, errsz) < 0 ||
	    ctl_do(q, "resend --to", "INSERT INTO attempts (recipient, issue, time, status,"
	    " reply, attempt) SELECT id, issue, $2, 'replaced', $7, attempts FROM recipients"
	    " WHERE id = $5", &a, err, errsz) < 0))
		return refuse(q);
	if (old)
		snprintf(note, sizeof(note), "replaces <%s>: resend requested with distctl", old);
	else
		snprintf(note, sizeof(note), "added with distctl resend --to");
	if (ctl_do(q, "resend --to", "INSERT INTO attempts (recipient, issue, time, status,"
	    " reply, attempt) SELECT id, issue, $2, 'resend', $7, 0 FROM recipients"
	    " WHERE id = $6", &a, err, errsz) < 0 ||
	    ctl_do(q, "resend --to", "UPDATE issues SET state = 'active', finished = NULL,"
	    " reported = 0 WHERE id = $1", &a, err, errsz) < 0)
		return refuse(q);
	return ctl_commit(q, "resend --to", err, errsz) < 0 ? -1 : 1;
}

int
queue_pg_load_source(struct queue *q, int64_t issue, struct queue_source *src,
    char *err, size_t errsz)
{
	struct ctl_args a = { .issue = issue };
	PGresult *res;

	memset(src, 0, sizeof(*src));
	if (ctl_begin_read(q, "source", err, errsz) < 0)
		return -1;
	res = ctl_exec(q, "source", "SELECT text, message_id, state, received,"
	    " (SELECT COUNT(*) FROM recipients WHERE issue = issues.id AND attempts > 0)"
	    " FROM issues WHERE id = $1", &a, err, errsz);
	if (res == NULL)
		return refuse(q);
	if (PQntuples(res) != 1) {
		PQclear(res);
		snprintf(err, errsz, "no issue %lld in the queue", (long long)issue);
		return refuse(q);
	}
	src->text = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0));
	src->message_id = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
	if (queue_issue_state_parse(PQgetvalue(res, 0, 2), &src->state) < 0)
		src->state = QUEUE_ISSUE_DONE;	/* unknown: never re-routed */
	src->received = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	src->tried = atoi(PQgetvalue(res, 0, 4));
	PQclear(res);

	/*
	 * Binary results: the bytes as stored (a TEXT value in binary is its
	 * bytes). In the order given, as SQLite's rowid keeps it: position
	 * (schema 4), not the physical order, which moves.
	 */
	char id[24];
	const char *v[1] = { id };
	snprintf(id, sizeof(id), "%lld", (long long)issue);
	res = PQexecParams(q->pg, "SELECT name, data FROM attachments WHERE issue = $1::int8"
	    " ORDER BY position", 1, NULL, v, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_fail(q, err, errsz, "source", res);
		queue_source_free(src);
		memset(src, 0, sizeof(*src));
		return refuse(q);
	}
	for (int i = 0; i < PQntuples(res); i++) {
		src->attachments = xreallocarray(src->attachments, src->n_attachments + 1,
		    sizeof(*src->attachments));
		struct attachment *x = &src->attachments[src->n_attachments++];
		size_t len = (size_t)PQgetlength(res, i, 1);
		char *data = xmalloc(len + 1);
		if (len)
			memcpy(data, PQgetvalue(res, i, 1), len);
		data[len] = '\0';
		x->name = xstrdup(PQgetvalue(res, i, 0));
		x->data = data;
		x->len = len;
	}
	PQclear(res);
	ctl_rollback(q);	/* read only: nothing to keep */
	return 0;
}

int
queue_pg_reroute(struct queue *q, int64_t issue, const struct queue_recipient_in *r,
    size_t n, const char *message, size_t len, int64_t now, char *err, size_t errsz)
{
	struct ctl_args a = { .issue = issue, .now = now };
	enum queue_issue_state state;

	/* no refusal of a state (queue_sqlite_ctl.c has none): the caller
	 * checked with queue_load_source; the lock keeps other changes out */
	if (begin_issue(q, issue, NULL, &state, err, errsz) < 0)
		return -1;
	if (ctl_do(q, "reroute", "DELETE FROM recipients WHERE issue = $1 AND attempts = 0"
	    " AND state IN ('held','queued')", &a, err, errsz) < 0)
		return refuse(q);
	for (size_t i = 0; i < n; i++) {
		char num[3][24];
		const char *v[11] = { num[0], num[1], r[i].tier_keyword, r[i].header, r[i].unit,
			r[i].via, r[i].name, r[i].display, r[i].address, num[2],
			r[i].receipt ? "1" : "0" };
		snprintf(num[0], sizeof(num[0]), "%lld", (long long)issue);
		snprintf(num[1], sizeof(num[1]), "%d", r[i].tier);
		snprintf(num[2], sizeof(num[2]), "%lld", (long long)now);
		PGresult *res = PQexecParams(q->pg, "INSERT INTO recipients (issue, tier,"
		    " tier_keyword, header, unit, via, name, display, address, state,"
		    " next_attempt, receipt) SELECT $1::int8, $2::int4, $3, $4, $5, $6, $7, $8,"
		    " $9, 'queued', $10::int8, $11::int4 WHERE NOT EXISTS (SELECT 1 FROM"
		    " recipients WHERE issue = $1::int8 AND address = $9)", 11, NULL, v, NULL,
		    NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			ctl_fail(q, err, errsz, "reroute", res);
			return refuse(q);
		}
		PQclear(res);
	}
	/* the message as bytes: a binary parameter */
	char id[24];
	snprintf(id, sizeof(id), "%lld", (long long)issue);
	const char *v[2] = { message, id };
	int lens[2] = { (int)len, 0 }, fmts[2] = { 1, 0 };
	PGresult *res = PQexecParams(q->pg, "UPDATE issues SET message = $1::bytea,"
	    " state = 'active', hold_reason = NULL WHERE id = $2::int8", 2, NULL, v, lens,
	    fmts, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ctl_fail(q, err, errsz, "reroute", res);
		return refuse(q);
	}
	PQclear(res);
	/* recipients held by hand before (none when never tried) come back too */
	if (ctl_do(q, "reroute", "UPDATE recipients SET state = 'queued', next_attempt = $2"
	    " WHERE issue = $1 AND state = 'held'", &a, err, errsz) < 0)
		return refuse(q);
	return ctl_commit(q, "reroute", err, errsz) < 0 ? -1 : (int)n;
}

/* ---- distribution record --------------------------------------------------- */

static char *
col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

/* NULL: none */
static int64_t
col_or(const PGresult *res, int row, int col, int64_t none)
{
	return PQgetisnull(res, row, col) ? none : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int
queue_pg_record_read(struct queue *q, int64_t id, struct queue_record **out, char *err,
    size_t errsz)
{
	struct ctl_args a = { .issue = id };
	struct queue_record *r = NULL;
	PGresult *res;

	*out = NULL;
	if (ctl_begin_read(q, "record", err, errsz) < 0)
		return -1;
	res = ctl_exec(q, "record", "SELECT kind, title, issuer, date, source, subject,"
	    " message_id, state, sha256, issue_no, total_issue_no, received, finished,"
	    " duplicate_of, report_for, notice_for FROM issues WHERE id = $1", &a, err, errsz);
	if (res == NULL)
		return refuse(q);
	if (PQntuples(res) != 1) {
		PQclear(res);
		snprintf(err, errsz, "no issue %lld in the queue", (long long)id);
		return refuse(q);
	}
	r = xcalloc(1, sizeof(*r));
	r->id = id;
	/* the column of a stored word no enum knows, else -1 */
	int bad = PQgetisnull(res, 0, 0) || queue_kind_parse(PQgetvalue(res, 0, 0),
	    &r->kind) < 0 ? 0 : PQgetisnull(res, 0, 7) ||
	    queue_issue_state_parse(PQgetvalue(res, 0, 7), &r->state) < 0 ? 7 : -1;
	if (bad >= 0) {
		queue_pg_bad_word(res, 0, bad, bad == 0 ? "issues.kind" : "issues.state", err, errsz);
		PQclear(res);
		queue_record_free(r);
		return refuse(q);
	}
	r->title = col_text(res, 0, 1);
	r->issuer = col_text(res, 0, 2);
	r->date = col_text(res, 0, 3);
	r->source = col_text(res, 0, 4);
	r->subject = col_text(res, 0, 5);
	r->message_id = col_text(res, 0, 6);
	r->sha256 = col_text(res, 0, 8);
	r->issue_no = (long)col_or(res, 0, 9, -1);
	r->total_issue_no = (long)col_or(res, 0, 10, -1);
	r->received = col_or(res, 0, 11, 0);
	r->finished = col_or(res, 0, 12, 0);
	r->duplicate_of = col_or(res, 0, 13, 0);
	r->report_for = col_or(res, 0, 14, 0);
	r->notice_for = col_or(res, 0, 15, 0);
	PQclear(res);

	/* resends are attempts rows of status 'resend'; a correction is a pair
	 * of rows linked by replaced_by */
	res = ctl_exec(q, "record", "SELECT r.id, r.tier_keyword, r.unit, r.name, r.address,"
	    " r.state, r.attempts, r.delivered, r.last_code, r.last_dsn, r.last_reply,"
	    " r.possible_duplicate, n.address, (SELECT o.address FROM recipients o"
	    " WHERE o.replaced_by = r.id LIMIT 1), (SELECT COUNT(*) FROM attempts a"
	    " WHERE a.recipient = r.id AND a.status = 'resend'), (SELECT MAX(a.time)"
	    " FROM attempts a WHERE a.recipient = r.id AND a.status = 'resend'), r.via,"
	    " r.bounced, r.bounce_status, r.bounce_reply, r.receipt, r.confirmed,"
	    " r.confirmed_by, r.reminders, r.last_reminded"
	    " FROM recipients r LEFT JOIN recipients n ON n.id = r.replaced_by"
	    " WHERE r.issue = $1 ORDER BY r.tier, r.id", &a, err, errsz);
	if (res == NULL) {
		queue_record_free(r);
		return refuse(q);
	}
	r->recipients = xcalloc((size_t)PQntuples(res) + 1, sizeof(*r->recipients));
	for (int i = 0; i < PQntuples(res); i++) {
		struct queue_record_recipient *x = &r->recipients[r->n_recipients++];
		x->id = col_or(res, i, 0, 0);
		x->tier = col_text(res, i, 1);
		x->unit = col_text(res, i, 2);
		x->name = col_text(res, i, 3);
		x->address = col_text(res, i, 4);
		if (PQgetisnull(res, i, 5) ||
		    queue_state_parse(PQgetvalue(res, i, 5), &x->state) < 0) {
			queue_pg_bad_word(res, i, 5, "recipients.state", err, errsz);
			PQclear(res);
			queue_record_free(r);
			return refuse(q);
		}
		x->attempts = (int)col_or(res, i, 6, 0);
		/* delivered keeps the time of the last acceptance; a resend clears it */
		x->accepted = x->state == QUEUE_DELIVERED ? col_or(res, i, 7, 0) : 0;
		x->code = (int)col_or(res, i, 8, 0);
		x->dsn = col_text(res, i, 9);
		x->reply = col_text(res, i, 10);
		x->possible_duplicate = col_or(res, i, 11, 0) != 0;
		x->replaced_by = col_text(res, i, 12);
		x->replaces = col_text(res, i, 13);
		x->resends = (int)col_or(res, i, 14, 0);
		x->last_resend = col_or(res, i, 15, 0);
		/* a correction's row and an added address start with a 'resend'
		 * row of their own (queue_resend_to): that one is their first send */
		x->added = !PQgetisnull(res, i, 16) && strcmp(PQgetvalue(res, i, 16),
		    "distctl") == 0;
		if ((x->replaces || x->added) && x->resends > 0 && --x->resends == 0)
			x->last_resend = 0;
		x->bounced = col_or(res, i, 17, 0);
		x->bounce_status = col_text(res, i, 18);
		x->bounce_reply = col_text(res, i, 19);
		x->receipt = col_or(res, i, 20, 0) != 0;
		x->confirmed = col_or(res, i, 21, 0);
		x->confirmed_by = col_text(res, i, 22);
		x->reminders = (int)col_or(res, i, 23, 0);
		x->last_reminded = col_or(res, i, 24, 0);
	}
	PQclear(res);
	ctl_rollback(q);	/* read only */
	*out = r;
	return 0;
}

/* ---- what comes back: bounces and receipts --------------------------------- */

/*
 * Runs sql with n text parameters (NULL: SQL NULL; typed by casts in the
 * statement); NULL with err on failure.
 */
static PGresult *
fb_exec(struct queue *q, const char *sql, int n, const char *const *v, char *err,
    size_t errsz)
{
	PGresult *res = PQexecParams(q->pg, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(res);

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		ctl_fail(q, err, errsz, "feedback", res);
		return NULL;
	}
	return res;
}

/*
 * A cursor moves forward only, while the mailbox's UIDVALIDITY stays: two
 * nodes reading one mailbox store what each read, in any order, and the
 * later store of the lower UID must not send the cursor back (the messages
 * between would be read again; their keys say SEEN, but it is work). A new
 * UIDVALIDITY restarts it wherever it was.
 */
static int
cursor_store(struct queue *q, const char *cursor, uint32_t uidvalidity, uint32_t uid,
    char *err, size_t errsz)
{
	char validity[24], last[24];
	const char *v[] = { cursor, validity, last };

	snprintf(validity, sizeof(validity), "%lu", (unsigned long)uidvalidity);
	snprintf(last, sizeof(last), "%lu", (unsigned long)uid);
	PGresult *res = fb_exec(q, "INSERT INTO feedback_cursors (name, uidvalidity, uid)"
	    " VALUES ($1, $2::bigint, $3::bigint) ON CONFLICT (name) DO UPDATE SET"
	    " uidvalidity = EXCLUDED.uidvalidity, uid = CASE WHEN feedback_cursors.uidvalidity"
	    " = EXCLUDED.uidvalidity THEN GREATEST(feedback_cursors.uid, EXCLUDED.uid)"
	    " ELSE EXCLUDED.uid END", 3, v, err, errsz);

	PQclear(res);
	return res ? 0 : -1;
}

int
queue_pg_feedback_cursor(struct queue *q, const char *cursor, uint32_t *uidvalidity,
    uint32_t *uid, char *err, size_t errsz)
{
	const char *v[] = { cursor };
	PGresult *res;

	*uidvalidity = 0;
	*uid = 0;
	res = fb_exec(q, "SELECT uidvalidity, uid FROM feedback_cursors WHERE name = $1", 1,
	    v, err, errsz);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) == 1;
	if (found) {
		*uidvalidity = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
		*uid = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return found ? 0 : 1;
}

int
queue_pg_feedback_cursor_set(struct queue *q, const char *cursor, uint32_t uidvalidity,
    uint32_t uid, char *err, size_t errsz)
{
	return cursor_store(q, cursor, uidvalidity, uid, err, errsz);
}

/* An address folded as PG_FOLD_ADDR folds the stored ones (ASCII only); NULL for none. */
static char *
fold_addr(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return NULL;
	char *f = xstrdup(s);
	for (char *p = f; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return f;
}

#define FOLD_ADDR(x) "translate(" x ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'," \
	" 'abcdefghijklmnopqrstuvwxyz')"

/*
 * One fact, one statement: the bulletin's ($1) rows not replaced whose
 * address is $2 or $3 (named) and that no earlier fact of the message
 * named ($7: each row once per message) get a history row each ($8 its
 * reply); those the fact may change change (a bounce: delivered and not
 * bounced yet, bounce_attempt its history row; a confirmation: not
 * confirmed yet and not cancelled), and the finished issue's kept totals
 * follow (issue_tiers: a bounce moves one from delivered to bounced, a
 * confirmation adds one). Returns the rows named, the rows changed and
 * the ids given a history row. Neither state nor next_attempt changes:
 * no count delta, no NOTIFY.
 */
#define FACT_ROWS \
    "WITH named AS (SELECT id, issue, attempts FROM recipients WHERE issue = $1::bigint" \
    "  AND replaced_by IS NULL AND " FOLD_ADDR("address") " IN ($2, $3))," \
    " m AS (SELECT * FROM named WHERE NOT (id = ANY($7::bigint[])))," \
    " h AS (INSERT INTO attempts (recipient, issue, time, status, dsn, reply, attempt)" \
    "  SELECT id, issue, $4::bigint, $9, $5, $8, attempts FROM m" \
    "  RETURNING id, recipient),"
#define FACT_TIERS(set) \
    " t AS (UPDATE issue_tiers k SET " set " FROM (SELECT tier, tier_keyword," \
    "  COUNT(*) AS n FROM u GROUP BY tier, tier_keyword) c WHERE k.issue = $1::bigint" \
    "  AND k.tier = c.tier AND k.tier_keyword = c.tier_keyword)" \
    " SELECT (SELECT COUNT(*) FROM named), (SELECT COUNT(*) FROM u)," \
    "  (SELECT COALESCE(array_agg(id), '{}') FROM m)"
static const char fact_bounce_sql[] = FACT_ROWS
    " u AS (UPDATE recipients r SET bounced = $4::bigint, bounce_status = $5,"
    "  bounce_reply = $6, bounce_attempt = h.id FROM h WHERE r.id = h.recipient"
    "  AND r.state = 'delivered' AND r.bounced IS NULL RETURNING r.tier, r.tier_keyword),"
    FACT_TIERS("delivered = k.delivered - c.n, bounced = k.bounced + c.n");
/* $5 (the dsn) is NULL here; $6 is confirmed_by */
static const char fact_confirm_sql[] = FACT_ROWS
    " u AS (UPDATE recipients r SET confirmed = $4::bigint, confirmed_by = $6"
    "  FROM h WHERE r.id = h.recipient AND r.confirmed IS NULL AND r.state <> 'cancelled'"
    "  RETURNING r.tier, r.tier_keyword),"
    FACT_TIERS("confirmed = k.confirmed + c.n");

/*
 * The issue in names, resolved to the bulletin it applies to (a
 * reminder's: its notice_for) and locked as every change of an issue
 * locks it (FOR NO KEY UPDATE, see the top): a node recording the
 * bulletin's results and this wait for each other at the issue row,
 * before either holds a recipient row. 1 with *bulletin, 0 when there
 * is none or the Message-IDs disagree, -1 with err.
 */
static int
fb_issue(struct queue *q, const struct queue_feedback_in *in, int64_t *bulletin,
    char *err, size_t errsz)
{
	char id[24];
	const char *v[] = { id };
	PGresult *res;

	*bulletin = 0;
	snprintf(id, sizeof(id), "%lld", (long long)in->issue);
	res = fb_exec(q, "SELECT kind, notice_for, message_id FROM issues"
	    " WHERE id = $1::bigint", 1, v, err, errsz);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return 0;
	}
	bool reminder = strcmp(PQgetvalue(res, 0, 0), "reminder") == 0;
	int64_t target = reminder ? col_or(res, 0, 1, 0) : in->issue;
	bool agrees = in->n_message_ids == 0;
	for (size_t i = 0; i < in->n_message_ids && !agrees; i++)
		agrees = in->message_ids[i] != NULL && PQgetvalue(res, 0, 2)[0] &&
		    strcasecmp(in->message_ids[i], PQgetvalue(res, 0, 2)) == 0;
	PQclear(res);
	if (target == 0 || !agrees)
		return 0;
	snprintf(id, sizeof(id), "%lld", (long long)target);
	res = fb_exec(q, "SELECT id FROM issues WHERE id = $1::bigint FOR NO KEY UPDATE", 1,
	    v, err, errsz);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) == 1;
	PQclear(res);
	if (found)
		*bulletin = target;
	return found;
}

/*
 * The facts applied to bulletin: fills out's counts; *named, the rows
 * any fact named. 0, or -1 with err.
 */
static int
fb_facts(struct queue *q, const struct queue_feedback_in *in, int64_t bulletin,
    struct queue_feedback_out *out, long *named, char *err, size_t errsz)
{
	bool bounce = in->kind == QUEUE_FEEDBACK_BOUNCE;
	struct sbuf seen = SBUF_INIT;
	char id[24], when[24];

	*named = 0;
	snprintf(id, sizeof(id), "%lld", (long long)bulletin);
	snprintf(when, sizeof(when), "%lld", (long long)in->when);
	sbuf_puts(&seen, "{}");
	for (size_t i = 0; i < in->n_facts; i++) {
		const struct queue_feedback_fact *f = &in->facts[i];
		char *a = fold_addr(f->address), *alt = fold_addr(f->alt_address);
		struct sbuf note = SBUF_INIT;
		/* the history: bounced with the status and the remote reply,
		 * confirmed with how ("mdn: displayed", "reply: SUBJECT") */
		if (bounce)
			sbuf_puts(&note, f->reply ? f->reply : in->how ? in->how : "bounce");
		else
			sbuf_printf(&note, "%s%s%s", in->how ? in->how : "confirmed",
			    f->reply ? ": " : "", f->reply ? f->reply : "");
		const char *v[] = { id, a ? a : alt, alt ? alt : a, when,
			bounce ? f->status : NULL,
			bounce ? f->reply : in->how && strcmp(in->how, "mdn") == 0 ? "mdn" :
			"reply", sbuf_str(&seen), sbuf_str(&note),
			bounce ? "bounced" : "confirmed" };
		PGresult *res = NULL;
		if (v[1] != NULL)
			res = fb_exec(q, bounce ? fact_bounce_sql : fact_confirm_sql, 9, v,
			    err, errsz);
		free(a);
		free(alt);
		sbuf_free(&note);
		if (v[1] == NULL) {
			out->unmatched++;
			continue;
		}
		if (res == NULL) {
			sbuf_free(&seen);
			return -1;
		}
		long n = (long)col_or(res, 0, 0, 0);
		out->matched += (long)col_or(res, 0, 1, 0);
		/* "{1,2}" and "{3}" make "{1,2,3}" */
		const char *ids = PQgetvalue(res, 0, 2);
		if (strcmp(ids, "{}") != 0) {
			struct sbuf both = SBUF_INIT;
			sbuf_printf(&both, "%.*s%s%s", (int)seen.len - 1, sbuf_str(&seen),
			    seen.len > 2 ? "," : "", ids + 1);
			sbuf_free(&seen);
			seen = both;
		}
		PQclear(res);
		*named += n;
		if (n == 0)
			out->unmatched++;
	}
	sbuf_free(&seen);
	return 0;
}

/* A failed apply: rolled back, nothing stored, out cleared; -1. */
static int
fb_refuse(struct queue *q, struct queue_feedback_out *out)
{
	memset(out, 0, sizeof(*out));
	return refuse(q);
}

/*
 * One transaction. The key goes in first (INSERT … ON CONFLICT DO
 * NOTHING): a second node applying the same message at once waits at the
 * key's index entry until the first commits, then inserts nothing and
 * finds it SEEN; if the first rolls back, the second applies it. A
 * message that applies to nobody takes its key back out (it is a human's,
 * and must not be SEEN when read again), but moves the cursor.
 */
int
queue_pg_feedback_apply(struct queue *q, const struct queue_feedback_in *in,
    struct queue_feedback_out *out, char *err, size_t errsz)
{
	char when[24], bulletin_s[24], matched[24];
	const char *kind = in->kind == QUEUE_FEEDBACK_BOUNCE ? "bounce" : "confirm";
	const char *v[4] = { in->key, when, kind, NULL };
	int64_t bulletin = 0;
	long named = 0;
	PGresult *res;
	int rc;

	memset(out, 0, sizeof(*out));
	if (in->key == NULL || in->key[0] == '\0') {
		snprintf(err, errsz, "%s: feedback without a key (the message's hash)",
		    q->pg_name ? q->pg_name : "PostgreSQL queue");
		return -1;
	}
	snprintf(when, sizeof(when), "%lld", (long long)in->when);
	if (ctl_plain(q, "feedback", "BEGIN", err, errsz) < 0)
		return -1;
	res = fb_exec(q, "INSERT INTO feedback (key, time, kind) VALUES ($1, $2::bigint, $3)"
	    " ON CONFLICT (key) DO NOTHING", 3, v, err, errsz);
	if (res == NULL)
		return fb_refuse(q, out);
	bool fresh = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (!fresh) {
		out->result = QUEUE_FEEDBACK_SEEN;
		res = fb_exec(q, "SELECT issue FROM feedback WHERE key = $1", 1, v, err, errsz);
		if (res == NULL)
			return fb_refuse(q, out);
		if (PQntuples(res) == 1)
			out->issue = col_or(res, 0, 0, 0);
		PQclear(res);
	} else {
		if ((rc = fb_issue(q, in, &bulletin, err, errsz)) < 0)
			return fb_refuse(q, out);
		out->issue = bulletin;
		if (rc == 0)
			out->result = QUEUE_FEEDBACK_NO_ISSUE;
		else if (fb_facts(q, in, bulletin, out, &named, err, errsz) < 0)
			return fb_refuse(q, out);
		else
			out->result = named > 0 ? QUEUE_FEEDBACK_APPLIED :
			    QUEUE_FEEDBACK_NO_RECIPIENT;
		snprintf(bulletin_s, sizeof(bulletin_s), "%lld", (long long)bulletin);
		snprintf(matched, sizeof(matched), "%ld", out->matched);
		v[1] = bulletin_s;
		v[2] = matched;
		res = out->result == QUEUE_FEEDBACK_APPLIED ?
		    fb_exec(q, "UPDATE feedback SET issue = $2::bigint, matched = $3::bigint"
		    " WHERE key = $1", 3, v, err, errsz) :
		    fb_exec(q, "DELETE FROM feedback WHERE key = $1", 1, v, err, errsz);
		if (res == NULL)
			return fb_refuse(q, out);
		PQclear(res);
	}
	if (in->cursor != NULL &&
	    cursor_store(q, in->cursor, in->uidvalidity, in->uid, err, errsz) < 0)
		return fb_refuse(q, out);
	if (ctl_commit(q, "feedback", err, errsz) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

/* ---- retention ------------------------------------------------------------- */

/*
 * Whether the family of root may go now (queue_sqlite_ctl.c's family_of):
 * 1 with its members (root first) and last activity, 0 when it must
 * stay, -1 with err. The referrers are read through the partial indexes
 * on report_for, notice_for and duplicate_of.
 */
static int
family_of(struct queue *q, int64_t root, int64_t before, struct queue_purge_family *f,
    char *err, size_t errsz)
{
	struct ctl_args a = { .issue = root, .now = before };
	PGresult *res;
	int ok = 1;

	memset(f, 0, sizeof(*f));
	f->root = root;
	f->ids = xmalloc(sizeof(*f->ids));
	f->ids[f->n++] = root;
	res = ctl_exec(q, "purge", "SELECT id FROM issues WHERE report_for = $1 UNION"
	    " SELECT id FROM issues WHERE notice_for = $1 UNION"
	    " SELECT id FROM issues WHERE duplicate_of = $1 ORDER BY 1", &a, err, errsz);
	if (res == NULL)
		return -1;
	f->ids = xreallocarray(f->ids, (size_t)PQntuples(res) + 1, sizeof(*f->ids));
	for (int i = 0; i < PQntuples(res); i++)
		f->ids[f->n++] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	PQclear(res);
	/*
	 * The newest issue stays whatever its age. On SQLite that keeps its id
	 * from being handed to the next issue (a new row is numbered max(id) +
	 * 1); here ids come from a sequence, which never hands one out twice,
	 * so nothing needs it — it is kept so that both backends purge the
	 * same issues.
	 */
	res = ctl_exec(q, "purge", "SELECT MAX(id) FROM issues", &a, err, errsz);
	if (res == NULL)
		return -1;
	int64_t newest = col_or(res, 0, 0, 0);
	PQclear(res);
	for (size_t i = 0; i < f->n; i++)
		if (f->ids[i] == newest)
			return 0;
	/* a failure report not yet sent (reported = 0 on a bulletin with failed
	 * rows: queue_finish_report_sql) keeps its issue until it is */
	static const char check[] = "SELECT i.state IN ('done','cancelled')"
	    " AND NOT (i.kind = 'bulletin' AND i.state = 'done' AND i.reported = 0"
	    "  AND EXISTS (SELECT 1 FROM recipients r WHERE r.issue = i.id"
	    "  AND r.state = 'failed' AND r.replaced_by IS NULL))"
	    " AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.issue = i.id"
	    "  AND r.state NOT IN ('delivered','failed','cancelled'))"
	    " AND COALESCE(i.finished, i.received) < $2"
	    " AND COALESCE((SELECT MAX(a.time) FROM attempts a WHERE a.issue = i.id), 0) < $2,"
	    " GREATEST(COALESCE(i.finished, i.received),"
	    "  COALESCE((SELECT MAX(a.time) FROM attempts a WHERE a.issue = i.id), 0)),"
	    " i.received FROM issues i WHERE i.id = $1";
	for (size_t i = 0; i < f->n && ok; i++) {
		a.issue = f->ids[i];
		if ((res = ctl_exec(q, "purge", check, &a, err, errsz)) == NULL)
			return -1;
		if (PQntuples(res) != 1) {
			PQclear(res);
			return 0;
		}
		ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		if (col_or(res, 0, 1, 0) > f->last)
			f->last = col_or(res, 0, 1, 0);
		if (i == 0)
			f->received = col_or(res, 0, 2, 0);
		PQclear(res);
	}
	return ok ? 1 : 0;
}

static void
family_clear(struct queue_purge_family *f)
{
	free(f->ids);
	memset(f, 0, sizeof(*f));
}

/* How many finished issues one call looks at, at most: a bound on its time. */
#define PURGE_LOOK 2000

int
queue_pg_purge_list(struct queue *q, int64_t before, size_t max,
    struct queue_purge_cursor *cur, struct queue_purge_family **out, size_t *n,
    char *err, size_t errsz)
{
	/* $1 before, $2 and $5 the cursor, $6 how many: issues_finished serves it */
	struct ctl_args a = { .issue = before, .now = cur->finished, .row = cur->id,
		.row2 = PURGE_LOOK };
	PGresult *res;

	*out = NULL;
	*n = 0;
	if (cur->end)
		return 0;
	if (ctl_begin_read(q, "purge", err, errsz) < 0)
		return -1;
	res = ctl_exec(q, "purge", "SELECT id, finished FROM issues"
	    " WHERE state IN ('done','cancelled') AND finished < $1"
	    " AND (finished, id) > ($2, $5) AND duplicate_of IS NULL"
	    " AND report_for IS NULL AND notice_for IS NULL ORDER BY finished, id LIMIT $6",
	    &a, err, errsz);
	if (res == NULL)
		return refuse(q);
	int n_roots = PQntuples(res);
	int64_t (*roots)[2] = xreallocarray(NULL, (size_t)n_roots + 1, sizeof(*roots));
	for (int i = 0; i < n_roots; i++) {
		roots[i][0] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		roots[i][1] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		cur->id = roots[i][0];
		cur->finished = roots[i][1];
	}
	PQclear(res);
	if (n_roots < PURGE_LOOK)
		cur->end = true;
	for (int i = 0; i < n_roots; i++) {
		struct queue_purge_family f;
		int ok = family_of(q, roots[i][0], before, &f, err, errsz);
		if (ok < 0) {
			family_clear(&f);
			free(roots);
			queue_purge_families_free(*out, *n);
			*out = NULL;
			*n = 0;
			return refuse(q);
		}
		if (ok == 0) {
			family_clear(&f);
			continue;
		}
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = f;
		if (*n == max) {
			/* the next call starts after the last family taken */
			cur->finished = roots[i][1];
			cur->id = roots[i][0];
			cur->end = false;
			break;
		}
	}
	free(roots);
	ctl_rollback(q);	/* read only */
	return 0;
}

/*
 * One transaction for the slice. Each family is locked before it is
 * looked at again: first the advisory lock of each member's content hash
 * (enqueue's duplicate check holds it: an issue being enqueued as a
 * duplicate of the root either commits before, and then the family has
 * a new member and stays, or finds the root gone and is an original),
 * then the members' rows (FOR UPDATE: a resend, which locks the issue
 * row first, waits, or has committed and is seen). The locks are taken
 * in the order of the walk, which every purge follows.
 */
int
queue_pg_purge_delete(struct queue *q, const struct queue_purge_family *f, size_t n,
    int64_t before, size_t *deleted, char *err, size_t errsz)
{
	/* referrers and their references first, then the family's rows; the
	 * references from outside are cleared in case a deeper chain points
	 * here; issue_tiers goes by its trigger */
	static const char *const sqls[] = {
		"DELETE FROM attempts WHERE issue = ANY($3::int8[])",
		"DELETE FROM recipients WHERE issue = ANY($3::int8[])",
		"DELETE FROM attachments WHERE issue = ANY($3::int8[])",
		"DELETE FROM sources WHERE issue = ANY($3::int8[])",
		"UPDATE issues SET report_for = NULL WHERE report_for = ANY($3::int8[])",
		"UPDATE issues SET notice_for = NULL WHERE notice_for = ANY($3::int8[])",
		"UPDATE issues SET duplicate_of = NULL WHERE duplicate_of = ANY($3::int8[])",
		"DELETE FROM issues WHERE id = ANY($3::int8[])",
	};

	*deleted = 0;
	if (ctl_plain(q, "purge", "BEGIN", err, errsz) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct sbuf ids = SBUF_INIT;
		sbuf_putc(&ids, '{');
		for (size_t m = 0; m < f[i].n; m++)
			sbuf_printf(&ids, "%s%lld", m ? "," : "", (long long)f[i].ids[m]);
		sbuf_putc(&ids, '}');
		struct ctl_args a = { .text = sbuf_str(&ids) };
		PGresult *res = ctl_exec(q, "purge", "SELECT pg_advisory_xact_lock("
		    "hashtextextended(sha256, 0)) FROM issues WHERE id = ANY($3::int8[])"
		    " ORDER BY id", &a, err, errsz);
		PQclear(res);
		if (res != NULL) {
			res = ctl_exec(q, "purge", "SELECT id FROM issues"
			    " WHERE id = ANY($3::int8[]) ORDER BY id FOR UPDATE", &a, err, errsz);
			PQclear(res);
		}
		if (res == NULL) {
			sbuf_free(&ids);
			goto fail;
		}
		struct queue_purge_family now;
		int ok = family_of(q, f[i].root, before, &now, err, errsz);
		bool same = ok == 1 && now.n == f[i].n &&
		    memcmp(now.ids, f[i].ids, now.n * sizeof(*now.ids)) == 0;
		family_clear(&now);
		for (size_t s = 0; ok >= 0 && same && s < sizeof(sqls) / sizeof(sqls[0]); s++)
			if (ctl_do(q, "purge", sqls[s], &a, err, errsz) < 0)
				ok = -1;
		sbuf_free(&ids);
		if (ok < 0)
			goto fail;
		if (same)
			*deleted += f[i].n;
	}
	if (ctl_commit(q, "purge", err, errsz) < 0) {
		*deleted = 0;
		return -1;
	}
	return 0;
fail:
	ctl_rollback(q);
	*deleted = 0;
	return -1;
}
