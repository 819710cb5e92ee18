#ifndef DISTD_RETENTION_H
#define DISTD_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/*
 * Retention: finished issues whose last activity is older than
 * retention.history leave the live queue. Before an issue's rows go, its
 * distribution record (record.h) is filed as ARCHIVE/records/NAME.html
 * and NAME.csv, each written to a temporary file, fsynced, renamed into
 * place and the folder fsynced; only then are the rows deleted, in one
 * transaction per slice. A crash in between files the same record again
 * next time (the name and the content depend only on the rows), so distd
 * and distctl purge may run at once. The delivery log is not touched.
 *
 * Errors: 0 on success, -1 with a message in err naming the file or the
 * queue.
 */

/* Issues (families) per transaction: a slice is short beside a delivery. */
#define RETENTION_SLICE 50
/* A pass a day: retention adds no other wake-up. */
#define RETENTION_PERIOD 86400

struct retention_tally {
	size_t families, issues, recipients;
	int64_t oldest, newest;		/* received, of the roots; 0 when none */
};

/*
 * NAME for an issue: "<id>-<yyyymmdd>-<sha8>", the day it was received
 * (local time) and the first 8 hex digits of the SHA-256 of its
 * Message-ID, so that a queue started afresh (ids from 1 again) never
 * overwrites an older record of the same id.
 */
void retention_record_name(char *buf, size_t n, const struct queue_record *r);

/* Files the record of r under archive/records (created 2770 when missing). */
int retention_write_record(const char *archive, const struct queue_record *r,
    char *err, size_t errsz);

/*
 * One slice: up to `slice` families that may go (last activity before
 * `before`), walking on from *cur. Without dry_run, files their records
 * and deletes them; with it, only counts. Adds to *t. Returns 0 (cur->end
 * when the walk is over) or -1 with err.
 */
int retention_slice(struct queue *q, const char *archive, int64_t before, size_t slice,
    bool dry_run, struct queue_purge_cursor *cur, struct retention_tally *t,
    char *err, size_t errsz);

/* The daemon's pass, one slice per call. */
struct retention {
	int64_t next;			/* when the next pass starts; 0: at once */
	bool running;
	int64_t before;
	struct queue_purge_cursor cur;
	struct retention_tally tally;
};

/*
 * Runs one slice when a pass is due or under way (history: seconds, 0 =
 * off). Returns the milliseconds until it wants to run again: 0 while a
 * pass is under way, else the time to the next day's pass (-1: never).
 * Logs what each pass did.
 */
int retention_step(struct retention *r, struct queue *q, const char *archive,
    long history, int64_t now);

#endif
