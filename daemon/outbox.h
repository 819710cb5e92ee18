#ifndef DISTD_OUTBOX_H
#define DISTD_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "queue.h"
#include "sbuf.h"

/*
 * The outbox: where finished issues are dropped, Maildir-style.
 *
 * An issue is a file (.txt or .md) or a folder holding one such file and
 * its attachments, moved in with rename(2). Names starting with "." or
 * ending in ".tmp" or ".part" are being written and are ignored until
 * renamed. After the enqueue transaction commits, the source moves to
 * archive/YYYY/MM/; refused input moves to rejected/ with NAME.reason
 * beside it. Nothing is deleted.
 */

enum outbox_result {
	OUTBOX_QUEUED,		/* enqueued, source archived */
	OUTBOX_HELD,		/* enqueued held (unresolved units …), archived */
	OUTBOX_DUPLICATE,	/* same content as an earlier issue, archived */
	OUTBOX_REJECTED,	/* moved to rejected/ with a reason */
	OUTBOX_IGNORED,		/* a name still being written, or gone */
	OUTBOX_RETRY,		/* a passing failure (disk, database): left in place */
};

/* True for names the drop protocol says to leave alone for now. */
bool outbox_ignored_name(const char *name);

/*
 * Ingests outbox/NAME. *id is the queue id for QUEUED/HELD/DUPLICATE.
 * What happened, in one readable sentence, is appended to msg.
 */
enum outbox_result outbox_ingest(const struct conf *c, struct queue *q,
    const char *name, int64_t now, int64_t *id, struct sbuf *msg);

/*
 * Ingests every entry of the outbox, oldest name first. Returns how many
 * were left for a retry (OUTBOX_RETRY), or -1 when the outbox cannot be
 * read.
 */
int outbox_scan(const struct conf *c, struct queue *q, int64_t now);

/* Creates outbox, archive and rejected when missing (mode 0750). */
int outbox_prepare(const struct conf *c, char *err, size_t errsz);

#endif
