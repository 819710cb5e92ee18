#ifndef DISTD_QUEUE_PRIVATE_H
#define DISTD_QUEUE_PRIVATE_H

/* Shared by the files of the queue module only. */

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct queue_backend;

struct queue {
	const struct queue_backend *backend;	/* chosen by queue_open_mode */
	/* ---- the SQLite backend's ---- */
	sqlite3 *db;
	char *path;
	dev_t dev;		/* the database file opened, for queue_check_file */
	ino_t ino;
	/* issue ids handed out by queue_reserve and not yet committed or given back */
	int64_t reserved_upto;
	int reservations;
	/* ---- the PostgreSQL backend's (queue_pg.c) ---- */
	struct pg_conn *pg;	/* libpq's PGconn */
	char *pg_name;		/* "PostgreSQL queue DB on HOST": messages never
				 * show the connection string */
	bool pg_lost;		/* the server ended the session (its FATAL came) */
	/* ---- several nodes (queue_join): NULL and 0 until joined ---- */
	char *node;
	long lease;
};

/*
 * Takes an exclusive flock on the file lock (created 0640) and writes the
 * PID into it, for the daemon's life (*fd stays open): the lock of both
 * backends. what names the queue in the error ("… is in use by another
 * distd (PID …)"). 0, or -1 with err.
 */
int queue_lock_file(const char *lock, const char *what, int *fd, char *err,
    size_t errsz);
/* The PostgreSQL schema version this code writes. */
int queue_pg_schema_latest(void);

int queue_fail(struct queue *q, char *err, size_t errsz, const char *what);
int queue_exec(struct queue *q, const char *sql, char *err, size_t errsz);
void queue_rollback(struct queue *q);
sqlite3_stmt *queue_prepare(struct queue *q, const char *sql);
void queue_bind_text(sqlite3_stmt *st, int i, const char *s);
/*
 * Runs one statement with ?1 = a, ?2 = b, ?3 = t (a statement need not use
 * them all). Returns 0, or -1 for the caller's queue_fail().
 */
int queue_run1(struct queue *q, const char *sql, int64_t a, int64_t b, const char *t);
char *queue_col_text(sqlite3_stmt *st, int i);
/*
 * A stored word (column i of st) that no enum of the queue knows: a row
 * written by a newer distd or by hand. Sets err to "reading the queue:
 * COLUMN has an unknown value 'WORD'" and returns -1.
 */
int queue_bad_word(sqlite3_stmt *st, int i, const char *column, char *err, size_t errsz);
/* Binds ?1..?9 of a recipients INSERT: issue, tier … address. */
struct queue_recipient_in;
void queue_bind_recipient(sqlite3_stmt *st, int64_t issue, const struct queue_recipient_in *r);

/*
 * For backends: a batch of issue's recipients with room for cap, and the
 * message bytes batches share (reference-counted: queue_batch_free drops
 * one). queue_message_new copies len bytes and adds a NUL.
 */
struct queue_batch *queue_batch_new(int64_t issue, int64_t received, size_t cap);
char *queue_message_new(const void *bytes, size_t len);
char *queue_message_share(char *message);

/* SQL of the hot paths, here so that tests can check their query plans. */
extern const char queue_take_sql[];
extern const char queue_take_lifetime_sql[];
/* The schema version this code writes (the number of migration steps). */
int queue_schema_latest(void);
extern const char queue_finish_settle_sql[];
extern const char queue_finish_report_sql[];

#endif
