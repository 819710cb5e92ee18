/*
 * The queue's front: picks a backend from the `state` setting, mints
 * Message-IDs, decides each attempt with the delivery policy, and
 * dispatches the rest to the backend (queue_backend.h). No SQL here.
 */
#include "queue.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery_policy.h"
#include "sbuf.h"

#include "queue_backend.h"
#include "queue_private.h"
#include "xalloc.h"

const char *
queue_kind_name(enum queue_kind k)
{
	switch (k) {
	case QUEUE_KIND_BULLETIN:	return "bulletin";
	case QUEUE_KIND_REPORT:		return "report";
	case QUEUE_KIND_NOTICE:		return "notice";
	case QUEUE_KIND_REMINDER:	return "reminder";
	}
	return "?";
}

int
queue_kind_parse(const char *name, enum queue_kind *k)
{
	static const enum queue_kind kinds[] = {
		QUEUE_KIND_BULLETIN, QUEUE_KIND_REPORT, QUEUE_KIND_NOTICE,
		QUEUE_KIND_REMINDER,
	};

	for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(name, queue_kind_name(kinds[i])) == 0) {
			*k = kinds[i];
			return 0;
		}
	return -1;
}

static const char *const issue_state_names[] = {
	[QUEUE_ISSUE_ACTIVE] = "active", [QUEUE_ISSUE_HELD] = "held",
	[QUEUE_ISSUE_DONE] = "done", [QUEUE_ISSUE_CANCELLED] = "cancelled",
};

const char *
queue_issue_state_name(enum queue_issue_state s)
{
	return (unsigned)s < sizeof(issue_state_names) / sizeof(issue_state_names[0]) ?
	    issue_state_names[s] : "?";
}

int
queue_issue_state_parse(const char *name, enum queue_issue_state *s)
{
	for (size_t i = 0; name && i < sizeof(issue_state_names) /
	    sizeof(issue_state_names[0]); i++)
		if (strcmp(name, issue_state_names[i]) == 0) {
			*s = (enum queue_issue_state)i;
			return 0;
		}
	return -1;
}

static const char *const alert_kind_names[] = {
	[QUEUE_ALERT_AUTH] = "auth", [QUEUE_ALERT_TLS] = "tls",
	[QUEUE_ALERT_DEFERRED] = "deferred", [QUEUE_ALERT_FALLBACK] = "fallback",
	[QUEUE_ALERT_FEEDBACK] = "feedback",
};

const char *
queue_alert_kind_name(enum queue_alert_kind k)
{
	return (unsigned)k < sizeof(alert_kind_names) / sizeof(alert_kind_names[0]) ?
	    alert_kind_names[k] : "?";
}

int
queue_alert_kind_parse(const char *name, enum queue_alert_kind *k)
{
	for (size_t i = 0; name && i < sizeof(alert_kind_names) /
	    sizeof(alert_kind_names[0]); i++)
		if (strcmp(name, alert_kind_names[i]) == 0) {
			*k = (enum queue_alert_kind)i;
			return 0;
		}
	return -1;
}

/* ---- choosing a backend, opening ------------------------------------------ */

/* A libpq keyword string starts with a keyword and '=': "host=… dbname=…" */
static bool
is_keyword_string(const char *s)
{
	size_t n = 0;

	while (isspace((unsigned char)*s))
		s++;
	while (isalpha((unsigned char)s[n]) || s[n] == '_')
		n++;
	while (isspace((unsigned char)s[n]))
		n++;
	return n > 0 && s[n] == '=';
}

const struct queue_backend *
queue_backend_for(const char *location, char *err, size_t errsz)
{
	size_t n = 0;

	if (location[0] != '/' && is_keyword_string(location))
		return &queue_backend_pg;
	/* RFC 3986 scheme: a letter, then letters, digits, + - . */
	if (isalpha((unsigned char)location[0]))
		for (n = 1; isalnum((unsigned char)location[n]) || location[n] == '+' ||
		    location[n] == '-' || location[n] == '.'; n++)
			;
	if (n == 0 || strncmp(location + n, "://", 3) != 0)
		return &queue_backend_sqlite;
	if ((n == 10 && strncmp(location, "postgresql", n) == 0) ||
	    (n == 8 && strncmp(location, "postgres", n) == 0))
		return &queue_backend_pg;
	/* the scheme only: the rest may carry a user name */
	snprintf(err, errsz, "unsupported queue backend \"%.*s\" (state is a file "
	    "path for the SQLite queue)", (int)n, location);
	return NULL;
}

