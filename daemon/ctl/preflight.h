#ifndef DISTD_PREFLIGHT_H
#define DISTD_PREFLIGHT_H

#include <stdio.h>

#include "conf.h"

/*
 * distctl check: a preflight of the configured relay without sending mail.
 * One line per step — dns, connect, tls (certificate subject, issuer,
 * expiry), ehlo (capabilities), auth, quit — with "ok" or the exact
 * failure. Returns 0 when every step passed, -1 otherwise.
 */
int preflight_run(const struct conf *c, FILE *out);

#endif
