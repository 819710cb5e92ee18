#include "text.h"

#include <ctype.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "xalloc.h"

int32_t
text_next(const char *str, size_t n, size_t *i)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t k = *i;
	unsigned char c = s[k];
	int32_t cp, min;
	size_t len;

	if (c < 0x80) {
		*i = k + 1;
		return c;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2; cp = c & 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3; cp = c & 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4; cp = c & 0x07; min = 0x10000;
	} else {
		*i = k + 1;
		return -1;
	}
	if (n - k < len) {
		*i = k + 1;
		return -1;
	}
	for (size_t j = 1; j < len; j++) {
		if ((s[k + j] & 0xC0) != 0x80) {
			*i = k + 1;
			return -1;
		}
		cp = (cp << 6) | (s[k + j] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		*i = k + 1;
		return -1;
	}
	*i = k + len;
	return cp;
}

bool
text_valid_utf8(const char *s, size_t n, size_t *bad)
{
	size_t i = 0;

	while (i < n) {
		size_t at = i;
		/* ASCII fast path: bulletins are mostly 3-byte CJK, but files
		 * with long ASCII runs (and fuzz inputs) should not pay per byte. */
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		if (text_next(s, n, &i) < 0) {
			if (bad)
				*bad = at;
			return false;
		}
	}
	return true;
}

size_t
text_encode(int32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

int32_t
text_fold_cp(int32_t cp)
{
	if (cp >= 0xFF01 && cp <= 0xFF5E)
		return cp - 0xFF01 + 0x21;
	if (cp == 0x3000 || cp == 0x00A0 || cp == '\t')
		return ' ';
	return cp;
}

bool
text_is_space(int32_t cp)
{
	return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' ||
	    cp == '\v' || cp == '\f' || cp == 0x3000 || cp == 0x00A0 ||
	    cp == 0xFEFF;
}

bool
text_is_ideograph(int32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) ||	/* unified */
	    (cp >= 0x3400 && cp <= 0x4DBF) ||		/* extension A */
	    (cp >= 0x20000 && cp <= 0x3134F) ||		/* extensions B..G */
	    (cp >= 0xF900 && cp <= 0xFAFF) ||		/* compatibility */
	    cp == 0x3007;				/* 〇 */
}

/* Appends cp, or U+FFFD for an invalid sequence so output stays valid UTF-8. */
static void
put_cp(struct sbuf *b, int32_t cp)
{
	char tmp[4];

	if (cp < 0)
		cp = 0xFFFD;
	sbuf_append(b, tmp, text_encode(cp, tmp));
}

char *
text_fold(const char *s, size_t n)
{
	struct sbuf b = SBUF_INIT;
	size_t i = 0, keep = 0;

	while (i < n) {
		int32_t cp = text_fold_cp(text_next(s, n, &i));
		if (text_is_space(cp)) {
			if (b.len == 0)
				continue;
			cp = ' ';
		}
		put_cp(&b, cp);
		if (cp != ' ')
			keep = b.len;
	}
	b.len = keep;
	if (b.data)
		b.data[keep] = '\0';
	return sbuf_steal(&b);
}

char *
text_key(const char *s)
{
	struct sbuf b = SBUF_INIT;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		int32_t cp = text_fold_cp(text_next(s, n, &i));
		if (text_is_space(cp))
			continue;
		if (cp < 0x80)
			cp = tolower(cp);
		put_cp(&b, cp);
	}
	return sbuf_steal(&b);
}

int
text_width(const char *s)
{
	size_t n = strlen(s), i = 0;
	int w = 0;

	while (i < n) {
		int32_t cp = text_next(s, n, &i);
		if (cp < 0)
			w += 1;		/* a stray byte shows as one replacement glyph */
		else if (cp < 0x20 || cp == 0x7F)
			continue;
		else if (g_unichar_iszerowidth((gunichar)cp))
			continue;
		else
			w += g_unichar_iswide((gunichar)cp) ? 2 : 1;
	}
	return w;
}

char *
text_strip(const char *s, size_t n)
{
	size_t start = 0, end = n, i = 0;
	bool seen = false;

	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);
		if (!text_is_space(cp)) {
			if (!seen) {
				start = at;
				seen = true;
			}
			end = i;
		}
	}
	if (!seen)
		return xstrdup("");
	return xstrndup(s + start, end - start);
}

/* Code points that move or hide text on a terminal although they are valid UTF-8. */
static bool
is_invisible_control(int32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) ||		/* C1: 0x9B is CSI on some terminals */
	    cp == 0x061C || cp == 0x200E || cp == 0x200F ||	/* bidi marks */
	    (cp >= 0x202A && cp <= 0x202E) ||		/* bidi embeddings, overrides */
	    (cp >= 0x2066 && cp <= 0x2069) ||		/* bidi isolates */
	    cp == 0x2028 || cp == 0x2029;		/* line, paragraph separators */
}

bool
text_printable(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7F) {
			i++;
			continue;
		}
		int32_t cp = text_next(s, n, &i);
		if (cp < 0x20 || cp == 0x7F || is_invisible_control(cp))
			return false;
	}
	return true;
}

void
text_escape(struct sbuf *out, const char *s, size_t n, bool keep_newlines)
{
	size_t i = 0;

	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);
		if (cp < 0)
			sbuf_printf(out, "\\x%02x", (unsigned char)s[at]);
		else if (cp == '\n' && keep_newlines)
			sbuf_putc(out, '\n');
		else if (cp < 0x20 || cp == 0x7F)
			sbuf_printf(out, "\\x%02x", (unsigned)cp);
		else if (is_invisible_control(cp))
			sbuf_printf(out, "\\u%04x", (unsigned)cp);
		else
			sbuf_append(out, s + at, i - at);
	}
}
