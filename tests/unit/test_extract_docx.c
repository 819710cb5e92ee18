#include "testextract.h"

#include "sbuf.h"

#define W_NS "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" " \
	"xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\" " \
	"xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\" " \
	"xmlns:wps=\"http://schemas.microsoft.com/office/word/2010/wordprocessingShape\" " \
	"xmlns:v=\"urn:schemas-microsoft-com:vml\""
#define DOC(body) "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n" \
	"<w:document " W_NS "><w:body>" body "<w:sectPr/></w:body></w:document>"
#define P(s) "<w:p><w:r><w:t>" s "</w:t></w:r></w:p>"

static const char content_types[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
	"<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
	"<Override PartName=\"/word/document.xml\" ContentType=\"application/"
	"vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>"
	"</Types>";
static const char package_rels[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	"<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/"
	"2006/relationships/officeDocument\" Target=\"word/document.xml\"/>"
	"</Relationships>";

/* Extracts a docx made of the package parts and document.xml = doc. */
static int
run(const char *doc, const struct extract_limits *limp, char **text, char *err,
    size_t errsz)
{
	struct zentry e[] = {
		{ "[Content_Types].xml", content_types, 0, false },
		{ "_rels/.rels", package_rels, 0, false },
		{ "word/document.xml", doc, 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	int rc;

	if (limp == NULL) {
		extract_limits_default(&lim);
		limp = &lim;
	}
	z = mkzip(e, 3, &zn);
	*text = NULL;
	err[0] = '\0';
	rc = extract_docx(z, zn, limp, text, &tl, err, errsz);
	if (rc == 0)
		assert_int_equal(strlen(*text), tl);
	else
		assert_true(err[0] != '\0');
	free(z);
	return rc;
}

static char *
text_of(const char *doc)
{
	char *t, err[256];

	if (run(doc, NULL, &t, err, sizeof(err)) != 0)
		fail_msg("extract_docx: %s", err);
	return t;
}

static void
refused(const char *doc, const struct extract_limits *lim, const char *why)
{
	char *t, err[256];

	if (run(doc, lim, &t, err, sizeof(err)) == 0)
		fail_msg("accepted, text \"%s\"", t);
	if (strstr(err, why) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", err, why);
}

/* ---- features ----------------------------------------------------------- */

static void
test_paragraphs_breaks_tabs(void **state)
{
	char *t;

	(void)state;
	t = text_of(DOC(P("第一段") "<w:p><w:r><w:t>甲</w:t><w:br/><w:t>乙</w:t>"
	    "<w:cr/><w:t>丙</w:t><w:tab/><w:t xml:space=\"preserve\">丁 </w:t></w:r>"
	    "<w:r><w:t>戊</w:t></w:r></w:p>" "<w:p/>" P("末段")));
	assert_string_equal(t, "第一段\n\n甲\n乙\n丙\t丁 戊\n\n末段\n");
	free(t);
}

static void
test_tables_row_by_row(void **state)
{
	char *t;

	(void)state;
	/* a row of several cells on one line, tab-joined; a one-column
	 * table (the 版记) a row a line; an empty row left out */
	t = text_of(DOC(P("正文")
	    "<w:tbl><w:tblPr/><w:tblGrid/>"
	    "<w:tr><w:tc><w:tcPr/>" P("编校：甲") "</w:tc><w:tc>" P("核签：乙") "</w:tc></w:tr>"
	    "<w:tr><w:tc>" P("") "</w:tc><w:tc>" P("") "</w:tc></w:tr>"
	    "<w:tr><w:tc>" P("一") P("二") "</w:tc><w:tc>" P("三") "</w:tc></w:tr>"
	    "</w:tbl>"
	    "<w:tbl><w:tr><w:tc>" P("报：中央文明办") "</w:tc></w:tr>"
	    "<w:tr><w:tc>" P("发：各区文明办") "</w:tc></w:tr></w:tbl>"));
	assert_string_equal(t, "正文\n\n编校：甲\t核签：乙\n一 二\t三\n\n"
	    "报：中央文明办\n发：各区文明办\n");
	free(t);
}

static void
test_text_boxes_once(void **state)
{
	char *t;

	(void)state;
	/* the text box twice, DrawingML in the Choice and VML in the
	 * Fallback: one branch read; a text box of its own lines */
	t = text_of(DOC("<w:p><w:r><w:t>前</w:t></w:r><w:r><mc:AlternateContent>"
	    "<mc:Choice Requires=\"wps\"><w:drawing><wps:wsp><wps:txbx><w:txbxContent>"
	    P("框中文字") "</w:txbxContent></wps:txbx></wps:wsp></w:drawing></mc:Choice>"
	    "<mc:Fallback><w:pict><v:shape><v:textbox><w:txbxContent>" P("框中文字")
	    "</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>"
	    "</mc:AlternateContent></w:r><w:r><w:t>后</w:t></w:r></w:p>"
	    "<w:p><w:r><mc:AlternateContent><mc:Fallback><w:pict><v:shape><v:textbox>"
	    "<w:txbxContent>" P("只有备选") "</w:txbxContent></v:textbox></v:shape>"
	    "</w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"));
	assert_string_equal(t, "前\n框中文字\n\n后\n\n只有备选\n");
	free(t);
}

static void
test_fields_display_text(void **state)
{
	char *t;

	(void)state;
	t = text_of(DOC("<w:p><w:r><w:t>第</w:t></w:r>"
	    "<w:r><w:fldChar w:fldCharType=\"begin\"/></w:r>"
	    "<w:r><w:instrText> PAGE \\* MERGEFORMAT </w:instrText></w:r>"
	    "<w:r><w:fldChar w:fldCharType=\"separate\"/></w:r>"
	    "<w:r><w:t>3</w:t></w:r>"
	    "<w:r><w:fldChar w:fldCharType=\"end\"/></w:r>"
	    "<w:r><w:t>页</w:t></w:r></w:p>"
	    /* a field whose code holds text runs, and a simple field */
	    "<w:p><w:r><w:fldChar w:fldCharType=\"begin\"/></w:r>"
	    "<w:r><w:t>HYPERLINK \"x\"</w:t></w:r>"
	    "<w:r><w:fldChar w:fldCharType=\"separate\"/></w:r>"
	    "<w:r><w:t>链接</w:t></w:r><w:r><w:fldChar w:fldCharType=\"end\"/></w:r>"
	    "<w:fldSimple w:instr=\"DATE\"><w:r><w:t>2020年6月30日</w:t></w:r></w:fldSimple></w:p>"));
	assert_string_equal(t, "第3页\n\n链接2020年6月30日\n");
	free(t);
}

static void
test_revisions(void **state)
{
	char *t;

	(void)state;
	t = text_of(DOC("<w:p><w:r><w:t>保留</w:t></w:r>"
	    "<w:del w:id=\"1\" w:author=\"a\"><w:r><w:delText>删去</w:delText></w:r></w:del>"
	    "<w:ins w:id=\"2\" w:author=\"a\"><w:r><w:t>插入</w:t></w:r></w:ins>"
	    "<w:moveFrom><w:r><w:t>移走</w:t></w:r></w:moveFrom>"
	    "<w:del><w:r><w:t>删去二</w:t></w:r></w:del>"
	    "<w:moveTo><w:r><w:t>移来</w:t></w:r></w:moveTo>"
	    "<w:r><w:delText>孤立删字</w:delText></w:r></w:p>"));
	assert_string_equal(t, "保留插入移来\n");
	free(t);
}

static void
test_headers_footers_once(void **state)
{
	static const char doc_rels[] =
	    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer\" Target=\"footer1.xml\"/>"
	    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/header\" Target=\"header1.xml\"/>"
	    "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer\" Target=\"/word/footer2.xml\"/>"
	    "<Relationship Id=\"rId4\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink\" Target=\"http://example.org/\" TargetMode=\"External\"/>"
	    "<Relationship Id=\"rId5\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer\" Target=\"footer3.xml\"/>"
	    "</Relationships>";
	struct zentry e[] = {
		{ "[Content_Types].xml", content_types, 0, false },
		{ "_rels/.rels", package_rels, 0, false },
		{ "word/document.xml", DOC("<w:p><w:r><w:t>正文</w:t></w:r></w:p>"
		    "<w:sectPr><w:headerReference r:id=\"rId2\"/>"
		    "<w:footerReference r:id=\"rId1\"/></w:sectPr>"), 0, false },
		{ "word/_rels/document.xml.rels", doc_rels, 0, false },
		{ "word/header1.xml", "<w:hdr " W_NS ">" P("内部资料") "</w:hdr>", 0, false },
		{ "word/footer1.xml", "<w:ftr " W_NS ">"
		    "<w:tbl><w:tr><w:tc>" P("报：中央文明办") "</w:tc></w:tr></w:tbl></w:ftr>",
		    0, false },
		/* the first-page footer, the same text: once */
		{ "word/footer2.xml", "<w:ftr " W_NS "><w:tbl><w:tr><w:tc>"
		    P("报：中央文明办") "</w:tc></w:tr></w:tbl></w:ftr>", 0, false },
		/* a page-number footer: a field's display text */
		{ "word/footer3.xml", "<w:ftr " W_NS "><w:p><w:r><w:t>- </w:t></w:r>"
		    "<w:fldSimple w:instr=\"PAGE\"><w:r><w:t>1</w:t></w:r></w:fldSimple>"
		    "<w:r><w:t xml:space=\"preserve\"> -</w:t></w:r></w:p></w:ftr>", 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, sizeof(e) / sizeof(e[0]), &zn);
	if (extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* the header above the body, where it prints; footers after */
	assert_string_equal(t, "内部资料\n\n正文\n\n报：中央文明办\n\n- 1 -\n");
	free(t);
	free(z);
}

static void
test_main_part_by_relation(void **state)
{
	/* the document where the package relation says, not at the usual path */
	struct zentry e[] = {
		{ "_rels/.rels", "<Relationships xmlns=\"http://schemas.openxmlformats.org/"
		    "package/2006/relationships\"><Relationship Id=\"r\" Type=\"http://"
		    "purl.oclc.org/ooxml/officeDocument/relationships/officeDocument\" "
		    "Target=\"/Word/Main.xml\"/></Relationships>", 0, false },
		/* strict OOXML namespace */
		{ "word/main.xml", "<w:document xmlns:w=\"http://purl.oclc.org/ooxml/"
		    "wordprocessingml/main\"><w:body><w:p><w:r><w:t>严格命名空间</w:t>"
		    "</w:r></w:p></w:body></w:document>", 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, 2, &zn);
	if (extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(t, "严格命名空间\n");
	free(t);
	free(z);
}

static void
test_no_text(void **state)
{
	(void)state;
	refused(DOC("<w:p/><w:p><w:r><w:t>   </w:t></w:r></w:p>"), NULL, "no text");
	refused(DOC(""), NULL, "no text");
}

static void
test_text_limit(void **state)
{
	struct extract_limits lim;

	(void)state;
	extract_limits_default(&lim);
	lim.max_text = 10;
	refused(DOC(P("0123456789abc")), &lim, "more than 10 bytes of text");
}

/* ---- hostile ------------------------------------------------------------ */

static void
test_document_missing(void **state)
{
	struct zentry e[] = {
		{ "[Content_Types].xml", content_types, 0, false },
		{ "word/styles.xml", "<x/>", 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, 2, &zn);
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_null(t);
	assert_non_null(strstr(err, "word/document.xml"));
	free(z);
}

static void
test_zip_bomb(void **state)
{
	struct zentry e[] = {
		{ "word/document.xml", NULL, 4 * 1024 * 1024, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, 1, &zn);
	assert_true(zn < 4 * 1024 * 1024 / 200);
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "zip bomb"));
	/* and past the size of one entry, whatever its ratio */
	lim.max_ratio = 100000;
	lim.max_entry = 1024 * 1024;
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than the 1048576 allowed"));
	/* and past the total of the archive */
	lim.max_entry = 32 * 1024 * 1024;
	lim.max_unzipped = 1024 * 1024;
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "inflate to more than"));
	free(z);
}

static void
test_too_many_entries(void **state)
{
	struct zentry e[12];
	char names[12][32];
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	for (int i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "word/media/image%d.png", i);
		e[i] = (struct zentry){ names[i], "x", 0, false };
	}
	e[0] = (struct zentry){ "word/document.xml", DOC(P("正文")), 0, false };
	extract_limits_default(&lim);
	lim.max_entries = 11;
	z = mkzip(e, 12, &zn);
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "12 entries"));
	lim.max_entries = 12;
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), 0);
	free(t);
	free(z);
}

static void
test_truncated_and_corrupt(void **state)
{
	struct zentry e[] = {
		{ "word/document.xml", DOC(P("正文正文正文正文正文正文正文正文正文正文")), 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, 1, &zn);
	for (size_t cut = 0; cut < zn; cut += (cut < 64 ? 1 : 7)) {
		t = NULL;
		assert_int_equal(extract_docx(z, cut, &lim, &t, &tl, err, sizeof(err)), -1);
		assert_null(t);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), 0);
	free(t);
	assert_int_equal(extract_docx(z, zn / 2, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "zip"));
	/* the compressed data damaged, the directory intact */
	z[60] ^= 0x55;
	z[61] ^= 0x55;
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_true(strstr(err, "damaged") != NULL || strstr(err, "XML") != NULL);
	free(z);
}

/* Sets the uncompressed size the headers claim for the (only) entry. */
static void
claim_size(unsigned char *z, size_t zn, uint32_t size)
{
	for (size_t i = 0; i + 30 <= zn; i++) {
		if (memcmp(z + i, "PK\3\4", 4) == 0)
			memcpy(z + i + 22, &size, 4);	/* little-endian host */
		else if (memcmp(z + i, "PK\1\2", 4) == 0)
			memcpy(z + i + 24, &size, 4);
	}
}

static void
test_lying_sizes(void **state)
{
	struct zentry e[] = {
		{ "word/document.xml", DOC(P("正文正文正文正文正文正文正文正文")), 0, false },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	/* the data inflates to more than the headers say: never trusted */
	z = mkzip(e, 1, &zn);
	claim_size(z, zn, 20);
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_null(t);
	if (strstr(err, "damaged") == NULL && strstr(err, "header") == NULL)
		fail_msg("%s", err);
	free(z);
	/* and to less */
	z = mkzip(e, 1, &zn);
	claim_size(z, zn, 5000);
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_null(t);
	if (strstr(err, "damaged") == NULL && strstr(err, "header") == NULL)
		fail_msg("%s", err);
	free(z);
}

static void
test_encrypted_entry(void **state)
{
	struct zentry e[] = {
		{ "word/document.xml", DOC(P("机密正文")), 0, true },
	};
	struct extract_limits lim;
	unsigned char *z;
	size_t zn, tl;
	char *t, err[256];

	(void)state;
	extract_limits_default(&lim);
	z = mkzip(e, 1, &zn);
	assert_int_equal(extract_docx(z, zn, &lim, &t, &tl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "encrypted"));
	free(z);
}

static void
test_deep_xml(void **state)
{
	struct sbuf b = SBUF_INIT;
	struct extract_limits lim;

	(void)state;
	/* 10 000 levels: a zip bomb by its ratio; with the ratio let
	 * through, libxml2's own depth limit stops it */
	extract_limits_default(&lim);
	lim.max_ratio = 100000;
	sbuf_puts(&b, "<w:document " W_NS "><w:body>");
	for (int i = 0; i < 10000; i++)
		sbuf_puts(&b, "<w:sdt>");
	sbuf_puts(&b, P("深"));
	for (int i = 0; i < 10000; i++)
		sbuf_puts(&b, "</w:sdt>");
	sbuf_puts(&b, "</w:body></w:document>");
	refused(sbuf_str(&b), NULL, "zip bomb");
	refused(sbuf_str(&b), &lim, "nested too deep");
	sbuf_free(&b);

	/* 100 levels: libxml2 takes it, lim->max_depth does not */
	sbuf_puts(&b, "<w:document " W_NS "><w:body>");
	for (int i = 0; i < 100; i++)
		sbuf_puts(&b, "<w:sdt><w:sdtContent>");
	sbuf_puts(&b, P("深"));
	for (int i = 0; i < 100; i++)
		sbuf_puts(&b, "</w:sdtContent></w:sdt>");
	sbuf_puts(&b, "</w:body></w:document>");
	extract_limits_default(&lim);
	lim.max_depth = 50;
	refused(sbuf_str(&b), &lim, "nested deeper than 50");
	lim.max_depth = 256;
	{
		char *t, err[256];
		assert_int_equal(run(sbuf_str(&b), &lim, &t, err, sizeof(err)), 0);
		assert_string_equal(t, "深\n");
		free(t);
	}
	sbuf_free(&b);
}

static void
test_billion_laughs(void **state)
{
	(void)state;
	refused("<?xml version=\"1.0\"?>\n<!DOCTYPE w:document [\n"
	    "<!ENTITY lol \"lol\">\n"
	    "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	    "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	    "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	    "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
	    "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
	    "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
	    "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
	    "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
	    "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
	    "]>\n<w:document " W_NS "><w:body>" P("&lol9;") "</w:body></w:document>",
	    NULL, "declares an entity \"lol\"");
}

static void
test_external_entity(void **state)
{
	char *t, err[256];

	(void)state;
	assert_int_equal(run("<?xml version=\"1.0\"?>\n<!DOCTYPE w:document [\n"
	    "<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
	    "<w:document " W_NS "><w:body>" P("x&xxe;") "</w:body></w:document>",
	    NULL, &t, err, sizeof(err)), -1);
	assert_null(t);
	assert_non_null(strstr(err, "external entity \"xxe\""));
	/* an external DTD, a parameter entity: refused too */
	refused("<?xml version=\"1.0\"?>\n<!DOCTYPE w:document SYSTEM "
	    "\"file:///etc/passwd\">\n<w:document " W_NS "><w:body>" P("x")
	    "</w:body></w:document>", NULL, "external document type");
	refused("<?xml version=\"1.0\"?>\n<!DOCTYPE w:document [\n"
	    "<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n"
	    "<w:document " W_NS "><w:body>" P("x") "</w:body></w:document>",
	    NULL, "external entity");
	/* a DOCTYPE that declares nothing is harmless */
	assert_int_equal(run("<?xml version=\"1.0\"?>\n<!DOCTYPE w:document [\n"
	    "<!ELEMENT w:t (#PCDATA)>]>\n<w:document " W_NS "><w:body>" P("无害")
	    "</w:body></w:document>", NULL, &t, err, sizeof(err)), 0);
	assert_string_equal(t, "无害\n");
	free(t);
}

static void
test_bad_xml(void **state)
{
	(void)state;
	refused("<w:document " W_NS "><w:body><w:p>", NULL, "bad XML");
	refused("not xml at all", NULL, "bad XML");
	refused("", NULL, "bad XML");
}

/* ---- sniffing ----------------------------------------------------------- */

static void
test_sniff(void **state)
{
	struct zentry docx[] = { { "word/document.xml", DOC(P("x")), 0, false } };
	struct zentry ofd[] = { { "OFD.xml", "<OFD/>", 0, false } };
	struct zentry other[] = { { "content.xml", "<x/>", 0, false } };
	unsigned char *z;
	size_t zn;
	struct extract_limits lim;

	(void)state;
	z = mkzip(docx, 1, &zn);
	assert_int_equal(extract_sniff("a.docx", z, zn), EXTRACT_DOCX);
	assert_int_equal(extract_sniff("a.pdf", z, zn), EXTRACT_DOCX);
	assert_int_equal(extract_sniff(NULL, z, zn), EXTRACT_DOCX);
	free(z);
	z = mkzip(ofd, 1, &zn);
	assert_int_equal(extract_sniff("a.docx", z, zn), EXTRACT_OFD);
	assert_int_equal(extract_sniff("a.ofd", z, zn), EXTRACT_OFD);
	free(z);
	z = mkzip(other, 1, &zn);
	assert_int_equal(extract_sniff("a.odt", z, zn), EXTRACT_UNKNOWN);
	assert_int_equal(extract_sniff("a.pdf", z, zn), EXTRACT_UNKNOWN);
	/* a zip that says nothing more: the name decides between the two */
	assert_int_equal(extract_sniff("a.DOCX", z, zn), EXTRACT_DOCX);
	assert_int_equal(extract_sniff("a.ofd", z, zn), EXTRACT_OFD);
	/* a truncated zip is still a zip: not text */
	assert_int_equal(extract_sniff("a.txt", z, 10), EXTRACT_UNKNOWN);
	free(z);

	assert_int_equal(extract_sniff("a.txt", (const unsigned char *)"%PDF-1.7\n", 9),
	    EXTRACT_PDF);
	assert_int_equal(extract_sniff("a.docx", (const unsigned char *)
	    "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0", 10), EXTRACT_LEGACY);
	/* the bytes say nothing: the name */
	assert_int_equal(extract_sniff("a.doc", (const unsigned char *)"{\\rtf1", 6),
	    EXTRACT_LEGACY);
	assert_int_equal(extract_sniff("a.WPS", (const unsigned char *)"x", 1),
	    EXTRACT_LEGACY);
	assert_int_equal(extract_sniff("a.pdf", (const unsigned char *)"hello", 5),
	    EXTRACT_UNKNOWN);
	assert_int_equal(extract_sniff("a.docx", (const unsigned char *)"", 0),
	    EXTRACT_UNKNOWN);
	assert_int_equal(extract_sniff("简报.txt", (const unsigned char *)"简报", 6),
	    EXTRACT_TEXT);
	assert_int_equal(extract_sniff("a.md", (const unsigned char *)"# x", 3),
	    EXTRACT_TEXT);
	assert_int_equal(extract_sniff("dir.d/README", (const unsigned char *)"x", 1),
	    EXTRACT_TEXT);
	assert_int_equal(extract_sniff(NULL, NULL, 0), EXTRACT_TEXT);

	assert_string_equal(extract_format_name(EXTRACT_TEXT), "text");
	assert_string_equal(extract_format_name(EXTRACT_DOCX), "docx");
	assert_string_equal(extract_format_name(EXTRACT_PDF), "pdf");
	assert_string_equal(extract_format_name(EXTRACT_OFD), "ofd");
	assert_string_equal(extract_format_name(EXTRACT_LEGACY), "legacy");
	assert_string_equal(extract_format_name(EXTRACT_UNKNOWN), "unknown");
	assert_string_equal(extract_format_name((enum extract_format)99), "unknown");

	extract_limits_default(&lim);
	assert_int_equal(lim.max_input, 64 * 1024 * 1024);
	assert_int_equal(lim.max_unzipped, 64 * 1024 * 1024);
	assert_int_equal(lim.max_entry, 32 * 1024 * 1024);
	assert_int_equal(lim.max_ratio, 200);
	assert_int_equal(lim.max_entries, 10000);
	assert_int_equal(lim.max_depth, 256);
	assert_int_equal(lim.max_pages, 500);
	assert_int_equal(lim.max_text, 4 * 1024 * 1024);
	assert_int_equal(lim.max_seconds, 20);
	assert_int_equal(lim.max_memory, 1024 * 1024 * 1024);
}

static void
test_max_input(void **state)
{
	struct extract_limits lim;

	(void)state;
	extract_limits_default(&lim);
	lim.max_input = 100;
	refused(DOC(P("正文")), &lim, "more than the 100 allowed");
}

/* ---- the seeds, as Word documents -------------------------------------- */

static void
test_seed_capital_docx(void **state)
{
	(void)state;
	check_seed_fixture("docx", SEED_CAPITAL, extract_docx);
}

static void
test_seed_mentougou_docx(void **state)
{
	(void)state;
	check_seed_fixture("docx", SEED_MENTOUGOU, extract_docx);
}

/*
 * A header that repeats the masthead (the series title, the issuer) does
 * not change what the seed parses to: it is not run into the title.
 */
static void
test_seed_benign_header_docx(void **state)
{
	(void)state;
	check_seed_fixture_header("docx", SEED_CAPITAL, extract_docx,
	    "首都精神文明建设情况简报", NULL);
	check_seed_fixture_header("docx", SEED_CAPITAL, extract_docx,
	    "首都精神文明办\n首都精神文明建设情况简报", NULL);
	check_seed_fixture_header("docx", SEED_MENTOUGOU, extract_docx,
	    "门头沟区创建全国文明城市总指挥部办公室", NULL);
	check_seed_fixture_header("docx", SEED_MENTOUGOU, extract_docx,
	    "门头沟区创建全国文明城市 工作快报", NULL);
}

/* 密级 printed only in the page header: the parser must see it (fail closed). */
static void
test_seed_secret_header_docx(void **state)
{
	(void)state;
	check_seed_fixture_header("docx", SEED_CAPITAL, extract_docx, "秘密★1年", "秘密");
	check_seed_fixture_header("docx", SEED_MENTOUGOU, extract_docx, "机密", "机密");
	/* a mark beside the repeated title is not left out as a repeat */
	check_seed_fixture_header("docx", SEED_CAPITAL, extract_docx,
	    "首都精神文明建设情况简报\n秘密", "秘密");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paragraphs_breaks_tabs),
		cmocka_unit_test(test_tables_row_by_row),
		cmocka_unit_test(test_text_boxes_once),
		cmocka_unit_test(test_fields_display_text),
		cmocka_unit_test(test_revisions),
		cmocka_unit_test(test_headers_footers_once),
		cmocka_unit_test(test_main_part_by_relation),
		cmocka_unit_test(test_no_text),
		cmocka_unit_test(test_text_limit),
		cmocka_unit_test(test_document_missing),
		cmocka_unit_test(test_zip_bomb),
		cmocka_unit_test(test_too_many_entries),
		cmocka_unit_test(test_truncated_and_corrupt),
		cmocka_unit_test(test_lying_sizes),
		cmocka_unit_test(test_encrypted_entry),
		cmocka_unit_test(test_deep_xml),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_external_entity),
		cmocka_unit_test(test_bad_xml),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_max_input),
		cmocka_unit_test(test_seed_capital_docx),
		cmocka_unit_test(test_seed_mentougou_docx),
		cmocka_unit_test(test_seed_benign_header_docx),
		cmocka_unit_test(test_seed_secret_header_docx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
