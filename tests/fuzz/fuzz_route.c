/* libFuzzer target: decode + parse + route against the example directory. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulletin.h"
#include "compose.h"
#include "conf.h"
#include "decode.h"
#include "route.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf *conf;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sbuf err = SBUF_INIT;

	(void)argc;
	(void)argv;
	if (conf_load("conf/distd.conf", 0, &conf, &err) < 0) {
		fprintf(stderr, "fuzz_route: run from the top folder: %s", sbuf_str(&err));
		abort();
	}
	sbuf_free(&err);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *text = NULL;
	size_t len;
	const char *enc;
	struct bulletin *b = NULL;

	if (decode_to_utf8((const char *)data, size, &text, &len, &enc, err, sizeof(err)) == 0 &&
	    bulletin_parse(text, len, conf->labels, conf->n_labels, &b, err, sizeof(err)) == 0) {
		struct route *r = route_resolve(conf, b);
		/* invariants: each address once, every recipient in a configured tier */
		for (size_t i = 0; i < r->n_recipients; i++) {
			if (r->recipients[i].tier >= conf->n_tiers)
				abort();
			if (i > 0 && r->recipients[i].tier < r->recipients[i - 1].tier)
				abort();
		}
		char *subject = compose_subject(conf->sender.subject, b);
		if (strpbrk(subject, "\r\n") != NULL)
			abort();
		free(subject);
		route_free(r);
	}
	bulletin_free(b);
	free(text);
	return 0;
}
