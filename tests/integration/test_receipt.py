"""Receipt requests (签收, issue 17): receipt = "request" in a series or a tier
asks the recipients to confirm, and `distctl remind` asks again those who
have not. A real distd and the aiosmtpd sink on 127.0.0.1; the SQLite queue."""

import json
import time

from conftest import wait_for

LINE = "收到后请回复确认（签收）。/ Please reply to confirm receipt."

UNITS = [("甲", "a@example.test"), ("乙", "b@example.test"), ("丙", "c@example.test"),
         ("丁", "d@example.test"), ("戊", "e@example.test")]

# 工作简报 asks through its series; 送 asks whatever the series
EXTRA = """
tiers = ( { keyword = "报"; }, { keyword = "送"; header = "cc"; receipt = "request"; },
  { keyword = "发"; header = "bcc"; } );
series = ( { title = "工作简报"; receipt = "request"; } );
"""


def issue(title, no, footer):
    return f"{title}\n\n第 {no} 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n正文。\n\n{footer}\n"


def message_for(server, issue_id):
    """The one message the sink got for issue_id (X-Distd-Issue)."""
    found = [m for m in server.messages if m.parsed()["X-Distd-Issue"] == str(issue_id)]
    assert len(found) == 1, f"issue {issue_id}: {len(found)} messages"
    return found[0]



def confirm(d, issue_id, address):
    """What the feedback collector will do (queue_feedback_apply), set directly:
    this test is about reminders, not about reading the mailbox."""
    import sqlite3
    con = sqlite3.connect(str(d.db), timeout=10)
    with con:
        n = con.execute("UPDATE recipients SET confirmed = ?, confirmed_by = 'reply'"
                        " WHERE issue = ? AND address = ?",
                        (int(time.time()), issue_id, address)).rowcount
    con.close()
    assert n == 1


def remind(d, issue_id, *args):
    return d.ctl("remind", str(issue_id), *args)


def reminded_rows(d, issue_id):
    return sorted(e["address"] for e in d.log_entries(issue_id) if e["status"] == "reminded")


def test_receipt_request_and_remind(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=UNITS, extra=EXTRA)
    d.start()
    d.drop("a.txt", issue("工作简报", 7, "报：甲，乙，丙"))
    d.drop("b.txt", issue("情况通报", 1, "报：丁"))
    d.drop("c.txt", issue("情况通报", 2, "报：丁\n送：戊"))
    d.wait_states(("delivered",), count=5)   # five addresses (丁 twice)
    wait_for(lambda: len(server.messages) >= 3, what="three messages")
    ids = {i["subject"]: i["id"] for i in d.issues("bulletin")}
    a, b, c = ids["工作简报 第7期"], ids["情况通报 第1期"], ids["情况通报 第2期"]

    # the series asks: Disposition-Notification-To (the From address: no
    # feedback.address) and the line at the end of both parts
    ma = message_for(server, a).parsed()
    assert ma["Disposition-Notification-To"] == "<bulletin@example.test>"
    text = ma.get_body(("plain",)).get_content()
    html = ma.get_body(("html",)).get_content()
    assert text.rstrip().endswith(LINE)
    assert LINE in html and html.index(LINE) > html.index("正文")
    # nobody asked: neither
    mb = message_for(server, b).parsed()
    assert mb["Disposition-Notification-To"] is None
    assert LINE not in mb.get_body(("plain",)).get_content()
    assert LINE not in mb.get_body(("html",)).get_content()
    # a tier that asks: the one message asks (shared by all tiers)
    mc = message_for(server, c).parsed()
    assert mc["Disposition-Notification-To"] == "<bulletin@example.test>"
    assert mc.get_body(("plain",)).get_content().rstrip().endswith(LINE)

    # remind: the three asked of issue a, threaded to it
    r = remind(d, a)
    assert r.returncode == 0, r.stderr
    assert f"remind: issue {a}: 3 recipients reminded" in r.stdout
    assert "报 甲 <a@example.test>" in r.stdout
    assert all(len(line) <= 80 for line in r.stdout.splitlines())
    wait_for(lambda: len(server.messages) >= 4, what="the reminder")
    rem = server.messages[3]
    assert sorted(rem.rcpt_tos) == ["a@example.test", "b@example.test", "c@example.test"]
    p = rem.parsed()
    assert p["In-Reply-To"] == ma["Message-ID"]
    assert p["References"] == ma["Message-ID"]
    assert p["Disposition-Notification-To"] == "<bulletin@example.test>"
    assert p["Subject"] == "请确认收到 / Please confirm receipt: 工作简报 第7期"
    assert not p.is_multipart()
    body = p.get_body(("plain",)).get_content()
    assert "《工作简报 第7期》" in body and "confirm receipt" in body
    # units do not see each other
    assert "a@example.test" not in str(p["To"]) + str(p["Cc"] or "")
    reminder = int(p["X-Distd-Issue"])
    assert d.show(reminder)["kind"] == "reminder"
    assert reminded_rows(d, a) == ["a@example.test", "b@example.test", "c@example.test"]

    # one confirms: the next remind asks only the others
    confirm(d, a, "b@example.test")
    r = d.ctl("--json", "remind", str(a))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["command"] == "remind" and out["issue"] == a
    assert out["recipients"] == 2 and out["asked"] == 3 and out["confirmed"] == 1
    assert sorted(x["address"] for x in out["reminded"]) == ["a@example.test", "c@example.test"]
    wait_for(lambda: len(server.messages) >= 5, what="the second reminder")
    assert sorted(server.messages[4].rcpt_tos) == ["a@example.test", "c@example.test"]
    assert server.messages[4].parsed()["In-Reply-To"] == ma["Message-ID"]
    assert reminded_rows(d, a) == ["a@example.test", "a@example.test", "b@example.test",
                                   "c@example.test", "c@example.test"]

    # everyone confirmed: refused, naming the counts; nothing queued
    confirm(d, a, "a@example.test")
    confirm(d, a, "c@example.test")
    r = remind(d, a)
    assert r.returncode == 1
    assert f"nobody to remind: 3 of 3 asked in issue {a} have confirmed receipt" in r.stderr
    # nobody asked
    r = remind(d, b)
    assert r.returncode == 1 and "was asked to confirm receipt" in r.stderr
    # a tier: 报 of c was not asked, 送 was
    r = remind(d, c, "--tier", "报")
    assert r.returncode == 1 and f"no recipient in tier 报 of issue {c}" in r.stderr
    r = remind(d, c, "--tier", "发")
    assert r.returncode == 1 and "its tiers: 报, 送" in r.stderr
    r = remind(d, c, "--tier", "送")
    assert r.returncode == 0, r.stderr
    assert "1 recipient reminded" in r.stdout and "送 戊 <e@example.test>" in r.stdout
    wait_for(lambda: len(server.messages) >= 6, what="the tier's reminder")
    assert server.messages[5].rcpt_tos == ["e@example.test"]
    # a reminder is not a bulletin; an unknown issue; usage
    r = remind(d, reminder)
    assert r.returncode == 1 and "not a bulletin" in r.stderr
    r = remind(d, 999)
    assert r.returncode == 1
    assert d.ctl("remind").returncode == 2
    time.sleep(0.5)
    assert len(server.messages) == 6
