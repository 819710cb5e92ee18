"""make bench: distd's delivery against a lean SMTPS sink on 127.0.0.1.

Every figure is the median of BENCH_REPEAT runs, each on a fresh daemon and
queue, measured from the rename of the issue into the outbox to the sink's
acceptance of the DATA. The reference is "the floor": one curl command, one
SMTPS transaction to all N recipients, against the same sink in the same run.
Issue 14's targets are printed beside the measured values.

Sections: delivery (N, connections, to/bcc tier), the PostgreSQL queue (one
and two nodes beside SQLite), history (a queue that the daemon itself
filled), flatness in N, a burst of small issues, idle, targets.

Knobs (environment):
  BENCH_REPEAT=3          runs per figure (the median is printed)
  BENCH_N="1000 10000"    recipients in the delivery section
  BENCH_FLAT_N=40000      the large N of the flatness section; 0 skips it
  BENCH_HISTORY=100000    recipient rows of history, built through the daemon
                          in issues of 1 000; 0 skips the section
  BENCH_BURST=200x50      issues x recipients dropped at once; 0 skips it
  BENCH_IDLE_SECONDS=10   how long idle wake-ups are traced
  BENCH_PG=1              0 skips the PostgreSQL section
  BENCH_PG_N="1000 10000" recipients in the PostgreSQL section
"""

import contextlib
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))
import harness  # noqa: E402
from harness import Daemon, deliver, issue_text, write_conf  # noqa: E402
from sink import Sink  # noqa: E402
from smtpserver import make_certificate  # noqa: E402

HISTORY_ISSUE = 1000        # recipients per issue of the history, and of the measured issue
BURST_CONNECTIONS = 4
IDLE_TIMEOUT = 2            # smtp.idle_timeout of the idle run: "settled" means no connection
WIDTH = 100                 # every line printed fits a 100-column terminal


def knob(name, default):
    return os.environ.get(name, default)


REPEAT = max(1, int(knob("BENCH_REPEAT", "3")))
NS = [int(x) for x in knob("BENCH_N", "1000 10000").split()]
FLAT_N = int(knob("BENCH_FLAT_N", "40000"))
HISTORY = int(knob("BENCH_HISTORY", "100000")) // HISTORY_ISSUE * HISTORY_ISSUE
BURST = knob("BENCH_BURST", "200x50")
BURST_ISSUES, BURST_RCPTS = ((int(x) for x in BURST.split("x")) if BURST != "0" else (0, 0))
IDLE_SECONDS = float(knob("BENCH_IDLE_SECONDS", "10"))
PG = knob("BENCH_PG", "1") != "0"
PG_NS = [int(x) for x in knob("BENCH_PG_N", "1000 10000").split()] if PG else []
PG_NODES = ("a", "b")
PG_CONNECTIONS = 4
# the idle and history runs: the measured issue's N and the largest of BENCH_N
IDLE_NS = HISTORY_NS = sorted({HISTORY_ISSUE, max(NS)})


# ---- printing ------------------------------------------------------------------

def table(title, columns, rows, notes=()):
    """columns: (header, width, format) with format a str.format spec, or None
    for text; a None value prints as '-'."""
    print(f"\n== {title}")
    # numbers right-aligned, text (format None) left-aligned
    print(" ".join(f"{h:>{w}}" if f is not None else f"{h:<{w}}" for h, w, f in columns)
          .rstrip())
    for row in rows:
        cells = []
        for (_, w, f), v in zip(columns, row):
            cells.append(f"{'-':>{w}}" if v is None else
                         f"{v:>{w}{f}}" if f is not None else f"{v:<{w}}")
        print(" ".join(cells).rstrip())
    for note in notes:
        print(textwrap.fill(note, WIDTH, initial_indent="   ", subsequent_indent="     "))


def notice(title, notes):
    """A section that printed no table: its title and why."""
    print(f"\n== {title}")
    for note in notes:
        print(textwrap.fill(note, WIDTH, initial_indent="   ", subsequent_indent="     "))


def verdict(ok):
    return "met" if ok else "NOT met"


def median_run(runs):
    """Field by field median of several runs' dicts; "runs" keeps the runs
    themselves, in repeat order, for the ranges of the targets table."""
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    medians["runs"] = runs
    return medians


