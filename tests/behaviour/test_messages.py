"""Receiving and sending in direct mode: typed errors instead of None, nothing lost.

Each test runs a small app under the in-memory client. Apps record what they observed in a
list; the test asserts on it after the connection is over.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from trio_ws import (
    ClosedBy,
    InvalidJSONMessage,
    LocalProtocolError,
    UnexpectedMessageType,
    WebSocket,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)
from trio_ws.testing import ConnectionClosed, ConnectionRejected, SpecVersion, connect


async def test_binary_message_asked_as_text_raises_with_the_payload() -> None:
    """receive_text on a binary frame raises UnexpectedMessageType carrying the bytes; the
    next message is still received (Starlette returns None under hypercorn)."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            await ws.receive_text()
        except UnexpectedMessageType as exc:
            seen.append((exc.expected, exc.data))
        try:
            await ws.receive_bytes()
        except UnexpectedMessageType as exc:
            seen.append((exc.expected, exc.data))
        seen.append(await ws.receive_text())
        await ws.close()

    for spec in ("2.3", "2.5"):
        seen.clear()
        with trio.fail_after(5):
            async with connect(app, spec_version=spec) as client:
                await client.send_bytes(b"\xff\x00")
                await client.send_text("text, not bytes")
                await client.send_text("after")
                await client.wait_app_finished()
        assert seen == [("text", b"\xff\x00"), ("bytes", "text, not bytes"), "after"], spec


async def test_invalid_json_is_a_value_error_and_the_connection_stays_usable() -> None:
    """receive_json on bad JSON raises InvalidJSONMessage (a ValueError) with the payload."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        for mode in ("text", "binary", "binary"):
            try:
                seen.append(await ws.receive_json(mode=mode))
            except ValueError as exc:  # InvalidJSONMessage is a ValueError
                seen.append(("invalid" if isinstance(exc, InvalidJSONMessage) else "?", exc.data))
        await ws.send_json({"still": "open"})
        await ws.close()

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.send_text("{not json")
            await client.send_bytes(b"\xc3\x28")  # not UTF-8
            await client.send_bytes(b'{"ok": true}')
            assert await client.receive_json() == {"still": "open"}
    assert seen == [("invalid", "{not json"), ("invalid", b"\xc3\x28"), {"ok": True}]


async def test_json_mode_must_be_text_or_binary() -> None:
    """A bad mode is a ValueError raised before anything is received or sent."""
    ws = WebSocket({"type": "websocket"})
    with pytest.raises(ValueError, match="mode"):
        await ws.receive_json(mode="bin")
    with pytest.raises(ValueError, match="mode"):
        await ws.send_json({}, mode="txt")
    with pytest.raises(ValueError, match="mode"):
        ws.iter_json(mode="x")


async def test_send_types_are_checked_before_sending() -> None:
    """send_text(bytes) and send_bytes(str) raise TypeError and send nothing."""
    errors: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        for call in (lambda: ws.send_text(b"x"), lambda: ws.send_bytes("x")):
            try:
                await call()
            except TypeError as exc:
                errors.append(str(exc))
        try:
            await ws.send_json({1, 2})
        except TypeError:
            errors.append("json")
        await ws.send_bytes(bytearray(b"ok"))
        await ws.close()

    with trio.fail_after(5):
        async with connect(app) as client:
            assert await client.receive_bytes() == b"ok"
            await client.wait_app_finished()
            sent = [m for m in client.app_messages if m["type"] == "websocket.send"]
    assert len(errors) == 3
    assert "send_text() takes a str" in errors[0]
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"subprotocol": "not-offered"}, ValueError),
        ({"headers": [(b"sec-websocket-protocol", b"chat")]}, ValueError),
        ({"headers": [("x", "y")]}, TypeError),
    ],
)
async def test_invalid_accept_never_reaches_the_server(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """An accept that would crash hypercorn raises in the app and sends nothing."""
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        try:
            await ws.accept(**kwargs)
        except Exception as exc:
            raised.append(exc)
        await ws.close()

    with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
        async with connect(app, subprotocols=["chat"]):
            pass  # pragma: no cover
    assert info.value.status_code == 403
    assert len(raised) == 1
    assert isinstance(raised[0], error)


@pytest.mark.parametrize(("code", "reason"), [(1004, None), (999, None), (1000, "x" * 124)])
async def test_invalid_close_raises_value_error_and_keeps_the_socket_open(
    code: int, reason: str | None
) -> None:
    """A close with a reserved code or a long reason raises; a valid close still works."""
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            await ws.close(code, reason)
        except ValueError as exc:
            raised.append(exc)
        assert ws.application_state is WebSocketState.CONNECTED
        await ws.close(4001, "valid")

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.wait_app_finished()
            assert (client.close_code, client.close_reason) == (4001, "valid")
    assert len(raised) == 1


async def test_close_is_idempotent() -> None:
    """A second close() does nothing; a raw second websocket.close is still misuse."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.close(4000)
        await ws.close(4001)
        outcome.append((ws.close_code, ws.closed_by))
        try:
            await ws.send({"type": "websocket.close"})
        except WebSocketDisconnected as exc:
            outcome.append(str(exc))

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.wait_app_finished()
            closes = [m for m in client.app_messages if m["type"] == "websocket.close"]
    assert len(closes) == 1
    assert outcome == [
        (4000, ClosedBy.APP),
        'Cannot call "send" once a close message has been sent.',
    ]


