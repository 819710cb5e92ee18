/*
 * Several distd nodes on one PostgreSQL queue (issue 16): leases,
 * heartbeats, takeover, late results, recovery, the lock per node and
 * distctl status's list of nodes. Two queue handles on one database play
 * nodes "a" and "b"; a lease is made to expire by moving it back through
 * the test's own connection (no sleeping). DISTD_TEST_PG as in
 * test_queue_pg.c (the Makefile's `unit` target starts a throw-away
 * server); unset, the PostgreSQL tests skip and say why. The last test
 * is SQLite's: one node, where the same calls are trivial.
 */
#include "testutil.h"
#include "testpg.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include "queue.h"

struct nodes {
	struct queue *a, *b;
};

static struct queue *
open_node(const char *name)
{
	struct queue *q;
	char err[512];

	if (queue_open(test_pg_conninfo(), &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	if (name != NULL && queue_join(q, name, 30, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return q;
}

static int
setup(void **state)
{
	struct nodes *n = calloc(1, sizeof(*n));

	*state = n;
	if (test_pg_conninfo() == NULL)
		return 0;
	test_pg_empty();
	n->a = open_node("a");
	n->b = open_node("b");
	return 0;
}

static int
teardown(void **state)
{
	struct nodes *n = *state;

	queue_close(n->a);
	queue_close(n->b);
	free(n);
	*state = NULL;
	return 0;
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

/* n recipients in one tier; returns the issue's id */
static int64_t
enqueue(struct queue *q, const char *sha, size_t n)
{
	struct queue_recipient_in r[16];
	char addr[16][32];
	int64_t id, dup;
	char err[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%zu@example.test", i);
		r[i] = (struct queue_recipient_in){ 0, "报", "to", "单位", "报:单位", "单位",
		    "单位", addr[i], false };
	}
	struct queue_issue_in in = { .sha256 = sha, .source = "a.txt",
		.kind = QUEUE_KIND_BULLETIN, .title = "简报", .subject = "简报 第1期",
		.issue_no = 1, .total_issue_no = -1, .received = 1000 };
	if (queue_enqueue(q, &in, r, n, "example.test", render, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return id;
}

static struct queue_batch *
take_one(struct queue *q, size_t max_rcpt)
{
	struct queue_batch *b[1];
	size_t n;
	char err[256];

	if (queue_take(q, 1000, 1, max_rcpt, b, &n, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(n, 1);
	return b[0];
}

/* Records every recipient of b with one verdict; returns queue_record's value. */
static int
record_all(struct queue *q, const struct queue_batch *b, bool ok, struct queue_attempt *att)
{
	struct smtp_verdict v[16];
	char err[256];

	for (size_t i = 0; i < b->n; i++)
		v[i] = ok ? (struct smtp_verdict){ .outcome = SMTP_OK, .code = 250,
		    .reply = "250 ok", .class = SMTP_CLASS_OK } :
		    (struct smtp_verdict){ .outcome = SMTP_TEMP, .code = 451,
		    .reply = "451 later", .class = SMTP_CLASS_4XX };
	int rc = queue_record(q, b, v, NULL, att, 1005, 0.1, "relay:465", &test_pg_retry,
	    test_pg_half, err, sizeof(err));
	if (rc < 0)
		fail_msg("%s", err);
	return rc;
}

/* A node that stopped heartbeating: its leases and heartbeat moved into the past. */
static void
expire(const char *node)
{
	char s[256];

	snprintf(s, sizeof(s), "UPDATE recipients SET lease_until = lease_until - 1000"
	    " WHERE node = '%s'", node);
	test_pg_exec(s);
	snprintf(s, sizeof(s), "UPDATE nodes SET heartbeat = heartbeat - 1000"
	    " WHERE name = '%s'", node);
	test_pg_exec(s);
}

/*
 * a takes; b's heartbeat takes nothing while a's lease is live; once it
 * expired, b takes it over (queued, flagged, no node) and says from whom.
 */
static void
test_takeover_after_lease_expires(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue_takeover *t;
	size_t nt;
	char err[256];

	enqueue(n->a, "aaaa", 6);
	struct queue_batch *b = take_one(n->a, 4);
	assert_int_equal(b->n, 4);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'sending'"
	    " AND node = 'a'"), 4);
	/* leased on the server's clock, by the lease */
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE node = 'a' AND"
	    " lease_until BETWEEN EXTRACT(EPOCH FROM now())::bigint + 28"
	    " AND EXTRACT(EPOCH FROM now())::bigint + 31"), 4);

	assert_int_equal(queue_heartbeat(n->b, &t, &nt, err, sizeof(err)), 0);
	assert_int_equal(nt, 0);
	assert_null(t);
	/* a's own heartbeat takes nothing of its own */
	assert_int_equal(queue_heartbeat(n->a, &t, &nt, err, sizeof(err)), 0);

	expire("a");
	assert_int_equal(queue_heartbeat(n->b, &t, &nt, err, sizeof(err)), 4);
	assert_int_equal(nt, 1);
	assert_string_equal(t[0].node, "a");
	assert_int_equal(t[0].count, 4);
	queue_takeover_free(t, nt);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'queued'"
	    " AND possible_duplicate = 1 AND node IS NULL AND lease_until IS NULL"), 4);
	/* taken over once: the next heartbeat finds nothing more */
	assert_int_equal(queue_heartbeat(n->b, &t, &nt, err, sizeof(err)), 0);

	/* b sends them, flagged */
	struct queue_batch *c = take_one(n->b, 10);
	assert_int_equal(c->n, 6);
	size_t flagged = 0;
	for (size_t i = 0; i < c->n; i++)
		flagged += c->possible_duplicate[i];
	assert_int_equal(flagged, 4);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE node = 'b'"), 6);
	queue_batch_free(c);
	queue_batch_free(b);
}

/* Two expired nodes at once: counted per node, in one heartbeat. */
static void
test_takeover_names_each_node(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue *c = open_node("c");
	struct queue_takeover *t;
	size_t nt;
	char err[256];

	enqueue(n->a, "cccc", 5);
	struct queue_batch *ba = take_one(n->a, 2);
	struct queue_batch *bc = take_one(c, 3);
	expire("a");
	expire("c");
	assert_int_equal(queue_heartbeat(n->b, &t, &nt, err, sizeof(err)), 5);
	assert_int_equal(nt, 2);
	assert_string_equal(t[0].node, "a");
	assert_int_equal(t[0].count, 2);
	assert_string_equal(t[1].node, "c");
	assert_int_equal(t[1].count, 3);
	queue_takeover_free(t, nt);
	queue_batch_free(ba);
	queue_batch_free(bc);
	queue_close(c);
}

/* A heartbeat extends the node's leases: a live node is never taken over. */
static void
test_heartbeat_extends_leases(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue_takeover *t;
	size_t nt;
	char err[256];

	enqueue(n->a, "eeee", 3);
	struct queue_batch *b = take_one(n->a, 3);
	/* about to expire, but a heartbeats in time */
	test_pg_exec("UPDATE recipients SET lease_until = lease_until - 1000 WHERE node = 'a'");
	assert_int_equal(queue_heartbeat(n->a, &t, &nt, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE node = 'a' AND"
	    " lease_until >= EXTRACT(EPOCH FROM now())::bigint + 28"), 3);
	assert_int_equal(queue_heartbeat(n->b, &t, &nt, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'sending'"
	    " AND node = 'a'"), 3);
	queue_batch_free(b);
}

/*
 * A heartbeat never waits for rows another transaction holds (a distctl
 * cancel, another node's takeover): it skips them, so it can be in no
 * deadlock. Bounded by an alarm: a heartbeat that waited would hang.
 */
static void
test_heartbeat_does_not_wait(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue_takeover *t;
	size_t nt;
	char err[256];

	enqueue(n->a, "wwww", 4);
	struct queue_batch *b = take_one(n->a, 4);
	test_pg_exec("UPDATE recipients SET lease_until = lease_until - 1000 WHERE node = 'a'");
	test_pg_exec("BEGIN");
	test_pg_exec("SELECT id FROM recipients WHERE id IN (SELECT MIN(id) FROM recipients)"
	    " FOR UPDATE");
	alarm(20);
	assert_int_equal(queue_heartbeat(n->a, &t, &nt, err, sizeof(err)), 0);
	alarm(0);
	test_pg_exec("ROLLBACK");
	/* the three others extended now, the held one at the next beat */
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE node = 'a' AND"
	    " lease_until >= EXTRACT(EPOCH FROM now())::bigint + 28"), 3);
	assert_int_equal(queue_heartbeat(n->a, &t, &nt, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE node = 'a' AND"
	    " lease_until >= EXTRACT(EPOCH FROM now())::bigint + 28"), 4);
	queue_batch_free(b);
}

/*
 * a's result after b took its recipients over: not stored on the rows
 * (b's outcome stands), kept in the history flagged, counted as late.
 */
static void
test_late_result_does_not_overwrite(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue_takeover *t;
	struct queue_attempt att[4];
	size_t nt;
	char err[256];

	enqueue(n->a, "llll", 3);
	struct queue_batch *b = take_one(n->a, 3);
	expire("a");
	assert_int_equal(queue_heartbeat(n->b, &t, &nt, err, sizeof(err)), 3);
	queue_takeover_free(t, nt);
	struct queue_batch *c = take_one(n->b, 3);

	/* a's transfer failed temporarily, late: the rows stay b's, sending */
	assert_int_equal(record_all(n->a, b, false, att), 3);
	assert_true(att[0].possible_duplicate);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'sending'"
	    " AND node = 'b' AND attempts = 0"), 3);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM attempts"
	    " WHERE possible_duplicate = 1 AND status = 'deferred'"), 3);
	/* b's delivery is recorded and stands */
	assert_int_equal(record_all(n->b, c, true, att), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients"
	    " WHERE state = 'delivered' AND node IS NULL"), 3);
	/* a's release of the same rows later changes nothing either */
	assert_int_equal(queue_release_batch(n->a, b, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state ="
	    " 'delivered'"), 3);
	queue_batch_free(b);
	queue_batch_free(c);
}

