#include "preflight.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <strings.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sbuf.h"
#include "xalloc.h"

#include "smtp.h"

struct trace {
	struct smtp_transcript t;
	struct sbuf ehlo;	/* capabilities of the last EHLO */
	bool in_ehlo;
};

static int
debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	struct trace *tr = arg;

	(void)h;
	if (type == CURLINFO_HEADER_OUT) {
		tr->in_ehlo = size >= 4 && strncasecmp(data, "EHLO", 4) == 0;
		if (tr->in_ehlo)
			sbuf_reset(&tr->ehlo);
		smtp_transcript_feed(&tr->t, true, data, size);
	} else if (type == CURLINFO_HEADER_IN) {
		if (tr->in_ehlo && size > 4 && strncmp(data, "250", 3) == 0) {
			const char *cap = data + 4;
			size_t n = size - 4;
			while (n > 0 && (cap[n - 1] == '\r' || cap[n - 1] == '\n'))
				n--;
			if (tr->ehlo.len > 0)
				sbuf_puts(&tr->ehlo, ", ");
			sbuf_append(&tr->ehlo, cap, n);
		}
		smtp_transcript_feed(&tr->t, false, data, size);
	}
	return 0;
}

/* Waits until the connection is readable or writable; -1 on timeout. */
static int
wait_socket(CURL *h, bool out, long timeout)
{
	curl_socket_t fd;

	if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
	    fd == CURL_SOCKET_BAD)
		return -1;
	struct pollfd p = { fd, out ? POLLOUT : POLLIN, 0 };
	return poll(&p, 1, (int)(timeout * 1000)) == 1 ? 0 : -1;
}

/*
 * One command on the connection curl opened (CONNECT_ONLY) and its whole
 * reply; the last line goes to reply. Returns the reply code, or -1 with
 * the transport error in reply.
 */
static int
exchange(CURL *h, long timeout, const char *cmd, char *reply, size_t replysz)
{
	size_t len = strlen(cmd), off = 0;
	char buf[4096];
	size_t have = 0;

	for (int i = 0; off < len && i < 1000; i++) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(h, cmd + off, len - off, &n);
		if (rc == CURLE_AGAIN) {
			if (wait_socket(h, true, timeout) < 0)
				goto timedout;
			continue;
		}
		if (rc != CURLE_OK) {
			snprintf(reply, replysz, "%s", curl_easy_strerror(rc));
			return -1;
		}
		off += n;
	}
	/* a reply ends with its "NNN " line; bounded by the buffer */
	for (int i = 0; i < 1000 && have < sizeof(buf) - 1; i++) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(h, buf + have, sizeof(buf) - 1 - have, &n);
		if (rc == CURLE_AGAIN) {
			if (wait_socket(h, false, timeout) < 0)
				goto timedout;
			continue;
		}
		if (rc != CURLE_OK || n == 0) {
			snprintf(reply, replysz, "%s", rc == CURLE_OK ?
			    "the relay closed the connection" : curl_easy_strerror(rc));
			return -1;
		}
		have += n;
		buf[have] = '\0';
		/* the start of the last complete line */
		if (have < 2 || buf[have - 1] != '\n')
			continue;
		char *last = buf + have - 1;
		while (last > buf && last[-1] != '\n')
			last--;
		if (strlen(last) >= 4 && isdigit((unsigned char)last[0]) && last[3] != '-') {
			last[strcspn(last, "\r\n")] = '\0';
			snprintf(reply, replysz, "%s", last);
			return atoi(last);
		}
	}
	snprintf(reply, replysz, "no complete reply");
	return -1;
timedout:
	snprintf(reply, replysz, "no reply within %ld s", timeout);
	return -1;
}

static void
common_options(CURL *h, const struct conf *c, const char *url, char *errbuf, struct trace *tr)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* curl connects, does TLS, EHLO and AUTH, then hands the connection
	 * over: MAIL, RCPT, RSET and QUIT are ours, so that the check fails
	 * where delivery would and always ends with QUIT */
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, tr);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)c->smtp.timeout);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)c->smtp.timeout);
	if (!c->smtp.implicit_tls && !c->smtp.tls_none)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (c->smtp.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->smtp.ca_file);
	if (c->smtp.pinned_pubkey)
		curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, c->smtp.pinned_pubkey);
}

