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
 * on 、 and each part is matched. There is no fuzzy or substring matching:
 * a wrong recipient for an official document is worse than a missing one.
 */

/* One (name, address) a unit reached. */
struct route_target {
	char *name;
	char *address;
};

struct route_unit {
	char *text;
	bool resolved;			/* every part matched */
	struct route_target *targets;	/* in directory order */
	size_t n_targets;
	char **missing;			/* parts that matched nothing */
	size_t n_missing;
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
