#include "backoff.h"

int64_t
backoff_delay(int attempts, int64_t min_backoff, int64_t max_backoff, double jitter)
{
	int64_t d = min_backoff;

	for (int i = 1; i < attempts && d < max_backoff; i++)
		d *= 2;
	if (d > max_backoff)
		d = max_backoff;
	if (jitter < 0)
		jitter = 0;
	if (jitter >= 1)
		jitter = 0.999999;
	d = (int64_t)((double)d * (0.8 + 0.4 * jitter) + 0.5);
	if (d > max_backoff)
		d = max_backoff;
	return d < 1 ? 1 : d;
}

int64_t
backoff_next_attempt(int64_t now, int64_t received, int attempts,
    int64_t min_backoff, int64_t max_backoff, int64_t lifetime, double jitter)
{
	int64_t deadline = received + lifetime;
	int64_t next;

	if (now >= deadline)
		return -1;
	next = now + backoff_delay(attempts, min_backoff, max_backoff, jitter);
	return next > deadline ? deadline : next;
}

int64_t
backoff_received(int64_t received, const struct backoff_jump *jumps, size_t n)
{
	int64_t r = received;

	/*
	 * Jumps in the order seen; `at` is on the clock after each. Before a
	 * forward step the clock read at most at - by, after it at least at:
	 * unambiguous. A backward step makes the hour before it and the hour
	 * after look alike; only what is surely older (before at) moves, so
	 * that a doubt prolongs a lifetime, never cuts it short.
	 */
	for (size_t i = 0; i < n; i++) {
		const struct backoff_jump *j = &jumps[i];
		if (j->by > 0 ? r <= j->at - j->by : r < j->at)
			r += j->by;
	}
	return r;
}

int64_t
backoff_reconnect(int tries, int64_t max)
{
	int64_t d = 1;

	if (max < 1)
		max = 1;
	for (int i = 1; i < tries && d < max; i++)
		d *= 2;
	return d > max ? max : d;
}
