"""The in-memory client drives a real framework: Starlette 1.10's WebSocket, unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from trio_ws import testing

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send


@pytest.mark.parametrize("spec_version", ["2.3", "2.4", "2.5"])
async def test_starlette_echo_and_close(spec_version: testing.SpecVersion) -> None:
    """Starlette's accept, receive_text, send_json and close(code, reason) all work."""
    disconnects: list[tuple[int, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept(subprotocol="chat")
        text = await websocket.receive_text()
        await websocket.send_json({"echo": text})
        await websocket.close(4100, "starlette-bye")
        message = await websocket.receive()  # Starlette's receive_* refuse after close
        disconnects.append((message["code"], message.get("reason") or ""))

    with trio.fail_after(5):
        async with testing.connect(app, subprotocols=["chat"], spec_version=spec_version) as ws:
            assert ws.subprotocol == "chat"
            await ws.send_text("hello")
            assert await ws.receive_json() == {"echo": "hello"}
            with pytest.raises(testing.ConnectionClosed) as info:
                await ws.receive()
    assert (info.value.code, info.value.reason) == (4100, "starlette-bye")
    assert disconnects == [(1000, "")]


@pytest.mark.parametrize(
    ("spec_version", "expected"), [("2.3", (4001, "")), ("2.5", (4001, "client-bye"))]
)
async def test_starlette_sees_the_client_close(
    spec_version: testing.SpecVersion, expected: tuple[int, str]
) -> None:
    """The client's close code reaches Starlette; its reason only from spec 2.5."""
    disconnects: list[tuple[int, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect as exc:
            disconnects.append((exc.code, exc.reason))

    with trio.fail_after(5):
        async with testing.connect(app, spec_version=spec_version) as ws:
            await ws.close(4001, "client-bye")
    assert disconnects == [expected]


async def test_starlette_turns_the_2_4_oserror_into_a_disconnect() -> None:
    """Spec 2.4's OSError on send after the client left becomes WebSocketDisconnect(1006)."""
    outcome: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await ws_dropped.wait()
        try:
            await websocket.send_text("into the void")
        except WebSocketDisconnect as exc:
            outcome.append(exc.code)

    ws_dropped = trio.Event()
    with trio.fail_after(5):
        async with testing.connect(app, spec_version="2.4") as ws:
            ws.drop()
            ws_dropped.set()
            await ws.wait_app_finished()
    assert outcome == [1006]


async def test_starlette_denial_response() -> None:
    """send_denial_response(PlainTextResponse) arrives as a ConnectionRejected."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.send_denial_response(PlainTextResponse("nope", status_code=418))

    with trio.fail_after(5), pytest.raises(testing.ConnectionRejected) as info:
        async with testing.connect(app):
            pytest.fail("denied connections yield nothing")
    assert info.value.status_code == 418
    assert info.value.body == b"nope"
    assert (b"content-type", b"text/plain; charset=utf-8") in info.value.headers
