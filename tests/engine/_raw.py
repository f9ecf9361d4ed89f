"""Raw-socket websocket clients for the engine tests (malformed input needs hand-made frames).

Frames the server sends are parsed by websockets' sans-I/O client protocol; only the frames
the tests send on purpose (masked, possibly invalid) are built here.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import OPEN, Protocol, Side

from trio_ws import serve
from trio_ws._serve import hypercorn_config

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator
    from pathlib import Path


def upgrade_request(extra: bytes = b"", *, key: bytes | None = None, path: str = "/") -> bytes:
    """A websocket upgrade request; ``key`` replaces the random Sec-WebSocket-Key line."""
    if key is None:
        key = b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n"
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n".encode()
        + b"Connection: Upgrade\r\n"
        + key
        + b"Sec-WebSocket-Version: 13\r\n"
        + extra
        + b"\r\n"
    )


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame (masked with a zero key, so the payload is sent as is)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 2**16:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    return header + b"\x00\x00\x00\x00" + payload


class RawClient:
    """A connected, upgraded raw client."""

    def __init__(self, stream: trio.SocketStream, head: bytes, rest: bytes) -> None:
        self.stream = stream
        self.head = head
        self.parser = Protocol(Side.CLIENT, state=OPEN, max_size=None)
        if b"permessage-deflate" in head.lower():  # the client inflates; it never compresses
            self.parser.extensions = [PerMessageDeflate(False, False, 15, 15)]
        self.parser.receive_data(rest)

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await trio.aclose_forcefully(self.stream)

    async def frames_until_eof(self) -> list[Frame]:
        """Every frame the server sends until it closes the connection."""
        while True:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                self.parser.receive_eof()
                break
            self.parser.receive_data(data)
        return [event for event in self.parser.events_received() if isinstance(event, Frame)]

    async def next_frame(self) -> Frame:
        """The next frame from the server."""
        while True:
            events = self.parser.events_received()
            if events:
                for event in events[1:]:
                    self.parser.events.append(event)
                assert isinstance(events[0], Frame)
                return events[0]
            data = await self.stream.receive_some(65536)
            assert data, "the server closed the connection"
            self.parser.receive_data(data)


def close_code(frames: list[Frame]) -> int | None:
    """The code of the first close frame among ``frames``."""
    for item in frames:
        if item.opcode is Opcode.CLOSE:
            return Close.parse(item.data).code
    return None


async def read_head(stream: trio.abc.Stream) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


#: A plain HTTP request a keep-alive client sends before its upgrade request.
PLAIN_GET = b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def answer_plain_get(send: Any) -> None:
    """An app's answer to `PLAIN_GET`: 200 with a ``Content-Length`` (keep-alive holds)."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"hi"})


async def _plain_request(stream: trio.abc.Stream) -> None:
    """Send `PLAIN_GET` and read its whole response (which must keep the connection open)."""
    await stream.send_all(PLAIN_GET)
    head, rest = await read_head(stream)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"connection: close" not in head.lower(), head
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += await stream.receive_some(65536)
    assert len(rest) == length, "the server sent more than the response"


async def connect(
    port: int,
    request: bytes,
    *,
    rcvbuf: int | None = None,
    keep_alive: bool = False,
    tls: ssl.SSLContext | None = None,
) -> RawClient:
    """Connect, send ``request`` and read the response head.

    With ``keep_alive``, ``request`` is the second request on the connection: a plain
    `PLAIN_GET` (answered 200 with a ``Content-Length``) goes first. With ``tls``, the
    connection is TLS (HTTP/1.1) with that client context.
    """
    sock = trio.socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await sock.connect(("127.0.0.1", port))
    stream: Any = trio.SocketStream(sock)
    if tls is not None:
        stream = trio.SSLStream(stream, tls, server_hostname="127.0.0.1")
    try:
        if keep_alive:
            await _plain_request(stream)
        await stream.send_all(request)
        head, rest = await read_head(stream)
        return RawClient(stream, head, rest)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


def reset(stream: trio.SocketStream) -> None:
    """Close with a TCP RST (SO_LINGER 0)."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def self_signed_cert(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key (paths), made with the ``openssl`` command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
         "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


@asynccontextmanager
async def tls_server(directory: Path, app: Any, **settings: Any) -> AsyncIterator[tuple[int, str]]:
    """``trio_ws.serve`` over TLS with a fresh certificate: yields its port and the cert."""
    cert, key = self_signed_cert(directory)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        config = hypercorn_config(certfile=cert, keyfile=key)
        urls = await nursery.start(
            partial(serve, app, port=0, config=config, shutdown_trigger=stop.wait, **settings)
        )
        try:
            yield port_of(urls[0]), cert
        finally:
            stop.set()
