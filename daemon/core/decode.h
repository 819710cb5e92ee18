#ifndef DISTD_DECODE_H
#define DISTD_DECODE_H

#include <stddef.h>

/*
 * Turns the bytes of an issue file into UTF-8.
 *
 * Accepted: UTF-8 with or without a byte-order mark, UTF-16LE/BE with a
 * byte-order mark, or without one (told by where its NUL bytes fall), and,
 * for bytes that are not valid UTF-8, what uchardet detects among GB18030
 * (a superset of GBK and GB2312, what office software on Chinese Windows
 * saves as "ANSI"), Big5 and EUC-TW. Valid UTF-8 wins: a GBK file of real
 * Chinese text is practically never valid UTF-8. When uchardet cannot tell,
 * text valid as GB2312 is read as GB18030; anything else, or a detected
 * encoding that is not one of these, is refused with what was detected.
 * Text containing NUL or other control characters is refused as binary.
 *
 * Returns 0 and sets *out (NUL-terminated, caller frees), *out_len and
 * *encoding (a static name: "UTF-8", "UTF-8 (BOM)", "UTF-16LE", "UTF-16BE",
 * "GB18030", "Big5", "EUC-TW"); or -1 with a message in err naming the
 * byte offset.
 * Pure: no I/O besides iconv's tables.
 */
int decode_to_utf8(const char *in, size_t in_len, char **out, size_t *out_len,
    const char **encoding, char *err, size_t errsz);

#endif
