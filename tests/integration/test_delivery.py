"""The delivery engine end to end: real distd, real TLS SMTP server on 127.0.0.1."""

import email.policy
import re
import subprocess

import pytest

from conftest import ROOT, SEED_CAPITAL, SEED_MENTOUGOU, both_backends, smtp_login, wait_for

TEN = [(f"单位{i}", f"u{i}@example.test") for i in range(10)]
ISSUE = ("工作简报\n\n第 7 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n"
         "正文第一段，说明情况。\n\n报：{units}\n")


def issue_text(units, no=7):
    return ISSUE.replace("第 7 期", f"第 {no} 期").format(units="，".join(units))


def demo_conf(d, server):
    text = subprocess.run([ROOT / "scripts" / "demo-conf", d.root, str(server.port),
                           server.cafile], check=True, capture_output=True,
                          text=True).stdout
    if d.state is not None:
        # the PostgreSQL queue of @both_backends instead of DIR/queue.db
        text, n = re.subn(r'(?m)^state\s*=\s*"[^"]*";', f'state = "{d.state}";', text)
        assert n == 1, "demo-conf: no state line to replace"
    d.conf.write_text(text, encoding="utf-8")


@both_backends
def test_seeds_delivered_end_to_end(smtp_server, distd):
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(("delivered",), count=49)

    # one transaction per issue (41 and 8 recipients, max 50 per message)
    assert len(server.messages) == 2
    by_subject = {m.parsed()["Subject"]: m for m in server.messages}
    capital = by_subject["首都精神文明建设情况简报 第29期"]
    mtg = by_subject["门头沟区创建全国文明城市工作快报 第439期"]
    assert len(capital.rcpt_tos) == 41 and len(mtg.rcpt_tos) == 8

    msg = capital.parsed()
    assert msg["From"].addresses[0].display_name == "首都精神文明办"
    assert msg["From"].addresses[0].addr_spec == "bulletin@example.test"
    to = {a.addr_spec: a.display_name for a in msg["To"].addresses}
    cc = {a.addr_spec: a.display_name for a in msg["Cc"].addresses}
    assert to["office@wmb.example.test"] == "中央文明办"
    assert to["office@sw.example.test"] == "市委办公厅"   # display name from the directory
    assert cc["office@gh.example.test"] == "市总工会"      # 送 → Cc
    # 发 is bcc: in the envelope, not in the headers
    assert "wmb@daxing.example.test" in capital.rcpt_tos
    assert "wmb@daxing.example.test" not in str(msg["To"]) + str(msg["Cc"])
    assert msg["Message-ID"].startswith("<distd.")
    assert msg["X-Distd-Issue"].isdigit()
    assert msg["Auto-Submitted"] is None
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "重点调度机制" in text
    assert re.search(r'<h3 style="[^"]*">大兴区齐心协力 吹响全国文明城区创建冲锋号</h3>', html)
    # the 版记 is mailed as printed, once, after the body (test_rendition.py has the rest)
    assert text.count("报：中央文明办") == 1
    assert text.index("重点调度机制") < text.index("报：中央文明办")

    # 发 only, no To: undisclosed-recipients
    m2 = mtg.parsed()
    assert [a.display_name for a in m2["To"].addresses][:2] == ["首都文明办", "门头沟区委办公室"]

    # every attempt is logged once (written just after the results are committed)
    wait_for(lambda: len(d.log_lines()) >= 49, what="49 delivery log lines")
    lines = d.log_lines()
    assert len(lines) == 49
    assert all(" status=sent code=250 dsn=2.0.0 " in l for l in lines)
    assert any("tier=报 to=<office@wmb.example.test>" in l for l in lines)
    assert len(d.log_entries()) == 49
    # an issue is marked done in a later loop turn than its last recipient
    wait_for(lambda: set(d.issue_states().values()) == {"done"}, what="both issues done")
    # sources archived, outbox empty
    assert list(d.outbox.iterdir()) == []
    assert len(list(d.archive.glob("*/*/*.txt"))) == 2


