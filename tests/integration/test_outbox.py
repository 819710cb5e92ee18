"""The outbox anywhere: on another filesystem than the archive, with archiving that fails
and recovers, and with issues written in place instead of renamed in."""

import collections
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import wait_for
from test_delivery import TEN, issue_text


def mount(*args):
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@pytest.fixture
def tmpfs_outbox(distd):
    """Factory: a configured Distd whose outbox is a tmpfs mounted over the disk spool.
    Stops the daemon before unmounting what it mounted."""
    mounted, made = [], []

    def make(server, **conf):
        d = distd(server, **conf)
        d.outbox.mkdir(parents=True, exist_ok=True)
        r = mount("-t", "tmpfs", "-o", "size=16m,mode=0750", "tmpfs", str(d.outbox))
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (mount says: {r.stderr.strip()})")
        mounted.append(d.outbox)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
    for path in reversed(mounted):
        umount(path)


def bind_read_only(path):
    r = mount("--bind", str(path), str(path))
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.strip()}")
    r = mount("-o", "remount,bind,ro", str(path))
    if r.returncode != 0:
        umount(path)
        pytest.skip(f"cannot remount read-only here: {r.stderr.strip()}")


def sources(d):
    """source name → how many bulletin rows the queue has for it."""
    return collections.Counter(i["source"] for i in d.issues("bulletin"))


def archived_files(d):
    return sorted(p.name for p in d.archive.rglob("*.txt"))


def assert_different_filesystems(a, b):
    assert os.stat(a).st_dev != os.stat(b).st_dev, "the test needs two filesystems"


def test_tmpfs_outbox_twenty_files_each_queued_once_and_archived(smtp_server, tmpfs_outbox):
    server = smtp_server()
    d = tmpfs_outbox(server, recipients=TEN[:2])
    d.start()
    assert_different_filesystems(d.outbox, d.archive)
    names = [f"第{i}期.txt" for i in range(1, 21)]
    for i, name in enumerate(names, 1):
        d.drop(name, issue_text([TEN[i % 2][0]], no=i))
    wait_for(lambda: len(archived_files(d)) == 20, timeout=60, what="20 archived files")
    assert list(d.outbox.iterdir()) == []
    # another scan (SIGHUP rescans) finds nothing left to queue
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in d.stderr_text(), what="reload")
    assert sources(d) == {n: 1 for n in names}
    # every source row marked archived, so that no restart moves a file twice:
    # a stored fact no distctl output carries, raw SQL
    assert d.query("SELECT COUNT(*) FROM sources WHERE archived IS NULL") == [(0,)]
    assert archived_files(d) == sorted(names)
    # nothing dot-named is left behind on either side
    assert not [p for p in d.archive.rglob(".*")]
    wait_for(lambda: len(server.messages) == 20, what="20 messages")
    assert "EXDEV" not in d.stderr_text() and "cannot leave" not in d.stderr_text()


def test_archive_failure_then_fixed_each_queued_once(smtp_server, tmpfs_outbox):
    server = smtp_server()
    d = tmpfs_outbox(server, recipients=TEN[:2],
                     retry="retry = { min_backoff = 1; max_backoff = 1; lifetime = 600; };")
    d.start()
    bind_read_only(d.archive)
    try:
        names = [f"a{i}.txt" for i in range(5)]
        for i, name in enumerate(names):
            d.drop(name, issue_text([TEN[0][0]], no=100 + i))
        wait_for(lambda: d.db.exists() and len(sources(d)) == 5, what="five issues")
        wait_for(lambda: d.stderr_text().count("cannot leave the outbox") == 5,
                 what="one warning per file")
        # several rescans while archiving keeps failing: nothing is queued again
        for _ in range(3):
            before = d.stderr_text().count("configuration reloaded")
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: d.stderr_text().count("configuration reloaded") > before,
                     what="reload")
        assert sorted(p.name for p in d.outbox.iterdir()) == names
        assert sources(d) == {n: 1 for n in names}
        # said once per file, not at every rescan
        assert d.stderr_text().count("cannot leave the outbox") == 5
        assert "Read-only file system" in d.stderr_text()
    finally:
        umount(d.archive)
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: list(d.outbox.iterdir()) == [], what="outbox emptied")
    assert sorted(archived_files(d)) == names
    assert sources(d) == {n: 1 for n in names}
    # the journal says so once per file, after the move
    wait_for(lambda: d.stderr_text().count("archived now") == 5, what="five archived now")
    d.wait_states(("delivered",), count=1)
    wait_for(lambda: len(server.messages) == 5, what="five messages")
    time.sleep(0.5)
    assert len(server.messages) == 5   # one per issue, none twice


