#include "testutil.h"

#include "json.h"
#include "sbuf.h"
#include "text.h"

static void
test_next_and_valid(void **state)
{
	(void)state;
	const char *s = "a中\xF0\x9F\x98\x80";
	size_t i = 0, n = strlen(s), bad = 99;

	assert_int_equal(text_next(s, n, &i), 'a');
	assert_int_equal(text_next(s, n, &i), 0x4E2D);
	assert_int_equal(text_next(s, n, &i), 0x1F600);
	assert_int_equal(i, n);
	assert_true(text_valid_utf8(s, n, &bad));

	/* overlong, surrogate, truncated, stray continuation */
	assert_false(text_valid_utf8("ab\xC0\xAF", 4, &bad));
	assert_int_equal(bad, 2);
	assert_false(text_valid_utf8("\xED\xA0\x80", 3, &bad));
	assert_int_equal(bad, 0);
	assert_false(text_valid_utf8("x\xE4\xB8", 3, &bad));
	assert_int_equal(bad, 1);
	assert_false(text_valid_utf8("\x80", 1, &bad));
}

static void
test_fold_and_key(void **state)
{
	(void)state;
	char *f = text_fold("\xE3\x80\x80 抄　送：ＡＢＣ１ ", strlen("\xE3\x80\x80 抄　送：ＡＢＣ１ "));
	assert_string_equal(f, "抄 送:ABC1");
	free(f);

	char *k1 = text_key("区 政　协"), *k2 = text_key("区政协"), *k3 = text_key("Office A");
	assert_string_equal(k1, k2);
	assert_string_equal(k3, "officea");
	free(k1);
	free(k2);
	free(k3);
}

static void
test_width_and_strip(void **state)
{
	(void)state;
	assert_int_equal(text_width("abc"), 3);
	assert_int_equal(text_width("简报"), 4);
	assert_int_equal(text_width("第29期"), 6);
	assert_int_equal(text_width("（）"), 4);
	/* combining marks, zero-width space and BOM take no column */
	assert_int_equal(text_width("e\xCC\x81\xE2\x80\x8B\xEF\xBB\xBF"), 1);
	/* Hangul, emoji, a CJK extension B ideograph: wide; controls: nothing */
	assert_int_equal(text_width("한\xF0\x9F\x98\x80\xF0\xA0\x80\x80\x1b\x7f"), 6);
	/* an invalid byte shows as one replacement glyph */
	assert_int_equal(text_width("a\xff"), 2);
	/* half-width forms and ideographic half-fill are narrow */
	assert_int_equal(text_width("\xEF\xBD\xB1\xE3\x80\xBF"), 2);

	char *s = text_strip("\xE3\x80\x80 中 文 \t", strlen("\xE3\x80\x80 中 文 \t"));
	assert_string_equal(s, "中 文");
	free(s);
	s = text_strip("   ", 3);
	assert_string_equal(s, "");
	free(s);
}

static void
test_ideograph(void **state)
{
	(void)state;
	assert_true(text_is_ideograph(0x4E2D));		/* 中 */
	assert_true(text_is_ideograph(0x3007));		/* 〇 */
	assert_false(text_is_ideograph(0x3002));	/* 。 */
	assert_false(text_is_ideograph(0xFF0C));	/* ， */
	assert_false(text_is_ideograph('a'));
}

static void
test_escape_for_terminal(void **state)
{
	(void)state;
	struct sbuf b = SBUF_INIT;
	static const char hostile[] = "标题\x1b]0;x\x07\t\x7f\xc2\x9b" "1m\xe2\x80\xae" "a\n\xb5\xda";

	assert_true(text_printable("首都精神文明建设情况简报 第29期", strlen("首都精神文明建设情况简报 第29期")));
	assert_false(text_printable(hostile, strlen(hostile)));
	assert_false(text_printable("a\nb", 3));
	assert_false(text_printable("\xb5\xda", 2));
	text_escape(&b, hostile, strlen(hostile), false);
	assert_string_equal(sbuf_str(&b),
	    "标题\\x1b]0;x\\x07\\x09\\x7f\\u009b1m\\u202ea\\x0a\\xb5\\xda");
	sbuf_reset(&b);
	text_escape(&b, "a\nb\x1b", 4, true);
	assert_string_equal(sbuf_str(&b), "a\nb\\x1b");
	sbuf_free(&b);
}

static void
test_json_always_valid_utf8(void **state)
{
	(void)state;
	struct sbuf b = SBUF_INIT;

	json_str(&b, "简报\x1b[2J\"\\\n\xb5\xda\xc2\x9b\xe2\x80\xa8");
	assert_string_equal(sbuf_str(&b),
	    "\"简报\\u001b[2J\\\"\\\\\\n\xef\xbf\xbd\xef\xbf\xbd\\u009b\\u2028\"");
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));
	sbuf_reset(&b);
	json_hex(&b, "\xb5\xda" "29");
	assert_string_equal(sbuf_str(&b), "\"b5da3239\"");
	sbuf_reset(&b);
	json_hex(&b, NULL);
	json_str(&b, NULL);
	assert_string_equal(sbuf_str(&b), "nullnull");
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_and_valid),
		cmocka_unit_test(test_fold_and_key),
		cmocka_unit_test(test_width_and_strip),
		cmocka_unit_test(test_ideograph),
		cmocka_unit_test(test_escape_for_terminal),
		cmocka_unit_test(test_json_always_valid_utf8),
	};
	return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
