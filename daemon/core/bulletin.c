#include "bulletin.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/*
 * How the parser reads an issue:
 *   1. split into lines and classify each (blank, rule, tier label,
 *      editor/contact field, print-run or printing-office line, text);
 *   2. read the header from the top until the date line or the first rule;
 *      every line of it (the masthead) is scanned for classification marks,
 *      failing closed: a secret-like word that is not a mark is reported;
 *   3. find the 版记: the trailing run of lines that are not body text
 *      (rules, tiers and their wrapped lines, field lines, print lines);
 *      tier lines count only there, so a quoted 报： in the body is body;
 *   4. every tier label line of the 版记 starts a tier, which runs on over
 *      wrapped lines until a terminator (next tier, rule, a line or a gap
 *      starting with any short label and a colon, print line); a wrap with
 *      no separator is kept as a soft break for routing to decide;
 *   5. the body is what lies between header and 版记, minus known field
 *      and print lines, with page-break artefacts rejoined.
 * All matching folds full-width forms and ignores spaces inside labels
 * ("抄　送："), but the text kept for mailing is never folded.
 */

const struct bulletin_label bulletin_default_labels[] = {
	{ "报", "报" }, { "抄报", "报" }, { "呈报", "报" }, { "报送", "报" },
	{ "主报", "报" },
	{ "送", "送" }, { "抄送", "送" }, { "分送", "送" }, { "主送", "送" },
	{ "发", "发" }, { "分发", "发" }, { "下发", "发" }, { "抄发", "发" },
};
const size_t bulletin_default_labels_count =
    sizeof(bulletin_default_labels) / sizeof(bulletin_default_labels[0]);

static const char *const field_keys[] = {
	"责任编辑", "责编", "主编", "编辑", "核稿", "编校", "核签", "审核",
	"审稿", "签发", "校对", "联系人", "联系电话", "电话", "传真",
	"电子邮箱", "邮箱", "电子信箱", "E-mail", "Email", "地址", "邮编",
};

/* Header and footer lines are short; longer lines are body paragraphs. */
#define HEADER_LINE_MAX 600
#define HEADER_LINES_MAX 16
/* A paragraph shorter than this is a heading, never half of a broken one. */
#define PAGE_BREAK_MIN_BYTES 60

enum line_kind {
	L_TEXT, L_BLANK, L_RULE, L_TIER, L_FIELD, L_PRINT,
};

struct line {
	const char *s;		/* raw text, no line terminator */
	size_t n;
	enum line_kind kind;
	int tier_label;		/* index into the label table for L_TIER */
	const char *after;	/* for L_TIER: text after the colon */
	bool in_tier;		/* a tier label line or one of its continuations */
	const char *fields;	/* where field entries begin on this line, or NULL */
};

/* ---- code point cursor helpers over raw text -------------------------- */

static int32_t
peek(const char *p, const char *end, const char **next)
{
	size_t i = 0;
	int32_t cp;

	if (p >= end) {
		*next = p;
		return -1;
	}
	cp = text_next(p, (size_t)(end - p), &i);
	*next = p + i;
	return text_fold_cp(cp);
}

static const char *
skip_spaces(const char *p, const char *end)
{
	const char *q;

	while (p < end && text_is_space(peek(p, end, &q)))
		p = q;
	return p;
}

/* Skips Markdown decoration that may wrap a line: "# ", "**", "> ". */
static const char *
skip_markup(const char *p, const char *end)
{
	for (;;) {
		p = skip_spaces(p, end);
		if (p < end && (*p == '#' || *p == '*' || *p == '>'))
			p++;
		else
			return p;
	}
}

static int32_t
lower(int32_t cp)
{
	return cp >= 'A' && cp <= 'Z' ? cp - 'A' + 'a' : cp;
}

/*
 * Matches word at p, folding widths and ASCII case; with spaced, spaces
 * may stand between its characters ("抄  报"). Returns the end or NULL.
 */
static const char *
match_word(const char *p, const char *end, const char *word, bool spaced)
{
	size_t wn = strlen(word), wi = 0;

	while (wi < wn) {
		int32_t want = lower(text_fold_cp(text_next(word, wn, &wi)));
		const char *q;
		if (spaced && wi > 0)
			p = skip_spaces(p, end);
		if (lower(peek(p, end, &q)) != want)
			return NULL;
		p = q;
	}
	return p;
}

/* After optional spaces and "**", a colon (： folds to :). */
static const char *
match_colon(const char *p, const char *end)
{
	const char *q;

	p = skip_spaces(p, end);
	while (p < end && *p == '*')
		p++;
	if (peek(p, end, &q) != ':')
		return NULL;
	q = skip_spaces(q, end);
	while (q < end && *q == '*')	/* "**报：**中央文明办" */
		q++;
	return skip_spaces(q, end);
}

static bool
is_cn_digit(int32_t cp, int *v)
{
	static const int32_t digits[] = { 0x3007, 0x4E00, 0x4E8C, 0x4E09,
		0x56DB, 0x4E94, 0x516D, 0x4E03, 0x516B, 0x4E5D };
	/* 〇 一 二 三 四 五 六 七 八 九 */
	for (int i = 0; i < 10; i++)
		if (cp == digits[i]) {
			*v = i;
			return true;
		}
	if (cp == 0x96F6) {	/* 零 */
		*v = 0;
		return true;
	}
	if (cp == 0x4E24) {	/* 两 */
		*v = 2;
		return true;
	}
	/* ○ (U+25CB) and ◯ are what input methods offer for 〇 */
	if (cp == 0x25CB || cp == 0x25EF) {
		*v = 0;
		return true;
	}
	return false;
}

/* Typists put 0 or the letter O for 〇 inside a Chinese numeral: 二0一七. */
static bool
is_zero_lookalike(int32_t cp)
{
	return cp == '0' || cp == 'O' || cp == 'o';
}

/*
 * Reads a number of at most max_digits digits: Arabic (any width) or
 * Chinese numerals, either digit by digit (二〇二〇) or with 十/百
 * (二十九, 一百零五). Returns the end or NULL.
 */
static const char *
match_number(const char *p, const char *end, int max_digits, long *val)
{
	const char *q;
	int32_t cp = peek(p, end, &q);
	int d, count = 0;
	long v = 0;

	if (cp >= '0' && cp <= '9') {
		while (cp >= '0' && cp <= '9') {
			if (++count > max_digits)
				return NULL;
			v = v * 10 + (cp - '0');
			p = q;
			cp = peek(p, end, &q);
		}
		*val = v;
		return p;
	}

	long section = 0, digit = -1;
	bool any = false;
	for (;;) {
		bool zero = count > 0 && is_zero_lookalike(cp);
		if (zero || is_cn_digit(cp, &d)) {
			if (zero)
				d = 0;
			if (digit >= 0 && !any) {	/* positional: 二〇二〇 */
				v = v * 10 + digit;
			} else if (digit > 0) {
				return NULL;	/* 零 may stand before a digit: 一百零五 */
			}
			digit = d;
			if (++count > max_digits + 2)
				return NULL;
		} else if (cp == 0x5341 || cp == 0x767E) {	/* 十 百 */
			long unit = cp == 0x5341 ? 10 : 100;
			if (v != 0)
				return NULL;	/* mixed 二〇十 */
			section += (digit < 0 ? 1 : digit) * unit;
			digit = -1;
			any = true;
		} else {
			break;
		}
		p = q;
		cp = peek(p, end, &q);
	}
	if (!any && digit < 0)
		return NULL;
	if (any) {
		v = section + (digit < 0 ? 0 : digit);
	} else {
		v = v * 10 + digit;
		if (count > max_digits)
			return NULL;
	}
	*val = v;
	return p;
}

