#include "testutil.h"

#include <time.h>

#include "record.h"
#include "sbuf.h"
#include "text.h"

/* Two recipients of one unit, one alone, and one with a hostile everything. */
static struct queue_record_recipient rows[] = {
	{ 1, "报", "市委、市人大、市政府、市政协", "市委", "office@sw.example.test",
	  QUEUE_DELIVERED, 1, 86400, 250, "2.0.0", "250 2.0.0 Ok: queued as A1", false, 0, 0,
	  NULL, NULL, false, 0, NULL, NULL, false, 0, NULL, 0, 0 },
	{ 2, "报", "市委、市人大、市政府、市政协", "市人大", "office@rd.example.test",
	  QUEUE_FAILED, 3, 0, 550, "5.1.1", "550 5.1.1 <office@rd.example.test> unknown", false,
	  0, 0, "fixed@rd.example.test", NULL, false, 0, NULL, NULL, false, 0, NULL, 0, 0 },
	{ 3, "送", "中央文明办", "中央文明办", "fixed@rd.example.test", QUEUE_DELIVERED, 1, 90000,
	  250, "2.0.0", "250 2.0.0 Ok", true, 2, 88000, NULL, "office@rd.example.test", false, 0, NULL, NULL, false, 0, NULL, 0, 0 },
	{ 4, "发", "A&B <\"Unit\">, 'x'", "=HYPERLINK(\"x\")", "odd,\"name\"@example.test",
	  QUEUE_CANCELLED, 0, 0, 0, NULL, "line one\nline two, \"quoted\"", false, 0, 0, NULL,
	  NULL, true, 0, NULL, NULL, false, 0, NULL, 0, 0 },
};

static struct queue_record rec = {
	.id = 17, .kind = QUEUE_KIND_BULLETIN, .title = "首都精神文明建设情况简报 <b>&</b>",
	.issuer = "首都精神文明办", .date = "2020-06-12", .source = "capital.txt",
	.subject = "简报 第29期", .message_id = "distd.17.abc@example.test", .state = QUEUE_ISSUE_DONE,
	.sha256 = "00", .issue_no = 29, .total_issue_no = 2138, .received = 86000,
	.finished = 90000, .recipients = rows, .n_recipients = 4,
};

static int
utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void
test_time(void **state)
{
	char buf[40];

	(void)state;
	record_time(buf, sizeof(buf), 86400);
	assert_string_equal(buf, "1970-01-02 00:00:00 +0000");
	record_time(buf, sizeof(buf), 0);
	assert_string_equal(buf, "");
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	record_time(buf, sizeof(buf), 86400);
	assert_string_equal(buf, "1970-01-02 08:00:00 +0800");
	setenv("TZ", "UTC", 1);
	tzset();
}

static void
test_html_escape(void **state)
{
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_html_escape(&b, "<a href=\"x\">&'</a>\x1b");
	assert_string_equal(sbuf_str(&b),
	    "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;\\x1b");
	sbuf_reset(&b);
	record_html_escape(&b, NULL);
	assert_string_equal(sbuf_str(&b), "");
	sbuf_free(&b);
}

static void
test_csv_field(void **state)
{
	static const char *const cases[][2] = {
		{ "plain", "plain" },
		{ "中央文明办", "中央文明办" },
		{ "a,b", "\"a,b\"" },
		{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
		{ "two\nlines", "\"two\nlines\"" },
		{ "cr\r", "\"cr\r\"" },
		{ "=1+2", "\"'=1+2\"" },
		{ "@cmd", "\"'@cmd\"" },
		{ "", "" },
	};
	struct sbuf b = SBUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sbuf_reset(&b);
		record_csv_field(&b, cases[i][0]);
		assert_string_equal(sbuf_str(&b), cases[i][1]);
	}
	sbuf_reset(&b);
	record_csv_field(&b, NULL);
	assert_string_equal(sbuf_str(&b), "");
	sbuf_free(&b);
}

