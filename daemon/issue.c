#include "issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <openssl/evp.h>

#include "sbuf.h"
#include "text.h"

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
