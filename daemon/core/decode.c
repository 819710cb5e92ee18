#include "decode.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uchardet/uchardet.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

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

/*
 * uchardet 0.0.7 (Debian 12) does not recognise UTF-16 without a byte-order
 * mark, so that one case is told by where the NUL bytes fall: text written
 * as UTF-16 has its ASCII (digits, newlines, spaces, which every bulletin
 * has) with a zero high byte, i.e. NUL at odd offsets (LE) or even ones
 * (BE); a binary file has them anywhere. The decoded text must then have
 * lines and no control characters.
 */
static const char *
utf16_by_nuls(const unsigned char *u, size_t n)
{
	size_t even = 0, odd = 0;

	if (n < 4 || n % 2 != 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (u[i] == 0 && i % 2)
			odd++;
		else if (u[i] == 0)
			even++;
	/* a CJK character such as 一 (U+4E00) has a zero low byte: the other
	 * parity may see a few NULs too, but far fewer */
	if (odd > 0 && odd >= 3 * even)
		return "UTF-16LE";
	if (even > 0 && even >= 3 * odd)
		return "UTF-16BE";
	return NULL;
}

/* What uchardet makes of the bytes: a static iconv name, "" when it cannot tell. */
static const char *
detect(const char *in, size_t n, char *name, size_t namesz)
{
	uchardet_t ud = uchardet_new();

	name[0] = '\0';
	if (ud == NULL)
		return name;
	if (uchardet_handle_data(ud, in, n) == 0) {
		uchardet_data_end(ud);
		snprintf(name, namesz, "%s", uchardet_get_charset(ud));
	}
	uchardet_delete(ud);
	return name;
}

/*
 * The encodings an editorial office in the Chinese-speaking world saves in,
 * by the name uchardet reports, with the iconv name to convert from and the
 * name distd reports. GB2312 and GBK are read as GB18030, their superset.
 */
static const struct {
	const char *detected, *iconv, *report;
} accepted[] = {
	{ "GB18030", "GB18030", "GB18030" },
	{ "GB2312", "GB18030", "GB18030" },
	{ "GBK", "GB18030", "GB18030" },
	{ "HZ-GB-2312", "GB18030", "GB18030" },
	{ "BIG5", "BIG5-HKSCS", "Big5" },
	{ "EUC-TW", "EUC-TW", "EUC-TW" },
	{ "UTF-16LE", "UTF-16LE", "UTF-16LE" },
	{ "UTF-16BE", "UTF-16BE", "UTF-16BE" },
};

/* Decoded text must not hold NUL or other C0 controls a text file never has. */
static int
finish(char **out, size_t *out_len, char *err, size_t errsz)
{
	const char *nul = memchr(*out, '\0', *out_len);

	for (size_t i = 0; nul == NULL && i < *out_len; i++) {
		unsigned char c = (unsigned char)(*out)[i];
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') {
			snprintf(err, errsz, "character %zu: control character 0x%02X; "
			    "this is not a text file", i, c);
			free(*out);
			*out = NULL;
			*out_len = 0;
			return -1;
		}
	}
	if (nul == NULL)
		return 0;
	snprintf(err, errsz, "character %zu: NUL character; this is not a text file",
	    (size_t)(nul - *out));
	free(*out);
	*out = NULL;
	*out_len = 0;
	return -1;
}