/* Splits CSV text into records of fields the way RFC 4180 reads it back. */
static size_t
csv_parse(const char *s, char fields[][32][256], size_t max)
{
	size_t row = 0, col = 0, len = 0;
	bool quoted = false;

	memset(fields, 0, max * sizeof(fields[0]));
	for (; *s && row < max; s++) {
		if (quoted) {
			if (*s == '"' && s[1] == '"')
				fields[row][col][len++] = *s++;
			else if (*s == '"')
				quoted = false;
			else
				fields[row][col][len++] = *s;
		} else if (*s == '"') {
			quoted = true;
		} else if (*s == ',') {
			col++;
			len = 0;
		} else if (*s == '\r' && s[1] == '\n') {
			s++;
			row++;
			col = len = 0;
		} else {
			assert_true(*s != '\n' && *s != '\r');	/* bare line ends only inside quotes */
			fields[row][col][len++] = *s;
		}
		assert_true(len < 255 && col < 32);
	}
	return row;
}

static void
test_csv(void **state)
{
	static char fields[8][32][256];
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_csv(&b, &rec);
	const char *s = sbuf_str(&b);
	assert_memory_equal(s, "\xEF\xBB\xBF", 3);
	assert_int_equal(csv_parse(s + 3, fields, 8), 5);
	assert_string_equal(fields[0][0], "issue");
	assert_string_equal(fields[0][8], "address");
	assert_string_equal(fields[1][0], "17");
	assert_string_equal(fields[1][1], "首都精神文明建设情况简报 <b>&</b>");
	assert_string_equal(fields[1][6], "市委、市人大、市政府、市政协");
	assert_string_equal(fields[1][7], "市委");
	assert_string_equal(fields[1][10], "1970-01-02 00:00:00 +0000");
	assert_string_equal(fields[1][11], "250");
	assert_string_equal(fields[2][9], "replaced");
	assert_string_equal(fields[2][18], "fixed@rd.example.test");
	assert_string_equal(fields[3][15], "yes");
	assert_string_equal(fields[3][16], "2");
	assert_string_equal(fields[3][19], "office@rd.example.test");
	/* the hostile row survives the round trip, the formula made text */
	assert_string_equal(fields[4][6], "A&B <\"Unit\">, 'x'");
	assert_string_equal(fields[4][7], "'=HYPERLINK(\"x\")");
	assert_string_equal(fields[4][8], "odd,\"name\"@example.test");
	assert_string_equal(fields[4][13], "line one\nline two, \"quoted\"");
	assert_string_equal(fields[4][11], "");
	/* issue 17's columns come after the old ones, empty when nothing came back */
	assert_string_equal(fields[0][19], "replaces");
	assert_string_equal(fields[0][20], "bounced");
	assert_string_equal(fields[0][27], "last_reminded");
	assert_string_equal(fields[0][28], "");
	assert_string_equal(fields[1][20], "");
	assert_string_equal(fields[1][23], "no");
	assert_string_equal(fields[1][26], "0");
	sbuf_free(&b);
}

static size_t check_widths(const char *s);
static int column_of(const char *s, const char *needle);

/*
 * What came back: a bounce with a hostile remote reply (escapes, a
 * formula, quotes, two lines), a confirmation by MDN, one asked and
 * reminded twice, one that replied although not asked.
 */
static const char hostile_reply[] = "=cmd|' /C calc'!A0 552-5.2.2 <b>mailbox</b> \x1b[2J full\r\n"
    "552 5.2.2 \"quota\" exceeded, the mailbox of this recipient has been over its quota for a "
    "long time and nothing more is accepted";

