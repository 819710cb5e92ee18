#include "testutil.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "bulletin.h"
#include "extract.h"
#include "testpdf.h"
#include "xalloc.h"

/*
 * extract_document: the child, its limits and its reaping. The product
 * has no test hook: this program defines extract_docx and extract_ofd
 * itself (the linker then takes them instead of the library's), as
 * extractors that misbehave on command — the first word of the document
 * says how. PDF goes to the real extract_pdf.
 */

static int
misbehave(const unsigned char *data, size_t len, char **text, size_t *textlen,
    char *err, size_t errsz)
{
	char cmd[64];
	unsigned long n;
	int fd;

	snprintf(cmd, sizeof(cmd), "%.*s", (int)(len < 63 ? len : 63), (const char *)data);
	if (strcmp(cmd, "sleep") == 0) {
		for (;;)
			pause();	/* wall time, no CPU */
	} else if (strcmp(cmd, "spin") == 0) {
		for (volatile unsigned long i = 0;; i++)
			;		/* CPU time */
	} else if (strcmp(cmd, "balloon") == 0) {
		for (;;) {		/* as a library that allocates without bound */
			char *p = xmalloc(16u << 20);
			p[0] = 1;	/* address space, not RAM: gentle on the machine */
		}
	} else if (strcmp(cmd, "crash") == 0) {
		raise(SIGSEGV);
	} else if (strcmp(cmd, "term") == 0) {
		raise(SIGTERM);		/* as systemd stopping the service's cgroup */
	} else if (strcmp(cmd, "oom") == 0) {
		raise(SIGKILL);		/* as the kernel's OOM killer does */
	} else if (strcmp(cmd, "exit") == 0) {
		_exit(3);
	} else if (strcmp(cmd, "refuse") == 0) {
		snprintf(err, errsz, "refused by the test extractor");
		return -1;
	} else if (sscanf(cmd, "big:%lu", &n) == 1) {
		*text = xmalloc(n + 1);
		for (unsigned long i = 0; i < n; i++)
			(*text)[i] = (char)('a' + i % 26);
		(*text)[n] = '\0';
		*textlen = n;
		return 0;
	} else if (strcmp(cmd, "noisy") == 0) {
		for (int i = 0; i < 50; i++) {
			fprintf(stderr, "Syntax Error: noise from a library %d\n", i);
			printf("noise on stdout %d\n", i);
		}
		fflush(NULL);
	} else if (sscanf(cmd, "fd:%d", &fd) == 1) {
		*text = xstrdup(fcntl(fd, F_GETFD) < 0 ? "closed" : "open");
		*textlen = strlen(*text);
		return 0;
	}
	*text = xstrdup("quiet");
	*textlen = strlen(*text);
	return 0;
}

int
extract_docx(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz)
{
	(void)lim;
	return misbehave(data, len, text, textlen, err, errsz);
}

int
extract_ofd(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz)
{
	(void)lim;
	return misbehave(data, len, text, textlen, err, errsz);
}

/*
 * fork and pipe2 as the system refuses them (EAGAIN, EMFILE) while
 * fail_fork / fail_pipe is set; otherwise libc's (this program's symbols
 * come before libc's for extract_document).
 */
static int fail_fork, fail_pipe;

pid_t
fork(void)
{
	static pid_t (*real)(void);

	if (fail_fork) {
		errno = EAGAIN;
		return -1;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fork");
	return real();
}

int
pipe2(int fds[2], int flags)
{
	static int (*real)(int *, int);

	if (fail_pipe) {
		errno = EMFILE;
		return -1;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "pipe2");
	return real(fds, flags);
}

/* ---- helpers ------------------------------------------------------------- */

static unsigned forks;

static void
count_fork(void)
{
	forks++;
}

/* Children of this process in /proc, zombies included. */
static int
count_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512], *p;
		FILE *f;
		long ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == (long)getpid())
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
limits(struct extract_limits *lim)
{
	test_pdf_limits(lim);
	lim->max_seconds = 2;
	lim->max_memory = 512u << 20;
}

/* Runs the misbehaving extractor on cmd; returns the result of extract_document. */
static int
run(const char *cmd, const struct extract_limits *lim, char **text, size_t *textlen,
    char *err, size_t errsz)
{
	struct extract_limits def;
	int rc, fds;

	if (lim == NULL) {
		limits(&def);
		lim = &def;
	}
	err[0] = '\0';
	*text = (char *)1;
	fds = count_fds();
	rc = extract_document(EXTRACT_DOCX, (const unsigned char *)cmd, strlen(cmd), lim,
	    text, textlen, err, errsz);
	assert_int_equal(count_children(), 0);	/* reaped, no zombie */
	assert_int_equal(count_fds(), fds);	/* the pipe closed */
	if (rc < 0)
		assert_null(*text);
	return rc;
}

