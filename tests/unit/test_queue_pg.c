/*
 * The PostgreSQL queue backend (issue 16) through the public queue API,
 * against a real server: DISTD_TEST_PG is a libpq connection string to a
 * throw-away database (the Makefile's `unit` target runs this under
 * tests/integration/pgserver.py, which starts one). Unset: every test
 * skips, and says why.
 *
 * The scenarios are those of test_queue.c for the ops built so far; the
 * database is emptied (schema public dropped) before each test.
 */
#include "testutil.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"
#include "queue_backend.h"
#include "queue_private.h"

static const char *conninfo;
static PGconn *admin;	/* the test's own connection: counts, locks */

static const struct queue_retry retry = { 10, 100, 1000 };

static double
half(int64_t issue, const char *tier, int attempt)
{
	(void)issue;
	(void)tier;
	(void)attempt;
	return 0.5;
}

static long
count(const char *sql)
{
	PGresult *res = PQexec(admin, sql);
	long v = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(admin));
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static void
sql(const char *s)
{
	PGresult *res = PQexec(admin, s);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", s, PQerrorMessage(admin));
	PQclear(res);
}

static int
setup(void **state)
{
	char err[256];
	struct queue *q;

	if (conninfo == NULL)
		return 0;
	sql("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	if (queue_open(conninfo, &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	*state = q;
	return 0;
}

static int
teardown(void **state)
{
	queue_close(*state);
	*state = NULL;
	return 0;
}

/* Every test starts here: without a server it skips, saying why. */
#define NEED_PG() do { \
	if (conninfo == NULL) { \
		print_message("[  SKIP    ] DISTD_TEST_PG unset: no PostgreSQL test " \
		    "server (run through `make unit`, which starts one with " \
		    "tests/integration/pgserver.py)\n"); \
		skip(); \
	} \
} while (0)

static char *
render_ok(void *arg, int64_t id, const char *mid, size_t *len, char *err, size_t errsz)
{
	(void)arg; (void)err; (void)errsz;
	char *m = malloc(128);
	snprintf(m, 128, "Message-ID: <%s>\r\nX-Distd-Issue: %lld\r\n\r\nbody\r\n", mid,
	    (long long)id);
	*len = strlen(m);
	return m;
}

