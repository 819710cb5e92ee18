#include "testutil.h"

#include <iconv.h>

#include "bulletin.h"
#include "decode.h"
#include "issue.h"
#include "sbuf.h"

static struct bulletin *
parse(const char *text)
{
	struct bulletin *b = NULL;
	char err[256];

	assert_int_equal(bulletin_parse(text, strlen(text), NULL, 0, &b, err,
	    sizeof(err)), 0);
	assert_non_null(b);
	return b;
}

static void
assert_units(const struct bulletin_tier *t, const char *keyword,
    const char *const *units, size_t n)
{
	assert_string_equal(t->keyword, keyword);
	if (t->n_units != n)
		fail_msg("tier %s: %zu units, expected %zu", keyword, t->n_units, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(t->units[i], units[i]);
}

#define UNITS(t, kw, ...) do { \
	static const char *const u_[] = { __VA_ARGS__ }; \
	assert_units((t), (kw), u_, sizeof(u_) / sizeof(u_[0])); \
} while (0)

/* ---- the two seeds ---------------------------------------------------- */

static void
check_capital_seed(const struct bulletin *b)
{
	assert_string_equal(b->title, "首都精神文明建设情况简报");
	assert_int_equal(b->issue_no, 29);
	assert_int_equal(b->total_issue_no, 2138);
	assert_string_equal(b->issuer, "首都精神文明办");
	assert_string_equal(b->date, "2020-06-12");
	assert_null(b->classification);
	assert_null(b->internal);
	assert_null(b->urgency);

	assert_int_equal(b->n_tiers, 3);
	UNITS(&b->tiers[0], "报", "中央文明办", "首都文明委主任、副主任",
	    "市委、市人大、市政府、市政协");
	UNITS(&b->tiers[1], "送", "首都文明委委员", "市委、市政府各部委办局",
	    "各总公司、高等院校", "市级群众团体");
	UNITS(&b->tiers[2], "发", "各区委书记、区长、宣传部长", "各区文明办",
	    "有关新闻单位");
	assert_string_equal(b->tiers[0].label, "报");

	assert_string_equal(bulletin_field(b, "责编"), "梅雪峰");
	assert_string_equal(bulletin_field(b, "核稿"), "田文松");
	assert_string_equal(bulletin_field(b, "电话"), "55569506");
	assert_string_equal(bulletin_field(b, "传真"), "55569505");
	assert_non_null(strchr(bulletin_field(b, "邮箱"), '@'));
	assert_int_equal(b->n_fields, 5);

	/* body: starts at the first column, page break repaired, footer gone */
	assert_non_null(b->body);
	assert_memory_equal(b->body, "## 【文明创建】", strlen("## 【文明创建】"));
	assert_non_null(strstr(b->body, "重点调度机制,对标对表"));
	assert_null(strstr(b->body, "重点调度机\n"));
	assert_non_null(strstr(b->body, "(延庆区文明办)"));
	assert_null(strstr(b->body, "责编"));
	assert_null(strstr(b->body, "中央文明办"));
	assert_null(strstr(b->body, "第 29 期"));
	/* headings keep their own paragraph */
	assert_non_null(strstr(b->body, "冲锋号\n\n区四套班子"));
}

static void
check_mentougou_seed(const struct bulletin *b)
{
	assert_string_equal(b->title, "门头沟区创建全国文明城市工作快报");
	assert_int_equal(b->issue_no, 439);
	assert_int_equal(b->total_issue_no, -1);
	assert_string_equal(b->issuer, "门头沟区创建全国文明城市总指挥部办公室");
	assert_string_equal(b->date, "2020-06-30");

	/* no 送 tier in this issue */
	assert_int_equal(b->n_tiers, 2);
	UNITS(&b->tiers[0], "报", "首都文明办、区委、区人大、区政府、区政协领导同志");
	UNITS(&b->tiers[1], "发", "全区各单位主要领导、创城工作主管领导、信息员");

	assert_string_equal(bulletin_field(b, "编校"), "史佳怡");
	assert_string_equal(bulletin_field(b, "核签"), "李争三");
	assert_string_equal(bulletin_field(b, "电话"), "69822006");
	assert_non_null(strchr(bulletin_field(b, "电子邮箱"), '@'));

	assert_memory_equal(b->body, "【指挥调度】", strlen("【指挥调度】"));
	assert_non_null(strstr(b->body, "二、不得优秀不罢休，洪荒发力拿第一"));
	assert_non_null(strstr(b->body, "防止问题反弹。"));
	assert_non_null(strstr(b->body, "责任压实工作会"));
	assert_non_null(strstr(b->body, "(军庄镇)"));
	assert_null(strstr(b->body, "编校"));
	assert_null(strstr(b->body, "信息员"));
}