static bool
valid_date(long y, long m, long d)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1)
		return false;
	if (m == 2 && d == 29)
		return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1];
}

/* Finds "YYYY 年 M 月 D 日" in [p, end); sets the span and the ISO date. */
static bool
find_date(const char *p, const char *end, const char **start,
    const char **stop, char iso[32])
{
	while (p < end) {
		const char *q = p, *next;
		long y, m, d;

		peek(p, end, &next);
		if ((q = match_number(q, end, 4, &y)) != NULL &&
		    (q = match_word(skip_spaces(q, end), end, "年", false)) &&
		    (q = match_number(skip_spaces(q, end), end, 2, &m)) &&
		    (q = match_word(skip_spaces(q, end), end, "月", false)) &&
		    (q = match_number(skip_spaces(q, end), end, 2, &d)) &&
		    (q = match_word(skip_spaces(q, end), end, "日", false)) &&
		    valid_date(y, m, d)) {
			*start = p;
			*stop = q;
			snprintf(iso, 32, "%04ld-%02ld-%02ld", y, m, d);
			return true;
		}
		p = next;
	}
	return false;
}

/* ---- line classification ---------------------------------------------- */

static bool
is_rule(const char *p, const char *end)
{
	int count = 0;
	const char *q;

	p = skip_spaces(p, end);
	while (p < end) {
		int32_t cp = peek(p, end, &q);
		if (text_is_space(cp)) {
			;
		} else if (cp == '-' || cp == '_' || cp == '=' || cp == '*' ||
		    cp == '~' || cp == 0x2014 || cp == 0x2500 || cp == 0x2501 ||
		    cp == 0x2550) {	/* — ─ ━ ═ */
			count++;
		} else {
			return false;
		}
		p = q;
	}
	return count >= 3;
}

static int
match_label(const char *p, const char *end, const struct bulletin_label *labels,
    size_t n_labels, const char **after)
{
	p = skip_markup(p, end);
	for (size_t i = 0; i < n_labels; i++) {
		const char *q = match_word(p, end, labels[i].label, true);
		if (q != NULL && (q = match_colon(q, end)) != NULL) {
			*after = q;
			return (int)i;
		}
	}
	return -1;
}

/* A field key at p followed by a colon; returns where the value starts. */
static const char *
match_field_key(const char *p, const char *end, size_t *key)
{
	for (size_t i = 0; i < sizeof(field_keys) / sizeof(field_keys[0]); i++) {
		const char *q = match_word(p, end, field_keys[i], true);
		if (q != NULL && (q = match_colon(q, end)) != NULL) {
			*key = i;
			return q;
		}
	}
	return NULL;
}

/* Template placeholders for a number: XX, ××, ＿＿, □□, ○○. */
static const char *
match_placeholder(const char *p, const char *end)
{
	const char *q, *start = p;

	for (;;) {
		int32_t cp = peek(p, end, &q);
		if (cp == 'X' || cp == 'x' || cp == 0x00D7 || cp == '_' ||
		    cp == 0x25A1 || cp == 0x25CB || cp == '?' || cp == 0x2573)
			p = q;
		else
			break;
	}
	return p > start ? p : NULL;
}

/* (共印16份), 本期共印 30 份, a template's (共印××份) … */
static bool
is_print_run(const char *p, const char *end)
{
	const char *q;
	long n;

	p = skip_markup(p, end);
	if (peek(p, end, &q) == '(')
		p = skip_spaces(q, end);
	if ((q = match_word(p, end, "本期", false)) != NULL)
		p = q;
	if ((p = match_word(p, end, "共印", false)) == NULL)
		return false;
	p = skip_spaces(p, end);
	if ((q = match_number(p, end, 6, &n)) == NULL &&
	    (q = match_placeholder(p, end)) == NULL)
		return false;
	if ((p = match_word(skip_spaces(q, end), end, "份", false)) == NULL)
		return false;
	p = skip_spaces(p, end);
	if (peek(p, end, &q) == ')')
		p = q;
	return skip_spaces(p, end) == end;
}

/*
 * "XX办公室  2011年11月21日印发", also with a template's placeholder date
 * (20××年×月×日印发) or a print run after it (…印发（共印1份）): the
 * printing office and date of the 版记, not a tier.
 */
static bool
is_printing_office(const char *p, const char *end)
{
	const char *q, *stop = end, *at = NULL;
	bool nian = false, yue = false, ri = false;

	if (end - p > HEADER_LINE_MAX / 2)
		return false;
	for (const char *r = p; r < end; peek(r, end, &r))
		if (peek(r, end, &q) == '(' && is_print_run(r, end)) {
			stop = r;
			break;
		}
	stop = p + (size_t)(stop - p);
	while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
		stop--;
	for (const char *r = p; r < stop; r = q) {
		int32_t cp = peek(r, stop, &q);
		if (cp == 0x5E74)		/* 年 */
			nian = true;
		else if (cp == 0x6708 && nian)	/* 月 */
			yue = true;
		else if (cp == 0x65E5 && yue)	/* 日 */
			ri = true;
		if (ri && match_word(r, stop, "日印发", false) == stop)
			at = r;
	}
	return at != NULL;
}

static void
classify(struct line *l, const struct bulletin_label *labels, size_t n_labels)
{
	const char *end = l->s + l->n, *p = skip_spaces(l->s, end);
	size_t key;

	l->tier_label = -1;
	/* Labels and keys are prefixes, cheap on any line; a tier with a
	 * long list of units is a long line. The rest only on short lines. */
	if (p == end)
		l->kind = L_BLANK;
	else if ((l->tier_label = match_label(p, end, labels, n_labels,
	    &l->after)) >= 0)
		l->kind = L_TIER;
	else if (match_field_key(skip_markup(p, end), end, &key) != NULL)
		l->kind = L_FIELD;
	else if (l->n > HEADER_LINE_MAX)
		l->kind = L_TEXT;
	else if (is_rule(p, end))
		l->kind = L_RULE;
	else if (is_print_run(p, end) || is_printing_office(p, end))
		l->kind = L_PRINT;
	else
		l->kind = L_TEXT;
}

/* ---- building strings ---------------------------------------------------- */

