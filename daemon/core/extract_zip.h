#ifndef DISTD_EXTRACT_ZIP_H
#define DISTD_EXTRACT_ZIP_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "extract.h"

/*
 * What the zip-based extractors (extract_docx.c, extract_ofd.c) share:
 * a zip archive opened from memory whose entries are read under the
 * limits of extract.h, and XML parsed without entities, network or DTDs.
 * Private to the extractors; everything here may be handed hostile bytes
 * and answers -1 with a message in err, never aborts (except on memory
 * exhaustion, as xalloc.h does).
 */

struct extract_zip;

/*
 * Opens data[0..len) (not copied: it must outlive the archive) as a zip
 * archive. Refuses more than lim->max_input bytes or lim->max_entries
 * entries and what libzip cannot read (truncated, not a zip). 0 and *out
 * (close with extract_zip_close), or -1 with err.
 */
int extract_zip_open(const unsigned char *data, size_t len,
    const struct extract_limits *lim, struct extract_zip **out, char *err,
    size_t errsz);
void extract_zip_close(struct extract_zip *z);

/* Whether the archive has an entry called name (ASCII case ignored, as OPC does). */
bool extract_zip_has(struct extract_zip *z, const char *name);

/*
 * Reads the entry name, whole, into *buf (malloc'd, NUL-terminated, the
 * caller frees it) and *len. Refuses an encrypted entry, one larger than
 * lim->max_entry, one that inflates more than lim->max_ratio times its
 * compressed size (entries under 64 KB are exempt: they cannot be a bomb,
 * and small XML parts of repeated markup compress very well; a max_ratio
 * of 0 sets no bound), one that
 * would take the archive's total read past lim->max_unzipped, and one
 * whose data is corrupt (CRC, truncated). A missing entry is -1 with
 * err "NAME: no such entry".
 */
int extract_zip_read(struct extract_zip *z, const char *name, char **buf,
    size_t *len, char *err, size_t errsz);

/*
 * Reads the entry name and parses it as XML: no network, no DTD loading,
 * no entity substitution; a document type that declares an entity
 * (internal, external or unparsed) or names an external subset is refused
 * before anything is expanded; libxml2's own depth and size limits stay on
 * (no XML_PARSE_HUGE). The caller frees the result with xmlFreeDoc and
 * must still bound its own walk by lim->max_depth. NULL with err.
 */
xmlDocPtr extract_zip_xml(struct extract_zip *z, const char *name, char *err,
    size_t errsz);

/* The same safe parse over bytes already in memory; name is for messages. */
xmlDocPtr extract_zip_parse_xml(const char *buf, size_t len, const char *name,
    char *err, size_t errsz);

/*
 * The entry target names, resolved against the folder of the entry base
 * ("word/document.xml" + "media/x.png" → "word/media/x.png"; a target
 * starting with '/' is from the archive's root; "." and ".." segments are
 * folded, never above the root). malloc'd.
 */
char *extract_zip_resolve(const char *base, const char *target);

/*
 * Whether node is an element whose local name is local and whose namespace
 * is one of the NULL-terminated list nss (a NULL list: any namespace, none
 * included).
 */
bool extract_zip_is(const xmlNode *node, const char *local, const char *const *nss);

/* Whether s[0..n) holds anything but blanks (space, tab, CR, LF, FF). */
bool extract_has_text(const char *s, size_t n);

/*
 * Whether the page-header (docx) or template (ofd) line s[0..n) only
 * repeats one of the first non-blank lines of top (the series title, the
 * issuer), spaces ignored: put above the masthead it would run into the
 * title, so it is left out. A line holding what a classification or
 * circulation mark holds (密, ★, ☆, 内部) never counts as a repeat (fail
 * closed: the parser reads marks only at the top).
 */
struct sbuf;
bool extract_line_echoed(const struct sbuf *top, const char *s, size_t n);

#endif
