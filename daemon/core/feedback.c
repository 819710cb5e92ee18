#include "feedback.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define MAX_DEPTH	8	/* multipart nesting looked into */
#define MAX_CANDIDATES	8	/* distinct addresses in a plain bounce */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

const char *
feedback_kind_name(enum feedback_kind k)
{
	switch (k) {
	case FEEDBACK_UNKNOWN:		return "unknown";
	case FEEDBACK_MALFORMED:	return "malformed";
	case FEEDBACK_BOUNCE:		return "bounce";
	case FEEDBACK_STATUS:		return "status";
	case FEEDBACK_MDN:		return "mdn";
	case FEEDBACK_REPLY:		return "reply";
	}
	return "?";
}

const char *
feedback_action_name(enum feedback_action a)
{
	switch (a) {
	case FEEDBACK_ACTION_NONE:	return "none";
	case FEEDBACK_ACTION_FAILED:	return "failed";
	case FEEDBACK_ACTION_DELAYED:	return "delayed";
	case FEEDBACK_ACTION_DELIVERED:	return "delivered";
	case FEEDBACK_ACTION_RELAYED:	return "relayed";
	case FEEDBACK_ACTION_EXPANDED:	return "expanded";
	}
	return "?";
}

const char *
feedback_disposition_name(enum feedback_disposition d)
{
	switch (d) {
	case FEEDBACK_DISP_NONE:	return "none";
	case FEEDBACK_DISP_DISPLAYED:	return "displayed";
	case FEEDBACK_DISP_DELETED:	return "deleted";
	case FEEDBACK_DISP_DISPATCHED:	return "dispatched";
	case FEEDBACK_DISP_PROCESSED:	return "processed";
	}
	return "?";
}

void
feedback_free(struct feedback *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_rcpts; i++) {
		struct feedback_rcpt *p = &r->rcpts[i];
		free(p->final_recipient);
		free(p->original_recipient);
		free(p->status);
		free(p->diagnostic);
		free(p->remote_mta);
		free(p->disposition_text);
	}
	free(r->rcpts);
	for (size_t i = 0; i < r->n_message_ids; i++)
		free(r->message_ids[i]);
	free(r->message_ids);
	free(r->from);
	free(r->subject);
	free(r);
}

/* ---- small text helpers ------------------------------------------------- */

/*
 * A copy of s[0..n), trimmed, at most FEEDBACK_MAX_VALUE bytes (cut at a
 * UTF-8 boundary), controls as spaces and bytes that are not UTF-8 as '?':
 * these values end up in logs and on the admin's terminal.
 */
static char *
clean(const char *s, size_t n)
{
	struct sbuf b = SBUF_INIT;
	size_t i = 0;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	while (i < n) {
		size_t start = i;
		int32_t cp = text_next(s, n, &i);
		if (b.len + (i - start) > FEEDBACK_MAX_VALUE)
			break;
		if (cp < 0)
			sbuf_putc(&b, '?');
		else if (cp < 0x20 || cp == 0x7f)
			sbuf_putc(&b, ' ');
		else
			sbuf_append(&b, s + start, i - start);
	}
	sbuf_putc(&b, '\0');	/* an empty value is "", not NULL */
	b.len--;
	return sbuf_steal(&b);
}

static bool
ihas(const char *hay, const char *needle)
{
	return hay != NULL && strcasestr(hay, needle) != NULL;
}

/* Case-insensitive prefix: returns what follows it, or NULL. */
static const char *
iprefix(const char *s, size_t n, const char *pre)
{
	size_t k = strlen(pre);

	if (n < k || strncasecmp(s, pre, k) != 0)
		return NULL;
	return s + k;
}

/* "rfc822; a@b" or "<a@b>" -> "a@b" (the address type is dropped). */
static char *
address_of(const char *v)
{
	const char *semi = strchr(v, ';'), *s = v, *e;

	if (semi != NULL && memchr(v, '@', (size_t)(semi - v)) == NULL)
		s = semi + 1;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	if (*s == '<') {
		const char *gt = strchr(s, '>');
		s++;
		e = gt ? gt : e;
	}
	return clean(s, (size_t)(e - s));
}

/* The id inside <...>, or the trimmed value without them; NULL if empty. */
static char *
msgid_of(const char *v, size_t n)
{
	const char *lt = memchr(v, '<', n), *gt;
	char *id;

	if (lt != NULL && (gt = memchr(lt, '>', n - (size_t)(lt - v))) != NULL)
		id = clean(lt + 1, (size_t)(gt - lt - 1));
	else
		id = clean(v, n);
	if (id[0] == '\0' || strchr(id, ' ') != NULL) {
		free(id);
		return NULL;
	}
	return id;
}

/* X-Distd-Issue: 1 to 18 digits; 0 for anything else. */
static int64_t
issue_of(const char *v, size_t n)
{
	int64_t id = 0;
	size_t i = 0, digits = 0;

	while (i < n && isspace((unsigned char)v[i]))
		i++;
	for (; i < n && isdigit((unsigned char)v[i]); i++, digits++) {
		if (digits == 18)
			return 0;
		id = id * 10 + (v[i] - '0');
	}
	while (i < n && isspace((unsigned char)v[i]))
		i++;
	return i == n && digits > 0 ? id : 0;
}

