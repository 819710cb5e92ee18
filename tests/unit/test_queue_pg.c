/*
 * The PostgreSQL queue backend (issue 16) through the public queue API,
 * against a real server: DISTD_TEST_PG is a libpq connection string to a
 * throw-away database (the Makefile's `unit` target runs this under
 * tests/integration/pgserver.py, which starts one). Unset: every test
 * skips, and says why.
 *
 * Only what is PostgreSQL's own: the schema and its version, the password
 * kept out of the string and the location out of messages, the password
 * file, SKIP LOCKED, concurrent takers, the lock per node, the change stamp,
 * and what only concurrent writers show (row and advisory locks of the
 * steering and the purge).
 * The queue's behaviour is tested once for both backends: test_queue,
 * test_queue_ctl and test_queue_views run again on PostgreSQL (`make unit`,
 * DISTD_TEST_BACKEND=postgresql, testqueue.h). The database is emptied
 * (schema public dropped) before each test.
 */
#include "testutil.h"
#include "testpg.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"
#include "queue_backend.h"
#include "queue_private.h"

/* n recipients in tiers 报 送 发 by i % 3; returns the id, or -dup_of */
static int64_t
enqueue_kind(struct queue *q, enum queue_kind kind, const char *sha, size_t n,
    const char *hold, int64_t now)
{
	struct queue_recipient_in r[16];
	char addr[16][32];
	int64_t id, dup;
	char err[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%zu@example.test", i);
		r[i] = (struct queue_recipient_in){ (int)(i % 3), i % 3 == 0 ? "报" :
		    i % 3 == 1 ? "送" : "发", "to", "单位", "报:单位", "单位", "单位", addr[i], false };
	}
	struct queue_issue_in in = { .sha256 = sha, .source = "a.txt", .kind = kind,
		.title = "简报", .subject = "简报 第1期", .issue_no = 1, .total_issue_no = -1,
		.hold_reason = hold, .received = now };
	if (queue_enqueue(q, &in, r, n, "example.test", test_pg_render_ok, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return dup ? -dup : id;
}

static int64_t
enqueue(struct queue *q, const char *sha, size_t n, const char *hold, int64_t now)
{
	return enqueue_kind(q, QUEUE_KIND_BULLETIN, sha, n, hold, now);
}

static void
test_pg_schema_created_and_versioned(void **state)
{
	NEED_PG();
	struct queue *q = *state, *q2;
	char err[256];

	assert_int_equal(test_pg_count("SELECT version FROM distd_schema"),
	    queue_pg_schema_latest());
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM distd_schema"), 1);
	/* opened again: nothing to migrate, nothing doubled */
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q2, err,
	    sizeof(err)), 0);
	queue_close(q2);
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &q2, err,
	    sizeof(err)), 0);
	queue_close(q2);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM distd_schema"), 1);
	/* a newer distd's schema is refused, not written to */
	test_pg_exec("UPDATE distd_schema SET version = 99");
	assert_int_equal(queue_open(test_pg_conninfo(), &q2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema version 99 is newer"));
	/* distctl on an empty database: no queue there yet, not a failure */
	test_pg_empty();
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q2, err,
	    sizeof(err)), QUEUE_NONE);
	assert_non_null(strstr(err, "no queue there yet"));
	(void)q;
}

