"""Interop with a real Postfix: the test starts its own instance (its own configuration,
queue and data directories under a folder of its own, listening only on a port of
127.0.0.1 it picks, implicit TLS, SASL AUTH) and distd delivers both seeds through it
into a maildir. The system's mail configuration is never read or changed: every postfix
command runs with -c DIR, Cyrus SASL reads its smtpd.conf from that DIR
(cyrus_sasl_config_path) and its users from a sasldb file there, written through
libsasl2 itself (sasl_setpass, as saslpasswd2 does) so that no sasl2-bin is needed.
The instance is stopped by its master's PID file (postfix -c DIR stop). Skipped,
saying why, where Postfix is not installed or the test does not run as root
(Postfix's master must start as root).

Postfix's own policies are on: reject_non_fqdn_helo_hostname and
smtpd_recipient_limit = 10, so distd's EHLO name and its handling of 452 4.5.3 meet
the real thing; every recipient needs AUTH (permit_sasl_authenticated, reject)."""

import ctypes
import ctypes.util
import email
import email.policy
import glob
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
    pytest.mark.skipif(not glob.glob("/usr/lib/*/sasl2/libsasldb.so*"),
                       reason="Cyrus SASL's sasldb module is not installed "
                              "(libsasl2-modules-db; scripts/install-deps installs it)"),
]


USER, REALM, PASSWORD = "bulletin", "example.test", "interop-secret"


def sasldb_add(path, users, password):
    """Adds (user, realm) pairs to a Cyrus sasldb the way saslpasswd2 does, through
    libsasl2."""
    lib = ctypes.CDLL(ctypes.util.find_library("sasl2") or "libsasl2.so.2")
    getopt_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                                ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                                ctypes.POINTER(ctypes.c_uint))
    where = ctypes.c_char_p(str(path).encode())

    def getopt(_ctx, _plugin, option, result, length):
        if option != b"sasldb_path":
            return -4                   # SASL_NOMECH: not set, use the default
        result[0] = where.value
        if length:
            length[0] = len(where.value)
        return 0

    class Callback(ctypes.Structure):
        _fields_ = [("id", ctypes.c_ulong), ("proc", ctypes.c_void_p),
                    ("context", ctypes.c_void_p)]

    proc = getopt_t(getopt)
    callbacks = (Callback * 2)(Callback(1, ctypes.cast(proc, ctypes.c_void_p), None),
                               Callback(0, None, None))      # SASL_CB_GETOPT, LIST_END
    assert lib.sasl_server_init(callbacks, b"saslpasswd2") == 0
    pw = password.encode()
    for user, realm in users:
        conn = ctypes.c_void_p()
        assert lib.sasl_server_new(b"smtp", b"relay.example.test", realm.encode(), None,
                                   None, callbacks, 0, ctypes.byref(conn)) == 0
        assert lib.sasl_setpass(conn, user.encode(), pw, len(pw), None, 0, 1) == 0  # CREATE
        lib.sasl_dispose(ctypes.byref(conn))
    lib.sasl_done()


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
        # AUTH: Cyrus SASL with its configuration and users here, not in /etc
        self.sasldb = self.conf / "sasldb2"
        # Cyrus may or may not split "user@realm" (it depends on its canon_user
        # setup): the user is there both ways
        sasldb_add(self.sasldb, [(USER, REALM), (f"{USER}@{REALM}", "relay.example.test")],
                   PASSWORD)
        os.chown(self.sasldb, owner.pw_uid, owner.pw_gid)
        # Debian's Postfix reads $cyrus_sasl_config_path and $config_directory/sasl
        (self.conf / "sasl").mkdir()
        (self.conf / "sasl" / "smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {self.sasldb}\n"
            "mech_list: PLAIN LOGIN\n")
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
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {self.conf}/sasl
smtpd_sasl_security_options = noanonymous
# nothing from /etc: no aliases, no local users
alias_maps =
alias_database =
local_recipient_maps =
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
        # the master's own word, not a probe connection (which the relay would log
        # as a lost connection)
        wait_for(lambda: "daemon started" in self.logtext(), timeout=20,
                 what="postfix's master started")
        return self

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
        if not os.environ.get("KEEP_POSTFIX"):
            shutil.rmtree(root, ignore_errors=True)


def test_seeds_through_a_real_postfix(postfix, distd):
    d = distd(None)
    demo_conf(d, postfix)
    secret = d.root / "secret"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    text = d.conf.read_text(encoding="utf-8")
    ca = f'ca_file = "{postfix.cafile}";'
    assert ca in text
    d.conf.write_text(text.replace(ca, f'{ca} username = "{USER}@{REALM}"; '
                                       f'password_file = "{secret}";'), encoding="utf-8")
    # check: EHLO, AUTH, MAIL, RCPT to the admin, RSET, QUIT against the real thing
    r = d.ctl("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"auth     ok: {USER}@{REALM}" in r.stdout
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
    # the relay limits distd learned are stored facts no distctl output carries: raw SQL
    assert d.query("SELECT max_rcpt FROM relays") == [(10,)]
    assert d.query("SELECT size FROM relays") == [(10240000,)]
    assert max(r["attempts"] for r in d.recipients()) == 1
    assert log.count("status=sent (delivered to maildir)") == 49
    # check's session, as Postfix counted it
    assert "ehlo=1 auth=1 mail=1 rcpt=1 rset=1 quit=1 commands=6" in log
    # every session of distd's ends with QUIT (once distd has stopped, or gone idle)
    d.stop()
    wait_for(lambda: postfix.logtext().count("]: disconnect from") ==
             postfix.logtext().count("]: connect from"), timeout=10, what="every session closed")
    log = postfix.logtext()
    closes = [l for l in log.splitlines() if "disconnect from" in l]
    assert closes and all(" quit=1 " in l for l in closes), closes
    assert f"sasl_method=PLAIN, sasl_username={USER}@{REALM}" in log
    # distd closed its connections itself: no "timeout after" in Postfix's log
    assert "timeout after" not in log
    print("postfix:", sum(1 for l in log.splitlines() if "]: connect from" in l),
          "connections;", log.count("status=sent (delivered to maildir)"), "delivered;",
          "too many recipients" in log and "452 seen" or "no 452")

