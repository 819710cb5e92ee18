/* The distribution record of an issue: text, CSV, HTML and JSON renderings. */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "text.h"
#include "xalloc.h"

void
record_time(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (n == 0)
		return;
	buf[0] = '\0';
	/* an office files these: the clock on its wall, with the offset that
	 * makes it unambiguous when the record is read elsewhere */
	if (t > 0 && localtime_r(&tt, &tm) != NULL)
		strftime(buf, n, "%Y-%m-%d %H:%M:%S %z", &tm);
}

static const char *
nz(const char *s)
{
	return s ? s : "";
}

/* "250 2.0.0 Ok": the code and enhanced status once, even when the relay's
 * text already starts with them (it usually does). */
static void
reply_of(struct sbuf *out, const struct queue_record_recipient *x)
{
	char code[16] = "";
	const char *text = nz(x->reply);

	if (x->code > 0)
		snprintf(code, sizeof(code), "%d", x->code);
	if (*code && strncmp(text, code, strlen(code)) != 0) {
		sbuf_puts(out, code);
		if (x->dsn && strstr(text, x->dsn) == NULL)
			sbuf_printf(out, " %s", x->dsn);
		if (*text)
			sbuf_putc(out, ' ');
	}
	sbuf_puts(out, text);
}

/* What was sent again or corrected, in words; empty when nothing. */
static void
notes_of(struct sbuf *out, const struct queue_record_recipient *x, const char *sep)
{
	size_t start = out->len;
	char when[40];

	if (x->possible_duplicate)
		sbuf_puts(out, "possible duplicate (in flight at a crash)");
	if (x->resends > 0) {
		record_time(when, sizeof(when), x->last_resend);
		sbuf_printf(out, "%sresent %d time%s (last %s)", out->len > start ? sep : "",
		    x->resends, x->resends == 1 ? "" : "s", when);
	}
	if (x->replaces)
		sbuf_printf(out, "%sreplaces <%s>", out->len > start ? sep : "", x->replaces);
	if (x->added)
		sbuf_printf(out, "%sadded with distctl resend --to", out->len > start ? sep : "");
	if (x->replaced_by)
		sbuf_printf(out, "%sreplaced by <%s>", out->len > start ? sep : "",
		    x->replaced_by);
}

/* "第29期 (总第2138期)", or "" */
static void
number_of(char *buf, size_t n, const struct queue_record *r)
{
	buf[0] = '\0';
	if (r->issue_no >= 0 && r->total_issue_no >= 0)
		snprintf(buf, n, "第%ld期 (总第%ld期)", r->issue_no, r->total_issue_no);
	else if (r->issue_no >= 0)
		snprintf(buf, n, "第%ld期", r->issue_no);
}

static const char *
state_of(const struct queue_record_recipient *x)
{
	return x->replaced_by ? "replaced" : queue_state_name(x->state);
}

/*
 * The state a reader is shown (text, HTML): a bounce stands in for
 * "delivered" (the relay took it, the recipient's server sent it back).
 * CSV and JSON keep the transfer state and give the bounce its own
 * fields, so that a parser of the old columns reads what it read.
 */
static const char *
shown_state(const struct queue_record_recipient *x)
{
	if (!x->replaced_by && x->bounced > 0)
		return "bounced";
	return state_of(x);
}

/* "552 5.2.2 mailbox full": the status once, even when the reply quotes it. */
static void
bounce_of(struct sbuf *out, const struct queue_record_recipient *x)
{
	const char *reply = nz(x->bounce_reply);

	if (x->bounce_status && strstr(reply, x->bounce_status) == NULL)
		sbuf_printf(out, "%s%s", x->bounce_status, *reply ? " " : "");
	sbuf_puts(out, reply);
}

/*
 * Whether x was asked to confirm receipt as the record counts it: on a
 * bulletin only (a reminder asks too, but what comes back for it is
 * applied to the bulletin it reminds of).
 */
static bool
asked(const struct queue_record *r, const struct queue_record_recipient *x)
{
	return x->receipt && r->kind == QUEUE_KIND_BULLETIN;
}

/*
 * What came back after delivery, in words: "bounced <when>: <status
 * reply>" when with_bounce, then the confirmation ("confirmed <when> by
 * mdn", or "asked to confirm, not confirmed") and the reminders; empty
 * when nothing was asked and nothing came back.
 */
