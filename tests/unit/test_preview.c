/* Unit tests for daemon/ctl/preview.c: what `distctl preview` prints (pure formatting). */
#include "testutil.h"

#include "bulletin.h"
#include "conf.h"
#include "preview.h"
#include "route.h"
#include "testqueue.h"

#define DIRECTORY \
	"smtp = { url = \"smtps://mail.example.test\"; };\n" \
	"sender = { from = \"bulletin@example.test\"; };\n" \
	"recipients = (\n" \
	"  { name = \"中央文明办\"; address = \"office@wmb.example.test\"; },\n" \
	"  { name = \"东城区文明办\"; address = \"dc@example.test\"; },\n" \
	"  { name = \"西城区文明办\"; address = \"xc@example.test\"; }\n" \
	");\n" \
	"groups = ( { name = \"各区文明办\"; members = [ \"东城区文明办\", \"西城区文明办\" ]; } );\n"

#define ISSUE "工作简报\n\n第7期\n\n某某办公室\n\n2021年3月4日\n\n正文。\n\n"

struct fixture {
	struct conf *conf;
	struct bulletin *bulletin;
	struct route *route;
	struct sbuf out;
};

static struct fixture *
load(const char *footer)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sbuf text = SBUF_INIT;
	char err[256];

	assert_non_null(f);
	f->conf = test_conf_load(DIRECTORY);
	sbuf_printf(&text, "%s%s", ISSUE, footer);
	assert_int_equal(bulletin_parse(text.data, text.len, f->conf->labels, f->conf->n_labels,
	    &f->bulletin, err, sizeof(err)), 0);
	f->route = route_resolve(f->conf, f->bulletin);
	f->out = (struct sbuf)SBUF_INIT;
	sbuf_free(&text);
	return f;
}

static void
unload(struct fixture *f)
{
	sbuf_free(&f->out);
	route_free(f->route);
	bulletin_free(f->bulletin);
	conf_free(f->conf);
	free(f);
}

static void
test_text_shows_each_unit_and_its_recipients(void **state)
{
	(void)state;
	struct fixture *f = load("报：中央文明办\n发：各区文明办\n");

	preview_text(&f->out, f->bulletin, f->route, "工作简报 第7期", ISSUE_SEND, "");
	const char *s = sbuf_str(&f->out);
	assert_non_null(strstr(s, "工作简报\n"));
	assert_non_null(strstr(s, "第7期"));
	assert_non_null(strstr(s, "  ok 中央文明办\n"));
	assert_non_null(strstr(s, "<office@wmb.example.test>"));
	assert_non_null(strstr(s, "<dc@example.test>"));
	assert_non_null(strstr(s, "<xc@example.test>"));
	/* 报 before 发: the footer's order */
	assert_true(strstr(s, "\n报") < strstr(s, "\n发"));
	assert_non_null(strstr(s, "3 recipients, everything resolved\n"));
	assert_null(strstr(s, "would be held"));
	unload(f);
}

static void
test_text_names_what_does_not_resolve_and_the_hold(void **state)
{
	(void)state;
	struct fixture *f = load("报：中央文明办，新设单位\n");

	preview_text(&f->out, f->bulletin, f->route, "工作简报 第7期", ISSUE_HOLD, "");
	const char *s = sbuf_str(&f->out);
	assert_non_null(strstr(s, "  ?? 新设单位\n"));
	assert_non_null(strstr(s, "1 recipient, 1 unresolved:\n  报: 新设单位\n"));
	assert_non_null(strstr(s, "would be held: "));
	unload(f);
}

static void
test_text_refused_sends_nothing(void **state)
{
	(void)state;
	struct fixture *f = load("报：中央文明办\n");

	preview_text(&f->out, f->bulletin, f->route, "工作简报 第7期", ISSUE_REFUSE,
	    "marked 秘密 (line 1)");
	const char *s = sbuf_str(&f->out);
	assert_non_null(strstr(s, "marked 秘密 (line 1)\n"));
	assert_non_null(strstr(s, "would be refused: nothing is sent"));
	unload(f);
}

static void
test_json_carries_the_design_keys(void **state)
{
	(void)state;
	struct fixture *f = load("报：中央文明办，新设单位\n");

	preview_json(&f->out, f->bulletin, f->route, "工作简报 第7期", ISSUE_HOLD, "", NULL, NULL);
	const char *s = sbuf_str(&f->out);
	assert_int_equal(s[0], '{');
	assert_non_null(strstr(s, "\"title\":\"工作简报\""));
	assert_non_null(strstr(s, "\"issue_no\":7"));
	/* missing values are null, never guessed */
	assert_non_null(strstr(s, "\"total_issue_no\":null"));
	assert_non_null(strstr(s, "\"classification\":null"));
	assert_non_null(strstr(s, "\"verdict\":\"hold\""));
	assert_non_null(strstr(s, "\"verdict_reason\":null"));
	assert_non_null(strstr(s, "\"tier\":\"报\""));
	assert_non_null(strstr(s, "{\"text\":\"中央文明办\",\"resolved\":true"));
	assert_non_null(strstr(s, "{\"text\":\"新设单位\",\"resolved\":false"));
	assert_non_null(strstr(s, "\"name\":\"中央文明办\",\"address\":\"office@wmb.example.test\""));
	assert_non_null(strstr(s, "\"unresolved\":[\"新设单位\"]}"));
	assert_non_null(strstr(s, "\"unresolved\":[\"报: 新设单位\"]"));
	assert_non_null(strstr(s, "\"subject\":\"工作简报 第7期\""));
	assert_string_equal(s + f->out.len - 2, "}\n");
	unload(f);
}