/* The issue in a Message-ID distd made (distd.N.hash@domain); 0 otherwise. */
static int64_t
issue_of_msgid(const char *id)
{
	const char *p, *dot;

	if (strncmp(id, "distd.", 6) != 0)
		return 0;
	p = id + 6;
	dot = strchr(p, '.');
	return dot ? issue_of(p, (size_t)(dot - p)) : 0;
}

static void
add_msgid(struct feedback *r, char *id)
{
	if (id == NULL)
		return;
	for (size_t i = 0; i < r->n_message_ids; i++)
		if (strcmp(r->message_ids[i], id) == 0) {
			free(id);
			return;
		}
	if (r->n_message_ids >= FEEDBACK_MAX_IDS) {
		free(id);
		return;
	}
	r->message_ids = xreallocarray(r->message_ids, r->n_message_ids + 1,
	    sizeof(*r->message_ids));
	r->message_ids[r->n_message_ids++] = id;
}

/* ---- header-style blocks (delivery-status, rfc822-headers) -------------- */

/*
 * Reads the next field at *pp: 1 with its name and (unfolded, bounded)
 * value, 2 at a blank line (the end of a block), 0 at the end. Lines that
 * are not fields are skipped. Each byte is looked at once.
 */
static int
field_next(const char **pp, const char *end, const char **name, size_t *nlen,
    struct sbuf *val)
{
	const char *p = *pp;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end, *next = eol ? eol + 1 : end;
		const char *q = p, *colon;

		while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q == le) {
			*pp = next;
			return 2;
		}
		colon = memchr(p, ':', (size_t)(le - p));
		if (q != p || colon == NULL || colon == p) {
			p = next;	/* a stray continuation or not a field */
			continue;
		}
		*name = p;
		*nlen = (size_t)(colon - p);
		while (*nlen > 0 && isspace((unsigned char)p[*nlen - 1]))
			(*nlen)--;
		sbuf_reset(val);
		sbuf_append(val, colon + 1, (size_t)(le - colon - 1));
		p = next;
		/* continuation lines */
		while (p < end && (*p == ' ' || *p == '\t')) {
			const char *e2 = memchr(p, '\n', (size_t)(end - p));
			const char *l2 = e2 ? e2 : end;
			q = p;
			while (q < l2 && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (q == l2)
				break;	/* blank: the end of the block */
			if (val->len < 2 * FEEDBACK_MAX_VALUE) {
				sbuf_putc(val, ' ');
				sbuf_append(val, q, (size_t)(l2 - q));
			}
			p = e2 ? e2 + 1 : end;
		}
		if (val->len > 2 * FEEDBACK_MAX_VALUE)
			val->len = 2 * FEEDBACK_MAX_VALUE;	/* clean() cuts further */
		*pp = p;
		return 1;
	}
	*pp = end;
	return 0;
}

static bool
is_field(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* The original's ids from header text (text/rfc822-headers and the like). */
static void
ids_from_fields(struct feedback *r, const char *s, size_t n)
{
	const char *p = s, *end = s + n, *name;
	size_t nlen;
	struct sbuf v = SBUF_INIT;
	int rc;

	/* the header ends at the first blank line */
	while ((rc = field_next(&p, end, &name, &nlen, &v)) == 1) {
		if (is_field(name, nlen, "Message-ID"))
			add_msgid(r, msgid_of(sbuf_str(&v), v.len));
		else if (is_field(name, nlen, "X-Distd-Issue") && r->issue_id == 0)
			r->issue_id = issue_of(sbuf_str(&v), v.len);
	}
	sbuf_free(&v);
}

/* ---- GMime access -------------------------------------------------------- */

/* The decoded (transfer encoding undone) bytes of a leaf part. */
static char *
part_bytes(GMimeObject *o, size_t *n)
{
	GMimeDataWrapper *w;
	GMimeStream *s;
	GByteArray *a;
	char *out;

	*n = 0;
	if (!GMIME_IS_PART(o) || (w = g_mime_part_get_content(GMIME_PART(o))) == NULL)
		return xstrdup("");
	s = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, s);
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	out = xstrndup((const char *)a->data, a->len);
	*n = a->len;
	g_object_unref(s);
	return out;
}

/* A text part as UTF-8 (GMime converts from its charset). */
static char *
part_text(GMimeObject *o, size_t *n)
{
	char *t, *out;

	if (!GMIME_IS_TEXT_PART(o))
		return part_bytes(o, n);
	t = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
	if (t == NULL)
		return part_bytes(o, n);
	out = xstrdup(t);
	*n = strlen(out);
	g_free(t);
	return out;
}

static bool
ctype_is(GMimeObject *o, const char *type, const char *sub)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);

	return ct != NULL && g_mime_content_type_is_type(ct, type, sub);
}