def spread(values, scale=1.0, digits=2):
    """'lowest-highest' of the runs' values."""
    values = [v * scale for v in values]
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def command_line(args):
    try:
        return subprocess.run(args, capture_output=True, text=True,
                              timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def load_average():
    """The 1, 5 and 15 minute load: other work on the machine shows in the figures."""
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def print_settings(sink_port):
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = command_line(["git", "-C", str(harness.ROOT), "describe", "--always", "--dirty"])
    print("== settings")
    for key, value in [
        ("date", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())),
        ("source", f"{commit} ({command_line([harness.BUILD / 'distd', '--version'])}, "
                   f"{harness.BUILD})"),
        ("machine", f"{os.cpu_count()} CPUs, {cpu}, Linux {platform.release()}, "
                    f"load average {load_average()}"),
        ("tools", f"Python {platform.python_version()}, "
                  f"{' '.join(command_line(['curl', '--version']).split()[:2])}"),
        ("repeat", f"BENCH_REPEAT={REPEAT}: the median of {REPEAT} run(s), each on a fresh "
                   f"daemon and queue"),
        ("delivery", f"BENCH_N={' '.join(map(str, NS))}; connections 4 and 1; tier 报 "
                     f"(header to) and 发 (header bcc)"),
        ("flatness", f"BENCH_FLAT_N={FLAT_N}" + (" (skipped)" if not FLAT_N else
                                                 ": 4 connections, both tiers")),
        ("history", f"BENCH_HISTORY={HISTORY} rows" + (" (skipped)" if not HISTORY else
                    f": {HISTORY // HISTORY_ISSUE} issues x {HISTORY_ISSUE} recipients "
                    f"through the daemon; then one issue to N = "
                    f"{' and '.join(map(str, HISTORY_NS))}")),
        ("burst", f"BENCH_BURST={BURST}" + (" (skipped)" if not BURST_ISSUES else
                  f": {BURST_ISSUES} issues x {BURST_RCPTS} recipients, tier 报, "
                  f"{BURST_CONNECTIONS} connections")),
        ("idle", f"BENCH_IDLE_SECONDS={IDLE_SECONDS:g} of strace; configurations of "
                 f"{' and '.join(map(str, IDLE_NS))} recipients; smtp.idle_timeout = "
                 f"{IDLE_TIMEOUT} so that settled means no connection left"),
        ("message", f"issue text {len(issue_text().encode()) // 1024} KB (UTF-8 Chinese), "
                    f"sent as text + HTML parts; max_rcpt_per_message = {harness.RCPT_PER_MESSAGE}"),
        ("sink", f"lean asyncio SMTPS (implicit TLS) on 127.0.0.1:{sink_port}, one thread, "
                 f"accepts all, stores nothing"),
    ]:
        print(textwrap.fill(value, WIDTH, initial_indent=f"{key:>9}: ",
                            subsequent_indent=" " * 11))


# ---- runs ------------------------------------------------------------------------

def fresh_folder(parent, name):
    return pathlib.Path(tempfile.mkdtemp(prefix=f"{name}.", dir=parent))


