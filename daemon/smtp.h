#ifndef DISTD_SMTP_H
#define DISTD_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#include "conf.h"

#include "smtp_trace.h"

/*
 * SMTP transport: libcurl over SMTPS or SMTP+STARTTLS.
 *
 * curl 7.88's SMTP blocks on the end-of-data reply even inside a multi
 * handle, so parallelism comes from worker threads, each with one easy
 * handle that keeps its connection open between transactions. The thread
 * that owns the queue submits jobs and collects finished ones; an eventfd
 * (smtp_pool_fd) becomes readable when there is something to collect.
 *
 * One job is one transaction: one message to a batch of recipients. Each
 * recipient's own RCPT reply is recovered from curl's protocol trace
 * (CURLOPT_DEBUGFUNCTION), since libcurl has no per-recipient result API;
 * smtp_trace.h reads that trace.
 */

/*
 * The EHLO name when smtp.helo is not set: the host's fully qualified
 * name (getaddrinfo AI_CANONNAME on gethostname), else the address
 * literal of a local address ("[192.0.2.7]"), never a bare short name.
 */
void smtp_helo_default(char *buf, size_t bufsz);
/*
 * The URL curl is given: smtp.url with the EHLO name as its path (curl
 * takes the EHLO name from there), percent-encoded. Caller frees.
 */
char *smtp_url_with_helo(const struct conf *c);

struct smtp_job {
	struct queue_batch *batch;	/* owned by the job */
	struct smtp_transcript transcript;
	int curl_code;
	char curl_error[256];
	double duration;
	int retried_fresh;		/* a stale reused connection was replaced */
	/* sent through smtp.fallback; primary_error says why ("" when the
	 * primary was skipped, being known down) */
	bool via_fallback;
	char primary_error[300];
	/* the relays as configured when the job started ("host:port";
	 * fallback "" when none): its results name them even when they are
	 * recorded after a reload changed the relay */
	char relay[300], fallback_relay[300];
	struct smtp_job *next;
};

struct smtp_pool;

/* Starts conf->smtp.connections workers. Returns NULL with err. */
struct smtp_pool *smtp_pool_new(const struct conf *c, char *err, size_t errsz);
/* New settings for transfers that start from now on (after a reload). */
void smtp_pool_configure(struct smtp_pool *p, const struct conf *c);
/*
 * Cuts every transfer in flight within about a second (a shutdown past
 * its deadline): they finish with CURLE_ABORTED_BY_CALLBACK, a temporary
 * failure, and their connections are closed without QUIT. For the stop
 * path only: a job started after this is cut at once too.
 */
void smtp_pool_abort(struct smtp_pool *p);
/* Readable when finished jobs wait in smtp_pool_collect. */
int smtp_pool_fd(const struct smtp_pool *p);
/*
 * Queues a job. Workers take queued jobs in order, each on its own
 * connection, the next one as soon as its transfer ends: a job queued
 * behind a running one starts without waiting for the submitting thread.
 */
void smtp_pool_submit(struct smtp_pool *p, struct smtp_job *job);
/*
 * Takes back the jobs that have not started (a list through ->next, in
 * order; NULL when none): they leave smtp_pool_busy, and the caller gives
 * their batches back to the queue.
 */
struct smtp_job *smtp_pool_reclaim(struct smtp_pool *p);
/* Whether a job of that issue is queued, running or finished and not collected. */
bool smtp_pool_carries(struct smtp_pool *p, int64_t issue);
/* Jobs queued and not yet started. */
size_t smtp_pool_queued(const struct smtp_pool *p);
/*
 * True when the relay refused the session before any transaction (login,
 * TLS, connection: no MAIL FROM reply). After such a job the pool starts
 * no queued job until smtp_pool_resume: the submitter sees the failure
 * first and may reclaim them (a pause after a refused login).
 */
bool smtp_job_refused_session(const struct smtp_job *job);
void smtp_pool_resume(struct smtp_pool *p);
/* Finished jobs, oldest first (a list through ->next); NULL when none. */
struct smtp_job *smtp_pool_collect(struct smtp_pool *p);
/* How many transfers can run at once (the worker threads started). */
size_t smtp_pool_size(const struct smtp_pool *p);
/* Jobs submitted and not yet collected (queued, running or finished). */
size_t smtp_pool_busy(const struct smtp_pool *p);
/* "mail.example.test:465", for logs. */
const char *smtp_pool_relay(const struct smtp_pool *p);
/*
 * The relay's SIZE as last read from an EHLO reply: >0 the limit, 0 the
 * relay announced none, -1 no EHLO seen yet.
 */
long smtp_pool_relay_size(struct smtp_pool *p);
/*
 * Stops the workers after their current transfer; jobs that never
 * started are returned (a list through ->next) for the caller to give
 * back to the queue. Finished ones must have been collected first.
 */
struct smtp_job *smtp_pool_stop(struct smtp_pool *p);
void smtp_pool_free(struct smtp_pool *p);

void smtp_job_free(struct smtp_job *j);

#endif
