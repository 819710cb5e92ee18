#ifndef DISTD_SMTP_TRACE_H
#define DISTD_SMTP_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

/*
 * The SMTP transcript parser (pure: no I/O, no threads).
 *
 * libcurl has no per-recipient result API, so the transport feeds curl's
 * protocol trace (CURLOPT_DEBUGFUNCTION) in here, command by command and
 * reply by reply, and reads back what the server said to each step:
 * greeting, EHLO (and its SIZE), AUTH, MAIL, every RCPT, DATA.
 * smtp_outcome then turns that into one verdict per recipient.
 */

/* What the server said, as recovered from the trace. */
struct smtp_transcript {
	int greeting_code;
	int ehlo_code;
	int auth_code;
	int mail_code;
	char *mail_text;
	size_t n_rcpt;		/* RCPT commands sent */
	size_t cap_rcpt;
	int *rcpt_code;
	char **rcpt_text;
	int data_code;		/* the end-of-data reply (or DATA refused) */
	char *data_text;
	int last_code;
	char *last_text;
	long size_limit;	/* EHLO's SIZE (0: none or not seen) */
	bool size_seen;		/* an EHLO reply was read (SIZE or not) */
	int phase;		/* internal */
};

void smtp_transcript_reset(struct smtp_transcript *t);
/* Feeds one chunk of curl's trace: out = a command we sent, else a reply. */
void smtp_transcript_feed(struct smtp_transcript *t, bool out, const char *data,
    size_t len);
/* True when the message data went out and no verdict came back (cut after DATA). */
bool smtp_transcript_data_sent(const struct smtp_transcript *t);

/*
 * Turns a finished transfer into one verdict per recipient (pure).
 * curl_code is the CURLcode, curl_error curl's error text (may be empty).
 * The reply strings in v point into t or to static text; they live until
 * t is reset.
 */
void smtp_outcome(const struct smtp_transcript *t, int curl_code,
    const char *curl_error, size_t n, struct smtp_verdict *v);

/*
 * The failure class of a CURLcode with no SMTP reply behind it: dns,
 * connect, tls, auth or protocol.
 */
enum smtp_class smtp_curl_class(int curl_code);

/*
 * True for a recipient-limit reply ("452 4.5.3 Too many recipients"):
 * not a verdict on the recipient, who goes again at once in another
 * transaction. smtp_outcome gives such verdicts SMTP_CLASS_LIMIT.
 */
bool smtp_is_rcpt_limit(int code, const char *text);

#endif
