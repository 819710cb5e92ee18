#ifndef DISTD_QUEUE_H
#define DISTD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attachment.h"

#include "delivery_policy.h"

/*
 * The persistent queue: issues, their recipients and every delivery
 * attempt, in SQLite (WAL mode, synchronous=FULL). One process writes
 * (distd); distctl reads concurrently and makes small changes under the
 * busy timeout.
 *
 * Recipient states: queued → sending → delivered | deferred → … | failed,
 * plus held and cancelled. `sending` is committed before a transfer starts;
 * queue_recover() turns leftovers back into queued after a crash and marks
 * them possible duplicates (at-least-once delivery).
 *
 * Errors: functions return 0 on success and -1 on failure with a message
 * in err (naming the database and the SQLite error).
 */

struct queue;

/* An issue's kind. */
enum queue_kind {
	QUEUE_KIND_BULLETIN,
	QUEUE_KIND_REPORT,	/* a failure report to the admin */
	QUEUE_KIND_NOTICE,	/* an admin notice */
	QUEUE_KIND_REMINDER,	/* a reminder to confirm receipt of notice_for */
};
/* "bulletin", "report", "notice", "reminder" as stored. */
const char *queue_kind_name(enum queue_kind k);
/* The stored word back to the enum (backends): 0, or -1 for an unknown word. */
int queue_kind_parse(const char *name, enum queue_kind *k);

/* An issue's state (a recipient's is enum queue_state). */
enum queue_issue_state {
	QUEUE_ISSUE_ACTIVE,
	QUEUE_ISSUE_HELD,
	QUEUE_ISSUE_DONE,
	QUEUE_ISSUE_CANCELLED,
};
/* "active", "held", "done", "cancelled" as stored and shown. */
const char *queue_issue_state_name(enum queue_issue_state s);
/* The stored word back to the enum (backends): 0, or -1 for an unknown word. */
int queue_issue_state_parse(const char *name, enum queue_issue_state *s);


/* Everything known about an issue when it is enqueued. */
struct queue_issue_in {
	const char *sha256;		/* content hash, hex */
	const char *source;		/* file name as dropped */
	enum queue_kind kind;
	const char *title, *issuer, *date, *urgency, *subject;
	long issue_no, total_issue_no;	/* -1 when absent */
	int priority;			/* 1 for 特急/加急, else 0 */
	const char *hold_reason;	/* non-NULL: enqueue held */
	int64_t received;		/* unix time */
	int64_t report_for;		/* kind "report": the issue reported on, else 0 */
	int64_t notice_for;		/* kind "notice" or "reminder": the issue it is
					 * about, else 0 (see QUEUE_KIND_REMINDER below) */
	const char *unresolved;		/* units sent without (one a line), or NULL */
	const char *text;		/* the decoded issue text, kept for re-routing */
	const struct attachment *attachments;
	size_t n_attachments;
};

struct queue_recipient_in {
	int tier;			/* delivery order index */
	const char *tier_keyword, *header, *unit, *via, *name, *display, *address;
	bool receipt;			/* asked to confirm receipt (签收) */
};

/*
 * Renders the message once the issue id is known (it goes into the
 * Message-ID and X-Distd-Issue). Returns malloc'd bytes or NULL with err.
 */
typedef char *(*queue_render_fn)(void *arg, int64_t id, const char *message_id,
    size_t *len, char *err, size_t errsz);

/* A batch of recipients of one issue, taken for one SMTP transaction. */
struct queue_batch {
	int64_t issue;
	char *message;
	size_t len;
	size_t n;
	int64_t *ids;
	char **addresses;
	char **tiers;
	int *attempts;		/* attempts before this one */
	bool *possible_duplicate;
	int64_t received;	/* when the lifetime started: the issue's first
				 * attempt since its last resend, else the take */
};

/*
 * Opens (creating and migrating) the queue: distd. path is the `state`
 * setting: a file path is the SQLite queue; "scheme://…" names another
 * backend, and a scheme no backend serves is an error naming it.
 */
int queue_open(const char *path, struct queue **q, char *err, size_t errsz);
/*
 * The queue as messages and distctl name it: a file path as it is; a
 * server queue as "PostgreSQL database DB on HOST", never the connection
 * string itself (it may name a user, a password file, options). Pure.
 */
void queue_location_name(const char *location, char *buf, size_t bufsz);
/*
 * distctl: an existing queue only, read-only or not. Where there is no
 * queue yet (no file, or a database distd has not set up), the result is
 * QUEUE_NONE with err saying so: a state before distd's first start, not
 * a failure.
 */
enum queue_mode { QUEUE_CREATE, QUEUE_EXISTING, QUEUE_READONLY };
#define QUEUE_NONE (-2)
int queue_open_mode(const char *path, enum queue_mode mode, struct queue **q,
    char *err, size_t errsz);
void queue_close(struct queue *q);
/*
 * distd: takes an exclusive lock on PATH.lock (flock, created 0640) and
 * writes the PID into it, for the daemon's whole life (*fd stays open),
 * so that no second daemon runs on the same queue whatever happened to
 * the control socket. distctl does not take it. Returns 0, or -1 with err
 * naming the PID that holds it.
 */
