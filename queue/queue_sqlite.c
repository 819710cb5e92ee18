/* The SQLite backend: schema and migrations, intake, delivery bookkeeping. */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backoff.h"
#include "sbuf.h"

#include "queue_backend.h"
#include "queue_private.h"
#include "queue_sqlite.h"
#include "xalloc.h"


/* Version 1. Later versions append a migration step to `migrations`. */
static const char schema_v1[] =
    "CREATE TABLE issues ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL DEFAULT 'bulletin',"
    "  sha256 TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  title TEXT, issue_no INTEGER, total_issue_no INTEGER,"
    "  issuer TEXT, date TEXT, urgency TEXT,"
    "  subject TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  message BLOB,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL CHECK (state IN ('active','held','done','cancelled')),"
    "  hold_reason TEXT,"
    "  duplicate_of INTEGER REFERENCES issues(id),"
    "  report_for INTEGER REFERENCES issues(id),"
    "  reported INTEGER NOT NULL DEFAULT 0,"
    "  received INTEGER NOT NULL,"
    "  finished INTEGER,"
    "  text TEXT"
    ");"
    "CREATE TABLE attachments ("
    "  issue INTEGER NOT NULL REFERENCES issues(id),"
    "  name TEXT NOT NULL,"
    "  data BLOB NOT NULL"
    ");"
    "CREATE INDEX attachments_issue ON attachments(issue);"
    "CREATE INDEX issues_sha256 ON issues(sha256);"
    "CREATE TABLE recipients ("
    "  id INTEGER PRIMARY KEY,"
    "  issue INTEGER NOT NULL REFERENCES issues(id),"
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
    "  next_attempt INTEGER NOT NULL,"
    "  last_code INTEGER, last_dsn TEXT, last_reply TEXT, last_class TEXT,"
    "  delivered INTEGER,"
    "  possible_duplicate INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX recipients_due ON recipients(state, next_attempt);"
    "CREATE INDEX recipients_issue ON recipients(issue);"
    "CREATE TABLE attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  recipient INTEGER NOT NULL REFERENCES recipients(id),"
    "  issue INTEGER NOT NULL REFERENCES issues(id),"
    "  time INTEGER NOT NULL,"
    "  relay TEXT,"
    "  status TEXT NOT NULL,"
    "  class TEXT,"
    "  code INTEGER, dsn TEXT, reply TEXT,"
    "  duration REAL,"
    "  attempt INTEGER NOT NULL,"
    "  possible_duplicate INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX attempts_issue ON attempts(issue);"
    "CREATE TABLE alerts ("
    "  kind TEXT PRIMARY KEY,"
    "  text TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  last INTEGER NOT NULL"
    ");";

/*
 * Version 2. sources: where each bulletin's source went, in a table of its
 * own because an issue row is large (text, message) and SQLite rewrites a
 * whole row on any update; archived is NULL while the source may still be
 * in the outbox ('' for issues queued before version 2). On issues: the
 * units that did not resolve of an issue sent anyway (on_unresolved =
 * "send"), whether distd held the issue when it arrived (an admin's own
 * `distctl hold` is not mailed back to them), and for admin notices the
 * issue they are about; a notice's sha256 column holds its key ("held:17"),
 * unique, so that one cause is notified once whatever fails between the
 * check and the insert.
 */
static const char schema_v2[] =
    "CREATE TABLE sources ("
    "  issue INTEGER PRIMARY KEY REFERENCES issues(id),"
    "  sha256 TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  archived TEXT"
    ");"
    "CREATE INDEX sources_pending ON sources(sha256, name) WHERE archived IS NULL;"
    "INSERT INTO sources (issue, sha256, name, archived)"
    "  SELECT id, sha256, source, '' FROM issues WHERE kind = 'bulletin';"
    "ALTER TABLE issues ADD COLUMN unresolved TEXT;"
    "ALTER TABLE issues ADD COLUMN notice_for INTEGER REFERENCES issues(id);"
    "ALTER TABLE issues ADD COLUMN held_on_arrival INTEGER NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX issues_notice_key ON issues(sha256) WHERE kind = 'notice';";

/*
 * Version 3: a recipient corrected with `distctl resend ID --to NEW --replace
 * OLD` points at the row that replaced it. A column rather than a state, so
 * that the old row keeps what really happened to it (failed, delivered).
 */
static const char schema_v3[] =
    "ALTER TABLE recipients ADD COLUMN replaced_by INTEGER REFERENCES recipients(id);";

/*
 * Version 4: what distd learnt about each relay ("host:port"): the SIZE
 * it announced in EHLO (0: none), so that an issue too big for it is
 * held at ingest, and how many recipients it took in one transaction
 * before answering 452 (NULL: no limit seen), so that later batches fit.
 * The index on attempts(recipient) serves the "deferred since" alert.
 */
static const char schema_v4[] =
    "CREATE TABLE relays ("
    "  relay TEXT PRIMARY KEY,"
    "  size INTEGER,"
    "  max_rcpt INTEGER,"
    "  updated INTEGER NOT NULL"
    ");"
    "CREATE INDEX attempts_recipient ON attempts(recipient);";

/*
 * Version 5: work proportional to what is active, never to the history.
 *
 * Counts: the final states (delivered, failed, cancelled) are the ones
 * that grow with the history, so recipient_counts keeps their totals
 * (recipients not replaced by a correction), by triggers: every writer —
 * delivery, distctl's steering, enqueueing — changes them in the same
 * statement, hence the same transaction, as the rows, so they can neither
 * drift nor be forgotten by a new code path. The other states are the
 * work in hand and are counted through recipients_due (state, …), which
 * costs what is active, not what is past. Counting every state by trigger
 * was tried: four counter updates per recipient (taken, recorded) cost a
 * third more CPU per delivery; this way a recipient costs one, when it
 * becomes final.
 *
 * recipients_pending yields an issue's due rows in delivery order (tier,
 * id) and issues_active the active issues in priority order, so that
 * queue_take walks the two without sorting; both are partial, so they hold
 * only what is still to do. issues_unsettled holds the finished bulletins
 * not yet examined for a failure report (reported = 0): queue_finish
 * marks those that need none (reported = 2) instead of walking every
 * finished issue's rows again at each completion. issues_held serves
 * distctl status: an issue row stores its state after the message, so a
 * scan of issues for state reads every message ever queued.
 */
static const char schema_v5[] =
    "CREATE TABLE recipient_counts ("
    "  state TEXT PRIMARY KEY,"
    "  n INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO recipient_counts (state, n) VALUES ('delivered', 0), ('failed', 0),"
    "  ('cancelled', 0);"
    "UPDATE recipient_counts SET n = (SELECT COUNT(*) FROM recipients r"
    "  WHERE r.state = recipient_counts.state AND r.replaced_by IS NULL);"
    "CREATE TRIGGER recipients_count_insert AFTER INSERT ON recipients"
    "  WHEN new.replaced_by IS NULL AND (new.state = 'delivered'"
    "  OR new.state = 'failed' OR new.state = 'cancelled')"
    "  BEGIN UPDATE recipient_counts SET n = n + 1 WHERE state = new.state; END;"
    "CREATE TRIGGER recipients_count_delete AFTER DELETE ON recipients"
    "  WHEN old.replaced_by IS NULL AND (old.state = 'delivered'"
    "  OR old.state = 'failed' OR old.state = 'cancelled')"
    "  BEGIN UPDATE recipient_counts SET n = n - 1 WHERE state = old.state; END;"
    "CREATE TRIGGER recipients_count_leave AFTER UPDATE OF state, replaced_by"
    "  ON recipients WHEN old.replaced_by IS NULL"
    "  AND (old.state = 'delivered'"
    "  OR old.state = 'failed' OR old.state = 'cancelled')"
    "  AND (new.state IS NOT old.state OR new.replaced_by IS NOT NULL)"
    "  BEGIN UPDATE recipient_counts SET n = n - 1 WHERE state = old.state; END;"
    "CREATE TRIGGER recipients_count_enter AFTER UPDATE OF state, replaced_by"
    "  ON recipients WHEN new.replaced_by IS NULL"
    "  AND (new.state = 'delivered'"
    "  OR new.state = 'failed' OR new.state = 'cancelled')"
    "  AND (new.state IS NOT old.state OR old.replaced_by IS NOT NULL)"
    "  BEGIN UPDATE recipient_counts SET n = n + 1 WHERE state = new.state; END;"
    "CREATE INDEX recipients_pending ON recipients(issue, tier, id)"
    "  WHERE state IN ('queued','deferred');"
    "CREATE INDEX issues_active ON issues(priority DESC, id) WHERE state = 'active';"
    "CREATE INDEX issues_unsettled ON issues(id)"
    "  WHERE state = 'done' AND kind = 'bulletin' AND reported = 0;"
    "CREATE INDEX issues_held ON issues(id) WHERE state = 'held';";

/*
 * Version 6: retention. issues_finished lists the finished issues by when
 * they finished, with the columns that say whether one stands alone (its
 * references), so that a retention pass walks this index and never the
 * issue rows, whose state and references are stored after the message.
 * The three partial indexes find the issues that refer to one (a failure
 * report, a notice, a duplicate), which leave the queue together with it.
 */
static const char schema_v6[] =
    "CREATE INDEX issues_finished ON issues(finished, id, state, duplicate_of,"
    "  report_for, notice_for) WHERE state IN ('done','cancelled');"
    "CREATE INDEX issues_report_for ON issues(report_for) WHERE report_for IS NOT NULL;"
    "CREATE INDEX issues_notice_for ON issues(notice_for) WHERE notice_for IS NOT NULL;"
    "CREATE INDEX issues_duplicate_of ON issues(duplicate_of)"
    "  WHERE duplicate_of IS NOT NULL;";

