/*
 * Unit tests of what comes back (issue 17): queue_feedback_apply and the
 * mailbox cursors, reminders counted at queue_commit, resends clearing a
 * bounce, and what the views, the record and the notices make of it. The
 * public queue API only, so that the suite runs on both backends (PG_SHARED
 * in the Makefile); facts of SQLite storage (the migration, a query plan)
 * skip on the PostgreSQL run.
 */
#include "testutil.h"

#include "testqueue.h"

#include <ctype.h>
#include <sqlite3.h>

#include "text.h"

static char dbpath[TEST_QUEUE_PATH_MAX];

#define FEEDBACK_OPS "feedback_apply, feedback_cursor, feedback_cursor_set"

static int
setup(void **state)
{
	*state = test_queue_open("queue-feedback", dbpath, sizeof(dbpath));
	return 0;
}

static int
teardown(void **state)
{
	test_queue_remove(*state, dbpath);
	return 0;
}

static double
no_jitter(int64_t issue, const char *tier, int attempt)
{
	(void)issue; (void)tier; (void)attempt;
	return 0.5;
}

static const struct queue_retry retry = { 10, 100, 1000 };

/*
 * A bulletin to n recipients r0..r(n-1)@example.test, tier 报 for the even
 * ones and 送 for the odd; asked (receipt) when ask. Returns its id.
 */