static void
test_pg_refuses_password_and_hides_location(void **state)
{
	NEED_PG();
	(void)state;
	struct queue *q;
	char err[512], loc[1024];

	snprintf(loc, sizeof(loc), "%s password=s3cret", test_pg_conninfo());
	assert_int_equal(queue_open(loc, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "carries a password"));
	assert_null(strstr(err, "s3cret"));
	/* a failed connection names neither the string nor a password */
	assert_int_equal(queue_open("host=/nonexistent-distd dbname=x user=secretuser",
	    &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect to the PostgreSQL queue"));
	assert_null(strstr(err, "dbname=x"));
}

/*
 * FOR UPDATE SKIP LOCKED: rows another connection's open transaction has
 * locked (another node's take in progress) are skipped, not waited for
 * and not returned twice.
 */
static void
test_pg_take_skips_locked_rows(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[4];
	size_t n;
	char err[256];

	enqueue(q, "ssss", 6, NULL, 1000);
	test_pg_exec("BEGIN");
	test_pg_exec("SELECT id FROM recipients WHERE tier = 0 FOR UPDATE");
	assert_int_equal(queue_take(q, 1000, 4, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->n, 4);		/* 送 and 发, not the locked 报 */
	assert_string_equal(b[0]->tiers[0], "送");
	test_pg_exec("ROLLBACK");
	queue_batch_free(b[0]);
	assert_int_equal(queue_take(q, 1000, 4, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->n, 2);
	assert_string_equal(b[0]->tiers[0], "报");
	queue_batch_free(b[0]);
}

/* The change stamp moves with another connection's commit, not by itself. */
static void
test_pg_changes(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	int64_t own1, others1, own2, others2;

	assert_int_equal(queue_changes(q, &own1, &others1), 0);
	assert_int_equal(queue_changes(q, &own2, &others2), 0);
	assert_true(own1 == own2 && others1 == others2);
	test_pg_exec("INSERT INTO alerts VALUES ('x', 'y', 1, 1)");
	assert_int_equal(queue_changes(q, &own2, &others2), 0);
	assert_true(others1 != others2);
}

/*
 * Three processes, each with its own connection, take and record until
 * nothing is due: every recipient is attempted exactly once and ends
 * delivered (no batch taken twice, none lost between the takers).
 */
static int
taker(int seed)
{
	struct queue *q;
	struct queue_batch *b[4];
	size_t n;
	char err[256];
	int idle = 0;

	if (queue_open(test_pg_conninfo(), &q, err, sizeof(err)) < 0)
		return 2;
	while (idle < 3) {
		if (queue_take(q, 2000, 4, 5, b, &n, err, sizeof(err)) < 0)
			return 3;
		idle = n == 0 ? idle + 1 : 0;
		for (size_t i = 0; i < n; i++) {
			struct smtp_verdict v[5];
			struct queue_attempt a[5];
			for (size_t k = 0; k < b[i]->n; k++)
				v[k] = (struct smtp_verdict){ .outcome = SMTP_OK, .code = 250,
					.reply = "250 ok", .class = SMTP_CLASS_OK };
			char relay[16];
			snprintf(relay, sizeof(relay), "relay-%d", seed);
			if (queue_record(q, b[i], v, NULL, a, 2000, 0.01, relay, &test_pg_retry,
			    test_pg_half, err, sizeof(err)) < 0)
				return 4;
			queue_batch_free(b[i]);
		}
		if ((seed + idle) % 2)
			usleep(1000);
	}
	queue_close(q);
	return 0;
}

static void
test_pg_concurrent_takers_disjoint(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	char sha[16];
	pid_t pids[3];

	for (int i = 0; i < 20; i++) {
		snprintf(sha, sizeof(sha), "c%03d", i);
		assert_true(enqueue(q, sha, 15, NULL, 1000) > 0);
	}
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(taker(i));
	}
	for (int i = 0; i < 3; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients"), 300);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients"
	    " WHERE state = 'delivered' AND attempts = 1"), 300);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts"), 300);
	assert_int_equal(test_pg_count("SELECT COUNT(DISTINCT recipient) FROM attempts"), 300);
	print_message("takers: %ld took part\n",
	    test_pg_count("SELECT COUNT(DISTINCT relay) FROM attempts"));
}

/*
 * A role that logs in by password (pgserver.py: scram for all but the
 * superuser) reaches the queue with the password in a password file named
 * by passfile=, never in the string; without it the error shows no secret.
 */
static void
test_pg_password_from_file(void **state)
{
	NEED_PG();
	(void)state;
	char pass[] = "/tmp/distd-pgpass-XXXXXX", loc[1024], err[512];
	struct queue *q;

	test_pg_exec("DROP ROLE IF EXISTS distd_node; CREATE ROLE distd_node LOGIN PASSWORD"
	    " 'n0de-s3cret'");
	/* distd's own role owns the schema it creates and migrates */
	test_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION"
	    " distd_node");
	int fd = mkstemp(pass);
	assert_true(fd >= 0);
	const char line[] = "*:*:*:distd_node:n0de-s3cret\n";
	assert_int_equal(write(fd, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
	close(fd);
	snprintf(loc, sizeof(loc), "%s user=distd_node passfile=%s", test_pg_conninfo(), pass);
	if (queue_open(loc, &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	long counts[QUEUE_STATES];
	assert_int_equal(queue_counts(q, counts), 0);
	queue_close(q);
	/* no password file: refused by the server, and nothing secret shown */
	snprintf(loc, sizeof(loc), "%s user=distd_node passfile=/nonexistent",
	    test_pg_conninfo());
	assert_int_equal(queue_open(loc, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect to the PostgreSQL queue"));
	assert_null(strstr(err, "s3cret"));
	unlink(pass);
	test_pg_exec("DROP OWNED BY distd_node; DROP ROLE distd_node");
}

/* One daemon per node and queue: a lock file in the runtime folder. */
static void
test_pg_lock_per_node(void **state)
{
	NEED_PG();
	(void)state;
	char dir[] = "/tmp/distd-pglock-XXXXXX", err[512];
	int fd, fd2;

	assert_non_null(mkdtemp(dir));
	setenv("RUNTIME_DIRECTORY", dir, 1);
	assert_int_equal(queue_lock(test_pg_conninfo(), &fd, err, sizeof(err)), 0);
	assert_true(fd >= 0);
	assert_int_equal(queue_lock(test_pg_conninfo(), &fd2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "in use by another distd"));
	assert_null(strstr(err, "dbname"));	/* the string is not shown */
	close(fd);
	assert_int_equal(queue_lock(test_pg_conninfo(), &fd2, err, sizeof(err)), 0);
	close(fd2);
	unsetenv("RUNTIME_DIRECTORY");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- the issue row lock of distctl's changes (queue_pg_ctl.c) ---- */

static int
canceller(void)
{
	struct queue *q;
	char err[256];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0) {
		fprintf(stderr, "canceller: %s\n", err);
		return 2;
	}
	int n = queue_cancel(q, 1, NULL, 2000, err, sizeof(err));
	if (n < 0)
		fprintf(stderr, "canceller: %s\n", err);
	queue_close(q);
	return n == 2 ? 0 : 1;
}

/*
 * distctl cancels while a node records an attempt of the same issue: the
 * node holds the recipient row and distctl waits for it, holding the
 * issue row; the node's attempt refers to the issue (FOR KEY SHARE),
 * which distctl's lock must not block (FOR UPDATE there deadlocked, and
 * PostgreSQL failed one of the two).
 */
static void
test_pg_cancel_while_a_node_records(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	long waiting = 0;
	int st;

	assert_int_equal(enqueue(q, "dead", 2, NULL, 1000), 1);
	test_pg_exec("UPDATE recipients SET state = 'sending'");
	/* the node's record transaction: the recipient row first */
	test_pg_exec("BEGIN");
	test_pg_exec("UPDATE recipients SET state = 'deferred', attempts = 1 WHERE id = 1");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(canceller());
	for (int i = 0; i < 1000 && waiting == 0; i++) {
		usleep(10000);
		/* pg_locks, not pg_stat_activity: that one is read once per transaction */
		waiting = test_pg_count("SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT"
		    " granted");
	}
	/* then the attempt: without the deadlock, it does not wait */
	PGresult *res = PQexec(test_pg_admin(), "INSERT INTO attempts (recipient, issue, time,"
	    " status, attempt) VALUES (1, 1, 1500, 'deferred', 1)");
	bool inserted = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!inserted)
		print_message("the node's attempt: %s", PQerrorMessage(test_pg_admin()));
	PQclear(res);
	test_pg_exec(inserted ? "COMMIT" : "ROLLBACK");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(waiting, 1);
	assert_true(inserted);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state ="
	    " 'cancelled'"), 2);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts"), 1);
}

static int
adder(int64_t issue)
{
	struct queue *q;
	char err[256];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 2;
	int n = queue_resend_to(q, issue, NULL, "new@example.test", NULL, 2000, err,
	    sizeof(err));
	queue_close(q);
	if (n < 0 && strstr(err, "is already a recipient of issue") == NULL) {
		fprintf(stderr, "adder: %s\n", err);
		return 2;
	}
	return n == 1 ? 0 : 1;
}

/*
 * Eight distctl runs add one address to one issue at once, ten times:
 * each time one adds it and seven are refused. Without the issue row
 * lock, two or more saw no such recipient and added it (most rounds).
 */
static void
test_pg_resend_to_concurrent_adds_once(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	char sha[16], sqlbuf[160];
	pid_t pids[8];

	for (int round = 0; round < 10; round++) {
		snprintf(sha, sizeof(sha), "add%d", round);
		int64_t id = enqueue(q, sha, 1, NULL, 1000);
		int added = 0, refused = 0;
		for (int i = 0; i < 8; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0)
				_exit(adder(id));
		}
		for (int i = 0; i < 8; i++) {
			int st;
			assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
			assert_true(WIFEXITED(st));
			added += WEXITSTATUS(st) == 0;
			refused += WEXITSTATUS(st) == 1;
		}
		snprintf(sqlbuf, sizeof(sqlbuf), "SELECT COUNT(*) FROM recipients WHERE"
		    " issue = %lld AND address = 'new@example.test'", (long long)id);
		assert_int_equal(test_pg_count(sqlbuf), 1);
		assert_int_equal(added, 1);
		assert_int_equal(refused, 7);
	}
}

static int
purger(void)
{
	struct queue *q;
	struct queue_purge_cursor cur = { 0 };
	struct queue_purge_family *f;
	size_t n, deleted;
	char err[256];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 2;
	int rc = queue_purge_list(q, 100000, 50, &cur, &f, &n, err, sizeof(err));
	if (rc == 0 && n != 1)
		rc = -1;
	if (rc == 0)
		rc = queue_purge_delete(q, f, n, 100000, &deleted, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "purger: %s (%zu families)\n", err, n);
	queue_purge_families_free(f, n);
	queue_close(q);
	return rc < 0 ? 2 : deleted == 0 ? 0 : 1;
}

/*
 * A purge and the enqueue of a duplicate of the family's root, on two
 * nodes: the enqueue holds its content hash's lock (queue_pg.c's
 * S_XLOCK) from its duplicate check to its commit, and the purge takes
 * the same lock first, so it waits, then sees the new member and keeps
 * the family. Without that lock the purge deleted the root under the
 * enqueue, whose reference then failed.
 */
static void
test_pg_purge_waits_for_a_duplicate_enqueue(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	long waiting = 0;
	int st;

	assert_int_equal(enqueue(q, "root", 1, NULL, 1000), 1);
	assert_int_equal(enqueue(q, "newer", 1, NULL, 1000), 2);	/* the newest stays */
	test_pg_exec("UPDATE recipients SET state = 'delivered', attempts = 1");
	test_pg_exec("UPDATE issues SET state = 'done', finished = 1001");
	/* the enqueue's transaction, its duplicate check done: the original is 1 */
	test_pg_exec("BEGIN");
	test_pg_exec("SELECT pg_advisory_xact_lock(hashtextextended('root', 0))");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(purger());
	for (int i = 0; i < 1000 && waiting == 0; i++) {
		usleep(10000);
		waiting = test_pg_count("SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT"
		    " granted");
	}
	PGresult *res = PQexec(test_pg_admin(),
	    "INSERT INTO issues (id, kind, sha256, source, subject,"
	    " message_id, state, hold_reason, duplicate_of, received, finished) VALUES"
	    " (nextval('issue_ids'), 'bulletin', 'root', 'a.txt', 's', '', 'done',"
	    " 'duplicate content', 1, 1500, 1500)");
	bool inserted = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!inserted)
		print_message("the duplicate: %s", PQerrorMessage(test_pg_admin()));
	PQclear(res);
	test_pg_exec(inserted ? "COMMIT" : "ROLLBACK");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(waiting, 1);
	assert_true(inserted);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);	/* nothing deleted */
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues"), 3);
}

/* ---- what comes back (issue 17): schema 6, feedback keys, locks ---- */

/* n recipients delivered at 1100, the issue finished at 1200 (issue_tiers kept) */
static int64_t
delivered_issue(struct queue *q, const char *sha, size_t n)
{
	int64_t id = enqueue(q, sha, n, NULL, 1000), *rep;
	size_t nrep;
	char err[256], sql[200];

	snprintf(sql, sizeof(sql), "UPDATE recipients SET state = 'delivered', attempts = 1,"
	    " delivered = 1100 WHERE issue = %lld", (long long)id);
	test_pg_exec(sql);
	if (queue_finish(q, 1200, &rep, &nrep, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	free(rep);
	return id;
}

static int
apply_bounce(struct queue *q, const char *key, int64_t issue, const char *addr,
    struct queue_feedback_out *out)
{
	struct queue_feedback_fact f = { .address = addr, .status = "5.1.1",
		.reply = "550 5.1.1 no such user" };
	struct queue_feedback_in in = { .key = key, .kind = QUEUE_FEEDBACK_BOUNCE,
		.how = "dsn", .issue = issue, .facts = &f, .n_facts = 1, .when = 1300,
		.cursor = "imaps://imap.example.test/INBOX", .uidvalidity = 7, .uid = 3 };
	char err[256];

	if (queue_feedback_apply(q, &in, out, err, sizeof(err)) < 0) {
		print_message("feedback: %s\n", err);
		return -1;
	}
	return 0;
}

/*
 * A queue at schema 5 with a finished issue (its tiers kept) and one
 * going: this distd migrates it, the rows and counts stay, the kept
 * delivered totals stay (nobody bounced before 6), and feedback then
 * keeps them right.
 */
static void
test_pg_migration_v5_to_v6_keeps_data(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_feedback_out out;
	long before[QUEUE_STATES], after[QUEUE_STATES];
	char err[256];

	int64_t done = delivered_issue(q, "v5done", 6);
	int64_t going = enqueue(q, "v5going", 3, NULL, 1000);
	assert_int_equal(queue_counts(q, before), 0);
	queue_close(q);
	*state = NULL;
	test_pg_exec(TEST_PG_UNDO_V6);
	test_pg_exec("UPDATE distd_schema SET version = 5");
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &q, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "schema 5, this is"));
	assert_int_equal(queue_open(test_pg_conninfo(), &q, err, sizeof(err)), 0);
	*state = q;
	assert_int_equal(test_pg_count("SELECT version FROM distd_schema"), 6);
	assert_int_equal(queue_counts(q, after), 0);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients"), 9);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE receipt = 0"
	    " AND reminders = 0 AND bounced IS NULL AND confirmed IS NULL"), 9);
	assert_int_equal(test_pg_count("SELECT SUM(delivered) FROM issue_tiers"), 6);
	assert_int_equal(test_pg_count("SELECT SUM(bounced + confirmed + receipt)"
	    " FROM issue_tiers"), 0);
	/* the migrated queue takes feedback, and the kept totals follow */
	assert_int_equal(apply_bounce(q, "k-migrated", done, "R0@Example.TEST", &out), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 1);
	assert_int_equal(test_pg_count("SELECT SUM(delivered) FROM issue_tiers"), 5);
	assert_int_equal(test_pg_count("SELECT SUM(bounced) FROM issue_tiers"), 1);
	struct queue_view_status v;
	assert_int_equal(queue_view_status(q, 0, 10, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recent, 2);
	assert_int_equal(v.recent[1].id, done);
	assert_int_equal(v.recent[1].tiers[0].delivered, 1);
	assert_int_equal(v.recent[1].tiers[0].bounced, 1);
	queue_view_status_free(&v);
	(void)going;
}

