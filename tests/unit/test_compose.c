#include "testutil.h"

#include "bulletin.h"
#include "compose.h"
#include "sbuf.h"
#include "xalloc.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <strings.h>

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
	/* %urgency%: 【特急】 when the masthead says so, nothing otherwise */
	expect_subject("%urgency%%title% 第%issue%期", "特急\n工作简报\n第3期\n2021年1月1日\n",
	    "【特急】工作简报 第3期");
	expect_subject("%urgency%%title% 第%issue%期", "工作简报\n第3期\n2021年1月1日\n",
	    "工作简报 第3期");
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

/* Every RFC 2047 encoded word in m, none longer than 75 characters. */
static size_t
longest_encoded_word(const char *m)
{
	size_t longest = 0;

	for (const char *p = strstr(m, "=?"); p != NULL; p = strstr(p + 2, "=?")) {
		const char *q = strchr(p + 2, '?');
		if (q == NULL || (q[1] != 'B' && q[1] != 'b' && q[1] != 'Q' && q[1] != 'q') ||
		    q[2] != '?')
			continue;
		const char *e = strstr(q + 3, "?=");
		assert_non_null(e);
		size_t n = (size_t)(e + 2 - p);
		if (n > longest)
			longest = n;
		p = e;
	}
	return longest;
}

/* The header block: no line over 78 columns, none that is not a header or a fold. */
static void
check_headers(const char *m)
{
	const char *end = strstr(m, "\r\n\r\n");

	assert_non_null(end);
	for (const char *l = m; l < end;) {
		const char *e = strstr(l, "\r\n");
		if ((size_t)(e - l) > 78)
			fail_msg("header line over 78 columns: %.*s", (int)(e - l), l);
		if (*l != ' ' && *l != '\t' && memchr(l, ':', (size_t)(e - l)) == NULL)
			fail_msg("not a header line: %.*s", (int)(e - l), l);
		l = e + 2;
	}
}

/*
 * m with its MIME boundaries (GMime draws them at random) replaced by
 * fixed ones, so that two renderings compare byte for byte.
 */
static char *
fixed_boundaries(const char *m)
{
	char *out = xstrdup(m);
	int n = 0;

	for (const char *p = strstr(m, "boundary=\""); p != NULL;
	    p = strstr(p + 1, "boundary=\"")) {
		const char *b = p + strlen("boundary=\""), *e = strchr(b, '"');
		char *old = xstrndup(b, (size_t)(e - b)), fixed[32];
		snprintf(fixed, sizeof(fixed), "=-fixed-boundary-%d", n++);
		gchar **parts = g_strsplit(out, old, -1);
		gchar *joined = g_strjoinv(fixed, parts);
		free(out);
		out = xstrdup(joined);
		g_free(joined);
		g_strfreev(parts);
		free(old);
	}
	return out;
}

/* An issue of every part (to, cc, bcc, attachment) with nobody asked to confirm. */
static char *
golden_issue_message(const struct bulletin *b, const char *receipt_to)
{
	static const struct compose_rcpt rc[] = {
		{ "中央文明办", "office@wmb.example.test", CONF_HEADER_TO, "报" },
		{ "市总工会", "gh@example.test", CONF_HEADER_CC, "送" },
		{ "东城区文明办", "dc@example.test", CONF_HEADER_BCC, "发" },
	};
	static const struct attachment att = { "附件一：名单.pdf", "%PDF-1.4 test", 13 };
	struct compose_input in = {
		.from_display = "首都精神文明办", .from_address = "bulletin@example.test",
		.reply_to_address = "editor@example.test",
		.subject = "首都精神文明建设情况简报 第29期", .message_id = "distd.1.abc@example.test",
		.issue_id = 1, .date = 1591925401, .issue = b,
		.urgent = true, .rcpts = rc, .n_rcpts = 3, .attachments = &att, .n_attachments = 1,
		.receipt_to = receipt_to,
	};
	char err[128];
	size_t len;
	char *m = compose_message(&in, &len, err, sizeof(err));

	if (m == NULL)
		fail_msg("%s", err);
	char *f = fixed_boundaries(m);
	free(m);
	return f;
}

#define GOLDEN_NO_RECEIPT "tests/data/compose/no-receipt.eml"

/*
 * Nobody asked to confirm: the message is the one distd wrote before
 * receipt requests existed, byte for byte (the file was written by that
 * code; DISTD_WRITE_GOLDEN=1 writes it again, on purpose only).
 */
