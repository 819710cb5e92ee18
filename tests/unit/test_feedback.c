#include "testutil.h"

#include <iconv.h>

#include "feedback.h"
#include "sbuf.h"

/* The Message-ID and issue distd put on the original (compose.c, queue.c). */
#define OUR_ID	"distd.42.0123456789abcdef@bulletin.example.org"

static const char dsn_head[] =
    "Return-Path: <>\n"
    "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
    "To: bulletin@example.org\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Date: Tue, 24 Nov 2026 03:00:00 +0800\n"
    "Message-ID: <20261124.abc@mx.example.net>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status;\n"
    "\tboundary=\"BB\"\n"
    "\n"
    "--BB\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "This is the mail system at host mx.example.net.\n"
    "\n"
    "--BB\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example.net\n"
    "Arrival-Date: Tue, 24 Nov 2026 02:59:00 +0800\n"
    "\n";

static const char orig_headers[] =
    "From: =?UTF-8?B?5biC5aeU5Yqe5YWs5Y6F?= <bulletin@example.org>\n"
    "To: unit@example.net\n"
    "Subject: =?UTF-8?B?56ysMjnmnJ8=?=\n"
    "Message-ID: <" OUR_ID ">\n"
    "X-Distd-Issue: 42\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n";

static const char failed_block[] =
    "Final-Recipient: rfc822; nobody@example.net\n"
    "Original-Recipient: rfc822;Nobody@Example.net\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; mx2.example.net\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address\n"
    "    rejected: User unknown in virtual mailbox table\n"
    "Last-Attempt-Date: Tue, 24 Nov 2026 03:00:00 +0800\n";

static const char delayed_block[] =
    "Final-Recipient: rfc822; slow@example.com\n"
    "Action: delayed\n"
    "Status: 4.4.1\n"
    "Diagnostic-Code: X-Postfix; connect to mx.example.com: Connection timed out\n"
    "Will-Retry-Until: Sat, 28 Nov 2026 03:00:00 +0800\n";

/* A delivery status report: blocks (each followed by a blank line), then the original as type. */
static char *
dsn(const char *blocks, const char *orig_type, bool whole_message)
{
	struct sbuf b = SBUF_INIT;

	sbuf_puts(&b, dsn_head);
	sbuf_puts(&b, blocks);
	if (orig_type != NULL) {
		sbuf_printf(&b, "--BB\nContent-Type: %s\n\n", orig_type);
		sbuf_puts(&b, orig_headers);
		if (whole_message)
			sbuf_puts(&b, "\n第29期\n");
	}
	sbuf_puts(&b, "--BB--\n");
	return sbuf_steal(&b);
}

static struct feedback *
parse(const char *s)
{
	struct feedback *r = feedback_parse(s, strlen(s));

	assert_non_null(r);
	return r;
}

static void
expect_kind(const struct feedback *r, enum feedback_kind k, const char *reason)
{
	if (r->kind != k)
		fail_msg("kind %s, expected %s (%s)", feedback_kind_name(r->kind),
		    feedback_kind_name(k), r->reason);
	if (reason != NULL && strstr(r->reason, reason) == NULL)
		fail_msg("reason '%s' does not contain '%s'", r->reason, reason);
}

static void
test_bounce_rfc822(void **state)
{
	(void)state;
	char *m = dsn(failed_block, "message/rfc822", true);
	struct feedback *r = parse(m);

	expect_kind(r, FEEDBACK_BOUNCE, NULL);
	assert_false(r->nonstandard);
	assert_int_equal(r->n_rcpts, 1);
	assert_int_equal(r->n_failed, 1);
	assert_string_equal(r->rcpts[0].final_recipient, "nobody@example.net");
	assert_string_equal(r->rcpts[0].original_recipient, "Nobody@Example.net");
	assert_int_equal(r->rcpts[0].action, FEEDBACK_ACTION_FAILED);
	assert_string_equal(r->rcpts[0].status, "5.1.1");
	assert_string_equal(r->rcpts[0].remote_mta, "mx2.example.net");
	assert_non_null(strstr(r->rcpts[0].diagnostic, "550 5.1.1"));
	assert_non_null(strstr(r->rcpts[0].diagnostic, "User unknown"));
	assert_int_equal(r->rcpts[0].last_attempt, 1795460400);	/* 2026-11-23 19:00 UTC */
	assert_int_equal(r->n_message_ids, 1);
	assert_string_equal(r->message_ids[0], OUR_ID);
	assert_int_equal(r->issue_id, 42);
	assert_string_equal(r->from, "MAILER-DAEMON@mx.example.net");
	feedback_free(r);
	free(m);
}