static int64_t
enqueue_bulletin(struct queue *q, const char *sha, int n, bool ask, int64_t now)
{
	struct queue_recipient_in r[16];
	char addr[16][32];
	int64_t id, dup;
	char err[256];

	assert_true(n <= 16);
	for (int i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%d@example.test", i);
		r[i] = (struct queue_recipient_in){ i % 2, i % 2 ? "送" : "报", "to", "单位",
		    "单位", "单位", "单位", addr[i], ask };
	}
	struct queue_issue_in in = { .sha256 = sha, .source = "a.txt",
		.kind = QUEUE_KIND_BULLETIN, .title = "简报", .subject = "简报 第1期",
		.issue_no = 1, .total_issue_no = -1, .received = now };
	if (queue_enqueue(q, &in, r, (size_t)n, "example.test", test_render_plain, NULL, &id,
	    &dup, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(dup, 0);
	return id;
}

/* A reminder of bulletin `of` to the addresses given. Returns its id. */
static int64_t
enqueue_reminder(struct queue *q, int64_t of, const char *const *addresses, size_t n,
    int64_t now)
{
	struct queue_recipient_in r[8];
	int64_t id, dup;
	char err[256], key[64];

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		r[i] = (struct queue_recipient_in){ 0, "报", "to", "单位", "单位", "单位", "单位",
		    addresses[i], true };
	snprintf(key, sizeof(key), "reminder-%lld-%lld", (long long)of, (long long)now);
	struct queue_issue_in in = { .sha256 = key, .source = "distctl remind",
		.kind = QUEUE_KIND_REMINDER, .title = "简报", .subject = "请确认收到",
		.issue_no = -1, .total_issue_no = -1, .received = now, .notice_for = of };
	if (queue_enqueue(q, &in, r, n, "example.test", test_render_plain, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(dup, 0);
	return id;
}

/* Takes and records every due recipient at now (fail: one address gets a 550), then finishes. */
static void
deliver_all(struct queue *q, int64_t now, const char *fail)
{
	struct queue_batch *b[8];
	size_t n, nr;
	int64_t *report;
	char err[256];

	for (int round = 0; round < 50; round++) {
		assert_int_equal(queue_take(q, now, 8, 50, b, &n, err, sizeof(err)), 0);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			struct smtp_verdict *res = calloc(b[i]->n, sizeof(*res));
			struct queue_attempt *att = calloc(b[i]->n, sizeof(*att));
			assert_non_null(res);
			assert_non_null(att);
			for (size_t k = 0; k < b[i]->n; k++) {
				bool bad = fail && strcmp(b[i]->addresses[k], fail) == 0;
				res[k] = (struct smtp_verdict){ .outcome = bad ? SMTP_PERM : SMTP_OK,
					.code = bad ? 550 : 250,
					.reply = bad ? "550 5.1.1 no such user" : "250 2.0.0 Ok",
					.class = bad ? SMTP_CLASS_5XX : SMTP_CLASS_OK };
				snprintf(res[k].dsn, sizeof(res[k].dsn), "%s", bad ? "5.1.1" : "2.0.0");
			}
			if (queue_record(q, b[i], res, NULL, att, now, 0.1, "relay:465", &retry,
			    no_jitter, err, sizeof(err)) < 0)
				fail_msg("%s", err);
			free(res);
			free(att);
			queue_batch_free(b[i]);
		}
	}
	assert_int_equal(queue_finish(q, now, &report, &nr, err, sizeof(err)), 0);
	free(report);
}

static char *
message_id_of(struct queue *q, int64_t id)
{
	struct queue_view_issue v;
	char err[256], *mid;

	if (queue_view_issue(q, id, NULL, &v, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	mid = strdup(v.message_id);
	queue_view_issue_free(&v);
	return mid;
}

/* One fact's feedback message, applied; returns what came back. */
static struct queue_feedback_out
apply(struct queue *q, const char *key, enum queue_feedback_kind kind, int64_t issue,
    const char *address, const char *status, const char *reply, int64_t when)
{
	struct queue_feedback_fact f = { address, NULL, status, reply };
	struct queue_feedback_in in = { .key = key, .kind = kind,
		.how = kind == QUEUE_FEEDBACK_BOUNCE ? "dsn" : "mdn", .issue = issue,
		.facts = &f, .n_facts = 1, .when = when };
	struct queue_feedback_out out;
	char err[256];

	if (queue_feedback_apply(q, &in, &out, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return out;
}

/* The record row of address in issue id (a copy of the fields asked for). */
static struct queue_record_recipient
record_of(struct queue *q, int64_t id, const char *address, struct queue_record **keep)
{
	char err[256];

	if (queue_record_read(q, id, keep, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	for (size_t i = 0; i < (*keep)->n_recipients; i++)
		if (strcmp((*keep)->recipients[i].address, address) == 0)
			return (*keep)->recipients[i];
	fail_msg("no recipient %s in issue %lld", address, (long long)id);
	return (*keep)->recipients[0];
}

/* How many history rows of status s issue id has (distctl log's view). */
static size_t
history(struct queue *q, int64_t id, enum queue_attempt_status s, const char *address)
{
	struct queue_view_attempt *a;
	size_t n, count = 0;
	char err[256];

	if (queue_view_attempts(q, 0, 10000, id, &a, &n, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	for (size_t i = 0; i < n; i++)
		if (a[i].status == s && (address == NULL || strcmp(a[i].address, address) == 0))
			count++;
	queue_view_attempts_free(a, n);
	return count;
}

/* ---- the results --------------------------------------------------------------- */

static void
test_each_result_kind(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_feedback_out out;
	int64_t id = enqueue_bulletin(q, "res1", 2, false, 1000);

	deliver_all(q, 1000, NULL);
	/* no such issue */
	out = apply(q, "k-none", QUEUE_FEEDBACK_BOUNCE, 999, "r0@example.test", "5.1.1",
	    "550 no", 2000);
	assert_int_equal(out.result, QUEUE_FEEDBACK_NO_ISSUE);
	assert_int_equal(out.issue, 0);
	/* the issue, but nobody of it */
	out = apply(q, "k-nobody", QUEUE_FEEDBACK_BOUNCE, id, "stranger@example.test", "5.1.1",
	    "550 no", 2000);
	assert_int_equal(out.result, QUEUE_FEEDBACK_NO_RECIPIENT);
	assert_int_equal(out.issue, id);
	assert_int_equal(out.matched, 0);
	assert_int_equal(out.unmatched, 1);
	/* applied, the address matched without regard to ASCII case */
	out = apply(q, "k-bounce", QUEUE_FEEDBACK_BOUNCE, id, "R0@Example.TEST", "5.2.2",
	    "552 mailbox full", 2000);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.issue, id);
	assert_int_equal(out.matched, 1);
	assert_int_equal(out.unmatched, 0);
	/* the same message again: seen, nothing done */
	out = apply(q, "k-bounce", QUEUE_FEEDBACK_BOUNCE, id, "r1@example.test", "5.2.2",
	    "552 mailbox full", 2100);
	assert_int_equal(out.result, QUEUE_FEEDBACK_SEEN);
	assert_int_equal(out.matched, 0);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_BOUNCED, NULL), 1);
	/* a message not applied leaves no key: a human may have it applied later */
	out = apply(q, "k-nobody", QUEUE_FEEDBACK_BOUNCE, id, "r1@example.test", "5.1.1",
	    "550 no", 2200);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
}

/* Message-IDs that disagree with the issue named are not believed. */
static void
test_message_ids_must_agree(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	int64_t id = enqueue_bulletin(q, "mid1", 2, false, 1000);
	char *mid = message_id_of(q, id), upper[400];
	struct queue_feedback_fact f = { "r0@example.test", NULL, "5.1.1", "550 no" };
	const char *other[] = { "distd.77.0123456789abcdef@example.test" };
	const char *both[] = { "unrelated@elsewhere.test", mid };
	struct queue_feedback_in in = { .key = "m1", .kind = QUEUE_FEEDBACK_BOUNCE,
		.how = "dsn", .issue = id, .message_ids = other, .n_message_ids = 1,
		.facts = &f, .n_facts = 1, .when = 2000 };
	struct queue_feedback_out out;
	char err[256];

	deliver_all(q, 1000, NULL);
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_NO_ISSUE);
	in.message_ids = both;
	in.n_message_ids = 2;
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	/* and the case of a Message-ID does not matter */
	snprintf(upper, sizeof(upper), "%s", mid);
	for (char *p = upper; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	const char *shouted[] = { upper };
	in.key = "m2";
	in.kind = QUEUE_FEEDBACK_CONFIRM;
	in.message_ids = shouted;
	in.n_message_ids = 1;
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	free(mid);
}

/* A bounce, then a confirmation; the first bounce wins; a second key confirming adds history only. */
static void
test_bounce_then_confirm(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_record *rec;
	struct queue_record_recipient x;
	struct queue_feedback_out out;
	int64_t id = enqueue_bulletin(q, "bc1", 2, true, 1000);

	deliver_all(q, 1000, NULL);
	out = apply(q, "b1", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.2.2",
	    "552 mailbox full", 2000);
	assert_int_equal(out.matched, 1);
	x = record_of(q, id, "r0@example.test", &rec);
	assert_int_equal(x.state, QUEUE_DELIVERED);	/* the transfer stays what it was */
	assert_int_equal(x.bounced, 2000);
	assert_string_equal(x.bounce_status, "5.2.2");
	assert_string_equal(x.bounce_reply, "552 mailbox full");
	assert_true(x.receipt);
	assert_int_equal(x.confirmed, 0);
	queue_record_free(rec);

	/* a second bounce: history only, the first one stands */
	out = apply(q, "b2", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.1.1",
	    "550 gone", 2500);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 0);
	x = record_of(q, id, "r0@example.test", &rec);
	assert_int_equal(x.bounced, 2000);
	assert_string_equal(x.bounce_status, "5.2.2");
	queue_record_free(rec);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_BOUNCED, "r0@example.test"), 2);

	/* confirmed: set once; a second key confirming adds a history row only */
	out = apply(q, "c1", QUEUE_FEEDBACK_CONFIRM, id, "r0@example.test", NULL, "displayed",
	    3000);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 1);
	out = apply(q, "c2", QUEUE_FEEDBACK_CONFIRM, id, "r0@example.test", NULL, "displayed",
	    3500);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 0);
	x = record_of(q, id, "r0@example.test", &rec);
	assert_int_equal(x.confirmed, 3000);
	assert_string_equal(x.confirmed_by, "mdn");
	assert_int_equal(x.bounced, 2000);
	queue_record_free(rec);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_CONFIRMED, "r0@example.test"), 2);
	/* r1 was never touched */
	x = record_of(q, id, "r1@example.test", &rec);
	assert_int_equal(x.bounced, 0);
	assert_int_equal(x.confirmed, 0);
	assert_null(x.bounce_status);
	assert_null(x.confirmed_by);
	queue_record_free(rec);
}

/* A bounce changes only a delivered row: one still waiting gets the history row only. */
static void
test_bounce_only_changes_delivered(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_record *rec;
	struct queue_record_recipient x;
	struct queue_feedback_out out;
	int64_t id = enqueue_bulletin(q, "bd1", 2, false, 1000);

	out = apply(q, "q1", QUEUE_FEEDBACK_BOUNCE, id, "r1@example.test", "5.1.1", "550 no",
	    1500);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 0);
	x = record_of(q, id, "r1@example.test", &rec);
	assert_int_equal(x.state, QUEUE_QUEUED);
	assert_int_equal(x.bounced, 0);
	queue_record_free(rec);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_BOUNCED, "r1@example.test"), 1);
}

