#include "testutil.h"

#include "feedback.h"
#include "feedback_match.h"

#define DOMAIN "bulletin.example.org"
#define OUR_ID "distd.42.0123456789abcdef@" DOMAIN
#define KEY "ab12"
#define NOW 1800000000

static char *ids_ours[] = { OUR_ID };
static char *ids_other[] = { "distd.42.0123456789abcdef@elsewhere.example",
	"20261124.abc@mx.example.net" };

static void
test_issue_of_msgid(void **state)
{
	(void)state;
	assert_int_equal(feedback_issue_of_msgid(OUR_ID, DOMAIN), 42);
	assert_int_equal(feedback_issue_of_msgid("distd.42.ff@BULLETIN.example.ORG", DOMAIN), 42);
	assert_int_equal(feedback_issue_of_msgid("distd.42.ff@other.example", DOMAIN), 0);
	assert_int_equal(feedback_issue_of_msgid("distd.42@" DOMAIN, DOMAIN), 0);
	assert_int_equal(feedback_issue_of_msgid("distd..ff@" DOMAIN, DOMAIN), 0);
	assert_int_equal(feedback_issue_of_msgid("xdistd.42.ff@" DOMAIN, DOMAIN), 0);
	assert_int_equal(feedback_issue_of_msgid("distd.1234567890123456789.ff@" DOMAIN,
	    DOMAIN), 0);
	assert_int_equal(feedback_issue_of_msgid(NULL, DOMAIN), 0);
}

static void
test_bounce_failed_only(void **state)
{
	(void)state;
	struct feedback_rcpt r[] = {
		{ .final_recipient = "slow@example.com", .action = FEEDBACK_ACTION_DELAYED,
		  .status = "4.4.1", .last_attempt = NOW - 10 },
		{ .final_recipient = "nobody@example.net",
		  .original_recipient = "Nobody@Example.net",
		  .action = FEEDBACK_ACTION_FAILED, .status = "5.1.1",
		  .diagnostic = "550 5.1.1 User unknown", .last_attempt = NOW - 100 },
		{ .final_recipient = "full@example.net", .action = FEEDBACK_ACTION_FAILED,
		  .status = "5.2.2", .diagnostic = "552 mailbox full" },
	};
	struct feedback f = { .kind = FEEDBACK_BOUNCE, .message_ids = ids_ours,
		.n_message_ids = 1, .rcpts = r, .n_rcpts = 3, .n_failed = 2 };
	struct feedback_match m;

	feedback_match(&f, DOMAIN, KEY, NOW - 500, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_APPLY);
	assert_int_equal(m.in.issue, 42);
	assert_int_equal(m.in.kind, QUEUE_FEEDBACK_BOUNCE);
	assert_string_equal(m.in.how, "dsn");
	assert_string_equal(m.in.key, KEY);
	assert_int_equal(m.in.n_facts, 2);
	/* the original recipient first (what distd sent to), then the final */
	assert_string_equal(m.in.facts[0].address, "Nobody@Example.net");
	assert_null(m.in.facts[0].alt_address);	/* the same, case aside */
	assert_string_equal(m.in.facts[0].status, "5.1.1");
	assert_string_equal(m.in.facts[0].reply, "550 5.1.1 User unknown");
	assert_string_equal(m.in.facts[1].address, "full@example.net");
	assert_int_equal(m.in.when, NOW - 100);	/* Last-Attempt-Date wins */
	assert_int_equal(m.in.n_message_ids, 1);
	assert_string_equal(m.in.message_ids[0], OUR_ID);
	assert_null(m.in.cursor);
	feedback_match_free(&m);

	r[1].original_recipient = "alias@example.net";
	r[1].last_attempt = 0;
	f.nonstandard = true;
	feedback_match(&f, DOMAIN, KEY, NOW - 500, NOW, &m);
	assert_string_equal(m.in.how, "text-bounce");
	assert_string_equal(m.in.facts[0].address, "alias@example.net");
	assert_string_equal(m.in.facts[0].alt_address, "nobody@example.net");
	assert_int_equal(m.in.when, NOW - 500);	/* then the Date */
	feedback_match_free(&m);
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.in.when, NOW);	/* then when it was read */
	feedback_match_free(&m);
}

static void
test_issue_from_header_or_id(void **state)
{
	(void)state;
	struct feedback_rcpt r = { .final_recipient = "a@example.net",
		.action = FEEDBACK_ACTION_FAILED, .status = "5.1.1" };
	struct feedback f = { .kind = FEEDBACK_BOUNCE, .message_ids = ids_other,
		.n_message_ids = 2, .rcpts = &r, .n_rcpts = 1, .n_failed = 1 };
	struct feedback_match m;

	/* another domain's distd ids are not ours */
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_LEAVE);
	assert_int_equal(m.issue, 0);
	assert_non_null(strstr(m.why, "names no issue of ours"));
	assert_non_null(strstr(m.why, "@" DOMAIN));
	feedback_match_free(&m);
	/* X-Distd-Issue names it; the ids still go along for the queue's check */
	f.issue_id = 7;
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_APPLY);
	assert_int_equal(m.in.issue, 7);
	assert_int_equal(m.in.n_message_ids, 2);
	feedback_match_free(&m);
}

