#ifndef DISTD_CONF_H
#define DISTD_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "sbuf.h"

#include "bulletin.h"

/*
 * distd.conf (libconfig syntax), loaded into one immutable struct.
 *
 * Defaults first, then the file, then one validation pass that reports
 * every error as "FILE:LINE: SETTING: what was expected", one per line.
 * Nothing outside this module sees libconfig: every string here is a copy
 * owned by the struct and freed by conf_free.
 */

enum conf_header { CONF_HEADER_TO, CONF_HEADER_CC, CONF_HEADER_BCC };
enum conf_on_unresolved { CONF_UNRESOLVED_HOLD, CONF_UNRESOLVED_SEND };

/*
 * receipt = "request" | "none" in a tier or series entry: whether the
 * recipients are asked to confirm receipt (签收). UNSET: not written there
 * (a tier's then comes from the series, a series' is none).
 */
enum conf_receipt { CONF_RECEIPT_UNSET, CONF_RECEIPT_NONE, CONF_RECEIPT_REQUEST };

/* What an office-defined masthead mark does to an issue. */
enum conf_mark_action { CONF_MARK_REFUSE, CONF_MARK_HOLD };

/* classification.extra_marks: { mark = "限阅"; action = "hold"; } */
struct conf_mark {
	char *mark;
	enum conf_mark_action action;
};

struct conf_tier {
	char *keyword;		/* 报 */
	char **aliases;		/* 抄报, 呈报 … */
	size_t n_aliases;
	enum conf_header header;
	enum conf_receipt receipt;	/* UNSET: the issue's series decides */
};

struct conf_recipient {
	char *name;		/* as units name it: 中央文明办 */
	char **aliases;
	size_t n_aliases;
	char *display;		/* for To/Cc; the name when not set */
	char **addresses;
	size_t n_addresses;
	int line;		/* where it is defined, for messages */
};

struct conf_group {
	char *name;
	char **aliases;
	size_t n_aliases;
	char **members;		/* names or aliases of recipients and groups */
	size_t n_members;
	int line;
	/* Derived: members[i] as the directory resolves it (NULL: unknown). */
	const struct conf_name **member_refs;
};

struct conf_series_tier {
	char *tier;		/* a tier keyword */
	char **units;
	size_t n_units;
};

/*
 * series = ( { title = "…"; tiers = ( … ); from = "…"; reply_to = "…";
 * subject = "…"; admin = "…"; } ): default tiers for issues printed without
 * a footer, and who sends the series. Every setting but title is optional
 * (an entry sets tiers or at least one of the others); what is not set is
 * sender's (conf_identity).
 */
struct conf_series {
	char *title;
	struct conf_series_tier *tiers;	/* none: the entry only says who sends */
	size_t n_tiers;
	char *from, *from_display, *from_address;		/* NULL: sender.from */
	char *reply_to, *reply_to_display, *reply_to_address;	/* NULL: see conf_identity */
	char *subject;		/* template; NULL: sender.subject */
	char *admin;		/* NULL: sender.admin */
	enum conf_receipt receipt;	/* for tiers that do not set it */
};

/* One name or alias of a recipient or group, for lookup by text_key. */
struct conf_name {
	char *key;			/* text_key(name) */
	const struct conf_recipient *recipient;	/* exactly one of these two */
	const struct conf_group *group;
};

/* retention.history when the file does not set it: 400 days. */
#define CONF_RETENTION_DEFAULT (400L * 86400)

struct conf {
	char *path;