static void
test_no_receipt_byte_identical(void **state)
{
	(void)state;
	struct bulletin *b = issue(FULL "\n## 标题\n\n正文。\n\n报：中央文明办\n");
	char *m, *want;
	gsize want_len;

	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	m = golden_issue_message(b, NULL);
	if (getenv("DISTD_WRITE_GOLDEN")) {
		FILE *f = fopen(GOLDEN_NO_RECEIPT, "w");
		assert_non_null(f);
		fputs(m, f);
		fclose(f);
	}
	GError *ge = NULL;
	if (!g_file_get_contents(GOLDEN_NO_RECEIPT, &want, &want_len, &ge))
		fail_msg("%s", ge->message);
	assert_string_equal(m, want);
	assert_null(strstr(m, "Disposition-Notification-To"));
	assert_null(strstr(m, "In-Reply-To"));
	g_free(want);
	free(m);
	bulletin_free(b);
}

/* The decoded text of every text/SUBTYPE part of message m, one after another. */
static void
collect_parts(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	(void)parent;
	void **d = data;
	const char *want = d[0];
	struct sbuf *out = d[1];
	if (!GMIME_IS_TEXT_PART(part) || !g_mime_content_type_is_type(
	    g_mime_object_get_content_type(part), "text", want))
		return;
	char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	sbuf_puts(out, t);
	g_free(t);
}

