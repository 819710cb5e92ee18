#include "compose.h"

#include <cmark.h>
#include <glib.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/* ---- one header-safe line ----------------------------------------------- */

/* C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
static bool
is_control(int32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

/*
 * s as one line that is safe in a header: controls (CR and LF above all:
 * they would start a header of their own) and white space become single
 * spaces, none at either end. Invalid UTF-8 becomes a space too, or U+FFFD
 * with mark_invalid (a file name keeps a trace of the character it lost).
 */
static char *
one_line(const char *s, bool mark_invalid)
{
	struct sbuf out = SBUF_INIT;
	size_t n = strlen(s), i = 0;
	bool space = false;

	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);
		if (cp < 0 && mark_invalid) {
			if (space)
				sbuf_putc(&out, ' ');
			space = false;
			sbuf_puts(&out, "\xEF\xBF\xBD");
			continue;
		}
		if (cp < 0 || is_control(cp) || text_is_space(cp)) {
			space = out.len > 0;
			continue;
		}
		if (space)
			sbuf_putc(&out, ' ');
		space = false;
		sbuf_append(&out, s + at, i - at);
	}
	return sbuf_steal(&out);
}

/* ---- subject ------------------------------------------------------------ */

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
	struct sbuf raw = SBUF_INIT;

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
		else if (n == 7 && strncmp(p + 1, "urgency", 7) == 0) {
			if (b->urgency != NULL)
				sbuf_printf(&raw, "【%s】", b->urgency);
		} else
			sbuf_append(&raw, p, (size_t)(e - p + 1));
		p = e + 1;
	}
	char *s = sbuf_steal(&raw);
	cut(s, "总第期");
	cut(s, "第期");
	cut(s, "()");
	cut(s, "（）");
	cut(s, "【】");

	/* one line, single spaces, no leading or trailing space */
	char *out = one_line(s, false);
	free(s);
	return out;
}

char *
compose_subject_for(const struct conf *c, const struct bulletin *b)
{
	struct conf_identity id;

	conf_identity(c, b->title, &id);
	return compose_subject(id.subject, b);
}

/* ---- the bulletin as a document: masthead, body, 版记 -------------------- */

/*
 * The body is Markdown-ish: cmark parses it. CommonMark's flanking rule
 * does not know Chinese typography: "**部门联动，凝聚合力。**各部门" has a
 * closing ** after punctuation and before a letter, which is not
 * right-flanking, so cmark leaves both ** as text. Editors mean "**"
 * pairs in order within a paragraph, so distd pairs them itself: every
 * run of exactly two asterisks (not escaped) becomes a marker byte before
 * parsing, cmark keeps markers as plain text (they are neither space nor
 * punctuation, so they do not disturb other emphasis), and the AST pass
 * below turns marker pairs into strong nodes. Done on the AST rather than
 * on the HTML so that both parts, HTML and text, come from one tree, and
 * so that code spans and link targets keep their asterisks.
 */
#define MARK '\x01'

/* The body ready for cmark: controls dropped (never content; and MARK
 * must be unambiguous), "**" as MARK. */
static char *
mark_body(const char *body)
{
	struct sbuf out = SBUF_INIT;

	for (const char *p = body; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 && ch != '\n' && ch != '\t')
			continue;
		if (p[0] == '*' && p[1] == '*' && p[2] != '*' &&
		    (p == body || (p[-1] != '*' && p[-1] != '\\'))) {
			sbuf_putc(&out, MARK);
			p++;
			continue;
		}
		sbuf_putc(&out, (char)ch);
	}
	return sbuf_steal(&out);
}

static char *
unmark(const char *s)
{
	struct sbuf out = SBUF_INIT;

	for (; s && *s; s++)
		if (*s == MARK)
			sbuf_puts(&out, "**");
		else
			sbuf_putc(&out, *s);
	return sbuf_steal(&out);
}

static bool
is_marker(cmark_node *n)
{
	const char *lit;

	return cmark_node_get_type(n) == CMARK_NODE_TEXT &&
	    (lit = cmark_node_get_literal(n)) != NULL && lit[0] == MARK && lit[1] == '\0';
}

static void
insert_text(cmark_node *before, const char *s, size_t n)
{
	cmark_node *t = cmark_node_new(CMARK_NODE_TEXT);
	char *lit = xstrndup(s, n);

	cmark_node_set_literal(t, lit);
	free(lit);
	cmark_node_insert_before(before, t);
}

/* Every MARK in a text child of parent becomes a text node of its own. */
static void
split_markers(cmark_node *parent)
{
	cmark_node *next;

	for (cmark_node *n = cmark_node_first_child(parent); n != NULL; n = next) {
		next = cmark_node_next(n);
		if (cmark_node_get_type(n) != CMARK_NODE_TEXT || is_marker(n))
			continue;
		const char *lit = cmark_node_get_literal(n);
		if (lit == NULL || strchr(lit, MARK) == NULL)
			continue;
		const char *p = lit, *m;
		while ((m = strchr(p, MARK)) != NULL) {
			if (m > p)
				insert_text(n, p, (size_t)(m - p));
			insert_text(n, m, 1);
			p = m + 1;
		}
		if (*p != '\0')
			insert_text(n, p, strlen(p));
		cmark_node_free(n);
	}
}

/* Marker pairs among parent's children, in order, become strong nodes; a
 * marker left alone is dropped (a Markdown mark, never content). */
