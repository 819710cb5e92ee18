/*
 * distctl — show and steer distd's deliveries.
 *
 * Reads the queue directly (SQLite, concurrently with distd) and wakes a
 * running daemon through its control socket, so that changes act at once;
 * with the daemon down they take effect when it starts.
 *
 * Exit codes: 0 ok, 1 error, 2 usage, 3 something needs attention.
 *
 * Admins in distd's group run distctl as themselves: the queue is
 * group-writable (see queue_open), so every command works for them as for
 * root, with the daemon up or down. Anyone else gets one sentence saying
 * which file refused them and which group to join.
 *
 * A configuration that no longer parses (a typo while editing) does not
 * blind distctl: status, show, log and reload fall back to the `state` and
 * `control_socket` settings that can still be read from the file, else to
 * the defaults, and say on stderr what is wrong with it (file:line). The
 * daemon meanwhile runs on the configuration it loaded last.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#include "queue.h"
#include "queue_backend.h"

#include "bulletin.h"
#include "compose.h"
#include "conf.h"
#include "decode.h"
#include "issue.h"
#include "record.h"
#include "route.h"

#include "control.h"
#include "outbox.h"
#include "retention.h"

#include "preflight.h"
#include "preview.h"
#include "remind.h"
#include "status.h"

#ifndef DISTD_VERSION
#define DISTD_VERSION "unknown"
#endif

#define EXIT_USAGE 2
#define EXIT_ATTENTION 3

/* The same defaults as conf.c's, for a configuration that does not parse. */
#define DEFAULT_STATE "/var/lib/distd/queue.db"
#define DEFAULT_SOCKET "/run/distd/control"

/* Options after getopt_long; `given` says which were on the command line. */
enum {
	OPT_STATE = 1 << 0, OPT_TIER = 1 << 1, OPT_TO = 1 << 2, OPT_REPLACE = 1 << 3,
	OPT_PENDING = 1 << 4, OPT_LINES = 1 << 5, OPT_FOLLOW = 1 << 6, OPT_ISSUE = 1 << 7,
	OPT_YES = 1 << 8, OPT_ALL = 1 << 9, OPT_CSV = 1 << 10, OPT_HTML = 1 << 11,
	OPT_BEFORE = 1 << 12, OPT_DRY_RUN = 1 << 13, OPT_UNCONFIRMED = 1 << 14,
};

struct command;

struct ctl {
	const struct command *cmd;	/* the command being run */
	const char *conf_path;
	bool json;
	bool yes;
	struct conf *conf;
	unsigned given;
	const char *state, *tier, *to, *replace, *lines, *issue;
	bool pending, follow, all, csv, html, dry_run, unconfirmed;
	const char *before;
	/* where the queue and the daemon are: from conf, or salvaged */
	char *state_path, *socket_path;
	char *conf_error;	/* first error of an invalid configuration, else NULL */
};

/* What a command's ISSUE argument may be besides an issue id. */
enum { CMD_ISSUE_OR_ALL = 1 << 0 };

struct command {
	const char *name;
	int (*run)(struct ctl *, int, char **);	/* the positional arguments */
	unsigned opts;		/* OPT_* the command takes */
	unsigned flags;		/* CMD_* */
	const char *args;
	const char *help;
};

static const struct command *find_command(const char *name);

/*
 * Writes text that carries other people's bytes (issue titles and units,
 * the daemon's and libconfig's messages quoting them) to a terminal or a
 * pipe, with control characters and non-UTF-8 bytes made visible
 * (text_escape) and line breaks kept: an escape sequence in a title must
 * not act on the admin's terminal.
 */
static void
put_visible(FILE *f, const char *text)
{
	struct sbuf b = SBUF_INIT;

	text_escape(&b, text, strlen(text), true);
	fputs(sbuf_str(&b), f);
	sbuf_free(&b);
}

/* The running command's usage on stderr; returns the exit code for it. */
static int
usage_error(const struct ctl *ctl)
{
	const struct command *c = ctl->cmd;

	fprintf(stderr, "usage: distctl %s%s%s\n  %s\n", c->name, *c->args ? " " : "", c->args,
	    c->help);
	return EXIT_USAGE;
}

/* usage_error for a caller that names its command (release). */
static int
usage_of(const char *name)
{
	struct ctl named = { .cmd = find_command(name) };

	return usage_error(&named);
}

/* The nearest of path and its parents that exists (stat succeeds); 0 or -1. */
static int
nearest(const char *path, char *found, size_t n, struct stat *st)
{
	char *p = xstrdup(path);
	int rc = -1;

	for (;;) {
		if (stat(p, st) == 0) {
			snprintf(found, n, "%s", p);
			rc = 0;
			break;
		}
		if (strcmp(p, "/") == 0 || strcmp(p, ".") == 0)
			break;
		char *parent = xstrdup(dirname(p));
		free(p);
		p = parent;
	}
	free(p);
	return rc;
}

static bool
in_group(gid_t gid)
{
	gid_t groups[256];
	int n = getgroups(256, groups);

	if (getegid() == gid)
		return true;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * The one sentence for someone who is neither root nor in the group that
 * owns path (or its nearest existing parent): which group to join. A
 * member whom the file still refuses is told the mode instead.
 */
static int
denied(const char *path)
{
	char where[4096];
	struct stat st;
	struct group *g = NULL;

	if (nearest(path, where, sizeof(where), &st) < 0) {
		fprintf(stderr, "distctl: permission denied on %s\n", path);
		return 1;
	}
	if (st.st_gid == 0) {
		/* joining a group will not help: the file is root's alone */
		fprintf(stderr, "distctl: permission denied on %s: %s is root's (mode %04o): "
		    "run distctl as root\n", path, where, (unsigned)(st.st_mode & 07777));
		return 1;
	}
	g = getgrgid(st.st_gid);
	if (g != NULL && in_group(st.st_gid))
		fprintf(stderr, "distctl: permission denied on %s although you are in the %s "
		    "group: %s is mode %04o (distd makes its queue 0660 when it starts; the "
		    "state folder should be 2770)\n", path, g->gr_name, where,
		    (unsigned)(st.st_mode & 07777));
	else
		fprintf(stderr, "distctl: permission denied on %s: add yourself to the %s "
		    "group\n", path, g ? g->gr_name : "distd");
	return 1;
}

/* True when path (or the folder it would be created in) refuses us mode. */
static bool
refused(const char *path, int mode)
{
	if (access(path, mode) == 0)
		return false;
	if (errno == EACCES)
		return true;
	if (errno == ENOENT) {
		char *p = xstrdup(path);
		bool r = access(dirname(p), X_OK) < 0 && errno == EACCES;
		free(p);
		return r;
	}
	return false;
}

/*
 * Reads the string setting `name` from a configuration file that libconfig
 * refuses, line by line: what can still be read of `state` and
 * `control_socket`. Both names are unique in the file's schema (no group
 * has a member called so), so a line that starts with one of them is that
 * setting, whatever an unbalanced brace before it did to the nesting.
 * Returns a copy of the last such value, or NULL.
 */
static char *
salvage(const char *path, const char *name)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *found = NULL;
	size_t cap = 0, len = strlen(name);

	if (f == NULL)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char *p = line + strspn(line, " \t{(,;");
		if (strncmp(p, name, len) != 0)
			continue;
		char *v = p + len + strspn(p + len, " \t");
		if (*v != '=' && *v != ':')
			continue;
		v += 1 + strspn(v + 1, " \t");
		char *end = *v == '"' ? strchr(v + 1, '"') : NULL;
		if (end != NULL && end > v + 1) {
			free(found);
			found = xstrndup(v + 1, (size_t)(end - v - 1));
		}
	}
	free(line);
	fclose(f);
	return found;
}

