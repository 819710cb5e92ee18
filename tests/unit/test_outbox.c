/*
 * The outbox anywhere and the admin notices: settle bookkeeping (pure),
 * moves across filesystems, a committed source never queued twice, and
 * notices once per cause under a rate limit.
 */
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "issue.h"
#include "log.h"
#include "notice.h"
#include "outbox.h"
#include "queue_private.h"
#include "queue_test.h"
#include "settle.h"

static char root[64];

/*
 * fork as the system refuses it (EAGAIN: no processes left) while
 * fail_fork is set: this program's fork is the one extract_document
 * calls (the linker takes it before libc's); otherwise libc's.
 */
static int fail_fork;

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

static void
sh(const char *fmt, const char *arg)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, arg);
	assert_int_equal(system(cmd), 0);
}

static long
count(struct queue *q, const char *sql)
{
	sqlite3_stmt *st;
	long v = -1;

	assert_int_equal(sqlite3_prepare_v2(queue_test_db(q), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct conf *
spool_conf(const char *extra)
{
	char text[2048];
	struct sbuf errs = SBUF_INIT;
	struct conf *c;

	snprintf(root, sizeof(root), "/tmp/distd-outbox-%d", (int)getpid());
	snprintf(text, sizeof(text),
	    "outbox = \"%s/outbox\"; archive = \"%s/archive\"; rejected = \"%s/rejected\";\n"
	    "state = \"%s/q.db\";\n"
	    "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"办公室 <bulletin@example.test>\"; admin = \"pm@example.test\"; };\n"
	    "recipients = ( { name = \"甲\"; address = \"a@example.test\"; } );\n%s",
	    root, root, root, root, extra);
	char *path = write_temp(text, 0644);
	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	unlink(path);
	free(path);
	sbuf_free(&errs);
	return c;
}

/* ---- settle (pure) ------------------------------------------------------- */

static void
test_settle_table(void **state)
{
	(void)state;
	struct settle s = { 0 };
	struct settle_print p1 = { 1, 2, 10, 100, -1 }, p2 = p1;

	assert_int_equal(settle_next(&s), -1);
	assert_null(settle_due(&s, 1000));
	assert_non_null(settle_touch(&s, "a.txt", 105, &p1));
	assert_non_null(settle_touch(&s, "folder", 103, NULL));
	assert_int_equal(settle_next(&s), 103);
	/* touching again restarts the quiet time, it does not add a name */
	assert_non_null(settle_touch(&s, "folder", 110, NULL));
	assert_int_equal(s.n, 2);
	assert_int_equal(settle_next(&s), 105);
	assert_null(settle_due(&s, 104));
	assert_string_equal(settle_due(&s, 105)->name, "a.txt");
	settle_find(&s, "folder")->wd = 7;
	assert_string_equal(settle_find_wd(&s, 7)->name, "folder");
	assert_null(settle_find_wd(&s, -1));
	settle_remove(&s, settle_find(&s, "a.txt"));
	assert_null(settle_find(&s, "a.txt"));
	assert_int_equal(settle_next(&s), 110);
	/* any field that changed is activity */
	assert_true(settle_print_equal(&p1, &p2));
	p2.size = 11;
	assert_false(settle_print_equal(&p1, &p2));
	p2 = p1;
	p2.mtime_ns++;
	assert_false(settle_print_equal(&p1, &p2));
	p2 = p1;
	p2.ino++;
	assert_false(settle_print_equal(&p1, &p2));
	/* bounded */
	for (int i = 0; i < SETTLE_MAX + 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "n%d", i);
		struct settle_entry *e = settle_touch(&s, name, 1, NULL);
		if (s.n == SETTLE_MAX && e == NULL)
			break;
	}
	assert_int_equal(s.n, SETTLE_MAX);
	assert_null(settle_touch(&s, "one-more", 1, NULL));
	settle_free(&s);
	assert_int_equal(s.n, 0);
}

/* ---- moves --------------------------------------------------------------- */

static void
test_move_same_filesystem_never_overwrites(void **state)
{
	(void)state;
	char from[128], to[128], p[256], err[512], *final;

	snprintf(from, sizeof(from), "/tmp/distd-mv-%d-a", (int)getpid());
	snprintf(to, sizeof(to), "/tmp/distd-mv-%d-b", (int)getpid());
	mkdir(from, 0750);
	mkdir(to, 0750);
	snprintf(p, sizeof(p), "%s/x.txt", to);
	write_file(p, "old");
	snprintf(p, sizeof(p), "%s/x.txt", from);
	write_file(p, "new");
	assert_int_equal(fileio_move(from, "x.txt", to, &final, err, sizeof(err)), 0);
	assert_non_null(strstr(final, "/x.txt.1"));
	assert_int_equal(access(p, F_OK), -1);
	free(final);
	assert_int_equal(fileio_move(from, "gone.txt", to, &final, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gone.txt"));
	assert_null(final);
	sh("rm -rf %s", from);
	sh("rm -rf %s", to);
}

static void
test_move_across_filesystems(void **state)
{
	(void)state;
	char from[128], to[128], p[300], err[512], *final, *data;
	struct stat a, b;
	size_t len;

	snprintf(from, sizeof(from), "/dev/shm/distd-mv-%d", (int)getpid());
	snprintf(to, sizeof(to), "/var/tmp/distd-mv-%d", (int)getpid());
	if (mkdir(from, 0750) < 0 || mkdir(to, 0750) < 0 || stat(from, &a) < 0 ||
	    stat(to, &b) < 0 || a.st_dev == b.st_dev) {
		rmdir(from);
		rmdir(to);
		skip();	/* /dev/shm and /var/tmp are one filesystem here */
	}
	/* a folder issue with an attachment */
	snprintf(p, sizeof(p), "%s/第7期", from);
	mkdir(p, 0750);
	snprintf(p, sizeof(p), "%s/第7期/简报.txt", from);
	write_file(p, "正文");
	snprintf(p, sizeof(p), "%s/第7期/附件.pdf", from);
	write_file(p, "%PDF");
	assert_int_equal(fileio_move(from, "第7期", to, &final, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/简报.txt", final);
	assert_int_equal(fileio_read_all(p, 100, 1, &data, &len, err, sizeof(err)), 0);
	assert_string_equal(data, "正文");
	free(data);
	free(final);
	snprintf(p, sizeof(p), "%s/第7期", from);
	assert_int_equal(access(p, F_OK), -1);		/* the source is gone */
	/* a file, onto a name that is taken */
	snprintf(p, sizeof(p), "%s/第7期", from);
	write_file(p, "a file now");
	assert_int_equal(fileio_move(from, "第7期", to, &final, err, sizeof(err)), 0);
	assert_non_null(strstr(final, "第7期.1"));
	free(final);
	/* nothing dot-named is left on either side */
	sh("test -z \"$(ls -A %s)\"", from);
	sh("test -z \"$(ls -A %s | grep '^\\.')\"", to);
	/* a leftover of an interrupted move is cleaned up */
	snprintf(p, sizeof(p), "%s/.x.txt.distd-moved", from);
	write_file(p, "archived already");
	fileio_move_cleanup(from);
	assert_int_equal(access(p, F_OK), -1);
	sh("rm -rf %s", from);
	sh("rm -rf %s", to);
}

/* ---- a committed source is never queued twice ----------------------------- */

static const char ISSUE[] = "简报\n第1期\n2021年1月1日\n\n正文。\n\n报：甲\n";

static void
test_unarchived_source_is_not_queued_again(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], path[200], blocker[200];
	int64_t id;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/outbox/a.txt", root);
	write_file(path, ISSUE);
	/* the archive is a file, not a folder: archiving fails after the commit */
	char *good = c->archive;
	snprintf(blocker, sizeof(blocker), "%s/blocker", root);
	write_file(blocker, "");
	c->archive = blocker;
	for (int i = 0; i < 3; i++) {
		sbuf_free(&msg);
		assert_int_equal(outbox_ingest(c, q, "a.txt", 1000, &id, &msg),
		    OUTBOX_UNARCHIVED);
		assert_int_equal(id, 1);
		assert_non_null(strstr(sbuf_str(&msg), "will not be queued again"));
		assert_non_null(strstr(sbuf_str(&msg), "blocker"));
	}
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 1);
	assert_int_equal(access(path, F_OK), 0);
	c->archive = good;
	sbuf_free(&msg);
	assert_int_equal(outbox_ingest(c, q, "a.txt", 1000, &id, &msg), OUTBOX_ARCHIVED);
	assert_non_null(strstr(sbuf_str(&msg), "archived now"));
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 1);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM sources WHERE archived IS NOT NULL"), 1);
	assert_int_equal(access(path, F_OK), -1);
	/* dropped again after it was archived: a duplicate as before, not a leftover */
	write_file(path, ISSUE);
	sbuf_free(&msg);
	assert_int_equal(outbox_ingest(c, q, "a.txt", 1000, &id, &msg), OUTBOX_DUPLICATE);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 2);
	sbuf_free(&msg);
	queue_close(q);
	conf_free(c);
	sh("rm -rf %s", root);
}


/* ---- documents as issues (issue 18) ------------------------------------------- */

static const char *const ISSUE_LINES[] = { "简报", "第1期", "2021年1月1日", "",
	"正文。", "", "报：甲" };

/*
 * A minimal Word document of ISSUE's lines, one paragraph each, written
 * with Python's zipfile (no libzip in the test): what Word saves, less
 * everything the extractor does not read.
 */
static void
write_docx(const char *path)
{
	char script[4096];
	struct sbuf body = SBUF_INIT;

	for (size_t i = 0; i < sizeof(ISSUE_LINES) / sizeof(ISSUE_LINES[0]); i++)
		sbuf_printf(&body, "<w:p><w:r><w:t>%s</w:t></w:r></w:p>", ISSUE_LINES[i]);
	snprintf(script, sizeof(script),
	    "/usr/bin/python3 -c 'import sys, zipfile\n"
	    "z = zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_DEFLATED)\n"
	    "z.writestr(\"[Content_Types].xml\", \"<?xml version=\\\"1.0\\\"?><Types "
	    "xmlns=\\\"http://schemas.openxmlformats.org/package/2006/content-types\\\">"
	    "<Override PartName=\\\"/word/document.xml\\\" ContentType=\\\"application/"
	    "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\\\"/>"
	    "</Types>\")\n"
	    "z.writestr(\"word/document.xml\", \"<?xml version=\\\"1.0\\\"?><w:document "
	    "xmlns:w=\\\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\\\">"
	    "<w:body>%s</w:body></w:document>\")\n"
	    "z.close()' '%s'", sbuf_str(&body), path);
	assert_int_equal(system(script), 0);
	sbuf_free(&body);
}

/* cp root/FROM root/TO */
static void
copy_in(const char *from, const char *to)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/%s'", root, from, root, to);
	assert_int_equal(system(cmd), 0);
}

static char *
slurp(const char *path, size_t *len)
{
	char err[512], *data = NULL;

	assert_int_equal(fileio_read_all(path, 1 << 20, 0, &data, len, err, sizeof(err)), 0);
	return data;
}

/* Refused documents land in rejected/ with a reason; nothing is queued. */
static void
test_document_refusals(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], p[300];
	int64_t id;
	size_t len;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	static const struct {
		const char *name, *data;
		size_t len;
	} bad[] = {
		{ "old.doc", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" "0123456789", 18 },
		{ "wps.wps", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" "0123456789", 18 },
		{ "cut.docx", "PK\3\4\24\0\0\0\10\0", 10 },
		{ "cut.pdf", "%PDF-1.4\n1 0 obj\n", 17 },
		{ "nothing.ofd", "plain words, not a zip\n", 23 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(p, sizeof(p), "%s/outbox/%s", root, bad[i].name);
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(bad[i].data, 1, bad[i].len, f), bad[i].len);
		fclose(f);
		sbuf_reset(&msg);
		assert_int_equal(outbox_ingest(c, q, bad[i].name, 1000, &id, &msg),
		    OUTBOX_REJECTED);
		assert_non_null(strstr(sbuf_str(&msg), bad[i].name));
		snprintf(p, sizeof(p), "%s/rejected/%s.reason", root, bad[i].name);
		char *reason = slurp(p, &len);
		assert_non_null(strstr(reason, "nothing was sent"));
		free(reason);
		/* the document itself moved, unchanged */
		snprintf(p, sizeof(p), "%s/rejected/%s", root, bad[i].name);
		char *kept = slurp(p, &len);
		assert_int_equal(len, bad[i].len);
		assert_memory_equal(kept, bad[i].data, len);
		free(kept);
	}
	/* legacy formats say what to do */
	snprintf(p, sizeof(p), "%s/rejected/old.doc.reason", root);
	char *reason = slurp(p, &len);
	assert_non_null(strstr(reason, ".docx"));
	free(reason);

	/* two documents and no text: which one is the issue is not guessed */
	snprintf(p, sizeof(p), "%s/outbox/two", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outbox/two/简报.docx", root);
	write_docx(p);
	snprintf(p, sizeof(p), "%s/outbox/two/简报.pdf", root);
	write_file(p, "%PDF-1.4\n");
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "two", 1000, &id, &msg), OUTBOX_REJECTED);
	assert_non_null(strstr(sbuf_str(&msg), "简报.docx, 简报.pdf"));
	assert_non_null(strstr(sbuf_str(&msg), "Choose"));
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 0);
	sbuf_free(&msg);
	queue_close(q);
	conf_free(c);
	sh("rm -rf %s", root);
}

