#include "notice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#include "adminmail.h"

static void
put_issue(struct sbuf *b, const struct queue_notice_due *d)
{
	sbuf_printf(b, "%s", d->title ? d->title : "(untitled)");
	if (d->issue_no >= 0)
		sbuf_printf(b, " 第%ld期", d->issue_no);
}

static void
put_time(struct sbuf *b, int64_t when)
{
	char stamp[64];
	struct tm tm;
	time_t t = (time_t)when;

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S %z", &tm);
	sbuf_puts(b, stamp);
}

/* One line each, indented: the stored list has one unit a line. */
static void
put_lines(struct sbuf *b, const char *text)
{
	for (const char *p = text ? text : ""; *p;) {
		size_t n = strcspn(p, "\n");
		sbuf_printf(b, "- %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

void
notice_render(const struct conf *c, const struct queue_notice_due *d,
    struct sbuf *subject, struct sbuf *body)
{
	long long id = (long long)d->issue;

	switch (d->cause) {
	case QUEUE_NOTICE_HELD:
		sbuf_puts(subject, "需要处理：简报暂停发送 / Action needed: issue held: ");
		put_issue(subject, d);
		sbuf_puts(body, "简报《");
		put_issue(body, d);
		sbuf_printf(body, "》（队列编号 %lld，文件 %s）已收到，但暂停发送，"
		    "尚未发给任何人。\n原因：%s\n\n", id, d->source ? d->source : "",
		    d->reason ? d->reason : "");
		sbuf_printf(body, "The issue above (queue id %lld, file %s) was received "
		    "but is held: nothing has been sent.\nReason: %s\n\n", id,
		    d->source ? d->source : "", d->reason ? d->reason : "");
		sbuf_printf(body, "处理 / What to do:\n"
		    "- 查看 / Details: distctl show %lld\n"
		    "- 单位未能对应收件人时，在 %s 的 recipients 中补充后执行 / when units "
		    "did not resolve, add them to the recipients in %s, then run:\n"
		    "  distctl reload && distctl release %lld\n"
		    "- 不发送 / Not to send it: distctl cancel %lld\n", id, c->path,
		    c->path, id, id);
		break;
	case QUEUE_NOTICE_UNRESOLVED:
		sbuf_puts(subject, "需要处理：部分单位未发送 / Action needed: units not sent: ");
		put_issue(subject, d);
		sbuf_puts(body, "简报《");
		put_issue(body, d);
		sbuf_printf(body, "》（队列编号 %lld，文件 %s）已发给能对应收件人的单位；"
		    "以下单位在收件人目录中找不到，没有发送：\nThe issue above (queue id "
		    "%lld, file %s) goes to the units that resolved (on_unresolved = "
		    "\"send\"); these did not resolve and were not sent:\n\n", id,
		    d->source ? d->source : "", id, d->source ? d->source : "");
		put_lines(body, d->reason);
		sbuf_printf(body, "\n处理 / What to do: 在 %s 的 recipients 中补充后执行 "
		    "distctl reload，再另行发送给这些单位。/ Add them to the recipients in "
		    "%s, run distctl reload, and send the issue to them.\n"
		    "查看 / Details: distctl show %lld\n", c->path, c->path, id);
		break;
	case QUEUE_NOTICE_ALERT:
		if (d->alert_kind == QUEUE_ALERT_FEEDBACK) {
			/* the mailbox, not the relay: deliveries go on */
			sbuf_puts(subject, "告警 / Alert: 无法读取回执邮箱 / the feedback "
			    "mailbox cannot be read");
			sbuf_puts(body, "告警 / Alert (");
			put_time(body, d->since);
			sbuf_printf(body, "):\n%s\n\n", d->reason ? d->reason : "");
			sbuf_printf(body, "投递不受影响；退信和签收回执暂不能登记。distd 每 "
			    "%ld 秒再试一次，读取成功后告警自动解除。\nDeliveries go on as "
			    "usual; bounces and receipts are not recorded meanwhile (they "
			    "wait in the mailbox). distd tries again every %ld s and clears "
			    "the alert when the mailbox can be read.\n\n",
			    c->feedback.interval, c->feedback.interval);
			sbuf_puts(body, "处理 / What to do: distctl status; distctl check "
			    "(feedback.url, feedback.username, the password in "
			    "feedback.password_file or LoadCredential=feedback.password, "
			    "feedback.ca_file)\n");
			break;
		}
		sbuf_printf(subject, "告警 / Alert: %s",
		    d->alert_kind == QUEUE_ALERT_AUTH ?
		    "邮件中继拒绝登录 / the relay refused our credentials" :
		    d->alert_kind == QUEUE_ALERT_TLS ?
		    "与邮件中继的 TLS 失败 / TLS with the relay failed" :
		    queue_alert_kind_name(d->alert_kind));
		sbuf_puts(body, "告警 / Alert (");
		put_time(body, d->since);
		sbuf_printf(body, "):\n%s\n\n", d->reason ? d->reason : "");
		sbuf_printf(body, "投递暂停，收件人不会被退信；distd 每 %ld 秒试一次，恢复后"
		    "自动继续。\nDeliveries are paused and nobody is bounced; distd "
		    "tries once every %ld s and resumes by itself when the relay "
		    "accepts again.\n\n", c->retry.min_backoff, c->retry.min_backoff);
		sbuf_puts(body, "处理 / What to do: distctl status; distctl check "
		    "(smtp.url, smtp.username, the password, smtp.ca_file)\n\n"
		    "本通知经同一中继发送，可能在故障排除后才送达。/ This notice goes "
		    "through the same relay, so it may arrive only after the fault is "
		    "fixed.\n");
		break;
	case QUEUE_NOTICE_BOUNCED:
		sbuf_puts(subject, "退信 / Bounced after delivery: ");
		put_issue(subject, d);
		sbuf_puts(body, "简报《");
		put_issue(body, d);
		sbuf_printf(body, "》（队列编号 %lld）已由邮件中继接收，但以下收件人的邮件"
		    "服务器随后退信：\nThe relay accepted the issue above (queue id "
		    "%lld), but these recipients' servers bounced it later:\n\n", id, id);
		put_lines(body, d->reason);
		sbuf_printf(body, "\n处理 / What to do: 地址有误时改正后 distctl resend "
		    "%lld --to NEW --replace OLD；其他原因请与对方单位联系。/ A wrong "
		    "address: correct it with distctl resend %lld --to NEW --replace OLD; "
		    "otherwise contact the unit.\n查看 / Details: distctl show %lld\n",
		    id, id, id);
		break;
	}
	sbuf_puts(body, "\n-- \ndistd 自动发送；每期每种原因、每次告警只发一次。/ Sent by "
	    "distd, once per issue and cause, once per alert.\n");
}

int64_t
notice_sweep(const struct conf *c, struct queue *q, int64_t now)
{
	struct queue_notice_due *due;
	size_t n;
	char err[512];
	long recent;
	int64_t oldest, next = 0;

	if (queue_notices_due(q, &due, &n, err, sizeof(err)) < 0) {
		log_warnx("admin notices: %s", err);
		return 0;
	}
	if (n == 0)
		return 0;
	if (queue_notices_since(q, now - 3600, &recent, &oldest) < 0) {
		queue_notices_due_free(due, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (recent >= NOTICE_PER_HOUR) {
			/* the rest waits until the oldest of the hour is an hour old */
			next = (oldest > 0 ? oldest : now) + 3600;
			/* the caller says so once; this runs at every loop turn */
			log_debug("admin notices: %zu held back (at most %d an hour); "
			    "next at %lld", n - i, NOTICE_PER_HOUR, (long long)next);
			break;
		}
		struct sbuf subject = SBUF_INIT, body = SBUF_INIT;
		notice_render(c, &due[i], &subject, &body);
		char source[128];
		snprintf(source, sizeof(source), "notice %s", due[i].key);
		struct adminmail m = { QUEUE_KIND_NOTICE, due[i].key, source, sbuf_str(&subject),
		    sbuf_str(&body), 0, due[i].issue, due[i].title };
		int64_t id, existing;
		if (adminmail_enqueue(c, q, &m, now, &id, &existing, err, sizeof(err)) < 0)
			log_warnx("admin notice %s: %s", due[i].key, err);
		else if (id != 0) {
			log_info("notice %s queued for %s as issue %lld: %s", due[i].key,
			    adminmail_to(c, due[i].title), (long long)id, sbuf_str(&subject));
			if (recent++ == 0)
				oldest = now;
		}
		sbuf_free(&subject);
		sbuf_free(&body);
	}
	queue_notices_due_free(due, n);
	return next;
}
