"""Workers never wait for bookkeeping: each connection has its next transaction ready
while one is in flight, results are recorded together, and a burst of issues is
ingested a few at a time while sending goes on. Nothing is sent twice, nothing is
left `sending`, nothing dropped is skipped or queued twice."""

import asyncio
import signal
import sqlite3
import time

from conftest import wait_for
from faultserver import FaultServer
from test_delivery import TEN, issue_text


class SlowDotServer(FaultServer):
    """Delays each end-of-data reply: a transaction stays in flight long enough for
    the test to act while it is, without the client seeing an error."""

    dot_delay = 0.3

    async def _reply(self, writer, reply):
        if reply.startswith("250 2.0.0"):
            await asyncio.sleep(self.dot_delay)
        return await super()._reply(writer, reply)


def slow_server(certificate, delay):
    s = SlowDotServer(*certificate)
    s.dot_delay = delay
    return s


def events(server, *whats):
    with server.lock:
        return [(t, c, w) for t, c, w in server.events if w in whats]


def test_next_transaction_starts_while_bookkeeping_is_blocked(certificate, distd):
    """connections = 1: the second transaction goes out on the same connection while
    the main thread cannot write the queue (the test holds its write lock for 2 s from
    the first MAIL on). Before, the worker waited for the first result to be recorded
    and the next batch taken, i.e. until the lock was released."""
    server = slow_server(certificate, 0.3)
    try:
        d = distd(server, recipients=TEN[:6],
                  smtp_extra="connections = 1; max_rcpt_per_message = 2;")
        d.start()
        d.drop("a.txt", issue_text([n for n, _ in TEN[:6]], no=1))
        wait_for(lambda: events(server, "MAIL"), timeout=20, interval=0.005,
                 what="the first MAIL")
        # the fault is the database's own write lock, taken from outside: raw SQLite
        con = sqlite3.connect(str(d.db), timeout=10, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        # valid only when the lock was taken while the first transaction was in flight
        assert len(events(server, "MAIL")) == 1
        data = events(server, "DATA")
        assert not data or locked_at < data[0][0] + server.dot_delay
        time.sleep(2.0)
        con.execute("COMMIT")
        con.close()
        mails = events(server, "MAIL")
        assert len(mails) >= 2, "no second transaction while the queue was locked"
        first_dot = events(server, "DATA")[0][0] + server.dot_delay
        assert mails[1][1] == mails[0][1], "not on the same connection"
        assert mails[1][0] < locked_at + 1.0
        assert mails[1][0] - first_dot < 0.5, mails[1][0] - first_dot
        d.wait_states(("delivered",), count=6)
        got = server.received()
        assert sorted(got) == sorted(a for _, a in TEN[:6])      # each exactly once
        assert server.transactions() == 3
        # recorded together, the history is whole: one attempt per recipient
        assert [e["status"] for e in d.log_entries()] == ["sent"] * 6
    finally:
        server.stop()


def test_burst_sends_before_ingest_ends(smtp_server, distd):
    """200 issues renamed in at once: the first is accepted before the last is
    ingested, and every issue is queued and sent exactly once."""
    server = smtp_server()
    d = distd(server, recipients=TEN[:1], smtp_extra="connections = 1;")
    d.start()
    stage = d.root / "stage"
    stage.mkdir()
    k = 200
    for i in range(k):
        (stage / f"i{i:03d}.txt").write_text(issue_text([TEN[0][0]], no=i + 1),
                                             encoding="utf-8")
    for i in range(k):
        (stage / f"i{i:03d}.txt").rename(d.outbox / f"i{i:03d}.txt")
    # one recipient in every issue: counted by state (states() is keyed by address,
    # and walking 200 issues one `show` at a time is slow)
    wait_for(lambda: sum(d.counts().values()) == k, timeout=120, what="every issue queued")
    wait_for(lambda: d.counts()["delivered"] == k, timeout=120, what="every issue delivered")
    lines = d.stderr_text().splitlines()
    queued = [i for i, l in enumerate(lines) if '" queued for' in l]
    sent = [i for i, l in enumerate(lines) if "status=sent" in l]
    assert len(queued) == k
    assert sent and sent[0] < queued[-1], "nothing was sent before the burst was ingested"
    # each issue once in the queue, once at the relay; nothing left in the outbox
    assert len({l.split(": issue ")[0] for l in lines if '" queued for' in l}) == k
    assert max(i["id"] for i in d.status()["issues"]) == k
    assert len(server.messages) == k
    assert sorted(e["issue"] for e in d.log_entries()) == list(range(1, k + 1))
    assert [p.name for p in d.outbox.iterdir() if not p.name.startswith(".")] == []


def test_shutdown_gives_back_jobs_that_never_started(certificate, distd):
    """SIGTERM while one transaction is in flight and the next is queued behind it:
    the queued one is given back untried (queued, no attempt, not a possible
    duplicate), nothing stays `sending`, and after a restart each recipient gets the
    issue exactly once."""
    server = slow_server(certificate, 1.0)
    try:
        d = distd(server, recipients=TEN[:4],
                  smtp_extra="connections = 1; max_rcpt_per_message = 1;")
        d.start()
        d.drop("a.txt", issue_text([n for n, _ in TEN[:4]], no=1))
        wait_for(lambda: events(server, "DATA"), timeout=20, interval=0.005,
                 what="the first DATA")
        # valid only with a job queued behind the one in flight
        assert d.counts()["sending"] == 2
        assert d.stop() == 0
        assert d.counts()["sending"] == 0
        assert len(server.messages) == 1          # the one in flight finished, no other
        first = server.received()[0]
        assert len(d.log_entries()) == 1
        assert [(r["state"], r["attempts"]) for r in d.recipients(1)].count(("queued", 0)) == 3
        # not flagged a possible duplicate: the stored flag is the point, raw SQL
        assert d.query("SELECT COUNT(*) FROM recipients WHERE possible_duplicate = 1") == [(0,)]
        server.dot_delay = 0
        d.start()
        d.wait_states(("delivered",), count=4)
        got = server.received()
        assert sorted(got) == sorted(a for _, a in TEN[:4])
        assert got.count(first) == 1
    finally:
        server.stop()


def test_refused_login_is_not_repeated_by_queued_jobs(certificate, distd, tmp_path):
    """After a login has worked, each connection has a job queued behind the one in
    flight. When the relay starts refusing the login, the queued job must not try it
    again at once: it is given back and waits for the paused relay's probe."""
    server = FaultServer(*certificate)
    secret = tmp_path / "pw"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    # transaction 1 logs in and is delivered; transaction 2's reused connection is
    # dropped at MAIL, so curl logs in again on a fresh one: refused from then on
    server.add("AUTH", "235 2.7.0 ok", *["535 5.7.8 bad credentials"] * 5)
    server.add("MAIL", "250 2.1.0 ok", "drop")
    try:
        d = distd(server, recipients=TEN[:6],
                  smtp_extra=f'connections = 1; max_rcpt_per_message = 1; '
                  f'username = "u@example.test"; password_file = "{secret}";',
                  retry="retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };")
        d.start()
        d.drop("a.txt", issue_text([n for n, _ in TEN[:6]], no=1))
        wait_for(lambda: len(events(server, "AUTH")) >= 2, timeout=20, interval=0.01,
                 what="the refused login")
        wait_for(lambda: "refused our credentials" in d.stderr_text(), timeout=20,
                 what="the auth alert")
        time.sleep(1.0)
        assert len(events(server, "AUTH")) == 2, "a queued job tried the refused login"
        assert len(server.messages) == 1
        # nothing left in flight: the queued job went back untried
        wait_for(lambda: d.counts()["sending"] == 0, timeout=10, what="nothing sending")
        assert [(r["state"], r["attempts"]) for r in d.recipients(1)].count(("queued", 0)) == 4
    finally:
        server.stop()
