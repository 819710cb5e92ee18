"""Fault injection: a scripted relay misbehaves; distd defers, fails or alerts as it should,
loses nothing and keeps running. Each scenario checks what the server received, the queue,
the delivery log and distctl status."""

import json
import os
import subprocess

import pytest

from conftest import free_port_for_tests, smtp_login, wait_for
from smtpserver import make_certificate
from test_delivery import TEN, issue_text

FAST = "retry = { min_backoff = 1; max_backoff = 1; lifetime = 600; };"


def start(distd, server, n=2, **kw):
    kw.setdefault("retry", FAST)
    d = distd(server, recipients=TEN[:n], **kw)
    d.start()
    d.drop("issue.txt", issue_text([name for name, _ in TEN[:n]]))
    return d


def status(d):
    r = d.ctl("status", "--json")
    return r.returncode, json.loads(r.stdout)


def log_has(d, *parts):
    return any(all(p in l for p in parts) for l in d.log_lines())


@pytest.mark.parametrize("greeting", ["421 4.3.2 too busy", "554 5.3.2 go away"])
def test_greeting_refused_defers(fault_server, distd, greeting):
    server = fault_server()
    server.add("GREETING", greeting)
    d = start(distd, server)
    d.wait_states(("delivered",), count=2)
    assert sorted(server.received()) == ["u0@example.test", "u1@example.test"]
    assert log_has(d, "status=deferred", "class=protocol", f"code={greeting[:3]}")
    assert {r["attempts"] for r in d.recipients()} == {2}


def test_ehlo_refused_defers(fault_server, distd):
    server = fault_server()
    server.add("EHLO", "550 5.5.1 no")
    server.add("HELO", "550 5.5.1 no")
    d = start(distd, server)
    d.wait_states(("delivered",), count=2)
    assert log_has(d, "status=deferred", "class=protocol")
    assert "failed" not in d.states().values()


def test_starttls_refused_sends_nothing_in_clear(fault_server, distd):
    server = fault_server("starttls")
    server.add("STARTTLS", "454 4.7.0 TLS not available", "454 4.7.0 TLS not available")
    d = start(distd, server)
    wait_for(lambda: log_has(d, "class=tls"), what="tls deferral")
    assert server.cleartext_mail is False
    assert "MAIL" not in server.commands
    assert server.messages == []
    rc, s = status(d)
    assert rc == 3 and s["alerts"][0]["kind"] == "tls"
    # once STARTTLS works, everything goes out encrypted
    server.clear()
    d.wait_states(("delivered",), count=2)
    assert server.cleartext_mail is False


def test_auth_454_defers_without_alert(fault_server, distd, tmp_path):
    server = fault_server()
    server.add("AUTH", "454 4.7.0 temporary authentication failure")
    secret, login = smtp_login(tmp_path, "pw", username="u@example.test")
    d = start(distd, server, smtp_extra=login)
    d.wait_states(("delivered",), count=2)
    assert log_has(d, "status=deferred", "class=auth", "code=454")
    assert d.alert_kinds() == []


def test_auth_535_alerts_and_bounces_nobody(fault_server, distd, tmp_path):
    server = fault_server()
    server.add("AUTH", *["535 5.7.8 bad credentials"] * 3)
    secret, login = smtp_login(tmp_path, "pw", username="u@example.test")
    d = start(distd, server, smtp_extra=login)
    wait_for(lambda: d.alert_kinds() == ["auth"], what="auth alert")
    rc, s = status(d)
    assert rc == 3 and "refused our credentials" in s["alerts"][0]["text"]
    d.wait_states(("delivered",), count=2)   # the relay accepts again
    assert d.alert_kinds() == []
    assert d.issues("report") == []


def test_mail_from_451_defers_and_550_fails(fault_server, distd):
    server = fault_server()
    server.add("MAIL", "451 4.3.0 try later", "550 5.7.1 sender not allowed")
    d = start(distd, server)
    d.wait_states(("failed",), count=2, issue=1)
    assert log_has(d, "status=deferred", "class=4xx", "code=451")
    assert log_has(d, "status=failed", "class=5xx", "code=550")
    assert server.received() == [] or server.received() == ["postmaster@example.test"]


