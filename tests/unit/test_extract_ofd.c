#include "testextract.h"

#include "sbuf.h"

#define NS "xmlns:ofd=\"http://www.ofdspec.org/2016\""
#define OFD_XML(root) "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
	"<ofd:OFD " NS " Version=\"1.0\" DocType=\"OFD\"><ofd:DocBody>" \
	"<ofd:DocInfo><ofd:DocID>x</ofd:DocID></ofd:DocInfo>" \
	"<ofd:DocRoot>" root "</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
#define DOCUMENT(pages) "<ofd:Document " NS "><ofd:CommonData><ofd:MaxUnitID>99" \
	"</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox>" \
	"</ofd:PageArea></ofd:CommonData><ofd:Pages>" pages "</ofd:Pages></ofd:Document>"
#define PAGE(objs) "<ofd:Page " NS "><ofd:Content><ofd:Layer ID=\"1\">" objs \
	"</ofd:Layer></ofd:Content></ofd:Page>"
/* a TextObject at (x, y) of size 5 with codes */
#define TO(x, y, codes) "<ofd:TextObject ID=\"9\" Boundary=\"" #x " " #y " 150 8\" " \
	"Font=\"2\" Size=\"5\">" codes "</ofd:TextObject>"
#define TC(x, y, s) "<ofd:TextCode X=\"" #x "\" Y=\"" #y "\">" s "</ofd:TextCode>"

/* Extracts an OFD of one document with the given pages (NULL-terminated). */
static int
run(const char *const *pages, const struct extract_limits *limp, char **text,
    char *err, size_t errsz)
{
	struct zentry e[16];
	char names[16][64];
	struct sbuf refs = SBUF_INIT, doc = SBUF_INIT;
	struct extract_limits lim;
	unsigned char *z;
	size_t n = 0, zn, tl;
	int rc;

	if (limp == NULL) {
		extract_limits_default(&lim);
		limp = &lim;
	}
	e[n++] = (struct zentry){ "OFD.xml", OFD_XML("Doc_0/Document.xml"), 0, false };
	for (size_t i = 0; pages[i] != NULL; i++) {
		snprintf(names[i], sizeof(names[i]), "Doc_0/Pages/Page_%zu/Content.xml", i);
		sbuf_printf(&refs, "<ofd:Page ID=\"%zu\" BaseLoc=\"Pages/Page_%zu/"
		    "Content.xml\"/>", i + 10, i);
		e[n++] = (struct zentry){ names[i], pages[i], 0, false };
	}
	sbuf_printf(&doc, "<ofd:Document %s><ofd:CommonData/><ofd:Pages>%s</ofd:Pages>"
	    "</ofd:Document>", NS, sbuf_str(&refs));
	e[n++] = (struct zentry){ "Doc_0/Document.xml", sbuf_str(&doc), 0, false };
	z = mkzip(e, n, &zn);
	sbuf_free(&refs);
	sbuf_free(&doc);
	*text = NULL;
	err[0] = '\0';
	rc = extract_ofd(z, zn, limp, text, &tl, err, errsz);
	if (rc == 0)
		assert_int_equal(strlen(*text), tl);
	else
		assert_true(err[0] != '\0');
	free(z);
	return rc;
}

static char *
text_of(const char *const *pages)
{
	char *t, err[256];

	if (run(pages, NULL, &t, err, sizeof(err)) != 0)
		fail_msg("extract_ofd: %s", err);
	return t;
}

