#include "delivery_policy.h"

#include <stddef.h>
#include <string.h>

#include "backoff.h"

const char *const queue_state_names[QUEUE_STATES] = {
	"queued", "sending", "deferred", "delivered", "failed", "held", "cancelled",
};

const char *
queue_state_name(enum queue_state s)
{
	return (unsigned)s < QUEUE_STATES ? queue_state_names[s] : "?";
}

int
queue_state_parse(const char *name, enum queue_state *s)
{
	for (int i = 0; name && i < QUEUE_STATES; i++)
		if (strcmp(name, queue_state_names[i]) == 0) {
			*s = (enum queue_state)i;
			return 0;
		}
	return -1;
}

const char *
smtp_class_name(enum smtp_class c)
{
	switch (c) {
	case SMTP_CLASS_OK:		return "ok";
	case SMTP_CLASS_DNS:		return "dns";
	case SMTP_CLASS_CONNECT:	return "connect";
	case SMTP_CLASS_TLS:		return "tls";
	case SMTP_CLASS_AUTH:		return "auth";
	case SMTP_CLASS_PROTOCOL:	return "protocol";
	case SMTP_CLASS_4XX:		return "4xx";
	case SMTP_CLASS_5XX:		return "5xx";
	case SMTP_CLASS_LIMIT:		return "limit";
	}
	return "?";
}

int
smtp_class_parse(const char *name, enum smtp_class *c)
{
	for (int i = SMTP_CLASS_OK; name && i <= SMTP_CLASS_LIMIT; i++)
		if (strcmp(name, smtp_class_name((enum smtp_class)i)) == 0) {
			*c = (enum smtp_class)i;
			return 0;
		}
	return -1;
}

const char *
queue_attempt_status_name(enum queue_attempt_status s)
{
	switch (s) {
	case QUEUE_ATTEMPT_SENT:	return "sent";
	case QUEUE_ATTEMPT_DEFERRED:	return "deferred";
	case QUEUE_ATTEMPT_FAILED:	return "failed";
	case QUEUE_ATTEMPT_EXPIRED:	return "expired";
	case QUEUE_ATTEMPT_CANCELLED:	return "cancelled";
	case QUEUE_ATTEMPT_RESEND:	return "resend";
	case QUEUE_ATTEMPT_REPLACED:	return "replaced";
	case QUEUE_ATTEMPT_BOUNCED:	return "bounced";
	case QUEUE_ATTEMPT_CONFIRMED:	return "confirmed";
	case QUEUE_ATTEMPT_REMINDED:	return "reminded";
	}
	return "?";
}

int
queue_attempt_status_parse(const char *name, enum queue_attempt_status *s)
{
	for (int i = QUEUE_ATTEMPT_SENT; name && i <= QUEUE_ATTEMPT_REMINDED; i++)
		if (strcmp(name, queue_attempt_status_name((enum queue_attempt_status)i)) == 0) {
			*s = (enum queue_attempt_status)i;
			return 0;
		}
	return -1;
}

struct queue_attempt
delivery_policy_decide(const struct delivery_policy_in *in)
{
	const struct smtp_verdict *v = in->verdict;
	struct queue_attempt a = {
		.attempt = in->attempts_before + 1,
		.possible_duplicate = in->possible_duplicate || v->data_may_have_arrived,
		.cancel_wins = v->outcome == SMTP_TEMP,
		.counted = true,
	};

	switch (v->outcome) {
	case SMTP_OK:
		a.state = QUEUE_DELIVERED;
		a.status = QUEUE_ATTEMPT_SENT;
		break;
	case SMTP_PERM:
		a.state = QUEUE_FAILED;
		a.status = QUEUE_ATTEMPT_FAILED;
		break;
	case SMTP_TEMP:
		if (in->again) {
			/* not tried: due now, and the backoff does not grow */
			a.state = QUEUE_QUEUED;
			a.status = QUEUE_ATTEMPT_DEFERRED;
			a.attempt = in->attempts_before;
			a.next_attempt = in->now;
			a.counted = false;
			break;
		}
		a.next_attempt = backoff_next_attempt(in->now, in->received, a.attempt,
		    in->retry->min_backoff, in->retry->max_backoff, in->retry->lifetime,
		    in->jitter);
		if (a.next_attempt < 0) {
			a.state = QUEUE_FAILED;
			a.status = QUEUE_ATTEMPT_EXPIRED;
			a.next_attempt = 0;
		} else {
			a.state = QUEUE_DEFERRED;
			a.status = QUEUE_ATTEMPT_DEFERRED;
		}
		break;
	}
	/* a deferral after the data went out keeps the flag for the next try */
	a.keeps_duplicate_flag = a.possible_duplicate &&
	    (a.state == QUEUE_DEFERRED || a.state == QUEUE_QUEUED);
	return a;
}

void
delivery_policy_cancelled(struct queue_attempt *a)
{
	if (!a->cancel_wins)
		return;
	a->state = QUEUE_CANCELLED;
	a->status = QUEUE_ATTEMPT_CANCELLED;
	/* the try happened, whatever the verdict had made of it */
	if (!a->counted)
		a->attempt++;
	a->counted = true;
	a->next_attempt = 0;
	a->keeps_duplicate_flag = false;
}
