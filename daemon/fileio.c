#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbuf.h"

int
fileio_read_all(const char *path, size_t max, int nofollow, char **data,
    size_t *len, char *err, size_t errsz)
{
	struct stat st;
	char *buf = NULL;
	size_t have = 0;
	int fd;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		if (errno == ELOOP && nofollow)
			snprintf(err, errsz, "%s: is a symbolic link; "
			    "drop the file itself, not a link to it", path);
		else
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > max) {
		snprintf(err, errsz, "%s: %lld bytes is larger than the limit "
		    "of %zu bytes (limits.max_issue_bytes)", path,
		    (long long)st.st_size, max);
		goto fail;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	for (;;) {
		size_t room = (size_t)st.st_size - have;
		ssize_t r;

		if (room == 0) {
			/* The file may have grown since fstat; one probe byte. */
			char probe;
			r = read(fd, &probe, 1);
			if (r > 0) {
				snprintf(err, errsz, "%s: changed while being read", path);
				goto fail;
			}
		} else {
			r = read(fd, buf + have, room);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	buf[have] = '\0';
	close(fd);
	*data = buf;
	*len = have;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}
