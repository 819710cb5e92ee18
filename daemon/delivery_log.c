#include "delivery_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "timefmt.h"
#include "xalloc.h"

/* What the journal entry carries besides the line (copies). */
struct delivery_log_fields {
	size_t offset, len;	/* the line within batch->lines, without '\n' */
	int priority;
	long long issue;
	char *tier, *address, *status;
};

static int dlog_fd = -1;
static char *dlog_path;

void
delivery_log_entry_from_result(struct delivery_log_entry *e, int64_t when,
    int64_t issue, const char *tier, const char *address, const char *relay,
    const struct smtp_verdict *v, const struct queue_attempt *a, double delay)
{
	*e = (struct delivery_log_entry){
		.when = when, .issue = issue, .tier = tier, .address = address,
		.relay = relay, .status = queue_attempt_status_name(a->status),
		/* decided here, on the enum: an ok class says nothing in the line */
		.class = v->class == SMTP_CLASS_OK ? NULL : smtp_class_name(v->class),
		.code = v->code, .dsn = v->dsn[0] ? v->dsn : NULL, .delay = delay,
		.attempt = a->attempt, .next_attempt = a->next_attempt,
		.possible_duplicate = a->possible_duplicate, .reply = v->reply,
	};
	/* a temporary failure with no next attempt has run out of lifetime */
	if (v->outcome == SMTP_OK)
		e->outcome = DELIVERY_LOG_DELIVERED;
	else if (v->outcome == SMTP_TEMP && a->next_attempt > 0)
		e->outcome = DELIVERY_LOG_DEFERRED;
	else
		e->outcome = DELIVERY_LOG_FAILED;
}

/* Quoted so that a reply stays one line and one value. */
static void
put_quoted(struct sbuf *b, const char *s)
{
	sbuf_putc(b, '"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			sbuf_putc(b, '\\');
		if (*s == '\r' || *s == '\n')
			sbuf_putc(b, ' ');
		else
			sbuf_putc(b, *s);
	}
	sbuf_putc(b, '"');
}

void
delivery_log_format(struct sbuf *out, const struct delivery_log_entry *e)
{
	char stamp[TIMEFMT_RFC3339_SIZE];

	sbuf_printf(out, "%s issue=%lld tier=%s to=<%s>",
	    timefmt_rfc3339(e->when, stamp, sizeof(stamp)), (long long)e->issue,
	    e->tier ? e->tier : "", e->address ? e->address : "");
	if (e->relay)
		sbuf_printf(out, " relay=%s", e->relay);
	sbuf_printf(out, " status=%s", e->status ? e->status : "");
	if (e->class)
		sbuf_printf(out, " class=%s", e->class);
	if (e->code)
		sbuf_printf(out, " code=%d", e->code);
	if (e->dsn)
		sbuf_printf(out, " dsn=%s", e->dsn);
	if (e->delay >= 0)
		sbuf_printf(out, " delay=%.2f", e->delay);
	sbuf_printf(out, " attempt=%d", e->attempt);
	if (e->next_attempt > 0)
		sbuf_printf(out, " next=%s",
		    timefmt_rfc3339(e->next_attempt, stamp, sizeof(stamp)));
	if (e->possible_duplicate)
		sbuf_puts(out, " note=possible-duplicate");
	sbuf_puts(out, " reply=");
	put_quoted(out, e->reply);
}

int
delivery_log_priority(enum delivery_log_outcome o)
{
	switch (o) {
	case DELIVERY_LOG_DELIVERED:
		return LOG_INFO;
	case DELIVERY_LOG_DEFERRED:
		return LOG_WARNING;
	case DELIVERY_LOG_FAILED:
		break;
	}
	return LOG_ERR;
}

int
delivery_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return -1;
	if (dlog_fd >= 0)
		close(dlog_fd);
	dlog_fd = fd;
	if (dlog_path != path) {
		free(dlog_path);
		dlog_path = xstrdup(path);
	}
	return 0;
}

void
delivery_log_reopen(void)
{
	if (dlog_path && delivery_log_open(dlog_path) < 0)
		log_warn("delivery log %s", dlog_path);
}

void
delivery_log_close(void)
{
	if (dlog_fd >= 0)
		close(dlog_fd);
	dlog_fd = -1;
	free(dlog_path);
	dlog_path = NULL;
}

void
delivery_log_batch_add(struct delivery_log_batch *b, const struct delivery_log_entry *e)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->fields = xreallocarray(b->fields, b->cap, sizeof(*b->fields));
	}
	struct delivery_log_fields *f = &b->fields[b->n++];
	f->offset = b->lines.len;
	delivery_log_format(&b->lines, e);
	f->len = b->lines.len - f->offset;
	sbuf_putc(&b->lines, '\n');
	f->priority = delivery_log_priority(e->outcome);
	f->issue = (long long)e->issue;
	f->tier = xstrdup(e->tier ? e->tier : "");
	f->address = xstrdup(e->address ? e->address : "");
	f->status = xstrdup(e->status ? e->status : "");
}

static void
to_journal(const struct delivery_log_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct delivery_log_fields *f = &b->fields[i];
		int rc = sd_journal_send("MESSAGE=%.*s", (int)f->len, b->lines.data + f->offset,
		    "PRIORITY=%d", f->priority,
		    "SYSLOG_IDENTIFIER=distd",
		    "DISTD_ISSUE=%lld", f->issue,
		    "DISTD_RCPT=%s", f->address,
		    "DISTD_TIER=%s", f->tier,
		    "DISTD_STATUS=%s", f->status,
		    NULL);
		if (rc < 0)	/* the journal went away: the line must still show */
			log_info("%.*s", (int)f->len, b->lines.data + f->offset);
	}
}

/* The foreground: the lines on stderr as log_info writes them, in one write. */
static void
to_stderr(const struct delivery_log_batch *b)
{
	struct sbuf out = SBUF_INIT;

	for (size_t i = 0; i < b->n; i++) {
		sbuf_puts(&out, "distd: ");
		sbuf_append(&out, b->lines.data + b->fields[i].offset, b->fields[i].len);
		sbuf_putc(&out, '\n');
	}
	ssize_t unused = write(STDERR_FILENO, out.data, out.len);
	(void)unused;
	sbuf_free(&out);
}

void
delivery_log_batch_write(struct delivery_log_batch *b)
{
	if (b->n == 0)
		return;
	if (dlog_fd >= 0 && write(dlog_fd, b->lines.data, b->lines.len) < 0)
		log_warn("delivery log");
	if (log_to_journal())
		to_journal(b);
	else
		to_stderr(b);
	delivery_log_batch_free(b);
}

void
delivery_log_batch_free(struct delivery_log_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->fields[i].tier);
		free(b->fields[i].address);
		free(b->fields[i].status);
	}
	free(b->fields);
	sbuf_free(&b->lines);
	b->fields = NULL;
	b->n = b->cap = 0;
}
