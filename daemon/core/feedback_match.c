#include "feedback_match.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

int64_t
feedback_issue_of_msgid(const char *id, const char *domain)
{
	const char *p, *at;
	int64_t n = 0;
	size_t digits = 0;

	if (id == NULL || domain == NULL || strncmp(id, "distd.", 6) != 0)
		return 0;
	for (p = id + 6; isdigit((unsigned char)*p); p++) {
		if (++digits > 18)
			return 0;
		n = n * 10 + (*p - '0');
	}
	/* distd.N.HASH@DOMAIN: a hash after the number, the domain exactly */
	if (digits == 0 || *p != '.' || p[1] == '@' || p[1] == '\0')
		return 0;
	at = strrchr(p, '@');
	if (at == NULL || strcasecmp(at + 1, domain) != 0)
		return 0;
	return n;
}

static int64_t
issue_named(const struct feedback *f, const char *domain)
{
	if (f->issue_id > 0)
		return f->issue_id;
	for (size_t i = 0; i < f->n_message_ids; i++) {
		int64_t n = feedback_issue_of_msgid(f->message_ids[i], domain);
		if (n > 0)
			return n;
	}
	return 0;
}

static void
leave(struct feedback_match *m, enum feedback_verdict v, const char *fmt, const char *a)
{
	m->verdict = v;
	snprintf(m->why, sizeof(m->why), fmt, a);
}

void
feedback_match(const struct feedback *f, const char *id_domain, const char *key,
    int64_t date, int64_t now, struct feedback_match *m)
{
	struct queue_feedback_in *in = &m->in;
	int64_t last = 0;

	memset(m, 0, sizeof(*m));
	switch (f->kind) {
	case FEEDBACK_UNKNOWN:
	case FEEDBACK_MALFORMED:
		leave(m, FEEDBACK_LEAVE, "%s", f->reason);
		return;
	default:
		break;
	}
	m->issue = issue_named(f, id_domain);
	if (m->issue == 0) {
		m->verdict = FEEDBACK_LEAVE;
		snprintf(m->why, sizeof(m->why), "%s names no issue of ours (no "
		    "X-Distd-Issue, no Message-ID distd.N.…@%s)",
		    feedback_kind_name(f->kind), id_domain);
		return;
	}
	if (f->kind == FEEDBACK_STATUS) {
		snprintf(m->why, sizeof(m->why), "delivery status for issue %lld, "
		    "nobody failed: %s", (long long)m->issue, f->reason);
		m->verdict = FEEDBACK_PROCESSED;
		return;
	}
	m->facts = xcalloc(f->n_rcpts + 1, sizeof(*m->facts));
	switch (f->kind) {
	case FEEDBACK_BOUNCE:
		in->kind = QUEUE_FEEDBACK_BOUNCE;
		in->how = f->nonstandard ? "text-bounce" : "dsn";
		for (size_t i = 0; i < f->n_rcpts; i++) {
			const struct feedback_rcpt *r = &f->rcpts[i];
			if (r->action != FEEDBACK_ACTION_FAILED)
				continue;
			struct queue_feedback_fact *x = &m->facts[in->n_facts++];
			x->address = r->original_recipient ? r->original_recipient :
			    r->final_recipient;
			x->alt_address = r->original_recipient &&
			    strcasecmp(r->original_recipient, r->final_recipient) != 0 ?
			    r->final_recipient : NULL;
			x->status = r->status;
			x->reply = r->diagnostic;
			if (r->last_attempt > last)
				last = r->last_attempt;
		}
		break;
	case FEEDBACK_MDN:
		in->kind = QUEUE_FEEDBACK_CONFIRM;
		in->how = "mdn";
		for (size_t i = 0; i < f->n_rcpts; i++) {
			const struct feedback_rcpt *r = &f->rcpts[i];
			if (!r->confirms)
				continue;
			struct queue_feedback_fact *x = &m->facts[in->n_facts++];
			x->address = r->final_recipient;
			/* a unit's own address may be another than the one it
			 * reads at (an alias): the MDN's From is the second guess */
			x->alt_address = f->from && strcasecmp(f->from, r->final_recipient) ?
			    f->from : NULL;
			x->reply = r->disposition_text;
		}
		break;
	case FEEDBACK_REPLY:
		in->kind = QUEUE_FEEDBACK_CONFIRM;
		in->how = "reply";
		if (f->from != NULL) {
			struct queue_feedback_fact *x = &m->facts[in->n_facts++];
			x->address = f->from;
			x->reply = f->subject ? f->subject : "";
		}
		break;
	default:
		break;
	}
	if (in->n_facts == 0) {
		snprintf(m->why, sizeof(m->why), "%s for issue %lld names nobody it "
		    "applies to (%s)", feedback_kind_name(f->kind), (long long)m->issue,
		    f->kind == FEEDBACK_MDN ? "no displayed disposition" :
		    f->kind == FEEDBACK_REPLY ? "no From" : "no failed recipient");
		/* an MDN saying deleted/processed is understood: nothing to do */
		m->verdict = f->kind == FEEDBACK_MDN ? FEEDBACK_PROCESSED : FEEDBACK_LEAVE;
		free(m->facts);
		m->facts = NULL;
		return;
	}
	m->ids = xcalloc(f->n_message_ids + 1, sizeof(*m->ids));
	for (size_t i = 0; i < f->n_message_ids; i++)
		m->ids[i] = f->message_ids[i];
	in->message_ids = m->ids;
	in->n_message_ids = f->n_message_ids;
	in->facts = m->facts;
	in->key = key;
	in->issue = m->issue;
	in->when = last > 0 ? last : date > 0 ? date : now;
	m->verdict = FEEDBACK_APPLY;
	snprintf(m->why, sizeof(m->why), "%s for issue %lld", feedback_kind_name(f->kind),
	    (long long)m->issue);
}

void
feedback_match_free(struct feedback_match *m)
{
	if (m == NULL)
		return;
	free(m->facts);
	free(m->ids);
	m->facts = NULL;
	m->ids = NULL;
}
