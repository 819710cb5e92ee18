#include "extract.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poppler.h>

#include "sbuf.h"

/*
 * PDF: poppler-glib's text of each page in reading order
 * (poppler_page_get_text, the same as pdftotext without -layout). Tried on
 * the seeds exported with cairo and on a 版记 set in two columns with a
 * tab: reading order gives one entry per line ("编校：…⏎核签：…"), which
 * the parser reads; -layout style output (poppler_page_get_text_for_area
 * is the same mode) would only add runs of spaces. Two steps on top
 * (below): lines wrapped by the layout are rejoined into paragraphs, and
 * a printed page number at the head or foot of a page is dropped. Pages
 * are separated by "\n\f\n": the '\f' line is a blank line to the parser,
 * which rejoins a sentence the page break split.
 *
 * What poppler prints to stderr about a damaged file is not ours to log:
 * extract_document runs this in a child whose stderr is /dev/null, and
 * the reason poppler gives back in its GError is in our message.
 */

/* A line that is only a printed page number: "— 2 —", "- 2 -", "2", "第 2 页", "第2页 共3页". */
static bool
page_number_line(const char *s, size_t n)
{
	static const char *const marks[] = {
		"\xe2\x80\x94", "\xe2\x80\x93", "\xe2\x80\x95",	/* — – ― */
		"\xe7\xac\xac", "\xe9\xa1\xb5", "\xe5\x85\xb1",	/* 第 页 共 */
		"\xe3\x80\x80", "-", " ", "\t",
	};
	bool digits = false;
	size_t i = 0;

	if (n == 0 || n > 40)
		return false;
	while (i < n) {
		size_t k;

		if (s[i] >= '0' && s[i] <= '9') {
			digits = true;
			i++;
			continue;
		}
		for (k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
			size_t m = strlen(marks[k]);
			if (m <= n - i && memcmp(s + i, marks[k], m) == 0)
				break;
		}
		if (k == sizeof(marks) / sizeof(marks[0]))
			return false;
		i += strlen(marks[k]);
	}
	return digits;
}

/*
 * Appends one page's text: lines as poppler gives them, control characters
 * other than tab dropped (a stray '\f' would be a page break), blank lines
 * at either end and the printed page number at the head or foot of the
 * page dropped: it is furniture, and between the halves of a sentence split
 * by the page break it would keep the parser from rejoining them.
 * Returns whether the page had any text.
 */
static bool
blank(char c)
{
	return c == '\n' || c == ' ' || c == '\r' || c == '\t';
}

/* Narrows [*a, *b) to its first and last non-blank characters. */
static void
trim(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && blank(s[*a]))
		(*a)++;
	while (*b > *a && blank(s[*b - 1]))
		(*b)--;
}

static bool
put_page(struct sbuf *out, const char *s)
{
	size_t n = strlen(s), a = 0, b = n, start = out->len;
	bool any = false;

	trim(s, &a, &b);
	if (a < b) {	/* at most one number at the foot and one at the head */
		const char *l = s + b;
		while (l > s + a && l[-1] != '\n')
			l--;
		if (l > s + a && page_number_line(l, (size_t)(s + b - l))) {
			b = (size_t)(l - s);
			trim(s, &a, &b);
		}
		const char *e = memchr(s + a, '\n', b - a);
		if (e != NULL && page_number_line(s + a, (size_t)(e - (s + a)))) {
			a = (size_t)(e - s);
			trim(s, &a, &b);
		}
	}
	for (size_t i = a; i < b; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			continue;
		if (c < 0x20 && c != '\n' && c != '\t')
			continue;
		if (c == 0x7f)
			continue;
		if (c != '\n' && c != ' ' && c != '\t')
			any = true;
		sbuf_putc(out, (char)c);
	}
	if (!any)
		out->len = start;	/* whitespace only: nothing of this page */
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return any;
}

