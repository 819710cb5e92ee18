"""A throw-away Dovecot IMAP server for the tests of the feedback mailbox.

`dovecot -F -c CONF` in the foreground with a private configuration in a
temporary folder: its own base_dir, state_dir and log file there, implicit
TLS (imaps) on 127.0.0.1 on a free port with a certificate made at start by
the openssl CLI (a test CA and a server certificate for 127.0.0.1 and
localhost; the CA file is .ca_file), one user with a password from a
passwd-file, and that user's Maildir in the folder. Nothing reads
/etc/dovecot, nothing listens on 143 or 993, no system Dovecot is involved.
The master is stopped by its PID and the folder removed afterwards.

Dovecot's master starts as root (the tests run as root) and drops
privileges itself: its internal processes run as the package's `dovecot`
user, imap-login as `dovenull`, and the mail user's imap process as
`nobody`, who owns the Maildir. Not as root, the whole server runs as the
calling user.

There is no clear-text IMAP listener at all (port 0): Dovecot counts a
connection whose remote address equals its local one (127.0.0.1 to
127.0.0.1) as secured and would take a password over it despite
disable_plaintext_auth, so the only way in is TLS on .port.

    with ImapServer() as imap:          # raises ImapUnavailable with the reason
        imap.url                        # "imaps://127.0.0.1:PORT/"
        imap.user, imap.password, imap.ca_file
        imap.deliver(raw_bytes)         # as an MDA: tmp/ then new/
        imap.list("INBOX")              # [Message(uid, flags, raw)]
        imap.renumber("INBOX")          # new UIDVALIDITY, UIDs from 1 again
"""

import base64
import collections
import imaplib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

USER = "feedback"
PASSWORD = "imap-test-secret"
MAIL_USER = "nobody"

Message = collections.namedtuple("Message", "uid flags raw")


class ImapUnavailable(Exception):
    """Why no test IMAP server can be run here (binaries or users absent)."""


def find_dovecot():
    """Path of the dovecot master and the folder of its imap binaries."""
    dovecot = os.environ.get("DISTD_DOVECOT") or shutil.which(
        "dovecot", path="/usr/sbin:/usr/local/sbin:/usr/bin:/sbin")
    if dovecot is None or not os.access(dovecot, os.X_OK):
        raise ImapUnavailable("dovecot not found (Debian's dovecot-imapd; run "
                              "scripts/install-deps)")
    for libexec in ("/usr/lib/dovecot", "/usr/libexec/dovecot",
                    "/usr/local/libexec/dovecot"):
        if os.access(os.path.join(libexec, "imap"), os.X_OK):
            break
    else:
        raise ImapUnavailable("dovecot's imap binary not found (no "
                              "/usr/lib/dovecot/imap: install dovecot-imapd)")
    if shutil.which("openssl") is None:
        raise ImapUnavailable("openssl (CLI) not found to make the test certificate")
    return dovecot


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mutf7(name):
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3), which is also
    how Dovecot names Maildir++ folders on disk."""
    out, run = [], []

    def flush():
        if run:
            b = base64.b64encode("".join(run).encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            run.clear()

    for c in name:
        if 0x20 <= ord(c) <= 0x7e:
            flush()
            out.append("&-" if c == "&" else c)
        else:
            run.append(c)
    flush()
    return "".join(out)


def _quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapServer:
    """One Dovecot instance in a temporary folder; a context manager."""

    def __init__(self, user=USER, password=PASSWORD):
        self.dovecot = find_dovecot()
        self.user = user
        self.password = password
        self.root = os.geteuid() == 0
        if self.root:
            try:
                self.mail_pw = pwd.getpwnam(MAIL_USER)
                for u in ("dovecot", "dovenull"):
                    pwd.getpwnam(u)
            except KeyError as e:
                raise ImapUnavailable(f"no user {e.args[0]!r} to run the test "
                                      "Dovecot's processes as (the dovecot-core "
                                      "package creates dovecot and dovenull)")
        else:
            self.mail_pw = pwd.getpwuid(os.geteuid())
        self.dir = None
        self.proc = None
        self.pid = None
        self.port = None
        self.ca_file = None
        self.log = None
        self._seq = 0

    # ---- start and stop ---------------------------------------------------

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True,
                       timeout=60, cwd=self.dir)

    def _certificates(self):
        """A test CA and a server certificate for 127.0.0.1 and localhost,
        signed by it: a client verifies the server against .ca_file alone."""
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", f"{d}/ca.key",
                      "-out", f"{d}/ca.crt", "-days", "2",
                      "-subj", "/CN=distd test IMAP CA",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._openssl("req", "-new", *ec, "-keyout", f"{d}/server.key",
                      "-out", f"{d}/server.csr", "-subj", "/CN=localhost")
        with open(f"{d}/server.ext", "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self._openssl("x509", "-req", "-in", f"{d}/server.csr",
                      "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
                      "-set_serial", "2", "-days", "2",
                      "-extfile", f"{d}/server.ext", "-out", f"{d}/server.crt")
        os.chmod(f"{d}/ca.crt", 0o644)
        self.ca_file = f"{d}/ca.crt"

    def _chown(self, path):
        if self.root:
            os.chown(path, self.mail_pw.pw_uid, self.mail_pw.pw_gid)

    def _config(self):
        d = self.dir
        pw = self.mail_pw
        users = "" if self.root else (
            f"default_internal_user = {pw.pw_name}\n"
            f"default_login_user = {pw.pw_name}\n")
        with open(f"{d}/passwd", "w") as f:
            f.write(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        conf = f"""# distd test IMAP server: private, on 127.0.0.1 only
