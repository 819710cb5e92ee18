/* distctl remind: who a reminder goes to, and what distctl says (remind.c). */
#include "testutil.h"

#include "testqueue.h"

#include "remind.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define R(t_, u_, a_, s_, r_, c_, b_, x_) \
	{ .tier = (char *)(t_), .unit = (char *)(u_), .name = (char *)(u_), \
	  .address = (char *)(a_), .state = (s_), .receipt = (r_), \
	  .confirmed = (c_), .bounced = (b_), .replaced_by = (char *)(x_) }

static struct queue_view_recipient rows[] = {
	/* 0: asked, delivered, nothing back: reminded */
	R("报", "中央文明办", "office@example.test", QUEUE_DELIVERED, true, 0, 0, NULL),
	/* 1: asked and confirmed */
	R("报", "市委宣传部", "xcb@example.test", QUEUE_DELIVERED, true, 1000, 0, NULL),
	/* 2: asked, delivered, bounced since */
	R("报", "市总工会", "gh@example.test", QUEUE_DELIVERED, true, 0, 900, NULL),
	/* 3: asked, still deferred */
	R("送", "团市委", "tsw@example.test", QUEUE_DEFERRED, true, 0, 0, NULL),
	/* 4: asked, delivered: reminded */
	R("送", "市妇联", "fl@example.test", QUEUE_DELIVERED, true, 0, 0, NULL),
	/* 5: not asked */
	R("发", "东城区", "dc@example.test", QUEUE_DELIVERED, false, 0, 0, NULL),
	/* 6: replaced by 7 */
	R("送", "市科协", "old@example.test", QUEUE_DELIVERED, true, 0, 0, "new@example.test"),
	/* 7: the replacement, delivered: reminded */
	R("送", "市科协", "new@example.test", QUEUE_DELIVERED, true, 0, 0, NULL),
	/* 8: the same address as 0 in another tier: one reminder */
	R("送", "中央文明办", "OFFICE@example.test", QUEUE_DELIVERED, true, 0, 0, NULL),
	/* 9: asked, failed */
	R("送", "市残联", "cl@example.test", QUEUE_FAILED, true, 0, 0, NULL),
};

static struct queue_view_issue
view(void)
{
	return (struct queue_view_issue){ .id = 12, .title = "简报", .subject = "简报 第3期",
	    .message_id = "distd.12.0123456789abcdef@example.test",
	    .state = QUEUE_ISSUE_DONE, .kind = QUEUE_KIND_BULLETIN, .received = 1000,
	    .issue_no = 3, .total_issue_no = -1,
	    .recipients = rows, .n_recipients = sizeof(rows) / sizeof(rows[0]) };
}

static void
test_plan_picks_the_unconfirmed(void **state)
{
	(void)state;
	struct queue_view_issue v = view();
	struct remind_plan p;
	char why[512];

	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_OK);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.pick[0], 0);
	assert_int_equal(p.pick[1], 4);
	assert_int_equal(p.pick[2], 7);
	assert_int_equal(p.asked, 8);		/* rows 0-4, 7-9 */
	assert_int_equal(p.confirmed, 1);
	assert_int_equal(p.bounced, 1);
	assert_int_equal(p.waiting, 2);		/* deferred and failed */
	remind_plan_free(&p);

	/* one tier */
	assert_int_equal(remind_plan(&v, "报", &p, why, sizeof(why)), REMIND_OK);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.pick[0], 0);
	assert_int_equal(p.asked, 3);
	remind_plan_free(&p);
	assert_int_equal(remind_plan(&v, "送", &p, why, sizeof(why)), REMIND_OK);
	assert_int_equal(p.n, 3);		/* 4, 7 and 8 (its own tier: row 0 is not in it) */
	assert_int_equal(p.pick[0], 4);
	assert_int_equal(p.pick[1], 7);
	assert_int_equal(p.pick[2], 8);
	remind_plan_free(&p);
}

static void
test_plan_refusals(void **state)
{
	(void)state;
	struct queue_view_issue v = view();
	struct remind_plan p;
	char why[512];

	/* nobody asked in that tier */
	assert_int_equal(remind_plan(&v, "发", &p, why, sizeof(why)), REMIND_NOBODY);
	assert_non_null(strstr(why, "no recipient in tier 发 of issue 12 was asked"));
	assert_null(p.pick);

	/* a tier the issue does not have: its tiers named */
	assert_int_equal(remind_plan(&v, "抄", &p, why, sizeof(why)), REMIND_NO_TIER);
	assert_non_null(strstr(why, "no recipient in tier 抄 (its tiers: 报, 送, 发)"));

	/* everyone asked confirmed, bounced or is still waiting */
	struct queue_view_recipient some[] = { rows[1], rows[2], rows[3], rows[5] };
	v.recipients = some;
	v.n_recipients = 4;
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_NOBODY);
	assert_string_equal(why, "nobody to remind: 1 of 3 asked in issue 12 have confirmed "
	    "receipt, 1 bounced (resend first), 1 not delivered yet");
	assert_int_equal(remind_plan(&v, "报", &p, why, sizeof(why)), REMIND_NOBODY);
	assert_string_equal(why, "nobody to remind: 1 of 2 asked in tier 报 of issue 12 have "
	    "confirmed receipt, 1 bounced (resend first)");
	v.n_recipients = 1;
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_NOBODY);
	assert_string_equal(why, "nobody to remind: 1 of 1 asked in issue 12 have confirmed "
	    "receipt");

	/* not a bulletin, cancelled */
	v = view();
	v.kind = QUEUE_KIND_REMINDER;
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_NOT_BULLETIN);
	assert_non_null(strstr(why, "issue 12 is a reminder, not a bulletin"));
	v.kind = QUEUE_KIND_NOTICE;
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_NOT_BULLETIN);
	v = view();
	v.state = QUEUE_ISSUE_CANCELLED;
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_CANCELLED);
	assert_non_null(strstr(why, "issue 12 was cancelled"));
	/* an issue still going reminds those who have it already */
	v.state = QUEUE_ISSUE_ACTIVE;
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_OK);
	remind_plan_free(&p);
}