/*
 * Rejoins the lines a paragraph was wrapped into, from where poppler says
 * each character sits (rects[i] is the box of the i-th character of s):
 * a line that runs to the right edge of the page's text, starts at the
 * left edge (or a two-character indent) and does not end a sentence
 * continues on the next line when that one is not indented and set in the
 * same size. Without it each printed line would be a line of the mail.
 * Anything unsure keeps its line break, as a blank line: a paragraph of
 * its own, which is what the text seeds have (and what the parser and the
 * renderer read). Returns NULL when the boxes do not match the text.
 */
struct pline {
	size_t from, to;	/* bytes of s, '\n' excluded */
	double x1, x2, h;	/* left, right, character height */
	double y;		/* top of its first character */
	bool text;
};

/* The last character of s[from..to) ends a sentence or a closing bracket. */
static bool
ends_sentence(const char *s, size_t from, size_t to)
{
	static const char *const enders[] = {
		"\xe3\x80\x82", "\xef\xbc\x81", "\xef\xbc\x9f",	/* 。！？ */
		"\xef\xbc\x89", "\xe3\x80\x91", "\xe2\x80\x9d",	/* ）】” */
		"\xe3\x80\x8d", "\xe3\x80\x8f", "\xe2\x80\xa6",	/* 」』… */
		".", "!", "?", ")", ":", "\xef\xbc\x9a",			/* ：*/
	};

	for (size_t k = 0; k < sizeof(enders) / sizeof(enders[0]); k++) {
		size_t m = strlen(enders[k]);
		if (to - from >= m && memcmp(s + to - m, enders[k], m) == 0)
			return true;
	}
	return false;
}

static bool
ascii_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char *
reflow(const char *s, const PopplerRectangle *rects, guint nrects)
{
	struct pline *lines = NULL;
	size_t nlines = 0, ci = 0, i = 0, n = strlen(s);
	double left = 1e9, right = -1e9;
	struct sbuf out = SBUF_INIT;

	if (!g_utf8_validate(s, (gssize)n, NULL) || g_utf8_strlen(s, (gssize)n) != (glong)nrects)
		return NULL;
	while (i <= n) {
		struct pline l = { i, i, 1e9, -1e9, 0, 0, false };

		while (i < n && s[i] != '\n') {
			const PopplerRectangle *r = &rects[ci];
			if (s[i] != ' ') {
				if (!l.text) {
					l.x1 = r->x1;
					l.y = r->y1;
				}
				l.x2 = r->x2;
				if (r->y2 - r->y1 > l.h)
					l.h = r->y2 - r->y1;
				l.text = true;
			}
			i = (size_t)(g_utf8_next_char(s + i) - s);
			ci++;
		}
		l.to = i;
		if (l.text && l.to - l.from > 6) {	/* more than two characters */
			if (l.x1 < left)
				left = l.x1;
			if (l.x2 > right)
				right = l.x2;
		}
		lines = g_renew(struct pline, lines, nlines + 1);
		lines[nlines++] = l;
		i++;		/* past the '\n' */
		ci++;		/* its box */
	}
	for (size_t k = 0; k < nlines; k++) {
		const struct pline *a = &lines[k], *b = k + 1 < nlines ? &lines[k + 1] : NULL;

		sbuf_append(&out, s + a->from, a->to - a->from);
		if (b == NULL)
			break;
		if (a->text && b->text && a->h > 0 &&
		    a->x2 >= right - 2.5 * a->h && a->x1 <= left + 2.5 * a->h &&
		    b->x1 <= left + 0.5 * a->h && b->h > 0.8 * a->h && b->h < 1.25 * a->h &&
		    !ends_sentence(s, a->from, a->to)) {
			if (ascii_word(s[a->to - 1]) && ascii_word(s[b->from]))
				sbuf_putc(&out, ' ');
		} else if (a->text && b->text && fabs(b->y - a->y) < 0.5 * a->h &&
		    b->x1 > a->x2) {
			/* the next column of the same printed line ("编校：…
			 * 核签：…"): one line, as the text seeds have it */
			sbuf_putc(&out, ' ');
		} else if (a->text && b->text) {
			/* a paragraph's end, a heading, a short line: a
			 * paragraph of its own (extract.h), as in the seeds */
			sbuf_puts(&out, "\n\n");
		} else {
			sbuf_putc(&out, '\n');
		}
	}
	g_free(lines);
	return sbuf_steal(&out);
}

