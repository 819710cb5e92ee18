"""Two distd nodes on one PostgreSQL queue, end to end (issue 16).

(a) A node is killed (SIGKILL) in the middle of a 2 000-recipient delivery;
    the other one takes its leases over when they expire and finishes alone:
    every recipient received, nothing marked delivered that the relay never
    got, duplicates only among what the dead node had in flight, each one's
    second copy sent by an attempt flagged possible_duplicate. Seeded runs:
    DISTD_NODES_RUNS of them (default 10), each its own test id, the kill
    point drawn from the seed.
(b) Two nodes on one shared outbox: 200 files dropped at once, each queued
    once, archived once; then one node dies with an entry claimed, and the
    other takes it over.
(c) One node on a shared outbox (SQLite): its leftover claims read at start;
    a file that appears without any event found by the periodic rescan and
    read only once quiet.

The whole file takes about 2 minutes on the 2-core development machine
(10 runs of (a) at 8-12 s each, one PostgreSQL cluster for the module).

Facts are read from the database with psql: the queue's own rows are the
point here, and they must not depend on which node answers.
"""

import os
import random
import signal
import time

import pytest

from conftest import SEED_MENTOUGOU, Distd, wait_for

RUNS = int(os.environ.get("DISTD_NODES_RUNS", "10"))
LEASE = 3

# The seed's footer (报: 5 units, 发: 3 units), each unit a group of 250
# generated bodies: 2 000 addresses under example.test.
UNITS = ["首都文明办", "区委", "区人大", "区政府", "区政协领导同志",
         "全区各单位主要领导", "创城工作主管领导", "信息员"]
PER_UNIT = 250
DIRECTORY = [(f"单位{i:04d}", f"u{i:04d}@example.test") for i in range(len(UNITS) * PER_UNIT)]
GROUPS = [(unit, [DIRECTORY[k * PER_UNIT + j][0] for j in range(PER_UNIT)])
          for k, unit in enumerate(UNITS)]
ADDRESSES = {a for _, a in DIRECTORY}


class Node(Distd):
    """One distd node: its own log, socket and runtime folder (the queue lock
    file lives there); a PostgreSQL queue (pg), else its own SQLite one; an
    outbox of its own or shared."""

    def __init__(self, binaries, root, server, pg, name, spool=None, shared=False):
        super().__init__(binaries, root, server)
        self.root.mkdir(parents=True, exist_ok=True)
        self.pg = pg
        self.name = name
        self.shared = shared
        self.runtime = self.root / "run"
        self.runtime.mkdir(exist_ok=True)
        if spool is not None:
            self.outbox = spool / "outbox"
            self.archive = spool / "archive"
            self.rejected = spool / "rejected"

    def paths(self):
        outbox = (f'outbox = {{ path = "{self.outbox}"; shared = true; }};\n' if self.shared
                  else f'outbox = "{self.outbox}";\n')
        return (outbox + f'archive = "{self.archive}";\nrejected = "{self.rejected}";\n'
                f'state = "{self.pg.uri if self.pg else self.db}";\nnode = {{ name = "{self.name}"; lease = {LEASE}; }};\n'
                f'delivery_log = "{self.log}";\ncontrol_socket = "{self.socket}";\n')

    def start(self, *extra_args):
        # the PostgreSQL queue's lock file is per node: RUNTIME_DIRECTORY, as
        # systemd sets it
        old = os.environ.get("RUNTIME_DIRECTORY")
        os.environ["RUNTIME_DIRECTORY"] = str(self.runtime)
        try:
            return super().start(*extra_args)
        finally:
            if old is None:
                del os.environ["RUNTIME_DIRECTORY"]
            else:
                os.environ["RUNTIME_DIRECTORY"] = old


@pytest.fixture
def nodes(binaries, tmp_path):
    """Factory: nodes(server, pg, name, …) → a Node; each is stopped at the end
    (SIGTERM, then SIGKILL), and one that crashes on SIGTERM fails the test."""
    made = []

    def make(server, pg, name, **kw):
        n = Node(binaries, tmp_path / name, server, pg, name, **kw)
        made.append(n)
        return n

    yield make
    problems = []
    for n in made:
        running = n.proc is not None and n.proc.poll() is None
        rc = n.stop()
        if running and rc != 0:
            problems.append(f"node {n.name} exited {rc} on SIGTERM:\n{n.stderr_text()[-2000:]}")
    assert not problems, "\n".join(problems)


def states(db):
    """{address: state} of the bulletin's recipients."""
    rows = db.sql("SELECT r.address, r.state FROM recipients r"
                  " JOIN issues i ON i.id = r.issue WHERE i.kind = 'bulletin'"
                  " AND r.replaced_by IS NULL")
    return dict((a, s) for a, s in rows)


def delivery_conf(node, server, recipients, groups=()):
    # two connections a node, small transactions: many batches in flight at
    # any moment, so a kill always cuts some
    node.write_conf(recipients=recipients, groups=groups,
                    smtp_extra="connections = 2; max_rcpt_per_message = 25; timeout = 30;",
                    retry="retry = { min_backoff = 1; max_backoff = 2; lifetime = 600; };")