/*
 * Version 7: queue_take reads when an issue was first tried since its
 * last resend (the start of its lifetime) at every take; with only
 * attempts(issue) that walked every attempt of the issue, 6 ms per take
 * at 10 000 attempts, O(N²) over a large issue, as soon as each take is
 * one batch (a job ready behind each running one). attempts(issue,
 * status, time) answers it with a few seeks and serves every query by
 * issue that attempts_issue served, so it replaces it: an attempt still
 * costs two index entries. IF [NOT] EXISTS: safe to run again.
 */
static const char schema_v7[] =
    "CREATE INDEX IF NOT EXISTS attempts_issue_status ON attempts(issue, status, time);"
    "DROP INDEX IF EXISTS attempts_issue;";

/*
 * Version 8: the per-tier totals of finished issues, written once when an
 * issue finishes, so that distctl status shows its recent issues without
 * counting their recipients again each time (2 ms per 1 000-recipient
 * issue, ten issues a call). Kept only while the issue is done: an issue
 * that is reopened (resend, retry) or deleted loses its rows, and is
 * counted live until it finishes again. Not a trigger on recipients, so
 * the delivery path pays nothing for it.
 */
static const char schema_v8[] =
    "CREATE TABLE IF NOT EXISTS issue_tiers (issue INTEGER NOT NULL, tier INTEGER NOT NULL,"
    "  tier_keyword TEXT NOT NULL, total INTEGER NOT NULL, delivered INTEGER NOT NULL,"
    "  deferred INTEGER NOT NULL, failed INTEGER NOT NULL,"
    "  PRIMARY KEY (issue, tier, tier_keyword)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS issue_tiers_reopened AFTER UPDATE OF state ON issues"
    "  WHEN OLD.state = 'done' AND NEW.state != 'done'"
    "  BEGIN DELETE FROM issue_tiers WHERE issue = OLD.id; END;"
    "CREATE TRIGGER IF NOT EXISTS issue_tiers_deleted AFTER DELETE ON issues"
    "  BEGIN DELETE FROM issue_tiers WHERE issue = OLD.id; END;"
    "INSERT OR REPLACE INTO issue_tiers (issue, tier, tier_keyword, total, delivered,"
    "  deferred, failed) SELECT r.issue, r.tier, r.tier_keyword, COUNT(*),"
    "  SUM(r.state = 'delivered'), SUM(r.state = 'deferred'), SUM(r.state = 'failed')"
    "  FROM recipients r JOIN issues i ON i.id = r.issue"
    "  WHERE i.state = 'done' AND r.replaced_by IS NULL"
    "  GROUP BY r.issue, r.tier, r.tier_keyword;";

/*
 * Version 9: what comes back after the relay accepted (issue 17). A
 * bounce and a confirmation of receipt are columns beside a recipient's
 * state, not states: the state stays what the transfer did (the relay did
 * take it), and a bounce that comes back days later must not rewrite the
 * history of the transfer. receipt: the recipient was asked to confirm;
 * reminders and last_reminded count `distctl remind`. issue_tiers keeps
 * the three new totals of a finished issue (before this version nothing
 * had bounced or been confirmed or asked, so 0 is right for the rows
 * already there; they are counted again all the same, as version 8
 * counted the others, so that a step run again is right too). The
 * columns are in added_columns below, so that the
 * step is safe to run again like 7 and 8. feedback holds the key (the
 * message's hash) of every feedback message applied, so that one read
 * again (a moved cursor, a new UIDVALIDITY) is applied once;
 * feedback_cursors the IMAP cursor of each mailbox, moved in the
 * transaction that applies the message. bounce_attempt is the history
 * row (attempts.id) of the bounce that set `bounced`: it only grows, so
 * the bounced notice's key (its highest per issue) changes with every new
 * bounce, whichever recipient it is (the highest bounced recipient id
 * would not: a lower id bouncing later left it as it was). The partial
 * index recipients_bounced holds only bounced rows and covers the
 * notice's look-up, which so costs the bounces, never the history.
 */
static const char schema_v9[] =
    "CREATE TABLE IF NOT EXISTS feedback ("
    "  key TEXT PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  issue INTEGER,"
    "  kind TEXT NOT NULL,"
    "  matched INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS feedback_cursors ("
    "  name TEXT PRIMARY KEY,"
    "  uidvalidity INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS recipients_bounced ON recipients(issue, bounce_attempt,"
    "  bounced)"
    "  WHERE bounced IS NOT NULL;"
    "INSERT OR REPLACE INTO issue_tiers (issue, tier, tier_keyword, total, delivered,"
    "  deferred, failed, bounced, confirmed, receipt)"
    "  SELECT issue, tier, tier_keyword, COUNT(*) " QUEUE_TIER_SUMS " FROM recipients"
    "  WHERE issue IN (SELECT id FROM issues WHERE state = 'done')"
    "  AND replaced_by IS NULL GROUP BY issue, tier, tier_keyword;";

/*
 * Columns a step adds, each added before the step's SQL runs and only when
 * the table lacks it: ALTER TABLE … ADD COLUMN has no IF NOT EXISTS, and a
 * step must be safe to run again (a queue set back to an older version by
 * hand, as the upgrade tests do).
 */
static const struct {
	int version;
	const char *table, *column, *decl;
} added_columns[] = {
	{ 9, "recipients", "bounced", "INTEGER" },
	{ 9, "recipients", "bounce_status", "TEXT" },
	{ 9, "recipients", "bounce_reply", "TEXT" },
	{ 9, "recipients", "receipt", "INTEGER NOT NULL DEFAULT 0" },
	{ 9, "recipients", "confirmed", "INTEGER" },
	{ 9, "recipients", "confirmed_by", "TEXT" },
	{ 9, "recipients", "reminders", "INTEGER NOT NULL DEFAULT 0" },
	{ 9, "recipients", "last_reminded", "INTEGER" },
	{ 9, "recipients", "bounce_attempt", "INTEGER" },
	{ 9, "issue_tiers", "bounced", "INTEGER NOT NULL DEFAULT 0" },
	{ 9, "issue_tiers", "confirmed", "INTEGER NOT NULL DEFAULT 0" },
	{ 9, "issue_tiers", "receipt", "INTEGER NOT NULL DEFAULT 0" },
};

static const char *const migrations[] = {
	schema_v1, schema_v2, schema_v3, schema_v4, schema_v5, schema_v6, schema_v7,
	schema_v8, schema_v9,
};

/* The columns version `version` adds that are not there yet. 0 or -1 with err. */
static int
add_columns(struct queue *q, int version, char *err, size_t errsz)
{
	for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
		sqlite3_stmt *st;
		char sql[256];
		bool have;

		if (added_columns[i].version != version)
			continue;
		st = queue_prepare(q, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
		if (st == NULL)
			return queue_fail(q, err, errsz, "migrate");
		queue_bind_text(st, 1, added_columns[i].table);
		queue_bind_text(st, 2, added_columns[i].column);
		have = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s",
		    added_columns[i].table, added_columns[i].column, added_columns[i].decl);
		if (!have && queue_exec(q, sql, err, errsz) < 0)
			return -1;
	}
	return 0;
}

