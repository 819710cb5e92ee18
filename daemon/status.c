#include "status.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "text.h"

/* Text output fits a terminal of this many columns (Chinese is 2 wide). */
#define STATUS_COLUMNS 80

#define BOLD(st) ((st)->color ? "\033[1m" : "")
#define RED(st) ((st)->color ? "\033[31m" : "")
#define OFF(st) ((st)->color ? "\033[0m" : "")

static const char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : NULL;
}

/*
 * Text output only: a value from the queue as a terminal may show it.
 * Titles and file names come from whoever can write the outbox, replies
 * from the relay; text_escape makes their control characters and
 * non-UTF-8 bytes visible instead of acting on the terminal. Returns s
 * when it is safe as it is, else the escaped copy held in slot (valid
 * until the slot is used again); NULL stays NULL.
 */
static const char *
vis(struct sbuf *slot, const char *s)
{
	if (s == NULL || text_printable(s, strlen(s)))
		return s;
	sbuf_reset(slot);
	text_escape(slot, s, strlen(s), false);
	return sbuf_str(slot);
}

/* Slots for vis(): one per value shown at once. */
#define VIS_SLOTS 12

static void
vis_free(struct sbuf *slots)
{
	for (int i = 0; i < VIS_SLOTS; i++)
		sbuf_free(&slots[i]);
}

static long long
col_ll(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static void
timestamp(char *buf, size_t n, int64_t t, const char *fmt)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0) {
		snprintf(buf, n, "-");
		return;
	}
	localtime_r(&tt, &tm);
	strftime(buf, n, fmt, &tm);
}

static void
iso(char *buf, size_t n, int64_t t)
{
	timestamp(buf, n, t, "%Y-%m-%dT%H:%M:%S%z");
}

static void
json_time(struct sbuf *b, int64_t t)
{
	char s[40];

	if (t <= 0) {
		sbuf_puts(b, "null");
		return;
	}
	iso(s, sizeof(s), t);
	json_str(b, s);
}

void
status_pad(struct sbuf *out, const char *s, int width)
{
	int w = 0;
	size_t n = strlen(s), i = 0;

	if (text_width(s) <= width) {
		sbuf_puts(out, s);
		for (int k = text_width(s); k < width; k++)
			sbuf_putc(out, ' ');
		return;
	}
	/* cut at a character boundary, leaving room for "…" */
	while (i < n) {
		size_t at = i;
		text_next(s, n, &i);
		char one[8];
		memcpy(one, s + at, i - at);
		one[i - at] = '\0';
		int cw = text_width(one);
		if (w + cw > width - 1) {
			i = at;
			break;
		}
		w += cw;
	}
	sbuf_append(out, s, i);
	sbuf_puts(out, "…");
	for (w++; w < width; w++)
		sbuf_putc(out, ' ');
}

/* Display columns of the character at s[*i] (advancing *i past it). */
static int
char_width(const char *s, size_t n, size_t *i)
{
	size_t at = *i;
	char one[8];

	text_next(s, n, i);
	if (*i - at >= sizeof(one))
		return 1;
	memcpy(one, s + at, *i - at);
	one[*i - at] = '\0';
	return text_width(one);
}

void
status_cut(struct sbuf *out, const char *s, int width)
{
	size_t n = strlen(s), i = 0;
	int w = 0;

	if (text_width(s) <= width) {
		sbuf_puts(out, s);
		return;
	}
	while (i < n) {
		size_t at = i;
		int cw = char_width(s, n, &i);
		if (w + cw > width - 1) {
			i = at;
			break;
		}
		w += cw;
	}
	sbuf_append(out, s, i);
	sbuf_puts(out, "…");
}

/*
 * Appends text to a line that already holds `col` columns, breaking it
 * at STATUS_COLUMNS by display width: at a space when one is in reach,
 * else between two characters (Chinese has no spaces). Continuation
 * lines start with `indent` spaces. Ends the last line.
 */