static void
test_text_and_json(void **state)
{
	(void)state;
	struct queue_view_issue v = view();
	struct remind_plan p;
	struct sbuf out = SBUF_INIT;
	char why[512];
	static struct queue_view_recipient longer[] = {
		R("报", "一个名字非常非常长的单位一个名字非常非常长的单位一个名字非常非常长的单位",
		    "someone.with.a.long.address@a-long-domain.example.test",
		    QUEUE_DELIVERED, true, 0, 0, NULL),
	};

	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_OK);
	remind_text(&out, &v, &p, 15);
	assert_string_equal(sbuf_str(&out),
	    "remind: issue 12: 3 recipients reminded (reminder issue 15)\n"
	    "  报 中央文明办 <office@example.test>\n"
	    "  送 市妇联 <fl@example.test>\n"
	    "  送 市科协 <new@example.test>\n");
	sbuf_reset(&out);
	remind_json(&out, &v, &p, 15);
	assert_non_null(strstr(sbuf_str(&out), "{\"command\":\"remind\",\"issue\":12,"
	    "\"reminder\":15,\"recipients\":3,\"asked\":8,\"confirmed\":1,\"reminded\":["
	    "{\"tier\":\"报\",\"unit\":\"中央文明办\",\"name\":\"中央文明办\","
	    "\"address\":\"office@example.test\"},"));
	remind_plan_free(&p);

	/* a long line is cut to 80 columns */
	sbuf_reset(&out);
	v.recipients = longer;
	v.n_recipients = 1;
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_OK);
	remind_text(&out, &v, &p, 15);
	const char *line = strchr(sbuf_str(&out), '\n') + 1;
	char *one = xstrndup(line, strcspn(line, "\n"));
	assert_true(text_width(one) <= 80);
	assert_non_null(strstr(one, "…"));
	free(one);
	remind_plan_free(&p);
	sbuf_free(&out);
}

/* ---- remind_enqueue on a real (SQLite) queue ------------------------------ */

static double
no_jitter(int64_t issue, const char *tier, int attempt)
{
	(void)issue; (void)tier; (void)attempt;
	return 0.5;
}

