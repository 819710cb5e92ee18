#ifndef DISTD_EXTRACT_H
#define DISTD_EXTRACT_H

#include <stddef.h>

/*
 * Issues that arrive as documents (Word .docx, PDF, OFD per GB/T 33190):
 * their text, extracted so that the bulletin parser reads it as it reads
 * a .txt issue, while the original file is attached unchanged.
 *
 * The text is UTF-8 with a blank line between paragraphs (and headings),
 * '\n' for a line break inside one and between the rows of a table, as
 * the text seeds have it: the parser and the renderer read consecutive
 * lines as one paragraph. Cells of one table row are separated by '\t',
 * and '\f' between pages where the format has pages (PDF, OFD): the
 * parser already rejoins what a page break split.
 *
 * The extractors are pure (bytes in, text out) and bounded by limits;
 * everything they are handed may be hostile. extract_document runs them
 * in a child process under resource limits (the I/O edge): a document
 * that makes a library loop, crash or balloon costs a refusal, never the
 * daemon.
 */

enum extract_format {
	EXTRACT_TEXT,		/* not a document: .txt/.md, read as today */
	EXTRACT_DOCX,		/* Office Open XML word processing (zip) */
	EXTRACT_PDF,
	EXTRACT_OFD,		/* GB/T 33190 (zip with OFD.xml) */
	EXTRACT_LEGACY,		/* .doc/.wps/.et binary (OLE2): refused, say "save as .docx" */
	EXTRACT_UNKNOWN,	/* a document extension whose bytes are none of the above */
};

/* "text", "docx", "pdf", "ofd", "legacy", "unknown". */
const char *extract_format_name(enum extract_format f);

/*
 * What a file is, from its first bytes (zip → docx or ofd by the entries'
 * names when the name does not say; "%PDF-"; OLE2 D0 CF 11 E0) and its
 * name's extension (.docx .pdf .ofd .doc .wps; .txt .md → TEXT). Bytes win
 * over the name: a .pdf that is a zip is not a PDF. Pure.
 */
enum extract_format extract_sniff(const char *name, const unsigned char *data, size_t len);

/* Bounds on one extraction; extract_limits_default fills the ones below. */
struct extract_limits {
	size_t max_input;	/* document bytes: 64 MB */
	size_t max_unzipped;	/* all zip entries read, uncompressed: 64 MB */
	size_t max_entry;	/* one zip entry, uncompressed: 32 MB */
	unsigned max_ratio;	/* uncompressed/compressed of one entry: 200 */
	unsigned max_entries;	/* zip entries: 10 000 */
	unsigned max_depth;	/* XML element depth: 256 */
	unsigned max_pages;	/* PDF/OFD pages: 500 */
	size_t max_text;	/* extracted text: 4 MB */
	unsigned max_seconds;	/* wall and CPU time of extract_document: 20 */
	size_t max_memory;	/* address space of its child: 1 GB */
};
void extract_limits_default(struct extract_limits *lim);

/*
 * The extractors: 0 with *text (malloc'd, NUL-terminated) and *len, or -1
 * with err saying what is wrong and, where the office can act, what to do
 * ("encrypted PDF: save it without a password", "no text layer: a scanned
 * PDF cannot be sent; export it from the word processor"). A document
 * with no text at all is an error: an empty body is never sent. Pure.
 */
int extract_docx(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz);
int extract_ofd(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz);
int extract_pdf(const unsigned char *data, size_t len, const struct extract_limits *lim,
    char **text, size_t *textlen, char *err, size_t errsz);

/*
 * Runs the extractor for format f in a forked child under lim (RLIMIT_AS,
 * RLIMIT_CPU, a wall-clock bound after which it is killed) and reads its
 * text back through a pipe. Legacy and unknown formats are refused here
 * with a message saying what to do. 0, -1 with err (the document is
 * refused), or EXTRACT_AGAIN with err: the child could not be started
 * (fork or pipe failed: EAGAIN, ENOMEM, EMFILE), which is not the
 * document's fault; try it again later.
 */
#define EXTRACT_AGAIN	(-2)

int extract_document(enum extract_format f, const unsigned char *data, size_t len,
    const struct extract_limits *lim, char **text, size_t *textlen, char *err,
    size_t errsz);

#endif
