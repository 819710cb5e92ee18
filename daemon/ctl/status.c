#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "text.h"
#include "xalloc.h"

/* Text output fits a terminal of this many columns (Chinese is 2 wide). */
#define STATUS_COLUMNS 80

#define BOLD(st) ((st)->color ? "\033[1m" : "")
#define RED(st) ((st)->color ? "\033[31m" : "")
#define OFF(st) ((st)->color ? "\033[0m" : "")

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
	/* "full …" reads as if a word were missing: the ellipsis against the word */
	while (i > 0 && s[i - 1] == ' ')
		i--;
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
			/* no blank at the line's end: "failed 5  held 6" breaks clean */
			size_t end = space;
			while (end > i && text[end - 1] == ' ')
				end--;
			sbuf_append(out, text + i, end - i);
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

/* ---- status --------------------------------------------------------------- */

/* Where the tier column of the issue table starts (see the header line). */
#define ISSUE_TIERS_AT 50

/* A tier keyword longer than this is cut: the numbers are what the column is for. */
#define TIER_NAME_MAX 8

/*
 * Appends one tier of an issue to the tier column: "报 6/8 ✗1 ~2 ↩1 ✓5/8"
 * (delivered and not bounced of all, failed, deferred, bounced after the
 * relay accepted, confirmed of those asked to confirm; a mark only when
 * its count is not 0, ✓ only when somebody was asked, and only on a
 * bulletin: feedback naming a reminder counts on the bulletin it reminds
 * of). A tier that does
 * not fit the line goes to the next one under the column; one wider than
 * the column itself (large numbers, every mark) breaks between its marks,
 * never inside one, so that no line passes 80 columns.
 */
static void
tier_group(struct sbuf *out, int *col, bool first, enum queue_kind kind,
    const struct queue_view_tier *tc, const struct status_style *style)
{
	char atom[5][80];
	bool red[5] = { false };
	struct sbuf slot = SBUF_INIT, name = SBUF_INIT;
	int n = 0, w = -1;

	status_cut(&name, vis(&slot, tc->tier ? tc->tier : ""), TIER_NAME_MAX);
	snprintf(atom[n++], sizeof(atom[0]), "%s %ld/%ld", sbuf_str(&name), tc->delivered,
	    tc->total);
	if (tc->failed) {
		red[n] = true;
		snprintf(atom[n++], sizeof(atom[0]), "✗%ld", tc->failed);
	}
	if (tc->deferred)
		snprintf(atom[n++], sizeof(atom[0]), "~%ld", tc->deferred);
	if (tc->bounced) {
		red[n] = true;
		snprintf(atom[n++], sizeof(atom[0]), "↩%ld", tc->bounced);
	}
	/* a reminder asks too, but what comes back counts on its bulletin */
	if (tc->receipt && kind == QUEUE_KIND_BULLETIN)
		snprintf(atom[n++], sizeof(atom[0]), "✓%ld/%ld", tc->confirmed, tc->receipt);
	for (int i = 0; i < n; i++)
		w += 1 + text_width(atom[i]);
	/* the first tier stays beside the issue's state when it would not fit a line anyway */
	if (*col > ISSUE_TIERS_AT && *col + 1 + w > STATUS_COLUMNS &&
	    (!first || ISSUE_TIERS_AT + 1 + w <= STATUS_COLUMNS ||
	    *col + 1 + text_width(atom[0]) > STATUS_COLUMNS)) {
		sbuf_printf(out, "\n%*s", ISSUE_TIERS_AT, "");
		*col = ISSUE_TIERS_AT;
	}
	for (int i = 0; i < n; i++) {
		int aw = text_width(atom[i]);
		if (i > 0 && *col + 1 + aw > STATUS_COLUMNS) {
			sbuf_printf(out, "\n%*s", ISSUE_TIERS_AT + 2, "");
			*col = ISSUE_TIERS_AT + 2;
		}
		sbuf_printf(out, " %s%s%s", red[i] ? RED(style) : "", atom[i],
		    red[i] ? OFF(style) : "");
		*col += 1 + aw;
	}
	sbuf_free(&name);
	sbuf_free(&slot);
}

bool
status_attention(const struct queue_view_status *v)
{
	return v != NULL && (v->n_alerts > 0 || v->n_held > 0 || v->recent_failed > 0 ||
	    v->recent_bounced > 0);
}

/*
 * How the running daemon sees its queue (the control socket's `health`),
 * under its line: a server queue may be lost to the daemon while distctl
 * still reaches it, or the other way round.
 */
static void
daemon_queue_text(struct sbuf *out, const struct status_daemon *d,
    const struct status_style *style)
{
	struct sbuf slot = SBUF_INIT;
	char since[40];

	if (!d->running || !d->has_health)
		return;
	if (!d->health.unreachable) {
		sbuf_puts(out, "         queue connected\n");
		return;
	}
	timestamp(since, sizeof(since), d->health.since, "%m-%d %H:%M:%S");
	sbuf_printf(out, "         %squeue unreachable%s ", RED(style), OFF(style));
	wrapf(out, 27, 11, "since %s, next try in %ld s, last error: %s", since,
	    d->health.next, vis(&slot, d->health.error));
	sbuf_free(&slot);
}

void
status_daemon_text(struct sbuf *out, const struct status_daemon *d,
    const struct status_style *style)
{
	char since[40];

	if (d->running) {
		timestamp(since, sizeof(since), d->since, "%Y-%m-%d %H:%M");
		sbuf_printf(out, "%sdistd:%s   running (pid %ld, since %s)\n", BOLD(style),
		    OFF(style), d->pid, since);
	} else {
		sbuf_printf(out, "%sdistd:%s   %snot running%s (changes take effect when "
		    "it starts)\n", BOLD(style), OFF(style), RED(style), OFF(style));
	}
	daemon_queue_text(out, d, style);
}

