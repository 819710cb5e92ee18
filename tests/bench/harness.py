"""The benchmark's moving parts: issues, configurations, a distd under watch,
the curl floor, and what /proc and strace say about the daemon.

Every wait here is bounded in time; every process is stopped by its PID.
"""

import json
import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DISTD_BUILD", ROOT / "build"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GROUP = "全体单位"
# The batch size distd is configured with; the sink does not rely on it.
RCPT_PER_MESSAGE = 50
# Above this many recipients in one transaction the floor's RCPT replies are
# a bare "250" (see Sink.terse_rcpt); 5 bytes each instead of 14.
TERSE_ABOVE = 20000

# header = "to": the whole tier is listed in To; "bcc": nobody is shown.
TIER_KEYWORD = {"to": "报", "bcc": "发"}


def issue_text(number=1, tier="to"):
    """A ~20 KB issue addressed to the group through the tier's keyword.

    The number makes each issue's content distinct: distd holds an issue
    whose content it has already queued as a duplicate.
    """
    para = ("本期简报介绍各区创建全国文明城市的进展情况，各单位齐抓共管，"
            "持续推进环境整治、志愿服务和宣传引导工作。") * 8
    body = "\n\n".join(para for _ in range(14))
    return (f"基准测试简报\n\n第 {number} 期\n\n测试办公室\n\n2021年1月1日\n\n---\n\n"
            f"{body}\n\n{TIER_KEYWORD[tier]}：{GROUP}\n")


def address(i):
    return f"u{i}@bench.example.test"


def write_conf(d, port, ca, n, connections, idle_timeout=None, state=None, node=None):
    """distd.conf in d for n recipients, all members of one group. state: the
    queue (d/queue.db, or a PostgreSQL connection string); node: its name."""
    recipients = ",\n".join(f'{{ name = "单位{i}"; address = "{address(i)}"; }}'
                            for i in range(n))
    members = ", ".join(f'"单位{i}"' for i in range(n))
    idle = "" if idle_timeout is None else f" idle_timeout = {idle_timeout};"
    state = state or f"{d}/queue.db"
    node = "" if node is None else f'node = {{ name = "{node}"; }};\n'
    (d / "distd.conf").write_text(f"""
outbox = "{d}/outbox"; archive = "{d}/archive"; rejected = "{d}/rejected";
{node}state = "{state}"; delivery_log = "{d}/delivery.log"; control_socket = "{d}/control";
smtp = {{ url = "smtps://127.0.0.1:{port}"; ca_file = "{ca}"; connections = {connections};
         max_rcpt_per_message = {RCPT_PER_MESSAGE};{idle} }};
sender = {{ from = "基准 <bench@example.test>"; }};
tiers = (
  {{ keyword = "{TIER_KEYWORD['to']}"; header = "to"; }},
  {{ keyword = "{TIER_KEYWORD['bcc']}"; header = "bcc"; }}
);
recipients = ( {recipients} );
groups = ( {{ name = "{GROUP}"; members = [ {members} ]; }} );
""", encoding="utf-8")
    return d / "distd.conf"


