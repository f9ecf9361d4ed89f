"""websocket_app makes an ASGI application object, checks its handler, and serves connections."""

from __future__ import annotations

import functools

import pytest
import trio

import trio_ws
from trio_ws import WebSocket, WebSocketApp, websocket_app
from trio_ws.testing import connect


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_text(text)


def test_websocket_app_returns_an_application_object_named_after_the_handler() -> None:
    """The result is a WebSocketApp instance (not a function) that keeps the handler's name."""
    app = websocket_app(echo)
    assert isinstance(app, WebSocketApp)
    assert not callable(getattr(app, "__func__", None))
    assert app.__name__ == "echo"
    assert app.handler is echo
    assert "echo" in repr(app)


async def test_application_object_echoes_in_memory() -> None:
    with trio.fail_after(5):
        async with connect(websocket_app(echo)) as client:
            await client.send_text("hi")
            assert await client.receive_text() == "hi"


def test_plain_function_handler_is_refused_when_the_app_is_made() -> None:
    def not_async(ws: WebSocket) -> None:
        pass

    with pytest.raises(TypeError, match="must be an async function"):
        websocket_app(not_async)  # type: ignore[arg-type]


def test_handler_with_wrong_arity_is_refused_when_the_app_is_made() -> None:
    async def two(ws: WebSocket, extra: int) -> None:
        pass

    async def none() -> None:
        pass

    with pytest.raises(TypeError, match="exactly one positional argument"):
        websocket_app(two)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exactly one positional argument"):
        websocket_app(none)  # type: ignore[arg-type]


def test_not_callable_handler_is_refused() -> None:
    with pytest.raises(TypeError, match="must be an async function, not int"):
        websocket_app(3)  # type: ignore[arg-type]


def test_endpoint_class_as_handler_is_refused_with_a_hint() -> None:
    class Endpoint(trio_ws.WebSocketEndpoint):
        pass

    with pytest.raises(TypeError, match="ASGI app itself"):
        websocket_app(Endpoint)  # type: ignore[arg-type]


async def test_async_callable_object_and_partial_are_accepted() -> None:
    """A partial of an async function and an object with ``async def __call__(ws)`` work."""

    async def greet(greeting: str, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(greeting)

    class Greeter:
        async def __call__(self, ws: WebSocket) -> None:
            await ws.accept()
            await ws.send_text("object")

    for app, expected in (
        (websocket_app(functools.partial(greet, "partial")), "partial"),
        (websocket_app(Greeter()), "object"),
    ):
        with trio.fail_after(5):
            async with connect(app) as client:
                assert await client.receive_text() == expected


def test_invalid_options_are_refused_when_the_app_is_made() -> None:
    with pytest.raises(ValueError, match="inbound_buffer"):
        websocket_app(echo, inbound_buffer=0)
    with pytest.raises(ValueError, match="max_message_size"):
        websocket_app(echo, max_message_size=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        websocket_app(echo, idle_timeout=-1)
    with pytest.raises(TypeError, match="rate_limit"):
        websocket_app(echo, rate_limit=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="burst"):
        trio_ws.RateLimit(1.0, 0)
    with pytest.raises(ValueError, match="on_exceed"):
        trio_ws.RateLimit(1.0, 1, "ignore")  # type: ignore[arg-type]