int queue_lock(const char *path, int *fd, char *err, size_t errsz);
/*
 * queue_lock for a named node (the `node` setting; NULL: queue_lock).
 * SQLite has one node: the name changes nothing. On a server queue the
 * lock is per node and queue (a file in the runtime folder named by a
 * hash of both), so that two nodes of one queue may run on one machine
 * and two daemons under one node name may not.
 */
int queue_lock_node(const char *path, const char *node, int *fd, char *err,
    size_t errsz);
/*
 * Whether the queue is still there. SQLite: the file is still the one
 * opened (same device and inode), -1 with err when it was deleted or
 * replaced under the daemon (one stat()). PostgreSQL: the connection is
 * up as far as libpq knows (no round trip; an op or queue_wake_drain that
 * met a broken link has marked it), 1 with err (libpq's reason, never the
 * connection string) when it is lost: queue_reconnect may restore it.
 * Returns 0 when all is well.
 */
int queue_check_file(struct queue *q, char *err, size_t errsz);

/*
 * Wake-ups and a lost connection (a server queue that several nodes share).
 *
 * queue_wake_fd: a descriptor that becomes readable when another writer
 * may have made work due (PostgreSQL: the socket of the connection that
 * LISTENs on distd_work; the schema's triggers NOTIFY when recipients
 * become queued or due earlier and when an issue becomes active), or -1:
 * none (SQLite, or the connection is lost). It changes with a reconnect.
 *
 * queue_wake_drain: reads what arrived without blocking and forgets the
 * notifications; true when there was any (work may be due: run the
 * scheduler). Also true for the queue's own writes. Call it before
 * sleeping as well: notifications that came while a query ran are read
 * with its result, and the descriptor then shows nothing.
 *
 * queue_reconnect: connects again with the same settings (PostgreSQL:
 * bounded by connect_timeout, 5 s unless the connection string or
 * PGCONNECT_TIMEOUT sets one), prepares the statements and LISTENs again.
 * 0, or -1 with err; SQLite has nothing to reconnect and answers -1.
 */
int queue_wake_fd(struct queue *q);
bool queue_wake_drain(struct queue *q);
int queue_reconnect(struct queue *q, char *err, size_t errsz);
/* Gives the store's page cache back while the daemon is idle (it refills on use). */
void queue_release_memory(struct queue *q);

/*
 * Enqueueing is three steps, so that no store transaction is open while
 * a message is rendered: queue_reserve hands out the issue's id and mints
 * its Message-ID (stable for the issue's life: a retry carries the same);
 * the caller renders with them; queue_commit stores the issue, its
 * recipients and the message in one transaction. A crash between reserve
 * and commit leaves nothing queued: a reservation stores nothing, and its
 * id may be handed out again (its Message-ID never left the machine).
 * queue_enqueue does the three in a row with a render callback.
 */
struct queue_reservation {
	int64_t id;
	char message_id[320];		/* "distd.ID.SHA16@DOMAIN", no brackets */
};
/* Reserves an id for an issue with content hash sha256. 0 or -1 with err. */
int queue_reserve(struct queue *q, const char *sha256, const char *id_domain,
    struct queue_reservation *res, char *err, size_t errsz);
/* Gives a reservation back uncommitted (the message could not be rendered). */
void queue_unreserve(struct queue *q, const struct queue_reservation *res);
/*
 * Commits issue `in` with its recipients and rendered message under the
 * reservation, which is used up whatever the result. When an issue of
 * kind bulletin with the same sha256 is already queued, a duplicate row
 * is recorded (state done, no recipients, no message) and *dup_of is set
 * to the original's id. Kind notice carries its key in sha256: when a
 * notice with that key exists, nothing is inserted and *dup_of is the
 * existing one. Errors (-1 with err): the store's, or the id taken by
 * another writer since the reservation (nothing is then stored).
 */
int queue_commit(struct queue *q, const struct queue_reservation *res,
    const struct queue_issue_in *in, const struct queue_recipient_in *r, size_t n,
    const char *message, size_t len, int64_t *dup_of, char *err, size_t errsz);
/*
 * queue_reserve, render(arg, id, message_id …) outside any transaction,
 * queue_commit. *id is the new row's id: 0 when a notice with that key
 * exists (*dup_of is then set) or on error; a duplicate bulletin has its
 * own row and *dup_of set.
 */
int queue_enqueue(struct queue *q, const struct queue_issue_in *in,
    const struct queue_recipient_in *r, size_t n, const char *id_domain,
    queue_render_fn render, void *arg, int64_t *id, int64_t *dup_of,
    char *err, size_t errsz);

/*
 * Outbox sources. A bulletin records its source's content hash and name
 * in the enqueue transaction (table sources); `archived` stays NULL until
 * the source has left the outbox. queue_source_pending finds a committed issue whose source
 * was not archived yet (returns 1 and *id; 0 when none; -1 with err), so a
 * source left behind by a failed archive is never queued a second time.
 * queue_source_archived records where it went (every such row).
 */