void
queue_location_name(const char *location, char *buf, size_t bufsz)
{
	char err[256];

	if (queue_backend_for(location, err, sizeof(err)) == &queue_backend_pg)
		queue_pg_location_name(location, buf, bufsz);
	else
		snprintf(buf, bufsz, "%s", location);
}

size_t
queue_backend_missing(const struct queue_backend *b, char *buf, size_t bufsz)
{
#define OP(name) { #name, b->name == NULL }
	const struct { const char *name; bool missing; } ops[] = {
	OP(open),
	OP(close),
	OP(lock),
	OP(check_file),
	OP(probe_write),
	OP(release_memory),
	OP(reserve_id),
	OP(unreserve_id),
	OP(commit_issue),
	OP(source_pending),
	OP(source_archived),
	OP(recover),
	OP(take),
	OP(record_many),
	OP(release_batch),
	OP(clock_step),
	OP(next_due),
	OP(finish),
	OP(failures),
	OP(relay_get),
	OP(relay_set_size),
	OP(relay_set_max_rcpt),
	OP(oldest_deferral),
	OP(alert),
	OP(clear_alert),
	OP(notices_due),
	OP(notices_since),
	OP(counts),
	OP(changes),
	OP(hold),
	OP(release),
	OP(cancel),
	OP(retry),
	OP(resend),
	OP(resend_all),
	OP(resend_to),
	OP(has_recipient),
	OP(load_source),
	OP(reroute),
	OP(record_read),
	OP(purge_list),
	OP(purge_delete),
	OP(view_status),
	OP(view_issue),
	OP(view_attempts),
	OP(wake_fd),
	OP(wake_drain),
	OP(reconnect),
	OP(join),
	OP(heartbeat),
	OP(heartbeat_interval),
	OP(view_nodes),
	OP(feedback_apply),
	OP(feedback_cursor),
	OP(feedback_cursor_set),
	};
#undef OP
	size_t n = 0, used = 0;

	if (bufsz > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!ops[i].missing)
			continue;
		if (used < bufsz) {
			int w = snprintf(buf + used, bufsz - used, "%s%s", n ? ", " : "",
			    ops[i].name);
			used += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}

int
queue_open(const char *path, struct queue **out, char *err, size_t errsz)
{
	return queue_open_mode(path, QUEUE_CREATE, out, err, errsz);
}

int
queue_open_mode(const char *path, enum queue_mode mode, struct queue **out,
    char *err, size_t errsz)
{
	const struct queue_backend *backend = queue_backend_for(path, err, errsz);
	struct queue *q;

	*out = NULL;
	if (backend == NULL)
		return -1;
	q = xcalloc(1, sizeof(*q));
	q->backend = backend;
	int rc = backend->open(q, path, mode, err, errsz);
	if (rc < 0) {
		backend->close(q);
		free(q);
		return rc == QUEUE_NONE ? QUEUE_NONE : -1;
	}
	*out = q;
	return 0;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	q->backend->close(q);
	free(q->node);
	free(q);
}

int
queue_lock(const char *path, int *fd, char *err, size_t errsz)
{
	return queue_lock_node(path, NULL, fd, err, errsz);
}

int
queue_lock_node(const char *path, const char *node, int *fd, char *err, size_t errsz)
{
	const struct queue_backend *backend = queue_backend_for(path, err, errsz);

	*fd = -1;
	return backend ? backend->lock(path, node, fd, err, errsz) : -1;
}

/* ---- intake: reserve, render outside any transaction, commit ------------- */

int
queue_reserve(struct queue *q, const char *sha256, const char *id_domain,
    struct queue_reservation *res, char *err, size_t errsz)
{
	memset(res, 0, sizeof(*res));
	if (q->backend->reserve_id(q, &res->id, err, errsz) < 0)
		return -1;
	snprintf(res->message_id, sizeof(res->message_id), "distd.%lld.%.16s@%s",
	    (long long)res->id, sha256, id_domain);
	return 0;
}

void
queue_unreserve(struct queue *q, const struct queue_reservation *res)
{
	q->backend->unreserve_id(q, res->id);
}

int
queue_commit(struct queue *q, const struct queue_reservation *res,
    const struct queue_issue_in *in, const struct queue_recipient_in *r, size_t n,
    const char *message, size_t len, int64_t *dup_of, char *err, size_t errsz)
{
	int rc = q->backend->commit_issue(q, res->id, res->message_id, in, r, n, message,
	    len, dup_of, err, errsz);

	q->backend->unreserve_id(q, res->id);
	return rc;
}

int
queue_enqueue(struct queue *q, const struct queue_issue_in *in,
    const struct queue_recipient_in *r, size_t n, const char *id_domain,
    queue_render_fn render, void *arg, int64_t *id, int64_t *dup_of,
    char *err, size_t errsz)
{
	struct queue_reservation res;
	char *message;
	size_t len = 0;
	int rc;

	*id = 0;
	*dup_of = 0;
	if (queue_reserve(q, in->sha256, id_domain, &res, err, errsz) < 0)
		return -1;
	message = render(arg, res.id, res.message_id, &len, err, errsz);
	if (message == NULL) {
		queue_unreserve(q, &res);
		return -1;
	}
	rc = queue_commit(q, &res, in, r, n, message, len, dup_of, err, errsz);
	free(message);
	if (rc < 0)
		return -1;
	/* a notice whose key exists inserted nothing */
	*id = in->kind == QUEUE_KIND_NOTICE && *dup_of != 0 ? 0 : res.id;
	return 0;
}

/* ---- delivery: the policy decides, the backend stores --------------------- */

int
queue_record(struct queue *q, const struct queue_batch *b,
    const struct smtp_verdict *verdicts, const bool *again,
    struct queue_attempt *attempts, int64_t now, double duration, const char *relay,
    const struct queue_retry *retry, queue_jitter_fn jitter, char *err, size_t errsz)
{
	struct queue_record_in in = { b, verdicts, again, attempts, now, duration, relay, 0 };

	return queue_record_many(q, &in, 1, retry, jitter, err, errsz);
}

/* The policy's decision for every recipient, before anything is stored. */
static void
decide_attempts(const struct queue_record_in *in, const struct queue_retry *retry,
    queue_jitter_fn jitter)
{
	const struct queue_batch *b = in->batch;

	for (size_t i = 0; i < b->n; i++) {
		int attempt = b->attempts[i] + 1;
		struct delivery_policy_in p = {
			.verdict = &in->verdicts[i],
			.attempts_before = b->attempts[i],
			.possible_duplicate = b->possible_duplicate[i],
			.again = in->again != NULL && in->again[i],
			.now = in->when,
			.received = in->received ? in->received : b->received,
			.retry = retry,
			.jitter = jitter(b->issue, b->tiers[i], attempt),
		};
		in->attempts[i] = delivery_policy_decide(&p);
	}
}

int
queue_record_many(struct queue *q, const struct queue_record_in *in, size_t n,
    const struct queue_retry *retry, queue_jitter_fn jitter, char *err, size_t errsz)
{
	if (n == 0)
		return 0;
	for (size_t k = 0; k < n; k++)
		decide_attempts(&in[k], retry, jitter);
	return q->backend->record_many(q, in, n, err, errsz);
}

/*
 * An issue's message, read once per queue_take and shared by the batches
 * of that issue: a 10 000-recipient issue is 200 batches, and a copy each
 * would move its message 200 times. The batches are freed by whichever
 * thread is done with them, hence the atomic count.
 */
struct queue_message_buf {
	atomic_size_t refs;
	char data[];
};

char *
queue_message_share(char *data)
{
	struct queue_message_buf *m = (struct queue_message_buf *)(void *)(data -
	    offsetof(struct queue_message_buf, data));

	atomic_fetch_add(&m->refs, 1);
	return data;
}

static void
message_unref(char *data)
{
	if (data == NULL)
		return;
	struct queue_message_buf *m = (struct queue_message_buf *)(void *)(data -
	    offsetof(struct queue_message_buf, data));
	if (atomic_fetch_sub(&m->refs, 1) == 1)
		free(m);
}

char *
queue_message_new(const void *blob, size_t len)
{
	struct queue_message_buf *m = xmalloc(sizeof(*m) + len + 1);

	atomic_init(&m->refs, 1);
	if (len)
		memcpy(m->data, blob, len);
	m->data[len] = '\0';
	return m->data;
}

struct queue_batch *
queue_batch_new(int64_t issue, int64_t received, size_t cap)
{
	struct queue_batch *b = xcalloc(1, sizeof(*b));

	b->issue = issue;
	b->received = received;
	b->ids = xcalloc(cap, sizeof(*b->ids));
	b->addresses = xcalloc(cap, sizeof(*b->addresses));
	b->tiers = xcalloc(cap, sizeof(*b->tiers));
	b->attempts = xcalloc(cap, sizeof(*b->attempts));
	b->possible_duplicate = xcalloc(cap, sizeof(*b->possible_duplicate));
	return b;
}

void
queue_batch_free(struct queue_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->addresses[i]);
		free(b->tiers[i]);
	}
	free(b->addresses);
	free(b->tiers);
	free(b->ids);
	free(b->attempts);
	free(b->possible_duplicate);
	message_unref(b->message);
	free(b);
}