static void
wrap(struct sbuf *out, int col, int indent, const char *text)
{
	size_t n = strlen(text), i = 0;

	while (i < n) {
		size_t j = i, space = 0;
		int w = col;
		while (j < n) {
			size_t k = j;
			int cw = char_width(text, n, &k);
			if (w + cw > STATUS_COLUMNS)
				break;
			if (text[j] == ' ')
				space = j;
			w += cw;
			j = k;
		}
		if (j == i)		/* not even one character fits: take it anyway */
			char_width(text, n, &j);
		if (j < n && space > i) {
			sbuf_append(out, text + i, space - i);
			i = space + 1;
		} else {
			sbuf_append(out, text + i, j - i);
			i = j;
		}
		sbuf_putc(out, '\n');
		while (i < n && text[i] == ' ')
			i++;
		if (i < n) {
			for (int k = 0; k < indent; k++)
				sbuf_putc(out, ' ');
			col = indent;
		}
	}
	if (n == 0)
		sbuf_putc(out, '\n');
}

/* wrap() for a printf format. */
static void __attribute__((format(printf, 4, 5)))
wrapf(struct sbuf *out, int col, int indent, const char *fmt, ...)
{
	struct sbuf b = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	wrap(out, col, indent, sbuf_str(&b));
	sbuf_free(&b);
}

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql, char *err, size_t errsz)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "reading the queue: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

/* ---- status --------------------------------------------------------------- */

/* Where the tier column of the issue table starts (see the header line). */
#define ISSUE_TIERS_AT 50

struct tier_count {
	char tier[32];
	long total, delivered, deferred, failed;
};

static size_t
issue_tiers(sqlite3 *db, int64_t issue, struct tier_count *tc, size_t max)
{
	/*
	 * A finished issue's totals were written when it finished (table
	 * issue_tiers); only the issues still going are counted here.
	 */
	static const char *const sql[] = {
		"SELECT t.tier_keyword, t.total, t.delivered, t.deferred, t.failed"
		" FROM issue_tiers t JOIN issues i ON i.id = t.issue AND i.state = 'done'"
		" WHERE t.issue = ? ORDER BY t.tier",
		"SELECT tier_keyword, COUNT(*),"
		" SUM(state = 'delivered'), SUM(state = 'deferred'), SUM(state = 'failed')"
		" FROM recipients WHERE issue = ? AND replaced_by IS NULL"
		" GROUP BY tier, tier_keyword ORDER BY tier",
	};
	size_t n = 0;

	for (size_t k = 0; k < 2 && n == 0; k++) {
		sqlite3_stmt *st = NULL;
		sqlite3_prepare_v2(db, sql[k], -1, &st, NULL);
		sqlite3_bind_int64(st, 1, issue);
		while (st && sqlite3_step(st) == SQLITE_ROW && n < max) {
			snprintf(tc[n].tier, sizeof(tc[n].tier), "%s", col(st, 0));
			tc[n].total = sqlite3_column_int64(st, 1);
			tc[n].delivered = sqlite3_column_int64(st, 2);
			tc[n].deferred = sqlite3_column_int64(st, 3);
			tc[n].failed = sqlite3_column_int64(st, 4);
			n++;
		}
		sqlite3_finalize(st);
	}
	return n;
}

/* Appends one unbreakable group of the tier column, wrapping at 80 columns. */
static void
tier_group(struct sbuf *out, int *col, const struct tier_count *tc,
    const struct status_style *style)
{
	char plain[160], fail[32] = "", defer[32] = "";
	struct sbuf slot = SBUF_INIT;
	const char *tier = vis(&slot, tc->tier);

	if (tc->failed)
		snprintf(fail, sizeof(fail), " ✗%ld", tc->failed);
	if (tc->deferred)
		snprintf(defer, sizeof(defer), " ~%ld", tc->deferred);
	snprintf(plain, sizeof(plain), "%s %ld/%ld%s%s", tier, tc->delivered, tc->total,
	    fail, defer);
	int w = text_width(plain);
	if (*col + 1 + w > STATUS_COLUMNS) {
		sbuf_printf(out, "\n%*s", ISSUE_TIERS_AT, "");
		*col = ISSUE_TIERS_AT;
	}
	sbuf_printf(out, " %s %ld/%ld", tier, tc->delivered, tc->total);
	if (tc->failed)
		sbuf_printf(out, "%s%s%s", RED(style), fail, OFF(style));
	sbuf_puts(out, defer);
	*col += 1 + w;
	sbuf_free(&slot);
}

