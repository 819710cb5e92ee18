/*
 * The PostgreSQL backend (issue 16), under construction: `state` is a libpq
 * connection string ("postgresql://…" or "host=… dbname=…"). The schema
 * means what the SQLite schema (queue_sqlite.c, version 9) means; distd
 * creates and migrates it itself (table distd_schema). Ops not built yet
 * are NULL in queue_backend_pg, and the configuration check refuses this
 * backend while any is (queue_backend_missing), so that no admin runs a
 * half backend; the unit tests reach it through the queue API.
 *
 * Several nodes (queue_join): what a node takes is leased to it (node,
 * lease_until on the server's clock) and its heartbeats extend the
 * leases; another node's heartbeat takes expired leases back into the
 * queue. LISTEN/NOTIFY wakes idle nodes; a lost connection is reported
 * (queue_check_file) and restored (queue_reconnect).
 */
#include "queue.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sbuf.h"

#include "queue_backend.h"
#include "queue_pg.h"
#include "queue_private.h"
#include "xalloc.h"

/*
 * Version 1: the meaning of SQLite's schema 8 in one step. Differences:
 * ids come from sequences (several writers hand out ids without a
 * look-up); recipient_counts is a plain COUNT (an index on state serves
 * it; version 5 keeps deltas instead, measured); issue_tiers is written at
 * finish and dropped by a trigger when an issue reopens or goes.
 */
static const char pg_schema_v1[] =
    "CREATE SEQUENCE issue_ids;"
    "CREATE TABLE issues ("
    "  id BIGINT PRIMARY KEY,"
    "  kind TEXT NOT NULL DEFAULT 'bulletin',"
    "  sha256 TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  title TEXT, issue_no BIGINT, total_issue_no BIGINT,"
    "  issuer TEXT, date TEXT, urgency TEXT,"
    "  subject TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  message BYTEA,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL CHECK (state IN ('active','held','done','cancelled')),"
    "  hold_reason TEXT,"
    "  duplicate_of BIGINT REFERENCES issues(id),"
    "  report_for BIGINT REFERENCES issues(id),"
    "  reported INTEGER NOT NULL DEFAULT 0,"
    "  received BIGINT NOT NULL,"
    "  finished BIGINT,"
    "  text TEXT,"
    "  unresolved TEXT,"
    "  notice_for BIGINT REFERENCES issues(id),"
    "  held_on_arrival INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX issues_sha256 ON issues(sha256);"
    "CREATE UNIQUE INDEX issues_notice_key ON issues(sha256) WHERE kind = 'notice';"
    "CREATE INDEX issues_active ON issues(priority DESC, id) WHERE state = 'active';"
    "CREATE INDEX issues_unsettled ON issues(id)"
    "  WHERE state = 'done' AND kind = 'bulletin' AND reported = 0;"
    "CREATE INDEX issues_held ON issues(id) WHERE state = 'held';"
    "CREATE INDEX issues_finished ON issues(finished, id) WHERE state IN ('done','cancelled');"
    "CREATE INDEX issues_report_for ON issues(report_for) WHERE report_for IS NOT NULL;"
    "CREATE INDEX issues_notice_for ON issues(notice_for) WHERE notice_for IS NOT NULL;"
    "CREATE INDEX issues_duplicate_of ON issues(duplicate_of) WHERE duplicate_of IS NOT NULL;"
    "CREATE TABLE attachments ("
    "  issue BIGINT NOT NULL REFERENCES issues(id),"
    "  name TEXT NOT NULL,"
    "  data BYTEA NOT NULL"
    ");"
    "CREATE INDEX attachments_issue ON attachments(issue);"
    "CREATE TABLE recipients ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  issue BIGINT NOT NULL REFERENCES issues(id),"
    "  tier INTEGER NOT NULL,"
    "  tier_keyword TEXT NOT NULL,"
    "  header TEXT NOT NULL,"
    "  unit TEXT NOT NULL,"
    "  via TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  display TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('queued','sending','deferred',"
    "    'delivered','failed','held','cancelled')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt BIGINT NOT NULL,"
    "  last_code INTEGER, last_dsn TEXT, last_reply TEXT, last_class TEXT,"
    "  delivered BIGINT,"
    "  possible_duplicate INTEGER NOT NULL DEFAULT 0,"
    "  replaced_by BIGINT REFERENCES recipients(id)"
    ");"
    "CREATE INDEX recipients_due ON recipients(state, next_attempt);"
    "CREATE INDEX recipients_issue ON recipients(issue);"
    "CREATE INDEX recipients_pending ON recipients(issue, tier, id)"
    "  WHERE state IN ('queued','deferred');"
    "CREATE TABLE attempts ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  recipient BIGINT NOT NULL REFERENCES recipients(id),"
    "  issue BIGINT NOT NULL REFERENCES issues(id),"
    "  time BIGINT NOT NULL,"
    "  relay TEXT,"
    "  status TEXT NOT NULL,"
    "  class TEXT,"
    "  code INTEGER, dsn TEXT, reply TEXT,"
    "  duration DOUBLE PRECISION,"
    "  attempt INTEGER NOT NULL,"
    "  possible_duplicate INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX attempts_issue_status ON attempts(issue, status, time);"
    "CREATE INDEX attempts_recipient ON attempts(recipient);"
    "CREATE TABLE alerts ("
    "  kind TEXT PRIMARY KEY,"
    "  text TEXT NOT NULL,"
    "  since BIGINT NOT NULL,"
    "  last BIGINT NOT NULL"
    ");"
    "CREATE TABLE sources ("
    "  issue BIGINT PRIMARY KEY REFERENCES issues(id),"
    "  sha256 TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  archived TEXT"
    ");"
    "CREATE INDEX sources_pending ON sources(sha256, name) WHERE archived IS NULL;"
    "CREATE TABLE relays ("
    "  relay TEXT PRIMARY KEY,"
    "  size BIGINT,"
    "  max_rcpt BIGINT,"
    "  updated BIGINT NOT NULL"
    ");"
    "CREATE TABLE issue_tiers ("
    "  issue BIGINT NOT NULL, tier INTEGER NOT NULL, tier_keyword TEXT NOT NULL,"
    "  total BIGINT NOT NULL, delivered BIGINT NOT NULL, deferred BIGINT NOT NULL,"
    "  failed BIGINT NOT NULL, PRIMARY KEY (issue, tier, tier_keyword));"
    "CREATE FUNCTION issue_tiers_forget() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN DELETE FROM issue_tiers WHERE issue = OLD.id; RETURN NULL; END $$;"
    "CREATE TRIGGER issue_tiers_reopened AFTER UPDATE OF state ON issues FOR EACH ROW"
    "  WHEN (OLD.state = 'done' AND NEW.state <> 'done')"
    "  EXECUTE FUNCTION issue_tiers_forget();"
    "CREATE TRIGGER issue_tiers_deleted AFTER DELETE ON issues FOR EACH ROW"
    "  EXECUTE FUNCTION issue_tiers_forget();";

/*
 * Version 2: several nodes. A `sending` recipient is leased to the node
 * that took it until lease_until (unix seconds on the server's clock:
 * the nodes' clocks may disagree, the server's is one); the node's
 * heartbeats extend it. nodes: one row per node, for distctl status and
 * to refuse a second live node under one name. Rows `sending` from
 * before this version have no node: the next start takes them back.
 */
static const char pg_schema_v2[] =
    "ALTER TABLE recipients ADD COLUMN node TEXT;"
    "ALTER TABLE recipients ADD COLUMN lease_until BIGINT;"
    "CREATE INDEX recipients_leases ON recipients(lease_until) WHERE state = 'sending';"
    "CREATE TABLE nodes ("
    "  name TEXT PRIMARY KEY,"
    "  host TEXT NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  version TEXT NOT NULL,"
    "  started BIGINT NOT NULL,"
    "  heartbeat BIGINT NOT NULL,"
    "  lease INTEGER NOT NULL"
    ");";

/*
 * Version 3: wake-ups. A NOTIFY on distd_work whenever work may have
 * become due, so that an idle node (LISTEN distd_work, see pg_listen)
 * takes it at once instead of at its next timer: recipients inserted
 * queued, made queued (a release, a recovery, a held issue released) or
 * due earlier (distctl retry), and issues made active. PostgreSQL folds
 * equal notifications of one transaction into one, delivered at commit,
 * so a 10 000-recipient issue sends one (test_queue_wake checks it).
 * The row triggers' cost, measured on the test cluster (PostgreSQL 15,
 * medians of 9): a 10 000-row INSERT took 110-144 ms without them and
 * 88-120 ms with them, the 10 000-row sending → queued UPDATE 153-228 ms
 * and 127-185 ms: lost in the run-to-run noise. Conditions sit in WHEN,
 * evaluated without calling the function, so rows that make nothing due
 * cost no call.
 */
static const char pg_schema_v3[] =
    "CREATE FUNCTION distd_work_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN PERFORM pg_notify('distd_work', ''); RETURN NULL; END $$;"
    "CREATE TRIGGER recipients_work_inserted AFTER INSERT ON recipients FOR EACH ROW"
    "  WHEN (NEW.state = 'queued') EXECUTE FUNCTION distd_work_notify();"
    "CREATE TRIGGER recipients_work_updated AFTER UPDATE OF state, next_attempt"
    "  ON recipients FOR EACH ROW"
    "  WHEN ((NEW.state = 'queued' AND OLD.state <> 'queued')"
    "   OR (NEW.state IN ('queued','deferred') AND NEW.next_attempt < OLD.next_attempt))"
    "  EXECUTE FUNCTION distd_work_notify();"
    "CREATE TRIGGER issues_work_active AFTER UPDATE OF state ON issues FOR EACH ROW"
    "  WHEN (NEW.state = 'active' AND OLD.state <> 'active')"
    "  EXECUTE FUNCTION distd_work_notify();";

/*
 * Version 4: attachments in the order given. The table had no column to
 * order them by, and its physical order (ctid) is the order of insertion
 * only while no row moves: an UPDATE, VACUUM FULL, space freed by a
 * purge and filled again change it. position is a serial, numbered in
 * the order of insertion (pg_commit_issue inserts an issue's attachments
 * in their order, in one transaction); a writer of an older version
 * still inserts (the default numbers its rows). Rows from before this
 * version are numbered in the physical order the table has at the
 * migration: the best left of their order.
 */
static const char pg_schema_v4[] =
    "ALTER TABLE attachments ADD COLUMN position BIGSERIAL;"
    "CREATE INDEX attachments_order ON attachments(issue, position);"
    "DROP INDEX attachments_issue;";

/*
 * Version 5: counts that cost the same at any size. distctl status and
 * the daemon's status counted every recipient ever queued (a COUNT over
 * recipients: ~170 ms at 400 000 rows, and retention keeps 400 days).
 * SQLite keeps counters updated by triggers; here several nodes write at
 * once, and one counter row per state updated by every transaction would
 * make them wait for each other's commits (and deadlock: two
 * transactions updating 'queued' and 'sending' in opposite orders).
 * Instead the triggers only ever insert: each statement that writes
 * recipients adds one row per state it changed, (state, delta), to
 * recipient_count_deltas, in its own transaction, so the deltas commit
 * or roll back with the rows and a snapshot sees both or neither. A
 * count is the sum of the deltas (pg_counts); pg_fold replaces them by
 * their sums now and then, so there are few to sum. The triggers are
 * statement-level with transition tables (REFERENCING, PostgreSQL 10;
 * schema 1 needs 11 already): one insert per statement, not per row; an
 * UPDATE trigger with transition tables may not name columns (UPDATE OF
 * state), so every UPDATE fires it, and one that changes no state or
 * replaced_by nets to zero and inserts nothing. Counted, as before:
 * rows not replaced by a correction (replaced_by IS NULL).
 *
 * The triggers come before the base: CREATE TRIGGER locks recipients
 * against writers (SHARE ROW EXCLUSIVE) until this migration commits, so
 * the COUNT after it sees every committed row and nothing is written
 * between the count and the triggers. The table is insert-and-delete
 * only: vacuumed after a thousand dead rows rather than a fifth of its
 * size (a few rows), so that the sum reads few dead ones.
 */
