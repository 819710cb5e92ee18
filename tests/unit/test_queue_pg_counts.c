/*
 * The PostgreSQL queue's counts (queue_counts: distctl status, the
 * daemon's status), kept as deltas by triggers since schema 5 (issue 16):
 * after every kind of change they equal a COUNT(*) of the rows (those not
 * replaced by a correction), also while two nodes write at once and fold
 * the deltas between each other's statements, and after the migration of
 * a queue that has rows.
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

/* n recipients, tier 报 (even) and 送 (odd), received at 1000; the id */
static int64_t
enqueue_on(struct queue *q, const char *sha, size_t n, const char *hold)
{
	struct queue_recipient_in *r = calloc(n, sizeof(*r));
	char (*addr)[32] = calloc(n, sizeof(*addr));
	int64_t id, dup;
	char err[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%zu@example.test", i);
		r[i] = (struct queue_recipient_in){ (int)(i % 2), i % 2 == 0 ? "报" : "送",
		    "to", "单位", "报:单位", "单位", "单位", addr[i], false };
	}
	struct queue_issue_in in = { .sha256 = sha, .source = "a", .kind = QUEUE_KIND_BULLETIN,
		.title = "简报", .subject = "简报 第1期", .issue_no = 1, .total_issue_no = -1,
		.received = 1000, .hold_reason = hold };
	int rc = queue_enqueue(q, &in, r, n, "example.test", test_pg_render_ok, NULL, &id, &dup,
	    err, sizeof(err));
	free(r);
	free(addr);
	if (rc < 0)
		fail_msg("%s", err);
	assert_int_equal(dup, 0);
	return id;
}

/* The truth, per state, in one snapshot: COUNT(*) of the rows not replaced. */
static void
truth(long want[QUEUE_STATES])
{
	PGresult *res = PQexec(test_pg_admin(), "SELECT state, COUNT(*) FROM recipients"
	    " WHERE replaced_by IS NULL GROUP BY state");

	memset(want, 0, sizeof(long) * QUEUE_STATES);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("truth: %s", PQerrorMessage(test_pg_admin()));
	for (int r = 0; r < PQntuples(res); r++) {
		enum queue_state s;
		assert_int_equal(queue_state_parse(PQgetvalue(res, r, 0), &s), 0);
		want[s] = strtol(PQgetvalue(res, r, 1), NULL, 10);
	}
	PQclear(res);
}

/* queue_counts equals the truth, state by state (nothing writes meanwhile) */
#define assert_counts(q, what) assert_counts_at((q), (what), __LINE__)
static void
assert_counts_at(struct queue *q, const char *what, int line)
{
	long got[QUEUE_STATES], want[QUEUE_STATES];
	bool same = true;

	assert_int_equal(queue_counts(q, got), 0);
	truth(want);
	for (int i = 0; i < QUEUE_STATES; i++)
		if (got[i] != want[i]) {
			print_message("line %d, after %s: %s counted %ld, COUNT(*) %ld\n", line,
			    what, queue_state_names[i], got[i], want[i]);
			same = false;
		}
	assert_true(same);
}

