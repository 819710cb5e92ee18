#include "testutil.h"

#include "delivery_policy.h"

/* min 10 s, max 100 s, lifetime 1000 s: small numbers that show the arithmetic */
static const struct queue_retry retry = { 10, 100, 1000 };

static struct queue_attempt
decide(enum smtp_outcome outcome, enum smtp_class class, int attempts_before,
    bool possible_duplicate, bool again, int64_t now, int64_t received)
{
	struct smtp_verdict v = { .outcome = outcome, .class = class };
	struct delivery_policy_in in = {
		.verdict = &v, .attempts_before = attempts_before,
		.possible_duplicate = possible_duplicate, .again = again, .now = now,
		.received = received, .retry = &retry, .jitter = 0.5,
	};
	return delivery_policy_decide(&in);
}

static void
test_delivered_and_failed(void **state)
{
	(void)state;
	struct queue_attempt a = decide(SMTP_OK, SMTP_CLASS_OK, 0, false, false, 1000, 1000);
	assert_int_equal(a.state, QUEUE_DELIVERED);
	assert_int_equal(a.status, QUEUE_ATTEMPT_SENT);
	assert_int_equal(a.attempt, 1);
	assert_int_equal(a.next_attempt, 0);
	assert_false(a.cancel_wins);	/* delivered stands, cancelled or not */

	a = decide(SMTP_PERM, SMTP_CLASS_5XX, 2, false, false, 1000, 1000);
	assert_int_equal(a.state, QUEUE_FAILED);
	assert_int_equal(a.status, QUEUE_ATTEMPT_FAILED);
	assert_int_equal(a.attempt, 3);
	assert_false(a.cancel_wins);
}

static void
test_deferred_backs_off_then_expires(void **state)
{
	(void)state;
	/* first failure: min_backoff (jitter 0.5 is ×1.0) */
	struct queue_attempt a = decide(SMTP_TEMP, SMTP_CLASS_4XX, 0, false, false, 1000, 1000);
	assert_int_equal(a.state, QUEUE_DEFERRED);
	assert_int_equal(a.status, QUEUE_ATTEMPT_DEFERRED);
	assert_int_equal(a.attempt, 1);
	assert_int_equal(a.next_attempt, 1010);
	assert_true(a.cancel_wins);
	/* third failure: doubled twice */
	a = decide(SMTP_TEMP, SMTP_CLASS_CONNECT, 2, false, false, 1100, 1000);
	assert_int_equal(a.next_attempt, 1140);
	/* never after the lifetime's end: the last try is at its end */
	a = decide(SMTP_TEMP, SMTP_CLASS_4XX, 5, false, false, 1990, 1000);
	assert_int_equal(a.state, QUEUE_DEFERRED);
	assert_int_equal(a.next_attempt, 2000);
	/* at or past it: expired, a failure with no next attempt */
	a = decide(SMTP_TEMP, SMTP_CLASS_4XX, 6, false, false, 2000, 1000);
	assert_int_equal(a.state, QUEUE_FAILED);
	assert_int_equal(a.status, QUEUE_ATTEMPT_EXPIRED);
	assert_int_equal(a.next_attempt, 0);
	assert_int_equal(a.attempt, 7);
}

static void
test_again_is_not_counted(void **state)
{
	(void)state;
	struct queue_attempt a = decide(SMTP_TEMP, SMTP_CLASS_LIMIT, 3, false, true, 1500, 1000);
	assert_int_equal(a.state, QUEUE_QUEUED);
	assert_int_equal(a.status, QUEUE_ATTEMPT_DEFERRED);
	assert_int_equal(a.attempt, 3);
	assert_int_equal(a.next_attempt, 1500);	/* due at once */
	assert_false(a.counted);
	/* even past the lifetime: it was no try */
	a = decide(SMTP_TEMP, SMTP_CLASS_LIMIT, 3, false, true, 5000, 1000);
	assert_int_equal(a.state, QUEUE_QUEUED);
	/* again applies to temporary verdicts only */
	a = decide(SMTP_OK, SMTP_CLASS_OK, 3, false, true, 1500, 1000);
	assert_int_equal(a.state, QUEUE_DELIVERED);
	assert_int_equal(a.attempt, 4);
}

