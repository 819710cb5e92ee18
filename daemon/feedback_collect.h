#ifndef DISTD_FEEDBACK_COLLECT_H
#define DISTD_FEEDBACK_COLLECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#include "conf.h"

/*
 * The feedback mailbox (design17.md "Feedback collection"): one poll
 * reads the messages above the cursor over IMAPS with libcurl (one easy
 * handle, so one connection), classifies each (feedback_parse,
 * feedback_match), applies it to the queue with the cursor, and flags and
 * moves what was processed to done_folder. What is not understood stays
 * where it is, unflagged and unseen (BODY.PEEK), for a human; the cursor
 * passes it so that it is not read again. Never \Deleted, never EXPUNGE.
 *
 * A poll blocks for as long as the server takes (timeouts bound it): the
 * daemon runs it in a worker thread with its own queue handle.
 */

/* At most this many messages per poll, oldest first; the rest next time. */
#define FEEDBACK_POLL_MAX 200

/* A copy of what a poll needs, owned by it (the conf may be reloaded). */
struct feedback_settings {
	char *url;		/* imaps://host:port/ (no folder: we SELECT) */
	char *where;		/* imaps://host:port/folder, for messages */
	char *cursor;		/* the cursor's name: user@host:port/folder */
	char *folder, *done_folder;
	char *username, *password, *ca_file;
	char *id_domain;	/* of our Message-IDs: the sender's domain */
	char *state;		/* the queue, for the worker's own handle */
	long interval;
};

/* NULL when c has no feedback block. */
struct feedback_settings *feedback_settings_new(const struct conf *c);
void feedback_settings_free(struct feedback_settings *s);
/* Whether a reload changed anything a poll uses. */
bool feedback_settings_equal(const struct feedback_settings *a,
    const struct feedback_settings *b);

struct feedback_result {
	int rc;			/* 0: the mailbox was read; -1: it was not */
	char error[512];	/* rc -1: why (never the password) */
	long read, applied, processed, left, failed_moves;
};

/*
 * One poll; q is the caller's queue handle (the worker's own). abort,
 * when set, cuts the transfer in flight. Fills *res; returns res->rc.
 */
int feedback_poll(const struct feedback_settings *s, struct queue *q,
    atomic_bool *abort, struct feedback_result *res);

/* ---- pure pieces (tests/unit/test_feedback_collect.c) --------------------
 * buf, len: the bytes the server sent for one command (curl hands every
 * response line to the header callback, literals included, in order).
 */

/* The [UIDVALIDITY n] of a SELECT/EXAMINE (or STATUS) response: 0, or -1. */
int feedback_imap_uidvalidity(const char *buf, size_t len, uint32_t *out);
/*
 * The UIDs of "* SEARCH …" lines above `above`, ascending, the lowest max
 * of them in uids; returns how many there are in all (may exceed max).
 */
size_t feedback_imap_search(const char *buf, size_t len, uint32_t above, uint32_t *uids,
    size_t max);
/*
 * The literal of "* N FETCH (… UID uid … BODY[] {n}": 0 with *msg and *msglen
 * pointing into buf; -1 with err when absent, cut short (the server's
 * stream and ours disagree) or larger than limit.
 */
int feedback_imap_literal(const char *buf, size_t len, uint32_t uid, size_t limit,
    const char **msg, size_t *msglen, char *err, size_t errsz);
/* RFC822.SIZE of uid in a FETCH response: 0, or -1 when absent. */
int feedback_imap_size(const char *buf, size_t len, uint32_t uid, uint64_t *size);
/* Whether a CAPABILITY response (untagged or in a [CAPABILITY …] code) names cap. */
bool feedback_imap_capability(const char *buf, size_t len, const char *cap);
/* Whether a LIST response lists anything (the folder asked for exists). */
bool feedback_imap_listed(const char *buf, size_t len);
/* The text of the last tagged line ("NO [TRYCREATE] …"), "" when none. */
void feedback_imap_tagged(const char *buf, size_t len, char *out, size_t outsz);
/* A folder name as an IMAP quoted string in modified UTF-7 (RFC 3501 5.1.3). */
char *feedback_imap_folder(const char *utf8);
/* The message's Date header as unix time, 0 when none or unreadable. */
int64_t feedback_imap_date(const char *msg, size_t len);

#endif
