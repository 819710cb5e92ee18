#ifndef DISTD_BACKOFF_H
#define DISTD_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Retry timing (pure). The queue stores facts (when the issue arrived,
 * how many attempts a recipient had); the next try is computed from them.
 */

/*
 * Delay before retry number `attempts` (1 = after the first failure):
 * min_backoff doubled per attempt, capped at max_backoff, then spread by
 * ±20 % with jitter in [0, 1) so that recipients deferred together do not
 * retry in lock-step. Never below 1 s or above max_backoff.
 */
int64_t backoff_delay(int attempts, int64_t min_backoff, int64_t max_backoff,
    double jitter);

/*
 * When to try again after a temporary failure at `now`, or -1 when the
 * recipient has expired: its lifetime started at `received` and `lifetime`
 * seconds have passed. The last try is scheduled at the lifetime's end,
 * never after it.
 */
int64_t backoff_next_attempt(int64_t now, int64_t received, int attempts,
    int64_t min_backoff, int64_t max_backoff, int64_t lifetime, double jitter);

/* A step of the wall clock seen while running: at `at` (wall time after it), by `by` s. */
struct backoff_jump {
	int64_t at, by;
};

/*
 * The arrival time to count a lifetime from, with the clock steps taken
 * out: every step seen after `received` moves it by the step, so that a
 * forward correction of days does not expire a recipient and a backward
 * one does not prolong it. Pure.
 */
int64_t backoff_received(int64_t received, const struct backoff_jump *jumps, size_t n);

/*
 * The wait before try number `tries` (1 = the first, counted from the
 * loss) to reach a queue server again: 1 s, doubled per try, capped at
 * `max` (the daemon's 60 s): 1, 2, 4 … 32, 60, 60 … No jitter: one
 * daemon tries one server. Pure; tries below 1 count as 1, a max below
 * 1 as 1.
 */
int64_t backoff_reconnect(int tries, int64_t max);

#endif
