#ifndef DISTD_PREVIEW_H
#define DISTD_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "attachment.h"
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
 * Where the issue's text came from: its main file (a .txt/.md, or a
 * document whose text was extracted), whether it is a folder issue, and
 * what the message carries as attachments (a document issue's original
 * first).
 */
struct preview_source {
	const char *file;		/* the main file's name */
	const char *format;		/* extract_format_name: "text", "docx", … */
	const char *encoding;		/* what decode read the text as */
	bool folder;
	size_t bytes;			/* the main file's */
	size_t text_bytes;		/* the text read from it (UTF-8) */
	const struct attachment *att;
	size_t n_att;
};
/*
 * The source and the attachment list, one line each (after preview_text;
 * distctl prints it for documents and folders, where there is something
 * to say).
 */
void preview_source_text(struct sbuf *out, const struct preview_source *src);

/*
 * msg, when not NULL, adds "message_bytes" and "size_limit" (null when no
 * limit is known) at the end of the object; src, when not NULL, adds
 * "source" (file, format, encoding, folder, bytes, text_bytes) and
 * "attachments" ([{name, bytes}], in the message's order).
 */
void preview_json(struct sbuf *out, const struct bulletin *b,
    const struct route *r, const char *subject, enum issue_verdict verdict,
    const char *why, const struct preview_message *msg,
    const struct preview_source *src);

/*
 * One line: the encoded message's size and the limit it is checked
 * against (limit 0: none; from_relay: the relay's SIZE, else
 * smtp.max_message_bytes).
 */
void preview_size(struct sbuf *out, size_t bytes, long limit, bool from_relay);

#endif
