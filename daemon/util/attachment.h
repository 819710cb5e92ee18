#ifndef DISTD_ATTACHMENT_H
#define DISTD_ATTACHMENT_H

#include <stddef.h>

/*
 * A file attached to an issue: what compose renders and the queue keeps
 * so that a held issue can be rendered again. Plain data, no functions;
 * generic, so it belongs with the utilities (daemon/util/ once the
 * folders are split) where both the pipeline and the queue may include it.
 */
struct attachment {
	/* file name, may be Chinese: Content-Disposition filename in RFC 2231
	 * form and Content-Type name in RFC 2047 form; controls and invalid
	 * UTF-8 are replaced, never written raw */
	const char *name;
	const char *data;
	size_t len;
};

#endif