/* All verdicts of b: OK, temporary, permanent by position (i % 3). */
static void
record_mixed(struct queue *q, struct queue_batch *b, int64_t now)
{
	struct smtp_verdict *v = calloc(b->n, sizeof(*v));
	struct queue_attempt *a = calloc(b->n, sizeof(*a));
	char err[256];

	for (size_t i = 0; i < b->n; i++)
		v[i] = i % 3 == 0 ? (struct smtp_verdict){ .outcome = SMTP_OK, .code = 250,
		    .reply = "250 ok", .class = SMTP_CLASS_OK } :
		    i % 3 == 1 ? (struct smtp_verdict){ .outcome = SMTP_TEMP, .code = 451,
		    .reply = "451 later", .class = SMTP_CLASS_4XX } :
		    (struct smtp_verdict){ .outcome = SMTP_PERM, .code = 550,
		    .reply = "550 no", .class = SMTP_CLASS_5XX };
	if (queue_record(q, b, v, NULL, a, now, 0.1, "relay:465", &test_pg_retry, test_pg_half,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	free(v);
	free(a);
}

/* All of b delivered. */
static void
record_ok(struct queue *q, struct queue_batch *b, int64_t now)
{
	struct smtp_verdict *v = calloc(b->n, sizeof(*v));
	struct queue_attempt *a = calloc(b->n, sizeof(*a));
	char err[256];

	for (size_t i = 0; i < b->n; i++)
		v[i] = (struct smtp_verdict){ .outcome = SMTP_OK, .code = 250,
		    .reply = "250 ok", .class = SMTP_CLASS_OK };
	if (queue_record(q, b, v, NULL, a, now, 0.1, "relay:465", &test_pg_retry, test_pg_half,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	free(v);
	free(a);
}

/* ---- each kind of change ----------------------------------------------------- */

/*
 * Intake, take, record, release, hold and release, cancel (a tier, an
 * issue), retry, resend, a correction (the replaced row leaves the
 * counts), finish and purge: after each, the counts are the rows'.
 */
static void
test_pg_counts_follow_every_change(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[4];
	size_t n;
	int64_t *report;
	size_t nr;
	char err[256];

	assert_counts(q, "creation");
	assert_int_equal(enqueue_on(q, "one", 6, NULL), 1);
	assert_int_equal(enqueue_on(q, "two", 4, NULL), 2);
	assert_int_equal(enqueue_on(q, "three", 3, "held for a look"), 3);
	assert_counts(q, "intake");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state ="
	    " 'queued'"), 10);

	assert_int_equal(queue_take(q, 1000, 2, 6, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_counts(q, "take");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state ="
	    " 'sending'"), 10);
	record_mixed(q, b[0], 1005);
	assert_counts(q, "record");
	assert_int_equal(queue_release_batch(q, b[1], err, sizeof(err)), 0);
	assert_counts(q, "release of a batch");
	queue_batch_free(b[0]);
	queue_batch_free(b[1]);

	assert_int_equal(queue_hold(q, 2, NULL, "wait", err, sizeof(err)) >= 0, 1);
	assert_counts(q, "hold");
	assert_int_equal(queue_release(q, 3, NULL, 1010, err, sizeof(err)) >= 0, 1);
	assert_counts(q, "release of a held issue");
	assert_int_equal(queue_cancel(q, 2, "送", 1011, err, sizeof(err)) >= 0, 1);
	assert_counts(q, "cancel of a tier");
	assert_int_equal(queue_cancel(q, 2, NULL, 1012, err, sizeof(err)) >= 0, 1);
	assert_counts(q, "cancel of an issue");
	assert_int_equal(queue_retry(q, 1, NULL, 1013, err, sizeof(err)) >= 0, 1);
	assert_counts(q, "retry");

	/* issue 1 to its end: everything taken, delivered */
	for (;;) {
		assert_int_equal(queue_take(q, 5000, 4, 6, b, &n, err, sizeof(err)), 0);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			record_ok(q, b[i], 5000);
			queue_batch_free(b[i]);
		}
	}
	assert_counts(q, "deliveries");
	assert_int_equal(queue_finish(q, 5001, &report, &nr, err, sizeof(err)), 0);
	free(report);
	assert_counts(q, "finish");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'done'"), 2);

	if (queue_resend(q, 1, NULL, "r0@example.test", 5002, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_counts(q, "resend");
	if (queue_resend_to(q, 1, NULL, "new@example.test", "r2@example.test", 5003, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE replaced_by IS"
	    " NOT NULL"), 1);
	assert_counts(q, "a correction");
	if (queue_resend_all(q, 2, NULL, 5004, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_counts(q, "resend of a cancelled issue");

	/* all delivered and finished again, then purged but the newest */
	for (;;) {
		assert_int_equal(queue_take(q, 9000, 4, 6, b, &n, err, sizeof(err)), 0);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			record_ok(q, b[i], 9000);
			queue_batch_free(b[i]);
		}
	}
	assert_int_equal(queue_finish(q, 9001, &report, &nr, err, sizeof(err)), 0);
	free(report);
	assert_counts(q, "the second finish");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM issues WHERE state = 'done'"), 3);

	struct queue_purge_cursor cur = { 0 };
	struct queue_purge_family *f;
	size_t deleted = 0;
	assert_int_equal(queue_purge_list(q, 100000, 50, &cur, &f, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);	/* issue 2; 1 waits for its failure report, 3 is the newest */
	assert_int_equal(queue_purge_delete(q, f, n, 100000, &deleted, err, sizeof(err)), 0);
	queue_purge_families_free(f, n);
	assert_int_equal(deleted, 1);
	assert_counts(q, "purge");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE issue = 2"), 0);
}

/*
 * The deltas do not pile up: an intake folds them (a delta per
 * recipient: each is a statement of its own), so does a record (a
 * node's periodic write), and a count that finds more than a thousand
 * (writers that do not fold: distctl's changes, an older distd, SQL),
 * even on a handle that only reads (distctl status). The sums stay.
 */
static void
test_pg_counts_fold(void **state)
{
	NEED_PG();
	struct queue *q = *state, *ro;
	struct queue_batch *b[1];
	size_t n;
	char err[256];

	enqueue_on(q, "big", 1200, NULL);
	assert_true(test_pg_count("SELECT COUNT(*) FROM"
	    " recipient_count_deltas") <= QUEUE_STATES);
	assert_counts(q, "a large intake");
	assert_int_equal(test_pg_count("SELECT SUM(delta) FROM recipient_count_deltas"
	    " WHERE state = 'queued'"), 1200);

	/* 1 100 statements that change a state, two deltas each */
	test_pg_exec("DO $$ BEGIN FOR i IN 1..1100 LOOP UPDATE recipients SET state ="
	    " CASE state WHEN 'queued' THEN 'held' ELSE 'queued' END WHERE id = i;"
	    " END LOOP; END $$");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipient_count_deltas") > 2000,
	    1);
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &ro, err,
	    sizeof(err)), 0);
	assert_counts(ro, "changes that do not fold");
	queue_close(ro);
	assert_true(test_pg_count("SELECT COUNT(*) FROM"
	    " recipient_count_deltas") <= QUEUE_STATES);
	assert_counts(q, "the fold");
	assert_int_equal(test_pg_count("SELECT SUM(delta) FROM recipient_count_deltas"
	    " WHERE state = 'held'"), 1100);

	/* 30 recorded: 60 deltas, folded by the record */
	assert_int_equal(queue_take(q, 1000, 1, 30, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	record_mixed(q, b[0], 1005);
	queue_batch_free(b[0]);
	assert_true(test_pg_count("SELECT COUNT(*) FROM"
	    " recipient_count_deltas") <= QUEUE_STATES);
	assert_counts(q, "a record");
}

/* ---- two nodes at once ------------------------------------------------------- */

/*
 * A node: enqueues, takes, records (folding after each record), gives
 * batches back, finishes, cancels a tier of its own issues now and then,
 * rounds times. 0, or 2 on a failure.
 */
static int
node(const char *name, int rounds)
{
	struct queue *q;
	struct queue_batch *b[3];
	size_t n;
	int64_t *report;
	size_t nr;
	char err[256], sha[32];

	if (queue_open_mode(test_pg_conninfo(), QUEUE_EXISTING, &q, err, sizeof(err)) < 0 ||
	    queue_join(q, name, 60, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		return 2;
	}
	for (int k = 0; k < rounds; k++) {
		snprintf(sha, sizeof(sha), "%s-%d", name, k);
		int64_t id = enqueue_on(q, sha, 9, NULL);
		if (queue_take(q, 1000 + k, 3, 4, b, &n, err, sizeof(err)) < 0)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			if ((k + (int)i) % 4 == 3) {
				if (queue_release_batch(q, b[i], err, sizeof(err)) < 0)
					goto fail;
			} else {
				record_mixed(q, b[i], 1000 + k);
			}
			queue_batch_free(b[i]);
		}
		if (k % 5 == 4 && queue_cancel(q, id, "送", 1000 + k, err, sizeof(err)) < 0)
			goto fail;
		if (queue_finish(q, 1000 + k, &report, &nr, err, sizeof(err)) < 0)
			goto fail;
		free(report);
	}
	queue_close(q);
	return 0;
fail:
	fprintf(stderr, "%s: %s\n", name, err);
	queue_close(q);
	return 2;
}

/*
 * The sums of the deltas against COUNT(*), in one statement (one
 * snapshot): the states where they differ. 0 while the counts are exact.
 */
static long
differences(void)
{
	return test_pg_count("SELECT COUNT(*) FROM (SELECT state, SUM(delta) AS n"
	    "  FROM recipient_count_deltas GROUP BY state HAVING SUM(delta) <> 0) d"
	    " FULL JOIN (SELECT state, COUNT(*) AS n FROM recipients"
	    "  WHERE replaced_by IS NULL GROUP BY state) r USING (state)"
	    " WHERE d.n IS DISTINCT FROM r.n");
}

/*
 * Two nodes write at once, each folding after each of its records, so
 * that folds fall between (and amid) the other's statements; meanwhile
 * the test compares the sums with COUNT(*) in single snapshots, and
 * counts through queue_counts. Exact throughout, and at the end.
 */
static void
test_pg_counts_exact_with_two_nodes_folding(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	pid_t pid[2];
	int st[2];
	bool ended[2] = { false, false };
	long checks = 0, wrong = 0, most = 0;

	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(node(i == 0 ? "node-a" : "node-b", 40));
	}
	/* bounded: the nodes end, or 2 minutes */
	for (int t = 0; t < 24000 && !(ended[0] && ended[1]); t++) {
		long c[QUEUE_STATES];
		wrong += differences() != 0;
		checks++;
		assert_int_equal(queue_counts(q, c), 0);
		long rows = test_pg_count("SELECT COUNT(*) FROM recipient_count_deltas");
		if (rows > most)
			most = rows;
		for (int i = 0; i < 2; i++)
			if (!ended[i] && waitpid(pid[i], &st[i], WNOHANG) == pid[i])
				ended[i] = true;
		usleep(5000);
	}
	for (int i = 0; i < 2; i++) {
		if (!ended[i])
			assert_int_equal(waitpid(pid[i], &st[i], 0), pid[i]);
		assert_true(WIFEXITED(st[i]));
		assert_int_equal(WEXITSTATUS(st[i]), 0);
	}
	print_message("%ld checks while two nodes wrote, %ld wrong; at most %ld deltas\n",
	    checks, wrong, most);
	assert_true(checks > 1);
	assert_int_equal(wrong, 0);
	assert_int_equal(differences(), 0);
	assert_counts(q, "two nodes");
	/* 80 issues of 9 recipients went by in a few hundred statements each:
	 * the folds kept the deltas to a handful */
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients"), 720);
	assert_true(most < 720);
}

/* ---- the migration ----------------------------------------------------------- */

/*
 * A queue at schema 4 (no deltas, no triggers) with rows in every kind
 * of state, a replaced one among them: opened by this distd, it is
 * migrated, the counts start from the rows, and follow what comes after.
 */
static void
test_pg_counts_after_migration_from_v4(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[2];
	size_t n;
	char err[256], want[64];

	assert_true(queue_pg_schema_latest() >= 5);
	enqueue_on(q, "m1", 7, NULL);
	enqueue_on(q, "m2", 5, NULL);
	enqueue_on(q, "m3", 2, "held");
	assert_int_equal(queue_take(q, 1000, 2, 4, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	record_mixed(q, b[0], 1005);
	queue_batch_free(b[0]);
	queue_batch_free(b[1]);		/* left sending */
	assert_int_equal(queue_cancel(q, 2, NULL, 1006, err, sizeof(err)) >= 0, 1);
	if (queue_resend_to(q, 1, NULL, "new@example.test", "r0@example.test", 1007, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	/* back to schema 4 as version 4 left it, and rows changed there */
	test_pg_exec(TEST_PG_UNDO_V6);
	test_pg_exec("DROP TABLE recipient_count_deltas;"
	    " DROP FUNCTION recipient_count_insert() CASCADE;"
	    " DROP FUNCTION recipient_count_update() CASCADE;"
	    " DROP FUNCTION recipient_count_delete() CASCADE;"
	    " DROP FUNCTION recipient_count_truncate() CASCADE;"
	    " UPDATE distd_schema SET version = 4");
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM pg_trigger"
	    " WHERE tgrelid = 'recipients'::regclass AND tgname LIKE 'recipients_count_%'"), 0);
	test_pg_exec("UPDATE recipients SET state = 'queued', node = NULL, lease_until = NULL"
	    " WHERE id = (SELECT MAX(id) FROM recipients WHERE state = 'sending')");
	queue_close(q);
	*state = NULL;
	/* distctl does not write: it asks for the upgrade */
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &q, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "schema 4, this is %d", queue_pg_schema_latest());
	assert_non_null(strstr(err, want));
	assert_int_equal(queue_open(test_pg_conninfo(), &q, err, sizeof(err)), 0);
	*state = q;
	assert_int_equal(test_pg_count("SELECT version FROM distd_schema"),
	    queue_pg_schema_latest());
	assert_counts(q, "the migration");
	long c[QUEUE_STATES];
	assert_int_equal(queue_counts(q, c), 0);
	assert_true(c[QUEUE_SENDING] > 0 && c[QUEUE_DELIVERED] > 0 && c[QUEUE_FAILED] > 0 &&
	    c[QUEUE_HELD] > 0 && c[QUEUE_CANCELLED] > 0 && c[QUEUE_QUEUED] > 0);
	/* and from here on by the triggers */
	enqueue_on(q, "m4", 3, NULL);
	assert_int_equal(queue_take(q, 2000, 2, 4, b, &n, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		record_mixed(q, b[i], 2005);
		queue_batch_free(b[i]);
	}
	assert_counts(q, "changes after the migration");
	/* a distctl run opens the migrated queue and counts the same */
	struct queue *ro;
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &ro, err,
	    sizeof(err)), 0);
	assert_counts(ro, "the migration, read-only");
	queue_close(ro);
}

int
main(void)
{
	if (test_pg_start("test_queue_pg_counts:") < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pg_counts_follow_every_change,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_counts_fold,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_counts_exact_with_two_nodes_folding,
		    test_pg_setup, test_pg_teardown),
		cmocka_unit_test_setup_teardown(test_pg_counts_after_migration_from_v4,
		    test_pg_setup, test_pg_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_pg_stop();
	return rc;
}