static bool
page_has_images(PopplerPage *page)
{
	GList *images = poppler_page_get_image_mapping(page);
	bool any = images != NULL;

	poppler_page_free_image_mapping(images);
	return any;
}

int
extract_pdf(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz)
{
	struct sbuf out = SBUF_INIT;
	PopplerDocument *doc = NULL;
	GBytes *bytes = NULL;
	GError *gerr = NULL;
	int pages, scanned = 0, first_scanned = 0, ret = -1;
	bool any = false;

	*text = NULL;
	*textlen = 0;
	if (len > lim->max_input) {
		snprintf(err, errsz, "PDF of %zu bytes: more than the limit of %zu bytes",
		    len, lim->max_input);
		return -1;
	}
	bytes = g_bytes_new_static(data, len);
	doc = poppler_document_new_from_bytes(bytes, NULL, &gerr);
	if (doc == NULL) {
		if (g_error_matches(gerr, POPPLER_ERROR, POPPLER_ERROR_ENCRYPTED))
			snprintf(err, errsz, "encrypted PDF: save it without a password");
		else
			snprintf(err, errsz, "damaged PDF: poppler cannot open it (%s); "
			    "export it again from the word processor",
			    gerr != NULL ? gerr->message : "no reason given");
		goto out;
	}
	pages = poppler_document_get_n_pages(doc);
	if (pages <= 0) {
		/* also a page tree whose /Count is larger than the file */
		snprintf(err, errsz, "damaged PDF: no page can be read");
		goto out;
	}
	/* the 版记 with the tiers is on the last page: a cut document must not be sent */
	if ((unsigned)pages > lim->max_pages) {
		snprintf(err, errsz, "PDF of %d pages: more than the limit of %u pages",
		    pages, lim->max_pages);
		goto out;
	}
	for (int i = 0; i < pages; i++) {
		PopplerPage *page = poppler_document_get_page(doc, i);
		PopplerRectangle *rects = NULL;
		guint nrects = 0;
		char *s;
		size_t before = out.len;

		if (page == NULL) {
			snprintf(err, errsz, "damaged PDF: page %d of %d cannot be read",
			    i + 1, pages);
			goto out;
		}
		if (out.len > 0)
			sbuf_puts(&out, "\n\f\n");
		s = poppler_page_get_text(page);
		if (s != NULL && poppler_page_get_text_layout(page, &rects, &nrects)) {
			char *joined = reflow(s, rects, nrects);
			g_free(rects);
			if (joined != NULL) {
				g_free(s);
				s = g_strdup(joined);
				free(joined);
			}
		}
		if (s != NULL && put_page(&out, s)) {
			any = true;
		} else {
			out.len = before;
			if (out.data != NULL)
				out.data[out.len] = '\0';
			if (page_has_images(page) && scanned++ == 0)
				first_scanned = i + 1;
		}
		g_free(s);
		g_object_unref(page);
		if (out.len > lim->max_text) {
			snprintf(err, errsz, "PDF text of more than %zu bytes (the limit), "
			    "by page %d of %d", lim->max_text, i + 1, pages);
			goto out;
		}
	}
	if (!any) {
		snprintf(err, errsz, "no text layer: a scanned PDF cannot be sent; "
		    "export the PDF from the word processor, do not scan");
		goto out;
	}
	/* a scanned page among text pages would be sent without its text */
	if (scanned > 0) {
		snprintf(err, errsz, "no text layer on %d of %d pages (first: page %d): "
		    "a scanned page cannot be sent; export the whole PDF from the word "
		    "processor, do not scan", scanned, pages, first_scanned);
		goto out;
	}
	*textlen = out.len;
	*text = sbuf_steal(&out);
	ret = 0;
out:
	sbuf_free(&out);
	if (doc != NULL)
		g_object_unref(doc);
	if (bytes != NULL)
		g_bytes_unref(bytes);
	if (gerr != NULL)
		g_error_free(gerr);
	return ret;
}