@both_backends
def test_rcpt_refused_and_deferred_in_one_batch(smtp_server, distd):
    server = smtp_server()
    server.handler.rcpt_replies["u3@example.test"] = ["550 5.1.1 <u3@example.test>: no such user"]
    server.handler.rcpt_replies["u7@example.test"] = ["451 4.7.1 greylisted, try later"]
    d = distd(server, recipients=TEN)
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN]))
    d.wait_states(count=10)

    states = d.states(1)
    assert states.pop("u3@example.test") == "failed"
    assert set(states.values()) == {"delivered"}
    received = server.handler.received()
    bulletin = [a for a in received if a != "postmaster@example.test"]
    # the 8 accepted at once, the 451 one later, each exactly once
    assert sorted(bulletin) == sorted(a for _, a in TEN if a != "u3@example.test")
    assert server.messages[0].rcpt_tos == [a for _, a in TEN if a not in
                                           ("u3@example.test", "u7@example.test")]
    assert server.messages[1].rcpt_tos == ["u7@example.test"]
    refused = d.recipient("u3@example.test", issue=1)
    assert (refused["attempts"], refused["last_code"], refused["last_reply"]) == \
        (1, 550, "550 5.1.1 <u3@example.test>: no such user")
    assert d.recipient("u7@example.test", issue=1)["attempts"] == 2
    lines = d.log_lines()
    assert any("to=<u3@example.test>" in l and "status=failed class=5xx code=550 dsn=5.1.1" in l
               for l in lines)
    assert any("to=<u7@example.test>" in l and "status=deferred class=4xx code=451" in l for l in lines)

    # the failure report reaches the admin, readable, with the server's reply
    report = wait_for(lambda: [m for m in server.messages
                               if m.rcpt_tos == ["postmaster@example.test"]], what="report")
    body = report[0].parsed().get_body(("plain",)).get_content()
    assert "u3@example.test" in body and "550 5.1.1" in body
    assert "投递失败报告" in report[0].parsed()["Subject"]
    assert report[0].parsed()["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize("data_reply, deferred_line", [
    ("451 4.3.0 temporary failure", "status=deferred class=4xx code=451"),
    ("drop", "status=deferred"),     # the connection closes after the data, no reply
], ids=["data-451", "dropped-after-data"])
def test_temporary_data_failure_is_retried_once(smtp_server, distd, data_reply, deferred_line):
    server = smtp_server()
    server.handler.data_replies.append(data_reply)
    d = distd(server, recipients=TEN[:3])
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:3]]))
    d.wait_states(("delivered",), count=3)
    assert len(server.messages) == 1
    assert server.handler.transactions == 2
    assert server.handler.received() == [a for _, a in TEN[:3]]
    assert {r["attempts"] for r in d.recipients()} == {2}
    assert sum(deferred_line in l for l in d.log_lines()) == 3


@both_backends
def test_certificate_mismatch_defers_and_alerts(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    # no ca_file: the self-signed test certificate is not trusted
    d.write_conf(recipients=TEN[:2])
    d.conf.write_text(d.conf.read_text().replace(f'ca_file = "{server.cafile}";', ""))
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:2]]))
    wait_for(lambda: d.alert_kinds(), what="tls alert")
    assert server.messages == []
    assert server.handler.transactions == 0
    assert set(d.states().values()) <= {"deferred", "sending", "queued"}
    assert "tls" in d.alert_kinds()
    wait_for(lambda: any("class=tls" in l for l in d.log_lines()), what="tls log line")
    assert "ALERT TLS" in d.stderr_text()


@both_backends
def test_wrong_password_defers_alerts_never_bounces(smtp_server, distd, tmp_path):
    server = smtp_server(auth=("bulletin@example.test", "right"))
    secret, login = smtp_login(tmp_path, "wrong")
    d = distd(server, recipients=TEN[:2],
              smtp_extra=login)
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:2]]))
    wait_for(lambda: "auth" in d.alert_kinds(), timeout=60, what="auth alert")
    wait_for(lambda: len([l for l in d.log_lines() if "class=auth" in l]) >= 4, timeout=60,
             what="two rounds of auth failures")
    assert server.messages == []
    assert "failed" not in d.states().values()
    assert d.issues("report") == []

    # the admin fixes the password and reloads: delivered, alert cleared
    secret.write_text("right\n")
    d.proc.send_signal(1)  # SIGHUP: reload
    d.wait_states(("delivered",), count=2, timeout=60)
    assert d.alert_kinds() == []
    # the issue once, and once the alert's notice to the admin (queued while it stood)
    wait_for(lambda: len(server.messages) == 2, what="the alert notice")
    assert sorted(m.rcpt_tos[0] for m in server.messages) == \
        ["postmaster@example.test", "u0@example.test"]


