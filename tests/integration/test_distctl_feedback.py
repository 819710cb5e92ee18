"""What came back after delivery (issue 17) as distctl shows it: status, show,
log and the distribution record agree, per tier, on who has not really got an
issue and who has not confirmed it.

The issue goes out through the public path (a seed dropped into the outbox,
delivered to the TLS test relay). What comes back is then written into the
stored rows the way queue_feedback_apply (queue_sqlite.c) writes it: the
recipient's bounced/confirmed columns, a history row, and the kept totals
of the finished issue (issue_tiers). That write is raw SQL on purpose: the
collector that reads bounces from a mailbox is another piece with tests of
its own; here the point is what the admin sees of the stored facts."""

import csv
import html.parser
import io
import json
import os
import sqlite3
import subprocess

from conftest import SEED_CAPITAL, run, wait_for
from test_delivery import demo_conf
from test_distctl import width

# 2026-11-23 08:00 and 2026-11-24 09:12 UTC
T0 = 1795420800
T1 = T0 + 90720

HOSTILE = ("552-5.2.2 \x1b[2J\x1b]0;owned\x07 mailbox full\r\n"
           "552 5.2.2 <b>quota</b> \"exceeded\", =cmd|' /C calc'!A0 and a long tail that "
           "no terminal line has room for, said twice: no room, no room at all")


def bounce(con, rid, when, status, reply):
    """A bounce as queue_feedback_apply records it: history row; the first
    bounce of a delivered row sets it; a finished issue's totals move one
    from delivered to bounced."""
    con.execute("INSERT INTO attempts (recipient, issue, time, status, dsn, reply, attempt)"
                " SELECT id, issue, ?, 'bounced', ?, ?, attempts FROM recipients WHERE id = ?",
                (when, status, reply, rid))
    cur = con.execute("UPDATE recipients SET bounced = ?, bounce_status = ?, bounce_reply = ?"
                      " WHERE id = ? AND state = 'delivered' AND bounced IS NULL",
                      (when, status, reply, rid))
    if cur.rowcount:
        con.execute("UPDATE issue_tiers SET delivered = delivered - 1, bounced = bounced + 1"
                    " WHERE (issue, tier, tier_keyword) = (SELECT issue, tier, tier_keyword"
                    " FROM recipients WHERE id = ?)", (rid,))


def confirm(con, rid, when, how, reply):
    """A confirmation as queue_feedback_apply records it (how: mdn or reply)."""
    con.execute("INSERT INTO attempts (recipient, issue, time, status, reply, attempt)"
                " SELECT id, issue, ?, 'confirmed', ?, attempts FROM recipients WHERE id = ?",
                (when, f"{how}: {reply}", rid))
    cur = con.execute("UPDATE recipients SET confirmed = ?, confirmed_by = ?"
                      " WHERE id = ? AND confirmed IS NULL AND state != 'cancelled'",
                      (when, how, rid))
    if cur.rowcount:
        con.execute("UPDATE issue_tiers SET confirmed = confirmed + 1"
                    " WHERE (issue, tier, tier_keyword) = (SELECT issue, tier, tier_keyword"
                    " FROM recipients WHERE id = ?)", (rid,))


def remind(con, rid, when, reminder):
    """A reminder's commit as the queue records it on the bulletin's row."""
    con.execute("INSERT INTO attempts (recipient, issue, time, status, reply, attempt)"
                " SELECT id, issue, ?, 'reminded', ?, attempts FROM recipients WHERE id = ?",
                (when, f"reminder issue {reminder}", rid))
    con.execute("UPDATE recipients SET reminders = reminders + 1, last_reminded = ?"
                " WHERE id = ?", (when, rid))


def ask(con, issue, tier):
    """The tier was asked to confirm receipt (receipt = "request" in its entry):
    the rows and the kept totals as the commit of such an issue stores them."""
    con.execute("UPDATE recipients SET receipt = 1 WHERE issue = ? AND tier_keyword = ?",
                (issue, tier))
    con.execute("UPDATE issue_tiers SET receipt = (SELECT COUNT(*) FROM recipients r"
                " WHERE r.issue = issue_tiers.issue AND r.tier_keyword = issue_tiers.tier_keyword"
                " AND r.replaced_by IS NULL AND r.receipt = 1) WHERE issue = ?", (issue,))


