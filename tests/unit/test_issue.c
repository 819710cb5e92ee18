/* issue (render + queue rows), status (reports) and outbox ingestion over a temporary spool. */
#include "testutil.h"

#include <sqlite3.h>

#include "issue.h"
#include "log.h"
#include "outbox.h"
#include "status.h"

static char root[64];

static struct conf *
spool_conf(void)
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
	    "  { name = \"乙\"; address = \"b@example.test\"; } );\n", root, root, root, root);
	char *path = write_temp(text, 0644);
	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	unlink(path);
	free(path);
	sbuf_free(&errs);
	(void)errs_path;
	return c;
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
	struct queue_recipient_in *rows = issue_recipients(c, r);
	assert_string_equal(rows[0].header, "to");
	assert_string_equal(rows[1].header, "bcc");
	assert_string_equal(rows[0].display, "甲单位");
	char *m = issue_render(c, b, r, "简报 第1期", "x@example.test", 5, 0, NULL, 0, &len,
	    err, sizeof(err));
	assert_non_null(m);
	assert_non_null(strstr(m, "<a@example.test>"));
	assert_null(strstr(m, "b@example.test"));	/* 发 is bcc */
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

	struct status_daemon d = { false, 0, 0 };
	struct status_style st = { false, 1000 };
	bool attention;
	struct status_where w = { c->path, c->smtp.url, c->state, NULL };
	assert_int_equal(status_report(&out, q, &w, &d, &st, true, &attention, err, sizeof(err)), 0);
	assert_non_null(strstr(sbuf_str(&out), "\"queued\":2"));
	assert_non_null(strstr(sbuf_str(&out), "\"tier\":\"报\",\"total\":2"));
	sbuf_reset(&out);
	struct status_filter queued = { "queued", NULL, false }, all = { NULL, NULL, false };
	assert_int_equal(status_show(&out, q, 1, &queued, &st, false, err, sizeof(err)), 0);
	assert_non_null(strstr(sbuf_str(&out), "a@example.test"));
	assert_int_equal(status_show(&out, q, 9, &all, &st, false, err, sizeof(err)), -1);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_and_rows),
		cmocka_unit_test(test_ingest_and_status),
	};
	log_init(false);
	return cmocka_run_group_tests_name("issue", tests, NULL, NULL);
}