int
status_report(struct sbuf *out, struct queue *q, const struct status_where *w,
    const struct status_daemon *d, const struct status_style *style, bool json,
    bool *attention, char *err, size_t errsz)
{
	sqlite3 *db = q ? queue_db(q) : NULL;
	long counts[QUEUE_STATES] = { 0 };
	sqlite3_stmt *st;
	char t1[40], t2[40];
	int first = 1, rc = -1;
	struct sbuf v[VIS_SLOTS] = { SBUF_INIT };

	*attention = false;
	if (q && queue_counts(q, counts) < 0) {
		snprintf(err, errsz, "reading the queue: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (json) {
		sbuf_putc(out, '{');
		json_key(out, "daemon", &first);
		int df = 1;
		sbuf_putc(out, '{');
		json_key(out, "running", &df); sbuf_puts(out, d->running ? "true" : "false");
		json_key(out, "pid", &df); json_num_or_null(out, d->running ? d->pid : -1);
		json_key(out, "since", &df); json_time(out, d->running ? d->since : 0);
		sbuf_putc(out, '}');
		json_key(out, "config", &first); json_str(out, w->config);
		json_key(out, "config_error", &first); json_str(out, w->config_error);
		json_key(out, "relay", &first); json_str(out, w->relay);
		json_key(out, "queue", &first); json_str(out, w->state);
		json_key(out, "queue_exists", &first); sbuf_puts(out, q ? "true" : "false");
		json_key(out, "counts", &first);
		sbuf_putc(out, '{');
		int cf = 1;
		for (int i = 0; i < QUEUE_STATES; i++) {
			json_key(out, queue_state_names[i], &cf);
			sbuf_printf(out, "%ld", counts[i]);
		}
		sbuf_putc(out, '}');
	} else {
		if (d->running) {
			timestamp(t1, sizeof(t1), d->since, "%Y-%m-%d %H:%M");
			sbuf_printf(out, "%sdistd:%s   running (pid %ld, since %s)\n", BOLD(style),
			    OFF(style), d->pid, t1);
		} else {
			sbuf_printf(out, "%sdistd:%s   %snot running%s (changes take effect when "
			    "it starts)\n", BOLD(style), OFF(style), RED(style), OFF(style));
		}
		sbuf_puts(out, "config:  ");
		status_cut(out, vis(&v[0], w->config), STATUS_COLUMNS - 9);
		sbuf_putc(out, '\n');
		if (w->config_error) {
			sbuf_printf(out, "%s  invalid:%s ", RED(style), OFF(style));
			wrap(out, 11, 11, vis(&v[0], w->config_error));
		}
		sbuf_puts(out, "relay:   ");
		status_cut(out, w->relay ? vis(&v[0], w->relay) :
		    "? (the configuration does not parse)", STATUS_COLUMNS - 9);
		sbuf_putc(out, '\n');
		if (q == NULL) {
			sbuf_puts(out, "queue:   none yet: ");
			wrapf(out, 19, 9, "%s is created when distd first starts",
			    vis(&v[0], w->state));
		} else {
			wrapf(out, 0, 9, "queue:   queued %ld  sending %ld  deferred %ld  "
			    "delivered %ld  failed %ld  held %ld", counts[0], counts[1], counts[2],
			    counts[3], counts[4], counts[5]);
		}
	}
	if (q == NULL) {
		/* nothing queued yet: the same shape, empty */
		if (json)
			sbuf_puts(out, ",\"oldest_deferred\":null,\"alerts\":[],\"issues\":[]}\n");
		else
			sbuf_puts(out, "\n   (no issues yet)\n");
		rc = 0;
		goto out;
	}

	/* the oldest deferred recipient and what the server last said */
	st = prep(db, "SELECT r.address, r.issue, r.attempts, r.next_attempt, r.last_reply,"
	    " i.received FROM recipients r JOIN issues i ON i.id = r.issue"
	    " WHERE r.state = 'deferred' ORDER BY i.received, r.id LIMIT 1", err, errsz);
	if (st == NULL)
		goto out;
	if (json)
		json_key(out, "oldest_deferred", &first);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (json) {
			int of = 1;
			sbuf_putc(out, '{');
			json_key(out, "address", &of); json_str(out, col(st, 0));
			json_key(out, "issue", &of); sbuf_printf(out, "%lld", col_ll(st, 1));
			json_key(out, "attempts", &of); sbuf_printf(out, "%lld", col_ll(st, 2));
			json_key(out, "next_attempt", &of); json_time(out, col_ll(st, 3));
			json_key(out, "last_reply", &of); json_str(out, col(st, 4));
			json_key(out, "received", &of); json_time(out, col_ll(st, 5));
			sbuf_putc(out, '}');
		} else {
			timestamp(t1, sizeof(t1), col_ll(st, 3), "%m-%d %H:%M");
			wrapf(out, 0, 2, "oldest deferred: %s (issue %lld)", vis(&v[0], col(st, 0)),
			    col_ll(st, 1));
			wrapf(out, 0, 2, "  %lld attempt%s, next %s, last reply: %s", col_ll(st, 2),
			    col_ll(st, 2) == 1 ? "" : "s", t1,
			    col(st, 4) ? vis(&v[1], col(st, 4)) : "-");
		}
	} else if (json) {
		sbuf_puts(out, "null");
	}
	sqlite3_finalize(st);

	/* alerts: authentication or TLS failures, and held issues */
	st = prep(db, "SELECT kind, text, since FROM alerts ORDER BY since", err, errsz);
	if (st == NULL)
		goto out;
	if (json) {
		json_key(out, "alerts", &first);
		sbuf_putc(out, '[');
	}
	int na = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		*attention = true;
		if (json) {
			int af = 1;
			if (na)
				sbuf_putc(out, ',');
			sbuf_putc(out, '{');
			json_key(out, "kind", &af); json_str(out, col(st, 0));
			json_key(out, "text", &af); json_str(out, col(st, 1));
			json_key(out, "since", &af); json_time(out, col_ll(st, 2));
			sbuf_putc(out, '}');
		} else {
			char head[96];
			timestamp(t1, sizeof(t1), col_ll(st, 2), "%m-%d %H:%M");
			snprintf(head, sizeof(head), "! %s alert since %s:", vis(&v[0], col(st, 0)),
			    t1);
			sbuf_printf(out, "%s%s%s ", RED(style), head, OFF(style));
			wrap(out, text_width(head) + 1, 2, col(st, 1) ? vis(&v[1], col(st, 1)) : "");
		}
		na++;
	}
	sqlite3_finalize(st);
	st = prep(db, "SELECT id, title, hold_reason FROM issues WHERE state = 'held' ORDER BY id",
	    err, errsz);
	if (st == NULL)
		goto out;
	int nh = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		*attention = true;
		if (json) {
			int af = 1;
			if (na + nh)
				sbuf_putc(out, ',');
			sbuf_putc(out, '{');
			json_key(out, "kind", &af); json_str(out, "held");
			json_key(out, "issue", &af); sbuf_printf(out, "%lld", col_ll(st, 0));
			json_key(out, "text", &af); json_str(out, col(st, 2));
			sbuf_putc(out, '}');
		} else {
			char head[64];
			snprintf(head, sizeof(head), "! issue %lld held:", col_ll(st, 0));
			sbuf_printf(out, "%s%s%s ", RED(style), head, OFF(style));
			wrap(out, text_width(head) + 1, 2, col(st, 2) ? vis(&v[0], col(st, 2)) :
			    "by distctl hold");
		}
		nh++;
	}
	sqlite3_finalize(st);
	if (json)
		sbuf_putc(out, ']');

	/* failed recipients of the last day need a look too (a corrected one no more) */
	st = prep(db, "SELECT COUNT(*) FROM recipients r JOIN issues i ON i.id = r.issue"
	    " WHERE r.state = 'failed' AND r.replaced_by IS NULL AND i.state != 'cancelled'"
	    " AND i.received >= ?", err, errsz);
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, style->now - 86400);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
		*attention = true;
	sqlite3_finalize(st);

	/* recent issues with per-tier progress */
	st = prep(db, "SELECT id, title, issue_no, state, received, kind FROM issues"
	    " WHERE duplicate_of IS NULL ORDER BY id DESC LIMIT 10", err, errsz);
	if (st == NULL)
		goto out;
	if (json) {
		json_key(out, "issues", &first);
		sbuf_putc(out, '[');
	} else {
		sbuf_printf(out, "\n%s  ID %-24s %-8s %-11s DELIVERED/TOTAL BY TIER%s\n",
		    BOLD(style), "TITLE", "ISSUE", "RECEIVED", OFF(style));
	}
	int ni = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct tier_count tc[16];
		size_t nt = issue_tiers(db, sqlite3_column_int64(st, 0), tc, 16);
		const char *title = col(st, 1) ? col(st, 1) : "(untitled)";
		if (json) {
			int f2 = 1;
			if (ni)
				sbuf_putc(out, ',');
			sbuf_putc(out, '{');
			json_key(out, "id", &f2); sbuf_printf(out, "%lld", col_ll(st, 0));
			json_key(out, "title", &f2); json_str(out, col(st, 1));
			json_key(out, "issue_no", &f2); json_num_or_null(out, col_ll(st, 2));
			json_key(out, "state", &f2); json_str(out, col(st, 3));
			json_key(out, "kind", &f2); json_str(out, col(st, 5));
			json_key(out, "received", &f2); json_time(out, col_ll(st, 4));
			json_key(out, "tiers", &f2);
			sbuf_putc(out, '[');
			for (size_t k = 0; k < nt; k++) {
				int tf = 1;
				if (k)
					sbuf_putc(out, ',');
				sbuf_putc(out, '{');
				json_key(out, "tier", &tf); json_str(out, tc[k].tier);
				json_key(out, "total", &tf); sbuf_printf(out, "%ld", tc[k].total);
				json_key(out, "delivered", &tf); sbuf_printf(out, "%ld", tc[k].delivered);
				json_key(out, "deferred", &tf); sbuf_printf(out, "%ld", tc[k].deferred);
				json_key(out, "failed", &tf); sbuf_printf(out, "%ld", tc[k].failed);
				sbuf_putc(out, '}');
			}
			sbuf_puts(out, "]}");
		} else {
			char no[24];
			if (col_ll(st, 2) >= 0)
				snprintf(no, sizeof(no), "第%lld期", col_ll(st, 2));
			else
				snprintf(no, sizeof(no), "%s", strcmp(col(st, 5), "report") == 0 ?
				    "report" : "-");
			timestamp(t2, sizeof(t2), col_ll(st, 4), "%m-%d %H:%M");
			sbuf_printf(out, "%4lld ", col_ll(st, 0));
			status_pad(out, vis(&v[0], title), 24);
			sbuf_putc(out, ' ');
			status_pad(out, no, 8);
			sbuf_printf(out, " %-11s ", t2);
			int at = ISSUE_TIERS_AT;
			if (strcmp(col(st, 3), "active") != 0 && strcmp(col(st, 3), "done") != 0) {
				sbuf_printf(out, " %s%s%s", RED(style), col(st, 3), OFF(style));
				at += 1 + (int)strlen(col(st, 3));
			}
			for (size_t k = 0; k < nt; k++)
				tier_group(out, &at, &tc[k], style);
			sbuf_putc(out, '\n');
		}
		ni++;
	}
	sqlite3_finalize(st);
	if (json)
		sbuf_puts(out, "]}\n");
	else if (ni == 0)
		sbuf_puts(out, "   (no issues yet)\n");
	else
		sbuf_puts(out, "\n✗ failed  ~ deferred; details: distctl show ID [--pending]\n");
	rc = 0;
