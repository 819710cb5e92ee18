"""distctl against a real daemon and the TLS test relay."""

import json
import os
import pathlib
import sqlite3
import subprocess
import unicodedata

import pytest

from conftest import ROOT, both_backends, run, smtp_login, wait_for
from test_delivery import TEN, issue_text, demo_conf
from conftest import SEED_CAPITAL, SEED_MENTOUGOU

GOLDEN = ROOT / "tests" / "data" / "status.golden"
SHOW_GOLDEN = ROOT / "tests" / "data" / "show.golden"
SHOW3_GOLDEN = ROOT / "tests" / "data" / "show-mentougou.golden"


def width(line):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def ctl_json(d, *args):
    r = d.ctl(*args, "--json")
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None


@both_backends
def test_status_before_and_after_delivery(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:3])
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:3]]))
    d.wait_states(("delivered",), count=3)
    # an issue is marked done in a later loop turn than its last recipient
    wait_for(lambda: d.issue_state(1) == "done", what="the issue done")
    rc, s = ctl_json(d, "status")
    assert rc == 0
    assert s["daemon"]["running"] is True and s["daemon"]["pid"] == d.proc.pid
    assert s["counts"]["delivered"] == 3 and s["counts"]["failed"] == 0
    assert s["alerts"] == []
    issue = s["issues"][0]
    assert issue["title"] == "工作简报" and issue["issue_no"] == 7 and issue["state"] == "done"
    assert issue["tiers"] == [{"tier": "报", "total": 3, "delivered": 3, "deferred": 0, "failed": 0,
                               "bounced": 0, "receipt": 0, "confirmed": 0}]
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


@both_backends
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


@both_backends
def test_held_issue_is_released_after_the_directory_is_fixed(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text(["单位0", "新设单位"]))
    wait_for(lambda: list(d.issue_states("bulletin").values()) == ["held"], what="held")
    rc, s = ctl_json(d, "status")
    assert rc == 3
    assert s["alerts"][0]["kind"] == "held"
    assert "报: 新设单位" in s["alerts"][0]["text"]
    assert "issue 1 held" in d.ctl("status").stdout
    # nothing goes out but the admin's notice that it is held
    wait_for(lambda: len(server.messages) == 1, what="held notice")
    assert server.messages[0].rcpt_tos == ["postmaster@example.test"]

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
    assert sorted(server.handler.received()) == ["new@example.test", "postmaster@example.test",
                                                 "u0@example.test"]
    msg = server.messages[1].parsed()
    assert "new@example.test" in str(msg["To"])
    assert d.ctl("status").returncode == 0


@both_backends
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
    assert [e["status"] for e in d.log_entries()].count("resend") == 1

    # cancel a second issue before it can go out
    server.handler.rcpt_replies["u1@example.test"] = ["451 later"] * 10
    d.drop("b.txt", issue_text([TEN[1][0]], no=2))
    wait_for(lambda: list(d.states(2).values()) == ["deferred"], what="deferred 2")
    r = d.ctl("cancel", "2")   # not a terminal: no question asked
    assert r.returncode == 0
    assert d.issue_state(2) == "cancelled"
    assert list(d.states(2).values()) == ["cancelled"]
    assert d.ctl("cancel", "2").returncode == 1
    assert d.ctl("show", "99").returncode == 1
    assert d.ctl("show").returncode == 2
    assert d.ctl("frobnicate").returncode == 2


@both_backends
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


@both_backends
def test_status_before_the_first_start(distd):
    """No queue yet: status says so and exits 3 (daemon down), as the manual says."""
    d = distd(None, recipients=TEN[:1])
    r = d.ctl("status")
    assert r.returncode == 3, r.stderr
    assert "not running" in r.stdout and "none yet" in r.stdout
    if d.state is None:
        assert str(d.db) in r.stdout.replace("\n         ", "")
    rc, s = ctl_json(d, "status")
    assert rc == 3 and s["queue_exists"] is False and s["issues"] == []
    assert s["counts"]["delivered"] == 0 and s["daemon"]["running"] is False
    r = d.ctl("show", "1")
    assert r.returncode == 1 and "no queue there yet" in r.stderr


