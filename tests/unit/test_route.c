#include "testutil.h"

#include <time.h>

#include "bulletin.h"
#include "conf.h"
#include "route.h"

#define DIRECTORY \
	"smtp = { url = \"smtps://mail.example.test\"; };\n" \
	"sender = { from = \"bulletin@example.test\"; };\n" \
	"recipients = (\n" \
	"  { name = \"中央文明办\"; address = \"office@wmb.example.test\"; },\n" \
	"  { name = \"市委\"; display = \"市委办公厅\"; address = \"sw@example.test\"; },\n" \
	"  { name = \"市政府\"; aliases = [ \"市府\" ]; address = [ \"zf1@example.test\", \"zf2@example.test\" ]; },\n" \
	"  { name = \"东城区文明办\"; address = \"dc@example.test\"; },\n" \
	"  { name = \"西城区文明办\"; address = \"xc@example.test\"; },\n" \
	"  { name = \"北京日报\"; address = \"news@example.test\"; }\n" \
	");\n" \
	"groups = (\n" \
	"  { name = \"各区文明办\"; members = [ \"东城区文明办\", \"西城区文明办\" ]; },\n" \
	"  { name = \"全市\"; members = [ \"各区文明办\", \"市委\" ]; },\n" \
	"  { name = \"市委、市政府\"; members = [ \"市委\" ]; }\n" \
	");\n" \
	"series = ( { title = \"例行简报\"; tiers = ( { tier = \"发\"; units = [ \"各区文明办\" ]; } ); } );\n"

static struct conf *
make_conf(const char *extra)
{
	struct sbuf text = SBUF_INIT, errs = SBUF_INIT;
	struct conf *c;
	char *path;

	sbuf_printf(&text, "%s%s", DIRECTORY, extra);
	path = write_temp(sbuf_str(&text), 0644);
	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	unlink(path);
	free(path);
	sbuf_free(&text);
	sbuf_free(&errs);
	return c;
}

static void
parse_text(const struct conf *c, const char *footer, struct bulletin **bp)
{
	struct sbuf text = SBUF_INIT;
	char err[128];

	sbuf_printf(&text, "例行简报\n\n第1期\n\n办公室\n\n2021年1月1日\n\n正文。\n\n%s", footer);
	assert_int_equal(bulletin_parse(text.data, text.len, c->labels, c->n_labels,
	    bp, err, sizeof(err)), 0);
	sbuf_free(&text);
}

static struct route *
route_text(const struct conf *c, const char *footer, struct bulletin **bp)
{
	parse_text(c, footer, bp);
	return route_resolve(c, *bp);
}

