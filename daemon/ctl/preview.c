#include "preview.h"

#include <string.h>

#include "json.h"
#include "text.h"

static const char *
or_dash(const char *s)
{
	return s ? s : "-";
}

/* "key:" padded to a column by display width, so Chinese keys line up. */
static void
label(struct sbuf *out, const char *key)
{
	int pad = 16 - text_width(key) - 1;

	sbuf_printf(out, "%s:%*s", key, pad > 0 ? pad : 1, "");
}

void
preview_text(struct sbuf *out, const struct bulletin *b, const struct route *r,
    const char *subject, enum issue_verdict verdict, const char *why)
{
	label(out, "title");
	sbuf_printf(out, "%s\n", or_dash(b->title));
	label(out, "issue");
	if (b->issue_no >= 0)
		sbuf_printf(out, "第%ld期", b->issue_no);
	else
		sbuf_puts(out, "-");
	if (b->total_issue_no >= 0)
		sbuf_printf(out, " (总第%ld期)", b->total_issue_no);
	sbuf_putc(out, '\n');
	label(out, "issuer");
	sbuf_printf(out, "%s\n", or_dash(b->issuer));
	label(out, "date");
	sbuf_printf(out, "%s\n", or_dash(b->date));
	if (b->classification) {
		label(out, "classification");
		sbuf_printf(out, "%s%s%s (printed \"%s\", line %zu)\n", b->classification,
		    b->classification_period ? ", 保密期限 " : "",
		    b->classification_period ? b->classification_period : "",
		    b->classification_mark, b->classification_line);
	}
	if (b->unrecognised_mark) {
		label(out, "unrecognised");
		sbuf_printf(out, "line %zu: \"%s\" looks like a classification\n",
		    b->unrecognised_line, b->unrecognised_mark);
	}
	if (verdict == ISSUE_REFUSE) {
		label(out, "REFUSED");
		sbuf_printf(out, "%s\n", why);
	} else if (verdict == ISSUE_HOLD) {
		label(out, "HELD");
		sbuf_printf(out, "%s\n", why);
	}
	if (b->internal) {
		label(out, "circulation");
		sbuf_printf(out, "%s\n", b->internal);
	}
	if (b->urgency) {
		label(out, "urgency");
		sbuf_printf(out, "%s\n", b->urgency);
	}
	for (size_t i = 0; i < b->n_fields; i++) {
		label(out, b->fields[i].key);
		sbuf_printf(out, "%s%s\n", b->fields[i].value,
		    b->fields[i].known ? "" : "   (field, label not known)");
	}
	label(out, "footer");
	if (b->footer_line > 0)
		sbuf_printf(out, "版记 from line %zu (starts with %s); tiers are read only there\n",
		    b->footer_line, bulletin_footer_start_name(b->footer_start));
	else
		sbuf_puts(out, "no 版记 found: no tiers read\n");
	label(out, "subject");
	sbuf_printf(out, "%s\n", subject);
	if (r->from_series)
		sbuf_puts(out, "\nNo tiers in the footer: using the series defaults "
		    "from the configuration.\n");

	for (size_t i = 0; i < r->n_tiers; i++) {
		const struct route_tier *t = &r->tiers[i];
		sbuf_printf(out, "\n%s", t->keyword);
		if (strcmp(t->label, t->keyword) != 0)
			sbuf_printf(out, " (printed %s)", t->label);
		if (t->conf_tier < 0)
			sbuf_puts(out, " — not a configured tier");
		sbuf_putc(out, '\n');
		for (size_t j = 0; j < t->n_units; j++) {
			const struct route_unit *u = &t->units[j];
			sbuf_printf(out, "  %s %s\n", u->resolved ? "ok" : "??", u->text);
			if (u->reading == ROUTE_READ_LINES) {
				sbuf_puts(out, "       read as its lines apart (no separator at the line break):");
				for (size_t k = 0; k < u->n_sides; k++)
					sbuf_printf(out, "%s %s", k ? " |" : "", u->sides[k]);
				sbuf_putc(out, '\n');
			}
			for (size_t k = 0; k < u->n_targets; k++)
				sbuf_printf(out, "       %s <%s>\n", u->targets[k].name,
				    u->targets[k].address);
			for (size_t k = 0; k < u->n_missing; k++)
				if (u->n_missing > 1 || strcmp(u->missing[k], u->text) != 0)
					sbuf_printf(out, "       unresolved: %s\n", u->missing[k]);
		}
	}
	sbuf_printf(out, "\n%zu recipient%s", r->n_recipients,
	    r->n_recipients == 1 ? "" : "s");
	if (r->n_unresolved > 0)
		sbuf_printf(out, ", %zu unresolved:\n", r->n_unresolved);
	else
		sbuf_puts(out, ", everything resolved\n");
	for (size_t i = 0; i < r->n_unresolved; i++)
		sbuf_printf(out, "  %s\n", r->unresolved[i]);
	if (verdict == ISSUE_REFUSE)
		sbuf_puts(out, "would be refused: nothing is sent (see REFUSED above)\n");
	else if (verdict == ISSUE_HOLD)
		sbuf_printf(out, "would be held: %s\n", why);
	else if (r->hold_reason)
		sbuf_printf(out, "would be held: %s\n", r->hold_reason);
}

