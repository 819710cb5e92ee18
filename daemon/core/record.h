#ifndef DISTD_RECORD_H
#define DISTD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

#include "queue.h"

/*
 * The distribution record of one issue, for filing: who it went to (tier,
 * unit as printed, name, address), what became of each (state, when the
 * relay accepted it, its reply, attempts, possible duplicate) and what was
 * sent again or corrected. Pure: renders a struct queue_record into an
 * sbuf; times are shown in local time with their UTC offset (TZ).
 *
 * The renderers append to out and cannot fail. Text is raw: a caller that
 * prints to a terminal escapes it (text_escape); CSV, HTML and JSON escape
 * for their own syntax.
 */
enum record_format { RECORD_TEXT, RECORD_CSV, RECORD_HTML, RECORD_JSON };

/* Plain text for an 80-column terminal; wide (CJK) characters count two. */
void record_text(struct sbuf *out, const struct queue_record *r);
/* RFC 4180: a header row, CRLF line ends, UTF-8 with a byte-order mark. */
void record_csv(struct sbuf *out, const struct queue_record *r);
/* One self-contained HTML page that prints on A4. */
void record_html(struct sbuf *out, const struct queue_record *r);
/* One JSON object, the keys of distctl show plus the record's. */
void record_json(struct sbuf *out, const struct queue_record *r);
/* Dispatches on format. */
void record_render(struct sbuf *out, const struct queue_record *r, enum record_format f);

/* "2026-11-23 08:05:04 +0800" for t in local time, "" for 0. */
void record_time(char *buf, size_t n, int64_t t);
/* Appends s with & < > " ' as HTML entities (NULL appends nothing). */
void record_html_escape(struct sbuf *out, const char *s);
/* Appends s as one CSV field: quoted when it holds , " CR or LF. */
void record_csv_field(struct sbuf *out, const char *s);

#endif
