#ifndef DISTD_COMPOSE_H
#define DISTD_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attachment.h"

#include "bulletin.h"
#include "conf.h"

/*
 * Message composition (pure: data in, RFC 5322 bytes out), with GMime for
 * the MIME structure and RFC 2047/2231 encoding and cmark for the HTML part.
 */

/*
 * Renders a subject template: %title%, %issue% (第N期's N), %total%,
 * %date%, %issuer%, %urgency% (【特急】 or 【加急】 when the masthead says
 * so, else nothing), %% for a literal percent sign. A value the
 * issue does not state renders empty, and the "第期" / "总第期" it would
 * leave behind is dropped, so "%title% 第%issue%期" on an issue without a
 * number gives just the title. Control characters (CR, LF, TAB …) become
 * spaces and runs of spaces collapse: a subject is one header line.
 * Returns a new string (caller frees).
 */
char *compose_subject(const char *tmpl, const struct bulletin *b);

/* The subject of b with its series' template, else sender.subject (conf_identity). */
char *compose_subject_for(const struct conf *c, const struct bulletin *b);

/*
 * The bulletin as a recipient reads it, whole and in the document's order:
 * the masthead (marks such as 内部资料 and 特急, the title, 第N期（总第N期）,
 * the issuing office and the date), the body, and the 版记 (editor and
 * contact lines, 报/送/发 with their labels as printed). The body's
 * Markdown is read with cmark; "**" pairs are bold whatever punctuation
 * surrounds them, and a paragraph that is only 【栏目】 is a heading.
 *
 * compose_text: plain text without Markdown marks: headings are lines of
 * their own, bold is plain, paragraphs are kept, rules are box-drawing lines.
 * compose_html: a complete HTML page laid out like the printed bulletin,
 * inline CSS only, nothing remote, raw HTML in the bulletin shown as text.
 * Both return a new string (caller frees).
 */
char *compose_text(const struct bulletin *b);
char *compose_html(const struct bulletin *b);

struct compose_rcpt {
	const char *display;
	const char *address;
	enum conf_header header;	/* to and cc are shown, bcc is not */
	const char *tier;		/* keyword (报): names the group of a large tier */
};

struct compose_input {
	const char *from_display;	/* may be NULL */
	const char *from_address;
	const char *reply_to_display;	/* may be NULL */
	const char *reply_to_address;	/* NULL: no Reply-To */
	const char *subject;
	const char *message_id;		/* without <> */
	int64_t issue_id;		/* X-Distd-Issue */
	int64_t date;			/* unix time */
	/* An issue: rendered whole (compose_text and compose_html) as
	 * multipart/alternative. NULL for distd's own mail: then body is plain
	 * text, mailed as text/plain as it is. */
	const struct bulletin *issue;
	const char *body;		/* UTF-8 plain text, with issue NULL */
	bool urgent;			/* Importance: high, Priority: urgent */
	bool auto_submitted;		/* Auto-Submitted: auto-generated (RFC 3834) */
	const struct compose_rcpt *rcpts;
	size_t n_rcpts;
	/* A to/cc tier of more recipients than this is shown as an empty
	 * RFC 5322 group named after it, not listed (0: always listed). */
	size_t max_header_names;
	const struct attachment *attachments;
	size_t n_attachments;
	/*
	 * Receipt requests (签收): non-NULL when any recipient is asked to
	 * confirm receipt: the Disposition-Notification-To address (RFC 8098)
	 * and, in an issue, COMPOSE_RECEIPT_LINE at the end of the text and
	 * the HTML. NULL: neither, the message as before.
	 */
	const char *receipt_to;
	/* A reply to this Message-ID (without <>): In-Reply-To and References. */
	const char *in_reply_to;
};

/* The request at the end of an issue whose recipients are asked to confirm receipt. */
#define COMPOSE_RECEIPT_LINE "收到后请回复确认（签收）。/ Please reply to confirm receipt."

/*
 * The whole message: multipart/alternative (text/plain + text/html) for an
 * issue, text/plain otherwise, in multipart/mixed when there are
 * attachments; every part 7-bit encoded, CRLF line endings, not
 * dot-stuffed (the transport does that). Header values are one line each
 * (controls become spaces) and non-ASCII text is RFC 2047 encoded words of
 * at most 72 characters, folded at 78 columns. Returns malloc'd bytes and
 * *len, or NULL with a message in err (an address that is not a plain
 * ASCII address without spaces, controls or specials is refused).
 */
char *compose_message(const struct compose_input *in, size_t *len, char *err,
    size_t errsz);

/*
 * A reminder to confirm receipt of an issue (distctl remind): one short
 * bilingual text/plain message, threaded to the issue, no attachment.
 */
struct compose_reminder_in {
	const char *from_display;	/* may be NULL */
	const char *from_address;
	const char *reply_to_display;	/* may be NULL */
	const char *reply_to_address;	/* NULL: no Reply-To */
	const char *receipt_to;		/* Disposition-Notification-To */
	const char *subject;		/* the issue's subject */
	const char *original_id;	/* the issue's Message-ID, without <> */
	int64_t sent;			/* when the issue was sent (its Date) */
	const char *message_id;		/* the reminder's, without <> */
	int64_t issue_id;		/* the reminder's (X-Distd-Issue) */
	int64_t date;
	const struct compose_rcpt *rcpts;
	size_t n_rcpts;
};

/* "请确认收到 / Please confirm receipt: SUBJECT" (caller frees). */
char *compose_reminder_subject(const char *subject);
/*
 * The reminder's text: what was sent (the subject) and when (local time),
 * and the request to reply, in Chinese and English (caller frees).
 */
char *compose_reminder_body(const char *subject, int64_t sent);
/* The whole reminder (compose_message's rules and errors). */
char *compose_reminder(const struct compose_reminder_in *in, size_t *len, char *err,
    size_t errsz);

/* A content type for a file name by its extension ("application/pdf" …). */
const char *compose_content_type(const char *filename);

#endif