static void
fields_json(struct json_writer *w, const struct bulletin *b)
{
	json_key(w, "fields");
	json_begin_object(w);
	for (size_t i = 0; i < b->n_fields; i++)
		json_member_string(w, b->fields[i].key, b->fields[i].value);
	json_end_object(w);
	json_key(w, "field_list");
	json_begin_array(w);
	for (size_t i = 0; i < b->n_fields; i++) {
		json_begin_object(w);
		json_member_string(w, "key", b->fields[i].key);
		json_member_string(w, "value", b->fields[i].value);
		json_member_bool(w, "known", b->fields[i].known);
		json_member_number_or_null(w, "line", (long)b->fields[i].line);
		json_end_object(w);
	}
	json_end_array(w);
	json_key(w, "footer");
	if (b->footer_line > 0) {
		json_begin_object(w);
		json_member_number_or_null(w, "line", (long)b->footer_line);
		json_member_string(w, "starts_with", bulletin_footer_start_name(b->footer_start));
		json_end_object(w);
	} else {
		json_null(w);
	}
}

static void
string_array(struct json_writer *w, const char *key, char *const *s, size_t n)
{
	json_key(w, key);
	json_begin_array(w);
	for (size_t i = 0; i < n; i++)
		json_string(w, s[i]);
	json_end_array(w);
}

static void
unit_json(struct json_writer *w, const struct route_unit *u)
{
	json_begin_object(w);
	json_member_string(w, "text", u->text);
	json_member_bool(w, "resolved", u->resolved);
	json_member_string(w, "reading", route_reading_name(u->reading));
	string_array(w, "sides", u->sides, u->n_sides);
	json_key(w, "recipients");
	json_begin_array(w);
	for (size_t k = 0; k < u->n_targets; k++) {
		json_begin_object(w);
		json_member_string(w, "name", u->targets[k].name);
		json_member_string(w, "address", u->targets[k].address);
		json_end_object(w);
	}
	json_end_array(w);
	string_array(w, "unresolved", u->missing, u->n_missing);
	json_end_object(w);
}

static void
route_json(struct json_writer *w, const struct route *r)
{
	json_member_bool(w, "from_series", r->from_series);
	json_key(w, "tiers");
	json_begin_array(w);
	for (size_t i = 0; i < r->n_tiers; i++) {
		const struct route_tier *t = &r->tiers[i];
		json_begin_object(w);
		json_member_string(w, "tier", t->keyword);
		json_member_string(w, "label", t->label);
		json_member_bool(w, "configured", t->conf_tier >= 0);
		json_key(w, "units");
		json_begin_array(w);
		for (size_t j = 0; j < t->n_units; j++)
			unit_json(w, &t->units[j]);
		json_end_array(w);
		json_end_object(w);
	}
	json_end_array(w);
	json_key(w, "recipients");
	json_begin_array(w);
	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rr = &r->recipients[i];
		json_begin_object(w);
		json_member_string(w, "tier", rr->tier_keyword);
		json_member_string(w, "unit", rr->unit);
		json_member_string(w, "name", rr->name);
		json_member_string(w, "address", rr->address);
		json_member_string(w, "via", rr->via);
		json_end_object(w);
	}
	json_end_array(w);
	string_array(w, "unresolved", r->unresolved, r->n_unresolved);
	json_member_string(w, "hold_reason", r->hold_reason);
}

