#include "smtp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sbuf.h"
#include "xalloc.h"

#include "smtp_trace.h"

/* ---- the EHLO name ---------------------------------------------------- */

static bool
fqdn_ok(const char *name)
{
	return name && strchr(name, '.') != NULL && name[strlen(name) - 1] != '.' &&
	    strcmp(name, "localhost.localdomain") != 0;
}

void
smtp_helo_default(char *buf, size_t bufsz)
{
	char host[256] = "";
	struct addrinfo hints = { .ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	struct ifaddrs *ifs = NULL;

	if (gethostname(host, sizeof(host) - 1) == 0 && fqdn_ok(host)) {
		snprintf(buf, bufsz, "%s", host);
		return;
	}
	if (host[0] && getaddrinfo(host, NULL, &hints, &ai) == 0) {
		bool done = ai && fqdn_ok(ai->ai_canonname);
		if (done)
			snprintf(buf, bufsz, "%s", ai->ai_canonname);
		freeaddrinfo(ai);
		if (done)
			return;
	}
	/* no FQDN: an address literal (RFC 5321 4.1.3), preferring an
	 * address that is not loopback, IPv4 before IPv6 */
	snprintf(buf, bufsz, "[127.0.0.1]");
	if (getifaddrs(&ifs) != 0)
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
			char a[INET6_ADDRSTRLEN];
			if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (pass == 0 && i->ifa_addr->sa_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)
				    i->ifa_addr)->sin_addr, a, sizeof(a));
				snprintf(buf, bufsz, "[%s]", a);
				freeifaddrs(ifs);
				return;
			}
			if (pass == 1 && i->ifa_addr->sa_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (void *)i->ifa_addr;
				if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr))
					continue;
				inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
				snprintf(buf, bufsz, "[IPv6:%s]", a);
				freeifaddrs(ifs);
				return;
			}
		}
	}
	freeifaddrs(ifs);
}

char *
smtp_url_with_helo(const struct conf *c)
{
	const char *u = c->smtp.url;
	const char *host = strstr(u, "://");
	struct sbuf b = SBUF_INIT;
	char def[300];
	const char *helo = c->smtp.helo;

	host = host ? host + 3 : u;
	const char *path = strchr(host, '/');
	if (helo == NULL && path != NULL && path[1] != '\0')
		return xstrdup(u);	/* the URL names it already */
	if (helo == NULL) {
		smtp_helo_default(def, sizeof(def));
		helo = def;
	}
	sbuf_append(&b, u, path ? (size_t)(path - u) : strlen(u));
	sbuf_putc(&b, '/');
	/* curl URL-decodes the path into the EHLO name */
	for (const char *p = helo; *p; p++) {
		if (isalnum((unsigned char)*p) || *p == '.' || *p == '-')
			sbuf_putc(&b, *p);
		else
			sbuf_printf(&b, "%%%02X", (unsigned char)*p);
	}
	return sbuf_steal(&b);
}

/* ---- worker pool ------------------------------------------------------ */

/* One relay's connection settings. */
struct relay {
	char *url, *username, *password, *ca_file, *pinned;
	bool starttls, tls_none;
};

struct settings {
	struct relay primary, fallback;	/* fallback.url NULL: none */
	char *from;
	long timeout, idle_timeout;
	long fallback_hold;		/* seconds to go straight to the fallback … */
	long fallback_hold_max;		/* … doubled per failure in a row up to this */
	unsigned generation;
	unsigned refs;		/* workers using it, under the pool's lock */
};

struct worker {
	struct smtp_pool *pool;
	pthread_t thread;
	CURL *curl;
	CURL *curl_fb;			/* to the fallback relay, when used */
	unsigned generation;
	const struct smtp_job *current;	/* under the pool's lock: running now */
};

