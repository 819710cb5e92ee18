#include "testutil.h"

#include <time.h>

#include "timefmt.h"

static void
in_zone(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void
test_offset_has_a_colon(void **state)
{
	(void)state;
	char buf[TIMEFMT_RFC3339_SIZE];

	in_zone("Asia/Shanghai");
	assert_string_equal(timefmt_rfc3339(1591925401, buf, sizeof(buf)),
	    "2020-06-12T09:30:01+08:00");
	in_zone("UTC");
	assert_string_equal(timefmt_rfc3339(1591925401, buf, sizeof(buf)),
	    "2020-06-12T01:30:01+00:00");
}

/* Offsets west of UTC and with minutes, where a hand-made %z fix goes wrong. */
static void
test_negative_and_half_hour_offsets(void **state)
{
	(void)state;
	char buf[TIMEFMT_RFC3339_SIZE];

	in_zone("America/St_Johns");	/* NDT in June: -02:30 */
	assert_string_equal(timefmt_rfc3339(1591925401, buf, sizeof(buf)),
	    "2020-06-11T23:00:01-02:30");
	in_zone("Asia/Kolkata");
	assert_string_equal(timefmt_rfc3339(0, buf, sizeof(buf)),
	    "1970-01-01T05:30:00+05:30");
	in_zone("Asia/Shanghai");
}

static void
test_short_buffer_is_cut_and_terminated(void **state)
{
	(void)state;
	char buf[11];

	in_zone("Asia/Shanghai");
	assert_string_equal(timefmt_rfc3339(1591925401, buf, sizeof(buf)), "2020-06-12");
	assert_ptr_equal(timefmt_rfc3339(1591925401, buf, 0), buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offset_has_a_colon),
		cmocka_unit_test(test_negative_and_half_hour_offsets),
		cmocka_unit_test(test_short_buffer_is_cut_and_terminated),
	};
	return cmocka_run_group_tests_name("timefmt", tests, NULL, NULL);
}