static void
test_json_size_ends_the_object(void **state)
{
	(void)state;
	struct fixture *f = load("报：中央文明办\n");

	struct preview_message msg = { 1234, 0 };
	preview_json(&f->out, f->bulletin, f->route, "工作简报 第7期", ISSUE_SEND, "", &msg, NULL);
	const char *s = sbuf_str(&f->out);
	assert_non_null(strstr(s, ",\"message_bytes\":1234,\"size_limit\":null}\n"));
	assert_null(strstr(s, "}\n,"));
	unload(f);

	f = load("报：中央文明办\n");
	msg = (struct preview_message){ 10, 4000 };
	preview_json(&f->out, f->bulletin, f->route, "工作简报 第7期", ISSUE_SEND, "", &msg, NULL);
	assert_non_null(strstr(sbuf_str(&f->out), ",\"message_bytes\":10,\"size_limit\":4000}\n"));
	unload(f);
}

static void
test_size_line_names_the_limit_and_its_source(void **state)
{
	(void)state;
	struct sbuf out = SBUF_INIT;

	preview_size(&out, 5000, 4000, true);
	assert_string_equal(sbuf_str(&out), "message: 5000 bytes encoded; limit 4000 (the relay's SIZE)\n");
	sbuf_free(&out);
	out = (struct sbuf)SBUF_INIT;
	preview_size(&out, 5000, 6000, false);
	assert_non_null(strstr(sbuf_str(&out), "limit 6000 (smtp.max_message_bytes)"));
	sbuf_free(&out);
	out = (struct sbuf)SBUF_INIT;
	preview_size(&out, 5000, 0, false);
	assert_non_null(strstr(sbuf_str(&out), "no size limit known"));
	sbuf_free(&out);
}

/* A document issue: where the text came from and what is attached, in both forms. */
static void
test_source_and_attachments(void **state)
{
	(void)state;
	struct fixture *f = load("报：中央文明办\n");
	struct attachment att[] = { { "简报.docx", "PK", 40136 }, { "附件1.pdf", "%PDF", 900 } };
	struct preview_source src = { "简报.docx", "docx", "UTF-8", true, 40136, 6424, att, 2 };

	preview_source_text(&f->out, &src);
	const char *s = sbuf_str(&f->out);
	assert_non_null(strstr(s, "简报.docx in a folder (40136 bytes, docx: 6424 bytes of text "
	    "extracted; the document itself is attached)\n"));
	assert_non_null(strstr(s, "attachments:    2\n  简报.docx (40136 bytes)\n"
	    "  附件1.pdf (900 bytes)\n"));
	sbuf_reset(&f->out);
	struct preview_message msg = { 1234, 0 };
	preview_json(&f->out, f->bulletin, f->route, "工作简报 第7期", ISSUE_SEND, "", &msg, &src);
	s = sbuf_str(&f->out);
	assert_non_null(strstr(s, ",\"source\":{\"file\":\"简报.docx\",\"format\":\"docx\","
	    "\"encoding\":\"UTF-8\",\"folder\":true,\"bytes\":40136,\"text_bytes\":6424},"
	    "\"attachments\":[{\"name\":\"简报.docx\",\"bytes\":40136},"
	    "{\"name\":\"附件1.pdf\",\"bytes\":900}]}\n"));
	unload(f);

	/* a text file alone: said so, nothing attached */
	f = load("报：中央文明办\n");
	src = (struct preview_source){ "a.txt", "text", "GB18030", false, 100, 150, NULL, 0 };
	preview_source_text(&f->out, &src);
	assert_non_null(strstr(sbuf_str(&f->out), "a.txt (100 bytes, GB18030)\n"));
	assert_non_null(strstr(sbuf_str(&f->out), "attachments:    none\n"));
	unload(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_shows_each_unit_and_its_recipients),
		cmocka_unit_test(test_text_names_what_does_not_resolve_and_the_hold),
		cmocka_unit_test(test_text_refused_sends_nothing),
		cmocka_unit_test(test_json_carries_the_design_keys),
		cmocka_unit_test(test_json_size_ends_the_object),
		cmocka_unit_test(test_size_line_names_the_limit_and_its_source),
		cmocka_unit_test(test_source_and_attachments),
	};
	return cmocka_run_group_tests_name("preview", tests, NULL, NULL);
}
