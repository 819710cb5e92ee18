#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "report.h"
#include "sbuf.h"

static double
jitter(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)rand();
	return (double)v / 4294967296.0;
}

struct scheduler_unrecorded {
	struct smtp_job *job;		/* res points into its transcript */
	struct queue_result *res;
	int64_t when;
	struct scheduler_unrecorded *next;
};

/*
 * One alert per outage, not one line per try: a full disk used to log
 * thousands of lines a second while the loop spun on the failing queue.
 */
static void
storage_failed(struct scheduler *s, const char *err, int64_t now)
{
	if (!s->storage_down) {
		log_warnx("ALERT the queue cannot be written: %s; delivery and intake "
		    "pause, results not yet recorded are kept and written when it "
		    "works again (tried every %d s)", err, SCHEDULER_STORAGE_RETRY);
		sd_notifyf(0, "STATUS=paused: the queue cannot be written: %s", err);
	}
	s->storage_down = true;
	s->storage_retry_at = now + SCHEDULER_STORAGE_RETRY;
}

static void
storage_ok(struct scheduler *s)
{
	if (s->storage_down)
		log_info("the queue can be written again: delivery and intake resume");
	s->storage_down = false;
	s->storage_retry_at = 0;
}

static void
log_results(struct scheduler *s, const struct queue_batch *b,
    const struct queue_result *res, int64_t when, double duration)
{
	for (size_t i = 0; i < b->n; i++) {
		char *line = scheduler_log_line(when, b->issue, b->tiers[i],
		    b->addresses[i], smtp_pool_relay(s->pool), &res[i], duration);
		delivery_log_write(line);
		free(line);
	}
}

/* Records one finished transaction; 0, or -1 with err (nothing written). */
static int
record(struct scheduler *s, struct smtp_job *job, struct queue_result *res, int64_t when,
    char *err, size_t errsz)
{
	struct queue_batch *b = job->batch;
	struct queue_retry retry = { s->conf->retry.min_backoff,
		s->conf->retry.max_backoff, s->conf->retry.lifetime };

	if (queue_record(s->queue, b, res, when, job->duration,
	    smtp_pool_relay(s->pool), &retry, jitter, err, errsz) < 0)
		return -1;
	log_results(s, b, res, when, job->duration);
	return 0;
}

/* Writes the results kept during an outage, oldest first; 0 when none is left. */
static int
flush_unrecorded(struct scheduler *s, int64_t now)
{
	char err[512];

	while (s->unrecorded != NULL) {
		struct scheduler_unrecorded *u = s->unrecorded;
		if (record(s, u->job, u->res, u->when, err, sizeof(err)) < 0) {
			storage_failed(s, err, now);
			return -1;
		}
		s->unrecorded = u->next;
		if (s->unrecorded == NULL)
			s->unrecorded_tail = NULL;
		free(u->res);
		smtp_job_free(u->job);
		free(u);
	}
	return 0;
}

int
scheduler_record_kept(struct scheduler *s, int64_t now)
{
	return flush_unrecorded(s, now);
}

void
scheduler_flush(struct scheduler *s, int64_t now)
{
	size_t left = 0;

	flush_unrecorded(s, now);
	while (s->unrecorded != NULL) {
		struct scheduler_unrecorded *u = s->unrecorded;
		left += u->job->batch->n;
		s->unrecorded = u->next;
		free(u->res);
		smtp_job_free(u->job);
		free(u);
	}
	s->unrecorded_tail = NULL;
	if (left > 0)
		log_warnx("the results of %zu recipient(s) could not be recorded before "
		    "stopping; they stay in flight and are retried as possible duplicates "
		    "at the next start", left);
}

void
scheduler_clock_jump(struct scheduler *s, int64_t wall, int64_t by)
{
	char err[512];

	if (s->n_jumps == SCHEDULER_JUMPS) {
		/* the oldest step matters to the fewest issues: drop it */
		memmove(s->jumps, s->jumps + 1, (SCHEDULER_JUMPS - 1) * sizeof(s->jumps[0]));
		s->n_jumps--;
	}
	s->jumps[s->n_jumps++] = (struct backoff_jump){ wall, by };
	if (s->paused_until > 0)
		s->paused_until += by;
	if (s->storage_retry_at > 0)
		s->storage_retry_at += by;
	/*
	 * Only what was set on the old clock moves. After a forward step, a
	 * time set on the new one (a distctl retry before this was seen) is
	 * at least the old clock's now + by; the old clock's times reach at
	 * most its now + max_backoff (a backward step may move anything: it
	 * only makes it due sooner).
	 */
	int64_t before = by > 0 ? wall - by + s->conf->retry.max_backoff + 1 : INT64_MAX;
	if (queue_clock_step(s->queue, by, before, err, sizeof(err)) < 0)
		log_warnx("retry times not moved with the clock: %s", err);
}