def test_rcpt_mixed_replies_in_one_batch(fault_server, distd):
    server = fault_server()
    server.add("RCPT u1@example.test", "451 4.7.1 later")
    server.add("RCPT u2@example.test", "550 5.1.1 unknown")
    server.add("RCPT u3@example.test", "552 5.2.2 mailbox full")
    d = start(distd, server, n=4)
    d.wait_states(count=4, issue=1)
    states = d.states(1)
    assert states == {"u0@example.test": "delivered", "u1@example.test": "delivered",
                      "u2@example.test": "failed", "u3@example.test": "failed"}
    bulletin = [r for r in server.received() if r != "postmaster@example.test"]
    assert sorted(bulletin) == ["u0@example.test", "u1@example.test"]
    assert log_has(d, "to=<u3@example.test>", "status=failed", "code=552", "dsn=5.2.2")
    rc, s = status(d)
    assert rc == 3   # failed recipients today


@pytest.mark.parametrize("reply,outcome", [("552 5.3.4 message too big", "failed"),
                                           ("554 5.7.1 rejected as spam", "failed"),
                                           ("451 4.3.0 local error", "delivered")])
def test_data_replies(fault_server, distd, reply, outcome):
    server = fault_server()
    server.add("DOT", reply)
    d = start(distd, server)
    d.wait_states(count=2, issue=1)
    assert set(d.states(1).values()) == {outcome}
    assert log_has(d, f"code={reply[:3]}")


def test_dropped_mid_payload_is_retried(fault_server, distd):
    server = fault_server()
    server.add("DATA-BODY", "drop-mid-data")
    d = start(distd, server)
    d.wait_states(("delivered",), count=2)
    assert len(server.messages) == 1
    assert log_has(d, "status=deferred", "class=connect")


def test_dropped_after_payload_counts_possible_duplicate(fault_server, distd):
    server = fault_server()
    server.add("DOT", "drop")
    d = start(distd, server)
    d.wait_states(("delivered",), count=2)
    assert len(server.messages) == 1   # the dropped one was never accepted here
    assert log_has(d, "status=deferred")


def test_possible_duplicate_only_where_the_rcpt_was_accepted(fault_server, distd):
    """No verdict after the data: the recipient the relay took may have it; the one
    it refused at RCPT (451) never got it and must not be flagged."""
    server = fault_server()
    server.add("RCPT", "451 4.7.1 greylisted")
    server.add("DOT", "hang")
    d = start(distd, server, smtp_extra="timeout = 2;")
    wait_for(lambda: sum("status=deferred" in l for l in d.log_lines()) >= 2,
             what="both deferred")
    first = [l for l in d.log_lines() if "status=deferred" in l][:2]
    refused = next(l for l in first if "451 4.7.1" in l)
    taken = next(l for l in first if l is not refused)
    assert "note=possible-duplicate" not in refused, refused
    assert "note=possible-duplicate" in taken, taken
    d.wait_states(("delivered",), count=2, timeout=30)


def test_server_that_stops_answering_times_out(fault_server, distd):
    server = fault_server()
    server.add("RCPT", "hang")
    d = start(distd, server, smtp_extra="timeout = 2;")
    wait_for(lambda: log_has(d, "status=deferred"), timeout=30, what="timeout deferral")
    assert log_has(d, "class=connect") or log_has(d, "class=protocol")
    d.wait_states(("delivered",), count=2, timeout=30)


