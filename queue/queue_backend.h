#ifndef DISTD_QUEUE_BACKEND_H
#define DISTD_QUEUE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/*
 * A store behind the queue (OpenSMTPD's queue_backend is the model): the
 * operations the daemon and distctl need, nothing of policy. The public
 * queue_* functions in queue.h are the front: they pick a backend from
 * the `state` setting, mint Message-IDs, decide each attempt's state with
 * delivery_policy_decide, and dispatch here. A second backend (PostgreSQL)
 * implements these and adds no policy.
 *
 * Every operation has the contract of the queue.h function of the same
 * name (queue_take → take …), with these differences:
 *  - open fills a zeroed struct queue the front allocated; asked for an
 *    existing queue where there is none, it returns QUEUE_NONE. On
 *    failure the front calls close, which must undo whatever open did
 *    (and only that).
 *    close releases the backend's resources, not q itself.
 *  - lock takes the `state` setting itself (no queue is open yet) and
 *    the node's name (NULL: none), see queue_lock_node.
 *  - reserve_id hands out an issue id for queue_reserve without storing
 *    anything that a crash could leave behind; unreserve_id gives it back
 *    untaken. commit_issue stores the issue under that id, failing (never
 *    overwriting) when the id was taken meanwhile; it does the duplicate
 *    and notice-key checks inside its transaction.
 *  - alert and clear_alert take the kind as its stored word
 *    (queue_alert_kind_name); notices_due parses it back.
 *  - record_many stores attempts the front has already decided
 *    (in[k].attempts); when a recipient was cancelled under the transfer
 *    it applies delivery_policy_cancelled to that attempt, nothing else.
 */
struct queue_backend {
	const char *name;		/* "sqlite": for messages */

	/* ---- life ---- */
	int (*open)(struct queue *q, const char *location, enum queue_mode mode,
	    char *err, size_t errsz);
	void (*close)(struct queue *q);
	int (*lock)(const char *location, const char *node, int *fd, char *err,
	    size_t errsz);
	int (*check_file)(struct queue *q, char *err, size_t errsz);
	int (*probe_write)(struct queue *q, char *err, size_t errsz);
	void (*release_memory)(struct queue *q);

	/* ---- intake ---- */
	int (*reserve_id)(struct queue *q, int64_t *id, char *err, size_t errsz);
	void (*unreserve_id)(struct queue *q, int64_t id);
	int (*commit_issue)(struct queue *q, int64_t id, const char *message_id,
	    const struct queue_issue_in *in, const struct queue_recipient_in *r,
	    size_t n, const char *message, size_t len, int64_t *dup_of, char *err,
	    size_t errsz);
	int (*source_pending)(struct queue *q, const char *sha256, const char *source,
	    int64_t *id, char *err, size_t errsz);
	int (*source_archived)(struct queue *q, const char *sha256, const char *source,
	    const char *where, char *err, size_t errsz);

	/* ---- delivery ---- */
	int (*recover)(struct queue *q, int *count, char *err, size_t errsz);
	int (*take)(struct queue *q, int64_t now, size_t max_batches, size_t max_rcpt,
	    struct queue_batch **batches, size_t *n, char *err, size_t errsz);
	int (*record_many)(struct queue *q, const struct queue_record_in *in, size_t n,
	    char *err, size_t errsz);
	int (*release_batch)(struct queue *q, const struct queue_batch *b, char *err,
	    size_t errsz);
	int (*clock_step)(struct queue *q, int64_t by, int64_t before, char *err,
	    size_t errsz);
	int (*next_due)(struct queue *q, int64_t *when);
	int (*finish)(struct queue *q, int64_t now, int64_t **report, size_t *n,
	    char *err, size_t errsz);
	int (*failures)(struct queue *q, int64_t issue, struct queue_failure **f,
	    size_t *n, char **title, long *issue_no);

	/* ---- relays, alerts, notices ---- */
	int (*relay_get)(struct queue *q, const char *relay, long *size, long *max_rcpt);
	int (*relay_set_size)(struct queue *q, const char *relay, long size, int64_t now);
	int (*relay_set_max_rcpt)(struct queue *q, const char *relay, long max_rcpt,
	    int64_t now);
	int (*oldest_deferral)(struct queue *q, int64_t *since, long *count);
	int (*alert)(struct queue *q, const char *kind, const char *text, int64_t now);
	int (*clear_alert)(struct queue *q, const char *kind);
	int (*notices_due)(struct queue *q, struct queue_notice_due **out, size_t *n,
	    char *err, size_t errsz);
	int (*notices_since)(struct queue *q, int64_t since, long *count, int64_t *oldest);
	int (*counts)(struct queue *q, long counts[QUEUE_STATES]);
	int (*changes)(struct queue *q, int64_t *own, int64_t *others);

	/* ---- steering (distctl) ---- */
	int (*hold)(struct queue *q, int64_t issue, const char *tier, const char *reason,
	    char *err, size_t errsz);
	int (*release)(struct queue *q, int64_t issue, const char *tier, int64_t now,
	    char *err, size_t errsz);
	int (*cancel)(struct queue *q, int64_t issue, const char *tier, int64_t now,
	    char *err, size_t errsz);
	int (*retry)(struct queue *q, int64_t issue, const char *tier, int64_t now,
	    char *err, size_t errsz);
	int (*resend)(struct queue *q, int64_t issue, const char *tier,
	    const char *address, int64_t now, char *err, size_t errsz);
	int (*resend_all)(struct queue *q, int64_t issue, const char *tier, int64_t now,
	    char *err, size_t errsz);
	int (*resend_to)(struct queue *q, int64_t issue, const char *tier,
	    const char *address, const char *old, int64_t now, char *err, size_t errsz);
	bool (*has_recipient)(struct queue *q, int64_t issue, const char *tier,
	    const char *address);
	int (*load_source)(struct queue *q, int64_t issue, struct queue_source *src,
	    char *err, size_t errsz);
	int (*reroute)(struct queue *q, int64_t issue, const struct queue_recipient_in *r,
	    size_t n, const char *message, size_t len, int64_t now, char *err,
	    size_t errsz);

	/* ---- record and retention ---- */
	int (*record_read)(struct queue *q, int64_t id, struct queue_record **out,
	    char *err, size_t errsz);
	int (*purge_list)(struct queue *q, int64_t before, size_t max,
	    struct queue_purge_cursor *cur, struct queue_purge_family **out, size_t *n,
	    char *err, size_t errsz);
	int (*purge_delete)(struct queue *q, const struct queue_purge_family *f, size_t n,
	    int64_t before, size_t *deleted, char *err, size_t errsz);

	/* ---- views (distctl status, show, log): see queue.h ---- */
	int (*view_status)(struct queue *q, int64_t failed_since, size_t max_recent,
	    struct queue_view_status *out, char *err, size_t errsz);
	int (*view_issue)(struct queue *q, int64_t id, const struct queue_view_filter *f,
	    struct queue_view_issue *out, char *err, size_t errsz);
	int (*view_attempts)(struct queue *q, int64_t after, long max, int64_t issue,
	    struct queue_view_attempt **out, size_t *n, char *err, size_t errsz);

	/*
	 * ---- wake-ups and connection (queue.h: queue_wake_fd …) ----
	 * check_file (above) answers 1 when a server's connection is lost
	 * and reconnect may bring it back; -1 stays "lost for good".
	 * reconnect restores what open set up on the connection (prepared
	 * statements, LISTEN); a backend without a connection answers -1
	 * ("not supported") and the daemon stops as before.
	 */
	int (*wake_fd)(struct queue *q);
	bool (*wake_drain)(struct queue *q);
	int (*reconnect)(struct queue *q, char *err, size_t errsz);
	/* ---- several nodes: see queue.h (one node, SQLite: trivial) ---- */
	/* q->node and q->lease are set by the front before join is called */
	int (*join)(struct queue *q, char *err, size_t errsz);
	int (*heartbeat)(struct queue *q, struct queue_takeover **out, size_t *n,
	    char *err, size_t errsz);
	long (*heartbeat_interval)(struct queue *q);
	int (*view_nodes)(struct queue *q, struct queue_view_node **out, size_t *n,
	    char *err, size_t errsz);
	/* ---- feedback: see queue.h ---- */
	int (*feedback_apply)(struct queue *q, const struct queue_feedback_in *in,
	    struct queue_feedback_out *out, char *err, size_t errsz);
	int (*feedback_cursor)(struct queue *q, const char *cursor,
	    uint32_t *uidvalidity, uint32_t *uid, char *err, size_t errsz);
	int (*feedback_cursor_set)(struct queue *q, const char *cursor,
	    uint32_t uidvalidity, uint32_t uid, char *err, size_t errsz);
};

/* The embedded store (queue_sqlite.c): `state` is a file path. */
extern const struct queue_backend queue_backend_sqlite;

/*
 * The server store (queue_pg.c): `state` is a libpq connection string,
 * "postgresql://…" (or "postgres://…") or "host=… dbname=…". Incomplete:
 * see queue_backend_missing.
 */
extern const struct queue_backend queue_backend_pg;
/*
 * Whether location is a libpq connection string distd accepts: it parses,
 * and carries no password (that lives in a password file: passfile=,
 * PGPASSFILE). 0, or -1 with err, which never quotes the string. Used by
 * the configuration check and by open.
 */
int queue_pg_check_location(const char *location, char *err, size_t errsz);

/* queue_location_name for a connection string: database and host only. */
void queue_pg_location_name(const char *location, char *buf, size_t bufsz);

/*
 * The backend for a `state` setting: a path is SQLite; "name://…" names a
 * backend by its scheme; "keyword=value …" is a libpq connection string
 * (PostgreSQL). Returns NULL with err naming an unsupported scheme. Pure
 * (looks at the text only).
 */
const struct queue_backend *queue_backend_for(const char *location, char *err,
    size_t errsz);

/*
 * The ops backend lacks, as "take, record_many, …" in buf (cut to bufsz);
 * returns how many. A backend with any missing must not run distd: the
 * configuration check refuses it (the front would call a NULL op).
 */
size_t queue_backend_missing(const struct queue_backend *backend, char *buf,
    size_t bufsz);

#endif
