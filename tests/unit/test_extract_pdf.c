#include "testutil.h"

#include "bulletin.h"
#include "extract.h"
#include "testextract.h"
#include "testpdf.h"

/*
 * extract_pdf, called in this process (extract_document's child is
 * test_extract_run's business): the seeds exported as PDF read to the
 * tiers and fields of the text seeds; hostile PDFs are refused with a
 * reason.
 */

static int
extract(const unsigned char *pdf, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz)
{
	struct extract_limits def;

	if (lim == NULL) {
		test_pdf_limits(&def);
		lim = &def;
	}
	err[0] = '\0';
	return extract_pdf(pdf, len, lim, text, textlen, err, errsz);
}

static void
expect_refusal(const unsigned char *pdf, size_t len, const struct extract_limits *lim,
    const char *needle)
{
	char err[512], *text = (char *)1;
	size_t textlen = 1;

	assert_int_equal(extract(pdf, len, lim, &text, &textlen, err, sizeof(err)), -1);
	assert_null(text);
	assert_int_equal(textlen, 0);
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' does not contain '%s'", err, needle);
}

/* ---- the seeds ----------------------------------------------------------- */

#define assert_same_str(a, b) do { \
	if ((a) == NULL || (b) == NULL) \
		assert_ptr_equal((a), (b)); \
	else \
		assert_string_equal((a), (b)); \
} while (0)

/* got, parsed from the PDF's text, has the header, tiers and fields of want. */
static void
assert_same_bulletin(const struct bulletin *want, const struct bulletin *got)
{
	assert_same_str(got->title, want->title);
	assert_int_equal(got->issue_no, want->issue_no);
	assert_int_equal(got->total_issue_no, want->total_issue_no);
	assert_same_str(got->issuer, want->issuer);
	assert_same_str(got->date, want->date);
	assert_same_str(got->classification, want->classification);
	assert_same_str(got->unrecognised_mark, want->unrecognised_mark);
	assert_int_equal(got->n_tiers, want->n_tiers);
	for (size_t i = 0; i < want->n_tiers; i++) {
		const struct bulletin_tier *w = &want->tiers[i], *g = &got->tiers[i];
		assert_string_equal(g->keyword, w->keyword);
		assert_string_equal(g->label, w->label);
		if (g->n_units != w->n_units)
			fail_msg("tier %s: %zu units, expected %zu", w->keyword, g->n_units,
			    w->n_units);
		for (size_t j = 0; j < w->n_units; j++)
			assert_string_equal(g->units[j], w->units[j]);
	}
	assert_int_equal(got->n_fields, want->n_fields);
	for (size_t i = 0; i < want->n_fields; i++) {
		assert_string_equal(got->fields[i].key, want->fields[i].key);
		assert_string_equal(got->fields[i].value, want->fields[i].value);
	}
	assert_non_null(got->body);
}

/* s without whitespace and Markdown's '*' and '#' (a PDF prints bold, not stars). */
static char *
squeeze(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	assert_non_null(out);
	for (; *s; s++)
		if (!strchr(" \t\n\f\r*#", *s))
			*o++ = *s;
	*o = '\0';
	return out;
}

static struct bulletin *
parse_text(const char *text, size_t len)
{
	struct bulletin *b = NULL;
	char err[256];

	assert_int_equal(bulletin_parse(text, len, NULL, 0, &b, err, sizeof(err)), 0);
	return b;
}

static size_t
count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* Returns the PDF's text; checks it parses like the text seed. */
static char *
check_seed(const char *seed, size_t pages)
{
	size_t seedlen = 0, pdflen, textlen;
	char *seedtext = read_seed(seed, &seedlen), *text, err[512];
	unsigned char *pdf = test_pdf_fixture("pdf", seed, &pdflen);
	struct bulletin *want, *got;

	assert_int_equal(extract(pdf, pdflen, NULL, &text, &textlen, err, sizeof(err)), 0);
	assert_int_equal(strlen(text), textlen);
	/* one '\f' on a line of its own between pages */
	assert_int_equal(count_char(text, '\f'), pages - 1);
	assert_non_null(strstr(text, "\n\f\n"));
	want = parse_text(seedtext, seedlen);
	got = parse_text(text, textlen);
	assert_same_bulletin(want, got);
	assert_paragraphs_like(want->body, got->body, "pdf");
	/* the whole body, every character in order: nothing lost or moved */
	char *wb = squeeze(want->body), *gb = squeeze(got->body);
	assert_string_equal(gb, wb);
	free(wb);
	free(gb);
	/* the page numbers the fixture prints ("— 2 —") are not text */
	assert_null(strstr(got->body, "\xe2\x80\x94" "2" "\xe2\x80\x94"));
	assert_null(strstr(text, "\xe2\x80\x94" "1" "\xe2\x80\x94"));
	bulletin_free(want);
	bulletin_free(got);
	free(pdf);
	free(seedtext);
	return text;
}

