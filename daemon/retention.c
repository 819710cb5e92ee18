/* Retention: file each old finished issue's record, then delete its rows. */
#include "retention.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "record.h"
#include "sbuf.h"

void
retention_record_name(char *buf, size_t n, const struct queue_record *r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	const char *mid = r->message_id ? r->message_id : "";
	char day[16] = "00000000";
	time_t t = (time_t)r->received;
	struct tm tm;

	if (localtime_r(&t, &tm) != NULL)
		strftime(day, sizeof(day), "%Y%m%d", &tm);
	if (EVP_Digest(mid, strlen(mid), md, &len, EVP_sha256(), NULL) != 1 || len < 4)
		memset(md, 0, 4);
	snprintf(buf, n, "%lld-%s-%02x%02x%02x%02x", (long long)r->id, day, md[0], md[1],
	    md[2], md[3]);
}

/* write(2) until done; 0 or -1 (errno) */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * dir/name holds data once this returns 0: a temporary file of this
 * process is written and fsynced, then renamed over name, so a crash
 * leaves the old file or the new one, never half. The rename is durable
 * once the caller fsyncs dir (once for both files of a record).
 */
static int
write_atomic(const char *dir, const char *name, const struct sbuf *data, char *err,
    size_t errsz)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		snprintf(err, errsz, "%s: cannot create: %s", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, sbuf_str(data), data->len) < 0 || fsync(fd) < 0) {
		snprintf(err, errsz, "%s: cannot write: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errsz, "%s: cannot put in place: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * archive/records, made group-writable (2770, like the state folder):
 * distd and an admin's distctl purge both rename records into it.
 */
static int
records_dir(const char *archive, char *dir, size_t n, char *err, size_t errsz)
{
	snprintf(dir, n, "%s/records", archive);
	if (mkdir(dir, 02770) == 0) {
		if (chmod(dir, 02770) < 0) {
			snprintf(err, errsz, "%s: chmod: %s", dir, strerror(errno));
			return -1;
		}
		fileio_fsync_dir(archive);
	} else if (errno != EEXIST) {
		snprintf(err, errsz, "%s: cannot create the records folder: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
retention_write_record(const char *archive, const struct queue_record *r, char *err,
    size_t errsz)
{
	char dir[PATH_MAX], base[128], name[160];
	struct sbuf b = SBUF_INIT;
	int rc;

	if (records_dir(archive, dir, sizeof(dir), err, errsz) < 0)
		return -1;
	retention_record_name(base, sizeof(base), r);
	/* the CSV first: the HTML's presence says the record is complete */
	record_csv(&b, r);
	snprintf(name, sizeof(name), "%s.csv", base);
	rc = write_atomic(dir, name, &b, err, errsz);
	sbuf_reset(&b);
	if (rc == 0) {
		record_html(&b, r);
		snprintf(name, sizeof(name), "%s.html", base);
		rc = write_atomic(dir, name, &b, err, errsz);
	}
	sbuf_free(&b);
	/* before any row goes, both names are on disk */
	if (rc == 0 && fileio_fsync_dir(dir) < 0) {
		snprintf(err, errsz, "%s: cannot sync the folder: %s", dir, strerror(errno));
		rc = -1;
	}
	return rc;
}

int
retention_slice(struct queue *q, const char *archive, int64_t before, size_t slice,
    bool dry_run, struct queue_purge_cursor *cur, struct retention_tally *t,
    char *err, size_t errsz)
{
	struct queue_purge_family *f = NULL;
	size_t n = 0, deleted = 0;

	if (queue_purge_list(q, before, slice, cur, &f, &n, err, errsz) < 0)
		return -1;
	for (size_t i = 0; i < n && !dry_run; i++) {
		for (size_t m = 0; m < f[i].n; m++) {
			struct queue_record *r;
			if (queue_record_read(q, f[i].ids[m], &r, err, errsz) < 0)
				goto fail;
			int rc = retention_write_record(archive, r, err, errsz);
			t->recipients += r->n_recipients;
			queue_record_free(r);
			if (rc < 0)
				goto fail;
		}
	}
	if (!dry_run && n > 0 && queue_purge_delete(q, f, n, before, &deleted, err,
	    errsz) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		t->families++;
		if (dry_run)
			t->issues += f[i].n;
		if (t->oldest == 0 || f[i].received < t->oldest)
			t->oldest = f[i].received;
		if (f[i].received > t->newest)
			t->newest = f[i].received;
	}
	/* what went, not what was listed: a family resent since the list stays */
	t->issues += deleted;
	queue_purge_families_free(f, n);
	return 0;
fail:
	queue_purge_families_free(f, n);
	return -1;
}

int
retention_step(struct retention *r, struct queue *q, const char *archive, long history,
    int64_t now)
{
	char err[1024];

	if (history <= 0)
		return -1;
	if (!r->running && now < r->next) {
		int64_t wait = r->next - now;
		return wait > INT_MAX / 1000 ? INT_MAX : (int)(wait * 1000);
	}
	if (!r->running) {
		memset(&r->cur, 0, sizeof(r->cur));
		memset(&r->tally, 0, sizeof(r->tally));
		r->before = now - history;
		r->running = true;
	}
	if (retention_slice(q, archive, r->before, RETENTION_SLICE, false, &r->cur,
	    &r->tally, err, sizeof(err)) < 0) {
		/* tried again at the next pass: the rows stay, nothing is lost */
		log_warnx("retention: %s", err);
		r->cur.end = true;
	}
	if (!r->cur.end)
		return 0;
	if (r->tally.issues > 0)
		log_info("retention: %zu finished issue%s older than %ld days left the queue "
		    "(records in %s/records)", r->tally.issues, r->tally.issues == 1 ? "" : "s",
		    history / 86400, archive);
	r->running = false;
	r->next = now + RETENTION_PERIOD;
	return RETENTION_PERIOD * 1000;
}
