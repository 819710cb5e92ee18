#ifndef DISTD_COMPOSE_H
#define DISTD_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulletin.h"
#include "conf.h"

/*
 * Message composition (pure: data in, RFC 5322 bytes out), with GMime for
 * the MIME structure and RFC 2047/2231 encoding and cmark for the HTML part.
 */

/*
 * Renders a sender.subject template: %title%, %issue% (第N期's N),
 * %total%, %date%, %issuer%, %% for a literal percent sign. A value the
 * issue does not state renders empty, and the "第期" / "总第期" it would
 * leave behind is dropped, so "%title% 第%issue%期" on an issue without a
 * number gives just the title. Control characters (CR, LF, TAB …) become
 * spaces and runs of spaces collapse: a subject is one header line.
 * Returns a new string (caller frees).
 */
char *compose_subject(const char *tmpl, const struct bulletin *b);

struct compose_rcpt {
	const char *display;
	const char *address;
	enum conf_header header;	/* to and cc are shown, bcc is not */
};

struct compose_attachment {
	const char *name;		/* file name, may be Chinese (RFC 2231) */
	const char *data;
	size_t len;
};

struct compose_input {
	const char *from_display;	/* may be NULL */
	const char *from_address;
	const char *subject;
	const char *message_id;		/* without <> */
	int64_t issue_id;		/* X-Distd-Issue */
	int64_t date;			/* unix time */
	const char *body;		/* UTF-8, Markdown-ish; NULL for none */
	bool urgent;			/* Importance: high, Priority: urgent */
	bool auto_submitted;		/* Auto-Submitted: auto-generated (RFC 3834) */
	const struct compose_rcpt *rcpts;
	size_t n_rcpts;
	const struct compose_attachment *attachments;
	size_t n_attachments;
};

/*
 * The whole message: multipart/alternative (text/plain + text/html), in
 * multipart/mixed when there are attachments; every part 7-bit encoded,
 * CRLF line endings, not dot-stuffed (the transport does that). Returns
 * malloc'd bytes and *len, or NULL with a message in err.
 */
char *compose_message(const struct compose_input *in, size_t *len, char *err,
    size_t errsz);

/* A content type for a file name by its extension ("application/pdf" …). */
const char *compose_content_type(const char *filename);

#endif