static void
expect_refusal(const char *cmd, const struct extract_limits *lim, const char *needle)
{
	char *text, err[512];
	size_t textlen;

	assert_int_equal(run(cmd, lim, &text, &textlen, err, sizeof(err)), -1);
	if (strstr(err, needle) == NULL)
		fail_msg("%s: error '%s' does not contain '%s'", cmd, err, needle);
}

/* ---- tests --------------------------------------------------------------- */

static void
test_pdf_seed(void **state)
{
	(void)state;
	struct extract_limits lim;
	size_t len, textlen, inlen;
	unsigned char *pdf = test_pdf_fixture("pdf", SEED_CAPITAL, &len);
	char *text, *intext, err[512];
	struct bulletin *b;

	test_pdf_limits(&lim);
	assert_int_equal(extract_document(EXTRACT_PDF, pdf, len, &lim, &text, &textlen,
	    err, sizeof(err)), 0);
	assert_int_equal(count_children(), 0);
	/* the same text as the extractor gives in this process */
	assert_int_equal(extract_pdf(pdf, len, &lim, &intext, &inlen, err, sizeof(err)), 0);
	assert_int_equal(textlen, inlen);
	assert_memory_equal(text, intext, inlen);
	assert_int_equal(text[textlen], '\0');
	assert_int_equal(bulletin_parse(text, textlen, NULL, 0, &b, err, sizeof(err)), 0);
	assert_string_equal(b->title, "首都精神文明建设情况简报");
	assert_int_equal(b->n_tiers, 3);
	bulletin_free(b);
	free(intext);
	free(text);
	free(pdf);
}