/*
 * A document dropped alone is an issue: queued with the original attached
 * byte for byte; the same bytes under another name are a duplicate (the
 * digest is the document's, not its name's or its text's). A folder with
 * a document and no text: the document is the main file, the rest are
 * attachments after it; with a .txt beside it, the document is only an
 * attachment.
 */
static void
test_document_issues(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], p[300], why[1024];
	int64_t id;
	size_t len;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/简报.docx", root);
	write_docx(p);
	char *doc = slurp(p, &len);

	/* read as preview reads it */
	struct outbox_issue is;
	if (outbox_read_issue(c, p, 0, &is, why, sizeof(why)) < 0)
		fail_msg("%s", why);
	assert_int_equal(is.format, EXTRACT_DOCX);
	assert_non_null(strstr(is.text, "报：甲"));
	assert_int_equal(is.n_att, 1);
	assert_string_equal(is.att[0].name, "简报.docx");
	assert_int_equal(is.att[0].len, len);
	assert_memory_equal(is.att[0].data, doc, len);
	char text_digest[65];
	issue_digest(is.text, is.text_len, is.att, is.n_att, text_digest);
	assert_string_not_equal(is.sha256, text_digest);
	outbox_issue_free(&is);

	copy_in("简报.docx", "outbox/a.docx");
	assert_int_equal(outbox_ingest(c, q, "a.docx", 1000, &id, &msg), OUTBOX_QUEUED);
	assert_int_equal(id, 1);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM attachments WHERE issue = 1"), 1);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(queue_test_db(q),
	    "SELECT name, data FROM attachments WHERE issue = 1", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "a.docx");
	assert_int_equal(sqlite3_column_bytes(st, 1), (int)len);
	assert_memory_equal(sqlite3_column_blob(st, 1), doc, len);
	sqlite3_finalize(st);
	sh("test -f %s/archive/*/*/a.docx", root);

	/* the same bytes again, another name */
	copy_in("简报.docx", "outbox/b.docx");
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "b.docx", 1000, &id, &msg), OUTBOX_DUPLICATE);

	/* a folder: the document is the issue, the table is attached after it */
	snprintf(p, sizeof(p), "%s/outbox/第8期", root);
	assert_int_equal(mkdir(p, 0755), 0);
	copy_in("简报.docx", "outbox/第8期/简报.docx");
	snprintf(p, sizeof(p), "%s/outbox/第8期/附表.xlsx", root);
	write_file(p, "PK\3\4 a table");
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "第8期", 1000, &id, &msg), OUTBOX_QUEUED);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM attachments WHERE issue = "
	    "(SELECT MAX(id) FROM issues)"), 2);
	assert_int_equal(sqlite3_prepare_v2(queue_test_db(q),
	    "SELECT name FROM attachments WHERE issue = (SELECT MAX(id) FROM issues) "
	    "ORDER BY rowid", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "简报.docx");
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "附表.xlsx");
	sqlite3_finalize(st);

	/* a text beside the document: the text is the issue (as before) */
	snprintf(p, sizeof(p), "%s/outbox/第9期", root);
	assert_int_equal(mkdir(p, 0755), 0);
	copy_in("简报.docx", "outbox/第9期/原件.docx");
	snprintf(p, sizeof(p), "%s/outbox/第9期/简报.txt", root);
	write_file(p, "简报\n第9期\n2021年1月9日\n\n正文。\n\n报：甲\n");
	snprintf(p, sizeof(p), "%s/outbox/第9期", root);
	if (outbox_read_issue(c, p, OUTBOX_READ_STRICT, &is, why, sizeof(why)) < 0)
		fail_msg("%s", why);
	assert_int_equal(is.format, EXTRACT_TEXT);
	assert_string_equal(is.main_name, "简报.txt");
	assert_true(is.folder);
	assert_int_equal(is.n_att, 1);
	assert_string_equal(is.att[0].name, "原件.docx");
	issue_digest(is.text, is.text_len, is.att, is.n_att, text_digest);
	assert_string_equal(is.sha256, text_digest);
	outbox_issue_free(&is);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "第9期", 1000, &id, &msg), OUTBOX_QUEUED);

	free(doc);
	sbuf_free(&msg);
	queue_close(q);
	conf_free(c);
	sh("rm -rf %s", root);
}

