#include "route.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#include "address.h"

/* ---- building the route ------------------------------------------------ */

/*
 * Why routing is linear in the footer and the directory: a footer may
 * repeat one unit 80 000 times and groups may nest as diamonds (every
 * group of a level holding both groups of the level below: 2^depth paths
 * to the same recipients). So units are deduplicated per configured tier
 * before anything is expanded, each name is taken once per unit, each
 * group the footer names is flattened once per route (a walk with an
 * explicit stack that visits every group and recipient it reaches once),
 * and a unit lists a recipient once. conf_load bounds how deep groups nest
 * and how many addresses one reaches (limits.max_group_depth,
 * limits.max_group_addresses).
 */

/* One group's expansion: the recipients it reaches, in first-seen order. */
struct expansion {
	const struct conf_recipient **rcs;
	size_t n;
	bool done;
};

/* Per recipient of the route while it is built. */
struct via {
	struct sbuf text;			/* "报:中央文明办; 发:各区文明办" */
	const struct route_unit *last;		/* the unit that last reached it */
};

struct builder {
	const struct conf *c;
	struct route *r;
	size_t rcap;
	GHashTable *seen;			/* address key → index into r->recipients */
	struct via *via;			/* parallel to r->recipients */
	struct expansion *groups;		/* per conf group, filled on first use */
	/* visit marks: a slot equal to the current generation was seen */
	unsigned *group_mark, *walk_rcpt_mark;	/* in this group walk */
	unsigned *unit_rcpt_mark, *name_mark;	/* in this unit */
	unsigned walk_gen, unit_gen;
	GHashTable *missing;			/* keys of this unit's missing parts */
	struct { size_t gi, next; } *stack;	/* the walk's explicit stack */
	GHashTable *units;			/* "tier\037key" of units already routed */
};

/* Appends s to a list that grows by doubling (n is its length). */
static void
push_string(char ***list, size_t *n, char *s)
{
	if ((*n & (*n - 1)) == 0)
		*list = xreallocarray(*list, *n ? *n * 2 : 1, sizeof(char *));
	(*list)[(*n)++] = s;
}

static void
add_target(struct builder *B, struct route_unit *u, const struct route_tier *t,
    const struct conf_recipient *rc, const char *address)
{
	struct route *r = B->r;
	char *key = address_key(address);

	/* capacity doubles (a power of two or zero): a group of 10 000 stays linear */
	if ((u->n_targets & (u->n_targets - 1)) == 0)
		u->targets = xreallocarray(u->targets, u->n_targets ? u->n_targets * 2 : 1,
		    sizeof(*u->targets));
	u->targets[u->n_targets].name = xstrdup(rc->name);
	u->targets[u->n_targets].address = xstrdup(address);
	u->n_targets++;

	gpointer found;
	if (g_hash_table_lookup_extended(B->seen, key, NULL, &found)) {
		size_t at = GPOINTER_TO_SIZE(found);
		struct route_recipient *rr = &r->recipients[at];
		struct via *v = &B->via[at];
		free(key);
		if (v->last == u)
			return;	/* the same unit again (two entries share the address) */
		v->last = u;
		/* the first tier in delivery order wins; the units are all kept */
		sbuf_printf(&v->text, "; %s:%s", t->keyword, u->text);
		if ((size_t)t->conf_tier < rr->tier) {
			rr->tier = (size_t)t->conf_tier;
			free(rr->tier_keyword);
			free(rr->unit);
			rr->tier_keyword = xstrdup(t->keyword);
			rr->unit = xstrdup(u->text);
		}
		return;
	}
	if (r->n_recipients == B->rcap) {
		B->rcap = B->rcap ? B->rcap * 2 : 16;
		r->recipients = xreallocarray(r->recipients, B->rcap, sizeof(*r->recipients));
		B->via = xreallocarray(B->via, B->rcap, sizeof(*B->via));
	}
	struct route_recipient *rr = &r->recipients[r->n_recipients];
	struct via *v = &B->via[r->n_recipients];
	memset(rr, 0, sizeof(*rr));
	*v = (struct via){ SBUF_INIT, u };
	sbuf_printf(&v->text, "%s:%s", t->keyword, u->text);
	rr->tier = (size_t)t->conf_tier;
	rr->tier_keyword = xstrdup(t->keyword);
	rr->unit = xstrdup(u->text);
	rr->name = xstrdup(rc->name);
	rr->display = xstrdup(rc->display);
	rr->address = xstrdup(address);
	g_hash_table_insert(B->seen, key, GSIZE_TO_POINTER(r->n_recipients));
	r->n_recipients++;
}

