#include "testutil.h"

#include <dirent.h>

#include "bulletin.h"
#include "sbuf.h"

/*
 * Scores the parser on real 版记 blocks (tests/data/footers, see SOURCES):
 * each NN.txt is a footer as printed, NN.expect its tiers and fields as a
 * clerk reads them, one per line, tab-separated:
 *     tier<TAB>keyword<TAB>unit<TAB>unit…
 *     field<TAB>key<TAB>value
 * Each block is parsed after a plain header and body, as in an issue. A
 * block counts when tiers (keyword and units, in order) and fields (key and
 * value, in order) are exactly the expected ones.
 */

#define MIN_BLOCKS 30
#define MIN_EXACT_PERCENT 95

static const char prefix[] =
    "工作简报\n第1期\n某某办公室  2020年1月1日\n\n"
    "正文第一段，说明本期的主要内容。\n\n";

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct sbuf b = SBUF_INIT;
	char buf[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_append(&b, buf, n);
	fclose(f);
	return sbuf_steal(&b);
}

/* What the parser read, in the .expect format. */
static char *
render(const struct bulletin *b)
{
	struct sbuf out = SBUF_INIT;

	/* tiers and fields each in document order; tiers first by line */
	size_t t = 0, f = 0;
	while (t < b->n_tiers || f < b->n_fields) {
		bool tier_first = t < b->n_tiers &&
		    (f >= b->n_fields || b->tiers[t].line <= b->fields[f].line);
		if (tier_first) {
			sbuf_printf(&out, "tier\t%s", b->tiers[t].keyword);
			for (size_t u = 0; u < b->tiers[t].n_units; u++)
				sbuf_printf(&out, "\t%s", b->tiers[t].units[u]);
			sbuf_putc(&out, '\n');
			t++;
		} else {
			sbuf_printf(&out, "field\t%s\t%s\n", b->fields[f].key,
			    b->fields[f].value);
			f++;
		}
	}
	return sbuf_steal(&out);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_footer_corpus(void **state)
{
	(void)state;
	const char *dir = getenv("DISTD_FOOTERS") ? getenv("DISTD_FOOTERS") :
	    "tests/data/footers";
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, exact = 0;
	struct dirent *e;

	if (d == NULL)
		fail_msg("cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".txt") == 0) {
			names = realloc(names, (n + 1) * sizeof(*names));
			names[n++] = strndup(e->d_name, len - 4);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);

	for (size_t i = 0; i < n; i++) {
		char path[1024], err[256];
		struct sbuf text = SBUF_INIT;
		struct bulletin *b = NULL;

		snprintf(path, sizeof(path), "%s/%s.txt", dir, names[i]);
		char *block = slurp(path);
		snprintf(path, sizeof(path), "%s/%s.expect", dir, names[i]);
		char *want = slurp(path);
		assert_non_null(block);
		if (want == NULL)
			fail_msg("%s: no .expect annotation", names[i]);
		sbuf_puts(&text, prefix);
		sbuf_puts(&text, block);
		assert_int_equal(bulletin_parse(sbuf_str(&text), text.len, NULL, 0,
		    &b, err, sizeof(err)), 0);
		char *got = render(b);
		if (strcmp(got, want) == 0)
			exact++;
		else
			print_message("footer %s differs\n--- expected\n%s--- parsed\n%s",
			    names[i], want, got);
		free(got);
		free(want);
		free(block);
		bulletin_free(b);
		sbuf_free(&text);
		free(names[i]);
	}
	free(names);
	print_message("footer corpus: %zu of %zu blocks exact (%.1f%%)\n", exact, n,
	    n ? 100.0 * (double)exact / (double)n : 0.0);
	if (n < MIN_BLOCKS)
		fail_msg("only %zu footer blocks, expected at least %d", n, MIN_BLOCKS);
	if (exact * 100 < (size_t)MIN_EXACT_PERCENT * n)
		fail_msg("%zu of %zu footer blocks exact, below %d%%", exact, n,
		    MIN_EXACT_PERCENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_footer_corpus),
	};
	return cmocka_run_group_tests_name("footers", tests, NULL, NULL);
}