/*
 * A document that cannot be read for now (fork fails: the system's fault,
 * not the document's) stays in the outbox, is not rejected, and is taken
 * on a later scan.
 */
static void
test_document_fork_fails_retried(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct queue *q;
	struct outbox_memo *m = outbox_memo_new();
	struct sbuf msg = SBUF_INIT;
	char err[512], p[300], why[1024];
	struct outbox_issue is;
	struct stat st;
	int64_t id;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/outbox/a.docx", root);
	write_docx(p);

	fail_fork = 1;
	assert_int_equal(outbox_read_issue(c, p, 0, &is, why, sizeof(why)), EXTRACT_AGAIN);
	assert_non_null(strstr(why, "fork"));
	assert_int_equal(outbox_ingest(c, q, "a.docx", 1000, &id, &msg), OUTBOX_RETRY);
	assert_non_null(strstr(sbuf_str(&msg), "will retry"));
	assert_non_null(strstr(sbuf_str(&msg), "fork"));
	assert_int_equal(stat(p, &st), 0);		/* still in the outbox */
	snprintf(p, sizeof(p), "%s/rejected/a.docx", root);
	assert_int_equal(stat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/rejected/a.docx.reason", root);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 0);
	/* a scan while it lasts: one to retry, still nothing moved */
	assert_int_equal(outbox_scan(c, q, 1000, m, NULL, NULL), 1);
	snprintf(p, sizeof(p), "%s/outbox/a.docx", root);
	assert_int_equal(stat(p, &st), 0);
	fail_fork = 0;

	/* the next scan takes it */
	assert_int_equal(outbox_scan(c, q, 1030, m, NULL, NULL), 0);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 1);
	sh("test -f %s/archive/*/*/a.docx", root);

	outbox_memo_free(m);
	sbuf_free(&msg);
	queue_close(q);
	conf_free(c);
	sh("rm -rf %s", root);
}

