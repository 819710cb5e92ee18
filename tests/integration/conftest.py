"""Fixtures for the integration tests: built binaries, seeds, SMTP servers."""

import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from smtpserver import SMTPServer, make_certificate  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DISTD_BUILD", ROOT / "build"))
SEEDS = pathlib.Path(os.environ.get("DISTD_SEEDS", ROOT / "tests" / "data" / "seeds"))
SEED_CAPITAL = SEEDS / "000_320506797a6b7d3b.txt"
SEED_MENTOUGOU = SEEDS / "003_b2bbb6446a891427.txt"


@pytest.fixture(scope="session")
def binaries():
    distd, distctl = BUILD / "distd", BUILD / "distctl"
    for b in (distd, distctl):
        assert b.exists(), f"{b} is missing: run make first"
    return {"distd": str(distd), "distctl": str(distctl)}


def smtp_login(folder, password, username="bulletin@example.test"):
    """A password file as distd demands it (mode 0600) in folder, and the smtp
    settings that log in with it: returns (path, settings)."""
    secret = pathlib.Path(folder) / "secret"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return secret, f'username = "{username}"; password_file = "{secret}";'


def run(args, **kw):
    """Runs a command with a bound on time; returns CompletedProcess (text)."""
    kw.setdefault("timeout", 60)
    return subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, **kw)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A throw-away certificate for 127.0.0.1, made with the openssl CLI."""
    return make_certificate(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def smtp_server(certificate):
    """Factory: smtp_server(mode="implicit"|"starttls", auth=(user, pw)).

    Each server listens on its own free port on 127.0.0.1 and is stopped
    when the test ends."""
    started = []

    def start(mode="implicit", **kw):
        server = SMTPServer(*certificate, mode=mode, **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# ---- a real distd on a temporary spool ---------------------------------------

import itertools
import json
import re
import signal
import sqlite3
import time

DIRECTORY = """
recipients = (
{recipients}
);
groups = (
{groups}
);
"""


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Polls predicate until it returns a true value; bounded in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Distd:
    """One distd process with its own spool, state, log and socket under a folder."""

    def __init__(self, binaries, root, server=None, conf_text=None, state=None):
        self.binaries = binaries
        self.root = pathlib.Path(root)
        self.server = server
        self.conf = self.root / "distd.conf"
        self.outbox = self.root / "spool" / "outbox"
        self.archive = self.root / "spool" / "archive"
        self.rejected = self.root / "spool" / "rejected"
        self.db = self.root / "queue.db"
        # a PostgreSQL connection string (fixture queue_state), or None: queue.db
        self.state = state
        self.log = self.root / "delivery.log"
        self.socket = self.root / "control"
        self.stderr_path = self.root / "distd.stderr"
        self.proc = None
        if conf_text is not None:
            self.conf.write_text(conf_text, encoding="utf-8")

    def paths(self):
        return (f'outbox = "{self.outbox}";\narchive = "{self.archive}";\n'
                f'rejected = "{self.rejected}";\nstate = "{self.state or self.db}";\n'
                f'delivery_log = "{self.log}";\ncontrol_socket = "{self.socket}";\n')

    def write_conf(self, recipients, groups=(), smtp_extra="", extra="",
                   retry="retry = { min_backoff = 1; max_backoff = 2; lifetime = 600; };"):
        rs = ",\n".join(f'  {{ name = "{n}"; address = "{a}"; }}' for n, a in recipients)
        gs = ",\n".join(f'  {{ name = "{n}"; members = [ {", ".join(chr(34) + m + chr(34) for m in ms)} ]; }}'
                        for n, ms in groups)
        url = self.server.url if self.server else "smtps://127.0.0.1:9"
        ca = f'ca_file = "{self.server.cafile}";' if self.server else ""
        text = (self.paths()
                + f'smtp = {{ url = "{url}"; {ca} {"" if "timeout" in smtp_extra else "timeout = 5;"} {smtp_extra} }};\n'
                + 'sender = { from = "办公室 <bulletin@example.test>"; '
                  'admin = "postmaster@example.test"; };\n'
                + retry + "\n"
                + DIRECTORY.format(recipients=rs, groups=gs if gs else "") + extra)
        if not groups:
            text = text.replace("groups = (\n\n);\n", "")
        self.conf.write_text(text, encoding="utf-8")
        return self.conf

    def start(self, *extra_args):
        # a socket left by a killed daemon must not pass for the new one's
        if self.socket.exists():
            self.socket.unlink()
        self.stderr = open(self.stderr_path, "ab")
        # make check-valgrind runs the daemon under memcheck
        wrapper = os.environ.get("DISTD_WRAPPER", "").split()
        # the PostgreSQL queue's per-node lock file goes to the runtime folder
        env = None if self.state is None else dict(os.environ, RUNTIME_DIRECTORY=str(self.root))
        self.proc = subprocess.Popen([*wrapper, self.binaries["distd"], "-c", str(self.conf),
                                      "-f", *extra_args], stdout=self.stderr, stderr=self.stderr,
                                     env=env)
        wait_for(lambda: self.socket.exists() or self.proc.poll() is not None,
                 timeout=60, what="distd control socket")
        assert self.proc.poll() is None, self.stderr_text()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=40):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        rc = self.proc.returncode if self.proc else None
        if self.proc:
            self.stderr.close()
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def stderr_text(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def drop(self, name, data):
        """Drops an issue the way the README says: write a dotfile, then rename."""
        tmp = self.outbox / f".{name}.tmp"
        if isinstance(data, str):
            data = data.encode("utf-8")
        tmp.write_bytes(data)
        os.rename(tmp, self.outbox / name)

    def query(self, sql, *args):
        """Raw SQL on queue.db, read-only. Tests ask distctl (show, status,
        log_entries below) instead; this is for the few whose point is the
        stored fact itself, and each such call says why. On PostgreSQL through
        psql (no parameters there), integers as int, the rest as text."""
        if self.state is not None:
            assert not args, "Distd.query on PostgreSQL takes no parameters"
            return pg_rows(self.state, sql)
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    # ---- what distctl --json says (man/distctl.1, JSON) ---------------------

    def ctl_json(self, *args):
        """distctl --json ARGS, parsed. Exit 3 ("needs attention": daemon down,
        an alert, a held issue) still answers; any other failure fails the test."""
        r = self.ctl("--json", *args)
        assert r.returncode in (0, 3), f"distctl {' '.join(map(str, args))}: {r.returncode}\n{r.stderr}"
        return json.loads(r.stdout)

    def status(self):
        return self.ctl_json("status")

    def queue_exists(self):
        """queue.db is there, or (PostgreSQL) distctl status finds the schema."""
        if self.state is None:
            return self.db.exists()
        return self.status().get("queue_exists", False)

    def counts(self):
        """Recipients by state over the live queue (replaced ones not counted)."""
        return self.status()["counts"]

    def alert_kinds(self):
        """The standing relay alerts (auth, tls); held issues are shown by issue_states."""
        return [a["kind"] for a in self.status()["alerts"] if a["kind"] != "held"]

    def show(self, issue, *filters):
        """One issue as `distctl show ISSUE --json`, or None when there is no such issue."""
        r = self.ctl("--json", "show", str(issue), *filters)
        if r.returncode != 0 and (f"no issue {issue} " in r.stderr or "no queue there yet" in r.stderr):
            return None
        assert r.returncode == 0, f"distctl show {issue}: {r.returncode}\n{r.stderr}"
        return json.loads(r.stdout)

    def issues(self, kind=None):
        """Every issue in the queue (show's objects by id), duplicates too.

        status lists only the ten most recent and leaves duplicates out, so
        ids are walked from 1 up to past the newest one show knows."""
        if not self.queue_exists():
            return []
        newest_listed = max((i["id"] for i in self.status()["issues"]), default=0)
        found = []
        # ids are dense but for purged issues; the first miss past the newest
        # listed id is the end (a duplicate can be newer than any listed)
        for issue in range(1, newest_listed + 10000):
            shown = self.show(issue)
            if shown is None and issue > newest_listed:
                break
            if shown is not None:
                found.append(shown)
        return [i for i in found if kind is None or i["kind"] == kind]

    def issue_state(self, issue):
        """One issue's state, or None while it is not in the queue."""
        shown = self.show(issue)
        return shown["state"] if shown else None

    def issue_states(self, kind=None):
        """{issue id: issue state}."""
        return {i["id"]: i["state"] for i in self.issues(kind)}

    def recipients(self, issue=None):
        """show's recipient objects of one issue, or of every issue."""
        if issue is not None:
            shown = self.show(issue)
            return shown["recipients"] if shown else []
        return [r for i in self.issues() for r in i["recipients"]]

    def recipient(self, address, issue=None):
        """The one recipient with this address (of issue, or of the whole queue)."""
        found = [r for r in self.recipients(issue) if r["address"] == address]
        assert len(found) == 1, f"{address}: {len(found)} recipients"
        return found[0]

    def states(self, issue=None):
        """{address: state} of one issue or of every issue."""
        return {r["address"]: r["state"] for r in self.recipients(issue)}

    def wait_states(self, done=("delivered", "failed"), timeout=30, count=None, issue=None):
        def check():
            if not self.queue_exists():
                return False
            s = self.states(issue)
            return s and all(v in done for v in s.values()) and (count is None or len(s) >= count)
        return wait_for(check, timeout=timeout, what=f"all recipients in {done}")

    def log_entries(self, issue=None, lines=100000):
        """The queue's history of attempts, oldest first, as `distctl log --json`."""
        if not self.queue_exists():
            return []
        args = ["log", "-n", str(lines)] + (["--issue", str(issue)] if issue else [])
        r = self.ctl("--json", *args)
        assert r.returncode == 0, r.stderr
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def log_lines(self):
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def ctl(self, *args, **kw):
        return run([self.binaries["distctl"], "-c", self.conf, *args], **kw)


@pytest.fixture
def distd(binaries, tmp_path, queue_state):
    """Factory: distd(server, recipients=[(name, address)], …) → a configured Distd.
    Every daemon started is stopped (SIGTERM, then SIGKILL) when the test ends.
    Its queue is queue.db, or under @both_backends also a PostgreSQL database
    (queue_state below); the daemons of one test share that database."""
    made = []

    def make(server=None, sub="d", **conf):
        d = Distd(binaries, tmp_path / sub, server, state=queue_state)
        d.root.mkdir(parents=True, exist_ok=True)
        if conf.get("conf_text") is not None:
            d.conf.write_text(conf["conf_text"], encoding="utf-8")
        elif "recipients" in conf:
            d.write_conf(**conf)
        made.append(d)
        return d

    yield make
    problems = []
    for d in made:
        was_running = d.proc is not None and d.proc.poll() is None
        rc = d.stop()
        text = d.stderr_text()
        # under `make check SANITIZE=1` a sanitizer report fails the test
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if marker in text:
                problems.append(f"{d.root}: {marker}:\n{text[-4000:]}")
        if was_running and rc != 0:
            problems.append(f"{d.root}: distd exited {rc} on SIGTERM:\n{text[-2000:]}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def fault_server(certificate):
    """Factory: fault_server(mode="implicit"|"starttls", cert=(crt, key), port=0)."""
    from faultserver import FaultServer
    started = []

    def start(mode="implicit", cert=None, port=0, **policy):
        s = FaultServer(*(cert or certificate), mode=mode, port=port, **policy)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def free_port_for_tests():
    from smtpserver import free_port
    return free_port()


@pytest.fixture
def pg_server():
    """A throw-away PostgreSQL cluster (pgserver.py); skipped, with the reason,
    only where the server binaries are absent."""
    from pgserver import PgServer, PgUnavailable
    try:
        server = PgServer()
    except PgUnavailable as e:
        pytest.skip(f"no PostgreSQL test cluster: {e}")
    with server:
        yield server


# ---- several nodes on one PostgreSQL queue (test_nodes.py) -------------------

class PgDatabase:
    """One database of a test cluster: its libpq connection string and URI,
    and psql for the stored facts a test checks (read as the superuser)."""

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.conninfo = cluster.conninfo.replace(f"dbname={cluster_dbname(cluster)}",
                                                 f"dbname={name}")
        host, port, user = (cluster_param(cluster, k) for k in ("host", "port", "user"))
        # the form an admin writes in `state`; no password (trust on the socket)
        self.uri = f"postgresql:///{name}?host={host}&port={port}&user={user}"

    def sql(self, query):
        """Rows of query as lists of strings (psql -At, unit separator)."""
        r = run(["psql", self.conninfo, "-XAtq", "-F", "\x1f", "-c", query], timeout=30)
        assert r.returncode == 0, f"psql: {r.stderr}"
        return [line.split("\x1f") for line in r.stdout.splitlines()]

    def value(self, query):
        rows = self.sql(query)
        return rows[0][0] if rows else None


def cluster_param(cluster, key):
    return dict(kv.split("=", 1) for kv in cluster.conninfo.split())[key]


def cluster_dbname(cluster):
    return cluster_param(cluster, "dbname")


# ---- the queue on either backend: SQLite or PostgreSQL (issue 16) ------------
#
# A test decorated with @both_backends runs twice: its distd factory writes
# `state` as queue.db, then as a fresh database on the session's one
# PostgreSQL cluster (started at the first such test, ~3 s; a database
# ~0.3 s). Undecorated tests get "sqlite", as before.
#
#     @both_backends
#     def test_x(smtp_server, distd): ...

QUEUE_BACKENDS = ("sqlite", "postgresql")
both_backends = pytest.mark.parametrize("queue_backend", QUEUE_BACKENDS, indirect=True)


@pytest.fixture
def queue_backend(request):
    """"sqlite" unless parametrised (indirectly) by both_backends."""
    backend = getattr(request, "param", "sqlite")
    assert backend in QUEUE_BACKENDS, backend
    return backend


@pytest.fixture(scope="session")
def pg_cluster():
    """One throw-away PostgreSQL cluster for the session's @both_backends
    tests and test_nodes.py's databases (a cluster takes seconds to start);
    skipped, with the reason, only where the server binaries are absent."""
    from pgserver import PgServer, PgUnavailable
    try:
        server = PgServer()
    except PgUnavailable as e:
        pytest.skip(f"no PostgreSQL test cluster: {e}")
    with server:
        yield server


def pg_conninfo(server, dbname):
    """server's connection string naming another database."""
    return re.sub(r"\bdbname=\S+", f"dbname={dbname}", server.conninfo)


def pg_sql(conninfo, sql):
    """One statement through the cluster's psql (the tests connect as the
    cluster's superuser); returns psql's unaligned output, fields split by
    \x1f, rows by \x1e, NULL as \x1d."""
    from pgserver import find_bindir
    r = run([os.path.join(find_bindir(), "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t",
             "-F", "\x1f", "-R", "\x1e", "-P", "null=\x1d", "-c", sql, conninfo])
    assert r.returncode == 0, f"psql {sql!r}: {r.stderr}"
    return r.stdout


def pg_rows(conninfo, sql):
    """A query's rows as tuples, as sqlite3 gives them: integers as int, NULL
    as None, the rest as text."""
    out = pg_sql(conninfo, sql).rstrip("\n")
    rows = []
    for line in out.split("\x1e") if out else []:
        rows.append(tuple(None if v == "\x1d" else int(v) if v.lstrip("-").isdigit() else v
                          for v in line.split("\x1f")))
    return rows


_pg_databases = itertools.count(1)


@pytest.fixture
def queue_state(request, queue_backend):
    """None (the SQLite queue.db beside the spool), or the connection string
    of a database made for this test alone and dropped after it, so that no
    test sees another's rows."""
    if queue_backend == "sqlite":
        yield None
        return
    server = request.getfixturevalue("pg_cluster")
    dbname = f"t{os.getpid()}_{next(_pg_databases)}"
    pg_sql(server.conninfo, f"CREATE DATABASE {dbname}")
    try:
        yield pg_conninfo(server, dbname)
    finally:
        # the daemons are stopped by now (distd depends on this fixture);
        # FORCE ends a distctl that is still connected
        pg_sql(server.conninfo, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


@pytest.fixture
def pg_database(pg_cluster):
    """Factory: pg_database() → a new, empty PgDatabase in the module's cluster."""
    made = []

    def make():
        name = f"t{os.getpid()}_{len(made)}_{int(time.monotonic() * 1000) % 10**8}"
        r = run(["psql", pg_cluster.conninfo, "-XAtqc", f"CREATE DATABASE {name}"])
        assert r.returncode == 0, f"CREATE DATABASE: {r.stderr}"
        made.append(name)
        return PgDatabase(pg_cluster, name)

    yield make
    for name in made:
        run(["psql", pg_cluster.conninfo, "-XAtqc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


@pytest.fixture
def rcpt_sink(smtp_server):
    """The TLS sink (smtp_server, implicit TLS) that also records, in .rcpts,
    every RCPT it accepted, in order, whether or not the DATA that followed
    was accepted; .handler.received() stays what it accepted DATA for."""
    server = smtp_server()
    handler = server.handler
    handler.rcpts = []
    accept = handler.handle_RCPT

    async def handle_RCPT(smtp, session, envelope, address, rcpt_options):
        reply = await accept(smtp, session, envelope, address, rcpt_options)
        if reply.startswith("250"):
            with handler.lock:
                handler.rcpts.append(address)
        return reply

    # aiosmtpd looks the hook up on the handler per session
    handler.handle_RCPT = handle_RCPT
    return server


@pytest.fixture
def imap_server():
    """A throw-away Dovecot IMAP server (imapserver.py): imaps on 127.0.0.1,
    .ca_file to verify it, one user, a Maildir the test fills with
    .deliver(); skipped, with the reason, only where Dovecot is absent."""
    from imapserver import ImapServer, ImapUnavailable
    try:
        server = ImapServer()
    except ImapUnavailable as e:
        pytest.skip(f"no test IMAP server: {e}")
    with server:
        yield server