out:
	vis_free(v);
	return rc;
}

/* ---- show ------------------------------------------------------------------- */

/* Columns of show's recipient table; the header and the rows share them. */
#define SHOW_TIER 4
#define SHOW_NAME 16
#define SHOW_ADDRESS 35
#define SHOW_STATE 9
#define SHOW_REPLY_AT (SHOW_TIER + 1 + SHOW_NAME + 1 + SHOW_ADDRESS + 1 + SHOW_STATE + 8)

int
status_show(struct sbuf *out, struct queue *q, int64_t issue,
    const struct status_filter *f, const struct status_style *style, bool json,
    char *err, size_t errsz)
{
	sqlite3 *db = queue_db(q);
	sqlite3_stmt *st;
	char t1[40];
	int first = 1, rc = -1;
	struct sbuf v[VIS_SLOTS] = { SBUF_INIT };

	st = prep(db, "SELECT id, title, issue_no, total_issue_no, issuer, date, urgency,"
	    " subject, message_id, state, hold_reason, source, received, finished, kind,"
	    " duplicate_of FROM issues WHERE id = ?", err, errsz);
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, issue);
	if (sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errsz, "no issue %lld in the queue", (long long)issue);
		sqlite3_finalize(st);
		goto out;
	}
	if (json) {
		sbuf_putc(out, '{');
		json_key(out, "id", &first); sbuf_printf(out, "%lld", col_ll(st, 0));
		json_key(out, "title", &first); json_str(out, col(st, 1));
		json_key(out, "issue_no", &first); json_num_or_null(out, col_ll(st, 2));
		json_key(out, "total_issue_no", &first); json_num_or_null(out, col_ll(st, 3));
		json_key(out, "issuer", &first); json_str(out, col(st, 4));
		json_key(out, "date", &first); json_str(out, col(st, 5));
		json_key(out, "urgency", &first); json_str(out, col(st, 6));
		json_key(out, "subject", &first); json_str(out, col(st, 7));
		json_key(out, "message_id", &first); json_str(out, col(st, 8));
		json_key(out, "state", &first); json_str(out, col(st, 9));
		json_key(out, "hold_reason", &first); json_str(out, col(st, 10));
		json_key(out, "source", &first); json_str(out, col(st, 11));
		/* a file name that is not UTF-8 (GBK from a Windows share):
		 * "source" has U+FFFD for its bad bytes, this has them all */
		const char *src = col(st, 11);
		json_key(out, "source_bytes", &first);
		if (src != NULL && !text_valid_utf8(src, strlen(src), NULL))
			json_hex(out, src);
		else
			sbuf_puts(out, "null");
		json_key(out, "received", &first); json_time(out, col_ll(st, 12));
		json_key(out, "finished", &first); json_time(out, col_ll(st, 13));
		json_key(out, "kind", &first); json_str(out, col(st, 14));
		json_key(out, "duplicate_of", &first); json_num_or_null(out, col_ll(st, 15));
	} else {
		char head[64];
		snprintf(head, sizeof(head), "issue %lld:", col_ll(st, 0));
		sbuf_printf(out, "%s%s%s ", BOLD(style), head, OFF(style));
		wrapf(out, text_width(head) + 1, 2, "%s (%s)", vis(&v[0], col(st, 7)),
		    vis(&v[1], col(st, 9)));
		timestamp(t1, sizeof(t1), col_ll(st, 12), "%Y-%m-%d %H:%M:%S");
		wrapf(out, 0, 14, "  source:     %s, received %s", vis(&v[2], col(st, 11)), t1);
		struct sbuf title = SBUF_INIT;
		sbuf_puts(&title, col(st, 1) ? vis(&v[3], col(st, 1)) : "-");
		if (col_ll(st, 2) >= 0)
			sbuf_printf(&title, " 第%lld期", col_ll(st, 2));
		if (col_ll(st, 3) >= 0)
			sbuf_printf(&title, " (总第%lld期)", col_ll(st, 3));
		wrapf(out, 0, 14, "  title:      %s", sbuf_str(&title));
		sbuf_free(&title);
		wrapf(out, 0, 14, "  issuer:     %s, dated %s%s%s",
		    col(st, 4) ? vis(&v[4], col(st, 4)) : "-",
		    col(st, 5) ? vis(&v[5], col(st, 5)) : "-", col(st, 6) ? ", " : "",
		    col(st, 6) ? vis(&v[6], col(st, 6)) : "");
		wrapf(out, 0, 14, "  message-id: <%s>", vis(&v[7], col(st, 8)));
		if (col(st, 10)) {
			sbuf_printf(out, "  %sheld:%s       ", RED(style), OFF(style));
			wrap(out, 14, 14, vis(&v[8], col(st, 10)));
		}
		if (col_ll(st, 15) > 0)
			sbuf_printf(out, "  duplicate of issue %lld: not sent again\n", col_ll(st, 15));
	}
	sqlite3_finalize(st);

	/* --pending: who has not got it — anything but delivered, cancelled or replaced */
	st = prep(db, "SELECT r.tier_keyword, r.unit, r.name, r.address, r.state, r.attempts,"
	    " r.next_attempt, r.last_code, r.last_reply, r.via, n.address"
	    " FROM recipients r LEFT JOIN recipients n ON n.id = r.replaced_by"
	    " WHERE r.issue = ?1 AND (?2 IS NULL OR r.state = ?2)"
	    " AND (?3 IS NULL OR r.tier_keyword = ?3)"
	    " AND (?4 = 0 OR (r.state NOT IN ('delivered','cancelled')"
	    " AND r.replaced_by IS NULL)) ORDER BY r.tier, r.id", err, errsz);
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, issue);
	if (f->state)
		sqlite3_bind_text(st, 2, f->state, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 2);
	if (f->tier)
		sqlite3_bind_text(st, 3, f->tier, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int(st, 4, f->pending);
	if (json) {
		json_key(out, "recipients", &first);
		sbuf_putc(out, '[');
	} else {
		sbuf_printf(out, "\n%s", BOLD(style));
		status_pad(out, "TIER", SHOW_TIER);
		sbuf_putc(out, ' ');
		status_pad(out, "NAME", SHOW_NAME);
		sbuf_putc(out, ' ');
		status_pad(out, "ADDRESS", SHOW_ADDRESS);
		sbuf_putc(out, ' ');
		status_pad(out, "STATE", SHOW_STATE);
		sbuf_printf(out, " TRIES  REPLY%s\n", OFF(style));
	}
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = col(st, 4), *reply = col(st, 8), *by = col(st, 10);
		bool waiting = strcmp(state, "deferred") == 0 || strcmp(state, "queued") == 0;
		if (json) {
			int rf = 1;
			if (n)
				sbuf_putc(out, ',');
			sbuf_putc(out, '{');
			json_key(out, "tier", &rf); json_str(out, col(st, 0));
			json_key(out, "unit", &rf); json_str(out, col(st, 1));
			json_key(out, "name", &rf); json_str(out, col(st, 2));
			json_key(out, "address", &rf); json_str(out, col(st, 3));
			json_key(out, "state", &rf); json_str(out, state);
			json_key(out, "attempts", &rf); sbuf_printf(out, "%lld", col_ll(st, 5));
			json_key(out, "next_attempt", &rf); json_time(out, waiting ? col_ll(st, 6) : 0);
			json_key(out, "last_code", &rf); json_num_or_null(out, col_ll(st, 7));
			json_key(out, "last_reply", &rf); json_str(out, reply);
			json_key(out, "via", &rf); json_str(out, col(st, 9));
			json_key(out, "replaced_by", &rf); json_str(out, by);
			sbuf_putc(out, '}');
		} else {
			status_pad(out, vis(&v[0], col(st, 0)), SHOW_TIER);
			sbuf_putc(out, ' ');
			status_pad(out, vis(&v[1], col(st, 2)), SHOW_NAME);
			sbuf_putc(out, ' ');
			status_pad(out, vis(&v[2], col(st, 3)), SHOW_ADDRESS);
			sbuf_putc(out, ' ');
			status_pad(out, by ? "replaced" : state, SHOW_STATE);
			sbuf_printf(out, " %5lld", col_ll(st, 5));
			/*
			 * A delivered row's reply is routine: its code says enough (the
			 * full text is in --json and the log). Anything
			 * else says why it has not arrived: in full, on a line of its own
			 * when it does not fit, with the next attempt.
			 */
			bool routine = strcmp(state, "delivered") == 0 && !by;
			char next[40] = "";
			if (waiting && col_ll(st, 5) > 0)
				timestamp(next, sizeof(next), col_ll(st, 6), "%m-%d %H:%M:%S");
			reply = reply ? vis(&v[3], reply) : "-";
			by = vis(&v[4], by);
			if (routine && col_ll(st, 7) > 0) {
				sbuf_printf(out, "  %lld\n", col_ll(st, 7));
			} else if (routine || (text_width(reply) <= STATUS_COLUMNS - SHOW_REPLY_AT &&
			    !*next)) {
				sbuf_puts(out, "  ");
				status_cut(out, reply, STATUS_COLUMNS - SHOW_REPLY_AT);
				sbuf_putc(out, '\n');
			} else {
				sbuf_putc(out, '\n');
				wrapf(out, 0, SHOW_TIER + 1, "%*s%s%s%s", SHOW_TIER + 1, "", reply,
				    *next ? "; next attempt " : "", next);
			}
			if (by)
				wrapf(out, 0, SHOW_TIER + 1, "%*s→ replaced by %s", SHOW_TIER + 1, "",
				    by);
		}
		n++;
	}
	sqlite3_finalize(st);
	if (json)
		sbuf_puts(out, "]}\n");
	else if (n == 0)
		sbuf_puts(out, f->pending ? "(every recipient has got it)\n" : "(no recipients)\n");
	rc = 0;