/* ---- hard links are refused --------------------------------------------------- */

/*
 * A hard link to a file only the daemon may read, dropped as an
 * attachment or as the issue text, is refused with the reason beside it;
 * nothing is queued and the linked file stays where it was.
 */
static void
test_hard_links_refused(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], p[300], secret[200], *data = NULL;
	size_t len;
	int64_t id;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	snprintf(secret, sizeof(secret), "%s/secret", root);
	write_file(secret, "root only\n");
	assert_int_equal(chmod(secret, 0600), 0);

	/* a folder issue whose attachment is a second name of the secret */
	snprintf(p, sizeof(p), "%s/outbox/issue", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outbox/issue/issue.txt", root);
	write_file(p, ISSUE);
	snprintf(p, sizeof(p), "%s/outbox/issue/shadow.pdf", root);
	assert_int_equal(link(secret, p), 0);
	assert_int_equal(outbox_ingest(c, q, "issue", 1000, &id, &msg), OUTBOX_REJECTED);
	assert_non_null(strstr(sbuf_str(&msg), "shadow.pdf: is one of 2 hard links"));
	snprintf(p, sizeof(p), "%s/rejected/issue.reason", root);
	assert_int_equal(fileio_read_all(p, 4096, 0, &data, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(data, "drop a copy, not a link"));
	free(data);

	/* the issue text itself, in a folder and alone */
	snprintf(p, sizeof(p), "%s/outbox/two", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outbox/two/issue.txt", root);
	assert_int_equal(link(secret, p), 0);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "two", 1000, &id, &msg), OUTBOX_REJECTED);
	assert_non_null(strstr(sbuf_str(&msg), "issue.txt: is one of"));
	snprintf(p, sizeof(p), "%s/outbox/alone.txt", root);
	assert_int_equal(link(secret, p), 0);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "alone.txt", 1000, &id, &msg), OUTBOX_REJECTED);
	assert_non_null(strstr(sbuf_str(&msg), "hard links"));
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 0);

	/* the same folder with a copy instead of the link is taken */
	snprintf(p, sizeof(p), "%s/outbox/copy", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outbox/copy/issue.txt", root);
	write_file(p, ISSUE);
	snprintf(p, sizeof(p), "%s/outbox/copy/a.pdf", root);
	write_file(p, "%PDF-1.4\n");
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "copy", 1000, &id, &msg), OUTBOX_QUEUED);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 1);
	sbuf_free(&msg);
	queue_close(q);
	conf_free(c);
	sh("rm -rf %s", root);
}