def proc_cpu(pid):
    """User + system CPU seconds of the process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_memory(pid):
    """MB: VmRSS (resident now), VmHWM (peak resident), RssAnon (private)."""
    wanted = {"VmRSS:": "rss", "VmHWM:": "peak", "RssAnon:": "anon"}
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(None, 1)[0]
            if key in wanted:
                out[wanted[key]] = int(line.split()[1]) / 1024
    return out


def wait_until(predicate, seconds, step=0.005):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


class Daemon:
    """distd -f on a folder's distd.conf, stopped with SIGTERM on exit.

    env: its environment (None: the bench's own); stderr: a file for what it
    says there (None: discarded, as for the SQLite figures)."""

    def __init__(self, folder, env=None, stderr=None):
        self.folder = folder
        self.conf = folder / "distd.conf"
        self.outbox = folder / "outbox"
        self.process = None
        self.env = env
        self.stderr_path = stderr

    def __enter__(self):
        err = open(self.stderr_path, "ab") if self.stderr_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen([BUILD / "distd", "-c", self.conf, "-f"],
                                            stderr=err, env=self.env)
        finally:
            if self.stderr_path:
                err.close()
        self.pid = self.process.pid
        if not wait_until(lambda: (self.folder / "control").exists() or
                          self.process.poll() is not None, 60, 0.02):
            self.stop()
            raise RuntimeError("distd did not open its control socket within 60 s")
        if self.process.poll() is not None:
            raise RuntimeError(f"distd exited {self.process.returncode} at start"
                               + (f": {self.stderr_tail()}" if self.stderr_path else ""))
        self.wait_quiet()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def wait_quiet(self, seconds=10, window=0.2):
        """Until distd has used no CPU for one window (start-up, a schema
        upgrade or the last bookkeeping are over), at most `seconds`."""
        deadline = time.monotonic() + seconds
        last = proc_cpu(self.pid)
        while time.monotonic() < deadline:
            time.sleep(window)
            now = proc_cpu(self.pid)
            if now == last:
                return True
            last = now
        return False

    def stderr_tail(self, lines=5):
        try:
            text = pathlib.Path(self.stderr_path).read_text(errors="replace")
        except (OSError, TypeError):
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def cpu(self):
        return proc_cpu(self.pid)

    def memory(self):
        return proc_memory(self.pid)

    def drop(self, texts):
        """Writes each text beside the outbox's watch (a dot name), then renames
        them all in, as fast as possible. Returns the moment of the first rename."""
        names = []
        for k, text in enumerate(texts):
            hidden = self.outbox / f".issue-{k}.tmp"
            hidden.write_text(text, encoding="utf-8")
            names.append((hidden, self.outbox / f"issue-{k}.txt"))
        first = time.monotonic()
        for hidden, visible in names:
            os.rename(hidden, visible)
        return first

    def distctl(self, *args):
        return subprocess.run([BUILD / "distctl", "-c", self.conf, *args],
                              capture_output=True, text=True, timeout=60)

    def counts(self):
        out = self.distctl("--json", "status")
        return json.loads(out.stdout)["counts"]

    def time_status(self, times, args=("status",)):
        """Wall and CPU seconds of `distctl status`, one pair per call. With
        args ("--version",): the cost of starting distctl at all (loading its
        ~50 shared libraries), the floor under any distctl command."""
        results = []
        for _ in range(times):
            started = time.monotonic()
            child = subprocess.Popen([BUILD / "distctl", "-c", self.conf, *args],
                                     stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode not in (0, 3):      # 3: something needs attention
                raise RuntimeError(f"distctl status exited {child.returncode}")
            results.append((wall, usage.ru_utime + usage.ru_stime))
        return results


def deliver(daemon, sink, texts, recipients, seconds=900, others=(), server=None):
    """Drops the texts, waits until the sink accepted `recipients` in all.

    Returns a dict: seconds (first rename to last acceptance), first (first
    rename to first acceptance), cpu (distd's CPU over that span, summed with
    the `others` daemons' on the same queue), tx, tls, got, and distd's
    memory right after the last acceptance (the first daemon's); with
    server (a PgQueues), server_cpu: its processes' CPU over that span.
    """
    sink.reset()
    everyone = [daemon, *others]
    server_before = server.cpu() if server else {}
    cpu_before = sum(x.cpu() for x in everyone)
    started = daemon.drop(texts)
    wait_until(lambda: sink.delivered >= recipients, seconds)
    cpu = sum(x.cpu() for x in everyone) - cpu_before
    server_cpu = (sum(v - server_before.get(pid, 0) for pid, v in server.cpu().items())
                  if server else 0.0)
    memory = daemon.memory()
    if sink.delivered < recipients:
        raise RuntimeError(f"only {sink.delivered} of {recipients} recipients accepted "
                           f"within {seconds} s")
    return dict(seconds=sink.last_accept - started, first=sink.first_accept - started,
                cpu=cpu, tx=sink.transactions, tls=sink.connections, got=sink.delivered,
                sent=sink.data_bytes / 1e6, server_cpu=server_cpu, **memory)


def floor_seconds(sink, cert, n):
    """One curl command, one SMTPS transaction to n recipients: the floor."""
    data = (b"From: bench@example.test\r\nSubject: floor\r\n\r\n" +
            issue_text().encode().replace(b"\n", b"\r\n"))
    # the recipients go in a curl config file: 40 000 of them overflow argv
    fd, rcpt_file = tempfile.mkstemp(prefix="distd-floor.")
    with os.fdopen(fd, "w") as f:
        f.writelines(f'mail-rcpt = "{address(i)}"\n' for i in range(n))
    args = ["curl", "-sS", "--url", f"smtps://127.0.0.1:{sink.port}", "--cacert", cert,
            "--mail-from", "bench@example.test", "--upload-file", "-", "--config", rcpt_file]
    sink.reset()
    sink.terse_rcpt = n > TERSE_ABOVE
    try:
        started = time.monotonic()
        subprocess.run(args, input=data, check=True, capture_output=True, timeout=600)
        elapsed = time.monotonic() - started
    finally:
        sink.terse_rcpt = False
        os.unlink(rcpt_file)
    if sink.delivered != n:
        raise RuntimeError(f"floor: the sink accepted {sink.delivered} of {n}")
    return elapsed


def idle_wakeups(pid, seconds):
    """Returns from epoll_wait (and any sleep call) per minute while nothing
    happens, traced with strace over `seconds`; None without strace."""
    fd, out = tempfile.mkstemp(prefix="distd-strace.")
    os.close(fd)
    try:
        tracer = subprocess.Popen(["strace", "-f", "-e", "trace=epoll_wait,epoll_pwait,poll,"
                                   "ppoll,select,pselect6,nanosleep,clock_nanosleep",
                                   "-o", out, "-p", str(pid)], stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        os.unlink(out)
        return None
    time.sleep(seconds)
    tracer.send_signal(signal.SIGINT)
    try:
        tracer.wait(10)
    except subprocess.TimeoutExpired:
        tracer.kill()
        tracer.wait(10)
    lines = pathlib.Path(out).read_text().splitlines()
    os.unlink(out)
    # a call in progress when strace attaches or detaches is not a wake-up
    returned = [line for line in lines if "= " in line and "ERESTART" not in line
                and "unfinished" not in line and "+++" not in line]
    return len(returned) * 60 / seconds


class PgQueues:
    """Fresh databases on one throw-away PostgreSQL cluster
    (tests/integration/pgserver.py: initdb as nobody, a socket in a temporary
    folder, no TCP). Raises pgserver.PgUnavailable where the server binaries
    are absent, RuntimeError when the cluster does not start."""

    def __init__(self):
        import pgserver
        self.server = pgserver.PgServer().start()
        self.made = 0

    def psql(self, sql):
        subprocess.run([os.path.join(self.server.bindir, "psql"), "-X", "-q", "-v",
                        "ON_ERROR_STOP=1", "-c", sql, self.server.conninfo],
                       check=True, capture_output=True, text=True, timeout=60)

    def fresh(self):
        """A new empty database: (its name, its connection string)."""
        self.made += 1
        name = f"bench{self.made}"
        self.psql(f"CREATE DATABASE {name}")
        return name, re.sub(r"\bdbname=\S+", f"dbname={name}", self.server.conninfo)

    def drop(self, name):
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def cpu(self):
        """{pid: CPU seconds} of the postmaster and its children now (a
        process that ended since an earlier call is not counted)."""
        found = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(entry.name)
            if pid == self.server.pid or int(fields[1]) == self.server.pid:
                found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return found

    def stop(self):
        self.server.stop()


def sent_lines(folder):
    """Recipients a daemon logged as sent (status=sent) in folder/delivery.log."""
    try:
        with open(folder / "delivery.log", encoding="utf-8", errors="replace") as f:
            return sum(" status=sent " in line for line in f)
    except OSError:
        return 0