static int32_t
last_cp(const struct sbuf *b)
{
	size_t i = b->len;

	while (i > 0 && ((unsigned char)b->data[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0 && b->len == 0)
		return -1;
	if (i > 0)
		i--;
	size_t j = i;
	return text_fold_cp(text_next(b->data, b->len, &j));
}

/* The last code point of s[0..n) before trailing spaces and tabs, folded. */
static int32_t
last_cp_of(const char *s, size_t n)
{
	size_t i;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0)
		return -1;
	i = n - 1;
	while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--;
	return text_fold_cp(text_next(s, n, &i));
}

static int32_t
first_cp(const char *s, size_t n)
{
	size_t i = 0;

	return n ? text_fold_cp(text_next(s, n, &i)) : -1;
}

/*
 * Appends a stripped piece of text to b, joining across a line break: CJK
 * text is written without spaces, so a break between two non-ASCII
 * characters vanishes; elsewhere it becomes one space.
 */
static void
join_piece(struct sbuf *b, const char *s, size_t n)
{
	char *piece = text_strip(s, n);
	size_t pn = strlen(piece);

	if (pn == 0) {
		free(piece);
		return;
	}
	if (b->len > 0) {
		int32_t a = last_cp(b), c = first_cp(piece, pn);
		if (a < 0x80 && c < 0x80)
			sbuf_putc(b, ' ');
	}
	sbuf_append(b, piece, pn);
	free(piece);
}

/* Removes spaces that stand between two CJK characters (a justified title). */
static char *
close_cjk_gaps(const char *s)
{
	struct sbuf b = SBUF_INIT;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t at = i;
		int32_t cp = text_next(s, n, &i);
		if (text_is_space(cp)) {
			size_t j = i;
			while (j < n) {
				size_t k = j;
				if (!text_is_space(text_next(s, n, &k)))
					break;
				j = k;
			}
			if (j < n && b.len > 0 && last_cp(&b) >= 0x2E80 &&
			    first_cp(s + j, n - j) >= 0x2E80) {
				i = j;
				continue;
			}
			sbuf_putc(&b, ' ');
			i = j;
			continue;
		}
		sbuf_append(&b, s + at, i - at);
	}
	return sbuf_steal(&b);
}

/* Text of a masthead line without Markdown bold and leading markup. */
static char *
clean_line(const char *p, const char *end)
{
	struct sbuf b = SBUF_INIT;
	char *out;

	p = skip_markup(p, end);
	while (p < end) {
		if (p + 1 < end && p[0] == '*' && p[1] == '*') {
			p += 2;
			continue;
		}
		sbuf_putc(&b, *p++);
	}
	out = text_strip(sbuf_str(&b), b.len);
	sbuf_free(&b);
	return out;
}

/* Header text: a clean line whose CJK letters spread for print are closed up. */
static char *
header_text(const char *p, const char *end)
{
	char *stripped = clean_line(p, end);
	char *out = close_cjk_gaps(stripped);

	free(stripped);
	return out;
}

/* ---- header ------------------------------------------------------------- */

static bool
set_once(char **slot, const char *value)
{
	if (*slot != NULL)
		return false;
	*slot = xstrdup(value);
	return true;
}

/* ---- classification marks (密级) --------------------------------------- */

/*
 * GB/T 9704-2012 §7.2.2–7.2.3: 密级 and 保密期限 stand at the top left,
 * "秘密★1年"; a 保密期限 may be left out. Real documents add 密级：, put
 * the ★ first, bracket the period, space the word out, or print the mark on
 * the issue line. Traditional forms come from Big5 issues.
 */
static const struct {
	const char *printed, *level;
} secret_levels[] = {
	{ "绝密", "绝密" }, { "絕密", "绝密" }, { "机密", "机密" },
	{ "機密", "机密" }, { "秘密", "秘密" }, { "祕密", "秘密" },
};

/* What only a classification puts in a masthead: any of these that is not
 * part of a mark the parser reads makes the issue refused (fail closed). */
static const char *const secret_like[] = {
	"秘密", "祕密", "机密", "機密", "绝密", "絕密", "密级", "密級",
	"保密期限", "解密", "定密", "商密", "涉密", "★", "☆",
};

static bool
is_open(int32_t cp)
{
	/* ( [ after folding; 【 〔 〖 「 */
	return cp == '(' || cp == '[' || cp == 0x3010 || cp == 0x3014 ||
	    cp == 0x3016 || cp == 0x300C;
}

static bool
is_close(int32_t cp)
{
	return cp == ')' || cp == ']' || cp == 0x3011 || cp == 0x3015 ||
	    cp == 0x3017 || cp == 0x300D;
}

/* ★ ☆, and what typists put for it: * · ・ • */
static bool
is_star(int32_t cp)
{
	return cp == 0x2605 || cp == 0x2606 || cp == '*' || cp == 0x00B7 ||
	    cp == 0x30FB || cp == 0x2022;
}

/*
 * A 保密期限 at p: "1年", "6个月", "十年", "长期", "启用前" (exam papers),
 * or, when a ★ announced it, a date ("2025年12月31日", the 解密 date).
 */
static const char *
match_period(const char *p, const char *end, bool allow_date)
{
	static const char *const words[] = { "长期", "長期", "启用前", "啟用前" };
	static const char *const units[] = { "个月", "個月", "年", "月", "天", "日", "周" };
	const char *q, *ds, *de;
	char iso[32];
	long n;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if ((q = match_word(p, end, words[i], true)) != NULL)
			return q;
	if ((q = match_number(p, end, 4, &n)) == NULL)
		return NULL;
	if (allow_date && find_date(p, end, &ds, &de, iso) && ds == p)
		return de;
	q = skip_spaces(q, end);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		const char *r = match_word(q, end, units[i], true);
		if (r != NULL)
			return r;
	}
	return NULL;
}

/*
 * A classification mark starting at p: 秘密, 密级：秘密, ★机密, 秘密★1年,
 * 秘密（★6个月）, 机密 ★ 10年, 绝 密, 秘密级, 【秘密】, 秘密 保密期限：长期,
 * 绝密★启用前. Returns its end and sets *level (static) and the period span
 * (*ps == NULL when none), or returns NULL.
 */
