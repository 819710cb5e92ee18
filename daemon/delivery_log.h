#ifndef DISTD_DELIVERY_LOG_H
#define DISTD_DELIVERY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

#include "queue.h"

/*
 * The delivery log: one key=value line per delivery attempt, e.g.
 *
 *   2020-06-12T09:30:01+08:00 issue=17 tier=报 to=<office@wmb.example.test>
 *   relay=mail.example.test:465 status=sent code=250 dsn=2.0.0 delay=0.42
 *   attempt=1 reply="250 2.0.0 Ok"
 *
 * (one line in the file). Times are RFC 3339 (timefmt.h). The same
 * attempt goes to the journal, when distd runs under systemd, as one
 * entry with the line as MESSAGE and the fields DISTD_ISSUE, DISTD_RCPT,
 * DISTD_TIER, DISTD_STATUS and PRIORITY (info delivered, warning
 * deferred, err failed); in the foreground it goes to stderr.
 *
 * Formatting is pure (delivery_log_format); writing is the rest.
 */

/* How an attempt ended, as far as the log and the journal care. */
enum delivery_log_outcome {
	DELIVERY_LOG_DELIVERED,
	DELIVERY_LOG_DEFERRED,	/* tried again later */
	DELIVERY_LOG_FAILED,	/* permanently, or its lifetime ran out */
};

/* One attempt. Strings are borrowed; NULL ones are left out of the line. */
struct delivery_log_entry {
	int64_t when;		/* seconds since the epoch */
	int64_t issue;
	const char *tier;
	const char *address;
	const char *relay;	/* "host:port" */
	const char *status;	/* sent deferred failed expired */
	const char *class;	/* NULL for ok (the entry's maker decides, on the enum) */
	int code;		/* SMTP reply code; 0 is left out */
	const char *dsn;
	double delay;		/* seconds the transaction took; < 0 is left out */
	int attempt;
	int64_t next_attempt;	/* 0 is left out */
	bool possible_duplicate;
	const char *reply;	/* quoted; CR and LF become spaces */
	enum delivery_log_outcome outcome;
};

/*
 * Fills e from what the transport saw (v) and what the queue recorded of
 * it (a: status, attempt, next attempt). e borrows v's strings and the
 * others.
 */
void delivery_log_entry_from_result(struct delivery_log_entry *e, int64_t when,
    int64_t issue, const char *tier, const char *address, const char *relay,
    const struct smtp_verdict *v, const struct queue_attempt *a, double delay);

/* Appends e's line to out, without a newline (pure). */
void delivery_log_format(struct sbuf *out, const struct delivery_log_entry *e);

/* syslog priority for the journal: LOG_INFO, LOG_WARNING or LOG_ERR. */
int delivery_log_priority(enum delivery_log_outcome o);

/*
 * Opens (O_APPEND, creating 0640) the log file; 0, or -1 with errno.
 * Reopened with delivery_log_reopen on SIGHUP/SIGUSR1 so that logrotate
 * can move it away; a failed reopen is logged and keeps the old file.
 */
int delivery_log_open(const char *path);
void delivery_log_reopen(void);
void delivery_log_close(void);

/*
 * The attempts of one pass, written together: the file gets one write
 * (lines never interleave with another writer's), the journal one entry
 * per attempt. The batch copies what it needs: entries may go away after
 * delivery_log_batch_add.
 */
struct delivery_log_batch {
	struct sbuf lines;		/* '\n'-ended, one per entry */
	struct delivery_log_fields *fields;	/* the journal's, one per line */
	size_t n, cap;
};
#define DELIVERY_LOG_BATCH_INIT { SBUF_INIT, NULL, 0, 0 }

void delivery_log_batch_add(struct delivery_log_batch *b,
    const struct delivery_log_entry *e);
/* Writes the batch (file, then journal or stderr) and empties it. */
void delivery_log_batch_write(struct delivery_log_batch *b);
/* Empties the batch without writing it. */
void delivery_log_batch_free(struct delivery_log_batch *b);

#endif