class Balance(html.parser.HTMLParser):
    """Counts open and closed elements: a page whose reply text broke out of
    its cell would not balance."""

    VOID = {"meta", "br", "col", "link", "img"}

    def __init__(self):
        super().__init__()
        self.stack = []
        self.bad = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.bad.append(tag)
        else:
            self.stack.pop()


def tiers_of_show(recipients):
    """Per tier from show's rows, counted as status counts (replaced rows out)."""
    t = {}
    for r in recipients:
        if r["replaced_by"]:
            continue
        x = t.setdefault(r["tier"], {"total": 0, "delivered": 0, "bounced": 0,
                                     "confirmed": 0, "receipt": 0})
        x["total"] += 1
        x["delivered"] += r["state"] == "delivered" and r["bounced"] is None
        x["bounced"] += r["bounced"] is not None
        x["confirmed"] += r["confirmed"] is not None
        x["receipt"] += r["receipt"]
    return t


def test_status_show_log_record_agree_on_what_came_back(smtp_server, distd):
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.wait_states(("delivered",), count=41, issue=1)
    # finished: status then reads the kept totals (issue_tiers), which must move too
    wait_for(lambda: d.issue_state(1) == "done", what="issue 1 done")
    d.stop()

    rows = {r["address"]: r for r in d.recipients(1)}
    assert len(rows) == 41
    ids = dict(d.query("SELECT address, id FROM recipients WHERE issue = 1"))
    bounced_bao, bounced_fa = "office@wmb.example.test", "wmb@daxing.example.test"
    mdn, reply, reminded = "office@sw.example.test", "office@rd.example.test", \
        "office@zf.example.test"
    unasked_reply = "office@xcb.example.test"
    assert rows[bounced_bao]["tier"] == "报" and rows[bounced_fa]["tier"] == "发"
    assert rows[unasked_reply]["tier"] == "送"

    con = sqlite3.connect(d.db)
    ask(con, 1, "报")
    bounce(con, ids[bounced_bao], T0, "5.2.2", HOSTILE)
    bounce(con, ids[bounced_bao], T0 + 60, "5.2.2", "a second bounce only adds history")
    bounce(con, ids[bounced_fa], T0, "5.1.1", "550 5.1.1 <wmb@daxing.example.test> unknown")
    confirm(con, ids[mdn], T1, "mdn", "manual-action/MDN-sent-manually; displayed")
    confirm(con, ids[reply], T1, "reply", "Re: 首都精神文明建设情况简报")
    confirm(con, ids[unasked_reply], T1, "reply", "收到")
    remind(con, ids[reminded], T1, 2)
    remind(con, ids[reminded], T1 + 60, 3)
    con.commit()
    con.close()

    env = dict(os.environ, TZ="UTC", NO_COLOR="1")

    # ---- status: per tier, JSON and text ----
    s = d.ctl_json("status")
    issue = next(i for i in s["issues"] if i["id"] == 1)
    tiers = {t["tier"]: t for t in issue["tiers"]}
    assert tiers["报"] == {"tier": "报", "total": 8, "delivered": 7, "deferred": 0, "failed": 0,
                          "bounced": 1, "receipt": 8, "confirmed": 2}
    assert tiers["送"] == {"tier": "送", "total": 12, "delivered": 12, "deferred": 0,
                          "failed": 0, "bounced": 0, "receipt": 0, "confirmed": 1}
    assert tiers["发"] == {"tier": "发", "total": 21, "delivered": 20, "deferred": 0,
                          "failed": 0, "bounced": 1, "receipt": 0, "confirmed": 0}
    text = d.ctl("status", env=env).stdout
    assert max(width(l) for l in text.splitlines() if not l.startswith("config:")) <= 80, text
    line = next(l for l in text.splitlines() if l.startswith("   1 "))
    assert "报 7/8 ↩1 ✓2/8 送 12/12" in line, text
    assert "发 20/21 ↩1" in text
    assert "↩ bounced after delivery  ✓ confirmed/asked to confirm" in text

    # ---- show: JSON agrees with status per tier; text marks the rows ----
    shown = d.show(1)
    for tier, counted in tiers_of_show(shown["recipients"]).items():
        for key, value in counted.items():
            assert tiers[tier][key] == value, (tier, key)
    b = next(r for r in shown["recipients"] if r["address"] == bounced_bao)
    # state stays the transfer's; the first bounce is the one kept
    assert b["state"] == "delivered" and b["bounce_status"] == "5.2.2"
    assert b["bounce_reply"] == HOSTILE and b["bounced"].startswith("2026-11-23T08:00:00")
    c = next(r for r in shown["recipients"] if r["address"] == mdn)
    assert c["confirmed_by"] == "mdn" and c["receipt"] is True and c["reminders"] == 0
    assert next(r for r in shown["recipients"] if r["address"] == reminded)["reminders"] == 2

    r = d.ctl("show", "1", env=env)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert max(width(l) for l in text.splitlines()) <= 80, text
    assert "\x1b" not in text and "\x07" not in text
    assert ("  recipients: 报 8: 7 delivered, 1 bounced, 2/8 confirmed\n"
            "              送 12: 12 delivered, 1 confirmed\n"
            "              发 21: 20 delivered, 1 bounced\n") in text
    assert ("office@wmb.example.test             bounced       1  250\n"
            "     ↩ bounced 11-23 08:00: 552-5.2.2 \\x1b[2J\\x1b]0;owned\\x07 mailbox full 552…\n"
            ) in text
    assert "     ✓ confirmed 11-24 09:12 by mdn\n" in text
    assert "     not confirmed, reminded 2 times\n" in text
    assert "     ↩ bounced 11-23 08:00: 550 5.1.1 <wmb@daxing.example.test> unknown\n" in text

    # --unconfirmed: the asked who have not confirmed (the bounced one too), with --tier
    unconf = d.show(1, "--unconfirmed")
    assert sorted(x["address"] for x in unconf["recipients"]) == sorted(
        a for a, x in rows.items() if x["tier"] == "报" and a not in (mdn, reply))
    assert d.show(1, "--unconfirmed", "--tier", "报")["recipients"] == unconf["recipients"]
    assert d.show(1, "--unconfirmed", "--tier", "送")["recipients"] == []
    t = d.ctl("show", "1", "--unconfirmed", "--tier", "送", env=env).stdout
    assert "(nobody was asked to confirm receipt)" in t
    assert "  recipients: 送 12: 12 delivered, 1 confirmed\n\n" in t
    t = d.ctl("show", "1", "--unconfirmed", env=env).stdout
    assert t.count(" delivered     1  250\n") + t.count(" bounced       1  250\n") == 6
    # the summary still counts every recipient, not only those listed
    assert "  recipients: 报 8: 7 delivered, 1 bounced, 2/8 confirmed\n" in t
    assert d.ctl("show", "1", "--unconfirmed", "--pending").returncode == 2
    assert d.ctl("show", "1", "--unconfirmed", "--state", "delivered").returncode == 2
    # --pending: who has not really got it includes the bounced
    assert sorted(x["address"] for x in d.show(1, "--pending")["recipients"]) == \
        sorted([bounced_bao, bounced_fa])

    # ---- log: the new words, no attempt number on them, one line each ----
    log = d.ctl("log", "--issue", "1", "-n", "100", env=env).stdout.splitlines()
    fed = [l for l in log if " status=bounced" in l or " status=confirmed" in l
           or " status=reminded" in l]
    assert len(fed) == 8, log
    assert all("attempt=" not in l for l in fed)
    assert any(l.endswith('status=reminded reply="reminder issue 3"') for l in fed)
    assert any('status=confirmed reply="mdn: manual-action/MDN-sent-manually; displayed"' in l
               for l in fed)
    assert all("\x1b" not in l for l in log)
    entries = d.log_entries(1)
    assert [e["status"] for e in entries].count("bounced") == 3

    # ---- the record: text, CSV, HTML and JSON ----
    rec = d.ctl_json("record", "1")
    rt = {t["tier"]: t for t in rec["tiers"]}
    for tier, t in tiers.items():
        for key in ("total", "delivered", "bounced", "confirmed", "receipt"):
            assert rt[tier][key] == t[key], (tier, key)
    text = d.ctl("record", "1", env=env).stdout
    assert max(width(l) for l in text.splitlines()) <= 80
    assert "\x1b" not in text
    assert "By tier:    报 8: 7 delivered, 1 bounced, 2/8 confirmed\n" in text
    assert "     bounced 2026-11-23 08:00:00 +0000: 552-5.2.2 \\x1b[2J" in text
    assert "     confirmed 2026-11-24 09:12:00 +0000 by mdn\n" in text
    assert "reminded 2 times (last 2026-11-24 09:13:00 +0000)" in text.replace("\n     ", " ")

    # bytes: CRLF line ends and a CR LF inside a quoted field as they are
    r = subprocess.run([d.binaries["distctl"], "-c", str(d.conf), "record", "1", "--csv"],
                       env=env, capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(r.stdout.decode("utf-8-sig"), newline="")))
    head = table[0]
    # the old columns first, in their order; the new ones after them
    assert head[:20] == ["issue", "title", "issue_no", "date", "message_id", "tier", "unit",
                         "name", "address", "state", "accepted", "code", "dsn", "reply",
                         "attempts", "possible_duplicate", "resends", "last_resend",
                         "replaced_by", "replaces"]
    assert head[20:] == ["bounced", "bounce_status", "bounce_reply", "receipt", "confirmed",
                         "confirmed_by", "reminders", "last_reminded"]
    by = {row[8]: dict(zip(head, row)) for row in table[1:]}
    assert len(by) == 41
    assert by[bounced_bao]["state"] == "delivered"
    assert by[bounced_bao]["bounced"] == "2026-11-23 08:00:00 +0000"
    assert by[bounced_bao]["bounce_reply"] == HOSTILE   # whole, line breaks and all
    assert by[mdn]["confirmed_by"] == "mdn" and by[mdn]["receipt"] == "yes"
    assert by[reminded]["reminders"] == "2"
    assert by[unasked_reply]["receipt"] == "no" and by[unasked_reply]["confirmed_by"] == "reply"

    r = run([d.binaries["distctl"], "-c", d.conf, "record", "1", "--html"], env=env)
    page = r.stdout
    assert "\x1b" not in page and "<b>quota</b>" not in page
    assert "&lt;b&gt;quota&lt;/b&gt; &quot;exceeded&quot;" in page
    assert '<table class="tiers">' in page and '<tr class="bounced">' in page
    p = Balance()
    p.feed(page)
    p.close()
    assert p.bad == [] and p.stack == []


