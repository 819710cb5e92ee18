#ifndef DISTD_TESTEXTRACT_H
#define DISTD_TESTEXTRACT_H

/*
 * Helpers shared by test_extract_docx and test_extract_ofd (header-only):
 * zip archives built in memory with libzip, and a check that a document
 * made from a seed parses to the tiers and fields of the seed itself.
 */

#include <stdbool.h>
#include <sys/wait.h>
#include <zip.h>

#include "testutil.h"

#include "bulletin.h"
#include "extract.h"

struct zentry {
	const char *name;
	const char *data;	/* NULL: len bytes of 'a' ... */
	size_t len;		/* 0: strlen(data) */
	bool encrypt;		/* AES-256, password "secret" */
};

/* The zip of entries e[0..n), malloc'd, its size in *len. */
static inline unsigned char *
mkzip(const struct zentry *e, size_t n, size_t *len)
{
	zip_error_t ze;
	zip_source_t *src, *s;
	zip_t *za;
	zip_stat_t st;
	unsigned char *out;

	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	assert_non_null(src);
	za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	assert_non_null(za);
	zip_source_keep(src);
	for (size_t i = 0; i < n; i++) {
		size_t l = e[i].len ? e[i].len : strlen(e[i].data);
		char *copy = malloc(l ? l : 1);
		zip_int64_t idx;

		assert_non_null(copy);
		if (e[i].data != NULL)
			memcpy(copy, e[i].data, l);
		else
			memset(copy, 'a', l);
		/* libzip does not take over an empty buffer */
		if (l == 0) {
			free(copy);
			s = zip_source_buffer(za, NULL, 0, 0);
		} else
			s = zip_source_buffer(za, copy, l, 1);
		assert_non_null(s);
		idx = zip_file_add(za, e[i].name, s, ZIP_FL_ENC_UTF_8);
		assert_true(idx >= 0);
		if (e[i].encrypt)
			assert_int_equal(zip_file_set_encryption(za, (zip_uint64_t)idx,
			    ZIP_EM_AES_256, "secret"), 0);
	}
	assert_int_equal(zip_close(za), 0);
	assert_int_equal(zip_source_stat(src, &st), 0);
	assert_int_equal(zip_source_open(src), 0);
	out = malloc(st.size ? st.size : 1);
	assert_non_null(out);
	assert_int_equal(zip_source_read(src, out, st.size), (zip_int64_t)st.size);
	zip_source_close(src);
	zip_source_free(src);
	zip_error_fini(&ze);
	*len = st.size;
	return out;
}

/* Reads a whole file; NULL if it cannot. */
static inline unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static inline void
same_parse(const struct bulletin *want, const struct bulletin *got)
{
	assert_string_equal(got->title, want->title);
	assert_int_equal(got->issue_no, want->issue_no);
	assert_int_equal(got->total_issue_no, want->total_issue_no);
	assert_string_equal(got->issuer, want->issuer);
	assert_string_equal(got->date, want->date);
	assert_int_equal(got->n_tiers, want->n_tiers);
	for (size_t i = 0; i < want->n_tiers; i++) {
		assert_string_equal(got->tiers[i].keyword, want->tiers[i].keyword);
		assert_string_equal(got->tiers[i].label, want->tiers[i].label);
		assert_int_equal(got->tiers[i].n_units, want->tiers[i].n_units);
		for (size_t j = 0; j < want->tiers[i].n_units; j++)
			assert_string_equal(got->tiers[i].units[j], want->tiers[i].units[j]);
	}
	assert_int_equal(got->n_fields, want->n_fields);
	for (size_t i = 0; i < want->n_fields; i++) {
		const char *v = bulletin_field(got, want->fields[i].key);
		if (v == NULL)
			fail_msg("field %s missing", want->fields[i].key);
		assert_string_equal(v, bulletin_field(want, want->fields[i].key));
	}
}

typedef int (*extractor)(const unsigned char *, size_t, const struct extract_limits *,
    char **, size_t *, char *, size_t);

/*
 * Makes a KIND ("docx", "ofd") document from the seed with
 * tests/integration/docfixtures.py, a header (NULL: none) printed at the
 * top of every page, extracts it with fn and checks that it parses as the
 * seed does, or, when secret is not NULL, that the parser reads that
 * classification. Skips when python-docx is missing.
 */
/*
 * Paragraphs of text: runs of lines with text between blank lines (a '\f'
 * line is blank). The text seeds separate paragraphs and headings with a
 * blank line and the renderer makes each run one paragraph: an extracted
 * document that runs them together reaches recipients as a wall of text.
 */
static inline size_t
count_paragraphs(const char *s)
{
	size_t n = 0;
	bool in = false;

	while (*s != '\0') {
		const char *e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		bool text = false;

		for (size_t i = 0; i < len; i++)
			if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f')
				text = true;
		if (text && !in)
			n++;
		in = text;
		s += len + (e != NULL);
	}
	return n;
}

/* The extracted body has the seed's paragraphs, give or take two. */
static inline void
assert_paragraphs_like(const char *seedtext, const char *text, const char *what)
{
	size_t want = count_paragraphs(seedtext), got = count_paragraphs(text);

	if (got + 2 < want || got > want + 2)
		fail_msg("%s: %zu paragraphs, the seed has %zu", what, got, want);
}

static inline void
check_seed_fixture_header(const char *kind, const char *seed, extractor fn,
    const char *header, const char *secret)
{
	char out[] = "/tmp/distd-fixture-XXXXXX", cmd[2048], err[256];
	const char *dir = getenv("DISTD_SEEDS");
	struct extract_limits lim;
	struct bulletin *want, *got;
	unsigned char *doc;
	char *seedtext, *text;
	size_t n = 0, dn = 0, tl = 0;
	int fd, st;

	fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/integration/docfixtures.py "
	    "%s %s/%s %s '%s'", kind, dir ? dir : "tests/data/seeds", seed, out,
	    header ? header : "");
	if (header == NULL)
		cmd[strlen(cmd) - 3] = '\0';	/* no empty argument */
	st = system(cmd);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		unlink(out);
		skip();
	}
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	doc = slurp(out, &dn);
	unlink(out);
	assert_non_null(doc);
	assert_int_equal(extract_sniff(kind[0] == 'd' ? "x.docx" : "x.ofd", doc, dn),
	    kind[0] == 'd' ? EXTRACT_DOCX : EXTRACT_OFD);
	/* bytes win: the same file under a neutral name */
	assert_int_equal(extract_sniff("issue.bin", doc, dn),
	    kind[0] == 'd' ? EXTRACT_DOCX : EXTRACT_OFD);

	extract_limits_default(&lim);
	if (fn(doc, dn, &lim, &text, &tl, err, sizeof(err)) != 0)
		fail_msg("%s of %s: %s", kind, seed, err);
	assert_int_equal(strlen(text), tl);

	seedtext = read_seed(seed, &n);
	assert_int_equal(bulletin_parse(seedtext, n, NULL, 0, &want, err, sizeof(err)), 0);
	if (bulletin_parse(text, tl, NULL, 0, &got, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	if (secret != NULL) {
		assert_null(want->classification);
		assert_non_null(got->classification);
		assert_string_equal(got->classification, secret);
	} else
		same_parse(want, got);
	assert_paragraphs_like(want->body, got->body, kind);
	bulletin_free(want);
	bulletin_free(got);
	free(seedtext);
	free(text);
	free(doc);
}

static inline void
check_seed_fixture(const char *kind, const char *seed, extractor fn)
{
	check_seed_fixture_header(kind, seed, fn, NULL, NULL);
}

#endif
