"""distctl against a real daemon and the TLS test relay."""

import json
import os
import sqlite3
import unicodedata

from conftest import ROOT, wait_for
from test_delivery import TEN, issue_text, demo_conf
from conftest import SEED_CAPITAL, SEED_MENTOUGOU

GOLDEN = ROOT / "tests" / "data" / "status.golden"


def width(line):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def ctl_json(d, *args):
    r = d.ctl(*args, "--json")
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None


def test_status_before_and_after_delivery(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:3])
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:3]]))
    d.wait_states(("delivered",), count=3)
    rc, s = ctl_json(d, "status")
    assert rc == 0
    assert s["daemon"]["running"] is True and s["daemon"]["pid"] == d.proc.pid
    assert s["counts"]["delivered"] == 3 and s["counts"]["failed"] == 0
    assert s["alerts"] == []
    issue = s["issues"][0]
    assert issue["title"] == "工作简报" and issue["issue_no"] == 7 and issue["state"] == "done"
    assert issue["tiers"] == [{"tier": "报", "total": 3, "delivered": 3, "deferred": 0, "failed": 0}]
    text = d.ctl("status", env=dict(os.environ, NO_COLOR="1"))
    assert text.returncode == 0
    assert "running (pid" in text.stdout and "报 3/3" in text.stdout
    assert "\033[" not in text.stdout
    # fits 80 columns by display width (the config path is the admin's)
    assert max(width(l) for l in text.stdout.splitlines() if not l.startswith("config:")) <= 80

    rc, show = ctl_json(d, "show", str(issue["id"]))
    assert rc == 0
    assert show["message_id"].startswith("distd.")
    assert [r["state"] for r in show["recipients"]] == ["delivered"] * 3
    assert show["recipients"][0]["last_code"] == 250
    assert show["recipients"][0]["tier"] == "报" and show["recipients"][0]["unit"] == "单位0"

    r = d.ctl("log", "-n", "2")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2
    assert "status=sent" in r.stdout


def test_status_with_deferred_and_alert_needs_attention(smtp_server, distd):
    server = smtp_server()
    server.handler.rcpt_replies["u1@example.test"] = ["451 4.7.1 greylisted"] * 50
    d = distd(server, recipients=TEN[:2],
              retry="retry = { min_backoff = 60; max_backoff = 60; lifetime = 600; };")
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:2]]))
    wait_for(lambda: "deferred" in d.states().values(), what="deferred")
    rc, s = ctl_json(d, "status")
    assert s["counts"]["deferred"] == 1
    assert s["oldest_deferred"]["address"] == "u1@example.test"
    assert s["oldest_deferred"]["last_reply"] == "451 4.7.1 greylisted"
    r = d.ctl("status")
    assert "oldest deferred: u1@example.test" in r.stdout
    assert "~1" in r.stdout
    rc, shown = ctl_json(d, "show", "1", "--state", "deferred")
    assert [x["address"] for x in shown["recipients"]] == ["u1@example.test"]
    assert shown["recipients"][0]["next_attempt"] is not None

    # retry makes it due now: the relay sees a second attempt at once
    server.handler.rcpt_replies["u1@example.test"] = []
    r = d.ctl("retry", "1")
    assert r.returncode == 0 and "retry: 1 recipient" in r.stdout
    d.wait_states(("delivered",), count=2)
    assert sorted(server.handler.received()) == ["u0@example.test", "u1@example.test"]


def test_held_issue_is_released_after_the_directory_is_fixed(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text(["单位0", "新设单位"]))
    wait_for(lambda: d.query("SELECT state FROM issues") == [("held",)], what="held")
    rc, s = ctl_json(d, "status")
    assert rc == 3
    assert s["alerts"][0]["kind"] == "held"
    assert "报: 新设单位" in s["alerts"][0]["text"]
    assert "issue 1 held" in d.ctl("status").stdout
    assert server.messages == []

    # the admin adds the missing body and reloads; release routes again
    text = d.conf.read_text().replace(
        '{ name = "单位1"; address = "u1@example.test"; }',
        '{ name = "单位1"; address = "u1@example.test"; },\n'
        '  { name = "新设单位"; address = "new@example.test"; }')
    d.conf.write_text(text)
    assert d.ctl("reload").returncode == 0
    r = d.ctl("release", "1")
    assert r.returncode == 0, r.stderr
    assert "routed again: 2 recipients" in r.stdout
    d.wait_states(("delivered",), count=2)
    assert sorted(server.handler.received()) == ["new@example.test", "u0@example.test"]
    msg = server.messages[0].parsed()
    assert "new@example.test" in str(msg["To"])
    assert d.ctl("status").returncode == 0


