/* Unit tests for daemon/control.c: the control socket, server and client side. */
#include "testutil.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include "control.h"
#include "log.h"

static void
test_request_and_reply_roundtrip(void **state)
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
test_listen_replaces_a_stale_socket(void **state)
{
	(void)state;
	char path[64], err[256];
	struct stat st;

	snprintf(path, sizeof(path), "/tmp/distd-ctl-stale-%d", (int)getpid());
	/* what a killed daemon leaves: a socket file nobody listens on */
	int fd = control_listen(path, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	fd = control_listen(path, err, sizeof(err));
	assert_true(fd >= 0);
	/* 0660: the distd group's admins may steer */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	close(fd);
	unlink(path);
}

static void
test_request_without_a_daemon_says_so(void **state)
{
	(void)state;
	char reply[64], err[256];

	err[0] = '\0';
	assert_int_equal(control_request("/tmp/distd-no-such-socket", "ping", reply,
	    sizeof(reply), err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

static void
test_health_roundtrip(void **state)
{
	(void)state;
	struct control_health h = { 0 }, back;
	char line[512];

	control_health_format(&h, line, sizeof(line));
	assert_string_equal(line, "ok queue connected\n");
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(control_health_parse(line, &back), 0);
	assert_false(back.unreachable);

	h.unreachable = true;
	h.since = 1700000000;
	h.next = 16;
	/* libpq's messages carry newlines: the reply stays one line */
	snprintf(h.error, sizeof(h.error), "server closed the connection\nunexpectedly");
	control_health_format(&h, line, sizeof(line));
	assert_string_equal(line, "ok queue unreachable since=1700000000 next=16 "
	    "error=server closed the connection unexpectedly\n");
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(control_health_parse(line, &back), 0);
	assert_true(back.unreachable);
	assert_int_equal(back.since, 1700000000);
	assert_int_equal(back.next, 16);
	assert_string_equal(back.error, "server closed the connection unexpectedly");

	/* an older distd's answer is not a health line */
	assert_int_equal(control_health_parse("error unknown request 'health'", &back), -1);
	assert_int_equal(control_health_parse("ok queue unreachable soon", &back), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_and_reply_roundtrip),
		cmocka_unit_test(test_listen_replaces_a_stale_socket),
		cmocka_unit_test(test_request_without_a_daemon_says_so),
		cmocka_unit_test(test_health_roundtrip),
	};
	log_init(false);
	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