int
queue_schema_latest(void)
{
	return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

int
queue_fail(struct queue *q, char *err, size_t errsz, const char *what)
{
	snprintf(err, errsz, "%s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
	return -1;
}

int
queue_exec(struct queue *q, const char *sql, char *err, size_t errsz)
{
	char *msg = NULL;

	if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", q->path, msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

void
queue_rollback(struct queue *q)
{
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *
queue_prepare(struct queue *q, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

void
queue_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void
bind_long(sqlite3_stmt *st, int i, long v)
{
	if (v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

void
queue_bind_recipient(sqlite3_stmt *st, int64_t issue, const struct queue_recipient_in *r)
{
	sqlite3_bind_int64(st, 1, issue);
	sqlite3_bind_int(st, 2, r->tier);
	queue_bind_text(st, 3, r->tier_keyword);
	queue_bind_text(st, 4, r->header);
	queue_bind_text(st, 5, r->unit);
	queue_bind_text(st, 6, r->via);
	queue_bind_text(st, 7, r->name);
	queue_bind_text(st, 8, r->display);
	queue_bind_text(st, 9, r->address);
}

char *
queue_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? xstrdup((const char *)s) : NULL;
}

int
queue_bad_word(sqlite3_stmt *st, int i, const char *column, char *err, size_t errsz)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	if (s == NULL)
		snprintf(err, errsz, "reading the queue: %s is NULL", column);
	else
		snprintf(err, errsz, "reading the queue: %s has an unknown value '%s'", column,
		    (const char *)s);
	return -1;
}

/*
 * The queue is group-writable: admins in distd's group run distctl as
 * themselves and change the queue directly (hold, retry, resend …), as
 * distctl did for root, rather than through the daemon, so that steering
 * works the same whether distd runs or not. So queue.db is 0660 whatever
 * the umask; SQLite creates -wal and -shm with the database file's mode,
 * and the state directory (tmpfiles: 2770 distd:distd) gives new files
 * its group. Files of ours with a narrower mode (an older install) are
 * widened once here. Returns 0, or -1 with err.
 */
static int
group_writable(const char *path, char *err, size_t errsz)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[4096];
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0660);
	if (fd >= 0) {
		int rc = fchmod(fd, 0660);
		close(fd);
		if (rc < 0) {
			snprintf(err, errsz, "%s: chmod: %s", path, strerror(errno));
			return -1;
		}
	} else if (errno != EEXIST) {
		snprintf(err, errsz, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    (st.st_mode & 0660) != 0660)
			chmod(p, (st.st_mode & 07777) | 0660);
	}
	return 0;
}


/* On failure the front calls sqlite_close, which undoes what was done. */
static int
sqlite_open(struct queue *q, const char *path, enum queue_mode mode, char *err,
    size_t errsz)
{
	int version = 0, flags = SQLITE_OPEN_NOMUTEX;
	sqlite3_stmt *st;

	q->path = xstrdup(path);
	if (mode == QUEUE_CREATE && group_writable(path, err, errsz) < 0) {
		return -1;
	}
	flags |= mode == QUEUE_READONLY ? SQLITE_OPEN_READONLY :
	    mode == QUEUE_EXISTING ? SQLITE_OPEN_READWRITE :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
		queue_fail(q, err, errsz, "open");
		return -1;
	}
	sqlite3_busy_timeout(q->db, 5000);
	struct stat st_file;
	if (stat(path, &st_file) == 0) {
		q->dev = st_file.st_dev;
		q->ino = st_file.st_ino;
	}
	/* WAL lets distctl read while distd writes; FULL syncs every commit,
	 * because a committed row is a promise that a file may leave the outbox. */
	if (mode != QUEUE_READONLY && queue_exec(q, "PRAGMA journal_mode=WAL;"
	    " PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err, errsz) < 0) {
		return -1;
	}
	st = queue_prepare(q, "PRAGMA user_version");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (mode != QUEUE_CREATE && version == 0) {
		snprintf(err, errsz, "%s: no queue there yet (has distd run with "
		    "this configuration?)", path);
		return QUEUE_NONE;
	}
	if (mode == QUEUE_READONLY && version < latest) {
		snprintf(err, errsz, "%s: the queue is from an older distd (schema %d, "
		    "this is %d): start distd once to upgrade it", path, version, latest);
		return -1;
	}
	if (version > latest) {
		snprintf(err, errsz, "%s: schema version %d is newer than this "
		    "distd understands (%d)", path, version, latest);
		return -1;
	}
	for (int v = version; mode != QUEUE_READONLY && v < latest; v++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d;", v + 1);
		if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0 ||
		    add_columns(q, v + 1, err, errsz) < 0 ||
		    queue_exec(q, migrations[v], err, errsz) < 0 ||
		    queue_exec(q, sql, err, errsz) < 0 ||
		    queue_exec(q, "COMMIT", err, errsz) < 0) {
			queue_rollback(q);
				return -1;
		}
	}
	return 0;
}

int
queue_lock_file(const char *lock, const char *what, int *fd, char *err, size_t errsz)
{
	char pid[32];
	ssize_t n;

	*fd = -1;
	int f = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	bool writable = f >= 0;
	/* left by a distd run as another user: flock works on a read-only file too */
	if (f < 0 && errno == EACCES)
		f = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0) {
		snprintf(err, errsz, "%s: cannot open the queue lock: %s", lock,
		    strerror(errno));
		return -1;
	}
	/*
	 * flock, not fcntl: the lock belongs to the open file, so no other
	 * close() in this process (SQLite closes descriptors of its own) can
	 * drop it, and the kernel drops it when distd dies however it dies.
	 */
	if (flock(f, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		n = pread(f, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			snprintf(err, errsz, "%s is in use by another distd (PID %s, "
			    "lock %s): only one daemon may run on a queue", what,
			    pid[0] ? pid : "unknown", lock);
		else
			snprintf(err, errsz, "%s: cannot lock: %s", lock, strerror(e));
		close(f);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (writable && (ftruncate(f, 0) < 0 || pwrite(f, pid, (size_t)n, 0) != n)) {
		/* the lock holds all the same; only the PID in messages is missing */
	}
	*fd = f;
	return 0;
}

/* One node per file: the node's name changes nothing. */
static int
sqlite_lock(const char *path, const char *node, int *fd, char *err, size_t errsz)
{
	char lock[4096];

	(void)node;
	snprintf(lock, sizeof(lock), "%s.lock", path);
	return queue_lock_file(lock, path, fd, err, errsz);
}

static int
sqlite_check_file(struct queue *q, char *err, size_t errsz)
{
	struct stat st;

	if (stat(q->path, &st) < 0) {
		snprintf(err, errsz, "%s: the queue file is gone (%s) while distd runs; "
		    "what is queued cannot be kept", q->path, strerror(errno));
		return -1;
	}
	if (st.st_dev != q->dev || st.st_ino != q->ino) {
		snprintf(err, errsz, "%s was replaced by another file while distd runs",
		    q->path);
		return -1;
	}
	return 0;
}

/*
 * Wake-ups and reconnecting: an embedded file has no other writer to
 * hear from but distctl, which wakes the daemon over the control socket,
 * and no connection to lose (a lost file is queue_check_file's -1).
 */
static int
sqlite_wake_fd(struct queue *q)
{
	(void)q;
	return -1;
}

static bool
sqlite_wake_drain(struct queue *q)
{
	(void)q;
	return false;
}

static int
sqlite_reconnect(struct queue *q, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s: the SQLite queue has no connection to restore", q->path);
	return -1;
}

static void
sqlite_close(struct queue *q)
{
	if (q == NULL)
		return;
	sqlite3_close(q->db);
	q->db = NULL;
	free(q->path);
	q->path = NULL;
}


/* ---- enqueue ------------------------------------------------------------- */

/* The first column of the first row of sql with text bound to ?1, or 0. */
static int64_t
id_where(struct queue *q, const char *sql, const char *text)
{
	sqlite3_stmt *st = queue_prepare(q, sql);
	int64_t id = 0;

	if (st == NULL)
		return 0;
	queue_bind_text(st, 1, text);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

static int64_t
find_original(struct queue *q, const char *sha256)
{
	return id_where(q, "SELECT id FROM issues WHERE sha256 = ? AND kind = 'bulletin'"
	    " AND duplicate_of IS NULL ORDER BY id LIMIT 1", sha256);
}

static int64_t
find_notice(struct queue *q, const char *key)
{
	return id_where(q, "SELECT id FROM issues WHERE kind = 'notice' AND sha256 = ?", key);
}

static bool
find_issue(struct queue *q, int64_t id)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT 1 FROM issues WHERE id = ?");
	bool found;

	if (st == NULL)
		return false;
	sqlite3_bind_int64(st, 1, id);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static int
sqlite_source_pending(struct queue *q, const char *sha256, const char *source,
    int64_t *id, char *err, size_t errsz)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT issue FROM sources WHERE sha256 = ?"
	    " AND name = ? AND archived IS NULL ORDER BY issue LIMIT 1");
	int rc;

	*id = 0;
	if (st == NULL)
		return queue_fail(q, err, errsz, "source lookup");
	queue_bind_text(st, 1, sha256);
	queue_bind_text(st, 2, source);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return queue_fail(q, err, errsz, "source lookup");
	return *id != 0 ? 1 : 0;
}

static int
sqlite_source_archived(struct queue *q, const char *sha256, const char *source,
    const char *where, char *err, size_t errsz)
{
	sqlite3_stmt *st = queue_prepare(q, "UPDATE sources SET archived = ? WHERE"
	    " sha256 = ? AND name = ? AND archived IS NULL");
	int rc;

	if (st == NULL)
		return queue_fail(q, err, errsz, "archived");
	queue_bind_text(st, 1, where);
	queue_bind_text(st, 2, sha256);
	queue_bind_text(st, 3, source);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return queue_fail(q, err, errsz, "archived");
	return 0;
}

/*
 * Ids are the issues table's rowids, handed out as MAX(id) + 1 before the
 * message is rendered. A reservation writes nothing: a crash before its
 * commit leaves nothing behind, and the id is handed out again (its
 * Message-ID never left the machine, so nobody saw it). Reservations this
 * handle has given out and not yet committed or given back are skipped
 * (reserved_upto), so that two of them never share an id; an id taken by
 * another writer in between makes the commit fail, never overwrite.
 */
static int
sqlite_reserve_id(struct queue *q, int64_t *id, char *err, size_t errsz)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT COALESCE(MAX(id), 0) + 1 FROM issues");
	int rc;

	*id = 0;
	if (st == NULL)
		return queue_fail(q, err, errsz, "reserve");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return queue_fail(q, err, errsz, "reserve");
	if (q->reservations > 0 && *id <= q->reserved_upto)
		*id = q->reserved_upto + 1;
	q->reserved_upto = *id;
	q->reservations++;
	return 0;
}

static void
sqlite_unreserve_id(struct queue *q, int64_t id)
{
	(void)id;
	if (q->reservations > 0 && --q->reservations == 0)
		q->reserved_upto = 0;
}

/*
 * A reminder (kind reminder, notice_for = the bulletin) is counted on the
 * bulletin's recipients it goes to, in the transaction that queues it, so
 * that the count never says a reminder went that was not queued or the
 * other way round: each recipient (not replaced) of the bulletin with one
 * of the reminder's addresses gets reminders + 1, last_reminded and a
 * `reminded` history row naming the reminder. Returns 0, or -1 for the
 * caller's queue_fail.
 */
static int
record_reminders(struct queue *q, int64_t id, const struct queue_issue_in *in,
    const struct queue_recipient_in *r, size_t n)
{
	char note[64];
	sqlite3_stmt *hist = queue_prepare(q, "INSERT INTO attempts (recipient, issue, time,"
	    " status, reply, attempt) SELECT id, issue, ?3, 'reminded', ?4, attempts"
	    " FROM recipients WHERE issue = ?1 AND address = ?2 COLLATE NOCASE"
	    " AND replaced_by IS NULL");
	sqlite3_stmt *up = queue_prepare(q, "UPDATE recipients SET reminders = reminders + 1,"
	    " last_reminded = ?3 WHERE issue = ?1 AND address = ?2 COLLATE NOCASE"
	    " AND replaced_by IS NULL");
	int rc = -1;

	if (hist == NULL || up == NULL)
		goto done;
	snprintf(note, sizeof(note), "reminder issue %lld", (long long)id);
	for (size_t i = 0; i < n; i++) {
		/* the same address twice in the reminder counts once */
		bool again = false;
		for (size_t k = 0; k < i && !again; k++)
			again = r[k].address && r[i].address &&
			    strcasecmp(r[k].address, r[i].address) == 0;
		if (again)
			continue;
		sqlite3_stmt *both[2] = { hist, up };
		for (int k = 0; k < 2; k++) {
			sqlite3_reset(both[k]);
			sqlite3_bind_int64(both[k], 1, in->notice_for);
			queue_bind_text(both[k], 2, r[i].address);
			sqlite3_bind_int64(both[k], 3, in->received);
			if (k == 0)
				queue_bind_text(both[k], 4, note);
			if (sqlite3_step(both[k]) != SQLITE_DONE)
				goto done;
		}
	}
	rc = 0;
done:
	sqlite3_finalize(hist);
	sqlite3_finalize(up);
	return rc;
}

static int
sqlite_commit_issue(struct queue *q, int64_t id, const char *message_id,
    const struct queue_issue_in *in, const struct queue_recipient_in *r, size_t n,
    const char *message, size_t len, int64_t *dup_of, char *err, size_t errsz)
{
	sqlite3_stmt *st = NULL;
	int64_t original = 0;

	*dup_of = 0;
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	if (in->kind == QUEUE_KIND_BULLETIN)
		original = find_original(q, in->sha256);
	if (in->kind == QUEUE_KIND_NOTICE) {
		/* one notice per key, checked inside the transaction that inserts it */
		int64_t sent = find_notice(q, in->sha256);
		if (sent != 0) {
			*dup_of = sent;
			queue_rollback(q);
			return 0;
		}
	}
	if (find_issue(q, id)) {
		snprintf(err, errsz, "%s: issue id %lld was taken by another writer",
		    q->path, (long long)id);
		queue_rollback(q);
		return -1;
	}

	/* a duplicate keeps neither message nor Message-ID: it is never sent */
	st = queue_prepare(q, "INSERT INTO issues (id, kind, sha256, source, title, issue_no,"
	    " total_issue_no, issuer, date, urgency, subject, message_id, priority,"
	    " state, hold_reason, duplicate_of, report_for, received, finished, text,"
	    " unresolved, notice_for, held_on_arrival, message)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	if (st == NULL)
		goto sqlfail;
	sqlite3_bind_int64(st, 1, id);
	queue_bind_text(st, 2, queue_kind_name(in->kind));
	queue_bind_text(st, 3, in->sha256);
	queue_bind_text(st, 4, in->source);
	queue_bind_text(st, 5, in->title);
	bind_long(st, 6, in->issue_no);
	bind_long(st, 7, in->total_issue_no);
	queue_bind_text(st, 8, in->issuer);
	queue_bind_text(st, 9, in->date);
	queue_bind_text(st, 10, in->urgency);
	queue_bind_text(st, 11, in->subject);
	queue_bind_text(st, 12, original ? "" : message_id);
	sqlite3_bind_int(st, 13, in->priority);
	queue_bind_text(st, 14, original ? "done" : in->hold_reason ? "held" : "active");
	queue_bind_text(st, 15, original ? "duplicate content" : in->hold_reason);
	if (original)
		sqlite3_bind_int64(st, 16, original);
	else
		sqlite3_bind_null(st, 16);
	if (in->report_for)
		sqlite3_bind_int64(st, 17, in->report_for);
	else
		sqlite3_bind_null(st, 17);
	sqlite3_bind_int64(st, 18, in->received);
	if (original)
		sqlite3_bind_int64(st, 19, in->received);
	else
		sqlite3_bind_null(st, 19);
	queue_bind_text(st, 20, original ? NULL : in->text);
	queue_bind_text(st, 21, original ? NULL : in->unresolved);
	if (in->notice_for)
		sqlite3_bind_int64(st, 22, in->notice_for);
	else
		sqlite3_bind_null(st, 22);
	sqlite3_bind_int(st, 23, !original && in->hold_reason != NULL);
	if (original)
		sqlite3_bind_null(st, 24);
	else
		sqlite3_bind_blob(st, 24, message, (int)len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	if (in->kind == QUEUE_KIND_BULLETIN) {
		/* the source's identity, committed with the issue: see queue_source_pending */
		st = queue_prepare(q, "INSERT INTO sources (issue, sha256, name) VALUES (?,?,?)");
		if (st == NULL)
			goto sqlfail;
		sqlite3_bind_int64(st, 1, id);
		queue_bind_text(st, 2, in->sha256);
		queue_bind_text(st, 3, in->source);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_finalize(st);
		st = NULL;
	}
	if (!original && in->n_attachments > 0) {
		/* kept so that a held issue can be rendered again on release */
		st = queue_prepare(q, "INSERT INTO attachments (issue, name, data) VALUES (?,?,?)");
		if (st == NULL)
			goto sqlfail;
		for (size_t i = 0; i < in->n_attachments; i++) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, id);
			queue_bind_text(st, 2, in->attachments[i].name);
			sqlite3_bind_blob(st, 3, in->attachments[i].data,
			    (int)in->attachments[i].len, SQLITE_TRANSIENT);
			if (sqlite3_step(st) != SQLITE_DONE)
				goto sqlfail;
		}
		sqlite3_finalize(st);
		st = NULL;
	}

	if (original) {
		*dup_of = original;
		if (queue_exec(q, "COMMIT", err, errsz) < 0)
			goto fail;
		return 0;
	}

	st = queue_prepare(q, "INSERT INTO recipients (issue, tier, tier_keyword, header,"
	    " unit, via, name, display, address, state, next_attempt, receipt)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
	if (st == NULL)
		goto sqlfail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		queue_bind_recipient(st, id, &r[i]);
		queue_bind_text(st, 10, in->hold_reason ? "held" : "queued");
		sqlite3_bind_int64(st, 11, in->received);
		sqlite3_bind_int(st, 12, r[i].receipt ? 1 : 0);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto sqlfail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (in->kind == QUEUE_KIND_REMINDER && in->notice_for != 0 &&
	    record_reminders(q, id, in, r, n) < 0)
		goto sqlfail;
	if (in->report_for) {
		char sql[128];
		snprintf(sql, sizeof(sql), "UPDATE issues SET reported = 1 WHERE id = %lld",
		    (long long)in->report_for);
		if (queue_exec(q, sql, err, errsz) < 0)
			goto fail;
	}
	if (queue_exec(q, "COMMIT", err, errsz) < 0)
		goto fail;
	return 0;

sqlfail:
	queue_fail(q, err, errsz, "enqueue");
fail:
	sqlite3_finalize(st);
	queue_rollback(q);
	return -1;
}

static int
sqlite_recover(struct queue *q, int *count, char *err, size_t errsz)
{
	*count = 0;
	if (queue_exec(q, "UPDATE recipients SET state = 'queued', possible_duplicate = 1"
	    " WHERE state = 'sending'", err, errsz) < 0)
		return -1;
	*count = sqlite3_changes(q->db);
	return 0;
}

/* ---- scheduling ------------------------------------------------------- */

/*
 * Delivery bookkeeping commits without fsync (WAL with synchronous=NORMAL):
 * a process crash loses nothing, and a power loss can at worst roll back
 * the last results, so those recipients are sent again — the
 * at-least-once promise holds. Enqueueing stays synchronous=FULL, because
 * after it the source file leaves the outbox.
 */
static int
begin_light(struct queue *q, char *err, size_t errsz)
{
	if (queue_exec(q, "PRAGMA synchronous=NORMAL", err, errsz) < 0)
		return -1;
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0) {
		queue_exec(q, "PRAGMA synchronous=FULL", err, errsz);
		return -1;
	}
	return 0;
}

static void
restore_full(struct queue *q)
{
	char ignore[64];

	queue_exec(q, "PRAGMA synchronous=FULL", ignore, sizeof(ignore));
}

static int
commit_light(struct queue *q, char *err, size_t errsz)
{
	int rc = queue_exec(q, "COMMIT", err, errsz);

	if (rc < 0)
		queue_rollback(q);
	restore_full(q);
	return rc;
}


/*
 * Issues first (CROSS JOIN keeps that loop order), through
 * issues_active in priority order, then each issue's due rows through
 * recipients_pending in (tier, id) order: the rows come out in delivery
 * order and LIMIT stops the walk, with no sort of every due row in a
 * temporary B-tree at each take (test_take_plan checks the plan).
 */
const char queue_take_sql[] =
    "SELECT r.id, r.issue, r.address, r.attempts, r.tier_keyword,"
    " r.possible_duplicate FROM issues i CROSS JOIN recipients r ON r.issue = i.id"
    " WHERE r.state IN ('queued','deferred') AND i.state = 'active'"
    " AND (r.next_attempt <= ?1 OR (r.state = 'deferred' AND r.next_attempt <= ?1 + ?3"
    "  AND EXISTS (SELECT 1 FROM recipients d INDEXED BY recipients_pending"
    "   WHERE d.issue = r.issue"
    "   AND d.tier = r.tier AND d.state IN ('queued','deferred')"
    "   AND d.next_attempt <= ?1)))"
    " ORDER BY i.priority DESC, i.id, r.tier, r.id LIMIT ?2";

/* attempts_issue_status (schema 7) answers both look-ups with seeks */
const char queue_take_lifetime_sql[] =
    "SELECT message, (SELECT MIN(a.time) FROM attempts a"
    " WHERE a.issue = ?1 AND a.status IN ('sent','deferred','failed','expired')"
    " AND a.time >= COALESCE((SELECT MAX(time) FROM attempts WHERE issue = ?1"
    " AND status = 'resend'), 0)) FROM issues WHERE id = ?1";

static int
sqlite_take(struct queue *q, int64_t now, size_t max_batches, size_t max_rcpt,
    struct queue_batch **batches, size_t *n, char *err, size_t errsz)
{
	sqlite3_stmt *st = NULL, *msg = NULL, *mark = NULL;
	struct queue_batch *cur = NULL;

	*n = 0;
	if (begin_light(q, err, errsz) < 0)
		return -1;
	/* A deferred recipient due within QUEUE_GROUP_GRACE seconds joins the
	 * transaction its issue and tier make now: recipients deferred by one
	 * outage but recorded a moment apart go out together again. */
	st = queue_prepare(q, queue_take_sql);
	/*
	 * The lifetime runs from the issue's first attempt (since its last
	 * resend), not from its arrival: an issue held for days, or a clock
	 * corrected by days before it was first tried, must not expire on its
	 * first temporary failure. One indexed look-up per batch.
	 */
	msg = queue_prepare(q, queue_take_lifetime_sql);
	mark = queue_prepare(q, "UPDATE recipients SET state = 'sending' WHERE id = ?");
	if (st == NULL || msg == NULL || mark == NULL)
		goto sqlfail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(max_batches * max_rcpt));
	sqlite3_bind_int64(st, 3, QUEUE_GROUP_GRACE);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t issue = sqlite3_column_int64(st, 1);
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
			sqlite3_reset(msg);
			sqlite3_bind_int64(msg, 1, issue);
			if (sqlite3_step(msg) != SQLITE_ROW)
				goto sqlfail;
			if (sqlite3_column_type(msg, 1) != SQLITE_NULL &&
			    sqlite3_column_int64(msg, 1) < now)
				cur->received = sqlite3_column_int64(msg, 1);
			cur->len = (size_t)sqlite3_column_bytes(msg, 0);
			cur->message = queue_message_new(sqlite3_column_blob(msg, 0), cur->len);
		}
		cur->ids[cur->n] = sqlite3_column_int64(st, 0);
		cur->addresses[cur->n] = queue_col_text(st, 2);
		cur->attempts[cur->n] = sqlite3_column_int(st, 3);
		cur->tiers[cur->n] = queue_col_text(st, 4);
		cur->possible_duplicate[cur->n] = sqlite3_column_int(st, 5) != 0;
		cur->n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto sqlfail;
	/*
	 * Marked once the walk is over: the walk reads recipients_pending, and
	 * a row marked 'sending' leaves that index (and the grace look-up)
	 * while it is being read.
	 */
	sqlite3_reset(st);
	for (size_t i = 0; i < *n; i++)
		for (size_t j = 0; j < batches[i]->n; j++) {
			sqlite3_reset(mark);
			sqlite3_bind_int64(mark, 1, batches[i]->ids[j]);
			if (sqlite3_step(mark) != SQLITE_DONE)
				goto sqlfail;
		}
	sqlite3_finalize(st);
	sqlite3_finalize(msg);
	sqlite3_finalize(mark);
	st = msg = mark = NULL;
	if (commit_light(q, err, errsz) < 0)
		goto fail;
	return 0;

sqlfail:
	queue_fail(q, err, errsz, "take");
	queue_rollback(q);
	restore_full(q);
fail:
	sqlite3_finalize(st);
	sqlite3_finalize(msg);
	sqlite3_finalize(mark);
	for (size_t i = 0; i < *n; i++)
		queue_batch_free(batches[i]);
	*n = 0;
	return -1;
}