static void
pair_markers(cmark_node *parent)
{
	cmark_node *open = NULL, *next;

	for (cmark_node *n = cmark_node_first_child(parent); n != NULL; n = next) {
		next = cmark_node_next(n);
		if (!is_marker(n))
			continue;
		if (open == NULL) {
			open = n;
			continue;
		}
		cmark_node *strong = cmark_node_new(CMARK_NODE_STRONG), *after;
		for (cmark_node *m = cmark_node_next(open); m != n; m = after) {
			after = cmark_node_next(m);
			cmark_node_append_child(strong, m);
		}
		if (cmark_node_first_child(strong) != NULL)
			cmark_node_insert_before(open, strong);
		else
			cmark_node_free(strong);
		cmark_node_free(open);
		cmark_node_free(n);
		open = NULL;
	}
	if (open != NULL)
		cmark_node_free(open);
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * "**清水镇**：29日" and "**区教委：**29日" are the same lead-in written two
 * ways; the colon goes inside, so that both look alike and the bold ends
 * where the lead-in does.
 */
static void
colon_into_strong(cmark_node *strong)
{
	cmark_node *next = cmark_node_next(strong);
	const char *lit;
	size_t n;

	if (next == NULL || cmark_node_get_type(next) != CMARK_NODE_TEXT ||
	    (lit = cmark_node_get_literal(next)) == NULL)
		return;
	if (starts_with(lit, "："))
		n = strlen("：");
	else if (lit[0] == ':')
		n = 1;
	else
		return;
	cmark_node *t = cmark_node_new(CMARK_NODE_TEXT);
	char *colon = xstrndup(lit, n), *rest = xstrdup(lit + n);
	cmark_node_set_literal(t, colon);
	cmark_node_append_child(strong, t);
	if (*rest)
		cmark_node_set_literal(next, rest);
	else
		cmark_node_free(next);
	free(colon);
	free(rest);
}

/* The only inline child of a paragraph, or NULL. */
static const char *
sole_text(cmark_node *para)
{
	cmark_node *c = cmark_node_first_child(para);

	if (c == NULL || cmark_node_next(c) != NULL || cmark_node_get_type(c) != CMARK_NODE_TEXT)
		return NULL;
	return cmark_node_get_literal(c);
}

/*
 * A paragraph that is only "【指挥调度】" is a column heading, as the
 * printed bulletin sets it (seed 003 writes them without "##").
 */
static bool
is_column_heading(const char *s)
{
	const char *close;

	return s != NULL && starts_with(s, "【") && ends_with(s, "】") &&
	    strlen(s) <= 60 && (close = strstr(s, "】")) != NULL && close[strlen("】")] == '\0';
}

/* "(大兴区文明办)" alone in a paragraph: the source of an item, set right. */
static bool
is_attribution(const char *s)
{
	return s != NULL && strlen(s) <= 60 && strchr(s, '\n') == NULL &&
	    (starts_with(s, "(") || starts_with(s, "（")) &&
	    (ends_with(s, ")") || ends_with(s, "）"));
}

/* Returns the node that stands where node stood (a paragraph may become a
 * heading, and the paragraph is freed). */
static cmark_node *
fix_tree(cmark_node *node)
{
	cmark_node *next;

	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_CODE:
	case CMARK_NODE_CODE_BLOCK:
	case CMARK_NODE_HTML_INLINE:
	case CMARK_NODE_HTML_BLOCK: {
		char *lit = unmark(cmark_node_get_literal(node));
		cmark_node_set_literal(node, lit);
		free(lit);
		return node;
	}
	case CMARK_NODE_LINK:
	case CMARK_NODE_IMAGE: {
		char *url = unmark(cmark_node_get_url(node));
		char *title = unmark(cmark_node_get_title(node));
		cmark_node_set_url(node, url);
		cmark_node_set_title(node, title);
		free(url);
		free(title);
		break;
	}
	default:
		break;
	}
	split_markers(node);
	pair_markers(node);
	for (cmark_node *c = cmark_node_first_child(node); c != NULL; c = next) {
		next = cmark_node_next(c);
		c = fix_tree(c);
		if (cmark_node_get_type(c) == CMARK_NODE_STRONG)
			colon_into_strong(c);
	}
	if (cmark_node_get_type(node) == CMARK_NODE_PARAGRAPH &&
	    cmark_node_get_type(cmark_node_parent(node)) == CMARK_NODE_DOCUMENT &&
	    is_column_heading(sole_text(node))) {
		cmark_node *h = cmark_node_new(CMARK_NODE_HEADING);
		cmark_node_set_heading_level(h, 2);
		cmark_node_append_child(h, cmark_node_first_child(node));
		cmark_node_insert_before(node, h);
		cmark_node_free(node);
		return h;
	}
	return node;
}

static cmark_node *
parse_body(const char *body)
{
	char *marked = mark_body(body ? body : "");
	cmark_node *doc = cmark_parse_document(marked, strlen(marked), CMARK_OPT_DEFAULT);

	free(marked);
	fix_tree(doc);
	return doc;
}

/* "2020-06-12" as printed: "2020年6月12日"; anything else as it is. */
static void
put_date(struct sbuf *out, const char *iso)
{
	int y, m, d;
	char tail;

	if (sscanf(iso, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3)
		sbuf_printf(out, "%d年%d月%d日", y, m, d);
	else
		sbuf_puts(out, iso);
}

/* "第29期（总第2138期）", or what of it the issue states; "" for none. */
static char *
issue_line(const struct bulletin *b)
{
	struct sbuf s = SBUF_INIT;

	if (b->issue_no >= 0)
		sbuf_printf(&s, "第%ld期", b->issue_no);
	if (b->total_issue_no >= 0)
		sbuf_printf(&s, b->issue_no >= 0 ? "（总第%ld期）" : "总第%ld期",
		    b->total_issue_no);
	return sbuf_steal(&s);
}

/* Marks above the title: 内部资料, 特急 … ("" for none). */
static char *
marks_line(const struct bulletin *b)
{
	struct sbuf s = SBUF_INIT;

	if (b->internal != NULL)
		sbuf_puts(&s, b->internal);
	if (b->urgency != NULL)
		sbuf_printf(&s, "%s%s", s.len ? "　" : "", b->urgency);
	return sbuf_steal(&s);
}

/* One line of the 版记: fields printed on one line stay on one line. */
struct footer_line {
	bool tier;
	char *text;
};

/*
 * The 版记 in the document's order: field lines (责编, 核稿, 电话 …) and
 * tier lines (报/送/发 with their label as printed), merged by line number.
 * Every field is here, also one the parser met above the 版记: the
 * parser takes field lines out of the body, so this is where they show.
 */
static struct footer_line *
footer_lines(const struct bulletin *b, size_t *n)
{
	struct footer_line *fl = xcalloc(b->n_fields + b->n_tiers + 1, sizeof(*fl));
	size_t f = 0, t = 0;

	*n = 0;
	while (f < b->n_fields || t < b->n_tiers) {
		if (t < b->n_tiers && (f == b->n_fields || b->tiers[t].line < b->fields[f].line)) {
			const struct bulletin_tier *bt = &b->tiers[t++];
			struct sbuf s = SBUF_INIT;
			sbuf_printf(&s, "%s：%s", bt->label, bt->text ? bt->text : "");
			fl[(*n)++] = (struct footer_line){ true, sbuf_steal(&s) };
			continue;
		}
		struct sbuf s = SBUF_INIT;
		size_t line = b->fields[f].line;
		for (; f < b->n_fields && b->fields[f].line == line; f++)
			sbuf_printf(&s, "%s%s：%s", s.len ? "　" : "", b->fields[f].key,
			    b->fields[f].value ? b->fields[f].value : "");
		fl[(*n)++] = (struct footer_line){ false, sbuf_steal(&s) };
	}
	return fl;
}

static void
footer_free(struct footer_line *fl, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(fl[i].text);
	free(fl);
}

/* ---- plain text ---------------------------------------------------------- */

#define TEXT_RULE "────────────────────────────────"

static void
text_inlines(struct sbuf *out, cmark_node *node)
{
	for (cmark_node *c = cmark_node_first_child(node); c != NULL; c = cmark_node_next(c)) {
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_CODE:
		case CMARK_NODE_HTML_INLINE:
			sbuf_puts(out, cmark_node_get_literal(c));
			break;
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			sbuf_putc(out, '\n');
			break;
		case CMARK_NODE_LINK: {
			size_t at = out->len;
			const char *url = cmark_node_get_url(c);
			text_inlines(out, c);
			if (url && *url && strcmp(out->data ? out->data + at : "", url) != 0)
				sbuf_printf(out, " <%s>", url);
			break;
		}
		default:	/* strong, emph, image (its alt text) */
			text_inlines(out, c);
			break;
		}
	}
}

