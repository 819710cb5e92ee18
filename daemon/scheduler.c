#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "sbuf.h"
#include "xalloc.h"

#include "backoff.h"

#include "delivery_log.h"
#include "failure_report.h"

#define SCHEDULER_JUMPS 16
/* How often a failing queue is tried again (seconds). */
#define SCHEDULER_STORAGE_RETRY 5

struct scheduler {
	const struct conf *conf;	/* replaced on reload */
	struct queue *queue;
	struct smtp_pool *pool;
	bool draining;			/* shutting down: take nothing new */
	int64_t paused_until;		/* after an AUTH or TLS failure: one probe per backoff */
	/* zero-initialised by scheduler_new; the scheduler's own from here */
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
	bool storage_quiet;	/* down because the server connection is lost: distd says so */
	int64_t storage_retry_at;
	struct scheduler_unrecorded *unrecorded, *unrecorded_tail;
	/* wall-clock steps seen while running (the oldest first) */
	struct backoff_jump jumps[SCHEDULER_JUMPS];
	size_t n_jumps;
};

struct scheduler *
scheduler_new(const struct conf *c, struct queue *q, struct smtp_pool *pool)
{
	struct scheduler *s = xcalloc(1, sizeof(*s));

	s->conf = c;
	s->queue = q;
	s->pool = pool;
	return s;
}

void
scheduler_reconfigure(struct scheduler *s, const struct conf *c)
{
	s->conf = c;
}

void
scheduler_resume(struct scheduler *s)
{
	s->paused_until = 0;
}

void
scheduler_drain(struct scheduler *s)
{
	s->draining = true;
}

bool
scheduler_storage_down(const struct scheduler *s)
{
	return s->storage_down;
}

static uint64_t
fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * Per-recipient jitter split one outage's retries into many transactions
 * (2 messages became 13). The spread is per issue, tier and attempt
 * instead: recipients deferred together retry together, and different
 * issues still spread apart. A random seed per process keeps issues of
 * different offices' daemons from lining up.
 */
double
scheduler_group_jitter(int64_t issue, const char *tier, int attempt)
{
	static uint64_t seed;
	uint64_t h;

	if (seed == 0 && getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) | 1;
	h = fnv(0xcbf29ce484222325ULL ^ seed, &issue, sizeof(issue));
	h = fnv(h, tier ? tier : "", tier ? strlen(tier) : 0);
	h = fnv(h, &attempt, sizeof(attempt));
	return (double)(h >> 11) / 9007199254740992.0;	/* 53 bits → [0, 1) */
}

static uint64_t
cred_hash(const struct conf *c)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (c->smtp.username)
		h = fnv(h, c->smtp.username, strlen(c->smtp.username) + 1);
	if (c->smtp.password)
		h = fnv(h, c->smtp.password, strlen(c->smtp.password) + 1);
	return fnv(h, c->smtp.url, strlen(c->smtp.url));
}

/* What the queue knows of the relay, read again when the relay changes. */
static void
relay_facts(struct scheduler *s)
{
	const char *relay = smtp_pool_relay(s->pool);

	if (strcmp(relay, s->relay) == 0)
		return;
	snprintf(s->relay, sizeof(s->relay), "%s", relay);
	if (queue_relay_get(s->queue, relay, &s->relay_size, &s->relay_max_rcpt) != 0) {
		s->relay_size = -1;
		s->relay_max_rcpt = 0;
	}
}

/* Transactions started in the last minute, recipients in the last hour. */
static long
window_sum(const struct scheduler *s, bool rcpt, int64_t now, int64_t *oldest)
{
	long sum = 0;

	*oldest = 0;
	for (size_t i = 0; i < 60; i++) {
		int64_t t = rcpt ? s->rcpt_min[i].t : s->msg_sec[i].t;
		long n = rcpt ? s->rcpt_min[i].n : s->msg_sec[i].n;
		int64_t age = rcpt ? now / 60 - t : now - t;
		if (n == 0 || age >= 60 || age < 0)
			continue;
		sum += n;
		if (*oldest == 0 || t < *oldest)
			*oldest = t;
	}
	return sum;
}