def expired_certificate(tmp_path):
    """A certificate for 127.0.0.1 that expired in 2020, signed by itself (openssl ca)."""
    d = tmp_path / "ca"
    d.mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(f"""
[ ca ]
default_ca = c
[ c ]
dir = {d}
database = {d}/index.txt
serial = {d}/serial
new_certs_dir = {d}
default_md = sha256
policy = p
copy_extensions = copy
[ p ]
commonName = supplied
[ req ]
distinguished_name = dn
[ dn ]
""")
    key, csr, crt = d / "k.pem", d / "r.csr", d / "c.pem"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", csr, "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-selfsign", "-config", d / "ca.cnf",
                    "-keyfile", key, "-in", csr, "-out", crt, "-startdate", "20200101000000Z",
                    "-enddate", "20200102000000Z"], check=True, capture_output=True)
    return str(crt), str(key)


@pytest.mark.parametrize("kind", ["wrong-host", "expired"])
def test_bad_certificates_are_refused(fault_server, distd, tmp_path, kind):
    if kind == "wrong-host":
        cert = make_certificate(str(tmp_path), name="other", san="DNS:other.example.test")
    else:
        cert = expired_certificate(tmp_path)
    server = fault_server(cert=cert)
    d = start(distd, server)
    wait_for(lambda: d.alert_kinds() == ["tls"], what="tls alert")
    assert server.messages == [] and "MAIL" not in server.commands
    assert "failed" not in d.states().values()
    rc, s = status(d)
    assert rc == 3 and s["alerts"][0]["kind"] == "tls"


def test_relay_down_longer_than_lifetime(fault_server, distd, certificate):
    port = free_port_for_tests()
    d = distd(None, recipients=TEN[:2], retry="retry = { min_backoff = 1; max_backoff = 1; lifetime = 3; };")
    d.write_conf(recipients=TEN[:2], retry="retry = { min_backoff = 1; max_backoff = 1; lifetime = 3; };")
    text = d.conf.read_text().replace('url = "smtps://127.0.0.1:9";',
                                      f'url = "smtps://127.0.0.1:{port}"; ca_file = "{certificate[0]}";')
    d.conf.write_text(text)
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in TEN[:2]]))
    d.wait_states(("failed",), count=2, issue=1, timeout=30)
    assert log_has(d, "status=expired", "class=connect")
    # the relay comes back: exactly one report reaches the admin
    server = fault_server(port=port)
    wait_for(lambda: server.received() == ["postmaster@example.test"], timeout=30, what="report")
    assert len(server.messages) == 1
    body = server.messages[0].data.decode(errors="replace")
    assert "Delivery failure report" in body or "=?" in body
    assert len(d.issues("report")) == 1


def pin_of(cert):
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                            check=True, capture_output=True).stdout
    import base64
    return "sha256//" + base64.b64encode(digest).decode()


@pytest.mark.parametrize("right", [True, False])
def test_pinned_public_key(fault_server, distd, certificate, tmp_path, right):
    server = fault_server()
    pin = pin_of(certificate[0]) if right else pin_of(
        make_certificate(str(tmp_path), name="other")[0])
    d = start(distd, server, smtp_extra=f'pinned_pubkey = "{pin}";')
    if right:
        d.wait_states(("delivered",), count=2)
    else:
        wait_for(lambda: d.alert_kinds() == ["tls"], what="tls alert")
        assert server.messages == []


def test_auth_failure_pauses_instead_of_hammering(fault_server, distd, tmp_path):
    server = fault_server()
    server.add("AUTH", *["535 5.7.8 bad credentials"] * 100)
    secret, login = smtp_login(tmp_path, "pw", username="u@example.test")
    people = [(f"单位{i}", f"p{i}@example.test") for i in range(40)]
    d = distd(server, recipients=people,
              smtp_extra=f'{login} '
                         'max_rcpt_per_message = 2; connections = 4;',
              retry="retry = { min_backoff = 2; max_backoff = 2; lifetime = 600; };")
    d.start()
    d.drop("issue.txt", issue_text([n for n, _ in people]))
    wait_for(lambda: d.alert_kinds() == ["auth"], what="auth alert")
    import time
    time.sleep(3)
    # 20 batches are waiting, but only a probe per backoff goes out (plus what was in flight)
    logins = server.commands.count("AUTH")
    assert logins <= 4 + 3, logins
    assert d.counts()["failed"] == 0