out:
	vis_free(v);
	return rc;
}

/* ---- log -------------------------------------------------------------------- */

int
status_log(struct sbuf *out, struct queue *q, int64_t *after, long n, int64_t issue,
    bool json, char *err, size_t errsz)
{
	sqlite3 *db = queue_db(q);
	sqlite3_stmt *st;
	char t1[40];
	struct sbuf v[VIS_SLOTS] = { SBUF_INIT };

	/* the last n (or everything after *after), printed oldest first */
	st = prep(db, "SELECT * FROM (SELECT a.id, a.time, a.issue, r.tier_keyword, r.address,"
	    " a.status, a.class, a.code, a.reply, a.attempt, a.relay, a.duration,"
	    " a.possible_duplicate FROM attempts a JOIN recipients r ON r.id = a.recipient"
	    " WHERE a.id > ?1 AND (?2 = 0 OR a.issue = ?2) ORDER BY a.id DESC LIMIT ?3)"
	    " ORDER BY id", err, errsz);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, *after);
	sqlite3_bind_int64(st, 2, issue);
	sqlite3_bind_int64(st, 3, n);
	while (sqlite3_step(st) == SQLITE_ROW) {
		*after = sqlite3_column_int64(st, 0);
		if (json) {
			int f = 1;
			sbuf_putc(out, '{');
			json_key(out, "id", &f); sbuf_printf(out, "%lld", col_ll(st, 0));
			json_key(out, "time", &f); json_time(out, col_ll(st, 1));
			json_key(out, "issue", &f); sbuf_printf(out, "%lld", col_ll(st, 2));
			json_key(out, "tier", &f); json_str(out, col(st, 3));
			json_key(out, "address", &f); json_str(out, col(st, 4));
			json_key(out, "status", &f); json_str(out, col(st, 5));
			json_key(out, "class", &f); json_str(out, col(st, 6));
			json_key(out, "code", &f); json_num_or_null(out, col_ll(st, 7));
			json_key(out, "reply", &f); json_str(out, col(st, 8));
			json_key(out, "attempt", &f); sbuf_printf(out, "%lld", col_ll(st, 9));
			json_key(out, "relay", &f); json_str(out, col(st, 10));
			json_key(out, "possible_duplicate", &f);
			sbuf_puts(out, col_ll(st, 12) > 0 ? "true" : "false");
			sbuf_puts(out, "}\n");
		} else {
			iso(t1, sizeof(t1), col_ll(st, 1));
			sbuf_printf(out, "%s issue=%lld tier=%s to=<%s> status=%s", t1, col_ll(st, 2),
			    vis(&v[0], col(st, 3)), vis(&v[1], col(st, 4)), vis(&v[2], col(st, 5)));
			if (col(st, 6) && strcmp(col(st, 6), "ok") != 0)
				sbuf_printf(out, " class=%s", vis(&v[3], col(st, 6)));
			if (col_ll(st, 7) > 0)
				sbuf_printf(out, " code=%lld", col_ll(st, 7));
			sbuf_printf(out, " attempt=%lld%s reply=\"%s\"\n", col_ll(st, 9),
			    col_ll(st, 12) > 0 ? " note=possible-duplicate" : "",
			    col(st, 8) ? vis(&v[4], col(st, 8)) : "");
		}
	}
	sqlite3_finalize(st);
	vis_free(v);
	return 0;
}
