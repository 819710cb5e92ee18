/* issue (render + queue rows), status (reports) and outbox ingestion over a temporary spool. */
#include "testutil.h"

#include <iconv.h>
#include <sqlite3.h>

#include "fileio.h"

#include "issue.h"
#include "log.h"
#include "outbox.h"
#include "queue_test.h"
#include "status.h"

static char root[64];

static struct conf *
spool_conf_with(const char *extra)
{
	char text[2048], errs_path[128];
	struct sbuf errs = SBUF_INIT;
	struct conf *c;

	snprintf(root, sizeof(root), "/tmp/distd-issue-%d", (int)getpid());
	snprintf(text, sizeof(text),
	    "outbox = \"%s/outbox\"; archive = \"%s/archive\"; rejected = \"%s/rejected\";\n"
	    "state = \"%s/q.db\";\n"
	    "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"办公室 <bulletin@example.test>\"; };\n"
	    "recipients = ( { name = \"甲\"; display = \"甲单位\"; address = \"a@example.test\"; },\n"
	    "  { name = \"乙\"; address = \"b@example.test\"; } );\n%s", root, root, root,
	    root, extra);
	char *path = write_temp(text, 0644);
	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	unlink(path);
	free(path);
	sbuf_free(&errs);
	(void)errs_path;
	return c;
}

static struct conf *
spool_conf(void)
{
	return spool_conf_with("");
}

