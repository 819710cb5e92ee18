/* distctl's renderers: widths by display columns, show's filters, status without a queue. */
#include "testutil.h"

#include <sqlite3.h>
#include <unistd.h>

#include "queue.h"
#include "status.h"
#include "text.h"

static char dbpath[64];

static char *
render(void *arg, int64_t id, const char *mid, size_t *len, char *err, size_t errsz)
{
	(void)arg; (void)id; (void)mid; (void)err; (void)errsz;
	*len = 4;
	return strdup("body");
}

static int
setup(void **state)
{
	struct queue *q;
	char err[256];
	int64_t id, dup;

	snprintf(dbpath, sizeof(dbpath), "/tmp/distd-status-%d.db", (int)getpid());
	unlink(dbpath);
	if (queue_open(dbpath, &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	struct queue_recipient_in r[] = {
		{ 0, "报", "to", "中央文明办", "报:中央文明办", "中央文明办", "中央文明办",
		  "office@wmb.example.test" },
		{ 0, "报", "to", "首都文明委副主任", "报", "首都文明委副主任兼秘书长", "x",
		  "deputy@wmw.example.test" },
		{ 1, "发", "bcc", "大兴区文明办", "发", "大兴区文明办", "x", "wmb@daxing.example.test" },
	};
	struct queue_issue_in in = { .sha256 = "s", .source = "a.txt", .kind = QUEUE_KIND_BULLETIN,
		.title = "首都精神文明建设情况简报", .subject = "首都精神文明建设情况简报 第29期",
		.issue_no = 29, .total_issue_no = -1, .received = 1 };
	if (queue_enqueue(q, &in, r, 3, "example.test", render, NULL, &id, &dup, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	sqlite3_exec(queue_db(q), "UPDATE recipients SET state = 'delivered', last_code = 250,"
	    " last_reply = '250 2.0.0 Ok: queued as 0001', attempts = 1 WHERE id = 2;"
	    "UPDATE recipients SET state = 'deferred', attempts = 3, last_code = 451, last_reply ="
	    " '451 4.7.1 greylisted, please try again later, the server is busy right now'"
	    " WHERE id = 3", NULL, NULL, NULL);
	*state = q;
	return 0;
}

static int
teardown(void **state)
{
	char p[80];

	queue_close(*state);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
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
	sbuf_free(&b);
}

static void
test_show_pending_and_tier(void **state)
{
	struct queue *q = *state;
	struct status_style style = { false, 100 };
	struct status_filter all = { NULL, NULL, false }, pending = { NULL, NULL, true },
	    pending_fa = { NULL, "发", true };
	struct sbuf b = SBUF_INIT;
	char err[256];

	assert_int_equal(status_show(&b, q, 1, &all, &style, false, err, sizeof(err)), 0);
	assert_true(widest(sbuf_str(&b)) <= 80);
	/* the header's columns are the rows' columns: TIER is as wide as 报 plus padding */
	const char *head = strstr(sbuf_str(&b), "TIER NAME");
	const char *row = strstr(sbuf_str(&b), "报   中央文明办");
	assert_non_null(head);
	assert_non_null(row);
	assert_int_equal(column(head, "ADDRESS"), column(row, "office@"));
	assert_int_equal(column(head, "STATE"), column(row, "queued"));
	/* a deferred reply is printed whole (wrapped), with the next attempt */
	assert_non_null(strstr(sbuf_str(&b), "the server is busy"));
	assert_non_null(strstr(sbuf_str(&b), "next attempt"));

	sbuf_reset(&b);
	assert_int_equal(status_show(&b, q, 1, &pending, &style, true, err, sizeof(err)), 0);
	assert_non_null(strstr(sbuf_str(&b), "office@wmb.example.test"));
	assert_null(strstr(sbuf_str(&b), "deputy@wmw.example.test"));	/* delivered */
	assert_non_null(strstr(sbuf_str(&b), "wmb@daxing.example.test"));

	sbuf_reset(&b);
	assert_int_equal(status_show(&b, q, 1, &pending_fa, &style, true, err, sizeof(err)), 0);
	assert_null(strstr(sbuf_str(&b), "office@wmb.example.test"));
	assert_non_null(strstr(sbuf_str(&b), "wmb@daxing.example.test"));
	sbuf_free(&b);
}

static void
test_status_without_a_queue(void **state)
{
	struct status_where w = { "/etc/distd/distd.conf", NULL, "/var/lib/distd/queue.db",
		"/etc/distd/distd.conf:12: syntax error" };
	struct status_daemon d = { false, 0, 0 };
	struct status_style style = { false, 100 };
	struct sbuf b = SBUF_INIT;
	bool attention;
	char err[256];

	(void)state;
	assert_int_equal(status_report(&b, NULL, &w, &d, &style, false, &attention, err,
	    sizeof(err)), 0);
	assert_non_null(strstr(sbuf_str(&b), "none yet"));
	assert_non_null(strstr(sbuf_str(&b), "invalid: /etc/distd/distd.conf:12: syntax error"));
	assert_true(widest(sbuf_str(&b)) <= 80);
	sbuf_reset(&b);
	assert_int_equal(status_report(&b, NULL, &w, &d, &style, true, &attention, err,
	    sizeof(err)), 0);
	assert_non_null(strstr(sbuf_str(&b), "\"queue_exists\":false"));
	assert_non_null(strstr(sbuf_str(&b), "\"relay\":null"));
	assert_non_null(strstr(sbuf_str(&b), "\"issues\":[]}"));
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
	struct queue *q = *state;
	struct status_style style = { false, 100 };
	struct status_filter all = { NULL, NULL, false };
	struct status_where w = { "/etc/distd/distd.conf", "smtps://mail.example.test",
		dbpath, NULL };
	struct status_daemon d = { false, 0, 0 };
	struct sbuf b = SBUF_INIT;
	char err[256];
	int64_t id, dup;
	bool attention;
	/* 第29期 in GBK: b5da 3239 c6da */
	static const char gbk[] = "\xb5\xda" "29\xc6\xda.txt";
	struct queue_recipient_in r[] = {
		{ 0, "报", "to", "中央\x1b[8m文明办", "报", "中央文明办", "x",
		  "office@wmb.example.test" },
	};
	struct queue_issue_in in = { .sha256 = "t", .source = gbk, .kind = QUEUE_KIND_BULLETIN,
		.title = "简报\x1b]0;owned\x07\x1b[2J\xe2\x80\xae", .subject = "s\x1b[31m",
		.issue_no = 30, .total_issue_no = -1, .received = 2 };
	if (queue_enqueue(q, &in, r, 1, "example.test", render, NULL, &id, &dup, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	sqlite3_exec(queue_db(q), "UPDATE recipients SET state = 'deferred', attempts = 1,"
	    " last_code = 451, last_reply = '451 busy ' || char(155) || '31m' WHERE issue = 2",
	    NULL, NULL, NULL);

	assert_int_equal(status_show(&b, q, id, &all, &style, false, err, sizeof(err)), 0);
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "简报\\x1b]0;owned\\x07\\x1b[2J\\u202e"));
	assert_non_null(strstr(sbuf_str(&b), "source:     \\xb5\\xda29\\xc6\\xda.txt"));
	assert_non_null(strstr(sbuf_str(&b), "\\u009b31m"));
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));

	sbuf_reset(&b);
	assert_int_equal(status_show(&b, q, id, &all, &style, true, err, sizeof(err)), 0);
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "\"source\":\"\xef\xbf\xbd\xef\xbf\xbd" "29"));
	assert_non_null(strstr(sbuf_str(&b), "\"source_bytes\":\"b5da3239c6da2e747874\""));
	assert_non_null(strstr(sbuf_str(&b), "\"title\":\"简报\\u001b]0;owned\\u0007"));

	/* a UTF-8 name has no source_bytes */
	sbuf_reset(&b);
	assert_int_equal(status_show(&b, q, 1, &all, &style, true, err, sizeof(err)), 0);
	assert_non_null(strstr(sbuf_str(&b), "\"source\":\"a.txt\",\"source_bytes\":null"));

	sbuf_reset(&b);
	assert_int_equal(status_report(&b, q, &w, &d, &style, false, &attention, err,
	    sizeof(err)), 0);
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "简报\\x1b]0;"));
	sbuf_reset(&b);
	assert_int_equal(status_report(&b, q, &w, &d, &style, true, &attention, err,
	    sizeof(err)), 0);
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));
	assert_terminal_safe(sbuf_str(&b));

	sbuf_reset(&b);
	int64_t after = 0;
	sqlite3_exec(queue_db(q), "INSERT INTO attempts (time, issue, recipient, status, class,"
	    " code, reply, attempt, relay) SELECT 3, issue, id, 'deferred', 'temporary', 451,"
	    " last_reply, 1, 'mail.example.test:465' FROM recipients WHERE issue = 2",
	    NULL, NULL, NULL);
	assert_int_equal(status_log(&b, q, &after, 10, 0, false, err, sizeof(err)), 0);
	assert_terminal_safe(sbuf_str(&b));
	assert_non_null(strstr(sbuf_str(&b), "reply=\"451 busy \\u009b31m\""));
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pad_and_cut_by_display_width),
		cmocka_unit_test_setup_teardown(test_show_pending_and_tier, setup, teardown),
		cmocka_unit_test(test_status_without_a_queue),
		cmocka_unit_test_setup_teardown(test_hostile_values_escaped, setup, teardown),
	};
	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
