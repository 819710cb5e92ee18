#ifndef DISTD_ISSUE_H
#define DISTD_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "bulletin.h"
#include "compose.h"
#include "conf.h"
#include "queue.h"
#include "route.h"

/*
 * A routed bulletin as what the queue stores: its message and its
 * recipient rows. Used when an issue arrives (outbox) and when a held
 * one is routed again (distctl release), so both render the same way.
 */

/* The message: directory display names in To/Cc by each tier's header. */
char *issue_render(const struct conf *c, const struct bulletin *b, const struct route *r,
    const char *subject, const char *message_id, int64_t id, int64_t date,
    const struct compose_attachment *att, size_t n_att, size_t *len, char *err,
    size_t errsz);

/* One queue row per routed recipient; the strings point into r. Caller frees the array. */
struct queue_recipient_in *issue_recipients(const struct conf *c, const struct route *r);

#endif