	char *outbox, *archive, *rejected, *state, *delivery_log, *control_socket;
	/*
	 * outbox.settle: seconds a file or folder written in place (not
	 * renamed in) must stay unchanged before it is read (default 5).
	 */
	long outbox_settle;
	/*
	 * shutdown_timeout: seconds SIGTERM waits for transfers in flight
	 * before cutting them (default 20); what is cut stays deferred.
	 */
	long shutdown_timeout;
	/*
	 * outbox.shared: several nodes watch this outbox (a shared folder);
	 * each claims a file by renaming it into outbox/.node-NAME/ before
	 * reading it, so exactly one node ingests it (default false).
	 */
	bool outbox_shared;
	/*
	 * node: this distd's name among the nodes sharing a server queue
	 * (default: the host name; letters, digits, '.', '_', '-', at most
	 * 63). node_lease: seconds a node's taken recipients stay its own
	 * without a heartbeat before another node takes them over (default
	 * 30; heartbeats come every third of it). `node = "a";` or
	 * `node = { name = "a"; lease = 30; };`. The SQLite queue has one
	 * node and uses neither.
	 */
	char *node;
	long node_lease;

	struct {
		char *url;
		char *host;		/* from the URL, for logs: mail.example.test */
		int port;
		bool implicit_tls;	/* smtps:// */
		bool tls_none;		/* smtp.tls = "none" (loopback test relays) */
		char *username;
		char *password_file;
		char *password;		/* loaded only with CONF_LOAD_SECRETS */
		char *ca_file;
		char *pinned_pubkey;
		int connections;
		int max_rcpt_per_message;
		int timeout;
		/*
		 * smtp.helo: the EHLO name; NULL = the host's fully qualified
		 * name, else its address literal (smtp_helo_default).
		 */
		char *helo;
		/* smtp.idle_timeout: seconds before an idle connection is
		 * closed with QUIT (default 60, below relays' 300 s). */
		int idle_timeout;
		/* smtp.max_message_bytes: 0 = only the relay's SIZE. */
		long max_message_bytes;
		/* Rate limits; 0 = none. Reaching one defers, never fails. */
		int max_messages_per_minute;
		long max_recipients_per_hour;
		/*
		 * smtp.fallback: a second relay with its own credentials,
		 * used when the first cannot be reached or refuses our TLS
		 * or login; url NULL = none. The password comes from
		 * $CREDENTIALS_DIRECTORY/smtp-fallback-password or
		 * password_file (CONF_LOAD_SECRETS).
		 */
		struct {
			char *url, *host;
			int port;
			bool implicit_tls;
			char *username, *password_file, *password, *ca_file;
			char *pinned_pubkey;
		} fallback;
	} smtp;

	/*
	 * feedback = { url; username; password_file; interval; done_folder;
	 * address; ca_file; }: the mailbox bounces, MDNs and replies come
	 * back to (daemon/feedback_collect.c). enabled false when the block
	 * is absent: nothing is scheduled.
	 */
	struct {
		bool enabled;
		char *url;		/* imaps://host[:port]/folder as written */
		char *host;		/* from the URL, for logs and the cursor name */
		int port;
		char *folder;		/* the URL's path, decoded; "INBOX" when none */
		char *username, *password_file;
		char *password;		/* loaded only with CONF_LOAD_SECRETS */
		char *ca_file;		/* NULL: the system's CAs */
		long interval;		/* seconds between polls, >= 30 (300) */
		char *done_folder;	/* processed messages go here ("distd-done") */
		char *address;		/* Disposition-Notification-To; NULL: From */
	} feedback;

	struct {
		/* alerts.deferred_after: a recipient deferred this long raises
		 * the "deferred" alert (default 3600 s). */
		long deferred_after;
	} alerts;

	struct {
		char *from;		/* as written */
		char *from_address;	/* the address part */
		char *from_display;	/* the name part or NULL */
		char *reply_to;		/* as written, or NULL */
		char *reply_to_address;
		char *reply_to_display;	/* the name part or NULL */
		/* template: %title% %issue% %total% %date% %issuer% %urgency% */
		char *subject;
		char *admin;
	} sender;

	struct {
		long min_backoff, max_backoff, lifetime;
	} retry;

