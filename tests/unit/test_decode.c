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
	/* NUL bytes on both parities: binary, not UTF-16 */
	expect_error("a\0\0b", 4, "byte 1: NUL byte");
	/* UTF-16 that decodes to control characters is binary too */
	expect_error("\x01\0\x02\0", 4, "byte 1: NUL byte");
}

/* A longer text, as bulletins are: detectors need more than a line. */
static const char long_sample[] =
    "首都精神文明建设情况简报\n第 29 期\n首都精神文明办\n2020 年 6 月 12 日\n\n"
    "区四套班子领导高度重视、高位推进文明城区创建工作，抓部门联动、抓常态管理、"
    "抓守土有责，各项工作纵深推进。各部门齐抓共管，构建两条创城战线。\n\n"
    "报：中央文明办，首都文明委主任、副主任，市委、市人大、市政府、市政协。\n"
    "送：首都文明委委员，市委、市政府各部委办局，各总公司、高等院校，市级群众团体。\n";

/* Big5 is traditional Chinese (Taiwan, Hong Kong, Macao offices). */
static const char trad_sample[] =
    "首都精神文明建設情況簡報\n第 29 期\n首都精神文明辦\n2020 年 6 月 12 日\n\n"
    "區四套班子領導高度重視、高位推進文明城區創建工作，抓部門聯動、抓常態管理、"
    "抓守土有責，各項工作縱深推進。各部門齊抓共管，構建兩條創城戰線。\n\n"
    "報：中央文明辦，首都文明委主任、副主任，市委、市人大、市政府、市政協。\n"
    "送：首都文明委委員，市委、市政府各部委辦局，各總公司、高等院校，市級群眾團體。\n";

static void
test_big5(void **state)
{
	(void)state;
	size_t n;
	char *b5 = encode_as("BIG5", trad_sample, &n);
	/* the bytes are valid GBK too: without detection this was mojibake */
	expect_ok(b5, n, trad_sample, "Big5");
	free(b5);
}

static void
test_utf16_without_bom(void **state)
{
	(void)state;
	size_t n;
	char *le = encode_as("UTF-16LE", long_sample, &n);
	expect_ok(le, n, long_sample, "UTF-16LE");
	free(le);
	char *be = encode_as("UTF-16BE", long_sample, &n);
	expect_ok(be, n, long_sample, "UTF-16BE");
	free(be);
	expect_ok("a\0\n\0", 4, "a\n", "UTF-16LE");
	/* a NUL that happens to pair up, but no line: binary */
	expect_error("\0again", 6, "byte 0: NUL byte");
}

static void
test_unsure_is_refused(void **state)
{
	(void)state;
	/* two GBK-only bytes (丂): uchardet cannot tell from so little,
	 * and outside GB2312 a guess could as well be Big5 */
	size_t n;
	expect_error("\x81\x40", 2, "cannot be told apart");
	/* a Western code page is named, not guessed at */
	char *latin = encode_as("ISO-8859-1", "Le café naïf: résumé, façade, "
	    "à la carte, élève, naïveté, noël, soupçon, déjà vu, crème brûlée.", &n);
	expect_error(latin, n, "looks like");
	free(latin);
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
		cmocka_unit_test(test_big5),
		cmocka_unit_test(test_utf16_without_bom),
		cmocka_unit_test(test_unsure_is_refused),
	};
	return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
