/*
 * Parser benchmark: decode + parse of a ~10 MB issue built from a seed
 * (its body repeated), in UTF-8 and in GB18030. Prints seconds per run.
 */
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulletin.h"
#include "decode.h"
#include "fileio.h"
#include "sbuf.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
run(const char *data, size_t len, size_t *tiers, size_t *units)
{
	char err[256], *text;
	size_t tlen;
	const char *enc;
	struct bulletin *b;
	double t0 = now();

	if (decode_to_utf8(data, len, &text, &tlen, &enc, err, sizeof(err)) < 0 ||
	    bulletin_parse(text, tlen, NULL, 0, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_parse: %s\n", err);
		exit(1);
	}
	double t = now() - t0;
	*tiers = b->n_tiers;
	*units = 0;
	for (size_t i = 0; i < b->n_tiers; i++)
		*units += b->tiers[i].n_units;
	bulletin_free(b);
	free(text);
	return t;
}

int
main(int argc, char **argv)
{
	char err[256], *seed;
	size_t seed_len, tiers, units;
	struct sbuf big = SBUF_INIT;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_parse SEED\n");
		return 2;
	}
	if (fileio_read_all(argv[1], 1 << 20, 0, &seed, &seed_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_parse: %s\n", err);
		return 1;
	}
	/* header and footer once, the body (middle of the seed) repeated */
	const char *body = strstr(seed, "---\n\n##");
	const char *footer = strstr(seed, "责编");
	if (body == NULL || footer == NULL || footer < body) {
		fprintf(stderr, "bench_parse: unexpected seed layout\n");
		return 1;
	}
	sbuf_append(&big, seed, (size_t)(body - seed));
	while (big.len < 10u << 20)
		sbuf_append(&big, body + 4, (size_t)(footer - body - 4));
	sbuf_puts(&big, footer);

	double best = 1e9;
	for (int i = 0; i < 5; i++) {
		double t = run(big.data, big.len, &tiers, &units);
		if (t < best)
			best = t;
	}
	printf("parse: %.1f MB UTF-8 issue: %.3f s (best of 5), %zu tiers, %zu units\n",
	    (double)big.len / 1e6, best, tiers, units);

	iconv_t cd = iconv_open("GB18030", "UTF-8");
	size_t inleft = big.len, cap = big.len, outleft = cap;
	char *in = big.data, *gb = malloc(cap), *out = gb;
	if (iconv(cd, &in, &inleft, &out, &outleft) == (size_t)-1) {
		fprintf(stderr, "bench_parse: iconv failed\n");
		return 1;
	}
	iconv_close(cd);
	best = 1e9;
	for (int i = 0; i < 5; i++) {
		double t = run(gb, cap - outleft, &tiers, &units);
		if (t < best)
			best = t;
	}
	printf("parse: %.1f MB GB18030 issue: %.3f s (best of 5, decoding included)\n",
	    (double)(cap - outleft) / 1e6, best);
	free(gb);
	sbuf_free(&big);
	free(seed);
	return 0;
}