static const char pg_schema_v5[] =
    "CREATE TABLE recipient_count_deltas ("
    "  state TEXT NOT NULL,"
    "  delta BIGINT NOT NULL"
    ") WITH (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0);"
    "CREATE FUNCTION recipient_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN INSERT INTO recipient_count_deltas (state, delta)"
    "   SELECT state, COUNT(*) FROM new_rows WHERE replaced_by IS NULL GROUP BY state;"
    "  RETURN NULL; END $$;"
    "CREATE FUNCTION recipient_count_update() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN INSERT INTO recipient_count_deltas (state, delta)"
    "   SELECT state, SUM(d) FROM (SELECT state, -1 AS d FROM old_rows"
    "    WHERE replaced_by IS NULL UNION ALL SELECT state, 1 FROM new_rows"
    "    WHERE replaced_by IS NULL) x GROUP BY state HAVING SUM(d) <> 0;"
    "  RETURN NULL; END $$;"
    "CREATE FUNCTION recipient_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN INSERT INTO recipient_count_deltas (state, delta)"
    "   SELECT state, -COUNT(*) FROM old_rows WHERE replaced_by IS NULL GROUP BY state;"
    "  RETURN NULL; END $$;"
    /* TRUNCATE recipients waited for every writer: nothing is left to count */
    "CREATE FUNCTION recipient_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN TRUNCATE recipient_count_deltas; RETURN NULL; END $$;"
    "CREATE TRIGGER recipients_count_insert AFTER INSERT ON recipients"
    "  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
    "  EXECUTE FUNCTION recipient_count_insert();"
    "CREATE TRIGGER recipients_count_update AFTER UPDATE ON recipients"
    "  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
    "  EXECUTE FUNCTION recipient_count_update();"
    "CREATE TRIGGER recipients_count_delete AFTER DELETE ON recipients"
    "  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    "  EXECUTE FUNCTION recipient_count_delete();"
    "CREATE TRIGGER recipients_count_truncate AFTER TRUNCATE ON recipients"
    "  FOR EACH STATEMENT EXECUTE FUNCTION recipient_count_truncate();"
    "INSERT INTO recipient_count_deltas (state, delta)"
    "  SELECT state, COUNT(*) FROM recipients WHERE replaced_by IS NULL GROUP BY state;";

/*
 * Version 6: what comes back after the relay accepted (issue 17). A
 * recipient's state stays the transfer's; beside it: a bounce (time,
 * status, remote reply), whether it was asked to confirm receipt, the
 * confirmation (time, by 'mdn' or 'reply'), and the reminders sent about
 * it. issue_tiers, the totals kept at finish, gets the bounced,
 * confirmed and asked counts (delivered there is delivered and not
 * bounced from now on): the rows from before this version have no bounce
 * or confirmation and nobody was asked, so 0 is their truth and their
 * delivered stays. feedback: each feedback message's key, stored when it
 * applied, so that it applies once (two nodes reading one mailbox insert
 * the same key; the second waits for the first and then finds it);
 * feedback_cursors: where each mailbox was read to. bounce_attempt is
 * the history row (attempts.id) of the bounce that set bounced: it only
 * grows, so the bounced notice's key (its highest per issue, as on
 * SQLite) changes with every new bounce, whichever row bounced. The
 * partial index finds the issues with bounced recipients (notices_due)
 * among years of rows without any.
 *
 * The new columns are written by UPDATEs that change neither state nor
 * replaced_by nor next_attempt: the count triggers of version 5 net them
 * to zero and insert no delta, and the NOTIFY trigger of version 3
 * (UPDATE OF state, next_attempt) does not fire. ADD COLUMN with a
 * constant default rewrites no row (PostgreSQL 11).
 */
static const char pg_schema_v6[] =
    "ALTER TABLE recipients ADD COLUMN bounced BIGINT,"
    "  ADD COLUMN bounce_status TEXT, ADD COLUMN bounce_reply TEXT,"
    "  ADD COLUMN receipt INTEGER NOT NULL DEFAULT 0,"
    "  ADD COLUMN confirmed BIGINT, ADD COLUMN confirmed_by TEXT,"
    "  ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0,"
    "  ADD COLUMN last_reminded BIGINT, ADD COLUMN bounce_attempt BIGINT;"
    "CREATE INDEX recipients_bounced ON recipients(issue, bounce_attempt)"
    "  WHERE bounced IS NOT NULL;"
    "ALTER TABLE issue_tiers ADD COLUMN bounced BIGINT NOT NULL DEFAULT 0,"
    "  ADD COLUMN confirmed BIGINT NOT NULL DEFAULT 0,"
    "  ADD COLUMN receipt BIGINT NOT NULL DEFAULT 0;"
    /* no reference to issues: a key outlives its issue's purge, so that a
     * message read again after a UIDVALIDITY change is still SEEN */
    "CREATE TABLE feedback ("
    "  key TEXT PRIMARY KEY,"
    "  time BIGINT NOT NULL,"
    "  issue BIGINT,"
    "  kind TEXT NOT NULL,"
    "  matched BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE feedback_cursors ("
    "  name TEXT PRIMARY KEY,"
    "  uidvalidity BIGINT NOT NULL,"
    "  uid BIGINT NOT NULL"
    ");";

static const char *const pg_migrations[] = {
	pg_schema_v1,
	pg_schema_v2,
	pg_schema_v3,
	pg_schema_v4,
	pg_schema_v5,
	pg_schema_v6,
};
#define PG_LATEST ((int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

/*
 * Now on the database server's clock, in whole unix seconds: leases and
 * heartbeats are compared on one clock, whatever the nodes' clocks say.
 */
#define PG_NOW "FLOOR(EXTRACT(EPOCH FROM clock_timestamp()))::bigint"

/*
 * An address compared ASCII case-insensitively (queue.h: the feedback's
 * and the reminders' matches), as SQLite's COLLATE NOCASE: lower() would
 * fold other letters too. Both sides go through it.
 */
#define PG_FOLD_ADDR(x) "translate(" x ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'," \
	" 'abcdefghijklmnopqrstuvwxyz')"

/* Any constant: serialises schema creation between nodes opening at once. */
#define PG_MIGRATE_LOCK 0x64697374640001LL
/* Another: one fold of the count deltas at a time (S_FOLD). */
#define PG_FOLD_LOCK_SQL "28263442265931778"	/* 0x64697374640002 */

/*
 * pg_counts folds when it sums more deltas than this: the backstop for
 * writers that do not fold (distctl's changes, an older distd, SQL by
 * hand). Summing a thousand small rows costs well under a millisecond.
 */
#define PG_FOLD_ROWS 1000

int
queue_pg_schema_latest(void)
{
	return PG_LATEST;
}

/* ---- parameters and results ------------------------------------------------ */

/* Text parameters (and one binary: the message), NULL for SQL NULL. */
struct pgp {
	int n;
	const char *v[24];
	int len[24];
	int fmt[24];
	char buf[24][24];
};

static void
p_text(struct pgp *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

static void
p_int(struct pgp *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[p->n]), "%" PRId64, x);
	p_text(p, p->buf[p->n]);
}

/* -1 (absent) and 0 (no reference) as stored: NULL */
static void
p_opt(struct pgp *p, int64_t x, int64_t none)
{
	if (x == none)
		p_text(p, NULL);
	else
		p_int(p, x);
}

static void
p_bin(struct pgp *p, const void *data, size_t len)
{
	p->v[p->n] = data;
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 1;
	p->n++;
}

/*
 * Never the connection string in a message: it may name a password file
 * or carry options an admin did not mean to show. The database and host
 * say which queue.
 */
static const char *
pg_name(struct queue *q)
{
	return q->pg_name ? q->pg_name : "PostgreSQL queue";
}

