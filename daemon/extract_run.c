#include "extract.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "xalloc.h"

/*
 * extract_document: the extractors run in a forked child, so that a
 * document that makes poppler, libzip or libxml2 loop, crash or balloon
 * costs a refusal and never the daemon.
 *
 * The child sets its limits (RLIMIT_AS, RLIMIT_CPU, no core), points
 * stdin/stdout/stderr at /dev/null (what the libraries print about a bad
 * file is noise in the journal; the reason comes back in our message),
 * closes every other descriptor it inherited (the queue, sockets, the
 * signalfd), runs the extractor and writes one frame to a pipe:
 *
 *	struct frame_head, then len bytes: the text (status 0) or the error.
 *
 * The parent reads it with poll bounded by max_seconds of wall time, then
 * kills the child with SIGKILL if it is still there and reaps it by its
 * PID only: distd leaves SIGCHLD at its default and never waits for any
 * child (its signalfd does not take SIGCHLD), so nobody else reaps ours,
 * and a waitpid(-1) elsewhere would be the bug to fix there.
 *
 * The child of a threaded daemon: fork copies only the calling thread;
 * glibc's fork leaves malloc usable in the child, and the extractors use
 * nothing the other threads (SMTP transport) hold locks of.
 */

#define FRAME_OK	0u
#define FRAME_ERROR	1u
#define ERROR_MAX	4096	/* an error message is short; more is a broken child */

struct frame_head {
	uint32_t status;
	uint32_t pad;
	uint64_t len;
};

typedef int (*extractor)(const unsigned char *, size_t, const struct extract_limits *,
    char **, size_t *, char *, size_t);

static const char *
doc_name(enum extract_format f)
{
	switch (f) {
	case EXTRACT_DOCX:
		return "Word document";
	case EXTRACT_PDF:
		return "PDF";
	case EXTRACT_OFD:
		return "OFD document";
	default:
		return "document";
	}
}

/* "1 GB", "512 MB", "65536 bytes" */
static void
size_words(size_t n, char *buf, size_t bufsz)
{
	if (n >= (1u << 30) && n % (1u << 30) == 0)
		snprintf(buf, bufsz, "%zu GB", n >> 30);
	else if (n >= (1u << 20) && n % (1u << 20) == 0)
		snprintf(buf, bufsz, "%zu MB", n >> 20);
	else
		snprintf(buf, bufsz, "%zu bytes", n);
}

static int
write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
set_limit(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit r = { soft, hard };

	(void)setrlimit(resource, &r);
}

