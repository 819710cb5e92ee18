/* Unit tests for outbox names; fileio, control and the delivery log have files of their own. */
#include "testutil.h"

#include "log.h"
#include "outbox.h"

static void
test_outbox_names(void **state)
{
	(void)state;
	assert_true(outbox_ignored_name(".第29期.txt"));
	assert_true(outbox_ignored_name("第29期.txt.tmp"));
	assert_true(outbox_ignored_name("第29期.txt.part"));
	assert_false(outbox_ignored_name("第29期.txt"));
	assert_false(outbox_ignored_name("tmp.txt"));
	assert_false(outbox_ignored_name("第7期"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbox_names),
	};
	log_init(false);
	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
