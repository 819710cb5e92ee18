#include "json.h"

#include <stdio.h>

void
json_str(struct sbuf *b, const char *s)
{
	if (s == NULL) {
		sbuf_puts(b, "null");
		return;
	}
	sbuf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': sbuf_puts(b, "\\\""); break;
		case '\\': sbuf_puts(b, "\\\\"); break;
		case '\n': sbuf_puts(b, "\\n"); break;
		case '\r': sbuf_puts(b, "\\r"); break;
		case '\t': sbuf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7F)
				sbuf_printf(b, "\\u%04x", *p);
			else
				sbuf_putc(b, (char)*p);
		}
	}
	sbuf_putc(b, '"');
}

void
json_num_or_null(struct sbuf *b, long long v)
{
	if (v < 0)
		sbuf_puts(b, "null");
	else
		sbuf_printf(b, "%lld", v);
}

void
json_key(struct sbuf *b, const char *key, int *first)
{
	if (!*first)
		sbuf_putc(b, ',');
	*first = 0;
	json_str(b, key);
	sbuf_putc(b, ':');
}