def test_check_preflight(smtp_server, distd, tmp_path):
    server = smtp_server(auth=("bulletin@example.test", "right"))
    secret, login = smtp_login(tmp_path, "right")
    d = distd(server, recipients=TEN[:1],
              smtp_extra=login)
    r = d.ctl("check")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert [l.split()[0] for l in lines] == ["relay", "dns", "connect", "tls", "ehlo", "auth",
                                            "mail", "rcpt", "rset", "quit"]
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


@both_backends
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


@pytest.mark.parametrize("queue_backend", ["postgresql"], indirect=True)
def test_server_queue_is_named_never_by_its_connection_string(smtp_server, distd):
    """A PostgreSQL queue shows as its database and host (pg_name()), never as
    the connection string, which may carry a user or more (issue 16)."""
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    said = []

    def ctl(*args):
        r = d.ctl(*args)
        said.append((args, r.stdout + r.stderr))

    r = run([d.binaries["distd"], "-c", d.conf, "--check-config"])
    assert r.returncode == 0, r.stderr
    said.append((("distd --check-config",), r.stdout + r.stderr))
    ctl("status")                       # before the first start
    ctl("--json", "status")
    ctl("show", "1")
    d.start()
    d.drop("a.txt", issue_text([TEN[0][0]]))
    d.wait_states(("delivered",), count=1)
    for args in (("status",), ("--json", "status"), ("show", "1"), ("show", "9"),
                 ("log",), ("hold", "1"), ("reload",)):
        ctl(*args)
    # a broken file: distctl finds the queue in it all the same, and says so
    good = d.conf.read_text()
    d.conf.write_text("smtp = {{\n" + good)
    ctl("status")
    d.conf.write_text(good)
    d.stop()
    ctl("status")                       # the daemon down
    ctl("--json", "status")
    said.append((("distd's stderr",), d.stderr_text()))
    leaks = [" ".join(args) for args, out in said if d.state in out or "user=" in out]
    assert leaks == [], f"{leaks}:\n" + "\n".join(out for _, out in said)


# ---- steering per tier and per address ---------------------------------------

TIERED = ("工作简报\n\n第 8 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n正文。\n\n"
          "报：单位0，单位1\n送：单位2，单位3\n发：单位4，单位5\n")


def attempts_of(d, address):
    return d.recipient(address)["attempts"]