static struct queue_record_recipient fed_rows[] = {
	{ 1, "报", "中央文明办", "中央文明办", "office@wmb.example.test", QUEUE_DELIVERED, 1, 86400,
	  250, "2.0.0", "250 2.0.0 Ok", false, 0, 0, NULL, NULL, false, 90000, "5.2.2",
	  (char *)hostile_reply, true, 0, NULL, 1, 95000 },
	{ 2, "报", "市委", "市委", "office@sw.example.test", QUEUE_DELIVERED, 1, 86400, 250,
	  "2.0.0", "250 2.0.0 Ok", false, 0, 0, NULL, NULL, false, 0, NULL, NULL, true, 91000,
	  "mdn", 0, 0 },
	{ 3, "报", "市人大", "市人大", "office@rd.example.test", QUEUE_DELIVERED, 1, 86400, 250,
	  "2.0.0", "250 2.0.0 Ok", false, 0, 0, NULL, NULL, false, 0, NULL, NULL, true, 0, NULL, 2,
	  96000 },
	{ 4, "送", "市政协", "市政协", "office@zx.example.test", QUEUE_DELIVERED, 1, 86400, 250,
	  "2.0.0", "250 2.0.0 Ok", false, 0, 0, NULL, NULL, false, 0, NULL, NULL, false, 92000,
	  "reply", 0, 0 },
	{ 5, "送", "市政府", "市政府", "office@zf.example.test", QUEUE_FAILED, 3, 0, 550, "5.1.1",
	  "550 5.1.1 unknown", false, 0, 0, NULL, NULL, false, 0, NULL, NULL, false, 0, NULL, 0,
	  0 },
};

static struct queue_record
fed_record(void)
{
	struct queue_record r = rec;

	r.recipients = fed_rows;
	r.n_recipients = 5;
	return r;
}

static void
test_feedback_text(void **state)
{
	struct queue_record r = fed_record();
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_text(&b, &r);
	const char *s = sbuf_str(&b);
	if (getenv("SHOW"))
		fputs(s, stderr);
	check_widths(s);
	assert_non_null(strstr(s, "Recipients: 5: 3 delivered, 1 bounced, 1 failed, 0 cancelled, "
	    "0 replaced\n"
	    "By tier:    报 3: 2 delivered, 1 bounced, 1/3 confirmed\n"
	    "            送 2: 1 delivered, 1 failed, 1 confirmed\n\n"));
	/* the bounced row says so in its state column; its bounce a paragraph of its own */
	assert_int_equal(column_of(s, "STATE"), column_of(s, "bounced        1"));
	assert_non_null(strstr(s, "     bounced 1970-01-02 01:00:00 +0000: =cmd|' /C calc'!A0 "
	    "552-5.2.2\n     <b>mailbox</b>"));
	/* every word of the remote reply kept (the record files it whole), on the detail's indent */
	struct sbuf joined = SBUF_INIT;
	for (const char *p = s; *p; p++) {
		if (strncmp(p, "\n     ", 6) == 0 && p[6] != ' ') {
			sbuf_putc(&joined, ' ');
			p += 5;
		} else {
			sbuf_putc(&joined, *p);
		}
	}
	assert_non_null(strstr(sbuf_str(&joined), "=cmd|' /C calc'!A0 552-5.2.2 <b>mailbox</b> "
	    "\\x1b[2J full  552 5.2.2 \"quota\" exceeded, the mailbox of this recipient has been "
	    "over its quota for a long time and nothing more is accepted"));
	sbuf_free(&joined);
	assert_null(strstr(s, "full\r"));
	/* escaped before it is wrapped: a terminal's escaping adds nothing */
	assert_null(strchr(s, '\x1b'));
	assert_non_null(strstr(s, "     asked to confirm receipt, not confirmed; reminded 1 time (last "
	    "1970-01-02\n     02:23:20 +0000)\n"));
	assert_non_null(strstr(s, "     confirmed 1970-01-02 01:16:40 +0000 by mdn\n"));
	assert_non_null(strstr(s, "     asked to confirm receipt, not confirmed; reminded 2 times"));
	assert_non_null(strstr(s, "     confirmed 1970-01-02 01:33:20 +0000 by reply\n"));
	/* nothing asked, nothing came back: no line about it */
	const char *failed = strstr(s, "office@zf.example.test");
	assert_non_null(failed);
	assert_null(strstr(failed, "confirm"));
	sbuf_free(&b);

	/* a reminder's record: its rows were asked, but that counts on the bulletin */
	struct queue_record rem = fed_record();
	rem.kind = QUEUE_KIND_REMINDER;
	rem.recipients = fed_rows + 2;
	rem.n_recipients = 1;
	record_text(&b, &rem);
	assert_null(strstr(sbuf_str(&b), "asked to confirm"));
	assert_null(strstr(sbuf_str(&b), "By tier:"));
	sbuf_free(&b);

	/* one tier and nothing asked or back: no "By tier" */
	struct queue_record one = rec;
	one.recipients = rows;
	one.n_recipients = 2;
	record_text(&b, &one);
	assert_null(strstr(sbuf_str(&b), "By tier:"));
	assert_null(strstr(sbuf_str(&b), "confirm"));
	sbuf_free(&b);
}