int queue_source_pending(struct queue *q, const char *sha256, const char *source,
    int64_t *id, char *err, size_t errsz);
int queue_source_archived(struct queue *q, const char *sha256, const char *source,
    const char *where, char *err, size_t errsz);

/*
 * Crash recovery: sending → queued, flagged possible duplicate; *count is
 * how many. On a server queue shared by several nodes: this node's own
 * `sending` rows (it died with them; see queue_join), rows taken by no
 * node, and other nodes' expired leases; a live node's rows stay its own.
 */
int queue_recover(struct queue *q, int *count, char *err, size_t errsz);

/* ---- several nodes on one server queue ------------------------------------
 * A node is one distd on a queue that several share (PostgreSQL). Each
 * recipient it takes is leased to it: `sending` under its name until a
 * lease time on the DATABASE SERVER's clock (so that clock skew between
 * the nodes cannot expire a live node's lease), extended by its
 * heartbeats. When a node stops heartbeating, another takes its expired
 * leases back into the queue, flagged possible duplicates, as a restart
 * would. The SQLite queue has one node: joining does nothing, a
 * heartbeat takes nothing, and it lists no nodes.
 */

/*
 * This handle is node `node` (1-63 letters, digits, '.', '-', '_'), whose
 * leases last `lease` seconds (at least 3) without a heartbeat: distd
 * calls it after queue_open, before queue_recover, and after queue_lock_node
 * made sure no other daemon on this machine is that node. Records the node
 * (host, PID, version, start, heartbeat) for distctl status. Refused (-1
 * with err) when a node of that name heartbeats from another host within
 * its lease: two live nodes must not share a name (each would recover
 * the other's recipients). Until a handle joins, what it takes is leased
 * to no node (one daemon, as before).
 */
int queue_join(struct queue *q, const char *node, long lease, char *err, size_t errsz);

/* Recipients taken back from one node whose leases expired. */
struct queue_takeover {
	char *node;		/* the node that stopped heartbeating */
	long count;		/* its recipients queued again */
};
/*
 * One heartbeat, in one transaction: this node's leases and its
 * heartbeat are extended by its lease, and other nodes' expired leases are
 * taken over (queued again, possible_duplicate, no node). *out lists them
 * by node (caller frees with queue_takeover_free; NULL and *n 0 when none).
 * Returns the number of recipients taken over, or -1 with err. SQLite: 0.
 */
int queue_heartbeat(struct queue *q, struct queue_takeover **out, size_t *n,
    char *err, size_t errsz);
void queue_takeover_free(struct queue_takeover *t, size_t n);
/*
 * Seconds between heartbeats: a third of the lease (at least 1) on a queue
 * that nodes share and this handle joined; 0 when heartbeats are not
 * needed (SQLite, or not joined), so that an idle daemon never wakes.
 */
long queue_heartbeat_interval(struct queue *q);

/*
 * Takes up to max_batches batches of at most max_rcpt due recipients,
 * urgent issues first, then by issue and tier order, and marks them
 * sending (committed before returning).
 */
int queue_take(struct queue *q, int64_t now, size_t max_batches, size_t max_rcpt,
    struct queue_batch **batches, size_t *n, char *err, size_t errsz);
void queue_batch_free(struct queue_batch *b);

/*
 * The spread of a retry in [0, 1), for one issue, tier and attempt number:
 * recipients of one issue and tier deferred together get the same value,
 * so they retry in one transaction, not one each.
 */
typedef double (*queue_jitter_fn)(int64_t issue, const char *tier, int attempt);

/* A deferred recipient due within this many seconds joins a transaction
 * its issue and tier make now (queue_take). */
#define QUEUE_GROUP_GRACE 60

/* One finished transaction for queue_record_many. */
struct queue_record_in {
	const struct queue_batch *batch;
	const struct smtp_verdict *verdicts;	/* batch->n, parallel to batch->ids */
	/*
	 * batch->n flags, or NULL for none: temporary verdicts that were no
	 * try (a recipient limit while the relay took others) — due again at
	 * once, not counted towards the backoff. The scheduler decides that.
	 */
	const bool *again;
	/* batch->n, filled in: what was recorded (for the delivery log) */
	struct queue_attempt *attempts;
	int64_t when;
	double duration;
	const char *relay;
	/* when the lifetime started with clock steps taken out (the
	 * scheduler knows them); 0: batch->received */
	int64_t received;
};

/*
 * Records one attempt per recipient of each transaction (attempts row,
 * recipient state) in one queue transaction: all of them are recorded,
 * or none (-1 with err). The state, next attempt and expiry come from
 * delivery_policy_decide with retry and jitter, decided here in front of
 * the backend, which only stores them.
 *
 * Several nodes: a result is stored only while the recipient is still this
 * node's (not taken over because its lease expired meanwhile). A result
 * that comes after a takeover is late: its attempt goes into the history
 * flagged possible duplicate, the recipient row is left as the taking
 * node has it (that node's outcome stands), and it is counted in the
 * return value. Returns the number of late results (0 on one node), or -1.
 */