static struct bulletin *
parse_seed(const char *name)
{
	size_t n = 0;
	char *text = read_seed(name, &n), err[256];
	struct bulletin *b;

	assert_int_equal(bulletin_parse(text, n, NULL, 0, &b, err, sizeof(err)), 0);
	free(text);
	return b;
}

static void
test_seed_capital(void **state)
{
	(void)state;
	struct bulletin *b = parse_seed(SEED_CAPITAL);
	check_capital_seed(b);
	bulletin_free(b);
}

static void
test_seed_mentougou(void **state)
{
	(void)state;
	struct bulletin *b = parse_seed(SEED_MENTOUGOU);
	check_mentougou_seed(b);
	bulletin_free(b);
}

/* The same issue saved with CRLF line endings and trailing spaces. */
static void
test_seed_crlf_trailing_spaces(void **state)
{
	(void)state;
	size_t n = 0;
	char *text = read_seed(SEED_CAPITAL, &n), *crlf = malloc(n * 4 + 1), *o = crlf;
	struct bulletin *b;
	char err[256];

	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\n') {
			memcpy(o, "  \r\n", 4);
			o += 4;
		} else {
			*o++ = text[i];
		}
	}
	assert_int_equal(bulletin_parse(crlf, (size_t)(o - crlf), NULL, 0, &b,
	    err, sizeof(err)), 0);
	check_capital_seed(b);
	assert_null(strchr(b->body, '\r'));
	bulletin_free(b);
	free(text);
	free(crlf);
}

/* A GB18030 copy of a seed decodes and parses to the same result. */
static void
test_seed_gb18030(void **state)
{
	(void)state;
	size_t n = 0, outleft, cap, len;
	char *text = read_seed(SEED_MENTOUGOU, &n), *in = text, *gb, *out, *utf8, err[256];
	const char *enc;
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	struct bulletin *b;

	cap = outleft = n * 2;
	gb = out = malloc(cap);
	assert_int_not_equal(iconv(cd, &in, &n, &out, &outleft), (size_t)-1);
	iconv_close(cd);
	assert_int_equal(decode_to_utf8(gb, cap - outleft, &utf8, &len, &enc, err,
	    sizeof(err)), 0);
	assert_string_equal(enc, "GB18030");
	assert_int_equal(bulletin_parse(utf8, len, NULL, 0, &b, err, sizeof(err)), 0);
	check_mentougou_seed(b);
	bulletin_free(b);
	free(utf8);
	free(gb);
	free(text);
}

/* ---- variants ------------------------------------------------------------ */

#define HEADER "工作简报\n\n第 5 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n正文第一段。\n\n"

static void
test_half_and_full_width_colons(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "报:甲单位,乙单位。\n送：丙单位；丁单位\n发：戊单位。\n");
	assert_int_equal(b->n_tiers, 3);
	UNITS(&b->tiers[0], "报", "甲单位", "乙单位");
	UNITS(&b->tiers[1], "送", "丙单位", "丁单位");
	UNITS(&b->tiers[2], "发", "戊单位");
	assert_string_equal(b->body, "正文第一段。");
	bulletin_free(b);
}

static void
test_tier_wrapped_over_lines(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "报：中央文明办，首都文明委主任、\n  副主任，市委\n办公厅。\n送：各区。\n");
	assert_int_equal(b->n_tiers, 2);
	UNITS(&b->tiers[0], "报", "中央文明办", "首都文明委主任、副主任", "市委办公厅");
	UNITS(&b->tiers[1], "送", "各区");
	bulletin_free(b);
}

