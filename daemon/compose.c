#include "compose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "text.h"

static void
put_number(struct sbuf *b, long v)
{
	if (v >= 0)
		sbuf_printf(b, "%ld", v);
}

static void
cut(char *s, const char *what)
{
	char *p;
	size_t n = strlen(what);

	while ((p = strstr(s, what)) != NULL)
		memmove(p, p + n, strlen(p + n) + 1);
}

char *
compose_subject(const char *tmpl, const struct bulletin *b)
{
	struct sbuf raw = SBUF_INIT, out = SBUF_INIT;

	for (const char *p = tmpl; *p;) {
		const char *e;
		if (*p != '%' || (e = strchr(p + 1, '%')) == NULL) {
			sbuf_putc(&raw, *p++);
			continue;
		}
		size_t n = (size_t)(e - p - 1);
		if (n == 0)
			sbuf_putc(&raw, '%');
		else if (n == 5 && strncmp(p + 1, "title", 5) == 0)
			sbuf_puts(&raw, b->title ? b->title : "");
		else if (n == 5 && strncmp(p + 1, "issue", 5) == 0)
			put_number(&raw, b->issue_no);
		else if (n == 5 && strncmp(p + 1, "total", 5) == 0)
			put_number(&raw, b->total_issue_no);
		else if (n == 4 && strncmp(p + 1, "date", 4) == 0)
			sbuf_puts(&raw, b->date ? b->date : "");
		else if (n == 6 && strncmp(p + 1, "issuer", 6) == 0)
			sbuf_puts(&raw, b->issuer ? b->issuer : "");
		else
			sbuf_append(&raw, p, (size_t)(e - p + 1));
		p = e + 1;
	}
	char *s = sbuf_steal(&raw);
	cut(s, "总第期");
	cut(s, "第期");
	cut(s, "()");
	cut(s, "（）");

	/* one line, single spaces, no leading or trailing space */
	size_t n = strlen(s), i = 0;
	bool space = false;
	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);	/* invalid bytes: -1, a space */
		if (cp < 0x20 || cp == 0x7F || text_is_space(cp) ||
		    cp == 0x2028 || cp == 0x2029 || cp == 0x85) {
			space = out.len > 0;
			continue;
		}
		if (space)
			sbuf_putc(&out, ' ');
		space = false;
		sbuf_append(&out, s + at, i - at);
	}
	free(s);
	return sbuf_steal(&out);
}
