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

static void
check_wire_format(const char *m, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)m[i] >= 0x80)
			fail_msg("8-bit byte at %zu", i);
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			fail_msg("bare LF at %zu", i);
	}
}

static void
test_message(void **state)
{
	(void)state;
	struct compose_rcpt rc[] = {
		{ "中央文明办", "office@wmb.example.test", CONF_HEADER_TO },
		{ "市总工会", "gh@example.test", CONF_HEADER_CC },
		{ "东城区文明办", "dc@example.test", CONF_HEADER_BCC },
	};
	struct compose_attachment att = { "附件一：名单.pdf", "%PDF-1.4 test", 13 };
	struct compose_input in = {
		.from_display = "首都精神文明办", .from_address = "bulletin@example.test",
		.subject = "首都精神文明建设情况简报 第29期", .message_id = "distd.1.abc@example.test",
		.issue_id = 1, .date = 1591925401, .body = "## 标题\n\n正文。\n",
		.urgent = true, .rcpts = rc, .n_rcpts = 3, .attachments = &att, .n_attachments = 1,
	};
	char err[128];
	size_t len;
	char *m = compose_message(&in, &len, err, sizeof(err));

	assert_non_null(m);
	check_wire_format(m, len);
	assert_non_null(strstr(m, "Subject: =?"));
	assert_non_null(strstr(m, "Message-Id: <distd.1.abc@example.test>"));
	assert_non_null(strstr(m, "X-Distd-Issue: 1\r\n"));
	assert_non_null(strstr(m, "Importance: high\r\n"));
	assert_non_null(strstr(m, "Priority: urgent\r\n"));
	assert_non_null(strstr(m, "<office@wmb.example.test>"));
	assert_non_null(strstr(m, "Cc: "));
	assert_null(strstr(m, "dc@example.test"));	/* bcc stays out of the headers */
	assert_non_null(strstr(m, "multipart/mixed"));
	assert_non_null(strstr(m, "multipart/alternative"));
	assert_non_null(strstr(m, "text/html"));
	assert_non_null(strstr(m, "application/pdf"));
	assert_non_null(strstr(m, "filename*=UTF-8''%E9%99%84%E4%BB%B6"));	/* RFC 2231 */
	assert_null(strstr(m, "Auto-Submitted"));
	free(m);

	/* only bcc recipients: undisclosed-recipients, no attachments → alternative only */
	in.rcpts = &rc[2];
	in.n_rcpts = 1;
	in.n_attachments = 0;
	in.urgent = false;
	m = compose_message(&in, &len, err, sizeof(err));
	check_wire_format(m, len);
	assert_non_null(strstr(m, "To: undisclosed-recipients: ;\r\n"));
	assert_null(strstr(m, "multipart/mixed"));
	assert_null(strstr(m, "Importance"));
	free(m);
}

static void
test_content_types(void **state)
{
	(void)state;
	assert_string_equal(compose_content_type("a.PDF"), "application/pdf");
	assert_string_equal(compose_content_type("名单.docx"),
	    "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
	assert_string_equal(compose_content_type("noext"), "application/octet-stream");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject_placeholders),
		cmocka_unit_test(test_subject_missing_values),
		cmocka_unit_test(test_subject_is_one_line),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_content_types),
	};
	return cmocka_run_group_tests_name("compose", tests, NULL, NULL);
}