static void
test_feedback_csv(void **state)
{
	static char fields[8][32][256];
	struct queue_record r = fed_record();
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_csv(&b, &r);
	assert_int_equal(csv_parse(sbuf_str(&b) + 3, fields, 8), 6);
	static const char *const head[] = { "bounced", "bounce_status", "bounce_reply", "receipt",
		"confirmed", "confirmed_by", "reminders", "last_reminded" };
	for (int i = 0; i < 8; i++)
		assert_string_equal(fields[0][20 + i], head[i]);
	/* the old columns where they were: state is still the transfer's */
	assert_string_equal(fields[1][9], "delivered");
	assert_string_equal(fields[1][13], "250 2.0.0 Ok");
	assert_string_equal(fields[1][20], "1970-01-02 01:00:00 +0000");
	assert_string_equal(fields[1][21], "5.2.2");
	/* a formula made text, quotes and the line break survive the round trip */
	assert_true(strncmp(fields[1][22], "'=cmd|' /C calc'!A0 552-5.2.2", 29) == 0);
	assert_non_null(strstr(fields[1][22], " full\r\n552 5.2.2 \"quota\" exceeded"));
	assert_string_equal(fields[1][23], "yes");
	assert_string_equal(fields[1][24], "");
	assert_string_equal(fields[1][26], "1");
	assert_string_equal(fields[1][27], "1970-01-02 02:23:20 +0000");
	assert_string_equal(fields[2][24], "1970-01-02 01:16:40 +0000");
	assert_string_equal(fields[2][25], "mdn");
	assert_string_equal(fields[4][23], "no");
	assert_string_equal(fields[4][25], "reply");
	sbuf_free(&b);
}

static void
test_feedback_html_and_json(void **state)
{
	struct queue_record r = fed_record();
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_html(&b, &r);
	const char *s = sbuf_str(&b);
	/* escaped: no tag or escape byte of the remote reply reaches the page */
	assert_null(strstr(s, "<b>mailbox"));
	assert_null(strstr(s, "\x1b"));
	assert_non_null(strstr(s, "bounced 1970-01-02 01:00:00 +0000: =cmd|&#39; /C calc&#39;!A0 "
	    "552-5.2.2 &lt;b&gt;mailbox&lt;/b&gt; \\x1b[2J full"));
	assert_non_null(strstr(s, "<tr class=\"bounced\">"));
	assert_non_null(strstr(s, "confirmed 1970-01-02 01:16:40 +0000 by mdn"));
	assert_non_null(strstr(s, "asked to confirm receipt, not confirmed<br>reminded 2 times"));
	/* the totals per tier */
	assert_non_null(strstr(s, "<table class=\"tiers\">"));
	assert_non_null(strstr(s, "<tr><td>报</td><td>3</td><td>2</td><td>1</td><td>0</td>"
	    "<td>0</td><td>0</td><td>1</td><td>3</td></tr>"));
	/* balanced: as many rows opened as closed, one a recipient plus a tier */
	size_t open = 0, close = 0;
	for (const char *p = s; (p = strstr(p, "<tr")) != NULL; p++)
		open++;
	for (const char *p = s; (p = strstr(p, "</tr>")) != NULL; p++)
		close++;
	assert_int_equal(open, close);
	size_t td = 0, tdc = 0;
	for (const char *p = s; (p = strstr(p, "<td")) != NULL; p++)
		td++;
	for (const char *p = s; (p = strstr(p, "</td>")) != NULL; p++)
		tdc++;
	assert_int_equal(td, tdc);
	assert_true(text_valid_utf8(s, b.len, NULL));

	sbuf_reset(&b);
	record_json(&b, &r);
	s = sbuf_str(&b);
	assert_true(text_valid_utf8(s, b.len, NULL));
	assert_non_null(strstr(s, "\"state\":\"delivered\","));
	assert_non_null(strstr(s, "\"bounced\":\"1970-01-02T01:00:00+00:00\",\"bounce_status\":"
	    "\"5.2.2\",\"bounce_reply\":\"=cmd|' /C calc'!A0 552-5.2.2 <b>mailbox</b> \\u001b[2J "
	    "full\\r\\n552"));
	assert_non_null(strstr(s, "\"receipt\":true,\"confirmed\":\"1970-01-02T01:16:40+00:00\","
	    "\"confirmed_by\":\"mdn\",\"reminders\":0,\"last_reminded\":null}"));
	assert_non_null(strstr(s, "\"tiers\":[{\"tier\":\"报\",\"total\":3,\"delivered\":2,"
	    "\"bounced\":1,\"failed\":0,\"cancelled\":0,\"not_final\":0,\"receipt\":3,"
	    "\"confirmed\":1},{\"tier\":\"送\",\"total\":2,\"delivered\":1,\"bounced\":0,"
	    "\"failed\":1,"));
	sbuf_free(&b);
}

