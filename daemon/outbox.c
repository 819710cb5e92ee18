#include "outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fileio.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"

#include "bulletin.h"
#include "compose.h"
#include "decode.h"
#include "issue.h"
#include "route.h"

bool
outbox_ignored_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' || (n >= 4 && strcmp(name + n - 4, ".tmp") == 0) ||
	    (n >= 5 && strcmp(name + n - 5, ".part") == 0);
}

static bool
is_issue_text(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (strcasecmp(dot, ".txt") == 0 || strcasecmp(dot, ".md") == 0);
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, mode) < 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

/* This node's claim folder in the outbox: outbox/.node-NODE. */
static void
claim_dir(const struct conf *c, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s/%s%s", c->outbox, OUTBOX_CLAIM_PREFIX,
	    c->node ? c->node : "");
}

int
outbox_prepare(const struct conf *c, char *err, size_t errsz)
{
	char claims[4096];
	const char *dirs[] = { c->outbox, c->archive, c->rejected, claims };
	size_t n = c->outbox_shared ? 4 : 3;

	claim_dir(c, claims, sizeof(claims));
	for (size_t i = 0; i < n; i++)
		if (mkdir_p(dirs[i], 0750) < 0) {
			snprintf(err, errsz, "%s: %s", dirs[i], strerror(errno));
			return -1;
		}
	return 0;
}

/*
 * Where a name of outbox_list is: ENTRY in the outbox itself, or
 * ".node-NODE/ENTRY" in this node's claim folder. Sets dir and *entry;
 * false for anything else (another node's claim folder, a deeper path).
 */
static bool
locate(const struct conf *c, const char *name, char *dir, size_t dirsz,
    const char **entry)
{
	const char *slash = strchr(name, '/');
	size_t plen = strlen(OUTBOX_CLAIM_PREFIX);

	if (slash == NULL) {
		snprintf(dir, dirsz, "%s", c->outbox);
		*entry = name;
		return true;
	}
	if (c->node == NULL || strncmp(name, OUTBOX_CLAIM_PREFIX, plen) != 0 ||
	    (size_t)(slash - name) != plen + strlen(c->node) ||
	    strncmp(name + plen, c->node, strlen(c->node)) != 0 ||
	    strchr(slash + 1, '/') != NULL || slash[1] == '\0')
		return false;
	claim_dir(c, dir, dirsz);
	*entry = slash + 1;
	return true;
}

/*
 * Claims outbox/NAME for this node (shared outbox): one rename(2) into
 * the claim folder, which never replaces anything. Returns 0 when claimed,
 * 1 when the name is gone (another node claimed it first, or it was
 * removed), -1 with msg when it stays in the outbox for a retry.
 */
