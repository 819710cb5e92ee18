#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xalloc.h"

static void
test_zero_sizes_give_distinct_freeable_pointers(void **state)
{
	(void)state;
	void *a = xmalloc(0), *b = xcalloc(0, 8), *c = xrealloc(NULL, 0);

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_ptr_not_equal(a, b);
	free(a);
	free(b);
	free(c);
}

static void
test_calloc_zeroes_and_realloc_keeps_contents(void **state)
{
	(void)state;
	unsigned char *p = xcalloc(64, 4);

	for (size_t i = 0; i < 256; i++)
		assert_int_equal(p[i], 0);
	memcpy(p, "bulletin", 8);
	p = xreallocarray(p, 1024, 16);
	assert_memory_equal(p, "bulletin", 8);
	free(p);
}

static void
test_strndup_stops_at_n_and_terminates(void **state)
{
	(void)state;
	char *s = xstrndup("首都精神文明办", strlen("首都")), *t = xstrdup("");

	assert_string_equal(s, "首都");
	assert_string_equal(t, "");
	free(s);
	free(t);
	/* the source need not be terminated: only n bytes are read */
	char raw[3] = { 'a', 'b', 'c' };
	s = xstrndup(raw, 2);
	assert_string_equal(s, "ab");
	free(s);
}

/* The overflow check must fire before realloc sees a wrapped size. */
static void
test_reallocarray_overflow_aborts(void **state)
{
	(void)state;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		(void)xreallocarray(NULL, SIZE_MAX / 2 + 2, 2);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_sizes_give_distinct_freeable_pointers),
		cmocka_unit_test(test_calloc_zeroes_and_realloc_keeps_contents),
		cmocka_unit_test(test_strndup_stops_at_n_and_terminates),
		cmocka_unit_test(test_reallocarray_overflow_aborts),
	};
	return cmocka_run_group_tests_name("xalloc", tests, NULL, NULL);
}