static struct conf *
load_conf(struct ctl *ctl, int flags)
{
	struct sbuf errors = SBUF_INIT;

	if (ctl->conf != NULL)
		return ctl->conf;
	if (refused(ctl->conf_path, R_OK)) {
		denied(ctl->conf_path);
		return NULL;
	}
	if (conf_load(ctl->conf_path, flags, &ctl->conf, &errors) < 0) {
		put_visible(stderr, sbuf_str(&errors));
		if (access(ctl->conf_path, R_OK) == 0)
			fprintf(stderr, "distctl: this needs a valid configuration; fix it first "
			    "(status, show, log and reload work meanwhile)\n");
		ctl->conf = NULL;
	} else {
		free(ctl->state_path);
		free(ctl->socket_path);
		ctl->state_path = xstrdup(ctl->conf->state);
		ctl->socket_path = xstrdup(ctl->conf->control_socket);
	}
	sbuf_free(&errors);
	return ctl->conf;
}

/*
 * Finds the queue and the daemon even when the configuration is invalid:
 * see the comment at the top. Returns 0, or -1 when the file cannot be
 * read at all (nothing then says which queue is meant).
 */
static int
locate(struct ctl *ctl)
{
	struct sbuf errors = SBUF_INIT;

	if (ctl->state_path != NULL)
		return 0;
	if (refused(ctl->conf_path, R_OK)) {
		denied(ctl->conf_path);
		return -1;
	}
	if (conf_load(ctl->conf_path, 0, &ctl->conf, &errors) == 0) {
		ctl->state_path = xstrdup(ctl->conf->state);
		ctl->socket_path = xstrdup(ctl->conf->control_socket);
		sbuf_free(&errors);
		return 0;
	}
	const char *e = sbuf_str(&errors);
	if (access(ctl->conf_path, R_OK) < 0) {
		put_visible(stderr, e);
		sbuf_free(&errors);
		return -1;
	}
	ctl->conf_error = xstrndup(e, strcspn(e, "\n"));
	ctl->state_path = salvage(ctl->conf_path, "state");
	ctl->socket_path = salvage(ctl->conf_path, "control_socket");
	fprintf(stderr, "distctl: %s is invalid (distd keeps running on the configuration "
	    "it loaded last):\n", ctl->conf_path);
	put_visible(stderr, e);
	char queue_name[512];
	queue_location_name(ctl->state_path ? ctl->state_path : DEFAULT_STATE, queue_name,
	    sizeof(queue_name));
	fprintf(stderr, "distctl: going on with the queue %s and the socket %s (%s)\n",
	    queue_name,
	    ctl->socket_path ? ctl->socket_path : DEFAULT_SOCKET,
	    ctl->state_path && ctl->socket_path ? "as the file sets them" :
	    ctl->state_path || ctl->socket_path ? "as the file sets one, the default other" :
	    "the defaults");
	if (ctl->state_path == NULL)
		ctl->state_path = xstrdup(DEFAULT_STATE);
	if (ctl->socket_path == NULL)
		ctl->socket_path = xstrdup(DEFAULT_SOCKET);
	sbuf_free(&errors);
	return 0;
}

/* Opens the queue; *missing (when not NULL) is set instead of an error before distd's first start. */
static struct queue *
open_queue(struct ctl *ctl, bool write, bool *missing)
{
	struct queue *q;
	char err[1024];

	if (missing)
		*missing = false;
	if (ctl->state_path == NULL && (write ? load_conf(ctl, 0) == NULL : locate(ctl) < 0))
		return NULL;
	const char *path = ctl->state_path;
	/* a server's queue (a connection string) has no file to look at */
	bool file = queue_backend_for(path, err, sizeof(err)) == &queue_backend_sqlite;
	if (file && refused(path, write ? R_OK | W_OK : R_OK)) {
		denied(path);
		return NULL;
	}
	if (file && access(path, F_OK) < 0 && errno == ENOENT) {
		if (missing) {
			*missing = true;
			return NULL;
		}
		fprintf(stderr, "distctl: %s: no queue there yet (has distd run with this "
		    "configuration?)\n", path);
		return NULL;
	}
	/* changing the queue writes -wal/-shm beside it: the folder must let us */
	char *dir = xstrdup(path);
	bool dir_refused = file && write && refused(dirname(dir), W_OK | X_OK);
	if (dir_refused)
		denied(dir);
	free(dir);
	if (dir_refused)
		return NULL;
	int rc = queue_open_mode(path, write ? QUEUE_EXISTING : QUEUE_READONLY, &q,
	    err, sizeof(err));
	if (rc == QUEUE_NONE && missing) {
		/* a server's database distd has not set up yet: as a missing file */
		*missing = true;
		return NULL;
	}
	if (rc < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		return NULL;
	}
	return q;
}

static void
daemon_state(const struct ctl *ctl, struct status_daemon *d)
{
	char reply[256], err[512];

	memset(d, 0, sizeof(*d));
	if (control_request(ctl->socket_path, "ping", reply, sizeof(reply),
	    err, sizeof(err)) == 0) {
		long long since = 0;
		d->running = sscanf(reply, "ok %ld %lld", &d->pid, &since) >= 1;
		d->since = since;
		/* how the daemon sees its queue (a distd before `health`: nothing) */
		d->has_health = d->running && control_request(ctl->socket_path, "health",
		    reply, sizeof(reply), err, sizeof(err)) == 0 &&
		    control_health_parse(reply, &d->health) == 0;
	} else if (strstr(err, "Permission denied") != NULL) {
		denied(ctl->socket_path);
	}
}

