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
    const char *subject, const char *verdict, const char *why)
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
	if (strcmp(verdict, "refuse") == 0) {
		label(out, "REFUSED");
		sbuf_printf(out, "%s\n", why);
	} else if (strcmp(verdict, "hold") == 0) {
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
	if (strcmp(verdict, "refuse") == 0)
		sbuf_puts(out, "would be refused: nothing is sent (see REFUSED above)\n");
	else if (strcmp(verdict, "hold") == 0)
		sbuf_printf(out, "would be held: %s\n", why);
	else if (r->hold_reason)
		sbuf_printf(out, "would be held: %s\n", r->hold_reason);
}

void
preview_json(struct sbuf *out, const struct bulletin *b, const struct route *r,
    const char *subject, const char *verdict, const char *why)
{
	int first = 1;

	sbuf_putc(out, '{');
	json_key(out, "title", &first); json_str(out, b->title);
	json_key(out, "issue_no", &first); json_num_or_null(out, b->issue_no);
	json_key(out, "total_issue_no", &first); json_num_or_null(out, b->total_issue_no);
	json_key(out, "issuer", &first); json_str(out, b->issuer);
	json_key(out, "date", &first); json_str(out, b->date);
	json_key(out, "classification", &first); json_str(out, b->classification);
	json_key(out, "classification_period", &first); json_str(out, b->classification_period);
	json_key(out, "classification_mark", &first); json_str(out, b->classification_mark);
	json_key(out, "unrecognised_mark", &first); json_str(out, b->unrecognised_mark);
	json_key(out, "verdict", &first); json_str(out, verdict);
	json_key(out, "verdict_reason", &first); json_str(out, *why ? why : NULL);
	json_key(out, "internal", &first); json_str(out, b->internal);
	json_key(out, "urgency", &first); json_str(out, b->urgency);
	json_key(out, "fields", &first);
	sbuf_putc(out, '{');
	int ff = 1;
	for (size_t i = 0; i < b->n_fields; i++) {
		json_key(out, b->fields[i].key, &ff);
		json_str(out, b->fields[i].value);
	}
	sbuf_putc(out, '}');
	json_key(out, "field_list", &first);
	sbuf_putc(out, '[');
	for (size_t i = 0; i < b->n_fields; i++) {
		int fl = 1;
		if (i)
			sbuf_putc(out, ',');
		sbuf_putc(out, '{');
		json_key(out, "key", &fl); json_str(out, b->fields[i].key);
		json_key(out, "value", &fl); json_str(out, b->fields[i].value);
		json_key(out, "known", &fl); sbuf_puts(out, b->fields[i].known ? "true" : "false");
		json_key(out, "line", &fl); json_num_or_null(out, (long)b->fields[i].line);
		sbuf_putc(out, '}');
	}
	sbuf_putc(out, ']');
	json_key(out, "footer", &first);
	if (b->footer_line > 0) {
		int ff2 = 1;
		sbuf_putc(out, '{');
		json_key(out, "line", &ff2); json_num_or_null(out, (long)b->footer_line);
		json_key(out, "starts_with", &ff2);
		json_str(out, bulletin_footer_start_name(b->footer_start));
		sbuf_putc(out, '}');
	} else {
		sbuf_puts(out, "null");
	}
	json_key(out, "from_series", &first);
	sbuf_puts(out, r->from_series ? "true" : "false");
	json_key(out, "tiers", &first);
	sbuf_putc(out, '[');
	for (size_t i = 0; i < r->n_tiers; i++) {
		const struct route_tier *t = &r->tiers[i];
		int tf = 1;
		if (i)
			sbuf_putc(out, ',');
		sbuf_putc(out, '{');
		json_key(out, "tier", &tf); json_str(out, t->keyword);
		json_key(out, "label", &tf); json_str(out, t->label);
		json_key(out, "configured", &tf); sbuf_puts(out, t->conf_tier >= 0 ? "true" : "false");
		json_key(out, "units", &tf);
		sbuf_putc(out, '[');
		for (size_t j = 0; j < t->n_units; j++) {
			const struct route_unit *u = &t->units[j];
			int uf = 1;
			if (j)
				sbuf_putc(out, ',');
			sbuf_putc(out, '{');
			json_key(out, "text", &uf); json_str(out, u->text);
			json_key(out, "resolved", &uf); sbuf_puts(out, u->resolved ? "true" : "false");
			json_key(out, "reading", &uf); json_str(out, route_reading_name(u->reading));
			json_key(out, "sides", &uf);
			sbuf_putc(out, '[');
			for (size_t k = 0; k < u->n_sides; k++) {
				if (k)
					sbuf_putc(out, ',');
				json_str(out, u->sides[k]);
			}
			sbuf_putc(out, ']');
			json_key(out, "recipients", &uf);
			sbuf_putc(out, '[');
			for (size_t k = 0; k < u->n_targets; k++) {
				int rf = 1;
				if (k)
					sbuf_putc(out, ',');
				sbuf_putc(out, '{');
				json_key(out, "name", &rf); json_str(out, u->targets[k].name);
				json_key(out, "address", &rf); json_str(out, u->targets[k].address);
				sbuf_putc(out, '}');
			}
			sbuf_putc(out, ']');
			json_key(out, "unresolved", &uf);
			sbuf_putc(out, '[');
			for (size_t k = 0; k < u->n_missing; k++) {
				if (k)
					sbuf_putc(out, ',');
				json_str(out, u->missing[k]);
			}
			sbuf_puts(out, "]}");
		}
		sbuf_puts(out, "]}");
	}
	sbuf_putc(out, ']');
	json_key(out, "recipients", &first);
	sbuf_putc(out, '[');
	for (size_t i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rr = &r->recipients[i];
		int rf = 1;
		if (i)
			sbuf_putc(out, ',');
		sbuf_putc(out, '{');
		json_key(out, "tier", &rf); json_str(out, rr->tier_keyword);
		json_key(out, "unit", &rf); json_str(out, rr->unit);
		json_key(out, "name", &rf); json_str(out, rr->name);
		json_key(out, "address", &rf); json_str(out, rr->address);
		json_key(out, "via", &rf); json_str(out, rr->via);
		sbuf_putc(out, '}');
	}
	sbuf_putc(out, ']');
	json_key(out, "unresolved", &first);
	sbuf_putc(out, '[');
	for (size_t i = 0; i < r->n_unresolved; i++) {
		if (i)
			sbuf_putc(out, ',');
		json_str(out, r->unresolved[i]);
	}
	sbuf_putc(out, ']');
	json_key(out, "hold_reason", &first); json_str(out, r->hold_reason);
	json_key(out, "subject", &first); json_str(out, subject);
	json_key(out, "body", &first); json_str(out, b->body);
	sbuf_puts(out, "}\n");
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

void
preview_json_size(struct sbuf *out, size_t bytes, long limit)
{
	/* reopen the object preview_json closed with "}\n" */
	bool nl = out->len > 0 && out->data[out->len - 1] == '\n';
	size_t end = out->len - (nl ? 1 : 0);
	if (end == 0 || out->data[end - 1] != '}')
		return;
	out->len = end - 1;
	out->data[out->len] = '\0';
	sbuf_printf(out, ",\"message_bytes\":%zu,\"size_limit\":", bytes);
	if (limit > 0)
		sbuf_printf(out, "%ld", limit);
	else
		sbuf_puts(out, "null");
	sbuf_puts(out, nl ? "}\n" : "}");
}
