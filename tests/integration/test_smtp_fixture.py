"""The SMTP fixture itself: a real TLS server that curl's CLI can send to."""

from conftest import run


def send_with_curl(server, rcpts, extra=()):
    msg = ("From: a@example.test\r\nTo: b@example.test\r\n"
           "Subject: fixture\r\n\r\nhello\r\n")
    args = ["curl", "-sS", "--max-time", "20", "--url", server.url,
            "--cacert", server.cafile, "--mail-from", "a@example.test",
            "--upload-file", "-", *extra]
    for r in rcpts:
        args += ["--mail-rcpt", r]
    return run(args, input=msg)


def test_implicit_tls(smtp_server):
    server = smtp_server("implicit")
    r = send_with_curl(server, ["b@example.test", "c@example.test"])
    assert r.returncode == 0, r.stderr
    assert len(server.messages) == 1
    m = server.messages[0]
    assert m.mail_from == "a@example.test"
    assert m.rcpt_tos == ["b@example.test", "c@example.test"]
    assert m.parsed()["Subject"] == "fixture"


def test_starttls_required(smtp_server):
    server = smtp_server("starttls")
    # without TLS the server refuses the transaction
    r = send_with_curl(server, ["b@example.test"])
    assert r.returncode != 0
    assert server.messages == []
    r = send_with_curl(server, ["b@example.test"], ["--ssl-reqd"])
    assert r.returncode == 0, r.stderr
    assert server.handler.received() == ["b@example.test"]


def test_certificate_is_verified(smtp_server):
    server = smtp_server("implicit")
    r = run(["curl", "-sS", "--max-time", "20", "--url", server.url,
             "--mail-from", "a@example.test", "--mail-rcpt", "b@example.test",
             "--cacert", "/etc/ssl/certs/ca-certificates.crt",
             "--upload-file", "-"], input="Subject: x\r\n\r\nx\r\n")
    assert r.returncode == 60  # CURLE_PEER_FAILED_VERIFICATION
    assert server.messages == []


def test_scripted_replies(smtp_server):
    server = smtp_server("implicit")
    server.handler.rcpt_replies["bad@example.test"] = ["550 5.1.1 no such user"]
    server.handler.data_replies.append("451 4.3.0 try again")
    # curl's CLI gives up on the first refused RCPT unless told otherwise
    r = send_with_curl(server, ["ok@example.test", "bad@example.test"],
                       ["--mail-rcpt-allowfails"])
    assert r.returncode != 0  # DATA refused with 451
    r = send_with_curl(server, ["ok@example.test", "bad@example.test"],
                       ["--mail-rcpt-allowfails"])
    assert r.returncode == 0, r.stderr
    assert server.handler.received() == ["ok@example.test", "bad@example.test"]
