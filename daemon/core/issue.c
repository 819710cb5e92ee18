#include "issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <openssl/evp.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

char *
issue_render(const struct conf *c, const struct bulletin *b, const struct route *r,
    const char *subject, const char *message_id, int64_t id, int64_t date,
    const struct attachment *att, size_t n_att, size_t *len, char *err,
    size_t errsz)
{
	struct compose_rcpt *rc = xcalloc(r->n_recipients + 1, sizeof(*rc));
	struct conf_identity who;
	char *msg;

	conf_identity(c, b->title, &who);

	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rr = &r->recipients[i];
		rc[i] = (struct compose_rcpt){ rr->display, rr->address,
		    c->tiers[rr->tier].header, rr->tier_keyword };
	}
	struct compose_input in = {
		.from_display = who.from_display,
		.from_address = who.from_address,
		.reply_to_display = who.reply_to_display,
		.reply_to_address = who.reply_to_address,
		.subject = subject,
		.message_id = message_id,
		.issue_id = id,
		.date = date,
		.issue = b,
		.urgent = b->urgency != NULL,
		.rcpts = rc,
		.n_rcpts = r->n_recipients,
		.max_header_names = (size_t)c->compose.max_header_names,
		.attachments = att,
		.n_attachments = n_att,
		/* one message for every tier: it asks when anyone is asked */
		.receipt_to = issue_receipt_any(c, b->title, r) ?
		    conf_receipt_address(c, b->title) : NULL,
	};
	msg = compose_message(&in, len, err, errsz);
	free(rc);
	return msg;
}

bool
issue_receipt_asked(const struct conf *c, const char *title, size_t tier)
{
	const struct conf_series *s;

	if (tier < c->n_tiers && c->tiers[tier].receipt != CONF_RECEIPT_UNSET)
		return c->tiers[tier].receipt == CONF_RECEIPT_REQUEST;
	s = title != NULL ? conf_series_find(c, title) : NULL;
	return s != NULL && s->receipt == CONF_RECEIPT_REQUEST;
}

bool
issue_receipt_any(const struct conf *c, const char *title, const struct route *r)
{
	for (size_t i = 0; i < r->n_recipients; i++)
		if (issue_receipt_asked(c, title, r->recipients[i].tier))
			return true;
	return false;
}

struct queue_recipient_in *
issue_recipients(const struct conf *c, const char *title, const struct route *r)
{
	struct queue_recipient_in *rin = xcalloc(r->n_recipients + 1, sizeof(*rin));

	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rr = &r->recipients[i];
		rin[i] = (struct queue_recipient_in){ (int)rr->tier, rr->tier_keyword,
		    conf_header_name(c->tiers[rr->tier].header), rr->unit, rr->via,
		    rr->name, rr->display, rr->address,
		    issue_receipt_asked(c, title, rr->tier) };
	}
	return rin;
}

enum issue_verdict
issue_check_marks(const struct conf *c, const struct bulletin *b, char *why,
    size_t whysz)
{
	if (b->classification != NULL) {
		snprintf(why, whysz, "line %zu: the issue is marked %s (classification "
		    "%s%s%s): classified issues (秘密, 机密, 绝密) are never sent by "
		    "e-mail", b->classification_line, b->classification_mark,
		    b->classification, b->classification_period ? ", 保密期限 " : "",
		    b->classification_period ? b->classification_period : "");
		return ISSUE_REFUSE;
	}
	if (b->unrecognised_mark != NULL) {
		snprintf(why, whysz, "line %zu: unrecognised classification-like mark: "
		    "\"%s\"; an issue that may be classified is never sent by e-mail "
		    "(remove the mark if the issue is not classified)",
		    b->unrecognised_line, b->unrecognised_mark);
		return ISSUE_REFUSE;
	}
	/* refuse wins over hold when both kinds of mark are printed */
	for (int pass = 0; pass < 2; pass++) {
		enum conf_mark_action want = pass == 0 ? CONF_MARK_REFUSE : CONF_MARK_HOLD;
		for (size_t i = 0; i < c->n_extra_marks; i++) {
			const struct conf_mark *m = &c->extra_marks[i];
			if (m->action != want)
				continue;
			char *mk = text_key(m->mark);
			for (size_t j = 0; *mk && j < b->n_masthead; j++) {
				char *lk = text_key(b->masthead[j]);
				bool hit = strstr(lk, mk) != NULL;
				free(lk);
				if (!hit)
					continue;
				snprintf(why, whysz, "the masthead is marked %s (\"%s\"; "
				    "classification.extra_marks: action \"%s\")", m->mark,
				    b->masthead[j], pass == 0 ? "refuse" : "hold");
				free(mk);
				return pass == 0 ? ISSUE_REFUSE : ISSUE_HOLD;
			}
			free(mk);
		}
	}
	if (whysz > 0)
		why[0] = '\0';
	return ISSUE_SEND;
}

