#ifndef DISTD_SCHEDULER_H
#define DISTD_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#include "conf.h"

#include "smtp.h"

/*
 * The scheduler moves due recipients from the queue to the transport and
 * results back: it keeps one transaction running and one ready per
 * connection (scheduler_capacity),
 * records every attempt (queue history, delivery log), raises and clears
 * alerts, finishes issues and queues failure reports. It runs in the
 * thread that owns the queue.
 */
struct scheduler;

/*
 * A scheduler taking from q and handing to pool, configured by c. All
 * three are borrowed and must outlive it (c until the next
 * scheduler_reconfigure). Never fails (allocation failure aborts).
 */
struct scheduler *scheduler_new(const struct conf *c, struct queue *q,
    struct smtp_pool *pool);
/*
 * Frees s; results still kept through a storage outage are dropped
 * (scheduler_flush first tries to record them). NULL is a no-op.
 */
void scheduler_free(struct scheduler *s);
/* After a reload: c (borrowed) replaces the configuration from now on. */
void scheduler_reconfigure(struct scheduler *s, const struct conf *c);
/* The admin asks for a try now: lifts a pause after an AUTH or TLS failure. */
void scheduler_resume(struct scheduler *s);
/* Shutting down: nothing new is taken from the queue from now on. */
void scheduler_drain(struct scheduler *s);
/*
 * True while the queue cannot be written (disk full, I/O error): delivery
 * and intake pause until a write works again.
 */
bool scheduler_storage_down(const struct scheduler *s);

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
/* How many recipients' results are kept, not yet recorded (a storage outage). */
size_t scheduler_kept(const struct scheduler *s);
/* The storage may work again (distd reconnected to the queue's server): the
 * next scheduler_run tries it at once instead of at its retry time. */
void scheduler_storage_retry(struct scheduler *s);
/* Records the results kept during a storage outage: 0 when none is left, else -1. */
int scheduler_record_kept(struct scheduler *s, int64_t now);
/* Tries once more to record what could not be (shutdown); frees what is left. */
void scheduler_flush(struct scheduler *s, int64_t now);

#endif
