/* Unit tests for queue/backoff.c: retry timing computed from stored facts (pure). */
#include "testutil.h"

#include "backoff.h"

static void
test_delay_doubles_up_to_the_cap(void **state)
{
	(void)state;
	/* jitter 0.5 is the middle of the ±20 % spread: the bare doubling shows */
	assert_int_equal(backoff_delay(1, 300, 3600, 0.5), 300);
	assert_int_equal(backoff_delay(2, 300, 3600, 0.5), 600);
	assert_int_equal(backoff_delay(3, 300, 3600, 0.5), 1200);
	assert_int_equal(backoff_delay(4, 300, 3600, 0.5), 2400);
	assert_int_equal(backoff_delay(5, 300, 3600, 0.5), 3600);
	assert_int_equal(backoff_delay(500, 300, 3600, 0.5), 3600);
}

static void
test_delay_jitter_spreads_twenty_percent(void **state)
{
	(void)state;
	assert_int_equal(backoff_delay(1, 300, 3600, 0.0), 240);
	assert_int_equal(backoff_delay(1, 300, 3600, 0.99), 359);
	/* the spread never goes past max_backoff */
	assert_int_equal(backoff_delay(50, 300, 3600, 0.0), 2880);
	assert_int_equal(backoff_delay(50, 300, 3600, 0.999), 3600);
}

static void
test_delay_clamps_jitter_out_of_range(void **state)
{
	(void)state;
	/* a bad random source must not give a delay outside the spread */
	assert_int_equal(backoff_delay(1, 300, 3600, -5.0), backoff_delay(1, 300, 3600, 0.0));
	assert_int_equal(backoff_delay(1, 300, 3600, 1.0), 360);
	assert_int_equal(backoff_delay(1, 300, 3600, 7.0), 360);
}

static void
test_delay_stays_between_one_second_and_the_cap(void **state)
{
	(void)state;
	assert_int_equal(backoff_delay(1, 1, 1, 0.0), 1);
	assert_int_equal(backoff_delay(1, 0, 10, 0.0), 1);
	for (int a = 1; a < 40; a++)
		for (int j = 0; j < 10; j++) {
			int64_t d = backoff_delay(a, 2, 10, j / 10.0);
			assert_true(d >= 1 && d <= 10);
		}
}

static void
test_next_attempt_ends_with_the_lifetime(void **state)
{
	(void)state;
	assert_int_equal(backoff_next_attempt(100, 0, 1, 10, 3600, 1000, 0.5), 110);
	/* the last try lands on the lifetime's end, not after it */
	assert_int_equal(backoff_next_attempt(100, 0, 1, 300, 3600, 200, 0.5), 200);
	/* at the end or past it: expired */
	assert_int_equal(backoff_next_attempt(200, 0, 2, 300, 3600, 200, 0.5), -1);
	assert_int_equal(backoff_next_attempt(5000, 0, 2, 300, 3600, 200, 0.5), -1);
	/* the lifetime counts from arrival, not from the first attempt at 0 */
	assert_int_equal(backoff_next_attempt(1100, 1000, 1, 10, 3600, 200, 0.5), 1110);
}

static void
test_received_takes_clock_steps_out(void **state)
{
	(void)state;
	/* a six-day forward correction neither expires nor moves what came after it */
	struct backoff_jump fwd[] = { { 1000 + 518400, 518400 } };
	assert_int_equal(backoff_received(900, fwd, 1), 900 + 518400);
	assert_int_equal(backoff_received(1000, fwd, 1), 1000 + 518400);
	assert_int_equal(backoff_received(1000 + 518400, fwd, 1), 1000 + 518400);
	int64_t r = backoff_received(900, fwd, 1);
	assert_true(backoff_next_attempt(1000 + 518400 + 5, r, 1, 300, 3600, 432000, 0.5) > 0);
	assert_int_equal(backoff_next_attempt(1000 + 518400 + 5, 900, 1, 300, 3600, 432000,
	    0.5), -1);
	/* a backward step moves only what is surely older: a doubt prolongs */
	struct backoff_jump back[] = { { 5000, -86400 } };
	assert_int_equal(backoff_received(4000, back, 1), 4000 - 86400);
	assert_int_equal(backoff_received(5000, back, 1), 5000);
	assert_int_equal(backoff_received(6000, back, 1), 6000);
	/* steps add up in the order seen */
	struct backoff_jump two[] = { { 2000, 1000 }, { 5000, -500 } };
	assert_int_equal(backoff_received(500, two, 2), 1000);
	assert_int_equal(backoff_received(3000, two, 2), 2500);
	assert_int_equal(backoff_received(500, NULL, 0), 500);
}

static void
test_reconnect_doubles_from_one_second_to_a_minute(void **state)
{
	(void)state;
	static const int64_t want[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };
	for (int t = 1; t <= 9; t++)
		assert_int_equal(backoff_reconnect(t, 60), want[t - 1]);
	/* for ever after a long outage: no overflow */
	assert_int_equal(backoff_reconnect(1000000, 60), 60);
	assert_int_equal(backoff_reconnect(INT32_MAX, 60), 60);
}

static void
test_reconnect_clamps_its_arguments(void **state)
{
	(void)state;
	assert_int_equal(backoff_reconnect(0, 60), 1);
	assert_int_equal(backoff_reconnect(-5, 60), 1);
	assert_int_equal(backoff_reconnect(3, 0), 1);
	assert_int_equal(backoff_reconnect(3, 3), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_doubles_up_to_the_cap),
		cmocka_unit_test(test_delay_jitter_spreads_twenty_percent),
		cmocka_unit_test(test_delay_clamps_jitter_out_of_range),
		cmocka_unit_test(test_delay_stays_between_one_second_and_the_cap),
		cmocka_unit_test(test_next_attempt_ends_with_the_lifetime),
		cmocka_unit_test(test_received_takes_clock_steps_out),
		cmocka_unit_test(test_reconnect_doubles_from_one_second_to_a_minute),
		cmocka_unit_test(test_reconnect_clamps_its_arguments),
	};
	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