void
scheduler_run(struct scheduler *s, int64_t now)
{
	size_t room, n = 0;
	struct queue_batch **batches;
	char err[512];

	if (s->draining || now < s->paused_until)
		return;
	if (s->storage_down) {
		if (now < s->storage_retry_at || flush_unrecorded(s, now) < 0)
			return;
	}
	size_t busy = smtp_pool_busy(s->pool);
	/* the pool's size, not the configuration's: a reload does not add threads */
	size_t connections = smtp_pool_size(s->pool);
	if (busy >= connections)
		return;
	room = connections - busy;
	if (s->paused_until > 0) {
		/* probing after an AUTH/TLS failure: one transaction at a time */
		if (busy > 0)
			return;
		room = 1;
	}
	batches = xcalloc(room, sizeof(*batches));
	if (queue_take(s->queue, now, room, (size_t)s->conf->smtp.max_rcpt_per_message,
	    batches, &n, err, sizeof(err)) < 0)
		storage_failed(s, err, now);
	/* taking nothing wrote nothing: only a write says the outage is over */
	else if (s->storage_down && n == 0 && queue_probe_write(s->queue, err,
	    sizeof(err)) < 0)
		storage_failed(s, err, now);
	else
		storage_ok(s);
	for (size_t i = 0; i < n; i++) {
		struct smtp_job *job = xcalloc(1, sizeof(*job));
		job->batch = batches[i];
		log_debug("issue %lld: transaction to %zu recipient(s)",
		    (long long)batches[i]->issue, batches[i]->n);
		smtp_pool_submit(s->pool, job);
	}
	free(batches);
}

static void
put_quoted(struct sbuf *b, const char *s)
{
	sbuf_putc(b, '"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			sbuf_putc(b, '\\');
		if (*s == '\r' || *s == '\n')
			sbuf_putc(b, ' ');
		else
			sbuf_putc(b, *s);
	}
	sbuf_putc(b, '"');
}

char *
scheduler_log_line(int64_t when, int64_t issue, const char *tier, const char *address,
    const char *relay, const struct queue_result *r, double delay)
{
	struct sbuf b = SBUF_INIT;
	char stamp[64];
	struct tm tm;
	time_t t = (time_t)when;

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm);
	/* ISO 8601 wants +08:00, strftime gives +0800 */
	size_t sl = strlen(stamp);
	if (sl >= 5) {
		memmove(stamp + sl - 1, stamp + sl - 2, 3);
		stamp[sl - 2] = ':';
	}
	sbuf_printf(&b, "%s issue=%lld tier=%s to=<%s> relay=%s status=%s", stamp,
	    (long long)issue, tier, address, relay, r->status);
	if (r->class && strcmp(r->class, "ok") != 0)
		sbuf_printf(&b, " class=%s", r->class);
	if (r->code)
		sbuf_printf(&b, " code=%d", r->code);
	if (r->dsn)
		sbuf_printf(&b, " dsn=%s", r->dsn);
	sbuf_printf(&b, " delay=%.2f attempt=%d", delay, r->attempt);
	if (r->next_attempt > 0) {
		char next[32];
		t = (time_t)r->next_attempt;
		localtime_r(&t, &tm);
		strftime(next, sizeof(next), "%Y-%m-%dT%H:%M:%S", &tm);
		sbuf_printf(&b, " next=%s", next);
	}
	if (r->possible_duplicate)
		sbuf_puts(&b, " note=possible-duplicate");
	sbuf_puts(&b, " reply=");
	put_quoted(&b, r->reply ? r->reply : "");
	return sbuf_steal(&b);
}

/*
 * A relay that refuses our credentials or our TLS refuses every batch:
 * defer everything and send one probe per min_backoff instead of hammering
 * it (repeated failed logins can lock the account).
 */
static void
pause(struct scheduler *s, int64_t now)
{
	s->paused_until = now + s->conf->retry.min_backoff;
}