static int
pg_fail(struct queue *q, char *err, size_t errsz, const char *what, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";

	if (msg == NULL || msg[0] == '\0')
		msg = q->pg ? PQerrorMessage(q->pg) : "not connected";
	snprintf(err, errsz, "%s: %s: %.*s", pg_name(q), what, (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return -1;
}

/* Runs sql (no parameters, possibly several statements). */
static int
pg_exec(struct queue *q, const char *sql, char *err, size_t errsz)
{
	PGresult *res = PQexec(q->pg, sql);
	ExecStatusType s = PQresultStatus(res);

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		return pg_fail(q, err, errsz, "query", res);
	PQclear(res);
	return 0;
}

static void
pg_rollback(struct queue *q)
{
	PQclear(PQexec(q->pg, "ROLLBACK"));
}

/*
 * The statements of the hot paths, prepared once per connection by name
 * (libpq keeps them for the session): the parse and plan are not paid
 * per recipient.
 */
enum pg_stmt {
	S_RESERVE, S_FIND_ORIGINAL, S_XLOCK, S_INSERT_ISSUE, S_INSERT_SOURCE,
	S_INSERT_ATTACHMENT, S_INSERT_RECIPIENT, S_MARK_REPORTED, S_FIND_NOTICE,
	S_TAKE, S_TAKE_LIFETIME, S_MARK_SENDING, S_CANCELLED, S_RECORD, S_ATTEMPT,
	S_RELEASE, S_NEXT_DUE, S_ALERT, S_CLEAR_ALERT, S_RELAY_GET, S_RELAY_SIZE,
	S_RELAY_MAX_RCPT, S_SOURCE_PENDING, S_SOURCE_ARCHIVED, S_FAIL_ISSUE,
	S_FAIL_RCPT, S_OLDEST_DEFERRAL, S_NOTICES_SINCE, S_LOCK_ISSUES,
	S_FINISH_LOCK, S_FINISH_DONE, S_FINISH_TIERS, S_FINISH_SETTLE, S_FINISH_REPORT,
	S_COUNTS, S_FOLD, S_LOCK_ISSUE, S_REMINDED,
	S_COUNT
};

static const char *const pg_sql[S_COUNT] = {
	[S_RESERVE] = "SELECT nextval('issue_ids')",
	[S_FIND_ORIGINAL] = "SELECT id FROM issues WHERE sha256 = $1 AND kind = 'bulletin'"
	    " AND duplicate_of IS NULL ORDER BY id LIMIT 1",
	/* one writer per content hash at a time: the duplicate check holds
	 * across nodes (a transaction-scoped advisory lock) */
	[S_XLOCK] = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
	[S_INSERT_ISSUE] = "INSERT INTO issues (id, kind, sha256, source, title, issue_no,"
	    " total_issue_no, issuer, date, urgency, subject, message_id, priority,"
	    " state, hold_reason, duplicate_of, report_for, received, finished, text,"
	    " unresolved, notice_for, held_on_arrival, message)"
	    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,"
	    "$20,$21,$22,$23,$24)"
	    " ON CONFLICT (sha256) WHERE kind = 'notice' DO NOTHING",
	[S_INSERT_SOURCE] = "INSERT INTO sources (issue, sha256, name) VALUES ($1,$2,$3)",
	[S_INSERT_ATTACHMENT] = "INSERT INTO attachments (issue, name, data) VALUES ($1,$2,$3)",
	[S_INSERT_RECIPIENT] = "INSERT INTO recipients (issue, tier, tier_keyword, header,"
	    " unit, via, name, display, address, state, next_attempt, receipt)"
	    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
	[S_MARK_REPORTED] = "UPDATE issues SET reported = 1 WHERE id = $1",
	[S_FIND_NOTICE] = "SELECT id FROM issues WHERE kind = 'notice' AND sha256 = $1",
	/*
	 * queue_take_sql's meaning; rows another node's open take holds are
	 * skipped, not waited for (FOR UPDATE SKIP LOCKED), so that two takes
	 * never return the same recipient.
	 */
	[S_TAKE] = "SELECT r.id, r.issue, r.address, r.attempts, r.tier_keyword,"
	    " r.possible_duplicate FROM issues i JOIN recipients r ON r.issue = i.id"
	    " WHERE r.state IN ('queued','deferred') AND i.state = 'active'"
	    " AND (r.next_attempt <= $1 OR (r.state = 'deferred' AND r.next_attempt <= $1 + $3"
	    "  AND EXISTS (SELECT 1 FROM recipients d WHERE d.issue = r.issue"
	    "   AND d.tier = r.tier AND d.state IN ('queued','deferred')"
	    "   AND d.next_attempt <= $1)))"
	    " ORDER BY i.priority DESC, i.id, r.tier, r.id LIMIT $2"
	    " FOR UPDATE OF r SKIP LOCKED",
	[S_TAKE_LIFETIME] = "SELECT message, (SELECT MIN(a.time) FROM attempts a"
	    " WHERE a.issue = $1 AND a.status IN ('sent','deferred','failed','expired')"
	    " AND a.time >= COALESCE((SELECT MAX(time) FROM attempts WHERE issue = $1"
	    " AND status = 'resend'), 0)) FROM issues WHERE id = $1",
	/* leased to this node ($2; NULL: a handle that did not join) */
	[S_MARK_SENDING] = "UPDATE recipients SET state = 'sending', node = $2::text,"
	    " lease_until = CASE WHEN $2::text IS NULL THEN NULL ELSE " PG_NOW
	    " + $3::bigint END WHERE id = ANY($1::bigint[])",
	[S_CANCELLED] = "SELECT state = 'cancelled' FROM recipients WHERE id = $1",
	[S_RECORD] = "UPDATE recipients SET state = $1, attempts = $2, next_attempt = $3,"
	    " last_code = $4, last_dsn = $5, last_reply = $6, last_class = $7,"
	    " delivered = $8, possible_duplicate = $10, node = NULL, lease_until = NULL"
	    " WHERE id = $9 AND node IS NOT DISTINCT FROM $11::text",
	[S_ATTEMPT] = "INSERT INTO attempts (recipient, issue, time, relay, status,"
	    " class, code, dsn, reply, duration, attempt, possible_duplicate)"
	    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
	[S_RELEASE] = "UPDATE recipients SET state = 'queued', node = NULL,"
	    " lease_until = NULL WHERE id = ANY($1::bigint[]) AND state = 'sending'"
	    " AND node IS NOT DISTINCT FROM $2::text",
	[S_NEXT_DUE] = "SELECT MIN(r.next_attempt) FROM recipients r"
	    " JOIN issues i ON i.id = r.issue"
	    " WHERE r.state IN ('queued','deferred') AND i.state = 'active'",
	[S_ALERT] = "INSERT INTO alerts (kind, text, since, last) VALUES ($1, $2, $3, $3)"
	    " ON CONFLICT (kind) DO UPDATE SET text = $2, last = $3",
	[S_CLEAR_ALERT] = "DELETE FROM alerts WHERE kind = $1",
	[S_RELAY_GET] = "SELECT size, max_rcpt FROM relays WHERE relay = $1",
	[S_RELAY_SIZE] = "INSERT INTO relays (relay, size, updated) VALUES ($1, $2, $3)"
	    " ON CONFLICT (relay) DO UPDATE SET size = $2, updated = $3",
	[S_RELAY_MAX_RCPT] = "INSERT INTO relays (relay, max_rcpt, updated) VALUES ($1, $2, $3)"
	    " ON CONFLICT (relay) DO UPDATE SET max_rcpt = $2, updated = $3",
	[S_SOURCE_PENDING] = "SELECT issue FROM sources WHERE sha256 = $1"
	    " AND name = $2 AND archived IS NULL ORDER BY issue LIMIT 1",
	[S_SOURCE_ARCHIVED] = "UPDATE sources SET archived = $1 WHERE"
	    " sha256 = $2 AND name = $3 AND archived IS NULL",
	[S_FAIL_ISSUE] = "SELECT title, issue_no FROM issues WHERE id = $1",
	[S_FAIL_RCPT] = "SELECT tier_keyword, name, address, last_reply, attempts"
	    " FROM recipients WHERE issue = $1 AND state = 'failed' AND replaced_by IS NULL"
	    " ORDER BY tier, id",
	[S_OLDEST_DEFERRAL] = "SELECT MIN((SELECT MIN(a.time) FROM attempts a"
	    "  WHERE a.recipient = r.id AND a.status = 'deferred')), COUNT(*)"
	    " FROM recipients r JOIN issues i ON i.id = r.issue"
	    " WHERE r.state = 'deferred' AND i.state = 'active'",
	[S_NOTICES_SINCE] = "SELECT COUNT(*), MIN(received) FROM issues"
	    " WHERE kind = 'notice' AND received > $1",
	/*
	 * A record's issues, in id order (two nodes recording batches of the
	 * same issues take them in one order): FOR SHARE waits for a distctl
	 * change of the issue (FOR NO KEY UPDATE, queue_pg_ctl.c) and keeps
	 * the next one out until the record commits, while nodes recording
	 * results of one issue do not wait for each other.
	 */
	[S_LOCK_ISSUES] = "SELECT id FROM issues WHERE id = ANY($1::bigint[])"
	    " ORDER BY id FOR SHARE",
	/*
	 * pg_finish's steps. The candidates are locked first, skipping those
	 * another transaction holds (a distctl change, a node's record: the
	 * next finish looks at them), so that finish never waits for an
	 * issue row and takes part in no deadlock; then the recipients are
	 * read again by a statement whose snapshot is younger than the
	 * locks.
	 */
	[S_FINISH_LOCK] = "SELECT id FROM issues WHERE state = 'active'"
	    " AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.issue = issues.id"
	    " AND r.state NOT IN ('delivered','failed','cancelled')"
	    " AND r.replaced_by IS NULL) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED",
	[S_FINISH_DONE] = "UPDATE issues SET state = 'done', finished = $2"
	    " WHERE id = ANY($1::bigint[]) AND state = 'active'"
	    " AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.issue = issues.id"
	    " AND r.state NOT IN ('delivered','failed','cancelled')"
	    " AND r.replaced_by IS NULL) RETURNING id",
	/*
	 * the tiers of what finished now, for distctl status: delivered is
	 * delivered and not bounced (a bounce may come before the issue ends);
	 * queue_pg_feedback_apply keeps them right afterwards
	 */
	[S_FINISH_TIERS] = "INSERT INTO issue_tiers (issue, tier, tier_keyword, total,"
	    " delivered, deferred, failed, bounced, confirmed, receipt)"
	    " SELECT issue, tier, tier_keyword, COUNT(*), COUNT(*) FILTER (WHERE state ="
	    " 'delivered' AND bounced IS NULL), COUNT(*) FILTER (WHERE state = 'deferred'),"
	    " COUNT(*) FILTER (WHERE state = 'failed'), COUNT(*) FILTER (WHERE bounced IS"
	    " NOT NULL), COUNT(*) FILTER (WHERE confirmed IS NOT NULL), COUNT(*) FILTER"
	    " (WHERE receipt = 1) FROM recipients WHERE issue = ANY($1::bigint[])"
	    " AND replaced_by IS NULL GROUP BY issue, tier, tier_keyword"
	    " ON CONFLICT (issue, tier, tier_keyword) DO UPDATE SET total = EXCLUDED.total,"
	    " delivered = EXCLUDED.delivered, deferred = EXCLUDED.deferred,"
	    " failed = EXCLUDED.failed, bounced = EXCLUDED.bounced,"
	    " confirmed = EXCLUDED.confirmed, receipt = EXCLUDED.receipt",
	/*
	 * queue_finish_settle_sql, skipping rows another transaction holds
	 * (never waiting, as above): one skipped stays unsettled until the
	 * next finish, and the report below leaves it out meanwhile, as it
	 * has no failed recipient: the report is that of the shared SQL.
	 */
	[S_FINISH_SETTLE] = "UPDATE issues SET reported = 2 WHERE id IN (SELECT id"
	    " FROM issues i WHERE i.state = 'done' AND i.kind = 'bulletin'"
	    " AND i.reported = 0 AND NOT EXISTS (SELECT 1 FROM recipients r"
	    " WHERE r.issue = i.id AND r.state = 'failed' AND r.replaced_by IS NULL)"
	    " FOR NO KEY UPDATE SKIP LOCKED)",
	[S_FINISH_REPORT] = "SELECT i.id FROM issues i WHERE i.state = 'done'"
	    " AND i.kind = 'bulletin' AND i.reported = 0 AND EXISTS (SELECT 1"
	    " FROM recipients r WHERE r.issue = i.id AND r.state = 'failed'"
	    " AND r.replaced_by IS NULL) ORDER BY i.id",
	/* per state: the count (schema 5) and how many deltas make it up */
	[S_COUNTS] = "SELECT state, SUM(delta), COUNT(*) FROM recipient_count_deltas"
	    " GROUP BY state",
	/*
	 * pg_fold: the deltas this statement's snapshot sees replaced by
	 * their sums, in one statement, hence one transaction: every
	 * snapshot sees the deltas before or after, and the sums are the
	 * same. Deltas committed meanwhile are not seen and stay, as do
	 * uncommitted ones (never waited for: an insert locks nothing a
	 * DELETE waits on). One fold at a time, the others skip (a
	 * transaction-scoped advisory lock, tried, never waited for), so
	 * that no fold waits for another's row locks either.
	 */
	[S_FOLD] = "WITH go AS (SELECT pg_try_advisory_xact_lock(" PG_FOLD_LOCK_SQL ") AS ok),"
	    " gone AS (DELETE FROM recipient_count_deltas WHERE (SELECT ok FROM go)"
	    "  RETURNING state, delta)"
	    " INSERT INTO recipient_count_deltas (state, delta)"
	    " SELECT state, SUM(delta) FROM gone GROUP BY state HAVING SUM(delta) <> 0",
	/* a reminder's bulletin, locked as distctl's changes lock an issue */
	[S_LOCK_ISSUE] = "SELECT id FROM issues WHERE id = $1 FOR NO KEY UPDATE",
	/*
	 * A reminder ($1, received $3) of bulletin $2: the bulletin's
	 * recipients (not replaced) with an address of the reminder's (ASCII
	 * case aside) are counted reminded and get a history row. Neither
	 * state nor next_attempt changes: no delta, no NOTIFY (schema 6).
	 */
	[S_REMINDED] = "WITH m AS (SELECT b.id, b.issue, b.attempts FROM recipients b"
	    " WHERE b.issue = $2 AND b.replaced_by IS NULL AND " PG_FOLD_ADDR("b.address")
	    " IN (SELECT " PG_FOLD_ADDR("r.address") " FROM recipients r WHERE r.issue = $1)),"
	    " u AS (UPDATE recipients x SET reminders = x.reminders + 1, last_reminded = $3"
	    "  FROM m WHERE x.id = m.id)"
	    " INSERT INTO attempts (recipient, issue, time, status, reply, attempt)"
	    " SELECT id, issue, $3, 'reminded', 'reminder issue ' || $1::bigint, attempts"
	    " FROM m",
};

static int
pg_prepare_all(struct queue *q, char *err, size_t errsz)
{
	for (int i = 0; i < S_COUNT; i++) {
		char name[16];
		snprintf(name, sizeof(name), "d%d", i);
		PGresult *res = PQprepare(q->pg, name, pg_sql[i], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return pg_fail(q, err, errsz, "prepare", res);
		PQclear(res);
	}
	return 0;
}

/* Runs prepared statement s; NULL on failure (the result is freed). */
static PGresult *
pg_run(struct queue *q, enum pg_stmt s, const struct pgp *p)
{
	char name[16];

	snprintf(name, sizeof(name), "d%d", (int)s);
	PGresult *res = PQexecPrepared(q->pg, name, p ? p->n : 0, p ? p->v : NULL,
	    p ? p->len : NULL, p ? p->fmt : NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Like pg_run, for statements whose result is not needed: 0 or -1. */
static int
pg_do(struct queue *q, enum pg_stmt s, const struct pgp *p)
{
	PGresult *res = pg_run(q, s, p);

	PQclear(res);
	return res ? 0 : -1;
}

static int64_t
col_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *
col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

/* "{1,2,3}": an id array parameter */
static char *
id_array(const int64_t *ids, size_t n)
{
	struct sbuf b = SBUF_INIT;

	sbuf_putc(&b, '{');
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&b, "%s%" PRId64, i ? "," : "", ids[i]);
	sbuf_putc(&b, '}');
	return sbuf_steal(&b);
}

/*
 * The count deltas folded (S_FOLD), in a transaction of its own, only
 * when none is open: a fold inside another transaction would hold the
 * deleted rows' locks to its end. Not an error when it fails: the
 * deltas stay and are summed all the same, exact; the next fold takes
 * them.
 */
static void
pg_fold(struct queue *q)
{
	if (PQtransactionStatus(q->pg) == PQTRANS_IDLE)
		PQclear(pg_run(q, S_FOLD, NULL));
}

/* ---- life ------------------------------------------------------------------ */

/*
 * Passwords never live in the `state` setting: libpq reads them from a
 * password file (passfile=, PGPASSFILE, ~/.pgpass) or the environment
 * (systemd LoadCredential= and a wrapper). Refused here and by the
 * configuration check, so that a config file never carries one.
 */
int
queue_pg_check_location(const char *location, char *err, size_t errsz)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(location, &perr);

	if (opts == NULL) {
		/* libpq's message may quote the string: only its first line */
		snprintf(err, errsz, "not a PostgreSQL connection string: %.*s",
		    perr ? (int)strcspn(perr, "\n") : 7, perr ? perr : "invalid");
		PQfreemem(perr);
		return -1;
	}
	int rc = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0]) {
			snprintf(err, errsz, "the PostgreSQL connection string carries a "
			    "password: put it in a password file (passfile=… or "
			    "PGPASSFILE, mode 0600), never in the configuration");
			rc = -1;
		}
	PQconninfoFree(opts);
	return rc;
}

void
queue_pg_location_name(const char *location, char *buf, size_t bufsz)
{
	PQconninfoOption *opts = PQconninfoParse(location, NULL);
	const char *db = NULL, *host = NULL;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "dbname") == 0 && o->val && o->val[0])
			db = o->val;
		else if (strcmp(o->keyword, "host") == 0 && o->val && o->val[0])
			host = o->val;
	/* the unparsed string is not shown either: it may carry anything */
	snprintf(buf, bufsz, "PostgreSQL database %s on %s", db ? db : "(default)",
	    opts == NULL ? "? (not a connection string)" : host ? host : "the local socket");
	PQconninfoFree(opts);
}