/*
 * Feedback changes no state: the count triggers (schema 5) add no delta
 * and the wake-up trigger (schema 3) does not fire; the issue_tiers
 * trigger does not forget a finished issue's totals either.
 */
static void
test_pg_feedback_no_delta_no_notify(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_feedback_out out;
	char err[256];

	int64_t id = delivered_issue(q, "quiet", 3);
	test_pg_exec("LISTEN distd_work");
	while (PQconsumeInput(test_pg_admin()) && PQnotifies(test_pg_admin()) != NULL)
		;
	long deltas = test_pg_count("SELECT COUNT(*) FROM recipient_count_deltas");
	assert_int_equal(apply_bounce(q, "quiet-1", id, "r1@example.test", &out), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	struct queue_feedback_fact f = { .address = "r2@example.test", .reply = "displayed" };
	struct queue_feedback_in in = { .key = "quiet-2", .kind = QUEUE_FEEDBACK_CONFIRM,
		.how = "mdn", .issue = id, .facts = &f, .n_facts = 1, .when = 1400 };
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipient_count_deltas"), deltas);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issue_tiers"), 3);
	assert_int_equal(PQconsumeInput(test_pg_admin()), 1);
	PGnotify *n = PQnotifies(test_pg_admin());
	assert_null(n);
	test_pg_exec("UNLISTEN distd_work");
}

