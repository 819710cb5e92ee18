#include "failure_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

#include "adminmail.h"

int
failure_report_enqueue(const struct conf *c, struct queue *q, int64_t issue, int64_t now,
    char *err, size_t errsz)
{
	struct queue_failure *f;
	size_t n;
	char *title, sha[80], source[64];
	long issue_no;
	struct sbuf subject = SBUF_INIT, body = SBUF_INIT;
	int rc;

	if (queue_failures(q, issue, &f, &n, &title, &issue_no) < 0) {
		snprintf(err, errsz, "cannot read the failures of issue %lld", (long long)issue);
		return -1;
	}
	sbuf_printf(&subject, "投递失败报告 / Delivery failure report: %s",
	    title ? title : "(untitled)");
	if (issue_no >= 0)
		sbuf_printf(&subject, " 第%ld期", issue_no);

	sbuf_printf(&body, "以下收件人未能收到简报《%s》%s（队列编号 %lld）。\n\n"
	    "The bulletin above (queue id %lld) could not be delivered to the "
	    "recipients below.\n\n", title ? title : "", issue_no >= 0 ? "" : "",
	    (long long)issue, (long long)issue);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&body, "- %s　%s <%s>\n  尝试 / attempts: %d\n  服务器答复 / "
		    "server reply: %s\n  地址有误时 / If the address was wrong:\n"
		    "    distctl resend %lld --to NEW-ADDRESS --replace %s\n"
		    "  原地址重发 / To try the same address again:\n"
		    "    distctl resend %lld --to %s\n\n", f[i].tier, f[i].name, f[i].address,
		    f[i].attempts, f[i].reply ? f[i].reply : "(none)", (long long)issue,
		    f[i].address, (long long)issue, f[i].address);
	/* precise commands: a bare `resend ID` would send to everyone again */
	sbuf_printf(&body, "尚未收到的收件人 / Who has not got it: distctl show %lld --pending\n",
	    (long long)issue);

	snprintf(sha, sizeof(sha), "report-%lld", (long long)issue);
	snprintf(source, sizeof(source), "report for issue %lld", (long long)issue);
	struct adminmail m = { QUEUE_KIND_REPORT, sha, source, sbuf_str(&subject), sbuf_str(&body),
	    issue, 0, title };
	int64_t id, dup;
	rc = adminmail_enqueue(c, q, &m, now, &id, &dup, err, errsz);
	queue_failures_free(f, n);
	free(title);
	sbuf_free(&subject);
	sbuf_free(&body);
	return rc;
}