static void
feedback_of(struct sbuf *out, const struct queue_record *r,
    const struct queue_record_recipient *x, bool with_bounce, const char *sep)
{
	size_t start = out->len;
	char when[40];

	if (with_bounce && x->bounced > 0) {
		record_time(when, sizeof(when), x->bounced);
		sbuf_printf(out, "bounced %s: ", when);
		bounce_of(out, x);
	}
	if (x->confirmed > 0) {
		record_time(when, sizeof(when), x->confirmed);
		sbuf_printf(out, "%sconfirmed %s%s%s", out->len > start ? sep : "", when,
		    x->confirmed_by ? " by " : "", nz(x->confirmed_by));
	} else if (asked(r, x) && !x->replaced_by) {
		sbuf_printf(out, "%sasked to confirm receipt, not confirmed",
		    out->len > start ? sep : "");
	}
	if (x->reminders > 0) {
		record_time(when, sizeof(when), x->last_reminded);
		sbuf_printf(out, "%sreminded %d time%s%s%s%s", out->len > start ? sep : "",
		    x->reminders, x->reminders == 1 ? "" : "s", *when ? " (last " : "", when,
		    *when ? ")" : "");
	}
}

/* One tier's recipients (not replaced), counted for the record's totals. */
struct tier_total {
	const char *tier;
	long total, delivered, bounced, failed, cancelled, other, receipt, confirmed;
};

/*
 * Totals per tier, in the recipients' (tier) order: delivered means
 * delivered and not bounced, as distctl status counts it; confirmed
 * counts every confirmation, receipt those asked. Caller frees.
 */
static struct tier_total *
tier_totals(const struct queue_record *r, size_t *n)
{
	struct tier_total *t = NULL;

	*n = 0;
	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct queue_record_recipient *x = &r->recipients[i];
		const char *tier = nz(x->tier);
		if (x->replaced_by)
			continue;
		size_t k = 0;
		while (k < *n && strcmp(t[k].tier, tier) != 0)
			k++;
		if (k == *n) {
			t = xreallocarray(t, *n + 1, sizeof(*t));
			t[(*n)++] = (struct tier_total){ .tier = tier };
		}
		struct tier_total *y = &t[k];
		y->total++;
		if (x->state == QUEUE_DELIVERED && x->bounced > 0)
			y->bounced++;
		else if (x->state == QUEUE_DELIVERED)
			y->delivered++;
		else if (x->state == QUEUE_FAILED)
			y->failed++;
		else if (x->state == QUEUE_CANCELLED)
			y->cancelled++;
		else
			y->other++;
		y->receipt += asked(r, x);
		y->confirmed += x->confirmed > 0;
	}
	return t;
}

/* "报 8: 6 delivered, 1 bounced, 1 failed, 5/8 confirmed" */
static void
tier_words(struct sbuf *out, const struct tier_total *y)
{
	sbuf_printf(out, "%s %ld: %ld delivered", y->tier, y->total, y->delivered);
	if (y->bounced)
		sbuf_printf(out, ", %ld bounced", y->bounced);
	if (y->failed)
		sbuf_printf(out, ", %ld failed", y->failed);
	if (y->cancelled)
		sbuf_printf(out, ", %ld cancelled", y->cancelled);
	if (y->other)
		sbuf_printf(out, ", %ld not final", y->other);
	/* of those asked; a reply from one not asked counts too, as the queue counts it */
	if (y->receipt)
		sbuf_printf(out, ", %ld/%ld confirmed", y->confirmed, y->receipt);
	else if (y->confirmed)
		sbuf_printf(out, ", %ld confirmed", y->confirmed);
}

/* ---- text ---------------------------------------------------------------------- */

#define TEXT_WIDTH 79
#define COL_TIER 4
#define COL_NAME 22
#define COL_ADDRESS 35
#define COL_STATE 10
#define DETAIL_INDENT 5

static void
spaces(struct sbuf *out, int n)
{
	for (int i = 0; i < n; i++)
		sbuf_putc(out, ' ');
}

/*
 * One cell of the table: padded to width when it fits; else written whole
 * (a record keeps every character of a unit or address) and the row goes
 * on at the same column on the next line. *at is the column reached.
 */
static void
cell(struct sbuf *out, int *at, const char *s, int width)
{
	int w = text_width(s), next = *at + width + 1;

	sbuf_puts(out, s);
	if (w > width) {
		sbuf_putc(out, '\n');
		spaces(out, next);
	} else {
		spaces(out, width - w + 1);
	}
	*at = next;
}

