/*
 * distctl — show and steer distd's deliveries.
 *
 * Exit codes: 0 ok, 1 error, 2 usage, 3 something needs attention.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulletin.h"
#include "compose.h"
#include "conf.h"
#include "decode.h"
#include "fileio.h"
#include "preview.h"
#include "route.h"
#include "sbuf.h"

#define EXIT_USAGE 2
#define EXIT_ATTENTION 3

struct ctl {
	const char *conf_path;
	bool json;
};

/* Loads the configuration named by -c / $DISTD_CONF / the default; prints errors. */
static struct conf *
load_conf(const struct ctl *ctl, int flags)
{
	struct sbuf errors = SBUF_INIT;
	struct conf *c;

	if (conf_load(ctl->conf_path, flags, &c, &errors) < 0) {
		fprintf(stderr, "%s", sbuf_str(&errors));
		sbuf_free(&errors);
		return NULL;
	}
	sbuf_free(&errors);
	return c;
}

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

	if (argc != 1) {
		fprintf(stderr, "usage: distctl preview FILE [--json]\n");
		return EXIT_USAGE;
	}
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
	if (ctl->json)
		preview_json(&out, b, r, subject);
	else
		preview_text(&out, b, r, subject);
	fputs(sbuf_str(&out), stdout);
	rc = r->n_unresolved > 0 || r->hold_reason || b->classification ?
	    EXIT_ATTENTION : 0;
out:
	sbuf_free(&out);
	free(subject);
	route_free(r);
	bulletin_free(b);
	free(text);
	free(raw);
	conf_free(c);
	return rc;
}

static const struct command {
	const char *name;
	int (*run)(struct ctl *, int, char **);
	const char *usage;
} commands[] = {
	{ "preview", do_preview, "preview FILE      parse a bulletin without queueing it" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: distctl [-c FILE] COMMAND [--json] [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f, "\nThe configuration is -c FILE, else $DISTD_CONF, else "
	    "/etc/distd/distd.conf.\n");
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { NULL, false };
	char **rest;
	int nrest = 0;

	rest = xcalloc((size_t)argc + 1, sizeof(*rest));
	/* Options may stand anywhere (distctl status --json); the command's
	 * own arguments keep their order. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			ctl.json = true;
		} else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (++i == argc) {
				usage(stderr);
				free(rest);
				return EXIT_USAGE;
			}
			ctl.conf_path = argv[i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			if (nrest == 0) {
				usage(stdout);
				free(rest);
				return 0;
			}
			rest[nrest++] = argv[i];
		} else {
			rest[nrest++] = argv[i];
		}
	}
	ctl.conf_path = conf_path(ctl.conf_path);
	if (nrest == 0) {
		usage(stderr);
		free(rest);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(rest[0], commands[i].name) == 0) {
			int rc = commands[i].run(&ctl, nrest - 1, rest + 1);
			free(rest);
			return rc;
		}
	}
	fprintf(stderr, "distctl: unknown command '%s'\n", rest[0]);
	usage(stderr);
	free(rest);
	return EXIT_USAGE;
}
