/*
 * distd — bulletin distribution daemon: options, start-up, the event loop.
 *
 * One loop in the thread that owns the queue waits (epoll) on the outbox
 * (inotify), signals (signalfd), the control socket, transport completions
 * (eventfd) and the next retry, settle or notice time (timerfd). It sleeps
 * when there is nothing to do; the only periodic wake-ups are the systemd
 * watchdog, when the unit asks for one, and the heartbeat of a node on a
 * queue that several nodes share (PostgreSQL: every third of node.lease).
 *
 * Renamed into the outbox (IN_MOVED_TO) is the fast path: read at once.
 * Written in place (a file closed after writing, a folder made by cp -r)
 * waits until it has been quiet for outbox.settle seconds: a folder gets
 * its own watch, whose events restart its quiet time, and when the time
 * is up what it looks like (size, mtime, inode; a folder's entries) must
 * not have changed either.
 *
 * Nothing in the loop waits on anyone else: control clients are read
 * without blocking (a deadline and a size per request, a cap on how many
 * are open), a stop cuts transfers after shutdown_timeout, a queue that
 * cannot be written pauses delivery and intake instead of spinning, and
 * waits are timed on a monotonic clock, with wall-clock steps taken out.
 * One daemon per queue (queue_lock); a queue file deleted or replaced
 * under it stops it. A queue on a server (PostgreSQL) wakes the loop when
 * another node or distctl makes work due (LISTEN/NOTIFY: the wake fd), and
 * a lost connection to it is not fatal: the daemon takes nothing new,
 * keeps what it has and reconnects with back-off (queue_down_*).
 *
 * Exit codes (sysexits.h): 0 ok, 1 start-up failure (or, with
 * --check-config, an invalid configuration; or the queue locked by
 * another distd), 64 usage, 74 (EX_IOERR) the queue file was deleted or
 * replaced while running, 78 (EX_CONFIG) the
 * daemon refused to start on an invalid configuration. The unit maps 78 to
 * RestartPreventExitStatus: restarting cannot fix a file only an admin can.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sbuf.h"
#include "xalloc.h"

#include "backoff.h"
#include "queue.h"
#include "queue_backend.h"

#include "conf.h"
#include "feedback.h"

#include "control.h"
#include "delivery_log.h"
#include "feedback_collect.h"
#include "notice.h"
#include "outbox.h"
#include "retention.h"
#include "scheduler.h"
#include "settle.h"
#include "smtp.h"

#ifndef DISTD_VERSION
#define DISTD_VERSION "unknown"
#endif

/* After shutdown_timeout, how long cut transfers get to report back. */
#define ABORT_GRACE_MS 5000
/*
 * Control connections: a client gets this long to send its one request
 * line, and at most this many are open at once, so that no local client,
 * however slow or numerous, holds the loop (or starves the watchdog).
 */
#define CONTROL_DEADLINE_MS 2000
#define CONTROL_CLIENTS 16
#define CONTROL_LINE 256
/* A wall-clock step larger than this (beyond the monotonic time) is a jump. */
#define CLOCK_JUMP_SECONDS 30
/* A passing ingest failure (disk full, database busy) is retried after this. */
#define RESCAN_SECONDS 30
/* The longest wait between two tries to reach a lost queue server. */
#define QUEUE_RECONNECT_MAX 60

/*
 * Ingest work per turn of the loop: a burst of 200 issues took 0.5 s to
 * ingest, and nothing was sent meanwhile. After this long the scheduler
 * takes and submits what is ready, then ingest goes on.
 */
#define INGEST_TURN_MS 5
/* The first poll of the feedback mailbox, and one after a reload that changed it. */
#define FEEDBACK_FIRST_SECONDS 2
/* A shared outbox (outbox.shared) is listed this often: see scan. */
#define SHARED_RESCAN_SECONDS 10

struct control_client {
	int fd;			/* -1: free slot */
	size_t len;
	int64_t deadline;	/* monotonic ms */
	char buf[CONTROL_LINE];
};

/*
 * One poll of the feedback mailbox, run in its own thread with its own
 * queue handle (IMAP may take as long as its timeouts allow); the loop
 * learns it is over through efd.
 */
struct feedback_job {
	struct feedback_settings *s;	/* the job's own copy */
	struct feedback_result res;
	atomic_bool abort;
	int efd;
};

struct daemon {
	const char *conf_path;
	struct conf *conf;
	struct queue *queue;
	struct smtp_pool *pool;
	struct scheduler *sched;
	int epfd, ifd, iwatch, sfd, tfd, cfd;
	int64_t rescan_at;	/* 0: none pending */
	int64_t notice_at;	/* notices held back by the rate limit: 0 none */
	struct settle settle;	/* written in place, waiting to be quiet */
	struct outbox_memo *memo;	/* what the journal was told about sources */
	struct outbox_pending *pending;	/* dropped, not yet ingested */
	uint64_t watchdog_usec;
	time_t since;
	bool stop;
	int rc;			/* exit code when the loop stops on its own */
	int lockfd;		/* queue lock, held for the daemon's life */
	int hbfd;		/* heartbeat timer (shared queue), else -1 */
	bool hb_failing;	/* the last heartbeat failed (logged once) */
	struct control_client clients[CONTROL_CLIENTS];
	int64_t clock_wall, clock_mono;	/* the last clock reading (jump detection) */
	/* the last STATUS sent, and the change stamps it was built at */
	char status_text[256];
	int64_t status_own, status_others;
	bool status_down, status_valid, notify_off;
	struct retention retention;	/* at start, then a pass a day */
	bool heap_trimmed;		/* since the transport and intake last had work */
	/*
	 * The queue's server: wakefd is our duplicate of the connection's
	 * socket in epoll (ours to remove and close, whatever libpq does with
	 * its own), -1 for none. qdown: the connection is lost (queue_down_*).
	 */
	int wakefd;
	struct {
		bool active;
		int64_t since;		/* wall clock, for distctl status */
		int64_t since_ms;	/* monotonic, for the outage's length */
		int64_t next_ms;	/* the next try, monotonic */
		int tries;
		char error[256];	/* the last one: libpq's, never the conninfo */
	} qdown;
	/*
	 * The feedback mailbox: NULL settings when off (no timer, no thread).
	 * tfd paces the polls (armed when one ends, so they never overlap),
	 * efd says one ended; job is the poll in flight, NULL when none.
	 */
	struct {
		struct feedback_settings *s;
		int tfd, efd;
		struct feedback_job *job;
		pthread_t thread;
		bool alert;		/* raised by this run: logged once */
		bool cleared;		/* an alert of an earlier run cleared */
		bool announced;		/* the first good read (since a change) logged */
	} fb;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: distd [-c FILE] [-f] [-d]\n"
	    "       distd [-c FILE] --check-config\n"
	    "  -c, --config FILE   configuration (default $DISTD_CONF, else %s)\n"
	    "  -f, --foreground    stay in the foreground, log to stderr (always so:\n"
	    "                      distd never forks; systemd supervises it)\n"
	    "  -d, --debug         log each transaction\n"
	    "      --check-config  validate the configuration, print a summary, exit 0/1\n"
	    "  -V, --version       print the version\n",
	    CONF_DEFAULT_PATH);
}