def test_hold_release_cancel_resend(smtp_server, distd):
    server = smtp_server()
    server.handler.rcpt_replies["u0@example.test"] = ["451 try later"]
    d = distd(server, recipients=TEN[:3],
              retry="retry = { min_backoff = 60; max_backoff = 60; lifetime = 600; };")
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:3]], no=1))
    wait_for(lambda: "deferred" in d.states().values(), what="deferred")
    assert d.ctl("hold", "1").returncode == 0
    assert d.states(1)["u0@example.test"] == "held"
    assert d.ctl("retry", "all").returncode == 0   # held recipients do not move
    assert d.ctl("hold", "1").returncode == 1       # already held
    r = d.ctl("release", "1")
    assert r.returncode == 0 and "release: 1 recipient" in r.stdout
    d.wait_states(("delivered",), count=3)
    assert server.handler.received().count("u0@example.test") == 1

    # resend one tier to one address: the server gets it a second time
    r = d.ctl("resend", "1", "--tier", "报", "--to", "u2@example.test")
    assert r.returncode == 0 and "resend: 1 recipient" in r.stdout
    wait_for(lambda: server.handler.received().count("u2@example.test") == 2, what="resend")
    assert d.query("SELECT COUNT(*) FROM attempts WHERE status = 'resend'") == [(1,)]

    # cancel a second issue before it can go out
    server.handler.rcpt_replies["u1@example.test"] = ["451 later"] * 10
    d.drop("b.txt", issue_text([TEN[1][0]], no=2))
    wait_for(lambda: d.query("SELECT state FROM recipients WHERE issue = 2") == [("deferred",)],
             what="deferred 2")
    r = d.ctl("cancel", "2")   # not a terminal: no question asked
    assert r.returncode == 0
    assert d.query("SELECT state FROM issues WHERE id = 2") == [("cancelled",)]
    assert d.query("SELECT state FROM recipients WHERE issue = 2") == [("cancelled",)]
    assert d.ctl("cancel", "2").returncode == 1
    assert d.ctl("show", "99").returncode == 1
    assert d.ctl("show").returncode == 2
    assert d.ctl("frobnicate").returncode == 2


def test_daemon_down(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:2]], no=1))
    d.wait_states(("delivered",), count=2)
    d.stop()
    rc, s = ctl_json(d, "status")
    assert rc == 3 and s["daemon"]["running"] is False
    assert "not running" in d.ctl("status").stdout
    # a change made while it is down takes effect when it starts
    r = d.ctl("resend", "1")
    assert "takes effect when it starts" in r.stdout
    assert d.ctl("reload").returncode == 1
    d.start()
    wait_for(lambda: len(server.handler.received()) == 4, what="resend after start")


def test_unreadable_queue_and_missing_queue(distd, tmp_path, binaries):
    d = distd(None, recipients=TEN[:1])
    r = d.ctl("status")
    assert r.returncode == 1
    assert "no queue there yet" in r.stderr or "unable to open" in r.stderr


def test_check_preflight(smtp_server, distd, tmp_path):
    server = smtp_server(auth=("bulletin@example.test", "right"))
    secret = tmp_path / "secret"
    secret.write_text("right\n")
    secret.chmod(0o600)
    d = distd(server, recipients=TEN[:1],
              smtp_extra=f'username = "bulletin@example.test"; password_file = "{secret}";')
    r = d.ctl("check")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert [l.split()[0] for l in lines] == ["relay", "dns", "connect", "tls", "ehlo", "auth", "quit"]
    assert "subject CN = localhost" in r.stdout
    assert "AUTH" in r.stdout
    assert "auth     ok: bulletin@example.test" in r.stdout
    assert server.messages == []

    secret.write_text("wrong\n")
    r = d.ctl("check")
    assert r.returncode == 1
    assert "auth     FAILED: 535" in r.stdout

    # an untrusted certificate: the TLS step names the failure
    d.conf.write_text(d.conf.read_text().replace(f'ca_file = "{server.cafile}";', ""))
    r = d.ctl("check")
    assert r.returncode == 1
    assert "tls      FAILED:" in r.stdout and "certificate" in r.stdout


def test_status_golden(smtp_server, distd):
    """distctl status on a fixed queue, compared with tests/data/status.golden."""
    server = smtp_server()
    server.handler.rcpt_replies["office@wmb.example.test"] = ["550 5.1.1 no such mailbox"]
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.wait_states(count=41, issue=1)
    wait_for(lambda: d.query("SELECT COUNT(*) FROM issues WHERE kind = 'report'")[0][0] == 1,
             what="report")
    d.wait_states(count=42)
    d.drop("mtg.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(count=50)
    d.stop()
    con = sqlite3.connect(d.db)
    con.execute("UPDATE issues SET received = 1591925401 + id * 60")
    con.execute("UPDATE alerts SET since = 1591925401")
    con.commit()
    con.close()
    env = dict(os.environ, TZ="Asia/Shanghai", NO_COLOR="1")
    r = d.ctl("status", env=env)
    assert r.returncode == 3   # a failed recipient today, daemon down
    text = r.stdout.replace(str(d.conf), "CONF").replace(str(server.port), "PORT")
    if os.environ.get("DISTD_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_log_follows(smtp_server, distd):
    import subprocess
    import time
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text([TEN[0][0]], no=1))
    d.wait_states(("delivered",), count=1)
    follower = subprocess.Popen([d.binaries["distctl"], "-c", str(d.conf), "log", "-f", "-n", "5"],
                                stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        d.drop("b.txt", issue_text([TEN[1][0]], no=2))
        d.wait_states(("delivered",), count=2)
        time.sleep(1.5)
    finally:
        follower.terminate()
        out, _ = follower.communicate(timeout=10)
    lines = out.splitlines()
    assert any("u0@example.test" in l for l in lines)   # the history first
    assert any("u1@example.test" in l and "status=sent" in l for l in lines)   # then new ones
    assert follower.returncode == 0


def test_release_never_sends_a_classified_issue(smtp_server, distd):
    # an issue held by an older distd that did not know its mark
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    d.start()
    d.drop("a.txt", issue_text(["单位0", "新设单位"]))
    wait_for(lambda: d.query("SELECT state FROM issues") == [("held",)], what="held")
    d.stop()
    con = sqlite3.connect(d.db)
    con.execute("UPDATE issues SET text = '密级：秘密' || char(10) || text WHERE id = 1")
    con.commit()
    con.close()
    r = d.ctl("release", "1")
    assert r.returncode == 1
    assert "is not released" in r.stderr and "密级：秘密" in r.stderr
    assert d.query("SELECT state FROM issues") == [("held",)]
    assert server.messages == []
