#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "timefmt.h"

void
json_str(struct sbuf *b, const char *s)
{
	size_t n, i = 0;

	if (s == NULL) {
		sbuf_puts(b, "null");
		return;
	}
	n = strlen(s);
	sbuf_putc(b, '"');
	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);
		switch (cp) {
		case '"': sbuf_puts(b, "\\\""); break;
		case '\\': sbuf_puts(b, "\\\\"); break;
		case '\n': sbuf_puts(b, "\\n"); break;
		case '\r': sbuf_puts(b, "\\r"); break;
		case '\t': sbuf_puts(b, "\\t"); break;
		case -1: sbuf_puts(b, "\xef\xbf\xbd"); break;	/* U+FFFD */
		default:
			if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 ||
			    cp == 0x2029)
				sbuf_printf(b, "\\u%04x", (unsigned)cp);
			else
				sbuf_append(b, s + at, i - at);
		}
	}
	sbuf_putc(b, '"');
}

void
json_hex(struct sbuf *b, const char *s)
{
	if (s == NULL) {
		sbuf_puts(b, "null");
		return;
	}
	sbuf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		sbuf_printf(b, "%02x", *p);
	sbuf_putc(b, '"');
}

/* ---- the writer ------------------------------------------------------------ */

void
json_start(struct json_writer *w, struct sbuf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->start = out->len;
}

static bool
misuse(struct json_writer *w, const char *what)
{
	if (w->error == NULL)
		w->error = what;
	return false;
}

/*
 * Whether a value may come now; writes the comma that separates it from
 * the one before in an array. In an object the comma went with the key.
 */
static bool
value_due(struct json_writer *w)
{
	if (w->error)
		return false;
	if (w->done)
		return misuse(w, "a second value after the document's top-level one");
	if (w->depth == 0)
		return true;
	if (w->in_object[w->depth - 1]) {
		if (!w->keyed)
			return misuse(w, "a value in an object without its key");
		w->keyed = false;
		return true;
	}
	if (w->has_items[w->depth - 1])
		sbuf_putc(w->out, ',');
	w->has_items[w->depth - 1] = true;
	return true;
}

/* A scalar or a closed container completes the document at depth 0. */
static void
value_written(struct json_writer *w)
{
	if (w->depth == 0)
		w->done = true;
}

static void
open_container(struct json_writer *w, bool object)
{
	if (w->depth == JSON_MAX_DEPTH) {
		misuse(w, "nesting deeper than JSON_MAX_DEPTH");
		return;
	}
	if (!value_due(w))
		return;
	sbuf_putc(w->out, object ? '{' : '[');
	w->in_object[w->depth] = object;
	w->has_items[w->depth] = false;
	w->depth++;
}

static void
close_container(struct json_writer *w, bool object)
{
	if (w->error)
		return;
	if (w->depth == 0 || w->in_object[w->depth - 1] != object) {
		misuse(w, object ? "closing an object that is not open" :
		    "closing an array that is not open");
		return;
	}
	if (w->keyed) {
		misuse(w, "a key without its value");
		return;
	}
	w->depth--;
	sbuf_putc(w->out, object ? '}' : ']');
	value_written(w);
}

void
json_begin_object(struct json_writer *w)
{
	open_container(w, true);
}

void
json_end_object(struct json_writer *w)
{
	close_container(w, true);
}

void
json_begin_array(struct json_writer *w)
{
	open_container(w, false);
}

void
json_end_array(struct json_writer *w)
{
	close_container(w, false);
}

void
json_key(struct json_writer *w, const char *key)
{
	if (w->error)
		return;
	if (w->depth == 0 || !w->in_object[w->depth - 1]) {
		misuse(w, "a key outside an object");
		return;
	}
	if (w->keyed) {
		misuse(w, "a key without its value");
		return;
	}
	if (key == NULL) {
		misuse(w, "a NULL key");
		return;
	}
	if (w->has_items[w->depth - 1])
		sbuf_putc(w->out, ',');
	w->has_items[w->depth - 1] = true;
	json_str(w->out, key);
	sbuf_putc(w->out, ':');
	w->keyed = true;
}

void
json_string(struct json_writer *w, const char *s)
{
	if (!value_due(w))
		return;
	json_str(w->out, s);
	value_written(w);
}

void
json_hexstring(struct json_writer *w, const char *s)
{
	if (!value_due(w))
		return;
	json_hex(w->out, s);
	value_written(w);
}

void
json_number(struct json_writer *w, long long v)
{
	if (!value_due(w))
		return;
	sbuf_printf(w->out, "%lld", v);
	value_written(w);
}

void
json_number_or_null(struct json_writer *w, long long v)
{
	if (v < 0)
		json_null(w);
	else
		json_number(w, v);
}

void
json_bool(struct json_writer *w, bool v)
{
	if (!value_due(w))
		return;
	sbuf_puts(w->out, v ? "true" : "false");
	value_written(w);
}

void
json_null(struct json_writer *w)
{
	if (!value_due(w))
		return;
	sbuf_puts(w->out, "null");
	value_written(w);
}

void
json_time(struct json_writer *w, int64_t t)
{
	char s[TIMEFMT_RFC3339_SIZE];

	if (t <= 0) {
		json_null(w);
		return;
	}
	json_string(w, timefmt_rfc3339(t, s, sizeof(s)));
}

void
json_member_string(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	json_string(w, s);
}

void
json_member_number(struct json_writer *w, const char *key, long long v)
{
	json_key(w, key);
	json_number(w, v);
}

void
json_member_number_or_null(struct json_writer *w, const char *key, long long v)
{
	json_key(w, key);
	json_number_or_null(w, v);
}

void
json_member_bool(struct json_writer *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}

void
json_member_time(struct json_writer *w, const char *key, int64_t t)
{
	json_key(w, key);
	json_time(w, t);
}

int
json_finish(struct json_writer *w, char *err, size_t errsz)
{
	const char *why = w->error;

	if (why == NULL && w->depth > 0)
		why = "an object or array left open";
	if (why == NULL && !w->done)
		why = "an empty document";
	if (why == NULL)
		return 0;
	snprintf(err, errsz, "writing JSON: %s", why);
	/* half a document is worse than none: nobody parses it by mistake */
	w->out->len = w->start;
	if (w->out->data)
		w->out->data[w->start] = '\0';
	return -1;
}

void
json_finish_fixed(struct json_writer *w)
{
	char err[128];

	if (json_finish(w, err, sizeof(err)) < 0) {
		fprintf(stderr, "distd: bug: %s\n", err);
		abort();
	}
}