/*
 * Appends s indented and wrapped to TEXT_WIDTH by display width: at the
 * last space when the line has one, else (a long address) anywhere.
 */
static void
detail(struct sbuf *out, const char *text)
{
	const int room = TEXT_WIDTH - DETAIL_INDENT;
	struct sbuf vis = SBUF_INIT;
	/* a multi-line reply reads as one paragraph under its row */
	char *s = xstrdup(text);
	size_t n = strlen(s), i = 0;

	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/*
	 * A remote server's reply (a bounce) may carry escape sequences:
	 * made visible here, before the line is measured, so that the
	 * caller's escaping for the terminal finds nothing left to lengthen
	 * a line past TEXT_WIDTH.
	 */
	if (!text_printable(s, n)) {
		text_escape(&vis, s, n, false);
		free(s);
		s = sbuf_steal(&vis);
		n = strlen(s);
	}

	while (i < n) {
		size_t j = i, cut = 0;
		int w = 0;
		while (j < n) {
			size_t at = j;
			char one[8];
			text_next(s, n, &j);
			if (j - at >= sizeof(one))
				j = at + 1;
			memcpy(one, s + at, j - at);
			one[j - at] = '\0';
			w += text_width(one);
			if (w > room) {
				j = at;
				break;
			}
			if (s[at] == ' ')
				cut = at;
		}
		if (j < n && cut > i)
			j = cut;
		spaces(out, DETAIL_INDENT);
		sbuf_append(out, s + i, j - i);
		sbuf_putc(out, '\n');
		i = j;
		while (i < n && s[i] == ' ')
			i++;
	}
	free(s);
}

static void
meta_line(struct sbuf *out, const char *label, const char *value)
{
	if (value && *value)
		sbuf_printf(out, "%-12s%s\n", label, value);
}