/* ---- a shared outbox: claimed by rename ------------------------------------ */

/* Node NODE of a shared outbox under root (one queue file for all nodes). */
static struct conf *
node_conf(const char *node)
{
	char text[2048];
	struct sbuf errs = SBUF_INIT;
	struct conf *c;

	snprintf(root, sizeof(root), "/tmp/distd-outbox-%d", (int)getpid());
	snprintf(text, sizeof(text),
	    "outbox = { path = \"%s/outbox\"; shared = true; };\n"
	    "archive = \"%s/archive\"; rejected = \"%s/rejected\";\n"
	    "state = \"%s/q.db\"; node = \"%s\";\n"
	    "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"办公室 <bulletin@example.test>\"; admin = \"pm@example.test\"; };\n"
	    "recipients = ( { name = \"甲\"; address = \"a@example.test\"; } );\n",
	    root, root, root, root, node);
	char *path = write_temp(text, 0644);
	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	unlink(path);
	free(path);
	sbuf_free(&errs);
	return c;
}

static bool
exists(const char *fmt, const char *arg)
{
	char p[600], full[700];

	snprintf(p, sizeof(p), fmt, arg);
	snprintf(full, sizeof(full), "%s/%s", root, p);
	return access(full, F_OK) == 0;
}

/* Two nodes, one file: the first claimer ingests it, the second finds it taken. */
static void
test_shared_claimed_once(void **state)
{
	(void)state;
	struct conf *a = node_conf("a"), *b = node_conf("b");
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], p[300];
	struct stat st;
	int64_t id;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(a, err, sizeof(err)), 0);
	assert_int_equal(outbox_prepare(b, err, sizeof(err)), 0);
	/* each node's claim folder, 0750 (umask permitting), in the outbox */
	snprintf(p, sizeof(p), "%s/outbox/.node-a", root);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0027, 0);
	assert_true(exists("outbox/.node-%s", "b"));
	assert_int_equal(queue_open(a->state, &q, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/outbox/x.txt", root);
	write_file(p, ISSUE);
	/* both saw it arrive; a is first */
	assert_int_equal(outbox_ingest(a, q, "x.txt", 1000, &id, &msg), OUTBOX_QUEUED);
	assert_int_equal(id, 1);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(b, q, "x.txt", 1000, &id, &msg), OUTBOX_TAKEN);
	assert_int_equal(id, 0);
	assert_non_null(strstr(sbuf_str(&msg), "claimed by another node"));
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 1);
	/* the source is recorded by its own name, archived from a's claim folder */
	assert_int_equal(count(q, "SELECT COUNT(*) FROM sources WHERE name = 'x.txt'"
	    " AND archived LIKE '%/archive/%/x.txt'"), 1);
	sh("test -z \"$(ls -A %s/outbox/.node-a)\"", root);
	sh("test \"$(ls %s/archive/*/*)\" = x.txt", root);
	assert_false(exists("outbox/%s", "x.txt"));

	/* b wins the next one: the claim is per file, not per node */
	snprintf(p, sizeof(p), "%s/outbox/y.txt", root);
	write_file(p, "简报\n第2期\n2021年1月2日\n\n正文。\n\n报：甲\n");
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(b, q, "y.txt", 1000, &id, &msg), OUTBOX_QUEUED);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(a, q, "y.txt", 1000, &id, &msg), OUTBOX_TAKEN);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 2);

	/* a claim folder removed by hand is made again by the next claim */
	sh("rmdir %s/outbox/.node-b", root);
	snprintf(p, sizeof(p), "%s/outbox/z.txt", root);
	write_file(p, "简报\n第3期\n2021年1月3日\n\n正文。\n\n报：甲\n");
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(b, q, "z.txt", 1000, &id, &msg), OUTBOX_QUEUED);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 3);
	/* no node reads a claim folder as an issue, nor another node's entry */
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(a, q, ".node-b", 1000, &id, &msg), OUTBOX_IGNORED);
	assert_int_equal(outbox_ingest(a, q, ".node-b/z.txt", 1000, &id, &msg),
	    OUTBOX_IGNORED);
	assert_int_equal(outbox_ingest(a, q, ".node-a/../z.txt", 1000, &id, &msg),
	    OUTBOX_IGNORED);
	sbuf_free(&msg);
	queue_close(q);
	conf_free(a);
	conf_free(b);
	sh("rm -rf %s", root);
}

