#include "adminmail.h"

#include <string.h>

#include "compose.h"

struct render_ctx {
	const struct conf *c;
	const struct adminmail *m;
	const char *admin;
	int64_t date;
};

const char *
adminmail_to(const struct conf *c, const char *title)
{
	struct conf_identity who;

	conf_identity(c, title, &who);
	return who.admin;
}

static char *
render(void *arg, int64_t id, const char *message_id, size_t *len, char *err,
    size_t errsz)
{
	struct render_ctx *x = arg;
	struct compose_rcpt to = { NULL, x->admin, CONF_HEADER_TO, NULL };
	struct compose_input in = {
		.from_display = x->c->sender.from_display,
		.from_address = x->c->sender.from_address,
		.subject = x->m->subject,
		.message_id = message_id,
		.issue_id = id,
		.date = x->date,
		.body = x->m->body,
		.auto_submitted = true,
		.rcpts = &to,
		.n_rcpts = 1,
	};
	return compose_message(&in, len, err, errsz);
}

int
adminmail_enqueue(const struct conf *c, struct queue *q, const struct adminmail *m,
    int64_t now, int64_t *id, int64_t *existing, char *err, size_t errsz)
{
	/* the admin is one recipient row, under a tier named for what it gets */
	const char *tier = m->kind == QUEUE_KIND_REPORT ? "报告" : "通知";
	struct conf_identity who;
	conf_identity(c, m->title, &who);
	const char *unit = who.series_admin ? "series.admin" : "sender.admin";
	struct queue_recipient_in admin = { 0, tier, "to", unit, unit, "admin", who.admin,
	    who.admin, false };
	struct queue_issue_in in = {
		.sha256 = m->key, .source = m->source, .kind = m->kind,
		.title = m->subject, .subject = m->subject,
		.issue_no = -1, .total_issue_no = -1, .received = now,
		.report_for = m->report_for, .notice_for = m->notice_for,
	};
	struct render_ctx x = { c, m, who.admin, now };
	const char *at = strrchr(c->sender.from_address, '@');

	return queue_enqueue(q, &in, &admin, 1, at ? at + 1 : "localhost", render, &x,
	    id, existing, err, errsz);
}