static void
test_html(void **state)
{
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_html(&b, &rec);
	const char *s = sbuf_str(&b);
	assert_non_null(strstr(s, "<!DOCTYPE html>"));
	assert_non_null(strstr(s, "@page { size: A4;"));
	assert_non_null(strstr(s, "thead { display: table-header-group; }"));
	assert_non_null(strstr(s, "table-layout: fixed"));
	assert_non_null(strstr(s, "overflow-wrap: anywhere"));
	/* self-contained: nothing fetched */
	assert_null(strstr(s, "<script"));
	assert_null(strstr(s, "<link"));
	assert_null(strstr(s, "src="));
	/* escaped wherever it came from */
	assert_null(strstr(s, "<b>&</b>"));
	assert_non_null(strstr(s, "首都精神文明建设情况简报 &lt;b&gt;&amp;&lt;/b&gt;"));
	assert_non_null(strstr(s, "A&amp;B &lt;&quot;Unit&quot;&gt;, &#39;x&#39;"));
	assert_non_null(strstr(s, "odd,&quot;name&quot;@example.test"));
	assert_non_null(strstr(s, "replaced by &lt;fixed@rd.example.test&gt;"));
	assert_non_null(strstr(s, "resent 2 times"));
	assert_non_null(strstr(s, "possible duplicate"));
	assert_non_null(strstr(s, "added with distctl"));
	/* one table row a recipient */
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, "<tr class=")) != NULL; p++)
		n++;
	assert_int_equal(n, 4);
	sbuf_free(&b);
}

/* Display columns of each line; fails past 80. Returns the line count. */
static size_t
check_widths(const char *s)
{
	size_t lines = 0;
	char *copy = strdup(s), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (text_width(l) > 80)
			fail_msg("wider than 80 columns (%d): %s", text_width(l), l);
		lines++;
	}
	free(copy);
	return lines;
}

/* The display column at which needle starts on the line that holds it. */
static int
column_of(const char *s, const char *needle)
{
	const char *at = strstr(s, needle), *bol = at;

	assert_non_null(at);
	while (bol > s && bol[-1] != '\n')
		bol--;
	char *head = strndup(bol, (size_t)(at - bol));
	int w = text_width(head);
	free(head);
	return w;
}

