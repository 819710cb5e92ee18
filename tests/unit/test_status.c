/* distctl's renderers: widths by display columns, show's columns, status without a queue, escapes. */
#include "testutil.h"

#include <stdlib.h>
#include <time.h>

#include "queue.h"
#include "status.h"
#include "text.h"

static int
utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static int
widest(const char *text)
{
	int max = 0;
	char *copy = strdup(text), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (text_width(l) > max)
			max = text_width(l);
	free(copy);
	return max;
}

/* Display column at which needle starts in the line that begins at line. */
static int
column(const char *line, const char *needle)
{
	const char *at = strstr(line, needle), *end = strchr(line, '\n');

	if (at == NULL || (end && at > end))
		return -1;
	char *prefix = strndup(line, (size_t)(at - line));
	int w = text_width(prefix);
	free(prefix);
	return w;
}

static void
test_pad_and_cut_by_display_width(void **state)
{
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_pad(&b, "首都精神文明建设情况简报", 10);
	assert_string_equal(sbuf_str(&b), "首都精神… ");	/* 8 + 1 + a space */
	sbuf_reset(&b);
	status_pad(&b, "首都精神文明建设情况简报", 10);
	assert_int_equal(text_width(sbuf_str(&b)), 10);
	sbuf_reset(&b);
	status_cut(&b, "门头沟区创建", 7);
	assert_string_equal(sbuf_str(&b), "门头沟…");
	sbuf_reset(&b);
	status_cut(&b, "short", 7);
	assert_string_equal(sbuf_str(&b), "short");
	sbuf_reset(&b);
	status_cut(&b, "mailbox full 552 5.2.2", 18);
	assert_string_equal(sbuf_str(&b), "mailbox full 552…");
	sbuf_free(&b);
}

/* The recipients of issue 1 as show lists them: queued, delivered, deferred with a long reply. */
static struct queue_view_recipient three[] = {
	{ "报", "中央文明办", "中央文明办", "office@wmb.example.test", QUEUE_QUEUED, 0, 0, -1, NULL,
	  "报:中央文明办", NULL, 0, NULL, NULL, false, 0, NULL, 0 },
	{ "报", "首都文明委副主任", "首都文明委副主任兼秘书长", "deputy@wmw.example.test",
	  QUEUE_DELIVERED, 1, 0, 250, "250 2.0.0 Ok: queued as 0001", "报", NULL, 0, NULL, NULL, false, 0,
	  NULL, 0 },
	{ "发", "大兴区文明办", "大兴区文明办", "wmb@daxing.example.test", QUEUE_DEFERRED, 3,
	  1795420800, 451, "451 4.7.1 greylisted, please try again later, the server is busy "
	  "right now", "发", NULL, 0, NULL, NULL, false, 0, NULL, 0 },
};

static struct queue_view_issue
issue_one(struct queue_view_recipient *r, size_t n)
{
	return (struct queue_view_issue){ .id = 1, .title = "首都精神文明建设情况简报",
		.issue_no = 29, .total_issue_no = -1, .subject = "首都精神文明建设情况简报 第29期",
		.message_id = "distd.1.s@example.test", .state = QUEUE_ISSUE_ACTIVE, .source = "a.txt",
		.kind = QUEUE_KIND_BULLETIN, .received = 1, .recipients = r, .n_recipients = n };
}

static void
test_show_columns_and_replies(void **state)
{
	struct status_style style = { false, 100 };
	struct queue_view_issue v = issue_one(three, 3);
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_show_text(&b, &v, NULL, &style);
	assert_true(widest(sbuf_str(&b)) <= 80);
	/* the header's columns are the rows' columns: TIER is as wide as 报 plus padding */
	const char *head = strstr(sbuf_str(&b), "TIER NAME");
	const char *row = strstr(sbuf_str(&b), "报   中央文明办");
	assert_non_null(head);
	assert_non_null(row);
	assert_int_equal(column(head, "ADDRESS"), column(row, "office@"));
	assert_int_equal(column(head, "STATE"), column(row, "queued"));
	/* a delivered row shows its code only; a deferred reply whole, with the next attempt */
	assert_non_null(strstr(sbuf_str(&b), "delivered     1  250\n"));
	assert_null(strstr(sbuf_str(&b), "queued as 0001"));
	assert_non_null(strstr(sbuf_str(&b), "the server is busy"));
	assert_non_null(strstr(sbuf_str(&b), "; next attempt 11-23 08:00:00"));
	assert_non_null(strstr(sbuf_str(&b), "issue 1: 首都精神文明建设情况简报 第29期 (active)\n"));
	assert_non_null(strstr(sbuf_str(&b), "  title:      首都精神文明建设情况简报 第29期\n"));
	sbuf_free(&b);
}

static void
test_show_json_keys(void **state)
{
	struct queue_view_issue v = issue_one(three, 3);
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_show_json(&b, &v);
	const char *s = sbuf_str(&b);
	assert_true(strncmp(s, "{\"id\":1,\"title\":\"首都精神文明建设情况简报\",\"issue_no\":29,"
	    "\"total_issue_no\":null,", strlen("{\"id\":1,\"title\":\"首都精神文明建设情况简报\","
	    "\"issue_no\":29,\"total_issue_no\":null,")) == 0);
	/* next_attempt only while waiting; a missing code is null */
	assert_non_null(strstr(s, "{\"tier\":\"报\",\"unit\":\"中央文明办\",\"name\":\"中央文明办\","
	    "\"address\":\"office@wmb.example.test\",\"state\":\"queued\",\"attempts\":0,"
	    "\"next_attempt\":null,\"last_code\":null,\"last_reply\":null,"
	    "\"via\":\"报:中央文明办\",\"replaced_by\":null,\"bounced\":null,"
	    "\"bounce_status\":null,\"bounce_reply\":null,\"receipt\":false,\"confirmed\":null,"
	    "\"confirmed_by\":null,\"reminders\":0}"));
	assert_non_null(strstr(s, "\"state\":\"deferred\",\"attempts\":3,"
	    "\"next_attempt\":\"2026-11-23T08:00:00+00:00\",\"last_code\":451,"));
	assert_non_null(strstr(s, "\"duplicate_of\":null,\"recipients\":["));
	assert_int_equal(s[b.len - 1], '\n');
	assert_int_equal(s[b.len - 2], '}');
	sbuf_free(&b);
}

