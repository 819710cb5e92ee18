#ifndef DISTD_ADDRESS_H
#define DISTD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * E-mail address syntax (RFC 5321 Mailbox), for the configuration.
 *
 * Accepted: local-part as dot-atom or quoted string; domain as host name
 * (letters, digits, hyphens; at least one dot) or address literal
 * [IPv4]. Non-ASCII local parts and domains are refused: libcurl 7.88 has
 * no reliable SMTPUTF8, and an internationalised domain can be written in
 * its xn-- form. Total length at most 254, local part at most 64.
 *
 * Returns true, or false with the reason in why.
 */
bool address_valid(const char *addr, char *why, size_t whysz);

/*
 * Splits a mailbox as written in sender.from: "Display Name <addr>" or
 * just "addr", read by GMime's RFC 5322 address parser (quoted names,
 * encoded words, comments), then held to address_valid's envelope rules.
 * One mailbox only: no group, no list, nothing after the '>'.
 * *display is NULL when there is none. Both are copies for the caller to
 * free. Returns 0, or -1 with the reason in why.
 */
int address_parse_mailbox(const char *mailbox, char **display, char **addr,
    char *why, size_t whysz);

/* Lower-cases a copy of addr for comparison (dedupe); caller frees. */
char *address_key(const char *addr);

#endif