static size_t
count_addresses(const struct conf *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_recipients; i++)
		n += c->recipients[i].n_addresses;
	return n;
}

static void
print_summary(const struct conf *c)
{
	printf("ok: %s\n", c->path);
	printf("  relay:      %s (%s%s)\n", c->smtp.url,
	    c->smtp.implicit_tls ? "implicit TLS" :
	    c->smtp.tls_none ? "NO TLS, loopback test relay" : "STARTTLS required",
	    c->smtp.username ? ", AUTH" : "");
	printf("  outbox:     %s (written in place: read after %ld quiet s)\n", c->outbox,
	    c->outbox_settle);
	printf("  sender:     %s\n", c->sender.from);
	printf("  tiers:     ");
	for (size_t i = 0; i < c->n_tiers; i++) {
		printf(" %s(%s", c->tiers[i].keyword, conf_header_name(c->tiers[i].header));
		for (size_t j = 0; j < c->tiers[i].n_aliases; j++)
			printf(" %s", c->tiers[i].aliases[j]);
		printf(")");
	}
	printf("\n  recipients: %zu with %zu addresses\n", c->n_recipients,
	    count_addresses(c));
	printf("  groups:     %zu\n", c->n_groups);
	printf("  series:     %zu\n", c->n_series);
	printf("  unresolved: %s\n", c->on_unresolved == CONF_UNRESOLVED_HOLD ?
	    "hold the issue" : "send to what resolved, report the rest");
	if (c->feedback.enabled)
		printf("  feedback:   %s as %s every %ld s, processed to %s\n",
		    c->feedback.url, c->feedback.username, c->feedback.interval,
		    c->feedback.done_folder);
	else
		printf("  feedback:   off (no mailbox read)\n");
}

/*
 * The one test seam for the wall clock: with DISTD_TEST_CLOCK_FILE set,
 * the number of seconds in that file is added to the wall clock, so that
 * tests can step the clock without root or faketime. Unset in production.
 */
static const char *test_clock_file;

static int64_t
now_unix(void)
{
	int64_t t = (int64_t)time(NULL);

	if (test_clock_file != NULL) {
		FILE *f = fopen(test_clock_file, "re");
		long long off = 0;
		if (f != NULL) {
			if (fscanf(f, "%lld", &off) != 1)
				off = 0;
			fclose(f);
		}
		t += off;
	}
	return t;
}

/*
 * The monotonic clock that also counts a suspend (CLOCK_BOOTTIME): a
 * laptop-style suspend is time that passed, not a step of the wall clock,
 * and a retry that fell due during it is due at resume.
 */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The STATUS line systemd shows. Only under systemd (NOTIFY_SOCKET set),
 * only when a row may have changed since the last one (the loop runs at
 * every event), and only sent when the text differs: each sd_notify is a
 * new socket and a message.
 */
static void
notify_status(struct daemon *d)
{
	long counts[QUEUE_STATES];
	int64_t own, others;
	char text[256];

	if (d->notify_off)
		return;
	if (getenv("NOTIFY_SOCKET") == NULL) {
		d->notify_off = true;
		return;
	}
	if (queue_changes(d->queue, &own, &others) == 0 && d->status_valid &&
	    own == d->status_own && others == d->status_others &&
	    scheduler_storage_down(d->sched) == d->status_down)
		return;
	if (queue_counts(d->queue, counts) < 0)
		return;
	snprintf(text, sizeof(text), "STATUS=%squeued %ld, sending %ld, deferred %ld, "
	    "delivered %ld, failed %ld, held %ld", scheduler_storage_down(d->sched) ?
	    "PAUSED, the queue cannot be written; " : "", counts[0], counts[1], counts[2], counts[3],
	    counts[4], counts[5]);
	d->status_own = own;
	d->status_others = others;
	d->status_down = scheduler_storage_down(d->sched);
	d->status_valid = true;
	if (strcmp(text, d->status_text) == 0)
		return;
	snprintf(d->status_text, sizeof(d->status_text), "%s", text);
	sd_notify(0, text);
}

static int
watch_outbox(struct daemon *d)
{
	if (d->iwatch >= 0)
		inotify_rm_watch(d->ifd, d->iwatch);
	/* IN_CREATE only for symbolic links (refused at once): a file or
	 * folder created in place is still being written. */
	d->iwatch = inotify_add_watch(d->ifd, d->conf->outbox,
	    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR);
	if (d->iwatch < 0) {
		log_warn("cannot watch the outbox %s", d->conf->outbox);
		return -1;
	}
	return 0;
}

static bool
is_settling(void *arg, const char *name)
{
	struct daemon *d = arg;

	return settle_find(&d->settle, name) != NULL;
}

static void
ingest(struct daemon *d, const char *name)
{
	struct sbuf msg = SBUF_INIT;
	int64_t id;
	enum outbox_result r;

	if (scheduler_storage_down(d->sched) || d->qdown.active) {
		/* the file stays in the outbox; intake resumes with the storage */
		if (d->rescan_at == 0)
			d->rescan_at = now_unix() + RESCAN_SECONDS;
		return;
	}
	r = outbox_ingest(d->conf, d->queue, name, now_unix(), &id, &msg);

	outbox_log(d->memo, name, r, sbuf_str(&msg));
	if ((r == OUTBOX_RETRY || r == OUTBOX_UNARCHIVED) && d->rescan_at == 0)
		d->rescan_at = now_unix() + RESCAN_SECONDS;
	sbuf_free(&msg);
}

/* NAME is to be ingested: at the next turns of the loop (ingest_some). */
static void
intake(struct daemon *d, const char *name)
{
	outbox_pending_add(d->pending, name);
}

/*
 * Ingests waiting names for about INGEST_TURN_MS (one at least), in the
 * order they came: the loop then lets the scheduler send what is queued
 * and comes back for the rest. Names written in place and not yet quiet
 * are left to their settling.
 */
static void handle_inotify(struct daemon *d);

static void
ingest_some(struct daemon *d)
{
	int64_t start = mono_ms();
	char *name;

	if (outbox_pending_count(d->pending) == 0)
		return;
	/*
	 * Events first: a name a scan listed may have been created in place
	 * since (a folder being copied in); its event puts it in settling,
	 * where it waits to be quiet instead of being read half-written.
	 */
	handle_inotify(d);
	while ((name = outbox_pending_next(d->pending)) != NULL) {
		if (!is_settling(d, name))
			ingest(d, name);
		free(name);
		if (mono_ms() - start >= INGEST_TURN_MS)
			break;
	}
}

