"""A lean SMTPS sink for the benchmark: accepts everything, counts, stores nothing.

asyncio with implicit TLS; per connection a small state machine (EHLO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT). The driver reads the counters and the
acceptance times; they are time.monotonic() values taken in this process, so
the driver compares them directly with the moment it renamed a file into the
outbox.
"""

import asyncio
import ssl
import threading
import time


class Sink:
    def __init__(self, cert, key):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        # RCPT answered "250" without text (RFC 5321 allows it): curl 7.88
        # refuses a transfer after 300 KB of replies, which "250 2.1.5 Ok"
        # reaches at ~22 000 recipients in one transaction
        self.terse_rcpt = False
        self.reset()
        self.loop = asyncio.new_event_loop()
        self.port = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the sink did not start within 10 s")

    def reset(self):
        """Forget everything counted so far; call only while no client talks."""
        self.connections = 0
        self.transactions = 0
        self.rcpts = 0          # RCPT commands answered 250
        self.delivered = 0      # recipients of transactions whose DATA was accepted
        self.data_bytes = 0     # message bytes received, dot-stuffed, over all DATA
        self.first_accept = None
        self.last_accept = None
        # one (monotonic time, recipients, bytes) per accepted DATA, in order
        self.acceptances = []

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.ctx, backlog=64,
                                 limit=1 << 26))
        self.port = server.sockets[0].getsockname()[1]
        self.server = server
        ready.set()
        self.loop.run_forever()

    def _accept(self, rcpts, size):
        now = time.monotonic()
        if self.first_accept is None:
            self.first_accept = now
        self.last_accept = now
        self.acceptances.append((now, rcpts, size))
        self.transactions += 1
        self.delivered += rcpts
        self.data_bytes += size

    async def _client(self, reader, writer):
        self.connections += 1
        w = writer.write
        w(b"220 sink ESMTP\r\n")
        envelope_rcpts = 0
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"RCPT":
                    self.rcpts += 1
                    envelope_rcpts += 1
                    w(b"250\r\n" if self.terse_rcpt else b"250 2.1.5 Ok\r\n")
                elif verb == b"MAIL":
                    envelope_rcpts = 0
                    w(b"250 2.1.0 Ok\r\n")
                elif verb == b"DATA":
                    w(b"354 go\r\n")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    # the acceptance is timed before the reply leaves: the
                    # moment the server takes responsibility
                    self._accept(envelope_rcpts, len(data))
                    envelope_rcpts = 0
                    w(b"250 2.0.0 Ok\r\n")
                elif verb in (b"EHLO", b"HELO"):
                    w(b"250-sink\r\n250-SIZE 100000000\r\n250-PIPELINING\r\n"
                      b"250 8BITMIME\r\n")
                elif verb == b"RSET":
                    envelope_rcpts = 0
                    w(b"250 Ok\r\n")
                elif verb == b"QUIT":
                    w(b"221 bye\r\n")
                    break
                else:
                    w(b"250 Ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
