/*
 * Wake-ups and a lost connection on the PostgreSQL queue (issue 16):
 * two queue handles on one database, as two nodes would have. B's wake
 * descriptor must become readable when A makes work due (schema version
 * 3's NOTIFY) and only then; after its backend is terminated, B's next op
 * fails, queue_check_file says so (1), and queue_reconnect brings back
 * the statements and the LISTEN.
 *
 * DISTD_TEST_PG is a throw-away database (the Makefile's `unit` target
 * runs this under tests/integration/pgserver.py). Unset: the PostgreSQL
 * tests skip, saying why; the SQLite one runs anyway.
 */
#include "testutil.h"
#include "testpg.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "queue.h"
#include "queue_private.h"

struct two {
	struct queue *a, *b;
};

static int
setup(void **state)
{
	struct two *t = calloc(1, sizeof(*t));
	char err[256];

	*state = t;
	if (test_pg_conninfo() == NULL)
		return 0;
	test_pg_empty();
	if (queue_open(test_pg_conninfo(), &t->a, err, sizeof(err)) < 0 ||
	    queue_open(test_pg_conninfo(), &t->b, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return 0;
}

static int
teardown(void **state)
{
	struct two *t = *state;

	queue_close(t->a);
	queue_close(t->b);
	free(t);
	return 0;
}

/* Whether fd becomes readable within ms (bounded: never a hang). */
static bool
readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return fd >= 0 && poll(&p, 1, ms) == 1 && (p.revents & (POLLIN | POLLHUP));
}

/*
 * Waits (bounded) for a notification and counts what arrived, through
 * libpq directly: the wake API says "some", the tests need "how many".
 * Notifications come in commit order, so when the last commit's has
 * come, those of earlier commits came before it.
 */
static int
arrived(struct queue *q, int ms)
{
	PGnotify *n;
	int count = 0;

	if (!readable(queue_wake_fd(q), ms))
		return 0;
	PQconsumeInput(q->pg);
	while ((n = PQnotifies(q->pg)) != NULL) {
		assert_string_equal(n->relname, "distd_work");
		count++;
		PQfreemem(n);
	}
	return count;
}

static char *
render(void *arg, int64_t id, const char *mid, size_t *len, char *err, size_t errsz)
{
	(void)arg; (void)id; (void)err; (void)errsz;
	char *m = malloc(128);
	snprintf(m, 128, "Message-ID: <%s>\r\n\r\nbody\r\n", mid);
	*len = strlen(m);
	return m;
}

static int64_t
enqueue(struct queue *q, const char *sha, size_t n, const char *hold, int64_t now)
{
	struct queue_recipient_in r[8];
	char addr[8][32], err[256];
	int64_t id, dup;

	for (size_t i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%zu@example.test", i);
		r[i] = (struct queue_recipient_in){ 0, "报", "to", "单位", "报:单位", "单位",
		    "单位", addr[i], false };
	}
	struct queue_issue_in in = { .sha256 = sha, .source = "a.txt",
		.kind = QUEUE_KIND_BULLETIN, .title = "简报", .subject = "简报 第1期",
		.issue_no = 1, .total_issue_no = -1, .hold_reason = hold, .received = now };
	if (queue_enqueue(q, &in, r, n, "example.test", render, NULL, &id, &dup, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	return id;
}

static void
test_wake_when_work_becomes_due(void **state)
{
	NEED_PG();
	struct two *t = *state;
	char err[256];

	int fd = queue_wake_fd(t->b);
	assert_true(fd >= 0);
	queue_wake_drain(t->b);
	assert_false(readable(fd, 0));

	/* an issue committed by A: B hears of it, once */
	int64_t id = enqueue(t->a, "aaaa", 3, NULL, 1000);
	assert_true(readable(fd, 5000));
	assert_true(queue_wake_drain(t->b));
	/* drained: nothing left to read, nothing more to report */
	assert_false(readable(fd, 0));
	assert_false(queue_wake_drain(t->b));

	/* a held issue makes nothing due; its release does */
	int64_t held = enqueue(t->a, "bbbb", 2, "unresolved units", 1000);
	if (queue_release(t->a, held, NULL, 1000, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(arrived(t->b, 5000), 1);

	/* taking (queued → sending) and recording a deferral make nothing due;
	 * giving a batch back does (sending → queued) */
	struct queue_batch *b[2];
	size_t n;
	assert_int_equal(queue_take(t->a, 1000, 2, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(queue_alert(t->a, QUEUE_ALERT_DEFERRED, "relay down", 1000), 0);
	assert_int_equal(queue_release_batch(t->a, b[1], err, sizeof(err)), 0);
	assert_int_equal(arrived(t->b, 5000), 1);

	/* a deferral recorded (next try later): nothing; distctl retry moves it
	 * earlier: due now */
	struct smtp_verdict v[3];
	bool again[3] = { false, false, false };
	struct queue_attempt at[3];
	memset(v, 0, sizeof(v));
	for (size_t i = 0; i < b[0]->n; i++) {
		v[i].outcome = SMTP_TEMP;
		v[i].class = SMTP_CLASS_4XX;
		v[i].code = 451;
		v[i].reply = "451 try later";
	}
	assert_int_equal(queue_record(t->a, b[0], v, again, at, 1001, 0.1, "relay",
	    &test_pg_retry, test_pg_half, err, sizeof(err)), 0);
	assert_int_equal(arrived(t->b, 300), 0);
	assert_true(queue_retry(t->a, id, NULL, 1001, err, sizeof(err)) >= 0);
	assert_int_equal(arrived(t->b, 5000), 1);
	for (size_t i = 0; i < n; i++)
		queue_batch_free(b[i]);

	/* distctl hold, then release of the whole issue (issue → active) */
	assert_true(queue_hold(t->a, id, NULL, "by hand", err, sizeof(err)) >= 0);
	assert_int_equal(arrived(t->b, 300), 0);
	assert_true(queue_release(t->a, id, NULL, 1002, err, sizeof(err)) >= 0);
	assert_int_equal(arrived(t->b, 5000), 1);
}

/*
 * 10 000 recipients queued in one transaction: one notification (they
 * are folded per transaction), and the insert stays about as fast.
 */
static void
test_wake_once_per_transaction(void **state)
{
	NEED_PG();
	struct two *t = *state;

	enqueue(t->a, "cccc", 1, NULL, 1000);
	assert_int_equal(arrived(t->b, 5000), 1);
	test_pg_exec("INSERT INTO recipients (issue, tier, tier_keyword, header, unit, via,"
	    " name,"
	    " display, address, state, next_attempt) SELECT 1, 0, '报', 'to', 'u', 'v',"
	    " 'n', 'd', 'r' || g || '@example.test', 'queued', 1000"
	    " FROM generate_series(1, 10000) g");
	assert_int_equal(arrived(t->b, 5000), 1);
	/* the update that makes them all due again (a release): one more */
	test_pg_exec("UPDATE recipients SET state = 'sending'");
	assert_int_equal(arrived(t->b, 300), 0);
	test_pg_exec("UPDATE recipients SET state = 'queued'");
	assert_int_equal(arrived(t->b, 5000), 1);
}

static void
test_reconnect_after_terminated_backend(void **state)
{
	NEED_PG();
	struct two *t = *state;
	char err[512], q[128];
	long counts[QUEUE_STATES];

	int old_pid = PQbackendPID(t->b->pg);
	snprintf(q, sizeof(q), "SELECT pg_terminate_backend(%d)", old_pid);
	test_pg_exec(q);
	/* the server says goodbye on the socket: readable, and the drain
	 * finds the link broken */
	assert_true(readable(queue_wake_fd(t->b), 5000));
	queue_wake_drain(t->b);
	/* whichever noticed first, the next op fails and the check says lost */
	assert_int_equal(queue_counts(t->b, counts), -1);
	assert_int_equal(queue_check_file(t->b, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "connection is lost"));
	assert_null(strstr(err, "dbname="));
	assert_int_equal(queue_wake_fd(t->b), -1);

	assert_int_equal(queue_reconnect(t->b, err, sizeof(err)), 0);
	assert_int_equal(queue_check_file(t->b, err, sizeof(err)), 0);
	assert_int_not_equal(PQbackendPID(t->b->pg), old_pid);
	/* statements prepared again: the ops work */
	assert_int_equal(queue_counts(t->b, counts), 0);
	/* LISTEN again: A's issue wakes B */
	int fd = queue_wake_fd(t->b);
	assert_true(fd >= 0);
	enqueue(t->a, "dddd", 2, NULL, 1000);
	assert_true(readable(fd, 5000));
	assert_true(queue_wake_drain(t->b));
	struct queue_batch *b[2];
	size_t n;
	assert_int_equal(queue_take(t->b, 1000, 2, 10, b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->n, 2);
	queue_batch_free(b[0]);
}

/* A server that is gone: the reconnect fails with its reason, quickly. */
static void
test_reconnect_fails_while_unreachable(void **state)
{
	NEED_PG();
	struct two *t = *state;
	char err[512], loc[1024];
	struct queue *q;

	/* connect_timeout 5 unless the string sets one */
	PQconninfoOption *o = PQconninfo(t->b->pg);
	const char *timeout = NULL;
	for (PQconninfoOption *p = o; p->keyword; p++)
		if (strcmp(p->keyword, "connect_timeout") == 0)
			timeout = p->val;
	assert_non_null(timeout);
	assert_string_equal(timeout, "5");
	PQconninfoFree(o);
	snprintf(loc, sizeof(loc), "%s connect_timeout=2", test_pg_conninfo());
	assert_int_equal(queue_open(loc, &q, err, sizeof(err)), 0);
	o = PQconninfo(q->pg);
	for (PQconninfoOption *p = o; p->keyword; p++)
		if (strcmp(p->keyword, "connect_timeout") == 0)
			assert_string_equal(p->val, "2");
	PQconninfoFree(o);
	queue_close(q);

	/* B's session ended and new ones refused (ALTER DATABASE from
	 * another database: not the one connected to) */
	snprintf(loc, sizeof(loc), "%s dbname=postgres", test_pg_conninfo());
	PGconn *other = PQconnectdb(loc);
	assert_int_equal(PQstatus(other), CONNECTION_OK);
	PQclear(PQexec(other, "ALTER DATABASE distd ALLOW_CONNECTIONS false"));
	char kill[160];
	snprintf(kill, sizeof(kill), "SELECT pg_terminate_backend(%d)", PQbackendPID(t->b->pg));
	test_pg_exec(kill);
	assert_true(readable(queue_wake_fd(t->b), 5000));
	queue_wake_drain(t->b);
	long counts[QUEUE_STATES];
	assert_int_equal(queue_counts(t->b, counts), -1);
	assert_int_equal(queue_check_file(t->b, err, sizeof(err)), 1);
	assert_int_equal(queue_reconnect(t->b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect"));
	assert_null(strstr(err, "dbname="));
	assert_int_equal(queue_check_file(t->b, err, sizeof(err)), 1);
	PQclear(PQexec(other, "ALTER DATABASE distd ALLOW_CONNECTIONS true"));
	PQfinish(other);
	assert_int_equal(queue_reconnect(t->b, err, sizeof(err)), 0);
	assert_int_equal(queue_counts(t->b, counts), 0);
}

/* SQLite: no descriptor, nothing to drain, nothing to reconnect. */
static void
test_sqlite_has_no_wake_and_no_reconnect(void **state)
{
	(void)state;
	char path[64], err[256];
	struct queue *q;

	snprintf(path, sizeof(path), "/tmp/distd-wake-%d.db", (int)getpid());
	unlink(path);
	assert_int_equal(queue_open(path, &q, err, sizeof(err)), 0);
	assert_int_equal(queue_wake_fd(q), -1);
	assert_false(queue_wake_drain(q));
	assert_int_equal(queue_check_file(q, err, sizeof(err)), 0);
	assert_int_equal(queue_reconnect(q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no connection"));
	/* a lost file stays lost for good (-1), not "reconnect" (1) */
	unlink(path);
	assert_int_equal(queue_check_file(q, err, sizeof(err)), -1);
	queue_close(q);
	char p[80];
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wake_when_work_becomes_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wake_once_per_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_after_terminated_backend, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_fails_while_unreachable, setup,
		    teardown),
		cmocka_unit_test(test_sqlite_has_no_wake_and_no_reconnect),
	};

	if (test_pg_start(NULL) < 0)
		return 1;
	int rc = cmocka_run_group_tests_name("queue_wake", tests, NULL, NULL);
	test_pg_stop();
	return rc;
}