static void
text_blocks(struct sbuf *out, cmark_node *node, const char *bullet)
{
	int number = cmark_node_get_list_start(node);

	for (cmark_node *c = cmark_node_first_child(node); c != NULL; c = cmark_node_next(c)) {
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_PARAGRAPH:
		case CMARK_NODE_HEADING:
			text_inlines(out, c);
			sbuf_puts(out, "\n\n");
			break;
		case CMARK_NODE_CODE_BLOCK:
		case CMARK_NODE_HTML_BLOCK:
			sbuf_puts(out, cmark_node_get_literal(c));
			sbuf_putc(out, '\n');
			break;
		case CMARK_NODE_THEMATIC_BREAK:
			sbuf_puts(out, TEXT_RULE "\n\n");
			break;
		case CMARK_NODE_LIST:
			text_blocks(out, c, cmark_node_get_list_type(c) == CMARK_ORDERED_LIST ?
			    NULL : "• ");
			break;
		case CMARK_NODE_ITEM: {
			if (bullet)
				sbuf_puts(out, bullet);
			else
				sbuf_printf(out, "%d. ", number++);
			size_t at = out->len;
			text_blocks(out, c, "• ");
			/* a tight item is one line, not a paragraph */
			if (cmark_node_get_list_tight(node))
				while (out->len > at + 1 && out->data[out->len - 1] == '\n' &&
				    out->data[out->len - 2] == '\n')
					out->data[--out->len] = '\0';
			break;
		}
		default:	/* block quote, document, custom blocks */
			text_blocks(out, c, bullet);
			break;
		}
	}
}

/* The issue as text; ask: the receipt request as its last line. */
static char *
issue_text(const struct bulletin *b, bool ask)
{
	struct sbuf out = SBUF_INIT;
	char *marks = marks_line(b), *issue = issue_line(b);
	cmark_node *doc = parse_body(b->body);
	size_t nf;
	struct footer_line *fl = footer_lines(b, &nf);

	if (*marks)
		sbuf_printf(&out, "%s\n", marks);
	if (b->title)
		sbuf_printf(&out, "%s\n", b->title);
	if (*issue)
		sbuf_printf(&out, "%s\n", issue);
	if (b->issuer || b->date) {
		sbuf_puts(&out, b->issuer ? b->issuer : "");
		if (b->date) {
			sbuf_puts(&out, b->issuer ? "　" : "");
			put_date(&out, b->date);
		}
		sbuf_putc(&out, '\n');
	}
	if (out.len > 0)
		sbuf_puts(&out, TEXT_RULE "\n\n");
	text_blocks(&out, doc, NULL);
	if (nf > 0) {
		sbuf_puts(&out, TEXT_RULE "\n");
		for (size_t i = 0; i < nf; i++)
			sbuf_printf(&out, "%s\n", fl[i].text);
		sbuf_puts(&out, TEXT_RULE "\n");
	}
	while (out.len > 1 && out.data[out.len - 1] == '\n' && out.data[out.len - 2] == '\n')
		out.data[--out.len] = '\0';
	if (ask)
		sbuf_printf(&out, "%s" COMPOSE_RECEIPT_LINE "\n", out.len > 0 ? "\n" : "");
	footer_free(fl, nf);
	cmark_node_free(doc);
	free(marks);
	free(issue);
	return sbuf_steal(&out);
}

char *
compose_text(const struct bulletin *b)
{
	return issue_text(b, false);
}

/* ---- HTML ----------------------------------------------------------------- */

/*
 * Inline CSS only: webmail drops <style>. Nothing remote: no images, fonts
 * or style sheets to fetch. The layout follows the printed 简报 (GB/T 9704):
 * a red title, the issue line, a red rule, the body, the 版记 between rules.
 */
#define RED "#c8161d"
#define FONT_BODY "font-family:'PingFang SC','Hiragino Sans GB','Microsoft YaHei'," \
	"'微软雅黑','Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Micro Hei',sans-serif"
#define FONT_SONG "font-family:'STZhongsong','华文中宋','Songti SC','STSong','SimSun'," \
	"'宋体','Noto Serif CJK SC','Source Han Serif SC',serif"

/*
 * SpamAssassin counts "obfuscation" (HTML_OBFUSCATE_*: Mail::SpamAssassin::
 * HTML::html_text) wherever a tag splits a word: the text before a tag ends
 * and the text after it begins with a character that is neither ASCII
 * white space nor ASCII punctuation. Every Chinese character counts as a
 * word character, so "提醒。<strong>区教委：</strong>29日" is two "splits",
 * and a 简讯 full of bold lead-ins scored HTML_OBFUSCATE_20_30 (2.5). The
 * writer below puts a newline between the tag and the text wherever that
 * would happen: HTML white space, so nothing changes for the reader but a
 * space at most (none in browsers that drop line breaks between CJK
 * characters), and the text no longer looks split.
 */
struct html {
	struct sbuf *out;
	bool tag;	/* a tag written since the last text */
	bool word;	/* the last text written ends in a "word" byte */
};

