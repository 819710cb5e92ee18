#ifndef DISTD_JSON_H
#define DISTD_JSON_H

#include "sbuf.h"

/*
 * Minimal JSON writing for distctl's --json output: the caller writes
 * the structure, these helpers write correctly escaped scalars.
 */

/*
 * A JSON string for s, or null when s is NULL. The document stays valid
 * UTF-8 whatever s holds: bytes that are not UTF-8 (a GBK file name)
 * become U+FFFD (json_hex keeps the original bytes); control characters,
 * C1 controls and U+2028/U+2029 are written as \u escapes.
 */
void json_str(struct sbuf *b, const char *s);
/* The bytes of s as a JSON string of lower-case hex digits ("c4e3"), or null. */
void json_hex(struct sbuf *b, const char *s);
/* A number, or null when v < 0 (absent counts are -1 throughout). */
void json_num_or_null(struct sbuf *b, long long v);
/* "key": — with a comma first unless *first; clears *first. */
void json_key(struct sbuf *b, const char *key, int *first);

#endif
