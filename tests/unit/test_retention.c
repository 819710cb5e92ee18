/* Unit tests for daemon/retention.c: record names and the daemon's daily pass. */
#include "testutil.h"
#include "testqueue.h"

#include <time.h>

#include "retention.h"

/* id, the day received (local time) and 8 hex digits of the Message-ID's SHA-256. */
static void
test_record_name(void **state)
{
	(void)state;
	struct queue_record r = { .id = 42, .received = 86400 * 3 + 3600,
		.message_id = "distd.42.abc@example.test" };
	char a[128], b[128];

	setenv("TZ", "UTC", 1);
	tzset();
	retention_record_name(a, sizeof(a), &r);
	assert_int_equal(strncmp(a, "42-19700104-", 12), 0);
	assert_int_equal(strlen(a), 12 + 8);
	assert_int_equal(strspn(a + 12, "0123456789abcdef"), 8);
	/* a queue started afresh hands out 42 again: another Message-ID, another name */
	r.message_id = "distd.42.def@example.test";
	retention_record_name(b, sizeof(b), &r);
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, b, 12), 0);
	/* the same issue, the same name: a record written twice replaces itself */
	r.message_id = "distd.42.abc@example.test";
	retention_record_name(b, sizeof(b), &r);
	assert_string_equal(a, b);
}

/*
 * Off (history 0): never wakes. On: a pass at once (0: come back at once
 * while it runs), then the next a day later; until then it says how long.
 */
static void
test_daily_pass(void **state)
{
	(void)state;
	char path[64], archive[80];
	struct queue *q = test_queue_open("retention", path, sizeof(path));
	struct retention r = { 0 };
	int64_t now = 1000000;

	snprintf(archive, sizeof(archive), "%s.archive", path);
	assert_int_equal(retention_step(&r, q, archive, 0, now), -1);
	/* an empty queue: the pass is over in one slice */
	assert_int_equal(retention_step(&r, q, archive, 400 * 86400, now),
	    RETENTION_PERIOD * 1000);
	assert_false(r.running);
	assert_int_equal(r.next, now + RETENTION_PERIOD);
	assert_int_equal(retention_step(&r, q, archive, 400 * 86400, now + 60),
	    (RETENTION_PERIOD - 60) * 1000);
	/* a day later, the next pass */
	assert_int_equal(retention_step(&r, q, archive, 400 * 86400, now + RETENTION_PERIOD),
	    RETENTION_PERIOD * 1000);
	assert_int_equal(r.next, now + 2 * RETENTION_PERIOD);
	test_queue_remove(q, path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_name),
		cmocka_unit_test(test_daily_pass),
	};
	return cmocka_run_group_tests_name("retention", tests, NULL, NULL);
}