/* A group member as the directory resolves it (NULL: it names nothing). */
static const struct conf_name *
member(const struct conf *c, const struct conf_group *g, size_t i)
{
	if (g->member_refs != NULL)
		return g->member_refs[i];
	char *key = text_key(g->members[i]);
	const struct conf_name *m = conf_lookup(c, key);
	free(key);
	return m;
}

/*
 * Flattens group gi once per route: depth first in member order, as the
 * recursion it replaces did, but every group and recipient is visited once
 * (marks of this walk's generation), so a diamond costs its size, not its
 * paths, and the stack holds at most every group once.
 */
static const struct expansion *
expand_group(struct builder *B, size_t gi)
{
	const struct conf *c = B->c;
	struct expansion *e = &B->groups[gi];
	size_t depth = 0, cap = 0;

	if (e->done)
		return e;
	e->done = true;
	B->walk_gen++;
	B->group_mark[gi] = B->walk_gen;
	B->stack[depth].gi = gi;
	B->stack[depth++].next = 0;
	while (depth > 0) {
		const struct conf_group *g = &c->groups[B->stack[depth - 1].gi];
		size_t i = B->stack[depth - 1].next++;
		if (i >= g->n_members) {
			depth--;
			continue;
		}
		const struct conf_name *m = member(c, g, i);
		if (m == NULL)
			continue;
		if (m->recipient != NULL) {
			size_t ri = (size_t)(m->recipient - c->recipients);
			if (B->walk_rcpt_mark[ri] == B->walk_gen)
				continue;
			B->walk_rcpt_mark[ri] = B->walk_gen;
			if (e->n == cap) {
				cap = cap ? cap * 2 : 8;
				e->rcs = xreallocarray(e->rcs, cap, sizeof(*e->rcs));
			}
			e->rcs[e->n++] = m->recipient;
			continue;
		}
		size_t ci = (size_t)(m->group - c->groups);
		/* seen in this walk, or on the path: a cycle (conf_load refuses
		 * them; this keeps routing total) */
		if (B->group_mark[ci] == B->walk_gen)
			continue;
		B->group_mark[ci] = B->walk_gen;
		B->stack[depth].gi = ci;
		B->stack[depth++].next = 0;
	}
	return e;
}

/* Adds every address of rc to u, unless u already has rc. */
static void
add_recipient(struct builder *B, struct route_unit *u, const struct route_tier *t,
    const struct conf_recipient *rc)
{
	size_t ri = (size_t)(rc - B->c->recipients);

	if (B->unit_rcpt_mark[ri] == B->unit_gen)
		return;
	B->unit_rcpt_mark[ri] = B->unit_gen;
	for (size_t i = 0; i < rc->n_addresses; i++)
		add_target(B, u, t, rc, rc->addresses[i]);
}

static void
expand(struct builder *B, struct route_unit *u, const struct route_tier *t,
    const struct conf_name *n)
{
	size_t ni = (size_t)(n - B->c->names);

	/* a name twice in one unit ("甲、甲") adds nothing the first did not */
	if (B->name_mark[ni] == B->unit_gen)
		return;
	B->name_mark[ni] = B->unit_gen;
	if (n->recipient != NULL) {
		add_recipient(B, u, t, n->recipient);
		return;
	}
	const struct expansion *e = expand_group(B, (size_t)(n->group - B->c->groups));
	for (size_t i = 0; i < e->n; i++)
		add_recipient(B, u, t, e->rcs[i]);
}

static const struct conf_name *
lookup(const struct conf *c, const char *text, size_t n)
{
	char *raw = xstrndup(text, n), *key = text_key(raw);
	const struct conf_name *m = *key ? conf_lookup(c, key) : NULL;

	free(raw);
	free(key);
	return m;
}

/* 、 (U+3001) splits a list of bodies: "市委、市人大、市政府". */
#define DUNHAO_LEN 3

/*
 * The next 、 in p[0..end), or end. A plain scan, not strstr: a unit of
 * 80 000 parts must be read once, and strstr under AddressSanitizer
 * measures the whole rest of the string at every call.
 */
static const char *
next_dunhao(const char *p, const char *end)
{
	for (; end - p >= DUNHAO_LEN; p++)
		if (p[0] == '\xe3' && p[1] == '\x80' && p[2] == '\x81')
			return p;
	return end;
}