static const char *
match_secret(const char *p, const char *end, const char **level,
    const char **ps, const char **pe)
{
	const char *q, *r, *pend = NULL;
	bool opened = false, star = false, popen = false;

	*level = NULL;
	*ps = *pe = NULL;
	p = skip_spaces(p, end);
	if ((q = match_word(p, end, "密级", true)) != NULL ||
	    (q = match_word(p, end, "密級", true)) != NULL) {
		if ((q = match_colon(q, end)) == NULL)
			return NULL;
		p = q;
	}
	if (is_open(peek(p, end, &q))) {
		opened = true;
		p = skip_spaces(q, end);
	}
	if (is_star(peek(p, end, &q)))
		p = skip_spaces(q, end);
	for (size_t i = 0; i < sizeof(secret_levels) / sizeof(secret_levels[0]); i++)
		if ((q = match_word(p, end, secret_levels[i].printed, true)) != NULL) {
			*level = secret_levels[i].level;
			p = q;
			break;
		}
	if (*level == NULL)
		return NULL;
	if ((q = match_word(p, end, "级", false)) != NULL ||
	    (q = match_word(p, end, "級", false)) != NULL)
		p = q;
	if (opened && is_close(peek(skip_spaces(p, end), end, &q))) {
		opened = false;		/* 【秘密】★1年 */
		p = q;
	}

	/* the 保密期限 part */
	r = skip_spaces(p, end);
	if (is_star(peek(r, end, &q))) {
		star = true;
		r = skip_spaces(q, end);
	}
	if (is_open(peek(r, end, &q))) {
		popen = true;
		r = skip_spaces(q, end);
		if (is_star(peek(r, end, &q))) {
			star = true;
			r = skip_spaces(q, end);
		}
	}
	if ((q = match_word(r, end, "保密期限", true)) != NULL ||
	    (q = match_word(r, end, "期限", true)) != NULL) {
		star = true;
		r = match_colon(q, end);
		if (r == NULL)
			r = skip_spaces(q, end);
	}
	if ((pend = match_period(r, end, star)) == NULL && star) {
		/* 密级★解密条件: "机密★会议开始前", up to a space or bracket */
		const char *e = r;
		while (e < end && !text_is_space(peek(e, end, &q)) &&
		    !is_close(peek(e, end, &q)) && !is_open(peek(e, end, &q)))
			e = q;
		if (e > r)
			pend = e;
	}
	if (pend != NULL) {
		*ps = r;
		*pe = pend;
		r = pend;
	}
	if (popen) {
		if (!is_close(peek(skip_spaces(r, end), end, &q)))
			return popen && !star && pend == NULL ? p : NULL;
		r = q;
	}
	if (star || pend != NULL)
		p = r;
	if (opened) {
		if (!is_close(peek(skip_spaces(p, end), end, &q)))
			return NULL;
		p = q;
	}
	return p;
}


/* A secret-like word at or after p; sets *at to where it starts. */
static bool
find_secret_like(const char *p, const char *end, const char **at)
{
	for (; p < end; peek(p, end, &p))
		for (size_t i = 0; i < sizeof(secret_like) / sizeof(secret_like[0]); i++)
			if (match_word(p, end, secret_like[i], true) != NULL) {
				*at = p;
				return true;
			}
	return false;
}

static bool
is_word_cp(int32_t cp)
{
	return text_is_ideograph(cp) || (cp >= '0' && cp <= '9') ||
	    (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
}

/*
 * A mark stands alone: nothing of a word touches it, except the 期 of an
 * issue line printed without a gap (第11期秘密).
 */
static bool
stands_alone(const char *line, const char *s, const char *e, const char *end)
{
	const char *q;

	if (s > line) {
		const char *b = s;
		do
			b--;
		while (b > line && ((unsigned char)*b & 0xC0) == 0x80);
		int32_t cp = peek(b, end, &q);
		if (is_word_cp(cp) && cp != 0x671F)	/* 期 */
			return false;
	}
	return e >= end || !is_word_cp(peek(e, end, &q));
}

static void
set_secret(struct bulletin *b, const char *level, const char *ps, const char *pe,
    const char *ms, const char *me, size_t line_no)
{
	if (b->classification != NULL)
		return;
	b->classification = xstrdup(level);
	b->classification_period = ps ? text_strip(ps, (size_t)(pe - ps)) : NULL;
	b->classification_mark = text_strip(ms, (size_t)(me - ms));
	b->classification_line = line_no;
}

/*
 * Reads every classification mark in one masthead line. A secret-like word
 * that is not part of a mark standing alone makes the line unrecognised.
 */
static void
scan_secret_line(const char *raw, size_t n, size_t line_no, struct bulletin *b)
{
	char *line = clean_line(raw, raw + n);
	const char *end = line + strlen(line), *p = line, *at;

	while (find_secret_like(p, end, &at)) {
		const char *hit = NULL, *e = NULL, *level, *ps, *pe;
		/* the mark may begin before the word: 密级：, ★, 【 */
		for (const char *s = line; s <= at && hit == NULL; peek(s, end, &s)) {
			const char *ms = skip_spaces(s, end);
			e = match_secret(ms, end, &level, &ps, &pe);
			if (e != NULL && e > at && stands_alone(line, ms, e, end))
				hit = ms;
			if (s == end)
				break;
		}
		if (hit == NULL) {
			if (b->unrecognised_mark == NULL) {
				b->unrecognised_mark = xstrdup(line);
				b->unrecognised_line = line_no;
			}
			break;
		}
		set_secret(b, level, ps, pe, hit, e, line_no);
		p = e;
	}
	free(line);
}

/*
 * A line made only of marks: classification (秘密★1年), internal
 * circulation (内部资料 注意保存), urgency (特急). Fills b on success.
 */
static bool
parse_marks(const char *p, const char *end, struct bulletin *b, size_t line_no)
{
	static const char *const internal[] = { "内部资料", "内部刊物", "内部文件" };
	static const char *const urgent[] = { "特急", "加急" };
	char *in = NULL, *urg = NULL, *line = clean_line(p, end);
	const char *q, *level = NULL, *ps = NULL, *pe = NULL, *ms = NULL, *me = NULL;
	bool ok = true;

	end = line + strlen(line);
	p = line;
	while (ok && (p = skip_spaces(p, end)) < end) {
		bool hit = false;
		const char *l, *s, *e;
		if ((q = match_secret(p, end, &l, &s, &e)) != NULL &&
		    stands_alone(line, p, q, end)) {
			level = l;
			ps = s;
			pe = e;
			ms = p;
			me = q;
			p = q;
			hit = true;
		}
		for (size_t i = 0; !hit && i < 3; i++)
			if ((q = match_word(p, end, internal[i], false)) != NULL) {
				free(in);
				in = xstrdup(internal[i]);
				p = q;
				hit = true;
			}
		if (!hit && (q = match_word(p, end, "注意保存", false)) != NULL) {
			p = q;
			hit = in != NULL;
		}
		for (size_t i = 0; !hit && i < 2; i++)
			if ((q = match_word(p, end, urgent[i], true)) != NULL) {
				free(urg);
				urg = xstrdup(urgent[i]);
				p = q;
				hit = true;
			}
		ok = hit;
	}
	if (ok && (level || in || urg)) {
		if (level)
			set_secret(b, level, ps, pe, ms, me, line_no);
		if (in && !b->internal) {
			b->internal = in;
			in = NULL;
		}
		if (urg && !b->urgency) {
			b->urgency = urg;
			urg = NULL;
		}
	} else {
		ok = false;
	}
	free(in);
	free(urg);
	free(line);
	return ok;
}

/* Does the line hold anything a classification would (fail closed)? */
static bool
secret_like_line(const char *p, const char *end)
{
	const char *at;

	return find_secret_like(p, end, &at);
}

/*
 * Finds 第N期 and 总第N期 in a line. Returns true when at least one is there
 * and sets *stop to the end of the last one.
 */
static bool
parse_numbers(const char *p, const char *end, struct bulletin *b,
    const char **stop)
{
	bool found = false;
	bool after_total = false;
	const char *q;

	while (p < end) {
		int32_t cp = peek(p, end, &q);
		if (cp == 0x603B) {	/* 总 */
			after_total = true;
			p = q;
			continue;
		}
		const char *r;
		long n;
		if (cp == 0x7B2C &&	/* 第 */
		    (r = match_placeholder(skip_spaces(q, end), end)) != NULL &&
		    (r = match_word(skip_spaces(r, end), end, "期", false)) != NULL) {
			/* a template's 第XX期: an issue line without a number */
			found = true;
			*stop = r;
			p = r;
		} else if (cp == 0x7B2C &&	/* 第 */
		    (r = match_number(skip_spaces(q, end), end, 7, &n)) != NULL &&
		    (r = match_word(skip_spaces(r, end), end, "期", false)) != NULL) {
			if (after_total) {
				if (b->total_issue_no < 0)
					b->total_issue_no = n;
			} else if (b->issue_no < 0) {
				b->issue_no = n;
			}
			found = true;
			*stop = r;
			p = r;
		} else {
			p = q;
		}
		after_total = false;
	}
	return found;
}

/* An issuer string without brackets and a trailing " 编"/" 编印"/" 主办". */
static void
set_issuer(struct bulletin *b, const char *p, const char *end)
{
	static const char *const suffixes[] = { "编印", "主办", "编", "印" };
	char *s;

	while (p < end) {
		const char *q;
		int32_t cp = peek(p, end, &q);
		if (text_is_space(cp) || cp == '(' || cp == ')' || cp == ',')
			p = q;
		else
			break;
	}
	s = text_strip(p, (size_t)(end - p));
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]), n = strlen(s);
		if (n > sl && strcmp(s + n - sl, suffixes[i]) == 0 &&
		    (s[n - sl - 1] == ' ' || s[n - sl - 1] == '\t' ||
		    (n >= sl + 3 && memcmp(s + n - sl - 3, "\xE3\x80\x80", 3) == 0))) {
			s[n - sl] = '\0';
			break;
		}
	}
	char *t = header_text(s, s + strlen(s));
	free(s);
	if (*t) {
		free(b->issuer);
		b->issuer = t;
	} else {
		free(t);
	}
}