static void settle_start(struct daemon *d, const char *name, bool folder);

static void
scan(struct daemon *d)
{
	char **names = NULL, err[512];
	size_t n = 0;

	/* what a dead node had claimed is ours to read, listed below (not
	 * while the queue's server is lost: that is asked once it is back) */
	if (d->conf->outbox_shared && !d->qdown.active &&
	    outbox_adopt(d->conf, d->queue, err, sizeof(err)) < 0)
		log_debug("shared outbox: nodes not known now: %s", err);
	if (outbox_list(d->conf, d->memo, &names, &n) < 0) {
		d->rescan_at = now_unix() + RESCAN_SECONDS;
		return;
	}
	d->rescan_at = 0;
	/* a shared outbox is on a network share, whose inotify reports only
	 * this machine's changes: what other machines drop is found by a
	 * rescan, and read once quiet, as it may still be being written (our
	 * own claims, dot-named, are complete) */
	if (d->conf->outbox_shared)
		d->rescan_at = now_unix() + SHARED_RESCAN_SECONDS;
	for (size_t i = 0; i < n; i++) {
		if (!d->conf->outbox_shared || names[i][0] == '.')
			intake(d, names[i]);
		else if (settle_find(&d->settle, names[i]) == NULL)
			settle_start(d, names[i], false);
		free(names[i]);
	}
	free(names);
}

/* Forgets a settling name and its folder watch. */
static void
unsettle(struct daemon *d, struct settle_entry *e)
{
	if (e->wd >= 0)
		inotify_rm_watch(d->ifd, e->wd);
	settle_remove(&d->settle, e);
}

static void
unsettle_all(struct daemon *d)
{
	while (d->settle.n > 0)
		unsettle(d, &d->settle.e[0]);
	settle_free(&d->settle);
}

/*
 * Something was written in place: (re)start its quiet time. A name that
 * cannot wait (SETTLE_MAX reached) is left to a rescan.
 */
static void
settle_start(struct daemon *d, const char *name, bool folder)
{
	struct settle_print p;
	struct settle_entry *e;

	if (outbox_print(d->conf, name, &p) < 0)
		return;		/* gone again */
	/* +1: deadlines are whole seconds, and the quiet time is a minimum */
	e = settle_touch(&d->settle, name, now_unix() + d->conf->outbox_settle + 1, &p);
	if (e == NULL) {
		if (d->rescan_at == 0)
			d->rescan_at = now_unix() + RESCAN_SECONDS;
		return;
	}
	if (folder && e->wd < 0) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", d->conf->outbox, name);
		/* files copied in before this watch existed show in the print */
		e->wd = inotify_add_watch(d->ifd, path, IN_CREATE | IN_CLOSE_WRITE |
		    IN_MODIFY | IN_ATTRIB | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
		    IN_ONLYDIR | IN_DONT_FOLLOW);
		if (e->wd < 0)
			log_warn("cannot watch %s; it is read after %ld quiet seconds "
			    "all the same", path, d->conf->outbox_settle);
	}
	log_debug("%s is written in place; read when quiet for %ld s", name,
	    d->conf->outbox_settle);
}

/* Reads what has been quiet long enough; what changed waits again. */
static void
settle_run(struct daemon *d)
{
	int64_t now = now_unix();
	struct settle_entry *e;
	size_t bound = d->settle.n;

	for (size_t i = 0; i < bound && (e = settle_due(&d->settle, now)) != NULL; i++) {
		struct settle_print p;
		if (outbox_print(d->conf, e->name, &p) < 0) {
			unsettle(d, e);
			continue;
		}
		if (!settle_print_equal(&p, &e->print)) {
			e->print = p;
			e->due = now + d->conf->outbox_settle + 1;
			continue;
		}
		char *name = xstrdup(e->name);
		unsettle(d, e);
		ingest(d, name);
		free(name);
	}
}

/* ---- the feedback mailbox ------------------------------------------------ */

static void
fb_arm(struct daemon *d, long seconds)
{
	struct itimerspec its = { { 0, 0 }, { seconds, 0 } };

	if (d->fb.tfd >= 0)
		timerfd_settime(d->fb.tfd, 0, &its, NULL);
}

static void *
fb_thread(void *arg)
{
	struct feedback_job *job = arg;
	struct queue *q = NULL;
	char err[512];
	uint64_t one = 1;

	if (queue_open(job->s->state, &q, err, sizeof(err)) < 0) {
		job->res.rc = -1;
		snprintf(job->res.error, sizeof(job->res.error), "the queue: %s", err);
	} else {
		feedback_poll(job->s, q, &job->abort, &job->res);
		queue_close(q);
	}
	ssize_t unused = write(job->efd, &one, sizeof(one));
	(void)unused;
	return NULL;
}

/* Starts a poll unless one runs (or the queue is unreachable: next time). */
static void
fb_start(struct daemon *d)
{
	uint64_t ticks;
	ssize_t unused = read(d->fb.tfd, &ticks, sizeof(ticks));
	(void)unused;
	if (d->fb.s == NULL || d->fb.job != NULL)
		return;
	if (d->qdown.active) {
		fb_arm(d, d->fb.s->interval);
		return;
	}
	struct feedback_job *job = xcalloc(1, sizeof(*job));
	struct feedback_settings *copy = feedback_settings_new(d->conf);
	if (copy == NULL) {
		free(job);
		return;
	}
	job->s = copy;
	job->efd = d->fb.efd;
	atomic_init(&job->abort, false);
	if (pthread_create(&d->fb.thread, NULL, fb_thread, job) != 0) {
		log_warn("feedback: cannot start the poll's thread");
		feedback_settings_free(job->s);
		free(job);
		fb_arm(d, d->fb.s->interval);
		return;
	}
	d->fb.job = job;
}

