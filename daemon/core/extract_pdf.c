#include "extract.h"

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
 * is the same mode) would only add runs of spaces.
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
			snprintf(err, errsz, "damaged PDF: %s",
			    gerr != NULL ? gerr->message : "poppler cannot open it");
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
