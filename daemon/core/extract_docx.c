/*
 * extract_docx: the text of an Office Open XML word-processing document
 * (.docx, also as written by WPS): its headers, its main part
 * (word/document.xml or wherever the package relations say), then its
 * footers, as they print on a page.
 */
#include "extract.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "extract_zip.h"
#include "sbuf.h"
#include "xalloc.h"

/* Transitional and strict OOXML name the same elements in two namespaces. */
static const char *const W[] = {
	"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
	"http://purl.oclc.org/ooxml/wordprocessingml/main",
	NULL
};
static const char *const MC[] = {
	"http://schemas.openxmlformats.org/markup-compatibility/2006",
	NULL
};
static const char *const REL[] = {
	"http://schemas.openxmlformats.org/package/2006/relationships",
	NULL
};
static const char *const CT[] = {
	"http://schemas.openxmlformats.org/package/2006/content-types",
	NULL
};

/* Open complex fields kept track of; deeper nesting is only counted. */
#define MAX_FIELDS	64

struct walk {
	const struct extract_limits *lim;
	size_t produced;	/* text bytes appended, all buffers */
	bool failed;
	char err[256];
	/* complex fields (w:fldChar): a result is shown, a code is not */
	unsigned char fld[MAX_FIELDS];	/* 1 while in the code part */
	unsigned nfld;		/* open fields (may exceed MAX_FIELDS) */
	unsigned in_code;	/* how many open fields are in their code part */
	/* where the last text box ended: its paragraph adds no empty line */
	unsigned in_cell;	/* table cells being walked: lines, not paragraphs */
};

static void walk_children(struct walk *, const xmlNode *, struct sbuf *, unsigned);

static void
fail(struct walk *w, const char *msg)
{
	if (!w->failed)
		snprintf(w->err, sizeof(w->err), "%s", msg);
	w->failed = true;
}

static void
put(struct walk *w, struct sbuf *out, const char *s, size_t n)
{
	if (w->failed)
		return;
	if (n > w->lim->max_text || w->produced > w->lim->max_text - n) {
		char msg[128];
		snprintf(msg, sizeof(msg), "more than %zu bytes of text",
		    w->lim->max_text);
		fail(w, msg);
		return;
	}
	w->produced += n;
	sbuf_append(out, s, n);
}

/* Ends the line being written, if one is. */
static void
close_line(struct walk *w, struct sbuf *out)
{
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		put(w, out, "\n", 1);
}

/*
 * Ends a paragraph: a blank line after it (extract.h), as the text seeds
 * separate paragraphs; the parser and renderer read consecutive lines as
 * one paragraph. Once only: an empty w:p adds nothing more.
 */
static void
close_para(struct walk *w, struct sbuf *out)
{
	close_line(w, out);
	if (out->len > 0 && (out->len < 2 || out->data[out->len - 2] != '\n'))
		put(w, out, "\n", 1);
}

/* Text of a w:t: a control character in it would make a line or page break. */
static void
put_text(struct walk *w, struct sbuf *out, const xmlNode *t)
{
	for (const xmlNode *c = t->children; c != NULL; c = c->next) {
		const unsigned char *s;
		size_t start = 0, i;

		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
			continue;
		if ((s = c->content) == NULL)
			continue;
		for (i = 0; s[i] != '\0'; i++) {
			if (s[i] >= 0x20 || s[i] == '\t')
				continue;
			put(w, out, (const char *)s + start, i - start);
			put(w, out, " ", 1);
			start = i + 1;
		}
		put(w, out, (const char *)s + start, i - start);
	}
}

static const char *
attr(const xmlNode *n, const char *local)
{
	/* w: attributes are namespaced; OPC ones are not: try both */
	for (const xmlAttr *a = n->properties; a != NULL; a = a->next)
		if (strcmp((const char *)a->name, local) == 0 && a->children != NULL &&
		    a->children->type == XML_TEXT_NODE)
			return (const char *)a->children->content;
	return NULL;
}

static void
field_char(struct walk *w, const xmlNode *n)
{
	const char *type = attr(n, "fldCharType");

	if (type == NULL)
		return;
	if (strcmp(type, "begin") == 0) {
		if (w->nfld < MAX_FIELDS)
			w->fld[w->nfld] = 1;
		w->nfld++;
		w->in_code++;
	} else if (strcmp(type, "separate") == 0 && w->nfld > 0) {
		unsigned top = w->nfld - 1;
		/* beyond MAX_FIELDS the state is unknown: treat as result */
		if (top < MAX_FIELDS && w->fld[top]) {
			w->fld[top] = 0;
			w->in_code--;
		}
	} else if (strcmp(type, "end") == 0 && w->nfld > 0) {
		unsigned top = --w->nfld;
		if (top < MAX_FIELDS && w->fld[top])
			w->in_code--;
		else if (top >= MAX_FIELDS && w->in_code > 0)
			w->in_code--;
	}
}