/*
 * One commit for every transaction that finished since the last look: with
 * one connection the worker no longer waits for a commit per batch.
 */
static int
sqlite_record_many(struct queue *q, const struct queue_record_in *in, size_t n_in,
    char *err, size_t errsz)
{
	sqlite3_stmt *up = NULL, *at = NULL, *cur = NULL;

	if (begin_light(q, err, errsz) < 0)
		return -1;
	up = queue_prepare(q, "UPDATE recipients SET state = ?, attempts = ?, next_attempt = ?,"
	    " last_code = ?, last_dsn = ?, last_reply = ?, last_class = ?,"
	    " delivered = ?, possible_duplicate = ?10 WHERE id = ?9");
	/* cancelled while the transaction ran (distctl cancel takes `sending` too) */
	cur = queue_prepare(q, "SELECT state = 'cancelled' FROM recipients WHERE id = ?");
	at = queue_prepare(q, "INSERT INTO attempts (recipient, issue, time, relay, status,"
	    " class, code, dsn, reply, duration, attempt, possible_duplicate)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
	if (up == NULL || at == NULL || cur == NULL)
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

			/* a cancel newer than the decision: the policy says what stands */
			sqlite3_reset(cur);
			sqlite3_bind_int64(cur, 1, b->ids[i]);
			if (sqlite3_step(cur) == SQLITE_ROW && sqlite3_column_int(cur, 0) != 0)
				delivery_policy_cancelled(a);
			sqlite3_reset(up);
			queue_bind_text(up, 1, queue_state_name(a->state));
			sqlite3_bind_int(up, 2, a->attempt);
			sqlite3_bind_int64(up, 3, a->next_attempt ? a->next_attempt : now);
			/* recorded as an attempt all the same: every transaction is in
			 * the history, the 452 included */
			if (v->code)
				sqlite3_bind_int(up, 4, v->code);
			else
				sqlite3_bind_null(up, 4);
			queue_bind_text(up, 5, dsn);
			queue_bind_text(up, 6, v->reply);
			queue_bind_text(up, 7, class);
			if (a->state == QUEUE_DELIVERED)
				sqlite3_bind_int64(up, 8, now);
			else
				sqlite3_bind_null(up, 8);
			sqlite3_bind_int64(up, 9, b->ids[i]);
			sqlite3_bind_int(up, 10, a->keeps_duplicate_flag);
			if (sqlite3_step(up) != SQLITE_DONE)
				goto sqlfail;

			sqlite3_reset(at);
			sqlite3_bind_int64(at, 1, b->ids[i]);
			sqlite3_bind_int64(at, 2, b->issue);
			sqlite3_bind_int64(at, 3, now);
			queue_bind_text(at, 4, in[k].relay);
			queue_bind_text(at, 5, queue_attempt_status_name(a->status));
			queue_bind_text(at, 6, class);
			if (v->code)
				sqlite3_bind_int(at, 7, v->code);
			else
				sqlite3_bind_null(at, 7);
			queue_bind_text(at, 8, dsn);
			queue_bind_text(at, 9, v->reply);
			sqlite3_bind_double(at, 10, in[k].duration);
			sqlite3_bind_int(at, 11, a->attempt);
			sqlite3_bind_int(at, 12, a->possible_duplicate);
			if (sqlite3_step(at) != SQLITE_DONE)
				goto sqlfail;
		}
	}
	sqlite3_finalize(up);
	sqlite3_finalize(at);
	sqlite3_finalize(cur);
	return commit_light(q, err, errsz);