/* Takes every due recipient at now and records it delivered; returns the messages taken. */
static size_t
deliver(struct queue *q, int64_t now, char **messages, size_t max)
{
	static const struct queue_retry retry = { 10, 100, 1000 };
	struct queue_batch *b[8];
	size_t n, got = 0;
	char err[256];

	assert_int_equal(queue_take(q, now, 8, 50, b, &n, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		struct smtp_verdict *res = calloc(b[i]->n, sizeof(*res));
		struct queue_attempt *att = calloc(b[i]->n, sizeof(*att));
		for (size_t k = 0; k < b[i]->n; k++) {
			res[k] = (struct smtp_verdict){ .outcome = SMTP_OK, .code = 250,
				.reply = "250 2.0.0 Ok", .class = SMTP_CLASS_OK };
			snprintf(res[k].dsn, sizeof(res[k].dsn), "2.0.0");
		}
		if (queue_record(q, b[i], res, NULL, att, now, 0.1, "relay:465", &retry,
		    no_jitter, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		if (got < max)
			messages[got++] = xstrndup(b[i]->message, b[i]->len);
		free(res);
		free(att);
		queue_batch_free(b[i]);
	}
	return got;
}

static char *
render_plain(void *arg, int64_t id, const char *mid, size_t *len, char *err, size_t errsz)
{
	(void)arg; (void)id; (void)err; (void)errsz;
	char *m = xmalloc(128);

	snprintf(m, 128, "Message-ID: <%s>\r\n\r\nbody\r\n", mid);
	*len = strlen(m);
	return m;
}

static void
test_enqueue_on_the_queue(void **state)
{
	(void)state;
	char path[TEST_QUEUE_PATH_MAX], err[512], why[512];
	struct queue *q = test_queue_open("remind", path, sizeof(path));
	struct conf *c = test_conf_load(
	    "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"办公室 <bulletin@example.test>\"; };\n"
	    "recipients = ( { name = \"甲\"; address = \"a@example.test\"; } );\n");
	struct queue_recipient_in r[] = {
		{ 0, "报", "to", "甲", "甲", "甲", "甲", "a@example.test", true },
		{ 0, "报", "to", "乙", "乙", "乙", "乙", "b@example.test", true },
		{ 1, "送", "cc", "丙", "丙", "丙", "丙", "c@example.test", false },
	};
	struct queue_issue_in in = { .sha256 = "0123456789abcdef0123456789abcdef", .source = "a.txt",
		.kind = QUEUE_KIND_BULLETIN, .title = "简报", .subject = "简报 第1期",
		.issue_no = 1, .total_issue_no = -1, .received = 1000 };
	int64_t id, dup, reminder;
	char *msgs[4];
	struct queue_view_issue v;
	struct remind_plan p;

	assert_int_equal(queue_enqueue(q, &in, r, 3, "example.test", render_plain, NULL, &id,
	    &dup, err, sizeof(err)), 0);
	/* nothing delivered yet: nobody to remind */
	assert_int_equal(queue_view_issue(q, id, NULL, &v, err, sizeof(err)), 0);
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_NOBODY);
	assert_non_null(strstr(why, "0 of 2 asked in issue 1 have confirmed receipt, "
	    "2 not delivered yet"));
	queue_view_issue_free(&v);
	for (size_t i = 0, n = deliver(q, 1001, msgs, 4); i < n; i++)
		free(msgs[i]);

	/* b confirmed (a reply): only a is reminded */
	struct queue_feedback_fact fact = { .address = "b@example.test", .reply = "收到" };
	struct queue_feedback_in fb = { .key = "k1", .kind = QUEUE_FEEDBACK_CONFIRM,
		.how = "reply", .issue = id, .facts = &fact, .n_facts = 1, .when = 1002 };
	struct queue_feedback_out out;
	assert_int_equal(queue_feedback_apply(q, &fb, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);

	assert_int_equal(queue_view_issue(q, id, NULL, &v, err, sizeof(err)), 0);
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_OK);
	assert_int_equal(p.n, 1);
	if (remind_enqueue(c, q, &v, &p, 2000, &reminder, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_true(reminder > id);
	remind_plan_free(&p);
	queue_view_issue_free(&v);

	/* a reminder about the bulletin, to a only, threaded to it */
	struct queue_record *rec;
	assert_int_equal(queue_record_read(q, reminder, &rec, err, sizeof(err)), 0);
	assert_int_equal(rec->kind, QUEUE_KIND_REMINDER);
	assert_int_equal(rec->notice_for, id);
	assert_string_equal(rec->subject, "请确认收到 / Please confirm receipt: 简报 第1期");
	assert_int_equal(rec->n_recipients, 1);
	assert_string_equal(rec->recipients[0].address, "a@example.test");
	queue_record_free(rec);
	assert_int_equal(deliver(q, 2001, msgs, 4), 1);
	assert_non_null(strstr(msgs[0], "In-Reply-To: <distd.1."));
	assert_non_null(strstr(msgs[0], "Disposition-Notification-To: <bulletin@example.test>"));
	/* Bcc: the address is in no header (a bare search would also find the
	 * Message-ID's hash when it ends in "a", "distd.2.…a@example.test") */
	assert_null(strstr(msgs[0], "<a@example.test>"));
	assert_null(strstr(msgs[0], ": a@example.test"));
	assert_null(strstr(msgs[0], ", a@example.test"));
	free(msgs[0]);

	/* counted on the bulletin's row; a confirmed, nobody is left */
	assert_int_equal(queue_view_issue(q, id, NULL, &v, err, sizeof(err)), 0);
	assert_string_equal(v.recipients[0].address, "a@example.test");
	assert_int_equal(v.recipients[0].reminders, 1);
	assert_int_equal(v.recipients[1].reminders, 0);
	queue_view_issue_free(&v);
	fact.address = "a@example.test";
	fb.key = "k2";
	assert_int_equal(queue_feedback_apply(q, &fb, &out, err, sizeof(err)), 0);
	assert_int_equal(queue_view_issue(q, id, NULL, &v, err, sizeof(err)), 0);
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_NOBODY);
	assert_string_equal(why, "nobody to remind: 2 of 2 asked in issue 1 have confirmed "
	    "receipt");
	queue_view_issue_free(&v);
	/* the reminder itself is no bulletin */
	assert_int_equal(queue_view_issue(q, reminder, NULL, &v, err, sizeof(err)), 0);
	assert_int_equal(remind_plan(&v, NULL, &p, why, sizeof(why)), REMIND_NOT_BULLETIN);
	queue_view_issue_free(&v);
	conf_free(c);
	test_queue_remove(q, path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_picks_the_unconfirmed),
		cmocka_unit_test(test_plan_refusals),
		cmocka_unit_test(test_text_and_json),
		cmocka_unit_test(test_enqueue_on_the_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