void
record_text(struct sbuf *out, const struct queue_record *r)
{
	char num[96], received[40], finished[40], id[32];
	long by_state[5] = { 0 };	/* delivered failed cancelled replaced other */
	long bounced = 0, n_asked = 0;

	number_of(num, sizeof(num), r);
	record_time(received, sizeof(received), r->received);
	record_time(finished, sizeof(finished), r->finished);
	sbuf_printf(out, "Distribution record of issue %lld\n\n", (long long)r->id);
	meta_line(out, "Title:", r->title);
	meta_line(out, "Number:", num);
	meta_line(out, "Date:", r->date);
	meta_line(out, "Issuer:", r->issuer);
	meta_line(out, "Subject:", r->subject);
	meta_line(out, "Source:", r->source);
	meta_line(out, "Message-ID:", r->message_id);
	if (r->kind != QUEUE_KIND_BULLETIN)
		meta_line(out, "Kind:", queue_kind_name(r->kind));
	meta_line(out, "State:", queue_issue_state_name(r->state));
	meta_line(out, "Received:", received);
	meta_line(out, "Finished:", finished);
	if (r->duplicate_of) {
		snprintf(id, sizeof(id), "issue %lld", (long long)r->duplicate_of);
		meta_line(out, "Duplicate:", id);
	}
	if (r->report_for) {
		snprintf(id, sizeof(id), "issue %lld", (long long)r->report_for);
		meta_line(out, "Report for:", id);
	}
	if (r->notice_for) {
		snprintf(id, sizeof(id), "issue %lld", (long long)r->notice_for);
		meta_line(out, "Notice for:", id);
	}
	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct queue_record_recipient *x = &r->recipients[i];
		by_state[x->replaced_by ? 3 : x->state == QUEUE_DELIVERED ? 0 :
		    x->state == QUEUE_FAILED ? 1 : x->state == QUEUE_CANCELLED ? 2 : 4]++;
		if (!x->replaced_by && x->state == QUEUE_DELIVERED && x->bounced > 0) {
			by_state[0]--;
			bounced++;
		}
		if (!x->replaced_by)
			n_asked += asked(r, x);
	}
	sbuf_printf(out, "%-12s%zu: %ld delivered, ", "Recipients:", r->n_recipients,
	    by_state[0]);
	if (bounced)
		sbuf_printf(out, "%ld bounced, ", bounced);
	sbuf_printf(out, "%ld failed, %ld cancelled, %ld replaced", by_state[1], by_state[2],
	    by_state[3]);
	if (by_state[4])
		sbuf_printf(out, ", %ld not final", by_state[4]);
	sbuf_putc(out, '\n');
	/* per tier, when there is more than one or anything came back */
	size_t nt;
	struct tier_total *tt = tier_totals(r, &nt);
	if (nt > 1 || bounced || n_asked) {
		for (size_t k = 0; k < nt; k++) {
			struct sbuf line = SBUF_INIT;
			tier_words(&line, &tt[k]);
			sbuf_printf(out, "%-12s%s\n", k == 0 ? "By tier:" : "", sbuf_str(&line));
			sbuf_free(&line);
		}
	}
	free(tt);
	sbuf_putc(out, '\n');
	if (r->n_recipients == 0)
		return;

	int at = 0;
	cell(out, &at, "TIER", COL_TIER);
	cell(out, &at, "UNIT / NAME", COL_NAME);
	cell(out, &at, "ADDRESS", COL_ADDRESS);
	cell(out, &at, "STATE", COL_STATE);
	sbuf_puts(out, "TRIES\n");
	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct queue_record_recipient *x = &r->recipients[i];
		const struct queue_record_recipient *prev = i ? &r->recipients[i - 1] : NULL;
		struct sbuf line = SBUF_INIT;
		char when[40];
		const char *unit = nz(x->unit), *name = nz(x->name);

		at = 0;
		/*
		 * As the 版记 reads: a unit that stands for one body is one row;
		 * a unit that names several ("市委、市人大…") is a line of its own
		 * with its bodies indented under it.
		 */
		if (strcmp(name, unit) == 0) {
			cell(out, &at, nz(x->tier), COL_TIER);
			cell(out, &at, unit, COL_NAME);
		} else {
			if (prev == NULL || strcmp(nz(prev->unit), unit) != 0 ||
			    strcmp(nz(prev->tier), nz(x->tier)) != 0) {
				cell(out, &at, nz(x->tier), COL_TIER);
				sbuf_printf(out, "%s\n", unit);
				at = 0;
			}
			cell(out, &at, "", COL_TIER);
			sbuf_puts(&line, "  ");
			sbuf_puts(&line, name);
			cell(out, &at, sbuf_str(&line), COL_NAME);
			sbuf_reset(&line);
		}
		cell(out, &at, nz(x->address), COL_ADDRESS);
		cell(out, &at, shown_state(x), COL_STATE);
		sbuf_printf(out, "%5d\n", x->attempts);
		record_time(when, sizeof(when), x->accepted);
		if (*when)
			sbuf_printf(&line, "accepted %s: ", when);
		reply_of(&line, x);
		detail(out, sbuf_str(&line));
		sbuf_reset(&line);
		/* the bounce a paragraph of its own: the remote reply is long */
		if (x->bounced > 0) {
			record_time(when, sizeof(when), x->bounced);
			sbuf_printf(&line, "bounced %s: ", when);
			bounce_of(&line, x);
			detail(out, sbuf_str(&line));
			sbuf_reset(&line);
		}
		feedback_of(&line, r, x, false, "; ");
		detail(out, sbuf_str(&line));
		sbuf_reset(&line);
		notes_of(&line, x, "; ");
		detail(out, sbuf_str(&line));
		sbuf_free(&line);
	}
}

/* ---- CSV ----------------------------------------------------------------------- */

void
record_csv_field(struct sbuf *out, const char *s)
{
	s = nz(s);
	/*
	 * A field that starts like a formula (= + - @) would be evaluated by
	 * a spreadsheet: a unit or a relay's reply is somebody else's text,
	 * so it gets a leading apostrophe, which spreadsheets show as text.
	 */
	bool formula = strchr("=+-@", s[0]) != NULL && s[0] != '\0';
	if (!formula && strpbrk(s, ",\"\r\n") == NULL) {
		sbuf_puts(out, s);
		return;
	}
	sbuf_putc(out, '"');
	if (formula)
		sbuf_putc(out, '\'');
	for (; *s; s++) {
		if (*s == '"')
			sbuf_putc(out, '"');
		sbuf_putc(out, *s);
	}
	sbuf_putc(out, '"');
}

static void
csv_num(struct sbuf *out, long long v)
{
	sbuf_printf(out, "%lld", v);
}

