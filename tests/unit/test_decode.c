#include "testutil.h"

#include <iconv.h>

#include "decode.h"

/* Converts UTF-8 to another encoding with iconv, for building inputs. */
static char *
encode_as(const char *to, const char *utf8, size_t *out_len)
{
	iconv_t cd = iconv_open(to, "UTF-8");
	size_t inleft = strlen(utf8), cap = inleft * 4 + 8, outleft = cap;
	char *in = (char *)utf8, *buf = malloc(cap), *out = buf;

	assert_true(cd != (iconv_t)-1);
	assert_int_not_equal(iconv(cd, &in, &inleft, &out, &outleft), (size_t)-1);
	iconv_close(cd);
	*out_len = cap - outleft;
	return buf;
}

static void
expect_ok(const char *in, size_t n, const char *want, const char *enc)
{
	char err[256] = "", *out;
	size_t len;
	const char *got_enc;

	assert_int_equal(decode_to_utf8(in, n, &out, &len, &got_enc, err, sizeof(err)), 0);
	assert_string_equal(got_enc, enc);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
	free(out);
}

static void
expect_error(const char *in, size_t n, const char *needle)
{
	char err[256] = "", *out = (char *)1;
	size_t len;
	const char *enc;

	assert_int_equal(decode_to_utf8(in, n, &out, &len, &enc, err, sizeof(err)), -1);
	assert_null(out);
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' does not contain '%s'", err, needle);
}

static const char sample[] = "报：中央文明办，市委。\n第 29 期";

static void
test_utf8(void **state)
{
	(void)state;
	expect_ok(sample, strlen(sample), sample, "UTF-8");
	expect_ok("", 0, "", "UTF-8");
}

static void
test_utf8_bom(void **state)
{
	(void)state;
	char buf[128];
	snprintf(buf, sizeof(buf), "\xEF\xBB\xBF%s", sample);
	expect_ok(buf, strlen(buf), sample, "UTF-8 (BOM)");
	/* a BOM promises UTF-8: GB18030 bytes after it are an error */
	expect_error("\xEF\xBB\xBF\xB1\xA8", 5, "byte 3:");
}

static void
test_gb18030(void **state)
{
	(void)state;
	size_t n;
	char *gb = encode_as("GB18030", sample, &n);
	expect_ok(gb, n, sample, "GB18030");
	free(gb);
	/* GBK bytes are a subset of GB18030 */
	gb = encode_as("GBK", sample, &n);
	expect_ok(gb, n, sample, "GB18030");
	free(gb);
}

static void
test_utf16(void **state)
{
	(void)state;
	size_t n;
	char *le = encode_as("UTF-16LE", sample, &n);
	char *buf = malloc(n + 2);
	memcpy(buf, "\xFF\xFE", 2);
	memcpy(buf + 2, le, n);
	expect_ok(buf, n + 2, sample, "UTF-16LE");
	free(le);
	free(buf);

	char *be = encode_as("UTF-16BE", sample, &n);
	buf = malloc(n + 2);
	memcpy(buf, "\xFE\xFF", 2);
	memcpy(buf + 2, be, n);
	expect_ok(buf, n + 2, sample, "UTF-16BE");
	free(be);
	free(buf);

	/* a lone high surrogate at the end */
	expect_error("\xFF\xFE" "a\0\x00\xD8", 6, "byte 4: invalid UTF-16LE");
}

static void
test_invalid(void **state)
{
	(void)state;
	/* 0x80 alone is neither UTF-8 nor the start of a GB18030 sequence */
	expect_error("abc\x80xyz", 7, "byte 3:");
	/* a GB18030 lead byte at the end of the file is truncated */
	expect_error("abcdef\xB1", 7, "byte 6:");
	expect_error("ab\0cd", 5, "byte 2: NUL byte");
	/* UTF-16 without a BOM is binary to us (NUL bytes) */
	expect_error("a\0b\0", 4, "byte 1: NUL byte");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_bom),
		cmocka_unit_test(test_gb18030),
		cmocka_unit_test(test_utf16),
		cmocka_unit_test(test_invalid),
	};
	return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
