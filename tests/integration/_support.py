"""Apps and raw-socket helpers shared by the integration tests."""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send

#: A client sessions's timeouts: fail fast instead of trio-websocket's 60 s defaults.
CLIENT = {"connect_timeout": 5, "disconnect_timeout": 2}


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept (with the first offered subprotocol if the path is /sub), echo until disconnect."""
    if scope["type"] != "websocket":
        return  # lifespan: trio_ws.serve answers it for apps that return
    await receive()
    subprotocol = scope["subprotocols"][-1] if scope["path"] == "/sub" else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "json":
            await send(
                {"type": "websocket.send", "text": json.dumps({"scope_path": scope["path"]})}
            )
            continue
        await send(
            {"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")}
        )


def upgrade_request(path: str = "/", extra: bytes = b"") -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n".encode()
        + b"Connection: Upgrade\r\nSec-WebSocket-Key: "
        + key
        + b"\r\nSec-WebSocket-Version: 13\r\n"
        + extra
        + b"\r\n"
    )


#: The four single requests that each crash a whole hypercorn 0.18 trio server.
HOSTILE = {
    "non-ascii-subprotocol": ("/", b"Sec-WebSocket-Protocol: ch\xe9t\r\n", b""),
    "malformed-deflate": (
        "/",
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=abc\r\n",
        b"",
    ),
    "trailing-byte": ("/", b"", b"x"),
    "unoffered-subprotocol": ("/sub-forced", b"", b""),
}


async def forced_subprotocol(scope: Scope, receive: Receive, send: Send) -> None:
    """Like :func:`echo`, but /sub-forced accepts "chat" whether or not the client offered it."""
    if scope["type"] == "websocket" and scope["path"] == "/sub-forced":
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "chat"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    await echo(scope, receive, send)


async def send_raw(port: int, data: bytes, *, read_for: float = 2.0) -> bytes:
    """Send ``data`` on a new connection and return what came back until EOF or ``read_for``."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = bytearray()
    async with stream:
        await stream.send_all(data)
        with trio.move_on_after(read_for):
            while chunk := await stream.receive_some(65536):
                received += chunk
    return bytes(received)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def frame_header(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """A client frame header with a zero masking key (so the payload goes unmasked)."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        size = bytes([0x80 | length])
    elif length < 2**16:
        size = bytes([0x80 | 126]) + length.to_bytes(2, "big")
    else:
        size = bytes([0x80 | 127]) + length.to_bytes(8, "big")
    return bytes([first]) + size + b"\0\0\0\0"


async def read_http_head(stream: trio.SocketStream) -> tuple[bytes, bytes]:
    """Read up to the end of the HTTP response head; return (head, bytes after it)."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, rest


def parse_close(data: bytes) -> Any:
    """The close code in a server close frame at the start of ``data``, or None."""
    if len(data) >= 4 and data[0] & 0x0F == 0x8:
        return int.from_bytes(data[2:4], "big")
    return None