static void
test_chaosong_label(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "抄报：甲单位\n抄送：乙单位\n分发：丙单位\n");
	assert_int_equal(b->n_tiers, 3);
	UNITS(&b->tiers[0], "报", "甲单位");
	assert_string_equal(b->tiers[0].label, "抄报");
	UNITS(&b->tiers[1], "送", "乙单位");
	assert_string_equal(b->tiers[1].label, "抄送");
	UNITS(&b->tiers[2], "发", "丙单位");
	assert_string_equal(b->tiers[2].label, "分发");
	bulletin_free(b);
}

static void
test_spaced_labels(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "抄  报：甲单位\n抄　送：乙单位\n　发 ： 丙单位\n");
	assert_int_equal(b->n_tiers, 3);
	assert_string_equal(b->tiers[0].label, "抄报");
	assert_string_equal(b->tiers[1].label, "抄送");
	UNITS(&b->tiers[2], "发", "丙单位");
	bulletin_free(b);
}

static void
test_missing_tier(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "送：乙单位。\n");
	assert_int_equal(b->n_tiers, 1);
	UNITS(&b->tiers[0], "送", "乙单位");
	bulletin_free(b);
}

static void
test_no_footer(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "第二段，报告了发现的问题。\n");
	assert_int_equal(b->n_tiers, 0);
	assert_string_equal(b->title, "工作简报");
	assert_string_equal(b->body, "正文第一段。\n\n第二段，报告了发现的问题。");
	bulletin_free(b);
}

static void
test_no_header(void **state)
{
	(void)state;
	struct bulletin *b = parse("只有一段正文，没有报头。\n\n报：甲单位\n");
	assert_null(b->title);
	assert_null(b->issuer);
	assert_null(b->date);
	assert_int_equal(b->issue_no, -1);
	assert_string_equal(b->body, "只有一段正文，没有报头。");
	assert_int_equal(b->n_tiers, 1);
	bulletin_free(b);
}

static void
test_classification_marks(void **state)
{
	(void)state;
	struct bulletin *b = parse("秘密★1年\n\n" HEADER);
	assert_string_equal(b->classification, "秘密");
	assert_string_equal(b->classification_period, "1年");
	assert_string_equal(b->title, "工作简报");
	bulletin_free(b);

	b = parse("机 密\n特急\n" HEADER);
	assert_string_equal(b->classification, "机密");
	assert_null(b->classification_period);
	assert_string_equal(b->urgency, "特急");
	bulletin_free(b);

	b = parse("绝密 ★ 期限：长期   加急\n" HEADER);
	assert_string_equal(b->classification, "绝密");
	assert_string_equal(b->classification_period, "长期");
	assert_string_equal(b->urgency, "加急");
	bulletin_free(b);
}

static void
test_internal_is_not_secret(void **state)
{
	(void)state;
	struct bulletin *b = parse("内部资料 注意保存\n" HEADER);
	assert_null(b->classification);
	assert_string_equal(b->internal, "内部资料");
	bulletin_free(b);

	/* a title that merely contains 密 is not a mark */
	b = parse("保密工作简报\n\n第1期\n\n2021年1月1日\n");
	assert_null(b->classification);
	assert_string_equal(b->title, "保密工作简报");
	bulletin_free(b);
}

static void
test_chinese_numeral_dates(void **state)
{
	(void)state;
	struct bulletin *b = parse("工作简报\n第二十九期\n某某办公室\n二〇二〇年六月十二日\n");
	assert_string_equal(b->date, "2020-06-12");
	assert_int_equal(b->issue_no, 29);
	bulletin_free(b);

	b = parse("工作简报\n第1期\n某某办公室\n二〇一九年十二月三十一日\n");
	assert_string_equal(b->date, "2019-12-31");
	bulletin_free(b);

	/* an impossible date is absent, not guessed */
	b = parse("工作简报\n第1期\n某某办公室\n2021年2月29日\n");
	assert_null(b->date);
	bulletin_free(b);
}