/* Would text resolve completely, whole or by its 、-parts? */
static bool
resolvable(const struct conf *c, const char *text)
{
	const char *p = text, *end = text + strlen(text);
	bool ok = true;

	if (lookup(c, text, (size_t)(end - text)) != NULL)
		return true;
	if (next_dunhao(text, end) == end)
		return false;
	for (;;) {
		const char *e = next_dunhao(p, end);
		char *part = text_strip(p, (size_t)(e - p));
		if (*part && lookup(c, part, strlen(part)) == NULL)
			ok = false;
		free(part);
		if (e == end || !ok)
			break;
		p = e + DUNHAO_LEN;
	}
	return ok;
}

/*
 * Expands text into u's targets: whole when it is a name, else each of its
 * 、-parts, recording the parts that match nothing. Returns true when
 * everything matched; *whole says which reading it was.
 */
static bool
apply_text(struct builder *B, struct route_tier *t, struct route_unit *u,
    const char *text, bool *whole)
{
	const char *p = text, *end = text + strlen(text);
	const struct conf_name *m = lookup(B->c, text, (size_t)(end - text));

	*whole = m != NULL;
	if (m != NULL) {
		expand(B, u, t, m);
		return true;
	}
	bool any_missing = false, split = next_dunhao(p, end) != end;
	while (split) {
		const char *e = next_dunhao(p, end);
		char *part = text_strip(p, (size_t)(e - p));
		if (*part) {
			m = lookup(B->c, part, strlen(part));
			if (m != NULL) {
				expand(B, u, t, m);
			} else {
				/* "某、某、某…": each missing part is reported once */
				char *key = text_key(part);
				if (g_hash_table_add(B->missing, key))
					push_string(&u->missing, &u->n_missing, part);
				else
					free(part);
				part = NULL;
				any_missing = true;
			}
		}
		free(part);
		if (e == end)
			break;
		p = e + DUNHAO_LEN;
	}
	if (!split) {
		push_string(&u->missing, &u->n_missing, xstrdup(text));
		any_missing = true;
	}
	return !any_missing;
}

static void
resolve_unit(struct builder *B, struct route_tier *t, struct route_unit *u,
    const size_t *breaks, size_t n_breaks)
{
	bool whole;

	B->unit_gen++;
	g_hash_table_remove_all(B->missing);
	if (n_breaks > 0 && !resolvable(B->c, u->text)) {
		/* the joined text does not match: try the lines apart */
		char **sides = xcalloc(n_breaks + 1, sizeof(*sides));
		size_t from = 0, n = 0;
		bool ok = true;
		for (size_t i = 0; i <= n_breaks; i++) {
			size_t to = i < n_breaks ? breaks[i] : strlen(u->text);
			if (to <= from)
				continue;
			sides[n] = text_strip(u->text + from, to - from);
			if (*sides[n] == '\0')
				free(sides[n]);
			else if (!resolvable(B->c, sides[n++]))
				ok = false;
			from = to;
		}
		if (ok && n > 1) {
			for (size_t i = 0; i < n; i++)
				apply_text(B, t, u, sides[i], &whole);
			u->resolved = true;
			u->reading = ROUTE_READ_LINES;
			u->sides = sides;
			u->n_sides = n;
			return;
		}
		for (size_t i = 0; i < n; i++)
			free(sides[i]);
		free(sides);
	}
	u->resolved = apply_text(B, t, u, u->text, &whole);
	u->reading = whole ? ROUTE_READ_WHOLE : ROUTE_READ_PARTS;
}

static struct route_tier *
add_tier(struct builder *B, const char *label, const char *fallback_keyword)
{
	struct route *r = B->r;
	struct route_tier *t;
	int ci = conf_tier_index(B->c, label);

	r->tiers = xreallocarray(r->tiers, r->n_tiers + 1, sizeof(*r->tiers));
	t = &r->tiers[r->n_tiers++];
	memset(t, 0, sizeof(*t));
	t->conf_tier = ci;
	t->label = xstrdup(label);
	t->keyword = xstrdup(ci >= 0 ? B->c->tiers[ci].keyword : fallback_keyword);
	return t;
}

/*
 * The unit as it appears in a message: cut to a readable length, so that
 * a footer of one 780 KB unit with thousands of missing parts does not
 * repeat the whole unit in every message.
 */
#define UNIT_QUOTE_BYTES 200

static void
quote_unit(struct sbuf *b, const char *text)
{
	size_t n = strlen(text), i = 0;

	if (n <= UNIT_QUOTE_BYTES) {
		sbuf_puts(b, text);
		return;
	}
	while (i < n) {
		size_t at = i;
		text_next(text, n, &i);
		if (i > UNIT_QUOTE_BYTES) {
			i = at;
			break;
		}
	}
	sbuf_append(b, text, i);
	sbuf_puts(b, "…");
}