static void
test_show_empty_list_says_why(void **state)
{
	struct status_style style = { false, 100 };
	struct queue_view_filter pending = { false, QUEUE_QUEUED, NULL, true, false },
	    by_state = { true, QUEUE_FAILED, NULL, false, false };
	struct queue_view_issue v = issue_one(NULL, 0);
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_show_text(&b, &v, &pending, &style);
	assert_non_null(strstr(sbuf_str(&b), "\n(every recipient has got it)\n"));
	sbuf_reset(&b);
	status_show_text(&b, &v, &by_state, &style);
	assert_non_null(strstr(sbuf_str(&b), "\n(no recipients)\n"));
	sbuf_reset(&b);
	status_show_json(&b, &v);
	assert_non_null(strstr(sbuf_str(&b), "\"recipients\":[]}\n"));
	sbuf_free(&b);
}

static void
test_status_without_a_queue(void **state)
{
	struct status_where w = { "/etc/distd/distd.conf", NULL, "/var/lib/distd/queue.db",
		"/etc/distd/distd.conf:12: syntax error" };
	struct status_daemon d = { .running = false };
	struct status_style style = { false, 100 };
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_text(&b, &w, &d, NULL, &style);
	assert_non_null(strstr(sbuf_str(&b), "none yet"));
	assert_non_null(strstr(sbuf_str(&b), "invalid: /etc/distd/distd.conf:12: syntax error"));
	assert_non_null(strstr(sbuf_str(&b), "\n   (no issues yet)\n"));
	assert_true(widest(sbuf_str(&b)) <= 80);
	sbuf_reset(&b);
	status_json(&b, &w, &d, NULL);
	assert_non_null(strstr(sbuf_str(&b), "\"queue_exists\":false"));
	assert_non_null(strstr(sbuf_str(&b), "\"relay\":null"));
	assert_non_null(strstr(sbuf_str(&b), "\"counts\":{\"queued\":0,\"sending\":0,\"deferred\":0,"
	    "\"delivered\":0,\"failed\":0,\"held\":0,\"cancelled\":0}"));
	assert_non_null(strstr(sbuf_str(&b), "\"oldest_deferred\":null,\"alerts\":[],"
	    "\"issues\":[]}\n"));
	assert_false(status_attention(NULL));
	sbuf_free(&b);
}

static struct queue_view_tier tiers_of_one[] = {
	{ "报", 8, 7, 0, 1, 0, 0, 0 }, { "送", 12, 12, 0, 0, 0, 0, 0 }, { "发", 21, 19, 2, 0, 0, 0, 0 },
};
static struct queue_view_tier tiers_of_two[] = { { "报告", 1, 1, 0, 0, 0, 0, 0 } };
static struct queue_view_recent two_recent[] = {
	{ 2, "投递失败报告 / Delivery failure report", -1, QUEUE_ISSUE_HELD, QUEUE_KIND_REPORT, 1795420800,
	  tiers_of_two, 1 },
	{ 1, "首都精神文明建设情况简报", 29, QUEUE_ISSUE_ACTIVE, QUEUE_KIND_BULLETIN, 1795420800, tiers_of_one, 3 },
};
static struct queue_view_alert one_alert[] = { { QUEUE_ALERT_AUTH, "535 5.7.8 authentication failed", 1795420800 } };
static struct queue_view_held one_held[] = { { 2, "投递失败报告", "held on arrival: unresolved 区政协" } };

static struct queue_view_status
a_status(void)
{
	return (struct queue_view_status){
		.counts = { 1, 2, 3, 40, 5, 6, 7 },
		.has_oldest_deferred = true,
		.oldest_deferred = { "wmb@daxing.example.test", 1, 2, 1795420800, NULL, 1 },
		.alerts = one_alert, .n_alerts = 1, .held = one_held, .n_held = 1,
		.recent = two_recent, .n_recent = 2,
	};
}

static void
test_status_text_with_a_queue(void **state)
{
	struct status_where w = { "/etc/distd/distd.conf", "smtps://mail.example.test:465",
		"/var/lib/distd/queue.db", NULL };
	struct status_daemon d = { .running = true, .pid = 812, .since = 1795420800 };
	struct status_style style = { false, 100 };
	struct queue_view_status v = a_status();
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_text(&b, &w, &d, &v, &style);
	const char *s = sbuf_str(&b);
	assert_true(widest(s) <= 80);
	assert_non_null(strstr(s, "distd:   running (pid 812, since 2026-11-23 08:00)\n"));
	/* the text names six states: cancelled is in JSON only */
	assert_non_null(strstr(s, "queue:   queued 1  sending 2  deferred 3  delivered 40  "
	    "failed 5  held 6\n"));
	assert_non_null(strstr(s, "oldest deferred: wmb@daxing.example.test (issue 1)\n"
	    "  2 attempts, next 11-23 08:00, last reply: -\n"));
	assert_non_null(strstr(s, "! auth alert since 11-23 08:00: 535 5.7.8 authentication failed\n"));
	assert_non_null(strstr(s, "! issue 2 held: held on arrival: unresolved 区政协\n"));
	/* newest first; a report has no number; a state other than active/done is shown */
	const char *two = strstr(s, "   2 投递失败报告 / Delivery… report   11-23 08:00  held 报告 1/1\n");
	const char *one = strstr(s, "   1 首都精神文明建设情况简报 第29期   11-23 08:00  "
	    "报 7/8 ✗1 送 12/12\n");
	assert_non_null(two);
	assert_non_null(one);
	assert_true(two < one);
	/* the tier group that does not fit wraps under the tier column */
	assert_non_null(strstr(s, "送 12/12\n" "                                                   "
	    "发 19/21 ~2\n"));
	assert_non_null(strstr(s, "\n✗ failed  ~ deferred; details: distctl show ID [--pending]\n"));
	sbuf_free(&b);
}