static void
test_possible_duplicate_flag(void **state)
{
	(void)state;
	/* recorded on the attempt whatever the verdict */
	struct queue_attempt a = decide(SMTP_OK, SMTP_CLASS_OK, 0, true, false, 1000, 1000);
	assert_true(a.possible_duplicate);
	assert_false(a.keeps_duplicate_flag);	/* delivered: nothing more to flag */
	a = decide(SMTP_TEMP, SMTP_CLASS_PROTOCOL, 0, true, false, 1000, 1000);
	assert_true(a.keeps_duplicate_flag);	/* the next try may repeat it */
	a = decide(SMTP_TEMP, SMTP_CLASS_LIMIT, 0, true, true, 1000, 1000);
	assert_true(a.keeps_duplicate_flag);
	a = decide(SMTP_TEMP, SMTP_CLASS_4XX, 0, true, false, 3000, 1000);
	assert_int_equal(a.status, QUEUE_ATTEMPT_EXPIRED);
	assert_false(a.keeps_duplicate_flag);
	a = decide(SMTP_TEMP, SMTP_CLASS_4XX, 0, false, false, 1000, 1000);
	assert_false(a.possible_duplicate);
	assert_false(a.keeps_duplicate_flag);

	/* this transfer was cut after the data went out: flagged from now on */
	struct smtp_verdict cut = { .outcome = SMTP_TEMP, .class = SMTP_CLASS_CONNECT,
		.data_may_have_arrived = true };
	struct delivery_policy_in in = { .verdict = &cut, .now = 1000, .received = 1000,
		.retry = &retry, .jitter = 0.5 };
	a = delivery_policy_decide(&in);
	assert_int_equal(a.state, QUEUE_DEFERRED);
	assert_true(a.possible_duplicate);
	assert_true(a.keeps_duplicate_flag);
}

static void
test_cancel_wins_over_temporary_only(void **state)
{
	(void)state;
	struct queue_attempt a = decide(SMTP_TEMP, SMTP_CLASS_4XX, 1, true, false, 1000, 1000);
	delivery_policy_cancelled(&a);
	assert_int_equal(a.state, QUEUE_CANCELLED);
	assert_int_equal(a.status, QUEUE_ATTEMPT_CANCELLED);
	assert_int_equal(a.attempt, 2);
	assert_int_equal(a.next_attempt, 0);
	assert_true(a.possible_duplicate);
	assert_false(a.keeps_duplicate_flag);
	/* an uncounted "again" that meets a cancel was still a transaction */
	a = decide(SMTP_TEMP, SMTP_CLASS_LIMIT, 1, false, true, 1000, 1000);
	delivery_policy_cancelled(&a);
	assert_int_equal(a.state, QUEUE_CANCELLED);
	assert_int_equal(a.attempt, 2);
	/* what happened stands */
	a = decide(SMTP_OK, SMTP_CLASS_OK, 0, false, false, 1000, 1000);
	delivery_policy_cancelled(&a);
	assert_int_equal(a.state, QUEUE_DELIVERED);
	a = decide(SMTP_PERM, SMTP_CLASS_5XX, 0, false, false, 1000, 1000);
	delivery_policy_cancelled(&a);
	assert_int_equal(a.state, QUEUE_FAILED);
}

