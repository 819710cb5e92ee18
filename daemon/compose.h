#ifndef DISTD_COMPOSE_H
#define DISTD_COMPOSE_H

#include "bulletin.h"

/*
 * Message composition (pure).
 */

/*
 * Renders a sender.subject template: %title%, %issue% (第N期's N),
 * %total%, %date%, %issuer%, %% for a literal percent sign. A value the
 * issue does not state renders empty, and the "第期" / "总第期" it would
 * leave behind is dropped, so "%title% 第%issue%期" on an issue without a
 * number gives just the title. Control characters (CR, LF, TAB …) become
 * spaces and runs of spaces collapse: a subject is one header line.
 * Returns a new string (caller frees).
 */
char *compose_subject(const char *tmpl, const struct bulletin *b);

#endif