/* Results and releases of a node's own rows work as on one node. */
static void
test_own_record_and_release(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue_attempt att[4];
	char err[256];

	enqueue(n->a, "oooo", 4);
	struct queue_batch *b = take_one(n->a, 2);
	struct queue_batch *c = take_one(n->b, 2);
	assert_int_equal(record_all(n->a, b, true, att), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients"
	    " WHERE state = 'delivered' AND node IS NULL AND lease_until IS NULL"), 2);
	/* a cannot give back b's batch; b can */
	assert_int_equal(queue_release_batch(n->a, c, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'sending'"
	    " AND node = 'b'"), 2);
	assert_int_equal(queue_release_batch(n->b, c, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'queued'"
	    " AND node IS NULL AND possible_duplicate = 0"), 2);
	queue_batch_free(b);
	queue_batch_free(c);
}

/*
 * a restarts (a new handle, as after kill -9): recover takes back its
 * own rows however live their leases, and other nodes' expired leases,
 * but not a live node's.
 */
static void
test_restart_recovers_own_rows(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue *c = open_node("c");
	int recovered;
	char err[256];

	enqueue(n->a, "rrrr", 6);
	struct queue_batch *ba = take_one(n->a, 2);
	struct queue_batch *bb = take_one(n->b, 2);
	struct queue_batch *bc = take_one(c, 2);
	expire("c");
	queue_close(n->a);
	n->a = open_node("a");
	assert_int_equal(queue_recover(n->a, &recovered, err, sizeof(err)), 0);
	assert_int_equal(recovered, 4);		/* a's 2 and c's 2 */
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'queued'"
	    " AND possible_duplicate = 1 AND node IS NULL"), 4);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM recipients WHERE state = 'sending'"
	    " AND node = 'b'"), 2);
	queue_batch_free(ba);
	queue_batch_free(bb);
	queue_batch_free(bc);
	queue_close(c);
}

