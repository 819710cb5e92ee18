/* Unit tests for the I/O-edge modules: fileio, control, outbox names. */
#include "testutil.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include "control.h"
#include "fileio.h"
#include "log.h"
#include "outbox.h"

static void
test_fileio(void **state)
{
	(void)state;
	char *path = write_temp("简报正文", 0644), err[512], *data;
	size_t len;
	char link[300];

	assert_int_equal(fileio_read_all(path, 1024, 1, &data, &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen("简报正文"));
	assert_string_equal(data, "简报正文");
	free(data);
	/* over the limit: refused without reading, naming the setting */
	assert_int_equal(fileio_read_all(path, 4, 1, &data, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "limits.max_issue_bytes"));
	/* a symbolic link is refused with O_NOFOLLOW */
	snprintf(link, sizeof(link), "%s.link", path);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(fileio_read_all(link, 1024, 1, &data, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is a symbolic link"));
	assert_int_equal(fileio_read_all(link, 1024, 0, &data, &len, err, sizeof(err)), 0);
	free(data);
	assert_int_equal(fileio_read_all("/tmp", 1024, 1, &data, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(link);
	unlink(path);
	free(path);
}

static void
test_control_roundtrip(void **state)
{
	(void)state;
	char path[64], err[256], reply[128];
	pid_t child;

	snprintf(path, sizeof(path), "/tmp/distd-ctl-%d", (int)getpid());
	int fd = control_listen(path, err, sizeof(err));
	assert_true(fd >= 0);
	/* a second daemon on the same socket is refused */
	assert_int_equal(control_listen(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another distd is running"));
	child = fork();
	if (child == 0) {
		char out[128];
		int rc = control_request(path, "ping", out, sizeof(out), err, sizeof(err));
		_exit(rc == 0 && strcmp(out, "ok 1 2") == 0 ? 0 : 1);
	}
	int c;
	char line[64];
	/* the refused second daemon's probe connection comes first: it says nothing */
	for (;;) {
		while ((c = accept(fd, NULL, NULL)) < 0)
			usleep(1000);
		if (control_read_request(c, line, sizeof(line)) == 0)
			break;
		close(c);
	}
	assert_string_equal(line, "ping");
	assert_int_equal(write(c, "ok 1 2\n", 7), 7);
	close(c);
	int status;
	waitpid(child, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	close(fd);
	unlink(path);
	assert_int_equal(control_request(path, "ping", reply, sizeof(reply), err, sizeof(err)), -1);
}

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
		cmocka_unit_test(test_fileio),
		cmocka_unit_test(test_control_roundtrip),
		cmocka_unit_test(test_outbox_names),
	};
	log_init(false);
	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