/* The key table stops a second application after the queue is opened again. */
static void
test_seen_across_reopen(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state, *q2;
	struct queue_feedback_out out;
	char err[256];
	int64_t id = enqueue_bulletin(q, "seen1", 2, true, 1000);

	deliver_all(q, 1000, NULL);
	out = apply(q, "again", QUEUE_FEEDBACK_CONFIRM, id, "r1@example.test", NULL,
	    "displayed", 2000);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	if (queue_open(dbpath, &q2, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	out = apply(q2, "again", QUEUE_FEEDBACK_CONFIRM, id, "r1@example.test", NULL,
	    "displayed", 2000);
	assert_int_equal(out.result, QUEUE_FEEDBACK_SEEN);
	assert_int_equal(history(q2, id, QUEUE_ATTEMPT_CONFIRMED, NULL), 1);
	queue_close(q2);
}

/* ---- the cursor ------------------------------------------------------------------- */

static void
test_cursor_round_trip_and_moved_with_apply(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	uint32_t v, u;
	char err[256];
	int64_t id = enqueue_bulletin(q, "cur1", 2, false, 1000);

	assert_int_equal(queue_feedback_cursor(q, "imaps://h/INBOX", &v, &u, err,
	    sizeof(err)), 1);
	assert_int_equal(v, 0);
	assert_int_equal(u, 0);
	assert_int_equal(queue_feedback_cursor_set(q, "imaps://h/INBOX", 4000000000u, 7, err,
	    sizeof(err)), 0);
	assert_int_equal(queue_feedback_cursor(q, "imaps://h/INBOX", &v, &u, err,
	    sizeof(err)), 0);
	assert_int_equal(v, 4000000000u);	/* the whole 32 bits */
	assert_int_equal(u, 7);
	/* another mailbox is another cursor */
	assert_int_equal(queue_feedback_cursor(q, "imaps://h/Other", &v, &u, err,
	    sizeof(err)), 1);

	/* applied or not, the cursor moves with the message, in its transaction */
	struct queue_feedback_fact f = { "nobody@example.test", NULL, "5.1.1", "550" };
	struct queue_feedback_in in = { .key = "cur-k1", .kind = QUEUE_FEEDBACK_BOUNCE,
		.how = "dsn", .issue = id, .facts = &f, .n_facts = 1, .when = 2000,
		.cursor = "imaps://h/INBOX", .uidvalidity = 4000000000u, .uid = 8 };
	struct queue_feedback_out out;
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_NO_RECIPIENT);
	assert_int_equal(queue_feedback_cursor(q, "imaps://h/INBOX", &v, &u, err,
	    sizeof(err)), 0);
	assert_int_equal(u, 8);
	in.issue = 12345;
	in.uid = 9;
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_NO_ISSUE);
	assert_int_equal(queue_feedback_cursor(q, "imaps://h/INBOX", &v, &u, err,
	    sizeof(err)), 0);
	assert_int_equal(u, 9);
	/* a new UIDVALIDITY starts again */
	in.uidvalidity = 5;
	in.uid = 1;
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(queue_feedback_cursor(q, "imaps://h/INBOX", &v, &u, err,
	    sizeof(err)), 0);
	assert_int_equal(v, 5);
	assert_int_equal(u, 1);
}

/* An apply that fails stores nothing: neither the rows, nor the key, nor the cursor. */
static void
test_failed_apply_moves_nothing(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	uint32_t v, u;
	char err[256];
	int64_t id = enqueue_bulletin(q, "fail1", 2, false, 1000);
	struct queue_feedback_fact f = { "r0@example.test", NULL, "5.1.1", "550" };
	struct queue_feedback_in in = { .key = NULL, .kind = QUEUE_FEEDBACK_BOUNCE,
		.how = "dsn", .issue = id, .facts = &f, .n_facts = 1, .when = 2000,
		.cursor = "c", .uidvalidity = 1, .uid = 5 };
	struct queue_feedback_out out;

	deliver_all(q, 1000, NULL);
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key"));
	assert_int_equal(queue_feedback_cursor(q, "c", &v, &u, err, sizeof(err)), 1);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_BOUNCED, NULL), 0);
}

/* ---- reminders ------------------------------------------------------------------------ */

