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
#include "decode.h"
#include "fileio.h"
#include "preview.h"
#include "sbuf.h"

#define EXIT_USAGE 2
#define EXIT_ATTENTION 3

/* Preview reads at most this much when no configuration says otherwise. */
#define PREVIEW_MAX_BYTES (64u << 20)

struct ctl {
	const char *conf_path;
	bool json;
};

static int
do_preview(struct ctl *ctl, int argc, char **argv)
{
	char err[512], *raw = NULL, *text = NULL;
	size_t raw_len, text_len;
	const char *encoding;
	struct bulletin *b = NULL;
	struct sbuf out = SBUF_INIT;
	int rc = 1;

	(void)ctl;
	if (argc != 1) {
		fprintf(stderr, "usage: distctl preview FILE [--json]\n");
		return EXIT_USAGE;
	}
	if (fileio_read_all(argv[0], PREVIEW_MAX_BYTES, 0, &raw, &raw_len,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s\n", err);
		goto out;
	}
	if (decode_to_utf8(raw, raw_len, &text, &text_len, &encoding, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s: %s\n", argv[0], err);
		goto out;
	}
	if (bulletin_parse(text, text_len, NULL, 0, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "distctl: %s: %s\n", argv[0], err);
		goto out;
	}
	if (ctl->json)
		preview_json(&out, b);
	else
		preview_text(&out, b);
	fputs(sbuf_str(&out), stdout);
	rc = 0;
out:
	sbuf_free(&out);
	bulletin_free(b);
	free(text);
	free(raw);
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
	if (ctl.conf_path == NULL)
		ctl.conf_path = getenv("DISTD_CONF");
	if (ctl.conf_path == NULL)
		ctl.conf_path = "/etc/distd/distd.conf";
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