def one_delivery(sink, cert, scratch, n, connections, tier, state_from=None,
                 time_status=False):
    """One issue to n recipients on a fresh daemon; with state_from, the queue
    (and delivery log) of that folder are copied in first; with time_status,
    `distctl status` is timed after the delivery."""
    d = fresh_folder(scratch, "run")
    try:
        write_conf(d, sink.port, cert, n, connections)
        if state_from is not None:
            for f in state_from.iterdir():
                if f.name.startswith("queue.db") or f.name == "delivery.log":
                    shutil.copy2(f, d / f.name)
        with Daemon(d) as daemon:
            result = deliver(daemon, sink, [issue_text(HISTORY // HISTORY_ISSUE + 1, tier)],
                             n)
            if time_status:
                daemon.wait_quiet()
                timings = daemon.time_status(5)
                result["status"] = statistics.median(w for w, _ in timings)
                result["status_cpu"] = statistics.median(c for _, c in timings)
                result["start"] = statistics.median(
                    w for w, _ in daemon.time_status(5, ("--version",)))
            return result
    finally:
        shutil.rmtree(d, ignore_errors=True)


def floors(sink, cert, ns):
    got = {}
    for n in ns:
        got[n] = statistics.median(harness.floor_seconds(sink, cert, n) for _ in range(REPEAT))
    return got


def delivery_section(sink, cert, scratch, floor):
    combos = [(n, c, t) for c in (4, 1) for n in NS for t in ("to", "bcc")]
    runs = {k: [] for k in combos}
    # round robin: a slow moment of the machine touches every row alike
    for _ in range(REPEAT):
        for k in combos:
            runs[k].append(one_delivery(sink, cert, scratch, *k))
    results = {k: median_run(v) for k, v in runs.items()}
    rows = []
    for (n, c, t), r in results.items():
        ratio = r["seconds"] / floor[n]
        target = None
        if n == 10000:
            limit = 1.0 if c == 4 else 1.3 if c == 1 else None
            if limit is not None:
                target = f"<={limit:.1f} {'met' if ratio <= limit else 'NOT'}"
        rows.append((n, c, t, r["seconds"], r["first"] * 1000, r["tx"], r["tls"], r["sent"],
                     r["cpu"], r["cpu"] / n * 1e6, r["anon"], r["peak"], ratio, target))
    table("delivery: one issue to N recipients (one group), fresh queue",
          [("N", 6, ""), ("conn", 4, ""), ("tier", 4, None), ("seconds", 7, ".3f"),
           ("first ms", 8, ".1f"), ("tx", 4, ".0f"), ("tls", 3, ".0f"), ("MB sent", 7, ".1f"),
           ("cpu s", 6, ".2f"), ("cpu us/r", 8, ".0f"), ("anon MB", 7, ".1f"),
           ("peak MB", 7, ".1f"), ("x floor", 7, ".2f"), ("target", 9, None)],
          rows,
          ["floor (curl, one transaction): " +
           ", ".join(f"N {n}: {floor[n]:.3f} s" for n in NS),
           "seconds: rename into the outbox -> last acceptance; first ms: -> first "
           "acceptance; tx: transactions; tls: connections; MB sent: DATA bytes the sink "
           "received; cpu: distd's user+system CPU "
           "over that span; anon: RssAnon (private) right after; peak: VmHWM (peak "
           "resident, shared library pages included); target: issue 14's, at 10 000"])
    return results


# ---- the PostgreSQL queue, one and two nodes ---------------------------------------

def queue_run(sink, cert, scratch, n, pg=None, nodes=1):
    """One issue to n recipients (tier 报, PG_CONNECTIONS connections each) on
    fresh daemons: pg None, one on queue.db; else `nodes` daemons named a, b
    on one fresh database of pg, each with its folder (outbox, runtime folder,
    control socket), the issue renamed into a's outbox. Adds to deliver()'s
    figures: closed (first rename -> distctl status counting all n
    delivered), extra (acceptances beyond n), share_b (b's part of the sends,
    by its delivery log)."""
    name, state = pg.fresh() if pg else (None, None)
    folders = [fresh_folder(scratch, f"q-{node}") for node in PG_NODES[:nodes]]
    try:
        for f, node in zip(folders, PG_NODES):
            write_conf(f, sink.port, cert, n, PG_CONNECTIONS, state=state,
                       node=node if pg else None)
        with contextlib.ExitStack() as stack:
            daemons = [stack.enter_context(Daemon(
                f, env=dict(os.environ, RUNTIME_DIRECTORY=str(f)) if pg else None,
                stderr=f / "distd.stderr")) for f in folders]
            try:
                r = deliver(daemons[0], sink, [issue_text(1, "to")], n, seconds=120,
                            others=daemons[1:], server=pg)
                if not harness.wait_until(lambda: daemons[0].counts()["delivered"] >= n,
                                          120, 0.05):
                    raise RuntimeError(f"distctl status counts {daemons[0].counts()} "
                                       f"120 s after the sink accepted all {n}")
            except (RuntimeError, KeyError, ValueError) as e:
                raise RuntimeError(f"{e}; stderr: " + "; ".join(
                    f"{node}: {d.stderr_tail(3)}" for node, d in zip(PG_NODES, daemons)))
            r["closed"] = r["seconds"] + time.monotonic() - sink.last_accept
            r["extra"] = sink.delivered - n
            r["share_b"] = harness.sent_lines(folders[1]) / n if nodes > 1 else 0.0
            return r
    finally:
        for f in folders:
            shutil.rmtree(f, ignore_errors=True)
        if name:
            pg.drop(name)


def pg_section(sink, cert, scratch, floor):
    """Returns True when it ran or was skipped for want of PostgreSQL, False
    when a run failed (the bench then exits 1 after the other sections)."""
    from pgserver import PgUnavailable
    title = (f"PostgreSQL queue: one issue to N (tier 报, {PG_CONNECTIONS} connections a node), "
             "1 and 2 nodes, beside SQLite")
    started = time.monotonic()
    try:
        pg = harness.PgQueues()
    except PgUnavailable as e:
        notice(title, [f"skipped: {e}"])
        return True
    except RuntimeError as e:
        notice(title, [f"FAILED: no test cluster: {e}"])
        return False
    cluster = time.monotonic() - started
    combos = [(n, queue, nodes) for n in PG_NS
              for queue, nodes in (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))]
    runs = {k: [] for k in combos}
    try:
        # round robin, as in the delivery section
        for _ in range(REPEAT):
            for n, queue, nodes in combos:
                runs[n, queue, nodes].append(queue_run(
                    sink, cert, scratch, n, pg if queue == "postgresql" else None, nodes))
    except RuntimeError as e:
        notice(title, [f"FAILED ({n} recipients, {queue}, {nodes} node"
                       f"{'s' if nodes > 1 else ''}): {e}"])
        return False
    finally:
        pg.stop()
    results = {k: median_run(v) for k, v in runs.items()}
    rows = []
    for (n, queue, nodes), r in results.items():
        base = results[n, "sqlite", 1]["seconds"]
        rows.append((n, queue, nodes, r["seconds"], r["first"] * 1000, r["closed"], r["tx"],
                     r["tls"], r["cpu"],
                     r["server_cpu"] if queue == "postgresql" else None, r["seconds"] / floor[n],
                     r["seconds"] / base, r["share_b"] * 100 if nodes > 1 else None,
                     r["extra"]))
    table(title,
          [("N", 6, ""), ("queue", 10, None), ("nodes", 5, ""), ("seconds", 7, ".3f"),
           ("first ms", 8, ".1f"), ("closed s", 8, ".3f"), ("tx", 4, ".0f"),
           ("tls", 3, ".0f"), ("cpu s", 5, ".2f"), ("pg cpu", 6, ".2f"), ("x floor", 7, ".2f"), ("x sqlite", 8, ".2f"),
           ("b %", 3, ".0f"), ("extra", 5, ".0f")],
          rows,
          ["floor (curl, one transaction): " +
           ", ".join(f"N {n}: {floor[n]:.3f} s" for n in PG_NS),
           "seconds, first ms: as in the delivery section; closed: rename -> `distctl "
           "status` counts all N delivered; cpu: the daemons' CPU summed; pg cpu: the "
           "PostgreSQL server's processes' over the same span; x sqlite: over "
           "the sqlite row of the same N in this section; b %: recipients node b sent (its "
           "delivery log); extra: acceptances beyond N (a batch sent twice)",
           "two nodes: distd a and b on one database, each with its own folder, outbox, "
           "runtime folder and control socket; the issue is renamed into a's outbox only, "
           "b takes due recipients from the shared queue",
           f"PostgreSQL {pg.server.bindir.split('/')[-2]} (tests/integration/pgserver.py: "
           f"socket only, fsync=off) started in {cluster:.1f} s; a fresh database per run; "
           f"section {time.monotonic() - started:.0f} s"])
    return True


def build_history(sink, cert, scratch):
    """HISTORY rows delivered by distd itself: HISTORY / 1 000 issues of the to
    tier dropped at once. Returns the folder with the resulting queue, and the
    figures of the build."""
    d = fresh_folder(scratch, "history")
    issues = HISTORY // HISTORY_ISSUE
    write_conf(d, sink.port, cert, HISTORY_ISSUE, 4)
    with Daemon(d) as daemon:
        r = deliver(daemon, sink, [issue_text(k + 1, "to") for k in range(issues)],
                    HISTORY, seconds=1800)
        # distd records a batch after its acceptance: wait for the books to close
        harness.wait_until(lambda: daemon.counts()["delivered"] >= HISTORY, 120, 0.2)
        counts = daemon.counts()
    if counts["delivered"] < HISTORY:
        raise RuntimeError(f"history: the queue shows {counts} after the sink accepted all")
    return d, r


def history_section(sink, cert, scratch, floor):
    """Returns {(n, history): median run}, for the measured issue's n and the
    largest of BENCH_N."""
    started = time.monotonic()
    state, built = build_history(sink, cert, scratch)
    build_wall = time.monotonic() - started
    combos = [(n, h) for n in HISTORY_NS for h in (0, HISTORY)]
    runs = {k: [] for k in combos}
    try:
        for _ in range(REPEAT):
            for n, h in combos:
                runs[n, h].append(one_delivery(sink, cert, scratch, n, 4, "to",
                                               state_from=state if h else None,
                                               time_status=True))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    results = {k: median_run(v) for k, v in runs.items()}
    rows = [(n, h, r["seconds"], r["first"] * 1000, r["cpu"], r["seconds"] / n * 1e6,
             r["cpu"] / n * 1e6, r["seconds"] / floor[n], r["status"] * 1000,
             r["status_cpu"] * 1000)
            for (n, h), r in results.items()]
    table("history: one issue to N (tier 报, 4 connections) after a history of finished rows",
          [("N", 6, ""), ("history", 7, ""), ("seconds", 7, ".3f"), ("first ms", 8, ".1f"),
           ("cpu s", 6, ".2f"), ("wall us/r", 9, ".0f"), ("cpu us/r", 8, ".0f"),
           ("x floor", 7, ".2f"), ("status ms", 9, ".1f"), ("st cpu ms", 9, ".1f")],
          rows,
          [f"history built by distd: {HISTORY // HISTORY_ISSUE} issues x {HISTORY_ISSUE} "
           f"recipients renamed in at once, {built['tx']:.0f} transactions, first rename -> "
           f"last acceptance {built['seconds']:.1f} s ({build_wall:.1f} s with start-up and "
           f"the books closed); each run starts on a copy of that queue, under a "
           f"configuration of N recipients",
           "floor (curl, one transaction): " +
           ", ".join(f"N {n}: {floor[n]:.3f} s" for n in HISTORY_NS) +
           "; status: `distctl status` wall and CPU after the delivery, median of 5 calls",
           "start-up: `distctl --version` (loading its shared libraries, nothing read) "
           "in the same run: " + ", ".join(f"{r['start'] * 1000:.0f} ms"
                                           for r in results.values())])
    return results


def flat_section(sink, cert, scratch, floor, delivery):
    runs = {t: [] for t in ("to", "bcc")}
    for _ in range(REPEAT):
        for t in runs:
            runs[t].append(one_delivery(sink, cert, scratch, FLAT_N, 4, t))
    results = {}
    rows = []
    for t, v in runs.items():
        small = delivery.get((1000, 4, t))
        if small is None:
            small = median_run([one_delivery(sink, cert, scratch, 1000, 4, t)
                                for _ in range(REPEAT)])
        large = median_run(v)
        results[t] = (small, large)
        for n, r in ((1000, small), (FLAT_N, large)):
            rows.append((n, t, r["seconds"], r["sent"], r["cpu"], r["seconds"] / n * 1e6,
                         r["cpu"] / n * 1e6, r["anon"], r["peak"], r["seconds"] / floor[n]))
    table("flatness in N: cost per recipient, 4 connections, fresh queue",
          [("N", 6, ""), ("tier", 4, None), ("seconds", 8, ".3f"), ("MB sent", 7, ".1f"),
           ("cpu s", 6, ".2f"),
           ("wall us/r", 9, ".0f"), ("cpu us/r", 8, ".0f"), ("anon MB", 7, ".1f"),
           ("peak MB", 7, ".1f"), ("x floor", 7, ".2f")],
          rows,
          ["N 1 000 rows are the delivery section's; floor: " +
           ", ".join(f"N {n}: {floor[n]:.3f} s" for n in (1000, FLAT_N))])
    return results


def burst_section(sink, cert, scratch):
    runs = []
    for _ in range(REPEAT):
        d = fresh_folder(scratch, "burst")
        try:
            write_conf(d, sink.port, cert, BURST_RCPTS, BURST_CONNECTIONS)
            with Daemon(d) as daemon:
                texts = [issue_text(k + 1, "to") for k in range(BURST_ISSUES)]
                outbox_empty = []

                def done():
                    # when distd has taken every file: ingest finished
                    if not outbox_empty and not any(
                            not p.name.startswith(".") for p in daemon.outbox.iterdir()):
                        outbox_empty.append(time.monotonic())
                    return sink.delivered >= BURST_ISSUES * BURST_RCPTS

                sink.reset()
                cpu_before = daemon.cpu()
                started = daemon.drop(texts)
                renamed = time.monotonic()
                harness.wait_until(done, 600, 0.002)
                if sink.delivered < BURST_ISSUES * BURST_RCPTS:
                    raise RuntimeError(f"burst: only {sink.delivered} accepted in 600 s")
                runs.append(dict(
                    first=sink.first_accept - started, last=sink.last_accept - started,
                    renames=renamed - started,
                    ingested=(outbox_empty[0] - started) if outbox_empty else float("nan"),
                    tx=sink.transactions, tls=sink.connections,
                    cpu=daemon.cpu() - cpu_before))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    r = median_run(runs)
    table(f"burst: {BURST_ISSUES} issues x {BURST_RCPTS} recipients renamed into the outbox "
          f"at once (tier 报, {BURST_CONNECTIONS} connections)",
          [("first ms", 8, ".1f"), ("last s", 7, ".3f"), ("renames ms", 10, ".1f"),
           ("outbox empty s", 14, ".3f"), ("tx", 5, ".0f"), ("tls", 4, ".0f"),
           ("cpu s", 6, ".2f"), ("target", 14, None)],
          [(r["first"] * 1000, r["last"], r["renames"] * 1000, r["ingested"], r["tx"],
            r["tls"], r["cpu"], f"<50 ms {'met' if r['first'] < 0.05 else 'NOT'}")],
          ["first/last: the first rename -> the first/last acceptance at the sink; renames: "
           "how long the renames took; outbox empty: when distd had taken every file "
           "(polled every 2 ms)"])
    return r


def idle_once(sink, cert, scratch, n):
    """Memory of a daemon configured with n recipients: started, right after
    delivering one issue to all of them, and settled; wake-ups while settled."""
    d = fresh_folder(scratch, "idle")
    try:
        write_conf(d, sink.port, cert, n, 4, idle_timeout=IDLE_TIMEOUT)
        with Daemon(d) as daemon:
            loaded = daemon.memory()
            delivered = deliver(daemon, sink, [issue_text(1, "to")], n)
            time.sleep(IDLE_TIMEOUT + 1)
            daemon.wait_quiet()
            wakeups = harness.idle_wakeups(daemon.pid, IDLE_SECONDS)
            settled = daemon.memory()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return loaded, delivered, settled, wakeups


def idle_section(sink, cert, scratch):
    """Returns {n: (settled memory, wake-ups per minute)}."""
    results, rows = {}, []
    for n in IDLE_NS:
        loaded, delivered, settled, wakeups = idle_once(sink, cert, scratch, n)
        results[n] = (settled, wakeups)
        rows += [(n, "started, nothing sent", loaded["anon"], loaded["rss"], loaded["peak"],
                  None),
                 (n, "after one issue to all", delivered["anon"], delivered["rss"],
                  delivered["peak"], None),
                 (n, "settled (idle)", settled["anon"], settled["rss"], settled["peak"],
                  wakeups)]
    table("idle: distd's memory and wake-ups, one run per configuration size",
          [("recipients", 10, ""), ("moment", 22, None), ("anon MB", 7, ".1f"),
           ("rss MB", 7, ".1f"), ("peak MB", 7, ".1f"), ("wake-ups/min", 12, ".0f")],
          rows,
          ["recipients: how many the configuration defines (all in one group); anon: "
           "RssAnon (private memory); rss: VmRSS (resident, shared library pages included); "
           "peak: VmHWM",
           f"settled: {IDLE_TIMEOUT + 1} s after the last acceptance (connections closed), "
           f"no CPU for 0.2 s, then wake-ups traced with strace for {IDLE_SECONDS:g} s"])
    return results


def targets_section(delivery, floor, history, flat, burst, idle):
    rows = []

    def add(what, measured, runs, ok):
        rows.append((what, measured, runs, verdict(ok) if ok is not None else "-"))

    def paired(small, large, key, scale):
        """Per repeat: the large case's per-recipient key over the small's."""
        return [(b[key] / a[key]) * scale for a, b in zip(small["runs"], large["runs"])]

    for n in HISTORY_NS if history else ():
        h0, h1 = history[n, 0], history[n, HISTORY]
        wall, cpu = h1["seconds"] / h0["seconds"], h1["cpu"] / h0["cpu"]
        add(f"cost/rcpt, history 0 -> {HISTORY}, N {n}: <= 1.2x",
            f"wall {wall:.2f}x, cpu {cpu:.2f}x", spread(paired(h0, h1, "seconds", 1)),
            wall <= 1.2 and cpu <= 1.2)
    for t, (small, large) in (flat or {}).items():
        wall = (large["seconds"] / FLAT_N) / (small["seconds"] / 1000)
        cpu = (large["cpu"] / FLAT_N) / (small["cpu"] / 1000)
        add(f"cost/rcpt, N 1000 -> {FLAT_N}, {t}: <= 1.2x",
            f"wall {wall:.2f}x, cpu {cpu:.2f}x",
            spread(paired(small, large, "seconds", 1000 / FLAT_N)),
            wall <= 1.2 and cpu <= 1.2)
    for c, limit in ((4, 1.0), (1, 1.3)):
        for t in ("to", "bcc"):
            r = delivery.get((10000, c, t))
            if r is not None:
                ratio = r["seconds"] / floor[10000]
                add(f"10 000 rcpts, {c} conn{'s' if c > 1 else ''}, {t}: <= {limit:.1f}x floor",
                    f"{ratio:.2f}x ({r['seconds']:.3f} s)",
                    spread([x["seconds"] for x in r["runs"]], 1 / floor[10000]),
                    ratio <= limit)
    if burst:
        add("burst: first acceptance < 50 ms", f"{burst['first'] * 1000:.1f} ms",
            spread([x["first"] for x in burst["runs"]], 1000, 0), burst["first"] < 0.05)
    for n, (settled, wakeups) in idle.items():
        add(f"idle private memory (RssAnon) <= 8 MB, N {n}",
            f"{settled['anon']:.1f} MB", "1 run", settled["anon"] <= 8)
    for n, (settled, wakeups) in idle.items():
        add(f"idle wake-ups, N {n} (shown, no target)",
            "? (no strace)" if wakeups is None else f"{wakeups:.0f} per minute", "1 run", None)
    if history:
        n = HISTORY_ISSUE
        status = history[n, HISTORY]
        add(f"distctl status < 50 ms at {HISTORY} rows",
            f"{status['status'] * 1000:.1f} ms (at 0: "
            f"{history[n, 0]['status'] * 1000:.1f})",
            spread([x["status"] for x in status["runs"]], 1000, 1), status["status"] < 0.05)
    table("targets (issue 14)", [("target", 50, None), ("measured", 23, None),
                                 ("runs", 13, None), ("verdict", 7, None)],
          rows, ["cost/rcpt: the larger case's per-recipient wall time and distd CPU "
                 "over the smaller's, met when both <= 1.2; runs: the lowest and highest of "
                 "the first measured figure over the runs (ratios paired by repeat)"])


def main():
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="distd-bench.") as scratch_name:
        scratch = pathlib.Path(scratch_name)
        cert, key = make_certificate(scratch)
        sink = Sink(cert, key)
        try:
            print_settings(sink.port)
            ns = sorted(set(NS) | set(PG_NS) | {1000} | ({FLAT_N} if FLAT_N else set()))
            floor = floors(sink, cert, ns)
            print("\n== floor: curl, one SMTPS transaction to N recipients, median of "
                  f"{REPEAT}")
            for n in ns:
                print(f"   N {n:>6}: {floor[n]:.3f} s ({n / floor[n]:.0f} recipient "
                      f"acceptances/s: the sink on one lock-step connection)"
                      + (" [1]" if n > harness.TERSE_ABOVE else ""))
            if max(ns) > harness.TERSE_ABOVE:
                print(textwrap.fill(
                    "[1] RCPT answered with a bare \"250\": curl 7.88 stops a transfer after "
                    "300 KB of replies, which \"250 2.1.5 Ok\" reaches at ~22 000 "
                    "recipients", WIDTH, initial_indent="   ", subsequent_indent="     "))
            delivery = delivery_section(sink, cert, scratch, floor)
            pg_ok = pg_section(sink, cert, scratch, floor) if PG_NS else True
            history = history_section(sink, cert, scratch, floor) if HISTORY else None
            flat = flat_section(sink, cert, scratch, floor, delivery) if FLAT_N else None
            burst = burst_section(sink, cert, scratch) if BURST_ISSUES else None
            idle = idle_section(sink, cert, scratch)
            targets_section(delivery, floor, history, flat, burst, idle)
        finally:
            sink.stop()
    print(f"\nbench: {time.monotonic() - began:.0f} s in all; load average now "
          f"{load_average()}")
    if not pg_ok:
        print("bench: the PostgreSQL section failed (above)")
        sys.exit(1)


if __name__ == "__main__":
    main()