const char *
issue_verdict_name(enum issue_verdict v)
{
	return v == ISSUE_REFUSE ? "refuse" : v == ISSUE_HOLD ? "hold" : "send";
}

/* Text as its meaning: what a re-save in another editor or encoding keeps. */
static char *
normalise(const char *text, size_t len)
{
	struct sbuf out = SBUF_INIT;
	char *nfc;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}
	nfc = g_utf8_normalize(text, (gssize)len, G_NORMALIZE_NFC);
	if (nfc == NULL)	/* not UTF-8: hash it as it is */
		nfc = g_strndup(text, len);
	for (const char *p = nfc; *p;) {
		size_t n = strcspn(p, "\r\n"), keep = n;
		while (keep > 0 && (p[keep - 1] == ' ' || p[keep - 1] == '\t'))
			keep--;
		if (keep >= 3 && memcmp(p + keep - 3, "\xE3\x80\x80", 3) == 0) {
			while (keep >= 3 && memcmp(p + keep - 3, "\xE3\x80\x80", 3) == 0)
				keep -= 3;
			while (keep > 0 && (p[keep - 1] == ' ' || p[keep - 1] == '\t'))
				keep--;
		}
		sbuf_append(&out, p, keep);
		sbuf_putc(&out, '\n');
		p += n;
		if (p[0] == '\r' && p[1] == '\n')
			p += 2;
		else if (*p)
			p++;
	}
	g_free(nfc);
	while (out.len > 0 && out.data[out.len - 1] == '\n')
		out.len--;
	if (out.data != NULL)
		out.data[out.len] = '\0';
	return sbuf_steal(&out);
}

void
issue_digest(const char *text, size_t len, const struct attachment *att,
    size_t n_att, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *norm = normalise(text, len);

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, norm, strlen(norm));
	free(norm);
	for (size_t i = 0; i < n_att; i++) {
		/* names and sizes too: the same bytes under another name differ */
		char head[64];
		EVP_DigestUpdate(ctx, att[i].name, strlen(att[i].name) + 1);
		snprintf(head, sizeof(head), "%zu:", att[i].len);
		EVP_DigestUpdate(ctx, head, strlen(head));
		EVP_DigestUpdate(ctx, att[i].data, att[i].len);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

long
issue_size_limit(const struct conf *c, long relay_size)
{
	long limit = c->smtp.max_message_bytes;

	if (relay_size > 0 && (limit == 0 || relay_size < limit))
		limit = relay_size;
	return limit;
}

enum issue_verdict
issue_check_size(const struct conf *c, long relay_size, size_t len, char *why,
    size_t whysz)
{
	long limit = issue_size_limit(c, relay_size);

	if (limit <= 0 || len + ISSUE_SIZE_MARGIN <= (size_t)limit)
		return ISSUE_SEND;
	snprintf(why, whysz, "the message would be %zu bytes encoded (attachments grow "
	    "by a third in base64), over the %ld bytes %s accepts: nothing was sent; "
	    "send smaller or fewer attachments, or raise the relay's limit and "
	    "distctl release it", len, limit,
	    limit == relay_size ? "the relay's SIZE" : "smtp.max_message_bytes");
	return ISSUE_HOLD;
}

/* ---- the pipeline entry ------------------------------------------------- */

struct render_ctx {
	const struct conf *c;
	const struct bulletin *b;
	const struct route *r;
	const char *subject;
	const struct issue_input *in;
};

static char *
render(void *arg, int64_t id, const char *message_id, size_t *len, char *err,
    size_t errsz)
{
	struct render_ctx *x = arg;

	return issue_render(x->c, x->b, x->r, x->subject, message_id, id, x->in->received,
	    x->in->att, x->in->n_att, len, err, errsz);
}

static const char *
domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "localhost";
}

/*
 * Too big for the relay (its SIZE as distd last saw it, or
 * smtp.max_message_bytes): true with why, so that the issue is held
 * before any recipient gets a 552. Rendered once more to measure it.
 */
static bool
too_big(struct render_ctx *x, struct queue *q, char *why, size_t whysz)
{
	const struct conf *c = x->c;
	char relay[300], err[256];
	long relay_size = -1, max_rcpt;
	size_t len = 0;

	snprintf(relay, sizeof(relay), "%s:%d", c->smtp.host, c->smtp.port);
	queue_relay_get(q, relay, &relay_size, &max_rcpt);
	if (issue_size_limit(c, relay_size) <= 0)
		return false;
	char *msg = render(x, 0, "<size-check@localhost>", &len, err, sizeof(err));
	if (msg == NULL)
		return false;	/* the real render reports it */
	free(msg);
	return issue_check_size(c, relay_size, len, why, whysz) == ISSUE_HOLD;
}

