/*
 * extract_ofd: the text of an OFD document (GB/T 33190-2016): OFD.xml
 * names the document (DocBody/DocRoot), the document lists its pages in
 * order (Pages/Page BaseLoc), and each page's content holds TextObjects
 * whose TextCodes carry text at positions. Lines are rebuilt from those
 * positions, since a producer may write one TextCode per line, per word
 * or per glyph. A page may name template pages (CommonData/TemplatePage):
 * what every page prints, such as a 密级 or the series title; their text
 * is read too, once, where it lies (the background under the page).
 */
#include "extract.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "extract_zip.h"
#include "sbuf.h"
#include "xalloc.h"

/* The standard's namespace; NULL: a producer that leaves it out is read too. */
static const char *const OFD_NS = "http://www.ofdspec.org/2016";

/* Glyph offsets read from one DeltaX/DeltaY: more are treated as 0. */
#define MAX_DELTAS	4096

struct page_state {
	const struct extract_limits *lim;
	struct sbuf *out;
	bool failed;
	char err[256];
	bool have;		/* a glyph was placed on this page */
	double y, end_x, size;	/* the last line's baseline, where its text ends */
	struct oline *lines;	/* the visual lines placed, for reflow() */
	size_t nlines;
};

/* One visual line: out's bytes [from, to), where its glyphs lie. */
struct oline {
	size_t from, to;
	double x1, x2, y, size;	/* first glyph's left, last one's end, baseline */
	size_t glyphs;
	bool columns;		/* a gap of columns in it: never a wrapped line */
};

static bool
is_ofd(const xmlNode *n, const char *local)
{
	if (n == NULL || n->type != XML_ELEMENT_NODE ||
	    strcmp((const char *)n->name, local) != 0)
		return false;
	return n->ns == NULL || n->ns->href == NULL ||
	    strcmp((const char *)n->ns->href, OFD_NS) == 0;
}