static void
test_seed_capital(void **state)
{
	(void)state;
	char *text = check_seed(SEED_CAPITAL, 4);

	assert_memory_equal(text, "首都精神文明建设情况简报\n\n第 29 期\n\n",
	    strlen("首都精神文明建设情况简报\n\n第 29 期\n\n"));
	/* lines wrapped by the layout are one paragraph again, also in the 版记 */
	assert_non_null(strstr(text, "\n\n区四套班子领导高度重视、高位推进文明城区创建工作，"
	    "抓部门联动、抓常态管理、抓守土有责，各项工作纵深推进。\n\n"));
	assert_non_null(strstr(text, "\n\n报:中央文明办,首都文明委主任、副主任,市委、市人大、"
	    "市政府、市政协。\n\n"));
	/* a paragraph's last line, a heading and a short line end a paragraph: a blank line */
	assert_non_null(strstr(text, "\n\n(延庆区文明办)\n\n责编:梅雪峰\n\n核稿:田文松\n\n"));
	assert_non_null(strstr(text, "\n\n【文明创建】\n\n大兴区齐心协力 吹响全国文明城区创建冲锋号\n\n"));
	free(text);
}

/* The 版记 here has two entries a line ("编校：… 核签：…"), set in two columns. */
static void
test_seed_mentougou(void **state)
{
	(void)state;
	char *text = check_seed(SEED_MENTOUGOU, 4);

	/* the right column, flush right, is not taken for a wrapped line */
	assert_non_null(strstr(text, "\n\n编校：史佳怡 核签：李争三\n\n报：首都文明办、区委、"
	    "区人大、区政府、区政协领导同志\n\n发："));
	free(text);
}

/* ---- refusals ------------------------------------------------------------ */

static void
test_scanned(void **state)
{
	(void)state;
	size_t len;
	unsigned char *pdf = test_pdf_fixture("scanned", SEED_MENTOUGOU, &len);

	expect_refusal(pdf, len, NULL, "no text layer");
	expect_refusal(pdf, len, NULL, "do not scan");
	free(pdf);
}

static void
test_encrypted(void **state)
{
	(void)state;
	size_t len;
	unsigned char *pdf = test_pdf_fixture("encrypted", NULL, &len);

	expect_refusal(pdf, len, NULL, "encrypted PDF: save it without a password");
	free(pdf);
}

/* Encrypted with an empty user password (an owner's restrictions only): it opens, it is read. */
static void
test_restricted(void **state)
{
	(void)state;
	size_t len, textlen;
	unsigned char *pdf = test_pdf_fixture("restricted", NULL, &len);
	char *text, err[512];

	assert_int_equal(extract(pdf, len, NULL, &text, &textlen, err, sizeof(err)), 0);
	assert_string_equal(text, "encrypted bulletin");
	free(text);
	free(pdf);
}

#define CATALOG "<< /Type /Catalog /Pages 2 0 R >>"
#define FONT "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"

static const char hello_content[] =
    "<< /Length 42 >>\nstream\nBT /F1 12 Tf 72 720 Td (hello world) Tj ET\nendstream";

static void
test_handmade_text(void **state)
{
	(void)state;
	const char *objs[] = {
		CATALOG,
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
		    "/Resources << /Font << /F1 5 0 R >> >> >>",
		hello_content,
		FONT,
	};
	size_t len, textlen;
	unsigned char *pdf = test_pdf_build(objs, 5, NULL, &len);
	char *text, err[512];

	assert_int_equal(extract(pdf, len, NULL, &text, &textlen, err, sizeof(err)), 0);
	assert_string_equal(text, "hello world");
	free(text);
	free(pdf);
}

/* One page painted with an image, no text operator: refused, never an empty body. */
static void
test_no_text_layer(void **state)
{
	(void)state;
	const char *objs[] = {
		CATALOG,
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
		    "/Resources << /XObject << /Im1 5 0 R >> >> >>",
		"<< /Length 32 >>\nstream\nq 500 0 0 700 50 50 cm /Im1 Do Q\nendstream",
		"<< /Type /XObject /Subtype /Image /Width 2 /Height 1 /ColorSpace "
		    "/DeviceGray /BitsPerComponent 8 /Length 2 >>\nstream\n\x40\x80\nendstream",
	};
	size_t len;
	unsigned char *pdf = test_pdf_build(objs, 5, NULL, &len);

	expect_refusal(pdf, len, NULL, "no text layer");
	free(pdf);
}

/* A text page and a scanned page: the scanned one would be lost. */
static void
test_one_scanned_page(void **state)
{
	(void)state;
	const char *objs[] = {
		CATALOG,
		"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
		    "/Resources << /Font << /F1 5 0 R >> >> >>",
		hello_content,
		FONT,
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 7 0 R "
		    "/Resources << /XObject << /Im1 8 0 R >> >> >>",
		"<< /Length 32 >>\nstream\nq 500 0 0 700 50 50 cm /Im1 Do Q\nendstream",
		"<< /Type /XObject /Subtype /Image /Width 2 /Height 1 /ColorSpace "
		    "/DeviceGray /BitsPerComponent 8 /Length 2 >>\nstream\n\x40\x80\nendstream",
	};
	size_t len;
	unsigned char *pdf = test_pdf_build(objs, 8, NULL, &len);

	expect_refusal(pdf, len, NULL, "no text layer on 1 of 2 pages (first: page 2)");
	free(pdf);
}

