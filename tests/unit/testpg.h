#ifndef DISTD_TESTPG_H
#define DISTD_TESTPG_H

/*
 * Fixtures for the unit tests that run against a PostgreSQL test server
 * (test_queue_pg, test_queue_pg_concurrency, test_queue_pg_counts,
 * test_queue_nodes, test_queue_wake, and testqueue.h's PostgreSQL run):
 * header-only like testutil.h, which it needs included first.
 * DISTD_TEST_PG is a libpq connection string to a throw-away database;
 * the Makefile's `unit` target runs these programs under
 * tests/integration/pgserver.py, which starts a server and sets it.
 * Unset, the tests that need it skip, saying why.
 */

#include <libpq-fe.h>
#include <stdint.h>

#include "queue.h"

/* The tests' own connection (not the queue's): counts, locks, rows put in by hand. */
static PGconn *test_pg_conn;

/* The test server's connection string, NULL without one. */
static inline const char *
test_pg_conninfo(void)
{
	const char *c = getenv("DISTD_TEST_PG");

	return c != NULL && c[0] != '\0' ? c : NULL;
}

/* The tests' own connection, opened on first use (or by test_pg_start). */
static inline PGconn *
test_pg_admin(void)
{
	if (test_pg_conn == NULL) {
		test_pg_conn = PQconnectdb(test_pg_conninfo());
		if (PQstatus(test_pg_conn) != CONNECTION_OK)
			fail_msg("DISTD_TEST_PG is set but no connection: %s",
			    PQerrorMessage(test_pg_conn));
		PQclear(PQexec(test_pg_conn, "SET client_min_messages = warning"));
	}
	return test_pg_conn;
}

/*
 * In main, before the tests: opens the tests' own connection at once, so
 * that a server that refuses fails the program (-1, said on stderr) and
 * not every test on its own. Without DISTD_TEST_PG it says that the tests
 * skip, under the name what (nothing where what is NULL), and returns 0.
 */
static inline int
test_pg_start(const char *what)
{
	if (test_pg_conninfo() == NULL) {
		if (what != NULL)
			fprintf(stderr, "%s SKIPPED: DISTD_TEST_PG unset (no PostgreSQL "
			    "test server; `make unit` starts one with "
			    "tests/integration/pgserver.py where the server binaries "
			    "are installed)\n", what);
		return 0;
	}
	test_pg_conn = PQconnectdb(test_pg_conninfo());
	if (PQstatus(test_pg_conn) != CONNECTION_OK) {
		fprintf(stderr, "DISTD_TEST_PG is set but no connection: %s",
		    PQerrorMessage(test_pg_conn));
		return -1;
	}
	PQclear(PQexec(test_pg_conn, "SET client_min_messages = warning"));
	return 0;
}

/* In main, after the tests. */
static inline void
test_pg_stop(void)
{
	PQfinish(test_pg_conn);
	test_pg_conn = NULL;
}

/* Runs one statement on the tests' own connection; fails the test on an error. */
static inline void
test_pg_exec(const char *sql)
{
	PGconn *c = test_pg_admin();
	PGresult *res = PQexec(c, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
}

/* The one number a query returns (a count), -1 for none or NULL; fails the test on an error. */
static inline long
test_pg_count(const char *sql)
{
	PGconn *c = test_pg_admin();
	PGresult *res = PQexec(c, sql);
	long v = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Empties the test database: every test starts from no schema at all. */
static inline void
test_pg_empty(void)
{
	test_pg_exec("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
}

/*
 * Undoes schema 6 (queue_pg.c) on a queue, so that a test can put it back
 * at version 5 (or lower, with what the older versions added undone too)
 * and see the migration run again.
 */
#define TEST_PG_UNDO_V6 \
	"ALTER TABLE recipients DROP COLUMN bounced, DROP COLUMN bounce_status," \
	" DROP COLUMN bounce_reply, DROP COLUMN receipt, DROP COLUMN confirmed," \
	" DROP COLUMN confirmed_by, DROP COLUMN reminders, DROP COLUMN last_reminded," \
	" DROP COLUMN bounce_attempt;" \
	" ALTER TABLE issue_tiers DROP COLUMN bounced, DROP COLUMN confirmed," \
	" DROP COLUMN receipt;" \
	" DROP TABLE feedback; DROP TABLE feedback_cursors;"

/*
 * The fixtures of the tests that need one queue handle: the database
 * emptied, then opened (*state); without a server, nothing (NEED_PG skips).
 */
static inline int
test_pg_setup(void **state)
{
	char err[256];
	struct queue *q;

	if (test_pg_conninfo() == NULL)
		return 0;
	test_pg_empty();
	if (queue_open(test_pg_conninfo(), &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	*state = q;
	return 0;
}

static inline int
test_pg_teardown(void **state)
{
	queue_close(*state);
	*state = NULL;
	return 0;
}

/* Every PostgreSQL test starts here: without a server it skips, saying why. */
#define NEED_PG() do { \
	if (test_pg_conninfo() == NULL) { \
		print_message("[  SKIP    ] DISTD_TEST_PG unset: no PostgreSQL test " \
		    "server (run through `make unit`, which starts one with " \
		    "tests/integration/pgserver.py)\n"); \
		skip(); \
	} \
} while (0)

/* A retry table and a jitter of one half: the tests' backoffs are known numbers. */
static const struct queue_retry test_pg_retry = { 10, 100, 1000 };

static inline double
test_pg_half(int64_t issue, const char *tier, int attempt)
{
	(void)issue;
	(void)tier;
	(void)attempt;
	return 0.5;
}

/* A queue_render_fn: a message of a few bytes that names its issue. */
static inline char *
test_pg_render_ok(void *arg, int64_t id, const char *mid, size_t *len, char *err,
    size_t errsz)
{
	(void)arg; (void)err; (void)errsz;
	char *m = malloc(128);
	snprintf(m, 128, "Message-ID: <%s>\r\nX-Distd-Issue: %lld\r\n\r\nbody\r\n", mid,
	    (long long)id);
	*len = strlen(m);
	return m;
}

#endif
