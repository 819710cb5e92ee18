#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbuf.h"

static bool debugging;
static bool journal;	/* stderr goes to the journal: prefix priorities */

void
log_init(bool debug)
{
	debugging = debug;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

bool
log_to_journal(void)
{
	return journal;
}

static void
emit(int prio, const char *fmt, va_list ap, const char *suffix)
{
	struct sbuf b = SBUF_INIT;

	if (journal)
		sbuf_printf(&b, "<%d>", prio);
	else
		sbuf_puts(&b, "distd: ");
	sbuf_vprintf(&b, fmt, ap);
	if (suffix)
		sbuf_printf(&b, ": %s", suffix);
	sbuf_putc(&b, '\n');
	/* one write per line: concurrent lines never interleave */
	ssize_t unused = write(STDERR_FILENO, b.data, b.len);
	(void)unused;
	sbuf_free(&b);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(6, fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	const char *e = strerror(errno);
	va_start(ap, fmt);
	emit(4, fmt, ap, e);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(4, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;
	if (!debugging)
		return;
	va_start(ap, fmt);
	emit(7, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(2, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