int queue_record_many(struct queue *q, const struct queue_record_in *in, size_t n,
    const struct queue_retry *retry, queue_jitter_fn jitter, char *err,
    size_t errsz);
/* queue_record_many of one transaction; again may be NULL. */
int queue_record(struct queue *q, const struct queue_batch *b,
    const struct smtp_verdict *verdicts, const bool *again,
    struct queue_attempt *attempts, int64_t now, double duration, const char *relay,
    const struct queue_retry *retry, queue_jitter_fn jitter, char *err,
    size_t errsz);

/*
 * Gives a batch back untried (shutdown before it was sent): sending →
 * queued; rows another node took over meanwhile are left alone.
 */
int queue_release_batch(struct queue *q, const struct queue_batch *b, char *err,
    size_t errsz);

/* Whether the queue can be written now (a small transaction that writes). */
int queue_probe_write(struct queue *q, char *err, size_t errsz);
/*
 * The wall clock stepped by `by` seconds: the next attempts of waiting
 * recipients (those before `before`, i.e. set on the old clock) move with
 * it, so that their waits keep their length.
 */
int queue_clock_step(struct queue *q, int64_t by, int64_t before, char *err,
    size_t errsz);

/* The earliest next attempt of a waiting recipient; returns 0, or 1 when none. */
int queue_next_due(struct queue *q, int64_t *when);

/*
 * Marks active issues with every recipient final as done. Returns in
 * *report the ids of finished bulletins with failed recipients that have
 * had no report yet (caller frees).
 */
int queue_finish(struct queue *q, int64_t now, int64_t **report, size_t *n,
    char *err, size_t errsz);

/* Failed recipients of an issue, for the admin report. */
struct queue_failure {
	char *tier, *name, *address, *reply;
	int attempts;
};
int queue_failures(struct queue *q, int64_t issue, struct queue_failure **f,
    size_t *n, char **title, long *issue_no);
void queue_failures_free(struct queue_failure *f, size_t n);

/*
 * Relays ("host:port"): the SIZE announced in EHLO (*size: >0 the limit,
 * 0 none announced, -1 unknown) and the most recipients accepted before a
 * 452 (*max_rcpt: 0 when no limit was seen). Returns 0, or 1 when nothing
 * is known of relay. The setters return 0 or -1.
 */
int queue_relay_get(struct queue *q, const char *relay, long *size, long *max_rcpt);
int queue_relay_set_size(struct queue *q, const char *relay, long size, int64_t now);
int queue_relay_set_max_rcpt(struct queue *q, const char *relay, long max_rcpt,
    int64_t now);

/*
 * The first deferral of the longest-deferred recipient of an active issue
 * (*since) and how many are deferred (*count); returns 0, or 1 when none.
 */
int queue_oldest_deferral(struct queue *q, int64_t *since, long *count);

/* What a standing alert is about. */
enum queue_alert_kind {
	QUEUE_ALERT_AUTH,	/* the relay refused our credentials */
	QUEUE_ALERT_TLS,	/* TLS with the relay failed */
	QUEUE_ALERT_DEFERRED,	/* recipients deferred for too long */
	QUEUE_ALERT_FALLBACK,	/* the primary relay failed; the fallback carries */
	QUEUE_ALERT_FEEDBACK,	/* the feedback mailbox cannot be read */
};
/* "auth", "tls", "deferred", "fallback", "feedback" as stored and shown. */
const char *queue_alert_kind_name(enum queue_alert_kind k);
/* The stored word back to the enum (backends): 0, or -1 for an unknown word. */
int queue_alert_kind_parse(const char *name, enum queue_alert_kind *k);

/* Alerts: raised with a text, cleared when deliveries succeed again. 0 or -1. */
int queue_alert(struct queue *q, enum queue_alert_kind kind, const char *text, int64_t now);
int queue_clear_alert(struct queue *q, enum queue_alert_kind kind);

/*
 * Admin notices: what needs a human and has no notice row yet — issues
 * distd held on arrival (whatever the reason) and still held, unresolved
 * units of issues sent anyway, standing alerts. An issue an admin held
 * with distctl is not notified: they know. Each
 * comes with the key its notice must be enqueued under (kind "notice",
 * sha256 = key). At most 1000 per call. Caller frees with
 * queue_notices_due_free.
 */
enum queue_notice_cause {
	QUEUE_NOTICE_HELD, QUEUE_NOTICE_UNRESOLVED, QUEUE_NOTICE_ALERT,
	/*
	 * Bounces that came back after the relay accepted (and after any
	 * failure report): one notice per issue and batch, key
	 * "bounced:ISSUE:LAST" where LAST is the id of the history row of
	 * its newest bounce (ids only grow, whichever recipient bounced and
	 * however often it was resent), so that later bounces make one new
	 * notice and none is sent twice. reason: one line per bounced recipient of the issue,
	 * "TIER UNIT <ADDRESS>: STATUS DIAGNOSTIC".
	 */
	QUEUE_NOTICE_BOUNCED,
};
struct queue_notice_due {
	enum queue_notice_cause cause;
	char *key;
	int64_t issue;		/* held and unresolved: the issue; alerts: 0 */
	char *title, *source;
	long issue_no;		/* -1 when absent */
	char *reason;		/* hold reason, unresolved units, the alert's text,
				 * or the bounced recipients */
	enum queue_alert_kind alert_kind;	/* alerts only */
	int64_t since;		/* alerts: raised at */
};
int queue_notices_due(struct queue *q, struct queue_notice_due **out, size_t *n,
    char *err, size_t errsz);