static void
refused(const char *const *pages, const struct extract_limits *lim, const char *why)
{
	char *t, err[256];

	if (run(pages, lim, &t, err, sizeof(err)) == 0)
		fail_msg("accepted, text \"%s\"", t);
	if (strstr(err, why) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", err, why);
}

static void
test_lines_by_position(void **state)
{
	/*
	 * One TextObject per line; a line made of several objects and codes
	 * (a glyph each, a word each); a baseline that wobbles by less than
	 * half the font size stays on its line.
	 */
	const char *pages[] = {
		PAGE(TO(20, 20, TC(0, 5, "首都精神文明"))
		    TO(20, 30, TC(0, 5, "第")) TO(25, 30, TC(0, 5, "二"))
		    TO(30, 30.5, TC(0, 5, "行"))
		    TO(20, 40, TC(0, 5, "甲") TC(5, 5, "乙") TC(10, 7, "丙"))),
		NULL
	};
	char *t;

	(void)state;
	t = text_of(pages);

	assert_string_equal(t, "首都精神文明\n\n第二行\n\n甲乙丙\n");
	free(t);
}

static void
test_gaps_are_spaces(void **state)
{
	/* words placed apart without a space character between them */
	const char *pages[] = {
		PAGE(TO(20, 20, TC(0, 5, "编校：史佳怡") TC(40, 5, "核签：李争三"))
		    TO(20, 30, TC(0, 5, "第") TC(10, 5, "29") TC(20, 5, "期"))
		    /* ASCII at half width: no gap */
		    TO(20, 40, TC(0, 5, "ab") TC(5, 5, "cd"))),
		NULL
	};
	char *t;

	(void)state;
	t = text_of(pages);

	assert_string_equal(t, "编校：史佳怡 核签：李争三\n\n第 29 期\n\nabcd\n");
	free(t);
}

static void
test_delta_x(void **state)
{
	/* glyph offsets, "g N D" repeats: a wide one is a gap */
	const char *pages[] = {
		PAGE(TO(20, 20, "<ofd:TextCode X=\"0\" Y=\"5\" DeltaX=\"g 3 5 20 5\">"
		    "一二三四五</ofd:TextCode>")
		    TO(20, 30, "<ofd:TextCode X=\"0\" Y=\"5\" DeltaX=\"5.5 5.5\">"
		    "紧排字</ofd:TextCode>"
		    "<ofd:TextCode X=\"16.5\" Y=\"5\">续</ofd:TextCode>")
		    /* vertical offsets: each glyph on a line of its own */
		    TO(20, 40, "<ofd:TextCode X=\"0\" Y=\"5\" DeltaY=\"8 8\">竖排字"
		    "</ofd:TextCode>")),
		NULL
	};
	char *t;

	(void)state;
	t = text_of(pages);

	assert_string_equal(t, "一二三四 五\n\n紧排字续\n\n竖\n\n排\n\n字\n");
	free(t);
}

/*
 * Lines wrapped at the text block's right edge are one paragraph again; a
 * paragraph's last line, an indented first line, a heading end one: a
 * blank line, as the text seeds separate paragraphs.
 */
static void
test_wrapped_lines_rejoined(void **state)
{
	const char *pages[] = {
		PAGE(TO(20, 10, TC(0, 5, "【标题】"))
		    TO(20, 20, TC(10, 5, "一二三四五六七八九十一二三四"))
		    TO(20, 27, TC(0, 5, "五六七八九十一二三四五六七八九十"))
		    TO(20, 34, TC(0, 5, "完。"))
		    TO(20, 41, TC(10, 5, "二段一二三四五六七八九十一二"))
		    TO(20, 48, TC(0, 5, "三四"))),
		NULL
	};
	char *t;

	(void)state;
	t = text_of(pages);

	assert_string_equal(t, "【标题】\n\n一二三四五六七八九十一二三四"
	    "五六七八九十一二三四五六七八九十完。\n\n二段一二三四五六七八九十一二三四\n");
	free(t);
}

static void
test_pages_in_order(void **state)
{
	const char *pages[] = {
		PAGE(TO(20, 20, TC(0, 5, "第一页"))),
		/* a page with nothing on it still counts */
		PAGE(""),
		PAGE(TO(20, 20, TC(0, 5, "第三页")) TO(20, 30, TC(0, 5, "末行"))),
		NULL
	};
	char *t;

	(void)state;
	t = text_of(pages);

	assert_string_equal(t, "第一页\n\f\n\f\n第三页\n\n末行\n");
	free(t);
}

static void
test_max_pages(void **state)
{
	const char *pages[] = {
		PAGE(TO(20, 20, TC(0, 5, "一"))), PAGE(TO(20, 20, TC(0, 5, "二"))),
		PAGE(TO(20, 20, TC(0, 5, "三"))), NULL
	};
	struct extract_limits lim;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	lim.max_pages = 2;
	refused(pages, &lim, "more than 2 pages");
	lim.max_pages = 3;
	assert_int_equal(run(pages, &lim, &t, err, sizeof(err)), 0);
	free(t);
}

static void
test_namespaces_and_paths(void **state)
{
	/*
	 * The namespace as default (no prefix) and left out entirely; the
	 * document named from the root with a leading '/', a page by a path
	 * from the package root; objects inside a PageBlock.
	 */
	struct zentry e[] = {
		{ "OFD.xml", "<OFD xmlns=\"http://www.ofdspec.org/2016\"><DocBody>"
		    "<DocRoot> /Doc_0/Document.xml </DocRoot></DocBody></OFD>", 0, false },
		{ "Doc_0/Document.xml", "<Document><Pages><Page ID=\"1\" "
		    "BaseLoc=\"/Doc_0/Pages/Page_0/Content.xml\"/><Page ID=\"2\" "
		    "BaseLoc=\"Pages/../Pages/Page_1/Content.xml\"/></Pages></Document>",
		    0, false },
		{ "Doc_0/Pages/Page_0/Content.xml", "<Page xmlns=\"http://www.ofdspec.org/"
		    "2016\"><Content><Layer><PageBlock><TextObject Boundary=\"0 0 100 10\" "
		    "Size=\"4\"><TextCode X=\"1\" Y=\"4\">无前缀</TextCode></TextObject>"
		    "</PageBlock></Layer></Content></Page>", 0, false },
		{ "Doc_0/Pages/Page_1/Content.xml", "<Page><Content><Layer><TextObject "
		    "Boundary=\"0 0 100 10\" Size=\"4\"><TextCode X=\"1\" Y=\"4\">"
		    "无命名空间</TextCode></TextObject></Layer></Content></Page>", 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, 4, &zn);
	if (extract_ofd(z, zn, &lim, &t, &tl, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(t, "无前缀\n\f\n无命名空间\n");
	free(t);
	free(z);
}

static void
test_other_namespace_ignored(void **state)
{
	/* an element of another namespace that merely shares the name */
	const char *pages[] = {
		PAGE(TO(20, 20, TC(0, 5, "正文"))
		    "<x:TextObject xmlns:x=\"urn:other\"><x:TextCode X=\"0\" Y=\"5\">"
		    "别处</x:TextCode></x:TextObject>"),
		NULL
	};
	char *t;

	(void)state;
	t = text_of(pages);

	assert_string_equal(t, "正文\n");
	free(t);
}

static void
test_no_text(void **state)
{
	const char *pages[] = { PAGE(""), PAGE(TO(20, 20, TC(0, 5, "  "))), NULL };
	const char *none[] = { NULL };

	(void)state;
	refused(pages, NULL, "no text");
	refused(none, NULL, "lists no pages");
}

static void
test_structure_missing(void **state)
{
	struct zentry noofd[] = { { "Doc_0/Document.xml", DOCUMENT(""), 0, false } };
	struct zentry noroot[] = { { "OFD.xml", "<ofd:OFD " NS "><ofd:DocBody/></ofd:OFD>",
	    0, false } };
	struct zentry nodoc[] = { { "OFD.xml", OFD_XML("Doc_9/Document.xml"), 0, false } };
	struct zentry nopage[] = {
		{ "OFD.xml", OFD_XML("Doc_0/Document.xml"), 0, false },
		{ "Doc_0/Document.xml", DOCUMENT("<ofd:Page ID=\"1\" BaseLoc=\"Pages/P/C.xml\"/>"),
		    0, false },
	};
	struct { struct zentry *e; size_t n; const char *why; } cases[] = {
		{ noofd, 1, "no OFD.xml" },
		{ noroot, 1, "names no document" },
		{ nodoc, 1, "which the package lacks" },
		{ nopage, 2, "no such entry" },
	};
	struct extract_limits lim;

	(void)state;
	extract_limits_default(&lim);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t zn, tl;
		unsigned char *z = mkzip(cases[i].e, cases[i].n, &zn);
		char *t, err[256];

		assert_int_equal(extract_ofd(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
		assert_null(t);
		if (strstr(err, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\"", i, err);
		free(z);
	}
}

static void
test_hostile(void **state)
{
	struct sbuf deep = SBUF_INIT;
	const char *laughs[] = {
		"<?xml version=\"1.0\"?><!DOCTYPE ofd:Page [<!ENTITY a \"aaaaaaaaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
		"<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
		"<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
		"<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
		"<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
		"<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
		"<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">]>"
		PAGE(TO(20, 20, TC(0, 5, "&h;"))), NULL
	};
	const char *xxe[] = {
		"<?xml version=\"1.0\"?><!DOCTYPE ofd:Page [<!ENTITY x SYSTEM "
		"\"file:///etc/passwd\">]>" PAGE(TO(20, 20, TC(0, 5, "&x;"))), NULL
	};
	const char *pages[2] = { NULL, NULL };
	struct extract_limits lim;
	char *t, err[256];

	(void)state;
	refused(laughs, NULL, "declares an entity");
	assert_int_equal(run(xxe, NULL, &t, err, sizeof(err)), -1);
	assert_null(t);
	assert_non_null(strstr(err, "external entity"));

	/* 10 000 levels of PageBlock: libxml2 refuses past 256 */
	sbuf_printf(&deep, "<ofd:Page %s><ofd:Content><ofd:Layer>", NS);
	for (int i = 0; i < 10000; i++)
		sbuf_puts(&deep, "<ofd:PageBlock>");
	sbuf_puts(&deep, TO(20, 20, TC(0, 5, "深")));
	for (int i = 0; i < 10000; i++)
		sbuf_puts(&deep, "</ofd:PageBlock>");
	sbuf_puts(&deep, "</ofd:Layer></ofd:Content></ofd:Page>");
	pages[0] = sbuf_str(&deep);
	extract_limits_default(&lim);
	lim.max_ratio = 100000;
	refused(pages, NULL, "zip bomb");
	refused(pages, &lim, "nested too deep");
	sbuf_free(&deep);

	/* 100 levels: libxml2 takes them, lim->max_depth does not */
	sbuf_printf(&deep, "<ofd:Page %s><ofd:Content><ofd:Layer>", NS);
	for (int i = 0; i < 100; i++)
		sbuf_puts(&deep, "<ofd:PageBlock>");
	sbuf_puts(&deep, TO(20, 20, TC(0, 5, "深")));
	for (int i = 0; i < 100; i++)
		sbuf_puts(&deep, "</ofd:PageBlock>");
	sbuf_puts(&deep, "</ofd:Layer></ofd:Content></ofd:Page>");
	pages[0] = sbuf_str(&deep);
	lim.max_depth = 50;
	refused(pages, &lim, "nested deeper than 50");
	lim.max_depth = 256;
	assert_int_equal(run(pages, &lim, &t, err, sizeof(err)), 0);
	assert_string_equal(t, "深\n");
	free(t);
	sbuf_free(&deep);

	/* numbers that are not: positions and offsets fall back, never crash */
	pages[0] = PAGE("<ofd:TextObject Boundary=\"nan inf\" Size=\"-1\">"
	    "<ofd:TextCode X=\"1e308\" Y=\"x\" DeltaX=\"g 1e300 5 nan g\">怪数</ofd:TextCode>"
	    "<ofd:TextCode>续</ofd:TextCode></ofd:TextObject>");
	assert_int_equal(run(pages, NULL, &t, err, sizeof(err)), 0);
	assert_non_null(strstr(t, "怪数"));
	free(t);
}

static void
test_zip_limits(void **state)
{
	struct zentry bomb[] = {
		{ "OFD.xml", OFD_XML("Doc_0/Document.xml"), 0, false },
		{ "Doc_0/Document.xml", NULL, 2 * 1024 * 1024, false },
	};
	struct zentry enc[] = {
		{ "OFD.xml", OFD_XML("Doc_0/Document.xml"), 0, true },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(bomb, 2, &zn);
	assert_int_equal(extract_ofd(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "zip bomb"));
	assert_int_equal(extract_ofd(z, zn / 3, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "zip"));
	lim.max_entries = 1;
	assert_int_equal(extract_ofd(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "2 entries"));
	free(z);
	extract_limits_default(&lim);
	z = mkzip(enc, 1, &zn);
	assert_int_equal(extract_ofd(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "encrypted"));
	free(z);
}

static void
test_text_limit(void **state)
{
	const char *pages[] = { PAGE(TO(20, 20, TC(0, 5, "0123456789abc"))), NULL };
	struct extract_limits lim;

	(void)state;
	extract_limits_default(&lim);
	lim.max_text = 10;
	refused(pages, &lim, "more than 10 bytes of text");
}

/* ---- the seeds, as OFD documents ---------------------------------------- */

static void
test_seed_capital_ofd(void **state)
{
	(void)state;
	check_seed_fixture("ofd", SEED_CAPITAL, extract_ofd);
}

static void
test_seed_mentougou_ofd(void **state)
{
	(void)state;
	check_seed_fixture("ofd", SEED_MENTOUGOU, extract_ofd);
}

/*
 * Template pages (CommonData/TemplatePage, named by a page's Template):
 * a background one's text before the page's own, once however many pages
 * name it; a foreground one after; a ZOrder on the page's Template wins
 * over the template's own.
 */
static void
test_templates(void **state)
{
	static const char doc[] = "<ofd:Document " NS "><ofd:CommonData>"
	    "<ofd:TemplatePage ID=\"2\" BaseLoc=\"Tpls/T0.xml\"/>"
	    "<ofd:TemplatePage ID=\"3\" BaseLoc=\"/Doc_0/Tpls/T1.xml\" ZOrder=\"Foreground\"/>"
	    "<ofd:TemplatePage ID=\"4\" BaseLoc=\"Tpls/T2.xml\" ZOrder=\"Foreground\"/>"
	    "<ofd:TemplatePage ID=\"5\" BaseLoc=\"Tpls/missing.xml\"/>"
	    "</ofd:CommonData><ofd:Pages>"
	    "<ofd:Page ID=\"10\" BaseLoc=\"Pages/P0.xml\"/>"
	    "<ofd:Page ID=\"11\" BaseLoc=\"Pages/P1.xml\"/>"
	    "</ofd:Pages></ofd:Document>";
	struct zentry e[] = {
		{ "OFD.xml", OFD_XML("Doc_0/Document.xml"), 0, false },
		{ "Doc_0/Document.xml", doc, 0, false },
		{ "Doc_0/Pages/P0.xml", "<ofd:Page " NS "><ofd:Template TemplateID=\"2\"/>"
		    "<ofd:Template TemplateID=\"3\"/>"
		    "<ofd:Template TemplateID=\"4\" ZOrder=\"Background\"/>"
		    "<ofd:Template TemplateID=\"5\"/>"
		    "<ofd:Content><ofd:Layer ID=\"1\">" TO(20, 40, TC(0, 5, "正文一"))
		    "</ofd:Layer></ofd:Content></ofd:Page>", 0, false },
		{ "Doc_0/Pages/P1.xml", "<ofd:Page " NS "><ofd:Template TemplateID=\"2\"/>"
		    "<ofd:Content><ofd:Layer ID=\"1\">" TO(20, 40, TC(0, 5, "正文二"))
		    "</ofd:Layer></ofd:Content></ofd:Page>", 0, false },
		{ "Doc_0/Tpls/T0.xml", PAGE(TO(20, 10, TC(0, 5, "秘密★1年"))), 0, false },
		{ "Doc_0/Tpls/T1.xml", PAGE(TO(20, 280, TC(0, 5, "页脚"))), 0, false },
		{ "Doc_0/Tpls/T2.xml", PAGE(TO(20, 15, TC(0, 5, "底纹"))), 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];
	struct bulletin *b;

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, sizeof(e) / sizeof(e[0]), &zn);
	if (extract_ofd(z, zn, &lim, &t, &tl, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(t, "秘密★1年\n底纹\n正文一\n页脚\n\f\n正文二\n");
	assert_int_equal(bulletin_parse(t, tl, NULL, 0, &b, err, sizeof(err)), 0);
	assert_non_null(b->classification);
	assert_string_equal(b->classification, "秘密");
	bulletin_free(b);
	free(t);
	free(z);
}

/* A template repeating the masthead changes nothing; one with 秘密★ is read. */
static void
test_seed_template_header_ofd(void **state)
{
	(void)state;
	check_seed_fixture_header("ofd", SEED_CAPITAL, extract_ofd,
	    "首都精神文明建设情况简报", NULL);
	check_seed_fixture_header("ofd", SEED_MENTOUGOU, extract_ofd,
	    "门头沟区创建全国文明城市总指挥部办公室", NULL);
	check_seed_fixture_header("ofd", SEED_CAPITAL, extract_ofd, "秘密★1年", "秘密");
	check_seed_fixture_header("ofd", SEED_MENTOUGOU, extract_ofd, "机密★10年", "机密");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_by_position),
		cmocka_unit_test(test_gaps_are_spaces),
		cmocka_unit_test(test_delta_x),
		cmocka_unit_test(test_wrapped_lines_rejoined),
		cmocka_unit_test(test_pages_in_order),
		cmocka_unit_test(test_max_pages),
		cmocka_unit_test(test_namespaces_and_paths),
		cmocka_unit_test(test_other_namespace_ignored),
		cmocka_unit_test(test_no_text),
		cmocka_unit_test(test_structure_missing),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_zip_limits),
		cmocka_unit_test(test_text_limit),
		cmocka_unit_test(test_seed_capital_ofd),
		cmocka_unit_test(test_seed_mentougou_ofd),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_seed_template_header_ofd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