@both_backends
def test_lifetime_expiry_sends_one_report(smtp_server, distd):
    server = smtp_server()
    for _, a in TEN[:2]:
        server.handler.rcpt_replies[a] = ["451 4.4.1 mailbox busy"] * 100
    d = distd(server, recipients=TEN[:2],
              retry="retry = { min_backoff = 1; max_backoff = 1; lifetime = 3; };")
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:2]]))
    d.wait_states(("failed",), count=2, timeout=30, issue=1)
    lines = d.log_lines()
    assert sum("status=expired" in l for l in lines) == 2
    report = wait_for(lambda: [m for m in server.messages
                               if m.rcpt_tos == ["postmaster@example.test"]], what="report")
    assert len(report) == 1
    body = report[0].parsed().get_body(("plain",)).get_content()
    assert "u0@example.test" in body and "451 4.4.1 mailbox busy" in body
    # that the issue is marked reported (so a restart reports it no more) is a
    # stored fact no distctl output carries: raw SQL
    assert d.query("SELECT reported FROM issues WHERE kind = 'bulletin'") == [(1,)]


@both_backends
def test_duplicate_content_is_not_sent_twice(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    text = issue_text([n for n, _ in TEN[:2]])
    d.drop("a.txt", text)
    d.wait_states(("delivered",), count=2)
    d.drop("b.txt", text)
    wait_for(lambda: len(d.issues()) == 2, what="duplicate row")
    wait_for(lambda: not (d.outbox / "b.txt").exists(), what="archive")
    duplicate = d.show(2)
    assert (duplicate["duplicate_of"], duplicate["state"]) == (1, "done")
    assert len(server.messages) == 1
    assert "same content as issue 1" in d.stderr_text()


def test_stale_reused_connection_is_retried_at_once(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2], smtp_extra="connections = 1;")
    d.start()
    d.drop("a.txt", issue_text([TEN[0][0]], no=1))
    d.wait_states(("delivered",), count=1)
    # the relay has timed the idle connection out: 421 on the next MAIL FROM
    server.handler.mail_replies.append("421 4.4.2 idle timeout")
    d.drop("b.txt", issue_text([TEN[1][0]], no=2))
    d.wait_states(("delivered",), count=2)
    assert [m.rcpt_tos for m in server.messages] == [["u0@example.test"], ["u1@example.test"]]
    assert d.recipient("u1@example.test")["attempts"] == 1
    assert not any("status=deferred" in l for l in d.log_lines())


def test_large_visible_tier_is_a_group(smtp_server, distd):
    """A 报 tier over compose.max_header_names arrives as one empty group; a small 送 is listed."""
    server = smtp_server()
    many = [(f"单位{i}", f"u{i}@example.test") for i in range(12)]
    d = distd(server, recipients=many + [("市总工会", "gh@example.test")],
              groups=[("各单位", [n for n, _ in many])],
              extra="compose = { max_header_names = 10; };\n")
    d.start()
    d.drop("issue.txt", ISSUE.format(units="各单位") + "送：市总工会\n")
    d.wait_states(("delivered",), count=13)

    assert len(server.messages) == 1
    m = server.messages[0]
    assert sorted(m.rcpt_tos) == sorted([a for _, a in many] + ["gh@example.test"])
    msg = m.parsed()
    to = msg["To"]
    assert [g.display_name for g in to.groups] == ["报（12 个地址，见版记）"]
    assert to.groups[0].addresses == ()
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["gh@example.test"]
    header_block = m.data.split(b"\r\n\r\n", 1)[0]
    assert b"u0@example.test" not in header_block
    # the units stay readable in the 版记 of the body
    assert "报：各单位" in msg.get_body(("plain",)).get_content()