static int
applier(int64_t issue)
{
	struct queue *q;
	struct queue_feedback_out out;
	char err[256];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 3;
	int rc = apply_bounce(q, "same-message", issue, "r0@example.test", &out);
	queue_close(q);
	return rc < 0 ? 3 : out.result == QUEUE_FEEDBACK_APPLIED ? 0 :
	    out.result == QUEUE_FEEDBACK_SEEN ? 1 : 2;
}

/*
 * Two nodes read one mailbox and apply the same message at once: both
 * are made to wait at the issue row (a distctl change holds it), so that
 * both are inside feedback_apply together; when it is let go, one
 * applies it and the other finds its key: one history row, one bounce.
 */
static void
test_pg_feedback_same_key_two_nodes(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	pid_t pids[2];
	int applied = 0, seen = 0;
	long waiting = 0;
	char sql[160];

	int64_t id = delivered_issue(q, "twice", 2);
	test_pg_exec("BEGIN");
	snprintf(sql, sizeof(sql), "SELECT id FROM issues WHERE id = %lld FOR NO KEY UPDATE",
	    (long long)id);
	test_pg_exec(sql);
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(applier(id));
	}
	/* both wait: one for the issue row, the other for the first's key */
	for (int i = 0; i < 1000 && waiting < 2; i++) {
		usleep(10000);
		waiting = test_pg_count("SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT"
		    " granted");
	}
	test_pg_exec("COMMIT");
	for (int i = 0; i < 2; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		applied += WEXITSTATUS(st) == 0;
		seen += WEXITSTATUS(st) == 1;
	}
	assert_int_equal(waiting, 2);
	assert_int_equal(applied, 1);
	assert_int_equal(seen, 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts WHERE status ="
	    " 'bounced'"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE bounced"
	    " IS NOT NULL"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM feedback"), 1);
	assert_int_equal(test_pg_count("SELECT uid FROM feedback_cursors"), 3);
}