async def test_receive_before_accept_is_websocket_disconnected() -> None:
    """receive_text before accept raises WebSocketDisconnected (Starlette's behaviour)."""
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        try:
            await ws.receive_text()
        except WebSocketDisconnected as exc:
            raised.append(exc)
        try:
            await ws.send_text("early")
        except LocalProtocolError as exc:
            raised.append(exc)
        await ws.close()

    with trio.fail_after(5), pytest.raises(ConnectionRejected):
        async with connect(app):
            pass  # pragma: no cover
    assert [type(e) for e in raised] == [WebSocketDisconnected, LocalProtocolError]
    assert isinstance(raised[0], RuntimeError)


@pytest.mark.parametrize("spec", ["2.3", "2.5"])
async def test_client_close_is_reported_with_code_and_reason(spec: SpecVersion) -> None:
    """WebSocketDisconnect carries the client's code, and the reason where the spec has it;
    then a further receive is WebSocketDisconnected."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            seen.append((exc.code, exc.reason))
        seen.append((ws.close_code, ws.close_reason, ws.closed_by, ws.client_state))
        try:
            await ws.receive_text()
        except WebSocketDisconnected:
            seen.append("misuse")

    with trio.fail_after(5):
        async with connect(app, spec_version=spec) as client:
            await client.close(4002, "bye")
            await client.wait_app_finished()
    reason = "bye" if spec == "2.5" else ""
    assert seen == [
        (4002, reason),
        (4002, reason, ClosedBy.CLIENT, WebSocketState.DISCONNECTED),
        "misuse",
    ]


async def test_sends_after_the_client_left_raise_once_the_disconnect_is_known() -> None:
    """After receiving the disconnect, send_text raises WebSocketDisconnect; close() is a no-op."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        message = await ws.receive()
        seen.append(message["type"])
        try:
            await ws.send_text("into the void")
        except WebSocketDisconnect as exc:
            seen.append(exc.code)
        await ws.close()
        seen.append(ws.application_state)

    with trio.fail_after(5):
        async with connect(app, spec_version="2.3") as client:
            client.drop()
            await client.wait_app_finished()
            assert all(m["type"] != "websocket.send" for m in client.app_messages)
    assert seen == ["websocket.disconnect", 1006, WebSocketState.DISCONNECTED]


async def test_an_oserror_from_the_server_send_becomes_websocket_disconnect() -> None:
    """Under ASGI 2.4 a send to a departed client raises OSError: we raise
    WebSocketDisconnect(1006) and record the end."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.send_text("first")
        await seen_dropped.wait()
        try:
            await ws.send_text("second")
        except WebSocketDisconnect as exc:
            seen.append((exc.code, ws.close_code, ws.closed_by, ws.application_state))
            seen.append(isinstance(exc.__cause__, OSError))

    seen_dropped = trio.Event()
    with trio.fail_after(5):
        async with connect(app, spec_version="2.4", raise_app_exceptions=True) as client:
            assert await client.receive_text() == "first"
            client.drop()
            seen_dropped.set()
            await client.wait_app_finished()
    assert seen == [(1006, 1006, ClosedBy.CLIENT, WebSocketState.DISCONNECTED), True]


async def test_iterators_end_on_disconnect_and_the_code_is_kept() -> None:
    """iter_text ends when the client leaves; close_code says how; iterating again ends at once."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        iterator = ws.iter_text()
        seen.extend([message async for message in iterator])
        seen.append(ws.close_code)
        seen.extend([message async for message in iterator])

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.send_text("a")
            await client.send_text("b")
            await client.close(4003)
            await client.wait_app_finished()
    assert seen == ["a", "b", 4003]


async def test_iter_bytes_and_iter_json() -> None:
    """iter_bytes and iter_json yield decoded messages until the disconnect."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        async for data in ws.iter_bytes():
            seen.append(data)
            if data == b"switch":
                break
        async for item in ws.iter_json(mode="binary"):
            seen.append(item)

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.send_bytes(b"\x00")
            await client.send_bytes(b"switch")
            await client.send_json([1, "é"], mode="binary")
            await client.close()
            await client.wait_app_finished()
    assert seen == [b"\x00", b"switch", [1, "é"]]


async def test_raw_receive_and_send_keep_the_states_right() -> None:
    """websocket.receive()/send() move client_state and application_state like Starlette."""
    states: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        states.append((ws.client_state, ws.application_state))
        assert (await ws.receive())["type"] == "websocket.connect"
        await ws.send({"type": "websocket.accept"})
        states.append((ws.client_state, ws.application_state))
        message = await ws.receive()
        await ws.send({"type": "websocket.send", "text": message["text"].upper()})
        await ws.send({"type": "websocket.close", "code": 1000})
        states.append((ws.client_state, ws.application_state))

    C = WebSocketState
    with trio.fail_after(5):
        async with connect(app) as client:
            await client.send_text("hi")
            assert await client.receive_text() == "HI"
            with pytest.raises(ConnectionClosed):
                await client.receive_text()
    assert states == [
        (C.CONNECTING, C.CONNECTING),
        (C.CONNECTED, C.CONNECTED),
        (C.CONNECTED, C.DISCONNECTED),
    ]


async def test_close_after_the_peer_vanished_does_not_raise() -> None:
    """Under ASGI 2.4 the close itself may meet OSError: close() still just returns."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await dropped.wait()
        await ws.close(4000)
        outcome.append((ws.application_state, ws.close_code))

    dropped = trio.Event()
    with trio.fail_after(5):
        async with connect(app, spec_version="2.4") as client:
            client.drop()
            dropped.set()
            await client.wait_app_finished()
    assert outcome == [(WebSocketState.DISCONNECTED, 4000)]
