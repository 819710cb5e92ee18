#include "remind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json.h"
#include "xalloc.h"

#include "compose.h"
#include "issue.h"

#include "status.h"

/* Lines of the text output: this many columns at most. */
#define REMIND_COLUMNS 80

enum remind_result
remind_plan(const struct queue_view_issue *v, const char *tier, struct remind_plan *p,
    char *why, size_t whysz)
{
	bool tier_seen = false;

	memset(p, 0, sizeof(*p));
	if (v->kind != QUEUE_KIND_BULLETIN) {
		snprintf(why, whysz, "issue %lld is a %s, not a bulletin: only a bulletin's "
		    "recipients are asked to confirm receipt", (long long)v->id,
		    queue_kind_name(v->kind));
		return REMIND_NOT_BULLETIN;
	}
	if (v->state == QUEUE_ISSUE_CANCELLED) {
		snprintf(why, whysz, "issue %lld was cancelled: nobody is reminded of it",
		    (long long)v->id);
		return REMIND_CANCELLED;
	}
	p->pick = xcalloc(v->n_recipients + 1, sizeof(*p->pick));
	for (size_t i = 0; i < v->n_recipients; i++) {
		const struct queue_view_recipient *r = &v->recipients[i];
		if (tier != NULL && strcmp(r->tier, tier) != 0)
			continue;
		tier_seen = true;
		if (r->replaced_by != NULL || !r->receipt)
			continue;
		p->asked++;
		if (r->confirmed != 0) {
			p->confirmed++;
			continue;
		}
		if (r->bounced != 0) {
			p->bounced++;
			continue;
		}
		if (r->state != QUEUE_DELIVERED) {
			p->waiting++;
			continue;
		}
		/* one reminder per address: the queue counts it on every row of it */
		bool dup = false;
		for (size_t k = 0; k < p->n && !dup; k++)
			dup = strcasecmp(v->recipients[p->pick[k]].address, r->address) == 0;
		if (!dup)
			p->pick[p->n++] = i;
	}
	if (tier != NULL && !tier_seen) {
		struct sbuf tiers = SBUF_INIT;
		for (size_t i = 0; i < v->n_recipients; i++) {
			const char *t = v->recipients[i].tier;
			bool seen = false;
			for (size_t k = 0; k < i && !seen; k++)
				seen = strcmp(v->recipients[k].tier, t) == 0;
			if (!seen)
				sbuf_printf(&tiers, "%s%s", tiers.len ? ", " : "", t);
		}
		snprintf(why, whysz, "issue %lld has no recipient in tier %s (its tiers: %s)",
		    (long long)v->id, tier, tiers.len ? sbuf_str(&tiers) : "none");
		sbuf_free(&tiers);
		remind_plan_free(p);
		return REMIND_NO_TIER;
	}
	if (p->n == 0) {
		struct sbuf rest = SBUF_INIT;
		if (p->bounced)
			sbuf_printf(&rest, ", %ld bounced (resend first)", p->bounced);
		if (p->waiting)
			sbuf_printf(&rest, ", %ld not delivered yet", p->waiting);
		char where[160];
		if (tier != NULL)
			snprintf(where, sizeof(where), "tier %s of issue %lld", tier,
			    (long long)v->id);
		else
			snprintf(where, sizeof(where), "issue %lld", (long long)v->id);
		if (p->asked == 0)
			snprintf(why, whysz, "nobody to remind: no recipient in %s was asked "
			    "to confirm receipt (receipt = \"request\")", where);
		else
			snprintf(why, whysz, "nobody to remind: %ld of %ld asked in %s have "
			    "confirmed receipt%s", p->confirmed, p->asked, where,
			    sbuf_str(&rest));
		sbuf_free(&rest);
		remind_plan_free(p);
		return REMIND_NOBODY;
	}
	if (whysz > 0)
		why[0] = '\0';
	return REMIND_OK;
}

void
remind_plan_free(struct remind_plan *p)
{
	free(p->pick);
	p->pick = NULL;
	p->n = 0;
}

struct render_ctx {
	const struct conf *c;
	const struct queue_view_issue *v;
	const struct compose_rcpt *rcpts;
	size_t n;
	int64_t now;
};

static char *
render(void *arg, int64_t id, const char *message_id, size_t *len, char *err,
    size_t errsz)
{
	struct render_ctx *x = arg;
	struct conf_identity who;

	conf_identity(x->c, x->v->title, &who);
	struct compose_reminder_in in = {
		.from_display = who.from_display,
		.from_address = who.from_address,
		.reply_to_display = who.reply_to_display,
		.reply_to_address = who.reply_to_address,
		.receipt_to = conf_receipt_address(x->c, x->v->title),
		.subject = x->v->subject ? x->v->subject : x->v->title,
		.original_id = x->v->message_id,
		.sent = x->v->received,
		.message_id = message_id,
		.issue_id = id,
		.date = x->now,
		.rcpts = x->rcpts,
		.n_rcpts = x->n,
	};
	return compose_reminder(&in, len, err, errsz);
}

