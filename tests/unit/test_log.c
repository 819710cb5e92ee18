/* Unit tests for daemon/log.c: the delivery log file. */
#include "testutil.h"

#include "fileio.h"
#include "log.h"

static void
test_delivery_log_reopens_after_a_rename(void **state)
{
	(void)state;
	char path[64], moved[80];
	char *data, err[256];
	size_t len;

	snprintf(path, sizeof(path), "/tmp/distd-dlog-%d", (int)getpid());
	snprintf(moved, sizeof(moved), "%s.1", path);
	assert_int_equal(delivery_log_open(path), 0);
	delivery_log_write("issue=1 status=sent");
	assert_int_equal(rename(path, moved), 0);
	delivery_log_reopen();
	delivery_log_write("issue=2 status=sent");
	delivery_log_close();
	assert_int_equal(fileio_read_all(moved, 4096, 0, &data, &len, err, sizeof(err)), 0);
	assert_string_equal(data, "issue=1 status=sent\n");
	free(data);
	assert_int_equal(fileio_read_all(path, 4096, 0, &data, &len, err, sizeof(err)), 0);
	assert_string_equal(data, "issue=2 status=sent\n");
	free(data);
	unlink(path);
	unlink(moved);
}

static void
test_delivery_log_write_lines_appends_them_whole(void **state)
{
	(void)state;
	char path[64], *data, err[256];
	size_t len;
	static const char two[] = "issue=1 to=<a@example.test> status=sent\n"
	    "issue=1 to=<b@example.test> status=deferred\n";

	snprintf(path, sizeof(path), "/tmp/distd-dlog-lines-%d", (int)getpid());
	unlink(path);
	assert_int_equal(delivery_log_open(path), 0);
	delivery_log_write("issue=0 status=sent");
	delivery_log_write_lines(two, strlen(two));
	delivery_log_close();
	/* reopened: appended to, never truncated */
	assert_int_equal(delivery_log_open(path), 0);
	delivery_log_write("issue=2 status=sent");
	delivery_log_close();
	assert_int_equal(fileio_read_all(path, 4096, 0, &data, &len, err, sizeof(err)), 0);
	assert_string_equal(data, "issue=0 status=sent\n"
	    "issue=1 to=<a@example.test> status=sent\n"
	    "issue=1 to=<b@example.test> status=deferred\n"
	    "issue=2 status=sent\n");
	free(data);
	unlink(path);
}

static void
test_delivery_log_open_fails_on_a_missing_folder(void **state)
{
	(void)state;
	assert_int_equal(delivery_log_open("/nonexistent/distd/delivery.log"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delivery_log_reopens_after_a_rename),
		cmocka_unit_test(test_delivery_log_write_lines_appends_them_whole),
		cmocka_unit_test(test_delivery_log_open_fails_on_a_missing_folder),
	};
	log_init(false);
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