/*
 * Bounces after the relay accepted: the queue line takes them out of
 * delivered (its numbers stay disjoint, as a tier's), a line points at
 * show --pending when some came back within the window, and those make
 * status need attention (exit 3), as recent failures do; older ones do
 * not. JSON has both numbers beside counts (which keep the transfer state).
 */
static void
test_status_bounces_need_a_look(void **state)
{
	struct status_where w = { "/etc/distd/distd.conf", "smtps://mail.example.test:465",
		"/var/lib/distd/queue.db", NULL };
	struct status_daemon d = { .running = true, .pid = 812, .since = 1795420800 };
	struct status_style style = { false, 100 }, colour = { true, 100 };
	struct queue_view_status v = a_status(), calm = { 0 };
	struct sbuf b = SBUF_INIT;

	(void)state;
	v.bounced = 3;
	v.recent_bounced = 2;
	status_text(&b, &w, &d, &v, &style);
	const char *s = sbuf_str(&b);
	if (getenv("SHOW"))
		fputs(s, stderr);
	assert_true(widest(s) <= 80);
	assert_non_null(strstr(s, "queue:   queued 1  sending 2  deferred 3  delivered 37  "
	    "bounced 3  failed 5\n         held 6\n"));
	assert_non_null(strstr(s, "! recent bounces: 2 in the last 24 hours "
	    "(distctl show ID --pending)\n"));
	sbuf_reset(&b);
	status_text(&b, &w, &d, &v, &colour);
	assert_non_null(strstr(sbuf_str(&b), "\033[31m! recent bounces:\033[0m 2 in"));

	/* bounced long ago: still on the queue line, no line of its own */
	v.recent_bounced = 0;
	sbuf_reset(&b);
	status_text(&b, &w, &d, &v, &style);
	assert_non_null(strstr(sbuf_str(&b), "delivered 37  bounced 3"));
	assert_null(strstr(sbuf_str(&b), "recent bounces"));
	v.recent_bounced = 2;

	sbuf_reset(&b);
	status_json(&b, &w, &d, &v);
	assert_non_null(strstr(sbuf_str(&b), "\"delivered\":40,\"failed\":5,\"held\":6,"
	    "\"cancelled\":7},\"bounced\":3,\"recent_bounced\":2,"));
	sbuf_reset(&b);
	status_json(&b, &w, &d, &calm);
	assert_non_null(strstr(sbuf_str(&b), "},\"bounced\":0,\"recent_bounced\":0,"));

	/* exit 3 for a recent bounce alone; an old one needs no look */
	assert_false(status_attention(&calm));
	calm.recent_bounced = 1;
	calm.bounced = 1;
	assert_true(status_attention(&calm));
	calm.recent_bounced = 0;
	calm.bounced = 5;
	assert_false(status_attention(&calm));
	sbuf_free(&b);
}

static void
test_status_json_and_attention(void **state)
{
	struct status_where w = { "/etc/distd/distd.conf", "smtps://mail.example.test:465",
		"/var/lib/distd/queue.db", NULL };
	struct status_daemon d = { .running = true, .pid = 812, .since = 1795420800 };
	struct queue_view_status v = a_status(), calm = { 0 };
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_json(&b, &w, &d, &v);
	const char *s = sbuf_str(&b);
	assert_true(strncmp(s, "{\"daemon\":{\"running\":true,\"pid\":812,"
	    "\"since\":\"2026-11-23T08:00:00+00:00\",\"queue\":null},"
	    "\"config\":\"/etc/distd/distd.conf\",\"config_error\":null,", 130) == 0);
	assert_non_null(strstr(s, "\"queue_exists\":true,\"counts\":{\"queued\":1,\"sending\":2,"
	    "\"deferred\":3,\"delivered\":40,\"failed\":5,\"held\":6,\"cancelled\":7}"));
	assert_non_null(strstr(s, "\"oldest_deferred\":{\"address\":\"wmb@daxing.example.test\","
	    "\"issue\":1,\"attempts\":2,\"next_attempt\":\"2026-11-23T08:00:00+00:00\","
	    "\"last_reply\":null,\"received\":\"1970-01-01T00:00:01+00:00\"}"));
	/* held issues are alerts of their own kind */
	assert_non_null(strstr(s, "\"alerts\":[{\"kind\":\"auth\",\"text\":\"535 5.7.8 "
	    "authentication failed\",\"since\":\"2026-11-23T08:00:00+00:00\"},{\"kind\":\"held\","
	    "\"issue\":2,\"text\":\"held on arrival: unresolved 区政协\"}]"));
	assert_non_null(strstr(s, "{\"id\":1,\"title\":\"首都精神文明建设情况简报\",\"issue_no\":29,"
	    "\"state\":\"active\",\"kind\":\"bulletin\",\"received\":\"2026-11-23T08:00:00+00:00\","
	    "\"tiers\":[{\"tier\":\"报\",\"total\":8,\"delivered\":7,\"deferred\":0,\"failed\":1,"
	    "\"bounced\":0,\"receipt\":0,\"confirmed\":0},"));
	assert_non_null(strstr(s, "\"issue_no\":null,\"state\":\"held\",\"kind\":\"report\""));
	assert_int_equal(s[b.len - 1], '\n');

	assert_true(status_attention(&v));
	assert_false(status_attention(&calm));
	calm.recent_failed = 1;
	assert_true(status_attention(&calm));
	calm.recent_failed = 0;
	calm.n_held = 1;
	calm.held = one_held;
	assert_true(status_attention(&calm));
	calm.n_held = 0;
	calm.n_alerts = 1;
	calm.alerts = one_alert;
	assert_true(status_attention(&calm));
	sbuf_free(&b);
}

