/*
 * distd — bulletin distribution daemon: options, configuration check.
 *
 * Exit codes (sysexits.h): 0 ok, 1 invalid configuration, 64 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conf.h"
#include "sbuf.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: distd [-c FILE] [-f]\n"
	    "       distd [-c FILE] --check-config\n"
	    "  -c, --config FILE   configuration (default $DISTD_CONF, else %s)\n"
	    "  -f, --foreground    log to stderr (the daemon never forks itself)\n"
	    "      --check-config  validate the configuration, print a summary, exit 0/1\n",
	    CONF_DEFAULT_PATH);
}

static size_t
count_addresses(const struct conf *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_recipients; i++)
		n += c->recipients[i].n_addresses;
	return n;
}

static void
print_summary(const struct conf *c)
{
	printf("ok: %s\n", c->path);
	printf("  relay:      %s (%s%s)\n", c->smtp.url,
	    c->smtp.implicit_tls ? "implicit TLS" :
	    c->smtp.tls_none ? "NO TLS, loopback test relay" : "STARTTLS required",
	    c->smtp.username ? ", AUTH" : "");
	printf("  sender:     %s\n", c->sender.from);
	printf("  tiers:     ");
	for (size_t i = 0; i < c->n_tiers; i++) {
		printf(" %s(%s", c->tiers[i].keyword, conf_header_name(c->tiers[i].header));
		for (size_t j = 0; j < c->tiers[i].n_aliases; j++)
			printf(" %s", c->tiers[i].aliases[j]);
		printf(")");
	}
	printf("\n  recipients: %zu with %zu addresses\n", c->n_recipients,
	    count_addresses(c));
	printf("  groups:     %zu\n", c->n_groups);
	printf("  series:     %zu\n", c->n_series);
	printf("  unresolved: %s\n", c->on_unresolved == CONF_UNRESOLVED_HOLD ?
	    "hold the issue" : "send to what resolved, report the rest");
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int check = 0, opt;

	while ((opt = getopt_long(argc, argv, "c:fh", options, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'f': break;
		case 'C': check = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	config = conf_path(config);

	struct sbuf errors = SBUF_INIT;
	struct conf *c;
	if (conf_load(config, CONF_LOAD_SECRETS, &c, &errors) < 0) {
		fputs(sbuf_str(&errors), stderr);
		sbuf_free(&errors);
		return 1;
	}
	sbuf_free(&errors);
	if (check) {
		print_summary(c);
		conf_free(c);
		return 0;
	}
	conf_free(c);
	fprintf(stderr, "distd: the delivery loop is not part of this build yet; "
	    "only --check-config works\n");
	return 1;
}
