/*
 * The PostgreSQL backend: steering the queue from distctl (hold, release,
 * cancel, retry). The statements and checks of queue_sqlite_ctl.c, in
 * one transaction each; resend, re-route, the record and retention are
 * not built yet (issue 16).
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

#include "queue.h"
#include "queue_pg.h"
#include "queue_private.h"

/* $1 issue, $2 now, $3 text, $4 tier: typed, so a statement need not use them all */
static const Oid ctl_types[4] = { 20, 20, 25, 25 };	/* int8, int8, text, text */

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

/* Runs sql with the four parameters; NULL with err on failure. */
static PGresult *
ctl_run(struct queue *q, const char *sql, int64_t issue, int64_t now, const char *text,
    const char *tier, char *err, size_t errsz)
{
	char a[24], b[24];
	const char *v[4] = { a, b, text, tier };

	snprintf(a, sizeof(a), "%lld", (long long)issue);
	snprintf(b, sizeof(b), "%lld", (long long)now);
	PGresult *res = PQexecParams(q->pg, sql, 4, ctl_types, v, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(res);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		ctl_fail(q, err, errsz, "update", res);
		return NULL;
	}
	return res;
}

static int
issue_state(struct queue *q, int64_t issue, enum queue_issue_state *state, char *err,
    size_t errsz)
{
	PGresult *res = ctl_run(q, "SELECT state FROM issues WHERE id = $1", issue, 0, NULL,
	    NULL, err, errsz);
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

/* The statements in one transaction; returns the rows the first changed. */
static int
update(struct queue *q, int64_t issue, int64_t now, const char *text, const char *tier,
    const char *const *sqls, char *err, size_t errsz)
{
	int changed = 0;
	PGresult *res = PQexec(q->pg, "BEGIN");

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ctl_fail(q, err, errsz, "update", res);
	PQclear(res);
	for (size_t i = 0; sqls[i]; i++) {
		res = ctl_run(q, sqls[i], issue, now, text, tier, err, errsz);
		if (res == NULL) {
			PQclear(PQexec(q->pg, "ROLLBACK"));
			return -1;
		}
		if (i == 0)
			changed = atoi(PQcmdTuples(res));
		PQclear(res);
	}
	res = PQexec(q->pg, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ctl_fail(q, err, errsz, "update", res);
		PQclear(PQexec(q->pg, "ROLLBACK"));
		return -1;
	}
	PQclear(res);
	return changed;
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

	if (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0)
		return -1;
	PGresult *res = ctl_run(q, "SELECT COUNT(*) FROM recipients WHERE issue = $1"
	    " AND state = 'held'" IN_TIER, issue, 0, NULL, tier, err, errsz);
	if (res == NULL)
		return -1;
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
		return -1;
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

	if (issue != 0 && (issue_state(q, issue, &state, err, errsz) < 0 ||
	    check_tier(q, issue, tier, err, errsz) < 0))
		return -1;
	return update(q, issue, now, NULL, tier, issue ? one : all, err, errsz);
}
