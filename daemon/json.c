#include "json.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

void
json_str(struct sbuf *b, const char *s)
{
	size_t n, i = 0;

	if (s == NULL) {
		sbuf_puts(b, "null");
		return;
	}
	n = strlen(s);
	sbuf_putc(b, '"');
	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);
		switch (cp) {
		case '"': sbuf_puts(b, "\\\""); break;
		case '\\': sbuf_puts(b, "\\\\"); break;
		case '\n': sbuf_puts(b, "\\n"); break;
		case '\r': sbuf_puts(b, "\\r"); break;
		case '\t': sbuf_puts(b, "\\t"); break;
		case -1: sbuf_puts(b, "\xef\xbf\xbd"); break;	/* U+FFFD */
		default:
			if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 ||
			    cp == 0x2029)
				sbuf_printf(b, "\\u%04x", (unsigned)cp);
			else
				sbuf_append(b, s + at, i - at);
		}
	}
	sbuf_putc(b, '"');
}

void
json_hex(struct sbuf *b, const char *s)
{
	if (s == NULL) {
		sbuf_puts(b, "null");
		return;
	}
	sbuf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		sbuf_printf(b, "%02x", *p);
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