/* ---- freeing what the backends return (plain structs) -------------------- */

void
queue_source_free(struct queue_source *src)
{
	free(src->text);
	free(src->message_id);
	for (size_t i = 0; i < src->n_attachments; i++) {
		free((char *)src->attachments[i].name);
		free((char *)src->attachments[i].data);
	}
	free(src->attachments);
	memset(src, 0, sizeof(*src));
}

void
queue_record_free(struct queue_record *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_recipients; i++) {
		struct queue_record_recipient *x = &r->recipients[i];
		free(x->tier);
		free(x->unit);
		free(x->name);
		free(x->address);
		free(x->dsn);
		free(x->reply);
		free(x->replaced_by);
		free(x->replaces);
		free(x->bounce_status);
		free(x->bounce_reply);
		free(x->confirmed_by);
	}
	free(r->recipients);
	free(r->title);
	free(r->issuer);
	free(r->date);
	free(r->source);
	free(r->subject);
	free(r->message_id);
	free(r->sha256);
	free(r);
}

/* ---- the rest: straight to the backend ------------------------------------ */

int
queue_check_file(struct queue *q, char *err, size_t errsz)
{
	return q->backend->check_file(q, err, errsz);
}

int
queue_wake_fd(struct queue *q)
{
	return q->backend->wake_fd(q);
}