void
record_csv(struct sbuf *out, const struct queue_record *r)
{
	static const char *const head[] = {
		"issue", "title", "issue_no", "date", "message_id", "tier", "unit", "name",
		"address", "state", "accepted", "code", "dsn", "reply", "attempts",
		"possible_duplicate", "resends", "last_resend", "replaced_by", "replaces",
		/* issue 17, at the end: a parser of the columns above reads on */
		"bounced", "bounce_status", "bounce_reply", "receipt", "confirmed",
		"confirmed_by", "reminders", "last_reminded",
	};
	char when[40];

	/*
	 * With a byte-order mark: Excel, which most offices open a .csv with,
	 * reads a file without one in the local ANSI code page (GBK on Chinese
	 * Windows) and garbles every unit; with it, Excel, LibreOffice and
	 * Python's utf-8-sig all read UTF-8.
	 */
	sbuf_puts(out, "\xEF\xBB\xBF");
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		sbuf_printf(out, "%s%s", i ? "," : "", head[i]);
	sbuf_puts(out, "\r\n");
	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct queue_record_recipient *x = &r->recipients[i];
		csv_num(out, r->id);
		sbuf_putc(out, ',');
		record_csv_field(out, r->title);
		sbuf_putc(out, ',');
		if (r->issue_no >= 0)
			csv_num(out, r->issue_no);
		sbuf_putc(out, ',');
		record_csv_field(out, r->date);
		sbuf_putc(out, ',');
		record_csv_field(out, r->message_id);
		sbuf_putc(out, ',');
		record_csv_field(out, x->tier);
		sbuf_putc(out, ',');
		record_csv_field(out, x->unit);
		sbuf_putc(out, ',');
		record_csv_field(out, x->name);
		sbuf_putc(out, ',');
		record_csv_field(out, x->address);
		sbuf_putc(out, ',');
		record_csv_field(out, state_of(x));
		sbuf_putc(out, ',');
		record_time(when, sizeof(when), x->accepted);
		record_csv_field(out, when);
		sbuf_putc(out, ',');
		if (x->code > 0)
			csv_num(out, x->code);
		sbuf_putc(out, ',');
		record_csv_field(out, x->dsn);
		sbuf_putc(out, ',');
		record_csv_field(out, x->reply);
		sbuf_putc(out, ',');
		csv_num(out, x->attempts);
		sbuf_putc(out, ',');
		sbuf_puts(out, x->possible_duplicate ? "yes" : "no");
		sbuf_putc(out, ',');
		csv_num(out, x->resends);
		sbuf_putc(out, ',');
		record_time(when, sizeof(when), x->last_resend);
		record_csv_field(out, when);
		sbuf_putc(out, ',');
		record_csv_field(out, x->replaced_by);
		sbuf_putc(out, ',');
		record_csv_field(out, x->replaces);
		sbuf_putc(out, ',');
		record_time(when, sizeof(when), x->bounced);
		record_csv_field(out, when);
		sbuf_putc(out, ',');
		record_csv_field(out, x->bounce_status);
		sbuf_putc(out, ',');
		record_csv_field(out, x->bounce_reply);
		sbuf_putc(out, ',');
		sbuf_puts(out, x->receipt ? "yes" : "no");
		sbuf_putc(out, ',');
		record_time(when, sizeof(when), x->confirmed);
		record_csv_field(out, when);
		sbuf_putc(out, ',');
		record_csv_field(out, x->confirmed_by);
		sbuf_putc(out, ',');
		csv_num(out, x->reminders);
		sbuf_putc(out, ',');
		record_time(when, sizeof(when), x->last_reminded);
		record_csv_field(out, when);
		sbuf_puts(out, "\r\n");
	}
}

/* ---- HTML ---------------------------------------------------------------------- */

void
record_html_escape(struct sbuf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': sbuf_puts(out, "&amp;"); break;
		case '<': sbuf_puts(out, "&lt;"); break;
		case '>': sbuf_puts(out, "&gt;"); break;
		case '"': sbuf_puts(out, "&quot;"); break;
		case '\'': sbuf_puts(out, "&#39;"); break;
		default:
			/* control characters have no place in a page (and \0 cannot come) */
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				sbuf_printf(out, "\\x%02x", (unsigned char)*s);
			else
				sbuf_putc(out, *s);
		}
	}
}

