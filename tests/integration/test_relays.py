"""Real relays' policies, played by the scriptable relay (faultserver.py): a fully
qualified HELO, recipient limits, SIZE, idle timeouts, failed logins, rate limits,
outages, and what `distctl check` does on the wire. Each test measures what the relay
saw (commands, transactions, times) rather than trusting distd's own account."""

import json
import time

from conftest import smtp_login, wait_for
from test_delivery import issue_text

MANY = [(f"单位{i}", f"u{i}@example.test") for i in range(41)]


def start(distd, server, recipients, retry, n_issues=1, **kw):
    d = distd(server, recipients=recipients, retry=retry, **kw)
    d.start()
    for no in range(1, n_issues + 1):
        d.drop(f"issue{no}.txt", issue_text([name for name, _ in recipients], no=no))
    return d


def status(d):
    r = d.ctl("status", "--json")
    return r.returncode, json.loads(r.stdout)


def test_helo_is_fully_qualified(fault_server, distd):
    server = fault_server(fqdn_helo=True)
    d = start(distd, server, MANY[:2], "retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };")
    d.wait_states(("delivered",), count=2, timeout=15)
    # the default: the host's FQDN, else an address literal; never a bare "vm"
    assert server.helo_names and all("." in n or n.startswith("[") for n in server.helo_names)
    assert not any(l for l in d.log_lines() if "code=504" in l)

    # a configured name goes out as written
    d.stop()
    d.write_conf(MANY[:2], smtp_extra='helo = "bulletin.example.test";',
                 retry="retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };")
    r = d.ctl("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert server.helo_names[-1] == "bulletin.example.test"

    # a bare short name is refused when the configuration is read
    d.write_conf(MANY[:2], smtp_extra='helo = "vm";')
    r = d.ctl("check")
    assert r.returncode == 1 and "smtp.helo" in r.stderr and "fully qualified" in r.stderr


def test_recipient_limit_sends_the_rest_at_once(fault_server, distd):
    server = fault_server(rcpt_limit=10)
    # a backoff of 60 s would show: the test must finish long before it
    t0 = time.monotonic()
    d = start(distd, server, MANY, "retry = { min_backoff = 60; max_backoff = 120; lifetime = 600; };",
              smtp_extra="max_rcpt_per_message = 50;")
    d.wait_states(("delivered",), count=41, timeout=20)
    elapsed = time.monotonic() - t0
    print(f"41 recipients, relay limit 10: delivered in {elapsed:.2f} s, "
          f"{server.transactions()} transactions")
    assert elapsed < 10
    assert sorted(server.received()) == sorted(a for _, a in MANY)
    assert all(len(m.rcpt_tos) <= 10 for m in server.messages)
    # one transaction learnt the limit (10 accepted, 31 told 452), then 10 + 10 + 10 + 1
    assert server.transactions() == 5
    # a 452 is not an attempt: nobody carries a failed try
    assert {r["attempts"] for r in d.recipients()} == {1}
    # the learned limit is a stored fact no distctl output carries: raw SQL
    assert d.query("SELECT max_rcpt FROM relays") == [(10,)]
    assert any("code=452" in l and "class=limit" in l for l in d.log_lines())


def test_size_too_small_holds_at_ingest(fault_server, distd):
    server = fault_server(size=4000)
    d = start(distd, server, MANY[:1], "retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };")
    d.wait_states(("delivered",), count=1, timeout=15)
    # the learned SIZE is a stored fact no distctl output carries: raw SQL
    assert d.query("SELECT size FROM relays") == [(4000,)]
    before = len(server.messages)

    big = issue_text([MANY[0][0]], no=2).replace("正文第一段，说明情况。", "正文很长。" * 600)
    d.drop("big.txt", big)
    big_issue = wait_for(lambda: d.show(2), what="the big issue queued")
    reason = big_issue["hold_reason"]
    assert big_issue["state"] == "held" and "the relay's SIZE" in reason and "4000" in reason
    time.sleep(1.5)
    # nothing was sent for it; what went is the admin's notice that it is held
    assert [m.rcpt_tos for m in server.messages[before:]] == [["postmaster@example.test"]]
    (d.root / "big.txt").write_text(big, encoding="utf-8")
    r = d.ctl("preview", str(d.root / "big.txt"))
    assert r.returncode == 3 and "limit 4000 (the relay's SIZE)" in r.stdout
    r = d.ctl("preview", str(d.root / "big.txt"), "--json")
    p = json.loads(r.stdout)
    assert p["verdict"] == "hold" and p["size_limit"] == 4000 and p["message_bytes"] > 4000

    # smtp.max_message_bytes holds without any SIZE learnt
    d.stop()
    d.write_conf(MANY[:1], smtp_extra="max_message_bytes = 5000;")
    d.db.unlink()
    d.start()
    d.drop("big-again.txt", big.replace("第 2 期", "第 3 期"))
    big_issue = wait_for(lambda: d.show(1), what="queued")
    assert big_issue["state"] == "held" and "smtp.max_message_bytes" in big_issue["hold_reason"]


def test_idle_connection_closed_with_quit(fault_server, distd):
    server = fault_server()
    d = start(distd, server, MANY[:3], "retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };",
              smtp_extra="idle_timeout = 2;")
    d.wait_states(("delivered",), count=3, timeout=15)
    last = max(server.times("MAIL-ok"))
    wait_for(lambda: server.times("close-quit"), timeout=10, what="QUIT from distd")
    idle = server.times("close-quit")[0] - last
    print(f"idle connection closed with QUIT {idle:.2f} s after the last transaction")
    assert 1.5 <= idle < 5
    assert server.times("close-eof") == []


def test_failed_logins_back_off_and_reload_retries(fault_server, distd, tmp_path):
    server = fault_server(auth_fail=True)
    secret, login = smtp_login(tmp_path, "wrong")
    d = start(distd, server, MANY[:2], "retry = { min_backoff = 1; max_backoff = 8; lifetime = 600; };",
              smtp_extra=f'{login} '
                         'connections = 4; max_rcpt_per_message = 1;')
    wait_for(lambda: len(server.times("AUTH")) >= 4, timeout=25, what="four logins")
    t = server.times("AUTH")
    gaps = [b - a for a, b in zip(t, t[1:])]
    print("login probe intervals:", ", ".join(f"{g:.2f}" for g in gaps[:3]))
    # 4 connections and 2 transactions waiting, yet no burst of failed logins at the start
    assert server.connections == len(t)
    # 1, 2, 4 s: each double the one before (without backoff: 1, 1, 1). The third
    # is spread by ±20 % and rounded to whole seconds (3, 4 or 5 s), and distd keeps
    # time in whole seconds, so each may come up to a second sooner than its delay.
    assert gaps[0] <= 1.2 and 1.0 < gaps[1] <= 2.5 and 2.0 < gaps[2] <= 5.5
    rc, s = status(d)
    auth = [a for a in s["alerts"] if a["kind"] == "auth"]
    assert rc == 3 and auth and "distctl reload" in auth[0]["text"]
    assert "failed" not in d.states().values()

    # the fix: a new secret and a reload; the next probe does not wait out the backoff
    server.auth_fail = False
    secret.write_text("right\n")
    t0 = time.monotonic()
    r = d.ctl("reload")
    assert r.returncode == 0, r.stderr
    d.wait_states(("delivered",), count=2, timeout=6)
    assert time.monotonic() - t0 < 4


def test_retries_after_an_outage_are_grouped(fault_server, distd):
    server = fault_server()
    # the relay is down for the first round: 2 issues x 4 batches of 5
    server.add("MAIL", *(["451 4.3.0 try again later"] * 8))
    # a backoff of 10 s: per-recipient jitter (±20 %) would spread the retries over 8-12 s
    d = start(distd, server, MANY[:20], "retry = { min_backoff = 10; max_backoff = 10; lifetime = 600; };",
              n_issues=2, smtp_extra="max_rcpt_per_message = 5;")
    wait_for(lambda: d.counts()["delivered"] == 40, timeout=20, what="40 deliveries")
    after = server.transactions()
    print(f"transactions: 8 before the outage would be; {after} after it")
    assert after == 8
    assert sorted(server.received()) == sorted([a for _, a in MANY[:20]] * 2)


def test_rate_limits_defer_and_hold_the_rate(fault_server, distd):
    server = fault_server()
    d = start(distd, server, MANY[:6], "retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };",
              smtp_extra="max_rcpt_per_message = 1; max_messages_per_minute = 2;")
    wait_for(lambda: server.transactions() >= 2, timeout=10, what="two messages")
    time.sleep(3)
    assert server.transactions() == 2               # the minute's two, no more
    states = d.states()
    assert sorted(states.values()) == ["delivered"] * 2 + ["queued"] * 4
    d.stop()

    server2 = fault_server()
    d2 = start(distd, server2, MANY[:8], "retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };",
               sub="d2", smtp_extra="max_recipients_per_hour = 5;")
    wait_for(lambda: len(server2.received()) >= 5, timeout=10, what="five recipients")
    time.sleep(3)
    assert len(server2.received()) == 5
    assert sorted(d2.states().values()) == ["delivered"] * 5 + ["queued"] * 3


def test_status_exits_3_after_deferred_after(fault_server, distd):
    server = fault_server()
    server.add("MAIL", *(["451 4.3.0 try again later"] * 1000))
    d = start(distd, server, MANY[:2], "retry = { min_backoff = 1; max_backoff = 1; lifetime = 600; };",
              extra="alerts = { deferred_after = 3; };")
    wait_for(lambda: "deferred" in d.states().values(), timeout=10, what="a deferral")
    rc, s = status(d)
    assert rc == 0 and not s["alerts"]
    wait_for(lambda: status(d)[0] == 3, timeout=10, what="status exit 3")
    rc, s = status(d)
    assert [a["kind"] for a in s["alerts"]] == ["deferred"]
    # the 2 recipients, and maybe the admin's notice of the alert itself
    assert "recipient(s) deferred for more than 3 s" in s["alerts"][0]["text"]
    # the relay recovers: the alert goes
    server.clear()
    d.wait_states(("delivered",), count=2, timeout=10)
    wait_for(lambda: status(d)[0] == 0, timeout=10, what="status exit 0 again")


def test_check_does_mail_rcpt_rset_quit(fault_server, distd):
    server = fault_server(fqdn_helo=True)
    d = distd(server, recipients=MANY[:1])
    r = d.ctl("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [l.split()[0] for l in r.stdout.splitlines()] == [
        "relay", "dns", "connect", "tls", "ehlo", "auth", "mail", "rcpt", "rset", "quit"]
    assert server.commands == ["EHLO", "MAIL", "RCPT", "RSET", "QUIT"]
    assert server.connections == 1 and server.times("close-quit") and not server.times("close-eof")
    assert "rcpt     ok" in r.stdout and "postmaster@example.test" not in server.received()

    # a relay that would refuse the admin: check fails where delivery would
    server.add("RCPT", "550 5.7.1 relaying denied")
    r = d.ctl("check")
    assert r.returncode == 1 and "rcpt     FAILED: 550 5.7.1 relaying denied" in r.stdout
    assert server.times("close-quit") and len(server.times("close-quit")) == 2


def test_fallback_taken_when_the_first_refuses(fault_server, distd, tmp_path):
    primary = fault_server(auth_fail=True)
    backup = fault_server()
    secret, login = smtp_login(tmp_path, "pw")
    backup_secret = tmp_path / "backup-secret"
    backup_secret.write_text("other\n")
    backup_secret.chmod(0o600)
    fallback = (f'fallback = {{ url = "{backup.url}"; username = "backup@example.test"; '
                f'password_file = "{backup_secret}"; ca_file = "{backup.cafile}"; }};')
    d = distd(primary, recipients=MANY[:5], retry="retry = { min_backoff = 30; max_backoff = 60; lifetime = 600; };",
              smtp_extra=f'{login} '
                         f'connections = 1; {fallback}')
    d.start()
    d.drop("issue.txt", issue_text([name for name, _ in MANY[:3]]))
    d.wait_states(("delivered",), count=3, timeout=15)
    people = lambda: sorted(a for a in backup.received() if not a.startswith("postmaster"))
    assert people() == sorted(a for _, a in MANY[:3])
    assert primary.received() == [] and primary.transactions() == 0
    # one refused login on the primary, then straight to the fallback
    assert len(primary.times("AUTH")) == 1
    assert all(f"relay=127.0.0.1:{backup.port}" in l for l in d.log_lines())
    rc, s = status(d)
    kinds = [a["kind"] for a in s["alerts"]]
    assert rc == 3 and "fallback" in kinds and "auth" not in kinds

    # a primary that cannot be reached at all
    d.stop()
    from conftest import free_port_for_tests
    dead = free_port_for_tests()
    text = d.conf.read_text().replace(primary.url, f"smtps://127.0.0.1:{dead}")
    d.conf.write_text(text)
    d.start()
    d.drop("again.txt", issue_text([name for name, _ in MANY[3:5]], no=9))
    wait_for(lambda: len(people()) == 5, timeout=15, what="two more via the fallback")


def test_check_names_the_certificate_when_the_host_does_not_match(fault_server, distd, tmp_path):
    from smtpserver import make_certificate
    cert = make_certificate(str(tmp_path), name="mail.example.test",
                            san="DNS:mail.example.test,DNS:smtp.example.test")
    server = fault_server(cert=cert)
    d = distd(server, recipients=MANY[:1])
    r = d.ctl("check")
    assert r.returncode == 1
    assert "tls      FAILED:" in r.stdout
    assert "the certificate is for: subject CN = mail.example.test; names " \
           "DNS:mail.example.test, DNS:smtp.example.test (smtp.url names 127.0.0.1)" in r.stdout
    # the look at the certificate ends with QUIT too, and sends no credentials
    wait_for(lambda: server.times("close-quit"), timeout=5, what="QUIT")
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_check_ends_with_quit_when_the_login_fails(fault_server, distd, tmp_path):
    server = fault_server(auth_fail=True)
    secret, login = smtp_login(tmp_path, "wrong")
    d = distd(server, recipients=MANY[:1],
              smtp_extra=login)
    r = d.ctl("check")
    assert r.returncode == 1 and "auth     FAILED: 535" in r.stdout
    wait_for(lambda: server.times("close-quit") or server.times("close-eof"), timeout=5,
             what="the connection closed")
    assert server.commands[-1] == "QUIT" and server.times("close-quit")
