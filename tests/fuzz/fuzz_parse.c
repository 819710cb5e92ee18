/* libFuzzer target: decode + parse, the path every dropped file takes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bulletin.h"
#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *text = NULL;
	size_t len;
	const char *enc;
	struct bulletin *b = NULL;

	if (decode_to_utf8((const char *)data, size, &text, &len, &enc, err,
	    sizeof(err)) == 0) {
		if (bulletin_parse(text, len, NULL, 0, &b, err, sizeof(err)) == 0) {
			/* Every unit must be non-empty: routing relies on it. */
			for (size_t i = 0; i < b->n_tiers; i++)
				for (size_t j = 0; j < b->tiers[i].n_units; j++)
					if (b->tiers[i].units[j][0] == '\0')
						abort();
		}
		bulletin_free(b);
	}
	free(text);
	return 0;
}
