"""The floor of a Python ASGI server on this machine: uvicorn, run as a region runs it
(uvloop, httptools, no access log), with an application that reads each request's
body and answers ``{}``.

No Python DynamoDB server served by uvicorn can be faster than this, whatever it does
per request; the gap between it and a globaltables region is what the region's own
work costs (SigV4, decoding, the store, encoding).  Run it as its own process
(``python -m bench.asgi_floor --port 8998``), like the servers under test.
"""

from __future__ import annotations

import argparse

from starlette.types import Receive, Scope, Send

__all__ = ["app", "main"]

_BODY = b"{}"
_HEADERS = [
    (b"content-type", b"application/x-amz-json-1.0"),
    (b"content-length", str(len(_BODY)).encode()),
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8998)
    args = parser.parse_args(argv)
    # the region's settings (globaltables/cli.py): uvicorn picks uvloop and httptools
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