static int
claim(const struct conf *c, const char *name, struct sbuf *msg)
{
	char dir[4096], from[4096], to[8200];

	claim_dir(c, dir, sizeof(dir));
	snprintf(from, sizeof(from), "%s/%s", c->outbox, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	for (int tries = 0;; tries++) {
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
			break;
		int e = errno;
		struct stat st;
		/* ENOENT is also a claim folder removed by hand: made again once */
		if (e == ENOENT && tries == 0 && lstat(dir, &st) < 0 && errno == ENOENT &&
		    mkdir(dir, 0750) == 0)
			continue;
		if (e == ENOENT)
			return 1;
		if (e == EEXIST)
			sbuf_printf(msg, "%s: not claimed yet, will retry: the claim folder "
			    "%s still holds an entry of that name, which is ingested first",
			    name, dir);
		else
			sbuf_printf(msg, "%s: not claimed yet, will retry: cannot rename it "
			    "into %s: %s", name, dir, strerror(e));
		return -1;
	}
	/* durable before anything is queued from it: a claim lost in a crash
	 * would leave the name in the outbox beside its archived copy */
	fileio_fsync_dir(dir);
	fileio_fsync_dir(c->outbox);
	return 0;
}

/*
 * Moves dir/NAME (dir: the outbox or the claim folder) into
 * archive/YYYY/MM/ (another filesystem too: see fileio_move). Sets
 * *final, or err.
 */
static int
archive(const struct conf *c, const char *dir_from, const char *name, int64_t now,
    char **final, char *err, size_t errsz)
{
	char dir[4096];
	struct tm tm;
	time_t t = (time_t)now;

	*final = NULL;
	localtime_r(&t, &tm);
	snprintf(dir, sizeof(dir), "%s/%04d/%02d", c->archive, tm.tm_year + 1900,
	    tm.tm_mon + 1);
	if (mkdir_p(dir, 0750) < 0) {
		snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	return fileio_move(dir_from, name, dir, final, err, errsz);
}

/* Writes text to path atomically (temporary file, fsync, rename). */
static int
write_file_atomic(const char *path, const char *text)
{
	char tmp[4200];
	int fd;
	size_t n = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

/* Moves dir/NAME to rejected/ with NAME.reason beside it. */
static enum outbox_result
reject(const struct conf *c, const char *dir, const char *name, const char *reason,
    struct sbuf *msg)
{
	char *final = NULL, err[1024];
	struct sbuf text = SBUF_INIT, path = SBUF_INIT;

	if (fileio_move(dir, name, c->rejected, &final, err, sizeof(err)) < 0) {
		sbuf_printf(msg, "%s: %s (and it could not be moved to %s: %s)", name,
		    reason, c->rejected, err);
		return OUTBOX_RETRY;
	}
	sbuf_printf(&text, "%s\n\nThe issue was refused and nothing was sent. Correct "
	    "it and drop it into the outbox again (%s).\n", reason, c->outbox);
	sbuf_printf(&path, "%s.reason", final);
	if (write_file_atomic(sbuf_str(&path), sbuf_str(&text)) < 0)
		log_warn("cannot write %s", sbuf_str(&path));
	sbuf_printf(msg, "%s rejected: %s (see %s)", name, reason, sbuf_str(&path));
	free(final);
	sbuf_free(&text);
	sbuf_free(&path);
	return OUTBOX_REJECTED;
}

/* ---- reading an issue ---------------------------------------------------- */

/* Extensions of the documents an issue may be (legacy ones to say what to do). */
static bool
is_document_name(const char *name)
{
	static const char *const ext[] = { ".docx", ".pdf", ".ofd", ".doc", ".wps" };
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(ext) / sizeof(ext[0]); i++)
		if (strcasecmp(dot, ext[i]) == 0)
			return true;
	return false;
}

void
outbox_issue_free(struct outbox_issue *is)
{
	free(is->main_name);
	free(is->text);
	for (size_t i = 0; i < is->n_att; i++) {
		free((char *)is->att[i].name);
		free((char *)is->att[i].data);
	}
	free(is->att);
	memset(is, 0, sizeof(*is));
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The entries of a folder in name order, without the ones the drop
 * protocol ignores (dotfiles, .tmp, .part). Caller frees.
 */
static int
list_names(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*names = NULL;
	*n = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (outbox_ignored_name(e->d_name))
			continue;
		*names = xreallocarray(*names, *n + 1, sizeof(**names));
		(*names)[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(*names, *n, sizeof(**names), cmp_str);
	return 0;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * A document named as an attachment: 附件 ("attachment"), the way official
 * documents number theirs (附件1、附件2). It never is a folder's main file,
 * so that an office can send its Word issue with PDF attachments and no
 * text file.
 */
static bool
is_marked_attachment(const char *name)
{
	return strncmp(name, "附件", strlen("附件")) == 0;
}

/*
 * Which entry of a folder is the issue: its one .txt/.md; without one,
 * its one document not named 附件…. -1 with why when there is none or no
 * way to choose.
 */
static int
main_of_folder(char **names, size_t n, size_t *main, char *why, size_t whysz)
{
	size_t n_text = 0, n_doc = 0, text = 0, doc = 0;

	for (size_t i = 0; i < n; i++) {
		if (is_issue_text(names[i])) {
			if (n_text++ == 0)
				text = i;
			else if (n_text == 2) {
				snprintf(why, whysz, "the folder holds more than one issue "
				    "text (%s and %s); it must hold exactly one .txt or .md "
				    "file", names[text], names[i]);
				return -1;
			}
		} else if (is_document_name(names[i]) && !is_marked_attachment(names[i]) &&
		    n_doc++ == 0) {
			doc = i;
		}
	}
	if (n_text == 1) {
		*main = text;	/* documents beside a text are its attachments */
		return 0;
	}
	if (n_doc == 1) {
		*main = doc;
		return 0;
	}
	if (n_doc == 0) {
		snprintf(why, whysz, "the folder holds no issue text (.txt or .md) and "
		    "no document (.docx, .pdf, .ofd; files named 附件… are attachments) "
		    "to read the issue from");
		return -1;
	}
	struct sbuf list = SBUF_INIT;
	for (size_t i = 0; i < n; i++)
		if (!is_issue_text(names[i]) && is_document_name(names[i]) &&
		    !is_marked_attachment(names[i]))
			sbuf_printf(&list, "%s%s", list.len ? ", " : "", names[i]);
	snprintf(why, whysz, "the folder holds no issue text and %zu documents (%s): "
	    "distd cannot tell which one is the issue. Choose: keep the issue's "
	    "document as it is and rename the others to start with 附件 (附件1.pdf …) "
	    "to send them as its attachments, or add the issue as a .txt file, with "
	    "which every document is an attachment", n_doc, sbuf_str(&list));
	sbuf_free(&list);
	return -1;
}

/* Reads one file of an issue, bounded by what is left of the issue's limit. */
static int
read_bounded(const struct conf *c, const char *path, int flags, size_t *total,
    char **data, size_t *len, char *why, size_t whysz)
{
	size_t max = (size_t)c->limits.max_issue_bytes;
	int ff = (flags & OUTBOX_READ_STRICT) ? FILEIO_NOFOLLOW | FILEIO_ONE_LINK : 0;

	/* no links in the daemon: a symbolic or hard link to a file it may
	 * read would mail it (it runs as root or distd, not as the user who
	 * dropped the issue) */
	if (fileio_read_all(path, max > *total ? max - *total : 0, ff, data, len, why,
	    whysz) < 0)
		return -1;
	*total += *len;
	return 0;
}

/*
 * The duplicate check's key of a document issue: its bytes (not the
 * extracted text, which a better extractor may change), then each other
 * attachment as issue_digest takes them; tagged so that it never equals
 * a text issue's.
 */
static void
digest_document(const char *data, size_t len, const struct attachment *att,
    size_t n_att, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char head[64];

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	snprintf(head, sizeof(head), "distd document %zu:", len);
	EVP_DigestUpdate(ctx, head, strlen(head));
	EVP_DigestUpdate(ctx, data, len);
	for (size_t i = 0; i < n_att; i++) {
		EVP_DigestUpdate(ctx, att[i].name, strlen(att[i].name) + 1);
		snprintf(head, sizeof(head), "%zu:", att[i].len);
		EVP_DigestUpdate(ctx, head, strlen(head));
		EVP_DigestUpdate(ctx, att[i].data, att[i].len);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

/*
 * The text of the main file: decoded, or extracted from a document and
 * then decoded as a text file is (the extractors' text is UTF-8 with '\t'
 * between a table row's cells and '\f' between pages: decode keeps both,
 * and the parser reads them as spaces). -1 with why, or EXTRACT_AGAIN
 * with why when the document could not be read for now.
 */
static int
main_text(const char *name, const char *raw, size_t raw_len, struct outbox_issue *is,
    char *why, size_t whysz)
{
	char err[1024], *extracted = NULL;
	size_t extracted_len = 0;
	struct extract_limits lim;
	int rc;

	is->format = extract_sniff(name, (const unsigned char *)raw, raw_len);
	if (is->format == EXTRACT_TEXT) {
		if (decode_to_utf8(raw, raw_len, &is->text, &is->text_len, &is->encoding,
		    err, sizeof(err)) < 0) {
			snprintf(why, whysz, "%s: cannot decode the text: %s", name, err);
			return -1;
		}
		return 0;
	}
	/* the document is read whole under limits.max_issue_bytes already
	 * (it is attached, so the issue's bound is the document's); the
	 * extractor's own bounds apply to what it unpacks */
	extract_limits_default(&lim);
	if ((rc = extract_document(is->format, (const unsigned char *)raw, raw_len, &lim,
	    &extracted, &extracted_len, err, sizeof(err))) < 0) {
		snprintf(why, whysz, "%s (%s): %s", name, extract_format_name(is->format),
		    err);
		return rc == EXTRACT_AGAIN ? EXTRACT_AGAIN : -1;
	}
	rc = decode_to_utf8(extracted, extracted_len, &is->text, &is->text_len,
	    &is->encoding, err, sizeof(err));
	free(extracted);
	if (rc < 0) {
		snprintf(why, whysz, "%s (%s): the extracted text cannot be read: %s",
		    name, extract_format_name(is->format), err);
		return -1;
	}
	return 0;
}

int
outbox_read_issue(const struct conf *c, const char *path, int flags,
    struct outbox_issue *is, char *why, size_t whysz)
{
	char **names = NULL, *raw = NULL, p[8200];
	size_t n = 0, main = 0, total = 0, raw_len = 0;
	const char *base = strrchr(path, '/');
	struct stat st;
	int rc = -1;

	memset(is, 0, sizeof(*is));
	base = base ? base + 1 : path;
	if (((flags & OUTBOX_READ_STRICT) ? lstat(path, &st) : stat(path, &st)) < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		is->folder = true;
		if (list_names(path, &names, &n) < 0) {
			snprintf(why, whysz, "the folder cannot be read: %s", strerror(errno));
			return -1;
		}
		if (main_of_folder(names, n, &main, why, whysz) < 0)
			goto out;
		if (n - 1 > (size_t)c->limits.max_attachments) {
			snprintf(why, whysz, "%zu attachments; the limit is %d "
			    "(limits.max_attachments)", n - 1, c->limits.max_attachments);
			goto out;
		}
	} else if (S_ISREG(st.st_mode)) {
		if (!is_issue_text(base) && !is_document_name(base)) {
			snprintf(why, whysz, "not an issue file: an issue is a .txt or .md "
			    "file, a .docx, .pdf or .ofd document, or a folder holding one "
			    "with its attachments");
			return -1;
		}
		names = xcalloc(1, sizeof(*names));
		names[0] = xstrdup(base);
		n = 1;
	} else {
		snprintf(why, whysz, "neither a regular file nor a folder");
		return -1;
	}
	is->main_name = xstrdup(names[main]);
	/* the main file first: a document is the first attachment */
	snprintf(p, sizeof(p), "%s%s%s", is->folder ? path : "", is->folder ? "/" : "",
	    is->folder ? names[main] : path);
	if (read_bounded(c, p, flags, &total, &raw, &raw_len, why, whysz) < 0)
		goto out;
	is->raw_len = raw_len;
	if ((rc = main_text(names[main], raw, raw_len, is, why, whysz)) < 0)
		goto out;
	rc = -1;
	is->att = xcalloc(n + 1, sizeof(*is->att));
	if (is->format != EXTRACT_TEXT) {
		is->att[0] = (struct attachment){ xstrdup(names[main]), raw, raw_len };
		is->n_att = 1;
		raw = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char *data;
		size_t len;
		if (i == main)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		if (read_bounded(c, p, flags, &total, &data, &len, why, whysz) < 0)
			goto out;
		is->att[is->n_att++] = (struct attachment){ xstrdup(names[i]), data, len };
	}
	if (is->format == EXTRACT_TEXT)
		issue_digest(is->text, is->text_len, is->att, is->n_att, is->sha256);
	else
		digest_document(is->att[0].data, is->att[0].len, is->att + 1,
		    is->n_att - 1, is->sha256);
	rc = 0;
out:
	free(raw);
	free_names(names, n);
	if (rc < 0)
		outbox_issue_free(is);
	return rc;
}

/* ---- enqueueing ------------------------------------------------------- */

/*
 * Archives the source of a committed issue and records where it went.
 * With done (the sentence of a fresh enqueue) msg gets that sentence;
 * without, this is a source left behind earlier. Returns OUTBOX_ARCHIVED,
 * or OUTBOX_UNARCHIVED when the source had to stay in the outbox.
 */
static enum outbox_result
finish_archive(const struct conf *c, struct queue *q, const char *dir, const char *name,
    const char *hash, int64_t id, int64_t now, struct sbuf *msg, const char *done)
{
	char *final = NULL, err[1024], qerr[512];

	/* Crash tests kill the daemon exactly here, between commit and archive. */
	if (done != NULL && getenv("DISTD_TEST_KILL_AFTER_ENQUEUE") != NULL)
		raise(SIGKILL);
	if (archive(c, dir, name, now, &final, err, sizeof(err)) < 0) {
		if (done)
			sbuf_printf(msg, "%s; but ", done);
		else
			sbuf_printf(msg, "%s: already queued as issue %lld, but ", name,
			    (long long)id);
		sbuf_printf(msg, "it cannot leave the outbox: %s. It will not be "
		    "queued again; distd keeps trying to archive it", err);
		return OUTBOX_UNARCHIVED;
	}
	if (queue_source_archived(q, hash, name, final, qerr, sizeof(qerr)) < 0)
		log_warnx("%s archived as %s, but not recorded: %s", name, final, qerr);
	if (done)
		sbuf_puts(msg, done);
	else
		sbuf_printf(msg, "%s: queued earlier as issue %lld and not queued again; "
		    "archived now as %s", name, (long long)id, final);
	free(final);
	return OUTBOX_ARCHIVED;
}

enum outbox_result
outbox_ingest(const struct conf *c, struct queue *q, const char *given, int64_t now,
    int64_t *id, struct sbuf *msg)
{
	char dir[4096], path[8200], why[1024], err[1024];
	const char *name;
	struct outbox_issue is = { 0 };
	struct issue_admission adm = { 0 };
	struct sbuf what = SBUF_INIT;
	struct stat st;
	enum outbox_result result;

	*id = 0;
	/* from here on, name is the entry itself, wherever it is (dir) */
	if (!locate(c, given, dir, sizeof(dir), &name) || outbox_ignored_name(name))
		return OUTBOX_IGNORED;
	if (name == given && c->outbox_shared) {
		/* one node ingests it: the one whose rename succeeds */
		int claimed = claim(c, name, msg);
		if (claimed > 0) {
			sbuf_printf(msg, "%s: claimed by another node first", name);
			return OUTBOX_TAKEN;
		}
		if (claimed < 0)
			return OUTBOX_RETRY;
		claim_dir(c, dir, sizeof(dir));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &st) < 0)
		return OUTBOX_IGNORED;	/* gone already */
	if (S_ISLNK(st.st_mode)) {
		result = reject(c, dir, name, "it is a symbolic link; drop the issue "
		    "itself, not a link to it", msg);
		goto out;
	}
	switch (outbox_read_issue(c, path, OUTBOX_READ_STRICT, &is, why, sizeof(why))) {
	case 0:
		break;
	case EXTRACT_AGAIN:
		/* no process or descriptor to read it with: the file stays */
		sbuf_printf(msg, "%s: not queued yet, will retry: %s", name, why);
		result = OUTBOX_RETRY;
		goto out;
	default:
		result = reject(c, dir, name, why, msg);
		goto out;
	}

	/*
	 * A source whose issue is already committed (its archiving failed
	 * after the commit, or distd died in between) is only archived now,
	 * never queued again; its content digest (the one the queue's
	 * duplicate check uses) and name identify it.
	 */
	const char *hash = is.sha256;
	int64_t earlier = 0;
	int pending = queue_source_pending(q, hash, name, &earlier, err, sizeof(err));
	if (pending < 0) {
		sbuf_printf(msg, "%s: not queued yet, will retry: %s", name, err);
		result = OUTBOX_RETRY;
		goto out;
	}
	if (pending > 0) {
		*id = earlier;
		result = finish_archive(c, q, dir, name, hash, earlier, now, msg, NULL);
		goto out;
	}
	struct issue_input in = { .source = name, .text = is.text, .len = is.text_len,
		.att = is.att, .n_att = is.n_att, .sha256 = hash, .received = now, .now = now };
	enum issue_admit_result admitted = issue_admit(c, q, &in, &adm);
	const struct route *r = adm.route;
	*id = adm.id;
	switch (admitted) {
	case ISSUE_ADMIT_UNPARSABLE:
		snprintf(why, sizeof(why), "%s: %s", is.main_name, adm.why);
		result = reject(c, dir, name, why, msg);
		goto out;
	case ISSUE_ADMIT_REFUSED:
		result = reject(c, dir, name, adm.why, msg);
		goto out;
	case ISSUE_ADMIT_NOBODY:	/* a release's only; here for completeness */
	case ISSUE_ADMIT_FAILED:
		/* the database (or disk) failed: the file stays for a retry */
		sbuf_printf(msg, "%s: not queued yet, will retry: %s", name, adm.why);
		result = OUTBOX_RETRY;
		goto out;
	case ISSUE_ADMIT_DUPLICATE:
		sbuf_printf(&what, "%s: same content as issue %lld, recorded as duplicate "
		    "issue %lld and not sent again", name, (long long)adm.duplicate_of,
		    (long long)*id);
		result = OUTBOX_DUPLICATE;
		break;
	case ISSUE_ADMIT_HELD:
		sbuf_printf(&what, "%s: issue %lld \"%s\" queued but held: %s", name,
		    (long long)*id, adm.subject, adm.hold);
		result = OUTBOX_HELD;
		break;
	case ISSUE_ADMIT_QUEUED:
	default:
		sbuf_printf(&what, "%s: issue %lld \"%s\" queued for %zu recipient%s%s%s",
		    name, (long long)*id, adm.subject, r->n_recipients,
		    r->n_recipients == 1 ? "" : "s",
		    r->n_unresolved ? "; unresolved, the admin is told: " : "",
		    r->n_unresolved ? r->unresolved[0] : "");
		result = OUTBOX_QUEUED;
		break;
	}
	if (finish_archive(c, q, dir, name, hash, *id, now, msg, sbuf_str(&what)) ==
	    OUTBOX_UNARCHIVED)
		result = OUTBOX_UNARCHIVED;
out:
	sbuf_free(&what);
	issue_admission_free(&adm);
	outbox_issue_free(&is);
	return result;
}

/* ---- what the admin reads in the journal -------------------------------- */

/* Names whose archiving failure was logged: bounded, then said again. */
#define MEMO_MAX 256

struct outbox_memo {
	char *names[MEMO_MAX];
	size_t n;
};

struct outbox_memo *
outbox_memo_new(void)
{
	return xcalloc(1, sizeof(struct outbox_memo));
}

void
outbox_memo_free(struct outbox_memo *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->names[i]);
	free(m);
}

static ssize_t
memo_find(const struct outbox_memo *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			return (ssize_t)i;
	return -1;
}

void
outbox_log(struct outbox_memo *m, const char *name, enum outbox_result r,
    const char *msg)
{
	ssize_t at = memo_find(m, name);

	if (r == OUTBOX_UNARCHIVED) {
		/* said once, clearly; the retries after it stay quiet */
		if (at >= 0) {
			log_debug("%s", msg);
			return;
		}
		if (m->n < MEMO_MAX)
			m->names[m->n++] = xstrdup(name);
		log_warnx("%s (said once; distd logs again when it is archived)", msg);
		return;
	}
	if (at >= 0) {
		free(m->names[at]);
		m->names[at] = m->names[--m->n];
	}
	if (r == OUTBOX_REJECTED || r == OUTBOX_RETRY)
		log_warnx("%s", msg);
	else if (r == OUTBOX_TAKEN)
		log_debug("%s", msg);	/* the normal case of a shared outbox */
	else if (r != OUTBOX_IGNORED)
		log_info("%s", msg);
}

int
outbox_list(const struct conf *c, struct outbox_memo *m, char ***names, size_t *n)
{
	char claims[4096], **own = NULL;
	size_t n_own = 0;

	/* leftovers of a move across filesystems cut short by a crash */
	fileio_move_cleanup(c->outbox);
	/*
	 * What this node claimed and did not finish (it died, or a retry is
	 * due): first, as the older drops. Looked for with outbox.shared off
	 * too, so that turning it off strands nothing.
	 */
	claim_dir(c, claims, sizeof(claims));
	fileio_move_cleanup(claims);
	if (list_names(claims, &own, &n_own) < 0 && errno != ENOENT)
		log_warn("cannot read the claim folder %s", claims);
	if (list_names(c->outbox, names, n) < 0) {
		log_warn("cannot read the outbox %s", c->outbox);
		for (size_t i = 0; i < n_own; i++)
			free(own[i]);
		free(own);
		return -1;
	}
	if (n_own > 0) {
		char **all = xreallocarray(NULL, n_own + *n, sizeof(*all));
		for (size_t i = 0; i < n_own; i++) {
			struct sbuf s = SBUF_INIT;
			sbuf_printf(&s, "%s%s/%s", OUTBOX_CLAIM_PREFIX, c->node, own[i]);
			all[i] = xstrdup(sbuf_str(&s));
			sbuf_free(&s);
			free(own[i]);
		}
		if (*n > 0)
			memcpy(all + n_own, *names, *n * sizeof(*all));
		free(*names);
		free(own);
		*names = all;
		*n += n_own;
	}
	/* names no longer in the outbox are forgotten */
	for (size_t i = 0; i < m->n;) {
		char p[4096];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", c->outbox, m->names[i]);
		if (lstat(p, &st) < 0) {
			free(m->names[i]);
			m->names[i] = m->names[--m->n];
		} else {
			i++;
		}
	}
	return 0;
}

int
outbox_scan(const struct conf *c, struct queue *q, int64_t now, struct outbox_memo *m,
    bool (*skip)(void *arg, const char *name), void *arg)
{
	char **names = NULL;
	size_t n = 0;
	int retry = 0;

	if (outbox_list(c, m, &names, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct sbuf msg = SBUF_INIT;
		int64_t id;
		enum outbox_result r = OUTBOX_IGNORED;
		if (skip == NULL || !skip(arg, names[i]))
			r = outbox_ingest(c, q, names[i], now, &id, &msg);
		if (r == OUTBOX_RETRY || r == OUTBOX_UNARCHIVED)
			retry++;
		outbox_log(m, names[i], r, sbuf_str(&msg));
		sbuf_free(&msg);
		free(names[i]);
	}
	free(names);
	return retry;
}

int
outbox_take_over(const struct conf *c, const char *node, size_t *moved, char *err,
    size_t errsz)
{
	char from[4096], to[4096];
	char **names = NULL;
	size_t n = 0;

	*moved = 0;
	if (c->node != NULL && strcmp(node, c->node) == 0)
		return 0;	/* our own: ingested as they are */
	snprintf(from, sizeof(from), "%s/%s%s", c->outbox, OUTBOX_CLAIM_PREFIX, node);
	claim_dir(c, to, sizeof(to));
	if (list_names(from, &names, &n) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsz, "cannot read the claim folder %s: %s", from,
		    strerror(errno));
		return -1;
	}
	if (n > 0 && mkdir_p(to, 0750) < 0) {
		snprintf(err, errsz, "%s: %s", to, strerror(errno));
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char a[8200], b[8200];
		snprintf(a, sizeof(a), "%s/%s", from, names[i]);
		snprintf(b, sizeof(b), "%s/%s", to, names[i]);
		/* ENOENT: another node took it; EEXIST: ours waits for a later pass */
		if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) == 0)
			(*moved)++;
		else if (errno != ENOENT && errno != EEXIST)
			log_warn("cannot take over %s", a);
		free(names[i]);
	}
	free(names);
	if (*moved > 0) {
		fileio_fsync_dir(to);
		fileio_fsync_dir(from);
	}
	/* empty now: gone (the node makes it again if it comes back) */
	if (rmdir(from) == 0)
		fileio_fsync_dir(c->outbox);
	return 0;
}

int
outbox_adopt(const struct conf *c, struct queue *q, char *err, size_t errsz)
{
	struct queue_view_node *v = NULL;
	size_t n = 0;
	int total = 0;

	if (queue_view_nodes(q, &v, &n, err, errsz) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char why[512];
		size_t moved;
		if (!v[i].stale || (c->node != NULL && strcmp(v[i].name, c->node) == 0))
			continue;
		if (outbox_take_over(c, v[i].name, &moved, why, sizeof(why)) < 0) {
			log_warnx("%s", why);
			continue;
		}
		if (moved > 0)
			log_warnx("node %s stopped heartbeating; %zu outbox entr%s it had "
			    "claimed and not finished %s this node's now", v[i].name, moved,
			    moved == 1 ? "y" : "ies", moved == 1 ? "is" : "are");
		total += (int)moved;
	}
	queue_view_nodes_free(v, n);
	return total;
}

/* ---- waiting to be ingested ------------------------------------------------ */

/*
 * A ring of names. The duplicate check walks it: a burst is hundreds of
 * names, and a name is checked once when it is added.
 */
struct outbox_pending {
	char **names;
	size_t head, n, cap;
};

struct outbox_pending *
outbox_pending_new(void)
{
	return xcalloc(1, sizeof(struct outbox_pending));
}

void
outbox_pending_free(struct outbox_pending *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->names[(p->head + i) % p->cap]);
	free(p->names);
	free(p);
}

bool
outbox_pending_add(struct outbox_pending *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->names[(p->head + i) % p->cap], name) == 0)
			return false;
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		char **names = xcalloc(cap, sizeof(*names));
		for (size_t i = 0; i < p->n; i++)
			names[i] = p->names[(p->head + i) % p->cap];
		free(p->names);
		p->names = names;
		p->cap = cap;
		p->head = 0;
	}
	p->names[(p->head + p->n) % p->cap] = xstrdup(name);
	p->n++;
	return true;
}