sqlfail:
	queue_fail(q, err, errsz, "record");
	sqlite3_finalize(up);
	sqlite3_finalize(at);
	sqlite3_finalize(cur);
	queue_rollback(q);
	restore_full(q);
	return -1;
}

static int
sqlite_release_batch(struct queue *q, const struct queue_batch *b, char *err,
    size_t errsz)
{
	sqlite3_stmt *st;

	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	st = queue_prepare(q, "UPDATE recipients SET state = 'queued' WHERE id = ? AND state = 'sending'");
	for (size_t i = 0; st && i < b->n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, b->ids[i]);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return queue_exec(q, "COMMIT", err, errsz);
}

static void
sqlite_release_memory(struct queue *q)
{
	sqlite3_db_release_memory(q->db);
}

static int
sqlite_probe_write(struct queue *q, char *err, size_t errsz)
{
	/* a row in and out again: the pages are dirtied and written at commit */
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	if (queue_exec(q, "INSERT OR REPLACE INTO alerts (kind, text, since, last)"
	    " VALUES ('write-probe', '', 0, 0); DELETE FROM alerts WHERE kind = 'write-probe';"
	    " COMMIT", err, errsz) < 0) {
		queue_rollback(q);
		return -1;
	}
	return 0;
}

static int
sqlite_clock_step(struct queue *q, int64_t by, int64_t before, char *err, size_t errsz)
{
	char sql[300];

	snprintf(sql, sizeof(sql), "UPDATE recipients SET next_attempt = next_attempt + %lld"
	    " WHERE state IN ('queued','deferred') AND next_attempt < %lld", (long long)by,
	    (long long)before);
	return queue_exec(q, sql, err, errsz);
}

