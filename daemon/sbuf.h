#ifndef DISTD_SBUF_H
#define DISTD_SBUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable, always NUL-terminated byte string.
 * Allocation failure is fatal (the daemon cannot do anything useful
 * without memory), so the append functions do not return errors.
 */
struct sbuf {
	char *data;	/* NULL until the first append; sbuf_str() never returns NULL */
	size_t len;
	size_t cap;
};

#define SBUF_INIT { NULL, 0, 0 }

void sbuf_append(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_putc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* The contents; "" for an empty buffer. Owned by the buffer. */
const char *sbuf_str(const struct sbuf *b);
/* Hands the contents to the caller (free() it) and empties the buffer. */
char *sbuf_steal(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
void sbuf_free(struct sbuf *b);

/* Allocation helpers that never return NULL (they abort on exhaustion). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