struct smtp_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct smtp_job *todo, *todo_tail;
	struct smtp_job *done, *done_tail;
	size_t busy;
	/*
	 * A transfer failed before the relay took a transaction (no MAIL
	 * reply: refused login, TLS, connect): queued jobs wait until the
	 * scheduler has seen the failure (smtp_pool_resume), since behind a
	 * refused login every one of them would be one more failed login.
	 */
	bool held;
	bool stopping;
	int efd;
	atomic_bool aborting;		/* smtp_pool_abort: cut transfers now */
	struct settings *settings;	/* under lock; replaced on reload */
	char relay[300];
	char fallback_relay[300];	/* "" when none */
	long relay_size;		/* under lock: see smtp_pool_relay_size */
	double primary_down_until;	/* under lock: monotonic; fallback first until then */
	int primary_failures;		/* under lock: in a row */
	bool primary_probing;		/* under lock: one worker tries it again */
	struct worker *workers;
	size_t n_workers;
};

static struct settings *
settings_new(const struct conf *c, unsigned generation)
{
	struct settings *s = xcalloc(1, sizeof(*s));
	struct sbuf from = SBUF_INIT;

	s->primary.url = smtp_url_with_helo(c);
	s->primary.username = c->smtp.username ? xstrdup(c->smtp.username) : NULL;
	s->primary.password = c->smtp.password ? xstrdup(c->smtp.password) : NULL;
	s->primary.ca_file = c->smtp.ca_file ? xstrdup(c->smtp.ca_file) : NULL;
	s->primary.pinned = c->smtp.pinned_pubkey ? xstrdup(c->smtp.pinned_pubkey) : NULL;
	s->primary.starttls = !c->smtp.implicit_tls;
	s->primary.tls_none = c->smtp.tls_none;
	if (c->smtp.fallback.url) {
		/* the same EHLO name: it names this host, whichever relay */
		struct conf fb = *c;
		fb.smtp.url = c->smtp.fallback.url;
		s->fallback.url = smtp_url_with_helo(&fb);
		s->fallback.username = c->smtp.fallback.username ?
		    xstrdup(c->smtp.fallback.username) : NULL;
		s->fallback.password = c->smtp.fallback.password ?
		    xstrdup(c->smtp.fallback.password) : NULL;
		s->fallback.ca_file = c->smtp.fallback.ca_file ?
		    xstrdup(c->smtp.fallback.ca_file) : NULL;
		s->fallback.pinned = c->smtp.fallback.pinned_pubkey ?
		    xstrdup(c->smtp.fallback.pinned_pubkey) : NULL;
		s->fallback.starttls = !c->smtp.fallback.implicit_tls;
	}
	sbuf_printf(&from, "<%s>", c->sender.from_address);
	s->from = sbuf_steal(&from);
	s->timeout = c->smtp.timeout;
	s->idle_timeout = c->smtp.idle_timeout > 0 ? c->smtp.idle_timeout : 60;
	s->fallback_hold = c->retry.min_backoff;
	s->fallback_hold_max = c->retry.max_backoff;
	s->generation = generation;
	return s;
}

static void
relay_free(struct relay *r)
{
	if (r->password) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->url);
	free(r->username);
	free(r->ca_file);
	free(r->pinned);
}

static void
settings_free(struct settings *s)
{
	if (s == NULL)
		return;
	relay_free(&s->primary);
	relay_free(&s->fallback);
	free(s->from);
	free(s);
}

struct upload {
	const char *data;
	size_t len, off;
};

static size_t
read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nitems, left = u->len - u->off;

	if (n > left)
		n = left;
	memcpy(buf, u->data + u->off, n);
	u->off += n;
	return n;
}

static int
debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	(void)h;
	if (type == CURLINFO_HEADER_OUT)
		smtp_transcript_feed(arg, true, data, size);
	else if (type == CURLINFO_HEADER_IN)
		smtp_transcript_feed(arg, false, data, size);
	return 0;
}