static int
sqlite_next_due(struct queue *q, int64_t *when)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT MIN(r.next_attempt) FROM recipients r"
	    " JOIN issues i ON i.id = r.issue"
	    " WHERE r.state IN ('queued','deferred') AND i.state = 'active'");
	int rc = 1;

	if (st && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*when = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Both walk issues_unsettled only: finished bulletins not yet examined. */
const char queue_finish_settle_sql[] =
    "UPDATE issues SET reported = 2 WHERE state = 'done'"
    " AND kind = 'bulletin' AND reported = 0 AND NOT EXISTS (SELECT 1"
    " FROM recipients r WHERE r.issue = issues.id AND r.state = 'failed'"
    " AND r.replaced_by IS NULL)";
const char queue_finish_report_sql[] =
    "SELECT i.id FROM issues i WHERE i.state = 'done'"
    " AND i.kind = 'bulletin' AND i.reported = 0";

static int
sqlite_finish(struct queue *q, int64_t now, int64_t **report, size_t *n,
    char *err, size_t errsz)
{
	sqlite3_stmt *st;
	char sql[1024];

	*report = NULL;
	*n = 0;
	/* issues_active: only what is still going is examined */
	snprintf(sql, sizeof(sql), "UPDATE issues SET state = 'done', finished = %lld"
	    " WHERE state = 'active' AND NOT EXISTS (SELECT 1 FROM recipients r"
	    " WHERE r.issue = issues.id AND r.state NOT IN"
	    " ('delivered','failed','cancelled') AND r.replaced_by IS NULL)",
	    (long long)now);
	if (begin_light(q, err, errsz) < 0)
		return -1;
	if (queue_exec(q, sql, err, errsz) < 0)
		goto fail;
	/* the tiers of what finished now, for distctl status (schema 8) */
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO issue_tiers (issue, tier,"
	    " tier_keyword, total, delivered, deferred, failed, bounced, confirmed, receipt)"
	    " SELECT issue, tier, tier_keyword, COUNT(*) " QUEUE_TIER_SUMS " FROM recipients"
	    " WHERE issue IN (SELECT id FROM issues WHERE state = 'done' AND finished = %lld)"
	    " AND replaced_by IS NULL GROUP BY issue, tier, tier_keyword", (long long)now);
	if (sqlite3_changes(q->db) > 0 && queue_exec(q, sql, err, errsz) < 0)
		goto fail;
	/*
	 * A finished issue without a failure is settled (reported = 2) once,
	 * so that it leaves issues_unsettled and is not walked again at every
	 * later completion; a resend or retry sets reported back to 0.
	 */
	if (queue_exec(q, queue_finish_settle_sql, err, errsz) < 0)
		goto fail;
	st = queue_prepare(q, queue_finish_report_sql);
	if (st == NULL) {
		queue_fail(q, err, errsz, "finish");
		goto fail;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		*report = xreallocarray(*report, *n + 1, sizeof(**report));
		(*report)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (commit_light(q, err, errsz) < 0)
		goto fail_committed;
	return 0;

fail:
	queue_rollback(q);
	restore_full(q);
fail_committed:
	free(*report);
	*report = NULL;
	*n = 0;
	return -1;
}

static int
sqlite_failures(struct queue *q, int64_t issue, struct queue_failure **f,
    size_t *n, char **title, long *issue_no)
{
	sqlite3_stmt *st;

	*f = NULL;
	*n = 0;
	*title = NULL;
	*issue_no = -1;
	st = queue_prepare(q, "SELECT title, issue_no FROM issues WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, issue);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*title = queue_col_text(st, 0);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			*issue_no = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	st = queue_prepare(q, "SELECT tier_keyword, name, address, last_reply, attempts"
	    " FROM recipients WHERE issue = ? AND state = 'failed' AND replaced_by IS NULL"
	    " ORDER BY tier, id");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, issue);
	while (sqlite3_step(st) == SQLITE_ROW) {
		*f = xreallocarray(*f, *n + 1, sizeof(**f));
		struct queue_failure *x = &(*f)[(*n)++];
		x->tier = queue_col_text(st, 0);
		x->name = queue_col_text(st, 1);
		x->address = queue_col_text(st, 2);
		x->reply = queue_col_text(st, 3);
		x->attempts = sqlite3_column_int(st, 4);
	}
	sqlite3_finalize(st);
	return 0;
}

void
queue_failures_free(struct queue_failure *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].tier);
		free(f[i].name);
		free(f[i].address);
		free(f[i].reply);
	}
	free(f);
}

static int
sqlite_alert(struct queue *q, const char *kind, const char *text, int64_t now)
{
	sqlite3_stmt *st = queue_prepare(q, "INSERT INTO alerts (kind, text, since, last)"
	    " VALUES (?1, ?2, ?3, ?3) ON CONFLICT(kind) DO UPDATE SET text = ?2, last = ?3");
	int rc;

	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, kind);
	queue_bind_text(st, 2, text);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

static int
sqlite_clear_alert(struct queue *q, const char *kind)
{
	sqlite3_stmt *st = queue_prepare(q, "DELETE FROM alerts WHERE kind = ?");
	int rc;

	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, kind);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

static int
sqlite_counts(struct queue *q, long counts[QUEUE_STATES])
{
	/* final states: kept by triggers with the rows (schema v5); the rest:
	 * counted, through recipients_due, as they are the work in hand */
	sqlite3_stmt *st = queue_prepare(q, "SELECT state, n FROM recipient_counts"
	    " UNION ALL SELECT state, COUNT(*) FROM recipients"
	    " WHERE state IN ('queued','sending','deferred','held') AND replaced_by IS NULL"
	    " GROUP BY state");

	memset(counts, 0, sizeof(long) * QUEUE_STATES);
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		enum queue_state s;
		if (queue_state_parse((const char *)sqlite3_column_text(st, 0), &s) == 0)
			counts[s] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return 0;
}

static int
sqlite_changes(struct queue *q, int64_t *own, int64_t *others)
{
	/* data_version moves only with other connections' commits (distctl) */
	sqlite3_stmt *st = queue_prepare(q, "PRAGMA data_version");
	int rc = -1;

	*own = sqlite3_total_changes64(q->db);
	*others = 0;
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		*others = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- admin notices -------------------------------------------------------- */

/*
 * The bulletins with bounced recipients whose notice for the current
 * highest bounced id is not there yet. recipients_bounced holds only the
 * bounced rows, so that this walks the bounces ever received, never the
 * history (test_bounced_notice_plan checks the plan); the notice key's
 * look-up is issues_notice_key's.
 */
const char queue_bounced_due_sql[] =
    "SELECT b.issue, b.last, i.title, i.issue_no, i.source FROM"
    " (SELECT issue, MAX(bounce_attempt) AS last FROM recipients"
    "  INDEXED BY recipients_bounced"
    "  WHERE bounced IS NOT NULL GROUP BY issue) b JOIN issues i ON i.id = b.issue"
    " WHERE i.kind = 'bulletin' AND NOT EXISTS (SELECT 1 FROM issues n"
    "  WHERE n.kind = 'notice' AND n.sha256 = 'bounced:' || b.issue || ':' || b.last)"
    " ORDER BY b.issue LIMIT ?";

/* At most this many recipients a bounced notice lists, each line cut at about LINE bytes. */
#define BOUNCED_LINES 200
#define BOUNCED_LINE 300

/* s onto out without its line breaks, cut at a character boundary when over max bytes. */
static void
put_cut(struct sbuf *out, const char *s, size_t max)
{
	size_t n = strlen(s);
	bool cut = n > max;

	if (cut)	/* s[n] must start a character: s[0..n) is whole ones */
		for (n = max; n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; n--)
			;
	for (size_t i = 0; i < n; i++)
		sbuf_putc(out, s[i] == '\r' || s[i] == '\n' || s[i] == '\t' ? ' ' : s[i]);
	if (cut)
		sbuf_puts(out, "…");
}

/*
 * The reason of issue's bounced notice: one line per bounced recipient
 * (not replaced), "TIER UNIT <ADDRESS>: STATUS REPLY", at most
 * BOUNCED_LINES of them. NULL when none is left to tell about.
 */
static char *
bounced_reason(struct queue *q, int64_t issue, int *rc)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT tier_keyword, unit, address, bounce_status,"
	    " bounce_reply FROM recipients INDEXED BY recipients_bounced WHERE issue = ?"
	    " AND bounced IS NOT NULL AND replaced_by IS NULL ORDER BY tier, id");
	struct sbuf out = SBUF_INIT, line = SBUF_INIT;
	long lines = 0;

	*rc = SQLITE_ERROR;
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, issue);
	while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (++lines > BOUNCED_LINES)
			continue;
		const char *col[5];
		for (int i = 0; i < 5; i++)
			col[i] = (const char *)sqlite3_column_text(st, i);
		sbuf_printf(&line, "%s %s <%s>: %s%s%s", col[0] ? col[0] : "",
		    col[1] ? col[1] : "", col[2] ? col[2] : "", col[3] ? col[3] : "",
		    col[3] && col[4] ? " " : "", col[4] ? col[4] : "");
		put_cut(&out, sbuf_str(&line), BOUNCED_LINE);
		sbuf_putc(&out, '\n');
		sbuf_reset(&line);
	}
	sqlite3_finalize(st);
	sbuf_free(&line);
	if (*rc != SQLITE_DONE || lines == 0) {
		sbuf_free(&out);
		return NULL;
	}
	if (lines > BOUNCED_LINES)
		sbuf_printf(&out, "… and %ld more\n", lines - BOUNCED_LINES);
	return sbuf_steal(&out);
}

