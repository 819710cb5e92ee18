#include "smtp.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
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

/* ---- the protocol trace (pure) ----------------------------------------- */

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
	if (n < 3 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (n > 3 && s[3] == '-'))
		return;
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	t->last_code = code;
	set_text(&t->last_text, s, n);
	switch (t->phase) {
	case P_GREETING: t->greeting_code = code; break;
	case P_EHLO: t->ehlo_code = code; break;
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

static const char *
curl_class(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return "dns";
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return "connect";
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
		return "tls";
	case CURLE_LOGIN_DENIED:
	case CURLE_AUTH_ERROR:
		return "auth";
	default:
		return "protocol";
	}
}

static void
set_result(struct queue_result *r, enum queue_outcome o, int code, const char *text,
    const char *class)
{
	r->outcome = o;
	r->code = code;
	r->reply = text;
	r->class = class;
	r->dsn = NULL;
}

void
smtp_outcome(const struct smtp_transcript *t, int curl_code, const char *curl_error,
    size_t n, struct queue_result *res)
{
	const char *err_text = curl_error && *curl_error ? curl_error :
	    curl_easy_strerror((CURLcode)curl_code);

	for (size_t i = 0; i < n; i++) {
		struct queue_result *r = &res[i];
		int rc = i < t->n_rcpt ? t->rcpt_code[i] : 0;

		if (rc >= 500) {
			set_result(r, QUEUE_PERM, rc, t->rcpt_text[i], "5xx");
		} else if (rc >= 400) {
			set_result(r, QUEUE_TEMP, rc, t->rcpt_text[i], "4xx");
		} else if (rc >= 200 && rc < 300) {
			if (t->data_code >= 200 && t->data_code < 300 && curl_code == CURLE_OK)
				set_result(r, QUEUE_OK, t->data_code, t->data_text, "ok");
			else if (t->data_code >= 500)
				set_result(r, QUEUE_PERM, t->data_code, t->data_text, "5xx");
			else if (t->data_code >= 400)
				set_result(r, QUEUE_TEMP, t->data_code, t->data_text, "4xx");
			else	/* accepted, then no verdict on the data: dropped */
				set_result(r, QUEUE_TEMP, 0, err_text,
				    curl_code == CURLE_OK ? "protocol" : curl_class(curl_code));
		} else if (t->mail_code == 530) {
			/* "authentication required": our credentials, not the recipient */
			set_result(r, QUEUE_TEMP, t->mail_code, t->mail_text, "auth");
		} else if (t->mail_code >= 500) {
			set_result(r, QUEUE_PERM, t->mail_code, t->mail_text, "5xx");
		} else if (t->mail_code >= 400) {
			set_result(r, QUEUE_TEMP, t->mail_code, t->mail_text, "4xx");
		} else if (t->auth_code >= 400) {
			set_result(r, QUEUE_TEMP, t->auth_code, t->last_text, "auth");
		} else if (t->greeting_code >= 400 || t->ehlo_code >= 400) {
			set_result(r, QUEUE_TEMP, t->last_code, t->last_text, "protocol");
		} else {
			set_result(r, QUEUE_TEMP, 0, err_text, curl_class(curl_code));
		}
		if (r->reply && r->code)
			r->dsn = dsn_of(r->reply, r->dsn_store, sizeof(r->dsn_store));
	}
}

/* ---- worker pool ------------------------------------------------------ */

struct settings {
	char *url, *from, *username, *password, *ca_file, *pinned;
	bool starttls, tls_none;
	long timeout;
	unsigned generation;
	unsigned refs;		/* workers using it, under the pool's lock */
};

struct worker {
	struct smtp_pool *pool;
	pthread_t thread;
	CURL *curl;
	unsigned generation;
};

struct smtp_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct smtp_job *todo, *todo_tail;
	struct smtp_job *done, *done_tail;
	size_t busy;
	bool stopping;
	int efd;
	atomic_bool aborting;		/* smtp_pool_abort: cut transfers now */
	struct settings *settings;	/* under lock; replaced on reload */
	char relay[300];
	struct worker *workers;
	size_t n_workers;
};

