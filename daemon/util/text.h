#ifndef DISTD_TEXT_H
#define DISTD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/*
 * UTF-8 helpers shared by the parser, the router and distctl.
 * All functions are pure. Strings returned by text_* allocators are
 * owned by the caller (free()).
 */

/*
 * Decodes the code point at s[*i] (n bytes in all) and advances *i past it.
 * Returns -1 (and advances by one byte) on an invalid or truncated sequence,
 * an overlong form or a surrogate.
 */
int32_t text_next(const char *s, size_t n, size_t *i);

/* True when s[0..n) is valid UTF-8; else *bad is the offset of the first bad byte. */
bool text_valid_utf8(const char *s, size_t n, size_t *bad);

/* Appends the UTF-8 form of cp to out (at most 4 bytes); returns the byte count. */
size_t text_encode(int32_t cp, char *out);

/*
 * Width folding for matching (never for text that is mailed): full-width
 * ASCII forms (U+FF01..U+FF5E) become ASCII, and U+3000, U+00A0 and tabs
 * become a plain space.
 */
int32_t text_fold_cp(int32_t cp);

/* True for white space after folding (ASCII space, tab, CR, LF, U+3000, U+00A0). */
bool text_is_space(int32_t cp);

/* True for CJK ideographs (the characters words are made of in a bulletin). */
bool text_is_ideograph(int32_t cp);

/* Folded copy of s[0..n) (see text_fold_cp) with leading and trailing spaces cut. */
char *text_fold(const char *s, size_t n);

/*
 * Matching key: folded, with every space removed, so that "区 政 协" and
 * "区　政协" and "区政协" compare equal. ASCII letters are lower-cased.
 */
char *text_key(const char *s);

/* Display columns of a UTF-8 string on a terminal (East Asian wide = 2). */
int text_width(const char *s);

/* Copy of s[0..n) with leading and trailing white space (incl. U+3000) removed. */
char *text_strip(const char *s, size_t n);

/*
 * Terminal-safe text for distctl's text output. Queue values come from
 * files anyone who can write the outbox controls (titles, file names) and
 * from relays (replies): printed raw, an escape sequence in a title could
 * retitle the admin's terminal, hide lines or forge output. text_escape
 * appends s[0..n) with everything that is not printable text made
 * visible: C0 controls and DEL as \x1b, C1 controls, line separators and
 * the bidirectional overrides as \u202e, and every byte that is not UTF-8
 * (a GBK file name) as \xNN, so its bytes stay readable. With
 * keep_newlines, '\n' passes (multi-line messages); tabs never do.
 */
void text_escape(struct sbuf *out, const char *s, size_t n, bool keep_newlines);

/* True when text_escape(s, n, false) would append s unchanged. */
bool text_printable(const char *s, size_t n);

#endif