static bool
word_byte(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return false;
	return !((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
	    (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E));
}

static void
h_tag(struct html *h, const char *tag)
{
	sbuf_puts(h->out, tag);
	h->tag = true;
}

static void
h_text(struct html *h, const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return;
	if (h->tag && h->word && word_byte((unsigned char)s[0]))
		sbuf_putc(h->out, '\n');
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&':
			sbuf_puts(h->out, "&amp;");
			break;
		case '<':
			sbuf_puts(h->out, "&lt;");
			break;
		case '>':
			sbuf_puts(h->out, "&gt;");
			break;
		case '"':
			sbuf_puts(h->out, "&quot;");
			break;
		default:
			sbuf_putc(h->out, s[i]);
		}
	}
	h->tag = false;
	h->word = word_byte((unsigned char)s[n - 1]);
}

/* A newline between blocks: text to an HTML parser, so it ends any "word". */
static void
h_nl(struct html *h)
{
	sbuf_putc(h->out, '\n');
	h->tag = false;
	h->word = false;
}

static bool
safe_url(const char *url)
{
	return url != NULL && (strncasecmp(url, "http://", 7) == 0 ||
	    strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "mailto:", 7) == 0);
}

static void
html_inlines(struct html *h, cmark_node *node)
{
	for (cmark_node *c = cmark_node_first_child(node); c != NULL; c = cmark_node_next(c)) {
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_HTML_INLINE:	/* shown as written, never as markup */
			h_text(h, cmark_node_get_literal(c));
			break;
		case CMARK_NODE_CODE:
			h_tag(h, "<code style=\"font-family:monospace\">");
			h_text(h, cmark_node_get_literal(c));
			h_tag(h, "</code>");
			break;
		case CMARK_NODE_SOFTBREAK: {
			/* a line wrapped inside a paragraph: between two Chinese
			 * characters a space would be a gap in the word */
			cmark_node *next = cmark_node_next(c);
			const char *lit = next && cmark_node_get_type(next) == CMARK_NODE_TEXT ?
			    cmark_node_get_literal(next) : NULL;
			bool cjk = h->out->len > 0 &&
			    (unsigned char)h->out->data[h->out->len - 1] >= 0x80 &&
			    lit && (unsigned char)lit[0] >= 0x80;
			if (!cjk)
				h_nl(h);
			break;
		}
		case CMARK_NODE_LINEBREAK:
			h_tag(h, "<br>");
			h_nl(h);
			break;
		case CMARK_NODE_STRONG:
			h_tag(h, "<strong>");
			html_inlines(h, c);
			h_tag(h, "</strong>");
			break;
		case CMARK_NODE_EMPH:
			h_tag(h, "<em>");
			html_inlines(h, c);
			h_tag(h, "</em>");
			break;
		case CMARK_NODE_LINK:
			if (safe_url(cmark_node_get_url(c))) {
				struct sbuf a = SBUF_INIT;
				struct html ah = { &a, false, false };
				h_text(&ah, cmark_node_get_url(c));
				char *tag = g_strdup_printf("<a href=\"%s\" style=\"color:#1a4f9c\">",
				    sbuf_str(&a));
				h_tag(h, tag);
				g_free(tag);
				sbuf_free(&a);
				html_inlines(h, c);
				h_tag(h, "</a>");
			} else {
				html_inlines(h, c);
			}
			break;
		default:	/* image: its alt text only, nothing remote */
			html_inlines(h, c);
			break;
		}
	}
}

static void
html_blocks(struct html *h, cmark_node *node, bool top)
{
	for (cmark_node *c = cmark_node_first_child(node); c != NULL; c = cmark_node_next(c)) {
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_PARAGRAPH: {
			cmark_node *list = cmark_node_parent(node);
			if (cmark_node_get_type(node) == CMARK_NODE_ITEM && list &&
			    cmark_node_get_list_tight(list)) {
				html_inlines(h, c);
				break;
			}
			if (top && is_attribution(sole_text(c)))
				h_tag(h, "<p style=\"margin:0 0 0.9em;text-align:right\">");
			else if (top)
				h_tag(h, "<p style=\"margin:0 0 0.9em;text-indent:2em;"
				    "text-align:justify\">");
			else
				h_tag(h, "<p style=\"margin:0 0 0.6em\">");
			html_inlines(h, c);
			h_tag(h, "</p>");
			h_nl(h);
			break;
		}
		case CMARK_NODE_HEADING:
			/* h1 is the masthead's: the body's headings start at h2;
			 * an article title (###) is centred as printed */
			if (cmark_node_get_heading_level(c) <= 2)
				h_tag(h, "<h2 style=\"margin:1.6em 0 0.7em;font-size:1.2em;"
				    "font-weight:bold;" FONT_SONG "\">");
			else
				h_tag(h, "<h3 style=\"margin:1.2em 0 0.8em;font-size:1.15em;"
				    "font-weight:bold;text-align:center;" FONT_SONG "\">");
			html_inlines(h, c);
			h_tag(h, cmark_node_get_heading_level(c) <= 2 ? "</h2>" : "</h3>");
			h_nl(h);
			break;
		case CMARK_NODE_CODE_BLOCK:
		case CMARK_NODE_HTML_BLOCK:	/* shown as written, never as markup */
			h_tag(h, "<pre style=\"white-space:pre-wrap;font-family:monospace;"
			    "margin:0 0 0.9em\">");
			h_text(h, cmark_node_get_literal(c));
			h_tag(h, "</pre>");
			h_nl(h);
			break;
		case CMARK_NODE_THEMATIC_BREAK:
			h_tag(h, "<hr style=\"border:0;border-top:1px solid #999999;"
			    "margin:1.2em 0\">");
			h_nl(h);
			break;
		case CMARK_NODE_BLOCK_QUOTE:
			h_tag(h, "<blockquote style=\"margin:0 0 0.9em;padding-left:1em;"
			    "border-left:3px solid #cccccc\">");
			h_nl(h);
			html_blocks(h, c, false);
			h_tag(h, "</blockquote>");
			h_nl(h);
			break;
		case CMARK_NODE_LIST: {
			bool ordered = cmark_node_get_list_type(c) == CMARK_ORDERED_LIST;
			char tag[128];
			snprintf(tag, sizeof(tag), "<%s start=\"%d\" style=\"margin:0 0 0.9em;"
			    "padding-left:2em\">", ordered ? "ol" : "ul",
			    ordered ? cmark_node_get_list_start(c) : 1);
			h_tag(h, ordered ? tag : "<ul style=\"margin:0 0 0.9em;padding-left:2em\">");
			h_nl(h);
			html_blocks(h, c, false);
			h_tag(h, ordered ? "</ol>" : "</ul>");
			h_nl(h);
			break;
		}
		case CMARK_NODE_ITEM:
			h_tag(h, "<li>");
			html_blocks(h, c, false);
			h_tag(h, "</li>");
			h_nl(h);
			break;
		default:
			html_blocks(h, c, top);
			break;
		}
	}
}

