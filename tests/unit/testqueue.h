#ifndef DISTD_TESTQUEUE_H
#define DISTD_TESTQUEUE_H

/*
 * Fixtures for the unit tests of modules that sit on the queue or the
 * configuration (queue_ctl, adminmail, notice, preview, preflight):
 * header-only like testutil.h, which it needs included first. The
 * PostgreSQL side (the tests' own connection, emptying) is testpg.h's.
 */

#include <stdbool.h>

#include "conf.h"
#include "queue.h"
#include "queue_backend.h"
#include "testpg.h"

/* Loads a configuration from text through a temporary file; fails the test on errors. */
static inline struct conf *
test_conf_load(const char *text)
{
	struct sbuf errs = SBUF_INIT;
	struct conf *c;
	char *path = write_temp(text, 0644);

	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	unlink(path);
	free(path);
	sbuf_free(&errs);
	return c;
}

/*
 * One suite, two backends. The queue suites (test_queue, test_queue_ctl,
 * test_queue_views) run twice under `make unit`: as is, on a SQLite file,
 * and with DISTD_TEST_BACKEND=postgresql under tests/integration/pgserver.py,
 * which sets DISTD_TEST_PG to a throw-away server's connection string. On
 * that second run test_queue_open opens the server's database instead,
 * emptied first (schema public dropped and made again through the tests'
 * own connection), and "path" holds the connection string so that a test
 * that opens the queue again by its path opens the same database.
 */
/* The longest path or connection string test_queue_open writes. */
#define TEST_QUEUE_PATH_MAX 512

/* Whether this run is the PostgreSQL one (DISTD_TEST_BACKEND=postgresql). */
static inline bool
test_queue_on_pg(void)
{
	const char *b = getenv("DISTD_TEST_BACKEND");

	return b != NULL && strcmp(b, "postgresql") == 0;
}

/*
 * At the top of a test whose point is a fact of SQLite storage: on the
 * PostgreSQL run it skips, printing why (one line).
 */
#define skip_unless_sqlite(why) do { \
	if (test_queue_on_pg()) { \
		print_message("[  SKIP    ] SQLite only: %s\n", (why)); \
		skip(); \
	} \
} while (0)

/*
 * At the top of a test that needs ops the PostgreSQL backend may not have
 * yet (a comma-separated list, as queue_backend_missing writes them): on
 * the PostgreSQL run it skips naming the missing ones, until they exist.
 * It must come before the first queue call: the front calls a NULL op.
 */
static inline bool
test_pg_lacks(const char *ops, char *lacking, size_t sz)
{
	char missing[1024], want[256];
	size_t at = 0;

	lacking[0] = '\0';
	if (!test_queue_on_pg())
		return false;
	queue_backend_missing(&queue_backend_pg, missing, sizeof(missing));
	snprintf(want, sizeof(want), "%s", ops);
	for (char *save = NULL, *w = strtok_r(want, ", ", &save); w != NULL;
	    w = strtok_r(NULL, ", ", &save)) {
		const char *m = missing;
		size_t len = strlen(w);

		while ((m = strstr(m, w)) != NULL) {
			if ((m == missing || m[-1] == ' ') && (m[len] == ',' || m[len] == '\0'))
				break;
			m += len;
		}
		if (m != NULL)
			at += snprintf(lacking + at, at < sz ? sz - at : 0, "%s%s",
			    at > 0 ? ", " : "", w);
	}
	return lacking[0] != '\0';
}

#define skip_unless_ops(ops) do { \
	char lacking_[256]; \
	if (test_pg_lacks((ops), lacking_, sizeof(lacking_))) { \
		print_message("[  SKIP    ] queue_backend_pg has no %s yet\n", lacking_); \
		skip(); \
	} \
} while (0)

/*
 * A fresh queue: at /tmp/distd-NAME-PID.db, or on the PostgreSQL run the
 * test server's database emptied; path (TEST_QUEUE_PATH_MAX bytes) keeps
 * what queue_open was given.
 */
