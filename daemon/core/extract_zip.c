#include "extract_zip.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <zip.h>

#include "sbuf.h"
#include "xalloc.h"

/* An entry this small cannot be a bomb whatever its ratio. */
#define RATIO_FLOOR	(64 * 1024)

struct extract_zip {
	zip_t *za;
	const struct extract_limits *lim;
	size_t unzipped;	/* bytes inflated so far, all entries */
};

int
extract_zip_open(const unsigned char *data, size_t len,
    const struct extract_limits *lim, struct extract_zip **out, char *err,
    size_t errsz)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;
	zip_int64_t n;
	struct extract_zip *z;

	*out = NULL;
	if (len > lim->max_input) {
		snprintf(err, errsz, "document of %zu bytes: more than the %zu allowed",
		    len, lim->max_input);
		return -1;
	}
	zip_error_init(&ze);
	/* libzip wants a non-NULL buffer even for 0 bytes */
	src = zip_source_buffer_create(len ? data : (const void *)"", len, 0, &ze);
	if (src == NULL) {
		snprintf(err, errsz, "zip: %s", zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return -1;
	}
	za = zip_open_from_source(src, ZIP_RDONLY, &ze);
	if (za == NULL) {
		snprintf(err, errsz, "not a readable zip archive (truncated or "
		    "damaged?): %s", zip_error_strerror(&ze));
		zip_source_free(src);
		zip_error_fini(&ze);
		return -1;
	}
	zip_error_fini(&ze);
	n = zip_get_num_entries(za, 0);
	if (n < 0 || (zip_uint64_t)n > lim->max_entries) {
		snprintf(err, errsz, "zip archive with %lld entries: more than the "
		    "%u allowed", (long long)n, lim->max_entries);
		zip_discard(za);
		return -1;
	}
	z = xcalloc(1, sizeof(*z));
	z->za = za;
	z->lim = lim;
	*out = z;
	return 0;
}

void
extract_zip_close(struct extract_zip *z)
{
	if (z == NULL)
		return;
	zip_discard(z->za);
	free(z);
}

/* OPC part names are compared without ASCII case, and without a leading '/'. */
static zip_int64_t
locate(struct extract_zip *z, const char *name)
{
	while (*name == '/')
		name++;
	return zip_name_locate(z->za, name, ZIP_FL_NOCASE);
}

bool
extract_zip_has(struct extract_zip *z, const char *name)
{
	return locate(z, name) >= 0;
}

int
extract_zip_read(struct extract_zip *z, const char *name, char **buf,
    size_t *len, char *err, size_t errsz)
{
	const struct extract_limits *lim = z->lim;
	zip_stat_t st;
	zip_file_t *f = NULL;
	zip_int64_t idx, got;
	size_t size, total = 0;
	char *b = NULL;

	*buf = NULL;
	*len = 0;
	if ((idx = locate(z, name)) < 0) {
		snprintf(err, errsz, "%s: no such entry", name);
		return -1;
	}
	zip_stat_init(&st);
	if (zip_stat_index(z->za, (zip_uint64_t)idx, 0, &st) != 0 ||
	    (st.valid & ZIP_STAT_SIZE) == 0 || (st.valid & ZIP_STAT_COMP_SIZE) == 0) {
		snprintf(err, errsz, "%s: cannot read its zip header: %s", name,
		    zip_strerror(z->za));
		return -1;
	}
	if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) &&
	    st.encryption_method != ZIP_EM_NONE) {
		snprintf(err, errsz, "%s is encrypted: save the document without a "
		    "password", name);
		return -1;
	}
	if (st.size > lim->max_entry) {
		snprintf(err, errsz, "%s inflates to %llu bytes: more than the %zu "
		    "allowed for one part", name, (unsigned long long)st.size,
		    lim->max_entry);
		return -1;
	}
	size = (size_t)st.size;
	/* size > ratio × compressed, without the product (it may overflow) */
	if (size > RATIO_FLOOR && lim->max_ratio > 0 &&
	    st.size / lim->max_ratio > st.comp_size) {
		snprintf(err, errsz, "%s inflates %llu bytes to %zu (more than %u "
		    "times): refused as a zip bomb", name,
		    (unsigned long long)st.comp_size, size, lim->max_ratio);
		return -1;
	}
	if (size > lim->max_unzipped || z->unzipped > lim->max_unzipped - size) {
		snprintf(err, errsz, "%s: the parts read inflate to more than the %zu "
		    "bytes allowed", name, lim->max_unzipped);
		return -1;
	}
	if ((f = zip_fopen_index(z->za, (zip_uint64_t)idx, 0)) == NULL) {
		snprintf(err, errsz, "%s: cannot open: %s", name, zip_strerror(z->za));
		return -1;
	}
	/*
	 * The header's size is what was checked; one byte more is asked for so
	 * that data longer than it says is noticed instead of trusted.
	 */
	b = xmalloc(size + 2);
	while (total <= size) {
		got = zip_fread(f, b + total, size + 1 - total);
		if (got < 0) {
			snprintf(err, errsz, "%s: damaged data: %s", name,
			    zip_error_strerror(zip_file_get_error(f)));
			goto fail;
		}
		if (got == 0)
			break;
		total += (size_t)got;
	}
	if (total != size) {
		snprintf(err, errsz, "%s: %zu bytes where its header says %zu "
		    "(damaged archive)", name, total, size);
		goto fail;
	}
	if (zip_fclose(f) != 0) {
		f = NULL;
		snprintf(err, errsz, "%s: damaged data (checksum)", name);
		goto fail;
	}
	z->unzipped += size;
	b[size] = '\0';
	*buf = b;
	*len = size;
	return 0;
