#ifndef DISTD_OUTBOX_H
#define DISTD_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "attachment.h"
#include "sbuf.h"

#include "queue.h"

#include "conf.h"
#include "extract.h"

#include "settle.h"

/*
 * The outbox: where finished issues are dropped, Maildir-style.
 *
 * An issue is a file (.txt or .md), a document (.docx, .pdf, .ofd: its
 * text extracted, the original attached unchanged), or a folder holding
 * one such file and its attachments, moved in with rename(2). Names starting with "." or
 * ending in ".tmp" or ".part" are being written and are ignored until
 * renamed. After the enqueue transaction commits, the source moves to
 * archive/YYYY/MM/; refused input moves to rejected/ with NAME.reason
 * beside it. Nothing is deleted.
 *
 * The outbox may be on another filesystem than the archive (a share, a
 * second disk): sources are then copied and removed (fileio_move). The
 * enqueue transaction records the source's content hash and name; a
 * source whose issue is committed but which is still in the outbox
 * (archiving failed, or distd died in between) is recognised by them and
 * only archived, never queued a second time.
 *
 * A shared outbox (outbox.shared: several nodes on one server queue watch
 * the same folder): a node that decides to ingest an entry first claims it
 * by renaming it into outbox/.node-NODE/ (its claim folder; one rename(2),
 * atomic on the one filesystem), then reads, archives or rejects it from
 * there. Exactly one node's rename succeeds; the others find the name gone
 * (OUTBOX_TAKEN). Claim folders are dot-named, so no node reads them as
 * issues. An entry still in a node's own claim folder (it died after
 * claiming) is listed first by outbox_list as ".node-NODE/NAME" and
 * ingested from there like any other name.
 */

/* The claim folder's name inside the outbox: ".node-" and the node name. */
#define OUTBOX_CLAIM_PREFIX ".node-"

enum outbox_result {
	OUTBOX_QUEUED,		/* enqueued, source archived */
	OUTBOX_HELD,		/* enqueued held (unresolved units …), archived */
	OUTBOX_DUPLICATE,	/* same content as an earlier issue, archived */
	OUTBOX_REJECTED,	/* moved to rejected/ with a reason */
	OUTBOX_IGNORED,		/* a name still being written, or gone */
	OUTBOX_RETRY,		/* a passing failure (disk, database): left in place */
	OUTBOX_ARCHIVED,	/* queued earlier, its source left behind; archived now */
	OUTBOX_UNARCHIVED,	/* queued (now or earlier) but the source cannot leave the
				   outbox yet; it is never queued again; retry later */
	OUTBOX_TAKEN,		/* shared outbox: another node claimed it first */
};

/*
 * An issue as read from its files: what the outbox ingests and `distctl
 * preview` shows, read the one way (outbox_read_issue).
 *
 * The main file is the issue's text: the folder's one .txt/.md, or, when
 * it has none, its one document (.docx, .pdf, .ofd); a file dropped alone
 * is its own main file. A document's text is extracted (extract_document,
 * in a child under limits) and then decoded and parsed as a .txt issue's
 * is; the document itself is attached, unchanged, as the first
 * attachment. Legacy (.doc/.wps), undecidable, encrypted and image-only
 * documents and every failed extraction are refusals (why says what to
 * do).
 *
 * The digest (duplicate check, the source's identity after a crash) is
 * issue_digest of the text for a text issue; for a document issue it is
 * taken over the document's bytes and the other attachments, not over
 * the extracted text, so that it does not change with the extractor.
 */
struct outbox_issue {
	char *main_name;		/* the main file's name (no folder) */
	enum extract_format format;	/* of the main file, as its bytes say */
	const char *encoding;		/* text: what decode read; documents: "UTF-8" */
	bool folder;
	char *text;			/* UTF-8, NUL-terminated */
	size_t text_len;
	size_t raw_len;			/* the main file's bytes */
	struct attachment *att;		/* documents: the original first */
	size_t n_att;
	char sha256[65];
};

/* outbox_read_issue's flags. */
#define OUTBOX_READ_STRICT 0x1	/* no symbolic links, no files with a second
				   hard link (the daemon: see read_folder) */

/*
 * Reads the issue at path (a file or a folder issue) as above, each file
 * bounded by what is left of limits.max_issue_bytes. 0, or -1 with why:
 * the refusal, one sentence naming the file and what to do; or
 * EXTRACT_AGAIN (extract.h) with why: a document could not be read for
 * now (no process or descriptor to read it with), try again. Nothing is
 * moved. outbox_issue_free frees what it holds (a zeroed one too).
 */
