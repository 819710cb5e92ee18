#include "testutil.h"

#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "delivery_log.h"
#include "fileio.h"
#include "log.h"

static char *
line_of(const struct delivery_log_entry *e)
{
	struct sbuf b = SBUF_INIT;

	delivery_log_format(&b, e);
	return sbuf_steal(&b);
}

static void
test_line_has_rfc3339_times_and_one_line_reply(void **state)
{
	(void)state;
	struct smtp_verdict v = { .outcome = SMTP_OK, .class = SMTP_CLASS_OK,
		.code = 250, .dsn = "2.0.0", .reply = "250 2.0.0 Ok: \"queued\"\r\nas 4F2A" };
	struct queue_attempt a = { .status = QUEUE_ATTEMPT_SENT, .attempt = 1 };
	struct delivery_log_entry e;

	delivery_log_entry_from_result(&e, 1591925401, 17, "报", "office@wmb.example.test",
	    "mail.example.test:465", &v, &a, 0.42);
	char *line = line_of(&e);
	assert_string_equal(line, "2020-06-12T09:30:01+08:00 issue=17 tier=报 "
	    "to=<office@wmb.example.test> relay=mail.example.test:465 status=sent "
	    "code=250 dsn=2.0.0 delay=0.42 attempt=1 "
	    "reply=\"250 2.0.0 Ok: \\\"queued\\\"  as 4F2A\"");
	free(line);

	v = (struct smtp_verdict){ .outcome = SMTP_TEMP, .class = SMTP_CLASS_4XX,
		.code = 451, .reply = "451 later" };
	a = (struct queue_attempt){ .status = QUEUE_ATTEMPT_DEFERRED, .attempt = 2,
		.next_attempt = 1591925701, .possible_duplicate = true };
	delivery_log_entry_from_result(&e, 1591925401, 17, "发", "a@example.test", "r:465",
	    &v, &a, 1.5);
	line = line_of(&e);
	assert_non_null(strstr(line, " status=deferred class=4xx code=451 delay=1.50 "
	    "attempt=2 next=2020-06-12T09:35:01+08:00 note=possible-duplicate "
	    "reply=\"451 later\""));
	free(line);
}

/* distctl log reads old attempts without relay, DSN or delay: those are left out. */
static void
test_missing_fields_are_left_out(void **state)
{
	(void)state;
	struct delivery_log_entry e = { .when = 1591925401, .issue = 3, .tier = "送",
		.address = "b@example.test", .status = "failed", .class = "5xx",
		.code = 550, .delay = -1, .attempt = 1 };
	char *line = line_of(&e);

	assert_string_equal(line, "2020-06-12T09:30:01+08:00 issue=3 tier=送 "
	    "to=<b@example.test> status=failed class=5xx code=550 attempt=1 reply=\"\"");
	free(line);
	e.delay = 0;	/* a transaction may take no measurable time */
	line = line_of(&e);
	assert_non_null(strstr(line, " code=550 delay=0.00 attempt=1 "));
	free(line);
}

static void
test_outcome_and_priority(void **state)
{
	(void)state;
	struct delivery_log_entry e;
	struct smtp_verdict ok = { .outcome = SMTP_OK }, temp = { .outcome = SMTP_TEMP },
		perm = { .outcome = SMTP_PERM };
	struct queue_attempt sent = { .status = QUEUE_ATTEMPT_SENT },
		later = { .status = QUEUE_ATTEMPT_DEFERRED, .next_attempt = 1591925701 },
		expired = { .status = QUEUE_ATTEMPT_EXPIRED },
		failed = { .status = QUEUE_ATTEMPT_FAILED };

	delivery_log_entry_from_result(&e, 1, 1, "报", "a@example.test", "r", &ok, &sent, 0);
	assert_int_equal(e.outcome, DELIVERY_LOG_DELIVERED);
	assert_int_equal(delivery_log_priority(e.outcome), LOG_INFO);
	delivery_log_entry_from_result(&e, 1, 1, "报", "a@example.test", "r", &temp, &later, 0);
	assert_int_equal(e.outcome, DELIVERY_LOG_DEFERRED);
	assert_int_equal(delivery_log_priority(e.outcome), LOG_WARNING);
	delivery_log_entry_from_result(&e, 1, 1, "报", "a@example.test", "r", &temp, &expired,
	    0);
	assert_int_equal(e.outcome, DELIVERY_LOG_FAILED);
	delivery_log_entry_from_result(&e, 1, 1, "报", "a@example.test", "r", &perm, &failed,
	    0);
	assert_int_equal(e.outcome, DELIVERY_LOG_FAILED);
	assert_int_equal(delivery_log_priority(e.outcome), LOG_ERR);
}