static void
html_row(struct sbuf *out, const char *label, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	sbuf_printf(out, "<tr><th>%s</th><td>", label);
	record_html_escape(out, value);
	sbuf_puts(out, "</td></tr>\n");
}

/*
 * Print first: A4 with margins, a fixed table layout whose columns share
 * the page width (nothing runs off the right edge), long addresses and
 * replies broken anywhere, the header row repeated on every page
 * (thead as table-header-group) and no row split over two pages.
 */
static const char html_style[] =
    "@page { size: A4; margin: 16mm 12mm 16mm 12mm; }\n"
    "* { box-sizing: border-box; }\n"
    "body { font-family: \"Noto Sans CJK SC\", \"Source Han Sans SC\", \"Noto Serif CJK SC\","
    " \"Microsoft YaHei\", \"SimSun\", sans-serif; font-size: 9pt; line-height: 1.35;"
    " color: #000; margin: 0; }\n"
    "@media screen { body { max-width: 186mm; margin: 1em auto; } }\n"
    "h1 { font-size: 14pt; margin: 0 0 6pt; }\n"
    "table { width: 100%; border-collapse: collapse; table-layout: fixed; }\n"
    "table.meta { margin-bottom: 8pt; }\n"
    "table.meta th { width: 22%; text-align: left; font-weight: normal; color: #444;"
    " padding: 1pt 4pt 1pt 0; vertical-align: top; }\n"
    "table.meta td { padding: 1pt 0; overflow-wrap: anywhere; }\n"
    "table.rcpt thead { display: table-header-group; }\n"
    "table.rcpt tr { break-inside: avoid; page-break-inside: avoid; }\n"
    "table.rcpt th, table.rcpt td { border: 0.5pt solid #777; padding: 2pt 3pt;"
    " text-align: left; vertical-align: top; overflow-wrap: anywhere;"
    " word-break: break-word; }\n"
    "table.rcpt th { background: #eee; }\n"
    "td.addr { font-family: \"DejaVu Sans Mono\", monospace; font-size: 7.5pt; }\n"
    "td.small, th.small { font-size: 8pt; }\n"
    "td.num { text-align: right; }\n"
    ".name { color: #444; }\n"
    "tr.failed td, tr.cancelled td, tr.bounced td { background: #f6f6f6; }\n"
    "table.tiers { width: auto; margin-bottom: 8pt; }\n"
    "table.tiers th, table.tiers td { border: 0.5pt solid #777; padding: 1pt 4pt;"
    " text-align: right; }\n"
    "table.tiers th:first-child, table.tiers td:first-child { text-align: left; }\n";

/* Escaped lines joined by <br> (a line of the text itself stays one line). */
static void
html_lines(struct sbuf *out, const char *text)
{
	char *copy = xstrdup(text), *save = NULL;
	bool first = true;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!first)
			sbuf_puts(out, "<br>");
		record_html_escape(out, l);
		first = false;
	}
	free(copy);
}

/* The totals per tier as a small table, when anything was asked or came back or tiers differ. */
static void
tiers_html(struct sbuf *out, const struct queue_record *r)
{
	size_t n;
	struct tier_total *t = tier_totals(r, &n);
	long n_asked = 0, bounced = 0;

	for (size_t k = 0; k < n; k++) {
		n_asked += t[k].receipt;
		bounced += t[k].bounced;
	}
	if (n > 1 || n_asked || bounced) {
		sbuf_puts(out, "<table class=\"tiers\">\n<thead><tr><th>Tier</th><th>Recipients</th>"
		    "<th>Delivered</th><th>Bounced</th><th>Failed</th><th>Cancelled</th>"
		    "<th>Not final</th><th>Confirmed</th><th>Asked to confirm</th></tr></thead>\n"
		    "<tbody>\n");
		for (size_t k = 0; k < n; k++) {
			const struct tier_total *y = &t[k];
			sbuf_puts(out, "<tr><td>");
			record_html_escape(out, y->tier);
			sbuf_printf(out, "</td><td>%ld</td><td>%ld</td><td>%ld</td><td>%ld</td>"
			    "<td>%ld</td><td>%ld</td><td>%ld</td><td>%ld</td></tr>\n", y->total,
			    y->delivered, y->bounced, y->failed, y->cancelled, y->other,
			    y->confirmed, y->receipt);
		}
		sbuf_puts(out, "</tbody>\n</table>\n");
	}
	free(t);
}