/*
 * Called by curl at least once a second while a transfer waits, so a
 * shutdown can cut a transfer hung in the relay without waiting for the
 * (long) server timeouts.
 */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct smtp_pool *p = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(&p->aborting) ? 1 : 0;
}

static void
setup_handle(CURL *h, const struct settings *s, const struct relay *r)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, s->from);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
#if LIBCURL_VERSION_NUM >= 0x080200
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#else
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
	if (r->starttls && !r->tls_none)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (r->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
	if (r->pinned)
		curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, r->pinned);
	if (r->username) {
		curl_easy_setopt(h, CURLOPT_USERNAME, r->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, r->password ? r->password : "");
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, s->timeout);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, s->timeout);
	/* a relay that stops reading mid-message */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->timeout);
	/* the worker closes a connection idle for idle_timeout with QUIT;
	 * should it miss, curl itself will not reuse one idle that long */
	curl_easy_setopt(h, CURLOPT_MAXAGE_CONN,
	    s->idle_timeout > 1 ? s->idle_timeout - 1 : 1L);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One transaction on h, with one retry on a fresh connection when a reused
 * one turns out to be closed already. */
static void
transfer(struct smtp_pool *p, CURL *h, struct smtp_job *job, struct curl_slist *rcpts,
    struct upload *up)
{
	struct queue_batch *b = job->batch;

	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(h, CURLOPT_READDATA, up);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, job->curl_error);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, &job->transcript);
	/* a shutdown past its deadline cuts the transfer (smtp_pool_abort) */
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, p);

	for (int round = 0; round < 2; round++) {
		long connects = 0;
		job->curl_error[0] = '\0';
		smtp_transcript_reset(&job->transcript);
		up->off = 0;
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, (long)round);
		job->curl_code = (int)curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
		/* A reused connection the server had already closed fails
		 * before any recipient was named: safe to retry at once. */
		bool stale = connects == 0 && job->transcript.n_rcpt == 0 &&
		    (job->transcript.mail_code == 421 ||
		    (job->curl_code != CURLE_OK && job->transcript.mail_code == 0));
		if (round == 0 && stale && job->curl_code != CURLE_OK &&
		    !atomic_load(&p->aborting)) {
			job->retried_fresh = 1;
			continue;
		}
		break;
	}
	if (job->curl_code == CURLE_ABORTED_BY_CALLBACK) {
		/*
		 * Cut by a shutdown: curl may keep the connection and say QUIT on
		 * it at cleanup, waiting for the very relay that hangs. Shut the
		 * socket so that the cleanup finds it dead at once.
		 */
		curl_socket_t sock = CURL_SOCKET_BAD;
		if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK &&
		    sock != CURL_SOCKET_BAD)
			shutdown(sock, SHUT_RDWR);
	}
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, NULL);
}

/*
 * The primary relay failed before MAIL FROM — not reached, or it refused
 * our TLS or login: no recipient was named, so the fallback cannot send
 * anything twice.
 */
static bool
primary_unusable(const struct smtp_job *job)
{
	const struct smtp_transcript *t = &job->transcript;

	if (job->curl_code == CURLE_OK || t->n_rcpt > 0 || t->mail_code != 0)
		return false;
	if (t->auth_code >= 400)
		return true;
	enum smtp_class class = smtp_curl_class(job->curl_code);
	return class == SMTP_CLASS_CONNECT || class == SMTP_CLASS_DNS ||
	    class == SMTP_CLASS_TLS || class == SMTP_CLASS_AUTH ||
	    t->greeting_code >= 400;
}

static CURL *
handle_for(CURL **slot, const struct settings *s, const struct relay *r)
{
	if (*slot == NULL) {
		*slot = curl_easy_init();
		setup_handle(*slot, s, r);
	}
	return *slot;
}