static void
test_total_number_brackets(void **state)
{
	(void)state;
	struct bulletin *b = parse("工作简报\n第 29 期（总第 2138 期）\n某某办公室  2020 年 6 月 12 日\n");
	assert_int_equal(b->issue_no, 29);
	assert_int_equal(b->total_issue_no, 2138);
	assert_string_equal(b->issuer, "某某办公室");
	assert_string_equal(b->date, "2020-06-12");
	bulletin_free(b);

	b = parse("工作简报\n第２９期\n[总第2138期]\n某某办公室 编\n２０２０年６月１２日\n");
	assert_int_equal(b->issue_no, 29);
	assert_int_equal(b->total_issue_no, 2138);
	assert_string_equal(b->issuer, "某某办公室");
	bulletin_free(b);
}

static void
test_split_title(void **state)
{
	(void)state;
	struct bulletin *b = parse("门头沟区创建全国文明城市\n工作快报\n\n第439期\n");
	assert_string_equal(b->title, "门头沟区创建全国文明城市工作快报");
	bulletin_free(b);
}

static void
test_print_lines_end_tiers(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "发：各区文明办\n（共印16份）\n");
	assert_int_equal(b->n_tiers, 1);
	UNITS(&b->tiers[0], "发", "各区文明办");
	bulletin_free(b);

	b = parse(HEADER "发：各区文明办。（共印16份）\n");
	UNITS(&b->tiers[0], "发", "各区文明办");
	bulletin_free(b);

	/* a template's print run ends the 版记 like a real one */
	b = parse(HEADER "发：各区文明办\n（共印××份）\n");
	assert_int_equal(b->n_tiers, 1);
	UNITS(&b->tiers[0], "发", "各区文明办");
	bulletin_free(b);

	/* 印发 is the printing date, not a 发 tier */
	b = parse(HEADER "报：甲单位\n某某办公室  2011年11月21日印发\n");
	assert_int_equal(b->n_tiers, 1);
	UNITS(&b->tiers[0], "报", "甲单位");
	bulletin_free(b);
}

static void
test_fields_end_tiers(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "报：甲单位\n\n责 编：张三   核稿：李四\n电话：010-12345678 传真：010-87654321\n");
	UNITS(&b->tiers[0], "报", "甲单位");
	assert_string_equal(bulletin_field(b, "责编"), "张三");
	assert_string_equal(bulletin_field(b, "核稿"), "李四");
	assert_string_equal(bulletin_field(b, "电话"), "010-12345678");
	assert_string_equal(bulletin_field(b, "传真"), "010-87654321");
	bulletin_free(b);
}

static void
test_blank_line_inside_tier(void **state)
{
	(void)state;
	/* a page break inside a tier that stops mid-list */
	struct bulletin *b = parse(HEADER "送：甲单位，乙\n\n单位。\n\n发：丙单位。\n\n印发单位：某某办公室\n");
	assert_int_equal(b->n_tiers, 2);
	UNITS(&b->tiers[0], "送", "甲单位", "乙单位");
	UNITS(&b->tiers[1], "发", "丙单位");
	assert_string_equal(bulletin_field(b, "印发单位"), "某某办公室");
	bulletin_free(b);
}

static void
test_body_page_breaks(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER
	    "这是一段很长的正文，用来说明分页时一个词被拆成两半的情况，重点调度机\n\n制已经建立。\n\n"
	    "## 小标题\n\n短段落\n\n下一段。\n");
	assert_non_null(strstr(b->body, "重点调度机制已经建立。"));
	assert_non_null(strstr(b->body, "## 小标题\n\n短段落\n\n下一段。"));
	bulletin_free(b);
}

static void
test_long_tier_line(void **state)
{
	(void)state;
	struct sbuf text = SBUF_INIT;
	struct bulletin *b;

	sbuf_puts(&text, HEADER "发：");
	for (int i = 0; i < 300; i++)
		sbuf_printf(&text, "第%d单位，", i);
	sbuf_puts(&text, "最后单位。\n");
	b = parse(sbuf_str(&text));
	assert_int_equal(b->n_tiers, 1);
	assert_int_equal(b->tiers[0].n_units, 301);
	assert_string_equal(b->tiers[0].units[299], "第299单位");
	bulletin_free(b);
	sbuf_free(&text);
}

static void
test_markdown_bold_label(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "**报：**甲单位、乙单位\n");
	UNITS(&b->tiers[0], "报", "甲单位、乙单位");
	bulletin_free(b);
}

