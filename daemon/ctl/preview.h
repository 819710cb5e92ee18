#ifndef DISTD_PREVIEW_H
#define DISTD_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "sbuf.h"

#include "bulletin.h"
#include "issue.h"
#include "route.h"

/*
 * What `distctl preview` prints: the parse, the resolution of every unit
 * and the subject that would be sent; a readable report or the JSON
 * document of DESIGN.md. Pure formatting into out. verdict and why are
 * what issue_check_marks decided (why may be ""); the verdict is printed
 * with issue_verdict_name.
 */
void preview_text(struct sbuf *out, const struct bulletin *b,
    const struct route *r, const char *subject, enum issue_verdict verdict,
    const char *why);
/* The encoded message, when it could be rendered: its size and limit (0: none). */
struct preview_message {
	size_t bytes;
	long limit;
};
/*
 * msg, when not NULL, adds "message_bytes" and "size_limit" (null when no
 * limit is known) at the end of the object.
 */
void preview_json(struct sbuf *out, const struct bulletin *b,
    const struct route *r, const char *subject, enum issue_verdict verdict,
    const char *why, const struct preview_message *msg);

/*
 * One line: the encoded message's size and the limit it is checked
 * against (limit 0: none; from_relay: the relay's SIZE, else
 * smtp.max_message_bytes).
 */
void preview_size(struct sbuf *out, size_t bytes, long limit, bool from_relay);

#endif