@pytest.mark.parametrize("seed", range(RUNS), ids=[f"seed{s}" for s in range(RUNS)])
def test_kill_one_node_mid_delivery(seed, pg_database, rcpt_sink, nodes):
    rnd = random.Random(seed)
    server = rcpt_sink
    # a sink slow enough that a kill lands mid-delivery (about 4 s for all)
    server.handler.data_delay = 0.04
    db = pg_database()
    a = nodes(server, db, "a")
    b = nodes(server, db, "b")
    for n in (a, b):
        delivery_conf(n, server, DIRECTORY, GROUPS)
    a.start()
    b.start()
    victim, survivor = (a, b) if rnd.random() < 0.5 else (b, a)
    kill_at = rnd.randint(len(ADDRESSES) // 10, len(ADDRESSES) * 8 // 10)
    # the seed bulletin, dropped on the node that is going to die or the other
    rnd.choice((a, b)).drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())

    sending = ("SELECT r.address FROM recipients r JOIN issues i ON i.id = r.issue"
               f" WHERE i.kind = 'bulletin' AND r.state = 'sending' AND r.node = '{victim.name}'")

    # past the seed's point, at a moment the victim has a batch taken: both
    # nodes take work (the idle one is woken when the issue is queued)
    wait_for(lambda: len(server.handler.received()) >= kill_at, timeout=90, interval=0.005,
             what=f"{kill_at} recipients at the sink")
    wait_for(lambda: db.sql(sending + " LIMIT 1"), timeout=30, interval=0.01,
             what=f"node {victim.name} sending")
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    at_kill = len(set(server.handler.received()))
    # the dead node's rows stay `sending` until its lease runs out (LEASE s):
    # read at once, that is what it had in flight
    in_flight = {r[0] for r in db.sql(sending)}
    assert 0 < at_kill < len(ADDRESSES), f"the kill missed the delivery ({at_kill} received)"
    # it took part: a batch in flight now, or (its last one recorded in the
    # instant before the kill) deliveries of its own in its log
    assert in_flight or victim.log_lines(), f"node {victim.name} never took part"
    survivor_pid = survivor.proc.pid

    def finished():
        s = states(db)
        return len(s) == len(ADDRESSES) and all(v == "delivered" for v in s.values())
    wait_for(finished, timeout=120, interval=0.2, what="every recipient delivered by the survivor")

    # the survivor did it alone, without a restart of anything
    assert survivor.proc.poll() is None and survivor.proc.pid == survivor_pid
    assert victim.proc.poll() is not None

    received = [r for r in server.handler.received() if r in ADDRESSES]
    got = set(received)
    final = states(db)
    assert set(final) == ADDRESSES
    assert ADDRESSES <= got, f"never received: {sorted(ADDRESSES - got)[:10]}"
    delivered = {a for a, s in final.items() if s == "delivered"}
    assert delivered <= got, f"delivered but never received: {sorted(delivered - got)[:10]}"
    counts = {}
    for addr in received:
        counts[addr] = counts.get(addr, 0) + 1
    dups = {addr for addr, k in counts.items() if k > 1}
    assert all(counts[x] == 2 for x in dups), "a recipient received three times"
    assert dups <= in_flight, (f"duplicates not in flight at the kill: "
                               f"{sorted(dups - in_flight)[:10]}")
    assert len(dups) <= len(in_flight)
    # the attempt that sent the second copy says so (attempts.possible_duplicate,
    # note=possible-duplicate in the log); the recipient's own flag is cleared
    # once it is delivered, as on SQLite
    flagged = {r[0] for r in db.sql(
        "SELECT r.address FROM attempts a JOIN recipients r ON r.id = a.recipient"
        " WHERE a.status = 'sent' AND a.possible_duplicate = 1")}
    unflagged = dups - flagged
    assert not unflagged, f"duplicates not flagged possible_duplicate: {sorted(unflagged)[:10]}"
    # what was not in flight went out once
    assert all(counts[x] == 1 for x in ADDRESSES - in_flight)
    print(f"seed {seed}: killed {victim.name} at {at_kill} received, {len(in_flight)} in flight,"
          f" {len(dups)} received twice")


SMALL = [(f"机关{i}", f"office{i}@example.test") for i in range(3)]
ISSUE = ("工作简报\n\n第 {no} 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n"
         "第 {no} 期正文，说明情况。\n\n报：机关0、机关1\n\n发：机关2\n")


