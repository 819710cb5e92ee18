/*
 * The feedback mailbox over IMAPS with libcurl.
 *
 * libcurl's IMAP speaks the protocol's login and hands us the rest: every
 * command here is a CURLOPT_CUSTOMREQUEST on a URL without a folder (so
 * curl selects nothing itself and the SELECT we send stays in force on
 * the one connection the handle keeps), and every line the server sends
 * reaches the header callback in order, literals included. We keep those
 * bytes (bounded) and parse them ourselves: curl's own FETCH would use
 * BODY[], which sets \Seen on what we may leave for a human.
 *
 * A literal is counted in bytes, not lines. curl reads the stream line
 * by line and ends a command's response at the first line starting with
 * its tag; a message whose body holds such a line would end the response
 * early (or, with "TAG NO", as a refusal). The literal is then short of
 * its announced length: we notice, leave that message for a human (the
 * cursor passes it) and go on over a new handle and connection, so that
 * the rest of that stream is never read as responses.
 */
#include "feedback_collect.h"

#include <ctype.h>
#include <curl/curl.h>
#include <glib.h>
#include <gmime/gmime.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "sbuf.h"
#include "xalloc.h"

#include "feedback.h"
#include "feedback_match.h"

/* Seconds: to connect (TCP and TLS), and for any one reply. */
#define FEEDBACK_CONNECT_TIMEOUT 30
#define FEEDBACK_RESPONSE_TIMEOUT 60
/* A response's bytes beyond the message itself: the FETCH line, the tag. */
#define FEEDBACK_RESP_SLACK (64u * 1024)

/* ---- settings ------------------------------------------------------------- */

static char *
dup0(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct feedback_settings *
feedback_settings_new(const struct conf *c)
{
	struct feedback_settings *s;
	char buf[2048];
	const char *at;

	if (!c->feedback.enabled || c->feedback.host == NULL)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	/* an IPv6 literal keeps its brackets */
	const char *h = c->feedback.host;
	bool v6 = strchr(h, ':') != NULL && h[0] != '[';
	snprintf(buf, sizeof(buf), "imaps://%s%s%s:%d/", v6 ? "[" : "", h, v6 ? "]" : "",
	    c->feedback.port);
	s->url = xstrdup(buf);
	snprintf(buf, sizeof(buf), "%s%s", s->url, c->feedback.folder);
	s->where = xstrdup(buf);
	snprintf(buf, sizeof(buf), "%s@%s%s%s:%d/%s", c->feedback.username, v6 ? "[" : "",
	    h, v6 ? "]" : "", c->feedback.port, c->feedback.folder);
	s->cursor = xstrdup(buf);
	s->folder = xstrdup(c->feedback.folder);
	s->done_folder = xstrdup(c->feedback.done_folder);
	s->username = dup0(c->feedback.username);
	s->password = dup0(c->feedback.password);
	s->ca_file = dup0(c->feedback.ca_file);
	at = c->sender.from_address ? strrchr(c->sender.from_address, '@') : NULL;
	s->id_domain = xstrdup(at ? at + 1 : "localhost");
	s->state = xstrdup(c->state);
	s->interval = c->feedback.interval;
	return s;
}

void
feedback_settings_free(struct feedback_settings *s)
{
	if (s == NULL)
		return;
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->url);
	free(s->where);
	free(s->cursor);
	free(s->folder);
	free(s->done_folder);
	free(s->username);
	free(s->ca_file);
	free(s->id_domain);
	free(s->state);
	free(s);
}

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

bool
feedback_settings_equal(const struct feedback_settings *a, const struct feedback_settings *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return same(a->url, b->url) && same(a->cursor, b->cursor) &&
	    same(a->done_folder, b->done_folder) && same(a->password, b->password) &&
	    same(a->ca_file, b->ca_file) && same(a->id_domain, b->id_domain) &&
	    same(a->state, b->state) && a->interval == b->interval;
}

/* ---- the server's bytes, parsed ------------------------------------------- */

