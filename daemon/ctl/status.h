#ifndef DISTD_STATUS_H
#define DISTD_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

#include "queue.h"

#include "control.h"

/*
 * What distctl reports from the queue: status, show and log, as text for
 * an 80-column terminal (Chinese aligned by display width) or as JSON
 * with the keys documented in distctl(1). Renderers only: they take the
 * queue's views (queue_view_*) and append to out; they cannot fail. Text
 * shows other people's bytes (titles, replies) escaped for a terminal.
 */

struct status_daemon {
	bool running;
	long pid;
	int64_t since;
	bool has_health;		/* the daemon answered `health` */
	struct control_health health;	/* how the daemon sees its queue */
};

struct status_style {
	bool color;		/* ANSI colour: only on a terminal, never with NO_COLOR */
	int64_t now;
};

/* Where status looked: the configuration, the relay and the queue. */
struct status_where {
	const char *config;	/* the configuration file */
	const char *relay;	/* smtp.url, or NULL when the file is invalid */
	const char *state;	/* the queue: queue_location_name */
	const char *config_error;	/* first error of an invalid file, else NULL */
};

/* What status reads from the queue: the issues of the last so many seconds
 * with failed recipients need attention; the table shows the newest few. */
#define STATUS_FAILED_WINDOW 86400
#define STATUS_RECENT_ISSUES 10

/*
 * distctl status: the daemon, where status looked, the queue's counts,
 * what needs attention and the recent issues. v is NULL before distd's
 * first start (no queue yet: every count is 0, nothing listed).
 */
void status_text(struct sbuf *out, const struct status_where *w,
    const struct status_daemon *d, const struct queue_view_status *v,
    const struct status_style *style);
void status_json(struct sbuf *out, const struct status_where *w,
    const struct status_daemon *d, const struct queue_view_status *v);
/*
 * The daemon alone: its line (running or not) and, when it answered, how
 * it sees its queue ("queue connected", "queue unreachable since …, next
 * try in N s, last error: E"); JSON: {"daemon": {…, "queue": {…}}}. What status
 * prints when distctl cannot open the queue itself.
 */
void status_daemon_text(struct sbuf *out, const struct status_daemon *d,
    const struct status_style *style);
void status_daemon_json(struct sbuf *out, const struct status_daemon *d);

/*
 * The nodes sharing a server queue (queue_view_nodes): status_text_nodes
 * adds a "nodes" block after the queue's counts when there are any (a
 * stale node in red); status_json_nodes adds "nodes": [...] (empty when
 * none). status_text and status_json are these with no nodes.
 */
struct status_nodes {
	const struct queue_view_node *v;
	size_t n;
};
void status_text_nodes(struct sbuf *out, const struct status_where *w,
    const struct status_daemon *d, const struct queue_view_status *v,
    const struct status_nodes *nodes, const struct status_style *style);
void status_json_nodes(struct sbuf *out, const struct status_where *w,
    const struct status_daemon *d, const struct queue_view_status *v,
    const struct status_nodes *nodes);
/*
 * Whether something needs an admin: an alert, a held issue, or failed
 * recipients among the recent issues (v may be NULL: nothing).
 */
bool status_attention(const struct queue_view_status *v);

/*
 * distctl show ISSUE [--state S | --pending | --unconfirmed] [--tier T]:
 * the issue, a summary line per tier ("报 8: 7 delivered, 1 bounced, 5/8
 * confirmed") and the recipients the view holds, each with what came
 * back (bounce, confirmation, reminders) under its row. The summary is
 * counted from `all`, the issue's view without a filter (NULL: no
 * summary; with f->tier, that tier's line only); status_show_text is
 * status_show_text_all with all = v when f filters nothing, else NULL.
 * f words an empty list.
 */
void status_show_text(struct sbuf *out, const struct queue_view_issue *v,
    const struct queue_view_filter *f, const struct status_style *style);
void status_show_text_all(struct sbuf *out, const struct queue_view_issue *v,
    const struct queue_view_filter *f, const struct queue_view_issue *all,
    const struct status_style *style);
void status_show_json(struct sbuf *out, const struct queue_view_issue *v);

/* distctl log: one line per attempt (JSON Lines with --json), in the order given. */
void status_log_text(struct sbuf *out, const struct queue_view_attempt *a, size_t n);
void status_log_json(struct sbuf *out, const struct queue_view_attempt *a, size_t n);

/* Pads s with spaces to `width` display columns, cutting with "…" when longer. */
void status_pad(struct sbuf *out, const char *s, int width);

/*
 * Appends s cut to `width` display columns (with "…" when it was longer),
 * without padding.
 */
void status_cut(struct sbuf *out, const char *s, int width);

#endif