static void
count_sent(struct scheduler *s, int64_t now, size_t rcpts)
{
	size_t i = (size_t)(now % 60), j = (size_t)((now / 60) % 60);

	if (s->msg_sec[i].t != now)
		s->msg_sec[i].t = now, s->msg_sec[i].n = 0;
	s->msg_sec[i].n++;
	if (s->rcpt_min[j].t != now / 60)
		s->rcpt_min[j].t = now / 60, s->rcpt_min[j].n = 0;
	s->rcpt_min[j].n += (long)rcpts;
}

/*
 * How many transactions of how many recipients the rate limits allow now
 * (*max_rcpt lowered); 0 with *until the time a slot frees up.
 */
static size_t
rate_room(struct scheduler *s, int64_t now, size_t room, size_t *max_rcpt, int64_t *until)
{
	const struct conf *c = s->conf;
	int64_t oldest;

	*until = 0;
	if (c->smtp.max_messages_per_minute > 0) {
		long used = window_sum(s, false, now, &oldest);
		if (used >= c->smtp.max_messages_per_minute) {
			*until = oldest + 60;
			return 0;
		}
		if ((long)room > c->smtp.max_messages_per_minute - used)
			room = (size_t)(c->smtp.max_messages_per_minute - used);
	}
	if (c->smtp.max_recipients_per_hour > 0) {
		long used = window_sum(s, true, now, &oldest);
		if (used >= c->smtp.max_recipients_per_hour) {
			*until = (oldest + 60) * 60;
			return 0;
		}
		if ((long)*max_rcpt > c->smtp.max_recipients_per_hour - used)
			*max_rcpt = (size_t)(c->smtp.max_recipients_per_hour - used);
		/* one transaction at a time so that the hour's count stays exact */
		room = 1;
	}
	return room;
}

static void deferred_alert(struct scheduler *s, int64_t now);
struct scheduler_unrecorded {
	struct smtp_job *job;		/* verdicts' replies point into its transcript */
	struct smtp_verdict *verdicts;	/* job->batch->n each */
	bool *again;
	struct queue_attempt *attempts;	/* filled in when recorded */
	int64_t when;
	int64_t received;		/* the lifetime's start, clock steps taken out */
	struct scheduler_unrecorded *next;
};

/*
 * One alert per outage, not one line per try: a full disk used to log
 * thousands of lines a second while the loop spun on the failing queue.
 */
