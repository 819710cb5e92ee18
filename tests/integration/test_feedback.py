"""The feedback mailbox (issue 17): bounces, MDNs and replies read over IMAPS
from a throw-away Dovecot (imap_server, imapserver.py) and applied to the
queue; what is not understood is left where it is for a human."""

import os
import subprocess

import pytest

from conftest import both_backends, wait_for

UNITS = [("甲单位", "a@example.test"), ("乙单位", "b@example.test"),
         ("丙单位", "c@example.test"), ("丁单位", "d@example.test")]
ISSUE = ("工作简报\n\n第 7 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n"
         "正文第一段，说明情况。\n\n报：甲单位，乙单位，丙单位，丁单位\n")


def feedback_conf(d, imap, smtp, password=None, interval=30, extra="", ca_file=None):
    pw = d.root / "feedback.password"
    pw.write_text((password or imap.password) + "\n")
    os.chmod(pw, 0o600)
    d.write_conf(UNITS, extra=(
        "feedback = {\n"
        f'  url = "{imap.url}INBOX";\n'
        f'  username = "{imap.user}";\n'
        f'  password_file = "{pw}";\n'
        f'  ca_file = "{ca_file or imap.ca_file}";\n'
        f"  interval = {interval};\n"
        f"{extra}"
        "};\n"))


def headers_of(raw):
    """The header section of a message as received (CRLF), for a bounce's
    text/rfc822-headers part."""
    raw = raw.replace(b"\r\n", b"\n")
    return raw.split(b"\n\n", 1)[0].replace(b"\n", b"\r\n") + b"\r\n"


def dsn(original_headers, rcpt, action=b"failed", status=b"5.1.1"):
    return (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
            b"To: bulletin@example.test\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\n"
            b"Date: Tue, 24 Nov 2026 03:00:00 +0800\r\n"
            b"Message-ID: <bounce.1@mx.example.net>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
            b"\tboundary=\"BB\"\r\n\r\n"
            b"--BB\r\nContent-Type: text/plain\r\n\r\nThe mail system bounced it.\r\n"
            b"--BB\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
            b"Final-Recipient: rfc822; " + rcpt.encode() + b"\r\n"
            b"Action: " + action + b"\r\nStatus: " + status + b"\r\n"
            b"Diagnostic-Code: smtp; 550 5.1.1 <" + rcpt.encode() + b">: User unknown\r\n\r\n"
            b"--BB\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            + original_headers +
            b"--BB--\r\n")


def mdn(msgid, rcpt):
    return ("From: 乙单位 <" + rcpt + ">\r\n"
            "To: bulletin@example.test\r\n"
            "Subject: Read: 工作简报\r\n"
            "Date: Tue, 24 Nov 2026 04:00:00 +0800\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=disposition-notification;\r\n"
            " boundary=\"MM\"\r\n\r\n"
            "--MM\r\nContent-Type: text/plain\r\n\r\nDisplayed.\r\n"
            "--MM\r\nContent-Type: message/disposition-notification\r\n\r\n"
            "Reporting-UA: mua.example.test; Thunderbird\r\n"
            "Final-Recipient: rfc822;" + rcpt + "\r\n"
            "Original-Message-ID: <" + msgid + ">\r\n"
            "Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n"
            "--MM--\r\n").encode()