static void
test_render_and_rows(void **state)
{
	(void)state;
	struct conf *c = spool_conf();
	const char *text = "简报\n第1期\n2021年1月1日\n\n正文。\n\n报：甲\n发：乙\n";
	struct bulletin *b;
	char err[256];
	size_t len;

	assert_int_equal(bulletin_parse(text, strlen(text), c->labels, c->n_labels, &b, err,
	    sizeof(err)), 0);
	struct route *r = route_resolve(c, b);
	struct queue_recipient_in *rows = issue_recipients(c, b->title, r);
	assert_false(rows[0].receipt);
	assert_false(rows[1].receipt);
	assert_string_equal(rows[0].header, "to");
	assert_string_equal(rows[1].header, "bcc");
	assert_string_equal(rows[0].display, "甲单位");
	char *m = issue_render(c, b, r, "简报 第1期", "x@example.test", 5, 0, NULL, 0, &len,
	    err, sizeof(err));
	assert_non_null(m);
	assert_non_null(strstr(m, "<a@example.test>"));
	assert_null(strstr(m, "b@example.test"));	/* 发 is bcc */
	assert_null(strstr(m, "Disposition-Notification-To"));	/* nobody asked */
	free(m);
	free(rows);
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

/* Who is asked to confirm receipt: the tier's setting, else the series'. */
static void
test_receipt_asked(void **state)
{
	(void)state;
	struct conf *c = spool_conf_with(
	    "tiers = ( { keyword = \"报\"; receipt = \"request\"; },\n"
	    "  { keyword = \"送\"; receipt = \"none\"; }, { keyword = \"发\"; header = \"bcc\"; } );\n"
	    "series = ( { title = \"简报\"; receipt = \"request\"; },\n"
	    "  { title = \"通报\"; receipt = \"none\"; }, { title = \"动态\"; admin = \"x@example.test\"; } );\n");

	/* the tier decides when it says */
	for (int t = 0; t < 2; t++) {
		const char *titles[] = { "简报", "通报", "动态", "别的", NULL };
		for (size_t i = 0; i < 5; i++)
			assert_int_equal(issue_receipt_asked(c, titles[i], (size_t)t), t == 0);
	}
	/* else the series (title compared as the directory compares names) */
	assert_true(issue_receipt_asked(c, "简报", 2));
	assert_true(issue_receipt_asked(c, "简 报", 2));
	assert_false(issue_receipt_asked(c, "通报", 2));
	assert_false(issue_receipt_asked(c, "动态", 2));
	assert_false(issue_receipt_asked(c, "别的", 2));
	assert_false(issue_receipt_asked(c, NULL, 2));
	assert_true(issue_receipt_asked(c, "简报", 99));	/* no such tier: the series' */
	assert_false(issue_receipt_asked(c, "通报", 99));
	conf_free(c);

	/* rows and the message: 发 asked through the series, 送 not */
	c = spool_conf_with(
	    "tiers = ( { keyword = \"报\"; receipt = \"none\"; }, { keyword = \"送\"; },\n"
	    "  { keyword = \"发\"; header = \"bcc\"; } );\n"
	    "series = ( { title = \"简报\"; receipt = \"request\"; } );\n");
	const char *text = "简报\n第1期\n2021年1月1日\n\n正文。\n\n报：甲\n发：乙\n";
	struct bulletin *b;
	char err[256];
	size_t len;
	assert_int_equal(bulletin_parse(text, strlen(text), c->labels, c->n_labels, &b, err,
	    sizeof(err)), 0);
	struct route *r = route_resolve(c, b);
	struct queue_recipient_in *rows = issue_recipients(c, b->title, r);
	assert_int_equal(r->n_recipients, 2);
	assert_string_equal(rows[0].address, "a@example.test");
	assert_false(rows[0].receipt);
	assert_string_equal(rows[1].address, "b@example.test");
	assert_true(rows[1].receipt);
	assert_true(issue_receipt_any(c, b->title, r));
	char *m = issue_render(c, b, r, "简报 第1期", "x@example.test", 5, 0, NULL, 0, &len,
	    err, sizeof(err));
	assert_non_null(m);
	/* no feedback.address: the From address */
	assert_non_null(strstr(m, "\r\nDisposition-Notification-To: <bulletin@example.test>\r\n"));
	free(m);
	free(rows);
	route_free(r);
	bulletin_free(b);

	/* another title: nobody asked, nothing in the message */
	text = "通报\n第1期\n2021年1月1日\n\n正文。\n\n报：甲\n发：乙\n";
	assert_int_equal(bulletin_parse(text, strlen(text), c->labels, c->n_labels, &b, err,
	    sizeof(err)), 0);
	r = route_resolve(c, b);
	rows = issue_recipients(c, b->title, r);
	assert_false(rows[0].receipt);
	assert_false(rows[1].receipt);
	assert_false(issue_receipt_any(c, b->title, r));
	m = issue_render(c, b, r, "通报 第1期", "x@example.test", 5, 0, NULL, 0, &len, err,
	    sizeof(err));
	assert_null(strstr(m, "Disposition-Notification-To"));
	assert_null(strstr(m, "签收"));
	free(m);
	free(rows);
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_ingest_and_status(void **state)
{
	(void)state;
	struct conf *c = spool_conf();
	struct queue *q;
	struct sbuf msg = SBUF_INIT, out = SBUF_INIT;
	char err[512], path[200];
	int64_t id;

	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/outbox/a.txt", root);
	FILE *f = fopen(path, "w");
	fputs("简报\n第1期\n2021年1月1日\n\n正文。\n\n报：甲，乙\n", f);
	fclose(f);
	assert_int_equal(outbox_ingest(c, q, "a.txt", 1000, &id, &msg), OUTBOX_QUEUED);
	assert_int_equal(id, 1);
	assert_non_null(strstr(sbuf_str(&msg), "queued for 2 recipients"));
	assert_int_equal(access(path, F_OK), -1);	/* archived */
	sbuf_reset(&msg);
	snprintf(path, sizeof(path), "%s/outbox/b.txt", root);
	f = fopen(path, "w");
	fputs("秘密\n简报\n第2期\n2021年1月1日\n\n正文。\n\n报：甲\n", f);
	fclose(f);
	assert_int_equal(outbox_ingest(c, q, "b.txt", 1000, &id, &msg), OUTBOX_REJECTED);
	snprintf(path, sizeof(path), "%s/rejected/b.txt.reason", root);
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(outbox_ingest(c, q, "gone.txt", 1000, &id, &msg), OUTBOX_IGNORED);

	struct status_daemon d = { .running = false };
	struct status_style st = { false, 1000 };
	struct status_where w = { c->path, c->smtp.url, c->state, NULL };
	struct queue_view_status sv;
	assert_int_equal(queue_view_status(q, 0, STATUS_RECENT_ISSUES, &sv, err, sizeof(err)), 0);
	status_json(&out, &w, &d, &sv);
	queue_view_status_free(&sv);
	assert_non_null(strstr(sbuf_str(&out), "\"queued\":2"));
	assert_non_null(strstr(sbuf_str(&out), "\"tier\":\"报\",\"total\":2"));
	sbuf_reset(&out);
	struct queue_view_filter queued = { .by_state = true, .state = QUEUE_QUEUED },
	    all = { .pending = false };
	struct queue_view_issue iv;
	assert_int_equal(queue_view_issue(q, 1, &queued, &iv, err, sizeof(err)), 0);
	status_show_text(&out, &iv, &queued, &st);
	queue_view_issue_free(&iv);
	assert_non_null(strstr(sbuf_str(&out), "a@example.test"));
	assert_int_equal(queue_view_issue(q, 9, &all, &iv, err, sizeof(err)), -1);
	assert_string_equal(err, "no issue 9 in the queue");

	sbuf_reset(&out);
	status_pad(&out, "门头沟区创建全国文明城市", 10);
	assert_string_equal(sbuf_str(&out), "门头沟区… ");	/* 8 + 1 columns, padded to 10 */
	sbuf_reset(&out);
	status_pad(&out, "简报", 6);
	assert_string_equal(sbuf_str(&out), "简报  ");

	queue_close(q);
	sbuf_free(&msg);
	sbuf_free(&out);
	conf_free(c);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}


static char *
to_gb18030(const char *utf8, size_t *n)
{
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	size_t inleft = strlen(utf8), cap = inleft * 2 + 8, outleft = cap;
	char *in = (char *)utf8, *buf = malloc(cap), *out = buf;

	assert_true(cd != (iconv_t)-1);
	assert_int_not_equal(iconv(cd, &in, &inleft, &out, &outleft), (size_t)-1);
	iconv_close(cd);
	*n = cap - outleft;
	return buf;
}

static void
test_digest_is_of_the_text(void **state)
{
	(void)state;
	char a[65], b[65], c[65], d[65];
	const char *unix_text = "简报\n第1期\n\n正文。\n\n报：甲\n";
	const char *dos_text = "\xEF\xBB\xBF简报\r\n第1期  \r\n\r\n正文。\u3000\r\n\r\n报：甲\r\n\r\n";

	issue_digest(unix_text, strlen(unix_text), NULL, 0, a);
	issue_digest(dos_text, strlen(dos_text), NULL, 0, b);
	assert_string_equal(a, b);
	/* NFC: a decomposed é is the same text as the composed one */
	issue_digest("caf\xC3\xA9", 5, NULL, 0, c);
	issue_digest("cafe\xCC\x81", 6, NULL, 0, d);
	assert_string_equal(c, d);
	issue_digest("简报\n第2期\n", strlen("简报\n第2期\n"), NULL, 0, c);
	assert_string_not_equal(a, c);
	struct attachment att = { "附件.pdf", "%PDF", 4 };
	issue_digest(unix_text, strlen(unix_text), &att, 1, d);
	assert_string_not_equal(a, d);
}

static void
test_ingest_resaved_and_marked(void **state)
{
	(void)state;
	struct conf *c = spool_conf_with("classification = { extra_marks = (\n"
	    "  { mark = \"限阅\"; action = \"hold\"; } ); };\n");
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], path[200];
	int64_t id;
	const char *text = "简报\n第1期\n2021年1月1日\n\n正文。\n\n报：甲，乙\n";
	size_t n;

	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/outbox/a.txt", root);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	assert_int_equal(outbox_ingest(c, q, "a.txt", 1000, &id, &msg), OUTBOX_QUEUED);

	/* the same issue saved again as GB18030 is the same issue */
	char *gb = to_gb18030(text, &n);
	snprintf(path, sizeof(path), "%s/outbox/a-gbk.txt", root);
	f = fopen(path, "wb");
	fwrite(gb, 1, n, f);
	fclose(f);
	free(gb);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "a-gbk.txt", 1000, &id, &msg), OUTBOX_DUPLICATE);
	assert_non_null(strstr(sbuf_str(&msg), "same content as issue 1"));

	/* an office mark with action hold: queued, held, the mark named */
	snprintf(path, sizeof(path), "%s/outbox/b.txt", root);
	f = fopen(path, "w");
	fputs("限阅\n简报\n第2期\n2021年1月1日\n\n正文。\n\n报：甲\n", f);
	fclose(f);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "b.txt", 1000, &id, &msg), OUTBOX_HELD);
	assert_non_null(strstr(sbuf_str(&msg), "限阅"));

	/* an unrecognised classification-like mark is refused, never sent */
	snprintf(path, sizeof(path), "%s/outbox/c.txt", root);
	f = fopen(path, "w");
	fputs("核心商密★10年\n简报\n第3期\n2021年1月1日\n\n正文。\n\n报：甲\n", f);
	fclose(f);
	sbuf_reset(&msg);
	assert_int_equal(outbox_ingest(c, q, "c.txt", 1000, &id, &msg), OUTBOX_REJECTED);
	snprintf(path, sizeof(path), "%s/rejected/c.txt.reason", root);
	char *reason = NULL;
	size_t rlen;
	assert_int_equal(fileio_read_all(path, 1 << 20, 0, &reason, &rlen, err, sizeof(err)), 0);
	assert_non_null(strstr(reason, "unrecognised classification-like mark"));
	assert_non_null(strstr(reason, "核心商密★10年"));
	free(reason);

	queue_close(q);
	sbuf_free(&msg);
	conf_free(c);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