static void
test_text(void **state)
{
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_text(&b, &rec);
	const char *s = sbuf_str(&b);
	if (getenv("SHOW"))
		fputs(s, stderr);
	check_widths(s);
	assert_non_null(strstr(s, "第29期 (总第2138期)"));
	assert_non_null(strstr(s, "distd.17.abc@example.test"));
	assert_non_null(strstr(s, "Recipients: 4: 2 delivered, 0 failed, 1 cancelled, "
	    "1 replaced\n"));
	/* wide characters count two: every address starts in the same column */
	int col = column_of(s, "ADDRESS");
	assert_int_equal(column_of(s, "office@sw.example.test"), col);
	assert_int_equal(column_of(s, "office@rd.example.test  "), col);
	assert_int_equal(column_of(s, "fixed@rd.example.test  "), col);
	assert_int_equal(column_of(s, "odd,\"name\"@example.test"), col);
	assert_int_equal(column_of(s, "STATE"), column_of(s, "delivered  "));
	assert_int_equal(column_of(s, "STATE"), column_of(s, "cancelled  "));
	/* a unit of several bodies is printed once, its bodies under it */
	const char *unit = strstr(s, "市委、市人大、市政府、市政协");
	assert_non_null(unit);
	assert_null(strstr(unit + 1, "市委、市人大、市政府、市政协"));
	assert_non_null(strstr(s, "\n       市人大"));
	/* the reply, what was corrected, the resends */
	assert_non_null(strstr(s, "550 5.1.1 <office@rd.example.test> unknown"));
	assert_non_null(strstr(s, "replaced by <fixed@rd.example.test>"));
	assert_non_null(strstr(s, "resent 2 times (last\n     1970-01-02 00:26:40 +0000)"));
	/* a reply of several lines stays in the detail's indent */
	assert_non_null(strstr(s, "     line one line two, \"quoted\"\n"));
	assert_non_null(strstr(s, "accepted 1970-01-02 00:00:00 +0000: 250 2.0.0 Ok: queued as A1"));
	sbuf_free(&b);
}

/* A unit wider than its column is kept whole; long details wrap at spaces. */
static void
test_text_long_values(void **state)
{
	struct queue_record_recipient one = rows[0];
	struct queue_record r = rec;
	struct sbuf b = SBUF_INIT;

	(void)state;
	one.unit = one.name = "首都精神文明建设委员会办公室综合协调处";
	one.reply = "250 2.0.0 Ok: a very long reply from a relay that says far more than it "
	    "needs to about the message it has just taken, with an id: 0123456789abcdef";
	r.recipients = &one;
	r.n_recipients = 1;
	record_text(&b, &r);
	const char *s = sbuf_str(&b);
	check_widths(s);
	assert_non_null(strstr(s, "首都精神文明建设委员会办公室综合协调处\n"));
	assert_int_equal(column_of(s, "office@sw.example.test"), column_of(s, "ADDRESS"));
	/* the detail lines, joined again, give the reply back word for word */
	struct sbuf joined = SBUF_INIT;
	const char *p = strstr(s, "\n     accepted");
	assert_non_null(p);
	int wrapped = 0;
	while (p && strncmp(p, "\n     ", 6) == 0) {
		const char *end = strchr(p + 6, '\n');
		if (joined.len)
			sbuf_putc(&joined, ' ');
		sbuf_append(&joined, p + 6, end ? (size_t)(end - p - 6) : strlen(p + 6));
		wrapped++;
		p = end;
	}
	assert_true(wrapped >= 2);
	assert_non_null(strstr(sbuf_str(&joined), one.reply));
	sbuf_free(&joined);
	sbuf_free(&b);
}

static void
test_json(void **state)
{
	struct sbuf b = SBUF_INIT;

	(void)state;
	record_json(&b, &rec);
	const char *s = sbuf_str(&b);
	assert_non_null(strstr(s, "\"id\":17"));
	assert_non_null(strstr(s, "\"issue_no\":29"));
	assert_non_null(strstr(s, "\"report_for\":null"));
	assert_non_null(strstr(s, "\"last_code\":550"));
	assert_non_null(strstr(s, "\"replaced_by\":\"fixed@rd.example.test\""));
	assert_non_null(strstr(s, "\"last_reply\":\"line one\\nline two, \\\"quoted\\\"\""));
	assert_non_null(strstr(s, "\"possible_duplicate\":true"));
	assert_non_null(strstr(s, "\"accepted\":\"1970-01-02T00:00:00+00:00\""));
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_time, utc),
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_csv_field),
		cmocka_unit_test_setup(test_csv, utc),
		cmocka_unit_test_setup(test_html, utc),
		cmocka_unit_test_setup(test_text, utc),
		cmocka_unit_test_setup(test_text_long_values, utc),
		cmocka_unit_test_setup(test_json, utc),
		cmocka_unit_test_setup(test_feedback_text, utc),
		cmocka_unit_test_setup(test_feedback_csv, utc),
		cmocka_unit_test_setup(test_feedback_html_and_json, utc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
