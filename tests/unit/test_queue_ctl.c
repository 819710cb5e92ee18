/*
 * Unit tests for queue/queue_ctl.c: distctl's steering (hold, release,
 * cancel, retry, resend), through the queue's public API on a temporary
 * database: what each changes is read back with queue_counts and queue_take.
 */
#include "testutil.h"

#include "testqueue.h"

static char dbpath[TEST_QUEUE_PATH_MAX];

static int
setup(void **state)
{
	*state = test_queue_open("queue-ctl", dbpath, sizeof(dbpath));
	return 0;
}

static int
teardown(void **state)
{
	test_queue_remove(*state, dbpath);
	return 0;
}

static const char *const TIER[3] = { "报", "送", "发" };

/* Six recipients r0..r5, two a tier: r0 r1 报, r2 r3 送, r4 r5 发. Returns the issue id. */
static int64_t
enqueue_six(struct queue *q, const char *sha, int64_t now)
{
	struct queue_recipient_in r[6];
	char addr[6][32];
	int64_t id, dup;
	char err[256];

	for (int i = 0; i < 6; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%d@example.test", i);
		r[i] = (struct queue_recipient_in){ i / 2, TIER[i / 2], "to", "单位", "单位",
		    "单位", "单位", addr[i], false };
	}
	struct queue_issue_in in = { .sha256 = sha, .source = "a.txt", .kind = QUEUE_KIND_BULLETIN,
		.title = "简报", .subject = "简报 第1期", .issue_no = 1, .total_issue_no = -1,
		.received = now };
	if (queue_enqueue(q, &in, r, 6, "example.test", test_render_plain, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(dup, 0);
	return id;
}

static long
count_of(struct queue *q, const char *state)
{
	long counts[QUEUE_STATES];

	assert_int_equal(queue_counts(q, counts), 0);
	for (int i = 0; i < QUEUE_STATES; i++)
		if (strcmp(queue_state_names[i], state) == 0)
			return counts[i];
	fail_msg("no state %s", state);
	return -1;
}

static void
test_hold_and_release_the_whole_issue(void **state)
{
	struct queue *q = *state;
	char err[256];
	int64_t id = enqueue_six(q, "aaaa", 1000);

	assert_int_equal(queue_hold(q, id, NULL, "admin", err, sizeof(err)), 6);
	assert_int_equal(count_of(q, "held"), 6);
	assert_int_equal(test_queue_due(q, 1000, NULL), 0);
	/* held twice is no change */
	assert_true(queue_hold(q, id, NULL, "admin", err, sizeof(err)) <= 0);
	assert_int_equal(queue_release(q, id, NULL, 1001, err, sizeof(err)), 6);
	assert_int_equal(count_of(q, "held"), 0);
	assert_int_equal(test_queue_due(q, 1001, NULL), 6);
	/* nothing held any more: releasing again is an error */
	assert_int_equal(queue_release(q, id, NULL, 1002, err, sizeof(err)), -1);
}

static void
test_hold_one_tier_leaves_the_others_due(void **state)
{
	struct queue *q = *state;
	char err[256];
	int64_t id = enqueue_six(q, "bbbb", 1000);

	assert_int_equal(queue_hold(q, id, "送", "admin", err, sizeof(err)), 2);
	assert_int_equal(count_of(q, "held"), 2);
	assert_int_equal(test_queue_due(q, 1000, NULL), 4);
	assert_int_equal(queue_release(q, id, "送", 1001, err, sizeof(err)), 2);
	assert_int_equal(test_queue_due(q, 1001, NULL), 6);
}

static void
test_unknown_issue_and_tier_are_errors_that_name_them(void **state)
{
	struct queue *q = *state;
	char err[256];
	int64_t id = enqueue_six(q, "cccc", 1000);

	assert_int_equal(queue_hold(q, 99, NULL, "admin", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "99"));
	assert_int_equal(queue_hold(q, id, "抄", "admin", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "抄"));
	assert_non_null(strstr(err, "报, 送, 发"));
	assert_int_equal(queue_cancel(q, id, "抄", 1000, err, sizeof(err)), -1);
	assert_int_equal(count_of(q, "queued"), 6);
}

/* A steering that does not fit the issue's state is refused, naming that state. */
static void
test_refusals_name_the_state(void **state)
{
	struct queue *q = *state;
	char err[256];
	int64_t id = enqueue_six(q, "gggg", 1000);

	assert_int_equal(queue_hold(q, id, NULL, "wait", err, sizeof(err)), 6);
	assert_int_equal(queue_hold(q, id, NULL, "again", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is held, not active"));
	assert_int_equal(queue_release(q, id, NULL, 1001, err, sizeof(err)), 6);
	assert_int_equal(queue_hold(q, id, "送", "later", err, sizeof(err)), 2);
	assert_int_equal(queue_release(q, id, "发", 1002, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no held recipients in tier 发"));
	assert_int_equal(queue_cancel(q, id, NULL, 1003, err, sizeof(err)), 6);
	assert_int_equal(queue_cancel(q, id, NULL, 1004, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already cancelled"));
	assert_int_equal(queue_release(q, id, NULL, 1004, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is cancelled, not held"));
	assert_int_equal(count_of(q, "cancelled"), 6);
}

static void
test_cancel_is_final_until_resend_all(void **state)
{
	skip_unless_ops("resend, resend_all");
	struct queue *q = *state;
	char err[256];
	int64_t id = enqueue_six(q, "dddd", 1000);

	assert_int_equal(queue_cancel(q, id, "报", 1001, err, sizeof(err)), 2);
	assert_int_equal(count_of(q, "cancelled"), 2);
	assert_int_equal(queue_cancel(q, id, NULL, 1002, err, sizeof(err)), 4);
	assert_int_equal(count_of(q, "cancelled"), 6);
	assert_int_equal(test_queue_due(q, 1003, NULL), 0);
	/* a cancelled issue goes out again only on purpose */
	assert_int_equal(queue_resend(q, id, NULL, NULL, 1004, err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
	assert_int_equal(queue_release(q, id, NULL, 1004, err, sizeof(err)), -1);
	assert_int_equal(queue_resend_all(q, id, "发", 1005, err, sizeof(err)), 2);
	assert_int_equal(test_queue_due(q, 1005, NULL), 2);
}

static void
test_retry_counts_what_it_makes_due(void **state)
{
	struct queue *q = *state;
	char err[256];
	int64_t id = enqueue_six(q, "eeee", 1000);

	assert_int_equal(queue_retry(q, id, "发", 1000, err, sizeof(err)), 2);
	assert_int_equal(queue_retry(q, 0, NULL, 1000, err, sizeof(err)), 6);
	assert_int_equal(queue_retry(q, 99, NULL, 1000, err, sizeof(err)), -1);
}

static void
test_resend_to_adds_or_replaces_an_address(void **state)
{
	skip_unless_ops("has_recipient, resend_to");
	struct queue *q = *state;
	char err[256];
	int64_t id = enqueue_six(q, "ffff", 1000);

	assert_true(queue_has_recipient(q, id, "报", "r0@example.test"));
	assert_false(queue_has_recipient(q, id, "送", "r0@example.test"));
	assert_false(queue_has_recipient(q, id, NULL, "new@example.test"));
	/* an issue of three tiers: a new address must say which */
	assert_int_equal(queue_resend_to(q, id, NULL, "new@example.test", NULL, 1001, err,
	    sizeof(err)), -1);
	assert_int_equal(queue_resend_to(q, id, "送", "new@example.test", NULL, 1001, err,
	    sizeof(err)), 1);
	assert_true(queue_has_recipient(q, id, "送", "new@example.test"));
	/* a live recipient is resent, not added twice */
	assert_int_equal(queue_resend_to(q, id, "送", "new@example.test", NULL, 1002, err,
	    sizeof(err)), -1);
	/* a correction: the old address is replaced, the new one takes its place */
	assert_int_equal(queue_resend_to(q, id, NULL, "fixed@example.test", "r1@example.test",
	    1003, err, sizeof(err)), 1);
	assert_false(queue_has_recipient(q, id, NULL, "r1@example.test"));
	assert_true(queue_has_recipient(q, id, "报", "fixed@example.test"));
	/* replaced recipients are not counted: still 7 live ones */
	assert_int_equal(test_queue_due(q, 1003, NULL), 7);
	assert_int_equal(queue_resend_to(q, id, NULL, "x@example.test", "nobody@example.test",
	    1004, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hold_and_release_the_whole_issue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_one_tier_leaves_the_others_due, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_issue_and_tier_are_errors_that_name_them,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_name_the_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_is_final_until_resend_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_counts_what_it_makes_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resend_to_adds_or_replaces_an_address, setup,
		    teardown),
	};
	return test_queue_run_group("queue_ctl", tests);
}