/* n recipients in tiers 报 送 发 by i % 3; returns the id, or -dup_of */
static int64_t
enqueue_kind(struct queue *q, enum queue_kind kind, const char *sha, size_t n,
    const char *hold, int64_t now)
{
	struct queue_recipient_in r[16];
	char addr[16][32];
	int64_t id, dup;
	char err[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%zu@example.test", i);
		r[i] = (struct queue_recipient_in){ (int)(i % 3), i % 3 == 0 ? "报" :
		    i % 3 == 1 ? "送" : "发", "to", "单位", "报:单位", "单位", "单位", addr[i] };
	}
	struct queue_issue_in in = { .sha256 = sha, .source = "a.txt", .kind = kind,
		.title = "简报", .subject = "简报 第1期", .issue_no = 1, .total_issue_no = -1,
		.hold_reason = hold, .received = now };
	if (queue_enqueue(q, &in, r, n, "example.test", render_ok, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return dup ? -dup : id;
}

static int64_t
enqueue(struct queue *q, const char *sha, size_t n, const char *hold, int64_t now)
{
	return enqueue_kind(q, QUEUE_KIND_BULLETIN, sha, n, hold, now);
}

static void
test_pg_schema_created_and_versioned(void **state)
{
	NEED_PG();
	struct queue *q = *state, *q2;
	char err[256];

	assert_int_equal(count("SELECT version FROM distd_schema"), queue_pg_schema_latest());
	assert_int_equal(count("SELECT COUNT(*) FROM distd_schema"), 1);
	/* opened again: nothing to migrate, nothing doubled */
	assert_int_equal(queue_open_mode(conninfo, QUEUE_EXISTING, &q2, err, sizeof(err)), 0);
	queue_close(q2);
	assert_int_equal(queue_open_mode(conninfo, QUEUE_READONLY, &q2, err, sizeof(err)), 0);
	queue_close(q2);
	assert_int_equal(count("SELECT COUNT(*) FROM distd_schema"), 1);
	/* a newer distd's schema is refused, not written to */
	sql("UPDATE distd_schema SET version = 99");
	assert_int_equal(queue_open(conninfo, &q2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema version 99 is newer"));
	/* distctl on an empty database: no queue there */
	sql("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	assert_int_equal(queue_open_mode(conninfo, QUEUE_EXISTING, &q2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no queue there yet"));
	(void)q;
}

static void
test_pg_refuses_password_and_hides_location(void **state)
{
	NEED_PG();
	(void)state;
	struct queue *q;
	char err[512], loc[1024];

	snprintf(loc, sizeof(loc), "%s password=s3cret", conninfo);
	assert_int_equal(queue_open(loc, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "carries a password"));
	assert_null(strstr(err, "s3cret"));
	/* a failed connection names neither the string nor a password */
	assert_int_equal(queue_open("host=/nonexistent-distd dbname=x user=secretuser",
	    &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect to the PostgreSQL queue"));
	assert_null(strstr(err, "dbname=x"));
}

static void
test_pg_enqueue_and_take_in_tier_order(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[4], *more[4];
	size_t n;
	char err[256];

	assert_int_equal(enqueue(q, "aaaa", 7, NULL, 1000), 1);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'queued'"), 7);
	assert_int_equal(count("SELECT COUNT(*) FROM issues"
	    " WHERE message_id = 'distd.1.aaaa@example.test'"), 1);
	assert_int_equal(count("SELECT COUNT(*) FROM sources WHERE archived IS NULL"), 1);

	/* batches of at most 3, ordered by tier: 报 (0,3,6) first */
	assert_int_equal(queue_take(q, 1000, 2, 3, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(b[0]->n, 3);
	assert_string_equal(b[0]->addresses[0], "r0@example.test");
	assert_string_equal(b[0]->addresses[2], "r6@example.test");
	assert_string_equal(b[0]->tiers[0], "报");
	assert_string_equal(b[1]->tiers[0], "送");
	assert_non_null(strstr(b[0]->message, "X-Distd-Issue: 1"));
	assert_int_equal(b[0]->len, strlen(b[0]->message));
	assert_int_equal(b[0]->received, 1000);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'sending'"), 6);
	/* nothing due twice */
	assert_int_equal(queue_take(q, 1000, 4, 3, more, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(more[0]->n, 1);
	queue_batch_free(more[0]);
	queue_batch_free(b[0]);
	queue_batch_free(b[1]);
	/* held issues are not taken */
	assert_int_equal(enqueue(q, "hhhh", 2, "held for test", 1000), 2);
	assert_int_equal(queue_take(q, 1000, 4, 3, more, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(count("SELECT held_on_arrival FROM issues WHERE id = 2"), 1);
}

static void
test_pg_duplicates_and_notice_keys(void **state)
{
	NEED_PG();
	struct queue *q = *state;

	assert_int_equal(enqueue(q, "dddd", 2, NULL, 1000), 1);
	/* the same content again: a duplicate row, no recipients, no message */
	assert_int_equal(enqueue(q, "dddd", 2, NULL, 1001), -1);
	assert_int_equal(count("SELECT COUNT(*) FROM issues WHERE duplicate_of = 1"
	    " AND state = 'done' AND message IS NULL"), 1);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients"), 2);
	/* one notice per key */
	int64_t first = enqueue_kind(q, QUEUE_KIND_NOTICE, "held:1", 1, NULL, 1002);
	assert_true(first > 0);
	assert_int_equal(enqueue_kind(q, QUEUE_KIND_NOTICE, "held:1", 1, NULL, 1003), -first);
	assert_int_equal(count("SELECT COUNT(*) FROM issues WHERE kind = 'notice'"), 1);
	long nn;
	int64_t oldest;
	assert_int_equal(queue_notices_since(q, 0, &nn, &oldest), 0);
	assert_int_equal(nn, 1);
	assert_int_equal(oldest, 1002);
	/* an id another writer took meanwhile: the commit fails, stores nothing */
	struct queue_reservation res;
	char err[256];
	int64_t dup;
	assert_int_equal(queue_reserve(q, "eeee", "example.test", &res, err, sizeof(err)), 0);
	res.id = 1;
	struct queue_issue_in in = { .sha256 = "eeee", .source = "e.txt",
		.kind = QUEUE_KIND_BULLETIN, .subject = "s", .issue_no = -1,
		.total_issue_no = -1, .received = 1004 };
	assert_int_equal(queue_commit(q, &res, &in, NULL, 0, "m", 1, &dup, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "was taken by another writer"));
	assert_int_equal(count("SELECT COUNT(*) FROM issues WHERE sha256 = 'eeee'"), 0);
}

static void
test_pg_record_finish_failures(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[1], *c[1];
	size_t n;
	char err[256];

	enqueue(q, "bbbb", 3, NULL, 1000);
	assert_int_equal(queue_take(q, 1000, 1, 3, b, &n, err, sizeof(err)), 0);
	struct queue_attempt att[3];
	struct smtp_verdict res[3] = {
		{ .outcome = SMTP_OK, .code = 250, .reply = "250 ok", .class = SMTP_CLASS_OK },
		{ .outcome = SMTP_TEMP, .code = 451, .reply = "451 later", .class = SMTP_CLASS_4XX },
		{ .outcome = SMTP_PERM, .code = 550, .reply = "550 no", .class = SMTP_CLASS_5XX },
	};
	assert_int_equal(queue_record(q, b[0], res, NULL, att, 1005, 0.1, "relay:465",
	    &retry, half, err, sizeof(err)), 0);
	assert_int_equal(att[0].status, QUEUE_ATTEMPT_SENT);
	assert_int_equal(att[1].status, QUEUE_ATTEMPT_DEFERRED);
	assert_int_equal(att[1].next_attempt, 1015);
	assert_int_equal(att[2].status, QUEUE_ATTEMPT_FAILED);
	assert_int_equal(count("SELECT COUNT(*) FROM attempts"), 3);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'deferred'"
	    " AND next_attempt = 1015 AND last_code = 451"), 1);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'delivered'"
	    " AND delivered = 1005"), 1);

	long counts[QUEUE_STATES];
	assert_int_equal(queue_counts(q, counts), 0);
	assert_int_equal(counts[QUEUE_DELIVERED], 1);
	assert_int_equal(counts[QUEUE_DEFERRED], 1);
	assert_int_equal(counts[QUEUE_FAILED], 1);
	int64_t since;
	long deferred;
	assert_int_equal(queue_oldest_deferral(q, &since, &deferred), 0);
	assert_int_equal(since, 1005);
	assert_int_equal(deferred, 1);

	int64_t when;
	assert_int_equal(queue_next_due(q, &when), 0);
	assert_int_equal(when, 1015);
	assert_int_equal(queue_take(q, 1014, 1, 3, c, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_take(q, 1015, 1, 3, c, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0]->attempts[0], 1);
	/* the lifetime runs from the first attempt */
	assert_int_equal(c[0]->received, 1005);
	struct queue_attempt ok_att;
	struct smtp_verdict ok = { .outcome = SMTP_OK, .code = 250, .reply = "250 ok",
		.class = SMTP_CLASS_OK };
	assert_int_equal(queue_record(q, c[0], &ok, NULL, &ok_att, 1016, 0.1, "relay:465",
	    &retry, half, err, sizeof(err)), 0);
	assert_int_equal(ok_att.attempt, 2);
	assert_int_equal(queue_next_due(q, &when), 1);

	int64_t *report;
	size_t nr;
	assert_int_equal(queue_finish(q, 1020, &report, &nr, err, sizeof(err)), 0);
	assert_int_equal(nr, 1);	/* finished with a failed recipient */
	assert_int_equal(report[0], 1);
	free(report);
	assert_int_equal(count("SELECT COUNT(*) FROM issues WHERE state = 'done'"
	    " AND finished = 1020"), 1);
	assert_int_equal(count("SELECT delivered FROM issue_tiers WHERE issue = 1 AND tier = 1"),
	    1);
	assert_int_equal(count("SELECT failed FROM issue_tiers WHERE issue = 1 AND tier = 2"),
	    1);
	/* reopened: its tier totals go (the trigger) */
	sql("UPDATE issues SET state = 'active' WHERE id = 1");
	assert_int_equal(count("SELECT COUNT(*) FROM issue_tiers"), 0);
	sql("UPDATE issues SET state = 'done' WHERE id = 1");
	queue_batch_free(b[0]);
	queue_batch_free(c[0]);

	struct queue_failure *f;
	size_t nf;
	char *title;
	long no;
	assert_int_equal(queue_failures(q, 1, &f, &nf, &title, &no), 0);
	assert_int_equal(nf, 1);
	assert_string_equal(f[0].reply, "550 no");
	assert_string_equal(f[0].tier, "发");
	assert_int_equal(f[0].attempts, 1);
	assert_string_equal(title, "简报");
	assert_int_equal(no, 1);
	queue_failures_free(f, nf);
	free(title);
}

/* A recipient cancelled while its transfer ran: a temporary verdict does not revive it. */
static void
test_pg_record_after_cancel(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[1];
	size_t n;
	char err[256];

	enqueue(q, "cccc", 1, NULL, 1000);
	assert_int_equal(queue_take(q, 1000, 1, 3, b, &n, err, sizeof(err)), 0);
	sql("UPDATE recipients SET state = 'cancelled'");
	struct queue_attempt att;
	struct smtp_verdict v = { .outcome = SMTP_TEMP, .code = 451, .reply = "451 later",
		.class = SMTP_CLASS_4XX };
	assert_int_equal(queue_record(q, b[0], &v, NULL, &att, 1005, 0.1, "relay:465",
	    &retry, half, err, sizeof(err)), 0);
	assert_int_equal(att.state, QUEUE_CANCELLED);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'cancelled'"), 1);
	queue_batch_free(b[0]);
}

/*
 * FOR UPDATE SKIP LOCKED: rows another connection's open transaction has
 * locked (another node's take in progress) are skipped, not waited for
 * and not returned twice.
 */
static void
test_pg_take_skips_locked_rows(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[4];
	size_t n;
	char err[256];

	enqueue(q, "ssss", 6, NULL, 1000);
	sql("BEGIN");
	sql("SELECT id FROM recipients WHERE tier = 0 FOR UPDATE");
	assert_int_equal(queue_take(q, 1000, 4, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->n, 4);		/* 送 and 发, not the locked 报 */
	assert_string_equal(b[0]->tiers[0], "送");
	sql("ROLLBACK");
	queue_batch_free(b[0]);
	assert_int_equal(queue_take(q, 1000, 4, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->n, 2);
	assert_string_equal(b[0]->tiers[0], "报");
	queue_batch_free(b[0]);
}

static void
test_pg_release_and_recover(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[2];
	size_t n;
	int recovered;
	char err[256];

	enqueue(q, "rrrr", 3, NULL, 1000);
	assert_int_equal(queue_take(q, 1000, 1, 3, b, &n, err, sizeof(err)), 0);
	assert_int_equal(queue_release_batch(q, b[0], err, sizeof(err)), 0);
	queue_batch_free(b[0]);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'queued'"
	    " AND possible_duplicate = 0"), 3);
	/* a crash while sending: taken back, flagged */
	assert_int_equal(queue_take(q, 1000, 1, 2, b, &n, err, sizeof(err)), 0);
	queue_batch_free(b[0]);
	assert_int_equal(queue_recover(q, &recovered, err, sizeof(err)), 0);
	assert_int_equal(recovered, 2);
	assert_int_equal(queue_take(q, 1000, 1, 3, b, &n, err, sizeof(err)), 0);
	assert_int_equal(b[0]->n, 3);
	assert_true(b[0]->possible_duplicate[0]);
	assert_false(b[0]->possible_duplicate[2]);
	queue_batch_free(b[0]);
}

static void
test_pg_relays_alerts_sources(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	long size, max;
	char err[256];
	int64_t id;

	assert_int_equal(queue_relay_get(q, "relay:465", &size, &max), 1);
	assert_int_equal(size, -1);
	assert_int_equal(queue_relay_set_size(q, "relay:465", 1000000, 5), 0);
	assert_int_equal(queue_relay_set_max_rcpt(q, "relay:465", 50, 6), 0);
	assert_int_equal(queue_relay_get(q, "relay:465", &size, &max), 0);
	assert_int_equal(size, 1000000);
	assert_int_equal(max, 50);
	assert_int_equal(queue_relay_set_size(q, "relay:465", 0, 7), 0);
	assert_int_equal(queue_relay_get(q, "relay:465", &size, &max), 0);
	assert_int_equal(size, 0);
	assert_int_equal(max, 50);

	assert_int_equal(queue_alert(q, QUEUE_ALERT_AUTH, "535 refused", 10), 0);
	assert_int_equal(queue_alert(q, QUEUE_ALERT_AUTH, "535 again", 20), 0);
	assert_int_equal(count("SELECT since FROM alerts WHERE kind = 'auth'"
	    " AND last = 20 AND text = '535 again'"), 10);
	assert_int_equal(queue_clear_alert(q, QUEUE_ALERT_AUTH), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM alerts"), 0);

	enqueue(q, "ffff", 1, NULL, 1000);
	assert_int_equal(queue_source_pending(q, "ffff", "a.txt", &id, err, sizeof(err)), 1);
	assert_int_equal(id, 1);
	assert_int_equal(queue_source_archived(q, "ffff", "a.txt", "/archive/a.txt", err,
	    sizeof(err)), 0);
	assert_int_equal(queue_source_pending(q, "ffff", "a.txt", &id, err, sizeof(err)), 0);

	assert_int_equal(queue_probe_write(q, err, sizeof(err)), 0);
	assert_int_equal(queue_check_file(q, err, sizeof(err)), 0);
	assert_int_equal(queue_clock_step(q, 100, 2000, err, sizeof(err)), 0);
	int64_t when;
	assert_int_equal(queue_next_due(q, &when), 0);
	assert_int_equal(when, 1100);
}

/* Held on arrival, unresolved units, standing alerts: each notified once by its key. */
static void
test_pg_notices_due(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_notice_due *d;
	size_t n;
	char err[256];

	assert_int_equal(enqueue(q, "n1n1", 1, "unknown unit", 1000), 1);
	sql("UPDATE issues SET unresolved = 'X县' WHERE id = 1");
	assert_int_equal(enqueue(q, "n2n2", 1, NULL, 1000), 2);
	sql("UPDATE issues SET unresolved = 'Y县' WHERE id = 2");
	assert_int_equal(queue_alert(q, QUEUE_ALERT_TLS, "certificate expired", 50), 0);
	assert_int_equal(queue_notices_due(q, &d, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(d[0].cause, QUEUE_NOTICE_HELD);
	assert_string_equal(d[0].key, "held:1");
	assert_string_equal(d[0].reason, "unknown unit");
	assert_int_equal(d[0].issue_no, 1);
	assert_int_equal(d[1].cause, QUEUE_NOTICE_UNRESOLVED);
	assert_string_equal(d[1].key, "unresolved:2");
	assert_int_equal(d[2].cause, QUEUE_NOTICE_ALERT);
	assert_string_equal(d[2].key, "alert:tls:50");
	assert_int_equal(d[2].alert_kind, QUEUE_ALERT_TLS);
	assert_int_equal(d[2].since, 50);
	/* a notice under the key: no longer due */
	assert_true(enqueue_kind(q, QUEUE_KIND_NOTICE, "held:1", 1, NULL, 1001) > 0);
	queue_notices_due_free(d, n);
	assert_int_equal(queue_notices_due(q, &d, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	queue_notices_due_free(d, n);
}

/* The change stamp moves with another connection's commit, not by itself. */
static void
test_pg_changes(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	int64_t own1, others1, own2, others2;

	assert_int_equal(queue_changes(q, &own1, &others1), 0);
	assert_int_equal(queue_changes(q, &own2, &others2), 0);
	assert_true(own1 == own2 && others1 == others2);
	sql("INSERT INTO alerts VALUES ('x', 'y', 1, 1)");
	assert_int_equal(queue_changes(q, &own2, &others2), 0);
	assert_true(others1 != others2);
}

/*
 * Three processes, each with its own connection, take and record until
 * nothing is due: every recipient is attempted exactly once and ends
 * delivered (no batch taken twice, none lost between the takers).
 */
static int
taker(int seed)
{
	struct queue *q;
	struct queue_batch *b[4];
	size_t n;
	char err[256];
	int idle = 0;

	if (queue_open(conninfo, &q, err, sizeof(err)) < 0)
		return 2;
	while (idle < 3) {
		if (queue_take(q, 2000, 4, 5, b, &n, err, sizeof(err)) < 0)
			return 3;
		idle = n == 0 ? idle + 1 : 0;
		for (size_t i = 0; i < n; i++) {
			struct smtp_verdict v[5];
			struct queue_attempt a[5];
			for (size_t k = 0; k < b[i]->n; k++)
				v[k] = (struct smtp_verdict){ .outcome = SMTP_OK, .code = 250,
					.reply = "250 ok", .class = SMTP_CLASS_OK };
			char relay[16];
			snprintf(relay, sizeof(relay), "relay-%d", seed);
			if (queue_record(q, b[i], v, NULL, a, 2000, 0.01, relay, &retry,
			    half, err, sizeof(err)) < 0)
				return 4;
			queue_batch_free(b[i]);
		}
		if ((seed + idle) % 2)
			usleep(1000);
	}
	queue_close(q);
	return 0;
}

static void
test_pg_concurrent_takers_disjoint(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	char sha[16];
	pid_t pids[3];

	for (int i = 0; i < 20; i++) {
		snprintf(sha, sizeof(sha), "c%03d", i);
		assert_true(enqueue(q, sha, 15, NULL, 1000) > 0);
	}
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(taker(i));
	}
	for (int i = 0; i < 3; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_int_equal(count("SELECT COUNT(*) FROM recipients"), 300);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'delivered'"
	    " AND attempts = 1"), 300);
	assert_int_equal(count("SELECT COUNT(*) FROM attempts"), 300);
	assert_int_equal(count("SELECT COUNT(DISTINCT recipient) FROM attempts"), 300);
	print_message("takers: %ld took part\n", count("SELECT COUNT(DISTINCT relay) FROM attempts"));
}

/*
 * A role that logs in by password (pgserver.py: scram for all but the
 * superuser) reaches the queue with the password in a password file named
 * by passfile=, never in the string; without it the error shows no secret.
 */
static void
test_pg_password_from_file(void **state)
{
	NEED_PG();
	(void)state;
	char pass[] = "/tmp/distd-pgpass-XXXXXX", loc[1024], err[512];
	struct queue *q;

	sql("DROP ROLE IF EXISTS distd_node; CREATE ROLE distd_node LOGIN PASSWORD 'n0de-s3cret'");
	/* distd's own role owns the schema it creates and migrates */
	sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION distd_node");
	int fd = mkstemp(pass);
	assert_true(fd >= 0);
	const char line[] = "*:*:*:distd_node:n0de-s3cret\n";
	assert_int_equal(write(fd, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
	close(fd);
	snprintf(loc, sizeof(loc), "%s user=distd_node passfile=%s", conninfo, pass);
	if (queue_open(loc, &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	long counts[QUEUE_STATES];
	assert_int_equal(queue_counts(q, counts), 0);
	queue_close(q);
	/* no password file: refused by the server, and nothing secret shown */
	snprintf(loc, sizeof(loc), "%s user=distd_node passfile=/nonexistent", conninfo);
	assert_int_equal(queue_open(loc, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect to the PostgreSQL queue"));
	assert_null(strstr(err, "s3cret"));
	unlink(pass);
	sql("DROP OWNED BY distd_node; DROP ROLE distd_node");
}

/* distctl's steering: hold, release, cancel, retry, with their refusals. */
static void
test_pg_hold_release_cancel_retry(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	struct queue_batch *b[4];
	size_t n;
	char err[256];

	assert_int_equal(enqueue(q, "hold", 6, NULL, 1000), 1);
	assert_int_equal(queue_hold(q, 1, NULL, "wait", err, sizeof(err)), 6);
	assert_int_equal(count("SELECT COUNT(*) FROM issues WHERE state = 'held'"
	    " AND hold_reason = 'wait'"), 1);
	assert_int_equal(queue_take(q, 1000, 4, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_hold(q, 1, NULL, "again", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "issue 1 is held, not active"));
	assert_int_equal(queue_release(q, 1, NULL, 2000, err, sizeof(err)), 6);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'queued'"
	    " AND next_attempt = 2000"), 6);
	assert_int_equal(count("SELECT COUNT(*) FROM issues WHERE state = 'active'"
	    " AND hold_reason IS NULL"), 1);

	/* one tier waits, the others go */
	assert_int_equal(queue_hold(q, 1, "送", "later", err, sizeof(err)), 2);
	assert_int_equal(queue_hold(q, 1, "抄", "typo", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no recipients in tier 抄 (its tiers: 报, 送, 发)"));
	assert_int_equal(queue_take(q, 2000, 4, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->n, 4);
	struct smtp_verdict v[4];
	struct queue_attempt a[4];
	for (size_t i = 0; i < 4; i++)
		v[i] = (struct smtp_verdict){ .outcome = SMTP_TEMP, .code = 451,
			.reply = "451 later", .class = SMTP_CLASS_4XX };
	assert_int_equal(queue_record(q, b[0], v, NULL, a, 2001, 0.1, "relay", &retry, half,
	    err, sizeof(err)), 0);
	queue_batch_free(b[0]);
	assert_int_equal(queue_release(q, 1, "发", 2002, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no held recipients in tier 发"));
	assert_int_equal(queue_release(q, 1, "送", 2002, err, sizeof(err)), 2);
	/* retry: the deferred are due now */
	assert_int_equal(queue_retry(q, 1, NULL, 2003, err, sizeof(err)), 6);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE next_attempt = 2003"), 6);
	assert_int_equal(queue_retry(q, 0, "报", 2004, err, sizeof(err)), 2);

	assert_int_equal(queue_cancel(q, 1, NULL, 2005, err, sizeof(err)), 6);
	assert_int_equal(count("SELECT COUNT(*) FROM issues WHERE state = 'cancelled'"
	    " AND finished = 2005"), 1);
	assert_int_equal(queue_cancel(q, 1, NULL, 2006, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already cancelled"));
	assert_int_equal(queue_release(q, 1, NULL, 2006, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is cancelled, not held"));
	assert_int_equal(queue_hold(q, 99, NULL, "x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no issue 99 in the queue"));
}

/* One daemon per node and queue: a lock file in the runtime folder. */
static void
test_pg_lock_per_node(void **state)
{
	NEED_PG();
	(void)state;
	char dir[] = "/tmp/distd-pglock-XXXXXX", err[512];
	int fd, fd2;

	assert_non_null(mkdtemp(dir));
	setenv("RUNTIME_DIRECTORY", dir, 1);
	assert_int_equal(queue_lock(conninfo, &fd, err, sizeof(err)), 0);
	assert_true(fd >= 0);
	assert_int_equal(queue_lock(conninfo, &fd2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "in use by another distd"));
	assert_null(strstr(err, "dbname"));	/* the string is not shown */
	close(fd);
	assert_int_equal(queue_lock(conninfo, &fd2, err, sizeof(err)), 0);
	close(fd2);
	unsetenv("RUNTIME_DIRECTORY");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- the issue row lock of distctl's changes (queue_pg_ctl.c) ---- */

static int
canceller(void)
{
	struct queue *q;
	char err[256];

	if (queue_open_mode(conninfo, QUEUE_EXISTING, &q, err, sizeof(err)) < 0) {
		fprintf(stderr, "canceller: %s\n", err);
		return 2;
	}
	int n = queue_cancel(q, 1, NULL, 2000, err, sizeof(err));
	if (n < 0)
		fprintf(stderr, "canceller: %s\n", err);
	queue_close(q);
	return n == 2 ? 0 : 1;
}

/*
 * distctl cancels while a node records an attempt of the same issue: the
 * node holds the recipient row and distctl waits for it, holding the
 * issue row; the node's attempt refers to the issue (FOR KEY SHARE),
 * which distctl's lock must not block (FOR UPDATE there deadlocked, and
 * PostgreSQL failed one of the two).
 */
static void
test_pg_cancel_while_a_node_records(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	long waiting = 0;
	int st;

	assert_int_equal(enqueue(q, "dead", 2, NULL, 1000), 1);
	sql("UPDATE recipients SET state = 'sending'");
	/* the node's record transaction: the recipient row first */
	sql("BEGIN");
	sql("UPDATE recipients SET state = 'deferred', attempts = 1 WHERE id = 1");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(canceller());
	for (int i = 0; i < 1000 && waiting == 0; i++) {
		usleep(10000);
		/* pg_locks, not pg_stat_activity: that one is read once per transaction */
		waiting = count("SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT granted");
	}
	/* then the attempt: without the deadlock, it does not wait */
	PGresult *res = PQexec(admin, "INSERT INTO attempts (recipient, issue, time,"
	    " status, attempt) VALUES (1, 1, 1500, 'deferred', 1)");
	bool inserted = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!inserted)
		print_message("the node's attempt: %s", PQerrorMessage(admin));
	PQclear(res);
	sql(inserted ? "COMMIT" : "ROLLBACK");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(waiting, 1);
	assert_true(inserted);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM recipients WHERE state = 'cancelled'"), 2);
	assert_int_equal(count("SELECT COUNT(*) FROM attempts"), 1);
}

static int
adder(int64_t issue)
{
	struct queue *q;
	char err[256];

	if (queue_open_mode(conninfo, QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 2;
	int n = queue_resend_to(q, issue, NULL, "new@example.test", NULL, 2000, err,
	    sizeof(err));
	queue_close(q);
	if (n < 0 && strstr(err, "is already a recipient of issue") == NULL) {
		fprintf(stderr, "adder: %s\n", err);
		return 2;
	}
	return n == 1 ? 0 : 1;
}

/*
 * Eight distctl runs add one address to one issue at once, ten times:
 * each time one adds it and seven are refused. Without the issue row
 * lock, two or more saw no such recipient and added it (most rounds).
 */
static void
test_pg_resend_to_concurrent_adds_once(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	char sha[16], sqlbuf[160];
	pid_t pids[8];

	for (int round = 0; round < 10; round++) {
		snprintf(sha, sizeof(sha), "add%d", round);
		int64_t id = enqueue(q, sha, 1, NULL, 1000);
		int added = 0, refused = 0;
		for (int i = 0; i < 8; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0)
				_exit(adder(id));
		}
		for (int i = 0; i < 8; i++) {
			int st;
			assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
			assert_true(WIFEXITED(st));
			added += WEXITSTATUS(st) == 0;
			refused += WEXITSTATUS(st) == 1;
		}
		snprintf(sqlbuf, sizeof(sqlbuf), "SELECT COUNT(*) FROM recipients WHERE"
		    " issue = %lld AND address = 'new@example.test'", (long long)id);
		assert_int_equal(count(sqlbuf), 1);
		assert_int_equal(added, 1);
		assert_int_equal(refused, 7);
	}
}

static int
purger(void)
{
	struct queue *q;
	struct queue_purge_cursor cur = { 0 };
	struct queue_purge_family *f;
	size_t n, deleted;
	char err[256];

	if (queue_open_mode(conninfo, QUEUE_EXISTING, &q, err, sizeof(err)) < 0)
		return 2;
	int rc = queue_purge_list(q, 100000, 50, &cur, &f, &n, err, sizeof(err));
	if (rc == 0 && n != 1)
		rc = -1;
	if (rc == 0)
		rc = queue_purge_delete(q, f, n, 100000, &deleted, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "purger: %s (%zu families)\n", err, n);
	queue_purge_families_free(f, n);
	queue_close(q);
	return rc < 0 ? 2 : deleted == 0 ? 0 : 1;
}

/*
 * A purge and the enqueue of a duplicate of the family's root, on two
 * nodes: the enqueue holds its content hash's lock (queue_pg.c's
 * S_XLOCK) from its duplicate check to its commit, and the purge takes
 * the same lock first, so it waits, then sees the new member and keeps
 * the family. Without that lock the purge deleted the root under the
 * enqueue, whose reference then failed.
 */
static void
test_pg_purge_waits_for_a_duplicate_enqueue(void **state)
{
	NEED_PG();
	struct queue *q = *state;
	long waiting = 0;
	int st;

	assert_int_equal(enqueue(q, "root", 1, NULL, 1000), 1);
	assert_int_equal(enqueue(q, "newer", 1, NULL, 1000), 2);	/* the newest stays */
	sql("UPDATE recipients SET state = 'delivered', attempts = 1");
	sql("UPDATE issues SET state = 'done', finished = 1001");
	/* the enqueue's transaction, its duplicate check done: the original is 1 */
	sql("BEGIN");
	sql("SELECT pg_advisory_xact_lock(hashtextextended('root', 0))");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(purger());
	for (int i = 0; i < 1000 && waiting == 0; i++) {
		usleep(10000);
		waiting = count("SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT granted");
	}
	PGresult *res = PQexec(admin, "INSERT INTO issues (id, kind, sha256, source, subject,"
	    " message_id, state, hold_reason, duplicate_of, received, finished) VALUES"
	    " (nextval('issue_ids'), 'bulletin', 'root', 'a.txt', 's', '', 'done',"
	    " 'duplicate content', 1, 1500, 1500)");
	bool inserted = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!inserted)
		print_message("the duplicate: %s", PQerrorMessage(admin));
	PQclear(res);
	sql(inserted ? "COMMIT" : "ROLLBACK");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(waiting, 1);
	assert_true(inserted);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);	/* nothing deleted */
	assert_int_equal(count("SELECT COUNT(*) FROM issues"), 3);
}

int
main(void)
{
	conninfo = getenv("DISTD_TEST_PG");
	if (conninfo != NULL && conninfo[0] == '\0')
		conninfo = NULL;
	if (conninfo != NULL) {
		admin = PQconnectdb(conninfo);
		if (PQstatus(admin) != CONNECTION_OK) {
			fprintf(stderr, "DISTD_TEST_PG is set but no connection: %s",
			    PQerrorMessage(admin));
			return 1;
		}
		PQclear(PQexec(admin, "SET client_min_messages = warning"));
	} else {
		fprintf(stderr, "test_queue_pg: SKIPPED: DISTD_TEST_PG unset (no PostgreSQL "
		    "test server; `make unit` starts one with tests/integration/pgserver.py "
		    "where the server binaries are installed)\n");
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pg_schema_created_and_versioned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_refuses_password_and_hides_location, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_enqueue_and_take_in_tier_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_duplicates_and_notice_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_record_finish_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_record_after_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_take_skips_locked_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_release_and_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_relays_alerts_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_notices_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_concurrent_takers_disjoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_password_from_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_hold_release_cancel_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_lock_per_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_cancel_while_a_node_records, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_resend_to_concurrent_adds_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_purge_waits_for_a_duplicate_enqueue,
		    setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	PQfinish(admin);
	return rc;
}
