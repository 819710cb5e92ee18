/* Unit tests for daemon/settle.c: outbox names waiting until they are quiet (pure). */
#include "testutil.h"

#include "settle.h"

static const struct settle_print FILE_PRINT = { .dev = 1, .ino = 10, .size = 100,
	.mtime_ns = 5000, .entries = -1 };

static void
test_touch_adds_once_and_restarts_the_quiet_time(void **state)
{
	(void)state;
	struct settle s = { 0 };

	struct settle_entry *e = settle_touch(&s, "第1期.txt", 100, &FILE_PRINT);
	assert_non_null(e);
	assert_string_equal(e->name, "第1期.txt");
	assert_int_equal(e->wd, -1);
	assert_int_equal(e->due, 100);
	assert_true(settle_print_equal(&e->print, &FILE_PRINT));
	/* activity on the same name moves its deadline; it stays one entry */
	e = settle_touch(&s, "第1期.txt", 130, NULL);
	assert_int_equal(s.n, 1);
	assert_int_equal(e->due, 130);
	/* no print known: all zero, so that any real print counts as a change */
	assert_int_equal(e->print.ino, 0);
	assert_false(settle_print_equal(&e->print, &FILE_PRINT));
	settle_free(&s);
	assert_int_equal(s.n, 0);
	assert_null(s.e);
}

static void
test_find_by_name_and_by_watch(void **state)
{
	(void)state;
	struct settle s = { 0 };

	settle_touch(&s, "a", 10, NULL);
	settle_touch(&s, "folder", 20, NULL)->wd = 7;
	assert_string_equal(settle_find(&s, "a")->name, "a");
	assert_null(settle_find(&s, "b"));
	assert_string_equal(settle_find_wd(&s, 7)->name, "folder");
	/* a file's wd is -1: a lookup by -1 must not hit it by accident */
	settle_find(&s, "a")->wd = -1;
	assert_null(settle_find_wd(&s, 8));
	settle_free(&s);
}

static void
test_next_and_due_follow_the_earliest_deadline(void **state)
{
	(void)state;
	struct settle s = { 0 };

	assert_int_equal(settle_next(&s), -1);
	assert_null(settle_due(&s, 1000));
	settle_touch(&s, "late", 300, NULL);
	settle_touch(&s, "early", 200, NULL);
	assert_int_equal(settle_next(&s), 200);
	assert_null(settle_due(&s, 199));
	assert_string_equal(settle_due(&s, 200)->name, "early");
	settle_remove(&s, settle_due(&s, 200));
	assert_int_equal(s.n, 1);
	assert_int_equal(settle_next(&s), 300);
	assert_null(settle_find(&s, "early"));
	assert_string_equal(settle_due(&s, 1000)->name, "late");
	settle_free(&s);
}

static void
test_remove_ignores_a_pointer_from_elsewhere(void **state)
{
	(void)state;
	struct settle s = { 0 };
	struct settle_entry stranger = { 0 };

	settle_touch(&s, "a", 1, NULL);
	settle_remove(&s, &stranger);
	assert_int_equal(s.n, 1);
	settle_free(&s);
}

static void
test_print_equal_compares_every_field(void **state)
{
	(void)state;
	struct settle_print p = FILE_PRINT;

	assert_true(settle_print_equal(&p, &FILE_PRINT));
	p.size++;
	assert_false(settle_print_equal(&p, &FILE_PRINT));
	p = FILE_PRINT;
	p.mtime_ns++;
	assert_false(settle_print_equal(&p, &FILE_PRINT));
	p = FILE_PRINT;
	p.ino++;
	assert_false(settle_print_equal(&p, &FILE_PRINT));
	p = FILE_PRINT;
	p.dev++;
	assert_false(settle_print_equal(&p, &FILE_PRINT));
	/* a folder gaining an entry of size 0 is activity too */
	p = FILE_PRINT;
	p.entries = 0;
	assert_false(settle_print_equal(&p, &FILE_PRINT));
}

static void
test_at_most_settle_max_names_wait(void **state)
{
	(void)state;
	struct settle s = { 0 };
	char name[32];

	for (int i = 0; i < SETTLE_MAX; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_non_null(settle_touch(&s, name, i, NULL));
	}
	assert_null(settle_touch(&s, "one-too-many", 1, NULL));
	assert_int_equal(s.n, SETTLE_MAX);
	/* a name already waiting can still be touched when full */
	assert_non_null(settle_touch(&s, "f0", 99, NULL));
	settle_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_touch_adds_once_and_restarts_the_quiet_time),
		cmocka_unit_test(test_find_by_name_and_by_watch),
		cmocka_unit_test(test_next_and_due_follow_the_earliest_deadline),
		cmocka_unit_test(test_remove_ignores_a_pointer_from_elsewhere),
		cmocka_unit_test(test_print_equal_compares_every_field),
		cmocka_unit_test(test_at_most_settle_max_names_wait),
	};
	return cmocka_run_group_tests_name("settle", tests, NULL, NULL);
}
