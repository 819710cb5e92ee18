/* The read views of distctl status, show and log, over a queue filled through the write API. */
#include "testutil.h"
#include "testqueue.h"

#include <sqlite3.h>
#include <unistd.h>

#include "queue.h"

static char dbpath[TEST_QUEUE_PATH_MAX];

static int
setup(void **state)
{
	*state = test_queue_open("views", dbpath, sizeof(dbpath));
	return 0;
}

static int
teardown(void **state)
{
	test_queue_remove(*state, dbpath);
	return 0;
}

static char *
render(void *arg, int64_t id, const char *mid, size_t *len, char *err, size_t errsz)
{
	(void)arg; (void)id; (void)mid; (void)err; (void)errsz;
	*len = 4;
	return strdup("body");
}

static double
half(int64_t issue, const char *tier, int attempt)
{
	(void)issue; (void)tier; (void)attempt;
	return 0.5;
}

static const struct queue_retry retry = { 10, 100, 100000 };

/* An issue of three recipients: r0 报, r1 报, r2 发. Returns its id. */
static int64_t
enqueue(struct queue *q, const char *sha, const char *title, long no, int64_t received)
{
	struct queue_recipient_in r[] = {
		{ 0, "报", "to", "中央文明办", "报:中央文明办", "中央文明办", "x", "r0@example.test", false },
		{ 0, "报", "to", "市委", "报:市委", "市委", "x", "r1@example.test", false },
		{ 1, "发", "bcc", "大兴区文明办", "发:大兴区", "大兴区文明办", "x", "r2@example.test", false },
	};
	struct queue_issue_in in = { .sha256 = sha, .source = "a.txt", .kind = QUEUE_KIND_BULLETIN,
		.title = title, .subject = "s", .issue_no = no, .total_issue_no = -1,
		.received = received };
	int64_t id, dup;
	char err[256];

	if (queue_enqueue(q, &in, r, 3, "example.test", render, NULL, &id, &dup, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	return id;
}

/* Takes everything due and records r0 delivered, r1 deferred, r2 failed. */
static void
deliver_one_defer_one_fail_one(struct queue *q, int64_t now)
{
	struct queue_batch *b[4];
	size_t n;
	char err[256];

	assert_int_equal(queue_take(q, now, 4, 10, b, &n, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		struct smtp_verdict v[10];
		struct queue_attempt att[10];
		for (size_t k = 0; k < b[i]->n; k++) {
			const char *a = b[i]->addresses[k];
			bool ok = strcmp(a, "r0@example.test") == 0, later = strcmp(a, "r1@example.test") == 0;
			v[k] = (struct smtp_verdict){
				.outcome = ok ? SMTP_OK : later ? SMTP_TEMP : SMTP_PERM,
				.code = ok ? 250 : later ? 451 : 550,
				.reply = ok ? "250 ok" : later ? "451 later" : "550 no such user",
				.class = ok ? SMTP_CLASS_OK : later ? SMTP_CLASS_4XX : SMTP_CLASS_5XX };
		}
		assert_int_equal(queue_record(q, b[i], v, NULL, att, now, 0.1, "relay:465", &retry,
		    half, err, sizeof(err)), 0);
		queue_batch_free(b[i]);
	}
}

static void
test_status_view(void **state)
{
	skip_unless_ops("view_status");
	struct queue *q = *state;
	struct queue_view_status v;
	char err[256];
	long counts[QUEUE_STATES];

	int64_t one = enqueue(q, "aaaa", "简报一", 1, 1000);
	deliver_one_defer_one_fail_one(q, 1000);
	int64_t two = enqueue(q, "bbbb", "简报二", 2, 2000);
	assert_int_equal(queue_hold(q, two, NULL, "by hand", err, sizeof(err)), 3);
	/* the same content again: a duplicate, left out of the recent issues */
	enqueue(q, "aaaa", "简报一", 1, 3000);
	assert_int_equal(queue_alert(q, QUEUE_ALERT_AUTH, "535 denied", 1500), 0);

	assert_int_equal(queue_view_status(q, 0, 10, &v, err, sizeof(err)), 0);
	/* the counts are queue_counts by name */
	assert_int_equal(queue_counts(q, counts), 0);
	assert_int_equal(v.counts.delivered, 1);
	assert_int_equal(v.counts.deferred, 1);
	assert_int_equal(v.counts.failed, 1);
	assert_int_equal(v.counts.held, 3);
	assert_int_equal(v.counts.queued, 0);
	assert_int_equal(v.counts.cancelled, 0);
	assert_int_equal(v.counts.delivered, counts[3]);
	assert_int_equal(v.counts.held, counts[5]);

	assert_true(v.has_oldest_deferred);
	assert_string_equal(v.oldest_deferred.address, "r1@example.test");
	assert_int_equal(v.oldest_deferred.issue, one);
	assert_int_equal(v.oldest_deferred.attempts, 1);
	assert_int_equal(v.oldest_deferred.next_attempt, 1010);
	assert_string_equal(v.oldest_deferred.last_reply, "451 later");
	assert_int_equal(v.oldest_deferred.received, 1000);

	assert_int_equal(v.n_alerts, 1);
	assert_int_equal(v.alerts[0].kind, QUEUE_ALERT_AUTH);
	assert_string_equal(v.alerts[0].text, "535 denied");
	assert_int_equal(v.alerts[0].since, 1500);
	assert_int_equal(v.n_held, 1);
	assert_int_equal(v.held[0].issue, two);
	assert_string_equal(v.held[0].title, "简报二");
	assert_string_equal(v.held[0].reason, "by hand");
	assert_int_equal(v.recent_failed, 1);

	/* newest first, no duplicate; tiers in tier order with their totals */
	assert_int_equal(v.n_recent, 2);
	assert_int_equal(v.recent[0].id, two);
	assert_int_equal(v.recent[0].state, QUEUE_ISSUE_HELD);
	assert_int_equal(v.recent[1].id, one);
	assert_string_equal(v.recent[1].title, "简报一");
	assert_int_equal(v.recent[1].issue_no, 1);
	assert_int_equal(v.recent[1].kind, QUEUE_KIND_BULLETIN);
	assert_int_equal(v.recent[1].received, 1000);
	assert_int_equal(v.recent[1].n_tiers, 2);
	assert_string_equal(v.recent[1].tiers[0].tier, "报");
	assert_int_equal(v.recent[1].tiers[0].total, 2);
	assert_int_equal(v.recent[1].tiers[0].delivered, 1);
	assert_int_equal(v.recent[1].tiers[0].deferred, 1);
	assert_string_equal(v.recent[1].tiers[1].tier, "发");
	assert_int_equal(v.recent[1].tiers[1].failed, 1);
	queue_view_status_free(&v);

	/* failures of issues received before the window need no look; max_recent counts */
	assert_int_equal(queue_view_status(q, 1001, 1, &v, err, sizeof(err)), 0);
	assert_int_equal(v.recent_failed, 0);
	assert_int_equal(v.n_recent, 1);
	queue_view_status_free(&v);
	queue_view_status_free(NULL);
}

/*
 * Runs sql on the queue through a connection of its own (a foreign writer):
 * the file, or on the PostgreSQL run the tests' own connection.
 */
static void
poke(const char *sql)
{
	sqlite3 *db;

	if (test_queue_on_pg()) {
		test_pg_exec(sql);
		return;
	}
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* A finished issue's totals are the ones kept when it finished (table issue_tiers). */
static void
test_finished_issue_totals_are_kept_ones(void **state)
{
	skip_unless_ops("view_status");
	struct queue *q = *state;
	struct queue_view_status v;
	struct queue_batch *b[1];
	int64_t *report;
	size_t n, nr;
	char err[256];

	int64_t id = enqueue(q, "cccc", "简报三", 3, 1000);
	assert_int_equal(queue_take(q, 1000, 1, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	struct smtp_verdict res[10];
	struct queue_attempt att[10];
	for (size_t k = 0; k < 10; k++)
		res[k] = (struct smtp_verdict){ .outcome = SMTP_OK, .code = 250,
			.reply = "250 ok", .class = SMTP_CLASS_OK };
	/* one batch of 报 only: take the rest too */
	assert_int_equal(queue_record(q, b[0], res, NULL, att, 1000, 0.1, "relay:465", &retry,
	    half, err, sizeof(err)), 0);
	queue_batch_free(b[0]);
	while (queue_take(q, 1000, 1, 10, b, &n, err, sizeof(err)) == 0 && n > 0) {
		assert_int_equal(queue_record(q, b[0], res, NULL, att, 1000, 0.1, "relay:465",
		    &retry, half, err, sizeof(err)), 0);
		queue_batch_free(b[0]);
	}
	assert_int_equal(queue_finish(q, 1001, &report, &nr, err, sizeof(err)), 0);
	free(report);

	/* a stored fact changed under the view shows that it reads the kept totals */
	poke("UPDATE issue_tiers SET total = 99 WHERE tier_keyword = '报'");
	assert_int_equal(queue_view_status(q, 0, 10, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recent, 1);
	assert_int_equal(v.recent[0].id, id);
	assert_int_equal(v.recent[0].state, QUEUE_ISSUE_DONE);
	assert_int_equal(v.recent[0].n_tiers, 2);
	assert_int_equal(v.recent[0].tiers[0].total, 99);
	assert_int_equal(v.recent[0].tiers[0].delivered, 2);
	assert_int_equal(v.recent[0].tiers[1].total, 1);
	queue_view_status_free(&v);
}

static void
test_issue_view_and_filters(void **state)
{
	skip_unless_ops("view_issue, resend_to");
	struct queue *q = *state;
	struct queue_view_issue v;
	struct queue_view_filter pending = { .pending = true },
	    failed = { .by_state = true, .state = QUEUE_FAILED }, fa = { .tier = "发" };
	char err[256];

	int64_t id = enqueue(q, "dddd", "简报四", 4, 1000);
	deliver_one_defer_one_fail_one(q, 1000);
	/* the failed address corrected: r2 is replaced by a new row */
	assert_int_equal(queue_resend_to(q, id, NULL, "fixed@example.test", "r2@example.test",
	    1100, err, sizeof(err)), 1);

	assert_int_equal(queue_view_issue(q, id, NULL, &v, err, sizeof(err)), 0);
	assert_int_equal(v.id, id);
	assert_string_equal(v.title, "简报四");
	assert_int_equal(v.issue_no, 4);
	assert_int_equal(v.total_issue_no, -1);
	assert_string_equal(v.source, "a.txt");
	assert_int_equal(v.kind, QUEUE_KIND_BULLETIN);
	assert_int_equal(v.state, QUEUE_ISSUE_ACTIVE);
	assert_int_equal(v.received, 1000);
	assert_int_equal(v.finished, 0);
	assert_int_equal(v.duplicate_of, 0);
	assert_null(v.hold_reason);
	assert_non_null(strstr(v.message_id, "@example.test"));
	assert_int_equal(v.n_recipients, 4);
	/* tier order, then id */
	assert_string_equal(v.recipients[0].address, "r0@example.test");
	assert_int_equal(v.recipients[0].state, QUEUE_DELIVERED);
	assert_int_equal(v.recipients[0].last_code, 250);
	assert_string_equal(v.recipients[0].via, "报:中央文明办");
	assert_string_equal(v.recipients[1].address, "r1@example.test");
	assert_int_equal(v.recipients[1].attempts, 1);
	assert_int_equal(v.recipients[1].next_attempt, 1010);
	assert_string_equal(v.recipients[2].address, "r2@example.test");
	assert_string_equal(v.recipients[2].replaced_by, "fixed@example.test");
	assert_string_equal(v.recipients[3].address, "fixed@example.test");
	assert_int_equal(v.recipients[3].last_code, -1);
	assert_null(v.recipients[3].last_reply);
	queue_view_issue_free(&v);

	/* pending: not delivered, cancelled or replaced */
	assert_int_equal(queue_view_issue(q, id, &pending, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recipients, 2);
	assert_string_equal(v.recipients[0].address, "r1@example.test");
	assert_string_equal(v.recipients[1].address, "fixed@example.test");
	queue_view_issue_free(&v);
	assert_int_equal(queue_view_issue(q, id, &failed, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recipients, 1);
	assert_string_equal(v.recipients[0].address, "r2@example.test");
	queue_view_issue_free(&v);
	assert_int_equal(queue_view_issue(q, id, &fa, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recipients, 2);
	assert_string_equal(v.recipients[0].tier, "发");
	assert_string_equal(v.recipients[1].tier, "发");
	queue_view_issue_free(&v);

	assert_int_equal(queue_view_issue(q, 99, NULL, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "no issue 99 in the queue");
	assert_int_equal(v.n_recipients, 0);
	queue_view_issue_free(&v);
}

static void
test_attempts_view(void **state)
{
	skip_unless_ops("view_attempts");
	struct queue *q = *state;
	struct queue_view_attempt *a;
	size_t n;
	char err[256];

	int64_t one = enqueue(q, "eeee", "简报五", 5, 1000);
	deliver_one_defer_one_fail_one(q, 1000);
	int64_t two = enqueue(q, "ffff", "简报六", 6, 1000);
	deliver_one_defer_one_fail_one(q, 1001);

	/* the last 4 of 6, oldest first */
	assert_int_equal(queue_view_attempts(q, 0, 4, 0, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	for (size_t i = 1; i < n; i++)
		assert_true(a[i].id > a[i - 1].id);
	assert_int_equal(a[3].issue, two);
	int64_t last = a[3].id, third = a[1].id;
	assert_string_equal(a[1].relay, "relay:465");
	queue_view_attempts_free(a, n);

	/* one issue only, with what each attempt said */
	assert_int_equal(queue_view_attempts(q, 0, 100, one, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].issue, one);
		assert_int_equal(a[i].time, 1000);
		assert_int_equal(a[i].attempt, 1);
		assert_false(a[i].possible_duplicate);
		if (strcmp(a[i].address, "r1@example.test") == 0) {
			assert_int_equal(a[i].status, QUEUE_ATTEMPT_DEFERRED);
			assert_true(a[i].has_class);
			assert_int_equal(a[i].class, SMTP_CLASS_4XX);
			assert_int_equal(a[i].code, 451);
			assert_string_equal(a[i].reply, "451 later");
			assert_string_equal(a[i].tier, "报");
		}
	}
	queue_view_attempts_free(a, n);

	/* -f: only what came after the last id seen */
	assert_int_equal(queue_view_attempts(q, third, 1000, 0, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);	/* the last two of the four above */
	assert_int_equal(a[n - 1].id, last);
	queue_view_attempts_free(a, n);
	assert_int_equal(queue_view_attempts(q, last, 1000, 0, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(a);
	queue_view_attempts_free(a, n);
}

/* distctl's own history rows (resend) carry no class; the view says so. */
static void
test_resend_row_has_no_class(void **state)
{
	skip_unless_ops("resend, view_attempts");
	struct queue *q = *state;
	struct queue_view_attempt *a;
	size_t n;
	char err[256];

	int64_t id = enqueue(q, "gggg", "简报七", 7, 1000);
	deliver_one_defer_one_fail_one(q, 1000);
	assert_int_equal(queue_resend(q, id, NULL, "r0@example.test", 1100, err, sizeof(err)), 1);
	assert_int_equal(queue_view_attempts(q, 0, 100, id, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(a[3].status, QUEUE_ATTEMPT_RESEND);
	assert_false(a[3].has_class);
	queue_view_attempts_free(a, n);
}

/* A stored word no enum knows is an error naming the column and the word, not a crash. */
static void
test_unknown_stored_word_is_an_error(void **state)
{
	skip_unless_ops("view_status, view_issue, view_attempts, record_read");
	struct queue *q = *state;
	struct queue_view_status sv;
	struct queue_view_issue iv;
	struct queue_view_attempt *a;
	struct queue_record *r;
	size_t n;
	char err[256];

	int64_t id = enqueue(q, "hhhh", "简报八", 8, 1000);
	deliver_one_defer_one_fail_one(q, 1000);

	poke("UPDATE attempts SET class = 'quantum' WHERE code = 451");
	assert_int_equal(queue_view_attempts(q, 0, 100, 0, &a, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "reading the queue: attempts.class has an unknown value 'quantum'");
	assert_null(a);
	poke("UPDATE attempts SET class = '4xx', status = 'teleported' WHERE code = 451");
	assert_int_equal(queue_view_attempts(q, 0, 100, 0, &a, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "reading the queue: attempts.status has an unknown value 'teleported'");

	poke("INSERT INTO alerts (kind, text, since, last) VALUES ('dns', 'x', 1, 1)");
	assert_int_equal(queue_view_status(q, 0, 10, &sv, err, sizeof(err)), -1);
	assert_string_equal(err, "reading the queue: alerts.kind has an unknown value 'dns'");
	poke("DELETE FROM alerts");

	poke("UPDATE issues SET kind = 'memo'");
	assert_int_equal(queue_view_status(q, 0, 10, &sv, err, sizeof(err)), -1);
	assert_string_equal(err, "reading the queue: issues.kind has an unknown value 'memo'");
	assert_int_equal(queue_view_issue(q, id, NULL, &iv, err, sizeof(err)), -1);
	assert_string_equal(err, "reading the queue: issues.kind has an unknown value 'memo'");
	assert_int_equal(queue_record_read(q, id, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "reading the queue: issues.kind has an unknown value 'memo'");
	assert_null(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_issue_totals_are_kept_ones, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_issue_view_and_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resend_row_has_no_class, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_stored_word_is_an_error, setup,
		    teardown),
	};
	return test_queue_run_group("queue_views", tests);
}
