#include "smtp_trace.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

enum phase { P_GREETING, P_EHLO, P_STARTTLS, P_AUTH, P_MAIL, P_RCPT, P_DATA,
	P_DATA_END, P_OTHER };

void
smtp_transcript_reset(struct smtp_transcript *t)
{
	free(t->mail_text);
	free(t->data_text);
	free(t->last_text);
	for (size_t i = 0; i < t->n_rcpt; i++)
		free(t->rcpt_text[i]);
	free(t->rcpt_text);
	free(t->rcpt_code);
	memset(t, 0, sizeof(*t));
}

static bool
starts(const char *s, size_t n, const char *word)
{
	size_t wn = strlen(word);

	if (n < wn)
		return false;
	for (size_t i = 0; i < wn; i++)
		if (toupper((unsigned char)s[i]) != word[i])
			return false;
	return true;
}

static void
command(struct smtp_transcript *t, const char *s, size_t n)
{
	/* Only the verb is looked at: an AUTH line carries credentials. */
	if (starts(s, n, "EHLO") || starts(s, n, "HELO"))
		t->phase = P_EHLO;
	else if (starts(s, n, "STARTTLS"))
		t->phase = P_STARTTLS;
	else if (starts(s, n, "AUTH"))
		t->phase = P_AUTH;
	else if (starts(s, n, "MAIL FROM"))
		t->phase = P_MAIL;
	else if (starts(s, n, "RCPT TO")) {
		t->phase = P_RCPT;
		if (t->n_rcpt == t->cap_rcpt) {
			t->cap_rcpt = t->cap_rcpt ? t->cap_rcpt * 2 : 16;
			t->rcpt_code = xreallocarray(t->rcpt_code, t->cap_rcpt, sizeof(int));
			t->rcpt_text = xreallocarray(t->rcpt_text, t->cap_rcpt, sizeof(char *));
		}
		t->rcpt_code[t->n_rcpt] = 0;
		t->rcpt_text[t->n_rcpt] = NULL;
		t->n_rcpt++;
	} else if (starts(s, n, "DATA"))
		t->phase = P_DATA;
	else if (t->phase == P_AUTH && !starts(s, n, "QUIT") && !starts(s, n, "RSET") &&
	    !starts(s, n, "NOOP") && !starts(s, n, "HELP") && !starts(s, n, "VRFY"))
		;	/* AUTH LOGIN's answers to 334 challenges: still AUTH */
	else
		t->phase = P_OTHER;
}

static void
set_text(char **slot, const char *s, size_t n)
{
	free(*slot);
	*slot = xstrndup(s, n);
}

/* One reply line; only the last line of a reply ("NNN text") counts. */
static void
reply_line(struct smtp_transcript *t, const char *s, size_t n)
{
	int code;

	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	/* "250-SIZE 10240000" (any line of the EHLO reply): the relay's limit */
	if (t->phase == P_EHLO && n > 9 && strncmp(s, "250", 3) == 0 &&
	    starts(s + 4, n - 4, "SIZE")) {
		const char *v = s + 8;
		while (v < s + n && *v == ' ')
			v++;
		t->size_limit = isdigit((unsigned char)*v) ? strtol(v, NULL, 10) : 0;
	}
	if (n < 3 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (n > 3 && s[3] == '-'))
		return;
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	t->last_code = code;
	set_text(&t->last_text, s, n);
	switch (t->phase) {
	case P_GREETING: t->greeting_code = code; break;
	case P_EHLO:
		t->ehlo_code = code;
		if (code >= 200 && code < 300)
			t->size_seen = true;
		break;
	case P_AUTH:
		if (code != 334)	/* 334 is a challenge, not the verdict */
			t->auth_code = code;
		break;
	case P_MAIL:
		t->mail_code = code;
		set_text(&t->mail_text, s, n);
		break;
	case P_RCPT:
		if (t->n_rcpt > 0) {
			t->rcpt_code[t->n_rcpt - 1] = code;
			set_text(&t->rcpt_text[t->n_rcpt - 1], s, n);
		}
		break;
	case P_DATA:
		if (code == 354) {
			t->phase = P_DATA_END;
			break;
		}
		/* DATA itself refused */
		__attribute__((fallthrough));
	case P_DATA_END:
		t->data_code = code;
		set_text(&t->data_text, s, n);
		t->phase = P_OTHER;
		break;
	default:
		break;
	}
}

void
smtp_transcript_feed(struct smtp_transcript *t, bool out, const char *data, size_t len)
{
	const char *end = data + len;

	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t n = nl ? (size_t)(nl - data) + 1 : (size_t)(end - data);
		if (out)
			command(t, data, n);
		else
			reply_line(t, data, n);
		data += n;
	}
}

bool
smtp_transcript_data_sent(const struct smtp_transcript *t)
{
	/* after 354 the message went out; no verdict yet means it may have arrived */
	return t->phase == P_DATA_END && t->data_code == 0;
}

