#include "preview.h"

#include "json.h"
#include "text.h"

static const char *
or_dash(const char *s)
{
	return s ? s : "-";
}

void
preview_text(struct sbuf *out, const struct bulletin *b)
{
	sbuf_printf(out, "title:          %s\n", or_dash(b->title));
	if (b->issue_no >= 0)
		sbuf_printf(out, "issue:          第%ld期", b->issue_no);
	else
		sbuf_puts(out, "issue:          -");
	if (b->total_issue_no >= 0)
		sbuf_printf(out, " (总第%ld期)", b->total_issue_no);
	sbuf_putc(out, '\n');
	sbuf_printf(out, "issuer:         %s\n", or_dash(b->issuer));
	sbuf_printf(out, "date:           %s\n", or_dash(b->date));
	if (b->classification)
		sbuf_printf(out, "classification: %s%s%s\n", b->classification,
		    b->classification_period ? "★" : "",
		    b->classification_period ? b->classification_period : "");
	if (b->internal)
		sbuf_printf(out, "circulation:    %s\n", b->internal);
	if (b->urgency)
		sbuf_printf(out, "urgency:        %s\n", b->urgency);
	for (size_t i = 0; i < b->n_fields; i++)
		sbuf_printf(out, "%s:%*s%s\n", b->fields[i].key,
		    14 - text_width(b->fields[i].key), "", b->fields[i].value);
	if (b->n_tiers == 0)
		sbuf_puts(out, "tiers:          none in the footer\n");
	for (size_t i = 0; i < b->n_tiers; i++) {
		const struct bulletin_tier *t = &b->tiers[i];
		sbuf_printf(out, "\n%s (%s, line %zu): %zu unit%s\n", t->keyword,
		    t->label, t->line, t->n_units, t->n_units == 1 ? "" : "s");
		for (size_t j = 0; j < t->n_units; j++)
			sbuf_printf(out, "  - %s\n", t->units[j]);
	}
}

void
preview_json(struct sbuf *out, const struct bulletin *b)
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
	json_key(out, "tiers", &first);
	sbuf_putc(out, '[');
	for (size_t i = 0; i < b->n_tiers; i++) {
		const struct bulletin_tier *t = &b->tiers[i];
		int tf = 1;
		if (i)
			sbuf_putc(out, ',');
		sbuf_putc(out, '{');
		json_key(out, "tier", &tf); json_str(out, t->keyword);
		json_key(out, "label", &tf); json_str(out, t->label);
		json_key(out, "line", &tf); sbuf_printf(out, "%zu", t->line);
		json_key(out, "units", &tf);
		sbuf_putc(out, '[');
		for (size_t j = 0; j < t->n_units; j++) {
			int uf = 1;
			if (j)
				sbuf_putc(out, ',');
			sbuf_putc(out, '{');
			json_key(out, "text", &uf); json_str(out, t->units[j]);
			json_key(out, "resolved", &uf); sbuf_puts(out, "false");
			json_key(out, "recipients", &uf); sbuf_puts(out, "[]");
			sbuf_putc(out, '}');
		}
		sbuf_puts(out, "]}");
	}
	sbuf_putc(out, ']');
	json_key(out, "body", &first); json_str(out, b->body);
	sbuf_puts(out, "}\n");
}