void
preview_source_text(struct sbuf *out, const struct preview_source *src)
{
	label(out, "source");
	sbuf_printf(out, "%s%s (%zu bytes", src->file, src->folder ? " in a folder" : "",
	    src->bytes);
	if (strcmp(src->format, "text") == 0)
		sbuf_printf(out, ", %s)\n", src->encoding ? src->encoding : "text");
	else
		sbuf_printf(out, ", %s: %zu bytes of text extracted; the document "
		    "itself is attached)\n", src->format, src->text_bytes);
	label(out, "attachments");
	if (src->n_att == 0)
		sbuf_puts(out, "none\n");
	else
		sbuf_printf(out, "%zu\n", src->n_att);
	for (size_t i = 0; i < src->n_att; i++)
		sbuf_printf(out, "  %s (%zu bytes)\n", src->att[i].name, src->att[i].len);
}

static void
source_json(struct json_writer *w, const struct preview_source *src)
{
	json_key(w, "source");
	json_begin_object(w);
	json_member_string(w, "file", src->file);
	json_member_string(w, "format", src->format);
	json_member_string(w, "encoding", src->encoding);
	json_member_bool(w, "folder", src->folder);
	json_member_number(w, "bytes", (long long)src->bytes);
	json_member_number(w, "text_bytes", (long long)src->text_bytes);
	json_end_object(w);
	json_key(w, "attachments");
	json_begin_array(w);
	for (size_t i = 0; i < src->n_att; i++) {
		json_begin_object(w);
		json_member_string(w, "name", src->att[i].name);
		json_member_number(w, "bytes", (long long)src->att[i].len);
		json_end_object(w);
	}
	json_end_array(w);
}

void
preview_json(struct sbuf *out, const struct bulletin *b, const struct route *r,
    const char *subject, enum issue_verdict verdict, const char *why,
    const struct preview_message *msg, const struct preview_source *src)
{
	struct json_writer w;

	json_start(&w, out);
	json_begin_object(&w);
	json_member_string(&w, "title", b->title);
	json_member_number_or_null(&w, "issue_no", b->issue_no);
	json_member_number_or_null(&w, "total_issue_no", b->total_issue_no);
	json_member_string(&w, "issuer", b->issuer);
	json_member_string(&w, "date", b->date);
	json_member_string(&w, "classification", b->classification);
	json_member_string(&w, "classification_period", b->classification_period);
	json_member_string(&w, "classification_mark", b->classification_mark);
	json_member_string(&w, "unrecognised_mark", b->unrecognised_mark);
	json_member_string(&w, "verdict", issue_verdict_name(verdict));
	json_member_string(&w, "verdict_reason", *why ? why : NULL);
	json_member_string(&w, "internal", b->internal);
	json_member_string(&w, "urgency", b->urgency);
	fields_json(&w, b);
	route_json(&w, r);
	json_member_string(&w, "subject", subject);
	json_member_string(&w, "body", b->body);
	if (msg) {
		json_member_number(&w, "message_bytes", (long long)msg->bytes);
		json_member_number_or_null(&w, "size_limit", msg->limit > 0 ? msg->limit : -1);
	}
	if (src)
		source_json(&w, src);
	json_end_object(&w);
	json_finish_fixed(&w);
	sbuf_putc(out, '\n');
}

void
preview_size(struct sbuf *out, size_t bytes, long limit, bool from_relay)
{
	sbuf_printf(out, "message: %zu bytes encoded", bytes);
	if (limit > 0)
		sbuf_printf(out, "; limit %ld (%s)", limit, from_relay ?
		    "the relay's SIZE" : "smtp.max_message_bytes");
	else
		sbuf_puts(out, "; no size limit known (the relay's SIZE is "
		    "learnt on the first delivery)");
	sbuf_putc(out, '\n');
}