/* Asks a running daemon to act now; says so when there is none. */
static void
wake(const struct ctl *ctl)
{
	char reply[256], err[512];

	if (control_request(ctl->socket_path, "wake", reply, sizeof(reply),
	    err, sizeof(err)) < 0 && !ctl->json)
		printf("distd is not running: this takes effect when it starts\n");
}

static bool
parse_issue(const char *s, int64_t *id)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0)
		return false;
	*id = v;
	return true;
}

/* ---- commands --------------------------------------------------------------- */

static int
do_preview(struct ctl *ctl, int argc, char **argv)
{
	char err[512], *subject = NULL;
	struct outbox_issue is = { 0 };
	struct bulletin *b = NULL;
	struct route *r = NULL;
	struct conf *c;
	struct sbuf out = SBUF_INIT;
	int rc = 1;

	if (argc != 1)
		return usage_error(ctl);
	if ((c = load_conf(ctl, 0)) == NULL)
		return 1;
	/* read as distd reads a drop: a file, a document or a folder issue;
	 * what distd would refuse is said, with exit 1 */
	int read = outbox_read_issue(c, argv[0], 0, &is, err, sizeof(err));
	if (read == EXTRACT_AGAIN) {
		/* the machine's fault (no process could be started), not the file's */
		fprintf(stderr, "distctl: %s: cannot be read now (distd would retry it): %s\n",
		    argv[0], err);
		goto out;
	}
	if (read < 0) {
		fprintf(stderr, "distctl: %s: refused: %s\n", argv[0], err);
		goto out;
	}
	if (bulletin_parse(is.text, is.text_len, c->labels, c->n_labels, &b, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s: %s: %s\n", argv[0], is.main_name, err);
		goto out;
	}
	struct preview_source src = { is.main_name, extract_format_name(is.format),
		is.encoding, is.folder, is.raw_len, is.text_len, is.att, is.n_att };
	r = route_resolve(c, b);
	subject = compose_subject_for(c, b);
	char why[1024];
	enum issue_verdict verdict = issue_check_marks(c, b, why, sizeof(why));
	/* the size check distd makes on arrival, against the relay's SIZE as
	 * the queue last recorded it (when there is a queue to read) */
	size_t msg_len = 0;
	long relay_size = -1, limit;
	struct queue *sq = NULL;
	char qerr[256], relay[300];
	snprintf(relay, sizeof(relay), "%s:%d", c->smtp.host, c->smtp.port);
	if (access(c->state, R_OK) == 0 &&
	    queue_open_mode(c->state, QUEUE_READONLY, &sq, qerr, sizeof(qerr)) == 0) {
		long max_rcpt;
		queue_relay_get(sq, relay, &relay_size, &max_rcpt);
		queue_close(sq);
	}
	limit = issue_size_limit(c, relay_size);
	char *msg = issue_render(c, b, r, subject, "<preview@localhost>", 0, 0, is.att,
	    is.n_att, &msg_len, qerr, sizeof(qerr));
	bool rendered = msg != NULL;
	free(msg);
	if (verdict == ISSUE_SEND && r->hold_reason == NULL && rendered &&
	    issue_check_size(c, relay_size, msg_len, why, sizeof(why)) == ISSUE_HOLD)
		verdict = ISSUE_HOLD;
	if (ctl->json) {
		struct preview_message size = { msg_len, limit };
		preview_json(&out, b, r, subject, verdict, why, rendered ? &size : NULL,
		    &src);
		fputs(sbuf_str(&out), stdout);
	} else {
		/* the issue's own text: its control characters shown, not obeyed */
		preview_text(&out, b, r, subject, verdict, why);
		if (is.folder || is.format != EXTRACT_TEXT)
			preview_source_text(&out, &src);
		if (rendered)
			preview_size(&out, msg_len, limit, limit == relay_size);
		put_visible(stdout, sbuf_str(&out));
	}
	rc = r->n_unresolved > 0 || r->hold_reason || verdict != ISSUE_SEND ?
	    EXIT_ATTENTION : 0;
out:
	sbuf_free(&out);
	free(subject);
	route_free(r);
	bulletin_free(b);
	outbox_issue_free(&is);
	return rc;
}

static struct status_style
style_for(const struct ctl *ctl)
{
	const char *nc = getenv("NO_COLOR");
	struct status_style s = { !ctl->json && isatty(STDOUT_FILENO) &&
	    (nc == NULL || *nc == '\0'), (int64_t)time(NULL) };

	return s;
}

static int
do_status(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	struct queue_view_status view, *v = NULL;
	struct queue_view_node *nodes = NULL;
	size_t n_nodes = 0;
	struct status_daemon d;
	struct status_style style = style_for(ctl);
	struct sbuf out = SBUF_INIT;
	char err[512];
	bool missing;

	(void)argv;
	if (argc != 0)
		return usage_error(ctl);
	if (locate(ctl) < 0)
		return 1;
	/* before distd's first start there is no queue: that is a state, not an
	 * error; a database distctl cannot reach is one, but the daemon's own
	 * view of it (running, queue unreachable since …) is still worth showing */
	if ((q = open_queue(ctl, false, &missing)) == NULL && !missing) {
		if (queue_backend_for(ctl->state_path, err, sizeof(err)) ==
		    &queue_backend_sqlite)
			return 1;	/* a file: what is wrong with it is said */
		daemon_state(ctl, &d);
		if (ctl->json)
			status_daemon_json(&out, &d);
		else
			status_daemon_text(&out, &d, &style);
		fputs(sbuf_str(&out), stdout);
		sbuf_free(&out);
		return 1;
	}
	daemon_state(ctl, &d);
	if (q != NULL) {
		int rc = queue_view_status(q, style.now - STATUS_FAILED_WINDOW,
		    STATUS_RECENT_ISSUES, &view, err, sizeof(err));
		/* several nodes on a server queue; the rest shows without them */
		if (rc == 0 && queue_view_nodes(q, &nodes, &n_nodes, err, sizeof(err)) < 0)
			fprintf(stderr, "distctl: %s\n", err);
		queue_close(q);
		if (rc < 0) {
			fprintf(stderr, "distctl: %s\n", err);
			return 1;
		}
		v = &view;
	}
	char queue_name[512];
	queue_location_name(ctl->state_path, queue_name, sizeof(queue_name));
	struct status_where w = { ctl->conf_path, ctl->conf ? ctl->conf->smtp.url : NULL,
		queue_name, ctl->conf_error };
	struct status_nodes sn = { nodes, n_nodes };
	if (ctl->json)
		status_json_nodes(&out, &w, &d, v, &sn);
	else
		status_text_nodes(&out, &w, &d, v, &sn, &style);
	fputs(sbuf_str(&out), stdout);
	sbuf_free(&out);
	bool attention = status_attention(v);
	queue_view_status_free(v);
	queue_view_nodes_free(nodes, n_nodes);
	return attention || !d.running || ctl->conf_error ? EXIT_ATTENTION : 0;
}

static int
do_show(struct ctl *ctl, int argc, char **argv)
{
	struct status_style style = style_for(ctl);
	struct queue_view_filter f = { .by_state = ctl->state != NULL, .tier = ctl->tier,
		.pending = ctl->pending, .unconfirmed = ctl->unconfirmed };
	struct queue_view_issue v, all;
	struct sbuf out = SBUF_INIT;
	struct queue *q;
	char err[512];
	int64_t id;
	int rc;

	/* one list at a time: a state, who has not got it, or who has not confirmed */
	if (argc != 1 || !parse_issue(argv[0], &id) ||
	    (ctl->state != NULL) + ctl->pending + ctl->unconfirmed > 1)
		return usage_error(ctl);
	/* a word that is no state (a typo) never passes for "no recipients" */
	if (ctl->state && queue_state_parse(ctl->state, &f.state) < 0) {
		fprintf(stderr, "distctl: --state %s: not a recipient state (", ctl->state);
		for (int i = 0; i < QUEUE_STATES; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", queue_state_name((enum queue_state)i));
		fputs(")\n", stderr);
		return EXIT_USAGE;
	}
	if ((q = open_queue(ctl, false, NULL)) == NULL)
		return 1;
	rc = queue_view_issue(q, id, &f, &v, err, sizeof(err));
	/*
	 * The text's summary per tier counts every recipient, whatever the
	 * filter lists: a second read without one (one issue's rows).
	 */
	bool filtered = f.by_state || f.tier || f.pending || f.unconfirmed;
	memset(&all, 0, sizeof(all));
	if (rc == 0 && filtered && !ctl->json &&
	    (rc = queue_view_issue(q, id, NULL, &all, err, sizeof(err))) < 0)
		queue_view_issue_free(&v);
	queue_close(q);
	if (rc < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		return 1;
	}
	if (ctl->json)
		status_show_json(&out, &v);
	else
		status_show_text_all(&out, &v, &f, filtered ? &all : &v, &style);
	queue_view_issue_free(&v);
	if (filtered && !ctl->json)
		queue_view_issue_free(&all);
	fputs(sbuf_str(&out), stdout);
	sbuf_free(&out);
	return 0;
}

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int
do_log(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	int64_t after = 0, issue = 0;
	char err[512], *end;
	long n = 20;

	(void)argv;
	if (ctl->lines) {
		n = strtol(ctl->lines, &end, 10);
		if (*ctl->lines == '\0' || *end != '\0')
			n = 0;
	}
	if (argc != 0 || n <= 0 || (ctl->issue && !parse_issue(ctl->issue, &issue)))
		return usage_error(ctl);
	if ((q = open_queue(ctl, false, NULL)) == NULL)
		return 1;
	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	do {
		struct queue_view_attempt *a;
		struct sbuf out = SBUF_INIT;
		size_t na;
		/* -f: after the last n, everything new since the last line printed */
		if (queue_view_attempts(q, after, ctl->follow && after ? 1000 : n, issue, &a, &na,
		    err, sizeof(err)) < 0) {
			fprintf(stderr, "distctl: %s\n", err);
			queue_close(q);
			return 1;
		}
		if (na > 0)
			after = a[na - 1].id;
		if (ctl->json)
			status_log_json(&out, a, na);
		else
			status_log_text(&out, a, na);
		queue_view_attempts_free(a, na);
		fputs(sbuf_str(&out), stdout);
		fflush(stdout);
		sbuf_free(&out);
		if (ctl->follow && !interrupted)
			sleep(1);
	} while (ctl->follow && !interrupted);
	queue_close(q);
	return 0;
}

/* Asks before something that cannot be undone, on a terminal only. */
static bool
confirm(const struct ctl *ctl, const char *what)
{
	char line[16];

	if (ctl->yes || !isatty(STDIN_FILENO))
		return true;
	printf("%s? [y/N] ", what);
	fflush(stdout);
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

/* Prints what a steering command changed; wakes the daemon. Returns the exit code. */
static int
steered(struct ctl *ctl, const char *name, int64_t id, int changed, const char *err)
{
	if (changed < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		return 1;
	}
	if (ctl->json) {
		struct sbuf out = SBUF_INIT;
		struct json_writer w;
		json_start(&w, &out);
		json_begin_object(&w);
		json_member_string(&w, "command", name);
		json_member_number(&w, "issue", id);
		json_member_number(&w, "recipients", changed);
		json_end_object(&w);
		json_finish_fixed(&w);
		puts(sbuf_str(&out));
		sbuf_free(&out);
	} else {
		printf("%s: %d recipient%s%s%s\n", name, changed, changed == 1 ? "" : "s",
		    ctl->tier ? " in tier " : "", ctl->tier ? ctl->tier : "");
	}
	wake(ctl);
	return 0;
}

/* ISSUE, or ISSUE|all for a command that takes it (retry); 0 stands for all. */
static bool
steer_args(const struct ctl *ctl, int argc, char **argv, int64_t *id)
{
	*id = 0;
	if (argc != 1)
		return false;
	if ((ctl->cmd->flags & CMD_ISSUE_OR_ALL) && strcmp(argv[0], "all") == 0)
		return true;
	return parse_issue(argv[0], id);
}

static int
do_hold(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	char err[512], reason[128];
	int64_t id;

	if (!steer_args(ctl, argc, argv, &id))
		return usage_error(ctl);
	if ((q = open_queue(ctl, true, NULL)) == NULL)
		return 1;
	snprintf(reason, sizeof(reason), "held with distctl hold");
	int n = queue_hold(q, id, ctl->tier, reason, err, sizeof(err));
	queue_close(q);
	return steered(ctl, "hold", id, n, err);
}

static int
do_cancel(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	char err[512], what[96];
	int64_t id;

	if (!steer_args(ctl, argc, argv, &id))
		return usage_error(ctl);
	if (ctl->tier)
		snprintf(what, sizeof(what), "Cancel tier %s of issue %lld", ctl->tier,
		    (long long)id);
	else
		snprintf(what, sizeof(what), "Cancel issue %lld", (long long)id);
	if (!confirm(ctl, what)) {
		printf("nothing cancelled\n");
		return 1;
	}
	if ((q = open_queue(ctl, true, NULL)) == NULL)
		return 1;
	int n = queue_cancel(q, id, ctl->tier, (int64_t)time(NULL), err, sizeof(err));
	queue_close(q);
	return steered(ctl, "cancel", id, n, err);
}

static int
do_retry(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	char err[512];
	int64_t id;

	if (!steer_args(ctl, argc, argv, &id))
		return usage_error(ctl);
	if ((q = open_queue(ctl, true, NULL)) == NULL)
		return 1;
	int n = queue_retry(q, id, ctl->tier, (int64_t)time(NULL), err, sizeof(err));
	queue_close(q);
	return steered(ctl, "retry", id, n, err);
}

/*
 * resend ID [--tier T]: delivered and failed recipients again.
 * resend ID --to A: A again when it is a recipient; else A is added (to
 * tier T). resend ID --to NEW --replace OLD: the correction of an address.
 */
static int
do_resend(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	char err[512];
	int64_t id;
	int n;

	if (!steer_args(ctl, argc, argv, &id) || (ctl->replace && !ctl->to) ||
	    (ctl->all && ctl->to))
		return usage_error(ctl);
	if ((q = open_queue(ctl, true, NULL)) == NULL)
		return 1;
	int64_t now = (int64_t)time(NULL);
	bool correction = ctl->to && (ctl->replace ||
	    !queue_has_recipient(q, id, NULL, ctl->to));
	if (ctl->all)
		n = queue_resend_all(q, id, ctl->tier, now, err, sizeof(err));
	else if (correction)
		n = queue_resend_to(q, id, ctl->tier, ctl->to, ctl->replace, now, err,
		    sizeof(err));
	else
		n = queue_resend(q, id, ctl->tier, ctl->to, now, err, sizeof(err));
	queue_close(q);
	if (n > 0 && correction && !ctl->json) {
		if (ctl->replace)
			printf("resend: <%s> replaces <%s> in issue %lld\n", ctl->to, ctl->replace,
			    (long long)id);
		else
			printf("resend: <%s> added to issue %lld\n", ctl->to, (long long)id);
	}
	int rc = steered(ctl, "resend", id, n, err);
	if (rc == 0 && n == 0) {
		fprintf(stderr, "distctl: nothing to resend (only delivered or failed "
		    "recipients are sent again)\n");
		return 1;
	}
	return rc;
}

/*
 * release on an issue held before any attempt routes it again with the
 * current configuration (the admin's fix — a new alias, a reload — takes
 * effect), then sends to everything that resolves and reports the rest.
 */
static int
release_rerouted(struct ctl *ctl, struct queue *q, int64_t id, struct queue_source *src)
{
	struct attachment *att = xcalloc(src->n_attachments + 1, sizeof(*att));
	for (size_t i = 0; i < src->n_attachments; i++)
		att[i] = (struct attachment){ src->attachments[i].name,
		    src->attachments[i].data, src->attachments[i].len };
	struct issue_input in = { .text = src->text, .len = strlen(src->text), .att = att,
		.n_att = src->n_attachments, .received = src->received,
		.now = (int64_t)time(NULL), .reroute = id, .message_id = src->message_id };
	struct issue_admission adm;
	const struct route *r;
	int rc = 1;

	switch (issue_admit(ctl->conf, q, &in, &adm)) {
	case ISSUE_ADMIT_UNPARSABLE:
		fprintf(stderr, "distctl: issue %lld: %s\n", (long long)id, adm.why);
		break;
	case ISSUE_ADMIT_REFUSED:
		fprintf(stderr, "distctl: issue %lld is not released: %s\n", (long long)id,
		    adm.why);
		break;
	case ISSUE_ADMIT_NOBODY:
		fprintf(stderr, "distctl: issue %lld still resolves to nobody: ", (long long)id);
		put_visible(stderr, adm.route->hold_reason ? adm.route->hold_reason :
		    "no recipients");
		fputc('\n', stderr);
		break;
	case ISSUE_ADMIT_FAILED:
		fprintf(stderr, "distctl: %s\n", adm.why);
		break;
	default:
		r = adm.route;
		printf("release: issue %lld routed again: %zu recipient%s\n", (long long)id,
		    r->n_recipients, r->n_recipients == 1 ? "" : "s");
		for (size_t i = 0; i < r->n_unresolved; i++) {
			printf("  still unresolved, not sent: ");
			put_visible(stdout, r->unresolved[i]);
			putchar('\n');
		}
		rc = r->n_unresolved ? EXIT_ATTENTION : 0;
		break;
	}
	issue_admission_free(&adm);
	free(att);
	return rc;
}

static int
do_release(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	struct queue_source src;
	char err[512];
	int64_t id;
	int rc;

	if (argc != 1 || !parse_issue(argv[0], &id))
		return usage_of("release");
	if (load_conf(ctl, 0) == NULL || (q = open_queue(ctl, true, NULL)) == NULL)
		return 1;
	if (queue_load_source(q, id, &src, err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		queue_close(q);
		return 1;
	}
	if (src.state == QUEUE_ISSUE_HELD && src.tried == 0 && src.text != NULL) {
		/* held on arrival: routing again concerns every tier at once */
		if (ctl->tier) {
			fprintf(stderr, "distctl: issue %lld was held on arrival, before any "
			    "delivery: release it whole (distctl release %lld) so that it is "
			    "routed again\n", (long long)id, (long long)id);
			rc = 1;
		} else {
			rc = release_rerouted(ctl, q, id, &src);
		}
	} else {
		int n = queue_release(q, id, ctl->tier, (int64_t)time(NULL), err, sizeof(err));
		queue_source_free(&src);
		queue_close(q);
		return steered(ctl, "release", id, n, err);
	}
	queue_source_free(&src);
	queue_close(q);
	if (rc != 1)
		wake(ctl);
	return rc;
}

/*
 * Asks the daemon to re-read its configuration and prints its answer: a
 * refused file exits 1 with distd's reason (file:line), so that
 * `systemctl reload` (ExecReload) fails visibly. Works with an invalid
 * file too: the socket's path is salvaged (see locate()).
 */
static int
do_reload(struct ctl *ctl, int argc, char **argv)
{
	char reply[600], err[512];

	(void)argv;
	if (argc != 0)
		return usage_error(ctl);
	if (locate(ctl) < 0)
		return 1;
	if (control_request(ctl->socket_path, "reload", reply, sizeof(reply),
	    err, sizeof(err)) < 0) {
		if (strstr(err, "Permission denied") != NULL)
			return denied(ctl->socket_path);
		fprintf(stderr, "distctl: cannot reach distd: %s\n", err);
		return 1;
	}
	if (strncmp(reply, "ok", 2) != 0) {
		fprintf(stderr, "distctl: distd refused the configuration and keeps the one "
		    "it runs on: ");
		put_visible(stderr, strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		fputc('\n', stderr);
		return 1;
	}
	printf("configuration reloaded\n");
	return 0;
}

static int
do_check(struct ctl *ctl, int argc, char **argv)
{
	const char *pw;

	(void)argv;
	if (argc != 0)
		return usage_error(ctl);
	/* first without the password, to say which file refuses us when it does */
	if (load_conf(ctl, 0) == NULL)
		return 1;
	pw = ctl->conf->smtp.password_file;
	if (pw != NULL && getenv("CREDENTIALS_DIRECTORY") == NULL && refused(pw, R_OK))
		return denied(pw);
	conf_free(ctl->conf);
	ctl->conf = NULL;
	if (load_conf(ctl, CONF_LOAD_SECRETS) == NULL)
		return 1;
	return preflight_run(ctl->conf, stdout) == 0 ? 0 : 1;
}

static int
do_record(struct ctl *ctl, int argc, char **argv)
{
	struct queue_record *r = NULL;
	struct sbuf out = SBUF_INIT;
	struct queue *q;
	char err[512];
	int64_t id;
	int rc;

	if (argc != 1 || !parse_issue(argv[0], &id) || ctl->csv + ctl->html + ctl->json > 1)
		return usage_error(ctl);
	if ((q = open_queue(ctl, false, NULL)) == NULL)
		return 1;
	rc = queue_record_read(q, id, &r, err, sizeof(err));
	queue_close(q);
	if (rc < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		return 1;
	}
	record_render(&out, r, ctl->csv ? RECORD_CSV : ctl->html ? RECORD_HTML :
	    ctl->json ? RECORD_JSON : RECORD_TEXT);
	queue_record_free(r);
	/* CSV, HTML and JSON escape for themselves and go to files as they are;
	 * text is for a terminal: its control characters shown, not obeyed */
	if (ctl->csv || ctl->html || ctl->json)
		fwrite(sbuf_str(&out), 1, out.len, stdout);
	else
		put_visible(stdout, sbuf_str(&out));
	sbuf_free(&out);
	return 0;
}

/* YYYY-MM-DD as the local midnight that starts it; false when not a date. */
static bool
parse_day(const char *s, int64_t *when)
{
	struct tm tm = { 0 };
	char *end = strptime(s, "%Y-%m-%d", &tm);
	int mday = tm.tm_mday, mon = tm.tm_mon;

	if (end == NULL || *end != '\0')
		return false;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	/* mktime normalises 2026-02-30 into March: refuse it instead */
	if (t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon)
		return false;
	*when = (int64_t)t;
	return true;
}

static int
do_purge(struct ctl *ctl, int argc, char **argv)
{
	struct queue_purge_cursor cur = { 0 };
	struct retention_tally t = { 0 };
	struct queue *q;
	struct conf *c;
	char err[1024], oldest[40], newest[40], cut[40];
	int64_t before;

	(void)argv;
	if (argc != 0)
		return usage_error(ctl);
	if ((c = load_conf(ctl, 0)) == NULL)
		return 1;
	if (ctl->before) {
		if (!parse_day(ctl->before, &before)) {
			fprintf(stderr, "distctl: purge --before '%s': expected a date as "
			    "YYYY-MM-DD\n", ctl->before);
			return EXIT_USAGE;
		}
	} else if (c->retention.history > 0) {
		before = (int64_t)time(NULL) - c->retention.history;
	} else {
		fprintf(stderr, "distctl: retention is off in %s (retention.history = "
		    "\"never\"): say how far back with --before YYYY-MM-DD\n", ctl->conf_path);
		return EXIT_USAGE;
	}
	/* a dry run only reads; a purge deletes rows, so it needs what distd has */
	if ((q = open_queue(ctl, !ctl->dry_run, NULL)) == NULL)
		return 1;
	if (!ctl->dry_run && queue_probe_write(q, err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: cannot write the queue, nothing purged: %s\n", err);
		queue_close(q);
		return 1;
	}
	/* bounded: each slice moves the cursor on, and the walk ends */
	while (!cur.end) {
		if (retention_slice(q, c->archive, before, RETENTION_SLICE, ctl->dry_run,
		    &cur, &t, err, sizeof(err)) < 0) {
			fprintf(stderr, "distctl: purge: %s (%zu issue%s purged before this)\n",
			    err, t.issues, t.issues == 1 ? "" : "s");
			queue_close(q);
			return 1;
		}
	}
	queue_close(q);
	record_time(cut, sizeof(cut), before);
	record_time(oldest, sizeof(oldest), t.oldest);
	record_time(newest, sizeof(newest), t.newest);
	if (ctl->json) {
		struct sbuf out = SBUF_INIT;
		struct json_writer w;
		json_start(&w, &out);
		json_begin_object(&w);
		json_member_string(&w, "command", "purge");
		json_member_bool(&w, "dry_run", ctl->dry_run);
		json_member_string(&w, "before", cut);
		json_member_number(&w, "issues", (long long)t.issues);
		json_member_string(&w, "oldest", t.oldest ? oldest : NULL);
		json_member_string(&w, "newest", t.newest ? newest : NULL);
		json_end_object(&w);
		json_finish_fixed(&w);
		puts(sbuf_str(&out));
		sbuf_free(&out);
		return 0;
	}
	if (t.issues == 0)
		printf("purge: no finished issue with its last activity before %s\n", cut);
	else if (ctl->dry_run)
		printf("purge --dry-run: %zu issue%s would go (received %s to %s; last "
		    "activity before %s); nothing written or deleted\n", t.issues,
		    t.issues == 1 ? "" : "s", oldest, newest, cut);
	else
		printf("purge: %zu issue%s left the queue (received %s to %s); records in "
		    "%s/records\n", t.issues, t.issues == 1 ? "" : "s", oldest, newest,
		    c->archive);
	return 0;
}

/*
 * remind ISSUE [--tier T]: a reminder to confirm receipt to those asked,
 * delivered, not bounced and not confirmed (remind.c); refused (1) when
 * there is nobody, or the issue is no bulletin or was cancelled.
 */
static int
do_remind(struct ctl *ctl, int argc, char **argv)
{
	struct queue_view_issue v;
	struct remind_plan plan;
	struct sbuf out = SBUF_INIT;
	struct queue *q;
	struct conf *c;
	char err[1024];
	int64_t id, reminder = 0;
	const char *tier = ctl->tier;
	int rc = 1;

	if (!steer_args(ctl, argc, argv, &id))
		return usage_error(ctl);
	if ((c = load_conf(ctl, 0)) == NULL)
		return 1;
	/* an alias (抄送) names its tier as the queue stores it (送) */
	int t = tier ? conf_tier_index(c, tier) : -1;
	if (t >= 0)
		tier = c->tiers[t].keyword;
	if ((q = open_queue(ctl, true, NULL)) == NULL)
		return 1;
	if (queue_view_issue(q, id, NULL, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		queue_close(q);
		return 1;
	}
	if (remind_plan(&v, tier, &plan, err, sizeof(err)) != REMIND_OK) {
		fputs("distctl: ", stderr);
		put_visible(stderr, err);
		fputc('\n', stderr);
	} else if (remind_enqueue(c, q, &v, &plan, (int64_t)time(NULL), &reminder, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "distctl: remind: %s\n", err);
	} else {
		if (ctl->json)
			remind_json(&out, &v, &plan, reminder);
		else
			remind_text(&out, &v, &plan, reminder);
		put_visible(stdout, sbuf_str(&out));
		rc = 0;
	}
	queue_close(q);
	if (rc == 0)
		wake(ctl);
	remind_plan_free(&plan);
	queue_view_issue_free(&v);
	sbuf_free(&out);
	return rc;
}

#define STEER (OPT_TIER | OPT_YES)

static const struct command commands[] = {
	{ "status", do_status, 0, 0, "", "queue counts, alerts and recent issues" },
	{ "show", do_show, OPT_STATE | OPT_PENDING | OPT_UNCONFIRMED | OPT_TIER, 0,
	  "ISSUE [--state S | --pending | --unconfirmed] [--tier T]",
	  "one issue and its recipients" },
	{ "preview", do_preview, 0, 0, "FILE", "parse and route a bulletin, queue nothing" },
	{ "log", do_log, OPT_LINES | OPT_FOLLOW | OPT_ISSUE, 0, "[-n N] [-f] [--issue ID]",
	  "recent delivery attempts (-f follows)" },
	{ "retry", do_retry, STEER, CMD_ISSUE_OR_ALL, "ISSUE|all [--tier T]",
	  "try deferred recipients now" },
	{ "hold", do_hold, STEER, 0, "ISSUE [--tier T]", "stop sending until released" },
	{ "release", do_release, STEER, 0, "ISSUE [--tier T]", "send what is held" },
	{ "cancel", do_cancel, STEER, 0, "ISSUE [--tier T] [--yes]", "stop for good" },
	{ "resend", do_resend, STEER | OPT_TO | OPT_REPLACE | OPT_ALL, 0,
	  "ISSUE [--tier T] [--to NEW [--replace OLD] | --all]",
	  "send again (--all: a cancelled one too)" },
	{ "remind", do_remind, OPT_TIER, 0, "ISSUE [--tier T]",
	  "ask who has not confirmed receipt again" },
	{ "record", do_record, OPT_CSV | OPT_HTML, 0, "ISSUE [--csv | --html]",
	  "the distribution record, for filing" },
	{ "purge", do_purge, OPT_BEFORE | OPT_DRY_RUN, 0, "[--before YYYY-MM-DD] [--dry-run]",
	  "file and remove old finished issues" },
	{ "reload", do_reload, 0, 0, "", "make distd re-read its configuration" },
	{ "check", do_check, 0, 0, "", "preflight the relay: DNS, TLS, EHLO, AUTH" },
};

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* One help line, cut to 80 columns by display width. */
static void
usage(FILE *f)
{
	fprintf(f, "usage: distctl [-c FILE] [--json] COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char left[96];
		snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].args);
		if (strlen(left) > 30)
			fprintf(f, "  %s\n  %-30s %s\n", left, "", commands[i].help);
		else
			fprintf(f, "  %-30s %s\n", left, commands[i].help);
	}
	fprintf(f, "\nThe configuration is -c FILE, else $DISTD_CONF, else %s.\n"
	    "Exit: 0 ok, 1 error, 2 usage, 3 needs attention. See distctl(1).\n",
	    CONF_DEFAULT_PATH);
}

static void
ctl_free(struct ctl *ctl)
{
	conf_free(ctl->conf);
	free(ctl->state_path);
	free(ctl->socket_path);
	free(ctl->conf_error);
}

/*
 * Options stand before or after the command (GNU getopt permutes); --
 * ends them. The command is found first, with every option known so that
 * their values are skipped; then the command parses argv with getopt_long
 * and its own options only, so that `--state=x`, `-n5` and `--` work the
 * same in every command and an option of another command is refused.
 */
enum { LONG_JSON = 256, LONG_COMMAND_OPTION = 512 };

static const struct option global_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "json", no_argument, NULL, LONG_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
};
#define N_GLOBAL (sizeof(global_options) / sizeof(global_options[0]))
#define GLOBAL_SHORTS "c:hV"

/* A command option: its long name, short letter (or 0) and OPT_* bit. */
static const struct {
	const char *name;
	int has_arg;
	char letter;
	unsigned bit;
} command_options[] = {
	{ "state", required_argument, 0, OPT_STATE },
	{ "tier", required_argument, 0, OPT_TIER },
	{ "to", required_argument, 0, OPT_TO },
	{ "replace", required_argument, 0, OPT_REPLACE },
	{ "pending", no_argument, 0, OPT_PENDING },
	{ "unconfirmed", no_argument, 0, OPT_UNCONFIRMED },
	{ "lines", required_argument, 'n', OPT_LINES },
	{ "follow", no_argument, 'f', OPT_FOLLOW },
	{ "issue", required_argument, 0, OPT_ISSUE },
	{ "yes", no_argument, 'y', OPT_YES },
	{ "all", no_argument, 0, OPT_ALL },
	{ "csv", no_argument, 0, OPT_CSV },
	{ "html", no_argument, 0, OPT_HTML },
	{ "before", required_argument, 0, OPT_BEFORE },
	{ "dry-run", no_argument, 0, OPT_DRY_RUN },
};
#define N_COMMAND_OPTIONS (sizeof(command_options) / sizeof(command_options[0]))

/* Stores a command option's value in ctl. */
static void
set_option(struct ctl *ctl, unsigned bit, const char *arg)
{
	ctl->given |= bit;
	switch (bit) {
	case OPT_STATE: ctl->state = arg; break;
	case OPT_TIER: ctl->tier = arg; break;
	case OPT_TO: ctl->to = arg; break;
	case OPT_REPLACE: ctl->replace = arg; break;
	case OPT_PENDING: ctl->pending = true; break;
	case OPT_UNCONFIRMED: ctl->unconfirmed = true; break;
	case OPT_LINES: ctl->lines = arg; break;
	case OPT_FOLLOW: ctl->follow = true; break;
	case OPT_ISSUE: ctl->issue = arg; break;
	case OPT_YES: ctl->yes = true; break;
	case OPT_ALL: ctl->all = true; break;
	case OPT_CSV: ctl->csv = true; break;
	case OPT_HTML: ctl->html = true; break;
	case OPT_BEFORE: ctl->before = arg; break;
	case OPT_DRY_RUN: ctl->dry_run = true; break;
	}
}

/* What the global options asked for besides settings. */
enum global_action { GLOBAL_GO_ON, GLOBAL_HELP, GLOBAL_VERSION };

static void
set_global(struct ctl *ctl, int opt, enum global_action *action)
{
	switch (opt) {
	case 'c': ctl->conf_path = optarg; break;
	case LONG_JSON: ctl->json = true; break;
	case 'h': *action = GLOBAL_HELP; break;
	case 'V': *action = GLOBAL_VERSION; break;
	}
}

/*
 * getopt_long's table and short options for the global options and the
 * command options in `opts` (all of them: ~0u). A command option's value
 * is LONG_COMMAND_OPTION + its index in command_options, or its letter.
 */
static void
option_table(unsigned opts, struct option *longopts, char *shorts, size_t shortsz)
{
	size_t n = N_GLOBAL, k;

	memcpy(longopts, global_options, sizeof(global_options));
	snprintf(shorts, shortsz, "%s", GLOBAL_SHORTS);
	k = strlen(shorts);
	for (size_t i = 0; i < N_COMMAND_OPTIONS; i++) {
		if (!(opts & command_options[i].bit))
			continue;
		longopts[n++] = (struct option){ command_options[i].name, command_options[i].has_arg,
			NULL, LONG_COMMAND_OPTION + (int)i };
		if (command_options[i].letter && k + 3 < shortsz) {
			shorts[k++] = command_options[i].letter;
			if (command_options[i].has_arg == required_argument)
				shorts[k++] = ':';
			shorts[k] = '\0';
		}
	}
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };
}

/* The OPT_* bit of a value getopt_long returned for a command option, else 0. */
static unsigned
command_option_bit(int opt)
{
	if (opt >= LONG_COMMAND_OPTION && opt < LONG_COMMAND_OPTION + (int)N_COMMAND_OPTIONS)
		return command_options[opt - LONG_COMMAND_OPTION].bit;
	for (size_t i = 0; i < N_COMMAND_OPTIONS; i++)
		if (command_options[i].letter && command_options[i].letter == opt)
			return command_options[i].bit;
	return 0;
}

/*
 * Finds the command: the first argument that is not an option or an
 * option's value. Knows every option, so that an unknown one is reported
 * here as before (getopt's message, the usage, EXIT_USAGE). Returns the
 * command's index in argv, argc when there is none, or -EXIT_USAGE.
 * Leaves argv as it was; -V and -h are noted in *action.
 */
static int
locate_command(int argc, char **argv, enum global_action *action)
{
	struct option longopts[N_GLOBAL + N_COMMAND_OPTIONS + 1];
	char shorts[32];
	char **copy = xcalloc((size_t)argc + 1, sizeof(*copy));
	struct ctl scratch = { 0 };
	int opt, at;

	memcpy(copy, argv, (size_t)argc * sizeof(*copy));
	option_table(~0u, longopts, shorts, sizeof(shorts));
	optind = 0;
	opterr = 1;
	while ((opt = getopt_long(argc, copy, shorts, longopts, NULL)) != -1) {
		if (opt == '?') {
			free(copy);
			return -EXIT_USAGE;
		}
		if (command_option_bit(opt) == 0)
			set_global(&scratch, opt, action);
	}
	at = argc;
	if (optind < argc) {
		/* the same string in the original argv: the permuted copy moved it */
		for (int i = 1; i < argc; i++)
			if (argv[i] == copy[optind]) {
				at = i;
				break;
			}
	}
	free(copy);
	return at;
}

/*
 * The command's own parse of argv (all of it: options may come before
 * the command) with the global options and its own. *first_arg is the
 * index of its first positional argument after the command's name.
 * Returns 0, or EXIT_USAGE after saying why.
 */
static int
parse_command_options(struct ctl *ctl, int argc, char **argv, int *first_arg,
    enum global_action *action)
{
	struct option longopts[N_GLOBAL + N_COMMAND_OPTIONS + 1];
	char shorts[32];
	int opt;

	option_table(ctl->cmd->opts, longopts, shorts, sizeof(shorts));
	optind = 0;		/* GNU: start afresh */
	opterr = 0;		/* every option is known (locate_command): this one is not the command's */
	while ((opt = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		unsigned bit = command_option_bit(opt);
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "distctl: %s does not take that option\n", ctl->cmd->name);
			return usage_error(ctl);
		}
		if (bit)
			set_option(ctl, bit, optarg);
		else
			set_global(ctl, opt, action);
	}
	/* argv[optind] is the command's name itself */
	*first_arg = optind + 1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { 0 };
	enum global_action action = GLOBAL_GO_ON;
	int rc, at, first_arg = 1;

	if ((at = locate_command(argc, argv, &action)) < 0) {
		usage(stderr);
		return -at;
	}
	if (action == GLOBAL_VERSION) {
		printf("distctl %s\n", DISTD_VERSION);
		return 0;
	}
	if (at == argc || strcmp(argv[at], "help") == 0) {
		bool asked = action == GLOBAL_HELP || at < argc;
		usage(asked ? stdout : stderr);
		return asked ? 0 : EXIT_USAGE;
	}
	ctl.cmd = find_command(argv[at]);
	if (ctl.cmd == NULL) {
		fprintf(stderr, "distctl: unknown command '%s'\n", argv[at]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (action == GLOBAL_HELP) {
		printf("usage: distctl %s%s%s [--json]\n  %s\n", ctl.cmd->name,
		    *ctl.cmd->args ? " " : "", ctl.cmd->args, ctl.cmd->help);
		return 0;
	}
	if ((rc = parse_command_options(&ctl, argc, argv, &first_arg, &action)) != 0)
		return rc;
	ctl.conf_path = conf_path(ctl.conf_path);
	rc = ctl.cmd->run(&ctl, argc - first_arg, argv + first_arg);
	ctl_free(&ctl);
	return rc;
}