static char *
parts_text(const char *m, size_t len, const char *subtype)
{
	struct sbuf out = SBUF_INIT;
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(m, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	void *d[2] = { (void *)subtype, &out };

	assert_non_null(msg);
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	if (GMIME_IS_MULTIPART(body))
		g_mime_multipart_foreach(GMIME_MULTIPART(body), collect_parts, d);
	else
		collect_parts(NULL, body, d);
	g_object_unref(msg);
	g_object_unref(p);
	g_object_unref(st);
	return sbuf_steal(&out);
}

static bool
ends_with_line(const char *s, const char *line)
{
	size_t n = strlen(s), l = strlen(line);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return n >= l && memcmp(s + n - l, line, l) == 0;
}

/*
 * Somebody asked to confirm receipt: Disposition-Notification-To with the
 * address, and the request as the last line of the text and of the HTML
 * page; nothing else changes but the parts that carry the line.
 */
static void
test_receipt_request(void **state)
{
	(void)state;
	struct bulletin *b = issue(FULL "\n## 标题\n\n正文。\n\n报：中央文明办\n");
	char *m, *before;

	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	before = golden_issue_message(b, NULL);
	m = golden_issue_message(b, "feedback@example.test");
	check_headers(m);
	check_wire_format(m, strlen(m));
	assert_non_null(strstr(m, "\r\nDisposition-Notification-To: <feedback@example.test>\r\n"));
	/* the headers are the same but for the one added */
	const char *eh = strstr(m, "\r\n\r\n"), *ebh = strstr(before, "\r\n\r\n");
	char *hm = xstrndup(m, (size_t)(eh - m)), *hb = xstrndup(before, (size_t)(ebh - before));
	char *dnt = strstr(hm, "Disposition-Notification-To: <feedback@example.test>\r\n");
	memmove(dnt, dnt + strlen("Disposition-Notification-To: <feedback@example.test>\r\n"),
	    strlen(dnt + strlen("Disposition-Notification-To: <feedback@example.test>\r\n")) + 1);
	assert_string_equal(hm, hb);
	free(hm);
	free(hb);

	char *text = parts_text(m, strlen(m), "plain"), *html = parts_text(m, strlen(m), "html");
	char *text0 = parts_text(before, strlen(before), "plain");
	assert_true(ends_with_line(text, COMPOSE_RECEIPT_LINE));
	assert_null(strstr(text0, "签收"));
	/* the text is the old text and the line after a blank line */
	assert_int_equal(strncmp(text, text0, strlen(text0)), 0);
	assert_string_equal(text + strlen(text0), "\n" COMPOSE_RECEIPT_LINE "\n");
	/* the last paragraph of the page (line ends as the part carries them) */
	char *w = html;
	for (char *r = html; *r; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
	const char *at = strstr(html, COMPOSE_RECEIPT_LINE);
	assert_non_null(at);
	assert_string_equal(at, COMPOSE_RECEIPT_LINE "</p>\n</div>\n</body></html>\n");
	free(text);
	free(text0);
	free(html);
	free(m);
	free(before);

	/* an address that could break the header is refused, not written */
	struct compose_input in = {
		.from_address = "bulletin@example.test", .subject = "s",
		.message_id = "distd.1.abc@example.test", .issue_id = 1, .issue = b,
		.receipt_to = "a@example.test>\r\nBcc: x@evil.test",
	};
	char err[128];
	size_t len;
	assert_null(compose_message(&in, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "Disposition-Notification-To"));
	in.receipt_to = "申请@example.test";
	assert_null(compose_message(&in, &len, err, sizeof(err)));
	in.receipt_to = NULL;
	in.in_reply_to = "x y@example.test";
	assert_null(compose_message(&in, &len, err, sizeof(err)));
	bulletin_free(b);
}

/* The reminder: threaded to the issue, asks for the confirmation again, no attachment. */
static void
test_reminder(void **state)
{
	(void)state;
	struct compose_rcpt rc[] = {
		{ "市总工会", "gh@example.test", CONF_HEADER_BCC, "送" },
		{ "东城区文明办", "dc@example.test", CONF_HEADER_BCC, "发" },
	};
	struct compose_reminder_in in = {
		.from_display = "首都精神文明办", .from_address = "bulletin@example.test",
		.receipt_to = "feedback@example.test",
		.subject = "首都精神文明建设情况简报 第29期",
		.original_id = "distd.7.0123456789abcdef@example.test",
		.sent = 1591925401,	/* 2020-06-12 09:30:01 +08:00 */
		.message_id = "distd.9.fedcba9876543210@example.test", .issue_id = 9,
		.date = 1592000000, .rcpts = rc, .n_rcpts = 2,
	};
	char err[128];
	size_t len;

	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	char *subj = compose_reminder_subject("简报\r\n第29期");
	assert_string_equal(subj, "请确认收到 / Please confirm receipt: 简报 第29期");
	free(subj);

	char *m = compose_reminder(&in, &len, err, sizeof(err));
	if (m == NULL)
		fail_msg("%s", err);
	check_wire_format(m, len);
	check_headers(m);
	assert_non_null(strstr(m, "\r\nIn-Reply-To: <distd.7.0123456789abcdef@example.test>\r\n"));
	assert_non_null(strstr(m, "\r\nReferences: <distd.7.0123456789abcdef@example.test>\r\n"));
	assert_non_null(strstr(m, "\r\nDisposition-Notification-To: <feedback@example.test>\r\n"));
	assert_non_null(strstr(m, "Message-Id: <distd.9.fedcba9876543210@example.test>"));
	assert_non_null(strstr(m, "X-Distd-Issue: 9\r\n"));
	assert_non_null(strstr(m, "To: undisclosed-recipients: ;\r\n"));
	assert_null(strstr(m, "gh@example.test"));	/* units do not see each other */
	assert_null(strstr(m, "multipart"));		/* one text part, no attachment */
	assert_null(strstr(m, "Auto-Submitted"));	/* a person is to answer it */

	GMimeStream *st = g_mime_stream_mem_new_with_buffer(m, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	assert_string_equal(g_mime_message_get_subject(msg),
	    "请确认收到 / Please confirm receipt: 首都精神文明建设情况简报 第29期");
	g_object_unref(msg);
	g_object_unref(p);
	g_object_unref(st);

	char *text = parts_text(m, len, "plain");
	assert_non_null(strstr(text, "2020年6月12日 09:30"));
	assert_non_null(strstr(text, "《首都精神文明建设情况简报 第29期》"));
	assert_non_null(strstr(text, "签收"));
	assert_non_null(strstr(text, "On 2020-06-12 09:30 +0800 we sent"));
	assert_non_null(strstr(text, "Please reply to this message to confirm receipt"));
	free(text);
	free(m);

	/* without the issue's Message-ID there is nothing to thread to */
	in.original_id = NULL;
	assert_null(compose_reminder(&in, &len, err, sizeof(err)));
	in.original_id = "distd.7.x@example.test";
	in.receipt_to = NULL;
	assert_null(compose_reminder(&in, &len, err, sizeof(err)));
}

static void
test_message(void **state)
{
	(void)state;
	struct compose_rcpt rc[] = {
		{ "中央文明办", "office@wmb.example.test", CONF_HEADER_TO, "报" },
		{ "市总工会", "gh@example.test", CONF_HEADER_CC, "送" },
		{ "东城区文明办", "dc@example.test", CONF_HEADER_BCC, "发" },
	};
	struct attachment att = { "附件一：名单.pdf", "%PDF-1.4 test", 13 };
	struct bulletin *b = issue(FULL "\n## 标题\n\n正文。\n");
	struct compose_input in = {
		.from_display = "首都精神文明办", .from_address = "bulletin@example.test",
		.subject = "首都精神文明建设情况简报 第29期", .message_id = "distd.1.abc@example.test",
		.issue_id = 1, .date = 1591925401, .issue = b,
		.urgent = true, .rcpts = rc, .n_rcpts = 3, .attachments = &att, .n_attachments = 1,
	};
	char err[128];
	size_t len;
	char *m = compose_message(&in, &len, err, sizeof(err));

	assert_non_null(m);
	check_wire_format(m, len);
	check_headers(m);
	assert_non_null(strstr(m, "Subject: =?"));
	assert_non_null(strstr(m, "Message-Id: <distd.1.abc@example.test>"));
	assert_non_null(strstr(m, "X-Distd-Issue: 1\r\n"));
	assert_non_null(strstr(m, "Importance: high\r\n"));
	assert_non_null(strstr(m, "Priority: urgent\r\n"));
	assert_non_null(strstr(m, "<office@wmb.example.test>"));
	assert_non_null(strstr(m, "Cc: "));
	assert_null(strstr(m, "dc@example.test"));	/* bcc stays out of the headers */
	assert_null(strstr(m, "Reply-To"));
	assert_non_null(strstr(m, "multipart/mixed"));
	assert_non_null(strstr(m, "multipart/alternative"));
	assert_non_null(strstr(m, "text/html"));
	assert_non_null(strstr(m, "application/pdf"));
	assert_non_null(strstr(m, "filename*=UTF-8''%E9%99%84%E4%BB%B6"));	/* RFC 2231 */
	assert_non_null(strstr(m, "name=\"=?UTF-8?B?"));			/* RFC 2047 */
	assert_null(strstr(m, "Auto-Submitted"));
	free(m);

	/* only bcc recipients: undisclosed-recipients, no attachments → alternative only */
	in.rcpts = &rc[2];
	in.n_rcpts = 1;
	in.n_attachments = 0;
	in.urgent = false;
	in.reply_to_display = "编辑部";
	in.reply_to_address = "editor@example.test";
	m = compose_message(&in, &len, err, sizeof(err));
	check_wire_format(m, len);
	assert_non_null(strstr(m, "To: undisclosed-recipients: ;\r\n"));
	assert_non_null(strstr(m, "Reply-To: =?UTF-8?B?57yW6L6R6YOo?= <editor@example.test>\r\n"));
	assert_null(strstr(m, "multipart/mixed"));
	assert_null(strstr(m, "Importance"));
	free(m);

	/* distd's own mail: plain text as it is, no HTML made of it */
	in.issue = NULL;
	in.body = "- 单位一\n**不是 Markdown**\n";
	in.auto_submitted = true;
	m = compose_message(&in, &len, err, sizeof(err));
	check_wire_format(m, len);
	assert_non_null(strstr(m, "Auto-Submitted: auto-generated\r\n"));
	assert_non_null(strstr(m, "Content-Type: text/plain; charset=utf-8"));
	assert_null(strstr(m, "text/html"));
	assert_null(strstr(m, "multipart"));
	free(m);
	bulletin_free(b);
}

/* A long Chinese subject and long display names: encoded words of at most 75 characters. */
static void
test_encoded_words(void **state)
{
	(void)state;
	const char *subject = "门头沟区创建全国文明城市工作快报 第439期 关于开展创建全国文明城市"
	    "百日冲刺暨接诉即办比学赶超擂台赛情况的通报（特急）ABC def";
	struct compose_rcpt rc[] = {
		{ "门头沟区创建全国文明城市总指挥部办公室综合协调组", "a@example.test",
		    CONF_HEADER_TO, "报" },
		{ "Office \"A\" (B)", "b@example.test", CONF_HEADER_TO, "报" },
		{ NULL, "c@example.test", CONF_HEADER_CC, "送" },
	};
	struct compose_input in = {
		.from_display = "门头沟区创建全国文明城市总指挥部办公室",
		.from_address = "kuaibao@example.test", .subject = subject,
		.message_id = "distd.2.x@example.test", .issue_id = 2, .date = 1591925401,
		.body = "x", .rcpts = rc, .n_rcpts = 3,
	};
	char err[128];
	size_t len;
	char *m = compose_message(&in, &len, err, sizeof(err));

	assert_non_null(m);
	check_wire_format(m, len);
	check_headers(m);
	size_t longest = longest_encoded_word(m);
	assert_true(longest > 60);	/* the words are there, and … */
	assert_true(longest <= 75);	/* … none is over RFC 2047's limit */
	assert_non_null(strstr(m, "\"Office \\\"A\\\" (B)\" <b@example.test>"));
	assert_non_null(strstr(m, "Cc: c@example.test\r\n"));
	/* issue 439's subject: GMime made a 76-character word of it */
	in.subject = "门头沟区创建全国文明城市工作快报 第439期";
	free(m);
	m = compose_message(&in, &len, err, sizeof(err));
	assert_true(longest_encoded_word(m) <= 75);
	free(m);
}

/*
 * A tier over max_header_names is one empty group, as a reader's address
 * parser sees it (GMime's): the names are in the 版记, and a 10 000-unit
 * 报 tier must not make a 575 KB To header. A tier at the limit is listed.
 */
static void
test_large_tier_is_a_group(void **state)
{
	(void)state;
	enum { BIG = 150, AT_LIMIT = 100 };
	struct compose_rcpt rc[BIG + AT_LIMIT + 1];
	char addr[BIG + AT_LIMIT + 1][40];
	struct compose_input in = {
		.from_address = "bulletin@example.test", .subject = "简报",
		.message_id = "distd.3.x@example.test", .issue_id = 3, .date = 1591925401,
		.body = "x", .rcpts = rc, .n_rcpts = BIG + AT_LIMIT + 1,
		.max_header_names = AT_LIMIT,
	};
	char err[128];
	size_t len;

	for (size_t i = 0; i < BIG + AT_LIMIT + 1; i++) {
		snprintf(addr[i], sizeof(addr[i]), "u%zu@example.test", i);
		/* 报 and 抄 interleaved (3 of 5 are 报): grouping needs no sort */
		bool big = i % 5 < 3;
		if (i == BIG + AT_LIMIT)
			rc[i] = (struct compose_rcpt){ "市总工会", addr[i], CONF_HEADER_CC, "送" };
		else
			rc[i] = (struct compose_rcpt){ NULL, addr[i], CONF_HEADER_TO,
			    big ? "报" : "抄" };
	}
	/* exactly BIG of 报 and AT_LIMIT of 抄: count them as built */
	size_t n_bao = 0;
	for (size_t i = 0; i < BIG + AT_LIMIT; i++)
		n_bao += strcmp(rc[i].tier, "报") == 0;
	assert_int_equal(n_bao, BIG);

	char *m = compose_message(&in, &len, err, sizeof(err));
	assert_non_null(m);
	check_wire_format(m, len);
	check_headers(m);

	GMimeStream *st = g_mime_stream_mem_new_with_buffer(m, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	assert_non_null(msg);
	InternetAddressList *to = g_mime_message_get_to(msg);
	size_t groups = 0, mailboxes = 0;
	for (int i = 0; i < internet_address_list_length(to); i++) {
		InternetAddress *a = internet_address_list_get_address(to, i);
		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			groups++;
			assert_string_equal(internet_address_get_name(a),
			    "报（150 个地址，见版记）");
			assert_int_equal(internet_address_list_length(
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a))), 0);
		} else {
			mailboxes++;
		}
	}
	assert_int_equal(groups, 1);
	assert_int_equal(mailboxes, AT_LIMIT);
	assert_int_equal(internet_address_list_length(g_mime_message_get_cc(msg)), 1);
	/* no address of the grouped tier is anywhere in the header block */
	const char *end = strstr(m, "\r\n\r\n");
	assert_null(g_strstr_len(m, end - m, "u0@example.test"));
	assert_non_null(g_strstr_len(m, end - m, "u3@example.test"));	/* 抄 */
	g_object_unref(msg);
	g_object_unref(p);
	g_object_unref(st);
	free(m);
}

/* CR and LF never reach a header: not from a file name, a name or a subject. */
static void
test_header_injection(void **state)
{
	(void)state;
	struct compose_rcpt rc = { "单位\r\nBcc: evil@example.test", "a@example.test",
		CONF_HEADER_TO, "报" };
	struct attachment att[] = {
		{ "名单\r\nBcc: evil@example.test.pdf", "x", 1 },
		{ "report\nContent-Type: text/html.pdf", "y", 1 },
		{ "\r\n", "z", 1 },
	};
	struct compose_input in = {
		.from_display = "办公室\nX-Evil: 1", .from_address = "bulletin@example.test",
		.subject = "简报\r\nBcc: evil@example.test", .message_id = "distd.3.x@example.test",
		.issue_id = 3, .date = 1591925401, .body = "x", .rcpts = &rc, .n_rcpts = 1,
		.attachments = att, .n_attachments = 3,
	};
	char err[128];
	size_t len;
	char *m = compose_message(&in, &len, err, sizeof(err));

	assert_non_null(m);
	check_wire_format(m, len);
	check_headers(m);
	/* no line anywhere starts a header that was not written on purpose */
	for (const char *l = m; l != NULL; l = strstr(l, "\r\n")) {
		l += l == m ? 0 : 2;
		if (strncasecmp(l, "Bcc:", 4) == 0 || strncasecmp(l, "X-Evil:", 7) == 0)
			fail_msg("injected header line: %.40s", l);
		if (strncmp(l, "Content-Type: text/html", 23) == 0)
			fail_msg("injected content type");
	}
	/* the ASCII name is kept (as one line) and quoted by GMime */
	assert_non_null(strstr(m, "report Content-Type: text/html.pdf"));
	assert_non_null(strstr(m, "filename=attachment"));	/* nothing left: a name */
	free(m);

	/* an address is refused, not mended */
	rc.address = "a@example.test\r\nBcc: evil@example.test";
	assert_null(compose_message(&in, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "recipient 1"));
	rc.address = "a@example.test";
	in.reply_to_address = "r@example.test>, evil@example.test";
	assert_null(compose_message(&in, &len, err, sizeof(err)));
}

static struct bulletin *
seed(const char *name)
{
	size_t n = 0;
	char *text = read_seed(name, &n), err[128];
	struct bulletin *b;

	assert_int_equal(bulletin_parse(text, n, NULL, 0, &b, err, sizeof(err)), 0);
	free(text);
	return b;
}

static void
expect_all(const char *what, const char *doc, const char *const *want)
{
	for (; *want; want++)
		if (strstr(doc, *want) == NULL)
			fail_msg("%s lacks \"%s\"", what, *want);
	if (strstr(doc, "**") || strstr(doc, "##"))
		fail_msg("%s has Markdown marks", what);
}

/*
 * SpamAssassin's obfuscation count (HTML_OBFUSCATE_*): a tag between two
 * text runs where the one before ends and the one after begins with a
 * character that is not ASCII white space or punctuation.
 */
static size_t
obfuscation_splits(const char *html)
{
	size_t splits = 0;
	int last = -1;		/* last byte of the last text run, -1 before any */
	bool tag = false;

	for (const char *p = html; *p;) {
		if (*p == '<') {
			p = strchr(p, '>');
			assert_non_null(p);
			p++;
			tag = true;
			continue;
		}
		const char *e = strchr(p, '<');
		if (e == NULL)
			e = p + strlen(p);
		unsigned char first = (unsigned char)*p;
		bool word_first = first >= 0x80 || (first > 0x20 && g_ascii_isalnum(first));
		bool word_last = last >= 0x80 || (last > 0x20 && g_ascii_isalnum(last));
		if (tag && word_first && word_last)
			splits++;
		last = (unsigned char)e[-1];
		tag = false;
		p = e;
	}
	return splits;
}

/* <strong>what</strong> in html, with the newline the writer may put after
 * the tag (see obfuscation_splits). */
static bool
has_strong(const char *html, const char *what)
{
	char a[256], b[256];

	snprintf(a, sizeof(a), "<strong>%s</strong>", what);
	snprintf(b, sizeof(b), "<strong>\n%s</strong>", what);
	return strstr(html, a) != NULL || strstr(html, b) != NULL;
}

static void
test_seed_capital(void **state)
{
	(void)state;
	struct bulletin *b = seed(SEED_CAPITAL);
	char *text = compose_text(b), *html = compose_html(b);
	const char *const both[] = { "首都精神文明建设情况简报", "第29期", "总第2138期",
		"首都精神文明办", "2020年6月12日", "大兴区齐心协力 吹响全国文明城区创建冲锋号",
		"重点调度机制", "报：中央文明办,首都文明委主任、副主任,市委、市人大、市政府、市政协。",
		"送：首都文明委委员,市委、市政府各部委办局,各总公司、高等院校,市级群众团体。",
		"发：各区委书记、区长、宣传部长,各区文明办,有关新闻单位。",
		"责编：梅雪峰", "核稿：田文松", "电话：55569506", "邮箱：jswmzhxctc@163.com", NULL };

	expect_all("text", text, both);
	expect_all("html", html, both);
	/* in the document's order: masthead, body, 版记 (fields, then tiers) */
	assert_true(strstr(text, "第29期") < strstr(text, "【文明创建】"));
	assert_true(strstr(text, "(延庆区文明办)") < strstr(text, "责编"));
	assert_true(strstr(text, "邮箱") < strstr(text, "报："));
	assert_true(strstr(html, "(延庆区文明办)") < strstr(html, "责编"));
	/* headings and bold are plain lines and plain text */
	assert_non_null(strstr(text, "\n【文明创建】\n\n大兴区齐心协力 吹响全国文明城区创建冲锋号\n\n"));
	assert_non_null(strstr(text, "\n部门联动，凝聚合力。各部门齐抓共管"));
	/* the three bold lead-ins, whatever punctuation surrounds them */
	assert_true(has_strong(html, "部门联动，凝聚合力。"));
	assert_true(has_strong(html, "常态管理,狠抓落实。"));
	assert_true(has_strong(html, "守土有责,创建有方。"));
	/* the masthead: a red h1, a red rule; nothing remote, no <style> */
	assert_non_null(strstr(html, "<h1 style=\"") );
	assert_non_null(strstr(html, "color:#c8161d"));
	assert_null(strstr(html, "<style"));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "url("));
	assert_int_equal(obfuscation_splits(html), 0);
	free(text);
	free(html);
	bulletin_free(b);
}