static void
test_bounce_rfc822_headers(void **state)
{
	(void)state;
	/* CRLF, as fetched over IMAP */
	char *m = dsn(failed_block, "text/rfc822-headers", false);
	struct sbuf crlf = SBUF_INIT;
	for (const char *p = m; *p; p++) {
		if (*p == '\n')
			sbuf_putc(&crlf, '\r');
		sbuf_putc(&crlf, *p);
	}
	struct feedback *r = parse(sbuf_str(&crlf));

	expect_kind(r, FEEDBACK_BOUNCE, NULL);
	assert_int_equal(r->n_rcpts, 1);
	assert_string_equal(r->rcpts[0].final_recipient, "nobody@example.net");
	assert_string_equal(r->message_ids[0], OUR_ID);
	assert_int_equal(r->issue_id, 42);
	feedback_free(r);
	sbuf_free(&crlf);
	free(m);

	/* RFC 6533's global headers the same */
	m = dsn(failed_block, "message/global-headers", false);
	r = parse(m);
	expect_kind(r, FEEDBACK_BOUNCE, NULL);
	assert_int_equal(r->issue_id, 42);
	feedback_free(r);
	free(m);
}

static void
test_delayed_is_not_a_bounce(void **state)
{
	(void)state;
	char *m = dsn(delayed_block, "text/rfc822-headers", false);
	struct feedback *r = parse(m);

	expect_kind(r, FEEDBACK_STATUS, "0 failed");
	assert_int_equal(r->n_rcpts, 1);
	assert_int_equal(r->n_failed, 0);
	assert_int_equal(r->rcpts[0].action, FEEDBACK_ACTION_DELAYED);
	assert_string_equal(r->rcpts[0].status, "4.4.1");
	assert_int_equal(r->issue_id, 42);
	feedback_free(r);
	free(m);
}

static void
test_multiple_recipients(void **state)
{
	(void)state;
	struct sbuf blocks = SBUF_INIT;
	sbuf_printf(&blocks, "%s\n%s\n", delayed_block, failed_block);
	sbuf_puts(&blocks, "Final-Recipient: rfc822; ok@example.org\nAction: relayed\n"
	    "Status: 2.0.0\n\n");
	char *m = dsn(sbuf_str(&blocks), "message/rfc822", true);
	struct feedback *r = parse(m);

	expect_kind(r, FEEDBACK_BOUNCE, "3 recipient(s), 1 failed");
	assert_int_equal(r->n_rcpts, 3);
	assert_int_equal(r->rcpts[0].action, FEEDBACK_ACTION_DELAYED);
	assert_string_equal(r->rcpts[0].final_recipient, "slow@example.com");
	assert_int_equal(r->rcpts[1].action, FEEDBACK_ACTION_FAILED);
	assert_string_equal(r->rcpts[1].final_recipient, "nobody@example.net");
	assert_int_equal(r->rcpts[2].action, FEEDBACK_ACTION_RELAYED);
	feedback_free(r);
	free(m);
	sbuf_free(&blocks);
}

