"""The distribution record and retention, through the real daemon and the TLS test relay."""

import csv
import datetime
import io
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import unicodedata

import pytest

from conftest import SEED_CAPITAL, SEED_MENTOUGOU, Distd, run, wait_for
from test_delivery import demo_conf

UTC = dict(os.environ, TZ="UTC", NO_COLOR="1")


def width(line):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def ctl(d, *args):
    r = d.ctl(*args, env=UTC)
    assert r.returncode == 0, r.stderr
    return r.stdout


def ctl_bytes(d, *args):
    """distctl's output as bytes: CSV's CRLF must not be translated on the way."""
    r = subprocess.run([d.binaries["distctl"], "-c", str(d.conf), *args], env=UTC,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def issue_ids(d):
    return [i["id"] for i in d.issues()]


def records(d):
    folder = d.archive / "records"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_record_then_purge_then_daemon_retention(smtp_server, distd):
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(("delivered",), count=49)
    wait_for(lambda: set(d.issue_states().values()) == {"done"}, what="both issues done")
    by_subject = {m.parsed()["Subject"]: m for m in server.messages}
    capital_msg = by_subject["首都精神文明建设情况简报 第29期"]
    capital_issue, = [i for i in d.issues() if i["title"] == "首都精神文明建设情况简报"]
    capital, message_id = capital_issue["id"], capital_issue["message_id"]
    delivered = set(capital_msg.rcpt_tos)
    assert len(delivered) == 41

    # text: every address the relay took, the issue's facts, 80 columns
    text = ctl(d, "record", str(capital))
    assert "首都精神文明建设情况简报" in text and "第29期" in text and message_id in text
    for address in delivered:
        assert address in text
    assert "报   中央文明办" in text
    assert text.count("delivered") >= 41
    assert max(width(line) for line in text.splitlines()) <= 80

    # CSV: what a spreadsheet reads, one row per recipient, the relay's reply
    raw = ctl_bytes(d, "record", str(capital), "--csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") == 42 and raw.count(b"\n") == 42
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert {r["address"] for r in rows} == delivered
    assert {r["state"] for r in rows} == {"delivered"}
    assert {r["code"] for r in rows} == {"250"}
    assert all(r["accepted"].endswith("+0000") for r in rows)
    assert {r["tier"] for r in rows} == {"报", "送", "发"}
    by_address = {r["address"]: r for r in rows}
    assert by_address["office@wmb.example.test"]["unit"] == "中央文明办"

    # HTML: self-contained, escaped, for A4
    html = ctl_bytes(d, "record", str(capital), "--html").decode("utf-8")
    assert "size: A4" in html and "display: table-header-group" in html
    assert "<script" not in html and "http" not in html.split("<body>")[0]
    for address in delivered:
        assert address in html
    assert message_id.replace("<", "&lt;").replace(">", "&gt;") in html or message_id in html

    as_json = json.loads(ctl(d, "record", str(capital), "--json"))
    assert {r["address"] for r in as_json["recipients"]} == delivered
    assert all(r["last_code"] == 250 for r in as_json["recipients"])

    status = json.loads(ctl(d, "status", "--json"))
    assert status["counts"]["delivered"] == 49
    before_ids = issue_ids(d)
    assert len(before_ids) == 2

    # --dry-run says what would go and changes nothing; the newest issue
    # stays whatever its age (its id must never be handed out again)
    mentougou = max(before_ids)
    assert capital < mentougou
    tomorrow = (datetime.datetime.now(datetime.timezone.utc).date()
                + datetime.timedelta(days=1)).isoformat()
    out = ctl(d, "purge", "--before", tomorrow, "--dry-run")
    assert "1 issue would go" in out
    assert issue_ids(d) == before_ids and records(d) == []
    assert len(d.recipients()) == 49

    out = ctl(d, "purge", "--before", tomorrow)
    assert "1 issue left the queue" in out
    assert issue_ids(d) == [mentougou]
    assert d.show(capital) is None and d.log_entries(issue=capital) == []
    # that purge deletes the stored source row too is the point, and no
    # distctl output carries sources: raw SQL
    assert d.query("SELECT COUNT(*) FROM sources WHERE issue = ?", capital)[0][0] == 0
    files = records(d)
    assert len(files) == 2
    stem = [f for f in files if f.startswith(f"{capital}-") and f.endswith(".html")]
    assert len(stem) == 1
    # the filed record is the one distctl record printed, byte for byte
    assert (d.archive / "records" / stem[0]).read_text(encoding="utf-8") == html
    assert (d.archive / "records" / stem[0].replace(".html", ".csv")).read_bytes() == raw
    # the delivery log keeps every attempt
    assert sum("status=sent" in line for line in d.log_lines()) == 49

    # the totals count the live queue: what left is no longer counted
    status = json.loads(ctl(d, "status", "--json"))
    assert status["counts"]["delivered"] == 8
    assert [i["id"] for i in status["issues"]] == [mentougou]
    r = d.ctl("show", str(capital), env=UTC)
    assert r.returncode == 1 and f"no issue {capital}" in r.stderr
    r = d.ctl("record", str(capital), env=UTC)
    assert r.returncode == 1 and f"no issue {capital}" in r.stderr
    assert f"{capital}" not in [line.split()[0] for line in
                                ctl(d, "status").splitlines() if line.strip()]

    # the same bulletin again is a new issue now (its original has gone), with a new id
    d.drop("capital-again.txt", SEED_CAPITAL.read_bytes())
    wait_for(lambda: len(issue_ids(d)) == 2, what="the issue queued again")
    again = max(issue_ids(d))
    assert again > mentougou
    d.wait_states(("delivered",), count=41, issue=again)
    wait_for(lambda: d.issue_state(again) == "done", what="done")
    assert d.stop() == 0

    # distd's own pass at start, with a short retention: mentougou goes, the newest stays
    conf = d.conf.read_text(encoding="utf-8")
    assert conf.count('history = "400d";') == 1     # the example configuration's
    d.conf.write_text(conf.replace('history = "400d";', 'history = "1s";'), encoding="utf-8")
    time.sleep(2.1)
    d.start()
    wait_for(lambda: issue_ids(d) == [again], what="distd's retention pass")
    assert any(f.startswith(f"{mentougou}-") and f.endswith(".html") for f in records(d))
    wait_for(lambda: "retention: 1 finished issue" in d.stderr_text(), what="log line")
    status = json.loads(ctl(d, "status", "--json"))
    assert status["counts"]["delivered"] == 41
    assert d.ctl("purge", "--dry-run", env=UTC).stdout.startswith("purge: no finished issue")


def test_purge_refuses_bad_dates_and_a_queue_it_cannot_write(smtp_server, binaries):
    server = smtp_server()
    base = pathlib.Path(tempfile.mkdtemp(prefix="distd-purge-", dir="/tmp"))
    try:
        base.chmod(0o755)
        d = Distd(binaries, base / "d", server)
        d.root.mkdir()
        demo_conf(d, server)
        d.start()
        d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
        d.wait_states(("delivered",), count=8)
        r = d.ctl("purge", "--before", "2026-02-30", env=UTC)
        assert r.returncode == 2 and "expected a date as YYYY-MM-DD" in r.stderr
        r = d.ctl("purge", "--before", "tomorrow", env=UTC)
        assert r.returncode == 2
        assert d.stop() == 0
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            pytest.skip("needs root and setpriv to run distctl as another user")
        # someone who may read the queue but not write it: told so, nothing done
        d.root.chmod(0o755)
        ca = base / "ca.pem"    # the relay's CA where anyone may read it, as /etc/ssl is
        shutil.copy(server.cafile, ca)
        ca.chmod(0o644)
        d.conf.write_text(d.conf.read_text(encoding="utf-8").replace(server.cafile, str(ca)),
                          encoding="utf-8")
        d.conf.chmod(0o644)
        d.db.chmod(0o644)
        r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 binaries["distctl"], "-c", d.conf, "purge", "--before", "2999-01-01"])
        assert r.returncode == 1
        assert f"distctl: permission denied on {d.db}" in r.stderr
        assert len(issue_ids(d)) == 1 and records(d) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_retention_setting_is_checked(binaries, tmp_path):
    d = Distd(binaries, tmp_path)
    d.write_conf([("单位0", "u0@example.test")])
    base = d.conf.read_text(encoding="utf-8")
    for value, ok in (('"400d"', True), ('"12h"', True), ("86400", True), ('"never"', True),
                      ("0", True), ('"400x"', False), ('"-1d"', False), ("-5", False),
                      ('"d"', False), ('"99999999d"', False)):
        d.conf.write_text(base + f"\nretention = {{ history = {value}; }};\n",
                          encoding="utf-8")
        r = run([binaries["distd"], "-c", d.conf, "--check-config"])
        assert (r.returncode == 0) == ok, (value, r.stdout, r.stderr)
        if not ok:
            assert "retention.history" in r.stderr, (value, r.stderr)
    d.conf.write_text(base + "\nretention = { keep = 5; };\n", encoding="utf-8")
    r = run([binaries["distd"], "-c", d.conf, "--check-config"])
    assert r.returncode == 1 and "retention" in r.stderr
    # with retention off, purge wants to be told how far back
    d.conf.write_text(base + '\nretention = { history = "never"; };\n', encoding="utf-8")
    r = d.ctl("purge", "--dry-run")
    assert r.returncode == 2 and "--before" in r.stderr


def test_retention_adds_one_wakeup_a_day(smtp_server, distd):
    """Idle, distd sleeps until the next retention pass: a day, not less."""
    if not shutil.which("strace"):
        pytest.skip("needs strace to watch the daemon's waits")
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    time.sleep(1.0)
    trace = subprocess.Popen(["timeout", "3", "strace", "-e", "trace=epoll_wait", "-p",
                              str(d.proc.pid)], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert d.ctl("retry", "all").returncode == 0      # one wake-up, to see the next wait
    err = trace.communicate(timeout=30)[1]
    if "Operation not permitted" in err:
        pytest.skip("ptrace is not permitted here")
    waits = [line for line in err.splitlines() if line.startswith("epoll_wait(")]
    # the wait that the wake-up ended, then the control client's, then idle again
    assert 2 <= len(waits) <= 4, err
    timeout_ms = int(waits[0].rsplit(",", 1)[1].split(")")[0])
    assert 86_390_000 <= timeout_ms <= 86_400_000, err