@both_backends
def test_tier_on_every_steering_command(smtp_server, distd):
    server = smtp_server()
    for _, a in TEN[:6]:
        server.handler.rcpt_replies[a] = ["451 4.7.1 try later"] * 100
    d = distd(server, recipients=TEN[:6],
              retry="retry = { min_backoff = 600; max_backoff = 600; lifetime = 6000; };")
    d.start()
    d.drop("t.txt", TIERED)
    wait_for(lambda: list(d.states().values()).count("deferred") == 6, what="6 deferred")

    # hold one tier: only its recipients wait, the issue stays active
    r = d.ctl("hold", "1", "--tier", "送")
    assert r.returncode == 0 and "hold: 2 recipients in tier 送" in r.stdout, r.stderr
    st = d.states(1)
    assert [st[f"u{i}@example.test"] for i in range(6)] == \
        ["deferred", "deferred", "held", "held", "deferred", "deferred"]
    assert d.issue_state(1) == "active"

    # who has not got it, per tier
    rc, shown = ctl_json(d, "show", "1", "--pending", "--tier", "送")
    assert rc == 0
    assert [(x["address"], x["state"]) for x in shown["recipients"]] == \
        [("u2@example.test", "held"), ("u3@example.test", "held")]
    rc, shown = ctl_json(d, "show", "1", "--pending")
    assert len(shown["recipients"]) == 6

    # retry one tier: only its recipients are tried again at once
    r = d.ctl("retry", "1", "--tier=发")
    assert r.returncode == 0 and "retry: 2 recipients in tier 发" in r.stdout
    wait_for(lambda: attempts_of(d, "u4@example.test") == 2 and
             attempts_of(d, "u5@example.test") == 2, what="发 tried again")
    assert attempts_of(d, "u0@example.test") == 1
    assert attempts_of(d, "u2@example.test") == 1

    # release that tier; cancel another
    r = d.ctl("release", "1", "--tier", "送")
    assert r.returncode == 0 and "release: 2 recipients in tier 送" in r.stdout, r.stderr
    assert d.states(1)["u2@example.test"] != "held"
    r = d.ctl("cancel", "1", "--tier", "报")
    assert r.returncode == 0 and "cancel: 2 recipients in tier 报" in r.stdout
    st = d.states(1)
    assert st["u0@example.test"] == st["u1@example.test"] == "cancelled"
    assert "cancelled" not in (st["u2@example.test"], st["u4@example.test"])
    assert d.issue_state(1) == "active"

    # a tier the issue does not have is an error naming the ones it has
    r = d.ctl("hold", "1", "--tier", "抄")
    assert r.returncode == 1 and "no recipients in tier 抄" in r.stderr
    assert "报, 送, 发" in r.stderr

    # the whole issue held, then one tier released: it goes out, the other waits
    for i in range(2, 6):
        server.handler.rcpt_replies[f"u{i}@example.test"] = []
    r = d.ctl("hold", "1")
    assert r.returncode == 0 and "hold: 4 recipients" in r.stdout, r.stderr
    assert d.issue_state(1) == "held"
    r = d.ctl("release", "1", "--tier", "发")
    assert r.returncode == 0 and "release: 2 recipients in tier 发" in r.stdout, r.stderr
    wait_for(lambda: d.states(1)["u4@example.test"] == d.states(1)["u5@example.test"] ==
             "delivered", what="发 delivered")
    assert d.states(1)["u2@example.test"] == d.states(1)["u3@example.test"] == "held"

    # the rest goes out; resend one tier: exactly its two addresses again
    assert d.ctl("release", "1").returncode == 0
    wait_for(lambda: sorted(d.states(1).values()) ==
             ["cancelled"] * 2 + ["delivered"] * 4, what="delivered")
    before = server.handler.received()
    r = d.ctl("resend", "1", "--tier", "发")
    assert r.returncode == 0 and "resend: 2 recipients in tier 发" in r.stdout
    wait_for(lambda: len(server.handler.received()) == len(before) + 2, what="resend 发")
    assert sorted(server.handler.received()[len(before):]) == \
        ["u4@example.test", "u5@example.test"]
    rc, shown = ctl_json(d, "show", "1", "--pending")
    assert shown["recipients"] == []
    assert "(every recipient has got it)" in d.ctl("show", "1", "--pending").stdout


