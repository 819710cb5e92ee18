#ifndef DISTD_FUZZZIP_H
#define DISTD_FUZZZIP_H

/*
 * Shared by fuzz_docx and fuzz_ofd. An input that starts with "PK" is
 * handed to the extractor as it is (the archive layer: directory, sizes,
 * damaged data). Any other input is XML for the parts of a well-formed
 * archive, split on NUL bytes and stored uncompressed, so that the
 * fuzzer's mutations reach the XML walkers instead of dying on a CRC.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "extract.h"

/* The zip of names[i] = the i-th NUL-separated piece of data, or defaults[i]. */
static unsigned char *
fuzz_zip(const uint8_t *data, size_t size, const char *const *names,
    const char *const *defaults, size_t n, size_t *len)
{
	zip_error_t ze;
	zip_source_t *src, *s;
	zip_t *za;
	zip_stat_t st;
	unsigned char *out = NULL;
	const uint8_t *p = data, *end = data + size;

	zip_error_init(&ze);
	if ((src = zip_source_buffer_create(NULL, 0, 0, &ze)) == NULL)
		abort();
	if ((za = zip_open_from_source(src, ZIP_TRUNCATE, &ze)) == NULL)
		abort();
	zip_source_keep(src);
	for (size_t i = 0; i < n; i++) {
		const void *part;
		size_t l;
		zip_int64_t idx;

		if (p < end) {
			const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
			part = p;
			l = nul ? (size_t)(nul - p) : (size_t)(end - p);
			p = nul ? nul + 1 : end;
		} else {
			part = defaults[i];
			l = strlen(defaults[i]);
		}
		if ((s = zip_source_buffer(za, l ? part : NULL, l, 0)) == NULL)
			abort();
		if ((idx = zip_file_add(za, names[i], s, 0)) < 0)
			abort();
		zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
	}
	if (zip_close(za) != 0 || zip_source_stat(src, &st) != 0 ||
	    zip_source_open(src) != 0)
		abort();
	out = malloc(st.size ? st.size : 1);
	if (out == NULL || zip_source_read(src, out, st.size) != (zip_int64_t)st.size)
		abort();
	zip_source_close(src);
	zip_source_free(src);
	zip_error_fini(&ze);
	*len = st.size;
	return out;
}

/* What every extractor promises, whatever it is handed. */
static void
fuzz_check(int rc, const char *text, size_t len, const struct extract_limits *lim,
    const char *err)
{
	if (rc == 0) {
		int any = 0;
		if (text == NULL || strlen(text) != len || len > lim->max_text)
			abort();
		for (size_t i = 0; i < len && !any; i++)
			any = strchr(" \t\n\r\f", text[i]) == NULL;
		if (!any)
			abort();	/* an empty body is never sent */
	} else if (rc != -1 || text != NULL || err[0] == '\0') {
		abort();
	}
}

#endif