static void
set_title(struct bulletin *b, const struct line *const *parts, size_t n)
{
	struct sbuf title = SBUF_INIT;

	for (size_t k = 0; k < n; k++) {
		char *t = header_text(parts[k]->s, parts[k]->s + parts[k]->n);
		join_piece(&title, t, strlen(t));
		free(t);
	}
	if (title.len > 0 && b->title == NULL)
		b->title = close_cjk_gaps(sbuf_str(&title));
	sbuf_free(&title);
}

/*
 * Reads the header: marks, title, 第N期 (总第N期), issuer and date, in the
 * order bulletins print them. Title lines are held back until a number or
 * date line shows where the title ends. Returns the index of the first
 * line after the header; 0 when there is no header (no number, no date).
 */
static size_t
parse_header(struct line *lines, size_t n, struct bulletin *b)
{
	const struct line *pending[HEADER_LINES_MAX];
	size_t npending = 0, i, count = 0;
	bool seen_number = false, seen_date = false;

	for (i = 0; i < n && count < HEADER_LINES_MAX; i++) {
		struct line *l = &lines[i];
		const char *end = l->s + l->n, *p = l->s, *ds, *de, *ns, *q;
		char iso[32];

		if (l->kind == L_BLANK)
			continue;
		if (l->kind == L_RULE) {
			if (npending == 0 && !seen_number && !seen_date)
				continue;	/* a rule above the title */
			i++;
			break;
		}
		if (l->kind != L_TEXT)
			break;
		if (seen_date) {
			/* After the date only marks may follow (秘密 printed below it). */
			if (parse_marks(p, end, b, i + 1)) {
				count++;
				continue;
			}
			break;
		}
		const char *m = skip_markup(p, end);
		if ((npending > 0 || seen_number) && (peek(m, end, &q) == 0x3010 ||
		    (end - p > 1 && p[0] == '#' && p[1] == '#')))
			break;	/* 【栏目】 or "## …": the body has begun */
		count++;
		if (parse_marks(p, end, b, i + 1))
			continue;
		if (parse_numbers(p, end, b, &ns)) {
			seen_number = true;
			set_title(b, pending, npending);
			npending = 0;
			if (find_date(ns, end, &ds, &de, iso)) {
				set_issuer(b, ns, ds);
				set_once(&b->date, iso);
				seen_date = true;
			}
			continue;
		}
		if (find_date(p, end, &ds, &de, iso)) {
			if (!seen_number) {
				/* Title, then the issuer on its own line, then the date. */
				bool own_issuer = skip_spaces(p, ds) == ds && npending >= 2;
				set_title(b, pending, own_issuer ? npending - 1 : npending);
				if (own_issuer)
					set_issuer(b, pending[npending - 1]->s,
					    pending[npending - 1]->s + pending[npending - 1]->n);
				npending = 0;
			}
			set_issuer(b, p, ds);
			set_once(&b->date, iso);
			seen_date = true;
			continue;
		}
		if (secret_like_line(p, end))
			continue;	/* never title or issuer; scan_masthead judges it */
		if (seen_number)
			set_issuer(b, p, end);
		else
			pending[npending++] = l;
	}
	if (!seen_number && !seen_date) {
		/* Nothing proves there was a header: the text starts at the top. */
		free(b->title);
		free(b->issuer);
		b->title = b->issuer = NULL;
		return 0;
	}
	while (i < n && lines[i].kind == L_BLANK)
		i++;
	if (i < n && lines[i].kind == L_RULE)
		i++;
	return i;
}

/* ---- footer: tiers and fields ------------------------------------------ */

/* A wrapped tier line is short; a longer line after a tier is body text. */
#define CONTINUATION_MAX 300
/* Field lines (制作：…  审核：…) are short too. */
#define FIELD_LINE_MAX 240

static bool
ends_sentence(const struct sbuf *b)
{
	int32_t cp = last_cp(b);

	return cp == 0x3002 || cp == '.' || cp == ';' || cp == 0xFF1B;
}

/* ，,；;。、 — a line break next to one of these is a unit boundary already. */
static bool
is_separator(int32_t cp)
{
	return cp == ',' || cp == ';' || cp == 0x3002 || cp == 0xFF61 ||
	    cp == 0x3001 || cp == '.';
}

/*
 * Any label of a field at p: a known key (责编, 电话, E-mail …) or 2–5
 * ideographs, written together or spaced out one by one (值 班 员), then a
 * colon of either width. Returns where the value starts and sets *key
 * (caller frees) and *known; NULL when p does not start a field.
 */
static const char *
match_any_label(const char *p, const char *end, char **key, bool *known)
{
	const char *q, *r, *v, *last = p;
	size_t k;
	int count = 0, groups = 0, longest = 0, run = 0;

	p = skip_markup(p, end);
	if ((v = match_field_key(p, end, &k)) != NULL) {
		*key = xstrdup(field_keys[k]);
		*known = true;
		return v;
	}
	q = p;
	while (q < end) {
		int32_t cp = peek(q, end, &r);
		if (text_is_ideograph(cp)) {
			if (run++ == 0)
				groups++;
			if (run > longest)
				longest = run;
			count++;
			q = last = r;
		} else if (text_is_space(cp) && count > 0) {
			run = 0;
			q = r;
		} else {
			break;
		}
	}
	/* spaced out, every character apart; or one word */
	if (count < 2 || count > 5 || (groups > 1 && longest > 1))
		return NULL;
	if ((v = match_colon(last, end)) == NULL)
		return NULL;
	char *raw = xstrndup(p, (size_t)(last - p));
	*key = text_key(raw);
	free(raw);
	*known = false;
	return v;
}