static void
test_custom_labels(void **state)
{
	(void)state;
	static const struct bulletin_label labels[] = { { "主送", "送" }, { "报", "报" } };
	struct bulletin *b;
	char err[64];
	const char *text = HEADER "发：乙单位\n\n主送：甲单位。\n";

	assert_int_equal(bulletin_parse(text, strlen(text), labels, 2, &b, err, sizeof(err)), 0);
	/* 发 is not a label here, so its line is body text, not a tier */
	assert_int_equal(b->n_tiers, 1);
	assert_string_equal(b->tiers[0].label, "主送");
	UNITS(&b->tiers[0], "送", "甲单位");
	assert_non_null(strstr(b->body, "发：乙单位"));
	bulletin_free(b);
}

static void
test_invalid_utf8_and_empty(void **state)
{
	(void)state;
	struct bulletin *b;
	char err[128];

	assert_int_equal(bulletin_parse("ab\xFF", 3, NULL, 0, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "byte 2"));
	assert_null(b);

	b = parse("");
	assert_null(b->title);
	assert_null(b->body);
	assert_int_equal(b->n_tiers, 0);
	bulletin_free(b);
}


/* ---- classification: fail closed ------------------------------------------ */

struct mark_case {
	const char *text;	/* the whole issue */
	const char *level;	/* 秘密/机密/绝密; NULL: refused as unrecognised */
	const char *named;	/* what the refusal reason must contain */
};

#define TOP "工作简报\n\n第 5 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n正文第一段。\n\n报：甲单位\n"

/*
 * Every form must be refused, the reason naming the mark. Sources: the
 * issue (first ten), GB/T 9704-2012 §7.2.2 (秘密★1年, "★" between level and
 * period, Arabic digits), GB/T 7156-2003 examples (秘密★5年, 机密★10年,
 * 绝密★长期), 保密法 guidance on "密级★解密时间/解密条件" (机密★会议开始前),
 * exam-paper generators (绝密★启用前), a 舆情日报 template (秘 密), and what
 * Big5, Markdown and typists make of them.
 */
static const struct mark_case mark_cases[] = {
	{ "密级：秘密\n" TOP, "秘密", "密级：秘密" },
	{ "★机密\n" TOP, "机密", "★机密" },
	{ "秘密（★6个月）\n" TOP, "秘密", "秘密（★6个月）" },
	{ "工作简报\n\n第 11 期  秘密\n\n某某办公室  2021年3月4日\n\n正文。\n", "秘密", "秘密" },
	{ "秘密★1年\n" TOP, "秘密", "秘密★1年" },
	{ "机密 ★ 10年\n" TOP, "机密", "机密 ★ 10年" },
	{ "绝 密\n" TOP, "绝密", "绝 密" },
	{ "秘 密★\n" TOP, "秘密", "秘 密★" },
	{ "绝\u3000密\n" TOP, "绝密", "绝\u3000密" },
	{ "秘密★１年\n" TOP, "秘密", "秘密★１年" },
	{ "密级:秘密\n" TOP, "秘密", "密级:秘密" },
	{ "秘密★5年\n" TOP, "秘密", "秘密★5年" },
	{ "机密★10年\n" TOP, "机密", "机密★10年" },
	{ "绝密★长期\n" TOP, "绝密", "绝密★长期" },
	{ "机密★会议开始前\n" TOP, "机密", "机密★会议开始前" },
	{ "秘密★2025年12月31日\n" TOP, "秘密", "秘密★2025年12月31日" },
	{ "绝密★启用前\n" TOP, "绝密", "绝密★启用前" },
	{ "机密级\n" TOP, "机密", "机密级" },
	{ "【秘密】\n" TOP, "秘密", "【秘密】" },
	{ "秘密  保密期限：1年\n" TOP, "秘密", "秘密  保密期限：1年" },
	{ "密级：机密★20年\n" TOP, "机密", "密级：机密★20年" },
	{ "機密★10年\n" TOP, "机密", "機密★10年" },
	{ "絕密\n" TOP, "绝密", "絕密" },
	{ "**秘密★1年**\n" TOP, "秘密", "秘密★1年" },
	{ "# 机密\n" TOP, "机密", "机密" },
	{ "秘密·1年\n" TOP, "秘密", "秘密·1年" },
	{ "秘密*6个月\n" TOP, "秘密", "秘密*6个月" },
	{ "机密（★10年）\n" TOP, "机密", "机密（★10年）" },
	{ "密 级：秘 密\n" TOP, "秘密", "密 级：秘 密" },
	{ "密級：祕密\n" TOP, "秘密", "密級：祕密" },
	{ "秘密  特急\n" TOP, "秘密", "秘密" },
	{ "工作简报\n\n第 5 期\n\n某某办公室\n\n2021年3月4日  机密\n\n---\n\n正文。\n", "机密", "机密" },
	{ "秘密\n工作简报\n第1期\n", "秘密", "秘密" },
	/* understood as classification-like, not as a mark: refused anyway */
	{ "工作秘密\n" TOP, NULL, "工作秘密" },
	{ "核心商密★10年\n" TOP, NULL, "核心商密★10年" },
	{ "密级：内部\n" TOP, NULL, "密级：内部" },
	{ "保密期限：1年\n" TOP, NULL, "保密期限：1年" },
	{ "秘密★一 年x\n" TOP, NULL, "秘密★一 年x" },
	{ "国家秘密工作简报\n\n第 5 期\n\n2021年3月4日\n\n正文。\n", NULL, "国家秘密工作简报" },
};

