#include "testutil.h"

#include <curl/curl.h>

#include "smtp_trace.h"

/* Feeds a trace: lines starting with "> " are commands, the rest replies. */
static void
feed(struct smtp_transcript *t, const char *const *lines)
{
	for (; *lines; lines++) {
		bool out = strncmp(*lines, "> ", 2) == 0;
		const char *s = out ? *lines + 2 : *lines;
		char buf[256];
		snprintf(buf, sizeof(buf), "%s\r\n", s);
		smtp_transcript_feed(t, out, buf, strlen(buf));
	}
}

static void
test_mixed_rcpt_replies(void **state)
{
	(void)state;
	static const char *const trace[] = {
		"220 mail.example.test ESMTP",
		"> EHLO client",
		"250-mail.example.test", "250-SIZE 1000000", "250 AUTH PLAIN",
		"> AUTH PLAIN c2VjcmV0",
		"235 2.7.0 Authentication successful",
		"> MAIL FROM:<bulletin@example.test> SIZE=100",
		"250 2.1.0 Ok",
		"> RCPT TO:<a@example.test>", "250 2.1.5 Ok",
		"> RCPT TO:<b@example.test>", "550 5.1.1 <b@example.test>: unknown",
		"> RCPT TO:<c@example.test>", "451 4.7.1 greylisted",
		"> RCPT TO:<d@example.test>", "552 5.2.2 mailbox full",
		"> DATA", "354 go ahead",
		"250 2.0.0 Ok: queued as 4F2A",
		NULL,
	};
	struct smtp_transcript t = { 0 };
	struct smtp_verdict r[4];

	feed(&t, trace);
	assert_int_equal(t.n_rcpt, 4);
	assert_int_equal(t.auth_code, 235);
	smtp_outcome(&t, CURLE_OK, "", 4, r);
	assert_int_equal(r[0].outcome, SMTP_OK);
	assert_int_equal(r[0].code, 250);
	assert_string_equal(r[0].dsn, "2.0.0");
	assert_string_equal(r[0].reply, "250 2.0.0 Ok: queued as 4F2A");
	assert_int_equal(r[1].outcome, SMTP_PERM);
	assert_string_equal(r[1].dsn, "5.1.1");
	assert_int_equal(r[1].class, SMTP_CLASS_5XX);
	assert_int_equal(r[2].outcome, SMTP_TEMP);
	assert_int_equal(r[2].class, SMTP_CLASS_4XX);
	assert_int_equal(r[3].outcome, SMTP_PERM);
	assert_int_equal(r[3].code, 552);
	/* the AUTH line's argument is never kept */
	assert_null(strstr(t.last_text, "c2VjcmV0"));
	smtp_transcript_reset(&t);
}

static void
test_data_replies(void **state)
{
	(void)state;
	static const char *const trace[] = {
		"220 hi", "> EHLO x", "250 ok", "> MAIL FROM:<a@example.test>", "250 ok",
		"> RCPT TO:<b@example.test>", "250 ok", "> DATA", "354 go",
		"451 4.3.0 local problem", NULL,
	};
	struct smtp_transcript t = { 0 };
	struct smtp_verdict r[1];

	feed(&t, trace);
	smtp_outcome(&t, CURLE_WEIRD_SERVER_REPLY, "", 1, r);
	assert_int_equal(r[0].outcome, SMTP_TEMP);
	assert_int_equal(r[0].code, 451);
	assert_int_equal(r[0].class, SMTP_CLASS_4XX);
	assert_false(r[0].data_may_have_arrived);	/* the relay answered: not taken */
	smtp_transcript_reset(&t);

	/* accepted, then the connection dropped before the end-of-data reply */
	static const char *const dropped[] = {
		"220 hi", "> EHLO x", "250 ok", "> MAIL FROM:<a@example.test>", "250 ok",
		"> RCPT TO:<b@example.test>", "250 ok", "> DATA", "354 go", NULL,
	};
	feed(&t, dropped);
	smtp_outcome(&t, CURLE_RECV_ERROR, "Failure when receiving data", 1, r);
	assert_int_equal(r[0].outcome, SMTP_TEMP);
	assert_int_equal(r[0].class, SMTP_CLASS_CONNECT);
	assert_string_equal(r[0].reply, "Failure when receiving data");
	assert_true(r[0].data_may_have_arrived);	/* a retry may deliver it twice */
	smtp_transcript_reset(&t);

	/* dropped after DATA, but this recipient was refused at RCPT: not sent to it */
	static const char *const dropped_one[] = {
		"220 hi", "> EHLO x", "250 ok", "> MAIL FROM:<a@example.test>", "250 ok",
		"> RCPT TO:<b@example.test>", "250 ok", "> RCPT TO:<c@example.test>",
		"450 4.2.0 busy", "> DATA", "354 go", NULL,
	};
	struct smtp_verdict two[2];
	feed(&t, dropped_one);
	smtp_outcome(&t, CURLE_RECV_ERROR, "Failure when receiving data", 2, two);
	assert_true(two[0].data_may_have_arrived);
	assert_false(two[1].data_may_have_arrived);
	assert_int_equal(two[1].class, SMTP_CLASS_4XX);
	smtp_transcript_reset(&t);

	/* DATA 554 fails every accepted recipient */
	static const char *const refused[] = {
		"220 hi", "> EHLO x", "250 ok", "> MAIL FROM:<a@example.test>", "250 ok",
		"> RCPT TO:<b@example.test>", "250 ok", "> DATA", "354 go",
		"554 5.7.1 message rejected", NULL,
	};
	feed(&t, refused);
	smtp_outcome(&t, CURLE_WEIRD_SERVER_REPLY, "", 1, r);
	assert_int_equal(r[0].outcome, SMTP_PERM);
	assert_int_equal(r[0].code, 554);
	smtp_transcript_reset(&t);
}