static void
test_names(void **state)
{
	(void)state;
	/* the stored words: the schema and the delivery log depend on them */
	assert_string_equal(smtp_class_name(SMTP_CLASS_OK), "ok");
	assert_string_equal(smtp_class_name(SMTP_CLASS_DNS), "dns");
	assert_string_equal(smtp_class_name(SMTP_CLASS_CONNECT), "connect");
	assert_string_equal(smtp_class_name(SMTP_CLASS_TLS), "tls");
	assert_string_equal(smtp_class_name(SMTP_CLASS_AUTH), "auth");
	assert_string_equal(smtp_class_name(SMTP_CLASS_PROTOCOL), "protocol");
	assert_string_equal(smtp_class_name(SMTP_CLASS_4XX), "4xx");
	assert_string_equal(smtp_class_name(SMTP_CLASS_5XX), "5xx");
	assert_string_equal(smtp_class_name(SMTP_CLASS_LIMIT), "limit");
	assert_string_equal(queue_state_name(QUEUE_QUEUED), "queued");
	assert_string_equal(queue_state_name(QUEUE_SENDING), "sending");
	assert_string_equal(queue_state_name(QUEUE_DEFERRED), "deferred");
	assert_string_equal(queue_state_name(QUEUE_DELIVERED), "delivered");
	assert_string_equal(queue_state_name(QUEUE_FAILED), "failed");
	assert_string_equal(queue_state_name(QUEUE_HELD), "held");
	assert_string_equal(queue_state_name(QUEUE_CANCELLED), "cancelled");
	assert_string_equal(queue_attempt_status_name(QUEUE_ATTEMPT_SENT), "sent");
	assert_string_equal(queue_attempt_status_name(QUEUE_ATTEMPT_DEFERRED), "deferred");
	assert_string_equal(queue_attempt_status_name(QUEUE_ATTEMPT_FAILED), "failed");
	assert_string_equal(queue_attempt_status_name(QUEUE_ATTEMPT_EXPIRED), "expired");
	assert_string_equal(queue_attempt_status_name(QUEUE_ATTEMPT_CANCELLED), "cancelled");
	assert_string_equal(queue_attempt_status_name(QUEUE_ATTEMPT_RESEND), "resend");
	assert_string_equal(queue_attempt_status_name(QUEUE_ATTEMPT_REPLACED), "replaced");
}

/* Every name parses back to its enum; unknown words and NULL are refused. */
static void
test_parse(void **state)
{
	enum queue_state st = QUEUE_QUEUED;
	enum queue_attempt_status as = QUEUE_ATTEMPT_SENT;
	enum smtp_class c = SMTP_CLASS_OK;

	(void)state;
	for (int i = 0; i < QUEUE_STATES; i++) {
		assert_int_equal(queue_state_parse(queue_state_name((enum queue_state)i), &st), 0);
		assert_int_equal(st, i);
	}
	for (int i = QUEUE_ATTEMPT_SENT; i <= QUEUE_ATTEMPT_REPLACED; i++) {
		assert_int_equal(queue_attempt_status_parse(
		    queue_attempt_status_name((enum queue_attempt_status)i), &as), 0);
		assert_int_equal(as, i);
	}
	for (int i = SMTP_CLASS_OK; i <= SMTP_CLASS_LIMIT; i++) {
		assert_int_equal(smtp_class_parse(smtp_class_name((enum smtp_class)i), &c), 0);
		assert_int_equal(c, i);
	}
	/* refused, and *out left alone */
	st = QUEUE_HELD;
	assert_int_equal(queue_state_parse("replaced", &st), -1);
	assert_int_equal(queue_state_parse("Queued", &st), -1);
	assert_int_equal(queue_state_parse("", &st), -1);
	assert_int_equal(queue_state_parse(NULL, &st), -1);
	assert_int_equal(st, QUEUE_HELD);
	assert_int_equal(queue_attempt_status_parse("delivered", &as), -1);
	assert_int_equal(queue_attempt_status_parse(NULL, &as), -1);
	assert_int_equal(smtp_class_parse("5XX", &c), -1);
	assert_int_equal(smtp_class_parse("?", &c), -1);
	assert_int_equal(smtp_class_parse(NULL, &c), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delivered_and_failed),
		cmocka_unit_test(test_deferred_backs_off_then_expires),
		cmocka_unit_test(test_again_is_not_counted),
		cmocka_unit_test(test_possible_duplicate_flag),
		cmocka_unit_test(test_cancel_wins_over_temporary_only),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests_name("delivery_policy", tests, NULL, NULL);
}