def settle_conf(d, seconds):
    text = d.conf.read_text(encoding="utf-8")
    old = f'outbox = "{d.outbox}";'
    assert old in text
    d.conf.write_text(text.replace(old, f'outbox = {{ path = "{d.outbox}"; '
                                         f'settle = {seconds}; }};'), encoding="utf-8")


def test_folder_copied_in_place_is_taken_after_settle(smtp_server, distd, tmp_path):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    settle_conf(d, 1)
    d.start()
    folder = tmp_path / "第8期"
    folder.mkdir()
    (folder / "简报.txt").write_text(issue_text([n for n, _ in TEN[:2]], no=8),
                                     encoding="utf-8")
    (folder / "附件.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 400)
    r = subprocess.run(["cp", "-r", str(folder), str(d.outbox / "第8期")], timeout=30)
    assert r.returncode == 0
    d.wait_states(("delivered",), count=2, timeout=20)
    msg = server.messages[0].parsed()
    atts = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
    assert atts == {"附件.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 400}
    assert (d.archive / time.strftime("%Y/%m") / "第8期" / "附件.pdf").exists()
    assert sources(d) == {"第8期": 1}


def test_folder_written_slowly_waits_until_quiet(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    settle_conf(d, 3)
    d.start()
    folder = d.outbox / "第9期"
    folder.mkdir()
    (folder / "简报.txt").write_text(issue_text([n for n, _ in TEN[:2]], no=9),
                                     encoding="utf-8")
    time.sleep(2)
    assert not d.db.exists() or sources(d) == {}, "taken before it was quiet"
    (folder / "附件.pdf").write_bytes(b"%PDF-1.4 late\n")
    last_write = time.monotonic()
    time.sleep(2)
    assert not d.db.exists() or sources(d) == {}, "activity inside did not restart the wait"
    d.wait_states(("delivered",), count=2, timeout=20)
    assert time.monotonic() - last_write >= 2.9   # whole-second timer, quiet time a minimum
    msg = server.messages[0].parsed()
    assert [a.get_filename() for a in msg.iter_attachments()] == ["附件.pdf"]


def test_file_written_in_place_in_two_steps_is_read_whole(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:3])
    settle_conf(d, 2)
    d.start()
    text = issue_text([n for n, _ in TEN[:3]], no=11)
    half = text.index("报：")
    path = d.outbox / "第11期.txt"
    with open(path, "w", encoding="utf-8") as f:    # CLOSE_WRITE of the first half
        f.write(text[:half])
    time.sleep(1)
    with open(path, "a", encoding="utf-8") as f:    # the footer comes a second later
        f.write(text[half:])
    d.wait_states(("delivered",), count=3, timeout=20)
    assert sorted(server.handler.received()) == [a for _, a in TEN[:3]]
    assert sources(d) == {"第11期.txt": 1}
    # the issue is marked done in a later loop turn than its last recipient
    wait_for(lambda: list(d.issue_states().values()) == ["done"], what="the issue done")


def test_rename_stays_the_fast_path(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:1])
    settle_conf(d, 30)
    d.start()
    start = time.monotonic()
    d.drop("fast.txt", issue_text([TEN[0][0]]))
    d.wait_states(("delivered",), count=1, timeout=20)
    assert time.monotonic() - start < 10   # not held back by the 30 s settle


def test_settle_is_validated(binaries, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text('outbox = { path = "relative"; settle = 0; wait = 1; };\n'
                    'sender = { from = "a@example.test"; admin = "b@example.test"; };\n'
                    'smtp = { url = "smtps://127.0.0.1:9"; };\n', encoding="utf-8")
    r = subprocess.run([binaries["distd"], "-c", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "outbox.settle: 0 is out of range (expected 1 to 3600)" in r.stderr
    assert "outbox.wait: unknown setting" in r.stderr
    assert "outbox.path: 'relative' is not an absolute path" in r.stderr
