/* libFuzzer target: configuration loading and validation from arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct sbuf err = SBUF_INIT;
	struct conf *c = NULL;

	if (fd < 0) {
		fd = memfd_create("distd-fuzz.conf", 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	if (conf_load(path, 0, &c, &err) == 0) {
		/* a loaded configuration is complete */
		if (c->smtp.url == NULL || c->sender.from_address == NULL || c->n_recipients == 0)
			abort();
		conf_free(c);
	} else if (err.len == 0) {
		abort();	/* a refusal always says why */
	}
	sbuf_free(&err);
	return 0;
}