/* Two nodes of a server queue: one live, one stale with a long CJK host name. */
static struct queue_view_node two_nodes[] = {
	{ "node-a", "mail1.example.test", 4242, "0.9.0", 1795420800, 3, 30, 12, false },
	{ "node-b-with-a-very-long-name", "北京市委宣传部机房服务器二号机", 77, "0.9.0",
	  1795420800, 3725, 30, 0, true },
};

static void
test_status_nodes(void **state)
{
	struct status_where w = { "/etc/distd/distd.conf", "smtps://mail.example.test:465",
		"postgresql:///distd", NULL };
	struct status_daemon d = { .running = true, .pid = 812, .since = 1795420800 };
	struct status_style style = { false, 100 };
	struct queue_view_status v = a_status();
	struct status_nodes nodes = { two_nodes, 2 }, none = { NULL, 0 };
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_text_nodes(&b, &w, &d, &v, &nodes, &style);
	const char *s = sbuf_str(&b);
	assert_true(widest(s) <= 80);
	/* after the queue's counts, before what needs attention */
	const char *block = strstr(s, "held 6\nnodes:   2, 1 stale\n");
	assert_non_null(block);
	assert_true(block < strstr(s, "oldest deferred:"));
	const char *head = strstr(s, "\n  NODE");
	const char *a = strstr(s, "\n  node-a ");
	const char *bb = strstr(s, "\n  node-b-with-a-v…");
	assert_non_null(head);
	assert_non_null(a);
	assert_non_null(bb);
	/* one column for each value, whatever the widths of the names before it */
	assert_int_equal(column(head + 1, "PID") + 3, column(a + 1, "4242") + 4);
	assert_int_equal(column(a + 1, "4242") + 4, column(bb + 1, "77") + 2);
	assert_int_equal(column(head + 1, "HEARTBEAT"), column(a + 1, "3 s ago"));
	assert_int_equal(column(head + 1, "HEARTBEAT"), column(bb + 1, "stale, 62 min"));
	assert_int_equal(column(head + 1, "STARTED"), column(bb + 1, "11-23 08:00"));
	assert_int_equal(column(head + 1, "SENDING") + 7, column(a + 1, "12") + 2);
	assert_non_null(strstr(bb, "北京市委宣传部机房…  "));
	/* in colour, the stale one is red */
	struct status_style colour = { true, 100 };
	sbuf_reset(&b);
	status_text_nodes(&b, &w, &d, &v, &nodes, &colour);
	assert_non_null(strstr(sbuf_str(&b), "\033[31mstale, 62 min"));
	/* no nodes (SQLite): no block */
	sbuf_reset(&b);
	status_text_nodes(&b, &w, &d, &v, &none, &style);
	assert_null(strstr(sbuf_str(&b), "nodes:"));
	assert_null(strstr(sbuf_str(&b), "NODE"));

	sbuf_reset(&b);
	status_json_nodes(&b, &w, &d, &v, &nodes);
	s = sbuf_str(&b);
	assert_non_null(strstr(s, "\"nodes\":[{\"name\":\"node-a\",\"host\":\"mail1.example.test\","
	    "\"pid\":4242,\"version\":\"0.9.0\",\"started\":\"2026-11-23T08:00:00+00:00\","
	    "\"heartbeat_age\":3,\"lease\":30,\"sending\":12,\"stale\":false},"
	    "{\"name\":\"node-b-with-a-very-long-name\""));
	assert_non_null(strstr(s, "\"heartbeat_age\":3725,\"lease\":30,\"sending\":0,"
	    "\"stale\":true}]"));
	sbuf_reset(&b);
	status_json(&b, &w, &d, &v);
	assert_non_null(strstr(sbuf_str(&b), "\"nodes\":[],"));
	sbuf_free(&b);
}

static void
test_log_lines(void **state)
{
	struct queue_view_attempt a[] = {
		{ 7, 1795420800, 1, "报", "office@wmb.example.test", QUEUE_ATTEMPT_SENT, true,
		  SMTP_CLASS_OK, 250,
		  "250 2.0.0 Ok", 1, "mail.example.test:465", false },
		{ 8, 1795420801, 1, "发", "wmb@daxing.example.test", QUEUE_ATTEMPT_DEFERRED, true,
		  SMTP_CLASS_4XX, 451,
		  "451 later", 2, "mail.example.test:465", true },
		{ 9, 1795420802, 1, "发", "x@example.test", QUEUE_ATTEMPT_DEFERRED, true,
		  SMTP_CLASS_CONNECT, -1,
		  "connection refused", 3, NULL, false },
	};
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_log_text(&b, a, 3);
	assert_string_equal(sbuf_str(&b),
	    "2026-11-23T08:00:00+0000 issue=1 tier=报 to=<office@wmb.example.test> status=sent"
	    " code=250 attempt=1 reply=\"250 2.0.0 Ok\"\n"
	    "2026-11-23T08:00:01+0000 issue=1 tier=发 to=<wmb@daxing.example.test>"
	    " status=deferred class=4xx code=451 attempt=2 note=possible-duplicate"
	    " reply=\"451 later\"\n"
	    "2026-11-23T08:00:02+0000 issue=1 tier=发 to=<x@example.test> status=deferred"
	    " class=connect attempt=3 reply=\"connection refused\"\n");
	sbuf_reset(&b);
	status_log_json(&b, a + 1, 2);
	assert_string_equal(sbuf_str(&b),
	    "{\"id\":8,\"time\":\"2026-11-23T08:00:01+00:00\",\"issue\":1,\"tier\":\"发\","
	    "\"address\":\"wmb@daxing.example.test\",\"status\":\"deferred\",\"class\":\"4xx\","
	    "\"code\":451,\"reply\":\"451 later\",\"attempt\":2,\"relay\":\"mail.example.test:465\","
	    "\"possible_duplicate\":true}\n"
	    "{\"id\":9,\"time\":\"2026-11-23T08:00:02+00:00\",\"issue\":1,\"tier\":\"发\","
	    "\"address\":\"x@example.test\",\"status\":\"deferred\",\"class\":\"connect\","
	    "\"code\":null,\"reply\":\"connection refused\",\"attempt\":3,\"relay\":null,"
	    "\"possible_duplicate\":false}\n");
	sbuf_reset(&b);
	status_log_text(&b, NULL, 0);
	status_log_json(&b, NULL, 0);
	assert_int_equal(b.len, 0);
	sbuf_free(&b);
}

