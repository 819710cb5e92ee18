#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

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

void
scheduler_run(struct scheduler *s, int64_t now)
{
	size_t room, n = 0;
	struct queue_batch **batches;
	char err[512];

	if (s->draining || now < s->paused_until)
		return;
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
		log_warnx("scheduler: %s", err);
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
	struct queue_retry retry = { s->conf->retry.min_backoff,
		s->conf->retry.max_backoff, s->conf->retry.lifetime };
	char err[512];

	while (list) {
		struct smtp_job *job = list;
		struct queue_batch *b = job->batch;
		struct queue_result *res = xcalloc(b->n, sizeof(*res));
		list = job->next;

		smtp_outcome(&job->transcript, job->curl_code, job->curl_error, b->n, res);
		for (size_t i = 0; i < b->n; i++)
			res[i].id = b->ids[i];
		/* alerts first: whoever sees the new states sees the alerts that go with them */
		alerts(s, res, b->n, now);
		if (queue_record(s->queue, b, res, now, job->duration,
		    smtp_pool_relay(s->pool), &retry, jitter, err, sizeof(err)) < 0) {
			/* they stay 'sending' and are retried after a restart */
			log_warnx("cannot record results of issue %lld: %s",
			    (long long)b->issue, err);
		} else {
			for (size_t i = 0; i < b->n; i++) {
				char *line = scheduler_log_line(now, b->issue, b->tiers[i],
				    b->addresses[i], smtp_pool_relay(s->pool), &res[i],
				    job->duration);
				delivery_log_write(line);
				free(line);
			}
		}
		free(res);
		smtp_job_free(job);
	}
	finish_issues(s, now);
}

int64_t
scheduler_next_wakeup(struct scheduler *s, int64_t now)
{
	int64_t when;

	if (s->draining)
		return -1;
	if (smtp_pool_busy(s->pool) >= smtp_pool_size(s->pool))
		return -1;	/* a completion will wake us */
	if (queue_next_due(s->queue, &when) != 0)
		return -1;
	if (when < s->paused_until)
		when = s->paused_until;
	return when <= now ? 0 : when;
}
