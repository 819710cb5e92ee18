"""Interop with a real Postfix: the test starts its own instance (its own configuration,
queue and data directories under the test's folder, listening only on a port of
127.0.0.1 it picks, implicit TLS) and distd delivers both seeds through it into a
maildir. The system's mail configuration is never read or changed: every postfix
command runs with -c DIR, and the instance is stopped by its master's PID file
(postfix -c DIR stop). Skipped, saying why, where Postfix is not installed or the
test does not run as root (Postfix's master must start as root).

No SASL: Cyrus needs sasl2-bin and a sasldb, Dovecot a running Dovecot — both system
changes; the relay accepts from 127.0.0.1 (mynetworks) over TLS instead. Postfix's
own policies are on: reject_non_fqdn_helo_hostname and smtpd_recipient_limit = 10,
so distd's EHLO name and its handling of 452 4.5.3 meet the real thing."""

import email
import email.policy
import os
import pathlib
import pwd
import shutil
import subprocess

import pytest

from conftest import SEED_CAPITAL, SEED_MENTOUGOU, free_port_for_tests, wait_for
from test_delivery import demo_conf

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(POSTFIX),
                       reason="Postfix is not installed (scripts/install-deps installs it "
                              "without starting a system mail service)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="Postfix's master must be started as root"),
]


class Postfix:
    def __init__(self, root, cert, key):
        self.root = pathlib.Path(root)
        self.conf = self.root / "etc"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        self.mail = self.root / "mail"
        self.log = self.root / "postfix.log"
        self.port = free_port_for_tests()
        self.cafile = cert          # what demo-conf gives distd as smtp.ca_file
        # pytest's folders are 0700: Postfix's unprivileged daemons could not
        # reach a queue inside them
        self.root.mkdir(parents=True)
        self.root.chmod(0o755)
        self.root.parent.chmod(0o755)
        for d in (self.conf, self.queue, self.data, self.mail):
            d.mkdir(parents=True)
        owner = pwd.getpwnam("postfix")
        os.chown(self.data, owner.pw_uid, owner.pw_gid)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        # the distribution's service table, every service out of chroot (the
        # chroot would need a copy of /etc inside our queue), its port-25
        # listener replaced by ours on 127.0.0.1 with implicit TLS
        lines = []
        for line in pathlib.Path("/etc/postfix/master.cf").read_text().splitlines():
            f = line.split()
            if line.startswith(("#", " ", "\t")) or not line.strip():
                lines.append(line)
                continue
            if f[0] == "smtp" and f[1] == "inet":
                continue
            if len(f) >= 8:
                f[4] = "n"
                line = " ".join(f)
            lines.append(line)
        lines.append(f"127.0.0.1:{self.port} inet n - n - - smtpd"
                     " -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt")
        (self.conf / "master.cf").write_text("\n".join(lines) + "\n")
        (self.conf / "domains").write_text("/\\.?example\\.test$/ OK\n")
        (self.conf / "main.cf").write_text(f"""
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
maillog_file = {self.log}
maillog_file_prefixes = {self.root}
myhostname = relay.example.test
mydomain = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_helo_required = yes
smtpd_helo_restrictions = reject_non_fqdn_helo_hostname
smtpd_recipient_limit = 10
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = regexp:{self.conf}/domains
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
virtual_minimum_uid = 1
message_size_limit = 10240000
smtp_dns_support_level = disabled
disable_dns_lookups = yes
""")

    def run(self, *args):
        return subprocess.run([POSTFIX, "-c", str(self.conf), *args], capture_output=True,
                              text=True, timeout=60)

    def start(self):
        r = self.run("start")
        assert r.returncode == 0, r.stdout + r.stderr + self.logtext()
        wait_for(self.listening, timeout=20, what="postfix listening")
        return self

    def listening(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def pid(self):
        p = self.queue / "pid" / "master.pid"
        return int(p.read_text().split()[0]) if p.exists() else None

    def stop(self):
        if self.pid() is not None:
            self.run("stop")
            wait_for(lambda: self.pid() is None or not pathlib.Path(f"/proc/{self.pid()}").exists(),
                     timeout=20, what="postfix stopped")

    def logtext(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def messages(self):
        new = self.mail / "inbox" / "new"
        if not new.exists():
            return []
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted(new.iterdir())]


@pytest.fixture
def postfix(certificate):
    import tempfile
    root = tempfile.mkdtemp(prefix="distd-postfix-")
    pf = Postfix(pathlib.Path(root) / "pf", *certificate)
    try:
        yield pf.start()
    finally:
        pf.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_seeds_through_a_real_postfix(postfix, distd):
    d = distd(None)
    demo_conf(d, postfix)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(("delivered",), count=49, timeout=25)

    # virtual(8) writes one file per recipient
    wait_for(lambda: len(postfix.messages()) >= 49, timeout=20, what="49 messages in the maildir")
    msgs = postfix.messages()
    subjects = {m["Subject"] for m in msgs}
    assert subjects == {"首都精神文明建设情况简报 第29期", "门头沟区创建全国文明城市工作快报 第439期"}
    assert sum(1 for m in msgs if m["Subject"].startswith("首都")) == 41
    log = postfix.logtext()
    # Postfix refused nothing: not our HELO, not the 11th recipient for good
    assert "reject:" not in log and "Helo command rejected" not in log
    # smtpd_recipient_limit = 10: the 41 went in batches Postfix accepted
    assert d.query("SELECT max_rcpt FROM relays") == [(10,)]
    assert d.query("SELECT size FROM relays") == [(10240000,)]
    assert d.query("SELECT MAX(attempts) FROM recipients") == [(1,)]
    assert log.count("status=sent (delivered to maildir)") == 49
    # distd closed its connections itself: no "timeout after" in Postfix's log
    assert "timeout after" not in log
    print("postfix:", sum(1 for l in log.splitlines() if "smtpd" in l and "connect from" in l),
          "connections;", log.count("status=sent (delivered to maildir)"), "delivered;",
          "too many recipients" in log and "452 seen" or "no 452")