/*
 * A table row by row: its cells joined by tabs on one line; a row with a
 * single cell of text (the usual 版记 table: one column, a tier a row)
 * keeps that cell's own lines.
 */
static void
walk_row(struct walk *w, const xmlNode *tr, struct sbuf *out, unsigned depth)
{
	struct sbuf *cells = NULL;
	size_t n = 0, cap = 0, full = 0;

	for (const xmlNode *c = tr->children; c != NULL && !w->failed; c = c->next) {
		if (!extract_zip_is(c, "tc", W))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			cells = xreallocarray(cells, cap, sizeof(*cells));
		}
		memset(&cells[n], 0, sizeof(cells[n]));
		w->in_cell++;
		walk_children(w, c, &cells[n], depth + 1);
		w->in_cell--;
		while (cells[n].len > 0 && (cells[n].data[cells[n].len - 1] == '\n' ||
		    cells[n].data[cells[n].len - 1] == ' '))
			cells[n].data[--cells[n].len] = '\0';
		if (cells[n].len > 0)
			full++;
		n++;
	}
	if (!w->failed && full > 0) {
		close_line(w, out);
		if (full == 1) {
			for (size_t i = 0; i < n; i++)
				if (cells[i].len > 0)
					put(w, out, cells[i].data, cells[i].len);
		} else {
			for (size_t i = 0, first = 1; i < n; i++) {
				if (cells[i].len == 0)
					continue;
				if (!first)
					put(w, out, "\t", 1);
				first = 0;
				for (char *p = cells[i].data; *p != '\0'; p++)
					if (*p == '\n')
						*p = ' ';
				put(w, out, cells[i].data, cells[i].len);
			}
		}
		put(w, out, "\n", 1);
	}
	for (size_t i = 0; i < n; i++)
		sbuf_free(&cells[i]);
	free(cells);
}

/* Rows, also those wrapped in content controls or revision marks. */
static void
walk_table(struct walk *w, const xmlNode *tbl, struct sbuf *out, unsigned depth)
{
	if (depth > w->lim->max_depth) {
		fail(w, "XML nested too deep");
		return;
	}
	for (const xmlNode *c = tbl->children; c != NULL && !w->failed; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (extract_zip_is(c, "tr", W))
			walk_row(w, c, out, depth + 1);
		else if (extract_zip_is(c, "sdt", W) || extract_zip_is(c, "sdtContent", W) ||
		    extract_zip_is(c, "customXml", W) || extract_zip_is(c, "ins", W) ||
		    extract_zip_is(c, "moveTo", W))
			walk_table(w, c, out, depth + 1);
	}
}

