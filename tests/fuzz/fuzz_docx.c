/* libFuzzer target: the Word extractor, which reads what any office drops. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "extract.h"
#include "fuzzzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"word/document.xml", "word/_rels/document.xml.rels", "word/footer1.xml",
	"word/header1.xml", "_rels/.rels",
};
static const char *const defaults[] = {
	"<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
	"<w:body><w:p><w:r><w:t>x</w:t></w:r></w:p></w:body></w:document>",
	"<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"r1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
	"relationships/footer\" Target=\"footer1.xml\"/><Relationship Id=\"r2\" "
	"Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/header\" "
	"Target=\"header1.xml\"/></Relationships>",
	"<w:ftr xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
	"<w:p><w:r><w:t>f</w:t></w:r></w:p></w:ftr>",
	"<w:hdr xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"/>",
	"<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"r\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
	"relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct extract_limits lim;
	unsigned char *zip = NULL;
	const unsigned char *in = data;
	char err[256] = "", *text = NULL;
	size_t len = 0, n = size;
	int rc;

	extract_limits_default(&lim);
	/* small enough that the limits are reached, not only the defaults */
	lim.max_text = 16 * 1024;
	lim.max_depth = 64;
	if (size < 2 || data[0] != 'P' || data[1] != 'K') {
		zip = fuzz_zip(data, size, names, defaults, 5, &n);
		in = zip;
	}
	(void)extract_sniff("fuzz.docx", in, n);
	rc = extract_docx(in, n, &lim, &text, &len, err, sizeof(err));
	fuzz_check(rc, text, len, &lim, err);
	free(text);
	free(zip);
	return 0;
}