/* No byte below 0x20 but '\n', no DEL, no C1 (as UTF-8: C2 80..C2 9F). */
static void
assert_terminal_safe(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p < 0x20 && *p != '\n') || *p == 0x7F)
			fail_msg("control byte 0x%02x in:\n%s", *p, text);
		if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
			fail_msg("C1 control in:\n%s", text);
	}
}

/*
 * A title with terminal escape sequences, a GBK file name and a relay
 * reply with a C1 CSI: text output shows them escaped, JSON stays valid
 * UTF-8 and keeps the name's bytes in source_bytes.
 */
static void
test_hostile_values_escaped(void **state)
{
	struct status_style style = { false, 100 };
	struct status_where w = { "/etc/distd/distd.conf", "smtps://mail.example.test",
		"/var/lib/distd/queue.db", NULL };
	struct status_daemon d = { .running = false };
	struct sbuf b = SBUF_INIT;
	/* 第29期 in GBK: b5da 3239 c6da */
	static const char gbk[] = "\xb5\xda" "29\xc6\xda.txt";
	static const char title[] = "简报\x1b]0;owned\x07\x1b[2J\xe2\x80\xae";
	static const char reply[] = "451 busy \xc2\x9b" "31m";
	struct queue_view_recipient r[] = {
		{ "报", "中央\x1b[8m文明办", "中央文明办", "office@wmb.example.test", QUEUE_DEFERRED, 1,
		  1795420800, 451, (char *)reply, "报", NULL, 0, NULL, NULL, false,
		  0, NULL, 0 },
	};
	struct queue_view_issue v = issue_one(r, 1);
	v.title = (char *)title;
	v.source = (char *)gbk;
	v.subject = "s\x1b[31m";

	(void)state;
	status_show_text(&b, &v, NULL, &style);
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "简报\\x1b]0;owned\\x07\\x1b[2J\\u202e"));
	assert_non_null(strstr(sbuf_str(&b), "source:     \\xb5\\xda29\\xc6\\xda.txt"));
	assert_non_null(strstr(sbuf_str(&b), "\\u009b31m"));
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));

	sbuf_reset(&b);
	status_show_json(&b, &v);
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "\"source\":\"\xef\xbf\xbd\xef\xbf\xbd" "29"));
	assert_non_null(strstr(sbuf_str(&b), "\"source_bytes\":\"b5da3239c6da2e747874\""));
	assert_non_null(strstr(sbuf_str(&b), "\"title\":\"简报\\u001b]0;owned\\u0007"));

	/* a UTF-8 name has no source_bytes */
	sbuf_reset(&b);
	v = issue_one(three, 3);
	status_show_json(&b, &v);
	assert_non_null(strstr(sbuf_str(&b), "\"source\":\"a.txt\",\"source_bytes\":null"));

	struct queue_view_tier t[] = { { "报\x1b[1m", 1, 0, 1, 0, 0, 0, 0 } };
	struct queue_view_recent recent[] = { { 2, (char *)title, 30, QUEUE_ISSUE_ACTIVE, QUEUE_KIND_BULLETIN, 2,
		t, 1 } };
	struct queue_view_status sv = { .recent = recent, .n_recent = 1 };
	sbuf_reset(&b);
	status_text(&b, &w, &d, &sv, &style);
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "简报\\x1b]0;"));
	sbuf_reset(&b);
	status_json(&b, &w, &d, &sv);
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));
	assert_terminal_safe(sbuf_str(&b));

	sbuf_reset(&b);
	struct queue_view_attempt a[] = { { 1, 3, 2, "报", "office@wmb.example.test",
		QUEUE_ATTEMPT_DEFERRED, true, SMTP_CLASS_4XX, 451, (char *)reply, 1, "mail.example.test:465", false } };
	status_log_text(&b, a, 1);
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "reply=\"451 busy \\u009b31m\""));
	sbuf_free(&b);
}


/*
 * What came back, per tier: bounced and confirmed/asked beside delivered,
 * with numbers as large as a city-wide issue has; nothing wider than 80
 * columns and no mark broken in two.
 */
static struct queue_view_tier big_tiers[] = {
	{ "报", 12500, 12180, 20, 150, 150, 11020, 12500 },
	{ "送", 9999, 9990, 0, 0, 9, 0, 0 },
	{ "发", 123456, 120000, 3000, 456, 0, 99999, 100000 },
};
static struct queue_view_recent big_recent[] = {
	{ 7, "首都精神文明建设情况简报", 30, QUEUE_ISSUE_ACTIVE, QUEUE_KIND_BULLETIN, 1795420800,
	  big_tiers, 3 },
	{ 6, "held one", 29, QUEUE_ISSUE_HELD, QUEUE_KIND_BULLETIN, 1795420800, big_tiers, 3 },
};

/* Every mark of a tier group whole on one line: the line that holds needle. */
static void
assert_on_one_line(const char *s, const char *needle)
{
	const char *at = strstr(s, needle);

	if (at == NULL)
		fail_msg("missing %s in:\n%s", needle, s);
}