/* Elements whose content is never shown text. */
static bool
skipped(const xmlNode *n)
{
	static const char *const names[] = {
		"del", "moveFrom", "delText", "instrText", "pPr", "rPr", "sectPr",
		"tblPr", "tblGrid", "trPr", "tcPr", "tblPrEx", "sdtPr", "sdtEndPr",
		"footnoteReference", "endnoteReference", "annotationRef",
		"commentReference", "sym", "fldData", "background",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (extract_zip_is(n, names[i], W))
			return true;
	return false;
}

static void
walk_node(struct walk *w, const xmlNode *n, struct sbuf *out, unsigned depth)
{
	if (n->type != XML_ELEMENT_NODE || w->failed)
		return;
	if (depth > w->lim->max_depth) {
		char msg[128];
		snprintf(msg, sizeof(msg), "XML nested deeper than %u levels",
		    w->lim->max_depth);
		fail(w, msg);
		return;
	}
	if (skipped(n))
		return;
	if (extract_zip_is(n, "t", W)) {
		if (w->in_code == 0)
			put_text(w, out, n);
	} else if (extract_zip_is(n, "tab", W) || extract_zip_is(n, "ptab", W)) {
		if (w->in_code == 0)
			put(w, out, "\t", 1);
	} else if (extract_zip_is(n, "br", W) || extract_zip_is(n, "cr", W)) {
		if (w->in_code == 0)
			put(w, out, "\n", 1);
	} else if (extract_zip_is(n, "noBreakHyphen", W)) {
		if (w->in_code == 0)
			put(w, out, "-", 1);
	} else if (extract_zip_is(n, "fldChar", W)) {
		field_char(w, n);
	} else if (extract_zip_is(n, "p", W)) {
		walk_children(w, n, out, depth);
		/* in a cell, a paragraph is a line of the row as before */
		if (w->in_cell > 0)
			close_line(w, out);
		else
			close_para(w, out);
	} else if (extract_zip_is(n, "tbl", W)) {
		if (w->in_cell > 0)
			close_line(w, out);
		else
			close_para(w, out);
		walk_table(w, n, out, depth + 1);
		if (w->in_cell == 0)
			close_para(w, out);
	} else if (extract_zip_is(n, "txbxContent", W)) {
		/* a text box inside a paragraph: its own lines (paragraphs) */
		unsigned cell = w->in_cell;

		close_line(w, out);
		w->in_cell = 0;
		walk_children(w, n, out, depth);
		w->in_cell = cell;
		close_line(w, out);
	} else if (extract_zip_is(n, "AlternateContent", MC)) {
		/* the same content twice (DrawingML and VML): one branch only */
		const xmlNode *pick = NULL;
		for (const xmlNode *c = n->children; c != NULL && pick == NULL; c = c->next)
			if (extract_zip_is(c, "Choice", MC))
				pick = c;
		for (const xmlNode *c = n->children; c != NULL && pick == NULL; c = c->next)
			if (extract_zip_is(c, "Fallback", MC))
				pick = c;
		if (pick != NULL)
			walk_children(w, pick, out, depth + 1);
	} else {
		walk_children(w, n, out, depth);
	}
}

static void
walk_children(struct walk *w, const xmlNode *n, struct sbuf *out, unsigned depth)
{
	for (const xmlNode *c = n->children; c != NULL && !w->failed; c = c->next)
		walk_node(w, c, out, depth + 1);
}

/* ---- the package: which part is the document, which its headers ------- */

/*
 * The targets of the relations in rels_name whose Type ends with
 * "/" + type (and are inside the package), resolved against source.
 */
static size_t
relations(struct extract_zip *z, const char *rels_name, const char *source,
    const char *type, char ***out)
{
	char err[256];
	xmlDocPtr doc;
	char **v = NULL;
	size_t n = 0, tl = strlen(type);

	*out = NULL;
	if (!extract_zip_has(z, rels_name) ||
	    (doc = extract_zip_xml(z, rels_name, err, sizeof(err))) == NULL)
		return 0;
	for (const xmlNode *c = xmlDocGetRootElement(doc)->children; c != NULL;
	    c = c->next) {
		const char *t, *target, *mode;
		size_t l;

		if (!extract_zip_is(c, "Relationship", REL))
			continue;
		t = attr(c, "Type");
		target = attr(c, "Target");
		mode = attr(c, "TargetMode");
		if (t == NULL || target == NULL ||
		    (mode != NULL && strcmp(mode, "External") == 0))
			continue;
		l = strlen(t);
		if (l <= tl || t[l - tl - 1] != '/' || strcmp(t + l - tl, type) != 0)
			continue;
		if (n % 8 == 0)
			v = xreallocarray(v, n + 8, sizeof(*v));
		v[n++] = extract_zip_resolve(source, target);
	}
	xmlFreeDoc(doc);
	*out = v;
	return n;
}

static void
free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The main part: by the package relation, the content types, or the usual path. */
static char *
main_part(struct extract_zip *z)
{
	char **v, err[256];
	size_t n;
	char *found = NULL;
	xmlDocPtr doc;

	n = relations(z, "_rels/.rels", "", "officeDocument", &v);
	for (size_t i = 0; i < n && found == NULL; i++)
		if (extract_zip_has(z, v[i]))
			found = xstrdup(v[i]);
	free_names(v, n);
	if (found != NULL)
		return found;

	if (extract_zip_has(z, "[Content_Types].xml") &&
	    (doc = extract_zip_xml(z, "[Content_Types].xml", err, sizeof(err))) != NULL) {
		for (const xmlNode *c = xmlDocGetRootElement(doc)->children;
		    c != NULL && found == NULL; c = c->next) {
			const char *ct, *part;
			if (!extract_zip_is(c, "Override", CT) ||
			    (ct = attr(c, "ContentType")) == NULL ||
			    (part = attr(c, "PartName")) == NULL)
				continue;
			if ((strstr(ct, "wordprocessingml.document.main+xml") ||
			    strstr(ct, "wordprocessingml.template.main+xml") ||
			    strstr(ct, "ms-word.document.macroEnabled.main+xml") ||
			    strstr(ct, "ms-word.template.macroEnabledTemplate.main+xml")) &&
			    extract_zip_has(z, part))
				found = extract_zip_resolve("", part);
		}
		xmlFreeDoc(doc);
	}
	if (found == NULL && extract_zip_has(z, "word/document.xml"))
		found = xstrdup("word/document.xml");
	return found;
}

/* "word/document.xml" → "word/_rels/document.xml.rels" */
static char *
rels_of(const char *part)
{
	const char *slash = strrchr(part, '/');
	struct sbuf b = SBUF_INIT;

	if (slash != NULL)
		sbuf_append(&b, part, (size_t)(slash - part) + 1);
	sbuf_printf(&b, "_rels/%s.rels", slash ? slash + 1 : part);
	return sbuf_steal(&b);
}

/* Walks the part name into out; -1 with err. */
static int
walk_part(struct walk *w, struct extract_zip *z, const char *name, struct sbuf *out,
    char *err, size_t errsz)
{
	xmlDocPtr doc;

	if ((doc = extract_zip_xml(z, name, err, errsz)) == NULL)
		return -1;
	w->nfld = w->in_code = 0;
	walk_node(w, xmlDocGetRootElement(doc), out, 1);
	xmlFreeDoc(doc);
	if (w->failed) {
		snprintf(err, errsz, "%s: %s", name, w->err);
		return -1;
	}
	return 0;
}

int
extract_docx(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz)
{
	struct extract_zip *z = NULL;
	struct walk w;
	struct sbuf out = SBUF_INIT, part = SBUF_INIT, top = SBUF_INIT;
	char *doc = NULL, *rels = NULL, **hf[2] = { NULL, NULL };
	size_t nhf[2] = { 0, 0 };
	const char *kinds[2] = { "header", "footer" };
	char **seen = NULL;
	size_t nseen = 0;
	int rc = -1;

	*text = NULL;
	*textlen = 0;
	memset(&w, 0, sizeof(w));
	w.lim = lim;
	if (extract_zip_open(data, len, lim, &z, err, errsz) != 0)
		return -1;
	if ((doc = main_part(z)) == NULL) {
		snprintf(err, errsz, "no word/document.xml: not a Word document "
		    "(save it as .docx)");
		goto done;
	}
	if (walk_part(&w, z, doc, &out, err, errsz) != 0)
		goto done;

	/*
	 * Headers and footers once each (a header repeated on every page is
	 * one part; two parts with the same text, first page and default,
	 * once). Headers go above the body, where they print: offices put
	 * the 密级 in the page header, and the parser reads marks only at
	 * the top. Footers go after it: the 版记 is sometimes a footer.
	 */
	rels = rels_of(doc);
	for (int k = 0; k < 2; k++) {
		nhf[k] = relations(z, rels, doc, kinds[k], &hf[k]);
		for (size_t i = 0; i < nhf[k]; i++) {
			bool dup = false;

			if (!extract_zip_has(z, hf[k][i]))
				continue;
			sbuf_reset(&part);
			if (walk_part(&w, z, hf[k][i], &part, err, errsz) != 0)
				goto done;
			while (part.len > 0 && part.data[part.len - 1] == '\n')
				part.data[--part.len] = '\0';
			if (!extract_has_text(part.data, part.len))
				continue;
			for (size_t j = 0; j < nseen && !dup; j++)
				dup = strcmp(seen[j], part.data) == 0;
			if (dup)
				continue;
			if (nseen % 8 == 0)
				seen = xreallocarray(seen, nseen + 8, sizeof(*seen));
			seen[nseen++] = xstrdup(part.data);
			if (k == 0) {
				/* line by line: what only repeats the masthead is left out */
				for (const char *p = part.data; *p != '\0';) {
					const char *nl = strchr(p, '\n');
					size_t ln = nl ? (size_t)(nl - p) : strlen(p);

					if (extract_has_text(p, ln) && !extract_line_echoed(&out, p, ln)) {
						put(&w, &top, p, ln);
						put(&w, &top, "\n", 1);
					}
					p += ln + (nl != NULL);
				}
			} else {
				close_para(&w, &out);
				put(&w, &out, part.data, part.len);
				put(&w, &out, "\n", 1);
			}
			if (w.failed) {
				snprintf(err, errsz, "%s: %s", hf[k][i], w.err);
				goto done;
			}
		}
	}
	if (top.len > 0) {
		put(&w, &top, "\n", 1);	/* a paragraph of its own */
		/* top's bytes were counted already: no second put() */
		sbuf_append(&top, out.data, out.len);
		sbuf_free(&out);
		out = top;
		top = (struct sbuf)SBUF_INIT;
	}

	/* one '\n' at the end: the last paragraph's blank line separates nothing */
	while (out.len >= 2 && out.data[out.len - 1] == '\n' && out.data[out.len - 2] == '\n')
		out.data[--out.len] = '\0';
	if (!extract_has_text(out.data, out.len)) {
		snprintf(err, errsz, "the document has no text (is it a scanned "
		    "image?): nothing to send");
		goto done;
	}
	*textlen = out.len;
	*text = sbuf_steal(&out);
	rc = 0;
done:
	for (int k = 0; k < 2; k++)
		free_names(hf[k], nhf[k]);
	free_names(seen, nseen);
	free(rels);
	free(doc);
	sbuf_free(&part);
	sbuf_free(&top);
	sbuf_free(&out);
	extract_zip_close(z);
	return rc;
}