/* The daemon, the configuration, the relay and the queue's counts. */
static void
where_text(struct sbuf *out, const struct status_where *w, const struct status_daemon *d,
    const struct queue_view_status *v, const struct status_style *style)
{
	struct sbuf slot = SBUF_INIT;

	status_daemon_text(out, d, style);
	sbuf_puts(out, "config:  ");
	status_cut(out, vis(&slot, w->config), STATUS_COLUMNS - 9);
	sbuf_putc(out, '\n');
	if (w->config_error) {
		sbuf_printf(out, "%s  invalid:%s ", RED(style), OFF(style));
		wrap(out, 11, 11, vis(&slot, w->config_error));
	}
	sbuf_puts(out, "relay:   ");
	status_cut(out, w->relay ? vis(&slot, w->relay) :
	    "? (the configuration does not parse)", STATUS_COLUMNS - 9);
	sbuf_putc(out, '\n');
	if (v == NULL) {
		sbuf_puts(out, "queue:   none yet: ");
		wrapf(out, 19, 9, "%s is created when distd first starts", vis(&slot, w->state));
	} else {
		/*
		 * The line's numbers are disjoint, each recipient counted
		 * once, and delivered means what the tier column's does:
		 * accepted and not sent back. So a bounced recipient moves
		 * from delivered to bounced (a reader adds the numbers up to
		 * the total, as for a tier); JSON's counts keep the transfer
		 * state with bounced beside them.
		 */
		const struct queue_state_counts *c = &v->counts;
		char bounced[40] = "";
		/* two reads, no snapshot: a delivered count never goes negative */
		long bn = v->bounced > c->delivered ? c->delivered : v->bounced;
		if (bn > 0)
			snprintf(bounced, sizeof(bounced), "  bounced %ld", bn);
		wrapf(out, 0, 9, "queue:   queued %ld  sending %ld  deferred %ld  "
		    "delivered %ld%s  failed %ld  held %ld", c->queued, c->sending, c->deferred,
		    c->delivered - bn, bounced, c->failed, c->held);
	}
	sbuf_free(&slot);
}

/* The oldest deferred recipient, the alerts and the held issues: what needs a look. */
static void
attention_text(struct sbuf *out, const struct queue_view_status *v,
    const struct status_style *style)
{
	struct sbuf v0 = SBUF_INIT, v1 = SBUF_INIT;
	char t[40];

	if (v->has_oldest_deferred) {
		const struct queue_view_deferred *o = &v->oldest_deferred;
		timestamp(t, sizeof(t), o->next_attempt, "%m-%d %H:%M");
		wrapf(out, 0, 2, "oldest deferred: %s (issue %lld)", vis(&v0, o->address),
		    (long long)o->issue);
		wrapf(out, 0, 2, "  %ld attempt%s, next %s, last reply: %s", o->attempts,
		    o->attempts == 1 ? "" : "s", t,
		    o->last_reply ? vis(&v1, o->last_reply) : "-");
	}
	for (size_t i = 0; i < v->n_alerts; i++) {
		const struct queue_view_alert *a = &v->alerts[i];
		char head[96];
		timestamp(t, sizeof(t), a->since, "%m-%d %H:%M");
		snprintf(head, sizeof(head), "! %s alert since %s:", queue_alert_kind_name(a->kind),
		    t);
		sbuf_printf(out, "%s%s%s ", RED(style), head, OFF(style));
		wrap(out, text_width(head) + 1, 2, a->text ? vis(&v1, a->text) : "");
	}
	for (size_t i = 0; i < v->n_held; i++) {
		const struct queue_view_held *h = &v->held[i];
		char head[64];
		snprintf(head, sizeof(head), "! issue %lld held:", (long long)h->issue);
		sbuf_printf(out, "%s%s%s ", RED(style), head, OFF(style));
		wrap(out, text_width(head) + 1, 2, h->reason ? vis(&v0, h->reason) :
		    "by distctl hold");
	}
	/*
	 * Bounced after the relay accepted: the delivered count alone hides
	 * them, and exit 3 must say why. Which issues: the ↩ marks below;
	 * who and why: show --pending lists them with the remote reply.
	 */
	if (v->recent_bounced > 0) {
		sbuf_printf(out, "%s! recent bounces:%s ", RED(style), OFF(style));
		wrapf(out, 18, 2, "%ld in the last %d hours (distctl show ID --pending)",
		    v->recent_bounced, STATUS_FAILED_WINDOW / 3600);
	}
	sbuf_free(&v0);
	sbuf_free(&v1);
}