int
decode_to_utf8(const char *in, size_t n, char **out, size_t *out_len,
    const char **encoding, char *err, size_t errsz)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t bad = 0;
	const char *nul, *enc;
	char detected[64];

	*out = NULL;
	*out_len = 0;
	*encoding = NULL;

	if (n >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
		enc = u[0] == 0xFF ? "UTF-16LE" : "UTF-16BE";
		if (convert(enc, in + 2, n - 2, out, out_len, &bad) < 0) {
			snprintf(err, errsz, "byte %zu: invalid %s sequence "
			    "(the file starts with a %s byte-order mark)",
			    bad + 2, enc, enc);
			return -1;
		}
		if (finish(out, out_len, err, errsz) < 0)
			return -1;
		*encoding = enc;
		return 0;
	}

	nul = memchr(in, '\0', n);
	if (nul != NULL) {
		if ((enc = utf16_by_nuls(u, n)) != NULL &&
		    convert(enc, in, n, out, out_len, &bad) == 0) {
			/* an issue has lines: a few bytes that happen to decode
			 * but hold no line break are not one */
			if (memchr(*out, '\n', *out_len) != NULL &&
			    finish(out, out_len, err, errsz) == 0) {
				*encoding = enc;
				return 0;
			}
			free(*out);	/* binary after all, said as such below */
			*out = NULL;
			*out_len = 0;
		}
		snprintf(err, errsz, "byte %zu: NUL byte; this is not a text file "
		    "(nor UTF-16 without a byte-order mark)", (size_t)(nul - in));
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
	detect(in, n, detected, sizeof(detected));
	for (size_t i = 0; detected[0] && i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		if (strcasecmp(detected, accepted[i].detected) != 0)
			continue;
		if (convert(accepted[i].iconv, in, n, out, out_len, &bad) < 0) {
			snprintf(err, errsz, "byte %zu: not UTF-8 (invalid byte 0x%02X), "
			    "and not valid %s either (invalid sequence at byte %zu), "
			    "which is what the text looks like; save the issue as "
			    "UTF-8", utf8_bad, u[utf8_bad], accepted[i].report, bad);
			return -1;
		}
		if (finish(out, out_len, err, errsz) < 0)
			return -1;
		*encoding = accepted[i].report;
		return 0;
	}
	if (detected[0]) {
		/* A Western or Japanese/Korean code page for a Chinese bulletin
		 * means the detector is guessing: refuse rather than send mojibake. */
		snprintf(err, errsz, "byte %zu: not UTF-8 (invalid byte 0x%02X); the "
		    "text looks like %s, which distd does not read as a Chinese "
		    "bulletin; save the issue as UTF-8, GB18030/GBK, Big5 or UTF-16",
		    utf8_bad, u[utf8_bad], detected);
		return -1;
	}
	/*
	 * uchardet cannot tell (short texts). GB2312 (EUC-CN) is the common core
	 * of what Chinese Windows saves: text that is valid there is read as
	 * GB18030. Anything else could as well be Big5 as GBK, and a wrong guess
	 * sends mojibake, so it is refused.
	 */
	char *tmp = NULL;
	size_t tmp_len = 0, gb_bad = 0;
	if (convert("EUC-CN", in, n, &tmp, &tmp_len, &gb_bad) == 0) {
		free(tmp);
		if (convert("GB18030", in, n, out, out_len, &bad) == 0) {
			*encoding = "GB18030";
			return 0;
		}
	}
	bool gb = convert("GB18030", in, n, &tmp, &tmp_len, &bad) == 0;
	free(tmp);
	tmp = NULL;
	bool big5 = convert("BIG5-HKSCS", in, n, &tmp, &tmp_len, &gb_bad) == 0;
	free(tmp);
	if (gb || big5)
		snprintf(err, errsz, "byte %zu: not UTF-8 (invalid byte 0x%02X), and "
		    "the encoding cannot be told apart (uchardet is unsure; the bytes "
		    "are valid %s); save the issue as UTF-8", utf8_bad, u[utf8_bad],
		    gb && big5 ? "GBK and Big5" : gb ? "GBK but not GB2312" : "Big5");
	else
		snprintf(err, errsz, "byte %zu: neither UTF-8 (invalid byte 0x%02X at "
		    "offset %zu) nor GB18030 (invalid sequence at offset %zu); save "
		    "the issue as UTF-8, GB18030/GBK, Big5 or UTF-16",
		    utf8_bad, u[utf8_bad], utf8_bad, bad);
	return -1;
}
