#ifndef DISTD_SETTLE_H
#define DISTD_SETTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Names in the outbox written in place rather than renamed in (a file
 * closed after writing, a folder made by `cp -r`), each waiting until it
 * has been quiet for outbox.settle seconds. Pure bookkeeping: the caller
 * watches, stats and ingests; this only remembers names, deadlines and
 * what each looked like, so that "quiet" means "unchanged".
 */

/* What a file or folder looked like: a change in any field is activity. */
struct settle_print {
	dev_t dev;
	ino_t ino;
	int64_t size;		/* a folder: the sum of its entries' sizes */
	int64_t mtime_ns;	/* a folder: the newest of itself and its entries */
	long entries;		/* a folder: how many; a file: -1 */
};

struct settle_entry {
	char *name;
	int wd;			/* a folder's own inotify watch, or -1 */
	int64_t due;		/* unix seconds */
	struct settle_print print;
};

/* At most this many names settle at once; more are left to a rescan. */
#define SETTLE_MAX 1024

struct settle {
	struct settle_entry *e;
	size_t n;
};

/*
 * Starts or restarts the quiet time of name: due = now + seconds, with the
 * print seen now. Returns the entry, or NULL when SETTLE_MAX names are
 * already waiting. Pointers stay valid until the next add or remove.
 */
struct settle_entry *settle_touch(struct settle *s, const char *name, int64_t due,
    const struct settle_print *print);
struct settle_entry *settle_find(const struct settle *s, const char *name);
struct settle_entry *settle_find_wd(const struct settle *s, int wd);
/* Forgets an entry (by pointer from the functions above). */
void settle_remove(struct settle *s, struct settle_entry *e);
/* The earliest deadline, or -1 when nothing waits. */
int64_t settle_next(const struct settle *s);
/* The first entry due at now, or NULL. */
struct settle_entry *settle_due(const struct settle *s, int64_t now);
bool settle_print_equal(const struct settle_print *a, const struct settle_print *b);
void settle_free(struct settle *s);

#endif
