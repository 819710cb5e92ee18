/*
 * The PostgreSQL queue when two connections meet (issue 16): a node's
 * finish or record against distctl's resend or cancel of the same issue,
 * each race made deterministic: the test's own connection (admin) holds
 * distctl's transaction open at the point where the race happens, a
 * forked child runs the node's op on a queue handle of its own, and the
 * test commits once the child waits for a lock (or has returned without
 * waiting). Also the order of an issue's attachments, which the server
 * must keep whatever it does to the table's physical order, and across
 * the migration that gave the table its order column (schema 4).
 *
 * DISTD_TEST_PG is a libpq connection string to a throw-away database
 * (the Makefile's `unit` target runs this under tests/integration/
 * pgserver.py); unset, every test skips and says why. The database is
 * emptied (schema public dropped) before each test.
 */
#include "testutil.h"
#include "testpg.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"
#include "queue_private.h"

/* n recipients, tier 报 (even) and 送 (odd), and the attachments named in atts */
static int64_t
enqueue(struct queue *q, const char *sha, size_t n, const char *const *atts)
{
	struct queue_recipient_in r[8];
	struct attachment a[8];
	char addr[8][32];
	size_t na = 0;
	int64_t id, dup;
	char err[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%zu@example.test", i);
		r[i] = (struct queue_recipient_in){ (int)(i % 2), i % 2 == 0 ? "报" : "送",
		    "to", "单位", "报:单位", "单位", "单位", addr[i], false };
	}
	/* each attachment's bytes say its name: a mix-up of data shows */
	for (; atts && atts[na]; na++)
		a[na] = (struct attachment){ atts[na], atts[na], strlen(atts[na]) };
	struct queue_issue_in in = { .sha256 = sha, .source = "a", .kind = QUEUE_KIND_BULLETIN,
		.title = "简报", .subject = "简报 第1期", .issue_no = 1, .total_issue_no = -1,
		.received = 1000, .attachments = a, .n_attachments = na };
	if (queue_enqueue(q, &in, r, n, "example.test", test_pg_render_ok, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(dup, 0);
	return id;
}

/*
 * Forks child(); returns once the child waits for a lock (true) or has
 * ended without waiting (false, *st its status). Bounded: 10 s.
 */
static bool
start(int (*child)(void), pid_t *pid, int *st, bool *ended)
{
	*ended = false;
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0)
		_exit(child());
	for (int i = 0; i < 1000; i++) {
		/* pg_locks, not pg_stat_activity: that one is read once per transaction */
		if (test_pg_count("SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT"
		    " granted") > 0)
			return true;
		if (waitpid(*pid, st, WNOHANG) == *pid) {
			*ended = true;
			return false;
		}
		usleep(10000);
	}
	return false;
}

/* The child's status once it ends (now, if it has not yet). */
static int
finish_child(pid_t pid, int st, bool ended)
{
	if (!ended)
		assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* ---- finish and resend ----------------------------------------------------- */

/* A node's finish at 2000: 0, or 1 when it reported something, 2 on failure. */
static int
finisher(void)
{
	struct queue *q;
	int64_t *report;
	size_t n;
	char err[256];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 2;
	int rc = queue_finish(q, 2000, &report, &n, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "finisher: %s\n", err);
	free(report);
	queue_close(q);
	return rc < 0 ? 2 : n > 0;
}

/* queue_pg_resend's statements on issue 1, up to its COMMIT: the issue row first */
static void
resend_open(void)
{
	test_pg_exec("BEGIN");
	test_pg_exec("SELECT state FROM issues WHERE id = 1 FOR NO KEY UPDATE");
	test_pg_exec("INSERT INTO attempts (recipient, issue, time, status, reply, attempt)"
	    " SELECT id, issue, 1500, 'resend', 'resend requested with distctl', attempts"
	    " FROM recipients WHERE issue = 1 AND state IN ('delivered','failed')");
	test_pg_exec("UPDATE recipients SET state = 'queued', next_attempt = 1500, delivered ="
	    " NULL"
	    " WHERE issue = 1 AND state IN ('delivered','failed')");
	test_pg_exec("UPDATE issues SET state = 'active', finished = NULL, reported = 0,"
	    " hold_reason = NULL WHERE id = 1");
}

/*
 * The issue's recipient is delivered and the issue not finished yet when
 * distctl resends it: the resend holds the issue row, its recipient is
 * queued again, not committed. A finish now must not mark the issue
 * done. Before the fix the finish waited for the row, and once the
 * resend committed PostgreSQL rechecked the issue row but not the
 * recipients (the statement's snapshot is older than the resend): the
 * issue was done with a queued recipient that nothing ever took.
 */
static void
test_pg_finish_does_not_close_a_resent_issue(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[1];
	int64_t *report;
	size_t n;
	pid_t pid;
	int st = 0;
	bool ended;
	char err[256];

	assert_int_equal(enqueue(q, "fin1", 1, NULL), 1);
	test_pg_exec("UPDATE recipients SET state = 'delivered', attempts = 1, delivered ="
	    " 1001");
	resend_open();
	bool waited = start(finisher, &pid, &st, &ended);
	test_pg_exec("COMMIT");
	assert_int_equal(finish_child(pid, st, ended), 0);
	if (waited)
		print_message("the finish waited for the resend's lock\n");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state ="
	    " 'queued'"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE id = 1 AND state ="
	    " 'active'"
	    " AND finished IS NULL"), 1);
	/* the next finish sees the resend: nothing to finish */
	assert_int_equal(queue_finish(q, 2001, &report, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(report);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'active'"),
	    1);
	/* and the resent recipient goes out */
	assert_int_equal(queue_take(q, 2001, 1, 3, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(b[0]->addresses[0], "r0@example.test");
	queue_batch_free(b[0]);
}

/*
 * The other order: the finish comes first and the resend after it, on a
 * finished issue. The issue reopens, nothing is lost.
 */
static void
test_pg_resend_after_finish_reopens(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	int64_t *report;
	size_t n;
	char err[256];

	assert_int_equal(enqueue(q, "fin2", 2, NULL), 1);
	test_pg_exec("UPDATE recipients SET state = 'delivered', attempts = 1, delivered ="
	    " 1001");
	assert_int_equal(queue_finish(q, 2000, &report, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(report);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'done'"
	    " AND finished = 2000"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issue_tiers WHERE issue = 1"), 2);
	assert_int_equal(queue_resend(q, 1, NULL, "r1@example.test", 2001, err,
	    sizeof(err)), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'active'"),
	    1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issue_tiers"), 0);
	assert_int_equal(queue_finish(q, 2002, &report, &n, err, sizeof(err)), 0);
	free(report);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'active'"),
	    1);
}

/*
 * An issue another transaction holds (a distctl op deciding on it) is
 * not waited for: the finish leaves it, finishes the others, reports
 * what it reported before (a finished bulletin with a failed recipient,
 * once; none without); the next finish after the lock ends takes the
 * skipped issue.
 */
static void
test_pg_finish_skips_a_locked_issue_and_reports_the_same(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	int64_t *report;
	size_t n;
	pid_t pid;
	int st = 0;
	bool ended;
	char err[256];

	assert_int_equal(enqueue(q, "skp1", 2, NULL), 1);	/* one failed: reported */
	assert_int_equal(enqueue(q, "skp2", 2, NULL), 2);	/* all delivered: settled */
	assert_int_equal(enqueue(q, "skp3", 2, NULL), 3);	/* one failed, locked */
	assert_int_equal(enqueue(q, "skp4", 2, NULL), 4);	/* still queued */
	test_pg_exec("UPDATE recipients SET state = 'delivered', attempts = 1 WHERE issue < 4");
	test_pg_exec("UPDATE recipients SET state = 'failed' WHERE issue IN (1, 3) AND tier ="
	    " 1");
	test_pg_exec("BEGIN");
	test_pg_exec("SELECT 1 FROM issues WHERE id = 3 FOR NO KEY UPDATE");
	bool waited = start(finisher, &pid, &st, &ended);
	test_pg_exec("COMMIT");
	int rc = finish_child(pid, st, ended);
	assert_false(waited);
	assert_int_equal(rc, 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'done'"
	    " AND finished = 2000"), 2);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'active'"),
	    2);
	assert_int_equal(test_pg_count("SELECT reported FROM issues WHERE id = 2"), 2);
	assert_int_equal(test_pg_count("SELECT reported FROM issues WHERE id = 1"), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(DISTINCT issue) FROM issue_tiers"), 2);
	/* issue 1 is still to be reported (its report not enqueued yet), 3 now too */
	assert_int_equal(queue_finish(q, 2001, &report, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(report[0], 1);
	assert_int_equal(report[1], 3);
	free(report);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'done'"
	    " AND finished = 2001 AND id = 3"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issue_tiers WHERE issue = 3"), 2);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'active'"),
	    1);
}

/* ---- record and cancel ----------------------------------------------------- */

static struct queue_batch *taken;	/* the child's batch: taken before the fork */

/* A node records 451 for the batch taken: 0, 2 on failure. */
static int
recorder(void)
{
	struct queue *q;
	struct queue_attempt a[8];
	struct smtp_verdict v[8];
	char err[256];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 2;
	for (size_t i = 0; i < taken->n; i++)
		v[i] = (struct smtp_verdict){ .outcome = SMTP_TEMP, .code = 451,
		    .reply = "451 later", .class = SMTP_CLASS_4XX };
	int rc = queue_record(q, taken, v, NULL, a, 1001, 0.1, "relay:465", &test_pg_retry,
	    test_pg_half, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "recorder: %s\n", err);
	queue_close(q);
	return rc < 0 ? 2 : 0;
}

/*
 * distctl cancel --tier 报 while a node records a temporary failure of
 * that tier's recipient: the cancel holds the issue row and has changed
 * the recipient, not committed. The record must see the cancel and keep
 * the recipient cancelled. Before the fix it read the state before the
 * cancel (no lock), decided `deferred`, waited for the recipient row,
 * and wrote `deferred` over the committed cancel: retried later.
 */
static void
test_pg_record_keeps_a_concurrent_tier_cancel(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[2];
	size_t n;
	pid_t pid;
	int st = 0;
	bool ended;
	char err[256];

	assert_int_equal(enqueue(q, "rec1", 2, NULL), 1);
	assert_int_equal(queue_take(q, 1000, 1, 1, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(b[0]->tiers[0], "报");
	taken = b[0];
	/* queue_pg_cancel's statements, tier 报, up to its COMMIT */
	test_pg_exec("BEGIN");
	test_pg_exec("SELECT state FROM issues WHERE id = 1 FOR NO KEY UPDATE");
	test_pg_exec("UPDATE recipients SET state = 'cancelled' WHERE issue = 1"
	    " AND state IN ('queued','deferred','held','sending') AND tier_keyword = '报'");
	bool waited = start(recorder, &pid, &st, &ended);
	test_pg_exec("COMMIT");
	assert_int_equal(finish_child(pid, st, ended), 0);
	assert_true(waited);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE id = 1"
	    " AND state = 'cancelled' AND node IS NULL"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE id = 2"
	    " AND state = 'queued'"), 1);
	/* the transfer happened: it is in the history all the same */
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts WHERE recipient = 1"), 1);
	assert_int_equal(queue_take(q, 5000, 2, 2, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(b[0]->tiers[0], "送");
	queue_batch_free(b[0]);
	queue_batch_free(taken);
	taken = NULL;
}

/*
 * A whole-issue cancel against a node recording batches of two issues
 * (the cancelled one second in the node's list, first in id order): the
 * node waits for the cancel, then records both; the cancelled issue's
 * recipient stays cancelled, the other issue's is deferred. No deadlock.
 */
static struct queue_batch *taken2;

static int
recorder2(void)
{
	struct queue *q;
	struct queue_attempt a[2][1];
	struct smtp_verdict v[2][1];
	char err[256];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 2;
	for (int i = 0; i < 2; i++)
		v[i][0] = (struct smtp_verdict){ .outcome = SMTP_TEMP, .code = 451,
		    .reply = "451 later", .class = SMTP_CLASS_4XX };
	/* one transaction, issue 2's batch first: the locks go in the ids' order */
	struct queue_record_in in[2] = {
		{ taken2, v[0], NULL, a[0], 1001, 0.1, "relay:465", 0 },
		{ taken, v[1], NULL, a[1], 1001, 0.1, "relay:465", 0 },
	};
	int rc = queue_record_many(q, in, 2, &test_pg_retry, test_pg_half, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "recorder: %s\n", err);
	queue_close(q);
	return rc < 0 ? 2 : 0;
}

static void
test_pg_record_waits_for_a_whole_cancel(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[2];
	size_t n;
	pid_t pid;
	int st = 0;
	bool ended;
	char err[256];

	assert_int_equal(enqueue(q, "rec2", 1, NULL), 1);
	assert_int_equal(enqueue(q, "rec3", 1, NULL), 2);
	assert_int_equal(queue_take(q, 1000, 2, 1, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	taken = b[0];
	taken2 = b[1];
	assert_int_equal(taken2->issue, 2);
	test_pg_exec("BEGIN");
	test_pg_exec("SELECT state FROM issues WHERE id = 1 FOR NO KEY UPDATE");
	test_pg_exec("UPDATE recipients SET state = 'cancelled' WHERE issue = 1"
	    " AND state IN ('queued','deferred','held','sending')");
	test_pg_exec("UPDATE issues SET state = 'cancelled', finished = 1000 WHERE id = 1");
	bool waited = start(recorder2, &pid, &st, &ended);
	test_pg_exec("COMMIT");
	assert_int_equal(finish_child(pid, st, ended), 0);
	assert_true(waited);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE issue = 1"
	    " AND state = 'cancelled'"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE issue = 2"
	    " AND state = 'deferred' AND attempts = 1"), 1);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts"), 2);
	queue_batch_free(taken);
	queue_batch_free(taken2);
	taken = taken2 = NULL;
}

/* ---- attachments in order -------------------------------------------------- */

static void
assert_attachments(struct queue *q, int64_t issue, const char *const *want)
{
	struct queue_source src;
	char err[256];
	size_t n = 0;

	assert_int_equal(queue_load_source(q, issue, &src, err, sizeof(err)), 0);
	while (want[n])
		n++;
	for (size_t i = 0; i < src.n_attachments && i < n; i++)
		if (strcmp(src.attachments[i].name, want[i]) != 0)
			print_message("issue %lld attachment %zu: %s, want %s\n",
			    (long long)issue, i, src.attachments[i].name, want[i]);
	assert_int_equal(src.n_attachments, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(src.attachments[i].name, want[i]);
		assert_int_equal(src.attachments[i].len, strlen(want[i]));
		assert_memory_equal(src.attachments[i].data, want[i], strlen(want[i]));
	}
	queue_source_free(&src);
}

/*
 * The attachments come back in the order given, not in the table's
 * physical order: a row moved (an UPDATE writes a new version elsewhere;
 * space freed by a purge and VACUUM is filled again) once came back
 * last.
 */
static void
test_pg_attachments_in_the_order_given(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	static const char *const one[] = { "说明.txt", "c.pdf", "a.pdf", "e.pdf", "b.pdf",
		NULL };
	static const char *const two[] = { "z.doc", "y.doc", NULL };

	assert_int_equal(enqueue(q, "att1", 1, one), 1);
	assert_int_equal(enqueue(q, "att2", 1, two), 2);
	assert_attachments(q, 1, one);
	/* the first row moves to the end of the heap */
	test_pg_exec("UPDATE attachments SET data = data WHERE name = '说明.txt'");
	test_pg_exec("UPDATE attachments SET data = data WHERE name = 'z.doc'");
	assert_attachments(q, 1, one);
	assert_attachments(q, 2, two);
	/* VACUUM FULL rewrites the table in its own order */
	test_pg_exec("VACUUM FULL attachments");
	assert_attachments(q, 1, one);
	assert_attachments(q, 2, two);
}

/*
 * A queue at schema 3 (attachments without an order column) with
 * issues in it: opened by this distd, it is migrated, and the
 * attachments keep their order (the rows' physical order, the order of
 * their insertion as nothing moved them); those enqueued after the
 * migration come after, in theirs.
 */
static void
test_pg_attachments_order_after_migration(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	static const char *const one[] = { "c.pdf", "a.pdf", "b.pdf", NULL };
	static const char *const two[] = { "二.txt", "一.txt", NULL };
	static const char *const three[] = { "x", "w", "v", "u", NULL };
	char err[256], want[64];

	assert_true(queue_pg_schema_latest() >= 4);
	assert_int_equal(enqueue(q, "mig1", 1, one), 1);
	assert_int_equal(enqueue(q, "mig2", 2, two), 2);
	assert_int_equal(enqueue(q, "mig3", 1, NULL), 3);
	/* back to schema 3 as version 3 left it (without schema 5's counts and 6's
	 * feedback too) */
	test_pg_exec(TEST_PG_UNDO_V6);
	test_pg_exec("ALTER TABLE attachments DROP COLUMN position;"
	    " CREATE INDEX attachments_issue ON attachments(issue);"
	    " DROP TABLE recipient_count_deltas;"
	    " DROP FUNCTION recipient_count_insert(), recipient_count_update(),"
	    "  recipient_count_delete(), recipient_count_truncate() CASCADE;"
	    " UPDATE distd_schema SET version = 3");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM pg_indexes"
	    " WHERE tablename = 'attachments'"), 1);
	queue_close(q);
	*state = NULL;
	/* distctl does not write: it asks for the upgrade */
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &q, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "schema 3, this is %d", queue_pg_schema_latest());
	assert_non_null(strstr(err, want));
	assert_int_equal(queue_open(test_pg_conninfo(), &q, err, sizeof(err)), 0);
	*state = q;
	assert_int_equal(test_pg_count("SELECT version FROM distd_schema"),
	    queue_pg_schema_latest());
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attachments WHERE position IS"
	    " NULL"), 0);
	assert_attachments(q, 1, one);
	assert_attachments(q, 2, two);
	assert_attachments(q, 3, (const char *const[]){ NULL });
	assert_int_equal(enqueue(q, "mig4", 1, three), 4);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attachments a WHERE a.issue = 4"
	    " AND a.position <= (SELECT MAX(position) FROM attachments WHERE issue < 4)"), 0);
	test_pg_exec("UPDATE attachments SET data = data WHERE name IN ('c.pdf', 'x')");
	assert_attachments(q, 1, one);
	assert_attachments(q, 4, three);
	/* a distctl run opens the migrated queue */
	struct queue *ro;
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &ro, err,
	    sizeof(err)), 0);
	assert_attachments(ro, 4, three);
	queue_close(ro);
}

int
main(void)
{
	if (test_pg_start("test_queue_pg_concurrency:") < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pg_finish_does_not_close_a_resent_issue,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_resend_after_finish_reopens,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_finish_skips_a_locked_issue_and_reports_the_same,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_record_keeps_a_concurrent_tier_cancel,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_record_waits_for_a_whole_cancel,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_attachments_in_the_order_given,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_attachments_order_after_migration,
		    test_pg_setup, test_pg_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_pg_stop();
	return rc;
}
