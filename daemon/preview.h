#ifndef DISTD_PREVIEW_H
#define DISTD_PREVIEW_H

#include "bulletin.h"
#include "sbuf.h"

/*
 * What `distctl preview` prints for a parsed bulletin: a readable report
 * or the JSON document of DESIGN.md. Pure formatting into out.
 */
void preview_text(struct sbuf *out, const struct bulletin *b);
void preview_json(struct sbuf *out, const struct bulletin *b);

#endif