void queue_notices_due_free(struct queue_notice_due *d, size_t n);
/* How many notices were enqueued after since, and the oldest of them. */
int queue_notices_since(struct queue *q, int64_t since, long *count, int64_t *oldest);

/* Recipient counts by state, indexed by enum queue_state. */
extern const char *const queue_state_names[QUEUE_STATES];
int queue_counts(struct queue *q, long counts[QUEUE_STATES]);
/*
 * Change stamps: own, the rows this handle has changed so far; others, a
 * number that moves when another connection commits. Equal stamps mean
 * the counts cannot have changed. 0, or -1 when others cannot be read.
 */
int queue_changes(struct queue *q, int64_t *own, int64_t *others);

/* ---- read views (distctl status, show, log) --------------------------------
 * What distctl shows, as plain structs: the queue runs the reads, the
 * caller renders. Each view is filled by one function and freed by its
 * _free (which takes NULL and a zeroed view). Times are unix seconds, 0
 * when never; numbers that may be absent are -1 then. States, kinds,
 * statuses and classes are enums, read from the stored words here; a
 * word no enum knows is an error naming the column and the word. Each
 * returns 0, or -1 with err ("reading the queue: " and the SQLite error
 * or the unknown word); the issue view names an unknown id.
 */

/* Live recipients (not replaced) by state; the final ones as kept with the rows. */
struct queue_state_counts {
	long queued, sending, deferred, delivered, failed, held, cancelled;
};

/* The deferred recipient of the issue received first, and what the server last said. */
struct queue_view_deferred {
	char *address;
	int64_t issue;
	long attempts;
	int64_t next_attempt;
	char *last_reply;		/* NULL when none */
	int64_t received;		/* its issue's */
};

/* A standing alert (auth, tls, deferred …). */
struct queue_view_alert {
	enum queue_alert_kind kind;
	char *text;
	int64_t since;
};

/* An issue that is held, and why (NULL: held with no reason stored). */
struct queue_view_held {
	int64_t issue;
	char *title, *reason;
};

/* One tier's recipients of an issue. */
struct queue_view_tier {
	char *tier;			/* keyword: 报, 送, 发 … */
	long total, delivered, deferred, failed;
	/* what came back (feedback mailbox): bounced after acceptance (not
	 * counted in delivered), confirmed receipt (counted in delivered or
	 * bounced as they stand: a confirmation adds, it does not move) */
	long bounced, confirmed;
	long receipt;			/* recipients asked to confirm receipt */
};

/* A recent issue (duplicates left out) with its per-tier totals, in tier order. */
struct queue_view_recent {
	int64_t id;
	char *title;			/* NULL when untitled */
	long issue_no;
	enum queue_issue_state state;
	enum queue_kind kind;
	int64_t received;
	struct queue_view_tier *tiers;
	size_t n_tiers;
};

struct queue_view_status {
	struct queue_state_counts counts;
	bool has_oldest_deferred;
	struct queue_view_deferred oldest_deferred;
	struct queue_view_alert *alerts;	/* oldest first */
	size_t n_alerts;
	struct queue_view_held *held;		/* by id */
	size_t n_held;
	/* failed recipients (not replaced) of issues received since
	 * failed_since that were not cancelled: they need an admin's look */
	long recent_failed;
	/* recipients (not replaced) the relay accepted whose server sent a
	 * bounce back (counted delivered in counts: the transfer state), and
	 * of those the ones that bounced since failed_since of issues not
	 * cancelled: like recent_failed, they need an admin's look */
	long bounced;
	long recent_bounced;
	struct queue_view_recent *recent;	/* newest first */
	size_t n_recent;
};

/*
 * distctl status: counts, the oldest deferred recipient, alerts, held
 * issues, recent failures (see recent_failed) and the max_recent newest
 * issues. A finished issue's per-tier totals are the ones written when it
 * finished (table issue_tiers); an issue still going is counted.
 */
int queue_view_status(struct queue *q, int64_t failed_since, size_t max_recent,
    struct queue_view_status *out, char *err, size_t errsz);
void queue_view_status_free(struct queue_view_status *v);

/* One recipient as distctl show lists it. */
struct queue_view_recipient {
	char *tier, *unit, *name, *address;
	enum queue_state state;
	long attempts;
	int64_t next_attempt;		/* stored value; meaningful while waiting */
	long last_code;			/* -1 when none */
	char *last_reply, *via;
	char *replaced_by;		/* the address that replaced this one, or NULL */
	int64_t bounced;		/* when a bounce came back, else 0 */
	char *bounce_status, *bounce_reply;	/* "5.2.2", the remote reply; NULL */
	bool receipt;			/* asked to confirm receipt */
	int64_t confirmed;		/* when receipt was confirmed, else 0 */
	char *confirmed_by;		/* "mdn" or "reply"; NULL */
	long reminders;			/* reminders queued for it */
};

