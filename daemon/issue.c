#include "issue.h"

#include <stdlib.h>

#include "sbuf.h"

char *
issue_render(const struct conf *c, const struct bulletin *b, const struct route *r,
    const char *subject, const char *message_id, int64_t id, int64_t date,
    const struct compose_attachment *att, size_t n_att, size_t *len, char *err,
    size_t errsz)
{
	struct compose_rcpt *rc = xcalloc(r->n_recipients + 1, sizeof(*rc));
	char *msg;

	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rr = &r->recipients[i];
		rc[i] = (struct compose_rcpt){ rr->display, rr->address,
		    c->tiers[rr->tier].header };
	}
	struct compose_input in = {
		.from_display = c->sender.from_display,
		.from_address = c->sender.from_address,
		.subject = subject,
		.message_id = message_id,
		.issue_id = id,
		.date = date,
		.body = b->body,
		.urgent = b->urgency != NULL,
		.rcpts = rc,
		.n_rcpts = r->n_recipients,
		.attachments = att,
		.n_attachments = n_att,
	};
	msg = compose_message(&in, len, err, errsz);
	free(rc);
	return msg;
}

struct queue_recipient_in *
issue_recipients(const struct conf *c, const struct route *r)
{
	struct queue_recipient_in *rin = xcalloc(r->n_recipients + 1, sizeof(*rin));

	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rr = &r->recipients[i];
		rin[i] = (struct queue_recipient_in){ (int)rr->tier, rr->tier_keyword,
		    conf_header_name(c->tiers[rr->tier].header), rr->unit, rr->via,
		    rr->name, rr->display, rr->address };
	}
	return rin;
}