static void
test_classification_fail_closed(void **state)
{
	(void)state;
	struct conf c;
	char why[1024];
	size_t recognised = 0, unrecognised = 0;

	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < sizeof(mark_cases) / sizeof(mark_cases[0]); i++) {
		const struct mark_case *m = &mark_cases[i];
		struct bulletin *b = parse(m->text);
		if (m->level != NULL) {
			if (b->classification == NULL || strcmp(b->classification, m->level) != 0)
				fail_msg("case %zu \"%s\": classification %s, expected %s", i,
				    m->named, b->classification ? b->classification : "NULL",
				    m->level);
			recognised++;
		} else {
			if (b->classification != NULL || b->unrecognised_mark == NULL)
				fail_msg("case %zu \"%s\": not refused as unrecognised", i,
				    m->named);
			unrecognised++;
		}
		assert_int_equal(issue_check_marks(&c, b, why, sizeof(why)), ISSUE_REFUSE);
		if (strstr(why, m->named) == NULL)
			fail_msg("case %zu: reason \"%s\" does not name \"%s\"", i, why, m->named);
		/* the subject never carries a mark line */
		if (b->title != NULL && (strstr(b->title, "密") || strstr(b->title, "★")) &&
		    m->level != NULL)
			fail_msg("case %zu: title \"%s\" carries the mark", i, b->title);
		bulletin_free(b);
	}
	print_message("classification: %zu forms recognised, %zu refused as "
	    "unrecognised\n", recognised, unrecognised);
}

static void
test_classification_period_and_line(void **state)
{
	(void)state;
	struct bulletin *b = parse("秘密（★6个月）\n" TOP);
	assert_string_equal(b->classification_period, "6个月");
	assert_int_equal(b->classification_line, 1);
	assert_string_equal(b->title, "工作简报");
	bulletin_free(b);

	b = parse("工作简报\n\n第 11 期  秘密\n\n某某办公室  2021年3月4日\n\n正文。\n");
	assert_int_equal(b->issue_no, 11);
	assert_int_equal(b->classification_line, 3);
	bulletin_free(b);

	b = parse("密级：秘密\n工作简报\n第1期\n某某办公室  2021年3月4日\n\n正文。\n");
	assert_string_equal(b->title, "工作简报");
	assert_string_equal(b->classification_mark, "密级：秘密");
	bulletin_free(b);
}

static void
test_body_mentions_pass(void **state)
{
	(void)state;
	struct conf c;
	char why[256];

	memset(&c, 0, sizeof(c));
	struct bulletin *b = parse(HEADER "全体干部要增强保密意识，保守国家秘密，严防机密泄露。\n\n"
	    "会议传达了绝密文件管理规定。\n\n报：甲单位\n");
	assert_null(b->classification);
	assert_null(b->unrecognised_mark);
	assert_int_equal(issue_check_marks(&c, b, why, sizeof(why)), ISSUE_SEND);
	bulletin_free(b);

	/* 保密 in a title is not a mark */
	b = parse("保密工作简报\n\n第1期\n\n2021年1月1日\n\n正文。\n");
	assert_null(b->classification);
	assert_null(b->unrecognised_mark);
	bulletin_free(b);

	/* 内部资料 is circulation, not classification */
	b = parse("内部资料 注意保存\n" HEADER);
	assert_int_equal(issue_check_marks(&c, b, why, sizeof(why)), ISSUE_SEND);
	bulletin_free(b);
}

