#include "testutil.h"

#include "bulletin.h"
#include "compose.h"

static struct bulletin *
issue(const char *text)
{
	struct bulletin *b;
	char err[64];

	assert_int_equal(bulletin_parse(text, strlen(text), NULL, 0, &b, err, sizeof(err)), 0);
	return b;
}

static void
expect_subject(const char *tmpl, const char *text, const char *want)
{
	struct bulletin *b = issue(text);
	char *s = compose_subject(tmpl, b);

	assert_string_equal(s, want);
	free(s);
	bulletin_free(b);
}

#define FULL "首都精神文明建设情况简报\n第 29 期\n(总第 2138 期)\n首都精神文明办\n2020 年 6 月 12 日\n"

static void
test_subject_placeholders(void **state)
{
	(void)state;
	expect_subject("%title% 第%issue%期", FULL, "首都精神文明建设情况简报 第29期");
	expect_subject("%title%（总第%total%期）%date% %issuer% 100%%", FULL,
	    "首都精神文明建设情况简报（总第2138期）2020-06-12 首都精神文明办 100%");
}

static void
test_subject_missing_values(void **state)
{
	(void)state;
	/* no number: "第期" does not appear, no stray spaces */
	expect_subject("%title% 第%issue%期", "工作简报\n\n2021年1月1日\n", "工作简报");
	expect_subject("%title% 第%issue%期 (总第%total%期)", "工作简报\n第3期\n2021年1月1日\n",
	    "工作简报 第3期");
}

static void
test_subject_is_one_line(void **state)
{
	(void)state;
	/* a CR inside a title line must not start a new header */
	expect_subject("%title%", "工作\r简报\tBcc: x@example.test\n第1期\n2021年1月1日\n",
	    "工作简报 Bcc: x@example.test");

	/* whatever the parser lets through, the subject has no line break */
	struct bulletin b = { .title = "简报\r\nBcc: x@example.test\x85\x7f",
		.issue_no = 3, .total_issue_no = -1 };
	char *s = compose_subject("%title% 第%issue%期", &b);
	assert_string_equal(s, "简报 Bcc: x@example.test 第3期");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject_placeholders),
		cmocka_unit_test(test_subject_missing_values),
		cmocka_unit_test(test_subject_is_one_line),
	};
	return cmocka_run_group_tests_name("compose", tests, NULL, NULL);
}
