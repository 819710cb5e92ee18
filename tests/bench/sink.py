"""A lean SMTPS sink for the benchmark: accepts everything, counts, stores nothing.

asyncio with implicit TLS; per connection a small state machine (EHLO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT). Counters are read by the benchmark driver.
"""

import asyncio
import ssl
import threading
import time


class Sink:
    def __init__(self, cert, key):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.connections = 0
        self.transactions = 0
        self.rcpts = 0
        self.last_accept = 0.0
        self.loop = asyncio.new_event_loop()
        self.port = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def reset(self):
        self.connections = self.transactions = self.rcpts = 0
        self.last_accept = 0.0

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.ctx, backlog=64,
                                 limit=1 << 26))
        self.port = server.sockets[0].getsockname()[1]
        self.server = server
        ready.set()
        self.loop.run_forever()

    async def _client(self, reader, writer):
        self.connections += 1
        w = writer.write
        w(b"220 sink ESMTP\r\n")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"RCPT":
                    self.rcpts += 1
                    w(b"250 2.1.5 Ok\r\n")
                elif verb == b"MAIL":
                    w(b"250 2.1.0 Ok\r\n")
                elif verb == b"DATA":
                    w(b"354 go\r\n")
                    await reader.readuntil(b"\r\n.\r\n")
                    self.transactions += 1
                    self.last_accept = time.monotonic()
                    w(b"250 2.0.0 Ok\r\n")
                elif verb in (b"EHLO", b"HELO"):
                    w(b"250-sink\r\n250-SIZE 100000000\r\n250 8BITMIME\r\n")
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