/* Appends the bounced notices due to *out, up to max in all. 0, or -1 (SQLite's error). */
static int
bounced_due(struct queue *q, struct queue_notice_due **out, size_t *n, size_t max)
{
	sqlite3_stmt *st = queue_prepare(q, queue_bounced_due_sql);
	struct bounced { int64_t issue, last; char *title, *source; long issue_no; } *b = NULL;
	size_t nb = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(max - *n));
	/* read first, then each reason: no statement left open under another */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		b = xreallocarray(b, nb + 1, sizeof(*b));
		b[nb].issue = sqlite3_column_int64(st, 0);
		b[nb].last = sqlite3_column_int64(st, 1);
		b[nb].title = queue_col_text(st, 2);
		b[nb].issue_no = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 :
		    (long)sqlite3_column_int64(st, 3);
		b[nb].source = queue_col_text(st, 4);
		nb++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < nb; i++) {
		char key[80], *reason = NULL;
		int r = SQLITE_DONE;
		if (rc == SQLITE_DONE)
			reason = bounced_reason(q, b[i].issue, &r);
		if (r != SQLITE_DONE)
			rc = r;
		if (reason == NULL || rc != SQLITE_DONE) {
			free(reason);
			free(b[i].title);
			free(b[i].source);
			continue;
		}
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		struct queue_notice_due *x = &(*out)[(*n)++];
		memset(x, 0, sizeof(*x));
		snprintf(key, sizeof(key), "bounced:%lld:%lld", (long long)b[i].issue,
		    (long long)b[i].last);
		x->cause = QUEUE_NOTICE_BOUNCED;
		x->key = xstrdup(key);
		x->issue = b[i].issue;
		x->title = b[i].title;
		x->source = b[i].source;
		x->issue_no = b[i].issue_no;
		x->reason = reason;
	}
	free(b);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * What needs a human and has not been notified yet. The key of each cause
 * is made here, in SQL, so that the query and the uniqueness of the
 * notice rows agree on it: held issues once per issue, unresolved units
 * of issues sent anyway once per issue, alerts once per raising (an alert
 * keeps its `since` until it clears).
 */
static int
sqlite_notices_due(struct queue *q, struct queue_notice_due **out, size_t *n,
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
	    " ORDER BY 1, 3 LIMIT 1000";
	sqlite3_stmt *st = queue_prepare(q, sql);
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return queue_fail(q, err, errsz, "notices");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		struct queue_notice_due *x = &(*out)[(*n)++];
		memset(x, 0, sizeof(*x));
		x->cause = (enum queue_notice_cause)sqlite3_column_int(st, 0);
		x->key = queue_col_text(st, 1);
		x->issue = sqlite3_column_int64(st, 2);
		x->title = queue_col_text(st, 3);
		x->issue_no = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 :
		    (long)sqlite3_column_int64(st, 4);
		x->source = queue_col_text(st, 5);
		x->reason = queue_col_text(st, 6);
		/* an alert's row; held and unresolved notices have none */
		if (x->cause == QUEUE_NOTICE_ALERT &&
		    queue_alert_kind_parse((const char *)sqlite3_column_text(st, 7),
		    &x->alert_kind) < 0)
			x->alert_kind = QUEUE_ALERT_DEFERRED;	/* shown by its text */
		x->since = sqlite3_column_int64(st, 8);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && *n < 1000 && bounced_due(q, out, n, 1000) < 0)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_DONE) {
		queue_notices_due_free(*out, *n);
		*out = NULL;
		*n = 0;
		return queue_fail(q, err, errsz, "notices");
	}
	return 0;
}

void
queue_notices_due_free(struct queue_notice_due *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].key);
		free(d[i].title);
		free(d[i].source);
		free(d[i].reason);
	}
	free(d);
}

static int
sqlite_notices_since(struct queue *q, int64_t since, long *count, int64_t *oldest)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT COUNT(*), MIN(received) FROM issues"
	    " WHERE kind = 'notice' AND received > ?");
	int rc = -1;

	*count = 0;
	*oldest = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*count = (long)sqlite3_column_int64(st, 0);
		*oldest = sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
sqlite_relay_get(struct queue *q, const char *relay, long *size, long *max_rcpt)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT size, max_rcpt FROM relays WHERE relay = ?");
	int rc = 1;

	*size = -1;
	*max_rcpt = 0;
	if (st == NULL)
		return 1;
	queue_bind_text(st, 1, relay);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			*size = (long)sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			*max_rcpt = (long)sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Runs one statement with ?1 = a, ?2 = b, ?3 = t (a statement
 * need not use them all: binding an absent index is a harmless
 * SQLITE_RANGE). Returns 0, or -1 for the caller's queue_fail().
 */