/* The extractor's own refusal comes back word for word. */
static void
test_pdf_refusal(void **state)
{
	(void)state;
	struct extract_limits lim;
	size_t len, textlen;
	unsigned char *pdf = test_pdf_fixture("encrypted", NULL, &len);
	char *text, err[512];

	test_pdf_limits(&lim);
	assert_int_equal(extract_document(EXTRACT_PDF, pdf, len, &lim, &text, &textlen,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "encrypted PDF: save it without a password");
	assert_null(text);
	assert_int_equal(count_children(), 0);
	free(pdf);
	expect_refusal("refuse", NULL, "refused by the test extractor");
}

static void
test_legacy_without_fork(void **state)
{
	(void)state;
	struct extract_limits lim;
	char *text, err[512];
	size_t textlen;
	unsigned before = forks;

	test_pdf_limits(&lim);
	assert_int_equal(extract_document(EXTRACT_LEGACY, (const unsigned char *)"\xd0\xcf",
	    2, &lim, &text, &textlen, err, sizeof(err)), -1);
	assert_string_equal(err, ".doc/.wps (old binary Word/WPS): save it as .docx or PDF "
	    "with text and drop it again");
	assert_null(text);
	assert_int_equal(extract_document(EXTRACT_UNKNOWN, (const unsigned char *)"xx", 2,
	    &lim, &text, &textlen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "save it as .docx or PDF with text"));
	assert_int_equal(extract_document(EXTRACT_TEXT, (const unsigned char *)"xx", 2,
	    &lim, &text, &textlen, err, sizeof(err)), -1);
	lim.max_input = 1;
	assert_int_equal(extract_document(EXTRACT_DOCX, (const unsigned char *)"xx", 2,
	    &lim, &text, &textlen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than the limit of 1 bytes"));
	assert_int_equal(forks, before);
	/* and the counter counts: a real call forks */
	expect_refusal("refuse", NULL, "refused");
	assert_int_equal(forks, before + 1);
}

/* No child or no pipe: not the document's fault, EXTRACT_AGAIN, no refusal. */
static void
test_no_child_is_temporary(void **state)
{
	(void)state;
	char *text, err[512];
	size_t textlen;
	unsigned before = forks;

	fail_fork = 1;
	assert_int_equal(run("quiet", NULL, &text, &textlen, err, sizeof(err)),
	    EXTRACT_AGAIN);
	fail_fork = 0;
	assert_non_null(strstr(err, "fork"));
	assert_non_null(strstr(err, strerror(EAGAIN)));
	fail_pipe = 1;
	assert_int_equal(run("quiet", NULL, &text, &textlen, err, sizeof(err)),
	    EXTRACT_AGAIN);
	fail_pipe = 0;
	assert_non_null(strstr(err, "pipe"));
	assert_int_equal(forks, before);
	/* and then it reads */
	assert_int_equal(run("quiet", NULL, &text, &textlen, err, sizeof(err)), 0);
	assert_string_equal(text, "quiet");
	free(text);
}

static void
test_wall_time(void **state)
{
	(void)state;
	time_t t0 = time(NULL);

	expect_refusal("sleep", NULL, "took more than 2 s (the limit)");
	/* a bound, not a timing: killed long before the test would hang */
	assert_true(time(NULL) - t0 < 30);
}

static void
test_cpu_time(void **state)
{
	(void)state;
	expect_refusal("spin", NULL, "took more than 2 s (the limit)");
}

static void
test_memory(void **state)
{
	(void)state;
#ifdef __SANITIZE_ADDRESS__
	skip();	/* no RLIMIT_AS under AddressSanitizer (extract_run.c) */
#endif
	struct extract_limits lim;

	limits(&lim);
	lim.max_memory = 256u << 20;
	expect_refusal("balloon", &lim, "ran out of the 256 MB memory limit");
}

static void
test_crash_and_exit(void **state)
{
	(void)state;
	expect_refusal("crash", NULL, "crashed (signal 11");
	expect_refusal("exit", NULL, "failed without a result (exit 3)");
	expect_refusal("oom", NULL, "ran out of memory: the system killed it before "
	    "its 512 MB limit");
}

/*
 * distd blocks SIGTERM for its signalfd; systemd's stop sends it to the
 * whole cgroup: the child finishes its document instead of dying, and
 * the issue is not refused for it (distd stops after the call).
 */
static void
test_stop_signal_waits(void **state)
{
	(void)state;
	sigset_t set, old;
	char *text, err[512];
	size_t textlen;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	int rc = run("term", NULL, &text, &textlen, err, sizeof(err));
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(text, "quiet");
	free(text);
}

/* More than a pipe holds at once; and a child that sends more than max_text. */
static void
test_big_text(void **state)
{
	(void)state;
	struct extract_limits lim;
	char *text, err[512];
	size_t textlen;

	assert_int_equal(run("big:1048576", NULL, &text, &textlen, err, sizeof(err)), 0);
	assert_int_equal(textlen, 1048576);
	assert_int_equal(strlen(text), textlen);
	assert_int_equal(text[1048575], 'a' + 1048575 % 26);
	free(text);
	limits(&lim);
	lim.max_text = 1000;
	expect_refusal("big:2000", &lim, "larger than the limit of 1000 bytes");
}

/* What libraries print in the child never reaches our stderr. */
static void
test_child_is_silent(void **state)
{
	(void)state;
	char path[] = "/tmp/distd-stderr-XXXXXX", *text, err[512];
	int fd = mkstemp(path), saved = dup(2);
	size_t textlen;
	struct stat st;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	int rc = run("noisy", NULL, &text, &textlen, err, sizeof(err));
	dup2(saved, 2);
	close(saved);
	assert_int_equal(rc, 0);
	assert_string_equal(text, "quiet");
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
	unlink(path);
	free(text);
}

/* Descriptors of the parent (the queue, sockets) are not the child's. */
static void
test_fds_closed(void **state)
{
	(void)state;
	int fd = dup2(0, 20);	/* no O_CLOEXEC: inherited by fork */
	char cmd[32], *text, err[512];
	size_t textlen;

	assert_int_equal(fd, 20);
	snprintf(cmd, sizeof(cmd), "fd:%d", fd);
	assert_int_equal(run(cmd, NULL, &text, &textlen, err, sizeof(err)), 0);
	assert_string_equal(text, "closed");
	free(text);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pdf_seed),
		cmocka_unit_test(test_pdf_refusal),
		cmocka_unit_test(test_legacy_without_fork),
		cmocka_unit_test(test_no_child_is_temporary),
		cmocka_unit_test(test_wall_time),
		cmocka_unit_test(test_cpu_time),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_crash_and_exit),
		cmocka_unit_test(test_stop_signal_waits),
		cmocka_unit_test(test_big_text),
		cmocka_unit_test(test_child_is_silent),
		cmocka_unit_test(test_fds_closed),
	};

	pthread_atfork(count_fork, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
