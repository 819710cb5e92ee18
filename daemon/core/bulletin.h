#ifndef DISTD_BULLETIN_H
#define DISTD_BULLETIN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The parsed form of one bulletin issue (简报, 快报 …): header, body and
 * the recipient tiers of its footer (报 / 送 / 发).
 *
 * Parsing is pure: UTF-8 text in, struct out. Anything the text does not
 * state is NULL (strings) or -1 (numbers), never guessed.
 */

/* A tier label as it may be printed (抄送) and the tier keyword it means (送). */
struct bulletin_label {
	const char *label;
	const char *keyword;
};

/* Built-in labels, used when no configuration supplies its own. */
extern const struct bulletin_label bulletin_default_labels[];
extern const size_t bulletin_default_labels_count;

/*
 * A soft line break: the tier was wrapped between two lines with no
 * separator at the break ("…各部委办局⏎各总公司、…"), so the break may or
 * may not be a boundary between two bodies. Routing decides (route.h).
 */
struct bulletin_break {
	size_t unit;		/* index into units */
	size_t offset;		/* byte offset inside units[unit], never 0 or its end */
};

struct bulletin_tier {
	char *label;		/* as printed, inner spaces removed: "抄送" */
	char *keyword;		/* from the label table: "送" */
	size_t line;		/* 1-based line of the label */
	char *text;		/* the whole tier text after the colon */
	char **units;		/* split on ，,；;。 — 、-lists stay inside a unit */
	size_t n_units;
	struct bulletin_break *breaks;	/* soft line breaks, in unit order */
	size_t n_breaks;
};

/*
 * A field line entry: 责编, 核稿, 电话, 邮箱 … (known keys, named as in the
 * parser's table) or any other short label and a colon in the footer
 * (制作, 值班员 …: key as printed, spaces removed; known is false).
 */
struct bulletin_field {
	char *key;
	char *value;
	bool known;
	size_t line;		/* 1-based */
};

/* What the 版记 (footer region) begins with. */
enum bulletin_footer_start {
	BULLETIN_FOOTER_NONE,	/* no footer: tiers, if any, come from elsewhere */
	BULLETIN_FOOTER_RULE,	/* a rule line (the 版记's top rule) */
	BULLETIN_FOOTER_FIELDS,	/* the block of field lines at the end */
	BULLETIN_FOOTER_TIERS,	/* a tier line right after the body */
	BULLETIN_FOOTER_PRINT,	/* a print-run or printing-office line */
};

/* "rule", "fields", "tiers", "print" or "none". */
const char *bulletin_footer_start_name(enum bulletin_footer_start s);

struct bulletin {
	char *title;			/* "门头沟区创建全国文明城市工作快报" */
	long issue_no;			/* 第 29 期 → 29; -1 when absent */
	long total_issue_no;		/* 总第 2138 期 → 2138; -1 when absent */
	char *issuer;			/* issuing office */
	char *date;			/* ISO 8601 "2020-06-12" */
	char *classification;		/* 秘密 / 机密 / 绝密, or NULL */
	char *classification_period;	/* 保密期限: "1年", "6个月", "长期" */
	char *classification_mark;	/* the mark as printed: "密级：秘密★1年" */
	size_t classification_line;	/* 1-based line of that mark */
	/*
	 * A masthead line that looks like a classification (秘密, 机密, 绝密,
	 * 密级, 保密期限, 商密, ★ …) but is not a mark the parser understands;
	 * NULL when none. Fail closed: such an issue must be refused too.
	 */
	char *unrecognised_mark;
	size_t unrecognised_line;	/* 1-based */
	/* The masthead (lines before the body, the issue line included), one
	 * stripped line each, for marks an office defines (issue.c). */
	char **masthead;
	size_t n_masthead;
	/* Where the 版记 was found; tiers are read only there. */
	size_t footer_line;		/* 1-based first line of the footer; 0 = none */
	enum bulletin_footer_start footer_start;
	char *internal;			/* 内部资料 / 内部刊物 (not secret), or NULL */
	char *urgency;			/* 特急 / 加急, or NULL */
	struct bulletin_tier *tiers;	/* in footer order */
	size_t n_tiers;
	struct bulletin_field *fields;	/* in document order */
	size_t n_fields;
	char *body;			/* the text to mail, page breaks repaired */
};

/*
 * Parses text[0..len) (UTF-8, e.g. from decode_to_utf8). labels/n_labels
 * name the tier labels to recognise; NULL means bulletin_default_labels.
 * Tiers are read only in the 版记 (footer_line); classification marks only
 * in the masthead, failing closed (unrecognised_mark). Deciding what a mark
 * means for sending is issue_check_marks' job (issue.h), not the parser's.
 * Returns 0 and *out (free with bulletin_free), or -1 with a message in err
 * when the text is not valid UTF-8. A text without recognisable parts is
 * not an error: the parts are simply absent.
 */
int bulletin_parse(const char *text, size_t len,
    const struct bulletin_label *labels, size_t n_labels,
    struct bulletin **out, char *err, size_t errsz);

/* The value of the first field named key, or NULL. */
const char *bulletin_field(const struct bulletin *b, const char *key);

void bulletin_free(struct bulletin *b);

#endif