static void
alerts(struct scheduler *s, const struct queue_result *res, size_t n, int64_t now)
{
	bool ok = false;

	for (size_t i = 0; i < n; i++) {
		const struct queue_result *r = &res[i];
		char text[600];
		if (r->outcome == QUEUE_OK) {
			ok = true;
		} else if (strcmp(r->class, "tls") == 0) {
			snprintf(text, sizeof(text), "TLS with the relay %s failed: %s; "
			    "nothing is sent until it works", smtp_pool_relay(s->pool),
			    r->reply ? r->reply : "");
			queue_alert(s->queue, "tls", text, now);
			log_warnx("ALERT %s", text);
			pause(s, now);
			return;
		} else if (strcmp(r->class, "auth") == 0 &&
		    (r->code == 535 || r->code == 530 || r->code == 0)) {
			snprintf(text, sizeof(text), "the relay %s refused our credentials "
			    "(%s); check smtp.username and the password; recipients are "
			    "deferred, not bounced", smtp_pool_relay(s->pool),
			    r->reply ? r->reply : "");
			queue_alert(s->queue, "auth", text, now);
			log_warnx("ALERT %s", text);
			pause(s, now);
			return;
		}
	}
	if (ok) {
		queue_clear_alert(s->queue, "tls");
		queue_clear_alert(s->queue, "auth");
		s->paused_until = 0;
	}
}

static void
finish_issues(struct scheduler *s, int64_t now)
{
	int64_t *report;
	size_t n;
	char err[512];

	if (queue_finish(s->queue, now, &report, &n, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (report_enqueue(s->conf, s->queue, report[i], now, err, sizeof(err)) < 0)
			log_warnx("failure report for issue %lld: %s", (long long)report[i], err);
		else
			log_info("issue %lld finished with failed recipients; report "
			    "queued for %s", (long long)report[i], s->conf->sender.admin);
	}
	free(report);
}

void
scheduler_collect(struct scheduler *s, int64_t now)
{
	struct smtp_job *list = smtp_pool_collect(s->pool);
	char err[512];

	/* earlier results first, so that the history keeps its order */
	if (s->unrecorded != NULL)
		flush_unrecorded(s, now);
	while (list) {
		struct smtp_job *job = list;
		struct queue_batch *b = job->batch;
		struct queue_result *res = xcalloc(b->n, sizeof(*res));
		list = job->next;
		job->next = NULL;

		smtp_outcome(&job->transcript, job->curl_code, job->curl_error, b->n, res);
		bool data_sent = smtp_transcript_data_sent(&job->transcript);
		for (size_t i = 0; i < b->n; i++) {
			res[i].id = b->ids[i];
			/* cut after the data went out: it may have arrived */
			if (data_sent && res[i].outcome == QUEUE_TEMP)
				b->possible_duplicate[i] = true;
		}
		/* the lifetime runs on the arrival time with clock steps taken out */
		b->received = backoff_received(b->received, s->jumps, s->n_jumps);
		/* alerts first: whoever sees the new states sees the alerts that go with them */
		alerts(s, res, b->n, now);
		if (s->unrecorded != NULL ||
		    record(s, job, res, now, err, sizeof(err)) < 0) {
			/* kept, not dropped: the rows stay 'sending' until written */
			if (s->unrecorded == NULL)
				storage_failed(s, err, now);
			struct scheduler_unrecorded *u = xcalloc(1, sizeof(*u));
			*u = (struct scheduler_unrecorded){ job, res, now, NULL };
			if (s->unrecorded_tail)
				s->unrecorded_tail->next = u;
			else
				s->unrecorded = u;
			s->unrecorded_tail = u;
			continue;
		}
		free(res);
		smtp_job_free(job);
	}
	if (!s->storage_down)
		finish_issues(s, now);
}

int64_t
scheduler_next_wakeup(struct scheduler *s, int64_t now)
{
	int64_t when;

	if (s->draining)
		return -1;
	if (s->storage_down)
		return s->storage_retry_at <= now ? 0 : s->storage_retry_at;
	if (smtp_pool_busy(s->pool) >= smtp_pool_size(s->pool))
		return -1;	/* a completion will wake us */
	if (queue_next_due(s->queue, &when) != 0)
		return -1;
	if (when < s->paused_until)
		when = s->paused_until;
	return when <= now ? 0 : when;
}