/*
 * One response: its first line (without CRLF), and, when that line ends in
 * a literal {n}, the literal and the line's continuation after it. Later
 * literals on the same response are skipped over, not returned.
 */
struct resp {
	const char *line;
	size_t len;
	const char *lit;		/* NULL: none */
	size_t litlen;			/* as announced */
	bool cut;			/* the literal is shorter than announced */
	const char *rest;
	size_t restlen;
};

/* The n of a trailing {n} or {n+}; -1 when the line does not end in one. */
static int64_t
literal_len(const char *line, size_t len)
{
	size_t i;
	int64_t n = 0;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	i = len - 1;
	if (line[i - 1] == '+')
		i--;
	size_t end = i;
	while (i > 0 && isdigit((unsigned char)line[i - 1]))
		i--;
	if (i == end || i == 0 || line[i - 1] != '{' || end - i > 12)
		return -1;
	for (; i < end; i++)
		n = n * 10 + (line[i] - '0');
	return n;
}

/* The next line of [p, end): its length without CRLF; *next after it. */
static size_t
line_at(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n;

	if (nl == NULL) {
		*next = end;
		return (size_t)(end - p);
	}
	*next = nl + 1;
	n = (size_t)(nl - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

/* Reads one response at *pp; false at the end of the bytes. */
static bool
next_resp(const char **pp, const char *end, struct resp *r)
{
	const char *p = *pp, *next;
	int64_t lit;

	memset(r, 0, sizeof(*r));
	if (p >= end)
		return false;
	r->line = p;
	r->len = line_at(p, end, &next);
	p = next;
	lit = literal_len(r->line, r->len);
	bool first = true;
	while (lit >= 0) {
		if ((uint64_t)lit > (uint64_t)(end - p)) {
			r->cut = true;
			if (first) {
				r->lit = p;
				r->litlen = (size_t)lit;
			}
			*pp = end;
			return true;
		}
		if (first) {
			r->lit = p;
			r->litlen = (size_t)lit;
		}
		p += lit;
		const char *rest = p;
		size_t restlen = line_at(p, end, &next);
		if (first) {
			r->rest = rest;
			r->restlen = restlen;
		}
		p = next;
		first = false;
		lit = literal_len(rest, restlen);
	}
	*pp = p;
	return true;
}

static bool
untagged(const struct resp *r)
{
	return r->len >= 2 && r->line[0] == '*' && r->line[1] == ' ';
}

/* The word at s (case-insensitive) followed by a non-letter. */
static const char *
find_word(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, w, k) == 0 &&
		    (i == 0 || !isalnum((unsigned char)s[i - 1]) ) &&
		    (i + k == n || !isalnum((unsigned char)s[i + k])))
			return s + i;
	return NULL;
}

static bool
read_u64(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	while (p < end && isdigit((unsigned char)*p) && p - s < 20)
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (p == s || (p < end && isdigit((unsigned char)*p)))
		return false;
	*out = v;
	return true;
}

