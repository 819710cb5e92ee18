"""distd on the PostgreSQL queue at run time (issue 16): a lost database
connection is not fatal. The daemon takes nothing new, keeps what it has,
reconnects with back-off (1, 2, 4 … 60 s), says so in distctl status, and
then carries on without a restart: everything delivered, nothing twice."""

import collections
import json
import os

from conftest import run, wait_for

TEN = [(f"单位{i}", f"u{i}@example.test") for i in range(10)]
ISSUE = ("工作简报\n\n第 {no} 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n"
         "正文第一段，说明情况。\n\n报：{units}\n")


def issue_text(no=7):
    return ISSUE.format(no=no, units="，".join(n for n, _ in TEN))


def pg_distd(distd, server, pg, monkeypatch, tmp_path, **conf):
    """A configured daemon whose state is the test cluster's database."""
    # the PostgreSQL queue's lock file lives in the runtime folder
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path))
    d = distd(server, recipients=TEN, **conf)
    text = d.conf.read_text(encoding="utf-8")
    assert f'state = "{d.db}";' in text
    d.conf.write_text(text.replace(f'state = "{d.db}";', f'state = "{pg.conninfo}";'),
                      encoding="utf-8")
    return d


def psql(pg, sql):
    r = run([os.path.join(pg.bindir, "psql"), pg.conninfo, "-Atc", sql])
    assert r.returncode == 0, r.stderr
    return r.stdout


def received(server):
    """How many times each address got a message at the sink."""
    return collections.Counter(a for m in server.messages for a in m.rcpt_tos)


def all_received_once(server):
    got = received(server)
    return set(got) == {a for _, a in TEN} and all(n == 1 for n in got.values())


def delivered(d, issue):
    shown = d.show(issue)
    return shown is not None and all(r["state"] == "delivered" for r in shown["recipients"])


def test_terminated_connection_reconnects_and_delivers_once(
        pg_server, smtp_server, distd, monkeypatch, tmp_path):
    server = smtp_server()
    # five transactions of two, each held for a moment at the end of DATA:
    # the connection is cut while results are still coming in
    server.handler.data_delay = 0.4
    d = pg_distd(distd, server, pg_server, monkeypatch, tmp_path,
                 smtp_extra="max_rcpt_per_message = 2;")
    d.start()
    pid = d.proc.pid
    d.drop("a.txt", issue_text())
    wait_for(lambda: len(server.messages) >= 1, what="the first transaction")
    psql(pg_server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
         " WHERE datname = 'distd' AND pid <> pg_backend_pid()")
    wait_for(lambda: "reachable again" in d.stderr_text(), timeout=60,
             what="the daemon to reconnect")
    wait_for(lambda: delivered(d, 1), timeout=60, what="every recipient delivered")
    assert all_received_once(server), received(server)
    assert d.proc.poll() is None and d.proc.pid == pid   # no restart
    err = d.stderr_text()
    # once at the loss, once at the recovery; libpq's reason, never the conninfo
    assert err.count("taking nothing new") == 1, err
    assert err.count("reachable again") == 1, err
    assert pg_server.conninfo not in err and "dbname=" not in err
    # every attempt recorded once
    r = d.ctl("--json", "log", "-n", "1000", "--issue", "1")
    assert r.returncode == 0, r.stderr
    attempts = [e for e in map(json.loads, r.stdout.splitlines()) if e["status"] == "sent"]
    assert sorted(e["address"] for e in attempts) == sorted(a for _, a in TEN)


def test_server_down_shown_by_status_then_delivered_without_restart(
        pg_server, smtp_server, distd, monkeypatch, tmp_path):
    server = smtp_server()
    d = pg_distd(distd, server, pg_server, monkeypatch, tmp_path)
    d.start()
    pid = d.proc.pid
    # the daemon's view while all is well
    st = d.status()
    assert st["daemon"]["running"] and st["daemon"]["queue"] == {"connected": True}
    assert "queue connected" in d.ctl("status").stdout

    pg_server.halt()
    try:
        def shown_down():
            r = d.ctl("status")
            return r if "queue unreachable" in r.stdout else None
        r = wait_for(shown_down, timeout=30, what="status to show the queue unreachable")
        # distctl cannot reach the database either: the daemon's line, then
        # the database error, and a failure
        assert r.returncode != 0
        assert "running (pid" in r.stdout and "next try in" in r.stdout
        assert "cannot connect to the PostgreSQL queue" in r.stderr
        assert "dbname=" not in r.stdout + r.stderr
        j = d.ctl("--json", "status")
        assert j.returncode != 0
        q = json.loads(j.stdout)["daemon"]["queue"]
        assert q["connected"] is False and q["next_try"] >= 0 and q["error"]
        assert q["since"] is not None

        # an issue dropped meanwhile waits in the outbox
        d.drop("b.txt", issue_text(8))
        assert (d.outbox / "b.txt").exists()
        assert server.messages == []
    finally:
        pg_server.resume()

    # back: reconnected at the next try (≤ 8 s at this point of the back-off),
    # the issue ingested and delivered, by the same process
    wait_for(lambda: all_received_once(server), timeout=90,
             what="the issue dropped during the outage delivered")
    wait_for(lambda: delivered(d, 1), timeout=30, what="recorded as delivered")
    assert d.proc.poll() is None and d.proc.pid == pid
    assert d.status()["daemon"]["queue"] == {"connected": True}
    err = d.stderr_text()
    assert err.count("taking nothing new") == 1, err
    assert err.count("reachable again") == 1, err
    assert not (d.outbox / "b.txt").exists()


def test_idle_daemon_woken_by_another_writer(
        pg_server, smtp_server, distd, monkeypatch, tmp_path):
    """Another node's write that makes work due (here a retry by hand on the
    database, as distctl retry on another machine) wakes the idle daemon
    through LISTEN/NOTIFY: without it, it would sleep until the deferral's
    hour is up."""
    server = smtp_server()
    server.handler.rcpt_replies["u3@example.test"] = ["451 4.7.1 greylisted, try later"]
    # a long lease: its heartbeat (a third of it) must not be what wakes the loop
    d = pg_distd(distd, server, pg_server, monkeypatch, tmp_path,
                 retry="retry = { min_backoff = 3600; max_backoff = 7200; lifetime = 86400; };",
                 extra="node = { lease = 600; };")
    d.start()
    d.drop("a.txt", issue_text())
    wait_for(lambda: d.show(1) and d.states(1).get("u3@example.test") == "deferred"
             and sum(v == "delivered" for v in d.states(1).values()) == 9,
             what="nine delivered, one deferred for an hour")
    assert received(server)["u3@example.test"] == 0
    psql(pg_server, "UPDATE recipients SET next_attempt = 0 WHERE state = 'deferred'")
    wait_for(lambda: received(server)["u3@example.test"] == 1, timeout=30,
             what="the deferred recipient sent at once")
    wait_for(lambda: delivered(d, 1), what="recorded as delivered")
