"""Hostile input dropped into the outbox: each file is rejected or sent safely, the daemon
keeps running, no header is injected, and the rest of the queue is not disturbed."""

import os
import random

from conftest import wait_for
from test_delivery import TEN, issue_text


def corpus():
    rng = random.Random(7)
    good = issue_text(["单位0"])
    yield "random.txt", bytes(rng.randrange(256) for _ in range(4096))
    yield "nul.txt", good.encode()[:50] + b"\x00" + good.encode()[50:]
    yield "long-line.txt", (good + "甲" * (1 << 20) + "\n").encode()
    yield "many-units.txt", issue_text(["单位0"] + [f"无名{i}" for i in range(10000)]).encode()
    yield "bad-utf8.txt", good.encode() + b"\xc3\x28\xa0\xa1\xe2\x28\xa1"
    yield "bad-gb18030.txt", good.encode("gb18030") + b"\x81\x30\x81"
    yield "binary.txt", b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 64
    yield "name\nwith newline.txt", good.replace("第 7 期", "第 8 期").encode()
    yield "$(touch pwned); `id` & | ; <x>.txt", good.replace("第 7 期", "第 9 期").encode()
    # a title carrying CR/LF and header text must not become headers
    yield "inject.txt", ("工作简报\rBcc: evil@example.test\r\nX-Evil: 1\n\n第 10 期\n\n办公室\n\n"
                         "2021年3月4日\n\n正文。\n\n报：单位0\n").encode()
    yield "empty.txt", b""
    yield "bom-only.txt", b"\xef\xbb\xbf"


def test_hostile_corpus(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=TEN[:2])
    d.start()
    # an honest issue already in the queue, deferred, must come through untouched
    server.handler.rcpt_replies["u1@example.test"] = ["451 4.7.1 later"]
    d.drop("honest.txt", issue_text(["单位1"], no=99))
    wait_for(lambda: d.db.exists() and d.query("SELECT COUNT(*) FROM issues") == [(1,)],
             what="honest issue")
    names = []
    for name, data in corpus():
        d.drop(name, data)
        names.append(name)
    wait_for(lambda: not [p for p in d.outbox.iterdir() if not p.name.startswith(".")],
             timeout=60, what="outbox emptied")
    assert d.proc.poll() is None
    rejected = {p.name[:-7] for p in d.rejected.glob("*.reason")}
    queued = {s for (s,) in d.query("SELECT source FROM issues")}
    for name in names:
        assert (name in rejected) != (name in queued), name
    for name in ("random.txt", "nul.txt", "bad-utf8.txt", "binary.txt", "bad-gb18030.txt"):
        assert name in rejected, name
    # the honest issue still goes out
    d.wait_states(("delivered", "failed"), timeout=60)
    assert "u1@example.test" in server.handler.received()
    for m in server.messages:
        msg = m.parsed()
        assert msg["Bcc"] is None and msg["X-Evil"] is None
        assert "evil@example.test" not in m.rcpt_tos
        assert set(m.rcpt_tos) <= {a for _, a in TEN[:2]} | {"postmaster@example.test"}
    assert not os.path.exists("pwned")
    many = d.query("SELECT state, hold_reason FROM issues WHERE source = 'many-units.txt'")
    assert many[0][0] == "held" and "10000 unresolved units" in many[0][1]