int
feedback_imap_uidvalidity(const char *buf, size_t len, uint32_t *out)
{
	const char *p = buf, *end = buf + len;
	struct resp r;

	while (next_resp(&p, end, &r)) {
		if (!untagged(&r))
			continue;
		const char *w = find_word(r.line, r.len, "UIDVALIDITY");
		uint64_t v;
		if (w == NULL)
			continue;
		const char *e = r.line + r.len;
		w += strlen("UIDVALIDITY");
		while (w < e && *w == ' ')
			w++;
		if (read_u64(w, e, &v) && v > 0 && v <= UINT32_MAX) {
			*out = (uint32_t)v;
			return 0;
		}
	}
	return -1;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t
feedback_imap_search(const char *buf, size_t len, uint32_t above, uint32_t *uids, size_t max)
{
	const char *p = buf, *end = buf + len;
	struct resp r;
	size_t n = 0, total = 0;

	while (next_resp(&p, end, &r)) {
		if (!untagged(&r) || r.len < 8 || strncasecmp(r.line + 2, "SEARCH", 6) != 0)
			continue;
		const char *s = r.line + 8, *e = r.line + r.len;
		while (s < e) {
			uint64_t v;
			while (s < e && *s == ' ')
				s++;
			if (s < e && *s == '(')
				break;	/* (MODSEQ n) and the like */
			if (!read_u64(s, e, &v))
				break;
			while (s < e && isdigit((unsigned char)*s))
				s++;
			if (v <= above || v > UINT32_MAX)
				continue;
			total++;
			if (n < max) {
				uids[n++] = (uint32_t)v;
			} else {
				/* keep the lowest max: replace the highest kept */
				size_t hi = 0;
				for (size_t i = 1; i < n; i++)
					if (uids[i] > uids[hi])
						hi = i;
				if (n > 0 && uids[hi] > v)
					uids[hi] = (uint32_t)v;
			}
		}
	}
	qsort(uids, n, sizeof(*uids), cmp_u32);
	return total;
}

/* Whether a FETCH response (first line and continuation) is for uid. */
static bool
fetch_of(const struct resp *r, uint32_t uid)
{
	const char *segs[2] = { r->line, r->rest };
	size_t lens[2] = { r->len, r->restlen };

	if (!untagged(r) || find_word(r->line, r->len, "FETCH") == NULL)
		return false;
	for (int i = 0; i < 2; i++) {
		const char *w;
		uint64_t v;
		if (segs[i] == NULL || (w = find_word(segs[i], lens[i], "UID")) == NULL)
			continue;
		const char *e = segs[i] + lens[i];
		w += 3;
		while (w < e && *w == ' ')
			w++;
		if (read_u64(w, e, &v))
			return v == uid;
	}
	return false;
}

int
feedback_imap_literal(const char *buf, size_t len, uint32_t uid, size_t limit,
    const char **msg, size_t *msglen, char *err, size_t errsz)
{
	const char *p = buf, *end = buf + len;
	struct resp r;

	while (next_resp(&p, end, &r)) {
		if (r.lit == NULL || !fetch_of(&r, uid))
			continue;
		if (find_word(r.line, r.len, "BODY[]") == NULL &&
		    strstr(r.line, "BODY[]") == NULL) {
			snprintf(err, errsz, "UID %" PRIu32 ": the FETCH response carries "
			    "no BODY[]", uid);
			return -1;
		}
		if (r.litlen > limit) {
			snprintf(err, errsz, "UID %" PRIu32 ": %zu bytes, more than the "
			    "%zu read", uid, r.litlen, limit);
			return -1;
		}
		if (r.cut) {
			snprintf(err, errsz, "UID %" PRIu32 ": the message ended before its "
			    "announced %zu bytes (the response was cut short)", uid,
			    r.litlen);
			return -1;
		}
		*msg = r.lit;
		*msglen = r.litlen;
		return 0;
	}
	snprintf(err, errsz, "UID %" PRIu32 ": no message in the FETCH response", uid);
	return -1;
}

int
feedback_imap_size(const char *buf, size_t len, uint32_t uid, uint64_t *size)
{
	const char *p = buf, *end = buf + len;
	struct resp r;

	while (next_resp(&p, end, &r)) {
		const char *w;
		if (!fetch_of(&r, uid) || (w = find_word(r.line, r.len, "RFC822.SIZE")) == NULL)
			continue;
		const char *e = r.line + r.len;
		w += strlen("RFC822.SIZE");
		while (w < e && *w == ' ')
			w++;
		if (read_u64(w, e, size))
			return 0;
	}
	return -1;
}

bool
feedback_imap_capability(const char *buf, size_t len, const char *cap)
{
	const char *p = buf, *end = buf + len;
	struct resp r;

	while (next_resp(&p, end, &r)) {
		const char *c = find_word(r.line, r.len, "CAPABILITY");
		if (!untagged(&r) || c == NULL)
			continue;
		const char *e = r.line + r.len;
		/* in a [CAPABILITY …] code, up to its ']' */
		const char *close = memchr(c, ']', (size_t)(e - c));
		if (close != NULL && c > r.line && c[-1] == '[')
			e = close;
		for (const char *s = c + strlen("CAPABILITY"); s < e;) {
			while (s < e && *s == ' ')
				s++;
			const char *t = s;
			while (t < e && *t != ' ')
				t++;
			if ((size_t)(t - s) == strlen(cap) && strncasecmp(s, cap, (size_t)(t - s)) == 0)
				return true;
			s = t;
		}
	}
	return false;
}

bool
feedback_imap_listed(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	struct resp r;

	while (next_resp(&p, end, &r))
		if (untagged(&r) && r.len > 7 && strncasecmp(r.line + 2, "LIST ", 5) == 0)
			return true;
	return false;
}

void
feedback_imap_tagged(const char *buf, size_t len, char *out, size_t outsz)
{
	const char *p = buf, *end = buf + len;
	struct resp r, last = { 0 };

	while (next_resp(&p, end, &r))
		if (!untagged(&r) && r.len > 0 && r.line[0] != '+')
			last = r;
	out[0] = '\0';
	if (last.line == NULL)
		return;
	const char *sp = memchr(last.line, ' ', last.len);
	const char *s = sp ? sp + 1 : last.line;
	size_t n = last.len - (size_t)(s - last.line);
	/* printable only: it goes into logs and an alert */
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < outsz && o < 200; i++)
		out[o++] = isprint((unsigned char)s[i]) ? s[i] : '?';
	out[o] = '\0';
}