static struct settings *
settings_new(const struct conf *c, unsigned generation)
{
	struct settings *s = xcalloc(1, sizeof(*s));
	struct sbuf from = SBUF_INIT;

	s->url = xstrdup(c->smtp.url);
	sbuf_printf(&from, "<%s>", c->sender.from_address);
	s->from = sbuf_steal(&from);
	s->username = c->smtp.username ? xstrdup(c->smtp.username) : NULL;
	s->password = c->smtp.password ? xstrdup(c->smtp.password) : NULL;
	s->ca_file = c->smtp.ca_file ? xstrdup(c->smtp.ca_file) : NULL;
	s->pinned = c->smtp.pinned_pubkey ? xstrdup(c->smtp.pinned_pubkey) : NULL;
	s->starttls = !c->smtp.implicit_tls;
	s->tls_none = c->smtp.tls_none;
	s->timeout = c->smtp.timeout;
	s->generation = generation;
	return s;
}

static void
settings_free(struct settings *s)
{
	if (s == NULL)
		return;
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->url);
	free(s->from);
	free(s->username);
	free(s->ca_file);
	free(s->pinned);
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
setup_handle(CURL *h, const struct settings *s)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, s->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, s->from);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
#if LIBCURL_VERSION_NUM >= 0x080200
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#else
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
	if (s->starttls && !s->tls_none)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (s->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
	if (s->pinned)
		curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, s->pinned);
	if (s->username) {
		curl_easy_setopt(h, CURLOPT_USERNAME, s->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, s->password ? s->password : "");
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, s->timeout);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, s->timeout);
	/* a relay that stops reading mid-message */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->timeout);
	/* below common relay idle timeouts (60-300 s), so a reused
	 * connection is rarely one the server has already closed */
	curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, 50L);
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

static void
perform(struct worker *w, struct smtp_job *job, const struct settings *s)
{
	struct queue_batch *b = job->batch;
	struct curl_slist *rcpts = NULL;
	struct upload up = { b->message, b->len, 0 };
	double t0 = now_seconds();

	if (w->generation != s->generation) {
		/* a new handle: connections opened (and authenticated) under the
		 * old settings must not be reused under the new ones */
		if (w->curl)
			curl_easy_cleanup(w->curl);
		w->curl = curl_easy_init();
		setup_handle(w->curl, s);
		w->generation = s->generation;
	}
	for (size_t i = 0; i < b->n; i++) {
		char addr[400];
		snprintf(addr, sizeof(addr), "<%s>", b->addresses[i]);
		rcpts = curl_slist_append(rcpts, addr);
	}
	curl_easy_setopt(w->curl, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(w->curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(w->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len);
	curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, job->curl_error);
	curl_easy_setopt(w->curl, CURLOPT_DEBUGDATA, &job->transcript);
	curl_easy_setopt(w->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(w->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(w->curl, CURLOPT_XFERINFODATA, w->pool);

	for (int round = 0; round < 2; round++) {
		long connects = 0;
		job->curl_error[0] = '\0';
		smtp_transcript_reset(&job->transcript);
		up.off = 0;
		curl_easy_setopt(w->curl, CURLOPT_FRESH_CONNECT, (long)round);
		job->curl_code = (int)curl_easy_perform(w->curl);
		curl_easy_getinfo(w->curl, CURLINFO_NUM_CONNECTS, &connects);
		/* A reused connection the server had already closed fails
		 * before any recipient was named: safe to retry at once. */
		bool stale = connects == 0 && job->transcript.n_rcpt == 0 &&
		    (job->transcript.mail_code == 421 ||
		    (job->curl_code != CURLE_OK && job->transcript.mail_code == 0));
		if (round == 0 && stale && job->curl_code != CURLE_OK &&
		    !atomic_load(&w->pool->aborting)) {
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
		if (curl_easy_getinfo(w->curl, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK &&
		    sock != CURL_SOCKET_BAD)
			shutdown(sock, SHUT_RDWR);
	}
	curl_easy_setopt(w->curl, CURLOPT_MAIL_RCPT, NULL);
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
		while (p->todo == NULL && !p->stopping)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		job = p->todo;
		p->todo = job->next;
		if (p->todo == NULL)
			p->todo_tail = NULL;
		job->next = NULL;
		/* counted, so that a reload frees the settings it replaces as
		 * soon as no transfer uses them (they leaked once per SIGHUP) */
		s = p->settings;
		s->refs++;
		pthread_mutex_unlock(&p->lock);

		perform(w, job, s);

		pthread_mutex_lock(&p->lock);
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
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct smtp_pool *
smtp_pool_new(const struct conf *c, char *err, size_t errsz)
{
	struct smtp_pool *p = xcalloc(1, sizeof(*p));

	pthread_once(&curl_once, curl_start);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		free(p);
		return NULL;
	}
	p->settings = settings_new(c, 1);
	snprintf(p->relay, sizeof(p->relay), "%s:%d", c->smtp.host, c->smtp.port);
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
