#ifndef DISTD_SCHEDULER_H
#define DISTD_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "queue.h"
#include "smtp.h"

/*
 * The scheduler moves due recipients from the queue to the transport and
 * results back: it keeps at most smtp.connections transactions in flight,
 * records every attempt (queue history, delivery log), raises and clears
 * alerts, finishes issues and queues failure reports. It runs in the
 * thread that owns the queue.
 */
struct scheduler {
	const struct conf *conf;	/* replaced on reload */
	struct queue *queue;
	struct smtp_pool *pool;
	bool draining;			/* shutting down: take nothing new */
	int64_t paused_until;		/* after an AUTH or TLS failure: one probe per backoff */
};

/* Takes due batches while there is room in the pool. */
void scheduler_run(struct scheduler *s, int64_t now);
/* Records the finished jobs the pool reports (after its fd was readable). */
void scheduler_collect(struct scheduler *s, int64_t now);
/*
 * When the scheduler next has something to do: 0 = now, >0 = that unix
 * time, -1 = nothing waiting (sleep until an event).
 */
int64_t scheduler_next_wakeup(struct scheduler *s, int64_t now);

/* Formats one delivery log line (pure; exposed for tests). */
char *scheduler_log_line(int64_t when, int64_t issue, const char *tier,
    const char *address, const char *relay, const struct queue_result *r,
    double delay);

#endif
