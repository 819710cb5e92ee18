#ifndef DISTD_QUEUE_TEST_H
#define DISTD_QUEUE_TEST_H

/*
 * For unit tests only, never for code that ships: the SQLite handle
 * behind a queue, for tests whose point is a fact of storage (a row as
 * stored, a query plan, a trigger that makes a write fail). Everything
 * else reads through queue.h's views. Header-only, so that the library
 * exports no handle.
 */

#include "queue.h"
#include "queue_private.h"

static inline sqlite3 *
queue_test_db(struct queue *q)
{
	return q->db;
}

#endif
