#include "testutil.h"

#include <gmime/gmime.h>
#include <unistd.h>

#include "conf.h"
#include "failure_report.h"
#include "queue.h"

static char dbpath[64];

struct fixture {
	struct conf *conf;
	struct queue *q;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sbuf errs = SBUF_INIT;
	char err[256];
	char *path = write_temp(
	    "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"办公室 <bulletin@example.test>\";\n"
	    "           admin = \"postmaster@example.test\"; };\n"
	    "recipients = ( { name = \"甲\"; address = \"a@example.test\"; } );\n", 0644);

	if (conf_load(path, 0, &f->conf, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	unlink(path);
	free(path);
	sbuf_free(&errs);
	snprintf(dbpath, sizeof(dbpath), "/tmp/distd-freport-%d.db", (int)getpid());
	unlink(dbpath);
	if (queue_open(dbpath, &f->q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[80];

	queue_close(f->q);
	conf_free(f->conf);
	free(f);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	return 0;
}

static char *
render_plain(void *arg, int64_t id, const char *mid, size_t *len, char *err, size_t errsz)
{
	(void)arg; (void)id; (void)err; (void)errsz;
	char *m = malloc(128);
	snprintf(m, 128, "Message-ID: <%s>\r\n\r\nbody\r\n", mid);
	*len = strlen(m);
	return m;
}

static double
no_jitter(int64_t issue, const char *tier, int attempt)
{
	(void)issue; (void)tier; (void)attempt;
	return 0;
}

/* An issue of two recipients: one refused for good, one delivered. Returns its id. */
static int64_t
issue_with_one_failure(struct queue *q, long issue_no, const char *reply)
{
	struct queue_recipient_in r[2] = {
		{ 0, "报", "to", "甲", "报:甲", "甲", "甲", "a@example.test", false },
		{ 0, "报", "to", "乙", "报:乙", "乙", "乙", "b@example.test", false },
	};
	struct queue_issue_in in = { .sha256 = "ffff", .source = "a.txt", .kind = QUEUE_KIND_BULLETIN,
		.title = "首都精神文明建设情况简报", .subject = "简报 第29期", .issue_no = issue_no,
		.total_issue_no = -1, .received = 1000 };
	static const struct queue_retry retry = { 10, 100, 1000 };
	struct queue_batch *b[1];
	int64_t id, dup, *finished;
	size_t n;
	char err[256];

	assert_int_equal(queue_enqueue(q, &in, r, 2, "example.test", render_plain, NULL,
	    &id, &dup, err, sizeof(err)), 0);
	assert_int_equal(queue_take(q, 1000, 1, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	struct smtp_verdict v[2] = {
		{ .outcome = SMTP_PERM, .code = 550, .reply = reply, .class = SMTP_CLASS_5XX },
		{ .outcome = SMTP_OK, .code = 250, .reply = "250 ok", .class = SMTP_CLASS_OK },
	};
	struct queue_attempt att[2];
	assert_int_equal(queue_record(q, b[0], v, NULL, att, 1001, 0.1, "relay:465", &retry,
	    no_jitter, err, sizeof(err)), 0);
	queue_batch_free(b[0]);
	assert_int_equal(queue_finish(q, 1002, &finished, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(finished[0], id);
	free(finished);
	return id;
}

/* The message's decoded subject and plain-text body. */
static void
read_message(const char *data, size_t len, char **subject, char **body)
{
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);

	assert_non_null(m);
	*subject = g_strdup(g_mime_message_get_subject(m));
	GMimeObject *part = g_mime_message_get_body(m);
	while (GMIME_IS_MULTIPART(part))
		part = g_mime_multipart_get_part(GMIME_MULTIPART(part), 0);
	assert_true(GMIME_IS_TEXT_PART(part));
	*body = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	g_object_unref(m);
	g_object_unref(p);
	g_object_unref(s);
}

static void
test_report_names_the_failed_recipient_with_exact_commands(void **state)
{
	struct fixture *f = *state;
	int64_t issue = issue_with_one_failure(f->q, 29,
	    "550 5.1.1 <a@example.test>: unknown");
	struct queue_batch *b[1];
	size_t n;
	char err[256], *subject, *body, cmd[160];

	assert_int_equal(failure_report_enqueue(f->conf, f->q, issue, 1003, err,
	    sizeof(err)), 0);
	assert_int_equal(queue_take(f->q, 1003, 1, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->n, 1);
	assert_string_equal(b[0]->addresses[0], "postmaster@example.test");
	assert_string_equal(b[0]->tiers[0], "报告");
	assert_int_not_equal(b[0]->issue, issue);	/* a message of its own */

	read_message(b[0]->message, b[0]->len, &subject, &body);
	assert_string_equal(subject, "投递失败报告 / Delivery failure report: "
	    "首都精神文明建设情况简报 第29期");
	assert_non_null(strstr(body, "a@example.test"));
	assert_non_null(strstr(body, "550 5.1.1 <a@example.test>: unknown"));
	assert_null(strstr(body, "b@example.test"));	/* delivered: not listed */
	/* a bare "resend ID" would send everyone the issue again */
	snprintf(cmd, sizeof(cmd), "distctl resend %lld --to NEW-ADDRESS --replace "
	    "a@example.test", (long long)issue);
	assert_non_null(strstr(body, cmd));
	snprintf(cmd, sizeof(cmd), "distctl show %lld --pending", (long long)issue);
	assert_non_null(strstr(body, cmd));
	g_free(subject);
	g_free(body);
	queue_batch_free(b[0]);
}

/* No issue number printed and no reply recorded: neither is made up. */
static void
test_missing_number_and_reply_are_not_invented(void **state)
{
	struct fixture *f = *state;
	int64_t issue = issue_with_one_failure(f->q, -1, NULL);
	struct queue_batch *b[1];
	size_t n;
	char err[256], *subject, *body;

	assert_int_equal(failure_report_enqueue(f->conf, f->q, issue, 1003, err,
	    sizeof(err)), 0);
	assert_int_equal(queue_take(f->q, 1003, 1, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	read_message(b[0]->message, b[0]->len, &subject, &body);
	assert_string_equal(subject, "投递失败报告 / Delivery failure report: "
	    "首都精神文明建设情况简报");
	assert_non_null(strstr(body, "server reply: (none)"));
	g_free(subject);
	g_free(body);
	queue_batch_free(b[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_report_names_the_failed_recipient_with_exact_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_number_and_reply_are_not_invented,
		    setup, teardown),
	};
	g_mime_init();
	return cmocka_run_group_tests_name("failure_report", tests, NULL, NULL);
}
