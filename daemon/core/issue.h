#ifndef DISTD_ISSUE_H
#define DISTD_ISSUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#include "bulletin.h"
#include "compose.h"
#include "conf.h"
#include "route.h"

/*
 * The bulletin pipeline from decoded text to the queue, and what the
 * queue stores: its message and its recipient rows. issue_admit is the
 * one entry, for an issue that arrives (outbox) and for a held one routed
 * again (distctl release), so both parse, check, route and render the
 * same way. No threads, sockets or curl here: the queue API only.
 */

/* How issue_admit ended. */
enum issue_admit_result {
	ISSUE_ADMIT_QUEUED,	/* committed, to be sent (release: routed again) */
	ISSUE_ADMIT_HELD,	/* committed but held: hold says why */
	ISSUE_ADMIT_DUPLICATE,	/* same content as duplicate_of: recorded, not sent */
	ISSUE_ADMIT_UNPARSABLE,	/* not a bulletin: why is the parser's message */
	ISSUE_ADMIT_REFUSED,	/* a classification mark: never sent by e-mail (why) */
	ISSUE_ADMIT_NOBODY,	/* release only: still resolves to nobody
				 * (route->hold_reason says why, when known) */
	ISSUE_ADMIT_FAILED,	/* rendering or the queue failed: why; nothing
				 * was committed, try again */
};

/* One issue to admit. Everything is borrowed for the call. */
struct issue_input {
	const char *source;	/* the name it came as (outbox entry) */
	const char *text;	/* decoded UTF-8 (decode.h) */
	size_t len;
	const struct attachment *att;
	size_t n_att;
	const char *sha256;	/* issue_digest of text and att */
	int64_t received;	/* when it arrived: the message's Date */
	int64_t now;
	/*
	 * Routing again a held issue that was never tried (distctl release):
	 * its queue id and Message-ID, and the current configuration decides.
	 * A release is the admin's decision: hold marks and on_unresolved
	 * "hold" do not hold it again, and the size is not checked again.
	 * 0 and NULL for a new issue.
	 */
	int64_t reroute;
	const char *message_id;
};

/* What issue_admit made of it, for the caller's message (issue_admission_free). */
struct issue_admission {
	int64_t id;			/* QUEUED, HELD, DUPLICATE: the queue id */
	int64_t duplicate_of;		/* DUPLICATE: the first issue of that content */
	struct bulletin *bulletin;	/* once parsed */
	struct route *route;		/* once routed: recipients, unresolved */
	char *subject;			/* once routed */
	const char *hold;		/* HELD: why (into why or route) */
	char why[1024];
};

/*
 * Parses in->text, checks its marks (issue_check_marks), routes it,
 * checks its size against the relay (issue_check_size, new issues only),
 * renders it and commits it: a new issue with queue_enqueue, a release
 * with queue_reroute. Returns the result (also for errors, which come
 * with a why); a fills in as far as the pipeline got.
 */
enum issue_admit_result issue_admit(const struct conf *c, struct queue *q,
    const struct issue_input *in, struct issue_admission *a);
void issue_admission_free(struct issue_admission *a);

/*
 * The message: the whole issue (compose_text, compose_html), From and
 * Reply-To as the series says (conf_identity), directory display names in
 * To/Cc by each tier's header; when any recipient is asked to confirm
 * receipt, Disposition-Notification-To (conf_receipt_address) and the
 * request at the end of the text.
 */
char *issue_render(const struct conf *c, const struct bulletin *b, const struct route *r,
    const char *subject, const char *message_id, int64_t id, int64_t date,
    const struct attachment *att, size_t n_att, size_t *len, char *err,
    size_t errsz);

/*
 * One queue row per routed recipient of an issue titled title; the
 * strings point into r, receipt is issue_receipt_asked. Caller frees the
 * array.
 */
struct queue_recipient_in *issue_recipients(const struct conf *c, const char *title,
    const struct route *r);

/*
 * Whether a recipient in tier (an index into c->tiers) of an issue titled
 * title (NULL: none) is asked to confirm receipt: the tier's receipt
 * setting, else the issue's series', else not. Pure.
 */
bool issue_receipt_asked(const struct conf *c, const char *title, size_t tier);
/* Whether any routed recipient of r is (the message then asks). */
bool issue_receipt_any(const struct conf *c, const char *title, const struct route *r);

/* What the masthead marks allow. */
enum issue_verdict {
	ISSUE_SEND,	/* no mark that stops it */
	ISSUE_HOLD,	/* an office mark with action "hold": queued but held */
	ISSUE_REFUSE,	/* never sent by e-mail: moved to rejected/ */
};

/*
 * The one place that decides what a classification mark does (outbox on
 * arrival, distctl preview): 秘密/机密/绝密 in any printed form, and
 * anything in the masthead that looks like a classification but was not
 * understood (fail closed), refuse; classification.extra_marks refuse or
 * hold as configured, matched in any masthead line ignoring spaces and
 * widths. Returns the verdict; for HOLD and REFUSE, why gets one sentence
 * naming the mark as printed and its line.
 */
enum issue_verdict issue_check_marks(const struct conf *c, const struct bulletin *b,
    char *why, size_t whysz);

/* "send", "hold" or "refuse". */
const char *issue_verdict_name(enum issue_verdict v);

/*
 * The duplicate check's key: SHA-256 (64 hex digits and NUL into out) of
 * the decoded text, normalised (a BOM dropped, NFC, CRLF and CR as LF,
 * white space at line ends and blank lines at the end dropped), then of
 * each attachment's name, size and bytes. The same issue re-saved in
 * another encoding or with other line ends has the same digest.
 */
void issue_digest(const char *text, size_t len, const struct attachment *att,
    size_t n_att, char out[65]);

/*
 * The size check (outbox on arrival, distctl preview): an encoded message
 * larger than smtp.max_message_bytes or the relay's SIZE as last seen in
 * EHLO (relay_size > 0; the smaller of the two wins) would be refused by
 * the relay for every recipient (552), so the issue is held before
 * anything is sent. len is the rendered message; ISSUE_SIZE_MARGIN is
 * the margin for what changes once the issue has its id (Message-ID).
 * Returns ISSUE_HOLD with why, else ISSUE_SEND.
 */
#define ISSUE_SIZE_MARGIN 256
long issue_size_limit(const struct conf *c, long relay_size);
enum issue_verdict issue_check_size(const struct conf *c, long relay_size, size_t len,
    char *why, size_t whysz);

#endif
