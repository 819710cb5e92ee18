#ifndef DISTD_QUEUE_PG_H
#define DISTD_QUEUE_PG_H

/*
 * The PostgreSQL backend's operations that live in queue_pg_ctl.c (the
 * steering SQL), for queue_pg.c's ops table.
 * Contracts: the queue.h functions of the same names.
 */

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

int queue_pg_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
    char *err, size_t errsz);
int queue_pg_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int queue_pg_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
int queue_pg_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);

#endif
