"""A trivial HTTP/1.1 server that answers every request with ``{}``.

It does the least a server can do per request (find the end of the head, skip
``Content-Length`` bytes of body, write a fixed response), so the load generator's
throughput against it is the generator's own ceiling: numbers measured against a real
server that come close to it say more about the client than about that server.

Run it as its own process (``python -m bench.trivial --port 8999``), like the servers under
test, so that it competes with the client for the CPU the same way they do.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

from bench.aio import run

__all__ = ["RESPONSE", "TrivialProtocol", "main", "serve"]

_BODY = b"{}"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\n"
    b"x-amzn-RequestId: trivial\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class TrivialProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            length = 0
            for line in bytes(self.buf[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                    break
            if len(self.buf) < end + 4 + length:
                break
            del self.buf[: end + 4 + length]
            out.append(RESPONSE)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(TrivialProtocol, host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999)
    args = parser.parse_args(argv)
    run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