/* "Subject:CN = localhost" → "CN = localhost" from curl's certificate info. */
static const char *
cert_field(struct curl_certinfo *ci, const char *name)
{
	size_t n = strlen(name);

	if (ci == NULL || ci->num_of_certs < 1)
		return NULL;
	for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
		if (strncmp(s->data, name, n) == 0 && s->data[n] == ':')
			return s->data + n + 1;
	return NULL;
}

/* "PLAIN" or "LOGIN" when the EHLO capabilities offer it, else NULL. */
static const char *
auth_offered(const char *caps)
{
	const char *a = strstr(caps, "AUTH ");
	const char *end;

	if (a == NULL)
		return NULL;
	end = strchr(a, ',');
	if (end == NULL)
		end = a + strlen(a);
	for (const char *m = "PLAIN"; ; m = "LOGIN") {
		size_t n = strlen(m);
		for (const char *p = a + 5; p + n <= end; p++)
			if (strncasecmp(p, m, n) == 0 && (p[n] == ' ' || p + n == end ||
			    p[n] == ','))
				return m;
		if (strcmp(m, "LOGIN") == 0)
			return NULL;
	}
}

static char *
b64(const char *s, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* Scrubs and frees a buffer that held a secret. */
static void
scrub(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/*
 * AUTH PLAIN (or LOGIN) on the open connection; returns the final reply
 * code (235 = ok) or -1, with the reply in reply. Nothing secret is
 * printed: replies only.
 */
static int
login(CURL *h, const struct conf *c, const char *caps, char *reply, size_t replysz)
{
	const char *user = c->smtp.username, *pw = c->smtp.password ? c->smtp.password : "";
	const char *mech = auth_offered(caps);
	struct sbuf cmd = SBUF_INIT;
	int code;

	if (mech != NULL && strcmp(mech, "PLAIN") == 0) {
		size_t ul = strlen(user), pl = strlen(pw);
		char *raw = xmalloc(ul + pl + 3);
		raw[0] = '\0';
		memcpy(raw + 1, user, ul + 1);
		memcpy(raw + ul + 2, pw, pl);
		char *enc = b64(raw, ul + pl + 2);
		explicit_bzero(raw, ul + pl + 2);
		free(raw);
		sbuf_printf(&cmd, "AUTH PLAIN %s\r\n", enc);
		scrub(enc);
		code = exchange(h, c->smtp.timeout, sbuf_str(&cmd), reply, replysz);
	} else {
		code = exchange(h, c->smtp.timeout, "AUTH LOGIN\r\n", reply, replysz);
		for (int step = 0; step < 2 && code == 334; step++) {
			char *enc = b64(step == 0 ? user : pw, strlen(step == 0 ? user : pw));
			if (cmd.data)
				explicit_bzero(cmd.data, cmd.cap);
			sbuf_reset(&cmd);
			sbuf_printf(&cmd, "%s\r\n", enc);
			scrub(enc);
			code = exchange(h, c->smtp.timeout, sbuf_str(&cmd), reply, replysz);
		}
	}
	if (cmd.data)
		explicit_bzero(cmd.data, cmd.cap);
	sbuf_free(&cmd);
	return code;
}

/*
 * The relay's certificate did not match its name: connect once more with
 * the chain still verified but the name not, no credentials, and print
 * the names the certificate does carry; then QUIT.
 */
static void
cert_names(const struct conf *c, const char *url, FILE *out)
{
	struct trace tr = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "", reply[512];
	CURL *h = curl_easy_init();

	common_options(h, c, url, errbuf, &tr);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	if (curl_easy_perform(h) == CURLE_OK) {
		struct curl_certinfo *ci = NULL;
		curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci);
		const char *sub = cert_field(ci, "Subject");
		const char *san = cert_field(ci, "X509v3 Subject Alternative Name");
		fprintf(out, "tls      the certificate is for: subject %s; names %s "
		    "(smtp.url names %s)\n", sub ? sub : "?", san ? san : "none",
		    c->smtp.host);
		exchange(h, c->smtp.timeout, "QUIT\r\n", reply, sizeof(reply));
	}
	curl_easy_cleanup(h);
	smtp_transcript_reset(&tr.t);
	sbuf_free(&tr.ehlo);
}

int
preflight_run(const struct conf *c, FILE *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char port[16], host[300], reply[512], cmd[600];
	struct trace tr = { 0 };
	int ok = 0, code;

	snprintf(host, sizeof(host), "%s", c->smtp.host);
	if (host[0] == '[') {	/* [::1] */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	snprintf(port, sizeof(port), "%d", c->smtp.port);
	char *url = smtp_url_with_helo(c);
	/* the EHLO name as the relay sees it: the URL's path, decoded */
	char helo[300];
	size_t hn = 0;
	for (const char *p = strrchr(url, '/') + 1; *p && hn + 1 < sizeof(helo); p++) {
		unsigned v;
		if (p[0] == '%' && sscanf(p + 1, "%2x", &v) == 1 && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])) {
			helo[hn++] = (char)v;
			p += 2;
		} else
			helo[hn++] = *p;
	}
	helo[hn] = '\0';
	fprintf(out, "relay    %s\n", c->smtp.url);
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0) {
		fprintf(out, "dns      FAILED: %s: %s\n", host, gai_strerror(gai));
		free(url);
		return -1;
	}
	char first[NI_MAXHOST];
	getnameinfo(ai->ai_addr, ai->ai_addrlen, first, sizeof(first), NULL, 0, NI_NUMERICHOST);
	fprintf(out, "dns      ok: %s → %s\n", host, first);
	freeaddrinfo(ai);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	common_options(h, c, url, errbuf, &tr);
	/* AUTH is ours too (PLAIN or LOGIN), so that a refused login still
	 * ends with QUIT; curl would just drop the connection */
	CURLcode rc = curl_easy_perform(h);
	bool open = rc == CURLE_OK;
	bool own_auth = c->smtp.username && open && auth_offered(sbuf_str(&tr.ehlo)) != NULL;
	if (c->smtp.username && open && !own_auth) {
		/* a mechanism we do not speak here (CRAM-MD5 …): let curl log
		 * in as delivery does, on a second connection */
		exchange(h, c->smtp.timeout, "QUIT\r\n", reply, sizeof(reply));
		curl_easy_cleanup(h);
		smtp_transcript_reset(&tr.t);
		h = curl_easy_init();
		common_options(h, c, url, errbuf, &tr);
		curl_easy_setopt(h, CURLOPT_USERNAME, c->smtp.username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->smtp.password ? c->smtp.password : "");
		rc = curl_easy_perform(h);
		open = rc == CURLE_OK;
	}

	/* connect: from curl's own connection, not a bare TCP probe (which
	 * leaves "lost connection after CONNECT" in the relay's log) */
	char *ip = NULL;
	double tconn = 0;
	curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip);
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME, &tconn);
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
	    rc == CURLE_COULDNT_RESOLVE_HOST) {
		fprintf(out, "connect  FAILED: %s port %d: %s\n", first, c->smtp.port,
		    *errbuf ? errbuf : curl_easy_strerror(rc));
		ok = -1;
		goto done;
	}
	fprintf(out, "connect  ok: %s port %d (%.0f ms)\n", ip && *ip ? ip : first,
	    c->smtp.port, tconn * 1000.0);

	struct curl_certinfo *ci = NULL;
	curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci);
	if (c->smtp.tls_none) {
		fprintf(out, "tls      none: smtp.tls = \"none\" (loopback test relay only)\n");
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
	    rc == CURLE_USE_SSL_FAILED || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
		fprintf(out, "tls      FAILED: %s\n", *errbuf ? errbuf : curl_easy_strerror(rc));
		if (rc == CURLE_PEER_FAILED_VERIFICATION && strstr(errbuf, "name") != NULL)
			cert_names(c, url, out);
		ok = -1;
	} else if (cert_field(ci, "Subject")) {
		fprintf(out, "tls      ok: verified; subject %s; issuer %s; expires %s\n",
		    cert_field(ci, "Subject"), cert_field(ci, "Issuer") ? cert_field(ci, "Issuer") : "?",
		    cert_field(ci, "Expire date") ? cert_field(ci, "Expire date") : "?");
	} else if (rc != CURLE_OK && tr.t.ehlo_code == 0) {
		fprintf(out, "tls      FAILED: %s\n", *errbuf ? errbuf : curl_easy_strerror(rc));
		ok = -1;
	} else {
		fprintf(out, "tls      ok: verified\n");
	}
	if (ok == 0) {
		if (tr.t.ehlo_code >= 200 && tr.t.ehlo_code < 300)
			fprintf(out, "ehlo     ok: as %s: %s\n", helo, tr.ehlo.len ?
			    sbuf_str(&tr.ehlo) : "-");
		else {
			fprintf(out, "ehlo     FAILED: %s (as %s)\n", tr.t.last_text ?
			    tr.t.last_text : (*errbuf ? errbuf : curl_easy_strerror(rc)),
			    helo);
			ok = -1;
		}
	}
	if (ok == 0) {
		if (c->smtp.username == NULL)
			fprintf(out, "auth     skipped: no smtp.username\n");
		else if (own_auth) {
			code = login(h, c, sbuf_str(&tr.ehlo), reply, sizeof(reply));
			if (code == 235)
				fprintf(out, "auth     ok: %s\n", c->smtp.username);
			else {
				fprintf(out, "auth     FAILED: %s\n", reply);
				ok = -1;
			}
		} else if (tr.t.auth_code == 235)
			fprintf(out, "auth     ok: %s\n", c->smtp.username);
		else {
			fprintf(out, "auth     FAILED: %s\n", tr.t.auth_code ? tr.t.last_text :
			    (*errbuf ? errbuf : curl_easy_strerror(rc)));
			ok = -1;
		}
	}
	if (ok == 0 && !open) {
		fprintf(out, "session  FAILED: %s\n", *errbuf ? errbuf : curl_easy_strerror(rc));
		ok = -1;
	}
	/* the envelope delivery would use, then RSET: nothing is sent */
	if (ok == 0) {
		snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", c->sender.from_address);
		code = exchange(h, c->smtp.timeout, cmd, reply, sizeof(reply));
		fprintf(out, "mail     %s: %s\n", code >= 200 && code < 300 ? "ok" : "FAILED",
		    reply);
		if (code < 200 || code >= 300)
			ok = -1;
	}
	if (ok == 0) {
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", c->sender.admin);
		code = exchange(h, c->smtp.timeout, cmd, reply, sizeof(reply));
		fprintf(out, "rcpt     %s: %s (sender.admin)\n", code >= 200 && code < 300 ?
		    "ok" : "FAILED", reply);
		if (code < 200 || code >= 300)
			ok = -1;
	}
	if (open) {
		code = exchange(h, c->smtp.timeout, "RSET\r\n", reply, sizeof(reply));
		if (ok == 0) {
			fprintf(out, "rset     %s: %s\n", code >= 200 && code < 300 ? "ok" :
			    "FAILED", reply);
			if (code < 200 || code >= 300)
				ok = -1;
		}
		code = exchange(h, c->smtp.timeout, "QUIT\r\n", reply, sizeof(reply));
		if (ok == 0)
			fprintf(out, "quit     %s: %s\n", code == 221 ? "ok" : "FAILED", reply);
		if (code != 221)
			ok = -1;
	}
done:
	/* a connection handed over by CONNECT_ONLY is closed without a QUIT
	 * of curl's own: ours went above */
	curl_easy_cleanup(h);
	smtp_transcript_reset(&tr.t);
	sbuf_free(&tr.ehlo);
	curl_global_cleanup();
	free(url);
	return ok;
}