char *
outbox_pending_next(struct outbox_pending *p)
{
	if (p->n == 0)
		return NULL;
	char *name = p->names[p->head];
	p->names[p->head] = NULL;
	p->head = (p->head + 1) % p->cap;
	p->n--;
	return name;
}

size_t
outbox_pending_count(const struct outbox_pending *p)
{
	return p->n;
}

/* ---- written in place ------------------------------------------------------ */

static int64_t
mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int
outbox_print(const struct conf *c, const char *name, struct settle_print *p)
{
	char path[4096];
	struct stat st;

	memset(p, 0, sizeof(*p));
	snprintf(path, sizeof(path), "%s/%s", c->outbox, name);
	if (lstat(path, &st) < 0)
		return -1;
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	p->mtime_ns = mtime_ns(&st);
	if (!S_ISDIR(st.st_mode)) {
		p->size = (int64_t)st.st_size;
		p->entries = -1;
		return 0;
	}
	/* a folder: one level, as an issue folder is read (bounded by the
	 * attachment limit it must meet anyway) */
	DIR *d = opendir(path);
	struct dirent *e;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL && p->entries <= 100000) {
		char sub[4096 + 256];
		struct stat es;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		p->entries++;
		if (lstat(sub, &es) < 0)
			continue;
		p->size += (int64_t)es.st_size;
		if (mtime_ns(&es) > p->mtime_ns)
			p->mtime_ns = mtime_ns(&es);
	}
	closedir(d);
	return 0;
}