static void
test_many_blocks_bounded(void **state)
{
	(void)state;
	struct sbuf blocks = SBUF_INIT;
	for (int i = 0; i < 10000; i++)
		sbuf_printf(&blocks, "Final-Recipient: rfc822; u%d@example.net\n"
		    "Action: failed\nStatus: 5.1.1\n\n", i);
	/* and a 1 MB line */
	sbuf_puts(&blocks, "Final-Recipient: rfc822; long@example.net\nAction: failed\n"
	    "Status: 5.0.0\nDiagnostic-Code: smtp; 550 ");
	for (int i = 0; i < 1024 * 1024; i++)
		sbuf_putc(&blocks, 'x');
	sbuf_puts(&blocks, "\n\n");
	char *m = dsn(sbuf_str(&blocks), "text/rfc822-headers", false);
	struct feedback *r = parse(m);

	expect_kind(r, FEEDBACK_BOUNCE, "10001 recipient(s)");
	assert_int_equal(r->n_rcpts, FEEDBACK_MAX_RCPTS);
	assert_int_equal(r->n_rcpts_dropped, 10001 - FEEDBACK_MAX_RCPTS);
	feedback_free(r);
	free(m);
	sbuf_free(&blocks);

	/* a failure past the bound still makes it a bounce */
	for (int i = 0; i < FEEDBACK_MAX_RCPTS; i++)
		sbuf_printf(&blocks, "%s\n", delayed_block);
	sbuf_printf(&blocks, "%s\n", failed_block);
	m = dsn(sbuf_str(&blocks), "text/rfc822-headers", false);
	r = parse(m);
	expect_kind(r, FEEDBACK_BOUNCE, "1 failed (some blocks not kept)");
	assert_int_equal(r->n_rcpts_dropped, 1);
	feedback_free(r);
	free(m);
	sbuf_free(&blocks);

	/* a 1 MB diagnostic on a kept block is cut */
	sbuf_puts(&blocks, failed_block);
	sbuf_puts(&blocks, "\nFinal-Recipient: rfc822; long@example.net\nAction: failed\n"
	    "Status: 5.0.0\nDiagnostic-Code: smtp; 550 ");
	for (int i = 0; i < 1024 * 1024; i++)
		sbuf_putc(&blocks, 'x');
	sbuf_puts(&blocks, "\n\n");
	m = dsn(sbuf_str(&blocks), "text/rfc822-headers", false);
	r = parse(m);
	expect_kind(r, FEEDBACK_BOUNCE, NULL);
	assert_int_equal(r->n_rcpts, 2);
	assert_true(strlen(r->rcpts[1].diagnostic) <= FEEDBACK_MAX_VALUE);
	feedback_free(r);
	free(m);
	sbuf_free(&blocks);
}

static const char mdn_fmt[] =
    "From: =?UTF-8?B?5Yy65pS/5Y2P?= <office@unit.example.cn>\n"
    "To: bulletin@example.org\n"
    "Subject: =?UTF-8?B?5bey6K+7?=\n"
    "Message-ID: <mdn1@unit.example.cn>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=disposition-notification;\n"
    "  boundary=\"MM\"\n"
    "\n"
    "--MM\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "The message was displayed.\n"
    "--MM\n"
    "Content-Type: message/disposition-notification\n"
    "\n"
    "Reporting-UA: unit.example.cn; Foxmail\n"
    "Final-Recipient: rfc822; office@unit.example.cn\n"
    "Original-Message-ID: <" OUR_ID ">\n"
    "Disposition: %s\n"
    "--MM--\n";

static struct feedback *
mdn(const char *disposition)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), mdn_fmt, disposition);
	return parse(buf);
}

static void
test_mdn(void **state)
{
	(void)state;
	struct feedback *r = mdn("manual-action/MDN-sent-manually; displayed");

	expect_kind(r, FEEDBACK_MDN, NULL);
	assert_int_equal(r->n_rcpts, 1);
	assert_string_equal(r->rcpts[0].final_recipient, "office@unit.example.cn");
	assert_int_equal(r->rcpts[0].disposition, FEEDBACK_DISP_DISPLAYED);
	assert_true(r->rcpts[0].confirms);
	assert_int_equal(r->n_confirms, 1);
	assert_string_equal(r->message_ids[0], OUR_ID);
	feedback_free(r);

	r = mdn("automatic-action/MDN-sent-automatically; deleted");
	expect_kind(r, FEEDBACK_MDN, NULL);
	assert_int_equal(r->rcpts[0].disposition, FEEDBACK_DISP_DELETED);
	assert_false(r->rcpts[0].confirms);
	assert_int_equal(r->n_confirms, 0);
	feedback_free(r);

	/* processed: a rule or a server, nobody saw it */
	r = mdn("automatic-action/MDN-sent-automatically; processed");
	expect_kind(r, FEEDBACK_MDN, NULL);
	assert_false(r->rcpts[0].confirms);
	feedback_free(r);

	r = mdn("manual-action/MDN-sent-manually; displayed/error");
	expect_kind(r, FEEDBACK_MDN, NULL);
	assert_false(r->rcpts[0].confirms);
	feedback_free(r);

	r = mdn("displayed");
	expect_kind(r, FEEDBACK_MALFORMED, "action-mode");
	feedback_free(r);
}