/* Where a field begins inside [p, end) after white space, or NULL. */
static const char *
find_field(const char *p, const char *end)
{
	const char *q;

	while (p < end) {
		int32_t cp = peek(p, end, &q);
		if (text_is_space(cp)) {
			const char *k = skip_spaces(q, end);
			char *key = NULL;
			bool known;
			if (match_any_label(k, end, &key, &known) != NULL) {
				free(key);
				return k;
			}
		}
		p = q;
	}
	return NULL;
}

/* A short line that starts with a field label: 制作：…, 值班员：… */
static bool
starts_field(const struct line *l)
{
	char *key = NULL;
	bool known;
	const char *v;

	if (l->kind == L_FIELD)
		return true;
	if (l->kind != L_TEXT || l->n > FIELD_LINE_MAX)
		return false;
	v = match_any_label(l->s, l->s + l->n, &key, &known);
	free(key);
	/* "区教委：29日，召开…。" is a body sentence, not a field */
	return v != NULL && last_cp_of(l->s, l->n) != 0x3002;
}

/*
 * Where the fields of a short footer line begin: at its start (制作：…) or
 * after a gap ("某市气象台      分析：…  审核：…"); NULL when it has none.
 */
static const char *
field_start(const struct line *l)
{
	if (starts_field(l))
		return l->s;
	if (l->kind != L_TEXT || l->n > FIELD_LINE_MAX ||
	    last_cp_of(l->s, l->n) == 0x3002)
		return NULL;
	return find_field(l->s, l->s + l->n);
}

static bool
is_field_line(const struct line *l)
{
	return field_start(l) != NULL;
}

/* "- 2 -", "— 3 —", "第 2 页", "第2页 共3页": a page number left by printing. */
static bool
is_page_number(const struct line *l)
{
	const char *p = l->s, *end = l->s + l->n, *q;
	long n;
	bool digits = false;

	if (l->kind != L_TEXT || l->n > 40)
		return false;
	while ((p = skip_spaces(p, end)) < end) {
		int32_t cp = peek(p, end, &q);
		if ((cp >= '0' && cp <= '9') && (q = match_number(p, end, 4, &n)) != NULL) {
			digits = true;
			p = q;
		} else if (cp == '-' || cp == 0x2014 || cp == 0x2013 || cp == 0x2015 ||
		    cp == 0x7B2C || cp == 0x9875 || cp == 0x5171) {	/* 第 页 共 */
			p = q;
		} else {
			return false;
		}
	}
	return digits;
}

/* Cuts a trailing print-run note ("（共印16份）") off a tier text. */
static void
cut_print_run(struct sbuf *t)
{
	const char *s = sbuf_str(t), *end = s + t->len;

	for (const char *p = s; p < end; p++) {
		const char *q;
		if (peek(p, end, &q) == '(' && is_print_run(p, end)) {
			t->len = (size_t)(p - s);
			t->data[t->len] = '\0';
			return;
		}
	}
}

/* The soft breaks of one tier while it is read: byte offsets into its text. */
struct soft_breaks {
	size_t *at;
	size_t n;
};

static void
push_unit(struct bulletin_tier *t, size_t *cap, const char *text, const char *s,
    size_t n, const struct soft_breaks *sb)
{
	size_t lead = 0;
	char *u;

	while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
		lead++;
	if (n - lead >= 3 && memcmp(s + lead, "\xE3\x80\x80", 3) == 0)
		lead += 3;	/* one U+3000 indent */
	u = text_strip(s, n);
	if (*u == '\0') {
		free(u);
		return;
	}
	if (t->n_units == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		t->units = xreallocarray(t->units, *cap, sizeof(*t->units));
	}
	size_t from = (size_t)(s - text) + lead, len = strlen(u);
	for (size_t i = 0; sb != NULL && i < sb->n; i++) {
		if (sb->at[i] <= from || sb->at[i] >= from + len)
			continue;
		t->breaks = xreallocarray(t->breaks, t->n_breaks + 1, sizeof(*t->breaks));
		t->breaks[t->n_breaks++] = (struct bulletin_break){ t->n_units,
		    sb->at[i] - from };
	}
	t->units[t->n_units++] = u;
}

/* Units end at ，,；;。 (full- or half-width); 、 stays inside a unit. */
static void
split_units(struct bulletin_tier *t, const struct soft_breaks *sb)
{
	const char *end = t->text + strlen(t->text), *start = t->text;
	const char *p = start, *q = start;
	size_t cap = 0;

	while (p < end) {
		int32_t cp = peek(p, end, &q);
		if (cp == ',' || cp == ';' || cp == 0x3002 || cp == 0xFF61) {
			push_unit(t, &cap, t->text, start, (size_t)(p - start), sb);
			start = q;
		}
		p = q;
	}
	push_unit(t, &cap, t->text, start, (size_t)(end - start), sb);
}

static void
add_tier(struct bulletin *b, size_t *cap, const struct bulletin_label *label,
    size_t line_no, struct sbuf *text, const struct soft_breaks *sb)
{
	struct bulletin_tier *t;

	if (b->n_tiers == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		b->tiers = xreallocarray(b->tiers, *cap, sizeof(*b->tiers));
	}
	t = &b->tiers[b->n_tiers++];
	memset(t, 0, sizeof(*t));
	t->label = text_key(label->label);
	t->keyword = xstrdup(label->keyword);
	t->line = line_no;
	cut_print_run(text);
	t->text = sbuf_steal(text);
	split_units(t, sb);
}

/*
 * Reads the tier whose label is on line i: its text over wrapped lines,
 * with a soft break wherever a wrap has no separator on either side.
 * Returns the index of its last line. With mark, the lines are marked as
 * the tier's and fields after a gap on them are noted.
 */
static size_t
read_tier(struct line *lines, size_t n, size_t i, bool mark, struct sbuf *text,
    struct soft_breaks *sb, bool *crossed)
{
	struct line *l = &lines[i];
	const char *end = l->s + l->n, *f = find_field(l->after, end);
	char *key = NULL;
	bool known;

	/* "抄报：      审核：…": the tier was left empty and fields follow */
	if (match_any_label(l->after, end, &key, &known) != NULL)
		f = l->after;
	free(key);