static void
test_extra_marks(void **state)
{
	(void)state;
	struct conf_mark marks[] = { { (char *)"限阅", CONF_MARK_HOLD },
		{ (char *)"内部", CONF_MARK_REFUSE } };
	struct conf c;
	char why[512];

	memset(&c, 0, sizeof(c));
	c.extra_marks = marks;
	c.n_extra_marks = 2;
	struct bulletin *b = parse("限 阅\n" HEADER);
	assert_int_equal(issue_check_marks(&c, b, why, sizeof(why)), ISSUE_HOLD);
	assert_non_null(strstr(why, "限阅"));
	bulletin_free(b);

	b = parse("内部资料 注意保存\n" HEADER);
	assert_int_equal(issue_check_marks(&c, b, why, sizeof(why)), ISSUE_REFUSE);
	assert_non_null(strstr(why, "内部"));
	bulletin_free(b);

	/* only the masthead counts: 限阅 in the body is text */
	b = parse(HEADER "本材料限阅。\n");
	assert_int_equal(issue_check_marks(&c, b, why, sizeof(why)), ISSUE_SEND);
	bulletin_free(b);
}

/* ---- footer region ----------------------------------------------------------- */

static void
test_body_injection(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "报：恶意单位、另一个单位\n\n"
	    "这一段是正文，引用了上面那一行。\n\n---\n\n报：甲单位\n");
	assert_int_equal(b->n_tiers, 1);
	UNITS(&b->tiers[0], "报", "甲单位");
	assert_non_null(strstr(b->body, "报：恶意单位"));
	assert_int_equal(b->footer_start, BULLETIN_FOOTER_RULE);
	assert_int_equal(b->footer_line, 17);
	bulletin_free(b);

	/* a quoted line that starts a body paragraph, with no footer at all */
	b = parse(HEADER "送：某单位\n\n正文最后一段。\n");
	assert_int_equal(b->n_tiers, 0);
	assert_int_equal(b->footer_line, 0);
	assert_non_null(strstr(b->body, "送：某单位"));
	bulletin_free(b);
}

static void
test_unknown_field_labels_end_tiers(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "发：全区各单位主要领导、信息员\n"
	    "制作：王五  审核：李四\n值班员：张三  电话：010-1234  时间:2020年1月1日\n");
	UNITS(&b->tiers[0], "发", "全区各单位主要领导、信息员");
	assert_string_equal(bulletin_field(b, "制作"), "王五");
	assert_string_equal(bulletin_field(b, "审核"), "李四");
	assert_string_equal(bulletin_field(b, "值班员"), "张三");
	assert_string_equal(bulletin_field(b, "电话"), "010-1234");
	assert_string_equal(bulletin_field(b, "时间"), "2020年1月1日");
	assert_int_equal(b->footer_start, BULLETIN_FOOTER_TIERS);
	for (size_t i = 0; i < b->n_fields; i++)
		if (strcmp(b->fields[i].key, "电话") == 0)
			assert_true(b->fields[i].known);
		else if (strcmp(b->fields[i].key, "制作") == 0)
			assert_false(b->fields[i].known);
	bulletin_free(b);

	/* on the tier line itself, after a run of spaces */
	b = parse(HEADER "报：甲单位、乙单位      分析：张三\n");
	UNITS(&b->tiers[0], "报", "甲单位、乙单位");
	assert_string_equal(bulletin_field(b, "分析"), "张三");
	bulletin_free(b);
}