/* The ids of a returned original: a message, or headers as text. */
static bool
ids_from_original(struct feedback *r, GMimeObject *o)
{
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		const char *id, *issue;
		if (m == NULL)
			return false;
		if ((id = g_mime_message_get_message_id(m)) != NULL)
			add_msgid(r, msgid_of(id, strlen(id)));
		issue = g_mime_object_get_header(GMIME_OBJECT(m), "X-Distd-Issue");
		if (issue != NULL && r->issue_id == 0)
			r->issue_id = issue_of(issue, strlen(issue));
		return true;
	}
	if (ctype_is(o, "text", "rfc822-headers") ||
	    ctype_is(o, "message", "global-headers") ||
	    ctype_is(o, "message", "rfc822") || ctype_is(o, "message", "global")) {
		size_t n;
		char *b = part_bytes(o, &n);
		ids_from_fields(r, b, n);
		free(b);
		return true;
	}
	return false;
}

/* The first mailbox's address of From (or To). */
static char *
first_address(GMimeMessage *m, GMimeAddressType type, char **display)
{
	InternetAddressList *l = g_mime_message_get_addresses(m, type);

	*display = NULL;
	for (int i = 0; l != NULL && i < internet_address_list_length(l) && i < 10; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		const char *addr, *name;
		if (!INTERNET_ADDRESS_IS_MAILBOX(a))
			continue;
		addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
		if (addr == NULL || addr[0] == '\0')
			continue;
		name = internet_address_get_name(a);
		if (name != NULL)
			*display = clean(name, strlen(name));
		return clean(addr, strlen(addr));
	}
	return NULL;
}

/* ---- reports ------------------------------------------------------------- */

