#ifndef DISTD_SCHEDULER_H
#define DISTD_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "conf.h"
#include "queue.h"
#include "smtp.h"

/*
 * The scheduler moves due recipients from the queue to the transport and
 * results back: it keeps one transaction running and one ready per
 * connection (scheduler_capacity),
 * records every attempt (queue history, delivery log), raises and clears
 * alerts, finishes issues and queues failure reports. It runs in the
 * thread that owns the queue.
 */
#define SCHEDULER_JUMPS 16
/* How often a failing queue is tried again. */
#define SCHEDULER_STORAGE_RETRY 5

struct scheduler_unrecorded;

struct scheduler {
	const struct conf *conf;	/* replaced on reload */
	struct queue *queue;
	struct smtp_pool *pool;
	bool draining;			/* shutting down: take nothing new */
	int64_t paused_until;		/* after an AUTH or TLS failure: one probe per backoff */
	/* zero-initialised by the caller; the scheduler's own from here */
	int login_failures;		/* in a row: the probe interval doubles */
	bool login_proven;		/* a transaction got past AUTH since start or reload */
	/*
	 * Look for finished issues at the next collect whatever it carried:
	 * false at start (an issue left active by a crash) and after distctl
	 * changed the queue; otherwise only when a collected issue has no
	 * transaction left in the pool (while it has one, it has a row
	 * `sending` and cannot be finished).
	 */
	bool finish_checked;
	bool deferred_raised;		/* the "deferred" alert stands (as far as we know) */
	int64_t deferred_updated;
	uint64_t cred_hash;		/* of the credentials that failed */
	char relay[300];		/* what relay_size and relay_max_rcpt are of */
	long relay_size;		/* EHLO SIZE as stored: -1 unknown */
	long relay_max_rcpt;		/* recipients accepted before a 452; 0 none */
	int64_t deferred_wake;		/* when the "deferred" alert falls due */
	int64_t deferred_checked;
	int64_t rate_until;		/* a rate limit holds until then */
	/* rate limits: transactions per second of the last minute, recipients
	 * per minute of the last hour (ring buffers stamped with their time) */
	struct { int64_t t; long n; } msg_sec[60], rcpt_min[60];
	/*
	 * The queue cannot be written (disk full, I/O error): delivery and
	 * intake pause, results that could not be recorded wait here (in
	 * order) and are written when the storage works again, so that no
	 * recipient stays `sending` and nothing is sent twice.
	 */
	bool storage_down;
	int64_t storage_retry_at;
	struct scheduler_unrecorded *unrecorded, *unrecorded_tail;
	/* wall-clock steps seen while running (the oldest first) */
	struct backoff_jump jumps[SCHEDULER_JUMPS];
	size_t n_jumps;
};

/*
 * How many jobs the pool may hold, queued and running (pure): two per
 * connection, so that each has its next transaction ready; connections
 * when a rate limit is set (a job is counted as it is taken and must
 * start then); 1 while one transaction at a time is wanted (no login
 * proven yet, probing after an AUTH/TLS failure).
 */
size_t scheduler_capacity(size_t connections, bool one_at_a_time, bool rate_limited);
/*
 * Gives the jobs that have not started back to the queue (queued again,
 * untried): after a pause or a new recipient limit, and when distctl
 * changed the queue (a cancel must not be followed by a send).
 */
void scheduler_requeue_unstarted(struct scheduler *s);
/* distctl changed the queue: scheduler_requeue_unstarted, and finished
 * issues are looked for at the next collect. */
void scheduler_queue_changed(struct scheduler *s);
/* Takes due batches while there is room in the pool. */
void scheduler_run(struct scheduler *s, int64_t now);
/* Records the finished jobs the pool reports (after its fd was readable). */
void scheduler_collect(struct scheduler *s, int64_t now);
/*
 * When the scheduler next has something to do: 0 = now, >0 = that unix
 * time, -1 = nothing waiting (sleep until an event).
 */
int64_t scheduler_next_wakeup(struct scheduler *s, int64_t now);

/*
 * The retry spread of one issue, tier and attempt (queue_jitter_fn):
 * the same for all of them within this process, different across.
 */
double scheduler_group_jitter(int64_t issue, const char *tier, int attempt);

/*
 * The wall clock stepped by `by` seconds (now reads `wall`): waiting
 * recipients keep their waits and the step is not counted toward their
 * lifetime.
 */
void scheduler_clock_jump(struct scheduler *s, int64_t wall, int64_t by);
/* Records the results kept during a storage outage: 0 when none is left, else -1. */
int scheduler_record_kept(struct scheduler *s, int64_t now);
/* Tries once more to record what could not be (shutdown); frees what is left. */
void scheduler_flush(struct scheduler *s, int64_t now);

/* Formats one delivery log line (pure; exposed for tests). */
char *scheduler_log_line(int64_t when, int64_t issue, const char *tier,
    const char *address, const char *relay, const struct smtp_verdict *v,
    const struct queue_attempt *a, double delay);

#endif
