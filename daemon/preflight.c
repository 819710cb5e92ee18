#include "preflight.h"

#include <curl/curl.h>
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

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1000.0 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int
step_connect(const struct conf *c, FILE *out, struct addrinfo *ai)
{
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		char host[NI_MAXHOST];
		struct timespec t0;
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = connect(fd, a->ai_addr, a->ai_addrlen);
		if (rc < 0 && errno == EINPROGRESS) {
			struct pollfd p = { fd, POLLOUT, 0 };
			int err = 0;
			socklen_t len = sizeof(err);
			rc = poll(&p, 1, c->smtp.timeout * 1000);
			if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
				rc = 0;
			else {
				errno = rc == 0 ? ETIMEDOUT : err;
				rc = -1;
			}
		}
		close(fd);
		if (rc == 0) {
			fprintf(out, "connect  ok: %s port %d (%.0f ms)\n", host, c->smtp.port,
			    ms_since(&t0));
			return 0;
		}
		fprintf(out, "connect  FAILED: %s port %d: %s\n", host, c->smtp.port, strerror(errno));
	}
	return -1;
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

int
preflight_run(const struct conf *c, FILE *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char port[16], host[300];
	struct trace tr = { 0 };
	int ok = 0;

	snprintf(host, sizeof(host), "%s", c->smtp.host);
	if (host[0] == '[') {	/* [::1] */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	snprintf(port, sizeof(port), "%d", c->smtp.port);
	fprintf(out, "relay    %s\n", c->smtp.url);
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0) {
		fprintf(out, "dns      FAILED: %s: %s\n", host, gai_strerror(gai));
		return -1;
	}
	char first[NI_MAXHOST];
	getnameinfo(ai->ai_addr, ai->ai_addrlen, first, sizeof(first), NULL, 0, NI_NUMERICHOST);
	fprintf(out, "dns      ok: %s → %s\n", host, first);
	if (step_connect(c, out, ai) < 0) {
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, c->smtp.url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP");
	curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, &tr);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)c->smtp.timeout);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)c->smtp.timeout);
	if (!c->smtp.implicit_tls && !c->smtp.tls_none)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (c->smtp.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->smtp.ca_file);
	if (c->smtp.pinned_pubkey)
		curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, c->smtp.pinned_pubkey);
	if (c->smtp.username) {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->smtp.username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->smtp.password ? c->smtp.password : "");
	}
	CURLcode rc = curl_easy_perform(h);

	struct curl_certinfo *ci = NULL;
	curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci);
	if (c->smtp.tls_none) {
		fprintf(out, "tls      none: smtp.tls = \"none\" (loopback test relay only)\n");
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
	    rc == CURLE_USE_SSL_FAILED || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
		fprintf(out, "tls      FAILED: %s\n", *errbuf ? errbuf : curl_easy_strerror(rc));
		ok = -1;
	} else if (cert_field(ci, "Subject")) {
		fprintf(out, "tls      ok: verified; subject %s; issuer %s; expires %s\n",
		    cert_field(ci, "Subject"), cert_field(ci, "Issuer") ? cert_field(ci, "Issuer") : "?",
		    cert_field(ci, "Expire date") ? cert_field(ci, "Expire date") : "?");
	} else if (rc != CURLE_OK) {
		fprintf(out, "tls      FAILED: %s\n", *errbuf ? errbuf : curl_easy_strerror(rc));
		ok = -1;
	} else {
		fprintf(out, "tls      ok: verified\n");
	}
	if (ok == 0) {
		if (tr.t.ehlo_code >= 200 && tr.t.ehlo_code < 300)
			fprintf(out, "ehlo     ok: %s\n", tr.ehlo.len ? sbuf_str(&tr.ehlo) : "-");
		else {
			fprintf(out, "ehlo     FAILED: %s\n", tr.t.last_text ? tr.t.last_text :
			    (*errbuf ? errbuf : curl_easy_strerror(rc)));
			ok = -1;
		}
	}
	if (ok == 0) {
		if (c->smtp.username == NULL)
			fprintf(out, "auth     skipped: no smtp.username\n");
		else if (tr.t.auth_code == 235)
			fprintf(out, "auth     ok: %s\n", c->smtp.username);
		else {
			fprintf(out, "auth     FAILED: %s\n", tr.t.auth_code ? tr.t.last_text :
			    (*errbuf ? errbuf : curl_easy_strerror(rc)));
			ok = -1;
		}
	}
	curl_easy_cleanup(h);	/* sends QUIT on the open connection */
	if (ok == 0)
		fprintf(out, "quit     ok\n");
	smtp_transcript_reset(&tr.t);
	sbuf_free(&tr.ehlo);
	curl_global_cleanup();
	return ok;
}