/* A second live node under one name elsewhere is refused; a dead one's name is free. */
static void
test_join_refuses_a_live_name(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue *q;
	char err[512];

	(void)n;
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM nodes WHERE name = 'a' AND pid > 0"
	    " AND version <> '' AND started > 0"), 1);
	test_pg_exec("UPDATE nodes SET host = 'elsewhere.example.test', pid = 77 WHERE name ="
	    " 'a'");
	assert_int_equal(queue_open(test_pg_conninfo(), &q, err, sizeof(err)), 0);
	assert_int_equal(queue_join(q, "a", 30, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "node a is alive on elsewhere.example.test (PID 77"));
	assert_null(strstr(err, "dbname"));
	assert_int_equal(queue_heartbeat_interval(q), 0);	/* not joined */
	/* a stopped heartbeating: its name may be taken */
	expire("a");
	assert_int_equal(queue_join(q, "a", 30, err, sizeof(err)), 0);
	assert_int_equal(test_pg_count("SELECT COUNT(*) FROM nodes WHERE name = 'a'"
	    " AND host <> 'elsewhere.example.test'"), 1);
	/* bad arguments are errors, not a node */
	assert_int_equal(queue_join(q, "", 30, err, sizeof(err)), -1);
	assert_int_equal(queue_join(q, "x", 2, err, sizeof(err)), -1);
	queue_close(q);
}