static void
set_reason(struct feedback *r, enum feedback_kind k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_reason(struct feedback *r, enum feedback_kind k, const char *fmt, ...)
{
	va_list ap;

	r->kind = k;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static enum feedback_action
action_of(const char *v)
{
	static const struct { const char *name; enum feedback_action a; } actions[] = {
		{ "failed", FEEDBACK_ACTION_FAILED },
		{ "delayed", FEEDBACK_ACTION_DELAYED },
		{ "delivered", FEEDBACK_ACTION_DELIVERED },
		{ "relayed", FEEDBACK_ACTION_RELAYED },
		{ "expanded", FEEDBACK_ACTION_EXPANDED },
	};
	size_t n = 0;

	while (v[n] && !isspace((unsigned char)v[n]) && v[n] != '(' && v[n] != ';')
		n++;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strlen(actions[i].name) == n && strncasecmp(v, actions[i].name, n) == 0)
			return actions[i].a;
	return FEEDBACK_ACTION_NONE;
}

/* Status is d.d.d with class 2, 4 or 5 (RFC 3463); returns the class or 0. */
static int
status_class(const char *s)
{
	const char *p = s;
	int dots = 0;

	if (*p != '2' && *p != '4' && *p != '5')
		return 0;
	for (p++; *p && !isspace((unsigned char)*p) && *p != '('; p++) {
		if (*p == '.')
			dots++;
		else if (!isdigit((unsigned char)*p))
			return 0;
	}
	return dots == 2 && p[-1] != '.' ? s[0] - '0' : 0;
}

static struct feedback_rcpt *
new_rcpt(struct feedback *r)
{
	struct feedback_rcpt *p;

	if (r->n_rcpts >= FEEDBACK_MAX_RCPTS) {
		r->n_rcpts_dropped++;
		return NULL;
	}
	r->rcpts = xreallocarray(r->rcpts, r->n_rcpts + 1, sizeof(*r->rcpts));
	p = &r->rcpts[r->n_rcpts++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* One per-recipient block's fields, as read (NULL when absent). */
struct block {
	char *final, *original, *action, *status, *diag, *mta, *last, *disp, *omid;
	bool any;
};

static void
block_free(struct block *b)
{
	free(b->final);
	free(b->original);
	free(b->action);
	free(b->status);
	free(b->diag);
	free(b->mta);
	free(b->last);
	free(b->disp);
	free(b->omid);
	memset(b, 0, sizeof(*b));
}

/* Stores the field in b when it is one of a report's; first one wins. */
static void
block_field(struct block *b, const char *name, size_t n, const struct sbuf *v)
{
	static const struct { const char *name; size_t off; } fields[] = {
		{ "Final-Recipient", offsetof(struct block, final) },
		{ "Original-Recipient", offsetof(struct block, original) },
		{ "Action", offsetof(struct block, action) },
		{ "Status", offsetof(struct block, status) },
		{ "Diagnostic-Code", offsetof(struct block, diag) },
		{ "Remote-MTA", offsetof(struct block, mta) },
		{ "Last-Attempt-Date", offsetof(struct block, last) },
		{ "Disposition", offsetof(struct block, disp) },
		{ "Original-Message-ID", offsetof(struct block, omid) },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char **slot = (char **)((char *)b + fields[i].off);
		if (!is_field(name, n, fields[i].name))
			continue;
		if (*slot == NULL)
			*slot = clean(sbuf_str(v), v->len);
		/* per-message fields such as Reporting-MTA do not make a block */
		b->any = true;
		return;
	}
}

/* Final-Recipient present and naming someone ("rfc822;" alone does not). */
static bool
has_address(const char *v)
{
	char *a;
	bool ok;

	if (v == NULL)
		return false;
	a = address_of(v);
	ok = a[0] != '\0';
	free(a);
	return ok;
}

/* Diagnostic-Code: "smtp; 550 ..." -> the reply without its type. */
static char *
diag_of(const char *v)
{
	const char *semi = strchr(v, ';');

	if (semi != NULL && semi - v < 16 && memchr(v, ' ', (size_t)(semi - v)) == NULL)
		return clean(semi + 1, strlen(semi + 1));
	return xstrdup(v);
}

/*
 * One per-recipient block of a delivery status; false (with the reason
 * set) when it lacks what RFC 3464 requires or contradicts itself.
 */
static bool
dsn_block(struct feedback *r, struct block *b, size_t nth)
{
	struct feedback_rcpt *p;
	enum feedback_action a;
	int cls;

	if (!has_address(b->final)) {
		set_reason(r, FEEDBACK_MALFORMED, "delivery status: recipient block %zu "
		    "has no Final-Recipient address", nth);
		return false;
	}
	if (b->action == NULL || (a = action_of(b->action)) == FEEDBACK_ACTION_NONE) {
		set_reason(r, FEEDBACK_MALFORMED, "delivery status: recipient block %zu "
		    "has %s Action (expected failed, delayed, delivered, relayed or "
		    "expanded)", nth, b->action ? "an unknown" : "no");
		return false;
	}
	if (b->status == NULL || (cls = status_class(b->status)) == 0) {
		set_reason(r, FEEDBACK_MALFORMED, "delivery status: recipient block %zu "
		    "has %s Status (expected 2.x.x, 4.x.x or 5.x.x)", nth,
		    b->status ? "an invalid" : "no");
		return false;
	}
	/* a failure that says "success", or a delivery that says "failed";
	 * a failed 4.x.x is real (Postfix gives up on a queue lifetime so) */
	if ((a == FEEDBACK_ACTION_FAILED && cls == 2) ||
	    ((a == FEEDBACK_ACTION_DELIVERED || a == FEEDBACK_ACTION_RELAYED) && cls != 2)) {
		set_reason(r, FEEDBACK_MALFORMED, "delivery status: recipient block %zu: "
		    "Action %s contradicts Status %s", nth, feedback_action_name(a),
		    b->status);
		return false;
	}
	if (a == FEEDBACK_ACTION_FAILED)
		r->n_failed++;	/* kept or not: a failure beyond the bound counts */
	if ((p = new_rcpt(r)) == NULL)
		return true;
	p->final_recipient = address_of(b->final);
	p->original_recipient = b->original ? address_of(b->original) : NULL;
	p->action = a;
	p->status = b->status;
	b->status = NULL;
	p->diagnostic = b->diag ? diag_of(b->diag) : NULL;
	p->remote_mta = b->mta ? address_of(b->mta) : NULL;
	if (b->last != NULL) {
		GDateTime *dt = g_mime_utils_header_decode_date(b->last);
		if (dt != NULL) {
			p->last_attempt = g_date_time_to_unix(dt);
			g_date_time_unref(dt);
		}
	}
	return true;
}

/* The delivery-status part: the per-message block, then one per recipient. */
static void
parse_dsn(struct feedback *r, const char *s, size_t n)
{
	const char *p = s, *end = s + n, *name;
	size_t nlen, nth = 0;
	struct sbuf v = SBUF_INIT;
	struct block b;
	int rc;

	memset(&b, 0, sizeof(b));
	r->kind = FEEDBACK_STATUS;
	do {
		rc = field_next(&p, end, &name, &nlen, &v);
		if (rc == 1) {
			block_field(&b, name, nlen, &v);
			continue;
		}
		if (b.any && !dsn_block(r, &b, ++nth)) {
			block_free(&b);
			sbuf_free(&v);
			return;
		}
		block_free(&b);
	} while (rc != 0);
	sbuf_free(&v);
	if (nth == 0)
		set_reason(r, FEEDBACK_MALFORMED, "delivery status without any "
		    "per-recipient block (Final-Recipient, Action, Status)");
}

/* An MDN's one block. */
static void
parse_mdn(struct feedback *r, const char *s, size_t n)
{
	const char *p = s, *end = s + n, *name, *semi, *d;
	size_t nlen, tn;
	int got;
	struct sbuf v = SBUF_INIT;
	struct block b;
	struct feedback_rcpt *rc;
	static const struct { const char *name; enum feedback_disposition d; } types[] = {
		{ "displayed", FEEDBACK_DISP_DISPLAYED },
		{ "deleted", FEEDBACK_DISP_DELETED },
		{ "dispatched", FEEDBACK_DISP_DISPATCHED },
		{ "processed", FEEDBACK_DISP_PROCESSED },
	};

	memset(&b, 0, sizeof(b));
	/* one block; a stray blank line does not end it */
	while ((got = field_next(&p, end, &name, &nlen, &v)) != 0)
		if (got == 1)
			block_field(&b, name, nlen, &v);
	sbuf_free(&v);
	if (!has_address(b.final) || b.disp == NULL) {
		set_reason(r, FEEDBACK_MALFORMED, "disposition notification without %s",
		    b.disp == NULL ? "Disposition" : "Final-Recipient");
		block_free(&b);
		return;
	}
	/* action-mode/sending-mode; type[/modifier] */
	if ((semi = strchr(b.disp, ';')) == NULL || strchr(b.disp, '/') == NULL ||
	    strchr(b.disp, '/') > semi) {
		set_reason(r, FEEDBACK_MALFORMED, "disposition notification: Disposition "
		    "\"%.80s\" is not action-mode/sending-mode; type", b.disp);
		block_free(&b);
		return;
	}
	for (d = semi + 1; isspace((unsigned char)*d); d++)
		;
	for (tn = 0; d[tn] && (isalnum((unsigned char)d[tn]) || d[tn] == '-'); tn++)
		;
	r->kind = FEEDBACK_MDN;
	if (b.omid != NULL)
		add_msgid(r, msgid_of(b.omid, strlen(b.omid)));
	if ((rc = new_rcpt(r)) == NULL) {
		block_free(&b);
		return;
	}
	rc->final_recipient = address_of(b.final);
	rc->original_recipient = b.original ? address_of(b.original) : NULL;
	rc->disposition_text = b.disp;
	b.disp = NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].name) == tn && strncasecmp(d, types[i].name, tn) == 0)
			rc->disposition = types[i].d;
	if (rc->disposition == FEEDBACK_DISP_NONE) {
		set_reason(r, FEEDBACK_MALFORMED, "disposition notification: unknown "
		    "disposition type in \"%.80s\"", rc->disposition_text);
		block_free(&b);
		return;
	}
	/* "displayed/error" and the like: something went wrong */
	rc->confirms = rc->disposition == FEEDBACK_DISP_DISPLAYED && d[tn] != '/';
	r->n_confirms += rc->confirms;
	block_free(&b);
}

