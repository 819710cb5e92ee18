#include "decode.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "text.h"

/*
 * Converts with iconv; on failure *bad is the input offset where
 * conversion stopped. Returns 0 or -1.
 */
static int
convert(const char *from, const char *in, size_t n, char **out, size_t *out_len,
    size_t *bad)
{
	iconv_t cd = iconv_open("UTF-8", from);
	char *inp = (char *)in, *buf, *outp;
	size_t inleft = n, cap, outleft;

	if (cd == (iconv_t)-1) {
		*bad = 0;
		return -1;
	}
	/* GB18030 and UTF-16 never take more than 2 UTF-8 bytes per input
	 * byte (a 2-byte CJK character becomes 3 bytes, a 4-byte one at most 4). */
	cap = n * 2 + 4;
	buf = xmalloc(cap);
	outp = buf;
	outleft = cap - 1;
	if (iconv(cd, &inp, &inleft, &outp, &outleft) == (size_t)-1 ||
	    iconv(cd, NULL, NULL, &outp, &outleft) == (size_t)-1) {
		*bad = (size_t)(inp - in);
		iconv_close(cd);
		free(buf);
		return -1;
	}
	iconv_close(cd);
	*outp = '\0';
	*out = buf;
	*out_len = (size_t)(outp - buf);
	return 0;
}

int
decode_to_utf8(const char *in, size_t n, char **out, size_t *out_len,
    const char **encoding, char *err, size_t errsz)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t bad = 0;
	const char *nul;

	*out = NULL;
	*out_len = 0;
	*encoding = NULL;

	if (n >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
		const char *enc = u[0] == 0xFF ? "UTF-16LE" : "UTF-16BE";
		if (convert(enc, in + 2, n - 2, out, out_len, &bad) < 0) {
			snprintf(err, errsz, "byte %zu: invalid %s sequence "
			    "(the file starts with a %s byte-order mark)",
			    bad + 2, enc, enc);
			return -1;
		}
		nul = memchr(*out, '\0', *out_len);
		if (nul != NULL) {
			snprintf(err, errsz, "character %zu: NUL character; "
			    "this is not a text file", (size_t)(nul - *out));
			free(*out);
			*out = NULL;
			return -1;
		}
		*encoding = enc;
		return 0;
	}

	nul = memchr(in, '\0', n);
	if (nul != NULL) {
		snprintf(err, errsz, "byte %zu: NUL byte; this is not a text file",
		    (size_t)(nul - in));
		return -1;
	}

	if (n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
		if (!text_valid_utf8(in + 3, n - 3, &bad)) {
			snprintf(err, errsz, "byte %zu: invalid UTF-8 sequence "
			    "(byte 0x%02X) in a file that starts with a UTF-8 "
			    "byte-order mark", bad + 3, u[bad + 3]);
			return -1;
		}
		*out = xstrndup(in + 3, n - 3);
		*out_len = n - 3;
		*encoding = "UTF-8 (BOM)";
		return 0;
	}

	if (text_valid_utf8(in, n, &bad)) {
		*out = xstrndup(in, n);
		*out_len = n;
		*encoding = "UTF-8";
		return 0;
	}

	size_t utf8_bad = bad;
	if (convert("GB18030", in, n, out, out_len, &bad) == 0) {
		*encoding = "GB18030";
		return 0;
	}
	snprintf(err, errsz, "byte %zu: neither UTF-8 (invalid byte 0x%02X at "
	    "offset %zu) nor GB18030 (invalid sequence at offset %zu); save "
	    "the issue as UTF-8, GB18030/GBK or UTF-16 with a byte-order mark",
	    utf8_bad, u[utf8_bad], utf8_bad, bad);
	return -1;
}
