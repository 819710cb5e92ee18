#ifndef DISTD_SBUF_H
#define DISTD_SBUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable, always NUL-terminated byte string.
 * Allocation failure is fatal (xalloc.h: the daemon cannot do anything useful
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

#endif