def test_shared_outbox_each_file_queued_once(pg_database, rcpt_sink, nodes, tmp_path):
    server = rcpt_sink
    db = pg_database()
    spool = tmp_path / "spool"
    a = nodes(server, db, "a", spool=spool, shared=True)
    b = nodes(server, db, "b", spool=spool, shared=True)
    for n in (a, b):
        delivery_conf(n, server, SMALL)
    a.start()
    b.start()
    # written as dotfiles first, then renamed in one after the other: both
    # nodes see every name arrive
    files = [f"第{no:03d}期.txt" for no in range(1, 201)]
    for no, name in enumerate(files, 1):
        (a.outbox / f".{name}.tmp").write_text(ISSUE.format(no=no), encoding="utf-8")
    for name in files:
        os.rename(a.outbox / f".{name}.tmp", a.outbox / name)

    def issues():
        return int(db.value("SELECT COUNT(*) FROM issues WHERE kind = 'bulletin'") or 0)
    wait_for(lambda: issues() >= 200 and not any(
        p.name in files for p in a.outbox.iterdir()), timeout=90, interval=0.2,
        what="200 issues queued and the outbox empty")
    # delivered too: a second ingest of any file would have shown by then
    wait_for(lambda: db.value("SELECT COUNT(*) FROM recipients WHERE state = 'delivered'")
             == str(200 * len(SMALL)), timeout=90, interval=0.2, what="600 deliveries")

    assert issues() == 200
    assert db.value("SELECT COUNT(*) FROM issues WHERE duplicate_of IS NOT NULL") == "0"
    assert db.value("SELECT COUNT(DISTINCT source) FROM issues WHERE kind = 'bulletin'") == "200"
    sources = db.sql("SELECT name, archived FROM sources")
    assert len(sources) == 200
    assert sorted(s[0] for s in sources) == sorted(files)
    assert all(s[1] and s[1].endswith("/" + s[0]) for s in sources), \
        [s for s in sources if not s[1] or not s[1].endswith("/" + s[0])][:5]
    # archived once each, from the claim folders, which are empty now
    archived = sorted(p.name for p in a.archive.glob("*/*/*"))
    assert archived == sorted(files)
    for n in (a, b):
        claims = a.outbox / f".node-{n.name}"
        assert claims.is_dir() and list(claims.iterdir()) == []
    assert [p.name for p in a.outbox.iterdir() if not p.name.startswith(".")] == []
    assert not list(a.rejected.iterdir())
    # a server queue has no file to watch for its loss: no warning about one
    assert "cannot watch" not in a.stderr_text() + b.stderr_text()
    # each bulletin went out once
    received = [r for r in server.handler.received() if r.endswith("@example.test")]
    assert len(received) == 200 * len(SMALL)

    # b dies for good with an entry claimed and not read: once its lease has
    # run out, a takes the entry over (one rename) and reads it
    b.kill()
    (a.outbox / ".node-b" / "orphan.txt").write_text(ISSUE.format(no=201), encoding="utf-8")
    wait_for(lambda: len(list(a.archive.glob("*/*/orphan.txt"))) == 1, timeout=40,
             what="b's claim taken over by a and archived")
    assert issues() == 201
    assert not (a.outbox / ".node-b").exists()
    assert "node b stopped heartbeating; 1 outbox entry" in a.stderr_text()


def test_shared_outbox_leftovers_and_rescan(rcpt_sink, nodes, tmp_path):
    """One node on a shared outbox (its own SQLite queue): what it had claimed
    before it died is ingested at start; a file that appears without an event
    (written on another machine onto a network share, where inotify sees
    nothing) is found by the periodic rescan, and read only once it has
    stopped growing."""
    server = rcpt_sink
    spool = tmp_path / "spool"
    a = nodes(server, None, "a", spool=spool, shared=True)
    delivery_conf(a, server, SMALL)
    # claimed by this node, which then died: left in its claim folder
    claims = a.outbox / ".node-a"
    claims.mkdir(parents=True)
    (claims / "left.txt").write_text(ISSUE.format(no=1), encoding="utf-8")
    a.start()
    wait_for(lambda: len(list(a.archive.glob("*/*/left.txt"))) == 1, timeout=30,
             what="the leftover claim archived")
    # what a remote writer looks like to this machine: the name appears (a
    # hard link made in the outbox, the first name then removed), and the
    # file grows through a descriptor opened elsewhere: no close-write and
    # no rename in the outbox, ever. It grows past a rescan (every 10 s).
    text = ISSUE.format(no=2).encode("utf-8")
    outside = spool / "late.txt"
    with open(outside, "wb", buffering=0) as f:
        os.link(outside, a.outbox / "late.txt")
        outside.unlink()
        pieces = 14
        step = len(text) // pieces + 1
        for k in range(pieces):
            f.write(text[k * step:(k + 1) * step])
            time.sleep(1)
    wait_for(lambda: len(list(a.archive.glob("*/*/late.txt"))) == 1, timeout=40,
             what="the file without an event found by a rescan")
    wait_for(lambda: len(server.handler.received()) == 2 * len(SMALL), timeout=30,
             what="both issues delivered")
    assert sorted(server.handler.received()) == sorted(2 * [a for _, a in SMALL])
    assert list(a.rejected.iterdir()) == []
    assert (next(a.archive.glob("*/*/late.txt"))).read_bytes() == text
    assert list(claims.iterdir()) == []
    assert [p.name for p in a.outbox.iterdir()] == [".node-a"]
    assert "left.txt: issue 1" in a.stderr_text()
    assert "late.txt: issue 2" in a.stderr_text()