static void
test_status_tiers_bounced_and_confirmed(void **state)
{
	struct status_where w = { "/etc/distd/distd.conf", "smtps://mail.example.test:465",
		"/var/lib/distd/queue.db", NULL };
	struct status_daemon d = { .running = true, .pid = 812, .since = 1795420800 };
	struct status_style style = { false, 100 }, colour = { true, 100 };
	struct queue_view_status v = { .recent = big_recent, .n_recent = 2 };
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_text(&b, &w, &d, &v, &style);
	const char *s = sbuf_str(&b);
	if (getenv("SHOW"))
		fputs(s, stderr);
	assert_true(widest(s) <= 80);
	assert_on_one_line(s, " 报 12180/12500 ✗150 ~20 ↩150");
	assert_on_one_line(s, " ✓11020/12500");
	/* no confirmation asked in 送: no ✓ for it */
	assert_on_one_line(s, " 送 9990/9999 ↩9\n");
	assert_on_one_line(s, " 发 120000/123456 ✗456 ~3000\n");
	/* the mark that does not fit goes on under the tier, indented */
	assert_on_one_line(s, "~3000\n" "                                                     "
	    "✓99999/100000\n");
	/* a tier wider than the rest of the line starts under the column */
	assert_non_null(strstr(s, "\n" "                                                   发 120000"));
	assert_non_null(strstr(s, "↩ bounced after delivery  ✓ confirmed/asked to confirm\n"
	    "details: distctl show ID [--pending | --unconfirmed] [--tier T]\n"));
	/* a state beside the tiers pushes them on; still within 80 columns */
	assert_non_null(strstr(s, "  held 报 12180/12500 ✗150 ~20\n"
	    "                                                     ↩150 ✓11020/12500\n"));

	/* bounced is red as failed is */
	sbuf_reset(&b);
	status_text(&b, &w, &d, &v, &colour);
	assert_non_null(strstr(sbuf_str(&b), "\033[31m↩150\033[0m"));
	assert_non_null(strstr(sbuf_str(&b), "\033[31m✗150\033[0m"));

	sbuf_reset(&b);
	status_json(&b, &w, &d, &v);
	assert_non_null(strstr(sbuf_str(&b), "{\"tier\":\"报\",\"total\":12500,\"delivered\":12180,"
	    "\"deferred\":20,\"failed\":150,\"bounced\":150,\"receipt\":12500,\"confirmed\":11020}"));
	assert_non_null(strstr(sbuf_str(&b), "{\"tier\":\"送\",\"total\":9999,\"delivered\":9990,"
	    "\"deferred\":0,\"failed\":0,\"bounced\":9,\"receipt\":0,\"confirmed\":0}"));

	/* a reminder: named so, its ✓ left to its bulletin (feedback counts there) */
	struct queue_view_tier asked[] = { { "报", 1, 1, 0, 0, 0, 0, 1 } };
	struct queue_view_recent rem[] = { { 9, "首都精神文明建设情况简报", 30, QUEUE_ISSUE_DONE,
		QUEUE_KIND_REMINDER, 1795420800, asked, 1 } };
	struct queue_view_status rv = { .recent = rem, .n_recent = 1 };
	sbuf_reset(&b);
	status_text(&b, &w, &d, &rv, &style);
	assert_non_null(strstr(sbuf_str(&b), "   9 首都精神文明建设情况简报 reminder"
	    " 11-23 08:00  报 1/1\n"));
	assert_null(strstr(sbuf_str(&b), "✓"));

	/* a tier so wide it cannot fit the column breaks between its marks */
	struct queue_view_tier huge[] = { { "报告报告报告报告", 1234567890, 1234567000, 123456,
		123456, 123456, 1234567000, 1234567890 } };
	struct queue_view_recent one[] = { { 8, "t", 1, QUEUE_ISSUE_ACTIVE, QUEUE_KIND_BULLETIN,
		1795420800, huge, 1 } };
	struct queue_view_status hv = { .recent = one, .n_recent = 1 };
	sbuf_reset(&b);
	status_text(&b, &w, &d, &hv, &style);
	s = sbuf_str(&b);
	if (getenv("SHOW"))
		fputs(s, stderr);
	assert_true(widest(s) <= 80);
	assert_non_null(strstr(s, "报告报… 1234567000/1234567890"));
	assert_non_null(strstr(s, "✓1234567000/1234567890"));
	assert_non_null(strstr(s, "↩123456"));
	sbuf_free(&b);
}

/* 2026-11-23 08:00 UTC, and the next day 09:12 */
#define T0 1795420800
#define T1 (T0 + 90720)

static const char hostile_bounce[] = "552-5.2.2 \x1b[2J\x1b]0;owned\x07 mailbox \xc2\x9b" "31m "
    "full\r\n552 5.2.2 <office@wmb.example.test>: please try again much later, the quota of "
    "this mailbox has been exceeded for a long time";

/* Bounced (a hostile, multi-line remote reply), confirmed by MDN, asked and reminded, not asked. */
static struct queue_view_recipient fed[] = {
	{ "报", "中央文明办", "中央文明办", "office@wmb.example.test", QUEUE_DELIVERED, 1, 0, 250,
	  "250 2.0.0 Ok", "报", NULL, T0, "5.2.2", (char *)hostile_bounce, true, 0, NULL, 0 },
	{ "报", "市委", "市委", "office@sw.example.test", QUEUE_DELIVERED, 1, 0, 250,
	  "250 2.0.0 Ok", "报", NULL, 0, NULL, NULL, true, T1, "mdn", 1 },
	{ "报", "市人大", "市人大", "office@rd.example.test", QUEUE_DELIVERED, 1, 0, 250,
	  "250 2.0.0 Ok", "报", NULL, 0, NULL, NULL, true, 0, NULL, 2 },
	{ "送", "市政协", "市政协", "office@zx.example.test", QUEUE_DELIVERED, 1, 0, 250,
	  "250 2.0.0 Ok", "送:市政协; 发:区政协", NULL, 0, NULL, NULL, false, T1, "reply",
	  0 },
	{ "送", "市政府", "市政府", "office@zf.example.test", QUEUE_FAILED, 3, 0, 550,
	  "550 5.1.1 unknown", "送", NULL, 0, NULL, NULL, false, 0, NULL, 0 },
};