/* Too big for the relay's SIZE (kept in the queue) or max_message_bytes: held at ingest. */
static void
test_size_held_at_ingest(void **state)
{
	(void)state;
	struct conf *c = spool_conf();
	struct queue *q;
	struct sbuf msg = SBUF_INIT;
	char err[512], path[200], why[512];
	int64_t id;

	/* the pure check: the smaller limit wins, the margin counts */
	assert_int_equal(issue_size_limit(c, -1), 0);
	assert_int_equal(issue_size_limit(c, 5000), 5000);
	assert_int_equal(issue_check_size(c, 5000, 5000 - ISSUE_SIZE_MARGIN, why,
	    sizeof(why)), ISSUE_SEND);
	assert_int_equal(issue_check_size(c, 5000, 5000, why, sizeof(why)), ISSUE_HOLD);
	assert_non_null(strstr(why, "over the 5000 bytes the relay's SIZE accepts"));

	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);
	assert_int_equal(queue_relay_set_size(q, "mail.example.test:465", 3000, 1), 0);
	snprintf(path, sizeof(path), "%s/outbox/big.txt", root);
	FILE *f = fopen(path, "w");
	fputs("简报\n第1期\n2021年1月1日\n\n", f);
	for (int i = 0; i < 300; i++)
		fputs("正文很长。", f);
	fputs("\n\n报：甲，乙\n", f);
	fclose(f);
	assert_int_equal(outbox_ingest(c, q, "big.txt", 1000, &id, &msg), OUTBOX_HELD);
	assert_non_null(strstr(sbuf_str(&msg), "the relay's SIZE"));
	long n = 0;
	sqlite3_stmt *st;
	sqlite3_prepare_v2(queue_test_db(q), "SELECT COUNT(*) FROM recipients WHERE state = 'held'",
	    -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(n, 2);
	queue_close(q);
	sbuf_free(&msg);
	conf_free(c);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

/* Admits text the way the outbox does: a new issue arriving at `now`. */
static enum issue_admit_result
admit_new(const struct conf *c, struct queue *q, const char *text, const char *source,
    int64_t now, struct issue_admission *a)
{
	char hash[65];

	issue_digest(text, strlen(text), NULL, 0, hash);
	struct issue_input in = { .source = source, .text = text, .len = strlen(text),
		.sha256 = hash, .received = now, .now = now };
	return issue_admit(c, q, &in, a);
}

static size_t
take_addresses(struct queue *q, int64_t now, char *joined, size_t joinedsz)
{
	struct queue_batch *b[4];
	size_t n, total = 0;
	char err[256];

	joined[0] = '\0';
	assert_int_equal(queue_take(q, now, 4, 50, b, &n, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < b[i]->n; j++, total++)
			snprintf(joined + strlen(joined), joinedsz - strlen(joined), "%s%s",
			    total ? " " : "", b[i]->addresses[j]);
		queue_batch_free(b[i]);
	}
	return total;
}

/* The one pipeline entry: every way out of it, for a new issue and for a release. */
static void
test_admit_new_and_release(void **state)
{
	(void)state;
	struct conf *c = spool_conf();
	struct queue *q;
	struct issue_admission a;
	char err[512], got[256];

	assert_int_equal(outbox_prepare(c, err, sizeof(err)), 0);
	assert_int_equal(queue_open(c->state, &q, err, sizeof(err)), 0);

	const char *ok = "简报\n第1期\n2021年1月1日\n\n正文。\n\n报：甲\n发：乙\n";
	assert_int_equal(admit_new(c, q, ok, "a.txt", 1000, &a), ISSUE_ADMIT_QUEUED);
	assert_true(a.id > 0);
	assert_string_equal(a.subject, "简报 第1期");
	assert_int_equal(a.route->n_recipients, 2);
	assert_null(a.hold);
	int64_t first = a.id;
	issue_admission_free(&a);
	assert_int_equal(take_addresses(q, 1000, got, sizeof(got)), 2);

	/* the same text again, re-saved elsewhere: recorded, not sent */
	assert_int_equal(admit_new(c, q, ok, "copy.txt", 1001, &a), ISSUE_ADMIT_DUPLICATE);
	assert_int_equal(a.duplicate_of, first);
	assert_true(a.id > first);
	issue_admission_free(&a);
	assert_int_equal(take_addresses(q, 1001, got, sizeof(got)), 0);

	/* classified: refused before routing, nothing committed */
	assert_int_equal(admit_new(c, q, "秘密\n简报\n第2期\n2021年1月1日\n\n正文。\n\n"
	    "报：甲\n", "b.txt", 1002, &a), ISSUE_ADMIT_REFUSED);
	assert_non_null(strstr(a.why, "秘密"));
	assert_null(a.route);
	issue_admission_free(&a);
	assert_int_equal(admit_new(c, q, "简报\n\xff\xfe\n", "bad.txt", 1002, &a),
	    ISSUE_ADMIT_UNPARSABLE);
	assert_non_null(strstr(a.why, "invalid UTF-8"));
	issue_admission_free(&a);
	assert_int_equal(take_addresses(q, 1002, got, sizeof(got)), 0);

	/* a unit nobody knows: held on arrival (on_unresolved = "hold") */
	const char *unknown = "简报\n第3期\n2021年1月1日\n\n正文。\n\n报：甲，丙\n";
	assert_int_equal(admit_new(c, q, unknown, "c.txt", 1003, &a), ISSUE_ADMIT_HELD);
	assert_non_null(strstr(a.hold, "丙"));
	int64_t held = a.id;
	issue_admission_free(&a);
	assert_int_equal(take_addresses(q, 1003, got, sizeof(got)), 0);

	/* released: routed again, sent to what resolves, the rest reported */
	struct queue_source src;
	assert_int_equal(queue_load_source(q, held, &src, err, sizeof(err)), 0);
	struct issue_input again = { .text = src.text, .len = strlen(src.text),
		.received = src.received, .now = 1004, .reroute = held,
		.message_id = src.message_id };
	assert_int_equal(issue_admit(c, q, &again, &a), ISSUE_ADMIT_QUEUED);
	assert_int_equal(a.id, held);
	assert_int_equal(a.route->n_recipients, 1);
	assert_int_equal(a.route->n_unresolved, 1);
	issue_admission_free(&a);
	queue_source_free(&src);
	assert_int_equal(take_addresses(q, 1004, got, sizeof(got)), 1);
	assert_string_equal(got, "a@example.test");

	/* a release that still resolves to nobody commits nothing */
	const char *nobody = "简报\n第4期\n2021年1月1日\n\n正文。\n\n报：丙\n";
	assert_int_equal(admit_new(c, q, nobody, "d.txt", 1005, &a), ISSUE_ADMIT_HELD);
	int64_t nobody_id = a.id;
	issue_admission_free(&a);
	struct issue_input none = { .text = nobody, .len = strlen(nobody), .received = 1005,
		.now = 1006, .reroute = nobody_id, .message_id = "x@example.test" };
	assert_int_equal(issue_admit(c, q, &none, &a), ISSUE_ADMIT_NOBODY);
	assert_non_null(a.route);
	assert_int_equal(a.route->n_recipients, 0);
	issue_admission_free(&a);
	issue_admission_free(&a);	/* twice: freed fields were reset */
	assert_int_equal(take_addresses(q, 1006, got, sizeof(got)), 0);

	queue_close(q);
	conf_free(c);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_and_rows),
		cmocka_unit_test(test_receipt_asked),
		cmocka_unit_test(test_ingest_and_status),
		cmocka_unit_test(test_digest_is_of_the_text),
		cmocka_unit_test(test_ingest_resaved_and_marked),
		cmocka_unit_test(test_size_held_at_ingest),
		cmocka_unit_test(test_admit_new_and_release),
	};
	log_init(false);
	return cmocka_run_group_tests_name("issue", tests, NULL, NULL);
}