static void
pg_describe(struct queue *q)
{
	const char *db = PQdb(q->pg), *host = PQhost(q->pg);
	char name[512];

	snprintf(name, sizeof(name), "PostgreSQL queue %s on %s", db ? db : "?",
	    host && host[0] ? host : "the local socket");
	free(q->pg_name);
	q->pg_name = xstrdup(name);
}

/*
 * libpq prints what the server says outside a query's result (a WARNING,
 * the FATAL of a terminated session) on stderr by default. A FATAL while
 * idle is the server ending the session (shutdown, pg_terminate_backend):
 * its close follows, but may come after the loop's next query, so the
 * connection counts as lost from here (pg_check_file). Errors reach the
 * caller anyway; the rest goes to the log, first line only.
 */
static void
pg_notice(void *arg, const PGresult *res)
{
	struct queue *q = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) {
		q->pg_lost = true;
		return;
	}
	if (sev != NULL && strcmp(sev, "ERROR") == 0)
		return;
	log_warnx("PostgreSQL queue: %s: %.*s", sev ? sev : "notice",
	    msg ? (int)strcspn(msg, "\n") : 0, msg ? msg : "");
}

/*
 * Connects, with a connect_timeout of PG_CONNECT_TIMEOUT s unless the
 * connection string or PGCONNECT_TIMEOUT sets one: the daemon reconnects
 * from its event loop, where an unbounded wait for a server that does
 * not answer would stop everything else. (Given first, a later value
 * from the expanded string wins.)
 */
#define PG_CONNECT_TIMEOUT "5"

static int
pg_connect(struct queue *q, const char *location, char *err, size_t errsz)
{
	const char *keys[] = { "connect_timeout", "dbname", NULL };
	const char *vals[] = { PG_CONNECT_TIMEOUT, location, NULL };
	const char *env = getenv("PGCONNECT_TIMEOUT");
	int first = env != NULL && env[0] != '\0' ? 1 : 0;

	q->pg = PQconnectdbParams(keys + first, vals + first, 1);
	if (q->pg == NULL || PQstatus(q->pg) != CONNECTION_OK) {
		const char *m = q->pg ? PQerrorMessage(q->pg) : "out of memory";
		snprintf(err, errsz, "cannot connect to the PostgreSQL queue: %.*s",
		    (int)strcspn(m, "\n"), m);
		return -1;
	}
	/* kept by the connection across PQreset */
	PQsetNoticeReceiver(q->pg, pg_notice, q);
	return 0;
}

/* The channel the schema's triggers NOTIFY on (version 3). */
static int
pg_listen(struct queue *q, char *err, size_t errsz)
{
	return pg_exec(q, "LISTEN distd_work", err, errsz);
}

static int
pg_schema_version(struct queue *q, int *version, char *err, size_t errsz)
{
	/* looked up first: a failed SELECT would abort the migration's transaction */
	PGresult *res = PQexec(q->pg, "SELECT to_regclass('distd_schema') IS NOT NULL");

	*version = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(q, err, errsz, "schema version", res);
	bool exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!exists)
		return 0;
	res = PQexec(q->pg, "SELECT MAX(version) FROM distd_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(q, err, errsz, "schema version", res);
	*version = (int)col_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/* On failure the front calls pg_close, which undoes what was done. */
static int
pg_open(struct queue *q, const char *location, enum queue_mode mode, char *err,
    size_t errsz)
{
	int version;

	if (queue_pg_check_location(location, err, errsz) < 0)
		return -1;
	if (pg_connect(q, location, err, errsz) < 0)
		return -1;
	pg_describe(q);
	/* times are unix seconds in BIGINT columns: no time zone takes part */
	if (pg_exec(q, "SET client_min_messages = warning", err, errsz) < 0)
		return -1;
	if (mode != QUEUE_READONLY) {
		/* one node migrates, the others wait and then find it done */
		if (pg_exec(q, "BEGIN", err, errsz) < 0)
			return -1;
		char sql[160];
		snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
		    (long long)PG_MIGRATE_LOCK);
		if (pg_exec(q, sql, err, errsz) < 0)
			goto fail_tx;
	}
	if (pg_schema_version(q, &version, err, errsz) < 0)
		goto fail_tx;
	if (mode != QUEUE_CREATE && version == 0) {
		snprintf(err, errsz, "%s: no queue there yet (has distd run with this "
		    "configuration?)", pg_name(q));
		if (mode != QUEUE_READONLY)
			pg_rollback(q);
		return QUEUE_NONE;
	}
	if (mode == QUEUE_READONLY && version < PG_LATEST) {
		snprintf(err, errsz, "%s: the queue is from an older distd (schema %d, "
		    "this is %d): start distd once to upgrade it", pg_name(q), version,
		    PG_LATEST);
		goto fail_tx;
	}
	if (version > PG_LATEST) {
		snprintf(err, errsz, "%s: schema version %d is newer than this distd "
		    "understands (%d)", pg_name(q), version, PG_LATEST);
		goto fail_tx;
	}
	if (mode != QUEUE_READONLY) {
		if (version == 0 && pg_exec(q, "CREATE TABLE distd_schema (version INTEGER"
		    " NOT NULL); INSERT INTO distd_schema VALUES (0)", err, errsz) < 0)
			goto fail_tx;
		for (int v = version; v < PG_LATEST; v++) {
			char sql[80];
			snprintf(sql, sizeof(sql), "UPDATE distd_schema SET version = %d", v + 1);
			if (pg_exec(q, pg_migrations[v], err, errsz) < 0 ||
			    pg_exec(q, sql, err, errsz) < 0)
				goto fail_tx;
		}
		if (pg_exec(q, "COMMIT", err, errsz) < 0)
			return -1;
	}
	if (pg_prepare_all(q, err, errsz) < 0)
		return -1;
	/* distd hears of other writers; distctl only writes and leaves */
	return mode == QUEUE_CREATE ? pg_listen(q, err, errsz) : 0;

fail_tx:
	if (mode != QUEUE_READONLY)
		pg_rollback(q);
	return -1;
}

static void
pg_close(struct queue *q)
{
	if (q == NULL)
		return;
	PQfinish(q->pg);
	q->pg = NULL;
	free(q->pg_name);
	q->pg_name = NULL;
}

/*
 * One daemon per node and queue, as on SQLite, by a lock file: the
 * database knows nothing of it (a second daemon under one node name
 * would recover the first one's leases at its start). The file lives in
 * the runtime folder (systemd's RUNTIME_DIRECTORY, else /run/distd),
 * named by a hash of the connection string and the node's name: two
 * nodes of one queue may run on one machine, each under its own name.
 */
static int
pg_lock(const char *location, const char *node, int *fd, char *err, size_t errsz)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	char lock[4096], what[160];
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	for (const unsigned char *s = (const unsigned char *)location; *s; s++)
		h = (h ^ *s) * 1099511628211ULL;
	/* after a 0 byte, which no connection string holds: "ab"+"c" ≠ "a"+"bc" */
	if (node != NULL) {
		h = (h ^ 0) * 1099511628211ULL;
		for (const unsigned char *s = (const unsigned char *)node; *s; s++)
			h = (h ^ *s) * 1099511628211ULL;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = "/run/distd";
	snprintf(lock, sizeof(lock), "%.*s/queue-pg-%016" PRIx64 ".lock",
	    (int)strcspn(dir, ":"), dir, h);
	if (node != NULL)
		snprintf(what, sizeof(what), "node %.64s of the PostgreSQL queue", node);
	else
		snprintf(what, sizeof(what), "the PostgreSQL queue");
	return queue_lock_file(lock, what, fd, err, errsz);
}

/*
 * No file to lose: the server keeps the queue. A broken link is what
 * libpq learnt at the last op or drain (no round trip here: this runs
 * at every turn of the loop); the daemon then reconnects (1).
 */
static int
pg_check_file(struct queue *q, char *err, size_t errsz)
{
	if (q->pg != NULL && PQstatus(q->pg) == CONNECTION_OK && !q->pg_lost)
		return 0;
	const char *m = q->pg == NULL ? "" : PQstatus(q->pg) == CONNECTION_OK ?
	    "the server ended the session" : PQerrorMessage(q->pg);
	snprintf(err, errsz, "%s: the connection is lost: %.*s", pg_name(q),
	    (int)strcspn(m, "\n"), m[0] ? m : "no connection");
	return 1;
}

/* ---- wake-ups and connection ----------------------------------------------- */