static void
test_show_bounced_and_confirmed(void **state)
{
	struct status_style style = { false, 100 };
	struct queue_view_issue v = issue_one(fed, 5);
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_show_text(&b, &v, NULL, &style);
	const char *s = sbuf_str(&b);
	if (getenv("SHOW"))
		fputs(s, stderr);
	assert_true(widest(s) <= 80);
	assert_terminal_safe(s);
	assert_true(text_valid_utf8(s, b.len, NULL));
	/* the summary per tier, as status counts */
	assert_non_null(strstr(s, "  recipients: 报 3: 2 delivered, 1 bounced, 1/3 confirmed\n"
	    "              送 2: 1 delivered, 1 failed, 1 confirmed\n"));
	/* the bounced row says so; its reply on a line under it, on one line, escaped, cut */
	assert_non_null(strstr(s, "office@wmb.example.test             bounced       1  250\n"
	    "     ↩ bounced 11-23 08:00: 552-5.2.2 \\x1b[2J\\x1b]0;owned\\x07 mailbox "
	    "\\u009b31m…\n"));
	assert_null(strstr(s, "exceeded for a long time"));
	/* confirmed: when and how; asked and reminded; a reply not asked for */
	assert_non_null(strstr(s, "office@sw.example.test              delivered     1  250\n"
	    "     ✓ confirmed 11-24 09:12 by mdn, reminded 1 time\n"));
	assert_non_null(strstr(s, "office@rd.example.test              delivered     1  250\n"
	    "     not confirmed, reminded 2 times\n"));
	/* one mailbox for two units: the confirmation names both */
	assert_non_null(strstr(s, "     ✓ confirmed 11-24 09:12 by reply for 送:市政协; 发:区政协\n"));
	/* a row with nothing that came back has no line under it */
	assert_non_null(strstr(s, "failed        3\n     550 5.1.1 unknown\n"));

	/* in colour the bounce is red, and the colour is not counted as width */
	struct status_style colour = { true, 100 };
	sbuf_reset(&b);
	status_show_text(&b, &v, NULL, &colour);
	assert_non_null(strstr(sbuf_str(&b), "     \033[31m↩ bounced 11-23 08:00"));

	sbuf_reset(&b);
	status_show_json(&b, &v);
	s = sbuf_str(&b);
	assert_true(text_valid_utf8(s, b.len, NULL));
	assert_terminal_safe(s);
	/* state stays the transfer's; the bounce beside it, whole */
	assert_non_null(strstr(s, "\"state\":\"delivered\",\"attempts\":1,"));
	assert_non_null(strstr(s, "\"bounced\":\"2026-11-23T08:00:00+00:00\","
	    "\"bounce_status\":\"5.2.2\",\"bounce_reply\":\"552-5.2.2 \\u001b[2J\\u001b]0;owned"
	    "\\u0007 mailbox \\u009b31m full\\r\\n552 5.2.2"));
	assert_non_null(strstr(s, "exceeded for a long time\",\"receipt\":true,\"confirmed\":null,"
	    "\"confirmed_by\":null,\"reminders\":0}"));
	assert_non_null(strstr(s, "\"bounced\":null,\"bounce_status\":null,\"bounce_reply\":null,"
	    "\"receipt\":true,\"confirmed\":\"2026-11-24T09:12:00+00:00\",\"confirmed_by\":\"mdn\","
	    "\"reminders\":1}"));
	sbuf_free(&b);
}

/* show --unconfirmed / --pending / --tier: the list is the queue's, the summary counts all. */
static void
test_show_filtered_summary_and_empty_lists(void **state)
{
	struct status_style style = { false, 100 };
	struct queue_view_issue all = issue_one(fed, 5), listed = issue_one(fed + 2, 1),
	    none = issue_one(NULL, 0), unasked = issue_one(fed + 3, 2);
	struct queue_view_filter unconfirmed = { .unconfirmed = true },
	    tier = { .tier = "报", .unconfirmed = true };
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_show_text_all(&b, &listed, &unconfirmed, &all, &style);
	const char *s = sbuf_str(&b);
	assert_non_null(strstr(s, "  recipients: 报 3: 2 delivered, 1 bounced, 1/3 confirmed\n"
	    "              送 2:"));
	assert_non_null(strstr(s, "office@rd.example.test"));
	assert_null(strstr(s, "office@sw.example.test"));
	/* with --tier, that tier's line only */
	sbuf_reset(&b);
	status_show_text_all(&b, &listed, &tier, &all, &style);
	assert_non_null(strstr(sbuf_str(&b), "  recipients: 报 3: 2 delivered, 1 bounced, "
	    "1/3 confirmed\n\n"));
	assert_null(strstr(sbuf_str(&b), "送 2:"));
	/* a filtered list alone has no summary: it would count only what is listed */
	sbuf_reset(&b);
	status_show_text(&b, &listed, &unconfirmed, &style);
	assert_null(strstr(sbuf_str(&b), "recipients:"));
	/* an empty list says why */
	sbuf_reset(&b);
	status_show_text_all(&b, &none, &unconfirmed, &all, &style);
	assert_non_null(strstr(sbuf_str(&b), "\n(everybody asked has confirmed receipt)\n"));
	sbuf_reset(&b);
	status_show_text_all(&b, &none, &unconfirmed, &unasked, &style);
	assert_non_null(strstr(sbuf_str(&b), "\n(nobody was asked to confirm receipt)\n"));
	/* --tier 送 --unconfirmed: nobody of 送 was asked, whatever 报 was */
	struct queue_view_filter song = { .tier = "送", .unconfirmed = true };
	sbuf_reset(&b);
	status_show_text_all(&b, &none, &song, &all, &style);
	assert_non_null(strstr(sbuf_str(&b), "\n(nobody was asked to confirm receipt)\n"));
	/* a reminder's own rows were asked too; what comes back counts on the bulletin */
	struct queue_view_issue reminder = issue_one(fed + 2, 1);
	reminder.kind = QUEUE_KIND_REMINDER;
	sbuf_reset(&b);
	status_show_text(&b, &reminder, NULL, &style);
	assert_non_null(strstr(sbuf_str(&b), "  recipients: 报 1: 1 delivered\n"));
	/* nobody asked: a reply all the same counts, with nothing to count it against */
	sbuf_reset(&b);
	status_show_text(&b, &unasked, NULL, &style);
	assert_non_null(strstr(sbuf_str(&b), "  recipients: 送 2: 1 delivered, 1 failed, "
	    "1 confirmed\n"));
	sbuf_free(&b);
}