static void
parse_report(struct feedback *r, GMimeObject *root)
{
	GMimeContentType *ct = g_mime_object_get_content_type(root);
	const char *type = g_mime_content_type_get_parameter(ct, "report-type");
	GMimeMultipart *mp = GMIME_MULTIPART(root);
	int count = g_mime_multipart_get_count(mp);
	GMimeObject *status = NULL, *orig = NULL;
	bool dsn, mdn;
	size_t n;
	char *b;

	if (type == NULL) {
		set_reason(r, FEEDBACK_MALFORMED, "multipart/report without report-type");
		return;
	}
	dsn = strcasecmp(type, "delivery-status") == 0 ||
	    strcasecmp(type, "global-delivery-status") == 0;
	mdn = strcasecmp(type, "disposition-notification") == 0 ||
	    strcasecmp(type, "global-disposition-notification") == 0;
	if (!dsn && !mdn) {
		set_reason(r, FEEDBACK_UNKNOWN, "a report of type \"%.60s\", neither "
		    "delivery-status nor disposition-notification", type);
		return;
	}
	/* the human-readable part, the machine-readable one, the original */
	for (int i = 0; i < count && i < FEEDBACK_MAX_PARTS; i++) {
		GMimeObject *o = g_mime_multipart_get_part(mp, i);
		if (status == NULL && (dsn ? ctype_is(o, "message", "delivery-status") ||
		    ctype_is(o, "message", "global-delivery-status") :
		    ctype_is(o, "message", "disposition-notification") ||
		    ctype_is(o, "message", "global-disposition-notification")))
			status = o;
		else if (status != NULL && orig == NULL)
			orig = o;
	}
	if (status == NULL) {
		set_reason(r, FEEDBACK_MALFORMED, "report-type=%s without a message/%s part",
		    dsn ? "delivery-status" : "disposition-notification",
		    dsn ? "delivery-status" : "disposition-notification");
		return;
	}
	b = part_bytes(status, &n);
	if (dsn)
		parse_dsn(r, b, n);
	else
		parse_mdn(r, b, n);
	free(b);
	if (r->kind == FEEDBACK_MALFORMED)
		return;
	if (orig != NULL)
		ids_from_original(r, orig);
	for (size_t i = 0; i < r->n_message_ids; i++) {
		int64_t in_id = issue_of_msgid(r->message_ids[i]);
		if (in_id != 0 && r->issue_id != 0 && in_id != r->issue_id) {
			set_reason(r, FEEDBACK_MALFORMED, "the returned Message-ID %.100s "
			    "names issue %lld but X-Distd-Issue says %lld",
			    r->message_ids[i], (long long)in_id, (long long)r->issue_id);
			return;
		}
	}
	if (r->kind == FEEDBACK_STATUS && r->n_failed > 0)
		r->kind = FEEDBACK_BOUNCE;
	if (r->kind == FEEDBACK_MDN)
		snprintf(r->reason, sizeof(r->reason), "disposition %s from %.100s",
		    feedback_disposition_name(r->rcpts[0].disposition),
		    r->rcpts[0].final_recipient);
	else
		snprintf(r->reason, sizeof(r->reason), "delivery status: %zu "
		    "recipient(s), %zu failed%s", r->n_rcpts + r->n_rcpts_dropped,
		    r->n_failed, r->n_rcpts_dropped ? " (some blocks not kept)" : "");
}

/* ---- plain-text bounces ------------------------------------------------- */

