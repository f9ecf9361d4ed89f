"""``trio_ws.adopt()``: Starlette and FastAPI WebSockets turned into trio_ws ones.

Real Starlette routers and FastAPI endpoints (with ``Depends``), in memory and over plain
hypercorn with a real client. The Starlette internals adopt relies on are pinned here.
"""

from __future__ import annotations

import inspect
from typing import Any

import fastapi
import pytest
import starlette.websockets
import trio
import trio.testing
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from trio_websocket import ConnectionClosed, open_websocket_url

import trio_ws
from trio_ws import ClosedBy, WebSocketState, adopt
from trio_ws.testing import connect

from ._plain_hypercorn import CLIENT, PlainHypercorn


def test_the_starlette_internals_adopt_relies_on() -> None:
    """Starlette keeps the ASGI callables on ``_receive``/``_send`` and the states as enum
    attributes with trio_ws's values; FastAPI's WebSocket is Starlette's class."""

    async def receive() -> dict[str, Any]:
        raise AssertionError  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError  # pragma: no cover

    scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}
    theirs = starlette.websockets.WebSocket(scope, receive, send)
    assert theirs.scope is scope
    assert theirs._receive is receive
    assert theirs._send is send
    assert theirs.client_state is starlette.websockets.WebSocketState.CONNECTING
    assert theirs.application_state is starlette.websockets.WebSocketState.CONNECTING
    for member in starlette.websockets.WebSocketState:
        assert WebSocketState[member.name].value == member.value
    assert fastapi.WebSocket is starlette.websockets.WebSocket
    assert list(inspect.signature(starlette.websockets.WebSocket).parameters) == [
        "scope",
        "receive",
        "send",
    ]


def test_adopting_something_else_is_a_type_error() -> None:
    """Anything that is not a Starlette WebSocket is refused with a sentence."""
    with pytest.raises(TypeError, match="takes a Starlette or FastAPI WebSocket, not dict"):
        adopt({"type": "websocket"})


async def test_a_trio_ws_websocket_is_returned_as_it_is() -> None:
    ws = trio_ws.WebSocket({"type": "websocket"})
    assert adopt(ws) is ws


def starlette_app(endpoint: Any) -> Starlette:
    return Starlette(routes=[WebSocketRoute("/rooms/{room}", endpoint)])


@pytest.mark.parametrize("stage", ["fresh", "connect-consumed", "accepted"])
async def test_adopt_picks_up_the_state_starlette_left(stage: str) -> None:
    """Before accept, after ``websocket.connect`` was read, or after accept: the adopted
    socket continues from there (one accept, no second read of the connect message)."""
    seen: list[Any] = []

    async def endpoint(websocket: starlette.websockets.WebSocket) -> None:
        if stage == "connect-consumed":
            await websocket.receive()
        elif stage == "accepted":
            await websocket.accept()
        async with adopt(websocket) as ws:
            if stage != "accepted":
                await ws.accept()
            seen.append((ws.path_params["room"], ws.client_state, ws.application_state))
            async for text in ws.iter_text():
                await ws.send_text(text.upper())

    with trio.fail_after(5):
        async with connect(starlette_app(endpoint), "/rooms/blue") as client:
            await client.send_text("hi")
            assert await client.receive_text() == "HI"
            await client.close(4000)
            await client.wait_app_finished()
            accepts = [m for m in client.app_messages if m["type"] == "websocket.accept"]
            assert client.app_exception is None
    assert len(accepts) == 1
    assert seen == [("blue", WebSocketState.CONNECTED, WebSocketState.CONNECTED)]


def fastapi_app(*, use_adopt: bool) -> fastapi.FastAPI:
    """A FastAPI endpoint with a dependency; it pushes ticks until the client leaves."""
    app = fastapi.FastAPI()
    app.state.ended = trio.Event()

    def current_user(token: str = "anonymous") -> str:
        return token

    @app.websocket("/ticks/{room}")
    async def ticks(
        websocket: fastapi.WebSocket, room: str, user: str = fastapi.Depends(current_user)
    ) -> None:
        await websocket.accept()
        if not use_adopt:
            while True:  # Starlette's WebSocketDisconnect escapes when the client leaves
                await websocket.send_json({"room": room, "user": user})
                await trio.sleep(0.005)
        async with adopt(websocket) as ws:
            app.state.adopted = ws
            while True:
                await ws.send_json({"room": room, "user": user})
                await trio.sleep(0.005)
        app.state.ended.set()  # reached: the block absorbed its own client's disconnect

    return app


