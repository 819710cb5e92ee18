#include "testutil.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "scheduler.h"
#include "smtp.h"

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

static void
test_log_line(void **state)
{
	(void)state;
	struct smtp_verdict v = { .outcome = SMTP_OK, .class = SMTP_CLASS_OK, .code = 250,
		.dsn = "2.0.0", .reply = "250 2.0.0 Ok: \"queued\"\r\nas 4F2A" };
	struct queue_attempt a = { .state = QUEUE_DELIVERED, .status = QUEUE_ATTEMPT_SENT,
		.attempt = 1 };
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	char *line = scheduler_log_line(1591925401, 17, "报", "office@wmb.example.test",
	    "mail.example.test:465", &v, &a, 0.42);
	assert_string_equal(line, "2020-06-12T09:30:01+08:00 issue=17 tier=报 "
	    "to=<office@wmb.example.test> relay=mail.example.test:465 status=sent "
	    "code=250 dsn=2.0.0 delay=0.42 attempt=1 "
	    "reply=\"250 2.0.0 Ok: \\\"queued\\\"  as 4F2A\"");
	free(line);
	v = (struct smtp_verdict){ .outcome = SMTP_TEMP, .class = SMTP_CLASS_4XX, .code = 451,
		.reply = "451 later" };
	a = (struct queue_attempt){ .state = QUEUE_DEFERRED, .status = QUEUE_ATTEMPT_DEFERRED,
		.attempt = 2, .next_attempt = 1591925701, .possible_duplicate = true };
	line = scheduler_log_line(1591925401, 17, "发", "a@example.test", "r:465", &v, &a, 1.5);
	assert_non_null(strstr(line, " status=deferred class=4xx code=451 delay=1.50 "
	    "attempt=2 next=2020-06-12T09:35:01 note=possible-duplicate reply=\"451 later\""));
	free(line);
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

/* The EHLO name rides in the URL's path, percent-encoded. */
static void
test_helo_in_url(void **state)
{
	(void)state;
	struct conf c;
	char def[300];
	char *u;

	memset(&c, 0, sizeof(c));
	c.smtp.url = "smtps://mail.example.test:465";
	c.smtp.helo = "bulletin.example.test";
	u = smtp_url_with_helo(&c);
	assert_string_equal(u, "smtps://mail.example.test:465/bulletin.example.test");
	free(u);
	c.smtp.helo = "[192.0.2.7]";
	u = smtp_url_with_helo(&c);
	assert_string_equal(u, "smtps://mail.example.test:465/%5B192.0.2.7%5D");
	free(u);
	/* smtp.helo replaces a name written in the URL */
	c.smtp.url = "smtps://mail.example.test/old.example.test";
	c.smtp.helo = "new.example.test";
	u = smtp_url_with_helo(&c);
	assert_string_equal(u, "smtps://mail.example.test/new.example.test");
	free(u);
	/* without smtp.helo a name in the URL stands */
	c.smtp.helo = NULL;
	u = smtp_url_with_helo(&c);
	assert_string_equal(u, "smtps://mail.example.test/old.example.test");
	free(u);
	/* the default: a dotted name or an address literal, never a short name */
	smtp_helo_default(def, sizeof(def));
	assert_true(def[0] == '[' || strchr(def, '.') != NULL);
}

/* Retries spread per issue, tier and attempt, not per recipient. */
static void
test_group_jitter(void **state)
{
	(void)state;
	double a = scheduler_group_jitter(7, "报", 1);
	int differ = 0;

	assert_true(a >= 0 && a < 1);
	assert_true(scheduler_group_jitter(7, "报", 1) == a);
	for (int64_t issue = 8; issue < 40; issue++)
		differ += scheduler_group_jitter(issue, "报", 1) != a;
	assert_true(differ >= 30);	/* other issues still spread apart */
}

/* Two jobs per connection, one running and one ready, except where the limits need one. */
static void
test_capacity(void **state)
{
	(void)state;
	assert_int_equal(scheduler_capacity(1, false, false), 2);
	assert_int_equal(scheduler_capacity(4, false, false), 8);
	/* no login proven yet, or probing after a refused one */
	assert_int_equal(scheduler_capacity(4, true, false), 1);
	assert_int_equal(scheduler_capacity(4, true, true), 1);
	/* rate limits count a job as it is taken: it must start then */
	assert_int_equal(scheduler_capacity(4, false, true), 4);
}

static struct smtp_job *
job_to(const char *address)
{
	struct smtp_job *j = calloc(1, sizeof(*j));
	struct queue_batch *b = calloc(1, sizeof(*b));

	b->n = 1;
	b->ids = calloc(1, sizeof(*b->ids));
	b->addresses = calloc(1, sizeof(*b->addresses));
	b->tiers = calloc(1, sizeof(*b->tiers));
	b->attempts = calloc(1, sizeof(*b->attempts));
	b->possible_duplicate = calloc(1, sizeof(*b->possible_duplicate));
	b->addresses[0] = strdup(address);
	b->tiers[0] = strdup("报");
	j->batch = b;
	return j;
}

/* A loopback port nobody listens on: connections to it are refused at once. */
static int
closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static struct smtp_job *
collect_one(struct smtp_pool *p)
{
	struct pollfd pfd = { .fd = smtp_pool_fd(p), .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	struct smtp_job *j = smtp_pool_collect(p);
	assert_non_null(j);
	assert_null(j->next);
	return j;
}

static void
settle_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * The pool's job queue: a worker takes the next queued job as soon as its
 * transfer ends; after a session the relay refused (login, TLS, connect)
 * the queued jobs wait for smtp_pool_resume, and smtp_pool_reclaim takes
 * them back in order.
 */
static void
test_pool_queue_holds_after_refused_session(void **state)
{
	(void)state;
	struct conf c;
	char url[128], err[256];

	memset(&c, 0, sizeof(c));
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d/client.example.test", closed_port());
	c.smtp.url = url;
	c.smtp.host = "127.0.0.1";
	c.smtp.tls_none = true;
	c.smtp.connections = 1;
	c.smtp.timeout = 5;
	c.sender.from_address = "bulletin@example.test";
	c.retry.min_backoff = 10;
	c.retry.max_backoff = 100;
	struct smtp_pool *p = smtp_pool_new(&c, err, sizeof(err));
	assert_non_null(p);

	struct smtp_job *a = job_to("a@example.test"), *b = job_to("b@example.test"),
	    *d = job_to("d@example.test");
	smtp_pool_submit(p, a);
	smtp_pool_submit(p, b);
	smtp_pool_submit(p, d);
	struct smtp_job *done = collect_one(p);
	assert_ptr_equal(done, a);
	assert_true(smtp_job_refused_session(done));
	assert_string_equal(done->relay, "127.0.0.1:0");
	smtp_job_free(done);
	/* held: the refused login would be tried again by every queued job */
	settle_ms(200);
	assert_int_equal(smtp_pool_queued(p), 2);
	assert_int_equal(smtp_pool_busy(p), 2);
	struct smtp_job *back = smtp_pool_reclaim(p);
	assert_ptr_equal(back, b);
	assert_ptr_equal(back->next, d);
	assert_null(d->next);
	assert_int_equal(smtp_pool_busy(p), 0);

	/* resumed, the next queued job starts at once on its own, and holds again */
	smtp_pool_submit(p, b);
	smtp_pool_submit(p, d);
	settle_ms(100);
	assert_int_equal(smtp_pool_queued(p), 2);
	smtp_pool_resume(p);
	done = collect_one(p);
	assert_ptr_equal(done, b);
	smtp_job_free(done);
	settle_ms(100);
	assert_int_equal(smtp_pool_queued(p), 1);
	smtp_pool_resume(p);
	done = collect_one(p);
	assert_ptr_equal(done, d);
	smtp_job_free(done);
	assert_int_equal(smtp_pool_busy(p), 0);
	assert_null(smtp_pool_stop(p));
	smtp_pool_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_rcpt_replies),
		cmocka_unit_test(test_data_replies),
		cmocka_unit_test(test_transaction_failures),
		cmocka_unit_test(test_log_line),
		cmocka_unit_test(test_recipient_limit_and_size),
		cmocka_unit_test(test_helo_in_url),
		cmocka_unit_test(test_group_jitter),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_pool_queue_holds_after_refused_session),
	};
	return cmocka_run_group_tests_name("smtp", tests, NULL, NULL);
}
