#include "settle.h"

#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "xalloc.h"

struct settle_entry *
settle_find(const struct settle *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0)
			return &s->e[i];
	return NULL;
}

struct settle_entry *
settle_find_wd(const struct settle *s, int wd)
{
	for (size_t i = 0; wd >= 0 && i < s->n; i++)
		if (s->e[i].wd == wd)
			return &s->e[i];
	return NULL;
}

struct settle_entry *
settle_touch(struct settle *s, const char *name, int64_t due,
    const struct settle_print *print)
{
	struct settle_entry *e = settle_find(s, name);

	if (e == NULL) {
		if (s->n >= SETTLE_MAX)
			return NULL;
		s->e = xreallocarray(s->e, s->n + 1, sizeof(*s->e));
		e = &s->e[s->n++];
		e->name = xstrdup(name);
		e->wd = -1;
	}
	e->due = due;
	if (print)
		e->print = *print;
	else
		memset(&e->print, 0, sizeof(e->print));
	return e;
}

void
settle_remove(struct settle *s, struct settle_entry *e)
{
	size_t i = (size_t)(e - s->e);

	if (i >= s->n)
		return;
	free(e->name);
	s->e[i] = s->e[--s->n];
}

int64_t
settle_next(const struct settle *s)
{
	int64_t next = -1;

	for (size_t i = 0; i < s->n; i++)
		if (next < 0 || s->e[i].due < next)
			next = s->e[i].due;
	return next;
}

struct settle_entry *
settle_due(const struct settle *s, int64_t now)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].due <= now)
			return &s->e[i];
	return NULL;
}

bool
settle_print_equal(const struct settle_print *a, const struct settle_print *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->entries == b->entries;
}

void
settle_free(struct settle *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].name);
	free(s->e);
	s->e = NULL;
	s->n = 0;
}