char *
feedback_imap_folder(const char *utf8)
{
	struct sbuf b = SBUF_INIT;
	const unsigned char *s = (const unsigned char *)utf8;

	sbuf_putc(&b, '"');
	while (*s) {
		if (*s >= 0x20 && *s <= 0x7e) {
			if (*s == '&')
				sbuf_puts(&b, "&-");
			else {
				if (*s == '"' || *s == '\\')
					sbuf_putc(&b, '\\');
				sbuf_putc(&b, (char)*s);
			}
			s++;
			continue;
		}
		/* a run of non-ASCII: UTF-16BE, base64 with ',' for '/', no '=' */
		const unsigned char *e = s;
		while (*e && !(*e >= 0x20 && *e <= 0x7e))
			e++;
		glong n16 = 0;
		gunichar2 *u = g_utf8_to_utf16((const char *)s, (glong)(e - s), NULL, &n16, NULL);
		if (u != NULL) {
			guchar *be = xmalloc((size_t)n16 * 2 + 1);
			for (glong i = 0; i < n16; i++) {
				be[2 * i] = (guchar)(u[i] >> 8);
				be[2 * i + 1] = (guchar)(u[i] & 0xff);
			}
			gchar *b64 = g_base64_encode(be, (gsize)n16 * 2);
			sbuf_putc(&b, '&');
			for (char *q = b64; *q && *q != '='; q++)
				sbuf_putc(&b, *q == '/' ? ',' : *q);
			sbuf_putc(&b, '-');
			g_free(b64);
			free(be);
			g_free(u);
		}
		s = e;
	}
	sbuf_putc(&b, '"');
	return sbuf_steal(&b);
}

int64_t
feedback_imap_date(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len, *next;
	struct sbuf v = SBUF_INIT;
	bool in_date = false;
	int64_t t = 0;

	while (p < end) {
		size_t n = line_at(p, end, &next);
		if (n == 0)
			break;		/* the end of the header */
		if (p[0] == ' ' || p[0] == '\t') {
			if (in_date)
				sbuf_append(&v, p, n);
		} else {
			if (in_date)
				break;
			in_date = n > 5 && strncasecmp(p, "Date:", 5) == 0;
			if (in_date)
				sbuf_append(&v, p + 5, n - 5);
		}
		if (v.len > 200)
			break;
		p = next;
	}
	if (v.len > 0) {
		GDateTime *dt = g_mime_utils_header_decode_date(sbuf_str(&v));
		if (dt != NULL) {
			t = g_date_time_to_unix(dt);
			g_date_time_unref(dt);
		}
	}
	sbuf_free(&v);
	return t;
}

/* ---- one poll ------------------------------------------------------------- */

