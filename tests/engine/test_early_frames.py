"""Frames a client sends right after its upgrade request, before the 101 (RFC 6455 §4.1 says
it must wait; some clients do not): nothing is lost and nothing is reordered.

The engine feeds ``websockets`` the request head only and keeps what follows raw; once the
application accepted, those bytes are parsed first, with the extensions the 101 negotiated,
so the early messages reach the application in order, before anything sent later, and an
early close or an invalid early frame gets its close code. A refused handshake gets its HTTP
status (the early bytes are dropped with the connection). Each client below writes the head
and its first frame(s) in one ``send_all`` on a raw socket, on a fresh connection and on a
keep-alive one (a plain GET first), with permessage-deflate negotiated and not.
"""

from __future__ import annotations

import shutil
import ssl
import zlib
from typing import TYPE_CHECKING, Any

import pytest
import trio
from websockets.frames import Opcode

from trio_ws.testing import serve_app

from ._raw import (
    RawClient,
    answer_plain_get,
    close_code,
    connect,
    frame,
    port_of,
    tls_server,
    upgrade_request,
)

if TYPE_CHECKING:
    from pathlib import Path

    from trio_ws._types import Receive, Scope, Send

ENTRIES = [pytest.param(False, id="fresh"), pytest.param(True, id="keep-alive")]
COMPRESSION = [pytest.param(False, id="plain"), pytest.param(True, id="deflate")]
_DEFLATE_OFFER = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"


class _Echo:
    """An app: 200 for HTTP; for a websocket, accept, echo each message, record them all."""

    def __init__(self, *, refuse: bool = False, echo: bool = True) -> None:
        self.refuse = refuse
        self.echo = echo
        self.messages: list[dict[str, Any]] = []
        self.done = trio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # the keep-alive client's first request
            await answer_plain_get(send)
            return
        if scope["type"] != "websocket":
            return
        try:
            await receive()
            if self.refuse:
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                self.messages.append(message)
                if message["type"] == "websocket.disconnect":
                    return
                if self.echo:
                    await send({**message, "type": "websocket.send"})
        finally:
            self.done.set()


class _Deflater:
    """The client's side of permessage-deflate (context takeover, 15-bit window)."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)

    def frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
        data = self._compressor.compress(payload) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        return frame(opcode, data[:-4], fin=fin, rsv=0b100)


async def _upgrade_with(port: int, early: bytes, *, keep_alive: bool, deflate: bool) -> RawClient:
    """Send the upgrade request and ``early`` in one write; read the answer's head."""
    request = upgrade_request(_DEFLATE_OFFER if deflate else b"")
    return await connect(port, request + early, keep_alive=keep_alive)


def _close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


async def _messages_in_order(
    port: int, app: _Echo, *, keep_alive: bool, deflate: bool, tls: ssl.SSLContext | None = None
) -> None:
    """Two messages and a ping in the head's packet: after the 101 the messages are echoed
    in order and the ping answered, then a message sent after the 101 follows them, then the
    client's close code reaches the app."""
    data = _Deflater().frame if deflate else frame
    early = data(0x1, b"one") + frame(0x9, b"ping?") + data(0x2, b"\x00two")
    request = upgrade_request(_DEFLATE_OFFER if deflate else b"") + early
    async with await connect(port, request, keep_alive=keep_alive, tls=tls) as c:
        assert c.head.startswith(b"HTTP/1.1 101"), c.head
        assert (b"permessage-deflate" in c.head.lower()) is deflate, c.head
        # (the pong is written while the early bytes are parsed: before the echoes)
        answers = [await c.next_frame() for _ in range(3)]
        assert [(f.opcode, f.data) for f in answers if f.opcode is not Opcode.PONG] == [
            (Opcode.TEXT, b"one"),
            (Opcode.BINARY, b"\x00two"),
        ]
        assert [f.data for f in answers if f.opcode is Opcode.PONG] == [b"ping?"]
        await c.stream.send_all(data(0x1, b"three"))
        assert (await c.next_frame()).data == b"three"
        await c.stream.send_all(frame(0x8, _close_payload(4001)))
        assert close_code(await c.frames_until_eof()) == 4001
        await app.done.wait()
    assert app.messages == [
        {"type": "websocket.receive", "text": "one"},
        {"type": "websocket.receive", "bytes": b"\x00two"},
        {"type": "websocket.receive", "text": "three"},
        {"type": "websocket.disconnect", "code": 4001, "reason": ""},
    ]


@pytest.mark.parametrize("deflate", COMPRESSION)
@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_frames_sent_with_the_head_reach_the_app_in_order(
    keep_alive: bool, deflate: bool
) -> None:
    app = _Echo()
    with trio.fail_after(10):
        async with serve_app(app) as url:
            await _messages_in_order(port_of(url), app, keep_alive=keep_alive, deflate=deflate)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