static int
pg_wake_fd(struct queue *q)
{
	return q->pg != NULL && PQstatus(q->pg) == CONNECTION_OK && !q->pg_lost ?
	    PQsocket(q->pg) : -1;
}

/*
 * libpq's socket is non-blocking: PQconsumeInput reads what is there and
 * returns. A failure (the server went away) marks the connection bad,
 * which pg_check_file reports.
 */
static bool
pg_wake_drain(struct queue *q)
{
	PGnotify *n;
	bool any = false;

	if (q->pg == NULL || PQstatus(q->pg) != CONNECTION_OK || q->pg_lost)
		return false;
	/*
	 * A server that goes away sends its FATAL (pg_notice marks the link
	 * lost) and closes; what is already there is read in a few rounds at
	 * most, without waiting for more.
	 */
	for (int i = 0; i < 4; i++) {
		if (PQconsumeInput(q->pg) == 0)
			return false;
		struct pollfd p = { .fd = PQsocket(q->pg), .events = POLLIN };
		if (poll(&p, 1, 0) != 1)
			break;
	}
	while ((n = PQnotifies(q->pg)) != NULL) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

/*
 * PQreset: the same parameters (connect_timeout included), a new
 * session, so the session's state comes back by hand: the setting, the
 * prepared statements and the LISTEN. The schema is not looked at again:
 * it was current at open, and only a newer distd migrates.
 */
static int
pg_reconnect(struct queue *q, char *err, size_t errsz)
{
	if (q->pg == NULL) {
		snprintf(err, errsz, "%s: never connected", pg_name(q));
		return -1;
	}
	PQreset(q->pg);
	q->pg_lost = false;
	if (PQstatus(q->pg) != CONNECTION_OK) {
		const char *m = PQerrorMessage(q->pg);
		snprintf(err, errsz, "%s: cannot connect: %.*s", pg_name(q),
		    (int)strcspn(m, "\n"), m);
		return -1;
	}
	if (pg_exec(q, "SET client_min_messages = warning", err, errsz) < 0 ||
	    pg_prepare_all(q, err, errsz) < 0 || pg_listen(q, err, errsz) < 0)
		return -1;
	return 0;
}

static void
pg_release_memory(struct queue *q)
{
	(void)q;	/* the server's cache is the server's */
}

static int
pg_probe_write(struct queue *q, char *err, size_t errsz)
{
	return pg_exec(q, "BEGIN; INSERT INTO alerts (kind, text, since, last)"
	    " VALUES ('write-probe', '', 0, 0) ON CONFLICT (kind) DO NOTHING;"
	    " DELETE FROM alerts WHERE kind = 'write-probe'; COMMIT", err, errsz) < 0 ?
	    (pg_rollback(q), -1) : 0;
}

/* ---- intake ---------------------------------------------------------------- */

/*
 * Ids come from a sequence: a reservation writes nothing that a crash
 * could leave, and two nodes never get the same id. An id reserved and
 * given back is a gap, as its Message-ID never left the machine.
 */
static int
pg_reserve_id(struct queue *q, int64_t *id, char *err, size_t errsz)
{
	PGresult *res = pg_run(q, S_RESERVE, NULL);

	*id = 0;
	if (res == NULL)
		return pg_fail(q, err, errsz, "reserve", NULL);
	*id = col_int(res, 0, 0);
	PQclear(res);
	return 0;
}

static void
pg_unreserve_id(struct queue *q, int64_t id)
{
	(void)q;
	(void)id;
}

static int64_t
pg_find_id(struct queue *q, enum pg_stmt s, const char *text)
{
	struct pgp p = { 0 };
	int64_t id = 0;

	p_text(&p, text);
	PGresult *res = pg_run(q, s, &p);
	if (res && PQntuples(res) > 0)
		id = col_int(res, 0, 0);
	PQclear(res);
	return id;
}

static int
pg_commit_issue(struct queue *q, int64_t id, const char *message_id,
    const struct queue_issue_in *in, const struct queue_recipient_in *r, size_t n,
    const char *message, size_t len, int64_t *dup_of, char *err, size_t errsz)
{
	struct pgp p = { 0 };
	int64_t original = 0;
	PGresult *res;

	*dup_of = 0;
	if (pg_exec(q, "BEGIN", err, errsz) < 0)
		return -1;
	p_text(&p, in->sha256);
	if (pg_do(q, S_XLOCK, &p) < 0)
		goto sqlfail;
	if (in->kind == QUEUE_KIND_BULLETIN)
		original = pg_find_id(q, S_FIND_ORIGINAL, in->sha256);
	/*
	 * A reminder changes its bulletin's recipients: the bulletin's row
	 * first, as every change of an issue's recipients takes it (a node
	 * recording the bulletin's results waits, or is waited for, there).
	 */
	if (in->kind == QUEUE_KIND_REMINDER && in->notice_for) {
		p.n = 0;
		p_int(&p, in->notice_for);
		if (pg_do(q, S_LOCK_ISSUE, &p) < 0)
			goto sqlfail;
	}

	/* a duplicate keeps neither message nor Message-ID: it is never sent */
	p.n = 0;
	p_int(&p, id);
	p_text(&p, queue_kind_name(in->kind));
	p_text(&p, in->sha256);
	p_text(&p, in->source);
	p_text(&p, in->title);
	p_opt(&p, in->issue_no, -1);
	p_opt(&p, in->total_issue_no, -1);
	p_text(&p, in->issuer);
	p_text(&p, in->date);
	p_text(&p, in->urgency);
	p_text(&p, in->subject);
	p_text(&p, original ? "" : message_id);
	p_int(&p, in->priority);
	p_text(&p, original ? "done" : in->hold_reason ? "held" : "active");
	p_text(&p, original ? "duplicate content" : in->hold_reason);
	p_opt(&p, original, 0);
	p_opt(&p, in->report_for, 0);
	p_int(&p, in->received);
	p_opt(&p, original ? in->received : 0, 0);
	p_text(&p, original ? NULL : in->text);
	p_text(&p, original ? NULL : in->unresolved);
	p_opt(&p, in->notice_for, 0);
	p_int(&p, !original && in->hold_reason != NULL);
	if (original)
		p_text(&p, NULL);
	else
		p_bin(&p, message, len);
	res = pg_run(q, S_INSERT_ISSUE, &p);
	if (res == NULL) {
		const char *m = PQerrorMessage(q->pg);
		if (strstr(m, "issues_pkey") != NULL) {
			snprintf(err, errsz, "%s: issue id %lld was taken by another writer",
			    pg_name(q), (long long)id);
			pg_rollback(q);
			return -1;
		}
		goto sqlfail;
	}
	bool inserted = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (!inserted) {
		/* one notice per key: the unique index said it exists */
		*dup_of = pg_find_id(q, S_FIND_NOTICE, in->sha256);
		pg_rollback(q);
		return 0;
	}
	if (in->kind == QUEUE_KIND_BULLETIN) {
		/* the source's identity, committed with the issue: see queue_source_pending */
		p.n = 0;
		p_int(&p, id);
		p_text(&p, in->sha256);
		p_text(&p, in->source);
		if (pg_do(q, S_INSERT_SOURCE, &p) < 0)
			goto sqlfail;
	}
	for (size_t i = 0; !original && i < in->n_attachments; i++) {
		/* kept so that a held issue can be rendered again on release */
		p.n = 0;
		p_int(&p, id);
		p_text(&p, in->attachments[i].name);
		p_bin(&p, in->attachments[i].data, in->attachments[i].len);
		if (pg_do(q, S_INSERT_ATTACHMENT, &p) < 0)
			goto sqlfail;
	}
	if (original) {
		*dup_of = original;
		return pg_exec(q, "COMMIT", err, errsz) < 0 ? (pg_rollback(q), -1) : 0;
	}
	for (size_t i = 0; i < n; i++) {
		p.n = 0;
		p_int(&p, id);
		p_int(&p, r[i].tier);
		p_text(&p, r[i].tier_keyword);
		p_text(&p, r[i].header);
		p_text(&p, r[i].unit);
		p_text(&p, r[i].via);
		p_text(&p, r[i].name);
		p_text(&p, r[i].display);
		p_text(&p, r[i].address);
		p_text(&p, in->hold_reason ? "held" : "queued");
		p_int(&p, in->received);
		p_int(&p, r[i].receipt ? 1 : 0);
		if (pg_do(q, S_INSERT_RECIPIENT, &p) < 0)
			goto sqlfail;
	}
	if (in->report_for) {
		p.n = 0;
		p_int(&p, in->report_for);
		if (pg_do(q, S_MARK_REPORTED, &p) < 0)
			goto sqlfail;
	}
	/* in the same transaction: the reminder and its history stand or fall together */
	if (in->kind == QUEUE_KIND_REMINDER && in->notice_for) {
		p.n = 0;
		p_int(&p, id);
		p_int(&p, in->notice_for);
		p_int(&p, in->received);
		if (pg_do(q, S_REMINDED, &p) < 0)
			goto sqlfail;
	}
	if (pg_exec(q, "COMMIT", err, errsz) < 0) {
		pg_rollback(q);
		return -1;
	}
	/* a delta per recipient, each inserted by a statement of its own:
	 * folded at once rather than left to the next record or count */
	pg_fold(q);
	return 0;

sqlfail:
	pg_fail(q, err, errsz, "enqueue", NULL);
	pg_rollback(q);
	return -1;
}

static int
pg_source_pending(struct queue *q, const char *sha256, const char *source,
    int64_t *id, char *err, size_t errsz)
{
	struct pgp p = { 0 };

	*id = 0;
	p_text(&p, sha256);
	p_text(&p, source);
	PGresult *res = pg_run(q, S_SOURCE_PENDING, &p);
	if (res == NULL)
		return pg_fail(q, err, errsz, "source lookup", NULL);
	if (PQntuples(res) > 0)
		*id = col_int(res, 0, 0);
	PQclear(res);
	return *id != 0 ? 1 : 0;
}

static int
pg_source_archived(struct queue *q, const char *sha256, const char *source,
    const char *where, char *err, size_t errsz)
{
	struct pgp p = { 0 };

	p_text(&p, where);
	p_text(&p, sha256);
	p_text(&p, source);
	return pg_do(q, S_SOURCE_ARCHIVED, &p) < 0 ?
	    pg_fail(q, err, errsz, "archived", NULL) : 0;
}

/* ---- delivery -------------------------------------------------------------- */

/*
 * At start: this node's own `sending` rows (it died with them: the lock
 * file says no other daemon is this node here, queue_join that none is
 * elsewhere), rows of no node (taken before version 2, or by a handle
 * that did not join) and other nodes' expired leases, back to queued,
 * flagged. A live node's leases stay its own. Rows another transaction
 * holds are skipped, not waited for: their holder is alive.
 */
static int
pg_recover(struct queue *q, int *count, char *err, size_t errsz)
{
	const char *v[1] = { q->node };
	PGresult *res = PQexecParams(q->pg, "WITH x AS (SELECT id FROM recipients"
	    " WHERE state = 'sending' AND (node IS NULL OR node = $1::text"
	    " OR lease_until < " PG_NOW ") ORDER BY id FOR UPDATE SKIP LOCKED)"
	    " UPDATE recipients r SET state = 'queued', possible_duplicate = 1,"
	    " node = NULL, lease_until = NULL FROM x WHERE r.id = x.id",
	    1, NULL, v, NULL, NULL, 0);

	*count = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pg_fail(q, err, errsz, "recover", res);
	*count = atoi(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

/*
 * One transaction: the due rows locked in delivery order (rows another
 * take holds are skipped), those that fit into batches marked sending,
 * commit. The lifetime's start is read per batch, as on SQLite.
 */
static int
pg_take(struct queue *q, int64_t now, size_t max_batches, size_t max_rcpt,
    struct queue_batch **batches, size_t *n, char *err, size_t errsz)
{
	struct queue_batch *cur = NULL;
	struct pgp p = { 0 };
	PGresult *rows = NULL;
	int64_t *ids = NULL;
	size_t nids = 0;

	*n = 0;
	if (pg_exec(q, "BEGIN", err, errsz) < 0)
		return -1;
	p_int(&p, now);
	p_int(&p, (int64_t)(max_batches * max_rcpt));
	p_int(&p, QUEUE_GROUP_GRACE);
	rows = pg_run(q, S_TAKE, &p);
	if (rows == NULL)
		goto sqlfail;
	int nrows = PQntuples(rows);
	ids = xreallocarray(NULL, (size_t)nrows + 1, sizeof(*ids));
	for (int k = 0; k < nrows; k++) {
		int64_t issue = col_int(rows, k, 1);
		if (cur != NULL && cur->issue == issue && cur->n == max_rcpt) {
			/* the same issue's next batch shares its message and start */
			if (*n == max_batches)
				break;
			struct queue_batch *prev = cur;
			cur = queue_batch_new(issue, prev->received, max_rcpt);
			cur->message = queue_message_share(prev->message);
			cur->len = prev->len;
			batches[(*n)++] = cur;
		} else if (cur == NULL || cur->issue != issue) {
			if (*n == max_batches)
				break;
			cur = queue_batch_new(issue, now, max_rcpt);
			batches[(*n)++] = cur;
			struct pgp m = { 0 };
			p_int(&m, issue);
			/* binary results: the message bytes as stored */
			char name[16];
			snprintf(name, sizeof(name), "d%d", (int)S_TAKE_LIFETIME);
			PGresult *msg = PQexecPrepared(q->pg, name, m.n, m.v, m.len, m.fmt, 1);
			if (PQresultStatus(msg) != PGRES_TUPLES_OK || PQntuples(msg) != 1) {
				pg_fail(q, err, errsz, "take", msg);
				goto fail;
			}
			if (!PQgetisnull(msg, 0, 1)) {
				/* BIGINT in binary: 8 bytes, network order */
				const unsigned char *b = (const unsigned char *)PQgetvalue(msg, 0, 1);
				uint64_t v = 0;
				for (int i = 0; i < 8; i++)
					v = v << 8 | b[i];
				if ((int64_t)v < now)
					cur->received = (int64_t)v;
			}
			cur->len = (size_t)PQgetlength(msg, 0, 0);
			cur->message = queue_message_new(PQgetvalue(msg, 0, 0), cur->len);
			PQclear(msg);
		}
		ids[nids++] = col_int(rows, k, 0);
		cur->ids[cur->n] = col_int(rows, k, 0);
		cur->addresses[cur->n] = col_text(rows, k, 2);
		cur->attempts[cur->n] = (int)col_int(rows, k, 3);
		cur->tiers[cur->n] = col_text(rows, k, 4);
		cur->possible_duplicate[cur->n] = col_int(rows, k, 5) != 0;
		cur->n++;
	}
	PQclear(rows);
	rows = NULL;
	if (nids > 0) {
		char *arr = id_array(ids, nids);
		p.n = 0;
		p_text(&p, arr);
		p_text(&p, q->node);
		p_int(&p, q->lease);
		int rc = pg_do(q, S_MARK_SENDING, &p);
		free(arr);
		if (rc < 0)
			goto sqlfail;
	}
	free(ids);
	ids = NULL;
	if (pg_exec(q, "COMMIT", err, errsz) < 0)
		goto fail;
	return 0;

sqlfail:
	pg_fail(q, err, errsz, "take", NULL);
fail:
	pg_rollback(q);
	PQclear(rows);
	free(ids);
	for (size_t i = 0; i < *n; i++)
		queue_batch_free(batches[i]);
	*n = 0;
	return -1;
}

/*
 * A result is stored on the recipient only while the row is still this
 * node's (node = ours, whatever a cancel did to its state meanwhile).
 * One whose lease expired and was taken over is not overwritten: the
 * taking node may have sent it again already or be sending it now, and
 * what it recorded (or will) is the newer truth about the row. The late
 * attempt still goes into the history, flagged possible duplicate, as it
 * happened; the count of late results is returned. One case is not
 * told apart: a row taken over and taken again by this very node before
 * the late result arrives takes that result (both transfers happened;
 * the later one's result then finds the row no longer leased and is
 * counted late). Rare: the taking node sends them at once.
 */
static int
pg_record_many(struct queue *q, const struct queue_record_in *in, size_t n_in,
    char *err, size_t errsz)
{
	int64_t *issues = xreallocarray(NULL, n_in + 1, sizeof(*issues));
	struct pgp lp = { 0 };
	int late = 0;

	if (pg_exec(q, "BEGIN", err, errsz) < 0) {
		free(issues);
		return -1;
	}
	/*
	 * The issues first (S_LOCK_ISSUES), as distctl's changes lock them
	 * before their recipients: a cancel committed before the lock is
	 * granted is seen by the statements after it (each reads a snapshot
	 * of its own), one that comes later waits for this commit. Without
	 * the lock, a tier cancel committing meanwhile was read as not there
	 * and overwritten (`deferred`, retried).
	 */
	for (size_t k = 0; k < n_in; k++)
		issues[k] = in[k].batch->issue;
	char *arr = id_array(issues, n_in);
	free(issues);
	p_text(&lp, arr);
	int locked = pg_do(q, S_LOCK_ISSUES, &lp);
	free(arr);
	if (locked < 0)
		goto sqlfail;
	for (size_t k = 0; k < n_in; k++) {
		const struct queue_batch *b = in[k].batch;
		int64_t now = in[k].when;
		for (size_t i = 0; i < b->n; i++) {
			const struct smtp_verdict *v = &in[k].verdicts[i];
			/* decided by the front (delivery_policy_decide) */
			struct queue_attempt *a = &in[k].attempts[i];
			const char *class = smtp_class_name(v->class);
			const char *dsn = v->dsn[0] ? v->dsn : NULL;
			struct pgp p = { 0 };

			/* a cancel newer than the decision (committed before the lock):
			 * the policy says what stands */
			p_int(&p, b->ids[i]);
			PGresult *res = pg_run(q, S_CANCELLED, &p);
			if (res == NULL)
				goto sqlfail;
			if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
				delivery_policy_cancelled(a);
			PQclear(res);

			p.n = 0;
			p_text(&p, queue_state_name(a->state));
			p_int(&p, a->attempt);
			p_int(&p, a->next_attempt ? a->next_attempt : now);
			/* recorded as an attempt all the same: every transaction is
			 * in the history, the 452 included */
			p_opt(&p, v->code, 0);
			p_text(&p, dsn);
			p_text(&p, v->reply);
			p_text(&p, class);
			p_opt(&p, a->state == QUEUE_DELIVERED ? now : 0, 0);
			p_int(&p, b->ids[i]);
			p_int(&p, a->keeps_duplicate_flag);
			p_text(&p, q->node);
			res = pg_run(q, S_RECORD, &p);
			if (res == NULL)
				goto sqlfail;
			if (strcmp(PQcmdTuples(res), "0") == 0) {
				/* taken over meanwhile: the other node's outcome stands */
				a->possible_duplicate = true;
				late++;
			}
			PQclear(res);

			char duration[32];
			snprintf(duration, sizeof(duration), "%.6f", in[k].duration);
			p.n = 0;
			p_int(&p, b->ids[i]);
			p_int(&p, b->issue);
			p_int(&p, now);
			p_text(&p, in[k].relay);
			p_text(&p, queue_attempt_status_name(a->status));
			p_text(&p, class);
			p_opt(&p, v->code, 0);
			p_text(&p, dsn);
			p_text(&p, v->reply);
			p_text(&p, duration);
			p_int(&p, a->attempt);
			p_int(&p, a->possible_duplicate);
			if (pg_do(q, S_ATTEMPT, &p) < 0)
				goto sqlfail;
		}
	}
	if (pg_exec(q, "COMMIT", err, errsz) < 0) {
		pg_rollback(q);
		return -1;
	}
	/*
	 * The deltas folded where every node writes periodically: after the
	 * results of each loop turn (pg_finish runs only when an issue may
	 * have ended, so during a large issue never). A record adds two
	 * deltas per recipient (one statement each); the fold, one statement
	 * per record, keeps what pg_counts sums to about what the nodes'
	 * records in flight add.
	 */
	pg_fold(q);
	return late;

sqlfail:
	pg_fail(q, err, errsz, "record", NULL);
	pg_rollback(q);
	return -1;
}

static int
pg_release_batch(struct queue *q, const struct queue_batch *b, char *err, size_t errsz)
{
	struct pgp p = { 0 };
	char *arr = id_array(b->ids, b->n);

	p_text(&p, arr);
	p_text(&p, q->node);
	int rc = pg_do(q, S_RELEASE, &p);
	free(arr);
	return rc < 0 ? pg_fail(q, err, errsz, "release", NULL) : 0;
}

static int
pg_clock_step(struct queue *q, int64_t by, int64_t before, char *err, size_t errsz)
{
	char sql[300];

	snprintf(sql, sizeof(sql), "UPDATE recipients SET next_attempt = next_attempt + %lld"
	    " WHERE state IN ('queued','deferred') AND next_attempt < %lld", (long long)by,
	    (long long)before);
	return pg_exec(q, sql, err, errsz);
}

static int
pg_next_due(struct queue *q, int64_t *when)
{
	PGresult *res = pg_run(q, S_NEXT_DUE, NULL);
	int rc = 1;

	if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		*when = col_int(res, 0, 0);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/*
 * Finishes the active issues whose recipients are all done, in steps
 * (S_FINISH_*): a resend reopens an issue under the lock of its row, and
 * a finish deciding from a snapshot older than that resend's commit
 * closed the issue with a recipient queued again, never taken.
 */
static int
pg_finish(struct queue *q, int64_t now, int64_t **report, size_t *n,
    char *err, size_t errsz)
{
	struct pgp p = { 0 };
	PGresult *res;
	int64_t *ids = NULL;
	size_t nids = 0;
	char *arr;
	int rc;

	*report = NULL;
	*n = 0;
	if (pg_exec(q, "BEGIN", err, errsz) < 0)
		return -1;
	if ((res = pg_run(q, S_FINISH_LOCK, NULL)) == NULL)
		goto sqlfail;
	if (PQntuples(res) > 0)
		ids = xreallocarray(NULL, (size_t)PQntuples(res), sizeof(*ids));
	for (int i = 0; i < PQntuples(res); i++)
		ids[nids++] = col_int(res, i, 0);
	PQclear(res);
	if (nids > 0) {
		arr = id_array(ids, nids);
		p_text(&p, arr);
		p_int(&p, now);
		res = pg_run(q, S_FINISH_DONE, &p);
		free(arr);
		if (res == NULL)
			goto sqlfail;
		nids = 0;
		for (int i = 0; i < PQntuples(res); i++)
			ids[nids++] = col_int(res, i, 0);
		PQclear(res);
	}
	if (nids > 0) {
		arr = id_array(ids, nids);
		p.n = 0;
		p_text(&p, arr);
		rc = pg_do(q, S_FINISH_TIERS, &p);
		free(arr);
		if (rc < 0)
			goto sqlfail;
	}
	free(ids);
	ids = NULL;
	/* settled once: see sqlite_finish */
	if (pg_do(q, S_FINISH_SETTLE, NULL) < 0)
		goto sqlfail;
	if ((res = pg_run(q, S_FINISH_REPORT, NULL)) == NULL)
		goto sqlfail;
	for (int i = 0; i < PQntuples(res); i++) {
		*report = xreallocarray(*report, *n + 1, sizeof(**report));
		(*report)[(*n)++] = col_int(res, i, 0);
	}
	PQclear(res);
	if (pg_exec(q, "COMMIT", err, errsz) < 0)
		goto fail;
	return 0;

sqlfail:
	pg_fail(q, err, errsz, "finish", NULL);
fail:
	pg_rollback(q);
	free(ids);
	free(*report);
	*report = NULL;
	*n = 0;
	return -1;
}

static int
pg_failures(struct queue *q, int64_t issue, struct queue_failure **f,
    size_t *n, char **title, long *issue_no)
{
	struct pgp p = { 0 };
	PGresult *res;

	*f = NULL;
	*n = 0;
	*title = NULL;
	*issue_no = -1;
	p_int(&p, issue);
	if ((res = pg_run(q, S_FAIL_ISSUE, &p)) == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		*title = col_text(res, 0, 0);
		if (!PQgetisnull(res, 0, 1))
			*issue_no = (long)col_int(res, 0, 1);
	}
	PQclear(res);
	if ((res = pg_run(q, S_FAIL_RCPT, &p)) == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		*f = xreallocarray(*f, *n + 1, sizeof(**f));
		struct queue_failure *x = &(*f)[(*n)++];
		x->tier = col_text(res, i, 0);
		x->name = col_text(res, i, 1);
		x->address = col_text(res, i, 2);
		x->reply = col_text(res, i, 3);
		x->attempts = (int)col_int(res, i, 4);
	}
	PQclear(res);
	return 0;
}

/* ---- relays, alerts, counts ------------------------------------------------ */

static int
pg_relay_get(struct queue *q, const char *relay, long *size, long *max_rcpt)
{
	struct pgp p = { 0 };
	int rc = 1;

	*size = -1;
	*max_rcpt = 0;
	p_text(&p, relay);
	PGresult *res = pg_run(q, S_RELAY_GET, &p);
	if (res && PQntuples(res) == 1) {
		if (!PQgetisnull(res, 0, 0))
			*size = (long)col_int(res, 0, 0);
		if (!PQgetisnull(res, 0, 1))
			*max_rcpt = (long)col_int(res, 0, 1);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

static int
pg_relay_set(struct queue *q, enum pg_stmt s, const char *relay, long v, int64_t now)
{
	struct pgp p = { 0 };

	p_text(&p, relay);
	p_int(&p, v);
	p_int(&p, now);
	return pg_do(q, s, &p);
}

static int
pg_relay_set_size(struct queue *q, const char *relay, long size, int64_t now)
{
	return pg_relay_set(q, S_RELAY_SIZE, relay, size, now);
}

static int
pg_relay_set_max_rcpt(struct queue *q, const char *relay, long max_rcpt, int64_t now)
{
	return pg_relay_set(q, S_RELAY_MAX_RCPT, relay, max_rcpt, now);
}

static int
pg_oldest_deferral(struct queue *q, int64_t *since, long *count)
{
	PGresult *res = pg_run(q, S_OLDEST_DEFERRAL, NULL);
	int rc = 1;

	*since = 0;
	*count = 0;
	if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		*since = col_int(res, 0, 0);
		*count = (long)col_int(res, 0, 1);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

static int
pg_alert(struct queue *q, const char *kind, const char *text, int64_t now)
{
	struct pgp p = { 0 };

	p_text(&p, kind);
	p_text(&p, text);
	p_int(&p, now);
	return pg_do(q, S_ALERT, &p);
}

static int
pg_clear_alert(struct queue *q, const char *kind)
{
	struct pgp p = { 0 };

	p_text(&p, kind);
	return pg_do(q, S_CLEAR_ALERT, &p);
}

static int
pg_notices_since(struct queue *q, int64_t since, long *count, int64_t *oldest)
{
	struct pgp p = { 0 };

	*count = 0;
	*oldest = 0;
	p_int(&p, since);
	PGresult *res = pg_run(q, S_NOTICES_SINCE, &p);
	if (res == NULL || PQntuples(res) != 1) {
		PQclear(res);
		return -1;
	}
	*count = (long)col_int(res, 0, 0);
	*oldest = col_int(res, 0, 1);
	PQclear(res);
	return 0;
}

/*
 * What is not replaced by a correction, per state: the sums of the
 * deltas the triggers keep (schema 5), whatever the history's size. More
 * deltas than PG_FOLD_ROWS are folded once read (the counts read are
 * exact either way), so that the next count sums few: a node folds
 * after each intake and record, but distctl's changes and writers of
 * other versions add deltas too. A read-only role or a standby cannot
 * fold: the counts stay exact, only as dear as the deltas are many.
 */
static int
pg_counts(struct queue *q, long counts[QUEUE_STATES])
{
	PGresult *res = pg_run(q, S_COUNTS, NULL);
	long rows = 0;

	memset(counts, 0, sizeof(long) * QUEUE_STATES);
	if (res == NULL)
		return -1;
	for (int r = 0; r < PQntuples(res); r++) {
		rows += (long)col_int(res, r, 2);
		for (int i = 0; i < QUEUE_STATES; i++)
			if (strcmp(PQgetvalue(res, r, 0), queue_state_names[i]) == 0)
				counts[i] = (long)col_int(res, r, 1);
	}
	PQclear(res);
	if (rows > PG_FOLD_ROWS)
		pg_fold(q);
	return 0;
}

/* At most this many bounced recipients are named in a notice, each line cut at ~LINE bytes. */
#define PG_BOUNCED_LINES 200
#define PG_BOUNCED_LINE 300

/*
 * s onto b without its line breaks and tabs, cut at a character boundary
 * with "…" when over max bytes (queue_sqlite.c's, so that both word a
 * notice alike).
 */
static void
put_cut(struct sbuf *b, const char *s, size_t max)
{
	size_t n = strlen(s);
	bool cut = n > max;

	if (cut)	/* s[n] must start a character: s[0..n) is whole ones */
		for (n = max; n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; n--)
			;
	for (size_t i = 0; i < n; i++)
		sbuf_putc(b, s[i] == '\r' || s[i] == '\n' || s[i] == '\t' ? ' ' : s[i]);
	if (cut)
		sbuf_puts(b, "…");
}

/*
 * The reason of a bounced notice: a line per bounced recipient (not
 * replaced) of issue, "TIER UNIT <ADDRESS>: STATUS REPLY", in tier order,
 * PG_BOUNCED_LINES at most and then how many more.
 */
static int
pg_bounced_lines(struct queue *q, int64_t issue, char **reason, char *err, size_t errsz)
{
	char id[24], lim[24];
	const char *v[] = { id, lim };
	struct sbuf b = SBUF_INIT, line = SBUF_INIT;

	snprintf(id, sizeof(id), "%lld", (long long)issue);
	snprintf(lim, sizeof(lim), "%d", PG_BOUNCED_LINES);
	PGresult *res = PQexecParams(q->pg, "SELECT tier_keyword, unit, address,"
	    " bounce_status, bounce_reply, COUNT(*) OVER () FROM recipients"
	    " WHERE issue = $1::bigint AND bounced IS NOT NULL AND replaced_by IS NULL"
	    " ORDER BY tier, id LIMIT $2::bigint", 2, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(q, err, errsz, "notices", res);
	for (int r = 0; r < PQntuples(res); r++) {
		bool status = !PQgetisnull(res, r, 3), reply = !PQgetisnull(res, r, 4);
		sbuf_printf(&line, "%s %s <%s>: %s%s%s", PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
		    status ? PQgetvalue(res, r, 3) : "", status && reply ? " " : "",
		    reply ? PQgetvalue(res, r, 4) : "");
		put_cut(&b, sbuf_str(&line), PG_BOUNCED_LINE);
		sbuf_putc(&b, '\n');
		sbuf_reset(&line);
	}
	sbuf_free(&line);
	long total = PQntuples(res) > 0 ? (long)col_int(res, 0, 5) : 0;
	if (total > PQntuples(res))
		sbuf_printf(&b, "… and %ld more\n", total - PQntuples(res));
	PQclear(res);
	*reason = sbuf_steal(&b);
	return 0;
}

/*
 * What needs a human and has no notice yet: the query of
 * sqlite_notices_due, whose keys are made in SQL so that the query and
 * the notices' unique keys agree.
 */
static int
pg_notices_due(struct queue *q, struct queue_notice_due **out, size_t *n,
    char *err, size_t errsz)
{
	static const char sql[] =
	    "SELECT 0, 'held:' || i.id, i.id, i.title, i.issue_no, i.source,"
	    "  i.hold_reason, NULL, 0 FROM issues i"
	    " WHERE i.kind = 'bulletin' AND i.state = 'held' AND i.held_on_arrival = 1"
	    " AND NOT EXISTS"
	    "  (SELECT 1 FROM issues n WHERE n.kind = 'notice' AND n.sha256 = 'held:' || i.id)"
	    " UNION ALL "
	    "SELECT 1, 'unresolved:' || i.id, i.id, i.title, i.issue_no, i.source,"
	    "  i.unresolved, NULL, 0 FROM issues i"
	    " WHERE i.kind = 'bulletin' AND i.unresolved IS NOT NULL"
	    "  AND i.state IN ('active', 'done') AND i.duplicate_of IS NULL AND NOT EXISTS"
	    "  (SELECT 1 FROM issues n WHERE n.kind = 'notice'"
	    "   AND n.sha256 = 'unresolved:' || i.id)"
	    " UNION ALL "
	    "SELECT 2, 'alert:' || a.kind || ':' || a.since, 0, NULL, NULL, NULL,"
	    "  a.text, a.kind, a.since FROM alerts a WHERE NOT EXISTS"
	    "  (SELECT 1 FROM issues n WHERE n.kind = 'notice'"
	    "   AND n.sha256 = 'alert:' || a.kind || ':' || a.since)"
	    " UNION ALL "
	    /*
	     * Bounces after acceptance: per bulletin, the history row of its
	     * newest bounce names the batch (recipients_bounced serves it);
	     * replaced rows count for the key, so that a correction does not
	     * lower it and notify again, but only a bulletin with a bounced
	     * row not replaced is due. Bulletins only: a notice to the admin
	     * that bounced must not make another notice.
	     */
	    "SELECT 3, 'bounced:' || i.id || ':' || b.last, i.id, i.title, i.issue_no,"
	    "  i.source, NULL, NULL, 0 FROM (SELECT issue, MAX(bounce_attempt) AS last"
	    "  FROM recipients WHERE bounced IS NOT NULL GROUP BY issue) b"
	    "  JOIN issues i ON i.id = b.issue"
	    " WHERE i.kind = 'bulletin' AND EXISTS (SELECT 1 FROM recipients r"
	    "  WHERE r.issue = i.id AND r.bounced IS NOT NULL AND r.replaced_by IS NULL)"
	    " AND NOT EXISTS (SELECT 1 FROM issues n WHERE n.kind = 'notice'"
	    "  AND n.sha256 = 'bounced:' || i.id || ':' || b.last)"
	    " ORDER BY 1, 3 LIMIT 1000";
	PGresult *res = PQexec(q->pg, sql);

	*out = NULL;
	*n = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(q, err, errsz, "notices", res);
	for (int r = 0; r < PQntuples(res); r++) {
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		struct queue_notice_due *x = &(*out)[(*n)++];
		memset(x, 0, sizeof(*x));
		x->cause = (enum queue_notice_cause)col_int(res, r, 0);
		x->key = col_text(res, r, 1);
		x->issue = col_int(res, r, 2);
		x->title = col_text(res, r, 3);
		x->issue_no = PQgetisnull(res, r, 4) ? -1 : (long)col_int(res, r, 4);
		x->source = col_text(res, r, 5);
		x->reason = col_text(res, r, 6);
		/* an alert's row; held and unresolved notices have none */
		if (x->cause == QUEUE_NOTICE_ALERT &&
		    queue_alert_kind_parse(PQgetvalue(res, r, 7), &x->alert_kind) < 0)
			x->alert_kind = QUEUE_ALERT_DEFERRED;	/* shown by its text */
		x->since = col_int(res, r, 8);
		if (x->cause == QUEUE_NOTICE_BOUNCED &&
		    pg_bounced_lines(q, x->issue, &x->reason, err, errsz) < 0) {
			PQclear(res);
			queue_notices_due_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
	}
	PQclear(res);
	return 0;
}

/*
 * The change stamp: the current snapshot (xmin:xmax:in-progress list)
 * hashed. Equal snapshots see the same committed transactions, so equal
 * stamps mean nothing changed, whoever wrote; own writes are in it too,
 * so own stays 0. It moves more often than SQLite's data_version (any
 * write in the database moves it): that only costs a recount.
 */
static int
pg_changes(struct queue *q, int64_t *own, int64_t *others)
{
	PGresult *res = PQexec(q->pg, "SELECT pg_current_snapshot()::text");
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	*own = 0;
	*others = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		PQclear(res);
		return -1;
	}
	for (const unsigned char *s = (const unsigned char *)PQgetvalue(res, 0, 0); *s; s++)
		h = (h ^ *s) * 1099511628211ULL;
	*others = (int64_t)(h >> 1);
	PQclear(res);
	return 0;
}

/* ---- several nodes --------------------------------------------------------- */

/*
 * Runs sql with text parameters v[0..n-1] (NULL for SQL NULL): the
 * statements of this section run once a heartbeat, not per recipient, so
 * they are not prepared. NULL on failure, with err set.
 */
static PGresult *
pg_params(struct queue *q, const char *what, const char *sql, int n,
    const char *const *v, char *err, size_t errsz)
{
	PGresult *res = PQexecParams(q->pg, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_fail(q, err, errsz, what, res);
		return NULL;
	}
	return res;
}

/* How long a silent node's row stays for distctl status once nothing is leased to it. */
#define PG_NODE_FORGET 86400

/* The nodes row: this process, started and heartbeating now. */
static int
pg_node_upsert(struct queue *q, char *err, size_t errsz)
{
	char host[256] = "", pid[24], lease[24];

	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "?");
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	snprintf(lease, sizeof(lease), "%ld", q->lease);
	const char *v[] = { q->node, host, pid, DISTD_VERSION, lease };
	PGresult *res = pg_params(q, "join", "INSERT INTO nodes (name, host, pid,"
	    " version, started, heartbeat, lease) VALUES ($1, $2, $3, $4, " PG_NOW ", "
	    PG_NOW ", $5) ON CONFLICT (name) DO UPDATE SET host = $2, pid = $3,"
	    " version = $4, started = " PG_NOW ", heartbeat = " PG_NOW ", lease = $5",
	    5, v, err, errsz);

	PQclear(res);
	return res ? 0 : -1;
}

/*
 * One transaction: a node of the same name that heartbeats from another
 * host within its lease is alive, and refused (recover would take its
 * leases); on this host the lock file already said that no such daemon
 * runs. Nodes silent for PG_NODE_FORGET with nothing leased are
 * forgotten.
 */
static int
pg_join(struct queue *q, char *err, size_t errsz)
{
	char host[256] = "";
	const char *v[] = { q->node };
	PGresult *res;

	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	if (pg_exec(q, "BEGIN", err, errsz) < 0)
		return -1;
	res = pg_params(q, "join", "SELECT host, pid, " PG_NOW " - heartbeat, lease"
	    " FROM nodes WHERE name = $1 FOR UPDATE", 1, v, err, errsz);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), host) != 0 &&
	    col_int(res, 0, 2) <= col_int(res, 0, 3)) {
		snprintf(err, errsz, "%s: node %s is alive on %s (PID %s, heartbeat %lld s "
		    "ago): each node needs its own name (the node setting)", pg_name(q),
		    q->node, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		    (long long)col_int(res, 0, 2));
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (pg_node_upsert(q, err, errsz) < 0)
		goto fail;
	char forget[160];
	snprintf(forget, sizeof(forget), "%d", PG_NODE_FORGET);
	const char *f[] = { forget };
	res = pg_params(q, "join", "DELETE FROM nodes WHERE heartbeat < " PG_NOW
	    " - $1::bigint AND NOT EXISTS (SELECT 1 FROM recipients r"
	    " WHERE r.state = 'sending' AND r.node = nodes.name)", 1, f, err, errsz);
	if (res == NULL)
		goto fail;
	PQclear(res);
	if (pg_exec(q, "COMMIT", err, errsz) < 0)
		goto fail;
	return 0;

fail:
	pg_rollback(q);
	return -1;
}

/*
 * Extends, then takes over. Rows another transaction holds are skipped
 * (FOR UPDATE SKIP LOCKED), so a heartbeat never waits and can be in no
 * deadlock (with another node's heartbeat or a distctl cancel): a row
 * of ours skipped now is extended at the next beat, two more before its
 * lease runs out; another node's row held by someone is being worked
 * on. A row whose lease its node extends concurrently is either
 * extended first (and then not expired) or taken first (and then no
 * longer that node's to extend).
 */
static int
pg_heartbeat(struct queue *q, struct queue_takeover **out, size_t *n, char *err,
    size_t errsz)
{
	char lease[24];
	PGresult *res;
	int total = 0;

	*out = NULL;
	*n = 0;
	if (q->node == NULL)
		return 0;	/* not joined: nothing is leased to us */
	snprintf(lease, sizeof(lease), "%ld", q->lease);
	const char *v[] = { q->node, lease };
	if (pg_exec(q, "BEGIN", err, errsz) < 0)
		return -1;
	res = pg_params(q, "heartbeat", "UPDATE nodes SET heartbeat = " PG_NOW
	    ", lease = $2 WHERE name = $1", 2, v, err, errsz);
	if (res == NULL)
		goto fail;
	/* forgotten meanwhile (silent for a day, a hand's DELETE): back in the list */
	bool gone = strcmp(PQcmdTuples(res), "0") == 0;
	PQclear(res);
	if (gone && pg_node_upsert(q, err, errsz) < 0)
		goto fail;
	res = pg_params(q, "heartbeat", "WITH x AS (SELECT id FROM recipients"
	    " WHERE state = 'sending' AND node = $1 FOR UPDATE SKIP LOCKED)"
	    " UPDATE recipients r SET lease_until = " PG_NOW " + $2::bigint"
	    " FROM x WHERE r.id = x.id", 2, v, err, errsz);
	if (res == NULL)
		goto fail;
	PQclear(res);
	res = pg_params(q, "takeover", "WITH x AS (SELECT id, node FROM recipients"
	    " WHERE state = 'sending' AND node <> $1 AND lease_until < " PG_NOW
	    " ORDER BY id FOR UPDATE SKIP LOCKED),"
	    " u AS (UPDATE recipients r SET state = 'queued', possible_duplicate = 1,"
	    " node = NULL, lease_until = NULL FROM x WHERE r.id = x.id RETURNING x.node)"
	    " SELECT node, COUNT(*) FROM u GROUP BY node ORDER BY node", 1, v, err, errsz);
	if (res == NULL)
		goto fail;
	if (pg_exec(q, "COMMIT", err, errsz) < 0) {
		PQclear(res);
		goto fail;
	}
	if (PQntuples(res) > 0) {
		*out = xcalloc((size_t)PQntuples(res), sizeof(**out));
		for (int r = 0; r < PQntuples(res); r++) {
			(*out)[r].node = col_text(res, r, 0);
			(*out)[r].count = (long)col_int(res, r, 1);
			total += (int)(*out)[r].count;
		}
		*n = (size_t)PQntuples(res);
	}
	PQclear(res);
	return total;

fail:
	pg_rollback(q);
	return -1;
}

static long
pg_heartbeat_interval(struct queue *q)
{
	if (q->node == NULL)
		return 0;
	return q->lease / 3 > 0 ? q->lease / 3 : 1;
}

static int
pg_view_nodes(struct queue *q, struct queue_view_node **out, size_t *n, char *err,
    size_t errsz)
{
	PGresult *res = pg_params(q, "nodes", "SELECT n.name, n.host, n.pid, n.version,"
	    " n.started, GREATEST(" PG_NOW " - n.heartbeat, 0), n.lease,"
	    " (SELECT COUNT(*) FROM recipients r WHERE r.state = 'sending'"
	    "  AND r.node = n.name), " PG_NOW " - n.heartbeat > n.lease"
	    " FROM nodes n ORDER BY n.name", 0, NULL, err, errsz);

	*out = NULL;
	*n = 0;
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0)
		*out = xcalloc((size_t)PQntuples(res), sizeof(**out));
	for (int r = 0; r < PQntuples(res); r++) {
		struct queue_view_node *x = &(*out)[r];
		x->name = col_text(res, r, 0);
		x->host = col_text(res, r, 1);
		x->pid = (long)col_int(res, r, 2);
		x->version = col_text(res, r, 3);
		x->started = col_int(res, r, 4);
		x->heartbeat_age = (long)col_int(res, r, 5);
		x->lease = (long)col_int(res, r, 6);
		x->sending = (long)col_int(res, r, 7);
		x->stale = strcmp(PQgetvalue(res, r, 8), "t") == 0;
	}
	*n = (size_t)PQntuples(res);
	PQclear(res);
	return 0;
}

/*
 * Built so far; every NULL op is listed by queue_backend_missing, and the
 * configuration check refuses this backend until there is none.
 */
const struct queue_backend queue_backend_pg = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.lock = pg_lock,
	.check_file = pg_check_file,
	.probe_write = pg_probe_write,
	.release_memory = pg_release_memory,
	.reserve_id = pg_reserve_id,
	.unreserve_id = pg_unreserve_id,
	.commit_issue = pg_commit_issue,
	.source_pending = pg_source_pending,
	.source_archived = pg_source_archived,
	.recover = pg_recover,
	.take = pg_take,
	.record_many = pg_record_many,
	.release_batch = pg_release_batch,
	.clock_step = pg_clock_step,
	.next_due = pg_next_due,
	.finish = pg_finish,
	.failures = pg_failures,
	.relay_get = pg_relay_get,
	.relay_set_size = pg_relay_set_size,
	.relay_set_max_rcpt = pg_relay_set_max_rcpt,
	.oldest_deferral = pg_oldest_deferral,
	.alert = pg_alert,
	.clear_alert = pg_clear_alert,
	.notices_due = pg_notices_due,
	.notices_since = pg_notices_since,
	.counts = pg_counts,
	.changes = pg_changes,
	.hold = queue_pg_hold,
	.release = queue_pg_release,
	.cancel = queue_pg_cancel,
	.retry = queue_pg_retry,
	.resend = queue_pg_resend,
	.resend_all = queue_pg_resend_all,
	.resend_to = queue_pg_resend_to,
	.has_recipient = queue_pg_has_recipient,
	.load_source = queue_pg_load_source,
	.reroute = queue_pg_reroute,
	.record_read = queue_pg_record_read,
	.purge_list = queue_pg_purge_list,
	.purge_delete = queue_pg_purge_delete,
	.view_status = queue_pg_view_status,
	.view_issue = queue_pg_view_issue,
	.view_attempts = queue_pg_view_attempts,
	/* wake-ups and connection */
	.wake_fd = pg_wake_fd,
	.wake_drain = pg_wake_drain,
	.reconnect = pg_reconnect,
	.join = pg_join,
	.heartbeat = pg_heartbeat,
	.heartbeat_interval = pg_heartbeat_interval,
	.view_nodes = pg_view_nodes,
	/* what comes back (queue_pg_ctl.c) */
	.feedback_apply = queue_pg_feedback_apply,
	.feedback_cursor = queue_pg_feedback_cursor,
	.feedback_cursor_set = queue_pg_feedback_cursor_set,
};