/* Folder issues are claimed whole; a refused one is rejected from the claim folder. */
static void
test_shared_folder_issues(void **state)
{
	(void)state;
	struct conf *a = node_conf("a"), *b = node_conf("b");
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], p[300];
	int64_t id;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(a, err, sizeof(err)), 0);
	assert_int_equal(queue_open(a->state, &q, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/outbox/第7期", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outbox/第7期/简报.txt", root);
	write_file(p, ISSUE);
	snprintf(p, sizeof(p), "%s/outbox/第7期/附件.pdf", root);
	write_file(p, "%PDF-1.4\n");
	snprintf(p, sizeof(p), "%s/outbox/empty", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outbox/empty/notes.xlsx", root);
	write_file(p, "PK\3\4");

	assert_int_equal(outbox_ingest(a, q, "第7期", 1000, &id, &msg), OUTBOX_QUEUED);
	assert_int_equal(outbox_ingest(b, q, "第7期", 1000, &id, &msg), OUTBOX_TAKEN);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM attachments"), 1);
	sh("test -f %s/archive/*/*/第7期/附件.pdf", root);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(b, q, "empty", 1000, &id, &msg), OUTBOX_REJECTED);
	assert_non_null(strstr(sbuf_str(&msg), "no issue text"));
	sh("test -f %s/rejected/empty/notes.xlsx", root);
	sh("test -f %s/rejected/empty.reason", root);
	assert_int_equal(outbox_ingest(a, q, "empty", 1000, &id, &msg), OUTBOX_TAKEN);
	sh("test -z \"$(ls -A %s/outbox/.node-a)\"", root);
	sh("test -z \"$(ls -A %s/outbox/.node-b)\"", root);
	sh("test \"$(ls -A %s/outbox)\" = \"$(printf '.node-a\\n.node-b')\"", root);
	sbuf_free(&msg);
	queue_close(q);
	conf_free(a);
	conf_free(b);
	sh("rm -rf %s", root);
}

/*
 * A node that died after claiming finds its claims at start, listed
 * before the outbox's entries; no other node lists them. One whose
 * archiving failed after the commit is archived, never queued again, and
 * a new drop of the same name waits for it.
 */
static void
test_shared_leftover_claims(void **state)
{
	(void)state;
	struct conf *a = node_conf("a"), *b = node_conf("b");
	struct outbox_memo *m = outbox_memo_new();
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], p[300], blocker[200], **names;
	size_t n;
	int64_t id;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(a, err, sizeof(err)), 0);
	assert_int_equal(outbox_prepare(b, err, sizeof(err)), 0);
	assert_int_equal(queue_open(a->state, &q, err, sizeof(err)), 0);
	/* claimed, then a died: nothing queued */
	snprintf(p, sizeof(p), "%s/outbox/.node-a/old.txt", root);
	write_file(p, ISSUE);
	snprintf(p, sizeof(p), "%s/outbox/.node-a/.old.txt.tmp", root);
	write_file(p, "");
	snprintf(p, sizeof(p), "%s/outbox/a-new.txt", root);
	write_file(p, "简报\n第2期\n2021年1月2日\n\n正文。\n\n报：甲\n");
	assert_int_equal(outbox_list(a, m, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], ".node-a/old.txt");
	assert_string_equal(names[1], "a-new.txt");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	assert_int_equal(outbox_list(b, m, &names, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "a-new.txt");
	free(names[0]);
	free(names);
	/* as a scan does it: the leftover first */
	assert_int_equal(outbox_scan(a, q, 1000, m, NULL, NULL), 0);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 2);
	assert_int_equal(count(q, "SELECT id FROM issues WHERE source = 'old.txt'"), 1);
	assert_false(exists("outbox/.node-a/%s", "old.txt"));

	/* committed, but the archive fails: it stays claimed, queued once */
	char *good = a->archive;
	snprintf(blocker, sizeof(blocker), "%s/blocker", root);
	write_file(blocker, "");
	a->archive = blocker;
	snprintf(p, sizeof(p), "%s/outbox/c.txt", root);
	write_file(p, "简报\n第3期\n2021年1月3日\n\n正文。\n\n报：甲\n");
	assert_int_equal(outbox_ingest(a, q, "c.txt", 1000, &id, &msg), OUTBOX_UNARCHIVED);
	assert_int_equal(id, 3);
	assert_true(exists("outbox/.node-a/%s", "c.txt"));
	/* the same name dropped again waits for the claimed one */
	write_file(p, "简报\n第4期\n2021年1月4日\n\n正文。\n\n报：甲\n");
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(a, q, "c.txt", 1000, &id, &msg), OUTBOX_RETRY);
	assert_non_null(strstr(sbuf_str(&msg), "still holds an entry of that name"));
	assert_true(exists("outbox/%s", "c.txt"));
	a->archive = good;
	/* the retry (a rescan) archives the claimed one, then claims the new one */
	assert_int_equal(outbox_scan(a, q, 1000, m, NULL, NULL), 0);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 4);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues WHERE source = 'c.txt'"), 2);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM sources WHERE archived IS NULL"), 0);
	sh("test -z \"$(ls %s/outbox/.node-a)\"", root);
	assert_false(exists("outbox/%s", "c.txt"));
	/* the dot-named file in the claim folder was never an issue */
	assert_true(exists("outbox/.node-a/%s", ".old.txt.tmp"));
	sbuf_free(&msg);
	outbox_memo_free(m);
	queue_close(q);
	conf_free(a);
	conf_free(b);
	sh("rm -rf %s", root);
}