@pytest.mark.parametrize("deflate", COMPRESSION)
@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_frames_sent_with_the_head_over_tls(
    tmp_path: Path, keep_alive: bool, deflate: bool
) -> None:
    """The same over TLS (the head and the frames in one TLS write)."""
    app = _Echo()
    with trio.fail_after(20):
        async with tls_server(tmp_path, app) as (port, cert):
            tls = ssl.create_default_context(cafile=cert)
            await _messages_in_order(port, app, keep_alive=keep_alive, deflate=deflate, tls=tls)


@pytest.mark.parametrize("deflate", COMPRESSION)
@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_a_fragment_split_across_the_heads_packet(keep_alive: bool, deflate: bool) -> None:
    """The head's packet ends inside the second fragment of a message; the rest follows the
    101: the message arrives whole."""
    app = _Echo()
    if deflate:  # one compressed payload, split over two fragments
        whole = _Deflater().frame(0x1, b"hello, early world")
        payload = whole[6:]  # past the 2-byte header and the zero mask
        start = frame(0x1, payload[:5], fin=False, rsv=0b100)
        rest = frame(0x0, payload[5:])
    else:
        start = frame(0x1, b"hello, ", fin=False)
        rest = frame(0x0, b"early world")
    cut = len(rest) // 2
    with trio.fail_after(10):
        async with (
            serve_app(app) as url,
            await _upgrade_with(
                port_of(url), start + rest[:cut], keep_alive=keep_alive, deflate=deflate
            ) as c,
        ):
            assert c.head.startswith(b"HTTP/1.1 101"), c.head
            await c.stream.send_all(rest[cut:])
            echoed = await c.next_frame()
            assert (echoed.opcode, echoed.data) == (Opcode.TEXT, b"hello, early world")
            await c.stream.send_all(frame(0x8, _close_payload(1000)))
            assert close_code(await c.frames_until_eof()) == 1000
            await app.done.wait()
    assert app.messages[0] == {"type": "websocket.receive", "text": "hello, early world"}


@pytest.mark.parametrize("deflate", COMPRESSION)
@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_a_close_frame_sent_with_the_head(keep_alive: bool, deflate: bool) -> None:
    """A message and a close in the head's packet: after the 101 the app gets the message,
    then the close code and reason; the server echoes the close and ends the connection."""
    app = _Echo(echo=False)  # (the client is gone by the time it could answer)
    data = _Deflater().frame if deflate else frame
    early = data(0x1, b"last words") + frame(0x8, _close_payload(4002, b"early"))
    with trio.fail_after(10):
        async with (
            serve_app(app) as url,
            await _upgrade_with(port_of(url), early, keep_alive=keep_alive, deflate=deflate) as c,
        ):
            assert c.head.startswith(b"HTTP/1.1 101"), c.head
            frames = await c.frames_until_eof()
            await app.done.wait()
    assert [f.opcode for f in frames] == [Opcode.CLOSE]
    assert close_code(frames) == 4002
    assert app.messages == [
        {"type": "websocket.receive", "text": "last words"},
        {"type": "websocket.disconnect", "code": 4002, "reason": "early"},
    ]


@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_an_early_frame_over_the_limit_is_1009_after_the_101(keep_alive: bool) -> None:
    """The early bytes are checked as any frame is: over ``max_message_size`` is 1009."""
    app = _Echo()
    early = frame(0x2, bytes(2048))
    with trio.fail_after(10):
        async with (
            serve_app(app, max_message_size=1024) as url,
            await _upgrade_with(port_of(url), early, keep_alive=keep_alive, deflate=False) as c,
        ):
            assert c.head.startswith(b"HTTP/1.1 101"), c.head
            assert close_code(await c.frames_until_eof()) == 1009
            await app.done.wait()
    assert [(m["type"], m["code"]) for m in app.messages] == [("websocket.disconnect", 1009)]


@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_a_refused_handshake_with_early_frames_gets_its_status(keep_alive: bool) -> None:
    """The app refuses: the client gets the 403 and the end of the connection, and no frame
    of its reaches the app."""
    app = _Echo(refuse=True)
    early = frame(0x1, b"unwanted") + frame(0x8, _close_payload(1000))
    with trio.fail_after(10):
        async with (
            serve_app(app) as url,
            await _upgrade_with(port_of(url), early, keep_alive=keep_alive, deflate=False) as c,
        ):
            assert c.head.startswith(b"HTTP/1.1 403"), c.head
            rest = b""
            while chunk := await c.stream.receive_some(65536):
                rest += chunk
            await app.done.wait()
    assert app.messages == []