struct poll {
	const struct feedback_settings *s;
	struct queue *q;
	CURL *h;
	atomic_bool *abort;
	struct sbuf buf;	/* the current command's response bytes */
	size_t cap;		/* beyond this, the transfer is cut */
	bool over;		/* it was */
	char errbuf[CURL_ERROR_SIZE];
	char err[512];		/* the last command's failure */
	bool has_move;
	char *done;		/* done_folder, quoted */
	char *folder;		/* the folder, quoted */
	/*
	 * curl closes the connection after a command the server refused, and
	 * the next one opens another, where nothing is selected: selected
	 * says whether the SELECT still holds (see reselect).
	 */
	bool selected;
	uint32_t uidvalidity;
	CURLcode rc;		/* the last command's */
};

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct poll *p = arg;

	if (p->buf.len + n > p->cap) {
		p->over = true;
		return 0;
	}
	sbuf_append(&p->buf, data, n);
	return size * n;
}

static size_t
body_cb(char *data, size_t size, size_t n, void *arg)
{
	(void)data, (void)arg;
	return size * n;	/* the untagged lines again: the header copy is kept */
}

static int
progress_cb(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct poll *p = arg;

	(void)a, (void)b, (void)c, (void)d;
	return p->abort != NULL && atomic_load(p->abort) ? 1 : 0;
}

static void
setup(struct poll *p)
{
	CURL *h = p->h;

	curl_easy_setopt(h, CURLOPT_URL, p->s->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERNAME, p->s->username);
	curl_easy_setopt(h, CURLOPT_PASSWORD, p->s->password ? p->s->password : "");
	/* verified always: there is no setting to turn it off */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (p->s->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, p->s->ca_file);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)FEEDBACK_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)FEEDBACK_RESPONSE_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)FEEDBACK_RESPONSE_TIMEOUT);
	/* a line longer than half the buffer is cut by curl: take the largest */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)CURL_MAX_READ_SIZE);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, p);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, p);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p->errbuf);
	/* never CURLOPT_VERBOSE: the LOGIN line carries the password */
}

/* The words for a curl failure, for the alert (no URL userinfo, no password). */
static void
curl_why(struct poll *p, CURLcode rc, const char *what)
{
	char tagged[256];
	const char *kind;

	switch (rc) {
	case CURLE_LOGIN_DENIED: kind = "login refused"; break;
	case CURLE_PEER_FAILED_VERIFICATION: kind = "the server's certificate "
	    "was not verified"; break;
	case CURLE_SSL_CONNECT_ERROR: kind = "TLS failed"; break;
	case CURLE_COULDNT_CONNECT: kind = "cannot connect"; break;
	case CURLE_COULDNT_RESOLVE_HOST: kind = "cannot resolve the host"; break;
	case CURLE_OPERATION_TIMEDOUT: kind = "timed out"; break;
	case CURLE_QUOTE_ERROR: kind = "refused"; break;
	default: kind = curl_easy_strerror(rc); break;
	}
	feedback_imap_tagged(sbuf_str(&p->buf), p->buf.len, tagged,
	    sizeof(tagged));
	snprintf(p->err, sizeof(p->err), "%s: %s%s%s%s", what, kind,
	    p->errbuf[0] ? " (" : "", p->errbuf, p->errbuf[0] ? ")" : "");
	if (rc == CURLE_QUOTE_ERROR && tagged[0]) {
		size_t l = strlen(p->err);
		snprintf(p->err + l, sizeof(p->err) - l, ": %s", tagged);
	}
}

