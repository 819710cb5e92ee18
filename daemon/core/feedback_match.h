#ifndef DISTD_FEEDBACK_MATCH_H
#define DISTD_FEEDBACK_MATCH_H

#include <stdint.h>

#include "queue.h"

#include "feedback.h"

/*
 * From what a feedback message says (feedback_parse) to what the queue
 * is asked to apply (queue_feedback_apply). Pure: no I/O, no queue, no
 * clock (the caller passes the time it was read).
 *
 * The issue: X-Distd-Issue of the returned original, else a Message-ID
 * of the form distd.N.…@DOMAIN where DOMAIN is the one distd names its
 * messages with (the sender's domain). Only ids of that domain count:
 * another distd's or another program's "distd.3.…" is not ours.
 */

enum feedback_verdict {
	FEEDBACK_APPLY,		/* in is ready for queue_feedback_apply */
	FEEDBACK_PROCESSED,	/* about one of our issues, nothing to apply
				 * (a delivery status with nobody failed, an
				 * MDN that confirms nothing): done with it */
	FEEDBACK_LEAVE,		/* not ours or not understood: a human's */
};

struct feedback_match {
	enum feedback_verdict verdict;
	char why[300];		/* PROCESSED, LEAVE: for the log line */
	int64_t issue;		/* the issue named, 0 when none */
	/* APPLY: in and the arrays it points into (strings are f's) */
	struct queue_feedback_in in;
	struct queue_feedback_fact *facts;
	const char **ids;
};

/*
 * Matches f (the message's own Date header as date, 0 when none; now the
 * time it was read; key the message's sha256 hex, kept as a pointer) and
 * fills *m; in's strings point into f and key, which must outlive it.
 * in.cursor is left NULL for the caller. Free with feedback_match_free.
 */
void feedback_match(const struct feedback *f, const char *id_domain, const char *key,
    int64_t date, int64_t now, struct feedback_match *m);
void feedback_match_free(struct feedback_match *m);

/* The issue of a distd Message-ID of domain (without <>), or 0. */
int64_t feedback_issue_of_msgid(const char *id, const char *domain);

#endif