static void
test_seed_mentougou(void **state)
{
	(void)state;
	struct bulletin *b = seed(SEED_MENTOUGOU);
	char *text = compose_text(b), *html = compose_html(b);
	const char *const both[] = { "门头沟区创建全国文明城市工作快报", "第439期",
		"门头沟区创建全国文明城市总指挥部办公室", "2020年6月30日",
		"编校：史佳怡　核签：李争三", "报：首都文明办、区委、区人大、区政府、区政协领导同志",
		"发：全区各单位主要领导、创城工作主管领导、信息员",
		"电子邮箱：mtgccbxcz@bjmtg.gov.cn　电话：69822006", NULL };
	const char *const bold[] = { "区教委：", "潭柘寺镇：", "清水镇：", "东辛房街道：",
		"军庄镇：", "妙峰山镇：", "龙泉镇：", "永定镇：", NULL };

	expect_all("text", text, both);
	expect_all("html", html, both);
	assert_null(strstr(text, "总第"));	/* not printed: not invented */
	for (const char *const *w = bold; *w; w++) {
		if (!has_strong(html, *w))
			fail_msg("html lacks <strong>%s</strong>", *w);
	}
	/* 【指挥调度】 alone is a column heading */
	assert_non_null(strstr(html, "<h2 style="));
	assert_non_null(strstr(html, "【指挥调度】</h2>"));
	/* seed 003's 简讯 is full of bold lead-ins inside sentences: issue 439
	 * scored HTML_OBFUSCATE_20_30 for them */
	assert_int_equal(obfuscation_splits(html), 0);
	free(text);
	free(html);
	bulletin_free(b);
}

