#include "testutil.h"

#include "sbuf.h"

static void
test_empty_buffer_reads_as_empty_string(void **state)
{
	(void)state;
	struct sbuf b = SBUF_INIT;

	assert_null(b.data);
	assert_string_equal(sbuf_str(&b), "");
	sbuf_reset(&b);		/* no data yet: must not write through NULL */
	assert_int_equal(b.len, 0);
	char *s = sbuf_steal(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	sbuf_free(&b);
	sbuf_free(&b);		/* twice: the second is a no-op */
}

static void
test_append_grows_and_stays_terminated(void **state)
{
	(void)state;
	struct sbuf b = SBUF_INIT;

	sbuf_puts(&b, "第");
	sbuf_printf(&b, "%d期", 29);
	for (int i = 0; i < 1000; i++)
		sbuf_putc(&b, 'x');
	assert_int_equal(b.len, strlen("第29期") + 1000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_memory_equal(sbuf_str(&b), "第29期x", strlen("第29期x"));

	char *s = sbuf_steal(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(strlen(s), strlen("第29期") + 1000);
	free(s);
	sbuf_free(&b);
}

static void
test_append_takes_embedded_nul_and_counts_bytes(void **state)
{
	(void)state;
	struct sbuf b = SBUF_INIT;

	sbuf_append(&b, "a\0b", 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b\0", 4);
	sbuf_append(&b, NULL, 0);	/* an empty append is allowed with no bytes */
	assert_int_equal(b.len, 3);
	sbuf_free(&b);
}

static void
test_printf_formats_long_output(void **state)
{
	(void)state;
	struct sbuf b = SBUF_INIT;
	char big[5000];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sbuf_puts(&b, "<");
	sbuf_printf(&b, "%s|%05d|%s", big, 42, "尾");
	assert_int_equal(b.len, 1 + strlen(big) + strlen("|00042|尾"));
	assert_string_equal(sbuf_str(&b) + 1 + strlen(big), "|00042|尾");
	sbuf_free(&b);
}

static void
test_reset_keeps_capacity_for_reuse(void **state)
{
	(void)state;
	struct sbuf b = SBUF_INIT;

	sbuf_puts(&b, "first line that is long enough");
	size_t cap = b.cap;
	char *data = b.data;
	sbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(sbuf_str(&b), "");
	sbuf_puts(&b, "second");
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_string_equal(sbuf_str(&b), "second");
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_buffer_reads_as_empty_string),
		cmocka_unit_test(test_append_grows_and_stays_terminated),
		cmocka_unit_test(test_append_takes_embedded_nul_and_counts_bytes),
		cmocka_unit_test(test_printf_formats_long_output),
		cmocka_unit_test(test_reset_keeps_capacity_for_reuse),
	};
	return cmocka_run_group_tests_name("sbuf", tests, NULL, NULL);
}