/*
 * The identity of a unit for deduplication: its configured tier, its
 * matching key and where its soft breaks are (a wrapped unit may read
 * otherwise than the same text unwrapped).
 */
static char *
unit_id(const struct route_tier *t, const char *text, const size_t *breaks, size_t n)
{
	struct sbuf b = SBUF_INIT;
	char *key = text_key(text);

	sbuf_printf(&b, "%d\037%s", t->conf_tier, key);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&b, "\037%zu", breaks[i]);
	free(key);
	return sbuf_steal(&b);
}

static void
add_units(struct builder *B, struct route_tier *t, char *const *units, size_t n,
    const struct bulletin_break *breaks, size_t n_breaks)
{
	struct sbuf msg = SBUF_INIT;
	size_t *offsets = xcalloc(n_breaks + 1, sizeof(*offsets));
	size_t *first = xcalloc(n + 1, sizeof(*first)), bi = 0;

	/* the breaks of unit i, in one pass: they come in unit order */
	for (size_t i = 0; i <= n; i++) {
		while (bi < n_breaks && breaks[bi].unit < i)
			bi++;
		first[i] = bi;
	}
	t->units = xcalloc(n, sizeof(*t->units));
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		for (size_t j = first[i]; j < n_breaks && breaks[j].unit == i; j++)
			offsets[k++] = breaks[j].offset;
		if (t->conf_tier >= 0) {
			/* a unit printed twice under one tier is one unit: routed once */
			char *id = unit_id(t, units[i], offsets, k);
			if (!g_hash_table_add(B->units, id))
				continue;
		}
		struct route_unit *u = &t->units[t->n_units++];
		u->text = xstrdup(units[i]);
		if (t->conf_tier < 0)
			continue;	/* reported once for the tier */
		resolve_unit(B, t, u, offsets, k);
		for (size_t j = 0; j < u->n_missing; j++) {
			sbuf_reset(&msg);
			if (u->n_missing == 1 && strcmp(u->missing[j], u->text) == 0) {
				sbuf_printf(&msg, "%s: ", t->label);
				quote_unit(&msg, u->text);
			} else {
				sbuf_printf(&msg, "%s: %s (in ", t->label, u->missing[j]);
				quote_unit(&msg, u->text);
				sbuf_putc(&msg, ')');
			}
			push_string(&B->r->unresolved, &B->r->n_unresolved,
			    xstrdup(sbuf_str(&msg)));
		}
	}
	free(first);
	free(offsets);
	sbuf_free(&msg);
}

/* Delivery order: by configured tier, first seen first within a tier (stable). */
static void
sort_recipients(struct route *r, size_t n_tiers)
{
	size_t n = r->n_recipients, k = 0;
	struct route_recipient *sorted = xcalloc(n, sizeof(*sorted));

	for (size_t t = 0; t < n_tiers; t++)
		for (size_t i = 0; i < n; i++)
			if (r->recipients[i].tier == t)
				sorted[k++] = r->recipients[i];
	free(r->recipients);
	r->recipients = sorted;
}

static const struct conf_series *
find_series(const struct conf *c, const char *title)
{
	char *key;
	const struct conf_series *found = NULL;

	if (title == NULL)
		return NULL;
	key = text_key(title);
	for (size_t i = 0; i < c->n_series && !found; i++) {
		if (c->series[i].n_tiers == 0)
			continue;	/* an entry that only says who sends */
		char *k = text_key(c->series[i].title);
		if (strcmp(k, key) == 0)
			found = &c->series[i];
		free(k);
	}
	free(key);
	return found;
}

