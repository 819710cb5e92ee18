/* Unit tests for daemon/scheduler.c: its pure decisions and its life cycle. */
#include "testutil.h"

#include "scheduler.h"

/* Retries spread per issue, tier and attempt, not per recipient. */
static void
test_group_jitter(void **state)
{
	(void)state;
	double a = scheduler_group_jitter(7, "报", 1);
	int differ = 0;

	assert_true(a >= 0 && a < 1);
	assert_true(scheduler_group_jitter(7, "报", 1) == a);
	for (int64_t issue = 8; issue < 40; issue++)
		differ += scheduler_group_jitter(issue, "报", 1) != a;
	assert_true(differ >= 30);	/* other issues still spread apart */
}

/* Two jobs per connection, one running and one ready, except where the limits need one. */
static void
test_capacity(void **state)
{
	(void)state;
	assert_int_equal(scheduler_capacity(1, false, false), 2);
	assert_int_equal(scheduler_capacity(4, false, false), 8);
	/* no login proven yet, or probing after a refused one */
	assert_int_equal(scheduler_capacity(4, true, false), 1);
	assert_int_equal(scheduler_capacity(4, true, true), 1);
	/* rate limits count a job as it is taken: it must start then */
	assert_int_equal(scheduler_capacity(4, false, true), 4);
}

/* A new scheduler owns nothing it was given and starts with the storage up. */
static void
test_scheduler_lifecycle(void **state)
{
	(void)state;
	struct conf c;

	memset(&c, 0, sizeof(c));
	struct scheduler *s = scheduler_new(&c, NULL, NULL);
	assert_non_null(s);
	assert_false(scheduler_storage_down(s));
	scheduler_reconfigure(s, &c);
	scheduler_resume(s);
	scheduler_drain(s);
	scheduler_free(s);
	scheduler_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_jitter),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_scheduler_lifecycle),
	};
	return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