/* A poll ended: the alert raised or cleared, the next one timed. */
static void
fb_done(struct daemon *d)
{
	uint64_t n;
	ssize_t unused = read(d->fb.efd, &n, sizeof(n));
	(void)unused;
	struct feedback_job *job = d->fb.job;
	if (job == NULL)
		return;
	pthread_join(d->fb.thread, NULL);
	d->fb.job = NULL;
	const struct feedback_result *r = &job->res;
	int64_t now = now_unix();
	if (atomic_load(&job->abort)) {
		/* cut by a reload or a stop: says nothing about the mailbox */
	} else if (r->rc < 0) {
		if (!d->fb.alert)
			log_warnx("feedback: cannot read the mailbox: %s; deliveries go on, "
			    "trying again in %ld s", r->error, job->s->interval);
		d->fb.alert = true;
		if (!d->qdown.active && queue_alert(d->queue, QUEUE_ALERT_FEEDBACK, r->error,
		    now) < 0)
			log_warnx("feedback: cannot record the alert");
	} else {
		if (d->fb.alert)
			log_info("feedback: the mailbox can be read again");
		else if (!d->fb.announced)
			log_info("feedback: %s read (%ld new message(s))", job->s->where,
			    r->read);
		d->fb.announced = true;
		if ((d->fb.alert || !d->fb.cleared) && !d->qdown.active &&
		    queue_clear_alert(d->queue, QUEUE_ALERT_FEEDBACK) == 0)
			d->fb.cleared = true;
		d->fb.alert = false;
		if (r->read > 0)
			log_info("feedback: %s: %ld read, %ld applied, %ld done with "
			    "nothing to apply, %ld left for a human", job->s->where, r->read,
			    r->applied, r->processed, r->left);
	}
	feedback_settings_free(job->s);
	free(job);
	if (d->fb.s != NULL)
		fb_arm(d, d->fb.s->interval);
}

/* Ends a poll in flight (a stop, feedback turned off): cut, then joined. */
static void
fb_cut(struct daemon *d)
{
	if (d->fb.job == NULL)
		return;
	atomic_store(&d->fb.job->abort, true);
	pthread_join(d->fb.thread, NULL);
	uint64_t n;
	ssize_t unused = read(d->fb.efd, &n, sizeof(n));
	(void)unused;
	feedback_settings_free(d->fb.job->s);
	free(d->fb.job);
	d->fb.job = NULL;
}

/*
 * The configuration says whether there is a mailbox: the timer and the
 * eventfd exist only then (an idle distd without it never wakes), and a
 * changed one is polled again soon.
 */
static int
fb_configure(struct daemon *d)
{
	struct feedback_settings *s = feedback_settings_new(d->conf);
	bool changed = !feedback_settings_equal(s, d->fb.s);

	if (s == NULL) {
		fb_cut(d);
		if (d->fb.s != NULL && !d->qdown.active)
			queue_clear_alert(d->queue, QUEUE_ALERT_FEEDBACK);
		feedback_settings_free(d->fb.s);
		d->fb.s = NULL;
		d->fb.alert = false;
		if (d->fb.tfd >= 0) {
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->fb.tfd, NULL);
			close(d->fb.tfd);
		}
		if (d->fb.efd >= 0) {
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->fb.efd, NULL);
			close(d->fb.efd);
		}
		d->fb.tfd = d->fb.efd = -1;
		return 0;
	}
	if (d->fb.tfd < 0) {
		/* GMime's initialisation is not thread-safe: done here, in the
		 * loop's thread, before any poll's thread parses a message */
		feedback_free(feedback_parse("", 0));
		d->fb.tfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
		d->fb.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		ev.data.fd = d->fb.tfd;
		bool ok = d->fb.tfd >= 0 && d->fb.efd >= 0 &&
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->fb.tfd, &ev) == 0;
		ev.data.fd = d->fb.efd;
		if (!ok || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->fb.efd, &ev) < 0) {
			log_warn("feedback: cannot set up the mailbox's timer");
			feedback_settings_free(s);
			return -1;
		}
	}
	feedback_settings_free(d->fb.s);
	d->fb.s = s;
	if (changed) {
		log_info("feedback: reading %s every %ld s", s->where, s->interval);
		d->fb.announced = false;
		/* a poll in flight goes on with its own copy; the next one soon */
		if (d->fb.job == NULL)
			fb_arm(d, FEEDBACK_FIRST_SECONDS);
	}
	return 0;
}

/*
 * Re-reads the configuration; on any error the running one stays. Either
 * way the delivery log is opened afresh (SIGHUP doubles as logrotate's
 * signal), at the path of the configuration in force.
 */
static int
reload(struct daemon *d, char *why, size_t whysz)
{
	struct sbuf errors = SBUF_INIT;
	struct conf *c;

	sd_notify(0, "RELOADING=1");
	if (conf_load(d->conf_path, CONF_LOAD_SECRETS, &c, &errors) < 0) {
		const char *e = sbuf_str(&errors);
		log_warnx("reload: %s is invalid, still running on the previous "
		    "configuration:\n%s", d->conf_path, e);
		snprintf(why, whysz, "%.*s", (int)strcspn(e, "\n"), e);
		sbuf_free(&errors);
		delivery_log_reopen();
		sd_notify(0, "READY=1");
		return -1;
	}
	sbuf_free(&errors);
	bool outbox_moved = strcmp(c->outbox, d->conf->outbox) != 0;
	if (c->smtp.connections != d->conf->smtp.connections)
		log_warnx("reload: smtp.connections: the transport keeps its %d "
		    "connection(s) until the next restart", d->conf->smtp.connections);
	smtp_pool_configure(d->pool, c);
	scheduler_reconfigure(d->sched, c);
	conf_free(d->conf);
	d->conf = c;
	fb_configure(d);
	malloc_trim(0);		/* the old directory and the parse tree: see main */
	if (delivery_log_open(c->delivery_log) < 0)
		log_warn("delivery log %s", c->delivery_log);
	char err[512];
	if (outbox_prepare(c, err, sizeof(err)) < 0)
		log_warnx("%s", err);
	if (outbox_moved) {
		unsettle_all(d);
		watch_outbox(d);
	}
	log_info("configuration reloaded from %s", d->conf_path);
	sd_notify(0, "READY=1");
	scan(d);
	return 0;
}

