#ifndef DISTD_FILEIO_H
#define DISTD_FILEIO_H

#include <stddef.h>

/*
 * Reads a whole regular file into memory (NUL-terminated; caller frees).
 * With nofollow, a symbolic link is refused (O_NOFOLLOW). Files larger
 * than max bytes are refused without being read. Returns 0, or -1 with a
 * message naming the path in err.
 */
int fileio_read_all(const char *path, size_t max, int nofollow, char **data,
    size_t *len, char *err, size_t errsz);

#endif
