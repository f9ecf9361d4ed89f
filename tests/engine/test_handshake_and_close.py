"""The engine's handshake and close: honest codes, refused keys, engine choice, compression."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio
from websockets.asyncio.client import connect as _unused  # noqa: F401  (websockets present)
from websockets.sync.client import connect as sync_connect

from trio_ws import LocalProtocolError
from trio_ws.testing import serve_app

from ._raw import close_code, connect, frame, port_of, reset, upgrade_request

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send


def _recording_app(seen: list[dict[str, Any]], done: trio.Event) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            pass
        seen.append({"message": message, "scope": scope})
        done.set()

    return app


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ((4001).to_bytes(2, "big") + b"client-bye", (4001, "client-bye")),
        (b"", (1005, "")),  # a close frame without a code
    ],
)
async def test_the_clients_close_frame_reaches_the_app(
    payload: bytes, expected: tuple[int, str]
) -> None:
    seen: list[dict[str, Any]] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            serve_app(_recording_app(seen, done)) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            assert client.head.startswith(b"HTTP/1.1 101")
            await client.stream.send_all(frame(0x8, payload))
            frames = await client.frames_until_eof()
            await done.wait()
    message = seen[0]["message"]
    assert (message["code"], message["reason"]) == expected
    assert close_code(frames) == expected[0] if payload else close_code(frames) in (None, 1005)


async def test_a_tcp_drop_without_a_close_frame_is_1006() -> None:
    seen: list[dict[str, Any]] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            serve_app(_recording_app(seen, done)) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            reset(client.stream)
            await done.wait()
    assert seen[0]["message"]["code"] == 1006


async def test_the_engine_declares_asgi_2_5_and_its_extensions() -> None:
    seen: list[dict[str, Any]] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            serve_app(_recording_app(seen, done)) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            reset(client.stream)
            await done.wait()
    scope = seen[0]["scope"]
    assert scope["asgi"]["spec_version"] == "2.5"
    assert set(scope["extensions"]) >= {
        "websocket.http.response",
        "trio_ws.cancel_safe_send",
        "trio_ws.shutdown",
        "trio_ws.keepalive",
    }


@pytest.mark.parametrize(
    "key_lines",
    [
        b"Sec-WebSocket-Key: not-base64!!\r\n",
        b"Sec-WebSocket-Key: c2hvcnQ=\r\n",  # base64 of 5 bytes, not 16
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" * 2,  # twice
        b"",  # missing
    ],
)
async def test_a_malformed_or_duplicate_key_is_refused_with_400(key_lines: bytes) -> None:
    ran: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            ran.append(True)

    with trio.fail_after(10):
        async with (
            serve_app(app) as url,
            await connect(port_of(url), upgrade_request(key=key_lines)) as client,
        ):
            head = client.head
    assert head.startswith(b"HTTP/1.1 400"), head
    assert ran == []


def _extensions_of(url: str) -> str | None:
    with sync_connect(url, compression="deflate", open_timeout=5) as ws:
        assert ws.response is not None
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] != "websocket.disconnect":
        await send({**message, "type": "websocket.send"})


@pytest.mark.parametrize(("compression", "negotiated"), [("deflate", True), (None, False)])
async def test_compression_can_be_switched_off(compression: Any, negotiated: bool) -> None:
    with trio.fail_after(15):
        async with serve_app(_echo, compression=compression) as url:
            header = await trio.to_thread.run_sync(partial(_extensions_of, url))
    assert (header is not None and "permessage-deflate" in header) is negotiated


async def test_a_close_frame_between_fragments_closes_normally() -> None:
    """RFC 6455 allows control frames between fragments (Autobahn 7.1.5): a clean 1000."""
    seen: list[dict[str, Any]] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            serve_app(_recording_app(seen, done)) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            close = frame(0x8, (1000).to_bytes(2, "big"))
            await client.stream.send_all(frame(0x1, b"frag", fin=False) + close)
            frames = await client.frames_until_eof()
            await done.wait()
    assert close_code(frames) == 1000
    assert seen[0]["message"]["code"] == 1000


async def test_a_failure_inside_the_engine_ends_only_that_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception escaping the engine's own code is logged once; the server keeps serving."""
    from trio_ws._engine import _connection

    original = _connection.EngineConnection.check_handshake
    calls: list[int] = []

    def failing_once(self: Any, offered: list[str]) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("engine bug")
        return original(self, offered)

    monkeypatch.setattr(_connection.EngineConnection, "check_handshake", failing_once)
    caplog.set_level(logging.INFO, logger="hypercorn.error")
    with trio.fail_after(15):
        async with serve_app(_echo) as url:
            async with await connect(port_of(url), upgrade_request()) as client:
                frames = await client.frames_until_eof()
            assert frames == []
            reply = await trio.to_thread.run_sync(partial(_extensions_of, url))
    assert reply is not None
    failures = [r for r in caplog.records if "websocket engine failed" in r.getMessage()]
    assert len(failures) == 1


@pytest.mark.parametrize(
    "close", [{"code": 1006}, {"code": 999}, {"code": 1000, "reason": "x" * 124}]
)
async def test_a_close_the_protocol_forbids_raises_into_the_app(close: dict[str, Any]) -> None:
    """Reserved codes and over-long reasons raise LocalProtocolError; the websocket stays open."""
    outcome: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await send({"type": "websocket.close", **close})
        except LocalProtocolError as exc:
            outcome.append(type(exc))
        await send({"type": "websocket.send", "text": "still open"})
        await send({"type": "websocket.close", "code": 4000})

    with trio.fail_after(10):
        async with (
            serve_app(app, close_timeout=0.2) as url,  # the client never answers the close
            await connect(port_of(url), upgrade_request()) as client,
        ):
            frames = await client.frames_until_eof()
    assert outcome == [LocalProtocolError]
    assert frames[0].data == b"still open"
    assert close_code(frames) == 4000