static void
test_reminder_counted_and_feedback_redirected(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_record *rec;
	struct queue_record_recipient x;
	struct queue_feedback_out out;
	const char *to[] = { "R1@example.test", "r3@example.test" };
	int64_t id = enqueue_bulletin(q, "rem1", 4, true, 1000);

	deliver_all(q, 1000, NULL);
	int64_t rem = enqueue_reminder(q, id, to, 2, 5000);
	x = record_of(q, id, "r1@example.test", &rec);
	assert_int_equal(x.reminders, 1);
	assert_int_equal(x.last_reminded, 5000);
	queue_record_free(rec);
	x = record_of(q, id, "r0@example.test", &rec);
	assert_int_equal(x.reminders, 0);
	assert_int_equal(x.last_reminded, 0);
	queue_record_free(rec);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_REMINDED, NULL), 2);
	/* a second reminder counts again (no content dedup for reminders) */
	assert_true(enqueue_reminder(q, id, to, 1, 6000) > rem);
	x = record_of(q, id, "r1@example.test", &rec);
	assert_int_equal(x.reminders, 2);
	assert_int_equal(x.last_reminded, 6000);
	queue_record_free(rec);
	/* distctl show counts them too */
	struct queue_view_issue v;
	const struct queue_view_filter only = { .tier = "送" };
	char verr[256];
	assert_int_equal(queue_view_issue(q, id, &only, &v, verr, sizeof(verr)), 0);
	assert_int_equal(v.n_recipients, 2);
	assert_string_equal(v.recipients[0].address, "r1@example.test");
	assert_int_equal(v.recipients[0].reminders, 2);
	assert_int_equal(v.recipients[1].reminders, 1);	/* r3 */
	queue_view_issue_free(&v);

	/* the reminder's own recipients are its own; feedback naming it goes to the bulletin */
	char *rmid = message_id_of(q, rem);
	const char *ids[] = { rmid };
	struct queue_feedback_fact f = { "r3@example.test", NULL, NULL, "Re: 请确认收到" };
	struct queue_feedback_in in = { .key = "rem-reply", .kind = QUEUE_FEEDBACK_CONFIRM,
		.how = "reply", .issue = rem, .message_ids = ids, .n_message_ids = 1,
		.facts = &f, .n_facts = 1, .when = 7000 };
	char err[256];
	assert_int_equal(queue_feedback_apply(q, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.issue, id);
	assert_int_equal(out.matched, 1);
	x = record_of(q, id, "r3@example.test", &rec);
	assert_int_equal(x.confirmed, 7000);
	assert_string_equal(x.confirmed_by, "reply");
	queue_record_free(rec);
	free(rmid);
}

/* ---- resend ------------------------------------------------------------------------------ */

