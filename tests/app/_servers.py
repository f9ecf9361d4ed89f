"""Real servers for the application-layer tests: hypercorn's trio worker and trio_ws.serve.

``served(app, server)`` serves ``app`` on 127.0.0.1 (a free port) and yields the
``ws://127.0.0.1:PORT`` base URL; the exceptions the app raised fail the test at exit, except
those ``expect_errors`` allows. ``SERVERS`` parametrises a test over both.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio
import trio_websocket

from tests.integration._plain_hypercorn import serve_plain_hypercorn
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trio_ws._types import ASGIApp

SERVERS = ["hypercorn", "trio_ws.serve"]

#: trio-websocket's defaults wait 60 s for a handshake or a close; fail fast instead.
CLIENT: dict[str, Any] = {"connect_timeout": 5, "disconnect_timeout": 2}


@asynccontextmanager
async def served(
    app: ASGIApp, server: str, *, errors: list[BaseException] | None = None
) -> AsyncIterator[str]:
    """Serve ``app`` with ``server`` (one of :data:`SERVERS`); yield its ``ws://`` base URL.

    The app's exceptions fail the block at exit, unless ``errors`` (hypercorn only) is given:
    then they are collected there.
    """
    if server == "hypercorn":
        async with serve_plain_hypercorn(app, errors=errors) as url:
            yield url
    else:
        async with serve_app(app) as url:
            yield url


async def rejection(url: str, **kwargs: Any) -> trio_websocket.ConnectionRejected:
    """Open a trio-websocket connection that must be refused; return the rejection."""
    try:
        async with trio_websocket.open_websocket_url(url, **CLIENT, **kwargs):
            pass
    except trio_websocket.ConnectionRejected as rejected:
        return rejected
    raise AssertionError(f"the handshake to {url} was accepted")


async def http_get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A plain HTTP/1.1 GET over a raw socket: (status, body)."""
    host, port = url.removeprefix("ws://").split("/", 1)[0].split(":")
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n"
    stream = await trio.open_tcp_stream(host, int(port))
    data = bytearray()
    async with stream:
        await stream.send_all(request.encode())
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return status, body


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)
