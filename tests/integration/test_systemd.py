"""distd installed by `make install` and run by a real systemd (in systemd-nspawn).

One container per test run: `make install` (DESTDIR empty: the admin's own
command, with systemd-sysusers and systemd-tmpfiles) inside a container that
boots this machine's /usr, then the README's steps: the secret, the relay in
the configuration, `systemctl enable --now distd`. Against a TLS relay with
AUTH on 127.0.0.1 (started here; the container shares the network) it
delivers a seed, reloads a good and a bad configuration, rotates the log,
stops, and shows that a broken configuration or a missing secret fail once
and visibly instead of restarting for ever.
"""

import json
import pathlib
import re
import time

import pytest

from conftest import BUILD, ROOT, SEED_CAPITAL, SEED_MENTOUGOU, run, wait_for
from nspawn import Container, Unavailable, cannot_boot_reason

USER, PASSWORD = "bulletin@example.test", "correct horse 电池"
CONF = "/etc/distd/distd.conf"
STATUS_RE = re.compile(r"queued 0, sending 0, deferred 0, delivered (\d+), failed 0, held 0")


def test_staged_install_layout(binaries, tmp_path):
    """make install DESTDIR=… copies what the unit needs, paths substituted."""
    stage = tmp_path / "stage"
    r = run(["make", "-C", ROOT, "-o", "all", "--no-print-directory", "install",
             f"BUILD={BUILD}", f"DESTDIR={stage}", "PREFIX=/usr"], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr

    def mode(rel):
        return oct((stage / rel).stat().st_mode & 0o7777)

    assert mode("etc/distd/distd.conf") == "0o640"
    assert mode("etc/logrotate.d/distd") == "0o644"
    assert mode("usr/sbin/distd") == "0o755"
    unit = (stage / "usr/lib/systemd/system/distd.service").read_text()
    assert "ExecStart=/usr/sbin/distd -f\n" in unit
    assert "ExecReload=/usr/sbin/distd --check-config\n" in unit
    assert "/usr/local" not in unit
    assert "RestartPreventExitStatus=78" in unit
    rot = (stage / "etc/logrotate.d/distd").read_text()
    assert "/var/log/distd/delivery.log" in rot and "--signal=USR1" in rot
    assert (stage / "usr/lib/sysusers.d/distd.conf").exists()
    assert (stage / "usr/lib/tmpfiles.d/distd.conf").exists()
    # an existing configuration is never overwritten
    (stage / "etc/distd/distd.conf").write_text("# mine\n")
    r = run(["make", "-C", ROOT, "-o", "all", "--no-print-directory", "install",
             f"BUILD={BUILD}", f"DESTDIR={stage}", "PREFIX=/usr"], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (stage / "etc/distd/distd.conf").read_text() == "# mine\n"
    r = run(["make", "-C", ROOT, "--no-print-directory", "uninstall",
             f"DESTDIR={stage}", "PREFIX=/usr"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (stage / "usr/sbin/distd").exists()
    assert not (stage / "etc/logrotate.d/distd").exists()
    assert (stage / "etc/distd/distd.conf").exists()


def sanitized(binary):
    return b"__asan_init" in pathlib.Path(binary).read_bytes()


@pytest.fixture
def container(tmp_path):
    reason = cannot_boot_reason()
    if reason:
        pytest.skip(reason)
    binds = [str(ROOT)]
    if not str(BUILD).startswith(str(ROOT) + "/"):
        binds.append(str(BUILD))
    c = Container(tmp_path / "ct", binds=binds)
    try:
        c.boot()
    except Unavailable as e:
        c.poweroff()
        c.remove_layers()
        pytest.skip(f"systemd-nspawn cannot boot a container here: {e}")
    yield c
    rc = c.poweroff()
    c.remove_layers()
    assert rc == 0, f"the container did not power off cleanly ({rc}):\n{c.log_text()[-2000:]}"


def unit(c, *props):
    return c.show("distd.service", *props)


def journal(c):
    return c.run("journalctl --no-pager -o cat -u distd.service").stdout


def wait_status(c, delivered, timeout=60):
    """Waits until sd_notify's STATUS= says `delivered` and nothing pending."""
    def check():
        text = unit(c, "StatusText")["StatusText"]
        m = STATUS_RE.search(text)
        return text if m and int(m.group(1)) >= delivered else None
    return wait_for(check, timeout=timeout, interval=0.3,
                    what=f"StatusText with {delivered} delivered")


def drop(c, seed, name):
    text = seed.read_text(encoding="utf-8")
    c.write(f"/var/spool/distd/outbox/.{name}.tmp", text, mode="0640", owner="root:distd")
    c.run(f"mv /var/spool/distd/outbox/.{name}.tmp /var/spool/distd/outbox/{name}")


def subjects(server):
    return [m.parsed()["Subject"] for m in server.messages]


def test_installed_unit_under_systemd(binaries, container, smtp_server, certificate):
    started = time.monotonic()
    c = container
    server = smtp_server("implicit", auth=(USER, PASSWORD))

    # ---- make install, as root on the machine (here: in the container) -----
    r = c.run(f"make -C {ROOT} -o all --no-print-directory install BUILD={BUILD}",
              timeout=120)
    assert "systemd-sysusers" in r.stdout and "systemctl daemon-reload" in r.stdout
    stat = c.run(f"stat -c '%U:%G %a' {CONF} /var/spool/distd/outbox").stdout.split("\n")
    assert stat[0] == "root:distd 640", stat
    assert stat[1] == "distd:distd 2770", stat
    if sanitized(BUILD / "distd"):
        # LeakSanitizer needs ptrace, which the unit's system call filter forbids
        c.write("/etc/systemd/system/distd.service.d/asan.conf",
                "[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n")
        c.run("systemctl daemon-reload")
    r = c.run("systemd-analyze verify distd.service", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = c.run("systemd-analyze security --no-pager distd.service", check=False)
    m = re.search(r"Overall exposure level for distd.service: ([0-9.]+)", r.stdout)
    assert m and float(m.group(1)) <= 1.5, r.stdout[-3000:]
    print(f"\nsystemd-analyze security (in the container): {m.group(1)}")

    # ---- the README's first steps: secret, relay, enable --now ---------------
    c.write("/etc/distd/smtp.secret", PASSWORD + "\n", mode="0640", owner="root:distd")
    c.write("/etc/distd/relay-ca.pem", pathlib.Path(certificate[0]).read_text())
    c.run(f"sed -i -e 's|^  url = .*|  url = \"{server.url}\";|' "
          f"-e 's|^  # ca_file = .*|  ca_file = \"/etc/distd/relay-ca.pem\";|' "
          f"-e 's|^  timeout = 60;|  timeout = 10;|' {CONF}")
    good_a = c.run(f"cat {CONF}").stdout
    assert server.url in good_a and "relay-ca.pem" in good_a
    c.run("distd --check-config")   # reads smtp.password_file (root:distd 0640)
    r = c.run("systemctl enable --now distd", timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr + journal(c)
    u = unit(c, "ActiveState", "SubState", "NRestarts", "MainPID", "WatchdogUSec",
             "WatchdogTimestampMonotonic", "UnitFileState")
    assert (u["ActiveState"], u["SubState"], u["NRestarts"]) == ("active", "running", "0"), u
    assert u["UnitFileState"] == "enabled"
    assert u["WatchdogUSec"] == "1min"
    pid = u["MainPID"]
    assert int(pid) > 0
    wd0 = int(u["WatchdogTimestampMonotonic"])
    assert wd0 > 0    # set at READY=1
    # the README's first distctl check, as root: DNS, connect, TLS, EHLO, AUTH
    r = c.run("distctl check", timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    stat = c.run("stat -c '%U:%G %a' /var/lib/distd /run/distd /run/distd/control "
                 "/var/log/distd").stdout.split("\n")
    assert stat[:4] == ["distd:distd 2770", "distd:distd 750", "distd:distd 660",
                        "distd:distd 750"], stat

    # an admin in group distd (README step 3) runs the preflight and reads the
    # queue that the daemon created group-writable
    c.run("useradd --no-create-home --groups distd alice")
    as_alice = "setpriv --reuid alice --regid alice --init-groups "
    r = c.run(as_alice + "distctl check", timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = c.run(as_alice + "distctl status --json", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert c.run("stat -c '%U:%G %a' /var/lib/distd/queue.db").stdout.strip() == \
        "distd:distd 660"

    # ---- a seed bulletin, delivered over TLS with the credential --------------
    drop(c, SEED_CAPITAL, "第29期.txt")
    status = wait_status(c, 1)
    delivered_a = int(STATUS_RE.search(status).group(1))
    assert server.auth_attempts >= 1
    assert len(server.handler.received()) == delivered_a
    assert all(s.startswith("首都精神文明建设情况简报") for s in subjects(server)), subjects(server)
    # group distd (setgid folder) and readable by it; whether the queue makes
    # it group-writable (0660) is the queue's business, not the unit's
    owner, mode = c.run("stat -c '%U:%G %a' /var/lib/distd/queue.db").stdout.split()
    assert owner == "distd:distd" and int(mode, 8) & 0o040, (owner, mode)
    # every event of the loop (here the delivery) also pets the watchdog
    wd1 = int(unit(c, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
    assert wd1 > wd0
    st = c.run("distctl status --json", check=False)
    assert st.returncode in (0, 3), st.stdout + st.stderr
    assert json.loads(st.stdout)["counts"]["delivered"] == delivered_a, st.stdout

    # ---- logrotate: rename, SIGUSR1, distd reopens at the path --------------
    c.run("logrotate -f -s /run/logrotate.status /etc/logrotate.d/distd")
    assert c.run("test -s /var/log/distd/delivery.log.1", check=False).returncode == 0
    wait_for(lambda: c.run("test -e /var/log/distd/delivery.log", check=False).returncode == 0,
             timeout=10, what="distd to reopen its delivery log after SIGUSR1")
    assert unit(c, "MainPID")["MainPID"] == pid

    # ---- reload with a good configuration: in force at once ------------------
    c.run(f"sed -i 's|^  subject = \"%title%|  subject = \"[B] %title%|' {CONF}")
    r = c.run("systemctl reload distd", timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr + journal(c)
    good_b = c.run(f"cat {CONF}").stdout
    wait_for(lambda: "configuration reloaded from /etc/distd/distd.conf" in journal(c),
             timeout=20, what="the reload in the journal")

    # ---- reload with a broken configuration: refused, old one kept ----------
    c.write(CONF, good_b + "\nsmtp = { url = ; \n", mode="0640", owner="root:distd")
    r = c.run("systemctl reload distd", timeout=60, check=False)
    assert r.returncode != 0, "systemctl reload accepted an invalid configuration"
    u = unit(c, "ActiveState", "SubState", "NRestarts", "MainPID")
    assert (u["ActiveState"], u["SubState"], u["NRestarts"], u["MainPID"]) == \
        ("active", "running", "0", pid), u
    # a SIGHUP sent by hand (not through ExecReload) is refused by distd itself
    c.run("systemctl kill -s HUP --kill-whom=main distd")
    wait_for(lambda: "still running on the previous configuration" in journal(c),
             timeout=20, what="distd refusing the broken file on SIGHUP")
    # …and it runs on configuration B: the next issue has B's subject
    drop(c, SEED_MENTOUGOU, "第3期.txt")
    status = wait_status(c, delivered_a + 1)
    delivered_b = int(STATUS_RE.search(status).group(1))
    new = subjects(server)[-1]
    assert new.startswith("[B] "), subjects(server)
    assert len(server.handler.received()) == delivered_b
    log = c.run("cat /var/log/distd/delivery.log").stdout
    assert "issue=2" in log and "issue=1 " not in log, log
    # the same attempts in the journal, one entry each with fields to filter by
    entries = [json.loads(l) for l in c.run(
        "journalctl --no-pager -o json -u distd.service DISTD_ISSUE=2").stdout.splitlines()]
    assert entries and len(entries) == log.count("issue=2 "), entries
    for e in entries:
        assert (e["DISTD_STATUS"], e["PRIORITY"]) == ("sent", "6"), e   # 6: info
        assert f"tier={e['DISTD_TIER']} to=<{e['DISTD_RCPT']}>" in e["MESSAGE"], e
        assert e["MESSAGE"] in log, e
    assert unit(c, "MainPID")["MainPID"] == pid

    print(c.run("systemctl status --no-pager -n 0 distd").stdout)

    # ---- stop: clean ---------------------------------------------------------
    c.run("systemctl stop distd", timeout=90)
    u = unit(c, "ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")
    assert (u["ActiveState"], u["SubState"], u["Result"], u["ExecMainStatus"]) == \
        ("inactive", "dead", "success", "0"), u
    j = journal(c)
    for text in ("started: outbox /var/spool/distd/outbox", "Reload failed",
                 "configuration reloaded from /etc/distd/distd.conf", "stopped"):
        assert text in j, f"{text!r} not in the journal:\n{j}"

    # ---- a broken configuration: fails once, visibly, no restart loop -------
    r = c.run("systemctl start distd", timeout=60, check=False)
    assert r.returncode != 0
    time.sleep(6.5)   # longer than RestartSec=5s: a restart would have happened
    u = unit(c, "ActiveState", "Result", "ExecMainStatus", "NRestarts")
    assert (u["ActiveState"], u["Result"], u["ExecMainStatus"], u["NRestarts"]) == \
        ("failed", "exit-code", "78", "0"), u
    st = c.run("systemctl status --no-pager -n 20 distd", check=False).stdout
    assert "status=78/CONFIG" in st, st
    assert "/etc/distd/distd.conf:" in st, st   # distd's own error, file:line

    # ---- the case: a configuration distd cannot read ------------------
    c.write(CONF, good_b, mode="0640", owner="root:root")
    c.run("systemctl reset-failed distd")
    r = c.run("systemctl start distd", timeout=60, check=False)
    assert r.returncode != 0
    time.sleep(6.5)
    u = unit(c, "ActiveState", "ExecMainStatus", "NRestarts")
    assert (u["ActiveState"], u["ExecMainStatus"], u["NRestarts"]) == ("failed", "78", "0"), u
    assert "/etc/distd/distd.conf: cannot read: Permission denied" in journal(c)

    # ---- no secret: the assertion says which file, nothing loops -------------
    c.write(CONF, good_b, mode="0640", owner="root:distd")
    c.run("rm /etc/distd/smtp.secret && systemctl reset-failed distd")
    r = c.run("systemctl start distd", timeout=60, check=False)
    assert r.returncode != 0
    u = unit(c, "ActiveState", "AssertResult", "NRestarts")
    assert (u["AssertResult"], u["NRestarts"]) == ("no", "0"), u
    assert u["ActiveState"] in ("inactive", "failed"), u
    st = c.run("systemctl status --no-pager distd", check=False).stdout
    assert "AssertPathExists=/etc/distd/smtp.secret was not met" in st, st

    # ---- a failure a restart cannot fix: a few tries, then the start limit ----
    # (the spool is missing, so ReadWritePaths= cannot be set up; RestartSec
    # is shortened here only to keep the test short)
    c.write("/etc/distd/smtp.secret", PASSWORD + "\n", mode="0640", owner="root:distd")
    c.write("/etc/systemd/system/distd.service.d/fast.conf", "[Service]\nRestartSec=1s\n")
    c.run("mv /var/spool/distd /var/spool/distd.away && systemctl daemon-reload && "
          "systemctl reset-failed distd")
    c.run("systemctl start distd", timeout=60, check=False)
    wait_for(lambda: "distd.service: Start request repeated too quickly." in journal(c),
             timeout=30, interval=0.5, what="the start limit")
    u = unit(c, "ActiveState", "SubState", "Result", "NRestarts")
    assert (u["ActiveState"], u["SubState"], u["NRestarts"]) == ("failed", "failed", "4"), u
    assert "status=226/NAMESPACE" in journal(c)
    c.run("mv /var/spool/distd.away /var/spool/distd && "
          "rm /etc/systemd/system/distd.service.d/fast.conf && systemctl daemon-reload && "
          "systemctl reset-failed distd")

    # ---- a relay without AUTH: the README's drop-in, no secret needed --------
    c.write("/etc/systemd/system/distd.service.d/no-auth.conf",
            "[Unit]\nAssertPathExists=\n[Service]\nLoadCredential=\n")
    c.run(f"sed -i -e '/^  username = /d' -e '/^  password_file = /d' {CONF} && "
          "systemctl daemon-reload")
    r = c.run("systemctl start distd", timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr + journal(c)
    u = unit(c, "ActiveState", "SubState", "NRestarts")
    assert (u["ActiveState"], u["SubState"], u["NRestarts"]) == ("active", "running", "0"), u
    c.run("systemctl stop distd", timeout=90)

    j = journal(c)
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert marker not in j, j[-4000:]
    print("\n".join(line for line in j.splitlines() if "issue=" not in line))
    print(f"\nnspawn test: {time.monotonic() - started:.1f} s in the container")