static void
test_transaction_failures(void **state)
{
	(void)state;
	struct smtp_transcript t = { 0 };
	struct smtp_verdict r[2];

	static const char *const mail550[] = { "220 hi", "> EHLO x", "250 ok",
		"> MAIL FROM:<a@example.test>", "550 5.7.1 sender refused", NULL };
	feed(&t, mail550);
	smtp_outcome(&t, CURLE_SEND_ERROR, "", 2, r);
	assert_int_equal(r[0].outcome, SMTP_PERM);
	assert_int_equal(r[1].code, 550);
	smtp_transcript_reset(&t);

	static const char *const auth535[] = { "220 hi", "> EHLO x", "250 AUTH PLAIN",
		"> AUTH PLAIN xyz", "535 5.7.8 authentication failed", NULL };
	feed(&t, auth535);
	smtp_outcome(&t, CURLE_LOGIN_DENIED, "", 2, r);
	assert_int_equal(r[0].outcome, SMTP_TEMP);
	assert_int_equal(r[0].class, SMTP_CLASS_AUTH);
	assert_int_equal(r[0].code, 535);
	smtp_transcript_reset(&t);

	/* a relay that wants AUTH refuses MAIL with 530: never the recipients' fault */
	static const char *const mail530[] = { "220 hi", "> EHLO x", "250 ok",
		"> MAIL FROM:<a@example.test>", "530 5.7.0 Authentication required", NULL };
	feed(&t, mail530);
	smtp_outcome(&t, CURLE_SEND_ERROR, "", 1, r);
	assert_int_equal(r[0].outcome, SMTP_TEMP);
	assert_int_equal(r[0].class, SMTP_CLASS_AUTH);
	smtp_transcript_reset(&t);

	static const char *const greet[] = { "554 5.3.2 go away", NULL };
	feed(&t, greet);
	smtp_outcome(&t, CURLE_WEIRD_SERVER_REPLY, "", 1, r);
	assert_int_equal(r[0].outcome, SMTP_TEMP);	/* never a verdict on the recipient */
	assert_int_equal(r[0].class, SMTP_CLASS_PROTOCOL);
	smtp_transcript_reset(&t);

	smtp_outcome(&t, CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem", 1, r);
	assert_int_equal(r[0].class, SMTP_CLASS_TLS);
	assert_int_equal(r[0].outcome, SMTP_TEMP);
	smtp_outcome(&t, CURLE_COULDNT_RESOLVE_HOST, "", 1, r);
	assert_int_equal(r[0].class, SMTP_CLASS_DNS);
	smtp_outcome(&t, CURLE_COULDNT_CONNECT, "", 1, r);
	assert_int_equal(r[0].class, SMTP_CLASS_CONNECT);
}

/* 452 4.5.3 after the relay's recipient limit: class "limit", not "4xx". */
static void
test_recipient_limit_and_size(void **state)
{
	(void)state;
	static const char *const trace[] = {
		"220 mail.example.test ESMTP",
		"> EHLO host.example.test",
		"250-mail.example.test", "250-SIZE 10240000", "250 8BITMIME",
		"> MAIL FROM:<bulletin@example.test> SIZE=100",
		"250 2.1.0 Ok",
		"> RCPT TO:<a@example.test>", "250 2.1.5 Ok",
		"> RCPT TO:<b@example.test>", "452 4.5.3 Error: too many recipients",
		"> RCPT TO:<c@example.test>", "452 too many recipients",
		"> RCPT TO:<d@example.test>", "452 4.2.2 mailbox full",
		"> DATA", "354 go ahead",
		"250 2.0.0 Ok: queued as 4F2A",
		NULL,
	};
	struct smtp_transcript t = { 0 };
	struct smtp_verdict r[4];

	feed(&t, trace);
	assert_true(t.size_seen);
	assert_int_equal(t.size_limit, 10240000);
	smtp_outcome(&t, CURLE_OK, "", 4, r);
	assert_int_equal(r[0].outcome, SMTP_OK);
	assert_int_equal(r[1].class, SMTP_CLASS_LIMIT);
	assert_int_equal(r[2].class, SMTP_CLASS_LIMIT);	/* Exim: no enhanced code */
	assert_int_equal(r[3].class, SMTP_CLASS_4XX);		/* a 452 about the mailbox */
	assert_int_equal(r[1].outcome, SMTP_TEMP);
	assert_true(smtp_is_rcpt_limit(452, "452 4.5.3 Error: too many recipients"));
	assert_false(smtp_is_rcpt_limit(550, "550 5.5.3 too many recipients"));
	assert_false(smtp_is_rcpt_limit(452, NULL));
	smtp_transcript_reset(&t);

	/* an EHLO without SIZE says there is none */
	static const char *const nosize[] = {
		"220 x ESMTP", "> EHLO host.example.test", "250-x", "250 PIPELINING", NULL,
	};
	feed(&t, nosize);
	assert_true(t.size_seen);
	assert_int_equal(t.size_limit, 0);
	smtp_transcript_reset(&t);
}

/* Cut after the message went out: the data may have arrived (a possible duplicate). */
static void
test_data_sent_without_verdict(void **state)
{
	(void)state;
	static const char *const cut[] = {
		"220 hi", "> EHLO x", "250 ok", "> MAIL FROM:<a@example.test>", "250 ok",
		"> RCPT TO:<b@example.test>", "250 ok", "> DATA", "354 go", NULL,
	};
	static const char *const before[] = {
		"220 hi", "> EHLO x", "250 ok", "> MAIL FROM:<a@example.test>", "250 ok",
		"> RCPT TO:<b@example.test>", "250 ok", "> DATA", NULL,
	};
	struct smtp_transcript t = { 0 };

	feed(&t, cut);
	assert_true(smtp_transcript_data_sent(&t));
	feed(&t, (const char *const[]){ "250 2.0.0 queued", NULL });
	assert_false(smtp_transcript_data_sent(&t));
	assert_int_equal(t.data_code, 250);
	smtp_transcript_reset(&t);
	assert_int_equal(t.n_rcpt, 0);
	assert_null(t.last_text);

	feed(&t, before);
	assert_false(smtp_transcript_data_sent(&t));	/* no 354: nothing went out */
	smtp_transcript_reset(&t);
}

/* curl hands over a whole multi-line reply in one trace chunk: each line is read. */
static void
test_multiline_reply_in_one_chunk(void **state)
{
	(void)state;
	struct smtp_transcript t = { 0 };
	static const char ehlo[] = "250-mail.example.test\r\n250-SIZE 2048\r\n250 OK\r\n";

	feed(&t, (const char *const[]){ "220 hi", "> EHLO x", NULL });
	smtp_transcript_feed(&t, false, ehlo, strlen(ehlo));
	assert_int_equal(t.ehlo_code, 250);
	assert_int_equal(t.size_limit, 2048);
	assert_string_equal(t.last_text, "250 OK");	/* the last line, CRLF cut */
	/* AUTH LOGIN: the answers to 334 challenges are credentials, never kept */
	feed(&t, (const char *const[]){ "> AUTH LOGIN", "334 VXNlcm5hbWU6",
		"> Ym9i", "334 UGFzc3dvcmQ6", "> c2VjcmV0", "235 2.7.0 ok", NULL });
	assert_int_equal(t.auth_code, 235);
	assert_null(strstr(t.last_text, "c2VjcmV0"));
	smtp_transcript_reset(&t);
}

static void
test_curl_class(void **state)
{
	(void)state;
	assert_int_equal(smtp_curl_class(CURLE_COULDNT_RESOLVE_HOST), SMTP_CLASS_DNS);
	assert_int_equal(smtp_curl_class(CURLE_OPERATION_TIMEDOUT), SMTP_CLASS_CONNECT);
	assert_int_equal(smtp_curl_class(CURLE_PEER_FAILED_VERIFICATION), SMTP_CLASS_TLS);
	assert_int_equal(smtp_curl_class(CURLE_LOGIN_DENIED), SMTP_CLASS_AUTH);
	assert_int_equal(smtp_curl_class(CURLE_WEIRD_SERVER_REPLY), SMTP_CLASS_PROTOCOL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_rcpt_replies),
		cmocka_unit_test(test_data_replies),
		cmocka_unit_test(test_transaction_failures),
		cmocka_unit_test(test_recipient_limit_and_size),
		cmocka_unit_test(test_data_sent_without_verdict),
		cmocka_unit_test(test_multiline_reply_in_one_chunk),
		cmocka_unit_test(test_curl_class),
	};
	return cmocka_run_group_tests_name("smtp_trace", tests, NULL, NULL);
}