static void
test_reply(void **state)
{
	(void)state;
	struct feedback *r = parse(
	    "From: =?UTF-8?B?5Yy65pS/5Y2P?= <Office@Unit.example.cn>\n"
	    "To: bulletin@example.org\n"
	    "Subject: =?UTF-8?B?UmU6IOesrDI55pyf?=\n"
	    "In-Reply-To: <" OUR_ID ">\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "\n"
	    "收到。\n");

	expect_kind(r, FEEDBACK_REPLY, NULL);
	assert_string_equal(r->from, "Office@Unit.example.cn");
	assert_int_equal(r->n_message_ids, 1);
	assert_string_equal(r->message_ids[0], OUR_ID);
	assert_string_equal(r->subject, "Re: 第29期");
	feedback_free(r);

	/* only References: all of them, nearest first */
	r = parse("From: a@unit.example.cn\n"
	    "Subject: Re: x\n"
	    "References: <first@x.example> <" OUR_ID ">\n"
	    "\n"
	    "ok\n");
	expect_kind(r, FEEDBACK_REPLY, NULL);
	assert_int_equal(r->n_message_ids, 2);
	assert_string_equal(r->message_ids[0], OUR_ID);
	assert_string_equal(r->message_ids[1], "first@x.example");
	feedback_free(r);

	/* an out-of-office answer is not a confirmation */
	r = parse("From: a@unit.example.cn\n"
	    "Subject: Auto: x\n"
	    "Auto-Submitted: auto-replied\n"
	    "In-Reply-To: <" OUR_ID ">\n"
	    "\n"
	    "away\n");
	expect_kind(r, FEEDBACK_UNKNOWN, "Auto-Submitted");
	feedback_free(r);
}

static void
test_unrelated(void **state)
{
	(void)state;
	struct feedback *r = parse("From: someone@example.com\n"
	    "Subject: hello\n"
	    "Message-ID: <x@example.com>\n"
	    "\n"
	    "hi\n");

	expect_kind(r, FEEDBACK_UNKNOWN, "no In-Reply-To");
	assert_int_equal(r->n_message_ids, 0);
	feedback_free(r);

	r = parse("");
	expect_kind(r, FEEDBACK_UNKNOWN, NULL);
	feedback_free(r);
}