/* Which recipients the issue view lists; every field may be NULL/false. */
struct queue_view_filter {
	bool by_state;			/* only recipients in state */
	enum queue_state state;
	const char *tier;		/* only this tier keyword */
	bool pending;			/* only who has not got it: not delivered
					 * (or delivered and bounced), not
					 * cancelled, not replaced */
	bool unconfirmed;		/* only who was asked to confirm receipt
					 * and has not: receipt, not confirmed,
					 * not cancelled, not replaced */
};

struct queue_view_issue {
	int64_t id;
	char *title;
	long issue_no, total_issue_no;	/* -1 when absent */
	char *issuer, *date, *urgency, *subject, *message_id, *hold_reason;
	char *source;
	enum queue_issue_state state;
	enum queue_kind kind;
	int64_t received, finished;
	int64_t duplicate_of;		/* 0 when none */
	struct queue_view_recipient *recipients;	/* tier order, then id */
	size_t n_recipients;
};

/* distctl show: issue id and its recipients that pass f (NULL: all). */
int queue_view_issue(struct queue *q, int64_t id, const struct queue_view_filter *f,
    struct queue_view_issue *out, char *err, size_t errsz);
void queue_view_issue_free(struct queue_view_issue *v);

/* One delivery attempt as distctl log prints it. */
struct queue_view_attempt {
	int64_t id, time, issue;
	char *tier, *address;
	enum queue_attempt_status status;
	bool has_class;			/* false for distctl's rows (resend, replaced) */
	enum smtp_class class;		/* when has_class */
	long code;			/* -1 when none */
	char *reply;
	long attempt;
	char *relay;
	bool possible_duplicate;
};

/*
 * distctl log: the last max attempts with an id above after (after 0: the
 * last max overall), of issue (0: every issue), oldest first; log -f calls
 * it again with after set to the last id it got. Caller frees with
 * queue_view_attempts_free.
 */
int queue_view_attempts(struct queue *q, int64_t after, long max, int64_t issue,
    struct queue_view_attempt **out, size_t *n, char *err, size_t errsz);
void queue_view_attempts_free(struct queue_view_attempt *a, size_t n);

/* A node of a shared server queue as distctl status lists it. */
struct queue_view_node {
	char *name, *host;
	long pid;
	char *version;
	int64_t started;	/* unix seconds (the server's clock) */
	long heartbeat_age;	/* seconds since its last heartbeat (server clock) */
	long lease;		/* seconds */
	long sending;		/* recipients in flight under its lease */
	bool stale;		/* no heartbeat for longer than its lease */
};
/*
 * The nodes that share the queue, by name; none on SQLite. Caller frees
 * with queue_view_nodes_free. 0 or -1 with err.
 */
int queue_view_nodes(struct queue *q, struct queue_view_node **out, size_t *n,
    char *err, size_t errsz);
void queue_view_nodes_free(struct queue_view_node *v, size_t n);

/* ---- steering (distctl) ----------------------------------------------------
 * Each returns the number of recipients changed, or -1 with err; an
 * unknown issue is an error naming it. tier, when not NULL, limits the
 * change to the recipients of that tier keyword (报, 送, 发); an issue
 * with no recipient in that tier is an error naming the tiers it has.
 */

/*
 * Holds an active issue: waiting recipients become held. Without a tier
 * the issue becomes held; with one, only that tier's recipients wait and
 * the other tiers go on.
 */
int queue_hold(struct queue *q, int64_t issue, const char *tier, const char *reason,
    char *err, size_t errsz);
/*
 * Releases held recipients (of tier): they are due now, and a held issue
 * becomes active (the recipients of other tiers stay held, one by one).
 * An issue with nothing held (in tier) is an error.
 */
