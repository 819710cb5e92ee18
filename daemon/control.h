#ifndef DISTD_CONTROL_H
#define DISTD_CONTROL_H

#include <stddef.h>

/*
 * The control socket: a Unix stream socket, one request line per
 * connection, one reply line back ("ok …" or "error …").
 *   ping    → ok PID
 *   wake    → ok            (run the scheduler and rescan the outbox now)
 *   reload  → ok | error …  (re-read the configuration)
 *   health  → ok queue connected
 *             ok queue unreachable since=T next=N error=E
 *             (the queue's server is lost since unix time T, the next try
 *             is in N s, E is the last error, to the end of the line)
 * distd gives a client 2 s for its line (at most 255 bytes) and keeps at
 * most 16 open; beyond that the reply is "error too many control clients".
 */

#include <stdbool.h>
#include <stdint.h>

/* The daemon's queue as `health` reports it. */
struct control_health {
	bool unreachable;
	int64_t since;		/* unix time the connection was lost */
	long next;		/* seconds until the next reconnect try */
	char error[256];	/* the last error (no connection string: the queue's) */
};

/* The reply line for h, with its newline; an error's line breaks become spaces. */
void control_health_format(const struct control_health *h, char *buf, size_t bufsz);
/* A `health` reply line back into h: 0, or -1 when it is not one (an older distd). */
int control_health_parse(const char *reply, struct control_health *h);

/* Creates the listening socket (mode 0660), replacing a stale one. Returns the fd or -1. */
int control_listen(const char *path, char *err, size_t errsz);

/*
 * Reads one request line from an accepted connection (bounded by a 1 s
 * timeout per byte). For simple servers and tests: distd's own loop reads
 * its clients without blocking, with a deadline per request.
 */
int control_read_request(int fd, char *line, size_t linesz);

/* Client side: sends cmd, puts the reply line in reply. Returns 0, or -1 with err. */
int control_request(const char *path, const char *cmd, char *reply, size_t replysz,
    char *err, size_t errsz);

#endif
