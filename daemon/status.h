#ifndef DISTD_STATUS_H
#define DISTD_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"
#include "sbuf.h"

/*
 * What distctl reports from the queue: status, show and log, as text for
 * an 80-column terminal (Chinese aligned by display width) or as JSON
 * with the keys documented in distctl(1). Reads only.
 */

struct status_daemon {
	bool running;
	long pid;
	int64_t since;
};

struct status_style {
	bool color;		/* ANSI colour: only on a terminal, never with NO_COLOR */
	int64_t now;
};

/* Where status looked: the configuration, the relay and the queue. */
struct status_where {
	const char *config;	/* the configuration file */
	const char *relay;	/* smtp.url, or NULL when the file is invalid */
	const char *state;	/* the queue's path */
	const char *config_error;	/* first error of an invalid file, else NULL */
};

/*
 * distctl status. q is NULL before distd's first start (no queue yet:
 * every count is 0). Sets *attention when something needs an admin: an
 * alert, a held issue, or failed recipients among issues of the last 24 hours.
 */
int status_report(struct sbuf *out, struct queue *q, const struct status_where *w,
    const struct status_daemon *d, const struct status_style *style, bool json,
    bool *attention, char *err, size_t errsz);

/* Which recipients show lists; every field may be NULL/false. */
struct status_filter {
	const char *state;	/* only this state */
	const char *tier;	/* only this tier keyword */
	bool pending;		/* only who has not got it: not delivered, cancelled or replaced */
};

/* distctl show ISSUE [--state S | --pending] [--tier T]. */
int status_show(struct sbuf *out, struct queue *q, int64_t issue,
    const struct status_filter *f, const struct status_style *style, bool json,
    char *err, size_t errsz);

/*
 * distctl log: attempts after id *after (0: the last n), oldest first;
 * *after is set to the last id printed. issue 0 means every issue.
 */
int status_log(struct sbuf *out, struct queue *q, int64_t *after, long n, int64_t issue,
    bool json, char *err, size_t errsz);

/* Pads s with spaces to `width` display columns, cutting with "…" when longer. */
void status_pad(struct sbuf *out, const char *s, int width);

/*
 * Appends s cut to `width` display columns (with "…" when it was longer),
 * without padding.
 */
void status_cut(struct sbuf *out, const char *s, int width);

#endif
