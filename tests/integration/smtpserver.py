"""A recording SMTP server for tests, the demo and the benchmark.

Runs aiosmtpd on 127.0.0.1 with implicit TLS (smtps) or STARTTLS, on a
port it picks itself, with a certificate made by the openssl CLI. Every
accepted message is kept (envelope and bytes) and, with a maildir, written
as NNNN.eml. Replies can be scripted per recipient and for DATA, so tests
can make the server refuse, defer or drop what they need.

Run alone: /usr/bin/python3 smtpserver.py --dir DIR [--starttls]
prints "port N" once listening and serves until SIGTERM.
"""

import argparse
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(directory, name="localhost", days=2, san=None):
    """Self-signed certificate for 127.0.0.1/localhost; returns (cert, key)."""
    cert = os.path.join(directory, f"{name}.crt")
    key = os.path.join(directory, f"{name}.key")
    san = san or "IP:127.0.0.1,DNS:localhost"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", str(days),
         "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True, timeout=60)
    return cert, key


class Message:
    def __init__(self, mail_from, rcpt_tos, data):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data

    def parsed(self):
        import email
        import email.policy
        return email.message_from_bytes(self.data, policy=email.policy.default)


class Recorder:
    """aiosmtpd handler: records messages, answers as scripted."""

    def __init__(self, maildir=None):
        self.lock = threading.Lock()
        self.messages = []
        self.transactions = 0
        self.rcpt_replies = {}   # address -> list of replies, first used first
        self.data_replies = []   # replies to DATA, first used first
        self.mail_replies = []   # replies to MAIL FROM, first used first
        self.data_delay = 0.0    # seconds before answering the end of DATA
        self.maildir = maildir

    def _scripted(self, table, key):
        with self.lock:
            replies = table.get(key)
            if replies:
                return replies.pop(0)
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            reply = self.mail_replies.pop(0) if self.mail_replies else None
        if reply and not reply.startswith("250"):
            if reply.startswith("421"):
                server.transport.close()   # 421 ends the session
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._scripted(self.rcpt_replies, address)
        if reply and not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            self.transactions += 1
            reply = self.data_replies.pop(0) if self.data_replies else None
        if reply == "drop":
            server.transport.close()
            return "421 dropped"
        if reply and not reply.startswith("250"):
            return reply
        msg = Message(envelope.mail_from, envelope.rcpt_tos, envelope.content)
        with self.lock:
            self.messages.append(msg)
            n = len(self.messages)
        if self.maildir:
            path = os.path.join(self.maildir, f"{n:04d}.eml")
            with open(path + ".tmp", "wb") as f:
                f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
                f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
                f.write(envelope.content)
            os.rename(path + ".tmp", path)
        return f"250 2.0.0 Ok: queued as {n:04d}"

    def received(self):
        """Every recipient address the server accepted a message for, in order."""
        with self.lock:
            return [r for m in self.messages for r in m.rcpt_tos]


class SMTPServer:
    """aiosmtpd on 127.0.0.1 with implicit TLS or STARTTLS (required)."""

    def __init__(self, cert, key, mode="implicit", maildir=None, auth=None,
                 port=None):
        self.mode = mode
        self.cafile = cert
        self.port = port or free_port()
        self.handler = Recorder(maildir)
        self.auth = auth   # (username, password) or None
        self.auth_attempts = 0
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs = dict(hostname="127.0.0.1", port=self.port,
                      server_hostname="mail.example.test")
        if auth:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=(mode != "implicit"))
        if mode == "implicit":
            kwargs["ssl_context"] = context
        elif mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(self.handler, **kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.auth_attempts += 1
        ok = (isinstance(auth_data, LoginPassword) and
              (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        return AuthResult(success=ok, handled=False)

    @property
    def url(self):
        scheme = "smtps" if self.mode == "implicit" else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def messages(self):
        return self.handler.messages

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="certificate and mail folder")
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    maildir = os.path.join(args.dir, "mail")
    os.makedirs(maildir, exist_ok=True)
    cert, key = make_certificate(args.dir)
    server = SMTPServer(cert, key, "starttls" if args.starttls else "implicit",
                        maildir=maildir, port=args.port).start()
    print(f"port {server.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    server.stop()


if __name__ == "__main__":
    main()