/* The child: never returns. Only its frame and its exit status speak. */
static void __attribute__((noreturn))
run_child(pid_t parent, int wfd, extractor fn, const unsigned char *data, size_t len,
    const struct extract_limits *lim)
{
	struct frame_head h = { FRAME_OK, 0, 0 };
	char err[ERROR_MAX] = "", *text = NULL;
	size_t textlen = 0;
	sigset_t set;
	int null;

	/*
	 * The signals of a crash, an abort or a limit kill the child, whatever
	 * handler a library or a test harness installed in the parent. The
	 * ones distd blocks for its signalfd (TERM, INT, HUP, USR1) stay
	 * blocked: systemd's stop sends SIGTERM to the whole cgroup, and the
	 * document being read must not turn into a refusal for it; the child
	 * ends within max_seconds anyway, and dies with distd (PDEATHSIG).
	 */
	static const int sigs[] = {
		SIGXCPU, SIGPIPE, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
	};
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		signal(sigs[i], SIG_DFL);
		sigaddset(&set, sigs[i]);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(124);	/* the parent is gone already */

	/* the pipe on 3, /dev/null on 0-2, nothing else open */
	if (wfd != 3) {
		if (dup2(wfd, 3) < 0)
			_exit(126);
		wfd = 3;
	}
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	close_range(4, ~0U, 0);

	set_limit(RLIMIT_CORE, 0, 0);
	/* SIGXCPU at the soft limit, SIGKILL a second later at the hard one */
	set_limit(RLIMIT_CPU, lim->max_seconds, (rlim_t)lim->max_seconds + 1);
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer reserves terabytes of shadow address space: under
	 * SANITIZE=1 any address-space limit would fail every allocation */
	if (lim->max_memory > 0)
		set_limit(RLIMIT_AS, lim->max_memory, lim->max_memory);
#endif

	if (fn(data, len, lim, &text, &textlen, err, sizeof(err)) < 0) {
		h.status = FRAME_ERROR;
		h.len = strnlen(err, sizeof(err) - 1);
		if (h.len == 0) {
			snprintf(err, sizeof(err), "the document cannot be read");
			h.len = strlen(err);
		}
		if (write_all(wfd, &h, sizeof(h)) < 0 || write_all(wfd, err, h.len) < 0)
			_exit(125);
	} else {
		h.len = textlen;
		if (write_all(wfd, &h, sizeof(h)) < 0 || write_all(wfd, text, textlen) < 0)
			_exit(125);
	}
	_exit(0);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads the frame from fd until EOF or the deadline. Returns 1 at EOF, 0
 * at the deadline, -1 on a read error or a payload larger than allowed
 * (max_text bytes of text, ERROR_MAX of error).
 */
static int
read_frame(int fd, long long deadline, struct frame_head *h, bool *have_head,
    char **payload, size_t *got, size_t max_text)
{
	size_t head_got = 0;

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		if (!*have_head) {
			r = read(fd, (char *)h + head_got, sizeof(*h) - head_got);
			if (r > 0 && (head_got += (size_t)r) == sizeof(*h)) {
				*have_head = true;
				if (h->len > (h->status == FRAME_OK ? max_text : ERROR_MAX))
					return -1;
				*payload = xmalloc((size_t)h->len + 1);
			}
		} else {
			char sink[512];
			size_t want = (size_t)h->len - *got;

			/* past the frame: read and drop, the child is misbehaving */
			r = want > 0 ? read(fd, *payload + *got, want) : read(fd, sink, sizeof(sink));
			if (r > 0 && want > 0)
				*got += (size_t)r;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 1;
	}
}

/*
 * Waits for pid until the deadline, then kills it. Returns its wait
 * status, or -1 when it cannot be had (ECHILD: someone set SIGCHLD to be
 * ignored). *killed says whether we killed it.
 */
static int
reap(pid_t pid, long long deadline, bool *killed)
{
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return status;
		if (w < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	*killed = true;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

int
extract_document(enum extract_format f, const unsigned char *data, size_t len,
    const struct extract_limits *lim, char **text, size_t *textlen, char *err,
    size_t errsz)
{
	struct frame_head h = { 0, 0, 0 };
	extractor fn;
	char *payload = NULL, mem[32];
	size_t got = 0;
	bool have_head = false, killed = false;
	long long deadline;
	int fds[2], rd, status, ret = -1;
	pid_t pid, parent;

	*text = NULL;
	*textlen = 0;
	switch (f) {
	case EXTRACT_DOCX:
		fn = extract_docx;
		break;
	case EXTRACT_PDF:
		fn = extract_pdf;
		break;
	case EXTRACT_OFD:
		fn = extract_ofd;
		break;
	case EXTRACT_LEGACY:
		snprintf(err, errsz, ".doc/.wps (old binary Word/WPS): save it as .docx or "
		    "PDF with text and drop it again");
		return -1;
	case EXTRACT_TEXT:
		snprintf(err, errsz, "not a document: a text issue is read as text");
		return -1;
	default:
		snprintf(err, errsz, "not a document distd can read (Word .docx, PDF with "
		    "text or OFD): save it as .docx or PDF with text and drop it again");
		return -1;
	}
	if (len > lim->max_input) {
		snprintf(err, errsz, "%s of %zu bytes: more than the limit of %zu bytes",
		    doc_name(f), len, lim->max_input);
		return -1;
	}

	/* the system's trouble, not the document's: EXTRACT_AGAIN */
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errsz, "cannot read the %s now: pipe: %s", doc_name(f),
		    strerror(errno));
		return EXTRACT_AGAIN;
	}
	deadline = now_ms() + (long long)lim->max_seconds * 1000;
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		snprintf(err, errsz, "cannot read the %s now: fork: %s", doc_name(f),
		    strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return EXTRACT_AGAIN;
	}
	if (pid == 0) {
		close(fds[0]);
		run_child(parent, fds[1], fn, data, len, lim);
	}
	close(fds[1]);

	rd = read_frame(fds[0], deadline, &h, &have_head, &payload, &got, lim->max_text);
	close(fds[0]);
	/* after EOF the child is exiting; give it the rest of the bound */
	status = reap(pid, rd == 1 ? deadline : 0, &killed);

	size_words(lim->max_memory, mem, sizeof(mem));
	if (have_head && got == h.len && rd == 1) {
		payload[got] = '\0';
		if (h.status == FRAME_OK) {
			*text = payload;
			*textlen = got;
			payload = NULL;
			ret = 0;
		} else {
			snprintf(err, errsz, "%s", payload);
		}
	} else if (rd == -1 && have_head) {
		snprintf(err, errsz, "reading the %s gave a result larger than the limit "
		    "of %zu bytes", doc_name(f), h.status == FRAME_OK ? lim->max_text :
		    (size_t)ERROR_MAX);
	} else if (rd == -1) {
		snprintf(err, errsz, "cannot read the %s: the result pipe failed",
		    doc_name(f));
	} else if (rd == 0 || killed || (status != -1 && WIFSIGNALED(status) &&
	    WTERMSIG(status) == SIGXCPU)) {
		snprintf(err, errsz, "reading the %s took more than %u s (the limit): "
		    "it was stopped", doc_name(f), lim->max_seconds);
	} else if (status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) {
		/* every allocation failure ends in abort(): xalloc, GLib,
		 * poppler's gmem, C++'s bad_alloc; with RLIMIT_AS that is the limit */
		snprintf(err, errsz, "reading the %s ran out of the %s memory limit",
		    doc_name(f), mem);
	} else if (status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		/* not ours, and before the wall-clock bound, which comes before the
		 * hard CPU limit's SIGKILL: the kernel's OOM killer */
		snprintf(err, errsz, "reading the %s ran out of memory: the system "
		    "killed it before its %s limit", doc_name(f), mem);
	} else if (status != -1 && WIFSIGNALED(status)) {
		snprintf(err, errsz, "reading the %s crashed (signal %d, %s): the file "
		    "is damaged or hostile", doc_name(f), WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	} else if (status != -1 && WIFEXITED(status)) {
		snprintf(err, errsz, "reading the %s failed without a result (exit %d)",
		    doc_name(f), WEXITSTATUS(status));
	} else {
		snprintf(err, errsz, "reading the %s failed without a result",
		    doc_name(f));
	}
	free(payload);
	return ret;
}