/* The issue as an HTML page; ask: the receipt request as its last paragraph. */
static char *
issue_html(const struct bulletin *b, bool ask)
{
	struct sbuf out = SBUF_INIT;
	struct html h = { &out, false, false };
	char *marks = marks_line(b), *issue = issue_line(b);
	cmark_node *doc = parse_body(b->body);
	size_t nf;
	struct footer_line *fl = footer_lines(b, &nf);

	h_tag(&h, "<!DOCTYPE html>");
	h_nl(&h);
	h_tag(&h, "<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
	h_nl(&h);
	h_tag(&h, "<title>");
	h_text(&h, b->title ? b->title : "");
	if (*issue) {
		h_text(&h, " ");
		h_text(&h, issue);
	}
	h_tag(&h, "</title></head>");
	h_nl(&h);
	h_tag(&h, "<body style=\"margin:0;padding:0;background-color:#ffffff\">");
	h_nl(&h);
	h_tag(&h, "<div style=\"max-width:40em;margin:0 auto;padding:1.5em 1.2em;"
	    "background-color:#ffffff;color:#1a1a1a;font-size:16px;line-height:1.8;"
	    FONT_BODY "\">");
	h_nl(&h);

	/* the masthead (版头) */
	if (*marks) {
		h_tag(&h, "<p style=\"margin:0 0 0.4em;font-weight:bold;" FONT_SONG "\">");
		h_text(&h, marks);
		h_tag(&h, "</p>");
		h_nl(&h);
	}
	if (b->title) {
		h_tag(&h, "<h1 style=\"margin:0.4em 0 0.5em;color:" RED ";font-size:2em;"
		    "line-height:1.3;font-weight:bold;text-align:center;letter-spacing:0.06em;"
		    FONT_SONG "\">");
		h_text(&h, b->title);
		h_tag(&h, "</h1>");
		h_nl(&h);
	}
	if (*issue) {
		h_tag(&h, "<p style=\"margin:0 0 0.6em;text-align:center\">");
		h_text(&h, issue);
		h_tag(&h, "</p>");
		h_nl(&h);
	}
	if (b->issuer || b->date) {
		struct sbuf date = SBUF_INIT;
		if (b->date)
			put_date(&date, b->date);
		h_tag(&h, "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" "
		    "cellspacing=\"0\" style=\"border-collapse:collapse;width:100%\"><tr>");
		h_nl(&h);
		h_tag(&h, "<td style=\"padding:0;text-align:left\">");
		h_text(&h, b->issuer ? b->issuer : "");
		h_tag(&h, "</td>");
		h_nl(&h);
		h_tag(&h, "<td style=\"padding:0;text-align:right\">");
		h_text(&h, sbuf_str(&date));
		h_tag(&h, "</td>");
		h_nl(&h);
		h_tag(&h, "</tr></table>");
		h_nl(&h);
		sbuf_free(&date);
	}
	if (*marks || b->title || *issue || b->issuer || b->date) {
		h_tag(&h, "<hr style=\"border:0;border-top:2px solid " RED ";margin:0.4em 0 1.4em\">");
		h_nl(&h);
	}

	html_blocks(&h, doc, true);

	/* the 版记: between rules, a thin rule where fields and tiers meet */
	if (nf > 0) {
		h_tag(&h, "<div style=\"margin-top:2.5em;border-top:1px solid #1a1a1a;"
		    "border-bottom:1px solid #1a1a1a;padding:0.4em 0;font-size:0.95em;"
		    "line-height:1.7\">");
		h_nl(&h);
		for (size_t i = 0; i < nf; i++) {
			if (i > 0 && fl[i].tier != fl[i - 1].tier) {
				h_tag(&h, "<hr style=\"border:0;border-top:1px solid #1a1a1a;"
				    "margin:0.4em 0\">");
				h_nl(&h);
			}
			h_tag(&h, fl[i].tier ? "<p style=\"margin:0.15em 0;padding-left:2em;"
			    "text-indent:-2em\">" : "<p style=\"margin:0.15em 0\">");
			h_text(&h, fl[i].text);
			h_tag(&h, "</p>");
			h_nl(&h);
		}
		h_tag(&h, "</div>");
		h_nl(&h);
	}
	if (ask) {
		h_tag(&h, "<p style=\"margin:1.5em 0 0;font-weight:bold\">");
		h_text(&h, COMPOSE_RECEIPT_LINE);
		h_tag(&h, "</p>");
		h_nl(&h);
	}
	h_tag(&h, "</div>");
	h_nl(&h);
	h_tag(&h, "</body></html>");
	h_nl(&h);

	footer_free(fl, nf);
	cmark_node_free(doc);
	free(marks);
	free(issue);
	return sbuf_steal(&out);
}

char *
compose_html(const struct bulletin *b)
{
	return issue_html(b, false);
}

/* ---- headers -------------------------------------------------------------- */

/*
 * Header values are written here, not by GMime's encoder: GMime 3.2 makes
 * RFC 2047 encoded words longer than the 75 characters the RFC allows (76
 * for issue 439's subject, 160 for a long mixed one) and RFC-2231-encodes
 * an already encoded parameter. Every value is one_line()d first, so no
 * CR or LF from a title, a name or a file name can start a header.
 */
#define LINE_MAX_COLS 78
/* 45 bytes are 60 base64 characters: a 72-character encoded word. */
#define WORD_MAX_BYTES 45
#define WORD_OVERHEAD (sizeof("=?UTF-8?B?" "?=") - 1)

struct hdr {
	struct sbuf b;
	size_t col;	/* columns used on the current line */
	bool first;	/* nothing written yet: never fold before the first token */
};

static void
hdr_start(struct hdr *h, const char *name)
{
	*h = (struct hdr){ SBUF_INIT, strlen(name) + 1, true };
}

/* A token, after a space or a fold (CRLF is written by GMime for "\n"). */
static void
hdr_token(struct hdr *h, const char *tok, size_t n, bool space)
{
	if (space && !h->first && h->col + 1 + n > LINE_MAX_COLS) {
		sbuf_puts(&h->b, "\n ");
		h->col = 1;
	} else if (space) {
		sbuf_putc(&h->b, ' ');
		h->col++;
	}
	sbuf_append(&h->b, tok, n);
	h->col += n;
	h->first = false;
}

static bool
needs_encoding(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80)
			return true;
	return strstr(s, "=?") != NULL;
}