/* The bulletin's own markup is text, never HTML; code keeps its asterisks. */
static void
test_body_markup(void **state)
{
	(void)state;
	struct bulletin b = { .issue_no = -1, .total_issue_no = -1,
		.body = "<script>alert(1)</script>\n\n甲。**乙：**丙**丁**戊 `a**b**c` "
		    "[链接](javascript:alert(1)) ![图](http://example.test/x.png)\n\n"
		    "**孤**单**\n\n\\*\\*转义\\*\\*" };
	char *html = compose_html(&b), *text = compose_text(&b);

	assert_null(strstr(html, "<script"));
	assert_non_null(strstr(html, "&lt;script&gt;"));
	assert_true(has_strong(html, "乙："));
	assert_true(has_strong(html, "丁"));
	assert_non_null(strstr(html, "<code style=\"font-family:monospace\">a**b**c</code>"));
	assert_null(strstr(html, "javascript:"));
	assert_null(strstr(html, "<img"));
	assert_true(has_strong(html, "孤"));	/* a lone ** is dropped: */
	assert_null(strstr(html, "单*"));
	assert_non_null(strstr(html, "**转义**"));		/* an escaped one is text */
	assert_non_null(strstr(text, "甲。乙：丙丁戊 a**b**c 链接"));
	assert_int_equal(obfuscation_splits(html), 0);
	free(html);
	free(text);
}