def reply(msgid, sender):
    return ("From: 丙单位 <" + sender + ">\r\n"
            "To: bulletin@example.test\r\n"
            "Subject: Re: 工作简报 第7期\r\n"
            "Date: Tue, 24 Nov 2026 05:00:00 +0800\r\n"
            "In-Reply-To: <" + msgid + ">\r\n"
            "References: <" + msgid + ">\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "收到，谢谢。\r\n").encode()


UNRELATED = (b"From: friend@example.net\r\nTo: bulletin@example.test\r\n"
             b"Subject: lunch?\r\nDate: Tue, 24 Nov 2026 06:00:00 +0800\r\n"
             b"Message-ID: <lunch@example.net>\r\n\r\nNoon?\r\n")


def malformed(msgid):
    # a delivery report whose recipient block has no Action: not understood
    return (b"From: MAILER-DAEMON@mx.example.net\r\nTo: bulletin@example.test\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"XX\"\r\n\r\n"
            b"--XX\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
            b"Final-Recipient: rfc822; d@example.test\r\nStatus: 5.1.1\r\n\r\n"
            b"--XX\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            b"Message-ID: <" + msgid.encode() + b">\r\n\r\n"
            b"--XX--\r\n")


def rows(d, issue):
    """{address: (state, bounced, bounce_status, confirmed, confirmed_by)} as
    `distctl show N --json` says."""
    return {r["address"]: (r["state"], r.get("bounced"), r.get("bounce_status"),
                           r.get("confirmed"), r.get("confirmed_by"))
            for r in d.recipients(issue)}


def history(d):
    """Bounced and confirmed rows in the history (`distctl log --json`)."""
    return sum(1 for e in d.log_entries() if e.get("status") in ("bounced", "confirmed"))


@both_backends
def test_feedback_mailbox(smtp_server, distd, imap_server):
    imap = imap_server
    server = smtp_server()
    d = distd(server)
    feedback_conf(d, imap, server)
    check = subprocess.run([d.binaries["distd"], "-c", str(d.conf), "--check-config"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert f"feedback:   {imap.url}INBOX as feedback every 30 s, processed to distd-done" \
        in check.stdout
    d.start()
    d.drop("seed.txt", ISSUE)
    d.wait_states(("delivered",), count=4)
    issue = d.issues("bulletin")[0]["id"]
    sent = server.messages[0]
    msg = sent.parsed()
    msgid = msg["Message-ID"].strip("<>")
    assert msg["X-Distd-Issue"] == str(issue)

    imap.deliver(dsn(headers_of(sent.data), "a@example.test"))
    imap.deliver(mdn(msgid, "b@example.test"))
    imap.deliver(reply(msgid, "c@example.test"))
    imap.deliver(UNRELATED)
    imap.deliver(malformed(msgid))
    # a delay warning: ours, understood, nothing to apply; filed away too
    imap.deliver(dsn(headers_of(sent.data), "d@example.test", b"delayed", b"4.4.1"))
    # the first poll comes soon after the start; a reload makes one too
    assert d.ctl("reload").returncode == 0

    def settled():
        r = rows(d, issue)
        return (r["a@example.test"][1] and r["b@example.test"][3] and
                r["c@example.test"][3]) and r
    r = wait_for(settled, timeout=60, what="bounce and two confirmations applied")
    assert r["a@example.test"][0] == "delivered"      # the relay did accept it
    assert r["a@example.test"][2] == "5.1.1"
    assert r["a@example.test"][3] is None
    assert r["b@example.test"][4] == "mdn" and r["b@example.test"][1] is None
    assert r["c@example.test"][4] == "reply" and r["c@example.test"][1] is None
    assert r["d@example.test"][1:] == (None, None, None, None)

    # processed ones moved to distd-done, flagged; the other two untouched
    wait_for(lambda: len(imap.list("INBOX")) == 2, timeout=30, what="four moved")
    left = imap.list("INBOX")
    assert sorted(m.raw.split(b"\r\n", 1)[0] for m in left) == \
        sorted([UNRELATED.split(b"\r\n", 1)[0], malformed(msgid).split(b"\r\n", 1)[0]])
    assert all(m.flags == frozenset() for m in left), [m.flags for m in left]
    done = imap.list("distd-done")
    assert len(done) == 4
    assert all({"\\Seen", "$DistdProcessed"} <= m.flags for m in done)
    assert "feedback" not in d.alert_kinds()
    n_history = history(d)
    assert n_history == 3
    # the stored facts themselves, on the backend under test (the poll's
    # thread opens its own handle on `state`): one key per applied message,
    # the cursor past all six
    assert d.query("SELECT count(*) FROM feedback")[0][0] == 3
    assert d.query("SELECT uid FROM feedback_cursors")[0][0] == 6

    # a restart reads nothing twice: the cursor passed all five
    reads = d.stderr_text().count("INBOX read (")
    assert d.stop() == 0
    d.start()
    # the first read after the start says so, with how many it found: none
    wait_for(lambda: d.stderr_text().count("INBOX read (") == reads + 1, timeout=30,
             what="the first read after the restart")
    assert d.stderr_text().rsplit("INBOX read (", 1)[1].startswith("0 new message(s))")
    assert history(d) == n_history
    assert len(imap.list("INBOX")) == 2 and len(imap.list("distd-done")) == 4
    assert all(m.flags == frozenset() for m in imap.list("INBOX"))
    text = d.stderr_text()
    assert imap.password not in text


@both_backends
def test_mailbox_unreachable_or_refused(smtp_server, distd, imap_server):
    imap = imap_server
    server = smtp_server()
    d = distd(server)
    feedback_conf(d, imap, server, password="wrong-password")
    d.start()
    wait_for(lambda: "feedback" in d.alert_kinds(), timeout=30, what="the feedback alert")
    alert = [a for a in d.status()["alerts"] if a["kind"] == "feedback"][0]
    assert "login refused" in str(alert), alert
    # deliveries go on
    d.drop("seed.txt", ISSUE)
    wait_for(lambda: "d@example.test" in server.handler.received(), timeout=30,
             what="the issue delivered")
    assert d.stderr_text().count("feedback: cannot read the mailbox") == 1
    assert "wrong-password" not in d.stderr_text()

    # the right password: cleared at the next poll (a reload polls soon)
    (d.root / "feedback.password").write_text(imap.password + "\n")
    assert d.ctl("reload").returncode == 0
    wait_for(lambda: "feedback" not in d.alert_kinds(), timeout=30, what="alert cleared")

    # the server gone: raised again, no crash, deliveries unaffected. The CA
    # goes with the server's folder: a copy, which also makes the reload a
    # change (polled again soon, not after the interval)
    ca = d.root / "imap-ca.crt"
    ca.write_bytes(open(imap.ca_file, "rb").read())
    imap.stop()
    feedback_conf(d, imap, server, ca_file=ca)
    assert d.ctl("reload").returncode == 0
    wait_for(lambda: "feedback" in d.alert_kinds(), timeout=30, what="the alert again")
    alert = [a for a in d.status()["alerts"] if a["kind"] == "feedback"][0]
    assert "cannot connect" in str(alert), alert
    d.drop("seed2.txt", ISSUE.replace("第 7 期", "第 8 期"))
    wait_for(lambda: server.handler.received().count("d@example.test") == 2, timeout=30,
             what="the second issue delivered")
    assert d.proc.poll() is None
    assert d.stderr_text().count("feedback: cannot read the mailbox") == 2


def test_message_posing_as_the_server(smtp_server, distd, imap_server):
    """A message whose lines look like the tagged end of curl's commands ends
    curl's reading of the FETCH early (OK) or as a refusal (NO): it is left
    for a human, the poll goes on over a new connection, no alert."""
    imap = imap_server
    server = smtp_server()
    d = distd(server)
    feedback_conf(d, imap, server)
    d.start()
    d.drop("seed.txt", ISSUE)
    d.wait_states(("delivered",), count=4)
    issue = d.issues("bulletin")[0]["id"]
    sent = server.messages[0]

    def posing(word):
        lines = "".join(f"{c}{n:03d} {word} fake\r\n" for c in "AB" for n in range(1, 60))
        return (f"From: someone@example.net\r\nSubject: {word}\r\n\r\n{lines}"
                "* 99 FETCH (UID 99 BODY[] {5}\r\nhello)\r\n").encode()

    imap.deliver(posing("OK"))
    imap.deliver(posing("NO"))
    imap.deliver(dsn(headers_of(sent.data), "d@example.test"))
    assert d.ctl("reload").returncode == 0   # polled soon after a start anyway
    wait_for(lambda: rows(d, issue)["d@example.test"][2] == "5.1.1", timeout=60,
             what="the bounce after them applied")
    left = imap.list("INBOX")
    assert [m.raw.split(b"\r\n")[1] for m in left] == [b"Subject: OK", b"Subject: NO"]
    assert all(m.flags == frozenset() for m in left)
    assert "feedback" not in d.alert_kinds()
    assert d.stderr_text().count("could not be read whole") + \
        d.stderr_text().count("cut short") >= 2


def test_server_without_move(smtp_server, distd):
    """A server that does not offer MOVE: processed messages are copied to
    done_folder and stay behind flagged \\Seen $DistdProcessed (never
    \\Deleted), and are not read again."""
    from imapserver import ImapServer, ImapUnavailable

    class NoMove(ImapServer):
        def _config(self):
            super()._config()
            with open(f"{self.dir}/dovecot.conf", "a") as f:
                # the whole post-login list, MOVE left out
                f.write("imap_capability = IMAP4rev1 SASL-IR LITERAL+ UIDPLUS "
                        "IDLE NAMESPACE\n")
    try:
        imap = NoMove()
    except ImapUnavailable as e:
        pytest.skip(f"no test IMAP server: {e}")
    with imap:
        server = smtp_server()
        d = distd(server)
        feedback_conf(d, imap, server)
        d.start()
        d.drop("seed.txt", ISSUE)
        d.wait_states(("delivered",), count=4)
        issue = d.issues("bulletin")[0]["id"]
        sent = server.messages[0]
        imap.deliver(dsn(headers_of(sent.data), "a@example.test"))
        imap.deliver(UNRELATED)
        assert d.ctl("reload").returncode == 0
        wait_for(lambda: "distd-done" in imap.folders() and
                 len(imap.list("distd-done")) == 1, timeout=60, what="the copy")
        assert rows(d, issue)["a@example.test"][2] == "5.1.1"
        inbox = {m.raw.split(b"\r\n")[0]: m.flags for m in imap.list("INBOX")}
        assert inbox[UNRELATED.split(b"\r\n")[0]] == frozenset()
        bounce = [f for k, f in inbox.items() if b"MAILER-DAEMON" in k][0]
        assert bounce == frozenset({"\\Seen", "$DistdProcessed"})
        assert "\\Deleted" not in imap.list("distd-done")[0].flags


@both_backends
def test_uidvalidity_changed(smtp_server, distd, imap_server):
    """The server renumbers INBOX (new UIDVALIDITY, UIDs from 1 again) while
    distd is stopped: the cursor starts over, so new feedback under UIDs the
    old numbering had passed is applied; what was applied before (a bounce a
    human put back in INBOX) is not applied again; what was left for a human
    is read again but stays as it was."""
    imap = imap_server
    server = smtp_server()
    d = distd(server)
    feedback_conf(d, imap, server)
    d.start()
    d.drop("seed.txt", ISSUE)
    d.wait_states(("delivered",), count=4)
    issue = d.issues("bulletin")[0]["id"]
    sent = server.messages[0]
    msgid = sent.parsed()["Message-ID"].strip("<>")

    bounce = dsn(headers_of(sent.data), "a@example.test")
    imap.deliver(bounce)
    # two delay warnings: filed away with nothing to apply; they take the
    # old numbering's cursor past the UIDs the new feedback gets below
    imap.deliver(dsn(headers_of(sent.data), "d@example.test", b"delayed", b"4.4.1"))
    imap.deliver(dsn(headers_of(sent.data), "d@example.test", b"delayed", b"4.4.2"))
    imap.deliver(UNRELATED)
    imap.deliver(malformed(msgid))
    wait_for(lambda: rows(d, issue)["a@example.test"][1], timeout=60,
             what="the bounce applied")
    wait_for(lambda: len(imap.list("INBOX")) == 2, timeout=30, what="three moved")
    bounced = rows(d, issue)["a@example.test"]
    assert history(d) == 1
    human = {m.raw: m.flags for m in imap.list("INBOX")}
    assert set(human.values()) == {frozenset()}
    assert d.stop() == 0

    # a human puts the applied bounce back; the server renumbers the folder
    imap.deliver(bounce)
    old, new = imap.renumber("INBOX")
    assert sorted(m.uid for m in imap.list("INBOX")) == [1, 2, 3]
    # new feedback under UIDs 4 and 5, which the old cursor (5) had passed
    imap.deliver(mdn(msgid, "b@example.test"))
    imap.deliver(reply(msgid, "c@example.test"))
    assert sorted(m.uid for m in imap.list("INBOX")) == [1, 2, 3, 4, 5]

    reads = d.stderr_text().count("INBOX read (")
    d.start()
    # the first poll after the start reads the whole folder again, at once
    wait_for(lambda: d.stderr_text().count("INBOX read (") == reads + 1, timeout=30,
             what="the first read after the restart")
    assert d.stderr_text().rsplit("INBOX read (", 1)[1].startswith("5 new message(s))")

    def confirmed():
        r = rows(d, issue)
        return r["b@example.test"][3] and r["c@example.test"][3] and r
    r = wait_for(confirmed, timeout=60, what="the new feedback applied")
    assert f"UIDVALIDITY changed ({old} to {new})" in d.stderr_text()
    assert r["b@example.test"][4] == "mdn" and r["c@example.test"][4] == "reply"
    # the bounce put back: known by its key, filed away, applied once only
    wait_for(lambda: len(imap.list("INBOX")) == 2, timeout=30,
             what="the bounce and the two receipts moved")
    assert r["a@example.test"] == bounced
    assert history(d) == 3
    assert d.query("SELECT uidvalidity, uid FROM feedback_cursors") == [(new, 5)]
    assert sum(1 for e in d.log_entries() if e.get("status") == "bounced") == 1
    # left for a human: still there, as they were, no flag set
    assert {m.raw: m.flags for m in imap.list("INBOX")} == human
    done = imap.list("distd-done")
    assert len(done) == 6
    assert sum(1 for m in done if m.raw == bounce) == 2
    assert "feedback" not in d.alert_kinds()