bool
queue_wake_drain(struct queue *q)
{
	return q->backend->wake_drain(q);
}

int
queue_reconnect(struct queue *q, char *err, size_t errsz)
{
	return q->backend->reconnect(q, err, errsz);
}

void
queue_release_memory(struct queue *q)
{
	q->backend->release_memory(q);
}

int
queue_probe_write(struct queue *q, char *err, size_t errsz)
{
	return q->backend->probe_write(q, err, errsz);
}

int
queue_source_pending(struct queue *q, const char *sha256, const char *source,
    int64_t *id, char *err, size_t errsz)
{
	return q->backend->source_pending(q, sha256, source, id, err, errsz);
}

int
queue_source_archived(struct queue *q, const char *sha256, const char *source,
    const char *where, char *err, size_t errsz)
{
	return q->backend->source_archived(q, sha256, source, where, err,
	    errsz);
}

int
queue_recover(struct queue *q, int *count, char *err, size_t errsz)
{
	return q->backend->recover(q, count, err, errsz);
}

/* ---- several nodes ---------------------------------------------------------- */

int
queue_join(struct queue *q, const char *node, long lease, char *err, size_t errsz)
{
	if (node == NULL || node[0] == '\0' || lease < 3) {
		snprintf(err, errsz, "joining the queue: expected a node name and a lease "
		    "of at least 3 s (got %s, %ld s)", node && node[0] ? node : "none",
		    lease);
		return -1;
	}
	free(q->node);
	q->node = xstrdup(node);
	q->lease = lease;
	if (q->backend->join(q, err, errsz) < 0) {
		/* not joined: what it takes stays leased to no node */
		free(q->node);
		q->node = NULL;
		q->lease = 0;
		return -1;
	}
	return 0;
}

