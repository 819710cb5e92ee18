#ifndef DISTD_DELIVERY_POLICY_H
#define DISTD_DELIVERY_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Outcome → state policy (pure, no I/O): what one SMTP verdict makes of a
 * recipient, given its attempts so far and the retry settings. The queue's
 * front (queue.c) decides with it before a backend stores the decision, so
 * that every backend stores the same states: a backend adds no policy.
 *
 * The verdict types live here rather than in daemon/smtp.h because queue/
 * may not include daemon/: the transport (daemon/smtp.c) writes a verdict,
 * the policy reads it, the store never sees it.
 */

/* Every delivery ends in exactly one of these. */
enum smtp_outcome { SMTP_OK, SMTP_TEMP, SMTP_PERM };

/* Why, as far as the transport could tell. */
enum smtp_class {
	SMTP_CLASS_OK,
	SMTP_CLASS_DNS,
	SMTP_CLASS_CONNECT,
	SMTP_CLASS_TLS,
	SMTP_CLASS_AUTH,
	SMTP_CLASS_PROTOCOL,
	SMTP_CLASS_4XX,
	SMTP_CLASS_5XX,
	SMTP_CLASS_LIMIT,	/* a recipient-limit reply: not a verdict on the recipient */
};
/* "ok", "dns", … as stored in the queue and written in the delivery log. */
const char *smtp_class_name(enum smtp_class c);
/* The stored word back to the enum (backends): 0, or -1 for an unknown word or NULL. */
int smtp_class_parse(const char *name, enum smtp_class *c);

/*
 * What the transport saw for one recipient of a batch (written by
 * smtp_outcome only). Verdicts are parallel to the batch: verdict i is
 * about batch->ids[i].
 */
struct smtp_verdict {
	enum smtp_outcome outcome;
	enum smtp_class class;
	int code;		/* SMTP reply code, 0 when none */
	char dsn[16];		/* enhanced status "2.0.0", "" when none */
	const char *reply;	/* reply text or transport error; owned by the
				 * transcript it came from (or static) */
	/*
	 * A temporary verdict after the message went out to an accepted
	 * recipient with no reply to it (a cut after DATA): it may have
	 * arrived, so a retry may deliver it twice.
	 */
	bool data_may_have_arrived;
};

/* A recipient's state in the store. Order is queue_state_names' order. */
enum queue_state {
	QUEUE_QUEUED,
	QUEUE_SENDING,
	QUEUE_DEFERRED,
	QUEUE_DELIVERED,
	QUEUE_FAILED,
	QUEUE_HELD,
	QUEUE_CANCELLED,
};
#define QUEUE_STATES 7
/* "queued", "sending", … as stored. */
const char *queue_state_name(enum queue_state s);
/* The stored word back to the enum (backends, distctl's --state): 0, or -1
 * for an unknown word or NULL. */
int queue_state_parse(const char *name, enum queue_state *s);

/* What an attempt is recorded as in the history (attempts.status). */
enum queue_attempt_status {
	QUEUE_ATTEMPT_SENT,
	QUEUE_ATTEMPT_DEFERRED,
	QUEUE_ATTEMPT_FAILED,
	QUEUE_ATTEMPT_EXPIRED,
	QUEUE_ATTEMPT_CANCELLED,
	/* history rows distctl writes, never a transfer's result: */
	QUEUE_ATTEMPT_RESEND,		/* sent again on request (resend, resend --to) */
	QUEUE_ATTEMPT_REPLACED,		/* the recipient's address was corrected */
	/* what came back later (the feedback mailbox) and reminders: */
	QUEUE_ATTEMPT_BOUNCED,		/* a bounce after the relay accepted */
	QUEUE_ATTEMPT_CONFIRMED,	/* receipt confirmed (签收): MDN or reply */
	QUEUE_ATTEMPT_REMINDED,		/* a reminder to confirm was queued */
};
/* "sent", "deferred", "failed", "expired", "cancelled", "resend",
 * "replaced", "bounced", "confirmed", "reminded" as stored and logged. */
const char *queue_attempt_status_name(enum queue_attempt_status s);
/* The stored word back to the enum (backends): 0, or -1 for an unknown word or NULL. */
int queue_attempt_status_parse(const char *name, enum queue_attempt_status *s);

/* What the store records of one attempt (written by the policy only). */
struct queue_attempt {
	enum queue_state state;		/* the recipient's new state */
	enum queue_attempt_status status;	/* the history's word for it */
	int attempt;			/* the recipient's attempts after this one */
	int64_t next_attempt;		/* deferred (and again): when; else 0 */
	bool possible_duplicate;	/* this attempt may repeat an earlier delivery */
	bool keeps_duplicate_flag;	/* the recipient stays flagged for its next try */
	/*
	 * A cancel that raced the transfer (distctl cancel takes `sending`
	 * too) wins over a temporary verdict only: what happened stands
	 * (delivered, failed), a retry is no longer wanted. See
	 * delivery_policy_cancelled.
	 */
	bool cancel_wins;
	bool counted;			/* the attempt counts towards the backoff */
};

struct queue_retry {
	int64_t min_backoff, max_backoff, lifetime;
};

struct delivery_policy_in {
	const struct smtp_verdict *verdict;
	int attempts_before;		/* the recipient's attempts before this one */
	bool possible_duplicate;	/* flagged before this transfer (a recovery, an earlier cut) */
	/*
	 * A temporary verdict that was no try at all (a recipient limit while
	 * the relay took others): due again at `now`, not counted.
	 */
	bool again;
	int64_t now;
	int64_t received;		/* when the lifetime started */
	const struct queue_retry *retry;
	double jitter;			/* [0, 1): the spread of a deferral */
};

/* The decision for one attempt. Pure. */
struct queue_attempt delivery_policy_decide(const struct delivery_policy_in *in);

/*
 * The decision when the store finds the recipient cancelled under the
 * transfer and a->cancel_wins: cancelled, no next attempt, not flagged.
 * Pure; backends call it instead of deciding themselves.
 */
void delivery_policy_cancelled(struct queue_attempt *a);

#endif
