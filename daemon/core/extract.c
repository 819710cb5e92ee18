#include "extract.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "extract_zip.h"

const char *
extract_format_name(enum extract_format f)
{
	switch (f) {
	case EXTRACT_TEXT:
		return "text";
	case EXTRACT_DOCX:
		return "docx";
	case EXTRACT_PDF:
		return "pdf";
	case EXTRACT_OFD:
		return "ofd";
	case EXTRACT_LEGACY:
		return "legacy";
	case EXTRACT_UNKNOWN:
		break;
	}
	return "unknown";
}

void
extract_limits_default(struct extract_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_input = 64 * 1024 * 1024;
	lim->max_unzipped = 64 * 1024 * 1024;
	lim->max_entry = 32 * 1024 * 1024;
	lim->max_ratio = 200;
	lim->max_entries = 10000;
	lim->max_depth = 256;
	lim->max_pages = 500;
	lim->max_text = 4 * 1024 * 1024;
	lim->max_seconds = 20;
	lim->max_memory = (size_t)1024 * 1024 * 1024;
}

/* The format the name's extension claims; EXTRACT_TEXT for any other name. */
static enum extract_format
by_name(const char *name)
{
	static const struct {
		const char *ext;
		enum extract_format f;
	} exts[] = {
		{ ".docx", EXTRACT_DOCX },
		{ ".pdf", EXTRACT_PDF },
		{ ".ofd", EXTRACT_OFD },
		{ ".doc", EXTRACT_LEGACY },
		{ ".wps", EXTRACT_LEGACY },
		{ ".et", EXTRACT_LEGACY },
	};
	const char *dot;

	if (name == NULL)
		return EXTRACT_TEXT;
	if ((dot = strrchr(name, '.')) == NULL || strchr(dot, '/') != NULL)
		return EXTRACT_TEXT;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcasecmp(dot, exts[i].ext) == 0)
			return exts[i].f;
	return EXTRACT_TEXT;
}

/* docx or ofd by the archive's entries; UNKNOWN when it has neither (or is no zip). */
static enum extract_format
zip_kind(const unsigned char *data, size_t len)
{
	struct extract_limits lim;
	struct extract_zip *z;
	enum extract_format f = EXTRACT_UNKNOWN;
	char err[256];

	extract_limits_default(&lim);
	lim.max_input = (size_t)-1;	/* sniffing only reads the directory */
	if (extract_zip_open(data, len, &lim, &z, err, sizeof(err)) != 0)
		return EXTRACT_UNKNOWN;
	if (extract_zip_has(z, "word/document.xml"))
		f = EXTRACT_DOCX;
	if (extract_zip_has(z, "OFD.xml"))
		f = EXTRACT_OFD;
	extract_zip_close(z);
	return f;
}

enum extract_format
extract_sniff(const char *name, const unsigned char *data, size_t len)
{
	enum extract_format named = by_name(name), f;

	if (data != NULL && len >= 4 && memcmp(data, "PK", 2) == 0 &&
	    ((data[2] == 3 && data[3] == 4) || (data[2] == 5 && data[3] == 6))) {
		if ((f = zip_kind(data, len)) != EXTRACT_UNKNOWN)
			return f;
		/* a zip that says nothing more: the name may (a damaged .docx) */
		return named == EXTRACT_DOCX || named == EXTRACT_OFD ? named :
		    EXTRACT_UNKNOWN;
	}
	if (data != NULL && len >= 5 && memcmp(data, "%PDF-", 5) == 0)
		return EXTRACT_PDF;
	if (data != NULL && len >= 8 &&
	    memcmp(data, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) == 0)
		return EXTRACT_LEGACY;
	/* the bytes say nothing: a document name on other bytes is not that document */
	switch (named) {
	case EXTRACT_DOCX:
	case EXTRACT_PDF:
	case EXTRACT_OFD:
		return EXTRACT_UNKNOWN;
	default:
		return named;
	}
}
