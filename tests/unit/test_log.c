/* Unit tests for daemon/util/log.c: distd's own messages on stderr, for a terminal or the journal. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>

#include "log.h"

/* What the logger writes to stderr while fn runs, with JOURNAL_STREAM set or not. */
static char *
captured(bool journal, bool debug, void (*fn)(void))
{
	int fds[2], saved = dup(STDERR_FILENO);
	static char buf[4096];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	if (journal)
		setenv("JOURNAL_STREAM", "8:12345", 1);
	else
		unsetenv("JOURNAL_STREAM");
	log_init(debug);
	dup2(fds[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	buf[n < 0 ? 0 : n] = '\0';
	unsetenv("JOURNAL_STREAM");
	return buf;
}

static void
some_lines(void)
{
	log_info("started: %d connection(s)", 4);
	errno = ENOENT;
	log_warn("delivery log %s", "/x/delivery.log");
	log_warnx("reload: %s", "invalid");
	log_debug("only with -d");
}

static void
test_terminal_lines_are_prefixed(void **state)
{
	(void)state;
	assert_string_equal(captured(false, false, some_lines),
	    "distd: started: 4 connection(s)\n"
	    "distd: delivery log /x/delivery.log: No such file or directory\n"
	    "distd: reload: invalid\n");
	assert_false(log_to_journal());
}

/* Under systemd the priority goes first (<6> info, <4> warning), as sd-daemon(3) reads it. */
static void
test_journal_lines_carry_priorities(void **state)
{
	(void)state;
	assert_string_equal(captured(true, true, some_lines),
	    "<6>started: 4 connection(s)\n"
	    "<4>delivery log /x/delivery.log: No such file or directory\n"
	    "<4>reload: invalid\n"
	    "<7>only with -d\n");
	log_init(false);
}

static void
journal_flag(void)
{
	assert_true(log_to_journal());
}

static void
test_journal_detected_from_the_environment(void **state)
{
	(void)state;
	captured(true, false, journal_flag);
	log_init(false);
	assert_false(log_to_journal());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terminal_lines_are_prefixed),
		cmocka_unit_test(test_journal_lines_carry_priorities),
		cmocka_unit_test(test_journal_detected_from_the_environment),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
