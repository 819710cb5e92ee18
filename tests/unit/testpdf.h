#ifndef DISTD_TESTPDF_H
#define DISTD_TESTPDF_H

/*
 * PDFs for the extractor tests (header-only, after testutil.h): the seeds
 * laid out by tests/integration/pdffixture.py (cairo + pango, Noto CJK)
 * at run time, and tiny hand-written ones for the hostile cases.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include "extract.h"
#include "sbuf.h"

/* extract.h's defaults, spelled out: the test does not lean on extract.c. */
static inline void
test_pdf_limits(struct extract_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_input = 64u << 20;
	lim->max_unzipped = 64u << 20;
	lim->max_entry = 32u << 20;
	lim->max_ratio = 200;
	lim->max_entries = 10000;
	lim->max_depth = 256;
	lim->max_pages = 500;
	lim->max_text = 4u << 20;
	lim->max_seconds = 20;
	lim->max_memory = (size_t)1 << 30;
}

static inline unsigned char *
test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
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

/*
 * kind "pdf" or "scanned" of seed (a file name in tests/data/seeds), or
 * "encrypted" (seed NULL): made by pdffixture.py in a temporary folder,
 * once per program (a PDF takes python a second or two). A copy to free.
 */
static inline unsigned char *
test_pdf_fixture(const char *kind, const char *seed, size_t *len)
{
	static struct { char key[128]; unsigned char *data; size_t len; } cache[8];
	const char *seeds = getenv("DISTD_SEEDS");
	char dir[] = "/tmp/distd-pdf-XXXXXX", out[64], cmd[2048], key[128];
	unsigned char *buf;
	size_t slot;
	int rc;

	snprintf(key, sizeof(key), "%s %s", kind, seed ? seed : "");
	for (slot = 0; slot < 8 && cache[slot].data != NULL; slot++) {
		if (strcmp(cache[slot].key, key) == 0) {
			buf = malloc(cache[slot].len);
			assert_non_null(buf);
			memcpy(buf, cache[slot].data, cache[slot].len);
			*len = cache[slot].len;
			return buf;
		}
	}

	assert_non_null(mkdtemp(dir));
	snprintf(out, sizeof(out), "%s/out.pdf", dir);
	if (seed != NULL)
		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/integration/pdffixture.py "
		    "%s '%s/%s' %s", kind, seeds ? seeds : "tests/data/seeds", seed, out);
	else
		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/integration/pdffixture.py "
		    "%s %s", kind, out);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("%s: exit %d", cmd, rc);
	buf = test_read_file(out, len);
	unlink(out);
	rmdir(dir);
	if (slot < 8) {		/* kept until the program ends */
		snprintf(cache[slot].key, sizeof(cache[slot].key), "%s", key);
		cache[slot].data = malloc(*len);
		assert_non_null(cache[slot].data);
		memcpy(cache[slot].data, buf, *len);
		cache[slot].len = *len;
	}
	return buf;
}

/*
 * A PDF from its objects' dictionaries (object i+1 is objs[i]) with a
 * correct cross-reference table; trailer_extra goes into the trailer.
 */
static inline unsigned char *
test_pdf_build(const char *const *objs, size_t n, const char *trailer_extra, size_t *len)
{
	struct sbuf b = SBUF_INIT;
	size_t *off = calloc(n + 1, sizeof(*off)), xref;

	assert_non_null(off);
	sbuf_puts(&b, "%PDF-1.4\n");
	for (size_t i = 0; i < n; i++) {
		off[i] = b.len;
		sbuf_printf(&b, "%zu 0 obj\n%s\nendobj\n", i + 1, objs[i]);
	}
	xref = b.len;
	sbuf_printf(&b, "xref\n0 %zu\n0000000000 65535 f \n", n + 1);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&b, "%010zu 00000 n \n", off[i]);
	sbuf_printf(&b, "trailer\n<< /Size %zu /Root 1 0 R %s >>\nstartxref\n%zu\n%%%%EOF\n",
	    n + 1, trailer_extra ? trailer_extra : "", xref);
	free(off);
	*len = b.len;
	return (unsigned char *)sbuf_steal(&b);
}

#endif
