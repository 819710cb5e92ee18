/* Unit tests for daemon/adminmail.c: who gets mail distd writes itself, and how it is queued. */
#include "testutil.h"

#include "adminmail.h"
#include "log.h"
#include "testqueue.h"

#define CONF \
	"smtp = { url = \"smtps://mail.example.test\"; };\n" \
	"sender = { from = \"办公室 <bulletin@example.test>\"; admin = \"postmaster@example.test\"; };\n" \
	"recipients = ( { name = \"中央文明办\"; address = \"office@wmb.example.test\"; } );\n" \
	"series = ( { title = \"门头沟简报\"; admin = \"mtg-admin@example.test\"; } );\n"

static int
setup(void **state)
{
	*state = test_conf_queue_new("adminmail", CONF);
	return 0;
}

static int
teardown(void **state)
{
	test_conf_queue_free(*state);
	return 0;
}

static void
test_to_is_the_series_admin_else_sender_admin(void **state)
{
	struct test_conf_queue *f = *state;

	assert_string_equal(adminmail_to(f->conf, "门头沟简报"), "mtg-admin@example.test");
	assert_string_equal(adminmail_to(f->conf, "别的简报"), "postmaster@example.test");
	assert_string_equal(adminmail_to(f->conf, NULL), "postmaster@example.test");
}

static void
test_enqueue_one_auto_submitted_message_to_the_admin(void **state)
{
	struct test_conf_queue *f = *state;
	struct adminmail m = { QUEUE_KIND_REPORT, "report-key-1", "report for 1",
		"投递失败报告 / Delivery failure report", "u1@example.test: 550 no such user\n",
		1, 0, "门头沟简报" };
	struct queue_batch *b[2];
	size_t n;
	int64_t id, existing;
	char err[256];

	assert_int_equal(adminmail_enqueue(f->conf, f->queue, &m, 1000, &id, &existing, err,
	    sizeof(err)), 0);
	assert_true(id > 0);
	assert_int_equal(queue_take(f->queue, 1000, 2, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->issue, id);
	assert_int_equal(b[0]->n, 1);
	/* the series' admin, under a tier named for what it gets */
	assert_string_equal(b[0]->addresses[0], "mtg-admin@example.test");
	assert_string_equal(b[0]->tiers[0], "报告");
	/* so that vacation responders and ticket systems do not answer it */
	assert_non_null(strstr(b[0]->message, "Auto-Submitted: auto-generated"));
	assert_non_null(strstr(b[0]->message, "mtg-admin@example.test"));
	assert_null(strstr(b[0]->message, "office@wmb.example.test"));
	queue_batch_free(b[0]);
}

static void
test_a_notice_key_is_queued_once(void **state)
{
	struct test_conf_queue *f = *state;
	struct adminmail m = { QUEUE_KIND_NOTICE, "held:7", "notice held:7",
		"Action needed: issue held", "held\n", 0, 0, NULL };
	int64_t id, again, existing = 0;
	char err[256];

	assert_int_equal(adminmail_enqueue(f->conf, f->queue, &m, 1000, &id, &existing, err,
	    sizeof(err)), 0);
	assert_true(id > 0);
	assert_int_equal(adminmail_enqueue(f->conf, f->queue, &m, 1001, &again, &existing, err,
	    sizeof(err)), 0);
	assert_int_equal(again, 0);
	assert_int_equal(existing, id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_to_is_the_series_admin_else_sender_admin,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_one_auto_submitted_message_to_the_admin,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_notice_key_is_queued_once, setup, teardown),
	};
	log_init(false);
	return cmocka_run_group_tests_name("adminmail", tests, NULL, NULL);
}
