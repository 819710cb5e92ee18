#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sbuf.h"
#include "xalloc.h"

int
fileio_read_all(const char *path, size_t max, int flags, char **data,
    size_t *len, char *err, size_t errsz)
{
	int nofollow = flags & FILEIO_NOFOLLOW;
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
	/*
	 * A second name of the same file is how a local user hands distd
	 * (root, or the distd user) a file it may read and they may not: a
	 * link to /etc/shadow dropped in an issue folder would be mailed.
	 */
	if ((flags & FILEIO_ONE_LINK) && st.st_nlink > 1) {
		snprintf(err, errsz, "%s: is one of %ju hard links to the same file; "
		    "distd reads only files that have no other name (drop a copy, "
		    "not a link)", path, (uintmax_t)st.st_nlink);
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

/* ---- moving across filesystems ------------------------------------------ */

/* Folders deeper than this are refused: every walk here is bounded. */
#define TREE_DEPTH 8
/* name, name.1 … name.9999: the names tried before a move gives up. */
#define MOVE_TRIES 10000

int
fileio_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
copy_file(const char *from, const char *to, const struct stat *st, char *err,
    size_t errsz)
{
	char buf[64 * 1024];
	int in, out;
	ssize_t r;

	in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0) {
		snprintf(err, errsz, "%s: %s", from, strerror(errno));
		return -1;
	}
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    (st->st_mode & 0777) | 0600);
	if (out < 0) {
		snprintf(err, errsz, "%s: %s", to, strerror(errno));
		close(in);
		return -1;
	}
	for (;;) {
		r = read(in, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errsz, "%s: %s", from, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		for (ssize_t done = 0; done < r;) {
			ssize_t w = write(out, buf + done, (size_t)(r - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				snprintf(err, errsz, "%s: %s", to, strerror(errno));
				goto fail;
			}
			done += w;
		}
	}
	/* the archive copy keeps the time the office wrote the file */
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	futimens(out, times);
	if (fsync(out) < 0) {
		snprintf(err, errsz, "%s: fsync: %s", to, strerror(errno));
		goto fail;
	}
	close(in);
	if (close(out) < 0) {
		snprintf(err, errsz, "%s: %s", to, strerror(errno));
		return -1;
	}
	return 0;
fail:
	close(in);
	close(out);
	return -1;
}

static int
copy_tree(const char *from, const char *to, int depth, char *err, size_t errsz)
{
	struct stat st;

	if (lstat(from, &st) < 0) {
		snprintf(err, errsz, "%s: %s", from, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode))
		return copy_file(from, to, &st, err, errsz);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(from, target, sizeof(target) - 1);
		if (n < 0) {
			snprintf(err, errsz, "%s: %s", from, strerror(errno));
			return -1;
		}
		target[n] = '\0';
		if (symlink(target, to) < 0) {
			snprintf(err, errsz, "%s: %s", to, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "%s: neither a file, a folder nor a link", from);
		return -1;
	}
	if (depth >= TREE_DEPTH) {
		snprintf(err, errsz, "%s: folders nested deeper than %d levels", from,
		    TREE_DEPTH);
		return -1;
	}
	if (mkdir(to, (st.st_mode & 0777) | 0700) < 0) {
		snprintf(err, errsz, "%s: %s", to, strerror(errno));
		return -1;
	}
	DIR *d = opendir(from);
	struct dirent *e;
	int rc = 0;
	if (d == NULL) {
		snprintf(err, errsz, "%s: %s", from, strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *f = NULL, *t = NULL;
		if (asprintf(&f, "%s/%s", from, e->d_name) < 0 ||
		    asprintf(&t, "%s/%s", to, e->d_name) < 0)
			fatal("out of memory");
		rc = copy_tree(f, t, depth + 1, err, errsz);
		free(f);
		free(t);
	}
	closedir(d);
	if (rc == 0 && fileio_fsync_dir(to) < 0) {
		snprintf(err, errsz, "%s: fsync: %s", to, strerror(errno));
		rc = -1;
	}
	return rc;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int
fileio_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	/* depth first, links not followed, never onto another mount */
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Renames tmp to to_dir/name, or name.N when taken; never overwrites. */
static int
rename_free_name(const char *tmp, const char *to_dir, const char *name, char **final)
{
	char to[4096];

	for (int i = 0; i < MOVE_TRIES; i++) {
		if (i == 0)
			snprintf(to, sizeof(to), "%s/%s", to_dir, name);
		else
			snprintf(to, sizeof(to), "%s/%s.%d", to_dir, name, i);
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
			*final = xstrdup(to);
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

int
fileio_move(const char *from_dir, const char *name, const char *to_dir, char **final,
    char *err, size_t errsz)
{
	char from[4096], tmp[4200], gone[4200];

	*final = NULL;
	snprintf(from, sizeof(from), "%s/%s", from_dir, name);
	if (rename_free_name(from, to_dir, name, final) == 0) {
		fileio_fsync_dir(to_dir);
		fileio_fsync_dir(from_dir);
		return 0;
	}
	if (errno != EXDEV) {
		snprintf(err, errsz, "cannot move %s into %s: %s", from, to_dir,
		    strerror(errno));
		return -1;
	}

	/*
	 * Another filesystem. Before copying anything, make sure the source
	 * can go afterwards: a copy that stays beside its source would pile
	 * up one more archived copy at every retry.
	 */
	if (faccessat(AT_FDCWD, from_dir, W_OK, AT_EACCESS) < 0) {
		snprintf(err, errsz, "cannot remove %s from %s after copying it: %s",
		    name, from_dir, strerror(errno));
		return -1;
	}
	/* dot names: nothing reads them, and they say what they are */
	snprintf(tmp, sizeof(tmp), "%s/.%s.distd-copy", to_dir, name);
	snprintf(gone, sizeof(gone), "%s/.%s.distd-moved", from_dir, name);
	fileio_remove_tree(tmp);	/* left by a crash during an earlier copy */
	if (copy_tree(from, tmp, 0, err, errsz) < 0) {
		size_t n = strlen(err);
		if (n + 1 < errsz)
			snprintf(err + n, errsz - n, " (copying %s into %s)", name, to_dir);
		fileio_remove_tree(tmp);
		return -1;
	}
	if (fileio_fsync_dir(to_dir) < 0 || rename_free_name(tmp, to_dir, name, final) < 0) {
		snprintf(err, errsz, "cannot put the copy of %s into %s: %s", name, to_dir,
		    strerror(errno));
		fileio_remove_tree(tmp);
		return -1;
	}
	if (fileio_fsync_dir(to_dir) < 0) {
		snprintf(err, errsz, "%s: fsync: %s", to_dir, strerror(errno));
		goto undo;
	}
	/*
	 * The copy is durable; now the source goes. A folder is first renamed
	 * to a dot name in one step, so that a crash while removing it leaves
	 * a name the outbox ignores rather than a half folder that would look
	 * like a new issue.
	 */
	fileio_remove_tree(gone);
	if (rename(from, gone) < 0) {
		snprintf(err, errsz, "cannot remove %s after copying it to %s: %s", from,
		    *final, strerror(errno));
		goto undo;
	}
	fileio_fsync_dir(from_dir);
	if (fileio_remove_tree(gone) < 0)
		log_warn("%s: archived as %s, but the leftover could not be removed",
		    gone, *final);
	fileio_fsync_dir(from_dir);
	return 0;
undo:
	fileio_remove_tree(*final);
	free(*final);
	*final = NULL;
	return -1;
}

void
fileio_move_cleanup(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	static const char suffix[] = ".distd-moved";

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] != '.' || n <= sizeof(suffix) ||
		    strcmp(e->d_name + n - (sizeof(suffix) - 1), suffix) != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/* only ever made after the copy was durable: safe to drop */
		if (fileio_remove_tree(path) < 0)
			log_warn("cannot remove the leftover %s", path);
	}
	closedir(d);
}
