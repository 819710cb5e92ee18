#ifndef DISTD_FEEDBACK_H
#define DISTD_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What a message found in the feedback mailbox says about mail distd sent:
 * a bounce (RFC 3464 delivery status report, or a plain-text bounce that
 * carries the original's headers), a receipt (RFC 8098 MDN), a reply, or
 * nothing distd can act on. Pure: the message's bytes in, a classification
 * out; no I/O, no queue. Matching against the queue is the caller's job.
 *
 * Fail closed: whatever is not clearly one of the kinds below is UNKNOWN
 * or MALFORMED, with reason saying why, and is left for a human.
 */

enum feedback_kind {
	FEEDBACK_UNKNOWN,	/* not for distd, or not sure: leave for a human */
	FEEDBACK_MALFORMED,	/* a report with required fields missing or
				 * contradicting each other: leave for a human */
	FEEDBACK_BOUNCE,	/* delivery status with >= 1 recipient "failed" */
	FEEDBACK_STATUS,	/* delivery status, nobody failed (delayed,
				 * relayed, delivered, expanded): information */
	FEEDBACK_MDN,		/* disposition notification: see confirms */
	FEEDBACK_REPLY,		/* a person's reply: message_ids, from */
};

/* RFC 3464 Action; NONE for an MDN. */
enum feedback_action {
	FEEDBACK_ACTION_NONE,
	FEEDBACK_ACTION_FAILED,
	FEEDBACK_ACTION_DELAYED,
	FEEDBACK_ACTION_DELIVERED,
	FEEDBACK_ACTION_RELAYED,
	FEEDBACK_ACTION_EXPANDED,
};

/* RFC 8098 disposition-type; NONE for a delivery status. */
enum feedback_disposition {
	FEEDBACK_DISP_NONE,
	FEEDBACK_DISP_DISPLAYED,
	FEEDBACK_DISP_DELETED,
	FEEDBACK_DISP_DISPATCHED,
	FEEDBACK_DISP_PROCESSED,
};

/*
 * Bounds: nothing in a message can make the result, or the work done,
 * grow without limit. Longer values are cut (at a UTF-8 boundary), later
 * blocks, ids and parts are counted but not kept.
 */
#define FEEDBACK_MAX_INPUT	(32u * 1024 * 1024)	/* bytes; larger: UNKNOWN */
#define FEEDBACK_MAX_RCPTS	1000	/* recipient blocks kept */
#define FEEDBACK_MAX_IDS	100	/* message ids kept */
#define FEEDBACK_MAX_VALUE	1000	/* bytes of one field value */
#define FEEDBACK_MAX_PARTS	200	/* MIME parts looked at */

/* One per-recipient block of a report (or the one address of a plain bounce). */
struct feedback_rcpt {
	char *final_recipient;		/* address, "rfc822;" cut; never NULL */
	char *original_recipient;	/* NULL when absent */
	enum feedback_action action;	/* delivery status */
	char *status;			/* "5.1.1"; NULL when absent */
	char *diagnostic;		/* Diagnostic-Code (the remote reply); NULL */
	char *remote_mta;		/* NULL when absent */
	int64_t last_attempt;		/* Last-Attempt-Date, unix time; 0 absent */
	enum feedback_disposition disposition;	/* MDN */
	char *disposition_text;		/* MDN: the Disposition field as sent */
	bool confirms;			/* MDN: displayed, without an error modifier */
};

struct feedback {
	enum feedback_kind kind;
	char reason[256];		/* UNKNOWN, MALFORMED: why; else a summary */
	bool nonstandard;		/* BOUNCE from a plain-text bounce */
	char *from;			/* From's address; NULL when none */
	char *subject;			/* UTF-8; NULL when none */
	/*
	 * BOUNCE, STATUS, MDN: the original's Message-ID (an MDN's
	 * Original-Message-ID first). REPLY: In-Reply-To's, then References'
	 * (newest first), no repeats. Without <>.
	 */
	char **message_ids;
	size_t n_message_ids;
	int64_t issue_id;		/* the original's X-Distd-Issue; 0 none */
	struct feedback_rcpt *rcpts;
	size_t n_rcpts;
	size_t n_rcpts_dropped;		/* blocks past FEEDBACK_MAX_RCPTS */
	size_t n_failed;		/* blocks with Action failed, kept or not */
	size_t n_confirms;		/* rcpts with confirms */
};

/*
 * Classifies one message's raw bytes (as fetched over IMAP, CRLF or LF).
 *
 * Delivery status (multipart/report; report-type=delivery-status, or
 * RFC 6533 global-delivery-status): every per-recipient block needs
 * Final-Recipient, a known Action and Status, and a failed Action must not
 * carry a 2.x.x Status nor delivered a 4/5.x.x one; the returned original
 * (message/rfc822, text/rfc822-headers, message/global(-headers)) gives
 * message_ids and issue_id. No per-recipient block, a missing report-type
 * or delivery-status part, or a Message-ID of the form distd.N.… with an
 * X-Distd-Issue other than N: MALFORMED.
 *
 * MDN (report-type=disposition-notification): Final-Recipient and
 * Disposition required. Only "displayed" confirms: RFC 8098 3.2.6.2 says
 * it was shown to someone reading the mailbox; "processed" and
 * "dispatched" happen without it being displayed (a rule, a server, a
 * forward) and "deleted" without being seen, so none of them is a unit
 * acknowledging receipt. A disposition with the "error" modifier does
 * not confirm either.
 *
 * A plain-text bounce (Postfix, Exim, qmail, sendmail, the large Chinese
 * providers) is a BOUNCE with nonstandard set only when the sender looks
 * like a mail system (MAILER-DAEMON, postmaster, Mail Delivery…, an empty
 * Return-Path) and the subject like a bounce (退信, Undelivered,
 * Delivery Status Notification, …), distd's own ids are found in the
 * body or an attached message (X-Distd-Issue, or a Message-ID starting
 * "distd."), and exactly one address in the diagnostic text could be the
 * failed one. Anything less is UNKNOWN (with the ids found, if any).
 *
 * A reply: not a report, not automatic (Auto-Submitted other than "no",
 * X-Autoreply, Precedence auto_reply), with In-Reply-To or References.
 *
 * Never fails: returns a result (caller frees with feedback_free).
 */
struct feedback *feedback_parse(const char *data, size_t len);

/* Frees r and everything in it; NULL is a no-op. */
void feedback_free(struct feedback *r);

/* Names for logs and storage: "bounce", "failed", "displayed", … */
const char *feedback_kind_name(enum feedback_kind k);
const char *feedback_action_name(enum feedback_action a);
const char *feedback_disposition_name(enum feedback_disposition d);

#endif