fail:
	if (f != NULL)
		zip_fclose(f);
	free(b);
	return -1;
}

/* ---- XML --------------------------------------------------------------- */

/*
 * What a SAX callback found that must stop the parse. The parser context's
 * _private points here.
 */
struct xml_guard {
	char why[160];
};

static void
refuse(void *ctx, const char *what, const xmlChar *name)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct xml_guard *g = ctxt->_private;

	if (g->why[0] == '\0')
		snprintf(g->why, sizeof(g->why), "%s%s%s%s", what,
		    name ? " \"" : "", name ? (const char *)name : "", name ? "\"" : "");
	xmlStopParser(ctxt);
}

/*
 * Entities are refused where they are declared, so that none is ever
 * expanded (billion laughs) or fetched (SYSTEM "file:///etc/passwd"): an
 * Office or OFD part never declares one.
 */
static void
on_entity(void *ctx, const xmlChar *name, int type, const xmlChar *publicId,
    const xmlChar *systemId, xmlChar *content)
{
	(void)type;
	(void)publicId;
	(void)content;
	refuse(ctx, systemId ? "an external entity" : "an entity", name);
}

static void
on_unparsed(void *ctx, const xmlChar *name, const xmlChar *publicId,
    const xmlChar *systemId, const xmlChar *notationName)
{
	(void)publicId;
	(void)systemId;
	(void)notationName;
	refuse(ctx, "an unparsed entity", name);
}

static void
on_subset(void *ctx, const xmlChar *name, const xmlChar *ExternalID,
    const xmlChar *SystemID)
{
	(void)name;
	if (ExternalID != NULL || SystemID != NULL)
		refuse(ctx, "an external document type", SystemID ? SystemID : ExternalID);
	else
		xmlSAX2InternalSubset(ctx, name, ExternalID, SystemID);
}