/* One line of the recent issues' table (more when the tiers wrap). */
static void
recent_text(struct sbuf *out, const struct queue_view_recent *r,
    const struct status_style *style)
{
	struct sbuf slot = SBUF_INIT;
	const char *state = queue_issue_state_name(r->state);
	char no[24], received[40];

	/* a reminder carries its bulletin's number and title: it says what it is */
	if (r->kind == QUEUE_KIND_REMINDER)
		snprintf(no, sizeof(no), "%s", queue_kind_name(r->kind));
	else if (r->issue_no >= 0)
		snprintf(no, sizeof(no), "第%ld期", r->issue_no);
	else
		snprintf(no, sizeof(no), "%s", r->kind == QUEUE_KIND_REPORT ?
		    queue_kind_name(r->kind) : "-");
	timestamp(received, sizeof(received), r->received, "%m-%d %H:%M");
	sbuf_printf(out, "%4lld ", (long long)r->id);
	status_pad(out, r->title ? vis(&slot, r->title) : "(untitled)", 24);
	sbuf_putc(out, ' ');
	status_pad(out, no, 8);
	sbuf_printf(out, " %-11s ", received);
	/* the columns above end with a space: the first tier starts one further */
	int at = ISSUE_TIERS_AT + 1;
	if (r->state != QUEUE_ISSUE_ACTIVE && r->state != QUEUE_ISSUE_DONE) {
		sbuf_printf(out, " %s%s%s", RED(style), state, OFF(style));
		at += 1 + (int)strlen(state);
	}
	for (size_t k = 0; k < r->n_tiers; k++)
		tier_group(out, &at, k == 0, r->kind, &r->tiers[k], style);
	sbuf_putc(out, '\n');
	sbuf_free(&slot);
}

/* Columns of the nodes block; the header and the rows share them (80 wide). */
#define NODE_NAME 16
#define NODE_HOST 20
#define NODE_PID 6
#define NODE_STARTED 11
#define NODE_HEARTBEAT 13
#define NODE_SENDING 7

/* "12 s", "5 min", "3 h", "2 d": how long ago, to the unit that reads best. */
static void
age_text(char *buf, size_t n, long s)
{
	if (s < 120)
		snprintf(buf, n, "%ld s", s < 0 ? 0 : s);
	else if (s < 7200)
		snprintf(buf, n, "%ld min", s / 60);
	else if (s < 172800)
		snprintf(buf, n, "%ld h", s / 3600);
	else
		snprintf(buf, n, "%ld d", s / 86400);
}

/*
 * The nodes sharing the queue: who they are, whether they heartbeat and
 * what each has in flight. A stale node (no heartbeat within its lease)
 * is about to lose its recipients to the others, or has.
 */
static void
nodes_text(struct sbuf *out, const struct status_nodes *nodes,
    const struct status_style *style)
{
	struct sbuf s0 = SBUF_INIT;
	size_t stale = 0;
	char started[40], age[32], beat[48];

	for (size_t i = 0; i < nodes->n; i++)
		stale += nodes->v[i].stale;
	sbuf_printf(out, "nodes:   %zu", nodes->n);
	if (stale > 0)
		sbuf_printf(out, ", %s%zu stale%s", RED(style), stale, OFF(style));
	sbuf_printf(out, "\n%s  ", BOLD(style));
	status_pad(out, "NODE", NODE_NAME);
	sbuf_putc(out, ' ');
	status_pad(out, "HOST", NODE_HOST);
	sbuf_printf(out, " %*s ", NODE_PID, "PID");
	status_pad(out, "STARTED", NODE_STARTED);
	sbuf_putc(out, ' ');
	status_pad(out, "HEARTBEAT", NODE_HEARTBEAT);
	sbuf_printf(out, " %*s%s\n", NODE_SENDING, "SENDING", OFF(style));
	for (size_t i = 0; i < nodes->n; i++) {
		const struct queue_view_node *x = &nodes->v[i];
		sbuf_puts(out, "  ");
		status_pad(out, x->name ? vis(&s0, x->name) : "?", NODE_NAME);
		sbuf_putc(out, ' ');
		status_pad(out, x->host ? vis(&s0, x->host) : "?", NODE_HOST);
		sbuf_printf(out, " %*ld ", NODE_PID, x->pid);
		timestamp(started, sizeof(started), x->started, "%m-%d %H:%M");
		status_pad(out, started, NODE_STARTED);
		sbuf_putc(out, ' ');
		age_text(age, sizeof(age), x->heartbeat_age);
		snprintf(beat, sizeof(beat), x->stale ? "stale, %s" : "%s ago", age);
		sbuf_puts(out, x->stale ? RED(style) : "");
		status_pad(out, beat, NODE_HEARTBEAT);
		sbuf_puts(out, x->stale ? OFF(style) : "");
		sbuf_printf(out, " %*ld\n", NODE_SENDING, x->sending);
	}
	sbuf_free(&s0);
}

void
status_text(struct sbuf *out, const struct status_where *w, const struct status_daemon *d,
    const struct queue_view_status *v, const struct status_style *style)
{
	status_text_nodes(out, w, d, v, NULL, style);
}

/*
 * Whether a recent issue has a bounce or asked for confirmation: only
 * then does the legend explain ↩ and ✓ (a site without a feedback
 * mailbox sees what it always saw).
 */
static bool
feedback_shown(const struct queue_view_status *v)
{
	for (size_t i = 0; i < v->n_recent; i++)
		for (size_t k = 0; k < v->recent[i].n_tiers; k++)
			if (v->recent[i].tiers[k].bounced || (v->recent[i].tiers[k].receipt &&
			    v->recent[i].kind == QUEUE_KIND_BULLETIN))
				return true;
	return false;
}

