"""The admin hears about what needs a human: held issues, units that did not resolve in
send mode, alerts — one small auto-generated e-mail each, never twice; the failure report
is marked auto-generated too."""

import email
import email.policy
import signal
import time

from conftest import smtp_login, wait_for
from test_delivery import TEN, issue_text

ADMIN = "postmaster@example.test"


def to_admin(server):
    return [m for m in server.messages if m.rcpt_tos == [ADMIN]]


def assert_small_auto_notice(m, *words):
    msg = email.message_from_bytes(m.data, policy=email.policy.default)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert [str(a.addr_spec) for a in msg["To"].addresses] == [ADMIN]
    assert list(msg.iter_attachments()) == []
    assert len(m.data) < 16 * 1024
    text = msg.get_body(("plain",)).get_content()
    for w in words:
        assert w in msg["Subject"] + text, (w, msg["Subject"], text)
    return msg, text


def restart(d):
    assert d.stop() == 0
    d.start()


def test_held_issue_mailed_to_admin_once(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("held.txt", issue_text([TEN[0][0], "不存在的单位"], no=21))
    wait_for(lambda: len(to_admin(server)) == 1, what="held notice")
    msg, text = assert_small_auto_notice(to_admin(server)[0], "issue held", "不存在的单位",
                                         "distctl release 1", "held.txt")
    assert "工作简报 第21期" in msg["Subject"]
    assert "正文第一段" not in text       # never a copy of the issue
    # rescans, reloads and a restart do not send it again
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in d.stderr_text(), what="reload")
    restart(d)
    d.drop("other.txt", issue_text([TEN[1][0]], no=22))
    d.wait_states(("delivered",), issue=3, count=1)
    time.sleep(1)
    assert len(to_admin(server)) == 1
    assert server.handler.received().count("u0@example.test") == 0   # still held
    assert len(d.issues("notice")) == 1


def test_unresolved_units_in_send_mode_mailed_once(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2], extra='on_unresolved = "send";\n')
    d.start()
    d.drop("send.txt", issue_text([TEN[0][0], "外地单位甲", "外地单位乙"], no=31))
    wait_for(lambda: len(to_admin(server)) == 1, what="unresolved notice")
    d.wait_states(("delivered",), issue=1, count=1)
    assert "u0@example.test" in server.handler.received()
    assert_small_auto_notice(to_admin(server)[0], "units not sent", "外地单位甲", "外地单位乙",
                             "send.txt")
    restart(d)
    time.sleep(1)
    assert len(to_admin(server)) == 1


def test_alert_mailed_once(fault_server, distd, tmp_path):
    server = fault_server()
    server.add("AUTH", *["535 5.7.8 bad credentials"] * 3)
    secret, login = smtp_login(tmp_path, "pw", username="u@example.test")
    d = distd(server, recipients=TEN[:2],
              smtp_extra=login,
              retry="retry = { min_backoff = 1; max_backoff = 1; lifetime = 600; };")
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:2]]))
    wait_for(lambda: d.alert_kinds() == ["auth"], what="auth alert")
    # the notice goes through the same relay: it arrives once the relay accepts again
    wait_for(lambda: len(to_admin(server)) == 1, timeout=30, what="alert notice")
    d.wait_states(("delivered",), count=3)
    assert_small_auto_notice(to_admin(server)[0], "Alert", "refused our credentials")
    time.sleep(1.5)
    assert len(to_admin(server)) == 1
    assert len(d.issues("notice")) == 1


def test_failure_report_is_auto_submitted_and_not_a_notice(smtp_server, distd):
    server = smtp_server()
    server.handler.rcpt_replies["u1@example.test"] = ["550 5.1.1 no such user"]
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:2]], no=41))
    wait_for(lambda: len(to_admin(server)) == 1, what="failure report")
    assert_small_auto_notice(to_admin(server)[0], "Delivery failure report", "u1@example.test")
    time.sleep(1)
    assert len(to_admin(server)) == 1
    assert [i["kind"] for i in d.issues() if i["kind"] != "bulletin"] == ["report"]