int
queue_run1(struct queue *q, const char *sql, int64_t a, int64_t b, const char *t)
{
	sqlite3_stmt *st = queue_prepare(q, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	queue_bind_text(st, 3, t);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

static int
sqlite_relay_set_size(struct queue *q, const char *relay, long size, int64_t now)
{
	return queue_run1(q, "INSERT INTO relays (relay, size, updated) VALUES (?3, ?1, ?2)"
	    " ON CONFLICT(relay) DO UPDATE SET size = ?1, updated = ?2", size, now, relay);
}

static int
sqlite_relay_set_max_rcpt(struct queue *q, const char *relay, long max_rcpt, int64_t now)
{
	return queue_run1(q, "INSERT INTO relays (relay, max_rcpt, updated) VALUES (?3, ?1, ?2)"
	    " ON CONFLICT(relay) DO UPDATE SET max_rcpt = ?1, updated = ?2", max_rcpt,
	    now, relay);
}

static int
sqlite_oldest_deferral(struct queue *q, int64_t *since, long *count)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT MIN((SELECT MIN(a.time) FROM attempts a"
	    "  WHERE a.recipient = r.id AND a.status = 'deferred')), COUNT(*)"
	    " FROM recipients r JOIN issues i ON i.id = r.issue"
	    " WHERE r.state = 'deferred' AND i.state = 'active'");
	int rc = 1;

	*since = 0;
	*count = 0;
	if (st && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*since = sqlite3_column_int64(st, 0);
		*count = (long)sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- what comes back: bounces and receipts ------------------------------------ */

static int
cursor_store(struct queue *q, const char *cursor, uint32_t uidvalidity, uint32_t uid)
{
	sqlite3_stmt *st = queue_prepare(q, "INSERT INTO feedback_cursors (name, uidvalidity,"
	    " uid) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET"
	    " uidvalidity = ?2, uid = ?3");
	int rc;

	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, cursor);
	sqlite3_bind_int64(st, 2, uidvalidity);
	sqlite3_bind_int64(st, 3, uid);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

/*
 * The bulletin feedback naming issue `named` applies to, into *target: the
 * issue itself, or the bulletin a reminder reminds of. 1 when there is
 * one and the message's Message-IDs (if it carries any) include the named
 * issue's own, 0 when not (NO_ISSUE), -1 on an SQLite error.
 */
static int
feedback_target(struct queue *q, const struct queue_feedback_in *in, int64_t *target)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT kind, message_id, notice_for FROM issues"
	    " WHERE id = ?");
	int rc;

	*target = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, in->issue);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	const char *kind = (const char *)sqlite3_column_text(st, 0);
	const char *mid = (const char *)sqlite3_column_text(st, 1);
	bool believed = in->n_message_ids == 0;
	/*
	 * An X-Distd-Issue that disagrees with the Message-ID is not believed.
	 * Compared without regard to ASCII case: ours are minted lower-case,
	 * and a mail system that changed the case has not made another id.
	 */
	for (size_t i = 0; i < in->n_message_ids && !believed; i++)
		believed = mid && mid[0] && in->message_ids[i] &&
		    strcasecmp(in->message_ids[i], mid) == 0;
	if (believed && kind && strcmp(kind, "reminder") == 0)
		*target = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 :
		    sqlite3_column_int64(st, 2);
	else if (believed)
		*target = in->issue;
	sqlite3_finalize(st);
	return *target != 0 ? 1 : 0;
}

/*
 * One feedback message, in one transaction (queue.h): the key first (a
 * message applied before changes nothing), then each fact's recipients
 * of the issue, by address or alt_address (ASCII case-insensitive, as
 * mail systems treat addresses in practice), each row once per message.
 * A finished issue's tier totals (issue_tiers) move with the rows: a
 * bounce takes one from delivered to bounced, a confirmation adds one.
 * The cursor moves whatever the result.
 */
static int
sqlite_feedback_apply(struct queue *q, const struct queue_feedback_in *in,
    struct queue_feedback_out *out, char *err, size_t errsz)
{
	const bool bounce = in->kind == QUEUE_FEEDBACK_BOUNCE;
	sqlite3_stmt *find = NULL, *hist = NULL, *set = NULL, *tiers = NULL, *st = NULL;
	int64_t *seen = NULL, target = 0;
	size_t n_seen = 0;
	long found = 0;
	char reply[1200];
	int rc;

	if (in->key == NULL || in->key[0] == '\0') {
		snprintf(err, errsz, "%s: feedback without a key (the message's hash)", q->path);
		return -1;
	}
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsz) < 0)
		return -1;
	st = queue_prepare(q, "SELECT issue FROM feedback WHERE key = ?");
	if (st == NULL)
		goto sqlfail;
	queue_bind_text(st, 1, in->key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->result = QUEUE_FEEDBACK_SEEN;
		out->issue = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 :
		    sqlite3_column_int64(st, 0);
		goto store_cursor;
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = feedback_target(q, in, &target)) < 0)
		goto sqlfail;
	if (rc == 0) {
		out->result = QUEUE_FEEDBACK_NO_ISSUE;
		goto store_cursor;
	}
	out->issue = target;
	find = queue_prepare(q, "SELECT id, tier, tier_keyword FROM recipients"
	    " WHERE issue = ?1 AND replaced_by IS NULL AND (address = ?2 COLLATE NOCASE"
	    " OR address = ?3 COLLATE NOCASE) ORDER BY tier, id");
	hist = queue_prepare(q, "INSERT INTO attempts (recipient, issue, time, status, dsn,"
	    " reply, attempt) SELECT id, issue, ?2, ?3, ?4, ?5, attempts FROM recipients"
	    " WHERE id = ?1");
	/* first bounce wins, and only while delivered; a confirmation counts once */
	set = queue_prepare(q, bounce ?
	    "UPDATE recipients SET bounced = ?2, bounce_status = ?3, bounce_reply = ?4,"
	    " bounce_attempt = ?5 WHERE id = ?1 AND state = 'delivered' AND bounced IS NULL" :
	    "UPDATE recipients SET confirmed = ?2, confirmed_by = ?3"
	    " WHERE id = ?1 AND confirmed IS NULL AND state != 'cancelled'");
	tiers = queue_prepare(q, bounce ?
	    "UPDATE issue_tiers SET delivered = delivered - 1, bounced = bounced + 1"
	    " WHERE issue = ?1 AND tier = ?2 AND tier_keyword = ?3" :
	    "UPDATE issue_tiers SET confirmed = confirmed + 1"
	    " WHERE issue = ?1 AND tier = ?2 AND tier_keyword = ?3");
	if (find == NULL || hist == NULL || set == NULL || tiers == NULL)
		goto sqlfail;
	for (size_t f = 0; f < in->n_facts; f++) {
		const struct queue_feedback_fact *x = &in->facts[f];
		bool named = false;
		sqlite3_reset(find);
		sqlite3_bind_int64(find, 1, target);
		queue_bind_text(find, 2, x->address ? x->address : "");
		queue_bind_text(find, 3, x->alt_address ? x->alt_address :
		    x->address ? x->address : "");
		while ((rc = sqlite3_step(find)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(find, 0);
			bool again = false;
			named = true;
			for (size_t k = 0; k < n_seen && !again; k++)
				again = seen[k] == id;
			if (again)
				continue;
			seen = xreallocarray(seen, n_seen + 1, sizeof(*seen));
			seen[n_seen++] = id;
			found++;
			/* the history: bounced with the status and the remote reply,
			 * confirmed with how ("mdn: displayed", "reply: SUBJECT") */
			if (bounce)
				snprintf(reply, sizeof(reply), "%s", x->reply ? x->reply :
				    in->how ? in->how : "bounce");
			else
				snprintf(reply, sizeof(reply), "%s%s%s", in->how ? in->how :
				    "confirmed", x->reply ? ": " : "", x->reply ? x->reply : "");
			sqlite3_reset(hist);
			sqlite3_bind_int64(hist, 1, id);
			sqlite3_bind_int64(hist, 2, in->when);
			queue_bind_text(hist, 3, bounce ? "bounced" : "confirmed");
			queue_bind_text(hist, 4, bounce ? x->status : NULL);
			queue_bind_text(hist, 5, reply);
			if (sqlite3_step(hist) != SQLITE_DONE)
				goto stepfail;
			sqlite3_reset(set);
			sqlite3_bind_int64(set, 1, id);
			sqlite3_bind_int64(set, 2, in->when);
			if (bounce) {
				queue_bind_text(set, 3, x->status);
				queue_bind_text(set, 4, x->reply);
				sqlite3_bind_int64(set, 5, sqlite3_last_insert_rowid(q->db));
			} else {
				queue_bind_text(set, 3, in->how && strcmp(in->how, "mdn") == 0 ?
				    "mdn" : "reply");
			}
			if (sqlite3_step(set) != SQLITE_DONE)
				goto stepfail;
			if (sqlite3_changes(q->db) == 0)
				continue;
			out->matched++;
			/* a finished issue's totals (no row while it goes) */
			sqlite3_reset(tiers);
			sqlite3_bind_int64(tiers, 1, target);
			sqlite3_bind_int64(tiers, 2, sqlite3_column_int64(find, 1));
			queue_bind_text(tiers, 3, (const char *)sqlite3_column_text(find, 2));
			if (sqlite3_step(tiers) != SQLITE_DONE)
				goto stepfail;
		}
		if (rc != SQLITE_DONE)
			goto sqlfail;
		if (!named)
			out->unmatched++;
	}
	if (found == 0) {
		out->result = QUEUE_FEEDBACK_NO_RECIPIENT;
		goto store_cursor;
	}
	out->result = QUEUE_FEEDBACK_APPLIED;
	st = queue_prepare(q, "INSERT INTO feedback (key, time, issue, kind, matched)"
	    " VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		goto sqlfail;
	queue_bind_text(st, 1, in->key);
	sqlite3_bind_int64(st, 2, in->when);
	sqlite3_bind_int64(st, 3, target);
	queue_bind_text(st, 4, bounce ? "bounce" : "confirm");
	sqlite3_bind_int64(st, 5, out->matched);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;

store_cursor:
	sqlite3_finalize(st);
	st = NULL;
	if (in->cursor && cursor_store(q, in->cursor, in->uidvalidity, in->uid) < 0)
		goto sqlfail;
	sqlite3_finalize(find);
	sqlite3_finalize(hist);
	sqlite3_finalize(set);
	sqlite3_finalize(tiers);
	free(seen);
	if (queue_exec(q, "COMMIT", err, errsz) < 0) {
		queue_rollback(q);
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;

stepfail:
sqlfail:
	queue_fail(q, err, errsz, "feedback");
	sqlite3_finalize(st);
	sqlite3_finalize(find);
	sqlite3_finalize(hist);
	sqlite3_finalize(set);
	sqlite3_finalize(tiers);
	free(seen);
	queue_rollback(q);
	memset(out, 0, sizeof(*out));
	return -1;
}

static int
sqlite_feedback_cursor(struct queue *q, const char *cursor, uint32_t *uidvalidity,
    uint32_t *uid, char *err, size_t errsz)
{
	sqlite3_stmt *st = queue_prepare(q, "SELECT uidvalidity, uid FROM feedback_cursors"
	    " WHERE name = ?");
	int rc;

	*uidvalidity = 0;
	*uid = 0;
	if (st == NULL)
		return queue_fail(q, err, errsz, "feedback cursor");
	queue_bind_text(st, 1, cursor);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*uidvalidity = (uint32_t)sqlite3_column_int64(st, 0);
		*uid = (uint32_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return queue_fail(q, err, errsz, "feedback cursor");
	return rc == SQLITE_ROW ? 0 : 1;
}

static int
sqlite_feedback_cursor_set(struct queue *q, const char *cursor, uint32_t uidvalidity,
    uint32_t uid, char *err, size_t errsz)
{
	if (cursor_store(q, cursor, uidvalidity, uid) < 0)
		return queue_fail(q, err, errsz, "feedback cursor");
	return 0;
}

/* ---- several nodes: one, on a file of one machine --------------------------- */

static int
sqlite_join(struct queue *q, char *err, size_t errsz)
{
	(void)q; (void)err; (void)errsz;
	return 0;
}

static int
sqlite_heartbeat(struct queue *q, struct queue_takeover **out, size_t *n, char *err,
    size_t errsz)
{
	(void)q; (void)err; (void)errsz;
	*out = NULL;
	*n = 0;
	return 0;
}

static long
sqlite_heartbeat_interval(struct queue *q)
{
	(void)q;
	return 0;	/* nothing to extend: an idle daemon never wakes */
}

static int
sqlite_view_nodes(struct queue *q, struct queue_view_node **out, size_t *n, char *err,
    size_t errsz)
{
	(void)q; (void)err; (void)errsz;
	*out = NULL;
	*n = 0;
	return 0;
}

const struct queue_backend queue_backend_sqlite = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.lock = sqlite_lock,
	.check_file = sqlite_check_file,
	.probe_write = sqlite_probe_write,
	.release_memory = sqlite_release_memory,
	.view_status = sqlite_view_status,
	.view_issue = sqlite_view_issue,
	.view_attempts = sqlite_view_attempts,
	.reserve_id = sqlite_reserve_id,
	.unreserve_id = sqlite_unreserve_id,
	.commit_issue = sqlite_commit_issue,
	.source_pending = sqlite_source_pending,
	.source_archived = sqlite_source_archived,
	.recover = sqlite_recover,
	.take = sqlite_take,
	.record_many = sqlite_record_many,
	.release_batch = sqlite_release_batch,
	.clock_step = sqlite_clock_step,
	.next_due = sqlite_next_due,
	.finish = sqlite_finish,
	.failures = sqlite_failures,
	.relay_get = sqlite_relay_get,
	.relay_set_size = sqlite_relay_set_size,
	.relay_set_max_rcpt = sqlite_relay_set_max_rcpt,
	.oldest_deferral = sqlite_oldest_deferral,
	.alert = sqlite_alert,
	.clear_alert = sqlite_clear_alert,
	.notices_due = sqlite_notices_due,
	.notices_since = sqlite_notices_since,
	.counts = sqlite_counts,
	.changes = sqlite_changes,
	.hold = sqlite_hold,
	.release = sqlite_release,
	.cancel = sqlite_cancel,
	.retry = sqlite_retry,
	.resend = sqlite_resend,
	.resend_all = sqlite_resend_all,
	.resend_to = sqlite_resend_to,
	.has_recipient = sqlite_has_recipient,
	.load_source = sqlite_load_source,
	.reroute = sqlite_reroute,
	.record_read = sqlite_record_read,
	.purge_list = sqlite_purge_list,
	.purge_delete = sqlite_purge_delete,
	/* wake-ups and connection */
	.wake_fd = sqlite_wake_fd,
	.wake_drain = sqlite_wake_drain,
	.reconnect = sqlite_reconnect,
	.join = sqlite_join,
	.heartbeat = sqlite_heartbeat,
	.heartbeat_interval = sqlite_heartbeat_interval,
	.view_nodes = sqlite_view_nodes,
	.feedback_apply = sqlite_feedback_apply,
	.feedback_cursor = sqlite_feedback_cursor,
	.feedback_cursor_set = sqlite_feedback_cursor_set,
};
