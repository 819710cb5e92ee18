#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int
address(const char *path, struct sockaddr_un *sa, char *err, size_t errsz)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		snprintf(err, errsz, "%s: path too long for a socket", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

int
control_listen(const char *path, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	int fd;

	if (address(path, &sa, err, errsz) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	/* a socket left by a crashed distd: nobody answers on it */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		snprintf(err, errsz, "%s: another distd is running", path);
		close(fd);
		return -1;
	}
	unlink(path);
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	chmod(path, 0660);
	return fd;
}

int
control_read_request(int fd, char *line, size_t linesz)
{
	struct timeval tv = { 1, 0 };
	size_t n = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n + 1 < linesz) {
		ssize_t r = read(fd, line + n, 1);
		if (r <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return n > 0 ? 0 : -1;
}

int
control_request(const char *path, const char *cmd, char *reply, size_t replysz,
    char *err, size_t errsz)
{
	struct sockaddr_un sa;
	struct timeval tv = { 10, 0 };
	char line[256];
	size_t n = 0;
	int fd;

	if (address(path, &sa, err, errsz) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(fd, line, strlen(line)) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while (n + 1 < replysz) {
		ssize_t r = read(fd, reply + n, replysz - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	reply[n] = '\0';
	while (n > 0 && (reply[n - 1] == '\n' || reply[n - 1] == '\r'))
		reply[--n] = '\0';
	close(fd);
	if (n == 0) {
		snprintf(err, errsz, "%s: no reply", path);
		return -1;
	}
	return 0;
}

void
control_health_format(const struct control_health *h, char *buf, size_t bufsz)
{
	char e[sizeof(h->error)];

	if (!h->unreachable) {
		snprintf(buf, bufsz, "ok queue connected\n");
		return;
	}
	/* one line: the reply ends at the first newline */
	snprintf(e, sizeof(e), "%s", h->error);
	for (char *p = e; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	snprintf(buf, bufsz, "ok queue unreachable since=%" PRId64 " next=%ld error=%s\n",
	    h->since, h->next, e);
}

int
control_health_parse(const char *reply, struct control_health *h)
{
	static const char up[] = "ok queue connected", down[] = "ok queue unreachable ";
	const char *e;
	long long since;
	long next;

	memset(h, 0, sizeof(*h));
	if (strcmp(reply, up) == 0)
		return 0;
	if (strncmp(reply, down, sizeof(down) - 1) != 0 ||
	    sscanf(reply + sizeof(down) - 1, "since=%lld next=%ld", &since, &next) != 2 ||
	    (e = strstr(reply, " error=")) == NULL)
		return -1;
	h->unreachable = true;
	h->since = since;
	h->next = next;
	snprintf(h->error, sizeof(h->error), "%s", e + 7);
	return 0;
}