static void
test_malformed(void **state)
{
	(void)state;
	/* no per-recipient block */
	char *m = dsn("", "text/rfc822-headers", false);
	struct feedback *r = parse(m);
	expect_kind(r, FEEDBACK_MALFORMED, "without any per-recipient block");
	feedback_free(r);
	free(m);

	/* report-type missing */
	struct sbuf b = SBUF_INIT;
	m = dsn(failed_block, "text/rfc822-headers", false);
	char *at = strstr(m, " report-type=delivery-status;");
	sbuf_append(&b, m, (size_t)(at - m));
	sbuf_puts(&b, at + strlen(" report-type=delivery-status;"));
	r = parse(sbuf_str(&b));
	expect_kind(r, FEEDBACK_MALFORMED, "without report-type");
	feedback_free(r);
	sbuf_free(&b);

	/* truncated inside the delivery-status part, before any recipient */
	at = strstr(m, "Arrival-Date");
	sbuf_append(&b, m, (size_t)(at - m));
	r = parse(sbuf_str(&b));
	expect_kind(r, FEEDBACK_MALFORMED, "without any per-recipient block");
	feedback_free(r);
	sbuf_free(&b);

	/* truncated before the delivery-status part */
	at = strstr(m, "Content-Type: message/delivery-status");
	sbuf_append(&b, m, (size_t)(at - m));
	r = parse(sbuf_str(&b));
	expect_kind(r, FEEDBACK_MALFORMED, "without a message/delivery-status part");
	feedback_free(r);
	sbuf_free(&b);
	free(m);

	/* required fields, contradictions */
	m = dsn("Final-Recipient: rfc822; a@example.net\nStatus: 5.1.1\n\n", NULL, false);
	r = parse(m);
	expect_kind(r, FEEDBACK_MALFORMED, "no Action");
	feedback_free(r);
	free(m);
	m = dsn("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 2.0.0\n\n",
	    NULL, false);
	r = parse(m);
	expect_kind(r, FEEDBACK_MALFORMED, "contradicts");
	feedback_free(r);
	free(m);
	m = dsn("Action: failed\nStatus: 5.1.1\n\n", NULL, false);
	r = parse(m);
	expect_kind(r, FEEDBACK_MALFORMED, "no Final-Recipient");
	feedback_free(r);
	free(m);
	m = dsn("Final-Recipient: rfc822;\nAction: failed\nStatus: 5.1.1\n\n", NULL, false);
	r = parse(m);
	expect_kind(r, FEEDBACK_MALFORMED, "no Final-Recipient address");
	feedback_free(r);
	free(m);

	/* the returned Message-ID and X-Distd-Issue disagree */
	m = dsn(failed_block, "text/rfc822-headers", false);
	char *x = strstr(m, "X-Distd-Issue: 42");
	x[16] = '3';
	r = parse(m);
	expect_kind(r, FEEDBACK_MALFORMED, "X-Distd-Issue says 43");
	feedback_free(r);
	free(m);
}

/* A 163/QQ-style plain bounce: GB18030 8-bit subject, original headers in the body. */
static char *
plain_bounce(const char *charset, bool ours, const char *extra_addr)
{
	struct sbuf b = SBUF_INIT, body = SBUF_INIT;
	size_t in_left, out_left;
	char out[4096], *in, *o;

	sbuf_printf(&body,
	    "您好，很遗憾地通知您，您(bulletin@example.org)发送的邮件未能送达以下收件人：\n"
	    "\n"
	    "nobody@163.example.com%s%s\n"
	    "退信原因：550 5.1.1 User not found: nobody@163.example.com\n"
	    "\n"
	    "------ 原邮件信头 ------\n"
	    "To: nobody@163.example.com\n"
	    "Message-ID: <%s>\n"
	    "%s",
	    extra_addr ? ", " : "", extra_addr ? extra_addr : "",
	    ours ? OUR_ID : "other.1@example.org", ours ? "X-Distd-Issue: 42\n" : "");
	sbuf_puts(&b, "From: Postmaster@163.example.com\n"
	    "To: bulletin@example.org\n");
	if (strcmp(charset, "gb18030") == 0) {
		iconv_t cd = iconv_open("GB18030", "UTF-8");
		const char *subject = "Subject: 系统退信\n";
		in = (char *)subject;
		in_left = strlen(subject);
		o = out;
		out_left = sizeof(out);
		assert_int_not_equal(iconv(cd, &in, &in_left, &o, &out_left), (size_t)-1);
		sbuf_append(&b, out, sizeof(out) - out_left);
		sbuf_puts(&b, "Content-Type: text/plain; charset=gb18030\n"
		    "Content-Transfer-Encoding: 8bit\n\n");
		in = (char *)sbuf_str(&body);
		in_left = body.len;
		o = out;
		out_left = sizeof(out);
		assert_int_not_equal(iconv(cd, &in, &in_left, &o, &out_left), (size_t)-1);
		sbuf_append(&b, out, sizeof(out) - out_left);
		iconv_close(cd);
	} else {
		sbuf_puts(&b, "Subject: =?UTF-8?B?57O757uf6YCA5L+h?=\n"
		    "Content-Type: text/plain; charset=utf-8\n\n");
		sbuf_puts(&b, sbuf_str(&body));
	}
	sbuf_free(&body);
	return sbuf_steal(&b);
}