/* "250 2.1.5 Ok" → "2.1.5" into buf, or NULL. */
static const char *
dsn_of(const char *reply, char *buf, size_t bufsz)
{
	const char *p;
	size_t n;

	if (reply == NULL || strlen(reply) < 5)
		return NULL;
	p = reply + 4;
	n = strspn(p, "0123456789.");
	if (n < 5 || n >= bufsz || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return NULL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

static enum smtp_class
curl_class(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return SMTP_CLASS_DNS;
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return SMTP_CLASS_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
		return SMTP_CLASS_TLS;
	case CURLE_LOGIN_DENIED:
	case CURLE_AUTH_ERROR:
		return SMTP_CLASS_AUTH;
	default:
		return SMTP_CLASS_PROTOCOL;
	}
}

static void
set_result(struct smtp_verdict *r, enum smtp_outcome o, int code, const char *text,
    enum smtp_class class)
{
	r->outcome = o;
	r->code = code;
	r->reply = text;
	r->class = class;
	r->dsn[0] = '\0';
}

void
smtp_outcome(const struct smtp_transcript *t, int curl_code, const char *curl_error,
    size_t n, struct smtp_verdict *res)
{
	const char *err_text = curl_error && *curl_error ? curl_error :
	    curl_easy_strerror((CURLcode)curl_code);

	bool data_sent = smtp_transcript_data_sent(t);

	for (size_t i = 0; i < n; i++) {
		struct smtp_verdict *r = &res[i];
		int rc = i < t->n_rcpt ? t->rcpt_code[i] : 0;

		if (rc >= 500) {
			set_result(r, SMTP_PERM, rc, t->rcpt_text[i], SMTP_CLASS_5XX);
		} else if (rc >= 400 && smtp_is_rcpt_limit(rc, t->rcpt_text[i])) {
			set_result(r, SMTP_TEMP, rc, t->rcpt_text[i], SMTP_CLASS_LIMIT);
		} else if (rc >= 400) {
			set_result(r, SMTP_TEMP, rc, t->rcpt_text[i], SMTP_CLASS_4XX);
		} else if (rc >= 200 && rc < 300) {
			if (t->data_code >= 200 && t->data_code < 300 && curl_code == CURLE_OK)
				set_result(r, SMTP_OK, t->data_code, t->data_text, SMTP_CLASS_OK);
			else if (t->data_code >= 500)
				set_result(r, SMTP_PERM, t->data_code, t->data_text, SMTP_CLASS_5XX);
			else if (t->data_code >= 400)
				set_result(r, SMTP_TEMP, t->data_code, t->data_text, SMTP_CLASS_4XX);
			else	/* accepted, then no verdict on the data: dropped */
				set_result(r, SMTP_TEMP, 0, err_text,
				    curl_code == CURLE_OK ? SMTP_CLASS_PROTOCOL : curl_class(curl_code));
		} else if (t->mail_code == 530) {
			/* "authentication required": our credentials, not the recipient */
			set_result(r, SMTP_TEMP, t->mail_code, t->mail_text, SMTP_CLASS_AUTH);
		} else if (t->mail_code >= 500) {
			set_result(r, SMTP_PERM, t->mail_code, t->mail_text, SMTP_CLASS_5XX);
		} else if (t->mail_code >= 400) {
			set_result(r, SMTP_TEMP, t->mail_code, t->mail_text, SMTP_CLASS_4XX);
		} else if (t->auth_code >= 400) {
			set_result(r, SMTP_TEMP, t->auth_code, t->last_text, SMTP_CLASS_AUTH);
		} else if (t->greeting_code >= 400 || t->ehlo_code >= 400) {
			set_result(r, SMTP_TEMP, t->last_code, t->last_text, SMTP_CLASS_PROTOCOL);
		} else {
			set_result(r, SMTP_TEMP, 0, err_text, curl_class(curl_code));
		}
		if (r->reply && r->code)
			dsn_of(r->reply, r->dsn, sizeof(r->dsn));
		/* cut after the data went out: it may have arrived, at the
		 * recipients whose RCPT the relay accepted only */
		r->data_may_have_arrived = data_sent && rc >= 200 && rc < 300 &&
		    r->outcome == SMTP_TEMP;
	}
}

bool
smtp_is_rcpt_limit(int code, const char *text)
{
	char dsn[16];

	if (code != 452 && code != 451)
		return false;
	/* RFC 5321 4.5.3.1.10: 452 is the reply for too many recipients;
	 * 4.5.3 is its enhanced code (Postfix, Exim with DSN codes) */
	if (dsn_of(text, dsn, sizeof(dsn)) && strcmp(dsn, "4.5.3") == 0)
		return true;
	return text != NULL && strcasestr(text, "too many recipients") != NULL;
}

enum smtp_class
smtp_curl_class(int curl_code)
{
	return curl_class(curl_code);
}