	if (mark) {
		l->in_tier = true;
		l->fields = f;
	}
	join_piece(text, l->after, (size_t)((f ? f : end) - l->after));
	if (f != NULL)
		return i;
	while (i + 1 < n) {
		size_t j = i + 1;
		/* A blank line ends the tier unless the text so far
		 * stops mid-sentence (a page break inside the list). */
		while (j < n && lines[j].kind == L_BLANK)
			j++;
		if (j >= n || lines[j].kind != L_TEXT ||
		    (j > i + 1 && ends_sentence(text)) ||
		    lines[j].n > CONTINUATION_MAX || starts_field(&lines[j]) ||
		    is_page_number(&lines[j]))
			break;
		end = lines[j].s + lines[j].n;
		f = find_field(lines[j].s, end);
		if (j > i + 1 && crossed != NULL)
			*crossed = true;
		char *piece = text_strip(lines[j].s, (size_t)((f ? f : end) - lines[j].s));
		int32_t first = first_cp(piece, strlen(piece)), last = last_cp(text);
		if (text->len > 0 && *piece && !is_separator(first) && !is_separator(last)) {
			sb->at = xreallocarray(sb->at, sb->n + 1, sizeof(*sb->at));
			sb->at[sb->n++] = text->len;
		}
		join_piece(text, piece, strlen(piece));
		free(piece);
		if (mark) {
			lines[j].in_tier = true;
			lines[j].fields = f;
		}
		i = j;
		if (f != NULL)
			break;
	}
	return i;
}

/*
 * Finds the 版记: the trailing run of lines that are not body text — rules,
 * tiers with their wrapped lines, field lines, print-run and printing-office
 * lines, page numbers, blanks. Returns its first non-blank line (n when the
 * issue has no footer) and what it starts with.
 */
static size_t
find_footer(struct line *lines, size_t n, size_t from, enum bulletin_footer_start *how)
{
	size_t *last = xcalloc(n + 1, sizeof(*last)), start = n;
	bool *crossed = xcalloc(n + 1, sizeof(*crossed));
	bool content = false, ruled = false;

	/* where each tier line's text would end */
	for (size_t i = from; i < n; i++)
		if (lines[i].kind == L_TIER) {
			struct sbuf t = SBUF_INIT;
			struct soft_breaks sb = { NULL, 0 };
			last[i] = read_tier(lines, n, i, false, &t, &sb, &crossed[i]);
			sbuf_free(&t);
			free(sb.at);
		}
	for (size_t k = n; k > from;) {
		struct line *l = &lines[k - 1];
		if (l->kind == L_BLANK || l->kind == L_RULE) {
			ruled = ruled || l->kind == L_RULE;
			k--;
		} else if (l->kind != L_TEXT || is_field_line(l) || is_page_number(l)) {
			k--;
			content = true;
		} else {
			/* a wrapped line of a tier above it, all of it in the run */
			size_t t = k - 1;
			while (t > from && lines[t - 1].kind != L_TIER)
				t--;
			if (t == from || last[t - 1] < k - 1)
				break;
			/*
			 * A tier read on over a blank line (a page break inside the
			 * list) could as well be a quoted 报： line and the body
			 * paragraph after it: never above a rule of the 版记, and
			 * never as the last thing in the issue.
			 */
			if (crossed[t - 1] && (ruled || !content))
				break;
			k = t - 1;
			content = true;
		}
		start = k;
	}
	free(last);
	free(crossed);
	while (start < n && lines[start].kind == L_BLANK)
		start++;
	if (!content) {
		*how = BULLETIN_FOOTER_NONE;
		return n;
	}
	switch (lines[start].kind) {
	case L_RULE:
		*how = BULLETIN_FOOTER_RULE;
		break;
	case L_TIER:
		*how = BULLETIN_FOOTER_TIERS;
		break;
	case L_PRINT:
		*how = BULLETIN_FOOTER_PRINT;
		break;
	default:
		*how = BULLETIN_FOOTER_FIELDS;
		break;
	}
	return start;
}

static void
parse_tiers(struct line *lines, size_t n, size_t from,
    const struct bulletin_label *labels, struct bulletin *b)
{
	size_t cap = 0;

	for (size_t i = from; i < n; i++) {
		if (lines[i].kind != L_TIER)
			continue;
		struct sbuf text = SBUF_INIT;
		struct soft_breaks sb = { NULL, 0 };
		size_t start = i;
		i = read_tier(lines, n, i, true, &text, &sb, NULL);
		add_tier(b, &cap, &labels[lines[start].tier_label], start + 1, &text, &sb);
		sbuf_free(&text);
		free(sb.at);
	}
}

/*
 * "编校：史佳怡 核签：李争三", "值班员：张三  电话：…  时间:…": a line
 * holds several fields; a value ends where white space is followed by
 * another label and a colon.
 */
static void
parse_fields(const char *p, const char *end, size_t line_no, struct bulletin *b,
    size_t *cap)
{
	char *key = NULL;
	bool known = false;
	const char *v = match_any_label(p, end, &key, &known);

	while (v != NULL) {
		const char *e = v, *q, *nv = NULL;
		char *nkey = NULL;
		bool nknown = false;
		/* "审核：        审定：": an empty value, the next label follows */
		if ((nv = match_any_label(v, end, &nkey, &nknown)) != NULL)
			e = v;
		while (nv == NULL && e < end) {
			int32_t cp = peek(e, end, &q);
			if (text_is_space(cp)) {
				const char *k = skip_spaces(q, end);
				if ((nv = match_any_label(k, end, &nkey, &nknown)) != NULL)
					break;
			}
			e = q;
		}
		if (b->n_fields == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			b->fields = xreallocarray(b->fields, *cap, sizeof(*b->fields));
		}
		b->fields[b->n_fields++] = (struct bulletin_field){ key,
		    text_fold(v, (size_t)(e - v)), known, line_no };
		v = nv;
		key = nkey;
		known = nknown;
	}
}

/* ---- body ----------------------------------------------------------------- */

/* "## 小标题", "【栏目】", "**小标题**": never the first half of a broken word. */
static bool
is_heading(const char *s, size_t n)
{
	const char *end = s + n, *p = skip_spaces(s, end), *q;
	int32_t cp = peek(p, end, &q);
	size_t i = n;

	if (cp == '#')
		return true;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i > 0 && first_cp(s + i - 1, n - i + 1) == 0x3011)	/* …】 */
		return true;
	return n >= 4 && p[0] == '*' && p[1] == '*' && s[n - 1] == '*' &&
	    s[n - 2] == '*';
}

/*
 * A page break in the source left a word split over a blank line
 * ("重点调度机\n\n制"): rejoin when a long paragraph ends on an ideograph
 * without closing punctuation and the next begins with one.
 */
static bool
is_page_break(const struct sbuf *para, const char *next, size_t nn)
{
	int32_t a = last_cp(para), c = first_cp(next, nn);

	return para->len >= PAGE_BREAK_MIN_BYTES && text_is_ideograph(a) &&
	    text_is_ideograph(c) && !is_heading(sbuf_str(para), para->len);
}