static bool
bounce_sender(const char *addr, const char *display, const char *return_path)
{
	static const char *const locals[] = {
		"mailer-daemon@", "postmaster@", "mail-daemon@", "mailerdaemon@",
	};

	if (return_path != NULL) {
		const char *p = return_path;
		while (isspace((unsigned char)*p))
			p++;
		if (strncmp(p, "<>", 2) == 0)
			return true;
	}
	for (size_t i = 0; addr != NULL && i < sizeof(locals) / sizeof(locals[0]); i++)
		if (strncasecmp(addr, locals[i], strlen(locals[i])) == 0)
			return true;
	return ihas(display, "Mail Delivery") || ihas(display, "MAILER-DAEMON") ||
	    ihas(display, "postmaster");
}

static bool
bounce_subject(const char *s)
{
	static const char *const words[] = {
		"退信", "退回", "无法送达", "投递失败", "发送失败", "Undelivered",
		"Undeliverable", "Delivery Status Notification", "Mail delivery failed",
		"Returned mail", "failure notice", "Delivery Failure", "Non-delivery",
		"Nondeliverable", "Delivery has failed",
	};

	for (size_t i = 0; s != NULL && i < sizeof(words) / sizeof(words[0]); i++)
		if (ihas(s, words[i]))
			return true;
	return false;
}

/* A warning that delivery is late is not a bounce. */
static bool
delay_warning(const char *subject, const char *text)
{
	return ihas(subject, "delay") || ihas(subject, "延迟") || ihas(subject, "warning") ||
	    ihas(text, "THIS IS A WARNING MESSAGE ONLY");
}