int
queue_heartbeat(struct queue *q, struct queue_takeover **out, size_t *n, char *err,
    size_t errsz)
{
	*out = NULL;
	*n = 0;
	return q->backend->heartbeat(q, out, n, err, errsz);
}

void
queue_takeover_free(struct queue_takeover *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		free(t[i].node);
	free(t);
}

long
queue_heartbeat_interval(struct queue *q)
{
	return q->node == NULL ? 0 : q->backend->heartbeat_interval(q);
}

int
queue_view_nodes(struct queue *q, struct queue_view_node **out, size_t *n,
    char *err, size_t errsz)
{
	*out = NULL;
	*n = 0;
	return q->backend->view_nodes(q, out, n, err, errsz);
}

int
queue_feedback_apply(struct queue *q, const struct queue_feedback_in *in,
    struct queue_feedback_out *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	return q->backend->feedback_apply(q, in, out, err, errsz);
}

int
queue_feedback_cursor(struct queue *q, const char *cursor, uint32_t *uidvalidity,
    uint32_t *uid, char *err, size_t errsz)
{
	*uidvalidity = 0;
	*uid = 0;
	return q->backend->feedback_cursor(q, cursor, uidvalidity, uid, err, errsz);
}

int
queue_feedback_cursor_set(struct queue *q, const char *cursor, uint32_t uidvalidity,
    uint32_t uid, char *err, size_t errsz)
{
	return q->backend->feedback_cursor_set(q, cursor, uidvalidity, uid, err, errsz);
}

void
queue_view_nodes_free(struct queue_view_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].host);
		free(v[i].version);
	}
	free(v);
}

int
queue_take(struct queue *q, int64_t now, size_t max_batches, size_t max_rcpt,
    struct queue_batch **batches, size_t *n, char *err, size_t errsz)
{
	return q->backend->take(q, now, max_batches, max_rcpt, batches, n, err,
	    errsz);
}

int
queue_release_batch(struct queue *q, const struct queue_batch *b, char *err,
    size_t errsz)
{
	return q->backend->release_batch(q, b, err, errsz);
}

int
queue_clock_step(struct queue *q, int64_t by, int64_t before, char *err,
    size_t errsz)
{
	return q->backend->clock_step(q, by, before, err, errsz);
}

int
queue_next_due(struct queue *q, int64_t *when)
{
	return q->backend->next_due(q, when);
}

int
queue_finish(struct queue *q, int64_t now, int64_t **report, size_t *n,
    char *err, size_t errsz)
{
	return q->backend->finish(q, now, report, n, err, errsz);
}

int
queue_failures(struct queue *q, int64_t issue, struct queue_failure **f,
    size_t *n, char **title, long *issue_no)
{
	return q->backend->failures(q, issue, f, n, title, issue_no);
}

int
queue_relay_get(struct queue *q, const char *relay, long *size, long *max_rcpt)
{
	return q->backend->relay_get(q, relay, size, max_rcpt);
}

int
queue_relay_set_size(struct queue *q, const char *relay, long size, int64_t now)
{
	return q->backend->relay_set_size(q, relay, size, now);
}

int
queue_relay_set_max_rcpt(struct queue *q, const char *relay, long max_rcpt,
    int64_t now)
{
	return q->backend->relay_set_max_rcpt(q, relay, max_rcpt, now);
}

int
queue_oldest_deferral(struct queue *q, int64_t *since, long *count)
{
	return q->backend->oldest_deferral(q, since, count);
}