# ---- end to end: receipt asked by tier, feedback read from a real mailbox ----

E2E_UNITS = [("甲", "a@example.test"), ("乙", "b@example.test"), ("丙", "c@example.test"),
             ("丁", "d@example.test"), ("戊", "e@example.test"), ("己", "f@example.test")]
E2E_TIERS = """
tiers = ( { keyword = "报"; receipt = "request"; }, { keyword = "送"; header = "cc"; },
  { keyword = "发"; header = "bcc"; } );
"""
E2E_ISSUE = ("工作简报\n\n第 7 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n正文。\n\n"
             "报：甲，乙，丙\n送：丁，戊\n发：己\n")


def test_feedback_mailbox_as_distctl_shows_it(smtp_server, distd, imap_server):
    """The whole way: 报 asked to confirm by its tier; a bounce, an MDN and a
    reply dropped into a Dovecot mailbox that distd reads; a reminder; then
    status, show, log and the record agree per tier."""
    from test_feedback import dsn, headers_of, mdn, reply

    imap = imap_server
    server = smtp_server()
    d = distd(server)
    pw = d.root / "feedback.password"
    pw.write_text(imap.password + "\n")
    os.chmod(pw, 0o600)
    d.write_conf(E2E_UNITS, extra=E2E_TIERS + (
        "feedback = {\n"
        f'  url = "{imap.url}INBOX";\n'
        f'  username = "{imap.user}";\n'
        f'  password_file = "{pw}";\n'
        f'  ca_file = "{imap.ca_file}";\n'
        "  interval = 30;\n"
        "};\n"))
    d.start()
    d.drop("a.txt", E2E_ISSUE)
    d.wait_states(("delivered",), count=6, issue=1)
    wait_for(lambda: d.issue_state(1) == "done", what="issue 1 done")
    sent = server.messages[0]
    msgid = sent.parsed()["Message-ID"].strip("<>")
    assert [r["receipt"] for r in d.recipients(1)] == [True] * 3 + [False] * 3
    # all delivered, nothing came back: nothing needs a look
    r = d.ctl("--json", "status")
    assert r.returncode == 0, r.stdout
    s = json.loads(r.stdout)
    assert (s["bounced"], s["recent_bounced"]) == (0, 0)

    imap.deliver(dsn(headers_of(sent.data), "a@example.test"))
    imap.deliver(mdn(msgid, "b@example.test"))
    imap.deliver(reply(msgid, "d@example.test"))
    assert d.ctl("reload").returncode == 0      # a reload polls soon

    def applied():
        r = {x["address"]: x for x in d.recipients(1)}
        return (r["a@example.test"]["bounced"] and r["b@example.test"]["confirmed"]
                and r["d@example.test"]["confirmed"]) and r
    rows = wait_for(applied, timeout=60, what="a bounce and two confirmations applied")
    assert rows["a@example.test"]["bounce_status"] == "5.1.1"
    assert rows["b@example.test"]["confirmed_by"] == "mdn"
    assert rows["d@example.test"]["confirmed_by"] == "reply"

    # a reminder to who was asked, got it and has not confirmed: 丙 alone
    r = d.ctl("remind", "1")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: d.recipient("c@example.test", 1)["reminders"] == 1, what="reminded")

    # a bounce of today needs a look as a failure does: exit 3, and it says so
    r = d.ctl("--json", "status")
    assert r.returncode == 3, r.stdout
    s = json.loads(r.stdout)
    assert (s["bounced"], s["recent_bounced"]) == (1, 1)
    # counts keep the transfer state (the reminder may have gone too)
    assert s["counts"]["delivered"] >= 6 and s["alerts"] == []
    tiers = {t["tier"]: t for t in next(i for i in s["issues"] if i["id"] == 1)["tiers"]}
    assert tiers["报"] == {"tier": "报", "total": 3, "delivered": 2, "deferred": 0, "failed": 0,
                          "bounced": 1, "receipt": 3, "confirmed": 1}
    assert tiers["送"] == {"tier": "送", "total": 2, "delivered": 2, "deferred": 0, "failed": 0,
                          "bounced": 0, "receipt": 0, "confirmed": 1}
    assert tiers["发"]["delivered"] == 1 and tiers["发"]["receipt"] == 0
    for tier, counted in tiers_of_show(d.show(1)["recipients"]).items():
        for key, value in counted.items():
            assert tiers[tier][key] == value, (tier, key)
    rec = {t["tier"]: t for t in d.ctl_json("record", "1")["tiers"]}
    for tier, t in tiers.items():
        for key in ("total", "delivered", "bounced", "confirmed", "receipt"):
            assert rec[tier][key] == t[key], (tier, key)

    env = dict(os.environ, NO_COLOR="1")
    text = d.ctl("status", env=env).stdout
    assert max(width(l) for l in text.splitlines() if not l.startswith("config:")) <= 80
    line = next(l for l in text.splitlines() if l.startswith("   1 "))
    assert "报 2/3 ↩1 ✓1/3 送 2/2 发 1/1" in line, text
    assert "  bounced 1  failed 0" in text, text
    assert "! recent bounces: 1 in the last 24 hours (distctl show ID --pending)\n" in text
    text = d.ctl("show", "1", env=env).stdout
    assert max(width(l) for l in text.splitlines()) <= 80
    assert ("  recipients: 报 3: 2 delivered, 1 bounced, 1/3 confirmed\n"
            "              送 2: 2 delivered, 1 confirmed\n"
            "              发 1: 1 delivered\n") in text
    assert "a@example.test" in text and "5.1.1" in text and "by mdn" in text
    assert "not confirmed, reminded 1 time" in text
    assert sorted(x["address"] for x in d.show(1, "--unconfirmed")["recipients"]) == \
        ["a@example.test", "c@example.test"]
    assert [x["address"] for x in d.show(1, "--pending")["recipients"]] == ["a@example.test"]
    words = [e["status"] for e in d.log_entries(1)]
    assert words.count("bounced") == 1 and words.count("confirmed") == 2
    assert words.count("reminded") == 1
    text = d.ctl("record", "1", env=env).stdout
    assert "By tier:    报 3: 2 delivered, 1 bounced, 1/3 confirmed\n" in text
    assert "reminded 1 time" in text and "by mdn" in text

    # sent again: the bounce is gone, and with it the need for a look
    r = d.ctl("resend", "1", "--to", "a@example.test")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: d.recipient("a@example.test", 1)["state"] == "delivered"
             and d.issue_state(1) == "done", what="a@ delivered again")
    r = d.ctl("--json", "status")
    s = json.loads(r.stdout)
    assert (s["bounced"], s["recent_bounced"]) == (0, 0)
    assert r.returncode == 0, r.stdout