int
remind_enqueue(const struct conf *c, struct queue *q, const struct queue_view_issue *v,
    const struct remind_plan *p, int64_t now, int64_t *id, char *err, size_t errsz)
{
	struct queue_recipient_in *rin = xcalloc(p->n + 1, sizeof(*rin));
	struct compose_rcpt *rc = xcalloc(p->n + 1, sizeof(*rc));
	char key[160], sha[65], *subject;
	int64_t dup = 0;
	int rc_q;

	*id = 0;
	if (v->message_id == NULL) {
		snprintf(err, errsz, "issue %lld has no Message-ID to remind of",
		    (long long)v->id);
		free(rin);
		free(rc);
		return -1;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct queue_view_recipient *r = &v->recipients[p->pick[i]];
		int t = conf_tier_index(c, r->tier);
		/* units do not learn who else has not confirmed: all Bcc */
		rin[i] = (struct queue_recipient_in){ t < 0 ? 0 : t, r->tier, "bcc", r->unit,
		    r->via, r->name, r->name, r->address, true };
		rc[i] = (struct compose_rcpt){ r->name, r->address, CONF_HEADER_BCC, r->tier };
	}
	/* each remind is deliberate: a key of its own, never a duplicate */
	snprintf(key, sizeof(key), "reminder %lld %lld %ld", (long long)v->id, (long long)now,
	    (long)getpid());
	issue_digest(key, strlen(key), NULL, 0, sha);
	subject = compose_reminder_subject(v->subject ? v->subject : v->title);
	struct queue_issue_in in = {
		.sha256 = sha, .source = "distctl remind", .kind = QUEUE_KIND_REMINDER,
		.title = v->title, .issuer = v->issuer, .date = v->date,
		.subject = subject, .issue_no = v->issue_no, .total_issue_no = v->total_issue_no,
		.received = now, .notice_for = v->id,
	};
	struct render_ctx x = { c, v, rc, p->n, now };
	const char *at = strrchr(c->sender.from_address, '@');
	rc_q = queue_enqueue(q, &in, rin, p->n, at ? at + 1 : "localhost", render, &x, id,
	    &dup, err, errsz);
	free(subject);
	free(rin);
	free(rc);
	return rc_q;
}

void
remind_text(struct sbuf *out, const struct queue_view_issue *v,
    const struct remind_plan *p, int64_t reminder)
{
	sbuf_printf(out, "remind: issue %lld: %zu recipient%s reminded (reminder issue %lld)\n",
	    (long long)v->id, p->n, p->n == 1 ? "" : "s", (long long)reminder);
	for (size_t i = 0; i < p->n; i++) {
		const struct queue_view_recipient *r = &v->recipients[p->pick[i]];
		struct sbuf line = SBUF_INIT;
		sbuf_printf(&line, "%s %s <%s>", r->tier, r->unit ? r->unit : r->name,
		    r->address);
		sbuf_puts(out, "  ");
		status_cut(out, sbuf_str(&line), REMIND_COLUMNS - 2);
		sbuf_putc(out, '\n');
		sbuf_free(&line);
	}
}

void
remind_json(struct sbuf *out, const struct queue_view_issue *v,
    const struct remind_plan *p, int64_t reminder)
{
	struct json_writer w;

	json_start(&w, out);
	json_begin_object(&w);
	json_member_string(&w, "command", "remind");
	json_member_number(&w, "issue", v->id);
	json_member_number(&w, "reminder", reminder);
	json_member_number(&w, "recipients", (long long)p->n);
	json_member_number(&w, "asked", p->asked);
	json_member_number(&w, "confirmed", p->confirmed);
	json_key(&w, "reminded");
	json_begin_array(&w);
	for (size_t i = 0; i < p->n; i++) {
		const struct queue_view_recipient *r = &v->recipients[p->pick[i]];
		json_begin_object(&w);
		json_member_string(&w, "tier", r->tier);
		json_member_string(&w, "unit", r->unit);
		json_member_string(&w, "name", r->name);
		json_member_string(&w, "address", r->address);
		json_end_object(&w);
	}
	json_end_array(&w);
	json_end_object(&w);
	json_finish_fixed(&w);
	sbuf_putc(out, '\n');
}