/* The history's words for what came back: no attempt number, the reply on one line. */
static void
test_log_feedback_words(void **state)
{
	struct queue_view_attempt a[] = {
		{ 20, T0, 1, "报", "office@wmb.example.test", QUEUE_ATTEMPT_BOUNCED, false,
		  SMTP_CLASS_OK, -1, (char *)hostile_bounce, 1, NULL, false },
		{ 21, T1, 1, "报", "office@sw.example.test", QUEUE_ATTEMPT_CONFIRMED, false,
		  SMTP_CLASS_OK, -1, "mdn: manual-action/MDN-sent-manually; displayed", 1, NULL,
		  false },
		{ 22, T1, 1, "报", "office@rd.example.test", QUEUE_ATTEMPT_REMINDED, false,
		  SMTP_CLASS_OK, -1, "reminder issue 9", 1, NULL, false },
	};
	struct sbuf b = SBUF_INIT;

	(void)state;
	status_log_text(&b, a, 3);
	const char *s = sbuf_str(&b);
	assert_terminal_safe(s);
	assert_non_null(strstr(s, "2026-11-23T08:00:00+0000 issue=1 tier=报 "
	    "to=<office@wmb.example.test> status=bounced reply=\"552-5.2.2 \\x1b[2J\\x1b]0;owned"
	    "\\x07 mailbox \\u009b31m full 552 5.2.2 <office@wmb.example.test>: please try"));
	assert_non_null(strstr(s, " status=confirmed reply=\"mdn: manual-action/"
	    "MDN-sent-manually; displayed\"\n"));
	assert_non_null(strstr(s, "to=<office@rd.example.test> status=reminded "
	    "reply=\"reminder issue 9\"\n"));
	assert_null(strstr(s, "attempt="));
	/* one line each */
	size_t lines = 0;
	for (const char *p = s; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 3);
	sbuf_reset(&b);
	status_log_json(&b, a, 1);
	assert_non_null(strstr(sbuf_str(&b), "\"status\":\"bounced\",\"class\":null,"
	    "\"code\":null,\"reply\":\"552-5.2.2"));
	assert_non_null(strstr(sbuf_str(&b), "\"attempt\":1,"));
	sbuf_free(&b);
}

/* How the daemon sees its queue (control `health`), under its line. */
static void
test_status_daemon_queue(void **state)
{
	(void)state;
	struct status_style st = { false, 1795420800 };
	struct status_daemon d = { .running = true, .pid = 812, .since = 1795420800,
		.has_health = true };
	struct sbuf b = SBUF_INIT;

	status_daemon_text(&b, &d, &st);
	assert_non_null(strstr(sbuf_str(&b), "running (pid 812"));
	assert_non_null(strstr(sbuf_str(&b), "\n         queue connected\n"));
	sbuf_free(&b);
	status_daemon_json(&b, &d);
	assert_non_null(strstr(sbuf_str(&b), "\"queue\":{\"connected\":true}}}"));
	sbuf_free(&b);

	d.health.unreachable = true;
	d.health.since = 1795420800;
	d.health.next = 8;
	snprintf(d.health.error, sizeof(d.health.error), "no connection to the server");
	status_daemon_text(&b, &d, &st);
	assert_non_null(strstr(sbuf_str(&b), "queue unreachable since "));
	assert_non_null(strstr(sbuf_str(&b), "next try in 8 s, last error:"));
	assert_non_null(strstr(sbuf_str(&b), "no connection to the server\n"));
	sbuf_free(&b);
	status_daemon_json(&b, &d);
	assert_non_null(strstr(sbuf_str(&b), "\"queue\":{\"connected\":false,\"since\":"));
	assert_non_null(strstr(sbuf_str(&b), "\"next_try\":8,\"error\":\"no connection to "
	    "the server\"}}}"));
	sbuf_free(&b);

	/* not running (or a distd before `health`): no queue line, null */
	d.running = false;
	status_daemon_text(&b, &d, &st);
	assert_null(strstr(sbuf_str(&b), "queue"));
	sbuf_free(&b);
	status_daemon_json(&b, &d);
	assert_non_null(strstr(sbuf_str(&b), "\"queue\":null}}"));
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pad_and_cut_by_display_width),
		cmocka_unit_test_setup(test_show_columns_and_replies, utc),
		cmocka_unit_test_setup(test_show_json_keys, utc),
		cmocka_unit_test(test_show_empty_list_says_why),
		cmocka_unit_test(test_status_without_a_queue),
		cmocka_unit_test(test_status_bounces_need_a_look),
		cmocka_unit_test_setup(test_status_text_with_a_queue, utc),
		cmocka_unit_test_setup(test_status_json_and_attention, utc),
		cmocka_unit_test_setup(test_status_daemon_queue, utc),
		cmocka_unit_test_setup(test_status_nodes, utc),
		cmocka_unit_test_setup(test_log_lines, utc),
		cmocka_unit_test(test_hostile_values_escaped),
		cmocka_unit_test_setup(test_status_tiers_bounced_and_confirmed, utc),
		cmocka_unit_test_setup(test_show_bounced_and_confirmed, utc),
		cmocka_unit_test_setup(test_show_filtered_summary_and_empty_lists, utc),
		cmocka_unit_test_setup(test_log_feedback_words, utc),
	};
	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