static inline struct queue *
test_queue_open(const char *name, char *path, size_t pathsz)
{
	struct queue *q;
	char err[256];

	if (test_queue_on_pg()) {
		const char *c = test_pg_conninfo();

		if (c == NULL)
			fail_msg("DISTD_TEST_BACKEND=postgresql without DISTD_TEST_PG");
		if ((size_t)snprintf(path, pathsz, "%s", c) >= pathsz)
			fail_msg("DISTD_TEST_PG is longer than the %zu bytes given", pathsz);
		test_pg_empty();
	} else {
		snprintf(path, pathsz, "/tmp/distd-%s-%d.db", name, (int)getpid());
		unlink(path);
	}
	if (queue_open(path, &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return q;
}

/* Closes q and removes its database with the -wal and -shm files (SQLite). */
static inline void
test_queue_remove(struct queue *q, const char *path)
{
	char p[TEST_QUEUE_PATH_MAX + 8];

	queue_close(q);
	if (test_queue_on_pg())
		return;		/* the next test_queue_open empties it */
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static inline void
test_skip_no_server(void **state)
{
	(void)state;
	print_message("[  SKIP    ] PostgreSQL run without a test server "
	    "(DISTD_TEST_PG unset; pgserver.py printed why above)\n");
	skip();
}

/*
 * cmocka_run_group_tests_name for the queue suites: on the PostgreSQL run
 * without a server (pgserver.py could not start one and said why), every
 * test skips saying so, instead of failing in its setup.
 */
#define test_queue_run_group(name, tests) \
	test_queue_run_group_n((name), (tests), sizeof(tests) / sizeof((tests)[0]))

static inline int
test_queue_run_group_n(const char *name, const struct CMUnitTest *tests, size_t n)
{
	char label[128];
	int rc;

	if (!test_queue_on_pg())
		return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	snprintf(label, sizeof(label), "%s on PostgreSQL", name);
	if (test_pg_conninfo() != NULL)
		return _cmocka_run_group_tests(label, tests, n, NULL, NULL);
	struct CMUnitTest *skipping = calloc(n, sizeof(*skipping));

	assert_non_null(skipping);
	for (size_t i = 0; i < n; i++) {
		skipping[i].name = tests[i].name;
		skipping[i].test_func = test_skip_no_server;
	}
	rc = _cmocka_run_group_tests(label, skipping, n, NULL, NULL);
	free(skipping);
	return rc;
}

/* A queue_render_fn for tests: a minimal message naming its Message-ID. */
static inline char *
test_render_plain(void *arg, int64_t id, const char *mid, size_t *len, char *err,
    size_t errsz)
{
	(void)arg; (void)id; (void)err; (void)errsz;
	char *m = malloc(128);

	assert_non_null(m);
	snprintf(m, 128, "Message-ID: <%s>\r\n\r\nbody\r\n", mid);
	*len = strlen(m);
	return m;
}

/*
 * How many recipients are due at now. They are given back untried, so
 * that asking changes nothing; with only_address, each must be it.
 */
static inline size_t
test_queue_due(struct queue *q, int64_t now, const char *only_address)
{
	struct queue_batch *b[32];
	size_t n, total = 0;
	char err[256];

	assert_int_equal(queue_take(q, now, 32, 50, b, &n, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; only_address && k < b[i]->n; k++)
			assert_string_equal(b[i]->addresses[k], only_address);
		total += b[i]->n;
		assert_int_equal(queue_release_batch(q, b[i], err, sizeof(err)), 0);
		queue_batch_free(b[i]);
	}
	return total;
}

/* A configuration and a fresh queue together, for modules that need both. */
struct test_conf_queue {
	struct conf *conf;
	struct queue *queue;
	char path[TEST_QUEUE_PATH_MAX];
};

static inline struct test_conf_queue *
test_conf_queue_new(const char *name, const char *conf_text)
{
	struct test_conf_queue *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->conf = test_conf_load(conf_text);
	f->queue = test_queue_open(name, f->path, sizeof(f->path));
	return f;
}

static inline void
test_conf_queue_free(struct test_conf_queue *f)
{
	test_queue_remove(f->queue, f->path);
	conf_free(f->conf);
	free(f);
}

#endif