static bool
local_char(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr(".!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool
domain_char(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-';
}

struct candidates {
	char *addr[MAX_CANDIDATES];
	size_t n;
	bool too_many;
};

/* Every distinct address-looking word in s[0..n), except those excluded. */
static void
find_addresses(struct candidates *c, const char *s, size_t n, char *const *exclude,
    size_t n_exclude)
{
	for (size_t i = 0; i < n; i++) {
		size_t a = i, b = i + 1, dots = 0;
		char *addr;
		bool seen = false;

		if (s[i] != '@')
			continue;
		while (a > 0 && local_char((unsigned char)s[a - 1]) && i - a < 64)
			a--;
		while (b < n && domain_char((unsigned char)s[b]) && b - i < 255)
			dots += s[b++] == '.';
		while (b > i + 1 && s[b - 1] == '.') {
			b--;
			dots--;
		}
		while (a < i && s[a] == '.')
			a++;
		if (a == i || dots == 0)
			continue;
		i = b - 1;
		addr = xstrndup(s + a, b - a);
		for (char *p = addr; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		for (size_t k = 0; k < n_exclude && !seen; k++)
			seen = exclude[k] != NULL && strcasecmp(exclude[k], addr) == 0;
		for (size_t k = 0; k < c->n && !seen; k++)
			seen = strcmp(c->addr[k], addr) == 0;
		if (!seen && (strncmp(addr, "mailer-daemon@", 14) == 0 ||
		    strncmp(addr, "postmaster@", 11) == 0 || strncmp(addr, "distd.", 6) == 0))
			seen = true;
		if (seen) {
			free(addr);
		} else if (c->n < MAX_CANDIDATES) {
			c->addr[c->n++] = addr;
		} else {
			free(addr);
			c->too_many = true;
		}
	}
}

/*
 * Looks through text for the original's header lines: Message-ID,
 * X-Distd-Issue and From (quoted with "> " or indented too). *orig_at is
 * where the first header line of the original starts: the text before it
 * is the mail system's explanation.
 */
static void
scan_text(struct feedback *r, const char *s, size_t n, size_t *orig_at, char **orig_from)
{
	static const char *const heads[] = {
		"Received:", "Return-Path:", "From:", "To:", "Subject:", "Date:",
		"Message-ID:", "X-Distd-Issue:", "MIME-Version:", "Content-Type:",
		"DKIM-Signature:",
	};
	size_t i = 0;

	*orig_at = n;
	while (i < n) {
		const char *l = s + i, *eol = memchr(l, '\n', n - i), *v;
		size_t ll = eol ? (size_t)(eol - l) : n - i, skip = 0;

		while (skip < ll && (l[skip] == ' ' || l[skip] == '\t' || l[skip] == '>'))
			skip++;
		if (skip < ll) {
			const char *t = l + skip;
			size_t tl = ll - skip;
			for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++)
				if (iprefix(t, tl, heads[k]) != NULL && *orig_at == n)
					*orig_at = i;
			if ((v = iprefix(t, tl, "Message-ID:")) != NULL) {
				size_t vl = tl - (size_t)(v - t);
				char *id = msgid_of(v, vl);
				/* folded: the id on the next line */
				if (id == NULL && eol != NULL) {
					const char *l2 = eol + 1, *e2 = memchr(l2, '\n',
					    n - (size_t)(l2 - s));
					id = msgid_of(l2, e2 ? (size_t)(e2 - l2) : n -
					    (size_t)(l2 - s));
				}
				add_msgid(r, id);
			} else if ((v = iprefix(t, tl, "X-Distd-Issue:")) != NULL) {
				if (r->issue_id == 0)
					r->issue_id = issue_of(v, tl - (size_t)(v - t));
			} else if ((v = iprefix(t, tl, "From:")) != NULL && *orig_from == NULL) {
				size_t vl = tl - (size_t)(v - t);
				const char *lt = memchr(v, '<', vl), *gt;
				if (lt != NULL && (gt = memchr(lt, '>', vl - (size_t)(lt - v))))
					*orig_from = clean(lt + 1, (size_t)(gt - lt - 1));
				else
					*orig_from = clean(v, vl);
			}
		}
		i += ll + 1;
	}
}

/* The paragraph of text around the first mention of addr: the remote reply. */
static void
diagnostic_for(struct feedback_rcpt *p, const char *s, size_t n)
{
	const char *hit = NULL, *a, *e;

	for (size_t i = 0; i + strlen(p->final_recipient) <= n && hit == NULL; i++)
		if (strncasecmp(s + i, p->final_recipient, strlen(p->final_recipient)) == 0)
			hit = s + i;
	if (hit == NULL)
		return;
	for (a = hit; a > s && a[-1] != '\n'; a--)
		;
	/* to the next blank line */
	for (e = hit; e < s + n; e++)
		if (*e == '\n') {
			const char *q = e + 1;
			while (q < s + n && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (q >= s + n || *q == '\n')
				break;
		}
	if ((size_t)(e - a) > 2 * FEEDBACK_MAX_VALUE)
		e = a + 2 * FEEDBACK_MAX_VALUE;
	p->diagnostic = clean(a, (size_t)(e - a));
	/* collapse the paragraph's line breaks and runs of spaces */
	char *w = p->diagnostic;
	for (char *q = p->diagnostic; *q; q++)
		if (*q != ' ' || (w > p->diagnostic && w[-1] != ' '))
			*w++ = *q;
	*w = '\0';
	/* an enhanced status code in it, 4.x.x or 5.x.x */
	for (const char *q = p->diagnostic; *q && p->status == NULL; q++)
		if ((*q == '4' || *q == '5') && (q == p->diagnostic || q[-1] == ' ') &&
		    status_class(q) != 0) {
			size_t k = 0;
			while (q[k] && !isspace((unsigned char)q[k]))
				k++;
			p->status = xstrndup(q, k);
		}
}

struct walk {
	struct sbuf text;	/* the explanation: text outside returned messages */
	size_t parts;
	bool attached;		/* an original attached as a message */
};

static void
walk(struct feedback *r, GMimeObject *o, struct walk *w, int depth)
{
	if (++w->parts > FEEDBACK_MAX_PARTS || depth > MAX_DEPTH)
		return;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int count = g_mime_multipart_get_count(mp);
		for (int i = 0; i < count && w->parts <= FEEDBACK_MAX_PARTS; i++)
			walk(r, g_mime_multipart_get_part(mp, i), w, depth + 1);
		return;
	}
	if (ids_from_original(r, o)) {
		w->attached = true;
		return;
	}
	if (ctype_is(o, "text", "plain") && w->text.len < FEEDBACK_MAX_INPUT) {
		size_t n;
		char *t = part_text(o, &n);
		sbuf_append(&w->text, t, n);
		sbuf_putc(&w->text, '\n');
		free(t);
	}
}

static void
parse_plain_bounce(struct feedback *r, GMimeMessage *m)
{
	struct walk w = { SBUF_INIT, 0, false };
	struct candidates c = { { NULL }, 0, false };
	char *orig_from = NULL, *exclude[3], *to, *to_display;
	size_t orig_at, explain;
	bool ours = false;
	struct feedback_rcpt *p;

	walk(r, g_mime_message_get_mime_part(m), &w, 0);
	scan_text(r, sbuf_str(&w.text), w.text.len, &orig_at, &orig_from);
	explain = w.attached ? w.text.len : orig_at;
	ours = r->issue_id != 0;
	for (size_t i = 0; i < r->n_message_ids && !ours; i++)
		ours = strncmp(r->message_ids[i], "distd.", 6) == 0;
	if (!ours) {
		set_reason(r, FEEDBACK_UNKNOWN, "looks like a bounce, but neither "
		    "X-Distd-Issue nor a distd Message-ID is in it");
		goto done;
	}
	if (delay_warning(r->subject, sbuf_str(&w.text))) {
		set_reason(r, FEEDBACK_UNKNOWN, "a plain-text delay warning, not a bounce");
		goto done;
	}
	/* the mail system and distd itself are not the failed recipient */
	to = first_address(m, GMIME_ADDRESS_TYPE_TO, &to_display);
	exclude[0] = r->from;
	exclude[1] = orig_from;
	exclude[2] = to;
	find_addresses(&c, sbuf_str(&w.text), explain, exclude, 3);
	free(to);
	free(to_display);
	if (c.n != 1 || c.too_many) {
		set_reason(r, FEEDBACK_UNKNOWN, "a plain-text bounce for distd's mail, "
		    "but the failed address is %s (%zu%s candidates in the text)",
		    c.n == 0 ? "not in it" : "ambiguous", c.n, c.too_many ? "+" : "");
		goto done;
	}
	r->kind = FEEDBACK_BOUNCE;
	r->nonstandard = true;
	p = new_rcpt(r);
	p->final_recipient = c.addr[0];
	c.addr[0] = NULL;
	p->action = FEEDBACK_ACTION_FAILED;
	r->n_failed = 1;
	diagnostic_for(p, sbuf_str(&w.text), explain);
	snprintf(r->reason, sizeof(r->reason), "plain-text bounce for %.100s",
	    p->final_recipient);
done:
	for (size_t i = 0; i < c.n; i++)
		free(c.addr[i]);
	free(orig_from);
	sbuf_free(&w.text);
}

/* ---- replies -------------------------------------------------------------- */

static const char *
automatic(GMimeObject *o)
{
	const char *v;

	if ((v = g_mime_object_get_header(o, "Auto-Submitted")) != NULL &&
	    strncasecmp(v, "no", 2) != 0)
		return "Auto-Submitted";
	if (g_mime_object_get_header(o, "X-Autoreply") != NULL ||
	    g_mime_object_get_header(o, "X-Autorespond") != NULL)
		return "X-Autoreply";
	if ((v = g_mime_object_get_header(o, "Precedence")) != NULL &&
	    (ihas(v, "auto_reply") || ihas(v, "bulk") || ihas(v, "junk")))
		return "Precedence";
	return NULL;
}

static void
refs(struct feedback *r, GMimeParserOptions *po, const char *v)
{
	GMimeReferences *l;
	int n;

	if (v == NULL || (l = g_mime_references_parse(po, v)) == NULL)
		return;
	n = g_mime_references_length(l);
	/* newest last in References: the nearest first */
	for (int i = n - 1; i >= 0 && r->n_message_ids < FEEDBACK_MAX_IDS; i--) {
		const char *id = g_mime_references_get_message_id(l, i);
		if (id != NULL)
			add_msgid(r, msgid_of(id, strlen(id)));
	}
	g_mime_references_free(l);
}

/* ---- entry ----------------------------------------------------------------- */

struct feedback *
feedback_parse(const char *data, size_t len)
{
	struct feedback *r = xcalloc(1, sizeof(*r));
	GMimeParserOptions *po;
	GMimeStream *s;
	GMimeParser *parser;
	GMimeMessage *m;
	GMimeObject *root;
	const char *v, *why;
	char *display = NULL;
	static const char *fallback[] = { "UTF-8", "GB18030", NULL };

	if (len > FEEDBACK_MAX_INPUT) {
		set_reason(r, FEEDBACK_UNKNOWN, "message of %zu bytes, more than %u",
		    len, FEEDBACK_MAX_INPUT);
		return r;
	}
	pthread_once(&gmime_once, gmime_start);
	po = g_mime_parser_options_new();
	/* Chinese mail systems write raw GB18030 in headers */
	g_mime_parser_options_set_fallback_charsets(po, fallback);
	s = g_mime_stream_mem_new_with_buffer(data, len);
	parser = g_mime_parser_new_with_stream(s);
	m = g_mime_parser_construct_message(parser, po);
	g_object_unref(parser);
	g_object_unref(s);
	if (m == NULL || (root = g_mime_message_get_mime_part(m)) == NULL) {
		set_reason(r, FEEDBACK_UNKNOWN, "not a mail message (no header, or no body)");
		goto done;
	}
	r->from = first_address(m, GMIME_ADDRESS_TYPE_FROM, &display);
	if ((v = g_mime_message_get_subject(m)) != NULL)
		r->subject = clean(v, strlen(v));

	if (GMIME_IS_MULTIPART(root) && ctype_is(root, "multipart", "report")) {
		parse_report(r, root);
		goto done;
	}
	if (bounce_sender(r->from, display, g_mime_object_get_header(GMIME_OBJECT(m),
	    "Return-Path"))) {
		if (delay_warning(r->subject, NULL))
			set_reason(r, FEEDBACK_UNKNOWN, "from a mail system: a delay "
			    "warning, not a bounce");
		else if (bounce_subject(r->subject))
			parse_plain_bounce(r, m);
		else
			set_reason(r, FEEDBACK_UNKNOWN, "from a mail system, but the "
			    "subject is not a bounce's");
		goto done;
	}
	if ((why = automatic(GMIME_OBJECT(m))) != NULL) {
		set_reason(r, FEEDBACK_UNKNOWN, "an automatic message (%s), not a reply",
		    why);
		goto done;
	}
	refs(r, po, g_mime_object_get_header(GMIME_OBJECT(m), "In-Reply-To"));
	refs(r, po, g_mime_object_get_header(GMIME_OBJECT(m), "References"));
	if (r->n_message_ids == 0) {
		set_reason(r, FEEDBACK_UNKNOWN, "not a report, and no In-Reply-To or "
		    "References");
		goto done;
	}
	if (r->from == NULL) {
		set_reason(r, FEEDBACK_UNKNOWN, "a reply without a From address");
		goto done;
	}
	set_reason(r, FEEDBACK_REPLY, "reply from %.100s", r->from);
done:
	free(display);
	if (m != NULL)
		g_object_unref(m);
	g_mime_parser_options_free(po);
	return r;
}