@both_backends
def test_resend_to_a_corrected_address(smtp_server, distd):
    server = smtp_server()
    server.handler.rcpt_replies["u1@example.test"] = ["550 5.1.1 no such mailbox"]
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:2]]))
    d.wait_states(count=2, issue=1)
    rc, shown = ctl_json(d, "show", "1", "--pending")
    assert [(x["address"], x["state"]) for x in shown["recipients"]] == \
        [("u1@example.test", "failed")]

    # the failure report names the precise commands, not a resend to everyone
    wait_for(lambda: any("postmaster@example.test" in m.rcpt_tos for m in server.messages),
             what="failure report")
    report = next(m for m in server.messages if "postmaster@example.test" in m.rcpt_tos)
    body = report.parsed().get_body(("plain",)).get_content()
    assert "distctl resend 1 --to NEW-ADDRESS --replace u1@example.test" in body
    assert "distctl show 1 --pending" in body
    assert "distctl resend 1\n" not in body

    r = d.ctl("resend", "1", "--to", "fixed@example.test", "--replace", "u1@example.test")
    assert r.returncode == 0, r.stderr
    assert "<fixed@example.test> replaces <u1@example.test>" in r.stdout
    wait_for(lambda: "fixed@example.test" in server.handler.received(), what="correction sent")
    d.wait_states(count=3, issue=1)
    rows = [(x["address"], x["tier"], x["unit"], x["name"], x["state"], x["replaced_by"])
            for x in d.recipients(1)]
    assert rows == [("u0@example.test", "报", "单位0", "单位0", "delivered", None),
                    ("u1@example.test", "报", "单位1", "单位1", "failed", "fixed@example.test"),
                    ("fixed@example.test", "报", "单位1", "单位1", "delivered", None)]
    rc, shown = ctl_json(d, "show", "1")
    old = next(x for x in shown["recipients"] if x["address"] == "u1@example.test")
    assert old["replaced_by"] == "fixed@example.test"
    text = d.ctl("show", "1").stdout
    assert "replaced" in text and "→ replaced by fixed@example.test" in text
    rc, shown = ctl_json(d, "show", "1", "--pending")
    assert shown["recipients"] == []
    rc, s = ctl_json(d, "status")
    assert s["counts"]["failed"] == 0 and s["counts"]["delivered"] >= 3
    assert [e["status"] for e in d.log_entries()].count("replaced") == 1
    assert u0_sent_once(server)

    # the same correction twice, or an address that is not there, is refused
    r = d.ctl("resend", "1", "--to", "other@example.test", "--replace", "u1@example.test")
    assert r.returncode == 1 and "no recipient <u1@example.test>" in r.stderr
    r = d.ctl("resend", "1", "--to", "fixed@example.test", "--replace", "u0@example.test")
    assert r.returncode == 1 and "already a recipient" in r.stderr
    assert d.ctl("resend", "1", "--replace", "u0@example.test").returncode == 2

    # --to an address of the issue sends it again; a new one is added to the tier
    r = d.ctl("resend", "1", "--to", "u0@example.test")
    assert r.returncode == 0 and "resend: 1 recipient" in r.stdout
    r = d.ctl("resend", "1", "--to", "extra@example.test", "--tier", "报")
    assert r.returncode == 0 and "<extra@example.test> added" in r.stdout
    wait_for(lambda: server.handler.received().count("u0@example.test") == 2 and
             "extra@example.test" in server.handler.received(), what="resend and added")


def u0_sent_once(server):
    return server.handler.received().count("u0@example.test") == 1


# ---- a broken configuration ---------------------------------------------------

@both_backends
def test_status_and_show_survive_a_typo_and_reload_refuses_it(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:2]]))
    d.wait_states(("delivered",), count=2)
    good = d.conf.read_text()
    lines = good.splitlines()
    typo = next(i for i, l in enumerate(lines) if l.startswith("sender = {")) + 1
    lines[typo - 1] = lines[typo - 1].replace("sender = {", "sender = {{")
    d.conf.write_text("\n".join(lines) + "\n")

    r = d.ctl("status")
    assert r.returncode == 3, r.stderr         # an invalid configuration needs attention
    assert f"{d.conf}:{typo}:" in r.stderr     # says what is wrong, file:line
    assert "running (pid" in r.stdout and "报 2/2" in r.stdout
    assert f"invalid: {d.conf}:{typo}" in r.stdout.replace("\n           ", "")
    rc, s = ctl_json(d, "status")
    assert s["daemon"]["running"] is True and s["counts"]["delivered"] == 2
    assert s["config_error"].startswith(f"{d.conf}:{typo}:")
    r = d.ctl("show", "1")
    assert r.returncode == 0 and "u1@example.test" in r.stdout
    assert f"{d.conf}:{typo}:" in r.stderr
    # steering needs a valid file: it says so instead of guessing
    r = d.ctl("hold", "1")
    assert r.returncode == 1 and "fix it first" in r.stderr

    # reload: distd refuses the file, keeps running, and distctl says why
    # an unbalanced brace above the paths: they are still found
    d.conf.write_text("smtp = {{\n" + good)
    r = d.ctl("status")
    assert r.returncode == 3 and f"{d.conf}:1:" in r.stderr and "报 2/2" in r.stdout
    assert f" and the socket {d.socket}" in r.stderr
    if d.state is None:     # a server queue's name: test_server_queue_is_named_never_…
        assert f"the queue {d.db} and the socket" in r.stderr

    r = d.ctl("reload")
    assert r.returncode == 1
    assert "refused" in r.stderr and f"{d.conf}:1" in r.stderr
    assert d.proc.poll() is None
    d.conf.write_text(good)
    r = d.ctl("reload")
    assert r.returncode == 0 and "reloaded" in r.stdout


