#ifndef DISTD_TESTUTIL_H
#define DISTD_TESTUTIL_H

/* Helpers shared by the unit tests (header-only; each test is one program). */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The seed bulletins are kept in tests/data/seeds (or $DISTD_SEEDS); tests run from the top folder. */
static inline char *
read_seed(const char *name, size_t *len)
{
	const char *dir = getenv("DISTD_SEEDS");
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data/seeds", name);
	f = fopen(path, "rb");
	if (f == NULL) {
		fail_msg("cannot open seed %s (set DISTD_SEEDS)", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

#define SEED_CAPITAL "000_320506797a6b7d3b.txt"
#define SEED_MENTOUGOU "003_b2bbb6446a891427.txt"

#include <unistd.h>
#include <sys/stat.h>

/* Writes content to a new temporary file with the given mode; returns its path (free it). */
static inline char *
write_temp(const char *content, mode_t mode)
{
	char *path = strdup("/tmp/distd-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	fchmod(fd, mode);
	close(fd);
	return path;
}

#endif
