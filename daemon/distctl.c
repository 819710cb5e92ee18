/*
 * distctl — show and steer distd's deliveries.
 *
 * Reads the queue directly (SQLite, concurrently with distd) and wakes a
 * running daemon through its control socket, so that changes act at once;
 * with the daemon down they take effect when it starts.
 *
 * Exit codes: 0 ok, 1 error, 2 usage, 3 something needs attention.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulletin.h"
#include "compose.h"
#include "conf.h"
#include "control.h"
#include "decode.h"
#include "fileio.h"
#include "issue.h"
#include "preflight.h"
#include "preview.h"
#include "queue.h"
#include "route.h"
#include "sbuf.h"
#include "status.h"

#define EXIT_USAGE 2
#define EXIT_ATTENTION 3

struct ctl {
	const char *conf_path;
	bool json;
	bool yes;
	struct conf *conf;
};

struct command {
	const char *name;
	int (*run)(struct ctl *, int, char **);
	const char *args;
	const char *help;
};

static const struct command *find_command(const char *name);

static int
usage_of(const char *name)
{
	const struct command *c = find_command(name);

	fprintf(stderr, "usage: distctl %s%s%s\n  %s\n", name, *c->args ? " " : "", c->args,
	    c->help);
	return EXIT_USAGE;
}

/* "--opt VALUE" style options out of argv; the rest stays in order. */
static bool
take_option(int *argc, char **argv, const char *name, const char **value)
{
	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], name) != 0)
			continue;
		if (value != NULL) {
			if (i + 1 >= *argc)
				return false;
			*value = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], sizeof(char *) * (size_t)(*argc - i - 2));
			*argc -= 2;
		} else {
			memmove(&argv[i], &argv[i + 1], sizeof(char *) * (size_t)(*argc - i - 1));
			*argc -= 1;
		}
		return true;
	}
	return false;
}

static bool
wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static struct conf *
load_conf(struct ctl *ctl, int flags)
{
	struct sbuf errors = SBUF_INIT;

	if (ctl->conf == NULL && conf_load(ctl->conf_path, flags, &ctl->conf, &errors) < 0) {
		fprintf(stderr, "%s", sbuf_str(&errors));
		ctl->conf = NULL;
	}
	sbuf_free(&errors);
	return ctl->conf;
}