static void
test_whole_unit_and_group(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;
	struct route *r = route_text(c, "报：中央文明办，各区文明办。\n", &b);

	assert_null(r->hold_reason);
	assert_int_equal(r->n_unresolved, 0);
	assert_int_equal(r->n_tiers, 1);
	assert_true(r->tiers[0].units[0].resolved);
	assert_int_equal(r->tiers[0].units[1].n_targets, 2);
	assert_int_equal(r->n_recipients, 3);
	assert_string_equal(r->recipients[0].address, "office@wmb.example.test");
	assert_string_equal(r->recipients[1].address, "dc@example.test");
	assert_string_equal(r->recipients[1].unit, "各区文明办");
	assert_string_equal(r->recipients[2].name, "西城区文明办");
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_split_on_dunhao(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;
	/* 市委、市政府 is a group (whole match wins); 市委、市府 splits */
	struct route *r = route_text(c, "报：市委、市政府\n送：市委、市府、北京日报\n", &b);

	assert_null(r->hold_reason);
	assert_int_equal(r->tiers[0].units[0].n_targets, 1);	/* the group: only 市委 */
	assert_int_equal(r->tiers[1].units[0].n_targets, 4);
	/* 市委 delivered once, under 报 */
	assert_int_equal(r->n_recipients, 4);
	assert_string_equal(r->recipients[0].address, "sw@example.test");
	assert_string_equal(r->recipients[0].tier_keyword, "报");
	assert_string_equal(r->recipients[0].display, "市委办公厅");
	assert_string_equal(r->recipients[0].via, "报:市委、市政府; 送:市委、市府、北京日报");
	assert_string_equal(r->recipients[1].address, "zf1@example.test");
	assert_string_equal(r->recipients[1].tier_keyword, "送");
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_dedupe_takes_first_tier_in_delivery_order(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;
	/* the footer prints 发 first; delivery order (报 送 发) still decides */
	struct route *r = route_text(c, "发：全市\n报：东城区文明办\n", &b);

	assert_int_equal(r->n_recipients, 3);
	assert_string_equal(r->recipients[0].address, "dc@example.test");
	assert_string_equal(r->recipients[0].tier_keyword, "报");
	assert_string_equal(r->recipients[0].unit, "东城区文明办");
	assert_string_equal(r->recipients[0].via, "发:全市; 报:东城区文明办");
	assert_string_equal(r->recipients[1].tier_keyword, "发");
	/* footer order is kept for display */
	assert_string_equal(r->tiers[0].keyword, "发");
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_width_and_spaces(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;
	struct route *r = route_text(c, "抄　送：中央 文明办；北京日报\n", &b);

	assert_null(r->hold_reason);
	assert_string_equal(r->tiers[0].keyword, "送");
	assert_string_equal(r->tiers[0].label, "抄送");
	assert_int_equal(r->n_recipients, 2);
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_unresolved_hold_and_send(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;
	struct route *r = route_text(c, "报：中央文明办，市委、区政协领导同志，有关新闻单位。\n", &b);

	assert_false(r->tiers[0].units[1].resolved);
	assert_int_equal(r->tiers[0].units[1].n_targets, 1);
	assert_int_equal(r->n_unresolved, 2);
	assert_string_equal(r->unresolved[0], "报: 区政协领导同志 (in 市委、区政协领导同志)");
	assert_string_equal(r->unresolved[1], "报: 有关新闻单位");
	assert_non_null(r->hold_reason);
	assert_non_null(strstr(r->hold_reason, "2 unresolved units"));
	/* no fuzzy matching: 市委 is not matched inside 市委办公厅 or vice versa */
	route_free(r);
	bulletin_free(b);
	conf_free(c);

	c = make_conf("on_unresolved = \"send\";\n");
	r = route_text(c, "报：中央文明办，有关新闻单位。\n", &b);
	assert_null(r->hold_reason);
	assert_int_equal(r->n_unresolved, 1);
	assert_int_equal(r->n_recipients, 1);
	route_free(r);
	bulletin_free(b);
	conf_free(c);

	/* nothing resolved: held even with "send" */
	c = make_conf("on_unresolved = \"send\";\n");
	r = route_text(c, "报：有关新闻单位。\n", &b);
	assert_non_null(r->hold_reason);
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_no_substring_matching(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;
	struct route *r = route_text(c, "报：市委办公厅\n", &b);

	assert_int_equal(r->n_recipients, 0);
	assert_int_equal(r->n_unresolved, 1);
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_undefined_tier(void **state)
{
	(void)state;
	struct conf *c = make_conf("tiers = ( { keyword = \"报\"; }, { keyword = \"发\"; } );\n");
	struct bulletin *b;
	/* 抄送 is a built-in label the configuration does not define */
	struct route *r = route_text(c, "报：中央文明办\n抄送：北京日报\n", &b);

	assert_int_equal(r->n_tiers, 2);
	assert_int_equal(r->tiers[1].conf_tier, -1);
	assert_non_null(r->hold_reason);
	assert_non_null(strstr(r->hold_reason, "tier '抄送' (line 12) is not defined"));
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_series_defaults(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;
	struct route *r = route_text(c, "", &b);

	assert_true(r->from_series);
	assert_null(r->hold_reason);
	assert_int_equal(r->n_recipients, 2);
	assert_string_equal(r->recipients[0].tier_keyword, "发");
	route_free(r);
	bulletin_free(b);

	/* an unknown title without a footer is held with a reason */
	char err[64];
	const char *text = "别的简报\n第1期\n2021年1月1日\n\n正文。\n";
	assert_int_equal(bulletin_parse(text, strlen(text), NULL, 0, &b, err, sizeof(err)), 0);
	r = route_resolve(c, b);
	assert_false(r->from_series);
	assert_non_null(strstr(r->hold_reason, "no series entry for the title '别的简报'"));
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}

static void
test_many_recipients(void **state)
{
	(void)state;
	struct sbuf text = SBUF_INIT, members = SBUF_INIT;
	struct conf *c;
	struct bulletin *b;

	for (int i = 0; i < 3000; i++) {
		sbuf_printf(&text, "%s{ name = \"单位%d\"; address = \"u%d@example.test\"; }",
		    i ? ",\n" : "", i, i);
		sbuf_printf(&members, "%s\"单位%d\"", i ? ", " : "", i);
	}
	char *extra = NULL;
	struct sbuf all = SBUF_INIT;
	sbuf_printf(&all, "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( %s );\ngroups = ( { name = \"全体\"; members = [ %s ]; } );\n",
	    sbuf_str(&text), sbuf_str(&members));
	char *path = write_temp(sbuf_str(&all), 0644);
	struct sbuf errs = SBUF_INIT;
	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	struct route *r = route_text(c, "报：全体\n发：全体，单位5\n", &b);
	assert_int_equal(r->n_recipients, 3000);
	assert_string_equal(r->recipients[2999].address, "u2999@example.test");
	assert_string_equal(r->recipients[5].via, "报:全体; 发:全体; 发:单位5");
	route_free(r);
	bulletin_free(b);
	conf_free(c);
	unlink(path);
	free(path);
	free(extra);
	sbuf_free(&all);
	sbuf_free(&errs);
	sbuf_free(&text);
	sbuf_free(&members);
}

static void
test_seeds_with_example_config(void **state)
{
	(void)state;
	struct sbuf errs = SBUF_INIT;
	struct conf *c;
	const char *seeds[] = { SEED_CAPITAL, SEED_MENTOUGOU };
	const size_t expect[] = { 41, 8 };

	if (conf_load("conf/distd.conf", 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	for (size_t i = 0; i < 2; i++) {
		size_t n = 0;
		char *text = read_seed(seeds[i], &n), err[128];
		struct bulletin *b;
		assert_int_equal(bulletin_parse(text, n, c->labels, c->n_labels, &b,
		    err, sizeof(err)), 0);
		struct route *r = route_resolve(c, b);
		for (size_t k = 0; k < r->n_unresolved; k++)
			print_error("unresolved: %s\n", r->unresolved[k]);
		assert_int_equal(r->n_unresolved, 0);
		assert_null(r->hold_reason);
		assert_int_equal(r->n_recipients, expect[i]);
		route_free(r);
		bulletin_free(b);
		free(text);
	}
	conf_free(c);
	sbuf_free(&errs);
}


static void
test_soft_break_readings(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct bulletin *b;

	/* joined, the wrap does not match; read apart, both lines do */
	struct route *r = route_text(c, "发：各区文明办、北京日报中央文明办\n", &b);
	assert_int_equal(r->tiers[0].units[0].resolved, false);
	route_free(r);
	bulletin_free(b);

	r = route_text(c, "发：各区文明办、北京日报\n中央文明办\n", &b);
	const struct route_unit *u = &r->tiers[0].units[0];
	assert_true(u->resolved);
	assert_int_equal(u->reading, ROUTE_READ_LINES);
	assert_int_equal(u->n_sides, 2);
	assert_string_equal(u->sides[0], "各区文明办、北京日报");
	assert_string_equal(u->sides[1], "中央文明办");
	assert_int_equal(r->n_unresolved, 0);
	assert_int_equal(r->n_recipients, 4);
	route_free(r);
	bulletin_free(b);

	/* the joined text wins when it is a name: 市\n委 is 市委, not 市 + 委 */
	r = route_text(c, "报：中央文明办，市\n委\n", &b);
	u = &r->tiers[0].units[1];
	assert_true(u->resolved);
	assert_int_equal(u->reading, ROUTE_READ_WHOLE);
	assert_int_equal(u->n_sides, 0);
	route_free(r);
	bulletin_free(b);

	/* neither reading matches everything: reported as joined, never fuzzy */
	r = route_text(c, "报：市委、某某\n单位\n", &b);
	u = &r->tiers[0].units[0];
	assert_false(u->resolved);
	assert_int_equal(u->reading, ROUTE_READ_PARTS);
	assert_int_equal(u->n_missing, 1);
	assert_string_equal(u->missing[0], "某某单位");
	route_free(r);
	bulletin_free(b);
	conf_free(c);
}


static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * 80 000 repeats of one unit: routed once (it was quadratic: 87 s in the
 * daemon's loop). The bound is generous; the point is that it is not
 * minutes.
 */
static void
test_repeated_unit_routed_once(void **state)
{
	(void)state;
	struct conf *c = make_conf("");
	struct sbuf footer = SBUF_INIT;
	struct bulletin *b;
	struct timespec t0;

	sbuf_puts(&footer, "报：");
	for (int i = 0; i < 80000; i++)
		sbuf_puts(&footer, i % 2 ? "中央文明办，" : "各区文明办，");
	sbuf_puts(&footer, "中 央文明办\n发：各区文明办\n");
	parse_text(c, sbuf_str(&footer), &b);
	assert_true(b->n_tiers == 2 && b->tiers[0].n_units == 80001);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct route *r = route_resolve(c, b);
	double took = seconds_since(&t0);
	if (took > 3.0)		/* well under 0.1 s here; minutes when quadratic */
		fail_msg("routing took %.2f s", took);
	assert_null(r->hold_reason);
	assert_int_equal(r->n_tiers, 2);
	assert_int_equal(r->tiers[0].n_units, 2);		/* 各区文明办, 中央文明办 */
	assert_int_equal(r->tiers[1].n_units, 1);		/* another tier: kept */
	assert_int_equal(r->n_recipients, 3);
	assert_string_equal(r->recipients[0].via, "报:各区文明办; 发:各区文明办");
	assert_string_equal(r->recipients[2].via, "报:中央文明办");
	route_free(r);
	bulletin_free(b);

	/* one unit of 80 000 parts, some missing: each part counted once,
	 * and the messages quote the unit cut short */
	sbuf_reset(&footer);
	sbuf_puts(&footer, "报：");
	for (int i = 0; i < 80000; i++)
		sbuf_puts(&footer, i % 2 ? "市委、" : "无名、");
	sbuf_puts(&footer, "北京日报\n");
	parse_text(c, sbuf_str(&footer), &b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = route_resolve(c, b);
	took = seconds_since(&t0);
	if (took > 3.0)
		fail_msg("routing took %.2f s", took);
	const struct route_unit *u = &r->tiers[0].units[0];
	assert_false(u->resolved);
	assert_int_equal(u->n_missing, 1);
	assert_int_equal(u->n_targets, 2);			/* 市委, 北京日报 */
	assert_int_equal(r->n_unresolved, 1);
	assert_true(strlen(r->unresolved[0]) < 300);
	assert_memory_equal(r->unresolved[0], "报: 无名 (in 无名、市委、", 31);
	assert_non_null(strstr(r->unresolved[0], "…)"));
	route_free(r);
	bulletin_free(b);
	conf_free(c);
	sbuf_free(&footer);
}

/*
 * Diamonds: every group of a level holds both groups of the level below,
 * 2^24 paths to the same two recipients. Each group is walked once.
 */
static void
test_diamond_groups(void **state)
{
	(void)state;
	struct sbuf groups = SBUF_INIT;
	struct bulletin *b;
	struct timespec t0;

	sbuf_puts(&groups, "groups = (\n"
	    "{ name = \"L0A\"; members = [ \"东城区文明办\", \"西城区文明办\" ]; },\n"
	    "{ name = \"L0B\"; members = [ \"西城区文明办\", \"北京日报\" ]; }");
	for (int lv = 1; lv < 24; lv++)
		for (int k = 0; k < 2; k++)
			sbuf_printf(&groups, ",\n{ name = \"L%d%c\"; members = [ \"L%dA\", \"L%dB\" ]; }",
			    lv, 'A' + k, lv - 1, lv - 1);
	sbuf_puts(&groups, " );\n");
	/* make_conf's directory has groups of its own: a second list would clash */
	struct sbuf text = SBUF_INIT, errs = SBUF_INIT;
	const char *dir = DIRECTORY;
	const char *cut = strstr(dir, "groups = (");
	sbuf_append(&text, dir, (size_t)(cut - dir));
	sbuf_puts(&text, sbuf_str(&groups));
	char *path = write_temp(sbuf_str(&text), 0644);
	struct conf *c;
	if (conf_load(path, 0, &c, &errs) < 0)
		fail_msg("%s", sbuf_str(&errs));
	parse_text(c, "报：L23A，L23B、L20A\n送：L22B\n", &b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct route *r = route_resolve(c, b);
	double took = seconds_since(&t0);
	if (took > 1.0)		/* microseconds here; minutes when every path is walked */
		fail_msg("routing took %.2f s", took);
	assert_null(r->hold_reason);
	assert_int_equal(r->n_recipients, 3);
	/* a unit lists each recipient once, in the order the walk meets them */
	const struct route_unit *u = &r->tiers[0].units[0];
	assert_int_equal(u->n_targets, 3);
	assert_string_equal(u->targets[0].address, "dc@example.test");
	assert_string_equal(u->targets[1].address, "xc@example.test");
	assert_string_equal(u->targets[2].address, "news@example.test");
	assert_int_equal(r->tiers[0].units[1].n_targets, 3);
	assert_string_equal(r->recipients[0].via, "报:L23A; 报:L23B、L20A; 送:L22B");
	route_free(r);
	bulletin_free(b);
	conf_free(c);
	unlink(path);
	free(path);
	sbuf_free(&text);
	sbuf_free(&errs);
	sbuf_free(&groups);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_unit_and_group),
		cmocka_unit_test(test_split_on_dunhao),
		cmocka_unit_test(test_dedupe_takes_first_tier_in_delivery_order),
		cmocka_unit_test(test_width_and_spaces),
		cmocka_unit_test(test_unresolved_hold_and_send),
		cmocka_unit_test(test_no_substring_matching),
		cmocka_unit_test(test_undefined_tier),
		cmocka_unit_test(test_series_defaults),
		cmocka_unit_test(test_many_recipients),
		cmocka_unit_test(test_seeds_with_example_config),
		cmocka_unit_test(test_soft_break_readings),
		cmocka_unit_test(test_repeated_unit_routed_once),
		cmocka_unit_test(test_diamond_groups),
	};
	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