xmlDocPtr
extract_zip_parse_xml(const char *buf, size_t len, const char *name, char *err,
    size_t errsz)
{
	struct xml_guard g;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	if (len > INT_MAX) {
		snprintf(err, errsz, "%s: too large to parse", name);
		return NULL;
	}
	xmlInitParser();
	if ((ctxt = xmlNewParserCtxt()) == NULL)
		xalloc_die();
	memset(&g, 0, sizeof(g));
	ctxt->_private = &g;
	ctxt->sax->entityDecl = on_entity;
	ctxt->sax->unparsedEntityDecl = on_unparsed;
	ctxt->sax->internalSubset = on_subset;
	/*
	 * No XML_PARSE_NOENT (substitution), DTDLOAD, DTDATTR or HUGE; blanks
	 * are kept because a run of spaces in w:t or TextCode is text.
	 */
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, name, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA);
	if (g.why[0] != '\0') {
		snprintf(err, errsz, "%s declares %s: refused (documents must not "
		    "carry entities)", name, g.why);
		xmlFreeDoc(doc);
		doc = NULL;
	} else if (doc == NULL || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[160];

		snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message :
		    "not well-formed");
		msg[strcspn(msg, "\n")] = '\0';
		/* libxml2's own depth bound: its advice (XML_PARSE_HUGE) is not the office's */
		if (strstr(msg, "Excessive depth") != NULL)
			snprintf(err, errsz, "%s: elements nested too deep (libxml2 stops at "
			    "256 levels): refused", name);
		else
			snprintf(err, errsz, "%s: bad XML at line %d: %s", name,
			    e ? e->line : 0, msg);
		xmlFreeDoc(doc);
		doc = NULL;
	} else if (xmlDocGetRootElement(doc) == NULL) {
		snprintf(err, errsz, "%s: no root element", name);
		xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

xmlDocPtr
extract_zip_xml(struct extract_zip *z, const char *name, char *err, size_t errsz)
{
	char *buf;
	size_t len;
	xmlDocPtr doc;

	if (extract_zip_read(z, name, &buf, &len, err, errsz) != 0)
		return NULL;
	doc = extract_zip_parse_xml(buf, len, name, err, errsz);
	free(buf);
	return doc;
}

char *
extract_zip_resolve(const char *base, const char *target)
{
	struct sbuf path = SBUF_INIT, out = SBUF_INIT;
	const char *p, *slash;

	if (target[0] != '/' && base != NULL && (slash = strrchr(base, '/')) != NULL)
		sbuf_append(&path, base, (size_t)(slash - base) + 1);
	sbuf_puts(&path, target);

	/* fold the segments */
	for (p = sbuf_str(&path); *p != '\0';) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || n == 0) {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *s = out.data;
			char *cut = s ? strrchr(s, '/') : NULL;
			if (cut != NULL) {
				out.len = (size_t)(cut - s);
				s[out.len] = '\0';
			} else if (s != NULL) {
				out.len = 0;
				s[0] = '\0';
			}
		} else {
			if (out.len > 0)
				sbuf_putc(&out, '/');
			sbuf_append(&out, p, n);
		}
		p += n;
		if (*p == '/')
			p++;
	}
	sbuf_free(&path);
	if (out.data == NULL)
		return xstrdup("");
	return sbuf_steal(&out);
}

bool
extract_zip_is(const xmlNode *node, const char *local, const char *const *nss)
{
	if (node == NULL || node->type != XML_ELEMENT_NODE ||
	    strcmp((const char *)node->name, local) != 0)
		return false;
	if (nss == NULL)
		return true;
	if (node->ns == NULL || node->ns->href == NULL)
		return false;
	for (; *nss != NULL; nss++)
		if (strcmp((const char *)node->ns->href, *nss) == 0)
			return true;
	return false;
}

bool
extract_has_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' &&
		    s[i] != '\f')
			return true;
	return false;
}

/* s[0..n) without spaces (ASCII, tab, U+3000) into b, for comparing lines. */
static void
squeeze(const char *s, size_t n, struct sbuf *b)
{
	sbuf_reset(b);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\f')
			continue;
		if (i + 2 < n && memcmp(s + i, "\xE3\x80\x80", 3) == 0) {
			i += 2;
			continue;
		}
		sbuf_append(b, s + i, 1);
	}
}

/* Lines of the top that a header or template line may repeat (the masthead). */
#define ECHO_LINES	16

/*
 * See extract_zip.h.
 */
bool
extract_line_echoed(const struct sbuf *body, const char *s, size_t n)
{
	static const char *const marks[] = { "密", "★", "☆", "内部" };
	struct sbuf a = SBUF_INIT, b = SBUF_INIT;
	const char *p = body->data, *end = body->data + body->len;
	bool same = false;

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (memmem(s, n, marks[i], strlen(marks[i])) != NULL)
			return false;
	squeeze(s, n, &a);
	for (unsigned seen = 0; p != NULL && p < end && seen < ECHO_LINES && !same;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ln = nl ? (size_t)(nl - p) : (size_t)(end - p);

		squeeze(p, ln, &b);
		if (b.len > 0) {
			seen++;
			same = a.len > 0 && a.len == b.len &&
			    memcmp(a.data, b.data, a.len) == 0;
		}
		p = nl ? nl + 1 : end;
	}
	sbuf_free(&a);
	sbuf_free(&b);
	return same;
}
