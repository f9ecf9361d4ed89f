"""The corners of Starlette's WebSocket contract, run against both classes side by side.

Each app is written once and run with ``trio_ws.WebSocket`` and with Starlette's: misuse raises
the same kind of error (``RuntimeError``), the duplicate response start says what Starlette
says, and the two state attributes can be assigned. The one deliberate difference (a second
``close()``) is checked as a difference. See docs/starlette-differences.md.
"""

from __future__ import annotations

from typing import Any

import pytest
import starlette.websockets
import trio

import trio_ws
from trio_ws.testing import ConnectionRejected, connect

Classes = pytest.mark.parametrize(
    "WebSocket", [trio_ws.WebSocket, starlette.websockets.WebSocket], ids=["trio_ws", "starlette"]
)


async def failure_of(app: Any, *, accepted: bool = True) -> BaseException | None:
    """Run ``app`` in memory and return what it raised (``None`` if nothing)."""
    with trio.fail_after(5):
        try:
            async with connect(app, raise_app_exceptions=False) as client:
                await client.wait_app_finished()
                return client.app_exception
        except ConnectionRejected as rejected:
            assert not accepted
            return rejected.__cause__


@Classes
@pytest.mark.parametrize("direction", ["send", "receive"])
async def test_an_invalid_json_mode_is_a_runtime_error(WebSocket: Any, direction: str) -> None:
    """``mode="invalid"`` raises a RuntimeError in both (trio_ws's is also a ValueError)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        await websocket.accept()
        if direction == "send":
            await websocket.send_json({}, mode="invalid")
        else:
            await websocket.receive_json(mode="invalid")

    failure = await failure_of(app)
    assert isinstance(failure, RuntimeError)
    if WebSocket is trio_ws.WebSocket:
        assert isinstance(failure, ValueError)
        assert isinstance(failure, trio_ws.InvalidModeError)


@Classes
async def test_a_second_response_start_names_the_expected_message(WebSocket: Any) -> None:
    """Two ``websocket.http.response.start`` in a row: Starlette's words, in both."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        await websocket.receive()
        start = {"type": "websocket.http.response.start", "status": 404, "headers": []}
        await websocket.send(dict(start))
        await websocket.send(dict(start))

    failure = await failure_of(app, accepted=False)
    assert isinstance(failure, RuntimeError)
    expected = (
        'Expected ASGI message "websocket.http.response.body", '
        "but got 'websocket.http.response.start'"
    )
    assert expected in str(failure)


@Classes
async def test_the_state_attributes_can_be_assigned(WebSocket: Any) -> None:
    """Assigning ``client_state`` moves the checks with it: receiving after setting it back to
    CONNECTING expects ``websocket.connect`` again, and the real message is refused."""
    State = trio_ws.WebSocketState if WebSocket is trio_ws.WebSocket else None
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        states = State or starlette.websockets.WebSocketState
        await websocket.accept()
        websocket.client_state = states.CONNECTING
        websocket.application_state = states.CONNECTED
        seen.append((websocket.client_state.name, websocket.application_state.name))
        await websocket.receive()

    async with connect(app, raise_app_exceptions=False) as client:
        await client.send_text("hello")
        with trio.fail_after(5):
            await client.wait_app_finished()
        failure = client.app_exception
    assert seen == [("CONNECTING", "CONNECTED")]
    assert isinstance(failure, RuntimeError)


async def test_starlettes_state_values_are_accepted_too() -> None:
    """Code that assigns Starlette's enum members to a trio_ws WebSocket works."""
    ws = trio_ws.WebSocket({"type": "websocket"})
    ws.application_state = starlette.websockets.WebSocketState.DISCONNECTED  # type: ignore[assignment]
    assert ws.application_state is trio_ws.WebSocketState.DISCONNECTED
    with pytest.raises(ValueError, match="7"):
        ws.client_state = 7  # type: ignore[assignment]


@Classes
async def test_sending_a_wrong_message_type_is_a_runtime_error(WebSocket: Any) -> None:
    """Accepting twice is refused with a RuntimeError in both."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        await websocket.accept()
        await websocket.send({"type": "websocket.accept"})

    assert isinstance(await failure_of(app), RuntimeError)


@Classes
async def test_a_second_close_is_the_one_deliberate_difference(WebSocket: Any) -> None:
    """Starlette raises RuntimeError on a second ``close()``; trio_ws's close is idempotent
    (like trio's ``aclose`` and websockets' ``close``), and sends one close frame."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        await websocket.accept()
        await websocket.close(4000)
        await websocket.close(4001)

    with trio.fail_after(5):
        async with connect(app, raise_app_exceptions=False) as client:
            await client.wait_app_finished()
            failure = client.app_exception
            closes = [m for m in client.app_messages if m["type"] == "websocket.close"]
    assert [m["code"] for m in closes] == [4000]
    if WebSocket is trio_ws.WebSocket:
        assert failure is None
    else:
        assert isinstance(failure, RuntimeError)