void
status_text_nodes(struct sbuf *out, const struct status_where *w,
    const struct status_daemon *d, const struct queue_view_status *v,
    const struct status_nodes *nodes, const struct status_style *style)
{
	where_text(out, w, d, v, style);
	if (nodes != NULL && nodes->n > 0)
		nodes_text(out, nodes, style);
	if (v == NULL) {
		sbuf_puts(out, "\n   (no issues yet)\n");
		return;
	}
	attention_text(out, v, style);
	sbuf_printf(out, "\n%s  ID %-24s %-8s %-11s DELIVERED/TOTAL BY TIER%s\n",
	    BOLD(style), "TITLE", "ISSUE", "RECEIVED", OFF(style));
	for (size_t i = 0; i < v->n_recent; i++)
		recent_text(out, &v->recent[i], style);
	if (v->n_recent == 0)
		sbuf_puts(out, "   (no issues yet)\n");
	else if (!feedback_shown(v))
		sbuf_puts(out, "\n✗ failed  ~ deferred; details: distctl show ID [--pending]\n");
	else
		sbuf_puts(out, "\n✗ failed  ~ deferred  ↩ bounced after delivery  "
		    "✓ confirmed/asked to confirm\n"
		    "details: distctl show ID [--pending | --unconfirmed] [--tier T]\n");
}

static void
counts_json(struct json_writer *j, const struct queue_state_counts *c)
{
	json_key(j, "counts");
	json_begin_object(j);
	json_member_number(j, "queued", c->queued);
	json_member_number(j, "sending", c->sending);
	json_member_number(j, "deferred", c->deferred);
	json_member_number(j, "delivered", c->delivered);
	json_member_number(j, "failed", c->failed);
	json_member_number(j, "held", c->held);
	json_member_number(j, "cancelled", c->cancelled);
	json_end_object(j);
}

static void
oldest_deferred_json(struct json_writer *j, const struct queue_view_status *v)
{
	const struct queue_view_deferred *o = &v->oldest_deferred;

	json_key(j, "oldest_deferred");
	if (!v->has_oldest_deferred) {
		json_null(j);
		return;
	}
	json_begin_object(j);
	json_member_string(j, "address", o->address);
	json_member_number(j, "issue", o->issue);
	json_member_number(j, "attempts", o->attempts);
	json_member_time(j, "next_attempt", o->next_attempt);
	json_member_string(j, "last_reply", o->last_reply);
	json_member_time(j, "received", o->received);
	json_end_object(j);
}

/* Alerts, then held issues as alerts of kind "held". */
static void
alerts_json(struct json_writer *j, const struct queue_view_status *v)
{
	json_key(j, "alerts");
	json_begin_array(j);
	for (size_t i = 0; i < v->n_alerts; i++) {
		json_begin_object(j);
		json_member_string(j, "kind", queue_alert_kind_name(v->alerts[i].kind));
		json_member_string(j, "text", v->alerts[i].text);
		json_member_time(j, "since", v->alerts[i].since);
		json_end_object(j);
	}
	for (size_t i = 0; i < v->n_held; i++) {
		json_begin_object(j);
		json_member_string(j, "kind", "held");
		json_member_number(j, "issue", v->held[i].issue);
		json_member_string(j, "text", v->held[i].reason);
		json_end_object(j);
	}
	json_end_array(j);
}