/* Encrypted by hand: a standard security handler whose user password is not empty. */
static void
test_handmade_encrypted(void **state)
{
	(void)state;
	const char *objs[] = {
		CATALOG,
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
		"<< /Filter /Standard /V 1 /R 2 /P -4 "
		    "/O <0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20> "
		    "/U <a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0> >>",
	};
	size_t len;
	unsigned char *pdf = test_pdf_build(objs, 4, "/Encrypt 4 0 R "
	    "/ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]",
	    &len);

	expect_refusal(pdf, len, NULL, "encrypted PDF: save it without a password");
	free(pdf);
}

static void
test_truncated(void **state)
{
	(void)state;
	size_t len;
	unsigned char *pdf = test_pdf_fixture("pdf", SEED_CAPITAL, &len);
	static const char head[] = "%PDF-1.4\n1 0 obj\n<< /Type /Cat";

	/* cut anywhere: refused with a reason or read partly, never a crash */
	for (size_t cut = 16; cut < len; cut += len / 7) {
		char err[512], *text = NULL;
		size_t textlen;
		int rc = extract(pdf, cut, NULL, &text, &textlen, err, sizeof(err));
		if (rc == 0)
			assert_int_equal(strlen(text), textlen);
		else
			assert_true(err[0] != '\0');
		free(text);
	}
	expect_refusal((const unsigned char *)head, strlen(head), NULL, "damaged PDF: ");
	expect_refusal((const unsigned char *)"not a pdf", 9, NULL, "damaged PDF: ");
	expect_refusal((const unsigned char *)"", 0, NULL, "damaged PDF: ");
	free(pdf);
}

/*
 * A page tree that claims 10 000 pages and holds one: poppler sees a count
 * larger than the file's objects and finds no pages; refused, not walked.
 */
static void
test_declared_pages(void **state)
{
	(void)state;
	const char *objs[] = {
		CATALOG,
		"<< /Type /Pages /Kids [3 0 R] /Count 10000 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
		    "/Resources << /Font << /F1 5 0 R >> >> >>",
		hello_content,
		FONT,
	};
	size_t len;
	unsigned char *pdf = test_pdf_build(objs, 5, NULL, &len);

	expect_refusal(pdf, len, NULL, "damaged PDF: no page can be read");
	free(pdf);
}

/* 501 real pages against a limit of 500: the 版记 on the last page must not be cut off. */
static void
test_page_limit(void **state)
{
	(void)state;
	enum { PAGES = 501 };
	const char **objs = calloc(PAGES + 4, sizeof(*objs));
	struct sbuf kids = SBUF_INIT;
	struct extract_limits lim;
	size_t len, textlen;
	unsigned char *pdf;
	char *text, err[512];

	objs[0] = CATALOG;
	sbuf_puts(&kids, "<< /Type /Pages /Count 501 /Kids [");
	for (int i = 0; i < PAGES; i++) {
		sbuf_printf(&kids, "%d 0 R ", i + 5);
		objs[i + 4] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
		    "/Contents 3 0 R /Resources << /Font << /F1 4 0 R >> >> >>";
	}
	sbuf_puts(&kids, "] >>");
	objs[1] = sbuf_str(&kids);
	objs[2] = hello_content;
	objs[3] = FONT;
	pdf = test_pdf_build(objs, PAGES + 4, NULL, &len);
	expect_refusal(pdf, len, NULL, "PDF of 501 pages: more than the limit of 500 pages");
	test_pdf_limits(&lim);
	lim.max_pages = 501;
	assert_int_equal(extract(pdf, len, &lim, &text, &textlen, err, sizeof(err)), 0);
	assert_int_equal(count_char(text, '\f'), 500);
	free(text);
	free(pdf);
	sbuf_free(&kids);
	free(objs);
}

static void
test_limits(void **state)
{
	(void)state;
	struct extract_limits lim;
	size_t len;
	unsigned char *pdf = test_pdf_fixture("pdf", SEED_MENTOUGOU, &len);

	test_pdf_limits(&lim);
	lim.max_text = 1000;
	expect_refusal(pdf, len, &lim, "PDF text of more than 1000 bytes (the limit), by page 1");
	test_pdf_limits(&lim);
	lim.max_input = len - 1;
	expect_refusal(pdf, len, &lim, "more than the limit of");
	free(pdf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_capital),
		cmocka_unit_test(test_seed_mentougou),
		cmocka_unit_test(test_scanned),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_restricted),
		cmocka_unit_test(test_handmade_text),
		cmocka_unit_test(test_no_text_layer),
		cmocka_unit_test(test_one_scanned_page),
		cmocka_unit_test(test_handmade_encrypted),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_declared_pages),
		cmocka_unit_test(test_page_limit),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
