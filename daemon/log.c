#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbuf.h"
#include "xalloc.h"

static bool debugging;
static bool journal;	/* stderr goes to the journal: prefix priorities */
static int dlog_fd = -1;
static char *dlog_path;

void
log_init(bool debug)
{
	debugging = debug;
	journal = getenv("JOURNAL_STREAM") != NULL;
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

int
delivery_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return -1;
	if (dlog_fd >= 0)
		close(dlog_fd);
	dlog_fd = fd;
	if (dlog_path != path) {
		free(dlog_path);
		dlog_path = xstrdup(path);
	}
	return 0;
}

void
delivery_log_reopen(void)
{
	if (dlog_path && delivery_log_open(dlog_path) < 0)
		log_warn("delivery log %s", dlog_path);
}

void
delivery_log_close(void)
{
	if (dlog_fd >= 0)
		close(dlog_fd);
	dlog_fd = -1;
	free(dlog_path);
	dlog_path = NULL;
}

void
delivery_log_write_lines(const char *lines, size_t len)
{
	struct sbuf b = SBUF_INIT;

	if (len == 0)
		return;
	if (dlog_fd >= 0 && write(dlog_fd, lines, len) < 0)
		log_warn("delivery log");
	/* the same lines for the journal, prefixed as emit() does, in one write too */
	for (const char *p = lines, *end = lines + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (journal)
			sbuf_puts(&b, "<6>");
		else
			sbuf_puts(&b, "distd: ");
		sbuf_append(&b, p, n);
		sbuf_putc(&b, '\n');
		p += n + 1;
	}
	ssize_t unused = write(STDERR_FILENO, b.data, b.len);
	(void)unused;
	sbuf_free(&b);
}

void
delivery_log_write(const char *line)
{
	size_t n = strlen(line);
	char *buf = xmalloc(n + 1);

	memcpy(buf, line, n);
	buf[n] = '\n';
	if (dlog_fd >= 0 && write(dlog_fd, buf, n + 1) < 0)
		log_warn("delivery log");
	free(buf);
	log_info("%s", line);
}
