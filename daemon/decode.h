#ifndef DISTD_DECODE_H
#define DISTD_DECODE_H

#include <stddef.h>

/*
 * Turns the bytes of an issue file into UTF-8.
 *
 * Accepted: UTF-8 with or without a byte-order mark, UTF-16LE/BE with a
 * byte-order mark, and GB18030 (a superset of GBK and GB2312, which is what
 * office software on Chinese Windows saves as "ANSI"). Valid UTF-8 wins over
 * GB18030: a GBK file of real Chinese text is practically never valid UTF-8.
 * Text containing NUL characters is refused as binary.
 *
 * Returns 0 and sets *out (NUL-terminated, caller frees), *out_len and
 * *encoding (a static name: "UTF-8", "UTF-8 (BOM)", "UTF-16LE", "UTF-16BE",
 * "GB18030"); or -1 with a message in err naming the byte offset.
 * Pure: no I/O besides iconv's tables.
 */
int decode_to_utf8(const char *in, size_t in_len, char **out, size_t *out_len,
    const char **encoding, char *err, size_t errsz);

#endif
