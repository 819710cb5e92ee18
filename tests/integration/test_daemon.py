"""The daemon as a service: outbox protocol, folders, rejects, signals, reloads."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT, wait_for
from test_delivery import TEN, issue_text


def test_files_present_before_start_are_picked_up(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.outbox.mkdir(parents=True)
    (d.outbox / "early.txt").write_text(issue_text([TEN[0][0]], no=1), encoding="utf-8")
    d.start()
    d.wait_states(("delivered",), count=1)
    d.drop("later.txt", issue_text([TEN[1][0]], no=2))
    d.wait_states(("delivered",), count=2)
    assert sorted(server.handler.received()) == ["u0@example.test", "u1@example.test"]


def test_dotfiles_and_partial_names_wait_for_rename(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    d.start()
    for name in (".hidden.txt", "issue.txt.tmp", "issue.txt.part"):
        (d.outbox / name).write_text(issue_text([TEN[0][0]]), encoding="utf-8")
    time.sleep(1.0)
    assert d.issues() == []
    assert len(list(d.outbox.iterdir())) == 3
    os.rename(d.outbox / "issue.txt.part", d.outbox / "issue.txt")
    d.wait_states(("delivered",), count=1)
    assert sorted(p.name for p in d.outbox.iterdir()) == [".hidden.txt", "issue.txt.tmp"]


def test_folder_issue_with_attachments(smtp_server, distd, tmp_path):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    folder = tmp_path / "第7期"
    folder.mkdir()
    (folder / "简报.txt").write_text(issue_text([n for n, _ in TEN[:2]]), encoding="utf-8")
    (folder / "附件一：名单.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    (folder / "统计表.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    shutil.move(str(folder), str(d.outbox / "第7期"))
    d.wait_states(("delivered",), count=2)
    msg = server.messages[0].parsed()
    atts = {a.get_filename(): a for a in msg.iter_attachments()}
    assert set(atts) == {"附件一：名单.pdf", "统计表.xlsx"}
    assert atts["附件一：名单.pdf"].get_content_type() == "application/pdf"
    assert atts["附件一：名单.pdf"].get_content() == b"%PDF-1.4\n" + bytes(range(256)) * 40
    assert atts["统计表.xlsx"].get_content_type() == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    # the masthead first, then the body (the whole issue: test_rendition.py)
    text = msg.get_body(("plain",)).get_content()
    assert text.startswith("工作简报\n第7期\n") and "\n正文第一段" in text
    assert (d.archive / time.strftime("%Y/%m") / "第7期" / "简报.txt").exists()


def test_rejects_with_reasons(smtp_server, distd, tmp_path):
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    d.start()
    target = tmp_path / "real.txt"
    target.write_text(issue_text([TEN[0][0]]), encoding="utf-8")
    os.symlink(target, d.outbox / "link.txt")
    secret = ("机密★1年\n" + issue_text([TEN[0][0]])).encode("gbk")
    d.drop("secret.txt", secret)
    d.drop("binary.txt", b"\x00\x01\x02 binary")
    d.drop("notes.xlsx", b"PK")
    wait_for(lambda: len(list(d.rejected.glob("*.reason"))) == 4, what="four rejects")
    reasons = {p.name: p.read_text(encoding="utf-8") for p in d.rejected.glob("*.reason")}
    assert "symbolic link" in reasons["link.txt.reason"]
    assert "marked 机密★1年" in reasons["secret.txt.reason"]
    assert "never sent by e-mail" in reasons["secret.txt.reason"]
    assert "byte 0: NUL byte" in reasons["binary.txt.reason"]
    assert "not an issue file" in reasons["notes.xlsx.reason"]
    # the refused files themselves are kept beside their reasons, nothing deleted
    assert (d.rejected / "secret.txt").read_bytes() == secret
    assert target.exists()
    assert server.messages == []
    assert d.proc.poll() is None
    # a second reject of the same name does not overwrite the first
    d.drop("binary.txt", b"\x00again")
    wait_for(lambda: (d.rejected / "binary.txt.1.reason").exists(), what="second reject")


def test_invalid_config_on_sighup_keeps_the_old_one(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    d.start()
    good = d.conf.read_text()
    d.conf.write_text(good.replace('address = "u0@example.test"', 'address = "u0@"'))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "still running on the previous configuration" in d.stderr_text(),
             what="reload refusal")
    assert "recipients[0].address[0]: 'u0@' is not an e-mail address" in d.stderr_text()
    assert d.proc.poll() is None
    d.drop("a.txt", issue_text([TEN[0][0]], no=1))
    d.wait_states(("delivered",), count=1)
    assert server.handler.received() == ["u0@example.test"]

    # a valid change takes effect: a new recipient name resolves
    d.conf.write_text(good.replace('name = "单位0"', 'name = "新单位"'))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in d.stderr_text(), what="reload")
    d.drop("b.txt", issue_text(["新单位"], no=2))
    d.wait_states(("delivered",), count=1, issue=2)
    assert len(server.messages) == 2


def test_sigterm_during_delivery_loses_nothing(smtp_server, distd):
    server = smtp_server()
    server.handler.data_delay = 1.5
    d = distd(server, recipients=TEN, smtp_extra="max_rcpt_per_message = 2; connections = 2;")
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN]))
    wait_for(lambda: d.db.exists() and "sending" in d.states().values(), what="sending")
    assert d.stop() == 0
    states = d.states()
    assert "sending" not in states.values()   # in flight finished or handed back
    server.handler.data_delay = 0
    d.start()
    d.wait_states(("delivered",), count=10)
    received = server.handler.received()
    assert sorted(set(received)) == sorted(a for _, a in TEN)
    assert len(received) == 10   # a clean stop sends nobody twice


def test_kill_during_delivery_is_retried_as_possible_duplicate(smtp_server, distd):
    server = smtp_server()
    server.handler.data_delay = 1.0
    d = distd(server, recipients=TEN[:4], smtp_extra="max_rcpt_per_message = 2; connections = 1;")
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:4]]))
    wait_for(lambda: d.db.exists() and "sending" in d.states().values(), what="sending")
    d.kill()
    assert "sending" in d.states().values()
    server.handler.data_delay = 0
    d.start()
    d.wait_states(("delivered",), count=4)
    assert "may receive the issue twice" in d.stderr_text()
    assert any("note=possible-duplicate" in l for l in d.log_lines())
    assert sorted(set(server.handler.received())) == sorted(a for _, a in TEN[:4])
    # the database file survived the kill: raw SQL
    assert d.query("PRAGMA integrity_check") == [("ok",)]


# logrotate's postrotate sends SIGUSR1; a reload (SIGHUP) reopens the log as well
@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGHUP], ids=["sigusr1", "sighup"])
def test_delivery_log_reopens_for_logrotate(smtp_server, distd, sig):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    d.drop("a.txt", issue_text([TEN[0][0]], no=1))
    d.wait_states(("delivered",), count=1)
    os.rename(d.log, d.root / "delivery.log.1")
    d.proc.send_signal(sig)
    wait_for(lambda: d.log.exists(), what=f"new log file after {sig.name}")
    d.drop("b.txt", issue_text([TEN[1][0]], no=2))
    d.wait_states(("delivered",), count=2)
    wait_for(lambda: any("u1@example.test" in l for l in d.log_lines()), what="line in new log")
    assert "u1@example.test" not in (d.root / "delivery.log.1").read_text()


def test_idle_daemon_does_not_wake_up(smtp_server, distd):
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    d.start()
    d.drop("a.txt", issue_text([TEN[0][0]]))
    d.wait_states(("delivered",), count=1)
    out = d.root / "strace.out"
    tracer = subprocess.Popen(["strace", "-f", "-p", str(d.proc.pid), "-e",
                               "trace=epoll_wait,epoll_pwait,poll,select,nanosleep,"
                               "clock_nanosleep,futex", "-o", str(out)],
                              stderr=subprocess.DEVNULL)
    time.sleep(3)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(10)
    lines = out.read_text().splitlines() if out.exists() else []
    if not lines:
        pytest.skip("strace could not attach to the daemon here (ptrace not permitted)")
    calls = [l for l in lines if "resumed" in l or "= " in l]
    # attaching interrupts the blocked calls once; after that nothing returns
    returned = [l for l in calls if "epoll_wait" in l and "= " in l and "ERESTART" not in l
                and "<unfinished" not in l]
    assert len(returned) <= 1, calls


def test_unit_files_verify():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    unit = ROOT / "systemd" / "distd.service"
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
    # the binary path of an uninstalled tree is the only thing allowed to be missing
    problems = [l for l in (r.stdout + r.stderr).splitlines()
                if l.strip() and "/usr/local/sbin/distd" not in l and "is not executable" not in l]
    assert not problems, r.stdout + r.stderr


def test_make_install_and_uninstall(tmp_path):
    dest = tmp_path / "root"
    conf = dest / "etc" / "distd" / "distd.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("# the admin's own\n")
    env = dict(os.environ, MAKEFLAGS="")
    r = subprocess.run(["make", "-C", str(ROOT), "install", f"DESTDIR={dest}", "PREFIX=/usr"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    for f in ("usr/sbin/distd", "usr/bin/distctl", "usr/lib/systemd/system/distd.service",
              "usr/lib/sysusers.d/distd.conf", "usr/lib/tmpfiles.d/distd.conf",
              "usr/share/man/man8/distd.8", "usr/share/man/man1/distctl.1",
              "usr/share/man/man5/distd.conf.5",
              "usr/share/bash-completion/completions/distctl"):
        assert (dest / f).exists(), f
    assert conf.read_text() == "# the admin's own\n"   # never overwritten
    unit = (dest / "usr/lib/systemd/system/distd.service").read_text()
    assert "ExecStart=/usr/sbin/distd -f" in unit
    r = subprocess.run(["make", "-C", str(ROOT), "uninstall", f"DESTDIR={dest}", "PREFIX=/usr"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert left == ["etc/distd/distd.conf"]


# Marks as real issues print them; each must be refused and named in its reason.
CLASSIFIED = {
    "first-line.txt": ("密级：秘密\n", "密级：秘密"),
    "star-first.txt": ("★机密\n", "★机密"),
    "bracketed.txt": ("秘密（★6个月）\n", "秘密（★6个月）"),
    "ideographic-space.txt": ("绝\u3000密\n", "绝\u3000密"),
    "condition.txt": ("机密★会议开始前\n", "机密★会议开始前"),
    "unknown.txt": ("核心商密★10年\n", "unrecognised classification-like mark: \"核心商密★10年\""),
}


def test_classified_issues_never_reach_the_relay(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    for name, (mark, _) in CLASSIFIED.items():
        d.drop(name, mark + issue_text([TEN[0][0]]))
    on_issue_line = issue_text([TEN[0][0]], no=11).replace("第 11 期", "第 11 期  秘密")
    d.drop("issue-line.txt", on_issue_line.encode("gb18030"))
    # the control: without a mark, and with 保守国家秘密 in its body, it is sent
    body_mention = issue_text([TEN[1][0]], no=12).replace(
        "正文第一段，说明情况。", "正文第一段，要求保守国家秘密。")
    d.drop("control.txt", body_mention)
    wait_for(lambda: len(list(d.rejected.glob("*.reason"))) == len(CLASSIFIED) + 1,
             what="every classified issue rejected")
    d.wait_states(("delivered",), count=1)
    time.sleep(0.5)
    assert server.handler.received() == ["u1@example.test"]
    assert len(d.issues()) == 1
    reasons = {p.name[:-len(".reason")]: p.read_text(encoding="utf-8")
               for p in d.rejected.glob("*.reason")}
    for name, (_, named) in CLASSIFIED.items():
        assert named in reasons[name], reasons[name]
        assert "never sent by e-mail" in reasons[name]
        assert (d.rejected / name).exists()
    assert "marked 秘密" in reasons["issue-line.txt"]
    assert "line 3" in reasons["issue-line.txt"]
    # the subject of what was sent carries no mark
    assert server.messages[0].parsed()["Subject"] == "工作简报 第12期"


def test_gb18030_resave_of_a_seed_is_a_duplicate(smtp_server, distd):
    from test_delivery import demo_conf
    from conftest import SEED_MENTOUGOU
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(("delivered",), count=8)
    resaved = SEED_MENTOUGOU.read_text(encoding="utf-8").replace("\n", "\r\n")
    d.drop("mentougou-gbk.txt", resaved.encode("gb18030"))
    wait_for(lambda: len(d.issues()) == 2, what="duplicate row")
    duplicate = d.show(2)
    assert (duplicate["duplicate_of"], duplicate["state"]) == (1, "done")
    time.sleep(0.5)
    assert len(server.messages) == 1


def test_status_line_sent_on_change_only(smtp_server, distd, monkeypatch):
    """Under systemd, STATUS= follows the counts, and is sent once per change,
    not at every turn of the loop."""
    import socket
    server = smtp_server()
    d = distd(server, recipients=TEN[:3])
    path = d.root / "notify"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))

    def statuses():
        out = []
        while True:
            try:
                data = sink.recv(4096).decode()
            except BlockingIOError:
                return out
            out += [l[len("STATUS="):] for l in data.split("\n") if l.startswith("STATUS=")]

    try:
        d.start()
        d.drop("a.txt", issue_text([n for n, _ in TEN[:3]]))
        d.wait_states(("delivered",), count=3)
        seen = []
        wait_for(lambda: seen.extend(statuses()) or
                 (seen and "delivered 3," in seen[-1]), what="STATUS with 3 delivered")
        # events that change nothing (control connections) send nothing new
        d.ctl("status")
        d.ctl("status")
        d.ctl("hold", "1")       # a done issue: refused, nothing changes
        seen += statuses()
        assert all(a != b for a, b in zip(seen, seen[1:])), seen
        assert "delivered 3," in seen[-1]
        # a later change reaches it too
        d.drop("b.txt", issue_text([TEN[0][0]], no=8))
        wait_for(lambda: seen.extend(statuses()) or "delivered 4," in seen[-1],
                 what="STATUS with 4 delivered")
        assert all(a != b for a, b in zip(seen, seen[1:])), seen
    finally:
        d.stop()
        sink.close()
