#include "compose.h"

#include <cmark.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbuf.h"
#include "text.h"

static void
put_number(struct sbuf *b, long v)
{
	if (v >= 0)
		sbuf_printf(b, "%ld", v);
}

static void
cut(char *s, const char *what)
{
	char *p;
	size_t n = strlen(what);

	while ((p = strstr(s, what)) != NULL)
		memmove(p, p + n, strlen(p + n) + 1);
}

char *
compose_subject(const char *tmpl, const struct bulletin *b)
{
	struct sbuf raw = SBUF_INIT, out = SBUF_INIT;

	for (const char *p = tmpl; *p;) {
		const char *e;
		if (*p != '%' || (e = strchr(p + 1, '%')) == NULL) {
			sbuf_putc(&raw, *p++);
			continue;
		}
		size_t n = (size_t)(e - p - 1);
		if (n == 0)
			sbuf_putc(&raw, '%');
		else if (n == 5 && strncmp(p + 1, "title", 5) == 0)
			sbuf_puts(&raw, b->title ? b->title : "");
		else if (n == 5 && strncmp(p + 1, "issue", 5) == 0)
			put_number(&raw, b->issue_no);
		else if (n == 5 && strncmp(p + 1, "total", 5) == 0)
			put_number(&raw, b->total_issue_no);
		else if (n == 4 && strncmp(p + 1, "date", 4) == 0)
			sbuf_puts(&raw, b->date ? b->date : "");
		else if (n == 6 && strncmp(p + 1, "issuer", 6) == 0)
			sbuf_puts(&raw, b->issuer ? b->issuer : "");
		else
			sbuf_append(&raw, p, (size_t)(e - p + 1));
		p = e + 1;
	}
	char *s = sbuf_steal(&raw);
	cut(s, "总第期");
	cut(s, "第期");
	cut(s, "()");
	cut(s, "（）");

	/* one line, single spaces, no leading or trailing space */
	size_t n = strlen(s), i = 0;
	bool space = false;
	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);	/* invalid bytes: -1, a space */
		if (cp < 0x20 || cp == 0x7F || text_is_space(cp) ||
		    cp == 0x2028 || cp == 0x2029 || cp == 0x85) {
			space = out.len > 0;
			continue;
		}
		if (space)
			sbuf_putc(&out, ' ');
		space = false;
		sbuf_append(&out, s + at, i - at);
	}
	free(s);
	return sbuf_steal(&out);
}

/* ---- MIME message ------------------------------------------------------ */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