/* A dead node's claims are taken over one rename each, by one node only. */
static void
test_shared_take_over(void **state)
{
	(void)state;
	struct conf *a = node_conf("a"), *b = node_conf("b"), *dead = node_conf("dead");
	struct queue *q;
	char err[512], p[300];
	size_t moved;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(a, err, sizeof(err)), 0);
	assert_int_equal(outbox_prepare(dead, err, sizeof(err)), 0);
	assert_int_equal(queue_open(a->state, &q, err, sizeof(err)), 0);
	/* none there: nothing to do */
	assert_int_equal(outbox_take_over(a, "nobody", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 0);
	snprintf(p, sizeof(p), "%s/outbox/.node-dead/d.txt", root);
	write_file(p, ISSUE);
	snprintf(p, sizeof(p), "%s/outbox/.node-dead/第9期", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outbox/.node-dead/第9期/简报.txt", root);
	write_file(p, "简报\n第9期\n2021年1月9日\n\n正文。\n\n报：甲\n");
	/* its own folder is not "taken over" */
	assert_int_equal(outbox_take_over(dead, "dead", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 0);
	assert_int_equal(outbox_take_over(a, "dead", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 2);
	assert_int_equal(outbox_take_over(b, "dead", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 0);
	assert_false(exists("outbox/%s", ".node-dead"));	/* empty: removed */
	assert_true(exists("outbox/.node-a/%s", "d.txt"));
	assert_true(exists("outbox/.node-a/%s", "第9期/简报.txt"));
	/* a ingests them as its own leftovers */
	struct outbox_memo *m = outbox_memo_new();
	assert_int_equal(outbox_scan(a, q, 1000, m, NULL, NULL), 0);
	outbox_memo_free(m);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues"), 2);
	sh("test -z \"$(ls -A %s/outbox/.node-a)\"", root);
	queue_close(q);
	conf_free(a);
	conf_free(b);
	conf_free(dead);
	sh("rm -rf %s", root);
}

/* ---- notices ----------------------------------------------------------------- */

static char *
render_ok(void *arg, int64_t id, const char *mid, size_t *len, char *err, size_t errsz)
{
	(void)arg; (void)id; (void)mid; (void)err; (void)errsz;
	*len = 2;
	return strdup("x\n");
}

static int64_t
enqueue(struct queue *q, const char *sha, const char *hold, const char *unresolved)
{
	struct queue_recipient_in r = { 0, "报", "to", "甲", "报:甲", "甲", "甲",
	    "a@example.test", false };
	struct queue_issue_in in = { .sha256 = sha, .source = "s.txt", .kind = QUEUE_KIND_BULLETIN,
		.title = "简报", .subject = "简报 第1期", .issue_no = 1, .total_issue_no = -1,
		.hold_reason = hold, .unresolved = unresolved, .received = 1000 };
	int64_t id, dup;
	char err[256];

	if (queue_enqueue(q, &in, &r, 1, "example.test", render_ok, NULL, &id, &dup, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	return id;
}

static void
test_notice_render(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct sbuf s = SBUF_INIT, b = SBUF_INIT;
	struct queue_notice_due held = { QUEUE_NOTICE_HELD, "held:17", 17, "工作简报",
	    "第7期.txt", 7, "1 unresolved unit: 报: 某单位", 0, 0 };
	struct queue_notice_due un = { QUEUE_NOTICE_UNRESOLVED, "unresolved:18", 18, NULL,
	    "x.txt", -1, "报: 甲单位\n送: 乙单位", 0, 0 };
	struct queue_notice_due al = { QUEUE_NOTICE_ALERT, "alert:auth:5", 0, NULL, NULL, -1,
	    "the relay refused our credentials", QUEUE_ALERT_AUTH, 5 };

	notice_render(c, &held, &s, &b);
	assert_string_equal(sbuf_str(&s), "需要处理：简报暂停发送 / Action needed: issue "
	    "held: 工作简报 第7期");
	assert_non_null(strstr(sbuf_str(&b), "distctl release 17"));
	assert_non_null(strstr(sbuf_str(&b), "报: 某单位"));
	assert_non_null(strstr(sbuf_str(&b), "第7期.txt"));
	sbuf_free(&s);
	sbuf_free(&b);
	notice_render(c, &un, &s, &b);
	assert_non_null(strstr(sbuf_str(&s), "units not sent: (untitled)"));
	assert_non_null(strstr(sbuf_str(&b), "- 报: 甲单位\n- 送: 乙单位\n"));
	sbuf_free(&s);
	sbuf_free(&b);
	notice_render(c, &al, &s, &b);
	assert_non_null(strstr(sbuf_str(&s), "Alert"));
	assert_non_null(strstr(sbuf_str(&b), "the relay refused our credentials"));
	sbuf_free(&s);
	sbuf_free(&b);
	conf_free(c);
}

static void
test_notices_once_each_and_rate_limited(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct queue *q;
	char err[512], sha[16];

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	enqueue(q, "h1", "held for a reason", NULL);
	enqueue(q, "u1", NULL, "报: 某单位");
	enqueue(q, "ok", NULL, NULL);
	assert_int_equal(queue_alert(q, QUEUE_ALERT_AUTH, "refused", 900), 0);
	assert_int_equal(notice_sweep(c, q, 1000), 0);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues WHERE kind = 'notice'"), 3);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM recipients r JOIN issues i ON"
	    " i.id = r.issue WHERE i.kind = 'notice' AND r.address = 'pm@example.test'"), 3);
	/* again, later: nothing new */
	assert_int_equal(notice_sweep(c, q, 1100), 0);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues WHERE kind = 'notice'"), 3);
	/* the alert clears and comes back: that is a new alert */
	queue_clear_alert(q, QUEUE_ALERT_AUTH);
	assert_int_equal(queue_alert(q, QUEUE_ALERT_AUTH, "refused again", 1200), 0);
	assert_int_equal(notice_sweep(c, q, 1200), 0);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues WHERE kind = 'notice'"), 4);
	/* a storm of held issues: at most NOTICE_PER_HOUR in an hour, the rest later */
	for (int i = 0; i < 20; i++) {
		snprintf(sha, sizeof(sha), "storm%d", i);
		enqueue(q, sha, "held", NULL);
	}
	int64_t next = notice_sweep(c, q, 1300);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues WHERE kind = 'notice'"),
	    NOTICE_PER_HOUR);
	assert_int_equal(next, 1000 + 3600);
	/* an hour after the first three: three slots are free again */
	assert_int_equal(notice_sweep(c, q, 1000 + 3600), 1200 + 3600);
	assert_int_equal(count(q, "SELECT COUNT(*) FROM issues WHERE kind = 'notice'"), 13);
	queue_close(q);
	conf_free(c);
	sh("rm -rf %s", root);
}

/* A version 1 queue gains sources for its old issues, taken as archived. */
static void
test_upgrade_from_version_1(void **state)
{
	(void)state;
	struct conf *c = spool_conf("");
	struct queue *q;
	char err[512];
	int64_t id;

	sh("rm -rf %s", root);
	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	enqueue(q, "old", NULL, NULL);
	/* back to version 1: what versions 2 to 6 added goes (7 may run again) */
	assert_int_equal(sqlite3_exec(queue_test_db(q), "DROP INDEX issues_finished;"
	    " DROP INDEX issues_report_for; DROP INDEX issues_notice_for;"
	    " DROP INDEX issues_duplicate_of; DROP TRIGGER recipients_count_insert;"
	    " DROP TRIGGER recipients_count_delete; DROP TRIGGER recipients_count_leave;"
	    " DROP TRIGGER recipients_count_enter;"
	    " DROP TABLE recipient_counts; DROP INDEX recipients_pending;"
	    " DROP INDEX issues_active; DROP INDEX issues_unsettled; DROP INDEX issues_held;"
	    " DROP TABLE sources;"
	    " DROP INDEX issues_notice_key; ALTER TABLE issues DROP COLUMN unresolved;"
	    " ALTER TABLE issues DROP COLUMN notice_for;"
	    " ALTER TABLE issues DROP COLUMN held_on_arrival;"
	    " ALTER TABLE recipients DROP COLUMN replaced_by;"
	    " DROP TABLE relays; DROP INDEX attempts_recipient; PRAGMA user_version = 1;",
	    NULL, NULL, NULL), SQLITE_OK);
	queue_close(q);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	assert_int_equal(count(q, "PRAGMA user_version"), queue_schema_latest());
	assert_int_equal(count(q, "SELECT COUNT(*) FROM sources WHERE issue = 1"
	    " AND archived = ''"), 1);
	/* so the same content under the same name again is a duplicate, as before */
	assert_int_equal(queue_source_pending(q, "old", "s.txt", &id, err, sizeof(err)), 0);
	queue_close(q);
	conf_free(c);
	sh("rm -rf %s", root);
}

/* A burst waits in order, each name once, however many come. */
static void
test_pending_names(void **state)
{
	(void)state;
	struct outbox_pending *p = outbox_pending_new();
	char name[32];

	assert_null(outbox_pending_next(p));
	assert_true(outbox_pending_add(p, "a.txt"));
	assert_true(outbox_pending_add(p, "b.txt"));
	assert_false(outbox_pending_add(p, "a.txt"));	/* a rescan finds it again */
	char *first = outbox_pending_next(p);
	assert_string_equal(first, "a.txt");
	free(first);
	/* taken: a new drop of the same name is a new ingest */
	assert_true(outbox_pending_add(p, "a.txt"));
	/* past the first allocation, with the ring wrapped */
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "i%03d.txt", i);
		assert_true(outbox_pending_add(p, name));
	}
	assert_false(outbox_pending_add(p, "i150.txt"));
	assert_int_equal(outbox_pending_count(p), 202);
	char *n1 = outbox_pending_next(p), *n2 = outbox_pending_next(p);
	assert_string_equal(n1, "b.txt");
	assert_string_equal(n2, "a.txt");
	free(n1);
	free(n2);
	for (int i = 0; i < 200; i++) {
		char *n = outbox_pending_next(p);
		snprintf(name, sizeof(name), "i%03d.txt", i);
		assert_string_equal(n, name);
		free(n);
	}
	assert_int_equal(outbox_pending_count(p), 0);
	assert_null(outbox_pending_next(p));
	assert_true(outbox_pending_add(p, "left.txt"));
	outbox_pending_free(p);	/* frees what is still waiting */
	outbox_pending_free(NULL);
}

static void
test_outbox_names(void **state)
{
	(void)state;
	assert_true(outbox_ignored_name(".第29期.txt"));
	assert_true(outbox_ignored_name("第29期.txt.tmp"));
	assert_true(outbox_ignored_name("第29期.txt.part"));
	assert_false(outbox_ignored_name("第29期.txt"));
	assert_false(outbox_ignored_name("tmp.txt"));
	assert_false(outbox_ignored_name("第7期"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbox_names),
		cmocka_unit_test(test_settle_table),
		cmocka_unit_test(test_pending_names),
		cmocka_unit_test(test_move_same_filesystem_never_overwrites),
		cmocka_unit_test(test_move_across_filesystems),
		cmocka_unit_test(test_unarchived_source_is_not_queued_again),
		cmocka_unit_test(test_hard_links_refused),
		cmocka_unit_test(test_document_refusals),
		cmocka_unit_test(test_document_issues),
		cmocka_unit_test(test_document_fork_fails_retried),
		cmocka_unit_test(test_shared_claimed_once),
		cmocka_unit_test(test_shared_folder_issues),
		cmocka_unit_test(test_shared_leftover_claims),
		cmocka_unit_test(test_shared_take_over),
		cmocka_unit_test(test_notice_render),
		cmocka_unit_test(test_notices_once_each_and_rate_limited),
		cmocka_unit_test(test_upgrade_from_version_1),
	};
	log_init(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