int queue_release(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
/*
 * Cancels every recipient not yet final (of tier). Without a tier the
 * issue is cancelled; with one it finishes when the other tiers do.
 */
int queue_cancel(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
/* Makes deferred and queued recipients (of tier) of an issue (0: of all active issues) due now. */
int queue_retry(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
/*
 * Sends an issue again to its delivered and failed recipients (only those
 * of tier, or only address, when given); each is recorded in the history
 * as a resend.
 */
int queue_resend(struct queue *q, int64_t issue, const char *tier, const char *address,
    int64_t now, char *err, size_t errsz);
/*
 * Sends an issue again on purpose to every recipient (of tier) that is
 * delivered, failed or cancelled — the way to send a cancelled issue
 * again, which queue_resend refuses. The issue becomes active again.
 */
int queue_resend_all(struct queue *q, int64_t issue, const char *tier, int64_t now,
    char *err, size_t errsz);
/*
 * Records a corrected address: the recipient `old` (of tier, when given)
 * is marked replaced by a new row for `address` in the same tier, unit and
 * name, which is due now; old's waiting delivery, if any, is cancelled.
 * With old NULL, address is added to tier (required when the issue has
 * more than one) as a recipient of its own. Both are recorded in the
 * history. Errors: no such recipient, address already a live recipient
 * of the issue in any tier (use queue_resend), the issue held or
 * cancelled. Returns 1.
 */
int queue_resend_to(struct queue *q, int64_t issue, const char *tier, const char *address,
    const char *old, int64_t now, char *err, size_t errsz);
/* True when address is a recipient (not replaced) of issue, of tier when given. */
bool queue_has_recipient(struct queue *q, int64_t issue, const char *tier,
    const char *address);

/* What release needs to route a held issue again. Caller frees. */
struct queue_source {
	char *text;
	char *message_id;
	enum queue_issue_state state;
	int64_t received;
	int tried;			/* recipients with attempts */
	struct attachment *attachments;
	size_t n_attachments;
};
int queue_load_source(struct queue *q, int64_t issue, struct queue_source *src,
    char *err, size_t errsz);
void queue_source_free(struct queue_source *src);
/*
 * Replaces the recipients and message of a never-tried issue (routing
 * again after the configuration changed) and activates it.
 */
int queue_reroute(struct queue *q, int64_t issue, const struct queue_recipient_in *r,
    size_t n, const char *message, size_t len, int64_t now, char *err, size_t errsz);

/* ---- what comes back: bounces and receipts (签收) --------------------------
 * The feedback mailbox (daemon/feedback_collect.c) reads bounces, MDNs
 * and replies; daemon/core/feedback.c classifies each; these store what
 * they say about recipients. A recipient stays `delivered` when a bounce
 * comes back (the relay did accept; the history says so): `bounced` is
 * set beside the state, and counts as not got (filter pending) until a
 * resend clears it. A confirmation is set beside the state too, once
 * (the first one counts; later ones only go into the history).
 *
 * Reminders (distctl remind) are issues of kind QUEUE_KIND_REMINDER with
 * notice_for = the bulletin: committing one also records a `reminded`
 * history row on each bulletin recipient with the same address (not
 * replaced) and counts it (reminders, last_reminded), in the same
 * transaction. Feedback naming a reminder (its Message-ID or
 * X-Distd-Issue) applies to the bulletin it reminds of.
 */
enum queue_feedback_kind {
	QUEUE_FEEDBACK_BOUNCE,		/* recipients bounced */
	QUEUE_FEEDBACK_CONFIRM,		/* recipients confirmed receipt */
};

/* One recipient a feedback message names. */
struct queue_feedback_fact {
	const char *address;		/* bounce: Original-Recipient, else Final;
					 * MDN: Final-Recipient; reply: From */
	const char *alt_address;	/* a second candidate (bounce: Final-
					 * Recipient; MDN: From), or NULL */
	const char *status;		/* bounce: "5.2.2"; else NULL */
	const char *reply;		/* bounce: the remote reply (Diagnostic-
					 * Code); MDN: its Disposition; reply:
					 * its subject; NULL */
};

struct queue_feedback_in {
	/*
	 * The feedback message's identity (sha256 hex of its bytes): a
	 * message is applied once, whatever is fetched again.
	 */
	const char *key;
	enum queue_feedback_kind kind;
	const char *how;		/* for the history: "dsn", "text-bounce",
					 * "mdn", "reply" */
	int64_t issue;			/* the issue the message names */
	/*
	 * The Message-IDs it carries (without <>). When any is given, the
	 * issue's own (or, for a reminder, the reminder's) must be among
	 * them: an X-Distd-Issue that disagrees with the Message-ID is not
	 * believed (NO_ISSUE).
	 */
	const char *const *message_ids;
	size_t n_message_ids;
	const struct queue_feedback_fact *facts;
	size_t n_facts;
	int64_t when;			/* when it happened (Last-Attempt-Date,
					 * Date), else the time it was read */
	/*
	 * Non-NULL: the mailbox cursor (see queue_feedback_cursor) to move
	 * to uidvalidity/uid in the same transaction.
	 */
	const char *cursor;
	uint32_t uidvalidity, uid;
};

enum queue_feedback_result {
	QUEUE_FEEDBACK_APPLIED,		/* >= 1 recipient matched; recorded */
	QUEUE_FEEDBACK_SEEN,		/* this key was applied before: nothing done */
	QUEUE_FEEDBACK_NO_ISSUE,	/* no such issue (or ids disagree): a human's */
	QUEUE_FEEDBACK_NO_RECIPIENT,	/* the issue, but no fact names one of its
					 * recipients: a human's */
};

struct queue_feedback_out {
	enum queue_feedback_result result;
	int64_t issue;			/* the bulletin it applies to (a reminder's
					 * resolved to it), 0 when none */
	long matched;			/* recipients whose row changed */
	long unmatched;			/* facts that named no recipient */
};

/*
 * Applies one feedback message in one transaction: for each fact, the
 * issue's recipients (not replaced) whose address equals address or
 * alt_address (ASCII case-insensitive) get a history row (bounced or
 * confirmed, with status/reply and how) and, the first time, their
 * bounced/bounce_status/bounce_reply (a bounce: only while delivered) or
 * confirmed/confirmed_by (a confirmation) set; the key is stored; the
 * cursor, when given, moves whatever the result (a message not applied
 * is left in the mailbox for a human, not read again). 0, or -1 with err
 * (nothing stored).
 */
int queue_feedback_apply(struct queue *q, const struct queue_feedback_in *in,
    struct queue_feedback_out *out, char *err, size_t errsz);
/*
 * A mailbox cursor: the UIDVALIDITY and the highest UID read of mailbox
 * `cursor` (a name the collector chooses: server, user and folder).
 * Returns 0, or 1 when there is none yet (*uidvalidity and *uid 0), or
 * -1 with err. _set stores it on its own (messages skipped without an
 * apply).
 */
int queue_feedback_cursor(struct queue *q, const char *cursor, uint32_t *uidvalidity,
    uint32_t *uid, char *err, size_t errsz);
int queue_feedback_cursor_set(struct queue *q, const char *cursor, uint32_t uidvalidity,
    uint32_t uid, char *err, size_t errsz);

/* ---- distribution record and retention ------------------------------------ */

/* One recipient row of an issue as the record files it. */
struct queue_record_recipient {
	int64_t id;
	char *tier;			/* keyword: 报, 送, 发 … */
	char *unit;			/* as printed in the 版记 */
	char *name, *address;
	enum queue_state state;
	int attempts;
	int64_t accepted;		/* when the relay took it (delivered), else 0 */
	int code;			/* last SMTP reply code, 0 when none */
	char *dsn, *reply;		/* last enhanced status and reply text, or NULL */
	bool possible_duplicate;
	int resends;			/* times sent again with distctl resend */
	int64_t last_resend;		/* the last of them, else 0 */
	char *replaced_by;		/* the address that replaced this one, or NULL */
	char *replaces;			/* the address this one replaced, or NULL */
	bool added;			/* added with distctl resend --to */
	int64_t bounced;		/* when a bounce came back, else 0 */
	char *bounce_status, *bounce_reply;	/* NULL when none */
	bool receipt;			/* asked to confirm receipt */
	int64_t confirmed;		/* receipt confirmed (签收), else 0 */
	char *confirmed_by;		/* "mdn" or "reply"; NULL */
	int reminders;			/* reminders queued to it */
	int64_t last_reminded;		/* the last of them, else 0 */
};

/* An issue and every recipient it ever had, for filing. */
struct queue_record {
	int64_t id;
	enum queue_kind kind;
	char *title, *issuer, *date, *source, *subject, *message_id;
	enum queue_issue_state state;
	char *sha256;
	long issue_no, total_issue_no;	/* -1 when absent */
	int64_t received, finished;	/* finished 0 while going */
	int64_t duplicate_of, report_for, notice_for;	/* 0 when none */
	struct queue_record_recipient *recipients;	/* tier order, then id */
	size_t n_recipients;
};

/*
 * Reads issue id and all its recipients (replaced ones too) into *out
 * (caller frees with queue_record_free). An unknown id is an error naming
 * it, as is a stored kind or state no enum knows. Returns 0 or -1 with err.
 */
int queue_record_read(struct queue *q, int64_t id, struct queue_record **out,
    char *err, size_t errsz);
void queue_record_free(struct queue_record *r);

/*
 * Retention. A family is a finished issue that refers to no other (a
 * bulletin, an alert's notice) with the issues that refer to it (its
 * failure report, its notices, its duplicates): they leave the queue
 * together, so that no reference is left dangling. A family may go when
 * every member is done or cancelled, every recipient final, no failure
 * report still pending, and its last activity (finish, last attempt) is
 * before `before`; the family of the newest issue stays, so that no id is
 * ever given to a second issue.
 */
struct queue_purge_family {
	int64_t root;
	int64_t *ids;			/* the root first, then its referrers */
	size_t n;
	int64_t received;		/* the root's */
	int64_t last;			/* the family's last activity */
};
/* Where a walk over the finished issues has got to; start zeroed. */
struct queue_purge_cursor {
	int64_t finished, id;
	bool end;			/* set when nothing is left to look at */
};
/*
 * Lists up to max families that may go, walking on from *cur (which it
 * advances; cur->end when the walk is over). Reads only. Caller frees
 * with queue_purge_families_free. Returns 0 or -1 with err.
 */
int queue_purge_list(struct queue *q, int64_t before, size_t max,
    struct queue_purge_cursor *cur, struct queue_purge_family **out, size_t *n,
    char *err, size_t errsz);
void queue_purge_families_free(struct queue_purge_family *f, size_t n);
/*
 * Deletes the families in one transaction — each only when it may still
 * go and still has the same members (a resend or a new duplicate since
 * the list keeps it) — with their recipients, attempts, attachments and
 * sources. The final-state totals (queue_counts) count the live queue, so
 * they go down with the rows. *deleted: the issues deleted. 0 or -1.
 */
int queue_purge_delete(struct queue *q, const struct queue_purge_family *f, size_t n,
    int64_t before, size_t *deleted, char *err, size_t errsz);

#endif