/* Marks above the title and a tier under the label it was printed with. */
static void
test_marks_and_labels(void **state)
{
	(void)state;
	struct bulletin *b = issue("内部资料\n特急\n工作简报\n第3期\n某某办公室\n2021年1月1日\n"
	    "---\n\n正文第一段。\n\n---\n\n抄送：甲单位，乙单位\n\n---\n");
	char *text = compose_text(b), *html = compose_html(b);

	assert_non_null(b->internal);
	assert_non_null(b->urgency);
	assert_non_null(strstr(text, "内部资料　特急\n工作简报\n第3期\n某某办公室　2021年1月1日\n"));
	assert_non_null(strstr(html, "内部资料　特急"));
	assert_true(strstr(html, "内部资料") < strstr(html, "<h1"));
	assert_non_null(strstr(text, "\n抄送：甲单位，乙单位\n"));
	assert_non_null(strstr(html, "抄送：甲单位，乙单位</p>"));
	free(text);
	free(html);
	bulletin_free(b);

	/* nothing stated, nothing invented: no masthead, no rules */
	struct bulletin bare = { .issue_no = -1, .total_issue_no = -1, .body = "正文。" };
	text = compose_text(&bare);
	assert_string_equal(text, "正文。\n");
	free(text);
}

/* A series sends as itself: from, reply_to, subject, admin (conf_identity). */
static void
test_series_identity(void **state)
{
	(void)state;
	char *path = write_temp(
	    "smtp = { url = \"smtps://127.0.0.1:465\"; };\n"
	    "sender = { from = \"办公室 <bulletin@example.test>\"; admin = \"pm@example.test\";\n"
	    "  reply_to = \"编辑 <ed@example.test>\"; };\n"
	    "tiers = ( { keyword = \"报\"; header = \"to\"; } );\n"
	    "recipients = ( { name = \"甲\"; address = \"a@example.test\"; } );\n"
	    "series = ( { title = \"门头沟区 工作快报\";\n"
	    "  from = \"门头沟区办公室 <mtg@example.test>\";\n"
	    "  subject = \"%urgency%%title%（第%issue%期）\"; admin = \"mtg-pm@example.test\"; } );\n",
	    0644);
	struct conf *c = NULL;
	struct sbuf e = SBUF_INIT;
	struct conf_identity id;

	if (conf_load(path, 0, &c, &e) < 0)
		fail_msg("%s", sbuf_str(&e));
	conf_identity(c, "门头沟区工作快报", &id);
	assert_string_equal(id.from_display, "门头沟区办公室");
	assert_string_equal(id.from_address, "mtg@example.test");
	assert_null(id.reply_to_address);	/* sender's Reply-To is another office's */
	assert_string_equal(id.admin, "mtg-pm@example.test");
	assert_true(id.series_admin);
	struct bulletin *b = issue("特急\n门头沟区工作快报\n第439期\n2020年6月30日\n");
	char *s = compose_subject_for(c, b);
	assert_string_equal(s, "【特急】门头沟区工作快报（第439期）");
	free(s);
	bulletin_free(b);
	conf_identity(c, "别的简报", &id);
	assert_string_equal(id.from_address, "bulletin@example.test");
	assert_string_equal(id.reply_to_address, "ed@example.test");
	assert_string_equal(id.admin, "pm@example.test");
	assert_false(id.series_admin);
	conf_free(c);
	unlink(path);
	free(path);

	/* a header value with a control character is refused when loading */
	path = write_temp("smtp = { url = \"smtps://127.0.0.1:465\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "tiers = ( { keyword = \"报\"; header = \"to\"; } );\n"
	    "recipients = ( { name = \"甲\"; address = \"a@example.test\"; } );\n"
	    "series = ( { title = \"快报\"; reply_to = \"x\\r\\nBcc: y@example.test\"; "
	    "subject = \"%title% %bogus%\"; } );\n", 0644);
	sbuf_reset(&e);
	assert_int_equal(conf_load(path, 0, &c, &e), -1);
	assert_non_null(strstr(sbuf_str(&e), "series[0].reply_to: control character"));
	assert_non_null(strstr(sbuf_str(&e), "series[0].subject: unknown placeholder '%bogus%'"));
	sbuf_free(&e);
	unlink(path);
	free(path);
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
		cmocka_unit_test(test_no_receipt_byte_identical),
		cmocka_unit_test(test_receipt_request),
		cmocka_unit_test(test_reminder),
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_large_tier_is_a_group),
		cmocka_unit_test(test_seed_capital),
		cmocka_unit_test(test_seed_mentougou),
		cmocka_unit_test(test_body_markup),
		cmocka_unit_test(test_series_identity),
		cmocka_unit_test(test_marks_and_labels),
		cmocka_unit_test(test_content_types),
	};
	return cmocka_run_group_tests_name("compose", tests, NULL, NULL);
}