static void
storage_failed(struct scheduler *s, const char *err, int64_t now)
{
	char why[512];

	/* a lost server connection is distd's to report (and reconnect), once */
	if (!s->storage_down)
		s->storage_quiet = queue_check_file(s->queue, why, sizeof(why)) > 0;
	if (!s->storage_down && !s->storage_quiet) {
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
	if (s->storage_down && !s->storage_quiet)
		log_info("the queue can be written again: delivery and intake resume");
	s->storage_down = false;
	s->storage_retry_at = 0;
}

/* The relay a job went to, for logs and alerts. */
static const char *
job_relay(const struct smtp_job *job)
{
	return job->via_fallback && job->fallback_relay[0] ? job->fallback_relay :
	    job->relay;
}

static void
log_results(struct delivery_log_batch *out, const struct scheduler_unrecorded *u)
{
	const struct smtp_job *job = u->job;
	const struct queue_batch *b = job->batch;

	for (size_t i = 0; i < b->n; i++) {
		struct delivery_log_entry e;
		delivery_log_entry_from_result(&e, u->when, b->issue, b->tiers[i],
		    b->addresses[i], job_relay(job), &u->verdicts[i], &u->attempts[i],
		    job->duration);
		delivery_log_batch_add(out, &e);
	}
}

static void
unrecorded_free_arrays(struct scheduler_unrecorded *u)
{
	free(u->verdicts);
	free(u->again);
	free(u->attempts);
}

/*
 * Writes every result waiting (the finished transactions just collected,
 * and any kept through a storage outage), oldest first, in one queue
 * transaction and their delivery log lines in one write; 0 when none is
 * left. All or nothing: on failure they all stay kept, in order.
 */
static int
flush_unrecorded(struct scheduler *s, int64_t now)
{
	char err[512];
	size_t n = 0, i = 0;
	struct queue_retry retry = { s->conf->retry.min_backoff,
		s->conf->retry.max_backoff, s->conf->retry.lifetime };

	for (struct scheduler_unrecorded *u = s->unrecorded; u; u = u->next)
		n++;
	if (n == 0)
		return 0;
	struct queue_record_in *in = xcalloc(n, sizeof(*in));
	for (struct scheduler_unrecorded *u = s->unrecorded; u; u = u->next, i++)
		in[i] = (struct queue_record_in){ u->job->batch, u->verdicts, u->again,
			u->attempts, u->when, u->job->duration, job_relay(u->job), u->received };
	int rc = queue_record_many(s->queue, in, n, &retry, scheduler_group_jitter,
	    err, sizeof(err));
	free(in);
	if (rc < 0) {
		storage_failed(s, err, now);
		return -1;
	}
	if (rc > 0)
		log_warnx("%d result(s) came after another node took the recipients over "
		    "(this node's heartbeat lapsed): kept in the history as possible "
		    "duplicates; the other node's outcome stands", rc);
	struct delivery_log_batch lines = DELIVERY_LOG_BATCH_INIT;
	while (s->unrecorded != NULL) {
		struct scheduler_unrecorded *u = s->unrecorded;
		log_results(&lines, u);
		s->unrecorded = u->next;
		unrecorded_free_arrays(u);
		smtp_job_free(u->job);
		free(u);
	}
	s->unrecorded_tail = NULL;
	delivery_log_batch_write(&lines);
	return 0;
}

size_t
scheduler_kept(const struct scheduler *s)
{
	size_t n = 0;

	for (const struct scheduler_unrecorded *u = s->unrecorded; u; u = u->next)
		n += u->job->batch->n;
	return n;
}

void
scheduler_storage_retry(struct scheduler *s)
{
	if (s->storage_down)
		s->storage_retry_at = 0;
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
		unrecorded_free_arrays(u);
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

size_t
scheduler_capacity(size_t connections, bool one_at_a_time, bool rate_limited)
{
	if (one_at_a_time)
		return 1;
	/*
	 * Rate limits count a transaction when it is taken; a job waiting
	 * behind a running one would start later than it was counted, so
	 * under a limit every job starts as it is submitted.
	 */
	if (rate_limited)
		return connections;
	/* one running and one ready per connection: a worker that finishes
	 * starts the next transaction at once, while this thread records */
	return 2 * connections;
}

/* How many jobs the pool may hold now, queued or running. */
static size_t
pool_capacity(const struct scheduler *s)
{
	const struct conf *c = s->conf;
	/*
	 * Until one login has worked, and while probing after an AUTH or TLS
	 * failure: one transaction at a time, so that wrong credentials cost
	 * one failed login, not one per connection.
	 */
	bool one = (!s->login_proven && c->smtp.username != NULL) || s->paused_until > 0;
	bool limited = c->smtp.max_messages_per_minute > 0 ||
	    c->smtp.max_recipients_per_hour > 0;

	/* the pool's size, not the configuration's: a reload does not add threads */
	return scheduler_capacity(smtp_pool_size(s->pool), one, limited);
}

void
scheduler_requeue_unstarted(struct scheduler *s)
{
	struct smtp_job *list = smtp_pool_reclaim(s->pool);
	char err[512];

	while (list) {
		struct smtp_job *job = list;
		list = job->next;
		job->next = NULL;
		if (queue_release_batch(s->queue, job->batch, err, sizeof(err)) < 0) {
			/* still `sending`: sent after all rather than left so */
			log_warnx("%s; the transaction goes ahead", err);
			smtp_pool_submit(s->pool, job);
			continue;
		}
		log_debug("issue %lld: %zu recipient(s) given back before sending",
		    (long long)job->batch->issue, job->batch->n);
		smtp_job_free(job);
	}
}

void
scheduler_queue_changed(struct scheduler *s)
{
	scheduler_requeue_unstarted(s);
	s->finish_checked = false;
}

void
scheduler_run(struct scheduler *s, int64_t now)
{
	size_t room, n = 0;
	struct queue_batch **batches;
	char err[512];

	if (s->paused_until > 0 && s->login_failures > 0 &&
	    cred_hash(s->conf) != s->cred_hash) {
		/* distctl reload read a new secret: try it now, with the
		 * recipients the old one deferred (not after their backoff) */
		log_info("new credentials after reload: trying the relay again");
		s->paused_until = 0;
		s->login_failures = 0;
		s->login_proven = false;
		if (queue_retry(s->queue, 0, NULL, now, err, sizeof(err)) < 0)
			log_warnx("%s", err);
	}
	if (now != s->deferred_checked)
		deferred_alert(s, now);
	if (s->draining)
		return;
	/*
	 * The outage is tried first, whatever else holds sending back (a login
	 * pause, a rate limit, a full pool): otherwise its retry time would
	 * never move, next_wakeup would say "now" for ever and the loop spin.
	 * Taking nothing writes nothing, so only a real write ends it.
	 */
	if (s->storage_down) {
		if (now < s->storage_retry_at || flush_unrecorded(s, now) < 0)
			return;
		if (queue_probe_write(s->queue, err, sizeof(err)) < 0) {
			storage_failed(s, err, now);
			return;
		}
		storage_ok(s);
	}
	if (now < s->paused_until)
		return;
	relay_facts(s);
	size_t busy = smtp_pool_busy(s->pool);
	size_t capacity = pool_capacity(s);
	if (busy >= capacity)
		return;
	room = capacity - busy;
	size_t max_rcpt = (size_t)s->conf->smtp.max_rcpt_per_message;
	if (s->relay_max_rcpt > 0 && (size_t)s->relay_max_rcpt < max_rcpt)
		max_rcpt = (size_t)s->relay_max_rcpt;	/* what a 452 taught */
	int64_t until;
	room = rate_room(s, now, room, &max_rcpt, &until);
	s->rate_until = until;
	if (room == 0) {
		log_debug("rate limit reached: nothing more is sent before %lld",
		    (long long)until);
		return;
	}
	batches = xcalloc(room, sizeof(*batches));
	if (queue_take(s->queue, now, room, max_rcpt, batches, &n, err, sizeof(err)) < 0)
		storage_failed(s, err, now);
	for (size_t i = 0; i < n; i++) {
		struct smtp_job *job = xcalloc(1, sizeof(*job));
		count_sent(s, now, batches[i]->n);
		job->batch = batches[i];
		log_debug("issue %lld: transaction to %zu recipient(s)",
		    (long long)batches[i]->issue, batches[i]->n);
		smtp_pool_submit(s->pool, job);
	}
	free(batches);
}

/*
 * A relay that refuses our credentials or our TLS refuses every batch:
 * defer everything and probe once, after min_backoff doubled per failure
 * in a row up to max_backoff — one login every min_backoff (288 a day)
 * is enough for fail2ban to ban the office's address.
 */

static void
pause(struct scheduler *s, int64_t now)
{
	/* a transaction started before the pause failed too: the same
	 * failure, not one more probe */
	if (s->paused_until > now)
		return;
	s->login_failures++;
	s->cred_hash = cred_hash(s->conf);
	/* jitter 0.5 is the exact doubling: one probe, nothing to spread */
	s->paused_until = now + backoff_delay(s->login_failures, s->conf->retry.min_backoff,
	    s->conf->retry.max_backoff, 0.5);
	log_info("relay paused after %d failure(s) in a row: next probe in %lld s",
	    s->login_failures, (long long)(s->paused_until - now));
}

static void
alerts(struct scheduler *s, const struct smtp_job *job, const struct smtp_verdict *res,
    size_t n, int64_t now)
{
	bool ok = false;
	const char *relay = job_relay(job);
	const char *secret = job->via_fallback ? s->conf->smtp.fallback.password_file :
	    s->conf->smtp.password_file;
	const char *user = job->via_fallback ? "smtp.fallback.username" : "smtp.username";

	for (size_t i = 0; i < n; i++) {
		const struct smtp_verdict *r = &res[i];
		char text[600];
		if (r->outcome == SMTP_OK) {
			ok = true;
		} else if (r->class == SMTP_CLASS_TLS) {
			snprintf(text, sizeof(text), "TLS with the relay %s failed: %s; "
			    "nothing is sent until it works", relay,
			    r->reply ? r->reply : "");
			queue_alert(s->queue, QUEUE_ALERT_TLS, text, now);
			log_warnx("ALERT %s", text);
			pause(s, now);
			return;
		} else if (r->class == SMTP_CLASS_AUTH &&
		    (r->code == 535 || r->code == 530 || r->code == 0)) {
			snprintf(text, sizeof(text), "the relay %s refused our credentials "
			    "(%s); recipients are deferred, not bounced, and the relay is "
			    "probed with backoff; fix %s or the password in %s, "
			    "then run `distctl reload`", relay, r->reply ? r->reply : "",
			    user, secret ? secret : "the systemd credential");
			queue_alert(s->queue, QUEUE_ALERT_AUTH, text, now);
			log_warnx("ALERT %s", text);
			pause(s, now);
			return;
		}
	}
	if (ok) {
		queue_clear_alert(s->queue, QUEUE_ALERT_TLS);
		queue_clear_alert(s->queue, QUEUE_ALERT_AUTH);
		s->paused_until = 0;
		s->login_failures = 0;
	}
	/* delivered through the fallback: the admin must still hear that the
	 * primary failed; a delivery through the primary ends it */
	if (ok && job->via_fallback && job->primary_error[0]) {
		char text[700];
		snprintf(text, sizeof(text), "the relay %s failed (%s): mail goes through "
		    "the fallback %s until it works again", smtp_pool_relay(s->pool),
		    job->primary_error, relay);
		queue_alert(s->queue, QUEUE_ALERT_FALLBACK, text, now);
		log_warnx("ALERT %s", text);
	} else if (ok && !job->via_fallback) {
		queue_clear_alert(s->queue, QUEUE_ALERT_FALLBACK);
	}
}

/*
 * "452 4.5.3 Too many recipients" is the relay's batch size, not a verdict:
 * those recipients go again at once (not counted as an attempt) and later
 * batches to this relay are no larger than what it accepted. When it
 * accepted none, they defer as usual, so a relay that refuses every
 * recipient this way cannot make us loop.
 */
static void
rcpt_limit(struct scheduler *s, const struct smtp_job *job,
    const struct smtp_verdict *res, bool *again, int64_t now)
{
	const struct smtp_transcript *t = &job->transcript;
	size_t accepted = 0, limited = 0;

	for (size_t i = 0; i < t->n_rcpt; i++)
		if (t->rcpt_code[i] >= 200 && t->rcpt_code[i] < 300)
			accepted++;
	for (size_t i = 0; i < job->batch->n; i++)
		if (res[i].outcome == SMTP_TEMP && res[i].class == SMTP_CLASS_LIMIT)
			limited++;
	if (limited == 0 || accepted == 0)
		return;
	for (size_t i = 0; i < job->batch->n; i++)
		if (res[i].outcome == SMTP_TEMP && res[i].class == SMTP_CLASS_LIMIT)
			again[i] = true;
	if (job->via_fallback)
		return;		/* the primary's batch size stays its own */
	relay_facts(s);
	if (s->relay_max_rcpt == 0 || (long)accepted < s->relay_max_rcpt) {
		s->relay_max_rcpt = (long)accepted;
		if (queue_relay_set_max_rcpt(s->queue, s->relay, s->relay_max_rcpt, now) < 0)
			log_warnx("cannot store the recipient limit of %s", s->relay);
		log_info("relay %s takes %zu recipients per transaction: later batches "
		    "are no larger", s->relay, accepted);
	}
}

/* The SIZE the relay announced, kept for the size check at ingest. */
static void
relay_size(struct scheduler *s, int64_t now)
{
	long size = smtp_pool_relay_size(s->pool);

	relay_facts(s);
	if (size < 0 || size == s->relay_size || s->storage_down)
		return;
	/* remembered only once stored, so a failed write is tried again */
	if (queue_relay_set_size(s->queue, s->relay, size, now) < 0) {
		log_warnx("cannot store the SIZE of %s", s->relay);
		return;
	}
	s->relay_size = size;
}

/*
 * Recipients deferred longer than alerts.deferred_after raise the
 * "deferred" alert (distctl status exits 3 while it stands): a relay down
 * for hours must not stay silent until recipients expire days later.
 */
static void
deferred_alert(struct scheduler *s, int64_t now)
{
	int64_t since;
	long count;
	char text[600];

	bool first = s->deferred_checked == 0;

	s->deferred_checked = now;
	s->deferred_wake = 0;
	int none = queue_oldest_deferral(s->queue, &since, &count);
	/* a clock step is not time spent deferred (nor is it for the lifetime) */
	if (!none)
		since = backoff_received(since, s->jumps, s->n_jumps);
	if (none || now - since < s->conf->alerts.deferred_after) {
		/* cleared once, not written every second (one left by an
		 * earlier run is cleared at the first check) */
		if (s->deferred_raised || first)
			queue_clear_alert(s->queue, QUEUE_ALERT_DEFERRED);
		s->deferred_raised = false;
		if (!none)
			s->deferred_wake = since + s->conf->alerts.deferred_after;
		return;
	}
	/* standing: its text is brought up to date once a minute */
	if (s->deferred_raised && now - s->deferred_updated < 60)
		return;
	snprintf(text, sizeof(text), "%ld recipient(s) deferred for more than %ld s "
	    "(the first since %lld s ago) by the relay %s: see distctl status and "
	    "distctl log", count, s->conf->alerts.deferred_after,
	    (long long)(now - since), smtp_pool_relay(s->pool));
	/* one notice per standing: the queue keys it by when it was raised */
	if (!s->deferred_raised)
		log_warnx("ALERT %s", text);
	queue_alert(s->queue, QUEUE_ALERT_DEFERRED, text, now);
	s->deferred_raised = true;
	s->deferred_updated = now;
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
		if (failure_report_enqueue(s->conf, s->queue, report[i], now, err, sizeof(err)) < 0)
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
	long max_rcpt_before = s->relay_max_rcpt;
	/*
	 * queue_finish examines every active issue; run after each job of
	 * a large issue it cost as much as recording the job. It can only
	 * find something when an issue collected now has no job left.
	 */
	bool finish = !s->finish_checked;

	while (list) {
		struct smtp_job *job = list;
		struct queue_batch *b = job->batch;
		struct smtp_verdict *res = xcalloc(b->n, sizeof(*res));
		bool *again = xcalloc(b->n, sizeof(*again));
		list = job->next;
		job->next = NULL;

		if (job->transcript.mail_code != 0)
			s->login_proven = true;	/* AUTH, if any, passed */
		if (!finish && !smtp_pool_carries(s->pool, b->issue))
			finish = true;
		smtp_outcome(&job->transcript, job->curl_code, job->curl_error, b->n, res);
		rcpt_limit(s, job, res, again, now);
		/* alerts first: whoever sees the new states sees the alerts that go with them */
		alerts(s, job, res, b->n, now);
		/* queued behind earlier results (kept through an outage, if any):
		 * the history keeps its order */
		struct scheduler_unrecorded *u = xcalloc(1, sizeof(*u));
		/* the lifetime runs on the arrival time with clock steps taken out */
		*u = (struct scheduler_unrecorded){ job, res, again,
			xcalloc(b->n, sizeof(struct queue_attempt)), now,
			backoff_received(b->received, s->jumps, s->n_jumps), NULL };
		if (s->unrecorded_tail)
			s->unrecorded_tail->next = u;
		else
			s->unrecorded = u;
		s->unrecorded_tail = u;
	}
	/* all of them in one commit; kept, not dropped, when the queue fails:
	 * the rows stay 'sending' until written */
	flush_unrecorded(s, now);
	/*
	 * Jobs queued behind these were taken with older facts: after a
	 * refused login (a pause) they would each be one more failed login,
	 * after a 452 they are larger than the relay takes. Given back, they
	 * are taken again when and as the relay allows.
	 */
	if ((s->paused_until > now || s->relay_max_rcpt != max_rcpt_before) &&
	    !s->storage_down)
		scheduler_requeue_unstarted(s);
	smtp_pool_resume(s->pool);
	relay_size(s, now);
	if (!s->storage_down && finish) {
		finish_issues(s, now);
		s->finish_checked = true;
	} else if (finish) {
		s->finish_checked = false;	/* not now: at the next collect */
	}
	deferred_alert(s, now);
}

int64_t
scheduler_next_wakeup(struct scheduler *s, int64_t now)
{
	int64_t when;

	if (s->draining)
		return -1;
	if (s->storage_down)
		return s->storage_retry_at <= now ? 0 : s->storage_retry_at;
	if (smtp_pool_busy(s->pool) >= pool_capacity(s))
		return -1;	/* a completion will wake us */
	if (queue_next_due(s->queue, &when) != 0)
		return -1;
	if (when < s->paused_until)
		when = s->paused_until;
	if (when < s->rate_until)
		when = s->rate_until;
	if (s->deferred_wake > 0 && s->deferred_wake < when)
		when = s->deferred_wake;
	return when <= now ? 0 : when;
}

void
scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	while (s->unrecorded != NULL) {
		struct scheduler_unrecorded *u = s->unrecorded;
		s->unrecorded = u->next;
		unrecorded_free_arrays(u);
		smtp_job_free(u->job);
		free(u);
	}
	free(s);
}