/* One command; 0, or -1 with p->err. */
static int
command(struct poll *p, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
command(struct poll *p, size_t cap, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	CURLcode rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	sbuf_reset(&p->buf);
	p->over = false;
	p->cap = cap;
	p->errbuf[0] = '\0';
	p->err[0] = '\0';
	curl_easy_setopt(p->h, CURLOPT_CUSTOMREQUEST, cmd);
	rc = curl_easy_perform(p->h);
	p->rc = rc;
	if (rc == CURLE_OK)
		return 0;
	p->selected = false;
	if (p->over)
		snprintf(p->err, sizeof(p->err), "%.40s: the response is larger than %zu "
		    "bytes", cmd, cap);
	else
		curl_why(p, rc, cmd);
	return -1;
}

static const char *
resp(const struct poll *p)
{
	return sbuf_str(&p->buf);
}

/*
 * A new handle, so a new connection: after a message whose bytes made curl
 * end a response early, the old connection's stream is not where curl
 * thinks it is, and nothing more is read from it.
 */
static int
reconnect(struct poll *p)
{
	curl_easy_cleanup(p->h);
	p->h = curl_easy_init();
	p->selected = false;
	if (p->h == NULL) {
		snprintf(p->err, sizeof(p->err), "cannot start a transfer (curl_easy_init)");
		return -1;
	}
	setup(p);
	return 0;
}

/* SELECT the folder: its UIDVALIDITY in p->uidvalidity; 0 or -1 with p->err. */
static int
select_folder(struct poll *p)
{
	uint32_t v;

	if (command(p, FEEDBACK_RESP_SLACK, "SELECT %s", p->folder) < 0)
		return -1;
	if (feedback_imap_uidvalidity(sbuf_str(&p->buf), p->buf.len, &v) < 0) {
		snprintf(p->err, sizeof(p->err), "SELECT %s: no UIDVALIDITY in the answer",
		    p->folder);
		return -1;
	}
	p->uidvalidity = v;
	p->selected = true;
	return 0;
}

/* Selected again after curl dropped the connection; the UIDs must still hold. */
static int
reselect(struct poll *p)
{
	uint32_t before = p->uidvalidity;

	if (p->selected)
		return 0;
	if (select_folder(p) < 0)
		return -1;
	if (p->uidvalidity != before) {
		snprintf(p->err, sizeof(p->err), "UIDVALIDITY changed during the poll");
		p->selected = false;
		return -1;
	}
	return 0;
}

/* Done with a message: flag it, move it (or copy it) to done_folder. */
static void
put_away(struct poll *p, uint32_t uid, struct feedback_result *res)
{
	/* \Seen for the people who share the mailbox; $DistdProcessed so that
	 * a copy left behind (no MOVE) says it was handled */
	if (reselect(p) < 0 || command(p, FEEDBACK_RESP_SLACK, "UID STORE %" PRIu32
	    " +FLAGS.SILENT (\\Seen $DistdProcessed)", uid) < 0)
		log_warnx("feedback: %s: %s", p->s->where, p->err);
	if (reselect(p) == 0 && command(p, FEEDBACK_RESP_SLACK, "UID %s %" PRIu32 " %s",
	    p->has_move ? "MOVE" : "COPY", uid, p->done) == 0)
		return;
	res->failed_moves++;
	log_warnx("feedback: %s: UID %" PRIu32 " was processed but stays in %s: %s",
	    p->s->where, uid, p->s->folder, p->err);
}

/* A message not applied: the cursor passes it; it stays for a human. */
static int
pass(struct poll *p, uint32_t uidvalidity, uint32_t uid, const char *why)
{
	char err[512];

	log_info("feedback: %s UID %" PRIu32 " left for a human: %s", p->s->where, uid, why);
	if (queue_feedback_cursor_set(p->q, p->s->cursor, uidvalidity, uid, err,
	    sizeof(err)) < 0) {
		snprintf(p->err, sizeof(p->err), "the queue: %s", err);
		return -1;
	}
	return 0;
}

static void
log_applied(const struct feedback_match *m, const struct queue_feedback_out *out)
{
	const struct queue_feedback_in *in = &m->in;
	struct sbuf who = SBUF_INIT;

	for (size_t i = 0; i < in->n_facts && i < 5; i++)
		sbuf_printf(&who, "%s%s%s%s", i ? ", " : "", in->facts[i].address,
		    in->facts[i].status ? " " : "",
		    in->facts[i].status ? in->facts[i].status : "");
	if (in->n_facts > 5)
		sbuf_printf(&who, " and %zu more", in->n_facts - 5);
	log_info("feedback: %s for issue %lld: %s (%ld matched)",
	    in->kind == QUEUE_FEEDBACK_BOUNCE ? "bounce" :
	    strcmp(in->how, "mdn") == 0 ? "receipt (MDN)" : "receipt (reply)",
	    (long long)out->issue, sbuf_str(&who), out->matched);
	sbuf_free(&who);
}

/* One message; 0 (whatever became of it), -1 when the poll must stop. */
static int
one(struct poll *p, uint32_t uidvalidity, uint32_t uid, struct feedback_result *res)
{
	const char *msg;
	size_t len;
	uint64_t size;
	char why[512], err[512];

	if (reselect(p) < 0 ||
	    command(p, FEEDBACK_RESP_SLACK, "UID FETCH %" PRIu32 " (RFC822.SIZE)", uid) < 0)
		return -1;
	if (feedback_imap_size(resp(p), p->buf.len, uid, &size) < 0) {
		/* gone meanwhile (another client moved it): nothing to read */
		return queue_feedback_cursor_set(p->q, p->s->cursor, uidvalidity, uid,
		    err, sizeof(err)) < 0 ? -1 : 0;
	}
	if (size > FEEDBACK_MAX_INPUT) {
		snprintf(why, sizeof(why), "%" PRIu64 " bytes, more than the %u a "
		    "feedback message may have", size, FEEDBACK_MAX_INPUT);
		res->left++;
		return pass(p, uidvalidity, uid, why);
	}
	int frc = command(p, (size_t)size + FEEDBACK_RESP_SLACK, "UID FETCH %" PRIu32
	    " BODY.PEEK[]", uid);
	/* a refusal here may be the message's own bytes (a line in it that
	 * starts with the command's tag): not the mailbox's fault */
	if (frc < 0 && p->rc != CURLE_QUOTE_ERROR)
		return -1;
	if (frc < 0 || feedback_imap_literal(resp(p), p->buf.len, uid, FEEDBACK_MAX_INPUT,
	    &msg, &len, why, sizeof(why)) < 0) {
		if (frc < 0)
			snprintf(why, sizeof(why), "UID %" PRIu32 ": could not be read "
			    "whole (%s)", uid, p->err);
		res->left++;
		if (pass(p, uidvalidity, uid, why) < 0)
			return -1;
		/* the stream and curl's reading of it may disagree from here */
		return reconnect(p);
	}
	res->read++;

	gchar *key = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)msg, len);
	struct feedback *f = feedback_parse(msg, len);
	struct feedback_match m;
	int64_t now = (int64_t)time(NULL);
	int rc = 0;

	feedback_match(f, p->s->id_domain, key, feedback_imap_date(msg, len), now, &m);
	if (m.verdict == FEEDBACK_APPLY) {
		struct queue_feedback_out out;
		m.in.cursor = p->s->cursor;
		m.in.uidvalidity = uidvalidity;
		m.in.uid = uid;
		if (queue_feedback_apply(p->q, &m.in, &out, err, sizeof(err)) < 0) {
			snprintf(p->err, sizeof(p->err), "the queue: %s", err);
			rc = -1;
		} else if (out.result == QUEUE_FEEDBACK_APPLIED) {
			log_applied(&m, &out);
			res->applied++;
			put_away(p, uid, res);
		} else if (out.result == QUEUE_FEEDBACK_SEEN) {
			res->processed++;
			put_away(p, uid, res);
		} else {
			res->left++;
			log_info("feedback: %s UID %" PRIu32 " left for a human: %s: %s",
			    p->s->where, uid, m.why,
			    out.result == QUEUE_FEEDBACK_NO_ISSUE ? "no such issue, or its "
			    "ids disagree" : "names none of its recipients");
		}
	} else if (m.verdict == FEEDBACK_PROCESSED) {
		if (queue_feedback_cursor_set(p->q, p->s->cursor, uidvalidity, uid, err,
		    sizeof(err)) < 0) {
			snprintf(p->err, sizeof(p->err), "the queue: %s", err);
			rc = -1;
		} else {
			log_info("feedback: %s", m.why);
			res->processed++;
			put_away(p, uid, res);
		}
	} else {
		res->left++;
		rc = pass(p, uidvalidity, uid, m.why);
	}
	feedback_match_free(&m);
	feedback_free(f);
	g_free(key);
	return rc;
}