int
queue_alert(struct queue *q, enum queue_alert_kind kind, const char *text, int64_t now)
{
	return q->backend->alert(q, queue_alert_kind_name(kind), text, now);
}

int
queue_clear_alert(struct queue *q, enum queue_alert_kind kind)
{
	return q->backend->clear_alert(q, queue_alert_kind_name(kind));
}

int
queue_notices_due(struct queue *q, struct queue_notice_due **out, size_t *n,
    char *err, size_t errsz)
{
	return q->backend->notices_due(q, out, n, err, errsz);
}

int
queue_notices_since(struct queue *q, int64_t since, long *count,
    int64_t *oldest)
{
	return q->backend->notices_since(q, since, count, oldest);
}

int
queue_counts(struct queue *q, long counts[QUEUE_STATES])
{
	return q->backend->counts(q, counts);
}

int
queue_changes(struct queue *q, int64_t *own, int64_t *others)
{
	return q->backend->changes(q, own, others);
}

int
queue_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
    char *err, size_t errsz)
{
	return q->backend->hold(q, issue, tier, reason, err, errsz);
}

int
queue_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	return q->backend->release(q, issue, tier, now, err, errsz);
}

int
queue_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	return q->backend->cancel(q, issue, tier, now, err, errsz);
}

int
queue_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	return q->backend->retry(q, issue, tier, now, err, errsz);
}

int
queue_resend(struct queue *q, int64_t issue, const char *tier,
    const char *address, int64_t now, char *err, size_t errsz)
{
	return q->backend->resend(q, issue, tier, address, now, err, errsz);
}

int
queue_resend_all(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz)
{
	return q->backend->resend_all(q, issue, tier, now, err, errsz);
}

int
queue_resend_to(struct queue *q, int64_t issue, const char *tier,
    const char *address, const char *old, int64_t now, char *err, size_t errsz)
{
	return q->backend->resend_to(q, issue, tier, address, old, now, err,
	    errsz);
}

bool
queue_has_recipient(struct queue *q, int64_t issue, const char *tier,
    const char *address)
{
	return q->backend->has_recipient(q, issue, tier, address);
}

int
queue_load_source(struct queue *q, int64_t issue, struct queue_source *src,
    char *err, size_t errsz)
{
	return q->backend->load_source(q, issue, src, err, errsz);
}

int
queue_reroute(struct queue *q, int64_t issue,
    const struct queue_recipient_in *r, size_t n, const char *message,
    size_t len, int64_t now, char *err, size_t errsz)
{
	return q->backend->reroute(q, issue, r, n, message, len, now, err,
	    errsz);
}

int
queue_record_read(struct queue *q, int64_t id, struct queue_record **out,
    char *err, size_t errsz)
{
	return q->backend->record_read(q, id, out, err, errsz);
}

int
queue_purge_list(struct queue *q, int64_t before, size_t max,
    struct queue_purge_cursor *cur, struct queue_purge_family **out, size_t *n,
    char *err, size_t errsz)
{
	return q->backend->purge_list(q, before, max, cur, out, n, err, errsz);
}

int
queue_purge_delete(struct queue *q, const struct queue_purge_family *f,
    size_t n, int64_t before, size_t *deleted, char *err, size_t errsz)
{
	return q->backend->purge_delete(q, f, n, before, deleted, err, errsz);
}

/* ---- views ---------------------------------------------------------------- */

int
queue_view_status(struct queue *q, int64_t failed_since, size_t max_recent,
    struct queue_view_status *out, char *err, size_t errsz)
{
	return q->backend->view_status(q, failed_since, max_recent, out, err, errsz);
}

int
queue_view_issue(struct queue *q, int64_t id, const struct queue_view_filter *f,
    struct queue_view_issue *out, char *err, size_t errsz)
{
	return q->backend->view_issue(q, id, f, out, err, errsz);
}

int
queue_view_attempts(struct queue *q, int64_t after, long max, int64_t issue,
    struct queue_view_attempt **out, size_t *n, char *err, size_t errsz)
{
	return q->backend->view_attempts(q, after, max, issue, out, n, err, errsz);
}