static char *
test_pg_text(const char *sql)
{
	PGresult *res = PQexec(test_pg_admin(), sql);
	char *t = NULL;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		t = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (t == NULL)
		fail_msg("%s: no text", sql);
	return t;
}

/*
 * The whole meaning on this backend, until the shared suite
 * (test_queue_feedback) runs here: results, the history, the kept
 * totals, the filters, the bounced notice, reminders, resend.
 */
static void
test_pg_feedback_meaning(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_feedback_out out;
	struct queue_view_issue vi;
	struct queue_view_filter filt = { 0 };
	char err[256], sql[256];
	uint32_t validity, uid;

	int64_t id = enqueue(q, "meaning", 6, NULL, 1000);
	test_pg_exec("UPDATE recipients SET receipt = 1 WHERE tier = 0");	/* r0, r3 */
	test_pg_exec("UPDATE recipients SET state = 'delivered', attempts = 1, delivered = 1100");
	int64_t *rep;
	size_t nrep;
	assert_int_equal(queue_finish(q, 1200, &rep, &nrep, err, sizeof(err)), 0);
	free(rep);
	char *mid = test_pg_text("SELECT message_id FROM issues WHERE id = 1");
	const char *wrong[] = { "distd.1.0000@elsewhere.test" };
	const char *right[] = { "unrelated@x.test", mid };
	struct queue_feedback_fact f = { .address = "R0@example.TEST", .status = "5.1.1",
		.reply = "550 5.1.1 no such user" };
	struct queue_feedback_in in = { .key = "k1", .kind = QUEUE_FEEDBACK_BOUNCE,
		.how = "dsn", .issue = id, .message_ids = wrong, .n_message_ids = 1,
		.facts = &f, .n_facts = 1, .when = 1300, .cursor = "c", .uidvalidity = 9,
		.uid = 3 };

	assert_int_equal(queue_feedback_cursor(q, "c", &validity, &uid, err, sizeof(err)), 1);
	/* ids that disagree: not believed; the cursor passes it, the key is not kept */
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_NO_ISSUE);
	assert_int_equal(queue_feedback_cursor(q, "c", &validity, &uid, err, sizeof(err)), 0);
	assert_int_equal(validity, 9);
	assert_int_equal(uid, 3);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM feedback"), 0);
	/* nobody of the issue */
	in.message_ids = right;
	in.n_message_ids = 2;
	f.address = "nobody@example.test";
	in.uid = 4;
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_NO_RECIPIENT);
	assert_int_equal(out.issue, id);
	assert_int_equal(out.unmatched, 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM feedback"), 0);
	/* the alternative address names r0 (case aside): applied, once */
	f.alt_address = "R0@example.TEST";
	in.uid = 5;
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 1);
	assert_int_equal(out.unmatched, 0);
	in.uid = 2;	/* an older UID stored later does not send the cursor back */
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_SEEN);
	assert_int_equal(out.issue, id);
	assert_int_equal(queue_feedback_cursor(q, "c", &validity, &uid, err, sizeof(err)), 0);
	assert_int_equal(uid, 5);
	assert_int_equal(queue_feedback_cursor_set(q, "c", 10, 0, err, sizeof(err)), 0);
	assert_int_equal(queue_feedback_cursor(q, "c", &validity, &uid, err, sizeof(err)), 0);
	assert_int_equal(validity, 10);
	assert_int_equal(uid, 0);
	/* a second bounce of r0: history only, the first stands */
	in.key = "k2";
	f.status = "5.2.2";
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts WHERE status = 'bounced'"
	    " AND recipient = 1 AND dsn IS NOT NULL AND class IS NULL"), 2);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE"
	    " bounce_status = '5.1.1' AND bounced = 1300 AND state = 'delivered'"), 1);
	/* r3 confirms by MDN */
	struct queue_feedback_fact c = { .address = "r3@example.test", .reply = "displayed" };
	struct queue_feedback_in ci = { .key = "k3", .kind = QUEUE_FEEDBACK_CONFIRM,
		.how = "mdn", .issue = id, .facts = &c, .n_facts = 1, .when = 1400 };
	assert_int_equal(queue_feedback_apply(q, &ci, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts WHERE status ="
	    " 'confirmed' AND reply = 'mdn: displayed'"), 1);
	/* the kept totals of tier 报 (r0, r3) */
	struct queue_view_status st;
	assert_int_equal(queue_view_status(q, 0, 10, &st, err, sizeof(err)), 0);
	assert_int_equal(st.n_recent, 1);
	assert_string_equal(st.recent[0].tiers[0].tier, "报");
	assert_int_equal(st.recent[0].tiers[0].total, 2);
	assert_int_equal(st.recent[0].tiers[0].delivered, 1);
	assert_int_equal(st.recent[0].tiers[0].bounced, 1);
	assert_int_equal(st.recent[0].tiers[0].confirmed, 1);
	assert_int_equal(st.recent[0].tiers[0].receipt, 2);
	assert_int_equal(st.recent[0].tiers[1].delivered, 2);
	queue_view_status_free(&st);
	/* counted the same while the issue is open again (nothing kept) */
	test_pg_exec("UPDATE issues SET state = 'active' WHERE id = 1");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issue_tiers"), 0);
	assert_int_equal(queue_view_status(q, 0, 10, &st, err, sizeof(err)), 0);
	assert_int_equal(st.recent[0].tiers[0].delivered, 1);
	assert_int_equal(st.recent[0].tiers[0].bounced, 1);
	assert_int_equal(st.recent[0].tiers[0].confirmed, 1);
	assert_int_equal(st.recent[0].tiers[0].receipt, 2);
	queue_view_status_free(&st);
	test_pg_exec("UPDATE issues SET state = 'done' WHERE id = 1");
	/* who has not got it, who has not confirmed */
	filt.pending = true;
	assert_int_equal(queue_view_issue(q, id, &filt, &vi, err, sizeof(err)), 0);
	assert_int_equal(vi.n_recipients, 1);
	assert_string_equal(vi.recipients[0].address, "r0@example.test");
	assert_int_equal(vi.recipients[0].bounced, 1300);
	assert_string_equal(vi.recipients[0].bounce_status, "5.1.1");
	assert_true(vi.recipients[0].receipt);
	queue_view_issue_free(&vi);
	filt.pending = false;
	filt.unconfirmed = true;
	assert_int_equal(queue_view_issue(q, id, &filt, &vi, err, sizeof(err)), 0);
	assert_int_equal(vi.n_recipients, 1);
	assert_string_equal(vi.recipients[0].address, "r0@example.test");
	queue_view_issue_free(&vi);
	/* the bounced notice, keyed by the highest bounced id */
	struct queue_notice_due *d;
	size_t nd;
	assert_int_equal(queue_notices_due(q, &d, &nd, err, sizeof(err)), 0);
	assert_int_equal(nd, 1);
	assert_int_equal(d[0].cause, QUEUE_NOTICE_BOUNCED);
	/* keyed by the history row of the bounce that counted (the first) */
	snprintf(sql, sizeof(sql), "bounced:1:%ld", test_pg_count("SELECT MIN(id) FROM"
	    " attempts WHERE status = 'bounced'"));
	assert_string_equal(d[0].key, sql);
	assert_int_equal(d[0].issue, id);
	assert_string_equal(d[0].reason, "报 单位 <r0@example.test>: 5.1.1 550 5.1.1 no such user\n");
	queue_notices_due_free(d, nd);
	/* a reminder to r0: counted on the bulletin's row, in its history */
	struct queue_recipient_in rr = { 0, "报", "to", "单位", "报:单位", "单位", "单位",
		"R0@EXAMPLE.test", true };
	struct queue_issue_in ri = { .sha256 = "remind", .source = "distctl",
		.kind = QUEUE_KIND_REMINDER, .subject = "请确认收到", .issue_no = -1,
		.total_issue_no = -1, .received = 1500, .notice_for = id };
	int64_t rid, dup;
	assert_int_equal(queue_enqueue(q, &ri, &rr, 1, "example.test", test_pg_render_ok,
	    NULL, &rid, &dup, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT reminders FROM recipients WHERE id = 1"), 1);
	assert_int_equal(test_pg_count("SELECT last_reminded FROM recipients WHERE id = 1"),
	    1500);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM attempts WHERE status = 'reminded'"
	    " AND recipient = 1 AND reply = 'reminder issue %lld'", (long long)rid);
	assert_int_equal(test_pg_count(sql), 1);
	assert_int_equal(test_pg_count("SELECT SUM(reminders) FROM recipients"), 1);
	snprintf(sql, sizeof(sql), "SELECT receipt FROM recipients WHERE issue = %lld",
	    (long long)rid);
	assert_int_equal(test_pg_count(sql), 1);	/* commit stores receipt */
	/* a reply to the reminder confirms on the bulletin */
	c.address = "r0@example.test";
	c.reply = "Re: 请确认收到";
	ci.key = "k4";
	ci.how = "reply";
	ci.issue = rid;
	assert_int_equal(queue_feedback_apply(q, &ci, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.issue, id);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE id = 1 AND"
	    " confirmed = 1400 AND confirmed_by = 'reply'"), 1);
	/* the record carries it all */
	struct queue_record *rec;
	assert_int_equal(queue_record_read(q, id, &rec, err, sizeof(err)), 0);
	assert_int_equal(rec->recipients[0].bounced, 1300);
	assert_string_equal(rec->recipients[0].bounce_reply, "550 5.1.1 no such user");
	assert_true(rec->recipients[0].receipt);
	assert_int_equal(rec->recipients[0].confirmed, 1400);
	assert_string_equal(rec->recipients[0].confirmed_by, "reply");
	assert_int_equal(rec->recipients[0].reminders, 1);
	assert_int_equal(rec->recipients[0].last_reminded, 1500);
	queue_record_free(rec);
	/* the log reads the new words */
	struct queue_view_attempt *a;
	size_t na;
	assert_int_equal(queue_view_attempts(q, 0, 100, id, &a, &na, err, sizeof(err)), 0);
	assert_int_equal(na, 5);	/* 2 bounced, 2 confirmed, 1 reminded */
	queue_view_attempts_free(a, na);
	/* sent again: the bounce goes, the confirmation stays */
	assert_int_equal(queue_resend(q, id, NULL, "r0@example.test", 1600, err,
	    sizeof(err)), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE id = 1 AND"
	    " bounced IS NULL AND bounce_status IS NULL AND bounce_reply IS NULL"
	    " AND confirmed = 1400"), 1);
	free(mid);
}

int
main(void)
{
	if (test_pg_start("test_queue_pg:") < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pg_schema_created_and_versioned,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_refuses_password_and_hides_location,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_take_skips_locked_rows,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_changes,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_concurrent_takers_disjoint,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_password_from_file,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_lock_per_node,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_cancel_while_a_node_records,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_resend_to_concurrent_adds_once,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_purge_waits_for_a_duplicate_enqueue,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_migration_v5_to_v6_keeps_data,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_feedback_no_delta_no_notify,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_feedback_same_key_two_nodes,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_feedback_meaning,
		    test_pg_setup, test_pg_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_pg_stop();
	return rc;
}