struct route *
route_resolve(const struct conf *c, const struct bulletin *b)
{
	struct builder B = { 0 };
	struct route *r = xcalloc(1, sizeof(*r));
	struct sbuf reason = SBUF_INIT;
	size_t undefined = 0;

	B.c = c;
	B.r = r;
	B.groups = xcalloc(c->n_groups + 1, sizeof(*B.groups));
	B.group_mark = xcalloc(c->n_groups + 1, sizeof(unsigned));
	B.walk_rcpt_mark = xcalloc(c->n_recipients + 1, sizeof(unsigned));
	B.unit_rcpt_mark = xcalloc(c->n_recipients + 1, sizeof(unsigned));
	B.name_mark = xcalloc(c->n_names + 1, sizeof(unsigned));
	B.stack = xcalloc(c->n_groups + 1, sizeof(*B.stack));
	/* so that 10 000 recipients dedupe in linear time */
	B.seen = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
	B.units = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
	B.missing = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);

	if (b->n_tiers > 0) {
		for (size_t i = 0; i < b->n_tiers; i++) {
			const struct bulletin_tier *bt = &b->tiers[i];
			struct route_tier *t = add_tier(&B, bt->label, bt->keyword);
			if (t->conf_tier < 0) {
				struct sbuf msg = SBUF_INIT;
				sbuf_printf(&msg, "tier '%s' (line %zu) is not defined in "
				    "the configuration's tiers", bt->label, bt->line);
				push_string(&r->unresolved, &r->n_unresolved, sbuf_steal(&msg));
				undefined++;
			}
			add_units(&B, t, bt->units, bt->n_units, bt->breaks, bt->n_breaks);
		}
	} else {
		const struct conf_series *s = find_series(c, b->title);
		if (s != NULL) {
			r->from_series = true;
			for (size_t i = 0; i < s->n_tiers; i++) {
				struct route_tier *t = add_tier(&B, s->tiers[i].tier,
				    s->tiers[i].tier);
				add_units(&B, t, s->tiers[i].units, s->tiers[i].n_units, NULL, 0);
			}
		}
	}
	for (size_t i = 0; i < r->n_recipients; i++)
		r->recipients[i].via = sbuf_steal(&B.via[i].text);
	sort_recipients(r, c->n_tiers);

	if (b->n_tiers == 0 && !r->from_series) {
		if (b->title)
			sbuf_printf(&reason, "no recipient tiers (报/送/发) in the footer "
			    "and no series entry for the title '%s'", b->title);
		else
			sbuf_puts(&reason, "no recipient tiers (报/送/发) in the footer "
			    "and no title to find a series entry by");
	} else if (undefined > 0) {
		sbuf_printf(&reason, "%s", r->unresolved[0]);
	} else if (r->n_unresolved > 0 && c->on_unresolved == CONF_UNRESOLVED_HOLD) {
		sbuf_printf(&reason, "%zu unresolved unit%s (on_unresolved = \"hold\"): ",
		    r->n_unresolved, r->n_unresolved == 1 ? "" : "s");
		for (size_t i = 0; i < r->n_unresolved && i < 5; i++)
			sbuf_printf(&reason, "%s%s", i ? "; " : "", r->unresolved[i]);
		if (r->n_unresolved > 5)
			sbuf_puts(&reason, "; …");
	} else if (r->n_recipients == 0) {
		sbuf_puts(&reason, "no unit resolved to any recipient");
	}
	if (reason.len > 0)
		r->hold_reason = sbuf_steal(&reason);
	sbuf_free(&reason);
	g_hash_table_destroy(B.seen);
	free(B.via);
	for (size_t i = 0; i < c->n_groups; i++)
		free(B.groups[i].rcs);
	free(B.groups);
	free(B.group_mark);
	free(B.walk_rcpt_mark);
	free(B.unit_rcpt_mark);
	free(B.name_mark);
	free(B.stack);
	g_hash_table_destroy(B.units);
	g_hash_table_destroy(B.missing);
	return r;
}

const char *
route_reading_name(enum route_reading r)
{
	switch (r) {
	case ROUTE_READ_WHOLE:
		return "whole";
	case ROUTE_READ_LINES:
		return "lines";
	case ROUTE_READ_PARTS:
		break;
	}
	return "parts";
}

void
route_free(struct route *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_tiers; i++) {
		struct route_tier *t = &r->tiers[i];
		for (size_t j = 0; j < t->n_units; j++) {
			struct route_unit *u = &t->units[j];
			free(u->text);
			for (size_t k = 0; k < u->n_targets; k++) {
				free(u->targets[k].name);
				free(u->targets[k].address);
			}
			free(u->targets);
			for (size_t k = 0; k < u->n_missing; k++)
				free(u->missing[k]);
			free(u->missing);
			for (size_t k = 0; k < u->n_sides; k++)
				free(u->sides[k]);
			free(u->sides);
		}
		free(t->units);
		free(t->keyword);
		free(t->label);
	}
	free(r->tiers);
	for (size_t i = 0; i < r->n_recipients; i++) {
		struct route_recipient *rr = &r->recipients[i];
		free(rr->tier_keyword);
		free(rr->unit);
		free(rr->via);
		free(rr->name);
		free(rr->display);
		free(rr->address);
	}
	free(r->recipients);
	for (size_t i = 0; i < r->n_unresolved; i++)
		free(r->unresolved[i]);
	free(r->unresolved);
	free(r->hold_reason);
	free(r);
}
