#ifndef DISTD_JSON_H
#define DISTD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/*
 * JSON writing for distctl's --json output.
 *
 * A struct json_writer keeps the structure: callers open and close
 * objects and arrays, name members with json_key and write values; the
 * writer puts the commas and colons. The output is compact (no spaces,
 * no newline: a caller that prints JSON Lines adds the '\n').
 *
 * Misuse — a value in an object without its key, a key in an array or
 * twice, closing what is not open, nesting deeper than JSON_MAX_DEPTH, a
 * second top-level value — is not written: the writer remembers the first
 * such error, ignores every later call, and json_finish reports it and
 * takes back what the document had written, so that out never holds
 * invalid JSON.
 *
 *	struct json_writer w;
 *	json_start(&w, out);
 *	json_begin_object(&w);
 *	json_member_string(&w, "title", title);
 *	json_key(&w, "tiers");
 *	json_begin_array(&w);
 *	…
 *	json_end_array(&w);
 *	json_end_object(&w);
 *	if (json_finish(&w, err, sizeof(err)) < 0) …
 */

#define JSON_MAX_DEPTH 16

struct json_writer {
	struct sbuf *out;
	size_t start;		/* out->len at json_start: what json_finish takes back */
	int depth;		/* containers open */
	bool in_object[JSON_MAX_DEPTH];	/* else an array */
	bool has_items[JSON_MAX_DEPTH];	/* a comma before the next one */
	bool keyed;		/* a key was written, its value is due */
	bool done;		/* the top-level value is complete */
	const char *error;	/* the first misuse, else NULL */
};

/* Starts a document appended to out. */
void json_start(struct json_writer *w, struct sbuf *out);
/*
 * Ends the document: 0 when it is one complete value; else -1 with err
 * saying what was wrong (the first misuse, or containers left open), and
 * out is back to its length at json_start.
 */
int json_finish(struct json_writer *w, char *err, size_t errsz);
/*
 * json_finish for a document whose structure the caller fixes in its code
 * (distctl's renderers): a misuse there is a bug in the caller, so it is
 * said on stderr and ends the program (abort) instead of printing half a
 * document or nothing.
 */
void json_finish_fixed(struct json_writer *w);

void json_begin_object(struct json_writer *w);
void json_end_object(struct json_writer *w);
void json_begin_array(struct json_writer *w);
void json_end_array(struct json_writer *w);
/* The name of the next member of the open object. */
void json_key(struct json_writer *w, const char *key);

/* A string (see json_str for what it guarantees), or null when s is NULL. */
void json_string(struct json_writer *w, const char *s);
/* The bytes of s in hex (see json_hex), or null when s is NULL. */
void json_hexstring(struct json_writer *w, const char *s);
void json_number(struct json_writer *w, long long v);
/* A number, or null when v < 0 (absent counts are -1 throughout). */
void json_number_or_null(struct json_writer *w, long long v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/*
 * A unix time as RFC 3339 local time (timefmt_rfc3339),
 * "2026-11-23T08:05:04+08:00", or null when t <= 0 (never happened).
 */
void json_time(struct json_writer *w, int64_t t);

/* json_key followed by the value. */
void json_member_string(struct json_writer *w, const char *key, const char *s);
void json_member_number(struct json_writer *w, const char *key, long long v);
void json_member_number_or_null(struct json_writer *w, const char *key, long long v);
void json_member_bool(struct json_writer *w, const char *key, bool v);
void json_member_time(struct json_writer *w, const char *key, int64_t t);

/*
 * The escaping under the writer, for callers that embed one JSON string
 * in other text. A JSON string for s, or null when s is NULL. The
 * document stays valid UTF-8 whatever s holds: bytes that are not UTF-8
 * (a GBK file name) become U+FFFD (json_hex keeps the original bytes);
 * control characters, C1 controls and U+2028/U+2029 are written as \u
 * escapes.
 */
void json_str(struct sbuf *b, const char *s);
/* The bytes of s as a JSON string of lower-case hex digits ("c4e3"), or null. */
void json_hex(struct sbuf *b, const char *s);

#endif
