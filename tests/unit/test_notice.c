/* Unit tests for daemon/notice.c: admin notices, rendered and swept into the queue at most 10 an hour. */
#include "testutil.h"

#include "log.h"
#include "notice.h"
#include "testqueue.h"

#define CONF \
	"smtp = { url = \"smtps://mail.example.test\"; };\n" \
	"sender = { from = \"办公室 <bulletin@example.test>\"; admin = \"postmaster@example.test\"; };\n" \
	"retry = { min_backoff = 60; };\n" \
	"recipients = ( { name = \"中央文明办\"; address = \"office@wmb.example.test\"; } );\n"

static int
setup(void **state)
{
	*state = test_conf_queue_new("notice", CONF);
	return 0;
}

static int
teardown(void **state)
{
	test_conf_queue_free(*state);
	return 0;
}

/* Queues a bulletin held on arrival (so a notice is due for it); returns its id. */
static int64_t
enqueue_held(struct queue *q, int serial)
{
	struct queue_recipient_in r = { 0, "报", "to", "中央文明办", "报:中央文明办", "中央文明办",
		"中央文明办", "office@wmb.example.test", false };
	char sha[32], source[32];
	int64_t id, dup;
	char err[256];

	snprintf(sha, sizeof(sha), "held%d", serial);
	snprintf(source, sizeof(source), "第%d期.txt", serial);
	struct queue_issue_in in = { .sha256 = sha, .source = source, .kind = QUEUE_KIND_BULLETIN,
		.title = "工作简报", .subject = "工作简报", .issue_no = serial, .total_issue_no = -1,
		.hold_reason = "1 unresolved unit: 报: 新设单位", .received = 1000 };
	if (queue_enqueue(q, &in, &r, 1, "example.test", test_render_plain, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return id;
}

/* Notices waiting to be sent (the held bulletins' own recipients are not due). */
static size_t
notices_due(struct queue *q, int64_t now)
{
	return test_queue_due(q, now, "postmaster@example.test");
}

static void
test_render_held_names_the_issue_and_the_commands(void **state)
{
	struct test_conf_queue *f = *state;
	struct queue_notice_due d = { .cause = QUEUE_NOTICE_HELD, .key = "held:3", .issue = 3,
		.title = "工作简报", .source = "第21期.txt", .issue_no = 21,
		.reason = "1 unresolved unit: 报: 新设单位" };
	struct sbuf subject = SBUF_INIT, body = SBUF_INIT;

	notice_render(f->conf, &d, &subject, &body);
	assert_non_null(strstr(sbuf_str(&subject), "issue held: 工作简报 第21期"));
	assert_non_null(strstr(sbuf_str(&body), "第21期.txt"));
	assert_non_null(strstr(sbuf_str(&body), "报: 新设单位"));
	assert_non_null(strstr(sbuf_str(&body), "distctl release 3"));
	assert_non_null(strstr(sbuf_str(&body), "distctl cancel 3"));
	sbuf_free(&subject);
	sbuf_free(&body);
}

static void
test_render_unresolved_lists_each_unit(void **state)
{
	struct test_conf_queue *f = *state;
	struct queue_notice_due d = { .cause = QUEUE_NOTICE_UNRESOLVED, .key = "unresolved:4",
		.issue = 4, .title = NULL, .source = "send.txt", .issue_no = -1,
		.reason = "外地单位甲\n外地单位乙" };
	struct sbuf subject = SBUF_INIT, body = SBUF_INIT;

	notice_render(f->conf, &d, &subject, &body);
	/* no title and no number: said so, never a made-up one */
	assert_non_null(strstr(sbuf_str(&subject), "units not sent: (untitled)"));
	assert_null(strstr(sbuf_str(&subject), "期"));
	assert_non_null(strstr(sbuf_str(&body), "- 外地单位甲\n- 外地单位乙\n"));
	assert_non_null(strstr(sbuf_str(&body), "distctl show 4"));
	sbuf_free(&subject);
	sbuf_free(&body);
}

static void
test_render_alert_by_kind(void **state)
{
	struct test_conf_queue *f = *state;
	struct queue_notice_due d = { .cause = QUEUE_NOTICE_ALERT, .key = "alert:auth:1",
		.reason = "535 5.7.8 bad credentials", .alert_kind = QUEUE_ALERT_AUTH, .since = 1000,
		.issue_no = -1 };
	struct sbuf subject = SBUF_INIT, body = SBUF_INIT;

	notice_render(f->conf, &d, &subject, &body);
	assert_non_null(strstr(sbuf_str(&subject), "the relay refused our credentials"));
	assert_non_null(strstr(sbuf_str(&body), "535 5.7.8 bad credentials"));
	/* the probe interval the admin can expect is retry.min_backoff */
	assert_non_null(strstr(sbuf_str(&body), "tries once every 60 s"));
	sbuf_free(&subject);
	sbuf_free(&body);
	subject = (struct sbuf)SBUF_INIT;
	body = (struct sbuf)SBUF_INIT;
	d.alert_kind = QUEUE_ALERT_TLS;
	notice_render(f->conf, &d, &subject, &body);
	assert_non_null(strstr(sbuf_str(&subject), "TLS with the relay failed"));
	sbuf_free(&subject);
	sbuf_free(&body);
	/* the feedback mailbox: worded for it, deliveries are not paused */
	subject = (struct sbuf)SBUF_INIT;
	body = (struct sbuf)SBUF_INIT;
	d.alert_kind = QUEUE_ALERT_FEEDBACK;
	d.reason = "imaps://127.0.0.1:993/INBOX: CAPABILITY: login refused";
	notice_render(f->conf, &d, &subject, &body);
	assert_non_null(strstr(sbuf_str(&subject), "the feedback mailbox cannot be read"));
	assert_non_null(strstr(sbuf_str(&body), "login refused"));
	assert_non_null(strstr(sbuf_str(&body), "Deliveries go on as usual"));
	assert_null(strstr(sbuf_str(&body), "paused"));
	assert_null(strstr(sbuf_str(&body), "same relay"));
	sbuf_free(&subject);
	sbuf_free(&body);
}

static void
test_sweep_queues_one_notice_per_held_issue(void **state)
{
	struct test_conf_queue *f = *state;

	/* nothing due: cheap, and nothing to come back for */
	assert_int_equal(notice_sweep(f->conf, f->queue, 1000), 0);
	assert_int_equal(notices_due(f->queue, 1000), 0);
	enqueue_held(f->queue, 1);
	assert_int_equal(notice_sweep(f->conf, f->queue, 1001), 0);
	assert_int_equal(notices_due(f->queue, 1001), 1);
	/* a second sweep (a rescan, a restart) does not send it again */
	assert_int_equal(notice_sweep(f->conf, f->queue, 1002), 0);
	assert_int_equal(notices_due(f->queue, 1002), 1);
}

static void
test_sweep_holds_back_more_than_ten_an_hour(void **state)
{
	struct test_conf_queue *f = *state;

	for (int i = 1; i <= NOTICE_PER_HOUR + 2; i++)
		enqueue_held(f->queue, i);
	int64_t next = notice_sweep(f->conf, f->queue, 2000);
	assert_int_equal(next, 2000 + 3600);
	assert_int_equal(notices_due(f->queue, 2000), NOTICE_PER_HOUR);
	/* within the hour the rest still waits */
	assert_int_equal(notice_sweep(f->conf, f->queue, 3000), 2000 + 3600);
	assert_int_equal(notices_due(f->queue, 3000), NOTICE_PER_HOUR);
	/* an hour on, the rest goes */
	assert_int_equal(notice_sweep(f->conf, f->queue, 2000 + 3600), 0);
	assert_int_equal(notices_due(f->queue, 2000 + 3600), NOTICE_PER_HOUR + 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_render_held_names_the_issue_and_the_commands,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_unresolved_lists_each_unit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_render_alert_by_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_queues_one_notice_per_held_issue, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep_holds_back_more_than_ten_an_hour, setup,
		    teardown),
	};
	log_init(false);
	return cmocka_run_group_tests_name("notice", tests, NULL, NULL);
}