static bool
is_symlink(const struct daemon *d, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", d->conf->outbox, name);
	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static void
outbox_event(struct daemon *d, const struct inotify_event *ev)
{
	struct settle_entry *e;

	if (outbox_ignored_name(ev->name))
		return;
	if (ev->mask & IN_MOVED_TO) {
		/* renamed in: complete by the drop protocol, read at once */
		if ((e = settle_find(&d->settle, ev->name)) != NULL)
			unsettle(d, e);
		intake(d, ev->name);
	} else if (ev->mask & IN_CREATE) {
		if (ev->mask & IN_ISDIR)
			settle_start(d, ev->name, true);
		else if (is_symlink(d, ev->name))
			intake(d, ev->name);	/* refused at once */
		/* a file created in place waits for IN_CLOSE_WRITE */
	} else if (ev->mask & IN_CLOSE_WRITE) {
		settle_start(d, ev->name, false);
	}
}

static void
handle_inotify(struct daemon *d)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(d->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			struct settle_entry *e;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("outbox events overflowed; rescanning %s",
				    d->conf->outbox);
				scan(d);
			} else if (ev->wd == d->iwatch) {
				if (ev->len > 0)
					outbox_event(d, ev);
			} else if ((e = settle_find_wd(&d->settle, ev->wd)) != NULL) {
				/* activity inside a folder being copied in */
				if (ev->mask & IN_IGNORED)
					e->wd = -1;
				else
					e->due = now_unix() + d->conf->outbox_settle + 1;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

static void
handle_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	char why[512];

	while (read(d->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %d: stopping", (int)si.ssi_signo);
			d->stop = true;
			break;
		case SIGHUP:
			reload(d, why, sizeof(why));
			break;
		case SIGUSR1:
			delivery_log_reopen();
			break;
		}
	}
}

static void queue_health(struct daemon *d, char *reply, size_t replysz);

static void
control_answer(struct daemon *d, int fd, const char *line)
{
	char reply[600], why[512];

			if (strcmp(line, "ping") == 0)
				snprintf(reply, sizeof(reply), "ok %d %lld\n", (int)getpid(),
				    (long long)d->since);
			else if (strcmp(line, "wake") == 0 && d->qdown.active) {
				/* nothing to take, and batches given back now would stay
				 * `sending` in a queue that cannot hear it: after the reconnect */
				snprintf(reply, sizeof(reply), "ok\n");
			} else if (strcmp(line, "wake") == 0) {
				scheduler_resume(d->sched);	/* the admin asks for a try now */
				/* distctl changed the queue (cancel, hold): what was
				 * taken before must not go out behind its back */
				scheduler_queue_changed(d->sched);
				scan(d);
				scheduler_run(d->sched, now_unix());
				snprintf(reply, sizeof(reply), "ok\n");
			} else if (strcmp(line, "health") == 0) {
				queue_health(d, reply, sizeof(reply));
			} else if (strcmp(line, "reload") == 0) {
				if (reload(d, why, sizeof(why)) == 0)
					snprintf(reply, sizeof(reply), "ok reloaded\n");
				else
					snprintf(reply, sizeof(reply), "error %s\n", why);
			} else
				snprintf(reply, sizeof(reply), "error unknown request '%s'\n", line);
	/* non-blocking: a client that does not read loses its reply, not our time */
	ssize_t unused = write(fd, reply, strlen(reply));
	(void)unused;
}

static void
client_close(struct daemon *d, struct control_client *c, const char *reply)
{
	if (reply != NULL) {
		ssize_t unused = write(c->fd, reply, strlen(reply));
		(void)unused;
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static struct control_client *
client_find(struct daemon *d, int fd)
{
	for (size_t i = 0; i < CONTROL_CLIENTS; i++)
		if (d->clients[i].fd == fd)
			return &d->clients[i];
	return NULL;
}

/* New connections: each waits in the loop for its line, none is read in a blocking way. */
static void
handle_control(struct daemon *d)
{
	int fd;

	for (int i = 0; i < 64 && (fd = accept4(d->cfd, NULL, NULL,
	    SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0; i++) {
		struct control_client *c = client_find(d, -1);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
		if (c == NULL || epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			static const char busy[] = "error too many control clients; try again\n";
			ssize_t unused = write(fd, busy, sizeof(busy) - 1);
			(void)unused;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = 0;
		c->deadline = mono_ms() + CONTROL_DEADLINE_MS;
	}
}

/* A client sent something (or went away): answer once its line is complete. */
static void
client_event(struct daemon *d, struct control_client *c)
{
	for (int i = 0; i < 8; i++) {
		ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;		/* wait for more, until the deadline */
		if (r == 0 && c->len > 0) {
			/* a last line without its newline, then the end: still a request */
			c->buf[c->len] = '\0';
			control_answer(d, c->fd, c->buf);
			client_close(d, c, NULL);
			return;
		}
		if (r <= 0) {
			client_close(d, c, NULL);
			return;
		}
		c->len += (size_t)r;
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl != NULL) {
			*nl = '\0';
			if (nl > c->buf && nl[-1] == '\r')
				nl[-1] = '\0';
			control_answer(d, c->fd, c->buf);
			client_close(d, c, NULL);
			return;
		}
		if (c->len == sizeof(c->buf) - 1) {
			client_close(d, c, "error request too long\n");
			return;
		}
	}
}

/* Closes clients past their deadline; returns ms until the next deadline, or -1. */
static int
clients_expire(struct daemon *d)
{
	int64_t now = mono_ms(), next = -1;

	for (size_t i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *c = &d->clients[i];
		if (c->fd < 0)
			continue;
		if (c->deadline <= now) {
			client_close(d, c, "error request timed out\n");
			continue;
		}
		if (next < 0 || c->deadline - now < next)
			next = c->deadline - now;
	}
	return (int)next;
}

/* Arms the timer for the next retry or rescan; disarms it when there is none. */
static void
arm_timer(struct daemon *d)
{
	/* while the queue's server is lost, the scheduler waits for it (queue_down_due) */
	int64_t now = now_unix(), next = d->qdown.active ? -1 :
	    scheduler_next_wakeup(d->sched, now);
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	int64_t also[] = { d->rescan_at, d->notice_at, settle_next(&d->settle) };

	for (size_t i = 0; i < sizeof(also) / sizeof(also[0]); i++)
		if (also[i] > 0 && (next < 0 || also[i] < next))
			next = also[i];
	if (next == 0)
		next = now;
	if (next > 0) {
		/*
		 * Monotonic (CLOCK_BOOTTIME), relative: a wait is a duration, so a
		 * step of the wall clock (either way) neither stalls nor hurries it.
		 */
		if (next <= now)
			its.it_value.tv_nsec = 1;
		else
			its.it_value.tv_sec = (time_t)(next - now);
	}
	timerfd_settime(d->tfd, 0, &its, NULL);
}

static int
add_fd(struct daemon *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * Several nodes on one queue: a periodic timer (a third of the lease)
 * whose tick extends this node's leases and takes over those of nodes
 * that stopped heartbeating. None on a queue of one node (SQLite).
 */
static int
heartbeat_start(struct daemon *d)
{
	long every = queue_heartbeat_interval(d->queue);

	if (every <= 0)
		return 0;
	d->hbfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = { { every, 0 }, { every, 0 } };
	if (d->hbfd < 0 || timerfd_settime(d->hbfd, 0, &its, NULL) < 0 ||
	    add_fd(d, d->hbfd) < 0) {
		log_warn("cannot set up the heartbeat timer");
		return -1;
	}
	return 0;
}

/*
 * One heartbeat. Recipients taken over are queued again, due now: the
 * loop's next turn takes them (scheduler_run). A failing heartbeat is
 * logged once: the connection's outage is reported where it is seen.
 */
static void
heartbeat(struct daemon *d)
{
	struct queue_takeover *t;
	uint64_t ticks;
	size_t n;
	char err[512];

	ssize_t unused = read(d->hbfd, &ticks, sizeof(ticks));
	(void)unused;
	if (d->qdown.active)
		return;		/* the outage is reported once (queue_down_check) */
	int taken = queue_heartbeat(d->queue, &t, &n, err, sizeof(err));
	if (taken < 0) {
		if (!d->hb_failing)
			log_warnx("heartbeat: %s; this node's leases lapse after %ld s "
			    "without one, and other nodes then take its recipients",
			    err, d->conf->node_lease);
		d->hb_failing = true;
		return;
	}
	if (d->hb_failing)
		log_info("heartbeat: working again");
	d->hb_failing = false;
	for (size_t i = 0; i < n; i++)
		log_warnx("node %s stopped heartbeating; %ld recipient(s) it had in flight "
		    "are queued again and may receive the issue twice (possible-duplicate)",
		    t[i].node, t[i].count);
	queue_takeover_free(t, n);
}

/* Collects finished transfers until none is busy or the monotonic deadline passes. */
static void
wait_transfers(struct daemon *d, int64_t until)
{
	int64_t left;

	while (smtp_pool_busy(d->pool) > 0 && (left = until - mono_ms()) > 0) {
		struct epoll_event ev;
		int n = epoll_wait(d->epfd, &ev, 1, left > 500 ? 500 : (int)left);
		if (d->watchdog_usec > 0)
			sd_notify(0, "WATCHDOG=1");
		if (n > 0 && ev.data.fd == smtp_pool_fd(d->pool))
			scheduler_collect(d->sched, now_unix());
		else if (n > 0 && ev.data.fd == d->hbfd && d->hbfd >= 0)
			heartbeat(d);	/* what is still in flight stays ours */
	}
}

/*
 * Stops within shutdown_timeout (+ a short grace): transfers still in
 * flight then are cut; they end as temporary failures, deferred (flagged
 * possible duplicates when the message data had gone out).
 */
static void
drain(struct daemon *d)
{
	char err[512];

	scheduler_drain(d->sched);
	sd_notify(0, "STOPPING=1");
	/* give back what never started, then wait for transfers in flight */
	struct smtp_job *unstarted = NULL;
	int64_t deadline = mono_ms() + d->conf->shutdown_timeout * 1000;
	scheduler_requeue_unstarted(d->sched);
	wait_transfers(d, deadline);
	if (smtp_pool_busy(d->pool) > 0) {
		log_warnx("stopping: cutting %zu transfer(s) still running after %ld s "
		    "(shutdown_timeout); their recipients stay deferred",
		    smtp_pool_busy(d->pool), d->conf->shutdown_timeout);
		smtp_pool_abort(d->pool);
		wait_transfers(d, mono_ms() + ABORT_GRACE_MS);
	}
	unstarted = smtp_pool_stop(d->pool);
	scheduler_collect(d->sched, now_unix());
	/* results kept through a storage outage: the rest of the time is theirs,
	 * since each one lost now is a recipient sent twice after the restart */
	while (scheduler_record_kept(d->sched, now_unix()) < 0 && mono_ms() < deadline) {
		struct timespec pause = { 1, 0 };
		/* the queue's server lost: one try a second, no back-off now */
		if (d->qdown.active && queue_reconnect(d->queue, err, sizeof(err)) == 0)
			d->qdown.active = false;
		if (d->watchdog_usec > 0)
			sd_notify(0, "WATCHDOG=1");
		nanosleep(&pause, NULL);
	}
	scheduler_flush(d->sched, now_unix());
	while (unstarted) {
		struct smtp_job *next = unstarted->next;
		if (queue_release_batch(d->queue, unstarted->batch, err, sizeof(err)) < 0)
			log_warnx("%s", err);
		smtp_job_free(unstarted);
		unstarted = next;
	}
}

/* ---- the queue's server: wake-ups and a lost connection ---------------------- */

/*
 * The connection's socket in epoll, as a duplicate: libpq closes and
 * reopens its own at will (a reconnect, a broken link), and an epoll entry
 * of a closed number could then stand for whatever reuses the number.
 */
static void
wake_detach(struct daemon *d)
{
	if (d->wakefd < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->wakefd, NULL);
	close(d->wakefd);
	d->wakefd = -1;
}

static void
wake_attach(struct daemon *d)
{
	int fd = queue_wake_fd(d->queue);

	wake_detach(d);
	if (fd < 0)
		return;		/* SQLite: distctl wakes the daemon over the control socket */
	d->wakefd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = d->wakefd };
	if (d->wakefd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &ev) < 0) {
		log_warn("cannot wait for the queue's notifications; other nodes' work is "
		    "seen at the next timer");
		if (d->wakefd >= 0)
			close(d->wakefd);
		d->wakefd = -1;
	}
}

/*
 * Another node or distctl made work due (or the link broke: the drain
 * finds that, and the next turn's queue_down_check). The scheduler runs
 * now, as for the control socket's wake.
 */
static void
wake_event(struct daemon *d)
{
	if (queue_wake_drain(d->queue) && !d->qdown.active &&
	    !scheduler_storage_down(d->sched)) {
		log_debug("the queue says work may be due");
		scheduler_run(d->sched, now_unix());
	}
}

static void
queue_down_status(struct daemon *d)
{
	long next = (long)((d->qdown.next_ms - mono_ms() + 999) / 1000);

	sd_notifyf(0, "STATUS=PAUSED, the queue database is unreachable since %lld s "
	    "(next try in %ld s): %s", (long long)((mono_ms() - d->qdown.since_ms) / 1000),
	    next < 0 ? 0 : next, d->qdown.error);
	d->status_text[0] = '\0';	/* notify_status sends its line again after */
}

/*
 * Checks the queue at each turn. A file deleted or replaced under the
 * daemon (SQLite, -1): carrying on would write every result into a file
 * nobody will read again, so stop loudly. A lost server connection (1):
 * take nothing new, keep what is in flight and its results, reconnect
 * with back-off (1, 2, 4 … 60 s). Returns true when the loop must stop.
 */
static bool
queue_down_check(struct daemon *d)
{
	char err[1024];
	int rc;

	if (d->qdown.active || (rc = queue_check_file(d->queue, err, sizeof(err))) == 0)
		return false;
	if (rc < 0) {
		log_warnx("FATAL %s; stopping: restore the queue file and restart distd", err);
		sd_notifyf(0, "STATUS=stopped: %s", err);
		d->stop = true;
		d->rc = EX_IOERR;
		return true;
	}
	wake_detach(d);
	d->qdown.active = true;
	d->qdown.since = now_unix();
	d->qdown.since_ms = mono_ms();
	d->qdown.tries = 0;
	d->qdown.next_ms = d->qdown.since_ms + backoff_reconnect(1, QUEUE_RECONNECT_MAX) * 1000;
	snprintf(d->qdown.error, sizeof(d->qdown.error), "%s", err);
	log_warnx("ALERT %s; taking nothing new, keeping %zu result(s) and what is in "
	    "flight, reconnecting (every 1, 2, 4 … %d s)", err, scheduler_kept(d->sched),
	    QUEUE_RECONNECT_MAX);
	queue_down_status(d);
	return false;
}

/* Tries to reconnect when it is time; everything resumes when it works. */
static void
queue_down_try(struct daemon *d)
{
	char err[1024];

	if (!d->qdown.active || mono_ms() < d->qdown.next_ms)
		return;
	d->qdown.tries++;
	if (queue_reconnect(d->queue, err, sizeof(err)) < 0) {
		snprintf(d->qdown.error, sizeof(d->qdown.error), "%s", err);
		d->qdown.next_ms = mono_ms() + backoff_reconnect(d->qdown.tries + 1,
		    QUEUE_RECONNECT_MAX) * 1000;
		log_debug("queue: reconnect try %d: %s", d->qdown.tries, err);
		queue_down_status(d);
		return;
	}
	d->qdown.active = false;
	wake_attach(d);
	/*
	 * Results kept meanwhile are recorded first, then taking resumes.
	 * distctl may have changed the queue meanwhile (a cancel): what was
	 * taken before and has not started goes back, as after a wake.
	 */
	size_t kept = scheduler_kept(d->sched);
	scheduler_queue_changed(d->sched);
	scheduler_storage_retry(d->sched);
	scheduler_run(d->sched, now_unix());
	log_info("queue database reachable again after %lld s; %zu result(s) recorded",
	    (long long)((mono_ms() - d->qdown.since_ms) / 1000),
	    kept - scheduler_kept(d->sched));
	scan(d);	/* what was dropped meanwhile */
}

/* ms until the next reconnect try, -1 when the queue is not lost. */
static int
queue_down_due(struct daemon *d)
{
	if (!d->qdown.active)
		return -1;
	int64_t left = d->qdown.next_ms - mono_ms();
	return left < 0 ? 0 : (int)left;
}

/* The `health` reply: distctl status shows it under the daemon's line. */
static void
queue_health(struct daemon *d, char *reply, size_t replysz)
{
	struct control_health h = { .unreachable = d->qdown.active };

	if (h.unreachable) {
		h.since = d->qdown.since;
		h.next = (queue_down_due(d) + 999) / 1000;
		snprintf(h.error, sizeof(h.error), "%s", d->qdown.error);
	}
	control_health_format(&h, reply, replysz);
}

/*
 * Compares the wall clock's progress with the monotonic clock's since the
 * last turn: a difference beyond CLOCK_JUMP_SECONDS is a step of the wall
 * clock, which the scheduler takes out of waits and lifetimes.
 */
static void
clock_check(struct daemon *d)
{
	int64_t wall = now_unix(), mono = mono_ms();

	if (d->clock_mono != 0) {
		int64_t jump = (wall - d->clock_wall) - (mono - d->clock_mono) / 1000;
		if (jump > CLOCK_JUMP_SECONDS || jump < -CLOCK_JUMP_SECONDS) {
			log_warnx("the wall clock stepped by %+lld s; retry times move with "
			    "it and the step does not count toward any lifetime",
			    (long long)jump);
			scheduler_clock_jump(d->sched, wall, jump);
			/* our own deadlines are waits too */
			if (d->rescan_at > 0)
				d->rescan_at += jump;
			if (d->notice_at > 0)
				d->notice_at += jump;
			for (size_t i = 0; i < d->settle.n; i++)
				d->settle.e[i].due += jump;
		}
	}
	d->clock_wall = wall;
	d->clock_mono = mono;
}

/*
 * Once the work is done, the heap of a large delivery (messages, batches,
 * SQLite's page cache: 8 MB for 10 000 recipients) goes back to the system: a daemon that sends
 * one large issue a week should not hold its peak for the week. Once per
 * idle spell; malloc_trim walks the free lists, a millisecond or so.
 */
static void
trim_when_idle(struct daemon *d)
{
	bool idle = smtp_pool_busy(d->pool) == 0 && outbox_pending_count(d->pending) == 0;

	if (idle && !d->heap_trimmed) {
		queue_release_memory(d->queue);
		malloc_trim(0);
	}
	d->heap_trimmed = idle;
}

static void
run(struct daemon *d)
{
	while (!d->stop) {
		struct epoll_event evs[8];
		int timeout = -1;

		if (queue_down_check(d))
			break;
		queue_down_try(d);
		clock_check(d);
		/* a bounded share of a burst, then notices and sending, then the
		 * rest at the next turns */
		ingest_some(d);
		/* cheap when there is nothing new: a few indexed queries; nothing
		 * can be written while the storage is failing */
		if (!scheduler_storage_down(d->sched) && !d->qdown.active) {
			int64_t notice_at = notice_sweep(d->conf, d->queue, now_unix());
			if (notice_at != 0 && notice_at != d->notice_at)
				log_warnx("more than %d admin notices in an hour: the rest wait "
				    "(next in %lld s)", NOTICE_PER_HOUR,
				    (long long)(notice_at - now_unix()));
			d->notice_at = notice_at;
		}
		bool was_down = scheduler_storage_down(d->sched);
		if (!d->qdown.active)
			scheduler_run(d->sched, now_unix());
		if (was_down && !scheduler_storage_down(d->sched))
			scan(d);	/* intake resumes with delivery */
		arm_timer(d);
		if (!d->qdown.active)
			notify_status(d);
		if (d->watchdog_usec > 0)
			timeout = (int)(d->watchdog_usec / 2000);
		int due = clients_expire(d);
		if (due >= 0 && (timeout < 0 || due < timeout))
			timeout = due;
		/* one slice per turn of the loop, so delivery goes on between slices */
		due = scheduler_storage_down(d->sched) || d->qdown.active ? -1 :
		    retention_step(&d->retention, d->queue, d->conf->archive,
		    d->conf->retention.history, now_unix());
		if (due >= 0 && (timeout < 0 || due < timeout))
			timeout = due;
		due = queue_down_due(d);
		if (due >= 0 && (timeout < 0 || due < timeout))
			timeout = due;
		/* notifications read with a query's result leave nothing on the
		 * socket: look before sleeping, or another node's wake is missed */
		if (!d->qdown.active && queue_wake_drain(d->queue))
			timeout = 0;
		if (outbox_pending_count(d->pending) > 0)
			timeout = 0;	/* more to ingest: only look for events */
		trim_when_idle(d);
		int n = epoll_wait(d->epfd, evs, 8, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait: %s", strerror(errno));
		}
		/* before the events write anything on the new clock */
		clock_check(d);
		if (d->watchdog_usec > 0)
			sd_notify(0, "WATCHDOG=1");
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == d->ifd)
				handle_inotify(d);
			else if (fd == d->sfd)
				handle_signal(d);
			else if (fd == d->cfd)
				handle_control(d);
			else if (client_find(d, fd) != NULL)
				client_event(d, client_find(d, fd));
			else if (d->wakefd >= 0 && fd == d->wakefd)
				wake_event(d);
			else if (fd == smtp_pool_fd(d->pool))
				scheduler_collect(d->sched, now_unix());
			else if (fd == d->hbfd && d->hbfd >= 0)
				heartbeat(d);
			else if (d->fb.tfd >= 0 && fd == d->fb.tfd)
				fb_start(d);
			else if (d->fb.efd >= 0 && fd == d->fb.efd)
				fb_done(d);
			else if (fd == d->tfd) {
				uint64_t ticks;
				ssize_t unused = read(d->tfd, &ticks, sizeof(ticks));
				(void)unused;
				if (d->rescan_at > 0 && d->rescan_at <= now_unix())
					scan(d);
				settle_run(d);
			}
		}
	}
}

static int
start(struct daemon *d)
{
	char err[1024];
	sigset_t mask;
	int recovered;

	/* Blocked before any thread starts, so that the transport threads
	 * inherit the mask and every signal arrives through the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (outbox_prepare(d->conf, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	/* before anything touches the queue: recovery would reset the in-flight
	 * rows of a daemon still running */
	if (queue_lock_node(d->conf->state, d->conf->node, &d->lockfd, err,
	    sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (queue_open(d->conf->state, &d->queue, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	/* before recovery, which takes back this node's own leases */
	if (queue_join(d->queue, d->conf->node, d->conf->node_lease, err,
	    sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (queue_recover(d->queue, &recovered, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (recovered > 0)
		log_warnx("%d recipient(s) were in flight when distd stopped; they are "
		    "queued again and may receive the issue twice (possible-duplicate)",
		    recovered);
	if (delivery_log_open(d->conf->delivery_log) < 0)
		log_warn("delivery log %s (attempts still go to the journal)",
		    d->conf->delivery_log);
	d->pool = smtp_pool_new(d->conf, err, sizeof(err));
	if (d->pool == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	d->sched = scheduler_new(d->conf, d->queue, d->pool);
	d->memo = outbox_memo_new();
	d->pending = outbox_pending_new();

	d->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	d->tfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->iwatch = -1;
	if (d->sfd < 0 || d->ifd < 0 || d->tfd < 0 || d->epfd < 0) {
		log_warn("cannot set up the event loop");
		return -1;
	}
	if (watch_outbox(d) < 0)
		return -1;
	/* an unlink or rename of the queue file wakes the loop, which then
	 * sees it gone (queue_down_check) even when nothing else happens; a
	 * server's connection string is no file (and never logged) */
	if (queue_backend_for(d->conf->state, err, sizeof(err)) == &queue_backend_sqlite &&
	    inotify_add_watch(d->ifd, d->conf->state, IN_ATTRIB | IN_DELETE_SELF |
	    IN_MOVE_SELF) < 0)
		log_warn("cannot watch %s; its loss is seen at the next event", d->conf->state);
	d->cfd = control_listen(d->conf->control_socket, err, sizeof(err));
	if (d->cfd < 0) {
		log_warnx("control socket: %s", err);
		return -1;
	}
	add_fd(d, d->sfd);
	add_fd(d, d->ifd);
	add_fd(d, d->tfd);
	add_fd(d, d->cfd);
	add_fd(d, smtp_pool_fd(d->pool));
	wake_attach(d);
	if (heartbeat_start(d) < 0)
		return -1;
	if (fb_configure(d) < 0)
		return -1;
	if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0)
		d->watchdog_usec = 0;
	d->since = time(NULL);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .ifd = -1, .iwatch = -1, .sfd = -1, .tfd = -1, .cfd = -1,
		.epfd = -1, .lockfd = -1, .hbfd = -1, .wakefd = -1,
		.fb = { .tfd = -1, .efd = -1 } };
	bool check = false, debug = false;
	int opt, rc = 0;

	while ((opt = getopt_long(argc, argv, "c:fdhV", options, NULL)) != -1) {
		switch (opt) {
		case 'c': d.conf_path = optarg; break;
		case 'f': break;
		case 'd': debug = true; break;
		case 'C': check = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("distd %s\n", DISTD_VERSION); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	d.conf_path = conf_path(d.conf_path);
	log_init(debug);
	for (size_t i = 0; i < CONTROL_CLIENTS; i++)
		d.clients[i].fd = -1;
	test_clock_file = getenv("DISTD_TEST_CLOCK_FILE");

	struct sbuf errors = SBUF_INIT;
	if (conf_load(d.conf_path, CONF_LOAD_SECRETS, &d.conf, &errors) < 0) {
		fputs(sbuf_str(&errors), stderr);
		sbuf_free(&errors);
		return check ? 1 : EX_CONFIG;
	}
	sbuf_free(&errors);
	/*
	 * libconfig's parse tree of a large directory is freed by now, but
	 * glibc keeps the pages (8.8 MB for 10 000 recipients) for the rest of
	 * a life that may last years: give them back.
	 */
	malloc_trim(0);
	if (check) {
		print_summary(d.conf);
		conf_free(d.conf);
		return 0;
	}

	if (start(&d) < 0) {
		rc = 1;
		goto out;
	}
	log_info("started: outbox %s, relay %s, %d connection(s)", d.conf->outbox,
	    smtp_pool_relay(d.pool), d.conf->smtp.connections);
	scan(&d);
	sd_notify(0, "READY=1");
	run(&d);
	drain(&d);
	rc = d.rc;
	log_info("%s", rc == 0 ? "stopped" : "stopped on an error");
out:
	for (size_t i = 0; i < CONTROL_CLIENTS; i++)
		if (d.clients[i].fd >= 0)
			close(d.clients[i].fd);
	if (d.cfd >= 0) {
		close(d.cfd);
		unlink(d.conf->control_socket);
	}
	fb_cut(&d);
	feedback_settings_free(d.fb.s);
	if (d.fb.tfd >= 0)
		close(d.fb.tfd);
	if (d.fb.efd >= 0)
		close(d.fb.efd);
	unsettle_all(&d);
	outbox_memo_free(d.memo);
	outbox_pending_free(d.pending);
	scheduler_free(d.sched);
	smtp_pool_free(d.pool);
	wake_detach(&d);
	queue_close(d.queue);
	delivery_log_close();
	conf_free(d.conf);
	if (d.epfd >= 0)
		close(d.epfd);
	if (d.ifd >= 0)
		close(d.ifd);
	if (d.sfd >= 0)
		close(d.sfd);
	if (d.tfd >= 0)
		close(d.tfd);
	if (d.hbfd >= 0)
		close(d.hbfd);
	if (d.lockfd >= 0)
		close(d.lockfd);	/* the lock goes with the last close */
	return rc;
}
