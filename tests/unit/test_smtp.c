#include "testutil.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

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
		cmocka_unit_test(test_helo_in_url),
		cmocka_unit_test(test_pool_queue_holds_after_refused_session),
	};
	return cmocka_run_group_tests_name("smtp", tests, NULL, NULL);
}
