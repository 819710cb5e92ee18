"""A scriptable SMTP server for fault injection, on 127.0.0.1.

Implicit TLS or STARTTLS. Each command verb (GREETING, EHLO, HELO, STARTTLS,
AUTH, MAIL, RCPT, DATA, DOT) can be given a list of scripted replies used
first-come; a reply may also be an action: "drop" closes the connection,
"hang" never answers, "drop-mid-data" closes while the message is being
sent. Accepted messages are recorded with their envelope.

Relay policies, as real relays have them: fqdn_helo (504 to an EHLO name
that is neither a dotted name nor an address literal, like Postfix's
reject_non_fqdn_helo_hostname), rcpt_limit (452 4.5.3 after N recipients in
one transaction, like smtpd_recipient_limit), size (the SIZE announced in
EHLO), auth_fail (535 to every AUTH). Events are logged with a monotonic
time: (time, connection, what) where what is a verb, "close-quit" (the
client said QUIT) or "close-eof" (it just went away).
"""

import asyncio
import ssl
import threading
import time


class Accepted:
    def __init__(self, mail_from, rcpts, data):
        self.mail_from, self.rcpt_tos, self.data = mail_from, rcpts, data


class FaultServer:
    def __init__(self, cert, key, mode="implicit", port=0, fqdn_helo=False,
                 rcpt_limit=0, size=100000000, auth_fail=False):
        self.fqdn_helo, self.rcpt_limit, self.size = fqdn_helo, rcpt_limit, size
        self.auth_fail = auth_fail
        self.events = []
        self.helo_names = []
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.mode = mode
        self.cafile = cert
        self.script = {}
        self.lock = threading.Lock()
        self.messages = []
        self.commands = []        # every command verb seen, in order
        self.cleartext_mail = False
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.want_port = port
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def url(self):
        return f"{'smtps' if self.mode == 'implicit' else 'smtp'}://127.0.0.1:{self.port}"

    def add(self, verb, *replies):
        with self.lock:
            self.script.setdefault(verb, []).extend(replies)

    def clear(self):
        with self.lock:
            self.script.clear()

    def received(self):
        with self.lock:
            return [r for m in self.messages for r in m.rcpt_tos]

    def event(self, conn, what):
        with self.lock:
            self.events.append((time.monotonic(), conn, what))

    def times(self, what):
        with self.lock:
            return [t for t, _, w in self.events if w == what]

    def transactions(self):
        """MAIL commands that were accepted: one per transaction."""
        with self.lock:
            return sum(1 for _, _, w in self.events if w == "MAIL-ok")

    def _next(self, verb, default):
        with self.lock:
            replies = self.script.get(verb)
            if replies:
                return replies.pop(0)
        return default

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(
            self._client, "127.0.0.1", self.want_port,
            ssl=self.ctx if self.mode == "implicit" else None, limit=1 << 26))
        self.port = server.sockets[0].getsockname()[1]
        self.server = server
        ready.set()
        self.loop.run_forever()

    async def _reply(self, writer, reply):
        if reply == "hang":
            await asyncio.sleep(3600)
        if reply == "drop":
            writer.close()
            return False
        writer.write(reply.encode() + b"\r\n")
        await writer.drain()
        return True

    async def _client(self, reader, writer):
        self.connections += 1
        conn = self.connections
        tls = self.mode == "implicit"
        mail_from, rcpts = None, []
        quit_seen = False
        self.event(conn, "connect")
        try:
            if not await self._reply(writer, self._next("GREETING", "220 fault ESMTP")):
                return
            while True:
                line = await reader.readline()
                if not line:
                    return
                text = line.decode(errors="replace").strip()
                verb = text.split(" ")[0].split(":")[0].upper()
                with self.lock:
                    self.commands.append(verb)
                self.event(conn, verb)
                if verb in ("EHLO", "HELO"):
                    name = text.split(" ", 1)[1] if " " in text else ""
                    with self.lock:
                        self.helo_names.append(name)
                    if self.fqdn_helo and not name.startswith("[") and "." not in name:
                        await self._reply(writer, f"504 5.5.2 <{name}>: Helo command "
                                          "rejected: need fully-qualified hostname")
                        continue
                    caps = f"250-fault\r\n250-SIZE {self.size}\r\n"
                    if not tls and self.mode == "starttls":
                        caps += "250-STARTTLS\r\n"
                    default = caps + "250 AUTH PLAIN LOGIN"
                    if not await self._reply(writer, self._next(verb, default)):
                        return
                elif verb == "STARTTLS":
                    reply = self._next("STARTTLS", "220 go ahead")
                    if not await self._reply(writer, reply):
                        return
                    if reply.startswith("220"):
                        await writer.start_tls(self.ctx)
                        tls = True
                elif verb == "AUTH":
                    reply = self._next("AUTH", "535 5.7.8 Error: authentication failed"
                                       if self.auth_fail else "235 2.7.0 ok")
                    if reply.startswith("235"):
                        # LOGIN asks twice, PLAIN without an initial response once
                        words = text.split()
                        steps = 2 if words[1].upper() == "LOGIN" else 0 if len(words) > 2 else 1
                        for _ in range(steps):
                            await self._reply(writer, "334 ")
                            if not await reader.readline():
                                return
                    if not await self._reply(writer, reply):
                        return
                elif verb == "MAIL":
                    if not tls:
                        self.cleartext_mail = True
                    reply = self._next("MAIL", "250 2.1.0 ok")
                    if reply.startswith("250"):
                        mail_from, rcpts = text, []
                        self.event(conn, "MAIL-ok")
                    if not await self._reply(writer, reply):
                        return
                elif verb == "RCPT":
                    addr = text.split("<", 1)[1].split(">", 1)[0]
                    reply = self._next(f"RCPT {addr}", None) or self._next("RCPT", "250 2.1.5 ok")
                    if self.rcpt_limit and len(rcpts) >= self.rcpt_limit:
                        reply = "452 4.5.3 Error: too many recipients"
                    if reply.startswith("250"):
                        rcpts.append(addr)
                    if not await self._reply(writer, reply):
                        return
                elif verb == "DATA":
                    reply = self._next("DATA", "354 go ahead")
                    if not await self._reply(writer, reply):
                        return
                    if not reply.startswith("354"):
                        continue
                    if self._next("DATA-BODY", None) == "drop-mid-data":
                        await reader.read(100)
                        writer.close()
                        return
                    data = await reader.readuntil(b"\r\n.\r\n")
                    reply = self._next("DOT", "250 2.0.0 queued")
                    if reply.startswith("250"):
                        with self.lock:
                            self.messages.append(Accepted(mail_from, rcpts, data))
                    if not await self._reply(writer, reply):
                        return
                elif verb == "QUIT":
                    quit_seen = True
                    await self._reply(writer, "221 bye")
                    return
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    await self._reply(writer, "250 2.0.0 ok")
                else:
                    await self._reply(writer, "250 ok")
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            self.event(conn, "close-quit" if quit_seen else "close-eof")
            writer.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