/*
 * s (one line, valid UTF-8) as RFC 2047 B encoded words of whole
 * characters, each at most 72 characters long and fitted to the line.
 */
static void
hdr_words(struct hdr *h, const char *s, bool space)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t room = LINE_MAX_COLS > h->col + 1 + WORD_OVERHEAD ?
		    (LINE_MAX_COLS - h->col - 1 - WORD_OVERHEAD) / 4 * 3 : 0;
		if (room < 6 && !h->first) {	/* not even two characters: fold */
			sbuf_puts(&h->b, "\n");
			h->col = 0;
			room = WORD_MAX_BYTES;
		}
		if (room > WORD_MAX_BYTES || room < 6)
			room = WORD_MAX_BYTES;
		size_t end = i;
		while (end < n) {
			size_t next = end;
			text_next(s, n, &next);
			if (next - i > room && end > i)
				break;
			end = next;
		}
		gchar *b64 = g_base64_encode((const guchar *)s + i, end - i);
		char *word = g_strdup_printf("=?UTF-8?B?%s?=", b64);
		hdr_token(h, word, strlen(word), space);
		g_free(word);
		g_free(b64);
		space = true;
		i = end;
	}
}

/* Unstructured text (Subject): ASCII as words folded at spaces, else encoded. */
static void
hdr_text(struct hdr *h, const char *value)
{
	char *s = one_line(value, false);

	if (needs_encoding(s)) {
		hdr_words(h, s, true);
	} else {
		for (char *p = s, *sp; *p; p = sp + (*sp != '\0')) {
			sp = strchr(p, ' ');
			if (sp == NULL)
				sp = p + strlen(p);
			hdr_token(h, p, (size_t)(sp - p), true);
		}
		if (h->first)
			hdr_token(h, "", 0, true);
	}
	free(s);
}

static bool
atext_phrase(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr(" !#$%&'*+-/=?^_`{|}~", *p))
			return false;
	return true;
}

/* An address as it may go between < and >: printable ASCII, no specials. */
static bool
addr_ok(const char *a)
{
	if (a == NULL || *a == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p <= 0x20 || *p >= 0x7F || strchr("<>,;\"()\\[]:", *p))
			return false;
	return strchr(a, '@') != NULL;
}

/* A Message-ID as it may go between < and > (RFC 5322 id-left "@" id-right, loosely). */
static bool
msgid_ok(const char *id)
{
	if (id == NULL || *id == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		if (*p <= 0x20 || *p >= 0x7F || strchr("<>\"()\\,;:", *p))
			return false;
	return strchr(id, '@') != NULL;
}

/* A display name: atoms as they are, else quoted, non-ASCII as encoded words. */
static void
hdr_phrase(struct hdr *h, const char *name)
{
	if (needs_encoding(name)) {
		hdr_words(h, name, true);
	} else if (atext_phrase(name)) {
		hdr_token(h, name, strlen(name), true);
	} else {
		struct sbuf q = SBUF_INIT;
		sbuf_putc(&q, '"');
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				sbuf_putc(&q, '\\');
			sbuf_putc(&q, *p);
		}
		sbuf_putc(&q, '"');
		hdr_token(h, q.data, q.len, true);
		sbuf_free(&q);
	}
}

/* "Display <addr>" or "addr"; sep is "," between mailboxes of a list. */
static void
hdr_mailbox(struct hdr *h, const char *display, const char *addr, const char *sep)
{
	char *name = display ? one_line(display, false) : xstrdup("");
	struct sbuf tok = SBUF_INIT;

	if (*name == '\0') {
		sbuf_printf(&tok, "%s%s", addr, sep);
		hdr_token(h, tok.data, tok.len, true);
	} else {
		hdr_phrase(h, name);
		sbuf_printf(&tok, "<%s>%s", addr, sep);
		hdr_token(h, tok.data, tok.len, true);
	}
	sbuf_free(&tok);
	free(name);
}

/*
 * A tier too large to list, as an empty RFC 5322 group: "报（1234 个地址，
 * 见版记） :;". The space before the colon is RFC 2047's: an encoded word
 * must not touch a special. The units are printed in the 版记 anyway.
 */
static void
hdr_group(struct hdr *h, const char *tier, size_t count, const char *sep)
{
	char *name = g_strdup_printf("%s（%zu 个地址，见版记）", tier ? tier : "", count);
	char *one = one_line(name, false);
	char tok[8];

	hdr_phrase(h, one);
	snprintf(tok, sizeof(tok), ":;%s", sep);
	hdr_token(h, tok, strlen(tok), true);
	free(one);
	g_free(name);
}

/*
 * The To or Cc value: every mailbox of the tiers in that header, except
 * that a tier of more than max names (max > 0) is one group. Linear in
 * the recipients; tiers are few, so a tier's count is found by a scan of
 * the distinct tiers seen.
 */
static bool
hdr_visible(struct hdr *h, const struct compose_input *in, enum conf_header want)
{
	struct tier_count { const char *tier; size_t n; bool written; } *t = NULL;
	size_t n_t = 0, items = 0, done = 0;

	for (size_t i = 0; i < in->n_rcpts; i++) {
		const char *tier = in->rcpts[i].tier ? in->rcpts[i].tier : "";
		size_t k = 0;
		if (in->rcpts[i].header != want)
			continue;
		while (k < n_t && strcmp(t[k].tier, tier) != 0)
			k++;
		if (k == n_t) {
			t = xrealloc(t, (n_t + 1) * sizeof(*t));
			t[n_t++] = (struct tier_count){ tier, 0, false };
		}
		t[k].n++;
	}
	for (size_t k = 0; k < n_t; k++)
		items += in->max_header_names > 0 && t[k].n > in->max_header_names ?
		    1 : t[k].n;
	for (size_t i = 0; i < in->n_rcpts; i++) {
		const char *tier = in->rcpts[i].tier ? in->rcpts[i].tier : "";
		size_t k = 0;
		if (in->rcpts[i].header != want)
			continue;
		while (strcmp(t[k].tier, tier) != 0)
			k++;
		if (in->max_header_names > 0 && t[k].n > in->max_header_names) {
			if (!t[k].written)
				hdr_group(h, t[k].tier, t[k].n, ++done < items ? "," : "");
			t[k].written = true;
		} else {
			hdr_mailbox(h, in->rcpts[i].display, in->rcpts[i].address,
			    ++done < items ? "," : "");
		}
	}
	free(t);
	return n_t > 0;
}