async def test_without_adopt_starlettes_disconnect_leaks_out_of_the_endpoint() -> None:
    """The control case: under ASGI 2.5 a plain FastAPI sender gets Starlette's
    WebSocketDisconnect (from the server's OSError) and it escapes to the server."""
    with trio.fail_after(5):
        app = fastapi_app(use_adopt=False)
        async with connect(
            app, "/ticks/red?token=ann", spec_version="2.5", raise_app_exceptions=False
        ) as client:
            assert await client.receive_json() == {"room": "red", "user": "ann"}
            await client.close(1000)
            await client.wait_app_finished()
            failure = client.app_exception
    assert isinstance(failure, starlette.websockets.WebSocketDisconnect)


@pytest.mark.parametrize("spec", ["2.3", "2.4", "2.5"])
async def test_an_adopted_fastapi_socket_ends_quietly_when_its_client_leaves(spec: str) -> None:
    """The same endpoint through adopt(): the client leaving ends the block normally, with
    the Depends value and path parameter delivered, on every ASGI version."""
    app = fastapi_app(use_adopt=True)
    with trio.fail_after(5):
        async with connect(
            app, "/ticks/red?token=ann", spec_version=spec, raise_app_exceptions=False
        ) as client:
            assert await client.receive_json() == {"room": "red", "user": "ann"}
            await client.close(4000)
            await client.wait_app_finished()
            assert client.app_exception is None
    assert app.state.adopted.closed_by is ClosedBy.CLIENT


@pytest.mark.hypercorn
async def test_adopt_over_plain_hypercorn_with_a_real_client(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """A FastAPI endpoint with Depends, adopted, over hypercorn's trio worker and
    trio-websocket: the client gets the messages, and leaving ends the handler cleanly
    (plain_hypercorn fails the test if the application raised)."""
    app = fastapi_app(use_adopt=True)
    with trio.fail_after(10):
        async with plain_hypercorn(app) as url:
            async with open_websocket_url(f"{url}/ticks/green?token=bo", **CLIENT) as client:
                assert await client.get_message() == '{"room":"green","user":"bo"}'
            await app.state.ended.wait()
    assert app.state.adopted.closed_by is ClosedBy.CLIENT


@pytest.mark.hypercorn
async def test_an_adopted_starlette_route_echoes_over_hypercorn(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """A Starlette WebSocketRoute adopted before accept; the client's close ends it."""
    closes: list[Any] = []
    ended = trio.Event()

    async def endpoint(websocket: starlette.websockets.WebSocket) -> None:
        async with adopt(websocket) as ws:
            await ws.accept()
            async for text in ws.iter_text():
                await ws.send_text(f"{ws.path_params['room']}:{text}")
        closes.append(ws)
        ended.set()

    with trio.fail_after(10):
        async with plain_hypercorn(starlette_app(endpoint)) as url:
            async with open_websocket_url(f"{url}/rooms/blue", **CLIENT) as client:
                await client.send_message("hello")
                assert await client.get_message() == "blue:hello"
                await client.aclose(1000)
            with pytest.raises(ConnectionClosed):
                await client.get_message()
            await ended.wait()
    assert closes[0].closed_by is ClosedBy.CLIENT


async def test_the_fastapi_example_ticks_until_the_client_leaves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """examples/fastapi_adopt.py: path parameter and dependency arrive; leaving is quiet."""
    from examples import fastapi_adopt

    with trio.fail_after(30):
        async with connect(fastapi_adopt.app, "/ticks/blue?token=ann") as client:
            for tick in range(3):
                assert await client.receive_json() == {"room": "blue", "user": "ann", "tick": tick}
            await client.close(1000)
            await client.wait_app_finished()
            assert client.app_exception is None