/* One lock per node and queue: two nodes on one machine; one name twice is refused. */
static void
test_lock_per_node(void **state)
{
	NEED_PG();
	(void)state;
	char dir[] = "/tmp/distd-nodelock-XXXXXX", err[512];
	int fa, fa2, fb;

	assert_non_null(mkdtemp(dir));
	setenv("RUNTIME_DIRECTORY", dir, 1);
	assert_int_equal(queue_lock_node(test_pg_conninfo(), "a", &fa, err, sizeof(err)), 0);
	assert_int_equal(queue_lock_node(test_pg_conninfo(), "b", &fb, err, sizeof(err)), 0);
	assert_int_equal(queue_lock_node(test_pg_conninfo(), "a", &fa2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "node a of the PostgreSQL queue is in use by another distd"));
	assert_null(strstr(err, "dbname"));
	close(fa);
	assert_int_equal(queue_lock_node(test_pg_conninfo(), "a", &fa2, err, sizeof(err)), 0);
	close(fa2);
	close(fb);
	unsetenv("RUNTIME_DIRECTORY");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* distctl status's nodes: who, since when, heartbeat age, in flight, stale. */
static void
test_view_nodes(void **state)
{
	NEED_PG();
	struct nodes *n = *state;
	struct queue_view_node *v;
	size_t nv;
	char err[256];

	assert_int_equal(queue_heartbeat_interval(n->a), 10);
	enqueue(n->a, "vvvv", 5);
	struct queue_batch *b = take_one(n->b, 3);
	test_pg_exec("UPDATE nodes SET heartbeat = heartbeat - 100 WHERE name = 'a'");
	assert_int_equal(queue_view_nodes(n->a, &v, &nv, err, sizeof(err)), 0);
	assert_int_equal(nv, 2);
	assert_string_equal(v[0].name, "a");
	assert_true(v[0].stale);
	assert_true(v[0].heartbeat_age >= 100 && v[0].heartbeat_age < 110);
	assert_int_equal(v[0].sending, 0);
	assert_int_equal(v[0].lease, 30);
	assert_string_equal(v[1].name, "b");
	assert_false(v[1].stale);
	assert_true(v[1].heartbeat_age < 10);
	assert_int_equal(v[1].sending, 3);
	assert_int_equal(v[1].pid, (long)getpid());
	assert_non_null(v[1].host);
	assert_true(v[1].started > 0);
	queue_view_nodes_free(v, nv);
	/* a heartbeat makes a fresh again */
	struct queue_takeover *t;
	size_t nt;
	assert_int_equal(queue_heartbeat(n->a, &t, &nt, err, sizeof(err)), 0);
	assert_int_equal(queue_view_nodes(n->b, &v, &nv, err, sizeof(err)), 0);
	assert_false(v[0].stale);
	queue_view_nodes_free(v, nv);
	/* distctl reads them read-only */
	struct queue *ro;
	assert_int_equal(queue_open_mode(test_pg_conninfo(), QUEUE_READONLY, &ro, err,
	    sizeof(err)), 0);
	assert_int_equal(queue_view_nodes(ro, &v, &nv, err, sizeof(err)), 0);
	assert_int_equal(nv, 2);
	queue_view_nodes_free(v, nv);
	queue_close(ro);
	queue_batch_free(b);
}

/* SQLite has one node: join does nothing, a heartbeat takes nothing, no nodes listed. */
static void
test_sqlite_one_node(void **state)
{
	(void)state;
	char path[64], err[256];
	struct queue *q;
	struct queue_takeover *t;
	struct queue_view_node *v;
	size_t n;
	int fd, fd2, recovered;

	snprintf(path, sizeof(path), "/tmp/distd-nodes-%d.db", (int)getpid());
	unlink(path);
	assert_int_equal(queue_open(path, &q, err, sizeof(err)), 0);
	assert_int_equal(queue_join(q, "a", 30, err, sizeof(err)), 0);
	assert_int_equal(queue_heartbeat_interval(q), 0);	/* idle: never wakes */
	assert_int_equal(queue_heartbeat(q, &t, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(t);
	assert_int_equal(queue_view_nodes(q, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_recover(q, &recovered, err, sizeof(err)), 0);
	/* one daemon per file, whatever its node is called */
	assert_int_equal(queue_lock_node(path, "a", &fd, err, sizeof(err)), 0);
	assert_int_equal(queue_lock_node(path, "b", &fd2, err, sizeof(err)), -1);
	close(fd);
	queue_close(q);
	unlink(path);
	char p[96];
	snprintf(p, sizeof(p), "%s.lock", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

int
main(void)
{
	if (test_pg_start("test_queue_nodes: PostgreSQL tests") < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_takeover_after_lease_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_names_each_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_extends_leases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_does_not_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_result_does_not_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_record_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_recovers_own_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_refuses_a_live_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_per_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_nodes, setup, teardown),
		cmocka_unit_test(test_sqlite_one_node),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_pg_stop();
	return rc;
}