int outbox_read_issue(const struct conf *c, const char *path, int flags,
    struct outbox_issue *is, char *why, size_t whysz);
void outbox_issue_free(struct outbox_issue *is);

/* True for names the drop protocol says to leave alone for now. */
bool outbox_ignored_name(const char *name);

/*
 * Ingests outbox/NAME. *id is the queue id for QUEUED/HELD/DUPLICATE.
 * What happened, in one readable sentence, is appended to msg. With
 * outbox.shared, NAME is claimed first (OUTBOX_TAKEN when another node
 * was first; OUTBOX_RETRY when this node's claim folder still holds an
 * entry of that name). NAME may also be ".node-NODE/ENTRY", this node's
 * own claim folder's entry as outbox_list gives it: ingested from there
 * without a claim. The queue records the source as ENTRY either way.
 */
enum outbox_result outbox_ingest(const struct conf *c, struct queue *q,
    const char *name, int64_t now, int64_t *id, struct sbuf *msg);

/*
 * What the journal has been told, so that a source that cannot be
 * archived is reported once, not at every retry. outbox_memo_free(NULL)
 * is a no-op.
 */
struct outbox_memo;
struct outbox_memo *outbox_memo_new(void);
void outbox_memo_free(struct outbox_memo *m);

/* Logs the sentence of an ingest at the level its result deserves. */
void outbox_log(struct outbox_memo *m, const char *name, enum outbox_result r,
    const char *msg);

/*
 * Ingests every entry of the outbox, in name order, except those skip
 * (when given) says are still settling. Returns how many were left for a
 * retry (OUTBOX_RETRY, OUTBOX_UNARCHIVED), or -1 when the outbox cannot
 * be read.
 */
int outbox_scan(const struct conf *c, struct queue *q, int64_t now,
    struct outbox_memo *m, bool (*skip)(void *arg, const char *name), void *arg);

/*
 * The outbox's entries in name order (caller frees each and the array),
 * after clearing what a crash left of a move and forgetting memo names
 * no longer there: the listing half of outbox_scan, for a caller that
 * ingests them a few at a time. This node's claim folder's entries come
 * first, as ".node-NODE/ENTRY" (claimed before a crash: theirs is the
 * older drop). 0, or -1 when the outbox cannot be read.
 */
int outbox_list(const struct conf *c, struct outbox_memo *m, char ***names, size_t *n);

/*
 * Names waiting to be ingested, oldest first, each at most once: the
 * daemon ingests a burst a few files per turn of its loop so that sending
 * starts while the rest is still being read. outbox_pending_free(NULL) is
 * a no-op.
 */
struct outbox_pending;
struct outbox_pending *outbox_pending_new(void);
void outbox_pending_free(struct outbox_pending *p);
/* Adds NAME at the end; false when it is already waiting. */
bool outbox_pending_add(struct outbox_pending *p, const char *name);
/* The oldest name, removed (caller frees); NULL when none. */
char *outbox_pending_next(struct outbox_pending *p);
size_t outbox_pending_count(const struct outbox_pending *p);

/*
 * What outbox/NAME looks like now (see settle.h): for a folder, also its
 * entries. Returns 0, or -1 when it cannot be seen (gone).
 */
int outbox_print(const struct conf *c, const char *name, struct settle_print *p);

/*
 * Takes over the entries another node claimed and left (that node died
 * for good: its lease is stale): renames each of outbox/.node-NODE/ into
 * this node's claim folder, one rename each; a name gone meanwhile was
 * taken by another node, a name this node's folder already holds stays
 * for a later pass. *moved counts what was taken. 0, or -1 with err when
 * the folder cannot be read (none there is 0, nothing moved).
 */
int outbox_take_over(const struct conf *c, const char *node, size_t *moved,
    char *err, size_t errsz);

/*
 * Takes over (outbox_take_over) the claims of every node the queue says is
 * stale (no heartbeat for longer than its lease), this node excepted, and
 * logs what it took. Returns how many entries it took, or -1 with err when
 * the queue cannot list its nodes (none on SQLite: 0).
 */
int outbox_adopt(const struct conf *c, struct queue *q, char *err, size_t errsz);

/*
 * Creates outbox, archive and rejected when missing (mode 0750), and with
 * outbox.shared this node's claim folder in the outbox.
 */
int outbox_prepare(const struct conf *c, char *err, size_t errsz);

#endif