static void
perform(struct worker *w, struct smtp_job *job, const struct settings *s)
{
	struct smtp_pool *p = w->pool;
	struct queue_batch *b = job->batch;
	struct curl_slist *rcpts = NULL;
	struct upload up = { b->message, b->len, 0 };
	double t0 = now_seconds();

	if (w->generation != s->generation) {
		/* new handles: connections opened (and authenticated) under the
		 * old settings must not be reused under the new ones */
		if (w->curl)
			curl_easy_cleanup(w->curl);
		if (w->curl_fb)
			curl_easy_cleanup(w->curl_fb);
		w->curl = w->curl_fb = NULL;
		w->generation = s->generation;
	}
	for (size_t i = 0; i < b->n; i++) {
		char addr[400];
		snprintf(addr, sizeof(addr), "<%s>", b->addresses[i]);
		rcpts = curl_slist_append(rcpts, addr);
	}
	pthread_mutex_lock(&p->lock);
	bool skip_primary = s->fallback.url && (t0 < p->primary_down_until ||
	    (p->primary_failures > 0 && p->primary_probing));
	bool probe = s->fallback.url && !skip_primary && p->primary_failures > 0;
	if (probe)
		p->primary_probing = true;	/* the others keep to the fallback */
	pthread_mutex_unlock(&p->lock);
	if (!skip_primary) {
		transfer(p, handle_for(&w->curl, s, &s->primary), job, rcpts, &up);
		if (s->fallback.url && !atomic_load(&p->aborting) && primary_unusable(job)) {
			const char *e = job->curl_error[0] ? job->curl_error :
			    job->transcript.last_text ? job->transcript.last_text :
			    curl_easy_strerror((CURLcode)job->curl_code);
			snprintf(job->primary_error, sizeof(job->primary_error), "%s", e);
			/* a primary that refuses our login is not asked again
			 * at a steady pace (fail2ban): the hold doubles */
			pthread_mutex_lock(&p->lock);
			long hold = s->fallback_hold;
			for (int i = 1; i < p->primary_failures && hold < s->fallback_hold_max; i++)
				hold *= 2;
			if (hold > s->fallback_hold_max)
				hold = s->fallback_hold_max;
			p->primary_failures++;
			p->primary_down_until = now_seconds() + (double)hold;
			if (probe)
				p->primary_probing = false;
			pthread_mutex_unlock(&p->lock);
			skip_primary = true;
		} else {
			pthread_mutex_lock(&p->lock);
			if (job->transcript.mail_code != 0)
				p->primary_failures = 0;
			if (probe)
				p->primary_probing = false;
			pthread_mutex_unlock(&p->lock);
		}
	}
	if (skip_primary) {
		job->via_fallback = true;
		job->retried_fresh = 0;
		transfer(p, handle_for(&w->curl_fb, s, &s->fallback), job, rcpts, &up);
	}
	curl_slist_free_all(rcpts);
	job->duration = now_seconds() - t0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct smtp_pool *p = w->pool;

	for (;;) {
		struct smtp_job *job;
		struct settings *s;
		pthread_mutex_lock(&p->lock);
		while ((p->todo == NULL || p->held) && !p->stopping) {
			if (w->curl == NULL && w->curl_fb == NULL) {
				pthread_cond_wait(&p->wake, &p->lock);
				continue;
			}
			/* an open connection: close it with QUIT once idle for
			 * idle_timeout, before the relay times it out (Postfix
			 * logs "timeout after END-OF-MESSAGE" at 300 s) */
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += p->settings->idle_timeout;
			if (pthread_cond_timedwait(&p->wake, &p->lock, &until) == ETIMEDOUT &&
			    (p->todo == NULL || p->held) && !p->stopping) {
				CURL *idle = w->curl, *idle_fb = w->curl_fb;
				w->curl = w->curl_fb = NULL;
				pthread_mutex_unlock(&p->lock);
				/* QUIT, then close */
				if (idle)
					curl_easy_cleanup(idle);
				if (idle_fb)
					curl_easy_cleanup(idle_fb);
				pthread_mutex_lock(&p->lock);
			}
		}
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		job = p->todo;
		p->todo = job->next;
		if (p->todo == NULL)
			p->todo_tail = NULL;
		job->next = NULL;
		/* named when it starts, not when it was queued: a reload in
		 * between changes the relay it goes to */
		snprintf(job->relay, sizeof(job->relay), "%s", p->relay);
		snprintf(job->fallback_relay, sizeof(job->fallback_relay), "%s",
		    p->fallback_relay);
		/* counted, so that a reload frees the settings it replaces as
		 * soon as no transfer uses them (they leaked once per SIGHUP) */
		s = p->settings;
		s->refs++;
		w->current = job;
		pthread_mutex_unlock(&p->lock);

		perform(w, job, s);

		pthread_mutex_lock(&p->lock);
		w->current = NULL;
		if (job->transcript.size_seen && !job->via_fallback)
			p->relay_size = job->transcript.size_limit;
		if (smtp_job_refused_session(job))
			p->held = true;
		if (--s->refs == 0 && s != p->settings)
			settings_free(s);
		if (p->done_tail)
			p->done_tail->next = job;
		else
			p->done = job;
		p->done_tail = job;
		pthread_mutex_unlock(&p->lock);
		uint64_t one = 1;
		while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	if (w->curl)
		curl_easy_cleanup(w->curl);
	if (w->curl_fb)
		curl_easy_cleanup(w->curl_fb);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
fallback_name(struct smtp_pool *p, const struct conf *c)
{
	if (c->smtp.fallback.url)
		snprintf(p->fallback_relay, sizeof(p->fallback_relay), "%s:%d",
		    c->smtp.fallback.host, c->smtp.fallback.port);
	else
		p->fallback_relay[0] = '\0';
}

struct smtp_pool *
smtp_pool_new(const struct conf *c, char *err, size_t errsz)
{
	struct smtp_pool *p = xcalloc(1, sizeof(*p));

	pthread_once(&curl_once, curl_start);
	pthread_mutex_init(&p->lock, NULL);
	/* the idle timeout counts on the monotonic clock: a clock step must
	 * neither close connections early nor keep them open for hours */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		free(p);
		return NULL;
	}
	p->settings = settings_new(c, 1);
	p->relay_size = -1;
	snprintf(p->relay, sizeof(p->relay), "%s:%d", c->smtp.host, c->smtp.port);
	fallback_name(p, c);
	p->n_workers = (size_t)c->smtp.connections;
	p->workers = xcalloc(p->n_workers, sizeof(*p->workers));
	for (size_t i = 0; i < p->n_workers; i++) {
		p->workers[i].pool = p;
		if (pthread_create(&p->workers[i].thread, NULL, worker_main,
		    &p->workers[i]) != 0) {
			snprintf(err, errsz, "cannot start transport thread: %s",
			    strerror(errno));
			p->n_workers = i;
			smtp_pool_free(p);
			return NULL;
		}
	}
	return p;
}

void
smtp_pool_configure(struct smtp_pool *p, const struct conf *c)
{
	pthread_mutex_lock(&p->lock);
	struct settings *old = p->settings;
	p->settings = settings_new(c, old->generation + 1);
	snprintf(p->relay, sizeof(p->relay), "%s:%d", c->smtp.host, c->smtp.port);
	fallback_name(p, c);
	p->relay_size = -1;	/* maybe another relay now */
	p->primary_down_until = 0;	/* new settings: try the primary again */
	p->primary_failures = 0;
	p->primary_probing = false;
	/* in use: the last worker to finish with it frees it */
	if (old->refs == 0)
		settings_free(old);
	pthread_mutex_unlock(&p->lock);
}

void
smtp_pool_abort(struct smtp_pool *p)
{
	atomic_store(&p->aborting, true);
}

int
smtp_pool_fd(const struct smtp_pool *p)
{
	return p->efd;
}

const char *
smtp_pool_relay(const struct smtp_pool *p)
{
	return p->relay;
}

bool
smtp_job_refused_session(const struct smtp_job *job)
{
	return job->curl_code != CURLE_OK && job->transcript.mail_code == 0 &&
	    job->transcript.n_rcpt == 0;
}

void
smtp_pool_submit(struct smtp_pool *p, struct smtp_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->todo_tail)
		p->todo_tail->next = job;
	else
		p->todo = job;
	p->todo_tail = job;
	p->busy++;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

struct smtp_job *
smtp_pool_collect(struct smtp_pool *p)
{
	struct smtp_job *list, *j;
	uint64_t count;

	while (read(p->efd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = p->done_tail = NULL;
	for (j = list; j; j = j->next)
		p->busy--;
	pthread_mutex_unlock(&p->lock);
	return list;
}

struct smtp_job *
smtp_pool_reclaim(struct smtp_pool *p)
{
	struct smtp_job *unstarted;

	pthread_mutex_lock(&p->lock);
	unstarted = p->todo;
	for (struct smtp_job *j = unstarted; j; j = j->next)
		p->busy--;
	p->todo = p->todo_tail = NULL;
	pthread_mutex_unlock(&p->lock);
	return unstarted;
}

void
smtp_pool_resume(struct smtp_pool *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->held) {
		p->held = false;
		pthread_cond_broadcast(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
}

bool
smtp_pool_carries(struct smtp_pool *p, int64_t issue)
{
	bool found = false;

	pthread_mutex_lock(&p->lock);
	for (const struct smtp_job *j = p->todo; j && !found; j = j->next)
		found = j->batch->issue == issue;
	for (const struct smtp_job *j = p->done; j && !found; j = j->next)
		found = j->batch->issue == issue;
	for (size_t i = 0; i < p->n_workers && !found; i++)
		found = p->workers[i].current && p->workers[i].current->batch->issue == issue;
	pthread_mutex_unlock(&p->lock);
	return found;
}

size_t
smtp_pool_queued(const struct smtp_pool *p)
{
	size_t n = 0;

	pthread_mutex_lock((pthread_mutex_t *)&p->lock);
	for (const struct smtp_job *j = p->todo; j; j = j->next)
		n++;
	pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
	return n;
}

long
smtp_pool_relay_size(struct smtp_pool *p)
{
	long n;

	pthread_mutex_lock(&p->lock);
	n = p->relay_size;
	pthread_mutex_unlock(&p->lock);
	return n;
}

size_t
smtp_pool_size(const struct smtp_pool *p)
{
	return p->n_workers;
}

size_t
smtp_pool_busy(const struct smtp_pool *p)
{
	size_t n;

	pthread_mutex_lock((pthread_mutex_t *)&p->lock);
	n = p->busy;
	pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
	return n;
}

struct smtp_job *
smtp_pool_stop(struct smtp_pool *p)
{
	struct smtp_job *unstarted;

	pthread_mutex_lock(&p->lock);
	unstarted = p->todo;
	for (struct smtp_job *j = unstarted; j; j = j->next)
		p->busy--;
	p->todo = p->todo_tail = NULL;
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n_workers; i++)
		pthread_join(p->workers[i].thread, NULL);
	p->n_workers = 0;
	return unstarted;
}

void
smtp_pool_free(struct smtp_pool *p)
{
	if (p == NULL)
		return;
	struct smtp_job *left = smtp_pool_stop(p);
	while (left) {
		struct smtp_job *next = left->next;
		smtp_job_free(left);
		left = next;
	}
	for (struct smtp_job *j = p->done; j;) {
		struct smtp_job *next = j->next;
		smtp_job_free(j);
		j = next;
	}
	settings_free(p->settings);
	close(p->efd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p->workers);
	free(p);
}

void
smtp_job_free(struct smtp_job *j)
{
	if (j == NULL)
		return;
	smtp_transcript_reset(&j->transcript);
	queue_batch_free(j->batch);
	free(j);
}
