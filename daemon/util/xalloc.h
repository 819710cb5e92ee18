#ifndef DISTD_XALLOC_H
#define DISTD_XALLOC_H

#include <stddef.h>

/*
 * Allocation helpers that never return NULL.
 *
 * Exhaustion prints "distd: out of memory" to stderr and aborts: the
 * daemon cannot do anything useful without memory, and callers stay free
 * of error paths that could never be tested. A size of 0 allocates one
 * byte so that the result is always a freeable, distinct pointer.
 * Everything returned is the caller's to free().
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* xrealloc(p, n * size), aborting when the product overflows size_t. */
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
/* The first n bytes of s (which need not be NUL-terminated), terminated. */
char *xstrndup(const char *s, size_t n);

/* Called on exhaustion: reports and aborts. */
void xalloc_die(void) __attribute__((noreturn));

#endif