# ---- CLI conventions ------------------------------------------------------------

def test_version_and_option_spellings(smtp_server, distd, binaries):
    import re
    version = re.search(r"^VERSION\s*=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    for prog in ("distd", "distctl"):
        r = subprocess.run([binaries[prog], "--version"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout == f"{prog} {version}\n"

    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text([n for n, _ in TEN[:2]]))
    d.wait_states(("delivered",), count=2)
    ctl = binaries["distctl"]

    def run(*args):
        return subprocess.run([ctl, *args], capture_output=True, text=True, timeout=30)

    conf = str(d.conf)
    for args in (["--config=" + conf, "status"], ["-c", conf, "status"], ["-c" + conf, "status"],
                 ["status", "--config", conf], ["-c", conf, "--", "status"]):
        r = run(*args)
        assert r.returncode == 0 and "running (pid" in r.stdout, (args, r.stderr)
    for args in (["log", "-n1"], ["log", "-n", "1"], ["log", "--lines=1"], ["--json", "log", "-n1"]):
        r = run("-c", conf, *args)
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 1, (args, r.stderr)
    r = run("-c", conf, "show", "1", "--state=delivered", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["recipients"]) == 2
    r = run("-c", conf, "show", "--tier=报", "--", "1")
    assert r.returncode == 0 and "u0@example.test" in r.stdout
    assert run("-c", conf, "status", "--tier", "报").returncode == 2   # status takes none
    assert run("-c", conf, "show", "1", "--frobnicate").returncode == 2
    assert run("-c", conf, "log", "-nx").returncode == 2
    assert run("-c", conf, "show", "1", "--pending", "--state", "failed").returncode == 2
    r = run("-c", conf, "show", "1", "--state=delivred")   # a typo is no state, not "nobody"
    assert r.returncode == 2 and "not a recipient state (queued, sending," in r.stderr
    r = run("--help")
    assert r.returncode == 0 and max(width(l) for l in r.stdout.splitlines()) <= 80


# ---- 80 columns -------------------------------------------------------------------

def test_status_and_show_golden_at_80_columns(smtp_server, distd):
    """Both seeds delivered, one address refused: status and show as an admin sees them."""
    server = smtp_server()
    server.handler.rcpt_replies["office@wmb.example.test"] = ["550 5.1.1 no such mailbox"]
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.wait_states(count=41, issue=1)
    wait_for(lambda: len(d.issues("report")) == 1, what="report")
    d.wait_states(count=42)
    d.drop("mtg.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(count=50)
    d.stop()
    # the golden files need fixed times and Message-IDs, which only a write
    # into the stored rows can give: raw SQL
    con = sqlite3.connect(d.db)
    con.execute("UPDATE issues SET received = 1591925401 + id * 60")
    con.execute("UPDATE alerts SET since = 1591925401")
    con.execute("UPDATE issues SET message_id = 'distd.' || id || '.0@example.test'")
    con.commit()
    con.close()
    env = dict(os.environ, TZ="Asia/Shanghai", NO_COLOR="1")
    for args, golden, rc in ((["status"], GOLDEN, 3), (["show", "1"], SHOW_GOLDEN, 0),
                             (["show", "3"], SHOW3_GOLDEN, 0)):
        # -c relative to the spool: the golden files do not depend on pytest's tmp path
        r = run([d.binaries["distctl"], "-c", d.conf.name, *args], env=env, cwd=d.root)
        assert r.returncode == rc, r.stderr
        # every line fits 80 columns by display width (Chinese is 2 wide)
        assert max(width(l) for l in r.stdout.splitlines()) <= 80, r.stdout
        text = r.stdout.replace(str(server.port), "PORT")
        if os.environ.get("DISTD_UPDATE_GOLDEN"):
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8")
    # the legend is the manual's
    assert "✗ failed" in GOLDEN.read_text(encoding="utf-8")
    assert "\\[u2717] failed" in (ROOT / "man" / "distctl.1").read_text()


# ---- admins in the daemon's group ----------------------------------------------

import contextlib
import grp
import pwd
import secrets
import shutil
import tempfile

from conftest import Distd


@contextlib.contextmanager
def throwaway_accounts():
    """A group of the test's own, a user in it and a user outside it; removed after."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        import pytest
        pytest.skip("needs root, useradd and setpriv to create throw-away accounts")
    tag = secrets.token_hex(3)
    group, admin, outsider = f"dtg{tag}", f"dta{tag}", f"dto{tag}"
    made = []
    try:
        subprocess.run(["groupadd", "--system", group], check=True)
        made.append(("groupdel", group))
        for user, extra in ((admin, ["-G", group]), (outsider, [])):
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", *extra, user], check=True)
            made.insert(0, ("userdel", user))
        yield group, admin, outsider
    finally:
        for cmd, name in made:
            subprocess.run([cmd, name], capture_output=True)


def as_user(user, d, *args):
    return run(["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
                "--init-groups", d.binaries["distctl"], "-c", d.conf, *args])


def test_group_admin_runs_every_steering_command(smtp_server, binaries):
    server = smtp_server()
    server.handler.rcpt_replies["u1@example.test"] = ["451 4.7.1 later"] * 1000
    server.handler.rcpt_replies["u3@example.test"] = ["550 5.1.1 no such mailbox"]
    base = pathlib.Path(tempfile.mkdtemp(prefix="distd-group-", dir="/tmp"))
    with throwaway_accounts() as (group, admin, outsider):
        try:
            base.chmod(0o755)
            # the state directory as installed: setgid, group-writable, the daemon's group
            root = base / "state"
            root.mkdir()
            os.chown(root, 0, grp.getgrnam(group).gr_gid)
            root.chmod(0o2770)
            d = Distd(binaries, root, server)
            # the SMTP password as installed: root's alone (the service gets it
            # through LoadCredential); check says so to an admin in the group
            secret = base / "smtp.secret"
            secret.write_text("pw\n")
            secret.chmod(0o600)
            d.write_conf(TEN[:4],
                         smtp_extra=f'username = "bulletin@example.test"; '
                                    f'password_file = "{secret}";',
                         retry="retry = { min_backoff = 600; max_backoff = 600; lifetime = 6000; };")
            # the relay's CA where the admin can read it, as /etc/ssl is
            ca = base / "ca.pem"
            shutil.copy(server.cafile, ca)
            ca.chmod(0o644)
            d.conf.write_text(d.conf.read_text().replace(server.cafile, str(ca)))
            d.conf.chmod(0o640)
            d.start()
            d.drop("t.txt", TIERED.replace("单位4，单位5", "单位3").replace("单位2，单位3", "单位2"))
            wait_for(lambda: d.db.exists() and len(d.states()) == 4 and
                     "queued" not in d.states().values() and
                     "sending" not in d.states().values(), what="first attempts")
            for name in ("queue.db", "queue.db-wal", "queue.db-shm"):
                st = (root / name).stat()
                assert st.st_mode & 0o777 == 0o660, name
                assert st.st_gid == grp.getgrnam(group).gr_gid, name

            steps = [("status",), ("show", "1"), ("show", "1", "--pending"),
                     ("log", "-n", "5"),
                     ("hold", "1", "--tier", "报"), ("release", "1", "--tier", "报"),
                     ("hold", "1"), ("release", "1"),
                     ("retry", "1"), ("retry", "1", "--tier", "报"), ("retry", "all"),
                     ("resend", "1", "--to", "u9@example.test", "--replace", "u3@example.test"),
                     ("resend", "1", "--tier", "送"),
                     ("cancel", "1", "--tier", "报"),
                     ("reload",)]
            for step in steps:
                r = as_user(admin, d, *step)
                assert r.returncode in (0, 3), (step, r.stdout, r.stderr)
                assert "readonly" not in r.stderr and "denied" not in r.stderr, (step, r.stderr)
            r = as_user(admin, d, "check")
            assert r.returncode == 1
            assert r.stderr == (f"distctl: permission denied on {secret}: {secret} is root's "
                                "(mode 0600): run distctl as root\n")
            st = d.states(1)
            assert st["u0@example.test"] == "delivered" and st["u1@example.test"] == "cancelled"
            assert "u9@example.test" in st
            assert sum(x["replaced_by"] is not None for x in d.recipients(1)) == 1

            # with the daemon down the admin opens the queue alone: the files it
            # creates are the group's, 0660, and distd can use them afterwards
            d.stop()
            for name in ("queue.db-wal", "queue.db-shm"):
                assert not (root / name).exists()
            r = as_user(admin, d, "resend", "1", "--tier", "发")
            assert r.returncode == 0, r.stderr
            assert "takes effect when it starts" in r.stdout
            r = as_user(admin, d, "cancel", "1", "--yes")
            assert r.returncode == 0, r.stderr

            # a member facing a queue an older distd left 0640 is told the mode
            (root / "queue.db").chmod(0o640)
            r = as_user(admin, d, "retry", "1")
            assert r.returncode == 1
            assert f"although you are in the {group} group" in r.stderr and "0640" in r.stderr
            (root / "queue.db").chmod(0o660)

            # someone outside the group: one sentence naming the file and the group
            r = as_user(outsider, d, "status")
            assert r.returncode == 1
            assert r.stderr == (f"distctl: permission denied on {d.conf}: "
                                f"add yourself to the {group} group\n")
            readable = base / "outsider.conf"
            shutil.copy(d.conf, readable)
            readable.chmod(0o644)
            for args in (("status",), ("hold", "1")):
                r = run(["setpriv", f"--reuid={outsider}",
                         f"--regid={pwd.getpwnam(outsider).pw_gid}", "--init-groups",
                         binaries["distctl"], "-c", readable, *args])
                assert r.returncode == 1, (args, r.stdout)
                assert r.stderr.splitlines()[-1] == (
                    f"distctl: permission denied on {d.db}: add yourself to the {group} group")
                assert len(r.stderr.splitlines()) == 1, r.stderr
        finally:
            d.stop()
            shutil.rmtree(base, ignore_errors=True)


def test_release_never_sends_a_classified_issue(smtp_server, distd):
    # an issue held by an older distd that did not know its mark
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    d.start()
    d.drop("a.txt", issue_text(["单位0", "新设单位"]))
    wait_for(lambda: d.issue_state(1) == "held", what="held")
    d.stop()
    # the fault is a stored text an older distd let in: injected into the row
    con = sqlite3.connect(d.db)
    con.execute("UPDATE issues SET text = '密级：秘密' || char(10) || text WHERE id = 1")
    con.commit()
    con.close()
    r = d.ctl("release", "1")
    assert r.returncode == 1
    assert "is not released" in r.stderr and "密级：秘密" in r.stderr
    assert d.issue_state(1) == "held"
    # only the admin's notice that the issue was held went out
    assert all(m.rcpt_tos == ["postmaster@example.test"] for m in server.messages)
