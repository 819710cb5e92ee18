#ifndef DISTD_ROUTE_H
#define DISTD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "bulletin.h"
#include "conf.h"

/*
 * Routing: a parsed bulletin's tiers → mailing lists, from the recipient
 * directory of the configuration. Pure: no I/O.
 *
 * Each unit is matched whole against recipient and group names and
 * aliases (after width folding, spaces ignored); failing that it is split
 * on 、 and each part is matched. A unit the footer wrapped over two lines
 * with no separator at the break (a soft break, bulletin.h) is read joined
 * first, as above; only when that leaves something unmatched are the lines
 * read apart, each side whole then by 、, and that reading is taken when it
 * matches everything. There is no fuzzy or substring matching: a wrong
 * recipient for an official document is worse than a missing one.
 *
 * A unit printed more than once under one configured tier (same matching
 * key) is one unit: only its first appearance is in the tier's units. A
 * unit lists each recipient once, and a missing part once. Routing takes
 * time linear in the footer and the part of the directory it reaches
 * (conf_load bounds group depth and size).
 */

/* How a unit was read. */
enum route_reading {
	ROUTE_READ_WHOLE,	/* the unit text is one name */
	ROUTE_READ_PARTS,	/* its 、-parts are names (or it did not resolve) */
	ROUTE_READ_LINES,	/* split at its soft line breaks, each side read alone */
};

/* "whole", "parts", "lines". */
const char *route_reading_name(enum route_reading r);

/* One (name, address) a unit reached. */
struct route_target {
	char *name;
	char *address;
};

struct route_unit {
	char *text;
	bool resolved;			/* every part matched */
	struct route_target *targets;	/* in the order its names and groups list them */
	size_t n_targets;
	char **missing;			/* parts that matched nothing */
	size_t n_missing;
	enum route_reading reading;
	char **sides;			/* ROUTE_READ_LINES: the texts read, in order */
	size_t n_sides;
};

struct route_tier {
	char *keyword;		/* the configured keyword; the label when undefined */
	char *label;		/* as printed (抄送) */
	int conf_tier;		/* index into conf->tiers, -1 when not configured */
	struct route_unit *units;
	size_t n_units;
};

/* One address to deliver to, once, under the first tier in delivery order. */
struct route_recipient {
	size_t tier;		/* index into conf->tiers */
	char *tier_keyword;
	char *unit;		/* the unit that put it in that tier */
	char *via;		/* every tier:unit that led here, "报:中央文明办; 发:各区文明办" */
	char *name;		/* directory name */
	char *display;		/* for To/Cc */
	char *address;
};

struct route {
	struct route_tier *tiers;		/* footer order (or series order) */
	size_t n_tiers;
	struct route_recipient *recipients;	/* delivery order */
	size_t n_recipients;
	char **unresolved;			/* "报: 区政协领导同志", readable */
	size_t n_unresolved;
	bool from_series;			/* tiers came from conf series */
	char *hold_reason;			/* NULL when the issue may be sent */
};

/* Resolves b against c. Always succeeds; free with route_free. */
struct route *route_resolve(const struct conf *c, const struct bulletin *b);

void route_free(struct route *r);

#endif