	struct {
		/* retention.history: finished issues whose last activity is older
		 * than this many seconds leave the live queue, their distribution
		 * record filed in archive/records first; 0: kept for ever. */
		long history;
	} retention;

	struct conf_tier *tiers;	/* delivery order */
	size_t n_tiers;
	struct conf_recipient *recipients;
	size_t n_recipients;
	struct conf_group *groups;
	size_t n_groups;
	struct conf_series *series;
	size_t n_series;
	enum conf_on_unresolved on_unresolved;
	struct conf_mark *extra_marks;	/* classification.extra_marks, in order */
	size_t n_extra_marks;

	struct {
		/* compose.max_header_names: a to/cc tier of more recipients
		 * is shown as a group, not listed (default 100). */
		int max_header_names;
	} compose;

	struct {
		long max_issue_bytes;
		int max_attachments;
		/*
		 * Groups: how many levels they may nest (a group of recipients
		 * is 1 level) and how many addresses one may reach. Both keep
		 * routing bounded; conf_load refuses a directory beyond them.
		 */
		int max_group_depth;
		long max_group_addresses;
	} limits;

	/* Derived: every name and alias, sorted by key, for conf_lookup. */
	struct conf_name *names;
	size_t n_names;
	/* Derived: tier keywords and aliases as the parser's label table. */
	struct bulletin_label *labels;
	size_t n_labels;
};

#define CONF_DEFAULT_PATH "/etc/distd/distd.conf"

/* Defaults of limits.max_group_depth and limits.max_group_addresses. */
#define CONF_MAX_GROUP_DEPTH 32
#define CONF_MAX_GROUP_ADDRESSES 100000

/* Also read the SMTP password (distd, --check-config, distctl check). */
#define CONF_LOAD_SECRETS 0x1

/*
 * Loads and validates path. Returns 0 and *out (conf_free), or -1 with
 * every error appended to errors, one "file:line: setting: message" line
 * each. The password comes from $CREDENTIALS_DIRECTORY/smtp-password
 * (systemd LoadCredential) when present, else from smtp.password_file,
 * which must not be readable by group or others. The feedback mailbox's
 * comes from $CREDENTIALS_DIRECTORY/feedback.password, else
 * feedback.password_file, under the same rule.
 */
int conf_load(const char *path, int flags, struct conf **out, struct sbuf *errors);

void conf_free(struct conf *c);

/* The recipient or group called key (a text_key), or NULL. */
const struct conf_name *conf_lookup(const struct conf *c, const char *key);

/* The tier whose keyword or alias is label (compared by text_key), or -1. */
int conf_tier_index(const struct conf *c, const char *label);

/* The series entry whose title is title (compared by text_key), or NULL. */
const struct conf_series *conf_series_find(const struct conf *c, const char *title);

/* Who sends an issue and who hears about it: strings owned by the conf. */
struct conf_identity {
	const char *from_display;	/* may be NULL */
	const char *from_address;
	const char *reply_to_display;	/* may be NULL */
	const char *reply_to_address;	/* NULL: no Reply-To */
	const char *subject;		/* the subject template */
	const char *admin;		/* failure reports and notices */
	bool series_admin;		/* admin is the series' own */
};

/*
 * The identity for an issue titled title (NULL: sender's): the series
 * entry's from, reply_to, subject and admin where it sets them, sender's
 * otherwise. A series that sets from gets no Reply-To but its own.
 */
void conf_identity(const struct conf *c, const char *title, struct conf_identity *out);

/*
 * Where confirmations of receipt go (Disposition-Notification-To) for an
 * issue titled title: feedback.address when the feedback block sets
 * it, else the issue's From address
 * (conf_identity). A string owned by the conf.
 */
const char *conf_receipt_address(const struct conf *c, const char *title);

/* "to", "cc" or "bcc". */
const char *conf_header_name(enum conf_header h);

/* Where the configuration is: -c, else $DISTD_CONF, else the default. */
const char *conf_path(const char *from_option);

#endif
