#ifndef DISTD_ISSUE_H
#define DISTD_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "bulletin.h"
#include "compose.h"
#include "conf.h"
#include "queue.h"
#include "route.h"

/*
 * A routed bulletin as what the queue stores: its message and its
 * recipient rows. Used when an issue arrives (outbox) and when a held
 * one is routed again (distctl release), so both render the same way.
 */

/*
 * The message: the whole issue (compose_text, compose_html), From and
 * Reply-To as the series says (conf_identity), directory display names in
 * To/Cc by each tier's header.
 */
char *issue_render(const struct conf *c, const struct bulletin *b, const struct route *r,
    const char *subject, const char *message_id, int64_t id, int64_t date,
    const struct attachment *att, size_t n_att, size_t *len, char *err,
    size_t errsz);

/* One queue row per routed recipient; the strings point into r. Caller frees the array. */
struct queue_recipient_in *issue_recipients(const struct conf *c, const struct route *r);

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
