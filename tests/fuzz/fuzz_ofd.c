/* libFuzzer target: the OFD extractor, which reads what any office drops. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "extract.h"
#include "fuzzzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"Doc_0/Pages/Page_0/Content.xml", "Doc_0/Document.xml", "OFD.xml",
	"Doc_0/Pages/Page_1/Content.xml",
};
static const char *const defaults[] = {
	"<ofd:Page xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:Content><ofd:Layer>"
	"<ofd:TextObject Boundary=\"0 0 100 10\" Size=\"5\"><ofd:TextCode X=\"0\" Y=\"5\">"
	"x</ofd:TextCode></ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>",
	"<ofd:Document xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:Pages>"
	"<ofd:Page ID=\"1\" BaseLoc=\"Pages/Page_0/Content.xml\"/>"
	"<ofd:Page ID=\"2\" BaseLoc=\"Pages/Page_1/Content.xml\"/></ofd:Pages></ofd:Document>",
	"<ofd:OFD xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:DocBody>"
	"<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
	"<ofd:Page xmlns:ofd=\"http://www.ofdspec.org/2016\"/>",
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
	lim.max_text = 16 * 1024;
	lim.max_depth = 64;
	lim.max_pages = 8;
	if (size < 2 || data[0] != 'P' || data[1] != 'K') {
		zip = fuzz_zip(data, size, names, defaults, 4, &n);
		in = zip;
	}
	(void)extract_sniff("fuzz.ofd", in, n);
	rc = extract_ofd(in, n, &lim, &text, &len, err, sizeof(err));
	fuzz_check(rc, text, len, &lim, err);
	free(text);
	free(zip);
	return 0;
}
