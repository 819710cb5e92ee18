"""The throw-away Dovecot of the feedback tests (imapserver.py) does what
those tests rely on: a message delivered into the Maildir is seen over IMAP,
libcurl's CLI fetches it over imaps:// with the test CA (as distd's libcurl
client will), a wrong password and a login without TLS are refused, the
certificate is really verified, and nothing is left once the server is
stopped."""

import imaplib
import os
import shlex
import shutil
import socket
import ssl
import subprocess

import pytest

from imapserver import ImapServer, ImapUnavailable, mutf7

SEED = (b"From: Office <office@example.org>\r\n"
        b"To: feedback@example.org\r\n"
        b"Subject: =?UTF-8?B?562+5pS2?=\r\n"
        b"Message-ID: <seed.1@distd.test>\r\n"
        b"\r\n"
        b"received\r\n")


def curl(args, max_time=20, **kw):
    """Runs curl, printing the command used (pytest shows it on failure)."""
    cmd = ["curl", "--silent", "--show-error", "--max-time", str(max_time), *args]
    print("$", shlex.join(cmd))
    return subprocess.run(cmd, capture_output=True, timeout=60, **kw)


def test_delivered_message_is_listed(imap_server):
    print(f"test Dovecot up in {imap_server.started_in:.2f} s on {imap_server.url}")
    assert imap_server.list() == []
    path = imap_server.deliver(SEED)
    assert os.path.dirname(path).endswith("/new")
    msgs = imap_server.list("INBOX")
    assert [(m.uid, m.flags, m.raw) for m in msgs] == [(1, frozenset(), SEED)]
    # reading back sets no flag: the helpers observe, they do not act
    assert imap_server.flags(1) == frozenset()

    # flags set by a client (as distd will) are read back
    c = imap_server.connect()
    try:
        c.select("INBOX")
        typ, _ = c.uid("STORE", "1", "+FLAGS", r"(\Flagged \Seen)")
        assert typ == "OK"
    finally:
        c.logout()
    assert imap_server.flags(1) == {r"\Flagged", r"\Seen"}
    assert imap_server.flags(2) is None


def test_folders(imap_server):
    with pytest.raises(FileNotFoundError):
        imap_server.deliver(SEED, folder="Done")
    imap_server.create_folder("Done")
    imap_server.create_folder("签收 & 退信")
    assert sorted(imap_server.folders()) == sorted(
        ["INBOX", "Done", mutf7("签收 & 退信")])
    assert mutf7("签收 & 退信") == "&e35lNg- &- &kABP4Q-"
    imap_server.deliver(SEED, folder="签收 & 退信")
    assert [m.raw for m in imap_server.list("签收 & 退信")] == [SEED]
    assert imap_server.list("INBOX") == []

    # a message moved by a client is gone from INBOX and in the folder
    imap_server.deliver(SEED)
    c = imap_server.connect()
    try:
        c.select("INBOX")
        typ, data = c.uid("MOVE", "1", "Done")
        assert typ == "OK", data
    finally:
        c.logout()
    assert imap_server.list("INBOX") == []
    assert [m.raw for m in imap_server.list("Done")] == [SEED]


def test_curl_fetches_over_imaps(imap_server):
    imap_server.deliver(SEED)
    r = curl(["--cacert", imap_server.ca_file,
              "--user", f"{imap_server.user}:{imap_server.password}",
              f"imaps://127.0.0.1:{imap_server.port}/INBOX;UID=1"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == SEED
    # by name too: the certificate names localhost as well as 127.0.0.1
    r = curl(["--cacert", imap_server.ca_file,
              "--user", f"{imap_server.user}:{imap_server.password}",
              f"imaps://localhost:{imap_server.port}/INBOX;UID=1"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == SEED


def test_wrong_password_refused(imap_server):
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_server.connect(password="not-the-password")
    with pytest.raises(imaplib.IMAP4.error):
        imap_server.connect(user="nobody-here")
    r = curl(["--cacert", imap_server.ca_file,
              "--user", f"{imap_server.user}:not-the-password",
              f"imaps://127.0.0.1:{imap_server.port}/INBOX"])
    assert r.returncode == 67, (r.returncode, r.stderr)   # CURLE_LOGIN_DENIED


def test_certificate_verified(imap_server):
    imap_server.deliver(SEED)
    # the system's CAs do not know the test CA
    r = curl(["--user", f"{imap_server.user}:{imap_server.password}",
              f"imaps://127.0.0.1:{imap_server.port}/INBOX;UID=1"])
    assert r.returncode == 60, (r.returncode, r.stderr)   # peer verification
    assert r.stdout == b""
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL("127.0.0.1", imap_server.port,
                          ssl_context=ssl.create_default_context(), timeout=20)


def test_plain_login_refused(imap_server):
    # there is no clear-text IMAP listener, and the imaps port speaks TLS
    # only: no greeting in clear text, no login without TLS
    with socket.create_connection(("127.0.0.1", imap_server.port), 10) as s:
        s.sendall(f"a LOGIN {imap_server.user} {imap_server.password}\r\n".encode())
        answer = b""
        try:
            while chunk := s.recv(4096):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert b"OK" not in answer and not answer.startswith(b"*"), answer
    # as curl without TLS (imap://) would try it: it waits for a greeting
    r = curl(["--user", f"{imap_server.user}:{imap_server.password}",
              f"imap://127.0.0.1:{imap_server.port}/INBOX"], max_time=3)
    assert r.returncode != 0, r.stdout
    # and no clear-text listener elsewhere (143 or any): the server's only
    # listening socket is the imaps port, on 127.0.0.1
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) not found to list the listening sockets")
    ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True,
                        check=True).stdout
    mine = {line.split()[3] for line in ss.splitlines()
            if f"pid={imap_server.pid}," in line}
    assert mine == {f"127.0.0.1:{imap_server.port}"}, ss
    with open(imap_server.log) as f:
        assert "Login: user=<" not in f.read()


def _children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d))
    return kids


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_gone_after_exit():
    try:
        server = ImapServer()
    except ImapUnavailable as e:
        pytest.skip(f"no test IMAP server: {e}")
    with server:
        pid, port, folder = server.pid, server.port, server.dir
        kids = _children(pid)
        assert kids, "dovecot's master has started no process"
        assert _alive(pid)
        # a client served (a bare TCP connect, left before TLS, would make
        # the stop that follows at once take 5 s longer: see imapserver)
        assert server.list() == []
    assert server.pid is None and server.dir is None
    assert not _alive(pid)
    assert [k for k in kids if _alive(k)] == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), 5).close()
    assert not os.path.exists(folder)


def test_unavailable_names_the_reason(monkeypatch):
    monkeypatch.setenv("DISTD_DOVECOT", "/nonexistent/dovecot")
    with pytest.raises(ImapUnavailable, match="dovecot not found"):
        ImapServer()