/* Replaces the value of header name on o with h's (GMime writes "\n" as CRLF). */
static void
set_raw(GMimeObject *o, const char *name, struct hdr *h)
{
	GMimeHeader *hd;

	sbuf_putc(&h->b, '\n');
	g_mime_object_set_header(o, name, "x", NULL);
	hd = g_mime_header_list_get_header(g_mime_object_get_header_list(o), name);
	g_mime_header_set_raw_value(hd, sbuf_str(&h->b));
	sbuf_free(&h->b);
}

/* One "<value>" token as the whole value of header name. */
static void
set_angle(GMimeObject *o, const char *name, const char *value)
{
	struct hdr h;
	char *tok = g_strdup_printf("<%s>", value);

	hdr_start(&h, name);
	hdr_token(&h, tok, strlen(tok), true);
	set_raw(o, name, &h);
	g_free(tok);
}

/* ---- MIME message ------------------------------------------------------ */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

const char *
compose_content_type(const char *filename)
{
	static const struct { const char *ext, *type; } types[] = {
		{ "pdf", "application/pdf" },
		{ "doc", "application/msword" },
		{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
		{ "xls", "application/vnd.ms-excel" },
		{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
		{ "ppt", "application/vnd.ms-powerpoint" },
		{ "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
		{ "wps", "application/vnd.ms-works" },
		{ "ofd", "application/ofd" },
		{ "zip", "application/zip" },
		{ "rar", "application/vnd.rar" },
		{ "7z", "application/x-7z-compressed" },
		{ "txt", "text/plain" },
		{ "md", "text/markdown" },
		{ "csv", "text/csv" },
		{ "htm", "text/html" },
		{ "html", "text/html" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "png", "image/png" },
		{ "gif", "image/gif" },
		{ "tif", "image/tiff" },
		{ "tiff", "image/tiff" },
	};
	const char *dot = strrchr(filename, '.');

	if (dot != NULL)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

static GMimeObject *
text_part(const char *subtype, const char *text)
{
	GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);

	g_mime_text_part_set_charset(p, "utf-8");
	g_mime_text_part_set_text(p, text);
	return GMIME_OBJECT(p);
}

/* A file name fit for a header: one line, never empty. */
static char *
clean_filename(const char *name)
{
	char *s = one_line(name ? name : "", true);

	if (*s == '\0') {
		free(s);
		s = xstrdup("attachment");
	}
	return s;
}

static GMimeObject *
attachment_part(const struct attachment *a, const char *name)
{
	char type[128];
	const char *slash;
	GMimePart *p;
	GMimeStream *s;
	GMimeDataWrapper *w;

	snprintf(type, sizeof(type), "%s", compose_content_type(name));
	slash = strchr(type, '/');
	type[slash - type] = '\0';
	p = g_mime_part_new_with_type(type, slash + 1);
	s = g_mime_stream_mem_new_with_buffer(a->data, a->len);
	w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	/* Content-Disposition filename (RFC 2231 by GMime, correct there) */
	g_mime_part_set_filename(p, name);
	g_object_unref(w);
	g_object_unref(s);
	return GMIME_OBJECT(p);
}

/*
 * Content-Type's name in RFC 2047 form, the one munpack, mhonarc, older
 * Outlook and several Chinese webmail systems read; written last, after
 * GMime has settled the part, as GMime would RFC-2231-encode the words.
 */
static void
attachment_name_2047(GMimeObject *part, const char *name)
{
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	struct hdr h;
	struct sbuf v = SBUF_INIT;

	if (!needs_encoding(name))
		return;		/* GMime quotes an ASCII name itself */
	hdr_start(&h, "Content-Type");
	sbuf_printf(&v, "%s/%s;", g_mime_content_type_get_media_type(ct),
	    g_mime_content_type_get_media_subtype(ct));
	hdr_token(&h, v.data, v.len, true);
	sbuf_free(&v);
	hdr_token(&h, "name=\"", 6, true);
	h.first = true;		/* the first word right after the quote */
	hdr_words(&h, name, false);
	sbuf_putc(&h.b, '"');
	set_raw(part, "Content-Type", &h);
}

char *
compose_message(const struct compose_input *in, size_t *len, char *err, size_t errsz)
{
	GMimeMessage *m;
	GMimeObject *root, *part, *body_part;
	GMimeFormatOptions *fo;
	GMimeStream *out;
	GByteArray *bytes;
	GDateTime *dt;
	char id[32], *result = NULL;
	bool any_to = false;
	struct hdr h;
	GMimeObject **att = NULL;
	char **names = NULL;

	/* refused, not mended: an address is never guessed at */
	if (!addr_ok(in->from_address)) {
		snprintf(err, errsz, "the From address is not a plain address");
		return NULL;
	}
	if (in->reply_to_address != NULL && !addr_ok(in->reply_to_address)) {
		snprintf(err, errsz, "the Reply-To address is not a plain address");
		return NULL;
	}
	for (size_t i = 0; i < in->n_rcpts; i++)
		if (!addr_ok(in->rcpts[i].address)) {
			snprintf(err, errsz, "recipient %zu: not a plain address", i + 1);
			return NULL;
		}
	if (in->receipt_to != NULL && !addr_ok(in->receipt_to)) {
		snprintf(err, errsz, "the Disposition-Notification-To address is not a "
		    "plain address");
		return NULL;
	}
	if (in->in_reply_to != NULL && !msgid_ok(in->in_reply_to)) {
		snprintf(err, errsz, "the Message-ID replied to is not a plain "
		    "left@right message identifier");
		return NULL;
	}

	pthread_once(&gmime_once, gmime_start);
	m = g_mime_message_new(TRUE);

	hdr_start(&h, "From");
	hdr_mailbox(&h, in->from_display, in->from_address, "");
	set_raw(GMIME_OBJECT(m), "From", &h);
	if (in->reply_to_address != NULL) {
		hdr_start(&h, "Reply-To");
		hdr_mailbox(&h, in->reply_to_display, in->reply_to_address, "");
		set_raw(GMIME_OBJECT(m), "Reply-To", &h);
	}
	/* To and Cc written once each */
	for (int which = 0; which < 2; which++) {
		const char *name = which == 0 ? "To" : "Cc";
		hdr_start(&h, name);
		if (hdr_visible(&h, in, which == 0 ? CONF_HEADER_TO : CONF_HEADER_CC)) {
			any_to |= which == 0;
			set_raw(GMIME_OBJECT(m), name, &h);
		} else {
			sbuf_free(&h.b);
		}
	}
	if (!any_to)
		g_mime_object_set_header(GMIME_OBJECT(m), "To", "undisclosed-recipients:;",
		    NULL);
	hdr_start(&h, "Subject");
	hdr_text(&h, in->subject ? in->subject : "");
	set_raw(GMIME_OBJECT(m), "Subject", &h);
	dt = g_date_time_new_from_unix_local(in->date);
	g_mime_message_set_date(m, dt);
	g_date_time_unref(dt);
	g_mime_message_set_message_id(m, in->message_id);
	snprintf(id, sizeof(id), "%lld", (long long)in->issue_id);
	g_mime_object_set_header(GMIME_OBJECT(m), "X-Distd-Issue", id, NULL);
	/* distd's own mail to the admin: no auto-replies back to it (RFC 3834) */
	if (in->auto_submitted)
		g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted", "auto-generated",
		    NULL);
	if (in->urgent) {
		g_mime_object_set_header(GMIME_OBJECT(m), "Importance", "high", NULL);
		g_mime_object_set_header(GMIME_OBJECT(m), "Priority", "urgent", NULL);
	}
	/* a reminder threads under the issue it is about */
	if (in->in_reply_to != NULL) {
		set_angle(GMIME_OBJECT(m), "In-Reply-To", in->in_reply_to);
		set_angle(GMIME_OBJECT(m), "References", in->in_reply_to);
	}
	/* RFC 8098: the reader's program offers to say it was displayed */
	if (in->receipt_to != NULL)
		set_angle(GMIME_OBJECT(m), "Disposition-Notification-To", in->receipt_to);

	if (in->issue != NULL) {
		/* the whole issue in both parts, one tree rendered twice */
		bool ask = in->receipt_to != NULL;
		char *text = issue_text(in->issue, ask), *html = issue_html(in->issue, ask);
		GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
		part = text_part("plain", text);
		g_mime_multipart_add(alt, part);
		g_object_unref(part);
		part = text_part("html", html);
		g_mime_multipart_add(alt, part);
		g_object_unref(part);
		free(text);
		free(html);
		body_part = GMIME_OBJECT(alt);
	} else {
		/* distd's own mail is plain text: nothing in it is Markdown */
		body_part = text_part("plain", in->body ? in->body : "");
	}

	if (in->n_attachments > 0) {
		GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mixed, body_part);
		g_object_unref(body_part);
		att = xcalloc(in->n_attachments, sizeof(*att));
		names = xcalloc(in->n_attachments, sizeof(*names));
		for (size_t i = 0; i < in->n_attachments; i++) {
			names[i] = clean_filename(in->attachments[i].name);
			att[i] = attachment_part(&in->attachments[i], names[i]);
			g_mime_multipart_add(mixed, att[i]);
		}
		root = GMIME_OBJECT(mixed);
	} else {
		root = body_part;
	}
	g_mime_message_set_mime_part(m, root);
	g_object_unref(root);

	/* curl never announces 8BITMIME: every part must be 7-bit clean */
	g_mime_object_encode(GMIME_OBJECT(m), GMIME_ENCODING_CONSTRAINT_7BIT);
	for (size_t i = 0; i < in->n_attachments; i++)
		attachment_name_2047(att[i], names[i]);
	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	out = g_mime_stream_mem_new();
	if (g_mime_object_write_to_stream(GMIME_OBJECT(m), fo, out) < 0) {
		snprintf(err, errsz, "composing the message failed");
	} else {
		bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
		result = xmalloc(bytes->len + 1);
		memcpy(result, bytes->data, bytes->len);
		result[bytes->len] = '\0';
		*len = bytes->len;
	}
	for (size_t i = 0; i < in->n_attachments; i++) {
		g_object_unref(att[i]);
		free(names[i]);
	}
	free(att);
	free(names);
	g_object_unref(out);
	g_mime_format_options_free(fo);
	g_object_unref(m);
	return result;
}

/* ---- reminders (distctl remind) ----------------------------------------- */

char *
compose_reminder_subject(const char *subject)
{
	char *one = one_line(subject ? subject : "", false);
	char *s = g_strdup_printf("请确认收到 / Please confirm receipt: %s", one);
	char *r = xstrdup(s);

	g_free(s);
	free(one);
	return r;
}

char *
compose_reminder_body(const char *subject, int64_t sent)
{
	struct sbuf out = SBUF_INIT;
	char *one = one_line(subject ? subject : "", false);
	time_t t = (time_t)sent;
	struct tm tm;
	char zh[64], en[64];

	localtime_r(&t, &tm);
	strftime(zh, sizeof(zh), "%Y年%-m月%-d日 %H:%M", &tm);
	strftime(en, sizeof(en), "%Y-%m-%d %H:%M %z", &tm);
	sbuf_printf(&out,
	    "您好：\n\n"
	    "我们于 %s 发送了《%s》，尚未收到贵单位的签收确认。"
	    "收到后请回复本邮件确认（签收）；如已确认，请忽略本提醒。\n\n"
	    "Hello,\n\n"
	    "On %s we sent \"%s\" and have not yet had your confirmation of "
	    "receipt. Please reply to this message to confirm receipt; if you "
	    "have already confirmed, please ignore this reminder.\n",
	    zh, one, en, one);
	free(one);
	return sbuf_steal(&out);
}

char *
compose_reminder(const struct compose_reminder_in *in, size_t *len, char *err,
    size_t errsz)
{
	char *subject, *body, *m;

	if (in->original_id == NULL || in->receipt_to == NULL) {
		snprintf(err, errsz, "a reminder needs the issue's Message-ID and the "
		    "address confirmations go to");
		return NULL;
	}
	subject = compose_reminder_subject(in->subject);
	body = compose_reminder_body(in->subject, in->sent);
	struct compose_input ci = {
		.from_display = in->from_display,
		.from_address = in->from_address,
		.reply_to_display = in->reply_to_display,
		.reply_to_address = in->reply_to_address,
		.subject = subject,
		.message_id = in->message_id,
		.issue_id = in->issue_id,
		.date = in->date,
		.body = body,
		.rcpts = in->rcpts,
		.n_rcpts = in->n_rcpts,
		.receipt_to = in->receipt_to,
		.in_reply_to = in->original_id,
	};
	m = compose_message(&ci, len, err, errsz);
	free(subject);
	free(body);
	return m;
}
