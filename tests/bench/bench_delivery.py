"""make bench: distd's delivery speed against a lean SMTPS sink on 127.0.0.1.

For N = 1 000 and 10 000 recipients (one ~20 KB issue addressed through one
group), with smtp.connections = 4 and = 1: seconds from drop to the last
acceptance, deliveries per second, SMTP transactions, TLS connections, distd's
CPU seconds and peak RSS; then the floor (one curl command, one transaction to
all N) and the ratio; then distd's wake-ups per minute while idle.
"""

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from sink import Sink  # noqa: E402
from smtpserver import make_certificate  # noqa: E402

BUILD = pathlib.Path(os.environ.get("DISTD_BUILD", ROOT / "build"))
CLK = os.sysconf("SC_CLK_TCK")


def issue_text():
    para = ("本期简报介绍各区创建全国文明城市的进展情况，各单位齐抓共管，"
            "持续推进环境整治、志愿服务和宣传引导工作。") * 8
    body = "\n\n".join(para for _ in range(14))   # ~20 KB of UTF-8
    return (f"基准测试简报\n\n第 1 期\n\n测试办公室\n\n2021年1月1日\n\n---\n\n{body}\n\n"
            "报：全体单位\n")


def write_conf(d, port, ca, n, connections):
    rs = ",\n".join(f'{{ name = "单位{i}"; address = "u{i}@bench.example.test"; }}'
                    for i in range(n))
    members = ", ".join(f'"单位{i}"' for i in range(n))
    (d / "distd.conf").write_text(f"""
outbox = "{d}/outbox"; archive = "{d}/archive"; rejected = "{d}/rejected";
state = "{d}/queue.db"; delivery_log = "{d}/delivery.log"; control_socket = "{d}/control";
smtp = {{ url = "smtps://127.0.0.1:{port}"; ca_file = "{ca}"; connections = {connections}; }};
sender = {{ from = "基准 <bench@example.test>"; }};
recipients = ( {rs} );
groups = ( {{ name = "全体单位"; members = [ {members} ]; }} );
""", encoding="utf-8")


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK
    rss = anon = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1]) / 1024
    return cpu, rss, anon


def run_distd(sink, cert, n, connections):
    with tempfile.TemporaryDirectory(prefix="distd-bench.") as tmp:
        d = pathlib.Path(tmp)
        write_conf(d, sink.port, cert, n, connections)
        p = subprocess.Popen([BUILD / "distd", "-c", d / "distd.conf", "-f"],
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not (d / "control").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            sink.reset()
            (d / "outbox" / ".issue.tmp").write_text(issue_text(), encoding="utf-8")
            t0 = time.monotonic()
            os.rename(d / "outbox" / ".issue.tmp", d / "outbox" / "issue.txt")
            deadline = t0 + 600
            expected_tx = -(-n // 50)
            while (sink.rcpts < n or sink.transactions < expected_tx) and \
                    time.monotonic() < deadline:
                time.sleep(0.005)
            elapsed = sink.last_accept - t0
            cpu, rss, anon = proc_stats(p.pid)
            result = dict(n=n, conns=connections, seconds=elapsed, rate=n / elapsed,
                          tx=sink.transactions, tls=sink.connections, cpu=cpu, rss=rss,
                          anon=anon, got=sink.rcpts)
            idle = None
            if n == 1000 and connections == 4:
                idle = idle_wakeups(p.pid)
            return result, idle
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(60)


def idle_wakeups(pid, seconds=10):
    """epoll_wait calls that return while nothing happens, per minute."""
    out = tempfile.mktemp(prefix="distd-strace.")
    try:
        t = subprocess.Popen(["strace", "-f", "-e", "trace=epoll_wait,poll,select,nanosleep,"
                              "clock_nanosleep", "-o", out, "-p", str(pid)],
                             stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        return None
    time.sleep(seconds)
    t.send_signal(signal.SIGINT)
    t.wait(10)
    lines = pathlib.Path(out).read_text().splitlines()
    os.unlink(out)
    returned = [l for l in lines if ("epoll_wait" in l or "resumed" in l) and "= " in l
                and "ERESTART" not in l and "unfinished" not in l]
    return max(0, len(returned) - 1) * 60 / seconds


def run_floor(sink, cert, n):
    msg = issue_text().encode()
    data = (b"From: bench@example.test\r\nSubject: floor\r\n\r\n" +
            msg.replace(b"\n", b"\r\n"))
    rc_file = tempfile.NamedTemporaryFile(prefix="distd-rcpts.", mode="w", delete=False)
    # curl's --mail-rcpt per address on the command line (argv is long but fine)
    args = ["curl", "-sS", "--url", f"smtps://127.0.0.1:{sink.port}", "--cacert", cert,
            "--mail-from", "bench@example.test", "--upload-file", "-"]
    for i in range(n):
        args += ["--mail-rcpt", f"u{i}@bench.example.test"]
    rc_file.close()
    os.unlink(rc_file.name)
    sink.reset()
    t0 = time.monotonic()
    subprocess.run(args, input=data, check=True, capture_output=True, timeout=600)
    elapsed = time.monotonic() - t0
    assert sink.rcpts == n, sink.rcpts
    return elapsed


def main():
    ns = [int(x) for x in os.environ.get("BENCH_N", "1000 10000").split()]
    with tempfile.TemporaryDirectory(prefix="distd-bench-tls.") as tls:
        cert, key = make_certificate(tls)
        sink = Sink(cert, key)
        print(f"sink: lean asyncio SMTPS on 127.0.0.1:{sink.port}")
        floors = {}
        for n in ns:
            floors[n] = run_floor(sink, cert, n)
            print(f"floor: curl, one transaction to {n} recipients: {floors[n]:.3f} s "
                  f"(the sink on one lock-step connection: {n / floors[n]:.0f} "
                  f"recipient acceptances/s)")
        idle = None
        print(f"{'N':>6} {'conns':>5} {'seconds':>8} {'deliv/s':>8} {'tx':>5} {'tls':>4} "
              f"{'cpu s':>6} {'rss MB':>6} {'anon':>5} {'x floor':>7}")
        for conns in (4, 1):
            for n in ns:
                r, i = run_distd(sink, cert, n, conns)
                idle = idle if i is None else i
                print(f"{r['n']:>6} {r['conns']:>5} {r['seconds']:>8.3f} {r['rate']:>8.0f} "
                      f"{r['tx']:>5} {r['tls']:>4} {r['cpu']:>6.2f} {r['rss']:>6.1f} "
                      f"{r['anon']:>5.1f} "
                      f"{r['seconds'] / floors[n]:>7.2f}"
                      + ("" if r["got"] == n else f"  (only {r['got']} accepted!)"))
        print("rss MB: peak resident set (VmHWM), of which ~15 MB are shared library pages "
              "(libcurl, OpenSSL, GLib/GMime, SQLite); anon: private heap at the end")
        if idle is not None:
            print(f"idle: {idle:.0f} wake-ups per minute (strace over 10 s, no mail, no watchdog)")
        sink.stop()


if __name__ == "__main__":
    main()