static struct queue *
open_queue(struct ctl *ctl, bool write)
{
	struct queue *q;
	char err[1024];

	if (load_conf(ctl, 0) == NULL)
		return NULL;
	if (queue_open_mode(ctl->conf->state, write ? QUEUE_EXISTING : QUEUE_READONLY, &q,
	    err, sizeof(err)) < 0) {
		if (access(ctl->conf->state, F_OK) == 0 && access(ctl->conf->state,
		    write ? W_OK : R_OK) != 0)
			fprintf(stderr, "distctl: cannot %s the queue %s: permission denied "
			    "(are you in the distd group?)\n", write ? "change" : "read",
			    ctl->conf->state);
		else
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
	if (control_request(ctl->conf->control_socket, "ping", reply, sizeof(reply),
	    err, sizeof(err)) == 0) {
		long long since = 0;
		d->running = sscanf(reply, "ok %ld %lld", &d->pid, &since) >= 1;
		d->since = since;
	} else if (strstr(err, "Permission denied") != NULL) {
		fprintf(stderr, "distctl: cannot reach the daemon: %s (are you in the "
		    "distd group?)\n", err);
	}
}

/* Asks a running daemon to act now; says so when there is none. */
static void
wake(const struct ctl *ctl)
{
	char reply[256], err[512];

	if (control_request(ctl->conf->control_socket, "wake", reply, sizeof(reply),
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
	char err[512], *raw = NULL, *text = NULL, *subject = NULL;
	size_t raw_len, text_len;
	const char *encoding;
	struct bulletin *b = NULL;
	struct route *r = NULL;
	struct conf *c;
	struct sbuf out = SBUF_INIT;
	int rc = 1;

	if (argc != 1)
		return usage_of("preview");
	if ((c = load_conf(ctl, 0)) == NULL)
		return 1;
	if (fileio_read_all(argv[0], (size_t)c->limits.max_issue_bytes, 0, &raw,
	    &raw_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		goto out;
	}
	if (decode_to_utf8(raw, raw_len, &text, &text_len, &encoding, err,
	    sizeof(err)) < 0 ||
	    bulletin_parse(text, text_len, c->labels, c->n_labels, &b, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s: %s\n", argv[0], err);
		goto out;
	}
	r = route_resolve(c, b);
	subject = compose_subject(c->sender.subject, b);
	char why[1024];
	enum issue_verdict verdict = issue_check_marks(c, b, why, sizeof(why));
	const char *vname = issue_verdict_name(verdict);
	if (ctl->json)
		preview_json(&out, b, r, subject, vname, why);
	else
		preview_text(&out, b, r, subject, vname, why);
	fputs(sbuf_str(&out), stdout);
	rc = r->n_unresolved > 0 || r->hold_reason || verdict != ISSUE_SEND ?
	    EXIT_ATTENTION : 0;
out:
	sbuf_free(&out);
	free(subject);
	route_free(r);
	bulletin_free(b);
	free(text);
	free(raw);
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

/* Prints a finished report, or the error that stopped it; frees out. Returns 0 or 1. */
static int
print_report(int rc, struct sbuf *out, const char *err)
{
	if (rc < 0)
		fprintf(stderr, "distctl: %s\n", err);
	else
		fputs(sbuf_str(out), stdout);
	sbuf_free(out);
	return rc < 0 ? 1 : 0;
}

static int
do_status(struct ctl *ctl, int argc, char **argv)
{
	struct queue *q;
	struct status_daemon d;
	struct status_style style = style_for(ctl);
	struct sbuf out = SBUF_INIT;
	char err[512];
	bool attention;
	int rc;

	(void)argv;
	if (argc != 0)
		return usage_of("status");
	if (load_conf(ctl, 0) == NULL)
		return 1;
	daemon_state(ctl, &d);
	if ((q = open_queue(ctl, false)) == NULL) {
		if (!d.running)
			fprintf(stderr, "distd is not running\n");
		return 1;
	}
	rc = status_report(&out, q, ctl->conf, &d, &style, ctl->json, &attention, err,
	    sizeof(err));
	queue_close(q);
	if (print_report(rc, &out, err) != 0)
		return 1;
	return attention || !d.running ? EXIT_ATTENTION : 0;
}

static int
do_show(struct ctl *ctl, int argc, char **argv)
{
	const char *state = NULL;
	struct status_style style = style_for(ctl);
	struct sbuf out = SBUF_INIT;
	struct queue *q;
	char err[512];
	int64_t id;
	int rc;

	take_option(&argc, argv, "--state", &state);
	if (argc != 1 || !parse_issue(argv[0], &id))
		return usage_of("show");
	if ((q = open_queue(ctl, false)) == NULL)
		return 1;
	rc = status_show(&out, q, id, state, &style, ctl->json, err, sizeof(err));
	queue_close(q);
	return print_report(rc, &out, err);
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
	const char *n_arg = "20", *issue_arg = NULL;
	bool follow;
	struct queue *q;
	int64_t after = 0, issue = 0;
	char err[512];

	take_option(&argc, argv, "-n", &n_arg);
	take_option(&argc, argv, "--issue", &issue_arg);
	follow = take_option(&argc, argv, "-f", NULL);
	long n = atol(n_arg);
	if (argc != 0 || n <= 0 || (issue_arg && !parse_issue(issue_arg, &issue)))
		return usage_of("log");
	if ((q = open_queue(ctl, false)) == NULL)
		return 1;
	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	do {
		struct sbuf out = SBUF_INIT;
		if (status_log(&out, q, &after, follow && after ? 1000 : n, issue, ctl->json,
		    err, sizeof(err)) < 0) {
			fprintf(stderr, "distctl: %s\n", err);
			sbuf_free(&out);
			queue_close(q);
			return 1;
		}
		fputs(sbuf_str(&out), stdout);
		fflush(stdout);
		sbuf_free(&out);
		if (follow && !interrupted)
			sleep(1);
	} while (follow && !interrupted);
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

static int
steer(struct ctl *ctl, const char *name, int argc, char **argv)
{
	const char *tier = NULL, *to = NULL;
	struct queue *q;
	char err[512], what[64];
	int64_t id = 0;
	int changed;

	if (strcmp(name, "resend") == 0) {
		take_option(&argc, argv, "--tier", &tier);
		take_option(&argc, argv, "--to", &to);
	}
	if (argc != 1 || (!(strcmp(name, "retry") == 0 && strcmp(argv[0], "all") == 0) &&
	    !parse_issue(argv[0], &id)))
		return usage_of(name);
	if (strcmp(name, "cancel") == 0) {
		snprintf(what, sizeof(what), "Cancel issue %lld", (long long)id);
		if (!confirm(ctl, what)) {
			printf("nothing cancelled\n");
			return 1;
		}
	}
	if ((q = open_queue(ctl, true)) == NULL)
		return 1;
	int64_t now = (int64_t)time(NULL);
	if (strcmp(name, "hold") == 0)
		changed = queue_hold(q, id, "held with distctl hold", err, sizeof(err));
	else if (strcmp(name, "cancel") == 0)
		changed = queue_cancel(q, id, now, err, sizeof(err));
	else if (strcmp(name, "retry") == 0)
		changed = queue_retry(q, id, now, err, sizeof(err));
	else
		changed = queue_resend(q, id, tier, to, now, err, sizeof(err));
	queue_close(q);
	if (changed < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		return 1;
	}
	if (ctl->json)
		printf("{\"command\":\"%s\",\"issue\":%lld,\"recipients\":%d}\n", name,
		    (long long)id, changed);
	else
		printf("%s: %d recipient%s\n", name, changed, changed == 1 ? "" : "s");
	wake(ctl);
	if (strcmp(name, "resend") == 0 && changed == 0) {
		fprintf(stderr, "distctl: nothing to resend (only delivered or failed "
		    "recipients are sent again)\n");
		return 1;
	}
	return 0;
}

static int do_hold(struct ctl *c, int n, char **v) { return steer(c, "hold", n, v); }
static int do_cancel(struct ctl *c, int n, char **v) { return steer(c, "cancel", n, v); }
static int do_retry(struct ctl *c, int n, char **v) { return steer(c, "retry", n, v); }
static int do_resend(struct ctl *c, int n, char **v) { return steer(c, "resend", n, v); }

struct rerender {
	const struct conf *c;
	const struct bulletin *b;
	const struct route *r;
	const char *subject;
	const struct queue_source *src;
	int64_t id;
};

/*
 * release on an issue held before any attempt routes it again with the
 * current configuration (the admin's fix — a new alias, a reload — takes
 * effect), then sends to everything that resolves and reports the rest.
 */
static int
release_rerouted(struct ctl *ctl, struct queue *q, int64_t id, struct queue_source *src)
{
	struct conf *c = ctl->conf;
	struct bulletin *b = NULL;
	struct route *r = NULL;
	char err[512], *subject = NULL, *msg = NULL;
	size_t len;
	int rc = 1;

	if (bulletin_parse(src->text, strlen(src->text), c->labels, c->n_labels, &b, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "distctl: issue %lld: %s\n", (long long)id, err);
		return 1;
	}
	/* an issue held before distd knew its mark (an older parser) stays unsent */
	if (issue_check_marks(c, b, err, sizeof(err)) == ISSUE_REFUSE) {
		fprintf(stderr, "distctl: issue %lld is not released: %s\n", (long long)id, err);
		return 1;
	}
	r = route_resolve(c, b);
	if (r->n_recipients == 0) {
		fprintf(stderr, "distctl: issue %lld still resolves to nobody: %s\n",
		    (long long)id, r->hold_reason ? r->hold_reason : "no recipients");
		goto out;
	}
	subject = compose_subject(c->sender.subject, b);
	struct queue_recipient_in *rin = issue_recipients(c, r);
	struct compose_attachment *att = xcalloc(src->n_attachments + 1, sizeof(*att));
	for (size_t i = 0; i < src->n_attachments; i++)
		att[i] = (struct compose_attachment){ src->attachments[i].name,
		    src->attachments[i].data, src->attachments[i].len };
	msg = issue_render(c, b, r, subject, src->message_id, id, src->received, att,
	    src->n_attachments, &len, err, sizeof(err));
	if (msg == NULL || queue_reroute(q, id, rin, r->n_recipients, msg, len,
	    (int64_t)time(NULL), err, sizeof(err)) < 0)
		fprintf(stderr, "distctl: %s\n", err);
	else {
		printf("release: issue %lld routed again: %zu recipient%s\n", (long long)id,
		    r->n_recipients, r->n_recipients == 1 ? "" : "s");
		for (size_t i = 0; i < r->n_unresolved; i++)
			printf("  still unresolved, not sent: %s\n", r->unresolved[i]);
		rc = r->n_unresolved ? EXIT_ATTENTION : 0;
	}
	free(rin);
	free(att);
out:
	free(msg);
	free(subject);
	route_free(r);
	bulletin_free(b);
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
	if ((q = open_queue(ctl, true)) == NULL)
		return 1;
	if (queue_load_source(q, id, &src, err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		queue_close(q);
		return 1;
	}
	if (strcmp(src.state, "held") != 0) {
		fprintf(stderr, "distctl: issue %lld is %s, not held\n", (long long)id, src.state);
		rc = 1;
	} else if (src.tried == 0 && src.text != NULL) {
		rc = release_rerouted(ctl, q, id, &src);
	} else {
		int n = queue_release(q, id, (int64_t)time(NULL), err, sizeof(err));
		if (n < 0)
			fprintf(stderr, "distctl: %s\n", err);
		else
			printf("release: %d recipient%s\n", n, n == 1 ? "" : "s");
		rc = n < 0;
	}
	queue_source_free(&src);
	queue_close(q);
	if (rc != 1)
		wake(ctl);
	return rc;
}

static int
do_reload(struct ctl *ctl, int argc, char **argv)
{
	char reply[600], err[512];

	(void)argv;
	if (argc != 0)
		return usage_of("reload");
	if (load_conf(ctl, 0) == NULL)
		return 1;
	if (control_request(ctl->conf->control_socket, "reload", reply, sizeof(reply),
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: cannot reach distd: %s\n", err);
		return 1;
	}
	if (strncmp(reply, "ok", 2) != 0) {
		fprintf(stderr, "distctl: distd kept its configuration: %s\n",
		    strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		return 1;
	}
	printf("configuration reloaded\n");
	return 0;
}

static int
do_check(struct ctl *ctl, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return usage_of("check");
	if (load_conf(ctl, CONF_LOAD_SECRETS) == NULL)
		return 1;
	return preflight_run(ctl->conf, stdout) == 0 ? 0 : 1;
}

static const struct command commands[] = {
	{ "status", do_status, "", "queue counts, alerts and recent issues" },
	{ "show", do_show, "ISSUE [--state STATE]", "one issue and every recipient" },
	{ "preview", do_preview, "FILE", "parse and route a bulletin without queueing it" },
	{ "log", do_log, "[-n N] [-f] [--issue ID]", "recent delivery attempts (-f follows)" },
	{ "retry", do_retry, "ISSUE|all", "try deferred recipients now" },
	{ "hold", do_hold, "ISSUE", "stop sending an issue until released" },
	{ "release", do_release, "ISSUE", "send a held issue (routing it again if never tried)" },
	{ "cancel", do_cancel, "ISSUE [--yes]", "stop an issue for good" },
	{ "resend", do_resend, "ISSUE [--tier T] [--to ADDRESS]", "send an issue again" },
	{ "reload", do_reload, "", "make distd re-read its configuration" },
	{ "check", do_check, "", "preflight the relay: DNS, connect, TLS, EHLO, AUTH" },
};

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: distctl [-c FILE] COMMAND [--json] [ARGS]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char left[64];
		snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].args);
		fprintf(f, "  %-40s %s\n", left, commands[i].help);
	}
	fprintf(f, "\nThe configuration is -c FILE, else $DISTD_CONF, else %s.\n"
	    "Exit: 0 ok, 1 error, 2 usage, 3 needs attention. See distctl(1).\n",
	    CONF_DEFAULT_PATH);
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { NULL, false, false, NULL };
	char **rest;
	int nrest = 0, rc;

	rest = xcalloc((size_t)argc + 1, sizeof(*rest));
	/* --json, --yes and -c may stand anywhere; the rest keeps its order */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			ctl.json = true;
		} else if (strcmp(argv[i], "--yes") == 0 || strcmp(argv[i], "-y") == 0) {
			ctl.yes = true;
		} else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (++i == argc) {
				usage(stderr);
				free(rest);
				return EXIT_USAGE;
			}
			ctl.conf_path = argv[i];
		} else {
			rest[nrest++] = argv[i];
		}
	}
	ctl.conf_path = conf_path(ctl.conf_path);
	if (nrest == 0 || strcmp(rest[0], "--help") == 0 || strcmp(rest[0], "-h") == 0 ||
	    strcmp(rest[0], "help") == 0) {
		usage(nrest ? stdout : stderr);
		free(rest);
		return nrest ? 0 : EXIT_USAGE;
	}
	const struct command *cmd = find_command(rest[0]);
	if (cmd == NULL) {
		fprintf(stderr, "distctl: unknown command '%s'\n", rest[0]);
		usage(stderr);
		free(rest);
		return EXIT_USAGE;
	}
	if (wants_help(nrest - 1, rest + 1)) {
		printf("usage: distctl %s%s%s [--json]\n  %s\n", cmd->name, *cmd->args ? " " : "",
		    cmd->args, cmd->help);
		free(rest);
		return 0;
	}
	rc = cmd->run(&ctl, nrest - 1, rest + 1);
	conf_free(ctl.conf);
	free(rest);
	return rc;
}