static const xmlNode *
child(const xmlNode *n, const char *local)
{
	for (const xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (is_ofd(c, local))
			return c;
	return NULL;
}

/* The text of an element (an ST_Loc such as DocRoot); NULL if none. malloc'd. */
static char *
content_of(const xmlNode *n)
{
	xmlChar *s;
	char *r, *p, *e;

	if (n == NULL || (s = xmlNodeGetContent(n)) == NULL)
		return NULL;
	for (p = (char *)s; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	r = e > p ? xstrndup(p, (size_t)(e - p)) : NULL;
	xmlFree(s);
	return r;
}

static const char *
attr(const xmlNode *n, const char *local)
{
	for (const xmlAttr *a = n->properties; a != NULL; a = a->next)
		if (strcmp((const char *)a->name, local) == 0 && a->children != NULL &&
		    a->children->type == XML_TEXT_NODE)
			return (const char *)a->children->content;
	return NULL;
}

/* A finite number, or def. */
static double
num(const char *s, double def)
{
	char *end;
	double v;

	if (s == NULL)
		return def;
	v = strtod(s, &end);
	if (end == s || !isfinite(v) || fabs(v) > 1e7)
		return def;
	return v;
}

/*
 * An ST_Loc resolved: relative to the folder of the file that names it,
 * or from the package root; whichever names an entry.
 */
static char *
locate(struct extract_zip *z, const char *base, const char *loc)
{
	char *p = extract_zip_resolve(base, loc);

	if (extract_zip_has(z, p))
		return p;
	free(p);
	return extract_zip_resolve(NULL, loc);
}

/*
 * DeltaX="1 2 g 3 5": the offsets between a TextCode's glyphs, "g N D"
 * standing for N times D. Fills up to max; returns how many.
 */
static size_t
deltas(const char *s, double *v, size_t max)
{
	size_t n = 0;
	char *end;

	if (s == NULL)
		return 0;
	while (n < max) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			break;
		if (*s == 'g' && (s[1] == ' ' || s[1] == '\t')) {
			double count = strtod(s + 1, &end), d;
			if (end == s + 1)
				break;
			d = strtod(end, &end);
			if (!isfinite(count) || count < 0)
				break;
			for (double i = 0; i < count && n < max; i++)
				v[n++] = isfinite(d) ? d : 0;
			s = end;
			continue;
		}
		v[n] = strtod(s, &end);
		if (end == s)
			break;
		if (!isfinite(v[n]))
			v[n] = 0;
		n++;
		s = end;
	}
	return n;
}

static void
put(struct page_state *ps, const char *s, size_t n)
{
	if (ps->failed)
		return;
	if (ps->out->len + n > ps->lim->max_text) {
		snprintf(ps->err, sizeof(ps->err), "more than %zu bytes of text",
		    ps->lim->max_text);
		ps->failed = true;
		return;
	}
	sbuf_append(ps->out, s, n);
}

/* Bytes of the UTF-8 sequence starting with c (1 for a stray byte). */
static size_t
u8len(unsigned char c)
{
	if (c >= 0xF0 && c < 0xF8)
		return 4;
	if (c >= 0xE0)
		return 3;
	if (c >= 0xC0)
		return 2;
	return 1;
}

/* How far a glyph advances when the producer does not say: CJK full width. */
static double
advance(size_t n, double size)
{
	return (n == 1 ? 0.5 : 1.0) * size;
}

/*
 * Places one glyph (UTF-8 g[0..n)) at (x, y) in a font of size: a new line
 * when the baseline moved by more than half the font size, a space where
 * it starts well after the previous glyph ended on the same line (the
 * producer left out the spaces and placed the words apart, or columns).
 */
static void
place(struct page_state *ps, const char *g, size_t n, double x, double y, double size)
{
	double big = size > ps->size ? size : ps->size;

	struct oline *l;

	if (ps->have) {
		if (fabs(y - ps->y) > big / 2) {
			ps->lines[ps->nlines - 1].to = ps->out->len;
			put(ps, "\n", 1);
			ps->have = false;
		} else if (x - ps->end_x > big * 0.6) {
			put(ps, " ", 1);
			if (x - ps->end_x > big * 1.5)
				ps->lines[ps->nlines - 1].columns = true;
		}
	}
	if (!ps->have) {
		if (ps->nlines % 64 == 0)
			ps->lines = xreallocarray(ps->lines, ps->nlines + 64,
			    sizeof(*ps->lines));
		l = &ps->lines[ps->nlines++];
		l->from = ps->out->len;
		l->x1 = x;
		l->y = y;
		l->size = size;
		l->glyphs = 0;
		l->columns = false;
	}
	l = &ps->lines[ps->nlines - 1];
	if (n == 1 && ((unsigned char)g[0] < 0x20 || g[0] == 0x7f))
		put(ps, " ", 1);
	else
		put(ps, g, n);
	l->to = ps->out->len;
	l->x2 = x + advance(n, size);
	if (size > l->size)
		l->size = size;
	l->glyphs++;
	ps->have = true;
	ps->y = y;
	ps->size = size;
	ps->end_x = x + advance(n, size);
}

static void
text_object(struct page_state *ps, const xmlNode *obj, double *dx, double *dy)
{
	double bx = 0, by = 0, size, x = 0, y = 0;
	const char *b = attr(obj, "Boundary");

	if (b != NULL) {
		char *end;
		bx = strtod(b, &end);
		by = strtod(end, &end);
		if (!isfinite(bx) || fabs(bx) > 1e7)
			bx = 0;
		if (!isfinite(by) || fabs(by) > 1e7)
			by = 0;
	}
	size = num(attr(obj, "Size"), 3.5);
	if (size <= 0.01)
		size = 3.5;

	/* a TextCode without X or Y goes on from the previous one's */
	for (const xmlNode *c = obj->children; c != NULL && !ps->failed; c = c->next) {
		const unsigned char *s;
		xmlChar *content;
		size_t ndx, ndy, i = 0, k = 0;
		double gx, gy;

		if (!is_ofd(c, "TextCode"))
			continue;
		x = num(attr(c, "X"), x);
		y = num(attr(c, "Y"), y);
		ndx = deltas(attr(c, "DeltaX"), dx, MAX_DELTAS);
		ndy = deltas(attr(c, "DeltaY"), dy, MAX_DELTAS);
		if ((content = xmlNodeGetContent(c)) == NULL)
			continue;
		s = content;
		gx = bx + x;
		gy = by + y;
		while (s[i] != '\0' && !ps->failed) {
			size_t n = u8len(s[i]);
			for (size_t j = 1; j < n; j++)
				if (s[i + j] == '\0')
					n = j;
			place(ps, (const char *)s + i, n, gx, gy, size);
			gx += k < ndx ? dx[k] : advance(n, size);
			gy += k < ndy ? dy[k] : 0;
			i += n;
			k++;
		}
		x = gx - bx;
		y = gy - by;
		xmlFree(content);
	}
}

/* TextObjects in document order, also inside PageBlocks and Layers. */
static void
walk_page(struct page_state *ps, const xmlNode *n, unsigned depth, double *dx,
    double *dy)
{
	for (const xmlNode *c = n->children; c != NULL && !ps->failed; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (depth + 1 > ps->lim->max_depth) {
			snprintf(ps->err, sizeof(ps->err), "XML nested deeper than %u "
			    "levels", ps->lim->max_depth);
			ps->failed = true;
			return;
		}
		if (is_ofd(c, "TextObject"))
			text_object(ps, c, dx, dy);
		else if (is_ofd(c, "Content") || is_ofd(c, "Layer") ||
		    is_ofd(c, "PageBlock") || is_ofd(c, "CompositeObject"))
			walk_page(ps, c, depth + 1, dx, dy);
	}
}

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

/*
 * Paragraphs from the visual lines placed since out's byte start, as
 * extract_pdf rejoins them: a line that runs to the right edge of the
 * text block, starts at its left edge (or a two-character indent) and
 * does not end a sentence (and holds a dozen characters or more: a short
 * block's widest line is no wrap) continues on the next line when that one is
 * the next baseline down, not indented and set in the same size. Any
 * other break is a paragraph's end (a heading, a short line, an indented
 * first line): a blank line (extract.h), as the text seeds have it.
 */
static void
reflow(struct page_state *ps, size_t start)
{
	double left = 1e18, right = -1e18;
	struct sbuf b = SBUF_INIT;
	const char *s = ps->out->data;

	if (ps->nlines == 0 || ps->failed)
		return;
	for (size_t k = 0; k < ps->nlines; k++) {
		const struct oline *l = &ps->lines[k];

		if (l->glyphs > 2) {
			if (l->x1 < left)
				left = l->x1;
			if (l->x2 > right)
				right = l->x2;
		}
	}
	sbuf_append(&b, s + start, ps->lines[0].from - start);
	for (size_t k = 0; k < ps->nlines; k++) {
		const struct oline *a = &ps->lines[k];
		const struct oline *n = k + 1 < ps->nlines ? &ps->lines[k + 1] : NULL;
		double dy;

		sbuf_append(&b, s + a->from, a->to - a->from);
		if (n == NULL)
			break;
		dy = n->y - a->y;
		if (a->to > a->from && n->to > n->from &&
		    a->x2 >= right - 2.5 * a->size && a->x1 <= left + 2.5 * a->size &&
		    a->x2 - a->x1 >= 12 * a->size && !a->columns &&
		    n->x1 <= left + 0.5 * a->size && n->size > 0.8 * a->size &&
		    n->size < 1.25 * a->size && dy > 0 && dy < 2.5 * a->size &&
		    !ends_sentence(s, a->from, a->to)) {
			if (ascii_word(s[a->to - 1]) && ascii_word(s[n->from]))
				sbuf_putc(&b, ' ');
		} else {
			sbuf_puts(&b, "\n\n");
		}
	}
	/* what followed the last line (its '\n'), unchanged */
	{
		const struct oline *z = &ps->lines[ps->nlines - 1];
		sbuf_append(&b, s + z->to, ps->out->len - z->to);
	}
	ps->out->len = start;
	put(ps, b.data, b.len);
	sbuf_free(&b);
}

/* The text of one page or template (its root element) into out; -1 with err. */
static int
read_page(const xmlNode *root, const char *name, const struct extract_limits *lim,
    struct sbuf *out, double *dx, double *dy, char *err, size_t errsz)
{
	struct page_state ps;

	size_t start = out->len;

	memset(&ps, 0, sizeof(ps));
	ps.lim = lim;
	ps.out = out;
	walk_page(&ps, root, 1, dx, dy);
	reflow(&ps, start);
	free(ps.lines);
	if (!ps.failed && out->len > 0)
		put(&ps, "\n", 1);
	if (ps.failed) {
		snprintf(err, errsz, "%s: %s", name, ps.err);
		return -1;
	}
	return 0;
}

/* A template page of CommonData, read at most once. */
struct tpl {
	const char *id, *loc, *zorder;
	bool done;
};

/*
 * The templates the page (root) names that were not read yet, into bg
 * (ZOrder Background, the default: under the page's own content) or fg
 * (Foreground). -1 with err.
 */
static int
read_templates(struct extract_zip *z, const char *docname, const xmlNode *root,
    struct tpl *tpls, size_t ntpl, const struct extract_limits *lim,
    struct sbuf *bg, struct sbuf *fg, double *dx, double *dy, char *err, size_t errsz)
{
	for (const xmlNode *c = root->children; c != NULL; c = c->next) {
		const char *id, *zorder;
		struct tpl *t = NULL;
		char *name;
		xmlDocPtr d;
		int rc;

		if (!is_ofd(c, "Template") || (id = attr(c, "TemplateID")) == NULL)
			continue;
		for (size_t i = 0; i < ntpl && t == NULL; i++)
			if (strcmp(tpls[i].id, id) == 0)
				t = &tpls[i];
		if (t == NULL || t->done)
			continue;
		t->done = true;
		if ((zorder = attr(c, "ZOrder")) == NULL)
			zorder = t->zorder;
		name = locate(z, docname, t->loc);
		if (!extract_zip_has(z, name)) {
			/* a page printed without its template still prints */
			free(name);
			continue;
		}
		if ((d = extract_zip_xml(z, name, err, errsz)) == NULL) {
			free(name);
			return -1;
		}
		rc = read_page(xmlDocGetRootElement(d), name, lim,
		    zorder != NULL && strcmp(zorder, "Foreground") == 0 ? fg : bg,
		    dx, dy, err, errsz);
		xmlFreeDoc(d);
		free(name);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* Appends s[0..n) to out within the text limit; -1 with err. */
static int
emit(struct sbuf *out, const char *s, size_t n, const struct extract_limits *lim,
    char *err, size_t errsz)
{
	if (n > lim->max_text || out->len > lim->max_text - n) {
		snprintf(err, errsz, "more than %zu bytes of text", lim->max_text);
		return -1;
	}
	sbuf_append(out, s, n);
	return 0;
}

int
extract_ofd(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz)
{
	struct extract_zip *z = NULL;
	xmlDocPtr ofd = NULL, doc = NULL;
	struct sbuf out = SBUF_INIT, pg = SBUF_INIT, bg = SBUF_INIT, fg = SBUF_INIT;
	char *root = NULL, *docname = NULL;
	const xmlNode *pages, *common;
	struct tpl *tpls = NULL;
	size_t ntpl = 0;
	double *dx = NULL, *dy = NULL;
	unsigned npages = 0;
	int rc = -1;

	*text = NULL;
	*textlen = 0;
	if (extract_zip_open(data, len, lim, &z, err, errsz) != 0)
		return -1;
	if (!extract_zip_has(z, "OFD.xml")) {
		snprintf(err, errsz, "no OFD.xml: not an OFD document");
		goto done;
	}
	if ((ofd = extract_zip_xml(z, "OFD.xml", err, errsz)) == NULL)
		goto done;
	root = content_of(child(child(xmlDocGetRootElement(ofd), "DocBody"), "DocRoot"));
	if (!is_ofd(xmlDocGetRootElement(ofd), "OFD") || root == NULL) {
		snprintf(err, errsz, "OFD.xml names no document (OFD/DocBody/DocRoot)");
		goto done;
	}
	docname = locate(z, "OFD.xml", root);
	if (!extract_zip_has(z, docname)) {
		snprintf(err, errsz, "OFD.xml names %s, which the package lacks",
		    docname);
		goto done;
	}
	if ((doc = extract_zip_xml(z, docname, err, errsz)) == NULL)
		goto done;
	if ((pages = child(xmlDocGetRootElement(doc), "Pages")) == NULL) {
		snprintf(err, errsz, "%s has no Pages", docname);
		goto done;
	}
	if ((common = child(xmlDocGetRootElement(doc), "CommonData")) != NULL)
		for (const xmlNode *c = common->children; c != NULL; c = c->next) {
			const char *id = attr(c, "ID"), *loc = attr(c, "BaseLoc");

			if (!is_ofd(c, "TemplatePage") || id == NULL || loc == NULL)
				continue;
			if (ntpl % 8 == 0)
				tpls = xreallocarray(tpls, ntpl + 8, sizeof(*tpls));
			tpls[ntpl].id = id;
			tpls[ntpl].loc = loc;
			tpls[ntpl].zorder = attr(c, "ZOrder");
			tpls[ntpl++].done = false;
		}
	dx = xreallocarray(NULL, MAX_DELTAS, sizeof(*dx));
	dy = xreallocarray(NULL, MAX_DELTAS, sizeof(*dy));
	for (const xmlNode *p = pages->children; p != NULL; p = p->next) {
		const char *loc;
		char *name;
		xmlDocPtr page;
		int prc;

		if (!is_ofd(p, "Page") || (loc = attr(p, "BaseLoc")) == NULL)
			continue;
		if (++npages > lim->max_pages) {
			snprintf(err, errsz, "more than %u pages", lim->max_pages);
			goto done;
		}
		name = locate(z, docname, loc);
		page = extract_zip_xml(z, name, err, errsz);
		if (page == NULL) {
			free(name);
			goto done;
		}
		sbuf_reset(&pg);
		sbuf_reset(&bg);
		sbuf_reset(&fg);
		prc = read_page(xmlDocGetRootElement(page), name, lim, &pg, dx, dy,
		    err, errsz);
		if (prc == 0)
			prc = read_templates(z, docname, xmlDocGetRootElement(page), tpls,
			    ntpl, lim, &bg, &fg, dx, dy, err, errsz);
		xmlFreeDoc(page);
		free(name);
		if (prc != 0)
			goto done;
		if (out.len > 0 && emit(&out, "\f\n", 2, lim, err, errsz) != 0)
			goto done;
		/* the background first, line by line: what repeats the page's top is left out */
		for (const char *q = bg.data, *e = bg.data + bg.len; q != NULL && q < e;) {
			const char *nl = memchr(q, '\n', (size_t)(e - q));
			size_t ln = nl ? (size_t)(nl - q) : (size_t)(e - q);

			if (extract_has_text(q, ln) && !extract_line_echoed(&pg, q, ln) &&
			    (emit(&out, q, ln, lim, err, errsz) != 0 ||
			    emit(&out, "\n", 1, lim, err, errsz) != 0))
				goto done;
			q += ln + 1;
		}
		if (emit(&out, pg.data, pg.len, lim, err, errsz) != 0 ||
		    emit(&out, fg.data, fg.len, lim, err, errsz) != 0)
			goto done;
	}
	if (npages == 0) {
		snprintf(err, errsz, "%s lists no pages", docname);
		goto done;
	}
	if (!extract_has_text(out.data, out.len)) {
		snprintf(err, errsz, "the document has no text (is it a scanned "
		    "image?): nothing to send");
		goto done;
	}
	*textlen = out.len;
	*text = sbuf_steal(&out);
	rc = 0;
done:
	free(tpls);
	sbuf_free(&pg);
	sbuf_free(&bg);
	sbuf_free(&fg);
	free(dx);
	free(dy);
	free(root);
	free(docname);
	xmlFreeDoc(doc);
	xmlFreeDoc(ofd);
	sbuf_free(&out);
	extract_zip_close(z);
	return rc;
}
