#include "bulletin.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "text.h"

/*
 * How the parser reads an issue:
 *   1. split into lines and classify each (blank, rule, tier label,
 *      editor/contact field, print-run or printing-office line, text);
 *   2. read the header from the top until the date line or the first rule;
 *   3. every tier label line starts a tier, which runs on over wrapped
 *      lines until a terminator (next tier, rule, field, print line);
 *   4. the body is what lies between header and footer, minus tier and
 *      field lines, with page-break artefacts rejoined.
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
	return false;
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
		if (is_cn_digit(cp, &d)) {
			if (digit >= 0 && !any) {	/* positional: 二〇二〇 */
				v = v * 10 + digit;
			} else if (digit >= 0) {
				return NULL;
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

/* (共印16份), 本期共印 30 份 … */
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
	if ((p = match_word(p, end, "共印", false)) == NULL ||
	    (p = match_number(skip_spaces(p, end), end, 6, &n)) == NULL ||
	    (p = match_word(skip_spaces(p, end), end, "份", false)) == NULL)
		return false;
	p = skip_spaces(p, end);
	if (peek(p, end, &q) == ')')
		p = q;
	return skip_spaces(p, end) == end;
}

/* "XX办公室  2011年11月21日印发": the printing date, not a tier. */
static bool
is_printing_office(const char *p, const char *end)
{
	const char *ds, *de;
	char iso[32];

	if (!find_date(p, end, &ds, &de, iso))
		return false;
	de = skip_spaces(de, end);
	const char *q = match_word(de, end, "印发", false);
	return q != NULL && skip_spaces(q, end) == end;
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

/* Header text without Markdown decoration ("# title", "**title**"). */
static char *
header_text(const char *p, const char *end)
{
	struct sbuf b = SBUF_INIT;
	char *stripped, *out;

	p = skip_markup(p, end);
	while (p < end) {
		if (p + 1 < end && p[0] == '*' && p[1] == '*') {
			p += 2;
			continue;
		}
		sbuf_putc(&b, *p++);
	}
	stripped = text_strip(sbuf_str(&b), b.len);
	sbuf_free(&b);
	out = close_cjk_gaps(stripped);
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

/*
 * A line made only of marks: classification (秘密★1年), internal
 * circulation (内部资料 注意保存), urgency (特急). Fills b on success.
 */
static bool
parse_marks(const char *p, const char *end, struct bulletin *b)
{
	static const char *const secret[] = { "绝密", "机密", "秘密" };
	static const char *const internal[] = { "内部资料", "内部刊物", "内部文件" };
	static const char *const urgent[] = { "特急", "加急" };
	char *cls = NULL, *period = NULL, *in = NULL, *urg = NULL;
	const char *q;
	bool ok = true;

	p = skip_markup(p, end);
	while (ok && (p = skip_spaces(p, end)) < end) {
		bool hit = false;
		for (size_t i = 0; !hit && i < 3; i++)
			if ((q = match_word(p, end, secret[i], true)) != NULL) {
				free(cls);
				cls = xstrdup(secret[i]);
				p = skip_spaces(q, end);
				if (peek(p, end, &q) == 0x2605 || peek(p, end, &q) == '*') {
					/* ★ then the period, up to the next space */
					const char *s = skip_spaces(q, end), *e = s;
					if ((q = match_word(s, end, "期限", false)) != NULL)
						s = e = skip_spaces(q, end);
					if (peek(s, end, &q) == ':')
						s = e = skip_spaces(q, end);
					while (e < end && !text_is_space(peek(e, end, &q)))
						e = q;
					free(period);
					period = e > s ? xstrndup(s, (size_t)(e - s)) : NULL;
					p = e;
				}
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
	if (ok && (cls || in || urg)) {
		if (cls) {
			free(b->classification);
			b->classification = cls;
			free(b->classification_period);
			b->classification_period = period;
			cls = period = NULL;
		}
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
	free(cls);
	free(period);
	free(in);
	free(urg);
	return ok;
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
			if (parse_marks(p, end, b)) {
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
		if (parse_marks(p, end, b))
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

static bool
ends_sentence(const struct sbuf *b)
{
	int32_t cp = last_cp(b);

	return cp == 0x3002 || cp == '.' || cp == ';' || cp == 0xFF1B;
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

static void
push_unit(struct bulletin_tier *t, size_t *cap, const char *s, size_t n)
{
	char *u = text_strip(s, n);

	if (*u == '\0') {
		free(u);
		return;
	}
	if (t->n_units == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		t->units = xreallocarray(t->units, *cap, sizeof(*t->units));
	}
	t->units[t->n_units++] = u;
}

/* Units end at ，,；;。 (full- or half-width); 、 stays inside a unit. */
static void
split_units(struct bulletin_tier *t)
{
	const char *end = t->text + strlen(t->text), *start = t->text;
	const char *p = start, *q = start;
	size_t cap = 0;

	while (p < end) {
		int32_t cp = peek(p, end, &q);
		if (cp == ',' || cp == ';' || cp == 0x3002 || cp == 0xFF61) {
			push_unit(t, &cap, start, (size_t)(p - start));
			start = q;
		}
		p = q;
	}
	push_unit(t, &cap, start, (size_t)(end - start));
}

static void
add_tier(struct bulletin *b, size_t *cap, const struct bulletin_label *label,
    size_t line_no, struct sbuf *text)
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
	split_units(t);
}

static void
parse_tiers(struct line *lines, size_t n, size_t from,
    const struct bulletin_label *labels, struct bulletin *b)
{
	size_t cap = 0;

	for (size_t i = from; i < n; i++) {
		if (lines[i].kind != L_TIER)
			continue;
		struct line *l = &lines[i];
		struct sbuf text = SBUF_INIT;
		size_t start = i;

		l->in_tier = true;
		join_piece(&text, l->after, (size_t)(l->s + l->n - l->after));
		while (i + 1 < n) {
			size_t j = i + 1;
			/* A blank line ends the tier unless the text so far
			 * stops mid-sentence (a page break inside the list). */
			while (j < n && lines[j].kind == L_BLANK)
				j++;
			if (j >= n || lines[j].kind != L_TEXT ||
			    (j > i + 1 && ends_sentence(&text)))
				break;
			lines[j].in_tier = true;
			join_piece(&text, lines[j].s, lines[j].n);
			i = j;
		}
		add_tier(b, &cap, &labels[l->tier_label], start + 1, &text);
		sbuf_free(&text);
	}
}

static void
parse_fields(const struct line *l, struct bulletin *b, size_t *cap)
{
	const char *end = l->s + l->n, *p = skip_markup(l->s, end);
	size_t key;
	const char *v = match_field_key(p, end, &key);

	/* "编校：史佳怡 核签：李争三" holds two fields: a value ends where a
	 * space is followed by another key and a colon. */
	while (v != NULL) {
		const char *e = v, *q, *nv = NULL;
		size_t nkey = 0;
		while (e < end) {
			int32_t cp = peek(e, end, &q);
			if (text_is_space(cp)) {
				const char *k = skip_spaces(q, end);
				if ((nv = match_field_key(k, end, &nkey)) != NULL)
					break;
			}
			e = q;
		}
		if (b->n_fields == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			b->fields = xreallocarray(b->fields, *cap, sizeof(*b->fields));
		}
		b->fields[b->n_fields].key = xstrdup(field_keys[key]);
		b->fields[b->n_fields].value = text_fold(v, (size_t)(e - v));
		b->n_fields++;
		v = nv;
		key = nkey;
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
	parse_tiers(lines, n, header_end, labels, b);

	/* The footer is the trailing run of lines that are not body text. */
	footer = n;
	while (footer > header_end && (lines[footer - 1].kind != L_TEXT ||
	    lines[footer - 1].in_tier))
		footer--;
	for (size_t i = header_end; i < n; i++)
		if (lines[i].kind == L_FIELD)
			parse_fields(&lines[i], b, &fcap);

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
