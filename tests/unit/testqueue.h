#ifndef DISTD_TESTQUEUE_H
#define DISTD_TESTQUEUE_H

/*
 * Fixtures for the unit tests of modules that sit on the queue or the
 * configuration (queue_ctl, adminmail, notice, preview, preflight):
 * header-only like testutil.h, which it needs included first.
 */

#include "conf.h"
#include "queue.h"

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

/* A fresh queue at /tmp/distd-NAME-PID.db; path (at least 64 bytes) keeps its name. */
static inline struct queue *
test_queue_open(const char *name, char *path, size_t pathsz)
{
	struct queue *q;
	char err[256];

	snprintf(path, pathsz, "/tmp/distd-%s-%d.db", name, (int)getpid());
	unlink(path);
	if (queue_open(path, &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return q;
}

/* Closes q and removes its database with the -wal and -shm files. */
static inline void
test_queue_remove(struct queue *q, const char *path)
{
	char p[300];

	queue_close(q);
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
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
	char path[64];
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
