/* libFuzzer target: the feedback parser, which reads mail anyone can send. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feedback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_value(const char *s)
{
	if (s != NULL && strlen(s) > FEEDBACK_MAX_VALUE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feedback *r = feedback_parse((const char *)data, size);

	/* always a result, within its bounds, and saying why when unsure */
	if (r == NULL || r->n_rcpts > FEEDBACK_MAX_RCPTS ||
	    r->n_message_ids > FEEDBACK_MAX_IDS)
		abort();
	if ((r->kind == FEEDBACK_UNKNOWN || r->kind == FEEDBACK_MALFORMED) &&
	    r->reason[0] == '\0')
		abort();
	/* a bounce names who failed; a status report has nobody failed */
	if (r->kind == FEEDBACK_BOUNCE && (r->n_failed == 0 ||
	    r->n_rcpts + r->n_rcpts_dropped == 0))
		abort();
	if (r->kind == FEEDBACK_STATUS && r->n_failed != 0)
		abort();
	if (r->kind == FEEDBACK_MDN && r->n_rcpts != 1)
		abort();
	if (r->kind == FEEDBACK_REPLY && (r->n_message_ids == 0 || r->from == NULL))
		abort();
	for (size_t i = 0; i < r->n_rcpts; i++) {
		const struct feedback_rcpt *p = &r->rcpts[i];
		if (p->final_recipient == NULL || p->final_recipient[0] == '\0')
			abort();
		if (p->confirms && p->disposition != FEEDBACK_DISP_DISPLAYED)
			abort();
		check_value(p->final_recipient);
		check_value(p->original_recipient);
		check_value(p->status);
		check_value(p->diagnostic);
		check_value(p->remote_mta);
		check_value(p->disposition_text);
	}
	for (size_t i = 0; i < r->n_message_ids; i++)
		if (r->message_ids[i] == NULL || r->message_ids[i][0] == '\0')
			abort();
	check_value(r->from);
	check_value(r->subject);
	feedback_free(r);
	return 0;
}
