/*
 * Unit tests for daemon/ctl/preflight.c (distctl check) against a scripted SMTP
 * server on 127.0.0.1 in a child process, plain text (smtp.tls = "none"),
 * and against a port nobody listens on.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "conf.h"
#include "log.h"
#include "preflight.h"
#include "testqueue.h"

/* A listening socket on 127.0.0.1 at a free port; returns the fd and sets *port. */
static int
listen_loopback(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * The child: one session, a reply per command; rcpt_reply for RCPT TO.
 * alarm() bounds it in time should the client never come or never quit.
 */
static pid_t
serve_one_session(int lfd, const char *rcpt_reply)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	alarm(20);
	int c = accept(lfd, NULL, NULL);
	FILE *in = c >= 0 ? fdopen(c, "r") : NULL;
	char line[512];
	if (in == NULL)
		_exit(2);
	dprintf(c, "220 relay.example.test ESMTP\r\n");
	for (int turns = 0; turns < 50 && fgets(line, sizeof(line), in) != NULL; turns++) {
		if (strncasecmp(line, "EHLO", 4) == 0)
			dprintf(c, "250-relay.example.test\r\n250 SIZE 10240000\r\n");
		else if (strncasecmp(line, "RCPT", 4) == 0)
			dprintf(c, "%s\r\n", rcpt_reply);
		else if (strncasecmp(line, "QUIT", 4) == 0) {
			dprintf(c, "221 2.0.0 bye\r\n");
			_exit(0);
		} else
			dprintf(c, "250 2.0.0 ok\r\n");
	}
	_exit(1);
}

static struct conf *
conf_for_port(int port)
{
	struct sbuf text = SBUF_INIT;
	struct conf *c;

	sbuf_printf(&text, "smtp = { url = \"smtp://127.0.0.1:%d\"; tls = \"none\"; timeout = 5; };\n"
	    "sender = { from = \"bulletin@example.test\"; admin = \"postmaster@example.test\"; };\n"
	    "recipients = ( { name = \"中央文明办\"; address = \"office@wmb.example.test\"; } );\n",
	    port);
	c = test_conf_load(sbuf_str(&text));
	sbuf_free(&text);
	return c;
}

/* Runs preflight_run into memory; returns its result and the lines (free them). */
static int
run_preflight(const struct conf *c, char **lines)
{
	size_t len;
	FILE *out = open_memstream(lines, &len);

	assert_non_null(out);
	int rc = preflight_run(c, out);
	fclose(out);
	return rc;
}

static int
child_status(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_every_step_passes_and_ends_with_quit(void **state)
{
	(void)state;
	int port, lfd = listen_loopback(&port);
	pid_t pid = serve_one_session(lfd, "250 2.1.5 ok");
	struct conf *c = conf_for_port(port);
	char *lines;

	assert_int_equal(run_preflight(c, &lines), 0);
	assert_non_null(strstr(lines, "connect  ok: 127.0.0.1 port"));
	assert_non_null(strstr(lines, "tls      none:"));
	assert_non_null(strstr(lines, "ehlo     ok:"));
	assert_non_null(strstr(lines, "auth     skipped: no smtp.username"));
	assert_non_null(strstr(lines, "rcpt     ok:"));
	assert_null(strstr(lines, "FAILED"));
	/* the server saw QUIT: no bare probe a relay logs as a lost connection */
	assert_int_equal(child_status(pid), 0);
	free(lines);
	conf_free(c);
	close(lfd);
}

static void
test_refused_admin_fails_where_delivery_would(void **state)
{
	(void)state;
	int port, lfd = listen_loopback(&port);
	pid_t pid = serve_one_session(lfd, "550 5.7.1 relaying denied");
	struct conf *c = conf_for_port(port);
	char *lines;

	assert_int_equal(run_preflight(c, &lines), -1);
	assert_non_null(strstr(lines, "rcpt     FAILED: 550 5.7.1 relaying denied (sender.admin)"));
	assert_int_equal(child_status(pid), 0);
	free(lines);
	conf_free(c);
	close(lfd);
}

static void
test_nobody_listening_fails_at_connect(void **state)
{
	(void)state;
	int port, lfd = listen_loopback(&port);
	close(lfd);	/* the port is free again: nothing answers there */
	struct conf *c = conf_for_port(port);
	char *lines;

	assert_int_equal(run_preflight(c, &lines), -1);
	assert_non_null(strstr(lines, "dns      ok: 127.0.0.1"));
	assert_non_null(strstr(lines, "connect  FAILED: 127.0.0.1 port"));
	assert_null(strstr(lines, "ehlo     ok"));
	free(lines);
	conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_step_passes_and_ends_with_quit),
		cmocka_unit_test(test_refused_admin_fails_where_delivery_would),
		cmocka_unit_test(test_nobody_listening_fails_at_connect),
	};
	signal(SIGPIPE, SIG_IGN);
	log_init(false);
	return cmocka_run_group_tests_name("preflight", tests, NULL, NULL);
}