static void
recent_json(struct json_writer *j, const struct queue_view_recent *r)
{
	json_begin_object(j);
	json_member_number(j, "id", r->id);
	json_member_string(j, "title", r->title);
	json_member_number_or_null(j, "issue_no", r->issue_no);
	json_member_string(j, "state", queue_issue_state_name(r->state));
	json_member_string(j, "kind", queue_kind_name(r->kind));
	json_member_time(j, "received", r->received);
	json_key(j, "tiers");
	json_begin_array(j);
	for (size_t k = 0; k < r->n_tiers; k++) {
		const struct queue_view_tier *t = &r->tiers[k];
		json_begin_object(j);
		json_member_string(j, "tier", t->tier);
		json_member_number(j, "total", t->total);
		json_member_number(j, "delivered", t->delivered);
		json_member_number(j, "deferred", t->deferred);
		json_member_number(j, "failed", t->failed);
		json_member_number(j, "bounced", t->bounced);
		json_member_number(j, "receipt", t->receipt);
		json_member_number(j, "confirmed", t->confirmed);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

/* Ends a document of JSON Lines. */
static void
finish_line(struct json_writer *j, struct sbuf *out)
{
	json_finish_fixed(j);
	sbuf_putc(out, '\n');
}

/*
 * "daemon": {"running", "pid", "since", "queue"}; queue is null when the
 * daemon does not run (or is a distd before `health`), else
 * {"connected": true} or {"connected": false, "since", "next_try" (s),
 * "error"}.
 */
static void
daemon_json(struct json_writer *j, const struct status_daemon *d)
{
	json_key(j, "daemon");
	json_begin_object(j);
	json_member_bool(j, "running", d->running);
	json_member_number_or_null(j, "pid", d->running ? d->pid : -1);
	json_member_time(j, "since", d->running ? d->since : 0);
	json_key(j, "queue");
	if (!d->running || !d->has_health) {
		json_null(j);
	} else {
		json_begin_object(j);
		json_member_bool(j, "connected", !d->health.unreachable);
		if (d->health.unreachable) {
			json_member_time(j, "since", d->health.since);
			json_member_number(j, "next_try", d->health.next);
			json_member_string(j, "error", d->health.error);
		}
		json_end_object(j);
	}
	json_end_object(j);
}

void
status_daemon_json(struct sbuf *out, const struct status_daemon *d)
{
	struct json_writer j;

	json_start(&j, out);
	json_begin_object(&j);
	daemon_json(&j, d);
	json_end_object(&j);
	finish_line(&j, out);
}

static void
nodes_json(struct json_writer *j, const struct status_nodes *nodes)
{
	json_key(j, "nodes");
	json_begin_array(j);
	for (size_t i = 0; nodes != NULL && i < nodes->n; i++) {
		const struct queue_view_node *x = &nodes->v[i];
		json_begin_object(j);
		json_member_string(j, "name", x->name);
		json_member_string(j, "host", x->host);
		json_member_number(j, "pid", x->pid);
		json_member_string(j, "version", x->version);
		json_member_time(j, "started", x->started);
		json_member_number(j, "heartbeat_age", x->heartbeat_age);
		json_member_number(j, "lease", x->lease);
		json_member_number(j, "sending", x->sending);
		json_member_bool(j, "stale", x->stale);
		json_end_object(j);
	}
	json_end_array(j);
}

void
status_json(struct sbuf *out, const struct status_where *w, const struct status_daemon *d,
    const struct queue_view_status *v)
{
	status_json_nodes(out, w, d, v, NULL);
}

void
status_json_nodes(struct sbuf *out, const struct status_where *w,
    const struct status_daemon *d, const struct queue_view_status *v,
    const struct status_nodes *nodes)
{
	static const struct queue_view_status empty;
	struct json_writer j;

	/* before distd's first start: the same shape, every count 0, nothing listed */
	if (v == NULL)
		v = &empty;
	json_start(&j, out);
	json_begin_object(&j);
	daemon_json(&j, d);
	json_member_string(&j, "config", w->config);
	json_member_string(&j, "config_error", w->config_error);
	json_member_string(&j, "relay", w->relay);
	json_member_string(&j, "queue", w->state);
	json_member_bool(&j, "queue_exists", v != &empty);
	counts_json(&j, &v->counts);
	/* beside counts, not in them: counts are transfer states, a bounced
	 * recipient is counted delivered there */
	json_member_number(&j, "bounced", v->bounced);
	json_member_number(&j, "recent_bounced", v->recent_bounced);
	nodes_json(&j, nodes);
	oldest_deferred_json(&j, v);
	alerts_json(&j, v);
	json_key(&j, "issues");
	json_begin_array(&j);
	for (size_t i = 0; i < v->n_recent; i++)
		recent_json(&j, &v->recent[i]);
	json_end_array(&j);
	json_end_object(&j);
	finish_line(&j, out);
}

/* ---- show ------------------------------------------------------------------- */

/* Columns of show's recipient table; the header and the rows share them. */
#define SHOW_TIER 4
#define SHOW_NAME 16
#define SHOW_ADDRESS 35
#define SHOW_STATE 9
#define SHOW_REPLY_AT (SHOW_TIER + 1 + SHOW_NAME + 1 + SHOW_ADDRESS + 1 + SHOW_STATE + 8)

static const char *
or_dash(struct sbuf *slot, const char *s)
{
	return s ? vis(slot, s) : "-";
}

static void
issue_text(struct sbuf *out, const struct queue_view_issue *v, const struct status_style *style)
{
	struct sbuf s[VIS_SLOTS] = { SBUF_INIT };
	struct sbuf title = SBUF_INIT;
	char head[64], received[40];

	snprintf(head, sizeof(head), "issue %lld:", (long long)v->id);
	sbuf_printf(out, "%s%s%s ", BOLD(style), head, OFF(style));
	wrapf(out, text_width(head) + 1, 2, "%s (%s)", vis(&s[0], v->subject),
	    queue_issue_state_name(v->state));
	timestamp(received, sizeof(received), v->received, "%Y-%m-%d %H:%M:%S");
	wrapf(out, 0, 14, "  source:     %s, received %s", vis(&s[2], v->source), received);
	sbuf_puts(&title, or_dash(&s[3], v->title));
	if (v->issue_no >= 0)
		sbuf_printf(&title, " 第%ld期", v->issue_no);
	if (v->total_issue_no >= 0)
		sbuf_printf(&title, " (总第%ld期)", v->total_issue_no);
	wrapf(out, 0, 14, "  title:      %s", sbuf_str(&title));
	sbuf_free(&title);
	wrapf(out, 0, 14, "  issuer:     %s, dated %s%s%s", or_dash(&s[4], v->issuer),
	    or_dash(&s[5], v->date), v->urgency ? ", " : "",
	    v->urgency ? vis(&s[6], v->urgency) : "");
	wrapf(out, 0, 14, "  message-id: <%s>", vis(&s[7], v->message_id));
	if (v->hold_reason) {
		sbuf_printf(out, "  %sheld:%s       ", RED(style), OFF(style));
		wrap(out, 14, 14, vis(&s[8], v->hold_reason));
	}
	if (v->duplicate_of > 0)
		sbuf_printf(out, "  duplicate of issue %lld: not sent again\n",
		    (long long)v->duplicate_of);
	vis_free(s);
}

static bool
waiting(const struct queue_view_recipient *r)
{
	return r->state == QUEUE_DEFERRED || r->state == QUEUE_QUEUED;
}

/*
 * What show's state column says. A bounce stands in for "delivered": the
 * relay took it, the recipient's server sent it back (the transfer state
 * is in --json).
 */
static const char *
shown_state(const struct queue_view_recipient *r)
{
	if (r->replaced_by)
		return "replaced";
	if (r->bounced > 0)
		return "bounced";
	return queue_state_name(r->state);
}

/*
 * A remote server's reply on one line: CR, LF and tabs (a multi-line
 * SMTP reply quoted in a bounce) become single spaces; then escaped for
 * the terminal (vis), into slot.
 */
static const char *
one_line(struct sbuf *slot, const char *s)
{
	struct sbuf flat = SBUF_INIT;
	bool space = false;

	for (; s && *s; s++) {
		if (*s == '\r' || *s == '\n' || *s == '\t' || *s == ' ') {
			space = flat.len > 0;
			continue;
		}
		if (space)
			sbuf_putc(&flat, ' ');
		space = false;
		sbuf_putc(&flat, *s);
	}
	const char *v = vis(slot, sbuf_str(&flat));
	if (v != sbuf_str(slot)) {
		sbuf_reset(slot);
		sbuf_puts(slot, v);
	}
	sbuf_free(&flat);
	return sbuf_str(slot);
}

/*
 * What came back for a recipient, under its row: the bounce (when, its
 * status and the remote server's reply, cut to the line: the whole is in
 * --json and the record) on one line; the confirmation (when, by MDN or
 * reply) and the reminders on another. Nothing for a row with neither.
 */
static void
feedback_text(struct sbuf *out, const struct queue_view_recipient *r,
    const struct status_style *style)
{
	const int room = STATUS_COLUMNS - (SHOW_TIER + 1);
	struct sbuf line = SBUF_INIT, s0 = SBUF_INIT, s1 = SBUF_INIT;
	char t[40];

	if (r->bounced > 0) {
		const char *reply = one_line(&s0, r->bounce_reply);
		const char *st = r->bounce_status ? vis(&s1, r->bounce_status) : NULL;
		timestamp(t, sizeof(t), r->bounced, "%m-%d %H:%M");
		sbuf_printf(&line, "↩ bounced %s:", t);
		/* the status once: remote replies usually quote it already */
		if (st && strstr(reply, st) == NULL)
			sbuf_printf(&line, " %s", st);
		if (*reply)
			sbuf_printf(&line, " %s", reply);
		sbuf_printf(out, "%*s%s", SHOW_TIER + 1, "", RED(style));
		status_cut(out, sbuf_str(&line), room);
		sbuf_printf(out, "%s\n", OFF(style));
		sbuf_reset(&line);
	}
	if (r->confirmed > 0) {
		timestamp(t, sizeof(t), r->confirmed, "%m-%d %H:%M");
		sbuf_printf(&line, "✓ confirmed %s", t);
		if (r->confirmed_by)
			sbuf_printf(&line, " by %s", vis(&s0, r->confirmed_by));
		/*
		 * One mailbox serving several units (route merged them into
		 * this row): the confirmation stands for each, so name them.
		 */
		if (r->via && strchr(r->via, ';') != NULL)
			sbuf_printf(&line, " for %s", vis(&s1, r->via));
	} else if (r->receipt && r->reminders > 0) {
		sbuf_puts(&line, "not confirmed");
	}
	if (r->reminders > 0)
		sbuf_printf(&line, "%sreminded %ld time%s", line.len ? ", " : "", r->reminders,
		    r->reminders == 1 ? "" : "s");
	if (line.len > 0) {
		sbuf_printf(out, "%*s", SHOW_TIER + 1, "");
		status_cut(out, sbuf_str(&line), room);
		sbuf_putc(out, '\n');
	}
	sbuf_free(&line);
	sbuf_free(&s0);
	sbuf_free(&s1);
}

static void
recipient_text(struct sbuf *out, const struct queue_view_recipient *r,
    const struct status_style *style)
{
	struct sbuf s[5] = { SBUF_INIT, SBUF_INIT, SBUF_INIT, SBUF_INIT, SBUF_INIT };
	const char *reply, *by;

	status_pad(out, vis(&s[0], r->tier), SHOW_TIER);
	sbuf_putc(out, ' ');
	status_pad(out, vis(&s[1], r->name), SHOW_NAME);
	sbuf_putc(out, ' ');
	status_pad(out, vis(&s[2], r->address), SHOW_ADDRESS);
	sbuf_putc(out, ' ');
	status_pad(out, shown_state(r), SHOW_STATE);
	sbuf_printf(out, " %5ld", r->attempts);
	/*
	 * A delivered row's reply is routine: its code says enough (the
	 * full text is in --json and the log). Anything
	 * else says why it has not arrived: in full, on a line of its own
	 * when it does not fit, with the next attempt.
	 */
	bool routine = r->state == QUEUE_DELIVERED && !r->replaced_by;
	char next[40] = "";
	if (waiting(r) && r->attempts > 0)
		timestamp(next, sizeof(next), r->next_attempt, "%m-%d %H:%M:%S");
	reply = or_dash(&s[3], r->last_reply);
	by = vis(&s[4], r->replaced_by);
	if (routine && r->last_code > 0) {
		sbuf_printf(out, "  %ld\n", r->last_code);
	} else if (routine || (text_width(reply) <= STATUS_COLUMNS - SHOW_REPLY_AT && !*next)) {
		sbuf_puts(out, "  ");
		status_cut(out, reply, STATUS_COLUMNS - SHOW_REPLY_AT);
		sbuf_putc(out, '\n');
	} else {
		sbuf_putc(out, '\n');
		wrapf(out, 0, SHOW_TIER + 1, "%*s%s%s%s", SHOW_TIER + 1, "", reply,
		    *next ? "; next attempt " : "", next);
	}
	if (by)
		wrapf(out, 0, SHOW_TIER + 1, "%*s→ replaced by %s", SHOW_TIER + 1, "", by);
	else
		feedback_text(out, r, style);
	for (int i = 0; i < 5; i++)
		sbuf_free(&s[i]);
}

/* One tier's recipients (not replaced) as show's summary counts them. */
struct tier_sum {
	const char *tier;
	long total, delivered, bounced, failed, going, held, cancelled, receipt, confirmed;
};

/*
 * The summary under the issue's head, a line per tier (only tier `only`
 * when not NULL): "报 8: 6 delivered, 1 bounced, 1 failed, 5/8 confirmed",
 * counted as status counts its tiers (delivered: not bounced; confirmed
 * of those asked, only when somebody was).
 */
static void
summary_text(struct sbuf *out, const struct queue_view_issue *all, const char *only)
{
	struct tier_sum *t = NULL;
	size_t n = 0;
	struct sbuf line = SBUF_INIT, slot = SBUF_INIT;

	for (size_t i = 0; i < all->n_recipients; i++) {
		const struct queue_view_recipient *r = &all->recipients[i];
		const char *tier = r->tier ? r->tier : "";
		if (r->replaced_by || (only && strcmp(only, tier) != 0))
			continue;
		if (n == 0 || strcmp(t[n - 1].tier, tier) != 0) {
			t = xreallocarray(t, n + 1, sizeof(*t));
			t[n++] = (struct tier_sum){ .tier = tier };
		}
		struct tier_sum *x = &t[n - 1];
		x->total++;
		if (r->state == QUEUE_DELIVERED && r->bounced > 0)
			x->bounced++;
		else if (r->state == QUEUE_DELIVERED)
			x->delivered++;
		else if (r->state == QUEUE_FAILED)
			x->failed++;
		else if (r->state == QUEUE_HELD)
			x->held++;
		else if (r->state == QUEUE_CANCELLED)
			x->cancelled++;
		else
			x->going++;
		x->receipt += r->receipt;
		x->confirmed += r->confirmed > 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct tier_sum *x = &t[i];
		sbuf_reset(&line);
		sbuf_printf(&line, "%s %ld: %ld delivered", vis(&slot, x->tier), x->total,
		    x->delivered);
		if (x->bounced)
			sbuf_printf(&line, ", %ld bounced", x->bounced);
		if (x->failed)
			sbuf_printf(&line, ", %ld failed", x->failed);
		if (x->going)
			sbuf_printf(&line, ", %ld on the way", x->going);
		if (x->held)
			sbuf_printf(&line, ", %ld held", x->held);
		if (x->cancelled)
			sbuf_printf(&line, ", %ld cancelled", x->cancelled);
		/* of those asked; a reply from one not asked counts too, as the
		 * queue counts it; a reminder's count on its bulletin */
		if (all->kind != QUEUE_KIND_BULLETIN)
			;
		else if (x->receipt)
			sbuf_printf(&line, ", %ld/%ld confirmed", x->confirmed, x->receipt);
		else if (x->confirmed)
			sbuf_printf(&line, ", %ld confirmed", x->confirmed);
		sbuf_puts(out, i == 0 ? "  recipients: " : "              ");
		wrap(out, 14, 16, sbuf_str(&line));
	}
	free(t);
	sbuf_free(&line);
	sbuf_free(&slot);
}

/* Whether f lists every recipient (nothing to filter on). */
static bool
unfiltered(const struct queue_view_filter *f)
{
	return f == NULL || (!f->by_state && f->tier == NULL && !f->pending && !f->unconfirmed);
}

void
status_show_text(struct sbuf *out, const struct queue_view_issue *v,
    const struct queue_view_filter *f, const struct status_style *style)
{
	status_show_text_all(out, v, f, unfiltered(f) ? v : NULL, style);
}

void
status_show_text_all(struct sbuf *out, const struct queue_view_issue *v,
    const struct queue_view_filter *f, const struct queue_view_issue *all,
    const struct status_style *style)
{
	issue_text(out, v, style);
	if (all != NULL)
		summary_text(out, all, f ? f->tier : NULL);
	sbuf_printf(out, "\n%s", BOLD(style));
	status_pad(out, "TIER", SHOW_TIER);
	sbuf_putc(out, ' ');
	status_pad(out, "NAME", SHOW_NAME);
	sbuf_putc(out, ' ');
	status_pad(out, "ADDRESS", SHOW_ADDRESS);
	sbuf_putc(out, ' ');
	status_pad(out, "STATE", SHOW_STATE);
	sbuf_printf(out, " TRIES  REPLY%s\n", OFF(style));
	for (size_t i = 0; i < v->n_recipients; i++)
		recipient_text(out, &v->recipients[i], style);
	if (v->n_recipients > 0)
		return;
	if (f && f->unconfirmed) {
		/* of the tier listed, when one is */
		bool asked = all == NULL;
		for (size_t i = 0; all && i < all->n_recipients; i++)
			asked |= all->recipients[i].receipt && (f->tier == NULL ||
			    (all->recipients[i].tier && strcmp(all->recipients[i].tier,
			    f->tier) == 0));
		sbuf_puts(out, asked ? "(everybody asked has confirmed receipt)\n" :
		    "(nobody was asked to confirm receipt)\n");
	} else {
		sbuf_puts(out, f && f->pending ? "(every recipient has got it)\n" :
		    "(no recipients)\n");
	}
}

static void
issue_json(struct json_writer *j, const struct queue_view_issue *v)
{
	json_member_number(j, "id", v->id);
	json_member_string(j, "title", v->title);
	json_member_number_or_null(j, "issue_no", v->issue_no);
	json_member_number_or_null(j, "total_issue_no", v->total_issue_no);
	json_member_string(j, "issuer", v->issuer);
	json_member_string(j, "date", v->date);
	json_member_string(j, "urgency", v->urgency);
	json_member_string(j, "subject", v->subject);
	json_member_string(j, "message_id", v->message_id);
	json_member_string(j, "state", queue_issue_state_name(v->state));
	json_member_string(j, "hold_reason", v->hold_reason);
	json_member_string(j, "source", v->source);
	/* a file name that is not UTF-8 (GBK from a Windows share):
	 * "source" has U+FFFD for its bad bytes, this has them all */
	json_key(j, "source_bytes");
	if (v->source != NULL && !text_valid_utf8(v->source, strlen(v->source), NULL))
		json_hexstring(j, v->source);
	else
		json_null(j);
	json_member_time(j, "received", v->received);
	json_member_time(j, "finished", v->finished);
	json_member_string(j, "kind", queue_kind_name(v->kind));
	json_member_number_or_null(j, "duplicate_of", v->duplicate_of > 0 ? v->duplicate_of : -1);
}

static void
recipient_json(struct json_writer *j, const struct queue_view_recipient *r)
{
	json_begin_object(j);
	json_member_string(j, "tier", r->tier);
	json_member_string(j, "unit", r->unit);
	json_member_string(j, "name", r->name);
	json_member_string(j, "address", r->address);
	json_member_string(j, "state", queue_state_name(r->state));
	json_member_number(j, "attempts", r->attempts);
	json_member_time(j, "next_attempt", waiting(r) ? r->next_attempt : 0);
	json_member_number_or_null(j, "last_code", r->last_code);
	json_member_string(j, "last_reply", r->last_reply);
	json_member_string(j, "via", r->via);
	json_member_string(j, "replaced_by", r->replaced_by);
	/* what came back: state stays the transfer's ("delivered") */
	json_member_time(j, "bounced", r->bounced);
	json_member_string(j, "bounce_status", r->bounce_status);
	json_member_string(j, "bounce_reply", r->bounce_reply);
	json_member_bool(j, "receipt", r->receipt);
	json_member_time(j, "confirmed", r->confirmed);
	json_member_string(j, "confirmed_by", r->confirmed_by);
	json_member_number(j, "reminders", r->reminders);
	json_end_object(j);
}

void
status_show_json(struct sbuf *out, const struct queue_view_issue *v)
{
	struct json_writer j;

	json_start(&j, out);
	json_begin_object(&j);
	issue_json(&j, v);
	json_key(&j, "recipients");
	json_begin_array(&j);
	for (size_t i = 0; i < v->n_recipients; i++)
		recipient_json(&j, &v->recipients[i]);
	json_end_array(&j);
	json_end_object(&j);
	finish_line(&j, out);
}

/* ---- log -------------------------------------------------------------------- */

/* History rows of what came back after delivery, and reminders. */
static bool
after_delivery(enum queue_attempt_status st)
{
	return st == QUEUE_ATTEMPT_BOUNCED || st == QUEUE_ATTEMPT_CONFIRMED ||
	    st == QUEUE_ATTEMPT_REMINDED;
}

void
status_log_text(struct sbuf *out, const struct queue_view_attempt *a, size_t n)
{
	struct sbuf s[4] = { SBUF_INIT, SBUF_INIT, SBUF_INIT, SBUF_INIT };
	char t[40];

	for (size_t i = 0; i < n; i++) {
		const struct queue_view_attempt *x = &a[i];
		iso(t, sizeof(t), x->time);
		sbuf_printf(out, "%s issue=%lld tier=%s to=<%s> status=%s", t, (long long)x->issue,
		    vis(&s[0], x->tier), vis(&s[1], x->address),
		    queue_attempt_status_name(x->status));
		if (x->has_class && x->class != SMTP_CLASS_OK)
			sbuf_printf(out, " class=%s", smtp_class_name(x->class));
		if (x->code > 0)
			sbuf_printf(out, " code=%ld", x->code);
		/*
		 * What came back later and reminders are no transfer: no
		 * attempt number (it would read as if attempt N bounced
		 * again); the reply says what: the remote server's words, "mdn:
		 * …" or "reply: SUBJECT", "reminder issue R". JSON keeps it.
		 */
		if (!after_delivery(x->status))
			sbuf_printf(out, " attempt=%ld", x->attempt);
		sbuf_printf(out, "%s reply=\"%s\"\n",
		    x->possible_duplicate ? " note=possible-duplicate" : "",
		    x->reply == NULL ? "" : after_delivery(x->status) ?
		    one_line(&s[3], x->reply) : vis(&s[2], x->reply));
	}
	for (int i = 0; i < 4; i++)
		sbuf_free(&s[i]);
}

void
status_log_json(struct sbuf *out, const struct queue_view_attempt *a, size_t n)
{
	/* JSON Lines: one object per attempt, so that log -f can stream them */
	for (size_t i = 0; i < n; i++) {
		const struct queue_view_attempt *x = &a[i];
		struct json_writer j;
		json_start(&j, out);
		json_begin_object(&j);
		json_member_number(&j, "id", x->id);
		json_member_time(&j, "time", x->time);
		json_member_number(&j, "issue", x->issue);
		json_member_string(&j, "tier", x->tier);
		json_member_string(&j, "address", x->address);
		json_member_string(&j, "status", queue_attempt_status_name(x->status));
		json_member_string(&j, "class", x->has_class ? smtp_class_name(x->class) : NULL);
		json_member_number_or_null(&j, "code", x->code);
		json_member_string(&j, "reply", x->reply);
		json_member_number(&j, "attempt", x->attempt);
		json_member_string(&j, "relay", x->relay);
		json_member_bool(&j, "possible_duplicate", x->possible_duplicate);
		json_end_object(&j);
		finish_line(&j, out);
	}
}