static void
test_mdn_confirming_only(void **state)
{
	(void)state;
	struct feedback_rcpt r[] = {
		{ .final_recipient = "unit@example.net", .disposition = FEEDBACK_DISP_DELETED,
		  .disposition_text = "manual-action/MDN-sent-manually; deleted" },
		{ .final_recipient = "reader@example.net",
		  .disposition = FEEDBACK_DISP_DISPLAYED, .confirms = true,
		  .disposition_text = "manual-action/MDN-sent-manually; displayed" },
	};
	struct feedback f = { .kind = FEEDBACK_MDN, .from = "unit@example.net",
		.message_ids = ids_ours, .n_message_ids = 1, .rcpts = r, .n_rcpts = 2,
		.n_confirms = 1 };
	struct feedback_match m;

	feedback_match(&f, DOMAIN, KEY, NOW - 5, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_APPLY);
	assert_int_equal(m.in.kind, QUEUE_FEEDBACK_CONFIRM);
	assert_string_equal(m.in.how, "mdn");
	assert_int_equal(m.in.n_facts, 1);
	assert_string_equal(m.in.facts[0].address, "reader@example.net");
	assert_string_equal(m.in.facts[0].alt_address, "unit@example.net");
	assert_null(m.in.facts[0].status);
	assert_non_null(strstr(m.in.facts[0].reply, "displayed"));
	assert_int_equal(m.in.when, NOW - 5);
	feedback_match_free(&m);

	/* only "deleted": understood, nothing confirmed, done with */
	f.n_rcpts = 1;
	f.n_confirms = 0;
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_PROCESSED);
	assert_int_equal(m.issue, 42);
	assert_int_equal(m.in.n_facts, 0);
	feedback_match_free(&m);
}

static void
test_reply_from(void **state)
{
	(void)state;
	char *refs[] = { "other@mua.example", OUR_ID };
	struct feedback f = { .kind = FEEDBACK_REPLY, .from = "clerk@example.net",
		.subject = "Re: 第29期", .message_ids = refs, .n_message_ids = 2 };
	struct feedback_match m;

	feedback_match(&f, DOMAIN, KEY, NOW - 60, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_APPLY);
	assert_int_equal(m.in.issue, 42);
	assert_int_equal(m.in.kind, QUEUE_FEEDBACK_CONFIRM);
	assert_string_equal(m.in.how, "reply");
	assert_int_equal(m.in.n_facts, 1);
	assert_string_equal(m.in.facts[0].address, "clerk@example.net");
	assert_string_equal(m.in.facts[0].reply, "Re: 第29期");
	assert_int_equal(m.in.when, NOW - 60);
	feedback_match_free(&m);

	f.from = NULL;
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_LEAVE);
	feedback_match_free(&m);
}

static void
test_nothing_to_apply(void **state)
{
	(void)state;
	struct feedback_match m;
	struct feedback f = { .kind = FEEDBACK_UNKNOWN, .message_ids = ids_ours,
		.n_message_ids = 1, .issue_id = 42 };

	snprintf(f.reason, sizeof(f.reason), "no report, no reply");
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_LEAVE);
	assert_string_equal(m.why, "no report, no reply");
	feedback_match_free(&m);

	f.kind = FEEDBACK_MALFORMED;
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_LEAVE);
	feedback_match_free(&m);

	/* a delivery status where nobody failed: ours, processed, no apply */
	f.kind = FEEDBACK_STATUS;
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_PROCESSED);
	assert_int_equal(m.in.n_facts, 0);
	feedback_match_free(&m);
	/* … but somebody else's stays for a human */
	f.issue_id = 0;
	f.message_ids = ids_other;
	f.n_message_ids = 2;
	feedback_match(&f, DOMAIN, KEY, 0, NOW, &m);
	assert_int_equal(m.verdict, FEEDBACK_LEAVE);
	feedback_match_free(&m);
}

/* End to end with the classifier: a DSN as a relay writes it. */
static void
test_parsed_dsn(void **state)
{
	(void)state;
	static const char msg[] =
	    "From: MAILER-DAEMON@mx.example.net\r\n"
	    "To: bulletin@" DOMAIN "\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: Tue, 24 Nov 2026 03:00:00 +0800\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\r\n"
	    "\r\n--BB\r\nContent-Type: text/plain\r\n\r\nbounced\r\n"
	    "--BB\r\nContent-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; mx.example.net\r\n\r\n"
	    "Final-Recipient: rfc822; nobody@example.net\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
	    "--BB\r\nContent-Type: text/rfc822-headers\r\n\r\n"
	    "From: bulletin@" DOMAIN "\r\nMessage-ID: <distd.9.00ff@" DOMAIN ">\r\n"
	    "Subject: x\r\n\r\n--BB--\r\n";
	struct feedback *f = feedback_parse(msg, strlen(msg));
	struct feedback_match m;

	feedback_match(f, DOMAIN, KEY, 0, NOW, &m);
	if (m.verdict != FEEDBACK_APPLY)
		fail_msg("%s / %s", m.why, f->reason);
	assert_int_equal(m.in.issue, 9);
	assert_string_equal(m.in.facts[0].address, "nobody@example.net");
	assert_string_equal(m.in.facts[0].status, "5.1.1");
	feedback_match_free(&m);
	feedback_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_of_msgid),
		cmocka_unit_test(test_bounce_failed_only),
		cmocka_unit_test(test_issue_from_header_or_id),
		cmocka_unit_test(test_mdn_confirming_only),
		cmocka_unit_test(test_reply_from),
		cmocka_unit_test(test_nothing_to_apply),
		cmocka_unit_test(test_parsed_dsn),
	};
	return cmocka_run_group_tests_name("feedback_match", tests, NULL, NULL);
}