instance_name = distd-test-imap-{os.getpid()}-{self.port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
{users}
ssl = required
ssl_cert = <{d}/server.crt
ssl_key = <{d}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={pw.pw_uid} gid={pw.pw_gid} home={d}/home
}}
# no statistics: the mail user's imap process could not write to the stats
# socket, and a login process started just before a stop logged an error
# after waiting 5 s for the stats process (gone already) to answer
stats_writer_socket_path =
mail_location = maildir:{d}/home/Maildir
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.port}
    ssl = yes
  }}
}}
# no auth penalty (2, 4, … 15 s more per failed login from an IP, before
# every later login too): tests try wrong passwords, then right ones
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        with open(f"{d}/dovecot.conf", "w") as f:
            f.write(conf)

    def _log_tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except (OSError, TypeError):
            return ""

    def start(self, timeout=30):
        t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="distd-imap-")
        # dovecot's unprivileged processes go through it to their sockets
        os.chmod(self.dir, 0o711)
        self.log = os.path.join(self.dir, "dovecot.log")
        try:
            self._certificates()
        except subprocess.CalledProcessError as e:
            err = e.stderr.decode(errors="replace")
            self.stop()
            raise RuntimeError(f"openssl {e.cmd[1]} for the test IMAP "
                               f"certificate failed: {err}") from None
        home = os.path.join(self.dir, "home")
        os.mkdir(home, 0o700)
        self._chown(home)
        self._maildir_dirs(os.path.join(home, "Maildir"))
        self.started_in = None
        for attempt in range(3):
            self.port = free_port()
            self._config()
            try:
                self._launch(timeout)
                break
            except RuntimeError:
                # another process took the free port in between: pick again
                if "Address already in use" not in self._log_tail() or attempt == 2:
                    self.stop()
                    raise
                open(self.log, "w").close()
        # seconds from nothing to the port accepting (certificates included)
        self.started_in = time.monotonic() - t0
        return self

    def _launch(self, timeout):
        self.proc = subprocess.Popen(
            [self.dovecot, "-F", "-c", os.path.join(self.dir, "dovecot.conf")],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT, cwd=self.dir,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = self.pid = None
                raise RuntimeError(f"test Dovecot exited ({rc}) at start; "
                                   f"{self.log}:\n{self._log_tail()}")
            if self._greets():
                return
            time.sleep(0.05)
        self._kill()
        raise RuntimeError(f"test Dovecot not accepting on 127.0.0.1:{self.port} "
                           f"within {timeout} s; {self.log}:\n{self._log_tail()}")

    def _greets(self):
        """True once the imaps port answers a TLS client with IMAP's
        greeting, which imap-login sends only when it reaches the auth
        process: a bare TCP accept is earlier, and a stop that soon after
        start made the master wait 5 s for its processes."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        try:
            with socket.create_connection(("127.0.0.1", self.port), 2) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.settimeout(5)
                    greeting = s.recv(4096)
                    s.sendall(b"a LOGOUT\r\n")
                    s.recv(4096)
            return greeting.startswith(b"* OK")
        except OSError:
            return False

    def _kill(self, timeout=30):
        """Stops the master by its PID (SIGTERM: it stops its children too).
        About 1 s; 6 s when a client connected and left without TLS just
        before (the master then waits 5 s for its log process)."""
        if self.pid is None:
            return
        pid, proc = self.pid, self.proc
        self.pid = self.proc = None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            proc.wait(10)

    def stop(self):
        """Stops the master by its PID, removes the folder."""
        self._kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- the mailbox -------------------------------------------------------

    @property
    def url(self):
        return f"imaps://127.0.0.1:{self.port}/"

    @property
    def maildir(self):
        return os.path.join(self.dir, "home", "Maildir")

    def _maildir_dirs(self, path):
        for sub in ("", "cur", "new", "tmp"):
            p = os.path.join(path, sub)
            if not os.path.isdir(p):
                os.mkdir(p, 0o700)
                self._chown(p)

    def folder_path(self, folder):
        """The Maildir++ folder of an IMAP folder name (INBOX: the Maildir)."""
        if folder.upper() == "INBOX":
            return self.maildir
        return os.path.join(self.maildir, "." + mutf7(folder).replace("/", "."))

    def deliver(self, raw, folder="INBOX"):
        """Writes a message into the folder the way an MDA does: into tmp/,
        then renamed into new/, owned by the mail user. The folder must exist
        (INBOX always does; create_folder() for others). Returns the file."""
        path = self.folder_path(folder)
        if not os.path.isdir(os.path.join(path, "new")):
            raise FileNotFoundError(f"no folder {folder!r} (create_folder() first)")
        self._seq += 1
        now = time.time()
        name = (f"{int(now)}.M{int(now * 1e6) % 1000000}P{os.getpid()}"
                f"Q{self._seq}.distd-test")
        tmp = os.path.join(path, "tmp", name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw if isinstance(raw, bytes) else raw.encode())
        self._chown(tmp)
        new = os.path.join(path, "new", name)
        os.rename(tmp, new)
        return new

    def connect(self, user=None, password=None):
        """A logged-in imaplib.IMAP4_SSL, the server verified against the CA."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=ctx, timeout=30)
        try:
            c.login(user or self.user, self.password if password is None else password)
        except BaseException:
            c.shutdown()
            raise
        return c

    def create_folder(self, name):
        """Creates a folder over IMAP (as a mail client would)."""
        c = self.connect()
        try:
            typ, data = c.create(_quote(mutf7(name)))
            if typ != "OK":
                raise RuntimeError(f"IMAP CREATE {name!r}: {data}")
        finally:
            c.logout()

    def folders(self):
        """Names of the folders (as IMAP lists them, modified UTF-7)."""
        c = self.connect()
        try:
            typ, data = c.list()
        finally:
            c.logout()
        names = []
        for line in data:
            if not line:
                continue
            line = line.decode()
            # (\HasNoChildren) "." NAME
            name = line.split(") ", 1)[1].split(" ", 1)[1]
            if name.startswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            names.append(name)
        return names

    def list(self, folder="INBOX"):
        """[Message(uid, flags, raw)] of a folder, read only (EXAMINE and
        BODY.PEEK: reading sets no flag), by UID. flags leaves out \\Recent,
        which only says which session saw the message first."""
        c = self.connect()
        try:
            typ, data = c.select(_quote(mutf7(folder)), readonly=True)
            if typ != "OK":
                raise RuntimeError(f"IMAP EXAMINE {folder!r}: {data}")
            typ, data = c.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])") \
                if int(data[0] or 0) else ("OK", [])
        finally:
            c.logout()
        out = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, raw = item
            flags = imaplib.ParseFlags(meta)
            uid = int(meta.split(b"UID ", 1)[1].split()[0].rstrip(b")"))
            out.append(Message(uid, frozenset(f.decode() for f in flags
                                          if f != b"\\Recent"), raw))
        return sorted(out)

    def flags(self, uid, folder="INBOX"):
        """The flags of one message (a frozenset of str), None if no such UID."""
        for m in self.list(folder):
            if m.uid == uid:
                return m.flags
        return None

    def uidvalidity(self, folder="INBOX"):
        """The folder's UIDVALIDITY as SELECT (EXAMINE) answers it."""
        c = self.connect()
        try:
            typ, data = c.select(_quote(mutf7(folder)), readonly=True)
            if typ != "OK":
                raise RuntimeError(f"IMAP EXAMINE {folder!r}: {data}")
            typ, data = c.response("UIDVALIDITY")
        finally:
            c.logout()
        return int(data[0])

    def renumber(self, folder="INBOX"):
        """Makes Dovecot number the folder afresh, as a server restored from
        a backup or a rebuilt index does: the master stopped, the folder's
        dovecot-uidlist and index files (and the mailbox list index, which
        remembers UIDVALIDITY too) removed, the master started again on the
        same port. The messages stay, their flags with them (in the file
        names; dovecot-keywords is kept), under a new UIDVALIDITY (Dovecot's
        dovecot-uidvalidity makes it differ from the old) and UIDs from 1.
        Returns (old, new) UIDVALIDITY."""
        old = self.uidvalidity(folder)
        self._kill()
        path = self.folder_path(folder)
        for name in os.listdir(path):
            if name == "dovecot-uidlist" or name.startswith("dovecot.index"):
                os.unlink(os.path.join(path, name))
        for name in os.listdir(self.maildir):
            if name.startswith("dovecot.list.index"):
                os.unlink(os.path.join(self.maildir, name))
        self._launch(30)
        new = self.uidvalidity(folder)
        if new == old:
            raise RuntimeError(f"test Dovecot kept UIDVALIDITY {old} of {folder!r}")
        return old, new