static char *
read_text(const char *path)
{
	char *data, err[256];
	size_t len;

	assert_int_equal(fileio_read_all(path, 65536, 0, &data, &len, err, sizeof(err)), 0);
	return data;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
add(struct delivery_log_batch *b, int64_t issue, const char *address, const char *reply)
{
	struct delivery_log_entry e = { .when = 1591925401, .issue = issue, .tier = "报",
		.address = address, .status = "sent", .attempt = 1, .reply = reply };
	delivery_log_batch_add(b, &e);
}

/* One line per attempt, the batch copies its strings, the file survives logrotate. */
static void
test_batch_writes_lines_and_reopens(void **state)
{
	(void)state;
	char path[64], moved[80], reply[32];
	struct delivery_log_batch b = DELIVERY_LOG_BATCH_INIT;

	snprintf(path, sizeof(path), "/tmp/distd-dlog-%d", (int)getpid());
	snprintf(moved, sizeof(moved), "%s.1", path);
	unlink(path);
	assert_int_equal(delivery_log_open(path), 0);
	strcpy(reply, "250 one\r\ntwo");
	add(&b, 1, "a@example.test", reply);
	memset(reply, 'X', sizeof(reply) - 1);	/* the batch kept its own copy */
	add(&b, 1, "b@example.test", "250 ok");
	delivery_log_batch_write(&b);
	assert_int_equal(b.n, 0);
	delivery_log_batch_write(&b);	/* empty: writes nothing */

	assert_int_equal(rename(path, moved), 0);
	delivery_log_reopen();
	add(&b, 2, "c@example.test", "250 ok");
	delivery_log_batch_write(&b);
	delivery_log_close();

	char *first = read_text(moved), *second = read_text(path);
	assert_string_equal(first,
	    "2020-06-12T09:30:01+08:00 issue=1 tier=报 to=<a@example.test> status=sent "
	    "delay=0.00 attempt=1 reply=\"250 one  two\"\n"
	    "2020-06-12T09:30:01+08:00 issue=1 tier=报 to=<b@example.test> status=sent "
	    "delay=0.00 attempt=1 reply=\"250 ok\"\n");
	assert_non_null(strstr(second, "issue=2 tier=报 to=<c@example.test>"));
	assert_int_equal(count_lines(second), 1);
	free(first);
	free(second);
	unlink(path);
	unlink(moved);

	add(&b, 3, "d@example.test", "x");
	delivery_log_batch_free(&b);	/* dropped unwritten, nothing leaks */
	assert_int_equal(b.n, 0);
}

static void
test_open_fails_on_a_missing_folder(void **state)
{
	(void)state;
	assert_int_equal(delivery_log_open("/nonexistent/distd/delivery.log"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_has_rfc3339_times_and_one_line_reply),
		cmocka_unit_test(test_missing_fields_are_left_out),
		cmocka_unit_test(test_outcome_and_priority),
		cmocka_unit_test(test_batch_writes_lines_and_reopens),
		cmocka_unit_test(test_open_fails_on_a_missing_folder),
	};
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	log_init(false);
	return cmocka_run_group_tests_name("delivery_log", tests, NULL, NULL);
}