const char *
compose_content_type(const char *filename)
{
	static const struct { const char *ext, *type; } types[] = {
		{ "pdf", "application/pdf" },
		{ "doc", "application/msword" },
		{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
		{ "xls", "application/vnd.ms-excel" },
		{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
		{ "ppt", "application/vnd.ms-powerpoint" },
		{ "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
		{ "wps", "application/vnd.ms-works" },
		{ "ofd", "application/ofd" },
		{ "zip", "application/zip" },
		{ "rar", "application/vnd.rar" },
		{ "7z", "application/x-7z-compressed" },
		{ "txt", "text/plain" },
		{ "md", "text/markdown" },
		{ "csv", "text/csv" },
		{ "htm", "text/html" },
		{ "html", "text/html" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "png", "image/png" },
		{ "gif", "image/gif" },
		{ "tif", "image/tiff" },
		{ "tiff", "image/tiff" },
	};
	const char *dot = strrchr(filename, '.');

	if (dot != NULL)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

static GMimeObject *
text_part(const char *subtype, const char *text)
{
	GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);

	g_mime_text_part_set_charset(p, "utf-8");
	g_mime_text_part_set_text(p, text);
	return GMIME_OBJECT(p);
}

static GMimeObject *
attachment_part(const struct compose_attachment *a)
{
	char type[128];
	const char *slash;
	GMimePart *p;
	GMimeStream *s;
	GMimeDataWrapper *w;

	snprintf(type, sizeof(type), "%s", compose_content_type(a->name));
	slash = strchr(type, '/');
	type[slash - type] = '\0';
	p = g_mime_part_new_with_type(type, slash + 1);
	s = g_mime_stream_mem_new_with_buffer(a->data, a->len);
	w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_part_set_filename(p, a->name);
	g_object_unref(w);
	g_object_unref(s);
	return GMIME_OBJECT(p);
}

char *
compose_message(const struct compose_input *in, size_t *len, char *err, size_t errsz)
{
	GMimeMessage *m;
	GMimeMultipart *alt;
	GMimeObject *root, *part;
	GMimeFormatOptions *fo;
	GMimeStream *out;
	GByteArray *bytes;
	GDateTime *dt;
	const char *body = in->body ? in->body : "";
	char *html, *page, id[32], *result;
	bool any_to = false;

	pthread_once(&gmime_once, gmime_start);
	m = g_mime_message_new(TRUE);
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, in->from_display,
	    in->from_address);
	/* Collected in free-standing lists and appended once: every change to
	 * the message's own list re-formats the whole header, which made
	 * 10 000 recipients quadratic. */
	InternetAddressList *to = internet_address_list_new();
	InternetAddressList *cc = internet_address_list_new();
	for (size_t i = 0; i < in->n_rcpts; i++) {
		const struct compose_rcpt *r = &in->rcpts[i];
		if (r->header == CONF_HEADER_BCC)
			continue;
		InternetAddress *ia = internet_address_mailbox_new(r->display, r->address);
		internet_address_list_add(r->header == CONF_HEADER_TO ? to : cc, ia);
		g_object_unref(ia);
		any_to |= r->header == CONF_HEADER_TO;
	}
	if (internet_address_list_length(to) > 0)
		internet_address_list_append(g_mime_message_get_addresses(m,
		    GMIME_ADDRESS_TYPE_TO), to);
	if (internet_address_list_length(cc) > 0)
		internet_address_list_append(g_mime_message_get_addresses(m,
		    GMIME_ADDRESS_TYPE_CC), cc);
	g_object_unref(to);
	g_object_unref(cc);
	if (!any_to)
		g_mime_object_set_header(GMIME_OBJECT(m), "To", "undisclosed-recipients:;",
		    NULL);
	g_mime_message_set_subject(m, in->subject, "utf-8");
	dt = g_date_time_new_from_unix_local(in->date);
	g_mime_message_set_date(m, dt);
	g_date_time_unref(dt);
	g_mime_message_set_message_id(m, in->message_id);
	snprintf(id, sizeof(id), "%lld", (long long)in->issue_id);
	g_mime_object_set_header(GMIME_OBJECT(m), "X-Distd-Issue", id, NULL);
	/* distd's own mail to the admin: no auto-replies back to it (RFC 3834) */
	if (in->auto_submitted)
		g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted", "auto-generated",
		    NULL);
	if (in->urgent) {
		g_mime_object_set_header(GMIME_OBJECT(m), "Importance", "high", NULL);
		g_mime_object_set_header(GMIME_OBJECT(m), "Priority", "urgent", NULL);
	}

	/* cmark leaves raw HTML out by default (no CMARK_OPT_UNSAFE): a
	 * bulletin cannot smuggle script or markup into the HTML part. */
	html = cmark_markdown_to_html(body, strlen(body), CMARK_OPT_DEFAULT);
	struct sbuf doc = SBUF_INIT;
	sbuf_printf(&doc, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	    "</head><body>\n%s</body></html>\n", html);
	free(html);
	page = sbuf_steal(&doc);

	alt = g_mime_multipart_new_with_subtype("alternative");
	part = text_part("plain", body);
	g_mime_multipart_add(alt, part);
	g_object_unref(part);
	part = text_part("html", page);
	g_mime_multipart_add(alt, part);
	g_object_unref(part);
	free(page);

	if (in->n_attachments > 0) {
		GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mixed, GMIME_OBJECT(alt));
		g_object_unref(alt);
		for (size_t i = 0; i < in->n_attachments; i++) {
			part = attachment_part(&in->attachments[i]);
			g_mime_multipart_add(mixed, part);
			g_object_unref(part);
		}
		root = GMIME_OBJECT(mixed);
	} else {
		root = GMIME_OBJECT(alt);
	}
	g_mime_message_set_mime_part(m, root);
	g_object_unref(root);

	/* curl never announces 8BITMIME: every part must be 7-bit clean */
	g_mime_object_encode(GMIME_OBJECT(m), GMIME_ENCODING_CONSTRAINT_7BIT);
	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	out = g_mime_stream_mem_new();
	if (g_mime_object_write_to_stream(GMIME_OBJECT(m), fo, out) < 0) {
		snprintf(err, errsz, "composing the message failed");
		result = NULL;
	} else {
		bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
		result = xmalloc(bytes->len + 1);
		memcpy(result, bytes->data, bytes->len);
		result[bytes->len] = '\0';
		*len = bytes->len;
	}
	g_object_unref(out);
	g_mime_format_options_free(fo);
	g_object_unref(m);
	return result;
}