static char *
build_body(const struct line *lines, size_t from, size_t to)
{
	struct sbuf out = SBUF_INIT, para = SBUF_INIT;
	bool pending_break = false;

	for (size_t i = from; i < to; i++) {
		const struct line *l = &lines[i];

		if (l->in_tier || l->kind == L_FIELD || l->kind == L_PRINT)
			continue;
		if (l->kind == L_BLANK) {
			if (para.len > 0)
				pending_break = true;
			continue;
		}
		char *s = text_strip(l->s, l->n);
		size_t sn = strlen(s);
		if (para.len > 0 && pending_break && !is_page_break(&para, s, sn)) {
			if (out.len > 0)
				sbuf_puts(&out, "\n\n");
			sbuf_append(&out, para.data, para.len);
			sbuf_reset(&para);
		} else if (para.len > 0 && !pending_break) {
			/* a hard-wrapped line inside one paragraph stays a line */
			sbuf_putc(&para, '\n');
		}
		pending_break = false;
		sbuf_append(&para, s, sn);
		free(s);
	}
	if (para.len > 0) {
		if (out.len > 0)
			sbuf_puts(&out, "\n\n");
		sbuf_append(&out, para.data, para.len);
	}
	sbuf_free(&para);
	return out.len ? sbuf_steal(&out) : NULL;
}

/* ---- masthead ------------------------------------------------------------ */

/* Without a header, leading short lines are the masthead: a body paragraph is long. */
#define MASTHEAD_GUESS_LINE_MAX 120
#define MASTHEAD_GUESS_LINES 8

/*
 * Reads every classification mark in the masthead, the lines before the
 * body (issue line included); fail closed: a secret-like word there that is
 * not a mark sets unrecognised_mark. The body is never scanned: 保守国家秘密
 * in a paragraph is not a mark.
 */
static void
scan_masthead(const struct line *lines, size_t n, size_t header_end,
    struct bulletin *b)
{
	size_t to = header_end, nonblank = 0;

	if (to == 0) {
		while (to < n && nonblank < MASTHEAD_GUESS_LINES &&
		    lines[to].n <= MASTHEAD_GUESS_LINE_MAX &&
		    lines[to].kind != L_TIER && lines[to].kind != L_FIELD) {
			if (lines[to].kind != L_BLANK)
				nonblank++;
			to++;
		}
	} else {
		size_t last = to;
		while (last > 0 && lines[last - 1].kind == L_BLANK)
			last--;
		if (last > 0 && lines[last - 1].kind == L_RULE)
			goto scan;	/* the masthead's rule closed it */
		/* the header ended on a line that was neither mark nor rule:
		 * short lines up to the first blank still belong to the top */
		while (to < n && lines[to].kind == L_TEXT &&
		    lines[to].n <= MASTHEAD_GUESS_LINE_MAX / 2)
			to++;
	}
scan:
	for (size_t i = 0; i < to; i++) {
		const struct line *l = &lines[i];
		if (l->kind == L_BLANK || l->kind == L_RULE)
			continue;
		scan_secret_line(l->s, l->n, i + 1, b);
		b->masthead = xreallocarray(b->masthead, b->n_masthead + 1,
		    sizeof(*b->masthead));
		b->masthead[b->n_masthead++] = text_strip(l->s, l->n);
	}
}

/* ---- entry points ------------------------------------------------------ */

int
bulletin_parse(const char *text, size_t len, const struct bulletin_label *labels,
    size_t n_labels, struct bulletin **out, char *err, size_t errsz)
{
	struct bulletin *b;
	struct line *lines = NULL;
	size_t n = 0, cap = 0, bad, header_end, footer, fcap = 0;

	*out = NULL;
	if (!text_valid_utf8(text, len, &bad)) {
		snprintf(err, errsz, "byte %zu: invalid UTF-8 (decode the file first)", bad);
		return -1;
	}
	if (labels == NULL) {
		labels = bulletin_default_labels;
		n_labels = bulletin_default_labels_count;
	}
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}

	for (size_t start = 0; start < len;) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t stop = nl ? (size_t)(nl - text) : len, ln = stop - start;
		if (ln > 0 && text[start + ln - 1] == '\r')
			ln--;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			lines = xreallocarray(lines, cap, sizeof(*lines));
		}
		memset(&lines[n], 0, sizeof(lines[n]));
		lines[n].s = text + start;
		lines[n].n = ln;
		classify(&lines[n], labels, n_labels);
		n++;
		start = stop + 1;
	}

	b = xcalloc(1, sizeof(*b));
	b->issue_no = b->total_issue_no = -1;
	header_end = parse_header(lines, n, b);
	scan_masthead(lines, n, header_end, b);
	footer = find_footer(lines, n, header_end, &b->footer_start);
	b->footer_line = footer < n ? footer + 1 : 0;
	parse_tiers(lines, n, footer, labels, b);
	for (size_t i = header_end; i < n; i++) {
		const struct line *l = &lines[i];
		const char *f;
		if (l->kind == L_FIELD)
			parse_fields(l->s, l->s + l->n, i + 1, b, &fcap);
		else if (l->fields != NULL)
			parse_fields(l->fields, l->s + l->n, i + 1, b, &fcap);
		else if (i >= footer && !l->in_tier && (f = field_start(l)) != NULL)
			parse_fields(f, l->s + l->n, i + 1, b, &fcap);
	}

	/* Rules inside the body are kept; the ones around it are framing. */
	size_t body_from = header_end, body_to = footer;
	while (body_from < body_to && (lines[body_from].kind == L_BLANK ||
	    lines[body_from].kind == L_RULE))
		body_from++;
	while (body_to > body_from && (lines[body_to - 1].kind == L_BLANK ||
	    lines[body_to - 1].kind == L_RULE))
		body_to--;
	b->body = build_body(lines, body_from, body_to);

	free(lines);
	*out = b;
	return 0;
}

const char *
bulletin_footer_start_name(enum bulletin_footer_start s)
{
	switch (s) {
	case BULLETIN_FOOTER_RULE:
		return "rule";
	case BULLETIN_FOOTER_FIELDS:
		return "fields";
	case BULLETIN_FOOTER_TIERS:
		return "tiers";
	case BULLETIN_FOOTER_PRINT:
		return "print";
	case BULLETIN_FOOTER_NONE:
		break;
	}
	return "none";
}

const char *
bulletin_field(const struct bulletin *b, const char *key)
{
	for (size_t i = 0; i < b->n_fields; i++)
		if (strcmp(b->fields[i].key, key) == 0)
			return b->fields[i].value;
	return NULL;
}

void
bulletin_free(struct bulletin *b)
{
	if (b == NULL)
		return;
	free(b->title);
	free(b->issuer);
	free(b->date);
	free(b->classification);
	free(b->classification_period);
	free(b->classification_mark);
	free(b->unrecognised_mark);
	for (size_t i = 0; i < b->n_masthead; i++)
		free(b->masthead[i]);
	free(b->masthead);
	free(b->internal);
	free(b->urgency);
	for (size_t i = 0; i < b->n_tiers; i++) {
		struct bulletin_tier *t = &b->tiers[i];
		free(t->label);
		free(t->keyword);
		free(t->text);
		for (size_t j = 0; j < t->n_units; j++)
			free(t->units[j]);
		free(t->units);
		free(t->breaks);
	}
	free(b->tiers);
	for (size_t i = 0; i < b->n_fields; i++) {
		free(b->fields[i].key);
		free(b->fields[i].value);
	}
	free(b->fields);
	free(b->body);
	free(b);
}