int
feedback_poll(const struct feedback_settings *s, struct queue *q, atomic_bool *abort,
    struct feedback_result *res)
{
	struct poll p = { .s = s, .q = q, .abort = abort, .buf = SBUF_INIT };
	uint32_t uidvalidity = 0, cur_validity = 0, cur_uid = 0;
	uint32_t *uids = NULL;
	char err[512];
	int rc = -1;

	memset(res, 0, sizeof(*res));
	p.h = curl_easy_init();
	if (p.h == NULL) {
		snprintf(res->error, sizeof(res->error), "cannot start a transfer "
		    "(curl_easy_init)");
		res->rc = -1;
		return -1;
	}
	setup(&p);
	p.done = feedback_imap_folder(s->done_folder);
	p.folder = feedback_imap_folder(s->folder);
	/* connects and logs in; the post-login capabilities come with it */
	if (command(&p, FEEDBACK_RESP_SLACK, "CAPABILITY") < 0)
		goto fail;
	p.has_move = feedback_imap_capability(resp(&p), p.buf.len, "MOVE");
	/* done_folder made before it is needed: a refused MOVE would cost the
	 * connection (curl closes it after any refusal) */
	if (command(&p, FEEDBACK_RESP_SLACK, "LIST \"\" %s", p.done) < 0)
		goto fail;
	if (!feedback_imap_listed(resp(&p), p.buf.len)) {
		if (command(&p, FEEDBACK_RESP_SLACK, "CREATE %s", p.done) < 0)
			goto fail;
		log_info("feedback: created folder %s in %s", s->done_folder, s->url);
	}
	if (select_folder(&p) < 0)
		goto fail;
	uidvalidity = p.uidvalidity;
	if (queue_feedback_cursor(q, s->cursor, &cur_validity, &cur_uid, err,
	    sizeof(err)) < 0) {
		snprintf(p.err, sizeof(p.err), "the queue: %s", err);
		goto fail;
	}
	if (cur_validity != uidvalidity) {
		/* a new mailbox, or the server renumbered it: read it all again;
		 * the keys of what was applied stop a second application */
		if (cur_validity != 0)
			log_info("feedback: %s: UIDVALIDITY changed (%" PRIu32 " to %" PRIu32
			    "): reading it again from the start", s->where, cur_validity,
			    uidvalidity);
		cur_uid = 0;
		/* said once: the cursor moves to the new numbering even when
		 * there is nothing to read yet */
		if (queue_feedback_cursor_set(q, s->cursor, uidvalidity, 0, err,
		    sizeof(err)) < 0) {
			snprintf(p.err, sizeof(p.err), "the queue: %s", err);
			goto fail;
		}
	}
	/* ~8 bytes a UID: a million messages fit */
	if (command(&p, 32u << 20, "UID SEARCH UID %" PRIu32 ":*", cur_uid + 1) < 0)
		goto fail;
	uids = xcalloc(FEEDBACK_POLL_MAX, sizeof(*uids));
	size_t total = feedback_imap_search(resp(&p), p.buf.len, cur_uid, uids,
	    FEEDBACK_POLL_MAX);
	size_t n = total < FEEDBACK_POLL_MAX ? total : FEEDBACK_POLL_MAX;
	if (total > n)
		log_info("feedback: %s: %zu new messages; %zu now, the rest next time",
		    s->where, total, n);
	for (size_t i = 0; i < n; i++) {
		if (one(&p, uidvalidity, uids[i], res) < 0)
			goto fail;
	}
	rc = 0;
	goto out;
fail:
	snprintf(res->error, sizeof(res->error), "%s: %s", s->where, p.err);
out:
	res->rc = rc;
	free(uids);
	free(p.folder);
	free(p.done);
	sbuf_free(&p.buf);
	curl_easy_cleanup(p.h);
	return rc;
}