/* The one place an issue is committed as new. */
static enum issue_admit_result
enqueue(struct render_ctx *x, struct queue *q, struct issue_admission *a)
{
	const struct conf *c = x->c;
	const struct bulletin *b = x->b;
	const struct route *r = x->r;
	const struct issue_input *in = x->in;
	char err[1024];

	/* units sent without (send mode) are kept for the admin's notice; a
	 * held issue's reason already names them */
	struct sbuf unresolved = SBUF_INIT;
	for (size_t i = 0; a->hold == NULL && i < r->n_unresolved; i++)
		sbuf_printf(&unresolved, "%s%s", i ? "\n" : "", r->unresolved[i]);

	struct queue_recipient_in *rin = issue_recipients(c, b->title, r);
	struct queue_issue_in qin = {
		.sha256 = in->sha256, .source = in->source, .kind = QUEUE_KIND_BULLETIN,
		.title = b->title, .issuer = b->issuer, .date = b->date,
		.urgency = b->urgency, .subject = a->subject,
		.issue_no = b->issue_no, .total_issue_no = b->total_issue_no,
		.priority = b->urgency ? 1 : 0, .hold_reason = a->hold,
		.received = in->received, .report_for = 0, .text = in->text,
		.unresolved = unresolved.len > 0 ? sbuf_str(&unresolved) : NULL,
	};
	qin.attachments = in->att;
	qin.n_attachments = in->n_att;
	int qrc = queue_enqueue(q, &qin, rin, r->n_recipients,
	    domain_of(c->sender.from_address), render, x, &a->id, &a->duplicate_of, err,
	    sizeof(err));
	free(rin);
	sbuf_free(&unresolved);
	if (qrc < 0) {
		snprintf(a->why, sizeof(a->why), "%s", err);
		return ISSUE_ADMIT_FAILED;
	}
	if (a->duplicate_of)
		return ISSUE_ADMIT_DUPLICATE;
	return a->hold ? ISSUE_ADMIT_HELD : ISSUE_ADMIT_QUEUED;
}

/* A held, never-tried issue: new recipients and message under its old id. */
static enum issue_admit_result
reroute(struct render_ctx *x, struct queue *q, struct issue_admission *a)
{
	const struct issue_input *in = x->in;
	char err[512];
	size_t len;

	a->id = in->reroute;
	if (x->r->n_recipients == 0)
		return ISSUE_ADMIT_NOBODY;
	struct queue_recipient_in *rin = issue_recipients(x->c, x->b->title, x->r);
	char *msg = render(x, in->reroute, in->message_id, &len, err, sizeof(err));
	int rc = msg == NULL ? -1 : queue_reroute(q, in->reroute, rin, x->r->n_recipients,
	    msg, len, in->now, err, sizeof(err));
	free(msg);
	free(rin);
	if (rc < 0) {
		snprintf(a->why, sizeof(a->why), "%s", err);
		return ISSUE_ADMIT_FAILED;
	}
	return ISSUE_ADMIT_QUEUED;
}

enum issue_admit_result
issue_admit(const struct conf *c, struct queue *q, const struct issue_input *in,
    struct issue_admission *a)
{
	char err[1024];

	memset(a, 0, sizeof(*a));
	if (bulletin_parse(in->text, in->len, c->labels, c->n_labels, &a->bulletin, err,
	    sizeof(err)) < 0) {
		snprintf(a->why, sizeof(a->why), "%s", err);
		return ISSUE_ADMIT_UNPARSABLE;
	}
	/* a release checks again: an issue held before distd knew its mark
	 * (an older parser) stays unsent */
	enum issue_verdict verdict = issue_check_marks(c, a->bulletin, a->why, sizeof(a->why));
	if (verdict == ISSUE_REFUSE)
		return ISSUE_ADMIT_REFUSED;
	a->route = route_resolve(c, a->bulletin);
	a->subject = compose_subject_for(c, a->bulletin);
	struct render_ctx x = { c, a->bulletin, a->route, a->subject, in };
	if (in->reroute != 0)
		return reroute(&x, q, a);
	a->hold = verdict == ISSUE_HOLD ? a->why : a->route->hold_reason;
	if (a->hold == NULL && too_big(&x, q, a->why, sizeof(a->why)))
		a->hold = a->why;
	return enqueue(&x, q, a);
}

void
issue_admission_free(struct issue_admission *a)
{
	free(a->subject);
	route_free(a->route);
	bulletin_free(a->bulletin);
	a->subject = NULL;
	a->route = NULL;
	a->bulletin = NULL;
	a->hold = NULL;
}