static void
test_resend_clears_the_bounce(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_record *rec;
	struct queue_record_recipient x;
	char err[256];
	int64_t id = enqueue_bulletin(q, "rs1", 4, true, 1000);

	deliver_all(q, 1000, NULL);
	apply(q, "rb0", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.2.2", "full", 2000);
	apply(q, "rb1", QUEUE_FEEDBACK_BOUNCE, id, "r1@example.test", "5.2.2", "full", 2000);
	apply(q, "rb2", QUEUE_FEEDBACK_BOUNCE, id, "r2@example.test", "5.2.2", "full", 2000);
	apply(q, "rc0", QUEUE_FEEDBACK_CONFIRM, id, "r0@example.test", NULL, "displayed", 2100);
	/* resend to one address: its bounce goes, the confirmation stays */
	assert_int_equal(queue_resend(q, id, NULL, "r0@example.test", 3000, err, sizeof(err)),
	    1);
	x = record_of(q, id, "r0@example.test", &rec);
	assert_int_equal(x.bounced, 0);
	assert_null(x.bounce_status);
	assert_null(x.bounce_reply);
	assert_int_equal(x.confirmed, 2100);
	queue_record_free(rec);
	x = record_of(q, id, "r1@example.test", &rec);
	assert_int_equal(x.bounced, 2000);
	queue_record_free(rec);
	/* resend --all */
	deliver_all(q, 3000, NULL);
	assert_true(queue_resend_all(q, id, "报", 4000, err, sizeof(err)) >= 1);
	x = record_of(q, id, "r2@example.test", &rec);
	assert_int_equal(x.bounced, 0);
	queue_record_free(rec);
	x = record_of(q, id, "r1@example.test", &rec);	/* tier 送: untouched */
	assert_int_equal(x.bounced, 2000);
	queue_record_free(rec);
	/* a correction: the new row starts clean and is asked as the old was */
	deliver_all(q, 4000, NULL);
	assert_int_equal(queue_resend_to(q, id, NULL, "new1@example.test", "r1@example.test",
	    5000, err, sizeof(err)), 1);
	x = record_of(q, id, "new1@example.test", &rec);
	assert_int_equal(x.bounced, 0);
	assert_true(x.receipt);
	queue_record_free(rec);
	x = record_of(q, id, "r1@example.test", &rec);	/* the old one keeps what happened */
	assert_int_equal(x.bounced, 2000);
	queue_record_free(rec);
}

/* ---- views ------------------------------------------------------------------------------- */

/* queue_view_status's bounced and recent_bounced (since `since`). */
static void
bounced_counts(struct queue *q, int64_t since, long *bounced, long *recent, long *delivered)
{
	struct queue_view_status v;
	char err[256];

	if (queue_view_status(q, since, 10, &v, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	*bounced = v.bounced;
	*recent = v.recent_bounced;
	*delivered = v.counts.delivered;
	queue_view_status_free(&v);
}

/*
 * status's bounce counts: every bounced recipient (not replaced), and of
 * those the ones that bounced since the window's start in issues not
 * cancelled (what makes distctl status exit 3). A resend or a correction
 * takes a recipient out; the first bounce's time is the one that counts.
 */
static void
test_status_counts_bounces(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	long bounced, recent, delivered;
	char err[256];
	int64_t id = enqueue_bulletin(q, "sb1", 4, false, 1000);

	deliver_all(q, 1000, NULL);
	bounced_counts(q, 0, &bounced, &recent, &delivered);
	assert_int_equal(bounced, 0);
	assert_int_equal(recent, 0);
	apply(q, "sb-r0", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.2.2", "full", 2000);
	apply(q, "sb-r1", QUEUE_FEEDBACK_BOUNCE, id, "r1@example.test", "5.1.1", "gone", 5000);
	/* a confirmation is no bounce */
	apply(q, "sb-c2", QUEUE_FEEDBACK_CONFIRM, id, "r2@example.test", NULL, "displayed", 5000);
	bounced_counts(q, 3000, &bounced, &recent, &delivered);
	assert_int_equal(bounced, 2);
	assert_int_equal(recent, 1);		/* r0 bounced before the window */
	assert_int_equal(delivered, 4);		/* counts keep the transfer state */
	bounced_counts(q, 2000, &bounced, &recent, &delivered);
	assert_int_equal(recent, 2);		/* at the window's start counts */
	/* a later bounce of r0 adds history only: its first bounce stays the time */
	apply(q, "sb-r0b", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.2.2", "full", 6000);
	bounced_counts(q, 5500, &bounced, &recent, &delivered);
	assert_int_equal(bounced, 2);
	assert_int_equal(recent, 0);

	/* sent again: no longer bounced */
	assert_int_equal(queue_resend(q, id, NULL, "r1@example.test", 7000, err, sizeof(err)),
	    1);
	bounced_counts(q, 3000, &bounced, &recent, &delivered);
	assert_int_equal(bounced, 1);
	assert_int_equal(recent, 0);
	deliver_all(q, 7000, NULL);

	/* a cancelled issue's bounce stays counted, but needs no look */
	int64_t other = enqueue_bulletin(q, "sb2", 2, false, 8000);
	deliver_all(q, 8000, NULL);
	apply(q, "sb2-r0", QUEUE_FEEDBACK_BOUNCE, other, "r0@example.test", "5.1.1", "gone",
	    9000);
	bounced_counts(q, 3000, &bounced, &recent, &delivered);
	assert_int_equal(bounced, 2);
	assert_int_equal(recent, 1);
	assert_int_equal(queue_cancel(q, other, NULL, 9500, err, sizeof(err)) >= 0, 1);
	bounced_counts(q, 3000, &bounced, &recent, &delivered);
	assert_int_equal(bounced, 2);
	assert_int_equal(recent, 0);

	/* corrected: the replaced row is no longer counted */
	assert_int_equal(queue_resend_to(q, id, NULL, "new0@example.test", "r0@example.test",
	    10000, err, sizeof(err)), 1);
	bounced_counts(q, 0, &bounced, &recent, &delivered);
	assert_int_equal(bounced, 1);		/* the cancelled issue's */
	assert_int_equal(recent, 0);
}

static const struct queue_view_tier *
tier_of(const struct queue_view_status *v, int64_t id, const char *tier)
{
	for (size_t i = 0; i < v->n_recent; i++)
		if (v->recent[i].id == id)
			for (size_t k = 0; k < v->recent[i].n_tiers; k++)
				if (strcmp(v->recent[i].tiers[k].tier, tier) == 0)
					return &v->recent[i].tiers[k];
	fail_msg("no tier %s of issue %lld in the status view", tier, (long long)id);
	return NULL;
}

static void
assert_tier(struct queue *q, int64_t id, const char *tier, long total, long delivered,
    long bounced, long confirmed, long receipt)
{
	struct queue_view_status v;
	char err[256];

	if (queue_view_status(q, 0, 10, &v, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	const struct queue_view_tier *t = tier_of(&v, id, tier);
	if (t->total != total || t->delivered != delivered || t->bounced != bounced ||
	    t->confirmed != confirmed || t->receipt != receipt)
		fail_msg("issue %lld tier %s: total %ld delivered %ld bounced %ld confirmed %ld"
		    " receipt %ld; wanted %ld %ld %ld %ld %ld", (long long)id, tier, t->total,
		    t->delivered, t->bounced, t->confirmed, t->receipt, total, delivered,
		    bounced, confirmed, receipt);
	queue_view_status_free(&v);
}

/*
 * The tiers of an issue still going are counted, those of a finished one
 * kept (issue_tiers): the two must agree after every kind of feedback.
 */
static void
test_view_tiers_live_and_finished_agree(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	char err[256];
	/* finished: all 4 delivered */
	int64_t done = enqueue_bulletin(q, "vt1", 4, true, 1000);
	deliver_all(q, 1000, NULL);
	/* live: sent again to its tier 送, which is held: the issue stays active */
	int64_t live = enqueue_bulletin(q, "vt2", 4, true, 1000);
	deliver_all(q, 1000, NULL);
	assert_true(queue_resend(q, live, "送", NULL, 1100, err, sizeof(err)) == 2);
	assert_int_equal(queue_hold(q, live, "送", "wait", err, sizeof(err)), 2);
	int64_t *report;
	size_t nr;
	assert_int_equal(queue_finish(q, 1100, &report, &nr, err, sizeof(err)), 0);
	free(report);

	for (int k = 0; k < 2; k++) {
		int64_t id = k == 0 ? done : live;
		char key[32];
		snprintf(key, sizeof(key), "vb-%d", k);
		apply(q, key, QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.2.2", "full", 2000);
		snprintf(key, sizeof(key), "vc-%d", k);
		apply(q, key, QUEUE_FEEDBACK_CONFIRM, id, "r2@example.test", NULL, "displayed",
		    2000);
		snprintf(key, sizeof(key), "vc2-%d", k);
		apply(q, key, QUEUE_FEEDBACK_CONFIRM, id, "r2@example.test", NULL, "displayed",
		    2001);
		snprintf(key, sizeof(key), "vb2-%d", k);
		apply(q, key, QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.1.1", "gone", 2002);
	}
	/* 报: r0 (bounced), r2 (confirmed) */
	assert_tier(q, done, "报", 2, 1, 1, 1, 2);
	assert_tier(q, live, "报", 2, 1, 1, 1, 2);
	assert_tier(q, done, "送", 2, 2, 0, 0, 2);
	assert_tier(q, live, "送", 2, 0, 0, 0, 2);
	/* the finished issue's kept totals are what counting gives: reopen and finish it */
	assert_int_equal(queue_resend(q, done, "送", NULL, 3000, err, sizeof(err)), 2);
	assert_tier(q, done, "报", 2, 1, 1, 1, 2);
	deliver_all(q, 3000, NULL);
	assert_tier(q, done, "报", 2, 1, 1, 1, 2);
	assert_tier(q, done, "送", 2, 2, 0, 0, 2);
}

static void
test_pending_and_unconfirmed_filters(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_view_issue v;
	char err[256];
	int64_t id = enqueue_bulletin(q, "pf1", 4, true, 1000);

	deliver_all(q, 1000, "r3@example.test");
	apply(q, "pb", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.2.2", "full", 2000);
	apply(q, "pc", QUEUE_FEEDBACK_CONFIRM, id, "r1@example.test", NULL, "displayed", 2000);
	const struct queue_view_filter pending = { .pending = true };
	assert_int_equal(queue_view_issue(q, id, &pending, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recipients, 2);	/* r0 bounced, r3 failed */
	assert_string_equal(v.recipients[0].address, "r0@example.test");
	assert_int_equal(v.recipients[0].bounced, 2000);
	assert_string_equal(v.recipients[0].bounce_status, "5.2.2");
	assert_string_equal(v.recipients[0].bounce_reply, "full");
	assert_true(v.recipients[0].receipt);
	assert_string_equal(v.recipients[1].address, "r3@example.test");
	queue_view_issue_free(&v);
	const struct queue_view_filter unconfirmed = { .unconfirmed = true };
	assert_int_equal(queue_view_issue(q, id, &unconfirmed, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recipients, 3);	/* r0 r2 r3; r1 confirmed */
	for (size_t i = 0; i < v.n_recipients; i++)
		assert_string_not_equal(v.recipients[i].address, "r1@example.test");
	queue_view_issue_free(&v);
	/* with a tier, and the confirmation shown */
	const struct queue_view_filter all = { .tier = "送" };
	assert_int_equal(queue_view_issue(q, id, &all, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recipients, 2);
	assert_string_equal(v.recipients[0].address, "r1@example.test");
	assert_int_equal(v.recipients[0].confirmed, 2000);
	assert_string_equal(v.recipients[0].confirmed_by, "mdn");
	assert_int_equal(v.recipients[0].reminders, 0);
	queue_view_issue_free(&v);
	/* nobody asked: nobody unconfirmed */
	int64_t plain = enqueue_bulletin(q, "pf2", 2, false, 1000);
	assert_int_equal(queue_view_issue(q, plain, &unconfirmed, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n_recipients, 0);
	queue_view_issue_free(&v);
}

/* The history rows read back in distctl log's view, with no class. */
static void
test_log_shows_the_new_rows(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_view_attempt *a;
	size_t n;
	char err[256];
	const char *to[] = { "r0@example.test" };
	int64_t id = enqueue_bulletin(q, "log1", 2, true, 1000);

	deliver_all(q, 1000, NULL);
	apply(q, "lb", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.2.2", "552 full", 2000);
	apply(q, "lc", QUEUE_FEEDBACK_CONFIRM, id, "r1@example.test", NULL, "displayed", 2001);
	int64_t rem = enqueue_reminder(q, id, to, 1, 2002);
	assert_int_equal(queue_view_attempts(q, 0, 100, id, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);	/* two sent, bounced, confirmed, reminded */
	assert_int_equal(a[2].status, QUEUE_ATTEMPT_BOUNCED);
	assert_false(a[2].has_class);
	assert_int_equal(a[2].code, -1);
	assert_int_equal(a[2].time, 2000);
	assert_string_equal(a[2].reply, "552 full");
	assert_int_equal(a[3].status, QUEUE_ATTEMPT_CONFIRMED);
	assert_string_equal(a[3].address, "r1@example.test");
	assert_non_null(strstr(a[3].reply, "mdn"));
	assert_non_null(strstr(a[3].reply, "displayed"));
	assert_int_equal(a[4].status, QUEUE_ATTEMPT_REMINDED);
	char want[64];
	snprintf(want, sizeof(want), "reminder issue %lld", (long long)rem);
	assert_string_equal(a[4].reply, want);
	queue_view_attempts_free(a, n);
}

/* ---- notices ------------------------------------------------------------------------------ */

/* The bounced notice of issue id among those due: its key, or NULL. */
static char *
bounced_due(struct queue *q, int64_t id, char **reason)
{
	struct queue_notice_due *d;
	size_t n;
	char err[256], *key = NULL;

	if (queue_notices_due(q, &d, &n, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	for (size_t i = 0; i < n; i++)
		if (d[i].cause == QUEUE_NOTICE_BOUNCED && d[i].issue == id) {
			assert_null(key);
			key = strdup(d[i].key);
			if (reason)
				*reason = d[i].reason ? strdup(d[i].reason) : NULL;
		}
	queue_notices_due_free(d, n);
	return key;
}

static void
send_notice(struct queue *q, const char *key, int64_t about, int64_t now)
{
	struct queue_recipient_in r = { 0, "报", "to", "管理员", "管理员", "管理员", "管理员",
		"postmaster@example.test", false };
	struct queue_issue_in in = { .sha256 = key, .source = "notice", .kind = QUEUE_KIND_NOTICE,
		.title = "退信", .subject = "退信", .issue_no = -1, .total_issue_no = -1,
		.received = now, .notice_for = about };
	int64_t id, dup;
	char err[256];

	if (queue_enqueue(q, &in, &r, 1, "example.test", test_render_plain, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

static void
test_bounced_notice_key_moves_with_new_bounces(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	char *key, *key2, *reason = NULL, want[64];
	int64_t id = enqueue_bulletin(q, "nb1", 4, false, 1000);

	deliver_all(q, 1000, NULL);
	assert_null(bounced_due(q, id, NULL));
	apply(q, "nb-a", QUEUE_FEEDBACK_BOUNCE, id, "r2@example.test", "5.2.2",
	    "552 mailbox full", 2000);
	key = bounced_due(q, id, &reason);
	assert_non_null(key);
	assert_non_null(reason);
	assert_non_null(strstr(reason, "<r2@example.test>"));
	assert_non_null(strstr(reason, "5.2.2"));
	assert_non_null(strstr(reason, "552 mailbox full"));
	assert_non_null(strstr(reason, "报"));
	free(reason);
	snprintf(want, sizeof(want), "bounced:%lld:", (long long)id);
	assert_true(strncmp(key, want, strlen(want)) == 0);
	send_notice(q, key, id, 2100);
	assert_null(bounced_due(q, id, NULL));
	/* nothing new: a confirmation, a second bounce of the same row */
	apply(q, "nb-b", QUEUE_FEEDBACK_CONFIRM, id, "r1@example.test", NULL, "displayed", 2200);
	apply(q, "nb-c", QUEUE_FEEDBACK_BOUNCE, id, "r2@example.test", "5.1.1", "gone", 2300);
	assert_null(bounced_due(q, id, NULL));
	/* a new bounce: a new key, listing both */
	apply(q, "nb-d", QUEUE_FEEDBACK_BOUNCE, id, "r0@example.test", "5.1.1", "550 no user",
	    2400);
	key2 = bounced_due(q, id, &reason);
	assert_non_null(key2);
	assert_string_not_equal(key, key2);
	assert_non_null(strstr(reason, "<r0@example.test>"));
	assert_non_null(strstr(reason, "<r2@example.test>"));
	free(reason);
	send_notice(q, key2, id, 2500);
	assert_null(bounced_due(q, id, NULL));
	free(key);
	free(key2);
}

/*
 * A bounced notice lists at most 200 recipients, then says how many more;
 * each line is cut at about 300 bytes at a character boundary and keeps
 * no line break of the remote reply.
 */
static void
test_bounced_notice_reason_bounded(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	enum { N = 205 };
	struct queue_recipient_in r[N];
	struct queue_feedback_fact f[N];
	static char addr[N][32];
	char err[256], *key, *reason = NULL, longreply[1024] = "550 5.1.1\r\n";
	int64_t id, dup;

	for (int i = 0; i < N; i++) {
		snprintf(addr[i], sizeof(addr[i]), "u%03d@example.test", i);
		r[i] = (struct queue_recipient_in){ 0, "报", "to", "单位", "单位", "单位", "单位",
		    addr[i], false };
	}
	struct queue_issue_in in = { .sha256 = "many", .source = "a.txt",
		.kind = QUEUE_KIND_BULLETIN, .title = "简报", .subject = "简报",
		.issue_no = 1, .total_issue_no = -1, .received = 1000 };
	if (queue_enqueue(q, &in, r, N, "example.test", test_render_plain, NULL, &id, &dup,
	    err, sizeof(err)) < 0)
		fail_msg("%s", err);
	deliver_all(q, 1000, NULL);
	while (strlen(longreply) < 600)
		strcat(longreply, "邮箱已满");	/* 3 bytes a character */
	for (int i = 0; i < N; i++)
		f[i] = (struct queue_feedback_fact){ addr[i], NULL, "5.2.2", longreply };
	struct queue_feedback_in fb = { .key = "many-k", .kind = QUEUE_FEEDBACK_BOUNCE,
		.how = "dsn", .issue = id, .facts = f, .n_facts = N, .when = 2000 };
	struct queue_feedback_out out;
	assert_int_equal(queue_feedback_apply(q, &fb, &out, err, sizeof(err)), 0);
	assert_int_equal(out.matched, N);
	key = bounced_due(q, id, &reason);
	assert_non_null(key);
	assert_non_null(reason);
	size_t lines = 0;
	for (char *line = reason, *end; *line; line = end + 1) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		lines++;
		if (lines <= 200) {
			assert_true(end - line <= 300 + 3);	/* and the ellipsis */
			assert_true(end - line > 200);
			/* whole characters: the text before the ellipsis ends in one */
			assert_non_null(strstr(line, "…"));
			assert_true(strncmp(line, "报 单位 <u", 12) == 0);
		} else {
			assert_true(strncmp(line, "… and 5 more", strlen("… and 5 more")) == 0);
		}
		if (*end == '\0')
			break;
	}
	assert_int_equal(lines, 201);
	assert_null(strchr(reason, '\r'));
	assert_true(text_valid_utf8(reason, strlen(reason), &(size_t){ 0 }));
	free(reason);
	free(key);
}

/* ---- retention ---------------------------------------------------------------------------- */

/* The families that may go before `before`: how many, and the one of root (copied into *f). */
static size_t
families(struct queue *q, int64_t before, int64_t root, struct queue_purge_family *f)
{
	struct queue_purge_cursor cur = { 0 };
	struct queue_purge_family *list;
	size_t n, total = 0;
	char err[256];

	memset(f, 0, sizeof(*f));
	while (!cur.end) {
		if (queue_purge_list(q, before, 100, &cur, &list, &n, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		for (size_t i = 0; i < n; i++)
			if (list[i].root == root) {
				*f = list[i];
				f->ids = malloc(list[i].n * sizeof(*f->ids));
				assert_non_null(f->ids);
				memcpy(f->ids, list[i].ids, list[i].n * sizeof(*f->ids));
			}
		total += n;
		queue_purge_families_free(list, n);
	}
	return total;
}

/*
 * A reminder belongs to its bulletin's family (notice_for) and leaves the
 * queue with it; the history that came back is the family's last
 * activity, and goes with it.
 */
static void
test_purge_takes_reminders_and_feedback_history(void **state)
{
	skip_unless_ops(FEEDBACK_OPS);
	struct queue *q = *state;
	struct queue_purge_family f;
	struct queue_view_issue v;
	const char *to[] = { "r0@example.test" };
	char err[256];
	size_t deleted;
	int64_t id = enqueue_bulletin(q, "pg1", 2, true, 1000);

	deliver_all(q, 1000, NULL);
	int64_t rem = enqueue_reminder(q, id, to, 1, 1500);
	/* a reminder still going keeps the family */
	assert_int_equal(families(q, 100000, id, &f), 0);
	deliver_all(q, 1500, NULL);
	apply(q, "pgb", QUEUE_FEEDBACK_BOUNCE, id, "r1@example.test", "5.2.2", "full", 5000);
	enqueue_bulletin(q, "pg2", 1, false, 6000);	/* the newest issue always stays */
	/* the bounce at 5000 is the family's last activity */
	assert_int_equal(families(q, 4000, id, &f), 0);
	assert_int_equal(families(q, 5001, id, &f), 1);
	assert_int_equal(f.root, id);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.ids[1], rem);
	assert_int_equal(f.last, 5000);
	assert_int_equal(queue_purge_delete(q, &f, 1, 5001, &deleted, err, sizeof(err)), 0);
	assert_int_equal(deleted, 2);
	free(f.ids);
	assert_int_equal(queue_view_issue(q, id, NULL, &v, err, sizeof(err)), -1);
	assert_int_equal(queue_view_issue(q, rem, NULL, &v, err, sizeof(err)), -1);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_BOUNCED, NULL), 0);
	assert_int_equal(history(q, id, QUEUE_ATTEMPT_REMINDED, NULL), 0);
}

/* ---- SQLite storage -------------------------------------------------------------------- */

static int64_t
sql_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
sql_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/*
 * A version 8 queue (made from this one by taking version 9 away again)
 * upgrades keeping its issues, recipients and the totals of its finished
 * issues, and then takes feedback.
 */
static void
test_migration_from_v8_keeps_data(void **state)
{
	skip_unless_sqlite("a version 8 SQLite file upgraded to version 9");
	struct queue *q = *state, *q2;
	sqlite3 *db;
	char err[256];
	int64_t id = enqueue_bulletin(q, "mig1", 4, false, 1000);

	deliver_all(q, 1000, "r1@example.test");
	queue_close(q);
	*state = NULL;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 9);
	sql_exec(db, "DROP INDEX recipients_bounced; DROP TABLE feedback;"
	    " DROP TABLE feedback_cursors;"
	    " ALTER TABLE recipients DROP COLUMN bounced;"
	    " ALTER TABLE recipients DROP COLUMN bounce_status;"
	    " ALTER TABLE recipients DROP COLUMN bounce_reply;"
	    " ALTER TABLE recipients DROP COLUMN receipt;"
	    " ALTER TABLE recipients DROP COLUMN confirmed;"
	    " ALTER TABLE recipients DROP COLUMN confirmed_by;"
	    " ALTER TABLE recipients DROP COLUMN reminders;"
	    " ALTER TABLE recipients DROP COLUMN last_reminded;"
	    " ALTER TABLE recipients DROP COLUMN bounce_attempt;"
	    " ALTER TABLE issue_tiers DROP COLUMN bounced;"
	    " ALTER TABLE issue_tiers DROP COLUMN confirmed;"
	    " ALTER TABLE issue_tiers DROP COLUMN receipt;"
	    " PRAGMA user_version = 8;");
	sqlite3_close(db);
	/* distctl refuses the old file read-only; distd upgrades it */
	assert_int_equal(queue_open_mode(dbpath, QUEUE_READONLY, &q2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema 8"));
	if (queue_open(dbpath, &q2, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	*state = q2;
	assert_tier(q2, id, "报", 2, 2, 0, 0, 0);
	assert_tier(q2, id, "送", 2, 1, 0, 0, 0);
	struct queue_feedback_out out = apply(q2, "after", QUEUE_FEEDBACK_BOUNCE, id,
	    "r0@example.test", "5.2.2", "full", 2000);
	assert_int_equal(out.result, QUEUE_FEEDBACK_APPLIED);
	assert_int_equal(out.matched, 1);
	assert_tier(q2, id, "报", 2, 1, 1, 0, 0);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 9);
	assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM recipients"), 4);
	assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM recipients WHERE receipt = 0"
	    " AND reminders = 0 AND confirmed IS NULL"), 4);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_each_result_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_ids_must_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_then_confirm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_only_changes_delivered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_seen_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_round_trip_and_moved_with_apply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_apply_moves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_counted_and_feedback_redirected,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_resend_clears_the_bounce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_counts_bounces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_tiers_live_and_finished_agree, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pending_and_unconfirmed_filters, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_log_shows_the_new_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounced_notice_key_moves_with_new_bounces,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounced_notice_reason_bounded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_purge_takes_reminders_and_feedback_history,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_v8_keeps_data, setup,
		    teardown),
	};

	return test_queue_run_group("queue_feedback", tests);
}
