"""A fast webhook receiver for bench/webhooks: answers every POST with 204 at once (HTTP/1.1,
keep-alive) and counts them. It checks nothing: the signatures are verified by the tests.

Usage: python3 bench/webhook-receiver.py PORT COUNT_FILE
Every half second it writes "<requests> <unique webhook-ids>" to COUNT_FILE.
"""

import asyncio
import sys

received = 0
ids = set()


class Receiver(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        global received
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            webhook_id = None
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "webhook-id":
                    webhook_id = value.strip()
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            received += 1
            if webhook_id:
                ids.add(webhook_id)
            self.transport.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")


async def report(path):
    while True:
        with open(path + ".tmp", "w") as f:
            f.write(f"{received} {len(ids)}\n")
        import os

        os.replace(path + ".tmp", path)
        await asyncio.sleep(0.5)


async def main(port, path):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    async with server:
        await asyncio.gather(server.serve_forever(), report(path))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
