#ifndef DISTD_JSON_H
#define DISTD_JSON_H

#include "sbuf.h"

/*
 * Minimal JSON writing for distctl's --json output: the caller writes
 * the structure, these helpers write correctly escaped scalars.
 */

/* A JSON string for s (valid UTF-8 expected), or null when s is NULL. */
void json_str(struct sbuf *b, const char *s);
/* A number, or null when v < 0 (absent counts are -1 throughout). */
void json_num_or_null(struct sbuf *b, long long v);
/* "key": — with a comma first unless *first; clears *first. */
void json_key(struct sbuf *b, const char *key, int *first);

#endif