static void
test_soft_line_breaks(void **state)
{
	(void)state;
	struct bulletin *b = parse(HEADER "送：首都文明委委员，市委、市政府各部委办局\n"
	    "各总公司、高等院校，市级群众团体。\n");
	UNITS(&b->tiers[0], "送", "首都文明委委员", "市委、市政府各部委办局各总公司、高等院校",
	    "市级群众团体");
	assert_int_equal(b->tiers[0].n_breaks, 1);
	assert_int_equal(b->tiers[0].breaks[0].unit, 1);
	assert_int_equal(b->tiers[0].breaks[0].offset, strlen("市委、市政府各部委办局"));
	bulletin_free(b);

	/* a break next to a separator is no soft break */
	b = parse(HEADER "送：甲单位、\n乙单位，丙\n单位\n");
	assert_int_equal(b->tiers[0].n_breaks, 1);
	assert_int_equal(b->tiers[0].breaks[0].unit, 1);
	bulletin_free(b);
}

static void
test_dates_and_numbers(void **state)
{
	(void)state;
	static const char *const dates[] = {
		"二○二○年六月十二日", "二0二0年六月十二日", "二O二O年六月十二日",
		"二〇二〇年六月十二日", "二零二零年六月十二日",
	};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "工作简报\n第1期\n某某办公室\n%s\n", dates[i]);
		struct bulletin *b = parse(text);
		if (b->date == NULL || strcmp(b->date, "2020-06-12") != 0)
			fail_msg("%s: date %s", dates[i], b->date ? b->date : "NULL");
		bulletin_free(b);
	}
	struct bulletin *b = parse("工作简报\n第1期\n某某办公室\n二0一七年一月十二日\n");
	assert_string_equal(b->date, "2017-01-12");
	bulletin_free(b);

	/* a template's placeholder is no number */
	b = parse("工作简报\n第XX期\n（总第××期）\n某某办公室  2020年6月12日\n\n正文。\n");
	assert_int_equal(b->issue_no, -1);
	assert_int_equal(b->total_issue_no, -1);
	assert_string_equal(b->title, "工作简报");
	assert_string_equal(b->date, "2020-06-12");
	bulletin_free(b);

	static const char *const years[] = { "〔2025〕第3期", "［2025］第3期", "(2025)第3期",
		"（2025）第 3 期", "2025年第3期" };
	for (size_t i = 0; i < sizeof(years) / sizeof(years[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "工作简报\n%s\n某某办公室  2025年3月4日\n", years[i]);
		b = parse(text);
		if (b->issue_no != 3)
			fail_msg("%s: issue %ld", years[i], b->issue_no);
		bulletin_free(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_capital),
		cmocka_unit_test(test_seed_mentougou),
		cmocka_unit_test(test_seed_crlf_trailing_spaces),
		cmocka_unit_test(test_seed_gb18030),
		cmocka_unit_test(test_half_and_full_width_colons),
		cmocka_unit_test(test_tier_wrapped_over_lines),
		cmocka_unit_test(test_chaosong_label),
		cmocka_unit_test(test_spaced_labels),
		cmocka_unit_test(test_missing_tier),
		cmocka_unit_test(test_no_footer),
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_classification_marks),
		cmocka_unit_test(test_internal_is_not_secret),
		cmocka_unit_test(test_chinese_numeral_dates),
		cmocka_unit_test(test_total_number_brackets),
		cmocka_unit_test(test_split_title),
		cmocka_unit_test(test_print_lines_end_tiers),
		cmocka_unit_test(test_fields_end_tiers),
		cmocka_unit_test(test_blank_line_inside_tier),
		cmocka_unit_test(test_body_page_breaks),
		cmocka_unit_test(test_long_tier_line),
		cmocka_unit_test(test_markdown_bold_label),
		cmocka_unit_test(test_custom_labels),
		cmocka_unit_test(test_invalid_utf8_and_empty),
		cmocka_unit_test(test_classification_fail_closed),
		cmocka_unit_test(test_classification_period_and_line),
		cmocka_unit_test(test_body_mentions_pass),
		cmocka_unit_test(test_extra_marks),
		cmocka_unit_test(test_body_injection),
		cmocka_unit_test(test_unknown_field_labels_end_tiers),
		cmocka_unit_test(test_soft_line_breaks),
		cmocka_unit_test(test_dates_and_numbers),
	};
	return cmocka_run_group_tests_name("bulletin", tests, NULL, NULL);
}