void
record_html(struct sbuf *out, const struct queue_record *r)
{
	char num[96], when[40], id[32];

	number_of(num, sizeof(num), r);
	sbuf_puts(out, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<title>");
	sbuf_printf(out, "Distribution record, issue %lld: ", (long long)r->id);
	record_html_escape(out, r->title);
	sbuf_printf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", html_style);
	sbuf_printf(out, "<h1>Distribution record of issue %lld</h1>\n", (long long)r->id);
	sbuf_puts(out, "<table class=\"meta\">\n");
	html_row(out, "Title", r->title);
	html_row(out, "Number", num);
	html_row(out, "Date", r->date);
	html_row(out, "Issuer", r->issuer);
	html_row(out, "Subject", r->subject);
	html_row(out, "Source", r->source);
	html_row(out, "Message-ID", r->message_id);
	if (r->kind != QUEUE_KIND_BULLETIN)
		html_row(out, "Kind", queue_kind_name(r->kind));
	html_row(out, "State", queue_issue_state_name(r->state));
	record_time(when, sizeof(when), r->received);
	html_row(out, "Received", when);
	record_time(when, sizeof(when), r->finished);
	html_row(out, "Finished", when);
	snprintf(id, sizeof(id), "issue %lld", (long long)r->duplicate_of);
	html_row(out, "Duplicate of", r->duplicate_of ? id : NULL);
	snprintf(id, sizeof(id), "issue %lld", (long long)r->report_for);
	html_row(out, "Report for", r->report_for ? id : NULL);
	snprintf(id, sizeof(id), "issue %lld", (long long)r->notice_for);
	html_row(out, "Notice for", r->notice_for ? id : NULL);
	snprintf(id, sizeof(id), "%zu", r->n_recipients);
	html_row(out, "Recipients", id);
	sbuf_puts(out, "</table>\n");
	tiers_html(out, r);

	/* shares of the 186 mm between A4's margins: an address of ~28
	 * characters fits its column on one line, longer ones wrap */
	sbuf_puts(out, "<table class=\"rcpt\">\n<colgroup><col style=\"width:4%\">"
	    "<col style=\"width:4.5%\"><col style=\"width:15.5%\"><col style=\"width:25%\">"
	    "<col style=\"width:9%\"><col style=\"width:10.5%\"><col style=\"width:14%\">"
	    "<col style=\"width:5.5%\"><col style=\"width:12%\"></colgroup>\n"
	    "<thead><tr><th>#</th><th class=\"small\">Tier</th><th>Unit / name</th><th>Address</th>"
	    "<th>State</th><th>Accepted</th><th>Relay reply</th><th class=\"small\">Tries</th>"
	    "<th>Notes</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct queue_record_recipient *x = &r->recipients[i];
		struct sbuf t = SBUF_INIT;
		sbuf_printf(out, "<tr class=\"%s\"><td class=\"num small\">%zu</td><td>",
		    shown_state(x), i + 1);
		record_html_escape(out, x->tier);
		sbuf_puts(out, "</td><td>");
		record_html_escape(out, x->unit);
		if (x->name && x->unit && strcmp(x->name, x->unit) != 0) {
			sbuf_puts(out, "<br><span class=\"name\">");
			record_html_escape(out, x->name);
			sbuf_puts(out, "</span>");
		}
		sbuf_puts(out, "</td><td class=\"addr\">");
		record_html_escape(out, x->address);
		sbuf_puts(out, "</td><td>");
		record_html_escape(out, shown_state(x));
		sbuf_puts(out, "</td><td class=\"small\">");
		record_time(when, sizeof(when), x->accepted);
		record_html_escape(out, when);
		sbuf_puts(out, "</td><td class=\"small\">");
		reply_of(&t, x);
		record_html_escape(out, sbuf_str(&t));
		sbuf_reset(&t);
		sbuf_printf(out, "</td><td class=\"num\">%d</td><td class=\"small\">", x->attempts);
		/* what came back first: it is what the reader looks for */
		feedback_of(&t, r, x, true, "\n");
		bool came_back = t.len > 0;
		html_lines(out, sbuf_str(&t));
		sbuf_reset(&t);
		notes_of(&t, x, "; ");
		if (came_back && t.len > 0)
			sbuf_puts(out, "<br>");
		record_html_escape(out, sbuf_str(&t));
		sbuf_free(&t);
		sbuf_puts(out, "</td></tr>\n");
	}
	sbuf_puts(out, "</tbody>\n</table>\n</body>\n</html>\n");
}

/* ---- JSON ---------------------------------------------------------------------- */

static void
recipient_json(struct json_writer *w, const struct queue_record_recipient *x)
{
	json_begin_object(w);
	json_member_string(w, "tier", x->tier);
	json_member_string(w, "unit", x->unit);
	json_member_string(w, "name", x->name);
	json_member_string(w, "address", x->address);
	json_member_string(w, "state", state_of(x));
	json_member_time(w, "accepted", x->accepted);
	json_member_number_or_null(w, "last_code", x->code > 0 ? x->code : -1);
	json_member_string(w, "last_dsn", x->dsn);
	json_member_string(w, "last_reply", x->reply);
	json_member_number(w, "attempts", x->attempts);
	json_member_bool(w, "possible_duplicate", x->possible_duplicate);
	json_member_number(w, "resends", x->resends);
	json_member_time(w, "last_resend", x->last_resend);
	json_member_string(w, "replaced_by", x->replaced_by);
	json_member_string(w, "replaces", x->replaces);
	json_member_time(w, "bounced", x->bounced);
	json_member_string(w, "bounce_status", x->bounce_status);
	json_member_string(w, "bounce_reply", x->bounce_reply);
	json_member_bool(w, "receipt", x->receipt);
	json_member_time(w, "confirmed", x->confirmed);
	json_member_string(w, "confirmed_by", x->confirmed_by);
	json_member_number(w, "reminders", x->reminders);
	json_member_time(w, "last_reminded", x->last_reminded);
	json_end_object(w);
}

void
record_json(struct sbuf *out, const struct queue_record *r)
{
	struct json_writer w;

	json_start(&w, out);
	json_begin_object(&w);
	json_member_number(&w, "id", r->id);
	json_member_string(&w, "kind", queue_kind_name(r->kind));
	json_member_string(&w, "title", r->title);
	json_member_number_or_null(&w, "issue_no", r->issue_no);
	json_member_number_or_null(&w, "total_issue_no", r->total_issue_no);
	json_member_string(&w, "issuer", r->issuer);
	json_member_string(&w, "date", r->date);
	json_member_string(&w, "source", r->source);
	json_member_string(&w, "subject", r->subject);
	json_member_string(&w, "message_id", r->message_id);
	json_member_string(&w, "state", queue_issue_state_name(r->state));
	json_member_time(&w, "received", r->received);
	json_member_time(&w, "finished", r->finished);
	json_member_number_or_null(&w, "duplicate_of", r->duplicate_of ? r->duplicate_of : -1);
	json_member_number_or_null(&w, "report_for", r->report_for ? r->report_for : -1);
	json_member_number_or_null(&w, "notice_for", r->notice_for ? r->notice_for : -1);
	json_key(&w, "recipients");
	json_begin_array(&w);
	for (size_t i = 0; i < r->n_recipients; i++)
		recipient_json(&w, &r->recipients[i]);
	json_end_array(&w);
	/* totals per tier, counted as distctl status counts them */
	size_t nt;
	struct tier_total *tt = tier_totals(r, &nt);
	json_key(&w, "tiers");
	json_begin_array(&w);
	for (size_t k = 0; k < nt; k++) {
		json_begin_object(&w);
		json_member_string(&w, "tier", tt[k].tier);
		json_member_number(&w, "total", tt[k].total);
		json_member_number(&w, "delivered", tt[k].delivered);
		json_member_number(&w, "bounced", tt[k].bounced);
		json_member_number(&w, "failed", tt[k].failed);
		json_member_number(&w, "cancelled", tt[k].cancelled);
		json_member_number(&w, "not_final", tt[k].other);
		json_member_number(&w, "receipt", tt[k].receipt);
		json_member_number(&w, "confirmed", tt[k].confirmed);
		json_end_object(&w);
	}
	json_end_array(&w);
	free(tt);
	json_end_object(&w);
	json_finish_fixed(&w);
	sbuf_putc(out, '\n');
}

void
record_render(struct sbuf *out, const struct queue_record *r, enum record_format f)
{
	switch (f) {
	case RECORD_TEXT: record_text(out, r); break;
	case RECORD_CSV: record_csv(out, r); break;
	case RECORD_HTML: record_html(out, r); break;
	case RECORD_JSON: record_json(out, r); break;
	}
}