static void
test_plain_bounce(void **state)
{
	(void)state;
	const char *charsets[] = { "gb18030", "utf-8" };

	for (size_t i = 0; i < 2; i++) {
		char *m = plain_bounce(charsets[i], true, NULL);
		struct feedback *r = parse(m);
		expect_kind(r, FEEDBACK_BOUNCE, NULL);
		assert_true(r->nonstandard);
		assert_string_equal(r->subject, "系统退信");
		assert_int_equal(r->issue_id, 42);
		assert_string_equal(r->message_ids[0], OUR_ID);
		assert_int_equal(r->n_rcpts, 1);
		assert_string_equal(r->rcpts[0].final_recipient, "nobody@163.example.com");
		assert_int_equal(r->rcpts[0].action, FEEDBACK_ACTION_FAILED);
		assert_string_equal(r->rcpts[0].status, "5.1.1");
		assert_non_null(strstr(r->rcpts[0].diagnostic, "User not found"));
		feedback_free(r);
		free(m);

		/* without distd's ids: not ours to act on */
		m = plain_bounce(charsets[i], false, NULL);
		r = parse(m);
		expect_kind(r, FEEDBACK_UNKNOWN, "neither X-Distd-Issue");
		assert_int_equal(r->n_rcpts, 0);
		feedback_free(r);
		free(m);

		/* two candidate addresses: never a guess */
		m = plain_bounce(charsets[i], true, "other@126.example.com");
		r = parse(m);
		expect_kind(r, FEEDBACK_UNKNOWN, "ambiguous");
		assert_int_equal(r->issue_id, 42);
		assert_int_equal(r->n_rcpts, 0);
		feedback_free(r);
		free(m);
	}
}

static void
test_postfix_plain_attached(void **state)
{
	(void)state;
	/* the original attached as message/rfc822 in multipart/mixed */
	struct feedback *r = parse(
	    "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
	    "Subject: failure notice\n"
	    "Content-Type: multipart/mixed; boundary=\"X\"\n"
	    "\n"
	    "--X\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "Hi. This is the qmail-send program at mx.example.net.\n"
	    "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
	    "\n"
	    "<gone@example.net>:\n"
	    "Sorry, no mailbox here by that name. (#5.1.1)\n"
	    "\n"
	    "--X\n"
	    "Content-Type: message/rfc822\n"
	    "\n"
	    "From: bulletin@example.org\n"
	    "Message-ID: <" OUR_ID ">\n"
	    "\n"
	    "body\n"
	    "--X--\n");

	expect_kind(r, FEEDBACK_BOUNCE, NULL);
	assert_true(r->nonstandard);
	assert_string_equal(r->rcpts[0].final_recipient, "gone@example.net");
	assert_string_equal(r->message_ids[0], OUR_ID);
	feedback_free(r);

	/* a subject that is not a bounce's, from a mail system */
	r = parse("From: MAILER-DAEMON@mx.example.net\n"
	    "Subject: hello\n"
	    "\n"
	    "Message-ID: <" OUR_ID ">\n");
	expect_kind(r, FEEDBACK_UNKNOWN, "subject");
	feedback_free(r);

	/* a delay warning */
	r = parse("From: MAILER-DAEMON@mx.example.net\n"
	    "Subject: Delayed Mail (still being retried)\n"
	    "\n"
	    "<slow@example.net>: connection timed out\n"
	    "\n"
	    "Message-ID: <" OUR_ID ">\n");
	expect_kind(r, FEEDBACK_UNKNOWN, "delay");
	feedback_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounce_rfc822),
		cmocka_unit_test(test_bounce_rfc822_headers),
		cmocka_unit_test(test_delayed_is_not_a_bounce),
		cmocka_unit_test(test_multiple_recipients),
		cmocka_unit_test(test_many_blocks_bounded),
		cmocka_unit_test(test_mdn),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_unrelated),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_plain_bounce),
		cmocka_unit_test(test_postfix_plain_attached),
	};
	return cmocka_run_group_tests_name("feedback", tests, NULL, NULL);
}
